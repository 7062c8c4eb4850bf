/*
 * Transport as a small client of nng's own wire protocol (REQ over SP/TCP and
 * SP/IPC) on plain sockets: no libnng in the agent, so no worker threads in
 * the host and no abort in a child forked without exec (DESIGN.md, "Fork
 * trap"). Invariants: the object holds only one fd and heap memory; one
 * thread uses it at a time; every wait ends by the caller's deadline.
 */
#include "transport.h"
#include "fp/error.h"
#include "fp/log.h"
#include "wire/reply.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * Design notes: the wire format, as nng 1.5.2 speaks it (src/sp/transport/
 * tcp/tcp.c, ipc/ipc.c, src/sp/protocol/reqrep0/req.c, rep.c).
 * - Both sides send an 8-byte header at once: 00 'S' 'P' 00, the sender's
 *   protocol as 16-bit big-endian (REQ 0x30, REP 0x31), 00 00. nng closes a
 *   pipe whose peer protocol does not match, and so do we.
 * - TCP frames: a 64-bit big-endian length, then that many bytes. IPC frames
 *   put a message type byte before the length: 1, which nng sends and
 *   requires (sp-ipc-mapping-01 says 0; nng closes such a pipe).
 * - A request's payload is a 32-bit big-endian id with the high bit set, then
 *   the body; REP echoes the id as the reply's first 4 bytes.
 * One connection at a time, to eps[cur]. A timeout keeps the connection (the
 * late reply is read and discarded by id on the next call, a half-read frame
 * continues where it stopped) until SP_MAX_TIMEOUTS in a row; any other
 * failure closes it and moves cur to the next URL; if a kept connection
 * fails, the request goes once more on a new one (collector restarted or
 * gone; its dedup makes the resend safe). No sleeping here: the flush thread
 * backs off between calls. A declared length is checked against
 * SP_RECV_MAX before a byte is read into the fixed frame buffer; nothing is
 * allocated from the wire.
 */

#define SP_PROTO_REQ 0x30
#define SP_PROTO_REP 0x31
#define SP_HANDSHAKE_LEN 8
#define SP_HELLO(proto)                          \
	{                                        \
		0, 'S', 'P', 0, 0, (proto), 0, 0 \
	}
#define SP_IPC_MSG_TYPE 1
#define SP_ID_LEN 4
#define SP_ID_END 0x80000000u
/* Largest reply frame (id + body) we accept; real replies are < 1 KiB. */
#define SP_RECV_MAX (64 * 1024)
/* A connection whose peer misses this many deadlines in a row is dropped. */
#define SP_MAX_TIMEOUTS 2
#define SP_HOST_MAX 255
#define SP_PATH_MAX sizeof(((struct sockaddr_un *)NULL)->sun_path)

enum sp_kind { SP_TCP, SP_IPC };

struct sp_endpoint {
	enum sp_kind kind;
	char *url;	  /* as configured, for logs; ipc path points into it */
	char *host;	  /* tcp: name or address, IPv6 without brackets */
	char port[6];	  /* tcp: decimal, 1..65535 */
	const char *path; /* ipc */
};

struct agent_transport {
	struct sp_endpoint *eps;
	size_t neps;
	size_t cur;   /* endpoint connected to, or the next to dial */
	int fd;	      /* -1 while not connected */
	int timeouts; /* deadlines missed in a row on fd */
	uint32_t next_id;
	/* The reply frame being read; it may span calls after a timeout. */
	uint8_t head[1 + 8];
	size_t head_got;
	size_t frame_got;
	uint8_t frame[SP_RECV_MAX];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* errno text without strerror()'s shared buffer; either strerror_r. */
static const char *err_text(int err, char *buf, size_t len)
{
#ifdef _GNU_SOURCE
	return strerror_r(err, buf, len);
#else
	if (strerror_r(err, buf, len) != 0)
		snprintf(buf, len, "errno %d", err);
	return buf;
#endif
}

/* Waits until fd is ready for events: 0, FP_ETIMEDOUT or FP_EIO. */
static int sp_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ns();
		if (left <= 0)
			return FP_ETIMEDOUT;
		left = (left + 999999) / 1000000;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return FP_EIO;
	}
}

/* Writes every byte of iov (which it consumes): 0, FP_ETIMEDOUT, FP_ENNG. */
static int sp_send_all(int fd, struct iovec *iov, int iovcnt, int64_t deadline)
{
	struct msghdr mh;
	ssize_t n;
	int rc;

	while (iovcnt > 0) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)iovcnt;
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return FP_ENNG;
			if ((rc = sp_wait(fd, POLLOUT, deadline)) != 0)
				return rc;
			continue;
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/*
 * Reads until buf holds want bytes; *got counts what arrived, also across
 * calls. 0, FP_ETIMEDOUT, or FP_ENNG (error, or the peer closed).
 */
