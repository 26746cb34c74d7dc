/*
 * The process: identity, limits, thread pointer, exit, and the signal and
 * futex calls a single-threaded libc makes.  Signal handlers are recorded
 * and reported back, never delivered: a guest that raises a signal is ended
 * as Linux would end it by default.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "syscalls.h"
#include "../files.h"

#define ARCH_SET_FS	0x1002
#define ARCH_GET_FS	0x1003

static int64_t
sys_exit(struct tk_vm *vm, const uint64_t *a)
{
	tk_stop(vm, TK_STOP_EXIT, (int)(a[0] & 0xff), 0, "%s", "");
	return (0);
}

static int64_t
sys_getpid(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (TK_GUEST_PID);
}

static int64_t
sys_getppid(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (0);
}

static int64_t
sys_getuid(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (getuid());
}

static int64_t
sys_geteuid(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (geteuid());
}

static int64_t
sys_getgid(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (getgid());
}

static int64_t
sys_getegid(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (getegid());
}

static int64_t
sys_uname(struct tk_vm *vm, const uint64_t *a)
{
	struct utsname u, host;

	memset(&u, 0, sizeof u);
	(void)uname(&host);
	strcpy(u.sysname, "Linux");
	strcpy(u.nodename, "tinykvm");
	memcpy(u.release, host.release, sizeof u.release);
	memcpy(u.version, host.version, sizeof u.version);
	strcpy(u.machine, "x86_64");
	strcpy(u.domainname, "(none)");
	return (tk_copy_to_guest(vm, a[0], &u, sizeof u));
}

static int64_t
sys_arch_prctl(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t fs;

	switch (a[0]) {
	case ARCH_SET_FS:
		return (tk_cpu_set_fs(vm, a[1]));
	case ARCH_GET_FS:
		if (tk_cpu_get_fs(vm, &fs) < 0)
			return (-EIO);
		return (tk_copy_to_guest(vm, a[1], &fs, sizeof fs));
	default:
		return (-EINVAL);
	}
}

static int64_t
sys_set_tid_address(struct tk_vm *vm, const uint64_t *a)
{
	vm->proc.tid_address = a[0];
	return (TK_GUEST_PID);
}

static int64_t
sys_success(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (0);
}

/* What getrlimit reports; setting limits is accepted and changes nothing. */
static void
rlimit_of(const struct tk_vm *vm, uint64_t res, struct rlimit *rl)
{
	rl->rlim_cur = rl->rlim_max = RLIM_INFINITY;
	switch (res) {
	case RLIMIT_STACK:
		rl->rlim_cur = rl->rlim_max = vm->lay.stack_top - vm->lay.stack_low;
		break;
	case RLIMIT_AS:
	case RLIMIT_DATA:
		rl->rlim_cur = rl->rlim_max = vm->mem_size;
		break;
	case RLIMIT_NOFILE:
		rl->rlim_cur = rl->rlim_max = TK_FDS_MAX;
		break;
	case RLIMIT_NPROC:
		rl->rlim_cur = rl->rlim_max = 1;
		break;
	case RLIMIT_CORE:
		rl->rlim_cur = rl->rlim_max = 0;
		break;
	default:
		break;
	}
}

static int64_t
sys_prlimit64(struct tk_vm *vm, const uint64_t *a)
{
	struct rlimit rl;

	if (a[0] != 0 && a[0] != TK_GUEST_PID)
		return (-ESRCH);
	if (a[1] >= RLIM_NLIMITS)
		return (-EINVAL);
	if (a[2] != 0 && tk_copy_from_guest(vm, &rl, a[2], sizeof rl) < 0)
		return (-EFAULT);
	rlimit_of(vm, a[1], &rl);
	if (a[3] != 0)
		return (tk_copy_to_guest(vm, a[3], &rl, sizeof rl));
	return (0);
}

static int64_t
sys_getrlimit(struct tk_vm *vm, const uint64_t *a)
{
	const uint64_t args[4] = { 0, a[0], 0, a[1] };

	return (sys_prlimit64(vm, args));
}

static int64_t
sys_rt_sigaction(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t sig = a[0], act[4];

	if (sig < 1 || sig > 64 || a[3] != 8)
		return (-EINVAL);
	if (a[1] != 0 && (sig == SIGKILL || sig == SIGSTOP))
		return (-EINVAL);
	if (a[1] != 0 && tk_copy_from_guest(vm, act, a[1], sizeof act) < 0)
		return (-EFAULT);
	if (a[2] != 0 && tk_copy_to_guest(vm, a[2], vm->proc.sigactions[sig - 1],
	    sizeof act) < 0)
		return (-EFAULT);
	if (a[1] != 0)
		memcpy(vm->proc.sigactions[sig - 1], act, sizeof act);
	return (0);
}

