/* Test guest: main() returns without waiting for requests. */
#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	(void)req;
	tinykvm_respond(200, "text/plain", "never", 5);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	return (3);
}
