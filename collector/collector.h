/*
 * fleetprof-collector internals: the nng REP server (server.c) hands decoded
 * batches to the writer threads (writer.c), each agent's to the same one,
 * which merge them into PostgreSQL in group commits and only then send each
 * batch's reply. Threads: nng's callback threads run the server and the
 * HTTP endpoints (http.c); each writer owns a database connection, and its
 * fold thread another; the main thread waits for signals (drain, reload).
 * config.c fills the options; SIGHUP changes commit_ms, max_group (down
 * only), max_rows, the retentions, the maintenance interval, the fold
 * settings, log_level and drain_timeout_ns under c->lock, and tokens under
 * c->auth_lock: read those under the same lock.
 */
#ifndef COLLECTOR_COLLECTOR_H
#define COLLECTOR_COLLECTOR_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fp/error.h"
#include "wire/batch.h"
#include "wire/reply.h"

struct collector_tokens;
struct nng_tls_config;
struct nng_http_server;
struct storage_fold_job;

#define COLLECTOR_MAX_WRITERS 16

struct collector_options {
	const char *listen;	     /* nng URL(s), comma-separated */
	const char *conninfo;	     /* libpq conninfo or URI ("" = PG* env) */
	int contexts;		     /* concurrent requests in flight */
	int commit_ms;		     /* group commit: wait this long for more */
	int max_group;		     /* batches per transaction */
	long max_rows;		     /* rows per transaction (0: no limit) */
	int writers;		     /* parallel writer connections */
	int64_t raw_retention_ns;    /* raw tier and ledger (7 d) */
	int64_t rollup_retention_ns; /* rollup tier (90 d) */
	int64_t rollup_bucket_ns;    /* rollup width (1 h) */
	int64_t maintenance_interval_ns; /* partitions + retention (10 min) */
	int64_t fold_interval_ns;	 /* delta -> raw tier (60 s) */
	int64_t fold_delay_ns;		 /* after each multiple (12 s) */
	long fold_max_rows;		 /* or sooner at this many keys */
	struct wire_limits limits;

	/* Strings and tokens below and above are owned by the struct
	 * collector_config that filled them (config.c). */
	int log_level;			 /* FP_LOG_* */
	int64_t drain_timeout_ns;	 /* SIGTERM drain bound */
	const char *http_listen;	 /* /metrics etc., "" = off */
	const char *tls_cert_file;	 /* PEM; NULL when not configured */
	const char *tls_key_file;	 /* PEM; NULL when not configured */
	const char *tls_ca_file;	 /* NULL = no client certificates */
	size_t max_pending_bytes;	 /* backpressure threshold */
	struct collector_tokens *tokens; /* NULL = anyone may send */
};

/* One request in flight: an nng context and its state. */
struct collector_ctx {
	struct collector *c;
	nng_ctx ctx;
	nng_aio *aio;
	int state; /* CTX_IDLE, CTX_RECV, CTX_WAIT, CTX_SEND */
	struct wire_batch *batch;
	size_t pending; /* bytes counted in stats.pending_bytes, 0 = none */
	char peer[160];
	struct collector_ctx *next;	   /* writer queue link */
	struct collector_ctx *parked_next; /* backpressure list link */
};

/*
 * One writer (writer.c): its queue, its thread, and the fold thread beside
 * it with a connection of its own. Each agent's batches go to one writer,
 * so its sums collapse in that writer's fold maps. Fields under c->lock.
 */
struct collector_writer {
	struct collector *c;
	int index;
	struct collector_ctx *qhead, *qtail; /* waiting for this writer */
	int qlen;
	pthread_cond_t cond; /* a batch queued, or stopping (wall clock) */
	pthread_t thread, folder;
	int folder_started;
	/* The fold hand-off: the writer puts a job, the fold thread folds it
	 * and marks it done, the writer takes it back. */
	struct storage_fold_job *job; /* out to the fold thread, or NULL */
	int job_done;		      /* folded: the writer reclaims it */
	int job_orphan; /* its storage writer is gone: the folder frees it */
	int fold_stop;
	pthread_cond_t fold_cond; /* job put or done, fold_stop (wall) */
};

