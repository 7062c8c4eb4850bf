/*
 * Human-readable numbers for the table output: durations with a unit picked
 * per value (1.234s, 12.3ms, 456µs, 7.50ns), pstats-style call counts
 * ("12/10" when primitive calls differ). Pure functions; output is always
 * NUL-terminated and truncated to the buffer.
 */
#ifndef CLI_CLI_UNITS_H
#define CLI_CLI_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Room for any value cli_format_duration() or cli_format_ncalls() makes. */
#define CLI_UNITS_BUFLEN 48

/*
 * Seconds get three decimals; ms, µs and ns three significant digits, and
 * the unit steps up when rounding would print 1000. Zero is "0s"; a
 * negative, infinite or NaN value is "-".
 */
void cli_format_duration(double ns, char *buf, size_t len);

/* "ncalls", or "ncalls/pcalls" when they differ (recursion), as pstats. */
void cli_format_ncalls(uint64_t ncalls, uint64_t pcalls, char *buf, size_t len);

/* Columns a UTF-8 string takes on a terminal (one per code point). */
size_t cli_display_width(const char *s);

#endif
