/* Executes cli in ring 3: #GP (SIGSEGV natively). */
#include <stdio.h>

int
main(void)
{
	printf("executing cli\n");
	fflush(stdout);
	__asm__ volatile("cli");
	printf("survived\n");
	return 0;
}
