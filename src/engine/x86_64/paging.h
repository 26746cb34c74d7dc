/*
 * Guest page tables: an identity map (guest virtual == guest physical) built by
 * the host inside guest memory, in an arena the guest cannot address.  2 MiB
 * pages wherever a whole aligned 2 MiB range has one permission, 4 KiB pages
 * elsewhere.  Pure code over a memory buffer, so unit tests can drive it.
 */
#ifndef TK_PAGING_H
#define TK_PAGING_H

#include <stdint.h>

#define TK_PAGE_SIZE	4096ULL
#define TK_HUGE_SIZE	(2ULL << 20)

#define TK_PTE_P	(1ULL << 0)
#define TK_PTE_W	(1ULL << 1)
#define TK_PTE_U	(1ULL << 2)
#define TK_PTE_A	(1ULL << 5)
#define TK_PTE_D	(1ULL << 6)
#define TK_PTE_PS	(1ULL << 7)
#define TK_PTE_SW_W	(1ULL << 9)	/* ours: writable once granted (W clear) */
#define TK_PTE_NX	(1ULL << 63)
#define TK_PTE_ADDR	0x000ffffffffff000ULL
/* The permission bits a caller chooses; the rest are ours. */
#define TK_PTE_PERM	(TK_PTE_P | TK_PTE_W | TK_PTE_U | TK_PTE_NX)
/* The entry of an upper-level table: the leaf alone decides access. */
#define TK_PTE_UPPER	(TK_PTE_P | TK_PTE_W | TK_PTE_U | TK_PTE_A)
#define TK_PTE_ENTRIES	512

struct tk_paging {
	uint8_t		*mem;		/* host view of guest physical memory */
	uint64_t	mem_size;
	uint64_t	arena_base;	/* table pages come from [base, end) */
	uint64_t	arena_end;
	uint64_t	arena_next;	/* first never-used arena page */
	uint64_t	free_head;	/* freed table pages, linked; 0: none */
	uint64_t	pml4;		/* guest physical address of the root */
	uint64_t	tables;		/* table pages in use */
	int		flush;		/* a present entry changed: flush the TLB */
};

/* Makes an empty address space over (mem, mem_size), tables in [arena_base, arena_end). */
int tk_paging_init(struct tk_paging *pg, uint8_t *mem, uint64_t mem_size,
    uint64_t arena_base, uint64_t arena_end);

/*
 * Maps [addr, addr+len) to itself with (perm) (a subset of TK_PTE_PERM that
 * includes TK_PTE_P), or unmaps it when (perm) is 0.  Page-aligned.  Returns
 * -ENOMEM when the arena is full, -EINVAL for a range outside memory.
 */
int tk_paging_map(struct tk_paging *pg, uint64_t addr, uint64_t len, uint64_t perm);

/* The leaf entry for (va), 0 if unmapped; (*size) gets its page size. */
uint64_t tk_paging_leaf(const struct tk_paging *pg, uint64_t va, uint64_t *size);

/*
 * Write tracking by the guest's own dirty bits (dirty_pte.c): every user
 * writable leaf at or above (lo), but for those in [keep_lo, keep_hi), loses
 * W and D and gets TK_PTE_SW_W.  A write there then faults, and the host
 * grants the page (sets W); the CPU sets D on the write, which is how a
 * reset finds what was written.  0 or -ENOMEM (arena full).
 */
int tk_paging_track_writes(struct tk_paging *pg, uint64_t lo, uint64_t keep_lo,
    uint64_t keep_hi);

/* Where that leaf entry is: its guest physical address, 0 if unmapped. */
uint64_t tk_paging_leaf_entry(const struct tk_paging *pg, uint64_t va,
    uint64_t *size);

/* Table pages in use now (for tests and statistics). */
uint64_t tk_paging_tables_used(const struct tk_paging *pg);

/* Table pages an address space of (mem_size) bytes can need at worst. */
uint64_t tk_paging_arena_pages(uint64_t mem_size);

#endif
