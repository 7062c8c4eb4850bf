/*
 * What every query command does before and after its queries: resolve the
 * window and pick the tier, connect, assume the read-only role, open one
 * read-only snapshot, check that each --host pattern has data, and print
 * the header that names the tier and the exact window. One session per
 * command run; it owns its connection.
 */
#ifndef CLI_CLI_SESSION_H
#define CLI_CLI_SESSION_H

#include "cli.h"
#include "cli_args.h"
#include "storage/query.h"

#include <stdint.h>
#include <stdio.h>

struct cli_session {
	const struct cli_args *a;
	FILE *err;
	PGconn *conn;
	struct storage_filter f; /* window already widened to the tier */
	char *labels_json;	 /* owned */
	int64_t now_ns;
	uint64_t nhosts; /* hosts with data in the window */
	int ledger;	 /* the window is checked against the ledger */
	int color;	 /* table output may use color */
};

/* How cli_session_open picks the tier. */
enum {
	CLI_TIER_AUTO = -1, /* by the window (storage_tier_choose) */
};

/*
 * Resolve a's window at now (or use *w when not NULL), pick the tier
 * (CLI_TIER_AUTO or a STORAGE_TIER_*), connect, set the role, begin, check
 * the hosts. ledger: hosts are checked against the batch ledger, not the
 * function facts. Returns CLI_EXIT_OK, or CLI_EXIT_USAGE / CLI_EXIT_RUNTIME
 * with e filled; on failure nothing needs closing.
 */
int cli_session_open(struct cli_session *s, const struct cli_args *a,
		     const struct cli_window *w, int tier, int ledger,
		     FILE *out, FILE *err, struct cli_error *e);
/* Commits the snapshot; CLI_EXIT_OK or CLI_EXIT_RUNTIME with e filled. */
int cli_session_end(struct cli_session *s, struct cli_error *e);
/*
 * A second connection in the session's snapshot (storage_read_share), for
 * a query to run beside one on s->conn; NULL when it cannot be had (too
 * many connections, say): the caller then runs both on s->conn. Close it
 * with cli_session_second_close() before cli_session_end().
 */
PGconn *cli_session_second(const struct cli_session *s);
void cli_session_second_close(PGconn *c);
void cli_session_close(struct cli_session *s);

/* "A .. B" for messages. */
void cli_session_window(const struct cli_session *s, char *buf, size_t len);

/*
 * The table header: "window A .. B (raw tier, 60 s buckets), N hosts",
 * then "<clock> clock, " and what (when not NULL), then a blank line.
 */
void cli_session_header(const struct cli_session *s, FILE *out,
			const char *what);

/* The same header from its parts; tier -1 is the batch ledger, clock -1
 * leaves the clock out. */
void cli_header_write(FILE *out, int64_t from_ns, int64_t until_ns, int tier,
		      uint64_t nhosts, int clock, const char *what);

/* Fills e for a failed query; the database's text was logged (verbose). */
void cli_query_error(struct cli_error *e, int rc, int verbose);

/* CLI_EXIT_OK if some function is named name, else e filled. */
int cli_session_need_function(struct cli_session *s, const char *name,
			      struct cli_error *e);

#endif
