/* Sleeps for a day: a --timeout must end it like a busy loop. */
#include <unistd.h>

int
main(void)
{
	sleep(86400);
	return (0);
}
