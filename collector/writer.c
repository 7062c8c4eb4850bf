/*
 * The writer thread: owns the PostgreSQL connection, takes decoded batches
 * from the server in groups (group commit), merges each group in one
 * transaction and replies only after COMMIT. Database down: every waiting
 * batch gets "unavailable, retry" (never an ack) and the connection is
 * retried with exponential backoff. A group PostgreSQL refuses is split and
 * retried batch by batch, so one bad batch cannot block the others.
 * FLEETPROF_FAULT_EXIT_AFTER_COMMIT=N (tests only) exits after the Nth
 * commit, before its replies: the crash exactly-once delivery must survive.
 */
#include "collector.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "storage/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void collector_writer_enqueue(struct collector *c, struct collector_ctx *x)
{
	pthread_mutex_lock(&c->lock);
	x->next = NULL;
	if (c->qtail != NULL)
		c->qtail->next = x;
	else
		c->qhead = x;
	c->qtail = x;
	c->qlen++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void reply_status(struct collector *c, struct collector_ctx *x, int rc,
			 int dup)
{
	struct wire_reply r;
	memset(&r, 0, sizeof(r));
	r.seq = x->batch ? x->batch->seq : 0;
	if (rc == 0) {
		r.ok = 1;
		r.dup = dup;
		atomic_fetch_add(dup ? &c->stats.duplicates : &c->stats.acked,
				 1);
		if (dup)
			fp_info("duplicate batch seq %llu from %s: already "
				"committed, acked again",
				(unsigned long long)r.seq, x->peer);
	} else if (rc == FP_EDBDOWN || rc == FP_ENOMEM) {
		r.code = FP_EDBDOWN;
		r.retry = 1;
		snprintf(r.msg, sizeof(r.msg), "database unavailable");
		atomic_fetch_add(&c->stats.unavailable, 1);
	} else if (rc == FP_ERANGE) {
		r.code = rc;
		snprintf(r.msg, sizeof(r.msg),
			 "batch time outside the accepted window (older than "
			 "the raw retention or more than a day ahead)");
		atomic_fetch_add(&c->stats.rejected, 1);
		fp_warn("refused batch from %s (seq %llu): %s", x->peer,
			(unsigned long long)r.seq, r.msg);
	} else {
		r.code = rc;
		snprintf(r.msg, sizeof(r.msg), "database refused the batch");
		atomic_fetch_add(&c->stats.rejected, 1);
		fp_warn("rejected batch from %s (seq %llu): %s", x->peer,
			(unsigned long long)r.seq, fp_strerror(rc));
	}
	collector_reply(x, &r);
}

struct writer_state {
	struct storage_writer *w;
	int64_t next_maintenance; /* mono ns */
	int64_t next_rollup;	  /* mono ns */
	int64_t next_fold;	  /* mono ns */
	int index;		  /* this writer's number, 0 .. nwriters-1 */
	long crash_after;	  /* test fault injection, 0 = off */
	long commits;
	int64_t next_connect; /* mono ns */
	int64_t backoff;
};

static int ensure_connected(struct collector *c, struct writer_state *ws)
{
	char err[256];
	PGconn *conn;
	int rc;

	if (ws->w != NULL) {
		if (PQstatus(storage_writer_conn(ws->w)) == CONNECTION_OK)
			return 0;
		storage_writer_destroy(ws->w);
		ws->w = NULL;
	}
	if (fp_mono_ns() < ws->next_connect)
		return FP_EDBDOWN;
	rc = storage_connect(c->opt.conninfo, &conn, err, sizeof(err));
	if (rc == 0) {
		rc = storage_writer_create(conn, &ws->w);
		if (rc != 0)
			PQfinish(conn);
	}
	if (rc == 0) {
		struct storage_writer_opts o = {
			.raw_retention_s =
				c->opt.raw_retention_ns / FP_NS_PER_SEC,
			.rollup_retention_s =
				c->opt.rollup_retention_ns / FP_NS_PER_SEC,
		};
		storage_writer_configure(ws->w, &o);
		ws->next_maintenance = 0; /* right away on a new connection */
		/* Writers fold at staggered times, so while one folds the
		 * others go on merging. */
		ws->next_fold =
			fp_mono_ns() + c->opt.fold_interval_ns +
			c->opt.fold_interval_ns * ws->index /
				(c->opt.writers > 0 ? c->opt.writers : 1);
	}
	if (rc != 0) {
		if (ws->backoff == 0)
			fp_err("database unavailable: %s",
			       rc == FP_EDBDOWN ? err : fp_strerror(rc));
		ws->backoff =
			ws->backoff ? ws->backoff * 2 : 100 * FP_NS_PER_MS;
		if (ws->backoff > 5 * FP_NS_PER_SEC)
			ws->backoff = 5 * FP_NS_PER_SEC;
		ws->next_connect = fp_mono_ns() + ws->backoff;
		atomic_fetch_add(&c->stats.reconnects, 1);
		atomic_store(&c->db_up, 0);
		return FP_EDBDOWN;
	}
	if (ws->backoff != 0)
		fp_notice("database connection restored");
	ws->backoff = 0;
	atomic_store(&c->db_up, 1);
	return 0;
}

/*
 * The rollup tier: every minute the raw minutes that ended ROLLUP_SETTLE_S
 * ago (so the agents' last flushes and retries for them are in) are added
 * to their hour's rollup rows, a few hours per call so a backlog never
 * holds one transaction long. Until then readers get those minutes from
 * raw: this is speed, not exactness.
 */
#define ROLLUP_EVERY_NS (60 * FP_NS_PER_SEC)
#define ROLLUP_SETTLE_S 120
#define ROLLUP_MAX_HOURS 4

static void rollup(struct writer_state *ws, int64_t now)
{
	int hours = 0;

	if (ws->w == NULL || now < ws->next_rollup)
		return;
	ws->next_rollup = now + ROLLUP_EVERY_NS;
	if (storage_rollup(ws->w, ROLLUP_SETTLE_S, ROLLUP_MAX_HOURS, &hours) !=
	    0) {
		fp_warn("rollup failed; retrying in a minute");
		return;
	}
	if (hours > 0)
		fp_info("rollup: %d hour(s) rolled up", hours);
	if (hours == ROLLUP_MAX_HOURS)
		ws->next_rollup = now; /* a backlog: go on after a commit */
}

/*
 * The fold: what this writer appended to its delta tables goes into the raw
 * tier every fold_interval, or sooner once its fold maps hold fold_max_rows
 * keys (their memory: about 130 bytes a key). The longer the interval, the
 * more agent flushes one raw row update covers (at 10 s flushes and 60 s
 * buckets, a 30 s interval updates each raw row twice instead of six
 * times), and the more rows readers find in the delta tables.
 */
static void fold(struct collector *c, struct writer_state *ws, int64_t now,
		 int force)
{
	int64_t every;
	long max_rows;
	uint64_t rows = 0;
	size_t pending;
	if (ws->w == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	every = c->opt.fold_interval_ns;
	max_rows = c->opt.fold_max_rows;
	pthread_mutex_unlock(&c->lock);
	pending = storage_fold_pending(ws->w);
	if (!force && now < ws->next_fold &&
	    (max_rows <= 0 || pending < (size_t)max_rows))
		return;
	ws->next_fold = now + (every > 0 ? every : 30 * FP_NS_PER_SEC);
	if (storage_fold(ws->w, &rows) != 0) {
		fp_warn("fold of %zu key(s) into the raw tier failed; they "
			"stay in the delta tables, retrying",
			pending);
		ws->next_fold = now + FP_NS_PER_SEC;
		return;
	}
	if (rows > 0) {
		atomic_fetch_add(&c->stats.folds, 1);
		atomic_fetch_add(&c->stats.fold_rows, rows);
	}
}

/* Partitions ahead and retention, every maintenance interval; the rollup
 * every minute; the fold. */
static void maintain(struct collector *c, struct writer_state *ws)
{
	int created = 0, dropped = 0;
	int64_t now = fp_mono_ns();
	struct storage_writer_opts o;
	int64_t every;
	fold(c, ws, now, 0);
	rollup(ws, now);
	if (ws->w == NULL || now < ws->next_maintenance)
		return;
	/* Settings SIGHUP may have changed are read under the lock. */
	pthread_mutex_lock(&c->lock);
	o.raw_retention_s = c->opt.raw_retention_ns / FP_NS_PER_SEC;
	o.rollup_retention_s = c->opt.rollup_retention_ns / FP_NS_PER_SEC;
	every = c->opt.maintenance_interval_ns;
	pthread_mutex_unlock(&c->lock);
	storage_writer_configure(ws->w, &o);
	ws->next_maintenance = now + (every > 0 ? every : 600 * FP_NS_PER_SEC);
	if (storage_maintain(ws->w, &created, &dropped) != 0) {
		fp_warn("maintenance failed; retrying in the next interval");
		return;
	}
	if (created > 0 || dropped > 0)
		fp_notice("maintenance: %d partition(s) created, %d dropped",
			  created, dropped);
}

/* Merges xs[0..n) and replies to each. */
static void commit_group(struct collector *c, struct writer_state *ws,
			 struct collector_ctx **xs, int n)
{
	struct storage_merge_item *items;
	struct storage_merge_stats st;
	int rc;

	rc = ensure_connected(c, ws);
	if (rc != 0) {
		for (int i = 0; i < n; i++)
			reply_status(c, xs[i], rc, 0);
		return;
	}
	memset(&st, 0, sizeof(st));
	items = calloc((size_t)n, sizeof(*items));
	if (items == NULL) {
		for (int i = 0; i < n; i++)
			reply_status(c, xs[i], FP_ENOMEM, 0);
		return;
	}
	for (int i = 0; i < n; i++)
		items[i].batch = xs[i]->batch;
	int64_t t_commit = fp_mono_ns();
	rc = storage_merge(ws->w, items, (size_t)n, &st);
	if (rc == FP_EDB && n > 1) {
		/* Isolate the batch PostgreSQL refuses. */
		free(items);
		for (int i = 0; i < n; i++)
			commit_group(c, ws, &xs[i], 1);
		return;
	}
	if (rc == 0) {
		collector_observe_commit(c, fp_mono_ns() - t_commit);
		atomic_fetch_add(&c->stats.commits, 1);
		atomic_fetch_add(&c->stats.rows, st.rows);
		if (ws->crash_after > 0 && ++ws->commits >= ws->crash_after) {
			/* Committed, not acked: the agents must resend and the
			 * ledger must turn the resends into duplicates. */
			fp_err("fault injection: exiting after commit %ld",
			       ws->commits);
			_exit(9);
		}
	}
	if (rc == FP_EDBDOWN) {
		storage_writer_destroy(ws->w);
		ws->w = NULL;
		atomic_store(&c->db_up, 0);
	}
	for (int i = 0; i < n; i++)
		reply_status(c, xs[i], rc == 0 ? items[i].status : rc,
			     items[i].dup);
	free(items);
}

static void *writer_main(void *arg)
{
	struct collector *c = arg;
	struct writer_state ws;
	const char *fault = getenv("FLEETPROF_FAULT_EXIT_AFTER_COMMIT");
	struct collector_ctx **xs =
		calloc((size_t)c->opt.max_group + 1, sizeof(*xs));

	memset(&ws, 0, sizeof(ws));
	if (xs == NULL) {
		fp_err("writer: out of memory");
		return NULL;
	}
	if (fault != NULL)
		ws.crash_after = strtol(fault, NULL, 10);
	ws.index = atomic_fetch_add(&c->writer_seq, 1);
	/* Connect early so the first batch does not wait for it. */
	ensure_connected(c, &ws);
	maintain(c, &ws);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		int n = 0;
		while (c->qhead == NULL && !c->stopping) {
			/* Idle: wake every second for reconnects and the
			 * periodic maintenance. */
			struct timespec ts;
			int64_t until = fp_wall_ns() + FP_NS_PER_SEC;
			ts.tv_sec = (time_t)(until / FP_NS_PER_SEC);
			ts.tv_nsec = (long)(until % FP_NS_PER_SEC);
			if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) ==
			    0)
				continue;
			pthread_mutex_unlock(&c->lock);
			if (ensure_connected(c, &ws) == 0)
				maintain(c, &ws);
			pthread_mutex_lock(&c->lock);
		}
		if (c->qhead == NULL && c->stopping)
			break;
		/* Group commit: give concurrent batches a moment to join. */
		if (c->qlen < c->opt.max_group && c->opt.commit_ms > 0 &&
		    !c->stopping) {
			struct timespec ts;
			int64_t until =
				fp_wall_ns() +
				(int64_t)c->opt.commit_ms * FP_NS_PER_MS;
			ts.tv_sec = (time_t)(until / FP_NS_PER_SEC);
			ts.tv_nsec = (long)(until % FP_NS_PER_SEC);
			while (c->qlen < c->opt.max_group && !c->stopping &&
			       pthread_cond_timedwait(&c->cond, &c->lock,
						      &ts) == 0)
				;
		}
		/* A group ends at max_group batches or max_rows rows (at
		 * least one batch, however large). */
		uint64_t rows = 0;
		while (c->qhead != NULL && n < c->opt.max_group &&
		       (n == 0 || c->opt.max_rows <= 0 ||
			rows < (uint64_t)c->opt.max_rows)) {
			const struct wire_batch *b = c->qhead->batch;
			rows += (uint64_t)b->nfstats + b->nedges + b->nnodes;
			xs[n++] = c->qhead;
			c->qhead = c->qhead->next;
			c->qlen--;
		}
		if (c->qhead == NULL)
			c->qtail = NULL;
		if (n == 0)
			continue; /* another writer took them while we waited */
		pthread_mutex_unlock(&c->lock);
		commit_group(c, &ws, xs, n);
		maintain(c, &ws);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	if (ws.w != NULL &&
	    PQstatus(storage_writer_conn(ws.w)) == CONNECTION_OK)
		fold(c, &ws, fp_mono_ns(), 1); /* leave the delta empty */
	storage_writer_destroy(ws.w);
	free(xs);
	return NULL;
}

/*
 * Several writers share the queue, each with its own connection and
 * caches: PostgreSQL is the bottleneck and one backend uses one core.
 * Concurrent groups may touch the same rows; every statement locks rows in
 * key order, so they wait for each other but cannot deadlock, and the
 * ledger's unique key turns a batch merged by two writers at once into one
 * merge and one duplicate.
 */
int collector_writer_start(struct collector *c)
{
	int n = c->opt.writers > 0 ? c->opt.writers : 1;
	if (n > COLLECTOR_MAX_WRITERS)
		n = COLLECTOR_MAX_WRITERS;
	for (c->nwriters = 0; c->nwriters < n; c->nwriters++) {
		if (pthread_create(&c->writers[c->nwriters], NULL, writer_main,
				   c) != 0) {
			if (c->nwriters > 0)
				break; /* run with fewer */
			return FP_ENOMEM;
		}
	}
	return 0;
}

void collector_writer_stop(struct collector *c)
{
	if (c->nwriters == 0)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->nwriters; i++)
		pthread_join(c->writers[i], NULL);
	c->nwriters = 0;
}
