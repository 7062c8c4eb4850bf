/*
 * fleetprof-collector internals: the nng REP server (server.c) hands decoded
 * batches to one writer thread (writer.c), which merges them into
 * PostgreSQL in group commits and only then sends each batch's reply.
 * Threads: nng's callback threads run the server; the writer owns the
 * database connection; the main thread waits for a signal.
 */
#ifndef COLLECTOR_COLLECTOR_H
#define COLLECTOR_COLLECTOR_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "wire/batch.h"
#include "wire/reply.h"

struct collector_options {
	const char *listen;	     /* nng URL(s), comma-separated */
	const char *conninfo;	     /* libpq conninfo or URI ("" = PG* env) */
	int contexts;		     /* concurrent requests in flight */
	int commit_ms;		     /* group commit: wait this long for more */
	int max_group;		     /* batches per transaction */
	long max_rows;		     /* rows per transaction (0: no limit) */
	int64_t raw_retention_ns;    /* raw tier and ledger (7 d) */
	int64_t rollup_retention_ns; /* rollup tier (90 d) */
	int64_t rollup_bucket_ns;    /* rollup width (1 h) */
	int64_t maintenance_interval_ns; /* partitions + retention (10 min) */
	struct wire_limits limits;
};

/* One request in flight: an nng context and its state. */
struct collector_ctx {
	struct collector *c;
	nng_ctx ctx;
	nng_aio *aio;
	int state; /* CTX_RECV, CTX_WAIT, CTX_SEND */
	struct wire_batch *batch;
	char peer[160];
	struct collector_ctx *next; /* writer queue link */
};

struct collector_stats {
	atomic_uint_least64_t received;
	atomic_uint_least64_t acked;
	atomic_uint_least64_t duplicates;
	atomic_uint_least64_t rejected;
	atomic_uint_least64_t unavailable;
	atomic_uint_least64_t commits;
	atomic_uint_least64_t rows;
	atomic_uint_least64_t reconnects;
};

struct collector {
	struct collector_options opt;
	nng_socket sock;
	struct collector_ctx *ctxs;
	int nctx;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct collector_ctx *qhead, *qtail; /* waiting for the writer */
	int qlen;
	int stopping;
	pthread_t writer;
	int writer_started;

	struct collector_stats stats;
};

/* Sets up the socket and contexts and starts listening. */
int collector_server_start(struct collector *c);
/* Closes the socket and frees the contexts (waits for callbacks). */
void collector_server_stop(struct collector *c);
/* Called by the writer: sends r as the reply of x and re-arms it. */
void collector_reply(struct collector_ctx *x, const struct wire_reply *r);

int collector_writer_start(struct collector *c);
/* Drains what is queued (commit and reply), then stops the thread. */
void collector_writer_stop(struct collector *c);
/* Called by the server: hands a decoded batch to the writer. */
void collector_writer_enqueue(struct collector *c, struct collector_ctx *x);

#endif
