/*
 * HTTP rules for guest requests and responses (http_rules.h).  Lists are
 * short and checked with strcasecmp: these run a few times per request.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "http_rules.h"

int
tkp_token_ok(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	const char *c;

	if (s == NULL || *s == '\0')
		return (0);
	for (c = s; *c != '\0'; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr(tchar, *c) != NULL)
			continue;
		return (0);
	}
	return (1);
}

int
tkp_value_ok(const char *s)
{
	const unsigned char *c;

	if (s == NULL)
		return (0);
	for (c = (const unsigned char *)s; *c != '\0'; c++)
		if ((*c < ' ' && *c != '\t') || *c == 127)
			return (0);
	return (1);
}

int
tkp_status_ok(long status)
{
	return (status >= TKP_STATUS_MIN && status <= TKP_STATUS_MAX);
}

/* Message framing and hop-by-hop headers (RFC 9110 7.6.1, RFC 9112 6, 9.6). */
static const char *const framing[] = {
	"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
	"TE", "Trailer", "Upgrade", "Proxy-Connection", NULL
};

static int
in_list(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcasecmp(name, *list) == 0)
			return (1);
	return (0);
}

const char *
tkp_response_header_refused(const char *name)
{
	if (!tkp_token_ok(name))
		return ("not a header name");
	if (in_list(name, framing))
		return ("a framing or hop-by-hop header: the server sets it");
	/* Proxy-Authenticate and the like speak for a proxy, not an origin. */
	if (strncasecmp(name, "Proxy-", 6) == 0)
		return ("a Proxy-* header: not an origin's to send");
	return (NULL);
}

const char *
tkp_fetch_header_refused(const char *name, const char *own)
{
	static const char *const request_only[] = { "Host", "Expect", NULL };

	if (!tkp_token_ok(name))
		return ("not a header name");
	if (in_list(name, framing))
		return ("a framing or hop-by-hop header: the client sets it");
	if (in_list(name, request_only))
		return ("Host and Expect follow from the URL and the body");
	if (own != NULL && strcasecmp(name, own) == 0)
		return ("the host sets it");
	return (NULL);
}

int
tkp_method_ok(const char *method, const char *const *extra, unsigned n_extra)
{
	static const char *const standard[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", NULL
	};

	if (!tkp_token_ok(method))
		return (0);
	for (const char *const *m = standard; *m != NULL; m++)
		if (strcmp(method, *m) == 0)
			return (1);
	for (unsigned i = 0; i < n_extra; i++)
		if (extra[i] != NULL && strcmp(method, extra[i]) == 0)
			return (1);
	return (0);
}
