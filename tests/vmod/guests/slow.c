/* Test guest: busy-waits 0.3 s (or arg seconds, e.g. "0.5"), then responds. */
#include <stdlib.h>
#include <time.h>

#include "tinykvm/guest.h"

static double
now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
on_get(const struct tinykvm_request *req)
{
	double t0 = now(), wait = req->arg[0] ? atof(req->arg) : 0.3;

	while (now() - t0 < wait)
		continue;
	tinykvm_respond(200, "text/plain", "slow", 4);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
