/*
 * /api/<endpoint> as the query command of that name (see cli_serve_api.h).
 * Each endpoint lists the parameters it takes; anything else, a repeated
 * single-valued parameter or a parameter without a value is refused before
 * a command line is made, and cli_args_parse then checks the values as it
 * does for the CLI. Values reach the command as "--name=value", so no value
 * can be mistaken for an option, and a function name goes after "--".
 */
#include "cli_serve_api.h"
#include "cli_out.h"
#include "cli_serve_query.h"
#include "fp/error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parameter groups, as the CLI's option sets. */
enum {
	P_WINDOW = 1u << 0, /* since, from, until */
	P_FILTER = 1u << 1, /* host, service, label, clock */
	P_SORT = 1u << 2,
	P_GROUP = 1u << 3,
	P_FUNCTION = 1u << 4,
	P_MATCH = 1u << 5,
	P_LIMIT = 1u << 6,
	P_TREE = 1u << 7, /* depth, min-percent */
	P_BASE = 1u << 8, /* base-offset, base-from, base-until, threshold */
	P_STEP = 1u << 9,
};

static const struct param {
	const char *name; /* the CLI's long option */
	unsigned group;
	int repeatable;
} params[] = {
	{"since", P_WINDOW, 0},	    {"from", P_WINDOW, 0},
	{"until", P_WINDOW, 0},	    {"host", P_FILTER, 1},
	{"service", P_FILTER, 0},   {"label", P_FILTER, 1},
	{"clock", P_FILTER, 0},	    {"sort", P_SORT, 0},
	{"group-by", P_GROUP, 0},   {"function", P_FUNCTION, 0},
	{"match", P_MATCH, 0},	    {"limit", P_LIMIT, 0},
	{"depth", P_TREE, 0},	    {"min-percent", P_TREE, 0},
	{"base-offset", P_BASE, 0}, {"base-from", P_BASE, 0},
	{"base-until", P_BASE, 0},  {"threshold", P_BASE, 0},
	{"step", P_STEP, 0},
};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

/* How an endpoint takes `function`. */
enum fn_mode {
	FN_OPTION = 0, /* top: --function NAME (optional) */
	FN_SUBTREE,    /* flame: optional; with it, `tree NAME` */
	FN_REQUIRED,   /* timeline, callers, callees: the positional FN */
};

static const struct endpoint {
	const char *name;
	const char *command;
	const char *fn_command; /* FN_SUBTREE: the command given a function */
	unsigned groups;
	int fn;
} endpoints[] = {
	{"top", "top", NULL,
	 P_WINDOW | P_FILTER | P_SORT | P_GROUP | P_FUNCTION | P_MATCH |
		 P_LIMIT,
	 FN_OPTION},
	{"flame", "flame", "tree", P_WINDOW | P_FILTER | P_TREE | P_FUNCTION,
	 FN_SUBTREE},
	{"diff", "diff", NULL, P_WINDOW | P_FILTER | P_BASE | P_MATCH | P_LIMIT,
	 FN_OPTION},
	{"timeline", "timeline", NULL,
	 P_WINDOW | P_FILTER | P_STEP | P_FUNCTION, FN_REQUIRED},
	{"callers", "callers", NULL,
	 P_WINDOW | P_FILTER | P_SORT | P_LIMIT | P_FUNCTION, FN_REQUIRED},
	{"callees", "callees", NULL,
	 P_WINDOW | P_FILTER | P_SORT | P_LIMIT | P_FUNCTION, FN_REQUIRED},
	{"hosts", "hosts", NULL, P_WINDOW | P_FILTER, FN_OPTION},
	{"services", "services", NULL, P_WINDOW | P_FILTER, FN_OPTION},
};
#define NENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

const char cli_api_endpoints[] =
	"/api/top, /api/flame, /api/diff, /api/timeline, /api/callers, "
	"/api/callees, /api/hosts, /api/services";

