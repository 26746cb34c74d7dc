/*
 * The smallest useful program: one response, one hypercall per request.
 * A URL with "dirty=N" first writes N pages (at most 4096), so a benchmark
 * can measure what a request's reset costs, and where the client pays it.
 */
#include <stdlib.h>
#include <string.h>

#include "tinykvm/guest.h"

#define BENCH_PAGE	4096
#define BENCH_PAGES	4096

static char pages[BENCH_PAGES][BENCH_PAGE];

static void
pages_dirty(const char *url)
{
	const char *n = strstr(url, "dirty=");
	long count, i;

	if (n == NULL)
		return;
	count = strtol(n + 6, NULL, 10);
	if (count > BENCH_PAGES)
		count = BENCH_PAGES;
	for (i = 0; i < count; i++)
		pages[i][0]++;
}

static void
on_get(const struct tinykvm_request *req)
{
	static const char text[] = "Hello, World!\n";

	pages_dirty(req->url);
	tinykvm_respond(200, "text/plain", text, sizeof text - 1);
}

int
main(void)
{
	/* In the image, so a request's first write is to a page it already has. */
	memset(pages, 1, sizeof pages);
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
