/* Test guest: the handler never ends (max_request_time stops it). */
#include "tinykvm/guest.h"

static void
on_get(const struct tinykvm_request *req)
{
	volatile unsigned long n = 0;

	if (req->arg[0] == 'o') {	/* arg "ok": a normal response */
		tinykvm_respond(200, "text/plain", "ok", 2);
	}
	for (;;)
		n++;
}

int
main(void)
{
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
