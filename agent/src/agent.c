/*
 * The agent's process-wide state: the registry of per-thread call trees, the
 * queue of unacked batches and the flush thread that fills and drains it.
 * Locks: `lock` guards the registry, the queue and the thread state; `build`
 * serialises batch building (the trees' flusher-only fields). The hot path
 * (fp_enter/fp_exit) touches neither: only thread-local data.
 */
#include "calltree.h"
#include "clock.h"
#include "config.h"
#include "flush.h"
#include "transport.h"
#include "fleetprof/fleetprof.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "wire/reply.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ST_OFF, ST_RUNNING, ST_STOPPING, ST_STOPPED };

struct qitem {
	void *msg;
	size_t len;
	uint64_t seq;
};

static struct {
	pthread_mutex_t lock;
	pthread_mutex_t build;
	pthread_cond_t cond;
	int state;
	int flush_requested;
	pthread_t thread;
	struct agent_config cfg;
	struct agent_identity id;
	struct agent_transport *transport;
	struct ct_tree *trees;
	uint64_t ntrees;
	uint64_t seq;
	int64_t window_start;
	uint64_t dropped_pending; /* batches lost, not yet reported */
	struct qitem *queue;	  /* ring of cfg.queue_batches */
	uint32_t qhead, qlen;
	uint64_t qbytes;
	uint64_t sent, dropped_total;
	int atexit_done;
} G = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.build = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

#define TREE_DEAD ((struct ct_tree *)1)

static __thread struct ct_tree *tls_tree
	__attribute__((tls_model("initial-exec")));
static pthread_key_t tree_key;
static pthread_once_t tree_once = PTHREAD_ONCE_INIT;
static atomic_uint_least64_t events_lost_no_tree;

/* Thread exit: the tree stays registered until its last deltas are sent. */
static void tree_thread_exit(void *p)
{
	struct ct_tree *t = p;
	atomic_store_explicit(&t->exited, 1, memory_order_release);
	tls_tree = TREE_DEAD;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&G.build);
	pthread_mutex_lock(&G.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&G.lock);
	pthread_mutex_unlock(&G.build);
}

/*
 * The child has no flush thread and must not touch the parent's nng socket
 * (libnng aborts a forked child that uses it). Until the fork-safe transport
 * lands, the child keeps counting but does not send.
 */
static void atfork_child(void)
{
	pthread_mutex_init(&G.lock, NULL);
	pthread_mutex_init(&G.build, NULL);
	pthread_cond_init(&G.cond, NULL);
	if (G.state == ST_RUNNING || G.state == ST_STOPPING)
		G.state = ST_STOPPED;
	G.transport = NULL;
}

