/*
 * The agent's SP transport against a real libnng 1.5.2 REP peer (a thread of
 * this process, with contexts) over tcp:// and ipc://, and against a fake REP
 * on a plain socket for what libnng would never send: oversized replies, bad
 * SP headers, silence. The fork test forks without exec while libnng runs in
 * the parent: children must neither abort nor disturb the parent's link.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "fp/error.h"
#include "transport.h"
#include "wire/reply.h"

#define LONG_MS 5000
#define NCHILDREN 4
#define CHILD_REQUESTS 5
#define PEER_STOP UINT64_C(0xffffffffffffff)
#define PEER_STATS UINT64_C(0xfffffffffffffe)

/* A libnng REP socket answering {ok, seq: first 8 bytes of the request}. */
struct peer {
	nng_socket sock;
	pthread_t thread;
	char url[128];	/* what the agent dials */
	int hold_first; /* reply to request 1 only after request 2 arrived */
	atomic_int requests;
	atomic_int pipes;
};

enum fake_mode { FAKE_OVERSIZE, FAKE_GARBAGE, FAKE_WRONG_PROTO, FAKE_SILENT };

/* A REP that speaks SP by hand on a plain TCP socket, one connection. */
struct fake {
	int lfd;
	int port;
	enum fake_mode mode;
	pthread_t thread;
	uint8_t hello[8];     /* the agent's SP header */
	uint8_t req_head[12]; /* first request: length and id */
	int nrequests;
	int client_closed; /* read() saw EOF: the agent closed */
};

static int nipc;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void ipc_url(char *buf, size_t len)
{
	snprintf(buf, len, "ipc:///tmp/fp-test-transport-%d-%d.ipc",
		 (int)getpid(), nipc++);
	unlink(buf + strlen("ipc://"));
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct peer *peer = arg;

	(void)p;
	(void)ev;
	atomic_fetch_add(&peer->pipes, 1);
}

static nng_msg *peer_recv(nng_ctx ctx, nng_aio *aio)
{
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if (nng_aio_result(aio) != 0)
		return NULL;
	return nng_aio_get_msg(aio);
}

static uint64_t req_seq(nng_msg *m)
{
	return nng_msg_len(m) >= 8 ? be64(nng_msg_body(m)) : 0;
}

static void peer_reply(struct peer *p, nng_ctx ctx, nng_aio *aio, nng_msg *m)
{
	struct wire_reply r;
	void *out = NULL;
	size_t len = 0;

	memset(&r, 0, sizeof(r));
	r.ok = 1;
	r.seq = req_seq(m);
	if (r.seq == PEER_STATS) {
		r.seq = (uint64_t)atomic_load(&p->requests);
		snprintf(r.msg, sizeof(r.msg), "pipes %d",
			 atomic_load(&p->pipes));
	} else {
		snprintf(r.msg, sizeof(r.msg), "ack %llu",
			 (unsigned long long)r.seq);
	}
	nng_msg_clear(m);
	if (wire_reply_encode(&r, &out, &len) != 0 ||
	    nng_msg_append(m, out, len) != 0) {
		free(out);
		nng_msg_free(m);
		return;
	}
	free(out);
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if (nng_aio_result(aio) != 0)
		nng_msg_free(m);
}

/*
 * Serves until a request with seq PEER_STOP (PEER_STATS is answered with the
 * request count as seq and the connection count in msg): then it leaves libnng
 * alone, so nng_close() never races a call in flight (libnng 1.5.2 panics
 * when a socket is closed under a running nng_ctx_send).
 */
