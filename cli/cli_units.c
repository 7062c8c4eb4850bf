/*
 * Number formatting for humans (the table output). Units are chosen from
 * the value after rounding, so 999.7µs prints as 1.00ms, never 1000µs. No
 * state, no allocation.
 */
#include "cli_units.h"

#include <math.h>
#include <stdio.h>

void cli_format_duration(double ns, char *buf, size_t len)
{
	static const struct {
		const char *suffix;
		double ns;
	} units[] = {{"ns", 1}, {"\xc2\xb5s", 1e3}, {"ms", 1e6}};

	if (len == 0)
		return;
	if (!(ns >= 0) || isinf(ns)) {
		snprintf(buf, len, "-");
		return;
	}
	if (ns == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		double v = ns / units[i].ns;
		int prec;
		if (v >= 999.5)
			continue; /* would print 1000 or more */
		prec = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
		snprintf(buf, len, "%.*f%s", prec, v, units[i].suffix);
		return;
	}
	snprintf(buf, len, "%.3fs", ns / 1e9);
}

void cli_format_ncalls(uint64_t ncalls, uint64_t pcalls, char *buf, size_t len)
{
	if (ncalls == pcalls)
		snprintf(buf, len, "%llu", (unsigned long long)ncalls);
	else
		snprintf(buf, len, "%llu/%llu", (unsigned long long)ncalls,
			 (unsigned long long)pcalls);
}

size_t cli_display_width(const char *s)
{
	size_t w = 0;
	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}