/* FP_E codes 1..N of common/include/fp/error.h; index 0 = other. */
#define COLLECTOR_ERR_ONE(name, num, msg) +1
#define COLLECTOR_NREASONS (1 FP_ERRNO_MAP(COLLECTOR_ERR_ONE))
/* Commit latency buckets: 0.005 s .. 10 s (Prometheus' defaults). */
#define COLLECTOR_COMMIT_BUCKETS 11

struct collector_stats {
	atomic_uint_least64_t received;
	atomic_uint_least64_t acked;
	atomic_uint_least64_t duplicates;
	atomic_uint_least64_t rejected;
	atomic_uint_least64_t unavailable;
	atomic_uint_least64_t commits;
	atomic_uint_least64_t rows;
	atomic_uint_least64_t folds, fold_rows, fold_ns;
	atomic_uint_least64_t reconnects;

	/* metrics.c: replies with retry=false, by FP_E code (0 = other). */
	atomic_uint_least64_t rejected_by[COLLECTOR_NREASONS];
	/* Commit durations (collector_observe_commit): per bucket, not
	 * cumulative, the last one +Inf; and their sum. */
	atomic_uint_least64_t commit_buckets[COLLECTOR_COMMIT_BUCKETS + 1];
	atomic_uint_least64_t commit_sum_ns;
	/* Received batches not answered yet: server.c adds when it hands a
	 * batch to the writer, collector_reply() subtracts. */
	atomic_uint_least64_t pending_bytes;
	atomic_uint_least64_t pending_batches;
};

struct collector {
	struct collector_options opt;
	nng_socket sock;
	struct collector_ctx *ctxs;
	int nctx;

	pthread_mutex_t lock;
	int stopping;
	struct collector_writer writers[COLLECTOR_MAX_WRITERS];
	int nwriters; /* started */

	struct collector_stats stats;

	/* Health (http.c). db_up: 1 while the writer holds a working
	 * connection, 0 otherwise; the writer sets it. listening: 1 from
	 * server start until the drain begins. */
	atomic_int db_up;
	atomic_int listening;
	int64_t start_wall_ns;

	pthread_mutex_t auth_lock; /* guards opt.tokens */

	/* server.c: context life cycle, backpressure and drain. */
	pthread_mutex_t srv_lock;
	pthread_cond_t srv_cond;      /* a context went idle */
	struct collector_ctx *parked; /* idle while throttled */
	int active;		      /* contexts not idle */
	int draining;		      /* no context receives again */
	atomic_int throttled;	      /* receives paused (pending bytes) */
	int64_t throttled_since;      /* mono ns */
	struct nng_tls_config *tls;   /* for tls+tcp:// listeners */
	struct nng_http_server *http; /* /metrics, /healthz, /readyz */
};

/* Initialises the locks of a zeroed collector; fini destroys them. */
void collector_init(struct collector *c);
void collector_fini(struct collector *c);

/* Sets up the socket and contexts and starts listening. */
int collector_server_start(struct collector *c);
/*
 * Drain, step 1: no context receives again (a receive in progress ends
 * within a second); batches already received are still committed and
 * answered by the writer.
 */
void collector_server_drain(struct collector *c);
/* Drain, step 2: waits until every context is idle. 0, or FP_ETIMEDOUT
 * when deadline (fp_mono_ns) passes first. */
int collector_server_drain_wait(struct collector *c, int64_t deadline);
/* Closes the socket and frees the contexts (waits for callbacks). */
void collector_server_stop(struct collector *c);
/*
 * Called by the writer (and by the server for bad input): sends r as the
 * reply of x, frees x->batch, releases x's pending bytes (which may resume
 * paused receives), counts a retry=false reply as rejected by r->code, then
 * re-arms x. Exactly once per batch handed to the writer.
 */
void collector_reply(struct collector_ctx *x, const struct wire_reply *r);

/*
 * The writer calls this after each COMMIT, and only there, with the
 * transaction's duration in ns: it feeds the commit latency histogram.
 * Thread-safe, lock-free (metrics.c).
 */
void collector_observe_commit(struct collector *c, int64_t ns);

int collector_writer_start(struct collector *c);
/* Drains what is queued (commit and reply), then stops the thread. */
void collector_writer_stop(struct collector *c);
/* Called by the server: hands a decoded batch to the writer. */
void collector_writer_enqueue(struct collector *c, struct collector_ctx *x);

#endif
