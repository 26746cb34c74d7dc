/*
 * The one contract between a tinykvm guest and its host: hypercall numbers,
 * how they are made, and the structs they pass.  Both sides include this
 * file; it has fixed-width fields only and a version number.
 *
 * A hypercall is made like a Linux system call, with its number in rax and
 * up to six arguments in rdi, rsi, rdx, r10, r8, r9; the result comes back in
 * rax.  Either instruction works: SYSCALL, or a 4-byte store of eax to
 * TINYKVM_DOORBELL (cheaper where SYSCALL is emulated, as on PVM hosts).
 * Linux system calls keep their numbers (below TINYKVM_HC_BASE).
 */
#ifndef TINYKVM_ABI_H
#define TINYKVM_ABI_H

#include <stdint.h>

#define TINYKVM_ABI_VERSION		1

/* A store to this guest address exits to the host: the doorbell. */
#define TINYKVM_DOORBELL		0xa000

#define TINYKVM_HC_BASE			0x10000

/* Lifecycle, 0x10000-0x100ff. */
/* (index, function): a handler the host may call; index < TINYKVM_MAX_HANDLERS. */
#define TINYKVM_HC_REGISTER_HANDLER	0x10000
/* (): end of initialisation; the VM pauses here and becomes the pristine image. */
#define TINYKVM_HC_WAIT_FOR_REQUESTS	0x10001
/* (value): the function the host called has returned (made by the host's return gate). */
#define TINYKVM_HC_RETURN		0x10002
/* (): does nothing; for measuring the cost of a hypercall. */
#define TINYKVM_HC_NOP			0x10003

/* Numbers from here up belong to the embedder (the VMOD's HTTP calls, fetch, logging). */
#define TINYKVM_HC_EMBEDDER		0x10100

#define TINYKVM_MAX_HANDLERS		16

#endif
