/*
 * The read queries behind the fleetprof command: one parameterised
 * statement per call; tables, GROUP BY and ORDER BY are picked from
 * compile-time tables indexed by tier, grouping and sort. SQL results are
 * untrusted: field counts, row counts and every number are checked before
 * use, and rows are copied out so each PGresult is cleared right here.
 * Stateless except the optional EXPLAIN hook; one thread per connection.
 */
#include "storage/query.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "pgutil.h"
#include "storage/storage.h"
#include "wire/batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_NS (STORAGE_BUCKET_SECONDS * FP_NS_PER_SEC)
#define ROLLUP_NS (STORAGE_ROLLUP_SECONDS * FP_NS_PER_SEC)
#define MAX_TIMELINE_STEPS 100000

static void (*explain_cb)(void *, const char *, const char *);
static void *explain_arg;

void storage_set_explain(void (*cb)(void *arg, const char *what,
				    const char *line),
			 void *arg)
{
	explain_cb = cb;
	explain_arg = arg;
}

int64_t storage_floor_to(int64_t ns, int64_t width)
{
	int64_t r = ns % width;
	return r < 0 ? ns - r - width : ns - r;
}

int64_t storage_ceil_to(int64_t ns, int64_t width)
{
	int64_t f = storage_floor_to(ns, width);
	return f == ns ? ns : f + width;
}

int64_t storage_bucket_floor(int64_t ns)
{
	return storage_floor_to(ns, BUCKET_NS);
}

int64_t storage_bucket_ceil(int64_t ns)
{
	return storage_ceil_to(ns, BUCKET_NS);
}

const char *storage_tier_name(int tier)
{
	if (tier == STORAGE_TIER_RAW)
		return "raw";
	return tier > STORAGE_TIER_RAW && tier < STORAGE_TIER_COUNT_ ? "rollup"
								     : NULL;
}

int64_t storage_tier_bucket_ns(int tier)
{
	switch (tier) {
	case STORAGE_TIER_RAW:
		return BUCKET_NS;
	case STORAGE_TIER_10M:
		return (int64_t)STORAGE_ROLLUP_10M_SECONDS * FP_NS_PER_SEC;
	case STORAGE_TIER_1H:
	case STORAGE_TIER_SPAN:
		return ROLLUP_NS;
	default:
		return 0;
	}
}

void storage_tier_choose(int64_t from_ns, int64_t until_ns, int64_t now_ns,
			 int *tier, int64_t *from_out, int64_t *until_out)
{
	const int64_t keep = (int64_t)STORAGE_RAW_RETENTION_S * FP_NS_PER_SEC;
	const int64_t max = (int64_t)STORAGE_RAW_MAX_WINDOW_S * FP_NS_PER_SEC;
	int t = STORAGE_TIER_RAW;
	int64_t w;

	const int64_t span = (int64_t)STORAGE_SPAN_MIN_WINDOW_S * FP_NS_PER_SEC;

	if (until_ns - from_ns >= span)
		t = STORAGE_TIER_SPAN;
	else if (from_ns < now_ns - keep || until_ns - from_ns >= max)
		t = STORAGE_TIER_1H;
	else if (until_ns - from_ns >=
		 (int64_t)STORAGE_10M_MIN_WINDOW_S * FP_NS_PER_SEC)
		t = STORAGE_TIER_10M;
	w = storage_tier_bucket_ns(t);
	*tier = t;
	*from_out = storage_floor_to(from_ns, w);
	*until_out = storage_ceil_to(until_ns, w);
}

int storage_glob_to_like(const char *glob, char *out, size_t len)
{
	size_t o = 0;

	if (glob == NULL || out == NULL)
		return FP_EINVAL;
	for (const char *g = glob; *g != '\0'; g++) {
		char c = *g, esc = 0;
		if (c == '*') {
			c = '%';
		} else if (c == '?') {
			c = '_';
		} else if (c == '%' || c == '_' || c == '\\') {
			esc = '\\';
		}
		if (o + (esc ? 2 : 1) >= len) {
			if (len > 0)
				out[0] = '\0';
			return FP_ELIMIT;
		}
		if (esc)
			out[o++] = esc;
		out[o++] = c;
	}
	if (o >= len)
		return FP_ELIMIT;
	out[o] = '\0';
	return 0;
}

static const char *const sort_names[STORAGE_SORT_COUNT_] = {
	[STORAGE_SORT_TOTTIME] = "tottime",
	[STORAGE_SORT_CUMTIME] = "cumtime",
	[STORAGE_SORT_NCALLS] = "ncalls",
	[STORAGE_SORT_PCALLS] = "pcalls",
	[STORAGE_SORT_PERCALL] = "percall",
	[STORAGE_SORT_CUMPERCALL] = "cumpercall",
};

const char *storage_sort_name(int sort)
{
	if (sort < 0 || sort >= STORAGE_SORT_COUNT_)
		return NULL;
	return sort_names[sort];
}

int storage_sort_parse(const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < STORAGE_SORT_COUNT_; i++)
		if (strcmp(s, sort_names[i]) == 0)
			return i;
	return -1;
}

static const char *const group_names[STORAGE_GROUP_COUNT_] = {
	[STORAGE_GROUP_FUNCTION] = "function",
	[STORAGE_GROUP_HOST] = "host",
	[STORAGE_GROUP_SERVICE] = "service",
};

const char *storage_group_name(int group)
{
	if (group < 0 || group >= STORAGE_GROUP_COUNT_)
		return NULL;
	return group_names[group];
}

