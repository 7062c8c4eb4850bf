/*
 * Integration test of every query command but top: a scratch database is
 * loaded through the collector's write path (storage_merge) with a small
 * fleet whose function stats, edges and call paths are tables (cli_fleet.c,
 * shared with the serve tests); each expected answer is computed from
 * those tables, then the real build/bin/fleetprof runs and its table, JSON
 * and CSV output, the pstats file (read back by Python's pstats) and the
 * folded stacks are compared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fp_test.h"
#include <jansson.h>
#include <libpq-fe.h>

#include "fp/timeutil.h"
#include "storage/query.h"
#include "storage/storage.h"
#include "wire/batch.h"

#include "cli_fleet.h"

struct ctx {
	char *conninfo;
	char bindir[512];
	int64_t t;
	char win[160]; /* --from T-1m --until T+3m */
	char from[32], until[32];
};

static int setup(void **state)
{
	char url[1024];
	const char *bindir = getenv("FP_BIN_DIR");
	struct ctx *c = calloc(1, sizeof(*c));
	struct storage_writer *w;
	PGconn *conn = NULL;
	char errbuf[256];

	if (c == NULL)
		return -1;
	*state = c;
	if (bindir == NULL)
		return -1;
	snprintf(c->bindir, sizeof(c->bindir), "%s", bindir);
	if (fp_test_db_create("fleet", url, sizeof(url)) != 0)
		return -1;
	c->conninfo = strdup(url);
	if (c->conninfo == NULL)
		return -1;
	if (storage_connect(c->conninfo, &conn, errbuf, sizeof(errbuf)) != 0)
		return -1;
	c->t = storage_bucket_floor(fp_wall_ns()) - 5 * MIN_NS;
	fp_format_time(c->t - MIN_NS, c->from, sizeof(c->from));
	fp_format_time(c->t + 3 * MIN_NS, c->until, sizeof(c->until));
	snprintf(c->win, sizeof(c->win), "--from %s --until %s", c->from,
		 c->until);
	if (storage_migrate(conn) != 0 || storage_writer_create(conn, &w) != 0)
		return -1;
	for (size_t i = 0; i < NHOSTDEF; i++)
		merge_host(w, &fleet[i], fleet[i].base ? c->t - DAY_NS : c->t);
	storage_writer_destroy(w);
	setenv("FLEETPROF_DB", c->conninfo, 1);
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	/* FP_TEST_KEEP_DB=1 keeps the fleet for a look with fleetprof. */
	if (getenv("FP_TEST_KEEP_DB") != NULL && c->conninfo != NULL)
		fprintf(stderr, "kept database: %s\n", c->conninfo);
	else if (c->conninfo != NULL)
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

/* Runs `fleetprof <args>` (shell text made by the test). */
static void run_cli(struct ctx *c, struct fp_test_output *r, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
static void run_cli(struct ctx *c, struct fp_test_output *r, const char *fmt,
		    ...)
{
	char args[2048], cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s/fleetprof' %s", c->bindir, args);
	fp_test_capture(cmd, r);
}

static void run_ok(struct ctx *c, struct fp_test_output *r, const char *args)
{
	run_cli(c, r, "%s", args);
	if (r->status != 0)
		fail_msg("fleetprof %s: exit %d: %s", args, r->status, r->err);
	assert_string_equal(r->err, "");
}

static json_t *run_json(struct ctx *c, const char *args)
{
	json_error_t jerr;
	struct fp_test_output r;
	json_t *j;

	run_ok(c, &r, args);
	j = json_loads(r.out, 0, &jerr);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", jerr.text, r.out);
	fp_test_output_free(&r);
	return j;
}

static double jnum(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	assert_true(json_is_number(v));
	return json_number_value(v);
}

/* The exact decimal seconds cli_csv_seconds writes for ns. */
static void secs(uint64_t ns, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%09llu",
		 (unsigned long long)(ns / (uint64_t)FP_NS_PER_SEC),
		 (unsigned long long)(ns % (uint64_t)FP_NS_PER_SEC));
}

static void test_top_group_label_match(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	char args[512];
	json_t *j;
	struct fp_test_output r;
	uint64_t nc[3] = {0}, tt[3] = {0};

	/* parse per host, from the definitions: web-2, web-1 by tottime. */
	for (size_t i = 0; i < NHOSTDEF; i++)
		for (size_t k = 0; counted(&fleet[i], NULL) && k < fleet[i].nf;
		     k++)
			if (fleet[i].f[k].fn == F_PARSE) {
				nc[i] += fleet[i].f[k].nc;
				tt[i] += fleet[i].f[k].tt;
			}
	snprintf(args, sizeof(args),
		 "top %s --function parse --group-by host --format json",
		 c->win);
	j = run_json(c, args);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(j, 0), "host")),
			    "web-2");
	assert_int_equal(jnum(json_array_get(j, 0), "ncalls"), nc[1]);
	assert_true(jnum(json_array_get(j, 0), "tottime_s") == tt[1] / 1e9);
	assert_int_equal(jnum(json_array_get(j, 0), "functions"), 1);
	assert_int_equal(jnum(json_array_get(j, 1), "ncalls"), nc[0]);
	json_decref(j);

	/* By service, CSV: api = web-1 + web-2 main, db = db-1 main. */
	snprintf(args, sizeof(args),
		 "top %s --function main --group-by service --format csv",
		 c->win);
	run_ok(c, &r, args);
	assert_string_equal(r.out, "service,ncalls,pcalls,tottime_s,cumtime_s,"
				   "hosts\n"
				   "api,3,3,0.003000000,0.307000000,2\n"
				   "db,1,1,0.000500000,0.030000000,1\n");
	fp_test_output_free(&r);

	/* --label region=eu: web-1 and db-1; --match on names. */
	snprintf(args, sizeof(args),
		 "top %s --label region=eu --match '^(parse|query)$' "
		 "--format csv",
		 c->win);
	run_ok(c, &r, args);
	assert_string_equal(r.out,
			    "function,file,line,module,ncalls,pcalls,"
			    "tottime_s,cumtime_s,hosts\n"
			    "query,src/db.c,77,db,8,8,0.078500000,0.078500000,"
			    "2\n"
			    "parse,src/json.c,33,app,20,20,0.040000000,"
			    "0.040000000,1\n");
	fp_test_output_free(&r);

	/* Windows of days read the 1 d tier and the running sums within
	 * days once the roller has stored them (schema 010), the hours
	 * before: the same answers, with every key of the window and none
	 * that cancelled out. */
	static const char *const long_cmds[] = {
		"top --since 2d --format csv --limit 0",
		"top --since 7d --group-by host --format csv",
		"callers parse --since 2d --format csv",
		"callees main --since 7d --format csv",
		"flame --since 2d --format json",
		"export --format folded --since 7d",
	};
	struct fp_test_output before[sizeof(long_cmds) / sizeof(long_cmds[0])];
	for (size_t i = 0; i < sizeof(long_cmds) / sizeof(long_cmds[0]); i++)
		run_ok(c, &before[i], long_cmds[i]);
	assert_non_null(strstr(before[0].out, "\nparse,"));

	/* A window of hours reads the 10 min tier: raw's answer, before and
	 * after the roller stored its buckets. */
	{
		struct fp_test_output raw;
		snprintf(args, sizeof(args),
			 "top %s --match '^(main|parse|query)$' --format csv",
			 c->win);
		run_ok(c, &raw, args);
		assert_non_null(strstr(raw.out, "\nparse,"));
		for (int pass = 0; pass < 2; pass++) {
			char *v;
			if (pass == 1) {
				v = fp_test_sql(c->conninfo,
						"SELECT fleetprof_rollup(now() "
						"+ interval '2 days', 1000)");
				free(v);
			}
			v = fp_test_sql(c->conninfo, "SELECT count(*) > 0 FROM "
						     "fn_stats_rollup_10m");
			assert_string_equal(v, pass == 0 ? "f" : "t");
			free(v);
			run_ok(c, &r,
			       "top --since 3h --match '^(main|parse|query)$' "
			       "--format csv");
			assert_string_equal(r.out, raw.out);
			fp_test_output_free(&r);
			run_ok(c, &r, "top --since 3h --format table");
			assert_non_null(
				strstr(r.out, "(rollup tier, 10 min buckets)"));
			fp_test_output_free(&r);
		}
		fp_test_output_free(&raw);
	}

	{
		char *v = fp_test_sql(
			c->conninfo, "SELECT count(*) > 0 FROM running_points");
		assert_string_equal(v, "t");
		free(v);
	}
	for (size_t i = 0; i < sizeof(long_cmds) / sizeof(long_cmds[0]); i++) {
		run_ok(c, &r, long_cmds[i]);
		assert_string_equal(r.out, before[i].out);
		fp_test_output_free(&r);
		fp_test_output_free(&before[i]);
	}

	/* A long window reads the rollup tier and includes the base day. */
	run_ok(c, &r, "top --since 2d --function parse --format table");
	assert_non_null(strstr(r.out, "(rollup tier, 1 h buckets)"));
	assert_non_null(strstr(r.out, "    70  "));
	fp_test_output_free(&r);
	/* From 3 days on, whole days come from the 1 d tier: the same sums,
	 * before and after the roller has stored every hour and day. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			char *v = fp_test_sql(c->conninfo,
					      "SELECT fleetprof_rollup(now() + "
					      "interval '2 days', 1000)");
			free(v);
			v = fp_test_sql(
				c->conninfo,
				"SELECT count(*) FROM fn_stats_rollup_1d");
			assert_true(strcmp(v, "0") != 0);
			free(v);
		}
		run_ok(c, &r, "top --since 7d --function parse --format table");
		assert_non_null(strstr(r.out, "(rollup tiers: 1 d buckets for "
					      "whole days, 1 h at the ends)"));
		assert_non_null(strstr(r.out, "    70  "));
		fp_test_output_free(&r);
	}

	run_cli(c, &r, "top %s --match '(' --format csv", c->win);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "invalid regular expression"));
	fp_test_output_free(&r);
}

static void test_hosts_services(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	char args[512], want[2048];
	struct fp_test_output r;
	json_t *j;

	snprintf(args, sizeof(args), "hosts %s --format json", c->win);
	j = run_json(c, args);
	/* Ordered by name; the base batch is outside the window. */
	assert_int_equal(json_array_size(j), 3);
	{
		static const char *const names[] = {"db-1", "web-1", "web-2"};
		static const int dropped[] = {0, 0, 3};
		for (int i = 0; i < 3; i++) {
			json_t *o = json_array_get(j, (size_t)i);
			char seen[32];
			assert_string_equal(
				json_string_value(json_object_get(o, "host")),
				names[i]);
			assert_int_equal(jnum(o, "batches"), 1);
			assert_int_equal(jnum(o, "processes"), 1);
			assert_int_equal(jnum(o, "services"), 1);
			assert_int_equal(jnum(o, "dropped"), dropped[i]);
			fp_format_time(c->t + 55 * FP_NS_PER_SEC, seen,
				       sizeof(seen));
			assert_string_equal(json_string_value(json_object_get(
						    o, "last_seen")),
					    seen);
		}
	}
	json_decref(j);

	snprintf(args, sizeof(args), "services %s --format csv", c->win);
	run_ok(c, &r, args);
	{
		char f[32], l[32];
		fp_format_time(c->t + 5 * FP_NS_PER_SEC, f, sizeof(f));
		fp_format_time(c->t + 55 * FP_NS_PER_SEC, l, sizeof(l));
		snprintf(want, sizeof(want),
			 "service,hosts,processes,batches,dropped,first_seen,"
			 "last_seen\n"
			 "api,2,2,2,3,%s,%s\n"
			 "db,1,1,1,0,%s,%s\n",
			 f, l, f, l);
	}
	assert_string_equal(r.out, want);
	fp_test_output_free(&r);

	/* Loss is spelled out in the table. */
	snprintf(args, sizeof(args), "hosts %s", c->win);
	run_ok(c, &r, args);
	snprintf(want, sizeof(want),
		 "window %s .. %s (batch ledger), 3 hosts\n\nhost   services",
		 c->from, c->until);
	assert_memory_equal(r.out, want, strlen(want));
	assert_non_null(strstr(r.out, "\ndata lost: 3 events or batches "
				      "dropped by agents on 1 host; their "
				      "counts are low\n"));
	fp_test_output_free(&r);

	run_cli(c, &r, "hosts %s --host 'nope-*'", c->win);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "no data for host 'nope-*' in "));
	fp_test_output_free(&r);
}

