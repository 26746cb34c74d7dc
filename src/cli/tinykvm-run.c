/*
 * tinykvm-run: runs a static Linux program in the sandbox from a shell, with
 * the limits the VMOD applies, so program authors can test what they deploy.
 * Exit status: the guest's own; 124 on timeout; 128+signal for a fault, as a
 * shell reports a killed process; 2 when the program cannot be loaded; 125
 * when the sandbox itself fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

#include "../engine/tinykvm.h"
#include "../proto/request.h"
#include "request.h"

#define EXIT_TIMEOUT	124
#define EXIT_SANDBOX	125
#define EXIT_USAGE	2
#define MAX_ENV		1024
#define MAX_READ	256

static const char *program;

/* What the command line asks for (options_parse). */
struct cli_options {
	double			timeout;	/* seconds */
	double			memory;		/* MiB */
	int			verbose;
	int			no_system_libs;
	const char		*envp[MAX_ENV + 1];
	size_t			envc;
	char			*headers[MAX_ENV];	/* --header, for req */
	struct tk_read_path	reads[MAX_READ];	/* --allow-read */
	unsigned		n_reads;
	struct cli_request	req;
	int			first;		/* PROGRAM's index in argv */
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: tinykvm-run [--timeout SECONDS] [--max-memory MIB] "
	    "[--env K=V]... [--verbose]\n"
	    "           [--allow-read HOST[:GUEST]]... [--no-system-libs]\n"
	    "           [--get URL | --post URL [--type TYPE]] [--arg ARG] "
	    "[--header 'N: V']...\n"
	    "           PROGRAM [ARGS...]\n"
	    "Runs an x86-64 Linux PROGRAM, static or dynamic, in a KVM sandbox.\n"
	    "  --timeout SECONDS   stop the program after this long (default 10)\n"
	    "  --max-memory MIB    guest memory (default 256)\n"
	    "  --env K=V           add to the program's environment (empty by default)\n"
	    "  --allow-read HOST[:GUEST]  let the program read host file or\n"
	    "                      directory HOST, at GUEST (default: HOST) in its\n"
	    "                      file system; nothing else exists for it, and\n"
	    "                      nothing is writable (repeatable)\n"
	    "  --no-system-libs    a dynamic PROGRAM may read only what --allow-read\n"
	    "                      gives, not /lib64, /lib, /usr/lib, /usr/lib64\n"
	    "                      and /etc/ld.so.cache\n"
	    "  --verbose           say which KVM runs the program and which\n"
	    "                      protections are on; report each unsupported\n"
	    "                      system call once\n"
	    "  --get URL           once main() waits for requests, send it a GET for\n"
	    "                      URL and print the response (HTTP) on stdout\n"
	    "  --post URL          the same with a POST whose body is stdin\n"
	    "  --type, --arg, --header  the POST's Content-Type, the program's arg,\n"
	    "                      a request header (repeatable)\n"
	    "Exit status: the program's; 124 timed out; 128+N killed by signal N;\n"
	    "2 cannot load the program; 125 the sandbox failed.\n");
}

static long
stdio_write(void *opaque, int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	(void)opaque;
	while (done < len) {
		n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (done > 0 ? (long)done : -errno);
		}
		done += (size_t)n;
	}
	return ((long)done);
}

static long
stdio_read(void *opaque, void *buf, size_t len)
{
	ssize_t n;

	(void)opaque;
	do
		n = read(0, buf, len);
	while (n < 0 && errno == EINTR);
	return (n < 0 ? -errno : (long)n);
}

static void
stdio_log(void *opaque, const char *line)
{
	(void)opaque;
	fprintf(stderr, "tinykvm-run: %s: %s\n", program, line);
}

/* Parses a positive number; 0 on success. */
static int
number_parse(const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > max)
		return (-1);
	*out = v;
	return (0);
}

