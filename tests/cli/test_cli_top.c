/*
 * Integration test of `fleetprof top`: a scratch database (created from the
 * admin URL in FLEETPROF_TEST_DB, dropped at the end) is loaded through the
 * collector's real write path (storage_merge) with hand-built batches from
 * three hosts, then the real build/bin/fleetprof runs under popen and its
 * JSON, CSV and table output, exit status and stderr are checked exactly.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fp_test.h"
#include <jansson.h>
#include <libpq-fe.h>

#include "fp/timeutil.h"
#include "storage/query.h"
#include "storage/storage.h"
#include "wire/batch.h"

#define MIN_NS (60 * FP_NS_PER_SEC)
#define MS (FP_NS_PER_MS)

/* The functions every host shares (same identity -> same functions.id). */
enum { F_MAIN, F_HANDLE, F_PARSE, F_FIB, F_QUERY, F_FIND, NFN };

static const struct wire_fn fn_defs[NFN] = {
	[F_MAIN] = {0, "main", "src/main.c", 10, "app"},
	[F_HANDLE] = {0, "handle_request", "src/http.c", 120, "app"},
	[F_PARSE] = {0, "parse_json", "src/json.c", 33, "app"},
	[F_FIB] = {0, "fib", "src/math.c", 5, "app"},
	[F_QUERY] = {0, "run_query", "src/db.c", 77, "db"},
	[F_FIND] = {0, "std::map<int, int>::find", "", 0, "libstdc++.so.6"},
};

struct stat_def {
	int fn; /* F_* */
	uint64_t ncalls, pcalls, tottime_ns, cumtime_ns;
};

struct ctx {
	char *conninfo; /* of the scratch database */
	char bindir[512];
	int64_t t;		  /* the bucket most data is in */
	char from[32], until[32]; /* --from T-1m --until T+3m */
	char old_from[32];	  /* T-3h: includes the old bucket */
};

/* One batch of fstats from (host, service, clock) in the bucket at t. */
static void merge_batch(struct storage_writer *w, const char *host,
			const char *service, int clock, uint8_t agent,
			uint64_t seq, int64_t t, const struct stat_def *st,
			uint32_t n)
{
	struct wire_fn fns[NFN];
	struct wire_fstat fstats[NFN];
	struct wire_batch b;
	struct storage_merge_item item = {&b, -1, 0};

	assert_true(n <= NFN);
	memset(&b, 0, sizeof(b));
	b.version = WIRE_VERSION;
	b.agent.id[0] = agent;
	b.agent.host = host;
	b.agent.service = service;
	b.agent.lang = "c";
	b.agent.pid = 1000 + agent;
	b.agent.start_ns = t - 3600 * FP_NS_PER_SEC;
	b.seq = seq;
	b.t0 = t + 5 * FP_NS_PER_SEC;
	b.t1 = t + 55 * FP_NS_PER_SEC;
	b.clock = clock;
	for (uint32_t i = 0; i < n; i++) {
		fns[i] = fn_defs[st[i].fn];
		fns[i].id = i + 1;
		fstats[i] =
			(struct wire_fstat){i + 1, st[i].ncalls, st[i].pcalls,
					    st[i].tottime_ns, st[i].cumtime_ns};
	}
	b.fns = fns;
	b.nfns = n;
	b.fstats = fstats;
	b.nfstats = n;
	assert_int_equal(storage_merge(w, &item, 1, NULL), 0);
	assert_int_equal(item.dup, 0);
}