int storage_group_parse(const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < STORAGE_GROUP_COUNT_; i++)
		if (strcmp(s, group_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Parameters every query gets: $1 <= bucket < $2 (whole seconds on bucket
 * boundaries), $3 clock (NULL: any), $4 service (NULL: any), $5 LIKE
 * patterns (empty: any host), $6 labels the series must contain (NULL:
 * any), $7 function name and $8 regex on name or file (NULL: any). Query
 * specific ones start at $9. Each parameter carries its type in the text,
 * so an unused one is still typed.
 */
#define SERIES_CTE                                                         \
	"WITH RECURSIVE s AS (SELECT id, host, service FROM series "       \
	"WHERE ($3::text IS NULL OR clock = $3::text) "                    \
	"AND ($4::text IS NULL OR service = $4::text) "                    \
	"AND (cardinality($5::text[]) = 0 OR host LIKE ANY ($5::text[])) " \
	"AND ($6::jsonb IS NULL OR labels @> $6::jsonb)), "                \
	"fsel AS (SELECT id FROM functions "                               \
	"WHERE ($7::text IS NULL OR name = $7::text) "                     \
	"AND ($8::text IS NULL OR name ~ $8::text OR file ~ $8::text)) "
#define IN_WINDOW(a)                                   \
	a ".bucket >= to_timestamp($1::bigint) AND " a \
	  ".bucket < to_timestamp($2::bigint) "
/* "= ANY (ARRAY(SELECT ...))", not "IN (SELECT ...)": an initplan's result
 * is a parameter PostgreSQL pushes into the tier views' branches (an index
 * scan by function); a sublink it does not (callers 24 h: 122 -> 7 ms). */
#define FN_OK(col)                                       \
	"($7::text IS NULL AND $8::text IS NULL OR " col \
	" = ANY (ARRAY(SELECT id FROM fsel))) "
#define NBASE 8
/* The span tier's "table": fn_stats_span($1, $2) etc. (schema 006). */
#define SPAN "_span($1::bigint, $2::bigint)"
/*
 * The window's sums from the 1 d tier and running sums within days:
 * fn_stats_sum($1, $2) etc. (schema 010), signed rows for [$1, $2) on hour
 * boundaries. Rankings of windows in the 1 h and span tiers read it (a
 * handful of slices instead of one per hour); summed per key, a key with
 * nothing in the window cancels to zero, and *_NZ drop those (so there, a
 * key whose counts and times in the window are all 0 is not listed).
 */
#define SUM "_sum($1::bigint, $2::bigint)"
#define FN_NZ                                                   \
	"HAVING sum(fs.ncalls) <> 0 OR sum(fs.pcalls) <> 0 OR " \
	"sum(fs.tottime_ns) <> 0 OR sum(fs.cumtime_ns) <> 0 "
#define EDGE_NZ                                               \
	"HAVING sum(e.ncalls) <> 0 OR sum(e.pcalls) <> 0 OR " \
	"sum(e.tottime_ns) <> 0 OR sum(e.cumtime_ns) <> 0 "
#define PATH_NZ                                                  \
	"HAVING sum(ss.ncalls) <> 0 OR sum(ss.self_ns) <> 0 OR " \
	"sum(ss.total_ns) <> 0 "

#define K_TT "f.tottime"
#define K_CT "f.cumtime"
#define K_NC "f.ncalls"
#define K_PC "f.pcalls"
#define K_PER "f.tottime / NULLIF(f.ncalls, 0)"
#define K_CPER "f.cumtime / NULLIF(f.pcalls, 0)"
#define BY_SORT(M, ...)                                               \
	{                                                             \
		M(__VA_ARGS__, K_TT), M(__VA_ARGS__, K_CT),           \
			M(__VA_ARGS__, K_NC), M(__VA_ARGS__, K_PC),   \
			M(__VA_ARGS__, K_PER), M(__VA_ARGS__, K_CPER) \
	}

/*
 * Rankings: first per (key, x) then per key, so the distinct count (hosts
 * of a function, functions of a host) is a plain count(*) and no sort.
 * sum(bigint) is numeric in PostgreSQL: no overflow inside the query.
 */
#define TOP_AGG(T, H, K, X)                                                  \
	SERIES_CTE ", g AS (SELECT " K " AS k, " X " AS x, "                 \
		   "sum(fs.ncalls) AS nc, sum(fs.pcalls) AS pc, "            \
		   "sum(fs.tottime_ns) AS tt, sum(fs.cumtime_ns) AS ct "     \
		   "FROM fn_stats" T " fs JOIN s ON s.id = fs.series_id "    \
		   "WHERE " IN_WINDOW("fs") "AND " FN_OK(                    \
			   "fs.fn_id") "GROUP BY 1, 2 " H "), "              \
				       "f AS (SELECT k, sum(nc) AS ncalls, " \
				       "sum(pc) AS pcalls, "                 \
				       "sum(tt) AS tottime, sum(ct) AS "     \
				       "cumtime, count(*) AS n "             \
				       "FROM g GROUP BY k) "
/* Ties by name (byte order, whatever the database collation), then the
 * rest of the identity so the order is total. LIMIT NULL means no limit. */
#define TOP_FN(T, H, key)                                                   \
	TOP_AGG(T, H, "fs.fn_id", "s.host")                                 \
	"SELECT fn.name, fn.file, fn.line, fn.module, f.ncalls, f.pcalls, " \
	"f.tottime, f.cumtime, f.n, f.k FROM f JOIN functions fn "          \
	"ON fn.id = f.k ORDER BY " key " DESC NULLS LAST, "                 \
	"fn.name COLLATE \"C\", fn.file COLLATE \"C\", fn.line, "           \
	"fn.module COLLATE \"C\", fn.id LIMIT $9::bigint"
#define TOP_BY(T, H, K, X, key)                                   \
	TOP_AGG(T, H, K, X)                                       \
	"SELECT f.k, '', 0, '', f.ncalls, f.pcalls, f.tottime, "  \
	"f.cumtime, f.n, 0::bigint FROM f ORDER BY " key " DESC " \
	"NULLS LAST, f.k COLLATE \"C\" LIMIT $9::bigint"
#define TOP_TIER(T, H)                                               \
	{                                                            \
		BY_SORT(TOP_FN, T, H),                               \
			BY_SORT(TOP_BY, T, H, "s.host", "fs.fn_id"), \
			BY_SORT(TOP_BY, T, H, "s.service", "s.host") \
	}

static const char *const top_sql[STORAGE_TIER_COUNT_][STORAGE_GROUP_COUNT_]
				[STORAGE_SORT_COUNT_] = {TOP_TIER("", ""),
							 TOP_TIER("_10m", ""),
							 TOP_TIER(SUM, FN_NZ),
							 TOP_TIER(SUM, FN_NZ)};

enum { TOP_NFIELDS = 10 };

#define EDGE_SQL(T, H, COND, key)                                              \
	SERIES_CTE ", g AS (SELECT e.caller_id, e.callee_id, s.host, "         \
		   "sum(e.ncalls) AS nc, sum(e.pcalls) AS pc, "                \
		   "sum(e.tottime_ns) AS tt, sum(e.cumtime_ns) AS ct "         \
		   "FROM edge_stats" T " e JOIN s ON s.id = e.series_id "      \
		   "WHERE " IN_WINDOW(                                         \
			   "e") "AND " COND " GROUP BY 1, 2, 3 " H "), "       \
				"f AS (SELECT caller_id, callee_id, sum(nc) "  \
				"AS ncalls, "                                  \
				"sum(pc) AS pcalls, sum(tt) AS tottime, "      \
				"sum(ct) AS cumtime, count(*) AS n FROM g "    \
				"GROUP BY 1, 2) "                              \
				"SELECT a.id, a.name, a.file, a.line, "        \
				"a.module, b.id, "                             \
				"b.name, b.file, b.line, b.module, f.ncalls, " \
				"f.pcalls, "                                   \
				"f.tottime, f.cumtime, f.n FROM f "            \
				"JOIN functions a ON a.id = f.caller_id "      \
				"JOIN functions b ON b.id = f.callee_id "      \
				"ORDER BY " key                                \
				" DESC NULLS LAST, a.name COLLATE \"C\", "     \
				"b.name COLLATE \"C\", a.id, b.id LIMIT "      \
				"$9::bigint"
#define EDGE_TIER(T, H)                                                    \
	{                                                                  \
		BY_SORT(EDGE_SQL, T, H,                                    \
			"e.callee_id = ANY (ARRAY(SELECT id FROM fsel))"), \
			BY_SORT(EDGE_SQL, T, H,                            \
				"e.caller_id = ANY (ARRAY(SELECT id FROM " \
				"fsel))"),                                 \
			BY_SORT(EDGE_SQL, T, H, "TRUE")                    \
	}

static const char *const edge_sql[STORAGE_TIER_COUNT_][STORAGE_EDGES_COUNT_]
				 [STORAGE_SORT_COUNT_] = {
					 EDGE_TIER("", ""),
					 EDGE_TIER("_10m", ""),
					 EDGE_TIER(SUM, EDGE_NZ),
					 EDGE_TIER(SUM, EDGE_NZ)};

enum { EDGE_NFIELDS = 15 };

/* Paths with data, plus every ancestor (UNION: each path once). */
#define PATH_SQL(T, H)                                                 \
	SERIES_CTE                                                     \
	", p AS (SELECT ss.stack_id AS id, sum(ss.ncalls) AS nc, "     \
	"sum(ss.self_ns) AS sf, sum(ss.total_ns) AS tt "               \
	"FROM stack_stats" T " ss JOIN s ON s.id = ss.series_id "      \
	"WHERE " IN_WINDOW(                                            \
		"ss") "GROUP BY 1 " H "), "                            \
		      "a AS (SELECT st.id, st.parent_id, st.fn_id, "   \
		      "st.depth "                                      \
		      "FROM stacks st WHERE st.id IN (SELECT id FROM " \
		      "p) UNION "                                      \
		      "SELECT st.id, st.parent_id, st.fn_id, "         \
		      "st.depth "                                      \
		      "FROM stacks st JOIN a ON st.id = a.parent_id) " \
		      "SELECT a.id, coalesce(a.parent_id, 0), "        \
		      "a.depth, fn.id, "                               \
		      "fn.name, fn.file, fn.line, fn.module, "         \
		      "coalesce(p.nc, 0), "                            \
		      "coalesce(p.sf, 0), coalesce(p.tt, 0) FROM a "   \
		      "JOIN functions fn ON fn.id = a.fn_id "          \
		      "LEFT JOIN p ON p.id = a.id ORDER BY a.depth, "  \
		      "a.id"

static const char *const path_sql[STORAGE_TIER_COUNT_] = {
	PATH_SQL("", ""), PATH_SQL("_10m", ""), PATH_SQL(SUM, PATH_NZ),
	PATH_SQL(SUM, PATH_NZ)};

enum { PATH_NFIELDS = 11 };

/* $9: the step in seconds; $1 and $2 are multiples of it. */
#define TIMELINE_SQL(T)                                                      \
	SERIES_CTE ", b AS (SELECT (extract(epoch FROM fs.bucket)::bigint "  \
		   "/ $9::bigint) * $9::bigint AS t, sum(fs.ncalls) AS nc, " \
		   "sum(fs.pcalls) AS pc, sum(fs.tottime_ns) AS tt, "        \
		   "sum(fs.cumtime_ns) AS ct FROM fn_stats" T " fs "         \
		   "JOIN s ON s.id = fs.series_id WHERE " IN_WINDOW(         \
			   "fs") "AND fs.fn_id = ANY (ARRAY(SELECT id FROM " \
				 "fsel)) "                                   \
				 "GROUP BY 1) "                              \
				 "SELECT g.t, coalesce(b.nc, 0), "           \
				 "coalesce(b.pc, 0), "                       \
				 "coalesce(b.tt, 0), coalesce(b.ct, 0) "     \
				 "FROM generate_series($1::bigint, "         \
				 "$2::bigint - $9::bigint, "                 \
				 "$9::bigint) AS g(t) LEFT JOIN b ON b.t = " \
				 "g.t ORDER BY g.t"

/* The span has day buckets: a timeline of a long window steps by hours. */
static const char *const timeline_sql[STORAGE_TIER_COUNT_] = {
	TIMELINE_SQL(""), TIMELINE_SQL("_10m"), TIMELINE_SQL("_1h"),
	TIMELINE_SQL("_1h")};

enum { TIMELINE_NFIELDS = 5 };

/* Times as exact ns: extract(epoch) is numeric with µs precision. */
#define LEDGER_SQL(K, X)                                                     \
	SERIES_CTE ", b AS (SELECT " K " AS k, " X " AS x, ib.agent_id, "    \
		   "ib.dropped, ib.t0, ib.t1 FROM ingested_batches ib "      \
		   "JOIN s ON s.id = ib.series_id "                          \
		   "WHERE ib.t0 >= to_timestamp($1::bigint) "                \
		   "AND ib.t0 < to_timestamp($2::bigint)) "                  \
		   "SELECT k, count(DISTINCT x), count(DISTINCT agent_id), " \
		   "count(*), sum(dropped), "                                \
		   "(extract(epoch FROM min(t0)) * 1000000000)::bigint, "    \
		   "(extract(epoch FROM max(t1)) * 1000000000)::bigint "     \
		   "FROM b GROUP BY k ORDER BY k COLLATE \"C\""

static const char *const ledger_sql[STORAGE_LEDGER_COUNT_] = {
	LEDGER_SQL("s.host", "s.service"),
	LEDGER_SQL("s.service", "s.host"),
};

enum { LEDGER_NFIELDS = 7 };

_Static_assert(STORAGE_HOST_UNKNOWN == 0 && STORAGE_HOST_ELSEWHERE == 1 &&
		       STORAGE_HOST_IN_WINDOW == 2,
	       "hosts_sql returns these values");

/*
 * Which series have facts in the window. Every fact row comes from a batch
 * whose ledger row commits with it, and a batch's rows lie in the bucket of
 * its t0. Retention drops the ledger by whole day partitions and records
 * the end of the last one it dropped (ledger_cover, schema 009), so from c
 * = max(that, the start of the oldest partition) on the ledger holds every
 * batch: for [max(from, c), until) a probe of its (series_id, t1) index
 * per series answers. Only the part of a window before c (rollup hours)
 * reads facts, every row of it once. A batch with no fact rows (only a
 * dropped count) counts its host in.
 */
#define LEDGER_COVER                                                       \
	"coalesce(greatest((SELECT kept_from FROM ledger_cover), "         \
	"(SELECT min((regexp_match(pg_get_expr(c.relpartbound, c.oid), "   \
	"'FROM \\(''([^'']+)''\\)'))[1]::timestamptz) FROM pg_inherits i " \
	"JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = "       \
	"'ingested_batches'::regclass)), 'infinity'::timestamptz)"
/* A series sent a batch with t0 in [lo, $2): an index probe (OFFSET 0: a
 * hashed subplan would read every batch of those days). */
#define LEDGER_HAS(lo)                                                    \
	"EXISTS (SELECT 1 FROM ingested_batches ib WHERE ib.series_id = " \
	"s.id AND ib.t1 >= " lo " AND ib.t0 >= " lo " AND ib.t0 < "       \
	"to_timestamp($2::bigint) OFFSET 0)"
/*
 * Row 0: number of hosts; row i (1..n): what pattern i matched. A series
 * has data if one row of it lies in the window: EXISTS stops at the first.
 */
#define HOSTS_SQL(HAS_DATA)                                           \
	SERIES_CTE                                                    \
	", cover AS (SELECT " LEDGER_COVER " AS c), "                 \
	"h AS (SELECT DISTINCT s.host FROM s WHERE " HAS_DATA ") "    \
	"SELECT 0::bigint, (SELECT count(*) FROM h), 0 "              \
	"UNION ALL "                                                  \
	"SELECT u.i, 0, CASE "                                        \
	"WHEN EXISTS (SELECT 1 FROM h WHERE h.host LIKE u.p) THEN 2 " \
	"WHEN EXISTS (SELECT 1 FROM series "                          \
	"WHERE series.host LIKE u.p) THEN 1 ELSE 0 END "              \
	"FROM unnest($5::text[]) WITH ORDINALITY AS u(p, i) "         \
	"ORDER BY 1"
#define HOSTS_FACTS(T)                                                         \
	HOSTS_SQL(LEDGER_HAS(                                                  \
		"greatest(to_timestamp($1::bigint), (SELECT "                  \
		"c FROM cover))") " OR s.id IN (SELECT "                       \
				  "fs.series_id FROM fn_stats" T " fs WHERE "  \
				  "fs.bucket >= to_timestamp($1::bigint) AND " \
				  "fs.bucket < "                               \
				  "least(to_timestamp($2::bigint), "           \
				  "(SELECT c FROM cover)))")

static const char *const hosts_sql[STORAGE_TIER_COUNT_ + 1] = {
	HOSTS_FACTS(""),
	HOSTS_FACTS("_10m"),
	HOSTS_FACTS("_1h"),
	HOSTS_FACTS(SPAN),
	HOSTS_SQL(LEDGER_HAS("to_timestamp($1::bigint)")),
};

/* Logs the database's message once, on one line; maps it to an FP_E*. */
static int db_fail(PGconn *c, PGresult *r, const char *what)
{
	const char *state =
		r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char msg[512];

	storage_one_line(msg, sizeof(msg),
			 r != NULL ? PQresultErrorMessage(r)
				   : PQerrorMessage(c));
	fp_err("storage: %s: %s", what, msg);
	if (state != NULL && strcmp(state, "2201B") == 0)
		return FP_ESYNTAX; /* invalid_regular_expression */
	return PQstatus(c) == CONNECTION_OK ? FP_EDB : FP_EDBDOWN;
}

/* A statement without parameters or rows (transaction control). */
static int exec_plain(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = db_fail(c, r, what);
	PQclear(r);
	return rc;
}

/*
 * One snapshot for every query of a command. JIT off: PostgreSQL 15 JIT-
 * compiles any plan costed over 100k, and compiling the tier views' plans
 * took about 1 s of a 1.5 s `top --since 7d` on the bench fleet (0.5 s
 * without); these queries run once, so compiling never pays off.
 */
/* The planner settings every read transaction takes (SET LOCAL). */
static int read_settings(PGconn *conn)
{
	/* Partition bounds are parsed back from their text (LEDGER_COVER). */
	int rc = exec_plain(conn, "SET LOCAL datestyle = 'ISO'",
			    "set datestyle");
	if (rc == 0)
		rc = exec_plain(conn, "SET LOCAL jit = off", "set jit");
	if (rc == 0)
		rc = exec_plain(conn, "SET LOCAL random_page_cost = 1.1",
				"set random_page_cost");
	if (rc == 0)
		rc = exec_plain(conn, "SET LOCAL work_mem = '32MB'",
				"set work_mem");
	return rc;
}

int storage_read_begin(PGconn *conn)
{
	int rc = exec_plain(conn,
			    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			    "begin");
	/* Before the snapshot (LOCK takes none): a fold empties a delta slot
	 * with TRUNCATE, which is not MVCC-safe; a snapshot taken before it
	 * committed would find the slot empty and raw without its rows. Held,
	 * this lock makes the fold wait, then DELETE instead. */
	if (rc == 0)
		rc = exec_plain(conn,
				"LOCK TABLE fn_stats_delta, edge_stats_delta, "
				"stack_stats_delta IN ACCESS SHARE MODE",
				"lock delta tables");
	if (rc == 0)
		rc = read_settings(conn);
	return rc;
}

int storage_read_share(PGconn *from, PGconn *to)
{
	PGresult *r;
	char sql[128];
	const char *id;
	int rc;

	if (from == NULL || to == NULL)
		return FP_EINVAL;
	r = PQexecParams(from, "SELECT pg_export_snapshot()", 0, NULL, NULL,
			 NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    PQnfields(r) != 1) {
		rc = db_fail(from, r, "export snapshot");
		PQclear(r);
		return rc;
	}
	id = PQgetvalue(r, 0, 0);
	/* An identifier like 00000003-0000001B-1: quoted as it is. */
	if (strspn(id, "0123456789ABCDEFabcdef-") != strlen(id) ||
	    strlen(id) > 64) {
		fp_err("storage: export snapshot: unexpected id");
		PQclear(r);
		return FP_EDB;
	}
	snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", id);
	PQclear(r);
	rc = exec_plain(to, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			"begin");
	if (rc == 0)
		rc = exec_plain(to, sql, "import snapshot");
	if (rc == 0)
		rc = read_settings(to);
	return rc;
}

int storage_read_end(PGconn *conn)
{
	return exec_plain(conn, "COMMIT", "commit");
}

int storage_read_role(PGconn *conn, int *assumed)
{
	static const char can_sql[] =
		"SELECT CASE WHEN to_regrole('fleetprof_reader') IS NULL "
		"THEN false ELSE pg_has_role(to_regrole('fleetprof_reader'), "
		"'MEMBER') AND NOT EXISTS (SELECT 1 FROM unnest(ARRAY["
		"'series', 'functions', 'stacks', 'fn_stats', 'edge_stats', "
		"'stack_stats', 'fn_stats_1h', 'edge_stats_1h', "
		"'stack_stats_1h', 'ingested_batches']) AS t(name) "
		"WHERE to_regclass(t.name) IS NOT NULL AND NOT "
		"has_table_privilege(to_regrole('fleetprof_reader'), "
		"to_regclass(t.name), 'SELECT')) END";
	PGresult *r;
	int can, rc;

	if (conn == NULL || assumed == NULL)
		return FP_EINVAL;
	r = PQexecParams(conn, can_sql, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    PQnfields(r) != 1) {
		rc = db_fail(conn, r, "read role");
		PQclear(r);
		return rc;
	}
	can = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (can && (rc = exec_plain(conn, "SET ROLE fleetprof_reader",
				    "set role")) != 0)
		return rc;
	*assumed = can;
	return 0;
}

/* Runs EXPLAIN ANALYZE of sql and hands each plan line to the hook. */
static void explain(PGconn *c, const char *sql, int n, const char *const *v,
		    const char *what)
{
	static const char pre[] = "EXPLAIN (ANALYZE, COSTS OFF) ";
	size_t len = strlen(sql);
	char *text = malloc(sizeof(pre) + len);
	PGresult *r;

	if (text == NULL)
		return;
	memcpy(text, pre, sizeof(pre) - 1);
	memcpy(text + sizeof(pre) - 1, sql, len + 1);
	r = PQexecParams(c, text, n, NULL, v, NULL, NULL, 0);
	free(text);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQnfields(r) == 1)
		for (int i = 0; i < PQntuples(r); i++)
			explain_cb(explain_arg, what, PQgetvalue(r, i, 0));
	PQclear(r);
}

/*
 * Runs a query that returns rows with nfields columns. On success *out is
 * the result, which the caller clears; on failure it is cleared here.
 */
static int query(PGconn *c, const char *sql, int n, const char *const *v,
		 int nfields, const char *what, PGresult **out)
{
	PGresult *r;
	int rc;

	if (explain_cb != NULL)
		explain(c, sql, n, v, what);
	r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = db_fail(c, r, what);
		PQclear(r);
		return rc;
	}
	if (PQnfields(r) != nfields || PQntuples(r) < 0) {
		fp_err("storage: %s: unexpected result shape", what);
		PQclear(r);
		return FP_EDB;
	}
	*out = r;
	return 0;
}

