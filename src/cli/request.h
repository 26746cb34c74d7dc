/*
 * One request served to a program from the command line (request.c): the
 * same request layer as the VMOD's (src/proto/request.h), with ops that
 * read --header, keep response headers for printing and log to stderr.
 */
#ifndef TINYKVM_CLI_REQUEST_H
#define TINYKVM_CLI_REQUEST_H

#include <stdio.h>

#include "../proto/request.h"

struct cli_request {
	/* In. */
	const char	*method;
	const char	*url;
	const char	*arg;
	const char	*in_type;
	char		**headers;	/* "Name: value" */
	int		n_headers;
	char		*in_body;
	size_t		in_len;
	/* Out: the call (its response, or why none), the headers added. */
	struct tkp_call	call;
	FILE		*out_headers;
	char		*headers_text;
	size_t		headers_len;
};

/*
 * Calls the handler for (req) in (vm), paused waiting for requests, taking
 * a response body of at most (max_body) bytes: tkp_call_run's result, with
 * req->call filled.
 */
int cli_request_serve(struct tk_vm *vm, struct cli_request *req,
    size_t max_body, uint64_t timeout_ns, struct tk_result *res);
/* Writes the response as HTTP on stdout. */
void cli_request_print(const struct cli_request *req);

#endif
