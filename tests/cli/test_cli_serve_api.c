/*
 * Unit test of the web API's request handling, without a database or a
 * server: query-string decoding (escapes, '+', UTF-8, limits) and how a
 * query becomes the command line of a query command — values can never
 * become options (a function named "--help" stays a function, a value
 * "--db=…" stays a value), and errors are the exact JSON the server sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_args.h"
#include "cli_serve_api.h"
#include "cli_serve_query.h"
#include "fp/error.h"

static void test_query_decoding(void **state)
{
	struct cli_query q;
	struct cli_error e;

	(void)state;
	cli_error_clear(&e);
	assert_int_equal(cli_query_parse(NULL, &q, &e), 0);
	assert_int_equal(q.n, 0);
	cli_query_fini(&q);
	assert_int_equal(
		cli_query_parse("a=1&&b=x+y%20z&c&d=%E2%82%AC=", &q, &e), 0);
	assert_int_equal(q.n, 4);
	assert_string_equal(q.p[0].name, "a");
	assert_string_equal(q.p[0].value, "1");
	assert_string_equal(q.p[1].value, "x y z");
	assert_string_equal(q.p[2].name, "c");
	assert_int_equal(q.p[2].has_value, 0);
	assert_string_equal(q.p[3].value, "\xe2\x82\xac=");
	cli_query_fini(&q);
	/* An escaped name is decoded too. */
	assert_int_equal(cli_query_parse("%68ost=x", &q, &e), 0);
	assert_string_equal(q.p[0].name, "host");
	cli_query_fini(&q);

	assert_int_equal(cli_query_parse("a=%4", &q, &e), FP_EINVAL);
	assert_string_equal(e.msg, "invalid percent-escape in the query");
	assert_int_equal(cli_query_parse("a=%g0", &q, &e), FP_EINVAL);
	assert_int_equal(cli_query_parse("&=1", &q, &e), FP_EINVAL);
	assert_string_equal(e.msg, "a query parameter has no name");
	assert_int_equal(cli_query_parse("%3D=1", &q, &e), 0); /* "=" */
	assert_string_equal(q.p[0].name, "=");
	cli_query_fini(&q);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(cli_utf8_valid("", 0));
	assert_true(cli_utf8_valid("plain ascii", 11));
	assert_true(cli_utf8_valid("\xc2\xb5s", 3));	    /* µs */
	assert_true(cli_utf8_valid("\xf0\x9f\x94\xa5", 4)); /* U+1F525 */
	assert_true(cli_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
	assert_false(cli_utf8_valid("a\0b", 3));	    /* NUL */
	assert_false(cli_utf8_valid("\xff", 1));
	assert_false(cli_utf8_valid("\x80", 1));	     /* continuation */
	assert_false(cli_utf8_valid("\xc3", 1));	     /* cut */
	assert_false(cli_utf8_valid("\xc0\xaf", 2));	     /* overlong */
	assert_false(cli_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
	assert_false(cli_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(cli_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void want_argv(const struct cli_api_call *c, const char *const *want)
{
	int n = 0;

	while (want[n] != NULL)
		n++;
	assert_int_equal(c->argc, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(c->argv[i], want[i]);
}

static void test_command_lines(void **state)
{
	struct cli_api_call c;
	struct cli_api_reply r = {0, NULL, 0};

	(void)state;
	/* Repeated hosts, an option-looking function name, the server's
	 * connection string last: the command line the CLI would get. */
	assert_int_equal(cli_api_prepare("top",
					 "host=web-*&host=db-1&function=-x&"
					 "since=1h&label=k%3Dv",
					 "dbname=fp", &c, &r),
			 0);
	{
		static const char *const want[] = {
			"top",		 "--host=web-*",   "--host=db-1",
			"--function=-x", "--since=1h",	   "--label=k=v",
			"--format=json", "--db=dbname=fp", NULL};
		want_argv(&c, want);
	}
	assert_int_equal(c.args.nhosts, 2);
	assert_string_equal(c.args.hosts[0], "web-*");
	assert_string_equal(c.args.function, "-x");
	assert_string_equal(c.args.labels[0], "k=v");
	assert_int_equal(c.args.format, CLI_FORMAT_JSON);
	assert_string_equal(c.args.db, "dbname=fp");
	cli_api_call_fini(&c);

	/* A value is a value: "--db=elsewhere" as since is not --db. */
	assert_int_equal(
		cli_api_prepare("top", "since=--db%3Delsewhere", NULL, &c, &r),
		0);
	assert_string_equal(c.args.since, "--db=elsewhere");
	assert_null(c.args.db);
	cli_api_call_fini(&c);

	/* A function named "--help" is the positional FN, not --help. */
	assert_int_equal(cli_api_prepare("timeline", "function=--help&step=1m",
					 NULL, &c, &r),
			 0);
	{
		static const char *const want[] = {"timeline",	    "--step=1m",
						   "--format=json", "--",
						   "--help",	    NULL};
		want_argv(&c, want);
	}
	assert_int_equal(c.args.help, 0);
	assert_string_equal(c.args.function, "--help");
	cli_api_call_fini(&c);

	/* flame with a function is `tree FN`; without, `flame`. */
	assert_int_equal(cli_api_prepare("flame", "function=handle&depth=2",
					 NULL, &c, &r),
			 0);
	assert_string_equal(c.cmd->name, "tree");
	assert_string_equal(c.args.function, "handle");
	assert_int_equal(c.args.depth, 2);
	cli_api_call_fini(&c);
	assert_int_equal(cli_api_prepare("flame", NULL, NULL, &c, &r), 0);
	assert_string_equal(c.cmd->name, "flame");
	cli_api_call_fini(&c);
	/* Defaults are the CLI's: 20 rows, tottime. */
	assert_int_equal(cli_api_prepare("top", "", NULL, &c, &r), 0);
	assert_int_equal(c.args.limit, 20);
	cli_api_call_fini(&c);
}

static void want_error(const char *ep, const char *query, int status,
		       const char *body)
{
	struct cli_api_call c;
	struct cli_api_reply r = {0, NULL, 0};

	assert_int_equal(cli_api_prepare(ep, query, NULL, &c, &r), -1);
	cli_api_call_fini(&c);
	assert_int_equal(r.status, status);
	assert_int_equal(r.len, strlen(body));
	assert_memory_equal(r.body, body, r.len);
	cli_api_reply_fini(&r);
}

static void test_errors(void **state)
{
	(void)state;
	want_error("top", "sort=up", 400,
		   "{\n  \"error\": \"unknown sort key 'up'\",\n"
		   "  \"hint\": \"use tottime, cumtime, ncalls, pcalls, "
		   "percall or cumpercall\"\n}\n");
	want_error("top", "verbose=1", 400,
		   "{\n  \"error\": \"unknown parameter 'verbose' for "
		   "/api/top\",\n"
		   "  \"hint\": \"/api/top takes: since, from, until, host, "
		   "service, label, clock, sort, group-by, function, match, "
		   "limit\"\n}\n");
	want_error("callees", "since=1h", 400,
		   "{\n  \"error\": \"missing parameter 'function'\",\n"
		   "  \"hint\": \"give the function's name: "
		   "/api/callees?function=NAME\"\n}\n");
	want_error("services", "clock=wall&clock=cpu", 400,
		   "{\n  \"error\": \"parameter 'clock' given twice\",\n"
		   "  \"hint\": \"give it once; only host and label may "
		   "repeat\"\n}\n");
	want_error("export", "", 404,
		   "{\n  \"error\": \"no such endpoint\",\n"
		   "  \"hint\": \"the API has /api/top, /api/flame, /api/diff, "
		   "/api/timeline, /api/callers, /api/callees, /api/hosts, "
		   "/api/services\"\n}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_decoding),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_command_lines),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
