/*
 * Who may send: the set of shared tokens a batch's `token` must match.
 * The check runs in constant time for a given configuration: every token is
 * compared over its full padded width, with no early exit, and the lengths
 * are folded into the result. A token set is immutable once built; SIGHUP
 * swaps the pointer in c->opt under c->auth_lock.
 */
#ifndef COLLECTOR_AUTH_H
#define COLLECTOR_AUTH_H

#include <stddef.h>

#include "collector.h"

#define COLLECTOR_TOKEN_MAX 256 /* bytes in one token */

struct collector_token {
	char *name; /* for logs and --check-config; never the value */
	size_t len;
	unsigned char pad[COLLECTOR_TOKEN_MAX]; /* value, zero-padded */
};

struct collector_tokens {
	size_t n, cap;
	struct collector_token *v;
};

/* An empty set; NULL on FP_ENOMEM. */
struct collector_tokens *collector_tokens_create(void);
void collector_tokens_destroy(struct collector_tokens *t);
/*
 * Appends a copy of (name, value). FP_EINVAL if value is empty or longer
 * than COLLECTOR_TOKEN_MAX, FP_EDUPLICATE if name is taken, FP_ENOMEM.
 */
int collector_tokens_add(struct collector_tokens *t, const char *name,
			 const char *value);
/* Index of the token with this name, or -1. */
int collector_tokens_find(const struct collector_tokens *t, const char *name);

/*
 * 1 when token (NUL-terminated, NULL = absent) equals one of t's tokens,
 * else 0. An empty or NULL set accepts nothing: callers decide whether
 * authentication is on.
 */
int collector_tokens_match(const struct collector_tokens *t, const char *token);

/*
 * The server's check: 0 when no token is configured or token matches one,
 * FP_EAUTH otherwise. Takes c->auth_lock.
 */
int collector_auth_check(struct collector *c, const char *token);

#endif
