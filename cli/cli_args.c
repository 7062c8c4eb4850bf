/*
 * Option parsing for `fleetprof top`, by hand rather than getopt_long:
 * getopt keeps global state (optind) that makes repeated parsing in unit
 * tests fragile, permutes argv, and prints its own messages; ours must be
 * "fleetprof: error: …" plus a hint. Values may start with '-' ("-2h") but
 * never with "--", so a forgotten value is reported, not swallowed.
 */
#include "cli_args.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "storage/query.h"
#include "wire/batch.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

const char cli_top_usage[] =
	"usage: fleetprof top [options]\n"
	"\n"
	"Rank functions by time or calls, summed over every matching process\n"
	"of every host in a time window (cProfile semantics, as in pstats).\n"
	"\n"
	"window (default: the last 15 minutes):\n"
	"  --since DURATION   the last DURATION (15m, 2h, 1d); not with\n"
	"                     --from/--until\n"
	"  --from TIME        start: RFC 3339 (2026-11-24T10:00:00Z), a date,\n"
	"                     or a time ago (2h, \"30m ago\")\n"
	"  --until TIME       end, exclusive (default: now)\n"
	"  Data is kept in 60 s buckets: the window is widened to whole\n"
	"  buckets, and the table's first line shows the exact one.\n"
	"\n"
	"filters:\n"
	"  --host GLOB        only hosts matching GLOB (* and ?); repeatable\n"
	"  --service NAME     only this service\n"
	"  --clock wall|cpu   which clock's timings (default: wall)\n"
	"\n"
	"output:\n"
	"  --sort KEY         tottime (default), cumtime, ncalls, pcalls,\n"
	"                     percall, cumpercall; all descending\n"
	"  --limit N          at most N functions (default: 20; 0: all)\n"
	"  --format FORMAT    table (default), json or csv\n"
	"\n"
	"connection:\n"
	"  --db CONNINFO      libpq conninfo or URL (default: $FLEETPROF_DB,\n"
	"                     then libpq's PG* variables)\n"
	"  -v, --verbose      show the database's messages on errors\n"
	"  -h, --help         show this help and exit\n"
	"\n"
	"Exit status: 0 success, 1 runtime error (database, no data for a\n"
	"host), 2 usage error.\n";

enum opt_id {
	OPT_SINCE,
	OPT_FROM,
	OPT_UNTIL,
	OPT_HOST,
	OPT_SERVICE,
	OPT_CLOCK,
	OPT_SORT,
	OPT_LIMIT,
	OPT_FORMAT,
	OPT_DB,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct opt {
	const char *name; /* long name without "--" */
	char short_name;  /* 0: none */
	int has_value;
	enum opt_id id;
} opts[] = {
	{"since", 0, 1, OPT_SINCE},	  {"from", 0, 1, OPT_FROM},
	{"until", 0, 1, OPT_UNTIL},	  {"host", 0, 1, OPT_HOST},
	{"service", 0, 1, OPT_SERVICE},	  {"clock", 0, 1, OPT_CLOCK},
	{"sort", 0, 1, OPT_SORT},	  {"limit", 0, 1, OPT_LIMIT},
	{"format", 0, 1, OPT_FORMAT},	  {"db", 0, 1, OPT_DB},
	{"verbose", 'v', 0, OPT_VERBOSE}, {"help", 'h', 0, OPT_HELP},
};

static const char *const format_names[] = {
	[CLI_FORMAT_TABLE] = "table",
	[CLI_FORMAT_JSON] = "json",
	[CLI_FORMAT_CSV] = "csv",
};

static const char help_hint[] = "run 'fleetprof top --help' for the options";

/* Finds "--name[=value]" or "-x"; *value set to the text after '='. */
static const struct opt *find_opt(const char *arg, const char **value)
{
	*value = NULL;
	if (arg[0] == '-' && arg[1] == '-') {
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			if (strlen(opts[i].name) == len &&
			    memcmp(opts[i].name, name, len) == 0) {
				*value = eq != NULL ? eq + 1 : NULL;
				return &opts[i];
			}
		}
		return NULL;
	}
	if (arg[0] == '-' && arg[1] != '\0' && arg[2] == '\0')
		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			if (opts[i].short_name == arg[1])
				return &opts[i];
	return NULL;
}

