/*
 * What the load generator prints: a progress line on stderr every few
 * seconds, the summary on stdout (one "key: value" per line, stable names
 * for scripts) and the same totals as JSON (jansson) for tests and benches.
 */
#include "loadgen.h"
#include "fp/error.h"

#include <jansson.h>
#include <stdio.h>

static double per_s(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0.0;
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

void loadgen_print_progress(double at_s, const struct loadgen_totals *t,
			    const struct loadgen_totals *prev, double dt_s,
			    const struct loadgen_hist *win, uint32_t inflight)
{
	fprintf(stderr,
		"loadgen: %6.0fs sent %llu (%.1f/s, %.0f rows/s) acked %llu "
		"(%.1f/s) in flight %u resends %llu retry-replies %llu "
		"timeouts %llu skipped %llu ack p50 %.1f ms p99 %.1f ms\n",
		at_s, (unsigned long long)t->batches_sent,
		per_s(t->batches_sent - prev->batches_sent, dt_s),
		per_s(t->rows_sent - prev->rows_sent, dt_s),
		(unsigned long long)t->batches_acked,
		per_s(t->batches_acked - prev->batches_acked, dt_s), inflight,
		(unsigned long long)t->resends,
		(unsigned long long)t->retry_replies,
		(unsigned long long)t->timeouts,
		(unsigned long long)t->flushes_skipped,
		ms(loadgen_hist_quantile(win, 0.50)),
		ms(loadgen_hist_quantile(win, 0.99)));
}

void loadgen_print_summary(const struct loadgen_options *o,
			   const struct loadgen_result *r)
{
	const struct loadgen_totals *t = &r->t;
	printf("agents: %u\n"
	       "hosts: %u\n"
	       "service: %s\n"
	       "functions: %u\nedges: %u\npaths: %u\nmax_depth: %u\n"
	       "interval_s: %.3f\nload_s: %.3f\nelapsed_s: %.3f\n",
	       o->agents, o->hosts, o->service, o->functions, o->edges,
	       o->paths, r->depth, (double)o->interval_ns / 1e9, r->load_s,
	       r->elapsed_s);
	printf("batches_sent: %llu\nbatches_acked: %llu\nbatches_dup: %llu\n"
	       "batches_rejected: %llu\nbatches_unacked: %llu\n"
	       "resends: %llu\nretry_replies: %llu\ntimeouts: %llu\n"
	       "transport_errors: %llu\nbad_replies: %llu\n"
	       "flushes_skipped: %llu\n",
	       (unsigned long long)t->batches_sent,
	       (unsigned long long)t->batches_acked,
	       (unsigned long long)t->batches_dup,
	       (unsigned long long)t->batches_rejected,
	       (unsigned long long)t->batches_unacked,
	       (unsigned long long)t->resends,
	       (unsigned long long)t->retry_replies,
	       (unsigned long long)t->timeouts,
	       (unsigned long long)t->transport_errors,
	       (unsigned long long)t->bad_replies,
	       (unsigned long long)t->flushes_skipped);
	printf("ncalls_sent: %llu\nncalls_acked: %llu\nncalls_rejected: %llu\n"
	       "ncalls_unacked: %llu\nrows_sent: %llu\nrows_acked: %llu\n"
	       "bytes_sent: %llu\n",
	       (unsigned long long)t->ncalls_sent,
	       (unsigned long long)t->ncalls_acked,
	       (unsigned long long)t->ncalls_rejected,
	       (unsigned long long)t->ncalls_unacked,
	       (unsigned long long)t->rows_sent,
	       (unsigned long long)t->rows_acked,
	       (unsigned long long)t->bytes_sent);
	printf("batches_per_s: %.1f\nrows_per_s_sent: %.0f\n"
	       "rows_per_s_acked: %.0f\n"
	       "ack_p50_ms: %.2f\nack_p90_ms: %.2f\nack_p99_ms: %.2f\n"
	       "ack_max_ms: %.2f\n",
	       per_s(t->batches_acked, r->elapsed_s),
	       per_s(t->rows_sent, r->load_s),
	       per_s(t->rows_acked, r->elapsed_s),
	       ms(loadgen_hist_quantile(&r->ack, 0.50)),
	       ms(loadgen_hist_quantile(&r->ack, 0.90)),
	       ms(loadgen_hist_quantile(&r->ack, 0.99)), ms(r->ack.max_us));
	fflush(stdout);
}

#define SET_U(o, k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
#define SET_R(o, k, v) json_object_set_new(o, k, json_real(v))

int loadgen_write_json(const char *path, const struct loadgen_options *o,
		       const struct loadgen_result *r)
{
	const struct loadgen_totals *t = &r->t;
	json_t *j = json_object();
	int rc;

	if (j == NULL)
		return FP_ENOMEM;
	json_object_set_new(j, "collector", json_string(o->collectors));
	json_object_set_new(j, "service", json_string(o->service));
	SET_U(j, "agents", o->agents);
	SET_U(j, "hosts", o->hosts);
	SET_U(j, "functions", o->functions);
	SET_U(j, "edges", o->edges);
	SET_U(j, "paths", o->paths);
	SET_U(j, "max_depth", r->depth);
	SET_U(j, "threads", o->threads);
	SET_R(j, "interval_s", (double)o->interval_ns / 1e9);
	SET_R(j, "load_s", r->load_s);
	SET_R(j, "elapsed_s", r->elapsed_s);
	SET_U(j, "batches_sent", t->batches_sent);
	SET_U(j, "batches_acked", t->batches_acked);
	SET_U(j, "batches_dup", t->batches_dup);
	SET_U(j, "batches_rejected", t->batches_rejected);
	SET_U(j, "batches_unacked", t->batches_unacked);
	SET_U(j, "resends", t->resends);
	SET_U(j, "retry_replies", t->retry_replies);
	SET_U(j, "timeouts", t->timeouts);
	SET_U(j, "transport_errors", t->transport_errors);
	SET_U(j, "bad_replies", t->bad_replies);
	SET_U(j, "flushes_skipped", t->flushes_skipped);
	SET_U(j, "ncalls_sent", t->ncalls_sent);
	SET_U(j, "ncalls_acked", t->ncalls_acked);
	SET_U(j, "ncalls_rejected", t->ncalls_rejected);
	SET_U(j, "ncalls_unacked", t->ncalls_unacked);
	SET_U(j, "rows_sent", t->rows_sent);
	SET_U(j, "rows_acked", t->rows_acked);
	SET_U(j, "bytes_sent", t->bytes_sent);
	SET_R(j, "batches_per_s", per_s(t->batches_acked, r->elapsed_s));
	SET_R(j, "rows_per_s_sent", per_s(t->rows_sent, r->load_s));
	SET_R(j, "rows_per_s_acked", per_s(t->rows_acked, r->elapsed_s));
	SET_R(j, "ack_p50_ms", ms(loadgen_hist_quantile(&r->ack, 0.50)));
	SET_R(j, "ack_p90_ms", ms(loadgen_hist_quantile(&r->ack, 0.90)));
	SET_R(j, "ack_p99_ms", ms(loadgen_hist_quantile(&r->ack, 0.99)));
	SET_R(j, "ack_max_ms", ms(r->ack.max_us));
	rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	return rc == 0 ? 0 : FP_EIO;
}
