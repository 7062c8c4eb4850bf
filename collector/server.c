/*
 * The collector's network side: an nng REP socket with a pool of contexts,
 * each a small state machine IDLE -> RECV -> (decode, token) -> WAIT
 * (writer) -> SEND -> RECV. Decoding runs on nng's callback threads; bad
 * input and unknown senders are answered at once (retry=false) and logged
 * with their peer: bad input never stops us. Backpressure: past
 * max_pending_bytes a context that finishes rests (IDLE, parked) instead of
 * receiving again, until pending bytes fall below 3/4 of the limit. Drain:
 * contexts rest after their current step. srv_lock guards IDLE transitions,
 * the parked list, active and draining; nng is never called holding it.
 */
#include "collector.h"
#include "auth.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "metrics.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CTX_IDLE, CTX_RECV, CTX_WAIT, CTX_SEND };

/* A receive gives up this often, so a drain never waits on a quiet peer. */
#define RECV_POLL_MS 1000
/* A reply the peer does not take in this time is dropped (it resends). */
#define SEND_TIMEOUT_MS 10000

void collector_init(struct collector *c)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < COLLECTOR_MAX_WRITERS; i++) {
		/* Writers and fold threads wait in wall time. */
		pthread_cond_init(&c->writers[i].cond, NULL);
		pthread_cond_init(&c->writers[i].fold_cond, NULL);
	}
	pthread_mutex_init(&c->auth_lock, NULL);
	pthread_mutex_init(&c->srv_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->srv_cond, &ca);
	pthread_condattr_destroy(&ca);
	c->start_wall_ns = fp_wall_ns();
}

void collector_fini(struct collector *c)
{
	pthread_cond_destroy(&c->srv_cond);
	pthread_mutex_destroy(&c->srv_lock);
	pthread_mutex_destroy(&c->auth_lock);
	for (int i = 0; i < COLLECTOR_MAX_WRITERS; i++) {
		pthread_cond_destroy(&c->writers[i].cond);
		pthread_cond_destroy(&c->writers[i].fold_cond);
	}
	pthread_mutex_destroy(&c->lock);
}

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

/* srv_lock held: x stops counting as active. */
static void rest_locked(struct collector *c, struct collector_ctx *x)
{
	if (x->state == CTX_IDLE)
		return;
	x->state = CTX_IDLE;
	c->active--;
	pthread_cond_broadcast(&c->srv_cond);
}

/* srv_lock held: true while receiving is paused; starts an episode. */
static bool throttle_locked(struct collector *c)
{
	uint64_t pending = atomic_load(&c->stats.pending_bytes);
	size_t max = c->opt.max_pending_bytes;

	if (atomic_load(&c->throttled))
		return true;
	if (pending <= max)
		return false;
	atomic_store(&c->throttled, 1);
	c->throttled_since = fp_mono_ns();
	fp_warn("backpressure: %llu bytes pending, over max_pending_bytes "
		"%zu: pausing receives until below %zu",
		(unsigned long long)pending, max, max - max / 4);
	return true;
}

/* After a step: receive again, or rest (draining) or park (throttled). */
static void ctx_next(struct collector_ctx *x)
{
	struct collector *c = x->c;

	pthread_mutex_lock(&c->srv_lock);
	if (c->draining) {
		rest_locked(c, x);
		pthread_mutex_unlock(&c->srv_lock);
		return;
	}
	if (throttle_locked(c)) {
		rest_locked(c, x);
		x->parked_next = c->parked;
		c->parked = x;
		pthread_mutex_unlock(&c->srv_lock);
		return;
	}
	if (x->state == CTX_IDLE)
		c->active++;
	x->state = CTX_RECV;
	pthread_mutex_unlock(&c->srv_lock);
	nng_aio_set_timeout(x->aio, RECV_POLL_MS);
	nng_ctx_recv(x->ctx, x->aio);
}

