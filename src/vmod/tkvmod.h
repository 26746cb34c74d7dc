/*
 * The VMOD's internal header: programs, their fork pools, and one request's
 * run.  Varnish objects cross into these files; the engine is reached only
 * through tinykvm.h.
 */
#ifndef TKVMOD_H
#define TKVMOD_H

#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdint.h>

#include "tinykvm.h"
#include "tinykvm/abi.h"
#include "../proto/http_rules.h"

struct vsb;

/* A program's settings, from configure()'s JSON. */
struct tkvmod_config {
	char		*filename;
	unsigned	concurrency;
	uint64_t	max_memory;		/* bytes */
	uint64_t	max_request_memory;	/* bytes */
	double		max_boot_time;		/* seconds */
	double		max_request_time;
	double		max_queue_time;
	int		ephemeral;
	char		**argv;			/* filename, arguments, NULL */
	char		**envp;			/* NULL-terminated */
	/* allowed_paths: what the program may read (the engine checks them). */
	struct tk_read_path *read_paths;
	unsigned	n_read_paths;
	char		**read_specs;		/* what read_paths point into */
	int		system_libraries;	/* a dynamic program reads /lib... */
	/* fetch(): what a program may reach, how long, how much. */
	char		**allowed_urls;		/* prefixes, or "^regex" */
	regex_t		*allowed_re;		/* compiled, per entry (NULL: prefix) */
	unsigned	n_allowed;
	char		**fetch_methods;	/* beyond GET..OPTIONS; NULL-terminated */
	unsigned	n_fetch_methods;
	double		fetch_timeout;
	uint64_t	max_fetch_size;		/* bytes */
};

/* Parses (json) for program (name); 0, or -1 with a message in (err). */
int tkvmod_config_parse(struct tkvmod_config *cfg, const char *name,
    const char *json, char *err, size_t errlen);
void tkvmod_config_free(struct tkvmod_config *cfg);

/* Counted without a lock: `p->stats.failures++` is one atomic add. */
struct tkvmod_stats {
	_Atomic(uint64_t)	requests;
	_Atomic(uint64_t)	failures;
	_Atomic(uint64_t)	timeouts;
	_Atomic(uint64_t)	queue_waits;
	_Atomic(uint64_t)	queue_rejections;
	_Atomic(uint64_t)	run_ns;
	_Atomic(uint64_t)	run_max_ns;
	_Atomic(uint64_t)	reset_ns;
	_Atomic(uint64_t)	resets;
	_Atomic(uint64_t)	dirty_pages;
};

/* One fork of a program's pool (pool.c), and where it is in its use. */
enum tkvmod_slot_state {
	TKVMOD_SLOT_CLEAN,	/* reset, free */
	TKVMOD_SLOT_DIRTY,	/* free, to be reset by whoever takes it first */
	TKVMOD_SLOT_BUSY,	/* a request or a reset has it */
	TKVMOD_SLOT_DEAD,	/* its reset failed and no fork replaced it */
};

struct tkvmod_slot {
	_Atomic(int)		state;
	_Atomic(struct tk_vm *)	fork;
};

enum tkvmod_state { TKVMOD_UNLOADED, TKVMOD_LOADING, TKVMOD_READY, TKVMOD_FAILED };

struct tkvmod_program {
	unsigned		magic;
#define TKVMOD_PROGRAM_MAGIC	0x7b2e51c9
	char			*name;
	struct tkvmod_config	cfg;
	const struct director	*dir;		/* program() returns it */

	pthread_mutex_t		mtx;
	pthread_cond_t		cond;		/* the load finished */
	enum tkvmod_state	state;
	atomic_int		ready;		/* state is READY: for good */
	char			error[512];	/* why loading failed */
	char			platform[256];	/* the KVM and protections it runs with */
	struct tk_vm		*main;
	/* The pool (pool.c): taken and given back with atomics; the lock and
	 * fork_cond only when a request has to wait for a fork. */
	struct tkvmod_slot	*slots;		/* cfg.concurrency of them */
	_Atomic(unsigned)	waiters;
	pthread_cond_t		fork_cond;	/* a fork came back */
	struct tkvmod_stats	stats;

