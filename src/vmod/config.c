/*
 * configure()'s JSON, read with jansson.  Every key is checked for its type
 * and range: a mistake fails the VCL load with the program and the key named.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkvmod.h"
#include "../proto/http_rules.h"

#define MIB	(1024ULL * 1024)

static int
bad(char *err, size_t errlen, const char *name, const char *key,
    const char *what)
{
	snprintf(err, errlen, "tinykvm: program '%s': key '%s' %s", name, key, what);
	return (-1);
}

static int
integer_get(json_t *v, const char *name, const char *key, long long lo,
    long long hi, unsigned long long *out, char *err, size_t errlen)
{
	char what[96];

	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		snprintf(what, sizeof what, "must be an integer from %lld to %lld",
		    lo, hi);
		return (bad(err, errlen, name, key, what));
	}
	*out = (unsigned long long)json_integer_value(v);
	return (0);
}

static int
seconds_get(json_t *v, const char *name, const char *key, double lo, double hi,
    double *out, char *err, size_t errlen)
{
	char what[96];

	if (!json_is_number(v) || json_number_value(v) < lo ||
	    json_number_value(v) > hi) {
		snprintf(what, sizeof what, "must be a number of seconds from %g "
		    "to %g", lo, hi);
		return (bad(err, errlen, name, key, what));
	}
	*out = json_number_value(v);
	return (0);
}

/* Copies a JSON array of strings into a NULL-terminated vector after (first). */
static char **
strings_get(json_t *v, const char *first, const char *name, const char *key,
    int need_equals, char *err, size_t errlen)
{
	size_t n = v ? json_array_size(v) : 0, i, at = 0;
	char **out;

	if (v != NULL && !json_is_array(v)) {
		(void)bad(err, errlen, name, key, "must be an array of strings");
		return (NULL);
	}
	out = calloc(n + 2, sizeof *out);
	if (out == NULL)
		return (NULL);
	if (first != NULL)
		out[at++] = strdup(first);
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(v, i);
		const char *str = json_string_value(s);

		if (!json_is_string(s) || (need_equals && (strchr(str, '=') == NULL ||
		    str[0] == '='))) {
			(void)bad(err, errlen, name, key, need_equals ?
			    "must hold strings of the form \"K=V\"" :
			    "must be an array of strings");
			for (i = 0; i < at; i++)
				free(out[i]);
			free(out);
			return (NULL);
		}
		out[at++] = strdup(str);
	}
	return (out);
}

/* allowed_urls: "^..." is a regular expression (POSIX extended), else a prefix. */
static int
allowed_compile(struct tkvmod_config *cfg, const char *name, char *err,
    size_t errlen)
{
	unsigned n = 0, i;

	while (cfg->allowed_urls[n] != NULL)
		n++;
	cfg->allowed_re = calloc(n + 1, sizeof *cfg->allowed_re);
	if (cfg->allowed_re == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		if (cfg->allowed_urls[i][0] != '^')
			continue;
		if (regcomp(&cfg->allowed_re[i], cfg->allowed_urls[i],
		    REG_EXTENDED | REG_NOSUB) != 0) {
			snprintf(err, errlen, "tinykvm: program '%s': key "
			    "'allowed_urls': bad regular expression '%s'", name,
			    cfg->allowed_urls[i]);
			cfg->n_allowed = i;
			return (-1);
		}
	}
	cfg->n_allowed = n;
	return (0);
}

/* fetch_methods: extra methods fetch() may use, besides the standard seven. */
static int
methods_check(struct tkvmod_config *cfg, const char *name, char *err,
    size_t errlen)
{
	unsigned n;

	for (n = 0; cfg->fetch_methods[n] != NULL; n++) {
		if (!tkp_token_ok(cfg->fetch_methods[n]) ||
		    strlen(cfg->fetch_methods[n]) > TKVMOD_MAX_METHOD) {
			snprintf(err, errlen, "tinykvm: program '%s': key "
			    "'fetch_methods': '%s' is not a method (a token of at "
			    "most %d characters)", name, cfg->fetch_methods[n],
			    TKVMOD_MAX_METHOD);
			return (-1);
		}
	}
	cfg->n_fetch_methods = n;
	return (0);
}