/* Pending bytes went down: end the episode below 3/4 of the limit. */
static void throttle_release(struct collector *c)
{
	struct collector_ctx *list = NULL, *next;
	uint64_t pending;
	size_t max = c->opt.max_pending_bytes;

	/* Always under the lock: a context deciding to park reads the
	 * pending bytes under it too, so no wake-up can be missed. */
	pthread_mutex_lock(&c->srv_lock);
	pending = atomic_load(&c->stats.pending_bytes);
	if (atomic_load(&c->throttled) && pending * 4 < (uint64_t)max * 3) {
		atomic_store(&c->throttled, 0);
		list = c->parked;
		c->parked = NULL;
		fp_notice("backpressure: %llu bytes pending: resuming "
			  "receives after %.1f s",
			  (unsigned long long)pending,
			  (double)(fp_mono_ns() - c->throttled_since) / 1e9);
	}
	pthread_mutex_unlock(&c->srv_lock);
	for (; list != NULL; list = next) {
		next = list->parked_next;
		list->parked_next = NULL;
		ctx_next(list);
	}
}

void collector_reply(struct collector_ctx *x, const struct wire_reply *r)
{
	struct collector *c = x->c;
	size_t pending = x->pending;
	void *buf = NULL;
	size_t len = 0;
	nng_msg *m = NULL;

	wire_batch_destroy(x->batch);
	x->batch = NULL;
	if (!r->ok && !r->retry)
		collector_count_reject(c, r->code);
	if (pending != 0) {
		x->pending = 0;
		atomic_fetch_sub(&c->stats.pending_bytes, pending);
		atomic_fetch_sub(&c->stats.pending_batches, 1);
	}
	if (wire_reply_encode(r, &buf, &len) != 0 ||
	    nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, buf, len) != 0) {
		/* No reply possible: the agent times out and resends. */
		free(buf);
		if (m != NULL)
			nng_msg_free(m);
		if (pending != 0)
			throttle_release(c);
		ctx_next(x);
		return;
	}
	free(buf);
	x->state = CTX_SEND;
	nng_aio_set_msg(x->aio, m);
	nng_aio_set_timeout(x->aio, SEND_TIMEOUT_MS);
	nng_ctx_send(x->ctx, x->aio);
	if (pending != 0)
		throttle_release(c);
}

static void reject_auth(struct collector_ctx *x)
{
	struct collector *c = x->c;
	struct wire_reply r;
	const char *why =
		x->batch->token ? "token not accepted" : "no token sent";

	atomic_fetch_add(&c->stats.rejected, 1);
	fp_warn("rejected batch from %s (seq %llu): %s: %s", x->peer,
		(unsigned long long)x->batch->seq, fp_strerror(FP_EAUTH), why);
	memset(&r, 0, sizeof(r));
	r.code = FP_EAUTH;
	r.seq = x->batch->seq;
	snprintf(r.msg, sizeof(r.msg), "%s: %s", fp_strerror(FP_EAUTH), why);
	collector_reply(x, &r);
}

static void on_recv(struct collector_ctx *x)
{
	struct collector *c = x->c;
	struct wire_error err;
	struct wire_reply r;
	nng_msg *m = nng_aio_get_msg(x->aio);
	size_t len = nng_msg_len(m);
	int rc;

	atomic_fetch_add(&c->stats.received, 1);
	peer_name(m, x->peer, sizeof(x->peer));
	rc = wire_decode(nng_msg_body(m), len, &c->opt.limits, &x->batch, &err);
	nng_msg_free(m);
	if (rc == 0) {
		if (collector_auth_check(c, x->batch->token) != 0) {
			reject_auth(x);
			return;
		}
		x->pending = len > 0 ? len : 1;
		atomic_fetch_add(&c->stats.pending_bytes, x->pending);
		atomic_fetch_add(&c->stats.pending_batches, 1);
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
		if (rc != 0 && rc != NNG_ETIMEDOUT)
			fp_warn("receive failed: %s", nng_strerror(rc));
		if (rc != 0) {
			ctx_next(x);
			return;
		}
		on_recv(x);
		break;
	case CTX_SEND:
		if (rc != 0) {
			/* Peer gone, too slow, or socket closed: the message
			 * is still ours. */
			nng_msg *m = nng_aio_get_msg(x->aio);
			if (m != NULL)
				nng_msg_free(m);
			if (rc == NNG_ECLOSED || rc == NNG_ECANCELED)
				return;
			fp_info("reply to %s not sent: %s", x->peer,
				nng_strerror(rc));
		}
		ctx_next(x);
		break;
	default:
		break;
	}
}

