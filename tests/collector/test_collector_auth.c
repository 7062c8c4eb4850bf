/*
 * The shared-token check (collector/auth.c): exact matches only — no
 * prefix, no extension, no empty or absent token — against every
 * configured token; the set's construction errors; and the server-side
 * wrapper that lets anyone in when no token is configured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"

static struct collector_tokens *make(void)
{
	struct collector_tokens *t = collector_tokens_create();
	assert_non_null(t);
	assert_int_equal(collector_tokens_add(t, "web", "s3cr3t-web"), 0);
	assert_int_equal(collector_tokens_add(t, "jobs", "jobs-token-2"), 0);
	return t;
}

static void test_match(void **state)
{
	struct collector_tokens *t = make();
	(void)state;

	assert_int_equal(collector_tokens_match(t, "s3cr3t-web"), 1);
	assert_int_equal(collector_tokens_match(t, "jobs-token-2"), 1);
	/* Prefixes and extensions of a token, in both directions. */
	assert_int_equal(collector_tokens_match(t, "s3cr3t-we"), 0);
	assert_int_equal(collector_tokens_match(t, "s"), 0);
	assert_int_equal(collector_tokens_match(t, "s3cr3t-web2"), 0);
	assert_int_equal(collector_tokens_match(t, "s3cr3t-web\n"), 0);
	assert_int_equal(collector_tokens_match(t, "jobs-token-"), 0);
	/* One byte off, case, and the two tokens run together. */
	assert_int_equal(collector_tokens_match(t, "s3cr3t-wec"), 0);
	assert_int_equal(collector_tokens_match(t, "S3CR3T-WEB"), 0);
	assert_int_equal(collector_tokens_match(t, "s3cr3t-webjobs-token-2"),
			 0);
	/* Empty and absent. */
	assert_int_equal(collector_tokens_match(t, ""), 0);
	assert_int_equal(collector_tokens_match(t, NULL), 0);
	assert_int_equal(collector_tokens_match(NULL, "s3cr3t-web"), 0);
	collector_tokens_destroy(t);
}

static void test_lengths(void **state)
{
	struct collector_tokens *t = collector_tokens_create();
	char max[COLLECTOR_TOKEN_MAX + 2];
	(void)state;

	memset(max, 'z', sizeof(max));
	max[COLLECTOR_TOKEN_MAX] = '\0';
	assert_int_equal(collector_tokens_add(t, "max", max), 0);
	assert_int_equal(collector_tokens_match(t, max), 1);
	/* Presented one byte longer than any token can be. */
	max[COLLECTOR_TOKEN_MAX] = 'z';
	max[COLLECTOR_TOKEN_MAX + 1] = '\0';
	assert_int_equal(collector_tokens_match(t, max), 0);
	assert_int_equal(collector_tokens_add(t, "long", max), FP_EINVAL);
	/* A token padded with what the comparison pads with is not equal:
	 * the lengths are part of the result. */
	assert_int_equal(collector_tokens_add(t, "short", "ab"), 0);
	assert_int_equal(collector_tokens_match(t, "ab"), 1);
	assert_int_equal(collector_tokens_match(t, "a"), 0);
	assert_int_equal(collector_tokens_add(t, "empty", ""), FP_EINVAL);
	assert_int_equal(collector_tokens_add(t, "short", "other"),
			 FP_EDUPLICATE);
	assert_int_equal(t->n, 2);
	assert_int_equal(collector_tokens_find(t, "short"), 1);
	assert_int_equal(collector_tokens_find(t, "nope"), -1);
	collector_tokens_destroy(t);
	collector_tokens_destroy(NULL);
}

static void test_auth_check(void **state)
{
	static struct collector c;
	struct collector_tokens *empty = collector_tokens_create();
	(void)state;

	memset(&c, 0, sizeof(c));
	collector_init(&c);
	/* No token configured: anyone, token or not. */
	assert_int_equal(collector_auth_check(&c, NULL), 0);
	assert_int_equal(collector_auth_check(&c, "anything"), 0);
	c.opt.tokens = empty;
	assert_int_equal(collector_auth_check(&c, NULL), 0);
	/* Tokens configured: only they. */
	c.opt.tokens = make();
	assert_int_equal(collector_auth_check(&c, NULL), FP_EAUTH);
	assert_int_equal(collector_auth_check(&c, ""), FP_EAUTH);
	assert_int_equal(collector_auth_check(&c, "s3cr3t"), FP_EAUTH);
	assert_int_equal(collector_auth_check(&c, "jobs-token-2"), 0);
	collector_tokens_destroy(c.opt.tokens);
	collector_tokens_destroy(empty);
	collector_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_auth_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
