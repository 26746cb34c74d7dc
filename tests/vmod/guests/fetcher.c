/*
 * Fetches what it is told to and reports what came back.  GET: fetches the
 * URL in arg (with the request's X-Fetch-Method and a body from X-Fetch-Body
 * if given) and responds "status=N len=L type=T body=B" (body cut to 200
 * bytes), or "error=E" with the negative code.  POST: upper-cases the
 * request body (a transform for chain()).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	static struct tinykvm_fetch_result res;
	struct tinykvm_fetch_options opt;
	char method[16] = "", body[256] = "", out[512];
	long r;
	int n;

	memset(&opt, 0, sizeof opt);
	if (tinykvm_header_get("X-Fetch-Method", method, sizeof method) > 0)
		opt.method = method;
	if (tinykvm_header_get("X-Fetch-Body", body, sizeof body) > 0) {
		opt.body = body;
		opt.body_len = strlen(body);
		opt.headers = "Content-Type: text/plain\nX-From: fetcher";
	}
	r = tinykvm_fetch(req->arg, &opt, &res);
	if (r < 0)
		n = snprintf(out, sizeof out, "error=%ld", r);
	else
		n = snprintf(out, sizeof out, "status=%ld len=%zu type=%s body=%.*s",
		    r, res.body_len, res.content_type,
		    (int)(res.body_len < 200 ? res.body_len : 200),
		    res.body ? (const char *)res.body : "");
	tinykvm_fetch_free(&res);
	tinykvm_respond(200, "text/plain", out, (size_t)n);
}

static void
on_post(const struct tinykvm_request *req)
{
	static char out[1 << 20];
	size_t n = req->body_len < sizeof out ? req->body_len : sizeof out;

	for (size_t i = 0; i < n; i++)
		out[i] = (char)toupper(((const unsigned char *)req->body)[i]);
	tinykvm_header_add("X-Transformed", req->arg);
	tinykvm_respond(200, req->content_type, out, n);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_on_post(on_post);
	tinykvm_wait_for_requests();
	return 0;
}
