/*
 * The file system a guest sees: the host files and directories its embedder
 * allowed, each at a guest path, read-only; every other path does not exist.
 * The ancestors of allowed paths ("/", "/usr" for "/usr/lib") are virtual
 * directories listing only what leads to them.
 *
 * A guest path is normalised here (., .., // removed: Linux's lexical
 * order, save that a symlink's ".." is taken lexically too), then the
 * longest allowed prefix names the host directory, opened once at load.
 * The rest is opened by the kernel with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS): no "..", symlink or /proc link can leave that
 * directory.  When a symlink tries (EXDEV: an absolute one, say), we walk
 * the path one component at a time, each step beneath its directory, and
 * put the symlink's text back into the guest path: it resolves in the
 * guest's file system, never the host's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../tk_internal.h"
#include "../files.h"

#define SYMLINK_MAX	40	/* Linux's MAXSYMLINKS */

struct tk_mount {
	char		*guest;		/* normalised, "/" for the root */
	size_t		guest_len;
	int		fd;		/* O_PATH: the directory, or a file's */
	char		*leaf;		/* a file: its name in fd; NULL: a directory */
};

static uint64_t virtual_ino(const char *path, const char *name, size_t nlen);

struct tk_fs {
	struct tk_mount	*m;
	unsigned	n;
	unsigned	cap;
	char		*exe;		/* the program's path, for /proc/self/exe */
	int		system_libs;	/* a dynamic program may read them */
};

/* What a dynamic program reads before main(): ld.so, libc, the cache. */
static const char *const system_libs[] = {
	"/lib64", "/lib", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache",
};
#define SYSTEM_LIBS	(sizeof system_libs / sizeof system_libs[0])

int
tk_path_join(char *out, size_t size, const char *base, const char *path)
{
	size_t len = 0, clen, up;
	const char *p, *c;
	char *copy = NULL;
	int pass, r = 0;

	if (*path == '\0')
		return (-ENOENT);
	/* (out) may be (base) or hold (path): work from copies then. */
	if ((out == base || (path >= out && path < out + size)) &&
	    (copy = malloc(strlen(base) + strlen(path) + 2)) != NULL) {
		strcpy(copy, base);
		strcpy(copy + strlen(base) + 1, path);
		base = copy;
		path = copy + strlen(base) + 1;
	} else if (out == base || (path >= out && path < out + size))
		return (-ENOMEM);
	out[0] = '\0';
	/* Two passes: the base (when the path is relative), then the path. */
	for (pass = 0; pass < 2; pass++) {
		p = pass == 0 ? (*path == '/' ? "" : base) : path;
		while (*p != '\0') {
			while (*p == '/')
				p++;
			c = p;
			p += strcspn(p, "/");
			clen = (size_t)(p - c);
			if (clen == 0 || (clen == 1 && c[0] == '.'))
				continue;
			if (clen > NAME_MAX) {
				r = -ENAMETOOLONG;
				goto done;
			}
			if (clen == 2 && c[0] == '.' && c[1] == '.') {
				for (up = len; up > 0 && out[up - 1] != '/'; up--)
					continue;
				len = up > 0 ? up - 1 : 0;
				out[len] = '\0';
				continue;
			}
			if (len + 1 + clen + 1 > size) {
				r = -ENAMETOOLONG;
				goto done;
			}
			out[len++] = '/';
			memcpy(out + len, c, clen);
			len += clen;
			out[len] = '\0';
		}
	}
	if (len == 0 && size < 2)
		r = -ENAMETOOLONG;
	else if (len == 0)
		strcpy(out, "/");
done:
	free(copy);
	return (r);
}

/* 1 if guest path (path) is (prefix) or lies under it. */
static int
path_under(const char *path, const char *prefix, size_t plen)
{
	if (plen == 1)		/* "/" */
		return (1);
	return (strncmp(path, prefix, plen) == 0 &&
	    (path[plen] == '\0' || path[plen] == '/'));
}

