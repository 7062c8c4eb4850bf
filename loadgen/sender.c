/*
 * The simulated fleet: T threads, each owning some agents and a few nng REQ
 * sockets dialed to every collector. An agent has its own context, at most
 * one batch in flight, resent byte for byte (same seq) like a real agent; a
 * flush that finds it unanswered is skipped and counted (bounded memory).
 * nng callbacks only queue the agent for its owner thread, which owns all
 * agent state and publishes its counters under its lock.
 */
#include "loadgen.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "wire/reply.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum { AG_IDLE, AG_SEND, AG_RECV, AG_BACKOFF };

#define BACKOFF_MIN (100 * FP_NS_PER_MS)
#define BACKOFF_MAX (5 * FP_NS_PER_SEC)
#define BUCKET_NS (60 * FP_NS_PER_SEC)

struct lg_thread;

struct lg_agent {
	struct lg_thread *th;
	uint32_t local; /* index in th->agents */
	uint32_t index; /* in the fleet */
	uint8_t id[WIRE_AGENT_ID_LEN];
	char host[48];
	uint64_t seq;	    /* last seq used */
	int64_t next_flush; /* mono ns */
	int64_t last_t1;    /* wall ns, end of the last window */
	int state;	    /* AG_* */
	void *buf;	    /* the batch in flight (wire_encode) */
	size_t len;
	uint64_t ncalls; /* of the batch in flight */
	uint64_t rows;
	int64_t first_send; /* mono ns */
	int64_t retry_at;   /* mono ns, in AG_BACKOFF */
	int64_t backoff;
	nng_ctx ctx;
	nng_aio *aio;
};

struct lg_run;

struct lg_thread {
	struct lg_run *run;
	pthread_t tid;
	int started;
	struct lg_agent *agents;
	uint32_t nagents;
	nng_socket *socks;
	uint32_t nsocks;
	struct loadgen_rows rows;
	uint64_t rng;
	/* private to the owner thread */
	struct loadgen_totals t;
	struct loadgen_hist hist;
	struct loadgen_hist win;
	int64_t last_answer; /* mono ns */
	int warned;
	/* shared with callbacks and the main thread, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t *q;	/* agents whose aio completed (ring of nagents) */
	uint32_t *work; /* the owner's copy of q, taken under lock */
	uint32_t qhead, qlen;
	struct loadgen_totals pub_t;
	struct loadgen_hist pub_win;
	uint32_t pub_inflight;
	int done;
};

struct lg_run {
	const struct loadgen_options *o;
	const struct loadgen_profile *prof;
	struct lg_thread *th;
	uint32_t nth;
	int64_t start_wall;
	int64_t start_mono;
	int64_t stop_flush; /* mono ns: no new batch from here */
	int64_t deadline;   /* mono ns: give up on the last answers */
	atomic_int abort;   /* set when the run could not start */
};

_Static_assert(sizeof(struct loadgen_totals) % sizeof(uint64_t) == 0,
	       "loadgen_totals holds only uint64_t counters");

static void totals_add(struct loadgen_totals *dst,
		       const struct loadgen_totals *src)
{
	uint64_t *d = (uint64_t *)dst;
	const uint64_t *s = (const uint64_t *)src;
	for (size_t k = 0; k < sizeof(*dst) / sizeof(uint64_t); k++)
		d[k] += s[k];
}

static void agent_cb(void *arg)
{
	struct lg_agent *a = arg;
	struct lg_thread *th = a->th;

	pthread_mutex_lock(&th->lock);
	if (th->qlen < th->nagents) {
		th->q[(th->qhead + th->qlen) % th->nagents] = a->local;
		th->qlen++;
	}
	pthread_cond_signal(&th->cond);
	pthread_mutex_unlock(&th->lock);
}

static void back_off(struct lg_agent *a, int64_t now)
{
	a->state = AG_BACKOFF;
	a->retry_at = now + a->backoff;
	a->backoff =
		a->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : a->backoff * 2;
}

