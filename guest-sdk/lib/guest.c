/*
 * The guest side of the VMOD's hypercalls (tinykvm/guest.h).
 *
 * Only freestanding headers and <string.h>, plus our own declaration of
 * vsnprintf: the symbols this file needs (strlen, vsnprintf) have the same
 * name and ABI in glibc and musl, so one libtinykvm-guest.a built with gcc
 * links into programs built with either.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinykvm/abi.h"
#include "tinykvm/guest.h"

/* Declared here rather than via <stdio.h>, which differs between libcs. */
int vsnprintf(char *, size_t, const char *, va_list);

/* The host passes a struct tinykvm_abi_request; handlers read it as ours. */
#define SAME_FIELD(f) \
	_Static_assert(offsetof(struct tinykvm_request, f) == \
	    offsetof(struct tinykvm_abi_request, f) && \
	    sizeof(((struct tinykvm_request *)0)->f) == \
	    sizeof(((struct tinykvm_abi_request *)0)->f), #f)
SAME_FIELD(method);
SAME_FIELD(url);
SAME_FIELD(arg);
SAME_FIELD(content_type);
SAME_FIELD(body);
SAME_FIELD(body_len);
_Static_assert(sizeof(struct tinykvm_request) ==
    sizeof(struct tinykvm_abi_request), "struct tinykvm_request size");

/*
 * One hypercall: (nr) in rax, arguments in rdi, rsi, rdx, r10, r8, the
 * result in rax.  SYSCALL where the host says it is cheaper (it takes rcx
 * and r11), else a 4-byte store of eax to the doorbell, which changes no
 * register but rax.  The host may write any guest memory we passed it,
 * hence "memory".  Unused arguments are passed as 0.
 */
static inline long
hypercall(long nr, long a0, long a1, long a2, long a3, long a4)
{
	register long rax __asm__("rax") = nr;
	register long rdi __asm__("rdi") = a0;
	register long rsi __asm__("rsi") = a1;
	register long rdx __asm__("rdx") = a2;
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;

	if (*(const volatile uint32_t *)TINYKVM_PLATFORM &
	    TINYKVM_PLATFORM_SYSCALL)
		__asm__ volatile("syscall"
		    : "+r"(rax)
		    : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8)
		    : "rcx", "r11", "memory");
	else
		__asm__ volatile("movl %%eax, %c[bell]"
		    : "+r"(rax)
		    : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8),
		      [bell] "i"(TINYKVM_DOORBELL)
		    : "memory");
	return (rax);
}

#define PTR(p)	((long)(uintptr_t)(p))

/* Our own slot numbers are always valid: registering cannot fail in main(). */
void
tinykvm_on_get(tinykvm_handler handler)
{
	(void)hypercall(TINYKVM_HC_REGISTER_HANDLER, TINYKVM_HANDLER_GET,
	    PTR(handler), 0, 0, 0);
}

void
tinykvm_on_post(tinykvm_handler handler)
{
	(void)hypercall(TINYKVM_HC_REGISTER_HANDLER, TINYKVM_HANDLER_POST,
	    PTR(handler), 0, 0, 0);
}

void
tinykvm_wait_for_requests(void)
{
	(void)hypercall(TINYKVM_HC_WAIT_FOR_REQUESTS, 0, 0, 0, 0, 0);
}

void
tinykvm_respond(int status, const char *content_type, const void *body,
    size_t len)
{
	if (content_type == NULL)
		content_type = "";
	(void)hypercall(TINYKVM_HC_RESPOND, status, PTR(content_type),
	    (long)strlen(content_type), PTR(body), (long)len);
	/* The host ends the request; coming back here is a host bug. */
	__builtin_trap();
}

long
tinykvm_header_get(const char *name, char *buf, size_t size)
{
	long r;

	r = hypercall(TINYKVM_HC_HEADER_GET, PTR(name), (long)strlen(name),
	    PTR(buf), (long)size, 0);
	return (r < 0 ? -1 : r);
}

int
tinykvm_header_add(const char *name, const char *value)
{
	long r;

	r = hypercall(TINYKVM_HC_HEADER_ADD, PTR(name), (long)strlen(name),
	    PTR(value), (long)strlen(value), 0);
	return (r < 0 ? -1 : 0);
}

void
tinykvm_log(const char *fmt, ...)
{
	char buf[TINYKVM_MAX_LOG];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	(void)hypercall(TINYKVM_HC_LOG, PTR(buf), n, 0, 0, 0);
}

long
tinykvm_fetch(const char *url, const struct tinykvm_fetch_options *opt,
    struct tinykvm_fetch_result *res)
{
	static const struct tinykvm_fetch_options none;
	struct tinykvm_abi_fetch f;
	long r;

	if (opt == NULL)
		opt = &none;
	memset(&f, 0, sizeof f);
	f.url = (uint64_t)(uintptr_t)url;
	f.url_len = strlen(url);
	if (opt->method != NULL) {
		f.method = (uint64_t)(uintptr_t)opt->method;
		f.method_len = strlen(opt->method);
	}
	if (opt->headers != NULL) {
		f.headers = (uint64_t)(uintptr_t)opt->headers;
		f.headers_len = strlen(opt->headers);
	}
	f.body = (uint64_t)(uintptr_t)opt->body;
	f.body_len = opt->body_len;
	f.resp_body = (uint64_t)(uintptr_t)opt->buffer;
	f.resp_body_cap = opt->buffer != NULL ? opt->buffer_size : 0;
	f.resp_headers = (uint64_t)(uintptr_t)res->headers;
	f.resp_headers_cap = sizeof res->headers - 1;
	f.content_type = (uint64_t)(uintptr_t)res->content_type;
	f.content_type_cap = sizeof res->content_type - 1;
	r = hypercall(TINYKVM_HC_FETCH, PTR(&f), 0, 0, 0, 0);
	res->headers[r >= 0 ? f.resp_headers_len : 0] = '\0';
	res->content_type[r >= 0 ? f.content_type_len : 0] = '\0';
	res->status = r >= 0 ? (int)r : 0;
	res->body = r >= 0 ? (void *)(uintptr_t)f.resp_body : NULL;
	res->body_len = r >= 0 ? f.resp_body_len : 0;
	res->mapped = r >= 0 && opt->buffer == NULL && f.resp_body != 0;
	return (r);
}

void
tinykvm_fetch_free(struct tinykvm_fetch_result *res)
{
	if (res->mapped && res->body != NULL)
		(void)hypercall(11 /* munmap */, (long)(uintptr_t)res->body,
		    (long)res->body_len, 0, 0, 0);
	res->body = NULL;
	res->body_len = 0;
	res->mapped = 0;
}
