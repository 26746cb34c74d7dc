/*
 * Loading a static x86-64 ELF (EXEC or static-pie) with libelf, and laying out
 * the guest address space around it.  Everything in the file is untrusted: a
 * header that lies about sizes or addresses is refused with a reason, before
 * a byte of it reaches guest memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tk_internal.h"

#define MAX_FILE_SIZE	(1ULL << 30)

static uint64_t
page_down(uint64_t v)
{
	return (v & ~(TK_PAGE_SIZE - 1));
}

static uint64_t
page_up(uint64_t v)
{
	return ((v + TK_PAGE_SIZE - 1) & ~(TK_PAGE_SIZE - 1));
}

static int
fail(char *err, size_t errlen, int code, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return (code);
}

int
tk_elf_inspect(const void *data, size_t size, struct tk_elf_image *img,
    char *err, size_t errlen)
{
	GElf_Ehdr eh;
	GElf_Phdr ph;
	size_t phnum, i;
	uint64_t lo = UINT64_MAX, hi = 0, phdr = 0, end;
	int loads = 0, r = 0;
	Elf *e;

	memset(img, 0, sizeof *img);
	if (size < 4 || memcmp(data, ELFMAG, SELFMAG) != 0)
		return (fail(err, errlen, -ENOEXEC, "not an ELF file"));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return (fail(err, errlen, -EIO, "libelf is too old"));
	/* libelf wants a mutable buffer but does not write to one opened for reading. */
	e = elf_memory((char *)(uintptr_t)data, size);
	if (e == NULL || elf_kind(e) != ELF_K_ELF) {
		r = fail(err, errlen, -ENOEXEC, "not an ELF file");
		goto out;
	}
	if (gelf_getclass(e) != ELFCLASS64) {
		r = fail(err, errlen, -ENOEXEC, "ELF is 32-bit, not x86-64");
		goto out;
	}
	if (gelf_getehdr(e, &eh) == NULL) {
		r = fail(err, errlen, -ENOEXEC, "ELF header is truncated");
		goto out;
	}
	if (eh.e_machine != EM_X86_64) {
		snprintf(err, errlen, "ELF is for machine %u, not x86-64",
		    (unsigned)eh.e_machine);
		r = -ENOEXEC;
		goto out;
	}
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		r = fail(err, errlen, -ENOEXEC,
		    "ELF is not an executable (relocatable object or core file)");
		goto out;
	}
	if (elf_getphdrnum(e, &phnum) != 0 || phnum == 0) {
		r = fail(err, errlen, -ENOEXEC, "ELF has no program headers");
		goto out;
	}
	for (i = 0; i < phnum; i++) {
		if (gelf_getphdr(e, (int)i, &ph) == NULL) {
			r = fail(err, errlen, -ENOEXEC, "ELF program header is truncated");
			goto out;
		}
		if (ph.p_type == PT_INTERP) {
			r = fail(err, errlen, -ENOEXEC,
			    "dynamic ELF (it needs an interpreter) is not yet supported");
			goto out;
		}
		if (ph.p_type == PT_PHDR)
			phdr = ph.p_vaddr;
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		end = ph.p_vaddr + ph.p_memsz;
		if (ph.p_filesz > ph.p_memsz || end < ph.p_vaddr ||
		    ph.p_offset + ph.p_filesz < ph.p_offset ||
		    ph.p_offset + ph.p_filesz > size ||
		    ph.p_vaddr % TK_PAGE_SIZE != ph.p_offset % TK_PAGE_SIZE ||
		    end > (1ULL << 46)) {
			r = fail(err, errlen, -ENOEXEC,
			    "ELF has a malformed loadable segment");
			goto out;
		}
		if (phdr == 0 && eh.e_phoff >= ph.p_offset &&
		    eh.e_phoff + phnum * eh.e_phentsize <= ph.p_offset + ph.p_filesz)
			phdr = ph.p_vaddr + (eh.e_phoff - ph.p_offset);
		lo = page_down(ph.p_vaddr) < lo ? page_down(ph.p_vaddr) : lo;
		hi = page_up(end) > hi ? page_up(end) : hi;
		loads++;
	}
	if (loads == 0) {
		r = fail(err, errlen, -ENOEXEC, "ELF has nothing to load");
		goto out;
	}
	img->pie = eh.e_type == ET_DYN;
	img->bias = img->pie ? TK_PIE_BASE - lo : 0;
	if (!img->pie && lo < TK_USER_BASE) {
		snprintf(err, errlen, "ELF loads at 0x%llx, below the lowest "
		    "address the sandbox allows (0x%llx)", (unsigned long long)lo,
		    (unsigned long long)TK_USER_BASE);
		r = -ENOEXEC;
		goto out;
	}
	if (eh.e_entry < lo || eh.e_entry >= hi) {
		r = fail(err, errlen, -ENOEXEC, "ELF entry point is outside its segments");
		goto out;
	}
	img->lo = lo;
	img->hi = hi;
	img->entry = eh.e_entry + img->bias;
	img->phdr = phdr ? phdr + img->bias : 0;
	img->phnum = phnum;
	img->phentsize = eh.e_phentsize;