	struct tkvmod_programs	*programs;	/* the VCL's, for self-requests */
	struct tkvmod_program	*next;
};

/* A VCL's programs (PRIV_VCL). */
struct tkvmod_programs {
	unsigned		magic;
#define TKVMOD_PROGRAMS_MAGIC	0x4d1f09a3
	struct tkvmod_program	*list;
	char			*self_socket;	/* init_self_requests() */
	char			*self_prefix;
	char			self_secret[33];	/* proves a depth header is ours */
};

/* Self-requests carry their depth in this header; deeper than this fails. */
#define TKVMOD_DEPTH_HEADER	"X-TinyKVM-Depth"
#define TKVMOD_MAX_DEPTH	4
/* Longest fetch() method, configured (fetch_methods) or from a guest. */
#define TKVMOD_MAX_METHOD	32
/* VSL lines one request's guest may cause (logs, output, refusals). */
#define TKVMOD_MAX_LOG_LINES	100

struct tkvmod_program *tkvmod_program_find(const struct tkvmod_programs *,
    const char *name);
struct tkvmod_program *tkvmod_program_new(const char *name,
    struct tkvmod_config *cfg);
void tkvmod_program_free(struct tkvmod_program *p);
struct vrt_ctx;
/* Loads (p) if not yet loaded, waiting for a load in progress; 0 or -1. */
int tkvmod_program_load(const struct vrt_ctx *ctx, struct tkvmod_program *p);
/*
 * pool.c: a program's forks.  Taking and giving back a fork takes no lock;
 * only a request that finds every fork busy waits, under the lock.
 */
int tkvmod_pool_init(struct tkvmod_program *p);
/* Puts (fork) in slot (i), clean. */
void tkvmod_pool_add(struct tkvmod_program *p, unsigned i, struct tk_vm *fork);
/* At discard, no request runs: destroys every fork. */
void tkvmod_pool_free(struct tkvmod_program *p);
/* A free fork of (p) within its max_queue_time, or NULL (*why says why). */
struct tk_vm *tkvmod_fork_acquire(struct tkvmod_program *p, const char **why);
/*
 * Returns a fork to its pool, reset first if (reset); adds (run_seconds) to
 * the counters unless negative.
 */
void tkvmod_fork_release(struct tkvmod_program *p, struct tk_vm *fork,
    int reset, double run_seconds);
/* Returns a fork to be reset by whoever needs it first (the reset off the client's path). */
void tkvmod_fork_release_dirty(struct tkvmod_program *p, struct tk_vm *fork,
    double run_seconds);
/* Resets (fork) if it is still dirty in (p)'s pool. */
void tkvmod_fork_reset_dirty(struct tkvmod_program *p, struct tk_vm *fork);
/* One request's run time to its counters. */
void tkvmod_run_count(struct tkvmod_program *p, double seconds);
/* Appends (p)'s statistics as a JSON member to (vsb). */
void tkvmod_stats_json(struct tkvmod_program *p, struct vsb *vsb);

/* A growing buffer with a ceiling (buf.c). */
struct tkvmod_buf {
	char		*p;
	size_t		len;
	size_t		cap;
	size_t		limit;
	int		over;		/* an add went past the limit */
};
/* Appends (n) bytes; -1 past the limit or out of memory. */
int tkvmod_buf_add(struct tkvmod_buf *b, const void *data, size_t n);

/* CLOCK_MONOTONIC in seconds (request.c). */
double tkvmod_now(void);

/*
 * One request's response, as the program made it.  The body is a view of the
 * fork's memory, not a copy: the fork stays the request's until
 * tkvmod_reply_finish or tkvmod_reply_defer gives it back.
 */
#define TKVMOD_WS_HEADROOM	4096

struct tkvmod_reply {
	int			status;		/* the program's, or ours on failure */
	int			failed;		/* the program did not respond */
	char			content_type[256];
	const char		*body;
	size_t			body_len;
	/*
	 * "Name: value" lines the program added, in the task's workspace; one
	 * that would leave less than TKVMOD_WS_HEADROOM of it free is refused.
	 */
	const char		*headers[TKP_MAX_RESPONSE_HEADERS];
	unsigned		n_headers;
	/* The fork the body is in, and what giving it back takes. */
	struct tkvmod_program	*program;
	struct tk_vm		*fork;
	int			reset;		/* ephemeral, or the call failed */
	uint64_t		req_body;	/* guest memory of the request's body */
	size_t			req_body_len;
	double			run_seconds;
	char			*spill;		/* the body, copied out (malloc) */
};

