/*
 * Integration tests of storage/ against a real PostgreSQL (a fresh database
 * per run): migrations are idempotent, a merge adds exactly what batches
 * carry, (agent id, seq) is merged once whether repeated across transactions
 * or inside one group, paths are interned with their parents, and strings
 * that COPY must escape come back unchanged.
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

#include "fp/error.h"
#include "fp/timeutil.h"
#include "fp_test.h"
#include "storage/query.h"
#include "storage/storage.h"
#include "wire/batch.h"

static char url[1024];
/* An hour ago, on a minute boundary (set in setup): batches must fall
 * inside the raw retention window, so test times follow the clock. */
static int64_t T0;

static const struct wire_fn fns[] = {
	{1, "main", "app.c", 10, "app"},
	{2, "parse", "app.c", 20, "app"},
	{3, "we\tird\\name\nline\r", "dir with space/ü.c", 30, ""},
};
static const struct wire_fstat fstats[] = {
	{1, 1, 1, 100, 1000},
	{2, 10, 10, 500, 900},
	{3, 4, 2, 7, 8},
};
static const struct wire_edge edges[] = {
	{1, 2, 10, 10, 500, 900},
	{2, 3, 4, 2, 7, 8},
};
static const struct wire_node nodes[] = {
	{1, 0, 1, 1, 100, 1000},
	{2, 1, 2, 10, 500, 900},
	{3, 2, 3, 4, 7, 8},
};
static const struct wire_label labels[] = {{"zone", "b"}, {"env", "prod"}};

static void make_batch(struct wire_batch *b, const char *host, uint8_t agent,
		       uint64_t seq, int64_t t0)
{
	memset(b, 0, sizeof(*b));
	b->version = 1;
	memset(b->agent.id, agent, sizeof(b->agent.id));
	b->agent.host = host;
	b->agent.service = "api";
	b->agent.lang = "c";
	b->agent.pid = 42;
	b->agent.labels = labels;
	b->agent.nlabels = 2;
	b->seq = seq;
	b->t0 = t0;
	b->t1 = t0 + 10 * INT64_C(1000000000);
	b->clock = WIRE_CLOCK_WALL;
	b->fns = fns;
	b->nfns = 3;
	b->fstats = fstats;
	b->nfstats = 3;
	b->edges = edges;
	b->nedges = 2;
	b->nodes = nodes;
	b->nnodes = 3;
}

static long long sql_ll(const char *sql)
{
	char *v = fp_test_sql(url, sql);
	long long x;
	assert_non_null(v);
	x = strtoll(v, NULL, 10);
	free(v);
	return x;
}

static int setup(void **state)
{
	PGconn *c;
	int built, applied = -1;
	(void)state;
	if (fp_test_db_create("storage", url, sizeof(url)) != 0)
		return -1;
	T0 = (fp_wall_ns() / (60 * FP_NS_PER_SEC) - 60) * 60 * FP_NS_PER_SEC;
	assert_int_equal(storage_connect(url, &c, NULL, 0), 0);
	assert_int_equal(storage_migrate(c), 0);
	assert_int_equal(storage_migrate(c), 0); /* idempotent */
	built = storage_schema_version_built();
	assert_true(built >= 1);
	assert_int_equal(storage_schema_version_applied(c, &applied), 0);
	assert_int_equal(applied, built);
	PQfinish(c);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fp_test_db_drop();
	return 0;
}

static struct storage_writer *writer(void)
{
	PGconn *c;
	struct storage_writer *w;
	assert_int_equal(storage_connect(url, &c, NULL, 0), 0);
	assert_int_equal(storage_writer_create(c, &w), 0);
	return w;
}

static void expect_merged_abc(void);

static void test_merge_exactly_once(void **state)
{
	struct storage_writer *w = writer();
	struct wire_batch a, b, c;
	struct storage_merge_item items[3];
	struct storage_merge_stats st;
	(void)state;
	memset(&st, 0, sizeof(st));

	make_batch(&a, "web-1", 0xa1, 1, T0 + 5000000000);
	items[0] = (struct storage_merge_item){&a, -1, 0};
	assert_int_equal(storage_merge(w, items, 1, &st), 0);
	assert_int_equal(items[0].dup, 0);
	assert_int_equal(sql_ll("SELECT sum(ncalls) FROM fn_stats"), 15);
	assert_int_equal(st.rows, 3 + 2 + 3);

	/* The same (agent, seq) again: acked as duplicate, nothing added. */
	items[0] = (struct storage_merge_item){&a, -1, 0};
	assert_int_equal(storage_merge(w, items, 1, &st), 0);
	assert_int_equal(items[0].dup, 1);
	assert_int_equal(sql_ll("SELECT sum(ncalls) FROM fn_stats"), 15);

	/* A group: new seq, the same seq again inside the group, another
	 * agent on another host. Same bucket as a: rows add up. */
	make_batch(&b, "web-1", 0xa1, 2, T0 + 15000000000);
	make_batch(&c, "web-2", 0xb2, 1, T0 + 25000000000);
	items[0] = (struct storage_merge_item){&b, -1, 0};
	items[1] = (struct storage_merge_item){&b, -1, 0};
	items[2] = (struct storage_merge_item){&c, -1, 0};
	assert_int_equal(storage_merge(w, items, 3, &st), 0);
	assert_int_equal(items[0].dup, 0);
	assert_int_equal(items[1].dup, 1);
	assert_int_equal(items[2].dup, 0);
	assert_int_equal(st.batches_new, 3);
	assert_int_equal(st.batches_dup, 2);

	assert_int_equal(sql_ll("SELECT count(*) FROM ingested_batches"), 3);
	assert_int_equal(sql_ll("SELECT count(*) FROM series"), 2);
	assert_int_equal(sql_ll("SELECT count(*) FROM functions"), 3);
	/* Appended, not folded yet: a, b and c each have their rows in this
	 * writer's delta tables, and readers count them already. */
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta"), 9);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_raw"), 0);
	expect_merged_abc();
	/* The fold: web-1's a + b become one raw row per function; web-2: c.
	 * The same sums, nothing left in the delta tables. */
	assert_int_equal(storage_fold_pending(w), 6 + 4 + 6);
	assert_int_equal(storage_fold(w, NULL), 0);
	assert_int_equal(storage_fold_pending(w), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM edge_stats_delta"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM stack_stats_delta"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_raw"), 6);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats"), 6);
	expect_merged_abc();
	storage_writer_destroy(w);
}

/* What batches a, b and c of test_merge_exactly_once sum to. */
static void expect_merged_abc(void)
{
	assert_int_equal(sql_ll("SELECT count(DISTINCT bucket) FROM fn_stats"),
			 1);
	assert_int_equal(sql_ll("SELECT sum(ncalls) FROM fn_stats s JOIN "
				"functions f ON f.id = s.fn_id "
				"WHERE f.name = 'parse'"),
			 30);
	assert_int_equal(sql_ll("SELECT sum(cumtime_ns) FROM fn_stats s JOIN "
				"functions f ON f.id = s.fn_id JOIN series "
				"se ON se.id = s.series_id WHERE f.name = "
				"'main' AND se.host = 'web-1'"),
			 2000);
	assert_int_equal(sql_ll("SELECT sum(pcalls) FROM edge_stats"), 3 * 12);
	assert_int_equal(sql_ll("SELECT sum(total_ns) FROM stack_stats"),
			 3 * 1908);
}

