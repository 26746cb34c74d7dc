/*
 * Descriptors: read, write, seek, stat, dup, fcntl, close, getdents64.
 * Each guest fd names a description in the VM's table (files.h).  The
 * standard streams are the embedder's callbacks: output goes straight from
 * guest memory (checked, never copied), input comes from its read callback;
 * they look like pipes.  Files are the allowed host files (linux/paths.c),
 * read with pread at our own offset, so forks sharing one host file never
 * move each other's place.  Nothing is writable but the streams.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "syscalls.h"
#include "../files.h"

#define IOV_MAX_GUEST	1024		/* Linux's UIO_MAXIOV */
#define RW_MAX		0x7ffff000ULL	/* Linux's MAX_RW_COUNT */

static struct tk_ofd *
ofd_of(struct tk_vm *vm, uint64_t fd)
{
	return (tk_fd_get(vm->proc.files, fd));
}

static int64_t
out_write(struct tk_vm *vm, struct tk_ofd *o, uint64_t buf, uint64_t len)
{
	const void *p;
	int64_t r;

	if (o->kind == TK_FILE_NULL && (o->flags & O_ACCMODE) != O_RDONLY)
		return (tk_mem_user(vm, buf, len, 0) == NULL ? -EFAULT :
		    (int64_t)len);
	if (o->kind == TK_FILE_PIPE_W || o->kind == TK_FILE_EVENTFD) {
		if (len > RW_MAX)
			len = RW_MAX;
		p = tk_mem_user(vm, buf, len, 0);
		return (p == NULL ? -EFAULT : tk_events_write(vm, o, p, len));
	}
	if (o->kind != TK_FILE_STDOUT && o->kind != TK_FILE_STDERR)
		return (-EBADF);
	p = tk_mem_user(vm, buf, len, 0);
	if (p == NULL)
		return (-EFAULT);
	if (vm->cb.write == NULL || len == 0)
		return ((int64_t)len);
	r = vm->cb.write(vm->cb.opaque, o->kind == TK_FILE_STDOUT ? 1 : 2, p, len);
	/* Linux kills a writer to a closed pipe unless it handles SIGPIPE. */
	if (r == -EPIPE && vm->proc.sigactions[SIGPIPE - 1][0] == (uint64_t)(uintptr_t)SIG_DFL)
		tk_stop(vm, TK_STOP_FAULT, 0, SIGPIPE, "killed by signal SIGPIPE "
		    "(write to a closed pipe)");
	return (r);
}

/* Reads at (off), or at the description's offset (moving it) if off < 0. */
static int64_t
in_read(struct tk_vm *vm, struct tk_ofd *o, uint64_t buf, uint64_t len,
    int64_t off, int may_block)
{
	void *p;
	ssize_t n;

	if (o->kind == TK_FILE_DIR)
		return (-EISDIR);
	if (o->kind == TK_FILE_NULL && (o->flags & O_ACCMODE) != O_WRONLY)
		return (0);
	if (o->kind == TK_FILE_PIPE_R || o->kind == TK_FILE_EVENTFD ||
	    o->kind == TK_FILE_TIMERFD) {
		if (off >= 0)
			return (-ESPIPE);
		/* No more than one read can give: what is marked written. */
		if (len > (o->kind == TK_FILE_PIPE_R ? TK_PIPE_SIZE : 8))
			len = o->kind == TK_FILE_PIPE_R ? TK_PIPE_SIZE : 8;
		p = tk_mem_user(vm, buf, len, 1);
		return (p == NULL ? -EFAULT : tk_events_read(vm, o, p, len,
		    may_block));
	}
	if (o->kind != TK_FILE_STDIN && o->kind != TK_FILE_REG)
		return (-EBADF);
	if (o->kind == TK_FILE_STDIN && off >= 0)
		return (-ESPIPE);
	if (len > RW_MAX)
		len = RW_MAX;
	p = tk_mem_user(vm, buf, len, 1);
	if (p == NULL)
		return (-EFAULT);
	if (o->kind == TK_FILE_STDIN)
		return (vm->cb.read == NULL || len == 0 ? 0 :
		    vm->cb.read(vm->cb.opaque, p, len));
	n = pread(o->hf->fd, p, len, off >= 0 ? off : (int64_t)o->off);
	if (n < 0)
		return (-errno);
	if (off < 0 && n > 0) {
		o->off += (uint64_t)n;
		tk_files_touch(vm->proc.files);
	}
	return (n);
}

