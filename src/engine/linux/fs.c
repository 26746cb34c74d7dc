/*
 * Paths: open, stat, access, readlink, getcwd, chdir.  A guest path is
 * copied, made absolute against the working directory or a directory fd,
 * normalised, and opened by linux/paths.c beneath the allowed host
 * directory it falls in: read-only, no escape.  Paths outside every allowed
 * one do not exist (ENOENT); writing inside one gives EROFS, as a
 * read-only mount would.  Only regular files and directories open: a FIFO
 * or a device could block or reach hardware (EACCES).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "syscalls.h"
#include "../files.h"

/* A dirfd is an int: Linux reads 32 bits of the register, so do we. */
#define AT_FDCWD_GUEST	((uint64_t)(uint32_t)AT_FDCWD)
/* The kernel's O_LARGEFILE: glibc's headers make it 0 on x86-64, musl
 * passes the real bit. */
#define KERNEL_O_LARGEFILE	0100000
#define OPEN_WRITING	(O_WRONLY | O_RDWR | O_TRUNC | O_EXCL)

/*
 * The guest's (dirfd, pathname) as an absolute normalised path in a
 * buffer of PATH_MAX the caller frees, or NULL with (*err).  An empty
 * path is ENOENT unless (empty_ok): then it names (dirfd) itself, and
 * (*err) is -ENOSYS to say so, when (dirfd) is a descriptor.
 */
static char *
guest_path(struct tk_vm *vm, uint64_t dirfd, uint64_t gva, int empty_ok,
    int *err)
{
	char *buf = malloc(2 * PATH_MAX), *out;
	const char *base = vm->proc.files->cwd;
	struct tk_ofd *o;
	long n;

	*err = -ENOMEM;
	if (buf == NULL)
		return (NULL);
	dirfd = (uint32_t)dirfd;
	out = buf + PATH_MAX;
	n = tk_copy_string(vm, buf, gva, PATH_MAX);
	o = dirfd == AT_FDCWD_GUEST ? NULL : tk_fd_get(vm->proc.files, dirfd);
	if (n == 0 && empty_ok && dirfd != AT_FDCWD_GUEST)
		n = o == NULL ? -EBADF : -ENOSYS;	/* (dirfd) itself */
	else if (n == 0 && !empty_ok)
		n = -ENOENT;
	else if (n > 0 && buf[0] != '/' && dirfd != AT_FDCWD_GUEST) {
		if (o == NULL)
			n = -EBADF;
		else if (o->kind != TK_FILE_DIR && o->kind != TK_FILE_PATH)
			n = -ENOTDIR;
		else
			base = o->hf->path;
	}
	if (n >= 0)
		n = tk_path_join(out, PATH_MAX, base, n == 0 ? "." : buf);
	if (n < 0) {
		*err = (int)n;
		free(buf);
		return (NULL);
	}
	memmove(buf, out, strlen(out) + 1);
	return (buf);
}

/* Opens (path) for the guest: a new description, or -errno. */
static int
path_open(struct tk_vm *vm, const char *path, int flags, struct tk_ofd **op)
{
	int vdir, fd, r = 0, kind = TK_FILE_REG;
	int follow = !(flags & O_NOFOLLOW);
	char *dirents = NULL;
	size_t dlen = 0;
	struct tk_hostfile *hf;
	struct stat st;

	/* O_PATH opens nothing; everything else is read only if it is a
	 * regular file or a directory (tk_fs_open_read). */
	if (flags & O_PATH)
		fd = tk_fs_resolve(vm->fs, path, O_PATH | (flags & O_DIRECTORY),
		    follow, &vdir);
	else
		fd = tk_fs_open_read(vm->fs, path, flags & O_DIRECTORY, follow,
		    &vdir, &st);
	if (fd < 0 && !vdir)
		return (fd);
	if (vdir) {
		kind = TK_FILE_DIR;
		r = tk_fs_vdir_list(vm->fs, path, &dirents, &dlen);
	} else if (flags & O_PATH)
		kind = TK_FILE_PATH;
	else if (S_ISDIR(st.st_mode)) {
		kind = TK_FILE_DIR;
		r = tk_fs_dir_read(fd, &dirents, &dlen);
	}
	/* A table's directories hold their entries: bounded, as memory. */
	if (r == 0 && vm->proc.files->dir_bytes + dlen > TK_DIR_TABLE_MAX) {
		free(dirents);
		r = -ENOMEM;
	}
	if (r < 0) {
		if (fd >= 0)
			(void)close(fd);
		return (r);
	}
	hf = tk_hostfile_new(fd, path, dirents, dlen, &r);
	if (hf == NULL)
		return (r);
	*op = tk_ofd_new(kind, (flags & (O_NONBLOCK | O_APPEND | O_PATH)) |
	    (kind == TK_FILE_DIR ? O_DIRECTORY : 0) | KERNEL_O_LARGEFILE, hf);
	return (*op == NULL ? -ENOMEM : 0);
}

