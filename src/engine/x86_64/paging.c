/*
 * Identity-mapped x86-64 page tables, 4 levels.  Upper levels are always
 * present, writable and user so that the leaf alone decides access.  Leaves
 * carry A and D already set: the CPU then never writes to a table, which keeps
 * the tables read-only in effect and keeps copy-on-write forks from dirtying
 * table pages by merely running.
 */
#include <errno.h>
#include <string.h>

#include "paging.h"

#define ENTRIES		TK_PTE_ENTRIES
#define UPPER_FLAGS	TK_PTE_UPPER

static uint64_t *
table_at(const struct tk_paging *pg, uint64_t gpa)
{
	return ((uint64_t *)(void *)(pg->mem + gpa));
}

static uint64_t
table_alloc(struct tk_paging *pg)
{
	uint64_t gpa;

	if (pg->free_head != 0) {
		gpa = pg->free_head;
		pg->free_head = table_at(pg, gpa)[0];
	} else if (pg->arena_next + TK_PAGE_SIZE <= pg->arena_end) {
		gpa = pg->arena_next;
		pg->arena_next += TK_PAGE_SIZE;
	} else {
		return (0);
	}
	memset(table_at(pg, gpa), 0, TK_PAGE_SIZE);
	pg->tables++;
	return (gpa);
}

static void
table_free(struct tk_paging *pg, uint64_t gpa)
{
	table_at(pg, gpa)[0] = pg->free_head;
	pg->free_head = gpa;
	pg->tables--;
}

uint64_t
tk_paging_arena_pages(uint64_t mem_size)
{
	uint64_t gib = (mem_size + (1ULL << 30) - 1) >> 30;
	uint64_t chunks = (mem_size + TK_HUGE_SIZE - 1) / TK_HUGE_SIZE;

	/* PML4 + PDPT + one PD per GiB + one PT per 2 MiB chunk. */
	return (2 + gib + chunks);
}

int
tk_paging_init(struct tk_paging *pg, uint8_t *mem, uint64_t mem_size,
    uint64_t arena_base, uint64_t arena_end)
{
	uint64_t pdpt;

	if (arena_base % TK_PAGE_SIZE || arena_end % TK_PAGE_SIZE ||
	    arena_end > mem_size || arena_base >= arena_end ||
	    mem_size > (512ULL << 30))
		return (-EINVAL);
	memset(pg, 0, sizeof *pg);
	pg->mem = mem;
	pg->mem_size = mem_size;
	pg->arena_base = arena_base;
	pg->arena_end = arena_end;
	pg->arena_next = arena_base;
	pg->pml4 = table_alloc(pg);
	pdpt = table_alloc(pg);
	if (pg->pml4 == 0 || pdpt == 0)
		return (-ENOMEM);
	/* Memory stays below 512 GiB: one PML4 entry covers it all. */
	table_at(pg, pg->pml4)[0] = pdpt | UPPER_FLAGS;
	return (0);
}

/* The PD entry for (va); allocates the PD when (create).  NULL: none. */
static uint64_t *
pd_entry(struct tk_paging *pg, uint64_t va, int create)
{
	uint64_t pdpt = table_at(pg, pg->pml4)[0] & TK_PTE_ADDR;
	uint64_t *pdpte = &table_at(pg, pdpt)[(va >> 30) & (ENTRIES - 1)];
	uint64_t pd;

	if (!(*pdpte & TK_PTE_P)) {
		if (!create)
			return (NULL);
		pd = table_alloc(pg);
		if (pd == 0)
			return (NULL);
		*pdpte = pd | UPPER_FLAGS;
	}
	return (&table_at(pg, *pdpte & TK_PTE_ADDR)[(va >> 21) & (ENTRIES - 1)]);
}

/* Turns the 4 KiB table under (pde) back into one 2 MiB leaf, or into nothing, when uniform. */
static void
pt_collapse(struct tk_paging *pg, uint64_t *pde)
{
	uint64_t pt = *pde & TK_PTE_ADDR;
	const uint64_t *e = table_at(pg, pt);
	uint64_t first = e[0];
	unsigned i;

	for (i = 1; i < ENTRIES; i++) {
		if (first == 0 ? e[i] != 0 : e[i] != first + i * TK_PAGE_SIZE)
			return;
	}
	*pde = first == 0 ? 0 : first | TK_PTE_PS;
	table_free(pg, pt);
	/* The CPU may cache the old PDE pointing at the freed table. */
	pg->flush = 1;
}

/* Gives (pde) a 4 KiB table, splitting a 2 MiB leaf; 0 or -ENOMEM. */
static int
pt_ensure(struct tk_paging *pg, uint64_t *pde)
{
	uint64_t pt, base, perm;
	uint64_t *e;
	unsigned i;

	if ((*pde & TK_PTE_P) && !(*pde & TK_PTE_PS))
		return (0);
	pt = table_alloc(pg);
	if (pt == 0)
		return (-ENOMEM);
	if (*pde & TK_PTE_P) {
		e = table_at(pg, pt);
		base = *pde & TK_PTE_ADDR & ~(TK_HUGE_SIZE - 1);
		perm = *pde & ~TK_PTE_ADDR & ~TK_PTE_PS;
		for (i = 0; i < ENTRIES; i++)
			e[i] = (base + i * TK_PAGE_SIZE) | perm;
	}
	*pde = pt | UPPER_FLAGS;
	return (0);
}

