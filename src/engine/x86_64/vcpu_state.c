/*
 * The vCPU side of an image's pause, and of calls: the registers a call
 * starts with, the ring-3 entry, and what a reset puts back.  Everything
 * here touches registers, so it lives under x86_64/.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../tk_internal.h"

extern const char tk_ugate_start[], tk_ugate_call[], tk_ugate_call_fx[];
extern const char tk_ugate_call_flush[], tk_ugate_call_fx_flush[];

struct tk_vcpu_state {
	struct kvm_sregs	sregs;		/* user mode, as a call needs */
	struct kvm_xsave	xsave;
	struct kvm_xcrs		xcrs;
	uint64_t		fs_base;
};

/*
 * Writes the image tk_ugate_call restores from.  KVM_GET_XSAVE reports the
 * host's view: its XSTATE_BV may mark components the guest's XCR0 lacks
 * (PKRU, on every CPU with PKU), and XRSTOR faults on such an image.  Keep
 * only what XCR0 enables; the standard (uncompacted) format has XCOMP_BV 0.
 */
static void
xsave_image_write(struct tk_vm *vm, const struct tk_vcpu_state *st)
{
	uint8_t *img = vm->mem + TK_XSAVE_ADDR;
	uint64_t xcr0 = 0, bv;

	memcpy(img, st->xsave.region, TK_PAGE_SIZE);
	for (uint32_t i = 0; i < st->xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
		if (st->xcrs.xcrs[i].xcr == 0)
			xcr0 = st->xcrs.xcrs[i].value;
	memcpy(&bv, img + TK_XSAVE_BV_OFFSET, sizeof bv);
	bv &= xcr0;
	memcpy(img + TK_XSAVE_BV_OFFSET, &bv, sizeof bv);
	memset(img + TK_XSAVE_BV_OFFSET + 8, 0, 8);
}

struct tk_vcpu_state *
tk_vcpu_state_save(struct tk_vm *vm)
{
	struct tk_vcpu_state *st = calloc(1, sizeof *st);

	if (st == NULL || ioctl(vm->vcpu_fd, KVM_GET_SREGS, &st->sregs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &st->xsave) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_GET_XCRS, &st->xcrs) < 0 ||
	    tk_cpu_get_fs(vm, &st->fs_base) < 0) {
		free(st);
		return (NULL);
	}
	/* Calls restore the vector state in the guest (tk_ugate_call*). */
	xsave_image_write(vm, st);
	vm->call_xrstor = (st->sregs.cr4 & CR4_OSXSAVE) ? TK_RESTORE_XRSTOR :
	    TK_RESTORE_FXRSTOR;
	/* It paused inside a hypercall, maybe in ring 0: calls run in ring 3. */
	tk_cpu_user_segments(&st->sregs.cs, &st->sregs.ss);
	return (st);
}

void
tk_vcpu_state_free(struct tk_vcpu_state *st)
{
	free(st);
}

int
tk_vcpu_state_load(struct tk_vm *to, const struct tk_vcpu_state *st)
{
	if (ioctl(to->vcpu_fd, KVM_SET_SREGS, &st->sregs) < 0 ||
	    ioctl(to->vcpu_fd, KVM_SET_XSAVE, &st->xsave) < 0 ||
	    ioctl(to->vcpu_fd, KVM_SET_XCRS, &st->xcrs) < 0 ||
	    tk_cpu_msrs(to, st->fs_base) < 0)
		return (-EIO);
	to->stopped_in_kernel = 0;
	return (0);
}

/* True if the guest changed a segment (mov to %fs, arch_prctl) since the pause. */
static int
segments_changed(const struct tk_vm *vm, const struct kvm_sregs *then)
{
	const struct kvm_sregs *now = &vm->run->s.regs.sregs;
	const struct kvm_segment *a[] = { &now->cs, &now->ss, &now->ds, &now->es,
	    &now->fs, &now->gs };
	const struct kvm_segment *b[] = { &then->cs, &then->ss, &then->ds,
	    &then->es, &then->fs, &then->gs };

	for (unsigned i = 0; i < sizeof a / sizeof a[0]; i++)
		if (a[i]->selector != b[i]->selector || a[i]->base != b[i]->base)
			return (1);
	return (0);
}

int
tk_vcpu_state_reset(struct tk_vm *vm, const struct tk_vcpu_state *st, int full)
{
	/* Vector registers can hold a request's secrets: each call restores
	 * them (tk_ugate_call*); after a failed call, the whole vCPU is reset. */
	if (full && ioctl(vm->vcpu_fd, KVM_SET_XSAVE, &st->xsave) < 0)
		return (-errno);
	/* A triple fault leaves the vCPU as after INIT (XCR0 = x87 only): the
	 * next call's XRSTOR would fault on AVX state.  XCR0 goes back too. */
	if (full && st->xcrs.nr_xcrs > 0 &&
	    ioctl(vm->vcpu_fd, KVM_SET_XCRS, &st->xcrs) < 0)
		return (-errno);
	/* Segments and their bases (the TLS pointer): only when they moved. */
	if (full || vm->stopped_in_kernel || segments_changed(vm, &st->sregs)) {
		if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &st->sregs) < 0 ||
		    tk_cpu_msrs(vm, st->fs_base) < 0)
			return (-EIO);
		vm->stopped_in_kernel = 0;
	}
	return (0);
}

/*
 * Back to user mode before a call: an image paused in a hypercall, and any
 * VM whose last run ended inside a system call, stopped in our ring-0 entry
 * (SYSCALL on standard KVM).  Without this a kept fork's next handler would
 * start at CPL 0: a fault at once with SMEP, ring 0 for the guest without.
 */
int
tk_vcpu_user_mode(struct tk_vm *vm)
{
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return (-errno);
	tk_cpu_user_segments(&sregs.cs, &sregs.ss);
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return (-errno);
	vm->stopped_in_kernel = 0;
	return (0);
}

void
tk_vcpu_call_regs(struct tk_vm *vm, uint64_t addr, uint64_t sp,
    unsigned nargs, const uint64_t *args)
{
	struct kvm_regs *r = &vm->run->s.regs.regs;

	/* Every register fresh: nothing of an earlier call shows through. */
	memset(r, 0, sizeof *r);
	r->rip = addr;
	if (vm->call_xrstor) {
		const char *gate = vm->call_xrstor == TK_RESTORE_XRSTOR ?
		    (vm->tlb_stale ? tk_ugate_call_flush : tk_ugate_call) :
		    (vm->tlb_stale ? tk_ugate_call_fx_flush : tk_ugate_call_fx);

		r->rip = TK_UGATE_ADDR + (uint64_t)(gate - tk_ugate_start);
		r->r11 = addr;
		vm->tlb_stale = 0;
	}
	r->rsp = sp;
	r->rflags = 0x202;
	if (nargs > 0) r->rdi = args[0];
	if (nargs > 1) r->rsi = args[1];
	if (nargs > 2) r->rdx = args[2];
	if (nargs > 3) r->rcx = args[3];
	if (nargs > 4) r->r8 = args[4];
	if (nargs > 5) r->r9 = args[5];
	vm->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}
