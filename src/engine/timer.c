/*
 * Execution timeouts without arming anything per call: one watchdog thread
 * per process kicks any registered vCPU whose deadline has passed
 * (kvm_run->immediate_exit, then a signal to pull the thread out of
 * KVM_RUN).  It sleeps until the nearest deadline, and with nothing armed
 * until a call is armed, so an idle varnishd pays nothing for it.
 *
 * Arming a call is two stores and a load: it wakes the watchdog (one futex
 * call) only when its deadline comes before the watchdog's planned wake-up,
 * `watch_wake_at`.  With one timeout per program that is the first call
 * after an idle spell; later calls end after the deadline the watchdog
 * already waits for.  The watchdog publishes its wake-up, then looks at the
 * deadlines once more; an armer stores its deadline, then looks at the
 * wake-up.  Both sequentially consistent (a Dekker pair), so one of the two
 * sees the other and no deadline is slept through.  A kicked vCPU that is
 * still armed is kicked again every TICK_NS, in case the signal came
 * between its check of immediate_exit and KVM_RUN.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "tk_internal.h"

#define TICK_NS		5000000ULL

struct tk_watch {
	struct kvm_run		*run;
	_Atomic(uint64_t)	deadline;	/* CLOCK_MONOTONIC ns; 0: none */
	_Atomic(pthread_t)	thread;		/* who runs the vCPU now */
	struct tk_watch		*next;
};

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cond = PTHREAD_COND_INITIALIZER;
static struct tk_watch *watch_list;
static int watch_started;
/* When the watchdog will look next (CLOCK_MONOTONIC ns); UINT64_MAX: never. */
static _Atomic(uint64_t) watch_wake_at;

uint64_t
tk_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

static int
kick_signal(void)
{
	/* glibc keeps the first real-time signals for itself. */
	return (SIGRTMIN + 4);
}

static void
kick_handler(int sig)
{
	/* Its only job is to make KVM_RUN return EINTR. */
	(void)sig;
}

/*
 * Kicks the overdue vCPUs when (kick); returns when to look next: the
 * nearest deadline ahead, a tick from now while an overdue vCPU is still
 * armed, UINT64_MAX with nothing armed.  Under watch_lock.
 */
static uint64_t
watch_scan(uint64_t now, int kick)
{
	struct tk_watch *w;
	uint64_t d, next = UINT64_MAX;

	for (w = watch_list; w != NULL; w = w->next) {
		d = atomic_load(&w->deadline);
		if (d == 0)
			continue;
		if (now < d) {
			next = d < next ? d : next;
			continue;
		}
		if (kick) {
			w->run->immediate_exit = 1;
			(void)pthread_kill(atomic_load(&w->thread), kick_signal());
		}
		next = now + TICK_NS < next ? now + TICK_NS : next;
	}
	return (next);
}

/* Sleeps until (when), or until an armer signals.  Under watch_lock. */
static void
watch_sleep(uint64_t when)
{
	struct timespec ts;

	if (when == UINT64_MAX) {
		(void)pthread_cond_wait(&watch_cond, &watch_lock);
		return;
	}
	ts.tv_sec = (time_t)(when / 1000000000ULL);
	ts.tv_nsec = (long)(when % 1000000000ULL);
	(void)pthread_cond_timedwait(&watch_cond, &watch_lock, &ts);
}

static void *
watch_main(void *arg)
{
	uint64_t next, again;

	(void)arg;
	(void)pthread_mutex_lock(&watch_lock);
	for (;;) {
		while (watch_list == NULL)
			(void)pthread_cond_wait(&watch_cond, &watch_lock);
		next = watch_scan(tk_now_ns(), 1);
		/*
		 * Publish, then look again (kicking nobody twice): a call armed
		 * meanwhile is seen.
		 */
		for (;;) {
			atomic_store(&watch_wake_at, next);
			again = watch_scan(tk_now_ns(), 0);
			if (again >= next)
				break;
			next = again;
		}
		watch_sleep(next);
	}
	return (NULL);
}

/*
 * Deadlines are CLOCK_MONOTONIC, so are the watchdog's timed waits.  Before
 * the watchdog starts, under watch_lock: nobody waits on the condition yet.
 */
static void
watch_cond_monotonic(void)
{
	pthread_condattr_t ca;

	(void)pthread_condattr_init(&ca);
	(void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	(void)pthread_cond_destroy(&watch_cond);
	(void)pthread_cond_init(&watch_cond, &ca);
	(void)pthread_condattr_destroy(&ca);
}

static int
watch_start(void)
{
	struct sigaction sa = { .sa_handler = kick_handler, .sa_flags = SA_RESTART };
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int r;

	if (watch_started)
		return (0);
	watch_cond_monotonic();
	atomic_store(&watch_wake_at, UINT64_MAX);
	(void)sigemptyset(&sa.sa_mask);
	if (sigaction(kick_signal(), &sa, NULL) < 0)
		return (-errno);
	/* The watchdog itself must never take the kick. */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	(void)pthread_attr_init(&attr);
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)pthread_attr_setstacksize(&attr, 64 * 1024);
	r = pthread_create(&t, &attr, watch_main, NULL);
	(void)pthread_attr_destroy(&attr);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return (-r);
	watch_started = 1;
	return (0);
}

int
tk_watch_register(struct tk_watch **wp, struct kvm_run *run)
{
	struct tk_watch *w = calloc(1, sizeof *w);
	int r;

	if (w == NULL)
		return (-ENOMEM);
	w->run = run;
	atomic_init(&w->deadline, 0);
	atomic_init(&w->thread, pthread_self());
	(void)pthread_mutex_lock(&watch_lock);
	r = watch_start();
	if (r == 0) {
		w->next = watch_list;
		watch_list = w;
		(void)pthread_cond_signal(&watch_cond);
	}
	(void)pthread_mutex_unlock(&watch_lock);
	if (r != 0) {
		free(w);
		return (r);
	}
	*wp = w;
	return (0);
}

void
tk_watch_unregister(struct tk_watch *w)
{
	struct tk_watch **pp;

	if (w == NULL)
		return;
	(void)pthread_mutex_lock(&watch_lock);
	for (pp = &watch_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	(void)pthread_mutex_unlock(&watch_lock);
	free(w);
}

void
tk_watch_arm(struct tk_watch *w, uint64_t deadline_ns)
{
	if (deadline_ns != 0)
		atomic_store_explicit(&w->thread, pthread_self(),
		    memory_order_relaxed);
	atomic_store(&w->deadline, deadline_ns);
	/* Before the watchdog's next look: wake it (see the top). */
	if (deadline_ns != 0 && deadline_ns < atomic_load(&watch_wake_at)) {
		(void)pthread_mutex_lock(&watch_lock);
		(void)pthread_cond_signal(&watch_cond);
		(void)pthread_mutex_unlock(&watch_lock);
	}
}
