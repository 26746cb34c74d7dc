/*
 * One request through a program: a fork from the pool, the request pushed
 * onto its call stack (the body into memory mapped for it), the handler
 * called, the response taken out, the fork reset and given back.
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
	free(reply->body);
	reply->body = NULL;
	AZ(pthread_mutex_lock(&p->mtx));
	if (timeout)
		p->stats.timeouts++;
	p->stats.failures++;
	AZ(pthread_mutex_unlock(&p->mtx));
	return (-1);
}

int
tkvmod_request(const struct vrt_ctx *ctx, struct tkvmod_program *p,
    const struct tkvmod_call *call, struct tkvmod_reply *reply)
{
	struct tkvmod_run run;
	struct tk_result res;
	struct tk_vm *fork;
	const char *why = NULL;
	uint64_t handler, req = 0, body = 0;
	double t0, seconds;
	int slot, failed = 0, r;

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
	tk_vm_set_opaque(fork, &run);

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
		r = tk_vm_call(fork, handler, 1, &req,
		    (uint64_t)(p->cfg.max_request_time * 1e9), &res);
		if (r != 0 || res.stop != TK_STOP_HYPERCALL || !run.responded) {
			failed = 1;
			if (res.stop == TK_STOP_TIMEOUT)
				(void)fail(ctx, p, reply, 503, 1, res.message);
			else if (res.stop == TK_STOP_RETURN)
				(void)fail(ctx, p, reply, 500, 0, "the handler "
				    "returned without responding");
			else if (res.stop == TK_STOP_HYPERCALL)
				(void)fail(ctx, p, reply, 500, 0, run.error);
			else
				(void)fail(ctx, p, reply, 500, 0, res.message);
		}
	}
	seconds = tkvmod_now() - t0;
	tk_vm_set_opaque(fork, NULL);
	AZ(VSB_finish(reply->headers));

	AZ(pthread_mutex_lock(&p->mtx));
	p->stats.run_seconds += seconds;
	if (seconds > p->stats.run_max)
		p->stats.run_max = seconds;
	AZ(pthread_mutex_unlock(&p->mtx));

	/* A failed fork is always reset; a kept one frees the request's body. */
	if (!p->cfg.ephemeral && !failed)
		tk_vm_release(fork, body, call->body_len);
	tkvmod_fork_release(p, fork, p->cfg.ephemeral || failed);
	return (failed ? -1 : 0);
}

void
tkvmod_reply_free(struct tkvmod_reply *reply)
{
	free(reply->body);
	reply->body = NULL;
	if (reply->headers != NULL)
		VSB_destroy(&reply->headers);
}
