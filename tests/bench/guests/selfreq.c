/*
 * fetch-bench's program: fetches "/obj" from this Varnish (a self-request,
 * normally a cache hit) into memory the SDK maps, and responds with it.
 * A failed fetch gives a 502 naming the error.
 */
#include <stdio.h>

#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	static struct tinykvm_fetch_result res;
	char text[64];
	long r;
	int n;

	(void)req;
	r = tinykvm_fetch("/obj", NULL, &res);
	if (r != 200) {
		n = snprintf(text, sizeof text, "fetch /obj: %ld\n", r);
		tinykvm_respond(502, "text/plain", text, (size_t)n);
	}
	/* ephemeral: the mapping goes with the request, no tinykvm_fetch_free() */
	tinykvm_respond(200, res.content_type[0] ? res.content_type : NULL,
	    res.body, res.body_len);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
