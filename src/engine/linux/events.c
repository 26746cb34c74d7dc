/*
 * What runtimes make at start to wait on things: pipes, eventfd, timerfd,
 * and poll/ppoll, select/pselect6 and epoll over them.  All of it lives in the VM (files.h):
 * a pipe is a ring buffer both ends share, an eventfd a counter, a timerfd
 * a deadline.  There is one thread, so nothing but time can make a
 * descriptor ready while the guest waits: a wait with a timer or a timeout
 * sleeps (never past the run's deadline); a wait on which nothing could
 * ever happen ends the program with a message instead of hanging it.
 * Host resources are capped: 32 pipes of 64 KiB and 16 epoll sets a VM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <sys/syscall.h>

#include "syscalls.h"
#include "../files.h"

#define FOREVER		UINT64_MAX
#define POLL_MAX	TK_FDS_MAX	/* pollfds one poll may name */

static struct tk_files *
table(struct tk_vm *vm)
{
	return (vm->proc.files);
}

static int64_t
blocked_forever(struct tk_vm *vm, const char *what)
{
	tk_stop(vm, TK_STOP_ERROR, 0, 0, "%s would block forever (the sandbox "
	    "runs one thread: nothing else can wake it)", what);
	return (-EDEADLK);
}

/*
 * Brings a timer's expirations up to (now).  That changes the fork's
 * table: a reset must put the image's timer back.
 */
static void
timer_update(struct tk_vm *vm, struct tk_timer *t, uint64_t now)
{
	uint64_t n;

	if (t->next == 0 || now < t->next)
		return;
	tk_files_touch(table(vm));
	if (t->interval == 0) {
		t->ticks++;
		t->next = 0;
		return;
	}
	n = 1 + (now - t->next) / t->interval;
	t->ticks += n;
	t->next += n * t->interval;
}

/* What (o) would answer poll now: POLLIN, POLLOUT, POLLHUP, POLLERR. */
static short
ready(struct tk_vm *vm, struct tk_ofd *o, uint64_t now)
{
	switch (o->kind) {
	case TK_FILE_PIPE_R:
		return ((o->pipe->len > 0 ? POLLIN : 0) |
		    (o->pipe->writers == 0 ? POLLHUP : 0));
	case TK_FILE_PIPE_W:
		return (o->pipe->readers == 0 ? POLLERR :
		    o->pipe->len < TK_PIPE_SIZE ? POLLOUT : 0);
	case TK_FILE_EVENTFD:
		return ((o->count > 0 ? POLLIN : 0) |
		    (o->count < UINT64_MAX - 1 ? POLLOUT : 0));
	case TK_FILE_TIMERFD:
		timer_update(vm, &o->timer, now);
		return (o->timer.ticks > 0 ? POLLIN : 0);
	case TK_FILE_EPOLL:
		return (0);	/* nested epoll sets are not watched */
	case TK_FILE_STDOUT:
	case TK_FILE_STDERR:
		return (POLLOUT);
	default:		/* stdin, files, directories, /dev/null */
		return (POLLIN | POLLOUT);
	}
}

/* When a timer among what is watched next expires, or FOREVER. */
static uint64_t
next_timer(struct tk_ofd *o, uint64_t soonest)
{
	if (o != NULL && o->kind == TK_FILE_TIMERFD && o->timer.next != 0 &&
	    o->timer.next < soonest)
		return (o->timer.next);
	return (soonest);
}

/* --- reading and writing (io.c hands these kinds over) --------------- */

static int64_t
pipe_read(struct tk_vm *vm, struct tk_ofd *o, uint8_t *p, uint64_t len,
    int may_block)
{
	struct tk_pipe *pp = o->pipe;
	uint64_t n, first;

	if (len == 0)
		return (0);
	if (pp->len == 0) {
		if (pp->writers == 0)
			return (0);
		return ((o->flags & O_NONBLOCK) || !may_block ? -EAGAIN :
		    blocked_forever(vm, "a read from an empty pipe"));
	}
	n = len < pp->len ? len : pp->len;
	first = TK_PIPE_SIZE - pp->head < n ? TK_PIPE_SIZE - pp->head : n;
	memcpy(p, pp->buf + pp->head, first);
	memcpy(p + first, pp->buf, n - first);
	pp->head = (pp->head + n) % TK_PIPE_SIZE;
	pp->len -= n;
	return ((int64_t)n);
}