static void test_paths_and_strings(void **state)
{
	char *v;
	(void)state;
	/* Depth-3 path main/parse/weird: parents resolve to real stacks. */
	assert_int_equal(sql_ll("SELECT count(*) FROM stacks"), 3);
	assert_int_equal(sql_ll("SELECT count(*) FROM stacks s JOIN stacks p "
				"ON p.id = s.parent_id"),
			 2);
	assert_int_equal(sql_ll("SELECT max(depth) FROM stacks"), 3);
	v = fp_test_sql(url, "SELECT name || '|' || file FROM functions "
			     "WHERE line = 30");
	assert_non_null(v);
	assert_string_equal(v, "we\tird\\name\nline\r|dir with space/ü.c");
	free(v);
	v = fp_test_sql(url, "SELECT labels::text FROM series LIMIT 1");
	assert_non_null(v);
	assert_string_equal(v, "{\"env\": \"prod\", \"zone\": \"b\"}");
	free(v);
	v = fp_test_sql(url, "SELECT to_char(min(bucket) AT TIME ZONE 'UTC', "
			     "'YYYY-MM-DD HH24:MI:SS') FROM fn_stats");
	{
		char want[32];
		fp_format_time(T0, want, sizeof(want));
		want[10] = ' ';
		want[19] = '\0'; /* "YYYY-MM-DD HH:MM:SS" */
		assert_string_equal(v, want);
	}
	free(v);
}

/* fn_stats_span(from, until) sums exactly what raw holds in the window. */
static void expect_span(long long from, long long until)
{
	char span[256], raw[256];

	snprintf(span, sizeof(span),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats_span(%lld, "
		 "%lld)",
		 from, until);
	snprintf(raw, sizeof(raw),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats WHERE bucket "
		 ">= to_timestamp(%lld) AND bucket < to_timestamp(%lld)",
		 from, until);
	assert_int_equal(sql_ll(span), sql_ll(raw));
}

/* The 10 min tier of table (fn_stats, edge_stats, stack_stats) holds, per
 * bucket and key, exactly raw summed per 10 minutes. */
static void expect_10m_equal(const char *table, const char *key, const char *v1,
			     const char *v2)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT bucket, %2$s, sum(%3$s) AS a, "
		 "sum(%4$s) AS b FROM %1$s_10m GROUP BY bucket, %2$s) t "
		 "FULL JOIN (SELECT date_bin('10 minutes', bucket, timestamptz "
		 "'2000-01-01 00:00+00') AS bucket, %2$s, sum(%3$s) AS a, "
		 "sum(%4$s) AS b FROM %1$s GROUP BY 1, %2$s) r "
		 "USING (bucket, %2$s) WHERE t.a IS DISTINCT FROM r.a OR "
		 "t.b IS DISTINCT FROM r.b",
		 table, key, v1, v2);
	assert_int_equal(sql_ll(sql), 0);
}

/* Sum of ncalls stored in fn_stats_rollup_10m for [lo, hi) (epoch s). */
static long long stored_10m(long long lo, long long hi)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats_rollup_10m "
		 "WHERE bucket >= to_timestamp(%lld) AND bucket < "
		 "to_timestamp(%lld)",
		 lo, hi);
	return sql_ll(sql);
}

static void expect_tiers_equal(void)
{
	expect_10m_equal("fn_stats", "series_id, fn_id", "ncalls",
			 "cumtime_ns");
	expect_10m_equal("edge_stats", "series_id, caller_id, callee_id",
			 "pcalls", "tottime_ns");
	expect_10m_equal("stack_stats", "series_id, stack_id", "ncalls",
			 "total_ns");
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_10m WHERE "
				"extract(epoch FROM bucket)::bigint % 600 "
				"<> 0"),
			 0);
	assert_int_equal(sql_ll("SELECT sum(ncalls) FROM fn_stats_1d"),
			 sql_ll("SELECT sum(ncalls) FROM fn_stats"));
	assert_int_equal(sql_ll("SELECT sum(pcalls) FROM edge_stats_1d"),
			 sql_ll("SELECT sum(pcalls) FROM edge_stats"));
	assert_int_equal(sql_ll("SELECT sum(total_ns) FROM stack_stats_1d"),
			 sql_ll("SELECT sum(total_ns) FROM stack_stats"));
	assert_int_equal(sql_ll("SELECT sum(ncalls) FROM fn_stats_1h"),
			 sql_ll("SELECT sum(ncalls) FROM fn_stats"));
	assert_int_equal(sql_ll("SELECT sum(cumtime_ns) FROM fn_stats_1h"),
			 sql_ll("SELECT sum(cumtime_ns) FROM fn_stats"));
	assert_int_equal(sql_ll("SELECT sum(pcalls) FROM edge_stats_1h"),
			 sql_ll("SELECT sum(pcalls) FROM edge_stats"));
	assert_int_equal(sql_ll("SELECT sum(total_ns) FROM stack_stats_1h"),
			 sql_ll("SELECT sum(total_ns) FROM stack_stats"));
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_1h WHERE "
				"extract(epoch FROM bucket)::bigint % 3600 "
				"<> 0"),
			 0);
}

static void merge_one(struct storage_writer *w, uint8_t agent, int64_t t0)
{
	struct storage_merge_item item;
	struct wire_batch b;

	make_batch(&b, "web-late", agent, 1, t0);
	item = (struct storage_merge_item){&b, -1, -1};
	assert_int_equal(storage_merge(w, &item, 1, NULL), 0);
	assert_int_equal(item.status, 0);
}

/* fleetprof_rollup(upto) as the collector calls it, with upto given. */
static void roll_upto(long long upto_s)
{
	char sql[128];
	char *v;

	snprintf(sql, sizeof(sql),
		 "SELECT fleetprof_rollup(to_timestamp(%lld), 1000)", upto_s);
	v = fp_test_sql(url, sql);
	assert_non_null(v);
	free(v);
}

/*
 * The rollup tier (views over the stored rollup and the raw minutes it does
 * not hold yet) holds the same sums as the raw tier, bucketed by hour, in
 * every state the roller leaves an hour in: never rolled, rolled up to a
 * minute (then added to), rolled whole, stale after a late batch; and the
 * 1 d tier and the span likewise.
 */
