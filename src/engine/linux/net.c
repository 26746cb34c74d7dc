/*
 * Sockets: none.  A guest reaches the network only through the embedder's
 * fetch() hypercall, under its allow-list.  Each call is refused with
 * EACCES, as a seccomp or LSM policy would, so libc's fallbacks (nscd,
 * syslog) give up quietly instead of reporting a missing system call.
 */
#include <errno.h>
#include <sys/syscall.h>

#include "syscalls.h"

static int64_t
sys_no_network(struct tk_vm *vm, const uint64_t *a)
{
	(void)vm;
	(void)a;
	return (-EACCES);
}

const struct tk_syscall tk_linux_net_calls[] = {
	{ SYS_socket, sys_no_network },
	{ SYS_connect, sys_no_network },
	{ SYS_accept, sys_no_network },
	{ SYS_sendto, sys_no_network },
	{ SYS_recvfrom, sys_no_network },
	{ SYS_sendmsg, sys_no_network },
	{ SYS_recvmsg, sys_no_network },
	{ SYS_bind, sys_no_network },
	{ SYS_listen, sys_no_network },
	{ SYS_socketpair, sys_no_network },
	{ SYS_accept4, sys_no_network },
	{ SYS_recvmmsg, sys_no_network },
	{ SYS_sendmmsg, sys_no_network },
	{ 0, NULL },		/* the end: fn NULL */
};