static void *peer_main(void *arg)
{
	struct peer *p = arg;
	nng_ctx c1, c2;
	nng_aio *a1 = NULL, *a2 = NULL;
	nng_msg *m1, *m2;
	int stop = 0;

	if (nng_ctx_open(&c1, p->sock) != 0 ||
	    nng_ctx_open(&c2, p->sock) != 0 ||
	    nng_aio_alloc(&a1, NULL, NULL) != 0 ||
	    nng_aio_alloc(&a2, NULL, NULL) != 0)
		return NULL;
	if (p->hold_first) {
		/* Two contexts: the first reply leaves after request 2 came,
		 * so it reaches the agent as a stale reply. */
		if ((m1 = peer_recv(c1, a1)) == NULL)
			goto out;
		if ((m2 = peer_recv(c2, a2)) == NULL) {
			nng_msg_free(m1);
			goto out;
		}
		atomic_fetch_add(&p->requests, 2);
		peer_reply(p, c1, a1, m1);
		peer_reply(p, c2, a2, m2);
	}
	while (!stop && (m1 = peer_recv(c1, a1)) != NULL) {
		stop = req_seq(m1) == PEER_STOP;
		if (!stop && req_seq(m1) != PEER_STATS)
			atomic_fetch_add(&p->requests, 1);
		peer_reply(p, c1, a1, m1);
	}
out:
	nng_aio_free(a1);
	nng_aio_free(a2);
	nng_ctx_close(c1);
	nng_ctx_close(c2);
	return NULL;
}

/* listen: tcp://127.0.0.1:0, tcp://[::1]:0 or an ipc:// URL. Returns the
 * result of nng_listen (the peer runs only if it is 0). */
static int peer_open(struct peer *p, const char *listen, int hold_first)
{
	nng_listener l;
	int rc, port = 0;

	memset(p, 0, sizeof(*p));
	p->hold_first = hold_first;
	assert_int_equal(nng_rep0_open(&p->sock), 0);
	assert_int_equal(
		nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, on_pipe, p), 0);
	if ((rc = nng_listen(p->sock, listen, &l, 0)) != 0) {
		nng_close(p->sock);
		return rc;
	}
	if (strncmp(listen, "tcp://", 6) == 0) {
		assert_int_equal(
			nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port),
			0);
		snprintf(p->url, sizeof(p->url), "%.*s%d",
			 (int)(strrchr(listen, ':') + 1 - listen), listen,
			 port);
	} else {
		snprintf(p->url, sizeof(p->url), "%s", listen);
	}
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
	return 0;
}

static void peer_start(struct peer *p, const char *listen, int hold_first)
{
	assert_int_equal(peer_open(p, listen, hold_first), 0);
}

/* A TCP port bound but not listening: connecting is refused, and nobody
 * else can take the port while fd is open. */
static int dead_port(int *fd)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &sl), 0);
	return ntohs(sa.sin_port);
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, (const uint8_t *)buf + off, len - off,
			 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* Reads one request frame (TCP framing); returns 0 or -1 on EOF. */
static int fake_read_request(struct fake *f, int fd)
{
	uint8_t head[12], skip[4096];
	uint64_t left;

	if (read_full(fd, head, sizeof(head)) != 0)
		return -1;
	if (f->nrequests++ == 0)
		memcpy(f->req_head, head, sizeof(head));
	left = be64(head) - 4;
	while (left > 0) {
		size_t n = left < sizeof(skip) ? (size_t)left : sizeof(skip);
		if (read_full(fd, skip, n) != 0)
			return -1;
		left -= n;
	}
	return 0;
}