static void load(struct ctx *c, PGconn *conn)
{
	const int64_t t = c->t;
	const struct stat_def web1[] = {
		{F_MAIN, 1, 1, 1 * MS, 900 * MS},
		{F_HANDLE, 100, 100, 50 * MS, 600 * MS},
		{F_PARSE, 1000, 1000, 300 * MS, 300 * MS},
		{F_FIB, 500, 50, 40 * MS, 40 * MS},
	};
	const struct stat_def web2_t[] = {
		{F_MAIN, 1, 1, 2 * MS, 800 * MS},
		{F_HANDLE, 200, 200, 60 * MS, 500 * MS},
		{F_PARSE, 500, 500, 200 * MS, 200 * MS},
	};
	const struct stat_def web2_t1[] = {
		{F_PARSE, 250, 250, 100 * MS, 100 * MS},
		{F_FIND, 3, 3, 3000, 3000},
	};
	const struct stat_def db1[] = {
		{F_MAIN, 1, 1, MS / 2, 700 * MS},
		{F_QUERY, 50, 50, 400 * MS, 650 * MS},
		{F_PARSE, 250, 250, 50 * MS, 50 * MS},
	};
	/* Outside the window of most tests: two hours earlier. */
	const struct stat_def web1_old[] = {
		{F_PARSE, 1000000, 1000000, 9000 * MS, 9000 * MS},
	};
	/* Same host, other clock: never mixed into wall numbers. */
	const struct stat_def web1_cpu[] = {
		{F_PARSE, 7, 7, 7000, 7000},
	};
	struct storage_writer *w;

	assert_int_equal(storage_migrate(conn), 0);
	assert_int_equal(storage_writer_create(conn, &w), 0);
	merge_batch(w, "web-1", "api", WIRE_CLOCK_WALL, 1, 1, t - 120 * MIN_NS,
		    web1_old, 1);
	merge_batch(w, "web-1", "api", WIRE_CLOCK_WALL, 1, 2, t, web1, 4);
	merge_batch(w, "web-2", "api", WIRE_CLOCK_WALL, 2, 1, t, web2_t, 3);
	merge_batch(w, "web-2", "api", WIRE_CLOCK_WALL, 2, 2, t + MIN_NS,
		    web2_t1, 2);
	merge_batch(w, "db-1", "db", WIRE_CLOCK_WALL, 3, 1, t, db1, 3);
	merge_batch(w, "web-1", "api", WIRE_CLOCK_CPU, 4, 1, t, web1_cpu, 1);
	storage_writer_destroy(w); /* closes conn */
}

static int setup(void **state)
{
	char url[1024];
	const char *bindir = getenv("FP_BIN_DIR");
	struct ctx *c = calloc(1, sizeof(*c));
	PGconn *conn = NULL;
	char errbuf[256];

	if (c == NULL)
		return -1;
	*state = c;
	if (bindir == NULL) {
		fprintf(stderr, "FP_BIN_DIR is not set (run through ctest)\n");
		return -1;
	}
	snprintf(c->bindir, sizeof(c->bindir), "%s", bindir);
	if (fp_test_db_create("cli", url, sizeof(url)) != 0)
		return -1;
	c->conninfo = strdup(url);
	if (c->conninfo == NULL)
		return -1;
	if (storage_connect(c->conninfo, &conn, errbuf, sizeof(errbuf)) != 0) {
		fprintf(stderr, "cannot connect to %s: %s\n", c->conninfo,
			errbuf);
		return -1;
	}
	/* Five minutes ago: inside "--since 10m" even a minute from now. */
	c->t = storage_bucket_floor(fp_wall_ns()) - 5 * MIN_NS;
	fp_format_time(c->t - MIN_NS, c->from, sizeof(c->from));
	fp_format_time(c->t + 3 * MIN_NS, c->until, sizeof(c->until));
	fp_format_time(c->t - 180 * MIN_NS, c->old_from, sizeof(c->old_from));
	load(c, conn);
	/* The binary finds the database the way users do. */
	setenv("FLEETPROF_DB", c->conninfo, 1);
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->conninfo != NULL)
		fp_test_db_drop();
	free(c->conninfo);
	free(c);
	return 0;
}

/* main() has checked FLEETPROF_TEST_DB: setup made the database. */
static struct ctx *ctx_or_skip(void **state)
{
	return *state;
}

/* Runs `fleetprof top <args>`; args is shell text made by the test. */
static void run_top(struct ctx *c, const char *args, struct fp_test_output *r)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "'%s/fleetprof' top %s", c->bindir, args);
	fp_test_capture(cmd, r);
}

/* Runs with --format json; the whole of stdout must be one JSON array. */
static json_t *run_json(struct ctx *c, const char *args)
{
	char full[1024];
	json_error_t jerr;
	struct fp_test_output r;
	json_t *j;

	snprintf(full, sizeof(full), "--format json %s", args);
	run_top(c, full, &r);
	if (r.status != 0)
		fail_msg("exit %d: %s", r.status, r.err);
	assert_string_equal(r.err, "");
	j = json_loads(r.out, 0, &jerr);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", jerr.text, r.out);
	assert_true(json_is_array(j));
	fp_test_output_free(&r);
	return j;
}

struct want {
	const char *function;
	uint64_t ncalls, pcalls;
	double tottime_s, cumtime_s;
	uint64_t hosts;
};

