/*
 * A program's pool of forks: one slot per fork (cfg.concurrency), each with
 * an atomic state.  A request takes a clean fork with one compare-and-swap,
 * else a dirty one (a finished request's, reset after its response was
 * delivered) which it resets itself, and gives it back with one store: no
 * lock on the request path.  Only a request that finds every fork busy
 * takes the program's lock, to sleep until one comes back or its
 * max_queue_time passes.
 *
 * Waking is the usual pairing of a store and a load on both sides (all
 * sequentially consistent): a waiter counts itself in `waiters`, then looks
 * at the slots; a releaser stores the slot's state, then looks at
 * `waiters`.  One of the two sees the other, so no wake-up is lost.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <cache/cache.h>

#include "tkvmod.h"

int
tkvmod_pool_init(struct tkvmod_program *p)
{
	unsigned i;

	p->slots = calloc(p->cfg.concurrency, sizeof *p->slots);
	if (p->slots == NULL)
		return (-1);
	for (i = 0; i < p->cfg.concurrency; i++) {
		atomic_init(&p->slots[i].state, TKVMOD_SLOT_DEAD);
		atomic_init(&p->slots[i].fork, NULL);
	}
	atomic_init(&p->waiters, 0);
	AZ(pthread_cond_init(&p->fork_cond, NULL));
	return (0);
}

void
tkvmod_pool_add(struct tkvmod_program *p, unsigned i, struct tk_vm *fork)
{
	assert(i < p->cfg.concurrency);
	atomic_store(&p->slots[i].fork, fork);
	atomic_store(&p->slots[i].state, TKVMOD_SLOT_CLEAN);
}

void
tkvmod_pool_free(struct tkvmod_program *p)
{
	unsigned i;

	if (p->slots == NULL)
		return;
	for (i = 0; i < p->cfg.concurrency; i++)
		tk_vm_destroy(atomic_load(&p->slots[i].fork));
	free(p->slots);
	p->slots = NULL;
	AZ(pthread_cond_destroy(&p->fork_cond));
}

/* Takes a slot in state (from): its index, or -1. */
static int
slot_take(struct tkvmod_program *p, int from)
{
	unsigned i;
	int s;

	for (i = 0; i < p->cfg.concurrency; i++) {
		s = from;
		if (atomic_load(&p->slots[i].state) == from &&
		    atomic_compare_exchange_strong(&p->slots[i].state, &s,
		    TKVMOD_SLOT_BUSY))
			return ((int)i);
	}
	return (-1);
}

/* The slot holding (fork), or NULL. */
static struct tkvmod_slot *
slot_of(struct tkvmod_program *p, const struct tk_vm *fork)
{
	unsigned i;

	for (i = 0; i < p->cfg.concurrency; i++)
		if (atomic_load(&p->slots[i].fork) == fork)
			return (&p->slots[i]);
	return (NULL);
}

/* Gives slot (sl) back in state (to), and wakes a waiter if there is one. */
static void
slot_give(struct tkvmod_program *p, struct tkvmod_slot *sl, int to)
{
	atomic_store(&sl->state, to);
	if (atomic_load(&p->waiters) == 0)
		return;
	AZ(pthread_mutex_lock(&p->mtx));
	AZ(pthread_cond_signal(&p->fork_cond));
	AZ(pthread_mutex_unlock(&p->mtx));
}

/* A clean slot, else a dirty one (*reset set): its index, or -1. */
static int
slot_take_any(struct tkvmod_program *p, int *reset)
{
	int i = slot_take(p, TKVMOD_SLOT_CLEAN);

	*reset = 0;
	if (i < 0) {
		i = slot_take(p, TKVMOD_SLOT_DIRTY);
		*reset = i >= 0;
	}
	return (i);
}

/* Every fork is busy: sleeps until one comes back or max_queue_time passes. */
static int
slot_wait(struct tkvmod_program *p, int *reset)
{
	struct timespec deadline;
	double whole;
	int i, r = 0;

	p->stats.queue_waits++;
	AZ(clock_gettime(CLOCK_REALTIME, &deadline));
	deadline.tv_nsec += (long)(modf(p->cfg.max_queue_time, &whole) * 1e9);
	deadline.tv_sec += (time_t)whole + deadline.tv_nsec / 1000000000;
	deadline.tv_nsec %= 1000000000;
	AZ(pthread_mutex_lock(&p->mtx));
	atomic_fetch_add(&p->waiters, 1);
	while ((i = slot_take_any(p, reset)) < 0 && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&p->fork_cond, &p->mtx, &deadline);
	atomic_fetch_sub(&p->waiters, 1);
	AZ(pthread_mutex_unlock(&p->mtx));
	return (i);
}

