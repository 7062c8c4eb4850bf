/*
 * Session set-up shared by the query commands (see cli_session.h). The
 * database's own messages reach the user only through the log, which is
 * silent unless --verbose; errors here are short and carry a hint.
 */
#include "cli_session.h"
#include "cli_out.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "storage/storage.h"
#include "wire/batch.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* --label k=v (repeatable) as the JSON object series.labels must hold. */
static int labels_json(const struct cli_args *a, char **out)
{
	json_t *o;

	*out = NULL;
	if (a->nlabels == 0)
		return 0;
	o = json_object();
	if (o == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < a->nlabels; i++) {
		const char *eq = strchr(a->labels[i], '=');
		char *key = strndup(a->labels[i], (size_t)(eq - a->labels[i]));
		int bad =
			key == NULL || cli_jset(o, key, cli_jstr(eq + 1)) != 0;
		free(key);
		if (bad) {
			json_decref(o);
			return FP_ENOMEM;
		}
	}
	*out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *out == NULL ? FP_ENOMEM : 0;
}

static void explain_line(void *arg, const char *what, const char *line)
{
	fprintf(arg, "explain %s: %s\n", what, line);
}

void cli_query_error(struct cli_error *e, int rc, int verbose)
{
	e->code = rc;
	if (rc == FP_EDBDOWN)
		cli_error_set(e, "lost the connection to the database");
	else if (rc == FP_ESYNTAX)
		cli_error_set(e, "invalid regular expression");
	else
		cli_error_set(e, "query failed: %s", fp_strerror(rc));
	if (!verbose)
		cli_error_hint(e, "rerun with --verbose to see the database's "
				  "message");
	else if (rc == FP_ESYNTAX)
		cli_error_hint(e, "--match takes a PostgreSQL regular "
				  "expression, e.g. '^parse_'");
}

void cli_session_window(const struct cli_session *s, char *buf, size_t len)
{
	char from[32], until[32];

	fp_format_time(s->f.from_ns, from, sizeof(from));
	fp_format_time(s->f.until_ns, until, sizeof(until));
	snprintf(buf, len, "%s .. %s", from, until);
}

void cli_header_write(FILE *out, int64_t from_ns, int64_t until_ns, int tier,
		      uint64_t nhosts, int clock, const char *what)
{
	char from[32], until[32];

	fp_format_time(from_ns, from, sizeof(from));
	fp_format_time(until_ns, until, sizeof(until));
	fprintf(out, "window %s .. %s ", from, until);
	if (tier < 0)
		fputs("(batch ledger)", out);
	else if (tier == STORAGE_TIER_RAW)
		fprintf(out, "(raw tier, %d s buckets)",
			STORAGE_BUCKET_SECONDS);
	else if (tier == STORAGE_TIER_10M)
		fprintf(out, "(rollup tier, %d min buckets)",
			STORAGE_ROLLUP_10M_SECONDS / 60);
	else if (tier == STORAGE_TIER_SPAN)
		fputs("(rollup tiers: 1 d buckets for whole days, 1 h at the "
		      "ends)",
		      out);
	else
		fprintf(out, "(rollup tier, %d h buckets)",
			STORAGE_ROLLUP_SECONDS / 3600);
	fprintf(out, ", %llu host%s\n", (unsigned long long)nhosts,
		nhosts == 1 ? "" : "s");
	if (clock >= 0 && wire_clock_name(clock) != NULL)
		fprintf(out, "%s clock%s", wire_clock_name(clock),
			what != NULL ? ", " : "\n");
	if (what != NULL) {
		cli_put_safe(out, what);
		fputc('\n', out);
	}
	fputc('\n', out);
}

void cli_session_header(const struct cli_session *s, FILE *out,
			const char *what)
{
	cli_header_write(out, s->f.from_ns, s->f.until_ns,
			 s->ledger ? -1 : s->f.tier, s->nhosts, s->f.clock,
			 what);
}

/*
 * Fails (1, e filled) unless every host pattern has data in the window; a
 * pattern nothing ever matched and one with data elsewhere get other hints.
 */
static int check_hosts(const struct cli_session *s, const int *seen,
		       struct cli_error *e)
{
	const struct cli_args *a = s->a;
	char window[80];

