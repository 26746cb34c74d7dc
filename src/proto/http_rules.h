/*
 * The HTTP rules a guest's requests and responses are held to, the same for
 * the VMOD and tinykvm-run: what a program may say about its response, and
 * what it may put into a fetch().  No Varnish, no engine: strings in,
 * verdicts out.  A program that passes `tinykvm-run --get` therefore gets
 * the same verdicts under Varnish.
 */
#ifndef TK_HTTP_RULES_H
#define TK_HTTP_RULES_H

/* The statuses a program may respond with (no 1xx: they are not final). */
#define TKP_STATUS_MIN	200
#define TKP_STATUS_MAX	599

/* What one response may add: bounds the host memory a guest can claim. */
#define TKP_MAX_RESPONSE_HEADERS	100
#define TKP_MAX_RESPONSE_HEADER_BYTES	(64 * 1024)

/* 1: (s) is a non-empty RFC 9110 token (a header name, a method). */
int tkp_token_ok(const char *s);

/* 1: (s) is a header value without CR, LF, NUL or other controls but TAB. */
int tkp_value_ok(const char *s);

/* 1: (status) is a final status a program may respond with. */
int tkp_status_ok(long status);

/*
 * NULL if a program may add response header (name); else why not.  The
 * framing and hop-by-hop headers are the server's: a guest's
 * Transfer-Encoding next to the real Content-Length would desync the client
 * and every proxy in front.
 */
const char *tkp_response_header_refused(const char *name);

/*
 * NULL if a program may send request header (name) in a fetch(); else why
 * not.  Besides framing and hop-by-hop headers, Host is refused (it would
 * reach another virtual host than the URL admitted by allowed_urls says) and
 * so is (own), a header the embedder sets itself (NULL: none).
 */
const char *tkp_fetch_header_refused(const char *name, const char *own);

/*
 * 1 if a fetch() may use (method): one of GET, HEAD, POST, PUT, DELETE,
 * PATCH, OPTIONS, or one of the (n_extra) tokens in (extra), matched
 * exactly (methods are case-sensitive).
 */
int tkp_method_ok(const char *method, const char *const *extra, unsigned n_extra);

#endif
