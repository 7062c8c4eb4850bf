/*
 * The collector under hostile input: garbage, truncated, oversized and
 * lying messages each get a precise error reply (or, past the size limit, a
 * dropped connection), a raw TCP client that never speaks SP is dropped, and
 * afterwards a valid batch is still acked and stored: the collector never
 * stops serving.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "fp/error.h"
#include "fp/timeutil.h"
#include "fp_test.h"
#include "wire/batch.h"
#include "wire/reply.h"

static char url[1024];
static char listen_url[64];
static int port;
static pid_t coll;

/* Sends body; returns 0 and the decoded reply, or the nng error. */
static int request(const void *body, size_t len, struct wire_reply *r)
{
	nng_socket s;
	nng_msg *m;
	int rc;

	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 3000);
	assert_int_equal(nng_dial(s, listen_url, NULL, 0), 0);
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, body, len), 0);
	rc = nng_sendmsg(s, m, 0);
	if (rc != 0) {
		nng_msg_free(m);
		nng_close(s);
		return rc;
	}
	rc = nng_recvmsg(s, &m, 0);
	if (rc == 0) {
		assert_int_equal(
			wire_reply_decode(nng_msg_body(m), nng_msg_len(m), r),
			0);
		nng_msg_free(m);
	}
	nng_close(s);
	return rc;
}

static void make_batch(struct wire_batch *b, uint64_t seq)
{
	static const struct wire_fn fns[] = {{1, "handler", "h.c", 3, ""}};
	static const struct wire_fstat fs[] = {{1, 7, 7, 70, 700}};
	memset(b, 0, sizeof(*b));
	b->version = 1;
	memset(b->agent.id, 0x5a, sizeof(b->agent.id));
	b->agent.host = "bad-input-host";
	b->agent.service = "svc";
	b->agent.lang = "c";
	b->seq = seq;
	b->t0 = fp_wall_ns() - 60 * FP_NS_PER_SEC;
	b->t1 = b->t0 + 1000000000;
	b->fns = fns;
	b->nfns = 1;
	b->fstats = fs;
	b->nfstats = 1;
}

/* code2: a second acceptable code (0 = none): a message cut inside a
 * string reads as a length that exceeds the bytes left (FP_ECOUNT). */
static void expect_error2(const void *body, size_t len, int code, int code2)
{
	struct wire_reply r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(request(body, len, &r), 0);
	assert_false(r.ok);
	assert_false(r.retry);
	if (r.code != code && (code2 == 0 || r.code != code2))
		fail_msg("expected %s, got %s (%s)", fp_errname(code),
			 fp_errname(r.code), r.msg);
	assert_true(strlen(r.msg) > 0);
}

static void expect_error(const void *body, size_t len, int code)
{
	expect_error2(body, len, code, 0);
}

static void assert_collector_alive(void)
{
	int status;
	assert_int_equal(waitpid(coll, &status, WNOHANG), 0);
}

static void test_bad_messages_then_valid(void **state)
{
	static const uint8_t garbage[] = {0xc1, 0xff, 0x00, 0x13, 0x37};
	/* array32 claiming 4 billion elements in 5 bytes */
	static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
	/* {"v": 1} only */
	static const uint8_t missing[] = {0x81, 0xa1, 'v', 0x01};
	/* {"v": 9} */
	static const uint8_t version[] = {0x81, 0xa1, 'v', 0x09};
	struct wire_batch b;
	struct wire_reply r;
	void *msg;
	size_t len;
	uint8_t *big;
	(void)state;

	expect_error(garbage, sizeof(garbage), FP_EMALFORMED);
	expect_error(huge, sizeof(huge), FP_ECOUNT);
	expect_error(missing, sizeof(missing), FP_EMISSING);
	expect_error(version, sizeof(version), FP_EVERSION);
	expect_error("", 0, FP_ETRUNCATED);

	make_batch(&b, 1);
	assert_int_equal(wire_encode(&b, &msg, &len), 0);
	expect_error2(msg, len / 2, FP_ETRUNCATED, FP_ECOUNT);
	expect_error2(msg, len - 1, FP_ETRUNCATED, FP_ECOUNT);
	assert_collector_alive();

	/* Over --max-msg: nng drops the connection, no reply. */
	big = calloc(1, 256 * 1024);
	assert_non_null(big);
	assert_int_equal(request(big, 256 * 1024, &r), NNG_ETIMEDOUT);
	free(big);

	/* A raw TCP client sending junk instead of the SP handshake. */
	{
		struct sockaddr_in sa;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)port);
		assert_int_equal(
			connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
		close(fd);
	}
	assert_collector_alive();

	/* And a valid batch is still acked and stored, once. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(request(msg, len, &r), 0);
	assert_true(r.ok);
	assert_false(r.dup);
	assert_int_equal(r.seq, 1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(request(msg, len, &r), 0);
	assert_true(r.ok);
	assert_true(r.dup);
	free(msg);
	{
		char *v = fp_test_sql(url, "SELECT sum(ncalls) FROM fn_stats");
		assert_non_null(v);
		assert_string_equal(v, "7");
		free(v);
	}
	assert_collector_alive();
}

static void test_database_down_is_not_acked(void **state)
{
	struct wire_batch b;
	struct wire_reply r;
	void *msg;
	size_t len;
	int status;
	char *argv[] = {(char *)fp_test_bin("fleetprof-collector"),
			"--listen",
			listen_url,
			"--db",
			NULL,
			NULL};
	char dead[128];
	(void)state;

	/* A second collector whose database does not exist. */
	kill(coll, SIGTERM);
	assert_int_equal(fp_test_wait(coll, 10000), 0);
	snprintf(dead, sizeof(dead),
		 "postgresql://x@127.0.0.1:%d/none?connect_timeout=1",
		 fp_test_free_port());
	argv[4] = dead;
	coll = fp_test_spawn(argv, NULL, NULL);
	assert_int_equal(fp_test_wait_port(port, 10000), 0);
	make_batch(&b, 2);
	assert_int_equal(wire_encode(&b, &msg, &len), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(request(msg, len, &r), 0);
	assert_false(r.ok);
	assert_true(r.retry);
	assert_int_equal(r.code, FP_EDBDOWN);
	free(msg);
	assert_int_equal(waitpid(coll, &status, WNOHANG), 0);
}

static int setup(void **state)
{
	char *argv[] = {(char *)fp_test_bin("fleetprof-collector"),
			"--listen",
			listen_url,
			"--db",
			url,
			"--max-msg",
			"65536",
			NULL};
	(void)state;
	if (fp_test_db_ready("badinput", url, sizeof(url)) != 0)
		return -1;
	port = fp_test_free_port();
	snprintf(listen_url, sizeof(listen_url), "tcp://127.0.0.1:%d", port);
	coll = fp_test_spawn(argv, NULL, NULL);
	return fp_test_wait_port(port, 10000);
}

static int teardown(void **state)
{
	(void)state;
	kill(coll, SIGTERM);
	fp_test_wait(coll, 10000);
	fp_test_db_drop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_messages_then_valid),
		cmocka_unit_test(test_database_down_is_not_acked),
	};
	int need = fp_test_need_db("test_e2e_bad_input");
	if (need != 0)
		return need;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