/* Sends the batch in flight (again); on failure backs off. */
static void send_attempt(struct lg_agent *a, int64_t now)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, a->len) != 0) {
		a->th->t.transport_errors++;
		back_off(a, now);
		return;
	}
	memcpy(nng_msg_body(m), a->buf, a->len);
	nng_aio_set_msg(a->aio, m);
	a->state = AG_SEND;
	nng_ctx_send(a->ctx, a->aio);
}

static void release_batch(struct lg_agent *a)
{
	free(a->buf);
	a->buf = NULL;
	a->len = 0;
	a->state = AG_IDLE;
}

/* A new batch for the window ending now, cut at the bucket start. */
static void new_batch(struct lg_thread *th, struct lg_agent *a, int64_t now)
{
	const struct lg_run *run = th->run;
	const struct loadgen_profile *p = run->prof;
	struct wire_batch b;
	int64_t t1 = fp_wall_ns(), bucket0;
	uint64_t ncalls;

	ncalls = loadgen_profile_fill(p, &th->rows, &th->rng);
	memset(&b, 0, sizeof(b));
	memcpy(b.agent.id, a->id, sizeof(a->id));
	b.agent.host = a->host;
	b.agent.service = run->o->service;
	b.agent.lang = "c";
	b.agent.pid = 1000 + a->index;
	b.agent.start_ns = run->start_wall;
	b.seq = a->seq + 1;
	bucket0 = t1 - t1 % BUCKET_NS;
	if (a->last_t1 == 0 || a->last_t1 > t1)
		a->last_t1 = t1 - run->o->interval_ns;
	b.t0 = a->last_t1 > bucket0 ? a->last_t1 : bucket0;
	b.t1 = t1;
	b.clock = WIRE_CLOCK_WALL;
	b.fns = p->fns;
	b.nfns = p->nfns;
	b.fstats = th->rows.fstats;
	b.nfstats = p->nfns;
	b.edges = th->rows.edges;
	b.nedges = p->nedges;
	b.nodes = th->rows.nodes;
	b.nnodes = p->nnodes;
	if (wire_encode(&b, &a->buf, &a->len) != 0) {
		th->t.flushes_skipped++;
		return;
	}
	a->seq = b.seq;
	a->last_t1 = t1;
	a->ncalls = ncalls;
	a->rows = (uint64_t)p->nfns + p->nedges + p->nnodes;
	a->first_send = now;
	a->backoff = BACKOFF_MIN;
	th->t.batches_sent++;
	th->t.ncalls_sent += ncalls;
	th->t.rows_sent += a->rows;
	th->t.bytes_sent += a->len;
	send_attempt(a, now);
}

static void on_reply(struct lg_thread *th, struct lg_agent *a, nng_msg *m,
		     int64_t now)
{
	struct wire_reply r;
	int rc = wire_reply_decode(nng_msg_body(m), nng_msg_len(m), &r);

	nng_msg_free(m);
	if (rc != 0 || r.seq != a->seq) {
		th->t.bad_replies++;
		if (th->warned++ < 5)
			fprintf(stderr, "loadgen: bad reply for seq %llu: %s\n",
				(unsigned long long)a->seq,
				rc != 0 ? fp_strerror(rc) : "wrong seq");
		back_off(a, now);
		return;
	}
	th->last_answer = now;
	if (r.ok) {
		uint64_t us = (uint64_t)(now - a->first_send) / 1000;
		th->t.batches_acked++;
		th->t.batches_dup += r.dup != 0;
		th->t.ncalls_acked += a->ncalls;
		th->t.rows_acked += a->rows;
		loadgen_hist_add(&th->hist, us);
		loadgen_hist_add(&th->win, us);
		release_batch(a);
	} else if (r.retry) {
		th->t.retry_replies++;
		back_off(a, now);
	} else {
		th->t.batches_rejected++;
		th->t.ncalls_rejected += a->ncalls;
		if (th->warned++ < 5)
			fprintf(stderr,
				"loadgen: batch seq %llu of %s rejected: "
				"%s (%s)\n",
				(unsigned long long)a->seq, a->host, r.msg,
				fp_strerror(r.code));
		release_batch(a);
	}
}

