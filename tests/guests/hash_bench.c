/*
 * CPU-bound benchmark: fills a 64 MiB buffer from a fixed xorshift generator,
 * then hashes it PASSES times (default 16, i.e. 1 GiB) with a 64-bit
 * FNV-1a-style hash over whole words, and prints the hash. One malloc, no
 * system calls in the hot loop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WORDS (((size_t)64 << 20) / sizeof(uint64_t))

int
main(int argc, char **argv)
{
	uint64_t *buf, x = 0x243f6a8885a308d3ULL, h = 14695981039346656037ULL;
	long passes = 16, p;
	size_t i;

	if (argc > 1) {
		passes = strtol(argv[1], NULL, 10);
		if (passes < 1) {
			fprintf(stderr, "usage: %s [PASSES]\n", argv[0]);
			return 2;
		}
	}
	buf = (uint64_t *)malloc(WORDS * sizeof *buf);
	if (buf == NULL) {
		fprintf(stderr, "hash_bench: out of memory\n");
		return 1;
	}
	for (i = 0; i < WORDS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = x;
	}
	for (p = 0; p < passes; p++) {
		h ^= (uint64_t)p;
		for (i = 0; i < WORDS; i++)
			h = (h ^ buf[i]) * 1099511628211ULL;
	}
	printf("passes=%ld MiB=%ld hash=%016llx\n", passes, passes * 64,
	    (unsigned long long)h);
	free(buf);
	return 0;
}
