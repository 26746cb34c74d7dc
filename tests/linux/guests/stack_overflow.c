/*
 * Unbounded recursion, 4 KiB of stack per frame: runs off the end of the
 * stack (SIGSEGV natively; a page fault, not silent corruption, in the
 * sandbox).
 */
#include <stdio.h>
#include <string.h>

/* Never reached; volatile so the compiler does not call the recursion infinite. */
static volatile unsigned long depth_limit = ~0UL;

static unsigned long
recurse(unsigned long n)
{
	volatile char frame[4096];

	memset((char *)frame, (int)(n & 0xff), sizeof frame);
	if (n == depth_limit)
		return frame[0];
	return recurse(n + 1) + frame[n % sizeof frame];
}

int
main(void)
{
	printf("recursing\n");
	fflush(stdout);
	printf("%lu\n", recurse(0));
	return 0;
}
