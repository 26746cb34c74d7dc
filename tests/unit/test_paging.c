/* The page-table builder: identity maps, 2 MiB pages, splits, merges, errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "x86_64/paging.h"

#define MEM_SIZE	(64ULL << 20)
#define ARENA_BASE	(MEM_SIZE - (1ULL << 20))
#define RW_USER		(TK_PTE_P | TK_PTE_W | TK_PTE_U | TK_PTE_NX)
#define RO_USER		(TK_PTE_P | TK_PTE_U | TK_PTE_NX)

static int
setup(void **state)
{
	struct tk_paging *pg = calloc(1, sizeof *pg);
	uint8_t *mem = aligned_alloc(4096, MEM_SIZE);

	if (pg == NULL || mem == NULL)
		return (-1);
	if (tk_paging_init(pg, mem, MEM_SIZE, ARENA_BASE, MEM_SIZE) != 0)
		return (-1);
	*state = pg;
	return (0);
}

static int
teardown(void **state)
{
	struct tk_paging *pg = *state;

	free(pg->mem);
	free(pg);
	return (0);
}

static void
test_huge_pages_when_aligned(void **state)
{
	struct tk_paging *pg = *state;
	uint64_t size = 0, leaf;

	assert_int_equal(tk_paging_map(pg, 4 * TK_HUGE_SIZE, 2 * TK_HUGE_SIZE, RW_USER), 0);
	leaf = tk_paging_leaf(pg, 5 * TK_HUGE_SIZE + 12345, &size);
	assert_int_equal(size, TK_HUGE_SIZE);
	assert_true(leaf & TK_PTE_PS);
	assert_int_equal(leaf & TK_PTE_PERM, RW_USER);
	/* Identity: the frame is the address itself. */
	assert_int_equal(leaf & TK_PTE_ADDR, 5 * TK_HUGE_SIZE);
	/* Accessed and dirty preset: the CPU never writes the tables. */
	assert_true((leaf & (TK_PTE_A | TK_PTE_D)) == (TK_PTE_A | TK_PTE_D));
	/* PML4, PDPT and one PD. */
	assert_int_equal(tk_paging_tables_used(pg), 3);
	assert_false(pg->flush);
}

static void
test_split_and_merge_back(void **state)
{
	struct tk_paging *pg = *state;
	uint64_t size = 0, leaf, base = 8 * TK_HUGE_SIZE;

	assert_int_equal(tk_paging_map(pg, base, TK_HUGE_SIZE, RW_USER), 0);
	assert_int_equal(tk_paging_map(pg, base + 0x5000, 0x1000, RO_USER), 0);
	assert_true(pg->flush);
	leaf = tk_paging_leaf(pg, base + 0x5000, &size);
	assert_int_equal(size, TK_PAGE_SIZE);
	assert_int_equal(leaf & TK_PTE_PERM, RO_USER);
	assert_int_equal(leaf & TK_PTE_ADDR, base + 0x5000);
	leaf = tk_paging_leaf(pg, base + 0x6000, &size);
	assert_int_equal(leaf & TK_PTE_PERM, RW_USER);
	assert_int_equal(tk_paging_tables_used(pg), 4);
	/* Uniform again: the 4 KiB table goes back to the arena. */
	assert_int_equal(tk_paging_map(pg, base + 0x5000, 0x1000, RW_USER), 0);
	leaf = tk_paging_leaf(pg, base + 0x5000, &size);
	assert_int_equal(size, TK_HUGE_SIZE);
	assert_int_equal(tk_paging_tables_used(pg), 3);
}

static void
test_unmap_and_null_page(void **state)
{
	struct tk_paging *pg = *state;
	uint64_t size = 0;

	assert_int_equal(tk_paging_map(pg, 0x1000, 0x3000, TK_PTE_P), 0);
	assert_int_equal(tk_paging_leaf(pg, 0, &size), 0);
	assert_int_not_equal(tk_paging_leaf(pg, 0x2000, &size), 0);
	assert_int_equal(tk_paging_map(pg, 0x1000, 0x3000, 0), 0);
	assert_int_equal(tk_paging_leaf(pg, 0x2000, &size), 0);
	/* An all-empty table is freed too. */
	assert_int_equal(tk_paging_tables_used(pg), 3);
	/* Unmapping what was never mapped is fine and allocates nothing. */
	assert_int_equal(tk_paging_map(pg, 20 * TK_HUGE_SIZE, TK_PAGE_SIZE, 0), 0);
	assert_int_equal(tk_paging_tables_used(pg), 3);
}

static void
test_bad_arguments(void **state)
{
	struct tk_paging *pg = *state;

	assert_int_equal(tk_paging_map(pg, 0x1001, 0x1000, RW_USER), -EINVAL);
	assert_int_equal(tk_paging_map(pg, 0x1000, 0x1001, RW_USER), -EINVAL);
	assert_int_equal(tk_paging_map(pg, MEM_SIZE - 0x1000, 0x2000, RW_USER), -EINVAL);
	assert_int_equal(tk_paging_map(pg, UINT64_MAX - 0xfff, 0x2000, RW_USER), -EINVAL);
	/* Only permission bits, and present with any of them. */
	assert_int_equal(tk_paging_map(pg, 0x1000, 0x1000, TK_PTE_PS | TK_PTE_P), -EINVAL);
	assert_int_equal(tk_paging_map(pg, 0x1000, 0x1000, TK_PTE_W), -EINVAL);
	assert_int_equal(tk_paging_leaf(pg, MEM_SIZE + 0x1000, &(uint64_t){0}), 0);
}