static void on_complete(struct lg_thread *th, struct lg_agent *a, int64_t now)
{
	int rc = nng_aio_result(a->aio);

	if (a->state == AG_SEND) {
		if (rc != 0) {
			nng_msg *m = nng_aio_get_msg(a->aio);
			if (m != NULL)
				nng_msg_free(m);
			if (rc == NNG_ETIMEDOUT)
				th->t.timeouts++;
			else
				th->t.transport_errors++;
			back_off(a, now);
			return;
		}
		a->state = AG_RECV;
		nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	if (a->state != AG_RECV)
		return;
	if (rc == 0) {
		on_reply(th, a, nng_aio_get_msg(a->aio), now);
		return;
	}
	if (rc == NNG_ETIMEDOUT)
		th->t.timeouts++;
	else
		th->t.transport_errors++;
	back_off(a, now);
}

static void publish(struct lg_thread *th)
{
	uint32_t busy = 0;
	for (uint32_t i = 0; i < th->nagents; i++)
		busy += th->agents[i].state != AG_IDLE;
	th->pub_t = th->t;
	th->pub_inflight = busy;
	if (th->win.count > 0) {
		loadgen_hist_merge(&th->pub_win, &th->win);
		memset(&th->win, 0, sizeof(th->win));
	}
}

/* Flushes due, resends due; returns when the next one is due (mono ns). */
static int64_t run_timers(struct lg_thread *th, int64_t now, int *busy)
{
	const struct lg_run *run = th->run;
	int64_t interval = run->o->interval_ns;
	int flushing = now < run->stop_flush;
	int64_t next = now + FP_NS_PER_SEC;

	*busy = 0;
	for (uint32_t i = 0; i < th->nagents; i++) {
		struct lg_agent *a = &th->agents[i];
		if (a->state == AG_BACKOFF && now >= a->retry_at) {
			th->t.resends++;
			send_attempt(a, now);
		}
		if (flushing && interval > 0 && now >= a->next_flush) {
			if (a->state == AG_IDLE)
				new_batch(th, a, now);
			else
				th->t.flushes_skipped++;
			while (a->next_flush <= now)
				a->next_flush += interval;
		} else if (flushing && interval == 0 && a->state == AG_IDLE) {
			new_batch(th, a, now);
		}
		if (a->state == AG_BACKOFF && a->retry_at < next)
			next = a->retry_at;
		if (flushing && interval > 0 && a->next_flush < next)
			next = a->next_flush;
		*busy += a->state != AG_IDLE;
	}
	if (flushing && run->stop_flush < next)
		next = run->stop_flush;
	return next;
}

static void *thread_main(void *arg)
{
	struct lg_thread *th = arg;
	const struct lg_run *run = th->run;
	uint32_t *batch = th->work;
	int64_t next = 0;
	int busy = 1;

	pthread_mutex_lock(&th->lock);
	for (;;) {
		struct timespec ts;
		uint32_t n = 0;
		int64_t now = fp_mono_ns();

		if (atomic_load(&run->abort) ||
		    (now >= run->stop_flush &&
		     (busy == 0 || now >= run->deadline)))
			break;
		if (th->qlen == 0 && next > now) {
			ts.tv_sec = (time_t)(next / FP_NS_PER_SEC);
			ts.tv_nsec = (long)(next % FP_NS_PER_SEC);
			pthread_cond_timedwait(&th->cond, &th->lock, &ts);
		}
		while (th->qlen > 0) {
			batch[n++] = th->q[th->qhead];
			th->qhead = (th->qhead + 1) % th->nagents;
			th->qlen--;
		}
		publish(th);
		pthread_mutex_unlock(&th->lock);
		now = fp_mono_ns();
		for (uint32_t i = 0; i < n; i++)
			on_complete(th, &th->agents[batch[i]], now);
		next = run_timers(th, fp_mono_ns(), &busy);
		if (now >= run->stop_flush && run->deadline < next)
			next = run->deadline;
		pthread_mutex_lock(&th->lock);
	}
	th->done = 1;
	publish(th);
	pthread_mutex_unlock(&th->lock);
	return NULL;
}

/* Opens the thread's sockets (dialed to every collector) and contexts. */
static int thread_open(struct lg_thread *th)
{
	const struct loadgen_options *o = th->run->o;
	char *urls = NULL;
	int rc;

	for (uint32_t s = 0; s < th->nsocks; s++) {
		char *url, *next;
		if ((rc = nng_req0_open(&th->socks[s])) != 0)
			goto err_nng;
		/* Resending is ours (counted); a closed pipe fails the
		 * request with NNG_ECONNRESET instead. */
		nng_socket_set_ms(th->socks[s], NNG_OPT_REQ_RESENDTIME,
				  NNG_DURATION_INFINITE);
		nng_socket_set_ms(th->socks[s], NNG_OPT_RECONNMINT, 50);
		nng_socket_set_ms(th->socks[s], NNG_OPT_RECONNMAXT, 1000);
		nng_socket_set_size(th->socks[s], NNG_OPT_RECVMAXSZ, 65536);
		free(urls);
		urls = strdup(o->collectors);
		if (urls == NULL)
			return FP_ENOMEM;
		for (url = urls; url != NULL; url = next) {
			next = strchr(url, ',');
			if (next != NULL)
				*next++ = '\0';
			if (*url == '\0')
				continue;
			rc = nng_dial(th->socks[s], url, NULL,
				      NNG_FLAG_NONBLOCK);
			if (rc != 0) {
				fprintf(stderr, "loadgen: cannot dial %s: %s\n",
					url, nng_strerror(rc));
				free(urls);
				return FP_ENNG;
			}
		}
	}
	free(urls);
	urls = NULL;
	for (uint32_t i = 0; i < th->nagents; i++) {
		struct lg_agent *a = &th->agents[i];
		if ((rc = nng_aio_alloc(&a->aio, agent_cb, a)) != 0)
			goto err_nng;
		nng_aio_set_timeout(a->aio, o->timeout_ms);
		if ((rc = nng_ctx_open(&a->ctx, th->socks[i % th->nsocks])) !=
		    0)
			goto err_nng;
	}
	return 0;

err_nng:
	free(urls);
	fprintf(stderr, "loadgen: nng: %s\n", nng_strerror(rc));
	return FP_ENNG;
}

/* Stops an agent's aio; frees a message the aio still holds for us (a
 * failed send, or a reply never read). */
static void agent_stop(struct lg_agent *a)
{
	nng_msg *m;
	int rc;
	if (a->aio == NULL)
		return;
	nng_aio_stop(a->aio);
	m = nng_aio_get_msg(a->aio);
	rc = nng_aio_result(a->aio);
	if (m != NULL && ((a->state == AG_SEND && rc != 0) ||
			  (a->state == AG_RECV && rc == 0)))
		nng_msg_free(m);
}

static void thread_close(struct lg_thread *th)
{
	for (uint32_t i = 0; i < th->nagents; i++)
		agent_stop(&th->agents[i]);
	for (uint32_t s = 0; s < th->nsocks; s++)
		nng_close(th->socks[s]);
	for (uint32_t i = 0; i < th->nagents; i++) {
		struct lg_agent *a = &th->agents[i];
		if (a->aio != NULL)
			nng_aio_free(a->aio);
		free(a->buf);
	}
	free(th->agents);
	free(th->socks);
	free(th->q);
	free(th->work);
	loadgen_rows_fini(&th->rows);
	pthread_cond_destroy(&th->cond);
	pthread_mutex_destroy(&th->lock);
}

static int thread_init(struct lg_run *run, struct lg_thread *th, uint32_t ti)
{
	const struct loadgen_options *o = run->o;
	pthread_condattr_t ca;
	uint32_t n = 0;

	th->run = run;
	th->rng = o->seed * 0x9e3779b97f4a7c15ull + ti + 1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&th->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&th->lock, NULL);
	for (uint32_t i = ti; i < o->agents; i += run->nth)
		n++;
	th->nagents = n;
	th->nsocks = o->sockets;
	th->agents = calloc(n + 1, sizeof(*th->agents));
	th->q = calloc(n + 1, sizeof(*th->q));
	th->work = calloc(n + 1, sizeof(*th->work));
	th->socks = calloc(th->nsocks, sizeof(*th->socks));
	if (th->agents == NULL || th->q == NULL || th->work == NULL ||
	    th->socks == NULL || loadgen_rows_init(&th->rows, run->prof) != 0)
		return FP_ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		struct lg_agent *a = &th->agents[k];
		uint32_t gi = ti + k * run->nth;
		a->th = th;
		a->local = k;
		a->index = gi;
		if (getrandom(a->id, sizeof(a->id), 0) !=
		    (ssize_t)sizeof(a->id))
			return FP_EIO;
		snprintf(a->host, sizeof(a->host), "loadgen-host-%u",
			 gi % o->hosts);
		/* Phases spread evenly over the interval: a smooth load. */
		a->next_flush =
			run->start_mono +
			(int64_t)((double)o->interval_ns * gi / o->agents);
	}
	return thread_open(th);
}

