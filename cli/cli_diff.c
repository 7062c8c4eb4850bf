/*
 * `fleetprof diff`: each function's time in the window against a base
 * window, the change split exactly in two: (n1 - n0) * percall0 ("called
 * more often") plus n1 * (percall1 - percall0) ("slower per call"). New and
 * vanished functions are their whole time. Rows are sorted by |change|.
 * Both windows read the same tier, so like is compared with like.
 */
#include "cli.h"
#include "cli_args.h"
#include "cli_out.h"
#include "cli_session.h"
#include "cli_units.h"
#include "cli_usage.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "storage/query.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char cli_diff_usage[] =
	"usage: fleetprof diff [options]\n"
	"\n"
	"What changed between a base window and the window: per function\n"
	"the change in total time (tottime), split into \"called more often\"\n"
	"(the change in calls at the old time per call) and \"slower per\n"
	"call\" (the change in time per call over the new calls); the two\n"
	"add up to the change exactly. New and vanished functions are\n"
	"listed too. Sorted by the size of the change.\n"
	"\n" CLI_USAGE_WINDOW "base window (default: --base-offset 1d):\n"
	"  --base-offset D    the window shifted back by D (1d, 1w, 2h)\n"
	"  --base-from TIME   or an explicit base window; not with\n"
	"  --base-until TIME  --base-offset\n"
	"\n" CLI_USAGE_FILTERS
	"  --match REGEX      only functions whose name or file matches\n"
	"\n"
	"output:\n"
	"  --threshold T      only changes of at least T: a duration (10ms)\n"
	"                     or a percentage of the base time (5%)\n"
	"  --limit N          at most N functions (default: 20; 0: "
	"all)\n" CLI_USAGE_FORMAT CLI_USAGE_CONNECTION;

enum status { ST_CHANGED, ST_NEW, ST_GONE };
static const char *const status_names[] = {"changed", "new", "vanished"};

struct drow {
	const struct storage_top_row *cur, *base; /* either may be NULL */
	int status;
	double delta, calls_part, percall_part; /* ns */
};

static int by_id(const void *a, const void *b)
{
	const struct storage_top_row *x = a, *y = b;
	return x->fn_id < y->fn_id ? -1 : x->fn_id > y->fn_id;
}

static const struct storage_top_row *ident(const struct drow *d)
{
	return d->cur != NULL ? d->cur : d->base;
}

static int by_impact(const void *a, const void *b)
{
	const struct drow *x = a, *y = b;
	double ax = fabs(x->delta), ay = fabs(y->delta);
	int c;

	if (ax != ay)
		return ax > ay ? -1 : 1;
	c = strcmp(ident(x)->name, ident(y)->name);
	if (c != 0)
		return c;
	return ident(x)->fn_id < ident(y)->fn_id
		       ? -1
		       : ident(x)->fn_id > ident(y)->fn_id;
}

static void compute(struct drow *d)
{
	double n0 = d->base ? (double)d->base->ncalls : 0;
	double n1 = d->cur ? (double)d->cur->ncalls : 0;
	double t0 = d->base ? d->base->tottime_ns : 0;
	double t1 = d->cur ? d->cur->tottime_ns : 0;

	d->delta = t1 - t0;
	if (n0 == 0 || d->base == NULL) {
		d->status = ST_NEW;
		d->calls_part = d->delta;
		d->percall_part = 0;
	} else if (n1 == 0 || d->cur == NULL) {
		d->status = ST_GONE;
		d->calls_part = d->delta;
		d->percall_part = 0;
	} else {
		d->status = ST_CHANGED;
		d->calls_part = (n1 - n0) * (t0 / n0);
		d->percall_part = d->delta - d->calls_part;
	}
}

/* --threshold: "10ms" (absolute) or "5%" (of the base time). */
static int parse_threshold(const char *s, double *abs_ns, double *pct)
{
	size_t len = strlen(s);
	int64_t ns;

	*abs_ns = 0;
	*pct = 0;
	if (len > 1 && s[len - 1] == '%') {
		char *end;
		if (s[0] < '0' || s[0] > '9')
			return -1;
		*pct = strtod(s, &end);
		return end == s + len - 1 && *pct >= 0 ? 0 : -1;
	}
	if (fp_parse_duration(s, &ns) != 0)
		return -1;
	*abs_ns = (double)ns;
	return 0;
}

