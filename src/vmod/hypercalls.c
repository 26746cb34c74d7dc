/*
 * The VMOD's ops for the guest's hypercalls (hypercalls.h).  What reaches
 * them is checked already (src/proto/response.c): names are tokens, values
 * clean, sizes within the limits.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cache/cache.h>

#include "hypercalls.h"

static struct tkvmod_run *
run_of(const struct tkp_call *c)
{
	struct tkvmod_run *run;

	AN(c);
	assert(c->magic == TKP_CALL_MAGIC);
	CAST_OBJ_NOTNULL(run, c->priv, TKVMOD_RUN_MAGIC);
	return (run);
}

static const char *
request_header(struct tkp_call *c, const char *name)
{
	struct tkvmod_run *run = run_of(c);
	/* Varnish's header names carry their length (a signed char) and a colon. */
	char hdr[131];
	const char *value;

	if (run->call->req_http == NULL)
		return (NULL);
	assert(strlen(name) < 127);
	hdr[0] = (char)(strlen(name) + 1);
	snprintf(hdr + 1, sizeof hdr - 1, "%s:", name);
	if (!http_GetHdr(run->call->req_http, hdr, &value))
		return (NULL);
	return (value);
}

static int
response_header_add(struct tkp_call *c, const char *name, const char *value)
{
	struct tkvmod_run *run = run_of(c);
	struct tkvmod_reply *reply = run->reply;
	struct ws *ws = run->ctx->ws;
	size_t nlen = strlen(name), vlen = strlen(value), len = nlen + vlen + 3;
	unsigned room;
	char *line;

	if (run->call->no_headers)
		return (0);
	/* src/proto counts them: never more than the array holds. */
	assert(reply->n_headers < TKP_MAX_RESPONSE_HEADERS);
	/*
	 * Straight into the task's workspace, where the http keeps it (no
	 * copy when applied), leaving what Varnish needs to finish the task
	 * (Content-Type, Content-Length, delivery).  Out of room is the
	 * guest's -ENOMEM and a log line, not a workspace overflow that would
	 * fail the whole task: WS_ReserveAll, because a WS_ReserveSize that
	 * fails marks the workspace overflowed.
	 */
	room = WS_ReserveAll(ws);
	if (room < len + TKVMOD_WS_HEADROOM) {
		WS_Release(ws, 0);
		tkvmod_run_log(run, "response header %s dropped: out of workspace",
		    name);
		return (-ENOMEM);
	}
	line = WS_Reservation(ws);
	memcpy(line, name, nlen);
	memcpy(line + nlen, ": ", 2);
	memcpy(line + nlen + 2, value, vlen + 1);
	WS_Release(ws, (unsigned)len);
	reply->headers[reply->n_headers++] = line;
	return (0);
}

static void
guest_log(struct tkp_call *c, enum tkp_log_source source, const char *line)
{
	/* The guest's lines and our refusals alike: tagged, and counted. */
	(void)source;
	tkvmod_run_log(run_of(c), "%s", line);
}

static int64_t
guest_fetch(struct tkp_call *c, struct tk_vm *vm, uint64_t gva)
{
	return (tkvmod_fetch(run_of(c), vm, gva));
}

/* Guest output is for debugging: a line of it in VSL, never the response. */
static long
guest_write(struct tkp_call *c, int fd, const void *buf, size_t len)
{
	const char *s = buf;

	if (len > 0)
		tkvmod_run_log(run_of(c), "%s: %.*s", fd == 1 ? "stdout" :
		    "stderr", (int)(len > 256 ? 256 : len - (s[len - 1] == '\n')),
		    s);
	return ((long)len);
}

const struct tkp_ops tkvmod_ops = {
	.header_get = request_header,
	.header_add = response_header_add,
	.log = guest_log,
	.fetch = guest_fetch,
	.write = guest_write,
};

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
