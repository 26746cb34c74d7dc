/* Loads CR3 in ring 3: #GP (SIGSEGV natively); must not change page tables. */
#include <stdio.h>

int
main(void)
{
	unsigned long zero = 0;

	printf("writing cr3\n");
	fflush(stdout);
	__asm__ volatile("mov %0, %%cr3" : : "r"(zero) : "memory");
	printf("survived\n");
	return 0;
}
