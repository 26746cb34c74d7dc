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
 * Sends the response: (status), (content_type) (NULL for none) and (len)
 * bytes of (body).  Ends the request; never returns.
 */
void tinykvm_respond(int status, const char *content_type,
    const void *body, size_t len) __attribute__((noreturn));

/*
 * Copies the value of request header (name) into (buf), NUL-terminated and
 * cut to (size) - 1 bytes.  Returns its full length (>= size when cut), or
 * -1 when the request has no such header.
 */
long tinykvm_header_get(const char *name, char *buf, size_t size);

/* Adds response header (name): (value).  Returns 0, or -1 if refused. */
int tinykvm_header_add(const char *name, const char *value);

/*
 * Writes one line into Varnish's log (VSL), tagged with the program; cut to
 * TINYKVM_MAX_LOG - 1 bytes.  stdout and stderr go nowhere in the VMOD.
 */
void tinykvm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif
