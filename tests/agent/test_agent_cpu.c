/*
 * FLEETPROF_CLOCK=cpu: a thread that computes and a thread that sleeps for
 * the same wall time, in instrumented functions, while the agent flushes
 * every 50 ms. Batches must say clock=cpu, counts stay exact, and CPU time
 * goes to the function that used the CPU: the sleeper's share is a small
 * fraction of the spinner's (a ratio, never an absolute time).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleetprof/fleetprof.h"
#include "rep_peer.h"
#include "wire/batch.h"

#define ROUNDS 20

static struct {
	uint64_t spin_n, spin_tt, nap_n, nap_tt, wall_batches;
} sums;
static volatile uint64_t sink;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add(const struct wire_batch *b, void *arg)
{
	(void)arg;
	if (b->clock != WIRE_CLOCK_CPU)
		sums.wall_batches++;
	for (uint32_t i = 0; i < b->nfns; i++) {
		for (uint32_t k = 0; k < b->nfstats; k++) {
			if (b->fstats[k].fn != b->fns[i].id)
				continue;
			if (strcmp(b->fns[i].name, "spin") == 0) {
				sums.spin_n += b->fstats[k].ncalls;
				sums.spin_tt += b->fstats[k].tottime_ns;
			} else if (strcmp(b->fns[i].name, "nap") == 0) {
				sums.nap_n += b->fstats[k].ncalls;
				sums.nap_tt += b->fstats[k].tottime_ns;
			}
		}
	}
}

static void spin(void)
{
	FP_FUNCTION();
	uint64_t until = mono_ns() + 10 * 1000000u;
	while (mono_ns() < until)
		sink++;
}

static void nap(void)
{
	FP_FUNCTION();
	struct timespec ts = {0, 10 * 1000000};
	nanosleep(&ts, NULL);
}

static void *spinner(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++)
		spin();
	return NULL;
}

static void *napper(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++)
		nap();
	return NULL;
}

static void test_cpu_clock(void **state)
{
	pthread_t a, b;
	(void)state;
	assert_int_equal(fp_init(NULL), 0);
	pthread_create(&a, NULL, spinner, NULL);
	pthread_create(&b, NULL, napper, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_int_equal(fp_shutdown(), 0);

	assert_int_equal(sums.wall_batches, 0);
	assert_int_equal(sums.spin_n, ROUNDS);
	assert_int_equal(sums.nap_n, ROUNDS);
	assert_true(sums.spin_tt > 0);
	printf("cpu tottime: spin %.1f ms, nap %.3f ms\n", sums.spin_tt / 1e6,
	       sums.nap_tt / 1e6);
	assert_true(sums.nap_tt * 10 < sums.spin_tt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_clock),
	};
	char url[128];
	int rc;

	snprintf(url, sizeof(url), "ipc:///tmp/fp-test-cpu-%d.ipc",
		 (int)getpid());
	if (rep_peer_start(url, add, NULL) != 0)
		return 1;
	setenv("FLEETPROF_COLLECTOR", url, 1);
	setenv("FLEETPROF_INTERVAL", "0.05", 1);
	setenv("FLEETPROF_CLOCK", "cpu", 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rep_peer_stop();
	unlink(url + strlen("ipc://"));
	return rc;
}
