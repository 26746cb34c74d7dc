/*
 * Clocks, CPU time and sleeping, from the host.  There is no vDSO in the
 * guest, so every clock read is a VM exit: programs that read the clock in
 * a hot loop pay for it.  A sleep blocks the vCPU's thread, never past the
 * run's deadline.
 */
#define _GNU_SOURCE		/* RUSAGE_THREAD */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <sys/syscall.h>

#include "syscalls.h"

/* The host clock a guest clock id reads; -1 for an invalid id. */
static clockid_t
clock_host(uint64_t id)
{
	switch (id) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
		return ((clockid_t)id);
	case CLOCK_PROCESS_CPUTIME_ID:
	case CLOCK_THREAD_CPUTIME_ID:
		/* The vCPU thread's time is the guest's time. */
		return (CLOCK_THREAD_CPUTIME_ID);
	default:
		return ((clockid_t)-1);
	}
}

static int64_t
sys_clock_gettime(struct tk_vm *vm, const uint64_t *a)
{
	clockid_t id = clock_host(a[0]);
	struct timespec ts;

	if (id == (clockid_t)-1)
		return (-EINVAL);
	(void)clock_gettime(id, &ts);
	return (tk_copy_to_guest(vm, a[1], &ts, sizeof ts));
}

static int64_t
sys_clock_getres(struct tk_vm *vm, const uint64_t *a)
{
	clockid_t id = clock_host(a[0]);
	struct timespec ts;

	if (id == (clockid_t)-1)
		return (-EINVAL);
	if (a[1] == 0)
		return (0);
	(void)clock_getres(id, &ts);
	return (tk_copy_to_guest(vm, a[1], &ts, sizeof ts));
}

static int64_t
sys_gettimeofday(struct tk_vm *vm, const uint64_t *a)
{
	struct timeval tv;
	struct timezone tz = { 0, 0 };

	(void)gettimeofday(&tv, NULL);
	if (a[0] != 0 && tk_copy_to_guest(vm, a[0], &tv, sizeof tv) < 0)
		return (-EFAULT);
	if (a[1] != 0 && tk_copy_to_guest(vm, a[1], &tz, sizeof tz) < 0)
		return (-EFAULT);
	return (0);
}

static int64_t
sys_time(struct tk_vm *vm, const uint64_t *a)
{
	int64_t now = (int64_t)time(NULL);

	if (a[0] != 0 && tk_copy_to_guest(vm, a[0], &now, sizeof now) < 0)
		return (-EFAULT);
	return (now);
}

static int64_t
sys_getrandom(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t len = a[1] > (32u << 20) ? (32u << 20) : a[1];
	void *p = tk_mem_user(vm, a[0], len, 1);
	uint64_t done = 0;
	ssize_t n;

	if (p == NULL)
		return (-EFAULT);
	while (done < len) {
		n = getrandom((char *)p + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (done > 0 ? (int64_t)done : -errno);
		}
		done += (uint64_t)n;
	}
	return ((int64_t)done);
}

/*
 * CPU time: the vCPU thread's, all counted as user time (the host's work
 * for the guest included, which Linux would count as system time).
 */
static struct timespec
cpu_time(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (ts);
}

static int64_t
sys_getrusage(struct tk_vm *vm, const uint64_t *a)
{
	const int64_t who = (int64_t)a[0];
	struct timespec ts = cpu_time();
	struct rusage ru;

	if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN && who != RUSAGE_THREAD)
		return (-EINVAL);
	memset(&ru, 0, sizeof ru);
	if (who != RUSAGE_CHILDREN) {	/* no child ever runs */
		ru.ru_utime.tv_sec = ts.tv_sec;
		ru.ru_utime.tv_usec = ts.tv_nsec / 1000;
	}
	return (tk_copy_to_guest(vm, a[1], &ru, sizeof ru));
}

/* Clock ticks as the guest's libc counts them (USER_HZ, 100 on x86-64). */
#define USER_HZ		100

static int64_t
ticks(struct timespec ts)
{
	return ((int64_t)ts.tv_sec * USER_HZ + ts.tv_nsec / (1000000000 / USER_HZ));
}

