/*
 * The x86-64 machine our guests see: long mode with paging, ring 3 for the
 * program, SMEP, SMAP, CR0.WP and NX on, our kernel's GDT, IDT and TSS in
 * read-only supervisor pages, SYSCALL routed to kernel.S, the host's CPU
 * features (so libc picks the same code paths as natively) and XCR0 set so
 * SSE, AVX and AVX-512 work.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/ioctl.h>

#include "../tk_internal.h"

extern const char tk_kernel_start[], tk_kernel_end[];
extern const char tk_kernel_syscall[], tk_kernel_exceptions[];
extern const char tk_ugate_start[], tk_ugate_end[];

#define TSS_LIMIT	103

/*
 * Linux's own GDT layout.  SYSRET derives the user selectors from STAR, and
 * PVM (a KVM that runs guests on the host's ring 3) insists they equal the
 * host's: __USER32_CS 0x23, __USER_DS 0x2b, __USER_CS 0x33.
 */
#define SEL_KCODE	0x10
#define SEL_KDATA	0x18
#define SEL_UCODE32	0x20
#define SEL_UDATA	0x28
#define SEL_UCODE	0x30
#define SEL_TSS		0x40
#define GDT_ENTRIES	10

#define MSR_EFER	0xc0000080
#define MSR_STAR	0xc0000081
#define MSR_LSTAR	0xc0000082
#define MSR_CSTAR	0xc0000083
#define MSR_SFMASK	0xc0000084
#define MSR_FS_BASE	0xc0000100
#define MSR_GS_BASE	0xc0000101
#define MSR_KGS_BASE	0xc0000102

#define CR0_PE		(1ULL << 0)
#define CR0_MP		(1ULL << 1)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_WP		(1ULL << 16)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define CR4_OSFXSR	(1ULL << 9)
#define CR4_OSXMMEXCPT	(1ULL << 10)
#define CR4_UMIP	(1ULL << 11)

#define CR4_SMEP	(1ULL << 20)
#define CR4_SMAP	(1ULL << 21)
#define EFER_SCE	(1ULL << 0)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)
#define EFER_NXE	(1ULL << 11)

/* SYSCALL clears these flags: no interrupts, no single-step, and AC so SMAP holds. */
#define SFMASK_FLAGS	0x47700ULL

/* User state XCR0 may enable: x87, SSE, AVX, AVX-512 (opmask, ZMM_Hi256, Hi16_ZMM). */
#define XCR0_USER	0xe7ULL

uint64_t
tk_kernel_addr(const void *sym)
{
	return (TK_KCODE_ADDR + (uint64_t)((const char *)sym - tk_kernel_start));
}

static uint64_t
gdt_segment(uint64_t access, uint64_t flags)
{
	/* Base 0, limit 0xfffff: long mode ignores both for code and data. */
	return (0xffffULL | (access << 40) | (0xfULL << 48) | (flags << 52));
}

static void
tables_write(struct tk_vm *vm)
{
	uint64_t *gdt = (uint64_t *)(void *)(vm->mem + TK_GDT_ADDR);
	uint64_t *idt = (uint64_t *)(void *)(vm->mem + TK_IDT_ADDR);
	uint8_t *tss = vm->mem + TK_TSS_ADDR;
	uint64_t handler, base = TK_TSS_ADDR, limit = TSS_LIMIT;
	unsigned v;

	/*
	 * Every descriptor is marked accessed: loading a segment whose
	 * accessed bit is clear makes the CPU write it into the GDT, and our
	 * GDT is read-only (a `mov %ax, %fs` in ring 3 would fault).
	 */
	gdt[0] = 0;
	gdt[SEL_KCODE / 8] = gdt_segment(0x9b, 0xa);	/* P, DPL0, code; L, G */
	gdt[SEL_KDATA / 8] = gdt_segment(0x93, 0xc);	/* P, DPL0, data; D, G */
	gdt[SEL_UDATA / 8] = gdt_segment(0xf3, 0xc);	/* P, DPL3, data */
	gdt[SEL_UCODE32 / 8] = gdt_segment(0xfb, 0xc);	/* P, DPL3, code; D */
	gdt[SEL_UCODE / 8] = gdt_segment(0xfb, 0xa);	/* P, DPL3, code; L */
	gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
	    (0x89ULL << 40) | (((base >> 24) & 0xff) << 56);
	gdt[SEL_TSS / 8 + 1] = base >> 32;

	for (v = 0; v < 32; v++) {
		handler = tk_kernel_addr(tk_kernel_exceptions) + 16 * v;
		/* int3 and into are instructions a program may use: DPL 3. */
		uint64_t dpl = (v == 3 || v == 4) ? 3 : 0;
		idt[2 * v] = (handler & 0xffff) | ((uint64_t)SEL_KCODE << 16) |
		    (1ULL << 32) /* IST1 */ | ((0x8eULL | dpl << 5) << 40) |
		    ((handler >> 16 & 0xffff) << 48);
		idt[2 * v + 1] = handler >> 32;
	}

	memset(tss, 0, TSS_LIMIT + 1);
	memcpy(tss + 4, &(uint64_t){TK_KSTACK_TOP}, 8);		/* RSP0 */
	memcpy(tss + 36, &(uint64_t){TK_KSTACK_TOP}, 8);	/* IST1 */
	/* I/O map base past the limit: no I/O port is open to ring 3. */
	memcpy(tss + 102, &(uint16_t){TSS_LIMIT + 1}, 2);

	assert((uint64_t)(tk_ugate_end - tk_ugate_start) <=
	    TINYKVM_PLATFORM - TK_UGATE_ADDR);
	memcpy(vm->mem + TK_UGATE_ADDR, tk_ugate_start,
	    (size_t)(tk_ugate_end - tk_ugate_start));
	/* SYSCALL reaches our ring 0 until the probe finds otherwise. */
	memcpy(vm->mem + TINYKVM_PLATFORM, &(uint32_t){TINYKVM_PLATFORM_SYSCALL}, 4);

	memcpy(vm->mem + TK_KCODE_ADDR, tk_kernel_start,
	    (size_t)(tk_kernel_end - tk_kernel_start));
}

