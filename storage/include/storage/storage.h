/*
 * storage: every SQL statement fleetprof's C code runs, through libpq.
 * Connections are plain PGconn handles owned by the caller; nothing here is
 * shared between threads (one connection per thread). SQL is parameterised or
 * carried by COPY; no value is ever pasted into SQL text.
 */
#ifndef STORAGE_STORAGE_H
#define STORAGE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct wire_batch;

/* Bucket width of the raw fact tables. */
#define STORAGE_BUCKET_SECONDS 60

/*
 * Connect with a libpq conninfo string or URI (NULL or "" uses FLEETPROF_DB,
 * then libpq's PG* variables). On success *out is a connection the caller
 * closes with PQfinish; on failure returns FP_EDBDOWN and, if errbuf is not
 * NULL, copies libpq's message (one line) into it.
 */
int storage_connect(const char *conninfo, PGconn **out, char *errbuf,
		    size_t errlen);

/* Resolve the conninfo: explicit value, else $FLEETPROF_DB, else "". */
const char *storage_conninfo(const char *explicit_value);

/*
 * Apply every embedded migration not yet in schema_migrations, each in its
 * own transaction, under an advisory lock so concurrent collectors migrate
 * once. Idempotent. Returns 0, or FP_EDB / FP_EDBDOWN (logged).
 */
int storage_migrate(PGconn *conn);

/* Latest migration version compiled in, and the one applied (0 if none). */
int storage_schema_version_built(void);
int storage_schema_version_applied(PGconn *conn, int *out);

/* ---- identities (persisted: see schema/001_init.sql) ---- */
int64_t storage_series_id(const char *host, const char *service, int clock,
			  const char *labels_json);
int64_t storage_function_id(const char *name, const char *file, uint32_t line,
			    const char *module);
int64_t storage_stack_id(int64_t parent_stack_id, int64_t fn_id);

/* ---- merge (the collector's writer) ---- */

struct storage_writer;

/*
 * A writer owns the connection it is given (closes it in destroy) and the
 * temporary staging tables on it. Returns 0 or FP_ENOMEM/FP_EDB/FP_EDBDOWN.
 */
int storage_writer_create(PGconn *conn, struct storage_writer **out);
void storage_writer_destroy(struct storage_writer *w);
/* The connection, e.g. to check PQstatus. */
PGconn *storage_writer_conn(struct storage_writer *w);

struct storage_merge_item {
	const struct wire_batch *batch; /* in: decoded, validated */
	int dup;			/* out: 1 if committed before */
	int status; /* out: 0, or FP_ERANGE: t0 outside the accepted window
		       (older than the raw retention, or over a day ahead):
		       not stored, reply with the reason, do not retry */
};

struct storage_merge_stats {
	uint64_t batches_new;
	uint64_t batches_dup;
	uint64_t batches_refused;
	uint64_t rows;	       /* fact rows received */
	uint64_t rows_written; /* rows staged after pre-aggregation */
};

struct storage_writer_opts {
	int64_t raw_retention_s;    /* default 7 days */
	int64_t rollup_retention_s; /* default 90 days */
	/* How long a fold waits for readers to let it TRUNCATE a delta slot
	 * before it empties the slot by DELETE (slower, the rows stay until
	 * autovacuum); <= 0: the default, 30 s. */
	int64_t empty_wait_ms;
};

/* Sets the retention (defaults until called). */
void storage_writer_configure(struct storage_writer *w,
			      const struct storage_writer_opts *opt);

/*
 * Partitions ahead (today and two more days) and retention (drops raw and
 * ledger partitions older than the raw retention, rollup ones older than
 * the rollup retention), then folds any delta slot no writer holds (its
 * writer died, none started since). Returns 0 with what was created and
 * dropped.
 */
int storage_maintain(struct storage_writer *w, int *created, int *dropped);

/*
 * Folds what this writer appended to its delta slot since its last fold
 * into the raw tier, on the writer's connection, in one transaction that
 * also empties the slot (schema 007). Readers see the same sums before and
 * after. *rows (may be NULL): the keys folded. On failure nothing changed; call
 * again later.
 */
int storage_fold(struct storage_writer *w, uint64_t *rows);
/* Keys appended since the last fold (what the next fold writes). */
size_t storage_fold_pending(const struct storage_writer *w);

/*
 * Folding on another connection, so merges never wait for a fold (the
 * collector's fold thread). A writer holds two delta slots: it appends to
 * one while the other is folded.
 *
 * storage_writer_retire hands the slot appended to, with its sums, over as
 * a job, and the writer appends to its spare slot from then on. NULL when
 * there is nothing to fold or the spare is still out (the previous job has
 * not been reclaimed).
 */
struct storage_fold_job;
struct storage_fold_job *storage_writer_retire(struct storage_writer *w);
/* Creates the staging tables a fold needs on a connection of its own. */
int storage_fold_conn_init(PGconn *conn);
/*
 * Runs the job on conn (not the writer's connection). 0: folded, the job
 * is empty (*rows, may be NULL: the keys folded). FP_ESTATE: the writer's
 * session has ended, so its slots are free and the next writer to take one
 * folds it from the table; nothing was done, the job is empty. Otherwise
 * failed with nothing changed (or COMMIT's outcome unknown): run it again
 * later, it then folds from the table.
 */
int storage_fold_job_run(PGconn *conn, struct storage_fold_job *j,
			 uint64_t *rows);
/* Keys the job holds. */
size_t storage_fold_job_keys(const struct storage_fold_job *j);
/* Gives an empty job back to the writer that retired it: its spare. */
void storage_writer_reclaim(struct storage_writer *w,
			    struct storage_fold_job *j);
/* Frees a job whose writer was destroyed while it was out (destroy frees
 * only the jobs the writer holds). */
void storage_fold_job_free(struct storage_fold_job *j);

/*
 * Rolls the raw minutes that ended at least settle_s seconds ago into the
 * rollup tier, in at most max_hours hours (and ended days into the 1 d
 * tier); *hours says how many hours. 0 also when another session is
 * rolling up. Not past the oldest bucket a delta slot holds (schema 008):
 * minutes are rolled up once folded. Until a minute is rolled up the rollup
 * tier reads it from raw, so this is about query speed, never exactness.
 */
int storage_rollup(PGconn *conn, int64_t settle_s, int max_hours, int *hours);

/*
 * Merge n batches in ONE transaction: dedup by (agent id, seq) against
 * ingested_batches (and within the group), then add the new batches'
 * counters to the raw fact tables (marking their hours for the rollup).
 * Returns 0 after COMMIT
 * (items[].dup and .status set); FP_EDBDOWN if the connection was lost or
 * the failure is transient (nothing is known to be committed: the caller must
 * not ack; resending is safe); FP_EDB if PostgreSQL refused the data (rolled
 * back). stats may be NULL.
 */
int storage_merge(struct storage_writer *w, struct storage_merge_item *items,
		  size_t n, struct storage_merge_stats *stats);

/*
 * Whether (agent id, seq) was ever committed, whatever its t0 (the ledger's
 * key holds t0 because t0 partitions it). Takes a session advisory lock on
 * the id, held until the connection closes, so concurrent importers of one
 * file serialise. Returns 0 with *known (and *t0_ns when known), or FP_EDB.
 */
int storage_batch_known(PGconn *conn, const uint8_t id[16], uint64_t seq,
			int *known, int64_t *t0_ns);

#endif
