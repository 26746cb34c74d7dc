/*
 * Execution timeouts without arming anything per call: one watchdog thread
 * per process scans the registered vCPUs every tick and kicks any whose
 * deadline has passed (kvm_run->immediate_exit, then a signal to pull the
 * thread out of KVM_RUN).  Arming a call is two stores.  A tick is 5 ms, so a
 * timeout fires at most one tick late: fine for limits given in seconds.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "tk_internal.h"

#define TICK_NS		5000000L

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

static void *
watch_main(void *arg)
{
	struct timespec tick = { 0, TICK_NS };
	struct tk_watch *w;
	uint64_t now, d;

	(void)arg;
	for (;;) {
		(void)pthread_mutex_lock(&watch_lock);
		while (watch_list == NULL)
			(void)pthread_cond_wait(&watch_cond, &watch_lock);
		now = tk_now_ns();
		for (w = watch_list; w != NULL; w = w->next) {
			d = atomic_load_explicit(&w->deadline, memory_order_acquire);
			if (d == 0 || now < d)
				continue;
			w->run->immediate_exit = 1;
			(void)pthread_kill(atomic_load(&w->thread), kick_signal());
		}
		(void)pthread_mutex_unlock(&watch_lock);
		(void)nanosleep(&tick, NULL);
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
	atomic_store_explicit(&w->deadline, deadline_ns, memory_order_release);
}
