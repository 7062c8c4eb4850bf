/*
 * The collector's write path: many decoded batches merged in one
 * transaction. Partitions for the days involved are made first (own short
 * transaction). Inside the merge transaction: stage the batch headers,
 * insert them into ingested_batches (ON CONFLICT DO NOTHING RETURNING tells
 * which are new), then pre-aggregate only the new batches' rows in memory
 * (summed per bucket, series and function/edge/path), append the sums to
 * this writer's delta tables (COPY: no index, no conflict) and mark the raw
 * buckets written in rollup_dirty. After COMMIT the sums are added to the
 * writer's fold maps; storage_fold later adds the fold maps to the raw tier
 * with one INSERT … ON CONFLICT DO UPDATE per table, ORDER BY the key
 * (concurrent writers lock rows in the same order: no deadlock), and
 * empties the delta tables in the same transaction (schema 007 explains
 * why readers stay exact). The rollup tier is not written here: the
 * database rolls settled minutes up from raw (fleetprof_rollup, schema 006),
 * called by storage_rollup. Dimension rows already known to this writer are
 * not staged at all. A writer is used by one thread.
 */
#include "storage/storage.h"
#include "aggmap.h"
#include "copybuf.h"
#include "pgutil.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "wire/batch.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * One delta slot and the sums appended to it since its last fold (the fold
 * maps). A writer holds two: it appends to `cur` while the other is the
 * spare, or out on another connection being folded (storage_writer_retire).
 */
struct storage_fold_job {
	int slot; /* the delta tables' suffix */
	/* The backend whose session lock holds the slot: its pid and start
	 * (µs since the epoch; with the pid, a backend's identity even when
	 * pids are reused). */
	int owner_pid;
	int64_t owner_start;
	int stale; /* the maps may disagree with the table: fold from it */
	/* The slot's delta_slots.min_bucket (epoch s) as this writer last
	 * committed it; INT64_MAX: none, or not known (write it again). */
	int64_t min_bucket;
	int64_t empty_wait_ms; /* the writer's, when retired */
	struct aggmap fn, edge, stack;
	struct copybuf buf;
};

struct storage_writer {
	PGconn *conn;
	struct copybuf buf;
	struct storage_writer_opts opt;
	/* ids known to be in the database (committed) */
	struct aggmap known_series, known_fns, known_stacks, known_days;
	/* per merge: dims staged in this transaction, pre-aggregated facts */
	struct aggmap new_series, new_fns, new_stacks;
	struct aggmap agg_fn, agg_edge, agg_stack;
	/* the slot appended to, and the spare (NULL while it is out) */
	struct storage_fold_job *cur, *spare;
	int own[2];	       /* their slot numbers */
	int64_t backend_start; /* this session's, µs since the epoch */
};

/* Caches are bounded: past this many ids a cache starts over (a miss only
 * costs one staged row). */
#define KNOWN_MAX (1u << 20)
#define AGG_KEEP (1u << 18)

/* Delta slots (schema 007): owned by session advisory locks (DELTA_LOCK,
 * slot), two per writer; every fold of a slot holds the transaction lock
 * (FOLD_LOCK, slot), so two sessions never fold one slot at once. */
#define DELTA_SLOTS 32
#define DELTA_LOCK 1179664463
#define FOLD_LOCK (DELTA_LOCK + 1)
/* How long a fold tries TRUNCATE before it empties a slot by DELETE. */
#define EMPTY_WAIT_MS_DEFAULT 30000

static const char stage_ddl[] =
	"CREATE TEMP TABLE IF NOT EXISTS stage_batches (agent_id bytea, "
	"seq bigint, series_id bigint, pid integer, t0_ns bigint, "
	"t1_ns bigint, dropped bigint, nfns integer) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS stage_series (id bigint, host text, "
	"service text, clock text, labels jsonb) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS stage_functions (id bigint, "
	"name text, file text, line integer, module text) "
	"ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS stage_stacks (id bigint, "
	"parent_id bigint, fn_id bigint, depth integer) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS stage_fn (bucket_s bigint, "
	"series_id bigint, fn_id bigint, ncalls bigint, pcalls bigint, "
	"tottime_ns bigint, cumtime_ns bigint) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS stage_edge (bucket_s bigint, "
	"series_id bigint, caller_id bigint, callee_id bigint, ncalls bigint, "
	"pcalls bigint, tottime_ns bigint, cumtime_ns bigint) "
	"ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS stage_stack (bucket_s bigint, "
	"series_id bigint, stack_id bigint, ncalls bigint, self_ns bigint, "
	"total_ns bigint) ON COMMIT DELETE ROWS;";

static const char *const dims_sql[] = {
	"INSERT INTO series (id, host, service, clock, labels) "
	"SELECT DISTINCT ON (id) id, host, service, clock, labels "
	"FROM stage_series ORDER BY id ON CONFLICT DO NOTHING",
	"INSERT INTO functions (id, name, file, line, module) "
	"SELECT DISTINCT ON (id) id, name, file, line, module "
	"FROM stage_functions ORDER BY id ON CONFLICT DO NOTHING",
	"INSERT INTO stacks (id, parent_id, fn_id, depth) "
	"SELECT DISTINCT ON (id) id, parent_id, fn_id, depth "
	"FROM stage_stacks ORDER BY id ON CONFLICT DO NOTHING",
};

/* A fold, per fact table: head, then the rows from the stage table (the
 * fold maps: already sums per (raw bucket, series, key), one row per key, so
 * ON CONFLICT never meets the same row twice in a statement) or from the
 * slot's delta table (summed here: a dead writer's leftovers), then tail. */
struct fact_sql {
	const char *head, *from_stage, *from_delta, *tail, *delta;
};

