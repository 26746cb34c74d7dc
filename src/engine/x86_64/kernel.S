/*
 * The guest's tiny kernel: the SYSCALL entry and the CPU exception entries.
 * It is assembled into the host's .rodata and copied to TK_KCODE_ADDR in the
 * guest, so it must be position independent (relative jumps, absolute
 * addresses only for the fixed low kernel pages).  The host never runs it.
 *
 * Guest programs run in ring 3.  Every way into ring 0 ends in an OUT to one
 * of our ports, which exits to the host; the host emulates and resumes.
 */
#include "x86_64/layout.h"
#include "tinykvm/abi.h"

	.section .rodata
	.balign 16
	.globl tk_kernel_start, tk_kernel_end
	.globl tk_kernel_syscall, tk_kernel_exceptions

	.code64
tk_kernel_start:

/*
 * SYSCALL: rcx holds the user rip and r11 the user rflags; interrupts and AC
 * are masked by SFMASK.  We touch no memory here: rsp is still the user's and
 * SMAP forbids it.  The host puts the result in rax and resumes after the OUT.
 */
tk_kernel_syscall:
	cmpl	$TK_SYSCALL_TLB_FLUSH, %eax
	je	1f
	outl	%eax, $TK_PORT_SYSCALL
	sysretq
/* The one system call we serve here: forget every translation (dirty_pte.c
 * cleared dirty bits or took writes back), no exit. */
1:	movq	%cr3, %rax
	movq	%rax, %cr3
	xorl	%eax, %eax
	sysretq

/*
 * Exceptions 0-31, 16 bytes apart, all on IST1.  Each pushes a zero where
 * the CPU pushed no error code, then its vector, and exits without touching
 * a register: the host reads the frame at TK_KSTACK_TOP - 56
 * ([vector][error][rip][cs][rflags][rsp][ss]) and the guest's registers
 * intact.  A fault ends the call: the host does not resume it.  The one
 * exception it resumes is a page fault it made good (a write it granted,
 * dirty_pte.c): then the guest retries, on fresh translations.
 */
	.macro	exception vec
	.balign	16
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$\vec
	outl	%eax, $TK_PORT_FAULT
	jmp	tk_kernel_resume
	.endm

	.balign	16
tk_kernel_exceptions:
	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	exception \v
	.endr

/*
 * Where a call starts when the last run stopped in our SYSCALL entry (a
 * hypercall made by SYSCALL, the respond that ended a request): still at
 * CPL 0, the vCPU goes to ring 3 the way the entry would have, by SYSRET,
 * with no segment to set from the host.  The host sets rcx to the gate
 * below (tk_ugate_from_kernel*) and r11 to the flags; the gate puts the
 * call's rcx and handler back from r10 and rbx.  The first form reloads CR3
 * on the way (dirty_pte.c).
 */
	.globl	tk_kernel_to_user_flush, tk_kernel_to_user
tk_kernel_to_user_flush:
	movq	%cr3, %rax
	movq	%rax, %cr3
	xorl	%eax, %eax
tk_kernel_to_user:
	sysretq

/* A grant may have taken W from other pages: no translation survives it. */
tk_kernel_resume:
	pushq	%rax
	movq	%cr3, %rax
	movq	%rax, %cr3
	popq	%rax
	addq	$16, %rsp
	iretq


/*
 * The platform probe (probe.c): what the guest CPU really runs with, read
 * from inside.  r8 = CR0, r9 = CR4, r10 = EFER, r11 = XCR0 (0 without
 * OSXSAVE, where XGETBV would fault), rbx/rcx/rdx = CPUID.(7,0).  Touches no
 * memory.  The host restores every register afterwards.
 */
	.globl	tk_kernel_probe
tk_kernel_probe:
	movq	%cr0, %r8
	movq	%cr4, %r9
	movl	$0xc0000080, %ecx	/* IA32_EFER */
	rdmsr
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %r10
	xorl	%r11d, %r11d
	btq	$18, %r9		/* CR4.OSXSAVE */
	jnc	1f
	xorl	%ecx, %ecx
	xgetbv
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %r11
1:	movl	$7, %eax
	xorl	%ecx, %ecx
	cpuid
	outl	%eax, $TK_PORT_PROBE
