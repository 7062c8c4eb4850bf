/*
 * The agent with real threads and a real network peer: 16 threads sharing
 * the same functions (4 exit early, long before the final flush) and the main
 * thread run instrumented code while the flush thread sends deltas every 50 ms
 * to an nng REP peer in this process that decodes every batch with the
 * collector's decoder, sums the counts and acks. After fp_shutdown the sums
 * must be exact. Runs under the thread sanitizer too (label tsan).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleetprof/fleetprof.h"
#include "fp/error.h"
#include "rep_peer.h"
#include "wire/batch.h"

#define NTHREADS 16
#define NEARLY 4 /* threads that exit before most flushes */
#define CALLS 20000

struct sums {
	uint64_t outer_n, outer_p, inner_n, inner_p, edge_n;
	uint64_t batches, last_seq, seq_errors;
	uint64_t dropped;
};

static struct sums sums;
static char url[128];

static void add_batch(const struct wire_batch *b, void *arg)
{
	(void)arg;
	uint32_t outer = 0, inner = 0;
	for (uint32_t i = 0; i < b->nfns; i++) {
		if (strcmp(b->fns[i].name, "outer") == 0)
			outer = b->fns[i].id;
		if (strcmp(b->fns[i].name, "inner") == 0)
			inner = b->fns[i].id;
	}
	for (uint32_t i = 0; i < b->nfstats; i++) {
		const struct wire_fstat *s = &b->fstats[i];
		if (s->fn == outer && outer != 0) {
			sums.outer_n += s->ncalls;
			sums.outer_p += s->pcalls;
		} else if (s->fn == inner && inner != 0) {
			sums.inner_n += s->ncalls;
			sums.inner_p += s->pcalls;
		}
	}
	for (uint32_t i = 0; i < b->nedges; i++)
		if (b->edges[i].caller == outer && b->edges[i].callee == inner)
			sums.edge_n += b->edges[i].ncalls;
	if (b->seq != sums.last_seq + 1)
		sums.seq_errors++;
	sums.last_seq = b->seq;
	sums.dropped += b->dropped;
	sums.batches++;
}

static void inner(void)
{
	FP_FUNCTION();
}

static void outer(void)
{
	FP_FUNCTION();
	inner();
	inner();
	inner();
}

static void *worker(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		outer();
		if (i % 250 == 0) /* keep threads alive across flushes */
			usleep(1000);
	}
	return NULL;
}

static void test_threads_exact(void **state)
{
	pthread_t th[NTHREADS];
	struct fp_stats st;
	uint64_t expect_outer = 0;
	(void)state;

	assert_int_equal(fp_init(NULL), 0);
	assert_int_equal(fp_init(NULL), 0); /* already running: no-op */
	/* Two threads finish and exit early; their trees must still be
	 * flushed, then freed. */
	for (int i = 0; i < NEARLY; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, worker,
						(void *)(intptr_t)CALLS),
				 0);
		expect_outer += CALLS;
	}
	for (int i = 0; i < NEARLY; i++)
		pthread_join(th[i], NULL);
	for (int i = NEARLY; i < NTHREADS; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, worker,
						(void *)(intptr_t)(2 * CALLS)),
				 0);
		expect_outer += 2 * CALLS;
	}
	worker((void *)(intptr_t)100);
	expect_outer += 100;
	usleep(200 * 1000); /* several flushes while threads run */
	for (int i = NEARLY; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(fp_shutdown(), 0);
	assert_int_equal(fp_shutdown(), 0); /* idempotent */

	fp_get_stats(&st);
	assert_int_equal(sums.outer_n, expect_outer);
	assert_int_equal(sums.outer_p, expect_outer);
	assert_int_equal(sums.inner_n, 3 * expect_outer);
	assert_int_equal(sums.inner_p, 3 * expect_outer);
	assert_int_equal(sums.edge_n, 3 * expect_outer);
	assert_int_equal(sums.seq_errors, 0);
	assert_int_equal(sums.dropped, 0);
	assert_true(sums.batches >= 2);
	assert_int_equal(st.batches_sent, sums.batches);
	assert_int_equal(st.batches_dropped, 0);
	assert_int_equal(st.batches_queued, 0);
	assert_int_equal(st.threads, NTHREADS + 1);
	assert_int_equal(st.events_dropped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_exact),
	};
	int rc;

	snprintf(url, sizeof(url), "ipc:///tmp/fp-test-agent-%d.ipc",
		 (int)getpid());
	if (rep_peer_start(url, add_batch, NULL) != 0) {
		fprintf(stderr, "cannot listen on %s\n", url);
		return 1;
	}
	setenv("FLEETPROF_COLLECTOR", url, 1);
	setenv("FLEETPROF_INTERVAL", "0.05", 1);
	setenv("FLEETPROF_HOST", "test-host", 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rep_peer_stop();
	unlink(url + strlen("ipc://"));
	return rc;
}
