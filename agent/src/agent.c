/*
 * The agent's process-wide state: the registry of per-thread call trees, the
 * queue of unacked batches, and the flush thread that fills and drains it.
 * Locks: `lock` guards the registry, the queue and the thread state; `build`
 * serialises batch building (the trees' flusher-only fields). The hot path
 * (hotpath.c) takes neither. Fork: the child gets a new identity, empty
 * trees, its own transport (plain sockets, never the parent's) and its own
 * flush thread; calls in progress at fork() are counted in both processes.
 * The Python extension's hooks (agent_python.h) live at the end.
 */
#include "agent_internal.h"
#include "agent_python.h"
#include "calltree.h"
#include "clock.h"
#include "config.h"
#include "flush.h"
#include "symbols.h"
#include "totals.h"
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

#define NOINST __attribute__((no_instrument_function))

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
	int cpu_mode;
	pthread_t thread;
	struct agent_config cfg;
	struct agent_identity id;
	struct agent_transport *transport;
	struct agent_symtab *symtab;
	struct ct_tree *trees;
	uint64_t ntrees;
	uint64_t seq;
	int64_t window_start;
	uint64_t dropped_pending; /* batches lost, not yet reported */
	struct qitem *queue;	  /* ring of cfg.queue_batches */
	uint32_t qhead, qlen;
	uint64_t qbytes;
	uint64_t sent, dropped_total;
	struct agent_self_stats self; /* since the last batch */
	int atexit_done;
	const char *lang;	     /* agent_set_lang; NULL = "c" */
	int keep_totals;	     /* agent_totals_keep */
	struct agent_totals retired; /* freed trees' totals (keep_totals) */
} G = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.build = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static pthread_key_t tree_key;
static pthread_once_t tree_once = PTHREAD_ONCE_INIT;
static atomic_uint_least64_t mem_used;
static uint64_t mem_cap = UINT64_MAX;
/* Atomic: agent_set_tree_limits may change them while threads make trees. */
static _Atomic uint32_t lim_nodes = 65536, lim_depth = 512;

static void *flush_thread(void *arg);

/* ---- memory accounting ---- */

/* Trees may use three quarters of the cap: the rest is kept for the batches
 * that carry their data out (a full tree must still be able to flush). */
NOINST int agent_mem_reserve(uint64_t bytes)
{
	return agent_mem_reserve_within(bytes, mem_cap - mem_cap / 4);
}

NOINST int agent_mem_reserve_within(uint64_t bytes, uint64_t limit)
{
	uint64_t cur = atomic_load_explicit(&mem_used, memory_order_relaxed);
	do {
		if (cur + bytes > limit)
			return FP_EFULL;
	} while (!atomic_compare_exchange_weak_explicit(
		&mem_used, &cur, cur + bytes, memory_order_relaxed,
		memory_order_relaxed));
	return 0;
}

NOINST void agent_mem_release(uint64_t bytes)
{
	atomic_fetch_sub_explicit(&mem_used, bytes, memory_order_relaxed);
}

/* ---- per-thread trees ---- */

