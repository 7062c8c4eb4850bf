/*
 * Command-line parsing for `fleetprof top` and time-window resolution.
 * Parsed values point into argv (which outlives them); only the hosts array
 * is allocated, released by cli_top_args_fini(). Pure functions: the clock
 * is an argument, so tests give exact times.
 */
#ifndef CLI_CLI_ARGS_H
#define CLI_CLI_ARGS_H

#include "cli.h"

#include <stddef.h>
#include <stdint.h>

/* Window used when neither --since nor --from is given. */
#define CLI_DEFAULT_SINCE "15m"
#define CLI_DEFAULT_LIMIT 20

enum cli_format {
	CLI_FORMAT_TABLE = 0,
	CLI_FORMAT_JSON,
	CLI_FORMAT_CSV,
};

struct cli_top_args {
	const char *since; /* raw option values; NULL when absent */
	const char *from;
	const char *until;
	const char **hosts; /* allocated array of pointers into argv */
	size_t nhosts;
	const char *service; /* NULL: every service */
	int sort;	     /* STORAGE_SORT_* */
	long limit;	     /* 0: no limit */
	int format;	     /* CLI_FORMAT_* */
	const char *db;	     /* NULL: $FLEETPROF_DB, then libpq's PG* */
	int clock;	     /* WIRE_CLOCK_* */
	int verbose;
	int help;
};

/* The text of `fleetprof top --help`. */
extern const char cli_top_usage[];

/*
 * Parse argv[1..argc-1] (argv[0] is the command name). On success returns 0
 * and fills *a (defaults for what is absent; on --help parsing stops and
 * a->help is 1); the caller then calls cli_top_args_fini(). On failure
 * returns FP_EINVAL (FP_ENOMEM) with e filled, and *a needs no fini.
 */
int cli_top_args_parse(int argc, char **argv, struct cli_top_args *a,
		       struct cli_error *e);
void cli_top_args_fini(struct cli_top_args *a);

/* [from_ns, until_ns) as the user asked for it, before bucket rounding. */
struct cli_window {
	int64_t from_ns;
	int64_t until_ns;
};

/*
 * Resolve the window from the raw option values (any may be NULL) at time
 * now_ns: --since D is [now - D, now); --from alone ends now; --until alone
 * starts 15 minutes before it; nothing is the last 15 minutes. --since with
 * --from or --until, an unparsable value, or from >= until is an error:
 * returns FP_EINVAL with e filled and w untouched.
 */
int cli_window_resolve(const char *since, const char *from, const char *until,
		       int64_t now_ns, struct cli_window *w,
		       struct cli_error *e);

/* Strict non-negative decimal for --limit; 0 or FP_EINVAL. */
int cli_parse_limit(const char *s, long *out);

#endif
