/*
 * bench/query: how fast the fleetprof command answers on a synthetic fleet.
 * Loads BENCH_HOSTS hosts x BENCH_FNS functions (a 4-ary call tree: every
 * function has one caller edge and one call path) through the collector's
 * write path, then repeats those facts with generate_series: raw 60 s
 * buckets and the 10 min rollup for the last BENCH_RAW_HOURS, the 1 h
 * rollup for BENCH_DAYS, as the retention policy leaves them. Then times the
 * real binary (top, callers, diff, flame over 15m, 1h, 24h, 7d; cold = first
 * run, warm = median of 5) and prints each plan's scans from --explain.
 */
#include "fp/timeutil.h"
#include "storage/query.h"
#include "storage/storage.h"
#include "wire/batch.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (v == NULL || *v == '\0')
		return dflt;
	x = strtol(v, &end, 10);
	return *end == '\0' && x > 0 ? x : dflt;
}

static int sql(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
		 PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "bench/query: %s: %s", q,
			PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* One batch per host: functions, the call tree's edges and paths. */
static int load_templates(PGconn *conn, long hosts, long nfn, int64_t t)
{
	struct wire_fn *fns = calloc((size_t)nfn, sizeof(*fns));
	struct wire_fstat *fs = calloc((size_t)nfn, sizeof(*fs));
	struct wire_edge *es = calloc((size_t)nfn, sizeof(*es));
	struct wire_node *ns = calloc((size_t)nfn, sizeof(*ns));
	char(*names)[16] = calloc((size_t)nfn, sizeof(*names));
	struct storage_writer *w;
	int rc = -1;

	if (!fns || !fs || !es || !ns || !names ||
	    storage_writer_create(conn, &w) != 0)
		goto out;
	for (long k = 0; k < nfn; k++) {
		uint64_t self = (uint64_t)(1000 + (k * 7919) % 50000);
		snprintf(names[k], sizeof(names[k]), "fn_%04d",
			 (int)(k % 100000));
		fns[k] = (struct wire_fn){(uint32_t)k + 1, names[k],
					  "src/synthetic.c", (uint32_t)k + 1,
					  "bench"};
		fs[k] = (struct wire_fstat){(uint32_t)k + 1, 10 + (uint64_t)k,
					    10 + (uint64_t)k, self * 10,
					    self * 40};
		ns[k] = (struct wire_node){
			(uint32_t)k + 1, k == 0 ? 0 : (uint32_t)(k - 1) / 4 + 1,
			(uint32_t)k + 1, 10 + (uint64_t)k,
			self * 10,	 self * 40};
		if (k > 0)
			es[k - 1] =
				(struct wire_edge){(uint32_t)(k - 1) / 4 + 1,
						   (uint32_t)k + 1,
						   10 + (uint64_t)k,
						   10 + (uint64_t)k,
						   self * 10,
						   self * 40};
	}
	for (long h = 0; h < hosts; h++) {
		char host[32];
		struct wire_batch b;
		struct storage_merge_item item = {&b, 0, 0};

		snprintf(host, sizeof(host), "host-%02ld", h);
		memset(&b, 0, sizeof(b));
		b.version = WIRE_VERSION;
		b.agent.id[0] = (uint8_t)h;
		b.agent.id[1] = 0xbe;
		b.agent.host = host;
		b.agent.service = h % 2 ? "api" : "worker";
		b.agent.lang = "c";
		b.agent.pid = 100 + (uint32_t)h;
		b.agent.start_ns = t - 3600 * FP_NS_PER_SEC;
		b.seq = 1;
		b.t0 = t;
		b.t1 = t + 50 * FP_NS_PER_SEC;
		b.clock = WIRE_CLOCK_WALL;
		b.fns = fns;
		b.nfns = (uint32_t)nfn;
		b.fstats = fs;
		b.nfstats = (uint32_t)nfn;
		b.edges = es;
		b.nedges = (uint32_t)nfn - 1;
		b.nodes = ns;
		b.nnodes = (uint32_t)nfn;
		if (storage_merge(w, &item, 1, NULL) != 0)
			goto out_writer;
	}
	rc = 0;
out_writer:
	storage_writer_destroy(w); /* closes conn */
out:
	free(fns);
	free(fs);
	free(es);
	free(ns);
	free(names);
	return rc;
}

/* The template rows, repeated over every bucket of each tier. */
static int expand(PGconn *c, long raw_hours, long days)
{
	/* Table, its columns, its key, its values summed. */
	static const char *const tables[][4] = {
		{"fn_stats",
		 "series_id, fn_id, ncalls, pcalls, tottime_ns, cumtime_ns",
		 "series_id, fn_id",
		 "sum(ncalls), sum(pcalls), sum(tottime_ns), sum(cumtime_ns)"},
		{"edge_stats",
		 "series_id, caller_id, callee_id, ncalls, pcalls, "
		 "tottime_ns, cumtime_ns",
		 "series_id, caller_id, callee_id",
		 "sum(ncalls), sum(pcalls), sum(tottime_ns), sum(cumtime_ns)"},
		{"stack_stats",
		 "series_id, stack_id, ncalls, self_ns, total_ns",
		 "series_id, stack_id",
		 "sum(ncalls), sum(self_ns), sum(total_ns)"},
	};
	char q[1024];

	if (sql(c, "SELECT fleetprof_ensure_partitions(current_date - "
		   "(SELECT 8), current_date + 1)") != 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		const char *t = tables[i][0], *cols = tables[i][1];
		snprintf(q, sizeof(q),
			 "CREATE TEMP TABLE tpl_%s AS SELECT %s FROM %s; "
			 "TRUNCATE %s_raw, %s_delta, %s_rollup, %s_rollup_1d, "
			 "%s_rollup_10m",
			 t, cols, t, t, t, t, t, t);
		if (sql(c, q) != 0)
			return -1;
		snprintf(q, sizeof(q),
			 "INSERT INTO %s_raw SELECT b, %s FROM tpl_%s, "
			 "generate_series(date_trunc('minute', now()) - "
			 "interval '%ld hours', date_trunc('minute', now()), "
			 "interval '1 minute') b ORDER BY b",
			 t, cols, t, raw_hours);
		if (sql(c, q) != 0)
			return -1;
		/* The 10 min tier over the raw hours, as the roller leaves
		 * it: every bucket before the one the current hour's cover
		 * (below) is in. */
		snprintf(
			q, sizeof(q),
			"INSERT INTO %s_rollup_10m SELECT b, %s FROM tpl_%s, "
			"generate_series(date_bin('10 minutes', now() - "
			"interval '%ld hours', timestamptz '2000-01-01 "
			"00:00+00'), date_bin('10 minutes', greatest("
			"date_trunc('hour', now()), date_trunc('minute', now() "
			"- interval '2 minutes')), timestamptz '2000-01-01 "
			"00:00+00') - interval '10 minutes', "
			"interval '10 minutes') b ORDER BY b",
			t, cols, t, raw_hours);
		if (sql(c, q) != 0)
			return -1;
		/* An hour of the rollup is 60 raw buckets: the same rows. */
		snprintf(q, sizeof(q),
			 "INSERT INTO %s_rollup SELECT b, %s FROM tpl_%s, "
			 "generate_series(date_trunc('hour', now()) - "
			 "interval '%ld days', date_trunc('hour', now()), "
			 "interval '1 hour') b ORDER BY b",
			 t, cols, t, days);
		if (sql(c, q) != 0)
			return -1;
		/* And a day of the 1 d tier is its hours summed, for the
		 * days that ended (the roller's; the current one is read
		 * from the hours). */
		snprintf(q, sizeof(q),
			 "INSERT INTO %s_rollup_1d SELECT date_bin('1 day', "
			 "bucket, timestamptz '2000-01-01 00:00+00'), %s, %s "
			 "FROM %s_rollup WHERE bucket < date_bin('1 day', "
			 "now(), "
			 "timestamptz '2000-01-01 00:00+00') GROUP BY 1, %s "
			 "ORDER BY 1, %s",
			 t, tables[i][2], tables[i][3], t, tables[i][2],
			 tables[i][2]);
		if (sql(c, q) != 0)
			return -1;
	}
	/* The ledger as the collector leaves it (pruned with raw, by whole
	 * days): a batch per host and minute, as if each host flushed once a
	 * minute, from the start of the oldest day raw keeps (the minutes
	 * before BENCH_RAW_HOURS are in the rollup tier only). */
	snprintf(q, sizeof(q),
		 "INSERT INTO ingested_batches (agent_id, seq, series_id, pid, "
		 "t0, t1, dropped, nfns) SELECT ib.agent_id, "
		 "1000000 + extract(epoch FROM b)::bigint / 60, ib.series_id, "
		 "ib.pid, b, b + interval '10 seconds', 0, ib.nfns FROM "
		 "(SELECT DISTINCT ON (series_id) * FROM ingested_batches) ib, "
		 "generate_series(date_trunc('day', now() - interval "
		 "'%ld hours'), date_trunc('minute', now()), interval "
		 "'1 minute') b",
		 raw_hours);
	if (sql(c, q) != 0)
		return -1;
	/* Retention of BENCH_RAW_HOURS: no raw or ledger partition wholly
	 * older than it. */
	for (int i = 0; i < 4; i++) {
		static const char *const raw[] = {
			"fn_stats_raw", "edge_stats_raw", "stack_stats_raw",
			"ingested_batches"};
		snprintf(q, sizeof(q),
			 "SELECT fleetprof_drop_partitions('%s', now() - "
			 "interval '%ld hours')",
			 raw[i], raw_hours);
		if (sql(c, q) != 0)
			return -1;
	}
	/* As the roller leaves them: the current hour rolled up to two
	 * minutes ago, the minutes since read from raw. */
	if (sql(c, "TRUNCATE rollup_dirty, rollup_dirty_1d, rollup_cover; "
		   "INSERT INTO rollup_cover SELECT h, greatest(h, "
		   "date_bin('1 minute', now() - interval '2 minutes', o)) "
		   "FROM (SELECT date_bin('1 hour', now(), o) AS h, o FROM "
		   "(SELECT timestamptz '2000-01-01 00:00+00' AS o) x) y") != 0)
		return -1;
	/* The running sums, as the roller leaves them (schema 010): within
	 * each day a point after each whole hour before the current one,
	 * within each week (from Monday) one after each ended day. */
	snprintf(q, sizeof(q),
		 "SELECT sum(fleetprof_rollup_running(d)) FROM "
		 "generate_series(date_bin('1 day', now() - interval '%ld "
		 "days', timestamptz '2000-01-01 00:00+00'), now(), interval "
		 "'1 day') d",
		 days);
	if (sql(c, q) != 0)
		return -1;
	snprintf(q, sizeof(q),
		 "SELECT sum(fleetprof_rollup_running_days(w)) FROM "
		 "generate_series(date_bin('7 days', now() - interval '%ld "
		 "days', timestamptz '2000-01-03 00:00+00'), now(), interval "
		 "'7 days') w",
		 days + 1);
	if (sql(c, q) != 0)
		return -1;
	return sql(c, "VACUUM ANALYZE");
}

/* Runs the binary with stdout to /dev/null (stderr to errpath if set);
 * returns wall ms, or -1. */
static double run(char *const argv[], const char *errpath)
{
	posix_spawn_file_actions_t fa;
	int64_t t0 = fp_mono_ns();
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2,
					 errpath ? errpath : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return -1;
	return (double)(fp_mono_ns() - t0) / 1e6;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The scans of the plan and PostgreSQL's execution times, one line. */
static void plan_summary(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t o = 0;
	double exec = 0;

	out[0] = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = strstr(line, "Scan"), *on, *ex;
		if ((ex = strstr(line, "Execution Time: ")) != NULL)
			exec += strtod(ex + 16, NULL);
		if (p == NULL || strstr(line, "->") == NULL)
			continue;
		p = strstr(line, "-> ") + 3;
		on = strstr(p, " on ");
		if (on == NULL)
			continue;
		/* "Index Scan using x on fn_stats_1h_p20261124 s": keep the
		 * node type and the table's parent name. */
		{
			char type[64], table[64], *u;
			size_t tl = (size_t)(strstr(p, "Scan") + 4 - p);
			snprintf(type, sizeof(type), "%.*s", (int)tl, p);
			sscanf(on + 4, "%63s", table);
			if ((u = strstr(table, "_p2")) != NULL)
				*u = '\0';
			snprintf(line, sizeof(line), "%s %s", type, table);
		}
		if (strstr(out, line) == NULL && o + strlen(line) + 3 < len)
			o += (size_t)snprintf(out + o, len - o, "%s%s",
					      o ? "; " : "", line);
	}
	fclose(f);
	if (o + 32 < len)
		snprintf(out + o, len - o, " [pg %.1f ms]", exec);
}

int main(int argc, char **argv)
{
	const long hosts = env_long("BENCH_HOSTS", 20);
	const long nfn = env_long("BENCH_FNS", 500);
	const long raw_hours = env_long("BENCH_RAW_HOURS", 24);
	const long days = env_long("BENCH_DAYS", 7);
	static const char *const cmds[][3] = {
		{"top", NULL, NULL},
		{"callers", "fn_0005", NULL},
		{"diff", "--base-offset", "1d"},
		{"flame", NULL, NULL},
	};
	static const char *const windows[] = {"15m", "1h", "24h", "7d"};
	const char *url = getenv("FLEETPROF_BENCH_DB");
	char bin[1024], errpath[] = "/tmp/fp_bench_query_XXXXXX";
	char errbuf[256];
	PGconn *conn;
	int64_t t0;
	int fd;

	if (argc < 2 || url == NULL || *url == '\0') {
		fprintf(stderr, "usage: FLEETPROF_BENCH_DB=URL bench/query "
				"BUILD/bin/fleetprof\n"
				"(URL: a scratch database; it is emptied)\n");
		return 2;
	}
	snprintf(bin, sizeof(bin), "%s", argv[1]);
	if (storage_connect(url, &conn, errbuf, sizeof(errbuf)) != 0) {
		fprintf(stderr, "bench/query: %s\n", errbuf);
		return 1;
	}
	if (storage_migrate(conn) != 0 ||
	    sql(conn, "TRUNCATE series, functions, stacks, ingested_batches, "
		      "fn_stats_raw, edge_stats_raw, stack_stats_raw, "
		      "fn_stats_delta, edge_stats_delta, stack_stats_delta, "
		      "fn_stats_rollup, "
		      "edge_stats_rollup, stack_stats_rollup, "
		      "fn_stats_rollup_1d, edge_stats_rollup_1d, "
		      "stack_stats_rollup_1d, fn_stats_rollup_10m, "
		      "edge_stats_rollup_10m, stack_stats_rollup_10m, "
		      "rollup_dirty, "
		      "rollup_dirty_1d, rollup_cover, fn_stats_running, "
		      "edge_stats_running, stack_stats_running, "
		      "running_points") != 0) {
		PQfinish(conn);
		return 1;
	}
	t0 = fp_mono_ns();
	if (load_templates(conn, hosts, nfn,
			   storage_bucket_floor(fp_wall_ns()) -
				   120 * FP_NS_PER_SEC) != 0)
		return 1;
	if (storage_connect(url, &conn, errbuf, sizeof(errbuf)) != 0 ||
	    expand(conn, raw_hours, days) != 0)
		return 1;
	{
		PGresult *r =
			PQexec(conn, "SELECT (SELECT count(*) FROM fn_stats), "
				     "(SELECT count(*) FROM fn_stats_rollup), "
				     "(SELECT count(*) FROM stack_stats), "
				     "pg_size_pretty(pg_database_size("
				     "current_database()))");
		printf("fleet: %ld hosts x %ld functions (%ld edges, %ld "
		       "paths each); raw %ld h, rollup %ld d\n",
		       hosts, nfn, nfn - 1, nfn, raw_hours, days);
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			printf("rows: fn_stats %s, fn_stats_1h %s, stack_stats "
			       "%s (edges alike); database %s; loaded in %.0f "
			       "s\n",
			       PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
			       PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
			       (double)(fp_mono_ns() - t0) / 1e9);
		PQclear(r);
	}
	/* The running sums (schema 010) against 006's span, which reads
	 * every day and hour: the same totals over each window. */
	for (int k = 0; k < 2; k++) {
		static const char *const cmp[] = {"fn_stats", "stack_stats"};
		static const long hours[] = {24, 7 * 24};
		char q[1024];
		PGresult *r;
		snprintf(q, sizeof(q),
			 "WITH w AS (SELECT (extract(epoch FROM now())::bigint "
			 "/ 3600 + 1) * 3600 AS b) SELECT (SELECT "
			 "sum(ncalls)::text FROM %s_sum(w.b - %ld, w.b)), "
			 "(SELECT sum(ncalls)::text FROM %s_span(w.b - %ld, "
			 "w.b)) FROM w",
			 cmp[k], hours[k] * 3600, cmp[k], hours[k] * 3600);
		r = PQexec(conn, q);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			printf("%s %ld h: running sums %s calls, span %s: "
			       "%s\n",
			       cmp[k], hours[k], PQgetvalue(r, 0, 0),
			       PQgetvalue(r, 0, 1),
			       strcmp(PQgetvalue(r, 0, 0),
				      PQgetvalue(r, 0, 1)) == 0
				       ? "MATCH"
				       : "DIFFER");
		PQclear(r);
	}
	printf("\n");
	PQfinish(conn);
	setenv("FLEETPROF_DB", url, 1);
	fd = mkstemp(errpath);
	if (fd < 0)
		return 1;
	close(fd);
	printf("%-8s %-6s %8s %8s  %s\n", "command", "window", "cold ms",
	       "warm ms", "plan (scans) [PostgreSQL execution time]");
	{
		/* The floor, measured the same way: `top` over an empty
		 * minute a day ahead (process start, connection, role,
		 * snapshot, the window's hosts; no facts read). */
		char from[40], until[40];
		char *av[] = {bin,   "top",	 "--from", from, "--until",
			      until, "--format", "csv",	   NULL};
		double fl[5];
		int64_t t = storage_bucket_floor(fp_wall_ns()) +
			    86400 * FP_NS_PER_SEC;
		fp_format_time(t, from, sizeof(from));
		fp_format_time(t + 60 * FP_NS_PER_SEC, until, sizeof(until));
		for (int k = 0; k < 5; k++)
			fl[k] = run(av, NULL);
		qsort(fl, 5, sizeof(double), dcmp);
		printf("%-8s %-6s %8s %8.1f  %s\n", "floor", "-", "-", fl[2],
		       "(top on an empty minute: process, connection, "
		       "session)");
	}
	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]);
		     w++) {
			char *av[12];
			int n = 0;
			double cold, warm[5], plan_ms;
			char plan[600];

			av[n++] = bin;
			av[n++] = (char *)cmds[c][0];
			for (int k = 1; k < 3 && cmds[c][k]; k++)
				av[n++] = (char *)cmds[c][k];
			av[n++] = "--since";
			av[n++] = (char *)windows[w];
			av[n++] = "--format";
			av[n++] = "csv";
			av[n] = NULL;
			cold = run(av, NULL);
			for (int k = 0; k < 5; k++)
				warm[k] = run(av, NULL);
			qsort(warm, 5, sizeof(double), dcmp);
			av[n++] = "--explain";
			av[n] = NULL;
			plan_ms = run(av, errpath);
			(void)plan_ms;
			plan_summary(errpath, plan, sizeof(plan));
			printf("%-8s %-6s %8.1f %8.1f  %s\n", cmds[c][0],
			       windows[w], cold, warm[2], plan);
			fflush(stdout);
		}
	}
	unlink(errpath);
	printf("\ncold: first run of the command (new process and "
	       "connection; the OS page cache is not dropped)\n"
	       "warm: median of the next 5; both include process start "
	       "and connecting\n");
	return 0;
}
