/*
 * The guest's fixed low layout and our kernel's exit ports: one header for
 * kernel.S and the C that sets the pages up, so neither can drift.  Only
 * preprocessor lines here (the assembler includes it).
 *
 * Guest physical == virtual.  The first 2 MiB belong to our kernel: page 0
 * is never mapped, so null pointers fault.
 */
#ifndef TK_LAYOUT_H
#define TK_LAYOUT_H

#ifdef __ASSEMBLER__
#define TK_U64(x)	x
#else
#define TK_U64(x)	x##ULL
#endif

#define TK_GDT_ADDR		TK_U64(0x1000)
#define TK_IDT_ADDR		TK_U64(0x2000)
#define TK_TSS_ADDR		TK_U64(0x3000)
#define TK_KCODE_ADDR		TK_U64(0x4000)	/* two pages of kernel code */
#define TK_KCODE_SIZE		TK_U64(0x2000)
#define TK_KSTACK_ADDR		TK_U64(0x6000)	/* exception stack, three pages */
#define TK_KSTACK_TOP		TK_U64(0x9000)
#define TK_UGATE_ADDR		TK_U64(0x9000)	/* user-mode syscall gate (kernel.S) */
#define TK_DOORBELL_ADDR	TK_U64(0xa000)	/* no memory behind it: a write exits */
#define TK_XSAVE_ADDR		TK_U64(0xb000)	/* vector state calls start from */

/* Port numbers our kernel uses to leave the guest. */
#define TK_PORT_SYSCALL		0x01
#define TK_PORT_FAULT		0x02
#define TK_PORT_PROBE		0x03

/* A system call number no Linux has: our ring-0 entry reloads CR3 and
 * returns, with no exit (tk_ugate_call_flush, dirty_pte.c). */
#define TK_SYSCALL_TLB_FLUSH	0x7f544c42

#endif