static int64_t
open_at(struct tk_vm *vm, uint64_t dirfd, uint64_t gva, uint64_t flags)
{
	struct tk_ofd *o = NULL;
	char *path;
	int r;

	path = guest_path(vm, dirfd, gva, 0, &r);
	if (path == NULL)
		return (r);
	if (strcmp(path, "/dev/null") == 0) {
		/* Always there, as programs assume (perl -e opens it). */
		o = tk_ofd_new(TK_FILE_NULL, (int)(flags & (O_ACCMODE |
		    O_NONBLOCK | O_APPEND)), NULL);
		r = o == NULL ? -ENOMEM : 0;
	} else if ((flags & OPEN_WRITING) ||
	    (flags & __O_TMPFILE) == __O_TMPFILE)
		/* O_TMPFILE holds O_DIRECTORY's bit: only both make it. */
		r = tk_fs_covers(vm->fs, path) ? -EROFS : -ENOENT;
	else {	/* Linux ignores the flags it does not know; so do we. */
		r = path_open(vm, path, (int)flags, &o);
		/* O_CREAT opens what exists; it would create the rest. */
		if (r == -ENOENT && (flags & O_CREAT) && tk_fs_covers(vm->fs,
		    path))
			r = -EROFS;
	}
	free(path);
	if (r == 0) {
		r = tk_fd_install(vm->proc.files, o, 0, 0,
		    (flags & O_CLOEXEC) != 0);
		if (r < 0)
			tk_ofd_free(o);
	}
	return (r);
}

static int64_t
sys_open(struct tk_vm *vm, const uint64_t *a)
{
	return (open_at(vm, AT_FDCWD_GUEST, a[0], a[1]));
}

static int64_t
sys_openat(struct tk_vm *vm, const uint64_t *a)
{
	return (open_at(vm, a[0], a[1], a[2]));
}

static int64_t
sys_creat(struct tk_vm *vm, const uint64_t *a)
{
	return (open_at(vm, AT_FDCWD_GUEST, a[0], O_CREAT | O_WRONLY | O_TRUNC));
}

/* openat2: its own resolve flags are ours already, or stricter than needed. */
static int64_t
sys_openat2(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t how[3];

	if (a[3] < sizeof how || a[3] > 4096)
		return (a[3] > 4096 ? -E2BIG : -EINVAL);
	if (tk_copy_from_guest(vm, how, a[2], sizeof how) < 0)
		return (-EFAULT);
	return (open_at(vm, a[0], a[1], how[0]));
}

/*
 * What stat says of (dirfd, gva), with AT_SYMLINK_NOFOLLOW and
 * AT_EMPTY_PATH in (flags); for statx, the host fd it was read from, or
 * -1 (the caller closes it).
 */
static int
path_stat(struct tk_vm *vm, uint64_t dirfd, uint64_t gva, uint64_t flags,
    struct stat *st, int *fdp)
{
	struct tk_ofd *o, dir = { .kind = TK_FILE_DIR };
	char *path;
	int r, vdir, fd;

	*fdp = -1;
	if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH |
	    AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE))
		return (-EINVAL);
	path = guest_path(vm, dirfd, gva, (flags & AT_EMPTY_PATH) != 0, &r);
	if (path == NULL && r == -ENOSYS) {
		/* fstat(fd) as glibc makes it: fstatat(fd, "", AT_EMPTY_PATH). */
		o = tk_fd_get(vm->proc.files, dirfd);
		if (o->hf != NULL)
			*fdp = dup(o->hf->fd);
		return (tk_ofd_stat(vm, o, st));
	}
	if (path == NULL)
		return (r);
	if (strcmp(path, "/dev/null") == 0) {
		free(path);
		dir.kind = TK_FILE_NULL;
		return (tk_ofd_stat(vm, &dir, st));
	}
	fd = tk_fs_resolve(vm->fs, path, O_PATH,
	    !(flags & AT_SYMLINK_NOFOLLOW), &vdir);
	free(path);
	if (vdir)
		return (tk_ofd_stat(vm, &dir, st));
	if (fd < 0)
		return (fd);
	if (fstat(fd, st) < 0) {
		r = -errno;
		(void)close(fd);
		return (r);
	}
	*fdp = fd;
	return (0);
}

