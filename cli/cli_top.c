/*
 * `fleetprof top`: rank functions (or hosts or services) over the window,
 * pstats' columns; the query is storage_top() in one read-only snapshot.
 * With --function and --group-by host it answers "which hosts spend most in
 * this function".
 */
#include "cli_top.h"
#include "cli.h"
#include "cli_args.h"
#include "cli_out.h"
#include "cli_session.h"
#include "cli_units.h"
#include "cli_usage.h"
#include "fp/error.h"
#include "storage/storage.h"
#include "wire/batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char cli_top_usage[] =
	"usage: fleetprof top [options]\n"
	"\n"
	"Rank functions by time or calls, summed over every matching process\n"
	"of every host in a time window (cProfile semantics, as in pstats).\n"
	"\n" CLI_USAGE_WINDOW CLI_USAGE_FILTERS
	"  --function NAME    only the functions named NAME\n"
	"  --match REGEX      only functions whose name or file matches\n"
	"                     (PostgreSQL regular expression)\n"
	"\n"
	"output:\n"
	"  --group-by KEY     function (default), host or service: e.g.\n"
	"                     --function parse --group-by host ranks hosts\n"
	"  --sort KEY         tottime (default), cumtime, ncalls, pcalls,\n"
	"                     percall, cumpercall; all descending\n"
	"  --limit N          at most N rows (default: 20; 0: "
	"all)\n" CLI_USAGE_FORMAT CLI_USAGE_CONNECTION;

/* Last numeric column: what is counted per group. */
static const char *const count_names[STORAGE_GROUP_COUNT_] = {
	[STORAGE_GROUP_FUNCTION] = "hosts",
	[STORAGE_GROUP_HOST] = "functions",
	[STORAGE_GROUP_SERVICE] = "hosts",
};

static const char *const key_heads[STORAGE_GROUP_COUNT_] = {
	[STORAGE_GROUP_FUNCTION] = "function (file:line)",
	[STORAGE_GROUP_HOST] = "host",
	[STORAGE_GROUP_SERVICE] = "service",
};

void cli_stat_cells(uint64_t ncalls, uint64_t pcalls, double tottime_ns,
		    double cumtime_ns, struct cli_stat_cells *c)
{
	cli_format_ncalls(ncalls, pcalls, c->ncalls, sizeof(c->ncalls));
	cli_format_duration(tottime_ns, c->tottime, sizeof(c->tottime));
	cli_format_duration(ncalls > 0 ? tottime_ns / (double)ncalls : NAN,
			    c->percall, sizeof(c->percall));
	cli_format_duration(cumtime_ns, c->cumtime, sizeof(c->cumtime));
	cli_format_duration(pcalls > 0 ? cumtime_ns / (double)pcalls : NAN,
			    c->cumpercall, sizeof(c->cumpercall));
}

static int write_table(FILE *out, const struct cli_top_result *r)
{
	const int g = r->group;
	const char *heads[] = {"ncalls",    "tottime", "percall",
			       "cumtime",   "percall", count_names[g],
			       key_heads[g]};
	char what[512];
	struct cli_table t;
	int rc;

	if (r->function != NULL)
		snprintf(what, sizeof(what), "function %s, ordered by %s",
			 r->function, storage_sort_name(r->sort));
	else
		snprintf(what, sizeof(what), "ordered by %s",
			 storage_sort_name(r->sort) ? storage_sort_name(r->sort)
						    : "?");
	cli_header_write(out, r->from_ns, r->until_ns, r->tier, r->nhosts,
			 r->clock, what);
	if (r->n == 0) {
		fputs("no calls recorded in this window\n", out);
		return 0;
	}
	cli_table_init(&t, 7, heads, 1u << 6);
	for (size_t i = 0; i < r->n; i++) {
		const struct storage_top_row *row = &r->rows[i];
		struct cli_stat_cells c;
		char *label;

		cli_stat_cells(row->ncalls, row->pcalls, row->tottime_ns,
			       row->cumtime_ns, &c);
		cli_table_row(&t);
		cli_table_set(&t, 0, c.ncalls, 0);
		cli_table_set(&t, 1, c.tottime, 0);
		cli_table_set(&t, 2, c.percall, 0);
		cli_table_set(&t, 3, c.cumtime, 0);
		cli_table_set(&t, 4, c.cumpercall, 0);
		cli_table_setf(&t, 5, 0, "%llu",
			       (unsigned long long)row->hosts);
		label = cli_function_label(row->name, row->file, row->line,
					   row->module);
		if (label == NULL) {
			cli_table_fini(&t);
			return FP_ENOMEM;
		}
		cli_table_set(&t, 6, label, 0);
		free(label);
	}
	rc = cli_table_print(&t, out, r->color);
	cli_table_fini(&t);
	return rc;
}

