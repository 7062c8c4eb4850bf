/*
 * Stable 64-bit hashes (xxHash XXH3) for interning functions, series and call
 * paths. The values are stored in the database, so the algorithm and seeds
 * must never change: a change would split every existing identity in two.
 */
#ifndef FP_HASH_H
#define FP_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t fp_hash64(const void *data, size_t len, uint64_t seed);

/*
 * Incremental hash of a sequence of fields; each field is length-prefixed so
 * ("ab","c") and ("a","bc") differ.
 */
struct fp_hasher {
	void *state; /* XXH3_state_t, owned */
};
int fp_hasher_init(struct fp_hasher *h, uint64_t seed);
void fp_hasher_str(struct fp_hasher *h, const char *s, size_t len);
void fp_hasher_u64(struct fp_hasher *h, uint64_t v);
uint64_t fp_hasher_digest(const struct fp_hasher *h);
void fp_hasher_fini(struct fp_hasher *h);

/* Signed view for PostgreSQL bigint columns. */
static inline int64_t fp_hash_to_i64(uint64_t h)
{
	return (int64_t)h;
}

#endif