static int significant(const struct drow *d, double abs_ns, double pct)
{
	if (fabs(d->delta) < abs_ns)
		return 0;
	if (pct > 0 && d->status == ST_CHANGED &&
	    fabs(d->delta) * 100.0 < pct * d->base->tottime_ns)
		return 0;
	return d->delta != 0 || d->status != ST_CHANGED;
}

/* Signed duration: "+1.20ms", "-300µs", "0s". */
static void fmt_delta(double ns, char *buf, size_t len)
{
	char b[CLI_UNITS_BUFLEN];

	cli_format_duration(fabs(ns), b, sizeof(b));
	snprintf(buf, len, "%s%s", ns > 0 ? "+" : ns < 0 ? "-" : "", b);
}

static int write_table(FILE *out, const struct cli_session *s,
		       const struct cli_window *base, const struct drow *d,
		       size_t n)
{
	static const char *const heads[] = {
		"change",	 "calls part",
		"per-call part", "tottime",
		"ncalls",	 "percall",
		"status",	 "function (file:line)"};
	char bf[32], bu[32], what[160];
	struct cli_table t;
	int rc;

	fp_format_time(base->from_ns, bf, sizeof(bf));
	fp_format_time(base->until_ns, bu, sizeof(bu));
	snprintf(what, sizeof(what), "against base %s .. %s, by |change|", bf,
		 bu);
	cli_session_header(s, out, what);
	if (n == 0) {
		fputs("no significant changes\n", out);
		return 0;
	}
	cli_table_init(&t, 8, heads, 3u << 6);
	for (size_t i = 0; i < n; i++) {
		const struct storage_top_row *id = ident(&d[i]);
		char a[64], b[64], c[64], p0[CLI_UNITS_BUFLEN],
			p1[CLI_UNITS_BUFLEN], t0[CLI_UNITS_BUFLEN],
			t1[CLI_UNITS_BUFLEN];
		uint64_t n0 = d[i].base ? d[i].base->ncalls : 0;
		uint64_t n1 = d[i].cur ? d[i].cur->ncalls : 0;
		int color = d[i].delta > 0   ? CLI_COLOR_RED
			    : d[i].delta < 0 ? CLI_COLOR_GREEN
					     : CLI_COLOR_NONE;
		char *label;

		fmt_delta(d[i].delta, a, sizeof(a));
		fmt_delta(d[i].calls_part, b, sizeof(b));
		fmt_delta(d[i].percall_part, c, sizeof(c));
		cli_format_duration(d[i].base ? d[i].base->tottime_ns : 0, t0,
				    sizeof(t0));
		cli_format_duration(d[i].cur ? d[i].cur->tottime_ns : 0, t1,
				    sizeof(t1));
		cli_format_duration(n0 ? d[i].base->tottime_ns / (double)n0
				       : NAN,
				    p0, sizeof(p0));
		cli_format_duration(n1 ? d[i].cur->tottime_ns / (double)n1
				       : NAN,
				    p1, sizeof(p1));
		cli_table_row(&t);
		cli_table_set(&t, 0, a, color);
		cli_table_set(&t, 1, b, 0);
		cli_table_set(&t, 2, c, 0);
		cli_table_setf(&t, 3, 0, "%s -> %s", t0, t1);
		cli_table_setf(&t, 4, 0, "%llu -> %llu", (unsigned long long)n0,
			       (unsigned long long)n1);
		cli_table_setf(&t, 5, 0, "%s -> %s", p0, p1);
		cli_table_set(&t, 6, status_names[d[i].status], 0);
		label = cli_function_label(id->name, id->file, id->line,
					   id->module);
		if (label == NULL) {
			cli_table_fini(&t);
			return FP_ENOMEM;
		}
		cli_table_set(&t, 7, label, 0);
		free(label);
	}
	rc = cli_table_print(&t, out, s->color);
	cli_table_fini(&t);
	return rc;
}

