/*
 * The synthetic profile every simulated agent reports: realistic function
 * names, files and lines (the same for all agents, so the collector interns
 * them once), a call tree with parents before children and depth up to
 * LOADGEN_MAX_DEPTH, and caller->callee edges taken from the tree first.
 * Deterministic for a seed; read-only once made, so threads share it.
 */
#include "loadgen.h"
#include "fp/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOADGEN_MAX_DEPTH 20
#define FN_STR 128 /* bytes per function: name 64, file 40, module 24 */

static const char *const mods[16] = {
	"http", "db",	"cache", "json",  "auth", "sched", "io",      "net",
	"log",	"conf", "tls",	 "queue", "rpc",  "store", "metrics", "index",
};
static const char *const verbs[16] = {
	"parse",  "handle", "read",  "write",	 "encode", "decode",
	"lookup", "flush",  "alloc", "release",	 "init",   "validate",
	"route",  "merge",  "scan",  "compress",
};
static const char *const nouns[16] = {
	"request", "header", "row",	"buffer", "token", "record",
	"frame",   "page",   "entry",	"batch",  "key",   "chunk",
	"session", "query",  "message", "block",
};

uint64_t loadgen_rand(uint64_t *state)
{
	uint64_t x = *state;
	if (x == 0)
		x = 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void name_fn(struct wire_fn *f, char *s, uint32_t i, uint64_t *rng)
{
	char *name = s, *file = s + 64, *module = s + 104;
	uint32_t k, mod;

	f->id = i + 1;
	if (i == 0) {
		snprintf(name, 64, "main");
		snprintf(file, 40, "src/main.c");
		snprintf(module, 24, "loadgen-app");
		f->line = 12;
	} else {
		/* 2731 is odd: i -> k walks all 4096 names in a mixed order */
		k = ((i - 1) * 2731u) & 4095u;
		mod = k >> 8;
		if (i - 1 < 4096)
			snprintf(name, 64, "%s_%s_%s", mods[mod],
				 verbs[(k >> 4) & 15], nouns[k & 15]);
		else
			snprintf(name, 64, "%s_%s_%s_%u", mods[mod],
				 verbs[(k >> 4) & 15], nouns[k & 15],
				 (i - 1) / 4096);
		snprintf(file, 40, "src/%s/%s.c", mods[mod], nouns[k & 15]);
		snprintf(module, 24, "libapp_%s.so", mods[mod]);
		f->line = 10 + (uint32_t)(loadgen_rand(rng) % 3000);
	}
	f->name = name;
	f->file = file;
	f->module = module;
}

/* Open-addressing set of (caller, callee) pairs; cap is a power of two. */
static int pair_add(uint64_t *set, size_t cap, uint32_t a, uint32_t b)
{
	uint64_t key = ((uint64_t)a << 32) | b;
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
	while (set[i] != 0) {
		if (set[i] == key)
			return 0;
		i = (i + 1) & (cap - 1);
	}
	set[i] = key;
	return 1;
}

static void add_edge(struct loadgen_profile *p, uint32_t a, uint32_t b)
{
	struct wire_edge *e = &p->edges[p->nedges++];
	memset(e, 0, sizeof(*e));
	e->caller = a;
	e->callee = b;
}

/* Edges of the tree first, then random pairs, then a sweep if needed. */
static int make_edges(struct loadgen_profile *p, uint32_t want, uint64_t *rng)
{
	size_t cap = 16;
	uint64_t *set;
	uint64_t tries = 0;

	while (cap < (size_t)want * 2 + 16)
		cap <<= 1;
	set = calloc(cap, sizeof(*set));
	if (set == NULL)
		return FP_ENOMEM;
	for (uint32_t k = 1; k < p->nnodes && p->nedges < want; k++) {
		uint32_t a = p->nodes[p->nodes[k].parent - 1].fn;
		uint32_t b = p->nodes[k].fn;
		if (pair_add(set, cap, a, b))
			add_edge(p, a, b);
	}
	while (p->nedges < want && tries++ < (uint64_t)want * 64) {
		uint32_t a = 1 + (uint32_t)(loadgen_rand(rng) % p->nfns);
		uint32_t b = 1 + (uint32_t)(loadgen_rand(rng) % p->nfns);
		if (pair_add(set, cap, a, b))
			add_edge(p, a, b);
	}
	for (uint32_t a = 1; a <= p->nfns && p->nedges < want; a++)
		for (uint32_t b = 1; b <= p->nfns && p->nedges < want; b++)
			if (pair_add(set, cap, a, b))
				add_edge(p, a, b);
	free(set);
	return 0;
}

/* Paths: mostly one level below the previous node (deep chains), else
 * below a random earlier node; never deeper than LOADGEN_MAX_DEPTH. */
static int make_tree(struct loadgen_profile *p, uint32_t n, uint64_t *rng)
{
	uint8_t *depth = calloc(n + 1, 1);
	if (depth == NULL)
		return FP_ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		struct wire_node *nd = &p->nodes[k];
		uint32_t parent = 0, fn;
		memset(nd, 0, sizeof(*nd));
		nd->node = k + 1;
		if (k == 0) {
			nd->fn = 1;
			depth[0] = 1;
			continue;
		}
		if (loadgen_rand(rng) % 100 < 55 &&
		    depth[k - 1] < LOADGEN_MAX_DEPTH) {
			parent = k - 1;
		} else {
			for (int t = 0; t < 8; t++) {
				uint32_t j = (uint32_t)(loadgen_rand(rng) % k);
				if (depth[j] < LOADGEN_MAX_DEPTH) {
					parent = j;
					break;
				}
			}
		}
		fn = p->nfns > 1
			     ? 2 + (uint32_t)(loadgen_rand(rng) % (p->nfns - 1))
			     : 1;
		if (fn == p->nodes[parent].fn && p->nfns > 2)
			fn = fn + 1 > p->nfns ? 2 : fn + 1;
		nd->parent = parent + 1;
		nd->fn = fn;
		depth[k] = (uint8_t)(depth[parent] + 1);
		if (depth[k] > p->depth)
			p->depth = depth[k];
	}
	if (n > 0 && p->depth == 0)
		p->depth = 1;
	free(depth);
	return 0;
}