static pthread_once_t cpuid_once = PTHREAD_ONCE_INIT;
static struct kvm_cpuid2 *cpuid_cache;

static struct kvm_cpuid2 *
cpuid_supported(int kvm_fd)
{
	struct kvm_cpuid2 *c;
	int n = 64;

	for (;;) {
		c = calloc(1, sizeof *c + n * sizeof c->entries[0]);
		if (c == NULL)
			return (NULL);
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return (c);
		free(c);
		if (errno != E2BIG || n > 4096)
			return (NULL);
		n *= 2;
	}
}

static const struct kvm_cpuid_entry2 *
cpuid_find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return (&c->entries[i]);
	return (NULL);
}

static void
cpuid_load(void)
{
	char err[128];
	int kvm_fd = tk_kvm_fd(err, sizeof err);

	if (kvm_fd >= 0)
		cpuid_cache = cpuid_supported(kvm_fd);
}

int
tk_cpu_features(struct tk_vm *vm, char *err, size_t errlen)
{
	/* The host's features, asked of KVM once per process. */
	(void)pthread_once(&cpuid_once, cpuid_load);
	if (cpuid_cache == NULL) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed");
		return (-EIO);
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid_cache) < 0) {
		snprintf(err, errlen, "KVM_SET_CPUID2: %s", strerror(errno));
		return (-errno);
	}
	return (0);
}

static int
features_setup(struct tk_vm *vm, uint64_t *cr4, uint64_t *xcr0, char *err,
    size_t errlen)
{
	const struct kvm_cpuid_entry2 *l1, *l7, *ld;
	const struct kvm_cpuid2 *c;
	int r = tk_cpu_features(vm, err, errlen);

	if (r < 0)
		return (r);
	c = cpuid_cache;
	l1 = cpuid_find(c, 1, 0);
	l7 = cpuid_find(c, 7, 0);
	ld = cpuid_find(c, 0xd, 0);
	*cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	/*
	 * SMEP, SMAP and UMIP whenever KVM offers them.  Some hypervisors (PVM,
	 * for one) do not: our kernel never reads user memory and never runs
	 * user code, so they are defence in depth, not what isolation rests on.
	 */
	if (l7 != NULL && (l7->ebx & (1u << 7)))
		*cr4 |= CR4_SMEP;
	if (l7 != NULL && (l7->ebx & (1u << 20)))
		*cr4 |= CR4_SMAP;
	if (l7 != NULL && (l7->ecx & (1u << 2)))
		*cr4 |= CR4_UMIP;
	if (l1 != NULL && (l1->ecx & (1u << 26)))
		*cr4 |= CR4_OSXSAVE;
	if ((*cr4 & CR4_OSXSAVE) && ld != NULL) {
		*xcr0 = 1 | (ld->eax & XCR0_USER);
		/* AVX-512 state is only valid as a whole. */
		if ((*xcr0 & 0xe0) != 0xe0)
			*xcr0 &= ~0xe0ULL;
	}
	return (0);
}

void
tk_cpu_user_segments(void *cs, void *ss)
{
	const struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_UCODE | 3,
		.type = 11, .present = 1, .dpl = 3, .s = 1, .l = 1, .g = 1,
	};
	const struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_UDATA | 3,
		.type = 3, .present = 1, .dpl = 3, .db = 1, .s = 1, .g = 1,
	};

	memcpy(cs, &code, sizeof code);
	memcpy(ss, &data, sizeof data);
}

void
tk_cpu_kernel_segments(void *cs, void *ss)
{
	const struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_KCODE,
		.type = 11, .present = 1, .dpl = 0, .s = 1, .l = 1, .g = 1,
	};
	const struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_KDATA,
		.type = 3, .present = 1, .dpl = 0, .db = 1, .s = 1, .g = 1,
	};

	memcpy(cs, &code, sizeof code);
	memcpy(ss, &data, sizeof data);
}

