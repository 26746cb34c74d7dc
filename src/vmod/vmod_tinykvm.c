/*
 * vmod_tinykvm: the VCL face of the TinyKVM engine.  Programs belong to the
 * VCL that configured them (PRIV_VCL) and go when it is discarded.
 */
#include "config.h"

#include <regex.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>

#include <cache/cache.h>
#include <vcl.h>
#include <vsb.h>

#include "vcc_tinykvm_if.h"
#include "tkvmod.h"

/* The VCL's programs: made at its load, so requests never race to make them. */
static struct tkvmod_programs *
programs_of(VRT_CTX, struct vmod_priv *priv)
{
	struct tkvmod_programs *ps;

	if (priv->priv == NULL) {
		VRT_fail(ctx, "tinykvm: out of memory at VCL load");
		return (NULL);
	}
	CAST_OBJ_NOTNULL(ps, priv->priv, TKVMOD_PROGRAMS_MAGIC);
	return (ps);
}

static void
programs_free(struct tkvmod_programs *ps)
{
	struct tkvmod_program *p, *next;

	CHECK_OBJ_NOTNULL(ps, TKVMOD_PROGRAMS_MAGIC);
	for (p = ps->list; p != NULL; p = next) {
		next = p->next;
		tkvmod_backend_free(&p->dir);
		tkvmod_program_free(p);
	}
	free(ps->self_socket);
	free(ps->self_prefix);
	FREE_OBJ(ps);
}

int v_matchproto_(vmod_event_f)
vmod_event(VRT_CTX, struct vmod_priv *priv, enum vcl_event_e e)
{
	struct tkvmod_programs *ps;

	(void)ctx;
	if (e == VCL_EVENT_LOAD && priv->priv == NULL) {
		ALLOC_OBJ(ps, TKVMOD_PROGRAMS_MAGIC);
		if (ps == NULL)
			return (-1);
		priv->priv = ps;
	}
	/* The VCL's programs, their VMs and directors go with it. */
	if (e == VCL_EVENT_DISCARD && priv->priv != NULL) {
		programs_free(priv->priv);
		priv->priv = NULL;
	}
	return (0);
}

/* The program (name) of this VCL, or a VCL failure naming it. */
static struct tkvmod_program *
program_get(VRT_CTX, struct vmod_priv *priv, const char *name)
{
	struct tkvmod_programs *ps = programs_of(ctx, priv);
	struct tkvmod_program *p;

	if (ps == NULL)
		return (NULL);
	p = tkvmod_program_find(ps, name ? name : "");
	if (p == NULL)
		VRT_fail(ctx, "tinykvm: no program named '%s' (configure it in "
		    "vcl_init)", name ? name : "");
	return (p);
}

VCL_BOOL
vmod_configure(VRT_CTX, struct vmod_priv *priv, VCL_STRING name,
    VCL_STRING json)
{
	struct tkvmod_programs *ps;
	struct tkvmod_program *p;
	struct tkvmod_config cfg;
	char err[512];

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	if (ctx->method != VCL_MET_INIT) {
		VRT_fail(ctx, "tinykvm.configure() is only for vcl_init");
		return (0);
	}
	ps = programs_of(ctx, priv);
	if (ps == NULL)
		return (0);
	if (name == NULL || *name == '\0') {
		VRT_fail(ctx, "tinykvm: configure() needs a program name");
		return (0);
	}
	if (tkvmod_program_find(ps, name) != NULL) {
		VRT_fail(ctx, "tinykvm: program '%s' is configured twice", name);
		return (0);
	}
	if (tkvmod_config_parse(&cfg, name, json ? json : "", err, sizeof err)) {
		VRT_fail(ctx, "%s", err);
		return (0);
	}
	/* Without /dev/kvm nothing can run: say so at load, with the fix. */
	if (tk_kvm_available(err, sizeof err) != 0) {
		VRT_fail(ctx, "tinykvm: program '%s': %s", name, err);
		tkvmod_config_free(&cfg);
		return (0);
	}
	p = tkvmod_program_new(name, &cfg);
	if (p == NULL) {
		tkvmod_config_free(&cfg);
		VRT_fail(ctx, "tinykvm: out of memory");
		return (0);
	}
	p->dir = tkvmod_backend_new(ctx, p);
	if (p->dir == NULL) {
		tkvmod_program_free(p);
		VRT_fail(ctx, "tinykvm: program '%s': cannot make its backend", name);
		return (0);
	}
	p->programs = ps;
	p->next = ps->list;
	ps->list = p;
	return (1);
}

VCL_BOOL
vmod_start(VRT_CTX, struct vmod_priv *priv, VCL_STRING name)
{
	struct tkvmod_program *p;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	if (ctx->method != VCL_MET_INIT) {
		VRT_fail(ctx, "tinykvm.start() is only for vcl_init");
		return (0);
	}
	p = program_get(ctx, priv, name);
	if (p == NULL)
		return (0);
	if (tkvmod_program_load(ctx, p) != 0) {
		VRT_fail(ctx, "tinykvm: program '%s': %s", p->name, p->error);
		return (0);
	}
	return (1);
}

