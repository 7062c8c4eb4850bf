/*
 * XXH3-64 wrappers. See fp/hash.h: hash values are persisted, never change
 * the algorithm, the seeds or the field framing.
 */
#include "fp/hash.h"
#include "fp/error.h"

#include <xxhash.h>

uint64_t fp_hash64(const void *data, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(data, len, seed);
}

int fp_hasher_init(struct fp_hasher *h, uint64_t seed)
{
	XXH3_state_t *st = XXH3_createState();
	if (st == NULL)
		return FP_ENOMEM;
	XXH3_64bits_reset_withSeed(st, seed);
	h->state = st;
	return 0;
}

void fp_hasher_u64(struct fp_hasher *h, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	XXH3_64bits_update(h->state, b, sizeof(b));
}

void fp_hasher_str(struct fp_hasher *h, const char *s, size_t len)
{
	fp_hasher_u64(h, len);
	if (len > 0)
		XXH3_64bits_update(h->state, s, len);
}

uint64_t fp_hasher_digest(const struct fp_hasher *h)
{
	return XXH3_64bits_digest(h->state);
}

void fp_hasher_fini(struct fp_hasher *h)
{
	if (h->state != NULL)
		XXH3_freeState(h->state);
	h->state = NULL;
}