static const struct fact_sql facts_sql[] = {
	{"INSERT INTO fn_stats_raw AS t (bucket, series_id, fn_id, ncalls, "
	 "pcalls, tottime_ns, cumtime_ns) ",
	 "SELECT to_timestamp(bucket_s), series_id, fn_id, ncalls, pcalls, "
	 "tottime_ns, cumtime_ns FROM stage_fn ORDER BY 1, 2, 3 ",
	 "SELECT bucket, series_id, fn_id, sum(ncalls)::bigint, "
	 "sum(pcalls)::bigint, sum(tottime_ns)::bigint, "
	 "sum(cumtime_ns)::bigint FROM fn_stats_delta_%d "
	 "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ",
	 "ON CONFLICT (bucket, series_id, fn_id) DO UPDATE SET "
	 "ncalls = t.ncalls + EXCLUDED.ncalls, "
	 "pcalls = t.pcalls + EXCLUDED.pcalls, "
	 "tottime_ns = t.tottime_ns + EXCLUDED.tottime_ns, "
	 "cumtime_ns = t.cumtime_ns + EXCLUDED.cumtime_ns",
	 "fn_stats_delta"},
	{"INSERT INTO edge_stats_raw AS t (bucket, series_id, caller_id, "
	 "callee_id, ncalls, pcalls, tottime_ns, cumtime_ns) ",
	 "SELECT to_timestamp(bucket_s), series_id, caller_id, callee_id, "
	 "ncalls, pcalls, tottime_ns, cumtime_ns FROM stage_edge "
	 "ORDER BY 1, 2, 3, 4 ",
	 "SELECT bucket, series_id, caller_id, callee_id, "
	 "sum(ncalls)::bigint, sum(pcalls)::bigint, sum(tottime_ns)::bigint, "
	 "sum(cumtime_ns)::bigint FROM edge_stats_delta_%d "
	 "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 ",
	 "ON CONFLICT (bucket, series_id, caller_id, callee_id) DO UPDATE SET "
	 "ncalls = t.ncalls + EXCLUDED.ncalls, "
	 "pcalls = t.pcalls + EXCLUDED.pcalls, "
	 "tottime_ns = t.tottime_ns + EXCLUDED.tottime_ns, "
	 "cumtime_ns = t.cumtime_ns + EXCLUDED.cumtime_ns",
	 "edge_stats_delta"},
	{"INSERT INTO stack_stats_raw AS t (bucket, series_id, stack_id, "
	 "ncalls, self_ns, total_ns) ",
	 "SELECT to_timestamp(bucket_s), series_id, stack_id, ncalls, "
	 "self_ns, total_ns FROM stage_stack ORDER BY 1, 2, 3 ",
	 "SELECT bucket, series_id, stack_id, sum(ncalls)::bigint, "
	 "sum(self_ns)::bigint, sum(total_ns)::bigint "
	 "FROM stack_stats_delta_%d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ",
	 "ON CONFLICT (bucket, series_id, stack_id) DO UPDATE SET "
	 "ncalls = t.ncalls + EXCLUDED.ncalls, "
	 "self_ns = t.self_ns + EXCLUDED.self_ns, "
	 "total_ns = t.total_ns + EXCLUDED.total_ns",
	 "stack_stats_delta"},
};

#define NFACTS (sizeof(facts_sql) / sizeof(facts_sql[0]))

/*
 * FP_EDBDOWN for failures worth retrying (connection lost, SQLSTATE classes
 * 08 connection, 40 rollback (deadlock, serialization), 53 resources,
 * 57 operator intervention), FP_EDB when PostgreSQL refused the data itself.
 */
static int fail(PGconn *c, PGresult *r, const char *what)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	int down = PQstatus(c) != CONNECTION_OK;
	if (st != NULL &&
	    (strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	     strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0))
		down = 1;
	char msg[512];
	storage_one_line(msg, sizeof(msg),
			 r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	fp_err("storage: %s: %s", what, msg);
	PQclear(r);
	return down ? FP_EDBDOWN : FP_EDB;
}

/* A statement with text parameters that returns no rows. */
static int exec_params_ok(PGconn *c, const char *sql, int n,
			  const char *const *params, const char *what)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return fail(c, r, what);
	PQclear(r);
	return 0;
}

static int exec_ok(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(c, r, what);
	PQclear(r);
	return 0;
}

struct copybuf;
static int fold_tx(PGconn *conn, struct copybuf *buf, int slot,
		   const struct storage_fold_job *maps,
		   const struct storage_fold_job *owner, int64_t empty_wait_ms);

/* The boolean a one-row query returns: 1 or 0, < 0 on error. */
static int query_bool(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	int t;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		return fail(c, r, what);
	t = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return t;
}

/* 1 if this session took the advisory lock of delta slot s, 0 if another
 * session holds it, < 0 on error. */
static int try_slot(PGconn *c, int s, const char *fn)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT %s(%d, %d)", fn, DELTA_LOCK, s);
	return query_bool(c, sql, "delta slot lock");
}

/* 1 if any of slot s's delta tables has a row, < 0 on error. */
static int slot_has_rows(PGconn *c, int s)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT EXISTS (SELECT 1 FROM fn_stats_delta_%1$d) OR "
		 "EXISTS (SELECT 1 FROM edge_stats_delta_%1$d) OR "
		 "EXISTS (SELECT 1 FROM stack_stats_delta_%1$d)",
		 s);
	return query_bool(c, sql, "delta slot rows");
}

/* Waits for a fold of slot s that another session may be running (one
 * that lost the slot's owner and will find that out under the lock). */
static int fold_barrier(PGconn *c, int s)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d, %d)",
		 FOLD_LOCK, s);
	return exec_ok(c, sql, "delta slot fold lock");
}

/*
 * Takes two free delta slots for this writer and folds what any free slot
 * holds (rows a writer appended before it died: still counted by the
 * readers, folded here from the table itself). Slots other writers hold
 * are theirs alone.
 */
/* This session's start, µs since the epoch: with its pid, its identity. */
static int session_start(PGconn *c, int64_t *out)
{
	PGresult *r = PQexec(c, "SELECT (extract(epoch FROM backend_start) * "
				"1000000)::bigint FROM pg_stat_activity "
				"WHERE pid = pg_backend_pid()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    PQgetisnull(r, 0, 0))
		return fail(c, r, "session start");
	*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

/* A slot without rows has no delta_slots row either (one left by a merge
 * whose rows were all folded before a crash would stall the roller). */
static int forget_empty_slot(PGconn *c, int s)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "DELETE FROM delta_slots WHERE slot = %d",
		 s);
	return exec_ok(c, sql, "delta slot bucket");
}

/* For a free slot s this session has just locked: waits for a fold of it
 * another session may be running, then folds what it holds from the
 * table, or clears its delta_slots row when it holds nothing. */
static int fold_free_slot(struct storage_writer *w, int s)
{
	int rc = fold_barrier(w->conn, s), rows;
	if (rc != 0)
		return rc;
	if ((rows = slot_has_rows(w->conn, s)) < 0)
		return rows;
	if (rows == 0)
		return forget_empty_slot(w->conn, s);
	if ((rc = fold_tx(w->conn, &w->buf, s, NULL, NULL,
			  w->opt.empty_wait_ms)) == 0)
		fp_notice("storage: folded delta slot %d left by a writer that "
			  "stopped",
			  s);
	return rc;
}

static int take_slots(struct storage_writer *w)
{
	struct storage_fold_job *want[2] = {w->cur, w->spare};
	int taken = 0;

	for (int s = 0; s < DELTA_SLOTS; s++) {
		int got = try_slot(w->conn, s, "pg_try_advisory_lock");
		if (got <= 0) {
			if (got < 0)
				return got;
			continue;
		}
		if ((got = fold_free_slot(w, s)) != 0)
			return got;
		if (taken < 2) {
			w->own[taken] = s;
			want[taken++]->slot = s;
		} else if ((got = try_slot(w->conn, s, "pg_advisory_unlock")) <
			   0) {
			return got;
		}
	}
	if (taken < 2) {
		fp_err("storage: the %d delta slots are held by other "
		       "writers (more than %d writers on this database)",
		       DELTA_SLOTS, DELTA_SLOTS / 2);
		return FP_EDBDOWN;
	}
	return 0;
}

static struct storage_fold_job *job_new(void)
{
	struct storage_fold_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	j->slot = -1;
	j->min_bucket = INT64_MAX;
	aggmap_init(&j->fn, 3, 4);
	aggmap_init(&j->edge, 4, 4);
	aggmap_init(&j->stack, 3, 3);
	copybuf_init(&j->buf);
	return j;
}