static int64_t
sys_read(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);

	return (o == NULL ? -EBADF : in_read(vm, o, a[1], a[2], -1, 1));
}

static int64_t
sys_write(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);

	return (o == NULL ? -EBADF : out_write(vm, o, a[1], a[2]));
}

static int64_t
sys_pread64(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);

	if (o == NULL)
		return (-EBADF);
	if ((int64_t)a[3] < 0)
		return (-EINVAL);
	return (in_read(vm, o, a[1], a[2], (int64_t)a[3], 1));
}

static int64_t
sys_pwrite64(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);

	if (o == NULL || o->kind == TK_FILE_REG || o->kind == TK_FILE_STDIN)
		return (-EBADF);
	return (o->kind == TK_FILE_DIR ? -EISDIR : -ESPIPE);
}

/*
 * readv/writev/preadv: one transfer per element, stopping at the first
 * short one.  The vector is copied in small batches: VMOD worker stacks
 * are small.  (off) < 0: at the description's offset.
 */
static int64_t
vector_io(struct tk_vm *vm, const uint64_t *a, int writing, int64_t off)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);
	struct iovec iov[32];
	uint64_t n = a[2], i, batch;
	int64_t total = 0, r;

	if (o == NULL)
		return (-EBADF);
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
		/* Past the first element, a read takes what there is. */
		r = writing ? out_write(vm, o, base, len) :
		    in_read(vm, o, base, len, off < 0 ? -1 : off + total,
		    total == 0);
		if (r == -EAGAIN && total > 0)
			break;
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
	return (vector_io(vm, a, 0, -1));
}

static int64_t
sys_writev(struct tk_vm *vm, const uint64_t *a)
{
	return (vector_io(vm, a, 1, -1));
}

static int64_t
sys_preadv(struct tk_vm *vm, const uint64_t *a)
{
	if ((int64_t)a[3] < 0)
		return (-EINVAL);
	return (vector_io(vm, a, 0, (int64_t)a[3]));
}

static int64_t
sys_ioctl(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);
	struct stat st;
	int avail;

	if (o == NULL)
		return (-EBADF);
	switch (a[1]) {
	case FIOCLEX:
	case FIONCLEX:
		tk_fd_set_cloexec(vm->proc.files, a[0], a[1] == FIOCLEX);
		return (0);
	case FIONBIO:
		if (tk_copy_from_guest(vm, &avail, a[2], sizeof avail) < 0)
			return (-EFAULT);
		o->flags = avail ? o->flags | O_NONBLOCK : o->flags & ~O_NONBLOCK;
		tk_files_touch(vm->proc.files);
		return (0);
	case FIONREAD:
		if (o->kind == TK_FILE_PIPE_R) {
			avail = (int)o->pipe->len;
			return (tk_copy_to_guest(vm, a[2], &avail, sizeof avail));
		}
		if (o->kind != TK_FILE_REG)
			break;
		if (fstat(o->hf->fd, &st) < 0)
			return (-errno);
		avail = (uint64_t)st.st_size > o->off ?
		    (int)((uint64_t)st.st_size - o->off > INT32_MAX ? INT32_MAX :
		    (uint64_t)st.st_size - o->off) : 0;
		return (tk_copy_to_guest(vm, a[2], &avail, sizeof avail));
	default:
		break;
	}
	/* TCGETS, TIOCGWINSZ and every other request: not a terminal. */
	return (-ENOTTY);
}

/*
 * What statfs says of the file system under (o): the host's, marked
 * read-only, for host files; a read-only nothing for the rest.
 */