static void test_rollup_equals_raw(void **state)
{
	struct storage_writer *w = writer();
	long long hour = (long long)(T0 / FP_NS_PER_SEC), day, m1, m2;
	char raw_sql[256], rollup_sql[256], sql[256], *v;
	int hours = -1;
	(void)state;

	hour -= hour % 3600;
	day = hour - hour % 86400;
	m1 = hour + 600;  /* two minutes of T0's hour, both in the past */
	m2 = hour + 1200; /* (T0 is at least an hour ago) */
	snprintf(raw_sql, sizeof(raw_sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats WHERE bucket "
		 ">= to_timestamp(%lld) AND bucket < to_timestamp(%lld)",
		 hour, hour + 3600);
	snprintf(rollup_sql, sizeof(rollup_sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats_rollup WHERE "
		 "bucket = to_timestamp(%lld)",
		 hour);

	/* Merged so far, nothing rolled up: every hour is read from raw. */
	expect_tiers_equal();
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_rollup"), 0);
	assert_true(sql_ll("SELECT count(*) FROM rollup_gaps WHERE stale") >=
		    1);

	/* Rolled whole: T0's hour is stored with exactly raw's sums. */
	assert_int_equal(storage_rollup(storage_writer_conn(w), 0, 100, &hours),
			 0);
	assert_true(hours >= 1);
	expect_tiers_equal();
	assert_true(sql_ll(raw_sql) > 0);
	assert_int_equal(sql_ll(rollup_sql), sql_ll(raw_sql));
	/* ... and its 10 min buckets too. */
	assert_int_equal(stored_10m(hour, hour + 3600), sql_ll(raw_sql));
	assert_int_equal(sql_ll("SELECT count(*) FROM rollup_gaps WHERE hour "
				"+ interval '1 hour' <= date_bin('1 minute', "
				"now(), timestamptz '2000-01-01 00:00+00')"),
			 0);

	/* Late batches at m1 and m2: the hour is stale, read from raw. */
	merge_one(w, 0xd1, m1 * FP_NS_PER_SEC);
	merge_one(w, 0xd2, m2 * FP_NS_PER_SEC);
	expect_tiers_equal();
	assert_int_equal(sql_ll(rollup_sql) + 30, sql_ll(raw_sql));
	/* Not folded yet: the slot records m1 as its oldest bucket, and the
	 * roller goes no further than m1 (recomputing the stale hour up to
	 * there from the raw tables alone). */
	assert_int_equal(sql_ll("SELECT extract(epoch FROM min(min_bucket))"
				"::bigint FROM delta_slots"),
			 m1);
	roll_upto(m1 + 300);
	snprintf(sql, sizeof(sql),
		 "SELECT extract(epoch FROM upto)::bigint FROM rollup_cover "
		 "WHERE hour = to_timestamp(%lld)",
		 hour);
	assert_int_equal(sql_ll(sql), m1);
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats_raw WHERE "
		 "bucket >= to_timestamp(%lld) AND bucket < to_timestamp(%lld)",
		 hour, m1);
	assert_int_equal(sql_ll(rollup_sql), sql_ll(sql));
	/* Recomputed whole up to m1: the 10 min buckets before it are
	 * stored, none from m1 on (m1 is on a 10 min boundary). */
	assert_int_equal(stored_10m(hour, m1), sql_ll(sql));
	assert_int_equal(stored_10m(m1, hour + 3600), 0);
	expect_tiers_equal();
	snprintf(sql, sizeof(sql),
		 "SELECT extract(epoch FROM upto)::bigint FROM rollup_cover "
		 "WHERE hour = to_timestamp(%lld)",
		 hour);
	/* Folded: delta_slots is empty, and the roller goes on. */
	assert_int_equal(storage_fold(w, NULL), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM delta_slots"), 0);
	/* Rolled up to m1 + 5 min: m1 is added, then m2 is added from raw by
	 * readers. */
	roll_upto(m1 + 300);
	assert_int_equal(sql_ll(sql), m1 + 300);
	expect_tiers_equal();
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats WHERE bucket "
		 ">= to_timestamp(%lld) AND bucket < to_timestamp(%lld)",
		 hour, m1 + 300);
	assert_int_equal(sql_ll(rollup_sql), sql_ll(sql));
	assert_true(sql_ll(rollup_sql) + 15 <= sql_ll(raw_sql));
	/* m1 + 5 min is inside m1's 10 min bucket: not stored yet. */
	assert_int_equal(stored_10m(m1, hour + 3600), 0);
	/* Then up to m2 + 5 min: m2 is added to the stored rows, and m1's
	 * bucket is whole now: stored. */
	roll_upto(m2 + 300);
	expect_tiers_equal();
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats_raw WHERE "
		 "bucket >= to_timestamp(%lld) AND bucket < to_timestamp(%lld)",
		 hour, m2);
	assert_int_equal(stored_10m(hour, hour + 3600), sql_ll(sql));
	assert_true(stored_10m(m1, m2) >= 15);
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats WHERE bucket "
		 ">= to_timestamp(%lld) AND bucket < to_timestamp(%lld)",
		 hour, m2 + 300);
	assert_int_equal(sql_ll(rollup_sql), sql_ll(sql));
	assert_true(sql_ll(sql) >= 30);
	/* A late batch inside the covered minutes makes it stale again. */
	merge_one(w, 0xd3, m1 * FP_NS_PER_SEC);
	snprintf(
		sql, sizeof(sql),
		"SELECT stale FROM rollup_gaps WHERE hour = to_timestamp(%lld)",
		hour);
	v = fp_test_sql(url, sql);
	assert_string_equal(v, "t");
	free(v);
	expect_tiers_equal();
	assert_int_equal(storage_fold(w, NULL), 0);
	assert_int_equal(storage_rollup(storage_writer_conn(w), 0, 100, &hours),
			 0);
	assert_true(hours >= 1);
	assert_int_equal(sql_ll(rollup_sql), sql_ll(raw_sql));
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM rollup_gaps WHERE hour = "
		 "to_timestamp(%lld)",
		 hour);
	assert_int_equal(sql_ll(sql), 0);
	expect_tiers_equal();

	/* Days: as if two days had passed, every hour and then every day
	 * is rolled up; the 1 d tier and the span keep raw's sums. */
	assert_int_equal(storage_rollup(storage_writer_conn(w), -2 * 86400,
					1000, &hours),
			 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM rollup_gaps"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM rollup_dirty_1d"), 0);
	expect_tiers_equal();
	snprintf(raw_sql, sizeof(raw_sql),
		 "SELECT sum(ncalls) FROM fn_stats WHERE bucket >= "
		 "to_timestamp(%lld) AND bucket < to_timestamp(%lld)",
		 day, day + 86400);
	snprintf(rollup_sql, sizeof(rollup_sql),
		 "SELECT sum(ncalls) FROM fn_stats_rollup_1d WHERE bucket = "
		 "to_timestamp(%lld)",
		 day);
	assert_int_equal(sql_ll(rollup_sql), sql_ll(raw_sql));
	/* A span starting at T0's hour (its first, partial day read from
	 * the 1 h tier) has T0's hour; one starting an hour later has not. */
	expect_span(hour, hour + 3 * 86400);
	expect_span(hour + 3600, hour + 3600 + 3 * 86400);
	expect_span(day - 86400, day + 2 * 86400);
	expect_span(hour - 3 * 86400, hour + 3600);
	storage_writer_destroy(w);
}

/*
 * Windows whose fn_stats_sum (edge_, stack_; schema 010) summed per key
 * differ from raw's sums, over windows [a, a + len h) for every fifth hour
 * a in [from, until] and each len (1 h to 6 d): 0 when they are exact.
 */
static long long sum_mismatches(const char *table, const char *key,
				const char *v0, const char *v1, const char *v2,
				long long from, long long until)
{
	char sql[2048], sums[256], raws[256];

	snprintf(sums, sizeof(sums), "sum(%s) AS a, sum(%s) AS b, sum(%s) AS c",
		 v0, v1, v2);
	snprintf(raws, sizeof(raws),
		 "HAVING sum(%s) <> 0 OR sum(%s) <> 0 OR sum(%s) <> 0", v0, v1,
		 v2);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM generate_series(%4$lld::bigint, "
		 "%5$lld::bigint, 5 * 3600) a, unnest(ARRAY[1, 3, 11, 24, 25, "
		 "47, 50, 73, 100, 145]) len, LATERAL (SELECT count(*) AS bad "
		 "FROM (SELECT %2$s, "
		 "%3$s FROM %1$s_sum(a, a + len * 3600) GROUP BY %2$s %6$s) s "
		 "FULL JOIN (SELECT %2$s, %3$s FROM %1$s WHERE bucket >= "
		 "to_timestamp(a) AND bucket < to_timestamp(a + len * 3600) "
		 "GROUP BY %2$s) r USING (%2$s) WHERE s.a IS DISTINCT FROM r.a "
		 "OR s.b IS DISTINCT FROM r.b OR s.c IS DISTINCT FROM r.c) x "
		 "WHERE x.bad > 0",
		 table, key, sums, from, until, raws);
	return sql_ll(sql);
}

static void expect_sums_exact(long long from, long long until)
{
	assert_int_equal(sum_mismatches("fn_stats", "series_id, fn_id",
					"ncalls", "tottime_ns", "cumtime_ns",
					from, until),
			 0);
	assert_int_equal(
		sum_mismatches("edge_stats", "series_id, caller_id, callee_id",
			       "ncalls", "pcalls", "cumtime_ns", from, until),
		0);
	assert_int_equal(sum_mismatches("stack_stats", "series_id, stack_id",
					"ncalls", "self_ns", "total_ns", from,
					until),
			 0);
}