static int64_t
pipe_write(struct tk_vm *vm, struct tk_ofd *o, const uint8_t *p, uint64_t len)
{
	struct tk_pipe *pp = o->pipe;
	uint64_t n, at, first;

	if (len == 0)
		return (0);
	if (pp->readers == 0) {
		if (vm->proc.sigactions[SIGPIPE - 1][0] == (uint64_t)(uintptr_t)SIG_DFL)
			tk_stop(vm, TK_STOP_FAULT, 0, SIGPIPE, "killed by signal "
			    "SIGPIPE (write to a pipe nobody reads)");
		return (-EPIPE);
	}
	if (pp->len == TK_PIPE_SIZE)
		return ((o->flags & O_NONBLOCK) ? -EAGAIN :
		    blocked_forever(vm, "a write to a full pipe"));
	n = TK_PIPE_SIZE - pp->len < len ? TK_PIPE_SIZE - pp->len : len;
	at = (pp->head + pp->len) % TK_PIPE_SIZE;
	first = TK_PIPE_SIZE - at < n ? TK_PIPE_SIZE - at : n;
	memcpy(pp->buf + at, p, first);
	memcpy(pp->buf, p + first, n - first);
	pp->len += n;
	return ((int64_t)n);
}

int64_t
tk_events_read(struct tk_vm *vm, struct tk_ofd *o, void *p, uint64_t len,
    int may_block)
{
	uint64_t v, now;

	tk_files_touch(table(vm));
	if (!may_block && o->kind != TK_FILE_PIPE_R)
		return (-EAGAIN);	/* a readv's later elements: the first took it */
	switch (o->kind) {
	case TK_FILE_PIPE_R:
		return (pipe_read(vm, o, p, len, may_block));
	case TK_FILE_EVENTFD:
		if (len < 8)
			return (-EINVAL);
		if (o->count == 0)
			return ((o->flags & O_NONBLOCK) ? -EAGAIN :
			    blocked_forever(vm, "a read from an eventfd at 0"));
		v = o->semaphore ? 1 : o->count;
		o->count -= v;
		memcpy(p, &v, 8);
		return (8);
	case TK_FILE_TIMERFD:
		if (len < 8)
			return (-EINVAL);
		now = tk_now_ns();
		timer_update(vm, &o->timer, now);
		if (o->timer.ticks == 0 && (o->flags & O_NONBLOCK))
			return (-EAGAIN);
		if (o->timer.ticks == 0 && o->timer.next == 0)
			return (blocked_forever(vm, "a read from a disarmed timerfd"));
		if (o->timer.ticks == 0) {
			tk_linux_sleep_until(vm, o->timer.next);
			if (vm->stopped)
				return (-EINTR);
			timer_update(vm, &o->timer, tk_now_ns());
		}
		v = o->timer.ticks;
		o->timer.ticks = 0;
		memcpy(p, &v, 8);
		return (8);
	default:
		return (-EBADF);
	}
}

int64_t
tk_events_write(struct tk_vm *vm, struct tk_ofd *o, const void *p,
    uint64_t len)
{
	uint64_t v;

	tk_files_touch(table(vm));
	switch (o->kind) {
	case TK_FILE_PIPE_W:
		return (pipe_write(vm, o, p, len));
	case TK_FILE_EVENTFD:
		if (len < 8)
			return (-EINVAL);
		memcpy(&v, p, 8);
		if (v == UINT64_MAX)
			return (-EINVAL);
		if (v > UINT64_MAX - 1 - o->count)
			return ((o->flags & O_NONBLOCK) ? -EAGAIN :
			    blocked_forever(vm, "a write to a full eventfd"));
		o->count += v;
		return (8);
	default:
		return (-EBADF);
	}
}

/* --- making them ------------------------------------------------------ */

/* Installs (o); frees it if there is no room.  The fd or -errno. */
static int
install(struct tk_vm *vm, struct tk_ofd *o, int cloexec)
{
	int fd;

	if (o == NULL)
		return (-ENOMEM);
	fd = tk_fd_install(table(vm), o, 0, 0, cloexec);
	if (fd < 0)
		tk_ofd_free(o);
	return (fd);
}

