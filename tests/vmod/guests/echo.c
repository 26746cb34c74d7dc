/*
 * Test guest: GET answers with what the handler saw (method, url, arg and
 * the request header X-Test); POST echoes the body with its Content-Type.
 * Both add the response header X-Echo.  A POST with arg "check" instead
 * checks the body against the pattern of varnishtest's "txreq -bodylen N"
 * and answers "len=N pattern=ok" (or where it differs): for bodies too
 * large for varnishtest's 2 MiB receive buffer.
 */
#include <stdio.h>
#include <string.h>

#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	char test[256], text[4096], len[32];
	long n;
	int m;

	n = tinykvm_header_get("X-Test", test, sizeof test);
	if (n < 0)
		snprintf(test, sizeof test, "(none)");
	m = snprintf(text, sizeof text, "method=%s url=%s arg=%s x-test=%s\n",
	    req->method, req->url, req->arg, test);
	if (m < 0)
		m = 0;
	else if ((size_t)m >= sizeof text)
		m = sizeof text - 1;
	snprintf(len, sizeof len, "%ld", n);
	(void)tinykvm_header_add("X-Echo", "get");
	(void)tinykvm_header_add("X-Test-Length", len);
	if (n >= 0)
		(void)tinykvm_header_add("X-Test-Echo", test);
	tinykvm_log("echo: %s %s", req->method, req->url);
	tinykvm_respond(200, "text/plain", text, (size_t)m);
}

/* The offset of the first byte that differs from varnishtest's synth_body(), or -1. */
static long
pattern_check(const unsigned char *b, size_t n)
{
	int k = '!', l = '!';
	size_t j;

	for (j = 0; j < n; j++) {
		int want;

		if (j == n - 1 || j % 64 == 63) {
			want = '\n';
			if (++k == '~')
				k = '!';
			l = k;
		} else {
			want = l;
			if (++l == '~')
				l = '!';
		}
		if (b[j] != want)
			return ((long)j);
	}
	return (-1);
}

static void
on_post(const struct tinykvm_request *req)
{
	char len[32], text[128];
	long bad;
	int n;

	if (strcmp(req->arg, "check") == 0) {
		bad = pattern_check(req->body, req->body_len);
		if (bad < 0)
			n = snprintf(text, sizeof text, "len=%zu pattern=ok",
			    req->body_len);
		else
			n = snprintf(text, sizeof text, "len=%zu pattern=bad at %ld",
			    req->body_len, bad);
		tinykvm_respond(200, "text/plain", text, (size_t)n);
	}

	snprintf(len, sizeof len, "%zu", req->body_len);
	(void)tinykvm_header_add("X-Echo", "post");
	(void)tinykvm_header_add("X-Body-Length", len);
	(void)tinykvm_header_add("X-Method", req->method);
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
