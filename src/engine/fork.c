/*
 * Copy-on-write forks and their reset.
 *
 * A forkable image keeps its memory in a memfd.  A fork maps that file
 * MAP_PRIVATE as its own guest memory: Linux makes the copy on the first
 * write, inside KVM's page fault, with no exit to us.  What a fork wrote is
 * known from the guest's own dirty bits (dirty_pte.c: nested paging, no exit
 * per page) or else KVM's dirty ring (one entry per page, and a write fault
 * per page and request), and from tk_dirty_mark (host writes).  A reset puts
 * exactly those pages back: it copies them from the image (TK_RESET_KEEP)
 * or drops the private copies (TK_RESET_RELEASE), so its cost follows the
 * pages written, not the size of the guest.  Both enforce the
 * request-memory limit: at each grant of a page, or when the ring fills up.
 *
 * Making a KVM VM and vCPU costs far more than a reset (0.5 ms and more on a
 * nested host), so an embedder keeps its forks and resets them: the VMOD's
 * pool (src/vmod/program.c) is the one pool.  A destroyed fork is freed.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <pthread.h>

#include "tk_internal.h"

#define RING_ENTRIES	512u

uint64_t
tk_vm_dirty_pages(const struct tk_vm *vm)
{
	TK_VM_CHECK(vm);
	return (vm->dlog != NULL ? vm->dlog->pages : 0);
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

/*
 * How the image's forks learn what they wrote, decided once, at its first
 * fork.  The guest's dirty bits (dirty_pte.c) take no exit per page, but need
 * nested paging (the host's edits of a fork's tables reach its vCPU) and
 * SYSCALL into our ring 0 (the CR3 reload before a call).  PVM has neither:
 * the ring.  TINYKVM_DIRTY_TRACKING=ring chooses the ring anywhere (tests
 * run both); =pte fails where the guest's dirty bits cannot work.
 */
static int
dirty_mode_pick(const struct tk_vm *main, char *err, size_t errlen)
{
	const char *want = getenv("TINYKVM_DIRTY_TRACKING");
	int able = !main->user_gate && tk_kvm_nested_paging();

	if (want != NULL && strcmp(want, "ring") == 0)
		return (TK_DIRTY_RING);
	if (want != NULL && strcmp(want, "pte") == 0 && !able) {
		snprintf(err, errlen, "TINYKVM_DIRTY_TRACKING=pte, but %s",
		    main->user_gate ? "SYSCALL does not reach ring 0 here" :
		    "KVM does not use nested paging here (EPT or NPT)");
		return (-ENOTSUP);
	}
	return (able ? TK_DIRTY_PTE : TK_DIRTY_RING);
}

static pthread_mutex_t dirty_mode_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The image's tables made ready for dirty-bit forks, once: every writable
 * user page loses W (and gets SW_W) but the hot stack, which every reset
 * compares anyway.  The image runs no call after this (call.c).
 */
static int
dirty_mode_set(struct tk_image *img, char *err, size_t errlen)
{
	struct tk_vm *main = &img->vm;
	uint64_t hot = (main->snap_call_rsp - TK_HOT_STACK) & ~(TK_PAGE_SIZE - 1);
	int r = 0;

	pthread_mutex_lock(&dirty_mode_lock);
	if (img->dirty_mode == 0) {
		r = dirty_mode_pick(main, err, errlen);
		if (r == TK_DIRTY_PTE && tk_paging_track_writes(&main->pg,
		    TK_USER_BASE, hot < main->lay.stack_low ? main->lay.stack_low :
		    hot, main->lay.stack_top) < 0) {
			snprintf(err, errlen, "no room in the page-table arena "
			    "to track writes");
			r = -ENOMEM;
		}
		if (r > 0)
			img->dirty_mode = r;
	}
	pthread_mutex_unlock(&dirty_mode_lock);
	return (r < 0 ? r : 0);
}

