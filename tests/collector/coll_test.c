/*
 * Integration test helpers (see coll_test.h). Each request uses its own
 * REQ socket, so a timed-out request leaves nothing behind for the next.
 * HTTP is spoken by hand (HTTP/1.0, one request per connection): enough to
 * read three small text endpoints without another library.
 */
#include "coll_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "fp/timeutil.h"
#include "fp_test.h"

/* Collectors started and not stopped yet (pids), for coll_kill_all(), and
 * their logs, removed there too. */
static pid_t running[16];
static char logs[16][256];
static size_t nlogs;

static void track(pid_t pid, pid_t replace)
{
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
		if (running[i] == replace) {
			running[i] = pid;
			return;
		}
	}
}

int coll_kill_all(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
		if (running[i] > 0) {
			kill(running[i], SIGKILL);
			fp_test_wait(running[i], 5000);
			running[i] = 0;
		}
	}
	for (size_t i = 0; i < nlogs; i++)
		unlink(logs[i]);
	nlogs = 0;
	return 0;
}

void coll_start(struct coll *c, const char *scheme, const char *db,
		const char *const *extra, char *const *env)
{
	char http[64];
	char *argv[64];
	int n = 0;

	memset(c, 0, sizeof(*c));
	c->port = fp_test_free_port();
	do
		c->http_port = fp_test_free_port();
	while (c->http_port == c->port);
	snprintf(c->listen, sizeof(c->listen), "%s://127.0.0.1:%d", scheme,
		 c->port);
	snprintf(http, sizeof(http), "http://127.0.0.1:%d", c->http_port);
	snprintf(c->log, sizeof(c->log), "/tmp/fp_coll_%d_%d.log",
		 (int)getpid(), c->port);
	unlink(c->log);
	if (nlogs < sizeof(logs) / sizeof(logs[0]))
		snprintf(logs[nlogs++], sizeof(logs[0]), "%s", c->log);
	argv[n++] = (char *)fp_test_bin("fleetprof-collector");
	argv[n++] = "--listen";
	argv[n++] = c->listen;
	argv[n++] = "--http";
	argv[n++] = http;
	if (db != NULL) {
		argv[n++] = "--db";
		argv[n++] = (char *)db;
	}
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 62; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	c->pid = fp_test_spawn(argv, env, c->log);
	track(c->pid, 0);
	if (fp_test_wait_port(c->port, 10000) != 0 ||
	    fp_test_wait_port(c->http_port, 10000) != 0) {
		char *log = NULL;
		int st;
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "cat %s", c->log);
		log = fp_test_run(cmd, &st);
		fail_msg("collector did not start; its log:\n%s", log);
	}
}

int coll_wait(struct coll *c, int timeout_ms)
{
	int st;
	if (c->pid <= 0)
		return -1;
	st = fp_test_wait(c->pid, timeout_ms);
	track(0, c->pid);
	c->pid = 0;
	return st;
}

int coll_stop(struct coll *c, int timeout_ms)
{
	if (c->pid <= 0)
		return -1;
	kill(c->pid, SIGTERM);
	return coll_wait(c, timeout_ms);
}

void coll_batch(struct wire_batch *b, uint8_t agent, uint64_t seq,
		const char *token)
{
	static const struct wire_fn fns[] = {{1, "handler", "h.c", 3, ""}};
	static const struct wire_fstat fs[] = {{1, 7, 7, 70, 700}};
	int64_t minute = 60 * FP_NS_PER_SEC;

	memset(b, 0, sizeof(*b));
	b->version = 1;
	memset(b->agent.id, agent, sizeof(b->agent.id));
	b->agent.host = "collector-test-host";
	b->agent.service = "svc";
	b->agent.lang = "c";
	b->seq = seq;
	/* Two whole minutes before the first batch of this process, the same
	 * for every batch: a resend is then the same ledger key (agent, seq,
	 * t0) even across a minute boundary. Inside one bucket and inside
	 * the retention. */
	static _Atomic int64_t t0;
	int64_t want = 0;
	atomic_compare_exchange_strong(&t0, &want,
				       (fp_wall_ns() / minute - 2) * minute);
	b->t0 = atomic_load(&t0);
	b->t1 = b->t0 + FP_NS_PER_SEC;
	b->fns = fns;
	b->nfns = 1;
	b->fstats = fs;
	b->nfstats = 1;
	b->token = token;
}

int coll_send_raw(const char *url, nng_tls_config *tls, const void *body,
		  size_t len, struct wire_reply *r, int timeout_ms)
{
	nng_socket s;
	nng_dialer d;
	nng_msg *m;
	int rc;

	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	assert_int_equal(nng_dialer_create(&d, s, url), 0);
	if (tls != NULL)
		assert_int_equal(nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls),
				 0);
	/* Non-blocking: a failed TLS handshake shows as a timeout below. */
	assert_int_equal(nng_dialer_start(d, NNG_FLAG_NONBLOCK), 0);
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
		memset(r, 0, sizeof(*r));
		assert_int_equal(
			wire_reply_decode(nng_msg_body(m), nng_msg_len(m), r),
			0);
		nng_msg_free(m);
	}
	nng_close(s);
	return rc;
}

int coll_send(const char *url, nng_tls_config *tls, const struct wire_batch *b,
	      struct wire_reply *r, int timeout_ms)
{
	void *msg;
	size_t len;
	int rc;

	assert_int_equal(wire_encode(b, &msg, &len), 0);
	rc = coll_send_raw(url, tls, msg, len, r, timeout_ms);
	free(msg);
	return rc;
}

char *coll_http_get(int port, const char *path, int *status)
{
	struct sockaddr_in sa;
	char req[256], *buf, *body;
	size_t len = 0, cap = 1 << 16;
	int fd, n;
	struct timeval tv = {5, 0};

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return NULL;
	}
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		ssize_t got;
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
		fail_msg("bad HTTP response: %s", buf);
	body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

double coll_metric(const char *body, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = body; p != NULL && *p != '\0';) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	fail_msg("metric %s not found in:\n%s", series, body);
	return -1;
}

double coll_metric_now(const struct coll *c, const char *series)
{
	int status = 0;
	char *body = coll_http_get(c->http_port, "/metrics", &status);
	double v;
	assert_non_null(body);
	assert_int_equal(status, 200);
	v = coll_metric(body, series);
	free(body);
	return v;
}

void coll_stop_ok(struct coll *c)
{
	struct coll copy = *c;
	int st = coll_stop(c, 15000);
	if (st != 0) {
		coll_print_log(&copy);
		fail_msg("collector exit status %d, want 0", st);
	}
}

void coll_print_log(const struct coll *c)
{
	FILE *f = fopen(c->log, "r");
	char line[2048];
	if (f == NULL)
		return;
	fprintf(stderr, "---- %s\n", c->log);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "----\n");
	fclose(f);
}

int coll_log_has(const struct coll *c, const char *needle)
{
	FILE *f = fopen(c->log, "r");
	char line[2048];
	int found = 0;
	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int coll_log_wait(const struct coll *c, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (coll_log_has(c, needle))
			return 0;
		usleep(20000);
	}
	return -1;
}
