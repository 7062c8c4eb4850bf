/*
 * Option parsing for every fleetprof command, by hand rather than
 * getopt_long: getopt keeps global state (optind) that makes repeated
 * parsing in unit tests fragile, permutes argv, and prints its own
 * messages; ours must be "fleetprof: error: …" plus a hint. Values may start
 * with '-' ("-2h") but never with "--", so a forgotten value is reported.
 */
#include "cli_args.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "storage/query.h"
#include "wire/batch.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum opt_id {
	OPT_SINCE,
	OPT_FROM,
	OPT_UNTIL,
	OPT_HOST,
	OPT_SERVICE,
	OPT_LABEL,
	OPT_CLOCK,
	OPT_SORT,
	OPT_GROUP,
	OPT_FUNCTION,
	OPT_MATCH,
	OPT_LIMIT,
	OPT_FORMAT,
	OPT_OUTPUT,
	OPT_DEPTH,
	OPT_MIN_PERCENT,
	OPT_BASE_FROM,
	OPT_BASE_UNTIL,
	OPT_BASE_OFFSET,
	OPT_THRESHOLD,
	OPT_STEP,
	OPT_DB,
	OPT_VERBOSE,
	OPT_EXPLAIN,
	OPT_HELP,
};

static const struct opt {
	const char *name; /* long name without "--" */
	char short_name;  /* 0: none */
	int has_value;
	enum opt_id id;
	unsigned needs; /* CLI_OPTS_* the command must take; 0: common */
} opts[] = {
	{"since", 0, 1, OPT_SINCE, 0},
	{"from", 0, 1, OPT_FROM, 0},
	{"until", 0, 1, OPT_UNTIL, 0},
	{"host", 0, 1, OPT_HOST, 0},
	{"service", 0, 1, OPT_SERVICE, 0},
	{"label", 0, 1, OPT_LABEL, 0},
	{"clock", 0, 1, OPT_CLOCK, 0},
	{"sort", 0, 1, OPT_SORT, CLI_OPTS_SORT},
	{"group-by", 0, 1, OPT_GROUP, CLI_OPTS_GROUP},
	{"function", 0, 1, OPT_FUNCTION, CLI_OPTS_GROUP},
	{"match", 0, 1, OPT_MATCH, CLI_OPTS_MATCH},
	{"limit", 0, 1, OPT_LIMIT, CLI_OPTS_LIMIT},
	{"format", 0, 1, OPT_FORMAT, 0},
	{"output", 'o', 1, OPT_OUTPUT, CLI_OPTS_EXPORT},
	{"depth", 0, 1, OPT_DEPTH, CLI_OPTS_TREE},
	{"min-percent", 0, 1, OPT_MIN_PERCENT, CLI_OPTS_TREE},
	{"base-from", 0, 1, OPT_BASE_FROM, CLI_OPTS_BASE},
	{"base-until", 0, 1, OPT_BASE_UNTIL, CLI_OPTS_BASE},
	{"base-offset", 0, 1, OPT_BASE_OFFSET, CLI_OPTS_BASE},
	{"threshold", 0, 1, OPT_THRESHOLD, CLI_OPTS_BASE},
	{"step", 0, 1, OPT_STEP, CLI_OPTS_STEP},
	{"db", 0, 1, OPT_DB, 0},
	{"verbose", 'v', 0, OPT_VERBOSE, 0},
	{"explain", 0, 0, OPT_EXPLAIN, 0},
	{"help", 'h', 0, OPT_HELP, 0},
};

static const char *const format_names[] = {
	[CLI_FORMAT_TABLE] = "table",
	[CLI_FORMAT_JSON] = "json",
	[CLI_FORMAT_CSV] = "csv",
};

