/*
 * The one contract between a tinykvm guest and its host: hypercall numbers,
 * how they are made, and the structs they pass.  Both sides include this
 * file; it has fixed-width fields only and a version number.
 *
 * A hypercall is made like a Linux system call, with its number in rax and
 * up to six arguments in rdi, rsi, rdx, r10, r8, r9; the result comes back in
 * rax.  Either instruction works: SYSCALL, or a 4-byte store of eax to
 * TINYKVM_DOORBELL.  Which is cheaper depends on the host: SYSCALL where it
 * reaches the sandbox's ring 0 (standard KVM: an I/O exit, nothing to
 * emulate), the doorbell where SYSCALL is emulated (PVM).  The host says
 * which in TINYKVM_PLATFORM before the program starts.  Linux system calls
 * keep their numbers (below TINYKVM_HC_BASE).
 */
#ifndef TINYKVM_ABI_H
#define TINYKVM_ABI_H

#ifndef __ASSEMBLER__		/* kernel.S takes the numbers only */
#include <stdint.h>
#endif

#define TINYKVM_ABI_VERSION		1

/* A store to this guest address exits to the host: the doorbell. */
#define TINYKVM_DOORBELL		0xa000
/* A read-only 32-bit word of platform flags the host sets at load. */
#define TINYKVM_PLATFORM		0x9ffc
/* SYSCALL is the cheaper way to make a hypercall here. */
#define TINYKVM_PLATFORM_SYSCALL	0x1

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

#define TINYKVM_MAX_HANDLERS		32

/*
 * The VMOD's hypercalls, 0x10100-0x101ff.  Strings are passed as pointer and
 * length (no NUL needed); every pointer and length is checked by the host.
 */
/* (status, type, type_len, body, body_len): the response; ends the request. */
#define TINYKVM_HC_RESPOND		0x10100
/* (name, name_len, buf, size): a request header's value into buf, NUL-terminated
 * and cut to size - 1; returns its full length, or -2 (-ENOENT) if absent. */
#define TINYKVM_HC_HEADER_GET		0x10101
/* (name, name_len, value, value_len): adds a response header; 0 or -errno. */
#define TINYKVM_HC_HEADER_ADD		0x10102
/* (text, len): one line into Varnish's log (VSL), tagged with the program. */
#define TINYKVM_HC_LOG			0x10103

/*
 * (struct tinykvm_abi_fetch *): an HTTP request to a backend (a URL the
 * program's allowed_urls admits) or to this Varnish (a URL starting with
 * "/").  Returns the response status, or one of TINYKVM_FETCH_E*.
 */
#define TINYKVM_HC_FETCH		0x10104

#define TINYKVM_FETCH_EDENIED		(-2001)	/* not in allowed_urls, or too deep */
#define TINYKVM_FETCH_ETIMEOUT		(-2002)	/* fetch_timeout, or the request's time, ran out */
#define TINYKVM_FETCH_ETOOLARGE		(-2003)	/* the body is over max_fetch_size */
#define TINYKVM_FETCH_ECONNECT		(-2004)	/* no connection to the server */
#define TINYKVM_FETCH_EFAILED		(-2005)	/* any other failure (bad URL, bad reply) */

/*
 * A fetch.  In: url, method (empty: GET, or POST when there is a body),
 * request headers as "Name: value" lines separated by "\n", and the body.
 * Out: the response headers (same form, cut to headers_cap) and content
 * type (cut to content_type_cap), and the body: into the caller's buffer
 * (body_cap bytes at resp_body; larger is TINYKVM_FETCH_ETOOLARGE), or, when
 * resp_body is 0, into memory the host maps for it and whose address it
 * stores in resp_body (release it with munmap(resp_body, resp_body_len)).
 */
#ifndef __ASSEMBLER__
struct tinykvm_abi_fetch {
	uint64_t	url, url_len;
	uint64_t	method, method_len;
	uint64_t	headers, headers_len;
	uint64_t	body, body_len;
	uint64_t	resp_body, resp_body_cap, resp_body_len;
	uint64_t	resp_headers, resp_headers_cap, resp_headers_len;
	uint64_t	content_type, content_type_cap, content_type_len;
};
#endif

/* Handler slots the VMOD calls (TINYKVM_HC_REGISTER_HANDLER's index). */
#define TINYKVM_HANDLER_GET		0	/* GET and HEAD */
#define TINYKVM_HANDLER_POST		1	/* POST, PUT and others with a body */

/*
 * What a handler gets in rdi: the request, on its stack, strings
 * NUL-terminated, body in memory the host mapped for this request (0 when
 * there is none).  All fields are guest addresses or sizes.
 */
#ifndef __ASSEMBLER__
struct tinykvm_abi_request {
	uint64_t	method;
	uint64_t	url;
	uint64_t	arg;
	uint64_t	content_type;
	uint64_t	body;
	uint64_t	body_len;
};
#endif

/* Longest response header name or value, request header value, log line. */
#define TINYKVM_MAX_HEADER		8192
#define TINYKVM_MAX_LOG			1024

#endif
