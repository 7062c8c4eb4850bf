/*
 * A fixed-size latency histogram: exact below 32 us, then 32 linear
 * sub-buckets per power of two (at most about 3% error), up to 2^46 us.
 * No allocation; not thread-safe (each thread keeps its own and they merge).
 */
#include "loadgen.h"

static unsigned bucket_of(uint64_t us)
{
	unsigned e, idx;
	if (us < LOADGEN_HIST_SUB)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us); /* >= 5 */
	idx = (e - 4) * LOADGEN_HIST_SUB +
	      (unsigned)((us >> (e - 5)) & (LOADGEN_HIST_SUB - 1));
	return idx < LOADGEN_HIST_BUCKETS ? idx : LOADGEN_HIST_BUCKETS - 1;
}

/* The middle of bucket idx, in us. */
static uint64_t value_of(unsigned idx)
{
	unsigned e, sub;
	uint64_t lo, width;
	if (idx < LOADGEN_HIST_SUB)
		return idx;
	e = idx / LOADGEN_HIST_SUB + 4;
	sub = idx % LOADGEN_HIST_SUB;
	lo = (uint64_t)(LOADGEN_HIST_SUB + sub) << (e - 5);
	width = (uint64_t)1 << (e - 5);
	return lo + width / 2;
}

void loadgen_hist_add(struct loadgen_hist *h, uint64_t us)
{
	h->b[bucket_of(us)]++;
	h->count++;
	if (us > h->max_us)
		h->max_us = us;
}

void loadgen_hist_merge(struct loadgen_hist *dst,
			const struct loadgen_hist *src)
{
	for (unsigned i = 0; i < LOADGEN_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	if (src->max_us > dst->max_us)
		dst->max_us = src->max_us;
}

uint64_t loadgen_hist_quantile(const struct loadgen_hist *h, double p)
{
	uint64_t rank, seen = 0;
	if (h->count == 0)
		return 0;
	if (p <= 0)
		p = 0;
	rank = (uint64_t)(p * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (unsigned i = 0; i < LOADGEN_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > rank) {
			uint64_t v = value_of(i);
			return v < h->max_us ? v : h->max_us;
		}
	}
	return h->max_us;
}
