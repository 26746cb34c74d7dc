/*
 * The engine's internal header: the VM object and the functions its files
 * share.  Nothing outside src/engine includes it (unit tests excepted).
 */
#ifndef TK_INTERNAL_H
#define TK_INTERNAL_H

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "tinykvm.h"
#include "x86_64/paging.h"
#include "x86_64/layout.h"
#include "tinykvm/abi.h"

struct kvm_run;

/* The low layout and ports (shared with kernel.S); page tables live at the
 * very top of memory, outside every mapping. */
#define TK_XSAVE_BV_OFFSET	512		/* XSTATE_BV in the XSAVE header */
/* How tk_ugate_call* restores the vector registers at the start of a call. */
#define TK_RESTORE_XRSTOR	1
#define TK_RESTORE_FXRSTOR	2
#define CR4_OSXSAVE		(1ULL << 18)
/* Top of a fork's call stack always restored by copy, never dirty-logged. */
#define TK_HOT_STACK		(32 * 1024ULL)
#define TK_USER_BASE		TK_HUGE_SIZE	/* lowest user address */
#define TK_PIE_BASE		0x400000ULL	/* where static-pie programs load */
#define TK_STACK_SIZE		(8ULL << 20)	/* as Linux's default RLIMIT_STACK */
#define TK_STACK_GUARD		TK_HUGE_SIZE	/* unmapped hole under the stack */

struct tk_vm;
/*
 * A probe's handler for the exits of its own run (x86_64/probe.c): an OUT to
 * (port), or an exception (port TK_PORT_FAULT) with kernel.S's frame in
 * (frame).  Returns 1 if it took the exit, 0 to let the usual dispatch have it.
 */
typedef int tk_probe_exit_fn(struct tk_vm *vm, unsigned port,
    const uint64_t *frame);

/* The doorbell and the return hypercall are the ABI's, used by kernel.S. */
_Static_assert(TK_DOORBELL_ADDR == TINYKVM_DOORBELL, "doorbell address");
_Static_assert(TINYKVM_DOORBELL < TK_HUGE_SIZE, "doorbell in the kernel's 2 MiB");
/* The platform word is the last of the user gate's page (read-only to the guest). */
_Static_assert(TINYKVM_PLATFORM >= TK_UGATE_ADDR &&
    TINYKVM_PLATFORM + 4 == TK_UGATE_ADDR + TK_PAGE_SIZE, "platform word");

/* The exception frame kernel.S leaves on its stack, in qwords from the top of it. */
#define TK_FRAME_ADDR		(TK_KSTACK_TOP - 7 * 8)
enum tk_frame { TK_FRAME_VECTOR, TK_FRAME_ERROR, TK_FRAME_RIP, TK_FRAME_CS,
	TK_FRAME_RFLAGS, TK_FRAME_RSP, TK_FRAME_SS };

/* An anonymous mapping made by mmap or brk: [start, end). */
struct tk_vma {
	uint64_t	start;
	uint64_t	end;
};

struct tk_vmas {
	struct tk_vma	*v;
	unsigned	n;
	unsigned	cap;
};

struct tk_files;
struct tk_fs;

/* What the emulated Linux and our hypercalls remember: a reset restores it. */
struct tk_proc {
	struct tk_files		*files;		/* descriptors, cwd (files.h) */
	uint64_t		brk_cur;	/* the program break, maybe unaligned */
	struct tk_vmas		vmas;		/* mmap'ed ranges, sorted */
	uint64_t		sigactions[64][4];
	uint64_t		sigmask;
	uint64_t		altstack[3];
	uint64_t		tid_address;
	uint64_t		handlers[TINYKVM_MAX_HANDLERS];
	char			comm[16];	/* prctl's name, NUL-terminated */
};

struct tk_watch;
struct tk_vcpu_state;
struct kvm_dirty_gfn;