static int64_t cpu_now(clockid_t c, int ok)
{
	struct timespec ts;
	if (!ok || clock_gettime(c, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * FP_NS_PER_SEC + ts.tv_nsec;
}

/* Thread exit: the tree stays registered until its last deltas are sent. */
NOINST static void tree_thread_exit(void *p)
{
	struct ct_tree *t = p;
	int64_t cpu = cpu_now(t->cpu_clock, t->cpu_ok);
	t->cpu_at_exit_ns = cpu > 0 ? (uint64_t)cpu : 0;
	t->wall_at_exit_ns = fp_mono_ns();
	agent_hotpath_thread_exit();
	atomic_store_explicit(&t->exited, 1, memory_order_release);
}

static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

/* Limits from the environment, read once (the slow path may run before
 * fp_init). */
NOINST static void tree_key_make(void)
{
	const char *v;
	char *end;
	unsigned long long x;

	if (pthread_key_create(&tree_key, tree_thread_exit) != 0)
		fp_warn("agent: pthread_key_create failed");
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	agent_clock_setup();
	if ((v = getenv("FLEETPROF_MAX_NODES")) != NULL &&
	    (x = strtoull(v, &end, 10)) >= 16 && *end == '\0' && x <= 1u << 24)
		lim_nodes = (uint32_t)x;
	if ((v = getenv("FLEETPROF_MAX_DEPTH")) != NULL &&
	    (x = strtoull(v, &end, 10)) >= 4 && *end == '\0' && x <= 65536)
		lim_depth = (uint32_t)x;
	if ((v = getenv("FLEETPROF_MAX_MEMORY")) != NULL &&
	    (x = strtoull(v, &end, 10)) >= 65536 && *end == '\0')
		mem_cap = x;
}

NOINST struct ct_tree *agent_tree_new(void)
{
	struct ct_tree *t;
	pthread_once(&tree_once, tree_key_make);
	t = ct_tree_create(lim_nodes, lim_depth);
	if (t == NULL)
		return NULL;
	t->cpu_ok = pthread_getcpuclockid(pthread_self(), &t->cpu_clock) == 0;
	t->wall_last_ns = fp_mono_ns();
	t->cpu_last_ns = (uint64_t)(cpu_now(t->cpu_clock, t->cpu_ok) > 0
					    ? cpu_now(t->cpu_clock, t->cpu_ok)
					    : 0);
	pthread_setspecific(tree_key, t);
	pthread_mutex_lock(&G.lock);
	t->tid = ++G.ntrees;
	t->next = G.trees;
	G.trees = t;
	pthread_mutex_unlock(&G.lock);
	return t;
}

/* ---- queue (G.lock held) ---- */

static void queue_pop(void)
{
	struct qitem *q = &G.queue[G.qhead];
	G.qbytes -= q->len;
	agent_mem_release(q->len);
	free(q->msg);
	q->msg = NULL;
	G.qhead = (G.qhead + 1) % G.cfg.queue_batches;
	G.qlen--;
}

static void queue_drop_oldest(void)
{
	queue_pop(); /* the loss is reported in the next batch */
	G.dropped_pending++;
	G.dropped_total++;
	G.self.batches_dropped++;
}

static void queue_push(void *msg, size_t len, uint64_t seq)
{
	while (G.qlen > 0 && (G.qlen >= G.cfg.queue_batches ||
			      G.qbytes + len > G.cfg.queue_bytes ||
			      agent_mem_reserve_within(len, mem_cap) != 0))
		queue_drop_oldest();
	if (G.qlen == 0 && agent_mem_reserve_within(len, mem_cap) != 0) {
		free(msg); /* over the memory cap even alone */
		G.dropped_pending++;
		G.dropped_total++;
		G.self.batches_dropped++;
		return;
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

/* clock=cpu: the thread's CPU time per wall time since the last flush. */
static double cpu_factor(struct ct_tree *t, int exited)
{
	int64_t cpu = exited ? (int64_t)t->cpu_at_exit_ns
			     : cpu_now(t->cpu_clock, t->cpu_ok);
	int64_t wall = exited ? t->wall_at_exit_ns : fp_mono_ns();
	double f;
	if (cpu < 0 || wall <= t->wall_last_ns)
		return 0;
	f = (double)((uint64_t)cpu - t->cpu_last_ns) /
	    (double)(wall - t->wall_last_ns);
	t->cpu_last_ns = (uint64_t)cpu;
	t->wall_last_ns = wall;
	return f < 0 ? 0 : f > 1 ? 1 : f;
}

/* Builds a batch from every tree and queues it; frees exited trees. The
 * agent's own figures (G.self) go out with the batch and are subtracted
 * once it is queued; events that happen meanwhile stay pending. */
static int flush_once(void)
{
	struct ct_tree **trees = NULL, *t, **pp;
	struct agent_flush_opts opts;
	struct agent_self_stats snap, self;
	size_t n = 0, cap = 0;
	void *msg = NULL;
	size_t len = 0;
	uint64_t dropped;
	int64_t t0, t1, started = fp_mono_ns(), spent;
	int *exited = NULL;
	double *factors = NULL;
	int rc = FP_ENOMEM;

	agent_clock_calibrate();
	pthread_mutex_lock(&G.build);
	pthread_mutex_lock(&G.lock);
	for (t = G.trees; t != NULL; t = t->next)
		cap++;
	trees = calloc(cap + 1, sizeof(*trees));
	exited = calloc(cap + 1, sizeof(*exited));
	factors = calloc(cap + 1, sizeof(*factors));
	if (trees == NULL || exited == NULL || factors == NULL) {
		pthread_mutex_unlock(&G.lock);
		goto out;
	}
	for (t = G.trees; t != NULL; t = t->next) {
		uint64_t r =
			atomic_load_explicit(&t->repairs, memory_order_relaxed);
		G.self.repairs += r - t->sent_repairs;
		t->sent_repairs = r;
		trees[n++] = t;
	}
	dropped = G.dropped_pending;
	t0 = G.window_start;
	snap = G.self;
	pthread_mutex_unlock(&G.lock);

	/* Read exited flags before the snapshot: their data is then final. */
	for (size_t i = 0; i < n; i++) {
		exited[i] = atomic_load_explicit(&trees[i]->exited,
						 memory_order_acquire);
		if (G.cpu_mode)
			factors[i] = cpu_factor(trees[i], exited[i]);
	}
	self = snap;
	self.flushes++;
	self.flush_ns += (uint64_t)(fp_mono_ns() - started);
	opts = (struct agent_flush_opts){
		.to_ns = agent_clock_to_ns,
		.symtab = G.symtab,
		.cpu_factor = G.cpu_mode ? factors : NULL,
		.self = &self,
	};
	t1 = fp_wall_ns();
	rc = agent_flush_build(trees, n, &G.id, G.seq + 1, t0, t1, dropped,
			       &opts, &msg, &len);
	spent = fp_mono_ns() - started;
	pthread_mutex_lock(&G.lock);
	if (rc == 0) {
		G.window_start = t1;
		G.dropped_pending -= dropped;
		if (msg != NULL) {
			G.self.flushes -= snap.flushes;
			G.self.flush_ns -= snap.flush_ns;
			G.self.sends -= snap.sends;
			G.self.send_ns -= snap.send_ns;
			G.self.bytes_sent -= snap.bytes_sent;
			G.self.batches_dropped -= snap.batches_dropped;
			G.self.repairs -= snap.repairs;
			G.seq++;
			queue_push(msg, len, G.seq);
		} else {
			G.self.flushes++;
			G.self.flush_ns += (uint64_t)spent;
		}
		for (pp = &G.trees; *pp != NULL;) {
			int gone = 0;
			for (size_t i = 0; i < n; i++)
				if (trees[i] == *pp && exited[i])
					gone = 1;
			if (gone) {
				t = *pp;
				*pp = t->next;
				if (G.keep_totals &&
				    agent_totals_add_tree(&G.retired, t) != 0)
					fp_warn("agent: totals of an exited "
						"thread lost (no memory)");
				ct_tree_destroy(t);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
	pthread_cond_broadcast(&G.cond);
	pthread_mutex_unlock(&G.lock);
out:
	pthread_mutex_unlock(&G.build);
	free(trees);
	free(exited);
	free(factors);
	return rc;
}

/* Tries to deliver the oldest queued batch once. Returns 0 if the queue
 * moved (acked or rejected), an FP_E* code otherwise. */
static int send_head(int timeout_ms)
{
	struct wire_reply reply;
	struct qitem q;
	int64_t started;
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
	started = fp_mono_ns();
	rc = agent_transport_request(G.transport, q.msg, q.len, timeout_ms,
				     &reply);
	pthread_mutex_lock(&G.lock);
	G.self.sends++;
	G.self.send_ns += (uint64_t)(fp_mono_ns() - started);
	G.self.bytes_sent += q.len;
	pthread_mutex_unlock(&G.lock);
	if (rc != 0)
		return rc;
	if (!reply.ok && reply.retry)
		return FP_EREJECTED;
	pthread_mutex_lock(&G.lock);
	/* queue_push may have dropped it meanwhile: pop only if still head. */
	if (G.qlen > 0 && G.queue[G.qhead].seq == q.seq) {
		if (reply.ok) {
			queue_pop();
			G.sent++;
		} else {
			queue_drop_oldest();
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

static uint32_t queued(void)
{
	uint32_t n;
	pthread_mutex_lock(&G.lock);
	n = G.qlen;
	pthread_mutex_unlock(&G.lock);
	return n;
}

NOINST static void *flush_thread(void *arg)
{
	int64_t next_flush = next_boundary(fp_wall_ns());
	int64_t retry_at = 0, backoff = 100 * FP_NS_PER_MS, deadline;
	(void)arg;

	for (;;) {
		int64_t now = fp_wall_ns(), until;
		int stopping, flush_now;
		uint32_t qlen;

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
		qlen = queued();
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
		until = next_flush;
		if (qlen > 0 && retry_at < until)
			until = retry_at;
		if (until > now)
			wait_until(until);
	}

	/* Final flush, then deliver within the exit timeout. */
	flush_once();
	deadline = fp_mono_ns() + (int64_t)G.cfg.exit_timeout_ms * FP_NS_PER_MS;
	for (;;) {
		int64_t left = (deadline - fp_mono_ns()) / FP_NS_PER_MS;
		if (queued() == 0 || left <= 0)
			break;
		if (send_head((int)(left < G.cfg.request_timeout_ms
					    ? left
					    : G.cfg.request_timeout_ms)) != 0)
			fp_sleep_ns(50 * FP_NS_PER_MS);
	}
	if (queued() > 0)
		fp_warn("agent: %u batch(es) not delivered before exit",
			queued());
	return NULL;
}

/* ---- fork ---- */

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

/* Zeroes a tree's counters: the child starts empty. Frames in progress are
 * restarted at the fork, so the child counts only its own time. */
static void tree_reset_for_child(struct ct_tree *t, uint64_t now)
{
	uint32_t n = atomic_load_explicit(&t->count, memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++) {
		struct ct_node *nd = ct_node_at(t, i);
		atomic_store_explicit(&nd->ncalls, 0, memory_order_relaxed);
		atomic_store_explicit(&nd->self_ns, 0, memory_order_relaxed);
		atomic_store_explicit(&nd->total_ns, 0, memory_order_relaxed);
		nd->sent_ncalls = nd->sent_self_ns = nd->sent_total_ns = 0;
	}
	for (uint32_t d = 0; d <= t->depth; d++) {
		t->stack[d].start = now;
		t->stack[d].child_ns = 0;
	}
	atomic_store_explicit(&t->events_dropped, 0, memory_order_relaxed);
	atomic_store_explicit(&t->repairs, 0, memory_order_relaxed);
	t->sent_events_dropped = t->sent_repairs = 0;
	t->cpu_ok = pthread_getcpuclockid(pthread_self(), &t->cpu_clock) == 0;
	t->cpu_last_ns = 0;
	t->wall_last_ns = fp_mono_ns();
}

/*
 * In the child only the forking thread exists. Other threads' trees are
 * freed (their owners are gone), the forking thread's is zeroed, the
 * parent's queue is dropped (the parent delivers it), and if the agent was
 * running the child gets a new identity, a new transport and a new flush
 * thread. Nothing of libnng is touched: the transport is plain sockets.
 */
static void atfork_child(void)
{
	struct ct_tree *self = agent_hotpath_tree(), *t, *next;
	int was_running = G.state == ST_RUNNING;

	pthread_mutex_init(&G.lock, NULL);
	pthread_mutex_init(&G.build, NULL);
	pthread_cond_init(&G.cond, NULL);
	for (t = G.trees; t != NULL; t = next) {
		next = t->next;
		if (t != self)
			ct_tree_destroy(t);
	}
	G.trees = self;
	G.ntrees = self != NULL ? 1 : 0;
	if (self != NULL) {
		self->next = NULL;
		tree_reset_for_child(self, agent_clock_now());
	}
	while (G.qlen > 0)
		queue_pop();
	/* The parent's retired totals: the child starts empty. */
	agent_totals_fini(&G.retired);
	G.dropped_pending = 0;
	G.sent = G.dropped_total = 0;
	memset(&G.self, 0, sizeof(G.self));
	G.seq = 0;
	if (G.transport != NULL) {
		agent_transport_forget(G.transport);
		G.transport = NULL;
	}
	if (!was_running) {
		if (G.state != ST_OFF)
			G.state = ST_STOPPED;
		return;
	}
	agent_identity_renew(&G.id);
	G.id.start_ns = fp_wall_ns();
	G.window_start = G.id.start_ns;
	if (agent_transport_create(G.cfg.collector, &G.transport) != 0 ||
	    pthread_create(&G.thread, NULL, flush_thread, NULL) != 0) {
		G.state = ST_STOPPED; /* keeps counting, sends nothing */
		return;
	}
}

/* ---- public API ---- */

static void atexit_shutdown(void)
{
	fp_shutdown();
}

int fp_init(const struct fp_config *cfg)
{
	const char *lvl = getenv("FLEETPROF_LOG");
	const char *clk;
	int rc;

	pthread_once(&tree_once, tree_key_make);
	pthread_mutex_lock(&G.lock);
	if (G.state == ST_RUNNING && cfg == NULL) {
		pthread_mutex_unlock(&G.lock); /* already started: fine */
		return 0;
	}
	if (G.state != ST_OFF) {
		pthread_mutex_unlock(&G.lock);
		return FP_ESTATE;
	}
	fp_log_set_ident("fleetprof-agent");
	fp_log_set_level(lvl && fp_log_parse_level(lvl) >= 0
				 ? fp_log_parse_level(lvl)
				 : FP_LOG_WARNING);
	agent_config_load(cfg, &G.cfg, &G.id);
	clk = getenv("FLEETPROF_CLOCK");
	G.cpu_mode = clk != NULL && strcmp(clk, "cpu") == 0;
	if (clk != NULL && !G.cpu_mode && strcmp(clk, "wall") != 0)
		fp_warn("agent: ignoring FLEETPROF_CLOCK=%s (wall|cpu)", clk);
	G.id.clock = G.cpu_mode ? WIRE_CLOCK_CPU : WIRE_CLOCK_WALL;
	G.id.lang = G.lang;
	G.id.start_ns = fp_wall_ns();
	G.window_start = G.id.start_ns;
	G.queue = calloc(G.cfg.queue_batches, sizeof(*G.queue));
	if (G.queue == NULL) {
		rc = FP_ENOMEM;
		goto err_unlock;
	}
	if ((rc = agent_symtab_create(&G.symtab)) != 0)
		goto err_free_queue;
	rc = agent_transport_create(G.cfg.collector, &G.transport);
	if (rc != 0) {
		fp_warn("agent: no usable collector in '%s': %s",
			G.cfg.collector, fp_strerror(rc));
		goto err_symtab;
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
err_symtab:
	agent_symtab_destroy(G.symtab);
	G.symtab = NULL;
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
	uint64_t ev = agent_hotpath_lost();
	pthread_mutex_lock(&G.lock);
	for (struct ct_tree *t = G.trees; t != NULL; t = t->next)
		ev += atomic_load_explicit(&t->events_dropped,
					   memory_order_relaxed);
	out->batches_sent = G.sent;
	out->batches_dropped = G.dropped_total;
	out->batches_queued = G.qlen;
	out->events_dropped = ev;
	out->stack_repairs = 0;
	for (struct ct_tree *t = G.trees; t != NULL; t = t->next)
		out->stack_repairs +=
			atomic_load_explicit(&t->repairs, memory_order_relaxed);
	out->threads = G.ntrees;
	out->memory_bytes = atomic_load(&mem_used);
	pthread_mutex_unlock(&G.lock);
}

/* ---- for the Python extension (agent_python.h) ---- */

void agent_set_lang(const char *lang)
{
	pthread_mutex_lock(&G.build); /* flush_once reads G.id under it */
	pthread_mutex_lock(&G.lock);
	G.lang = lang;
	G.id.lang = lang;
	pthread_mutex_unlock(&G.lock);
	pthread_mutex_unlock(&G.build);
}

void agent_set_tree_limits(uint32_t max_nodes, uint32_t max_depth)
{
	pthread_once(&tree_once, tree_key_make); /* env read first, then this */
	if (max_nodes != 0)
		lim_nodes = max_nodes < 16	   ? 16
			    : max_nodes > 1u << 24 ? 1u << 24
						   : max_nodes;
	if (max_depth != 0)
		lim_depth = max_depth < 4	? 4
			    : max_depth > 65536 ? 65536
						: max_depth;
}

void agent_totals_keep(int on)
{
	pthread_mutex_lock(&G.lock);
	G.keep_totals = on;
	pthread_mutex_unlock(&G.lock);
}

int agent_totals_read(struct agent_totals *out)
{
	struct ct_tree **trees = NULL, *t;
	size_t n = 0, cap = 0;
	int rc;

	/* build: no tree is freed and no flag computed meanwhile. */
	pthread_mutex_lock(&G.build);
	pthread_mutex_lock(&G.lock);
	for (t = G.trees; t != NULL; t = t->next)
		cap++;
	trees = calloc(cap + 1, sizeof(*trees));
	rc = trees == NULL ? FP_ENOMEM : agent_totals_add(out, &G.retired);
	for (t = G.trees; rc == 0 && t != NULL; t = t->next)
		trees[n++] = t;
	pthread_mutex_unlock(&G.lock);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = agent_totals_add_tree(out, trees[i]);
	out->events_dropped += agent_hotpath_lost();
	pthread_mutex_unlock(&G.build);
	free(trees);
	return rc;
}

/* Zero-code start: with FLEETPROF_COLLECTOR set, loading the library (linked
 * or LD_PRELOADed) starts the agent; atexit then flushes. */
NOINST __attribute__((constructor)) static void agent_autostart(void)
{
	const char *c = getenv("FLEETPROF_COLLECTOR");
	agent_clock_setup();
	if (c != NULL && c[0] != '\0')
		fp_init(NULL);
}
