/*
 * TINYKVM_HC_FETCH: a guest's HTTP request, made by libcurl on the worker
 * thread that runs the guest, while the guest waits.  Backends are reached
 * only through the program's allowed_urls; a URL starting with "/" goes to
 * this Varnish (init_self_requests()), through VCL and the cache, one level
 * deeper each time, up to TKVMOD_MAX_DEPTH.  One curl handle per thread,
 * reused (its connections stay open), never shared; a fetch ends before the
 * hypercall returns, so none outlives its request.
 */
#define _GNU_SOURCE	/* strcasestr */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cache/cache.h>

#include "hypercalls.h"
#include "../proto/guest_string.h"
#include "../proto/http_rules.h"

#define MAX_URL		8192
#define MAX_HEADERS	(64 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;

static void
curl_handle_free(void *handle)
{
	curl_easy_cleanup(handle);
}

static void
curl_setup(void)
{
	AZ(curl_global_init(CURL_GLOBAL_DEFAULT));
	AZ(pthread_key_create(&curl_key, curl_handle_free));
}

static CURL *
curl_handle(void)
{
	CURL *c;

	(void)pthread_once(&curl_once, curl_setup);
	c = pthread_getspecific(curl_key);
	if (c == NULL) {
		c = curl_easy_init();
		if (c != NULL)
			AZ(pthread_setspecific(curl_key, c));
	} else {
		curl_easy_reset(c);
	}
	return (c);
}

static size_t
body_write(char *data, size_t size, size_t n, void *priv)
{
	return (tkvmod_buf_add(priv, data, size * n) == 0 ? size * n : 0);
}

/* Keeps "Name: value" lines, not the status line nor the blank end. */
static size_t
header_write(char *data, size_t size, size_t n, void *priv)
{
	struct tkvmod_buf *b = priv;
	size_t len = size * n;

	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len == 0 || strncmp(data, "HTTP/", 5) == 0)
		return (size * n);
	if (b->len + len + 1 <= b->limit) {
		(void)tkvmod_buf_add(b, data, len);
		(void)tkvmod_buf_add(b, "\n", 1);
	}
	return (size * n);
}

/*
 * allowed_urls against a normalised URL (or, for a self-request, its path):
 * a regular expression anywhere, a prefix only up to a boundary, so that
 * "http://h" does not admit "http://h.example" nor "/api" admit "/api2"
 * (a prefix that ends in "/" or ":" is its own boundary: "http://h:" is
 * host h on any port).
 */
static int
url_allowed(const struct tkvmod_config *cfg, const char *url)
{
	for (unsigned i = 0; i < cfg->n_allowed; i++) {
		const char *a = cfg->allowed_urls[i];
		size_t n = strlen(a);

		if (a[0] == '^') {
			if (regexec(&cfg->allowed_re[i], url, 0, NULL, 0) == 0)
				return (1);
		} else if (strncmp(url, a, n) == 0 && (n == 0 ||
		    strchr("/:", a[n - 1]) != NULL || strchr("/?#", url[n]) != NULL)) {
			return (1);
		}
	}
	return (0);
}

/*
 * Parses (url) as libcurl will, with dot segments resolved: what is checked
 * is what is fetched.  User info is refused (it hides the real host), and
 * so are encoded dots and slashes (a server might decode them).  The
 * result, malloc'ed, in (*full); for a self-request "/path", (*path) points
 * at its path and query within it.
 */
static int
url_normalise(const char *url, int self, const char *origin, char **full,
    const char **path)
{
	CURLU *h = curl_url();
	char *u = NULL, *user = NULL, *tmp;
	int r = -1;

	*full = NULL;
	if (h == NULL)
		return (-1);
	if (self) {
		tmp = malloc(strlen(origin) + strlen(url) + 1);
		if (tmp == NULL)
			goto out;
		sprintf(tmp, "%s%s", origin, url);
		r = curl_url_set(h, CURLUPART_URL, tmp, 0) == CURLUE_OK ? 0 : -1;
		free(tmp);
	} else {
		r = curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK ? 0 : -1;
	}
	if (r == 0 && curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK)
		r = -1;
	if (r == 0 && curl_url_get(h, CURLUPART_URL, &u, 0) != CURLUE_OK)
		r = -1;
	/* Encoded dots or slashes could still walk up a path on some server. */
	if (r == 0 && (strcasestr(u, "%2e") != NULL || strcasestr(u, "%2f") != NULL))
		r = -1;
	if (r == 0) {
		*full = strdup(u);
		r = *full != NULL ? 0 : -1;
	}
	if (r == 0 && self) {
		/* The path starts at the first "/" after "scheme://host[:port]". */
		*path = strchr(strstr(*full, "://") + 3, '/');
		if (*path == NULL)
			*path = "/";
	}
out:
	curl_free(user);
	curl_free(u);
	curl_url_cleanup(h);
	return (r);
}

