/*
 * Programs: loading one (its main VM runs main() until it waits for
 * requests), its pool of forks, and its statistics.  A program loads once,
 * on first use or at start(); requests that arrive meanwhile wait for that
 * one load.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cache/cache.h>
#include <vsb.h>

#include "tkvmod.h"
#include "hypercalls.h"

struct tkvmod_program *
tkvmod_program_find(const struct tkvmod_programs *ps, const char *name)
{
	struct tkvmod_program *p;

	CHECK_OBJ_NOTNULL(ps, TKVMOD_PROGRAMS_MAGIC);
	for (p = ps->list; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

struct tkvmod_program *
tkvmod_program_new(const char *name, struct tkvmod_config *cfg)
{
	struct tkvmod_program *p;

	ALLOC_OBJ(p, TKVMOD_PROGRAM_MAGIC);
	if (p == NULL)
		return (NULL);
	p->name = strdup(name);
	p->forks = calloc(cfg->concurrency, sizeof *p->forks);
	p->dirty = calloc(cfg->concurrency, sizeof *p->dirty);
	if (p->name == NULL || p->forks == NULL || p->dirty == NULL) {
		free(p->name);
		free(p->forks);
		free(p->dirty);
		FREE_OBJ(p);
		return (NULL);
	}
	p->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg);
	AZ(pthread_mutex_init(&p->mtx, NULL));
	AZ(pthread_cond_init(&p->cond, NULL));
	return (p);
}

void
tkvmod_program_free(struct tkvmod_program *p)
{
	unsigned i;

	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	/* At discard no request runs: every fork is back in the pool. */
	for (i = 0; i < p->free_forks; i++)
		tk_vm_destroy(p->forks[i]);
	for (i = 0; i < p->n_dirty; i++)
		tk_vm_destroy(p->dirty[i]);
	tk_vm_destroy(p->main);
	tkvmod_config_free(&p->cfg);
	AZ(pthread_mutex_destroy(&p->mtx));
	AZ(pthread_cond_destroy(&p->cond));
	free(p->forks);
	free(p->dirty);
	free(p->name);
	FREE_OBJ(p);
}

static uint64_t
seconds_ns(double s)
{
	return ((uint64_t)(s * 1e9));
}

/* Which KVM runs (p) and what protects it, read from inside its VM, for the load log. */
static void
platform_describe(struct tkvmod_program *p)
{
	struct tk_platform plat;
	char err[200];

	if (tk_vm_platform(p->main, &plat, err, sizeof err) == 0)
		tk_platform_describe(&plat, p->platform, sizeof p->platform);
	else
		snprintf(p->platform, sizeof p->platform, "unknown (%s)", err);
}

/* Runs main() to wait_for_requests and makes the forks; the reason in p->error. */
static int
program_boot(struct tkvmod_program *p)
{
	struct tk_vm_config vc = {
		.max_memory = p->cfg.max_memory,
		.argv = (const char *const *)p->cfg.argv,
		.envp = (const char *const *)p->cfg.envp,
		.hypercall = tkvmod_hypercall,
		.write = tkvmod_guest_write,
		.forkable = 1,
	};
	struct tk_fork_config fc = { .max_request_memory = p->cfg.max_request_memory };
	struct tk_result res;
	char err[256] = "";
	unsigned i;

	if (tk_vm_create(&p->main, p->cfg.filename, &vc, err, sizeof err) != 0) {
		snprintf(p->error, sizeof p->error, "%.200s: %.250s",
		    p->cfg.filename, err);
		return (-1);
	}
	platform_describe(p);
	(void)tk_vm_run(p->main, seconds_ns(p->cfg.max_boot_time), &res);
	switch (res.stop) {
	case TK_STOP_WAIT:
		break;
	case TK_STOP_EXIT:
		snprintf(p->error, sizeof p->error, "exited with status %d before "
		    "waiting for requests", res.exit_status);
		return (-1);
	case TK_STOP_TIMEOUT:
		snprintf(p->error, sizeof p->error, "did not wait for requests "
		    "within max_boot_time (%.3g s)", p->cfg.max_boot_time);
		return (-1);
	default:
		snprintf(p->error, sizeof p->error, "failed while initialising: %s",
		    res.message);
		return (-1);
	}
	if (tk_vm_handler(p->main, TINYKVM_HANDLER_GET) == 0 &&
	    tk_vm_handler(p->main, TINYKVM_HANDLER_POST) == 0) {
		snprintf(p->error, sizeof p->error, "registered no request handler "
		    "before waiting for requests");
		return (-1);
	}
	for (i = 0; i < p->cfg.concurrency; i++) {
		if (tk_vm_fork(&p->forks[i], p->main, &fc, err, sizeof err) != 0) {
			snprintf(p->error, sizeof p->error, "cannot fork: %.250s", err);
			return (-1);
		}
		p->free_forks++;
	}
	return (0);
}

