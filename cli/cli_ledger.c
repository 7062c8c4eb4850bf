/*
 * `fleetprof hosts` and `fleetprof services`: what reported in the window,
 * from the batch ledger (ingested_batches): last seen, batches, processes
 * and the data the agents dropped. Loss is never hidden: it gets its own
 * column, red on a terminal, and a closing line in the table.
 */
#include "cli.h"
#include "cli_args.h"
#include "cli_out.h"
#include "cli_session.h"
#include "cli_usage.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "storage/query.h"

#include <stdlib.h>
#include <string.h>

#define LEDGER_USAGE(cmd, what)                                           \
	"usage: fleetprof " cmd " [options]\n"                            \
	"\n"                                                              \
	"The " what " that sent profiles in the window, from the batch\n" \
	"ledger: last seen, batches, processes (agents), and how many\n"  \
	"events or batches the agents dropped (their counts are low by\n" \
	"that much). The ledger keeps the last 7 days.\n"                 \
	"\n" CLI_USAGE_WINDOW CLI_USAGE_FILTERS                           \
	"                     (default: every clock)\n"                   \
	"\n"                                                              \
	"output:\n" CLI_USAGE_FORMAT CLI_USAGE_CONNECTION

const char cli_hosts_usage[] = LEDGER_USAGE("hosts", "hosts");
const char cli_services_usage[] = LEDGER_USAGE("services", "services");

static const char *const names[STORAGE_LEDGER_COUNT_] = {"host", "service"};
static const char *const others[STORAGE_LEDGER_COUNT_] = {"services", "hosts"};

static int write_table(FILE *out, const struct cli_session *s, int by,
		       const struct storage_ledger_row *rows, size_t n)
{
	const char *heads[] = {names[by], others[by],  "processes",
			       "batches", "last seen", "dropped"};
	uint64_t lost = 0, lossy = 0;
	struct cli_table t;
	char when[40];
	int rc;

	cli_session_header(s, out, NULL);
	if (n == 0) {
		fputs("no batches in this window\n", out);
		return 0;
	}
	cli_table_init(&t, 6, heads, 1u);
	for (size_t i = 0; i < n; i++) {
		cli_table_row(&t);
		cli_table_set(&t, 0, rows[i].name, 0);
		cli_table_setf(&t, 1, 0, "%llu",
			       (unsigned long long)rows[i].others);
		cli_table_setf(&t, 2, 0, "%llu",
			       (unsigned long long)rows[i].processes);
		cli_table_setf(&t, 3, 0, "%llu",
			       (unsigned long long)rows[i].batches);
		fp_format_time(rows[i].last_ns, when, sizeof(when));
		cli_table_set(&t, 4, when, 0);
		cli_table_setf(&t, 5,
			       rows[i].dropped > 0 ? CLI_COLOR_RED
						   : CLI_COLOR_NONE,
			       "%llu", (unsigned long long)rows[i].dropped);
		lost += rows[i].dropped;
		lossy += rows[i].dropped > 0;
	}
	rc = cli_table_print(&t, out, s->color);
	cli_table_fini(&t);
	if (rc == 0 && lost > 0)
		fprintf(out,
			"\ndata lost: %llu events or batches dropped by "
			"agents on %llu %s%s; their counts are low\n",
			(unsigned long long)lost, (unsigned long long)lossy,
			names[by], lossy == 1 ? "" : "s");
	return rc;
}

static int write_json(FILE *out, int by, const struct storage_ledger_row *rows,
		      size_t n)
{
	json_t *arr = json_array();
	char when[40];

	if (arr == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		int bad = o == NULL;
		if (!bad) {
			bad |= cli_jset(o, names[by], cli_jstr(rows[i].name));
			bad |= cli_jset(o, others[by],
					cli_jcount(rows[i].others));
			bad |= cli_jset(o, "processes",
					cli_jcount(rows[i].processes));
			bad |= cli_jset(o, "batches",
					cli_jcount(rows[i].batches));
			bad |= cli_jset(o, "dropped",
					cli_jcount(rows[i].dropped));
			fp_format_time(rows[i].first_ns, when, sizeof(when));
			bad |= cli_jset(o, "first_seen", cli_jstr(when));
			fp_format_time(rows[i].last_ns, when, sizeof(when));
			bad |= cli_jset(o, "last_seen", cli_jstr(when));
		}
		if (bad || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return FP_ENOMEM;
		}
	}
	return cli_json_write(out, arr);
}

static void write_csv(FILE *out, int by, const struct storage_ledger_row *rows,
		      size_t n)
{
	fprintf(out, "%s,%s,processes,batches,dropped,first_seen,last_seen\n",
		names[by], others[by]);
	for (size_t i = 0; i < n; i++) {
		cli_csv_field(out, rows[i].name);
		fprintf(out, ",%llu,%llu,%llu,%llu,",
			(unsigned long long)rows[i].others,
			(unsigned long long)rows[i].processes,
			(unsigned long long)rows[i].batches,
			(unsigned long long)rows[i].dropped);
		cli_put_time(out, rows[i].first_ns);
		fputc(',', out);
		cli_put_time(out, rows[i].last_ns);
		fputc('\n', out);
	}
}

static int run(const struct cli_args *a, int by, FILE *out, FILE *err,
	       struct cli_error *e)
{
	struct cli_session s;
	struct storage_ledger_row *rows = NULL;
	size_t n = 0;
	int status, rc;

	status = cli_session_open(&s, a, NULL, CLI_TIER_AUTO, 1, out, err, e);
	if (status != CLI_EXIT_OK)
		return status;
	status = CLI_EXIT_RUNTIME;
	if ((rc = storage_ledger(s.conn, &s.f, by, &rows, &n)) != 0) {
		cli_query_error(e, rc, a->verbose);
		goto out_close;
	}
	if (cli_session_end(&s, e) != CLI_EXIT_OK)
		goto out_rows;
	if (a->format == CLI_FORMAT_TABLE)
		rc = write_table(out, &s, by, rows, n);
	else if (a->format == CLI_FORMAT_JSON)
		rc = write_json(out, by, rows, n);
	else
		write_csv(out, by, rows, n);
	if (cli_output_done(out, rc, e) != 0)
		goto out_rows;
	status = CLI_EXIT_OK;
out_rows:
	storage_ledger_free(rows, n);
out_close:
	cli_session_close(&s);
	return status;
}

int cli_hosts_run(const struct cli_args *a, FILE *out, FILE *err,
		  struct cli_error *e)
{
	return run(a, STORAGE_LEDGER_HOSTS, out, err, e);
}

int cli_services_run(const struct cli_args *a, FILE *out, FILE *err,
		     struct cli_error *e)
{
	return run(a, STORAGE_LEDGER_SERVICES, out, err, e);
}
