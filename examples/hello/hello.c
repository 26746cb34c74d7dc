/*
 * The smallest TinyKVM guest: an ordinary static Linux program.
 *
 *	tinykvm-run examples/hello/hello one two
 */

#include <stdio.h>

int
main(int argc, char **argv)
{
	int i;

	printf("Hello from a TinyKVM guest!\n");
	for (i = 1; i < argc; i++)
		printf("argv[%d] = %s\n", i, argv[i]);
	return (0);
}