/* Whether fleetprof_sum_plan's column col (days, pos_pts, neg_pts) for
 * the window [from, until) holds time t. */
static int plan_has(long long from, long long until, const char *col,
		    long long t)
{
	char sql[256];
	char *v;
	int yes;
	snprintf(sql, sizeof(sql),
		 "SELECT to_timestamp(%lld) = ANY (%s) FROM "
		 "fleetprof_sum_plan(%lld, %lld)",
		 t, col, from, until);
	v = fp_test_sql(url, sql);
	assert_non_null(v);
	yes = strcmp(v, "t") == 0;
	free(v);
	return yes;
}

/* ncalls of the running sums stored at t. */
static long long running_calls(long long t)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats_running WHERE "
		 "bucket = to_timestamp(%lld)",
		 t);
	return sql_ll(sql);
}

/* ncalls in raw from the start of day's week (Mondays) to the day's end. */
static long long week_calls(long long day)
{
	char sql[320];
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(ncalls), 0) FROM fn_stats WHERE bucket "
		 ">= date_bin('7 days', to_timestamp(%lld), timestamptz "
		 "'2000-01-03 00:00+00') AND bucket < to_timestamp(%lld)",
		 day, day + 86400);
	return sql_ll(sql);
}

/*
 * Running sums (schema 010): with batches in 11 hours over six days,
 * every window of 1 hour to 6 days read through fn_stats_sum (the 1 d
 * tier, running sums within days and weeks, hours) equals raw, per key,
 * for all three fact tables: before the roller ran, once rolled, while a
 * late batch makes an hour stale (its day's later points and its week's
 * later day points must not be used), and once the roller has redone the
 * hour, the day and the points after them.
 */
static void test_running_sums(void **state)
{
	static const int at[][2] = {{0, 1},  {0, 5}, {0, 13}, {0, 23},
				    {1, 0},  {1, 7}, {1, 15}, {2, 2},
				    {3, 10}, {4, 4}, {5, 20}};
	struct storage_writer *w = writer();
	long long now = (long long)(fp_wall_ns() / FP_NS_PER_SEC);
	long long day0 = now - now % 86400 - 6 * 86400;
	long long lo = day0 - 3600, hi = day0 + 6 * 86400;
	char hours_sql[256], days_sql[256];
	int hours = -1;
	(void)state;

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		merge_one(w, (uint8_t)(0xa0 + i),
			  (day0 + at[i][0] * 86400 + at[i][1] * 3600 + 120) *
				  FP_NS_PER_SEC);
	assert_int_equal(storage_fold(w, NULL), 0);
	/* Points inside the six days, and at their ends (day points). */
	snprintf(hours_sql, sizeof(hours_sql),
		 "SELECT count(*) FROM running_points WHERE at > "
		 "to_timestamp(%lld) AND at < to_timestamp(%lld) AND "
		 "extract(epoch FROM at)::bigint %% 86400 <> 0",
		 day0, day0 + 6 * 86400);
	snprintf(days_sql, sizeof(days_sql),
		 "SELECT count(*) FROM running_points WHERE at > "
		 "to_timestamp(%lld) AND at <= to_timestamp(%lld) AND "
		 "extract(epoch FROM at)::bigint %% 86400 = 0",
		 day0, day0 + 6 * 86400);
	/* Not rolled yet: no points; the sums come from the hours. */
	assert_int_equal(sql_ll(hours_sql), 0);
	assert_int_equal(sql_ll(days_sql), 0);
	expect_sums_exact(lo, hi);

	/* Rolled: a point after every hour with rows but a day's last (day
	 * 0: 02:00, 06:00, 14:00; day 1: 01:00, 08:00, 16:00; days 2-5:
	 * 03:00, 11:00, 05:00, 21:00), and one after each of the six days. */
	assert_int_equal(storage_rollup(storage_writer_conn(w), -2 * 86400,
					1000, &hours),
			 0);
	assert_int_equal(sql_ll(hours_sql), 10);
	assert_int_equal(sql_ll(days_sql), 6);
	assert_true(plan_has(day0 + 86400 + 3600, day0 + 86400 + 20 * 3600,
			     "pos_pts", day0 + 86400 + 16 * 3600));
	assert_int_equal(running_calls(day0 + 14 * 3600), 3 * 15);
	/* The day point after day 0: the calls of its week (from Monday)
	 * up to day 1, day 0's 4 batches of 15 among them. */
	assert_int_equal(running_calls(day0 + 86400), week_calls(day0));
	assert_true(week_calls(day0) >= 4 * 15);
	/* Six days from day 0's 01:00 read fewer than three days one by one
	 * (a week's part is W(y) - W(x)). */
	{
		char sql[256];
		snprintf(sql, sizeof(sql),
			 "SELECT cardinality(days) FROM fleetprof_sum_plan("
			 "%lld, %lld)",
			 day0 + 3600, day0 + 5 * 86400 + 22 * 3600);
		assert_true(sql_ll(sql) <= 2);
	}
	expect_sums_exact(lo, hi);

	/* A late batch in day 0's 05:00: the hour is stale, and the points
	 * after it (06:00, 14:00; the day points of its week after day 0)
	 * must not be used until it is redone. */
	assert_true(plan_has(day0 + 3600, day0 + 20 * 3600, "pos_pts",
			     day0 + 14 * 3600));
	merge_one(w, 0xb0, (day0 + 5 * 3600 + 600) * FP_NS_PER_SEC);
	assert_true(plan_has(day0 + 3600, day0 + 20 * 3600, "pos_pts",
			     day0 + 2 * 3600));
	assert_false(plan_has(day0 + 3600, day0 + 20 * 3600, "pos_pts",
			      day0 + 14 * 3600));
	expect_sums_exact(lo, hi);

	/* Redone: the points after 05:00 and after day 0 hold the late
	 * batch too. */
	assert_int_equal(storage_fold(w, NULL), 0);
	assert_int_equal(storage_rollup(storage_writer_conn(w), -2 * 86400,
					1000, &hours),
			 0);
	assert_int_equal(running_calls(day0 + 14 * 3600), 4 * 15);
	assert_int_equal(running_calls(day0 + 86400), week_calls(day0));
	assert_true(week_calls(day0) >= 5 * 15);
	assert_int_equal(sql_ll(hours_sql), 10);
	assert_int_equal(sql_ll(days_sql), 6);
	assert_true(plan_has(day0 + 3600, day0 + 20 * 3600, "pos_pts",
			     day0 + 14 * 3600));
	expect_sums_exact(lo, hi);

	/* The queries over the running sums: day 0's [13:00, 20:00) holds
	 * the 13:00 batch (C(14:00) - C(06:00) + hours); [14:00, 20:00)
	 * nothing, though C(14:00) - C(14:00) leaves every key of the day
	 * at zero: no function, edge or path is listed. */
	for (int k = 0; k < 2; k++) {
		const char *pats[1] = {"web-late"};
		struct storage_filter f;
		struct storage_top_row *top = NULL;
		struct storage_edge_row *erows = NULL;
		struct storage_path_row *paths = NULL;
		size_t ntop = 0, nedges = 0, npaths = 0;
		uint64_t calls = 0;
		PGconn *c;

		memset(&f, 0, sizeof(f));
		f.from_ns = (day0 + (13 + k) * 3600) * FP_NS_PER_SEC;
		f.until_ns = (day0 + 20 * 3600) * FP_NS_PER_SEC;
		f.hosts = pats;
		f.nhosts = 1;
		f.clock = WIRE_CLOCK_WALL;
		f.tier = STORAGE_TIER_1H;
		assert_int_equal(storage_connect(url, &c, NULL, 0), 0);
		assert_int_equal(storage_read_begin(c), 0);
		assert_int_equal(storage_top(c, &f, STORAGE_GROUP_FUNCTION,
					     STORAGE_SORT_TOTTIME, 0, &top,
					     &ntop),
				 0);
		assert_int_equal(storage_edges(c, &f, STORAGE_EDGES_ALL,
					       STORAGE_SORT_TOTTIME, 0, &erows,
					       &nedges),
				 0);
		assert_int_equal(storage_paths(c, &f, &paths, &npaths), 0);
		for (size_t i = 0; i < ntop; i++)
			calls += top[i].ncalls;
		assert_int_equal(ntop, k == 0 ? 3 : 0);
		assert_int_equal(calls, k == 0 ? 15 : 0);
		assert_int_equal(nedges, k == 0 ? 2 : 0);
		assert_int_equal(npaths, k == 0 ? 3 : 0);
		storage_top_free(top, ntop);
		storage_edges_free(erows, nedges);
		storage_paths_free(paths, npaths);
		assert_int_equal(storage_read_end(c), 0);
		PQfinish(c);
	}
	storage_writer_destroy(w);
}

