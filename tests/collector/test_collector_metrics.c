/*
 * /metrics' text (collector/metrics.c), byte for byte where it matters:
 * HELP/TYPE lines, every reject reason named from the FP_E table, the
 * commit histogram's bucket edges (inclusive upper bounds, cumulative
 * counts, +Inf, sum, count), gauges; and sd_notify's datagram to a path
 * and to an abstract socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fp/timeutil.h"
#include "metrics.h"
#include "sdnotify.h"

static struct collector c;

static char *render(void)
{
	static char buf[64 * 1024];
	size_t len = collector_metrics_render(&c, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(strlen(buf), len);
	return buf;
}

static void has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL)
		fail_msg("missing:\n%s\nin:\n%s", line, text);
}

static void test_render(void **state)
{
	char *m;
	char name[32];
	(void)state;

	memset(&c, 0, sizeof(c));
	c.start_wall_ns = INT64_C(1795514400) * FP_NS_PER_SEC + 250000000;
	atomic_store(&c.stats.received, 11);
	atomic_store(&c.stats.acked, 5);
	atomic_store(&c.stats.duplicates, 1);
	atomic_store(&c.stats.unavailable, 2);
	atomic_store(&c.stats.rows, 42);
	atomic_store(&c.stats.commits, 4);
	atomic_store(&c.stats.folds, 6);
	atomic_store(&c.stats.fold_rows, 17);
	atomic_store(&c.stats.fold_ns, 2500000000u);
	atomic_store(&c.stats.reconnects, 3);
	atomic_store(&c.stats.pending_bytes, 1234);
	atomic_store(&c.stats.pending_batches, 2);
	atomic_store(&c.db_up, 1);
	atomic_store(&c.throttled, 1);
	collector_count_reject(&c, FP_ETRUNCATED);
	collector_count_reject(&c, FP_EAUTH);
	collector_count_reject(&c, FP_EAUTH);
	collector_count_reject(&c, -999);
	collector_count_reject(&c, 0);
	/* 4 ms, exactly 5 ms (le is inclusive), 5 ms + 1 ns, 20 s. */
	collector_observe_commit(&c, 4 * FP_NS_PER_MS);
	collector_observe_commit(&c, 5 * FP_NS_PER_MS);
	collector_observe_commit(&c, 5 * FP_NS_PER_MS + 1);
	collector_observe_commit(&c, 20 * FP_NS_PER_SEC);

	m = render();
	has(m, "# HELP fleetprof_collector_batches_received_total ");
	has(m, "\n# TYPE fleetprof_collector_batches_received_total counter\n"
	       "fleetprof_collector_batches_received_total 11\n");
	has(m, "\nfleetprof_collector_batches_acked_total 5\n");
	has(m, "\nfleetprof_collector_batches_duplicate_total 1\n");
	has(m, "\n# TYPE fleetprof_collector_batches_rejected_total counter\n"
	       "fleetprof_collector_batches_rejected_total{reason=\"other\"} "
	       "2\n"
	       "fleetprof_collector_batches_rejected_total{reason=\"nomem\"} "
	       "0\n");
	has(m, "\nfleetprof_collector_batches_rejected_total{reason="
	       "\"truncated\"} 1\n");
	has(m, "\nfleetprof_collector_batches_rejected_total{reason=\"auth\"} "
	       "2\n");
	/* Every code of the table has its series. */
	for (int code = -1; code > -COLLECTOR_NREASONS; code--) {
		char line[128];
		snprintf(line, sizeof(line),
			 "\nfleetprof_collector_batches_rejected_total{reason="
			 "\"%s\"} ",
			 collector_reason_name(code, name, sizeof(name)));
		has(m, line);
	}
	has(m, "\nfleetprof_collector_batches_unavailable_total 2\n");
	has(m, "\nfleetprof_collector_rows_merged_total 42\n");
	has(m, "\nfleetprof_collector_commits_total 4\n");
	has(m, "\n# TYPE fleetprof_collector_folds_total counter\n"
	       "fleetprof_collector_folds_total 6\n");
	has(m, "\nfleetprof_collector_fold_rows_total 17\n");
	has(m, "\n# TYPE fleetprof_collector_fold_seconds_total counter\n"
	       "fleetprof_collector_fold_seconds_total 2.500000\n");
	has(m,
	    "\n# TYPE fleetprof_collector_commit_duration_seconds "
	    "histogram\n"
	    "fleetprof_collector_commit_duration_seconds_bucket{le=\"0.005\"}"
	    " 2\n"
	    "fleetprof_collector_commit_duration_seconds_bucket{le=\"0.01\"}"
	    " 3\n"
	    "fleetprof_collector_commit_duration_seconds_bucket{le=\"0.025\"}"
	    " 3\n");
	has(m, "\nfleetprof_collector_commit_duration_seconds_bucket{le=\"10\"}"
	       " 3\n"
	       "fleetprof_collector_commit_duration_seconds_bucket{le=\"+Inf\"}"
	       " 4\n"
	       "fleetprof_collector_commit_duration_seconds_sum 20.014000001\n"
	       "fleetprof_collector_commit_duration_seconds_count 4\n");
	has(m, "\n# TYPE fleetprof_collector_pending_bytes gauge\n"
	       "fleetprof_collector_pending_bytes 1234\n");
	has(m, "\nfleetprof_collector_pending_batches 2\n");
	has(m, "\nfleetprof_collector_throttled 1\n");
	has(m, "\nfleetprof_collector_db_reconnects_total 3\n");
	has(m, "\nfleetprof_collector_db_up 1\n");
	has(m, "\n# TYPE process_start_time_seconds gauge\n"
	       "process_start_time_seconds 1795514400.250\n");
	/* Every sample has its HELP and TYPE. */
	{
		int helps = 0, types = 0;
		for (char *p = m; (p = strstr(p, "# HELP ")) != NULL; p++)
			helps++;
		for (char *p = m; (p = strstr(p, "# TYPE ")) != NULL; p++)
			types++;
		assert_int_equal(helps, 17);
		assert_int_equal(types, 17);
	}
	/* Too small a buffer: nothing usable, and it says so. */
	{
		char small[100];
		assert_int_equal(
			collector_metrics_render(&c, small, sizeof(small)), 0);
	}
	assert_string_equal(
		collector_reason_name(FP_ETRUNCATED, name, sizeof(name)),
		"truncated");
	assert_string_equal(collector_reason_name(1, name, sizeof(name)),
			    "other");
}