static int64_t
stat_at(struct tk_vm *vm, uint64_t dirfd, uint64_t gva, uint64_t buf,
    uint64_t flags)
{
	struct stat st;
	int r, fd;

	r = path_stat(vm, dirfd, gva, flags, &st, &fd);
	if (fd >= 0)
		(void)close(fd);
	return (r < 0 ? r : tk_copy_to_guest(vm, buf, &st, sizeof st));
}

static int64_t
sys_stat(struct tk_vm *vm, const uint64_t *a)
{
	return (stat_at(vm, AT_FDCWD_GUEST, a[0], a[1], 0));
}

static int64_t
sys_lstat(struct tk_vm *vm, const uint64_t *a)
{
	return (stat_at(vm, AT_FDCWD_GUEST, a[0], a[1], AT_SYMLINK_NOFOLLOW));
}

static int64_t
sys_newfstatat(struct tk_vm *vm, const uint64_t *a)
{
	return (stat_at(vm, a[0], a[1], a[2], a[3]));
}

static void
statx_time(struct statx_timestamp *t, const struct timespec *ts)
{
	t->tv_sec = ts->tv_sec;
	t->tv_nsec = (uint32_t)ts->tv_nsec;
}

static int64_t
sys_statx(struct tk_vm *vm, const uint64_t *a)
{
	struct statx sx;
	struct stat st;
	int r, fd;

	r = path_stat(vm, a[0], a[1], a[2] & ~(uint64_t)AT_STATX_SYNC_TYPE,
	    &st, &fd);
	if (r < 0)
		return (r);
	memset(&sx, 0, sizeof sx);
	/* The host's own answer where there is a host file: it has more. */
	if (fd >= 0 && statx(fd, "", AT_EMPTY_PATH, (unsigned)a[3], &sx) == 0) {
		(void)close(fd);
		return (tk_copy_to_guest(vm, a[4], &sx, sizeof sx));
	}
	if (fd >= 0)
		(void)close(fd);
	sx.stx_mask = STATX_BASIC_STATS;
	sx.stx_blksize = (uint32_t)st.st_blksize;
	sx.stx_nlink = (uint32_t)st.st_nlink;
	sx.stx_uid = st.st_uid;
	sx.stx_gid = st.st_gid;
	sx.stx_mode = (uint16_t)st.st_mode;
	sx.stx_ino = st.st_ino;
	sx.stx_size = (uint64_t)st.st_size;
	sx.stx_blocks = (uint64_t)st.st_blocks;
	statx_time(&sx.stx_atime, &st.st_atim);
	statx_time(&sx.stx_mtime, &st.st_mtim);
	statx_time(&sx.stx_ctime, &st.st_ctim);
	return (tk_copy_to_guest(vm, a[4], &sx, sizeof sx));
}

