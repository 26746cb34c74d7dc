/*
 * Reads from a pipe it never writes to, blocking: natively this hangs
 * forever.  The sandbox, with one thread, knows nothing can wake it and
 * ends the run with a message (run-compare.sh checks that, not a native
 * run).
 */
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	char c;
	int p[2];

	if (pipe(p) != 0)
		return (1);
	printf("reading\n");
	fflush(stdout);
	return (read(p[0], &c, 1) == 1 ? 0 : 2);
}