/* Where a program lives in guest memory, page aligned; fixed at load. */
struct tk_layout {
	uint64_t		image_start;	/* lowest ELF segment page */
	uint64_t		image_end;	/* end of the highest ELF segment */
	uint64_t		brk_start;
	uint64_t		brk_max;
	uint64_t		mmap_start;
	uint64_t		mmap_end;
	uint64_t		stack_low;
	uint64_t		stack_top;
	uint64_t		entry;
	uint64_t		initial_rsp;
};

/* The embedder's callbacks (tk_vm_config), the same for an image and its forks. */
struct tk_callbacks {
	tk_write_fn		*write;
	tk_read_fn		*read;
	tk_log_fn		*log;
	tk_hypercall_fn		*hypercall;
	void			*opaque;
	int			verbose;
};

/*
 * What a fork wrote (dirty.c): KVM's dirty ring for the guest's writes and a
 * bitmap a reset walks; also the request-memory limit.
 */
struct tk_dirty_log {
	struct kvm_dirty_gfn	*ring;
	uint32_t		ring_entries;
	uint32_t		ring_next;
	uint64_t		*bits;		/* pages to restore, a bit each */
	uint64_t		pages;		/* bits set */
	uint64_t		base;		/* pages when the call began */
	uint64_t		max;		/* pages a call may dirty; 0: any */
	uint64_t		hot_start;	/* [hot_start, stack_top) is not logged */

	/*
	 * Where the fork tracks writes with the guest's dirty bits instead of
	 * the ring (dirty_pte.c): the pages granted to it (W set in its own
	 * page-table entries), how many of those the bitmap does not hold yet
	 * (each may still be written: they count against the limit), the
	 * 4 KiB tables it made of its image's 2 MiB leaves, and where more
	 * come from.
	 */
	int			pte;
	int			granted;	/* a grant since the last reset */
	uint32_t		*owned;		/* page numbers */
	uint64_t		*owned_bits;	/* the same, a bit each */
	uint32_t		n_owned;
	uint32_t		owned_cap;
	uint64_t		owned_unmarked;
	uint64_t		*split;		/* per 2 MiB chunk: its table, or 0 */
	uint64_t		pt_next;
	uint64_t		pt_end;
};

enum tk_vm_role { TK_ROLE_IMAGE = 1, TK_ROLE_FORK };

/*
 * Where a VM is in its life (state.c checks every transition):
 *   image:  LOADED | WAITING -tk_vm_run-> RUNNING -> WAITING (in wait_for_requests) | ENDED
 *   both:   WAITING | SERVED -tk_vm_call-> IN_CALL -> SERVED | BROKEN
 *   fork:   WAITING | SERVED | BROKEN -tk_vm_reset-> WAITING
 * Only a WAITING image forks: one that has SERVED a call has moved on from
 * the state its forks would copy.  A BROKEN image stays so.
 */
enum tk_vm_state {
	TK_STATE_LOADED = 1,	/* made, main() not run yet */
	TK_STATE_RUNNING,	/* main() runs (tk_vm_run) */
	TK_STATE_WAITING,	/* paused in wait_for_requests, pristine */
	TK_STATE_IN_CALL,	/* a handler runs (tk_vm_call) */
	TK_STATE_SERVED,	/* paused again after a call that returned */
	TK_STATE_BROKEN,	/* a call faulted or timed out: reset before the next */
	TK_STATE_ENDED,		/* main() exited, faulted or timed out */
};

/* The core both an image and a fork are made around: what a run needs. */
struct tk_vm {
	unsigned		magic;
#define TK_VM_MAGIC		0x6b766d31	/* "kvm1"; 0 once freed */
	enum tk_vm_role		role;
	enum tk_vm_state	state;
	int			vm_fd;
	int			vcpu_fd;
	struct kvm_run		*run;
	size_t			run_size;

	uint8_t			*mem;		/* guest physical memory */
	uint64_t		mem_size;
	size_t			mem_map_size;	/* what we mmap'ed, for munmap */
	uint8_t			*mem_map;
	uint64_t		*populated;	/* an image: 2 MiB chunks backed */
	int			mem_fd;		/* a forkable image: the memfd behind mem */
	struct tk_paging	pg;
	/* A fork: its image, whose memory holds the pristine pages; else NULL. */
	const struct tk_vm	*image;
	/* A fork: what it wrote (its tk_fork's); an image: NULL. */
	struct tk_dirty_log	*dlog;

