/*
 * CPU-bound benchmark: fills a 64 MiB buffer from a fixed xorshift generator,
 * then hashes it PASSES times (default 16, i.e. 1 GiB) with a 64-bit
 * FNV-1a-style hash over whole words, and prints the hash. One malloc, no
 * system calls in the hot loop. The time the hashing alone took goes to
 * stderr ("hash_seconds S"), so a benchmark can separate CPU speed from
 * start-up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WORDS (((size_t)64 << 20) / sizeof(uint64_t))

int
main(int argc, char **argv)
{
	uint64_t *buf, x = 0x243f6a8885a308d3ULL, h = 14695981039346656037ULL;
	struct timespec t0, t1;
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
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (p = 0; p < passes; p++) {
		h ^= (uint64_t)p;
		for (i = 0; i < WORDS; i++)
			h = (h ^ buf[i]) * 1099511628211ULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "hash_seconds %.6f\n", (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("passes=%ld MiB=%ld hash=%016llx\n", passes, passes * 64,
	    (unsigned long long)h);
	free(buf);
	return 0;
}
