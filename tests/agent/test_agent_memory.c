/*
 * FLEETPROF_MAX_MEMORY: 20000 distinct call paths against a 320 KiB cap.
 * The tree stops growing at the cap, the calls past it are counted under
 * [truncated] and in `dropped`, and no call is lost from the totals: the sum
 * of ncalls on the wire equals the calls made.
 */
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
#include "rep_peer.h"
#include "wire/batch.h"

#define NSITES 20000
#define CAP (320 * 1024)

static struct fp_site sites[NSITES];
static struct {
	uint64_t ncalls, truncated, dropped;
} sums;

static void add(const struct wire_batch *b, void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < b->nfstats; i++) {
		const char *name = NULL;
		for (uint32_t k = 0; k < b->nfns; k++)
			if (b->fns[k].id == b->fstats[i].fn)
				name = b->fns[k].name;
		if (name != NULL && strncmp(name, "[fleetprof]", 11) == 0)
			continue;
		sums.ncalls += b->fstats[i].ncalls;
		if (name != NULL && strcmp(name, "[truncated]") == 0)
			sums.truncated += b->fstats[i].ncalls;
	}
	sums.dropped += b->dropped;
}

static void test_memory_cap(void **state)
{
	struct fp_stats st;
	(void)state;
	for (int i = 0; i < NSITES; i++)
		sites[i] = (struct fp_site){"site", "mem.c", i + 1};
	assert_int_equal(fp_init(NULL), 0);
	for (int i = 0; i < NSITES; i++) {
		fp_enter(&sites[i]);
		fp_exit_site(&sites[i]);
	}
	fp_get_stats(&st);
	assert_true(st.memory_bytes <= CAP);
	assert_true(st.events_dropped > 0);
	assert_int_equal(fp_shutdown(), 0);
	assert_int_equal(sums.ncalls, NSITES);
	assert_true(sums.truncated > 0);
	assert_true(sums.truncated < NSITES);
	assert_int_equal(sums.dropped, sums.truncated);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_cap),
	};
	char url[128], cap[32];
	int rc;

	snprintf(url, sizeof(url), "ipc:///tmp/fp-test-mem-%d.ipc",
		 (int)getpid());
	if (rep_peer_start(url, add, NULL) != 0)
		return 1;
	snprintf(cap, sizeof(cap), "%d", CAP);
	setenv("FLEETPROF_COLLECTOR", url, 1);
	setenv("FLEETPROF_MAX_MEMORY", cap, 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rep_peer_stop();
	unlink(url + strlen("ipc://"));
	return rc;
}
