/* The smallest useful program: one response, one hypercall per request. */
#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	static const char text[] = "Hello, World!\n";

	(void)req;
	tinykvm_respond(200, "text/plain", text, sizeof text - 1);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
