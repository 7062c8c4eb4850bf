/*
 * Open-addressing hash map from a fixed-width tuple of int64 keys to a
 * tuple of int64 sums: the collector's pre-aggregation (rows of many batches
 * summed per bucket, series and function before they are written) and its
 * caches of known ids (nvals = 0). One thread; grows by doubling.
 */
#ifndef STORAGE_AGGMAP_H
#define STORAGE_AGGMAP_H

#include <stddef.h>
#include <stdint.h>

#define AGG_MAX 4

struct agg_entry {
	int64_t key[AGG_MAX];
	int64_t val[AGG_MAX];
};

struct aggmap {
	struct agg_entry *e;
	uint8_t *used;
	size_t mask; /* capacity - 1, 0 when empty */
	size_t n;
	int nkeys, nvals;
};

void aggmap_init(struct aggmap *m, int nkeys, int nvals);
void aggmap_fini(struct aggmap *m);
/* Empties the map, keeping its memory unless it grew past `keep` slots. */
void aggmap_clear(struct aggmap *m, size_t keep);
/* Adds val to the sums of key (inserting it). 0 or FP_ENOMEM. */
int aggmap_add(struct aggmap *m, const int64_t *key, const int64_t *val);
/* 1 if key is present. */
int aggmap_has(const struct aggmap *m, const int64_t *key);

#define aggmap_foreach(m, ent)                                              \
	for (size_t agg_i_ = 0; (m)->mask && agg_i_ <= (m)->mask; agg_i_++) \
		if ((m)->used[agg_i_] && ((ent) = &(m)->e[agg_i_]) != NULL)

#endif
