/* ELF validation: every malformed or unsupported file is refused with a reason. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tk_internal.h"

struct image {
	Elf64_Ehdr	eh;
	Elf64_Phdr	ph[3];
	uint8_t		code[4096];
};

/* A minimal valid static EXEC: one RX segment at 0x401000 holding the file. */
static void
image_make(struct image *im, uint16_t type, uint64_t vaddr)
{
	memset(im, 0, sizeof *im);
	memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
	im->eh.e_ident[EI_CLASS] = ELFCLASS64;
	im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->eh.e_type = type;
	im->eh.e_machine = EM_X86_64;
	im->eh.e_version = EV_CURRENT;
	im->eh.e_entry = vaddr + offsetof(struct image, code);
	im->eh.e_phoff = offsetof(struct image, ph);
	im->eh.e_ehsize = sizeof(Elf64_Ehdr);
	im->eh.e_phentsize = sizeof(Elf64_Phdr);
	im->eh.e_phnum = 1;
	im->ph[0].p_type = PT_LOAD;
	im->ph[0].p_flags = PF_R | PF_X;
	im->ph[0].p_offset = 0;
	im->ph[0].p_vaddr = vaddr;
	im->ph[0].p_filesz = sizeof *im;
	im->ph[0].p_memsz = sizeof *im + 8192;
	im->ph[0].p_align = 4096;
}

static int
inspect(struct image *im, struct tk_elf_image *img, char *err, size_t errlen)
{
	return (tk_elf_inspect(im, sizeof *im, img, err, errlen));
}

static void
test_valid_exec(void **state)
{
	struct tk_elf_image img;
	struct image im;
	char err[128] = "";

	(void)state;
	image_make(&im, ET_EXEC, 0x400000);
	assert_int_equal(inspect(&im, &img, err, sizeof err), 0);
	assert_false(img.pie);
	assert_int_equal(img.bias, 0);
	assert_int_equal(img.entry, 0x400000 + offsetof(struct image, code));
	assert_int_equal(img.phdr, 0x400000 + offsetof(struct image, ph));
	assert_int_equal(img.phnum, 1);
	assert_int_equal(img.lo, 0x400000);
	assert_int_equal(img.hi, 0x400000 + ((sizeof im + 8192 + 4095) & ~4095ULL));
}

static void
test_valid_pie_is_placed(void **state)
{
	struct tk_elf_image img;
	struct image im;
	char err[128] = "";

	(void)state;
	image_make(&im, ET_DYN, 0);
	assert_int_equal(inspect(&im, &img, err, sizeof err), 0);
	assert_true(img.pie);
	assert_int_equal(img.bias, TK_PIE_BASE);
	assert_int_equal(img.entry, TK_PIE_BASE + offsetof(struct image, code));
}

/* Applies (mutate) to a valid image and expects a refusal naming (reason). */
static void
expect_refusal(void (*mutate)(struct image *), const char *reason)
{
	struct tk_elf_image img;
	struct image im;
	char err[128] = "";

	image_make(&im, ET_EXEC, 0x400000);
	mutate(&im);
	assert_int_equal(inspect(&im, &img, err, sizeof err), -ENOEXEC);
	assert_non_null(strstr(err, reason));
}

static void m_magic(struct image *im) { im->eh.e_ident[1] = 'X'; }
static void m_class(struct image *im) { im->eh.e_ident[EI_CLASS] = ELFCLASS32; }
static void m_machine(struct image *im) { im->eh.e_machine = EM_AARCH64; }
static void m_reloc(struct image *im) { im->eh.e_type = ET_REL; }
static void m_core(struct image *im) { im->eh.e_type = ET_CORE; }
static void m_nophdr(struct image *im) { im->eh.e_phnum = 0; }
static void m_interp(struct image *im)
{
	im->eh.e_phnum = 2;
	im->ph[1].p_type = PT_INTERP;
}
static void m_filesz(struct image *im) { im->ph[0].p_filesz = im->ph[0].p_memsz + 1; }
static void m_offset(struct image *im) { im->ph[0].p_offset = 1ULL << 40; }
static void m_offset_wrap(struct image *im) { im->ph[0].p_offset = UINT64_MAX - 10; }
static void m_vaddr_wrap(struct image *im) { im->ph[0].p_vaddr = UINT64_MAX - 4095; }
static void m_vaddr_huge(struct image *im) { im->ph[0].p_vaddr = 1ULL << 50; }
static void m_misaligned(struct image *im) { im->ph[0].p_vaddr += 12; }
static void m_low(struct image *im)
{
	im->ph[0].p_vaddr = 0x1000;
	im->eh.e_entry = 0x1100;
}
static void m_entry(struct image *im) { im->eh.e_entry = 0x10; }
static void m_noload(struct image *im) { im->ph[0].p_type = PT_NOTE; }

static void
test_refusals(void **state)
{
	(void)state;
	expect_refusal(m_magic, "not an ELF file");
	expect_refusal(m_class, "32-bit");
	expect_refusal(m_machine, "not x86-64");
	expect_refusal(m_reloc, "not an executable");
	expect_refusal(m_core, "not an executable");
	expect_refusal(m_nophdr, "no program headers");
	expect_refusal(m_interp, "interpreter");
	expect_refusal(m_filesz, "malformed");
	expect_refusal(m_offset, "malformed");
	expect_refusal(m_offset_wrap, "malformed");
	expect_refusal(m_vaddr_wrap, "malformed");
	expect_refusal(m_vaddr_huge, "malformed");
	expect_refusal(m_misaligned, "malformed");
	expect_refusal(m_low, "below the lowest address");
	expect_refusal(m_entry, "entry point");
	expect_refusal(m_noload, "nothing to load");
}

static void
test_truncated_and_tiny(void **state)
{
	struct tk_elf_image img;
	struct image im;
	char err[128] = "";

	(void)state;
	image_make(&im, ET_EXEC, 0x400000);
	assert_int_equal(tk_elf_inspect(&im, 3, &img, err, sizeof err), -ENOEXEC);
	assert_int_equal(tk_elf_inspect(&im, 20, &img, err, sizeof err), -ENOEXEC);
	/* Program headers cut off by the end of the file. */
	assert_int_equal(tk_elf_inspect(&im, offsetof(struct image, ph) + 8, &img,
	    err, sizeof err), -ENOEXEC);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_exec),
		cmocka_unit_test(test_valid_pie_is_placed),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_truncated_and_tiny),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