int
tkvmod_program_load(VRT_CTX, struct tkvmod_program *p)
{
	int r;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	/* Loaded once, ready for good: no lock on the request path. */
	if (atomic_load_explicit(&p->ready, memory_order_acquire))
		return (0);
	AZ(pthread_mutex_lock(&p->mtx));
	while (p->state == TKVMOD_LOADING)
		AZ(pthread_cond_wait(&p->cond, &p->mtx));
	if (p->state != TKVMOD_UNLOADED) {
		r = p->state == TKVMOD_READY ? 0 : -1;
		AZ(pthread_mutex_unlock(&p->mtx));
		return (r);
	}
	p->state = TKVMOD_LOADING;
	AZ(pthread_mutex_unlock(&p->mtx));

	/* Outside the lock: main() may take up to max_boot_time. */
	r = program_boot(p);
	if (r == 0 && ctx->vsl != NULL)
		VSLb(ctx->vsl, SLT_VCL_Log, "tinykvm: program '%s' loaded; "
		    "platform: %s", p->name, p->platform);
	else if (r == 0)
		VSL(SLT_VCL_Log, 0, "tinykvm: program '%s' loaded; platform: %s",
		    p->name, p->platform);

	AZ(pthread_mutex_lock(&p->mtx));
	p->state = r == 0 ? TKVMOD_READY : TKVMOD_FAILED;
	atomic_store_explicit(&p->ready, r == 0, memory_order_release);
	AZ(pthread_cond_broadcast(&p->cond));
	AZ(pthread_mutex_unlock(&p->mtx));
	return (r);
}

/*
 * Resets (fork) outside the lock; a fork that cannot be reset cannot be
 * trusted, so a new one replaces it (NULL if even that fails).  Adds the
 * reset to (p)'s counters under the lock the caller takes next.
 */
static struct tk_vm *
fork_reset(struct tkvmod_program *p, struct tk_vm *fork, double *seconds,
    uint64_t *dirty)
{
	struct tk_fork_config fc = { .max_request_memory = p->cfg.max_request_memory };
	char err[256];
	double t0 = tkvmod_now();

	*dirty = tk_vm_dirty_pages(fork);
	if (tk_vm_reset(fork, TK_RESET_KEEP) != 0) {
		tk_vm_destroy(fork);
		if (tk_vm_fork(&fork, p->main, &fc, err, sizeof err) != 0)
			fork = NULL;
	}
	*seconds = tkvmod_now() - t0;
	return (fork);
}

static void
reset_count(struct tkvmod_program *p, double seconds, uint64_t dirty)
{
	p->stats.resets++;
	p->stats.dirty_pages += dirty;
	p->stats.reset_seconds += seconds;
}

/*
 * A clean fork if one is free, else one left dirty by a finished request
 * (reset here, by us), else wait up to max_queue_time.  One lock.
 */
struct tk_vm *
tkvmod_fork_acquire(struct tkvmod_program *p, const char **why)
{
	struct timespec deadline;
	struct tk_vm *fork = NULL;
	double whole, seconds;
	uint64_t dirty;
	int r = 0, reset = 0;

	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	AZ(pthread_mutex_lock(&p->mtx));
	p->stats.requests++;
	if (p->free_forks == 0 && p->n_dirty == 0) {
		p->stats.queue_waits++;
		AZ(clock_gettime(CLOCK_REALTIME, &deadline));
		deadline.tv_nsec += (long)(modf(p->cfg.max_queue_time, &whole) * 1e9);
		deadline.tv_sec += (time_t)whole + deadline.tv_nsec / 1000000000;
		deadline.tv_nsec %= 1000000000;
	}
	while (p->free_forks == 0 && p->n_dirty == 0 && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&p->cond, &p->mtx, &deadline);
	if (p->free_forks > 0) {
		fork = p->forks[--p->free_forks];
	} else if (p->n_dirty > 0) {
		fork = p->dirty[--p->n_dirty];
		reset = 1;
	} else {
		p->stats.queue_rejections++;
		p->stats.failures++;
		*why = "no free VM within max_queue_time";
	}
	AZ(pthread_mutex_unlock(&p->mtx));
	if (reset) {
		fork = fork_reset(p, fork, &seconds, &dirty);
		AZ(pthread_mutex_lock(&p->mtx));
		reset_count(p, seconds, dirty);
		AZ(pthread_mutex_unlock(&p->mtx));
		if (fork == NULL) {
			*why = "a VM could not be reset and none could replace it";
			AZ(pthread_mutex_lock(&p->mtx));
			p->stats.failures++;
			AZ(pthread_mutex_unlock(&p->mtx));
		}
	}
	return (fork);
}

