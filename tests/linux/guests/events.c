/*
 * Pipes, eventfd, timerfd, poll and epoll within one process, as event
 * loops use them at start.  Prints what each call answered, never a time,
 * so native and sandboxed runs print the same.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/select.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static char big[100000];
static struct epoll_event big_events[1024];

static void
say(const char *what, long r)
{
	if (r < 0)
		printf("%-30s %ld errno %d\n", what, r, errno);
	else
		printf("%-30s %ld\n", what, r);
}

static long long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ((t.tv_sec - t0->tv_sec) * 1000LL + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

static void
pipes(void)
{
	char buf[16];
	int p[2];

	say("pipe2", pipe2(p, O_NONBLOCK | O_CLOEXEC));
	say("write 5", write(p[1], "hello", 5));
	say("read", read(p[0], buf, sizeof buf));
	printf("got %.5s\n", buf);
	say("read empty, nonblocking", read(p[0], buf, sizeof buf));
	say("fill, nonblocking", write(p[1], big, sizeof big));
	say("write full", write(p[1], "x", 1));
	say("drain", read(p[0], big, sizeof big));
	say("close write end", close(p[1]));
	say("read at EOF", read(p[0], buf, sizeof buf));
	close(p[0]);
	pipe(p);
	{
		char a[5], b[100];
		struct iovec iov[2] = { { a, sizeof a }, { b, sizeof b } };
		int avail = 0;

		say("read 0 bytes, empty pipe", read(p[0], buf, 0));
		write(p[1], "0123456789", 10);
		say("readv 5 + 100 of 10", readv(p[0], iov, 2));
		write(p[1], "abc", 3);
		say("ioctl FIONREAD", ioctl(p[0], FIONREAD, &avail));
		say("bytes waiting", avail);
	}
	close(p[0]);
	close(p[1]);
	signal(SIGPIPE, SIG_IGN);
	pipe(p);
	close(p[0]);
	say("write, no reader", write(p[1], "x", 1));
	close(p[1]);
}

static void
eventfds(void)
{
	uint64_t v = 3;
	int e = eventfd(0, EFD_NONBLOCK), s;

	say("eventfd", e >= 0);
	say("read at 0", read(e, &v, 8));
	v = 3;
	write(e, &v, 8);
	v = 4;
	write(e, &v, 8);
	say("read sum", read(e, &v, 8));
	say("value", (long)v);
	say("short read", read(e, &v, 4));
	s = eventfd(2, EFD_SEMAPHORE);
	read(s, &v, 8);
	say("semaphore read", (long)v);
	read(s, &v, 8);
	say("semaphore again", (long)v);
	close(e);
	close(s);
}

static void
timers(void)
{
	struct itimerspec its = { { 0, 0 }, { 0, 30 * 1000000L } }, cur;
	struct timespec t0;
	uint64_t n = 0;
	int t = timerfd_create(CLOCK_MONOTONIC, 0);

	say("timerfd_create", t >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	say("settime 30 ms", timerfd_settime(t, 0, &its, NULL));
	say("read (blocks)", read(t, &n, 8));
	say("expirations", (long)n);
	say("waited 30 ms", ms_since(&t0) >= 29);
	timerfd_gettime(t, &cur);
	say("disarmed after", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	its.it_interval.tv_nsec = 5 * 1000000L;
	its.it_value.tv_nsec = 5 * 1000000L;
	timerfd_settime(t, 0, &its, NULL);
	usleep(30000);
	read(t, &n, 8);
	say("periodic ticks >= 4", n >= 4);
	close(t);
}

static void
polls(void)
{
	struct pollfd fds[3];
	struct timespec t0;
	int p[2], e = eventfd(0, 0);

	pipe(p);
	fds[0].fd = p[0];
	fds[0].events = POLLIN;
	fds[1].fd = e;
	fds[1].events = POLLOUT;
	fds[2].fd = 999;
	fds[2].events = POLLIN;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	say("poll, pipe empty", poll(fds, 1, 20));
	say("waited 20 ms", ms_since(&t0) >= 19);
	write(p[1], "x", 1);
	say("poll all three", poll(fds, 3, -1));
	printf("revents %#x %#x %#x\n", fds[0].revents, fds[1].revents,
	    fds[2].revents);
	close(p[1]);
	say("poll after close", poll(fds, 1, 0));
	printf("revents %#x\n", fds[0].revents);
	close(p[0]);
	close(e);
	{
		/* A timer ticks, but is not what the poll waits for: the
		 * timeout still ends it, once. */
		struct itimerspec its = { { 0, 2000000L }, { 0, 2000000L } };
		int t = timerfd_create(CLOCK_MONOTONIC, 0);

		timerfd_settime(t, 0, &its, NULL);
		fds[0].fd = t;
		fds[0].events = POLLOUT;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		say("poll, masked timer, 30 ms", poll(fds, 1, 30));
		say("ended near 30 ms", ms_since(&t0) >= 29 && ms_since(&t0) < 1000);
		close(t);
	}
}

