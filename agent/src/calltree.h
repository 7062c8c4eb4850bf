/*
 * Per-thread calling-context tree (CCT): node = (parent node, site), with
 * ncalls, self time and total time. The owning thread is the only writer:
 * it creates nodes and stores counters with relaxed atomics. The flush thread
 * reads `count` with acquire and the counters with relaxed loads, and keeps
 * its own "already sent" copy in the flusher-only fields. Node storage is in
 * chunks that never move, so a node's address is stable for the tree's life.
 */
#ifndef AGENT_CALLTREE_H
#define AGENT_CALLTREE_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define CT_CHUNK_SHIFT 10
#define CT_CHUNK_NODES (1u << CT_CHUNK_SHIFT)

/* What a node's key is. */
enum ct_kind {
	CT_SITE = 0, /* const struct fp_site * (FP_FUNCTION, FP_SCOPE) */
	CT_ADDR = 1, /* function entry address (-finstrument-functions) */
};

/* Node 0 is the root (no site). */
struct ct_node {
	const void *key; /* see kind */
	uint32_t parent;
	uint16_t depth; /* root = 0 (saturates) */
	uint8_t kind;	/* enum ct_kind */
	_Atomic uint64_t ncalls;
	_Atomic uint64_t self_ns;
	_Atomic uint64_t total_ns;
	/* flusher-only */
	uint64_t sent_ncalls;
	uint64_t sent_self_ns;
	uint64_t sent_total_ns;
	uint32_t batch_id; /* id in the batch being built, 0 = not in it */
	uint8_t flags;	   /* CT_F_* (flusher-only) */
};

#define CT_F_KNOWN 1	 /* prim flags computed */
#define CT_F_PRIM_FN 2	 /* no ancestor calls the same function */
#define CT_F_PRIM_EDGE 4 /* no ancestor is the same caller->callee edge */

/*
 * A frame of the shadow stack. sp is the stack address of the enter call
 * (its frame address): callees always have a lower sp than their callers, so
 * a frame whose sp is below the current call's cannot be one of its callers:
 * it was left by longjmp (or an exit that never ran) and is closed then.
 */
struct ct_frame {
	uint32_t node;
	uintptr_t sp;
	uint64_t start;
	uint64_t child_ns;
};

struct ct_tree {
	struct ct_node **chunks; /* nchunks_max pointers, fixed */
	uint32_t nchunks_max;
	_Atomic uint32_t count; /* nodes in use, published with release */
	uint32_t max_nodes;

	/* owner-only: (parent, key) -> node index */
	uint32_t *table;
	uint32_t table_mask;

	struct ct_frame *stack;
	uint32_t depth;
	uint32_t max_depth;
	uint32_t skipped;   /* enters ignored (depth limit), awaiting exits */
	uint32_t truncated; /* node index of [truncated], 0 until needed */

	_Atomic uint64_t events_dropped;
	_Atomic uint64_t repairs; /* frames closed by the longjmp check */
	_Atomic int exited; /* owner thread gone; flusher frees after send */
	uint64_t sent_events_dropped; /* flusher-only */
	uint64_t sent_repairs;	      /* flusher-only */
	uint64_t tid;
	/* clock=cpu: the owner's CPU clock, read by the flusher at each flush
	 * and by the owner once at exit (before `exited` is released). */
	clockid_t cpu_clock;
	int cpu_ok;
	uint64_t cpu_at_exit_ns;
	int64_t wall_at_exit_ns;
	uint64_t cpu_last_ns; /* flusher-only */
	int64_t wall_last_ns; /* flusher-only */
	struct ct_tree *next; /* registry list (agent.c) */
	uint64_t mem;	      /* bytes allocated, counted in the memory cap */
};

/* Site of the overflow node: calls past the node limit are counted here. */
extern const struct fp_site ct_truncated_site;

/* Returns NULL on allocation failure. */
struct ct_tree *ct_tree_create(uint32_t max_nodes, uint32_t max_depth);
void ct_tree_destroy(struct ct_tree *t);

static inline struct ct_node *ct_node_at(const struct ct_tree *t, uint32_t i)
{
	return &t->chunks[i >> CT_CHUNK_SHIFT][i & (CT_CHUNK_NODES - 1)];
}

/*
 * Hot path (owner thread). now is the clock reading, sp the caller's stack
 * position (see struct ct_frame). ct_exit's key is the function expected to
 * return (NULL when unknown): abandoned frames above it are closed first.
 */
void ct_enter(struct ct_tree *t, const void *key, int kind, uintptr_t sp,
	      uint64_t now);
void ct_exit(struct ct_tree *t, const void *key, uintptr_t sp, uint64_t now);

/*
 * The node's CT_F_* flags (cProfile's primitive calls, see flush.c), computed
 * from its ancestors the first time and cached in the flusher-only `flags`:
 * the caller must be the flush thread or hold what serialises it (agent.c's
 * build lock). Paths never change, so the flags never do.
 */
uint8_t ct_prim_flags(struct ct_tree *t, uint32_t i);

#endif
