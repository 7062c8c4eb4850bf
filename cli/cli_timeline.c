/*
 * `fleetprof timeline FN`: FN's calls, tottime and time per call per step
 * (1m from the raw tier, 1h or more from the rollup), every step listed,
 * zero when nothing ran, so the CSV plots as it is.
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
#include "storage/storage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char cli_timeline_usage[] =
	"usage: fleetprof timeline [options] FN\n"
	"\n"
	"FN (every function of that name) step by step: calls, tottime,\n"
	"time per call and cumtime, summed over the matching hosts.\n"
	"\n" CLI_USAGE_WINDOW CLI_USAGE_FILTERS "\n"
	"output:\n"
	"  --step D           1m (raw tier; a multiple of 1m) or 1h (rollup;\n"
	"                     a multiple of 1h); default: the tier's "
	"bucket\n" CLI_USAGE_FORMAT CLI_USAGE_CONNECTION;

static int write_table(FILE *out, const struct cli_session *s, int64_t step,
		       const struct storage_timeline_row *r, size_t n)
{
	static const char *const heads[] = {"step start", "ncalls", "tottime",
					    "percall", "cumtime"};
	char what[300], when[40];
	struct cli_table t;
	int rc;

	snprintf(what, sizeof(what), "%s per %lld s", s->a->function,
		 (long long)(step / FP_NS_PER_SEC));
	cli_session_header(s, out, what);
	cli_table_init(&t, 5, heads, 1u);
	for (size_t i = 0; i < n; i++) {
		char tt[CLI_UNITS_BUFLEN], pc[CLI_UNITS_BUFLEN],
			ct[CLI_UNITS_BUFLEN], nc[CLI_UNITS_BUFLEN];
		fp_format_time(r[i].bucket_ns, when, sizeof(when));
		cli_format_ncalls(r[i].ncalls, r[i].pcalls, nc, sizeof(nc));
		cli_format_duration(r[i].tottime_ns, tt, sizeof(tt));
		cli_format_duration(r[i].ncalls ? r[i].tottime_ns /
							  (double)r[i].ncalls
						: NAN,
				    pc, sizeof(pc));
		cli_format_duration(r[i].cumtime_ns, ct, sizeof(ct));
		cli_table_row(&t);
		cli_table_set(&t, 0, when, 0);
		cli_table_set(&t, 1, nc, 0);
		cli_table_set(&t, 2, tt, 0);
		cli_table_set(&t, 3, pc, 0);
		cli_table_set(&t, 4, ct, 0);
	}
	rc = cli_table_print(&t, out, s->color);
	cli_table_fini(&t);
	return rc;
}

static int write_json(FILE *out, const struct storage_timeline_row *r, size_t n)
{
	json_t *arr = json_array();
	char when[40];

	if (arr == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		int bad = o == NULL;
		if (!bad) {
			fp_format_time(r[i].bucket_ns, when, sizeof(when));
			bad |= cli_jset(o, "time", cli_jstr(when));
			bad |= cli_jset(o, "ncalls", cli_jcount(r[i].ncalls));
			bad |= cli_jset(o, "pcalls", cli_jcount(r[i].pcalls));
			bad |= cli_jset(o, "tottime_s",
					json_real(r[i].tottime_ns / 1e9));
			bad |= cli_jset(o, "cumtime_s",
					json_real(r[i].cumtime_ns / 1e9));
			bad |= cli_jset(
				o, "percall_s",
				r[i].ncalls ? json_real(r[i].tottime_ns / 1e9 /
							(double)r[i].ncalls)
					    : json_null());
		}
		if (bad || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return FP_ENOMEM;
		}
	}
	return cli_json_write(out, arr);
}

static void write_csv(FILE *out, const struct storage_timeline_row *r, size_t n)
{
	fputs("time,ncalls,pcalls,tottime_s,cumtime_s,percall_s\n", out);
	for (size_t i = 0; i < n; i++) {
		cli_put_time(out, r[i].bucket_ns);
		fprintf(out, ",%llu,%llu,", (unsigned long long)r[i].ncalls,
			(unsigned long long)r[i].pcalls);
		cli_csv_seconds(out, r[i].tottime_ns);
		fputc(',', out);
		cli_csv_seconds(out, r[i].cumtime_ns);
		fputc(',', out);
		if (r[i].ncalls > 0)
			fprintf(out, "%.9f",
				r[i].tottime_ns / 1e9 / (double)r[i].ncalls);
		fputc('\n', out);
	}
}

/*
 * Raw steps only exist as far back as the raw retention: a window wholly
 * before the oldest raw bucket is an error (not a table of zeros), one that
 * starts before it gets a warning on stderr.
 */
