/*
 * `fleetprof export`: the window's profile for other tools. folded (one
 * "frame;frame;frame self_ns" line per call path, for flamegraph.pl and
 * speedscope), speedscope's own JSON (a sampled profile weighted by self
 * time in ns), or a pstats .prof file (marshal of {(file, line, name):
 * (cc, nc, tt, ct, {caller: (nc, cc, tt, ct)})}) for python -m pstats and
 * snakeviz. Functions that share (file, line, name) are summed.
 */
#include "cli.h"
#include "cli_args.h"
#include "cli_marshal.h"
#include "cli_out.h"
#include "cli_pathtree.h"
#include "cli_session.h"
#include "cli_usage.h"
#include "fp/error.h"
#include "fp/timeutil.h"
#include "storage/query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FP_VERSION
#define FP_VERSION "unknown"
#endif

const char cli_export_usage[] =
	"usage: fleetprof export [options]\n"
	"\n"
	"Write the window's profile, summed over the matching hosts, for\n"
	"other tools:\n"
	"  folded      'a;b;c 1234' per call path, the number being self\n"
	"              time in ns: flamegraph.pl, speedscope, inferno\n"
	"  speedscope  speedscope's JSON file format (sampled, weights in ns)\n"
	"  pstats      a .prof file for python -m pstats and snakeviz\n"
	"              (functions and callers; times in seconds)\n"
	"\n" CLI_USAGE_WINDOW CLI_USAGE_FILTERS "\n"
	"output:\n"
	"  --format FORMAT    folded (default), speedscope or pstats\n"
	"  -o, --output FILE  write to FILE instead of stdout (pstats is\n"
	"                     binary: never written to a "
	"terminal)\n" CLI_USAGE_CONNECTION;

/* Frame label: ';' separates frames in folded stacks, so it is replaced. */
static char *frame_label(const struct storage_fn *fn)
{
	char *s = cli_function_label(fn->name, fn->file, fn->line, fn->module);

	for (char *p = s; p != NULL && *p != '\0'; p++)
		if (*p == ';')
			*p = ',';
	return s;
}

struct fold {
	const struct cli_ptree *t;
	FILE *out;
	char **path;
	/* speedscope */
	json_t *frames, *samples, *weights;
	int64_t *frame_ids; /* functions.id per frame */
	size_t nframes;
	size_t *stack; /* frame indices root..node */
	double total;
};

static int fold_visit(struct fold *f, size_t i, int level)
{
	const struct cli_pnode *nd = &f->t->nodes[i];
	size_t *kids = NULL, nkids = 0;
	int rc = 0;

	f->path[level] = frame_label(nd->fn);
	if (f->path[level] == NULL)
		return FP_ENOMEM;
	if (nd->self_ns > 0) {
		for (int k = 0; k <= level; k++) {
			if (k > 0)
				fputc(';', f->out);
			fputs(f->path[k], f->out);
		}
		fprintf(f->out, " %.0f\n", nd->self_ns);
	}
	if ((rc = cli_ptree_children(f->t, i, &kids, &nkids)) == 0)
		for (size_t k = 0; k < nkids && rc == 0; k++)
			rc = fold_visit(f, kids[k], level + 1);
	free(kids);
	free(f->path[level]);
	return rc;
}

static size_t frame_of(struct fold *f, const struct storage_fn *fn)
{
	json_t *o;

	for (size_t k = 0; k < f->nframes; k++)
		if (f->frame_ids[k] == fn->id)
			return k;
	o = json_object();
	if (o == NULL || cli_jset(o, "name", cli_jstr(fn->name)) != 0 ||
	    (fn->file[0] != '\0' &&
	     cli_jset(o, "file", cli_jstr(fn->file)) != 0) ||
	    (fn->line > 0 && cli_jset(o, "line", json_integer(fn->line))) ||
	    json_array_append_new(f->frames, o) != 0)
		return (size_t)-1;
	f->frame_ids[f->nframes] = fn->id;
	return f->nframes++;
}

static int scope_visit(struct fold *f, size_t i, int level)
{
	const struct cli_pnode *nd = &f->t->nodes[i];
	size_t *kids = NULL, nkids = 0;
	int rc = 0;

	f->stack[level] = frame_of(f, nd->fn);
	if (f->stack[level] == (size_t)-1)
		return FP_ENOMEM;
	if (nd->self_ns > 0) {
		json_t *s = json_array();
		for (int k = 0; s != NULL && k <= level; k++)
			if (json_array_append_new(
				    s, json_integer((json_int_t)f->stack[k])))
				rc = FP_ENOMEM;
		if (s == NULL || rc != 0 ||
		    json_array_append_new(f->samples, s) != 0 ||
		    json_array_append_new(f->weights, json_real(nd->self_ns)) !=
			    0)
			return FP_ENOMEM;
		f->total += nd->self_ns;
	}
	if ((rc = cli_ptree_children(f->t, i, &kids, &nkids)) == 0)
		for (size_t k = 0; k < nkids && rc == 0; k++)
			rc = scope_visit(f, kids[k], level + 1);
	free(kids);
	return rc;
}