static json_t *json_row(const struct cli_top_result *r,
			const struct storage_top_row *row)
{
	json_t *o = json_object();
	int bad = o == NULL;

	if (bad)
		return NULL;
	if (r->group == STORAGE_GROUP_FUNCTION) {
		bad |= cli_jset(o, "function", cli_jstr(row->name));
		bad |= cli_jset(o, "file", cli_jstr(row->file));
		bad |= cli_jset(o, "line", json_integer(row->line));
		bad |= cli_jset(o, "module", cli_jstr(row->module));
	} else {
		bad |= cli_jset(o, storage_group_name(r->group),
				cli_jstr(row->name));
	}
	bad |= cli_jset(o, "ncalls", cli_jcount(row->ncalls));
	bad |= cli_jset(o, "pcalls", cli_jcount(row->pcalls));
	bad |= cli_jset(o, "tottime_s", json_real(row->tottime_ns / 1e9));
	bad |= cli_jset(o, "cumtime_s", json_real(row->cumtime_ns / 1e9));
	bad |= cli_jset(o, count_names[r->group], cli_jcount(row->hosts));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int write_json(FILE *out, const struct cli_top_result *r)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < r->n; i++)
		if (json_array_append_new(arr, json_row(r, &r->rows[i])) != 0) {
			json_decref(arr);
			return FP_ENOMEM;
		}
	return cli_json_write(out, arr);
}

static int write_csv(FILE *out, const struct cli_top_result *r)
{
	const int fn = r->group == STORAGE_GROUP_FUNCTION;

	fprintf(out, "%s,ncalls,pcalls,tottime_s,cumtime_s,%s\n",
		fn ? "function,file,line,module" : storage_group_name(r->group),
		count_names[r->group]);
	for (size_t i = 0; i < r->n; i++) {
		const struct storage_top_row *row = &r->rows[i];
		cli_csv_field(out, row->name);
		if (fn) {
			fputc(',', out);
			cli_csv_field(out, row->file);
			fprintf(out, ",%d,", (int)row->line);
			cli_csv_field(out, row->module);
		}
		fprintf(out, ",%llu,%llu,", (unsigned long long)row->ncalls,
			(unsigned long long)row->pcalls);
		cli_csv_seconds(out, row->tottime_ns);
		fputc(',', out);
		cli_csv_seconds(out, row->cumtime_ns);
		fprintf(out, ",%llu\n", (unsigned long long)row->hosts);
	}
	return 0;
}

int cli_top_write(FILE *out, int format, const struct cli_top_result *r)
{
	int rc;

	if (storage_group_name(r->group) == NULL)
		return FP_EINVAL;
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

int cli_top_run(const struct cli_args *a, FILE *out, FILE *err,
		struct cli_error *e)
{
	struct cli_session s;
	struct storage_top_row *rows = NULL;
	struct cli_top_result res;
	size_t n = 0;
	int status, rc;

	status = cli_session_open(&s, a, NULL, CLI_TIER_AUTO, 0, out, err, e);
	if (status != CLI_EXIT_OK)
		return status;
	status = CLI_EXIT_RUNTIME;
	rc = storage_top(s.conn, &s.f, a->group, a->sort, a->limit, &rows, &n);
	if (rc != 0) {
		cli_query_error(e, rc, a->verbose);
		goto out_close;
	}
	if (cli_session_end(&s, e) != CLI_EXIT_OK)
		goto out_rows;
	memset(&res, 0, sizeof(res));
	res.from_ns = s.f.from_ns;
	res.until_ns = s.f.until_ns;
	res.nhosts = s.nhosts;
	res.clock = a->clock;
	res.sort = a->sort;
	res.rows = rows;
	res.n = n;
	res.tier = s.f.tier;
	res.group = a->group;
	res.function = a->function;
	res.color = s.color;
	rc = cli_top_write(out, a->format, &res);
	if (rc != 0) {
		cli_error_set(e, "cannot write the output: %s",
			      fp_strerror(rc));
		goto out_rows;
	}
	status = CLI_EXIT_OK;
out_rows:
	storage_top_free(rows, n);
out_close:
	cli_session_close(&s);
	return status;
}
