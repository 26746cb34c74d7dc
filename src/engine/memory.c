/*
 * Guest memory: one host mapping that is the guest's physical memory, and
 * the checked ways across the border.  Every guest address the host uses is
 * looked up in the guest's own page tables first: it must be mapped, user
 * accessible, writable when we write, and inside guest memory.  The guest is
 * stopped while the host reads, so a check and its use cannot be separated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <unistd.h>

#include "tk_internal.h"

/* Reserves (size) + 2 MiB of address space so guest memory can be 2 MiB aligned. */
static uint8_t *
reserve(struct tk_vm *vm, uint64_t size)
{
	uint8_t *map = mmap(NULL, size + TK_HUGE_SIZE, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (map == MAP_FAILED)
		return (NULL);
	vm->mem_map = map;
	vm->mem_map_size = size + TK_HUGE_SIZE;
	vm->mem_size = size;
	return ((uint8_t *)(((uintptr_t)map + TK_HUGE_SIZE - 1) &
	    ~(uintptr_t)(TK_HUGE_SIZE - 1)));
}

int
tk_mem_create(struct tk_vm *vm, uint64_t size, int forkable, char *err,
    size_t errlen)
{
	uint8_t *at;
	int flags = MAP_FIXED | MAP_NORESERVE;

	vm->mem_fd = -1;
	size = (size + TK_HUGE_SIZE - 1) & ~(TK_HUGE_SIZE - 1);
	at = reserve(vm, size);
	if (at == NULL)
		goto fail;
	if (forkable) {
		/* Forks map this file privately: that is the copy-on-write. */
		vm->mem_fd = memfd_create("tinykvm-guest", MFD_CLOEXEC);
		if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, (off_t)size) < 0)
			goto fail;
		at = mmap(at, size, PROT_READ | PROT_WRITE, flags | MAP_SHARED,
		    vm->mem_fd, 0);
	} else {
		at = mmap(at, size, PROT_READ | PROT_WRITE,
		    flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (at == MAP_FAILED)
		goto fail;
	vm->mem = at;
	vm->populated = calloc(size / TK_HUGE_SIZE / 64 + 1, sizeof *vm->populated);
	if (vm->populated == NULL)
		goto fail;
	/* See tk_mem_populate: guest memory wants 2 MiB host pages. */
	(void)madvise(vm->mem, size, MADV_HUGEPAGE);
	return (0);
fail:
	snprintf(err, errlen, "cannot reserve %llu MiB of guest memory: %s",
	    (unsigned long long)(size >> 20), strerror(errno));
	return (-ENOMEM);
}

static int uffd = -1;
static pthread_once_t uffd_once = PTHREAD_ONCE_INIT;

static void
uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API,
	    .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);

	if (fd >= 0 && ioctl(fd, UFFDIO_API, &api) == 0)
		uffd = fd;
	else if (fd >= 0)
		(void)close(fd);
}

/*
 * A read fault on a file mapping maps up to 16 neighbouring pages that are
 * in the page cache ("fault-around").  For a fork that is 16 page-table
 * entries, and 64 KiB of RSS, per page the guest reads: RSS then counts the
 * main VM's pages once more for every fork.  Linux skips fault-around on a
 * range registered with userfaultfd for write protection; we register and
 * protect nothing, so no fault ever reaches the userfaultfd.  Where the
 * kernel lacks it, forks work the same and merely map more.
 */
static void
fault_around_off(uint8_t *at, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)at, len }, .mode = UFFDIO_REGISTER_MODE_WP,
	};

	(void)pthread_once(&uffd_once, uffd_open);
	if (uffd >= 0)
		(void)ioctl(uffd, UFFDIO_REGISTER, &reg);
}

int
tk_mem_fork(struct tk_vm *fork, const struct tk_vm *image, char *err,
    size_t errlen)
{
	uint8_t *at = reserve(fork, image->mem_size);

	fork->mem_fd = -1;
	if (at != NULL)
		at = mmap(at, image->mem_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, image->mem_fd, 0);
	if (at == NULL || at == MAP_FAILED) {
		snprintf(err, errlen, "cannot map the main VM's memory: %s",
		    strerror(errno));
		return (-ENOMEM);
	}
	fork->mem = at;
	fault_around_off(at, image->mem_size);
	return (0);
}

