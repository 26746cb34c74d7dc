/*
 * Copy-on-write forks and their reset.
 *
 * A forkable main VM keeps its memory in a memfd.  A fork maps that file
 * MAP_PRIVATE as its own guest memory: Linux makes the copy on the first
 * write, inside KVM's page fault, with no exit to us.  What a fork wrote is
 * known from KVM's dirty ring (guest writes, one entry per page) and from
 * tk_dirty_mark (host writes).  A reset puts exactly those pages back: it
 * copies them from the main VM (TK_RESET_KEEP) or drops the private copies
 * (TK_RESET_RELEASE), so its cost follows the pages written, not the size
 * of the guest.  The dirty ring also enforces the request-memory limit:
 * when it fills up, KVM stops the vCPU for us to count.
 *
 * Making a KVM VM and vCPU costs far more than the rest of a fork (0.5 ms
 * and more on a nested host), so a destroyed fork is reset and parked in its
 * main VM, and the next tk_vm_fork takes it back.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tk_internal.h"

#define RING_ENTRIES	512u
/* Retired forks a main VM keeps for reuse; more are freed. */
#define IDLE_MAX	64u

struct tk_snapshot {
	struct kvm_sregs	sregs;		/* user mode, as a call needs */
	struct kvm_xsave	xsave;
	struct kvm_xcrs		xcrs;
	uint64_t		fs_base;
	struct tk_proc		proc;
	uint64_t		call_rsp;
	int			user_gate;
};

/* Copies (src) into (dst), giving (dst) its own mmap list. */
static int
proc_copy(struct tk_proc *dst, const struct tk_proc *src)
{
	struct tk_vma *v = dst->vmas.v;
	unsigned cap = dst->vmas.cap;

	if (cap < src->vmas.n) {
		cap = src->vmas.n + 16;
		v = realloc(v, cap * sizeof *v);
		if (v == NULL)
			return (-ENOMEM);
	}
	memcpy(dst, src, sizeof *dst);
	if (src->vmas.n > 0)
		memcpy(v, src->vmas.v, src->vmas.n * sizeof *v);
	dst->vmas.v = v;
	dst->vmas.cap = cap;
	return (0);
}

void
tk_snapshot_free(struct tk_snapshot *snap)
{
	if (snap == NULL)
		return;
	tk_vma_free(&snap->proc.vmas);
	free(snap);
}

/*
 * Writes the image tk_ugate_call restores from.  KVM_GET_XSAVE reports the
 * host's view: its XSTATE_BV may mark components the guest's XCR0 lacks
 * (PKRU, on every CPU with PKU), and XRSTOR faults on such an image.  Keep
 * only what XCR0 enables; the standard (uncompacted) format has XCOMP_BV 0.
 */
static void
xsave_image_write(struct tk_vm *vm, const struct tk_snapshot *snap)
{
	uint8_t *img = vm->mem + TK_XSAVE_ADDR;
	uint64_t xcr0 = 0, bv;

	memcpy(img, snap->xsave.region, TK_PAGE_SIZE);
	for (uint32_t i = 0; i < snap->xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
		if (snap->xcrs.xcrs[i].xcr == 0)
			xcr0 = snap->xcrs.xcrs[i].value;
	memcpy(&bv, img + TK_XSAVE_BV_OFFSET, sizeof bv);
	bv &= xcr0;
	memcpy(img + TK_XSAVE_BV_OFFSET, &bv, sizeof bv);
	memset(img + TK_XSAVE_BV_OFFSET + 8, 0, 8);
}

int
tk_snapshot_take(struct tk_vm *vm)
{
	struct tk_snapshot *snap = calloc(1, sizeof *snap);

	if (snap == NULL || proc_copy(&snap->proc, &vm->proc) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_GET_SREGS, &snap->sregs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &snap->xsave) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_GET_XCRS, &snap->xcrs) < 0 ||
	    tk_cpu_get_fs(vm, &snap->fs_base) < 0) {
		tk_snapshot_free(snap);
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "cannot save the paused VM");
		return (-EIO);
	}
	/* Calls restore the vector state in the guest (tk_ugate_call*). */
	xsave_image_write(vm, snap);
	vm->call_xrstor = (snap->sregs.cr4 & CR4_OSXSAVE) ? TK_RESTORE_XRSTOR :
	    TK_RESTORE_FXRSTOR;
	/* It paused inside a hypercall, maybe in ring 0: calls run in ring 3. */
	tk_cpu_user_segments(&snap->sregs.cs, &snap->sregs.ss);
	/* Calls run below the paused stack and its red zone. */
	snap->call_rsp = (vm->user_rsp - 128) & ~15ULL;
	snap->user_gate = vm->user_gate;
	tk_snapshot_free(vm->snap);
	vm->snap = snap;
	vm->call_rsp = vm->snap_call_rsp = snap->call_rsp;
	vm->waiting = 1;
	return (0);
}

