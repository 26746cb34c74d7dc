/*
 * Names a CPU exception the way a person debugging the guest wants to read it,
 * and picks the signal Linux would have sent, so the CLI can exit as a shell
 * reports a killed process (128 + signal).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../tk_internal.h"

#define PF_PRESENT	(1u << 0)
#define PF_WRITE	(1u << 1)
#define PF_FETCH	(1u << 4)

static const struct {
	const char	*name;
	int		sig;
} exceptions[32] = {
	[0] = { "divide error", SIGFPE },
	[1] = { "debug trap", SIGTRAP },
	[2] = { "non-maskable interrupt", SIGSEGV },
	[3] = { "breakpoint", SIGTRAP },
	[4] = { "overflow", SIGSEGV },
	[5] = { "bound range exceeded", SIGSEGV },
	[6] = { "invalid opcode", SIGILL },
	[7] = { "device not available", SIGFPE },
	[8] = { "double fault", SIGSEGV },
	[10] = { "invalid TSS", SIGSEGV },
	[11] = { "segment not present", SIGBUS },
	[12] = { "stack-segment fault", SIGBUS },
	[13] = { "general protection fault", SIGSEGV },
	[14] = { "page fault", SIGSEGV },
	[16] = { "x87 floating-point error", SIGFPE },
	[17] = { "alignment check", SIGBUS },
	[18] = { "machine check", SIGBUS },
	[19] = { "SIMD floating-point error", SIGFPE },
	[20] = { "virtualization exception", SIGSEGV },
	[21] = { "control protection fault", SIGSEGV },
};

/* Names the privileged instruction at (code), or NULL. */
static const char *
privileged_name(const uint8_t *c, size_t n)
{
	if (n >= 1) {
		switch (c[0]) {
		case 0xfa: return ("cli");
		case 0xfb: return ("sti");
		case 0xf4: return ("hlt");
		case 0xe4: case 0xe5: case 0xec: case 0xed: return ("in");
		case 0xe6: case 0xe7: case 0xee: case 0xef: return ("out");
		case 0x6c: case 0x6d: return ("ins");
		case 0x6e: case 0x6f: return ("outs");
		case 0xcf: return ("iret");
		default: break;
		}
	}
	if (n >= 2 && c[0] == 0x0f) {
		switch (c[1]) {
		case 0x20: return ("mov from a control register");
		case 0x22: return ("mov to a control register");
		case 0x21: case 0x23: return ("mov to/from a debug register");
		case 0x30: return ("wrmsr");
		case 0x32: return ("rdmsr");
		case 0x06: return ("clts");
		case 0x08: case 0x09: return ("invd/wbinvd");
		case 0x07: return ("sysret");
		case 0x01:
			if (n >= 3 && c[2] == 0xf8)
				return ("swapgs");
			return ("a system-table instruction (lgdt/lidt/invlpg)");
		default: break;
		}
	}
	return (NULL);
}

void
tk_fault_report(struct tk_vm *vm, uint64_t vector, uint64_t error,
    uint64_t rip, uint64_t cr2)
{
	const char *name = vector < 32 && exceptions[vector].name ?
	    exceptions[vector].name : "unknown exception";
	int sig = vector < 32 && exceptions[vector].sig ?
	    exceptions[vector].sig : SIGSEGV;
	const char *what, *priv;
	uint8_t code[4];
	uint64_t size;

	if (vector == 14) {
		what = (error & PF_FETCH) ? "executing" :
		    (error & PF_WRITE) ? "writing" : "reading";
		if (cr2 < vm->lay.stack_low && cr2 + TK_STACK_GUARD >= vm->lay.stack_low)
			tk_stop(vm, TK_STOP_FAULT, 0, sig,
			    "stack overflow (page fault %s 0x%llx) at rip 0x%llx",
			    what, (unsigned long long)cr2,
			    (unsigned long long)rip);
		else
			tk_stop(vm, TK_STOP_FAULT, 0, sig,
			    "page fault %s 0x%llx%s at rip 0x%llx", what,
			    (unsigned long long)cr2,
			    (error & PF_PRESENT) ? " (protection)" : "",
			    (unsigned long long)rip);
		return;
	}
	if (vector == 13) {
		memset(code, 0, sizeof code);
		size = 0;
		/* The instruction bytes are guest data: read them checked. */
		if (tk_paging_leaf(&vm->pg, rip, &size) != 0 &&
		    tk_copy_from_guest(vm, code, rip, 1) == 0) {
			size_t n = 1;
			while (n < sizeof code &&
			    tk_copy_from_guest(vm, code + n, rip + n, 1) == 0)
				n++;
			priv = privileged_name(code, n);
			if (priv != NULL) {
				tk_stop(vm, TK_STOP_FAULT, 0, sig,
				    "privileged instruction (%s) at rip 0x%llx",
				    priv, (unsigned long long)rip);
				return;
			}
		}
		tk_stop(vm, TK_STOP_FAULT, 0, sig,
		    "general protection fault (error 0x%llx) at rip 0x%llx",
		    (unsigned long long)error, (unsigned long long)rip);
		return;
	}
	tk_stop(vm, TK_STOP_FAULT, 0, sig, "%s at rip 0x%llx", name,
	    (unsigned long long)rip);
}
