/*
 * `fleetprof callers FN` and `fleetprof callees FN`: pstats' print_callers
 * and print_callees for the whole fleet, from the edge facts. Each row is
 * one caller -> callee edge with cProfile's four numbers for the calls made
 * along it; the table opens with FN's own totals.
 */
#include "cli.h"
#include "cli_args.h"
#include "cli_out.h"
#include "cli_session.h"
#include "cli_top.h"
#include "cli_usage.h"
#include "fp/error.h"
#include "storage/query.h"

#include <stdlib.h>
#include <string.h>

#define EDGES_USAGE(cmd, what)                                                \
	"usage: fleetprof " cmd " [options] FN\n"                             \
	"\n"                                                                  \
	"The functions " what ", summed over the fleet (pstats'\n"            \
	"print_" cmd "): per edge, the calls made along it, the time spent\n" \
	"in the callee on those calls (tottime) and with its callees\n"       \
	"(cumtime). FN is a function name, exact.\n"                          \
	"\n" CLI_USAGE_WINDOW CLI_USAGE_FILTERS "\n"                          \
	"output:\n"                                                           \
	"  --sort KEY         tottime (default), cumtime, ncalls, pcalls,\n"  \
	"                     percall, cumpercall\n"                          \
	"  --limit N          at most N edges (default: 20; 0: "              \
	"all)\n" CLI_USAGE_FORMAT CLI_USAGE_CONNECTION

const char cli_callers_usage[] = EDGES_USAGE("callers", "that call FN");
const char cli_callees_usage[] = EDGES_USAGE("callees", "FN calls");

static const char *const end_names[2] = {"caller", "callee"};

static int set_label(struct cli_table *t, size_t col,
		     const struct storage_fn *fn)
{
	char *label =
		cli_function_label(fn->name, fn->file, fn->line, fn->module);
	if (label == NULL)
		return FP_ENOMEM;
	cli_table_set(t, col, label, 0);
	free(label);
	return 0;
}

static int write_table(FILE *out, const struct cli_session *s, int mode,
		       const struct storage_top_row *self, size_t nself,
		       const struct storage_edge_row *rows, size_t n)
{
	const char *heads[] = {"ncalls",
			       "tottime",
			       "percall",
			       "cumtime",
			       "percall",
			       "hosts",
			       mode == STORAGE_EDGES_CALLERS ? "caller"
							     : "callee"};
	char what[512];
	struct cli_table t;
	int rc = 0;

	snprintf(what, sizeof(what), "%s of %s, ordered by %s",
		 mode == STORAGE_EDGES_CALLERS ? "callers" : "callees",
		 s->a->function, storage_sort_name(s->a->sort));
	cli_session_header(s, out, what);
	for (size_t i = 0; i < nself; i++) {
		struct cli_stat_cells c;
		char *label = cli_function_label(self[i].name, self[i].file,
						 self[i].line, self[i].module);
		if (label == NULL)
			return FP_ENOMEM;
		cli_stat_cells(self[i].ncalls, self[i].pcalls,
			       self[i].tottime_ns, self[i].cumtime_ns, &c);
		fprintf(out, "%s: ncalls %s, tottime %s, cumtime %s\n", label,
			c.ncalls, c.tottime, c.cumtime);
		free(label);
	}
	if (nself > 0)
		fputc('\n', out);
	if (n == 0) {
		fprintf(out, "no %s recorded in this window\n",
			mode == STORAGE_EDGES_CALLERS ? "callers" : "callees");
		return 0;
	}
	cli_table_init(&t, nself > 1 ? 8 : 7, heads, 1u << 6);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct storage_edge_row *r = &rows[i];
		struct cli_stat_cells c;

		cli_stat_cells(r->ncalls, r->pcalls, r->tottime_ns,
			       r->cumtime_ns, &c);
		cli_table_row(&t);
		cli_table_set(&t, 0, c.ncalls, 0);
		cli_table_set(&t, 1, c.tottime, 0);
		cli_table_set(&t, 2, c.percall, 0);
		cli_table_set(&t, 3, c.cumtime, 0);
		cli_table_set(&t, 4, c.cumpercall, 0);
		cli_table_setf(&t, 5, 0, "%llu", (unsigned long long)r->hosts);
		rc = set_label(&t, 6,
			       mode == STORAGE_EDGES_CALLERS ? &r->caller
							     : &r->callee);
		/* FN has several identities: say which one. */
		if (rc == 0 && nself > 1)
			rc = set_label(&t, 7,
				       mode == STORAGE_EDGES_CALLERS
					       ? &r->callee
					       : &r->caller);
	}
	if (rc == 0)
		rc = cli_table_print(&t, out, s->color);
	cli_table_fini(&t);
	return rc;
}

