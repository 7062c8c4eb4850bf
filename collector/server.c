/*
 * The collector's network side: an nng REP socket with a pool of contexts,
 * each a small state machine RECV -> (decode) -> WAIT (writer) -> SEND ->
 * RECV. Decoding runs on nng's callback threads. A batch that fails to
 * decode is answered at once with the reason (retry=false), logged with its
 * peer, and the context goes back to receiving: bad input never stops us.
 */
#include "collector.h"
#include "fp/error.h"
#include "fp/log.h"

#include <arpa/inet.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CTX_RECV, CTX_WAIT, CTX_SEND };

static void peer_name(nng_msg *m, char *buf, size_t len)
{
	nng_pipe p = nng_msg_get_pipe(m);
	nng_sockaddr sa;
	char ip[INET6_ADDRSTRLEN];

	snprintf(buf, len, "unknown peer");
	if (nng_pipe_id(p) < 0 ||
	    nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	switch (sa.s_family) {
	case NNG_AF_INET:
		inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sa.s_in.sa_port));
		break;
	case NNG_AF_INET6:
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
		break;
	case NNG_AF_IPC:
		snprintf(buf, len, "ipc:%s", sa.s_ipc.sa_path);
		break;
	default:
		snprintf(buf, len, "pipe %d", nng_pipe_id(p));
	}
}

static void arm_recv(struct collector_ctx *x)
{
	x->state = CTX_RECV;
	nng_ctx_recv(x->ctx, x->aio);
}

void collector_reply(struct collector_ctx *x, const struct wire_reply *r)
{
	void *buf = NULL;
	size_t len = 0;
	nng_msg *m = NULL;

	wire_batch_destroy(x->batch);
	x->batch = NULL;
	if (wire_reply_encode(r, &buf, &len) != 0 ||
	    nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, buf, len) != 0) {
		/* No reply possible: the agent times out and resends. */
		free(buf);
		if (m != NULL)
			nng_msg_free(m);
		arm_recv(x);
		return;
	}
	free(buf);
	x->state = CTX_SEND;
	nng_aio_set_msg(x->aio, m);
	nng_ctx_send(x->ctx, x->aio);
}

static void on_recv(struct collector_ctx *x)
{
	struct collector *c = x->c;
	struct wire_error err;
	struct wire_reply r;
	nng_msg *m = nng_aio_get_msg(x->aio);
	int rc;

	atomic_fetch_add(&c->stats.received, 1);
	peer_name(m, x->peer, sizeof(x->peer));
	rc = wire_decode(nng_msg_body(m), nng_msg_len(m), &c->opt.limits,
			 &x->batch, &err);
	nng_msg_free(m);
	if (rc == 0) {
		x->state = CTX_WAIT;
		collector_writer_enqueue(c, x);
		return;
	}
	atomic_fetch_add(&c->stats.rejected, 1);
	fp_warn("rejected batch from %s: %s: %s", x->peer, fp_strerror(rc),
		err.detail);
	memset(&r, 0, sizeof(r));
	r.code = rc;
	snprintf(r.msg, sizeof(r.msg), "%s: %s", fp_strerror(rc), err.detail);
	x->batch = NULL;
	collector_reply(x, &r);
}

static void ctx_cb(void *arg)
{
	struct collector_ctx *x = arg;
	int rc = nng_aio_result(x->aio);

	switch (x->state) {
	case CTX_RECV:
		if (rc == NNG_ECLOSED || rc == NNG_ECANCELED)
			return;
		if (rc != 0) {
			fp_warn("receive failed: %s", nng_strerror(rc));
			arm_recv(x);
			return;
		}
		on_recv(x);
		break;
	case CTX_SEND:
		if (rc != 0) {
			/* Peer gone or socket closed: the message is ours. */
			nng_msg *m = nng_aio_get_msg(x->aio);
			if (m != NULL)
				nng_msg_free(m);
			if (rc == NNG_ECLOSED || rc == NNG_ECANCELED)
				return;
		}
		arm_recv(x);
		break;
	default:
		break;
	}
}

int collector_server_start(struct collector *c)
{
	char *urls, *url, *next;
	int rc;

	if ((rc = nng_rep0_open(&c->sock)) != 0) {
		fp_err("nng_rep0_open: %s", nng_strerror(rc));
		return FP_ENNG;
	}
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
			    c->opt.limits.max_msg_bytes);
	c->ctxs = calloc((size_t)c->opt.contexts, sizeof(*c->ctxs));
	if (c->ctxs == NULL)
		goto err_close;
	for (c->nctx = 0; c->nctx < c->opt.contexts; c->nctx++) {
		struct collector_ctx *x = &c->ctxs[c->nctx];
		x->c = c;
		if (nng_aio_alloc(&x->aio, ctx_cb, x) != 0)
			goto err_close;
		if (nng_ctx_open(&x->ctx, c->sock) != 0) {
			nng_aio_free(x->aio);
			goto err_close;
		}
	}
	urls = strdup(c->opt.listen);
	if (urls == NULL)
		goto err_close;
	for (url = urls; url != NULL; url = next) {
		next = strchr(url, ',');
		if (next != NULL)
			*next++ = '\0';
		if (*url == '\0')
			continue;
		if ((rc = nng_listen(c->sock, url, NULL, 0)) != 0) {
			fp_err("cannot listen on %s: %s", url,
			       nng_strerror(rc));
			free(urls);
			goto err_close;
		}
		fp_notice("listening on %s", url);
	}
	free(urls);
	for (int i = 0; i < c->nctx; i++)
		arm_recv(&c->ctxs[i]);
	return 0;

err_close:
	collector_server_stop(c);
	return FP_ENNG;
}

void collector_server_stop(struct collector *c)
{
	nng_close(c->sock);
	for (int i = 0; i < c->nctx; i++) {
		nng_aio_stop(c->ctxs[i].aio);
		nng_aio_free(c->ctxs[i].aio);
		wire_batch_destroy(c->ctxs[i].batch);
	}
	free(c->ctxs);
	c->ctxs = NULL;
	c->nctx = 0;
}
