/*
 * What a handler says back while tkp_call_run runs it (request.h):
 * respond, read a request header, add a response header, log, fetch.  Every
 * pointer, length and string is the guest's: checked here, once, with the
 * rules of http_rules.h and the limits of abi.h, before an op sees it.
 * Bounded buffers on the stack: no allocation on a request's path.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tinykvm/abi.h"
#include "request.h"
#include "guest_string.h"
#include "http_rules.h"

/*
 * Longest request header name looked up: Varnish keeps a name's length in
 * a signed char, so the VMOD's rule (under 127) holds for both embedders.
 */
#define MAX_GET_NAME	126
/* Longest response header name added. */
#define MAX_ADD_NAME	255

static struct tkp_call *
call_of(void *opaque)
{
	struct tkp_call *c = opaque;

	assert(c->magic == TKP_CALL_MAGIC);
	return (c);
}

/* A line for the log on the host's behalf: a refusal the guest should hear of. */
static void __attribute__((format(printf, 2, 3)))
host_note(struct tkp_call *c, const char *fmt, ...)
{
	char line[TINYKVM_MAX_LOG];
	va_list ap;

	if (c->ops->log == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	c->ops->log(c, TKP_LOG_HOST, line);
}

/* Fails RESPOND: why into c->error, no response. */
static int64_t __attribute__((format(printf, 2, 3)))
respond_refuse(struct tkp_call *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
	c->resp.content_type[0] = '\0';
	c->resp.body = NULL;
	return (-EINVAL);
}

/* TINYKVM_HC_RESPOND (status, type, type_len, body, body_len): ends the call. */
static int64_t
respond(struct tkp_call *c, struct tk_vm *vm, const uint64_t *a)
{
	struct tkp_response *resp = &c->resp;

	if (a[0] > INT32_MAX || !tkp_status_ok((long)a[0]))
		return (respond_refuse(c, "respond: status must be from %d to %d",
		    TKP_STATUS_MIN, TKP_STATUS_MAX));
	if (tkp_guest_string(vm, a[1], a[2], resp->content_type,
	    sizeof resp->content_type) < 0 || !tkp_value_ok(resp->content_type))
		return (respond_refuse(c, "respond: bad Content-Type"));
	if (a[4] > c->max_body)
		return (respond_refuse(c, "respond: body larger than the caller "
		    "takes (%s)", c->max_body_what));
	/* A view, not a copy: the caller copies it once, where it goes. */
	resp->body = tk_vm_view(vm, a[3], (size_t)a[4]);
	if (resp->body == NULL)
		return (respond_refuse(c, "respond: body not in readable guest "
		    "memory"));
	resp->status = (int)a[0];
	resp->body_len = (size_t)a[4];
	c->responded = 1;
	return (0);
}

/*
 * TINYKVM_HC_HEADER_GET (name, name_len, buf, size): the value into buf,
 * NUL-terminated and cut to size - 1; its full length, or -ENOENT.
 */
static int64_t
header_get(struct tkp_call *c, struct tk_vm *vm, const uint64_t *a)
{
	char name[MAX_GET_NAME + 1];
	const char *value;
	size_t len, n;
	int r;

	r = tkp_guest_string(vm, a[0], a[1], name, sizeof name);
	if (r < 0)
		return (r);
	if (!tkp_token_ok(name))
		return (-EINVAL);
	value = c->ops->header_get != NULL ? c->ops->header_get(c, name) : NULL;
	if (value == NULL)
		return (-ENOENT);
	len = strlen(value);
	if (a[3] > 0) {
		n = len < a[3] - 1 ? len : (size_t)a[3] - 1;
		if (tk_vm_copy_to(vm, a[2], value, n) < 0 ||
		    tk_vm_copy_to(vm, a[2] + n, "", 1) < 0)
			return (-EFAULT);
	}
	return ((int64_t)len);
}

/* TINYKVM_HC_HEADER_ADD (name, name_len, value, value_len): 0 or -errno. */
static int64_t
header_add(struct tkp_call *c, struct tk_vm *vm, const uint64_t *a)
{
	char name[MAX_ADD_NAME + 1], value[TINYKVM_MAX_HEADER + 1];
	struct tkp_response *resp = &c->resp;
	const char *why;
	size_t bytes;
	int r;

	r = tkp_guest_string(vm, a[0], a[1], name, sizeof name);
	if (r < 0)
		return (r);
	if (!tkp_token_ok(name))
		return (-EINVAL);
	if ((why = tkp_response_header_refused(name)) != NULL) {
		host_note(c, "response header %s refused: %s", name, why);
		return (-EPERM);
	}
	if (a[3] > TINYKVM_MAX_HEADER || resp->headers >= TKP_MAX_RESPONSE_HEADERS)
		return (-E2BIG);
	/* "Name: value\n": what the embedder keeps, bounded before the copy. */
	bytes = strlen(name) + (size_t)a[3] + 3;
	if (resp->header_bytes + bytes > TKP_MAX_RESPONSE_HEADER_BYTES)
		return (-E2BIG);
	r = tkp_guest_string(vm, a[2], a[3], value, sizeof value);
	if (r == 0 && !tkp_value_ok(value))
		r = -EINVAL;
	if (r == 0)
		r = c->ops->header_add(c, name, value);
	if (r == 0) {
		resp->headers++;
		resp->header_bytes += bytes;
	}
	return (r);
}

/* TINYKVM_HC_LOG (text, len): one line, cut to TINYKVM_MAX_LOG bytes. */
static int64_t
log_line(struct tkp_call *c, struct tk_vm *vm, const uint64_t *a)
{
	char text[TINYKVM_MAX_LOG + 1];
	uint64_t len = a[1] > TINYKVM_MAX_LOG ? TINYKVM_MAX_LOG : a[1];
	int r;

	r = tkp_guest_string(vm, a[0], len, text, sizeof text);
	if (r < 0)
		return (r);
	if (c->ops->log != NULL)
		c->ops->log(c, TKP_LOG_GUEST, text);
	return (0);
}

/* TINYKVM_HC_FETCH (struct tinykvm_abi_fetch *): the embedder's, if it has one. */
static int64_t
fetch(struct tkp_call *c, struct tk_vm *vm, const uint64_t *a)
{
	if (c->ops->fetch == NULL)
		return (-ENOSYS);
	return (c->ops->fetch(c, vm, a[0]));
}

typedef int64_t decode_fn(struct tkp_call *, struct tk_vm *, const uint64_t *);

/* The embedder hypercalls by number, from TINYKVM_HC_EMBEDDER up. */
static const struct {
	decode_fn	*decode;
	int		ends;		/* the call is over once it returns */
} decoders[] = {
	[TINYKVM_HC_RESPOND - TINYKVM_HC_EMBEDDER] =	{ respond, 1 },
	[TINYKVM_HC_HEADER_GET - TINYKVM_HC_EMBEDDER] =	{ header_get, 0 },
	[TINYKVM_HC_HEADER_ADD - TINYKVM_HC_EMBEDDER] =	{ header_add, 0 },
	[TINYKVM_HC_LOG - TINYKVM_HC_EMBEDDER] =	{ log_line, 0 },
	[TINYKVM_HC_FETCH - TINYKVM_HC_EMBEDDER] =	{ fetch, 0 },
};

int
tkp_hypercall(void *opaque, struct tk_vm *vm, uint64_t nr,
    const uint64_t arg[6], int64_t *ret)
{
	uint64_t i = nr - TINYKVM_HC_EMBEDDER;

	if (i >= sizeof decoders / sizeof decoders[0] ||
	    decoders[i].decode == NULL)
		return (-ENOSYS);
	/* main() before it waits for requests has no call: opaque is NULL. */
	if (opaque == NULL) {
		*ret = -EPERM;
		return (0);
	}
	*ret = decoders[i].decode(call_of(opaque), vm, arg);
	return (decoders[i].ends);
}

long
tkp_guest_write(void *opaque, int fd, const void *buf, size_t len)
{
	struct tkp_call *c;

	if (opaque == NULL)
		return ((long)len);
	c = call_of(opaque);
	if (c->ops->write == NULL)
		return ((long)len);
	return (c->ops->write(c, fd, buf, len));
}