/* What a request brings to the program. */
struct tkvmod_call {
	const char	*method;
	const char	*url;
	const char	*arg;
	const char	*content_type;
	const void	*body;
	size_t		body_len;
	const struct http *req_http;	/* where header_get looks */
	size_t		max_body;	/* largest response body taken; 0: any */
	int		no_headers;	/* response headers go nowhere (to_string) */
};

struct vrt_ctx;
/*
 * Runs one request through (p): takes a fork, calls the handler, fills
 * (reply), logs failures to VSL and counts them.  Returns 0 when the
 * program responded, -1 otherwise (reply->status then says 500 or 503).
 */
int tkvmod_request(const struct vrt_ctx *ctx, struct tkvmod_program *p,
    const struct tkvmod_call *call, struct tkvmod_reply *reply);
/* Frees (reply) and gives its fork back now, reset if need be. */
void tkvmod_reply_finish(struct tkvmod_reply *reply);

/* Sets the reply's response headers on (hp), whose workspace holds them. */
struct http;
void tkvmod_headers_apply(struct http *hp, const struct tkvmod_reply *reply);
/*
 * Frees (reply) and gives its fork back to be reset after the client has
 * its response: when the task ends (or by the next request that needs it).
 * The body must have been copied out already.
 */
void tkvmod_reply_defer(const struct vrt_ctx *ctx, struct tkvmod_reply *reply);
/* Copies the body out of the fork and gives the fork back now; 0 or -1. */
int tkvmod_reply_spill(struct tkvmod_reply *reply);

/* The director program() returns: created per program at configure(). */
const struct director *tkvmod_backend_new(const struct vrt_ctx *ctx,
    struct tkvmod_program *p);
void tkvmod_backend_free(const struct director **dir);
/* program()'s and chain()'s arguments, kept for the fetch in PRIV_TASK. */
#define TKVMOD_MAX_CHAIN	8
#define TKVMOD_MAX_DEFERRED	8
struct tkvmod_task {
	unsigned		magic;
#define TKVMOD_TASK_MAGIC	0x29c7e0b4
	struct tkvmod_program	*program;
	const char		*url;
	const char		*arg;
	unsigned		n_chain;
	unsigned		chain_retries;	/* bereq.retries the chain is for */
	/* Forks this task gave back dirty: reset when the task ends. */
	unsigned		n_deferred;
	struct {
		struct tkvmod_program	*program;
		struct tk_vm		*fork;
	}			deferred[TKVMOD_MAX_DEFERRED];
	/*
	 * The backend reply whose fork is held from gethdrs to finish (its
	 * body goes into storage from the fork).  A call to the same program
	 * in between (vcl_backend_response) spills it first: one task never
	 * waits for a fork it holds itself.
	 */
	struct tkvmod_reply	*held;
	struct {
		struct tkvmod_program	*program;
		const char		*arg;
	}			chain[TKVMOD_MAX_CHAIN];
};
/* Before a backend task calls (p) again: gives back a fork it holds of (p). */
void tkvmod_task_spill(const struct vrt_ctx *ctx, const struct tkvmod_program *p);
/* The task of this fetch, made if needed; NULL (and a VCL failure) if out of workspace. */
struct tkvmod_task *tkvmod_task_get(const struct vrt_ctx *ctx);

/*
 * fetch.c: TINYKVM_HC_FETCH for a run (hypercalls.h), the fetch op: the
 * guest's struct tinykvm_abi_fetch at (gva), unchecked.
 */
struct tkvmod_run;
int64_t tkvmod_fetch(struct tkvmod_run *run, struct tk_vm *vm, uint64_t gva);
extern const void *const tkvmod_task_id;
/* program(): keeps (url, arg) for the fetch and returns (p)'s director. */
const struct director *tkvmod_backend_select(const struct vrt_ctx *ctx,
    struct tkvmod_program *p, const char *url, const char *arg);

#endif
