/*
 * storage queries behind the CLI: rankings, edges, call paths, timelines and
 * the batch ledger, over the raw (60 s) or the rollup (1 h) tier. Read-only;
 * every value reaches SQL as a parameter (the only text chosen in C is a
 * table, ORDER BY or GROUP BY from compile-time tables). Results are plain
 * heap arrays owned by the caller; nothing keeps a pointer into a PGresult.
 */
#ifndef STORAGE_QUERY_H
#define STORAGE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/*
 * Fact tiers, finest first (a larger value is a coarser tier): raw 60 s
 * buckets (kept 7 days), the 10 min rollup (kept with raw, schema 009), the
 * 1 h rollup, and for long windows the span: whole UTC days from the 1 d
 * rollup and the partial days at the window's ends from the 1 h one (schema
 * 006), exact to the hour.
 */
enum storage_tier {
	STORAGE_TIER_RAW = 0,
	STORAGE_TIER_10M,
	STORAGE_TIER_1H,
	STORAGE_TIER_SPAN,
	STORAGE_TIER_COUNT_
};

/* What the collector keeps by default (storage_writer_opts). */
#define STORAGE_RAW_RETENTION_S (7 * 86400)
#define STORAGE_ROLLUP_SECONDS 3600
#define STORAGE_ROLLUP_10M_SECONDS 600
/* Windows at least this long read the 10 min tier. */
#define STORAGE_10M_MIN_WINDOW_S 3600
/* Windows at least this long read the 1 h tier. */
#define STORAGE_RAW_MAX_WINDOW_S (6 * 3600)
/* Windows at least this long read the span (1 d + 1 h) tier. */
#define STORAGE_SPAN_MIN_WINDOW_S (3 * 86400)

/* "raw" / "rollup" (both rollup tiers); NULL for an unknown tier. */
const char *storage_tier_name(int tier);
/* Bucket width of a tier in ns (0 for an unknown tier). */
int64_t storage_tier_bucket_ns(int tier);

/*
 * The tier for [from_ns, until_ns) seen at now_ns: for a window that
 * starts inside the raw retention, raw when it is shorter than
 * STORAGE_10M_MIN_WINDOW_S and the 10 min rollup when it is shorter than
 * STORAGE_RAW_MAX_WINDOW_S; else the span for windows of at least
 * STORAGE_SPAN_MIN_WINDOW_S, else the 1 h rollup. Writes the tier and the
 * window widened to whole buckets of it (10 min; hours for the 1 h rollup
 * and the span). Pure.
 */
void storage_tier_choose(int64_t from_ns, int64_t until_ns, int64_t now_ns,
			 int *tier, int64_t *from_out, int64_t *until_out);

/*
 * What a query looks at. The window [from_ns, until_ns) is matched against
 * the buckets of tier: a bucket belongs to it if bucket >= from_ns rounded
 * down to a bucket boundary and bucket < until_ns. hosts are glob patterns
 * ('*' any run, '?' one character; nhosts 0 means every host); service NULL
 * means every service; labels_json a JSON object the series' labels must
 * contain (NULL: any); clock WIRE_CLOCK_WALL or WIRE_CLOCK_CPU, or -1 for
 * either (only the ledger queries accept -1); function an exact function
 * name and match a regular expression (PostgreSQL's) on name or file, NULL
 * for any. Nothing here is kept after the call returns.
 */
struct storage_filter {
	int64_t from_ns, until_ns;
	const char *const *hosts;
	size_t nhosts;
	const char *service;
	int clock;
	const char *labels_json;
	const char *function;
	const char *match;
	int tier; /* STORAGE_TIER_*; 0 (raw) when left zero */
};

/*
 * Open a read-only, repeatable-read transaction so that the queries after
 * it see one snapshot (the header's host count agrees with the rows);
 * storage_read_end() commits it. Return 0, FP_EDB or FP_EDBDOWN (logged).
 */
int storage_read_begin(PGconn *conn);
int storage_read_end(PGconn *conn);

/*
 * Open on `to` a read-only transaction that sees exactly the snapshot of
 * the one storage_read_begin() opened on `from` (exported and imported),
 * so that queries on both connections run at once and agree. Commit `to`
 * (storage_read_end) before `from`: `from` holds the delta tables' lock
 * for both. Returns 0, FP_EDB or FP_EDBDOWN.
 */
int storage_read_share(PGconn *from, PGconn *to);

/*
 * Assume the read-only role fleetprof_reader when it exists, the session
 * may (deployments make login users members of it) and it may read every
 * fleetprof table of this database (roles are cluster-wide, grants are
 * not). Writes 1 to *assumed
 * if the role was set, 0 if it was not available. Returns 0, FP_EDB or
 * FP_EDBDOWN.
 */