int
tk_cpu_msrs(struct tk_vm *vm, uint64_t fs_base)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[7];
	} msrs;

	memset(&msrs, 0, sizeof msrs);
	msrs.hdr.nmsrs = 7;
	msrs.e[0] = (struct kvm_msr_entry){ .index = MSR_STAR,
	    .data = ((uint64_t)(SEL_UCODE32 | 3) << 48) | ((uint64_t)SEL_KCODE << 32) };
	msrs.e[1] = (struct kvm_msr_entry){ .index = MSR_LSTAR,
	    .data = vm->user_gate ? TK_UGATE_ADDR : tk_kernel_addr(tk_kernel_syscall) };
	msrs.e[2] = (struct kvm_msr_entry){ .index = MSR_CSTAR, .data = 0 };
	msrs.e[3] = (struct kvm_msr_entry){ .index = MSR_SFMASK, .data = SFMASK_FLAGS };
	msrs.e[4] = (struct kvm_msr_entry){ .index = MSR_FS_BASE, .data = fs_base };
	msrs.e[5] = (struct kvm_msr_entry){ .index = MSR_GS_BASE, .data = 0 };
	msrs.e[6] = (struct kvm_msr_entry){ .index = MSR_KGS_BASE, .data = 0 };
	return (ioctl(vm->vcpu_fd, KVM_SET_MSRS, &msrs) == 7 ? 0 : -EIO);
}

int
tk_cpu_setup(struct tk_vm *vm, char *err, size_t errlen)
{
	struct kvm_segment code, data;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	uint64_t cr4 = 0, xcr0 = 0;
	int r;

	tables_write(vm);
	r = features_setup(vm, &cr4, &xcr0, err, errlen);
	if (r < 0)
		return (r);

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail_sregs;
	tk_cpu_user_segments(&code, &data);
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = (struct kvm_segment){
		.base = TK_TSS_ADDR, .limit = TSS_LIMIT, .selector = SEL_TSS,
		.type = 11, .present = 1,
	};
	sregs.ldt = (struct kvm_segment){ .unusable = 1 };
	sregs.gdt.base = TK_GDT_ADDR;
	sregs.gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs.idt.base = TK_IDT_ADDR;
	sregs.idt.limit = 32 * 16 - 1;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = vm->pg.pml4;
	sregs.cr4 = cr4;
	sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		goto fail_sregs;

	/* XCR0 only after CR4.OSXSAVE is set. */
	if (xcr0 != 0) {
		memset(&xcrs, 0, sizeof xcrs);
		xcrs.nr_xcrs = 1;
		xcrs.xcrs[0].value = xcr0;
		if (ioctl(vm->vcpu_fd, KVM_SET_XCRS, &xcrs) < 0) {
			snprintf(err, errlen, "KVM_SET_XCRS: %s", strerror(errno));
			return (-errno);
		}
	}

	if (tk_cpu_msrs(vm, 0) < 0) {
		snprintf(err, errlen, "KVM_SET_MSRS failed");
		return (-EIO);
	}

	memset(&fpu, 0, sizeof fpu);
	fpu.fcw = 0x37f;	/* as Linux starts a process */
	fpu.ftwx = 0;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vm->vcpu_fd, KVM_SET_FPU, &fpu) < 0) {
		snprintf(err, errlen, "KVM_SET_FPU: %s", strerror(errno));
		return (-errno);
	}

	memset(&regs, 0, sizeof regs);
	regs.rip = vm->lay.entry;
	regs.rsp = vm->lay.initial_rsp;
	regs.rflags = 0x202;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		snprintf(err, errlen, "KVM_SET_REGS: %s", strerror(errno));
		return (-errno);
	}
	return (0);

fail_sregs:
	snprintf(err, errlen, "KVM_SET_SREGS: %s", strerror(errno));
	return (-errno);
}

static int
msr_access(struct tk_vm *vm, unsigned long req, uint32_t index, uint64_t *value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m;

	memset(&m, 0, sizeof m);
	m.hdr.nmsrs = 1;
	m.e.index = index;
	m.e.data = *value;
	if (ioctl(vm->vcpu_fd, req, &m) != 1)
		return (-EIO);
	*value = m.e.data;
	return (0);
}

int
tk_cpu_use_user_gate(struct tk_vm *vm)
{
	uint64_t gate = TK_UGATE_ADDR;

	vm->user_gate = 1;
	/* SYSCALL now costs our gate and its doorbell: guests ring directly. */
	memset(vm->mem + TINYKVM_PLATFORM, 0, 4);
	return (msr_access(vm, KVM_SET_MSRS, MSR_LSTAR, &gate));
}

int
tk_cpu_set_fs(struct tk_vm *vm, uint64_t base)
{
	/* A non-canonical base would make the next entry fail: refuse it. */
	if (base >= (1ULL << 47))
		return (-EPERM);
	return (msr_access(vm, KVM_SET_MSRS, MSR_FS_BASE, &base));
}

int
tk_cpu_get_fs(struct tk_vm *vm, uint64_t *base)
{
	*base = 0;
	return (msr_access(vm, KVM_GET_MSRS, MSR_FS_BASE, base));
}