/* Each row exactly: the nine keys, the function's identity, the sums. */
static void check_rows(json_t *arr, const struct want *w, size_t n)
{
	assert_int_equal(json_array_size(arr), n);
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, i);
		const char *name =
			json_string_value(json_object_get(o, "function"));
		const struct wire_fn *def = NULL;

		assert_non_null(name);
		assert_string_equal(name, w[i].function);
		for (int k = 0; k < NFN; k++)
			if (strcmp(fn_defs[k].name, name) == 0)
				def = &fn_defs[k];
		assert_non_null(def);
		assert_int_equal(json_object_size(o), 9);
		assert_string_equal(
			json_string_value(json_object_get(o, "file")),
			def->file);
		assert_int_equal(json_integer_value(json_object_get(o, "line")),
				 def->line);
		assert_string_equal(
			json_string_value(json_object_get(o, "module")),
			def->module);
		assert_int_equal(
			json_integer_value(json_object_get(o, "ncalls")),
			w[i].ncalls);
		assert_int_equal(
			json_integer_value(json_object_get(o, "pcalls")),
			w[i].pcalls);
		assert_true(json_is_real(json_object_get(o, "tottime_s")));
		if (json_real_value(json_object_get(o, "tottime_s")) !=
		    w[i].tottime_s)
			fail_msg("%s tottime_s %.17g, want %.17g", name,
				 json_real_value(
					 json_object_get(o, "tottime_s")),
				 w[i].tottime_s);
		if (json_real_value(json_object_get(o, "cumtime_s")) !=
		    w[i].cumtime_s)
			fail_msg("%s cumtime_s %.17g, want %.17g", name,
				 json_real_value(
					 json_object_get(o, "cumtime_s")),
				 w[i].cumtime_s);
		assert_int_equal(
			json_integer_value(json_object_get(o, "hosts")),
			w[i].hosts);
	}
}

/* The whole fleet over [T-1m, T+3m), wall clock. */
static const struct want w_parse = {"parse_json", 2000, 2000, 0.65, 0.65, 3};
static const struct want w_query = {"run_query", 50, 50, 0.4, 0.65, 1};
static const struct want w_handle = {"handle_request", 300, 300, 0.11, 1.1, 2};
static const struct want w_fib = {"fib", 500, 50, 0.04, 0.04, 1};
static const struct want w_main = {"main", 3, 3, 0.0035, 2.4, 3};
static const struct want w_find = {
	"std::map<int, int>::find", 3, 3, 3e-6, 3e-6, 1};

static void check_sort(struct ctx *c, const char *sort,
		       const struct want *const *order)
{
	struct want w[6];
	char args[256];
	json_t *j;

	for (int i = 0; i < 6; i++)
		w[i] = *order[i];
	snprintf(args, sizeof(args), "--from %s --until %s --sort %s", c->from,
		 c->until, sort);
	j = run_json(c, args);
	check_rows(j, w, 6);
	json_decref(j);
}

static void test_sorts(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	const struct want *tottime[] = {&w_parse, &w_query, &w_handle,
					&w_fib,	  &w_main,  &w_find};
	/* parse_json and run_query tie at 650 ms: by name. */
	const struct want *cumtime[] = {&w_main,  &w_handle, &w_parse,
					&w_query, &w_fib,    &w_find};
	/* main and std::map tie at 3 calls: by name. */
	const struct want *ncalls[] = {&w_parse, &w_fib,  &w_handle,
				       &w_query, &w_main, &w_find};
	/* fib and run_query tie at 50 primitive calls. */
	const struct want *pcalls[] = {&w_parse, &w_handle, &w_fib,
				       &w_query, &w_main,   &w_find};
	/* 8 ms, 1.17 ms, 367 µs, 325 µs, 80 µs, 1 µs per call. */
	const struct want *percall[] = {&w_query, &w_main, &w_handle,
					&w_parse, &w_fib,  &w_find};
	/* 800 ms, 13 ms, 3.67 ms, 800 µs, 325 µs, 1 µs per primitive call. */
	const struct want *cumpercall[] = {&w_main, &w_query, &w_handle,
					   &w_fib,  &w_parse, &w_find};

	check_sort(c, "tottime", tottime);
	check_sort(c, "cumtime", cumtime);
	check_sort(c, "ncalls", ncalls);
	check_sort(c, "pcalls", pcalls);
	check_sort(c, "percall", percall);
	check_sort(c, "cumpercall", cumpercall);
}