uint64_t
tk_vm_dirty_pages(const struct tk_vm *fork)
{
	TK_VM_CHECK(fork);
	return (fork->dirty_pages);
}

/*
 * The ring holds what a fork dirtied since the last harvest.  When it fills,
 * KVM stops the vCPU and we count: a small ring checks the request-memory
 * limit often (a request overshoots it by at most a ring), at the price of
 * an exit per ~2 MiB written.
 */
static uint32_t
ring_entries_for(int kfd)
{
	int most = ioctl(kfd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	uint32_t cap;

	if (most <= 0)
		return (0);
	cap = (uint32_t)most / sizeof(struct kvm_dirty_gfn);
	return (cap < RING_ENTRIES ? cap : RING_ENTRIES);
}

/* Gives the fork's vCPU the main VM's state at its pause. */
static int
vcpu_copy(struct tk_vm *fork, const struct tk_snapshot *snap)
{
	if (ioctl(fork->vcpu_fd, KVM_SET_SREGS, &snap->sregs) < 0 ||
	    ioctl(fork->vcpu_fd, KVM_SET_XSAVE, &snap->xsave) < 0 ||
	    ioctl(fork->vcpu_fd, KVM_SET_XCRS, &snap->xcrs) < 0 ||
	    tk_cpu_msrs(fork, snap->fs_base) < 0)
		return (-EIO);
	return (0);
}

/* A parked fork of (main), made like new; NULL if there is none. */
static struct tk_vm *
idle_take(struct tk_vm *main, const struct tk_fork_config *cfg)
{
	struct tk_vm *fork;

	(void)pthread_mutex_lock(&main->idle_lock);
	fork = main->idle;
	if (fork != NULL) {
		main->idle = fork->idle_next;
		main->idle_count--;
	}
	(void)pthread_mutex_unlock(&main->idle_lock);
	if (fork == NULL)
		return (NULL);
	/* Its memory and process were reset when it retired; now its vCPU. */
	if (vcpu_copy(fork, main->snap) < 0) {
		tk_vm_free(fork);
		tk_vm_unref(main);
		return (NULL);
	}
	fork->idle_next = NULL;
	fork->opaque = cfg->opaque != NULL ? cfg->opaque : main->opaque;
	fork->max_dirty = cfg->max_request_memory / TK_PAGE_SIZE;
	return (fork);
}

void
tk_fork_retire(struct tk_vm *fork)
{
	struct tk_vm *main = fork->main;
	int parked = 0;

	if (tk_vm_reset(fork, TK_RESET_KEEP) == 0) {
		(void)pthread_mutex_lock(&main->idle_lock);
		if (!main->orphan && main->idle_count < IDLE_MAX) {
			fork->idle_next = main->idle;
			main->idle = fork;
			main->idle_count++;
			parked = 1;
		}
		(void)pthread_mutex_unlock(&main->idle_lock);
	}
	if (!parked) {
		tk_vm_free(fork);
		tk_vm_unref(main);
	}
}

void
tk_fork_idle_drain(struct tk_vm *main)
{
	struct tk_vm *fork, *next;

	(void)pthread_mutex_lock(&main->idle_lock);
	main->orphan = 1;
	fork = main->idle;
	main->idle = NULL;
	main->idle_count = 0;
	(void)pthread_mutex_unlock(&main->idle_lock);
	for (; fork != NULL; fork = next) {
		next = fork->idle_next;
		tk_vm_free(fork);
		tk_vm_unref(main);
	}
}

static int
fork_vcpu(struct tk_vm *fork, const struct tk_snapshot *snap, char *err,
    size_t errlen)
{
	int r = tk_vcpu_create(fork, err, errlen);

	if (r < 0)
		return (r);
	fork->ring = mmap(NULL, fork->ring_entries * sizeof(struct kvm_dirty_gfn),
	    PROT_READ | PROT_WRITE, MAP_SHARED, fork->vcpu_fd,
	    KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE));
	if (fork->ring == MAP_FAILED) {
		fork->ring = NULL;
		snprintf(err, errlen, "cannot map the dirty ring: %s", strerror(errno));
		return (-errno);
	}
	r = tk_cpu_features(fork, err, errlen);
	if (r < 0)
		return (r);
	if (vcpu_copy(fork, snap) < 0) {
		snprintf(err, errlen, "cannot copy the main VM's vCPU: %s",
		    strerror(errno));
		return (-EIO);
	}
	return (0);
}