/* Strict decimal: digits only (no sign, blank or junk), fits in uint64. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return FP_ERANGE;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return FP_ERANGE;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return FP_ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Strict signed decimal that fits in int64. */
static int parse_i64(const char *s, int64_t *out)
{
	uint64_t v;
	int neg = s != NULL && *s == '-';

	if (parse_u64(neg ? s + 1 : s, &v) != 0)
		return FP_ERANGE;
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return FP_ERANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* A non-negative sum of ns; numeric text may exceed any integer type. */
static int parse_ns(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s < '0' || *s > '9')
		return FP_ERANGE;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= 0))
		return FP_ERANGE;
	*out = v;
	return 0;
}

static int parse_line(const char *s, int32_t *out)
{
	int64_t v;

	if (parse_i64(s, &v) != 0 || v < 0 || v > INT32_MAX)
		return FP_ERANGE;
	*out = (int32_t)v;
	return 0;
}

/* No column of row i from first to first + n - 1 is NULL. */
static int not_null(PGresult *r, int i, int first, int n)
{
	for (int k = first; k < first + n; k++)
		if (PQgetisnull(r, i, k))
			return 0;
	return 1;
}

/*
 * The parameters shared by every query: $1..$8, and room for more.
 * patterns is a text[] literal of LIKE patterns the caller frees.
 */
