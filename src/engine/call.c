/*
 * Calls into a paused guest, and the lifecycle hypercalls that make a VM
 * callable: register a handler, wait for requests, return.  A call runs on a
 * fresh stack below the one the guest paused on, and returns through the
 * return gate in our user page (kernel.S), which makes TINYKVM_HC_RETURN.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "tk_internal.h"

extern const char tk_ugate_start[], tk_ugate_return[];

/* Stack a call needs below what tk_vm_push left: refuse pushes that eat it. */
#define CALL_STACK_MIN	(256 * 1024)

static int64_t
register_handler(struct tk_vm *vm, const uint64_t *arg)
{
	if (vm->state == TK_STATE_IN_CALL)
		return (-EPERM);
	if (arg[0] >= TINYKVM_MAX_HANDLERS)
		return (-EINVAL);
	vm->proc.handlers[arg[0]] = arg[1];
	return (0);
}

static int64_t
wait_for_requests(struct tk_vm *vm, const uint64_t *arg)
{
	(void)arg;
	if (vm->state == TK_STATE_IN_CALL)
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "wait_for_requests called again "
		    "during a request");
	else
		tk_stop(vm, TK_STOP_WAIT, 0, 0, "%s", "");
	return (0);
}

static int64_t
call_return(struct tk_vm *vm, const uint64_t *arg)
{
	if (vm->state != TK_STATE_IN_CALL) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "return hypercall outside a call");
		return (0);
	}
	tk_stop(vm, TK_STOP_RETURN, 0, 0, "%s", "");
	vm->res->retval = arg[0];
	return (0);
}

static int64_t
nop(struct tk_vm *vm, const uint64_t *arg)
{
	(void)vm;
	(void)arg;
	return (0);
}

void
tk_call_register(void)
{
	tk_exit_register_hypercall(TINYKVM_HC_REGISTER_HANDLER, register_handler);
	tk_exit_register_hypercall(TINYKVM_HC_WAIT_FOR_REQUESTS, wait_for_requests);
	tk_exit_register_hypercall(TINYKVM_HC_RETURN, call_return);
	tk_exit_register_hypercall(TINYKVM_HC_NOP, nop);
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
	if (!tk_state_callable(vm) || len > vm->call_rsp ||
	    sp < vm->lay.stack_low + CALL_STACK_MIN)
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

/* Why (vm) cannot take a call now, or NULL; then its vCPU is in ring 3. */
static const char *
call_refused(struct tk_vm *vm, unsigned nargs)
{
	if (nargs > 6)
		return ("a call takes at most 6 arguments");
	if (vm->state == TK_STATE_BROKEN)
		return ("the fork must be reset after a failed call");
	if (!tk_state_callable(vm))
		return ("the program is not waiting for requests");
	if (vm->role == TK_ROLE_IMAGE && (atomic_load(&tk_image_of(vm)->refs) > 1 ||
	    tk_image_of(vm)->dirty_mode == TK_DIRTY_PTE))
		return ("a VM with forks does not run calls itself");
	/* An image paused in a hypercall, maybe in ring 0; a fork stopped in
	 * our SYSCALL entry leaves it by SYSRET (tk_vcpu_call_regs). */
	if ((vm->role == TK_ROLE_IMAGE || (vm->stopped_in_kernel &&
	    !vm->call_xrstor)) && tk_vcpu_user_mode(vm) < 0)
		return ("cannot set the vCPU's segments");
	return (NULL);
}

int
tk_vm_call(struct tk_vm *vm, void *opaque, uint64_t addr, unsigned nargs,
    const uint64_t *args, uint64_t timeout_ns, struct tk_result *res)
{
	uint64_t gate = TK_UGATE_ADDR + (uint64_t)(tk_ugate_return - tk_ugate_start);
	const char *why;
	void *own;

	TK_VM_CHECK(vm);
	memset(res, 0, sizeof *res);
	vm->res = res;
	why = call_refused(vm, nargs);
	if (why != NULL) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "%s", why);
		return (-EINVAL);
	}
	if (tk_copy_to_guest(vm, vm->call_rsp - 8, &gate, sizeof gate) < 0) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "the call stack is not writable");
		return (-EFAULT);
	}
	tk_vcpu_call_regs(vm, addr, vm->call_rsp - 8, nargs, args);
	if (vm->dlog != NULL)
		vm->dlog->base = vm->dlog->pages;
	tk_state_set(vm, TK_STATE_IN_CALL);
	vm->call_deadline = timeout_ns ? tk_now_ns() + timeout_ns : 0;
	own = vm->cb.opaque;
	if (opaque != NULL)
		vm->cb.opaque = opaque;
	tk_vcpu_run(vm, vm->call_deadline, timeout_ns);
	vm->cb.opaque = own;
	vm->call_deadline = 0;
	vm->call_rsp = vm->snap_call_rsp;
	/* A fork's dirty pages so far, and its request-memory limit. */
	if (vm->dlog != NULL && tk_dirty_harvest(vm) < 0 &&
	    res->stop != TK_STOP_MEMORY)
		tk_dirty_over_limit(vm);
	tk_state_set(vm, res->stop == TK_STOP_RETURN ||
	    res->stop == TK_STOP_HYPERCALL ? TK_STATE_SERVED : TK_STATE_BROKEN);
	return (0);
}