	struct tk_layout	lay;
	struct tk_proc		proc;
	/* What the guest may read (linux/paths.c): the image's; forks borrow it. */
	const struct tk_fs	*fs;
	uint64_t		unknown_seen[8];	/* syscalls < 512 logged */
	struct tk_callbacks	cb;

	/* How this VM's system calls arrive; decided once, at load. */
	int			user_gate;	/* SYSCALL lands in ring 3 here */
	/* Not a state: the vCPU was left at CPL 0 by a run that ended in a
	 * system call (our ring-0 entry); the next call puts ring 3 back. */
	int			stopped_in_kernel;
	/* A probe (x86_64/probe.c) registers itself for the exits of its run. */
	tk_probe_exit_fn	*probe_exit;

	/* The run in progress. */
	struct tk_watch		*watch;
	struct tk_result	*res;
	int			stopped;
	uint64_t		user_rsp;	/* the guest's rsp at this hypercall */

	/* The run's deadline (tk_vcpu_run), CLOCK_MONOTONIC ns; 0: none;
	 * and the timeout it came from, for the message. */
	uint64_t		run_deadline;
	uint64_t		run_timeout_ns;
	/* Calls (call.c). */
	uint64_t		call_deadline;	/* CLOCK_MONOTONIC ns; 0: none */
	uint64_t		call_rsp;	/* stack top for the next call */
	uint64_t		snap_call_rsp;	/* call_rsp before any push */
	int			call_xrstor;	/* how a call restores vector state */
	/* A page-table entry lost W or D: the next call reloads CR3 first. */
	int			tlb_stale;
};

/* The program as loaded and run to wait_for_requests: what forks copy. */
struct tk_image {
	struct tk_vm		vm;		/* first: an image's tk_vm is this */
	_Atomic(int)		refs;		/* itself and its forks */
	/* Its pause in wait_for_requests: what forks start from and resets
	 * put back.  NULL before it paused. */
	struct tk_vcpu_state	*vcpu;
	struct tk_proc		proc;
	/* How its forks track writes, decided at the first fork; with
	 * TK_DIRTY_PTE its tables were made to (tk_paging_track_writes). */
	int			dirty_mode;
};

enum { TK_DIRTY_RING = 1, TK_DIRTY_PTE };

/* A copy-on-write fork of an image, reset to it after each use. */
struct tk_fork {
	struct tk_vm		vm;		/* first: a fork's tk_vm is this */
	struct tk_image		*image;		/* holds a reference */
	struct tk_dirty_log	dlog;
};

/* Every public entry checks the VM it is handed: a stale or foreign pointer aborts. */
#define TK_VM_CHECK(vm)	assert((vm) != NULL && (vm)->magic == TK_VM_MAGIC)

static inline struct tk_image *
tk_image_of(struct tk_vm *vm)
{
	assert(vm->role == TK_ROLE_IMAGE);
	return ((struct tk_image *)(void *)vm);
}

static inline struct tk_fork *
tk_fork_of(struct tk_vm *vm)
{
	assert(vm->role == TK_ROLE_FORK);
	return ((struct tk_fork *)(void *)vm);
}

/* kvmdev.c: the process's /dev/kvm descriptor, or -errno with an admin's explanation. */
int tk_kvm_fd(char *err, size_t errlen);
/* 1 if KVM runs guests on nested paging (EPT, NPT), not shadow paging. */
int tk_kvm_nested_paging(void);

/*
 * vcpu.c: a VM's KVM objects and its run loop.
 * The memory slot of a fork's hot stack and page tables: not dirty-logged.
 */
#define TK_SLOT_UNLOGGED	2
/* Runs the vCPU until the run stops; (deadline) in CLOCK_MONOTONIC ns or 0. */
void tk_vcpu_run(struct tk_vm *vm, uint64_t deadline, uint64_t timeout_ns);
/*
 * Gives (vm) its memory slots; where (vm) has a dirty log, all but
 * [dlog->hot_start, end of memory) log dirty pages.
 */