static void
test_arena_exhaustion(void **state)
{
	struct tk_paging small;
	uint8_t *mem = aligned_alloc(4096, MEM_SIZE);

	(void)state;
	assert_non_null(mem);
	/* Room for PML4, PDPT, one PD and one PT only. */
	assert_int_equal(tk_paging_init(&small, mem, MEM_SIZE, MEM_SIZE - 0x4000, MEM_SIZE), 0);
	assert_int_equal(tk_paging_map(&small, 0x1000, 0x1000, RW_USER), 0);
	assert_int_equal(tk_paging_map(&small, TK_HUGE_SIZE + 0x1000, 0x1000, RW_USER), -ENOMEM);
	free(mem);
}

static void
test_worst_case_fits_the_arena(void **state)
{
	uint64_t pages = tk_paging_arena_pages(MEM_SIZE), base, a;
	struct tk_paging pg;
	uint8_t *mem = aligned_alloc(4096, MEM_SIZE);

	(void)state;
	assert_non_null(mem);
	base = MEM_SIZE - pages * TK_PAGE_SIZE;
	assert_int_equal(tk_paging_init(&pg, mem, MEM_SIZE, base, MEM_SIZE), 0);
	/* Every 2 MiB chunk below the arena split into 4 KiB pages. */
	for (a = 0; a + TK_HUGE_SIZE <= base; a += TK_HUGE_SIZE)
		assert_int_equal(tk_paging_map(&pg, a + TK_PAGE_SIZE, TK_PAGE_SIZE, RO_USER), 0);
	free(mem);
}

/*
 * Write tracking: writable user leaves lose W and D and get SW_W; a kept
 * range inside a 2 MiB leaf splits it and stays writable with D preset;
 * read-only and supervisor leaves are untouched.
 */
static void
test_track_writes(void **state)
{
	struct tk_paging *pg = *state;
	const uint64_t ro = 2 * TK_HUGE_SIZE, rw = 4 * TK_HUGE_SIZE;
	const uint64_t keep = rw + TK_HUGE_SIZE - 8 * TK_PAGE_SIZE;
	uint64_t size = 0, leaf;

	assert_int_equal(tk_paging_map(pg, ro, TK_HUGE_SIZE, RO_USER), 0);
	assert_int_equal(tk_paging_map(pg, rw, 2 * TK_HUGE_SIZE, RW_USER), 0);
	assert_int_equal(tk_paging_map(pg, TK_HUGE_SIZE, TK_PAGE_SIZE,
	    TK_PTE_P | TK_PTE_W), 0);
	assert_int_equal(tk_paging_track_writes(pg, TK_HUGE_SIZE, keep,
	    rw + TK_HUGE_SIZE), 0);
	/* The whole second 2 MiB: still one leaf, W gone, SW_W set. */
	leaf = tk_paging_leaf(pg, rw + TK_HUGE_SIZE + 5, &size);
	assert_int_equal(size, TK_HUGE_SIZE);
	assert_int_equal(leaf & (TK_PTE_W | TK_PTE_D | TK_PTE_SW_W | TK_PTE_PS),
	    TK_PTE_SW_W | TK_PTE_PS);
	/* The first: split; below the kept pages tracked, the kept ones not. */
	leaf = tk_paging_leaf(pg, keep - TK_PAGE_SIZE, &size);
	assert_int_equal(size, TK_PAGE_SIZE);
	assert_int_equal(leaf & (TK_PTE_W | TK_PTE_D | TK_PTE_SW_W), TK_PTE_SW_W);
	assert_int_equal(leaf & TK_PTE_ADDR, keep - TK_PAGE_SIZE);
	leaf = tk_paging_leaf(pg, keep, &size);
	assert_int_equal(leaf & (TK_PTE_W | TK_PTE_D | TK_PTE_SW_W),
	    TK_PTE_W | TK_PTE_D);
	/* Read-only and supervisor pages as they were. */
	leaf = tk_paging_leaf(pg, ro, &size);
	assert_int_equal(leaf & (TK_PTE_W | TK_PTE_SW_W), 0);
	leaf = tk_paging_leaf(pg, TK_HUGE_SIZE, &size);
	assert_int_equal(leaf & (TK_PTE_W | TK_PTE_SW_W), TK_PTE_W);
	/* Where the leaf entry is: inside the arena, holding that leaf. */
	assert_true(tk_paging_leaf_entry(pg, keep, &size) >= ARENA_BASE);
	assert_int_equal(*(uint64_t *)(void *)(pg->mem +
	    tk_paging_leaf_entry(pg, keep, &size)), leaf =
	    tk_paging_leaf(pg, keep, &size));
	assert_int_equal(tk_paging_leaf_entry(pg, 8 * TK_HUGE_SIZE, &size), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_huge_pages_when_aligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_and_merge_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_and_null_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_track_writes, setup, teardown),
		cmocka_unit_test(test_arena_exhaustion),
		cmocka_unit_test(test_worst_case_fits_the_arena),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
