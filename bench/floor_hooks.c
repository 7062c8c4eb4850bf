/*
 * The floor of the agent_overhead benchmark: -finstrument-functions hooks
 * that only read the clock (rdtsc) into a thread-local and do nothing else.
 * Any exact instrumenting profiler pays at least this much per call (two
 * hook calls, two clock reads). Linked into the workload instead of
 * libfleetprof; never instrumented itself.
 */
#include <stdint.h>
#include <x86intrin.h>

#define HOOK __attribute__((no_instrument_function, noinline))

/* Prototypes for -Wmissing-prototypes: gcc declares these implicitly. */
void __cyg_profile_func_enter(void *fn, void *site);
void __cyg_profile_func_exit(void *fn, void *site);

static __thread volatile uint64_t floor_tsc;

HOOK void __cyg_profile_func_enter(void *fn, void *site)
{
	(void)fn;
	(void)site;
	floor_tsc = __rdtsc();
}

HOOK void __cyg_profile_func_exit(void *fn, void *site)
{
	(void)fn;
	(void)site;
	floor_tsc = __rdtsc();
}
