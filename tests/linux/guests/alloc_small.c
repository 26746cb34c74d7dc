/*
 * Many small allocations: 400000 rounds of malloc/realloc/free of 1..600
 * bytes over a table of live blocks, chosen by a fixed PRNG; every block
 * carries a pattern that is verified before it is freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096
#define ROUNDS 400000

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct slot {
	unsigned char *p;
	size_t len;
	unsigned char tag;
};

static int
verify(const struct slot *s)
{
	size_t i;

	for (i = 0; i < s->len; i++)
		if (s->p[i] != (unsigned char)(s->tag + i))
			return 0;
	return 1;
}

static void
paint(struct slot *s, size_t from)
{
	size_t i;

	for (i = from; i < s->len; i++)
		s->p[i] = (unsigned char)(s->tag + i);
}

int
main(void)
{
	static struct slot slots[SLOTS];
	uint64_t sum = 0;
	unsigned long mallocs = 0, reallocs = 0, frees = 0, bad = 0;
	long r;
	size_t i;

	for (r = 0; r < ROUNDS; r++) {
		uint64_t x = rng();
		struct slot *s = &slots[x % SLOTS];
		size_t len = 1 + (size_t)((x >> 16) % 600);

		if (s->p == NULL) {
			s->p = (unsigned char *)malloc(len);
			if (s->p == NULL) {
				printf("malloc failed\n");
				return 1;
			}
			s->len = len;
			s->tag = (unsigned char)(x >> 40);
			paint(s, 0);
			mallocs++;
		} else if ((x >> 32) % 3 == 0) {
			unsigned char *q;
			size_t keep = len < s->len ? len : s->len;

			bad += !verify(s);
			q = (unsigned char *)realloc(s->p, len);
			if (q == NULL) {
				printf("realloc failed\n");
				return 1;
			}
			s->p = q;
			s->len = keep;
			bad += !verify(s);
			s->len = len;
			paint(s, keep);
			reallocs++;
		} else {
			bad += !verify(s);
			sum = sum * 1099511628211ULL + s->len + s->p[0];
			free(s->p);
			s->p = NULL;
			frees++;
		}
	}
	for (i = 0; i < SLOTS; i++) {
		if (slots[i].p == NULL)
			continue;
		bad += !verify(&slots[i]);
		sum = sum * 1099511628211ULL + slots[i].len;
		free(slots[i].p);
	}
	printf("mallocs=%lu reallocs=%lu frees=%lu corrupt=%lu\n", mallocs,
	    reallocs, frees, bad);
	printf("sum=%016llx\n", (unsigned long long)sum);
	return bad != 0;
}
