/*
 * A program that tries what the host must not let it: request smuggling
 * through fetch(), framing headers and interim statuses in its response,
 * a flood of log lines.  arg names the attempt; the response body reports
 * what each call returned, so a test sees the host's verdict.
 *
 *   fetch:NAME      fetch(X-Url) with the method and headers of NAME below
 *   header:NAME     header_add(NAME, ...) then respond 200 "rc=R"
 *   status:N        respond with status N
 *   log:N           N log lines "line I", then respond 200
 *   big:N           respond 200 with N bytes of "x" (N up to 1 MiB)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinykvm/guest.h"

static const struct attempt {
	const char	*name;
	const char	*method;
	const char	*headers;
	const char	*body;
} attempts[] = {
	{ "method-crlf", "GET /admin HTTP/1.1\r\nX:", NULL, NULL },
	{ "method-purge", "PURGE", NULL, NULL },
	{ "method-lower", "get", NULL, NULL },
	{ "method-delete", "DELETE", "X-Ok: yes", NULL },
	{ "host", NULL, "Host: other.example", NULL },
	{ "content-length", "POST", "Content-Length: 0", "GET /smuggled HTTP/1.1\r\n\r\n" },
	{ "transfer-encoding", "POST", "Transfer-Encoding: chunked", "0\r\n\r\n" },
	{ "connection", NULL, "Connection: close", NULL },
	{ "te", NULL, "TE: trailers", NULL },
	{ "upgrade", NULL, "Upgrade: h2c", NULL },
	{ "expect", "POST", "Expect: 100-continue", "x" },
	{ "depth", NULL, "X-TinyKVM-Depth: 0 00000000000000000000000000000000", NULL },
	{ "value-crlf", NULL, "X-A: a\r\nHost: other.example", NULL },
	{ "name-space", NULL, "X A: b", NULL },
	{ "no-colon", NULL, "X-A", NULL },
	{ "ok", NULL, "X-Ok: yes\nX-Also:  fine", NULL },
};

static void
reply(int status, const char *fmt, long v)
{
	char out[128];
	int n = snprintf(out, sizeof out, fmt, v);

	tinykvm_respond(status, "text/plain", out, (size_t)n);
}

static void
try_fetch(const char *name)
{
	struct tinykvm_fetch_options opt;
	struct tinykvm_fetch_result res;
	char url[512];
	long r;

	memset(&opt, 0, sizeof opt);
	if (tinykvm_header_get("X-Url", url, sizeof url) < 0)
		snprintf(url, sizeof url, "/");
	for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
		if (strcmp(name, attempts[i].name) != 0)
			continue;
		opt.method = attempts[i].method;
		opt.headers = attempts[i].headers;
		opt.body = attempts[i].body;
		opt.body_len = attempts[i].body ? strlen(attempts[i].body) : 0;
		r = tinykvm_fetch(url, &opt, &res);
		if (r >= 0)
			tinykvm_fetch_free(&res);
		reply(200, "fetch=%ld", r);
		return;
	}
	reply(400, "no attempt %ld", 0);
}

static void
on_get(const struct tinykvm_request *req)
{
	const char *a = req->arg;

	if (strncmp(a, "fetch:", 6) == 0) {
		try_fetch(a + 6);
	} else if (strncmp(a, "header:", 7) == 0) {
		reply(200, "rc=%ld", (long)tinykvm_header_add(a + 7, "guest"));
	} else if (strncmp(a, "status:", 7) == 0) {
		reply(atoi(a + 7), "status %ld", atol(a + 7));
	} else if (strncmp(a, "log:", 4) == 0) {
		for (long i = 0; i < atol(a + 4); i++)
			tinykvm_log("line %ld", i);
		reply(200, "logged %ld", atol(a + 4));
	} else if (strncmp(a, "big:", 4) == 0) {
		static char big[1 << 20];
		size_t n = (size_t)atol(a + 4);

		n = n < sizeof big ? n : sizeof big;
		memset(big, 'x', n);
		tinykvm_respond(200, "text/plain", big, n);
	} else {
		reply(400, "unknown %ld", 0);
	}
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