static int write_paths(FILE *out, const struct cli_session *s, int format,
		       const struct storage_path_row *rows, size_t n)
{
	struct cli_ptree t;
	struct fold f;
	size_t *roots = NULL, nroots = 0, maxdepth = 1;
	char name[160], from[32], until[32];
	json_t *doc = NULL, *prof = NULL;
	int rc;

	if ((rc = cli_ptree_build(rows, n, NULL, &t)) != 0)
		return rc;
	for (size_t i = 0; i < t.n; i++)
		if ((size_t)t.nodes[i].depth + 1 > maxdepth)
			maxdepth = (size_t)t.nodes[i].depth + 1;
	memset(&f, 0, sizeof(f));
	f.t = &t;
	f.out = out;
	f.path = calloc(maxdepth, sizeof(*f.path));
	f.stack = calloc(maxdepth, sizeof(*f.stack));
	f.frame_ids = calloc(t.n, sizeof(*f.frame_ids));
	rc = FP_ENOMEM;
	if (f.path == NULL || f.stack == NULL || f.frame_ids == NULL)
		goto out_free;
	if ((rc = cli_ptree_children(&t, 0, &roots, &nroots)) != 0)
		goto out_free;
	if (format == CLI_EXPORT_FOLDED) {
		for (size_t k = 0; k < nroots && rc == 0; k++)
			rc = fold_visit(&f, roots[k], 0);
		goto out_free;
	}
	f.frames = json_array();
	f.samples = json_array();
	f.weights = json_array();
	rc = FP_ENOMEM;
	if (f.frames == NULL || f.samples == NULL || f.weights == NULL)
		goto out_json;
	rc = 0;
	for (size_t k = 0; k < nroots && rc == 0; k++)
		rc = scope_visit(&f, roots[k], 0);
	if (rc != 0)
		goto out_json;
	fp_format_time(s->f.from_ns, from, sizeof(from));
	fp_format_time(s->f.until_ns, until, sizeof(until));
	snprintf(name, sizeof(name), "fleetprof %s .. %s (%s tier)", from,
		 until, storage_tier_name(s->f.tier));
	doc = json_object();
	prof = json_object();
	rc = FP_ENOMEM;
	if (doc == NULL || prof == NULL)
		goto out_json;
	if (cli_jset(prof, "type", cli_jstr("sampled")) ||
	    cli_jset(prof, "name", cli_jstr(name)) ||
	    cli_jset(prof, "unit", cli_jstr("nanoseconds")) ||
	    cli_jset(prof, "startValue", json_integer(0)) ||
	    cli_jset(prof, "endValue", json_real(f.total)) ||
	    cli_jset(prof, "samples", f.samples) ||
	    cli_jset(prof, "weights", f.weights))
		goto out_json_moved;
	f.samples = f.weights = NULL;
	if (cli_jset(doc, "$schema",
		     cli_jstr("https://www.speedscope.app/"
			      "file-format-schema.json")) ||
	    cli_jset(doc, "name", cli_jstr(name)) ||
	    cli_jset(doc, "exporter", cli_jstr("fleetprof " FP_VERSION)) ||
	    cli_jset(doc, "activeProfileIndex", json_integer(0)))
		goto out_json;
	{
		json_t *shared = json_object(), *profiles = json_array();
		int bad = shared == NULL || profiles == NULL;
		bad |= cli_jset(shared, "frames", f.frames);
		f.frames = NULL;
		bad |= json_array_append_new(profiles, prof);
		prof = NULL;
		bad |= cli_jset(doc, "shared", shared);
		bad |= cli_jset(doc, "profiles", profiles);
		if (bad)
			goto out_json;
	}
	rc = cli_json_write(out, doc);
	doc = NULL;
	goto out_json;

out_json_moved:
	f.samples = f.weights = NULL;
out_json:
	json_decref(doc);
	json_decref(prof);
	json_decref(f.frames);
	json_decref(f.samples);
	json_decref(f.weights);
out_free:
	free(roots);
	free(f.path);
	free(f.stack);
	free(f.frame_ids);
	cli_ptree_fini(&t);
	return rc;
}