int
tk_vm_fork(struct tk_vm **forkp, struct tk_vm *main,
    const struct tk_fork_config *cfg, char *err, size_t errlen)
{
	const struct tk_snapshot *snap;
	struct kvm_enable_cap ring = { .cap = KVM_CAP_DIRTY_LOG_RING };
	struct tk_vm *fork;
	int kfd, r;

	TK_VM_CHECK(main);
	snap = main->snap;
	*forkp = NULL;
	if (main->mem_fd < 0 || main->main != NULL) {
		snprintf(err, errlen, "the VM was not made forkable");
		return (-EINVAL);
	}
	if (snap == NULL || !main->waiting || main->called) {
		snprintf(err, errlen, "the program is not paused in "
		    "wait_for_requests");
		return (-EINVAL);
	}
	/* A retired fork of this main VM costs a few ioctls; a new one, a VM. */
	fork = idle_take(main, cfg);
	if (fork != NULL) {
		*forkp = fork;
		return (0);
	}
	kfd = tk_kvm_fd(err, errlen);
	if (kfd < 0)
		return (kfd);
	fork = calloc(1, sizeof *fork);
	if (fork == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	/* Everything that does not change after load comes from the main VM. */
	memcpy(fork, main, offsetof(struct tk_vm, proc));
	fork->vm_fd = fork->vcpu_fd = fork->mem_fd = -1;
	fork->run = NULL;
	fork->mem = fork->mem_map = NULL;
	fork->populated = NULL;
	fork->main = main;
	atomic_fetch_add(&main->refs, 1);
	fork->write = main->write;
	fork->read = main->read;
	fork->log = main->log;
	fork->hypercall = main->hypercall;
	fork->opaque = cfg->opaque != NULL ? cfg->opaque : main->opaque;
	fork->verbose = main->verbose;
	fork->user_gate = snap->user_gate;
	fork->max_dirty = cfg->max_request_memory / TK_PAGE_SIZE;
	fork->call_xrstor = main->call_xrstor;
	/* The top of the call stack is written by every call: copy, do not log. */
	fork->hot_start = (snap->call_rsp - TK_HOT_STACK) & ~(TK_PAGE_SIZE - 1);
	if (fork->hot_start < main->stack_low)
		fork->hot_start = main->stack_low;
	fork->ring_entries = ring_entries_for(kfd);
	if (fork->ring_entries == 0) {
		snprintf(err, errlen, "this KVM has no dirty ring "
		    "(KVM_CAP_DIRTY_LOG_RING), which forks need");
		r = -ENOTSUP;
		goto fail;
	}

	do
		fork->vm_fd = ioctl(kfd, KVM_CREATE_VM, 0);
	while (fork->vm_fd < 0 && errno == EINTR);
	ring.args[0] = fork->ring_entries * sizeof(struct kvm_dirty_gfn);
	if (fork->vm_fd < 0 || ioctl(fork->vm_fd, KVM_ENABLE_CAP, &ring) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create the fork's VM: %s",
		    strerror(errno));
		goto fail;
	}
	r = tk_mem_fork(fork, main, err, errlen);
	if (r == 0)
		r = tk_memslots_set(fork, 1, err, errlen);
	if (r == 0)
		r = fork_vcpu(fork, snap, err, errlen);
	if (r == 0 && proc_copy(&fork->proc, &snap->proc) < 0)
		r = -ENOMEM;
	if (r == 0)
		r = tk_watch_register(&fork->watch, fork->run);
	if (r < 0)
		goto fail;
	/*
	 * The page tables never change after load: read them through the main
	 * VM's mapping, so walking them maps nothing into the fork's.
	 */
	fork->pg.mem = main->mem;
	fork->call_rsp = fork->snap_call_rsp = snap->call_rsp;
	fork->waiting = 1;
	*forkp = fork;
	return (0);
fail:
	if (err[0] == '\0')
		snprintf(err, errlen, "cannot fork: %s", strerror(-r));
	tk_vm_free(fork);
	tk_vm_unref(main);
	return (r);
}

