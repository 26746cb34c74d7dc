/*
 * Linux system-call emulation: each family file (mm, io, fs, time, proc)
 * exports a table of the calls it handles (tk_syscall_fn, tk_internal.h).
 * Adding a family adds one file and one line in syscalls.c, which registers
 * them with the exit dispatch (exit.c).
 *
 * A handler gets the six argument registers, untrusted, and returns the
 * value for rax: a result or a negative errno.  To end the run it calls
 * tk_stop(); its return value is then ignored.
 */
#ifndef TK_LINUX_SYSCALLS_H
#define TK_LINUX_SYSCALLS_H

#include <stdint.h>

#include "../tk_internal.h"

struct tk_syscall {
	unsigned	nr;
	tk_syscall_fn	*fn;
};

/* Each table ends with { 0, NULL }. */
extern const struct tk_syscall tk_linux_mm_calls[];
extern const struct tk_syscall tk_linux_io_calls[];
extern const struct tk_syscall tk_linux_fs_calls[];
extern const struct tk_syscall tk_linux_time_calls[];
extern const struct tk_syscall tk_linux_proc_calls[];
extern const struct tk_syscall tk_linux_self_calls[];
extern const struct tk_syscall tk_linux_net_calls[];
extern const struct tk_syscall tk_linux_events_calls[];

struct stat;
struct statfs;
struct tk_ofd;
/* io.c: what fstat and fstatfs say of a description. */
int tk_ofd_stat(struct tk_vm *vm, struct tk_ofd *o, struct stat *st);
int tk_ofd_statfs(struct tk_ofd *o, struct statfs *sf);

/*
 * time.c: sleeps until (until), CLOCK_MONOTONIC ns, or ends the run at its
 * deadline (vm->stopped says which); a guest timespec as ns.
 */
void tk_linux_sleep_until(struct tk_vm *vm, uint64_t until);
int64_t tk_linux_timespec_ns(struct tk_vm *vm, uint64_t gva, uint64_t *ns);

/* events.c: read and write on the descriptors it makes (pipes, eventfd,
 * timerfd); io.c hands them over.  A read that may not block (a readv's
 * later elements) gives -EAGAIN where it would. */
int64_t tk_events_read(struct tk_vm *vm, struct tk_ofd *o, void *p,
    uint64_t len, int may_block);
int64_t tk_events_write(struct tk_vm *vm, struct tk_ofd *o, const void *p,
    uint64_t len);

/* The pid and tid the guest sees: it is alone in its world. */
#define TK_GUEST_PID	1

#endif