VCL_BACKEND
vmod_program(VRT_CTX, struct vmod_priv *priv, VCL_STRING name, VCL_STRING url,
    VCL_STRING arg)
{
	struct tkvmod_program *p;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	/* Its url and arg live in the fetch's task: elsewhere they would be lost. */
	if (ctx->method != VCL_MET_BACKEND_FETCH) {
		VRT_fail(ctx, "tinykvm.program() is only for vcl_backend_fetch");
		return (NULL);
	}
	p = program_get(ctx, priv, name);
	if (p == NULL)
		return (NULL);
	return (tkvmod_backend_select(ctx, p, url, arg));
}

VCL_VOID
vmod_chain(VRT_CTX, struct vmod_priv *priv, VCL_STRING name, VCL_STRING arg)
{
	struct tkvmod_program *p;
	struct tkvmod_task *task;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	if (ctx->method != VCL_MET_BACKEND_FETCH) {
		VRT_fail(ctx, "tinykvm.chain() is only for vcl_backend_fetch");
		return;
	}
	p = program_get(ctx, priv, name);
	task = p != NULL ? tkvmod_task_get(ctx) : NULL;
	if (task == NULL)
		return;
	if (task->n_chain == TKVMOD_MAX_CHAIN) {
		VRT_fail(ctx, "tinykvm.chain(): at most %d programs before program()",
		    TKVMOD_MAX_CHAIN);
		return;
	}
	task->chain[task->n_chain].program = p;
	task->chain[task->n_chain].arg = WS_Copy(ctx->ws, arg ? arg : "", -1);
	if (task->chain[task->n_chain].arg == NULL) {
		VRT_fail(ctx, "tinykvm.chain(): out of workspace");
		return;
	}
	task->n_chain++;
}

VCL_BOOL
vmod_init_self_requests(VRT_CTX, struct vmod_priv *priv, VCL_STRING sock,
    VCL_STRING prefix)
{
	struct tkvmod_programs *ps;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	if (ctx->method != VCL_MET_INIT) {
		VRT_fail(ctx, "tinykvm.init_self_requests() is only for vcl_init");
		return (0);
	}
	ps = programs_of(ctx, priv);
	if (ps == NULL)
		return (0);
	if ((sock == NULL || *sock == '\0') && (prefix == NULL || *prefix == '\0')) {
		VRT_fail(ctx, "tinykvm.init_self_requests() needs a unix socket "
		    "or an http prefix");
		return (0);
	}
	free(ps->self_socket);
	free(ps->self_prefix);
	ps->self_socket = sock && *sock ? strdup(sock) : NULL;
	ps->self_prefix = prefix && *prefix ? strdup(prefix) : NULL;
	/* Self-requests sign their depth, so no client can move the guard. */
	{
		uint8_t r[16];

		if (getrandom(r, sizeof r, 0) != sizeof r) {
			VRT_fail(ctx, "tinykvm.init_self_requests(): no randomness");
			return (0);
		}
		for (unsigned i = 0; i < sizeof r; i++)
			snprintf(ps->self_secret + 2 * i, 3, "%02x", r[i]);
	}
	return (1);
}

/*
 * Runs (p) for a client-side request: synth() and to_string(), which takes
 * at most (max_body) and no headers (no_headers).
 */
static int
client_run(VRT_CTX, struct tkvmod_program *p, const char *url, const char *arg,
    size_t max_body, int no_headers, struct tkvmod_reply *reply)
{
	const struct http *hp = ctx->http_req ? ctx->http_req : ctx->http_bereq;
	struct tkvmod_call call;

	memset(&call, 0, sizeof call);
	call.method = hp ? hp->hd[HTTP_HDR_METHOD].b : "GET";
	/* A request body stays with the request: client-side calls are GETs. */
	if (call.method == NULL || (strcmp(call.method, "GET") != 0 &&
	    strcmp(call.method, "HEAD") != 0))
		call.method = "GET";
	call.url = url && *url ? url : hp ? hp->hd[HTTP_HDR_URL].b : "/";
	call.arg = arg ? arg : "";
	call.content_type = "";
	call.req_http = hp;
	call.max_body = max_body;
	call.no_headers = no_headers;
	tkvmod_task_spill(ctx, p);
	return (tkvmod_request(ctx, p, &call, reply));
}

