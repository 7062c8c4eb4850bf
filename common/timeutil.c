/*
 * Clocks, duration and timestamp parsing. Parsers never trust their input:
 * every number is range-checked before it is multiplied, and trailing junk is
 * a syntax error, not ignored.
 */
#include "fp/timeutil.h"
#include "fp/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t fp_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * FP_NS_PER_SEC + ts.tv_nsec;
}

int64_t fp_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FP_NS_PER_SEC + ts.tv_nsec;
}

void fp_sleep_ns(int64_t ns)
{
	struct timespec ts;
	if (ns <= 0)
		return;
	ts.tv_sec = (time_t)(ns / FP_NS_PER_SEC);
	ts.tv_nsec = (long)(ns % FP_NS_PER_SEC);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int64_t unit_ns(const char *u, size_t len)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {
		{"ns", 1},
		{"us", 1000},
		{"ms", FP_NS_PER_MS},
		{"s", FP_NS_PER_SEC},
		{"m", 60 * FP_NS_PER_SEC},
		{"h", 3600 * FP_NS_PER_SEC},
		{"d", 86400 * FP_NS_PER_SEC},
		{"w", 7 * 86400 * FP_NS_PER_SEC},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == len &&
		    memcmp(units[i].name, u, len) == 0)
			return units[i].ns;
	return 0;
}

int fp_parse_duration(const char *s, int64_t *out_ns)
{
	/* 100 years is far beyond any window; it keeps products in range. */
	const double max_ns = 100.0 * 365 * 86400 * 1e9;
	double total = 0;

	if (s == NULL || *s == '\0')
		return FP_ESYNTAX;
	while (*s) {
		double num = 0, scale = 1;
		int digits = 0;
		const char *u;
		int64_t mult;

		while (isdigit((unsigned char)*s)) {
			num = num * 10 + (*s++ - '0');
			digits++;
			if (num > max_ns)
				return FP_ELIMIT;
		}
		if (*s == '.') {
			s++;
			while (isdigit((unsigned char)*s)) {
				scale /= 10;
				num += (*s++ - '0') * scale;
				digits++;
			}
		}
		if (digits == 0)
			return FP_ESYNTAX;
		u = s;
		while (isalpha((unsigned char)*s))
			s++;
		mult = unit_ns(u, (size_t)(s - u));
		if (mult == 0)
			return FP_ESYNTAX;
		total += num * (double)mult;
		if (total > max_ns)
			return FP_ELIMIT;
	}
	if (total < 1)
		return FP_ESYNTAX;
	*out_ns = (int64_t)(total + 0.5);
	return 0;
}

/* Reads exactly n digits into *out; returns the advanced pointer or NULL. */
static const char *digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return NULL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return s + n;
}

static int parse_rfc3339(const char *s, int64_t *out_ns)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	int64_t frac = 0, t;

	memset(&tm, 0, sizeof(tm));
	if (!(s = digits(s, 4, &y)) || *s++ != '-' ||
	    !(s = digits(s, 2, &mo)) || *s++ != '-' || !(s = digits(s, 2, &d)))
		return FP_ESYNTAX;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (!(s = digits(s, 2, &h)) || *s++ != ':' ||
		    !(s = digits(s, 2, &mi)))
			return FP_ESYNTAX;
		if (*s == ':') {
			s++;
			if (!(s = digits(s, 2, &sec)))
				return FP_ESYNTAX;
			if (*s == '.') {
				int64_t scale = FP_NS_PER_SEC;
				s++;
				if (!isdigit((unsigned char)*s))
					return FP_ESYNTAX;
				while (isdigit((unsigned char)*s)) {
					scale /= 10;
					frac += (*s++ - '0') * scale;
				}
			}
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int sign = *s++ == '-' ? -1 : 1, oh, om;
			if (!(s = digits(s, 2, &oh)) || *s++ != ':' ||
			    !(s = digits(s, 2, &om)) || oh > 23 || om > 59)
				return FP_ESYNTAX;
			off = sign * (oh * 3600 + om * 60);
		}
	}
	if (*s != '\0')
		return FP_ESYNTAX;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || sec > 60)
		return FP_ESYNTAX;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	if (tm.tm_mday != d) /* 2026-02-31 normalised to March */
		return FP_ESYNTAX;
	*out_ns = (t - off) * FP_NS_PER_SEC + frac;
	return 0;
}

int fp_parse_time(const char *s, int64_t now_ns, int64_t *out_ns)
{
	char buf[64];
	size_t len;
	int64_t d;
	int rc;

	if (s == NULL)
		return FP_ESYNTAX;
	if (strcmp(s, "now") == 0) {
		*out_ns = now_ns;
		return 0;
	}
	if (isdigit((unsigned char)s[0]) && strlen(s) >= 10 && s[4] == '-')
		return parse_rfc3339(s, out_ns);
	len = strlen(s);
	if (len >= sizeof(buf))
		return FP_ESYNTAX;
	memcpy(buf, s, len + 1);
	if (len > 4 && strcmp(buf + len - 4, " ago") == 0)
		buf[len - 4] = '\0';
	rc = fp_parse_duration(buf[0] == '-' ? buf + 1 : buf, &d);
	if (rc != 0)
		return rc;
	*out_ns = now_ns - d;
	return 0;
}

void fp_format_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns >= 0 ? ns / FP_NS_PER_SEC
				    : -((-ns + FP_NS_PER_SEC - 1) /
					FP_NS_PER_SEC));
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
