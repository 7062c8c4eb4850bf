/*
 * Fault tests driven by fleetprof-loadgen (exact counters): 20 agents send to
 * two collectors while one is SIGKILLed and the shared PostgreSQL restarts
 * (hence RUN_SERIAL); and a collector started before its database exists.
 * Every batch must be acked, the database must hold exactly the acked totals.
 */
#include <libpq-fe.h>
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
#include <jansson.h>

#include "fp_test.h"

static char url[1024];
static char log_path[1024];

/* The admin URL with another database name (pg-local URLs have no query). */
static void url_for(const char *db, char *out, size_t len)
{
	const char *admin = getenv("FLEETPROF_TEST_DB");
	const char *slash = strrchr(admin, '/');
	assert_non_null(slash);
	snprintf(out, len, "%.*s/%s", (int)(slash - admin), admin, db);
}

static void admin_exec(const char *sql)
{
	PGconn *c = PQconnectdb(getenv("FLEETPROF_TEST_DB"));
	PGresult *r;
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("admin connection: %s", PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

static pid_t start_collector(int port, const char *db_url)
{
	char listen[64];
	char *argv[] = {(char *)fp_test_bin("fleetprof-collector"),
			"--listen",
			listen,
			"--db",
			(char *)db_url,
			"--log-level",
			"info",
			NULL};
	pid_t pid;
	snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%d", port);
	pid = fp_test_spawn(argv, NULL, log_path);
	assert_int_equal(fp_test_wait_port(port, 10000), 0);
	return pid;
}

/* Starts the loadgen; its JSON report goes to json_path. */
static pid_t start_loadgen(const char *collectors, const char *service,
			   const char *agents, const char *functions,
			   const char *duration, const char *json_path)
{
	char *argv[] = {(char *)fp_test_bin("fleetprof-loadgen"),
			"--collector",
			(char *)collectors,
			"--service",
			(char *)service,
			"--agents",
			(char *)agents,
			"--functions",
			(char *)functions,
			"--edges",
			"80",
			"--paths",
			"120",
			"--interval",
			"0.5",
			"--duration",
			(char *)duration,
			"--timeout-ms",
			"1000",
			"--drain",
			"90",
			"--progress",
			"2",
			"--report-json",
			(char *)json_path,
			NULL};
	unlink(json_path);
	return fp_test_spawn(argv, NULL, log_path);
}

static json_t *load_report(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);
	if (j == NULL)
		fail_msg("loadgen report %s: %s", path, jerr.text);
	return j;
}

static long long jint(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);
	if (!json_is_integer(v))
		fail_msg("loadgen report: no integer %s", key);
	return (long long)json_integer_value(v);
}

/* Every batch sent was acked, and the database holds exactly that. */
static void check_exact(const char *db_url, const char *service, json_t *rep)
{
	char sql[512], want[32];
	char *got;

	printf("loadgen %s: sent %lld acked %lld dup %lld rejected %lld "
	       "unacked %lld resends %lld retry-replies %lld timeouts %lld "
	       "transport errors %lld ncalls %lld\n",
	       service, jint(rep, "batches_sent"), jint(rep, "batches_acked"),
	       jint(rep, "batches_dup"), jint(rep, "batches_rejected"),
	       jint(rep, "batches_unacked"), jint(rep, "resends"),
	       jint(rep, "retry_replies"), jint(rep, "timeouts"),
	       jint(rep, "transport_errors"), jint(rep, "ncalls_acked"));
	assert_true(jint(rep, "batches_sent") > 0);
	assert_int_equal(jint(rep, "batches_acked"), jint(rep, "batches_sent"));
	assert_int_equal(jint(rep, "batches_rejected"), 0);
	assert_int_equal(jint(rep, "batches_unacked"), 0);
	assert_int_equal(jint(rep, "ncalls_acked"), jint(rep, "ncalls_sent"));

	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(f.ncalls), 0) FROM fn_stats f JOIN "
		 "series s ON s.id = f.series_id WHERE s.service = '%s'",
		 service);
	got = fp_test_sql(db_url, sql);
	assert_non_null(got);
	snprintf(want, sizeof(want), "%lld", jint(rep, "ncalls_acked"));
	assert_string_equal(got, want);
	free(got);
	/* The rollup tier holds the same calls. */
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(f.ncalls), 0) FROM fn_stats_1h f JOIN "
		 "series s ON s.id = f.series_id WHERE s.service = '%s'",
		 service);
	got = fp_test_sql(db_url, sql);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	/* Each batch is in the ledger exactly once. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) || '/' || count(DISTINCT (b.agent_id, "
		 "b.seq)) FROM ingested_batches b JOIN series s ON s.id = "
		 "b.series_id WHERE s.service = '%s'",
		 service);
	got = fp_test_sql(db_url, sql);
	snprintf(want, sizeof(want), "%lld/%lld", jint(rep, "batches_sent"),
		 jint(rep, "batches_sent"));
	assert_string_equal(got, want);
	free(got);
}

/* Runs deploy/pg-local CMD; returns its stdout (malloc'd). */
static char *pg_local(const char *cmd)
{
	const char *src = getenv("FP_SOURCE_DIR");
	char line[1200];
	char *out;
	int st;
	if (src == NULL)
		fail_msg("FP_SOURCE_DIR is not set (run through ctest)");
	snprintf(line, sizeof(line), "'%s/deploy/pg-local' %s 2>>'%s'", src,
		 cmd, log_path);
	out = fp_test_run(line, &st);
	if (st != 0)
		fail_msg("deploy/pg-local %s failed (%d); see %s", cmd, st,
			 log_path);
	return out;
}

