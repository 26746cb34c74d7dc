/*
 * What a fork wrote, told by the guest's own page tables: no exit per page.
 *
 * KVM's dirty ring re-protects every page it reports, so a request pays one
 * write fault per page it writes, every time.  Here the fork's image has
 * every user-writable page mapped without W, marked TK_PTE_SW_W
 * (tk_paging_track_writes).  The first write to such a page faults into our
 * kernel, which exits once; the host grants the page and a run of its
 * neighbours (W set in the fork's own copy of the tables, a 2 MiB leaf made a
 * 4 KiB table first) and the guest retries.  The CPU then sets D on each
 * page it writes.  A reset reads D for the granted pages only, puts those
 * pages back, and keeps them granted: a request that writes what the last
 * one wrote takes no exit at all.
 *
 * The request-memory limit stays exact: every page the guest can write
 * without asking is either in the bitmap or counted as granted and unmarked;
 * a grant that would pass the limit first takes back the granted pages not
 * written (the exception's way out reloads CR3, so no stale W survives it).
 *
 * Needs the host's edits of the tables to reach the CPU directly (nested
 * paging) and a CR3 reload before each call after D bits were cleared (our
 * ring-0 SYSCALL entry, tk_ugate_call_flush).  Shadow paging (PVM) keeps the
 * ring.  Trusts our ring-0 code more than the ring does: writes made through
 * tables of ring 0's own making leave no dirty bit here.  A reset that finds
 * the tables changed otherwise than by grants fails, so the fork is dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

#define PF_PRESENT	(1u << 0)
#define PF_WRITE	(1u << 1)
#define PF_USER		(1u << 2)
#define PF_RSVD		(1u << 3)
#define PF_FETCH	(1u << 4)

/* Pages one fault grants: the aligned 64 KiB around it. */
#define GRANT_PAGES	16
/* Written pages a reset leaves granted: beyond, the next request asks again. */
#define OWNED_KEEP	512

static uint64_t *
fork_entry(const struct tk_vm *fork, uint64_t at)
{
	return ((uint64_t *)(void *)(fork->mem + at));
}

static uint64_t
image_entry(const struct tk_vm *fork, uint64_t at)
{
	return (*(const uint64_t *)(const void *)(fork->image->mem + at));
}

int
tk_pte_open(struct tk_vm *fork, struct tk_dirty_log *dl)
{
	dl->split = calloc(fork->mem_size / TK_HUGE_SIZE + 1, sizeof *dl->split);
	dl->owned_bits = calloc(fork->mem_size / TK_PAGE_SIZE / 64 + 1,
	    sizeof *dl->owned_bits);
	dl->owned_cap = 64;
	dl->owned = malloc(dl->owned_cap * sizeof *dl->owned);
	dl->pt_next = fork->pg.arena_next;
	dl->pt_end = fork->pg.arena_end;
	return (dl->split == NULL || dl->owned == NULL || dl->owned_bits == NULL ?
	    -ENOMEM : 0);
}

void
tk_pte_close(struct tk_dirty_log *dl)
{
	free(dl->split);
	free(dl->owned);
	free(dl->owned_bits);
	dl->split = NULL;
	dl->owned = NULL;
	dl->owned_bits = NULL;
	dl->n_owned = dl->owned_cap = 0;
}

/*
 * The fork's own 4 KiB table for the 2 MiB leaf at (at): the same pages and
 * permissions, one entry each.  Its pages come from the arena above the
 * image's tables, which the image never uses after its first fork.
 */
static int
pt_split(struct tk_vm *fork, uint64_t at, uint64_t chunk)
{
	struct tk_dirty_log *dl = fork->dlog;
	uint64_t leaf = image_entry(fork, at), pt = dl->pt_next, *e;
	uint64_t base = leaf & TK_PTE_ADDR & ~(TK_HUGE_SIZE - 1);
	uint64_t flags = leaf & ~TK_PTE_ADDR & ~TK_PTE_PS;
	unsigned i;

	if (pt + TK_PAGE_SIZE > dl->pt_end)
		return (-ENOMEM);
	dl->pt_next += TK_PAGE_SIZE;
	e = fork_entry(fork, pt);
	for (i = 0; i < TK_PTE_ENTRIES; i++)
		e[i] = (base + i * TK_PAGE_SIZE) | flags;
	*fork_entry(fork, at) = pt | TK_PTE_UPPER;
	dl->split[chunk] = pt;
	return (0);
}