/*
 * The depth of the request this program serves: that of a self-request,
 * whose header carries the VCL's secret; 0 for anything a client sent.
 */
static int
depth_of(const struct tkvmod_programs *ps, const struct http *hp)
{
	static const char hdr[] = "\020" TKVMOD_DEPTH_HEADER ":";
	char secret[sizeof ps->self_secret];
	const char *v;
	int depth;

	if (ps == NULL || ps->self_secret[0] == '\0' || hp == NULL ||
	    !http_GetHdr(hp, hdr, &v))
		return (0);
	if (sscanf(v, "%d %32s", &depth, secret) != 2 ||
	    strcmp(secret, ps->self_secret) != 0 || depth < 0 ||
	    depth > TKVMOD_MAX_DEPTH)
		return (0);
	return (depth);
}

/* The Host of the request being served, so a self-request shares its cache. */
static const char *
host_of(const struct http *hp)
{
	const char *v = NULL;

	if (hp != NULL)
		(void)http_GetHdr(hp, H_Host, &v);
	return (v);
}

static int64_t
fetch_error(struct tkvmod_run *run, const char *url, int64_t code, const char *why)
{
	tkvmod_run_log(run, "fetch %s: %s", url ? url : "(bad URL)", why);
	return (code);
}

/* Appends (s) to (*list); -1 (the list left as it was) when out of memory. */
static int
slist_add(struct curl_slist **list, const char *s)
{
	struct curl_slist *l = curl_slist_append(*list, s);

	if (l == NULL)
		return (-1);
	*list = l;
	return (0);
}

/*
 * The guest's "Name: value" lines, checked, onto (*list).  Names are tokens,
 * values free of CR, LF and NUL, and no header that frames the message, picks
 * the virtual host or carries our depth: libcurl sets those, and a guest
 * that could would smuggle requests past allowed_urls and the depth guard.
 * NULL, or why the fetch is refused (in (why), naming the header).
 */