struct params {
	char from_s[24];
	char until_s[24];
	char extra_s[24];
	char *patterns;
	const char *values[NBASE + 1];
};

/* Appends c to an array element, escaped for a double-quoted literal. */
static size_t put_array_char(char *p, size_t o, char c)
{
	if (c == '"' || c == '\\')
		p[o++] = '\\';
	p[o++] = c;
	return o;
}

/* width: what the window is rounded to (a bucket or a timeline step). */
static int params_init(struct params *p, const struct storage_filter *f,
		       int64_t width, int any_clock)
{
	const int64_t max_ns = INT64_MAX / 2;
	size_t cap = 3, o = 0;
	char *like = NULL;
	size_t likecap = 1;
	int rc;

	memset(p, 0, sizeof(*p));
	if (f == NULL || width <= 0 || f->from_ns >= f->until_ns ||
	    f->until_ns > max_ns || f->from_ns < -max_ns ||
	    (f->nhosts > 0 && f->hosts == NULL) ||
	    storage_tier_name(f->tier) == NULL)
		return FP_EINVAL;
	if (wire_clock_name(f->clock) == NULL && !(any_clock && f->clock == -1))
		return FP_EINVAL;
	/* Each pattern: quotes, comma, and at worst 4 bytes per glob byte. */
	for (size_t i = 0; i < f->nhosts; i++) {
		size_t len;
		if (f->hosts[i] == NULL)
			return FP_EINVAL;
		len = strlen(f->hosts[i]);
		if (len > 4096)
			return FP_EINVAL;
		cap += 4 * len + 3;
		if (2 * len + 1 > likecap)
			likecap = 2 * len + 1;
	}
	p->patterns = malloc(cap);
	like = malloc(likecap);
	if (p->patterns == NULL || like == NULL) {
		rc = FP_ENOMEM;
		goto err_free;
	}
	p->patterns[o++] = '{';
	for (size_t i = 0; i < f->nhosts; i++) {
		rc = storage_glob_to_like(f->hosts[i], like, likecap);
		if (rc != 0)
			goto err_free;
		if (i > 0)
			p->patterns[o++] = ',';
		p->patterns[o++] = '"';
		for (const char *c = like; *c != '\0'; c++)
			o = put_array_char(p->patterns, o, *c);
		p->patterns[o++] = '"';
	}
	p->patterns[o++] = '}';
	p->patterns[o] = '\0';
	free(like);

	snprintf(p->from_s, sizeof(p->from_s), "%lld",
		 (long long)(storage_floor_to(f->from_ns, width) /
			     FP_NS_PER_SEC));
	snprintf(p->until_s, sizeof(p->until_s), "%lld",
		 (long long)(storage_ceil_to(f->until_ns, width) /
			     FP_NS_PER_SEC));
	p->values[0] = p->from_s;
	p->values[1] = p->until_s;
	p->values[2] = f->clock == -1 ? NULL : wire_clock_name(f->clock);
	p->values[3] = f->service; /* NULL is SQL NULL: any service */
	p->values[4] = p->patterns;
	p->values[5] = f->labels_json;
	p->values[6] = f->function;
	p->values[7] = f->match;
	return 0;

err_free:
	free(like);
	free(p->patterns);
	p->patterns = NULL;
	return rc;
}