static void test_callers_callees(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	uint64_t nc[NFN], tt[NFN], ct[NFN];
	char args[512], want[2048], a[32], b[32];
	struct fp_test_output r;
	json_t *j;

	/* callers of query: handle (web-1, web-2) then main (db-1). */
	want_edges(F_QUERY, 1, nc, tt, ct);
	snprintf(args, sizeof(args), "callers query %s --format json", c->win);
	j = run_json(c, args);
	assert_int_equal(json_array_size(j), 2);
	{
		const int order[] = {F_HANDLE, F_MAIN};
		for (size_t i = 0; i < 2; i++) {
			json_t *o = json_array_get(j, i);
			assert_string_equal(
				json_string_value(json_object_get(
					json_object_get(o, "caller"),
					"function")),
				fn_defs[order[i]].name);
			assert_string_equal(
				json_string_value(json_object_get(
					json_object_get(o, "callee"),
					"function")),
				"query");
			assert_int_equal(jnum(o, "ncalls"), nc[order[i]]);
			assert_true(jnum(o, "tottime_s") == tt[order[i]] / 1e9);
			assert_true(jnum(o, "cumtime_s") == ct[order[i]] / 1e9);
		}
		assert_int_equal(jnum(json_array_get(j, 0), "hosts"), 2);
	}
	json_decref(j);

	/* callees of handle, CSV, by ncalls. */
	want_edges(F_HANDLE, 0, nc, tt, ct);
	snprintf(args, sizeof(args),
		 "callees handle %s --sort ncalls "
		 "--format csv",
		 c->win);
	run_ok(c, &r, args);
	secs(tt[F_PARSE], a, sizeof(a));
	secs(tt[F_QUERY], b, sizeof(b));
	snprintf(want, sizeof(want),
		 "caller,caller_file,caller_line,caller_module,callee,"
		 "callee_file,callee_line,callee_module,ncalls,pcalls,"
		 "tottime_s,cumtime_s,hosts\n"
		 "handle,src/http.c,120,app,parse,src/json.c,33,app,%llu,%llu,"
		 "%s,%s,2\n"
		 "handle,src/http.c,120,app,query,src/db.c,77,db,%llu,%llu,"
		 "%s,%s,2\n",
		 (unsigned long long)nc[F_PARSE],
		 (unsigned long long)nc[F_PARSE], a, a,
		 (unsigned long long)nc[F_QUERY],
		 (unsigned long long)nc[F_QUERY], b, b);
	assert_string_equal(r.out, want);
	fp_test_output_free(&r);

	/* Table: fn's own totals, then one row per caller. */
	snprintf(args, sizeof(args), "callers fib %s", c->win);
	run_ok(c, &r, args);
	snprintf(want, sizeof(want),
		 "window %s .. %s (raw tier, 60 s buckets), 3 hosts\n"
		 "wall clock, callers of fib, ordered by tottime\n"
		 "\n"
		 "fib (src/math.c:5): ncalls 7/1, tottime 7.00ms, cumtime "
		 "7.00ms\n"
		 "\n"
		 "ncalls  tottime  percall  cumtime  percall  hosts  caller\n"
		 "   6/0   6.00ms   1.00ms   6.00ms        -      1  "
		 "fib (src/math.c:5)\n"
		 "     1   1.00ms   1.00ms   7.00ms   7.00ms      1  "
		 "main (src/main.c:10)\n",
		 c->from, c->until);
	assert_string_equal(r.out, want);
	fp_test_output_free(&r);

	run_cli(c, &r, "callers nope %s", c->win);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "fleetprof: error: no function named "
				   "'nope'\n"
				   "hint: names are exact and case-sensitive; "
				   "find them with 'fleetprof top --match "
				   "REGEX'\n");
	fp_test_output_free(&r);

	run_cli(c, &r, "callers");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.err, "fleetprof: error: missing FN\n"
				   "hint: usage: fleetprof callers [options] "
				   "FN\n");
	fp_test_output_free(&r);
}

