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
/*
 * Handles embedder hypercall (nr) >= TINYKVM_HC_EMBEDDER with the guest's six
 * argument registers (untrusted); sets (*ret) for the guest's rax.  Returns 0
 * to go on, 1 to end the run (TK_STOP_HYPERCALL), or -ENOSYS if unknown.
 */
typedef int tk_hypercall_fn(void *opaque, struct tk_vm *vm, uint64_t nr,
    const uint64_t arg[6], int64_t *ret);

#define TK_MIB			(1024ULL * 1024ULL)
#define TK_DEFAULT_MAX_MEMORY	(256 * TK_MIB)
#define TK_MIN_MEMORY		(16 * TK_MIB)
#define TK_MAX_MEMORY		(64ULL * 1024 * TK_MIB)

/*
 * A host file or directory the guest may read, seen at (guest) in its file
 * system (NULL: at the host path).  Nothing else exists for the guest;
 * nothing is writable.  Symlinks resolve in the guest's file system.
 */
struct tk_read_path {
	const char		*host;
	const char		*guest;
};

/*
 * Splits "HOST[:/GUEST]", how users write a read path (tinykvm-run's
 * --allow-read, the VMOD's allowed_paths): the first ':' ends HOST.
 * rp->host is the caller's to free(); rp->guest points into (spec).
 * -EINVAL if (spec) is not of that form, -ENOMEM.
 */
int tk_read_path_parse(const char *spec, struct tk_read_path *rp);

/* How a VM is made.  Zero-initialise, then set what you need. */
struct tk_vm_config {
	uint64_t		max_memory;	/* bytes of guest memory; 0: default */
	const char *const	*argv;		/* argv[0] is the program name */
	const char *const	*envp;		/* NULL-terminated; NULL: empty */
	tk_write_fn		*write;		/* NULL: guest output discarded */
	tk_read_fn		*read;		/* NULL: stdin is empty */
	tk_log_fn		*log;		/* NULL: diagnostics dropped */
	tk_hypercall_fn		*hypercall;	/* NULL: embedder calls fail */
	void			*opaque;	/* passed to the callbacks */
	int			verbose;	/* log each unknown syscall once */
	int			forkable;	/* memory shareable with forks */
	const struct tk_read_path *read_paths;	/* what the guest may read */
	unsigned		n_read_paths;
	/* A dynamic program reads ld.so, its libraries and ld.so.cache from
	 * /lib64, /lib, /usr/lib, /usr/lib64 and /etc; set this to allow only
	 * read_paths. */
	int			no_system_libs;
};

/* Why a run stopped. */
enum tk_stop {
	TK_STOP_EXIT = 1,	/* the guest called exit/exit_group */
	TK_STOP_TIMEOUT,	/* the deadline passed */
	TK_STOP_FAULT,		/* a CPU exception in the guest */
	TK_STOP_ERROR,		/* the host could not go on (KVM error) */
	TK_STOP_WAIT,		/* the guest waits for requests: it can be forked */
	TK_STOP_RETURN,		/* the function tk_vm_call called returned */
	TK_STOP_HYPERCALL,	/* an embedder hypercall ended the run */
	TK_STOP_MEMORY,		/* a fork wrote more than its request memory */
};

struct tk_result {
	enum tk_stop	stop;
	int		exit_status;	/* TK_STOP_EXIT: the guest's status */
	int		signal;		/* TK_STOP_FAULT: the signal Linux would send */
	uint64_t	retval;		/* TK_STOP_RETURN: the function's rax */
	char		message[192];	/* one line: the fault or error, "" on exit */
};

/* Checks that /dev/kvm can be opened read-write; explains how to fix it if not. */
int tk_kvm_available(char *err, size_t errlen);

/* What a VM's guest CPU runs with, read from inside the guest (tk_vm_platform). */
struct tk_platform {
	char		kvm[40];	/* "standard KVM (kvm_amd)", "PVM (kvm_pvm)" */
	int		pvm;		/* the KVM is PVM (shadow paging, ring-3 guests) */
	int		syscall_gate;	/* SYSCALL goes through the user-mode gate */
	int		smep, smap, umip, wp, nx;
	uint64_t	cr0, cr4, efer, xcr0;
	uint32_t	cpuid7[3];	/* CPUID.(7,0) EBX, ECX, EDX in the guest */
};

/*
 * Fills (p) by running a probe in (vm)'s kernel: control registers, EFER,
 * XCR0 and CPUID leaf 7 as the guest sees them.  (vm) must not be in a run;
 * its registers are put back.  One VM exit.
 */
int tk_vm_platform(struct tk_vm *vm, struct tk_platform *p, char *err,
    size_t errlen);