int cli_parse_limit(const char *s, long *out)
{
	long v = 0;

	if (s == NULL || *s == '\0')
		return FP_EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return FP_EINVAL;
		if (v > (LONG_MAX - (*s - '0')) / 10)
			return FP_EINVAL;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

static int parse_format(const char *s)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]);
	     i++)
		if (strcmp(s, format_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Applies one option with its value; fills e and returns FP_EINVAL. */
static int apply(struct cli_top_args *a, const struct opt *o, const char *v,
		 struct cli_error *e)
{
	switch (o->id) {
	case OPT_SINCE:
		a->since = v;
		break;
	case OPT_FROM:
		a->from = v;
		break;
	case OPT_UNTIL:
		a->until = v;
		break;
	case OPT_HOST:
		if (v[0] == '\0') {
			cli_error_set(e, "empty host pattern");
			cli_error_hint(e, "give a host name or a glob such as "
					  "'web-*'");
			return FP_EINVAL;
		}
		a->hosts[a->nhosts++] = v;
		break;
	case OPT_SERVICE:
		if (v[0] == '\0') {
			cli_error_set(e, "empty service name");
			cli_error_hint(e, "leave out --service for every "
					  "service");
			return FP_EINVAL;
		}
		a->service = v;
		break;
	case OPT_CLOCK:
		a->clock = wire_clock_parse(v, strlen(v));
		if (a->clock < 0) {
			cli_error_set(e, "unknown clock '%s'", v);
			cli_error_hint(e, "use wall or cpu");
			return FP_EINVAL;
		}
		break;
	case OPT_SORT:
		a->sort = storage_sort_parse(v);
		if (a->sort < 0) {
			cli_error_set(e, "unknown sort key '%s'", v);
			cli_error_hint(e, "use tottime, cumtime, ncalls, "
					  "pcalls, percall or cumpercall");
			return FP_EINVAL;
		}
		break;
	case OPT_LIMIT:
		if (cli_parse_limit(v, &a->limit) != 0) {
			cli_error_set(e, "invalid limit '%s'", v);
			cli_error_hint(e, "give a whole number of functions "
					  "(0: all)");
			return FP_EINVAL;
		}
		break;
	case OPT_FORMAT:
		a->format = parse_format(v);
		if (a->format < 0) {
			cli_error_set(e, "unknown format '%s'", v);
			cli_error_hint(e, "use table, json or csv");
			return FP_EINVAL;
		}
		break;
	case OPT_DB:
		a->db = v;
		break;
	case OPT_VERBOSE:
		a->verbose = 1;
		break;
	case OPT_HELP:
		a->help = 1;
		break;
	}
	return 0;
}

/* A command-line mistake about arg: message plus the pointer to --help. */
static int bad_arg(struct cli_error *e, const char *fmt, const char *arg)
{
	cli_error_set(e, fmt, arg);
	cli_error_hint(e, "%s", help_hint);
	return FP_EINVAL;
}

int cli_top_args_parse(int argc, char **argv, struct cli_top_args *a,
		       struct cli_error *e)
{
	struct cli_top_args t;
	int rc = 0;

	memset(&t, 0, sizeof(t));
	t.sort = STORAGE_SORT_TOTTIME;
	t.limit = CLI_DEFAULT_LIMIT;
	t.format = CLI_FORMAT_TABLE;
	t.clock = WIRE_CLOCK_WALL;
	/* At most one host per argument. */
	t.hosts = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*t.hosts));
	if (t.hosts == NULL) {
		cli_error_set(e, "out of memory");
		return FP_ENOMEM;
	}
	for (int i = 1; i < argc && !t.help && rc == 0; i++) {
		const char *arg = argv[i], *v;
		const struct opt *o;

		if (strcmp(arg, "--") == 0) {
			/* Nothing positional is accepted after it either. */
			if (i + 1 < argc)
				rc = bad_arg(e, "unexpected argument '%s'",
					     argv[i + 1]);
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			rc = bad_arg(e, "unexpected argument '%s'", arg);
			break;
		}
		o = find_opt(arg, &v);
		if (o == NULL) {
			rc = bad_arg(e, "unknown option '%s'", arg);
		} else if (!o->has_value && v != NULL) {
			rc = bad_arg(e, "option '--%s' takes no value",
				     o->name);
		} else if (o->has_value && v == NULL &&
			   (i + 1 == argc ||
			    strncmp(argv[i + 1], "--", 2) == 0)) {
			rc = bad_arg(e, "option '--%s' needs a value", o->name);
		} else {
			if (o->has_value && v == NULL)
				v = argv[++i];
			rc = apply(&t, o, v, e);
		}
	}
	if (rc != 0) {
		free(t.hosts);
		return rc;
	}
	*a = t;
	return 0;
}

void cli_top_args_fini(struct cli_top_args *a)
{
	free(a->hosts);
	a->hosts = NULL;
	a->nhosts = 0;
}

static const char time_hint[] =
	"use RFC 3339 (2026-11-24T10:00:00Z), a date (2026-11-24), 'now' "
	"or a time ago (2h, '30m ago')";

int cli_window_resolve(const char *since, const char *from, const char *until,
		       int64_t now_ns, struct cli_window *w,
		       struct cli_error *e)
{
	int64_t f, u = now_ns, d;

	if (since != NULL && (from != NULL || until != NULL)) {
		cli_error_set(e, "--since cannot be combined with --%s",
			      from != NULL ? "from" : "until");
		cli_error_hint(e, "give either --since DURATION or --from TIME "
				  "[--until TIME]");
		return FP_EINVAL;
	}
	if (since != NULL) {
		if (fp_parse_duration(since, &d) != 0) {
			cli_error_set(e, "invalid duration '%s' for --since",
				      since);
			cli_error_hint(e, "use a number and a unit: 90s, 15m, "
					  "2h, 1d, 1h30m");
			return FP_EINVAL;
		}
		f = now_ns - d;
	} else {
		if (until != NULL && fp_parse_time(until, now_ns, &u) != 0) {
			cli_error_set(e, "invalid time '%s' for --until",
				      until);
			cli_error_hint(e, "%s", time_hint);
			return FP_EINVAL;
		}
		if (from != NULL) {
			if (fp_parse_time(from, now_ns, &f) != 0) {
				cli_error_set(e, "invalid time '%s' for --from",
					      from);
				cli_error_hint(e, "%s", time_hint);
				return FP_EINVAL;
			}
		} else {
			fp_parse_duration(CLI_DEFAULT_SINCE, &d);
			f = u - d;
		}
	}
	if (f >= u) {
		char fb[32], ub[32];
		fp_format_time(f, fb, sizeof(fb));
		fp_format_time(u, ub, sizeof(ub));
		cli_error_set(e, "empty window: %s is not before %s", fb, ub);
		cli_error_hint(e, "--from must be earlier than --until");
		return FP_EINVAL;
	}
	w->from_ns = f;
	w->until_ns = u;
	return 0;
}
