/*
 * The known fleet of the CLI's and `fleetprof serve`'s integration tests:
 * three hosts (web-1, web-2, db-1) in one minute of a window, plus web-1 a
 * day earlier (the base of diffs), each a batch with function stats, edges
 * and call paths given as tables here. Tests load it through the
 * collector's write path (storage_merge) and compute every expected answer
 * from the same tables, so an answer is checked against data, not against
 * an earlier output.
 */
#ifndef TESTS_CLI_CLI_FLEET_H
#define TESTS_CLI_CLI_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "fp/timeutil.h"
#include "storage/storage.h"
#include "wire/batch.h"

#define MIN_NS (60 * FP_NS_PER_SEC)
#define MS (FP_NS_PER_MS)
#define DAY_NS (86400 * FP_NS_PER_SEC)

enum { F_MAIN, F_HANDLE, F_PARSE, F_QUERY, F_FIB, F_OLD, NFN };

extern const struct wire_fn fn_defs[NFN];
/* Labels shown as "name (file:line)", as the CLI prints them. */
extern const char *const fn_labels[NFN];

struct fdef {
	int fn;
	uint64_t nc, pc, tt, ct;
};
struct edef {
	int caller, callee;
	uint64_t nc, pc, tt, ct;
};
struct ndef {
	uint32_t node, parent;
	int fn;
	uint64_t nc, self, total;
};

struct hdef {
	const char *host, *service, *region;
	uint8_t agent;
	uint64_t dropped;
	int base; /* 1: the batch is a day before the window */
	const struct fdef *f;
	size_t nf;
	const struct edef *e;
	size_t ne;
	const struct ndef *n;
	size_t nn;
};

extern const struct hdef fleet[];
extern const size_t fleet_nhosts;
#define NHOSTDEF fleet_nhosts

/* Merges h's batch with its window starting at t (cmocka asserts). */
void merge_host(struct storage_writer *w, const struct hdef *h, int64_t t);

/*
 * Migrates the database at conninfo and merges the fleet: the window's
 * hosts at t (a bucket boundary), the base batch at t - 1 day. 0 or -1.
 */
int fleet_load(const char *conninfo, int64_t t);

/* In the window (not the base batch), hosts matching `only` (NULL: all). */
int counted(const struct hdef *h, const char *only);

/* Edges into (callers) or out of (callees) fn, summed per other end. */
void want_edges(int fn, int callers, uint64_t *nc, uint64_t *tt, uint64_t *ct);

/* Path of node k of h as labels joined by ';'. */
void node_path(const struct hdef *h, size_t k, char *buf, size_t len);

struct pathsum {
	char path[256];
	uint64_t nc, self, total;
};

/* Every path of the window with its sums over the fleet; returns the
 * number of paths written to ps (at most cap). */
size_t want_paths(struct pathsum *ps, size_t cap);

#endif