/* pstats: one entry per (file, line, name). */
struct pcaller {
	const struct storage_fn *fn;
	uint64_t nc, cc;
	double tt, ct;
};

struct pentry {
	const char *file; /* file, else module, else "~" */
	int32_t line;
	const char *name;
	int64_t fn_id;
	uint64_t cc, nc;
	double tt, ct;
	struct pcaller *callers;
	size_t ncallers, capcallers;
};

static const char *pfile(const char *file, const char *module)
{
	return file[0] != '\0' ? file : module[0] != '\0' ? module : "~";
}

static int key_cmp(const char *fa, int32_t la, const char *na, const char *fb,
		   int32_t lb, const char *nb)
{
	int c = strcmp(fa, fb);
	if (c != 0)
		return c;
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(na, nb);
}

static int entry_by_id(const void *a, const void *b)
{
	const struct pentry *x = a, *y = b;
	return x->fn_id < y->fn_id ? -1 : x->fn_id > y->fn_id;
}

static int entry_by_key(const void *a, const void *b)
{
	const struct pentry *x = a, *y = b;
	return key_cmp(x->file, x->line, x->name, y->file, y->line, y->name);
}

static int caller_by_key(const void *a, const void *b)
{
	const struct pcaller *x = a, *y = b;
	return key_cmp(pfile(x->fn->file, x->fn->module), x->fn->line,
		       x->fn->name, pfile(y->fn->file, y->fn->module),
		       y->fn->line, y->fn->name);
}

static void put_key(struct cli_marshal *m, const char *file, int32_t line,
		    const char *name)
{
	cli_marshal_tuple(m, 3);
	cli_marshal_str(m, file);
	cli_marshal_int(m, line);
	cli_marshal_str(m, name);
}

static void put_callers(struct cli_marshal *m, struct pentry *e, size_t ne)
{
	struct pcaller *all;
	size_t n = 0;

	for (size_t k = 0; k < ne; k++)
		n += e[k].ncallers;
	cli_marshal_dict_begin(m);
	all = calloc(n + 1, sizeof(*all));
	if (all == NULL) {
		m->oom = 1;
		return;
	}
	n = 0;
	for (size_t k = 0; k < ne; k++)
		for (size_t c = 0; c < e[k].ncallers; c++)
			all[n++] = e[k].callers[c];
	qsort(all, n, sizeof(*all), caller_by_key);
	for (size_t i = 0; i < n;) {
		struct pcaller sum = all[i];
		size_t j = i + 1;
		for (; j < n && caller_by_key(&all[i], &all[j]) == 0; j++) {
			sum.nc += all[j].nc;
			sum.cc += all[j].cc;
			sum.tt += all[j].tt;
			sum.ct += all[j].ct;
		}
		put_key(m, pfile(sum.fn->file, sum.fn->module), sum.fn->line,
			sum.fn->name);
		cli_marshal_tuple(m, 4);
		cli_marshal_uint(m, sum.nc);
		cli_marshal_uint(m, sum.cc);
		cli_marshal_float(m, sum.tt / 1e9);
		cli_marshal_float(m, sum.ct / 1e9);
		i = j;
	}
	free(all);
	cli_marshal_dict_end(m);
}

static int add_caller(struct pentry *e, const struct storage_edge_row *r)
{
	if (e->ncallers == e->capcallers) {
		size_t cap = e->capcallers ? 2 * e->capcallers : 4;
		struct pcaller *p = realloc(e->callers, cap * sizeof(*p));
		if (p == NULL)
			return FP_ENOMEM;
		e->callers = p;
		e->capcallers = cap;
	}
	e->callers[e->ncallers++] = (struct pcaller){
		&r->caller, r->ncalls, r->pcalls, r->tottime_ns, r->cumtime_ns};
	return 0;
}

