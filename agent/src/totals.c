/*
 * cProfile totals from call trees (see totals.h). A node's calls count for
 * its function and for the edge from its parent's function; they are
 * primitive, and their total time counts as cumtime, when no ancestor runs
 * the same function (edge: the same caller->callee pair), exactly as the
 * flush thread derives them. Rows are interned by key, so totals of several
 * trees, threads or readings add and subtract row by row.
 */
#include "totals.h"
#include "calltree.h"
#include "clock.h"
#include "fp/error.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void agent_totals_init(struct agent_totals *a)
{
	memset(a, 0, sizeof(*a));
}

void agent_totals_fini(struct agent_totals *a)
{
	free(a->fns);
	free(a->edges);
	ptrmap_fini(&a->fnmap);
	ptrmap_fini(&a->edgemap);
	memset(a, 0, sizeof(*a));
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
	uint32_t c;
	void *q;
	if (need <= *cap)
		return 0;
	c = *cap ? *cap * 2 : 256;
	while (c < need)
		c *= 2;
	q = realloc(*p, (size_t)c * elem);
	if (q == NULL)
		return FP_ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

/* Row of key (index + 1), made if missing; 0 when out of memory. */
static uint32_t fn_row(struct agent_totals *a, const void *key, int kind)
{
	uint32_t i = ptrmap_get(&a->fnmap, (uint64_t)(uintptr_t)key);
	if (i != 0)
		return i;
	if (grow((void **)&a->fns, &a->capfns, a->nfns + 1, sizeof(*a->fns)) !=
		    0 ||
	    ptrmap_put(&a->fnmap, (uint64_t)(uintptr_t)key, a->nfns + 1) != 0)
		return 0;
	a->fns[a->nfns] = (struct agent_fn_total){.key = key, .kind = kind};
	return ++a->nfns;
}

/* ptrmap keys must be nonzero: rows are numbered from 1 here. */
static inline uint64_t edge_key(uint32_t caller_row, uint32_t callee_row)
{
	return (uint64_t)caller_row << 32 | callee_row;
}

/* Edge row (index + 1) between two fn rows, made if missing; 0 when out of
 * memory. */
static uint32_t edge_row(struct agent_totals *a, uint32_t caller_row,
			 uint32_t callee_row)
{
	uint64_t k = edge_key(caller_row, callee_row);
	uint32_t i = ptrmap_get(&a->edgemap, k);
	if (i != 0)
		return i;
	if (grow((void **)&a->edges, &a->capedges, a->nedges + 1,
		 sizeof(*a->edges)) != 0 ||
	    ptrmap_put(&a->edgemap, k, a->nedges + 1) != 0)
		return 0;
	a->edges[a->nedges] = (struct agent_edge_total){
		.caller = caller_row - 1, .callee = callee_row - 1};
	return ++a->nedges;
}

static void count(struct agent_counts *c, uint64_t calls, uint64_t self,
		  uint64_t total, int primitive)
{
	c->ncalls += calls;
	c->tottime_ns += self;
	if (primitive) {
		c->pcalls += calls;
		c->cumtime_ns += total;
	}
}

int agent_totals_add_tree(struct agent_totals *a, struct ct_tree *t)
{
	uint32_t n = atomic_load_explicit(&t->count, memory_order_acquire);

	a->events_dropped += LOAD(t->events_dropped);
	for (uint32_t i = 1; i < n; i++) {
		const struct ct_node *nd = ct_node_at(t, i), *pn;
		uint64_t calls = LOAD(nd->ncalls), self, total;
		uint32_t frow, prow, erow;
		uint8_t f;

		if (calls == 0)
			continue; /* still running, or only a path to others */
		self = agent_clock_to_ns(LOAD(nd->self_ns));
		total = agent_clock_to_ns(LOAD(nd->total_ns));
		f = ct_prim_flags(t, i);
		if ((frow = fn_row(a, nd->key, nd->kind)) == 0)
			return FP_ENOMEM;
		count(&a->fns[frow - 1].c, calls, self, total,
		      f & CT_F_PRIM_FN);
		if (nd->parent == 0)
			continue;
		pn = ct_node_at(t, nd->parent);
		if ((prow = fn_row(a, pn->key, pn->kind)) == 0 ||
		    (erow = edge_row(a, prow, frow)) == 0)
			return FP_ENOMEM;
		count(&a->edges[erow - 1].c, calls, self, total,
		      f & CT_F_PRIM_EDGE);
	}
	return 0;
}

static void counts_add(struct agent_counts *a, const struct agent_counts *b)
{
	a->ncalls += b->ncalls;
	a->pcalls += b->pcalls;
	a->tottime_ns += b->tottime_ns;
	a->cumtime_ns += b->cumtime_ns;
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void counts_sub(struct agent_counts *a, const struct agent_counts *b)
{
	a->ncalls = sub0(a->ncalls, b->ncalls);
	a->pcalls = sub0(a->pcalls, b->pcalls);
	a->tottime_ns = sub0(a->tottime_ns, b->tottime_ns);
	a->cumtime_ns = sub0(a->cumtime_ns, b->cumtime_ns);
}

int agent_totals_add(struct agent_totals *a, const struct agent_totals *b)
{
	a->events_dropped += b->events_dropped;
	for (uint32_t i = 0; i < b->nfns; i++) {
		const struct agent_fn_total *f = &b->fns[i];
		uint32_t row = fn_row(a, f->key, f->kind);
		if (row == 0)
			return FP_ENOMEM;
		counts_add(&a->fns[row - 1].c, &f->c);
	}
	for (uint32_t i = 0; i < b->nedges; i++) {
		const struct agent_edge_total *e = &b->edges[i];
		const struct agent_fn_total *caller = &b->fns[e->caller];
		const struct agent_fn_total *callee = &b->fns[e->callee];
		uint32_t crow = fn_row(a, caller->key, caller->kind);
		uint32_t frow = fn_row(a, callee->key, callee->kind);
		uint32_t erow = crow && frow ? edge_row(a, crow, frow) : 0;
		if (erow == 0)
			return FP_ENOMEM;
		counts_add(&a->edges[erow - 1].c, &e->c);
	}
	return 0;
}

void agent_totals_sub(struct agent_totals *a, const struct agent_totals *b)
{
	a->events_dropped = sub0(a->events_dropped, b->events_dropped);
	for (uint32_t i = 0; i < b->nfns; i++) {
		const struct agent_fn_total *f = &b->fns[i];
		uint32_t row =
			ptrmap_get(&a->fnmap, (uint64_t)(uintptr_t)f->key);
		if (row != 0)
			counts_sub(&a->fns[row - 1].c, &f->c);
	}
	for (uint32_t i = 0; i < b->nedges; i++) {
		const struct agent_edge_total *e = &b->edges[i];
		uint32_t crow = ptrmap_get(
			&a->fnmap, (uint64_t)(uintptr_t)b->fns[e->caller].key);
		uint32_t frow = ptrmap_get(
			&a->fnmap, (uint64_t)(uintptr_t)b->fns[e->callee].key);
		uint32_t erow = crow && frow ? ptrmap_get(&a->edgemap,
							  edge_key(crow, frow))
					     : 0;
		if (erow != 0)
			counts_sub(&a->edges[erow - 1].c, &e->c);
	}
}
