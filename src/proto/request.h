/*
 * One request through a program, the same for the VMOD and tinykvm-run:
 * the handler picked by method, the request pushed onto the call stack, the
 * handler called, and every hypercall it makes decoded with one set of
 * rules (http_rules.h) and limits.  What differs between the embedders
 * (where request headers come from, where response headers, log lines and
 * output go, fetch()) is behind struct tkp_ops, the way kvmtool's generic
 * code calls per-arch hooks.  No Varnish here: the engine's public header
 * only, so a program that passes `tinykvm-run --get` gets the same
 * verdicts under Varnish.
 */
#ifndef TK_PROTO_REQUEST_H
#define TK_PROTO_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "tinykvm.h"

struct tkp_call;

/* Where a line for the embedder's log comes from. */
enum tkp_log_source {
	TKP_LOG_GUEST,		/* the guest's own line (TINYKVM_HC_LOG) */
	TKP_LOG_HOST,		/* the host refused a call and says why */
};

/*
 * What an embedder does for a call: called only while tkp_call_run runs
 * (c), with (c) as passed.  Every string they get has been checked.
 */
struct tkp_ops {
	/* The value of request header (name), a token; NULL if absent. */
	const char	*(*header_get)(struct tkp_call *c, const char *name);
	/* Adds response header (name): (value); 0 or -errno. */
	int		(*header_add)(struct tkp_call *c, const char *name,
			    const char *value);
	/* One line (no newline) for the log; NULL: dropped. */
	void		(*log)(struct tkp_call *c, enum tkp_log_source source,
			    const char *line);
	/*
	 * TINYKVM_HC_FETCH with the guest's struct tinykvm_abi_fetch at (gva),
	 * unchecked: the status, a TINYKVM_FETCH_E* code or -errno.  NULL:
	 * the guest gets -ENOSYS.
	 */
	int64_t		(*fetch)(struct tkp_call *c, struct tk_vm *vm,
			    uint64_t gva);
	/* (len) bytes the guest wrote on (fd) 1 or 2; NULL: discarded. */
	long		(*write)(struct tkp_call *c, int fd, const void *buf,
			    size_t len);
};

/* What the handler gets (struct tinykvm_abi_request).  NULL strings: "". */
struct tkp_request {
	const char	*method;	/* GET and HEAD: the GET handler; else POST */
	const char	*url;
	const char	*arg;
	const char	*content_type;
	const void	*body;
	size_t		body_len;
};

/* What the handler responded, once tkp_call_run returned 0. */
struct tkp_response {
	int		status;			/* 200-599 */
	char		content_type[256];	/* "" for none */
	const char	*body;		/* a view of the VM's memory, not a copy */
	size_t		body_len;
	unsigned	headers;	/* response headers header_add took */
	size_t		header_bytes;	/* their "Name: value\n" bytes */
};

/* One request in one VM; tkp_call_init, set (req) and the limit, run. */
struct tkp_call {
	unsigned		magic;
#define TKP_CALL_MAGIC		0x6b3e0f52
	const struct tkp_ops	*ops;
	void			*priv;		/* the embedder's, for its ops */
	struct tkp_request	req;
	/*
	 * The largest response body taken, and what sets it, for the error:
	 * "the workspace" (required).
	 */
	size_t			max_body;
	const char		*max_body_what;
	/* Filled by tkp_call_run. */
	unsigned		slot;		/* TINYKVM_HANDLER_GET or _POST */
	uint64_t		req_body_gva;	/* where the body went, 0: none */
	int			responded;	/* resp holds a response */
	struct tkp_response	resp;
	char			error[192];	/* why not, when not */
};

/* Zeroes (c) and sets its magic, (ops) and (priv). */
void tkp_call_init(struct tkp_call *c, const struct tkp_ops *ops, void *priv);

/*
 * Runs (c) in (vm), a VM paused between requests: picks the handler by
 * c->req.method, pushes the request (its body into memory tk_vm_alloc
 * maps), calls the handler with (c) as the call's opaque and at most
 * (timeout_ns), into (res).  0: the guest responded (c->resp).  Else
 * c->error says why: -ENOENT, the program has no handler for the method
 * (nothing ran); -ENOMEM, the request does not fit (nothing ran); -EIO,
 * the handler ran and gave no acceptable response ((res) says how it
 * stopped).  The response body stays in (vm): valid until it runs again,
 * is reset or destroyed.
 */
int tkp_call_run(struct tk_vm *vm, struct tkp_call *c, uint64_t timeout_ns,
    struct tk_result *res);

/*
 * The embedder hypercalls (TINYKVM_HC_RESPOND and on) for
 * tk_vm_config.hypercall: decodes and checks them and calls the ops of the
 * struct tkp_call that is (opaque).  Without one (main() before it waits
 * for requests) each gets -EPERM.
 */
tk_hypercall_fn tkp_hypercall;

/*
 * Guest output for tk_vm_config.write: to the ops' write during a call,
 * discarded otherwise.
 */
tk_write_fn tkp_guest_write;

#endif
