/*
 * Allocates and touches 1 MiB blocks until malloc fails, then says so and
 * exits 0. The blocks are chained so the compiler cannot drop them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK ((size_t)1 << 20)

int
main(void)
{
	void **chain = NULL;

	for (;;) {
		void **block = (void **)malloc(BLOCK);

		if (block == NULL)
			break;
		memset(block, 0x6b, BLOCK);
		block[0] = chain;
		chain = block;
	}
	printf("memory bomb: allocation failed\n");
	return chain == NULL;
}