int storage_read_role(PGconn *conn, int *assumed);

/*
 * When cb is not NULL, every query below first runs EXPLAIN (ANALYZE) with
 * the same parameters and passes each plan line to cb(arg, what, line).
 * Process-wide; for benchmarks and --explain.
 */
void storage_set_explain(void (*cb)(void *arg, const char *what,
				    const char *line),
			 void *arg);

/* Raw bucket boundary at or before ns, and at or after ns. */
int64_t storage_bucket_floor(int64_t ns);
int64_t storage_bucket_ceil(int64_t ns);
/* The same for any width (ns > 0), relative to the epoch. */
int64_t storage_floor_to(int64_t ns, int64_t width);
int64_t storage_ceil_to(int64_t ns, int64_t width);

/*
 * Translate a glob ('*', '?') into a LIKE pattern with '\' as the escape
 * character: '%', '_' and '\' in the glob match themselves. Writes at most
 * len bytes including the NUL. Returns 0, FP_EINVAL for a NULL argument, or
 * FP_ELIMIT if out is too small (out is then the empty string when len > 0).
 * The result is at most 2 * strlen(glob) + 1 bytes.
 */
int storage_glob_to_like(const char *glob, char *out, size_t len);

/* Orderings of rankings; all descending, ties broken by name. */
enum storage_sort {
	STORAGE_SORT_TOTTIME = 0,
	STORAGE_SORT_CUMTIME,
	STORAGE_SORT_NCALLS,
	STORAGE_SORT_PCALLS,
	STORAGE_SORT_PERCALL,	 /* tottime / ncalls */
	STORAGE_SORT_CUMPERCALL, /* cumtime / pcalls */
	STORAGE_SORT_COUNT_
};

/* "tottime" … "cumpercall"; NULL for an unknown value. */
const char *storage_sort_name(int sort);
/* Returns a STORAGE_SORT_* or -1. */
int storage_sort_parse(const char *s);

/* What storage_top sums by. */
enum storage_group {
	STORAGE_GROUP_FUNCTION = 0,
	STORAGE_GROUP_HOST,
	STORAGE_GROUP_SERVICE,
	STORAGE_GROUP_COUNT_
};

const char *storage_group_name(int group);
int storage_group_parse(const char *s);

/*
 * One group summed over the window and all matching series. Times are
 * doubles because fleet-wide sums over long windows exceed int64 ns (292
 * years); they are exact integers below 2^53 ns (104 days). When grouping
 * by host or service, name is the host or service, file and module are ""
 * and hosts counts functions (host) or hosts (service).
 */
struct storage_top_row {
	char *name;   /* each string owned by the row */
	char *file;   /* "" when unknown */
	int32_t line; /* 0 when unknown */
	char *module; /* "" when unknown */
	uint64_t ncalls;
	uint64_t pcalls;
	double tottime_ns;
	double cumtime_ns;
	uint64_t hosts; /* distinct hosts the function was seen on */
	int64_t fn_id;	/* functions.id; 0 when grouping by host/service */
};

/*
 * Rank by sort (STORAGE_SORT_*), grouped by group (STORAGE_GROUP_*), at
 * most limit rows (0: all), in one parameterised query. On success returns
 * 0 and *out is an array of *n rows (NULL when *n is 0) the caller frees
 * with storage_top_free(). On failure writes nothing and returns FP_EINVAL
 * (bad sort, limit or filter), FP_ESYNTAX (match is not a valid regular
 * expression), FP_ENOMEM, FP_ERANGE (a sum exceeds 64 bits), FP_EDB or
 * FP_EDBDOWN (the database's text is logged).
 */
int storage_top(PGconn *conn, const struct storage_filter *f, int group,
		int sort, long limit, struct storage_top_row **out, size_t *n);
/* Frees rows and their strings; NULL is a no-op. */
void storage_top_free(struct storage_top_row *rows, size_t n);
/*
 * storage_top of two windows at once: f0's on c0 and f1's on c1, which
 * shares c0's snapshot (storage_read_share), each on its own backend (a
 * diff's two windows: on 2 cores in about the time of one). c1 NULL: both
 * on c0, one after the other. Returns as storage_top; on failure neither
 * result is written.
 */
int storage_top_pair(PGconn *c0, const struct storage_filter *f0, PGconn *c1,
		     const struct storage_filter *f1, int group, int sort,
		     struct storage_top_row **out0, size_t *n0,
		     struct storage_top_row **out1, size_t *n1);

/* A function's identity; strings owned by whatever holds it. */
struct storage_fn {
	int64_t id;
	char *name;
	char *file;
	int32_t line;
	char *module;
};

