/*
 * Private to the fleetprof command: exit codes, how an error reaches the
 * user (one "fleetprof: error: …" line, an optional detail, a hint), and the
 * entry points of the commands. Commands write results only to `out` and
 * messages only to `err`, so tests can run them on memory streams.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stdio.h>

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_RUNTIME = 1, /* database, missing data, output */
	CLI_EXIT_USAGE = 2,   /* bad command line */
};

/*
 * A user-facing error: msg is required, detail and hint may be empty. code
 * is the FP_E* behind a runtime error when one is known (FP_EDBDOWN: the
 * database is unreachable, FP_ENOTFOUND: no such host or function), else 0;
 * `fleetprof serve` turns it into an HTTP status.
 */
struct cli_error {
	char msg[256];
	char detail[512];
	char hint[256];
	int code;
};

void cli_error_clear(struct cli_error *e);
void cli_error_set(struct cli_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cli_error_detail(struct cli_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cli_error_hint(struct cli_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "fleetprof: error: msg", then "detail: …" and "hint: …" if set. */
void cli_error_print(const struct cli_error *e, FILE *err);

/* The whole program; returns the exit status. argv[0] is the program. */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

/*
 * The commands, called by cli_main after parsing: each returns the exit
 * status and, when it is not CLI_EXIT_OK, fills e (cli_main prints it).
 */
struct cli_args;
#define CLI_COMMAND(name)                                                    \
	int cli_##name##_run(const struct cli_args *a, FILE *out, FILE *err, \
			     struct cli_error *e);                           \
	extern const char cli_##name##_usage[]
CLI_COMMAND(top);
CLI_COMMAND(hosts);
CLI_COMMAND(services);
CLI_COMMAND(callers);
CLI_COMMAND(callees);
CLI_COMMAND(tree);
CLI_COMMAND(flame);
CLI_COMMAND(diff);
CLI_COMMAND(timeline);
CLI_COMMAND(export);
#undef CLI_COMMAND

#endif