static void test_flame_tree(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	struct pathsum ps[32];
	size_t np = want_paths(ps, 32), seen = 0;
	char args[512], want[2048];
	struct fp_test_output r;
	json_t *j;

	/* flame CSV: one row per merged path, exactly the sums. */
	snprintf(args, sizeof(args), "flame %s --format csv", c->win);
	run_ok(c, &r, args);
	assert_memory_equal(r.out,
			    "depth,path,function,file,line,module,ncalls,"
			    "self_s,total_s\n",
			    59);
	for (char *line = strchr(r.out, '\n') + 1; *line != '\0';) {
		char *nl = strchr(line, '\n'), path[256], self[32], total[32],
		     rest[512];
		size_t x = 0;
		int depth;
		assert_non_null(nl);
		*nl = '\0';
		/* depth,"path",... : the path holds commas, so it is quoted
		 * only when it does; our labels have none. */
		assert_int_equal(
			sscanf(line, "%d,%255[^,],%511s", &depth, path, rest),
			3);
		while (x < np && strcmp(ps[x].path, path) != 0)
			x++;
		if (x == np)
			fail_msg("unexpected path %s", path);
		secs(ps[x].self, self, sizeof(self));
		secs(ps[x].total, total, sizeof(total));
		snprintf(want, sizeof(want), ",%llu,%s,%s",
			 (unsigned long long)ps[x].nc, self, total);
		assert_non_null(strstr(line, want));
		seen++;
		line = nl + 1;
	}
	assert_int_equal(seen, np);
	fp_test_output_free(&r);

	/* tree handle, JSON: handle's two paths merged, children sorted. */
	snprintf(args, sizeof(args), "tree handle %s --format json", c->win);
	j = run_json(c, args);
	assert_int_equal(json_array_size(j), 1);
	{
		json_t *root = json_array_get(j, 0), *kids;
		assert_string_equal(
			json_string_value(json_object_get(root, "function")),
			"handle");
		assert_int_equal(jnum(root, "ncalls"), 30);
		assert_true(jnum(root, "total_s") == 297 * MS / 1e9);
		kids = json_object_get(root, "children");
		assert_int_equal(json_array_size(kids), 2);
		assert_string_equal(
			json_string_value(json_object_get(
				json_array_get(kids, 0), "function")),
			"query");
		assert_true(jnum(json_array_get(kids, 0), "total_s") ==
			    147 * MS / 1e9);
		assert_true(jnum(json_array_get(kids, 1), "self_s") ==
			    120 * MS / 1e9);
	}
	json_decref(j);

	/* tree fib: recursion merged under the outermost call only. */
	snprintf(args, sizeof(args), "tree fib %s", c->win);
	run_ok(c, &r, args);
	snprintf(want, sizeof(want),
		 "window %s .. %s (raw tier, 60 s buckets), 3 hosts\n"
		 "wall clock, call paths under fib\n"
		 "\n"
		 " total    self  ncalls  %%total  function (file:line)\n"
		 "7.00ms  1.00ms       1  100.0%%  fib (src/math.c:5)\n"
		 "6.00ms  2.00ms       2   85.7%%    fib (src/math.c:5)\n"
		 "4.00ms  4.00ms       4   57.1%%      fib (src/math.c:5)\n",
		 c->from, c->until);
	assert_string_equal(r.out, want);
	fp_test_output_free(&r);

	/* --depth 1 and --min-percent 60 prune. */
	snprintf(args, sizeof(args), "tree fib %s --depth 1 --format csv",
		 c->win);
	run_ok(c, &r, args);
	assert_null(strstr(r.out, "\n2,"));
	assert_non_null(strstr(r.out, "\n1,"));
	fp_test_output_free(&r);
	snprintf(args, sizeof(args),
		 "tree fib %s --min-percent 60 --format "
		 "csv",
		 c->win);
	run_ok(c, &r, args);
	assert_non_null(strstr(r.out, "\n1,"));
	assert_null(strstr(r.out, "\n2,"));
	fp_test_output_free(&r);
}

