/*
 * Unit tests of the fleetprof command without a database: option parsing,
 * window resolution, unit formatting, glob -> LIKE translation, the table /
 * JSON / CSV renderers and the messages of usage errors, all against exact
 * expected text. Commands run on memory streams (open_memstream).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_top.h"
#include "cli_units.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "storage/query.h"
#include "wire/batch.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MIN_NS (60 * FP_NS_PER_SEC)

static int64_t at(const char *rfc3339)
{
	int64_t ns = 0;
	assert_int_equal(fp_parse_time(rfc3339, 0, &ns), 0);
	return ns;
}

static void test_parse_defaults(void **state)
{
	char *argv[] = {"top"};
	struct cli_args a;
	struct cli_error e;
	(void)state;

	assert_int_equal(cli_args_parse(cli_cmd_top, ARGC(argv), argv, &a, &e),
			 0);
	assert_null(a.since);
	assert_null(a.from);
	assert_null(a.until);
	assert_int_equal(a.nhosts, 0);
	assert_null(a.service);
	assert_int_equal(a.sort, STORAGE_SORT_TOTTIME);
	assert_int_equal(a.limit, 20);
	assert_int_equal(a.format, CLI_FORMAT_TABLE);
	assert_null(a.db);
	assert_int_equal(a.clock, WIRE_CLOCK_WALL);
	assert_int_equal(a.verbose, 0);
	assert_int_equal(a.help, 0);
	cli_args_fini(&a);
}

static void test_parse_all(void **state)
{
	char *argv[] = {"top",		 "--since", "2h",
			"--host",	 "web-*",   "--host=db-?",
			"--service",	 "api",	    "--sort",
			"cumpercall",	 "--limit", "0",
			"--format=json", "--db",    "postgresql://u@h/db",
			"--clock",	 "cpu",	    "-v"};
	struct cli_args a;
	struct cli_error e;
	(void)state;

	assert_int_equal(cli_args_parse(cli_cmd_top, ARGC(argv), argv, &a, &e),
			 0);
	assert_string_equal(a.since, "2h");
	assert_int_equal(a.nhosts, 2);
	assert_string_equal(a.hosts[0], "web-*");
	assert_string_equal(a.hosts[1], "db-?");
	assert_string_equal(a.service, "api");
	assert_int_equal(a.sort, STORAGE_SORT_CUMPERCALL);
	assert_int_equal(a.limit, 0);
	assert_int_equal(a.format, CLI_FORMAT_JSON);
	assert_string_equal(a.db, "postgresql://u@h/db");
	assert_int_equal(a.clock, WIRE_CLOCK_CPU);
	assert_int_equal(a.verbose, 1);
	cli_args_fini(&a);
}

static void test_parse_negative_time_value(void **state)
{
	/* A value may start with '-' ("-2h"), just not with "--". */
	char *argv[] = {"top", "--from", "-2h", "--until", "-1h"};
	struct cli_args a;
	struct cli_error e;
	(void)state;

	assert_int_equal(cli_args_parse(cli_cmd_top, ARGC(argv), argv, &a, &e),
			 0);
	assert_string_equal(a.from, "-2h");
	assert_string_equal(a.until, "-1h");
	cli_args_fini(&a);
}

static void test_parse_help_stops(void **state)
{
	char *argv[] = {"top", "--help", "--bogus"};
	struct cli_args a;
	struct cli_error e;
	(void)state;

	assert_int_equal(cli_args_parse(cli_cmd_top, ARGC(argv), argv, &a, &e),
			 0);
	assert_int_equal(a.help, 1);
	cli_args_fini(&a);
}

/* Parsing argv must fail with exactly msg and hint. */
static void expect_parse_error(int argc, char **argv, const char *msg,
			       const char *hint)
{
	struct cli_args a;
	struct cli_error e;

	cli_error_clear(&e);
	assert_int_equal(cli_args_parse(cli_cmd_top, argc, argv, &a, &e),
			 FP_EINVAL);
	assert_string_equal(e.msg, msg);
	assert_string_equal(e.hint, hint);
}