2:	hlt
	jmp	2b

tk_kernel_end:

/*
 * The user-mode syscall gate, a read-only user page at TK_UGATE_ADDR.  Where
 * SYSCALL stays in ring 3 (PVM), LSTAR points here instead.  Ring 3 has no
 * I/O port there, so the gate rings a doorbell: a store to TK_DOORBELL_ADDR,
 * a page with no memory behind it, exits to the host as MMIO.  No exception
 * and no IRET, which PVM can only emulate slowly.  The host puts the result
 * in rax; we go back to the caller.
 */
	.balign	16
	.globl	tk_ugate_start, tk_ugate_return, tk_ugate_call, tk_ugate_call_fx
	.globl	tk_ugate_syscall_probe, tk_ugate_end
tk_ugate_start:
	movl	%eax, TK_DOORBELL_ADDR
	jmpq	*%rcx

/*
 * Where the host decides, once per program and before it runs, how SYSCALL
 * reaches it (syscall_probe.c): our ring-0 entry exits through its OUT;
 * where SYSCALL stays in ring 3 (PVM), fetching the supervisor page at LSTAR
 * faults instead, and from then on LSTAR points at the gate above.
 */
	.balign	16
tk_ugate_syscall_probe:
	syscall
	ud2

/*
 * Where a function the host calls (tk_vm_call) returns to: its return value
 * goes to the host with the TINYKVM_HC_RETURN hypercall.
 */
	.balign	16
tk_ugate_return:
	movq	%rax, %rdi
	movl	$TINYKVM_HC_RETURN, %eax
	movl	%eax, TK_DOORBELL_ADDR
	ud2
/*
 * Where a call starts: the vector registers are set to the main VM's, from
 * the read-only user page at TK_XSAVE_ADDR, so no request sees what the last
 * one left there, without a vCPU ioctl.  XRSTOR where the guest has XSAVE,
 * else FXRSTOR (then x87 and SSE are all the state there is).  The handler's
 * address comes in r11; its arguments are untouched.
 */
	.balign	16
tk_ugate_call:
.Lugate_call:
	movl	$-1, %eax
	movl	$-1, %edx
	xrstor	TK_XSAVE_ADDR
	pushq	%r11
	xorl	%eax, %eax
	xorl	%edx, %edx
	xorl	%r11d, %r11d
	ret

	.balign	16
tk_ugate_call_fx:
.Lugate_call_fx:
	fxrstor64 TK_XSAVE_ADDR
	pushq	%r11
	xorl	%r11d, %r11d
	ret

/*
 * The same, after a reset cleared dirty bits (dirty_pte.c): first our ring-0
 * entry reloads CR3, before any store, or a write through a stale
 * translation would set no dirty bit.  SYSCALL takes rcx and r11: the host
 * passes the fourth argument and the handler in r10 and rbx, as to the
 * gates after a SYSRET below.
 */
	.balign	16
	.globl	tk_ugate_call_flush, tk_ugate_call_fx_flush
tk_ugate_call_flush:
	movl	$TK_SYSCALL_TLB_FLUSH, %eax
	syscall
	jmp	.Lugate_from_kernel

	.balign	16
	.globl	tk_ugate_from_kernel, tk_ugate_from_kernel_fx
tk_ugate_from_kernel:
.Lugate_from_kernel:
	movq	%r10, %rcx
	movq	%rbx, %r11
	xorl	%ebx, %ebx
	xorl	%r10d, %r10d
	jmp	.Lugate_call

	.balign	16
tk_ugate_from_kernel_fx:
.Lugate_from_kernel_fx:
	movq	%r10, %rcx
	movq	%rbx, %r11
	xorl	%ebx, %ebx
	xorl	%r10d, %r10d
	jmp	.Lugate_call_fx

	.balign	16
tk_ugate_call_fx_flush:
	movl	$TK_SYSCALL_TLB_FLUSH, %eax
	syscall
	jmp	.Lugate_from_kernel_fx
tk_ugate_end:
	.section .note.GNU-stack,"",@progbits