static void params_fini(struct params *p)
{
	free(p->patterns);
	p->patterns = NULL;
}

/* Sets $9 to a limit (NULL: none). */
static void params_limit(struct params *p, long limit)
{
	snprintf(p->extra_s, sizeof(p->extra_s), "%ld", limit);
	p->values[NBASE] = limit > 0 ? p->extra_s : NULL;
}

static void fn_fini(struct storage_fn *fn)
{
	free(fn->name);
	free(fn->file);
	free(fn->module);
}

/* Copies id, name, file, line, module from columns col..col+4. */
static int copy_fn(PGresult *r, int i, int col, struct storage_fn *fn)
{
	memset(fn, 0, sizeof(*fn));
	if (parse_i64(PQgetvalue(r, i, col), &fn->id) != 0 ||
	    parse_line(PQgetvalue(r, i, col + 3), &fn->line) != 0)
		return FP_ERANGE;
	fn->name = strdup(PQgetvalue(r, i, col + 1));
	fn->file = strdup(PQgetvalue(r, i, col + 2));
	fn->module = strdup(PQgetvalue(r, i, col + 4));
	if (fn->name == NULL || fn->file == NULL || fn->module == NULL) {
		fn_fini(fn);
		return FP_ENOMEM;
	}
	return 0;
}