/* Which edges storage_edges returns. */
enum storage_edge_mode {
	STORAGE_EDGES_CALLERS = 0, /* edges into f->function */
	STORAGE_EDGES_CALLEES,	   /* edges out of f->function */
	STORAGE_EDGES_ALL,	   /* every edge (f->function ignored) */
	STORAGE_EDGES_COUNT_
};

/* One caller -> callee edge summed over the window (cProfile numbers). */
struct storage_edge_row {
	struct storage_fn caller, callee;
	uint64_t ncalls, pcalls;
	double tottime_ns, cumtime_ns;
	uint64_t hosts;
};

/*
 * Edges by mode, ordered by sort, at most limit (0: all). f->function is
 * required for CALLERS and CALLEES. Ownership and errors as storage_top;
 * free with storage_edges_free().
 */
int storage_edges(PGconn *conn, const struct storage_filter *f, int mode,
		  int sort, long limit, struct storage_edge_row **out,
		  size_t *n);
void storage_edges_free(struct storage_edge_row *rows, size_t n);

/*
 * One call path (root -> … -> fn) summed over the window. Paths with no
 * data in the window are still returned (zero counters) when a path with
 * data lies under them, so every parent is present. parent_id is 0 at a
 * root. Ordered by depth, then id: a parent comes before its children.
 */
struct storage_path_row {
	int64_t id;
	int64_t parent_id;
	int32_t depth;
	struct storage_fn fn;
	uint64_t ncalls;
	double self_ns, total_ns;
};

/* Every path of the window (f->function and f->match are ignored). */
int storage_paths(PGconn *conn, const struct storage_filter *f,
		  struct storage_path_row **out, size_t *n);
void storage_paths_free(struct storage_path_row *rows, size_t n);

/* One step of a function's timeline. */
struct storage_timeline_row {
	int64_t bucket_ns; /* step start */
	uint64_t ncalls, pcalls;
	double tottime_ns, cumtime_ns;
};

/*
 * The functions named f->function (required), summed per step_ns (a
 * multiple of the tier's bucket) from f->from_ns (rounded down to a step)
 * to f->until_ns (rounded up). Every step is returned, zero when nothing was
 * recorded; at most 100000 steps (else FP_ELIMIT). Free with free().
 */
int storage_timeline(PGconn *conn, const struct storage_filter *f,
		     int64_t step_ns, struct storage_timeline_row **out,
		     size_t *n);

/* The oldest raw bucket (*found 0 when the raw tier is empty): what a
 * window read at raw resolution can show at most. */
int storage_raw_oldest(PGconn *conn, int64_t *oldest_ns, int *found);

/* What reported in the window, from the batch ledger (ingested_batches). */
enum storage_ledger_by {
	STORAGE_LEDGER_HOSTS = 0,
	STORAGE_LEDGER_SERVICES,
	STORAGE_LEDGER_COUNT_
};

struct storage_ledger_row {
	char *name;	    /* host or service, owned */
	uint64_t others;    /* services of a host, hosts of a service */
	uint64_t processes; /* distinct agents (a fork is a new agent) */
	uint64_t batches;
	uint64_t dropped; /* events and batches the agents lost */
	int64_t first_ns; /* earliest batch start */
	int64_t last_ns;  /* latest batch end: last seen */
};

/*
 * Batches whose start lies in the window, grouped by host or service,
 * ordered by name. The ledger keeps the raw retention only. f->function and
 * f->match are ignored; f->clock may be -1. Free with storage_ledger_free().
 */
int storage_ledger(PGconn *conn, const struct storage_filter *f, int by,
		   struct storage_ledger_row **out, size_t *n);
void storage_ledger_free(struct storage_ledger_row *rows, size_t n);

/* How many functions are named name (in any window); 0 or an error. */
int storage_function_count(PGconn *conn, const char *name, uint64_t *count);

/* Per requested host pattern, what exists in the database. */
enum storage_host_seen {
	STORAGE_HOST_UNKNOWN = 0, /* no series of any service/clock matches */
	STORAGE_HOST_ELSEWHERE,	  /* series match, but no data passes f */
	STORAGE_HOST_IN_WINDOW,	  /* data in the window passes f */
};

/*
 * Count the distinct hosts with data in f's window (function facts of f's
 * tier, or the ledger when f->clock is -1) that pass every filter of f
 * except function and match, and classify each of f's host patterns:
 * seen[i] (an array of f->nhosts the caller provides; may be NULL when
 * f->nhosts is 0) gets a STORAGE_HOST_* value for f->hosts[i]. Returns 0,
 * or FP_EINVAL, FP_ENOMEM, FP_EDB, FP_EDBDOWN; on failure nothing is
 * written.
 */
int storage_window_hosts(PGconn *conn, const struct storage_filter *f,
			 uint64_t *nhosts, int *seen);

#endif
