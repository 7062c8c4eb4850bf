/*
 * Delta batch builder (see flush.h). cProfile's semantics from the calling-
 * context tree: a node's calls are primitive for its function when no
 * ancestor runs the same function, and primitive for its edge when no
 * ancestor is the same caller->callee pair; cumtime is summed over primitive
 * nodes only (counted once, at the outermost recursion), tottime over all.
 * Node counters are sums, so deltas of nodes give deltas of every view.
 */
#include "flush.h"
#include "calltree.h"
#include "fleetprof/fleetprof.h"
#include "fp/error.h"
#include "ptrmap.h"
#include "symbols.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define NEEDED UINT32_MAX

struct builder {
	const struct agent_flush_opts *opts;
	struct wire_fn *fns;
	struct wire_fstat *fstats; /* index = fn id - 1 */
	uint32_t nfns, capfns;
	struct wire_edge *edges;
	uint32_t nedges, capedges;
	struct wire_node *nodes;
	uint32_t nnodes, capnodes;
	struct ptrmap fnmap;   /* site pointer -> fn id */
	struct ptrmap edgemap; /* caller id << 32 | callee id -> edge idx+1 */
};

/* Snapshot of one node: cumulative ticks read once (so every view
 * agrees) and the deltas in ns since the last batch. */
struct delta {
	uint64_t cur_self, cur_total; /* ticks */
	uint64_t cur_ncalls;
	uint64_t ncalls, self_ns, total_ns;
};

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
	uint32_t c;
	void *q;
	if (need <= *cap)
		return 0;
	c = *cap ? *cap * 2 : 64;
	while (c < need)
		c *= 2;
	q = realloc(*p, (size_t)c * elem);
	if (q == NULL)
		return FP_ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static void builder_fini(struct builder *b)
{
	free(b->fns);
	free(b->fstats);
	free(b->edges);
	free(b->nodes);
	ptrmap_fini(&b->fnmap);
	ptrmap_fini(&b->edgemap);
}

static uint64_t to_ns(const struct builder *b, uint64_t ticks)
{
	return b->opts && b->opts->to_ns ? b->opts->to_ns(ticks) : ticks;
}

/* Names a key: a site's own strings, or the symbol of a code address. */
static void describe(struct builder *b, const void *key, int kind,
		     struct wire_fn *out)
{
	if (kind == CT_ADDR) {
		struct agent_symbol sym;
		if (b->opts && b->opts->symtab) {
			agent_symtab_resolve(b->opts->symtab, key, &sym);
			out->name = sym.name;
			out->file = sym.file;
			out->line = sym.line;
			out->module = sym.module;
			return;
		}
		out->name = "?";
		out->file = "";
		out->line = 0;
		out->module = "";
		return;
	}
	const struct fp_site *site = key;
	out->name = site->name ? site->name : "?";
	out->file = site->file ? site->file : "";
	out->line = site->line > 0 ? (uint32_t)site->line : 0;
	out->module = "";
}

/* Function id for a key, interning it; 0 on allocation failure. */
static uint32_t fn_id(struct builder *b, const void *key, int kind)
{
	uint32_t id = ptrmap_get(&b->fnmap, (uint64_t)(uintptr_t)key);
	uint32_t cap = b->capfns;
	if (id != 0)
		return id;
	if (grow((void **)&b->fns, &b->capfns, b->nfns + 1, sizeof(*b->fns)) !=
	    0)
		return 0;
	if (grow((void **)&b->fstats, &cap, b->nfns + 1, sizeof(*b->fstats)) !=
	    0)
		return 0;
	id = b->nfns + 1;
	if (ptrmap_put(&b->fnmap, (uint64_t)(uintptr_t)key, id) != 0)
		return 0;
	b->fns[b->nfns].id = id;
	describe(b, key, kind, &b->fns[b->nfns]);
	b->fstats[b->nfns] = (struct wire_fstat){.fn = id};
	b->nfns++;
	return id;
}

static int add_edge(struct builder *b, uint32_t caller, uint32_t callee,
		    const struct delta *d, uint8_t flags)
{
	uint64_t key = (uint64_t)caller << 32 | callee;
	uint32_t idx = ptrmap_get(&b->edgemap, key);
	struct wire_edge *e;
	if (idx == 0) {
		if (grow((void **)&b->edges, &b->capedges, b->nedges + 1,
			 sizeof(*b->edges)) != 0)
			return FP_ENOMEM;
		idx = ++b->nedges;
		if (ptrmap_put(&b->edgemap, key, idx) != 0)
			return FP_ENOMEM;
		b->edges[idx - 1] =
			(struct wire_edge){.caller = caller, .callee = callee};
	}
	e = &b->edges[idx - 1];
	e->ncalls += d->ncalls;
	e->tottime_ns += d->self_ns;
	if (flags & CT_F_PRIM_EDGE) {
		e->pcalls += d->ncalls;
		e->cumtime_ns += d->total_ns;
	}
	return 0;
}