static void *fake_main(void *arg)
{
	static const uint8_t rep_hello[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};
	static const uint8_t req_hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	struct fake *f = arg;
	struct timeval tv = {.tv_sec = 10};
	uint8_t big[8 + 4 + 1024], c;
	int fd;

	fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (f->mode == FAKE_GARBAGE)
		write_full(fd, "GARBAGE!", 8);
	else if (f->mode == FAKE_WRONG_PROTO)
		write_full(fd, req_hello, 8);
	else
		write_full(fd, rep_hello, 8);
	if (read_full(fd, f->hello, sizeof(f->hello)) != 0)
		goto out;
	if (f->mode == FAKE_OVERSIZE) {
		if (fake_read_request(f, fd) != 0)
			goto out;
		/* Declares 64 KiB + 1, echoes the id, sends 1 KiB of it. */
		memset(big, 'x', sizeof(big));
		big[0] = big[1] = big[2] = big[3] = big[4] = 0;
		big[5] = 0x01;
		big[6] = 0x00;
		big[7] = 0x01;
		memcpy(big + 8, f->req_head + 8, 4);
		write_full(fd, big, sizeof(big));
	}
	while (f->mode == FAKE_SILENT && fake_read_request(f, fd) == 0)
		;
	/* Wait for the agent to hang up. */
	while (read(fd, &c, 1) > 0)
		;
	f->client_closed = 1;
out:
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_join(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
}

/* The request body: seq as 8 bytes big-endian, then len - 8 filler bytes. */
static uint8_t *make_req(uint64_t seq, size_t len)
{
	uint8_t *m = malloc(len);

	assert_non_null(m);
	memset(m, 'r', len);
	for (int i = 7; i >= 0; i--) {
		m[i] = (uint8_t)seq;
		seq >>= 8;
	}
	return m;
}

static int send_seq(struct agent_transport *t, uint64_t seq, size_t len,
		    int timeout_ms, struct wire_reply *r)
{
	uint8_t *m = make_req(seq, len);
	int rc;

	rc = agent_transport_request(t, m, len, timeout_ms, r);
	free(m);
	return rc;
}

static void assert_ack(const struct wire_reply *r, uint64_t seq)
{
	char want[32];

	snprintf(want, sizeof(want), "ack %llu", (unsigned long long)seq);
	assert_int_equal(r->ok, 1);
	assert_int_equal(r->dup, 0);
	assert_int_equal(r->retry, 0);
	assert_int_equal(r->code, 0);
	assert_int_equal(r->seq, seq);
	assert_string_equal(r->msg, want);
}

static void peer_stop(struct peer *p)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;

	assert_int_equal(agent_transport_create(p->url, &t), 0);
	assert_int_equal(send_seq(t, PEER_STOP, 8, LONG_MS, &r), 0);
	assert_int_equal(r.seq, PEER_STOP);
	agent_transport_destroy(t);
	pthread_join(p->thread, NULL);
	nng_close(p->sock);
	if (strncmp(p->url, "ipc://", 6) == 0)
		unlink(p->url + strlen("ipc://"));
}

static void roundtrip(const char *listen)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	struct peer p;

	peer_start(&p, listen, 0);
	assert_int_equal(agent_transport_create(p.url, &t), 0);
	assert_int_equal(send_seq(t, 1, 16, LONG_MS, &r), 0);
	assert_ack(&r, 1);
	/* Larger than the socket buffers: partial writes. */
	assert_int_equal(send_seq(t, 2, 600 * 1024, LONG_MS, &r), 0);
	assert_ack(&r, 2);
	assert_int_equal(send_seq(t, 3, 8, LONG_MS, &r), 0);
	assert_ack(&r, 3);
	assert_int_equal(atomic_load(&p.requests), 3);
	assert_int_equal(atomic_load(&p.pipes), 1); /* connection kept */
	agent_transport_destroy(t);
	peer_stop(&p);
}

static void test_roundtrip_tcp(void **state)
{
	(void)state;
	roundtrip("tcp://127.0.0.1:0");
}

static void test_roundtrip_ipc(void **state)
{
	char url[128];

	(void)state;
	ipc_url(url, sizeof(url));
	roundtrip(url);
}

/* Host names (getaddrinfo) and IPv6 literals. */
static void test_roundtrip_names(void **state)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	struct peer p;
	char url[128];

	(void)state;
	peer_start(&p, "tcp://127.0.0.1:0", 0);
	snprintf(url, sizeof(url), "tcp://localhost:%s",
		 strrchr(p.url, ':') + 1);
	assert_int_equal(agent_transport_create(url, &t), 0);
	assert_int_equal(send_seq(t, 7, 8, LONG_MS, &r), 0);
	assert_ack(&r, 7);
	agent_transport_destroy(t);
	peer_stop(&p);

	if (peer_open(&p, "tcp://[::1]:0", 0) != 0) {
		fprintf(stderr, "no IPv6 loopback: [::1] not tested\n");
		return;
	}
	assert_string_not_equal(p.url, "tcp://[::1]:0");
	assert_int_equal(agent_transport_create(p.url, &t), 0);
	assert_int_equal(send_seq(t, 8, 8, LONG_MS, &r), 0);
	assert_ack(&r, 8);
	agent_transport_destroy(t);
	peer_stop(&p);
}