static int sp_recv_upto(int fd, uint8_t *buf, size_t want, size_t *got,
			int64_t deadline)
{
	ssize_t n;
	int rc;

	while (*got < want) {
		n = recv(fd, buf + *got, want - *got, MSG_DONTWAIT);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n == 0)
			return FP_ENNG;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return FP_ENNG;
		if ((rc = sp_wait(fd, POLLIN, deadline)) != 0)
			return rc;
	}
	return 0;
}

/* Closes the connection and moves on to the next URL. */
static void sp_fail(struct agent_transport *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->head_got = 0;
	t->frame_got = 0;
	t->timeouts = 0;
	t->cur = (t->cur + 1) % t->neps;
}

/* Non-blocking connect to one address; *out is the socket on success. */
static int sp_connect_addr(const struct sp_endpoint *ep,
			   const struct sockaddr *sa, socklen_t salen,
			   int64_t deadline, int *out)
{
	socklen_t errlen = sizeof(int);
	char ebuf[128];
	int fd, err = 0, rc;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		err = errno;
		rc = FP_EIO;
		goto err_log;
	}
	if (connect(fd, sa, salen) != 0) {
		err = errno;
		if (err != EINPROGRESS && err != EINTR) {
			rc = FP_ENNG;
			goto err_close;
		}
		if ((rc = sp_wait(fd, POLLOUT, deadline)) != 0)
			goto err_close;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0)
			err = errno;
		if (err != 0) {
			rc = FP_ENNG;
			goto err_close;
		}
	}
	*out = fd;
	return 0;

err_close:
	close(fd);
err_log:
	if (rc == FP_ETIMEDOUT)
		fp_debug("agent: connect %s: timed out", ep->url);
	else
		fp_debug("agent: connect %s: %s", ep->url,
			 err_text(err, ebuf, sizeof(ebuf)));
	return rc;
}

static int sp_dial_tcp(const struct sp_endpoint *ep, int64_t deadline, int *out)
{
	struct addrinfo hints, *res, *ai;
	int rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	/* May block on DNS: acceptable, this is the flush thread. */
	rc = getaddrinfo(ep->host, ep->port, &hints, &res);
	if (rc != 0) {
		fp_info("agent: cannot resolve %s: %s", ep->url,
			gai_strerror(rc));
		return FP_ENNG;
	}
	rc = FP_ENNG;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		rc = sp_connect_addr(ep, ai->ai_addr, ai->ai_addrlen, deadline,
				     out);
		if (rc == 0 || rc == FP_ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (rc == 0)
		setsockopt(*out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return rc;
}

static int sp_dial_ipc(const struct sp_endpoint *ep, int64_t deadline, int *out)
{
	struct sockaddr_un sa;
	size_t n = strlen(ep->path);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, ep->path, n); /* fits: checked when parsed */
	return sp_connect_addr(
		ep, (struct sockaddr *)&sa,
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1),
		deadline, out);
}

/* Exchanges SP headers on t->fd; the peer must be a REP socket. */
static int sp_handshake(struct agent_transport *t, int64_t deadline)
{
	static const uint8_t want[SP_HANDSHAKE_LEN] = SP_HELLO(SP_PROTO_REP);
	uint8_t mine[SP_HANDSHAKE_LEN] = SP_HELLO(SP_PROTO_REQ);
	uint8_t peer[SP_HANDSHAKE_LEN];
	struct iovec iov = {.iov_base = mine, .iov_len = sizeof(mine)};
	size_t got = 0;
	int rc;

	if ((rc = sp_send_all(t->fd, &iov, 1, deadline)) != 0)
		return rc;
	rc = sp_recv_upto(t->fd, peer, sizeof(peer), &got, deadline);
	if (rc != 0)
		return rc;
	if (memcmp(peer, want, sizeof(want)) != 0) {
		fp_warn("agent: %s is not an nng REP socket (SP header "
			"%02x %02x %02x %02x %02x %02x %02x %02x)",
			t->eps[t->cur].url, peer[0], peer[1], peer[2], peer[3],
			peer[4], peer[5], peer[6], peer[7]);
		return FP_ENNG;
	}
	return 0;
}

/*
 * Connects to eps[cur], or failing that to the next URLs, each tried once.
 * On failure t stays disconnected with cur on the URL to try next.
 */