void
tk_mem_destroy(struct tk_vm *vm)
{
	if (vm->mem_map != NULL)
		(void)munmap(vm->mem_map, vm->mem_map_size);
	vm->mem_map = NULL;
	vm->mem = NULL;
	free(vm->populated);
	vm->populated = NULL;
	if (vm->mem_fd >= 0)
		(void)close(vm->mem_fd);
	vm->mem_fd = -1;
}

static int
chunk_populated(const struct tk_vm *vm, uint64_t chunk)
{
	return ((vm->populated[chunk / 64] >> (chunk % 64)) & 1);
}

/*
 * Backs [gpa, gpa+len) with host memory now, in whole 2 MiB chunks.  The
 * first guest touch of a page the host has not backed costs a trip through
 * the hypervisor per 4 KiB (about 25 us on a nested, shadow-paged host,
 * against 0.3 us for the page fault natively): backing it up front with
 * transparent huge pages costs only the zeroing and lets the hypervisor map
 * 2 MiB at a time.  The price is that mapped memory is resident memory.
 */
void
tk_mem_populate(struct tk_vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t c, first = gpa / TK_HUGE_SIZE, last = (gpa + len - 1) / TK_HUGE_SIZE;

	/* A fork's memory is its main VM's until written: never touch it all. */
	if (len == 0 || gpa + len > vm->mem_size || gpa + len < gpa ||
	    vm->role == TK_ROLE_FORK)
		return;
	for (c = first; c <= last; c++) {
		if (chunk_populated(vm, c))
			continue;
		/* If the kernel lacks it, pages are backed on first touch instead. */
		(void)madvise(vm->mem + c * TK_HUGE_SIZE, TK_HUGE_SIZE,
		    MADV_POPULATE_WRITE);
		vm->populated[c / 64] |= 1ULL << (c % 64);
	}
}

void *
tk_mem_user(struct tk_vm *vm, uint64_t gva, uint64_t len, int write)
{
	const uint64_t need = TK_PTE_P | TK_PTE_U;
	uint64_t end = gva + len, va, leaf, size;

	if (len == 0)
		return (vm->mem + TK_USER_BASE);
	if (end < gva || end > vm->mem_size)
		return (NULL);
	/* The doorbell page is mapped for the guest but is not memory. */
	if (gva < TK_DOORBELL_ADDR + TK_PAGE_SIZE && end > TK_DOORBELL_ADDR)
		return (NULL);
	for (va = gva; va < end; va = (va & ~(size - 1)) + size) {
		leaf = tk_paging_leaf(&vm->pg, va, &size);
		/* Writable, or writable once granted (dirty_pte.c). */
		if ((leaf & need) != need ||
		    (write && !(leaf & (TK_PTE_W | TK_PTE_SW_W))))
			return (NULL);
	}
	if (write && vm->dlog != NULL) {
		const struct tk_dirty_log *dl = vm->dlog;

		tk_dirty_mark(vm, gva, len);
		/* A host write for the guest counts as the guest's, now (what
		 * the guest wrote itself is counted at the ring's harvests, or
		 * with dirty bits, as the pages granted to it). */
		if (vm->state == TK_STATE_IN_CALL && dl->max != 0 &&
		    tk_dirty_in_use(dl) > dl->max) {
			tk_dirty_over_limit(vm);
			return (NULL);
		}
	}
	/* The map is the identity: the guest address is the physical one. */
	return (vm->mem + gva);
}

int
tk_copy_from_guest(struct tk_vm *vm, void *dst, uint64_t gva, uint64_t len)
{
	const void *src = tk_mem_user(vm, gva, len, 0);

	if (src == NULL)
		return (-EFAULT);
	memcpy(dst, src, len);
	return (0);
}

int
tk_copy_to_guest(struct tk_vm *vm, uint64_t gva, const void *src, uint64_t len)
{
	void *dst = tk_mem_user(vm, gva, len, 1);

	if (dst == NULL)
		return (-EFAULT);
	memcpy(dst, src, len);
	return (0);
}

