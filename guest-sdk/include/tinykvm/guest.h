/*
 * The TinyKVM guest SDK: what a program that serves Varnish requests calls.
 *
 * A program initialises in main(), registers its handlers and calls
 * tinykvm_wait_for_requests(); the VM pauses there and that memory is the
 * pristine image.  Each request then runs one handler in a fresh
 * copy-on-write copy of it.  A handler ends by calling tinykvm_respond();
 * returning without responding gives the client a 500.
 *
 * Link with libtinykvm-guest.a into a static program:
 *
 *	gcc -static -O2 -Iguest-sdk/include -o hello hello.c \
 *	    guest-sdk/libtinykvm-guest.a
 *
 * The hypercalls themselves are in tinykvm/abi.h.
 */
#ifndef TINYKVM_GUEST_H
#define TINYKVM_GUEST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The request a handler gets, valid until it responds.  Strings are
 * NUL-terminated and never NULL; body is NULL when body_len is 0.
 * The same layout as struct tinykvm_abi_request (the library asserts it).
 */
struct tinykvm_request {
	const char	*method;	/* "GET", "POST", ... */
	const char	*url;		/* url of tinykvm.program(), e.g. bereq.url */
	const char	*arg;		/* its arg argument */
	const char	*content_type;	/* the request's Content-Type, or "" */
	const void	*body;		/* the request body (POST handlers) */
	size_t		body_len;
};

/* A request handler: must end with tinykvm_respond(). */
typedef void (*tinykvm_handler)(const struct tinykvm_request *);

/* Registers (handler) for GET and HEAD requests.  Call from main(). */
void tinykvm_on_get(tinykvm_handler handler);

/* Registers (handler) for POST, PUT and other requests with a body. */
void tinykvm_on_post(tinykvm_handler handler);

/* Ends initialisation: the VM pauses here and becomes the pristine image. */
void tinykvm_wait_for_requests(void);

/*
 * Sends the response: (status), from 200 to 599 (anything else fails the
 * request with a 500), (content_type) (NULL for none) and (len) bytes of
 * (body).  Ends the request; never returns.
 */
void tinykvm_respond(int status, const char *content_type,
    const void *body, size_t len) __attribute__((noreturn));

/*
 * Copies the value of request header (name) into (buf), NUL-terminated and
 * cut to (size) - 1 bytes.  Returns its full length (>= size when cut), or
 * -1 when the request has no such header.
 */
long tinykvm_header_get(const char *name, char *buf, size_t size);

/*
 * Adds response header (name): (value).  Returns 0, or -1 if refused: a
 * name that is not a token, a value with control characters, more than 100
 * headers or 64 KiB, or a header the server sets (Content-Length,
 * Transfer-Encoding, Connection, Keep-Alive, TE, Trailer, Upgrade, Proxy-*).
 * Under Varnish the headers live in the task's workspace: a header that
 * would leave less than 4 KiB of it free is refused too (a VCL_Log line
 * says so).
 */
int tinykvm_header_add(const char *name, const char *value);

/*
 * Writes one line into Varnish's log (VSL), tagged with the program; cut to
 * TINYKVM_MAX_LOG - 1 bytes.  stdout and stderr go nowhere in the VMOD.
 */
void tinykvm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What a fetch sends.  Zero-initialise; every field may stay empty. */
struct tinykvm_fetch_options {
	const char	*method;	/* NULL: GET, or POST when there is a body */
	const char	*headers;	/* "Name: value" lines separated by "\n" */
	const void	*body;
	size_t		body_len;
	void		*buffer;	/* where the response body goes; NULL: */
	size_t		buffer_size;	/* memory mapped for it (tinykvm_fetch_free) */
};

/* What a fetch got back. */
struct tinykvm_fetch_result {
	int		status;
	char		content_type[128];
	char		headers[4096];	/* "Name: value\n" lines, cut to fit */
	void		*body;
	size_t		body_len;
	int		mapped;		/* body is memory tinykvm_fetch_free releases */
};

/*
 * Fetches (url): "http(s)://..." from a backend the program's allowed_urls
 * admits, or "/path" from this Varnish itself (a self-request: VCL, and the
 * cache, apply).  Returns the HTTP status, or a negative
 * TINYKVM_FETCH_EDENIED, _ETIMEOUT, _ETOOLARGE, _ECONNECT or _EFAILED.
 * EDENIED also answers a method other than GET, HEAD, POST, PUT, DELETE,
 * PATCH, OPTIONS (and the program's fetch_methods), and headers the host
 * sets itself: Host, Content-Length, Transfer-Encoding, Connection,
 * Keep-Alive, TE, Trailer, Upgrade, Expect, X-TinyKVM-Depth.
 */
long tinykvm_fetch(const char *url, const struct tinykvm_fetch_options *opt,
    struct tinykvm_fetch_result *res);
/* Releases a body tinykvm_fetch mapped (ephemeral programs need not). */
void tinykvm_fetch_free(struct tinykvm_fetch_result *res);

#ifdef __cplusplus
}
#endif

#endif
