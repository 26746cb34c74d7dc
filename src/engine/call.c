/*
 * Calls into a paused guest, and the lifecycle hypercalls that make a VM
 * callable: register a handler, wait for requests, return.  A call runs on a
 * fresh stack below the one the guest paused on, and returns through the
 * return gate in our user page (kernel.S), which makes TINYKVM_HC_RETURN.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "tk_internal.h"

extern const char tk_ugate_start[], tk_ugate_return[], tk_ugate_call[],
    tk_ugate_call_fx[];

/* Stack a call needs below what tk_vm_push left: refuse pushes that eat it. */
#define CALL_STACK_MIN	(256 * 1024)

int64_t
tk_hypercall(struct tk_vm *vm, uint64_t nr, const uint64_t *arg)
{
	int64_t ret = -ENOSYS;
	int r;

	switch (nr) {
	case TINYKVM_HC_REGISTER_HANDLER:
		if (vm->in_call)
			return (-EPERM);
		if (arg[0] >= TINYKVM_MAX_HANDLERS)
			return (-EINVAL);
		vm->proc.handlers[arg[0]] = arg[1];
		return (0);
	case TINYKVM_HC_WAIT_FOR_REQUESTS:
		if (vm->in_call)
			tk_stop(vm, TK_STOP_ERROR, 0, 0, "wait_for_requests "
			    "called again during a request");
		else
			tk_stop(vm, TK_STOP_WAIT, 0, 0, "%s", "");
		return (0);
	case TINYKVM_HC_RETURN:
		if (!vm->in_call) {
			tk_stop(vm, TK_STOP_ERROR, 0, 0, "return hypercall "
			    "outside a call");
			return (0);
		}
		tk_stop(vm, TK_STOP_RETURN, 0, 0, "%s", "");
		vm->res->retval = arg[0];
		return (0);
	case TINYKVM_HC_NOP:
		return (0);
	default:
		break;
	}
	if (nr >= TINYKVM_HC_EMBEDDER && vm->hypercall != NULL) {
		r = vm->hypercall(vm->opaque, vm, nr, arg, &ret);
		if (r == 1)
			tk_stop(vm, TK_STOP_HYPERCALL, 0, 0, "%s", "");
		else if (r < 0)
			ret = r;
		return (ret);
	}
	if (vm->verbose)
		tk_log(vm, "unknown hypercall 0x%llx: -ENOSYS",
		    (unsigned long long)nr);
	return (-ENOSYS);
}

uint64_t
tk_vm_handler(const struct tk_vm *vm, unsigned index)
{
	TK_VM_CHECK(vm);
	return (index < TINYKVM_MAX_HANDLERS ? vm->proc.handlers[index] : 0);
}

int
tk_vm_push(struct tk_vm *vm, const void *data, size_t len, uint64_t *gva)
{
	uint64_t sp;

	TK_VM_CHECK(vm);
	sp = (vm->call_rsp - len) & ~15ULL;
	if (!vm->waiting || len > vm->call_rsp ||
	    sp < vm->stack_low + CALL_STACK_MIN)
		return (-ENOMEM);
	if (tk_copy_to_guest(vm, sp, data, len) < 0)
		return (-EFAULT);
	vm->call_rsp = sp;
	*gva = sp;
	return (0);
}

int
tk_vm_alloc(struct tk_vm *vm, size_t len, uint64_t *gva)
{
	uint64_t size = (len + TK_PAGE_SIZE - 1) & ~(TK_PAGE_SIZE - 1), at;

	TK_VM_CHECK(vm);
	*gva = 0;
	if (len == 0)
		return (0);
	if (size < len)
		return (-ENOMEM);
	at = tk_vma_find(vm, size, size >= TK_HUGE_SIZE ? TK_HUGE_SIZE : TK_PAGE_SIZE);
	if (at == 0 || tk_vma_insert(vm, at, at + size) < 0)
		return (-ENOMEM);
	tk_mem_populate(vm, at, size);
	*gva = at;
	return (0);
}

void
tk_vm_release(struct tk_vm *vm, uint64_t gva, size_t len)
{
	uint64_t size = (len + TK_PAGE_SIZE - 1) & ~(TK_PAGE_SIZE - 1);

	TK_VM_CHECK(vm);
	if (gva == 0 || len == 0)
		return;
	tk_mem_discard(vm, gva, size);
	(void)tk_vma_remove(vm, gva, gva + size);
}

int
tk_vm_readable(struct tk_vm *vm, uint64_t gva, size_t len)
{
	TK_VM_CHECK(vm);
	return (tk_mem_user(vm, gva, len, 0) != NULL ? 0 : -EFAULT);
}