static void test_diff(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	char args[512], want[2048];
	struct fp_test_output r;
	json_t *j;

	/* web-1 against itself a day earlier (see w1_base_f). */
	snprintf(args, sizeof(args),
		 "diff %s --host web-1 --base-offset 1d --format csv", c->win);
	run_ok(c, &r, args);
	assert_string_equal(
		r.out,
		"function,file,line,module,status,change_s,calls_part_s,"
		"percall_part_s,base_ncalls,ncalls,base_tottime_s,tottime_s\n"
		"parse,src/json.c,33,app,changed,0.030000000,0.010000000,"
		"0.020000000,10,20,0.010000000,0.040000000\n"
		"query,src/db.c,77,db,changed,-0.011000000,0.000000000,"
		"-0.011000000,5,5,0.060000000,0.049000000\n"
		"fib,src/math.c,5,app,new,0.007000000,0.007000000,0.000000000,"
		"0,7,0.000000000,0.007000000\n"
		"old_fn,,0,libold.so,vanished,-0.005000000,-0.005000000,"
		"0.000000000,4,0,0.005000000,0.000000000\n");
	fp_test_output_free(&r);

	/* --threshold: 6ms drops old_fn; 50% of the base time keeps only
	 * parse (query fell 18%), plus the new function. */
	snprintf(args, sizeof(args),
		 "diff %s --host web-1 --threshold 6ms --format json", c->win);
	j = run_json(c, args);
	assert_int_equal(json_array_size(j), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(j, 2), "status")),
			    "new");
	json_decref(j);
	snprintf(args, sizeof(args),
		 "diff %s --host web-1 --threshold 50%% --format json", c->win);
	j = run_json(c, args);
	assert_int_equal(json_array_size(j), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(j, 0), "function")),
			    "parse");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(j, 1), "status")),
			    "new");
	json_decref(j);

	snprintf(args, sizeof(args), "diff %s --host web-1 --limit 1", c->win);
	run_ok(c, &r, args);
	{
		char bf[32], bu[32];
		fp_format_time(c->t - DAY_NS - MIN_NS, bf, sizeof(bf));
		fp_format_time(c->t - DAY_NS + 3 * MIN_NS, bu, sizeof(bu));
		snprintf(want, sizeof(want),
			 "window %s .. %s (raw tier, 60 s buckets), 1 host\n"
			 "wall clock, against base %s .. %s, by |change|\n"
			 "\n"
			 " change  calls part  per-call part           tottime"
			 "    ncalls           percall  status   "
			 "function (file:line)\n"
			 "+30.0ms     +10.0ms        +20.0ms  10.0ms -> 40.0ms"
			 "  10 -> 20  1.00ms -> 2.00ms  changed  "
			 "parse (src/json.c:33)\n",
			 c->from, c->until, bf, bu);
	}
	assert_string_equal(r.out, want);
	fp_test_output_free(&r);

	run_cli(c, &r, "diff --base-offset 1d --base-from 2d");
	assert_int_equal(r.status, 2);
	fp_test_output_free(&r);
}

