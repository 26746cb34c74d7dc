/* Executes int3: #BP (SIGTRAP natively). */
#include <stdio.h>

int
main(void)
{
	printf("executing int3\n");
	fflush(stdout);
	__asm__ volatile("int3");
	printf("survived\n");
	return 0;
}