static int write_pstats(FILE *out, const struct storage_top_row *fns,
			size_t nfns, const struct storage_edge_row *edges,
			size_t nedges)
{
	struct pentry *e = calloc(nfns + nedges + 1, sizeof(*e));
	struct cli_marshal m;
	size_t ne = nfns;
	int rc = 0;

	if (e == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < nfns; i++)
		e[i] = (struct pentry){pfile(fns[i].file, fns[i].module),
				       fns[i].line,
				       fns[i].name,
				       fns[i].fn_id,
				       fns[i].pcalls,
				       fns[i].ncalls,
				       fns[i].tottime_ns,
				       fns[i].cumtime_ns,
				       NULL,
				       0,
				       0};
	qsort(e, nfns, sizeof(*e), entry_by_id);
	for (size_t i = 0; i < nedges && rc == 0; i++) {
		struct pentry key = {.fn_id = edges[i].callee.id}, *x;
		x = bsearch(&key, e, nfns, sizeof(*e), entry_by_id);
		if (x == NULL) { /* a callee without function facts */
			const struct storage_fn *c = &edges[i].callee;
			x = &e[ne++];
			x->file = pfile(c->file, c->module);
			x->line = c->line;
			x->name = c->name;
			x->fn_id = c->id;
		}
		rc = add_caller(x, &edges[i]);
	}
	qsort(e, ne, sizeof(*e), entry_by_key);
	cli_marshal_init(&m);
	cli_marshal_dict_begin(&m);
	for (size_t i = 0; i < ne && rc == 0;) {
		struct pentry sum = e[i];
		size_t j = i + 1;
		for (; j < ne && entry_by_key(&e[i], &e[j]) == 0; j++) {
			sum.cc += e[j].cc;
			sum.nc += e[j].nc;
			sum.tt += e[j].tt;
			sum.ct += e[j].ct;
		}
		put_key(&m, sum.file, sum.line, sum.name);
		cli_marshal_tuple(&m, 5);
		cli_marshal_uint(&m, sum.cc);
		cli_marshal_uint(&m, sum.nc);
		cli_marshal_float(&m, sum.tt / 1e9);
		cli_marshal_float(&m, sum.ct / 1e9);
		put_callers(&m, &e[i], j - i);
		i = j;
	}
	cli_marshal_dict_end(&m);
	if (rc == 0)
		rc = cli_marshal_finish(&m);
	if (rc == 0 && fwrite(m.buf, 1, m.len, out) != m.len)
		rc = FP_EIO;
	cli_marshal_fini(&m);
	for (size_t i = 0; i < ne; i++)
		free(e[i].callers);
	free(e);
	return rc;
}

/* Queries what format needs and writes it to out. */
static int export(struct cli_session *s, int format, FILE *out,
		  struct cli_error *e)
{
	struct storage_path_row *paths = NULL;
	struct storage_top_row *fns = NULL;
	struct storage_edge_row *edges = NULL;
	size_t np = 0, nf = 0, nedges = 0;
	int rc;

	if (format == CLI_EXPORT_PSTATS)
		rc = storage_top(s->conn, &s->f, STORAGE_GROUP_FUNCTION,
				 STORAGE_SORT_TOTTIME, 0, &fns, &nf);
	else
		rc = storage_paths(s->conn, &s->f, &paths, &np);
	if (rc == 0 && format == CLI_EXPORT_PSTATS)
		rc = storage_edges(s->conn, &s->f, STORAGE_EDGES_ALL,
				   STORAGE_SORT_TOTTIME, 0, &edges, &nedges);
	if (rc != 0) {
		cli_query_error(e, rc, s->a->verbose);
		goto out_free;
	}
	if (cli_session_end(s, e) != CLI_EXIT_OK) {
		rc = FP_EDB;
		goto out_free;
	}
	if (format == CLI_EXPORT_PSTATS)
		rc = write_pstats(out, fns, nf, edges, nedges);
	else
		rc = write_paths(out, s, format, paths, np);
	rc = cli_output_done(out, rc, e);
out_free:
	storage_paths_free(paths, np);
	storage_top_free(fns, nf);
	storage_edges_free(edges, nedges);
	return rc;
}

int cli_export_run(const struct cli_args *a, FILE *out, FILE *err,
		   struct cli_error *e)
{
	struct cli_session s;
	FILE *dst = out;
	int status;

	if (a->format == CLI_EXPORT_PSTATS && a->output == NULL &&
	    isatty(fileno(out))) {
		cli_error_set(e, "refusing to write a binary pstats file to "
				 "a terminal");
		cli_error_hint(e, "use -o FILE, or redirect stdout");
		return CLI_EXIT_USAGE;
	}
	status = cli_session_open(&s, a, NULL, CLI_TIER_AUTO, 0, out, err, e);
	if (status != CLI_EXIT_OK)
		return status;
	if (a->output != NULL && strcmp(a->output, "-") != 0) {
		dst = fopen(a->output, "wb");
		if (dst == NULL) {
			cli_error_set(e, "cannot open '%s': %s", a->output,
				      strerror(errno));
			cli_session_close(&s);
			return CLI_EXIT_RUNTIME;
		}
	}
	status = export(&s, a->format, dst, e) == 0 ? CLI_EXIT_OK
						    : CLI_EXIT_RUNTIME;
	if (dst != out && fclose(dst) != 0 && status == CLI_EXIT_OK) {
		cli_error_set(e, "cannot write '%s': %s", a->output,
			      strerror(errno));
		status = CLI_EXIT_RUNTIME;
	}
	cli_session_close(&s);
	return status;
}