int
tk_ofd_statfs(struct tk_ofd *o, struct statfs *sf)
{
	memset(sf, 0, sizeof *sf);
	if (o->hf != NULL && o->hf->fd >= 0 && fstatfs(o->hf->fd, sf) < 0)
		return (-errno);
	if (o->hf == NULL || o->hf->fd < 0) {
		sf->f_type = 0x01021994;	/* TMPFS_MAGIC */
		sf->f_bsize = sf->f_frsize = 4096;
		sf->f_namelen = 255;
	}
	sf->f_flags |= ST_RDONLY;
	return (0);
}

/* What fstat says of the description (o). */
int
tk_ofd_stat(struct tk_vm *vm, struct tk_ofd *o, struct stat *st)
{
	memset(st, 0, sizeof *st);
	if (o->hf != NULL && o->hf->fd >= 0)
		return (fstat(o->hf->fd, st) < 0 ? -errno : 0);
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 4096;
	if (o->kind == TK_FILE_DIR) {	/* a virtual directory */
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_ino = o->hf != NULL ? tk_fs_vdir_ino(o->hf->path) : 1;
		return (0);
	}
	(void)vm;
	if (o->kind == TK_FILE_NULL) {
		st->st_mode = S_IFCHR | 0666;
		st->st_rdev = makedev(1, 3);
		st->st_nlink = 1;
		st->st_uid = st->st_gid = 0;
		return (0);
	}
	st->st_mode = S_IFIFO | 0600;
	st->st_nlink = 1;
	st->st_ino = (ino_t)o->kind;
	return (0);
}

static int64_t
sys_fstat(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);
	struct stat st;
	int r;

	if (o == NULL)
		return (-EBADF);
	r = tk_ofd_stat(vm, o, &st);
	return (r < 0 ? r : tk_copy_to_guest(vm, a[1], &st, sizeof st));
}

static int64_t
sys_lseek(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);
	int64_t base, to;
	struct stat st;

	if (o == NULL || o->kind == TK_FILE_PATH)
		return (-EBADF);
	if (o->kind == TK_FILE_NULL)
		return (0);
	if (o->kind != TK_FILE_REG && o->kind != TK_FILE_DIR)
		return (-ESPIPE);
	switch (a[2]) {
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = (int64_t)o->off; break;
	case SEEK_END:
		if (o->kind == TK_FILE_DIR)
			return (-EINVAL);
		if (fstat(o->hf->fd, &st) < 0)
			return (-errno);
		base = st.st_size;
		break;
	default: return (-EINVAL);
	}
	if (__builtin_add_overflow(base, (int64_t)a[1], &to) || to < 0)
		return (-EINVAL);
	o->off = (uint64_t)to;
	tk_files_touch(vm->proc.files);
	return (to);
}

/* getdents64: whole records from the entries read at open. */
static int64_t
sys_getdents64(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);
	uint64_t at, end;
	uint16_t rl;

	if (o == NULL || o->kind == TK_FILE_PATH)
		return (-EBADF);
	if (o->kind != TK_FILE_DIR)
		return (-ENOTDIR);
	/* An offset from lseek may fall inside a record: take the next. */
	for (at = 0; at < o->off && at < o->hf->dirents_len; at += rl)
		memcpy(&rl, o->hf->dirents + at + 16, 2);
	for (end = at; end < o->hf->dirents_len; end += rl) {
		memcpy(&rl, o->hf->dirents + end + 16, 2);
		if (end + rl - at > a[2])
			break;
	}
	if (end == at && at < o->hf->dirents_len)
		return (-EINVAL);	/* not even one record fits */
	if (end > at && tk_copy_to_guest(vm, a[1], o->hf->dirents + at,
	    end - at) < 0)
		return (-EFAULT);
	o->off = end;
	tk_files_touch(vm->proc.files);
	return ((int64_t)(end - at));
}

static int64_t
sys_close(struct tk_vm *vm, const uint64_t *a)
{
	return (tk_fd_close(vm->proc.files, a[0]));
}