static int sp_connect(struct agent_transport *t, int64_t deadline)
{
	const struct sp_endpoint *ep;
	int rc = FP_ENNG;

	for (size_t i = 0; i < t->neps; i++) {
		ep = &t->eps[t->cur];
		if (ep->kind == SP_TCP)
			rc = sp_dial_tcp(ep, deadline, &t->fd);
		else
			rc = sp_dial_ipc(ep, deadline, &t->fd);
		if (rc == 0 && (rc = sp_handshake(t, deadline)) == 0) {
			t->timeouts = 0;
			return 0;
		}
		sp_fail(t);
		if (rc == FP_ETIMEDOUT)
			break;
	}
	return rc;
}

static int sp_send_request(struct agent_transport *t, uint32_t id,
			   const void *msg, size_t len, int64_t deadline)
{
	uint8_t head[1 + 8 + SP_ID_LEN];
	struct iovec iov[2];
	size_t n = 0;

	if (t->eps[t->cur].kind == SP_IPC)
		head[n++] = SP_IPC_MSG_TYPE;
	put_be(head + n, (uint64_t)len + SP_ID_LEN, 8);
	n += 8;
	put_be(head + n, id, SP_ID_LEN);
	n += SP_ID_LEN;
	iov[0].iov_base = head;
	iov[0].iov_len = n;
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	return sp_send_all(t->fd, iov, len > 0 ? 2 : 1, deadline);
}

/*
 * Reads one whole reply frame into t->frame, *len its length (>= 4). The
 * declared length is checked before a byte of the frame is read.
 */
static int sp_recv_frame(struct agent_transport *t, int64_t deadline,
			 size_t *len)
{
	const struct sp_endpoint *ep = &t->eps[t->cur];
	size_t hlen = ep->kind == SP_IPC ? 9 : 8;
	uint64_t flen;
	int rc;

	rc = sp_recv_upto(t->fd, t->head, hlen, &t->head_got, deadline);
	if (rc != 0)
		return rc;
	if (ep->kind == SP_IPC && t->head[0] != SP_IPC_MSG_TYPE) {
		fp_warn("agent: %s: unknown IPC message type %u", ep->url,
			t->head[0]);
		return FP_ENNG;
	}
	flen = get_be(t->head + hlen - 8, 8);
	if (flen > SP_RECV_MAX) {
		fp_warn("agent: %s: reply of %llu bytes exceeds %d", ep->url,
			(unsigned long long)flen, SP_RECV_MAX);
		return FP_EMSGSIZE;
	}
	if (flen < SP_ID_LEN) {
		fp_warn("agent: %s: reply without request id", ep->url);
		return FP_ENNG;
	}
	rc = sp_recv_upto(t->fd, t->frame, (size_t)flen, &t->frame_got,
			  deadline);
	if (rc != 0)
		return rc;
	t->head_got = 0;
	t->frame_got = 0;
	*len = (size_t)flen;
	return 0;
}

/* Reads frames until the reply to id; stale replies are dropped. */
static int sp_await_reply(struct agent_transport *t, uint32_t id,
			  int64_t deadline, struct wire_reply *reply)
{
	size_t len = 0;
	int rc;

	for (;;) {
		rc = sp_recv_frame(t, deadline, &len);
		if (rc == 0 && get_be(t->frame, SP_ID_LEN) != id) {
			/* A late reply to a request that timed out. */
			if (now_ns() < deadline)
				continue;
			rc = FP_ETIMEDOUT;
		}
		if (rc == FP_ETIMEDOUT) {
			if (++t->timeouts >= SP_MAX_TIMEOUTS) {
				fp_info("agent: %s missed %d deadlines, "
					"reconnecting",
					t->eps[t->cur].url, t->timeouts);
				sp_fail(t);
			}
			return rc;
		}
		if (rc != 0) {
			sp_fail(t);
			return rc;
		}
		t->timeouts = 0;
		return wire_reply_decode(t->frame + SP_ID_LEN, len - SP_ID_LEN,
					 reply);
	}
}

static int parse_port(const char *s, char port[6])
{
	unsigned long v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9' && n < 5) {
		v = v * 10 + (unsigned long)(s[n] - '0');
		n++;
	}
	if (n == 0 || s[n] != '\0' || v == 0 || v > 65535)
		return FP_EINVAL;
	memcpy(port, s, n + 1);
	return 0;
}