	cli_session_window(s, window, sizeof(window));
	for (size_t i = 0; i < a->nhosts; i++) {
		if (seen[i] == STORAGE_HOST_IN_WINDOW)
			continue;
		cli_error_set(e, "no data for host '%s' in %s", a->hosts[i],
			      window);
		e->code = FP_ENOTFOUND;
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

static int connect_db(struct cli_session *s, struct cli_error *e)
{
	const struct cli_args *a = s->a;
	char errbuf[512];
	int rc, role = 0;

	rc = storage_connect(a->db, &s->conn, errbuf, sizeof(errbuf));
	if (rc != 0) {
		s->conn = NULL;
		cli_error_set(e, "cannot connect to the database");
		e->code = FP_EDBDOWN;
		if (a->verbose)
			cli_error_detail(e, "%s", errbuf);
		cli_error_hint(e,
			       "give a libpq conninfo or URL with --db or "
			       "FLEETPROF_DB (postgresql://user@host/db)%s",
			       a->verbose ? "" : "; --verbose shows why");
		return CLI_EXIT_RUNTIME;
	}
	if ((rc = storage_read_role(s->conn, &role)) != 0) {
		cli_query_error(e, rc, a->verbose);
		return CLI_EXIT_RUNTIME;
	}
	if (a->verbose)
		fprintf(s->err,
			role ? "fleetprof: connected as %s, running as the "
			       "read-only role fleetprof_reader\n"
			     : "fleetprof: connected as %s; role "
			       "fleetprof_reader is not available here "
			       "(missing, not granted, or without SELECT on "
			       "the tables): reading in a read-only "
			       "transaction\n",
			PQuser(s->conn));
	return CLI_EXIT_OK;
}

int cli_session_open(struct cli_session *s, const struct cli_args *a,
		     const struct cli_window *w, int tier, int ledger,
		     FILE *out, FILE *err, struct cli_error *e)
{
	struct cli_window win;
	int *seen = NULL, rc, status = CLI_EXIT_RUNTIME;

	memset(s, 0, sizeof(*s));
	s->a = a;
	s->err = err;
	s->ledger = ledger;
	s->now_ns = fp_wall_ns();
	s->color = cli_want_color(out);
	if (w == NULL) {
		if (cli_window_resolve(a->since, a->from, a->until, s->now_ns,
				       &win, e) != 0)
			return CLI_EXIT_USAGE;
		w = &win;
	}
	s->f.hosts = a->hosts;
	s->f.nhosts = a->nhosts;
	s->f.service = a->service;
	s->f.clock = a->clock;
	s->f.function = a->function;
	s->f.match = a->match;
	if (ledger) {
		s->f.tier = STORAGE_TIER_RAW;
		s->f.from_ns = storage_bucket_floor(w->from_ns);
		s->f.until_ns = storage_bucket_ceil(w->until_ns);
	} else if (tier == CLI_TIER_AUTO) {
		storage_tier_choose(w->from_ns, w->until_ns, s->now_ns,
				    &s->f.tier, &s->f.from_ns, &s->f.until_ns);
	} else {
		int64_t bw = storage_tier_bucket_ns(tier);
		s->f.tier = tier;
		s->f.from_ns = storage_floor_to(w->from_ns, bw);
		s->f.until_ns = storage_ceil_to(w->until_ns, bw);
	}
	if (labels_json(a, &s->labels_json) != 0) {
		cli_error_set(e, "out of memory");
		return CLI_EXIT_RUNTIME;
	}
	s->f.labels_json = s->labels_json;
	seen = calloc(a->nhosts + 1, sizeof(*seen));
	if (seen == NULL) {
		cli_error_set(e, "out of memory");
		goto err_free;
	}
	if (connect_db(s, e) != CLI_EXIT_OK)
		goto err_close;
	if (a->explain)
		storage_set_explain(explain_line, err);
	if ((rc = storage_read_begin(s->conn)) != 0 ||
	    (rc = storage_window_hosts(s->conn, &s->f, &s->nhosts, seen)) !=
		    0) {
		cli_query_error(e, rc, a->verbose);
		goto err_close;
	}
	if (check_hosts(s, seen, e) != 0)
		goto err_close;
	free(seen);
	return CLI_EXIT_OK;

err_close:
	if (a->explain)
		storage_set_explain(NULL, NULL);
	PQfinish(s->conn);
	s->conn = NULL;
err_free:
	free(seen);
	free(s->labels_json);
	s->labels_json = NULL;
	return status;
}

int cli_session_end(struct cli_session *s, struct cli_error *e)
{
	int rc = storage_read_end(s->conn);

	if (rc != 0) {
		cli_query_error(e, rc, s->a->verbose);
		return CLI_EXIT_RUNTIME;
	}
	return CLI_EXIT_OK;
}

PGconn *cli_session_second(const struct cli_session *s)
{
	PGconn *c = NULL;
	int role = 0;

	if (storage_connect(s->a->db, &c, NULL, 0) != 0)
		return NULL;
	if (storage_read_role(c, &role) != 0 ||
	    storage_read_share(s->conn, c) != 0) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

void cli_session_second_close(PGconn *c)
{
	if (c == NULL)
		return;
	(void)storage_read_end(c);
	PQfinish(c);
}

void cli_session_close(struct cli_session *s)
{
	/* Process-wide: only a session that set it clears it, so sessions on
	 * other threads (fleetprof serve) never race on it. */
	if (s->a != NULL && s->a->explain)
		storage_set_explain(NULL, NULL);
	if (s->conn != NULL)
		PQfinish(s->conn);
	s->conn = NULL;
	free(s->labels_json);
	s->labels_json = NULL;
}

int cli_session_need_function(struct cli_session *s, const char *name,
			      struct cli_error *e)
{
	uint64_t n = 0;
	int rc = storage_function_count(s->conn, name, &n);

	if (rc != 0) {
		cli_query_error(e, rc, s->a->verbose);
		return CLI_EXIT_RUNTIME;
	}
	if (n == 0) {
		cli_error_set(e, "no function named '%s'", name);
		e->code = FP_ENOTFOUND;
		cli_error_hint(e, "names are exact and case-sensitive; find "
				  "them with 'fleetprof top --match REGEX'");
		return CLI_EXIT_RUNTIME;
	}
	return CLI_EXIT_OK;
}