static void test_timeline(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	char args[512], want[2048], t[4][32];
	struct fp_test_output r;

	for (int i = 0; i < 4; i++)
		fp_format_time(c->t + (i - 1) * MIN_NS, t[i], sizeof(t[i]));
	snprintf(args, sizeof(args), "timeline parse %s --format csv", c->win);
	run_ok(c, &r, args);
	snprintf(want, sizeof(want),
		 "time,ncalls,pcalls,tottime_s,cumtime_s,percall_s\n"
		 "%s,0,0,0.000000000,0.000000000,\n"
		 "%s,60,60,0.120000000,0.120000000,0.002000000\n"
		 "%s,0,0,0.000000000,0.000000000,\n"
		 "%s,0,0,0.000000000,0.000000000,\n",
		 t[0], t[1], t[2], t[3]);
	assert_string_equal(r.out, want);
	fp_test_output_free(&r);

	/* Hourly from the rollup: the base day and today, nothing between. */
	run_ok(c, &r, "timeline parse --since 2d --step 1h --format json");
	{
		json_error_t jerr;
		json_t *j = json_loads(r.out, 0, &jerr);
		uint64_t calls = 0;
		size_t nonzero = 0;
		assert_non_null(j);
		assert_true(json_array_size(j) >= 48);
		for (size_t i = 0; i < json_array_size(j); i++) {
			uint64_t n =
				(uint64_t)jnum(json_array_get(j, i), "ncalls");
			calls += n;
			nonzero += n > 0;
		}
		assert_int_equal(calls, 70);
		assert_int_equal(nonzero, 2);
		json_decref(j);
	}
	fp_test_output_free(&r);

	/* 1 m steps come from the raw tier, which starts with the base day's
	 * bucket: a window before it is an error, one across it a warning. */
	fp_format_time(c->t - DAY_NS, t[0], sizeof(t[0]));
	fp_format_time(c->t - 10 * DAY_NS, t[1], sizeof(t[1]));
	fp_format_time(c->t - 9 * DAY_NS, t[2], sizeof(t[2]));
	run_cli(c, &r, "timeline parse --step 1m --from %s --until %s", t[1],
		t[2]);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	snprintf(want, sizeof(want),
		 "no raw buckets in this window: the raw tier starts at %s",
		 t[0]);
	if (strstr(r.err, want) == NULL)
		fail_msg("want '%s' in: %s", want, r.err);
	fp_test_output_free(&r);
	fp_format_time(c->t - DAY_NS - 30 * MIN_NS, t[1], sizeof(t[1]));
	fp_format_time(c->t - DAY_NS + 30 * MIN_NS, t[2], sizeof(t[2]));
	run_cli(c, &r,
		"timeline parse --step 1m --from %s --until %s --format csv",
		t[1], t[2]);
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want),
		 "fleetprof: warning: the raw tier starts at %s: earlier steps "
		 "are empty; --step 1h reaches further back\n",
		 t[0]);
	assert_string_equal(r.err, want);
	assert_non_null(strstr(r.out, t[0]));
	fp_test_output_free(&r);
}

