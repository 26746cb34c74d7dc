/* Test guest: the handler writes through a null pointer, unless arg is "ok". */
#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	volatile int *p = (volatile int *)0;

	if (req->arg[0] == 'o')
		tinykvm_respond(200, "text/plain", "ok", 2);
	*p = 42;
	tinykvm_respond(200, "text/plain", "not reached", 11);
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