static size_t job_keys(const struct storage_fold_job *j)
{
	return j->fn.n + j->edge.n + j->stack.n;
}

/* After a fold: empty, and its large memory returned. */
static void job_clear(struct storage_fold_job *j)
{
	j->stale = 0;
	j->min_bucket = INT64_MAX;
	aggmap_clear(&j->fn, 1u << 16);
	aggmap_clear(&j->edge, 1u << 16);
	aggmap_clear(&j->stack, 1u << 16);
	copybuf_fini(&j->buf);
	copybuf_init(&j->buf);
}

void storage_fold_job_free(struct storage_fold_job *j)
{
	if (j == NULL)
		return;
	aggmap_fini(&j->fn);
	aggmap_fini(&j->edge);
	aggmap_fini(&j->stack);
	copybuf_fini(&j->buf);
	free(j);
}

int storage_writer_create(PGconn *conn, struct storage_writer **out)
{
	struct storage_writer *w;
	int rc = exec_ok(conn, stage_ddl, "create staging tables");
	if (rc != 0)
		return rc;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return FP_ENOMEM;
	w->conn = conn;
	w->own[0] = w->own[1] = -1;
	copybuf_init(&w->buf);
	w->opt.raw_retention_s = 7 * 86400;
	w->opt.rollup_retention_s = 90 * 86400;
	w->opt.empty_wait_ms = EMPTY_WAIT_MS_DEFAULT;
	aggmap_init(&w->known_series, 1, 0);
	aggmap_init(&w->known_fns, 1, 0);
	aggmap_init(&w->known_stacks, 1, 0);
	aggmap_init(&w->known_days, 1, 0);
	aggmap_init(&w->new_series, 1, 0);
	aggmap_init(&w->new_fns, 1, 0);
	aggmap_init(&w->new_stacks, 1, 0);
	aggmap_init(&w->agg_fn, 3, 4);
	aggmap_init(&w->agg_edge, 4, 4);
	aggmap_init(&w->agg_stack, 3, 3);
	w->cur = job_new();
	w->spare = job_new();
	rc = w->cur && w->spare ? session_start(conn, &w->backend_start)
				: FP_ENOMEM;
	if (rc == 0)
		rc = take_slots(w);
	if (rc != 0) {
		w->conn = NULL; /* the caller still owns it */
		storage_writer_destroy(w);
		return rc;
	}
	*out = w;
	return 0;
}

void storage_writer_configure(struct storage_writer *w,
			      const struct storage_writer_opts *opt)
{
	w->opt = *opt;
	if (w->opt.raw_retention_s < 3600)
		w->opt.raw_retention_s = 3600;
	if (w->opt.rollup_retention_s < w->opt.raw_retention_s)
		w->opt.rollup_retention_s = w->opt.raw_retention_s;
	if (w->opt.empty_wait_ms <= 0)
		w->opt.empty_wait_ms = EMPTY_WAIT_MS_DEFAULT;
}

void storage_writer_destroy(struct storage_writer *w)
{
	if (w == NULL)
		return;
	/* One-shot writers (import, tests) leave their data folded; a
	 * collector's writer has folded already. Failure loses nothing. */
	if (w->conn != NULL && w->cur != NULL && w->cur->slot >= 0 &&
	    PQstatus(w->conn) == CONNECTION_OK &&
	    (w->cur->stale || job_keys(w->cur) > 0))
		(void)storage_fold(w, NULL);
	if (w->conn != NULL)
		PQfinish(w->conn); /* ends the session: frees its slots */
	copybuf_fini(&w->buf);
	aggmap_fini(&w->known_series);
	aggmap_fini(&w->known_fns);
	aggmap_fini(&w->known_stacks);
	aggmap_fini(&w->known_days);
	aggmap_fini(&w->new_series);
	aggmap_fini(&w->new_fns);
	aggmap_fini(&w->new_stacks);
	aggmap_fini(&w->agg_fn);
	aggmap_fini(&w->agg_edge);
	aggmap_fini(&w->agg_stack);
	storage_fold_job_free(w->cur);
	storage_fold_job_free(w->spare); /* NULL while out: its owner frees */
	free(w);
}

PGconn *storage_writer_conn(struct storage_writer *w)
{
	return w->conn;
}

/* Starts COPY table FROM STDIN with options (e.g. " (FORMAT binary)"). */
static int copy_begin(PGconn *conn, const char *table, const char *options)
{
	char sql[128];
	PGresult *r;
	snprintf(sql, sizeof(sql), "COPY %s FROM STDIN%s", table, options);
	r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN)
		return fail(conn, r, sql);
	PQclear(r);
	return 0;
}

/* Sends what the buffer holds (in pieces of 1 MB) and empties it; 0, or
 * -1 when the connection refused it (copy_end reports why). */
static int copy_put(PGconn *conn, struct copybuf *b)
{
	size_t off = 0;
	if (b->oom)
		return -1;
	while (off < b->len) {
		size_t n = b->len - off;
		if (n > (1u << 20))
			n = 1u << 20;
		if (PQputCopyData(conn, b->p + off, (int)n) != 1)
			return -1;
		off += n;
	}
	copybuf_reset(b);
	return 0;
}

/* Ends the COPY: `ok` 0 aborts it (a send failed or memory ran out). */
static int copy_end(PGconn *conn, struct copybuf *b, int ok, const char *table)
{
	PGresult *r;
	if (!ok) {
		PQputCopyEnd(conn, b->oom ? "client out of memory"
					  : "client failed to send");
	} else if (PQputCopyEnd(conn, NULL) != 1) {
		return fail(conn, NULL, table);
	}
	r = PQgetResult(conn);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return fail(conn, r, table);
	PQclear(r);
	while ((r = PQgetResult(conn)) != NULL)
		PQclear(r);
	return b->oom ? FP_ENOMEM : 0;
}

/* Sends the buffer as the body of COPY table FROM STDIN. */
static int copy_in_fmt(PGconn *conn, struct copybuf *b, const char *table,
		       const char *options)
{
	int rc;
	if (b->oom)
		return FP_ENOMEM;
	if (b->len == 0)
		return 0;
	if ((rc = copy_begin(conn, table, options)) != 0)
		return rc;
	return copy_end(conn, b, copy_put(conn, b) == 0, table);
}

static int copy_in(struct storage_writer *w, const char *table)
{
	return copy_in_fmt(w->conn, &w->buf, table, "");
}

/* Canonical labels JSON (sorted keys, compact); caller frees. */
static char *labels_json(const struct wire_agent *a)
{
	json_t *o = json_object();
	char *s;
	if (o == NULL)
		return NULL;
	for (uint32_t i = 0; i < a->nlabels; i++)
		json_object_set_new(o, a->labels[i].key,
				    json_string(a->labels[i].value));
	s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(o);
	return s;
}

struct idmap {
	uint32_t id;
	uint32_t idx;
};