static void test_parse_errors(void **state)
{
	static const char help[] = "run 'fleetprof top --help' for the options";
	char *unknown[] = {"top", "--bogus"};
	char *unknown_eq[] = {"top", "--sorting=tottime"};
	char *positional[] = {"top", "web-1"};
	char *after_dashes[] = {"top", "--", "x"};
	char *missing[] = {"top", "--limit"};
	char *swallow[] = {"top", "--host", "--service", "api"};
	char *no_value[] = {"top", "--verbose=1"};
	char *sort[] = {"top", "--sort", "time"};
	char *format[] = {"top", "--format", "xml"};
	char *clock[] = {"top", "--clock", "gpu"};
	char *limit[] = {"top", "--limit", "-1"};
	char *limit2[] = {"top", "--limit", "5x"};
	char *host[] = {"top", "--host", ""};
	char *service[] = {"top", "--service="};
	(void)state;

	expect_parse_error(ARGC(unknown), unknown, "unknown option '--bogus'",
			   help);
	expect_parse_error(ARGC(unknown_eq), unknown_eq,
			   "unknown option '--sorting=tottime'", help);
	expect_parse_error(ARGC(positional), positional,
			   "unexpected argument 'web-1'", help);
	expect_parse_error(ARGC(after_dashes), after_dashes,
			   "unexpected argument 'x'", help);
	expect_parse_error(ARGC(missing), missing,
			   "option '--limit' needs a value", help);
	expect_parse_error(ARGC(swallow), swallow,
			   "option '--host' needs a value", help);
	expect_parse_error(ARGC(no_value), no_value,
			   "option '--verbose' takes no value", help);
	expect_parse_error(ARGC(sort), sort, "unknown sort key 'time'",
			   "use tottime, cumtime, ncalls, pcalls, percall or "
			   "cumpercall");
	expect_parse_error(ARGC(format), format, "unknown format 'xml'",
			   "use table, json or csv");
	expect_parse_error(ARGC(clock), clock, "unknown clock 'gpu'",
			   "use wall or cpu");
	expect_parse_error(ARGC(limit), limit, "invalid limit '-1'",
			   "give a whole number of functions (0: all)");
	expect_parse_error(ARGC(limit2), limit2, "invalid limit '5x'",
			   "give a whole number of functions (0: all)");
	expect_parse_error(ARGC(host), host, "empty host pattern",
			   "give a host name or a glob such as 'web-*'");
	expect_parse_error(ARGC(service), service, "empty service name",
			   "leave out --service for every service");
}