static int64_t
sys_rt_sigprocmask(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t set, old = vm->proc.sigmask;

	if (a[3] != 8)
		return (-EINVAL);
	if (a[1] != 0) {
		if (tk_copy_from_guest(vm, &set, a[1], sizeof set) < 0)
			return (-EFAULT);
		switch (a[0]) {
		case SIG_BLOCK: vm->proc.sigmask |= set; break;
		case SIG_UNBLOCK: vm->proc.sigmask &= ~set; break;
		case SIG_SETMASK: vm->proc.sigmask = set; break;
		default: return (-EINVAL);
		}
	}
	if (a[2] != 0 && tk_copy_to_guest(vm, a[2], &old, sizeof old) < 0)
		return (-EFAULT);
	return (0);
}

static int64_t
sys_sigaltstack(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t ss[3], old[3];

	memcpy(old, vm->proc.altstack, sizeof old);
	if (old[0] == 0 && old[2] == 0)
		old[1] = SS_DISABLE;
	if (a[0] != 0) {
		if (tk_copy_from_guest(vm, ss, a[0], sizeof ss) < 0)
			return (-EFAULT);
		memcpy(vm->proc.altstack, ss, sizeof ss);
	}
	if (a[1] != 0 && tk_copy_to_guest(vm, a[1], old, sizeof old) < 0)
		return (-EFAULT);
	return (0);
}

/* kill, tkill, tgkill aimed at ourselves: the signal's default action, which ends us. */
static int64_t
signal_self(struct tk_vm *vm, uint64_t pid, uint64_t sig)
{
	const char *abbrev;

	if (pid != 0 && pid != TK_GUEST_PID && (int64_t)pid != -1)
		return (-ESRCH);
	if (sig > 64)
		return (-EINVAL);
	if (sig == 0 || sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
	    sig == SIGCONT)
		return (0);
	abbrev = sigabbrev_np((int)sig);
	tk_stop(vm, TK_STOP_FAULT, 0, (int)sig, "killed by signal SIG%s%s",
	    abbrev ? abbrev : "?", sig == SIGABRT ? " (abort)" : "");
	return (0);
}

static int64_t
sys_kill(struct tk_vm *vm, const uint64_t *a)
{
	return (signal_self(vm, a[0], a[1]));
}

static int64_t
sys_tgkill(struct tk_vm *vm, const uint64_t *a)
{
	return (signal_self(vm, a[0], a[2]));
}

static int64_t
sys_futex(struct tk_vm *vm, const uint64_t *a)
{
	uint32_t word;

	switch (a[1] & FUTEX_CMD_MASK) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if (tk_copy_from_guest(vm, &word, a[0], sizeof word) < 0)
			return (-EFAULT);
		if (word != (uint32_t)a[2])
			return (-EAGAIN);
		if (a[3] != 0)
			return (-ETIMEDOUT);
		/* Nobody else can ever wake us: say so instead of hanging. */
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "futex wait at 0x%llx would "
		    "block forever (the sandbox runs one thread)",
		    (unsigned long long)a[0]);
		return (0);
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		return (0);
	default:
		return (-ENOSYS);
	}
}

static int64_t
sys_sched_getaffinity(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t mask = 1;

	if (a[1] < sizeof mask)
		return (-EINVAL);
	if (tk_copy_to_guest(vm, a[2], &mask, sizeof mask) < 0)
		return (-EFAULT);
	return (sizeof mask);
}

/* Restartable sequences: glibc asks at start and does without. */
static int64_t
sys_no_rseq(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (-ENOSYS);
}

const struct tk_syscall tk_linux_proc_calls[] = {
	{ SYS_rt_sigaction, sys_rt_sigaction },
	{ SYS_rt_sigprocmask, sys_rt_sigprocmask },
	{ SYS_sched_yield, sys_success },
	{ SYS_getpid, sys_getpid },
	{ SYS_exit, sys_exit },
	{ SYS_kill, sys_kill },
	{ SYS_uname, sys_uname },
	{ SYS_getrlimit, sys_getrlimit },
	{ SYS_getuid, sys_getuid },
	{ SYS_getgid, sys_getgid },
	{ SYS_geteuid, sys_geteuid },
	{ SYS_getegid, sys_getegid },
	{ SYS_getppid, sys_getppid },
	{ SYS_sigaltstack, sys_sigaltstack },
	{ SYS_arch_prctl, sys_arch_prctl },
	{ SYS_setrlimit, sys_success },
	{ SYS_gettid, sys_getpid },
	{ SYS_tkill, sys_kill },
	{ SYS_futex, sys_futex },
	{ SYS_sched_getaffinity, sys_sched_getaffinity },
	{ SYS_set_tid_address, sys_set_tid_address },
	{ SYS_exit_group, sys_exit },
	{ SYS_tgkill, sys_tgkill },
	{ SYS_set_robust_list, sys_success },
	{ SYS_prlimit64, sys_prlimit64 },
	{ SYS_rseq, sys_no_rseq },
	{ 0, NULL },		/* the end: fn NULL */
};
