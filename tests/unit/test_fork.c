/*
 * Calls, forks and resets on real KVM: what one request writes, no other
 * request sees.  Drives tests/unit/guests/fork_guest.c.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <cmocka.h>

#include "tk_internal.h"

/* The guest's handlers, in the order fork_guest.c registers them. */
enum { H_EMPTY, H_WRITE_SECRET, H_READ_SECRET, H_DIRTY, H_FAULT, H_SPIN,
	H_WAIT_AGAIN, H_NOPS, H_BUMP, H_ALLOCATE, H_DATA_SUM, H_VEC_WRITE,
	H_VEC_READ, H_REMAP, H_PEEK, H_FS_BREAK, H_TLS, H_SYSCALL_STOP,
	H_FORGE_SYSCALL, H_FREE_DATA, H_PAGES };

#define SECOND	1000000000ULL

/* The embedder's hypercalls: TINYKVM_HC_EMBEDDER ends the run. */
static int
stop_hypercall(void *opaque, struct tk_vm *vm, uint64_t nr,
    const uint64_t arg[6], int64_t *ret)
{
	(void)opaque; (void)vm; (void)arg;
	*ret = 0;
	return (nr == TINYKVM_HC_EMBEDDER ? 1 : -ENOSYS);
}

static struct tk_vm *
main_vm(const char *mode)
{
	const char *argv[] = { "fork_guest", mode, NULL };
	struct tk_vm_config cfg = { .argv = argv, .forkable = 1,
	    .hypercall = stop_hypercall };
	struct tk_result res;
	struct tk_vm *vm;
	char err[256] = "";

	if (tk_vm_create(&vm, FORK_GUEST, &cfg, err, sizeof err) != 0)
		fail_msg("cannot create the VM (%s): %s", FORK_GUEST, err);
	assert_int_equal(tk_vm_run(vm, 10 * SECOND, &res), 0);
	assert_int_equal(res.stop, TK_STOP_WAIT);
	return (vm);
}

static struct tk_vm *
fork_of(struct tk_vm *main, uint64_t max_request_memory)
{
	struct tk_fork_config fc = { .max_request_memory = max_request_memory };
	struct tk_vm *fork;
	char err[256] = "";

	if (tk_vm_fork(&fork, main, &fc, err, sizeof err) != 0)
		fail_msg("cannot fork: %s", err);
	return (fork);
}

/* Calls handler (h) with one argument; expects it to return and gives its value. */
static uint64_t
call1(struct tk_vm *vm, unsigned h, uint64_t arg)
{
	struct tk_result res;

	assert_int_equal(tk_vm_call(vm, NULL, tk_vm_handler(vm, h), 1, &arg,
	    2 * SECOND, &res), 0);
	if (res.stop != TK_STOP_RETURN)
		fail_msg("handler %u stopped with %d: %s", h, res.stop, res.message);
	return (res.retval);
}

static void
test_secret_gone_after_reset(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);

	(void)state;
	for (int mode = TK_RESET_KEEP; mode <= TK_RESET_RELEASE; mode++) {
		assert_int_equal(call1(fork, H_WRITE_SECRET, 0x5ec7e7), 0);
		assert_int_equal(call1(fork, H_READ_SECRET, 0), 0x5ec7e7);
		assert_true(tk_vm_dirty_pages(fork) >= 1);
		assert_int_equal(tk_vm_reset(fork, mode), 0);
		assert_int_equal(tk_vm_dirty_pages(fork), 0);
		assert_int_equal(call1(fork, H_READ_SECRET, 0), 0);
		assert_int_equal(tk_vm_reset(fork, mode), 0);
	}
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

static void
test_vector_registers_reset(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);

	(void)state;
	/* Each call starts from the main VM's vector state, reset or not. */
	call1(fork, H_VEC_WRITE, 0x5ec7e7);
	assert_int_not_equal(call1(fork, H_VEC_READ, 0), 0x5ec7e7);
	call1(fork, H_VEC_WRITE, 0x5ec7e7);
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_int_not_equal(call1(fork, H_VEC_READ, 0), 0x5ec7e7);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

