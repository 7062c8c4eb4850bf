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
#include "fp/hash.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "storage/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Each agent's batches go to one writer, so that writer's fold maps sum
 * its flushes of a minute into one row per key. */
void collector_writer_enqueue(struct collector *c, struct collector_ctx *x)
{
	struct collector_writer *wr;
	uint64_t h = fp_hash64(x->batch->agent.id, WIRE_AGENT_ID_LEN, 0);

	pthread_mutex_lock(&c->lock);
	wr = &c->writers[c->nwriters > 1 ? h % (uint64_t)c->nwriters : 0];
	x->next = NULL;
	if (wr->qtail != NULL)
		wr->qtail->next = x;
	else
		wr->qhead = x;
	wr->qtail = x;
	wr->qlen++;
	pthread_cond_signal(&wr->cond);
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
	struct collector_writer *wr;
	struct storage_writer *w;
	int64_t next_maintenance; /* mono ns */
	int64_t next_fold;	  /* wall ns */
	int64_t next_rollup;	  /* mono ns, when there is no fold thread */
	long crash_after;	  /* test fault injection, 0 = off */
	long commits;
	int64_t next_connect; /* mono ns */
	int64_t backoff;
};

/* Waits on cond until `until` (wall ns); the caller holds c->lock. */
static int wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
		      int64_t until)
{
	struct timespec ts;
	ts.tv_sec = (time_t)(until / FP_NS_PER_SEC);
	ts.tv_nsec = (long)(until % FP_NS_PER_SEC);
	return pthread_cond_timedwait(cond, lock, &ts);
}

/* The next fold time after now (wall ns): a multiple of the interval plus
 * the delay, so one fold holds each bucket whole once the agents' last
 * flushes for it are in. */
static int64_t next_fold_at(int64_t now, int64_t every, int64_t delay)
{
	if (every <= 0)
		every = 60 * FP_NS_PER_SEC;
	if (delay < 0 || delay >= every)
		delay = 0;
	return ((now - delay) / every + 1) * every + delay;
}

/*
 * Destroys the storage writer (if any). A fold job back from the fold
 * thread is freed with it; one still out becomes the fold thread's to
 * free: the writer's slots are free once
 * its session ends, and whoever takes them folds what they hold.
 */
static void drop_writer(struct collector *c, struct writer_state *ws)
{
	struct collector_writer *wr = ws->wr;
	pthread_mutex_lock(&c->lock);
	if (wr->job != NULL && wr->job_done) {
		storage_fold_job_free(wr->job);
		wr->job = NULL;
		wr->job_done = 0;
	} else if (wr->job != NULL) {
		wr->job_orphan = 1;
	}
	pthread_mutex_unlock(&c->lock);
	storage_writer_destroy(ws->w);
	ws->w = NULL;
}

/* The fold thread's side (c->lock held): frees the job if its writer let
 * go of it; 1 if it did. */
static int free_orphan(struct collector_writer *wr)
{
	if (wr->job == NULL || !wr->job_orphan)
		return 0;
	storage_fold_job_free(wr->job);
	wr->job = NULL;
	wr->job_orphan = 0;
	return 1;
}