static int64_t
access_at(struct tk_vm *vm, uint64_t dirfd, uint64_t gva, uint64_t mode,
    uint64_t flags)
{
	struct stat st;
	int r, fd;

	if (mode & ~(uint64_t)(R_OK | W_OK | X_OK))
		return (-EINVAL);
	if (flags & ~(uint64_t)(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return (-EINVAL);
	r = path_stat(vm, dirfd, gva, flags & ~(uint64_t)AT_EACCESS, &st, &fd);
	if (fd >= 0)
		(void)close(fd);
	if (r < 0)
		return (r);
	if (mode & W_OK)
		return (-EROFS);
	if ((mode & X_OK) && !(st.st_mode & 0111))
		return (-EACCES);
	return (0);
}

static int64_t
sys_access(struct tk_vm *vm, const uint64_t *a)
{
	return (access_at(vm, AT_FDCWD_GUEST, a[0], a[1], 0));
}

static int64_t
sys_faccessat(struct tk_vm *vm, const uint64_t *a)
{
	return (access_at(vm, a[0], a[1], a[2], 0));
}

static int64_t
sys_faccessat2(struct tk_vm *vm, const uint64_t *a)
{
	return (access_at(vm, a[0], a[1], a[2], a[3]));
}

static int64_t
readlink_at(struct tk_vm *vm, uint64_t dirfd, uint64_t gva, uint64_t buf,
    uint64_t size)
{
	char *path, *target;
	int r, vdir, fd;
	ssize_t n;

	if ((int64_t)size <= 0)
		return (-EINVAL);
	path = guest_path(vm, dirfd, gva, 0, &r);
	if (path == NULL)
		return (r);
	if (strcmp(path, "/proc/self/exe") == 0) {
		n = (ssize_t)strlen(tk_fs_exe(vm->fs));
		n = (uint64_t)n < size ? n : (ssize_t)size;
		r = tk_copy_to_guest(vm, buf, tk_fs_exe(vm->fs), (uint64_t)n);
		free(path);
		return (r < 0 ? r : n);
	}
	fd = tk_fs_resolve(vm->fs, path, O_PATH, 0, &vdir);
	free(path);
	if (fd < 0)
		return (vdir ? -EINVAL : fd);
	target = malloc(PATH_MAX);
	n = target == NULL ? -ENOMEM : readlinkat(fd, "", target, PATH_MAX);
	if (n < 0 && target != NULL)
		n = errno == ENOENT ? -EINVAL : -errno;
	(void)close(fd);
	if (n > 0) {
		n = (uint64_t)n < size ? n : (ssize_t)size;
		if (tk_copy_to_guest(vm, buf, target, (uint64_t)n) < 0)
			n = -EFAULT;
	}
	free(target);
	return (n);
}

static int64_t
sys_readlink(struct tk_vm *vm, const uint64_t *a)
{
	return (readlink_at(vm, AT_FDCWD_GUEST, a[0], a[1], a[2]));
}

static int64_t
sys_readlinkat(struct tk_vm *vm, const uint64_t *a)
{
	return (readlink_at(vm, a[0], a[1], a[2], a[3]));
}

static int64_t
sys_getcwd(struct tk_vm *vm, const uint64_t *a)
{
	const char *cwd = vm->proc.files->cwd;
	size_t len = strlen(cwd) + 1;

	if (a[1] < len)
		return (-ERANGE);
	return (tk_copy_to_guest(vm, a[0], cwd, len) < 0 ? -EFAULT :
	    (int64_t)len);
}

static int64_t
sys_chdir(struct tk_vm *vm, const uint64_t *a)
{
	char *path;
	int r, vdir, fd;

	path = guest_path(vm, AT_FDCWD_GUEST, a[0], 0, &r);
	if (path == NULL)
		return (r);
	fd = tk_fs_resolve(vm->fs, path, O_PATH | O_DIRECTORY, 1, &vdir);
	if (fd >= 0)
		(void)close(fd);
	r = fd >= 0 || vdir ? tk_files_chdir(vm->proc.files, path) : fd;
	free(path);
	return (r);
}

static int64_t
sys_fchdir(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = tk_fd_get(vm->proc.files, a[0]);
	struct stat st;

	if (o == NULL)
		return (-EBADF);
	if (o->hf == NULL || tk_ofd_stat(vm, o, &st) < 0 || !S_ISDIR(st.st_mode))
		return (-ENOTDIR);
	return (tk_files_chdir(vm->proc.files, o->hf->path));
}

static int64_t
sys_statfs(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = NULL;
	struct statfs sf;
	char *path;
	int r;

	path = guest_path(vm, AT_FDCWD_GUEST, a[0], 0, &r);
	if (path == NULL)
		return (r);
	r = path_open(vm, path, O_PATH, &o);
	free(path);
	if (r == 0)
		r = tk_ofd_statfs(o, &sf);
	if (o != NULL)
		tk_ofd_free(o);
	return (r < 0 ? r : tk_copy_to_guest(vm, a[1], &sf, sizeof sf));
}

/* Extended attributes: there are none (ls asks, for ACLs and labels). */
static int64_t
xattr_path(struct tk_vm *vm, uint64_t gva, int listing)
{
	struct stat st;
	int r, fd;

	r = path_stat(vm, AT_FDCWD_GUEST, gva, 0, &st, &fd);
	if (fd >= 0)
		(void)close(fd);
	return (r < 0 ? r : listing ? 0 : -ENODATA);
}

static int64_t
sys_getxattr(struct tk_vm *vm, const uint64_t *a)
{
	return (xattr_path(vm, a[0], 0));
}

static int64_t
sys_listxattr(struct tk_vm *vm, const uint64_t *a)
{
	return (xattr_path(vm, a[0], 1));
}

static int64_t
sys_fxattr(struct tk_vm *vm, const uint64_t *a)
{
	if (tk_fd_get(vm->proc.files, a[0]) == NULL)
		return (-EBADF);
	return (-ENODATA);
}

static int64_t
sys_flistxattr(struct tk_vm *vm, const uint64_t *a)
{
	return (tk_fd_get(vm->proc.files, a[0]) == NULL ? -EBADF : 0);
}

/* Calls that would change the file system: EROFS where it exists. */
static int64_t
write_at(struct tk_vm *vm, uint64_t dirfd, uint64_t gva)
{
	char *path;
	int r;

	path = guest_path(vm, dirfd, gva, 0, &r);
	if (path == NULL)
		return (r);
	r = tk_fs_covers(vm->fs, path) ? -EROFS : -ENOENT;
	free(path);
	return (r);
}

static int64_t
sys_write_path0(struct tk_vm *vm, const uint64_t *a)
{
	return (write_at(vm, AT_FDCWD_GUEST, a[0]));
}

static int64_t
sys_write_path1(struct tk_vm *vm, const uint64_t *a)
{
	return (write_at(vm, AT_FDCWD_GUEST, a[1]));
}

static int64_t
sys_write_at(struct tk_vm *vm, const uint64_t *a)
{
	return (write_at(vm, a[0], a[1]));
}

static int64_t
sys_write_fd(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o = tk_fd_get(vm->proc.files, a[0]);

	if (o == NULL)
		return (-EBADF);
	return (o->hf != NULL ? -EROFS : -EINVAL);
}

static int64_t
sys_no_exec(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (-EACCES);
}

const struct tk_syscall tk_linux_fs_calls[] = {
	{ SYS_open, sys_open },
	{ SYS_stat, sys_stat },
	{ SYS_lstat, sys_lstat },
	{ SYS_access, sys_access },
	{ SYS_execve, sys_no_exec },
	{ SYS_truncate, sys_write_path0 },
	{ SYS_ftruncate, sys_write_fd },
	{ SYS_getcwd, sys_getcwd },
	{ SYS_chdir, sys_chdir },
	{ SYS_fchdir, sys_fchdir },
	{ SYS_rename, sys_write_path0 },
	{ SYS_mkdir, sys_write_path0 },
	{ SYS_rmdir, sys_write_path0 },
	{ SYS_creat, sys_creat },
	{ SYS_link, sys_write_path1 },
	{ SYS_unlink, sys_write_path0 },
	{ SYS_symlink, sys_write_path1 },
	{ SYS_readlink, sys_readlink },
	{ SYS_chmod, sys_write_path0 },
	{ SYS_fchmod, sys_write_fd },
	{ SYS_chown, sys_write_path0 },
	{ SYS_fchown, sys_write_fd },
	{ SYS_lchown, sys_write_path0 },
	{ SYS_mknod, sys_write_path0 },
	{ SYS_openat, sys_openat },
	{ SYS_mkdirat, sys_write_at },
	{ SYS_mknodat, sys_write_at },
	{ SYS_fchownat, sys_write_at },
	{ SYS_newfstatat, sys_newfstatat },
	{ SYS_unlinkat, sys_write_at },
	{ SYS_renameat, sys_write_at },
	{ SYS_linkat, sys_write_at },
	{ SYS_readlinkat, sys_readlinkat },
	{ SYS_fchmodat, sys_write_at },
	{ SYS_faccessat, sys_faccessat },
	{ SYS_utimensat, sys_write_at },
	{ SYS_renameat2, sys_write_at },
	{ SYS_execveat, sys_no_exec },
	{ SYS_statx, sys_statx },
	{ SYS_openat2, sys_openat2 },
	{ SYS_faccessat2, sys_faccessat2 },
	{ SYS_statfs, sys_statfs },
	{ SYS_getxattr, sys_getxattr },
	{ SYS_lgetxattr, sys_getxattr },
	{ SYS_fgetxattr, sys_fxattr },
	{ SYS_listxattr, sys_listxattr },
	{ SYS_llistxattr, sys_listxattr },
	{ SYS_flistxattr, sys_flistxattr },
	{ SYS_setxattr, sys_write_path0 },
	{ SYS_lsetxattr, sys_write_path0 },
	{ SYS_fsetxattr, sys_write_fd },
	{ 0, NULL },		/* the end: fn NULL */
};
