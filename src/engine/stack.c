/*
 * The initial stack, as Linux's execve leaves it (fs/binfmt_elf.c): strings
 * at the top, then, from rsp up: argc, argv[], NULL, envp[], NULL, auxv pairs
 * ending in AT_NULL.  rsp is 16-byte aligned at argc.
 */
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "tk_internal.h"

#define MAX_STRINGS	(256 * 1024)	/* bytes of argv + envp, as a sane ARG_MAX */
#define MAX_AUXV	24

static size_t
count(const char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return (n);
}

/* Pushes (len) bytes below (*sp); returns the guest address. */
static uint64_t
push_bytes(struct tk_vm *vm, uint64_t *sp, const void *src, size_t len)
{
	*sp -= len;
	memcpy(vm->mem + *sp, src, len);
	return (*sp);
}

int
tk_stack_build(struct tk_vm *vm, const struct tk_elf_image *img,
    const char *const *argv, const char *const *envp, char *err, size_t errlen)
{
	size_t argc = count(argv), envc = count(envp), strings = 0, i, n;
	uint64_t auxv[MAX_AUXV * 2], sp = vm->lay.stack_top, random_at, platform_at;
	uint64_t execfn_at, ptr, words;
	unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
	uint8_t random[16];
	uint64_t *out;

	for (i = 0; i < argc; i++)
		strings += strlen(argv[i]) + 1;
	for (i = 0; i < envc; i++)
		strings += strlen(envp[i]) + 1;
	if (argc == 0 || strings > MAX_STRINGS) {
		snprintf(err, errlen, argc == 0 ? "argv is empty" :
		    "arguments and environment exceed 256 KiB");
		return (-E2BIG);
	}

	if (getrandom(random, sizeof random, 0) != sizeof random)
		return (-EIO);
	random_at = push_bytes(vm, &sp, random, sizeof random);
	platform_at = push_bytes(vm, &sp, "x86_64", 7);
	execfn_at = push_bytes(vm, &sp, argv[0], strlen(argv[0]) + 1);
	/* Strings go in reverse so argv[0] ends lowest, as on Linux. */
	for (i = envc; i-- > 0;)
		(void)push_bytes(vm, &sp, envp[i], strlen(envp[i]) + 1);
	for (i = argc; i-- > 0;)
		(void)push_bytes(vm, &sp, argv[i], strlen(argv[i]) + 1);
	ptr = sp;

	__cpuid(1, eax, ebx, ecx, edx);
	n = 0;
#define AUX(k, v) do { auxv[n++] = (k); auxv[n++] = (v); } while (0)
	AUX(AT_PHDR, img->phdr);
	AUX(AT_PHENT, img->phentsize);
	AUX(AT_PHNUM, img->phnum);
	AUX(AT_PAGESZ, TK_PAGE_SIZE);
	AUX(AT_BASE, img->interp_base);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, img->entry);
	AUX(AT_UID, getuid());
	AUX(AT_EUID, geteuid());
	AUX(AT_GID, getgid());
	AUX(AT_EGID, getegid());
	AUX(AT_SECURE, 0);
	AUX(AT_RANDOM, random_at);
	AUX(AT_HWCAP, edx);
	AUX(AT_HWCAP2, 0);
	AUX(AT_CLKTCK, 100);
	AUX(AT_PLATFORM, platform_at);
	AUX(AT_EXECFN, execfn_at);
	AUX(AT_NULL, 0);
#undef AUX

	words = 1 + argc + 1 + envc + 1 + n;
	sp = (sp - words * 8) & ~15ULL;
	vm->lay.initial_rsp = sp;
	out = (uint64_t *)(void *)(vm->mem + sp);
	*out++ = argc;
	for (i = 0; i < argc; i++) {
		*out++ = ptr;
		ptr += strlen(argv[i]) + 1;
	}
	*out++ = 0;
	/* envp strings sit above argv's, in order. */
	for (i = 0; i < envc; i++) {
		*out++ = ptr;
		ptr += strlen(envp[i]) + 1;
	}
	*out++ = 0;
	memcpy(out, auxv, n * sizeof auxv[0]);
	vm->lay.entry = img->start;
	return (0);
}
