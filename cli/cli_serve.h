/*
 * `fleetprof serve`: the built-in web page and its JSON API over nng's HTTP
 * server. It takes options the query commands do not (--listen), so it
 * parses its own argv and cli_main dispatches to it, as for import.
 */
#ifndef CLI_CLI_SERVE_H
#define CLI_CLI_SERVE_H

#include <stdio.h>

#define CLI_SERVE_DEFAULT_LISTEN "http://127.0.0.1:8080"

/* The one-line summary `fleetprof --help` lists, and `serve --help`. */
extern const char cli_serve_summary[];
extern const char cli_serve_usage[];

/*
 * argv[0] is "serve". Serves until SIGINT or SIGTERM (blocked in the
 * calling thread while it runs; restored before returning). The URL it
 * serves is printed on out once it listens; messages go to err. Returns the
 * exit status: 0 after a signal, 1 when it cannot listen, 2 usage error.
 */
int cli_serve_main(int argc, char **argv, FILE *out, FILE *err);

#endif
