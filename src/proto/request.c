/*
 * A request into a program (request.h): the handler by method, the request
 * onto the call stack, the call, and why it gave no response.  What the
 * handler says back is decoded in response.c.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tinykvm/abi.h"
#include "request.h"

void
tkp_call_init(struct tkp_call *c, const struct tkp_ops *ops, void *priv)
{
	assert(c != NULL);
	assert(ops != NULL);
	memset(c, 0, sizeof *c);
	c->magic = TKP_CALL_MAGIC;
	c->ops = ops;
	c->priv = priv;
}

/* GET and HEAD carry no body: the GET handler; any other method the POST one. */
static unsigned
handler_slot(const char *method)
{
	return (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ?
	    TINYKVM_HANDLER_GET : TINYKVM_HANDLER_POST);
}

static int
string_push(struct tk_vm *vm, const char *s, uint64_t *gva)
{
	if (s == NULL)
		s = "";
	return (tk_vm_push(vm, s, strlen(s) + 1, gva));
}

/*
 * The request onto (vm)'s call stack, its body into memory mapped for it
 * (c->req_body_gva, for the caller to release); the struct's guest address
 * in (*gva).
 */
static int
request_push(struct tk_vm *vm, struct tkp_call *c, uint64_t *gva)
{
	const struct tkp_request *q = &c->req;
	struct tinykvm_abi_request r;

	memset(&r, 0, sizeof r);
	if (string_push(vm, q->method, &r.method) < 0 ||
	    string_push(vm, q->url, &r.url) < 0 ||
	    string_push(vm, q->arg, &r.arg) < 0 ||
	    string_push(vm, q->content_type, &r.content_type) < 0)
		return (-ENOMEM);
	if (q->body_len > 0) {
		if (tk_vm_alloc(vm, q->body_len, &r.body) < 0)
			return (-ENOMEM);
		c->req_body_gva = r.body;
		if (tk_vm_copy_to(vm, r.body, q->body, q->body_len) < 0)
			return (-ENOMEM);
		r.body_len = q->body_len;
	}
	return (tk_vm_push(vm, &r, sizeof r, gva));
}

/* Why a call that ran gave no response, into c->error. */
static void
failure_explain(struct tkp_call *c, const struct tk_result *res)
{
	/* A refused response said why already (response.c). */
	if (res->stop == TK_STOP_HYPERCALL && c->error[0] != '\0')
		return;
	if (res->stop == TK_STOP_RETURN)
		snprintf(c->error, sizeof c->error, "the handler returned "
		    "without responding");
	else
		snprintf(c->error, sizeof c->error, "%s", res->message);
}

int
tkp_call_run(struct tk_vm *vm, struct tkp_call *c, uint64_t timeout_ns,
    struct tk_result *res)
{
	uint64_t handler, gva;

	assert(c != NULL && c->magic == TKP_CALL_MAGIC);
	assert(c->req.method != NULL);
	assert(c->max_body_what != NULL);
	memset(res, 0, sizeof *res);
	c->slot = handler_slot(c->req.method);
	handler = tk_vm_handler(vm, c->slot);
	if (handler == 0) {
		snprintf(c->error, sizeof c->error, "no %s handler for %.32s",
		    c->slot == TINYKVM_HANDLER_GET ? "GET" : "POST",
		    c->req.method);
		return (-ENOENT);
	}
	if (request_push(vm, c, &gva) < 0) {
		snprintf(c->error, sizeof c->error, "the request does not fit "
		    "in the program's memory");
		return (-ENOMEM);
	}
	(void)tk_vm_call(vm, c, handler, 1, &gva, timeout_ns, res);
	/*
	 * A response counts only if the run ended on it: a fork found over
	 * its request memory afterwards (TK_STOP_MEMORY) has failed.
	 */
	if (c->responded && res->stop == TK_STOP_HYPERCALL)
		return (0);
	c->responded = 0;
	c->resp.body = NULL;
	c->resp.body_len = 0;
	failure_explain(c, res);
	return (-EIO);
}
