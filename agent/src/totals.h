/*
 * cProfile's totals read from call trees: per function and per caller->callee
 * edge, ncalls, primitive calls, tottime and cumtime (the same derivation as
 * flush.c, on cumulative counters instead of deltas). For the Python agent's
 * pstats output, built from the trees the flush thread sends instead of a
 * second structure kept on the hot path. Not thread-safe: one owner at a
 * time; adding a tree needs what serialises the flush thread (ct_prim_flags).
 */
#ifndef AGENT_TOTALS_H
#define AGENT_TOTALS_H

#include <stdint.h>

#include "ptrmap.h"

struct ct_tree;

/* One row's cProfile numbers. */
struct agent_counts {
	uint64_t ncalls, pcalls, tottime_ns, cumtime_ns;
};

struct agent_fn_total {
	const void *key; /* node key: a struct fp_site * when kind is CT_SITE */
	int kind;	 /* enum ct_kind */
	struct agent_counts c;
};

struct agent_edge_total {
	uint32_t caller, callee; /* indexes in fns */
	struct agent_counts c;
};

struct agent_totals {
	struct agent_fn_total *fns;
	uint32_t nfns, capfns;
	struct agent_edge_total *edges;
	uint32_t nedges, capedges;
	uint64_t events_dropped; /* calls the trees could not record */
	struct ptrmap fnmap;	 /* key -> fns index + 1 */
	struct ptrmap edgemap;	 /* caller << 32 | callee -> edges index + 1 */
};

void agent_totals_init(struct agent_totals *a);
void agent_totals_fini(struct agent_totals *a);

/* Adds the cumulative counters of t's nodes. On FP_ENOMEM, a holds part of
 * the tree (a snapshot should be dropped then). */
int agent_totals_add_tree(struct agent_totals *a, struct ct_tree *t);

/* a += b, matched by key. FP_ENOMEM as above. */
int agent_totals_add(struct agent_totals *a, const struct agent_totals *b);

/* a -= b, matched by key, clamped at 0: b is an earlier reading of the same
 * counters (a baseline). */
void agent_totals_sub(struct agent_totals *a, const struct agent_totals *b);

#endif
