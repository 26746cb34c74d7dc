/*
 * How a run ends and what it says on the way: leaf helpers every engine
 * file may call (they call nothing of ours back).  tk_stop fills the
 * caller's tk_result and makes the run loop return; tk_log hands a line to
 * the embedder's log function; tk_call_overtime stops a call whose deadline
 * passed while the host worked for it.
 */
#include <stdarg.h>
#include <stdio.h>

#include "tk_internal.h"

void
tk_log(struct tk_vm *vm, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (vm->cb.log == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	vm->cb.log(vm->cb.opaque, line);
}

void
tk_stop(struct tk_vm *vm, enum tk_stop why, int status, int sig,
    const char *fmt, ...)
{
	va_list ap;

	vm->stopped = 1;
	vm->res->stop = why;
	vm->res->exit_status = status;
	vm->res->signal = sig;
	va_start(ap, fmt);
	(void)vsnprintf(vm->res->message, sizeof vm->res->message, fmt, ap);
	va_end(ap);
}

int
tk_call_overtime(struct tk_vm *vm, const char *what)
{
	if (vm->state != TK_STATE_IN_CALL || vm->call_deadline == 0 ||
	    tk_now_ns() < vm->call_deadline)
		return (0);
	tk_stop(vm, TK_STOP_TIMEOUT, 0, 0, "timed out while %s for the program",
	    what);
	return (1);
}