/*
 * Where page (va)'s 4 KiB entry is in the fork's tables (a guest physical
 * address), found through the image's tables and our own split list, never
 * through what the fork's tables say.  0: none, or not tracked.
 */
static uint64_t
pte_locate(struct tk_vm *fork, uint64_t va, int split)
{
	struct tk_dirty_log *dl = fork->dlog;
	uint64_t size, at = tk_paging_leaf_entry(&fork->pg, va, &size);
	uint64_t chunk = va / TK_HUGE_SIZE;

	if (at == 0 || !(image_entry(fork, at) & TK_PTE_SW_W))
		return (0);
	if (size == TK_PAGE_SIZE)
		return (at);
	if (dl->split[chunk] == 0 && (!split || pt_split(fork, at, chunk) < 0))
		return (0);
	return (dl->split[chunk] + ((va >> 12) & (TK_PTE_ENTRIES - 1)) * 8);
}

static int
page_marked(const struct tk_dirty_log *dl, uint64_t page)
{
	return ((dl->bits[page / 64] >> (page % 64)) & 1);
}

/* Takes W back from granted page (page) at entry (e). */
static void
revoke(struct tk_vm *vm, uint64_t *e, uint64_t page)
{
	*e &= ~TK_PTE_W;
	vm->dlog->owned_bits[page / 64] &= ~(1ULL << (page % 64));
	vm->tlb_stale = 1;
}

void
tk_pte_collect(struct tk_vm *vm, int take_back)
{
	struct tk_dirty_log *dl = vm->dlog;
	uint32_t i, kept = 0;
	uint64_t *e, at;

	dl->owned_unmarked = 0;
	for (i = 0; i < dl->n_owned; i++) {
		at = pte_locate(vm, (uint64_t)dl->owned[i] * TK_PAGE_SIZE, 0);
		assert(at != 0);
		e = fork_entry(vm, at);
		if (*e & TK_PTE_D) {
			(void)tk_dirty_bit_set(dl, dl->owned[i]);
			*e &= ~TK_PTE_D;
			vm->tlb_stale = 1;
		}
		if (!page_marked(dl, dl->owned[i])) {
			if (take_back) {
				revoke(vm, e, dl->owned[i]);
				continue;
			}
			dl->owned_unmarked++;
		}
		dl->owned[kept++] = dl->owned[i];
	}
	dl->n_owned = kept;
}

void
tk_pte_settle(struct tk_vm *vm, int release)
{
	struct tk_dirty_log *dl = vm->dlog;
	uint32_t i;

	tk_pte_collect(vm, 1);
	if (release || dl->n_owned > OWNED_KEEP) {
		for (i = 0; i < dl->n_owned; i++)
			revoke(vm, fork_entry(vm, pte_locate(vm,
			    (uint64_t)dl->owned[i] * TK_PAGE_SIZE, 0)),
			    dl->owned[i]);
		dl->n_owned = 0;
	}
	/* Once the bitmap is cleared, each page still granted may be written. */
	dl->owned_unmarked = dl->n_owned;
}

/* Room for (n) more grants; bounded by the guest's pages. */
static int
owned_reserve(struct tk_vm *vm, uint32_t n)
{
	struct tk_dirty_log *dl = vm->dlog;
	uint64_t cap = dl->owned_cap;
	uint32_t *o;

	if (dl->n_owned + n <= dl->owned_cap)
		return (0);
	while (cap < dl->n_owned + n)
		cap *= 2;
	if (cap > vm->mem_size / TK_PAGE_SIZE)
		cap = vm->mem_size / TK_PAGE_SIZE;
	if (dl->n_owned + n > cap || (o = realloc(dl->owned,
	    cap * sizeof *o)) == NULL)
		return (-ENOMEM);
	dl->owned = o;
	dl->owned_cap = (uint32_t)cap;
	return (0);
}

