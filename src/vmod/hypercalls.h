/*
 * The VMOD's hypercalls (TINYKVM_HC_RESPOND and friends in abi.h), made by a
 * guest while tkvmod_request runs it: the engine passes them to
 * tkvmod_hypercall with the request's state as its opaque pointer.
 */
#ifndef TKVMOD_HYPERCALLS_H
#define TKVMOD_HYPERCALLS_H

#include "tkvmod.h"

/* One request in a fork: what its hypercalls read and fill. */
struct tkvmod_run {
	unsigned			magic;
#define TKVMOD_RUN_MAGIC		0x51e0c2d7
	const struct vrt_ctx		*ctx;
	struct tkvmod_program		*program;
	const struct tkvmod_call	*call;
	struct tkvmod_reply		*reply;
	int				responded;
	unsigned			headers_added;
	unsigned			log_lines;	/* VSL lines the guest caused */
	double				deadline;	/* CLOCK_MONOTONIC s: fetches end by then */
	char				error[192];	/* why a hypercall ended the run */
};

tk_hypercall_fn tkvmod_hypercall;
/*
 * A VSL_Log line "tinykvm: <program>: ..." on the guest's behalf: at most
 * TKVMOD_MAX_LOG_LINES per request, then one line saying the rest is dropped.
 */
void tkvmod_run_log(struct tkvmod_run *run, const char *fmt, ...)
    v_printflike_(2, 3);
tk_write_fn tkvmod_guest_write;

#endif
