/*
 * Who may send, against a real collector: with tokens configured a batch
 * without one, or with a near miss, is refused for good (FP_EAUTH,
 * retry=false, counted as reason="auth") and one with a configured token is
 * stored; a tls+tcp:// listener with a certificate made by openssl at test
 * time serves an nng client that trusts it, and nobody else (no CA, plain
 * TCP); with [tls] ca_file only clients holding a certificate get in.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "coll_test.h"
#include "fp/error.h"
#include "fp_test.h"

static char url[1024];
static char dir[128], cert[200], key[200];

#define M "fleetprof_collector_"

static void expect_auth_refused(const struct coll *c, const char *token,
				uint64_t seq, const char *why)
{
	struct wire_batch b;
	struct wire_reply r;
	char msg[160];
	coll_batch(&b, 0x33, seq, token);
	assert_int_equal(coll_send(c->listen, NULL, &b, &r, 5000), 0);
	assert_false(r.ok);
	assert_false(r.retry);
	assert_int_equal(r.code, FP_EAUTH);
	assert_int_equal(r.seq, seq);
	snprintf(msg, sizeof(msg), "authentication failed: %s", why);
	assert_string_equal(r.msg, msg);
}

static void test_tokens(void **state)
{
	static const char *const extra[] = {"--commit-ms", "5", NULL};
	static char tokens_env[] = "FLEETPROF_TOKENS=tok-one,tok-two";
	char *env[] = {tokens_env, NULL};
	struct coll c;
	struct wire_batch b;
	struct wire_reply r;
	char *v;
	(void)state;

	coll_start(&c, "tcp", url, extra, env);
	expect_auth_refused(&c, NULL, 1, "no token sent");
	expect_auth_refused(&c, "", 1, "token not accepted");
	expect_auth_refused(&c, "tok-on", 1, "token not accepted");
	expect_auth_refused(&c, "tok-one2", 1, "token not accepted");
	coll_batch(&b, 0x33, 1, "tok-two");
	assert_int_equal(coll_send(c.listen, NULL, &b, &r, 5000), 0);
	assert_true(r.ok);
	assert_false(r.dup);
	assert_int_equal(
		coll_metric_now(&c,
				M "batches_rejected_total{reason=\"auth\"}"),
		4);
	assert_int_equal(coll_metric_now(&c, M "batches_acked_total"), 1);
	assert_int_equal(coll_log_wait(&c,
				       ": authentication failed: no token "
				       "sent",
				       2000),
			 0);
	assert_int_equal(coll_log_has(&c, "rejected batch from 127.0.0.1:"), 1);
	/* Token values are never logged. */
	assert_int_equal(coll_log_has(&c, "tok-on"), 0);
	coll_stop_ok(&c);
	v = fp_test_sql(url,
			"SELECT count(*) FROM ingested_batches WHERE "
			"agent_id = '\\x33333333333333333333333333333333'");
	assert_non_null(v);
	assert_string_equal(v, "1");
	free(v);
}

/* A client TLS configuration trusting ca (NULL: trusting nobody), with
 * own certificate and key when given. */
static nng_tls_config *client_tls(const char *ca, int own)
{
	nng_tls_config *t;
	assert_int_equal(nng_tls_config_alloc(&t, NNG_TLS_MODE_CLIENT), 0);
	assert_int_equal(nng_tls_config_server_name(t, "localhost"), 0);
	if (ca != NULL)
		assert_int_equal(nng_tls_config_ca_file(t, ca), 0);
	if (own) {
		char both[260];
		int st;
		char *out;
		char cmd[700];
		snprintf(both, sizeof(both), "%s/both.pem", dir);
		snprintf(cmd, sizeof(cmd), "cat %s %s > %s", cert, key, both);
		out = fp_test_run(cmd, &st);
		free(out);
		assert_int_equal(st, 0);
		assert_int_equal(nng_tls_config_cert_key_file(t, both, NULL),
				 0);
	}
	return t;
}