static void test_filters(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	const struct want web[] = {
		{"parse_json", 1750, 1750, 0.6, 0.6, 2},
		{"handle_request", 300, 300, 0.11, 1.1, 2},
		{"fib", 500, 50, 0.04, 0.04, 1},
		{"main", 2, 2, 0.003, 1.7, 2},
		{"std::map<int, int>::find", 3, 3, 3e-6, 3e-6, 1},
	};
	const struct want db[] = {
		{"run_query", 50, 50, 0.4, 0.65, 1},
		{"parse_json", 250, 250, 0.05, 0.05, 1},
		{"main", 1, 1, 0.0005, 0.7, 1},
	};
	const struct want two[] = {
		{"parse_json", 1250, 1250, 0.35, 0.35, 2},
		{"fib", 500, 50, 0.04, 0.04, 1},
	};
	const struct want cpu[] = {{"parse_json", 7, 7, 7e-6, 7e-6, 1}};
	char args[512];
	json_t *j;

	snprintf(args, sizeof(args), "--from %s --until %s --host 'web-*'",
		 c->from, c->until);
	j = run_json(c, args);
	check_rows(j, web, 5);
	json_decref(j);

	snprintf(args, sizeof(args), "--from %s --until %s --host 'db-?'",
		 c->from, c->until);
	j = run_json(c, args);
	check_rows(j, db, 3);
	json_decref(j);

	snprintf(args, sizeof(args), "--from %s --until %s --service db",
		 c->from, c->until);
	j = run_json(c, args);
	check_rows(j, db, 3);
	json_decref(j);

	/* Two patterns are ORed; --limit keeps the first rows. */
	snprintf(args, sizeof(args),
		 "--from %s --until %s --host web-1 --host db-1 --sort ncalls "
		 "--limit 2",
		 c->from, c->until);
	j = run_json(c, args);
	check_rows(j, two, 2);
	json_decref(j);

	snprintf(args, sizeof(args), "--from %s --until %s --clock cpu",
		 c->from, c->until);
	j = run_json(c, args);
	check_rows(j, cpu, 1);
	json_decref(j);

	/* '_' in a pattern is a literal, not LIKE's any-character. */
	snprintf(args, sizeof(args), "--from %s --until %s --host 'web_1'",
		 c->from, c->until);
	{
		struct fp_test_output r;
		run_top(c, args, &r);
		assert_int_equal(r.status, 1);
		assert_non_null(strstr(r.err, "no data for host 'web_1'"));
		fp_test_output_free(&r);
	}
}

static void test_window(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	const struct want w_old = {"parse_json", 1002000, 1002000,
				   9.65,	 9.65,	  3};
	const struct want *tottime[] = {&w_parse, &w_query, &w_handle,
					&w_fib,	  &w_main,  &w_find};
	struct want all[6];
	char args[256];
	json_t *j;

	/* The last 10 minutes hold T and T+1m, not the bucket 2 h back. */
	for (int i = 0; i < 6; i++)
		all[i] = *tottime[i];
	j = run_json(c, "--since 10m --limit 0");
	check_rows(j, all, 6);
	json_decref(j);

	/* Default limit 20 and default window (15 min) give the same. */
	j = run_json(c, "");
	check_rows(j, all, 6);
	json_decref(j);

	snprintf(args, sizeof(args), "--from %s --until %s --limit 1",
		 c->old_from, c->until);
	j = run_json(c, args);
	check_rows(j, &w_old, 1);
	json_decref(j);

	/* Only the bucket at T+1m: until is exclusive, from rounds down. */
	{
		char from[32], until[32];
		const struct want late[] = {
			{"parse_json", 250, 250, 0.1, 0.1, 1},
			{"std::map<int, int>::find", 3, 3, 3e-6, 3e-6, 1},
		};
		fp_format_time(c->t + MIN_NS + 30 * FP_NS_PER_SEC, from,
			       sizeof(from));
		fp_format_time(c->t + 2 * MIN_NS, until, sizeof(until));
		snprintf(args, sizeof(args), "--from %s --until %s", from,
			 until);
		j = run_json(c, args);
		check_rows(j, late, 2);
		json_decref(j);
	}
}

static void test_csv(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	static const char want[] =
		"function,file,line,module,ncalls,pcalls,tottime_s,cumtime_s,"
		"hosts\n"
		"parse_json,src/json.c,33,app,750,750,0.300000000,0.300000000,"
		"1\n"
		"handle_request,src/http.c,120,app,200,200,0.060000000,"
		"0.500000000,1\n"
		"\"std::map<int, "
		"int>::find\",,0,libstdc++.so.6,3,3,0.000003000,"
		"0.000003000,1\n"
		"main,src/main.c,10,app,1,1,0.002000000,0.800000000,1\n";
	char args[256];
	struct fp_test_output r;

	snprintf(args, sizeof(args),
		 "--from %s --until %s --host web-2 --sort ncalls --format csv",
		 c->from, c->until);
	run_top(c, args, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out, want);
	fp_test_output_free(&r);
}

