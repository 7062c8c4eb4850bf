/*
 * The collector as systemd runs it: sd_notify READY=1 once serving,
 * RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM; SIGHUP
 * changes the log level and the tokens from the file, refuses an invalid
 * file (keeping the old configuration) and leaves restart-only options; and
 * SIGTERM under load from 4 concurrent senders exits 0 with exactly the
 * acked batches in the database.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "coll_test.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "fp_test.h"

static char url[1024];
static char cfg_path[128];

static void write_cfg(const char *text)
{
	FILE *f = fopen(cfg_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The next datagram on the notify socket must be want. */
static void expect_notify(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		fail_msg("no sd_notify message, want %s", want);
	buf[n] = '\0';
	if (strncmp(buf, want, strlen(want)) != 0)
		fail_msg("sd_notify sent '%s', want '%s'", buf, want);
}

static void send_expect(const struct coll *c, uint64_t seq, const char *tok,
			int code, int dup)
{
	struct wire_batch b;
	struct wire_reply r;
	coll_batch(&b, 0x66, seq, tok);
	assert_int_equal(coll_send(c->listen, NULL, &b, &r, 5000), 0);
	assert_int_equal(r.code, code);
	if (code == 0)
		assert_int_equal(r.dup, dup);
	else
		assert_false(r.retry);
}

static void test_sighup_and_notify(void **state)
{
	static char notify_env[128];
	char *env[] = {notify_env, NULL};
	const char *extra[] = {"--config", cfg_path, NULL};
	struct sockaddr_un sa;
	struct timeval tv = {10, 0};
	struct coll c;
	socklen_t len;
	char addr[64], line[512];
	int fd;
	(void)state;

	snprintf(addr, sizeof(addr), "@fp-test-coll-notify-%d", (int)getpid());
	snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", addr);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, addr + 1, strlen(addr) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			  strlen(addr));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	write_cfg("[collector]\nlog_level = notice\ncommit_ms = 5\n"
		  "contexts = 4\n[tokens]\na = tok-a\n");
	coll_start(&c, "tcp", url, extra, env);
	expect_notify(fd, "READY=1");

	send_expect(&c, 1, "tok-a", 0, 0);
	send_expect(&c, 1, "tok-a", 0, 1);
	/* Duplicates are logged at info: not at notice. */
	assert_int_equal(coll_log_has(&c, "duplicate batch seq 1"), 0);

	write_cfg("[collector]\nlog_level = info\ncommit_ms = 5\n"
		  "contexts = 8\n[tokens]\nb = tok-b\n");
	kill(c.pid, SIGHUP);
	expect_notify(fd, "RELOADING=1\nMONOTONIC_USEC=");
	expect_notify(fd, "READY=1");
	assert_int_equal(coll_log_wait(&c, "reload: 2 change(s) applied", 5000),
			 0);
	assert_int_equal(coll_log_has(&c, "reload: [collector] log_level: "
					  "notice -> info"),
			 1);
	assert_int_equal(coll_log_has(&c, "reload: token 'a' removed"), 1);
	assert_int_equal(coll_log_has(&c, "reload: token 'b' added"), 1);
	assert_int_equal(coll_log_has(&c, "reload: [collector] contexts "
					  "changed (4 -> 8) but needs a "
					  "restart; keeping 4"),
			 1);
	send_expect(&c, 2, "tok-a", FP_EAUTH, 0);
	send_expect(&c, 2, "tok-b", 0, 0);
	send_expect(&c, 2, "tok-b", 0, 1);
	assert_int_equal(coll_log_wait(&c, "duplicate batch seq 2", 2000), 0);

	/* An invalid file: refused whole, tok-b still works, info still on. */
	write_cfg("[collector]\nlog_level = loud\n[tokens]\nc = tok-c\n");
	kill(c.pid, SIGHUP);
	expect_notify(fd, "RELOADING=1");
	expect_notify(fd, "READY=1");
	snprintf(line, sizeof(line),
		 "reload refused, configuration unchanged: %s:2: [collector] "
		 "log_level: must be err, warning, notice, info or debug, got "
		 "'loud'",
		 cfg_path);
	assert_int_equal(coll_log_wait(&c, line, 5000), 0);
	send_expect(&c, 3, "tok-c", FP_EAUTH, 0);
	send_expect(&c, 3, "tok-b", 0, 0);
	send_expect(&c, 3, "tok-b", 0, 1);
	assert_int_equal(coll_log_wait(&c, "duplicate batch seq 3", 2000), 0);

	coll_stop_ok(&c);
	expect_notify(fd, "STOPPING=1");
	close(fd);
	{
		char *v = fp_test_sql(url, "SELECT sum(ncalls) FROM fn_stats");
		assert_string_equal(v, "21");
		free(v);
	}
}