/*
 * One line for logs: "standard KVM (kvm_amd); SMEP SMAP UMIP WP NX; SYSCALL
 * ring-0 entry; XCR0 0x7 (x87 SSE AVX)".
 */
void tk_platform_describe(const struct tk_platform *p, char *buf, size_t len);

/* Loads the ELF at (path) into a new VM per (cfg) and makes it ready to run. */
int tk_vm_create(struct tk_vm **vmp, const char *path,
    const struct tk_vm_config *cfg, char *err, size_t errlen);

/* Runs the guest until it exits, faults, errs or (timeout_ns) passes (0: none). */
int tk_vm_run(struct tk_vm *vm, uint64_t timeout_ns, struct tk_result *res);

/*
 * Frees everything (vm) holds.  NULL is fine.  A main VM lives on, hidden,
 * until its last fork is destroyed too.
 */
void tk_vm_destroy(struct tk_vm *vm);

/* The guest address of registered handler (index), or 0 if none. */
uint64_t tk_vm_handler(const struct tk_vm *vm, unsigned index);

/*
 * Copies (len) bytes onto the stack the next tk_vm_call will run on and
 * gives their guest address in (*gva): how a request reaches the guest.
 * -ENOMEM when the call stack would run out.
 */
int tk_vm_push(struct tk_vm *vm, const void *data, size_t len, uint64_t *gva);

/*
 * Calls the guest function at (addr) with (nargs) <= 6 integer arguments on
 * a fresh stack and runs until it returns (TK_STOP_RETURN, its rax in
 * res->retval), an embedder hypercall ends it, it faults, or (timeout_ns)
 * passes.  The VM must be paused: waiting for requests, or a fork between
 * calls.  After anything but TK_STOP_RETURN or TK_STOP_HYPERCALL a fork
 * must be reset before its next call.  The callbacks get (opaque) during
 * the call, the VM's own (config or fork) when it is NULL: the per-call
 * context is a parameter, never state left in the VM.
 */
int tk_vm_call(struct tk_vm *vm, void *opaque, uint64_t addr, unsigned nargs,
    const uint64_t *args, uint64_t timeout_ns, struct tk_result *res);

/*
 * Maps (len) bytes of fresh, zeroed guest memory, for the next call to
 * read (a request body); its address in (*gva).  A reset frees it, so does
 * tk_vm_release.  -ENOMEM when the guest has no room.
 */
int tk_vm_alloc(struct tk_vm *vm, size_t len, uint64_t *gva);
void tk_vm_release(struct tk_vm *vm, uint64_t gva, size_t len);

/* 0 if [gva, gva+len) is guest memory the guest may read, else -EFAULT. */
int tk_vm_readable(struct tk_vm *vm, uint64_t gva, size_t len);

/*
 * A read-only view of [gva, gva+len) in (vm)'s memory, or NULL if the guest
 * may not read all of it: how an embedder takes a response body without a
 * copy of its own.  Valid until (vm) runs, is reset or is destroyed.
 */
const void *tk_vm_view(struct tk_vm *vm, uint64_t gva, size_t len);

/* Checked copies into and out of guest memory, for the embedder. */
int tk_vm_copy_to(struct tk_vm *vm, uint64_t gva, const void *src, size_t len);
int tk_vm_copy_from(struct tk_vm *vm, void *dst, uint64_t gva, size_t len);
/* Copies a NUL-terminated guest string into (dst, size); its length or -errno. */
long tk_vm_copy_string(struct tk_vm *vm, char *dst, uint64_t gva, size_t size);

/* How a fork is made.  Zero-initialise, then set what you need. */
struct tk_fork_config {
	uint64_t		max_request_memory;	/* bytes a call may dirty; 0: no limit */
	void			*opaque;		/* for the main VM's callbacks */
};

/*
 * Makes a copy-on-write fork of (main), which must be forkable and paused
 * in wait_for_requests.  The fork shares main's memory until it writes; the
 * main VM must not run again while forks exist.  Forks may run on any
 * thread, one call at a time each.
 */
int tk_vm_fork(struct tk_vm **forkp, struct tk_vm *main,
    const struct tk_fork_config *cfg, char *err, size_t errlen);

enum tk_reset_mode {
	TK_RESET_KEEP,		/* copy dirty pages back; keep them for reuse */
	TK_RESET_RELEASE,	/* give dirty pages back to the host */
};

/*
 * Restores (fork) to the main VM's pristine state: registers, memory and
 * the emulated process.  Costs in proportion to the pages it dirtied.
 */
int tk_vm_reset(struct tk_vm *fork, enum tk_reset_mode mode);

/* Pages (fork) has dirtied since its last reset. */
uint64_t tk_vm_dirty_pages(const struct tk_vm *fork);

#endif
