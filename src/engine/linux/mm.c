/*
 * Memory system calls: brk, mmap (anonymous, or a copy of a file), munmap,
 * mprotect, mremap, madvise.  The heap and the mmap area are mapped
 * read-write in the page tables from the start (layout.c; the mmap area
 * executable too), so these calls are bookkeeping: which
 * ranges are in use, and backing them with host memory.  mprotect checks its
 * arguments and changes no permission: a program cannot make its own pages
 * read-only or inaccessible (RELRO, guard pages), which only weakens its
 * defence against its own bugs, never the sandbox.
 * Invariant: a page of the mmap area that is not in use reads as zero.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syscalls.h"
#include "../files.h"

static uint64_t
page_up(uint64_t v)
{
	return ((v + TK_PAGE_SIZE - 1) & ~(TK_PAGE_SIZE - 1));
}

/* True if [start, end) lies inside the guest's own memory: image, brk, stack or mmaps. */
static int
range_owned(const struct tk_vm *vm, uint64_t start, uint64_t end)
{
	if (start >= vm->lay.image_start && end <= vm->lay.image_end)
		return (1);
	if (start >= vm->lay.brk_start && end <= page_up(vm->proc.brk_cur))
		return (1);
	if (start >= vm->lay.stack_low && end <= vm->lay.stack_top)
		return (1);
	return (start >= vm->lay.mmap_start && end <= vm->lay.mmap_end &&
	    tk_vma_covers(vm, start, end));
}

static int64_t
sys_brk(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t want = a[0], old_end = page_up(vm->proc.brk_cur), new_end;

	if (want < vm->lay.brk_start || want > vm->lay.brk_max)
		return ((int64_t)vm->proc.brk_cur);
	new_end = page_up(want);
	if (new_end > old_end)
		tk_mem_populate(vm, old_end, new_end - old_end);
	if (new_end < old_end)
		tk_mem_discard(vm, new_end, old_end - new_end);
	vm->proc.brk_cur = want;
	return ((int64_t)want);
}

/* Frees part of the mmap area, zeroed for its next user. */
static void
area_release(struct tk_vm *vm, uint64_t start, uint64_t end)
{
	tk_mem_discard(vm, start, end - start);
	(void)tk_vma_remove(vm, start, end);
}

static int64_t
area_claim(struct tk_vm *vm, uint64_t start, uint64_t len, uint64_t prot)
{
	if (tk_vma_insert(vm, start, start + len) < 0)
		return (-ENOMEM);
	/* PROT_NONE reserves address space: back it only when it is opened. */
	if (prot != PROT_NONE)
		tk_mem_populate(vm, start, len);
	return ((int64_t)start);
}

/* Where mmap puts (len) bytes, claimed: its address or -errno. */
static int64_t
mmap_place(struct tk_vm *vm, uint64_t addr, uint64_t len, uint64_t prot,
    uint64_t flags)
{
	uint64_t align, end = addr + len;

	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (end < addr)
			return (-ENOMEM);
		/* Over the heap (musl puts a guard page there): brk keeps owning it. */
		if (addr >= vm->lay.brk_start && end <= page_up(vm->proc.brk_cur)) {
			if (flags & MAP_FIXED_NOREPLACE)
				return (-EEXIST);
			tk_mem_discard(vm, addr, len);
			return ((int64_t)addr);
		}
		if (addr < vm->lay.mmap_start || end > vm->lay.mmap_end)
			return (-ENOMEM);
		if (tk_vma_overlaps(vm, addr, end)) {
			if (flags & MAP_FIXED_NOREPLACE)
				return (-EEXIST);
			area_release(vm, addr, end);
		}
		return (area_claim(vm, addr, len, prot));
	}
	/* A hint is honoured when the range is free, as Linux does. */
	if (addr != 0 && end > addr && addr >= vm->lay.mmap_start &&
	    end <= vm->lay.mmap_end && !tk_vma_overlaps(vm, addr, end))
		return (area_claim(vm, addr, len, prot));
	/* Big mappings start on 2 MiB so they can use 2 MiB pages. */
	align = len >= TK_HUGE_SIZE ? TK_HUGE_SIZE : TK_PAGE_SIZE;
	addr = tk_vma_find(vm, len, align);
	if (addr == 0 && align != TK_PAGE_SIZE)
		addr = tk_vma_find(vm, len, TK_PAGE_SIZE);
	if (addr == 0)
		return (-ENOMEM);
	return (area_claim(vm, addr, len, prot));
}

/*
 * A file mapping is a copy: the file's bytes from (off), zeroes past its
 * end, in memory private to this VM.  In an image, its forks share the
 * copy like any other page, and a fork's writes are reset.  Files are
 * read-only, so a shared writable mapping is refused, as Linux would
 * refuse one of a file opened read-only.
 */
