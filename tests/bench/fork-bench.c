/*
 * The cost of calls, forks and resets against this machine's physical limits,
 * in one run: prints "name value" lines, medians over many iterations.
 *
 *   vm_exit_roundtrip_us   one empty hypercall in a guest loop, through
 *                          the doorbell (an MMIO store KVM must decode)
 *   vm_exit_roundtrip_syscall_us  the same through SYSCALL (on standard KVM
 *                          our ring-0 entry's OUT, a port exit KVM need
 *                          not decode; on PVM the gate and the doorbell)
 *   vmcall_us              call an empty guest function and return
 *   vmcall_timeout_us      the same with a timeout armed
 *   fork_us                fork a main VM holding 64 MiB, then destroy the fork
 *                          (a new KVM VM and vCPU each time: the engine keeps
 *                          no forks; an embedder's pool resets, see reset_us)
 *   fork_cold_us           the same, 50 forks alive at once
 *   native_fork_us         fork()+_exit()+waitpid() of a process holding 64 MiB
 *   reset_us_N             reset after a call that dirtied N pages (N = 0..4096)
 *   memcpy_us_4096         copying 4096 pages in the host
 *   fork_rss_kib           RSS each of 100 forks of a 200 MiB VM adds after a
 *                          request that writes 16 pages
 *
 * usage: fork-bench GUEST [ITERATIONS]      (GUEST: tests/unit/guests/fork_guest)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tinykvm.h"

/* fork_guest.c's handlers. */
enum { H_EMPTY = 0, H_DIRTY = 3, H_NOPS = 7, H_NOPS_SYSCALL = 21 };

static const char *guest;
static unsigned iterations = 1000;

static double
now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3);
}

static int
double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

static double
median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, double_cmp);
	return (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "fork-bench: %s: %s\n", what, why);
	exit(1);
}

static struct tk_vm *
main_vm(const char *mib)
{
	const char *argv[] = { "fork_guest", mib, NULL };
	struct tk_vm_config cfg = { .argv = argv, .forkable = 1,
	    .max_memory = 512ULL << 20 };
	struct tk_result res;
	struct tk_vm *vm;
	char err[256] = "";

	if (tk_vm_create(&vm, guest, &cfg, err, sizeof err) != 0)
		die(guest, err);
	if (tk_vm_run(vm, 60ULL * 1000000000, &res) != 0 || res.stop != TK_STOP_WAIT)
		die("the guest did not wait for requests", res.message);
	return (vm);
}

static struct tk_vm *
fork_of(struct tk_vm *main)
{
	struct tk_fork_config fc = { 0 };
	struct tk_vm *fork;
	char err[256] = "";

	if (tk_vm_fork(&fork, main, &fc, err, sizeof err) != 0)
		die("fork", err);
	return (fork);
}

static void
call(struct tk_vm *vm, unsigned h, uint64_t arg, uint64_t timeout_ns)
{
	struct tk_result res;

	if (tk_vm_call(vm, NULL, tk_vm_handler(vm, h), 1, &arg, timeout_ns, &res) != 0 ||
	    res.stop != TK_STOP_RETURN)
		die("call", res.message);
}

static void
calls(struct tk_vm *fork, double *t)
{
	const unsigned loop = 100;
	unsigned i;

	for (i = 0; i < iterations; i++) {
		double t0 = now_us();
		call(fork, H_NOPS, loop, 0);
		t[i] = (now_us() - t0) / loop;
	}
	printf("vm_exit_roundtrip_us %.2f\n", median(t, iterations));
	for (i = 0; i < iterations; i++) {
		double t0 = now_us();
		call(fork, H_NOPS_SYSCALL, loop, 0);
		t[i] = (now_us() - t0) / loop;
	}
	printf("vm_exit_roundtrip_syscall_us %.2f\n", median(t, iterations));
	for (i = 0; i < iterations; i++) {
		double t0 = now_us();
		call(fork, H_EMPTY, 0, 0);
		t[i] = now_us() - t0;
	}
	printf("vmcall_us %.2f\n", median(t, iterations));
	for (i = 0; i < iterations; i++) {
		double t0 = now_us();
		call(fork, H_EMPTY, 0, 1000000000ULL);
		t[i] = now_us() - t0;
	}
	printf("vmcall_timeout_us %.2f\n", median(t, iterations));
}

static void
resets(struct tk_vm *fork, double *t)
{
	static const unsigned pages[] = { 0, 1, 16, 256, 4096 };

	for (unsigned p = 0; p < sizeof pages / sizeof pages[0]; p++) {
		for (unsigned i = 0; i < iterations; i++) {
			call(fork, H_DIRTY, pages[p], 0);
			double t0 = now_us();
			if (tk_vm_reset(fork, TK_RESET_KEEP) != 0)
				die("reset", "failed");
			t[i] = now_us() - t0;
		}
		printf("reset_us_%u %.2f\n", pages[p], median(t, iterations));
		fflush(stdout);
	}
}

