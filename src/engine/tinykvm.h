/*
 * tinykvm engine: run an unmodified static x86-64 Linux ELF inside a tiny KVM
 * guest of our own.  This is the engine's only public header: the VMOD and the
 * CLI reach the engine through it alone, and it includes no Varnish header.
 *
 * Every function that can fail returns 0 or a negative errno and, where it
 * takes (err, errlen), writes a one-line reason into that caller-owned buffer.
 */
#ifndef TINYKVM_H
#define TINYKVM_H

#include <stddef.h>
#include <stdint.h>

struct tk_vm;

/* Writes (len) bytes of guest output on (fd) 1 or 2; returns bytes taken or -errno. */
typedef long tk_write_fn(void *opaque, int fd, const void *buf, size_t len);
/* Reads up to (len) bytes of guest stdin into (buf); returns bytes, 0 at EOF, or -errno. */
typedef long tk_read_fn(void *opaque, void *buf, size_t len);
/* Receives one diagnostic line (no trailing newline) from the engine. */
typedef void tk_log_fn(void *opaque, const char *line);

#define TK_MIB			(1024ULL * 1024ULL)
#define TK_DEFAULT_MAX_MEMORY	(256 * TK_MIB)
#define TK_MIN_MEMORY		(16 * TK_MIB)
#define TK_MAX_MEMORY		(64ULL * 1024 * TK_MIB)

/* How a VM is made.  Zero-initialise, then set what you need. */
struct tk_vm_config {
	uint64_t		max_memory;	/* bytes of guest memory; 0: default */
	const char *const	*argv;		/* argv[0] is the program name */
	const char *const	*envp;		/* NULL-terminated; NULL: empty */
	tk_write_fn		*write;		/* NULL: guest output discarded */
	tk_read_fn		*read;		/* NULL: stdin is empty */
	tk_log_fn		*log;		/* NULL: diagnostics dropped */
	void			*opaque;	/* passed to the three callbacks */
	int			verbose;	/* log each unknown syscall once */
};

/* Why a run stopped. */
enum tk_stop {
	TK_STOP_EXIT = 1,	/* the guest called exit/exit_group */
	TK_STOP_TIMEOUT,	/* the deadline passed */
	TK_STOP_FAULT,		/* a CPU exception in the guest */
	TK_STOP_ERROR,		/* the host could not go on (KVM error) */
};

struct tk_result {
	enum tk_stop	stop;
	int		exit_status;	/* TK_STOP_EXIT: the guest's status */
	int		signal;		/* TK_STOP_FAULT: the signal Linux would send */
	char		message[192];	/* one line: the fault or error, "" on exit */
};

/* Checks that /dev/kvm can be opened read-write; explains how to fix it if not. */
int tk_kvm_available(char *err, size_t errlen);

/* Loads the ELF at (path) into a new VM per (cfg) and makes it ready to run. */
int tk_vm_create(struct tk_vm **vmp, const char *path,
    const struct tk_vm_config *cfg, char *err, size_t errlen);

/* Runs the guest until it exits, faults, errs or (timeout_ns) passes (0: none). */
int tk_vm_run(struct tk_vm *vm, uint64_t timeout_ns, struct tk_result *res);

/* Frees everything (vm) holds.  NULL is fine. */
void tk_vm_destroy(struct tk_vm *vm);

#endif
