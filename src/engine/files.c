/*
 * The emulated process's descriptor table (files.h).  A fork copies its
 * image's table: new descriptions, the same host files (a reference each),
 * so offsets are private and nothing host-side is reopened.  Host
 * descriptors held for guests are capped process-wide: a guest that opens
 * all it may, in every fork, must not starve varnishd of descriptors.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "files.h"

static _Atomic(long) host_fds_held;
static long host_fds_cap;
static pthread_once_t host_fds_once = PTHREAD_ONCE_INIT;

/* Half the process's descriptor limit: the rest stays varnishd's. */
static void
host_fds_cap_set(void)
{
	struct rlimit rl;

	host_fds_cap = 512;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		host_fds_cap = (long)rl.rlim_cur / 2;
	if (host_fds_cap < 64)
		host_fds_cap = 64;
}

struct tk_hostfile *
tk_hostfile_new(int fd, const char *path, char *dirents, size_t dirents_len,
    int *err)
{
	size_t len = strlen(path);
	struct tk_hostfile *hf;

	*err = -ENOMEM;
	(void)pthread_once(&host_fds_once, host_fds_cap_set);
	if (fd >= 0 && atomic_fetch_add(&host_fds_held, 1) >= host_fds_cap) {
		atomic_fetch_sub(&host_fds_held, 1);
		*err = -ENFILE;
		hf = NULL;
	} else
		hf = malloc(sizeof *hf + len + 1);
	if (hf == NULL) {
		if (fd >= 0 && *err == -ENOMEM)
			atomic_fetch_sub(&host_fds_held, 1);
		if (fd >= 0)
			(void)close(fd);
		free(dirents);
		return (NULL);
	}
	atomic_init(&hf->refs, 1);
	hf->fd = fd;
	hf->dirents = dirents;
	hf->dirents_len = dirents_len;
	memcpy(hf->path, path, len + 1);
	*err = 0;
	return (hf);
}

void
tk_hostfile_put(struct tk_hostfile *hf)
{
	if (hf == NULL || atomic_fetch_sub(&hf->refs, 1) != 1)
		return;
	if (hf->fd >= 0) {
		(void)close(hf->fd);
		atomic_fetch_sub(&host_fds_held, 1);
	}
	free(hf->dirents);
	free(hf);
}

struct tk_ofd *
tk_ofd_new(enum tk_file_kind kind, int flags, struct tk_hostfile *hf)
{
	struct tk_ofd *o = calloc(1, sizeof *o);

	if (o == NULL) {
		tk_hostfile_put(hf);
		return (NULL);
	}
	o->kind = kind;
	o->flags = flags;
	o->hf = hf;
	return (o);
}

void
tk_ofd_free(struct tk_ofd *o)
{
	assert(o->refs == 0);
	tk_hostfile_put(o->hf);
	if (o->pipe != NULL) {
		if (o->kind == TK_FILE_PIPE_R)
			o->pipe->readers--;
		else
			o->pipe->writers--;
		if (--o->pipe->ends == 0)
			free(o->pipe);
	}
	free(o->epoll);
	free(o);
}

static void
ofd_put(struct tk_ofd *o)
{
	assert(o->refs > 0);
	if (--o->refs > 0)
		return;
	tk_ofd_free(o);
}

void
tk_files_touch(struct tk_files *t)
{
	t->gen++;
}

/* Descriptors are ints: Linux reads 32 bits of the register, so do we. */
struct tk_ofd *
tk_fd_get(struct tk_files *t, uint64_t fd)
{
	fd = (uint32_t)fd;
	return (fd < TK_FDS_MAX ? t->fd[fd] : NULL);
}

int
tk_fd_cloexec(const struct tk_files *t, uint64_t fd)
{
	fd = (uint32_t)fd;
	return (fd < TK_FDS_MAX && ((t->cloexec[fd / 64] >> (fd % 64)) & 1));
}