static void tree_key_make(void)
{
	if (pthread_key_create(&tree_key, tree_thread_exit) != 0)
		fp_warn("agent: pthread_key_create failed");
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static uint32_t env_u32(const char *name, uint32_t def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long x;
	if (v == NULL || *v == '\0')
		return def;
	x = strtoul(v, &end, 10);
	return *end == '\0' && x >= 4 && x <= (1ul << 24) ? (uint32_t)x : def;
}

/* First instrumented call on this thread: create and register its tree. */
static __attribute__((noinline)) struct ct_tree *tree_slow(void)
{
	struct ct_tree *t;
	if (tls_tree == TREE_DEAD)
		return NULL;
	pthread_once(&tree_once, tree_key_make);
	t = ct_tree_create(env_u32("FLEETPROF_MAX_NODES", 65536),
			   env_u32("FLEETPROF_MAX_DEPTH", 512));
	if (t == NULL) {
		tls_tree = TREE_DEAD;
		return NULL;
	}
	pthread_setspecific(tree_key, t);
	pthread_mutex_lock(&G.lock);
	t->tid = ++G.ntrees;
	t->next = G.trees;
	G.trees = t;
	pthread_mutex_unlock(&G.lock);
	tls_tree = t;
	return t;
}

void fp_enter(const struct fp_site *site)
{
	struct ct_tree *t = tls_tree;
	if (__builtin_expect(t == NULL || t == TREE_DEAD, 0)) {
		t = tree_slow();
		if (t == NULL) {
			atomic_fetch_add_explicit(&events_lost_no_tree, 1,
						  memory_order_relaxed);
			return;
		}
	}
	ct_enter(t, site, agent_clock_ns());
}

void fp_exit(void)
{
	struct ct_tree *t = tls_tree;
	if (__builtin_expect(t == NULL || t == TREE_DEAD, 0))
		return;
	ct_exit(t, agent_clock_ns());
}

/* ---- queue (G.lock held) ---- */

static void queue_pop(void)
{
	struct qitem *q = &G.queue[G.qhead];
	G.qbytes -= q->len;
	free(q->msg);
	q->msg = NULL;
	G.qhead = (G.qhead + 1) % G.cfg.queue_batches;
	G.qlen--;
}

static void queue_push(void *msg, size_t len, uint64_t seq)
{
	while (G.qlen > 0 && (G.qlen >= G.cfg.queue_batches ||
			      G.qbytes + len > G.cfg.queue_bytes)) {
		queue_pop(); /* oldest goes; the loss is reported */
		G.dropped_pending++;
		G.dropped_total++;
	}
	G.queue[(G.qhead + G.qlen) % G.cfg.queue_batches] =
		(struct qitem){msg, len, seq};
	G.qlen++;
	G.qbytes += len;
}

/* Next window end: the next multiple of the interval or of the storage
 * bucket, whichever comes first, so no window straddles a bucket. */
static int64_t next_boundary(int64_t now)
{
	const int64_t bucket = 60 * FP_NS_PER_SEC;
	int64_t iv = G.cfg.interval_ns;
	int64_t a = (now / iv + 1) * iv, b = (now / bucket + 1) * bucket;
	return a < b ? a : b;
}

/* Builds a batch from every tree and queues it; frees exited trees. */
static int flush_once(void)
{
	struct ct_tree **trees = NULL, *t, **pp;
	size_t n = 0, cap = 0;
	void *msg = NULL;
	size_t len = 0;
	uint64_t dropped;
	int64_t t0, t1;
	int rc = 0;

	pthread_mutex_lock(&G.build);
	pthread_mutex_lock(&G.lock);
	for (t = G.trees; t != NULL; t = t->next)
		cap++;
	trees = calloc(cap + 1, sizeof(*trees));
	if (trees == NULL) {
		pthread_mutex_unlock(&G.lock);
		pthread_mutex_unlock(&G.build);
		return FP_ENOMEM;
	}
	for (t = G.trees; t != NULL; t = t->next)
		trees[n++] = t;
	dropped = G.dropped_pending;
	t0 = G.window_start;
	pthread_mutex_unlock(&G.lock);

	/* Read exited flags before the snapshot: their data is then final. */
	int *exited = calloc(n + 1, sizeof(int));
	if (exited == NULL) {
		rc = FP_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		exited[i] = atomic_load_explicit(&trees[i]->exited,
						 memory_order_acquire);
	t1 = fp_wall_ns();
	rc = agent_flush_build(trees, n, &G.id, G.seq + 1, t0, t1, dropped,
			       &msg, &len);
	pthread_mutex_lock(&G.lock);
	if (rc == 0) {
		G.window_start = t1;
		G.dropped_pending -= dropped;
		if (msg != NULL) {
			G.seq++;
			queue_push(msg, len, G.seq);
		}
		for (pp = &G.trees; *pp != NULL;) {
			int gone = 0;
			for (size_t i = 0; i < n; i++)
				if (trees[i] == *pp && exited[i])
					gone = 1;
			if (gone) {
				t = *pp;
				*pp = t->next;
				ct_tree_destroy(t);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
	pthread_cond_broadcast(&G.cond);
	pthread_mutex_unlock(&G.lock);
	free(exited);
out:
	pthread_mutex_unlock(&G.build);
	free(trees);
	return rc;
}

/* Tries to deliver the oldest queued batch once. Returns 0 if the queue
 * moved (acked or rejected), an FP_E* code otherwise. */
static int send_head(int timeout_ms)
{
	struct wire_reply reply;
	struct qitem q;
	int rc;

	pthread_mutex_lock(&G.lock);
	if (G.qlen == 0) {
		pthread_mutex_unlock(&G.lock);
		return 0;
	}
	q = G.queue[G.qhead];
	/* The item stays queued while we send; only this thread pops. */
	pthread_mutex_unlock(&G.lock);
	if (G.transport == NULL)
		return FP_ECLOSED;
	rc = agent_transport_request(G.transport, q.msg, q.len, timeout_ms,
				     &reply);
	if (rc != 0)
		return rc;
	if (!reply.ok && reply.retry)
		return FP_EREJECTED;
	pthread_mutex_lock(&G.lock);
	/* queue_push may have dropped it meanwhile: pop only if still head. */
	if (G.qlen > 0 && G.queue[G.qhead].seq == q.seq) {
		queue_pop();
		if (reply.ok) {
			G.sent++;
		} else {
			G.dropped_pending++;
			G.dropped_total++;
		}
	}
	pthread_cond_broadcast(&G.cond);
	pthread_mutex_unlock(&G.lock);
	if (!reply.ok)
		fp_warn("agent: collector rejected batch %llu: %s (%s)",
			(unsigned long long)q.seq, reply.msg,
			fp_strerror(reply.code));
	return 0;
}

static void wait_until(int64_t deadline_wall)
{
	struct timespec ts;
	pthread_mutex_lock(&G.lock);
	if (G.state == ST_RUNNING && !G.flush_requested) {
		ts.tv_sec = (time_t)(deadline_wall / FP_NS_PER_SEC);
		ts.tv_nsec = (long)(deadline_wall % FP_NS_PER_SEC);
		pthread_cond_timedwait(&G.cond, &G.lock, &ts);
	}
	pthread_mutex_unlock(&G.lock);
}

static void *flush_thread(void *arg)
{
	int64_t next_flush = next_boundary(fp_wall_ns());
	int64_t retry_at = 0, backoff = 100 * FP_NS_PER_MS;
	(void)arg;

	for (;;) {
		int64_t now = fp_wall_ns();
		int stopping, flush_now, qlen;

		pthread_mutex_lock(&G.lock);
		stopping = G.state != ST_RUNNING;
		flush_now = G.flush_requested;
		G.flush_requested = 0;
		pthread_mutex_unlock(&G.lock);
		if (stopping)
			break;
		if (now >= next_flush || flush_now) {
			flush_once();
			if (now >= next_flush)
				next_flush = next_boundary(now);
		}
		pthread_mutex_lock(&G.lock);
		qlen = (int)G.qlen;
		pthread_mutex_unlock(&G.lock);
		if (qlen > 0 && now >= retry_at) {
			int64_t left = (next_flush - now) / FP_NS_PER_MS;
			int tmo = G.cfg.request_timeout_ms;
			if (left > 50 && left < tmo)
				tmo = (int)left;
			if (send_head(tmo) == 0) {
				backoff = 100 * FP_NS_PER_MS;
				continue; /* more may be queued */
			}
			retry_at = fp_wall_ns() + backoff;
			if (backoff < 5 * FP_NS_PER_SEC)
				backoff *= 2;
		}
		now = fp_wall_ns();
		int64_t until = next_flush;
		if (qlen > 0 && retry_at < until)
			until = retry_at;
		if (until > now)
			wait_until(until);
	}

	/* Final flush, then deliver within the exit timeout. */
	flush_once();
	int64_t deadline =
		fp_mono_ns() + (int64_t)G.cfg.exit_timeout_ms * FP_NS_PER_MS;
	for (;;) {
		int64_t left = (deadline - fp_mono_ns()) / FP_NS_PER_MS;
		pthread_mutex_lock(&G.lock);
		int qlen = (int)G.qlen;
		pthread_mutex_unlock(&G.lock);
		if (qlen == 0 || left <= 0)
			break;
		if (send_head((int)(left < G.cfg.request_timeout_ms
					    ? left
					    : G.cfg.request_timeout_ms)) != 0)
			fp_sleep_ns(50 * FP_NS_PER_MS);
	}
	pthread_mutex_lock(&G.lock);
	if (G.qlen > 0)
		fp_warn("agent: %u batch(es) not delivered before exit",
			G.qlen);
	pthread_mutex_unlock(&G.lock);
	return NULL;
}

static void atexit_shutdown(void)
{
	fp_shutdown();
}

int fp_init(const struct fp_config *cfg)
{
	const char *lvl = getenv("FLEETPROF_LOG");
	int rc;

	pthread_once(&tree_once, tree_key_make);
	pthread_mutex_lock(&G.lock);
	if (G.state != ST_OFF) {
		pthread_mutex_unlock(&G.lock);
		return FP_ESTATE;
	}
	fp_log_set_ident("fleetprof-agent");
	fp_log_set_level(lvl && fp_log_parse_level(lvl) >= 0
				 ? fp_log_parse_level(lvl)
				 : FP_LOG_WARNING);
	agent_config_load(cfg, &G.cfg, &G.id);
	G.id.start_ns = fp_wall_ns();
	G.id.clock = WIRE_CLOCK_WALL;
	G.window_start = G.id.start_ns;
	G.queue = calloc(G.cfg.queue_batches, sizeof(*G.queue));
	if (G.queue == NULL) {
		rc = FP_ENOMEM;
		goto err_unlock;
	}
	rc = agent_transport_create(G.cfg.collector, &G.transport);
	if (rc != 0) {
		fp_warn("agent: no usable collector in '%s': %s",
			G.cfg.collector, fp_strerror(rc));
		goto err_free_queue;
	}
	G.state = ST_RUNNING;
	if (pthread_create(&G.thread, NULL, flush_thread, NULL) != 0) {
		rc = FP_ENOMEM;
		G.state = ST_OFF;
		goto err_transport;
	}
	if (!G.atexit_done) {
		G.atexit_done = 1;
		atexit(atexit_shutdown);
	}
	pthread_mutex_unlock(&G.lock);
	return 0;

err_transport:
	agent_transport_destroy(G.transport);
	G.transport = NULL;
err_free_queue:
	free(G.queue);
	G.queue = NULL;
err_unlock:
	agent_identity_fini(&G.id);
	pthread_mutex_unlock(&G.lock);
	return rc;
}

int fp_shutdown(void)
{
	pthread_mutex_lock(&G.lock);
	if (G.state != ST_RUNNING) {
		pthread_mutex_unlock(&G.lock);
		return 0;
	}
	G.state = ST_STOPPING;
	pthread_cond_broadcast(&G.cond);
	pthread_mutex_unlock(&G.lock);
	pthread_join(G.thread, NULL);

	pthread_mutex_lock(&G.lock);
	agent_transport_destroy(G.transport);
	G.transport = NULL;
	while (G.qlen > 0)
		queue_pop();
	G.state = ST_STOPPED;
	pthread_mutex_unlock(&G.lock);
	return 0;
}

int fp_flush(void)
{
	int rc;
	pthread_mutex_lock(&G.lock);
	if (G.state != ST_RUNNING) {
		pthread_mutex_unlock(&G.lock);
		return FP_ESTATE;
	}
	pthread_mutex_unlock(&G.lock);
	rc = flush_once();
	pthread_mutex_lock(&G.lock);
	G.flush_requested = 1; /* wake the sender */
	pthread_cond_broadcast(&G.cond);
	pthread_mutex_unlock(&G.lock);
	return rc;
}

void fp_get_stats(struct fp_stats *out)
{
	uint64_t ev = atomic_load_explicit(&events_lost_no_tree,
					   memory_order_relaxed);
	pthread_mutex_lock(&G.lock);
	for (struct ct_tree *t = G.trees; t != NULL; t = t->next)
		ev += atomic_load_explicit(&t->events_dropped,
					   memory_order_relaxed);
	out->batches_sent = G.sent;
	out->batches_dropped = G.dropped_total;
	out->batches_queued = G.qlen;
	out->events_dropped = ev;
	out->threads = G.ntrees;
	pthread_mutex_unlock(&G.lock);
}