/* A fork's core, from its image: what never changes after load, by name. */
static void
core_from_image(struct tk_fork *f, struct tk_image *img,
    const struct tk_fork_config *cfg)
{
	struct tk_vm *fork = &f->vm;
	const struct tk_vm *main = &img->vm;

	fork->magic = TK_VM_MAGIC;
	fork->role = TK_ROLE_FORK;
	fork->state = TK_STATE_WAITING;
	fork->vm_fd = fork->vcpu_fd = fork->mem_fd = -1;
	fork->mem_size = main->mem_size;
	/* The page tables never change after load: read them through the
	 * image's mapping, so walking them maps nothing into the fork's. */
	fork->pg = main->pg;
	fork->image = main;
	fork->dlog = &f->dlog;
	fork->lay = main->lay;
	fork->fs = main->fs;
	fork->cb = main->cb;
	if (cfg->opaque != NULL)
		fork->cb.opaque = cfg->opaque;
	fork->user_gate = main->user_gate;
	fork->call_xrstor = main->call_xrstor;
	fork->call_rsp = fork->snap_call_rsp = main->snap_call_rsp;
	f->image = img;
	f->dlog.max = cfg->max_request_memory / TK_PAGE_SIZE;
	f->dlog.pte = img->dirty_mode == TK_DIRTY_PTE;
	/* The top of the call stack is written by every call: copy, do not log. */
	f->dlog.hot_start = (main->snap_call_rsp - TK_HOT_STACK) &
	    ~(TK_PAGE_SIZE - 1);
	if (f->dlog.hot_start < main->lay.stack_low)
		f->dlog.hot_start = main->lay.stack_low;
}

/* Its KVM VM, memory, vCPU and dirty log, and the image's process state. */
static int
fork_build(struct tk_fork *f, int kfd, char *err, size_t errlen)
{
	struct tk_vm *fork = &f->vm;
	const struct tk_image *img = f->image;
	int r;

	f->dlog.ring_entries = f->dlog.pte ? 0 : ring_entries_for(kfd);
	if (f->dlog.ring_entries == 0 && !f->dlog.pte) {
		snprintf(err, errlen, "this KVM has no dirty ring "
		    "(KVM_CAP_DIRTY_LOG_RING), which forks need");
		return (-ENOTSUP);
	}
	r = tk_kvm_vm_create(fork, f->dlog.ring_entries *
	    sizeof(struct kvm_dirty_gfn), err, errlen);
	if (r == 0)
		r = tk_mem_fork(fork, &img->vm, err, errlen);
	if (r == 0)
		r = tk_memslots_set(fork, err, errlen);
	if (r == 0)
		r = tk_vcpu_create(fork, err, errlen);
	if (r == 0)
		r = tk_dirty_log_open(fork, &f->dlog, err, errlen);
	if (r == 0)
		r = tk_cpu_features(fork, err, errlen);
	if (r == 0 && tk_vcpu_state_load(fork, img->vcpu) < 0) {
		snprintf(err, errlen, "cannot copy the image's vCPU: %s",
		    strerror(errno));
		r = -EIO;
	}
	if (r == 0 && tk_proc_copy(&fork->proc, &img->proc) < 0)
		r = -ENOMEM;
	if (r == 0)
		r = tk_watch_register(&fork->watch, fork->run);
	return (r);
}

void
tk_fork_free(struct tk_fork *f)
{
	struct tk_image *img = f->image;

	tk_dirty_log_close(&f->dlog);
	tk_vm_core_release(&f->vm);
	f->vm.magic = 0;
	free(f);
	tk_image_unref(img);
}

