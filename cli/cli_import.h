/*
 * `fleetprof import`: a cProfile/profile .prof file into the database as one
 * batch, exactly once per (file bytes, host, service). It takes options the
 * query commands do not (--at, --force), so it parses its own argv and
 * cli_main dispatches to it before the shared parser.
 */
#ifndef CLI_CLI_IMPORT_H
#define CLI_CLI_IMPORT_H

#include <stdio.h>

/* The one-line summary `fleetprof --help` lists. */
extern const char cli_import_summary[];
extern const char cli_import_usage[];

/*
 * argv[0] is "import". Results go to out, messages to err; returns the exit
 * status: 0, 1 (unreadable or invalid file, database), 2 (usage).
 */
int cli_import_main(int argc, char **argv, FILE *out, FILE *err);

#endif
