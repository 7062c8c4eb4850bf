/*
 * Command-line parsing for every fleetprof command and time-window
 * resolution. Each command declares the options it takes beyond the common
 * ones (window, filters, output, connection). Parsed values point into argv
 * (which outlives them); only the hosts and labels arrays are allocated,
 * released by cli_args_fini(). Pure functions: the clock is an argument.
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

enum cli_export_format {
	CLI_EXPORT_FOLDED = 0,
	CLI_EXPORT_SPEEDSCOPE,
	CLI_EXPORT_PSTATS,
};

/* Options a command takes beyond the common ones. */
enum cli_opt_set {
	CLI_OPTS_SORT = 1u << 0,     /* --sort */
	CLI_OPTS_GROUP = 1u << 1,    /* --group-by, --function */
	CLI_OPTS_MATCH = 1u << 2,    /* --match */
	CLI_OPTS_LIMIT = 1u << 3,    /* --limit */
	CLI_OPTS_TREE = 1u << 4,     /* --depth, --min-percent */
	CLI_OPTS_BASE = 1u << 5,     /* --base-*, --threshold */
	CLI_OPTS_STEP = 1u << 6,     /* --step */
	CLI_OPTS_EXPORT = 1u << 7,   /* --format is an export format, -o */
	CLI_OPTS_ANYCLOCK = 1u << 8, /* without --clock: every clock */
};

struct cli_args;

struct cli_command {
	const char *name;
	unsigned opts;	 /* CLI_OPTS_* */
	const char *arg; /* required positional argument ("FN"), or NULL */
	const char *summary;
	const char *usage; /* the text of --help */
	int (*run)(const struct cli_args *a, FILE *out, FILE *err,
		   struct cli_error *e);
};

struct cli_args {
	const struct cli_command *cmd;
	const char *since; /* raw option values; NULL when absent */
	const char *from;
	const char *until;
	const char **hosts; /* allocated array of pointers into argv */
	size_t nhosts;
	const char **labels; /* "k=v", allocated array into argv */
	size_t nlabels;
	const char *service;  /* NULL: every service */
	int sort;	      /* STORAGE_SORT_* */
	int group;	      /* STORAGE_GROUP_* */
	const char *function; /* --function, or the positional FN */
	const char *match;
	long limit; /* 0: no limit */
	int format; /* CLI_FORMAT_*, or CLI_EXPORT_* for export */
	const char *output;
	long depth;	    /* -1: unlimited */
	double min_percent; /* 0: everything */
	const char *base_from, *base_until, *base_offset, *threshold;
	const char *step;
	const char *db; /* NULL: $FLEETPROF_DB, then libpq's PG* */
	int clock;	/* WIRE_CLOCK_*, -1 for any (CLI_OPTS_ANYCLOCK) */
	int verbose;
	int explain;
	int help;
};

/* The commands, in the order --help lists them; NULL-name terminated. */
extern const struct cli_command cli_commands[];
/* `fleetprof top`, for tests. */
extern const struct cli_command *const cli_cmd_top;
extern const char cli_top_usage[];

/*
 * Parse argv[1..argc-1] (argv[0] is the command name) for cmd. On success
 * returns 0 and fills *a (defaults for what is absent; on --help parsing
 * stops and a->help is 1); the caller then calls cli_args_fini(). On
 * failure returns FP_EINVAL (FP_ENOMEM) with e filled, and *a needs no fini.
 */
int cli_args_parse(const struct cli_command *cmd, int argc, char **argv,
		   struct cli_args *a, struct cli_error *e);
void cli_args_fini(struct cli_args *a);

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
