/*
 * fleetprof-loadgen internals: a synthetic fleet of agents sending wire v1
 * batches with exact counters, keeping the totals the collectors acked so a
 * test or bench can compare the database with what was sent. profile.c: the
 * shared functions and call tree; sender.c: the agents on a thread pool;
 * hist.c: latency; report.c: output. At most one batch per agent is held.
 */
#ifndef LOADGEN_LOADGEN_H
#define LOADGEN_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

#include "wire/batch.h"

/* ---- options ---- */

struct loadgen_options {
	const char *collectors; /* nng URL(s), comma-separated */
	uint32_t agents;
	uint32_t functions;
	uint32_t edges;
	uint32_t paths;
	uint32_t hosts; /* host names loadgen-host-<i % hosts> */
	const char *service;
	uint32_t threads;
	uint32_t sockets;	 /* nng sockets per thread */
	uint64_t seed;		 /* shapes the profile and the counters */
	int64_t interval_ns;	 /* 0: closed loop, resend on every ack */
	int64_t duration_ns;	 /* of flushing; then the drain */
	int64_t drain_ns;	 /* wait at most this long for the last acks */
	int timeout_ms;		 /* per request, then resend the same bytes */
	int progress_s;		 /* progress line period on stderr */
	const char *report_json; /* NULL: no JSON report */
};

void loadgen_options_default(struct loadgen_options *o);

/* ---- synthetic profile (profile.c) ---- */

/*
 * What every agent of the run instruments: the functions (ids 1..nfns, main
 * first), the caller->callee edges and a call tree of nnodes paths (node ids
 * 1..nnodes, parents before children, depth <= max_depth). Counters in these
 * arrays are zero: loadgen_profile_fill() writes each batch's own.
 */
struct loadgen_profile {
	struct wire_fn *fns;
	uint32_t nfns;
	struct wire_edge *edges;
	uint32_t nedges;
	struct wire_node *nodes;
	uint32_t nnodes;
	uint32_t depth; /* deepest path made */
	char *strings;	/* names, files and modules of fns */
};

/*
 * Makes a profile of m functions, e edges (e <= m * m) and p paths from
 * seed. On success *out is owned by the caller (loadgen_profile_destroy);
 * returns FP_EINVAL for impossible sizes, FP_ENOMEM.
 */
int loadgen_profile_create(uint32_t m, uint32_t e, uint32_t p, uint64_t seed,
			   struct loadgen_profile **out);
void loadgen_profile_destroy(struct loadgen_profile *prof);

/* One batch's counters, in caller-owned arrays sized like the profile. */
struct loadgen_rows {
	struct wire_fstat *fstats;
	struct wire_edge *edges;
	struct wire_node *nodes;
};

int loadgen_rows_init(struct loadgen_rows *r,
		      const struct loadgen_profile *prof);
void loadgen_rows_fini(struct loadgen_rows *r);

/*
 * Fills r with fresh random counters (valid for the decoder: pcalls <=
 * ncalls, nonzero path counters) drawn from *rng; returns the sum of ncalls
 * over the fstats rows.
 */
uint64_t loadgen_profile_fill(const struct loadgen_profile *prof,
			      struct loadgen_rows *r, uint64_t *rng);

/* xorshift64*: never returns the same stream for two different seeds. */
uint64_t loadgen_rand(uint64_t *state);

/* ---- latency histogram (hist.c) ---- */

#define LOADGEN_HIST_SUB 32
#define LOADGEN_HIST_BUCKETS (LOADGEN_HIST_SUB * 42)

/* Microseconds, log-linear buckets (about 3% resolution), fixed size. */
struct loadgen_hist {
	uint64_t count;
	uint64_t max_us;
	uint64_t b[LOADGEN_HIST_BUCKETS];
};

void loadgen_hist_add(struct loadgen_hist *h, uint64_t us);
void loadgen_hist_merge(struct loadgen_hist *dst,
			const struct loadgen_hist *src);
/* The p-quantile (0..1) in microseconds; 0 when empty. */
uint64_t loadgen_hist_quantile(const struct loadgen_hist *h, double p);

/* ---- the run (sender.c) ---- */

/* Totals of one run; only batches with a final answer are counted as
 * acked or rejected. */
struct loadgen_totals {
	uint64_t batches_sent;	   /* new batches (first sends) */
	uint64_t batches_acked;	   /* ok, including dup */
	uint64_t batches_dup;	   /* ok with dup=true */
	uint64_t batches_rejected; /* ok=false, retry=false */
	uint64_t batches_unacked;  /* still unanswered at the end */
	uint64_t resends;	   /* the same bytes sent again */
	uint64_t retry_replies;	   /* ok=false, retry=true */
	uint64_t timeouts;	   /* no reply within timeout_ms */
	uint64_t transport_errors; /* send failed, connection reset */
	uint64_t bad_replies;	   /* undecodable or wrong seq */
	uint64_t flushes_skipped;  /* previous batch still unanswered */
	uint64_t ncalls_sent;
	uint64_t ncalls_acked;
	uint64_t ncalls_rejected;
	uint64_t ncalls_unacked;
	uint64_t rows_sent; /* fstats + edges + nodes rows */
	uint64_t rows_acked;
	uint64_t bytes_sent; /* first sends */
};

struct loadgen_result {
	struct loadgen_totals t;
	struct loadgen_hist ack; /* first send -> ack, per acked batch */
	double load_s;		 /* flushing phase */
	double elapsed_s;	 /* first send -> last answer */
	uint32_t depth;		 /* deepest call path */
};

/*
 * Runs the fleet until duration, then waits up to drain for the last
 * answers. Progress lines go to stderr. On success fills *res and returns 0;
 * FP_EINVAL (bad options), FP_ENNG (no socket, bad URL), FP_ENOMEM.
 */
int loadgen_run(const struct loadgen_options *o, struct loadgen_result *res);

/* ---- output (report.c) ---- */

void loadgen_print_progress(double at_s, const struct loadgen_totals *t,
			    const struct loadgen_totals *prev, double dt_s,
			    const struct loadgen_hist *win, uint32_t inflight);
void loadgen_print_summary(const struct loadgen_options *o,
			   const struct loadgen_result *r);
/* Writes the totals as JSON to path; FP_EIO or FP_ENOMEM on failure. */
int loadgen_write_json(const char *path, const struct loadgen_options *o,
		       const struct loadgen_result *r);

#endif
