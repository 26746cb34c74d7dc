/*
 * The VM and its one vCPU, and the run loop.  Registers travel in
 * kvm_run (KVM_CAP_SYNC_REGS): an exit costs the exit itself and no ioctl.
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

/* All guest memory but the doorbell page, whose absence makes a store to it exit. */
int
tk_memslots_set(struct tk_vm *vm, int log_dirty, char *err, size_t errlen)
{
	const uint64_t bell_end = TK_DOORBELL_ADDR + TK_PAGE_SIZE;
	const uint32_t flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0;
	uint64_t hot = log_dirty ? vm->hot_start : vm->mem_size;
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

int
tk_vm_create(struct tk_vm **vmp, const char *path,
    const struct tk_vm_config *cfg, char *err, size_t errlen)
{
	static const char *const no_env[] = { NULL };
	const char *const default_argv[] = { path, NULL };
	struct tk_elf_image img;
	struct tk_vm *vm;
	uint64_t mem = cfg->max_memory ? cfg->max_memory : TK_DEFAULT_MAX_MEMORY;
	int kfd, r;

	*vmp = NULL;
	if (mem < TK_MIN_MEMORY || mem > TK_MAX_MEMORY) {
		snprintf(err, errlen, "guest memory must be between %llu MiB and "
		    "%llu MiB", TK_MIN_MEMORY >> 20, TK_MAX_MEMORY >> 20);
		return (-EINVAL);
	}
	kfd = tk_kvm_fd(err, errlen);
	if (kfd < 0)
		return (kfd);
	vm = calloc(1, sizeof *vm);
	if (vm == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	vm->magic = TK_VM_MAGIC;
	vm->vm_fd = vm->vcpu_fd = vm->mem_fd = -1;
	atomic_init(&vm->refs, 1);
	(void)pthread_mutex_init(&vm->idle_lock, NULL);
	vm->write = cfg->write;
	vm->read = cfg->read;
	vm->log = cfg->log;
	vm->hypercall = cfg->hypercall;
	vm->opaque = cfg->opaque;
	vm->verbose = cfg->verbose;

	do
		vm->vm_fd = ioctl(kfd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
		goto fail;
	}
	r = tk_mem_create(vm, mem, cfg->forkable, err, errlen);
	if (r < 0)
		goto fail;
	r = tk_elf_load(vm, path, &img, err, errlen);
	if (r < 0)
		goto fail;
	r = tk_stack_build(vm, &img, cfg->argv ? cfg->argv : default_argv,
	    cfg->envp ? cfg->envp : no_env, err, errlen);
	if (r < 0)
		goto fail;
	r = tk_memslots_set(vm, 0, err, errlen);
	if (r < 0)
		goto fail;
	r = tk_vcpu_create(vm, err, errlen);
	if (r < 0)
		goto fail;
	r = tk_cpu_setup(vm, err, errlen);
	if (r < 0)
		goto fail;
	r = tk_watch_register(&vm->watch, vm->run);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the watchdog: %s", strerror(-r));
		goto fail;
	}
	r = tk_syscall_path_decide(vm, err, errlen);
	if (r < 0)
		goto fail;
	*vmp = vm;
	return (0);
fail:
	tk_vm_free(vm);
	return (r);
}

/* Reads CR2, which only a fault needs: one ioctl, off the hot path. */
static uint64_t
cr2_read(struct tk_vm *vm)
{
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return (0);
	return (sregs.cr2);
}

/* An exception exit: a system call in disguise, a guest fault, or our bug. */
static void
exception_handle(struct tk_vm *vm)
{
	extern const char tk_kernel_syscall[];
	const uint64_t *f = (const uint64_t *)(const void *)(vm->mem + TK_FRAME_ADDR);

	if ((f[TK_FRAME_CS] & 3) == 0) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "exception %llu inside the "
		    "sandbox kernel at rip 0x%llx",
		    (unsigned long long)f[TK_FRAME_VECTOR],
		    (unsigned long long)f[TK_FRAME_RIP]);
		return;
	}
	/*
	 * Only our own probe SYSCALL, made before the program runs, may fault
	 * at the entry: afterwards a fault there is the guest jumping to it.
	 */
	if (vm->probing == TK_PROBE_SYSCALL && f[TK_FRAME_VECTOR] == 14 &&
	    f[TK_FRAME_RIP] == tk_kernel_addr(tk_kernel_syscall)) {
		tk_syscall_probe_done(vm, 1);
		return;
	}
	tk_fault_report(vm, f[TK_FRAME_VECTOR], f[TK_FRAME_ERROR],
	    f[TK_FRAME_RIP], f[TK_FRAME_VECTOR] == 14 ? cr2_read(vm) : 0);
}