/* The mount holding (path), the longest match, or NULL. */
static const struct tk_mount *
mount_of(const struct tk_fs *fs, const char *path)
{
	const struct tk_mount *best = NULL;

	for (unsigned i = 0; fs != NULL && i < fs->n; i++)
		if (path_under(path, fs->m[i].guest, fs->m[i].guest_len) &&
		    (best == NULL || fs->m[i].guest_len > best->guest_len))
			best = &fs->m[i];
	return (best);
}

/* 1 if (path), in no mount, leads to one: a virtual directory. */
static int
path_virtual(const struct tk_fs *fs, const char *path)
{
	size_t len = strlen(path);

	if (strcmp(path, "/") == 0)
		return (1);
	for (unsigned i = 0; fs != NULL && i < fs->n; i++)
		if (fs->m[i].guest_len > len &&
		    path_under(fs->m[i].guest, path, len))
			return (1);
	return (0);
}

int
tk_fs_open_read(const struct tk_fs *fs, const char *path, int oflags,
    int follow, int *vdir, struct stat *st)
{
	struct stat again;
	int fd;

	fd = tk_fs_resolve(fs, path, O_PATH | (oflags & O_DIRECTORY), follow,
	    vdir);
	if (fd < 0)
		return (fd);
	if (fstat(fd, st) < 0) {
		fd = -errno;
		(void)close(fd);
		return (fd);
	}
	(void)close(fd);
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return (-EACCES);
	fd = tk_fs_resolve(fs, path, O_RDONLY | O_NONBLOCK |
	    (oflags & O_DIRECTORY), follow, vdir);
	if (fd >= 0 && (fstat(fd, &again) < 0 || again.st_dev != st->st_dev ||
	    again.st_ino != st->st_ino)) {
		(void)close(fd);
		return (-EAGAIN);	/* swapped under us: the host's doing */
	}
	return (fd);
}

uint64_t
tk_fs_vdir_ino(const char *path)
{
	return (virtual_ino(path, "", 0));
}

int
tk_fs_covers(const struct tk_fs *fs, const char *path)
{
	return (mount_of(fs, path) != NULL || path_virtual(fs, path));
}

const char *
tk_fs_exe(const struct tk_fs *fs)
{
	return (fs != NULL ? fs->exe : "");
}

static int
open_beneath(int dirfd, const char *rest, int oflags, uint64_t resolve)
{
	struct open_how how;
	long r;

	memset(&how, 0, sizeof how);
	/* O_PATH takes no other flags but these. */
	how.flags = (uint64_t)oflags | O_CLOEXEC |
	    (oflags & O_PATH ? 0 : O_NOCTTY);
	/* Not across a mount either: a /proc or /sys below an allowed
	 * directory (allow "/", say) stays out of reach. */
	how.resolve = resolve | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
	    RESOLVE_NO_XDEV;
	r = syscall(SYS_openat2, dirfd, *rest ? rest : ".", &how, sizeof how);
	return (r < 0 ? -errno : (int)r);
}

/*
 * Finds the first symlink in (rest) beneath (m) and writes into (next) the
 * guest path with that symlink's text in its place.  0, or -errno.
 */
static int
symlink_expand(const struct tk_mount *m, const char *rest, int follow,
    char *next, size_t size)
{
	char *buf = malloc(2 * PATH_MAX), *target = buf + PATH_MAX;
	char comp[NAME_MAX + 1];
	const char *p = rest;
	int dir = m->fd, fd, r = -ENOENT;
	size_t clen;
	ssize_t n;
	struct stat st;

	if (buf == NULL)
		return (-ENOMEM);
	snprintf(buf, PATH_MAX, "%s", m->guest);
	while (*p != '\0') {
		clen = strcspn(p, "/");
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		p += clen + (p[clen] == '/');
		fd = open_beneath(dir, comp, O_PATH | O_NOFOLLOW, 0);
		if (dir != m->fd)
			(void)close(dir);
		dir = m->fd;
		if (fd < 0 || fstat(fd, &st) < 0) {
			r = fd < 0 ? fd : -errno;
			break;
		}
		if (!S_ISLNK(st.st_mode) || (*p == '\0' && !follow)) {
			dir = fd;
			r = tk_path_join(buf, PATH_MAX, buf, comp);
			if (r < 0)
				break;
			r = -ENOENT;
			continue;
		}
		n = readlinkat(fd, "", target, PATH_MAX - 1);
		(void)close(fd);
		if (n <= 0) {
			r = n < 0 ? -errno : -ENOENT;
			break;
		}
		target[n] = '\0';
		/* The directory so far, the link's text, then what follows. */
		r = tk_path_join(next, size, buf, target);
		if (r == 0 && *p != '\0')
			r = tk_path_join(next, size, next, p);
		break;
	}
	if (dir != m->fd)
		(void)close(dir);
	free(buf);
	return (r);
}

