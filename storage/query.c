/*
 * The read queries behind `fleetprof top`: one parameterised statement per
 * call, the ORDER BY picked from a compile-time table. SQL results are
 * untrusted: field counts, row counts and every number are checked before
 * use, and rows are copied out so each PGresult is cleared right here.
 * Stateless; a connection is used by one thread at a time.
 */
#include "storage/query.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "storage/storage.h"
#include "wire/batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_NS (STORAGE_BUCKET_SECONDS * FP_NS_PER_SEC)

int64_t storage_bucket_floor(int64_t ns)
{
	int64_t r = ns % BUCKET_NS;
	return r < 0 ? ns - r - BUCKET_NS : ns - r;
}

int64_t storage_bucket_ceil(int64_t ns)
{
	int64_t f = storage_bucket_floor(ns);
	return f == ns ? ns : f + BUCKET_NS;
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

/*
 * Series passing the filter: $3 clock, $4 service (NULL: any), $5 LIKE
 * patterns (empty: any host). Facts in the window: $1 <= bucket < $2, both
 * whole seconds on bucket boundaries.
 */
#define SERIES_CTE                                                 \
	"WITH s AS (SELECT id, host FROM series WHERE clock = $3 " \
	"AND ($4::text IS NULL OR service = $4::text) "            \
	"AND (cardinality($5::text[]) = 0 OR host LIKE ANY ($5::text[]))) "
#define IN_WINDOW                                \
	"fs.bucket >= to_timestamp($1::bigint) " \
	"AND fs.bucket < to_timestamp($2::bigint) "

/* sum(bigint) is numeric in PostgreSQL: no overflow inside the query. */
#define TOP_HEAD                                                               \
	SERIES_CTE ", f AS (SELECT fs.fn_id, sum(fs.ncalls) AS ncalls, "       \
		   "sum(fs.pcalls) AS pcalls, sum(fs.tottime_ns) AS tottime, " \
		   "sum(fs.cumtime_ns) AS cumtime, "                           \
		   "count(DISTINCT s.host) AS hosts "                          \
		   "FROM fn_stats fs JOIN s ON s.id = fs.series_id "           \
		   "WHERE " IN_WINDOW "GROUP BY fs.fn_id) "                    \
		   "SELECT fn.name, fn.file, fn.line, fn.module, f.ncalls, "   \
		   "f.pcalls, f.tottime, f.cumtime, f.hosts "                  \
		   "FROM f JOIN functions fn ON fn.id = f.fn_id ORDER BY "
/* Ties by name (byte order, whatever the database collation), then the
 * rest of the identity so the order is total. LIMIT NULL means no limit. */
#define TOP_TAIL                                                           \
	" DESC NULLS LAST, fn.name COLLATE \"C\", fn.file COLLATE \"C\", " \
	"fn.line, fn.module COLLATE \"C\", fn.id LIMIT $6::bigint"
#define TOP_SQL(key) TOP_HEAD key TOP_TAIL

static const char *const top_sql[STORAGE_SORT_COUNT_] = {
	[STORAGE_SORT_TOTTIME] = TOP_SQL("f.tottime"),
	[STORAGE_SORT_CUMTIME] = TOP_SQL("f.cumtime"),
	[STORAGE_SORT_NCALLS] = TOP_SQL("f.ncalls"),
	[STORAGE_SORT_PCALLS] = TOP_SQL("f.pcalls"),
	[STORAGE_SORT_PERCALL] = TOP_SQL("f.tottime / NULLIF(f.ncalls, 0)"),
	[STORAGE_SORT_CUMPERCALL] = TOP_SQL("f.cumtime / NULLIF(f.pcalls, 0)"),
};

enum { TOP_NFIELDS = 9 };

_Static_assert(STORAGE_HOST_UNKNOWN == 0 && STORAGE_HOST_ELSEWHERE == 1 &&
		       STORAGE_HOST_IN_WINDOW == 2,
	       "hosts_sql returns these values");

/* Row 0: number of hosts; row i (1..n): what pattern i matched. */
static const char hosts_sql[] =
	SERIES_CTE ", h AS (SELECT DISTINCT s.host FROM fn_stats fs "
		   "JOIN s ON s.id = fs.series_id WHERE " IN_WINDOW ") "
		   "SELECT 0::bigint, (SELECT count(*) FROM h), 0 "
		   "UNION ALL "
		   "SELECT u.i, 0, CASE "
		   "WHEN EXISTS (SELECT 1 FROM h WHERE h.host LIKE u.p) THEN 2 "
		   "WHEN EXISTS (SELECT 1 FROM series "
		   "WHERE series.host LIKE u.p) THEN 1 ELSE 0 END "
		   "FROM unnest($5::text[]) WITH ORDINALITY AS u(p, i) "
		   "ORDER BY 1";

/* Logs the database's message once, on one line; maps to FP_EDB(DOWN). */
static int db_fail(PGconn *c, PGresult *r, const char *what)
{
	char msg[512];
	size_t i;

	snprintf(msg, sizeof(msg), "%s",
		 r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c));
	for (i = 0; msg[i] != '\0'; i++)
		if (msg[i] == '\n')
			msg[i] = ' ';
	while (i > 0 && msg[i - 1] == ' ')
		msg[--i] = '\0';
	fp_err("storage: %s: %s", what, msg);
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

int storage_read_begin(PGconn *conn)
{
	return exec_plain(conn,
			  "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			  "begin");
}

int storage_read_end(PGconn *conn)
{
	return exec_plain(conn, "COMMIT", "commit");
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

/*
 * The parameters shared by both queries: $1..$5. patterns is a text[]
 * literal of LIKE patterns the caller frees; bufs holds the numbers.
 */
struct params {
	char from_s[24];
	char until_s[24];
	char *patterns;
	const char *values[6];
};

/* Appends c to an array element, escaped for a double-quoted literal. */
static size_t put_array_char(char *p, size_t o, char c)
{
	if (c == '"' || c == '\\')
		p[o++] = '\\';
	p[o++] = c;
	return o;
}

static int params_init(struct params *p, const struct storage_filter *f)
{
	const int64_t max_ns = INT64_MAX - BUCKET_NS;
	size_t cap = 3, o = 0;
	char *like = NULL;
	size_t likecap = 1;
	int rc;

	memset(p, 0, sizeof(*p));
	if (f == NULL || f->from_ns >= f->until_ns || f->until_ns > max_ns ||
	    f->from_ns < -max_ns || wire_clock_name(f->clock) == NULL ||
	    (f->nhosts > 0 && f->hosts == NULL))
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
		 (long long)(storage_bucket_floor(f->from_ns) / FP_NS_PER_SEC));
	snprintf(p->until_s, sizeof(p->until_s), "%lld",
		 (long long)(storage_bucket_ceil(f->until_ns) / FP_NS_PER_SEC));
	p->values[0] = p->from_s;
	p->values[1] = p->until_s;
	p->values[2] = wire_clock_name(f->clock);
	p->values[3] = f->service; /* NULL is SQL NULL: any service */
	p->values[4] = p->patterns;
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

/* Copies result row i into *row; on failure frees what it copied. */
static int copy_row(PGresult *r, int i, struct storage_top_row *row)
{
	long line;
	char *end;
	int rc = FP_ERANGE;

	memset(row, 0, sizeof(*row));
	for (int k = 0; k < TOP_NFIELDS; k++)
		if (PQgetisnull(r, i, k))
			return FP_ERANGE;
	errno = 0;
	line = strtol(PQgetvalue(r, i, 2), &end, 10);
	if (errno != 0 || *end != '\0' || line < 0 || line > INT32_MAX)
		return FP_ERANGE;
	row->line = (int32_t)line;
	if (parse_u64(PQgetvalue(r, i, 4), &row->ncalls) != 0 ||
	    parse_u64(PQgetvalue(r, i, 5), &row->pcalls) != 0 ||
	    parse_ns(PQgetvalue(r, i, 6), &row->tottime_ns) != 0 ||
	    parse_ns(PQgetvalue(r, i, 7), &row->cumtime_ns) != 0 ||
	    parse_u64(PQgetvalue(r, i, 8), &row->hosts) != 0) {
		fp_err("storage: top: counters of '%s' out of range",
		       PQgetvalue(r, i, 0));
		return FP_ERANGE;
	}
	row->name = strdup(PQgetvalue(r, i, 0));
	row->file = strdup(PQgetvalue(r, i, 1));
	row->module = strdup(PQgetvalue(r, i, 3));
	if (row->name == NULL || row->file == NULL || row->module == NULL) {
		rc = FP_ENOMEM;
		goto err_free;
	}
	return 0;

err_free:
	free(row->name);
	free(row->file);
	free(row->module);
	return rc;
}

int storage_top(PGconn *conn, const struct storage_filter *f, int sort,
		long limit, struct storage_top_row **out, size_t *n)
{
	struct storage_top_row *rows = NULL;
	struct params p;
	char limit_s[24];
	PGresult *r;
	int rc, nrows, i = 0;

	if (conn == NULL || out == NULL || n == NULL || limit < 0 ||
	    storage_sort_name(sort) == NULL)
		return FP_EINVAL;
	if ((rc = params_init(&p, f)) != 0)
		return rc;
	snprintf(limit_s, sizeof(limit_s), "%ld", limit);
	p.values[5] = limit > 0 ? limit_s : NULL;
	r = PQexecParams(conn, top_sql[sort], 6, NULL, p.values, NULL, NULL, 0);
	params_fini(&p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = db_fail(conn, r, "top");
		goto out_clear;
	}
	nrows = PQntuples(r);
	if (PQnfields(r) != TOP_NFIELDS || nrows < 0 ||
	    (limit > 0 && nrows > limit)) {
		fp_err("storage: top: unexpected result shape");
		rc = FP_EDB;
		goto out_clear;
	}
	if (nrows > 0) {
		rows = calloc((size_t)nrows, sizeof(*rows));
		if (rows == NULL) {
			rc = FP_ENOMEM;
			goto out_clear;
		}
	}
	for (i = 0; i < nrows; i++)
		if ((rc = copy_row(r, i, &rows[i])) != 0)
			goto err_free_rows;
	*out = rows;
	*n = (size_t)nrows;
	rc = 0;
	goto out_clear;

err_free_rows:
	storage_top_free(rows, (size_t)i);
out_clear:
	PQclear(r);
	return rc;
}

int storage_window_hosts(PGconn *conn, const struct storage_filter *f,
			 uint64_t *nhosts, int *seen)
{
	struct params p;
	PGresult *r;
	uint64_t count, v;
	int rc;

	if (conn == NULL || f == NULL || nhosts == NULL ||
	    (f->nhosts > 0 && seen == NULL) || f->nhosts > INT32_MAX - 1)
		return FP_EINVAL;
	if ((rc = params_init(&p, f)) != 0)
		return rc;
	r = PQexecParams(conn, hosts_sql, 5, NULL, p.values, NULL, NULL, 0);
	params_fini(&p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = db_fail(conn, r, "window hosts");
		goto out_clear;
	}
	rc = FP_EDB;
	if (PQnfields(r) != 3 || PQntuples(r) != (int)f->nhosts + 1 ||
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
