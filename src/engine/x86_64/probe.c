/*
 * Which platform a VM runs on and what its guest CPU really has on: a few
 * instructions of our kernel (tk_kernel_probe) read CR0, CR4, EFER, XCR0 and
 * CPUID leaf 7 in ring 0 and leave through one OUT.  What the host asked KVM
 * for is not proof: a hypervisor may drop a bit (PVM offers no SMAP), so the
 * CLI, the VMOD's load log and the tests report what the guest reads back.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../tk_internal.h"

extern const char tk_kernel_probe[];

#define CR0_WP		(1ULL << 16)
#define CR4_UMIP	(1ULL << 11)
#define CR4_SMEP	(1ULL << 20)
#define CR4_SMAP	(1ULL << 21)
#define EFER_NXE	(1ULL << 11)

/* Names the KVM module this host runs: the platforms differ in what they offer. */
static void
kvm_kind(struct tk_platform *p)
{
	static const struct {
		const char	*module;
		const char	*name;
		int		pvm;
	} kinds[] = {
		{ "kvm_pvm", "PVM (kvm_pvm)", 1 },
		{ "kvm_intel", "standard KVM (kvm_intel)", 0 },
		{ "kvm_amd", "standard KVM (kvm_amd)", 0 },
	};
	char path[64];

	snprintf(p->kvm, sizeof p->kvm, "KVM (module unknown)");
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		snprintf(path, sizeof path, "/sys/module/%s", kinds[i].module);
		if (access(path, F_OK) == 0) {
			snprintf(p->kvm, sizeof p->kvm, "%s", kinds[i].name);
			p->pvm = kinds[i].pvm;
			return;
		}
	}
}

void
tk_probe_done(struct tk_vm *vm)
{
	tk_stop(vm, TK_STOP_RETURN, 0, 0, "%s", "");
}

/* Runs tk_kernel_probe and copies what it read into (p). */
static int
probe_run(struct tk_vm *vm, struct tk_platform *p, char *err, size_t errlen)
{
	const struct kvm_regs *out = &vm->run->s.regs.regs;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct tk_result res;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return (-errno);
	tk_cpu_kernel_segments(&sregs.cs, &sregs.ss);
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return (-errno);
	memset(&regs, 0, sizeof regs);
	regs.rip = tk_kernel_addr(tk_kernel_probe);
	regs.rsp = TK_KSTACK_TOP;
	regs.rflags = 0x2;		/* interrupts off */
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return (-errno);

	memset(&res, 0, sizeof res);
	vm->res = &res;
	vm->probing = 1;
	tk_vcpu_run(vm, tk_now_ns() + 10 * 1000000000ULL, 10 * 1000000000ULL);
	vm->probing = 0;
	vm->res = NULL;
	if (res.stop != TK_STOP_RETURN) {
		snprintf(err, errlen, "the platform probe failed: %s", res.message);
		return (-EIO);
	}
	p->cr0 = out->r8;
	p->cr4 = out->r9;
	p->efer = out->r10;
	p->xcr0 = out->r11;
	p->cpuid7[0] = (uint32_t)out->rbx;
	p->cpuid7[1] = (uint32_t)out->rcx;
	p->cpuid7[2] = (uint32_t)out->rdx;
	return (0);
}

int
tk_vm_platform(struct tk_vm *vm, struct tk_platform *p, char *err,
    size_t errlen)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int r;

	memset(p, 0, sizeof *p);
	err[0] = '\0';
	if (vm->in_call || vm->probing) {
		snprintf(err, errlen, "the VM is running");
		return (-EBUSY);
	}
	kvm_kind(p);
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(err, errlen, "cannot read the vCPU: %s", strerror(errno));
		return (-errno);
	}
	r = probe_run(vm, p, err, errlen);
	/* Everything as it was: the registers the next run starts from, too. */
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		snprintf(err, errlen, "cannot restore the vCPU: %s", strerror(errno));
		return (-errno);
	}
	vm->run->s.regs.regs = regs;
	vm->run->s.regs.sregs = sregs;
	vm->run->kvm_dirty_regs = 0;
	if (r < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "the platform probe failed: %s",
			    strerror(-r));
		return (r);
	}
	p->smep = (p->cr4 & CR4_SMEP) != 0;
	p->smap = (p->cr4 & CR4_SMAP) != 0;
	p->umip = (p->cr4 & CR4_UMIP) != 0;
	p->wp = (p->cr0 & CR0_WP) != 0;
	p->nx = (p->efer & EFER_NXE) != 0;
	/* PVM takes SYSCALL in ring 3: the engine switches to the gate at the first. */
	p->syscall_gate = vm->user_gate || p->pvm;
	return (0);
}

void
tk_platform_describe(const struct tk_platform *p, char *buf, size_t len)
{
	static const char *const xstate[] = { "x87", "SSE", "AVX", NULL, NULL,
	    "AVX-512 opmask", "AVX-512 ZMM_Hi256", "AVX-512 Hi16_ZMM" };
	char feat[96] = "";
	size_t n = 0;

	for (unsigned i = 0; i < sizeof xstate / sizeof xstate[0]; i++)
		if (xstate[i] != NULL && (p->xcr0 >> i & 1) && n < sizeof feat)
			n += (size_t)snprintf(feat + n, sizeof feat - n, "%s%s",
			    n ? " " : "", xstate[i]);
	snprintf(buf, len, "%s; %s %s %s %s %s; SYSCALL %s; XCR0 0x%llx (%s)",
	    p->kvm, p->smep ? "SMEP" : "no-SMEP", p->smap ? "SMAP" : "no-SMAP",
	    p->umip ? "UMIP" : "no-UMIP", p->wp ? "WP" : "no-WP",
	    p->nx ? "NX" : "no-NX", p->syscall_gate ? "via the user-mode gate" :
	    "via the ring-0 entry", (unsigned long long)p->xcr0,
	    p->xcr0 ? feat : "no XSAVE");
}
