/*
 * The hot path's clock: CLOCK_MONOTONIC through the vDSO (no system call).
 * A calibrated TSC reader can replace it behind the same function.
 */
#ifndef AGENT_CLOCK_H
#define AGENT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t agent_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	       (uint64_t)ts.tv_nsec;
}

#endif