static void
test_siblings_isolated(void **state)
{
	struct tk_vm *main = main_vm(""), *a = fork_of(main, 0), *b = fork_of(main, 0);

	(void)state;
	assert_int_equal(call1(a, H_WRITE_SECRET, 1), 0);
	assert_int_equal(call1(b, H_WRITE_SECRET, 2), 0);
	assert_int_equal(call1(a, H_READ_SECRET, 0), 1);
	assert_int_equal(call1(b, H_READ_SECRET, 0), 2);
	/* Without a reset, a fork keeps its state: that is non-ephemeral mode. */
	assert_int_equal(call1(a, H_BUMP, 0), 1);
	assert_int_equal(call1(a, H_BUMP, 0), 2);
	assert_int_equal(call1(b, H_BUMP, 0), 1);
	tk_vm_destroy(a);
	tk_vm_destroy(main);	/* lives on until b is gone */
	assert_int_equal(call1(b, H_READ_SECRET, 0), 2);
	tk_vm_destroy(b);
}

static uint64_t
memory_hash(const struct tk_vm *vm)
{
	const uint64_t *w = (const uint64_t *)(const void *)vm->mem;
	uint64_t h = 1469598103934665603ULL;

	for (uint64_t i = 0; i < vm->mem_size / 8; i++)
		h = (h ^ w[i]) * 1099511628211ULL;
	return (h);
}

static void
test_main_unchanged_after_1000_requests(void **state)
{
	struct tk_vm *main = main_vm("8"), *fork = fork_of(main, 0);
	uint64_t before = memory_hash(main), sum = call1(fork, H_DATA_SUM, 0);

	(void)state;
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	for (int i = 0; i < 1000; i++) {
		call1(fork, H_WRITE_SECRET, (uint64_t)i + 1);
		call1(fork, H_DIRTY, (uint64_t)(i % 64));
		assert_int_equal(tk_vm_reset(fork, i % 2 ? TK_RESET_KEEP :
		    TK_RESET_RELEASE), 0);
	}
	assert_int_equal(memory_hash(main), before);
	assert_int_equal(call1(fork, H_DATA_SUM, 0), sum);
	assert_int_equal(call1(fork, H_DIRTY, 64), 0);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/*
 * A request that writes 16, 256 or 4096 pages, twice: each reset leaves the
 * fork's memory as its image's, byte for byte.  With dirty bits, the second
 * request of up to 512 pages asks for no page (no exit per page).
 */
static void
test_pages_reset_exactly(void **state)
{
	static const uint64_t counts[] = { 16, 256, 4096 };
	struct tk_vm *main = main_vm(""), *fork;
	uint64_t pages, stack_lo;

	(void)state;
	print_message("# dirty tracking: %s\n", getenv("TINYKVM_DIRTY_TRACKING") ?
	    getenv("TINYKVM_DIRTY_TRACKING") : "chosen by the platform");
	for (unsigned i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		fork = fork_of(main, 0);
		print_message("# %llu pages: %s\n", (unsigned long long)counts[i],
		    fork->dlog->pte ? "dirty bits" : "dirty ring");
		pages = (call1(fork, H_PAGES, 0) + 4095) & ~4095ULL;
		assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
		stack_lo = fork->lay.stack_top - TK_HUGE_SIZE;
		/* Resets: keep, keep, release (all grants go), keep. */
		for (int round = 0; round < 4; round++) {
			assert_int_equal(call1(fork, H_DIRTY, counts[i]), 0);
			assert_true(tk_vm_dirty_pages(fork) >= counts[i]);
			if (fork->dlog->pte && (round == 1 || round == 2) &&
			    counts[i] <= 256)
				assert_int_equal(fork->dlog->granted, 0);
			assert_int_equal(tk_vm_reset(fork, round == 2 ?
			    TK_RESET_RELEASE : TK_RESET_KEEP), 0);
			assert_int_equal(tk_vm_dirty_pages(fork), 0);
			assert_memory_equal(fork->mem + pages, main->mem + pages,
			    4096 * 4096);
			assert_memory_equal(fork->mem + stack_lo,
			    main->mem + stack_lo, TK_HUGE_SIZE);
		}
		tk_vm_destroy(fork);
	}
	tk_vm_destroy(main);
}

struct worker {
	struct tk_vm	*fork;
	uint64_t	base;
	int		failures;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct tk_result res;
	uint64_t v, want_old = 0;

	for (uint64_t i = 0; i < 1000; i++) {
		v = w->base + i;
		if (tk_vm_call(w->fork, NULL, tk_vm_handler(w->fork, H_WRITE_SECRET), 1,
		    &v, 2 * SECOND, &res) != 0 || res.stop != TK_STOP_RETURN ||
		    res.retval != want_old)
			w->failures++;
		/* Every other call is reset: the value must vanish, or stay. */
		if (i % 2 == 1) {
			if (tk_vm_reset(w->fork, TK_RESET_KEEP) != 0)
				w->failures++;
			want_old = 0;
		} else {
			want_old = v;
		}
	}
	return (NULL);
}

static void
test_four_threads_four_forks(void **state)
{
	struct tk_vm *main = main_vm("");
	struct worker w[4];
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ fork_of(main, 0), (uint64_t)(i + 1) << 32, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
		tk_vm_destroy(w[i].fork);
	}
	tk_vm_destroy(main);
}

