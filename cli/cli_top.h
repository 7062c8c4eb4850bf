/*
 * `fleetprof top` output: the ranked rows rendered as an aligned table for
 * people, or JSON / CSV for programs (only the data on stdout, so it can be
 * piped). Rendering is separate from querying so tests can check exact
 * output without a database.
 */
#ifndef CLI_CLI_TOP_H
#define CLI_CLI_TOP_H

#include "storage/query.h"

#include <stdint.h>
#include <stdio.h>

/* What one `top` query returned; nothing is owned. */
struct cli_top_result {
	int64_t from_ns; /* window actually used: bucket-aligned */
	int64_t until_ns;
	uint64_t nhosts; /* distinct hosts with data in the window */
	int clock;	 /* WIRE_CLOCK_* */
	int sort;	 /* STORAGE_SORT_* */
	const struct storage_top_row *rows;
	size_t n;
	int tier;	      /* STORAGE_TIER_* */
	int group;	      /* STORAGE_GROUP_* */
	const char *function; /* --function, shown in the header */
	int color;
};

/*
 * Write r to out in format (CLI_FORMAT_*). Returns 0, FP_ENOMEM, FP_EINVAL
 * (unknown format) or FP_EIO (the stream reported an error).
 */
int cli_top_write(FILE *out, int format, const struct cli_top_result *r);

/* Cells of a ranking row (shared with callers/callees). */
struct cli_stat_cells {
	char ncalls[48], tottime[48], percall[48], cumtime[48], cumpercall[48];
};
void cli_stat_cells(uint64_t ncalls, uint64_t pcalls, double tottime_ns,
		    double cumtime_ns, struct cli_stat_cells *c);

#endif