typedef int (*copy_row_fn)(PGresult *r, int i, void *row);
typedef void (*free_rows_fn)(void *rows, size_t n);

/*
 * Runs sql and copies every row with copy into a new array of size-byte
 * rows. On success *out (NULL when there are no rows) and *n are written.
 */
/* Copies r's rows (and clears r) as fetch does. */
static int copy_rows(PGresult *r, const char *what, size_t size,
		     copy_row_fn copy, free_rows_fn free_rows, void **out,
		     size_t *n)
{
	char *rows = NULL;
	int rc, nrows, i = 0;

	nrows = PQntuples(r);
	if (nrows > 0) {
		rows = calloc((size_t)nrows, size);
		if (rows == NULL) {
			rc = FP_ENOMEM;
			goto out_clear;
		}
	}
	for (i = 0; i < nrows; i++) {
		if ((rc = copy(r, i, rows + (size_t)i * size)) != 0) {
			if (rc == FP_ERANGE)
				fp_err("storage: %s: row %d out of range", what,
				       i);
			free_rows(rows, (size_t)i);
			goto out_clear;
		}
	}
	*out = rows;
	*n = (size_t)nrows;
	rc = 0;
out_clear:
	PQclear(r);
	return rc;
}

static int fetch(PGconn *c, const char *sql, int nparams, const char *const *v,
		 int nfields, const char *what, size_t size, copy_row_fn copy,
		 free_rows_fn free_rows, void **out, size_t *n)
{
	PGresult *r;
	int rc;

	if ((rc = query(c, sql, nparams, v, nfields, what, &r)) != 0)
		return rc;
	return copy_rows(r, what, size, copy, free_rows, out, n);
}

void storage_top_free(struct storage_top_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].file);
		free(rows[i].module);
	}
	free(rows);
}

static void top_free_v(void *rows, size_t n)
{
	storage_top_free(rows, n);
}

static int top_copy(PGresult *r, int i, void *out)
{
	struct storage_top_row *row = out;

	if (!not_null(r, i, 0, TOP_NFIELDS) ||
	    parse_line(PQgetvalue(r, i, 2), &row->line) != 0 ||
	    parse_u64(PQgetvalue(r, i, 4), &row->ncalls) != 0 ||
	    parse_u64(PQgetvalue(r, i, 5), &row->pcalls) != 0 ||
	    parse_ns(PQgetvalue(r, i, 6), &row->tottime_ns) != 0 ||
	    parse_ns(PQgetvalue(r, i, 7), &row->cumtime_ns) != 0 ||
	    parse_u64(PQgetvalue(r, i, 8), &row->hosts) != 0 ||
	    parse_i64(PQgetvalue(r, i, 9), &row->fn_id) != 0)
		return FP_ERANGE;
	row->name = strdup(PQgetvalue(r, i, 0));
	row->file = strdup(PQgetvalue(r, i, 1));
	row->module = strdup(PQgetvalue(r, i, 3));
	if (row->name == NULL || row->file == NULL || row->module == NULL) {
		free(row->name);
		free(row->file);
		free(row->module);
		return FP_ENOMEM;
	}
	return 0;
}

int storage_top(PGconn *conn, const struct storage_filter *f, int group,
		int sort, long limit, struct storage_top_row **out, size_t *n)
{
	struct params p;
	void *rows = NULL;
	size_t nrows = 0;
	int rc;

	if (conn == NULL || f == NULL || out == NULL || n == NULL ||
	    limit < 0 || storage_sort_name(sort) == NULL ||
	    storage_group_name(group) == NULL)
		return FP_EINVAL;
	if ((rc = params_init(&p, f, storage_tier_bucket_ns(f->tier), 0)) != 0)
		return rc;
	params_limit(&p, limit);
	rc = fetch(conn, top_sql[f->tier][group][sort], NBASE + 1, p.values,
		   TOP_NFIELDS, "top", sizeof(struct storage_top_row), top_copy,
		   top_free_v, &rows, &nrows);
	params_fini(&p);
	if (rc != 0)
		return rc;
	if (limit > 0 && nrows > (size_t)limit) {
		storage_top_free(rows, nrows);
		return FP_EDB;
	}
	*out = rows;
	*n = nrows;
	return 0;
}

/* The result of the query sent on c: its rows, or the error. */
static int top_collect(PGconn *c, struct storage_top_row **out, size_t *n)
{
	PGresult *r, *last = NULL;
	void *rows = NULL;
	size_t nrows = 0;
	int rc;

	while ((r = PQgetResult(c)) != NULL) {
		PQclear(last);
		last = r;
	}
	if (PQresultStatus(last) != PGRES_TUPLES_OK) {
		rc = db_fail(c, last, "top");
		PQclear(last);
		return rc;
	}
	if (PQnfields(last) != TOP_NFIELDS) {
		fp_err("storage: top: unexpected result shape");
		PQclear(last);
		return FP_EDB;
	}
	rc = copy_rows(last, "top", sizeof(struct storage_top_row), top_copy,
		       top_free_v, &rows, &nrows);
	if (rc == 0) {
		*out = rows;
		*n = nrows;
	}
	return rc;
}

int storage_top_pair(PGconn *c0, const struct storage_filter *f0, PGconn *c1,
		     const struct storage_filter *f1, int group, int sort,
		     struct storage_top_row **out0, size_t *n0,
		     struct storage_top_row **out1, size_t *n1)
{
	struct storage_top_row *r0 = NULL, *r1 = NULL;
	size_t m0 = 0, m1 = 0;
	struct params p;
	int rc, sent;

