/*
 * `fleetprof top`: resolve the window, check that every requested host has
 * data in it, rank the functions (storage/query.c) and print them. All
 * queries run in one read-only snapshot. Strings from the database are
 * untrusted: control characters never reach a terminal, JSON is built by
 * jansson, CSV fields are quoted as RFC 4180 says.
 */
#include "cli_top.h"
#include "cli.h"
#include "cli_args.h"
#include "cli_units.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "storage/storage.h"
#include "wire/batch.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
	COL_NCALLS,
	COL_TOTTIME,
	COL_PERCALL,
	COL_CUMTIME,
	COL_CUMPERCALL,
	COL_HOSTS,
	NCOLS
};

static const char *const col_names[NCOLS] = {
	"ncalls", "tottime", "percall", "cumtime", "percall", "hosts",
};

struct cells {
	char c[NCOLS][CLI_UNITS_BUFLEN];
};

/* Writes s with control characters (escape sequences…) shown as '?'. */
static void put_safe(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
	}
}

static void put_pad(FILE *out, size_t n)
{
	while (n-- > 0)
		fputc(' ', out);
}

static void format_cells(const struct storage_top_row *row, struct cells *c)
{
	const size_t len = sizeof(c->c[0]);

	cli_format_ncalls(row->ncalls, row->pcalls, c->c[COL_NCALLS], len);
	cli_format_duration(row->tottime_ns, c->c[COL_TOTTIME], len);
	cli_format_duration(
		row->ncalls > 0 ? row->tottime_ns / (double)row->ncalls : NAN,
		c->c[COL_PERCALL], len);
	cli_format_duration(row->cumtime_ns, c->c[COL_CUMTIME], len);
	cli_format_duration(
		row->pcalls > 0 ? row->cumtime_ns / (double)row->pcalls : NAN,
		c->c[COL_CUMPERCALL], len);
	snprintf(c->c[COL_HOSTS], len, "%llu", (unsigned long long)row->hosts);
}

/* "name (file:line)", "name (file)", "name (module)" or "name". */
static void put_function(FILE *out, const struct storage_top_row *row)
{
	put_safe(out, row->name);
	if (row->file[0] != '\0') {
		fputs(" (", out);
		put_safe(out, row->file);
		if (row->line > 0)
			fprintf(out, ":%d", (int)row->line);
		fputc(')', out);
	} else if (row->module[0] != '\0') {
		fputs(" (", out);
		put_safe(out, row->module);
		fputc(')', out);
	}
}

static int write_table(FILE *out, const struct cli_top_result *r)
{
	char from[32], until[32];
	size_t w[NCOLS];
	struct cells *cells = NULL;

	fp_format_time(r->from_ns, from, sizeof(from));
	fp_format_time(r->until_ns, until, sizeof(until));
	fprintf(out, "window %s .. %s (%d s buckets), %llu host%s\n", from,
		until, STORAGE_BUCKET_SECONDS, (unsigned long long)r->nhosts,
		r->nhosts == 1 ? "" : "s");
	fprintf(out, "%s clock, ordered by %s\n\n",
		wire_clock_name(r->clock) ? wire_clock_name(r->clock) : "?",
		storage_sort_name(r->sort) ? storage_sort_name(r->sort) : "?");
	if (r->n == 0) {
		fputs("no calls recorded in this window\n", out);
		return 0;
	}
	cells = calloc(r->n, sizeof(*cells));
	if (cells == NULL)
		return FP_ENOMEM;
	for (int k = 0; k < NCOLS; k++)
		w[k] = strlen(col_names[k]);
	for (size_t i = 0; i < r->n; i++) {
		format_cells(&r->rows[i], &cells[i]);
		for (int k = 0; k < NCOLS; k++) {
			size_t dw = cli_display_width(cells[i].c[k]);
			if (dw > w[k])
				w[k] = dw;
		}
	}
	for (int k = 0; k < NCOLS; k++) {
		put_pad(out, w[k] - strlen(col_names[k]));
		fprintf(out, "%s  ", col_names[k]);
	}
	fputs("function (file:line)\n", out);
	for (size_t i = 0; i < r->n; i++) {
		for (int k = 0; k < NCOLS; k++) {
			put_pad(out, w[k] - cli_display_width(cells[i].c[k]));
			fprintf(out, "%s  ", cells[i].c[k]);
		}
		put_function(out, &r->rows[i]);
		fputc('\n', out);
	}
	free(cells);
	return 0;
}