static void
test_reset_after_fault_and_timeout(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);
	struct tk_result res;
	uint64_t t0;

	(void)state;
	call1(fork, H_WRITE_SECRET, 7);
	assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork, H_FAULT), 0, NULL,
	    SECOND, &res), 0);
	assert_int_equal(res.stop, TK_STOP_FAULT);
	assert_non_null(strstr(res.message, "page fault writing 0x8"));
	/* A failed fork refuses calls until it is reset. */
	assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork, H_EMPTY), 0, NULL,
	    SECOND, &res), -EINVAL);
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_int_equal(call1(fork, H_READ_SECRET, 0), 0);

	t0 = tk_now_ns();
	assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork, H_SPIN), 0, NULL,
	    SECOND / 5, &res), 0);
	assert_int_equal(res.stop, TK_STOP_TIMEOUT);
	assert_true(tk_now_ns() - t0 < SECOND);
	assert_int_equal(tk_vm_reset(fork, TK_RESET_RELEASE), 0);
	assert_int_equal(call1(fork, H_READ_SECRET, 0), 0);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/*
 * With nothing armed the watchdog waits for a call (timer.c): the first
 * call after an idle spell must wake it, and still time out.  Twice, to
 * catch a watchdog gone back to waiting right after the first kick.
 */
static void
test_timeout_after_idle(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);
	struct tk_result res;
	struct timespec idle = { 0, 300000000L };
	uint64_t t0;

	(void)state;
	for (int i = 0; i < 2; i++) {
		(void)nanosleep(&idle, NULL);
		t0 = tk_now_ns();
		assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork,
		    H_SPIN), 0, NULL, SECOND / 5, &res), 0);
		assert_int_equal(res.stop, TK_STOP_TIMEOUT);
		assert_true(tk_now_ns() - t0 < SECOND);
		assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	}
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

static void *
spin_4s(void *arg)
{
	struct tk_vm *fork = arg;
	static struct tk_result res;

	(void)tk_vm_call(fork, NULL, tk_vm_handler(fork, H_SPIN), 0, NULL,
	    4 * SECOND, &res);
	return (&res);
}

/*
 * The watchdog sleeps until the nearest deadline (timer.c): a call armed
 * with an earlier one while it waits for a later one must wake it.
 */
static void
test_timeout_earlier_than_armed(void **state)
{
	struct tk_vm *main = main_vm(""), *a = fork_of(main, 0), *b = fork_of(main, 0);
	struct timespec head_start = { 0, 100000000L };
	struct tk_result res, *ares;
	pthread_t t;
	uint64_t t0;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, spin_4s, a), 0);
	(void)nanosleep(&head_start, NULL);
	t0 = tk_now_ns();
	assert_int_equal(tk_vm_call(b, NULL, tk_vm_handler(b, H_SPIN), 0, NULL,
	    SECOND / 5, &res), 0);
	assert_int_equal(res.stop, TK_STOP_TIMEOUT);
	assert_true(tk_now_ns() - t0 < 2 * SECOND);
	assert_int_equal(pthread_join(t, (void **)&ares), 0);
	assert_int_equal(ares->stop, TK_STOP_TIMEOUT);
	tk_vm_destroy(a);
	tk_vm_destroy(b);
	tk_vm_destroy(main);
}

