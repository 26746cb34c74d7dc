/*
 * One request through a program: a fork from the pool, the request run in
 * it by src/proto (tkp_call_run) with the VMOD's ops, the verdict logged and
 * counted.  The response stays in the fork, which the reply holds until the
 * caller has copied the body where it goes (tkvmod_reply_finish/_defer).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cache/cache.h>

#include "hypercalls.h"

double
tkvmod_now(void)
{
	struct timespec ts;

	AZ(clock_gettime(CLOCK_MONOTONIC, &ts));
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Ends a failed request: status, VSL, counters. */
static int
fail(const struct vrt_ctx *ctx, struct tkvmod_program *p,
    struct tkvmod_reply *reply, int status, int timeout, const char *why)
{
	VSLb(ctx->vsl, SLT_Error, "tinykvm: program '%s': %s", p->name, why);
	reply->status = status;
	reply->failed = 1;
	reply->body_len = 0;
	reply->body = NULL;
	if (timeout)
		p->stats.timeouts++;
	p->stats.failures++;
	return (-1);
}

/* Gives the reply's fork back now, reset if need be; the body goes with it. */
static void
reply_fork_return(struct tkvmod_reply *reply)
{
	reply->body = NULL;
	if (reply->fork == NULL)
		return;
	/* A kept fork frees the request's body; an ephemeral one is reset. */
	if (!reply->reset)
		tk_vm_release(reply->fork, reply->req_body, reply->req_body_len);
	tkvmod_fork_release(reply->program, reply->fork, reply->reset,
	    reply->run_seconds);
	reply->fork = NULL;
}

/* The request's call: (call) for the handler, limits, the VMOD's ops. */
static void
call_prepare(struct tkp_call *c, struct tkvmod_run *run,
    const struct tkvmod_call *call)
{
	tkp_call_init(c, &tkvmod_ops, run);
	c->req.method = call->method;
	c->req.url = call->url;
	c->req.arg = call->arg;
	c->req.content_type = call->content_type;
	c->req.body = call->body;
	c->req.body_len = call->body_len;
	c->max_body = call->max_body != 0 ? call->max_body :
	    run->program->cfg.max_memory;
	c->max_body_what = call->max_body != 0 ? "the workspace" :
	    "the program's memory";
}

/* The call's outcome (tkp_call_run's (r)) into the reply; 1 if it failed. */
static int
call_verdict(const struct tkvmod_run *run, const struct tkp_call *c, int r,
    const struct tk_result *res)
{
	struct tkvmod_reply *reply = run->reply;
	struct tkvmod_program *p = run->program;

	if (r == 0) {
		reply->status = c->resp.status;
		snprintf(reply->content_type, sizeof reply->content_type, "%s",
		    c->resp.content_type);
		/* Still in the fork: the caller copies it once, where it goes. */
		reply->body = c->resp.body;
		reply->body_len = c->resp.body_len;
		return (0);
	}
	if (r == -ENOENT) {
		/* No handler for the method: the program's answer, not a failure. */
		reply->status = 405;
		VSLb(run->ctx->vsl, SLT_VCL_Log, "tinykvm: program '%s' has %s",
		    p->name, c->error);
		return (0);
	}
	if (res->stop == TK_STOP_TIMEOUT)
		(void)fail(run->ctx, p, reply, 503, 1, c->error);
	else
		(void)fail(run->ctx, p, reply, 500, 0, c->error);
	return (1);
}

int
tkvmod_request(const struct vrt_ctx *ctx, struct tkvmod_program *p,
    const struct tkvmod_call *call, struct tkvmod_reply *reply)
{
	struct tkvmod_run run;
	struct tkp_call c;
	struct tk_result res;
	struct tk_vm *fork;
	const char *why = NULL;
	double t0;
	int r, failed;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	memset(reply, 0, sizeof *reply);

	if (tkvmod_program_load(ctx, p) != 0) {
		p->stats.requests++;
		return (fail(ctx, p, reply, 503, 0, p->error));
	}
	fork = tkvmod_fork_acquire(p, &why);
	if (fork == NULL) {
		VSLb(ctx->vsl, SLT_Error, "tinykvm: program '%s': %s (%.3g s)",
		    p->name, why, p->cfg.max_queue_time);
		reply->status = 503;
		reply->failed = 1;
		return (-1);
	}

	INIT_OBJ(&run, TKVMOD_RUN_MAGIC);
	run.ctx = ctx;
	run.program = p;
	run.call = call;
	run.reply = reply;
	call_prepare(&c, &run, call);
	t0 = tkvmod_now();
	run.deadline = t0 + p->cfg.max_request_time;
	r = tkp_call_run(fork, &c, (uint64_t)(p->cfg.max_request_time * 1e9),
	    &res);
	failed = call_verdict(&run, &c, r, &res);

	reply->program = p;
	reply->fork = fork;
	reply->reset = p->cfg.ephemeral || failed;
	reply->req_body = c.req_body_gva;
	reply->req_body_len = call->body_len;
	reply->run_seconds = tkvmod_now() - t0;
	/* Nothing to take out of a failed fork: back (reset) at once. */
	if (failed)
		reply_fork_return(reply);
	return (failed ? -1 : 0);
}

void
tkvmod_reply_finish(struct tkvmod_reply *reply)
{
	reply->n_headers = 0;
	reply_fork_return(reply);
	free(reply->spill);
	reply->spill = NULL;
}

int
tkvmod_reply_spill(struct tkvmod_reply *reply)
{
	char *copy = NULL;
	size_t len = reply->body_len;

	if (reply->fork == NULL)
		return (0);
	if (len > 0 && (copy = malloc(len)) == NULL)
		return (-1);
	if (len > 0)
		memcpy(copy, reply->body, len);
	reply_fork_return(reply);
	reply->body = copy;
	reply->spill = copy;
	return (0);
}