static void snapshot(struct lg_run *run, struct loadgen_totals *t,
		     struct loadgen_hist *win, uint32_t *inflight, int *done)
{
	memset(t, 0, sizeof(*t));
	*inflight = 0;
	*done = 1;
	for (uint32_t i = 0; i < run->nth; i++) {
		struct lg_thread *th = &run->th[i];
		pthread_mutex_lock(&th->lock);
		totals_add(t, &th->pub_t);
		loadgen_hist_merge(win, &th->pub_win);
		memset(&th->pub_win, 0, sizeof(th->pub_win));
		*inflight += th->pub_inflight;
		*done &= th->done;
		pthread_mutex_unlock(&th->lock);
	}
}

/* The main thread: a progress line every progress_s until all are done. */
static void watch(struct lg_run *run)
{
	struct loadgen_totals t, prev;
	struct loadgen_hist *win = calloc(1, sizeof(*win));
	int64_t last = run->start_mono;
	uint32_t inflight;
	int done = 0;

	memset(&prev, 0, sizeof(prev));
	while (!done && win != NULL) {
		int64_t now;
		fp_sleep_ns(100 * FP_NS_PER_MS);
		now = fp_mono_ns();
		if (now - last < (int64_t)run->o->progress_s * FP_NS_PER_SEC) {
			for (uint32_t i = 0; i < run->nth; i++) {
				pthread_mutex_lock(&run->th[i].lock);
				done = run->th[i].done;
				pthread_mutex_unlock(&run->th[i].lock);
				if (!done)
					break;
			}
			continue;
		}
		snapshot(run, &t, win, &inflight, &done);
		loadgen_print_progress((double)(now - run->start_mono) / 1e9,
				       &t, &prev, (double)(now - last) / 1e9,
				       win, inflight);
		memset(win, 0, sizeof(*win));
		prev = t;
		last = now;
	}
	free(win);
}

