/*
 * Large allocations: for 1..64 MiB, malloc, touch every page with a
 * deterministic pattern, grow and shrink with realloc (contents must survive),
 * free, and print a checksum per size. Exercises mmap/munmap/mremap and brk.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

static uint64_t
fill(unsigned char *p, size_t len, uint64_t seed)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < len; i += PAGE) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (unsigned char)(seed >> 56);
		sum = sum * 31 + p[i];
	}
	p[len - 1] = 0xa5;
	return sum;
}

static uint64_t
sum_pages(const unsigned char *p, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < len; i += PAGE)
		sum = sum * 31 + p[i];
	return sum;
}

int
main(void)
{
	uint64_t total = 0;
	size_t mib;

	for (mib = 1; mib <= 64; mib *= 2) {
		size_t len = mib * MIB;
		unsigned char *p, *q;
		uint64_t sum, check;

		p = (unsigned char *)malloc(len);
		if (p == NULL) {
			printf("malloc(%zu MiB) failed\n", mib);
			return 1;
		}
		sum = fill(p, len, mib);
		q = (unsigned char *)realloc(p, 2 * len);
		if (q == NULL) {
			printf("realloc(%zu MiB) failed\n", 2 * mib);
			return 1;
		}
		p = q;
		check = sum_pages(p, len);
		if (check != sum || p[len - 1] != 0xa5) {
			printf("%zu MiB: contents lost in realloc up\n", mib);
			return 1;
		}
		memset(p + len, 0x5a, len);
		q = (unsigned char *)realloc(p, len / 2);
		if (q == NULL) {
			printf("realloc(%zu KiB) failed\n", len / 2 / 1024);
			return 1;
		}
		p = q;
		check = sum_pages(p, len / 2);
		printf("%2zu MiB: sum=%016llx half=%016llx\n", mib,
		    (unsigned long long)sum, (unsigned long long)check);
		total ^= sum + check;
		free(p);
	}

	/* Calloc'd memory must read as zero, including pages reused from above. */
	{
		unsigned char *z = (unsigned char *)calloc(32, MIB);
		size_t i, nonzero = 0;

		if (z == NULL) {
			printf("calloc failed\n");
			return 1;
		}
		for (i = 0; i < 32 * MIB; i += 512)
			nonzero += z[i] != 0;
		printf("calloc 32 MiB: %zu non-zero bytes sampled\n", nonzero);
		free(z);
	}
	printf("total=%016llx\n", (unsigned long long)total);
	return 0;
}
