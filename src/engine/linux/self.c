/*
 * What a process asks about itself at start: sysinfo (memory, for sizing
 * caches and heaps) and prctl (its name, dumpability, no_new_privs).  The
 * answers describe the guest, never the host: its memory is the guest's,
 * it is the only process, and its name lives in its process state, so a
 * reset puts the image's back.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <sys/syscall.h>

#include "syscalls.h"

/* Guest memory not handed out yet: the mmap area and brk room left. */
static uint64_t
memory_free(const struct tk_vm *vm)
{
	uint64_t used = vm->proc.brk_cur - vm->lay.brk_start;
	unsigned i;

	for (i = 0; i < vm->proc.vmas.n; i++)
		used += vm->proc.vmas.v[i].end - vm->proc.vmas.v[i].start;
	return (used < vm->mem_size ? vm->mem_size - used : 0);
}

static int64_t
sys_sysinfo(struct tk_vm *vm, const uint64_t *a)
{
	struct sysinfo si;
	struct timespec up;

	memset(&si, 0, sizeof si);
	(void)clock_gettime(CLOCK_BOOTTIME, &up);
	si.uptime = up.tv_sec;
	si.totalram = vm->mem_size;
	si.freeram = memory_free(vm);
	si.procs = 1;
	si.mem_unit = 1;
	return (tk_copy_to_guest(vm, a[0], &si, sizeof si));
}

/* PR_SET_NAME: up to 15 bytes kept, as Linux cuts it. */
static int64_t
name_set(struct tk_vm *vm, uint64_t gva)
{
	char name[sizeof vm->proc.comm];
	size_t n;

	for (n = 0; n < sizeof name - 1; n++) {
		if (tk_copy_from_guest(vm, &name[n], gva + n, 1) < 0)
			return (-EFAULT);
		if (name[n] == '\0')
			break;
	}
	name[n] = '\0';
	memcpy(vm->proc.comm, name, sizeof name);
	return (0);
}

static int64_t
sys_prctl(struct tk_vm *vm, const uint64_t *a)
{
	switch (a[0]) {
	case PR_SET_NAME:
		return (name_set(vm, a[1]));
	case PR_GET_NAME:
		return (tk_copy_to_guest(vm, a[1], vm->proc.comm,
		    sizeof vm->proc.comm));
	case PR_GET_DUMPABLE:
		return (0);		/* no core dump leaves the sandbox */
	case PR_SET_DUMPABLE:
		return (a[1] <= 1 ? 0 : -EINVAL);
	case PR_SET_PDEATHSIG:
		return (a[1] < 65 ? 0 : -EINVAL);
	case PR_GET_NO_NEW_PRIVS:
		return (1);
	case PR_SET_NO_NEW_PRIVS:
		return (a[1] == 1 ? 0 : -EINVAL);
	default:
		return (-EINVAL);
	}
}

const struct tk_syscall tk_linux_self_calls[] = {
	{ SYS_sysinfo, sys_sysinfo },
	{ SYS_prctl, sys_prctl },
	{ 0, NULL },		/* the end: fn NULL */
};