/* Two agents of one series in one group: their rows are summed in memory
 * before they are written; a batch from before the raw retention or from
 * the far future is refused, not stored. */
static void test_preaggregation_and_window(void **state)
{
	PGconn *c;
	struct storage_writer *w;
	struct wire_batch a, b, old, future;
	struct storage_merge_item items[4];
	struct storage_merge_stats st;
	long long before = sql_ll("SELECT sum(ncalls) FROM fn_stats");
	(void)state;

	assert_int_equal(storage_connect(url, &c, NULL, 0), 0);
	assert_int_equal(storage_writer_create(c, &w), 0);
	memset(&st, 0, sizeof(st));
	make_batch(&a, "web-3", 0xc1, 1, T0 + 1000000000);
	make_batch(&b, "web-3", 0xc2, 1, T0 + 2000000000);
	make_batch(&old, "web-3", 0xc3, 1,
		   fp_wall_ns() - 8 * 86400 * FP_NS_PER_SEC);
	make_batch(&future, "web-3", 0xc4, 1,
		   fp_wall_ns() + 2 * 86400 * FP_NS_PER_SEC);
	items[0] = (struct storage_merge_item){&a, -1, -1};
	items[1] = (struct storage_merge_item){&b, -1, -1};
	items[2] = (struct storage_merge_item){&old, -1, -1};
	items[3] = (struct storage_merge_item){&future, -1, -1};
	assert_int_equal(storage_merge(w, items, 4, &st), 0);
	assert_int_equal(items[0].status, 0);
	assert_int_equal(items[1].status, 0);
	assert_int_equal(items[2].status, FP_ERANGE);
	assert_int_equal(items[3].status, FP_ERANGE);
	assert_int_equal(items[2].dup, 0);
	assert_int_equal(st.batches_new, 2);
	assert_int_equal(st.batches_refused, 2);
	assert_int_equal(st.rows, 2 * (3 + 2 + 3));
	assert_int_equal(st.rows_written, 3 + 2 + 3); /* summed pairwise */
	assert_int_equal(sql_ll("SELECT sum(ncalls) FROM fn_stats") - before,
			 2 * 15);
	storage_writer_destroy(w);
}

/* Retention drops whole partitions, per tier; partitions are made ahead. */
static void test_retention(void **state)
{
	PGconn *c;
	struct storage_writer *w;
	struct storage_writer_opts o = {2 * 86400, 30 * 86400, 0};
	int created = -1, dropped = -1;
	char *v;
	(void)state;

	/* A raw and a rollup partition 10 days old, with a row each. */
	v = fp_test_sql(url, "SELECT fleetprof_ensure_partitions("
			     "current_date - 10, current_date - 10)");
	free(v);
	v = fp_test_sql(url, "WITH a AS (INSERT INTO fn_stats_raw VALUES "
			     "(now() - interval '10 days', 1, 1, 1, 1, 1, 1) "
			     "RETURNING 1), b AS (INSERT INTO fn_stats_rollup "
			     "VALUES (date_trunc('hour', now() - interval "
			     "'10 days'), 1, 1, 1, 1, 1, 1) RETURNING 1) "
			     "SELECT (SELECT count(*) FROM a) + "
			     "(SELECT count(*) FROM b)");
	assert_string_equal(v, "2");
	free(v);

	assert_int_equal(storage_connect(url, &c, NULL, 0), 0);
	assert_int_equal(storage_writer_create(c, &w), 0);
	storage_writer_configure(w, &o);
	assert_int_equal(storage_maintain(w, &created, &dropped), 0);
	/* raw fn/edge/stack, ledger and the 10 min fn/edge/stack for day
	 * -10 (and older, none). */
	assert_int_equal(dropped, 7);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats WHERE bucket "
				"< now() - interval '9 days'"),
			 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_1h WHERE "
				"bucket < now() - interval '9 days'"),
			 1);
	/* Today and the next two days exist for every table. */
	assert_int_equal(
		sql_ll("SELECT count(*) FROM pg_class WHERE relname "
		       "= 'fn_stats_raw_p' || to_char(current_date + 2, "
		       "'YYYYMMDD')"),
		1);
	assert_int_equal(storage_maintain(w, &created, &dropped), 0);
	assert_int_equal(created, 0);
	assert_int_equal(dropped, 0);
	storage_writer_destroy(w);
}

/*
 * Retention while the roller is held back (a dead writer's slot keeps an
 * old min_bucket in delta_slots): raw and the 10 min tier of that day stay,
 * the ledger goes (and ledger_cover records it); once the slot is gone the
 * roller rolls the hour, making the 10 min partitions it needs, and the
 * next pass drops the day.
 */
static void test_retention_keeps_gaps(void **state)
{
	char *v;
	(void)state;

	v = fp_test_sql(
		url, "SELECT fleetprof_ensure_partitions(current_date - 12, "
		     "current_date - 12); INSERT INTO fn_stats_raw VALUES "
		     "((current_date - 12) + interval '5 hours 1 minute', 1, "
		     "1, 7, 7, 70, 70); INSERT INTO rollup_dirty VALUES "
		     "((current_date - 12) + interval '5 hours 1 minute', 0, "
		     "1); INSERT INTO delta_slots VALUES (31, (current_date - "
		     "12) + interval '5 hours') RETURNING 1");
	assert_string_equal(v, "1");
	free(v);
	/* At least the day's ledger partition goes. */
	v = fp_test_sql(url, "SELECT dropped > 0 FROM fleetprof_maintain("
			     "'2 days', '30 days')");
	assert_string_equal(v, "t");
	free(v);
	assert_int_equal(sql_ll("SELECT count(*) FROM pg_class WHERE relname "
				"IN ('fn_stats_raw_p' || to_char(current_date "
				"- 12, 'YYYYMMDD'), 'fn_stats_rollup_10m_p' || "
				"to_char(current_date - 12, 'YYYYMMDD'))"),
			 2);
	assert_int_equal(
		sql_ll("SELECT count(*) FROM pg_class WHERE relname "
		       "= 'ingested_batches_p' || to_char(current_date "
		       "- 12, 'YYYYMMDD')"),
		0);
	assert_true(sql_ll("SELECT count(*) FROM ledger_cover WHERE "
			   "kept_from >= current_date - 11") == 1);
	/* The slot is folded and gone; its 10 min partition had gone too
	 * (before schema 009 was fixed, retention dropped it here). */
	v = fp_test_sql(url,
			"DELETE FROM delta_slots WHERE slot = 31; DO $$ BEGIN "
			"EXECUTE format('DROP TABLE fn_stats_rollup_10m_p%1$s, "
			"edge_stats_rollup_10m_p%1$s, "
			"stack_stats_rollup_10m_p%1$s', to_char(current_date - "
			"12, 'YYYYMMDD')); END $$; SELECT 1");
	assert_string_equal(v, "1");
	free(v);
	assert_true(sql_ll("SELECT fleetprof_rollup(now(), 1000)") >= 1);
	assert_int_equal(sql_ll("SELECT coalesce(sum(ncalls), 0) FROM "
				"fn_stats_rollup_10m WHERE bucket = "
				"(current_date - 12) + interval '5 hours'"),
			 7);
	assert_int_equal(
		sql_ll("SELECT coalesce(sum(ncalls), 0) FROM "
		       "fn_stats_10m WHERE bucket >= current_date - 12 "
		       "AND bucket < current_date - 11"),
		7);
	v = fp_test_sql(url, "SELECT dropped FROM fleetprof_maintain("
			     "'2 days', '30 days')");
	assert_true(strtol(v, NULL, 10) >= 6);
	free(v);
	assert_int_equal(sql_ll("SELECT count(*) FROM pg_class WHERE relname "
				"IN ('fn_stats_raw_p' || to_char(current_date "
				"- 12, 'YYYYMMDD'), 'fn_stats_rollup_10m_p' || "
				"to_char(current_date - 12, 'YYYYMMDD'))"),
			 0);
}

