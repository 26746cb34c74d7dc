/* Test guest: responds with the status given in arg (e.g. "404"). */
#include <stdio.h>
#include <stdlib.h>

#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	char text[64];
	int status = atoi(req->arg), n;

	n = snprintf(text, sizeof text, "status %d\n", status);
	tinykvm_respond(status, "text/plain", text, (size_t)n);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