int loadgen_profile_create(uint32_t m, uint32_t e, uint32_t p, uint64_t seed,
			   struct loadgen_profile **out)
{
	struct loadgen_profile *prof;
	uint64_t rng = seed ^ 0x5bd1e9955bd1e995ull;
	int rc = FP_ENOMEM;

	if (m == 0 || (uint64_t)e > (uint64_t)m * m)
		return FP_EINVAL;
	prof = calloc(1, sizeof(*prof));
	if (prof == NULL)
		return FP_ENOMEM;
	prof->fns = calloc(m, sizeof(*prof->fns));
	prof->strings = calloc(m, FN_STR);
	prof->edges = calloc((size_t)e + 1, sizeof(*prof->edges));
	prof->nodes = calloc((size_t)p + 1, sizeof(*prof->nodes));
	if (!prof->fns || !prof->strings || !prof->edges || !prof->nodes)
		goto err_free;
	prof->nfns = m;
	for (uint32_t i = 0; i < m; i++)
		name_fn(&prof->fns[i], prof->strings + (size_t)i * FN_STR, i,
			&rng);
	prof->nnodes = p;
	if ((rc = make_tree(prof, p, &rng)) != 0)
		goto err_free;
	if ((rc = make_edges(prof, e, &rng)) != 0)
		goto err_free;
	*out = prof;
	return 0;

err_free:
	loadgen_profile_destroy(prof);
	return rc;
}

void loadgen_profile_destroy(struct loadgen_profile *prof)
{
	if (prof == NULL)
		return;
	free(prof->fns);
	free(prof->strings);
	free(prof->edges);
	free(prof->nodes);
	free(prof);
}

int loadgen_rows_init(struct loadgen_rows *r,
		      const struct loadgen_profile *prof)
{
	r->fstats = calloc(prof->nfns + 1, sizeof(*r->fstats));
	r->edges = calloc(prof->nedges + 1, sizeof(*r->edges));
	r->nodes = calloc(prof->nnodes + 1, sizeof(*r->nodes));
	if (r->fstats == NULL || r->edges == NULL || r->nodes == NULL) {
		loadgen_rows_fini(r);
		return FP_ENOMEM;
	}
	memcpy(r->edges, prof->edges, prof->nedges * sizeof(*r->edges));
	memcpy(r->nodes, prof->nodes, prof->nnodes * sizeof(*r->nodes));
	return 0;
}

void loadgen_rows_fini(struct loadgen_rows *r)
{
	free(r->fstats);
	free(r->edges);
	free(r->nodes);
	memset(r, 0, sizeof(*r));
}

/* A call count with a heavy tail: most functions are cold, a few hot. */
static uint64_t calls(uint64_t r)
{
	uint64_t n = 1 + r % 2000;
	if ((r >> 32) % 16 == 0)
		n *= 40;
	return n;
}

uint64_t loadgen_profile_fill(const struct loadgen_profile *prof,
			      struct loadgen_rows *rows, uint64_t *rng)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < prof->nfns; i++) {
		struct wire_fstat *s = &rows->fstats[i];
		uint64_t r = loadgen_rand(rng);
		s->fn = i + 1;
		s->ncalls = calls(r);
		s->pcalls = s->ncalls - (r >> 16) % (s->ncalls / 8 + 1);
		s->tottime_ns = s->ncalls * (200 + (r >> 40) % 20000);
		s->cumtime_ns = s->tottime_ns + s->ncalls * ((r >> 24) % 50000);
		sum += s->ncalls;
	}
	for (uint32_t i = 0; i < prof->nedges; i++) {
		struct wire_edge *e = &rows->edges[i];
		uint64_t r = loadgen_rand(rng);
		e->ncalls = calls(r);
		e->pcalls = e->ncalls - (r >> 16) % (e->ncalls / 8 + 1);
		e->tottime_ns = e->ncalls * (200 + (r >> 40) % 20000);
		e->cumtime_ns = e->tottime_ns + e->ncalls * ((r >> 24) % 50000);
	}
	for (uint32_t i = 0; i < prof->nnodes; i++) {
		struct wire_node *nd = &rows->nodes[i];
		uint64_t r = loadgen_rand(rng);
		nd->ncalls = calls(r);
		nd->self_ns = nd->ncalls * (200 + (r >> 40) % 20000);
		nd->total_ns = nd->self_ns + nd->ncalls * ((r >> 24) % 50000);
	}
	return sum;
}
