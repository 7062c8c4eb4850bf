/*
 * fleetprof-collector: receives agents' batches over nng and merges them,
 * exactly once, into PostgreSQL. Thin: options and signals here, the work in
 * server.c and writer.c. SIGTERM/SIGINT drain (commit and reply what is
 * queued), then exit 0.
 */
#include "collector.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "storage/storage.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FP_VERSION
#define FP_VERSION "0"
#endif

static void usage(FILE *f)
{
	fputs("usage: fleetprof-collector [options]\n"
	      "\n"
	      "Receives fleetprof agents' batches and merges them, exactly "
	      "once, into PostgreSQL.\n"
	      "\n"
	      "  --listen URL      nng URL(s) to listen on, comma-separated\n"
	      "                    (default tcp://127.0.0.1:7450)\n"
	      "  --db CONNINFO     libpq conninfo or URI (default "
	      "$FLEETPROF_DB, then PG*)\n"
	      "  --migrate         apply schema migrations and exit\n"
	      "  --contexts N      concurrent requests (default 64)\n"
	      "  --commit-ms MS    group commit wait (default 20)\n"
	      "  --max-group N     batches per transaction (default 256)\n"
	      "  --max-msg BYTES   largest accepted message (default 16 MiB)\n"
	      "  --log-level L     err|warning|notice|info|debug (notice)\n"
	      "  --version, --help\n",
	      f);
}

static int parse_int(const char *s, const char *name, long lo, long hi,
		     long *out)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr,
			"fleetprof-collector: error: %s must be an integer "
			"in %ld..%ld, got '%s'\n",
			name, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static struct collector c;
	const char *db = NULL;
	int migrate = 0, rc, sig;
	long v;
	sigset_t set;

	fp_log_set_ident("fleetprof-collector");
	memset(&c, 0, sizeof(c));
	c.opt.listen = "tcp://127.0.0.1:7450";
	c.opt.contexts = 64;
	c.opt.commit_ms = 20;
	c.opt.max_group = 256;
	c.opt.max_rows = 200000;
	c.opt.raw_retention_ns = 7 * 86400 * FP_NS_PER_SEC;
	c.opt.rollup_retention_ns = 90 * 86400 * FP_NS_PER_SEC;
	c.opt.rollup_bucket_ns = 3600 * FP_NS_PER_SEC;
	c.opt.maintenance_interval_ns = 600 * FP_NS_PER_SEC;
	wire_limits_default(&c.opt.limits);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("fleetprof-collector %s\n", FP_VERSION);
			return 0;
		} else if (strcmp(a, "--migrate") == 0) {
			migrate = 1;
			continue;
		}
		if (val == NULL) {
			fprintf(stderr,
				"fleetprof-collector: error: unknown option "
				"or missing value: %s\n"
				"hint: see fleetprof-collector --help\n",
				a);
			return 2;
		}
		i++;
		if (strcmp(a, "--listen") == 0) {
			c.opt.listen = val;
		} else if (strcmp(a, "--db") == 0) {
			db = val;
		} else if (strcmp(a, "--contexts") == 0) {
			if (parse_int(val, a, 1, 4096, &v) != 0)
				return 2;
			c.opt.contexts = (int)v;
		} else if (strcmp(a, "--commit-ms") == 0) {
			if (parse_int(val, a, 0, 60000, &v) != 0)
				return 2;
			c.opt.commit_ms = (int)v;
		} else if (strcmp(a, "--max-group") == 0) {
			if (parse_int(val, a, 1, 100000, &v) != 0)
				return 2;
			c.opt.max_group = (int)v;
		} else if (strcmp(a, "--max-msg") == 0) {
			if (parse_int(val, a, 1024, 1L << 30, &v) != 0)
				return 2;
			c.opt.limits.max_msg_bytes = (size_t)v;
		} else if (strcmp(a, "--log-level") == 0) {
			int l = fp_log_parse_level(val);
			if (l < 0) {
				fprintf(stderr,
					"fleetprof-collector: error: "
					"bad --log-level '%s'\n",
					val);
				return 2;
			}
			fp_log_set_level(l);
		} else {
			fprintf(stderr,
				"fleetprof-collector: error: unknown option "
				"%s\nhint: see fleetprof-collector --help\n",
				a);
			return 2;
		}
	}
	c.opt.conninfo = storage_conninfo(db);

	if (migrate) {
		PGconn *conn;
		char err[256];
		rc = storage_connect(c.opt.conninfo, &conn, err, sizeof(err));
		if (rc != 0) {
			fp_err("cannot connect to the database: %s", err);
			return 1;
		}
		rc = storage_migrate(conn);
		PQfinish(conn);
		if (rc != 0) {
			fp_err("migration failed: %s", fp_strerror(rc));
			return 1;
		}
		fp_notice("schema is at version %d",
			  storage_schema_version_built());
		return 0;
	}

	/* Signals go to the main thread only (sigwait below). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	if ((rc = collector_writer_start(&c)) != 0) {
		fp_err("cannot start the writer: %s", fp_strerror(rc));
		return 1;
	}
	if ((rc = collector_server_start(&c)) != 0) {
		collector_writer_stop(&c);
		return 1;
	}
	fp_notice("ready");
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			fp_notice("SIGHUP: nothing to reload yet");
			continue;
		}
		break;
	}
	fp_notice("draining (signal %d)", sig);
	collector_writer_stop(&c);
	collector_server_stop(&c);
	fp_notice("stopped: %llu acked, %llu duplicate, %llu rejected",
		  (unsigned long long)atomic_load(&c.stats.acked),
		  (unsigned long long)atomic_load(&c.stats.duplicates),
		  (unsigned long long)atomic_load(&c.stats.rejected));
	return 0;
}
