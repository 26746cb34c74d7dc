/*
 * The guest the fork and call tests drive: main() initialises, registers its
 * handlers and waits for requests; each handler is one thing a test needs a
 * request to do.  argv[1] picks a variant: "nowait" returns from main without
 * waiting, "twice" waits twice; a number is MiB of data to fill at init.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tinykvm/abi.h"

static long
hypercall2(long nr, long a0, long a1)
{
	register long rax __asm__("rax") = nr;
	register long rdi __asm__("rdi") = a0;
	register long rsi __asm__("rsi") = a1;

	__asm__ volatile("movl %%eax, %c3" : "+r"(rax) : "r"(rdi), "r"(rsi),
	    "i"(TINYKVM_DOORBELL) : "memory");
	return rax;
}

static volatile long secret;
static volatile long counter;
static uint8_t pages[4097 * 4096];
static uint8_t *data;
static size_t data_size;

static long h_empty(void) { return 0; }
static long h_read_secret(void) { return secret; }
static long h_bump(void) { return ++counter; }
static int *volatile nowhere = (int *)8;
static long h_fault(void) { *nowhere = 1; return 0; }
static long h_spin(void) { for (;;) __asm__ volatile(""); return 0; }
static long h_wait_again(void) { return hypercall2(TINYKVM_HC_WAIT_FOR_REQUESTS, 0, 0); }

static long
h_write_secret(long value)
{
	long old = secret;

	secret = value;
	return old;
}

/* Writes one byte to each of (n) pages; returns what they held before. */
static long
h_dirty(long n)
{
	long sum = 0;

	for (long i = 0; i < n; i++) {
		sum += pages[i * 4096];
		pages[i * 4096] = 1;
	}
	return sum;
}

static long
h_nops(long n)
{
	for (long i = 0; i < n; i++)
		(void)hypercall2(TINYKVM_HC_NOP, 0, 0);
	return n;
}

/* The same through SYSCALL: our ring-0 entry's port exit, or PVM's gate. */
static long
h_nops_syscall(long n)
{
	for (long i = 0; i < n; i++) {
		register long rax __asm__("rax") = TINYKVM_HC_NOP;

		__asm__ volatile("syscall" : "+r"(rax) : : "rcx", "r11",
		    "memory");
	}
	return n;
}

/* Allocates and fills (bytes): past the request-memory limit, the host stops us. */
static long
h_allocate(long bytes)
{
	char *p = malloc((size_t)bytes);

	if (p == NULL)
		return -1;
	memset(p, 7, (size_t)bytes);
	return p[bytes - 1];
}

/* Sums the data filled at init, so a test can see the main VM unchanged. */
static long
h_data_sum(void)
{
	long sum = 0;

	for (size_t i = 0; i < data_size; i += 4096)
		sum += data[i];
	return sum;
}

/* Leaves a pattern in the vector registers: a reset must wipe it. */
static long
h_vector_write(long v)
{
	__asm__ volatile("movq %0, %%xmm7" : : "r"(v) : "xmm7");
	return 0;
}

static long
h_vector_read(void)
{
	long v;

	__asm__ volatile("movq %%xmm7, %0" : "=r"(v));
	return v;
}

/* Makes mremap move a written mapping; returns where the data went. */
static long
h_remap(void)
{
	char *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b;

	memset(a, 'S', 8192);
	/* A neighbour right after it, so growing must move. */
	(void)mmap(a + 8192, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	b = mremap(a, 8192, 65536, MREMAP_MAYMOVE);
	return (b == MAP_FAILED || b == a ? -1 : (long)b);
}

static long
h_peek(long address)
{
	return (*(volatile char *)address);
}

static __thread volatile long tls_value = 5;

/* Points %fs at another segment: thread-local storage breaks. */
static long
h_fs_break(void)
{
	__asm__ volatile("movw %0, %%fs" : : "r"((unsigned short)0x2b));
	return (0);
}

static long
h_tls(void)
{
	return (tls_value);
}

/*
 * An embedder hypercall through SYSCALL (the ABI allows either gate) that
 * ends the run: the vCPU stops inside our kernel, and the next call of a
 * kept fork must still start in ring 3.
 */
static long
h_syscall_stop(void)
{
	register long rax __asm__("rax") = TINYKVM_HC_EMBEDDER;

	__asm__ volatile("syscall" : "+r"(rax) : : "rcx", "r11", "memory");
	return (rax);
}

/* Where the scratch pages are (a test writes ring-0 code and tables there). */
static long h_pages(void) { return ((long)pages); }

/* Unmaps the data main() filled: the host must zero it in a fork. */
static long
h_free_data(void)
{
	uintptr_t start = (uintptr_t)data & ~4095UL;

	return (munmap((void *)start, ((uintptr_t)data + data_size - start +
	    4095) & ~4095UL));
}

/* Jumps to our kernel's SYSCALL entry, as if a SYSCALL had faulted there. */
static long
h_forge_syscall(void)
{
	long rax = 39;		/* getppid */

	__asm__ volatile("lea 1f(%%rip), %%rcx\n\t"
	    "mov $0x4000, %%edx\n\t"
	    "jmp *%%rdx\n"
	    "1:" : "+a"(rax) : : "rcx", "rdx", "r11", "memory");
	return (rax);
}

static long (*const handlers[])() = {
	(long (*)())h_empty, (long (*)())h_write_secret, (long (*)())h_read_secret,
	(long (*)())h_dirty, (long (*)())h_fault, (long (*)())h_spin,
	(long (*)())h_wait_again, (long (*)())h_nops, (long (*)())h_bump,
	(long (*)())h_allocate, (long (*)())h_data_sum,
	(long (*)())h_vector_write, (long (*)())h_vector_read,
	(long (*)())h_remap, (long (*)())h_peek,
	(long (*)())h_fs_break, (long (*)())h_tls, (long (*)())h_syscall_stop,
	(long (*)())h_forge_syscall, (long (*)())h_free_data, (long (*)())h_pages,
	(long (*)())h_nops_syscall,
};

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "nowait") == 0)
		return 0;
	data_size = (size_t)atol(mode) << 20;
	if (data_size > 0) {
		data = malloc(data_size);
		for (size_t i = 0; i < data_size; i++)
			data[i] = (uint8_t)(i >> 12);
	}
	for (unsigned i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
		(void)hypercall2(TINYKVM_HC_REGISTER_HANDLER, i, (long)handlers[i]);
	(void)hypercall2(TINYKVM_HC_WAIT_FOR_REQUESTS, 0, 0);
	if (strcmp(mode, "twice") == 0)
		(void)hypercall2(TINYKVM_HC_WAIT_FOR_REQUESTS, 0, 0);
	return 0;
}
