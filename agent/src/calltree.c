/*
 * Calling-context tree: the hot path. ct_enter finds or creates the child
 * node of the current frame for a site and pushes a frame; ct_exit pops it
 * and adds elapsed time to the node. In the steady state (paths already
 * seen) neither allocates, locks nor makes a system call. New nodes go to
 * fixed chunks; the lookup table is owner-only and may be reallocated (only
 * when a node is created). Counter stores are relaxed atomics: one writer.
 * ct_prim_flags, at the end, is the flusher's: a node's recursion flags.
 */
#include "calltree.h"
#include "agent_internal.h"
#include "fleetprof/fleetprof.h"

#include <stdlib.h>
#include <string.h>

const struct fp_site ct_truncated_site = {"[truncated]", "", 0};

static uint32_t find_or_add(struct ct_tree *t, uint32_t parent, const void *key,
			    int kind);

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

struct ct_tree *ct_tree_create(uint32_t max_nodes, uint32_t max_depth)
{
	struct ct_tree *t;
	size_t fixed;
	if (max_nodes < 4)
		max_nodes = 4;
	fixed = sizeof(*t) +
		((max_nodes + CT_CHUNK_NODES - 1) >> CT_CHUNK_SHIFT) *
			sizeof(void *) +
		((size_t)max_depth + 1) * sizeof(struct ct_frame) +
		1024 * sizeof(uint32_t) +
		CT_CHUNK_NODES * sizeof(struct ct_node);
	if (agent_mem_reserve(fixed) != 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		agent_mem_release(fixed);
		return NULL;
	}
	t->mem = fixed;
	t->nchunks_max = (max_nodes + CT_CHUNK_NODES - 1) >> CT_CHUNK_SHIFT;
	t->max_nodes = max_nodes;
	t->max_depth = max_depth;
	t->chunks = calloc(t->nchunks_max, sizeof(*t->chunks));
	t->stack = calloc(max_depth + 1, sizeof(*t->stack));
	t->table_mask = 1023;
	t->table = calloc(t->table_mask + 1, sizeof(*t->table));
	if (!t->chunks || !t->stack || !t->table)
		goto err_free;
	t->chunks[0] = calloc(CT_CHUNK_NODES, sizeof(struct ct_node));
	if (t->chunks[0] == NULL)
		goto err_free;
	/* Node 0 is the root; frame 0 is the root frame. Node 1 is the
	 * [truncated] node, made now so that overflow never needs memory. */
	atomic_store_explicit(&t->count, 1, memory_order_release);
	t->stack[0].node = 0;
	t->truncated = find_or_add(t, 0, &ct_truncated_site, CT_SITE);
	return t;

err_free:
	agent_mem_release(fixed);
	free(t->chunks);
	free(t->stack);
	free(t->table);
	free(t);
	return NULL;
}

void ct_tree_destroy(struct ct_tree *t)
{
	if (t == NULL)
		return;
	agent_mem_release(t->mem);
	for (uint32_t i = 0; i < t->nchunks_max; i++)
		free(t->chunks[i]);
	free(t->chunks);
	free(t->stack);
	free(t->table);
	free(t);
}

static inline uint32_t slot_hash(uint32_t parent, const void *key)
{
	uint64_t h = (uint64_t)(uintptr_t)key * UINT64_C(0x9e3779b97f4a7c15);
	h ^= (uint64_t)parent * UINT64_C(0xc2b2ae3d27d4eb4f);
	return (uint32_t)(h >> 32);
}

/* Doubles the lookup table; returns -1 (table unchanged) on failure. */
static int table_grow(struct ct_tree *t)
{
	uint32_t mask = t->table_mask * 2 + 1;
	uint32_t *tab;
	uint32_t n = atomic_load_explicit(&t->count, memory_order_relaxed);
	size_t extra =
		((size_t)mask + 1 - ((size_t)t->table_mask + 1)) * sizeof(*tab);
	if (agent_mem_reserve(extra) != 0)
		return -1;
	tab = calloc((size_t)mask + 1, sizeof(*tab));
	if (tab == NULL) {
		agent_mem_release(extra);
		return -1;
	}
	t->mem += extra;
	for (uint32_t i = 1; i < n; i++) {
		const struct ct_node *nd = ct_node_at(t, i);
		uint32_t s = slot_hash(nd->parent, nd->key) & mask;
		while (tab[s] != 0)
			s = (s + 1) & mask;
		tab[s] = i;
	}
	free(t->table);
	t->table = tab;
	t->table_mask = mask;
	return 0;
}