/* Binds a datagram socket at addr (path or "@abstract"). */
static int bind_notify(const char *addr)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct timeval tv = {2, 0};

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, addr, strlen(addr));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			  strlen(addr));
	if (addr[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_sd_notify(void **state)
{
	char addr[108];
	int fd;
	(void)state;

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(collector_sd_notify("READY=1"), 0);

	snprintf(addr, sizeof(addr), "@fp-test-notify-%d", (int)getpid());
	fd = bind_notify(addr);
	setenv("NOTIFY_SOCKET", addr, 1);
	assert_int_equal(collector_sd_notify("READY=1"), 0);
	expect_datagram(fd, "READY=1");
	assert_int_equal(collector_sd_notify("STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	close(fd);

	snprintf(addr, sizeof(addr), "/tmp/fp-test-notify-%d", (int)getpid());
	unlink(addr);
	fd = bind_notify(addr);
	setenv("NOTIFY_SOCKET", addr, 1);
	assert_int_equal(collector_sd_notify("RELOADING=1\nMONOTONIC_USEC=1"),
			 0);
	expect_datagram(fd, "RELOADING=1\nMONOTONIC_USEC=1");
	close(fd);
	unlink(addr);
	/* Nobody listening any more, and names systemd never uses. */
	assert_int_equal(collector_sd_notify("READY=1"), FP_EIO);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(collector_sd_notify("READY=1"), FP_EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_sd_notify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
