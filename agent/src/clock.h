/*
 * The hot path's clock. On x86 with an invariant TSC the hot path reads raw
 * TSC ticks (one rdtsc, ~10 ns here, versus ~25 ns for clock_gettime); the
 * flush thread converts cumulative ticks to ns with a ratio calibrated once
 * against CLOCK_MONOTONIC and then fixed, so sums of deltas telescope
 * exactly. Without an invariant TSC (or with FLEETPROF_CLOCK_SOURCE=
 * monotonic) ticks are CLOCK_MONOTONIC nanoseconds and the ratio is 1.
 */
#ifndef AGENT_CLOCK_H
#define AGENT_CLOCK_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define AGENT_HAVE_TSC 1
#else
#define AGENT_HAVE_TSC 0
#endif

extern int agent_clock_use_tsc;

static inline uint64_t agent_clock_now(void)
{
#if AGENT_HAVE_TSC
	if (__builtin_expect(agent_clock_use_tsc, 1))
		return __rdtsc();
#endif
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	       (uint64_t)ts.tv_nsec;
}

/* Chooses the source (idempotent, thread-safe) and starts calibration. */
void agent_clock_setup(void);
/* Fixes the ratio; may wait on the caller until 50 ms have passed since
 * setup (the flush thread calls it; hot paths never do). Idempotent. */
void agent_clock_calibrate(void);
/* Ticks to ns with the fixed ratio (calibrates first if needed). */
uint64_t agent_clock_to_ns(uint64_t ticks);
/* "tsc" or "monotonic". */
const char *agent_clock_source(void);
/* ns per tick as calibrated (1.0 for monotonic). */
double agent_clock_ns_per_tick(void);

#endif
