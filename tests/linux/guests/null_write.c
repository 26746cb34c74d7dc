/* Writes to address 0: a page fault (SIGSEGV natively). */
#include <stdio.h>

int
main(void)
{
	/*
	 * Both volatile: the pointer so the compiler cannot see the NULL and
	 * emit ud2, the int so it cannot drop the store as dead.
	 */
	volatile int *volatile target = NULL;

	printf("writing to NULL\n");
	fflush(stdout);
	*target = 42;
	printf("survived\n");
	return 0;
}