static int64_t
sys_pipe2(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *r, *w;
	struct tk_pipe *pp;
	int fds[2];

	if (a[1] & ~(uint64_t)(O_CLOEXEC | O_NONBLOCK | O_DIRECT))
		return (-EINVAL);
	if (table(vm)->pipes >= TK_PIPES_MAX)
		return (-EMFILE);
	pp = calloc(1, sizeof *pp);
	if (pp == NULL)
		return (-ENOMEM);
	r = tk_ofd_new(TK_FILE_PIPE_R, O_RDONLY | (int)(a[1] & O_NONBLOCK), NULL);
	w = tk_ofd_new(TK_FILE_PIPE_W, O_WRONLY | (int)(a[1] & O_NONBLOCK), NULL);
	if (r != NULL)
		r->pipe = pp, pp->ends++, pp->readers++;
	if (w != NULL)
		w->pipe = pp, pp->ends++, pp->writers++;
	if (pp->ends == 0)
		free(pp);
	if (r == NULL || w == NULL) {
		if (r != NULL)
			tk_ofd_free(r);
		if (w != NULL)
			tk_ofd_free(w);
		return (-ENOMEM);
	}
	/* Counted now; the last end's close (tk_fd_close) uncounts it. */
	table(vm)->pipes++;
	fds[0] = install(vm, r, (a[1] & O_CLOEXEC) != 0);
	if (fds[0] < 0) {
		tk_ofd_free(w);
		table(vm)->pipes--;
		return (fds[0]);
	}
	fds[1] = install(vm, w, (a[1] & O_CLOEXEC) != 0);
	if (fds[1] < 0) {
		(void)tk_fd_close(table(vm), (uint64_t)fds[0]);
		return (fds[1]);
	}
	if (tk_copy_to_guest(vm, a[0], fds, sizeof fds) < 0) {
		(void)tk_fd_close(table(vm), (uint64_t)fds[0]);
		(void)tk_fd_close(table(vm), (uint64_t)fds[1]);
		return (-EFAULT);
	}
	return (0);
}

static int64_t
sys_pipe(struct tk_vm *vm, const uint64_t *a)
{
	const uint64_t args[2] = { a[0], 0 };

	return (sys_pipe2(vm, args));
}

static int64_t
sys_eventfd2(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o;

	if (a[1] & ~(uint64_t)(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE))
		return (-EINVAL);
	o = tk_ofd_new(TK_FILE_EVENTFD, O_RDWR | (int)(a[1] & EFD_NONBLOCK),
	    NULL);
	if (o != NULL) {
		o->count = (uint32_t)a[0];
		o->semaphore = (a[1] & EFD_SEMAPHORE) != 0;
	}
	return (install(vm, o, (a[1] & EFD_CLOEXEC) != 0));
}

static int64_t
sys_eventfd(struct tk_vm *vm, const uint64_t *a)
{
	const uint64_t args[2] = { a[0], 0 };

	return (sys_eventfd2(vm, args));
}

static int64_t
sys_timerfd_create(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o;

	if (a[0] != CLOCK_REALTIME && a[0] != CLOCK_MONOTONIC &&
	    a[0] != CLOCK_BOOTTIME)
		return (a[0] == CLOCK_REALTIME_ALARM ||
		    a[0] == CLOCK_BOOTTIME_ALARM ? -EPERM : -EINVAL);
	if (a[1] & ~(uint64_t)(TFD_CLOEXEC | TFD_NONBLOCK))
		return (-EINVAL);
	o = tk_ofd_new(TK_FILE_TIMERFD, O_RDWR | (int)(a[1] & TFD_NONBLOCK),
	    NULL);
	if (o != NULL)
		o->timer.clock = (int)a[0];
	return (install(vm, o, (a[1] & TFD_CLOEXEC) != 0));
}

static struct tk_ofd *
kind_of(struct tk_vm *vm, uint64_t fd, enum tk_file_kind kind, int64_t *err)
{
	struct tk_ofd *o = tk_fd_get(table(vm), fd);

	*err = o == NULL ? -EBADF : o->kind != kind ? -EINVAL : 0;
	return (*err == 0 ? o : NULL);
}