static void
config_defaults(struct tkvmod_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->concurrency = 2;
	cfg->max_memory = 256 * MIB;
	cfg->max_request_memory = 64 * MIB;
	cfg->max_boot_time = 10;
	cfg->max_request_time = 1.0;
	cfg->max_queue_time = 2.0;
	cfg->ephemeral = 1;
	cfg->system_libraries = 1;
	cfg->fetch_timeout = 5;
	cfg->max_fetch_size = 16 * MIB;
}

/* The keys with a single value, (v) for (key); 0 or -1 (err). */
static int
key_parse(struct tkvmod_config *cfg, const char *name, const char *key,
    json_t *v, char *err, size_t errlen)
{
	unsigned long long u = 0;

	if (strcmp(key, "filename") == 0) {
		if (!json_is_string(v) || json_string_value(v)[0] != '/')
			return (bad(err, errlen, name, key,
			    "must be the absolute path of the program"));
		cfg->filename = strdup(json_string_value(v));
	} else if (strcmp(key, "concurrency") == 0) {
		if (integer_get(v, name, key, 1, 1024, &u, err, errlen))
			return (-1);
		cfg->concurrency = (unsigned)u;
	} else if (strcmp(key, "max_memory") == 0) {
		if (integer_get(v, name, key, 16, 65536, &u, err, errlen))
			return (-1);
		cfg->max_memory = u * MIB;
	} else if (strcmp(key, "max_request_memory") == 0) {
		if (integer_get(v, name, key, 1, 65536, &u, err, errlen))
			return (-1);
		cfg->max_request_memory = u * MIB;
	} else if (strcmp(key, "max_boot_time") == 0) {
		return (seconds_get(v, name, key, 0.001, 3600, &cfg->max_boot_time,
		    err, errlen));
	} else if (strcmp(key, "max_request_time") == 0) {
		return (seconds_get(v, name, key, 0.001, 3600,
		    &cfg->max_request_time, err, errlen));
	} else if (strcmp(key, "max_queue_time") == 0) {
		return (seconds_get(v, name, key, 0, 3600, &cfg->max_queue_time,
		    err, errlen));
	} else if (strcmp(key, "fetch_timeout") == 0) {
		return (seconds_get(v, name, key, 0.001, 3600, &cfg->fetch_timeout,
		    err, errlen));
	} else if (strcmp(key, "max_fetch_size") == 0) {
		if (integer_get(v, name, key, 1, 4096, &u, err, errlen))
			return (-1);
		cfg->max_fetch_size = u * MIB;
	} else if (strcmp(key, "system_libraries") == 0) {
		if (!json_is_boolean(v))
			return (bad(err, errlen, name, key, "must be true or false"));
		cfg->system_libraries = json_is_true(v);
	} else if (strcmp(key, "ephemeral") == 0) {
		if (!json_is_boolean(v))
			return (bad(err, errlen, name, key, "must be true or false"));
		cfg->ephemeral = json_is_true(v);
	} else if (strcmp(key, "arguments") != 0 &&
	    strcmp(key, "environment") != 0 &&
	    strcmp(key, "allowed_urls") != 0 &&
	    strcmp(key, "allowed_paths") != 0 &&
	    strcmp(key, "fetch_methods") != 0) {
		return (bad(err, errlen, name, key, "is unknown (known: filename, "
		    "concurrency, max_memory, max_request_memory, max_boot_time, "
		    "max_request_time, max_queue_time, ephemeral, arguments, "
		    "environment, allowed_urls, allowed_paths, system_libraries, "
		    "fetch_methods, fetch_timeout, max_fetch_size)"));
	}
	return (0);
}

