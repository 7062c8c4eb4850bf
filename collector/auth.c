/*
 * Shared-token check (see auth.h). The comparison reads the same number of
 * bytes whatever the input: COLLECTOR_TOKEN_MAX per configured token, the
 * presented token copied into a zero-padded buffer first, so neither where
 * the first difference is nor which token matched changes the time taken.
 */
#include "auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct collector_tokens *collector_tokens_create(void)
{
	return calloc(1, sizeof(struct collector_tokens));
}

void collector_tokens_destroy(struct collector_tokens *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].name);
		/* Do not leave secrets in freed memory. */
		explicit_bzero(t->v[i].pad, sizeof(t->v[i].pad));
	}
	free(t->v);
	free(t);
}

int collector_tokens_find(const struct collector_tokens *t, const char *name)
{
	for (size_t i = 0; t != NULL && i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return (int)i;
	return -1;
}

int collector_tokens_add(struct collector_tokens *t, const char *name,
			 const char *value)
{
	size_t len = strlen(value);
	struct collector_token *tok;

	if (len == 0 || len > COLLECTOR_TOKEN_MAX)
		return FP_EINVAL;
	if (collector_tokens_find(t, name) >= 0)
		return FP_EDUPLICATE;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4;
		struct collector_token *v = realloc(t->v, cap * sizeof(*v));
		if (v == NULL)
			return FP_ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	tok = &t->v[t->n];
	memset(tok, 0, sizeof(*tok));
	tok->name = strdup(name);
	if (tok->name == NULL)
		return FP_ENOMEM;
	tok->len = len;
	memcpy(tok->pad, value, len);
	t->n++;
	return 0;
}

int collector_tokens_match(const struct collector_tokens *t, const char *token)
{
	unsigned char in[COLLECTOR_TOKEN_MAX];
	uint64_t matched = 0;
	size_t len;

	if (t == NULL || token == NULL)
		return 0;
	/* Only the presented length decides this branch, never a secret. */
	len = strnlen(token, COLLECTOR_TOKEN_MAX + 1);
	if (len == 0 || len > COLLECTOR_TOKEN_MAX)
		return 0;
	memset(in, 0, sizeof(in));
	memcpy(in, token, len);
	for (size_t i = 0; i < t->n; i++) {
		const unsigned char *p = t->v[i].pad;
		uint64_t diff = 0, lx = (uint64_t)(len ^ t->v[i].len);
		for (size_t j = 0; j < COLLECTOR_TOKEN_MAX; j++)
			diff |= (uint64_t)(in[j] ^ p[j]);
		/* Fold the length difference into the low 32 bits. */
		diff |= (lx | (lx >> 32)) & 0xffffffffu;
		/* 1 when diff == 0 (diff < 2^32, so no overflow tricks). */
		matched |= (diff - 1) >> 63;
	}
	explicit_bzero(in, sizeof(in));
	return (int)matched;
}

int collector_auth_check(struct collector *c, const char *token)
{
	int ok = 1;
	pthread_mutex_lock(&c->auth_lock);
	if (c->opt.tokens != NULL && c->opt.tokens->n > 0)
		ok = collector_tokens_match(c->opt.tokens, token);
	pthread_mutex_unlock(&c->auth_lock);
	return ok ? 0 : FP_EAUTH;
}