static void test_parse_limit(void **state)
{
	long v = -7;
	(void)state;

	assert_int_equal(cli_parse_limit("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cli_parse_limit("20", &v), 0);
	assert_int_equal(v, 20);
	v = -7;
	assert_int_equal(cli_parse_limit("", &v), FP_EINVAL);
	assert_int_equal(cli_parse_limit("+3", &v), FP_EINVAL);
	assert_int_equal(cli_parse_limit(" 3", &v), FP_EINVAL);
	assert_int_equal(cli_parse_limit("99999999999999999999", &v),
			 FP_EINVAL);
	assert_int_equal(v, -7);
}

static void test_window(void **state)
{
	const int64_t now = at("2026-11-24T10:07:30Z");
	struct cli_window w;
	struct cli_error e;
	(void)state;

	assert_int_equal(cli_window_resolve(NULL, NULL, NULL, now, &w, &e), 0);
	assert_int_equal(w.from_ns, now - 15 * MIN_NS);
	assert_int_equal(w.until_ns, now);

	assert_int_equal(cli_window_resolve("2h", NULL, NULL, now, &w, &e), 0);
	assert_int_equal(w.from_ns, now - 120 * MIN_NS);
	assert_int_equal(w.until_ns, now);

	assert_int_equal(cli_window_resolve(NULL, "2026-11-24T09:00:00Z", NULL,
					    now, &w, &e),
			 0);
	assert_int_equal(w.from_ns, at("2026-11-24T09:00:00Z"));
	assert_int_equal(w.until_ns, now);

	/* --until alone: the 15 minutes before it. */
	assert_int_equal(cli_window_resolve(NULL, NULL, "2026-11-24T10:00:00Z",
					    now, &w, &e),
			 0);
	assert_int_equal(w.from_ns, at("2026-11-24T09:45:00Z"));
	assert_int_equal(w.until_ns, at("2026-11-24T10:00:00Z"));

	/* Relative times are relative to now, not to each other. */
	assert_int_equal(cli_window_resolve(NULL, "3h", "1h ago", now, &w, &e),
			 0);
	assert_int_equal(w.from_ns, now - 180 * MIN_NS);
	assert_int_equal(w.until_ns, now - 60 * MIN_NS);
}

static void expect_window_error(const char *since, const char *from,
				const char *until, const char *msg,
				const char *hint)
{
	const int64_t now = at("2026-11-24T10:07:30Z");
	struct cli_window w = {1, 2};
	struct cli_error e;

	cli_error_clear(&e);
	assert_int_equal(cli_window_resolve(since, from, until, now, &w, &e),
			 FP_EINVAL);
	assert_string_equal(e.msg, msg);
	assert_string_equal(e.hint, hint);
	assert_int_equal(w.from_ns, 1); /* untouched */
	assert_int_equal(w.until_ns, 2);
}

static void test_window_errors(void **state)
{
	static const char both[] =
		"give either --since DURATION or --from TIME [--until TIME]";
	static const char time_hint[] =
		"use RFC 3339 (2026-11-24T10:00:00Z), a date (2026-11-24), "
		"'now' or a time ago (2h, '30m ago')";
	(void)state;

	expect_window_error("1h", "2h", NULL,
			    "--since cannot be combined with --from", both);
	expect_window_error("1h", NULL, "now",
			    "--since cannot be combined with --until", both);
	expect_window_error("15 minutes", NULL, NULL,
			    "invalid duration '15 minutes' for --since",
			    "use a number and a unit: 90s, 15m, 2h, 1d, 1h30m");
	expect_window_error(NULL, "yesterday", NULL,
			    "invalid time 'yesterday' for --from", time_hint);
	expect_window_error(NULL, NULL, "2026-13-01",
			    "invalid time '2026-13-01' for --until", time_hint);
	expect_window_error(NULL, "2026-11-24T10:00:00Z",
			    "2026-11-24T09:00:00Z",
			    "empty window: 2026-11-24T10:00:00Z is not before "
			    "2026-11-24T09:00:00Z",
			    "--from must be earlier than --until");
	expect_window_error(NULL, "2026-11-24T10:00:00Z",
			    "2026-11-24T10:00:00Z",
			    "empty window: 2026-11-24T10:00:00Z is not before "
			    "2026-11-24T10:00:00Z",
			    "--from must be earlier than --until");
}

static void test_buckets(void **state)
{
	(void)state;
	assert_int_equal(storage_bucket_floor(at("2026-11-24T10:07:30Z")),
			 at("2026-11-24T10:07:00Z"));
	assert_int_equal(storage_bucket_ceil(at("2026-11-24T10:07:30Z")),
			 at("2026-11-24T10:08:00Z"));
	assert_int_equal(storage_bucket_floor(at("2026-11-24T10:07:00Z")),
			 at("2026-11-24T10:07:00Z"));
	assert_int_equal(storage_bucket_ceil(at("2026-11-24T10:07:00Z")),
			 at("2026-11-24T10:07:00Z"));
	assert_int_equal(storage_bucket_ceil(at("2026-11-24T10:07:00Z") + 1),
			 at("2026-11-24T10:08:00Z"));
	/* Before the epoch the floor still goes down. */
	assert_int_equal(storage_bucket_floor(-1), -MIN_NS);
	assert_int_equal(storage_bucket_ceil(-1), 0);
	assert_int_equal(storage_bucket_floor(-MIN_NS), -MIN_NS);
}

static void expect_tier(const char *from, const char *until, int tier,
			const char *want_from, const char *want_until)
{
	int64_t now = at("2026-11-24T12:00:00Z"), f = 0, u = 0;
	int t = -1;
	storage_tier_choose(at(from), at(until), now, &t, &f, &u);
	assert_int_equal(t, tier);
	assert_int_equal(f, at(want_from));
	assert_int_equal(u, at(want_until));
}

/* Tier by window length and age, widened to whole buckets of it. */
static void test_tiers(void **state)
{
	(void)state;
	expect_tier("2026-11-24T11:44:30Z", "2026-11-24T11:59:30Z",
		    STORAGE_TIER_RAW, "2026-11-24T11:44:00Z",
		    "2026-11-24T12:00:00Z");
	expect_tier("2026-11-24T11:01:00Z", "2026-11-24T11:59:59Z",
		    STORAGE_TIER_RAW, "2026-11-24T11:01:00Z",
		    "2026-11-24T12:00:00Z");
	expect_tier("2026-11-24T10:55:00Z", "2026-11-24T11:55:00Z",
		    STORAGE_TIER_10M, "2026-11-24T10:50:00Z",
		    "2026-11-24T12:00:00Z");
	expect_tier("2026-11-24T06:00:01Z", "2026-11-24T12:00:00Z",
		    STORAGE_TIER_10M, "2026-11-24T06:00:00Z",
		    "2026-11-24T12:00:00Z");
	expect_tier("2026-11-24T05:55:00Z", "2026-11-24T11:55:00Z",
		    STORAGE_TIER_1H, "2026-11-24T05:00:00Z",
		    "2026-11-24T12:00:00Z");
	/* Older than the raw retention: the 1 h tier, however short. */
	expect_tier("2026-11-10T10:55:00Z", "2026-11-10T11:05:00Z",
		    STORAGE_TIER_1H, "2026-11-10T10:00:00Z",
		    "2026-11-10T12:00:00Z");
	expect_tier("2026-11-21T11:30:00Z", "2026-11-24T12:00:00Z",
		    STORAGE_TIER_SPAN, "2026-11-21T11:00:00Z",
		    "2026-11-24T12:00:00Z");
	assert_string_equal(storage_tier_name(STORAGE_TIER_10M), "rollup");
	assert_int_equal(storage_tier_bucket_ns(STORAGE_TIER_10M),
			 600 * FP_NS_PER_SEC);
	assert_null(storage_tier_name(STORAGE_TIER_COUNT_));
}

static void expect_duration(double ns, const char *want)
{
	char buf[CLI_UNITS_BUFLEN];
	cli_format_duration(ns, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_units(void **state)
{
	char buf[CLI_UNITS_BUFLEN], tiny[4];
	(void)state;

	expect_duration(0, "0s");
	expect_duration(1, "1.00ns");
	expect_duration(7.5, "7.50ns");
	expect_duration(12.34, "12.3ns");
	expect_duration(999, "999ns");
	expect_duration(999.7, "1.00\xc2\xb5s"); /* not 1000ns */
	expect_duration(2280, "2.28\xc2\xb5s");
	expect_duration(456000, "456\xc2\xb5s");
	expect_duration(999700, "1.00ms");
	expect_duration(12.3e6, "12.3ms");
	expect_duration(999.4e6, "999ms");
	expect_duration(999.6e6, "1.000s");
	expect_duration(1.234e9, "1.234s");
	expect_duration(61e9, "61.000s");
	expect_duration(-1, "-");
	expect_duration(0.0 / 0.0, "-");
	expect_duration(1.0 / 0.0, "-");

	cli_format_duration(1.234e9, tiny, sizeof(tiny));
	assert_string_equal(tiny, "1.2"); /* truncated, terminated */

	cli_format_ncalls(12, 12, buf, sizeof(buf));
	assert_string_equal(buf, "12");
	cli_format_ncalls(120, 20, buf, sizeof(buf));
	assert_string_equal(buf, "120/20");
	cli_format_ncalls(UINT64_MAX, 1, buf, sizeof(buf));
	assert_string_equal(buf, "18446744073709551615/1");

	assert_int_equal(cli_display_width("456\xc2\xb5s"), 5);
	assert_int_equal(cli_display_width("tottime"), 7);
	assert_int_equal(cli_display_width(""), 0);
}

static void expect_like(const char *glob, const char *want)
{
	char buf[64];
	assert_int_equal(storage_glob_to_like(glob, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_glob_to_like(void **state)
{
	char buf[8];
	(void)state;

	expect_like("web-1", "web-1");
	expect_like("web-*", "web-%");
	expect_like("db-?", "db-_");
	expect_like("*.prod.*", "%.prod.%");
	expect_like("a_b%c\\d", "a\\_b\\%c\\\\d");
	expect_like("100%_*", "100\\%\\_%");
	expect_like("", "");

	/* Exactly enough room, then one byte short. */
	assert_int_equal(storage_glob_to_like("a_", buf, 4), 0);
	assert_string_equal(buf, "a\\_");
	assert_int_equal(storage_glob_to_like("a_", buf, 3), FP_ELIMIT);
	assert_string_equal(buf, "");
	assert_int_equal(storage_glob_to_like("abc", buf, 3), FP_ELIMIT);
	assert_int_equal(storage_glob_to_like(NULL, buf, 3), FP_EINVAL);
}

static void test_sort_names(void **state)
{
	static const char *const names[] = {"tottime", "cumtime", "ncalls",
					    "pcalls",  "percall", "cumpercall"};
	(void)state;

	for (int i = 0; i < ARGC(names); i++) {
		assert_int_equal(storage_sort_parse(names[i]), i);
		assert_string_equal(storage_sort_name(i), names[i]);
	}
	assert_int_equal(storage_sort_parse("TOTTIME"), -1);
	assert_int_equal(storage_sort_parse(""), -1);
	assert_null(storage_sort_name(STORAGE_SORT_COUNT_));
	assert_null(storage_sort_name(-1));
}

/* Runs cli_main on memory streams; returns the exit status. */
static int run_main(int argc, char **argv, char **out, char **err)
{
	size_t olen, elen;
	FILE *o = open_memstream(out, &olen);
	FILE *e = open_memstream(err, &elen);
	int status;

	assert_non_null(o);
	assert_non_null(e);
	status = cli_main(argc, argv, o, e);
	fclose(o);
	fclose(e);
	return status;
}

static void test_main_dispatch(void **state)
{
	char *version[] = {"fleetprof", "--version"};
	char *help[] = {"fleetprof", "--help"};
	char *none[] = {"fleetprof"};
	char *bad[] = {"fleetprof", "frob"};
	char *badopt[] = {"fleetprof", "--frob"};
	char *out, *err;
	(void)state;

	assert_int_equal(run_main(ARGC(version), version, &out, &err), 0);
	assert_string_equal(out, "fleetprof " FP_VERSION "\n");
	assert_string_equal(err, "");
	free(out);
	free(err);

	assert_int_equal(run_main(ARGC(help), help, &out, &err), 0);
	assert_non_null(strstr(out, "usage: fleetprof <command> [options]\n"));
	assert_non_null(strstr(out, "  top "));
	assert_string_equal(err, "");
	free(out);
	free(err);

	assert_int_equal(run_main(ARGC(none), none, &out, &err), 2);
	assert_string_equal(out, "");
	assert_non_null(strstr(err, "usage: fleetprof <command>"));
	free(out);
	free(err);

	assert_int_equal(run_main(ARGC(bad), bad, &out, &err), 2);
	assert_string_equal(out, "");
	assert_string_equal(err, "fleetprof: error: unknown command 'frob'\n"
				 "hint: run 'fleetprof --help' for the "
				 "commands\n");
	free(out);
	free(err);

	assert_int_equal(run_main(ARGC(badopt), badopt, &out, &err), 2);
	assert_string_equal(err, "fleetprof: error: unknown option '--frob'\n"
				 "hint: run 'fleetprof --help' for the "
				 "commands\n");
	free(out);
	free(err);
}

static void test_top_usage_errors(void **state)
{
	/* Usage errors are found before any connection is attempted. */
	char *both[] = {"fleetprof", "top", "--since", "1h",
			"--from",    "2h",  "--db",    "host=/nonexistent"};
	char *help[] = {"fleetprof", "top", "--help"};
	char *out, *err;
	(void)state;

	assert_int_equal(run_main(ARGC(both), both, &out, &err), 2);
	assert_string_equal(out, "");
	assert_string_equal(err, "fleetprof: error: --since cannot be "
				 "combined with --from\n"
				 "hint: give either --since DURATION or "
				 "--from TIME [--until TIME]\n");
	free(out);
	free(err);

	assert_int_equal(run_main(ARGC(help), help, &out, &err), 0);
	assert_string_equal(out, cli_top_usage);
	assert_string_equal(err, "");
	free(out);
	free(err);
}

/* Three rows covering file:line, module only, recursion and µs. */
static char s_parse[] = "parse", s_parse_file[] = "app/parse.c",
	    s_app[] = "app", s_walk[] = "walk", s_tree[] = "app/tree.c",
	    s_find[] = "std::map<int, \"k\">::find", s_empty[] = "",
	    s_libc[] = "libstdc++.so.6", s_evil[] = "evil\x1b[2J";

static const struct storage_top_row rows3[] = {
	{s_parse, s_parse_file, 42, s_app, 300, 300, 1.5e9, 2.25e9, 3, 0},
	{s_walk, s_tree, 7, s_app, 120, 20, 12.36e6, 456e6, 2, 0},
	{s_find, s_empty, 0, s_libc, 5, 5, 2280, 2280, 1, 0},
};

static char *render(int format, const struct storage_top_row *rows, size_t n,
		    uint64_t nhosts)
{
	struct cli_top_result r = {
		.from_ns = at("2026-11-24T10:00:00Z"),
		.until_ns = at("2026-11-24T10:15:00Z"),
		.nhosts = nhosts,
		.clock = WIRE_CLOCK_WALL,
		.sort = STORAGE_SORT_TOTTIME,
		.rows = rows,
		.n = n,
	};
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(cli_top_write(f, format, &r), 0);
	fclose(f);
	return buf;
}

static void test_render_table(void **state)
{
	static const char want[] =
		"window 2026-11-24T10:00:00Z .. 2026-11-24T10:15:00Z "
		"(raw tier, 60 s buckets), 3 hosts\n"
		"wall clock, ordered by tottime\n"
		"\n"
		"ncalls  tottime  percall  cumtime  percall  hosts  "
		"function (file:line)\n"
		"   300   1.500s   5.00ms   2.250s   7.50ms      3  "
		"parse (app/parse.c:42)\n"
		"120/20   12.4ms    103\xc2\xb5s    456ms   22.8ms      2  "
		"walk (app/tree.c:7)\n"
		"     5   2.28\xc2\xb5s    456ns   2.28\xc2\xb5s    456ns      "
		"1  "
		"std::map<int, \"k\">::find (libstdc++.so.6)\n";
	static const char want_empty[] =
		"window 2026-11-24T10:00:00Z .. 2026-11-24T10:15:00Z "
		"(raw tier, 60 s buckets), 1 host\n"
		"wall clock, ordered by tottime\n"
		"\n"
		"no calls recorded in this window\n";
	struct storage_top_row evil = {s_evil, s_empty, 0, s_empty, 0,
				       0,      0,	0, 1,	    0};
	char *t;
	(void)state;

	t = render(CLI_FORMAT_TABLE, rows3, 3, 3);
	assert_string_equal(t, want);
	free(t);

	t = render(CLI_FORMAT_TABLE, NULL, 0, 1);
	assert_string_equal(t, want_empty);
	free(t);

	/* No escape sequence reaches the terminal; 0 calls: no per-call. */
	t = render(CLI_FORMAT_TABLE, &evil, 1, 1);
	assert_non_null(strstr(t, "     0       0s        -       0s        -"
				  "      1  evil?[2J\n"));
	free(t);
}

static void test_render_json(void **state)
{
	static const char want[] =
		"[\n"
		"  {\n"
		"    \"function\": \"parse\",\n"
		"    \"file\": \"app/parse.c\",\n"
		"    \"line\": 42,\n"
		"    \"module\": \"app\",\n"
		"    \"ncalls\": 300,\n"
		"    \"pcalls\": 300,\n"
		"    \"tottime_s\": 1.5,\n"
		"    \"cumtime_s\": 2.25,\n"
		"    \"hosts\": 3\n"
		"  },\n"
		"  {\n"
		"    \"function\": \"walk\",\n"
		"    \"file\": \"app/tree.c\",\n"
		"    \"line\": 7,\n"
		"    \"module\": \"app\",\n"
		"    \"ncalls\": 120,\n"
		"    \"pcalls\": 20,\n"
		"    \"tottime_s\": 0.01236,\n"
		"    \"cumtime_s\": 0.456,\n"
		"    \"hosts\": 2\n"
		"  },\n"
		"  {\n"
		"    \"function\": \"std::map<int, \\\"k\\\">::find\",\n"
		"    \"file\": \"\",\n"
		"    \"line\": 0,\n"
		"    \"module\": \"libstdc++.so.6\",\n"
		"    \"ncalls\": 5,\n"
		"    \"pcalls\": 5,\n"
		"    \"tottime_s\": 2.28e-6,\n"
		"    \"cumtime_s\": 2.28e-6,\n"
		"    \"hosts\": 1\n"
		"  }\n"
		"]\n";
	char *t;
	(void)state;

	t = render(CLI_FORMAT_JSON, rows3, 3, 3);
	assert_string_equal(t, want);
	free(t);
	t = render(CLI_FORMAT_JSON, NULL, 0, 0);
	assert_string_equal(t, "[]\n");
	free(t);
}

static void test_render_csv(void **state)
{
	static const char want[] =
		"function,file,line,module,ncalls,pcalls,tottime_s,cumtime_s,"
		"hosts\n"
		"parse,app/parse.c,42,app,300,300,1.500000000,2.250000000,3\n"
		"walk,app/tree.c,7,app,120,20,0.012360000,0.456000000,2\n"
		"\"std::map<int, \"\"k\"\">::find\",,0,libstdc++.so.6,5,5,"
		"0.000002280,0.000002280,1\n";
	char *t;
	(void)state;

	t = render(CLI_FORMAT_CSV, rows3, 3, 3);
	assert_string_equal(t, want);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_all),
		cmocka_unit_test(test_parse_negative_time_value),
		cmocka_unit_test(test_parse_help_stops),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_limit),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_window_errors),
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_tiers),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_glob_to_like),
		cmocka_unit_test(test_sort_names),
		cmocka_unit_test(test_main_dispatch),
		cmocka_unit_test(test_top_usage_errors),
		cmocka_unit_test(test_render_table),
		cmocka_unit_test(test_render_json),
		cmocka_unit_test(test_render_csv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