VCL_INT
vmod_synth(VRT_CTX, struct vmod_priv *priv, VCL_INT status, VCL_STRING name,
    VCL_STRING url, VCL_STRING arg)
{
	struct tkvmod_program *p;
	struct tkvmod_reply reply;
	struct vrt_blob *blob;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	if (ctx->method != VCL_MET_SYNTH && ctx->method != VCL_MET_BACKEND_ERROR) {
		VRT_fail(ctx, "tinykvm.synth() is only for vcl_synth and "
		    "vcl_backend_error");
		return (0);
	}
	p = program_get(ctx, priv, name);
	if (p == NULL)
		return (0);
	(void)client_run(ctx, p, url, arg, 0, 0, &reply);
	if (status != 0 && !reply.failed)
		reply.status = (int)status;
	if (reply.status < 100 || reply.status > 999)
		reply.status = 500;
	{
		struct http *resp = ctx->method == VCL_MET_SYNTH ?
		    ctx->http_resp : ctx->http_beresp;

		http_SetStatus(resp, (uint16_t)reply.status, NULL);
		if (!reply.failed && reply.content_type[0] != '\0') {
			http_Unset(resp, H_Content_Type);
			http_PrintfHeader(resp, "Content-Type: %s", reply.content_type);
		}
		if (!reply.failed)
			tkvmod_headers_apply(resp, &reply);
	}
	blob = WS_Alloc(ctx->ws, sizeof *blob);
	if (blob != NULL && reply.body_len > 0) {
		blob->type = 0;
		blob->len = reply.body_len;
		blob->blob = reply.body;
		/* The one copy: from the fork's memory into the synth body. */
		VRT_synth_blob(ctx, blob);
	}
	tkvmod_reply_defer(ctx, &reply);
	return (reply.status);
}

VCL_STRING
vmod_to_string(VRT_CTX, struct vmod_priv *priv, VCL_STRING name, VCL_STRING url,
    VCL_STRING arg, VCL_STRING on_error)
{
	struct tkvmod_program *p;
	struct tkvmod_reply reply;
	unsigned room;
	size_t n;
	char *s;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	/* vcl_init and vcl_fini have no request, and no log to write to. */
	if (ctx->vsl == NULL) {
		VRT_fail(ctx, "tinykvm.to_string() is for client and backend "
		    "subroutines");
		return (on_error);
	}
	p = program_get(ctx, priv, name);
	if (p == NULL)
		return (on_error);
	/* The string lives in the workspace: a larger body is refused up front. */
	room = WS_ReserveAll(ctx->ws);
	WS_Release(ctx->ws, 0);
	if (room <= 1) {
		VRT_fail(ctx, "tinykvm: program '%s': out of workspace for its "
		    "response", p->name);
		return (on_error);
	}
	if (client_run(ctx, p, url, arg, room - 1, 1, &reply) != 0) {
		tkvmod_reply_finish(&reply);
		return (on_error);
	}
	/* A VCL string ends at its first NUL. */
	n = reply.body != NULL ? strnlen(reply.body, reply.body_len) : 0;
	room = WS_ReserveAll(ctx->ws);
	if (room > n) {
		s = WS_Reservation(ctx->ws);
		if (n > 0)
			memcpy(s, reply.body, n);
		s[n] = '\0';
		WS_Release(ctx->ws, (unsigned)n + 1);
	} else {
		WS_Release(ctx->ws, 0);
		s = NULL;
	}
	tkvmod_reply_defer(ctx, &reply);
	if (s == NULL)
		VRT_fail(ctx, "tinykvm: program '%s': out of workspace for its "
		    "response", p->name);
	return (s != NULL ? s : on_error);
}

VCL_STRING
vmod_stats(VRT_CTX, struct vmod_priv *priv, VCL_STRING pattern)
{
	struct tkvmod_programs *ps = programs_of(ctx, priv);
	struct tkvmod_program *p;
	struct vsb *vsb;
	const char *out, *sep = "";
	regex_t re;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	if (ps == NULL)
		return (NULL);
	if (regcomp(&re, pattern && *pattern ? pattern : ".*",
	    REG_EXTENDED | REG_NOSUB) != 0) {
		VRT_fail(ctx, "tinykvm.stats(): bad regular expression '%s'", pattern);
		return (NULL);
	}
	vsb = VSB_new_auto();
	AN(vsb);
	VSB_cat(vsb, "{");
	for (p = ps->list; p != NULL; p = p->next) {
		if (regexec(&re, p->name, 0, NULL, 0) != 0)
			continue;
		VSB_cat(vsb, sep);
		tkvmod_stats_json(p, vsb);
		sep = ", ";
	}
	VSB_cat(vsb, "}");
	regfree(&re);
	AZ(VSB_finish(vsb));
	out = WS_Copy(ctx->ws, VSB_data(vsb), -1);
	VSB_destroy(&vsb);
	if (out == NULL)
		VRT_fail(ctx, "tinykvm.stats(): out of workspace");
	return (out);
}

VCL_STRING
vmod_version(VRT_CTX)
{
	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	return (PACKAGE_VERSION);
}
