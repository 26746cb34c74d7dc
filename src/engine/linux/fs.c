/*
 * The file system: there is none yet.  Calls that name a path fail as if the
 * path did not exist, so libc falls back the way it does in an empty chroot.
 */
#include <errno.h>

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
	{ 2, sys_no_such_file },	/* open */
	{ 4, sys_no_such_file },	/* stat */
	{ 6, sys_no_such_file },	/* lstat */
	{ 21, sys_no_such_file },	/* access */
	{ 59, sys_read_only },		/* execve */
	{ 80, sys_no_such_file },	/* chdir */
	{ 83, sys_read_only },		/* mkdir */
	{ 84, sys_read_only },		/* rmdir */
	{ 85, sys_read_only },		/* creat */
	{ 87, sys_read_only },		/* unlink */
	{ 89, sys_no_such_file },	/* readlink */
	{ 257, sys_no_such_file },	/* openat */
	{ 258, sys_read_only },		/* mkdirat */
	{ 263, sys_read_only },		/* unlinkat */
	{ 267, sys_no_such_file },	/* readlinkat */
	{ 269, sys_no_such_file },	/* faccessat */
	{ 322, sys_read_only },		/* execveat */
	{ 437, sys_no_such_file },	/* openat2 */
	{ 439, sys_no_such_file },	/* faccessat2 */
	{ 0, NULL },
};