static void test_urls(void **state)
{
	static const char *const bad[] = {
		"",
		" , ",
		"http://127.0.0.1:80",
		"inproc://x",
		"tcp://127.0.0.1",
		"tcp://127.0.0.1:",
		"tcp://127.0.0.1:0",
		"tcp://127.0.0.1:65536",
		"tcp://127.0.0.1:12x",
		"tcp://:5555",
		"tcp://*:5555",
		"tcp://::1:5555",
		"tcp://[::1:5555",
		"tcp://[]:5555",
		"tcp://host/path:5555",
		"ipc://",
		"tcp://127.0.0.1:5555,udp://127.0.0.1:5555",
	};
	static const char *const good[] = {
		"tcp://127.0.0.1:5555",
		"tcp://localhost:1",
		"tcp://[::1]:65535",
		"ipc:///tmp/x.ipc",
		" tcp://10.0.0.1:7450 ,\tipc:///run/fp.ipc , ",
	};
	struct agent_transport *t = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = NULL;
		assert_int_equal(agent_transport_create(bad[i], &t), FP_EINVAL);
		assert_null(t);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = NULL;
		assert_int_equal(agent_transport_create(good[i], &t), 0);
		assert_non_null(t);
		agent_transport_destroy(t);
	}
	agent_transport_destroy(NULL);
	agent_transport_forget(NULL);
}

/* Request 1 times out; its reply arrives later on the same connection, just
 * before the reply to request 2, and must be dropped. */
static void test_stale_reply(void **state)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	struct peer p;
	int64_t t0;

	(void)state;
	peer_start(&p, "tcp://127.0.0.1:0", 1);
	assert_int_equal(agent_transport_create(p.url, &t), 0);
	t0 = now_ms();
	assert_int_equal(send_seq(t, 1, 8, 200, &r), FP_ETIMEDOUT);
	assert_true(now_ms() - t0 >= 199);
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(send_seq(t, 2, 8, LONG_MS, &r), 0);
	assert_ack(&r, 2);
	assert_int_equal(send_seq(t, 3, 8, LONG_MS, &r), 0);
	assert_ack(&r, 3);
	assert_int_equal(atomic_load(&p.requests), 3);
	/* One connection: the stale reply did reach the agent. */
	assert_int_equal(atomic_load(&p.pipes), 1);
	agent_transport_destroy(t);
	peer_stop(&p);
}

/* Nothing listening: a quick error; once a peer listens, it works. */
static void test_peer_down_then_up(void **state)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	struct peer p;
	char url[128], tcp[64];
	int64_t t0;
	int fd, port;

	(void)state;
	ipc_url(url, sizeof(url));
	assert_int_equal(agent_transport_create(url, &t), 0);
	t0 = now_ms();
	assert_int_equal(send_seq(t, 1, 8, LONG_MS, &r), FP_ENNG);
	assert_int_equal(send_seq(t, 1, 8, LONG_MS, &r), FP_ENNG);
	assert_true(now_ms() - t0 < 1000);
	peer_start(&p, url, 0);
	assert_int_equal(send_seq(t, 1, 8, LONG_MS, &r), 0);
	assert_ack(&r, 1);
	assert_int_equal(atomic_load(&p.requests), 1);
	agent_transport_destroy(t);
	peer_stop(&p);

	port = dead_port(&fd);
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
	assert_int_equal(agent_transport_create(tcp, &t), 0);
	t0 = now_ms();
	assert_int_equal(send_seq(t, 1, 8, LONG_MS, &r), FP_ENNG);
	assert_true(now_ms() - t0 < 1000);
	agent_transport_destroy(t);
	close(fd);
}

/* A dead first URL is skipped; a collector that dies is replaced by the
 * next one within the same call. */
static void test_failover(void **state)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	struct peer p1, p2;
	char urls[512];
	int fd, port;

	(void)state;
	port = dead_port(&fd);
	peer_start(&p1, "tcp://127.0.0.1:0", 0);
	snprintf(urls, sizeof(urls), "tcp://127.0.0.1:%d,%s", port, p1.url);
	assert_int_equal(agent_transport_create(urls, &t), 0);
	assert_int_equal(send_seq(t, 1, 8, LONG_MS, &r), 0);
	assert_ack(&r, 1);
	agent_transport_destroy(t);
	close(fd);

	ipc_url(urls, sizeof(urls));
	peer_start(&p2, urls, 0);
	snprintf(urls, sizeof(urls), "%s,%s", p1.url, p2.url);
	assert_int_equal(agent_transport_create(urls, &t), 0);
	assert_int_equal(send_seq(t, 2, 8, LONG_MS, &r), 0);
	assert_ack(&r, 2);
	assert_int_equal(atomic_load(&p1.requests), 2);
	peer_stop(&p1);
	assert_int_equal(send_seq(t, 3, 8, LONG_MS, &r), 0);
	assert_ack(&r, 3);
	assert_int_equal(atomic_load(&p2.requests), 1);
	agent_transport_destroy(t);
	peer_stop(&p2);
}