/* A POST's body: all of stdin. */
static int
body_slurp(struct cli_request *req)
{
	size_t cap = 65536;
	ssize_t n;

	req->in_body = malloc(cap);
	while (req->in_body != NULL &&
	    (n = read(0, req->in_body + req->in_len, cap - req->in_len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		req->in_len += (size_t)n;
		if (req->in_len == cap)
			req->in_body = realloc(req->in_body, cap *= 2);
	}
	return (req->in_body == NULL ? -1 : 0);
}

/* Serves --get/--post to the waiting program; the exit status as for a run. */
static int
request_finish(struct tk_vm *vm, struct cli_request *req,
    const struct cli_options *o)
{
	const struct tkp_call *c = &req->call;
	struct tk_result res;
	int r, status;

	r = cli_request_serve(vm, req, (size_t)o->memory << 20,
	    (uint64_t)(o->timeout * 1e9), &res);
	if (r == 0) {
		cli_request_print(req);
		status = 0;
	} else if (r != -EIO) {
		/* Nothing ran: no handler for the method, or no room for the request. */
		fprintf(stderr, "tinykvm-run: %s: %s\n", program, c->error);
		status = EXIT_SANDBOX;
	} else if (res.stop == TK_STOP_TIMEOUT) {
		fprintf(stderr, "tinykvm-run: %s: the handler timed out after "
		    "%g s\n", program, o->timeout);
		status = EXIT_TIMEOUT;
	} else {
		fprintf(stderr, "tinykvm-run: %s: %s\n", program, c->error);
		status = res.stop == TK_STOP_FAULT ? 128 + res.signal : 1;
	}
	tk_vm_destroy(vm);
	free(req->headers_text);
	free(req->in_body);
	return (status);
}

/* --verbose: which KVM this is and what protects the guest, read from inside it. */
static void
platform_report(struct tk_vm *vm)
{
	struct tk_platform plat;
	char err[256], line[256];

	if (tk_vm_platform(vm, &plat, err, sizeof err) < 0) {
		fprintf(stderr, "tinykvm-run: %s: platform unknown: %s\n", program,
		    err);
		return;
	}
	tk_platform_describe(&plat, line, sizeof line);
	fprintf(stderr, "tinykvm-run: platform: %s\n", line);
}

/* --allow-read HOST[:GUEST] */
static int
allow_read_parse(struct cli_options *o, const char *val)
{
	int r = o->n_reads < MAX_READ ?
	    tk_read_path_parse(val, &o->reads[o->n_reads]) : -EINVAL;

	if (r == -ENOMEM) {
		perror("tinykvm-run");
		return (EXIT_SANDBOX);
	}
	if (r < 0) {
		fprintf(stderr, "tinykvm-run: --allow-read wants HOST or "
		    "HOST:/GUEST, at most %d times, not '%s'\n", MAX_READ, val);
		return (EXIT_USAGE);
	}
	o->n_reads++;
	return (0);
}

/* An option with a value, (val); 0, or EXIT_USAGE with the reason printed. */
static int
option_value(struct cli_options *o, const char *opt, const char *val)
{
	struct cli_request *req = &o->req;

	if (strcmp(opt, "--timeout") == 0) {
		if (number_parse(val, 1e6, &o->timeout) < 0) {
			fprintf(stderr, "tinykvm-run: --timeout wants seconds > 0, "
			    "not '%s'\n", val);
			return (EXIT_USAGE);
		}
	} else if (strcmp(opt, "--max-memory") == 0) {
		if (number_parse(val, (double)(TK_MAX_MEMORY >> 20), &o->memory) < 0 ||
		    o->memory < (double)(TK_MIN_MEMORY >> 20)) {
			fprintf(stderr, "tinykvm-run: --max-memory wants MiB "
			    "between %llu and %llu, not '%s'\n",
			    TK_MIN_MEMORY >> 20, TK_MAX_MEMORY >> 20, val);
			return (EXIT_USAGE);
		}
	} else if (strcmp(opt, "--get") == 0 || strcmp(opt, "--post") == 0) {
		req->method = opt[2] == 'g' ? "GET" : "POST";
		req->url = val;
	} else if (strcmp(opt, "--arg") == 0) {
		req->arg = val;
	} else if (strcmp(opt, "--type") == 0) {
		req->in_type = val;
	} else if (strcmp(opt, "--header") == 0) {
		if (strchr(val, ':') == NULL || req->n_headers >= MAX_ENV) {
			fprintf(stderr, "tinykvm-run: --header wants 'Name: "
			    "value', not '%s'\n", val);
			return (EXIT_USAGE);
		}
		o->headers[req->n_headers++] = (char *)(uintptr_t)val;
	} else if (strcmp(opt, "--allow-read") == 0) {
		return (allow_read_parse(o, val));
	} else if (strcmp(opt, "--env") == 0) {
		if (strchr(val, '=') == NULL || val[0] == '=' || o->envc >= MAX_ENV) {
			fprintf(stderr, "tinykvm-run: --env wants K=V, not '%s'\n",
			    val);
			return (EXIT_USAGE);
		}
		o->envp[o->envc++] = val;
	} else {
		fprintf(stderr, "tinykvm-run: unknown option %s\n", opt);
		usage(stderr);
		return (EXIT_USAGE);
	}
	return (0);
}

/*
 * The command line into (o); o->first is PROGRAM's index in (argv).  -1 to
 * go on, or the exit status (--help, a bad option).
 */
static int
options_parse(int argc, char **argv, struct cli_options *o)
{
	int i, r;

	o->timeout = 10;
	o->memory = TK_DEFAULT_MAX_MEMORY >> 20;
	o->req.arg = "";
	o->req.in_type = "";
	o->req.headers = o->headers;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *opt = argv[i];

		if (strcmp(opt, "--") == 0) {
			i++;
			break;
		} else if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			usage(stdout);
			return (0);
		} else if (strcmp(opt, "--verbose") == 0 || strcmp(opt, "-v") == 0) {
			o->verbose = 1;
			continue;
		} else if (strcmp(opt, "--no-system-libs") == 0) {
			o->no_system_libs = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "tinykvm-run: %s needs a value\n", opt);
			return (EXIT_USAGE);
		}
		r = option_value(o, opt, argv[++i]);
		if (r != 0)
			return (r);
	}
	if (i >= argc) {
		usage(stderr);
		return (EXIT_USAGE);
	}
	o->first = i;
	o->envp[o->envc] = NULL;
	return (-1);
}

