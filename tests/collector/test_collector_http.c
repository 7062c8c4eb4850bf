/*
 * The collector's HTTP side against a real collector and PostgreSQL:
 * /metrics counters move by exactly what was sent (5 new batches, 1
 * duplicate, 2 malformed), the commit histogram counts every commit, and
 * /readyz answers 503 while the database cannot be reached (through a TCP
 * proxy the test has not started yet) and 200 once it can.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "coll_test.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "fp_test.h"
#include "metrics.h"

static char url[1024];

#define M "fleetprof_collector_"

static char *get(const struct coll *c, const char *path, int want_status)
{
	int status = 0;
	char *body = coll_http_get(c->http_port, path, &status);
	assert_non_null(body);
	if (status != want_status)
		fail_msg("GET %s: %d, want %d: %s", path, status, want_status,
			 body);
	return body;
}

/* Polls /readyz until it answers want (or fails after timeout_ms). */
static void wait_ready(const struct coll *c, int want, int timeout_ms)
{
	int status = 0;
	for (int waited = 0; waited <= timeout_ms; waited += 100) {
		char *body = coll_http_get(c->http_port, "/readyz", &status);
		free(body);
		if (status == want)
			return;
		usleep(100000);
	}
	fail_msg("/readyz stayed %d, want %d", status, want);
}

static double delta(const char *before, const char *after, const char *series)
{
	return coll_metric(after, series) - coll_metric(before, series);
}

static void test_metrics_count_exactly(void **state)
{
	static const uint8_t garbage[] = {0xc1, 0xff, 0x00, 0x13, 0x37};
	static const char *const extra[] = {"--commit-ms", "5", NULL};
	struct coll c;
	struct wire_batch b;
	struct wire_reply r;
	char *before, *after, *v, name[32], series[160];
	double commits;
	int64_t t0 = fp_wall_ns();
	(void)state;

	coll_start(&c, "tcp", url, extra, NULL);
	wait_ready(&c, 200, 15000);
	before = get(&c, "/metrics", 200);

	for (uint64_t seq = 1; seq <= 5; seq++) {
		coll_batch(&b, 0x11, seq, NULL);
		assert_int_equal(coll_send(c.listen, NULL, &b, &r, 5000), 0);
		assert_true(r.ok);
		assert_false(r.dup);
		assert_int_equal(r.seq, seq);
	}
	coll_batch(&b, 0x11, 3, NULL);
	assert_int_equal(coll_send(c.listen, NULL, &b, &r, 5000), 0);
	assert_true(r.ok);
	assert_true(r.dup);
	assert_int_equal(coll_send_raw(c.listen, NULL, garbage, sizeof(garbage),
				       &r, 5000),
			 0);
	assert_int_equal(r.code, FP_EMALFORMED);
	assert_false(r.retry);
	assert_int_equal(coll_send_raw(c.listen, NULL, "", 0, &r, 5000), 0);
	assert_int_equal(r.code, FP_ETRUNCATED);

	after = get(&c, "/metrics", 200);
	assert_int_equal(delta(before, after, M "batches_received_total"), 8);
	assert_int_equal(delta(before, after, M "batches_acked_total"), 5);
	assert_int_equal(delta(before, after, M "batches_duplicate_total"), 1);
	assert_int_equal(delta(before, after, M "batches_unavailable_total"),
			 0);
	for (int code = 0; code > -COLLECTOR_NREASONS; code--) {
		int want = code == FP_EMALFORMED || code == FP_ETRUNCATED;
		snprintf(series, sizeof(series),
			 M "batches_rejected_total{reason=\"%s\"}",
			 collector_reason_name(code, name, sizeof(name)));
		assert_int_equal(delta(before, after, series), want);
	}
	/* One fstats row per new batch; the duplicate adds nothing. */
	assert_int_equal(delta(before, after, M "rows_merged_total"), 5);
	commits = delta(before, after, M "commits_total");
	assert_true(commits >= 1 && commits <= 6); /* one per request at most */
	/* The writer observes every commit it counts. */
	assert_int_equal(
		delta(before, after, M "commit_duration_seconds_count"),
		commits);
	assert_int_equal(delta(before, after,
			       M "commit_duration_seconds_bucket{le=\"+Inf\"}"),
			 commits);
	assert_true(delta(before, after, M "commit_duration_seconds_sum") > 0);
	assert_true(coll_metric(after, M
				"commit_duration_seconds_bucket{le=\"10\"}") <=
		    coll_metric(after, M "commit_duration_seconds_count"));
	assert_int_equal(coll_metric(after, M "pending_bytes"), 0);
	assert_int_equal(coll_metric(after, M "pending_batches"), 0);
	assert_int_equal(coll_metric(after, M "throttled"), 0);
	assert_int_equal(coll_metric(after, M "db_up"), 1);
	assert_int_equal(delta(before, after, M "db_reconnects_total"), 0);
	{
		double start = coll_metric(after, "process_start_time_seconds");
		assert_true(start >= (double)t0 / 1e9 - 1);
		assert_true(start <= (double)fp_wall_ns() / 1e9);
	}
	free(before);
	free(after);

	v = fp_test_sql(url, "SELECT sum(ncalls) FROM fn_stats");
	assert_string_equal(v, "35");
	free(v);
	v = fp_test_sql(url, "SELECT count(*) FROM ingested_batches");
	assert_string_equal(v, "5");
	free(v);

	v = get(&c, "/healthz", 200);
	assert_string_equal(v, "ok\n");
	free(v);
	v = get(&c, "/readyz", 200);
	assert_string_equal(v, "ready\n");
	free(v);
	free(get(&c, "/nope", 404));
	coll_stop_ok(&c);
}