/* Pages of [lo, lo + n pages) the fork may be granted and is not: a count. */
static uint32_t
grantable(struct tk_vm *vm, uint64_t lo, uint32_t n)
{
	uint32_t i, count = 0;
	uint64_t at;

	for (i = 0; i < n; i++) {
		at = pte_locate(vm, lo + i * TK_PAGE_SIZE, 1);
		if (at != 0 && !(*fork_entry(vm, at) & TK_PTE_W))
			count++;
	}
	return (count);
}

/* Grants the pages of [lo, lo + n pages) not granted yet: how many. */
static uint32_t
grant_run(struct tk_vm *vm, uint64_t lo, uint32_t n)
{
	struct tk_dirty_log *dl = vm->dlog;
	uint64_t at, *e, page;
	uint32_t i, done = 0;

	for (i = 0; i < n; i++) {
		page = lo / TK_PAGE_SIZE + i;
		at = pte_locate(vm, page * TK_PAGE_SIZE, 1);
		if (at == 0 || (*(e = fork_entry(vm, at)) & TK_PTE_W))
			continue;
		assert(dl->n_owned < dl->owned_cap);
		*e |= TK_PTE_W;
		dl->owned[dl->n_owned++] = (uint32_t)page;
		dl->owned_bits[page / 64] |= 1ULL << (page % 64);
		done++;
	}
	return (done);
}

/*
 * How many pages around (va) to grant: the 64 KiB run, or only the page
 * itself near the limit, or none (0) past it.  Near the limit, granted pages
 * not written yet are taken back first, so the count is exact.
 */
static uint32_t
grant_size(struct tk_vm *vm, uint64_t va, uint64_t *lo)
{
	struct tk_dirty_log *dl = vm->dlog;
	uint32_t need = grantable(vm, *lo, GRANT_PAGES);

	if (dl->max == 0 || tk_dirty_in_use(dl) + need <= dl->max)
		return (GRANT_PAGES);
	tk_pte_collect(vm, 1);
	if (tk_dirty_in_use(dl) + grantable(vm, *lo, GRANT_PAGES) <= dl->max)
		return (GRANT_PAGES);
	*lo = va & ~(TK_PAGE_SIZE - 1);
	return (tk_dirty_in_use(dl) + 1 <= dl->max ? 1 : 0);
}

int
tk_pte_grant(struct tk_vm *vm, uint64_t va, uint64_t error)
{
	struct tk_dirty_log *dl = vm->dlog;
	uint64_t lo = va & ~(GRANT_PAGES * TK_PAGE_SIZE - 1), at, size;
	uint32_t n;

	if (dl == NULL || !dl->pte || vm->state != TK_STATE_IN_CALL ||
	    (error & (PF_PRESENT | PF_WRITE | PF_USER | PF_RSVD | PF_FETCH)) !=
	    (PF_PRESENT | PF_WRITE | PF_USER))
		return (0);
	if (!(tk_paging_leaf(&vm->pg, va, &size) & TK_PTE_SW_W))
		return (0);
	at = pte_locate(vm, va, 1);
	if (at == 0) {
		tk_stop(vm, TK_STOP_MEMORY, 0, 0, "no room left for the page "
		    "tables that track the request's writes");
		return (1);
	}
	/* The resumed exception wrote the kernel's stack: a reset puts it back. */
	dl->granted = 1;
	/* Granted already: a stale translation, gone with the CR3 reload on
	 * the exception's way out. */
	if (*fork_entry(vm, at) & TK_PTE_W)
		return (1);
	n = grant_size(vm, va, &lo);
	if (n == 0) {
		tk_stop(vm, TK_STOP_MEMORY, 0, 0, "the request wrote %llu KiB, "
		    "all of its %llu KiB of request memory, and writes more",
		    (unsigned long long)(tk_dirty_in_use(dl) * 4),
		    (unsigned long long)(dl->max * 4));
		return (1);
	}
	if (owned_reserve(vm, n) < 0) {
		tk_stop(vm, TK_STOP_MEMORY, 0, 0, "out of host memory to track "
		    "the request's writes");
		return (1);
	}
	dl->owned_unmarked += grant_run(vm, lo, n);
	return (1);
}

