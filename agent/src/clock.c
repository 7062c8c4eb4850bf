/*
 * Clock source selection and TSC calibration (see clock.h). The ratio is a
 * 32.32 fixed-point multiplier set once, under a mutex, by the first caller
 * of agent_clock_calibrate after at least 50 ms of baseline; it never
 * changes afterwards, so converted cumulative counters stay consistent.
 */
#include "clock.h"
#include "fp/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if AGENT_HAVE_TSC
#include <cpuid.h>
#endif

int agent_clock_use_tsc;

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t cal_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int calibrated;
static uint64_t base_ticks, base_ns;
static uint64_t mult; /* ns per tick, 32.32 fixed point */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	       (uint64_t)ts.tv_nsec;
}

static int tsc_invariant(void)
{
#if AGENT_HAVE_TSC
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000007, &a, &b, &c, &d))
		return 0;
	return (d >> 8) & 1;
#else
	return 0;
#endif
}

/* In a child forked while another thread calibrated (it sleeps up to 50 ms
 * holding cal_lock), the lock would stay held forever: the child starts it
 * afresh, and calibrates itself if the parent had not finished. */
static void atfork_child(void)
{
	pthread_mutex_init(&cal_lock, NULL);
}

static void setup(void)
{
	const char *src = getenv("FLEETPROF_CLOCK_SOURCE");
	int want_tsc = src == NULL || strcmp(src, "monotonic") != 0;
	agent_clock_use_tsc = want_tsc && tsc_invariant();
	base_ns = mono_ns();
	base_ticks = agent_clock_now();
	pthread_atfork(NULL, NULL, atfork_child);
	if (!agent_clock_use_tsc) {
		mult = UINT64_C(1) << 32;
		atomic_store(&calibrated, 1);
	}
}

void agent_clock_setup(void)
{
	pthread_once(&setup_once, setup);
}

void agent_clock_calibrate(void)
{
	uint64_t t1, n1;
	agent_clock_setup();
	if (atomic_load(&calibrated))
		return;
	pthread_mutex_lock(&cal_lock);
	if (!atomic_load(&calibrated)) {
		/* At least 50 ms of baseline: the ratio's error is then
		 * below the clock_gettime jitter over 50 ms (~1e-6). */
		while ((n1 = mono_ns()) - base_ns < 50 * UINT64_C(1000000)) {
			struct timespec ts = {0, 5 * 1000000};
			nanosleep(&ts, NULL);
		}
		t1 = agent_clock_now();
		if (t1 <= base_ticks) {
			fp_warn("agent: TSC did not advance; using "
				"CLOCK_MONOTONIC");
			mult = UINT64_C(1) << 32;
			agent_clock_use_tsc = 0;
		} else {
			mult = (uint64_t)(((unsigned __int128)(n1 - base_ns)
					   << 32) /
					  (t1 - base_ticks));
		}
		atomic_store(&calibrated, 1);
	}
	pthread_mutex_unlock(&cal_lock);
}

uint64_t agent_clock_to_ns(uint64_t ticks)
{
	if (!atomic_load_explicit(&calibrated, memory_order_acquire))
		agent_clock_calibrate();
	return (uint64_t)(((unsigned __int128)ticks * mult) >> 32);
}

const char *agent_clock_source(void)
{
	agent_clock_setup();
	return agent_clock_use_tsc ? "tsc" : "monotonic";
}

double agent_clock_ns_per_tick(void)
{
	agent_clock_calibrate();
	return (double)mult / 4294967296.0;
}
