/*
 * Query strings of the web API, as browsers send them
 * (application/x-www-form-urlencoded): pairs split on '&', names and values
 * percent-decoded, '+' a space. The input is untrusted: its length, the
 * number of pairs, every escape and the UTF-8 of every name and value are
 * checked, and a NUL byte is refused. Pure; the result owns its strings.
 */
#ifndef CLI_CLI_SERVE_QUERY_H
#define CLI_CLI_SERVE_QUERY_H

#include "cli.h"

#include <stddef.h>

#define CLI_QUERY_MAX_LEN 4096 /* bytes after the '?' */
#define CLI_QUERY_MAX_PARAMS 64

struct cli_query_param {
	char *name;  /* decoded, never empty */
	char *value; /* decoded; "" when the pair had no '=' */
	int has_value;
};

struct cli_query {
	struct cli_query_param *p;
	size_t n;
};

/*
 * Parse qs (the text after '?', without it; NULL or "" is no parameter).
 * Empty pairs ("a=1&&b=2") are skipped. On success returns 0 and fills *q,
 * which the caller releases with cli_query_fini(). On failure writes
 * nothing to *q and returns FP_EINVAL (e filled: what is wrong, and a hint)
 * or FP_ENOMEM.
 */
int cli_query_parse(const char *qs, struct cli_query *q, struct cli_error *e);
void cli_query_fini(struct cli_query *q);

/* 1 if s (len bytes) is well-formed UTF-8 without NUL bytes. */
int cli_utf8_valid(const char *s, size_t len);

#endif