void cli_api_reply_fini(struct cli_api_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

void cli_api_error(struct cli_api_reply *r, int status,
		   const struct cli_error *e)
{
	static const char oom[] = "{\"error\": \"out of memory\", "
				  "\"hint\": \"retry in a moment\"}\n";
	json_t *o = json_object();
	char *s = NULL;
	int bad = o == NULL;

	r->status = status;
	r->body = NULL;
	r->len = 0;
	if (!bad) {
		bad |= json_object_set_new(o, "error", cli_jstr(e->msg));
		bad |= json_object_set_new(o, "hint", cli_jstr(e->hint));
		if (e->detail[0] != '\0')
			bad |= json_object_set_new(o, "detail",
						   cli_jstr(e->detail));
	}
	if (!bad)
		s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (s != NULL) {
		size_t n = strlen(s);
		r->body = realloc(s, n + 2);
		if (r->body == NULL) {
			free(s);
		} else {
			r->body[n] = '\n';
			r->body[n + 1] = '\0';
			r->len = n + 1;
			return;
		}
	}
	r->body = malloc(sizeof(oom));
	if (r->body != NULL) {
		memcpy(r->body, oom, sizeof(oom));
		r->len = sizeof(oom) - 1;
	}
}

static int fail(struct cli_api_reply *r, int status, struct cli_error *e)
{
	cli_api_error(r, status, e);
	return -1;
}

static const struct param *find_param(const char *name)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (strcmp(params[i].name, name) == 0)
			return &params[i];
	return NULL;
}

/* "since, from, until, …" for endpoint ep. */
static void list_params(const struct endpoint *ep, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NPARAMS && o < len; i++)
		if (ep->groups & params[i].group)
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
					      o > 0 ? ", " : "",
					      params[i].name);
}

