/*
 * tinykvm-run --get/--post: after main() waits for requests, serves one
 * request to the program's handler the way the VMOD would, and prints the
 * response (status line, headers, blank line, body) on stdout.  Lets an
 * author try a handler from the shell, without Varnish.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../engine/tinykvm.h"
#include "tinykvm/abi.h"
#include "request.h"
#include "../proto/http_rules.h"

/* Copies guest string (gva, len), NUL-free, into a fresh NUL-terminated buffer. */
static char *
string_in(struct tk_vm *vm, uint64_t gva, uint64_t len, uint64_t max)
{
	char *s;

	if (len > max || (s = malloc(len + 1)) == NULL)
		return (NULL);
	if (tk_vm_copy_from(vm, s, gva, len) < 0 || memchr(s, '\0', len) != NULL) {
		free(s);
		return (NULL);
	}
	s[len] = '\0';
	return (s);
}

static int64_t
header_get(struct cli_request *current, struct tk_vm *vm,
    const uint64_t *a)
{
	char *name = string_in(vm, a[0], a[1], 255);
	size_t n = name ? strlen(name) : 0, len, copy;
	int64_t r = -ENOENT;

	for (int i = 0; name != NULL && i < current->n_headers; i++) {
		const char *h = current->headers[i], *v;

		if (strncasecmp(h, name, n) != 0 || h[n] != ':')
			continue;
		for (v = h + n + 1; *v == ' '; v++)
			continue;
		len = strlen(v);
		copy = a[3] == 0 ? 0 : len < a[3] - 1 ? len : a[3] - 1;
		if (a[3] > 0 && (tk_vm_copy_to(vm, a[2], v, copy) < 0 ||
		    tk_vm_copy_to(vm, a[2] + copy, "", 1) < 0))
			r = -EFAULT;
		else
			r = (int64_t)len;
		break;
	}
	free(name);
	return (name == NULL ? -EINVAL : r);
}

/* The same verdicts as the VMOD's: http_rules.h. */
static int64_t
respond(struct cli_request *current, struct tk_vm *vm,
    const uint64_t *a)
{
	const char *why = NULL;
	char *type = string_in(vm, a[1], a[2], 255);

	if (a[0] > INT32_MAX || !tkp_status_ok((long)a[0]))
		why = "status must be from 200 to 599";
	else if (type == NULL || !tkp_value_ok(type))
		why = "bad Content-Type";
	else if (a[4] > (256u << 20) ||
	    (current->body = tk_vm_view(vm, a[3], a[4])) == NULL)
		why = "body not in readable guest memory";
	if (why != NULL) {
		snprintf(current->error, sizeof current->error, "respond: %s", why);
		free(type);
		current->body = NULL;
		return (-EINVAL);
	}
	current->status = (int)a[0];
	snprintf(current->content_type, sizeof current->content_type, "%s", type);
	current->body_len = a[4];
	current->responded = 1;
	free(type);
	return (0);
}

static int64_t
header_add(struct cli_request *current, struct tk_vm *vm,
    const uint64_t *a)
{
	char *name = string_in(vm, a[0], a[1], 255);
	char *value = string_in(vm, a[2], a[3], TINYKVM_MAX_HEADER);
	const char *why;
	int64_t r = -EINVAL;

	if (name == NULL || value == NULL || !tkp_token_ok(name) ||
	    !tkp_value_ok(value)) {
		r = -EINVAL;
	} else if ((why = tkp_response_header_refused(name)) != NULL) {
		fprintf(stderr, "tinykvm-run: response header %s refused: %s\n",
		    name, why);
		r = -EPERM;
	} else if (current->headers_added >= TKP_MAX_RESPONSE_HEADERS ||
	    ftell(current->out_headers) + strlen(name) + strlen(value) + 3 >
	    TKP_MAX_RESPONSE_HEADER_BYTES) {
		r = -E2BIG;
	} else {
		fprintf(current->out_headers, "%s: %s\n", name, value);
		current->headers_added++;
		r = 0;
	}
	free(name);
	free(value);
	return (r);
}

int
cli_hypercall(void *opaque, struct tk_vm *vm, uint64_t nr,
    const uint64_t a[6], int64_t *ret)
{
	struct cli_request *current = opaque;
	char *s;

	/* main() before it waits has no request: opaque is the VM's, NULL. */
	if (current == NULL) {
		*ret = -EPERM;
		return (0);
	}
	switch (nr) {
	case TINYKVM_HC_RESPOND:
		*ret = respond(current, vm, a);
		return (1);
	case TINYKVM_HC_HEADER_GET:
		*ret = header_get(current, vm, a);
		return (0);
	case TINYKVM_HC_HEADER_ADD:
		*ret = header_add(current, vm, a);
		return (0);
	case TINYKVM_HC_LOG:
		s = string_in(vm, a[0], a[1] > TINYKVM_MAX_LOG ? TINYKVM_MAX_LOG :
		    a[1], TINYKVM_MAX_LOG);
		if (s != NULL)
			fprintf(stderr, "tinykvm-run: log: %s\n", s);
		free(s);
		*ret = 0;
		return (0);
	default:
		/* No Varnish here: fetch() and the rest are not available. */
		return (-ENOSYS);
	}
}

int
cli_request_serve(struct tk_vm *vm, struct cli_request *req,
    uint64_t timeout_ns, struct tk_result *res)
{
	struct tinykvm_abi_request r;
	unsigned slot = strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0 ? TINYKVM_HANDLER_GET :
	    TINYKVM_HANDLER_POST;
	uint64_t handler = tk_vm_handler(vm, slot), at;

	memset(res, 0, sizeof *res);
	if (handler == 0) {
		snprintf(res->message, sizeof res->message, "the program has no "
		    "%s handler", slot == TINYKVM_HANDLER_GET ? "GET" : "POST");
		return (-1);
	}
	memset(&r, 0, sizeof r);
	r.body_len = req->in_len;
	if (tk_vm_push(vm, req->method, strlen(req->method) + 1, &r.method) < 0 ||
	    tk_vm_push(vm, req->url, strlen(req->url) + 1, &r.url) < 0 ||
	    tk_vm_push(vm, req->arg, strlen(req->arg) + 1, &r.arg) < 0 ||
	    tk_vm_push(vm, req->in_type, strlen(req->in_type) + 1,
	    &r.content_type) < 0 ||
	    (req->in_len > 0 && (tk_vm_alloc(vm, req->in_len, &r.body) < 0 ||
	    tk_vm_copy_to(vm, r.body, req->in_body, req->in_len) < 0)) ||
	    tk_vm_push(vm, &r, sizeof r, &at) < 0) {
		snprintf(res->message, sizeof res->message, "the request does not "
		    "fit in the program's memory");
		return (-1);
	}
	req->out_headers = open_memstream(&req->headers_text, &req->headers_len);
	if (req->out_headers == NULL)
		return (-1);
	(void)tk_vm_call(vm, req, handler, 1, &at, timeout_ns, res);
	fclose(req->out_headers);
	return (0);
}

void
cli_request_print(const struct cli_request *req)
{
	printf("HTTP/1.1 %d\r\n", req->status);
	if (req->content_type[0] != '\0')
		printf("Content-Type: %s\r\n", req->content_type);
	for (const char *l = req->headers_text, *nl; l && (nl = strchr(l, '\n'));
	    l = nl + 1)
		printf("%.*s\r\n", (int)(nl - l), l);
	printf("Content-Length: %zu\r\n\r\n", req->body_len);
	fflush(stdout);
	if (req->body_len > 0)
		(void)!write(1, req->body, req->body_len);
}