/* ---- SIGTERM under load ---- */

#define SENDERS 4

struct sender {
	const struct coll *c;
	uint8_t agent;
	uint64_t acked;	  /* seq 1..acked were acked, in order */
	uint64_t dups;	  /* of them acked as duplicates (must stay 0) */
	uint64_t bad_seq; /* a reply for another seq (0: none) */
	int last_rc;
	atomic_int *stop;
	pthread_t thr;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	nng_socket sock;
	struct wire_batch b;

	if (nng_req0_open(&sock) != 0)
		return NULL;
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 3000);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 3000);
	if (nng_dial(sock, s->c->listen, NULL, 0) != 0) {
		nng_close(sock);
		return NULL;
	}
	while (!atomic_load(s->stop)) {
		struct wire_reply r;
		nng_msg *m;
		void *msg;
		size_t len;
		coll_batch(&b, s->agent, s->acked + 1, NULL);
		if (wire_encode(&b, &msg, &len) != 0)
			break;
		nng_msg_alloc(&m, 0);
		nng_msg_append(m, msg, len);
		free(msg);
		if ((s->last_rc = nng_sendmsg(sock, m, 0)) != 0) {
			nng_msg_free(m);
			break;
		}
		if ((s->last_rc = nng_recvmsg(sock, &m, 0)) != 0)
			break;
		s->last_rc =
			wire_reply_decode(nng_msg_body(m), nng_msg_len(m), &r);
		nng_msg_free(m);
		if (s->last_rc != 0 || !r.ok)
			break;
		if (r.seq != s->acked + 1) {
			s->bad_seq = r.seq;
			break;
		}
		s->dups += (uint64_t)r.dup;
		s->acked++;
	}
	nng_close(sock);
	return NULL;
}

/* On a ledger mismatch: per sender what it saw acked and which of those
 * seqs the ledger lacks, then the collector's log. */
static void print_ledger(const struct sender *s, int n, const struct coll *c)
{
	for (int i = 0; i < n; i++) {
		char sql[512], *v;
		snprintf(
			sql, sizeof(sql),
			"SELECT count(*) || ' rows, missing: ' || "
			"coalesce((SELECT string_agg(g::text, ',') FROM "
			"generate_series(1, %llu) g WHERE NOT EXISTS (SELECT 1 "
			"FROM ingested_batches b WHERE b.agent_id = "
			"decode(repeat('%02x', 16), 'hex') AND b.seq = g)), "
			"'none') FROM ingested_batches WHERE agent_id = "
			"decode(repeat('%02x', 16), 'hex')",
			(unsigned long long)s[i].acked, s[i].agent, s[i].agent);
		v = fp_test_sql(url, sql);
		print_message("sender %02x: acked %llu (dups %llu, rc %d): "
			      "ledger %s\n",
			      s[i].agent, (unsigned long long)s[i].acked,
			      (unsigned long long)s[i].dups, s[i].last_rc, v);
		free(v);
	}
	coll_print_log(c);
}