/* A reply declaring 64 KiB + 1 is refused and the connection closed; the
 * next request goes to the next URL. Also checks the bytes the agent sent. */
static void test_oversized_reply(void **state)
{
	static const uint8_t req_hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	struct agent_transport *t = NULL;
	struct wire_reply r;
	struct fake f;
	struct peer p;
	char urls[256], ipc[128];

	(void)state;
	fake_start(&f, FAKE_OVERSIZE);
	ipc_url(ipc, sizeof(ipc));
	peer_start(&p, ipc, 0);
	snprintf(urls, sizeof(urls), "tcp://127.0.0.1:%d,%s", f.port, p.url);
	assert_int_equal(agent_transport_create(urls, &t), 0);
	assert_int_equal(send_seq(t, 5, 100, LONG_MS, &r), FP_EMSGSIZE);
	fake_join(&f);
	assert_int_equal(f.client_closed, 1);
	assert_memory_equal(f.hello, req_hello, 8);
	assert_int_equal(be64(f.req_head), 4 + 100);
	assert_true((f.req_head[8] & 0x80) != 0); /* id with the high bit */
	assert_int_equal(f.nrequests, 1);
	assert_int_equal(send_seq(t, 6, 8, LONG_MS, &r), 0);
	assert_ack(&r, 6);
	agent_transport_destroy(t);
	peer_stop(&p);
}

static void bad_header(enum fake_mode mode)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	struct fake f;
	char url[64];

	fake_start(&f, mode);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", f.port);
	assert_int_equal(agent_transport_create(url, &t), 0);
	assert_int_equal(send_seq(t, 1, 8, LONG_MS, &r), FP_ENNG);
	fake_join(&f);
	assert_int_equal(f.client_closed, 1);
	assert_int_equal(f.nrequests, 0);
	agent_transport_destroy(t);
}

static void test_garbage_handshake(void **state)
{
	(void)state;
	bad_header(FAKE_GARBAGE);
	bad_header(FAKE_WRONG_PROTO);
}

/* A peer that never answers: the connection is kept through one missed
 * deadline, dropped after the second, and the next URL takes over. */
static void test_silent_peer(void **state)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	struct fake f;
	struct peer p;
	char urls[256], ipc[128];

	(void)state;
	fake_start(&f, FAKE_SILENT);
	ipc_url(ipc, sizeof(ipc));
	peer_start(&p, ipc, 0);
	snprintf(urls, sizeof(urls), "tcp://127.0.0.1:%d,%s", f.port, p.url);
	assert_int_equal(agent_transport_create(urls, &t), 0);
	assert_int_equal(send_seq(t, 1, 8, 100, &r), FP_ETIMEDOUT);
	assert_int_equal(send_seq(t, 1, 8, 100, &r), FP_ETIMEDOUT);
	fake_join(&f);
	assert_int_equal(f.client_closed, 1);
	assert_int_equal(f.nrequests, 2);
	assert_int_equal(send_seq(t, 1, 8, LONG_MS, &r), 0);
	assert_ack(&r, 1);
	agent_transport_destroy(t);
	peer_stop(&p);
}

/* In a forked child: exit status 0 when every request was acked. */
static int child_main(struct agent_transport *inherited, const char *url, int n)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	uint64_t seq;

	agent_transport_forget(inherited);
	if (agent_transport_create(url, &t) != 0)
		return 2;
	for (int i = 0; i < CHILD_REQUESTS; i++) {
		seq = (uint64_t)(n + 1) * 1000 + (uint64_t)i;
		if (send_seq(t, seq, 64, LONG_MS, &r) != 0)
			return 3;
		if (!r.ok || r.seq != seq)
			return 4;
	}
	agent_transport_destroy(t);
	return 0;
}