out:
	if (e != NULL)
		elf_end(e);
	return (r);
}

static int
file_read(const char *path, void **datap, size_t *sizep, char *err, size_t errlen)
{
	struct stat st;
	size_t done = 0;
	ssize_t n;
	void *data;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open it: %s", strerror(errno));
		return (r);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return (fail(err, errlen, -ENOEXEC, "not a regular file"));
	}
	if ((uint64_t)st.st_size > MAX_FILE_SIZE) {
		close(fd);
		return (fail(err, errlen, -EFBIG, "file is larger than 1 GiB"));
	}
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (data == NULL) {
		close(fd);
		return (fail(err, errlen, -ENOMEM, "out of memory reading it"));
	}
	while (done < (size_t)st.st_size) {
		n = read(fd, (char *)data + done, (size_t)st.st_size - done);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "cannot read it: %s", strerror(-r));
			free(data);
			close(fd);
			return (r);
		}
		done += (size_t)n;
	}
	close(fd);
	*datap = data;
	*sizep = done;
	return (0);
}

static uint64_t
segment_perm(uint32_t flags)
{
	return (TK_PTE_P | TK_PTE_U | ((flags & PF_W) ? TK_PTE_W : 0) |
	    ((flags & PF_X) ? 0 : TK_PTE_NX));
}

/* Two segments sharing a page: the page gets what either needs. */
static uint64_t
perm_merge(uint64_t a, uint64_t b)
{
	return (((a | b) & ~TK_PTE_NX) | (a & b & TK_PTE_NX));
}

