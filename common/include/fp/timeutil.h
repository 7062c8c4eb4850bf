/*
 * Time helpers shared by every part: clocks in nanoseconds, durations
 * ("15m", "2h", "7d"), RFC 3339 timestamps and relative times ("-2h", "now").
 * All functions are pure or read the system clock; thread-safe.
 */
#ifndef FP_TIMEUTIL_H
#define FP_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define FP_NS_PER_SEC INT64_C(1000000000)
#define FP_NS_PER_MS INT64_C(1000000)

/* Wall clock (CLOCK_REALTIME), ns since the Unix epoch. */
int64_t fp_wall_ns(void);
/* Monotonic clock (CLOCK_MONOTONIC), ns. */
int64_t fp_mono_ns(void);

/*
 * Parse a duration: a positive integer or decimal followed by a unit
 * (ns, us, ms, s, m, h, d, w); several may be chained ("1h30m").
 * Returns 0 and writes *out_ns, or FP_ESYNTAX / FP_ELIMIT.
 */
int fp_parse_duration(const char *s, int64_t *out_ns);

/*
 * Parse an absolute or relative time: RFC 3339 ("2026-11-24T10:00:00Z",
 * "2026-11-24T10:00:00.5+01:00", "2026-11-24 10:00:00" taken as UTC, a bare
 * date "2026-11-24"), "now", or a duration in the past ("2h", "-2h",
 * "2h ago") relative to now_ns. Returns 0 and writes *out_ns, or FP_ESYNTAX.
 */
int fp_parse_time(const char *s, int64_t now_ns, int64_t *out_ns);

/* Format as RFC 3339 UTC with seconds ("2026-11-24T10:00:00Z"). */
void fp_format_time(int64_t ns, char *buf, size_t len);

/* Sleep for ns, restarting on EINTR. */
void fp_sleep_ns(int64_t ns);

#endif
