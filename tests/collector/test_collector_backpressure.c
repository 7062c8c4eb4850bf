/*
 * Backpressure and the drain bound, with the database made slow on purpose
 * (the test holds LOCK TABLE fn_stats IN ACCESS EXCLUSIVE MODE in its own
 * transaction): past max_pending_bytes the collector stops taking requests
 * (a request that would be answered at once times out), resumes when the
 * lock goes and pending bytes drain, and the totals are exact; SIGTERM with
 * a batch stuck behind the lock exits 1 after drain_timeout, not stored.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "coll_test.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "fp_test.h"

#define M "fleetprof_collector_"

static char url[1024];
static const uint8_t garbage[] = {0xc1, 0xff, 0x00, 0x13, 0x37};

/* Begins a transaction holding an exclusive lock on fn_stats. */
static PGconn *lock_fn_stats(void)
{
	PGconn *conn = PQconnectdb(url);
	PGresult *r;
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	r = PQexec(conn, "BEGIN; LOCK TABLE fn_stats IN ACCESS EXCLUSIVE "
			 "MODE");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	return conn;
}

static void unlock_fn_stats(PGconn *conn)
{
	PGresult *r = PQexec(conn, "COMMIT");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(conn);
}

struct slow_send {
	const struct coll *c;
	uint8_t agent;
	uint64_t seq;
	int timeout_ms;
	int rc;
	struct wire_reply r;
	pthread_t thr;
};

static void *slow_send_main(void *arg)
{
	struct slow_send *s = arg;
	struct wire_batch b;
	coll_batch(&b, s->agent, s->seq, NULL);
	s->rc = coll_send(s->c->listen, NULL, &b, &s->r, s->timeout_ms);
	return NULL;
}

static void wait_metric(const struct coll *c, const char *series, double v,
			int timeout_ms)
{
	double now = -1;
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		now = coll_metric_now(c, series);
		if (now == v)
			return;
		usleep(50000);
	}
	fail_msg("%s stayed %g, want %g", series, now, v);
}

static void test_backpressure(void **state)
{
	static const char *const extra[] = {
		"--contexts", "4", "--max-pending-bytes", "1", "--commit-ms",
		"0",	      NULL};
	struct slow_send stuck = {0};
	struct wire_batch b;
	struct wire_reply r;
	struct coll c;
	PGconn *lock;
	void *msg;
	size_t len;
	char *v;
	(void)state;

	coll_start(&c, "tcp", url, extra, NULL);
	/* Before: a batch goes through and pending bytes return to 0. */
	coll_batch(&b, 0x77, 1, NULL);
	assert_int_equal(coll_send(c.listen, NULL, &b, &r, 5000), 0);
	assert_true(r.ok);
	assert_int_equal(coll_metric_now(&c, M "throttled"), 0);

	lock = lock_fn_stats();
	stuck.c = &c;
	stuck.agent = 0x77;
	stuck.seq = 2;
	stuck.timeout_ms = 60000;
	assert_int_equal(
		pthread_create(&stuck.thr, NULL, slow_send_main, &stuck), 0);
	/* The batch waits for the database: one pending, over 1 byte. */
	wait_metric(&c, M "pending_batches", 1, 10000);
	coll_batch(&b, 0x77, 2, NULL);
	assert_int_equal(wire_encode(&b, &msg, &len), 0);
	free(msg);
	assert_int_equal(coll_metric_now(&c, M "pending_bytes"), (double)len);
	/* Contexts park as they finish (an idle receive ends every second). */
	wait_metric(&c, M "throttled", 1, 5000);
	usleep(2500 * 1000);
	/* A malformed batch is normally answered at once; now nobody
	 * receives it: the sender times out and keeps its batch. */
	assert_int_equal(coll_send_raw(c.listen, NULL, garbage, sizeof(garbage),
				       &r, 1500),
			 NNG_ETIMEDOUT);
	assert_int_equal(coll_log_wait(&c, "backpressure: ", 1000), 0);
	assert_int_equal(coll_log_has(&c, "pausing receives"), 1);

	/* The database is back: the stuck batch commits, receiving
	 * resumes. */
	unlock_fn_stats(lock);
	pthread_join(stuck.thr, NULL);
	assert_int_equal(stuck.rc, 0);
	assert_true(stuck.r.ok);
	assert_false(stuck.r.dup);
	wait_metric(&c, M "throttled", 0, 5000);
	assert_int_equal(coll_log_wait(&c, "resuming receives", 1000), 0);
	assert_int_equal(coll_send_raw(c.listen, NULL, garbage, sizeof(garbage),
				       &r, 3000),
			 0);
	assert_int_equal(r.code, FP_EMALFORMED);
	coll_batch(&b, 0x77, 3, NULL);
	assert_int_equal(coll_send(c.listen, NULL, &b, &r, 5000), 0);
	assert_true(r.ok);
	assert_false(r.dup);

	/* Exact totals: batches 1..3 once each. The malformed message sent
	 * while paused may still be read after its sender gave up (nng
	 * keeps one message per connection); either way every received
	 * message is accounted for. */
	assert_int_equal(coll_metric_now(&c, M "batches_acked_total"), 3);
	assert_int_equal(coll_metric_now(&c, M "batches_duplicate_total"), 0);
	{
		double rx = coll_metric_now(&c, M "batches_received_total");
		double bad = coll_metric_now(
			&c, M "batches_rejected_total{reason=\"malformed\"}");
		assert_true(bad == 1 || bad == 2);
		assert_int_equal(rx, 3 + bad);
	}
	assert_int_equal(coll_metric_now(&c, M "pending_bytes"), 0);
	assert_int_equal(coll_metric_now(&c, M "pending_batches"), 0);
	coll_stop_ok(&c);
	v = fp_test_sql(url, "SELECT sum(ncalls) FROM fn_stats");
	assert_string_equal(v, "21");
	free(v);
	v = fp_test_sql(url, "SELECT count(*) FROM ingested_batches");
	assert_string_equal(v, "3");
	free(v);
}

