/*
 * `fleetprof tree FN` and `fleetprof flame`: call paths as an indented
 * tree, from the path facts. tree FN merges every outermost call of FN;
 * flame starts at the entry functions. --depth and --min-percent prune;
 * JSON nests children, CSV gives one row per node with its whole path.
 */
#include "cli.h"
#include "cli_args.h"
#include "cli_out.h"
#include "cli_pathtree.h"
#include "cli_session.h"
#include "cli_units.h"
#include "cli_usage.h"
#include "fp/error.h"
#include "storage/query.h"

#include <stdlib.h>
#include <string.h>

#define TREE_OPTIONS                                                           \
	"output:\n"                                                            \
	"  --depth N          at most N levels below the top (default: all)\n" \
	"  --min-percent P    leave out paths under P% of the top's total\n"   \
	"                     time (and what is below "                        \
	"them)\n" CLI_USAGE_FORMAT CLI_USAGE_CONNECTION

const char cli_tree_usage[] =
	"usage: fleetprof tree [options] FN\n"
	"\n"
	"The call paths under FN over the fleet as an indented tree: every\n"
	"outermost call of FN merged, then what it called, level by level,\n"
	"with calls, self time and total time per path.\n"
	"\n" CLI_USAGE_WINDOW CLI_USAGE_FILTERS "\n" TREE_OPTIONS;

const char cli_flame_usage[] =
	"usage: fleetprof flame [options]\n"
	"\n"
	"Every call path of the window as an indented tree, from the entry\n"
	"functions down (a flame graph in text; 'fleetprof export' writes\n"
	"folded stacks and speedscope files).\n"
	"\n" CLI_USAGE_WINDOW CLI_USAGE_FILTERS "\n" TREE_OPTIONS;

struct walk {
	const struct cli_args *a;
	const struct cli_ptree *t;
	double ref_ns; /* 100% */
	int base;      /* depth shown as level 0 */
	FILE *out;
	struct cli_table *table;
	json_t *json;
	char **path; /* labels root..node, for CSV */
};

/* Shown: within --depth and at least --min-percent of the reference. */
static int shown(const struct walk *w, size_t i)
{
	const struct cli_pnode *nd = &w->t->nodes[i];

	if (w->a->depth >= 0 && nd->depth - w->base > w->a->depth)
		return 0;
	if (w->a->min_percent > 0 &&
	    nd->total_ns * 100.0 < w->a->min_percent * w->ref_ns)
		return 0;
	return 1;
}