static int idmap_cmp(const void *a, const void *b)
{
	const struct idmap *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int idmap_find(const struct idmap *m, uint32_t n, uint32_t id)
{
	struct idmap key = {id, 0}, *hit;
	hit = bsearch(&key, m, n, sizeof(*m), idmap_cmp);
	return hit ? (int)hit->idx : -1;
}

/* Per-batch identities computed before staging. */
struct batch_ids {
	int64_t series;
	int64_t bucket_s;
	char *labels;
	int64_t *fn; /* by index into fns */
	struct idmap *fnmap;
	int64_t *stack; /* by index into nodes */
	int32_t *depth;
	struct idmap *nodemap;
};

static void batch_ids_fini(struct batch_ids *ids)
{
	free(ids->labels);
	free(ids->fn);
	free(ids->fnmap);
	free(ids->stack);
	free(ids->depth);
	free(ids->nodemap);
	memset(ids, 0, sizeof(*ids));
}

static int batch_ids_init(struct batch_ids *ids, const struct wire_batch *b)
{
	const int64_t bucket_ns = STORAGE_BUCKET_SECONDS * INT64_C(1000000000);
	int64_t t0 = b->t0;

	memset(ids, 0, sizeof(*ids));
	ids->labels = labels_json(&b->agent);
	ids->fn = calloc(b->nfns + 1, sizeof(*ids->fn));
	ids->fnmap = calloc(b->nfns + 1, sizeof(*ids->fnmap));
	ids->stack = calloc(b->nnodes + 1, sizeof(*ids->stack));
	ids->depth = calloc(b->nnodes + 1, sizeof(*ids->depth));
	ids->nodemap = calloc(b->nnodes + 1, sizeof(*ids->nodemap));
	if (!ids->labels || !ids->fn || !ids->fnmap || !ids->stack ||
	    !ids->depth || !ids->nodemap) {
		batch_ids_fini(ids);
		return FP_ENOMEM;
	}
	ids->series = storage_series_id(b->agent.host, b->agent.service,
					b->clock, ids->labels);
	ids->bucket_s = (t0 - ((t0 % bucket_ns) + bucket_ns) % bucket_ns) /
			INT64_C(1000000000);
	for (uint32_t i = 0; i < b->nfns; i++) {
		const struct wire_fn *f = &b->fns[i];
		ids->fn[i] = storage_function_id(f->name, f->file, f->line,
						 f->module);
		ids->fnmap[i].id = f->id;
		ids->fnmap[i].idx = i;
	}
	qsort(ids->fnmap, b->nfns, sizeof(*ids->fnmap), idmap_cmp);
	/* Every reference must resolve (the decoder checks this; batches built
	 * by importers and tests are checked here too). */
	for (uint32_t i = 0; i < b->nfstats; i++)
		if (idmap_find(ids->fnmap, b->nfns, b->fstats[i].fn) < 0)
			goto err_range;
	for (uint32_t i = 0; i < b->nedges; i++)
		if (idmap_find(ids->fnmap, b->nfns, b->edges[i].caller) < 0 ||
		    idmap_find(ids->fnmap, b->nfns, b->edges[i].callee) < 0)
			goto err_range;
	for (uint32_t i = 0; i < b->nnodes; i++) {
		ids->nodemap[i].id = b->nodes[i].node;
		ids->nodemap[i].idx = i;
	}
	qsort(ids->nodemap, b->nnodes, sizeof(*ids->nodemap), idmap_cmp);
	/* Nodes come parents first (the decoder enforces it). */
	for (uint32_t i = 0; i < b->nnodes; i++) {
		const struct wire_node *nd = &b->nodes[i];
		int64_t parent = 0;
		int32_t depth = 1;
		int fi = idmap_find(ids->fnmap, b->nfns, nd->fn);
		int pi = nd->parent == 0 ? -1
					 : idmap_find(ids->nodemap, b->nnodes,
						      nd->parent);
		if (fi < 0 ||
		    (nd->parent != 0 && (pi < 0 || (uint32_t)pi >= i))) {
			batch_ids_fini(ids);
			return FP_ERANGE;
		}
		if (pi >= 0) {
			parent = ids->stack[pi];
			depth = ids->depth[pi] + 1;
		}
		ids->stack[i] = storage_stack_id(parent, ids->fn[fi]);
		ids->depth[i] = depth;
	}
	return 0;

err_range:
	batch_ids_fini(ids);
	return FP_ERANGE;
}

static void put_sep(struct copybuf *b, int first)
{
	if (!first)
		copybuf_tab(b);
}

/* Writes one row of int64 columns. */
static void row_i64(struct copybuf *b, const int64_t *v, int n)
{
	for (int i = 0; i < n; i++) {
		put_sep(b, i == 0);
		copybuf_i64(b, v[i]);
	}
	copybuf_eol(b);
}

static int stage_headers(struct storage_writer *w,
			 struct storage_merge_item *items,
			 const struct batch_ids *ids, const int *staged,
			 size_t n)
{
	struct copybuf *b = &w->buf;
	copybuf_reset(b);
	for (size_t i = 0; i < n; i++) {
		const struct wire_batch *bt = items[i].batch;
		if (!staged[i])
			continue;
		copybuf_bytea(b, bt->agent.id, WIRE_AGENT_ID_LEN);
		copybuf_tab(b);
		int64_t v[] = {
			(int64_t)bt->seq, ids[i].series, (int64_t)bt->agent.pid,
			bt->t0,		  bt->t1,	 (int64_t)bt->dropped,
			(int64_t)bt->nfns};
		row_i64(b, v, 7);
	}
	return copy_in(w, "stage_batches");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Marks items whose (agent, seq) the INSERT … RETURNING reported as new. */
static void mark_new(PGresult *r, struct storage_merge_item *items,
		     const int *staged, int *isnew, size_t n)
{
	for (int row = 0; row < PQntuples(r); row++) {
		const char *hex = PQgetvalue(r, row, 0);
		uint64_t seq = strtoull(PQgetvalue(r, row, 1), NULL, 10);
		uint8_t id[WIRE_AGENT_ID_LEN];
		if (strlen(hex) != 2 * WIRE_AGENT_ID_LEN)
			continue;
		for (int k = 0; k < WIRE_AGENT_ID_LEN; k++)
			id[k] = (uint8_t)(hexval(hex[2 * k]) * 16 +
					  hexval(hex[2 * k + 1]));
		for (size_t i = 0; i < n; i++) {
			if (staged[i] && items[i].batch->seq == seq &&
			    memcmp(items[i].batch->agent.id, id, sizeof(id)) ==
				    0) {
				isnew[i] = 1;
				break;
			}
		}
	}
}

/* 1 if id must be staged: not known to be committed, not staged yet in this
 * transaction (and then remembers it as staged). */
static int want_dim(struct aggmap *known, struct aggmap *staged, int64_t id,
		    int *oom)
{
	if (aggmap_has(known, &id) || aggmap_has(staged, &id))
		return 0;
	if (aggmap_add(staged, &id, NULL) != 0)
		*oom = 1;
	return 1;
}

static int stage_dims(struct storage_writer *w, struct storage_merge_item *it,
		      const struct batch_ids *ids, const int *isnew, size_t n)
{
	struct copybuf *b = &w->buf;
	int rc, oom = 0;

	copybuf_reset(b);
	for (size_t i = 0; i < n; i++) {
		const struct wire_batch *bt = it[i].batch;
		if (!isnew[i] || !want_dim(&w->known_series, &w->new_series,
					   ids[i].series, &oom))
			continue;
		copybuf_i64(b, ids[i].series);
		copybuf_tab(b);
		copybuf_text(b, bt->agent.host);
		copybuf_tab(b);
		copybuf_text(b, bt->agent.service);
		copybuf_tab(b);
		copybuf_text(b, wire_clock_name(bt->clock));
		copybuf_tab(b);
		copybuf_text(b, ids[i].labels);
		copybuf_eol(b);
	}
	if ((rc = copy_in(w, "stage_series")) != 0)
		return rc;

	copybuf_reset(b);
	for (size_t i = 0; i < n; i++) {
		const struct wire_batch *bt = it[i].batch;
		if (!isnew[i])
			continue;
		for (uint32_t k = 0; k < bt->nfns; k++) {
			const struct wire_fn *f = &bt->fns[k];
			if (!want_dim(&w->known_fns, &w->new_fns, ids[i].fn[k],
				      &oom))
				continue;
			copybuf_i64(b, ids[i].fn[k]);
			copybuf_tab(b);
			copybuf_text(b, f->name);
			copybuf_tab(b);
			copybuf_text(b, f->file);
			copybuf_tab(b);
			copybuf_i64(
				b,
				(int64_t)(f->line > INT32_MAX ? 0 : f->line));
			copybuf_tab(b);
			copybuf_text(b, f->module);
			copybuf_eol(b);
		}
	}
	if ((rc = copy_in(w, "stage_functions")) != 0)
		return rc;

	copybuf_reset(b);
	for (size_t i = 0; i < n; i++) {
		const struct wire_batch *bt = it[i].batch;
		if (!isnew[i])
			continue;
		for (uint32_t k = 0; k < bt->nnodes; k++) {
			const struct wire_node *nd = &bt->nodes[k];
			int fi = idmap_find(ids[i].fnmap, bt->nfns, nd->fn);
			if (!want_dim(&w->known_stacks, &w->new_stacks,
				      ids[i].stack[k], &oom))
				continue;
			copybuf_i64(b, ids[i].stack[k]);
			copybuf_tab(b);
			if (nd->parent == 0) {
				copybuf_null(b);
			} else {
				int pi = idmap_find(ids[i].nodemap, bt->nnodes,
						    nd->parent);
				copybuf_i64(b, ids[i].stack[pi]);
			}
			copybuf_tab(b);
			copybuf_i64(b, ids[i].fn[fi]);
			copybuf_tab(b);
			copybuf_i64(b, ids[i].depth[k]);
			copybuf_eol(b);
		}
	}
	if (oom)
		return FP_ENOMEM;
	return copy_in(w, "stage_stacks");
}

/* Sends every entry of an aggregation map as binary COPY rows, streamed
 * (the buffer never holds more than about 1 MB): keys then sums, the first
 * key (a bucket, epoch s) as timestamptz when `ts`. */
static int copy_agg_bin(PGconn *conn, struct copybuf *b, const struct aggmap *m,
			const char *table, int ts)
{
	struct agg_entry *e;
	int rc, ok = 1;

	copybuf_reset(b);
	if (m->n == 0)
		return 0;
	if ((rc = copy_begin(conn, table, " (FORMAT binary)")) != 0)
		return rc;
	copybuf_bin_header(b);
	aggmap_foreach(m, e)
	{
		copybuf_bin_row(b, m->nkeys + m->nvals);
		if (ts)
			copybuf_bin_timestamptz(b, e->key[0]);
		else
			copybuf_bin_i64(b, e->key[0]);
		for (int i = 1; i < m->nkeys; i++)
			copybuf_bin_i64(b, e->key[i]);
		for (int i = 0; i < m->nvals; i++)
			copybuf_bin_i64(b, e->val[i]);
		if (b->len >= (1u << 20) && copy_put(conn, b) != 0) {
			ok = 0;
			break;
		}
	}
	if (ok) {
		copybuf_bin_trailer(b);
		ok = copy_put(conn, b) == 0;
	}
	return copy_end(conn, b, ok, table);
}

/* A fold's stage table: bucket_s stays bigint. */
static int copy_agg(PGconn *conn, struct copybuf *b, const struct aggmap *m,
		    const char *table)
{
	return copy_agg_bin(conn, b, m, table, 0);
}

/* This writer's slot of a delta table: the bucket as timestamptz. */
static int copy_delta(struct storage_writer *w, const struct aggmap *m,
		      const char *table)
{
	char name[64];
	snprintf(name, sizeof(name), "%s_%d", table, w->cur->slot);
	return copy_agg_bin(w->conn, &w->buf, m, name, 1);
}

/* Adds every entry of src to dst. */
static int agg_merge(struct aggmap *dst, const struct aggmap *src)
{
	struct agg_entry *e;
	aggmap_foreach(src, e)
	{
		if (aggmap_add(dst, e->key, e->val) != 0)
			return FP_ENOMEM;
	}
	return 0;
}

/* Sums the new batches' rows per (bucket, series, function / edge / path)
 * and appends the sums to the delta tables. *rows counts the rows received,
 * *written the rows staged after pre-aggregation. */
static int stage_facts(struct storage_writer *w, struct storage_merge_item *it,
		       const struct batch_ids *ids, const int *isnew, size_t n,
		       uint64_t *rows, uint64_t *written)
{
	int rc = 0;

	/* Kept across commits up to 2^18 slots (17 MB) each: regrowing them
	 * every commit cost more page faults than the aggregation itself. */
	aggmap_clear(&w->agg_fn, AGG_KEEP);
	aggmap_clear(&w->agg_edge, AGG_KEEP);
	aggmap_clear(&w->agg_stack, AGG_KEEP);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct wire_batch *bt = it[i].batch;
		const struct batch_ids *x = &ids[i];
		if (!isnew[i])
			continue;
		for (uint32_t k = 0; k < bt->nfstats && rc == 0; k++) {
			const struct wire_fstat *s = &bt->fstats[k];
			int fi = idmap_find(x->fnmap, bt->nfns, s->fn);
			int64_t key[3] = {x->bucket_s, x->series, x->fn[fi]};
			int64_t val[4] = {
				(int64_t)s->ncalls, (int64_t)s->pcalls,
				(int64_t)s->tottime_ns, (int64_t)s->cumtime_ns};
			rc = aggmap_add(&w->agg_fn, key, val);
		}
		for (uint32_t k = 0; k < bt->nedges && rc == 0; k++) {
			const struct wire_edge *e = &bt->edges[k];
			int ci = idmap_find(x->fnmap, bt->nfns, e->caller);
			int ce = idmap_find(x->fnmap, bt->nfns, e->callee);
			int64_t key[4] = {x->bucket_s, x->series, x->fn[ci],
					  x->fn[ce]};
			int64_t val[4] = {
				(int64_t)e->ncalls, (int64_t)e->pcalls,
				(int64_t)e->tottime_ns, (int64_t)e->cumtime_ns};
			rc = aggmap_add(&w->agg_edge, key, val);
		}
		for (uint32_t k = 0; k < bt->nnodes && rc == 0; k++) {
			const struct wire_node *nd = &bt->nodes[k];
			if (nd->ncalls == 0 && nd->self_ns == 0 &&
			    nd->total_ns == 0)
				continue; /* an ancestor sent only for its path
					   */
			int64_t key[3] = {x->bucket_s, x->series, x->stack[k]};
			int64_t val[3] = {(int64_t)nd->ncalls,
					  (int64_t)nd->self_ns,
					  (int64_t)nd->total_ns};
			rc = aggmap_add(&w->agg_stack, key, val);
		}
		*rows += bt->nfstats + bt->nedges + bt->nnodes;
	}
	if (rc != 0)
		return rc;
	*written += w->agg_fn.n + w->agg_edge.n + w->agg_stack.n;
	if ((rc = copy_delta(w, &w->agg_fn, "fn_stats_delta")) != 0 ||
	    (rc = copy_delta(w, &w->agg_edge, "edge_stats_delta")) != 0 ||
	    (rc = copy_delta(w, &w->agg_stack, "stack_stats_delta")) != 0)
		return rc;
	return 0;
}

/* Interns the staged dimensions and marks the buckets written dirty: the
 * rollup tier reads them from raw until fleetprof_rollup has rolled them
 * up. `minutes` is an array literal of raw bucket starts (epoch s). */
static int merge_staged(struct storage_writer *w, const char *minutes)
{
	const char *param[1] = {minutes};
	int rc;

	for (size_t i = 0; i < sizeof(dims_sql) / sizeof(dims_sql[0]); i++)
		if ((rc = exec_ok(w->conn, dims_sql[i], "merge dimensions")) !=
		    0)
			return rc;
	return exec_params_ok(
		w->conn,
		"INSERT INTO rollup_dirty AS d (minute, writer, version) "
		"SELECT to_timestamp(m), pg_backend_pid(), 1 "
		"FROM unnest($1::bigint[]) AS m ORDER BY 1 "
		"ON CONFLICT (minute, writer) DO UPDATE "
		"SET version = d.version + 1",
		1, param, "mark rollup minutes");
}

/* Records in delta_slots that this writer's slot now holds `bucket_s`
 * (epoch s) or newer (schema 008: the roller reads raw only up to there). */
static int note_min_bucket(struct storage_writer *w, int64_t bucket_s)
{
	char slot[16], b[24];
	const char *param[2] = {slot, b};

	snprintf(slot, sizeof(slot), "%d", w->cur->slot);
	snprintf(b, sizeof(b), "%lld", (long long)bucket_s);
	return exec_params_ok(
		w->conn,
		"INSERT INTO delta_slots AS d (slot, min_bucket) "
		"VALUES ($1::integer, to_timestamp($2::bigint)) "
		"ON CONFLICT (slot) DO UPDATE "
		"SET min_bucket = least(d.min_bucket, EXCLUDED.min_bucket)",
		2, param, "record the slot's oldest bucket");
}

/* The distinct raw buckets of the new batches, as a bigint[] literal
 * ("{m1,m2}"); caller frees. */
static char *dirty_minutes(const struct batch_ids *ids, const int *isnew,
			   size_t n)
{
	size_t used = 0, len = 3 + 22 * n;
	char *buf = malloc(len);

	if (buf == NULL)
		return NULL;
	buf[used++] = '{';
	for (size_t i = 0; i < n; i++) {
		int64_t h = ids[i].bucket_s;
		int seen = 0;
		if (!isnew[i])
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = isnew[k] && ids[k].bucket_s == h;
		if (seen)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%lld",
					 used > 1 ? "," : "", (long long)h);
	}
	buf[used++] = '}';
	buf[used] = '\0';
	return buf;
}