	if (c0 == NULL || f0 == NULL || f1 == NULL || out0 == NULL ||
	    n0 == NULL || out1 == NULL || n1 == NULL ||
	    storage_sort_name(sort) == NULL ||
	    storage_group_name(group) == NULL)
		return FP_EINVAL;
	/* With --explain, or without a second connection: one by one. */
	if (c1 == NULL || explain_cb != NULL) {
		if ((rc = storage_top(c0, f0, group, sort, 0, &r0, &m0)) != 0)
			return rc;
		if ((rc = storage_top(c1 != NULL ? c1 : c0, f1, group, sort, 0,
				      &r1, &m1)) != 0) {
			storage_top_free(r0, m0);
			return rc;
		}
		goto done;
	}
	if ((rc = params_init(&p, f1, storage_tier_bucket_ns(f1->tier), 0)) !=
	    0)
		return rc;
	params_limit(&p, 0);
	sent = PQsendQueryParams(c1, top_sql[f1->tier][group][sort], NBASE + 1,
				 NULL, p.values, NULL, NULL, 0);
	params_fini(&p);
	if (!sent)
		return db_fail(c1, NULL, "top");
	rc = storage_top(c0, f0, group, sort, 0, &r0, &m0);
	/* Always drain c1, so that it can be used (or closed) after. */
	sent = top_collect(c1, &r1, &m1);
	if (rc == 0)
		rc = sent;
	if (rc != 0) {
		storage_top_free(r0, m0);
		storage_top_free(r1, m1);
		return rc;
	}
done:
	*out0 = r0;
	*n0 = m0;
	*out1 = r1;
	*n1 = m1;
	return 0;
}

void storage_edges_free(struct storage_edge_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		fn_fini(&rows[i].caller);
		fn_fini(&rows[i].callee);
	}
	free(rows);
}

static void edges_free_v(void *rows, size_t n)
{
	storage_edges_free(rows, n);
}

static int edge_copy(PGresult *r, int i, void *out)
{
	struct storage_edge_row *row = out;
	int rc;

	if (!not_null(r, i, 0, EDGE_NFIELDS) ||
	    parse_u64(PQgetvalue(r, i, 10), &row->ncalls) != 0 ||
	    parse_u64(PQgetvalue(r, i, 11), &row->pcalls) != 0 ||
	    parse_ns(PQgetvalue(r, i, 12), &row->tottime_ns) != 0 ||
	    parse_ns(PQgetvalue(r, i, 13), &row->cumtime_ns) != 0 ||
	    parse_u64(PQgetvalue(r, i, 14), &row->hosts) != 0)
		return FP_ERANGE;
	if ((rc = copy_fn(r, i, 0, &row->caller)) != 0)
		return rc;
	if ((rc = copy_fn(r, i, 5, &row->callee)) != 0) {
		fn_fini(&row->caller);
		return rc;
	}
	return 0;
}

int storage_edges(PGconn *conn, const struct storage_filter *f, int mode,
		  int sort, long limit, struct storage_edge_row **out,
		  size_t *n)
{
	struct params p;
	void *rows = NULL;
	size_t nrows = 0;
	int rc;

	if (conn == NULL || f == NULL || out == NULL || n == NULL ||
	    limit < 0 || storage_sort_name(sort) == NULL || mode < 0 ||
	    mode >= STORAGE_EDGES_COUNT_ ||
	    (mode != STORAGE_EDGES_ALL && f->function == NULL))
		return FP_EINVAL;
	if ((rc = params_init(&p, f, storage_tier_bucket_ns(f->tier), 0)) != 0)
		return rc;
	params_limit(&p, limit);
	rc = fetch(conn, edge_sql[f->tier][mode][sort], NBASE + 1, p.values,
		   EDGE_NFIELDS, "edges", sizeof(struct storage_edge_row),
		   edge_copy, edges_free_v, &rows, &nrows);
	params_fini(&p);
	if (rc != 0)
		return rc;
	*out = rows;
	*n = nrows;
	return 0;
}

void storage_paths_free(struct storage_path_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		fn_fini(&rows[i].fn);
	free(rows);
}

static void paths_free_v(void *rows, size_t n)
{
	storage_paths_free(rows, n);
}

static int path_copy(PGresult *r, int i, void *out)
{
	struct storage_path_row *row = out;

	if (!not_null(r, i, 0, PATH_NFIELDS) ||
	    parse_i64(PQgetvalue(r, i, 0), &row->id) != 0 ||
	    parse_i64(PQgetvalue(r, i, 1), &row->parent_id) != 0 ||
	    parse_line(PQgetvalue(r, i, 2), &row->depth) != 0 ||
	    parse_u64(PQgetvalue(r, i, 8), &row->ncalls) != 0 ||
	    parse_ns(PQgetvalue(r, i, 9), &row->self_ns) != 0 ||
	    parse_ns(PQgetvalue(r, i, 10), &row->total_ns) != 0)
		return FP_ERANGE;
	return copy_fn(r, i, 3, &row->fn);
}

int storage_paths(PGconn *conn, const struct storage_filter *f,
		  struct storage_path_row **out, size_t *n)
{
	struct params p;
	void *rows = NULL;
	size_t nrows = 0;
	int rc;

	if (conn == NULL || f == NULL || out == NULL || n == NULL)
		return FP_EINVAL;
	if ((rc = params_init(&p, f, storage_tier_bucket_ns(f->tier), 0)) != 0)
		return rc;
	rc = fetch(conn, path_sql[f->tier], NBASE, p.values, PATH_NFIELDS,
		   "paths", sizeof(struct storage_path_row), path_copy,
		   paths_free_v, &rows, &nrows);
	params_fini(&p);
	if (rc != 0)
		return rc;
	*out = rows;
	*n = nrows;
	return 0;
}

static void plain_free_v(void *rows, size_t n)
{
	(void)n;
	free(rows);
}

static int timeline_copy(PGresult *r, int i, void *out)
{
	struct storage_timeline_row *row = out;
	int64_t t;

	if (!not_null(r, i, 0, TIMELINE_NFIELDS) ||
	    parse_i64(PQgetvalue(r, i, 0), &t) != 0 ||
	    t > INT64_MAX / FP_NS_PER_SEC || t < INT64_MIN / FP_NS_PER_SEC ||
	    parse_u64(PQgetvalue(r, i, 1), &row->ncalls) != 0 ||
	    parse_u64(PQgetvalue(r, i, 2), &row->pcalls) != 0 ||
	    parse_ns(PQgetvalue(r, i, 3), &row->tottime_ns) != 0 ||
	    parse_ns(PQgetvalue(r, i, 4), &row->cumtime_ns) != 0)
		return FP_ERANGE;
	row->bucket_ns = t * FP_NS_PER_SEC;
	return 0;
}

