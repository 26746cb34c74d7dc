/*
 * Probes: short runs of our own code in a VM, with its state put back.
 *
 * The SYSCALL probe, before a program runs: one SYSCALL from our gate page
 * decides for good how this VM's system calls reach the host.  Where it
 * enters our ring-0 entry (standard KVM) that stays; where it faults at the
 * entry instead (PVM keeps SYSCALL in ring 3), LSTAR moves to the user-mode
 * gate.  Deciding it here, once, means no later fault is ever taken for a
 * system call: a guest jumping to the entry is just a fault.
 *
 * The platform probe: which platform a VM runs on and what its guest CPU
 * really has on.  A few instructions of our kernel (tk_kernel_probe) read
 * CR0, CR4, EFER, XCR0 and CPUID leaf 7 in ring 0 and leave through one OUT.
 * What the host asked KVM for is not proof: a hypervisor may drop a bit (PVM
 * offers no SMAP), so the CLI, the VMOD's load log and the tests report what
 * the guest reads back.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../tk_internal.h"

extern const char tk_kernel_probe[], tk_ugate_start[], tk_ugate_syscall_probe[];

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

/* The platform probe's run ends at its OUT. */
static int
platform_probe_exit(struct tk_vm *vm, unsigned port, const uint64_t *frame)
{
	(void)frame;
	if (port != TK_PORT_PROBE)
		return (0);
	tk_stop(vm, TK_STOP_RETURN, 0, 0, "%s", "");
	return (1);
}

/*
 * The SYSCALL probe's run ends at our ring-0 entry (its port), or with a
 * fault at the entry where SYSCALL stays in ring 3: then, and only then,
 * LSTAR moves to the user-mode gate.  Any later fault there is a guest's.
 */
static int
syscall_probe_exit(struct tk_vm *vm, unsigned port, const uint64_t *f)
{
	extern const char tk_kernel_syscall[];

	if (port == TK_PORT_SYSCALL) {
		tk_stop(vm, TK_STOP_RETURN, 0, 0, "%s", "");
		return (1);
	}
	if (port != TK_PORT_FAULT || (f[TK_FRAME_CS] & 3) == 0 ||
	    f[TK_FRAME_VECTOR] != 14 ||
	    f[TK_FRAME_RIP] != tk_kernel_addr(tk_kernel_syscall))
		return (0);
	if (tk_cpu_use_user_gate(vm) < 0)
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "cannot point LSTAR at the gate");
	else
		tk_stop(vm, TK_STOP_RETURN, 0, 0, "%s", "");
	return (1);
}

/*
 * Runs (vm) from (rip), in ring 0 when (kernel), until (on_exit) says the probe
 * ends, and gives the registers it ended with in (out).  Every register and
 * segment is put back afterwards, the copies in kvm_run too.  One exit.
 */
static int
probe_run(struct tk_vm *vm, tk_probe_exit_fn *on_exit, uint64_t rip, int kernel,
    struct kvm_regs *out, char *err, size_t errlen)
{
	struct kvm_sregs saved_sregs, sregs;
	struct kvm_regs saved_regs, regs;
	struct tk_result res, *saved_res = vm->res;

	if (vm->state == TK_STATE_IN_CALL || vm->state == TK_STATE_RUNNING ||
	    vm->probe_exit != NULL) {
		snprintf(err, errlen, "the VM is running");
		return (-EBUSY);
	}
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &saved_regs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_GET_SREGS, &saved_sregs) < 0)
		goto fail;
	sregs = saved_sregs;
	if (kernel)
		tk_cpu_kernel_segments(&sregs.cs, &sregs.ss);
	else
		tk_cpu_user_segments(&sregs.cs, &sregs.ss);
	memset(&regs, 0, sizeof regs);
	regs.rip = rip;
	regs.rsp = TK_KSTACK_TOP;
	regs.rax = TINYKVM_HC_NOP;
	regs.rflags = 0x2;		/* interrupts off */
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		goto fail;

	memset(&res, 0, sizeof res);
	vm->res = &res;
	vm->probe_exit = on_exit;
	tk_vcpu_run(vm, tk_now_ns() + 10 * 1000000000ULL, 10 * 1000000000ULL);
	vm->probe_exit = NULL;
	vm->res = saved_res;
	*out = vm->run->s.regs.regs;

	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &saved_regs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_SET_SREGS, &saved_sregs) < 0)
		goto fail;
	vm->run->s.regs.regs = saved_regs;
	vm->run->s.regs.sregs = saved_sregs;
	vm->run->kvm_dirty_regs = 0;
	if (res.stop != TK_STOP_RETURN) {
		snprintf(err, errlen, "%.150s", res.message);
		return (-EIO);
	}
	return (0);
fail:
	snprintf(err, errlen, "cannot set the vCPU up for a probe: %s",
	    strerror(errno));
	return (-errno);
}

int
tk_syscall_path_decide(struct tk_vm *vm, char *err, size_t errlen)
{
	struct kvm_regs out;
	char why[160];
	int r;

	r = probe_run(vm, syscall_probe_exit, TK_UGATE_ADDR +
	    (uint64_t)(tk_ugate_syscall_probe - tk_ugate_start), 0, &out,
	    why, sizeof why);
	if (r < 0)
		snprintf(err, errlen, "the SYSCALL probe failed: %s", why);
	return (r);
}

int
tk_vm_platform(struct tk_vm *vm, struct tk_platform *p, char *err,
    size_t errlen)
{
	struct kvm_regs out;
	char why[160];
	int r;

	TK_VM_CHECK(vm);
	memset(p, 0, sizeof *p);
	kvm_kind(p);
	r = probe_run(vm, platform_probe_exit, tk_kernel_addr(tk_kernel_probe), 1,
	    &out, why, sizeof why);
	if (r < 0) {
		snprintf(err, errlen, "the platform probe failed: %s", why);
		return (r);
	}
	p->cr0 = out.r8;
	p->cr4 = out.r9;
	p->efer = out.r10;
	p->xcr0 = out.r11;
	p->cpuid7[0] = (uint32_t)out.rbx;
	p->cpuid7[1] = (uint32_t)out.rcx;
	p->cpuid7[2] = (uint32_t)out.rdx;
	p->smep = (p->cr4 & CR4_SMEP) != 0;
	p->smap = (p->cr4 & CR4_SMAP) != 0;
	p->umip = (p->cr4 & CR4_UMIP) != 0;
	p->wp = (p->cr0 & CR0_WP) != 0;
	p->nx = (p->efer & EFER_NXE) != 0;
	p->syscall_gate = vm->user_gate;
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