int tk_memslots_set(struct tk_vm *vm, char *err, size_t errlen);
/* Creates the VM (with a dirty ring of (ring_bytes), if not 0). */
int tk_kvm_vm_create(struct tk_vm *vm, uint64_t ring_bytes, char *err,
    size_t errlen);
/* Creates the vCPU and maps kvm_run. */
int tk_vcpu_create(struct tk_vm *vm, char *err, size_t errlen);
/* Gives back what the core holds (descriptors, memory, mappings), not itself. */
void tk_vm_core_release(struct tk_vm *vm);

/*
 * exit.c: the one place exits are dispatched: system calls (Linux's and our
 * hypercalls), embedder hypercalls, faults, the dirty ring.  Handlers are
 * registered by number, in the manner of Solo5's hvt_core, by the files that
 * own them (linux/syscalls.c, call.c), so the dispatch calls nothing above it.
 */
typedef int64_t tk_syscall_fn(struct tk_vm *vm, const uint64_t *arg);
#define TK_LINUX_SYSCALLS	512	/* Linux numbers below this are looked up */
#define TK_HYPERCALLS		16	/* TINYKVM_HC_BASE + this is ours */
void tk_exit_register_syscall(unsigned nr, tk_syscall_fn *fn);
void tk_exit_register_hypercall(uint64_t nr, tk_syscall_fn *fn);
/* Handles the exit KVM_RUN just returned with; vm->stopped says whether to go on. */
void tk_exit_dispatch(struct tk_vm *vm);

/* call.c: registers the lifecycle hypercalls (handler, wait, return, nop). */
void tk_call_register(void);

/* linux/syscalls.c: registers every emulated Linux system call. */
void tk_linux_register(void);

/* state.c: moves (vm) to (to); a transition the table lacks aborts. */
void tk_state_set(struct tk_vm *vm, enum tk_vm_state to);
/* 1 if (vm) is paused where a call may start (WAITING or SERVED). */
int tk_state_callable(const struct tk_vm *vm);

/*
 * dirty_pte.c: write tracking by the guest's dirty bits, where the host may
 * edit the tables a vCPU walks (nested paging) and SYSCALL reaches ring 0.
 */
/* The fork's grant list and split tables; 0 or -ENOMEM. */
int tk_pte_open(struct tk_vm *fork, struct tk_dirty_log *dl);
void tk_pte_close(struct tk_dirty_log *dl);
/* A page fault (error, at va): 1 if it was a write we grant, or a stop. */
int tk_pte_grant(struct tk_vm *vm, uint64_t va, uint64_t error);
/* Moves the dirty bits of granted pages into the bitmap; with (revoke),
 * granted pages that are not in the bitmap lose W. */
void tk_pte_collect(struct tk_vm *vm, int revoke);
/* At a reset: keeps only what the last requests wrote granted, a bounded
 * number, or nothing (release); then the bitmap may be cleared. */
void tk_pte_settle(struct tk_vm *vm, int release);
/* Defence in depth: 1 if the fork's tables differ from its image's only by
 * our grants and the CPU's dirty bits. */
int tk_pte_tables_intact(const struct tk_vm *fork);
/* The bitmap's one primitive, shared by both trackers. */
static inline int
tk_dirty_bit_set(struct tk_dirty_log *dl, uint64_t page)
{
	uint64_t bit = 1ULL << (page % 64);

	if (dl->bits[page / 64] & bit)
		return (0);
	dl->bits[page / 64] |= bit;
	dl->pages++;
	return (1);
}

/* 1 if (page) is granted to the fork (dirty_pte.c). */
static inline int
tk_dirty_owned(const struct tk_dirty_log *dl, uint64_t page)
{
	return (dl->owned_bits != NULL &&
	    ((dl->owned_bits[page / 64] >> (page % 64)) & 1));
}

/*
 * Pages the running call may have written: those in the bitmap since it
 * began, and with dirty bits, the pages granted and not in it, each of
 * which the guest may still write without asking.
 */
