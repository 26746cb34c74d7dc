/*
 * Copies stdin to stdout with read(2)/write(2), then reports the byte count
 * and an FNV-1a checksum of what it read.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	unsigned char buf[1000];
	uint64_t hash = 14695981039346656037ULL;
	unsigned long long total = 0;
	ssize_t n, off, w;

	for (;;) {
		n = read(0, buf, sizeof buf);
		if (n < 0) {
			perror("read");
			return 1;
		}
		if (n == 0)
			break;
		for (off = 0; off < n; off++)
			hash = (hash ^ buf[off]) * 1099511628211ULL;
		for (off = 0; off < n; off += w) {
			w = write(1, buf + off, (size_t)(n - off));
			if (w <= 0) {
				perror("write");
				return 1;
			}
		}
		total += (unsigned long long)n;
	}
	printf("\nbytes=%llu fnv1a=%016llx\n", total, (unsigned long long)hash);
	return 0;
}
