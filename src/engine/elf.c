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

/* The ELF header: a 64-bit x86-64 executable (static or static-pie). */
static int
header_check(Elf *e, GElf_Ehdr *eh, char *err, size_t errlen)
{
	if (e == NULL || elf_kind(e) != ELF_K_ELF)
		return (fail(err, errlen, -ENOEXEC, "not an ELF file"));
	if (gelf_getclass(e) != ELFCLASS64)
		return (fail(err, errlen, -ENOEXEC, "ELF is 32-bit, not x86-64"));
	if (gelf_getehdr(e, eh) == NULL)
		return (fail(err, errlen, -ENOEXEC, "ELF header is truncated"));
	if (eh->e_machine != EM_X86_64) {
		snprintf(err, errlen, "ELF is for machine %u, not x86-64",
		    (unsigned)eh->e_machine);
		return (-ENOEXEC);
	}
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return (fail(err, errlen, -ENOEXEC,
		    "ELF is not an executable (relocatable object or core file)"));
	return (0);
}

/* What the program headers span; every loadable segment checked. */
struct segments {
	uint64_t	lo, hi, phdr;
	size_t		phnum;
	uint64_t	interp_off, interp_len;
};

/* PT_INTERP: a path, NUL-terminated, inside the file. */
static int
interp_check(const GElf_Phdr *ph, const void *data, size_t size,
    struct segments *sg, char *err, size_t errlen)
{
	if (ph->p_filesz < 2 || ph->p_filesz > 4096 || ph->p_offset > size ||
	    ph->p_filesz > size - ph->p_offset ||
	    ((const char *)data)[ph->p_offset + ph->p_filesz - 1] != '\0' ||
	    memchr((const char *)data + ph->p_offset, '\0', ph->p_filesz - 1))
		return (fail(err, errlen, -ENOEXEC,
		    "ELF has a malformed interpreter path (PT_INTERP)"));
	sg->interp_off = ph->p_offset;
	sg->interp_len = ph->p_filesz - 1;
	return (0);
}

static int
segment_check(const GElf_Phdr *ph, size_t size, char *err, size_t errlen)
{
	uint64_t end = ph->p_vaddr + ph->p_memsz;

	if (ph->p_filesz > ph->p_memsz || end < ph->p_vaddr ||
	    ph->p_offset + ph->p_filesz < ph->p_offset ||
	    ph->p_offset + ph->p_filesz > size ||
	    ph->p_vaddr % TK_PAGE_SIZE != ph->p_offset % TK_PAGE_SIZE ||
	    end > (1ULL << 46))
		return (fail(err, errlen, -ENOEXEC,
		    "ELF has a malformed loadable segment"));
	return (0);
}

static int
segments_scan(Elf *e, const GElf_Ehdr *eh, const void *data, size_t size,
    struct segments *sg, char *err, size_t errlen)
{
	GElf_Phdr ph;
	int loads = 0;

	sg->lo = UINT64_MAX;
	if (elf_getphdrnum(e, &sg->phnum) != 0 || sg->phnum == 0)
		return (fail(err, errlen, -ENOEXEC, "ELF has no program headers"));
	for (size_t i = 0; i < sg->phnum; i++) {
		if (gelf_getphdr(e, (int)i, &ph) == NULL)
			return (fail(err, errlen, -ENOEXEC,
			    "ELF program header is truncated"));
		if (ph.p_type == PT_INTERP &&
		    interp_check(&ph, data, size, sg, err, errlen) < 0)
			return (-ENOEXEC);
		if (ph.p_type == PT_PHDR)
			sg->phdr = ph.p_vaddr;
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (segment_check(&ph, size, err, errlen) < 0)
			return (-ENOEXEC);
		if (sg->phdr == 0 && eh->e_phoff >= ph.p_offset &&
		    eh->e_phoff + sg->phnum * eh->e_phentsize <=
		    ph.p_offset + ph.p_filesz)
			sg->phdr = ph.p_vaddr + (eh->e_phoff - ph.p_offset);
		if (page_down(ph.p_vaddr) < sg->lo)
			sg->lo = page_down(ph.p_vaddr);
		if (page_up(ph.p_vaddr + ph.p_memsz) > sg->hi)
			sg->hi = page_up(ph.p_vaddr + ph.p_memsz);
		loads++;
	}
	if (loads == 0)
		return (fail(err, errlen, -ENOEXEC, "ELF has nothing to load"));
	return (0);
}

/* Where the program goes, from its header and segments. */
static int
image_place(const GElf_Ehdr *eh, const struct segments *sg,
    struct tk_elf_image *img, char *err, size_t errlen)
{
	img->pie = eh->e_type == ET_DYN;
	img->bias = img->pie ? TK_PIE_BASE - sg->lo : 0;
	if (!img->pie && sg->lo < TK_USER_BASE) {
		snprintf(err, errlen, "ELF loads at 0x%llx, below the lowest "
		    "address the sandbox allows (0x%llx)",
		    (unsigned long long)sg->lo, (unsigned long long)TK_USER_BASE);
		return (-ENOEXEC);
	}
	if (eh->e_entry < sg->lo || eh->e_entry >= sg->hi)
		return (fail(err, errlen, -ENOEXEC,
		    "ELF entry point is outside its segments"));
	img->lo = sg->lo;
	img->hi = sg->hi;
	img->entry = eh->e_entry + img->bias;
	img->phdr = sg->phdr ? sg->phdr + img->bias : 0;
	img->phnum = sg->phnum;
	img->phentsize = eh->e_phentsize;
	img->interp_off = sg->interp_off;
	img->interp_len = sg->interp_len;
	img->start = img->entry;
	return (0);
}

