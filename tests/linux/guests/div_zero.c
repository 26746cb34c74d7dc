/* Integer division by zero: #DE (SIGFPE natively). */
#include <stdio.h>

int
main(void)
{
	volatile int dividend = 7, divisor = 0;

	printf("dividing by zero\n");
	fflush(stdout);
	printf("result %d\n", dividend / divisor);
	return 0;
}