int storage_timeline(PGconn *conn, const struct storage_filter *f,
		     int64_t step_ns, struct storage_timeline_row **out,
		     size_t *n)
{
	struct params p;
	void *rows = NULL;
	size_t nrows = 0;
	int64_t w;
	int rc;

	if (conn == NULL || f == NULL || out == NULL || n == NULL ||
	    f->function == NULL || storage_tier_name(f->tier) == NULL)
		return FP_EINVAL;
	w = storage_tier_bucket_ns(f->tier);
	if (step_ns < w || step_ns % w != 0)
		return FP_EINVAL;
	if ((f->until_ns - f->from_ns) / step_ns >= MAX_TIMELINE_STEPS)
		return FP_ELIMIT;
	if ((rc = params_init(&p, f, step_ns, 0)) != 0)
		return rc;
	snprintf(p.extra_s, sizeof(p.extra_s), "%lld",
		 (long long)(step_ns / FP_NS_PER_SEC));
	p.values[NBASE] = p.extra_s;
	rc = fetch(conn, timeline_sql[f->tier], NBASE + 1, p.values,
		   TIMELINE_NFIELDS, "timeline",
		   sizeof(struct storage_timeline_row), timeline_copy,
		   plain_free_v, &rows, &nrows);
	params_fini(&p);
	if (rc != 0)
		return rc;
	*out = rows;
	*n = nrows;
	return 0;
}

void storage_ledger_free(struct storage_ledger_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(rows[i].name);
	free(rows);
}

static void ledger_free_v(void *rows, size_t n)
{
	storage_ledger_free(rows, n);
}

static int ledger_copy(PGresult *r, int i, void *out)
{
	struct storage_ledger_row *row = out;

	if (!not_null(r, i, 0, LEDGER_NFIELDS) ||
	    parse_u64(PQgetvalue(r, i, 1), &row->others) != 0 ||
	    parse_u64(PQgetvalue(r, i, 2), &row->processes) != 0 ||
	    parse_u64(PQgetvalue(r, i, 3), &row->batches) != 0 ||
	    parse_u64(PQgetvalue(r, i, 4), &row->dropped) != 0 ||
	    parse_i64(PQgetvalue(r, i, 5), &row->first_ns) != 0 ||
	    parse_i64(PQgetvalue(r, i, 6), &row->last_ns) != 0)
		return FP_ERANGE;
	row->name = strdup(PQgetvalue(r, i, 0));
	return row->name == NULL ? FP_ENOMEM : 0;
}

int storage_ledger(PGconn *conn, const struct storage_filter *f, int by,
		   struct storage_ledger_row **out, size_t *n)
{
	struct params p;
	void *rows = NULL;
	size_t nrows = 0;
	int rc;

	if (conn == NULL || f == NULL || out == NULL || n == NULL || by < 0 ||
	    by >= STORAGE_LEDGER_COUNT_)
		return FP_EINVAL;
	if ((rc = params_init(&p, f, BUCKET_NS, 1)) != 0)
		return rc;
	rc = fetch(conn, ledger_sql[by], NBASE, p.values, LEDGER_NFIELDS,
		   "ledger", sizeof(struct storage_ledger_row), ledger_copy,
		   ledger_free_v, &rows, &nrows);
	params_fini(&p);
	if (rc != 0)
		return rc;
	*out = rows;
	*n = nrows;
	return 0;
}

int storage_function_count(PGconn *conn, const char *name, uint64_t *count)
{
	static const char sql[] =
		"SELECT count(*) FROM functions WHERE name = $1::text";
	const char *v[1] = {name};
	PGresult *r;
	uint64_t c;
	int rc;

	if (conn == NULL || name == NULL || count == NULL)
		return FP_EINVAL;
	if ((rc = query(conn, sql, 1, v, 1, "function count", &r)) != 0)
		return rc;
	rc = PQntuples(r) == 1 && parse_u64(PQgetvalue(r, 0, 0), &c) == 0
		     ? 0
		     : FP_EDB;
	PQclear(r);
	if (rc == 0)
		*count = c;
	return rc;
}

int storage_raw_oldest(PGconn *conn, int64_t *oldest_ns, int *found)
{
	static const char sql[] =
		"SELECT (extract(epoch FROM min(bucket)) * 1e9)::bigint "
		"FROM fn_stats";
	PGresult *r;
	int rc;

	if (conn == NULL || oldest_ns == NULL || found == NULL)
		return FP_EINVAL;
	if ((rc = query(conn, sql, 0, NULL, 1, "oldest raw bucket", &r)) != 0)
		return rc;
	rc = PQntuples(r) == 1 ? 0 : FP_EDB;
	*found = rc == 0 && !PQgetisnull(r, 0, 0);
	if (*found)
		*oldest_ns = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

int storage_window_hosts(PGconn *conn, const struct storage_filter *f,
			 uint64_t *nhosts, int *seen)
{
	struct storage_filter g;
	struct params p;
	PGresult *r;
	uint64_t count, v;
	int rc, which;

	if (conn == NULL || f == NULL || nhosts == NULL ||
	    (f->nhosts > 0 && seen == NULL) || f->nhosts > INT32_MAX - 1)
		return FP_EINVAL;
	g = *f;
	g.function = g.match = NULL;
	which = f->clock == -1 ? STORAGE_TIER_COUNT_ : f->tier;

	if ((rc = params_init(&p, &g, storage_tier_bucket_ns(f->tier), 1)) != 0)
		return rc;
	/* A window the ledger holds whole is answered from it alone: the
	 * facts part of hosts_sql costs its planning (10-30 ms) even when it
	 * reads nothing. */
	if (which != STORAGE_TIER_COUNT_) {
		rc = query(conn,
			   "SELECT extract(epoch FROM " LEDGER_COVER
			   ") <= $1::bigint",
			   1, p.values, 1, "ledger cover", &r);
		if (rc != 0) {
			params_fini(&p);
			return rc;
		}
		if (PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't')
			which = STORAGE_TIER_COUNT_;
		PQclear(r);
	}
	rc = query(conn, hosts_sql[which], NBASE, p.values, 3, "window hosts",
		   &r);
	params_fini(&p);
	if (rc != 0)
		return rc;
	rc = FP_EDB;
	if (PQntuples(r) != (int)f->nhosts + 1 ||
	    parse_u64(PQgetvalue(r, 0, 1), &count) != 0)
		goto err_shape;
	/* Check every row before writing any output. */
	for (int i = 1; i <= (int)f->nhosts; i++)
		if (parse_u64(PQgetvalue(r, i, 0), &v) != 0 ||
		    v != (uint64_t)i ||
		    parse_u64(PQgetvalue(r, i, 2), &v) != 0 ||
		    v > STORAGE_HOST_IN_WINDOW)
			goto err_shape;
	for (int i = 1; i <= (int)f->nhosts; i++) {
		parse_u64(PQgetvalue(r, i, 2), &v);
		seen[i - 1] = (int)v;
	}
	*nhosts = count;
	rc = 0;
	goto out_clear;

err_shape:
	fp_err("storage: window hosts: unexpected result shape");
out_clear:
	PQclear(r);
	return rc;
}