static void test_sigterm_under_load(void **state)
{
	/* A generous drain bound: the shared test database may stall. */
	static const char *const extra[] = {"--commit-ms", "2",
					    "--drain-timeout", "60s", NULL};
	struct sender s[SENDERS];
	atomic_int stop = 0;
	struct coll c;
	uint64_t total = 0, before = 0, base;
	char *v, want[32];
	int st;
	(void)state;

	/* What earlier tests stored (all of it when they passed, less when
	 * one failed half way): this test counts from here. */
	v = fp_test_sql(url, "SELECT coalesce(sum(ncalls), 0) FROM fn_stats");
	base = strtoull(v, NULL, 10);
	free(v);
	coll_start(&c, "tcp", url, extra, NULL);
	for (int i = 0; i < SENDERS; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].c = &c;
		s[i].agent = (uint8_t)(0x70 + i);
		s[i].stop = &stop;
		assert_int_equal(
			pthread_create(&s[i].thr, NULL, sender_main, &s[i]), 0);
	}
	/* Let load build up, then stop the collector in the middle of it. */
	for (int waited = 0; waited < 10000 && before < 200; waited += 10) {
		usleep(10000);
		before = 0;
		for (int i = 0; i < SENDERS; i++)
			before += s[i].acked;
	}
	assert_true(before >= 200);
	kill(c.pid, SIGTERM);
	st = coll_wait(&c, 70000);
	atomic_store(&stop, 1);
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(s[i].thr, NULL);
		total += s[i].acked;
	}
	if (st != 0)
		coll_print_log(&c);
	assert_int_equal(st, 0);
	assert_int_equal(coll_log_has(&c, "draining: receiving stopped"), 1);
	assert_int_equal(coll_log_has(&c, "stopped: "), 1);
	/* Every acked batch is stored, and nothing else was committed. */
	snprintf(want, sizeof(want), "%llu", (unsigned long long)total);
	v = fp_test_sql(url,
			"SELECT count(*) FROM ingested_batches WHERE "
			"agent_id <> '\\x66666666666666666666666666666666'");
	if (strcmp(v, want) != 0)
		print_ledger(s, SENDERS, &c);
	assert_string_equal(v, want);
	free(v);
	for (int i = 0; i < SENDERS; i++) {
		assert_int_equal(s[i].bad_seq, 0);
		assert_int_equal(s[i].dups, 0);
	}
	for (int i = 0; i < SENDERS; i++) {
		char sql[256];
		snprintf(sql, sizeof(sql),
			 "SELECT coalesce(max(seq), 0) FROM ingested_batches "
			 "WHERE agent_id = '\\x%02x%02x%02x%02x%02x%02x%02x"
			 "%02x%02x%02x%02x%02x%02x%02x%02x%02x'",
			 s[i].agent, s[i].agent, s[i].agent, s[i].agent,
			 s[i].agent, s[i].agent, s[i].agent, s[i].agent,
			 s[i].agent, s[i].agent, s[i].agent, s[i].agent,
			 s[i].agent, s[i].agent, s[i].agent, s[i].agent);
		v = fp_test_sql(url, sql);
		snprintf(want, sizeof(want), "%llu",
			 (unsigned long long)s[i].acked);
		assert_string_equal(v, want);
		free(v);
	}
	snprintf(want, sizeof(want), "%llu",
		 (unsigned long long)(base + total * 7));
	v = fp_test_sql(url, "SELECT sum(ncalls) FROM fn_stats");
	if (strcmp(v, want) != 0)
		print_ledger(s, SENDERS, &c);
	assert_string_equal(v, want);
	free(v);
}

static int setup(void **state)
{
	char cmd[2048];
	char *out;
	int st;
	(void)state;
	if (fp_test_db_create("coll_signals", url, sizeof(url)) != 0)
		return -1;
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/fp_coll_signals_%d.ini",
		 (int)getpid());
	snprintf(cmd, sizeof(cmd), "%s --migrate --db '%s' 2>&1",
		 fp_test_bin("fleetprof-collector"), url);
	out = fp_test_run(cmd, &st);
	free(out);
	return st == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	unlink(cfg_path);
	fp_test_db_drop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sighup_and_notify,
					  coll_kill_all),
		cmocka_unit_test_teardown(test_sigterm_under_load,
					  coll_kill_all),
	};
	int need = fp_test_need_db("test_collector_signals");
	if (need != 0)
		return need;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
