/*
 * The JSON API of `fleetprof serve`: /api/<endpoint>?<query> is the query
 * command of the same name run with --format json, its parameters the
 * command's long options (since, from, until, host, service, …). So the
 * API validates, queries and answers exactly as the CLI does, through the
 * same code: the query string becomes a command line for cli_args_parse,
 * the command writes into memory. Each call is independent (its own
 * connection and snapshot); any number may run on different threads.
 */
#ifndef CLI_CLI_SERVE_API_H
#define CLI_CLI_SERVE_API_H

#include "cli.h"
#include "cli_args.h"

#include <stddef.h>

/* A prepared call: the command line made from the query, parsed. */
struct cli_api_call {
	const struct cli_command *cmd;
	char **argv; /* owned, argc strings */
	int argc;
	struct cli_args args; /* points into argv */
	int parsed;
};

/* An HTTP answer: status and a JSON body (owned, not NUL-terminated). */
struct cli_api_reply {
	int status;
	char *body;
	size_t len;
};

/*
 * Prepare /api/<name> (name without the prefix, e.g. "top") with the raw
 * query string (the text after '?'; NULL for none); db is the connection
 * string every call uses (NULL: FLEETPROF_DB, then PG*). Returns 0 with *c
 * ready for cli_api_run(), or fills *r with the error to send (404 for an
 * unknown endpoint, 400 for a bad parameter) and returns -1; c needs
 * cli_api_call_fini() either way.
 */
int cli_api_prepare(const char *name, const char *query, const char *db,
		    struct cli_api_call *c, struct cli_api_reply *r);

/*
 * Run a prepared call: connects, queries, and fills *r: 200 with the
 * command's JSON, or an error reply (400 bad parameter, 404 no such host
 * or function, 503 database unreachable, 500 anything else).
 */
void cli_api_run(struct cli_api_call *c, struct cli_api_reply *r);
void cli_api_call_fini(struct cli_api_call *c);

/*
 * Fill *r with status and {"error": msg, "hint": hint} (plus "detail" when
 * e has one). Never fails: without memory the body is a fixed text.
 */
void cli_api_error(struct cli_api_reply *r, int status,
		   const struct cli_error *e);
void cli_api_reply_fini(struct cli_api_reply *r);

/* "/api/top, /api/flame, …" for hints and the 404 of an unknown path. */
extern const char cli_api_endpoints[];

#endif
