/*
 * Unit tests of common/: the error table, duration and time parsing, and the
 * stability of persisted hashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fp/error.h"
#include "fp/hash.h"
#include "fp/log.h"
#include "fp/timeutil.h"

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(fp_strerror(0), "success");
	assert_string_equal(fp_strerror(FP_ETRUNCATED), "message truncated");
	assert_string_equal(fp_errname(FP_ECOUNT), "FP_ECOUNT");
	assert_string_equal(fp_strerror(-9999), "unknown error");
	assert_string_equal(fp_errname(12345), "FP_EUNKNOWN");
	/* Codes cross the wire: they must never be renumbered. */
	assert_int_equal(FP_ENOMEM, -1);
	assert_int_equal(FP_ETRUNCATED, -7);
	assert_int_equal(FP_EDBDOWN, -21);
}

static void test_durations(void **state)
{
	int64_t ns = 0;
	(void)state;
	assert_int_equal(fp_parse_duration("15m", &ns), 0);
	assert_int_equal(ns, 15 * 60 * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_duration("2h", &ns), 0);
	assert_int_equal(ns, 2 * 3600 * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_duration("7d", &ns), 0);
	assert_int_equal(ns, 7 * 86400 * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_duration("1w", &ns), 0);
	assert_int_equal(ns, 7 * 86400 * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_duration("1h30m", &ns), 0);
	assert_int_equal(ns, 5400 * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_duration("0.5s", &ns), 0);
	assert_int_equal(ns, 500 * FP_NS_PER_MS);
	assert_int_equal(fp_parse_duration("250ms", &ns), 0);
	assert_int_equal(ns, 250 * FP_NS_PER_MS);
	ns = 42;
	assert_int_equal(fp_parse_duration("", &ns), FP_ESYNTAX);
	assert_int_equal(fp_parse_duration("15", &ns), FP_ESYNTAX);
	assert_int_equal(fp_parse_duration("m", &ns), FP_ESYNTAX);
	assert_int_equal(fp_parse_duration("15x", &ns), FP_ESYNTAX);
	assert_int_equal(fp_parse_duration("-5m", &ns), FP_ESYNTAX);
	assert_int_equal(fp_parse_duration("0s", &ns), FP_ESYNTAX);
	assert_int_equal(fp_parse_duration("99999999999999999999d", &ns),
			 FP_ELIMIT);
	assert_int_equal(ns, 42); /* untouched on failure */
}

static void test_times(void **state)
{
	const int64_t now = INT64_C(1795000000) * FP_NS_PER_SEC;
	int64_t t = 0;
	char buf[32];
	(void)state;
	assert_int_equal(fp_parse_time("2026-11-24T10:00:00Z", now, &t), 0);
	assert_int_equal(t, INT64_C(1795514400) * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_time("2026-11-24T11:00:00+01:00", now, &t),
			 0);
	assert_int_equal(t, INT64_C(1795514400) * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_time("2026-11-24T10:00:00.25Z", now, &t), 0);
	assert_int_equal(t, INT64_C(1795514400) * FP_NS_PER_SEC +
				    250 * FP_NS_PER_MS);
	assert_int_equal(fp_parse_time("2026-11-24", now, &t), 0);
	assert_int_equal(t, INT64_C(1795478400) * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_time("now", now, &t), 0);
	assert_int_equal(t, now);
	assert_int_equal(fp_parse_time("2h", now, &t), 0);
	assert_int_equal(t, now - 7200 * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_time("-2h", now, &t), 0);
	assert_int_equal(t, now - 7200 * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_time("2h ago", now, &t), 0);
	assert_int_equal(t, now - 7200 * FP_NS_PER_SEC);
	assert_int_equal(fp_parse_time("2026-02-31T00:00:00Z", now, &t),
			 FP_ESYNTAX);
	assert_int_equal(fp_parse_time("2026-11-24T25:00:00Z", now, &t),
			 FP_ESYNTAX);
	assert_int_equal(fp_parse_time("2026-11-24T10:00:00Zjunk", now, &t),
			 FP_ESYNTAX);
	assert_int_equal(fp_parse_time("yesterday", now, &t), FP_ESYNTAX);
	fp_format_time(INT64_C(1795514400) * FP_NS_PER_SEC, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-24T10:00:00Z");
}

static void test_hash_stable(void **state)
{
	struct fp_hasher h;
	uint64_t a, b;
	(void)state;
	/* Persisted values: XXH3-64 of "fleetprof" with seed 0, pinned. */
	assert_true(fp_hash64("fleetprof", 9, 0) ==
		    UINT64_C(2874859835347035145));
	assert_true(fp_hash64("fleetprof", 9, 0) !=
		    fp_hash64("fleetprof", 9, 1));
	/* Length framing: ("ab","c") != ("a","bc"). */
	assert_int_equal(fp_hasher_init(&h, 7), 0);
	fp_hasher_str(&h, "ab", 2);
	fp_hasher_str(&h, "c", 1);
	a = fp_hasher_digest(&h);
	fp_hasher_fini(&h);
	assert_int_equal(fp_hasher_init(&h, 7), 0);
	fp_hasher_str(&h, "a", 1);
	fp_hasher_str(&h, "bc", 2);
	b = fp_hasher_digest(&h);
	fp_hasher_fini(&h);
	assert_true(a != b);
}

static void test_log_levels(void **state)
{
	(void)state;
	assert_int_equal(fp_log_parse_level("debug"), FP_LOG_DEBUG);
	assert_int_equal(fp_log_parse_level("warning"), FP_LOG_WARNING);
	assert_int_equal(fp_log_parse_level("3"), 3);
	assert_int_equal(fp_log_parse_level("loud"), -1);
	assert_int_equal(fp_log_parse_level(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_hash_stable),
		cmocka_unit_test(test_log_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