int
tk_vm_fork(struct tk_vm **forkp, struct tk_vm *main,
    const struct tk_fork_config *cfg, char *err, size_t errlen)
{
	struct tk_image *img;
	struct tk_fork *f;
	int kfd, r;

	TK_VM_CHECK(main);
	*forkp = NULL;
	if (main->role != TK_ROLE_IMAGE || main->mem_fd < 0) {
		snprintf(err, errlen, "the VM was not made forkable");
		return (-EINVAL);
	}
	img = tk_image_of(main);
	if (main->state != TK_STATE_WAITING || img->vcpu == NULL) {
		snprintf(err, errlen, "the program is not paused in "
		    "wait_for_requests");
		return (-EINVAL);
	}
	kfd = tk_kvm_fd(err, errlen);
	if (kfd < 0)
		return (kfd);
	f = calloc(1, sizeof *f);
	if (f == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	atomic_fetch_add(&img->refs, 1);
	r = dirty_mode_set(img, err, errlen);
	if (r < 0) {
		atomic_fetch_sub(&img->refs, 1);
		free(f);
		return (r);
	}
	core_from_image(f, img, cfg);
	err[0] = '\0';
	r = fork_build(f, kfd, err, errlen);
	if (r < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot fork: %s", strerror(-r));
		tk_fork_free(f);
		return (r);
	}
	*forkp = &f->vm;
	return (0);
}

/* Puts back the pages in the fork's dirty bitmap and clears it. */
static void
pages_restore(struct tk_fork *f, enum tk_reset_mode mode)
{
	struct tk_vm *fork = &f->vm;
	struct tk_dirty_log *dl = &f->dlog;
	const uint8_t *pristine = f->image->vm.mem;
	uint64_t words = fork->mem_size / TK_PAGE_SIZE / 64 + 1, w, run, p;

	for (w = 0; w < words && dl->pages > 0; w++) {
		while (dl->bits[w] != 0) {
			p = w * 64 + (uint64_t)__builtin_ctzll(dl->bits[w]);
			/* Take the whole run of set bits in this word at once. */
			for (run = 0; p % 64 + run < 64 &&
			    (dl->bits[w] >> (p % 64 + run) & 1); run++)
				dl->bits[w] &= ~(1ULL << (p % 64 + run));
			if (mode == TK_RESET_KEEP)
				memcpy(fork->mem + p * TK_PAGE_SIZE,
				    pristine + p * TK_PAGE_SIZE, run * TK_PAGE_SIZE);
			else
				(void)madvise(fork->mem + p * TK_PAGE_SIZE,
				    run * TK_PAGE_SIZE, MADV_DONTNEED);
			dl->pages -= run;
		}
	}
}

/* The hot stack is not logged: put back every page of it that differs. */
static void
hot_restore(struct tk_fork *f, enum tk_reset_mode mode)
{
	struct tk_vm *fork = &f->vm;
	const uint8_t *pristine = f->image->vm.mem;
	uint64_t p, hot = f->dlog.hot_start;

	if (mode == TK_RESET_RELEASE) {
		(void)madvise(fork->mem + hot, fork->lay.stack_top - hot,
		    MADV_DONTNEED);
		return;
	}
	for (p = hot; p < fork->lay.stack_top; p += TK_PAGE_SIZE)
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
	const uint8_t *pristine = fork->image->mem;
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
	return (tk_memslots_set(fork, err, sizeof err));
}

/*
 * With dirty bits, the kernel's exception stack is written by the CPU (a
 * grant's frame, a fault's) and tracked by no one: put it back by copy.
 * Some table pages hold our grants and the CPU's dirty bits; anything else
 * changed there means ring-0 code made the tables its own, and what it wrote
 * through them left no dirty bit: the fork cannot be trusted again.
 */
static int
pte_restore(struct tk_fork *f, int full)
{
	struct tk_vm *fork = &f->vm;
	const uint8_t *pristine = f->image->vm.mem;
	uint64_t p;

	if (f->dlog.granted || full)
		for (p = TK_KSTACK_ADDR; p < TK_KSTACK_TOP; p += TK_PAGE_SIZE)
			if (memcmp(fork->mem + p, pristine + p, TK_PAGE_SIZE) != 0)
				memcpy(fork->mem + p, pristine + p, TK_PAGE_SIZE);
	f->dlog.granted = 0;
	return (tk_pte_tables_intact(fork) ? 0 : -EIO);
}

int
tk_vm_reset(struct tk_vm *vm, enum tk_reset_mode mode)
{
	struct tk_fork *f;
	int full;

	TK_VM_CHECK(vm);
	if (vm->role != TK_ROLE_FORK || vm->state == TK_STATE_IN_CALL)
		return (-EINVAL);
	f = tk_fork_of(vm);
	full = vm->state == TK_STATE_BROKEN;
	(void)tk_dirty_harvest(vm);
	if (f->dlog.pte)
		tk_pte_settle(vm, mode == TK_RESET_RELEASE);
	pages_restore(f, mode);
	hot_restore(f, mode);
	if (f->dlog.pte) {
		if (pte_restore(f, full) < 0)
			return (-EIO);
	} else if (tables_restore(vm, mode)) {
		/* Changed tables: the vCPU must forget every translation
		 * made from them. */
		if (tables_forget(vm) < 0)
			return (-EIO);
		full = 1;
	}
	if (tk_vcpu_state_reset(vm, f->image->vcpu, full) < 0 ||
	    tk_proc_copy(&vm->proc, &f->image->proc) < 0)
		return (-EIO);
	vm->call_rsp = vm->snap_call_rsp;
	f->dlog.base = 0;
	tk_state_set(vm, TK_STATE_WAITING);
	return (0);
}
