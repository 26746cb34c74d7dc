/*
 * A handler that answers badly in the way its arg names, for the test that
 * tinykvm-run and the VMOD give every bad response the same verdict
 * (tests/response_verdicts.list).  A hypercall the host refuses makes the
 * handler respond 200 "rc=R", R the raw return value (-errno); a refused
 * response fails the request.  Hypercalls are made raw, so the pointers and
 * lengths reach the host exactly as written here.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tinykvm/abi.h"
#include "tinykvm/guest.h"

/*
 * Addresses no guest may read: a hole with no page mapped (above the
 * kernel's low pages, below the program; a munmap()ed page would not do, as
 * the mmap area stays mapped and reads as zero), kernel space, and a range
 * that wraps around.
 */
#define UNMAPPED_ADDR	0x100000UL
#define KERNEL_ADDR	0xffffffff80000000UL
#define WRAP_ADDR	0xfffffffffffff800UL
#define WRAP_LEN	0x1000UL
/* One byte over the VMOD's default max_memory and tinykvm-run's default. */
#define OVER_MEMORY	((256UL << 20) + 1)

/* A hypercall as guest.c makes it: number in eax, stored to the doorbell. */
static long
hypercall(long nr, long a0, long a1, long a2, long a3, long a4)
{
	register long rax __asm__("rax") = nr;
	register long rdi __asm__("rdi") = a0;
	register long rsi __asm__("rsi") = a1;
	register long rdx __asm__("rdx") = a2;
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;

	__asm__ volatile("movl %%eax, %c[bell]"
	    : "+r"(rax)
	    : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8),
	      [bell] "i"(TINYKVM_DOORBELL)
	    : "memory");
	return (rax);
}

#define PTR(p)	((long)(uintptr_t)(p))

static void __attribute__((noreturn))
reply_rc(long rc)
{
	char out[64];
	int n = snprintf(out, sizeof out, "rc=%ld", rc);

	tinykvm_respond(200, "text/plain", out, (size_t)n);
}

static long
header_add(const char *name, size_t name_len, const char *value,
    size_t value_len)
{
	return (hypercall(TINYKVM_HC_HEADER_ADD, PTR(name), (long)name_len,
	    PTR(value), (long)value_len, 0));
}

static void __attribute__((noreturn))
respond_raw(long status, long type, long type_len, long body, long body_len)
{
	(void)hypercall(TINYKVM_HC_RESPOND, status, type, type_len, body,
	    body_len);
	__builtin_trap();
}

/*
 * 101 response headers "X-H: <i>" (one name, so a VCL can collect them):
 * the count of those added, and the last rc.
 */
static void __attribute__((noreturn))
too_many_headers(void)
{
	char out[64], value[32];
	long rc = 0, added = 0;
	int n;

	for (int i = 0; i < 101; i++) {
		n = snprintf(value, sizeof value, "%d", i);
		rc = header_add("X-H", 3, value, (size_t)n);
		added += rc == 0;
	}
	n = snprintf(out, sizeof out, "rc=%ld added=%ld", rc, added);
	tinykvm_respond(200, "text/plain", out, (size_t)n);
}

/*
 * Response headers of 1000 bytes until one is refused (the VMOD's
 * workspace runs out before the 64 KiB limit if the VCL's is small): the
 * count of those added, and the last rc.
 */
static void __attribute__((noreturn))
big_headers(void)
{
	static char value[1000];
	char out[64];
	long rc = 0, added = 0;
	int n;

	memset(value, 'v', sizeof value);
	while (added < 64 && (rc = header_add("X-Big", 5, value,
	    sizeof value)) == 0)
		added++;
	n = snprintf(out, sizeof out, "rc=%ld added=%ld", rc, added);
	tinykvm_respond(200, "text/plain", out, (size_t)n);
}