/*
 * The peer of the fork test: this program exec'd with "--peer FD", listening
 * on a TCP port it writes to FD. A process of its own so that the parent
 * forks while none of its threads is busy: a child forked while another
 * thread holds the allocator's lock deadlocks under ASan (gcc 12's libasan
 * does not lock its allocator around fork; glibc's malloc does).
 */
static int peer_process(const char *fdtext)
{
	struct peer p;
	nng_listener l;
	char line[32], *end;
	long fd = strtol(fdtext, &end, 10);
	int port = 0, n;

	if (*end != '\0' || fd < 0 || fd > INT32_MAX)
		return 2;
	memset(&p, 0, sizeof(p));
	if (nng_rep0_open(&p.sock) != 0 ||
	    nng_pipe_notify(p.sock, NNG_PIPE_EV_ADD_POST, on_pipe, &p) != 0 ||
	    nng_listen(p.sock, "tcp://127.0.0.1:0", &l, 0) != 0 ||
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
		return 3;
	n = snprintf(line, sizeof(line), "%d\n", port);
	if (write((int)fd, line, (size_t)n) != n)
		return 4;
	close((int)fd);
	peer_main(&p);
	nng_close(p.sock);
	return 0;
}

/* Starts peer_process(); returns its pid, its URL in url. */
static pid_t peer_spawn(char *url, size_t len)
{
	char fdtext[16], buf[32], *end;
	size_t got = 0;
	ssize_t n;
	long port;
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	snprintf(fdtext, sizeof(fdtext), "%d", fds[1]);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		execl("/proc/self/exe", "test_transport", "--peer", fdtext,
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	/* The peer closes its end once listening: read to EOF. */
	while (got < sizeof(buf) - 1) {
		n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	buf[got] = '\0';
	port = strtol(buf, &end, 10);
	assert_true(port > 0 && port < 65536 && *end == '\n');
	snprintf(url, len, "tcp://127.0.0.1:%ld", port);
	return pid;
}

/*
 * libnng is initialised in this process (a socket opened and closed here,
 * besides the other tests), then the process forks without exec: children
 * forget the inherited transport and use their own. None may abort, the
 * parent's connection must be untouched, and the peer counts every request.
 */
static void test_fork(void **state)
{
	struct agent_transport *t = NULL;
	struct wire_reply r;
	nng_socket s;
	pid_t pids[NCHILDREN], peer;
	char url[64], want[32];
	int status;

	(void)state;
	assert_int_equal(nng_rep0_open(&s), 0);
	nng_close(s);
	peer = peer_spawn(url, sizeof(url));
	assert_int_equal(agent_transport_create(url, &t), 0);
	assert_int_equal(send_seq(t, 1, 64, LONG_MS, &r), 0);
	assert_ack(&r, 1);
	for (int i = 0; i < NCHILDREN; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(child_main(t, url, i));
	}
	for (int i = 0; i < NCHILDREN; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(send_seq(t, 2, 64, LONG_MS, &r), 0);
	assert_ack(&r, 2);
	assert_int_equal(send_seq(t, PEER_STATS, 8, LONG_MS, &r), 0);
	assert_int_equal(r.seq, 1 + NCHILDREN * CHILD_REQUESTS + 1);
	/* The parent never had to reconnect: one connection per process. */
	snprintf(want, sizeof(want), "pipes %d", 1 + NCHILDREN);
	assert_string_equal(r.msg, want);
	assert_int_equal(send_seq(t, PEER_STOP, 8, LONG_MS, &r), 0);
	agent_transport_destroy(t);
	assert_int_equal(waitpid(peer, &status, 0), peer);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_roundtrip_tcp),
		cmocka_unit_test(test_roundtrip_ipc),
		cmocka_unit_test(test_roundtrip_names),
		cmocka_unit_test(test_stale_reply),
		cmocka_unit_test(test_peer_down_then_up),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_oversized_reply),
		cmocka_unit_test(test_garbage_handshake),
		cmocka_unit_test(test_silent_peer),
		cmocka_unit_test(test_fork),
	};

	if (argc == 3 && strcmp(argv[1], "--peer") == 0)
		return peer_process(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