/* Makes sure the partitions for every day the batches touch exist (its own
 * short transaction: DDL must not wait inside the merge). */
static int ensure_days(struct storage_writer *w,
		       struct storage_merge_item *items, size_t n)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	char a[24], b[24];
	const char *params[2] = {a, b};
	PGresult *r;

	for (size_t i = 0; i < n; i++) {
		int64_t day;
		if (items[i].status != 0)
			continue;
		day = items[i].batch->t0 / (INT64_C(86400) * 1000000000);
		if (aggmap_has(&w->known_days, &day))
			continue;
		lo = day < lo ? day : lo;
		hi = day > hi ? day : hi;
	}
	if (lo == INT64_MAX)
		return 0;
	snprintf(a, sizeof(a), "%lld", (long long)lo);
	snprintf(b, sizeof(b), "%lld", (long long)hi);
	r = PQexecParams(w->conn,
			 "SELECT fleetprof_ensure_partitions("
			 "'1970-01-01'::date + $1::integer, "
			 "'1970-01-01'::date + $2::integer)",
			 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(w->conn, r, "create partitions");
	PQclear(r);
	for (int64_t d = lo; d <= hi; d++)
		if (aggmap_add(&w->known_days, &d, NULL) != 0)
			return FP_ENOMEM;
	return 0;
}