static int64_t
sys_times(struct tk_vm *vm, const uint64_t *a)
{
	struct timespec now;
	struct tms t;

	memset(&t, 0, sizeof t);
	t.tms_utime = (clock_t)ticks(cpu_time());
	if (a[0] != 0 && tk_copy_to_guest(vm, a[0], &t, sizeof t) < 0)
		return (-EFAULT);
	(void)clock_gettime(CLOCK_BOOTTIME, &now);
	return (ticks(now));
}

/*
 * Sleeps until (until), CLOCK_MONOTONIC ns, or the run's deadline if that
 * comes first: the watchdog then ends the run as for a loop.
 */
void
tk_linux_sleep_until(struct tk_vm *vm, uint64_t until)
{
	int overdue = vm->run_deadline != 0 && until >= vm->run_deadline;
	struct timespec ts;

	if (overdue)
		until = vm->run_deadline;
	ts.tv_sec = (time_t)(until / 1000000000ULL);
	ts.tv_nsec = (long)(until % 1000000000ULL);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		continue;
	/* Ended here, not by the watchdog's kick, which may come late. */
	if (overdue)
		tk_stop(vm, TK_STOP_TIMEOUT, 0, 0, "timed out after %.3g s",
		    (double)vm->run_timeout_ns / 1e9);
}

/* A guest timespec as ns; -EFAULT or -EINVAL as Linux checks it. */
int64_t
tk_linux_timespec_ns(struct tk_vm *vm, uint64_t gva, uint64_t *ns)
{
	struct timespec ts;

	if (tk_copy_from_guest(vm, &ts, gva, sizeof ts) < 0)
		return (-EFAULT);
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000L)
		return (-EINVAL);
	/* Past 2^63 ns (292 years) is forever, and forever is that. */
	*ns = (uint64_t)ts.tv_sec > (UINT64_MAX >> 1) / 1000000000ULL ?
	    UINT64_MAX >> 1 : (uint64_t)ts.tv_sec * 1000000000ULL +
	    (uint64_t)ts.tv_nsec;
	return (0);
}

static int64_t
sys_nanosleep(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t ns, now = tk_now_ns();
	int64_t r = tk_linux_timespec_ns(vm, a[0], &ns);

	if (r < 0)
		return (r);
	tk_linux_sleep_until(vm, ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
	return (0);
}

static int64_t
sys_clock_nanosleep(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t ns, now = tk_now_ns(), until;
	struct timespec clk;
	int64_t r;

	if (a[0] != CLOCK_REALTIME && a[0] != CLOCK_MONOTONIC &&
	    a[0] != CLOCK_BOOTTIME)
		return (clock_host(a[0]) == (clockid_t)-1 ? -EINVAL : -ENOTSUP);
	if (a[1] & ~(uint64_t)TIMER_ABSTIME)
		return (-EINVAL);
	r = tk_linux_timespec_ns(vm, a[2], &ns);
	if (r < 0)
		return (r);
	if (a[1] & TIMER_ABSTIME) {
		/* An absolute time on (clock), as a distance from now. */
		(void)clock_gettime((clockid_t)a[0], &clk);
		until = (uint64_t)clk.tv_sec * 1000000000ULL + (uint64_t)clk.tv_nsec;
		ns = ns > until ? ns - until : 0;
	}
	tk_linux_sleep_until(vm, ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
	return (0);
}

const struct tk_syscall tk_linux_time_calls[] = {
	{ SYS_nanosleep, sys_nanosleep },
	{ SYS_clock_nanosleep, sys_clock_nanosleep },
	{ SYS_gettimeofday, sys_gettimeofday },
	{ SYS_time, sys_time },
	{ SYS_clock_gettime, sys_clock_gettime },
	{ SYS_clock_getres, sys_clock_getres },
	{ SYS_getrandom, sys_getrandom },
	{ SYS_getrusage, sys_getrusage },
	{ SYS_times, sys_times },
	{ 0, NULL },		/* the end: fn NULL */
};