static void test_tls_listener(void **state)
{
	const char *extra[] = {"--tls-cert",  cert, "--tls-key", key,
			       "--commit-ms", "5",  NULL};
	struct coll c;
	struct wire_batch b;
	struct wire_reply r;
	nng_tls_config *trusting, *blind;
	char plain[160];
	(void)state;

	/* Debian's libnng is built with mbed TLS. */
	assert_string_not_equal(nng_tls_engine_name(), "none");
	coll_start(&c, "tls+tcp", url, extra, NULL);
	assert_int_equal(coll_log_wait(&c, "listening on tls+tcp://", 2000), 0);

	coll_batch(&b, 0x44, 1, NULL);
	trusting = client_tls(cert, 0);
	assert_int_equal(coll_send(c.listen, trusting, &b, &r, 5000), 0);
	assert_true(r.ok);
	assert_false(r.dup);
	assert_int_equal(r.seq, 1);
	/* The same batch again: over TLS, dedup still holds. */
	assert_int_equal(coll_send(c.listen, trusting, &b, &r, 5000), 0);
	assert_true(r.ok);
	assert_true(r.dup);

	/* A client that does not trust the certificate never talks. */
	blind = client_tls(NULL, 0);
	coll_batch(&b, 0x44, 2, NULL);
	assert_int_equal(coll_send(c.listen, blind, &b, &r, 1500),
			 NNG_ETIMEDOUT);
	/* Nor does plain SP over TCP on the TLS port. */
	snprintf(plain, sizeof(plain), "tcp://127.0.0.1:%d", c.port);
	assert_int_equal(coll_send(plain, NULL, &b, &r, 1500), NNG_ETIMEDOUT);
	assert_int_equal(coll_metric_now(&c, M "batches_received_total"), 2);
	nng_tls_config_free(trusting);
	nng_tls_config_free(blind);
	coll_stop_ok(&c);
}

static void test_tls_client_certificates(void **state)
{
	const char *extra[] = {"--tls-cert",  cert,	  "--tls-key",
			       key,	      "--tls-ca", cert,
			       "--commit-ms", "5",	  NULL};
	struct coll c;
	struct wire_batch b;
	struct wire_reply r;
	nng_tls_config *anon, *known;
	(void)state;

	coll_start(&c, "tls+tcp", url, extra, NULL);
	coll_batch(&b, 0x55, 1, NULL);
	anon = client_tls(cert, 0);
	assert_int_equal(coll_send(c.listen, anon, &b, &r, 1500),
			 NNG_ETIMEDOUT);
	known = client_tls(cert, 1);
	assert_int_equal(coll_send(c.listen, known, &b, &r, 5000), 0);
	assert_true(r.ok);
	assert_false(r.dup);
	nng_tls_config_free(anon);
	nng_tls_config_free(known);
	coll_stop_ok(&c);
}

/* A self-signed certificate for localhost/127.0.0.1 that is its own CA. */
static void make_cert(void)
{
	char cmd[1500];
	char *out;
	int st;
	snprintf(dir, sizeof(dir), "/tmp/fp_tls_test_%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -days 2 "
		 "-subj /CN=localhost "
		 "-addext basicConstraints=critical,CA:TRUE "
		 "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
		 "-keyout %s -out %s 2>&1",
		 key, cert);
	out = fp_test_run(cmd, &st);
	if (st != 0)
		fail_msg("openssl failed (deploy/install-deps installs "
			 "it): %s",
			 out);
	free(out);
}

static int setup(void **state)
{
	char cmd[2048];
	char *out;
	int st;
	(void)state;
	if (fp_test_db_create("coll_auth", url, sizeof(url)) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s --migrate --db '%s' 2>&1",
		 fp_test_bin("fleetprof-collector"), url);
	out = fp_test_run(cmd, &st);
	free(out);
	if (st != 0)
		return -1;
	make_cert();
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	char *out;
	int st;
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	out = fp_test_run(cmd, &st);
	free(out);
	fp_test_db_drop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_tokens, coll_kill_all),
		cmocka_unit_test_teardown(test_tls_listener, coll_kill_all),
		cmocka_unit_test_teardown(test_tls_client_certificates,
					  coll_kill_all),
	};
	int need = fp_test_need_db("test_collector_auth_tls");
	if (need != 0)
		return need;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