/* Page (page)'s entry may differ from its pristine one by W and D, if we granted it. */
static int
entry_ok(const struct tk_dirty_log *dl, uint64_t now, uint64_t pristine,
    uint64_t page)
{
	return (now == pristine || ((pristine & TK_PTE_SW_W) &&
	    (now & ~(TK_PTE_W | TK_PTE_D)) == pristine &&
	    tk_dirty_owned(dl, page)));
}

/* The fork's table for a 2 MiB leaf: its leaf's pages, one by one. */
static int
split_ok(const struct tk_vm *fork, uint64_t pt, uint64_t leaf)
{
	const uint64_t *e = (const uint64_t *)(const void *)(fork->mem + pt);
	uint64_t base = leaf & TK_PTE_ADDR & ~(TK_HUGE_SIZE - 1);
	uint64_t flags = leaf & ~TK_PTE_ADDR & ~TK_PTE_PS;
	unsigned i;

	for (i = 0; i < TK_PTE_ENTRIES; i++)
		if (!entry_ok(fork->dlog, e[i], (base + i * TK_PAGE_SIZE) | flags,
		    base / TK_PAGE_SIZE + i))
			return (0);
	return (1);
}

static int
page_same(const struct tk_vm *fork, uint64_t gpa)
{
	return (memcmp(fork->mem + gpa, fork->image->mem + gpa, TK_PAGE_SIZE) == 0);
}

/* One page directory (pd) covering from (va): its entries and their tables. */
static int
pd_intact(const struct tk_vm *fork, uint64_t pd, uint64_t va)
{
	const struct tk_dirty_log *dl = fork->dlog;
	uint64_t pe, fe, chunk, pt;
	unsigned j, k;

	for (j = 0; j < TK_PTE_ENTRIES; j++) {
		pe = image_entry(fork, pd + j * 8);
		fe = *fork_entry(fork, pd + j * 8);
		chunk = (va + j * TK_HUGE_SIZE) / TK_HUGE_SIZE;
		if (chunk * TK_HUGE_SIZE < fork->mem_size && dl->split[chunk] != 0) {
			if (fe != (dl->split[chunk] | TK_PTE_UPPER) ||
			    !split_ok(fork, dl->split[chunk], pe))
				return (0);
			continue;
		}
		if (fe != pe)
			return (0);
		if (!(pe & TK_PTE_P) || (pe & TK_PTE_PS))
			continue;
		pt = pe & TK_PTE_ADDR;
		if (page_same(fork, pt))
			continue;
		for (k = 0; k < TK_PTE_ENTRIES; k++)
			if (!entry_ok(dl, *fork_entry(fork, pt + k * 8),
			    image_entry(fork, pt + k * 8),
			    chunk * (TK_HUGE_SIZE / TK_PAGE_SIZE) + k))
				return (0);
	}
	return (1);
}

int
tk_pte_tables_intact(const struct tk_vm *fork)
{
	uint64_t pml4 = fork->pg.pml4, pdpt, pe;
	unsigned i;

	if (!page_same(fork, pml4))
		return (0);
	pdpt = image_entry(fork, pml4) & TK_PTE_ADDR;
	if (!page_same(fork, pdpt))
		return (0);
	for (i = 0; i < TK_PTE_ENTRIES; i++) {
		pe = image_entry(fork, pdpt + i * 8);
		if ((pe & TK_PTE_P) && !pd_intact(fork, pe & TK_PTE_ADDR,
		    (uint64_t)i << 30))
			return (0);
	}
	return (1);
}