static json_t *json_fn(const struct storage_fn *fn)
{
	json_t *o = json_object();
	int bad = o == NULL;

	if (bad)
		return NULL;
	bad |= cli_jset(o, "function", cli_jstr(fn->name));
	bad |= cli_jset(o, "file", cli_jstr(fn->file));
	bad |= cli_jset(o, "line", json_integer(fn->line));
	bad |= cli_jset(o, "module", cli_jstr(fn->module));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int write_json(FILE *out, const struct storage_edge_row *rows, size_t n)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct storage_edge_row *r = &rows[i];
		json_t *o = json_object();
		int bad = o == NULL;
		if (!bad) {
			bad |= cli_jset(o, "caller", json_fn(&r->caller));
			bad |= cli_jset(o, "callee", json_fn(&r->callee));
			bad |= cli_jset(o, "ncalls", cli_jcount(r->ncalls));
			bad |= cli_jset(o, "pcalls", cli_jcount(r->pcalls));
			bad |= cli_jset(o, "tottime_s",
					json_real(r->tottime_ns / 1e9));
			bad |= cli_jset(o, "cumtime_s",
					json_real(r->cumtime_ns / 1e9));
			bad |= cli_jset(o, "hosts", cli_jcount(r->hosts));
		}
		if (bad || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return FP_ENOMEM;
		}
	}
	return cli_json_write(out, arr);
}

static void csv_fn(FILE *out, const struct storage_fn *fn)
{
	cli_csv_field(out, fn->name);
	fputc(',', out);
	cli_csv_field(out, fn->file);
	fprintf(out, ",%d,", (int)fn->line);
	cli_csv_field(out, fn->module);
	fputc(',', out);
}

static void write_csv(FILE *out, const struct storage_edge_row *rows, size_t n)
{
	for (int k = 0; k < 2; k++)
		fprintf(out, "%s,%s_file,%s_line,%s_module,", end_names[k],
			end_names[k], end_names[k], end_names[k]);
	fputs("ncalls,pcalls,tottime_s,cumtime_s,hosts\n", out);
	for (size_t i = 0; i < n; i++) {
		csv_fn(out, &rows[i].caller);
		csv_fn(out, &rows[i].callee);
		fprintf(out, "%llu,%llu,", (unsigned long long)rows[i].ncalls,
			(unsigned long long)rows[i].pcalls);
		cli_csv_seconds(out, rows[i].tottime_ns);
		fputc(',', out);
		cli_csv_seconds(out, rows[i].cumtime_ns);
		fprintf(out, ",%llu\n", (unsigned long long)rows[i].hosts);
	}
}

static int run(const struct cli_args *a, int mode, FILE *out, FILE *err,
	       struct cli_error *e)
{
	struct cli_session s;
	struct storage_edge_row *rows = NULL;
	struct storage_top_row *self = NULL;
	size_t n = 0, nself = 0;
	int status, rc;

	status = cli_session_open(&s, a, NULL, CLI_TIER_AUTO, 0, out, err, e);
	if (status != CLI_EXIT_OK)
		return status;
	status = cli_session_need_function(&s, a->function, e);
	if (status != CLI_EXIT_OK)
		goto out_close;
	status = CLI_EXIT_RUNTIME;
	if (a->format == CLI_FORMAT_TABLE &&
	    (rc = storage_top(s.conn, &s.f, STORAGE_GROUP_FUNCTION, a->sort, 0,
			      &self, &nself)) != 0) {
		cli_query_error(e, rc, a->verbose);
		goto out_close;
	}
	if ((rc = storage_edges(s.conn, &s.f, mode, a->sort, a->limit, &rows,
				&n)) != 0) {
		cli_query_error(e, rc, a->verbose);
		goto out_rows;
	}
	if (cli_session_end(&s, e) != CLI_EXIT_OK)
		goto out_rows;
	rc = 0;
	if (a->format == CLI_FORMAT_TABLE)
		rc = write_table(out, &s, mode, self, nself, rows, n);
	else if (a->format == CLI_FORMAT_JSON)
		rc = write_json(out, rows, n);
	else
		write_csv(out, rows, n);
	if (cli_output_done(out, rc, e) != 0)
		goto out_rows;
	status = CLI_EXIT_OK;
out_rows:
	storage_edges_free(rows, n);
	storage_top_free(self, nself);
out_close:
	cli_session_close(&s);
	return status;
}

int cli_callers_run(const struct cli_args *a, FILE *out, FILE *err,
		    struct cli_error *e)
{
	return run(a, STORAGE_EDGES_CALLERS, out, err, e);
}

int cli_callees_run(const struct cli_args *a, FILE *out, FILE *err,
		    struct cli_error *e)
{
	return run(a, STORAGE_EDGES_CALLEES, out, err, e);
}
