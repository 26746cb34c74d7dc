/*
 * The guest's view of HTTP: respond, read a request header, add a response
 * header, log a line.  Every pointer and length comes from the guest and is
 * checked by the engine's copy helpers; sizes are bounded before anything is
 * allocated.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cache/cache.h>
#include <vsb.h>

#include "hypercalls.h"
#include "../proto/http_rules.h"

/* Copies guest string (gva, len) to a NUL-terminated (buf) of (size); 0 or -errno. */
static int
string_in(struct tk_vm *vm, char *buf, size_t size, uint64_t gva, uint64_t len)
{
	if (len >= size)
		return (-E2BIG);
	if (tk_vm_copy_from(vm, buf, gva, len) < 0)
		return (-EFAULT);
	buf[len] = '\0';
	return (memchr(buf, '\0', len) != NULL ? -EINVAL : 0);
}

static int64_t
respond(struct tkvmod_run *run, struct tk_vm *vm, const uint64_t *a, int *end)
{
	struct tkvmod_reply *reply = run->reply;
	const char *why = NULL;
	int r;

	*end = 1;
	if (a[0] > INT32_MAX || !tkp_status_ok((long)a[0]))
		why = "status must be from 200 to 599";
	else if ((r = string_in(vm, reply->content_type,
	    sizeof reply->content_type, a[1], a[2])) < 0 ||
	    !tkp_value_ok(reply->content_type))
		why = "bad Content-Type";
	else if (run->call->max_body != 0 && a[4] > run->call->max_body)
		why = "body larger than the caller takes (the workspace)";
	else if (a[4] > run->program->cfg.max_memory ||
	    (reply->body = tk_vm_view(vm, a[3], a[4])) == NULL)
		why = "body not in readable guest memory";
	if (why != NULL) {
		snprintf(run->error, sizeof run->error, "respond: %s", why);
		return (-EINVAL);
	}
	reply->status = (int)a[0];
	reply->body_len = a[4];
	run->responded = 1;
	return (0);
}

static int64_t
header_get(struct tkvmod_run *run, struct tk_vm *vm, const uint64_t *a)
{
	/* Varnish's header length byte is a signed char: names stay under 127. */
	char name[127], hdr[131];
	const char *value;
	size_t len;

	if (run->call->req_http == NULL)
		return (-ENOENT);
	if (string_in(vm, name, sizeof name, a[0], a[1]) < 0 ||
	    !tkp_token_ok(name))
		return (-EINVAL);
	/* Varnish's header names carry their length and a colon. */
	hdr[0] = (char)(strlen(name) + 1);
	snprintf(hdr + 1, sizeof hdr - 1, "%s:", name);
	if (!http_GetHdr(run->call->req_http, hdr, &value))
		return (-ENOENT);
	len = strlen(value);
	if (a[3] > 0) {
		size_t n = len < a[3] - 1 ? len : a[3] - 1;

		if (tk_vm_copy_to(vm, a[2], value, n) < 0 ||
		    tk_vm_copy_to(vm, a[2] + n, "", 1) < 0)
			return (-EFAULT);
	}
	return ((int64_t)len);
}

static int64_t
header_add(struct tkvmod_run *run, struct tk_vm *vm, const uint64_t *a)
{
	char name[256], *value;
	const char *why;
	int r;

	if (string_in(vm, name, sizeof name, a[0], a[1]) < 0 ||
	    !tkp_token_ok(name))
		return (-EINVAL);
	if ((why = tkp_response_header_refused(name)) != NULL) {
		tkvmod_run_log(run, "response header %s refused: %s", name, why);
		return (-EPERM);
	}
	if (a[3] > TINYKVM_MAX_HEADER || run->headers_added >= TKP_MAX_RESPONSE_HEADERS ||
	    VSB_len(run->reply->headers) + strlen(name) + a[3] + 3 > TKP_MAX_RESPONSE_HEADER_BYTES)
		return (-E2BIG);
	value = malloc(a[3] + 1);
	if (value == NULL)
		return (-ENOMEM);
	r = string_in(vm, value, a[3] + 1, a[2], a[3]);
	if (r == 0 && !tkp_value_ok(value))
		r = -EINVAL;
	if (r == 0) {
		VSB_printf(run->reply->headers, "%s: %s\n", name, value);
		run->headers_added++;
	}
	free(value);
	return (r);
}

static int64_t
log_line(struct tkvmod_run *run, struct tk_vm *vm, const uint64_t *a)
{
	char text[TINYKVM_MAX_LOG + 1];
	uint64_t len = a[1] > TINYKVM_MAX_LOG ? TINYKVM_MAX_LOG : a[1];

	if (tk_vm_copy_from(vm, text, a[0], len) < 0)
		return (-EFAULT);
	text[len] = '\0';
	tkvmod_run_log(run, "%s", text);
	return (0);
}

void
tkvmod_run_log(struct tkvmod_run *run, const char *fmt, ...)
{
	char line[TINYKVM_MAX_LOG + 320];
	va_list ap;

	CHECK_OBJ_NOTNULL(run, TKVMOD_RUN_MAGIC);
	if (run->log_lines > TKVMOD_MAX_LOG_LINES)
		return;
	if (run->log_lines++ == TKVMOD_MAX_LOG_LINES) {
		VSLb(run->ctx->vsl, SLT_VCL_Log, "tinykvm: %s: more than %d log "
		    "lines in one request; the rest are dropped",
		    run->program->name, TKVMOD_MAX_LOG_LINES);
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	VSLb(run->ctx->vsl, SLT_VCL_Log, "tinykvm: %s: %s", run->program->name,
	    line);
}

int
tkvmod_hypercall(void *opaque, struct tk_vm *vm, uint64_t nr,
    const uint64_t arg[6], int64_t *ret)
{
	struct tkvmod_run *run;
	int end = 0;

	/* During main()'s initialisation there is no request. */
	if (opaque == NULL) {
		*ret = -EPERM;
		return (0);
	}
	CAST_OBJ_NOTNULL(run, opaque, TKVMOD_RUN_MAGIC);
	switch (nr) {
	case TINYKVM_HC_RESPOND:
		*ret = respond(run, vm, arg, &end);
		return (end);
	case TINYKVM_HC_HEADER_GET:
		*ret = header_get(run, vm, arg);
		return (0);
	case TINYKVM_HC_HEADER_ADD:
		*ret = header_add(run, vm, arg);
		return (0);
	case TINYKVM_HC_LOG:
		*ret = log_line(run, vm, arg);
		return (0);
	case TINYKVM_HC_FETCH:
		*ret = tkvmod_fetch(run, vm, arg[0]);
		return (0);
	default:
		return (-ENOSYS);
	}
}

long
tkvmod_guest_write(void *opaque, int fd, const void *buf, size_t len)
{
	struct tkvmod_run *run = opaque;

	/* Guest output is for debugging: a line of it in VSL, never the response. */
	if (run != NULL && run->magic == TKVMOD_RUN_MAGIC && len > 0)
		tkvmod_run_log(run, "%s: %.*s", fd == 1 ? "stdout" : "stderr",
		    (int)(len > 256 ? 256 : len - (((const char *)buf)[len - 1] == '\n')),
		    (const char *)buf);
	return ((long)len);
}
