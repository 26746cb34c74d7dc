/*
 * The VMOD's side of a guest's hypercalls: src/proto decodes and checks
 * them (tkp_hypercall) and calls these ops for what is Varnish's: request
 * headers from the http, response headers into the reply, log lines into
 * VSL, fetch() through libcurl.  Each op gets the request's struct
 * tkp_call, whose priv is the struct tkvmod_run below.
 */
#ifndef TKVMOD_HYPERCALLS_H
#define TKVMOD_HYPERCALLS_H

#include "tkvmod.h"
#include "../proto/request.h"

/* One request in a fork: what the ops read and fill. */
struct tkvmod_run {
	unsigned			magic;
#define TKVMOD_RUN_MAGIC		0x51e0c2d7
	const struct vrt_ctx		*ctx;
	struct tkvmod_program		*program;
	const struct tkvmod_call	*call;
	struct tkvmod_reply		*reply;
	unsigned			log_lines;	/* VSL lines the guest caused */
	double				deadline;	/* CLOCK_MONOTONIC s: fetches end by then */
};

/* The ops a request's struct tkp_call runs with (priv: its tkvmod_run). */
extern const struct tkp_ops tkvmod_ops;

/*
 * A VSL_Log line "tinykvm: <program>: ..." on the guest's behalf: at most
 * TKVMOD_MAX_LOG_LINES per request, then one line saying the rest is dropped.
 */
void tkvmod_run_log(struct tkvmod_run *run, const char *fmt, ...)
    v_printflike_(2, 3);

#endif