static void test_identities_stable(void **state)
{
	(void)state;
	/* Persisted ids, pinned: a change here splits every stored series,
	 * function and call path in two. */
	assert_true(storage_function_id("main", "app.c", 10, "app") ==
		    INT64_C(-3316656468824707870));
	assert_true(storage_stack_id(0, 5) == INT64_C(-5486628058378987527));
	assert_true(storage_series_id("web-1", "api", 0, "{}") ==
		    INT64_C(7936280688937492254));
	assert_true(storage_function_id("main", "app.c", 10, "app") !=
		    storage_function_id("main", "app.c", 11, "app"));
	assert_true(storage_function_id("ab", "c", 1, "") !=
		    storage_function_id("a", "bc", 1, ""));
	assert_true(storage_stack_id(0, 5) != storage_stack_id(5, 0));
}

static long long host_calls(const char *table, const char *hosts)
{
	char q[256];
	snprintf(q, sizeof(q),
		 "SELECT coalesce(sum(t.ncalls), 0) FROM %s t JOIN series s "
		 "ON s.id = t.series_id WHERE s.host LIKE '%s'",
		 table, hosts);
	return sql_ll(q);
}

/*
 * Delta slots: two writers append to their own slots; one writer's
 * session dies before it folds, its rows stay counted, and the next writer
 * to start folds them from the table. The sums never change.
 */
static void test_delta_slots(void **state)
{
	struct storage_writer *a = writer(), *b = writer(), *c;
	struct wire_batch x, y;
	struct storage_merge_item it;
	char q[128];
	(void)state;

	make_batch(&x, "slot-a", 0xc1, 1, T0 + 1800 * FP_NS_PER_SEC);
	make_batch(&y, "slot-b", 0xc2, 1, T0 + 1800 * FP_NS_PER_SEC);
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(a, &it, 1, NULL), 0);
	it = (struct storage_merge_item){&y, -1, 0};
	assert_int_equal(storage_merge(b, &it, 1, NULL), 0);
	/* Earlier writers folded and left: a holds slots 0 and 1 and appends
	 * to 0, b holds 2 and 3 and appends to 2; three rows each. */
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta_0"), 3);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta_1"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta_2"), 3);
	assert_int_equal(host_calls("fn_stats", "slot-%"), 30);

	/* a's session dies: its slot keeps its rows, still counted. */
	snprintf(q, sizeof(q), "SELECT pg_terminate_backend(%d)::int",
		 PQbackendPID(storage_writer_conn(a)));
	assert_int_equal(sql_ll(q), 1);
	storage_writer_destroy(a); /* its fold fails: nothing lost */
	assert_int_equal(storage_fold(b, NULL), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta_2"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta_0"), 3);
	assert_int_equal(host_calls("fn_stats", "slot-%"), 30);
	assert_int_equal(host_calls("fn_stats_raw", "slot-b"), 15);

	/* The next writer takes the free slot 0 and folds what it holds. */
	c = writer();
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM edge_stats_delta"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM stack_stats_delta"), 0);
	assert_int_equal(host_calls("fn_stats_raw", "slot-%"), 30);
	assert_int_equal(host_calls("fn_stats", "slot-%"), 30);
	/* Its own appends go to slot 0 now. */
	make_batch(&x, "slot-a", 0xc1, 2, T0 + 1800 * FP_NS_PER_SEC);
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(c, &it, 1, NULL), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta_0"), 3);
	assert_int_equal(host_calls("fn_stats", "slot-a"), 30);
	storage_writer_destroy(c); /* folds on the way out */
	storage_writer_destroy(b);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta"), 0);
	assert_int_equal(host_calls("fn_stats_raw", "slot-a"), 30);
	assert_int_equal(host_calls("fn_stats_raw", "slot-b"), 15);
}

static long long delta_rows(int slot)
{
	char q[64];
	snprintf(q, sizeof(q), "SELECT count(*) FROM fn_stats_delta_%d", slot);
	return sql_ll(q);
}

/*
 * A fold on another connection (the collector's fold thread): the writer
 * hands its slot over and appends to its spare meanwhile; the job folds
 * exactly what the slot held. A job whose writer's session has ended does
 * nothing (FP_ESTATE), and a running writer's maintenance folds the slot
 * from the table.
 */
static void test_fold_job(void **state)
{
	struct storage_writer *w = writer(), *n;
	struct storage_fold_job *j;
	struct wire_batch x;
	struct storage_merge_item it;
	PGconn *f;
	uint64_t rows = 0;
	char q[128];
	(void)state;

	assert_int_equal(storage_connect(url, &f, NULL, 0), 0);
	assert_int_equal(storage_fold_conn_init(f), 0);
	assert_null(storage_writer_retire(w)); /* nothing to fold */
	/* A batch that carries no fact rows (only a dropped count) appends
	 * nothing, so its slot gets no delta_slots row to wait for. */
	make_batch(&x, "job-0", 0xe0, 1, T0 + 2700 * FP_NS_PER_SEC);
	x.nfstats = x.nedges = x.nnodes = 0;
	x.dropped = 5;
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(w, &it, 1, NULL), 0);
	assert_int_equal(it.status, 0);
	assert_int_equal(storage_fold_pending(w), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM delta_slots"), 0);
	make_batch(&x, "job-1", 0xe1, 1, T0 + 2700 * FP_NS_PER_SEC);
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(w, &it, 1, NULL), 0);
	assert_int_equal(delta_rows(0), 3);
	j = storage_writer_retire(w);
	assert_non_null(j);
	assert_int_equal(storage_fold_job_keys(j), 8); /* 3 + 2 + 3 */
	assert_int_equal(storage_fold_pending(w), 0);
	/* Meanwhile the writer appends to its spare slot, 1. */
	make_batch(&x, "job-1", 0xe1, 2, T0 + 2700 * FP_NS_PER_SEC);
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(w, &it, 1, NULL), 0);
	assert_int_equal(delta_rows(1), 3);
	assert_null(storage_writer_retire(w)); /* the spare is out */
	assert_int_equal(storage_fold_job_run(f, j, &rows), 0);
	assert_int_equal(rows, 8);
	assert_int_equal(storage_fold_job_keys(j), 0);
	assert_int_equal(delta_rows(0), 0);
	assert_int_equal(delta_rows(1), 3);
	assert_int_equal(host_calls("fn_stats_raw", "job-1"), 15);
	assert_int_equal(host_calls("fn_stats", "job-1"), 30);
	storage_writer_reclaim(w, j);

	/* The second slot goes out; the writer's session ends first. */
	n = writer(); /* another writer, running: slots 2 and 3 */
	j = storage_writer_retire(w);
	assert_non_null(j);
	snprintf(q, sizeof(q), "SELECT pg_terminate_backend(%d)::int",
		 PQbackendPID(storage_writer_conn(w)));
	assert_int_equal(sql_ll(q), 1);
	/* pg_terminate_backend only signals: wait until its locks are gone. */
	snprintf(q, sizeof(q), "SELECT count(*) FROM pg_locks WHERE pid = %d",
		 PQbackendPID(storage_writer_conn(w)));
	for (int i = 0; i < 500 && sql_ll(q) > 0; i++)
		usleep(10000);
	assert_int_equal(sql_ll(q), 0);
	assert_int_equal(storage_fold_job_run(f, j, &rows), FP_ESTATE);
	assert_int_equal(storage_fold_job_keys(j), 0);
	assert_int_equal(delta_rows(1), 3); /* untouched, still counted */
	assert_int_equal(host_calls("fn_stats", "job-1"), 30);
	storage_writer_destroy(w); /* the job is out: freed by its holder */
	storage_fold_job_free(j);
	assert_int_equal(sql_ll("SELECT count(*) FROM delta_slots"), 1);
	/* The running writer's maintenance folds the free slot 1. */
	{
		int created, dropped;
		assert_int_equal(storage_maintain(n, &created, &dropped), 0);
	}
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta"), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM delta_slots"), 0);
	assert_int_equal(host_calls("fn_stats_raw", "job-1"), 30);
	assert_int_equal(host_calls("fn_stats", "job-1"), 30);
	storage_writer_destroy(n);
	PQfinish(f);
}