long
tk_copy_string(struct tk_vm *vm, char *dst, uint64_t gva, size_t size)
{
	uint64_t chunk, size_pg;
	const char *src, *nul;
	size_t done = 0;

	while (done < size) {
		if (tk_paging_leaf(&vm->pg, gva + done, &size_pg) == 0)
			return (-EFAULT);
		chunk = size_pg - ((gva + done) & (size_pg - 1));
		if (chunk > size - done)
			chunk = size - done;
		src = tk_mem_user(vm, gva + done, chunk, 0);
		if (src == NULL)
			return (-EFAULT);
		nul = memchr(src, 0, chunk);
		if (nul != NULL) {
			memcpy(dst + done, src, (size_t)(nul - src) + 1);
			return ((long)(done + (size_t)(nul - src)));
		}
		memcpy(dst + done, src, chunk);
		done += chunk;
	}
	return (-ENAMETOOLONG);
}

/* True if the fork wrote page (p) since its last reset. */
static int
page_written(const struct tk_vm *vm, uint64_t p)
{
	return ((vm->dlog->bits[p / TK_PAGE_SIZE / 64] >> (p / TK_PAGE_SIZE % 64)) & 1);
}

/* True if a fork must zero page (p): it wrote it, or the image has data there. */
static int
page_needs_zero(const struct tk_vm *vm, uint64_t p)
{
	static const uint8_t zero[TK_PAGE_SIZE];
	const struct tk_vm *image = vm->image;

	return (page_written(vm, p) ||
	    (chunk_populated(image, p / TK_HUGE_SIZE) &&
	    memcmp(image->mem + p, zero, TK_PAGE_SIZE) != 0));
}

/*
 * A fork zeroes only what would not read as zero anyway: pages it wrote, and
 * pages the image has data in.  Zeroing the rest would copy them privately
 * (memory, and request memory) for nothing.  The pages it does copy are the
 * request's, as if the guest had written them: they are counted against its
 * request memory before any is written, and the scan stops at the call's
 * deadline, so one munmap of a large image region can neither make the fork
 * copy up to max_memory nor run past the request's time.
 */
static void
fork_discard(struct tk_vm *vm, uint64_t gpa, uint64_t end)
{
	uint64_t p, first = gpa & ~(TK_PAGE_SIZE - 1), copies = 0;

	(void)tk_dirty_harvest(vm);
	for (p = first; p < end; p += TK_PAGE_SIZE) {
		if (p % TK_HUGE_SIZE == 0 && tk_call_overtime(vm, "discarding memory"))
			return;
		if (page_needs_zero(vm, p) && !page_written(vm, p))
			copies++;
	}
	if (tk_dirty_budget(vm, copies, "discarding memory the program filled "
	    "at start-up") < 0)
		return;
	for (p = first; p < end; p += TK_PAGE_SIZE) {
		if (p % TK_HUGE_SIZE == 0 && tk_call_overtime(vm, "discarding memory"))
			return;
		if (!page_needs_zero(vm, p))
			continue;
		tk_dirty_mark(vm, p, TK_PAGE_SIZE);
		memset(vm->mem + p, 0, TK_PAGE_SIZE);
	}
}

void
tk_mem_discard(struct tk_vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t end = gpa + len, c, lo, hi;

	if (len == 0 || end < gpa || end > vm->mem_size)
		return;
	if (vm->role == TK_ROLE_FORK) {
		fork_discard(vm, gpa, end);
		return;
	}
	/* Zero what is backed and keep it backed; unbacked memory reads as zero. */
	for (c = gpa / TK_HUGE_SIZE; c * TK_HUGE_SIZE < end; c++) {
		if (!chunk_populated(vm, c))
			continue;
		lo = c * TK_HUGE_SIZE > gpa ? c * TK_HUGE_SIZE : gpa;
		hi = (c + 1) * TK_HUGE_SIZE < end ? (c + 1) * TK_HUGE_SIZE : end;
		memset(vm->mem + lo, 0, hi - lo);
	}
}

int
tk_mem_map(struct tk_vm *vm, uint64_t addr, uint64_t len, uint64_t perm)
{
	if (perm != 0 && len != 0)
		tk_mem_populate(vm, addr, len);
	return (tk_paging_map(&vm->pg, addr, len, perm));
}