/* A JSON string; text that is not UTF-8 gets '?' for every non-ASCII byte. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* json_int_t is signed 64-bit; a larger count becomes a real. */
static json_t *jcount(uint64_t v)
{
	return v <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v)
					: json_real((double)v);
}

static json_t *json_row(const struct storage_top_row *row)
{
	json_t *o = json_object();
	int bad = o == NULL;

	if (bad)
		return NULL;
	/* json_object_set_new() takes the value even when it fails. */
	bad |= json_object_set_new(o, "function", jstr(row->name));
	bad |= json_object_set_new(o, "file", jstr(row->file));
	bad |= json_object_set_new(o, "line", json_integer(row->line));
	bad |= json_object_set_new(o, "module", jstr(row->module));
	bad |= json_object_set_new(o, "ncalls", jcount(row->ncalls));
	bad |= json_object_set_new(o, "pcalls", jcount(row->pcalls));
	bad |= json_object_set_new(o, "tottime_s",
				   json_real(row->tottime_ns / 1e9));
	bad |= json_object_set_new(o, "cumtime_s",
				   json_real(row->cumtime_ns / 1e9));
	bad |= json_object_set_new(o, "hosts", jcount(row->hosts));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int write_json(FILE *out, const struct cli_top_result *r)
{
	json_t *arr = json_array();
	int rc = 0;

	if (arr == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < r->n && rc == 0; i++)
		if (json_array_append_new(arr, json_row(&r->rows[i])) != 0)
			rc = FP_ENOMEM;
	/* 15 digits: ns-exact below 10^6 s, and 0.1 prints as 0.1. */
	if (rc == 0 &&
	    json_dumpf(arr, out, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) != 0)
		rc = FP_EIO;
	if (rc == 0)
		fputc('\n', out);
	json_decref(arr);
	return rc;
}

/* One CSV field: quoted (quotes doubled) if it holds , " CR or LF. */
static void csv_field(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* Exact decimal seconds from integral ns: 1500000000 -> "1.500000000". */
static void csv_seconds(FILE *out, double ns)
{
	if (ns >= 0 && ns < 9e18) {
		uint64_t v = (uint64_t)ns;
		fprintf(out, "%llu.%09llu",
			(unsigned long long)(v / (uint64_t)FP_NS_PER_SEC),
			(unsigned long long)(v % (uint64_t)FP_NS_PER_SEC));
	} else {
		fprintf(out, "%.9f", ns / 1e9);
	}
}

static int write_csv(FILE *out, const struct cli_top_result *r)
{
	fputs("function,file,line,module,ncalls,pcalls,tottime_s,cumtime_s,"
	      "hosts\n",
	      out);
	for (size_t i = 0; i < r->n; i++) {
		const struct storage_top_row *row = &r->rows[i];
		csv_field(out, row->name);
		fputc(',', out);
		csv_field(out, row->file);
		fprintf(out, ",%d,", (int)row->line);
		csv_field(out, row->module);
		fprintf(out, ",%llu,%llu,", (unsigned long long)row->ncalls,
			(unsigned long long)row->pcalls);
		csv_seconds(out, row->tottime_ns);
		fputc(',', out);
		csv_seconds(out, row->cumtime_ns);
		fprintf(out, ",%llu\n", (unsigned long long)row->hosts);
	}
	return 0;
}

int cli_top_write(FILE *out, int format, const struct cli_top_result *r)
{
	int rc;

	switch (format) {
	case CLI_FORMAT_TABLE:
		rc = write_table(out, r);
		break;
	case CLI_FORMAT_JSON:
		rc = write_json(out, r);
		break;
	case CLI_FORMAT_CSV:
		rc = write_csv(out, r);
		break;
	default:
		return FP_EINVAL;
	}
	if (fflush(out) != 0 || ferror(out))
		return rc != 0 ? rc : FP_EIO;
	return rc;
}

/* Fills e for a failed query; the database's text was logged (verbose). */
static void query_error(struct cli_error *e, int rc, int verbose)
{
	if (rc == FP_EDBDOWN)
		cli_error_set(e, "lost the connection to the database");
	else
		cli_error_set(e, "query failed: %s", fp_strerror(rc));
	if (!verbose)
		cli_error_hint(e, "rerun with --verbose to see the database's "
				  "message");
}

/*
 * Fails (1, e filled) unless every host pattern has data in the window; a
 * pattern nothing ever matched and one with data elsewhere get other hints.
 */
static int check_hosts(const struct cli_top_args *a, const int *seen,
		       const char *window, struct cli_error *e)
{
	for (size_t i = 0; i < a->nhosts; i++) {
		if (seen[i] == STORAGE_HOST_IN_WINDOW)
			continue;
		cli_error_set(e, "no data for host '%s' in %s", a->hosts[i],
			      window);
		if (seen[i] == STORAGE_HOST_UNKNOWN)
			cli_error_hint(e,
				       "no host matching '%s' has ever "
				       "reported; check the name (globs: * "
				       "and ?)",
				       a->hosts[i]);
		else
			cli_error_hint(e, "the host has data outside this "
					  "window or for another service or "
					  "clock; widen the window with "
					  "--since");
		return 1;
	}
	return 0;
}

/* Connects, queries in one snapshot, prints; returns the exit status. */
static int run(const struct cli_top_args *a, const struct cli_window *w,
	       FILE *out, struct cli_error *e)
{
	struct storage_filter f = {
		.from_ns = w->from_ns,
		.until_ns = w->until_ns,
		.hosts = a->hosts,
		.nhosts = a->nhosts,
		.service = a->service,
		.clock = a->clock,
	};
	struct cli_top_result res = {
		.from_ns = storage_bucket_floor(w->from_ns),
		.until_ns = storage_bucket_ceil(w->until_ns),
		.clock = a->clock,
		.sort = a->sort,
	};
	struct storage_top_row *rows = NULL;
	char errbuf[512], from[32], until[32], window[80];
	PGconn *conn;
	int *seen, rc, status = CLI_EXIT_RUNTIME;
	size_t n = 0;

	seen = calloc(a->nhosts + 1, sizeof(*seen));
	if (seen == NULL) {
		cli_error_set(e, "out of memory");
		return CLI_EXIT_RUNTIME;
	}
	rc = storage_connect(a->db, &conn, errbuf, sizeof(errbuf));
	if (rc != 0) {
		cli_error_set(e, "cannot connect to the database");
		if (a->verbose)
			cli_error_detail(e, "%s", errbuf);
		cli_error_hint(e,
			       "give a libpq conninfo or URL with --db or "
			       "FLEETPROF_DB (postgresql://user@host/db)%s",
			       a->verbose ? "" : "; --verbose shows why");
		goto out_free;
	}
	fp_format_time(res.from_ns, from, sizeof(from));
	fp_format_time(res.until_ns, until, sizeof(until));
	snprintf(window, sizeof(window), "%s .. %s", from, until);

	if ((rc = storage_read_begin(conn)) != 0 ||
	    (rc = storage_window_hosts(conn, &f, &res.nhosts, seen)) != 0) {
		query_error(e, rc, a->verbose);
		goto out_finish;
	}
	if (check_hosts(a, seen, window, e) != 0)
		goto out_finish;
	if ((rc = storage_top(conn, &f, a->sort, a->limit, &rows, &n)) != 0 ||
	    (rc = storage_read_end(conn)) != 0) {
		query_error(e, rc, a->verbose);
		goto out_rows;
	}
	res.rows = rows;
	res.n = n;
	rc = cli_top_write(out, a->format, &res);
	if (rc != 0) {
		cli_error_set(e, "cannot write the output: %s",
			      fp_strerror(rc));
		goto out_rows;
	}
	status = CLI_EXIT_OK;

out_rows:
	storage_top_free(rows, n);
out_finish:
	PQfinish(conn);
out_free:
	free(seen);
	return status;
}

int cli_top_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_top_args a;
	struct cli_window w;
	struct cli_error e;
	int status;

	cli_error_clear(&e);
	if (cli_top_args_parse(argc, argv, &a, &e) != 0) {
		cli_error_print(&e, err);
		return CLI_EXIT_USAGE;
	}
	if (a.help) {
		fputs(cli_top_usage, out);
		cli_top_args_fini(&a);
		return CLI_EXIT_OK;
	}
	if (cli_window_resolve(a.since, a.from, a.until, fp_wall_ns(), &w,
			       &e) != 0) {
		cli_error_print(&e, err);
		cli_top_args_fini(&a);
		return CLI_EXIT_USAGE;
	}
	/* The database's own text is shown only with --verbose. */
	fp_log_set_level(a.verbose ? FP_LOG_INFO : FP_LOG_ERR - 1);
	status = run(&a, &w, out, &e);
	if (status != CLI_EXIT_OK)
		cli_error_print(&e, err);
	cli_top_args_fini(&a);
	return status;
}
