/*
 * Turning call trees into a batch: the flush thread's job. Reads every
 * tree's counters (relaxed loads; the owners keep running), takes the
 * difference from what was sent last time, derives cProfile's function and
 * edge views from the path view, and encodes a wire v1 batch. Only the flush
 * thread calls this (it owns the trees' flusher-only fields).
 */
#ifndef AGENT_FLUSH_H
#define AGENT_FLUSH_H

#include <stddef.h>
#include <stdint.h>

#include "wire/batch.h"

struct ct_tree;
struct agent_symtab;

/* The agent's own cost, sent as functions of module "fleetprof" so it is
 * queryable like any other ("[fleetprof] flush" …). Deltas since the last
 * batch. */
struct agent_self_stats {
	uint64_t flushes, flush_ns;
	uint64_t sends, send_ns, bytes_sent;
	uint64_t batches_dropped;
	uint64_t repairs;
};

struct agent_flush_opts {
	/* Converts cumulative clock ticks to ns; NULL = identity. */
	uint64_t (*to_ns)(uint64_t ticks);
	/* Resolves CT_ADDR keys; NULL = hex names. */
	struct agent_symtab *symtab;
	/* Per tree: CPU seconds per wall second over this interval, applied
	 * to the times (clock=cpu); NULL in wall mode. */
	const double *cpu_factor;
	/* Added as "[fleetprof] …" functions when not NULL. */
	const struct agent_self_stats *self;
};

struct agent_identity {
	uint8_t id[WIRE_AGENT_ID_LEN];
	char host[256];
	char service[256];
	uint32_t pid;
	int64_t start_ns;
	struct wire_label labels[64];
	uint32_t nlabels;
	char *labels_storage; /* owns the label strings */
	const char *token;    /* NULL if none */
	const char *lang;     /* "python"…; NULL = "c" (agent_set_lang) */
	int clock;	      /* enum wire_clock */
};

/*
 * Builds and encodes the delta batch over trees[0..n). On success returns 0
 * with *msg (malloc'd, caller frees) and *len, or *msg = NULL when there is
 * nothing to send; the trees' "sent" counters then include this batch. On
 * failure (FP_ENOMEM) nothing is advanced: the next flush sends it all.
 */
int agent_flush_build(struct ct_tree *const *trees, size_t n,
		      const struct agent_identity *id, uint64_t seq, int64_t t0,
		      int64_t t1, uint64_t dropped,
		      const struct agent_flush_opts *opts, void **msg,
		      size_t *len);

#endif
