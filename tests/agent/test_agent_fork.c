/*
 * fork() while another thread calibrates the TSC clock (the calibration
 * sleeps until 50 ms after the clock's setup, holding its lock): the child
 * must be able to use the clock, not wait forever on a lock whose owner
 * does not exist in it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"

static atomic_int entered, done;

static void *calibrate(void *arg)
{
	(void)arg;
	atomic_store(&entered, 1);
	(void)agent_clock_ns_per_tick();
	atomic_store(&done, 1);
	return NULL;
}

static void test_fork_while_calibrating(void **state)
{
	struct timespec ms5 = {0, 5 * 1000000};
	pthread_t thr;
	pid_t pid;
	int st = -1;
	(void)state;

	agent_clock_setup();
	if (strcmp(agent_clock_source(), "tsc") != 0) {
		printf("SKIP: no invariant TSC: the clock needs no "
		       "calibration\n");
		skip();
	}
	assert_int_equal(pthread_create(&thr, NULL, calibrate, NULL), 0);
	while (!atomic_load(&entered))
		nanosleep(&ms5, NULL);
	nanosleep(&ms5, NULL);
	/* Still inside the 50 ms: the lock is held now. */
	assert_int_equal(atomic_load(&done), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10); /* a deadlock ends the child with SIGALRM */
		_exit(agent_clock_ns_per_tick() > 0 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	pthread_join(thr, NULL);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(atomic_load(&done), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_while_calibrating),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