/* Adds one tree's deltas; deltas[] receives the snapshot per node. */
static int add_tree(struct builder *b, struct ct_tree *t, uint32_t n,
		    struct delta *deltas, uint32_t *next_id, double factor)
{
	int rc;

	/* Pass 1: snapshot, mark nodes with data and their ancestors. */
	for (uint32_t i = 1; i < n; i++) {
		struct ct_node *nd = ct_node_at(t, i);
		struct delta *d = &deltas[i];
		d->cur_ncalls = LOAD(nd->ncalls);
		d->cur_self = LOAD(nd->self_ns);
		d->cur_total = LOAD(nd->total_ns);
		d->ncalls = d->cur_ncalls - nd->sent_ncalls;
		d->self_ns = to_ns(b, d->cur_self) - to_ns(b, nd->sent_self_ns);
		d->total_ns =
			to_ns(b, d->cur_total) - to_ns(b, nd->sent_total_ns);
		if (factor >= 0) {
			d->self_ns =
				(uint64_t)((double)d->self_ns * factor + .5);
			d->total_ns =
				(uint64_t)((double)d->total_ns * factor + .5);
		}
		if (d->ncalls == 0 && d->self_ns == 0 && d->total_ns == 0)
			continue;
		for (uint32_t a = i; a != 0 && ct_node_at(t, a)->batch_id == 0;
		     a = ct_node_at(t, a)->parent)
			ct_node_at(t, a)->batch_id = NEEDED;
	}
	/* Pass 2: parents have smaller indexes, so ids come parents first. */
	for (uint32_t i = 1; i < n; i++) {
		struct ct_node *nd = ct_node_at(t, i);
		const struct delta *d = &deltas[i];
		uint32_t fid, pfid = 0;
		uint8_t flags;

		if (nd->batch_id != NEEDED)
			continue;
		nd->batch_id = (*next_id)++;
		if ((fid = fn_id(b, nd->key, nd->kind)) == 0)
			return FP_ENOMEM;
		if (grow((void **)&b->nodes, &b->capnodes, b->nnodes + 1,
			 sizeof(*b->nodes)) != 0)
			return FP_ENOMEM;
		b->nodes[b->nnodes++] = (struct wire_node){
			.node = nd->batch_id,
			.parent = nd->parent
					  ? ct_node_at(t, nd->parent)->batch_id
					  : 0,
			.fn = fid,
			.ncalls = d->ncalls,
			.self_ns = d->self_ns,
			.total_ns = d->total_ns,
		};
		if (d->ncalls == 0 && d->self_ns == 0 && d->total_ns == 0)
			continue;
		flags = ct_prim_flags(t, i);
		struct wire_fstat *fs = &b->fstats[fid - 1];
		fs->ncalls += d->ncalls;
		fs->tottime_ns += d->self_ns;
		if (flags & CT_F_PRIM_FN) {
			fs->pcalls += d->ncalls;
			fs->cumtime_ns += d->total_ns;
		}
		if (nd->parent != 0) {
			const struct ct_node *pn = ct_node_at(t, nd->parent);
			pfid = fn_id(b, pn->key, pn->kind);
			if (pfid == 0)
				return FP_ENOMEM;
			if ((rc = add_edge(b, pfid, fid, d, flags)) != 0)
				return rc;
		}
	}
	return 0;
}

/* Clears batch ids; on success also advances the sent counters. */
static void finish_tree(struct ct_tree *t, uint32_t n,
			const struct delta *deltas, int commit)
{
	for (uint32_t i = 1; i < n; i++) {
		struct ct_node *nd = ct_node_at(t, i);
		nd->batch_id = 0;
		if (!commit)
			continue;
		nd->sent_ncalls = deltas[i].cur_ncalls;
		nd->sent_self_ns = deltas[i].cur_self;
		nd->sent_total_ns = deltas[i].cur_total;
	}
}

static const struct fp_site self_flush = {"[fleetprof] flush", "", 0};
static const struct fp_site self_send = {"[fleetprof] send", "", 0};
static const struct fp_site self_bytes = {"[fleetprof] bytes sent", "", 0};
static const struct fp_site self_dropped = {"[fleetprof] batches dropped", "",
					    0};