int
tk_fs_resolve(const struct tk_fs *fs, const char *path, int oflags,
    int follow, int *vdir)
{
	char *cur = malloc(2 * PATH_MAX), *rest;
	const struct tk_mount *m;
	const char *tail;
	int hops, fd = -ENOENT;

	*vdir = 0;
	if (cur == NULL)
		return (-ENOMEM);
	snprintf(cur, PATH_MAX, "%s", path);
	rest = cur + PATH_MAX;
	if (!follow)
		oflags |= O_NOFOLLOW;
	for (hops = 0; hops <= SYMLINK_MAX; hops++) {
		m = mount_of(fs, cur);
		if (m == NULL) {
			*vdir = path_virtual(fs, cur);
			fd = *vdir ? -1 : -ENOENT;
			break;
		}
		tail = cur + m->guest_len;
		if (*tail == '/')
			tail++;
		/* A file mount: its leaf, then (ENOTDIR) whatever follows. */
		snprintf(rest, PATH_MAX, "%s%s%s", m->leaf ? m->leaf : "",
		    m->leaf && *tail ? "/" : "", tail);
		fd = open_beneath(m->fd, rest, oflags, m->leaf ?
		    RESOLVE_NO_SYMLINKS : 0);
		if (fd != -EXDEV || m->leaf != NULL)
			break;
		fd = symlink_expand(m, rest, follow, cur, PATH_MAX);
		if (fd < 0)
			break;
		fd = -ELOOP;
	}
	free(cur);
	return (fd == -EXDEV ? -ENOENT : fd);
}

/* Appends one linux_dirent64 record to (*buf); 0 or -ENOMEM. */
static int
dirent_add(char **buf, size_t *len, size_t *cap, uint64_t ino,
    unsigned char type, const char *name, size_t nlen)
{
	size_t reclen = (19 + nlen + 1 + 7) & ~(size_t)7;
	char *b = *buf, *r;
	uint16_t rl = (uint16_t)reclen;
	int64_t off;

	if (*len + reclen > TK_DIR_MAX)
		return (-ENOMEM);
	if (*len + reclen > *cap) {
		*cap = (*len + reclen) * 2;
		if ((b = realloc(*buf, *cap)) == NULL)
			return (-ENOMEM);
		*buf = b;
	}
	r = b + *len;
	memset(r, 0, reclen);
	off = (int64_t)(*len + reclen);
	memcpy(r, &ino, 8);
	memcpy(r + 8, &off, 8);
	memcpy(r + 16, &rl, 2);
	r[18] = (char)type;
	memcpy(r + 19, name, nlen);
	*len += reclen;
	return (0);
}

/* A number for a virtual directory entry: stable, and far from real ones. */
static uint64_t
virtual_ino(const char *path, const char *name, size_t nlen)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *path; path++)
		h = (h ^ (unsigned char)*path) * 1099511628211ULL;
	while (nlen-- > 0)
		h = (h ^ (unsigned char)*name++) * 1099511628211ULL;
	return (h | (1ULL << 63));
}