const void *
tk_vm_view(struct tk_vm *vm, uint64_t gva, size_t len)
{
	TK_VM_CHECK(vm);
	return (tk_mem_user(vm, gva, len, 0));
}

int
tk_vm_copy_to(struct tk_vm *vm, uint64_t gva, const void *src, size_t len)
{
	TK_VM_CHECK(vm);
	return (tk_copy_to_guest(vm, gva, src, len));
}

int
tk_vm_copy_from(struct tk_vm *vm, void *dst, uint64_t gva, size_t len)
{
	TK_VM_CHECK(vm);
	return (tk_copy_from_guest(vm, dst, gva, len));
}

long
tk_vm_copy_string(struct tk_vm *vm, char *dst, uint64_t gva, size_t size)
{
	TK_VM_CHECK(vm);
	return (tk_copy_string(vm, dst, gva, size));
}

/*
 * Back to user mode before a call: a main VM paused in a hypercall, and any
 * VM whose last run ended inside a system call, stopped in our ring-0 entry
 * (SYSCALL on standard KVM).  Without this a kept fork's next handler would
 * start at CPL 0: a fault at once with SMEP, ring 0 for the guest without.
 */
static int
user_mode_enter(struct tk_vm *vm)
{
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return (-errno);
	tk_cpu_user_segments(&sregs.cs, &sregs.ss);
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return (-errno);
	vm->stopped_in_kernel = 0;
	return (0);
}

int
tk_vm_call(struct tk_vm *vm, void *opaque, uint64_t addr, unsigned nargs,
    const uint64_t *args, uint64_t timeout_ns, struct tk_result *res)
{
	void *own;
	uint64_t gate = TK_UGATE_ADDR + (uint64_t)(tk_ugate_return - tk_ugate_start);
	uint64_t sp, base;
	struct kvm_regs *r;
	const char *why = NULL;

	TK_VM_CHECK(vm);
	r = &vm->run->s.regs.regs;
	base = vm->snap_call_rsp;
	memset(res, 0, sizeof *res);
	vm->res = res;
	if (nargs > 6)
		why = "a call takes at most 6 arguments";
	else if (!vm->waiting)
		why = "the program is not waiting for requests";
	else if (vm->needs_reset)
		why = "the fork must be reset after a failed call";
	else if (vm->main == NULL && atomic_load(&vm->refs) > 1)
		why = "a VM with forks does not run calls itself";
	else if ((vm->main == NULL || vm->stopped_in_kernel) &&
	    user_mode_enter(vm) < 0)
		why = "cannot set the vCPU's segments";
	if (why != NULL) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "%s", why);
		return (-EINVAL);
	}
	sp = vm->call_rsp - 8;
	if (tk_copy_to_guest(vm, sp, &gate, sizeof gate) < 0) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "the call stack is not writable");
		return (-EFAULT);
	}
	/* Every register fresh: nothing of an earlier call shows through. */
	memset(r, 0, sizeof *r);
	r->rip = addr;
	if (vm->call_xrstor) {
		r->rip = TK_UGATE_ADDR + (uint64_t)((vm->call_xrstor ==
		    TK_RESTORE_XRSTOR ? tk_ugate_call : tk_ugate_call_fx) -
		    tk_ugate_start);
		r->r11 = addr;
	}
	r->rsp = sp;
	r->rflags = 0x202;
	if (nargs > 0) r->rdi = args[0];
	if (nargs > 1) r->rsi = args[1];
	if (nargs > 2) r->rdx = args[2];
	if (nargs > 3) r->rcx = args[3];
	if (nargs > 4) r->r8 = args[4];
	if (nargs > 5) r->r9 = args[5];
	vm->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;

	vm->dirty_base = vm->dirty_pages;
	vm->in_call = 1;
	vm->call_deadline = timeout_ns ? tk_now_ns() + timeout_ns : 0;
	own = vm->opaque;
	if (opaque != NULL)
		vm->opaque = opaque;
	tk_vcpu_run(vm, vm->call_deadline, timeout_ns);
	vm->opaque = own;
	vm->in_call = 0;
	vm->call_deadline = 0;
	vm->call_rsp = base;
	vm->called = 1;
	/* A fork's dirty pages so far, and its request-memory limit. */
	if (vm->ring != NULL && tk_dirty_harvest(vm) < 0 &&
	    res->stop != TK_STOP_MEMORY)
		tk_dirty_over_limit(vm);
	if (res->stop != TK_STOP_RETURN && res->stop != TK_STOP_HYPERCALL)
		vm->needs_reset = 1;
	return (0);
}