static inline uint64_t
tk_dirty_in_use(const struct tk_dirty_log *dl)
{
	return (dl->pages - dl->base + dl->owned_unmarked);
}

/* dirty.c */
/* Remembers a page the host wrote in a fork, so a reset restores it. */
void tk_dirty_mark(struct tk_vm *vm, uint64_t gpa, uint64_t len);
/*
 * During a call: 0 if the call may dirty (pages) more pages (beyond those
 * counted: harvest the ring first), else stops it (TK_STOP_MEMORY, naming
 * (what)) and -ENOMEM.
 */
int tk_dirty_budget(struct tk_vm *vm, uint64_t pages, const char *what);
/* Takes KVM's dirty ring into the fork's bitmap; -ENOSPC past the limit. */
int tk_dirty_harvest(struct tk_vm *vm);
/* Ends the run: the fork wrote more than its request memory. */
void tk_dirty_over_limit(struct tk_vm *vm);
/* Maps (vm)'s dirty ring (dl->ring_entries set) and makes its bitmap. */
int tk_dirty_log_open(struct tk_vm *vm, struct tk_dirty_log *dl, char *err,
    size_t errlen);
void tk_dirty_log_close(struct tk_dirty_log *dl);

/* image.c: an image's pause, which forks and calls start from. */
/* Keeps the state of an image that stopped in wait_for_requests. */
int tk_image_pause(struct tk_image *img);
/* Copies (src) into (dst), giving (dst) its own mmap list. */
int tk_proc_copy(struct tk_proc *dst, const struct tk_proc *src);
/* Drops a reference; the last frees the image. */
void tk_image_unref(struct tk_image *img);

/* fork.c: frees a fork and drops its reference to the image. */
void tk_fork_free(struct tk_fork *f);

/* x86_64/cpu.c: GDT, IDT, TSS, kernel code, control registers, CPUID. */
int tk_cpu_setup(struct tk_vm *vm, char *err, size_t errlen);
/* Gives a fresh vCPU the host CPUID and our MSRs (SYSCALL entry, FS base). */
int tk_cpu_features(struct tk_vm *vm, char *err, size_t errlen);
int tk_cpu_msrs(struct tk_vm *vm, uint64_t fs_base);
/* The user-mode code and data segments a program runs with. */
void tk_cpu_user_segments(void *cs, void *ss);
/* The ring-0 code and data segments our kernel runs with. */
void tk_cpu_kernel_segments(void *cs, void *ss);
/* Points LSTAR at the user-mode syscall gate, for hypervisors without ring-0 SYSCALL. */
int tk_cpu_use_user_gate(struct tk_vm *vm);
/* Sets the FS base (arch_prctl); 0 or -errno. */
int tk_cpu_set_fs(struct tk_vm *vm, uint64_t base);
/* Reads the FS base. */
int tk_cpu_get_fs(struct tk_vm *vm, uint64_t *base);
/* Guest address of a symbol of kernel.S. */
uint64_t tk_kernel_addr(const void *sym);

/*
 * x86_64/probe.c: makes one SYSCALL from our gate page before the program
 * runs and fixes for good how this VM's system calls reach the host: our
 * ring-0 entry, or (where SYSCALL stays in ring 3, PVM) the user-mode gate.
 */
int tk_syscall_path_decide(struct tk_vm *vm, char *err, size_t errlen);

/* x86_64/vcpu_state.c: the vCPU's registers at an image's pause, and at calls. */
/* Saves (vm)'s vCPU paused in wait_for_requests (calls will run in ring 3). */
struct tk_vcpu_state *tk_vcpu_state_save(struct tk_vm *vm);
void tk_vcpu_state_free(struct tk_vcpu_state *st);
/* Gives (to)'s vCPU the saved state. */
int tk_vcpu_state_load(struct tk_vm *to, const struct tk_vcpu_state *st);
/* Puts back what a call may have changed: all of it when (full). */
int tk_vcpu_state_reset(struct tk_vm *vm, const struct tk_vcpu_state *st,
    int full);