int
tk_paging_map(struct tk_paging *pg, uint64_t addr, uint64_t len, uint64_t perm)
{
	uint64_t end = addr + len, chunk, stop, want, va;
	uint64_t *pde, *e;

	if (addr % TK_PAGE_SIZE || len % TK_PAGE_SIZE || end < addr ||
	    end > pg->mem_size || (perm & ~TK_PTE_PERM) ||
	    (perm != 0 && !(perm & TK_PTE_P)))
		return (-EINVAL);
	for (va = addr; va < end; va = stop) {
		chunk = va & ~(TK_HUGE_SIZE - 1);
		stop = chunk + TK_HUGE_SIZE < end ? chunk + TK_HUGE_SIZE : end;
		pde = pd_entry(pg, va, perm != 0);
		if (pde == NULL) {
			if (perm != 0)
				return (-ENOMEM);
			/* Nothing mapped in this GiB: skip to the next one. */
			stop = ((va >> 30) + 1) << 30;
			stop = stop < end ? stop : end;
			continue;
		}
		want = perm ? (chunk | perm | TK_PTE_A | TK_PTE_D | TK_PTE_PS) : 0;
		if (va == chunk && stop == chunk + TK_HUGE_SIZE) {
			if ((*pde & TK_PTE_P) && !(*pde & TK_PTE_PS))
				table_free(pg, *pde & TK_PTE_ADDR);
			if ((*pde & TK_PTE_P) && *pde != want)
				pg->flush = 1;
			*pde = want;
			continue;
		}
		if (*pde == want || (perm == 0 && !(*pde & TK_PTE_P)))
			continue;
		if (pt_ensure(pg, pde) != 0)
			return (-ENOMEM);
		e = table_at(pg, *pde & TK_PTE_ADDR);
		for (uint64_t p = va; p < stop; p += TK_PAGE_SIZE) {
			uint64_t *pte = &e[(p >> 12) & (ENTRIES - 1)];
			uint64_t n = perm ? (p | perm | TK_PTE_A | TK_PTE_D) : 0;

			if ((*pte & TK_PTE_P) && *pte != n)
				pg->flush = 1;
			*pte = n;
		}
		pt_collapse(pg, pde);
	}
	return (0);
}

uint64_t
tk_paging_leaf_entry(const struct tk_paging *pg, uint64_t va, uint64_t *size)
{
	uint64_t pdpt, pdpte, pd, pde;

	if (va >= pg->mem_size)
		return (0);
	pdpt = table_at(pg, pg->pml4)[0] & TK_PTE_ADDR;
	pdpte = table_at(pg, pdpt)[(va >> 30) & (ENTRIES - 1)];
	if (!(pdpte & TK_PTE_P))
		return (0);
	pd = pdpte & TK_PTE_ADDR;
	pde = table_at(pg, pd)[(va >> 21) & (ENTRIES - 1)];
	if (!(pde & TK_PTE_P))
		return (0);
	if (pde & TK_PTE_PS) {
		*size = TK_HUGE_SIZE;
		return (pd + ((va >> 21) & (ENTRIES - 1)) * 8);
	}
	*size = TK_PAGE_SIZE;
	return ((pde & TK_PTE_ADDR) + ((va >> 12) & (ENTRIES - 1)) * 8);
}

uint64_t
tk_paging_leaf(const struct tk_paging *pg, uint64_t va, uint64_t *size)
{
	uint64_t at = tk_paging_leaf_entry(pg, va, size);

	return (at != 0 ? *(const uint64_t *)(const void *)(pg->mem + at) : 0);
}

/* A user-writable leaf loses W and D and gains SW_W. */
static uint64_t
leaf_tracked(uint64_t e)
{
	const uint64_t uw = TK_PTE_P | TK_PTE_U | TK_PTE_W;

	return ((e & uw) == uw ? (e & ~(TK_PTE_W | TK_PTE_D)) | TK_PTE_SW_W : e);
}

int
tk_paging_track_writes(struct tk_paging *pg, uint64_t lo, uint64_t keep_lo,
    uint64_t keep_hi)
{
	uint64_t va, chunk, *pde, *e;
	unsigned i;

	for (va = lo & ~(TK_HUGE_SIZE - 1); va < pg->mem_size; va += TK_HUGE_SIZE) {
		pde = pd_entry(pg, va, 0);
		if (pde == NULL || !(*pde & TK_PTE_P))
			continue;
		chunk = va;
		/* A 2 MiB leaf partly kept is split; one wholly kept stays. */
		if ((*pde & TK_PTE_PS) && chunk < keep_hi &&
		    chunk + TK_HUGE_SIZE > keep_lo) {
			if (chunk >= keep_lo && chunk + TK_HUGE_SIZE <= keep_hi)
				continue;
			if (pt_ensure(pg, pde) != 0)
				return (-ENOMEM);
		}
		if (*pde & TK_PTE_PS) {
			if (chunk >= lo)
				*pde = leaf_tracked(*pde);
			continue;
		}
		e = table_at(pg, *pde & TK_PTE_ADDR);
		for (i = 0; i < ENTRIES; i++) {
			uint64_t p = chunk + i * TK_PAGE_SIZE;

			if (p >= lo && (p < keep_lo || p >= keep_hi))
				e[i] = leaf_tracked(e[i]);
		}
	}
	return (0);
}

uint64_t
tk_paging_tables_used(const struct tk_paging *pg)
{
	return (pg->tables);
}