/* 1 when FLEETPROF_TEST_DB is deploy/pg-local's cluster (the one this test
 * may restart). */
static int test_db_is_pg_local(void)
{
	const char *src = getenv("FP_SOURCE_DIR");
	char line[1200];
	char *out;
	int st, same;
	if (src == NULL)
		return 0;
	snprintf(line, sizeof(line), "'%s/deploy/pg-local' url 2>/dev/null",
		 src);
	out = fp_test_run(line, &st);
	out[strcspn(out, "\n")] = '\0';
	same = st == 0 && strcmp(out, getenv("FLEETPROF_TEST_DB")) == 0;
	free(out);
	return same;
}

static void test_collector_kill_and_pg_restart(void **state)
{
	char collectors[128], json_path[1100];
	const char *admin = getenv("FLEETPROF_TEST_DB");
	int p1 = fp_test_free_port(), p2 = fp_test_free_port();
	int restart = test_db_is_pg_local();
	pid_t c1, c2, lg;
	json_t *rep;
	char *out;
	(void)state;

	if (!restart) {
		const char *ci = getenv("CI");
		/* make test always uses pg-local: there the restart must run.
		 */
		if (ci != NULL && ci[0] != '\0' && strcmp(ci, "false") != 0)
			fail_msg("FLEETPROF_TEST_DB is not deploy/pg-local's "
				 "cluster: the PostgreSQL restart cannot run");
		printf("SKIP (part): FLEETPROF_TEST_DB is not "
		       "deploy/pg-local's "
		       "cluster: PostgreSQL is not restarted\n");
	}
	assert_int_equal(fp_test_migrate(url), 0);
	c1 = start_collector(p1, url);
	c2 = start_collector(p2, url);
	snprintf(collectors, sizeof(collectors),
		 "tcp://127.0.0.1:%d,tcp://127.0.0.1:%d", p1, p2);
	snprintf(json_path, sizeof(json_path), "%s.restart.json", log_path);
	lg = start_loadgen(collectors, "e2e-lg", "20", "50", "8", json_path);

	/* 2 s in: one collector dies with whatever it holds. */
	usleep(2000 * 1000);
	kill(c1, SIGKILL);
	assert_int_equal(fp_test_wait(c1, 5000), 128 + SIGKILL);

	/* 3 s in: PostgreSQL goes down for a while, then comes back on the
	 * same port (pg-local keeps it), under load. */
	usleep(1000 * 1000);
	if (restart) {
		free(pg_local("stop"));
		usleep(1500 * 1000);
		out = pg_local("start");
		out[strcspn(out, "\n")] = '\0';
		if (strcmp(out, admin) != 0)
			fail_msg("PostgreSQL came back at %s, not %s", out,
				 admin);
		free(out);
	}

	/* The fleet finishes at 8 s and drains; every batch is acked. */
	assert_int_equal(fp_test_wait(lg, 120000), 0);
	kill(c2, SIGTERM);
	assert_int_equal(fp_test_wait(c2, 30000), 0);

	rep = load_report(json_path);
	check_exact(url, "e2e-lg", rep);
	/* The outage was felt: some requests had to be sent again. */
	if (restart)
		assert_true(jint(rep, "resends") > 0);
	json_decref(rep);
}

static void test_collector_before_database(void **state)
{
	char pre[64], late[64], pre_url[1100], late_url[1100], sql[256];
	char json_path[1100];
	int port = fp_test_free_port();
	pid_t coll, lg;
	json_t *rep;
	(void)state;

	snprintf(pre, sizeof(pre), "fp_test_lgpre_%d", (int)getpid());
	snprintf(late, sizeof(late), "fp_test_lglate_%d", (int)getpid());
	url_for(pre, pre_url, sizeof(pre_url));
	url_for(late, late_url, sizeof(late_url));
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 late);
	admin_exec(sql);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 pre);
	admin_exec(sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", pre);
	admin_exec(sql);
	assert_int_equal(fp_test_migrate(pre_url), 0);

	/* The collector's database does not exist yet: it must start, answer
	 * "retry" and keep trying to connect. */
	coll = start_collector(port, late_url);
	snprintf(json_path, sizeof(json_path), "%s.late.json", log_path);
	{
		char target[64];
		snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", port);
		lg = start_loadgen(target, "e2e-late", "5", "20", "4",
				   json_path);
	}
	usleep(2500 * 1000);
	/* The database appears at once, schema included. */
	snprintf(sql, sizeof(sql), "ALTER DATABASE %s RENAME TO %s", pre, late);
	admin_exec(sql);

	assert_int_equal(fp_test_wait(lg, 120000), 0);
	kill(coll, SIGTERM);
	assert_int_equal(fp_test_wait(coll, 30000), 0);

	rep = load_report(json_path);
	check_exact(late_url, "e2e-late", rep);
	assert_true(jint(rep, "retry_replies") > 0);
	json_decref(rep);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 late);
	admin_exec(sql);
}

static int setup(void **state)
{
	(void)state;
	snprintf(log_path, sizeof(log_path), "%s/../tests/e2e-loadgen.log",
		 getenv("FP_BIN_DIR") ? getenv("FP_BIN_DIR") : ".");
	unlink(log_path);
	return fp_test_db_create("lg", url, sizeof(url));
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
		cmocka_unit_test(test_collector_kill_and_pg_restart),
		cmocka_unit_test(test_collector_before_database),
	};
	int need = fp_test_need_db("test_e2e_loadgen");
	if (need != 0)
		return need;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
