/*
 * Unit tests of the COPY encoder (storage/copybuf.c): text escaping,
 * integers at their limits, and the binary format byte for byte as
 * PostgreSQL's documentation ("COPY", "Binary Format") lays it out.
 */
#include "copybuf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void expect_buf(const struct copybuf *b, const char *want, size_t n)
{
	assert_int_equal(b->oom, 0);
	assert_int_equal(b->len, n);
	assert_memory_equal(b->p, want, n);
}

static void test_text_integers(void **state)
{
	struct copybuf b;
	(void)state;
	copybuf_init(&b);
	copybuf_i64(&b, 0);
	copybuf_tab(&b);
	copybuf_i64(&b, -1);
	copybuf_tab(&b);
	copybuf_i64(&b, INT64_MAX);
	copybuf_tab(&b);
	copybuf_i64(&b, INT64_MIN);
	copybuf_tab(&b);
	copybuf_u64(&b, UINT64_MAX);
	copybuf_eol(&b);
	{
		static const char want[] =
			"0\t-1\t9223372036854775807\t-9223372036854775808\t"
			"18446744073709551615\n";
		expect_buf(&b, want, sizeof(want) - 1);
	}
	copybuf_fini(&b);
}

static void test_text_escapes(void **state)
{
	struct copybuf b;
	(void)state;
	copybuf_init(&b);
	/* Backslash, tab, newline, CR escaped; valid UTF-8 kept; a stray
	 * continuation byte and a surrogate become '?'. */
	copybuf_text(&b, "a\\b\tc\nd\re \xc3\xbc \x80 \xed\xa0\x80");
	{
		static const char want[] = "a\\\\b\\tc\\nd\\re \xc3\xbc ? ???";
		expect_buf(&b, want, sizeof(want) - 1);
	}
	copybuf_fini(&b);
}

static void test_binary(void **state)
{
	struct copybuf b;
	(void)state;
	copybuf_init(&b);
	copybuf_bin_header(&b);
	copybuf_bin_row(&b, 2);
	/* 2000-01-01 00:01:00 UTC: 60 s after PostgreSQL's epoch. */
	copybuf_bin_timestamptz(&b, INT64_C(946684860));
	copybuf_bin_i64(&b, -2);
	copybuf_bin_trailer(&b);
	{
		static const char want[] =
			"PGCOPY\n\377\r\n\0" /* signature */
			"\0\0\0\0"	     /* flags */
			"\0\0\0\0"	     /* extension length */
			"\0\2"		     /* 2 fields */
			"\0\0\0\x08\0\0\0\0\x03\x93\x87\0" /* 60,000,000 µs */
			"\0\0\0\x08\xff\xff\xff\xff\xff\xff\xff\xfe" /* -2 */
			"\xff\xff"; /* trailer */
		expect_buf(&b, want, sizeof(want) - 1);
	}
	/* Before 2000: negative microseconds. */
	copybuf_reset(&b);
	copybuf_bin_timestamptz(&b, 0);
	{
		/* -946684800 * 1e6 = -946684800000000 = 0xfffca2fec4c82000 */
		static const char want[] =
			"\0\0\0\x08\xff\xfc\xa2\xfe\xc4\xc8\x20\x00";
		expect_buf(&b, want, sizeof(want) - 1);
	}
	copybuf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_integers),
		cmocka_unit_test(test_text_escapes),
		cmocka_unit_test(test_binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
