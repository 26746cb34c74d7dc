/*
 * tinykvm-run --get/--post: after main() waits for requests, serves one
 * request to the program's handler the way the VMOD would (src/proto does
 * both), and prints the response (status line, headers, blank line, body)
 * on stdout.  Lets an author try a handler from the shell, without Varnish.
 * No fetch() here: the guest gets -ENOSYS.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../engine/tinykvm.h"
#include "request.h"

static struct cli_request *
request_of(const struct tkp_call *c)
{
	assert(c != NULL && c->magic == TKP_CALL_MAGIC);
	assert(c->priv != NULL);
	return (c->priv);
}

/* --header 'Name: value': the value of the first one named (name). */
static const char *
request_header(struct tkp_call *c, const char *name)
{
	const struct cli_request *req = request_of(c);
	size_t n = strlen(name);
	const char *v;

	for (int i = 0; i < req->n_headers; i++) {
		if (strncasecmp(req->headers[i], name, n) != 0 ||
		    req->headers[i][n] != ':')
			continue;
		for (v = req->headers[i] + n + 1; *v == ' '; v++)
			continue;
		return (v);
	}
	return (NULL);
}

static int
response_header_add(struct tkp_call *c, const char *name, const char *value)
{
	struct cli_request *req = request_of(c);

	return (fprintf(req->out_headers, "%s: %s\n", name, value) < 0 ?
	    -ENOMEM : 0);
}

static void
guest_log(struct tkp_call *c, enum tkp_log_source source, const char *line)
{
	(void)request_of(c);
	fprintf(stderr, "tinykvm-run: %s%s\n", source == TKP_LOG_GUEST ?
	    "log: " : "", line);
}

/* Guest output goes to our stdout and stderr (the VM's write), not here. */
static const struct tkp_ops cli_ops = {
	.header_get = request_header,
	.header_add = response_header_add,
	.log = guest_log,
};

int
cli_request_serve(struct tk_vm *vm, struct cli_request *req, size_t max_body,
    uint64_t timeout_ns, struct tk_result *res)
{
	struct tkp_call *c = &req->call;
	int r;

	tkp_call_init(c, &cli_ops, req);
	c->req.method = req->method;
	c->req.url = req->url;
	c->req.arg = req->arg;
	c->req.content_type = req->in_type;
	c->req.body = req->in_body;
	c->req.body_len = req->in_len;
	c->max_body = max_body;
	c->max_body_what = "the program's memory";
	req->out_headers = open_memstream(&req->headers_text, &req->headers_len);
	if (req->out_headers == NULL) {
		memset(res, 0, sizeof *res);
		snprintf(c->error, sizeof c->error, "out of memory");
		return (-ENOMEM);
	}
	r = tkp_call_run(vm, c, timeout_ns, res);
	fclose(req->out_headers);
	req->out_headers = NULL;
	return (r);
}

void
cli_request_print(const struct cli_request *req)
{
	const struct tkp_response *resp = &req->call.resp;

	printf("HTTP/1.1 %d\r\n", resp->status);
	if (resp->content_type[0] != '\0')
		printf("Content-Type: %s\r\n", resp->content_type);
	for (const char *l = req->headers_text, *nl; l && (nl = strchr(l, '\n'));
	    l = nl + 1)
		printf("%.*s\r\n", (int)(nl - l), l);
	printf("Content-Length: %zu\r\n\r\n", resp->body_len);
	fflush(stdout);
	if (resp->body_len > 0)
		(void)!write(1, resp->body, resp->body_len);
}