/* A run that ended before or without a request: its exit status. */
static int
run_exit_status(const struct tk_result *res, double timeout)
{
	switch (res->stop) {
	case TK_STOP_EXIT:
		return (res->exit_status);
	case TK_STOP_WAIT:
		/* A request handler: initialised and ready, as the VMOD would use it. */
		fprintf(stderr, "tinykvm-run: %s: initialised; waits for requests\n",
		    program);
		return (0);
	case TK_STOP_TIMEOUT:
		fprintf(stderr, "tinykvm-run: %s: timed out after %g s\n",
		    program, timeout);
		return (EXIT_TIMEOUT);
	case TK_STOP_FAULT:
		fprintf(stderr, "tinykvm-run: %s: %s\n", program, res->message);
		return (128 + res->signal);
	default:
		fprintf(stderr, "tinykvm-run: %s: %s\n", program, res->message);
		return (EXIT_SANDBOX);
	}
}

int
main(int argc, char **argv)
{
	static struct cli_options o;
	struct tk_vm_config cfg;
	struct tk_result res;
	struct tk_vm *vm;
	char err[512];
	int r;

	r = options_parse(argc, argv, &o);
	if (r >= 0)
		return (r);
	program = argv[o.first];

	/* A closed stdout must reach the guest as EPIPE, not kill us. */
	(void)signal(SIGPIPE, SIG_IGN);

	memset(&cfg, 0, sizeof cfg);
	cfg.max_memory = (uint64_t)o.memory << 20;
	cfg.argv = (const char *const *)&argv[o.first];
	cfg.envp = o.envp;
	cfg.write = stdio_write;
	cfg.read = stdio_read;
	cfg.log = stdio_log;
	cfg.hypercall = tkp_hypercall;
	cfg.verbose = o.verbose;
	cfg.read_paths = o.reads;
	cfg.n_read_paths = o.n_reads;
	cfg.no_system_libs = o.no_system_libs;
	if (o.req.method != NULL && strcmp(o.req.method, "POST") == 0 &&
	    body_slurp(&o.req) < 0) {
		fprintf(stderr, "tinykvm-run: cannot read the POST body from stdin\n");
		return (EXIT_USAGE);
	}
	r = tk_vm_create(&vm, program, &cfg, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "tinykvm-run: %s: %s\n", program, err);
		/* Without KVM nothing could load: that is the sandbox failing. */
		return (tk_kvm_available(err, sizeof err) < 0 ? EXIT_SANDBOX : EXIT_USAGE);
	}
	if (cfg.verbose)
		platform_report(vm);
	(void)tk_vm_run(vm, (uint64_t)(o.timeout * 1e9), &res);
	if (res.stop == TK_STOP_WAIT && o.req.method != NULL)
		return (request_finish(vm, &o.req, &o));
	tk_vm_destroy(vm);
	return (run_exit_status(&res, o.timeout));
}
