/*
 * A small open-addressing map from nonzero 64-bit keys to 32-bit values, for
 * the flush thread (function and edge interning while a batch is built).
 * Not thread-safe; grows by doubling; returns -1 on allocation failure.
 */
#ifndef AGENT_PTRMAP_H
#define AGENT_PTRMAP_H

#include <stdint.h>
#include <stdlib.h>

struct ptrmap {
	uint64_t *keys;
	uint32_t *vals;
	uint32_t mask;
	uint32_t used;
};

static inline uint32_t ptrmap_slot(uint64_t k, uint32_t mask)
{
	return (uint32_t)((k * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & mask;
}

static inline void ptrmap_fini(struct ptrmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->mask = 0;
	m->used = 0;
}

/* Value for k, or 0 if absent (values must be nonzero). */
static inline uint32_t ptrmap_get(const struct ptrmap *m, uint64_t k)
{
	if (m->keys == NULL)
		return 0;
	for (uint32_t s = ptrmap_slot(k, m->mask);; s = (s + 1) & m->mask) {
		if (m->keys[s] == k)
			return m->vals[s];
		if (m->keys[s] == 0)
			return 0;
	}
}

static inline int ptrmap_put(struct ptrmap *m, uint64_t k, uint32_t v)
{
	if (m->keys == NULL || (m->used + 1) * 2 > m->mask + 1) {
		uint32_t mask = m->keys ? m->mask * 2 + 1 : 255;
		uint64_t *keys = calloc((size_t)mask + 1, sizeof(*keys));
		uint32_t *vals = calloc((size_t)mask + 1, sizeof(*vals));
		if (keys == NULL || vals == NULL) {
			free(keys);
			free(vals);
			return -1;
		}
		for (uint32_t i = 0; m->keys && i <= m->mask; i++) {
			if (m->keys[i] == 0)
				continue;
			uint32_t s = ptrmap_slot(m->keys[i], mask);
			while (keys[s] != 0)
				s = (s + 1) & mask;
			keys[s] = m->keys[i];
			vals[s] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		m->keys = keys;
		m->vals = vals;
		m->mask = mask;
	}
	uint32_t s = ptrmap_slot(k, m->mask);
	while (m->keys[s] != 0 && m->keys[s] != k)
		s = (s + 1) & m->mask;
	if (m->keys[s] == 0)
		m->used++;
	m->keys[s] = k;
	m->vals[s] = v;
	return 0;
}

#endif