/* After COMMIT: what was staged is now known to be in the database. */
static void remember(struct aggmap *known, struct aggmap *staged)
{
	struct agg_entry *e;
	if (known->n + staged->n > KNOWN_MAX)
		aggmap_clear(known, 0);
	aggmap_foreach(staged, e) aggmap_add(known, e->key, NULL);
	aggmap_clear(staged, 1u << 16);
}

/* 1 if an earlier item in the group has the same (agent id, seq). */
static int dup_in_group(struct storage_merge_item *items, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (items[j].batch->seq == items[i].batch->seq &&
		    memcmp(items[j].batch->agent.id, items[i].batch->agent.id,
			   WIRE_AGENT_ID_LEN) == 0)
			return 1;
	return 0;
}

/* A batch outside [now - raw retention, now + 1 day] would land in a
 * partition that retention drops (or one made only for a wrong clock):
 * refuse it with a reason instead. */
static int check_window(const struct storage_writer *w,
			struct storage_merge_item *it, int64_t now_ns)
{
	const int64_t day = INT64_C(86400) * 1000000000;
	int64_t t0 = it->batch->t0;
	if (t0 > now_ns + day)
		return FP_ERANGE;
	if (t0 < now_ns - w->opt.raw_retention_s * INT64_C(1000000000))
		return FP_ERANGE;
	return 0;
}

