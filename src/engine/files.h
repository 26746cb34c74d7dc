/*
 * The emulated process's file descriptors (files.c): a table per VM of open
 * file descriptions, Linux's model.  dup'ed descriptors share one
 * description and its offset; a description holds a host file, shared
 * read-only by an image and all its forks, so a fork's reads never move
 * anything the image or a sibling sees: offsets are ours, reads are pread.
 *
 * Only the engine's files include this (linux/io.c, linux/fs.c, image.c).
 */
#ifndef TK_FILES_H
#define TK_FILES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Descriptors per VM: what RLIMIT_NOFILE reports, and EMFILE beyond. */
#define TK_FDS_MAX		256
/* Bytes of directory entries one directory may hold (read at open), and
 * all the directories one table holds open. */
#define TK_DIR_MAX		(1024 * 1024)
#define TK_DIR_TABLE_MAX	(8 * 1024 * 1024)

enum tk_file_kind {
	TK_FILE_STDIN = 1,	/* the embedder's read callback */
	TK_FILE_STDOUT,		/* its write callback, as fd 1 */
	TK_FILE_STDERR,		/* its write callback, as fd 2 */
	TK_FILE_REG,		/* a host regular file, read with pread */
	TK_FILE_DIR,		/* a host or virtual directory: entries read at open */
	TK_FILE_PATH,		/* O_PATH: a place, not readable */
	TK_FILE_NULL,		/* /dev/null: reads end, writes vanish */
	TK_FILE_PIPE_R,		/* a pipe's ends, within the VM (linux/events.c) */
	TK_FILE_PIPE_W,
	TK_FILE_EVENTFD,
	TK_FILE_TIMERFD,
	TK_FILE_EPOLL,
};

/* Pipes, epoll instances: how many a VM may hold, and their sizes. */
#define TK_PIPES_MAX		32
#define TK_PIPE_SIZE		65536		/* Linux's default capacity */
#define TK_EPOLLS_MAX		16

/* A pipe: both ends' descriptions point to it. */
struct tk_pipe {
	unsigned		ends;		/* descriptions holding it: 1 or 2 */
	int			readers, writers; /* ends still open */
	size_t			head, len;	/* a ring in buf */
	uint8_t			buf[TK_PIPE_SIZE];
};

struct tk_epoll_item {
	int			fd;
	uint32_t		events;
	uint64_t		data;
};

/* An epoll instance: its interest list, by descriptor number. */
struct tk_epoll {
	unsigned		n;
	struct tk_epoll_item	items[TK_FDS_MAX];
};

/* A timerfd: the next expiry and the period, CLOCK_MONOTONIC ns. */
struct tk_timer {
	int			clock;		/* the clock it was made on */
	uint64_t		next;		/* 0: disarmed */
	uint64_t		interval;
	uint64_t		ticks;		/* expirations not read yet */
};

/* One host file as the guest opened it: immutable but for refs. */
struct tk_hostfile {
	_Atomic(unsigned)	refs;
	int			fd;		/* host fd; -1: a virtual directory */
	char			*dirents;	/* TK_FILE_DIR: linux_dirent64 records */
	size_t			dirents_len;
	char			path[];		/* the guest's absolute path */
};

/* An open file description: what dup shares. */
struct tk_ofd {
	unsigned		refs;		/* descriptors of one table */
	enum tk_file_kind	kind;
	int			flags;		/* for F_GETFL: O_ACCMODE, O_NONBLOCK... */
	uint64_t		off;
	struct tk_hostfile	*hf;		/* NULL for the standard streams */
	/* What the kinds made within the VM hold (linux/events.c). */
	struct tk_pipe		*pipe;
	struct tk_epoll		*epoll;
	struct tk_timer		timer;
	uint64_t		count;		/* an eventfd's counter */
	int			semaphore;	/* EFD_SEMAPHORE */
};

struct tk_files {
	struct tk_ofd		*fd[TK_FDS_MAX];
	uint64_t		cloexec[TK_FDS_MAX / 64];
	char			*cwd;		/* absolute, normalised guest path */
	unsigned		n_open;
	size_t			dir_bytes;	/* entries its directories hold */
	unsigned		pipes, epolls;	/* held, against their caps */
	/* Every change bumps gen; a copy remembers what it was made from,
	 * so a reset of an untouched fork copies nothing. */
	uint64_t		gen;
	const struct tk_files	*from;
	uint64_t		from_gen;
	uint64_t		gen_at_copy;
};

/* A table with 0, 1 and 2 open on the standard streams, in "/". */
struct tk_files *tk_files_new(void);
/* Makes (*dst) (allocated if NULL) a copy of (src); 0 or -ENOMEM. */
int tk_files_copy(struct tk_files **dst, const struct tk_files *src);
void tk_files_free(struct tk_files *t);

/* The description behind guest descriptor (fd), or NULL (EBADF). */
struct tk_ofd *tk_fd_get(struct tk_files *t, uint64_t fd);
/* Puts (ofd) (its reference taken) at the lowest free fd >= (min), or at
 * exactly (min) when (exact); the fd or -EMFILE/-EBADF. */
int tk_fd_install(struct tk_files *t, struct tk_ofd *ofd, uint64_t min,
    int exact, int cloexec);
int tk_fd_close(struct tk_files *t, uint64_t fd);
int tk_fd_cloexec(const struct tk_files *t, uint64_t fd);
void tk_fd_set_cloexec(struct tk_files *t, uint64_t fd, int on);
/* Records a change the next reset must undo (an offset moved, say). */
void tk_files_touch(struct tk_files *t);
/* Replaces the working directory; 0 or -ENOMEM. */
int tk_files_chdir(struct tk_files *t, const char *path);

/*
 * A host file for the guest path (path): takes ownership of (fd) and of
 * (dirents), which may be NULL.  NULL if out of memory (fd closed,
 * dirents freed), or -ENFILE through (*err) past the process-wide cap on
 * host descriptors held for guests.
 */
struct tk_hostfile *tk_hostfile_new(int fd, const char *path, char *dirents,
    size_t dirents_len, int *err);
void tk_hostfile_put(struct tk_hostfile *hf);
/* A description with no descriptor yet (refs 0); takes (hf)'s reference. */
struct tk_ofd *tk_ofd_new(enum tk_file_kind kind, int flags,
    struct tk_hostfile *hf);
/* Frees a description no descriptor took. */
void tk_ofd_free(struct tk_ofd *o);

#endif
