/*
 * The program backend: a director per program whose gethdrs runs the
 * program and turns its reply into the backend response; a fetch processor
 * hands the body to Varnish's storage.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

/* The fetch side (http_conn, VFP_Push) is in varnishd's own header. */
#include <cache/cache_varnishd.h>
#include <cache/cache_filter.h>

#include "tkvmod.h"

static vmod_priv_fini_f task_fini;
static struct tkvmod_task *task_find(VRT_CTX);

static const struct vmod_priv_methods task_methods[1] = {{
	.magic = VMOD_PRIV_METHODS_MAGIC,
	.type = "tinykvm program() arguments",
	.fini = task_fini,
}};
static const char task_key;
const void *const tkvmod_task_id = &task_key;

/*
 * The task lives as long as the fetch, but a chain is per backend attempt:
 * after return(retry), what the last attempt chained is gone.
 */
static void
task_attempt(struct tkvmod_task *task, const struct busyobj *bo)
{
	if (task->chain_retries != bo->retries) {
		task->chain_retries = bo->retries;
		task->n_chain = 0;
	}
}

/* The request body, gathered in host memory before it goes into the guest. */
static int v_matchproto_(objiterate_f)
body_append(void *priv, unsigned flush, const void *ptr, ssize_t len)
{
	(void)flush;
	return (len <= 0 ? 0 : tkvmod_buf_add(priv, ptr, (size_t)len));
}

static int
body_read(VRT_CTX, struct busyobj *bo, struct tkvmod_buf *b)
{
	if (bo->bereq_body != NULL)
		return (ObjIterate(bo->wrk, bo->bereq_body, b, body_append, 0) < 0 ?
		    -1 : 0);
	if (bo->req != NULL && bo->req->req_body_status != NULL &&
	    bo->req->req_body_status->avail > 0)
		return (VRB_Iterate(bo->wrk, ctx->vsl, bo->req, body_append, b) < 0 ?
		    -1 : 0);
	return (0);
}

/* The fetch processor: copies the body from the fork's memory into storage. */
static enum vfp_status v_matchproto_(vfp_pull_f)
reply_pull(struct vfp_ctx *vc, struct vfp_entry *vfe, void *p, ssize_t *lp)
{
	struct tkvmod_reply *reply = vfe->priv1;
	size_t done = (size_t)vfe->priv2, n;

	(void)vc;
	n = reply->body_len - done;
	if (n > (size_t)*lp)
		n = (size_t)*lp;
	memcpy(p, reply->body + done, n);
	vfe->priv2 += (ssize_t)n;
	*lp = (ssize_t)n;
	return ((size_t)vfe->priv2 == reply->body_len ? VFP_END : VFP_OK);
}

static const struct vfp reply_vfp = {
	.name = "tinykvm",
	.pull = reply_pull,
};

/*
 * chain(): each program's response body becomes the next one's request body
 * (a POST with its Content-Type), until the one program() named.  0 to go
 * on with (call), -1 when a link failed and (reply) says how.
 */
static int
chain_run(VRT_CTX, const struct tkvmod_task *task, struct tkvmod_program *last,
    struct tkvmod_call *call, struct tkvmod_reply *reply, struct tkvmod_buf *body)
{
	const struct tkvmod_program *next;
	unsigned i;

	/* A link's response headers go nowhere: its body is all that goes on. */
	call->no_headers = 1;
	for (i = 0; task != NULL && i < task->n_chain; i++) {
		call->arg = task->chain[i].arg;
		if (tkvmod_request(ctx, task->chain[i].program, call, reply) != 0)
			return (-1);
		/* Out of this fork before it goes back: the next link's body. */
		next = i + 1 < task->n_chain ? task->chain[i + 1].program : last;
		body->len = 0;
		body->over = 0;
		body->limit = next->cfg.max_request_memory;
		if (tkvmod_buf_add(body, reply->body, reply->body_len) < 0) {
			VSLb(ctx->vsl, SLT_Error, "tinykvm: program '%s': its "
			    "response (%zu bytes) %s", task->chain[i].program->name,
			    reply->body_len, body->over ? "is over the next "
			    "program's max_request_memory" : "finds no host memory");
			tkvmod_reply_finish(reply);
			memset(reply, 0, sizeof *reply);
			reply->status = 500;
			reply->failed = 1;
			return (-1);
		}
		call->method = "POST";
		call->body = body->p;
		call->body_len = body->len;
		call->content_type = WS_Copy(ctx->ws, reply->content_type, -1);
		if (call->content_type == NULL)
			call->content_type = "";
		tkvmod_reply_finish(reply);
	}
	call->arg = task ? task->arg : "";
	call->no_headers = 0;
	return (0);
}

