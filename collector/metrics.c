/*
 * Prometheus text exposition (format 0.0.4) of struct collector_stats, and
 * the two recorders the other files call: collector_observe_commit() (the
 * writer, once per COMMIT) and collector_count_reject() (collector_reply).
 * Every reject reason of the FP_E table is always exported, zeros included,
 * so a rate() over any reason exists before the first such batch.
 */
#include "metrics.h"
#include "fp/error.h"
#include "fp/timeutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const int64_t bucket_ns[COLLECTOR_COMMIT_BUCKETS] = {
	5 * FP_NS_PER_MS,   10 * FP_NS_PER_MS,	25 * FP_NS_PER_MS,
	50 * FP_NS_PER_MS,  100 * FP_NS_PER_MS, 250 * FP_NS_PER_MS,
	500 * FP_NS_PER_MS, FP_NS_PER_SEC,	2500 * FP_NS_PER_MS,
	5 * FP_NS_PER_SEC,  10 * FP_NS_PER_SEC,
};
static const char *const bucket_le[COLLECTOR_COMMIT_BUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5",	 "1",	 "2.5",	  "5",	  "10",
};

void collector_observe_commit(struct collector *c, int64_t ns)
{
	int i = 0;
	if (ns < 0)
		ns = 0;
	while (i < COLLECTOR_COMMIT_BUCKETS && ns > bucket_ns[i])
		i++;
	atomic_fetch_add_explicit(&c->stats.commit_buckets[i], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&c->stats.commit_sum_ns, (uint64_t)ns,
				  memory_order_relaxed);
}

static int reason_index(int code)
{
	return code < 0 && -code < COLLECTOR_NREASONS ? -code : 0;
}

void collector_count_reject(struct collector *c, int code)
{
	atomic_fetch_add_explicit(&c->stats.rejected_by[reason_index(code)], 1,
				  memory_order_relaxed);
}

const char *collector_reason_name(int code, char *buf, size_t len)
{
	const char *name = fp_errname(code);
	size_t i = 0;

	if (reason_index(code) == 0 || strncmp(name, "FP_E", 4) != 0) {
		snprintf(buf, len, "other");
		return buf;
	}
	for (name += 4; *name != '\0' && i + 1 < len; name++)
		buf[i++] = (char)tolower((unsigned char)*name);
	buf[i] = '\0';
	return buf;
}

/* A bounded appender: once full, stays full and the render fails. */
struct out {
	char *buf;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

static uint64_t get(atomic_uint_least64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static void metric(struct out *o, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
	    name, (unsigned long long)v);
}

size_t collector_metrics_render(struct collector *c, char *buf, size_t len)
{
	struct collector_stats *s = &c->stats;
	struct out o = {buf, 0, len, len == 0};
	uint64_t cum = 0;
	char reason[32];

#define P "fleetprof_collector_"
	metric(&o, P "batches_received_total", "counter",
	       "Messages received from senders, valid or not.",
	       get(&s->received));
	metric(&o, P "batches_acked_total", "counter",
	       "Batches committed and acknowledged the first time.",
	       get(&s->acked));
	metric(&o, P "batches_duplicate_total", "counter",
	       "Batches already committed before, acknowledged again.",
	       get(&s->duplicates));
	put(&o,
	    "# HELP " P "batches_rejected_total Batches answered with a final "
	    "error (the sender drops them), by reason.\n"
	    "# TYPE " P "batches_rejected_total counter\n");
	for (int i = 0; i < COLLECTOR_NREASONS; i++)
		put(&o, P "batches_rejected_total{reason=\"%s\"} %llu\n",
		    collector_reason_name(-i, reason, sizeof(reason)),
		    (unsigned long long)get(&s->rejected_by[i]));
	metric(&o, P "batches_unavailable_total", "counter",
	       "Batches answered 'database unavailable, retry'.",
	       get(&s->unavailable));
	metric(&o, P "rows_merged_total", "counter",
	       "Fact rows merged into PostgreSQL.", get(&s->rows));
	metric(&o, P "folds_total", "counter",
	       "Folds of the writers' delta tables into the raw tier.",
	       get(&s->folds));
	metric(&o, P "fold_rows_total", "counter",
	       "Keys added to the raw tier by folds.", get(&s->fold_rows));
	put(&o,
	    "# HELP " P "fold_seconds_total Time spent in folds (on the fold "
	    "threads' own connections: merges go on meanwhile).\n"
	    "# TYPE " P "fold_seconds_total counter\n" P
	    "fold_seconds_total %.6f\n",
	    (double)get(&s->fold_ns) / 1e9);
	metric(&o, P "commits_total", "counter",
	       "Transactions committed by the writer.", get(&s->commits));
	put(&o,
	    "# HELP " P "commit_duration_seconds Duration of each committed "
	    "transaction.\n# TYPE " P "commit_duration_seconds histogram\n");
	for (int i = 0; i < COLLECTOR_COMMIT_BUCKETS; i++) {
		cum += get(&s->commit_buckets[i]);
		put(&o, P "commit_duration_seconds_bucket{le=\"%s\"} %llu\n",
		    bucket_le[i], (unsigned long long)cum);
	}
	cum += get(&s->commit_buckets[COLLECTOR_COMMIT_BUCKETS]);
	put(&o,
	    P "commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n" P
	      "commit_duration_seconds_sum %.9f\n" P
	      "commit_duration_seconds_count %llu\n",
	    (unsigned long long)cum, (double)get(&s->commit_sum_ns) / 1e9,
	    (unsigned long long)cum);
	metric(&o, P "pending_bytes", "gauge",
	       "Bytes of received batches not answered yet.",
	       get(&s->pending_bytes));
	metric(&o, P "pending_batches", "gauge",
	       "Received batches not answered yet.", get(&s->pending_batches));
	metric(&o, P "throttled", "gauge",
	       "1 while receiving is paused because pending_bytes passed "
	       "max_pending_bytes.",
	       (uint64_t)atomic_load(&c->throttled));
	metric(&o, P "db_reconnects_total", "counter",
	       "Failed attempts to (re)connect to PostgreSQL.",
	       get(&s->reconnects));
	metric(&o, P "db_up", "gauge",
	       "1 while the writer holds a working database connection.",
	       (uint64_t)atomic_load(&c->db_up));
	put(&o,
	    "# HELP process_start_time_seconds Start time of the process "
	    "since the Unix epoch.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds %.3f\n",
	    (double)c->start_wall_ns / 1e9);
#undef P
	return o.full ? 0 : o.len;
}