static int ensure_connected(struct collector *c, struct writer_state *ws)
{
	char err[256];
	PGconn *conn;
	int rc;

	if (ws->w != NULL) {
		if (PQstatus(storage_writer_conn(ws->w)) == CONNECTION_OK)
			return 0;
		drop_writer(c, ws);
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
		pthread_mutex_lock(&c->lock);
		ws->next_fold =
			next_fold_at(fp_wall_ns(), c->opt.fold_interval_ns,
				     c->opt.fold_delay_ns);
		pthread_mutex_unlock(&c->lock);
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
 * The fold: what a writer appended to its delta slot goes into the raw
 * tier at each multiple of fold_interval plus fold_delay (wall clock), or
 * sooner once its fold maps hold fold_max_rows keys (about 130 bytes a
 * key). With 60 s buckets, a 60 s interval and a delay just over the
 * agents' flush interval, one fold holds each bucket whole, so each raw
 * row is written about once however often agents flush. The writer hands
 * its slot to its fold thread and appends to its spare slot meanwhile: a
 * merge never waits for a fold. If the previous fold is still out, this
 * one waits for it (the maps grow meanwhile).
 */
static void count_fold(struct collector *c, uint64_t rows, int64_t ns)
{
	if (rows > 0) {
		atomic_fetch_add(&c->stats.folds, 1);
		atomic_fetch_add(&c->stats.fold_rows, rows);
	}
	atomic_fetch_add(&c->stats.fold_ns, (uint64_t)(ns > 0 ? ns : 0));
}

static int64_t rollup(PGconn *conn, int64_t now, int64_t next);

/* c->lock held: a job the fold thread is done with becomes the writer's
 * spare again. (A done job is never an orphan: drop_writer frees those.) */
static void take_back(struct writer_state *ws)
{
	struct collector_writer *wr = ws->wr;
	if (wr->job == NULL || !wr->job_done)
		return;
	storage_writer_reclaim(ws->w, wr->job);
	wr->job = NULL;
	wr->job_done = 0;
}

static void fold(struct collector *c, struct writer_state *ws)
{
	struct collector_writer *wr = ws->wr;
	int64_t now = fp_wall_ns(), every, delay;
	long max_rows;
	struct storage_fold_job *j;

	if (ws->w == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	every = c->opt.fold_interval_ns;
	delay = c->opt.fold_delay_ns;
	max_rows = c->opt.fold_max_rows;
	take_back(ws);
	pthread_mutex_unlock(&c->lock);
	if (now < ws->next_fold &&
	    (max_rows <= 0 || storage_fold_pending(ws->w) < (size_t)max_rows))
		return;
	if (!wr->folder_started) {
		/* No fold thread: fold here, at the same times. */
		uint64_t rows = 0;
		int64_t t0 = fp_mono_ns();
		ws->next_fold = next_fold_at(now, every, delay);
		if (storage_fold(ws->w, &rows) != 0)
			fp_warn("fold into the raw tier failed; its rows stay "
				"in the delta tables, retrying");
		count_fold(c, rows, fp_mono_ns() - t0);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (wr->job == NULL) {
		if ((j = storage_writer_retire(ws->w)) != NULL) {
			wr->job = j;
			wr->job_done = 0;
			pthread_cond_broadcast(&wr->fold_cond);
		}
		ws->next_fold = next_fold_at(now, every, delay);
	} /* else the previous fold is still out: again at the next call */
	pthread_mutex_unlock(&c->lock);
}

/* Partitions ahead and retention, every maintenance interval; the fold. */
static void maintain(struct collector *c, struct writer_state *ws)
{
	int created = 0, dropped = 0;
	int64_t now = fp_mono_ns();
	struct storage_writer_opts o = {0, 0, 0};
	int64_t every;
	fold(c, ws);
	if (ws->w != NULL && !ws->wr->folder_started)
		ws->next_rollup = rollup(storage_writer_conn(ws->w), now,
					 ws->next_rollup);
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

/*
 * The rollup tier: every minute the raw minutes that ended ROLLUP_SETTLE_S
 * ago (so the agents' last flushes and retries for them are in) are added
 * to their hour's rollup rows, a few hours per call so a backlog never
 * holds one transaction long. Until then readers get those minutes from
 * raw: this is speed, not exactness. Run by the fold threads (one at a
 * time: the database lets one session roll up).
 */
#define ROLLUP_EVERY_NS (60 * FP_NS_PER_SEC)
#define ROLLUP_SETTLE_S 120
#define ROLLUP_MAX_HOURS 4

static int64_t rollup(PGconn *conn, int64_t now, int64_t next)
{
	int hours = 0;

	if (now < next)
		return next;
	if (storage_rollup(conn, ROLLUP_SETTLE_S, ROLLUP_MAX_HOURS, &hours) !=
	    0) {
		fp_warn("rollup failed; retrying in a minute");
		return now + ROLLUP_EVERY_NS;
	}
	if (hours > 0)
		fp_info("rollup: %d hour(s) rolled up", hours);
	/* A backlog: go on soon. */
	return now +
	       (hours == ROLLUP_MAX_HOURS ? FP_NS_PER_SEC : ROLLUP_EVERY_NS);
}

/* The fold thread's connection: made (with its staging tables) when
 * needed, with the writer's backoff rule. NULL while the database is down.
 */
static PGconn *fold_conn(struct collector *c, PGconn *conn, int64_t *backoff,
			 int64_t *next_connect)
{
	char err[256];
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return conn;
	if (conn != NULL)
		PQfinish(conn);
	if (fp_mono_ns() < *next_connect)
		return NULL;
	conn = NULL;
	if (storage_connect(c->opt.conninfo, &conn, err, sizeof(err)) != 0 ||
	    storage_fold_conn_init(conn) != 0) {
		if (conn != NULL)
			PQfinish(conn);
		*backoff = *backoff ? *backoff * 2 : 100 * FP_NS_PER_MS;
		if (*backoff > 5 * FP_NS_PER_SEC)
			*backoff = 5 * FP_NS_PER_SEC;
		*next_connect = fp_mono_ns() + *backoff;
		return NULL;
	}
	*backoff = 0;
	return conn;
}

/*
 * The fold thread of one writer: folds the jobs its writer hands over on a
 * connection of its own, and runs the rollup. A failed fold is retried
 * (from the table: COMMIT's outcome may be unknown) until it succeeds or
 * the writer's session is found gone (its slots then go to the next writer
 * that starts, which folds them).
 */
static void *folder_main(void *arg)
{
	struct collector_writer *wr = arg;
	struct collector *c = wr->c;
	PGconn *conn = NULL;
	int64_t backoff = 0, next_connect = 0, next_rollup = 0;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct storage_fold_job *j;
		uint64_t rows = 0;
		int rc;

		while (!wr->fold_stop && (wr->job == NULL || wr->job_done) &&
		       fp_mono_ns() < next_rollup)
			wait_until(&wr->fold_cond, &c->lock,
				   fp_wall_ns() + FP_NS_PER_SEC);
		/* Stopping, an orphan is never run: its rows stay in the
		 * slot, which the next writer to start folds. */
		if (wr->fold_stop)
			free_orphan(wr);
		if (wr->fold_stop && (wr->job == NULL || wr->job_done))
			break;
		j = wr->job != NULL && !wr->job_done ? wr->job : NULL;
		pthread_mutex_unlock(&c->lock);

		conn = fold_conn(c, conn, &backoff, &next_connect);
		if (conn == NULL) {
			pthread_mutex_lock(&c->lock);
			if (!wr->fold_stop)
				wait_until(&wr->fold_cond, &c->lock,
					   fp_wall_ns() + 100 * FP_NS_PER_MS);
			continue;
		}
		if (j == NULL) {
			next_rollup = rollup(conn, fp_mono_ns(), next_rollup);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		size_t keys = storage_fold_job_keys(j);
		int64_t t0 = fp_mono_ns();
		rc = storage_fold_job_run(conn, j, &rows);
		count_fold(c, rc == 0 ? rows : 0, fp_mono_ns() - t0);
		if (rc != 0 && rc != FP_ESTATE) {
			fp_warn("fold of %zu key(s) into the raw tier failed; "
				"they stay in the delta tables, retrying",
				keys);
			pthread_mutex_lock(&c->lock);
			/* An orphan's writer is gone and with it the slot's
			 * owner: the next writer folds the slot. */
			if (!free_orphan(wr) && !wr->fold_stop)
				wait_until(&wr->fold_cond, &c->lock,
					   fp_wall_ns() + FP_NS_PER_SEC);
			continue;
		}
		pthread_mutex_lock(&c->lock);
		if (!free_orphan(wr))
			wr->job_done = 1;
		pthread_cond_broadcast(&wr->fold_cond);
	}
	pthread_mutex_unlock(&c->lock);
	if (conn != NULL)
		PQfinish(conn);
	return NULL;
}

/* At shutdown: waits (at most `ns`) for the job out to come back, and
 * takes it; 0 if it did (or none was out). */
static int wait_job_back(struct collector *c, struct writer_state *ws,
			 int64_t ns)
{
	struct collector_writer *wr = ws->wr;
	int64_t until = fp_wall_ns() + ns;
	int rc = 0;
	pthread_mutex_lock(&c->lock);
	while (wr->job != NULL && !wr->job_done && fp_wall_ns() < until)
		wait_until(&wr->fold_cond, &c->lock, until);
	take_back(ws);
	if (wr->job != NULL)
		rc = FP_ETIMEDOUT;
	pthread_mutex_unlock(&c->lock);
	return rc;
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
		drop_writer(c, ws); /* a fold job out becomes an orphan */
		atomic_store(&c->db_up, 0);
	}
	for (int i = 0; i < n; i++)
		reply_status(c, xs[i], rc == 0 ? items[i].status : rc,
			     items[i].dup);
	free(items);
}

static void *writer_main(void *arg)
{
	struct collector_writer *wr = arg;
	struct collector *c = wr->c;
	struct writer_state ws;
	const char *fault = getenv("FLEETPROF_FAULT_EXIT_AFTER_COMMIT");
	struct collector_ctx **xs =
		calloc((size_t)c->opt.max_group + 1, sizeof(*xs));

	memset(&ws, 0, sizeof(ws));
	ws.wr = wr;
	if (xs == NULL) {
		fp_err("writer: out of memory");
		return NULL;
	}
	if (fault != NULL)
		ws.crash_after = strtol(fault, NULL, 10);
	if (pthread_create(&wr->folder, NULL, folder_main, wr) != 0)
		fp_warn("writer %d: no fold thread (out of resources): "
			"folding on the writer's connection",
			wr->index);
	else
		wr->folder_started = 1;
	/* Connect early so the first batch does not wait for it. */
	ensure_connected(c, &ws);
	maintain(c, &ws);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		int n = 0;
		while (wr->qhead == NULL && !c->stopping) {
			/* Idle: wake every second for reconnects and the
			 * periodic maintenance. */
			if (wait_until(&wr->cond, &c->lock,
				       fp_wall_ns() + FP_NS_PER_SEC) == 0)
				continue;
			pthread_mutex_unlock(&c->lock);
			if (ensure_connected(c, &ws) == 0)
				maintain(c, &ws);
			pthread_mutex_lock(&c->lock);
		}
		if (wr->qhead == NULL && c->stopping)
			break;
		/* Group commit: give concurrent batches a moment to join. */
		if (wr->qlen < c->opt.max_group && c->opt.commit_ms > 0 &&
		    !c->stopping) {
			int64_t until =
				fp_wall_ns() +
				(int64_t)c->opt.commit_ms * FP_NS_PER_MS;
			while (wr->qlen < c->opt.max_group && !c->stopping &&
			       wait_until(&wr->cond, &c->lock, until) == 0)
				;
		}
		/* A group ends at max_group batches or max_rows rows (at
		 * least one batch, however large). */
		uint64_t rows = 0;
		while (wr->qhead != NULL && n < c->opt.max_group &&
		       (n == 0 || c->opt.max_rows <= 0 ||
			rows < (uint64_t)c->opt.max_rows)) {
			const struct wire_batch *b = wr->qhead->batch;
			rows += (uint64_t)b->nfstats + b->nedges + b->nnodes;
			xs[n++] = wr->qhead;
			wr->qhead = wr->qhead->next;
			wr->qlen--;
		}
		if (wr->qhead == NULL)
			wr->qtail = NULL;
		pthread_mutex_unlock(&c->lock);
		commit_group(c, &ws, xs, n);
		maintain(c, &ws);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	/* Leave the delta slots empty: the fold out first, then this. */
	if (ws.w != NULL &&
	    PQstatus(storage_writer_conn(ws.w)) == CONNECTION_OK) {
		uint64_t rows = 0;
		int64_t t0;
		if (wait_job_back(c, &ws, 10 * FP_NS_PER_SEC) != 0)
			fp_warn("writer %d: the last fold did not finish in "
				"10 s; its rows stay in the delta tables and "
				"the next start folds them",
				wr->index);
		t0 = fp_mono_ns();
		if (storage_fold(ws.w, &rows) != 0)
			rows = 0;
		count_fold(c, rows, fp_mono_ns() - t0);
	}
	drop_writer(c, &ws); /* also when it was dropped before */
	pthread_mutex_lock(&c->lock);
	wr->fold_stop = 1;
	pthread_cond_broadcast(&wr->fold_cond);
	pthread_mutex_unlock(&c->lock);
	if (wr->folder_started)
		pthread_join(wr->folder, NULL);
	wr->folder_started = 0;
	free(xs);
	return NULL;
}

/*
 * Several writers, each with its own queue, connection and caches:
 * PostgreSQL is the bottleneck and one backend uses one core. Each agent's
 * batches go to one writer, so writers touch disjoint series: no two lock
 * the same rows. (Rows are locked in key order anyway, and the ledger's
 * unique key turns a batch merged by two writers at once, after a
 * reconnect, into one merge and one duplicate.)
 */
int collector_writer_start(struct collector *c)
{
	int n = c->opt.writers > 0 ? c->opt.writers : 1;
	if (n > COLLECTOR_MAX_WRITERS)
		n = COLLECTOR_MAX_WRITERS;
	for (int i = 0; i < n; i++) {
		c->writers[i].c = c;
		c->writers[i].index = i;
	}
	/* Batches queue by writer number before the threads run. */
	pthread_mutex_lock(&c->lock);
	c->nwriters = n;
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < n; i++) {
		if (pthread_create(&c->writers[i].thread, NULL, writer_main,
				   &c->writers[i]) != 0) {
			pthread_mutex_lock(&c->lock);
			c->nwriters = i; /* run with fewer */
			pthread_mutex_unlock(&c->lock);
			if (i == 0)
				return FP_ENOMEM;
			break;
		}
	}
	return 0;
}

void collector_writer_stop(struct collector *c)
{
	int n;
	pthread_mutex_lock(&c->lock);
	n = c->nwriters;
	c->stopping = 1;
	for (int i = 0; i < n; i++)
		pthread_cond_broadcast(&c->writers[i].cond);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < n; i++)
		pthread_join(c->writers[i].thread, NULL);
	pthread_mutex_lock(&c->lock);
	c->nwriters = 0;
	pthread_mutex_unlock(&c->lock);
}
