/*
 * storage queries behind the CLI: hotspot ranking and window checks over the
 * fact tables. Read-only; every value reaches SQL as a parameter (the only
 * text chosen in C is an ORDER BY from a fixed table). Results are plain
 * heap arrays owned by the caller; nothing keeps a pointer into a PGresult.
 */
#ifndef STORAGE_QUERY_H
#define STORAGE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/*
 * What a query looks at. The window [from_ns, until_ns) is matched against
 * the fact buckets: a bucket belongs to it if bucket >= from_ns rounded down
 * to a bucket boundary and bucket < until_ns. hosts are glob patterns ('*'
 * any run, '?' one character; nhosts 0 means every host); service NULL means
 * every service; clock is WIRE_CLOCK_WALL or WIRE_CLOCK_CPU. Nothing here is
 * kept after the call returns.
 */
struct storage_filter {
	int64_t from_ns, until_ns;
	const char *const *hosts;
	size_t nhosts;
	const char *service;
	int clock;
};

/*
 * Open a read-only, repeatable-read transaction so that the queries after
 * it see one snapshot (the header's host count agrees with the rows);
 * storage_read_end() commits it. Return 0, FP_EDB or FP_EDBDOWN (logged).
 */
int storage_read_begin(PGconn *conn);
int storage_read_end(PGconn *conn);

/* Bucket boundary at or before ns, and at or after ns (ns since the epoch). */
int64_t storage_bucket_floor(int64_t ns);
int64_t storage_bucket_ceil(int64_t ns);

/*
 * Translate a glob ('*', '?') into a LIKE pattern with '\' as the escape
 * character: '%', '_' and '\' in the glob match themselves. Writes at most
 * len bytes including the NUL. Returns 0, FP_EINVAL for a NULL argument, or
 * FP_ELIMIT if out is too small (out is then the empty string when len > 0).
 * The result is at most 2 * strlen(glob) + 1 bytes.
 */
int storage_glob_to_like(const char *glob, char *out, size_t len);

/* Orderings of storage_top; all descending, ties broken by function name. */
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

/*
 * One function summed over the window and all matching series. Times are
 * doubles because fleet-wide sums over long windows exceed int64 ns (292
 * years); they are exact integers below 2^53 ns (104 days).
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
};

/*
 * Rank functions by sort (STORAGE_SORT_*), at most limit rows (0: all), in
 * one parameterised query. On success returns 0 and *out is an array of *n
 * rows (NULL when *n is 0) the caller frees with storage_top_free(). On
 * failure writes nothing and returns FP_EINVAL (bad sort, limit or filter),
 * FP_ENOMEM, FP_ERANGE (a sum exceeds 64 bits), FP_EDB or FP_EDBDOWN (the
 * database's text is logged).
 */
int storage_top(PGconn *conn, const struct storage_filter *f, int sort,
		long limit, struct storage_top_row **out, size_t *n);
/* Frees rows and their strings; NULL is a no-op. */
void storage_top_free(struct storage_top_row *rows, size_t n);

/* Per requested host pattern, what exists in the database. */
enum storage_host_seen {
	STORAGE_HOST_UNKNOWN = 0, /* no series of any service/clock matches */
	STORAGE_HOST_ELSEWHERE,	  /* series match, but no data passes f */
	STORAGE_HOST_IN_WINDOW,	  /* data in the window passes f */
};

/*
 * Count the distinct hosts with data in f's window that pass every filter of
 * f, and classify each of f's host patterns: seen[i] (an array of f->nhosts
 * the caller provides; may be NULL when f->nhosts is 0) gets a
 * STORAGE_HOST_* value for f->hosts[i]. Returns 0, or FP_EINVAL, FP_ENOMEM,
 * FP_EDB, FP_EDBDOWN; on failure nothing is written.
 */
int storage_window_hosts(PGconn *conn, const struct storage_filter *f,
			 uint64_t *nhosts, int *seen);

#endif