static void
ns_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000ULL);
	ts->tv_nsec = (long)(ns % 1000000000ULL);
}

static void
timer_get(struct tk_vm *vm, struct tk_ofd *o, struct itimerspec *its)
{
	uint64_t now = tk_now_ns();

	timer_update(vm, &o->timer, now);
	ns_timespec(o->timer.interval, &its->it_interval);
	ns_timespec(o->timer.next > now ? o->timer.next - now : 0,
	    &its->it_value);
}

static int64_t
sys_timerfd_gettime(struct tk_vm *vm, const uint64_t *a)
{
	struct itimerspec its;
	int64_t err;
	struct tk_ofd *o = kind_of(vm, a[0], TK_FILE_TIMERFD, &err);

	if (o == NULL)
		return (err);
	timer_get(vm, o, &its);
	return (tk_copy_to_guest(vm, a[1], &its, sizeof its));
}

static int64_t
sys_timerfd_settime(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t interval, value, abs_now, now = tk_now_ns();
	struct itimerspec old;
	struct timespec clk;
	int64_t err;
	struct tk_ofd *o = kind_of(vm, a[0], TK_FILE_TIMERFD, &err);

	if (o == NULL)
		return (err);
	if (a[1] & ~(uint64_t)(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
		return (-EINVAL);
	err = tk_linux_timespec_ns(vm, a[2], &interval);
	if (err == 0)
		err = tk_linux_timespec_ns(vm, a[2] + sizeof(struct timespec),
		    &value);
	if (err < 0)
		return (err);
	timer_get(vm, o, &old);
	if (value != 0 && (a[1] & TFD_TIMER_ABSTIME)) {
		/* An absolute time on the timer's clock, as a distance; one
		 * already past expires at once. */
		(void)clock_gettime(o->timer.clock, &clk);
		abs_now = (uint64_t)clk.tv_sec * 1000000000ULL +
		    (uint64_t)clk.tv_nsec;
		value = value > abs_now ? value - abs_now : 1;
	}
	o->timer.ticks = 0;
	o->timer.interval = value != 0 ? interval : 0;
	o->timer.next = value == 0 ? 0 : value > FOREVER - now ? FOREVER : now + value;
	tk_files_touch(table(vm));
	if (a[3] != 0 && tk_copy_to_guest(vm, a[3], &old, sizeof old) < 0)
		return (-EFAULT);
	return (0);
}

/* --- waiting ------------------------------------------------------------ */

/*
 * When a wait that began at (now) with (timeout_ns) ends, or (soonest) if
 * earlier; FOREVER if nothing could ever end it (the caller says so and
 * stops).  A wait computes its end once: timers that wake it do not
 * restart its timeout.
 */
static uint64_t
wait_until(uint64_t now, uint64_t timeout_ns, uint64_t soonest)
{
	uint64_t until = timeout_ns == FOREVER ? FOREVER :
	    timeout_ns > FOREVER - now ? FOREVER - 1 : now + timeout_ns;

	return (soonest < until ? soonest : until);
}

/* Waits on (n) pollfds in host memory; timeout in ns or FOREVER. */
static int64_t
poll_wait(struct tk_vm *vm, struct pollfd *fds, uint64_t n,
    uint64_t timeout_ns)
{
	uint64_t now, soonest, until, i, end;
	int64_t count = 0;
	struct tk_ofd *o;

	end = wait_until(tk_now_ns(), timeout_ns, FOREVER);
	for (;;) {
		now = tk_now_ns();
		soonest = FOREVER;
		for (i = 0, count = 0; i < n; i++) {
			fds[i].revents = 0;
			if (fds[i].fd < 0)
				continue;
			o = tk_fd_get(table(vm), (uint64_t)(uint32_t)fds[i].fd);
			fds[i].revents = o == NULL ? POLLNVAL : ready(vm, o, now) &
			    (fds[i].events | POLLHUP | POLLERR);
			soonest = next_timer(o, soonest);
			count += fds[i].revents != 0;
		}
		until = soonest < end ? soonest : end;
		if (count > 0 || now >= end)
			return (count);
		if (until == FOREVER)
			return (blocked_forever(vm, "a wait (poll, select)"));
		tk_linux_sleep_until(vm, until);
		if (vm->stopped)
			return (-EINTR);
	}
}

/* poll over (n) pollfds at (gva). */
static int64_t
poll_ns(struct tk_vm *vm, uint64_t gva, uint64_t n, uint64_t timeout_ns)
{
	struct pollfd *fds;
	int64_t count;

	if (n > POLL_MAX)
		return (-EINVAL);
	fds = calloc(n ? n : 1, sizeof *fds);
	if (fds == NULL)
		return (-ENOMEM);
	if (tk_copy_from_guest(vm, fds, gva, n * sizeof *fds) < 0) {
		free(fds);
		return (-EFAULT);
	}
	count = poll_wait(vm, fds, n, timeout_ns);
	if (count >= 0 && tk_copy_to_guest(vm, gva, fds, n * sizeof *fds) < 0)
		count = -EFAULT;
	free(fds);
	return (count);
}

/*
 * select over the first (nfds) descriptors of three fd_sets at (set[]),
 * as poll: a descriptor past the table's end cannot be open, so (nfds)
 * is cut there, as Linux cuts it at its own.
 */
static int64_t
select_ns(struct tk_vm *vm, uint64_t nfds, const uint64_t set[3],
    uint64_t timeout_ns)
{
	static const short want[3] = { POLLIN, POLLOUT, POLLPRI };
	static const short got[3] = { POLLIN | POLLHUP | POLLERR,
		POLLOUT | POLLERR, POLLPRI };
	uint64_t bits[3][TK_FDS_MAX / 64], n, k, fd;
	struct pollfd *fds;
	int64_t r, count = 0;

	if ((int)nfds < 0)
		return (-EINVAL);
	n = (uint32_t)nfds < TK_FDS_MAX ? (uint32_t)nfds : TK_FDS_MAX;
	memset(bits, 0, sizeof bits);
	for (k = 0; k < 3; k++)
		if (set[k] != 0 && tk_copy_from_guest(vm, bits[k], set[k],
		    (n + 7) / 8) < 0)
			return (-EFAULT);
	/* On the heap: VMOD worker stacks are small. */
	fds = calloc(TK_FDS_MAX, sizeof *fds);
	if (fds == NULL)
		return (-ENOMEM);
	for (fd = 0, k = 0; fd < n; fd++) {
		fds[k].events = 0;
		for (int s3 = 0; s3 < 3; s3++)
			if ((bits[s3][fd / 64] >> (fd % 64)) & 1)
				fds[k].events |= want[s3];
		if (fds[k].events != 0)
			fds[k++].fd = (int)fd;
	}
	r = poll_wait(vm, fds, k, timeout_ns);
	memset(bits, 0, sizeof bits);
	for (uint64_t i = 0; r >= 0 && i < k; i++) {
		if (fds[i].revents & POLLNVAL)
			r = -EBADF;
		for (int s3 = 0; s3 < 3; s3++)
			if ((fds[i].events & want[s3]) && (fds[i].revents & got[s3])) {
				bits[s3][fds[i].fd / 64] |= 1ULL << (fds[i].fd % 64);
				count++;
			}
	}
	free(fds);
	if (r < 0)
		return (r);
	for (k = 0; k < 3; k++)
		if (set[k] != 0 && tk_copy_to_guest(vm, set[k], bits[k],
		    (n + 7) / 8) < 0)
			return (-EFAULT);
	return (count);
}

static int64_t
sys_select(struct tk_vm *vm, const uint64_t *a)
{
	const uint64_t set[3] = { a[1], a[2], a[3] };
	struct timeval tv;
	uint64_t ns = FOREVER;

	if (a[4] != 0) {
		if (tk_copy_from_guest(vm, &tv, a[4], sizeof tv) < 0)
			return (-EFAULT);
		if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000)
			return (-EINVAL);
		ns = (uint64_t)tv.tv_sec > (FOREVER >> 1) / 1000000000ULL ?
		    FOREVER >> 1 : (uint64_t)tv.tv_sec * 1000000000ULL +
		    (uint64_t)tv.tv_usec * 1000ULL;
	}
	return (select_ns(vm, a[0], set, ns));
}

/* pselect6: a timespec; the signal mask changes nothing (no signals). */
static int64_t
sys_pselect6(struct tk_vm *vm, const uint64_t *a)
{
	const uint64_t set[3] = { a[1], a[2], a[3] };
	uint64_t ns = FOREVER;
	int64_t r;

	if (a[4] != 0 && (r = tk_linux_timespec_ns(vm, a[4], &ns)) < 0)
		return (r);
	return (select_ns(vm, a[0], set, ns));
}

static int64_t
sys_poll(struct tk_vm *vm, const uint64_t *a)
{
	int ms = (int)a[2];

	return (poll_ns(vm, a[0], a[1], ms < 0 ? FOREVER :
	    (uint64_t)ms * 1000000ULL));
}

/* ppoll: a timespec timeout (NULL: forever); the signal mask changes
 * nothing, since no signal is ever delivered. */
static int64_t
sys_ppoll(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t ns = FOREVER;
	int64_t r;

	if (a[2] != 0 && (r = tk_linux_timespec_ns(vm, a[2], &ns)) < 0)
		return (r);
	return (poll_ns(vm, a[0], a[1], ns));
}

static int64_t
sys_epoll_create1(struct tk_vm *vm, const uint64_t *a)
{
	struct tk_ofd *o;

	if (a[0] & ~(uint64_t)EPOLL_CLOEXEC)
		return (-EINVAL);
	if (table(vm)->epolls >= TK_EPOLLS_MAX)
		return (-EMFILE);
	o = tk_ofd_new(TK_FILE_EPOLL, O_RDWR, NULL);
	if (o != NULL && (o->epoll = calloc(1, sizeof *o->epoll)) == NULL) {
		tk_ofd_free(o);
		o = NULL;
	}
	return (install(vm, o, (a[0] & EPOLL_CLOEXEC) != 0));
}

static int64_t
sys_epoll_create(struct tk_vm *vm, const uint64_t *a)
{
	const uint64_t args[1] = { 0 };

	return ((int)a[0] <= 0 ? -EINVAL : sys_epoll_create1(vm, args));
}

static int64_t
sys_epoll_ctl(struct tk_vm *vm, const uint64_t *a)
{
	struct epoll_event ev = { 0, { 0 } };
	struct tk_ofd *target;
	struct tk_epoll *ep;
	int64_t err;
	struct tk_ofd *o = kind_of(vm, a[0], TK_FILE_EPOLL, &err);
	int fd = (int)a[2];
	unsigned i;

	if (o == NULL)
		return (err);
	target = tk_fd_get(table(vm), (uint32_t)fd);
	if (target == NULL)
		return (-EBADF);
	if (target == o)
		return (-EINVAL);
	/* As Linux: files and directories are always ready, so never watched. */
	if (target->kind == TK_FILE_REG || target->kind == TK_FILE_DIR)
		return (-EPERM);
	if (a[1] != EPOLL_CTL_DEL &&
	    tk_copy_from_guest(vm, &ev, a[3], sizeof ev) < 0)
		return (-EFAULT);
	ep = o->epoll;
	for (i = 0; i < ep->n && ep->items[i].fd != fd; i++)
		continue;
	switch (a[1]) {
	case EPOLL_CTL_ADD:
		if (i < ep->n)
			return (-EEXIST);
		if (ep->n == TK_FDS_MAX)
			return (-ENOSPC);
		ep->n++;
		break;
	case EPOLL_CTL_MOD:
	case EPOLL_CTL_DEL:
		if (i == ep->n)
			return (-ENOENT);
		if (a[1] == EPOLL_CTL_DEL) {
			ep->items[i] = ep->items[--ep->n];
			tk_files_touch(table(vm));
			return (0);
		}
		break;
	default:
		return (-EINVAL);
	}
	ep->items[i].fd = fd;
	ep->items[i].events = ev.events;
	ep->items[i].data = ev.data.u64;
	tk_files_touch(table(vm));
	return (0);
}

/* Fills up to (max) ready events of (ep) into (out); their count. */
static int
epoll_scan(struct tk_vm *vm, struct tk_epoll *ep, struct epoll_event *out,
    int max, uint64_t now, uint64_t *soonest)
{
	struct tk_ofd *t;
	short r;
	int n = 0;

	for (unsigned i = 0; i < ep->n && n < max; i++) {
		t = tk_fd_get(table(vm), (uint32_t)ep->items[i].fd);
		if (t == NULL)
			continue;	/* closed: Linux drops it too */
		r = ready(vm, t, now) & (short)(ep->items[i].events |
		    EPOLLHUP | EPOLLERR);
		*soonest = next_timer(t, *soonest);
		if (r == 0)
			continue;
		out[n].events = (uint32_t)(uint16_t)r;
		out[n].data.u64 = ep->items[i].data;
		n++;
		/* EPOLLONESHOT: reported once, then off until EPOLL_CTL_MOD. */
		if (ep->items[i].events & EPOLLONESHOT)
			ep->items[i].events &= EPOLLONESHOT | EPOLLET;
	}
	return (n);
}

static int64_t
epoll_wait_ns(struct tk_vm *vm, const uint64_t *a, uint64_t timeout_ns)
{
	int max = (int)a[2], n;
	uint64_t now, soonest, until, end;
	struct epoll_event *out;
	int64_t err;
	struct tk_ofd *o = kind_of(vm, a[0], TK_FILE_EPOLL, &err);

	if (o == NULL)
		return (err);
	/* As Linux; a set holds at most TK_FDS_MAX items, so no more
	 * events than that are ever reported (libuv asks for 1024). */
	if (max <= 0 || max > INT32_MAX / (int)sizeof *out)
		return (-EINVAL);
	if (max > TK_FDS_MAX)
		max = TK_FDS_MAX;
	out = calloc((size_t)max, sizeof *out);
	if (out == NULL)
		return (-ENOMEM);
	end = wait_until(tk_now_ns(), timeout_ns, FOREVER);
	for (;;) {
		now = tk_now_ns();
		soonest = FOREVER;
		n = epoll_scan(vm, o->epoll, out, max, now, &soonest);
		until = soonest < end ? soonest : end;
		if (n > 0 || now >= end)
			break;
		if (until == FOREVER) {
			free(out);
			return (blocked_forever(vm, "epoll_wait"));
		}
		tk_linux_sleep_until(vm, until);
		if (vm->stopped)
			break;
	}
	tk_files_touch(table(vm));
	err = n > 0 && tk_copy_to_guest(vm, a[1], out, (size_t)n * sizeof *out) < 0 ?
	    -EFAULT : n;
	free(out);
	return (err);
}

static int64_t
sys_epoll_wait(struct tk_vm *vm, const uint64_t *a)
{
	int ms = (int)a[3];

	return (epoll_wait_ns(vm, a, ms < 0 ? FOREVER : (uint64_t)ms * 1000000ULL));
}

static int64_t
sys_epoll_pwait2(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t ns = FOREVER;
	int64_t r;

	if (a[3] != 0 && (r = tk_linux_timespec_ns(vm, a[3], &ns)) < 0)
		return (r);
	return (epoll_wait_ns(vm, a, ns));
}

const struct tk_syscall tk_linux_events_calls[] = {
	{ SYS_poll, sys_poll },
	{ SYS_select, sys_select },
	{ SYS_pselect6, sys_pselect6 },
	{ SYS_pipe, sys_pipe },
	{ SYS_epoll_create, sys_epoll_create },
	{ SYS_epoll_wait, sys_epoll_wait },
	{ SYS_epoll_ctl, sys_epoll_ctl },
	{ SYS_ppoll, sys_ppoll },
	{ SYS_epoll_pwait, sys_epoll_wait },
	{ SYS_timerfd_create, sys_timerfd_create },
	{ SYS_eventfd, sys_eventfd },
	{ SYS_timerfd_settime, sys_timerfd_settime },
	{ SYS_timerfd_gettime, sys_timerfd_gettime },
	{ SYS_eventfd2, sys_eventfd2 },
	{ SYS_epoll_create1, sys_epoll_create1 },
	{ SYS_pipe2, sys_pipe2 },
	{ SYS_epoll_pwait2, sys_epoll_pwait2 },
	{ 0, NULL },		/* the end: fn NULL */
};