/*
 * Resets the fork of the slot (sl), which we hold.  One that cannot be reset
 * cannot be trusted, so a new fork replaces it; if even that fails, the
 * slot is dead and NULL comes back.  The slot never points at a destroyed
 * fork: lookups by pointer (slot_of) must not find one whose address a new
 * fork elsewhere may reuse.
 */
static struct tk_vm *
slot_reset(struct tkvmod_program *p, struct tkvmod_slot *sl)
{
	struct tk_fork_config fc = { .max_request_memory = p->cfg.max_request_memory };
	struct tk_vm *fork = atomic_load(&sl->fork);
	char err[256];
	double t0 = tkvmod_now();

	p->stats.dirty_pages += tk_vm_dirty_pages(fork);
	if (tk_vm_reset(fork, TK_RESET_KEEP) != 0) {
		atomic_store(&sl->fork, NULL);
		tk_vm_destroy(fork);
		if (tk_vm_fork(&fork, p->main, &fc, err, sizeof err) != 0)
			fork = NULL;
		atomic_store(&sl->fork, fork);
	}
	p->stats.resets++;
	p->stats.reset_ns += (uint64_t)((tkvmod_now() - t0) * 1e9);
	if (fork == NULL)
		slot_give(p, sl, TKVMOD_SLOT_DEAD);
	return (fork);
}

struct tk_vm *
tkvmod_fork_acquire(struct tkvmod_program *p, const char **why)
{
	struct tk_vm *fork;
	int i, reset;

	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	p->stats.requests++;
	i = slot_take_any(p, &reset);
	if (i < 0)
		i = slot_wait(p, &reset);
	if (i < 0) {
		p->stats.queue_rejections++;
		p->stats.failures++;
		*why = "no free VM within max_queue_time";
		return (NULL);
	}
	if (!reset)
		return (atomic_load(&p->slots[i].fork));
	fork = slot_reset(p, &p->slots[i]);
	if (fork == NULL) {
		p->stats.failures++;
		*why = "a VM could not be reset and none could replace it";
	}
	return (fork);
}

void
tkvmod_fork_release(struct tkvmod_program *p, struct tk_vm *fork, int reset,
    double run_seconds)
{
	struct tkvmod_slot *sl;

	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	if (run_seconds >= 0)
		tkvmod_run_count(p, run_seconds);
	sl = slot_of(p, fork);
	AN(sl);
	assert(atomic_load(&sl->state) == TKVMOD_SLOT_BUSY);
	if (reset && slot_reset(p, sl) == NULL)
		return;
	slot_give(p, sl, TKVMOD_SLOT_CLEAN);
}

void
tkvmod_fork_release_dirty(struct tkvmod_program *p, struct tk_vm *fork,
    double run_seconds)
{
	struct tkvmod_slot *sl;

	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	tkvmod_run_count(p, run_seconds);
	sl = slot_of(p, fork);
	AN(sl);
	assert(atomic_load(&sl->state) == TKVMOD_SLOT_BUSY);
	slot_give(p, sl, TKVMOD_SLOT_DIRTY);
}

/*
 * After delivery: resets (fork) if it is still dirty.  Another request may
 * have taken it meanwhile (then it reset it itself), and may even have given
 * it back dirty again: resetting that one now is as good.
 */
void
tkvmod_fork_reset_dirty(struct tkvmod_program *p, struct tk_vm *fork)
{
	struct tkvmod_slot *sl;
	int s = TKVMOD_SLOT_DIRTY;

	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	sl = slot_of(p, fork);
	if (sl == NULL || !atomic_compare_exchange_strong(&sl->state, &s,
	    TKVMOD_SLOT_BUSY))
		return;
	if (slot_reset(p, sl) != NULL)
		slot_give(p, sl, TKVMOD_SLOT_CLEAN);
}

void
tkvmod_run_count(struct tkvmod_program *p, double seconds)
{
	uint64_t ns = (uint64_t)(seconds * 1e9), max;

	p->stats.run_ns += ns;
	max = atomic_load(&p->stats.run_max_ns);
	while (ns > max &&
	    !atomic_compare_exchange_weak(&p->stats.run_max_ns, &max, ns))
		;
}
