/*
 * See aggmap.h. Linear probing over xxHash of the key tuple; load <= 1/2.
 */
#include "aggmap.h"
#include "fp/error.h"
#include "fp/hash.h"

#include <stdlib.h>
#include <string.h>

void aggmap_init(struct aggmap *m, int nkeys, int nvals)
{
	memset(m, 0, sizeof(*m));
	m->nkeys = nkeys;
	m->nvals = nvals;
}

void aggmap_fini(struct aggmap *m)
{
	free(m->e);
	free(m->used);
	m->e = NULL;
	m->used = NULL;
	m->mask = m->n = 0;
}

void aggmap_clear(struct aggmap *m, size_t keep)
{
	if (m->mask + 1 > keep) {
		int nk = m->nkeys, nv = m->nvals;
		aggmap_fini(m);
		aggmap_init(m, nk, nv);
		return;
	}
	if (m->used != NULL)
		memset(m->used, 0, m->mask + 1);
	m->n = 0;
}

static size_t slot_of(const struct aggmap *m, const int64_t *key)
{
	return (size_t)fp_hash64(key, sizeof(int64_t) * (size_t)m->nkeys, 0) &
	       m->mask;
}

static int same(const struct aggmap *m, const int64_t *a, const int64_t *b)
{
	return memcmp(a, b, sizeof(int64_t) * (size_t)m->nkeys) == 0;
}

static int grow(struct aggmap *m)
{
	size_t cap = m->mask ? (m->mask + 1) * 2 : 256;
	struct agg_entry *e = malloc(cap * sizeof(*e));
	uint8_t *used = calloc(cap, 1);
	struct aggmap old = *m;

	if (e == NULL || used == NULL) {
		free(e);
		free(used);
		return FP_ENOMEM;
	}
	m->e = e;
	m->used = used;
	m->mask = cap - 1;
	for (size_t i = 0; old.mask && i <= old.mask; i++) {
		size_t s;
		if (!old.used[i])
			continue;
		s = slot_of(m, old.e[i].key);
		while (m->used[s])
			s = (s + 1) & m->mask;
		m->e[s] = old.e[i];
		m->used[s] = 1;
	}
	free(old.e);
	free(old.used);
	return 0;
}

int aggmap_add(struct aggmap *m, const int64_t *key, const int64_t *val)
{
	size_t s;
	if ((m->n + 1) * 2 > m->mask + 1 && grow(m) != 0)
		return FP_ENOMEM;
	s = slot_of(m, key);
	while (m->used[s] && !same(m, m->e[s].key, key))
		s = (s + 1) & m->mask;
	if (!m->used[s]) {
		m->used[s] = 1;
		memset(&m->e[s], 0, sizeof(m->e[s]));
		memcpy(m->e[s].key, key, sizeof(int64_t) * (size_t)m->nkeys);
		m->n++;
	}
	for (int i = 0; i < m->nvals; i++)
		m->e[s].val[i] =
			(int64_t)((uint64_t)m->e[s].val[i] + (uint64_t)val[i]);
	return 0;
}

int aggmap_has(const struct aggmap *m, const int64_t *key)
{
	size_t s;
	if (m->mask == 0)
		return 0;
	s = slot_of(m, key);
	while (m->used[s]) {
		if (same(m, m->e[s].key, key))
			return 1;
		s = (s + 1) & m->mask;
	}
	return 0;
}