static int write_json(FILE *out, const struct drow *d, size_t n)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct storage_top_row *id = ident(&d[i]);
		json_t *o = json_object();
		int bad = o == NULL;
		if (!bad) {
			bad |= cli_jset(o, "function", cli_jstr(id->name));
			bad |= cli_jset(o, "file", cli_jstr(id->file));
			bad |= cli_jset(o, "line", json_integer(id->line));
			bad |= cli_jset(o, "module", cli_jstr(id->module));
			bad |= cli_jset(o, "status",
					cli_jstr(status_names[d[i].status]));
			bad |= cli_jset(o, "change_s",
					json_real(d[i].delta / 1e9));
			bad |= cli_jset(o, "calls_part_s",
					json_real(d[i].calls_part / 1e9));
			bad |= cli_jset(o, "percall_part_s",
					json_real(d[i].percall_part / 1e9));
			bad |= cli_jset(
				o, "base_ncalls",
				cli_jcount(d[i].base ? d[i].base->ncalls : 0));
			bad |= cli_jset(
				o, "ncalls",
				cli_jcount(d[i].cur ? d[i].cur->ncalls : 0));
			bad |= cli_jset(
				o, "base_tottime_s",
				json_real(d[i].base
						  ? d[i].base->tottime_ns / 1e9
						  : 0));
			bad |= cli_jset(
				o, "tottime_s",
				json_real(d[i].cur ? d[i].cur->tottime_ns / 1e9
						   : 0));
		}
		if (bad || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return FP_ENOMEM;
		}
	}
	return cli_json_write(out, arr);
}

static void write_csv(FILE *out, const struct drow *d, size_t n)
{
	fputs("function,file,line,module,status,change_s,calls_part_s,"
	      "percall_part_s,base_ncalls,ncalls,base_tottime_s,tottime_s\n",
	      out);
	for (size_t i = 0; i < n; i++) {
		const struct storage_top_row *id = ident(&d[i]);
		cli_csv_field(out, id->name);
		fputc(',', out);
		cli_csv_field(out, id->file);
		fprintf(out, ",%d,", (int)id->line);
		cli_csv_field(out, id->module);
		fprintf(out, ",%s,", status_names[d[i].status]);
		cli_csv_seconds(out, d[i].delta);
		fputc(',', out);
		cli_csv_seconds(out, d[i].calls_part);
		fputc(',', out);
		cli_csv_seconds(out, d[i].percall_part);
		fprintf(out, ",%llu,%llu,",
			(unsigned long long)(d[i].base ? d[i].base->ncalls : 0),
			(unsigned long long)(d[i].cur ? d[i].cur->ncalls : 0));
		cli_csv_seconds(out, d[i].base ? d[i].base->tottime_ns : 0);
		fputc(',', out);
		cli_csv_seconds(out, d[i].cur ? d[i].cur->tottime_ns : 0);
		fputc('\n', out);
	}
}

/* Both windows; fills e and returns CLI_EXIT_USAGE on a bad option. */
static int windows(const struct cli_args *a, int64_t now,
		   struct cli_window *cur, struct cli_window *base,
		   struct cli_error *e)
{
	int64_t off;

	if (cli_window_resolve(a->since, a->from, a->until, now, cur, e) != 0)
		return CLI_EXIT_USAGE;
	if (a->base_offset != NULL &&
	    (a->base_from != NULL || a->base_until != NULL)) {
		cli_error_set(e, "--base-offset cannot be combined with "
				 "--base-from or --base-until");
		cli_error_hint(e, "give either --base-offset D or --base-from "
				  "TIME --base-until TIME");
		return CLI_EXIT_USAGE;
	}
	if (a->base_from != NULL || a->base_until != NULL) {
		if (a->base_from == NULL || a->base_until == NULL) {
			cli_error_set(e, "--base-from and --base-until go "
					 "together");
			cli_error_hint(e, "give both, or --base-offset D");
			return CLI_EXIT_USAGE;
		}
		if (cli_window_resolve(NULL, a->base_from, a->base_until, now,
				       base, e) != 0)
			return CLI_EXIT_USAGE;
		return CLI_EXIT_OK;
	}
	if (fp_parse_duration(a->base_offset ? a->base_offset : "1d", &off) !=
	    0) {
		cli_error_set(e, "invalid duration '%s' for --base-offset",
			      a->base_offset);
		cli_error_hint(e, "use a number and a unit: 1d, 1w, 2h");
		return CLI_EXIT_USAGE;
	}
	base->from_ns = cur->from_ns - off;
	base->until_ns = cur->until_ns - off;
	return CLI_EXIT_OK;
}