/* One exit of KVM_RUN: handles it; vm->stopped says whether to go on. */
static void
exit_handle(struct tk_vm *vm)
{
	struct kvm_run *run = vm->run;
	const struct kvm_regs *r = &run->s.regs.regs;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (run->io.port == TK_PORT_SYSCALL &&
		    vm->probing == TK_PROBE_SYSCALL)
			tk_syscall_probe_done(vm, 0);
		else if (run->io.port == TK_PORT_SYSCALL)
			tk_linux_syscall(vm);
		else if (run->io.port == TK_PORT_FAULT)
			exception_handle(vm);
		else if (run->io.port == TK_PORT_PROBE &&
		    vm->probing == TK_PROBE_PLATFORM)
			tk_probe_done(vm);
		else
			tk_stop(vm, TK_STOP_ERROR, 0, 0, "I/O to unknown port 0x%x",
			    run->io.port);
		break;
	case KVM_EXIT_DIRTY_RING_FULL:
		if (tk_dirty_harvest(vm) < 0)
			tk_dirty_over_limit(vm);
		break;
	case KVM_EXIT_SHUTDOWN:
		tk_stop(vm, TK_STOP_FAULT, 0, SIGSEGV,
		    "triple fault (an exception while handling an exception) "
		    "at rip 0x%llx", (unsigned long long)r->rip);
		break;
	case KVM_EXIT_MMIO:
		if (run->mmio.phys_addr == TK_DOORBELL_ADDR && run->mmio.is_write)
			tk_linux_syscall(vm);
		else
			tk_stop(vm, TK_STOP_FAULT, 0, SIGSEGV, "%s 0x%llx, which "
			    "has no memory, at rip 0x%llx", run->mmio.is_write ?
			    "write to" : "read from",
			    (unsigned long long)run->mmio.phys_addr,
			    (unsigned long long)r->rip);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "KVM could not enter the guest "
		    "(hardware reason 0x%llx)", (unsigned long long)
		    run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "KVM internal error %u at rip 0x%llx",
		    run->internal.suberror, (unsigned long long)r->rip);
		break;
	default:
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "unexpected KVM exit %u at rip 0x%llx",
		    run->exit_reason, (unsigned long long)r->rip);
		break;
	}
}

void
tk_vcpu_run(struct tk_vm *vm, uint64_t deadline, uint64_t timeout_ns)
{
	vm->stopped = 0;
	vm->run->immediate_exit = 0;
	tk_watch_arm(vm->watch, deadline);
	while (!vm->stopped) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) == 0) {
			exit_handle(vm);
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
	tk_watch_arm(vm->watch, 0);
}

int
tk_vm_run(struct tk_vm *vm, uint64_t timeout_ns, struct tk_result *res)
{
	TK_VM_CHECK(vm);
	memset(res, 0, sizeof *res);
	vm->res = res;
	if (vm->ended || vm->called || vm->main != NULL ||
	    atomic_load(&vm->refs) > 1) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "%s", vm->ended ?
		    "the program has already ended" :
		    "a fork, or a VM with forks, only runs calls");
		return (-EINVAL);
	}
	vm->waiting = 0;
	tk_vcpu_run(vm, timeout_ns ? tk_now_ns() + timeout_ns : 0, timeout_ns);
	if (res->stop == TK_STOP_WAIT)
		return (tk_snapshot_take(vm));
	vm->ended = 1;
	return (0);
}

void
tk_vm_free(struct tk_vm *vm)
{
	tk_watch_unregister(vm->watch);
	if (vm->ring != NULL)
		(void)munmap(vm->ring, vm->ring_entries * sizeof vm->ring[0]);
	if (vm->run != NULL)
		(void)munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		(void)close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		(void)close(vm->vm_fd);
	tk_mem_destroy(vm);
	tk_vma_free(&vm->proc.vmas);
	tk_snapshot_free(vm->snap);
	if (vm->main == NULL)
		(void)pthread_mutex_destroy(&vm->idle_lock);
	vm->magic = 0;
	free(vm);
}

void
tk_vm_unref(struct tk_vm *vm)
{
	if (atomic_fetch_sub(&vm->refs, 1) == 1)
		tk_vm_free(vm);
}

void
tk_vm_destroy(struct tk_vm *vm)
{
	if (vm == NULL)
		return;
	TK_VM_CHECK(vm);
	if (vm->main != NULL) {
		tk_fork_retire(vm);
		return;
	}
	/* Forks still out hold references: the last one out frees the main VM. */
	tk_fork_idle_drain(vm);
	tk_vm_unref(vm);
}