/* Puts back the pages in the fork's dirty bitmap and clears it. */
static void
pages_restore(struct tk_vm *fork, enum tk_reset_mode mode)
{
	const uint8_t *pristine = fork->main->mem;
	uint64_t words = fork->mem_size / TK_PAGE_SIZE / 64 + 1, w, run, p;

	for (w = 0; w < words && fork->dirty_pages > 0; w++) {
		while (fork->dirty[w] != 0) {
			p = w * 64 + (uint64_t)__builtin_ctzll(fork->dirty[w]);
			/* Take the whole run of set bits in this word at once. */
			for (run = 0; p % 64 + run < 64 &&
			    (fork->dirty[w] >> (p % 64 + run) & 1); run++)
				fork->dirty[w] &= ~(1ULL << (p % 64 + run));
			if (mode == TK_RESET_KEEP)
				memcpy(fork->mem + p * TK_PAGE_SIZE,
				    pristine + p * TK_PAGE_SIZE, run * TK_PAGE_SIZE);
			else
				(void)madvise(fork->mem + p * TK_PAGE_SIZE,
				    run * TK_PAGE_SIZE, MADV_DONTNEED);
			fork->dirty_pages -= run;
		}
	}
}

/* The hot stack is not logged: put back every page of it that differs. */
static void
hot_restore(struct tk_vm *fork, enum tk_reset_mode mode)
{
	const uint8_t *pristine = fork->main->mem;
	uint64_t p;

	if (mode == TK_RESET_RELEASE) {
		(void)madvise(fork->mem + fork->hot_start,
		    fork->stack_top - fork->hot_start, MADV_DONTNEED);
		return;
	}
	for (p = fork->hot_start; p < fork->stack_top; p += TK_PAGE_SIZE)
		if (memcmp(fork->mem + p, pristine + p, TK_PAGE_SIZE) != 0)
			memcpy(fork->mem + p, pristine + p, TK_PAGE_SIZE);
}

/*
 * The page tables sit above the stack, in memory that is not dirty-logged:
 * no ring-3 mapping reaches them, but ring-0 code (a bug of ours, or a way
 * into ring 0) could write them and so outlive the reset.  They are put
 * back too, by comparison: only the table pages in use, a few pages for
 * most programs.  (A read-only memory slot would be cheaper, but AMD's
 * nested paging treats the CPU's own page walks as writes there.)
 */