void
tk_fd_set_cloexec(struct tk_files *t, uint64_t fd, int on)
{
	fd = (uint32_t)fd;
	assert(fd < TK_FDS_MAX);
	if (on)
		t->cloexec[fd / 64] |= 1ULL << (fd % 64);
	else
		t->cloexec[fd / 64] &= ~(1ULL << (fd % 64));
	t->gen++;
}

/*
 * A descriptor whose description is closed leaves every epoll set of the
 * table, as Linux drops a closed file's registrations: a new file that
 * gets its number starts unwatched.
 */
static void
epoll_forget(struct tk_files *t, uint64_t fd)
{
	struct tk_epoll *ep;

	for (unsigned j = 0; t->epolls > 0 && j < TK_FDS_MAX; j++) {
		if (t->fd[j] == NULL || (ep = t->fd[j]->epoll) == NULL)
			continue;
		for (unsigned i = 0; i < ep->n; )
			if ((uint64_t)ep->items[i].fd == fd)
				ep->items[i] = ep->items[--ep->n];
			else
				i++;
	}
}

int
tk_fd_close(struct tk_files *t, uint64_t fd)
{
	struct tk_ofd *o = tk_fd_get(t, fd);

	if (o == NULL)
		return (-EBADF);
	fd = (uint32_t)fd;
	t->fd[fd] = NULL;
	t->cloexec[fd / 64] &= ~(1ULL << (fd % 64));
	t->n_open--;
	t->gen++;
	if (o->refs == 1 && o->hf != NULL)
		t->dir_bytes -= o->hf->dirents_len;
	/* A pipe counts until its last end goes (pipe2 counted it). */
	if (o->refs == 1 && o->pipe != NULL && o->pipe->ends == 1)
		t->pipes--;
	if (o->refs == 1 && o->kind == TK_FILE_EPOLL)
		t->epolls--;
	if (o->refs == 1)
		epoll_forget(t, fd);
	ofd_put(o);
	return (0);
}

int
tk_fd_install(struct tk_files *t, struct tk_ofd *ofd, uint64_t min,
    int exact, int cloexec)
{
	uint64_t fd;

	min = (uint32_t)min;
	if (min >= TK_FDS_MAX)
		return (exact ? -EBADF : -EINVAL);
	if (exact) {
		ofd->refs++;	/* first: closing (min) may drop ofd's last */
		(void)tk_fd_close(t, min);
		ofd->refs--;
		fd = min;
	} else {
		for (fd = min; fd < TK_FDS_MAX && t->fd[fd] != NULL; fd++)
			continue;
		if (fd == TK_FDS_MAX)
			return (-EMFILE);
	}
	if (ofd->refs == 0 && ofd->hf != NULL)
		t->dir_bytes += ofd->hf->dirents_len;
	if (ofd->refs == 0 && ofd->kind == TK_FILE_EPOLL)
		t->epolls++;
	ofd->refs++;
	t->fd[fd] = ofd;
	t->n_open++;
	tk_fd_set_cloexec(t, fd, cloexec);
	return ((int)fd);
}

int
tk_files_chdir(struct tk_files *t, const char *path)
{
	char *cwd = strdup(path);

	if (cwd == NULL)
		return (-ENOMEM);
	free(t->cwd);
	t->cwd = cwd;
	t->gen++;
	return (0);
}

struct tk_files *
tk_files_new(void)
{
	static const enum tk_file_kind std[3] = { TK_FILE_STDIN,
		TK_FILE_STDOUT, TK_FILE_STDERR };
	struct tk_files *t = calloc(1, sizeof *t);
	struct tk_ofd *o;
	int fd;

	if (t == NULL || tk_files_chdir(t, "/") < 0) {
		free(t);
		return (NULL);
	}
	for (fd = 0; fd < 3; fd++) {
		o = tk_ofd_new(std[fd], fd == 0 ? 0 : 1 /* O_WRONLY */, NULL);
		if (o == NULL) {
			tk_files_free(t);
			return (NULL);
		}
		(void)tk_fd_install(t, o, (uint64_t)fd, 1, 0);
	}
	return (t);
}

