/*
 * The platform probe: what the guest CPU runs with, read from inside it, is
 * what the engine promises for the platform.  On standard KVM: SMEP, SMAP,
 * CR0.WP and EFER.NXE on, UMIP where KVM offers it, SYSCALL through our
 * ring-0 entry, XCR0 with every vector state KVM offers, and the host's
 * CPUID leaf 7 features (AVX2, AVX-512, ERMS) visible to the guest.  On PVM:
 * WP and NX, and SMEP/SMAP/UMIP wherever offered.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "tinykvm.h"

#define SECOND	1000000000ULL

/* Leaf 7 bits: EBX */
#define L7B_BMI1	(1u << 3)
#define L7B_AVX2	(1u << 5)
#define L7B_SMEP	(1u << 7)
#define L7B_BMI2	(1u << 8)
#define L7B_ERMS	(1u << 9)
#define L7B_AVX512F	(1u << 16)
#define L7B_SMAP	(1u << 20)
/* Leaf 7 ECX */
#define L7C_UMIP	(1u << 2)
/* Leaf 1 ECX */
#define L1C_XSAVE	(1u << 26)
#define L1C_AVX		(1u << 28)

static struct kvm_cpuid_entry2 offered_1, offered_7;

/* What KVM offers a guest on this host, asked the way the engine asks. */
static int
offered_load(void **state)
{
	struct kvm_cpuid2 *c;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), n = 256;

	(void)state;
	assert_true(fd >= 0);
	c = calloc(1, sizeof *c + n * sizeof c->entries[0]);
	assert_non_null(c);
	c->nent = (uint32_t)n;
	assert_int_equal(ioctl(fd, KVM_GET_SUPPORTED_CPUID, c), 0);
	for (uint32_t i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 1)
			offered_1 = c->entries[i];
		if (c->entries[i].function == 7 && c->entries[i].index == 0)
			offered_7 = c->entries[i];
	}
	free(c);
	close(fd);
	return (0);
}

static struct tk_vm *
vm_new(void)
{
	const char *argv[] = { "fork_guest", "nowait", NULL };
	struct tk_vm_config cfg = { .argv = argv };
	struct tk_vm *vm;
	char err[256] = "";

	if (tk_vm_create(&vm, FORK_GUEST, &cfg, err, sizeof err) != 0)
		fail_msg("cannot create the VM (%s): %s", FORK_GUEST, err);
	return (vm);
}

static void
probe(struct tk_vm *vm, struct tk_platform *p)
{
	char err[256] = "", line[256];

	if (tk_vm_platform(vm, p, err, sizeof err) != 0)
		fail_msg("tk_vm_platform: %s", err);
	tk_platform_describe(p, line, sizeof line);
	printf("# %s\n", line);
}

static void
test_protections_on(void **state)
{
	struct tk_vm *vm = vm_new();
	struct tk_platform p;

	(void)state;
	probe(vm, &p);
	assert_true(p.cr0 & 1);			/* PE */
	assert_true(p.cr0 >> 31 & 1);		/* PG */
	assert_true(p.efer >> 10 & 1);		/* LMA: long mode */
	assert_true(p.wp);
	assert_true(p.nx);
	if (!p.pvm) {
		/* Every CPU standard KVM runs on today has both. */
		assert_true(offered_7.ebx & L7B_SMEP);
		assert_true(offered_7.ebx & L7B_SMAP);
	}
	assert_int_equal(p.smep, !!(offered_7.ebx & L7B_SMEP));
	assert_int_equal(p.smap, !!(offered_7.ebx & L7B_SMAP));
	assert_int_equal(p.umip, !!(offered_7.ecx & L7C_UMIP));
	tk_vm_destroy(vm);
}

static void
test_xcr0_has_what_kvm_offers(void **state)
{
	struct tk_vm *vm = vm_new();
	struct tk_platform p;

	(void)state;
	probe(vm, &p);
	if (!(offered_1.ecx & L1C_XSAVE)) {
		assert_int_equal(p.xcr0, 0);
		tk_vm_destroy(vm);
		return;
	}
	assert_int_equal(p.xcr0 & 3, 3);	/* x87, SSE */
	assert_int_equal(!!(p.xcr0 & 4), !!(offered_1.ecx & L1C_AVX));
	if (offered_7.ebx & L7B_AVX512F)
		assert_int_equal(p.xcr0 & 0xe0, 0xe0);
	else
		assert_int_equal(p.xcr0 & 0xe0, 0);
	tk_vm_destroy(vm);
}

static void
test_cpuid_leaf7_is_the_hosts(void **state)
{
	const uint32_t bits = L7B_BMI1 | L7B_AVX2 | L7B_SMEP | L7B_BMI2 |
	    L7B_ERMS | L7B_AVX512F | L7B_SMAP;
	unsigned a, b, c, d;
	struct tk_vm *vm = vm_new();
	struct tk_platform p;

	(void)state;
	probe(vm, &p);
	assert_int_equal(p.cpuid7[0] & bits, offered_7.ebx & bits);
	/* What glibc picks its string functions by: as natively. */
	__cpuid_count(7, 0, a, b, c, d);
	(void)a; (void)c; (void)d;
	if (!p.pvm) {
		assert_int_equal(p.cpuid7[0] & L7B_AVX2, b & L7B_AVX2);
		assert_int_equal(p.cpuid7[0] & L7B_ERMS, b & L7B_ERMS);
	}
	tk_vm_destroy(vm);
}

/* The probe leaves the VM as it was, and SYSCALL takes the path promised. */
static void
test_syscall_path_and_probe_is_harmless(void **state)
{
	struct tk_vm *vm = vm_new();
	struct tk_platform p;
	struct tk_result res;

	(void)state;
	probe(vm, &p);
	assert_int_equal(tk_vm_run(vm, 10 * SECOND, &res), 0);
	assert_int_equal(res.stop, TK_STOP_EXIT);
	assert_int_equal(res.exit_status, 0);
	probe(vm, &p);
	/* Standard KVM: SYSCALL enters our ring-0 entry, never the PVM gate. */
	assert_int_equal(p.syscall_gate, p.pvm);
	tk_vm_destroy(vm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protections_on),
		cmocka_unit_test(test_xcr0_has_what_kvm_offers),
		cmocka_unit_test(test_cpuid_leaf7_is_the_hosts),
		cmocka_unit_test(test_syscall_path_and_probe_is_harmless),
	};
	char err[256];

	/* Tests that need KVM fail, never skip, without it. */
	if (tk_kvm_available(err, sizeof err) != 0) {
		printf("1..1\nnot ok 1 - KVM is needed: %s\n", err);
		return (1);
	}
	return (cmocka_run_group_tests(tests, offered_load, NULL));
}