static void
test_request_memory_limit(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 4 << 20);
	struct tk_result res;
	uint64_t bytes = 32 << 20;

	(void)state;
	assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork, H_ALLOCATE), 1,
	    &bytes, 5 * SECOND, &res), 0);
	assert_int_equal(res.stop, TK_STOP_MEMORY);
	assert_non_null(strstr(res.message, "request memory"));
	assert_int_equal(tk_vm_reset(fork, TK_RESET_RELEASE), 0);
	/* Within the limit, the same call works. */
	assert_int_equal(call1(fork, H_ALLOCATE, 1 << 20), 7);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/*
 * The limit holds exactly, request after request: with dirty bits a fork
 * keeps the pages its last request wrote granted, and a request near the
 * limit has the granted pages it did not write taken back, not counted.
 */
static void
test_request_memory_exact(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 96 * 4096);
	struct tk_result res;
	uint64_t n = 100;

	(void)state;
	for (int round = 0; round < 3; round++) {
		assert_int_equal(call1(fork, H_DIRTY, 80), 0);
		assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
		assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork,
		    H_DIRTY), 1, &n, 5 * SECOND, &res), 0);
		assert_int_equal(res.stop, TK_STOP_MEMORY);
		assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
		assert_int_equal(call1(fork, H_DIRTY, 40), 0);
		assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
		assert_int_equal(call1(fork, H_DIRTY, 88), 0);
		assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	}
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/*
 * munmap of data the image holds makes the host zero it in the fork, a
 * private copy per page: those copies count against the request memory
 * before any is made, not after the fork has copied them all.
 */
static void
test_host_discard_within_request_memory(void **state)
{
	struct tk_vm *main = main_vm("32"), *fork = fork_of(main, 4 << 20);
	struct tk_result res;
	uint64_t sum = call1(fork, H_DATA_SUM, 0);

	(void)state;
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork, H_FREE_DATA), 0,
	    NULL, 5 * SECOND, &res), 0);
	assert_int_equal(res.stop, TK_STOP_MEMORY);
	assert_non_null(strstr(res.message, "discarding memory"));
	/* Refused up front: nowhere near the 8192 pages of the data. */
	assert_true(tk_vm_dirty_pages(fork) < 1024);
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_int_equal(call1(fork, H_DATA_SUM, 0), sum);
	tk_vm_destroy(fork);

	/* With room for it, the same munmap works. */
	fork = fork_of(main, 64 << 20);
	assert_int_equal(call1(fork, H_FREE_DATA, 0), 0);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/*
 * A triple fault (here: an exception with no IDT to deliver it, as a bug in
 * ring 0 would make) may leave the vCPU as after INIT.  The reset puts back
 * everything a call relies on, XCR0 included: the next calls restore their
 * AVX state with XRSTOR and would fault otherwise.
 */
