/*
 * The file system: there is none yet.  Calls that name a path fail as if the
 * path did not exist, so libc falls back the way it does in an empty chroot.
 */
#include <errno.h>
#include <sys/syscall.h>

#include "syscalls.h"

static int64_t
sys_no_such_file(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (-ENOENT);
}

static int64_t
sys_read_only(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (-EACCES);
}

const struct tk_syscall tk_linux_fs_calls[] = {
	{ SYS_open, sys_no_such_file },
	{ SYS_stat, sys_no_such_file },
	{ SYS_lstat, sys_no_such_file },
	{ SYS_access, sys_no_such_file },
	{ SYS_execve, sys_read_only },
	{ SYS_chdir, sys_no_such_file },
	{ SYS_mkdir, sys_read_only },
	{ SYS_rmdir, sys_read_only },
	{ SYS_creat, sys_read_only },
	{ SYS_unlink, sys_read_only },
	{ SYS_readlink, sys_no_such_file },
	{ SYS_openat, sys_no_such_file },
	{ SYS_mkdirat, sys_read_only },
	{ SYS_unlinkat, sys_read_only },
	{ SYS_readlinkat, sys_no_such_file },
	{ SYS_faccessat, sys_no_such_file },
	{ SYS_execveat, sys_read_only },
	{ SYS_openat2, sys_no_such_file },
	{ SYS_faccessat2, sys_no_such_file },
	{ 0, NULL },		/* the end: fn NULL */
};
