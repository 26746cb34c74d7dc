/* Guest strings (guest_string.h): checked by the engine, NUL-free, copied once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tinykvm.h"
#include "guest_string.h"

int
tkp_guest_string(struct tk_vm *vm, uint64_t gva, uint64_t len, char *buf,
    size_t size)
{
	const char *src;

	if (len >= size)
		return (-E2BIG);
	/* The engine's one border check: overflow-safe, page by page. */
	src = tk_vm_view(vm, gva, (size_t)len);
	if (src == NULL)
		return (-EFAULT);
	/* Copied first, then checked: what is checked is what is used. */
	memcpy(buf, src, (size_t)len);
	buf[len] = '\0';
	return (memchr(buf, '\0', (size_t)len) != NULL ? -EINVAL : 0);
}

char *
tkp_guest_strdup(struct tk_vm *vm, uint64_t gva, uint64_t len, uint64_t max)
{
	char *s;

	if (len > max || (s = malloc((size_t)len + 1)) == NULL)
		return (NULL);
	if (tkp_guest_string(vm, gva, len, s, (size_t)len + 1) < 0) {
		free(s);
		return (NULL);
	}
	return (s);
}