/* A reader holding the delta tables (a long query, a roller pass) cannot
 * make a fold fail or wait: it empties the slot by DELETE instead of
 * TRUNCATE, and the sums are the same for the reader and after. */
static void test_fold_under_reader(void **state)
{
	struct storage_writer *w = writer();
	struct wire_batch x;
	struct storage_merge_item it;
	struct storage_writer_opts o = {7 * 86400, 90 * 86400, 1000};
	PGconn *reader;
	PGresult *r;
	(void)state;

	storage_writer_configure(w, &o); /* wait 1 s, not 30, for TRUNCATE */
	make_batch(&x, "reader-1", 0xd1, 1, T0 + 2400 * FP_NS_PER_SEC);
	assert_int_equal(sql_ll("SELECT sum(pg_relation_size(inhrelid)) FROM "
				"pg_inherits WHERE inhparent = "
				"'fn_stats_delta'::regclass"),
			 0);
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(w, &it, 1, NULL), 0);
	assert_int_equal(storage_connect(url, &reader, NULL, 0), 0);
	r = PQexec(reader, "BEGIN; SELECT count(*) FROM fn_stats");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	assert_int_equal(storage_fold(w, NULL), 0);
	assert_int_equal(storage_fold_pending(w), 0);
	assert_int_equal(host_calls("fn_stats_raw", "reader-1"), 15);
	assert_int_equal(host_calls("fn_stats", "reader-1"), 15);
	assert_int_equal(sql_ll("SELECT count(*) FROM fn_stats_delta"), 0);
	/* Emptied by DELETE: the pages are still there (TRUNCATE, every
	 * fold before this one, leaves none). */
	assert_true(sql_ll("SELECT sum(pg_relation_size(inhrelid)) FROM "
			   "pg_inherits WHERE inhparent = "
			   "'fn_stats_delta'::regclass") > 0);
	PQclear(PQexec(reader, "COMMIT"));
	PQfinish(reader);
	storage_writer_destroy(w);
}

/*
 * A reader's snapshot taken before any fact table is read (the hosts of a
 * raw window come from the ledger), then a fold of the rows it must see:
 * the fold must not TRUNCATE under it (TRUNCATE is not MVCC-safe: the
 * reader would find the slot empty and raw without the rows).
 */
static void test_snapshot_before_fold(void **state)
{
	struct storage_writer *w = writer();
	struct storage_writer_opts o = {7 * 86400, 90 * 86400, 1000};
	const char *pats[1] = {"snap-1"};
	struct storage_merge_item it;
	struct storage_filter f;
	struct wire_batch x;
	PGconn *reader;
	PGresult *r;
	uint64_t n = 0;
	int seen = -1;
	(void)state;

	storage_writer_configure(w, &o); /* wait 1 s, not 30, for TRUNCATE */
	make_batch(&x, "snap-1", 0xd5, 1, T0 + 2460 * FP_NS_PER_SEC);
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(w, &it, 1, NULL), 0);
	assert_int_equal(storage_connect(url, &reader, NULL, 0), 0);
	assert_int_equal(storage_read_begin(reader), 0);
	memset(&f, 0, sizeof(f));
	f.from_ns = T0;
	f.until_ns = T0 + 3600 * FP_NS_PER_SEC;
	f.hosts = pats;
	f.nhosts = 1;
	f.clock = WIRE_CLOCK_WALL;
	assert_int_equal(storage_window_hosts(reader, &f, &n, &seen), 0);
	assert_int_equal(n, 1);
	assert_int_equal(storage_fold(w, NULL), 0);
	assert_int_equal(host_calls("fn_stats_raw", "snap-1"), 15);
	r = PQexec(reader, "SELECT sum(f.ncalls) FROM fn_stats f JOIN series s "
			   "ON s.id = f.series_id WHERE s.host = 'snap-1'");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "15");
	PQclear(r);
	assert_int_equal(storage_read_end(reader), 0);
	PQfinish(reader);
	storage_writer_destroy(w);
}

/* storage_window_hosts with hosts "wh-*": the count, and pattern 0's
 * STORAGE_HOST_* answer. */
static void window_hosts(int tier, long long from_s, long long until_s,
			 const char *pattern, uint64_t want_n, int want_seen)
{
	const char *pats[2] = {"wh-*", pattern};
	struct storage_filter f;
	PGconn *c;
	uint64_t n = 99;
	int seen[2] = {-1, -1};

	memset(&f, 0, sizeof(f));
	f.from_ns = from_s * FP_NS_PER_SEC;
	f.until_ns = until_s * FP_NS_PER_SEC;
	f.hosts = pats;
	f.nhosts = 2;
	f.clock = WIRE_CLOCK_WALL;
	f.tier = tier;
	assert_int_equal(storage_connect(url, &c, NULL, 0), 0);
	assert_int_equal(storage_window_hosts(c, &f, &n, seen), 0);
	PQfinish(c);
	assert_int_equal(n, want_n);
	assert_int_equal(seen[0], want_n > 0 ? STORAGE_HOST_IN_WINDOW
					     : STORAGE_HOST_ELSEWHERE);
	assert_int_equal(seen[1], want_seen);
}

/* ncalls of a storage_top_pair result. */
static uint64_t top_calls(const struct storage_top_row *rows, size_t n)
{
	uint64_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += rows[i].ncalls;
	return c;
}

/*
 * storage_read_share: a second connection sees the first one's snapshot,
 * not a newer one. A batch committed after the first reader began is in
 * neither of storage_top_pair's results (in both windows), but in a new
 * reader's; and with no second connection the pair runs on the first.
 */