/* ---- a TCP proxy to PostgreSQL, started when the test says so ---- */

struct proxy {
	int lfd;
	int target_port;
	pthread_t thr;
};

static void *pump(void *arg)
{
	int *fds = arg, a = fds[0], b = fds[1];
	struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
	char buf[16384];

	free(fds);
	for (;;) {
		if (poll(p, 2, -1) < 0)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t n;
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0 || write(p[1 - i].fd, buf, (size_t)n) != n)
				goto out;
		}
	}
out:
	close(a);
	close(b);
	return NULL;
}

static void *acceptor(void *arg)
{
	struct proxy *px = arg;
	for (;;) {
		struct sockaddr_in sa;
		pthread_t t;
		int *fds, up, cfd = accept(px->lfd, NULL, NULL);
		if (cfd < 0)
			return NULL;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)px->target_port);
		up = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(up, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			close(up);
			close(cfd);
			continue;
		}
		fds = malloc(2 * sizeof(int));
		fds[0] = cfd;
		fds[1] = up;
		pthread_create(&t, NULL, pump, fds);
		pthread_detach(t);
	}
}

static void proxy_start(struct proxy *px, int port, int target_port)
{
	struct sockaddr_in sa;
	int one = 1;
	px->target_port = target_port;
	px->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(px->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	assert_int_equal(bind(px->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(px->lfd, 16), 0);
	assert_int_equal(pthread_create(&px->thr, NULL, acceptor, px), 0);
}

static void proxy_stop(struct proxy *px)
{
	shutdown(px->lfd, SHUT_RDWR);
	close(px->lfd);
	pthread_join(px->thr, NULL);
}

static void test_readyz_follows_database(void **state)
{
	static char proxied[1100];
	const char *extra[] = {"--commit-ms", "5", NULL};
	const char *at = strchr(url, '@'), *colon = NULL, *slash = NULL;
	struct proxy px;
	struct coll c;
	struct wire_batch b;
	struct wire_reply r;
	int pg_port, port;
	char *v;
	(void)state;

	/* postgresql://user@127.0.0.1:PORT/db -> the same through PORT2 */
	if (at == NULL || (colon = strchr(at, ':')) == NULL ||
	    (slash = strchr(colon, '/')) == NULL ||
	    strncmp(at + 1, "127.0.0.1:", 10) != 0)
		skip();
	pg_port = (int)strtol(colon + 1, NULL, 10);
	port = fp_test_free_port();
	snprintf(proxied, sizeof(proxied), "%.*s:%d%s?connect_timeout=2",
		 (int)(colon - url), url, port, slash);

	coll_start(&c, "tcp", proxied, extra, NULL);
	v = get(&c, "/readyz", 503);
	assert_string_equal(v, "not ready: database unavailable\n");
	free(v);
	v = get(&c, "/healthz", 200);
	free(v);
	assert_int_equal(coll_metric_now(&c, M "db_up"), 0);
	coll_batch(&b, 0x22, 1, NULL);
	assert_int_equal(coll_send(c.listen, NULL, &b, &r, 5000), 0);
	assert_false(r.ok);
	assert_true(r.retry);
	assert_int_equal(r.code, FP_EDBDOWN);
	assert_int_equal(coll_metric_now(&c, M "batches_unavailable_total"), 1);
	assert_true(coll_metric_now(&c, M "db_reconnects_total") >= 1);

	/* The database becomes reachable: ready within the reconnect
	 * backoff (at most 5 s). */
	proxy_start(&px, port, pg_port);
	wait_ready(&c, 200, 15000);
	assert_int_equal(coll_metric_now(&c, M "db_up"), 1);
	assert_int_equal(coll_send(c.listen, NULL, &b, &r, 5000), 0);
	assert_true(r.ok);
	assert_false(r.dup);
	coll_stop_ok(&c);
	proxy_stop(&px);
}

static int setup(void **state)
{
	char cmd[2048];
	char *out;
	int st;
	(void)state;
	if (fp_test_db_create("coll_http", url, sizeof(url)) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s --migrate --db '%s' 2>&1",
		 fp_test_bin("fleetprof-collector"), url);
	out = fp_test_run(cmd, &st);
	if (st != 0)
		fprintf(stderr, "%s", out);
	free(out);
	return st == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fp_test_db_drop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_metrics_count_exactly,
					  coll_kill_all),
		cmocka_unit_test_teardown(test_readyz_follows_database,
					  coll_kill_all),
	};
	int need = fp_test_need_db("test_collector_http");
	if (need != 0)
		return need;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
