/*
 * The dispatch of an emulated Linux system call: our kernel's SYSCALL entry
 * exits to the host with the guest's registers in kvm_run (KVM_CAP_SYNC_REGS),
 * so a call costs one exit and no register ioctl.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>

#include "syscalls.h"

#define TABLE_SIZE	512

static tk_syscall_fn *table[TABLE_SIZE];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
table_build(void)
{
	static const struct tk_syscall *const families[] = {
		tk_linux_mm_calls, tk_linux_io_calls, tk_linux_fs_calls,
		tk_linux_time_calls, tk_linux_proc_calls,
	};
	const struct tk_syscall *s;
	size_t f;

	for (f = 0; f < sizeof families / sizeof families[0]; f++)
		for (s = families[f]; s->fn != NULL; s++)
			table[s->nr] = s->fn;
}

static void
unknown_log(struct tk_vm *vm, uint64_t nr)
{
	if (!vm->verbose)
		return;
	if (nr < TABLE_SIZE) {
		if (vm->unknown_seen[nr / 64] & (1ULL << (nr % 64)))
			return;
		vm->unknown_seen[nr / 64] |= 1ULL << (nr % 64);
	}
	tk_log(vm, "unknown system call %llu: -ENOSYS", (unsigned long long)nr);
}

void
tk_linux_syscall(struct tk_vm *vm)
{
	struct kvm_regs *r = &vm->run->s.regs.regs;
	const uint64_t arg[6] = { r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9 };
	int64_t ret;

	(void)pthread_once(&table_once, table_build);
	vm->user_rsp = r->rsp;
	if (r->rax >= TINYKVM_HC_BASE) {
		ret = tk_hypercall(vm, r->rax, arg);
	} else if (r->rax < TABLE_SIZE && table[r->rax] != NULL) {
		ret = table[r->rax](vm, arg);
	} else {
		unknown_log(vm, r->rax);
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
