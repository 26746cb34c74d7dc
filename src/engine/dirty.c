/*
 * What a fork wrote: KVM's dirty ring for the guest's writes (or the guest's
 * own dirty bits, dirty_pte.c), tk_dirty_mark for the host's on its behalf,
 * all into the fork's bitmap, which the reset
 * (fork.c) walks.  The request-memory limit is counted here too, before a
 * host write (tk_dirty_budget) and when the ring is harvested.  Below
 * memory.c and fork.c: it calls only the leaf stop helpers and KVM.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tk_internal.h"

void
tk_dirty_mark(struct tk_vm *vm, uint64_t gpa, uint64_t len)
{
	struct tk_dirty_log *dl = vm->dlog;
	uint64_t p, last;

	if (dl == NULL || len == 0 || gpa >= vm->mem_size)
		return;
	last = (gpa + len - 1 < vm->mem_size ? gpa + len - 1 : vm->mem_size - 1) /
	    TK_PAGE_SIZE;
	for (p = gpa / TK_PAGE_SIZE; p <= last; p++)
		/* A granted page counted as "may be written" is written now. */
		if (tk_dirty_bit_set(dl, p) && tk_dirty_owned(dl, p) &&
		    dl->owned_unmarked > 0)
			dl->owned_unmarked--;
}

int
tk_dirty_harvest(struct tk_vm *vm)
{
	const uint64_t slot1 = TK_DOORBELL_ADDR + TK_PAGE_SIZE;
	struct tk_dirty_log *dl = vm->dlog;
	struct kvm_dirty_gfn *e;
	uint32_t n = 0;

	if (dl != NULL && dl->pte)
		tk_pte_collect(vm, 0);
	if (dl == NULL || dl->ring == NULL)
		return (dl != NULL && dl->max != 0 && dl->pages - dl->base > dl->max ?
		    -ENOSPC : 0);
	for (;;) {
		e = &dl->ring[dl->ring_next % dl->ring_entries];
		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
		    KVM_DIRTY_GFN_F_DIRTY))
			break;
		tk_dirty_mark(vm, (e->slot == 0 ? 0 : slot1) +
		    e->offset * TK_PAGE_SIZE, TK_PAGE_SIZE);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		dl->ring_next++;
		n++;
	}
	/* Write-protects the harvested pages again, so new writes are seen. */
	if (n > 0)
		(void)ioctl(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0);
	/* Per call: a kept (non-ephemeral) fork's earlier pages do not count. */
	return (dl->max != 0 && dl->pages - dl->base > dl->max ? -ENOSPC : 0);
}

void
tk_dirty_over_limit(struct tk_vm *vm)
{
	tk_stop(vm, TK_STOP_MEMORY, 0, 0, "the request wrote %llu KiB, more "
	    "than its %llu KiB of request memory",
	    (unsigned long long)(tk_dirty_in_use(vm->dlog) * 4),
	    (unsigned long long)(vm->dlog->max * 4));
}

int
tk_dirty_budget(struct tk_vm *vm, uint64_t pages, const char *what)
{
	const struct tk_dirty_log *dl = vm->dlog;
	uint64_t used;

	if (dl == NULL || dl->max == 0 || vm->state != TK_STATE_IN_CALL)
		return (0);
	used = tk_dirty_in_use(dl);
	if (used + pages <= dl->max)
		return (0);
	tk_stop(vm, TK_STOP_MEMORY, 0, 0, "the request wrote %llu KiB and %s "
	    "would write %llu KiB more, past its %llu KiB of request memory",
	    (unsigned long long)(used * 4), what,
	    (unsigned long long)(pages * 4), (unsigned long long)(dl->max * 4));
	return (-ENOMEM);
}

int
tk_dirty_log_open(struct tk_vm *vm, struct tk_dirty_log *dl, char *err,
    size_t errlen)
{
	if (dl->ring_entries != 0)
		dl->ring = mmap(NULL, dl->ring_entries *
		    sizeof(struct kvm_dirty_gfn), PROT_READ | PROT_WRITE,
		    MAP_SHARED, vm->vcpu_fd,
		    KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE));
	if (dl->ring == MAP_FAILED) {
		dl->ring = NULL;
		snprintf(err, errlen, "cannot map the dirty ring: %s", strerror(errno));
		return (-errno);
	}
	dl->bits = calloc(vm->mem_size / TK_PAGE_SIZE / 64 + 1, sizeof *dl->bits);
	if (dl->bits == NULL || (dl->pte && tk_pte_open(vm, dl) < 0)) {
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	return (0);
}

void
tk_dirty_log_close(struct tk_dirty_log *dl)
{
	if (dl->ring != NULL)
		(void)munmap(dl->ring, dl->ring_entries * sizeof dl->ring[0]);
	dl->ring = NULL;
	tk_pte_close(dl);
	free(dl->bits);
	dl->bits = NULL;
}