/* The lines are in the task's workspace already: no copy. */
void
tkvmod_headers_apply(struct http *hp, const struct tkvmod_reply *reply)
{
	unsigned i;

	for (i = 0; i < reply->n_headers; i++)
		http_SetHeader(hp, reply->headers[i]);
}

/* The response as beresp, its body pulled from the fork by reply_vfp. */
static int
beresp_from_reply(struct busyobj *bo, struct tkvmod_reply *reply)
{
	http_PutResponse(bo->beresp, "HTTP/1.1", (uint16_t)reply->status, NULL);
	if (!reply->failed) {
		if (reply->content_type[0] != '\0')
			http_PrintfHeader(bo->beresp, "Content-Type: %s",
			    reply->content_type);
		tkvmod_headers_apply(bo->beresp, reply);
	}
	http_PrintfHeader(bo->beresp, "Content-Length: %zu", reply->body_len);

	INIT_OBJ(bo->htc, HTTP_CONN_MAGIC);
	bo->htc->doclose = SC_NULL;
	bo->htc->content_length = (ssize_t)reply->body_len;
	bo->htc->priv = reply;
	bo->htc->body_status = reply->body_len > 0 ? BS_LENGTH : BS_NONE;
	if (reply->body_len > 0) {
		struct vfp_entry *vfe = VFP_Push(bo->vfc, &reply_vfp);

		if (vfe == NULL) {
			tkvmod_reply_finish(reply);
			bo->htc = NULL;
			return (-1);
		}
		vfe->priv1 = reply;
		vfe->priv2 = 0;
	}
	return (0);
}

static int v_matchproto_(vdi_gethdrs_f)
program_gethdrs(VRT_CTX, VCL_BACKEND dir)
{
	struct tkvmod_program *p;
	struct tkvmod_task *task = NULL;
	struct tkvmod_reply *reply;
	struct tkvmod_call call;
	struct tkvmod_buf body = { 0 };
	struct vmod_priv *priv;
	struct busyobj *bo;
	const char *ctype = NULL;

	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	CHECK_OBJ_NOTNULL(dir, DIRECTOR_MAGIC);
	CAST_OBJ_NOTNULL(p, dir->priv, TKVMOD_PROGRAM_MAGIC);
	bo = ctx->bo;
	CHECK_OBJ_NOTNULL(bo, BUSYOBJ_MAGIC);
	AZ(bo->htc);

	priv = VRT_priv_task_get(ctx, tkvmod_task_id);
	if (priv != NULL && priv->priv != NULL) {
		CAST_OBJ_NOTNULL(task, priv->priv, TKVMOD_TASK_MAGIC);
		task_attempt(task, bo);
	}

	reply = WS_Alloc(bo->ws, sizeof *reply);
	bo->htc = WS_Alloc(bo->ws, sizeof *bo->htc);
	if (reply == NULL || bo->htc == NULL) {
		VSLb(ctx->vsl, SLT_Error, "tinykvm: program '%s': out of workspace",
		    p->name);
		bo->htc = NULL;
		return (-1);
	}
	memset(&call, 0, sizeof call);
	call.method = bo->bereq->hd[HTTP_HDR_METHOD].b;
	call.url = task && task->url[0] ? task->url : bo->bereq->hd[HTTP_HDR_URL].b;
	call.arg = task ? task->arg : "";
	(void)http_GetHdr(bo->bereq, H_Content_Type, &ctype);
	call.content_type = ctype ? ctype : "";
	call.req_http = bo->bereq;
	body.limit = p->cfg.max_request_memory;
	if (body_read(ctx, bo, &body) < 0) {
		VSLb(ctx->vsl, SLT_Error, "tinykvm: program '%s': cannot read the "
		    "request body (over max_request_memory?)", p->name);
		free(body.p);
		bo->htc = NULL;
		return (-1);
	}
	call.body = body.p;
	call.body_len = body.len;
	if (chain_run(ctx, task, p, &call, reply, &body) == 0 &&
	    tkvmod_request(ctx, p, &call, reply) == 0 &&
	    (task = task_find(ctx)) != NULL)
		task->held = reply;	/* until finish; tkvmod_task_spill */
	free(body.p);

	return (beresp_from_reply(bo, reply));
}

static void v_matchproto_(vdi_finish_f)
program_finish(VRT_CTX, VCL_BACKEND dir)
{
	struct busyobj *bo = ctx->bo;
	struct tkvmod_task *task;

	(void)dir;
	CHECK_OBJ_NOTNULL(bo, BUSYOBJ_MAGIC);
	if (bo->htc != NULL) {
		/*
		 * The body is in storage: the fork goes back dirty, to be reset
		 * when the fetch task ends, after the object is complete.
		 */
		task = task_find(ctx);
		if (task != NULL)
			task->held = NULL;
		tkvmod_reply_defer(ctx, bo->htc->priv);
		bo->htc->priv = NULL;
		bo->htc = NULL;
	}
}

