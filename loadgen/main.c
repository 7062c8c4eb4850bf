/*
 * fleetprof-loadgen: simulates a fleet of agents against one or more
 * collectors and reports exactly what was acknowledged. Thin: options here,
 * the fleet in sender.c. Exit 0 when every batch was acked, 3 when some were
 * rejected or never answered, 1 on errors, 2 on bad usage.
 */
#include "loadgen.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fputs("usage: fleetprof-loadgen --collector URL[,URL...] [options]\n"
	      "\n"
	      "Simulates N agents sending profile batches with exact counters\n"
	      "and prints what the collectors acknowledged.\n"
	      "\n"
	      "  --collector URLS   collector nng URL(s), comma-separated\n"
	      "  --agents N         simulated agents (default 10)\n"
	      "  --functions M      functions per batch (default 300)\n"
	      "  --edges E          caller->callee edges per batch (600)\n"
	      "  --paths P          call-path nodes per batch (1000)\n"
	      "  --interval S       flush period per agent, seconds or a\n"
	      "                     duration like 500ms (10); 0: send the\n"
	      "                     next batch as soon as one is acked\n"
	      "  --duration D       how long agents flush (60)\n"
	      "  --hosts H          host names loadgen-host-<i % H> "
	      "(default N)\n"
	      "  --service NAME     service name (loadgen)\n"
	      "  --threads T        sender threads (4)\n"
	      "  --sockets K        nng sockets per thread (2)\n"
	      "  --seed X           shapes functions, tree and counters (1)\n"
	      "  --timeout-ms MS    resend the same batch after MS (2000)\n"
	      "  --drain D          wait this long for the last acks (60)\n"
	      "  --progress S       progress line period on stderr (10)\n"
	      "  --report-json FILE write the totals as JSON\n"
	      "  --help\n",
	      f);
}

static int bad(const char *name, const char *val)
{
	fprintf(stderr, "fleetprof-loadgen: error: bad value for %s: '%s'\n",
		name, val);
	return -1;
}

static int parse_u32(const char *s, const char *name, unsigned long lo,
		     unsigned long hi, uint32_t *out)
{
	char *end;
	unsigned long v;
	errno = 0;
	if (s[0] == '-')
		return bad(name, s);
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return bad(name, s);
	*out = (uint32_t)v;
	return 0;
}

static int parse_u64(const char *s, const char *name, uint64_t *out)
{
	char *end;
	unsigned long long v;
	errno = 0;
	if (s[0] == '-')
		return bad(name, s);
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0')
		return bad(name, s);
	*out = v;
	return 0;
}

/* Seconds ("10", "0.5") or a duration with a unit ("500ms", "2m"). */
static int parse_secs(const char *s, const char *name, int64_t *out)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (end != s && *end == '\0') {
		if (errno != 0 || !isfinite(v) || v < 0 || v > 86400.0 * 365)
			return bad(name, s);
		*out = (int64_t)(v * 1e9);
		return 0;
	}
	if (fp_parse_duration(s, out) != 0)
		return bad(name, s);
	return 0;
}

int main(int argc, char **argv)
{
	struct loadgen_options o;
	struct loadgen_result *res;
	uint32_t u;
	int rc, hosts_set = 0;

	fp_log_set_ident("fleetprof-loadgen");
	loadgen_options_default(&o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int e = 0;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (v == NULL) {
			fprintf(stderr,
				"fleetprof-loadgen: error: unknown option or "
				"missing value: %s\nhint: see "
				"fleetprof-loadgen --help\n",
				a);
			return 2;
		}
		i++;
		if (strcmp(a, "--collector") == 0) {
			o.collectors = v;
		} else if (strcmp(a, "--agents") == 0) {
			e = parse_u32(v, a, 1, 1000000, &o.agents);
		} else if (strcmp(a, "--functions") == 0) {
			e = parse_u32(v, a, 1, 1000000, &o.functions);
		} else if (strcmp(a, "--edges") == 0) {
			e = parse_u32(v, a, 0, 1000000, &o.edges);
		} else if (strcmp(a, "--paths") == 0) {
			e = parse_u32(v, a, 0, 1000000, &o.paths);
		} else if (strcmp(a, "--hosts") == 0) {
			e = parse_u32(v, a, 1, 1000000, &o.hosts);
			hosts_set = 1;
		} else if (strcmp(a, "--service") == 0) {
			o.service = v;
		} else if (strcmp(a, "--threads") == 0) {
			e = parse_u32(v, a, 1, 256, &o.threads);
		} else if (strcmp(a, "--sockets") == 0) {
			e = parse_u32(v, a, 1, 64, &o.sockets);
		} else if (strcmp(a, "--seed") == 0) {
			e = parse_u64(v, a, &o.seed);
		} else if (strcmp(a, "--interval") == 0) {
			e = parse_secs(v, a, &o.interval_ns);
		} else if (strcmp(a, "--duration") == 0) {
			e = parse_secs(v, a, &o.duration_ns);
		} else if (strcmp(a, "--drain") == 0) {
			e = parse_secs(v, a, &o.drain_ns);
		} else if (strcmp(a, "--timeout-ms") == 0) {
			e = parse_u32(v, a, 1, 3600000, &u);
			o.timeout_ms = (int)u;
		} else if (strcmp(a, "--progress") == 0) {
			e = parse_u32(v, a, 1, 86400, &u);
			o.progress_s = (int)u;
		} else if (strcmp(a, "--report-json") == 0) {
			o.report_json = v;
		} else {
			fprintf(stderr,
				"fleetprof-loadgen: error: unknown option %s\n"
				"hint: see fleetprof-loadgen --help\n",
				a);
			return 2;
		}
		if (e != 0)
			return 2;
	}
	if (o.collectors == NULL) {
		fprintf(stderr,
			"fleetprof-loadgen: error: --collector is "
			"required\nhint: see fleetprof-loadgen --help\n");
		return 2;
	}
	if (!hosts_set)
		o.hosts = o.agents;
	if (o.duration_ns <= 0) {
		fprintf(stderr,
			"fleetprof-loadgen: error: --duration must be > 0\n");
		return 2;
	}
	if ((uint64_t)o.edges > (uint64_t)o.functions * o.functions) {
		fprintf(stderr,
			"fleetprof-loadgen: error: --edges %u exceeds the %llu "
			"possible pairs of %u functions\n",
			o.edges, (unsigned long long)o.functions * o.functions,
			o.functions);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	res = calloc(1, sizeof(*res));
	if (res == NULL)
		return 1;
	rc = loadgen_run(&o, res);
	if (rc != 0) {
		fprintf(stderr, "fleetprof-loadgen: error: %s\n",
			fp_strerror(rc));
		free(res);
		return 1;
	}
	loadgen_print_summary(&o, res);
	if (o.report_json != NULL &&
	    (rc = loadgen_write_json(o.report_json, &o, res)) != 0) {
		fprintf(stderr,
			"fleetprof-loadgen: error: cannot write %s: %s\n",
			o.report_json, fp_strerror(rc));
		free(res);
		return 1;
	}
	rc = res->t.batches_unacked > 0 || res->t.batches_rejected > 0 ? 3 : 0;
	free(res);
	return rc;
}