int
tk_elf_inspect(const void *data, size_t size, struct tk_elf_image *img,
    char *err, size_t errlen)
{
	struct segments sg = { 0 };
	GElf_Ehdr eh;
	Elf *e;
	int r;

	memset(img, 0, sizeof *img);
	if (size < 4 || memcmp(data, ELFMAG, SELFMAG) != 0)
		return (fail(err, errlen, -ENOEXEC, "not an ELF file"));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return (fail(err, errlen, -EIO, "libelf is too old"));
	/* libelf wants a mutable buffer but does not write to one opened for reading. */
	e = elf_memory((char *)(uintptr_t)data, size);
	r = header_check(e, &eh, err, errlen);
	if (r == 0)
		r = segments_scan(e, &eh, data, size, &sg, err, errlen);
	if (r == 0)
		r = image_place(&eh, &sg, img, err, errlen);
	if (e != NULL)
		elf_end(e);
	return (r);
}

/* Reads all of (fd), which it closes: a regular file of at most 1 GiB. */
static int
fd_read_all(int fd, void **datap, size_t *sizep, char *err, size_t errlen)
{
	struct stat st;
	size_t done = 0;
	ssize_t n;
	void *data;
	int r;

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

static int
file_read(const char *path, void **datap, size_t *sizep, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open it: %s", strerror(errno));
		return (r);
	}
	return (fd_read_all(fd, datap, sizep, err, errlen));
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

/*
 * The interpreter a dynamic program names, read as the guest would read
 * it (its file system, linux/paths.c), validated, and placed on the next
 * 2 MiB boundary above the program: (ip) its image, (span) both.
 */
static int
interp_load(struct tk_vm *vm, const void *data, struct tk_elf_image *img,
    struct tk_elf_image *ip, void **idata, size_t *isize, char *err,
    size_t errlen)
{
	const char *name = (const char *)data + img->interp_off;
	char path[4096], why[200] = "";
	struct stat st;
	uint64_t base;
	int fd, vdir, r;

	r = tk_fs_add_system_libs((struct tk_fs *)(uintptr_t)vm->fs, err,
	    errlen);
	if (r < 0)
		return (r);
	r = tk_path_join(path, sizeof path, "/", name);
	/* Refused unless a regular file, before it is opened: a FIFO would
	 * block the loading thread. */
	fd = r < 0 ? r : tk_fs_open_read(vm->fs, path, 0, 1, &vdir, &st);
	if (fd >= 0)
		r = fd_read_all(fd, idata, isize, why, sizeof why);
	else
		r = fd == -1 ? -EISDIR : fd;
	if (r == 0)
		r = tk_elf_inspect(*idata, *isize, ip, why, sizeof why);
	if (r == 0 && (!ip->pie || ip->interp_len != 0))
		r = fail(why, sizeof why, -ENOEXEC, "not a shared object "
		    "without an interpreter of its own");
	if (r < 0) {
		snprintf(err, errlen, "its interpreter %.200s: %s", name,
		    why[0] ? why : strerror(-r));
		return (r);
	}
	base = (img->hi + img->bias + TK_HUGE_SIZE - 1) & ~(TK_HUGE_SIZE - 1);
	ip->entry += base - ip->lo - ip->bias;
	ip->bias = base - ip->lo;
	img->interp_base = ip->bias;
	img->start = ip->entry;
	return (0);
}

int
tk_elf_load(struct tk_vm *vm, const char *path, struct tk_elf_image *img,
    char *err, size_t errlen)
{
	struct tk_elf_image interp, span;
	size_t size = 0, isize = 0;
	void *data = NULL, *idata = NULL;
	int r;

	r = file_read(path, &data, &size, err, errlen);
	if (r < 0)
		return (r);
	r = tk_elf_inspect(data, size, img, err, errlen);
	if (r < 0)
		goto out;
	span = *img;
	if (img->interp_len != 0) {
		r = interp_load(vm, data, img, &interp, &idata, &isize, err,
		    errlen);
		if (r < 0)
			goto out;
		span.hi = interp.hi + interp.bias - img->bias;
	}
	r = tk_layout_prepare(vm, &span, err, errlen);
	if (r < 0)
		goto out;
	r = segments_load(vm, data, size, img);
	if (r == 0 && idata != NULL)
		r = segments_load(vm, idata, isize, &interp);
	if (r < 0) {
		snprintf(err, errlen, "cannot build its page tables: %s", strerror(-r));
		goto out;
	}
	r = tk_layout_place(vm, &span, err, errlen);
out:
	free(data);
	free(idata);
	return (r);
}
