/*
 * Execution timeouts without arming anything per call: one watchdog thread
 * per process looks at the registered vCPUs and kicks any whose deadline
 * has passed (kvm_run->immediate_exit, then a signal to pull the thread out
 * of KVM_RUN).  Arming a call is two stores and a load.
 *
 * While a call is armed, or was lately, the watchdog ticks every 5 ms (or
 * less, to the nearest deadline): a timeout fires at most one tick late,
 * fine for limits given in seconds.  After PARK_NS with nothing armed it
 * parks on a condition variable, so an idle varnishd pays nothing for it;
 * the first call armed after that wakes it (one futex call, once per idle
 * spell, never on a busy server).  Parking is a Dekker pair with arming:
 * the watchdog announces `parked`, then looks at the deadlines once more;
 * an armer stores its deadline, then looks at `parked`.  All sequentially
 * consistent, so one of the two sees the other and no call goes unwatched.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "tk_internal.h"

#define TICK_NS		5000000L
#define PARK_NS		50000000ULL	/* idle this long: park */

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
static atomic_int watch_parked;

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
 * Kicks the overdue vCPUs; the nearest deadline still ahead (UINT64_MAX:
 * none) into *nearest.  Returns whether any call is armed.  Under watch_lock.
 */
static int
watch_scan(uint64_t now, uint64_t *nearest)
{
	struct tk_watch *w;
	uint64_t d;
	int armed = 0;

	*nearest = UINT64_MAX;
	for (w = watch_list; w != NULL; w = w->next) {
		d = atomic_load(&w->deadline);
		if (d == 0)
			continue;
		armed = 1;
		if (now < d) {
			*nearest = d < *nearest ? d : *nearest;
			continue;
		}
		w->run->immediate_exit = 1;
		(void)pthread_kill(atomic_load(&w->thread), kick_signal());
	}
	return (armed);
}

/* Nothing armed for PARK_NS: sleeps until a call is armed.  Under watch_lock. */
static void
watch_park(void)
{
	uint64_t nearest;

	atomic_store(&watch_parked, 1);
	/* After the announcement: a call armed before it is seen here. */
	if (!watch_scan(tk_now_ns(), &nearest))
		(void)pthread_cond_wait(&watch_cond, &watch_lock);
	atomic_store(&watch_parked, 0);
}

static void *
watch_main(void *arg)
{
	struct timespec ts;
	uint64_t now, nearest, idle_since = 0, nap;

	(void)arg;
	for (;;) {
		(void)pthread_mutex_lock(&watch_lock);
		while (watch_list == NULL)
			(void)pthread_cond_wait(&watch_cond, &watch_lock);
		now = tk_now_ns();
		if (watch_scan(now, &nearest))
			idle_since = 0;
		else if (idle_since == 0)
			idle_since = now;
		if (idle_since != 0 && now - idle_since >= PARK_NS) {
			watch_park();
			idle_since = 0;
			(void)pthread_mutex_unlock(&watch_lock);
			continue;
		}
		(void)pthread_mutex_unlock(&watch_lock);
		nap = nearest - now < (uint64_t)TICK_NS ? nearest - now :
		    (uint64_t)TICK_NS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)nap;
		(void)nanosleep(&ts, NULL);
	}
	return (NULL);
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
	/* A parked watchdog is woken, once per idle spell (see the top). */
	if (deadline_ns != 0 && atomic_load(&watch_parked)) {
		(void)pthread_mutex_lock(&watch_lock);
		(void)pthread_cond_signal(&watch_cond);
		(void)pthread_mutex_unlock(&watch_lock);
	}
}
