/* One request served to a program from the command line (request.c). */
#ifndef TINYKVM_CLI_REQUEST_H
#define TINYKVM_CLI_REQUEST_H

#include <stdio.h>

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
	/* Out. */
	int		responded;
	char		error[192];	/* why a response was refused */
	unsigned	headers_added;
	int		status;
	char		content_type[256];
	const char	*body;		/* in the VM's memory: print before it goes */
	size_t		body_len;
	FILE		*out_headers;
	char		*headers_text;
	size_t		headers_len;
};

/* The hypercalls a handler makes: respond, headers, log (no fetch). */
tk_hypercall_fn cli_hypercall;
/* Calls the handler for (req) in (vm), paused waiting for requests. */
int cli_request_serve(struct tk_vm *vm, struct cli_request *req,
    uint64_t timeout_ns, struct tk_result *res);
/* Writes the response as HTTP on stdout. */
void cli_request_print(const struct cli_request *req);

#endif
