/*
 * The fleetprof command's front door: global --help and --version, command
 * dispatch, and the one place errors are printed (PostgreSQL's style: a
 * short primary message, then detail, then hint). No state; everything goes
 * to the streams the caller passes.
 */
#include "cli.h"
#include "cli_args.h"
#include "cli_import.h"
#include "cli_serve.h"
#include "fp/log.h"

#include <stdarg.h>
#include <string.h>

#ifndef FP_VERSION
#define FP_VERSION "unknown"
#endif

#define SORT_LIMIT (CLI_OPTS_SORT | CLI_OPTS_LIMIT)

const struct cli_command cli_commands[] = {
	{"top", SORT_LIMIT | CLI_OPTS_GROUP | CLI_OPTS_MATCH, NULL,
	 "rank functions (or hosts, services) by time or calls", cli_top_usage,
	 cli_top_run},
	{"hosts", CLI_OPTS_ANYCLOCK, NULL,
	 "hosts that reported: last seen, batches, data dropped",
	 cli_hosts_usage, cli_hosts_run},
	{"services", CLI_OPTS_ANYCLOCK, NULL,
	 "services that reported: last seen, batches, data dropped",
	 cli_services_usage, cli_services_run},
	{"callers", SORT_LIMIT, "FN", "who calls FN, with pstats' numbers",
	 cli_callers_usage, cli_callers_run},
	{"callees", SORT_LIMIT, "FN", "what FN calls, with pstats' numbers",
	 cli_callees_usage, cli_callees_run},
	{"tree", CLI_OPTS_TREE, "FN", "the call paths under FN as a tree",
	 cli_tree_usage, cli_tree_run},
	{"flame", CLI_OPTS_TREE, NULL, "every call path, as an indented tree",
	 cli_flame_usage, cli_flame_run},
	{"diff", CLI_OPTS_BASE | CLI_OPTS_MATCH | CLI_OPTS_LIMIT, NULL,
	 "what got slower or busier than in a base window", cli_diff_usage,
	 cli_diff_run},
	{"timeline", CLI_OPTS_STEP, "FN",
	 "FN per minute or hour: calls, time, time per call",
	 cli_timeline_usage, cli_timeline_run},
	{"export", CLI_OPTS_EXPORT, NULL,
	 "folded stacks, speedscope JSON or a pstats .prof file",
	 cli_export_usage, cli_export_run},
	{NULL, 0, NULL, NULL, NULL, NULL},
};

const struct cli_command *const cli_cmd_top = &cli_commands[0];

static void main_usage(FILE *out)
{
	fputs("usage: fleetprof <command> [options]\n"
	      "\n"
	      "Fleet-wide function profiler: where does the fleet spend its\n"
	      "time, and what got slower? pstats' numbers for every host and\n"
	      "service over any time window.\n"
	      "\n"
	      "commands:\n",
	      out);
	for (const struct cli_command *c = cli_commands; c->name != NULL; c++)
		fprintf(out, "  %-12s  %s\n", c->name, c->summary);
	fprintf(out, "  %-12s  %s\n", "import", cli_import_summary);
	fprintf(out, "  %-12s  %s\n", "serve", cli_serve_summary);
	fputs("\n"
	      "options:\n"
	      "  -h, --help    show this help and exit\n"
	      "  --version     show the version and exit\n"
	      "\n"
	      "Run 'fleetprof <command> --help' for the options of a "
	      "command.\n",
	      out);
}

/* Parses argv for cmd and runs it; returns the exit status. */
static int run_command(const struct cli_command *cmd, int argc, char **argv,
		       FILE *out, FILE *err)
{
	struct cli_args a;
	struct cli_error e;
	int status;

	cli_error_clear(&e);
	if (cli_args_parse(cmd, argc, argv, &a, &e) != 0) {
		cli_error_print(&e, err);
		return CLI_EXIT_USAGE;
	}
	if (a.help) {
		fputs(cmd->usage, out);
		cli_args_fini(&a);
		return CLI_EXIT_OK;
	}
	/* The database's own text is shown only with --verbose. */
	fp_log_set_level(a.verbose ? FP_LOG_INFO : FP_LOG_ERR - 1);
	status = cmd->run(&a, out, err, &e);
	if (status != CLI_EXIT_OK)
		cli_error_print(&e, err);
	cli_args_fini(&a);
	return status;
}

void cli_error_clear(struct cli_error *e)
{
	e->msg[0] = e->detail[0] = e->hint[0] = '\0';
	e->code = 0;
}

void cli_error_set(struct cli_error *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void cli_error_detail(struct cli_error *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

void cli_error_hint(struct cli_error *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->hint, sizeof(e->hint), fmt, ap);
	va_end(ap);
}

void cli_error_print(const struct cli_error *e, FILE *err)
{
	fprintf(err, "fleetprof: error: %s\n", e->msg);
	if (e->detail[0] != '\0')
		fprintf(err, "detail: %s\n", e->detail);
	if (e->hint[0] != '\0')
		fprintf(err, "hint: %s\n", e->hint);
}

int cli_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_error e;
	const char *cmd;

	cli_error_clear(&e);
	if (argc < 2) {
		main_usage(err);
		return CLI_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		main_usage(out);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		fputs("fleetprof " FP_VERSION "\n", out);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "import") == 0) /* its own options: --at, --force */
		return cli_import_main(argc - 1, argv + 1, out, err);
	if (strcmp(cmd, "serve") == 0) /* its own options: --listen */
		return cli_serve_main(argc - 1, argv + 1, out, err);
	for (const struct cli_command *c = cli_commands; c->name != NULL; c++)
		if (strcmp(cmd, c->name) == 0)
			return run_command(c, argc - 1, argv + 1, out, err);
	if (cmd[0] == '-')
		cli_error_set(&e, "unknown option '%s'", cmd);
	else
		cli_error_set(&e, "unknown command '%s'", cmd);
	cli_error_hint(&e, "run 'fleetprof --help' for the commands");
	cli_error_print(&e, err);
	return CLI_EXIT_USAGE;
}