static void
files_clear(struct tk_files *t)
{
	for (uint64_t fd = 0; fd < TK_FDS_MAX; fd++)
		if (t->fd[fd] != NULL)
			(void)tk_fd_close(t, fd);
}

void
tk_files_free(struct tk_files *t)
{
	if (t == NULL)
		return;
	files_clear(t);
	free(t->cwd);
	free(t);
}

/*
 * A copy of (o) for a table of its own: the host file is shared, what the
 * VM made is copied.  The two ends of a pipe must share their copy:
 * (pipes) maps the source's pipes to the copies made so far.
 */
struct pipe_map {
	const struct tk_pipe	*from[TK_FDS_MAX];
	struct tk_pipe		*to[TK_FDS_MAX];
	unsigned		n;
};

static struct tk_ofd *
ofd_clone(const struct tk_ofd *o, struct pipe_map *pm)
{
	struct tk_ofd *c;
	unsigned i;

	if (o->hf != NULL)
		atomic_fetch_add(&o->hf->refs, 1);
	c = tk_ofd_new(o->kind, o->flags, o->hf);
	if (c == NULL)
		return (NULL);
	c->off = o->off;
	c->timer = o->timer;
	c->count = o->count;
	c->semaphore = o->semaphore;
	if (o->epoll != NULL && (c->epoll = malloc(sizeof *c->epoll)) != NULL)
		memcpy(c->epoll, o->epoll, sizeof *c->epoll);
	if (o->pipe != NULL) {
		for (i = 0; i < pm->n && pm->from[i] != o->pipe; i++)
			continue;
		if (i == pm->n && (pm->to[i] = malloc(sizeof *o->pipe)) != NULL) {
			memcpy(pm->to[i], o->pipe, sizeof *o->pipe);
			pm->to[i]->ends = pm->to[i]->readers = pm->to[i]->writers = 0;
			pm->from[pm->n++] = o->pipe;
		}
		c->pipe = pm->to[i];
		if (c->pipe != NULL) {
			c->pipe->ends++;
			if (o->kind == TK_FILE_PIPE_R)
				c->pipe->readers++;
			else
				c->pipe->writers++;
		}
	}
	if ((o->epoll != NULL && c->epoll == NULL) ||
	    (o->pipe != NULL && c->pipe == NULL)) {
		tk_ofd_free(c);
		return (NULL);
	}
	return (c);
}

int
tk_files_copy(struct tk_files **dstp, const struct tk_files *src)
{
	struct tk_files *dst = *dstp;
	struct pipe_map *pm;
	struct tk_ofd *c;
	uint64_t fd, j;
	int r = 0;

	if (dst != NULL && dst->from == src && dst->from_gen == src->gen &&
	    dst->gen == dst->gen_at_copy)
		return (0);
	if (dst == NULL && (dst = calloc(1, sizeof *dst)) == NULL)
		return (-ENOMEM);
	*dstp = dst;
	files_clear(dst);
	pm = calloc(1, sizeof *pm);
	if (pm == NULL || tk_files_chdir(dst, src->cwd) < 0) {
		free(pm);
		return (-ENOMEM);
	}
	for (fd = 0; r == 0 && fd < TK_FDS_MAX; fd++) {
		if (src->fd[fd] == NULL)
			continue;
		/* Descriptors that share a description still do. */
		for (j = 0; j < fd && src->fd[j] != src->fd[fd]; j++)
			continue;
		c = j < fd ? dst->fd[j] : ofd_clone(src->fd[fd], pm);
		if (c == NULL)
			r = -ENOMEM;
		else
			(void)tk_fd_install(dst, c, fd, 1, tk_fd_cloexec(src, fd));
	}
	free(pm);
	if (r < 0)
		return (r);
	dst->pipes = src->pipes;
	dst->from = src;
	dst->from_gen = src->gen;
	dst->gen_at_copy = dst->gen;
	return (0);
}