/* The response header cases: a bad name or value, or a refused name. */
static int
header_case(const char *a)
{
	static const char nul_value[] = "a\0b";

	if (strcmp(a, "name-space") == 0)
		reply_rc(header_add("X A", 3, "v", 1));
	if (strcmp(a, "name-colon") == 0)
		reply_rc(header_add("X:A", 3, "v", 1));
	if (strcmp(a, "name-empty") == 0)
		reply_rc(header_add("", 0, "v", 1));
	if (strcmp(a, "name-nontoken") == 0)
		reply_rc(header_add("X(A)", 4, "v", 1));
	if (strcmp(a, "name-nul") == 0)
		reply_rc(header_add("X\0A", 3, "v", 1));
	if (strcmp(a, "name-unmapped") == 0)
		reply_rc(hypercall(TINYKVM_HC_HEADER_ADD, (long)UNMAPPED_ADDR, 3,
		    PTR("v"), 1, 0));
	if (strcmp(a, "value-crlf") == 0)
		reply_rc(header_add("X-A", 3, "a\r\nX-B: b", 9));
	if (strcmp(a, "value-nul") == 0)
		reply_rc(header_add("X-A", 3, nul_value, 3));
	if (strcmp(a, "value-kernel") == 0)
		reply_rc(hypercall(TINYKVM_HC_HEADER_ADD, PTR("X-A"), 3,
		    (long)KERNEL_ADDR, 8, 0));
	if (strcmp(a, "value-wrap") == 0)
		reply_rc(hypercall(TINYKVM_HC_HEADER_ADD, PTR("X-A"), 3,
		    (long)WRAP_ADDR, (long)WRAP_LEN, 0));
	if (strcmp(a, "framing") == 0)
		reply_rc(header_add("Transfer-Encoding", 17, "chunked", 7));
	if (strcmp(a, "too-many") == 0)
		too_many_headers();
	if (strcmp(a, "big-headers") == 0)
		big_headers();
	if (strcmp(a, "header-ok") == 0)
		reply_rc(header_add("X-Fine", 6, "yes", 3));
	return (0);
}

/* The response cases: each is refused and fails the request, but "ok". */
static int
respond_case(const char *a)
{
	static const char body[] = "fine";

	if (strcmp(a, "status-99") == 0)
		tinykvm_respond(99, "text/plain", body, 4);
	if (strcmp(a, "status-103") == 0)
		tinykvm_respond(103, "text/plain", body, 4);
	if (strcmp(a, "status-600") == 0)
		tinykvm_respond(600, "text/plain", body, 4);
	if (strcmp(a, "status-minus1") == 0)
		tinykvm_respond(-1, "text/plain", body, 4);
	if (strcmp(a, "type-crlf") == 0)
		tinykvm_respond(200, "text/plain\r\nX-B: b", body, 4);
	if (strcmp(a, "type-unmapped") == 0)
		respond_raw(200, (long)UNMAPPED_ADDR, 10, PTR(body), 4);
	if (strcmp(a, "body-huge") == 0)
		respond_raw(200, PTR("text/plain"), 10, PTR(body), (long)OVER_MEMORY);
	if (strcmp(a, "body-null") == 0)
		respond_raw(200, PTR("text/plain"), 10, 0, 16);
	if (strcmp(a, "body-unmapped") == 0)
		respond_raw(200, PTR("text/plain"), 10, (long)UNMAPPED_ADDR, 16);
	if (strcmp(a, "body-kernel") == 0)
		respond_raw(200, PTR("text/plain"), 10, (long)KERNEL_ADDR, 16);
	if (strcmp(a, "body-wrap") == 0)
		respond_raw(200, PTR("text/plain"), 10, (long)WRAP_ADDR,
		    (long)WRAP_LEN);
	if (strcmp(a, "ok") == 0)
		tinykvm_respond(200, "text/plain", body, 4);
	return (0);
}

/* The other hypercalls' cases: a bad log line, a bad header name to look up. */
static int
other_case(const char *a)
{
	char buf[16];

	if (strcmp(a, "log-nul") == 0)
		reply_rc(hypercall(TINYKVM_HC_LOG, PTR("a\0b"), 3, 0, 0, 0));
	if (strcmp(a, "log-kernel") == 0)
		reply_rc(hypercall(TINYKVM_HC_LOG, (long)KERNEL_ADDR, 8, 0, 0, 0));
	if (strcmp(a, "get-nontoken") == 0)
		reply_rc(hypercall(TINYKVM_HC_HEADER_GET, PTR("X A"), 3, PTR(buf),
		    sizeof buf, 0));
	if (strcmp(a, "get-kernel") == 0)
		reply_rc(hypercall(TINYKVM_HC_HEADER_GET, (long)KERNEL_ADDR, 8,
		    PTR(buf), sizeof buf, 0));
	return (0);
}

static void
on_get(const struct tinykvm_request *req)
{
	(void)(header_case(req->arg) || respond_case(req->arg) ||
	    other_case(req->arg));
	tinykvm_respond(400, "text/plain", "no such case", 12);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
