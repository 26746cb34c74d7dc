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
extern const char tk_ugate_from_kernel[], tk_ugate_from_kernel_fx[];
extern const char tk_kernel_to_user[], tk_kernel_to_user_flush[];

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

/* True if the guest changed a segment (mov to %fs, arch_prctl) or a
 * control register since the pause. */
static int
segments_changed(const struct tk_vm *vm, const struct kvm_sregs *then)
{
	const struct kvm_sregs *now = &vm->run->s.regs.sregs;
	const struct kvm_segment *a[] = { &now->cs, &now->ss, &now->ds, &now->es,
	    &now->fs, &now->gs };
	const struct kvm_segment *b[] = { &then->cs, &then->ss, &then->ds,
	    &then->es, &then->fs, &then->gs };

	for (unsigned i = vm->stopped_in_kernel ? 2 : 0; i < sizeof a / sizeof a[0]; i++)
		if (a[i]->selector != b[i]->selector || a[i]->base != b[i]->base)
			return (1);
	/* In ring 0, only where SYSCALL put it: CS and SS from STAR. */
	if (vm->stopped_in_kernel && (now->cs.selector & 3) != 0)
		return (1);
	/* Only ring 0 changes these, and ours never does: a way into ring 0
	 * that left its own page tables or tables behind loses them here. */
	return (now->cr0 != then->cr0 || now->cr3 != then->cr3 ||
	    now->cr4 != then->cr4 || now->efer != then->efer ||
	    now->gdt.base != then->gdt.base || now->gdt.limit != then->gdt.limit ||
	    now->idt.base != then->idt.base || now->idt.limit != then->idt.limit);
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
	/* Segments and their bases (the TLS pointer): only when they moved.
	 * Stopped in our SYSCALL entry, CS and SS are the kernel's: the next
	 * call leaves by SYSRET (tk_vcpu_call_regs). */
	if (full || segments_changed(vm, &st->sregs)) {
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

/*
 * Where a call starts, and how the handler gets there:
 * - the vCPU stopped in our SYSCALL entry, at CPL 0: it leaves by SYSRET
 *   (tk_kernel_to_user, which reloads CR3 first if dirty bits were
 *   cleared), into a gate that takes the handler from rbx and the fourth
 *   argument from r10.  No segment ioctl.
 * - in ring 3 after dirty bits were cleared: a gate that makes our ring 0
 *   reload CR3 before any store, then the same hand-over.
 * - else the plain gate, the handler in r11.
 * Each gate restores the vector registers first (XRSTOR or FXRSTOR).
 */
static int
call_entry(struct tk_vm *vm, struct kvm_regs *r, uint64_t addr)
{
	const int xr = vm->call_xrstor == TK_RESTORE_XRSTOR;
	const char *gate;

	if (vm->stopped_in_kernel) {
		gate = xr ? tk_ugate_from_kernel : tk_ugate_from_kernel_fx;
		r->rip = tk_kernel_addr(vm->tlb_stale ? tk_kernel_to_user_flush :
		    tk_kernel_to_user);
		r->rcx = TK_UGATE_ADDR + (uint64_t)(gate - tk_ugate_start);
		r->r11 = 0x202;		/* the flags ring 3 gets */
		r->rflags = 0x2;	/* interrupts stay off in ring 0 */
		r->rbx = addr;
		return (1);
	}
	if (vm->tlb_stale) {
		gate = xr ? tk_ugate_call_flush : tk_ugate_call_fx_flush;
		r->rip = TK_UGATE_ADDR + (uint64_t)(gate - tk_ugate_start);
		r->rbx = addr;
		return (1);
	}
	gate = xr ? tk_ugate_call : tk_ugate_call_fx;
	r->rip = TK_UGATE_ADDR + (uint64_t)(gate - tk_ugate_start);
	r->r11 = addr;
	return (0);
}

void
tk_vcpu_call_regs(struct tk_vm *vm, uint64_t addr, uint64_t sp,
    unsigned nargs, const uint64_t *args)
{
	struct kvm_regs *r = &vm->run->s.regs.regs;
	int handover = 0;

	/* Every register fresh: nothing of an earlier call shows through. */
	memset(r, 0, sizeof *r);
	r->rip = addr;
	r->rflags = 0x202;
	if (vm->call_xrstor)
		handover = call_entry(vm, r, addr);
	vm->tlb_stale = 0;
	vm->stopped_in_kernel = 0;
	r->rsp = sp;
	if (nargs > 0) r->rdi = args[0];
	if (nargs > 1) r->rsi = args[1];
	if (nargs > 2) r->rdx = args[2];
	if (nargs > 3) *(handover ? &r->r10 : &r->rcx) = args[3];
	if (nargs > 4) r->r8 = args[4];
	if (nargs > 5) r->r9 = args[5];
	vm->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}
