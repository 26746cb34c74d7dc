/* Executes hlt in ring 3: #GP (SIGSEGV natively), never a halted vCPU. */
#include <stdio.h>

int
main(void)
{
	printf("executing hlt\n");
	fflush(stdout);
	__asm__ volatile("hlt");
	printf("survived\n");
	return 0;
}
