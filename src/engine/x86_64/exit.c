/*
 * The one place KVM exits are dispatched.  A table by exit reason; for the
 * system-call port, tables by number: Linux's (registered by the linux/ files),
 * ours (registered by call.c), and the embedder's (its tk_vm_config
 * callback).  Registration keeps this file below the ones it dispatches to,
 * as Solo5's hvt_core does for its hypercalls and vmexit handlers.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../tk_internal.h"

_Static_assert(TINYKVM_HC_BASE + TK_HYPERCALLS <= TINYKVM_HC_EMBEDDER,
    "our hypercalls end where the embedder's begin");

static tk_syscall_fn *linux_calls[TK_LINUX_SYSCALLS];
static tk_syscall_fn *hypercalls[TK_HYPERCALLS];

void
tk_exit_register_syscall(unsigned nr, tk_syscall_fn *fn)
{
	assert(nr < TK_LINUX_SYSCALLS);
	linux_calls[nr] = fn;
}

void
tk_exit_register_hypercall(uint64_t nr, tk_syscall_fn *fn)
{
	assert(nr >= TINYKVM_HC_BASE && nr - TINYKVM_HC_BASE < TK_HYPERCALLS);
	hypercalls[nr - TINYKVM_HC_BASE] = fn;
}

static void
unknown_syscall_log(struct tk_vm *vm, uint64_t nr)
{
	if (!vm->cb.verbose)
		return;
	if (nr < TK_LINUX_SYSCALLS) {
		if (vm->unknown_seen[nr / 64] & (1ULL << (nr % 64)))
			return;
		vm->unknown_seen[nr / 64] |= 1ULL << (nr % 64);
	}
	tk_log(vm, "unknown system call %llu: -ENOSYS", (unsigned long long)nr);
}

/* Our hypercalls: the lifecycle ones by table, the embedder's by its callback. */
static int64_t
hypercall_dispatch(struct tk_vm *vm, uint64_t nr, const uint64_t *arg)
{
	int64_t ret = -ENOSYS;
	int r;

	if (nr - TINYKVM_HC_BASE < TK_HYPERCALLS &&
	    hypercalls[nr - TINYKVM_HC_BASE] != NULL)
		return (hypercalls[nr - TINYKVM_HC_BASE](vm, arg));
	if (nr >= TINYKVM_HC_EMBEDDER && vm->cb.hypercall != NULL) {
		r = vm->cb.hypercall(vm->cb.opaque, vm, nr, arg, &ret);
		if (r == 1)
			tk_stop(vm, TK_STOP_HYPERCALL, 0, 0, "%s", "");
		else if (r < 0)
			ret = r;
		return (ret);
	}
	if (vm->cb.verbose)
		tk_log(vm, "unknown hypercall 0x%llx: -ENOSYS",
		    (unsigned long long)nr);
	return (-ENOSYS);
}

/*
 * A system call or hypercall in the vCPU's registers, from our ring-0
 * SYSCALL entry, the user-mode gate or the doorbell: one exit, no ioctl.
 */
static void
syscall_dispatch(struct tk_vm *vm)
{
	struct kvm_regs *r = &vm->run->s.regs.regs;
	const uint64_t arg[6] = { r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9 };
	int64_t ret;

	vm->user_rsp = r->rsp;
	if (r->rax >= TINYKVM_HC_BASE) {
		ret = hypercall_dispatch(vm, r->rax, arg);
	} else if (r->rax < TK_LINUX_SYSCALLS && linux_calls[r->rax] != NULL) {
		ret = linux_calls[r->rax](vm, arg);
	} else {
		unknown_syscall_log(vm, r->rax);
		ret = -ENOSYS;
	}
	/*
	 * A run that ends in our ring-0 entry (SYSCALL on standard KVM, not the
	 * doorbell) leaves the vCPU at CPL 0: the next call must leave it.
	 */
	if (vm->stopped) {
		if ((vm->run->s.regs.sregs.cs.selector & 3) == 0)
			vm->stopped_in_kernel = 1;
		return;
	}
	r->rax = (uint64_t)ret;
	vm->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
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

/* An exception, reported by kernel.S: a guest fault, a probe's, or our bug. */
static void
exception_dispatch(struct tk_vm *vm)
{
	const uint64_t *f = (const uint64_t *)(const void *)(vm->mem + TK_FRAME_ADDR);

	if (vm->probe_exit != NULL && vm->probe_exit(vm, TK_PORT_FAULT, f))
		return;
	if ((f[TK_FRAME_CS] & 3) == 0) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "exception %llu inside the "
		    "sandbox kernel at rip 0x%llx",
		    (unsigned long long)f[TK_FRAME_VECTOR],
		    (unsigned long long)f[TK_FRAME_RIP]);
		return;
	}
	/* A write to a page not granted yet (dirty_pte.c): CR2 came along. */
	if (f[TK_FRAME_VECTOR] == 14 && vm->dlog != NULL && vm->dlog->pte &&
	    tk_pte_grant(vm, vm->run->s.regs.sregs.cr2, f[TK_FRAME_ERROR]))
		return;
	tk_fault_report(vm, f[TK_FRAME_VECTOR], f[TK_FRAME_ERROR],
	    f[TK_FRAME_RIP], f[TK_FRAME_VECTOR] == 14 ? cr2_read(vm) : 0);
}

