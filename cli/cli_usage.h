/*
 * The parts of `--help` every query command shares, as string literals to
 * paste into each command's usage text, so all commands describe the
 * window, the filters and the connection in the same words.
 */
#ifndef CLI_CLI_USAGE_H
#define CLI_CLI_USAGE_H

#define CLI_USAGE_WINDOW                                                    \
	"window (default: the last 15 minutes):\n"                          \
	"  --since DURATION   the last DURATION (15m, 2h, 7d); not with\n"  \
	"                     --from/--until\n"                             \
	"  --from TIME        start: RFC 3339 (2026-11-24T10:00:00Z), a "   \
	"date,\n"                                                           \
	"                     or a time ago (2h, \"30m ago\")\n"            \
	"  --until TIME       end, exclusive (default: now)\n"              \
	"  Windows that start within the last 7 days read the raw tier\n"   \
	"  (60 s buckets) under 1 h, the 10 min rollup under 6 h; longer\n" \
	"  or older ones the 1 h rollup (sums over them add whole days\n"   \
	"  and weeks from running sums). The window is widened to whole\n"  \
	"  buckets, and the first line of a table names the tier and the\n" \
	"  exact window.\n"                                                 \
	"\n"

#define CLI_USAGE_FILTERS                                                   \
	"filters:\n"                                                        \
	"  --host GLOB        only hosts matching GLOB (* and ?); "         \
	"repeatable\n"                                                      \
	"  --service NAME     only this service\n"                          \
	"  --label KEY=VALUE  only processes with this label; repeatable\n" \
	"  --clock wall|cpu   which clock's timings (default: wall)\n"

#define CLI_USAGE_FORMAT "  --format FORMAT    table (default), json or csv\n"

#define CLI_USAGE_CONNECTION                                                  \
	"\n"                                                                  \
	"connection:\n"                                                       \
	"  --db CONNINFO      libpq conninfo or URL (default: "               \
	"$FLEETPROF_DB,\n"                                                    \
	"                     then libpq's PG* variables); the session\n"     \
	"                     assumes the read-only role fleetprof_reader\n"  \
	"                     when the login user is a member of it\n"        \
	"  -v, --verbose      show the role used and the database's\n"        \
	"                     messages on errors\n"                           \
	"  --explain          print the query plans (EXPLAIN ANALYZE) to\n"   \
	"                     stderr\n"                                       \
	"  -h, --help         show this help and exit\n"                      \
	"\n"                                                                  \
	"Exit status: 0 success, 1 runtime error (database, no data for a\n"  \
	"host, unknown function), 2 usage error. Color only on a terminal,\n" \
	"never with NO_COLOR set.\n"

#endif
