/*
 * bench_ingest: the collector's write path against bare COPY on the same
 * PostgreSQL. bench/run makes a fresh database and starts a collector; this
 * measures the floor, drives fleetprof-loadgen (steady, then saturating),
 * samples the collector's RSS, checks database totals against the acks and
 * extrapolates storage per function per host per day.
 */
#include "fp/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLOOR_MAX_ROWS 10000000ull

struct opts {
	const char *db;
	const char *collector;
	const char *collector_log;
	const char *loadgen;
	const char *metrics; /* http://host:port/path or NULL */
	const char *tmp;
	pid_t pid;
	unsigned agents, functions, edges, paths, threads;
	double interval, duration, saturate;
};

struct rss {
	long start_kb, mid_kb, end_kb, max_kb;
};

/* ---- small helpers ---- */

static int parse_ul(const char *s, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_d(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return errno != 0 || end == s || *end != '\0' || *out < 0 ? -1 : 0;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static PGconn *db_connect(const char *url)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "bench_ingest: cannot connect: %s",
			PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

static int db_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
		 PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "bench_ingest: %s: %s", sql,
			PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* First column of the first row as a 64-bit integer; -1 on error/NULL. */
static long long db_i64(PGconn *c, const char *sql, const char *param)
{
	const char *p[1] = {param};
	PGresult *r =
		PQexecParams(c, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
	long long v = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
	    !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "bench_ingest: %s: %s", sql,
			PQresultErrorMessage(r));
	PQclear(r);
	return v;
}

/* ---- the floor: bare COPY of fn_stats-shaped rows ---- */

static int copy_rows(PGconn *c, unsigned long long rows, double *secs)
{
	const size_t cap = 1u << 20;
	char *buf = malloc(cap);
	size_t len = 0;
	uint64_t rng = 88172645463325252ull;
	int64_t t0;
	PGresult *r;
	int rc = -1;

	if (buf == NULL)
		return -1;
	t0 = fp_mono_ns();
	r = PQexec(c, "COPY bench_floor FROM STDIN");
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		fprintf(stderr, "bench_ingest: COPY: %s",
			PQresultErrorMessage(r));
		PQclear(r);
		goto out;
	}
	PQclear(r);
	for (unsigned long long i = 0; i < rows; i++) {
		int n;
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (cap - len < 256) {
			if (PQputCopyData(c, buf, (int)len) != 1)
				break;
			len = 0;
		}
		n = snprintf(buf + len, cap - len,
			     "2026-01-01 00:%02llu:00+00\t%lld\t%lld\t%llu\t"
			     "%llu\t%llu\t%llu\n",
			     i % 60, (long long)(rng >> 1),
			     (long long)((rng * 31) >> 1),
			     (unsigned long long)(rng % 2000),
			     (unsigned long long)(rng % 1900),
			     (unsigned long long)(rng % 40000000),
			     (unsigned long long)(rng % 90000000));
		len += (size_t)n;
	}
	if ((len > 0 && PQputCopyData(c, buf, (int)len) != 1) ||
	    PQputCopyEnd(c, NULL) != 1)
		goto out;
	r = PQgetResult(c);
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = 0;
	else
		fprintf(stderr, "bench_ingest: COPY: %s",
			PQresultErrorMessage(r));
	PQclear(r);
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	*secs = (double)(fp_mono_ns() - t0) / 1e9;
out:
	free(buf);
	return rc;
}

static double floor_rows_per_s(const struct opts *o, unsigned long long rows)
{
	PGconn *c = db_connect(o->db);
	double secs = 0, rate = 0;
	if (c == NULL)
		return 0;
	if (db_exec(c, "DROP TABLE IF EXISTS bench_floor") == 0 &&
	    db_exec(c, "CREATE UNLOGGED TABLE bench_floor (bucket "
		       "timestamptz, series_id bigint, fn_id bigint, ncalls "
		       "bigint, pcalls bigint, tottime_ns bigint, cumtime_ns "
		       "bigint)") == 0 &&
	    copy_rows(c, rows, &secs) == 0 && secs > 0)
		rate = (double)rows / secs;
	db_exec(c, "DROP TABLE IF EXISTS bench_floor");
	PQfinish(c);
	printf("floor: COPY of %llu fn_stats-shaped rows (text, client "
	       "formatting included) into an UNLOGGED table without "
	       "indexes: %.2f s, %.0f rows/s\n",
	       rows, secs, rate);
	return rate;
}

/* ---- the load generator ---- */

static void sample_rss(struct rss *m, long kb)
{
	if (kb > m->max_kb)
		m->max_kb = kb;
	m->end_kb = kb;
}

/* Runs the loadgen; samples the collector's RSS every second (middle: at
 * half the duration). Returns the parsed JSON report or NULL. */
static json_t *run_loadgen(const struct opts *o, const char *service,
			   double interval, double duration, int timeout_ms,
			   struct rss *m)
{
	char a[9][32], json_path[1024], out_path[1024];
	char *argv[40];
	json_error_t jerr;
	int64_t start, last = 0;
	int k = 0, status, mid_done = 0;
	pid_t pid;

	snprintf(json_path, sizeof(json_path), "%s/loadgen-%s.json", o->tmp,
		 service);
	snprintf(out_path, sizeof(out_path), "%s/loadgen-%s.txt", o->tmp,
		 service);
	unlink(json_path);
	snprintf(a[0], 32, "%u", o->agents);
	snprintf(a[1], 32, "%u", o->functions);
	snprintf(a[2], 32, "%u", o->edges);
	snprintf(a[3], 32, "%u", o->paths);
	snprintf(a[4], 32, "%g", interval);
	snprintf(a[5], 32, "%g", duration);
	snprintf(a[6], 32, "%u", o->threads);
	snprintf(a[7], 32, "%d", timeout_ms);
	snprintf(a[8], 32, "%d", duration > 60 ? 30 : 10);
	argv[k++] = (char *)o->loadgen;
	argv[k++] = "--collector";
	argv[k++] = (char *)o->collector;
	argv[k++] = "--service";
	argv[k++] = (char *)service;
	argv[k++] = "--agents";
	argv[k++] = a[0];
	argv[k++] = "--functions";
	argv[k++] = a[1];
	argv[k++] = "--edges";
	argv[k++] = a[2];
	argv[k++] = "--paths";
	argv[k++] = a[3];
	argv[k++] = "--interval";
	argv[k++] = a[4];
	argv[k++] = "--duration";
	argv[k++] = a[5];
	argv[k++] = "--threads";
	argv[k++] = a[6];
	argv[k++] = "--timeout-ms";
	argv[k++] = a[7];
	argv[k++] = "--progress";
	argv[k++] = a[8];
	argv[k++] = "--report-json";
	argv[k++] = json_path;
	argv[k] = NULL;

	fflush(stdout);
	start = fp_mono_ns();
	pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			close(fd);
		}
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		int64_t now = fp_mono_ns();
		if (w == pid)
			break;
		if (w < 0)
			return NULL;
		if (now - last >= FP_NS_PER_SEC) {
			long kb = rss_kb(o->pid);
			sample_rss(m, kb);
			if (!mid_done &&
			    now - start >= (int64_t)(duration * 5e8)) {
				m->mid_kb = kb;
				mid_done = 1;
			}
			last = now;
		}
		fp_sleep_ns(50 * FP_NS_PER_MS);
	}
	sample_rss(m, rss_kb(o->pid));
	if (!WIFEXITED(status) ||
	    (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3)) {
		fprintf(stderr, "bench_ingest: loadgen failed (status %d)\n",
			status);
		return NULL;
	}
	json_t *j = json_load_file(json_path, 0, &jerr);
	if (j == NULL)
		fprintf(stderr, "bench_ingest: %s: %s\n", json_path, jerr.text);
	return j;
}

