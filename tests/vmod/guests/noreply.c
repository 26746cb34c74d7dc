/* Test guest: the handler returns without responding. */
#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	(void)req;
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