/* tcp://host:port, tcp://[v6]:port; rest is what follows "tcp://". */
static int parse_tcp(struct sp_endpoint *ep, const char *rest)
{
	const char *host = rest, *end, *colon;

	if (*rest == '[') {
		host = rest + 1;
		end = strchr(host, ']');
		if (end == NULL || end[1] != ':')
			return FP_EINVAL;
		colon = end + 1;
	} else {
		colon = strrchr(rest, ':');
		if (colon == NULL)
			return FP_EINVAL;
		end = colon;
		if (memchr(host, ':', (size_t)(end - host)) != NULL)
			return FP_EINVAL; /* IPv6 needs brackets */
	}
	if (end == host || end - host > SP_HOST_MAX ||
	    memchr(host, '/', (size_t)(end - host)) != NULL ||
	    (end - host == 1 && *host == '*'))
		return FP_EINVAL;
	if (parse_port(colon + 1, ep->port) != 0)
		return FP_EINVAL;
	ep->host = strndup(host, (size_t)(end - host));
	if (ep->host == NULL)
		return FP_ENOMEM;
	ep->kind = SP_TCP;
	return 0;
}

/* One URL of n bytes at s (not NUL-terminated) into ep. */
static int parse_url(struct sp_endpoint *ep, const char *s, size_t n)
{
	int rc = FP_EINVAL;

	ep->url = strndup(s, n);
	if (ep->url == NULL)
		return FP_ENOMEM;
	if (strncmp(ep->url, "tcp://", 6) == 0) {
		rc = parse_tcp(ep, ep->url + 6);
	} else if (strncmp(ep->url, "ipc://", 6) == 0) {
		ep->path = ep->url + 6;
		if (*ep->path != '\0' && strlen(ep->path) < SP_PATH_MAX) {
			ep->kind = SP_IPC;
			rc = 0;
		}
	}
	if (rc == FP_EINVAL)
		fp_warn("agent: unsupported collector URL '%s' (want "
			"tcp://host:port or ipc:///path)",
			ep->url);
	return rc;
}

static void sp_free(struct agent_transport *t)
{
	if (t->fd >= 0)
		close(t->fd);
	for (size_t i = 0; i < t->neps; i++) {
		free(t->eps[i].url);
		free(t->eps[i].host);
	}
	free(t->eps);
	free(t);
}

int agent_transport_create(const char *urls, struct agent_transport **out)
{
	struct agent_transport *t;
	const char *p, *end;
	size_t n, cap = 1;
	int rc;

	if (urls == NULL || out == NULL)
		return FP_EINVAL;
	for (p = urls; *p != '\0'; p++)
		cap += *p == ',';
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return FP_ENOMEM;
	t->fd = -1;
	t->eps = calloc(cap, sizeof(*t->eps));
	if (t->eps == NULL) {
		rc = FP_ENOMEM;
		goto err_free;
	}
	for (p = urls; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		rc = parse_url(&t->eps[t->neps++], p, n);
		if (rc != 0)
			goto err_free;
	}
	if (t->neps == 0) {
		fp_warn("agent: no collector URL in '%s'", urls);
		rc = FP_EINVAL;
		goto err_free;
	}
	t->next_id = (uint32_t)now_ns() ^ (uint32_t)getpid() * 2654435761u ^
		     (uint32_t)(uintptr_t)t;
	*out = t;
	return 0;

err_free:
	sp_free(t);
	return rc;
}

void agent_transport_destroy(struct agent_transport *t)
{
	if (t == NULL)
		return;
	sp_free(t);
}

/*
 * Only close(): the socket lives on in the parent, which still holds it, so
 * the peer sees nothing. shutdown() or any I/O here would hit the parent's
 * connection.
 */
void agent_transport_forget(struct agent_transport *t)
{
	if (t == NULL)
		return;
	sp_free(t);
}

int agent_transport_request(struct agent_transport *t, const void *msg,
			    size_t len, int timeout_ms,
			    struct wire_reply *reply)
{
	int64_t deadline;
	uint32_t id;
	int rc, reused;

	if (t == NULL || (msg == NULL && len > 0) || timeout_ms < 0 ||
	    reply == NULL)
		return FP_EINVAL;
	deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	for (int attempt = 0;; attempt++) {
		reused = t->fd >= 0;
		if (!reused && (rc = sp_connect(t, deadline)) != 0)
			return rc;
		id = t->next_id++ | SP_ID_END;
		rc = sp_send_request(t, id, msg, len, deadline);
		if (rc != 0)
			sp_fail(t); /* a partly written frame ruins the stream
				     */
		else
			rc = sp_await_reply(t, id, deadline, reply);
		/* A kept connection may have died since (collector restart):
		 * send once more on a new one, to the next URL. */
		if (rc == FP_ENNG && reused && attempt == 0)
			continue;
		return rc;
	}
}