static int64_t
file_map(struct tk_vm *vm, uint64_t addr, uint64_t len, const uint64_t *a)
{
	struct tk_ofd *o = tk_fd_get(vm->proc.files, a[4]);
	uint64_t done;
	void *p;
	ssize_t n;

	if (o == NULL)
		return (-EBADF);
	if (o->kind != TK_FILE_REG)
		return (o->kind == TK_FILE_PATH ? -EBADF : -ENODEV);
	if (a[5] % TK_PAGE_SIZE || (int64_t)a[5] < 0)
		return (-EINVAL);
	if ((a[3] & MAP_SHARED) && (a[2] & PROT_WRITE))
		return (-EACCES);
	addr = (uint64_t)mmap_place(vm, addr, len, PROT_READ, a[3]);
	if ((int64_t)addr < 0)
		return ((int64_t)addr);
	p = tk_mem_user(vm, addr, len, 1);
	/* Reads may come short (network file systems): to the end, or EOF. */
	for (done = 0, n = 1; p != NULL && done < len; done += (uint64_t)n) {
		n = pread(o->hf->fd, (char *)p + done, len - done,
		    (off_t)(a[5] + done));
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n <= 0)
			break;
	}
	if (p == NULL || n < 0) {
		n = p == NULL ? -EFAULT : -errno;
		area_release(vm, addr, addr + len);
		return (n);
	}
	return ((int64_t)addr);
}

static int64_t
sys_mmap(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t addr = a[0], len = page_up(a[1]), prot = a[2], flags = a[3];

	if (a[1] == 0 || len < a[1] || addr % TK_PAGE_SIZE)
		return (-EINVAL);
	if (prot & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC))
		return (-EINVAL);
	if (!(flags & MAP_ANONYMOUS))
		return (file_map(vm, addr, len, a));
	return (mmap_place(vm, addr, len, prot, flags));
}

static int64_t
sys_munmap(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t addr = a[0], len = page_up(a[1]), end = addr + len;

	if (addr % TK_PAGE_SIZE || a[1] == 0 || len < a[1] || end < addr)
		return (-EINVAL);
	/* Only the mmap area can be unmapped; elsewhere is the image, brk or stack. */
	if (addr < vm->lay.mmap_start || end > vm->lay.mmap_end)
		return (-EINVAL);
	area_release(vm, addr, end);
	return (0);
}

static int64_t
sys_mprotect(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t addr = a[0], len = page_up(a[1]), end = addr + len;

	if (addr % TK_PAGE_SIZE || len < a[1] || end < addr ||
	    (a[2] & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return (-EINVAL);
	if (len == 0)
		return (0);
	if (!range_owned(vm, addr, end))
		return (-ENOMEM);
	if (a[2] != PROT_NONE)
		tk_mem_populate(vm, addr, len);
	return (0);
}

static int64_t
sys_mremap(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t old = a[0], old_len = page_up(a[1]), new_len = page_up(a[2]);
	uint64_t flags = a[3], to;
	int64_t r;

	if (old % TK_PAGE_SIZE || new_len == 0 || new_len < a[2] ||
	    old_len < a[1] || (flags & ~(uint64_t)MREMAP_MAYMOVE))
		return (-EINVAL);
	if (old_len == 0 || old + old_len < old ||
	    old < vm->lay.mmap_start || old + old_len > vm->lay.mmap_end ||
	    !tk_vma_covers(vm, old, old + old_len))
		return (-EFAULT);
	if (new_len <= old_len) {
		if (new_len < old_len)
			area_release(vm, old + new_len, old + old_len);
		return ((int64_t)old);
	}
	if (old + new_len <= vm->lay.mmap_end && old + new_len > old &&
	    !tk_vma_overlaps(vm, old + old_len, old + new_len)) {
		r = area_claim(vm, old + old_len, new_len - old_len,
		    PROT_READ | PROT_WRITE);
		return (r < 0 ? r : (int64_t)old);
	}
	if (!(flags & MREMAP_MAYMOVE))
		return (-ENOMEM);
	to = tk_vma_find(vm, new_len, new_len >= TK_HUGE_SIZE ? TK_HUGE_SIZE : TK_PAGE_SIZE);
	if (to == 0)
		to = tk_vma_find(vm, new_len, TK_PAGE_SIZE);
	if (to == 0)
		return (-ENOMEM);
	/* The copy is the request's writing: within its memory, or not at all. */
	(void)tk_dirty_harvest(vm);
	if (tk_dirty_budget(vm, old_len / TK_PAGE_SIZE, "mremap's copy") < 0)
		return (-ENOMEM);
	r = area_claim(vm, to, new_len, PROT_READ | PROT_WRITE);
	if (r < 0)
		return (r);
	/* Both ranges are guest memory we checked: copy on the host side. */
	tk_dirty_mark(vm, to, old_len);
	memcpy(vm->mem + to, vm->mem + old, old_len);
	area_release(vm, old, old + old_len);
	return ((int64_t)to);
}

static int64_t
sys_madvise(struct tk_vm *vm, const uint64_t *a)
{
	uint64_t addr = a[0], len = page_up(a[1]), end = addr + len;

	if (addr % TK_PAGE_SIZE || len < a[1] || end < addr)
		return (-EINVAL);
	if (len != 0 && !range_owned(vm, addr, end))
		return (-ENOMEM);
	/* DONTNEED promises zeroes on anonymous memory; the image is not anonymous. */
	if (a[2] == MADV_DONTNEED && addr >= vm->lay.brk_start)
		tk_mem_discard(vm, addr, len);
	return (0);
}

const struct tk_syscall tk_linux_mm_calls[] = {
	{ SYS_mmap, sys_mmap },
	{ SYS_mprotect, sys_mprotect },
	{ SYS_munmap, sys_munmap },
	{ SYS_brk, sys_brk },
	{ SYS_mremap, sys_mremap },
	{ SYS_madvise, sys_madvise },
	{ 0, NULL },		/* the end: fn NULL */
};
