/*
 * A VM's life as a checked state machine (the table is tk_internal.h's
 * comment on enum tk_vm_state).  A transition outside it is our bug, never
 * the guest's doing, so it aborts rather than guess.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tk_internal.h"

#define TO(s)	(1u << (s))

static const unsigned allowed[] = {
	[TK_STATE_LOADED] = TO(TK_STATE_RUNNING),
	[TK_STATE_RUNNING] = TO(TK_STATE_WAITING) | TO(TK_STATE_ENDED),
	[TK_STATE_WAITING] = TO(TK_STATE_IN_CALL) | TO(TK_STATE_WAITING) |
	    TO(TK_STATE_RUNNING),
	[TK_STATE_IN_CALL] = TO(TK_STATE_SERVED) | TO(TK_STATE_BROKEN),
	[TK_STATE_SERVED] = TO(TK_STATE_IN_CALL) | TO(TK_STATE_WAITING),
	[TK_STATE_BROKEN] = TO(TK_STATE_WAITING),
	[TK_STATE_ENDED] = 0,
};

static const char *const names[] = {
	[TK_STATE_LOADED] = "loaded", [TK_STATE_RUNNING] = "running",
	[TK_STATE_WAITING] = "waiting", [TK_STATE_IN_CALL] = "in a call",
	[TK_STATE_SERVED] = "served", [TK_STATE_BROKEN] = "broken",
	[TK_STATE_ENDED] = "ended",
};

void
tk_state_set(struct tk_vm *vm, enum tk_vm_state to)
{
	enum tk_vm_state from = vm->state;

	if (from >= TK_STATE_LOADED && from <= TK_STATE_ENDED &&
	    (allowed[from] & TO(to)) != 0) {
		/* Only a fork goes back to WAITING: a reset made it pristine. */
		assert(to != TK_STATE_WAITING || from == TK_STATE_RUNNING ||
		    vm->role == TK_ROLE_FORK);
		vm->state = to;
		return;
	}
	fprintf(stderr, "tinykvm: VM state %s -> %s is not a transition\n",
	    from >= TK_STATE_LOADED && from <= TK_STATE_ENDED ? names[from] : "?",
	    to >= TK_STATE_LOADED && to <= TK_STATE_ENDED ? names[to] : "?");
	abort();
}

int
tk_state_callable(const struct tk_vm *vm)
{
	return (vm->state == TK_STATE_WAITING || vm->state == TK_STATE_SERVED);
}
