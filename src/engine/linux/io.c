/*
 * Standard input and output.  A guest has fds 0, 1 and 2 and nothing else;
 * output goes to the embedder's write callback straight from guest memory
 * (checked, never copied), input comes from its read callback.  They look
 * like pipes: not a tty, not seekable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "syscalls.h"

#define IOV_MAX_GUEST	1024	/* Linux's UIO_MAXIOV */

static int
fd_std(uint64_t fd)
{
	return (fd <= 2);
}

static int64_t
out_write(struct tk_vm *vm, uint64_t fd, uint64_t buf, uint64_t len)
{
	const void *p;
	int64_t r;

	if (fd != 1 && fd != 2)
		return (-EBADF);
	p = tk_mem_user(vm, buf, len, 0);
	if (p == NULL)
		return (-EFAULT);
	if (vm->cb.write == NULL || len == 0)
		return ((int64_t)len);
	r = vm->cb.write(vm->cb.opaque, (int)fd, p, len);
	/* Linux kills a writer to a closed pipe unless it handles SIGPIPE. */
	if (r == -EPIPE && vm->proc.sigactions[SIGPIPE - 1][0] == (uint64_t)(uintptr_t)SIG_DFL)
		tk_stop(vm, TK_STOP_FAULT, 0, SIGPIPE, "killed by signal SIGPIPE "
		    "(write to a closed pipe)");
	return (r);
}

static int64_t
in_read(struct tk_vm *vm, uint64_t fd, uint64_t buf, uint64_t len)
{
	void *p;

	if (fd != 0)
		return (-EBADF);
	p = tk_mem_user(vm, buf, len, 1);
	if (p == NULL)
		return (-EFAULT);
	if (vm->cb.read == NULL || len == 0)
		return (0);
	return (vm->cb.read(vm->cb.opaque, p, len));
}

static int64_t
sys_read(struct tk_vm *vm, const uint64_t *a)
{
	return (in_read(vm, a[0], a[1], a[2]));
}

static int64_t
sys_write(struct tk_vm *vm, const uint64_t *a)
{
	return (out_write(vm, a[0], a[1], a[2]));
}

/*
 * readv/writev: one transfer per element, stopping at the first short one.
 * The vector is copied in small batches: VMOD worker stacks are small.
 */
static int64_t
vector_io(struct tk_vm *vm, const uint64_t *a, int writing)
{
	struct iovec iov[32];
	uint64_t n = a[2], i, batch;
	int64_t total = 0, r;

	if (n > IOV_MAX_GUEST)
		return (-EINVAL);
	for (i = 0; i < n; i++) {
		if (i % 32 == 0) {
			batch = n - i < 32 ? n - i : 32;
			if (tk_copy_from_guest(vm, iov, a[1] + i * sizeof iov[0],
			    batch * sizeof iov[0]) < 0)
				return (total > 0 ? total : -EFAULT);
		}
		uint64_t base = (uint64_t)(uintptr_t)iov[i % 32].iov_base;
		uint64_t len = iov[i % 32].iov_len;

		if (len > (uint64_t)INT64_MAX - (uint64_t)total)
			return (-EINVAL);
		r = writing ? out_write(vm, a[0], base, len) :
		    in_read(vm, a[0], base, len);
		if (r < 0)
			return (total > 0 ? total : r);
		total += r;
		if ((uint64_t)r < len)
			break;
	}
	return (total);
}

static int64_t
sys_readv(struct tk_vm *vm, const uint64_t *a)
{
	return (vector_io(vm, a, 0));
}

static int64_t
sys_writev(struct tk_vm *vm, const uint64_t *a)
{
	return (vector_io(vm, a, 1));
}

static int64_t
sys_pread_pwrite(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	return (fd_std(a[0]) ? -ESPIPE : -EBADF);
}

static int64_t
sys_ioctl(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	/* TCGETS, TIOCGWINSZ and every other request: not a terminal. */
	return (fd_std(a[0]) ? -ENOTTY : -EBADF);
}

static int64_t
stat_std(struct tk_vm *vm, uint64_t fd, uint64_t buf)
{
	struct stat st;

	if (!fd_std(fd))
		return (-EBADF);
	memset(&st, 0, sizeof st);
	st.st_mode = S_IFIFO | 0600;
	st.st_nlink = 1;
	st.st_uid = getuid();
	st.st_gid = getgid();
	st.st_blksize = 4096;
	st.st_ino = fd + 1;
	return (tk_copy_to_guest(vm, buf, &st, sizeof st));
}

static int64_t
sys_fstat(struct tk_vm *vm, const uint64_t *a)
{
	return (stat_std(vm, a[0], a[1]));
}

static int64_t
sys_newfstatat(struct tk_vm *vm, const uint64_t *a)
{
	char path[2];
	long n;

	/* fstat(fd) as glibc makes it: fstatat(fd, "", buf, AT_EMPTY_PATH). */
	if (a[3] & AT_EMPTY_PATH) {
		n = tk_copy_string(vm, path, a[1], sizeof path);
		if (n == 0)
			return (stat_std(vm, a[0], a[2]));
		if (n < 0 && n != -ENAMETOOLONG)
			return (n);
	}
	return (-ENOENT);
}

static int64_t
sys_lseek(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	return (fd_std(a[0]) ? -ESPIPE : -EBADF);
}

static int64_t
sys_close(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	return (fd_std(a[0]) ? 0 : -EBADF);
}

static int64_t
sys_fcntl(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	if (!fd_std(a[0]))
		return (-EBADF);
	switch (a[1]) {
	case F_GETFD:
	case F_SETFD:
		return (0);
	case F_GETFL:
		return (a[0] == 0 ? O_RDONLY : O_WRONLY);
	default:
		return (-EINVAL);
	}
}

const struct tk_syscall tk_linux_io_calls[] = {
	{ SYS_read, sys_read },
	{ SYS_write, sys_write },
	{ SYS_close, sys_close },
	{ SYS_fstat, sys_fstat },
	{ SYS_lseek, sys_lseek },
	{ SYS_ioctl, sys_ioctl },
	{ SYS_pread64, sys_pread_pwrite },
	{ SYS_pwrite64, sys_pread_pwrite },
	{ SYS_readv, sys_readv },
	{ SYS_writev, sys_writev },
	{ SYS_fcntl, sys_fcntl },
	{ SYS_newfstatat, sys_newfstatat },
	{ 0, NULL },		/* the end: fn NULL */
};
