/*
 * The guest's address space: where the kernel's pages, the program, brk,
 * the mmap area, the stack and the page tables go, and the page tables that
 * map them.  The low pages' addresses are x86_64/layout.h's, shared with
 * kernel.S; elf.c loads the program's segments in between the two steps.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tk_internal.h"

/* Kernel pages: supervisor only; code executable, data not. */
static int
kernel_map(struct tk_vm *vm)
{
	int r;

	r = tk_mem_map(vm, TK_GDT_ADDR, TK_KCODE_ADDR - TK_GDT_ADDR,
	    TK_PTE_P | TK_PTE_NX);
	if (r == 0)
		r = tk_mem_map(vm, TK_KCODE_ADDR, TK_KCODE_SIZE, TK_PTE_P);
	if (r == 0)
		r = tk_mem_map(vm, TK_KSTACK_ADDR,
		    TK_KSTACK_TOP - TK_KSTACK_ADDR, TK_PTE_P | TK_PTE_W | TK_PTE_NX);
	if (r == 0)
		r = tk_mem_map(vm, TK_UGATE_ADDR, TK_PAGE_SIZE, TK_PTE_P | TK_PTE_U);
	if (r == 0)
		r = tk_mem_map(vm, TK_XSAVE_ADDR, TK_PAGE_SIZE,
		    TK_PTE_P | TK_PTE_U | TK_PTE_NX);
	if (r == 0)
		r = tk_paging_map(&vm->pg, TK_DOORBELL_ADDR, TK_PAGE_SIZE,
		    TK_PTE_P | TK_PTE_U | TK_PTE_W | TK_PTE_NX);
	return (r);
}

int
tk_layout_place(struct tk_vm *vm, const struct tk_elf_image *img, char *err,
    size_t errlen)
{
	uint64_t free_lo, free_hi, arena_base = vm->pg.arena_base;

	vm->lay.image_start = img->lo + img->bias;
	vm->lay.image_end = img->hi + img->bias;
	vm->lay.stack_top = arena_base;
	/* Linux's 8 MiB, but an eighth of memory in small guests. */
	vm->lay.stack_low = vm->lay.stack_top - (vm->mem_size >= 8 * TK_STACK_SIZE ?
	    TK_STACK_SIZE : (vm->mem_size / 8 + TK_HUGE_SIZE - 1) &
	    ~(TK_HUGE_SIZE - 1));
	free_lo = (vm->lay.image_end + TK_HUGE_SIZE - 1) & ~(TK_HUGE_SIZE - 1);
	free_hi = vm->lay.stack_low - TK_STACK_GUARD;
	if (vm->lay.stack_low < TK_STACK_GUARD || free_hi < free_lo + 2 * TK_HUGE_SIZE) {
		snprintf(err, errlen, "program (%llu KiB) does not fit in %llu MiB "
		    "of guest memory", (unsigned long long)((img->hi - img->lo) >> 10),
		    (unsigned long long)(vm->mem_size >> 20));
		return (-ENOMEM);
	}
	vm->lay.brk_start = vm->proc.brk_cur = vm->lay.image_end;
	/* A quarter for brk; malloc moves to mmap when brk runs out. */
	vm->lay.brk_max = (free_lo + (free_hi - free_lo) / 4) & ~(TK_HUGE_SIZE - 1);
	vm->lay.mmap_start = vm->lay.brk_max;
	vm->lay.mmap_end = free_hi;
	/*
	 * The page tables are final from here on.  Under a shadow-paging
	 * hypervisor (PVM, or KVM without EPT) the host cannot edit them later
	 * without the hypervisor's copy going stale, so the heap and the mmap
	 * area are mapped whole now and mmap/munmap/mprotect are bookkeeping.
	 * The mmap area is executable: shared libraries and JIT code live
	 * there, and which of its pages will hold code is not known now.
	 */
	if (tk_paging_map(&vm->pg, vm->lay.brk_start, vm->lay.mmap_start -
	    vm->lay.brk_start, TK_PTE_P | TK_PTE_U | TK_PTE_W | TK_PTE_NX) < 0 ||
	    tk_paging_map(&vm->pg, vm->lay.mmap_start, vm->lay.mmap_end -
	    vm->lay.mmap_start, TK_PTE_P | TK_PTE_U | TK_PTE_W) < 0 ||
	    tk_paging_map(&vm->pg, vm->lay.stack_low, vm->lay.stack_top - vm->lay.stack_low,
	    TK_PTE_P | TK_PTE_U | TK_PTE_W | TK_PTE_NX) < 0)
		return (-ENOMEM);
	/* Back the top of the stack now; deep stacks are rare and pay on touch. */
	tk_mem_populate(vm, vm->lay.stack_top - TK_HUGE_SIZE, TK_HUGE_SIZE);
	return (0);
}

int
tk_layout_prepare(struct tk_vm *vm, const struct tk_elf_image *img,
    char *err, size_t errlen)
{
	uint64_t arena_bytes, arena_base;
	int r;

	/* The page tables take the top of memory, outside every mapping. */
	arena_bytes = tk_paging_arena_pages(vm->mem_size) * TK_PAGE_SIZE;
	arena_base = (vm->mem_size - arena_bytes) & ~(TK_HUGE_SIZE - 1);
	if (img->hi + img->bias > arena_base / 2) {
		snprintf(err, errlen, "program needs addresses up to 0x%llx, more "
		    "than half of the %llu MiB of guest memory",
		    (unsigned long long)(img->hi + img->bias),
		    (unsigned long long)(vm->mem_size >> 20));
		return (-ENOMEM);
	}
	r = tk_paging_init(&vm->pg, vm->mem, vm->mem_size, arena_base,
	    vm->mem_size);
	if (r == 0)
		r = kernel_map(vm);
	if (r < 0)
		snprintf(err, errlen, "cannot build its page tables: %s",
		    strerror(-r));
	return (r);
}
