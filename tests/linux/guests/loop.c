/* Spins forever without a system call: only the sandbox's timeout stops it. */
int
main(void)
{
	volatile unsigned long spins = 0;

	for (;;)
		spins++;
}
