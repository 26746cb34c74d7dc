/* Executes ud2 (__builtin_trap): #UD (SIGILL natively). */
#include <stdio.h>

int
main(void)
{
	printf("executing ud2\n");
	fflush(stdout);
	__builtin_trap();
}