static double jnum(json_t *j, const char *key)
{
	return json_number_value(json_object_get(j, key));
}

static long long jint(json_t *j, const char *key)
{
	return (long long)json_integer_value(json_object_get(j, key));
}

/* ---- commit latency from the collector's /metrics, when it has one ---- */

static char *http_get(const char *url)
{
	char host[64], req[256], *buf;
	const char *p, *path;
	size_t len = 0, cap = 1 << 20;
	unsigned long port = 80;
	struct sockaddr_in sa;
	int fd;

	if (strncmp(url, "http://", 7) != 0)
		return NULL;
	p = url + 7;
	path = strchr(p, '/');
	if (path == NULL)
		path = "/metrics";
	{
		const char *colon = memchr(p, ':', (size_t)(path - p));
		size_t hl = (size_t)((colon ? colon : path) - p);
		char ps[16];
		if (hl >= sizeof(host))
			return NULL;
		memcpy(host, p, hl);
		host[hl] = '\0';
		if (colon != NULL) {
			size_t pl = (size_t)(path - colon - 1);
			if (pl == 0 || pl >= sizeof(ps))
				return NULL;
			memcpy(ps, colon + 1, pl);
			ps[pl] = '\0';
			if (parse_ul(ps, 65535, &port) != 0)
				return NULL;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return NULL;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return NULL;
	{
		struct timeval tv = {5, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return NULL;
	}
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
		 path, host);
	if (write(fd, req, strlen(req)) < 0 || (buf = malloc(cap)) == NULL) {
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len + 1 >= cap)
			break;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* Prometheus-style quantile of the cumulative *commit_duration_seconds
 * histogram (linear inside a bucket); -1 when absent. */
static double commit_quantile(const char *text, double q)
{
	double le[64], cum[64], total, rank;
	int n = 0;
	const char *p = text;

	while ((p = strstr(p, "commit_duration_seconds_bucket{le=\"")) &&
	       n < 64) {
		char *end;
		p += strlen("commit_duration_seconds_bucket{le=\"");
		le[n] = strncmp(p, "+Inf", 4) == 0 ? -1 : strtod(p, &end);
		p = strchr(p, '}');
		if (p == NULL)
			break;
		cum[n++] = strtod(p + 1, &end);
	}
	if (n == 0 || (total = cum[n - 1]) <= 0)
		return -1;
	rank = q * total;
	for (int i = 0; i < n; i++) {
		if (cum[i] >= rank) {
			double lo = i > 0 ? le[i - 1] : 0;
			double prev = i > 0 ? cum[i - 1] : 0;
			if (le[i] < 0)
				return lo; /* beyond the last bound */
			if (cum[i] == prev)
				return le[i];
			return lo +
			       (le[i] - lo) * (rank - prev) / (cum[i] - prev);
		}
	}
	return -1;
}

/* The value of the first sample whose name ends in suffix ("absent"). */
static void metric_sample(const char *text, const char *suffix, char *out,
			  size_t len)
{
	size_t sl = strlen(suffix);
	snprintf(out, len, "absent");
	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t name = strcspn(line, " {\n");
		if (line[0] != '#' && name >= sl && line[name] == ' ' &&
		    memcmp(line + name - sl, suffix, sl) == 0) {
			snprintf(out, len, "%.*s",
				 (int)strcspn(line + name + 1, "\n"),
				 line + name + 1);
			return;
		}
		line = eol != NULL ? eol + 1 : NULL;
	}
}

/* ---- collector stop and its log ---- */

static void stop_collector(const struct opts *o)
{
	char line[1024];
	FILE *f;
	int errors = 0, warnings = 0, shown = 0;

	kill(o->pid, SIGTERM);
	for (int i = 0; i < 600 && kill(o->pid, 0) == 0; i++) {
		/* bench/run is the parent: a zombie still answers kill 0 */
		char path[64], st[256];
		FILE *s;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)o->pid);
		if ((s = fopen(path, "r")) == NULL)
			break;
		st[0] = '\0';
		if (fgets(st, sizeof(st), s) == NULL)
			st[0] = '\0';
		fclose(s);
		if (strstr(st, ") Z ") != NULL)
			break;
		fp_sleep_ns(50 * FP_NS_PER_MS);
	}
	if (o->collector_log == NULL ||
	    (f = fopen(o->collector_log, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		int err = strncmp(line, "<3>", 3) == 0 ||
			  strncmp(line, "<2>", 3) == 0;
		int warn = strncmp(line, "<4>", 3) == 0;
		errors += err;
		warnings += warn;
		if ((err || warn) && shown < 5) {
			printf("collector log: %s", line);
			shown++;
		}
		if (strstr(line, "stopped:") != NULL)
			printf("collector at SIGTERM: %s", line);
	}
	fclose(f);
	printf("collector log: %d error line(s), %d warning line(s) (%s)\n",
	       errors, warnings, o->collector_log);
}

/* ---- database checks ---- */

static const char sum_sql[] =
	"SELECT coalesce(sum(f.ncalls), 0) FROM fn_stats f JOIN series s "
	"ON s.id = f.series_id WHERE s.service = $1";
/* The same, from the folded raw tier only. */
static const char raw_sum_sql[] =
	"SELECT coalesce(sum(f.ncalls), 0) FROM fn_stats_raw f JOIN series s "
	"ON s.id = f.series_id WHERE s.service = $1";

static int check_totals(PGconn *c, const char *service, json_t *rep)
{
	long long db = db_i64(c, sum_sql, service);
	long long acked = jint(rep, "ncalls_acked");
	int ok = db == acked && jint(rep, "batches_unacked") == 0 &&
		 jint(rep, "batches_rejected") == 0;
	if (db < 0) {
		printf("totals (%s): database query failed\n", service);
		return -1;
	}
	printf("totals (%s): database sum(ncalls) %lld, loadgen acked %lld: "
	       "%s (batches sent %lld, acked %lld, dup %lld, rejected %lld, "
	       "unacked %lld, resends %lld)\n",
	       service, db, acked, db == acked ? "MATCH" : "MISMATCH",
	       jint(rep, "batches_sent"), jint(rep, "batches_acked"),
	       jint(rep, "batches_dup"), jint(rep, "batches_rejected"),
	       jint(rep, "batches_unacked"), jint(rep, "resends"));
	return ok ? 0 : -1;
}

static long long table_bytes(PGconn *c, const char *table)
{
	return db_i64(c,
		      "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) "
		      "FROM pg_partition_tree($1::regclass) WHERE isleaf",
		      table);
}

/* The raw tier as stored (schema 007): one row per key once folded. */
static const char *const raw_tables[3] = {"fn_stats_raw", "edge_stats_raw",
					  "stack_stats_raw"};

/* 1 while rows appended by the collector's writers are not folded into
 * raw yet, 0 once none is left. */
static long long delta_rows(PGconn *c)
{
	return db_i64(c,
		      "SELECT (EXISTS (SELECT 1 FROM fn_stats_delta) OR "
		      "EXISTS (SELECT 1 FROM edge_stats_delta) OR "
		      "EXISTS (SELECT 1 FROM stack_stats_delta))::int + 0 * "
		      "length($1)",
		      "");
}

/* Waits until the collector has folded every appended row into raw;
 * seconds waited, or < 0 after `limit` seconds. */
static double wait_folded(PGconn *c, double limit, long long *left)
{
	int64_t t0 = fp_mono_ns();
	for (;;) {
		double s = (double)(fp_mono_ns() - t0) / 1e9;
		*left = delta_rows(c);
		if (*left == 0)
			return s;
		if (*left < 0 || s > limit)
			return -1;
		/* Not often: a reader of the delta tables makes a fold's
		 * TRUNCATE wait. */
		usleep(1000 * 1000);
	}
}

/* A counter of the collector's /metrics (suffix of its name), -1 without.
 */
static double metric_num(const struct opts *o, const char *suffix)
{
	char *m = o->metrics ? http_get(o->metrics) : NULL;
	char v[32];
	double n = -1;
	if (m != NULL) {
		metric_sample(m, suffix, v, sizeof(v));
		if (strcmp(v, "absent") != 0)
			n = strtod(v, NULL);
	}
	free(m);
	return n;
}

/* Waits for the last fold; returns the seconds the folds took from the
 * last ack until the delta tables were empty (fold_seconds_total), or the
 * wall time waited without /metrics; < 0 if they did not empty. */
static double fold_report(PGconn *c, const struct opts *o, const char *phase)
{
	long long left;
	double f0 = metric_num(o, "fold_seconds_total"), f1;
	double s = wait_folded(c, 150, &left);
	if (s < 0) {
		printf("fold (%s): rows still in the delta tables after 150 s "
		       "(%lld)\n",
		       phase, left);
		return s;
	}
	f1 = metric_num(o, "fold_seconds_total");
	printf("fold (%s): the delta tables were empty %.1f s after the last "
	       "ack (folds run at each minute + fold_delay, 12 s by default)",
	       phase, s);
	if (f0 >= 0 && f1 >= 0) {
		printf("; the folds in that time took %.1f s\n", f1 - f0);
		return f1 - f0;
	}
	printf("\n");
	return s;
}

static void storage_report(PGconn *c, const struct opts *o, const char *service,
			   const char *label)
{
	long long bytes[3], rows[3], total = 0, hosts;
	char sql[256];
	double per_day, fn_only;

	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM %s t JOIN series s ON s.id = "
			 "t.series_id WHERE s.service = $1",
			 raw_tables[i]);
		rows[i] = db_i64(c, sql, service);
		bytes[i] = table_bytes(c, raw_tables[i]);
		total += bytes[i];
	}
	hosts = db_i64(c,
		       "SELECT count(DISTINCT host) FROM series "
		       "WHERE service = $1",
		       service);
	if (rows[0] <= 0 || hosts <= 0)
		return;
	/* One fn_stats row per function, host and 60 s bucket covered: the
	 * rows are functions x hosts x (fraction of a day x 1440). */
	per_day = (double)total / (double)rows[0] * 1440.0;
	fn_only = (double)bytes[0] / (double)rows[0] * 1440.0;
	printf("storage %s: fn_stats %lld rows %.1f MB, edge_stats %lld rows "
	       "%.1f MB, stack_stats %lld rows %.1f MB (%.0f bytes/row "
	       "overall)\n",
	       label, rows[0], bytes[0] / 1e6, rows[1], bytes[1] / 1e6, rows[2],
	       bytes[2] / 1e6,
	       (double)total / (double)(rows[0] + rows[1] + rows[2]));
	printf("storage %s: per function per host per day at 60 s buckets = "
	       "size of fn+edge+stack partitions %lld B / fn_stats rows %lld "
	       "(= functions x hosts x buckets covered) x 1440 = %.0f B "
	       "(%.1f KB; fn_stats alone %.0f B) -> %.1f GB/day for %u "
	       "functions x %lld hosts\n",
	       label, total, rows[0], per_day, per_day / 1024, fn_only,
	       per_day * o->functions * hosts / 1e9, o->functions, hosts);
}