static const struct cli_command *find_command(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* "--name=value" as a new string; NULL when out of memory. */
static char *option(const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 4;
	char *s = malloc(len);

	if (s != NULL)
		snprintf(s, len, "--%s=%s", name, value);
	return s;
}

/* Checks q against ep; fills e and returns -1 on a bad parameter. */
static int check_params(const struct endpoint *ep, const struct cli_query *q,
			const char **fn, struct cli_error *e)
{
	char list[256];

	*fn = NULL;
	for (size_t i = 0; i < q->n; i++) {
		const struct param *p = find_param(q->p[i].name);

		if (p == NULL || !(ep->groups & p->group)) {
			list_params(ep, list, sizeof(list));
			cli_error_set(e, "unknown parameter '%s' for /api/%s",
				      q->p[i].name, ep->name);
			cli_error_hint(e, "/api/%s takes: %s", ep->name, list);
			return -1;
		}
		if (!q->p[i].has_value) {
			cli_error_set(e, "parameter '%s' needs a value",
				      p->name);
			cli_error_hint(e, "write %s=VALUE", p->name);
			return -1;
		}
		for (size_t k = 0; k < i && !p->repeatable; k++)
			if (strcmp(q->p[k].name, p->name) == 0) {
				cli_error_set(e, "parameter '%s' given twice",
					      p->name);
				cli_error_hint(e, "give it once; only host "
						  "and label may repeat");
				return -1;
			}
		if (p->group == P_FUNCTION)
			*fn = q->p[i].value;
	}
	if (ep->fn == FN_REQUIRED && *fn == NULL) {
		cli_error_set(e, "missing parameter 'function'");
		cli_error_hint(
			e, "give the function's name: /api/%s?function=NAME",
			ep->name);
		return -1;
	}
	return 0;
}

/* The command line for ep and q into c; 0 or FP_ENOMEM. */
static int make_argv(const struct endpoint *ep, const struct cli_query *q,
		     const char *fn, const char *db, struct cli_api_call *c)
{
	const int positional = fn != NULL && ep->fn != FN_OPTION;
	/* command, the parameters, --format, --db, "--", FN */
	c->argv = calloc(q->n + 5, sizeof(*c->argv));
	if (c->argv == NULL)
		return FP_ENOMEM;
	c->argv[c->argc] = strdup(c->cmd->name);
	if (c->argv[c->argc++] == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < q->n; i++) {
		if (positional && strcmp(q->p[i].name, "function") == 0)
			continue;
		c->argv[c->argc] = option(q->p[i].name, q->p[i].value);
		if (c->argv[c->argc++] == NULL)
			return FP_ENOMEM;
	}
	c->argv[c->argc] = strdup("--format=json");
	if (c->argv[c->argc++] == NULL)
		return FP_ENOMEM;
	if (db != NULL) {
		c->argv[c->argc] = option("db", db);
		if (c->argv[c->argc++] == NULL)
			return FP_ENOMEM;
	}
	if (positional) {
		c->argv[c->argc] = strdup("--");
		if (c->argv[c->argc++] == NULL)
			return FP_ENOMEM;
		c->argv[c->argc] = strdup(fn);
		if (c->argv[c->argc++] == NULL)
			return FP_ENOMEM;
	}
	return 0;
}

int cli_api_prepare(const char *name, const char *query, const char *db,
		    struct cli_api_call *c, struct cli_api_reply *r)
{
	const struct endpoint *ep = NULL;
	struct cli_query q;
	struct cli_error e;
	const char *fn;
	int rc;

	memset(c, 0, sizeof(*c));
	cli_error_clear(&e);
	for (size_t i = 0; i < NENDPOINTS && ep == NULL; i++)
		if (strcmp(endpoints[i].name, name) == 0)
			ep = &endpoints[i];
	if (ep == NULL) {
		cli_error_set(&e, "no such endpoint");
		cli_error_hint(&e, "the API has %s", cli_api_endpoints);
		return fail(r, 404, &e);
	}
	if ((rc = cli_query_parse(query, &q, &e)) != 0) {
		if (rc == FP_ENOMEM) {
			cli_error_set(&e, "out of memory");
			cli_error_hint(&e, "retry in a moment");
		}
		return fail(r, rc == FP_ENOMEM ? 500 : 400, &e);
	}
	if (check_params(ep, &q, &fn, &e) != 0) {
		cli_query_fini(&q);
		return fail(r, 400, &e);
	}
	c->cmd =
		find_command(ep->fn == FN_SUBTREE && fn != NULL ? ep->fn_command
								: ep->command);
	rc = c->cmd != NULL ? make_argv(ep, &q, fn, db, c) : FP_EINVAL;
	cli_query_fini(&q);
	if (rc != 0) {
		cli_error_set(&e, "out of memory");
		cli_error_hint(&e, "retry in a moment");
		return fail(r, 500, &e);
	}
	if (cli_args_parse(c->cmd, c->argc, c->argv, &c->args, &e) != 0)
		return fail(r, 400, &e);
	c->parsed = 1;
	return 0;
}

void cli_api_call_fini(struct cli_api_call *c)
{
	if (c->parsed)
		cli_args_fini(&c->args);
	for (int i = 0; c->argv != NULL && i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	memset(c, 0, sizeof(*c));
}

/* The HTTP status of a failed command. */
static int status_of(int exit, int code)
{
	if (exit == CLI_EXIT_USAGE)
		return 400;
	switch (code) {
	case FP_EDBDOWN:
		return 503;
	case FP_ENOTFOUND:
		return 404;
	case FP_EINVAL:
	case FP_ESYNTAX:
	case FP_ELIMIT:
		return 400;
	default:
		return 500;
	}
}

void cli_api_run(struct cli_api_call *c, struct cli_api_reply *r)
{
	struct cli_error e;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int st, status;

	cli_error_clear(&e);
	out = open_memstream(&buf, &len);
	if (out == NULL) {
		cli_error_set(&e, "out of memory");
		cli_error_hint(&e, "retry in a moment");
		cli_api_error(r, 500, &e);
		return;
	}
	/* Messages go to err only with --verbose or --explain: never here. */
	st = c->cmd->run(&c->args, out, stderr, &e);
	if (fclose(out) != 0 && st == CLI_EXIT_OK) {
		cli_error_set(&e, "out of memory");
		st = CLI_EXIT_RUNTIME;
	}
	if (st == CLI_EXIT_OK) {
		r->status = 200;
		r->body = buf;
		r->len = len;
		return;
	}
	free(buf);
	status = status_of(st, e.code);
	/* The CLI's hints name its own flags; say what fits a server. */
	if (status == 503)
		cli_error_hint(&e, "check that PostgreSQL is running and that "
				   "fleetprof serve's --db (or FLEETPROF_DB, "
				   "PG*) points at it; the server logs why "
				   "when run with --verbose");
	else if (status == 500)
		cli_error_hint(&e, "the server logs the database's message "
				   "when run with --verbose");
	else if (e.code == FP_ESYNTAX)
		cli_error_hint(&e, "match takes a PostgreSQL regular "
				   "expression, e.g. ^parse_");
	cli_api_error(r, status, &e);
}