static int
segments_load(struct tk_vm *vm, const void *data, size_t size,
    const struct tk_elf_image *img)
{
	GElf_Phdr ph;
	uint64_t lo, hi, perm, old_first, old_last, sz;
	size_t i;
	int r = 0;
	Elf *e = elf_memory((char *)(uintptr_t)data, size);

	if (e == NULL)
		return (-ENOEXEC);
	for (i = 0; i < img->phnum; i++) {
		if (gelf_getphdr(e, (int)i, &ph) == NULL) {
			r = -ENOEXEC;
			break;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		lo = page_down(ph.p_vaddr + img->bias);
		hi = page_up(ph.p_vaddr + img->bias + ph.p_memsz);
		perm = segment_perm(ph.p_flags);
		old_first = tk_paging_leaf(&vm->pg, lo, &sz) & TK_PTE_PERM;
		old_last = tk_paging_leaf(&vm->pg, hi - TK_PAGE_SIZE, &sz) & TK_PTE_PERM;
		r = tk_mem_map(vm, lo, hi - lo, perm);
		if (r == 0 && old_first)
			r = tk_mem_map(vm, lo, TK_PAGE_SIZE,
			    perm_merge(perm, old_first));
		if (r == 0 && old_last)
			r = tk_mem_map(vm, hi - TK_PAGE_SIZE, TK_PAGE_SIZE,
			    perm_merge(perm, old_last));
		if (r != 0)
			break;
		memcpy(vm->mem + ph.p_vaddr + img->bias,
		    (const char *)data + ph.p_offset, ph.p_filesz);
	}
	elf_end(e);
	return (r);
}

/* Kernel pages: supervisor only; code executable, data not. */
static int
kernel_map(struct tk_vm *vm)
{
	int r;

	r = tk_mem_map(vm, TK_GDT_ADDR, TK_KCODE_ADDR - TK_GDT_ADDR,
	    TK_PTE_P | TK_PTE_NX);
	if (r == 0)
		r = tk_mem_map(vm, TK_KCODE_ADDR, TK_KCODE_SIZE, TK_PTE_P);
	if (r == 0)
		r = tk_mem_map(vm, TK_KSTACK_ADDR,
		    TK_KSTACK_TOP - TK_KSTACK_ADDR, TK_PTE_P | TK_PTE_W | TK_PTE_NX);
	if (r == 0)
		r = tk_mem_map(vm, TK_UGATE_ADDR, TK_PAGE_SIZE, TK_PTE_P | TK_PTE_U);
	if (r == 0)
		r = tk_mem_map(vm, TK_XSAVE_ADDR, TK_PAGE_SIZE,
		    TK_PTE_P | TK_PTE_U | TK_PTE_NX);
	if (r == 0)
		r = tk_paging_map(&vm->pg, TK_DOORBELL_ADDR, TK_PAGE_SIZE,
		    TK_PTE_P | TK_PTE_U | TK_PTE_W | TK_PTE_NX);
	return (r);
}

/* Places brk, the mmap area and the stack between the image and the page tables. */
static int
layout(struct tk_vm *vm, const struct tk_elf_image *img, uint64_t arena_base,
    char *err, size_t errlen)
{
	uint64_t free_lo, free_hi;

	vm->image_start = img->lo + img->bias;
	vm->image_end = img->hi + img->bias;
	vm->stack_top = arena_base;
	/* Linux's 8 MiB, but an eighth of memory in small guests. */
	vm->stack_low = vm->stack_top - (vm->mem_size >= 8 * TK_STACK_SIZE ?
	    TK_STACK_SIZE : (vm->mem_size / 8 + TK_HUGE_SIZE - 1) &
	    ~(TK_HUGE_SIZE - 1));
	free_lo = (vm->image_end + TK_HUGE_SIZE - 1) & ~(TK_HUGE_SIZE - 1);
	free_hi = vm->stack_low - TK_STACK_GUARD;
	if (vm->stack_low < TK_STACK_GUARD || free_hi < free_lo + 2 * TK_HUGE_SIZE) {
		snprintf(err, errlen, "program (%llu KiB) does not fit in %llu MiB "
		    "of guest memory", (unsigned long long)((img->hi - img->lo) >> 10),
		    (unsigned long long)(vm->mem_size >> 20));
		return (-ENOMEM);
	}
	vm->brk_start = vm->proc.brk_cur = vm->image_end;
	/* A quarter for brk; malloc moves to mmap when brk runs out. */
	vm->brk_max = (free_lo + (free_hi - free_lo) / 4) & ~(TK_HUGE_SIZE - 1);
	vm->mmap_start = vm->brk_max;
	vm->mmap_end = free_hi;
	/*
	 * The page tables are final from here on.  Under a shadow-paging
	 * hypervisor (PVM, or KVM without EPT) the host cannot edit them later
	 * without the hypervisor's copy going stale, so the heap and the mmap
	 * area are mapped whole now and mmap/munmap/mprotect are bookkeeping.
	 */
	if (tk_paging_map(&vm->pg, vm->brk_start, vm->mmap_end - vm->brk_start,
	    TK_PTE_P | TK_PTE_U | TK_PTE_W | TK_PTE_NX) < 0 ||
	    tk_paging_map(&vm->pg, vm->stack_low, vm->stack_top - vm->stack_low,
	    TK_PTE_P | TK_PTE_U | TK_PTE_W | TK_PTE_NX) < 0)
		return (-ENOMEM);
	/* Back the top of the stack now; deep stacks are rare and pay on touch. */
	tk_mem_populate(vm, vm->stack_top - TK_HUGE_SIZE, TK_HUGE_SIZE);
	return (0);
}

int
tk_elf_load(struct tk_vm *vm, const char *path, struct tk_elf_image *img,
    char *err, size_t errlen)
{
	uint64_t arena_bytes, arena_base;
	size_t size = 0;
	void *data = NULL;
	int r;

	r = file_read(path, &data, &size, err, errlen);
	if (r < 0)
		return (r);
	r = tk_elf_inspect(data, size, img, err, errlen);
	if (r < 0)
		goto out;
	arena_bytes = tk_paging_arena_pages(vm->mem_size) * TK_PAGE_SIZE;
	arena_base = (vm->mem_size - arena_bytes) & ~(TK_HUGE_SIZE - 1);
	if (img->hi + img->bias > arena_base / 2) {
		snprintf(err, errlen, "program needs addresses up to 0x%llx, more "
		    "than half of the %llu MiB of guest memory",
		    (unsigned long long)(img->hi + img->bias),
		    (unsigned long long)(vm->mem_size >> 20));
		r = -ENOMEM;
		goto out;
	}
	r = tk_paging_init(&vm->pg, vm->mem, vm->mem_size, arena_base, vm->mem_size);
	if (r == 0)
		r = kernel_map(vm);
	if (r == 0)
		r = segments_load(vm, data, size, img);
	if (r < 0) {
		snprintf(err, errlen, "cannot build its page tables: %s", strerror(-r));
		goto out;
	}
	r = layout(vm, img, arena_base, err, errlen);
out:
	free(data);
	return (r);
}