int cli_diff_run(const struct cli_args *a, FILE *out, FILE *err,
		 struct cli_error *e)
{
	struct cli_window cur, base, span;
	struct cli_session s;
	struct storage_filter bf;
	struct storage_top_row *r1 = NULL, *r0 = NULL;
	struct drow *d = NULL;
	PGconn *c2;
	size_t n1 = 0, n0 = 0, nd = 0, i = 0, j = 0, keep = 0;
	double abs_ns = 0, pct = 0;
	int64_t now = fp_wall_ns(), f0, u0;
	int status, rc, tier, tier0;

	if ((status = windows(a, now, &cur, &base, e)) != CLI_EXIT_OK)
		return status;
	if (a->threshold != NULL &&
	    parse_threshold(a->threshold, &abs_ns, &pct) != 0) {
		cli_error_set(e, "invalid threshold '%s'", a->threshold);
		cli_error_hint(e, "give a duration (10ms) or a percentage of "
				  "the base time (5%%)");
		return CLI_EXIT_USAGE;
	}
	/* One tier for both: the coarser of what each window needs. */
	storage_tier_choose(cur.from_ns, cur.until_ns, now, &tier, &f0, &u0);
	storage_tier_choose(base.from_ns, base.until_ns, now, &tier0, &f0, &u0);
	span = cur;
	status = cli_session_open(&s, a, &span, tier > tier0 ? tier : tier0, 0,
				  out, err, e);
	if (status != CLI_EXIT_OK)
		return status;
	status = CLI_EXIT_RUNTIME;
	bf = s.f;
	bf.from_ns = storage_floor_to(base.from_ns,
				      storage_tier_bucket_ns(s.f.tier));
	bf.until_ns = storage_ceil_to(base.until_ns,
				      storage_tier_bucket_ns(s.f.tier));
	base.from_ns = bf.from_ns;
	base.until_ns = bf.until_ns;
	/* The base window on a second backend, in the same snapshot, while
	 * this one reads the current window. */
	c2 = cli_session_second(&s);
	rc = storage_top_pair(s.conn, &s.f, c2, &bf, STORAGE_GROUP_FUNCTION,
			      STORAGE_SORT_TOTTIME, &r1, &n1, &r0, &n0);
	cli_session_second_close(c2);
	if (rc != 0) {
		cli_query_error(e, rc, a->verbose);
		goto out_rows;
	}
	if (cli_session_end(&s, e) != CLI_EXIT_OK)
		goto out_rows;
	qsort(r1, n1, sizeof(*r1), by_id);
	qsort(r0, n0, sizeof(*r0), by_id);
	d = calloc(n1 + n0 + 1, sizeof(*d));
	if (d == NULL) {
		cli_error_set(e, "out of memory");
		goto out_rows;
	}
	/* Merge join on functions.id. */
	while (i < n1 || j < n0) {
		struct drow *x = &d[nd++];
		if (j == n0 || (i < n1 && r1[i].fn_id < r0[j].fn_id)) {
			x->cur = &r1[i++];
		} else if (i == n1 || r0[j].fn_id < r1[i].fn_id) {
			x->base = &r0[j++];
		} else {
			x->cur = &r1[i++];
			x->base = &r0[j++];
		}
		compute(x);
	}
	for (size_t k = 0; k < nd; k++)
		if (significant(&d[k], abs_ns, pct))
			d[keep++] = d[k];
	qsort(d, keep, sizeof(*d), by_impact);
	if (a->limit > 0 && keep > (size_t)a->limit)
		keep = (size_t)a->limit;
	rc = 0;
	if (a->format == CLI_FORMAT_TABLE)
		rc = write_table(out, &s, &base, d, keep);
	else if (a->format == CLI_FORMAT_JSON)
		rc = write_json(out, d, keep);
	else
		write_csv(out, d, keep);
	if (cli_output_done(out, rc, e) != 0)
		goto out_rows;
	status = CLI_EXIT_OK;
out_rows:
	free(d);
	storage_top_free(r1, n1);
	storage_top_free(r0, n0);
	cli_session_close(&s);
	return status;
}
