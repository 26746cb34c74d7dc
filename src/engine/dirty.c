/*
 * What a fork wrote: KVM's dirty ring for the guest's writes, tk_dirty_mark
 * for the host's on its behalf, both into the fork's bitmap, which the reset
 * (fork.c) walks.  The request-memory limit is counted here too, before a
 * host write (tk_dirty_budget) and when the ring is harvested.  Below
 * memory.c and fork.c: it calls only the leaf stop helpers and KVM.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "tk_internal.h"

void
tk_dirty_mark(struct tk_vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t p, last;

	if (len == 0 || gpa >= vm->mem_size)
		return;
	last = (gpa + len - 1 < vm->mem_size ? gpa + len - 1 : vm->mem_size - 1) /
	    TK_PAGE_SIZE;
	for (p = gpa / TK_PAGE_SIZE; p <= last; p++) {
		uint64_t bit = 1ULL << (p % 64);

		if (!(vm->dirty[p / 64] & bit)) {
			vm->dirty[p / 64] |= bit;
			vm->dirty_pages++;
		}
	}
}

int
tk_dirty_harvest(struct tk_vm *vm)
{
	const uint64_t slot1 = TK_DOORBELL_ADDR + TK_PAGE_SIZE;
	struct kvm_dirty_gfn *e;
	uint32_t n = 0;

	if (vm->ring == NULL)
		return (0);
	for (;;) {
		e = &vm->ring[vm->ring_next % vm->ring_entries];
		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
		    KVM_DIRTY_GFN_F_DIRTY))
			break;
		tk_dirty_mark(vm, (e->slot == 0 ? 0 : slot1) +
		    e->offset * TK_PAGE_SIZE, TK_PAGE_SIZE);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		vm->ring_next++;
		n++;
	}
	/* Write-protects the harvested pages again, so new writes are seen. */
	if (n > 0)
		(void)ioctl(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0);
	/* Per call: a kept (non-ephemeral) fork's earlier pages do not count. */
	return (vm->max_dirty != 0 && vm->dirty_pages - vm->dirty_base > vm->max_dirty ?
	    -ENOSPC : 0);
}

void
tk_dirty_over_limit(struct tk_vm *vm)
{
	tk_stop(vm, TK_STOP_MEMORY, 0, 0, "the request wrote %llu KiB, more "
	    "than its %llu KiB of request memory",
	    (unsigned long long)((vm->dirty_pages - vm->dirty_base) * 4),
	    (unsigned long long)(vm->max_dirty * 4));
}

int
tk_dirty_budget(struct tk_vm *vm, uint64_t pages, const char *what)
{
	uint64_t used;

	if (vm->dirty == NULL || vm->max_dirty == 0 || !vm->in_call)
		return (0);
	used = vm->dirty_pages - vm->dirty_base;
	if (used + pages <= vm->max_dirty)
		return (0);
	tk_stop(vm, TK_STOP_MEMORY, 0, 0, "the request wrote %llu KiB and %s "
	    "would write %llu KiB more, past its %llu KiB of request memory",
	    (unsigned long long)(used * 4), what,
	    (unsigned long long)(pages * 4), (unsigned long long)(vm->max_dirty * 4));
	return (-ENOMEM);
}
