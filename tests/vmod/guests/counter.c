/*
 * Test guest: a global counter, incremented by every request and sent as
 * the body.  With "ephemeral": true (the default) every request sees 1.
 */
#include <stdio.h>

#include "tinykvm/guest.h"

static unsigned long counter;

static void
on_get(const struct tinykvm_request *req)
{
	char text[32];
	int n;

	(void)req;
	counter++;
	n = snprintf(text, sizeof text, "%lu", counter);
	tinykvm_respond(200, "text/plain", text, (size_t)n);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