static void test_drain_is_bounded(void **state)
{
	static const char *const extra[] = {"--drain-timeout", "2s",
					    "--commit-ms", "0", NULL};
	struct slow_send stuck = {0};
	struct coll c;
	PGconn *lock;
	int64_t t0;
	int st;
	char *v;
	(void)state;

	coll_start(&c, "tcp", url, extra, NULL);
	lock = lock_fn_stats();
	stuck.c = &c;
	stuck.agent = 0x78;
	stuck.seq = 1;
	stuck.timeout_ms = 10000;
	assert_int_equal(
		pthread_create(&stuck.thr, NULL, slow_send_main, &stuck), 0);
	wait_metric(&c, M "pending_batches", 1, 10000);
	t0 = fp_mono_ns();
	kill(c.pid, SIGTERM);
	st = coll_wait(&c, 10000);
	/* Gave up after drain_timeout (2 s), not at once, not hanging. */
	if (st != 1)
		coll_print_log(&c);
	assert_int_equal(st, 1);
	assert_true(fp_mono_ns() - t0 >= 2 * FP_NS_PER_SEC);
	assert_true(fp_mono_ns() - t0 < 5 * FP_NS_PER_SEC);
	assert_int_equal(coll_log_has(&c, "drain timed out: 1 batch(es) not "
					  "answered"),
			 1);
	pthread_join(stuck.thr, NULL);
	assert_int_not_equal(stuck.rc, 0); /* not acked ... */
	unlock_fn_stats(lock);
	/* ... and not committed: its sender will resend it. */
	v = fp_test_sql(url,
			"SELECT count(*) FROM ingested_batches WHERE "
			"agent_id = '\\x78787878787878787878787878787878'");
	assert_string_equal(v, "0");
	free(v);
}

static int setup(void **state)
{
	char cmd[2048];
	char *out;
	int st;
	(void)state;
	if (fp_test_db_create("coll_bp", url, sizeof(url)) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s --migrate --db '%s' 2>&1",
		 fp_test_bin("fleetprof-collector"), url);
	out = fp_test_run(cmd, &st);
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
		cmocka_unit_test_teardown(test_backpressure, coll_kill_all),
		cmocka_unit_test_teardown(test_drain_is_bounded, coll_kill_all),
	};
	int need = fp_test_need_db("test_collector_backpressure");
	if (need != 0)
		return need;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