static void
test_reset_after_triple_fault(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);
	struct kvm_sregs sregs;
	struct kvm_xcrs before, after;
	struct tk_result res;

	(void)state;
	call1(fork, H_WRITE_SECRET, 7);
	assert_int_equal(ioctl(fork->vcpu_fd, KVM_GET_XCRS, &before), 0);
	assert_int_equal(ioctl(fork->vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	sregs.idt.limit = 0;
	assert_int_equal(ioctl(fork->vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork, H_FAULT), 0, NULL,
	    SECOND, &res), 0);
	assert_int_equal(res.stop, TK_STOP_FAULT);
	assert_non_null(strstr(res.message, "triple fault"));
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_int_equal(ioctl(fork->vcpu_fd, KVM_GET_XCRS, &after), 0);
	assert_int_equal(after.nr_xcrs, before.nr_xcrs);
	assert_int_equal(after.xcrs[0].value, before.xcrs[0].value);
	assert_int_equal(call1(fork, H_READ_SECRET, 0), 0);
	call1(fork, H_VEC_WRITE, 0x5ec7e7);
	assert_int_not_equal(call1(fork, H_VEC_READ, 0), 0x5ec7e7);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/*
 * Ring-0 code (a bug in our kernel, or a way into ring 0) that maps the page
 * tables with tables of its own and writes them: the write must not outlive
 * the reset.  We play that code: tables and "mov %rax, (%rbx); ud2" in the
 * fork's scratch pages, CR3 and ring-0 segments set from here.
 */
static void
test_page_tables_restored(void **state)
{
	static const uint8_t code[] = { 0x48, 0x89, 0x03, 0x0f, 0x0b };
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);
	uint64_t p = (call1(fork, H_PAGES, 0) + 4095) & ~4095ULL, *t;
	uint64_t root = fork->pg.pml4, hit = 0x4141414141414141ULL, entry;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct tk_result res;

	(void)state;
	/* Identity map of the first GiB in 2 MiB ring-0 pages, tables too. */
	t = (uint64_t *)(void *)(fork->mem + p);
	t[0] = (p + 0x1000) | TK_PTE_P | TK_PTE_W;
	t[512] = (p + 0x2000) | TK_PTE_P | TK_PTE_W;
	for (uint64_t i = 0; i < 512; i++)
		t[1024 + i] = (i << 21) | TK_PTE_P | TK_PTE_W | TK_PTE_PS;
	memcpy(fork->mem + p + 0x3000, code, sizeof code);
	assert_true(root + 8 <= 1ULL << 30);
	memcpy(&entry, fork->mem + root, 8);

	assert_int_equal(ioctl(fork->vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	tk_cpu_kernel_segments(&sregs.cs, &sregs.ss);
	sregs.cr3 = p;
	assert_int_equal(ioctl(fork->vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(ioctl(fork->vcpu_fd, KVM_GET_REGS, &regs), 0);
	regs.rip = p + 0x3000;
	regs.rax = hit;
	regs.rbx = root;	/* the real PML4's first entry */
	regs.rflags = 2;
	assert_int_equal(ioctl(fork->vcpu_fd, KVM_SET_REGS, &regs), 0);
	memset(&res, 0, sizeof res);
	fork->res = &res;
	tk_vcpu_run(fork, tk_now_ns() + SECOND, SECOND);
	assert_int_not_equal(res.stop, TK_STOP_RETURN);
	fork->state = TK_STATE_BROKEN;	/* as a failed call leaves it */
	/* The write landed (this is ring 0), and the reset takes it back. */
	assert_memory_equal(fork->mem + root, &hit, 8);
	if (fork->dlog->pte) {
		/* Writes made through such tables leave no dirty bit of ours:
		 * the fork is not reset but refused, and its owner drops it. */
		assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), -EIO);
		tk_vm_destroy(fork);
		tk_vm_destroy(main);
		return;
	}
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_memory_equal(fork->mem + root, &entry, 8);
	assert_int_equal(call1(fork, H_READ_SECRET, 0), 0);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

static void
test_wait_twice_or_never(void **state)
{
	struct tk_vm *main, *fork;
	struct tk_result res;
	char err[256] = "";

	(void)state;
	/* Never: the program ends, and there is nothing to fork. */
	main = NULL;
	{
		const char *argv[] = { "fork_guest", "nowait", NULL };
		struct tk_vm_config cfg = { .argv = argv, .forkable = 1 };
		struct tk_fork_config fc = { 0 };

		assert_int_equal(tk_vm_create(&main, FORK_GUEST, &cfg, err,
		    sizeof err), 0);
		assert_int_equal(tk_vm_run(main, SECOND, &res), 0);
		assert_int_equal(res.stop, TK_STOP_EXIT);
		assert_int_equal(tk_vm_fork(&fork, main, &fc, err, sizeof err), -EINVAL);
		assert_non_null(strstr(err, "wait_for_requests"));
		tk_vm_destroy(main);
	}
	/* Twice in main(): each wait pauses; the second one is the image. */
	main = main_vm("twice");
	assert_int_equal(tk_vm_run(main, SECOND, &res), 0);
	assert_int_equal(res.stop, TK_STOP_WAIT);
	fork = fork_of(main, 0);
	/* Again inside a request: an error, and the fork recovers. */
	assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork, H_WAIT_AGAIN), 0,
	    NULL, SECOND, &res), 0);
	assert_int_equal(res.stop, TK_STOP_ERROR);
	assert_non_null(strstr(res.message, "wait_for_requests"));
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_int_equal(call1(fork, H_EMPTY, 0), 0);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/* The host's own writes into a fork (here mremap's copy) are undone too. */
static void
test_host_writes_reset(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);
	uint64_t moved;

	(void)state;
	/* The guest does not touch the copy, so KVM never logs it dirty. */
	moved = call1(fork, H_REMAP, 0);
	assert_true((int64_t)moved > 0);
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_int_equal(call1(fork, H_PEEK, moved), 0);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/* A request that moves a segment (the TLS base) does not break the next. */
static void
test_segments_reset(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);

	(void)state;
	assert_int_equal(call1(fork, H_TLS, 0), 5);
	call1(fork, H_FS_BREAK, 0);
	assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
	assert_int_equal(call1(fork, H_TLS, 0), 5);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/*
 * A call that ends in a hypercall made through SYSCALL stops inside our
 * ring-0 entry; a kept fork's next call must run in ring 3 all the same
 * (with SMEP it would fault at once, without it run the guest in ring 0).
 */
static void
test_next_call_after_syscall_stop_in_ring3(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);
	struct tk_result res;

	(void)state;
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork,
		    H_SYSCALL_STOP), 0, NULL, 2 * SECOND, &res), 0);
		if (res.stop != TK_STOP_HYPERCALL)
			fail_msg("call %d stopped with %d: %s", i, res.stop,
			    res.message);
		assert_int_equal(call1(fork, H_BUMP, 0), i);
	}
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

