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
	double				deadline;	/* CLOCK_MONOTONIC s: fetches end by then */
	char				error[192];	/* why a hypercall ended the run */
};

tk_hypercall_fn tkvmod_hypercall;
tk_write_fn tkvmod_guest_write;

#endif
