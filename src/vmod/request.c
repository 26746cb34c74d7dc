/*
 * One request through a program: a fork from the pool, the request pushed
 * onto its call stack (the body into memory mapped for it), the handler
 * called.  The response stays in the fork, which the reply holds until the
 * caller has copied the body where it goes (tkvmod_reply_finish/_defer).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cache/cache.h>
#include <vsb.h>

#include "hypercalls.h"

double
tkvmod_now(void)
{
	struct timespec ts;

	AZ(clock_gettime(CLOCK_MONOTONIC, &ts));
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static int
push_string(struct tk_vm *vm, const char *s, uint64_t *gva)
{
	return (tk_vm_push(vm, s ? s : "", strlen(s ? s : "") + 1, gva));
}

/* Puts the request on the fork's call stack; the guest address of the struct. */
static int
request_push(struct tk_vm *vm, const struct tkvmod_call *call, uint64_t *req,
    uint64_t *body)
{
	struct tinykvm_abi_request r;

	memset(&r, 0, sizeof r);
	if (push_string(vm, call->method, &r.method) < 0 ||
	    push_string(vm, call->url, &r.url) < 0 ||
	    push_string(vm, call->arg, &r.arg) < 0 ||
	    push_string(vm, call->content_type, &r.content_type) < 0)
		return (-ENOMEM);
	if (call->body_len > 0) {
		if (tk_vm_alloc(vm, call->body_len, &r.body) < 0 ||
		    tk_vm_copy_to(vm, r.body, call->body, call->body_len) < 0)
			return (-ENOMEM);
		r.body_len = call->body_len;
	}
	*body = r.body;
	return (tk_vm_push(vm, &r, sizeof r, req));
}

static int
method_has_body(const char *m)
{
	return (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0);
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
	AZ(pthread_mutex_lock(&p->mtx));
	if (timeout)
		p->stats.timeouts++;
	p->stats.failures++;
	AZ(pthread_mutex_unlock(&p->mtx));
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

/* Calls the handler on (req); 1, the failure logged, if it did not respond. */
static int
handler_call(struct tkvmod_run *run, struct tk_vm *fork, uint64_t handler,
    uint64_t req)
{
	struct tkvmod_program *p = run->program;
	struct tk_result res;
	int r;

	r = tk_vm_call(fork, run, handler, 1, &req,
	    (uint64_t)(p->cfg.max_request_time * 1e9), &res);
	if (r == 0 && res.stop == TK_STOP_HYPERCALL && run->responded)
		return (0);
	if (res.stop == TK_STOP_TIMEOUT)
		(void)fail(run->ctx, p, run->reply, 503, 1, res.message);
	else if (res.stop == TK_STOP_RETURN)
		(void)fail(run->ctx, p, run->reply, 500, 0, "the handler "
		    "returned without responding");
	else if (res.stop == TK_STOP_HYPERCALL)
		(void)fail(run->ctx, p, run->reply, 500, 0, run->error);
	else
		(void)fail(run->ctx, p, run->reply, 500, 0, res.message);
	return (1);
}

int
tkvmod_request(const struct vrt_ctx *ctx, struct tkvmod_program *p,
    const struct tkvmod_call *call, struct tkvmod_reply *reply)
{
	struct tkvmod_run run;
	struct tk_vm *fork;
	const char *why = NULL;
	uint64_t handler, req = 0, body = 0;
	double t0, seconds;
	int slot, failed = 0;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	CHECK_OBJ_NOTNULL(p, TKVMOD_PROGRAM_MAGIC);
	memset(reply, 0, sizeof *reply);
	reply->headers = VSB_new_auto();
	AN(reply->headers);

	if (tkvmod_program_load(ctx, p) != 0) {
		AZ(pthread_mutex_lock(&p->mtx));
		p->stats.requests++;
		AZ(pthread_mutex_unlock(&p->mtx));
		AZ(VSB_finish(reply->headers));
		return (fail(ctx, p, reply, 503, 0, p->error));
	}
	fork = tkvmod_fork_acquire(p, &why);
	if (fork == NULL) {
		VSLb(ctx->vsl, SLT_Error, "tinykvm: program '%s': %s (%.3g s)",
		    p->name, why, p->cfg.max_queue_time);
		reply->status = 503;
		reply->failed = 1;
		AZ(VSB_finish(reply->headers));
		return (-1);
	}

	slot = method_has_body(call->method) ? TINYKVM_HANDLER_POST :
	    TINYKVM_HANDLER_GET;
	handler = tk_vm_handler(fork, (unsigned)slot);
	INIT_OBJ(&run, TKVMOD_RUN_MAGIC);
	run.ctx = ctx;
	run.program = p;
	run.call = call;
	run.reply = reply;

	t0 = tkvmod_now();
	run.deadline = t0 + p->cfg.max_request_time;
	if (handler == 0) {
		reply->status = 405;
		VSLb(ctx->vsl, SLT_VCL_Log, "tinykvm: program '%s' has no %s "
		    "handler for %s", p->name, slot == TINYKVM_HANDLER_GET ?
		    "GET" : "POST", call->method);
		run.responded = 1;
	} else if (request_push(fork, call, &req, &body) < 0) {
		failed = 1;
		(void)fail(ctx, p, reply, 500, 0, "the request does not fit in "
		    "the program's memory");
	} else {
		failed = handler_call(&run, fork, handler, req);
	}
	seconds = tkvmod_now() - t0;
	AZ(VSB_finish(reply->headers));

	reply->program = p;
	reply->fork = fork;
	reply->reset = p->cfg.ephemeral || failed;
	reply->req_body = body;
	reply->req_body_len = call->body_len;
	reply->run_seconds = seconds;
	/* Nothing to take out of a failed fork: back (reset) at once. */
	if (failed)
		reply_fork_return(reply);
	return (failed ? -1 : 0);
}

void
tkvmod_reply_finish(struct tkvmod_reply *reply)
{
	if (reply->headers != NULL)
		VSB_destroy(&reply->headers);
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