static int check_raw_reach(struct cli_session *s, struct cli_error *e)
{
	int64_t oldest = 0;
	char when[32];
	int found = 0, rc;

	if ((rc = storage_raw_oldest(s->conn, &oldest, &found)) != 0) {
		cli_query_error(e, rc, s->a->verbose);
		return CLI_EXIT_RUNTIME;
	}
	fp_format_time(oldest, when, sizeof(when));
	if (!found || s->f.until_ns <= oldest) {
		if (found)
			cli_error_set(e,
				      "no raw buckets in this window: the raw "
				      "tier starts at %s",
				      when);
		else
			cli_error_set(e, "the raw tier is empty");
		e->code = FP_ENOTFOUND;
		cli_error_hint(e, "use --step 1h (the rollup tier keeps "
				  "older data) or a more recent window");
		return CLI_EXIT_RUNTIME;
	}
	if (s->f.from_ns < oldest)
		fprintf(s->err,
			"fleetprof: warning: the raw tier starts at %s: "
			"earlier steps are empty; --step 1h reaches further "
			"back\n",
			when);
	return CLI_EXIT_OK;
}

int cli_timeline_run(const struct cli_args *a, FILE *out, FILE *err,
		     struct cli_error *e)
{
	const int64_t hour = (int64_t)STORAGE_ROLLUP_SECONDS * FP_NS_PER_SEC;
	struct storage_timeline_row *rows = NULL;
	struct cli_session s;
	int64_t step = 0;
	size_t n = 0;
	int status, rc, tier = CLI_TIER_AUTO;

	if (a->step != NULL) {
		if (fp_parse_duration(a->step, &step) != 0 ||
		    step % (STORAGE_BUCKET_SECONDS * FP_NS_PER_SEC) != 0) {
			cli_error_set(e, "invalid step '%s'", a->step);
			cli_error_hint(e, "use 1m (or whole minutes) or 1h (or "
					  "whole hours)");
			return CLI_EXIT_USAGE;
		}
		tier = step % hour == 0 ? STORAGE_TIER_1H : STORAGE_TIER_RAW;
	}
	status = cli_session_open(&s, a, NULL, tier, 0, out, err, e);
	if (status != CLI_EXIT_OK)
		return status;
	if (s.f.tier == STORAGE_TIER_SPAN)
		s.f.tier = STORAGE_TIER_1H; /* steps of hours, not days */
	if (step == 0)
		step = storage_tier_bucket_ns(s.f.tier);
	s.f.from_ns = storage_floor_to(s.f.from_ns, step);
	s.f.until_ns = storage_ceil_to(s.f.until_ns, step);
	if ((status = cli_session_need_function(&s, a->function, e)) !=
	    CLI_EXIT_OK)
		goto out_close;
	/* The 10 min tier is kept with raw. */
	if ((s.f.tier == STORAGE_TIER_RAW || s.f.tier == STORAGE_TIER_10M) &&
	    (status = check_raw_reach(&s, e)) != CLI_EXIT_OK)
		goto out_close;
	status = CLI_EXIT_RUNTIME;
	rc = storage_timeline(s.conn, &s.f, step, &rows, &n);
	if (rc == FP_ELIMIT) {
		cli_error_set(e, "too many steps for this window");
		e->code = FP_ELIMIT;
		cli_error_hint(e, "use a larger --step or a shorter window");
		goto out_close;
	}
	if (rc != 0) {
		cli_query_error(e, rc, a->verbose);
		goto out_close;
	}
	if (cli_session_end(&s, e) != CLI_EXIT_OK)
		goto out_rows;
	rc = 0;
	if (a->format == CLI_FORMAT_TABLE)
		rc = write_table(out, &s, step, rows, n);
	else if (a->format == CLI_FORMAT_JSON)
		rc = write_json(out, rows, n);
	else
		write_csv(out, rows, n);
	if (cli_output_done(out, rc, e) != 0)
		goto out_rows;
	status = CLI_EXIT_OK;
out_rows:
	free(rows);
out_close:
	cli_session_close(&s);
	return status;
}
