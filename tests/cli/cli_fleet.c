/*
 * The known fleet of the CLI tests (see cli_fleet.h): the tables, how they
 * are loaded, and the expected sums derived from them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "cli_fleet.h"

const struct wire_fn fn_defs[NFN] = {
	[F_MAIN] = {0, "main", "src/main.c", 10, "app"},
	[F_HANDLE] = {0, "handle", "src/http.c", 120, "app"},
	[F_PARSE] = {0, "parse", "src/json.c", 33, "app"},
	[F_QUERY] = {0, "query", "src/db.c", 77, "db"},
	[F_FIB] = {0, "fib", "src/math.c", 5, "app"},
	[F_OLD] = {0, "old_fn", "", 0, "libold.so"},
};

const char *const fn_labels[NFN] = {
	"main (src/main.c:10)",	 "handle (src/http.c:120)",
	"parse (src/json.c:33)", "query (src/db.c:77)",
	"fib (src/math.c:5)",	 "old_fn (libold.so)",
};

#define ARR(a) (a), (sizeof(a) / sizeof((a)[0]))

static const struct fdef w1_f[] = {
	{F_MAIN, 1, 1, 1 * MS, 107 * MS},
	{F_HANDLE, 10, 10, 10 * MS, 99 * MS},
	{F_PARSE, 20, 20, 40 * MS, 40 * MS},
	{F_QUERY, 5, 5, 49 * MS, 49 * MS},
	{F_FIB, 7, 1, 7 * MS, 7 * MS},
};
static const struct edef w1_e[] = {
	{F_MAIN, F_HANDLE, 10, 10, 10 * MS, 99 * MS},
	{F_HANDLE, F_PARSE, 20, 20, 40 * MS, 40 * MS},
	{F_HANDLE, F_QUERY, 5, 5, 49 * MS, 49 * MS},
	{F_MAIN, F_FIB, 1, 1, 1 * MS, 7 * MS},
	{F_FIB, F_FIB, 6, 0, 6 * MS, 6 * MS},
};
static const struct ndef w1_n[] = {
	{1, 0, F_MAIN, 1, 1 * MS, 107 * MS},
	{2, 1, F_HANDLE, 10, 10 * MS, 99 * MS},
	{3, 2, F_PARSE, 20, 40 * MS, 40 * MS},
	{4, 2, F_QUERY, 5, 49 * MS, 49 * MS},
	{5, 1, F_FIB, 1, 1 * MS, 7 * MS},
	{6, 5, F_FIB, 2, 2 * MS, 6 * MS},
	{7, 6, F_FIB, 4, 4 * MS, 4 * MS},
};
static const struct fdef w2_f[] = {
	{F_MAIN, 2, 2, 2 * MS, 200 * MS},
	{F_HANDLE, 20, 20, 20 * MS, 198 * MS},
	{F_PARSE, 40, 40, 80 * MS, 80 * MS},
	{F_QUERY, 10, 10, 98 * MS, 98 * MS},
};
static const struct edef w2_e[] = {
	{F_MAIN, F_HANDLE, 20, 20, 20 * MS, 198 * MS},
	{F_HANDLE, F_PARSE, 40, 40, 80 * MS, 80 * MS},
	{F_HANDLE, F_QUERY, 10, 10, 98 * MS, 98 * MS},
};
static const struct ndef w2_n[] = {
	{1, 0, F_MAIN, 2, 2 * MS, 200 * MS},
	{2, 1, F_HANDLE, 20, 20 * MS, 198 * MS},
	{3, 2, F_PARSE, 40, 80 * MS, 80 * MS},
	{4, 2, F_QUERY, 10, 98 * MS, 98 * MS},
};
static const struct fdef d1_f[] = {
	{F_MAIN, 1, 1, MS / 2, 30 * MS},
	{F_QUERY, 3, 3, 29 * MS + MS / 2, 29 * MS + MS / 2},
};
static const struct edef d1_e[] = {
	{F_MAIN, F_QUERY, 3, 3, 29 * MS + MS / 2, 29 * MS + MS / 2},
};
static const struct ndef d1_n[] = {
	{1, 0, F_MAIN, 1, MS / 2, 30 * MS},
	{2, 1, F_QUERY, 3, 29 * MS + MS / 2, 29 * MS + MS / 2},
};
/* web-1 a day earlier: the base of `diff --base-offset 1d`. */
static const struct fdef w1_base_f[] = {
	{F_MAIN, 1, 1, 1 * MS, 80 * MS},
	{F_HANDLE, 10, 10, 10 * MS, 70 * MS},
	{F_PARSE, 10, 10, 10 * MS, 10 * MS},
	{F_QUERY, 5, 5, 60 * MS, 60 * MS},
	{F_OLD, 4, 4, 5 * MS, 5 * MS},
};

const struct hdef fleet[] = {
	{"web-1", "api", "eu", 1, 0, 0, ARR(w1_f), ARR(w1_e), ARR(w1_n)},
	{"web-2", "api", "us", 2, 3, 0, ARR(w2_f), ARR(w2_e), ARR(w2_n)},
	{"db-1", "db", "eu", 3, 0, 0, ARR(d1_f), ARR(d1_e), ARR(d1_n)},
	{"web-1", "api", "eu", 4, 0, 1, ARR(w1_base_f), NULL, 0, NULL, 0},
};
const size_t fleet_nhosts = sizeof(fleet) / sizeof(fleet[0]);