/* Gives (fork) back: reset first if (reset); (run_seconds) to the counters. */
void
tkvmod_fork_release(struct tkvmod_program *p, struct tk_vm *fork, int reset,
    double run_seconds)
{
	double seconds = 0;
	uint64_t dirty = 0;

	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	if (reset)
		fork = fork_reset(p, fork, &seconds, &dirty);
	AZ(pthread_mutex_lock(&p->mtx));
	if (reset)
		reset_count(p, seconds, dirty);
	if (run_seconds >= 0)
		tkvmod_run_count(p, run_seconds);
	if (fork != NULL) {
		p->forks[p->free_forks++] = fork;
		AZ(pthread_cond_signal(&p->cond));
	}
	AZ(pthread_mutex_unlock(&p->mtx));
}

/*
 * Gives (fork) back unreset: whoever needs it first resets it, the request
 * that used it (tkvmod_fork_reset_dirty, after delivery) or the next
 * acquire.  Nothing waits for a reset the client is still waiting on.
 */
void
tkvmod_fork_release_dirty(struct tkvmod_program *p, struct tk_vm *fork,
    double run_seconds)
{
	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	AZ(pthread_mutex_lock(&p->mtx));
	assert(p->n_dirty + p->free_forks < p->cfg.concurrency);
	tkvmod_run_count(p, run_seconds);
	p->dirty[p->n_dirty++] = fork;
	AZ(pthread_cond_signal(&p->cond));
	AZ(pthread_mutex_unlock(&p->mtx));
}

/* Resets (fork) if it is still dirty in the pool (no one took it since). */
void
tkvmod_fork_reset_dirty(struct tkvmod_program *p, struct tk_vm *fork)
{
	unsigned i;
	int found = 0;

	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	AZ(pthread_mutex_lock(&p->mtx));
	for (i = 0; i < p->n_dirty; i++) {
		if (p->dirty[i] == fork) {
			p->dirty[i] = p->dirty[--p->n_dirty];
			found = 1;
			break;
		}
	}
	AZ(pthread_mutex_unlock(&p->mtx));
	if (found)
		tkvmod_fork_release(p, fork, 1, -1);
}

/* Under p->mtx: one request's run time. */
void
tkvmod_run_count(struct tkvmod_program *p, double seconds)
{
	p->stats.run_seconds += seconds;
	if (seconds > p->stats.run_max)
		p->stats.run_max = seconds;
}

void
tkvmod_stats_json(struct tkvmod_program *p, struct vsb *vsb)
{
	struct tkvmod_stats s;
	enum tkvmod_state state;

	AZ(pthread_mutex_lock(&p->mtx));
	s = p->stats;
	state = p->state;
	AZ(pthread_mutex_unlock(&p->mtx));
	VSB_printf(vsb, "\"%s\": {\"state\": \"%s\", \"requests\": %ju, "
	    "\"failures\": %ju, \"timeouts\": %ju, \"queue_waits\": %ju, "
	    "\"queue_rejections\": %ju, \"run_time_avg\": %.6f, "
	    "\"run_time_max\": %.6f, \"reset_time_avg\": %.6f, "
	    "\"dirty_pages_avg\": %.1f, \"forks\": %u}", p->name,
	    state == TKVMOD_READY ? "ready" : state == TKVMOD_FAILED ? "failed" :
	    state == TKVMOD_LOADING ? "loading" : "unloaded",
	    (uintmax_t)s.requests, (uintmax_t)s.failures, (uintmax_t)s.timeouts,
	    (uintmax_t)s.queue_waits, (uintmax_t)s.queue_rejections,
	    s.requests ? s.run_seconds / (double)s.requests : 0, s.run_max,
	    s.resets ? s.reset_seconds / (double)s.resets : 0,
	    s.resets ? (double)s.dirty_pages / (double)s.resets : 0,
	    state == TKVMOD_READY ? p->cfg.concurrency : 0);
}
