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
	p->cfg = *cfg;
	if (p->name == NULL || tkvmod_pool_init(p) != 0) {
		free(p->name);
		FREE_OBJ(p);
		return (NULL);
	}
	memset(cfg, 0, sizeof *cfg);
	AZ(pthread_mutex_init(&p->mtx, NULL));
	AZ(pthread_cond_init(&p->cond, NULL));
	return (p);
}

void
tkvmod_program_free(struct tkvmod_program *p)
{
	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	/* At discard no request runs: every fork is back in the pool. */
	tkvmod_pool_free(p);
	tk_vm_destroy(p->main);
	tkvmod_config_free(&p->cfg);
	AZ(pthread_mutex_destroy(&p->mtx));
	AZ(pthread_cond_destroy(&p->cond));
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
		.read_paths = p->cfg.read_paths,
		.n_read_paths = p->cfg.n_read_paths,
		.no_system_libs = !p->cfg.system_libraries,
		.hypercall = tkp_hypercall,
		.write = tkp_guest_write,
		.forkable = 1,
	};
	struct tk_fork_config fc = { .max_request_memory = p->cfg.max_request_memory };
	struct tk_result res;
	struct tk_vm *fork;
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
		if (tk_vm_fork(&fork, p->main, &fc, err, sizeof err) != 0) {
			snprintf(p->error, sizeof p->error, "cannot fork: %.250s", err);
			return (-1);
		}
		tkvmod_pool_add(p, i, fork);
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

void
tkvmod_stats_json(struct tkvmod_program *p, struct vsb *vsb)
{
	const struct tkvmod_stats *s = &p->stats;
	uint64_t requests = s->requests, resets = s->resets;
	enum tkvmod_state state;

	AZ(pthread_mutex_lock(&p->mtx));
	state = p->state;
	AZ(pthread_mutex_unlock(&p->mtx));
	VSB_printf(vsb, "\"%s\": {\"state\": \"%s\", \"requests\": %ju, "
	    "\"failures\": %ju, \"timeouts\": %ju, \"queue_waits\": %ju, "
	    "\"queue_rejections\": %ju, \"run_time_avg\": %.6f, "
	    "\"run_time_max\": %.6f, \"reset_time_avg\": %.6f, "
	    "\"dirty_pages_avg\": %.1f, \"forks\": %u}", p->name,
	    state == TKVMOD_READY ? "ready" : state == TKVMOD_FAILED ? "failed" :
	    state == TKVMOD_LOADING ? "loading" : "unloaded",
	    (uintmax_t)requests, (uintmax_t)s->failures, (uintmax_t)s->timeouts,
	    (uintmax_t)s->queue_waits, (uintmax_t)s->queue_rejections,
	    requests ? (double)s->run_ns / 1e9 / (double)requests : 0,
	    (double)s->run_max_ns / 1e9,
	    resets ? (double)s->reset_ns / 1e9 / (double)resets : 0,
	    resets ? (double)s->dirty_pages / (double)resets : 0,
	    state == TKVMOD_READY ? p->cfg.concurrency : 0);
}