int
tk_fs_vdir_list(const struct tk_fs *fs, const char *path, char **bufp,
    size_t *lenp)
{
	size_t len = strlen(path), cap = 0, n = 0, clen, j;
	const char *c;
	char *buf = NULL;
	int r;

	r = dirent_add(&buf, &n, &cap, virtual_ino(path, ".", 1), DT_DIR, ".", 1);
	if (r == 0)
		r = dirent_add(&buf, &n, &cap, virtual_ino(path, "..", 2),
		    DT_DIR, "..", 2);
	for (unsigned i = 0; r == 0 && fs != NULL && i < fs->n; i++) {
		if (fs->m[i].guest_len <= len ||
		    !path_under(fs->m[i].guest, path, len))
			continue;
		c = fs->m[i].guest + (len > 1 ? len : 0) + 1;
		clen = strcspn(c, "/");
		/* Once per name: an earlier mount may lead through it too. */
		for (j = 0; j < i; j++) {
			const char *o = fs->m[j].guest + (len > 1 ? len : 0) + 1;

			if (fs->m[j].guest_len > len &&
			    path_under(fs->m[j].guest, path, len) &&
			    strncmp(o, c, clen) == 0 &&
			    (o[clen] == '/' || o[clen] == '\0'))
				break;
		}
		if (j < i)
			continue;
		r = dirent_add(&buf, &n, &cap, virtual_ino(path, c, clen),
		    c[clen] == '\0' && fs->m[i].leaf ? DT_REG : DT_DIR, c, clen);
	}
	if (r < 0) {
		free(buf);
		return (r);
	}
	*bufp = buf;
	*lenp = n;
	return (0);
}

int
tk_fs_dir_read(int fd, char **bufp, size_t *lenp)
{
	char *chunk = malloc(32768), *buf = NULL;
	size_t n = 0, cap = 0;
	long got;
	int r = 0;

	if (chunk == NULL)
		return (-ENOMEM);
	while (r == 0 && (got = syscall(SYS_getdents64, fd, chunk, 32768)) > 0) {
		for (long at = 0; r == 0 && at < got; ) {
			uint64_t ino;
			uint16_t rl;

			memcpy(&ino, chunk + at, 8);
			memcpy(&rl, chunk + at + 16, 2);
			r = dirent_add(&buf, &n, &cap, ino,
			    (unsigned char)chunk[at + 18],
			    chunk + at + 19, strlen(chunk + at + 19));
			at += rl;
		}
	}
	if (r == 0 && got < 0)
		r = -errno;
	free(chunk);
	if (r < 0) {
		free(buf);
		return (r);
	}
	/* Doubling left up to twice what is held: give the rest back. */
	if (n > 0 && n < cap && (chunk = realloc(buf, n)) != NULL)
		buf = chunk;
	*bufp = buf;
	*lenp = n;
	return (0);
}

int
tk_read_path_parse(const char *spec, struct tk_read_path *rp)
{
	const char *colon = strchr(spec, ':');

	if (*spec == '\0' || colon == spec || (colon != NULL && colon[1] != '/'))
		return (-EINVAL);
	rp->host = colon != NULL ? strndup(spec, (size_t)(colon - spec)) :
	    strdup(spec);
	rp->guest = colon != NULL ? colon + 1 : NULL;
	return (rp->host == NULL ? -ENOMEM : 0);
}

void
tk_fs_free(struct tk_fs *fs)
{
	if (fs == NULL)
		return;
	for (unsigned i = 0; i < fs->n; i++) {
		if (fs->m[i].fd >= 0)
			(void)close(fs->m[i].fd);
		free(fs->m[i].guest);
		free(fs->m[i].leaf);
	}
	free(fs->m);
	free(fs->exe);
	free(fs);
}

/* 1 if (fd) is on a file system that shows the host's own state. */
static int
pseudo_fs(int fd)
{
	static const long types[] = {
		0x9fa0,		/* PROC_SUPER_MAGIC */
		0x62656572,	/* SYSFS_MAGIC */
		0x64626720,	/* DEBUGFS_MAGIC */
		0x74726163,	/* TRACEFS_MAGIC */
		0x73636673,	/* SECURITYFS_MAGIC */
		0x27e0eb,	/* CGROUP_SUPER_MAGIC */
		0x63677270,	/* CGROUP2_SUPER_MAGIC */
		0x6e736673,	/* NSFS_MAGIC */
		0xcafe4a11,	/* BPF_FS_MAGIC */
		0x1cd1,		/* DEVPTS_SUPER_MAGIC */
	};
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return (1);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if ((long)sf.f_type == types[i])
			return (1);
	return (0);
}