void loadgen_options_default(struct loadgen_options *o)
{
	memset(o, 0, sizeof(*o));
	o->agents = 10;
	o->functions = 300;
	o->edges = 600;
	o->paths = 1000;
	o->hosts = 10;
	o->service = "loadgen";
	o->threads = 4;
	o->sockets = 2;
	o->seed = 1;
	o->interval_ns = 10 * FP_NS_PER_SEC;
	o->duration_ns = 60 * FP_NS_PER_SEC;
	o->drain_ns = 60 * FP_NS_PER_SEC;
	o->timeout_ms = 2000;
	o->progress_s = 10;
}

static int check_options(const struct loadgen_options *o)
{
	if (o->collectors == NULL || o->collectors[0] == '\0' ||
	    o->agents == 0 || o->functions == 0 || o->threads == 0 ||
	    o->sockets == 0 || o->hosts == 0 || o->service == NULL ||
	    o->interval_ns < 0 || o->duration_ns <= 0 || o->drain_ns < 0 ||
	    o->timeout_ms <= 0 || o->progress_s <= 0)
		return FP_EINVAL;
	if ((uint64_t)o->edges > (uint64_t)o->functions * o->functions)
		return FP_EINVAL;
	return 0;
}

int loadgen_run(const struct loadgen_options *o, struct loadgen_result *res)
{
	struct loadgen_profile *prof = NULL;
	struct lg_run run;
	int64_t last = 0, end;
	int rc;

	if ((rc = check_options(o)) != 0)
		return rc;
	if ((rc = loadgen_profile_create(o->functions, o->edges, o->paths,
					 o->seed, &prof)) != 0)
		return rc;
	memset(&run, 0, sizeof(run));
	run.o = o;
	run.prof = prof;
	run.nth = o->threads < o->agents ? o->threads : o->agents;
	run.th = calloc(run.nth, sizeof(*run.th));
	if (run.th == NULL) {
		loadgen_profile_destroy(prof);
		return FP_ENOMEM;
	}
	run.start_wall = fp_wall_ns();
	run.start_mono = fp_mono_ns();
	run.stop_flush = run.start_mono + o->duration_ns;
	run.deadline = run.stop_flush + o->drain_ns;
	for (uint32_t i = 0; i < run.nth && rc == 0; i++)
		rc = thread_init(&run, &run.th[i], i);
	for (uint32_t i = 0; i < run.nth && rc == 0; i++) {
		if (pthread_create(&run.th[i].tid, NULL, thread_main,
				   &run.th[i]) != 0)
			rc = FP_ENOMEM;
		else
			run.th[i].started = 1;
	}
	if (rc != 0) {
		/* Stop what started: no new flush, no waiting for answers. */
		atomic_store(&run.abort, 1);
		for (uint32_t i = 0; i < run.nth; i++) {
			struct lg_thread *th = &run.th[i];
			if (th->run == NULL)
				continue;
			pthread_mutex_lock(&th->lock);
			pthread_cond_signal(&th->cond);
			pthread_mutex_unlock(&th->lock);
		}
	} else {
		watch(&run);
	}
	memset(res, 0, sizeof(*res));
	for (uint32_t i = 0; i < run.nth; i++) {
		struct lg_thread *th = &run.th[i];
		if (th->started)
			pthread_join(th->tid, NULL);
		if (th->run == NULL)
			continue;
		for (uint32_t k = 0; k < th->nagents; k++) {
			struct lg_agent *a = &th->agents[k];
			if (a->state == AG_IDLE)
				continue;
			th->t.batches_unacked++;
			th->t.ncalls_unacked += a->ncalls;
		}
		totals_add(&res->t, &th->t);
		loadgen_hist_merge(&res->ack, &th->hist);
		if (th->last_answer > last)
			last = th->last_answer;
		thread_close(th);
	}
	end = fp_mono_ns();
	res->load_s = (double)o->duration_ns / 1e9;
	res->elapsed_s =
		(double)((last > 0 ? last : end) - run.start_mono) / 1e9;
	res->depth = prof->depth;
	free(run.th);
	loadgen_profile_destroy(prof);
	return rc;
}