static void test_export_folded_speedscope(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	struct pathsum ps[32];
	size_t np = want_paths(ps, 32), lines = 0;
	uint64_t total = 0, parsed = 0;
	char args[512];
	struct fp_test_output r;
	json_t *j;

	for (size_t i = 0; i < np; i++)
		total += ps[i].self;
	/* A folded-stack parser: "frames count", count after the last ' '. */
	snprintf(args, sizeof(args), "export %s --format folded", c->win);
	run_ok(c, &r, args);
	for (char *line = r.out; *line != '\0';) {
		char *nl = strchr(line, '\n'), *sp;
		size_t x = 0;
		assert_non_null(nl);
		*nl = '\0';
		sp = strrchr(line, ' ');
		assert_non_null(sp);
		*sp = '\0';
		while (x < np && strcmp(ps[x].path, line) != 0)
			x++;
		if (x == np)
			fail_msg("unexpected stack %s", line);
		assert_int_equal(strtoull(sp + 1, NULL, 10), ps[x].self);
		parsed += strtoull(sp + 1, NULL, 10);
		lines++;
		line = nl + 1;
	}
	assert_int_equal(lines, np);
	assert_int_equal(parsed, total);
	fp_test_output_free(&r);

	snprintf(args, sizeof(args), "export %s --format speedscope", c->win);
	j = run_json(c, args);
	{
		json_t *p = json_array_get(json_object_get(j, "profiles"), 0);
		json_t *w = json_object_get(p, "weights");
		double sum = 0;
		assert_string_equal(
			json_string_value(json_object_get(j, "$schema")),
			"https://www.speedscope.app/file-format-schema.json");
		assert_int_equal(
			json_array_size(json_object_get(
				json_object_get(j, "shared"), "frames")),
			5);
		assert_int_equal(json_array_size(w), np);
		assert_int_equal(json_array_size(json_object_get(p, "samples")),
				 np);
		for (size_t i = 0; i < json_array_size(w); i++)
			sum += json_number_value(json_array_get(w, i));
		assert_true(sum == (double)total);
		assert_true(jnum(p, "endValue") == (double)total);
	}
	json_decref(j);
}

