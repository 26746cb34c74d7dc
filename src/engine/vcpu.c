/*
 * A VM's KVM objects (the VM, its one vCPU, its memory slots) and the run
 * loop.  Registers travel in kvm_run (KVM_CAP_SYNC_REGS): an exit costs the
 * exit itself and no ioctl.  What an exit means is exit.c's business.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tk_internal.h"
#include "files.h"

int
tk_vcpu_create(struct tk_vm *vm, char *err, size_t errlen)
{
	int kfd = tk_kvm_fd(err, errlen), size;

	if (kfd < 0)
		return (kfd);
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU: %s", strerror(errno));
		return (-errno);
	}
	size = ioctl(kfd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed");
		return (-EIO);
	}
	vm->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		snprintf(err, errlen, "mmap of kvm_run: %s", strerror(errno));
		return (-errno);
	}
	vm->run_size = (size_t)size;
	/* Segments come along on each exit too (no ioctl): a reset checks them. */
	vm->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	return (0);
}

int
tk_kvm_vm_create(struct tk_vm *vm, uint64_t ring_bytes, char *err,
    size_t errlen)
{
	struct kvm_enable_cap ring = { .cap = KVM_CAP_DIRTY_LOG_RING,
	    .args = { ring_bytes } };
	int kfd = tk_kvm_fd(err, errlen);

	if (kfd < 0)
		return (kfd);
	do
		vm->vm_fd = ioctl(kfd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0 || (ring_bytes != 0 &&
	    ioctl(vm->vm_fd, KVM_ENABLE_CAP, &ring) < 0)) {
		snprintf(err, errlen, "cannot create a KVM VM: %s", strerror(errno));
		return (-errno);
	}
	return (0);
}

/* All guest memory but the doorbell page, whose absence makes a store to it exit. */
int
tk_memslots_set(struct tk_vm *vm, char *err, size_t errlen)
{
	const uint64_t bell_end = TK_DOORBELL_ADDR + TK_PAGE_SIZE;
	const int log_dirty = vm->dlog != NULL && vm->dlog->ring_entries != 0;
	const uint32_t flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0;
	uint64_t hot = log_dirty ? vm->dlog->hot_start : vm->mem_size;
	struct kvm_userspace_memory_region slots[3] = {
		{ .slot = 0, .flags = flags, .guest_phys_addr = 0,
		  .memory_size = TK_DOORBELL_ADDR,
		  .userspace_addr = (uintptr_t)vm->mem },
		{ .slot = 1, .flags = flags, .guest_phys_addr = bell_end,
		  .memory_size = hot - bell_end,
		  .userspace_addr = (uintptr_t)(vm->mem + bell_end) },
		{ .slot = TK_SLOT_UNLOGGED, .flags = 0, .guest_phys_addr = hot,
		  .memory_size = vm->mem_size - hot,
		  .userspace_addr = (uintptr_t)(vm->mem + hot) },
	};

	for (unsigned i = 0; i < 3; i++) {
		if (slots[i].memory_size == 0)
			continue;
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slots[i]) < 0) {
			snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s",
			    strerror(errno));
			return (-errno);
		}
	}
	return (0);
}

void
tk_vcpu_run(struct tk_vm *vm, uint64_t deadline, uint64_t timeout_ns)
{
	vm->stopped = 0;
	vm->run->immediate_exit = 0;
	vm->run_deadline = deadline;
	vm->run_timeout_ns = timeout_ns;
	tk_watch_arm(vm->watch, deadline);
	while (!vm->stopped) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) == 0) {
			tk_exit_dispatch(vm);
			continue;
		}
		if (errno != EINTR && errno != EAGAIN) {
			tk_stop(vm, TK_STOP_ERROR, 0, 0, "KVM_RUN: %s", strerror(errno));
			break;
		}
		/* A kick: ours if the deadline passed, else a stale one. */
		if (deadline != 0 && tk_now_ns() >= deadline)
			tk_stop(vm, TK_STOP_TIMEOUT, 0, 0, "timed out after %.3g s",
			    (double)timeout_ns / 1e9);
		vm->run->immediate_exit = 0;
	}
	vm->run_deadline = 0;
	tk_watch_arm(vm->watch, 0);
}


void
tk_vm_core_release(struct tk_vm *vm)
{
	tk_watch_unregister(vm->watch);
	vm->watch = NULL;
	if (vm->run != NULL)
		(void)munmap(vm->run, vm->run_size);
	vm->run = NULL;
	if (vm->vcpu_fd >= 0)
		(void)close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		(void)close(vm->vm_fd);
	vm->vcpu_fd = vm->vm_fd = -1;
	tk_mem_destroy(vm);
	tk_vma_free(&vm->proc.vmas);
	tk_files_free(vm->proc.files);
	vm->proc.files = NULL;
}