static json_t *json_node(const struct cli_pnode *nd)
{
	json_t *o = json_object();
	int bad = o == NULL;

	if (bad)
		return NULL;
	bad |= cli_jset(o, "function", cli_jstr(nd->fn->name));
	bad |= cli_jset(o, "file", cli_jstr(nd->fn->file));
	bad |= cli_jset(o, "line", json_integer(nd->fn->line));
	bad |= cli_jset(o, "module", cli_jstr(nd->fn->module));
	bad |= cli_jset(o, "ncalls", cli_jcount(nd->ncalls));
	bad |= cli_jset(o, "self_s", json_real(nd->self_ns / 1e9));
	bad |= cli_jset(o, "total_s", json_real(nd->total_ns / 1e9));
	bad |= cli_jset(o, "children", json_array());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Emits node i (if shown) and its subtree; parent_json is the array the
 * node's object goes into. */
static int visit(struct walk *w, size_t i, json_t *parent_json)
{
	const struct cli_pnode *nd = &w->t->nodes[i];
	const int level = nd->depth - w->base;
	size_t *kids = NULL, nkids = 0;
	json_t *mine = NULL;
	char *label;
	int rc = 0;

	if (!shown(w, i))
		return 0;
	label = cli_function_label(nd->fn->name, nd->fn->file, nd->fn->line,
				   nd->fn->module);
	if (label == NULL)
		return FP_ENOMEM;
	if (w->a->format == CLI_FORMAT_TABLE) {
		char t[CLI_UNITS_BUFLEN], s[CLI_UNITS_BUFLEN], *ind;
		size_t len = strlen(label) + 2 * (size_t)level + 1;
		cli_format_duration(nd->total_ns, t, sizeof(t));
		cli_format_duration(nd->self_ns, s, sizeof(s));
		ind = malloc(len);
		if (ind == NULL) {
			free(label);
			return FP_ENOMEM;
		}
		memset(ind, ' ', 2 * (size_t)level);
		memcpy(ind + 2 * (size_t)level, label, strlen(label) + 1);
		cli_table_row(w->table);
		cli_table_set(w->table, 0, t, 0);
		cli_table_set(w->table, 1, s, 0);
		cli_table_setf(w->table, 2, 0, "%llu",
			       (unsigned long long)nd->ncalls);
		cli_table_setf(w->table, 3, 0, "%.1f%%",
			       w->ref_ns > 0 ? 100.0 * nd->total_ns / w->ref_ns
					     : 0.0);
		cli_table_set(w->table, 4, ind, 0);
		free(ind);
	} else if (w->a->format == CLI_FORMAT_JSON) {
		mine = json_node(nd);
		if (mine == NULL || json_array_append_new(parent_json, mine)) {
			free(label);
			return FP_ENOMEM;
		}
	} else {
		fprintf(w->out, "%d,", level);
		for (int k = 0; k < level; k++) {
			cli_csv_field(w->out, w->path[k]);
			fputc(';', w->out);
		}
		cli_csv_field(w->out, label);
		fputc(',', w->out);
		cli_csv_field(w->out, nd->fn->name);
		fputc(',', w->out);
		cli_csv_field(w->out, nd->fn->file);
		fprintf(w->out, ",%d,", (int)nd->fn->line);
		cli_csv_field(w->out, nd->fn->module);
		fprintf(w->out, ",%llu,", (unsigned long long)nd->ncalls);
		cli_csv_seconds(w->out, nd->self_ns);
		fputc(',', w->out);
		cli_csv_seconds(w->out, nd->total_ns);
		fputc('\n', w->out);
	}
	w->path[level] = label;
	if ((rc = cli_ptree_children(w->t, i, &kids, &nkids)) == 0)
		for (size_t k = 0; k < nkids && rc == 0; k++)
			rc = visit(w, kids[k],
				   mine ? json_object_get(mine, "children")
					: NULL);
	free(kids);
	free(label);
	return rc;
}

static int run(const struct cli_args *a, const char *fn, FILE *out, FILE *err,
	       struct cli_error *e)
{
	static const char *const heads[] = {"total", "self", "ncalls", "%total",
					    "function (file:line)"};
	struct cli_session s;
	struct storage_path_row *rows = NULL;
	struct cli_ptree t;
	struct cli_table table;
	struct walk w;
	size_t n = 0, *roots = NULL, nroots = 0, maxdepth = 1;
	char what[512];
	int status, rc;

	status = cli_session_open(&s, a, NULL, CLI_TIER_AUTO, 0, out, err, e);
	if (status != CLI_EXIT_OK)
		return status;
	if (fn != NULL &&
	    (status = cli_session_need_function(&s, fn, e)) != CLI_EXIT_OK)
		goto out_close;
	status = CLI_EXIT_RUNTIME;
	if ((rc = storage_paths(s.conn, &s.f, &rows, &n)) != 0) {
		cli_query_error(e, rc, a->verbose);
		goto out_close;
	}
	if (cli_session_end(&s, e) != CLI_EXIT_OK)
		goto out_rows;
	if (cli_ptree_build(rows, n, fn, &t) != 0) {
		cli_error_set(e, "out of memory");
		goto out_rows;
	}
	for (size_t i = 0; i < t.n; i++)
		if ((size_t)t.nodes[i].depth + 1 > maxdepth)
			maxdepth = (size_t)t.nodes[i].depth + 1;
	memset(&w, 0, sizeof(w));
	w.a = a;
	w.t = &t;
	w.ref_ns = t.nodes[0].total_ns;
	w.base = fn != NULL ? 0 : 1;
	w.out = out;
	w.table = &table;
	w.path = calloc(maxdepth + 1, sizeof(*w.path));
	if (w.path == NULL) {
		cli_error_set(e, "out of memory");
		goto out_tree;
	}
	/* tree: the root is FN; flame: the virtual root is not shown. */
	if (fn != NULL && t.nodes[0].fn != NULL) {
		roots = malloc(sizeof(*roots));
		if (roots != NULL) {
			roots[0] = 0;
			nroots = 1;
		}
		rc = roots == NULL ? FP_ENOMEM : 0;
	} else if (fn == NULL) {
		rc = cli_ptree_children(&t, 0, &roots, &nroots);
	} else {
		rc = 0;
	}
	if (a->format == CLI_FORMAT_TABLE) {
		if (fn != NULL)
			snprintf(what, sizeof(what), "call paths under %s", fn);
		cli_session_header(&s, out,
				   fn != NULL ? what
					      : "call paths from the entry "
						"functions");
		cli_table_init(&table, 5, heads, 1u << 4);
	} else if (a->format == CLI_FORMAT_JSON) {
		w.json = json_array();
		rc = w.json == NULL ? FP_ENOMEM : rc;
	} else {
		fputs("depth,path,function,file,line,module,ncalls,self_s,"
		      "total_s\n",
		      out);
	}
	for (size_t k = 0; k < nroots && rc == 0; k++)
		rc = visit(&w, roots[k], w.json);
	if (rc == 0 && a->format == CLI_FORMAT_TABLE) {
		if (nroots == 0)
			fputs("no call paths recorded in this window\n", out);
		else
			rc = cli_table_print(&table, out, s.color);
	} else if (rc == 0 && a->format == CLI_FORMAT_JSON) {
		rc = cli_json_write(out, w.json);
		w.json = NULL;
	}
	if (a->format == CLI_FORMAT_TABLE)
		cli_table_fini(&table);
	json_decref(w.json);
	if (cli_output_done(out, rc, e) == 0)
		status = CLI_EXIT_OK;
	free(roots);
	free(w.path);
out_tree:
	cli_ptree_fini(&t);
out_rows:
	storage_paths_free(rows, n);
out_close:
	cli_session_close(&s);
	return status;
}

int cli_tree_run(const struct cli_args *a, FILE *out, FILE *err,
		 struct cli_error *e)
{
	return run(a, a->function, out, err, e);
}

int cli_flame_run(const struct cli_args *a, FILE *out, FILE *err,
		  struct cli_error *e)
{
	return run(a, NULL, out, err, e);
}