/* Leaves ring 0 for ring 3 (user segments) before a call. */
int tk_vcpu_user_mode(struct tk_vm *vm);
/* Fresh registers for a call of (addr) on stack (sp) with (nargs) arguments. */
void tk_vcpu_call_regs(struct tk_vm *vm, uint64_t addr, uint64_t sp,
    unsigned nargs, const uint64_t *args);

/* x86_64/fault.c: turns an exception exit into a result. */
void tk_fault_report(struct tk_vm *vm, uint64_t vector, uint64_t error,
    uint64_t rip, uint64_t cr2);

/* memory.c: guest memory and checked access to it. */
/* Makes guest memory: anonymous, or a shared memfd when (forkable). */
int tk_mem_create(struct tk_vm *vm, uint64_t size, int forkable, char *err,
    size_t errlen);
/* Maps the main VM's memory privately (copy-on-write) for (fork). */
int tk_mem_fork(struct tk_vm *fork, const struct tk_vm *main, char *err,
    size_t errlen);
void tk_mem_destroy(struct tk_vm *vm);
/* Host pointer for [gva, gva+len) if every page is user-accessible (and writable when (write)). */
void *tk_mem_user(struct tk_vm *vm, uint64_t gva, uint64_t len, int write);
int tk_copy_from_guest(struct tk_vm *vm, void *dst, uint64_t gva, uint64_t len);
int tk_copy_to_guest(struct tk_vm *vm, uint64_t gva, const void *src, uint64_t len);
/* Copies a NUL-terminated guest string of at most (size)-1 bytes; its length or -errno. */
long tk_copy_string(struct tk_vm *vm, char *dst, uint64_t gva, size_t size);
/* Makes [gpa, gpa+len) read as zeroes again. */
void tk_mem_discard(struct tk_vm *vm, uint64_t gpa, uint64_t len);
/* Backs [gpa, gpa+len) with host memory now (see memory.c for why). */
void tk_mem_populate(struct tk_vm *vm, uint64_t gpa, uint64_t len);
/* At load only: maps [addr, addr+len) for the guest with (perm) and backs it. */
int tk_mem_map(struct tk_vm *vm, uint64_t addr, uint64_t len, uint64_t perm);

/* vma.c: the anonymous mappings of the mmap area. */
/* Finds (len) free bytes aligned to (align) in the mmap area; 0 if none. */
uint64_t tk_vma_find(const struct tk_vm *vm, uint64_t len, uint64_t align);
/* True if any byte of [start, end) is mapped. */
int tk_vma_overlaps(const struct tk_vm *vm, uint64_t start, uint64_t end);
/* True if every byte of [start, end) is mapped. */
int tk_vma_covers(const struct tk_vm *vm, uint64_t start, uint64_t end);
int tk_vma_insert(struct tk_vm *vm, uint64_t start, uint64_t end);
int tk_vma_remove(struct tk_vm *vm, uint64_t start, uint64_t end);
void tk_vma_free(struct tk_vmas *vmas);

/*
 * linux/paths.c: the file system the guest sees, its allowed host paths.
 * Guest paths given to it are absolute and normalised (tk_path_join).
 */
int tk_fs_open(struct tk_fs **fsp, const char *exe,
    const struct tk_read_path *rp, unsigned n, char *err, size_t errlen);
void tk_fs_free(struct tk_fs *fs);
/* At load, for a dynamic program: the system's library directories and
 * ld.so.cache become readable at their own paths, unless the embedder
 * said no (tk_vm_config.no_system_libs) or allowed something there. */
int tk_fs_add_system_libs(struct tk_fs *fs, char *err, size_t errlen);
void tk_fs_no_system_libs(struct tk_fs *fs);
/* The program's own path: what readlink("/proc/self/exe") says. */
const char *tk_fs_exe(const struct tk_fs *fs);
/* (path) made absolute against (base), without ., .. or //; 0 or -errno.
 * (out) may be (base). */