/* ---- main ---- */

static void usage(void)
{
	fputs("usage: bench_ingest --db URL --collector URL --collector-pid "
	      "PID --loadgen PATH [--collector-log FILE] [--metrics URL]\n"
	      "  [--tmp DIR] [--agents N] [--functions M] [--edges E] "
	      "[--paths P]\n"
	      "  [--interval S] [--duration S] [--threads T] "
	      "[--saturate S]\n",
	      stderr);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	unsigned long v;
	memset(o, 0, sizeof(*o));
	o->tmp = "/tmp";
	o->agents = 200;
	o->functions = 300;
	o->edges = 600;
	o->paths = 1000;
	o->threads = 4;
	o->interval = 10;
	o->duration = 60;
	o->saturate = 20;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *s = argv[i + 1];
		int e = 0;
		if (strcmp(a, "--db") == 0)
			o->db = s;
		else if (strcmp(a, "--collector") == 0)
			o->collector = s;
		else if (strcmp(a, "--collector-log") == 0)
			o->collector_log = s;
		else if (strcmp(a, "--loadgen") == 0)
			o->loadgen = s;
		else if (strcmp(a, "--metrics") == 0)
			o->metrics = s[0] ? s : NULL;
		else if (strcmp(a, "--tmp") == 0)
			o->tmp = s;
		else if (strcmp(a, "--collector-pid") == 0) {
			e = parse_ul(s, 1u << 30, &v);
			o->pid = (pid_t)v;
		} else if (strcmp(a, "--agents") == 0) {
			e = parse_ul(s, 1000000, &v);
			o->agents = (unsigned)v;
		} else if (strcmp(a, "--functions") == 0) {
			e = parse_ul(s, 1000000, &v);
			o->functions = (unsigned)v;
		} else if (strcmp(a, "--edges") == 0) {
			e = parse_ul(s, 1000000, &v);
			o->edges = (unsigned)v;
		} else if (strcmp(a, "--paths") == 0) {
			e = parse_ul(s, 1000000, &v);
			o->paths = (unsigned)v;
		} else if (strcmp(a, "--threads") == 0) {
			e = parse_ul(s, 256, &v);
			o->threads = (unsigned)v;
		} else if (strcmp(a, "--interval") == 0)
			e = parse_d(s, &o->interval);
		else if (strcmp(a, "--duration") == 0)
			e = parse_d(s, &o->duration);
		else if (strcmp(a, "--saturate") == 0)
			e = parse_d(s, &o->saturate);
		else
			e = -1;
		if (e != 0) {
			fprintf(stderr, "bench_ingest: bad option %s %s\n", a,
				s);
			return -1;
		}
	}
	if (o->db == NULL || o->collector == NULL || o->loadgen == NULL ||
	    o->pid <= 0 || o->agents == 0 || o->functions == 0 ||
	    o->duration <= 0 || o->interval <= 0) {
		usage();
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct rss steady_rss = {0}, sat_rss = {0};
	unsigned long long expect, floor_n;
	double floor_rate, e2e, sat = 0, flushes;
	json_t *steady, *satj = NULL;
	PGconn *c;
	char *metrics = NULL;
	int rc = 0;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	flushes = o.duration / o.interval;
	expect = (unsigned long long)((double)o.agents *
				      (o.functions + o.edges + o.paths) *
				      (flushes < 1 ? 1 : flushes));
	floor_n = expect < FLOOR_MAX_ROWS ? expect : FLOOR_MAX_ROWS;
	printf("fleet: %u agents x (%u functions + %u edges + %u paths) "
	       "every %g s for %g s: %llu rows expected\n",
	       o.agents, o.functions, o.edges, o.paths, o.interval, o.duration,
	       expect);
	floor_rate = floor_rows_per_s(&o, floor_n);

	steady_rss.start_kb = steady_rss.max_kb = rss_kb(o.pid);
	steady = run_loadgen(&o, "bench-steady", o.interval, o.duration, 30000,
			     &steady_rss);
	if (steady == NULL)
		return 1;
	e2e = jnum(steady, "rows_per_s_acked");
	printf("end to end (steady fleet, offered load): %lld batches acked "
	       "in %.1f s, %.1f batches/s, %.0f rows/s sent, %.0f rows/s "
	       "merged = %.2fx the floor\n",
	       jint(steady, "batches_acked"), jnum(steady, "elapsed_s"),
	       jnum(steady, "batches_per_s"), jnum(steady, "rows_per_s_sent"),
	       e2e, floor_rate > 0 ? e2e / floor_rate : 0);
	printf("ack latency (steady): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, "
	       "max %.1f ms; resends %lld, retry replies %lld, skipped "
	       "flushes %lld\n",
	       jnum(steady, "ack_p50_ms"), jnum(steady, "ack_p90_ms"),
	       jnum(steady, "ack_p99_ms"), jnum(steady, "ack_max_ms"),
	       jint(steady, "resends"), jint(steady, "retry_replies"),
	       jint(steady, "flushes_skipped"));
	printf("collector RSS (steady): start %ld kB, middle %ld kB, end %ld "
	       "kB, max %ld kB\n",
	       steady_rss.start_kb, steady_rss.mid_kb, steady_rss.end_kb,
	       steady_rss.max_kb);

	if ((c = db_connect(o.db)) == NULL)
		return 1;
	if (check_totals(c, "bench-steady", steady) != 0)
		rc = 1;
	fold_report(c, &o, "steady");
	storage_report(c, &o, "bench-steady", "as written");
	/* Dead row versions from the in-bucket updates are part of what was
	 * written; autovacuum makes that space reusable. The compacted
	 * figure is the live data. */
	for (int i = 0; i < 3; i++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "VACUUM FULL %s", raw_tables[i]);
		db_exec(c, sql);
	}
	storage_report(c, &o, "bench-steady", "compacted");

	if (o.saturate > 0) {
		double folds0 = metric_num(&o, "folds_total"), folds1;
		double fsec0 = metric_num(&o, "fold_seconds_total"), fsec1;
		double tail;
		sat_rss.start_kb = sat_rss.max_kb = rss_kb(o.pid);
		satj = run_loadgen(&o, "bench-saturate", 0, o.saturate, 60000,
				   &sat_rss);
		if (satj == NULL)
			return 1;
		sat = jnum(satj, "rows_per_s_acked");
		printf("end to end (saturation: every agent sends its next "
		       "batch on ack, %g s): %lld batches, %.1f batches/s, "
		       "%.0f rows/s merged = %.2fx the floor (target >= "
		       "0.5x)\n",
		       o.saturate, jint(satj, "batches_acked"),
		       jnum(satj, "batches_per_s"), sat,
		       floor_rate > 0 ? sat / floor_rate : 0);
		printf("ack latency (saturation, %u requests in flight): p50 "
		       "%.1f ms, p99 %.1f ms, max %.1f ms\n",
		       o.agents, jnum(satj, "ack_p50_ms"),
		       jnum(satj, "ack_p99_ms"), jnum(satj, "ack_max_ms"));
		printf("collector RSS (saturation): start %ld kB, middle %ld "
		       "kB, end %ld kB, max %ld kB\n",
		       sat_rss.start_kb, sat_rss.mid_kb, sat_rss.end_kb,
		       sat_rss.max_kb);
		/* A fresh connection: the server may have restarted (the
		 * shared cluster is also the tests'). */
		PQfinish(c);
		if ((c = db_connect(o.db)) == NULL)
			return 1;
		if (check_totals(c, "bench-saturate", satj) != 0)
			rc = 1;
		folds1 = metric_num(&o, "folds_total");
		fsec1 = metric_num(&o, "fold_seconds_total");
		if (folds0 >= 0 && folds1 >= 0)
			printf("folds during saturation: %.0f, %.1f s in all, "
			       "beside the merges (the rows/s above include "
			       "their cost)\n",
			       folds1 - folds0, fsec1 - fsec0);
		tail = fold_report(c, &o, "saturation");
		if (tail >= 0)
			printf("end to end (saturation) counting the folds "
			       "after the last ack as well: %.0f rows/s = "
			       "%.2fx the floor\n",
			       sat * o.saturate / (o.saturate + tail),
			       floor_rate > 0 ? sat * o.saturate /
							(o.saturate + tail) /
							floor_rate
					      : 0);
		{
			long long raw =
				db_i64(c, raw_sum_sql, "bench-saturate");
			long long acked = jint(satj, "ncalls_acked");
			printf("totals (bench-saturate, folded): fn_stats_raw "
			       "sum(ncalls) %lld, loadgen acked %lld: %s\n",
			       raw, acked, raw == acked ? "MATCH" : "MISMATCH");
			if (raw != acked)
				rc = 1;
		}
	}

	if (o.metrics != NULL)
		metrics = http_get(o.metrics);
	if (metrics != NULL && commit_quantile(metrics, 0.5) >= 0) {
		printf("commit latency (collector /metrics, whole run): p50 "
		       "%.1f ms, p99 %.1f ms\n",
		       commit_quantile(metrics, 0.5) * 1e3,
		       commit_quantile(metrics, 0.99) * 1e3);
	} else if (metrics != NULL) {
		char n[32];
		metric_sample(metrics, "commits_total", n, sizeof(n));
		printf("commit latency: /metrics at %s has no commit "
		       "duration observations (commits_total %s); ack "
		       "latency above stands for it\n",
		       o.metrics, n);
	} else {
		printf("commit latency: no collector /metrics; ack latency "
		       "above stands for it\n");
	}
	free(metrics);
	stop_collector(&o);
	PQfinish(c);
	printf("summary: floor %.0f rows/s; steady %.0f rows/s (%.2fx); "
	       "saturation %.0f rows/s (%.2fx, target >= 0.5x); totals %s\n",
	       floor_rate, e2e, floor_rate > 0 ? e2e / floor_rate : 0, sat,
	       floor_rate > 0 ? sat / floor_rate : 0,
	       rc == 0 ? "MATCH" : "MISMATCH");
	json_decref(steady);
	json_decref(satj);
	return rc;
}