static bool is_tls_url(const char *url)
{
	return strncmp(url, "tls+", 4) == 0;
}

/* Listens on one URL; a TLS one gets the server TLS configuration. */
static int listen_one(struct collector *c, const char *url)
{
	nng_listener l;
	char err[512];
	int rv;

	if (is_tls_url(url) && c->tls == NULL) {
		int rc = collector_tls_load(&c->opt, &c->tls, err, sizeof(err));
		if (rc != 0) {
			fp_err("cannot listen on %s: %s", url, err);
			return rc;
		}
		fp_info("TLS engine: %s", nng_tls_engine_description());
	}
	if ((rv = nng_listener_create(&l, c->sock, url)) != 0 ||
	    (is_tls_url(url) &&
	     (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, c->tls)) != 0) ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		fp_err("cannot listen on %s: %s", url, nng_strerror(rv));
		return FP_ENNG;
	}
	fp_notice("listening on %s", url);
	return 0;
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
		x->state = CTX_IDLE;
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
		while (*url == ' ')
			url++;
		if (*url == '\0')
			continue;
		if (listen_one(c, url) != 0) {
			free(urls);
			goto err_close;
		}
	}
	free(urls);
	for (int i = 0; i < c->nctx; i++)
		ctx_next(&c->ctxs[i]);
	atomic_store(&c->listening, 1);
	return 0;

err_close:
	collector_server_stop(c);
	return FP_ENNG;
}

void collector_server_drain(struct collector *c)
{
	atomic_store(&c->listening, 0);
	pthread_mutex_lock(&c->srv_lock);
	c->draining = 1;
	c->parked = NULL; /* parked contexts are idle already */
	pthread_mutex_unlock(&c->srv_lock);
	fp_notice("draining: receiving stopped, %llu batch(es) to answer",
		  (unsigned long long)atomic_load(&c->stats.pending_batches));
}

int collector_server_drain_wait(struct collector *c, int64_t deadline)
{
	struct timespec ts;
	int rc = 0;

	ts.tv_sec = (time_t)(deadline / FP_NS_PER_SEC);
	ts.tv_nsec = (long)(deadline % FP_NS_PER_SEC);
	pthread_mutex_lock(&c->srv_lock);
	while (c->active > 0 && rc == 0)
		if (pthread_cond_timedwait(&c->srv_cond, &c->srv_lock, &ts) ==
		    ETIMEDOUT)
			rc = FP_ETIMEDOUT;
	if (c->active == 0)
		rc = 0;
	pthread_mutex_unlock(&c->srv_lock);
	return rc;
}

void collector_server_stop(struct collector *c)
{
	atomic_store(&c->listening, 0);
	nng_close(c->sock);
	for (int i = 0; i < c->nctx; i++) {
		nng_aio_stop(c->ctxs[i].aio);
		nng_aio_free(c->ctxs[i].aio);
		wire_batch_destroy(c->ctxs[i].batch);
	}
	free(c->ctxs);
	c->ctxs = NULL;
	c->nctx = 0;
	if (c->tls != NULL) {
		nng_tls_config_free(c->tls);
		c->tls = NULL;
	}
}