/* allowed_paths: "HOST" or "HOST:/GUEST", as tinykvm-run's --allow-read. */
static int
paths_get(struct tkvmod_config *cfg, json_t *v, const char *name, char *err,
    size_t errlen)
{
	char **specs = strings_get(v, NULL, name, "allowed_paths", 0, err,
	    errlen);
	unsigned n = 0;
	int r = 0;

	if (specs == NULL)
		return (-1);
	while (specs[n] != NULL)
		n++;
	cfg->read_paths = calloc(n + 1, sizeof *cfg->read_paths);
	for (unsigned i = 0; cfg->read_paths != NULL && r == 0 && i < n; i++) {
		r = tk_read_path_parse(specs[i], &cfg->read_paths[i]);
		/* Its guest part points into specs[i]: keep that. */
		if (r == 0 && cfg->read_paths[i].host[0] != '/')
			r = -EINVAL;
		if (r == 0 || cfg->read_paths[i].host != NULL)
			cfg->n_read_paths = i + 1;
	}
	cfg->read_specs = specs;
	if (cfg->read_paths == NULL || r != 0)
		return (bad(err, errlen, name, "allowed_paths", r == -EINVAL ?
		    "must hold absolute paths \"HOST\" or \"HOST:/GUEST\"" :
		    "could not be stored (out of memory)"));
	return (0);
}

/*
 * After the single values: what needs them (filename, max_memory) and the
 * string lists; 0 or -1 (err).
 */
static int
config_finish(struct tkvmod_config *cfg, json_t *root, const char *name,
    char *err, size_t errlen)
{
	if (cfg->filename == NULL)
		return (bad(err, errlen, name, "filename", "is required"));
	if (cfg->max_request_memory > cfg->max_memory)
		return (bad(err, errlen, name, "max_request_memory",
		    "must not exceed max_memory"));
	cfg->argv = strings_get(json_object_get(root, "arguments"), cfg->filename,
	    name, "arguments", 0, err, errlen);
	if (cfg->argv == NULL)
		return (-1);
	cfg->envp = strings_get(json_object_get(root, "environment"), NULL, name,
	    "environment", 1, err, errlen);
	if (cfg->envp == NULL)
		return (-1);
	cfg->allowed_urls = strings_get(json_object_get(root, "allowed_urls"),
	    NULL, name, "allowed_urls", 0, err, errlen);
	if (cfg->allowed_urls == NULL || allowed_compile(cfg, name, err, errlen))
		return (-1);
	if (paths_get(cfg, json_object_get(root, "allowed_paths"), name, err,
	    errlen) != 0)
		return (-1);
	cfg->fetch_methods = strings_get(json_object_get(root, "fetch_methods"),
	    NULL, name, "fetch_methods", 0, err, errlen);
	if (cfg->fetch_methods == NULL || methods_check(cfg, name, err, errlen))
		return (-1);
	return (0);
}

int
tkvmod_config_parse(struct tkvmod_config *cfg, const char *name,
    const char *json, char *err, size_t errlen)
{
	json_error_t jerr;
	const char *key;
	json_t *root, *v;
	int r = 0;

	config_defaults(cfg);
	root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		snprintf(err, errlen, "tinykvm: program '%s': configuration is not "
		    "a JSON object: %s (line %d, column %d)", name,
		    root == NULL ? jerr.text : "not an object", jerr.line, jerr.column);
		json_decref(root);
		return (-1);
	}
	json_object_foreach(root, key, v) {
		r = key_parse(cfg, name, key, v, err, errlen);
		if (r != 0)
			break;
	}
	if (r == 0)
		r = config_finish(cfg, root, name, err, errlen);
	json_decref(root);
	if (r != 0)
		tkvmod_config_free(cfg);
	return (r);
}

static void
strings_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void
tkvmod_config_free(struct tkvmod_config *cfg)
{
	free(cfg->filename);
	for (unsigned i = 0; cfg->allowed_re != NULL && i < cfg->n_allowed; i++)
		if (cfg->allowed_urls[i][0] == '^')
			regfree(&cfg->allowed_re[i]);
	free(cfg->allowed_re);
	strings_free(cfg->allowed_urls);
	strings_free(cfg->fetch_methods);
	for (unsigned i = 0; i < cfg->n_read_paths; i++)
		free((char *)(uintptr_t)cfg->read_paths[i].host);
	free(cfg->read_paths);
	strings_free(cfg->read_specs);
	strings_free(cfg->argv);
	strings_free(cfg->envp);
	memset(cfg, 0, sizeof *cfg);
}