static const char *const export_names[] = {
	[CLI_EXPORT_FOLDED] = "folded",
	[CLI_EXPORT_SPEEDSCOPE] = "speedscope",
	[CLI_EXPORT_PSTATS] = "pstats",
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* Finds "--name[=value]" or "-x"; *value set to the text after '='. */
static const struct opt *find_opt(const char *arg, const char **value)
{
	*value = NULL;
	if (arg[0] == '-' && arg[1] == '-') {
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		for (size_t i = 0; i < NOPTS; i++) {
			if (strlen(opts[i].name) == len &&
			    memcmp(opts[i].name, name, len) == 0) {
				*value = eq != NULL ? eq + 1 : NULL;
				return &opts[i];
			}
		}
		return NULL;
	}
	if (arg[0] == '-' && arg[1] != '\0' && arg[2] == '\0')
		for (size_t i = 0; i < NOPTS; i++)
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

static int parse_name(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* A percentage 0..100 with optional decimals ("0.5"); -1 if invalid. */
static double parse_percent(const char *s)
{
	char *end;
	double v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	v = strtod(s, &end);
	if (*end == '%')
		end++;
	if (*end != '\0' || !(v >= 0 && v <= 100))
		return -1;
	return v;
}

static int invalid(struct cli_error *e, const char *msg, const char *v,
		   const char *hint)
{
	cli_error_set(e, msg, v);
	cli_error_hint(e, "%s", hint);
	return FP_EINVAL;
}

/* Applies one option with its value; fills e and returns FP_EINVAL. */
static int apply(struct cli_args *a, const struct opt *o, const char *v,
		 struct cli_error *e)
{
	const int export = (a->cmd->opts & CLI_OPTS_EXPORT) != 0;

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
		if (v[0] == '\0')
			return invalid(e, "empty host pattern%s", "",
				       "give a host name or a glob such as "
				       "'web-*'");
		a->hosts[a->nhosts++] = v;
		break;
	case OPT_SERVICE:
		if (v[0] == '\0')
			return invalid(e, "empty service name%s", "",
				       "leave out --service for every "
				       "service");
		a->service = v;
		break;
	case OPT_LABEL:
		if (v[0] == '=' || strchr(v, '=') == NULL)
			return invalid(e, "invalid label '%s'", v,
				       "give KEY=VALUE, e.g. --label "
				       "region=eu; repeat for more");
		a->labels[a->nlabels++] = v;
		break;
	case OPT_CLOCK:
		a->clock = wire_clock_parse(v, strlen(v));
		if (a->clock < 0)
			return invalid(e, "unknown clock '%s'", v,
				       "use wall or cpu");
		break;
	case OPT_SORT:
		a->sort = storage_sort_parse(v);
		if (a->sort < 0)
			return invalid(e, "unknown sort key '%s'", v,
				       "use tottime, cumtime, ncalls, "
				       "pcalls, percall or cumpercall");
		break;
	case OPT_GROUP:
		a->group = storage_group_parse(v);
		if (a->group < 0)
			return invalid(e, "unknown grouping '%s'", v,
				       "use function, host or service");
		break;
	case OPT_FUNCTION:
		if (v[0] == '\0')
			return invalid(e, "empty function name%s", "",
				       "give a function name, e.g. "
				       "--function parse_request");
		a->function = v;
		break;
	case OPT_MATCH:
		a->match = v;
		break;
	case OPT_LIMIT:
		if (cli_parse_limit(v, &a->limit) != 0)
			return invalid(e, "invalid limit '%s'", v,
				       "give a whole number of functions "
				       "(0: all)");
		break;
	case OPT_FORMAT:
		a->format = export ? parse_name(v, export_names, 3)
				   : parse_name(v, format_names, 3);
		if (a->format < 0)
			return invalid(e, "unknown format '%s'", v,
				       export ? "use folded, speedscope or "
						"pstats"
					      : "use table, json or csv");
		break;
	case OPT_OUTPUT:
		a->output = v;
		break;
	case OPT_DEPTH:
		if (cli_parse_limit(v, &a->depth) != 0)
			return invalid(e, "invalid depth '%s'", v,
				       "give a whole number of levels below "
				       "the root");
		break;
	case OPT_MIN_PERCENT:
		a->min_percent = parse_percent(v);
		if (a->min_percent < 0)
			return invalid(e, "invalid percentage '%s'", v,
				       "give a number from 0 to 100, e.g. "
				       "--min-percent 1.5");
		break;
	case OPT_BASE_FROM:
		a->base_from = v;
		break;
	case OPT_BASE_UNTIL:
		a->base_until = v;
		break;
	case OPT_BASE_OFFSET:
		a->base_offset = v;
		break;
	case OPT_THRESHOLD:
		a->threshold = v;
		break;
	case OPT_STEP:
		a->step = v;
		break;
	case OPT_DB:
		a->db = v;
		break;
	case OPT_VERBOSE:
		a->verbose = 1;
		break;
	case OPT_EXPLAIN:
		a->explain = 1;
		break;
	case OPT_HELP:
		a->help = 1;
		break;
	}
	return 0;
}

/* A command-line mistake about arg: message plus the pointer to --help. */
static int bad_arg(const struct cli_args *a, struct cli_error *e,
		   const char *fmt, const char *arg)
{
	cli_error_set(e, fmt, arg);
	cli_error_hint(e, "run 'fleetprof %s --help' for the options",
		       a->cmd->name);
	return FP_EINVAL;
}

int cli_args_parse(const struct cli_command *cmd, int argc, char **argv,
		   struct cli_args *a, struct cli_error *e)
{
	const size_t slots = argc > 0 ? (size_t)argc : 1;
	struct cli_args t;
	int rc = 0, positional = 0;

	memset(&t, 0, sizeof(t));
	t.cmd = cmd;
	t.sort = STORAGE_SORT_TOTTIME;
	t.group = STORAGE_GROUP_FUNCTION;
	t.limit = (cmd->opts & CLI_OPTS_LIMIT) ? CLI_DEFAULT_LIMIT : 0;
	t.format = (cmd->opts & CLI_OPTS_EXPORT) ? CLI_EXPORT_FOLDED
						 : CLI_FORMAT_TABLE;
	t.clock = (cmd->opts & CLI_OPTS_ANYCLOCK) ? -1 : WIRE_CLOCK_WALL;
	t.depth = -1;
	/* At most one host or label per argument. */
	t.hosts = calloc(slots, sizeof(*t.hosts));
	t.labels = calloc(slots, sizeof(*t.labels));
	if (t.hosts == NULL || t.labels == NULL) {
		free(t.hosts);
		free(t.labels);
		cli_error_set(e, "out of memory");
		return FP_ENOMEM;
	}
	for (int i = 1; i < argc && !t.help && rc == 0; i++) {
		const char *arg = argv[i], *v;
		const struct opt *o;

		if (strcmp(arg, "--") == 0) {
			/* The rest is positional. */
			for (i++; i < argc && rc == 0; i++) {
				if (cmd->arg == NULL || positional)
					rc = bad_arg(&t, e,
						     "unexpected argument '%s'",
						     argv[i]);
				t.function = argv[i];
				positional = 1;
			}
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (cmd->arg == NULL || positional) {
				rc = bad_arg(&t, e, "unexpected argument '%s'",
					     arg);
				break;
			}
			t.function = arg;
			positional = 1;
			continue;
		}
		o = find_opt(arg, &v);
		if (o == NULL || (o->needs & cmd->opts) != o->needs) {
			rc = bad_arg(&t, e, "unknown option '%s'", arg);
		} else if (!o->has_value && v != NULL) {
			rc = bad_arg(&t, e, "option '--%s' takes no value",
				     o->name);
		} else if (o->has_value && v == NULL &&
			   (i + 1 == argc ||
			    strncmp(argv[i + 1], "--", 2) == 0)) {
			rc = bad_arg(&t, e, "option '--%s' needs a value",
				     o->name);
		} else {
			if (o->has_value && v == NULL)
				v = argv[++i];
			rc = apply(&t, o, v, e);
		}
	}
	if (rc == 0 && !t.help && cmd->arg != NULL && !positional) {
		cli_error_set(e, "missing %s", cmd->arg);
		cli_error_hint(e, "usage: fleetprof %s [options] %s", cmd->name,
			       cmd->arg);
		rc = FP_EINVAL;
	}
	if (rc == 0 && !t.help && cmd->arg != NULL &&
	    (t.function == NULL || t.function[0] == '\0')) {
		cli_error_set(e, "empty %s", cmd->arg);
		cli_error_hint(e, "give a function name");
		rc = FP_EINVAL;
	}
	if (rc != 0) {
		free(t.hosts);
		free(t.labels);
		return rc;
	}
	*a = t;
	return 0;
}

void cli_args_fini(struct cli_args *a)
{
	free(a->hosts);
	free(a->labels);
	a->hosts = NULL;
	a->labels = NULL;
	a->nhosts = a->nlabels = 0;
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