static void test_table(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	char args[256], want[1024];
	struct fp_test_output r;

	snprintf(want, sizeof(want),
		 "window %s .. %s (raw tier, 60 s buckets), 1 host\n"
		 "wall clock, ordered by tottime\n"
		 "\n"
		 "ncalls  tottime  percall  cumtime  percall  hosts  "
		 "function (file:line)\n"
		 "    50    400ms   8.00ms    650ms   13.0ms      1  "
		 "run_query (src/db.c:77)\n"
		 "   250   50.0ms    200\xc2\xb5s   50.0ms    200\xc2\xb5s     "
		 " 1  "
		 "parse_json (src/json.c:33)\n"
		 "     1    500\xc2\xb5s    500\xc2\xb5s    700ms    700ms     "
		 " 1  "
		 "main (src/main.c:10)\n",
		 c->from, c->until);
	snprintf(args, sizeof(args), "--from %s --until %s --host 'db-?'",
		 c->from, c->until);
	run_top(c, args, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out, want);
	fp_test_output_free(&r);

	/* The header counts every host of the window. */
	snprintf(args, sizeof(args), "--from %s --until %s --limit 1", c->from,
		 c->until);
	run_top(c, args, &r);
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want),
		 "window %s .. %s (raw tier, 60 s buckets), 3 hosts\n", c->from,
		 c->until);
	assert_memory_equal(r.out, want, strlen(want));
	assert_non_null(strstr(r.out, "parse_json (src/json.c:33)\n"));
	assert_null(strstr(r.out, "run_query"));
	fp_test_output_free(&r);
}

static void test_errors(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	char args[256], want[512];
	struct fp_test_output r;

	snprintf(args, sizeof(args), "--from %s --until %s --host nosuch",
		 c->from, c->until);
	run_top(c, args, &r);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	snprintf(want, sizeof(want),
		 "fleetprof: error: no data for host 'nosuch' in %s .. %s\n"
		 "hint: no host matching 'nosuch' has ever reported; check "
		 "the name (globs: * and ?)\n",
		 c->from, c->until);
	assert_string_equal(r.err, want);
	fp_test_output_free(&r);

	/* A known host, but nothing for it under these filters. */
	snprintf(args, sizeof(args),
		 "--from %s --until %s --host web-1 --host db-1 --service db",
		 c->from, c->until);
	run_top(c, args, &r);
	assert_int_equal(r.status, 1);
	snprintf(want, sizeof(want),
		 "fleetprof: error: no data for host 'web-1' in %s .. %s\n"
		 "hint: the host has data outside this window or for another "
		 "service or clock; widen the window with --since\n",
		 c->from, c->until);
	assert_string_equal(r.err, want);
	fp_test_output_free(&r);

	run_top(c, "--since 1h --from 2h", &r);
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err,
			    "fleetprof: error: --since cannot be combined "
			    "with --from\n"
			    "hint: give either --since DURATION or --from "
			    "TIME [--until TIME]\n");
	fp_test_output_free(&r);

	run_top(c, "--sort bogus", &r);
	assert_int_equal(r.status, 2);
	fp_test_output_free(&r);

	/* Nothing listens on port 1; libpq's text only with --verbose. */
	run_top(c, "--db 'postgresql://nobody@127.0.0.1:1/none'", &r);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err,
			    "fleetprof: error: cannot connect to the "
			    "database\n"
			    "hint: give a libpq conninfo or URL with --db or "
			    "FLEETPROF_DB (postgresql://user@host/db); "
			    "--verbose shows why\n");
	fp_test_output_free(&r);

	run_top(c, "--verbose --db 'postgresql://nobody@127.0.0.1:1/none'", &r);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "\ndetail: "));
	assert_non_null(strstr(r.err, "127.0.0.1"));
	fp_test_output_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sorts),  cmocka_unit_test(test_filters),
		cmocka_unit_test(test_window), cmocka_unit_test(test_csv),
		cmocka_unit_test(test_table),  cmocka_unit_test(test_errors),
	};
	int need = fp_test_need_db("test_cli_top");
	if (need != 0)
		return need;
	return cmocka_run_group_tests(tests, setup, teardown);
}