static const char *
headers_build(char *headers, struct curl_slist **list, char *why, size_t len)
{
	char *line, *save, *colon, *value;
	const char *refused;

	for (line = strtok_r(headers, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		/* "\r\n" line ends are fine: the line break is ours to write. */
		if (line[0] != '\0' && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = '\0';
		if (line[0] == '\0')
			continue;
		colon = strchr(line, ':');
		if (colon == NULL) {
			snprintf(why, len, "a request header line without a colon");
			return (why);
		}
		*colon = '\0';
		for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
			continue;
		refused = tkp_fetch_header_refused(line, TKVMOD_DEPTH_HEADER);
		if (refused == NULL && !tkp_value_ok(value))
			refused = "its value has a control character (CR, LF)";
		if (refused != NULL) {
			snprintf(why, len, "request header %.64s refused: %s",
			    tkp_token_ok(line) ? line : "(not a token)", refused);
			return (why);
		}
		*colon = ':';
		if (slist_add(list, line) < 0) {
			snprintf(why, len, "out of memory");
			return (why);
		}
	}
	return (NULL);
}

/* Puts the response into the guest and fills the struct's out fields. */
static int64_t
result_out(struct tkvmod_run *run, struct tk_vm *vm, struct tinykvm_abi_fetch *f,
    uint64_t gva, long status, const struct tkvmod_buf *body, const struct tkvmod_buf *hdrs,
    const char *ctype, const char *url)
{
	size_t n;

	if (f->resp_body != 0) {
		if (body->len > f->resp_body_cap)
			return (fetch_error(run, url, TINYKVM_FETCH_ETOOLARGE,
			    "body larger than the guest's buffer"));
	} else if (tk_vm_alloc(vm, body->len, &f->resp_body) < 0) {
		return (fetch_error(run, url, TINYKVM_FETCH_ETOOLARGE,
		    "no guest memory for the body"));
	}
	if (body->len > 0 && tk_vm_copy_to(vm, f->resp_body, body->p, body->len) < 0)
		return (-EFAULT);
	f->resp_body_len = body->len;
	n = hdrs->len < f->resp_headers_cap ? hdrs->len : f->resp_headers_cap;
	if (n > 0 && tk_vm_copy_to(vm, f->resp_headers, hdrs->p, n) < 0)
		return (-EFAULT);
	f->resp_headers_len = n;
	n = ctype ? strlen(ctype) : 0;
	n = n < f->content_type_cap ? n : f->content_type_cap;
	if (n > 0 && tk_vm_copy_to(vm, f->content_type, ctype, n) < 0)
		return (-EFAULT);
	f->content_type_len = n;
	if (tk_vm_copy_to(vm, gva, f, sizeof *f) < 0)
		return (-EFAULT);
	return (status);
}

/* One fetch's guest arguments, copied in, and what it allocated. */
struct fetch_req {
	struct tinykvm_abi_fetch	f;
	char				*url, *method, *headers, *body;
	char				*full;		/* normalised URL */
	const char			*path;		/* self-request: in full */
	int				self;
	int				depth;		/* of the request served */
	struct curl_slist		*list;		/* request headers */
	char				why[192];
};

static void
fetch_req_free(struct fetch_req *q)
{
	curl_slist_free_all(q->list);
	free(q->full);
	free(q->body);
	free(q->url);
	free(q->method);
	free(q->headers);
}

/* Copies the guest's arguments in; 0, a TINYKVM_FETCH_E* code, or -errno. */
static int64_t
fetch_args_in(struct tkvmod_run *run, struct tk_vm *vm, uint64_t gva,
    struct fetch_req *q)
{
	const struct tkvmod_config *cfg = &run->program->cfg;
	struct tinykvm_abi_fetch *f = &q->f;

	if (tk_vm_copy_from(vm, f, gva, sizeof *f) < 0)
		return (-EFAULT);
	q->url = tkp_guest_strdup(vm, f->url, f->url_len, MAX_URL);
	q->method = tkp_guest_strdup(vm, f->method, f->method_len,
	    TKVMOD_MAX_METHOD);
	q->headers = tkp_guest_strdup(vm, f->headers, f->headers_len,
	    MAX_HEADERS);
	if (q->url == NULL || q->method == NULL || q->headers == NULL ||
	    f->body_len > cfg->max_request_memory)
		return (fetch_error(run, q->url, TINYKVM_FETCH_EFAILED,
		    "bad arguments"));
	if (f->body_len > 0) {
		q->body = malloc(f->body_len);
		if (q->body == NULL ||
		    tk_vm_copy_from(vm, q->body, f->body, f->body_len) < 0)
			return (-EFAULT);
	}
	if (q->method[0] != '\0' && !tkp_method_ok(q->method,
	    (const char *const *)cfg->fetch_methods, cfg->n_fetch_methods)) {
		snprintf(q->why, sizeof q->why, "method %s is not allowed (GET, "
		    "HEAD, POST, PUT, DELETE, PATCH, OPTIONS, or one in "
		    "fetch_methods)", tkp_token_ok(q->method) ? q->method :
		    "(not a token)");
		return (fetch_error(run, q->url, TINYKVM_FETCH_EDENIED, q->why));
	}
	return (0);
}

/* Where the fetch goes and whether it may; 0 or a TINYKVM_FETCH_E* code. */
static int64_t
fetch_route(struct tkvmod_run *run, struct fetch_req *q)
{
	const struct tkvmod_programs *ps = run->program->programs;
	const char *url = q->url;

	q->self = url[0] == '/';
	if (q->self && (ps == NULL ||
	    (ps->self_socket == NULL && ps->self_prefix == NULL)))
		return (fetch_error(run, url, TINYKVM_FETCH_EDENIED, "self-requests "
		    "need tinykvm.init_self_requests() in vcl_init"));
	(void)pthread_once(&curl_once, curl_setup);
	if (url_normalise(url, q->self, q->self ? (ps->self_socket ?
	    "http://localhost" : ps->self_prefix) : NULL, &q->full, &q->path) < 0)
		return (fetch_error(run, url, TINYKVM_FETCH_EFAILED, "not a URL we "
		    "fetch (bad syntax, or user info)"));
	if (!url_allowed(&run->program->cfg, q->self ? q->path : q->full))
		return (fetch_error(run, url, TINYKVM_FETCH_EDENIED,
		    "not in allowed_urls"));
	q->depth = depth_of(ps, run->call->req_http);
	if (q->self && q->depth + 1 > TKVMOD_MAX_DEPTH)
		return (fetch_error(run, url, TINYKVM_FETCH_EDENIED, "self-requests "
		    "nested deeper than 4"));
	return (0);
}

/* The request headers: ours for a self-request, then the guest's, checked. */
static int64_t
fetch_headers(struct tkvmod_run *run, struct fetch_req *q)
{
	const struct tkvmod_programs *ps = run->program->programs;
	char depth_hdr[96], host_hdr[512];
	const char *host;

	if (q->self) {
		snprintf(depth_hdr, sizeof depth_hdr, "%s: %d %s",
		    TKVMOD_DEPTH_HEADER, q->depth + 1, ps->self_secret);
		/* Without its depth, a self-request must not go at all. */
		if (slist_add(&q->list, depth_hdr) < 0)
			return (fetch_error(run, q->url, TINYKVM_FETCH_EFAILED,
			    "out of memory"));
		/* A self-request shares the Host, so the cache, of its request. */
		host = host_of(run->call->req_http);
		if (host != NULL && (size_t)snprintf(host_hdr, sizeof host_hdr,
		    "Host: %s", host) < sizeof host_hdr &&
		    slist_add(&q->list, host_hdr) < 0)
			return (fetch_error(run, q->url, TINYKVM_FETCH_EFAILED,
			    "out of memory"));
	}
	if (headers_build(q->headers, &q->list, q->why, sizeof q->why) != NULL)
		return (fetch_error(run, q->url, strcmp(q->why, "out of memory") == 0 ?
		    TINYKVM_FETCH_EFAILED : TINYKVM_FETCH_EDENIED, q->why));
	return (0);
}

/* libcurl does the request; the result into the guest, or an error code. */
static int64_t
fetch_perform(struct tkvmod_run *run, struct tk_vm *vm, uint64_t gva,
    struct fetch_req *q, double left)
{
	const struct tkvmod_config *cfg = &run->program->cfg;
	const struct tkvmod_programs *ps = run->program->programs;
	struct tkvmod_buf body = { .limit = cfg->max_fetch_size };
	struct tkvmod_buf hdrs = { .limit = MAX_HEADERS };
	const char *ctype = NULL, *url = q->url;
	long status = 0;
	int64_t r;
	CURLcode cr;
	CURL *c;

	c = curl_handle();
	if (c == NULL)
		return (fetch_error(run, url, TINYKVM_FETCH_EFAILED, "no curl handle"));
	if (q->self && ps->self_socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ps->self_socket);
	curl_easy_setopt(c, CURLOPT_URL, q->full);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)((left < cfg->fetch_timeout ? left : cfg->fetch_timeout) * 1000));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, q->list);
	/* A Content-Length over the cap fails at the header, not 1 MiB later. */
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)cfg->max_fetch_size);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_write);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
	if (q->f.body_len > 0 || strcmp(q->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)q->f.body_len);
	}
	if (strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (q->method[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);

	cr = curl_easy_perform(c);
	if (cr == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
		r = result_out(run, vm, &q->f, gva, status, &body, &hdrs, ctype, url);
	} else if (body.over || cr == CURLE_FILESIZE_EXCEEDED) {
		r = fetch_error(run, url, TINYKVM_FETCH_ETOOLARGE, "body larger than "
		    "max_fetch_size");
	} else if (cr == CURLE_OPERATION_TIMEDOUT) {
		r = fetch_error(run, url, TINYKVM_FETCH_ETIMEOUT, "timed out");
	} else if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST) {
		r = fetch_error(run, url, TINYKVM_FETCH_ECONNECT, curl_easy_strerror(cr));
	} else {
		r = fetch_error(run, url, TINYKVM_FETCH_EFAILED, curl_easy_strerror(cr));
	}
	/* The handle keeps our list and buffers no longer than this call. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	free(body.p);
	free(hdrs.p);
	return (r);
}

int64_t
tkvmod_fetch(struct tkvmod_run *run, struct tk_vm *vm, uint64_t gva)
{
	struct fetch_req q;
	double left = run->deadline - tkvmod_now();
	int64_t r;

	memset(&q, 0, sizeof q);
	r = fetch_args_in(run, vm, gva, &q);
	if (r == 0)
		r = fetch_route(run, &q);
	if (r == 0)
		r = fetch_headers(run, &q);
	if (r == 0 && left <= 0.001)
		r = fetch_error(run, q.url, TINYKVM_FETCH_ETIMEOUT,
		    "no request time left");
	if (r == 0)
		r = fetch_perform(run, vm, gva, &q, left);
	fetch_req_free(&q);
	return (r);
}
