/*
 * The collector's counters in Prometheus' text format (metrics.c), served
 * by http.c at /metrics. Counters live in struct collector_stats as
 * relaxed atomics: writers never lock, a scrape reads each one once (so
 * counters are individually, not mutually, consistent).
 */
#ifndef COLLECTOR_METRICS_H
#define COLLECTOR_METRICS_H

#include <stddef.h>

#include "collector.h"

/* Counts one reply with retry=false under its FP_E code's reason. */
void collector_count_reject(struct collector *c, int code);

/* "truncated" for FP_ETRUNCATED, "auth" for FP_EAUTH; "other" otherwise. */
const char *collector_reason_name(int code, char *buf, size_t len);

/*
 * Writes the exposition into buf (NUL-terminated). Returns its length, or
 * 0 when len is too small (nothing usable is written then).
 */
size_t collector_metrics_render(struct collector *c, char *buf, size_t len);

#endif