/* dup, dup2, dup3 and F_DUPFD: (exact) puts it at (min) itself. */
static int64_t
fd_dup(struct tk_vm *vm, uint64_t fd, uint64_t min, int exact, int cloexec)
{
	struct tk_ofd *o = ofd_of(vm, fd);

	if (o == NULL)
		return (-EBADF);
	if (exact && (uint32_t)fd == (uint32_t)min)
		return ((int64_t)(uint32_t)fd);
	return (tk_fd_install(vm->proc.files, o, min, exact, cloexec));
}

static int64_t
sys_dup(struct tk_vm *vm, const uint64_t *a)
{
	return (fd_dup(vm, a[0], 0, 0, 0));
}

static int64_t
sys_dup2(struct tk_vm *vm, const uint64_t *a)
{
	return (fd_dup(vm, a[0], a[1], 1, 0));
}

static int64_t
sys_dup3(struct tk_vm *vm, const uint64_t *a)
{
	if ((uint32_t)a[0] == (uint32_t)a[1] || (a[2] & ~(uint64_t)O_CLOEXEC) != 0)
		return (-EINVAL);
	return (fd_dup(vm, a[0], a[1], 1, (a[2] & O_CLOEXEC) != 0));
}

static int64_t
sys_fcntl(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);
	struct flock fl;

	if (o == NULL)
		return (-EBADF);
	switch (a[1]) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return (fd_dup(vm, a[0], a[2], 0, a[1] == F_DUPFD_CLOEXEC));
	case F_GETFD:
		return (tk_fd_cloexec(vm->proc.files, a[0]) ? FD_CLOEXEC : 0);
	case F_SETFD:
		tk_fd_set_cloexec(vm->proc.files, a[0], (a[2] & FD_CLOEXEC) != 0);
		return (0);
	case F_GETFL:
		return (o->flags);
	case F_SETFL:
		/* Only these may change, as on Linux; none changes a read. */
		o->flags = (o->flags & ~(O_NONBLOCK | O_APPEND)) |
		    (int)(a[2] & (O_NONBLOCK | O_APPEND));
		tk_files_touch(vm->proc.files);
		return (0);
	case F_GETLK:
	case F_OFD_GETLK:
		/* Nobody else can hold a lock: say it is free. */
		if (tk_copy_from_guest(vm, &fl, a[2], sizeof fl) < 0)
			return (-EFAULT);
		fl.l_type = F_UNLCK;
		return (tk_copy_to_guest(vm, a[2], &fl, sizeof fl));
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return (0);
	default:
		return (-EINVAL);
	}
}

/* Advice about a file's pages changes nothing here: they are copies. */
static int64_t
sys_fadvise64(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);

	if (o == NULL)
		return (-EBADF);
	return (o->kind == TK_FILE_REG ? 0 : -ESPIPE);
}

static int64_t
sys_fstatfs(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = ofd_of(vm, a[0]);
	struct statfs sf;

	if (o == NULL)
		return (-EBADF);
	if (tk_ofd_statfs(o, &sf) < 0)
		return (-ENOSYS);
	return (tk_copy_to_guest(vm, a[1], &sf, sizeof sf));
}

const struct tk_syscall tk_linux_io_calls[] = {
	{ SYS_fadvise64, sys_fadvise64 },
	{ SYS_fstatfs, sys_fstatfs },
	{ SYS_read, sys_read },
	{ SYS_write, sys_write },
	{ SYS_close, sys_close },
	{ SYS_fstat, sys_fstat },
	{ SYS_lseek, sys_lseek },
	{ SYS_ioctl, sys_ioctl },
	{ SYS_pread64, sys_pread64 },
	{ SYS_pwrite64, sys_pwrite64 },
	{ SYS_readv, sys_readv },
	{ SYS_writev, sys_writev },
	{ SYS_preadv, sys_preadv },
	{ SYS_dup, sys_dup },
	{ SYS_dup2, sys_dup2 },
	{ SYS_dup3, sys_dup3 },
	{ SYS_fcntl, sys_fcntl },
	{ SYS_getdents64, sys_getdents64 },
	{ 0, NULL },		/* the end: fn NULL */
};
