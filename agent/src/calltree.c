/*
 * Calling-context tree: the hot path. ct_enter finds or creates the child
 * node of the current frame for a site and pushes a frame; ct_exit pops it
 * and adds elapsed time to the node. In the steady state (paths already
 * seen) neither allocates, locks nor makes a system call. New nodes go to
 * fixed chunks; the lookup table is owner-only and may be reallocated (only
 * when a node is created). Counter stores are relaxed atomics: one writer.
 */
#include "calltree.h"
#include "fleetprof/fleetprof.h"

#include <stdlib.h>
#include <string.h>

const struct fp_site ct_truncated_site = {"[truncated]", "", 0};

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

struct ct_tree *ct_tree_create(uint32_t max_nodes, uint32_t max_depth)
{
	struct ct_tree *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	if (max_nodes < 4)
		max_nodes = 4;
	t->nchunks_max = (max_nodes + CT_CHUNK_NODES - 1) >> CT_CHUNK_SHIFT;
	/* The last slot is kept for the [truncated] node. */
	t->max_nodes = max_nodes - 1;
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
	/* Node 0 is the root; frame 0 is the root frame. */
	atomic_store_explicit(&t->count, 1, memory_order_release);
	t->stack[0].node = 0;
	return t;

err_free:
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
	uint32_t *tab = calloc((size_t)mask + 1, sizeof(*tab));
	uint32_t n = atomic_load_explicit(&t->count, memory_order_relaxed);
	if (tab == NULL)
		return -1;
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
static uint32_t node_new(struct ct_tree *t, uint32_t parent, const void *key)
{
	uint32_t i = atomic_load_explicit(&t->count, memory_order_relaxed);
	struct ct_node *nd;
	if (i >= t->max_nodes)
		return 0;
	if ((i & (CT_CHUNK_NODES - 1)) == 0 &&
	    t->chunks[i >> CT_CHUNK_SHIFT] == NULL) {
		struct ct_node *c = calloc(CT_CHUNK_NODES, sizeof(*c));
		if (c == NULL)
			return 0;
		/* Published to the flusher by the release store of count. */
		t->chunks[i >> CT_CHUNK_SHIFT] = c;
	}
	nd = ct_node_at(t, i);
	nd->key = key;
	nd->parent = parent;
	nd->depth = ct_node_at(t, parent)->depth + 1;
	atomic_store_explicit(&t->count, i + 1, memory_order_release);
	return i;
}

static uint32_t find_or_add(struct ct_tree *t, uint32_t parent, const void *key)
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
		return find_or_add(t, parent, key);
	}
	idx = node_new(t, parent, key);
	if (idx != 0)
		t->table[s] = idx;
	return idx;
}

/* The [truncated] node under the root, created on first overflow in the
 * slot ct_tree_create kept for it. */
static uint32_t truncated_node(struct ct_tree *t)
{
	if (t->truncated == 0) {
		t->max_nodes++;
		t->truncated = find_or_add(t, 0, &ct_truncated_site);
		t->max_nodes--;
	}
	return t->truncated;
}

void ct_enter(struct ct_tree *t, const void *key, uint64_t now)
{
	struct ct_frame *f;
	uint32_t node;

	if (t->skipped > 0 || t->depth >= t->max_depth) {
		t->skipped++;
		STORE(t->events_dropped, LOAD(t->events_dropped) + 1);
		return;
	}
	node = find_or_add(t, t->stack[t->depth].node, key);
	if (node == 0) {
		STORE(t->events_dropped, LOAD(t->events_dropped) + 1);
		node = truncated_node(t);
		if (node == 0) {
			t->skipped++;
			return;
		}
	}
	f = &t->stack[++t->depth];
	f->node = node;
	f->start = now;
	f->child_ns = 0;
}

void ct_exit(struct ct_tree *t, uint64_t now)
{
	struct ct_frame *f;
	struct ct_node *nd;
	uint64_t elapsed;

	if (t->skipped > 0) {
		t->skipped--;
		return;
	}
	if (t->depth == 0)
		return; /* unmatched exit: ignore */
	f = &t->stack[t->depth--];
	elapsed = now > f->start ? now - f->start : 0;
	nd = ct_node_at(t, f->node);
	STORE(nd->ncalls, LOAD(nd->ncalls) + 1);
	STORE(nd->total_ns, LOAD(nd->total_ns) + elapsed);
	STORE(nd->self_ns,
	      LOAD(nd->self_ns) +
		      (elapsed > f->child_ns ? elapsed - f->child_ns : 0));
	t->stack[t->depth].child_ns += elapsed;
}