int storage_merge(struct storage_writer *w, struct storage_merge_item *items,
		  size_t n, struct storage_merge_stats *stats)
{
	struct batch_ids *ids = calloc(n + 1, sizeof(*ids));
	int *staged = calloc(n + 1, sizeof(int));
	int *isnew = calloc(n + 1, sizeof(int));
	uint64_t rows = 0, written = 0, nnew = 0, nstaged = 0;
	int64_t now = fp_wall_ns(), min_bucket = INT64_MAX;
	PGresult *r;
	size_t i;
	int rc = FP_ENOMEM;

	if (ids == NULL || staged == NULL || isnew == NULL)
		goto out_free;
	for (i = 0; i < n; i++) {
		items[i].dup = 0;
		items[i].status = check_window(w, &items[i], now);
		staged[i] = items[i].status == 0 && !dup_in_group(items, i);
		nstaged += (uint64_t)staged[i];
		if ((rc = batch_ids_init(&ids[i], items[i].batch)) != 0)
			goto out_ids;
	}
	if ((rc = ensure_days(w, items, n)) != 0)
		goto out_ids;
	if ((rc = exec_ok(w->conn, "BEGIN", "begin")) != 0)
		goto out_ids;
	if (nstaged > 0) {
		if ((rc = stage_headers(w, items, ids, staged, n)) != 0)
			goto err_rollback;
		r = PQexec(
			w->conn,
			"INSERT INTO ingested_batches (agent_id, seq, "
			"series_id, pid, t0, t1, dropped, nfns) "
			"SELECT agent_id, seq, series_id, pid, "
			"to_timestamp(t0_ns / 1e9), to_timestamp(t1_ns / 1e9), "
			"dropped, nfns FROM stage_batches "
			"ORDER BY agent_id, seq "
			"ON CONFLICT DO NOTHING "
			"RETURNING encode(agent_id, 'hex'), seq");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			rc = fail(w->conn, r, "insert ingested_batches");
			goto err_rollback;
		}
		mark_new(r, items, staged, isnew, n);
		PQclear(r);
	}
	for (i = 0; i < n; i++)
		nnew += (uint64_t)isnew[i];
	if (nnew > 0) {
		if ((rc = stage_dims(w, items, ids, isnew, n)) != 0)
			goto err_rollback;
		if ((rc = stage_facts(w, items, ids, isnew, n, &rows,
				      &written)) != 0)
			goto err_rollback;
		char *minutes = dirty_minutes(ids, isnew, n);
		rc = minutes ? merge_staged(w, minutes) : FP_ENOMEM;
		free(minutes);
		if (rc != 0)
			goto err_rollback;
		for (i = 0; i < n; i++)
			if (isnew[i] && ids[i].bucket_s < min_bucket)
				min_bucket = ids[i].bucket_s;
		/* Only when rows were appended: a row in delta_slots is
		 * deleted by the fold of the rows it stands for. */
		if (w->agg_fn.n + w->agg_edge.n + w->agg_stack.n == 0)
			min_bucket = INT64_MAX;
		if (min_bucket < w->cur->min_bucket &&
		    (rc = note_min_bucket(w, min_bucket)) != 0)
			goto err_rollback;
	}
	if ((rc = exec_ok(w->conn, "COMMIT", "commit")) != 0) {
		w->cur->stale = 1; /* the delta tables may hold it or not */
		w->cur->min_bucket = INT64_MAX; /* so may delta_slots */
		goto err_forget; /* outcome unknown: the caller must not ack */
	}
	if (min_bucket < w->cur->min_bucket)
		w->cur->min_bucket = min_bucket;
	if (nnew > 0 && (agg_merge(&w->cur->fn, &w->agg_fn) != 0 ||
			 agg_merge(&w->cur->edge, &w->agg_edge) != 0 ||
			 agg_merge(&w->cur->stack, &w->agg_stack) != 0))
		w->cur->stale = 1; /* fold from the table instead */
	remember(&w->known_series, &w->new_series);
	remember(&w->known_fns, &w->new_fns);
	remember(&w->known_stacks, &w->new_stacks);
	for (i = 0; i < n; i++)
		items[i].dup = items[i].status == 0 && !isnew[i];
	if (stats != NULL) {
		stats->batches_new += nnew;
		for (i = 0; i < n; i++) {
			stats->batches_dup += (uint64_t)items[i].dup;
			stats->batches_refused += items[i].status != 0;
		}
		stats->rows += rows;
		stats->rows_written += written;
	}
	rc = 0;
	goto out_ids;

err_rollback:
	if (PQstatus(w->conn) == CONNECTION_OK)
		PQclear(PQexec(w->conn, "ROLLBACK"));
err_forget:
	aggmap_clear(&w->new_series, 1u << 16);
	aggmap_clear(&w->new_fns, 1u << 16);
	aggmap_clear(&w->new_stacks, 1u << 16);
	aggmap_clear(&w->known_days, 0); /* DDL may have been rolled back */
out_ids:
	for (i = 0; i < n; i++)
		batch_ids_fini(&ids[i]);
out_free:
	free(ids);
	free(staged);
	free(isnew);
	return rc;
}

/* 1 if the job's owner backend (pid and start) holds the session lock of
 * delta slot `slot`, 0 if not, < 0 on error. */
static int slot_owned_by(PGconn *conn, int slot,
			 const struct storage_fold_job *owner)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN "
		 "pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = "
		 "'advisory' AND l.classid = %d AND l.objid = %d AND "
		 "l.objsubid = 2 AND l.pid = %d AND l.granted AND "
		 "(extract(epoch FROM a.backend_start) * 1000000)::bigint = "
		 "%lld)",
		 DELTA_LOCK, slot, owner->owner_pid,
		 (long long)owner->owner_start);
	return query_bool(conn, sql, "delta slot owner");
}

/*
 * One fold transaction for delta slot `slot`: add its rows to the raw tier
 * (from the fold maps, or from the table itself when maps is NULL) and
 * empty it. owner: NULL when this session holds the slot, else the job
 * naming the backend that does (pid and start time); if it no longer does
 * (its session ended: the slot is free, or another writer's), nothing is
 * done and FP_ESTATE returned. The
 * check and the fold happen under FOLD_LOCK, which a writer taking a slot
 * waits for: so a slot is never folded twice, nor a new owner's rows
 * emptied.
 */