static const struct vdi_methods program_methods[1] = {{
	.magic = VDI_METHODS_MAGIC,
	.type = "tinykvm",
	.gethdrs = program_gethdrs,
	.finish = program_finish,
}};

const struct director *
tkvmod_backend_new(VRT_CTX, struct tkvmod_program *p)
{
	return (VRT_AddDirector(ctx, program_methods, p, "tinykvm.%s", p->name));
}

void
tkvmod_backend_free(const struct director **dir)
{
	if (*dir != NULL)
		VRT_DelDirector(dir);
}

/* This task's state, made in the workspace if need be; NULL if out of it. */
static struct tkvmod_task *
task_find(VRT_CTX)
{
	struct vmod_priv *priv = VRT_priv_task(ctx, tkvmod_task_id);
	struct tkvmod_task *task;

	if (priv == NULL)
		return (NULL);
	if (priv->priv != NULL) {
		CAST_OBJ_NOTNULL(task, priv->priv, TKVMOD_TASK_MAGIC);
		if (ctx->bo != NULL)
			task_attempt(task, ctx->bo);
		return (task);
	}
	task = WS_Alloc(ctx->ws, sizeof *task);
	if (task == NULL)
		return (NULL);
	INIT_OBJ(task, TKVMOD_TASK_MAGIC);
	task->chain_retries = ctx->bo != NULL ? ctx->bo->retries : 0;
	priv->priv = task;
	priv->methods = task_methods;
	return (task);
}

struct tkvmod_task *
tkvmod_task_get(VRT_CTX)
{
	struct tkvmod_task *task = task_find(ctx);

	if (task == NULL)
		VRT_fail(ctx, "tinykvm: out of workspace for the task");
	return (task);
}

/* The task is over (the client has its response): reset what it left dirty. */
static void v_matchproto_(vmod_priv_fini_f)
task_fini(VRT_CTX, void *priv)
{
	struct tkvmod_task *task;
	unsigned i;

	(void)ctx;
	CAST_OBJ_NOTNULL(task, priv, TKVMOD_TASK_MAGIC);
	for (i = 0; i < task->n_deferred; i++)
		tkvmod_fork_reset_dirty(task->deferred[i].program,
		    task->deferred[i].fork);
	task->n_deferred = 0;
}

void
tkvmod_reply_defer(VRT_CTX, struct tkvmod_reply *reply)
{
	struct tkvmod_task *task = task_find(ctx);

	/* Nowhere to remember it (or nothing to reset): back now. */
	if (task == NULL || !reply->reset || reply->fork == NULL ||
	    task->n_deferred == TKVMOD_MAX_DEFERRED) {
		tkvmod_reply_finish(reply);
		return;
	}
	reply->n_headers = 0;
	reply->body = NULL;
	task->deferred[task->n_deferred].program = reply->program;
	task->deferred[task->n_deferred++].fork = reply->fork;
	tkvmod_fork_release_dirty(reply->program, reply->fork, reply->run_seconds);
	reply->fork = NULL;
}

void
tkvmod_task_spill(VRT_CTX, const struct tkvmod_program *p)
{
	struct vmod_priv *priv;
	struct tkvmod_task *task;

	if (ctx->bo == NULL)
		return;
	priv = VRT_priv_task_get(ctx, tkvmod_task_id);
	if (priv == NULL || priv->priv == NULL)
		return;
	CAST_OBJ_NOTNULL(task, priv->priv, TKVMOD_TASK_MAGIC);
	if (task->held != NULL && task->held->program == p &&
	    tkvmod_reply_spill(task->held) == 0)
		task->held = NULL;
}

/* Keeps program()'s arguments for the fetch that follows. */
VCL_BACKEND
tkvmod_backend_select(VRT_CTX, struct tkvmod_program *p, const char *url,
    const char *arg)
{
	struct tkvmod_task *task = tkvmod_task_get(ctx);

	if (task == NULL)
		return (NULL);
	task->program = p;
	task->url = WS_Copy(ctx->ws, url ? url : "", -1);
	task->arg = WS_Copy(ctx->ws, arg ? arg : "", -1);
	if (task->url == NULL || task->arg == NULL) {
		VRT_fail(ctx, "tinykvm: program '%s': out of workspace", p->name);
		return (NULL);
	}
	return (p->dir);
}