static void
selects(void)
{
	struct timeval tv = { 0, 20000 };
	fd_set rd, wr;
	int p[2];

	pipe(p);
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	say("select, pipe empty", select(p[0] + 1, &rd, NULL, NULL, &tv));
	write(p[1], "x", 1);
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(p[0], &rd);
	FD_SET(p[1], &wr);
	say("select read and write", select(p[1] + 1, &rd, &wr, NULL, NULL));
	say("read end set", FD_ISSET(p[0], &rd));
	say("write end set", FD_ISSET(p[1], &wr));
	FD_ZERO(&rd);
	FD_SET(900, &rd);
	tv.tv_usec = 0;
	say("select a closed fd", select(901, &rd, NULL, NULL, &tv));
	close(p[0]);
	close(p[1]);
}

static void
epolls(void)
{
	struct epoll_event ev, out[4];
	struct itimerspec its = { { 0, 0 }, { 0, 10 * 1000000L } };
	int ep = epoll_create1(EPOLL_CLOEXEC), p[2], t, f;

	pipe(p);
	t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	say("epoll_create1", ep >= 0);
	ev.events = EPOLLIN;
	ev.data.u64 = 42;
	say("ctl add pipe", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	say("ctl add again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	ev.data.u64 = 7;
	say("ctl add timerfd", epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev));
	say("wait, nothing", epoll_wait(ep, out, 4, 0));
	write(p[1], "x", 1);
	say("wait, pipe", epoll_wait(ep, out, 4, -1));
	printf("data %llu events %#x\n", (unsigned long long)out[0].data.u64,
	    out[0].events);
	read(p[0], &ev, 1);
	timerfd_settime(t, 0, &its, NULL);
	say("wait, timer (blocks)", epoll_wait(ep, out, 4, -1));
	printf("data %llu\n", (unsigned long long)out[0].data.u64);
	say("ctl del", epoll_ctl(ep, EPOLL_CTL_DEL, t, NULL));
	say("ctl del again", epoll_ctl(ep, EPOLL_CTL_DEL, t, NULL));
	f = open("/dev/null", O_RDONLY);
	say("ctl add itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
	say("ctl add bad fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev));
	close(f);
	/* A closed descriptor leaves the set: its number comes back free. */
	f = eventfd(1, 0);
	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev);
	close(f);
	say("reopened number", eventfd(0, 0) == f);
	say("ctl add reused number", epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev));
	close(f);
	write(p[1], "y", 1);
	say("wait, 1024 events asked", epoll_wait(ep, big_events, 1024, -1));
	close(p[0]);
	close(p[1]);
	close(t);
	close(ep);
}

int
main(void)
{
	pipes();
	eventfds();
	timers();
	polls();
	selects();
	epolls();
	return (0);
}
