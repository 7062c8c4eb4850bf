/*
 * The fleetprof command's front door: global --help and --version, command
 * dispatch, and the one place errors are printed (PostgreSQL's style: a
 * short primary message, then detail, then hint). No state; everything goes
 * to the streams the caller passes.
 */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

#ifndef FP_VERSION
#define FP_VERSION "unknown"
#endif

static const char main_usage[] =
	"usage: fleetprof <command> [options]\n"
	"\n"
	"Fleet-wide function profiler: rank the hot functions of every host\n"
	"and service over any time window.\n"
	"\n"
	"commands:\n"
	"  top           rank functions by time or calls over a window\n"
	"\n"
	"options:\n"
	"  -h, --help    show this help and exit\n"
	"  --version     show the version and exit\n"
	"\n"
	"Run 'fleetprof <command> --help' for the options of a command.\n";

static const struct {
	const char *name;
	int (*run)(int argc, char **argv, FILE *out, FILE *err);
} commands[] = {
	{"top", cli_top_main},
};

void cli_error_clear(struct cli_error *e)
{
	e->msg[0] = e->detail[0] = e->hint[0] = '\0';
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
		fputs(main_usage, err);
		return CLI_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(main_usage, out);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		fputs("fleetprof " FP_VERSION "\n", out);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1, out, err);
	if (cmd[0] == '-')
		cli_error_set(&e, "unknown option '%s'", cmd);
	else
		cli_error_set(&e, "unknown command '%s'", cmd);
	cli_error_hint(&e, "run 'fleetprof --help' for the commands");
	cli_error_print(&e, err);
	return CLI_EXIT_USAGE;
}