/* Opens the host side of one allowed path; 0 or -errno with (err) set. */
static int
mount_open(struct tk_fs *fs, const struct tk_read_path *rp, char *err,
    size_t errlen)
{
	struct tk_mount *m = &fs->m[fs->n];
	char *real = realpath(rp->host, NULL), *slash;
	char guest[PATH_MAX];
	struct stat st;
	int r;

	if (real == NULL || stat(real, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "allowed path %s: %s", rp->host,
		    strerror(errno));
		free(real);
		return (r);
	}
	r = tk_path_join(guest, sizeof guest, "/", rp->guest ? rp->guest :
	    rp->host);
	if (r == 0 && mount_of(fs, guest) != NULL &&
	    strcmp(mount_of(fs, guest)->guest, guest) == 0)
		r = -EEXIST;
	if (r < 0 || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
		snprintf(err, errlen, "allowed path %s: %s", rp->host, r < 0 ?
		    (r == -EEXIST ? "its guest path is allowed twice" :
		    strerror(-r)) : "neither a regular file nor a directory");
		free(real);
		return (r < 0 ? r : -EINVAL);
	}
	m->leaf = NULL;
	if (!S_ISDIR(st.st_mode)) {
		slash = strrchr(real, '/');
		m->leaf = strdup(slash + 1);
		slash[slash == real ? 1 : 0] = '\0';
	}
	m->fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	m->guest = strdup(guest);
	free(real);
	if (m->fd >= 0 && pseudo_fs(m->fd)) {
		snprintf(err, errlen, "allowed path %s: on /proc, /sys or another "
		    "kernel file system, which would show the host", rp->host);
		fs->n++;
		return (-EPERM);
	}
	if (m->fd < 0 || m->guest == NULL || (!S_ISDIR(st.st_mode) &&
	    m->leaf == NULL)) {
		snprintf(err, errlen, "allowed path %s: %s", rp->host,
		    strerror(m->fd < 0 ? errno : ENOMEM));
		fs->n++;	/* tk_fs_free closes what there is */
		return (-EIO);
	}
	m->guest_len = strlen(m->guest);
	fs->n++;
	return (0);
}

int
tk_fs_add_system_libs(struct tk_fs *fs, char *err, size_t errlen)
{
	struct tk_read_path rp = { NULL, NULL };
	struct stat st;
	int r = 0;

	if (!fs->system_libs)
		return (0);
	for (unsigned i = 0; r == 0 && i < SYSTEM_LIBS; i++) {
		rp.host = system_libs[i];
		/* What the embedder allowed at that path stays as it was. */
		if (stat(rp.host, &st) < 0 || fs->n == fs->cap ||
		    (mount_of(fs, rp.host) != NULL &&
		    strcmp(mount_of(fs, rp.host)->guest, rp.host) == 0))
			continue;
		r = mount_open(fs, &rp, err, errlen);
	}
	fs->system_libs = 0;
	return (r);
}

int
tk_fs_open(struct tk_fs **fsp, const char *exe, const struct tk_read_path *rp,
    unsigned n, char *err, size_t errlen)
{
	struct tk_fs *fs = calloc(1, sizeof *fs);
	char *abs;
	int r = 0;

	*fsp = NULL;
	if (fs == NULL || (fs->m = calloc(n + SYSTEM_LIBS, sizeof *fs->m)) == NULL) {
		free(fs);
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	fs->cap = n + SYSTEM_LIBS;
	/* The program's own path, as the guest will read /proc/self/exe. */
	abs = realpath(exe, NULL);
	fs->exe = abs != NULL ? abs : strdup(exe);
	for (unsigned i = 0; r == 0 && i < n; i++) {
		if (rp[i].host == NULL) {
			snprintf(err, errlen, "allowed path %u has no host path", i);
			r = -EINVAL;
		} else
			r = mount_open(fs, &rp[i], err, errlen);
	}
	fs->system_libs = 1;
	if (r == 0 && fs->exe == NULL) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
	}
	if (r < 0) {
		tk_fs_free(fs);
		return (r);
	}
	*fsp = fs;
	return (0);
}

void
tk_fs_no_system_libs(struct tk_fs *fs)
{
	fs->system_libs = 0;
}