static void test_export_pstats(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	char path[] = "/tmp/fp_test_fleet_prof_XXXXXX", cmd[1024],
	     want[4096] = "", line[512];
	uint64_t f[NFN][4] = {{0}};
	struct fp_test_output r;
	int fd = mkstemp(path), st;
	size_t o = 0;
	char *got;

	assert_true(fd >= 0);
	close(fd);
	run_cli(c, &r, "export %s --format pstats -o '%s'", c->win, path);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	fp_test_output_free(&r);
	if (system("python3 -c 'import pstats' 2>/dev/null") != 0) {
		print_message("SKIP: python3 with pstats is not installed: "
			      "pstats export not read back\n");
		unlink(path);
		return;
	}
	/* Python prints each function and its callers, sorted. */
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import pstats\n"
		 "s = pstats.Stats('%s')\n"
		 "for k in sorted(s.stats):\n"
		 "  cc, nc, tt, ct, cl = s.stats[k]\n"
		 "  print(k[0], k[1], k[2], cc, nc, '%%.6f' %% tt, '%%.6f' %% "
		 "ct)\n"
		 "  for ck in sorted(cl):\n"
		 "    print(' <-', ck[2], *cl[ck][:2], *['%%.6f' %% x for x in "
		 "cl[ck][2:]])\n"
		 "print('total', '%%.6f' %% s.total_tt)\"",
		 path);
	got = fp_test_run(cmd, &st);
	unlink(path);
	assert_int_equal(st, 0);
	/* Expected, from the definitions: sorted by (file, line, name). */
	for (size_t i = 0; i < NHOSTDEF; i++)
		for (size_t k = 0; counted(&fleet[i], NULL) && k < fleet[i].nf;
		     k++) {
			const struct fdef *d = &fleet[i].f[k];
			f[d->fn][0] += d->pc;
			f[d->fn][1] += d->nc;
			f[d->fn][2] += d->tt;
			f[d->fn][3] += d->ct;
		}
	{
		/* src/db.c, src/http.c, src/json.c, src/main.c, src/math.c */
		const int order[] = {F_QUERY, F_HANDLE, F_PARSE, F_MAIN, F_FIB};
		uint64_t tot = 0;
		for (int i = 0; i < 5; i++) {
			const int fn = order[i];
			uint64_t nc[NFN], tt[NFN], ct[NFN], pc[NFN] = {0};
			want_edges(fn, 1, nc, tt, ct);
			/* pcalls of edges, from the definitions. */
			for (size_t h = 0; h < NHOSTDEF; h++)
				for (size_t k = 0; counted(&fleet[h], NULL) &&
						   k < fleet[h].ne;
				     k++)
					if (fleet[h].e[k].callee == fn)
						pc[fleet[h].e[k].caller] +=
							fleet[h].e[k].pc;
			o += (size_t)snprintf(
				want + o, sizeof(want) - o,
				"%s %d %s %llu %llu %.6f %.6f\n",
				fn_defs[fn].file, (int)fn_defs[fn].line,
				fn_defs[fn].name, (unsigned long long)f[fn][0],
				(unsigned long long)f[fn][1], f[fn][2] / 1e9,
				f[fn][3] / 1e9);
			tot += f[fn][2];
			/* Callers sorted by key: (file, line, name). */
			for (int k = 0; k < 5; k++) {
				int cf = order[k];
				if (nc[cf] == 0)
					continue;
				snprintf(line, sizeof(line),
					 " <- %s %llu %llu %.6f %.6f\n",
					 fn_defs[cf].name,
					 (unsigned long long)nc[cf],
					 (unsigned long long)pc[cf],
					 tt[cf] / 1e9, ct[cf] / 1e9);
				o += (size_t)snprintf(
					want + o, sizeof(want) - o, "%s", line);
			}
		}
		snprintf(want + o, sizeof(want) - o, "total %.6f\n", tot / 1e9);
	}
	assert_string_equal(got, want);
	free(got);

	/* Binary data never goes to a terminal (script gives it a tty). */
	run_cli(c, &r, "export --format bogus");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "use folded, speedscope or pstats"));
	fp_test_output_free(&r);
}

static void test_role(void **state)
{
	struct ctx *c = ctx_or_skip(state);
	struct fp_test_output r;

	run_cli(c, &r, "top %s --verbose --limit 1", c->win);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.err, "running as the read-only role "
				      "fleetprof_reader\n"));
	fp_test_output_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_group_label_match),
		cmocka_unit_test(test_hosts_services),
		cmocka_unit_test(test_callers_callees),
		cmocka_unit_test(test_flame_tree),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_timeline),
		cmocka_unit_test(test_export_folded_speedscope),
		cmocka_unit_test(test_export_pstats),
		cmocka_unit_test(test_role),
	};
	int need = fp_test_need_db("test_cli_fleet");
	if (need != 0)
		return need;
	return cmocka_run_group_tests(tests, setup, teardown);
}