static const struct fp_site self_repairs = {"[fleetprof] stack repairs", "", 0};

/* The agent's own figures as functions: ncalls carries the count (flushes,
 * sends, bytes, drops, repairs), tottime the time spent where there is one. */
static int add_self(struct builder *b, const struct agent_self_stats *s)
{
	const struct {
		const struct fp_site *site;
		uint64_t n, ns;
	} rows[] = {
		{&self_flush, s->flushes, s->flush_ns},
		{&self_send, s->sends, s->send_ns},
		{&self_bytes, s->bytes_sent, 0},
		{&self_dropped, s->batches_dropped, 0},
		{&self_repairs, s->repairs, 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint32_t id;
		if (rows[i].n == 0)
			continue;
		if ((id = fn_id(b, rows[i].site, CT_SITE)) == 0)
			return FP_ENOMEM;
		b->fns[id - 1].module = "fleetprof";
		b->fstats[id - 1].ncalls += rows[i].n;
		b->fstats[id - 1].pcalls += rows[i].n;
		b->fstats[id - 1].tottime_ns += rows[i].ns;
		b->fstats[id - 1].cumtime_ns += rows[i].ns;
	}
	return 0;
}

int agent_flush_build(struct ct_tree *const *trees, size_t n,
		      const struct agent_identity *id, uint64_t seq, int64_t t0,
		      int64_t t1, uint64_t dropped,
		      const struct agent_flush_opts *opts, void **msg,
		      size_t *len)
{
	struct builder b;
	struct delta **deltas = calloc(n + 1, sizeof(*deltas));
	uint32_t *counts = calloc(n + 1, sizeof(*counts));
	uint64_t *evdrop = calloc(n + 1, sizeof(*evdrop));
	uint32_t next_id = 1;
	size_t done = 0;
	int rc = FP_ENOMEM;

	memset(&b, 0, sizeof(b));
	b.opts = opts;
	if (deltas == NULL || counts == NULL || evdrop == NULL)
		goto out;
	for (done = 0; done < n; done++) {
		struct ct_tree *t = trees[done];
		counts[done] =
			atomic_load_explicit(&t->count, memory_order_acquire);
		evdrop[done] = LOAD(t->events_dropped) - t->sent_events_dropped;
		dropped += evdrop[done];
		deltas[done] = calloc(counts[done], sizeof(struct delta));
		if (deltas[done] == NULL) {
			rc = FP_ENOMEM;
			goto out;
		}
		if ((rc = add_tree(&b, t, counts[done], deltas[done], &next_id,
				   opts && opts->cpu_factor
					   ? opts->cpu_factor[done]
					   : -1.0)) != 0) {
			done++; /* clear its batch ids too */
			goto out;
		}
	}
	if (b.nnodes == 0 && dropped == 0) {
		/* Nothing of the program's: the agent's own figures alone
		 * are not worth a batch. */
		*msg = NULL;
		*len = 0;
		rc = 0;
		goto out;
	}
	if (opts && opts->self && (rc = add_self(&b, opts->self)) != 0)
		goto out;
	struct wire_batch wb = {
		.version = WIRE_VERSION,
		.agent = {.host = id->host,
			  .service = id->service,
			  .lang = id->lang ? id->lang : "c",
			  .pid = id->pid,
			  .start_ns = id->start_ns,
			  .labels = id->labels,
			  .nlabels = id->nlabels},
		.seq = seq,
		.t0 = t0,
		.t1 = t1 < t0 ? t0 : t1,
		.clock = id->clock,
		.fns = b.fns,
		.nfns = b.nfns,
		.fstats = b.fstats,
		.nfstats = b.nfns,
		.edges = b.edges,
		.nedges = b.nedges,
		.nodes = b.nodes,
		.nnodes = b.nnodes,
		.dropped = dropped,
		.token = id->token,
	};
	memcpy(wb.agent.id, id->id, sizeof(wb.agent.id));
	rc = wire_encode(&wb, msg, len);

out:
	for (size_t i = 0; i < done; i++) {
		finish_tree(trees[i], counts[i], deltas[i], rc == 0);
		if (rc == 0)
			trees[i]->sent_events_dropped += evdrop[i];
	}
	for (size_t i = 0; deltas != NULL && i < n; i++)
		free(deltas[i]);
	free(deltas);
	free(counts);
	free(evdrop);
	builder_fini(&b);
	return rc;
}