int tk_path_join(char *out, size_t size, const char *base, const char *path);
/* Opens (path) with (oflags), beneath its allowed directory: a host fd,
 * or -1 with (*vdir) set for a virtual directory, or -errno. */
int tk_fs_resolve(const struct tk_fs *fs, const char *path, int oflags,
    int follow, int *vdir);
/*
 * Opens (path) to read a regular file or directory (O_DIRECTORY in
 * (oflags): only a directory), filling (st): resolved with O_PATH first,
 * so a FIFO or a device is refused (EACCES) before anything opens it.
 */
struct stat;
int tk_fs_open_read(const struct tk_fs *fs, const char *path, int oflags,
    int follow, int *vdir, struct stat *st);
/* The inode number a virtual directory shows (stat and getdents agree). */
uint64_t tk_fs_vdir_ino(const char *path);
/* 1 if (path) is in an allowed directory or leads to one. */
int tk_fs_covers(const struct tk_fs *fs, const char *path);
/* The entries of a virtual directory, or of host directory (fd), as
 * linux_dirent64 records whose d_off is the next one's offset. */
int tk_fs_vdir_list(const struct tk_fs *fs, const char *path, char **buf,
    size_t *len);
int tk_fs_dir_read(int fd, char **buf, size_t *len);

/* elf.c: what an ELF file asks of us, checked before anything is loaded. */
struct tk_elf_image {
	uint64_t	lo, hi;		/* page-aligned span of PT_LOAD, unbiased */
	uint64_t	bias;		/* added to every address (static-pie) */
	uint64_t	entry;		/* biased */
	uint64_t	phdr;		/* biased address of the program headers */
	uint64_t	phnum;
	uint64_t	phentsize;
	int		pie;
	/* A dynamic program: its PT_INTERP string in the file (NUL-ended);
	 * once loaded, where the interpreter went and where to start. */
	uint64_t	interp_off, interp_len;
	uint64_t	interp_base;	/* AT_BASE; 0 for a static program */
	uint64_t	start;		/* the first instruction: entry, or ld.so's */
};
/* Validates the ELF in (data, size) as an x86-64 executable. */
int tk_elf_inspect(const void *data, size_t size, struct tk_elf_image *img,
    char *err, size_t errlen);
/*
 * Reads, validates and loads the program at (path), and for a dynamic one
 * its interpreter, read through the guest's file system, right above it;
 * within its layout (layout.c).
 */
int tk_elf_load(struct tk_vm *vm, const char *path, struct tk_elf_image *img,
    char *err, size_t errlen);

/*
 * layout.c: the address space.  (prepare) places the page tables and maps
 * the kernel's pages before the program's segments are loaded; (place)
 * puts brk, the mmap area and the stack between the program and the tables.
 */
int tk_layout_prepare(struct tk_vm *vm, const struct tk_elf_image *img,
    char *err, size_t errlen);
int tk_layout_place(struct tk_vm *vm, const struct tk_elf_image *img,
    char *err, size_t errlen);

/* stack.c: the initial stack Linux builds: argc, argv, envp, auxv. */
int tk_stack_build(struct tk_vm *vm, const struct tk_elf_image *img,
    const char *const *argv, const char *const *envp, char *err, size_t errlen);

/* timer.c: the one watchdog thread that stops overdue vCPUs. */
int tk_watch_register(struct tk_watch **wp, struct kvm_run *run);
void tk_watch_unregister(struct tk_watch *w);
/* Arms a deadline (absolute CLOCK_MONOTONIC ns; 0 disarms): a store, nothing more. */
void tk_watch_arm(struct tk_watch *w, uint64_t deadline_ns);
uint64_t tk_now_ns(void);

/* stop.c: logging and stopping, leaf helpers. */
void tk_log(struct tk_vm *vm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tk_stop(struct tk_vm *vm, enum tk_stop why, int status, int sig,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * During a call: 1 (and the call stopped, TK_STOP_TIMEOUT) if its deadline
 * has passed; host work on the guest's behalf checks it in long loops.
 */
int tk_call_overtime(struct tk_vm *vm, const char *what);

#endif