void merge_host(struct storage_writer *w, const struct hdef *h, int64_t t)
{
	struct wire_fn fns[NFN];
	struct wire_fstat fs[NFN];
	struct wire_edge es[8];
	struct wire_node ns[8];
	struct wire_label label = {"region", h->region};
	struct wire_batch b;
	struct storage_merge_item item = {&b, -1, 0};

	memset(&b, 0, sizeof(b));
	b.version = WIRE_VERSION;
	b.agent.id[0] = h->agent;
	b.agent.host = h->host;
	b.agent.service = h->service;
	b.agent.lang = "c";
	b.agent.pid = 1000 + h->agent;
	b.agent.start_ns = t - 3600 * FP_NS_PER_SEC;
	b.agent.labels = &label;
	b.agent.nlabels = 1;
	b.seq = 1;
	b.t0 = t + 5 * FP_NS_PER_SEC;
	b.t1 = t + 55 * FP_NS_PER_SEC;
	b.clock = WIRE_CLOCK_WALL;
	b.dropped = h->dropped;
	/* Batch-local function ids: fn index + 1. */
	for (int i = 0; i < NFN; i++) {
		fns[i] = fn_defs[i];
		fns[i].id = (uint32_t)i + 1;
	}
	for (size_t i = 0; i < h->nf; i++)
		fs[i] = (struct wire_fstat){(uint32_t)h->f[i].fn + 1,
					    h->f[i].nc, h->f[i].pc, h->f[i].tt,
					    h->f[i].ct};
	for (size_t i = 0; i < h->ne; i++)
		es[i] = (struct wire_edge){(uint32_t)h->e[i].caller + 1,
					   (uint32_t)h->e[i].callee + 1,
					   h->e[i].nc,
					   h->e[i].pc,
					   h->e[i].tt,
					   h->e[i].ct};
	for (size_t i = 0; i < h->nn; i++)
		ns[i] = (struct wire_node){
			h->n[i].node, h->n[i].parent, (uint32_t)h->n[i].fn + 1,
			h->n[i].nc,   h->n[i].self,   h->n[i].total};
	b.fns = fns;
	b.nfns = NFN;
	b.fstats = fs;
	b.nfstats = (uint32_t)h->nf;
	b.edges = es;
	b.nedges = (uint32_t)h->ne;
	b.nodes = ns;
	b.nnodes = (uint32_t)h->nn;
	assert_int_equal(storage_merge(w, &item, 1, NULL), 0);
	assert_int_equal(item.dup, 0);
	assert_int_equal(item.status, 0);
}

int fleet_load(const char *conninfo, int64_t t)
{
	struct storage_writer *w;
	PGconn *conn = NULL;
	char errbuf[256];

	if (storage_connect(conninfo, &conn, errbuf, sizeof(errbuf)) != 0) {
		print_error("cannot connect to %s: %s\n", conninfo, errbuf);
		return -1;
	}
	if (storage_migrate(conn) != 0 ||
	    storage_writer_create(conn, &w) != 0) {
		PQfinish(conn);
		return -1;
	}
	for (size_t i = 0; i < NHOSTDEF; i++)
		merge_host(w, &fleet[i], fleet[i].base ? t - DAY_NS : t);
	storage_writer_destroy(w); /* closes conn */
	return 0;
}

/* In the window (not the base batch), hosts matching `only` (NULL: all). */
int counted(const struct hdef *h, const char *only)
{
	return !h->base && (only == NULL || strcmp(h->host, only) == 0);
}

/* Edges into (callers) or out of (callees) fn, summed per other end. */
void want_edges(int fn, int callers, uint64_t *nc, uint64_t *tt, uint64_t *ct)
{
	memset(nc, 0, NFN * sizeof(*nc));
	memset(tt, 0, NFN * sizeof(*tt));
	memset(ct, 0, NFN * sizeof(*ct));
	for (size_t i = 0; i < NHOSTDEF; i++)
		for (size_t k = 0; counted(&fleet[i], NULL) && k < fleet[i].ne;
		     k++) {
			const struct edef *e = &fleet[i].e[k];
			int other = callers ? e->caller : e->callee;
			if ((callers ? e->callee : e->caller) != fn)
				continue;
			nc[other] += e->nc;
			tt[other] += e->tt;
			ct[other] += e->ct;
		}
}

/* Path of node k of h as labels joined by ';'. */
void node_path(const struct hdef *h, size_t k, char *buf, size_t len)
{
	const char *parts[16];
	int n = 0;
	size_t o = 0;

	for (uint32_t id = h->n[k].node; id != 0 && n < 16;) {
		size_t x = 0;
		while (x < h->nn && h->n[x].node != id)
			x++;
		assert_true(x < h->nn);
		parts[n++] = fn_labels[h->n[x].fn];
		id = h->n[x].parent;
	}
	buf[0] = '\0';
	while (n-- > 0)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", parts[n],
				      n > 0 ? ";" : "");
}

/* Every path of the window with its sums over the fleet. */
size_t want_paths(struct pathsum *ps, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < NHOSTDEF; i++)
		for (size_t k = 0; counted(&fleet[i], NULL) && k < fleet[i].nn;
		     k++) {
			char p[256];
			size_t x = 0;
			node_path(&fleet[i], k, p, sizeof(p));
			while (x < n && strcmp(ps[x].path, p) != 0)
				x++;
			if (x == n) {
				assert_true(n < cap);
				memset(&ps[n], 0, sizeof(ps[n]));
				snprintf(ps[n].path, sizeof(ps[n].path), "%s",
					 p);
				n++;
			}
			ps[x].nc += fleet[i].n[k].nc;
			ps[x].self += fleet[i].n[k].self;
			ps[x].total += fleet[i].n[k].total;
		}
	return n;
}