static void
memcpy_4096(double *t)
{
	size_t n = 4096 * 4096;
	char *a = malloc(n), *b = malloc(n);

	if (a == NULL || b == NULL)
		die("memcpy", "out of memory");
	memset(a, 1, n);
	memset(b, 2, n);
	for (unsigned i = 0; i < iterations; i++) {
		double t0 = now_us();
		memcpy(b, a, n);
		__asm__ volatile("" : : "r"(b) : "memory");
		t[i] = now_us() - t0;
	}
	printf("memcpy_us_4096 %.2f\n", median(t, iterations));
	free(a);
	free(b);
}

static void
forks(double *t)
{
	struct tk_vm *main = main_vm("64"), **cold;
	unsigned n_cold = iterations < 50 ? iterations : 50, i;

	cold = calloc(n_cold, sizeof *cold);
	for (i = 0; i < n_cold; i++) {
		double t0 = now_us();
		cold[i] = fork_of(main);
		t[i] = now_us() - t0;
	}
	printf("fork_cold_us %.2f\n", median(t, n_cold));
	for (i = 0; i < n_cold; i++)
		tk_vm_destroy(cold[i]);
	free(cold);
	for (i = 0; i < iterations; i++) {
		double t0 = now_us();
		struct tk_vm *f = fork_of(main);
		t[i] = now_us() - t0;
		tk_vm_destroy(f);
	}
	printf("fork_us %.2f\n", median(t, iterations));
	tk_vm_destroy(main);
}

/* Measured in a child that holds the 64 MiB, so our own mappings do not count. */
static void
native_fork(double *t)
{
	int fds[2];
	pid_t p;

	if (pipe(fds) != 0)
		die("pipe", "failed");
	p = fork();
	if (p == 0) {
		size_t n = 64 << 20;
		char *mem = malloc(n);
		double m;

		memset(mem, 1, n);
		__asm__ volatile("" : : "r"(mem) : "memory");
		for (unsigned i = 0; i < iterations; i++) {
			double t0 = now_us();
			pid_t c = fork();
			if (c == 0)
				_exit(0);
			(void)waitpid(c, NULL, 0);
			t[i] = now_us() - t0;
		}
		m = median(t, iterations);
		(void)!write(fds[1], &m, sizeof m);
		_exit(0);
	}
	double m = 0;
	(void)!read(fds[0], &m, sizeof m);
	(void)waitpid(p, NULL, 0);
	printf("native_fork_us %.2f\n", m);
}

static long
rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2)
		die("/proc/self/statm", "unreadable");
	fclose(f);
	return (resident * (sysconf(_SC_PAGESIZE) / 1024));
}

static void
fork_rss(void)
{
	struct tk_vm *main = main_vm("200"), *f[100];
	long before = rss_kib();

	for (unsigned i = 0; i < 100; i++) {
		f[i] = fork_of(main);
		call(f[i], H_DIRTY, 16, 0);
	}
	printf("fork_rss_kib %.1f\n", (double)(rss_kib() - before) / 100);
	for (unsigned i = 0; i < 100; i++)
		tk_vm_destroy(f[i]);
	tk_vm_destroy(main);
}

/* Which KVM the figures come from: exits cost ~60x more on PVM. */
static void
platform_print(struct tk_vm *vm)
{
	struct tk_platform plat;
	char err[256], line[256];

	if (tk_vm_platform(vm, &plat, err, sizeof err) != 0)
		die("platform probe", err);
	tk_platform_describe(&plat, line, sizeof line);
	printf("platform %s\n", line);
}

int
main(int argc, char **argv)
{
	struct tk_vm *main;
	struct tk_vm *fork;
	char err[256];
	double *t;

	if (argc < 2) {
		fprintf(stderr, "usage: fork-bench GUEST [ITERATIONS]\n");
		return (2);
	}
	guest = argv[1];
	if (argc > 2)
		iterations = (unsigned)atoi(argv[2]);
	if (iterations < 10)
		iterations = 10;
	if (tk_kvm_available(err, sizeof err) != 0)
		die("KVM", err);
	t = calloc(iterations, sizeof *t);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* First, while this process holds no VM that fork() would copy too. */
	native_fork(t);
	main = main_vm("");
	platform_print(main);
	fork = fork_of(main);
	call(fork, H_EMPTY, 0, 0);	/* warm up */
	calls(fork, t);
	forks(t);
	memcpy_4096(t);
	resets(fork, t);
	tk_vm_destroy(fork);
	tk_vm_destroy(main);
	fork_rss();
	free(t);
	return (0);
}
