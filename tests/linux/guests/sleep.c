/*
 * Sleeps as programs do (nanosleep, clock_nanosleep relative and absolute,
 * on two clocks) and checks each took at least what it asked; bad
 * arguments get Linux's errors.  Prints what it saw, never a time.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

static long long
now_ns(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return ((long long)t.tv_sec * 1000000000LL + t.tv_nsec);
}

static void
check(const char *what, long long start, long long want_ns, int r)
{
	long long took = now_ns(CLOCK_MONOTONIC) - start;

	printf("%-32s r=%d long enough=%d\n", what, r, took >= want_ns);
}

int
main(void)
{
	struct timespec d = { 0, 30 * 1000000L }, bad = { 0, 1000000000L }, at;
	long long start;
	int r;

	start = now_ns(CLOCK_MONOTONIC);
	r = nanosleep(&d, NULL);
	check("nanosleep 30 ms", start, 30000000LL, r);

	start = now_ns(CLOCK_MONOTONIC);
	r = clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
	check("clock_nanosleep monotonic", start, 30000000LL, r);

	start = now_ns(CLOCK_MONOTONIC);
	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_nsec += 20 * 1000000L;
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL);
	check("clock_nanosleep realtime abs", start, 15000000LL, r);

	at.tv_sec = 1;
	at.tv_nsec = 0;
	start = now_ns(CLOCK_MONOTONIC);
	r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
	check("absolute time in the past", start, 0, r);

	errno = 0;
	r = nanosleep(&bad, NULL);
	printf("%-32s r=%d errno=%d\n", "nanosleep bad tv_nsec", r, errno);
	r = clock_nanosleep(12345, 0, &d, NULL);
	printf("%-32s r=%d\n", "clock_nanosleep bad clock", r);
	return (0);
}