/* Appends a node; returns its index or 0 when the tree is full. */
static uint32_t node_new(struct ct_tree *t, uint32_t parent, const void *key,
			 int kind)
{
	uint32_t i = atomic_load_explicit(&t->count, memory_order_relaxed);
	struct ct_node *nd;
	if (i >= t->max_nodes)
		return 0;
	if ((i & (CT_CHUNK_NODES - 1)) == 0 &&
	    t->chunks[i >> CT_CHUNK_SHIFT] == NULL) {
		struct ct_node *c;
		if (agent_mem_reserve(CT_CHUNK_NODES * sizeof(*c)) != 0)
			return 0;
		c = calloc(CT_CHUNK_NODES, sizeof(*c));
		if (c == NULL) {
			agent_mem_release(CT_CHUNK_NODES * sizeof(*c));
			return 0;
		}
		t->mem += CT_CHUNK_NODES * sizeof(*c);
		/* Published to the flusher by the release store of count. */
		t->chunks[i >> CT_CHUNK_SHIFT] = c;
	}
	nd = ct_node_at(t, i);
	nd->key = key;
	nd->parent = parent;
	nd->kind = (uint8_t)kind;
	nd->depth = ct_node_at(t, parent)->depth < UINT16_MAX
			    ? (uint16_t)(ct_node_at(t, parent)->depth + 1)
			    : UINT16_MAX;
	atomic_store_explicit(&t->count, i + 1, memory_order_release);
	return i;
}

static uint32_t find_or_add(struct ct_tree *t, uint32_t parent, const void *key,
			    int kind)
{
	uint32_t s = slot_hash(parent, key) & t->table_mask, idx;

	for (;;) {
		idx = t->table[s];
		if (idx == 0)
			break;
		const struct ct_node *nd = ct_node_at(t, idx);
		if (nd->key == key && nd->parent == parent)
			return idx;
		s = (s + 1) & t->table_mask;
	}
	/* Slow path: a call path seen for the first time. */
	uint32_t n = atomic_load_explicit(&t->count, memory_order_relaxed);
	if ((n + 1) * 2 > t->table_mask + 1) {
		if (table_grow(t) != 0)
			return 0;
		return find_or_add(t, parent, key, kind);
	}
	idx = node_new(t, parent, key, kind);
	if (idx != 0)
		t->table[s] = idx;
	return idx;
}

/* Pops the top frame as a completed call ending at now. */
static void pop_frame(struct ct_tree *t, uint64_t now)
{
	struct ct_frame *f = &t->stack[t->depth--];
	struct ct_node *nd = ct_node_at(t, f->node);
	uint64_t elapsed = now > f->start ? now - f->start : 0;

	STORE(nd->ncalls, LOAD(nd->ncalls) + 1);
	STORE(nd->total_ns, LOAD(nd->total_ns) + elapsed);
	STORE(nd->self_ns,
	      LOAD(nd->self_ns) +
		      (elapsed > f->child_ns ? elapsed - f->child_ns : 0));
	t->stack[t->depth].child_ns += elapsed;
}

/* Closes frames left behind by longjmp: they are counted as returning now
 * (the time they really took up to the jump, plus the time until it was
 * noticed) and the repair is counted. Skipped enters are forgotten too. */
static void close_abandoned(struct ct_tree *t, uintptr_t sp, const void *key,
			    uint64_t now)
{
	while (t->depth > 0 && t->stack[t->depth].sp < sp &&
	       ct_node_at(t, t->stack[t->depth].node)->key != key) {
		pop_frame(t, now);
		STORE(t->repairs, LOAD(t->repairs) + 1);
	}
}

void ct_enter(struct ct_tree *t, const void *key, int kind, uintptr_t sp,
	      uint64_t now)
{
	struct ct_frame *f;
	uint32_t node;

	if (__builtin_expect(t->depth > 0 && t->stack[t->depth].sp < sp, 0)) {
		t->skipped = 0;
		close_abandoned(t, sp, NULL, now);
	}
	if (t->skipped > 0 || t->depth >= t->max_depth) {
		t->skipped++;
		STORE(t->events_dropped, LOAD(t->events_dropped) + 1);
		return;
	}
	node = find_or_add(t, t->stack[t->depth].node, key, kind);
	if (node == 0) {
		STORE(t->events_dropped, LOAD(t->events_dropped) + 1);
		node = t->truncated;
	}
	f = &t->stack[++t->depth];
	f->node = node;
	f->sp = sp;
	f->start = now;
	f->child_ns = 0;
}

void ct_exit(struct ct_tree *t, const void *key, uintptr_t sp, uint64_t now)
{
	if (t->skipped > 0) {
		t->skipped--;
		return;
	}
	if (t->depth == 0)
		return; /* unmatched exit: ignore */
	if (__builtin_expect(t->stack[t->depth].sp < sp, 0)) {
		close_abandoned(t, sp, key, now);
		if (t->depth == 0)
			return;
	}
	pop_frame(t, now);
}

uint8_t ct_prim_flags(struct ct_tree *t, uint32_t i)
{
	struct ct_node *nd = ct_node_at(t, i);
	const void *caller;
	uint8_t f = CT_F_KNOWN | CT_F_PRIM_FN | CT_F_PRIM_EDGE;

	if (nd->flags & CT_F_KNOWN)
		return nd->flags;
	caller = nd->parent ? ct_node_at(t, nd->parent)->key : NULL;
	for (uint32_t a = nd->parent; a != 0; a = ct_node_at(t, a)->parent) {
		const struct ct_node *an = ct_node_at(t, a);
		if (an->key != nd->key)
			continue;
		f &= (uint8_t)~CT_F_PRIM_FN;
		if (caller != NULL && an->parent != 0 &&
		    ct_node_at(t, an->parent)->key == caller)
			f &= (uint8_t)~CT_F_PRIM_EDGE;
	}
	nd->flags = f;
	return f;
}
