/*
 * Linux system-call emulation: the families (mm, io, fs, time, proc, self,
 * net, events) each
 * export a table of the calls they handle; this registers them all with the
 * exit dispatch (exit.c), which calls them by number.
 */
#include "syscalls.h"

void
tk_linux_register(void)
{
	static const struct tk_syscall *const families[] = {
		tk_linux_mm_calls, tk_linux_io_calls, tk_linux_fs_calls,
		tk_linux_time_calls, tk_linux_proc_calls, tk_linux_self_calls,
		tk_linux_net_calls, tk_linux_events_calls,
	};
	const struct tk_syscall *s;
	size_t f;

	for (f = 0; f < sizeof families / sizeof families[0]; f++)
		for (s = families[f]; s->fn != NULL; s++)
			tk_exit_register_syscall(s->nr, s->fn);
}