static void test_shared_snapshot(void **state)
{
	struct storage_writer *w = writer();
	const char *pats[1] = {"share-1"};
	struct storage_top_row *r0 = NULL, *r1 = NULL;
	size_t n0 = 0, n1 = 0;
	struct storage_filter f;
	struct wire_batch x;
	struct storage_merge_item it;
	PGconn *c0, *c1, *c2;
	(void)state;

	make_batch(&x, "share-1", 0xe1, 1, T0 + 120 * FP_NS_PER_SEC);
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(w, &it, 1, NULL), 0);
	assert_int_equal(storage_connect(url, &c0, NULL, 0), 0);
	assert_int_equal(storage_connect(url, &c1, NULL, 0), 0);
	assert_int_equal(storage_read_begin(c0), 0);
	assert_int_equal(storage_read_share(c0, c1), 0);
	/* Committed after c0's snapshot: */
	make_batch(&x, "share-1", 0xe1, 2, T0 + 180 * FP_NS_PER_SEC);
	it = (struct storage_merge_item){&x, -1, 0};
	assert_int_equal(storage_merge(w, &it, 1, NULL), 0);
	memset(&f, 0, sizeof(f));
	f.from_ns = T0;
	f.until_ns = T0 + 600 * FP_NS_PER_SEC;
	f.hosts = pats;
	f.nhosts = 1;
	f.clock = WIRE_CLOCK_WALL;
	assert_int_equal(
		storage_top_pair(c0, &f, c1, &f, STORAGE_GROUP_FUNCTION,
				 STORAGE_SORT_TOTTIME, &r0, &n0, &r1, &n1),
		0);
	assert_int_equal(n0, 3);
	assert_int_equal(n1, 3);
	assert_int_equal(top_calls(r0, n0), 15);
	assert_int_equal(top_calls(r1, n1), 15);
	storage_top_free(r0, n0);
	storage_top_free(r1, n1);
	/* Both connections are usable after: the pair on c0 alone. */
	assert_int_equal(
		storage_top_pair(c0, &f, NULL, &f, STORAGE_GROUP_FUNCTION,
				 STORAGE_SORT_TOTTIME, &r0, &n0, &r1, &n1),
		0);
	assert_int_equal(top_calls(r0, n0), 15);
	assert_int_equal(top_calls(r1, n1), 15);
	storage_top_free(r0, n0);
	storage_top_free(r1, n1);
	assert_int_equal(storage_read_end(c1), 0);
	assert_int_equal(storage_read_end(c0), 0);
	/* A reader that began after the second batch sees both. */
	assert_int_equal(storage_connect(url, &c2, NULL, 0), 0);
	assert_int_equal(storage_read_begin(c2), 0);
	assert_int_equal(storage_top(c2, &f, STORAGE_GROUP_FUNCTION,
				     STORAGE_SORT_TOTTIME, 0, &r0, &n0),
			 0);
	assert_int_equal(top_calls(r0, n0), 30);
	storage_top_free(r0, n0);
	assert_int_equal(storage_read_end(c2), 0);
	PQfinish(c0);
	PQfinish(c1);
	PQfinish(c2);
	storage_writer_destroy(w);
}

/*
 * Which hosts have data in a window: from the ledger where it is whole
 * (from its oldest partition, and not before what retention dropped), from
 * the facts (here the rollup tier) before, where retention left rollup
 * rows and no ledger. wh-new sent a batch an hour ago; wh-old has only a
 * rollup hour two days before the ledger's dropped end.
 */
static void test_window_hosts(void **state)
{
	struct storage_writer *w = writer();
	struct storage_merge_item item;
	struct wire_batch b;
	long long t0 = T0 / FP_NS_PER_SEC, kept, old;
	char sql[512], *v;
	(void)state;

	make_batch(&b, "wh-new", 0xb1, 1, T0);
	item = (struct storage_merge_item){&b, -1, -1};
	assert_int_equal(storage_merge(w, &item, 1, NULL), 0);
	assert_int_equal(storage_fold(w, NULL), 0);
	storage_writer_destroy(w);
	/* Retention dropped the ledger up to kept_from: a partition 20 days
	 * old, made and dropped here (so the mark is at least its end). */
	v = fp_test_sql(url, "SELECT fleetprof_ensure_partition("
			     "'ingested_batches', 1, current_date - 20) + "
			     "fleetprof_drop_partitions('ingested_batches', "
			     "(current_date - 19)::timestamptz)");
	assert_string_equal(v, "2"); /* made, then dropped */
	free(v);
	kept = sql_ll("SELECT extract(epoch FROM kept_from)::bigint FROM "
		      "ledger_cover");
	assert_true(kept >= sql_ll("SELECT extract(epoch FROM (current_date "
				   "- 19)::timestamptz)::bigint"));
	assert_true(kept <= t0);
	old = kept / 3600 * 3600 - 2 * 86400;
	snprintf(
		sql, sizeof(sql),
		"SELECT fleetprof_ensure_partition('fn_stats_rollup', 7, "
		"to_timestamp(%lld)::date); INSERT INTO series (id, host, "
		"service, clock) VALUES (-4242, 'wh-old', 'api', 'wall'); "
		"INSERT INTO fn_stats_rollup SELECT to_timestamp(%lld), -4242, "
		"id, 5, 5, 50, 50 FROM functions WHERE name = 'main' LIMIT 1 "
		"RETURNING 1",
		old, old);
	v = fp_test_sql(url, sql);
	assert_string_equal(v, "1");
	free(v);

	/* Raw, the last two hours: wh-new from the ledger; wh-old reported
	 * only outside the window. */
	window_hosts(STORAGE_TIER_RAW, t0 - 3600, t0 + 3600, "wh-old", 1,
		     STORAGE_HOST_ELSEWHERE);
	/* 1 h tier over both: one from each half. */
	window_hosts(STORAGE_TIER_1H, old, t0 + 3600, "wh-old", 2,
		     STORAGE_HOST_IN_WINDOW);
	/* Only the old hour: wh-new is not in it. */
	window_hosts(STORAGE_TIER_1H, old, old + 3600, "wh-new", 1,
		     STORAGE_HOST_ELSEWHERE);
	/* A window ending before the oldest raw bucket, an hour after the
	 * old one: nothing. */
	window_hosts(STORAGE_TIER_1H, old + 3600, old + 7200, "wh-new", 0,
		     STORAGE_HOST_ELSEWHERE);
	/* A ledger partition made again for the old day (a late batch would)
	 * holds none of wh-old's batches: the hosts there still come from
	 * the facts. */
	snprintf(sql, sizeof(sql),
		 "SELECT fleetprof_ensure_partition('ingested_batches', 1, "
		 "to_timestamp(%lld)::date)",
		 old);
	v = fp_test_sql(url, sql);
	assert_string_equal(v, "1");
	free(v);
	window_hosts(STORAGE_TIER_1H, old, old + 3600, "wh-new", 1,
		     STORAGE_HOST_ELSEWHERE);
}

static void test_db_down(void **state)
{
	PGconn *c = NULL;
	char err[256];
	int port = fp_test_free_port();
	char bad[128];
	(void)state;
	snprintf(bad, sizeof(bad),
		 "postgresql://nobody@127.0.0.1:%d/x?connect_timeout=2", port);
	assert_int_equal(storage_connect(bad, &c, err, sizeof(err)),
			 FP_EDBDOWN);
	assert_null(c);
	assert_non_null(strstr(err, "127.0.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_exactly_once),
		cmocka_unit_test(test_paths_and_strings),
		cmocka_unit_test(test_rollup_equals_raw),
		cmocka_unit_test(test_preaggregation_and_window),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_retention_keeps_gaps),
		cmocka_unit_test(test_identities_stable),
		cmocka_unit_test(test_delta_slots),
		cmocka_unit_test(test_fold_job),
		cmocka_unit_test(test_fold_under_reader),
		cmocka_unit_test(test_snapshot_before_fold),
		cmocka_unit_test(test_window_hosts),
		cmocka_unit_test(test_shared_snapshot),
		/* Last: its batches of 1-3 days ago would fall to the
		 * retention tests' 2 day raw retention. */
		cmocka_unit_test(test_running_sums),
		cmocka_unit_test(test_db_down),
	};
	int need = fp_test_need_db("test_storage");
	if (need != 0)
		return need;
	return cmocka_run_group_tests(tests, setup, teardown);
}