static int fold_tx(PGconn *conn, struct copybuf *buf, int slot,
		   const struct storage_fold_job *maps,
		   const struct storage_fold_job *owner, int64_t empty_wait_ms)
{
	int64_t give_up = fp_mono_ns() + empty_wait_ms * 1000000;
	char sql[1024];
	int rc;

	if ((rc = exec_ok(conn, "BEGIN", "begin fold")) != 0)
		return rc;
	if ((rc = fold_barrier(conn, slot)) != 0)
		goto err;
	if (owner != NULL) {
		int owned = slot_owned_by(conn, slot, owner);
		if (owned <= 0) {
			rc = owned < 0 ? owned : FP_ESTATE;
			goto err;
		}
	}
	if (maps != NULL &&
	    ((rc = copy_agg(conn, buf, &maps->fn, "stage_fn")) != 0 ||
	     (rc = copy_agg(conn, buf, &maps->edge, "stage_edge")) != 0 ||
	     (rc = copy_agg(conn, buf, &maps->stack, "stage_stack")) != 0))
		goto err;
	for (size_t i = 0; i < NFACTS; i++) {
		const struct fact_sql *f = &facts_sql[i];
		char from[256];
		if (maps != NULL)
			snprintf(from, sizeof(from), "%s", f->from_stage);
		else
			snprintf(from, sizeof(from), f->from_delta, slot);
		snprintf(sql, sizeof(sql), "%s%s%s", f->head, from, f->tail);
		if ((rc = exec_ok(conn, sql, "fold")) != 0)
			goto err;
	}
	/* Emptying the slot: TRUNCATE needs ACCESS EXCLUSIVE, which waits for
	 * every reader of the tier views (a roller pass, a wide query), and
	 * new readers of the slot queue behind it. So each try waits 200 ms
	 * at most, 300 ms apart, and after empty_wait_ms (30 s) the slot is
	 * emptied by DELETE instead: no lock readers hold blocks it, and
	 * autovacuum reclaims the rows (the next TRUNCATE drops them too),
	 * but deleting millions of rows takes seconds. The upserts above are
	 * never thrown away for a reader. (Row locks above may wait for
	 * another writer's fold of the same keys: that ends.) */
	snprintf(sql, sizeof(sql),
		 "SAVEPOINT empty; SET LOCAL lock_timeout = '200ms'; "
		 "TRUNCATE fn_stats_delta_%1$d, edge_stats_delta_%1$d, "
		 "stack_stats_delta_%1$d",
		 slot);
	for (int tries = 1;; tries++) {
		PGresult *r = PQexec(conn, sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok && PQstatus(conn) != CONNECTION_OK) {
			rc = fail(conn, NULL, "empty delta tables");
			goto err;
		}
		if (ok)
			break;
		if (fp_mono_ns() < give_up) {
			if ((rc = exec_ok(conn, "ROLLBACK TO SAVEPOINT empty",
					  "empty delta tables")) != 0)
				goto err;
			usleep(300 * 1000);
			continue;
		}
		{
			snprintf(sql, sizeof(sql),
				 "ROLLBACK TO SAVEPOINT empty; "
				 "SET LOCAL lock_timeout = 0; "
				 "DELETE FROM fn_stats_delta_%1$d; "
				 "DELETE FROM edge_stats_delta_%1$d; "
				 "DELETE FROM stack_stats_delta_%1$d",
				 slot);
			if ((rc = exec_ok(conn, sql, "empty delta tables")) !=
			    0)
				goto err;
			fp_info("storage: fold: readers held delta slot %d "
				"for %d tries; emptied it by DELETE",
				slot, tries);
			break;
		}
	}
	snprintf(sql, sizeof(sql), "DELETE FROM delta_slots WHERE slot = %d",
		 slot);
	if ((rc = exec_ok(conn, sql, "empty delta tables")) != 0)
		goto err;
	return exec_ok(conn, "COMMIT", "commit fold");
err:
	if (PQstatus(conn) == CONNECTION_OK)
		PQclear(PQexec(conn, "ROLLBACK"));
	return rc;
}

size_t storage_fold_pending(const struct storage_writer *w)
{
	return job_keys(w->cur);
}

/* Folds job j's slot on conn (owner: see fold_tx) and empties j; on
 * failure j folds from the table next time (COMMIT's outcome may be
 * unknown: the table tells). FP_ESTATE: the owner's session ended, and
 * whoever takes the slot folds what it holds from the table. */
static int run_job(PGconn *conn, struct copybuf *buf,
		   struct storage_fold_job *j,
		   const struct storage_fold_job *owner, int64_t empty_wait_ms,
		   uint64_t *rows)
{
	size_t n = job_keys(j);
	int rc = fold_tx(conn, buf, j->slot, j->stale ? NULL : j, owner,
			 empty_wait_ms);
	if (rc != 0 && rc != FP_ESTATE) {
		j->stale = 1;
		return rc;
	}
	if (rc == 0 && rows != NULL)
		*rows = n;
	job_clear(j);
	return rc;
}

int storage_fold(struct storage_writer *w, uint64_t *rows)
{
	if (!w->cur->stale && job_keys(w->cur) == 0)
		return 0;
	return run_job(w->conn, &w->buf, w->cur, NULL, w->opt.empty_wait_ms,
		       rows);
}

struct storage_fold_job *storage_writer_retire(struct storage_writer *w)
{
	struct storage_fold_job *j = w->cur;
	if (w->spare == NULL || (!j->stale && job_keys(j) == 0))
		return NULL;
	j->owner_pid = PQbackendPID(w->conn);
	j->owner_start = w->backend_start;
	j->empty_wait_ms = w->opt.empty_wait_ms;
	w->cur = w->spare;
	w->spare = NULL;
	return j;
}

void storage_writer_reclaim(struct storage_writer *w,
			    struct storage_fold_job *j)
{
	if (w->spare != NULL ||
	    (j->slot != w->own[0] && j->slot != w->own[1]) ||
	    j->slot == w->cur->slot) {
		/* Not this writer's (a caller's bug): keeping it would append
		 * to a slot another writer may own. */
		fp_err("storage: a fold job of slot %d came back to a writer "
		       "that does not hold it; dropped",
		       j->slot);
		storage_fold_job_free(j);
		return;
	}
	w->spare = j;
}

size_t storage_fold_job_keys(const struct storage_fold_job *j)
{
	return job_keys(j);
}

int storage_fold_conn_init(PGconn *conn)
{
	return exec_ok(conn, stage_ddl, "create staging tables");
}

int storage_fold_job_run(PGconn *conn, struct storage_fold_job *j,
			 uint64_t *rows)
{
	return run_job(conn, &j->buf, j, j, j->empty_wait_ms, rows);
}

/* Folds what free delta slots hold: a writer died and none has started
 * since (the roller waits for those rows, schema 008). */
static int adopt_free_slots(struct storage_writer *w)
{
	for (int s = 0; s < DELTA_SLOTS; s++) {
		int got, rc;
		if (s == w->own[0] || s == w->own[1])
			continue; /* the lock is re-entrant: skip our own */
		if ((got = try_slot(w->conn, s, "pg_try_advisory_lock")) <= 0) {
			if (got < 0)
				return got;
			continue;
		}
		rc = fold_free_slot(w, s);
		got = try_slot(w->conn, s, "pg_advisory_unlock");
		if (rc != 0)
			return rc;
		if (got < 0)
			return got;
	}
	return 0;
}

int storage_maintain(struct storage_writer *w, int *created, int *dropped)
{
	char raw[32], rollup[32];
	const char *params[2] = {raw, rollup};
	PGresult *r;

	snprintf(raw, sizeof(raw), "%lld seconds",
		 (long long)w->opt.raw_retention_s);
	snprintf(rollup, sizeof(rollup), "%lld seconds",
		 (long long)w->opt.rollup_retention_s);
	r = PQexecParams(w->conn,
			 "SELECT created, dropped FROM "
			 "fleetprof_maintain($1::interval, $2::interval)",
			 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		return fail(w->conn, r, "maintenance");
	*created = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	*dropped = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);
	if (*dropped > 0)
		aggmap_clear(&w->known_days, 0);
	return adopt_free_slots(w);
}

int storage_rollup(PGconn *conn, int64_t settle_s, int max_hours, int *hours)
{
	char settle[32], max[16];
	const char *params[2] = {settle, max};
	PGresult *r;

	snprintf(settle, sizeof(settle), "%lld seconds", (long long)settle_s);
	snprintf(max, sizeof(max), "%d", max_hours);
	r = PQexecParams(conn,
			 "SELECT fleetprof_rollup(now() - $1::interval, "
			 "$2::integer)",
			 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		return fail(conn, r, "rollup");
	*hours = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}
