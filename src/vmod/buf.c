/* A growing byte buffer with a ceiling: request and fetched bodies. */
#include <stdlib.h>
#include <string.h>

#include "tkvmod.h"

int
tkvmod_buf_add(struct tkvmod_buf *b, const void *data, size_t n)
{
	size_t cap;
	char *p;

	if (b->len + n > b->limit) {
		b->over = 1;
		return (-1);
	}
	/* One byte more: the contents stay NUL-terminated for strings. */
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL)
			return (-1);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return (0);
}
