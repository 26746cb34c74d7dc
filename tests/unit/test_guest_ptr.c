/* Guest pointers: every address and length the host takes from a guest is checked. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tk_internal.h"

#define MEM_SIZE	(16ULL << 20)
#define RW		0x200000ULL	/* four user read-write pages */
#define RO		0x204000ULL	/* one user read-only page */
#define SUPER		0x205000ULL	/* one supervisor page */
#define HOLE		0x206000ULL	/* unmapped */

static int
setup(void **state)
{
	struct tk_vm *vm = calloc(1, sizeof *vm);
	char err[128];

	if (vm == NULL || tk_mem_create(vm, MEM_SIZE, 0, err, sizeof err) != 0)
		return (-1);
	if (tk_paging_init(&vm->pg, vm->mem, MEM_SIZE, MEM_SIZE - (1 << 20), MEM_SIZE) ||
	    tk_paging_map(&vm->pg, RW, 0x4000, TK_PTE_P | TK_PTE_U | TK_PTE_W | TK_PTE_NX) ||
	    tk_paging_map(&vm->pg, RO, 0x1000, TK_PTE_P | TK_PTE_U | TK_PTE_NX) ||
	    tk_paging_map(&vm->pg, SUPER, 0x1000, TK_PTE_P | TK_PTE_W | TK_PTE_NX))
		return (-1);
	*state = vm;
	return (0);
}

static int
teardown(void **state)
{
	struct tk_vm *vm = *state;

	tk_mem_destroy(vm);
	free(vm);
	return (0);
}

static void
test_user_pages(void **state)
{
	struct tk_vm *vm = *state;
	char buf[64] = "guest data";
	char back[64];

	assert_int_equal(tk_copy_to_guest(vm, RW + 0x3ff0, buf, 16), 0);
	assert_int_equal(tk_copy_from_guest(vm, back, RW + 0x3ff0, 16), 0);
	assert_memory_equal(buf, back, 16);
	/* The host pointer is the identity-mapped guest address. */
	assert_ptr_equal(tk_mem_user(vm, RW + 8, 8, 1), vm->mem + RW + 8);
	/* Read-only: readable, never writable through us. */
	assert_non_null(tk_mem_user(vm, RO, 0x1000, 0));
	assert_null(tk_mem_user(vm, RO, 1, 1));
	assert_int_equal(tk_copy_to_guest(vm, RO + 100, buf, 1), -EFAULT);
	/* A write that starts writable and runs into read-only fails whole. */
	assert_null(tk_mem_user(vm, RO - 8, 16, 1));
	/* Zero length needs no mapping. */
	assert_non_null(tk_mem_user(vm, HOLE, 0, 1));
}

static void
test_kernel_and_holes(void **state)
{
	struct tk_vm *vm = *state;
	char buf[16];

	assert_null(tk_mem_user(vm, SUPER, 8, 0));
	assert_null(tk_mem_user(vm, HOLE, 1, 0));
	assert_null(tk_mem_user(vm, 0, 8, 0));
	/* The page tables themselves are not mapped at all. */
	assert_null(tk_mem_user(vm, vm->pg.pml4, 8, 0));
	assert_null(tk_mem_user(vm, RO + 0xff8, 16, 0));
	assert_int_equal(tk_copy_from_guest(vm, buf, SUPER - 4, 8), -EFAULT);
}

static void
test_hostile_ranges(void **state)
{
	struct tk_vm *vm = *state;

	assert_null(tk_mem_user(vm, UINT64_MAX - 7, 16, 0));
	assert_null(tk_mem_user(vm, RW, UINT64_MAX, 0));
	assert_null(tk_mem_user(vm, RW, UINT64_MAX - RW + 1, 0));
	assert_null(tk_mem_user(vm, MEM_SIZE, 1, 0));
	assert_null(tk_mem_user(vm, MEM_SIZE - 1, 2, 0));
	assert_null(tk_mem_user(vm, 1ULL << 63, 8, 0));
}

static void
test_strings(void **state)
{
	struct tk_vm *vm = *state;
	char out[32];

	memcpy(vm->mem + RW, "hello", 6);
	assert_int_equal(tk_copy_string(vm, out, RW, sizeof out), 5);
	assert_string_equal(out, "hello");
	/* Crossing a page boundary. */
	memcpy(vm->mem + RW + 0x1000 - 3, "abcdef", 7);
	assert_int_equal(tk_copy_string(vm, out, RW + 0x1000 - 3, sizeof out), 6);
	assert_string_equal(out, "abcdef");
	/* No terminator before an unreadable page. */
	memset(vm->mem + RO, 'x', 0x1000);
	assert_int_equal(tk_copy_string(vm, out, RO + 0x1000 - 4, sizeof out), -EFAULT);
	/* Longer than the caller's buffer. */
	assert_int_equal(tk_copy_string(vm, out, RO, sizeof out), -ENAMETOOLONG);
	assert_int_equal(tk_copy_string(vm, out, SUPER, sizeof out), -EFAULT);
	assert_int_equal(tk_copy_string(vm, out, UINT64_MAX - 2, sizeof out), -EFAULT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_user_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_and_holes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
