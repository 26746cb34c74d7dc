/*
 * Strings from a guest, the one way both embedders take them: the ABI
 * passes (pointer, length) without a NUL, so a NUL inside the length is a
 * lie (a C string would end there, and the checks made on it would not
 * cover what follows) and is refused, never cut at.
 */
#ifndef TK_PROTO_GUEST_STRING_H
#define TK_PROTO_GUEST_STRING_H

#include <stddef.h>
#include <stdint.h>

struct tk_vm;

/*
 * Copies guest string (gva, len) into (buf) of (size), NUL-terminated.
 * 0; -E2BIG if (len) >= (size); -EFAULT if the guest may not read all of
 * it (unmapped, kernel, or wrapping around); -EINVAL if it holds a NUL.
 */
int tkp_guest_string(struct tk_vm *vm, uint64_t gva, uint64_t len, char *buf,
    size_t size);

/*
 * The same into a fresh malloc'ed string of at most (max) bytes: for the
 * fetch's URL and headers.  NULL on any failure.
 */
char *tkp_guest_strdup(struct tk_vm *vm, uint64_t gva, uint64_t len,
    uint64_t max);

#endif