static int
tables_restore(struct tk_vm *fork, enum tk_reset_mode mode)
{
	const uint8_t *pristine = fork->main->mem;
	uint64_t p;
	int changed = 0;

	for (p = fork->pg.arena_base; p < fork->pg.arena_next; p += TK_PAGE_SIZE) {
		if (memcmp(fork->mem + p, pristine + p, TK_PAGE_SIZE) == 0)
			continue;
		if (mode == TK_RESET_KEEP)
			memcpy(fork->mem + p, pristine + p, TK_PAGE_SIZE);
		else
			(void)madvise(fork->mem + p, TK_PAGE_SIZE, MADV_DONTNEED);
		changed = 1;
	}
	return (changed);
}

/*
 * After the tables were put back behind KVM's back: deleting the memory slot
 * they are in and making it again drops every translation KVM built from
 * them, shadow pages (shadow paging) and TLB entries (nested paging) alike.
 * Slow, and never needed unless ring-0 code wrote the tables.
 */
static int
tables_forget(struct tk_vm *fork)
{
	struct kvm_userspace_memory_region gone = { .slot = TK_SLOT_UNLOGGED };
	char err[128];

	if (ioctl(fork->vm_fd, KVM_SET_USER_MEMORY_REGION, &gone) < 0)
		return (-errno);
	return (tk_memslots_set(fork, 1, err, sizeof err));
}

/* True if the guest changed a segment (mov to %fs, arch_prctl) since the image. */
static int
segments_changed(const struct tk_vm *fork, const struct kvm_sregs *snap)
{
	const struct kvm_sregs *now = &fork->run->s.regs.sregs;
	const struct kvm_segment *a[] = { &now->cs, &now->ss, &now->ds, &now->es,
	    &now->fs, &now->gs };
	const struct kvm_segment *b[] = { &snap->cs, &snap->ss, &snap->ds,
	    &snap->es, &snap->fs, &snap->gs };

	for (unsigned i = 0; i < sizeof a / sizeof a[0]; i++)
		if (a[i]->selector != b[i]->selector || a[i]->base != b[i]->base)
			return (1);
	return (0);
}

int
tk_vm_reset(struct tk_vm *fork, enum tk_reset_mode mode)
{
	const struct tk_snapshot *snap;

	TK_VM_CHECK(fork);
	if (fork->main == NULL)
		return (-EINVAL);
	snap = fork->main->snap;
	(void)tk_dirty_harvest(fork);
	pages_restore(fork, mode);
	hot_restore(fork, mode);
	/* Changed tables: the vCPU must forget every translation made from them. */
	if (tables_restore(fork, mode)) {
		if (tables_forget(fork) < 0)
			return (-EIO);
		fork->needs_reset = 1;
	}
	/* Vector registers can hold a request's secrets: each call restores
	 * them (tk_ugate_call*); after a failed call, the whole vCPU is reset. */
	if (fork->needs_reset &&
	    ioctl(fork->vcpu_fd, KVM_SET_XSAVE, &snap->xsave) < 0)
		return (-errno);
	/* A triple fault leaves the vCPU as after INIT (XCR0 = x87 only): the
	 * next call's XRSTOR would fault on AVX state.  XCR0 goes back too. */
	if (fork->needs_reset && snap->xcrs.nr_xcrs > 0 &&
	    ioctl(fork->vcpu_fd, KVM_SET_XCRS, &snap->xcrs) < 0)
		return (-errno);
	/* Segments and their bases (the TLS pointer): only when they moved. */
	if (fork->needs_reset || fork->stopped_in_kernel ||
	    segments_changed(fork, &snap->sregs)) {
		if (ioctl(fork->vcpu_fd, KVM_SET_SREGS, &snap->sregs) < 0 ||
		    tk_cpu_msrs(fork, snap->fs_base) < 0)
			return (-EIO);
		fork->stopped_in_kernel = 0;
	}
	if (proc_copy(&fork->proc, &snap->proc) < 0)
		return (-ENOMEM);
	fork->call_rsp = fork->snap_call_rsp;
	fork->dirty_base = 0;
	fork->needs_reset = 0;
	return (0);
}