static void
io_exit(struct tk_vm *vm)
{
	unsigned port = vm->run->io.port;

	if (vm->probe_exit != NULL && vm->probe_exit(vm, port, NULL))
		return;
	if (port == TK_PORT_SYSCALL)
		syscall_dispatch(vm);
	else if (port == TK_PORT_FAULT)
		exception_dispatch(vm);
	else
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "I/O to unknown port 0x%x", port);
}

/* The doorbell (the user-mode gate's exit on PVM), or a guest access to a hole. */
static void
mmio_exit(struct tk_vm *vm)
{
	const struct kvm_run *run = vm->run;

	if (run->mmio.phys_addr == TK_DOORBELL_ADDR && run->mmio.is_write) {
		syscall_dispatch(vm);
		return;
	}
	tk_stop(vm, TK_STOP_FAULT, 0, SIGSEGV, "%s 0x%llx, which has no memory, "
	    "at rip 0x%llx", run->mmio.is_write ? "write to" : "read from",
	    (unsigned long long)run->mmio.phys_addr,
	    (unsigned long long)run->s.regs.regs.rip);
}

/* The fork's dirty ring filled: count, and stop past the request memory. */
static void
dirty_ring_full_exit(struct tk_vm *vm)
{
	if (tk_dirty_harvest(vm) < 0)
		tk_dirty_over_limit(vm);
}

static void
shutdown_exit(struct tk_vm *vm)
{
	tk_stop(vm, TK_STOP_FAULT, 0, SIGSEGV, "triple fault (an exception while "
	    "handling an exception) at rip 0x%llx",
	    (unsigned long long)vm->run->s.regs.regs.rip);
}

static void
fail_entry_exit(struct tk_vm *vm)
{
	tk_stop(vm, TK_STOP_ERROR, 0, 0, "KVM could not enter the guest "
	    "(hardware reason 0x%llx)", (unsigned long long)
	    vm->run->fail_entry.hardware_entry_failure_reason);
}

static void
internal_error_exit(struct tk_vm *vm)
{
	tk_stop(vm, TK_STOP_ERROR, 0, 0, "KVM internal error %u at rip 0x%llx",
	    vm->run->internal.suberror,
	    (unsigned long long)vm->run->s.regs.regs.rip);
}

typedef void exit_fn(struct tk_vm *vm);

static exit_fn *const exits[] = {
	[KVM_EXIT_IO] = io_exit,
	[KVM_EXIT_MMIO] = mmio_exit,
	[KVM_EXIT_DIRTY_RING_FULL] = dirty_ring_full_exit,
	[KVM_EXIT_SHUTDOWN] = shutdown_exit,
	[KVM_EXIT_FAIL_ENTRY] = fail_entry_exit,
	[KVM_EXIT_INTERNAL_ERROR] = internal_error_exit,
};

void
tk_exit_dispatch(struct tk_vm *vm)
{
	uint32_t why = vm->run->exit_reason;

	if (why < sizeof exits / sizeof exits[0] && exits[why] != NULL) {
		exits[why](vm);
		return;
	}
	tk_stop(vm, TK_STOP_ERROR, 0, 0, "unexpected KVM exit %u at rip 0x%llx",
	    why, (unsigned long long)vm->run->s.regs.regs.rip);
}