/*
 * A jump to the kernel's SYSCALL entry is a fault, never a system call: it
 * must not switch the fork to another system-call path (once, that made
 * every later SYSCALL fault, or run the guest's code in ring 0).
 */
static void
test_forged_syscall_is_a_fault(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0);
	struct tk_result res;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork,
		    H_FORGE_SYSCALL), 0, NULL, 2 * SECOND, &res), 0);
		assert_int_equal(res.stop, TK_STOP_FAULT);
		assert_non_null(strstr(res.message, "page fault"));
		assert_int_equal(tk_vm_reset(fork, TK_RESET_KEEP), 0);
		assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork,
		    H_SYSCALL_STOP), 0, NULL, 2 * SECOND, &res), 0);
		if (res.stop != TK_STOP_HYPERCALL)
			fail_msg("a SYSCALL after the forged one stopped with "
			    "%d: %s", res.stop, res.message);
	}
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
}

static void
test_fork_after_a_destroyed_one_is_pristine(void **state)
{
	struct tk_vm *main = main_vm(""), *fork = fork_of(main, 0), *again;
	struct tk_result res;

	(void)state;
	call1(fork, H_WRITE_SECRET, 99);
	assert_int_equal(tk_vm_call(fork, NULL, tk_vm_handler(fork, H_FAULT), 0, NULL,
	    SECOND, &res), 0);
	/* Freed, not parked: the engine keeps no forks (the VMOD's pool does). */
	tk_vm_destroy(fork);
	again = fork_of(main, 0);
	assert_int_equal(call1(again, H_READ_SECRET, 0), 0);
	assert_int_equal(call1(again, H_BUMP, 0), 1);
	tk_vm_destroy(again);
	tk_vm_destroy(main);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_gone_after_reset),
		cmocka_unit_test(test_vector_registers_reset),
		cmocka_unit_test(test_siblings_isolated),
		cmocka_unit_test(test_main_unchanged_after_1000_requests),
		cmocka_unit_test(test_pages_reset_exactly),
		cmocka_unit_test(test_four_threads_four_forks),
		cmocka_unit_test(test_reset_after_fault_and_timeout),
		cmocka_unit_test(test_timeout_after_idle),
		cmocka_unit_test(test_timeout_earlier_than_armed),
		cmocka_unit_test(test_reset_after_triple_fault),
		cmocka_unit_test(test_page_tables_restored),
		cmocka_unit_test(test_request_memory_limit),
		cmocka_unit_test(test_request_memory_exact),
		cmocka_unit_test(test_host_discard_within_request_memory),
		cmocka_unit_test(test_wait_twice_or_never),
		cmocka_unit_test(test_fork_after_a_destroyed_one_is_pristine),
		cmocka_unit_test(test_host_writes_reset),
		cmocka_unit_test(test_segments_reset),
		cmocka_unit_test(test_next_call_after_syscall_stop_in_ring3),
		cmocka_unit_test(test_forged_syscall_is_a_fault),
	};
	char err[256];

	/* Tests that need KVM fail, never skip, without it. */
	if (tk_kvm_available(err, sizeof err) != 0) {
		printf("1..1\nnot ok 1 - KVM is needed: %s\n", err);
		return (1);
	}
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
