/*
 * The smallest TinyKVM request handler: GET says hello, POST echoes the body.
 *
 *	make -C guest-sdk
 *	gcc -static -O2 -Iguest-sdk/include -o examples/hello/hello \
 *	    examples/hello/hello.c guest-sdk/libtinykvm-guest.a
 */
#include <stdio.h>

#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	char text[4096];
	int n;

	n = snprintf(text, sizeof text,
	    "Hello from a TinyKVM guest! url=%s arg=%s\n", req->url, req->arg);
	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof text)
		n = sizeof text - 1;
	(void)tinykvm_header_add("X-Program", "hello");
	tinykvm_log("hello: %s %s", req->method, req->url);
	tinykvm_respond(200, "text/plain", text, (size_t)n);
}

static void
on_post(const struct tinykvm_request *req)
{
	(void)tinykvm_header_add("X-Program", "hello");
	tinykvm_log("hello: %s %s, echoing %zu bytes", req->method, req->url,
	    req->body_len);
	tinykvm_respond(200, req->content_type, req->body, req->body_len);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_on_post(on_post);
	tinykvm_wait_for_requests();
	return (0);
}
