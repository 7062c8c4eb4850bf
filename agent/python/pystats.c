/*
 * pstats from the call trees: agent_totals_read sums cProfile's four numbers
 * per function and per edge over every thread's tree (and the trees of
 * threads that exited since pystats_keep); the baseline of the last clear is
 * subtracted row by row. A baseline taken in another process (before a
 * fork: the child's trees restart from zero) is ignored.
 */
#include "pystats.h"
#include "pyprof.h"

#include "agent_python.h"
#include "calltree.h"
#include "fleetprof/fleetprof.h"

#include <unistd.h>

static struct agent_totals baseline;
static uint64_t baseline_dropped; /* pyprof_dropped() at the clear */
static pid_t baseline_pid;

void pystats_keep(void)
{
	agent_totals_keep(1);
}

/* Reads the totals without holding the GIL (the flush thread may hold the
 * trees for a moment). 0, or -1 with MemoryError set and *out empty. */
static int read_totals(struct agent_totals *out)
{
	PyThreadState *ts;
	int rc;

	agent_totals_init(out);
	ts = PyEval_SaveThread();
	rc = agent_totals_read(out);
	PyEval_RestoreThread(ts);
	if (rc != 0) {
		agent_totals_fini(out);
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

int pystats_clear(void)
{
	struct agent_totals now;
	if (read_totals(&now) != 0)
		return -1;
	agent_totals_fini(&baseline);
	baseline = now;
	baseline_dropped = pyprof_dropped();
	baseline_pid = getpid();
	return 0;
}

/* (file, line, name) of a row: pstats' key for a function. */
static PyObject *label(const struct agent_fn_total *f)
{
	const struct fp_site *s = f->key;
	if (f->kind != CT_SITE || s == NULL)
		return Py_BuildValue("(sis)", "~", 0, "?");
	return Py_BuildValue("(sis)", s->file && s->file[0] ? s->file : "~",
			     s->line, s->name ? s->name : "?");
}

static int append_new(PyObject *list, PyObject *item)
{
	int rc;
	if (item == NULL)
		return -1;
	rc = PyList_Append(list, item);
	Py_DECREF(item);
	return rc;
}

static PyObject *row(Py_ssize_t i, const struct agent_counts *c)
{
	return Py_BuildValue("(nKKdd)", i, (unsigned long long)c->ncalls,
			     (unsigned long long)(c->ncalls - c->pcalls),
			     c->tottime_ns / 1e9, c->cumtime_ns / 1e9);
}

static PyObject *edge_row(const struct agent_edge_total *e)
{
	const struct agent_counts *c = &e->c;
	return Py_BuildValue("(IIKKdd)", e->caller, e->callee,
			     (unsigned long long)c->ncalls,
			     (unsigned long long)(c->ncalls - c->pcalls),
			     c->tottime_ns / 1e9, c->cumtime_ns / 1e9);
}

PyObject *pystats_snapshot(void)
{
	struct agent_totals t;
	PyObject *labels = NULL, *fns = NULL, *edges = NULL, *res = NULL;
	uint64_t dropped = pyprof_dropped();

	if (read_totals(&t) != 0)
		return NULL;
	if (baseline_pid == getpid()) {
		agent_totals_sub(&t, &baseline);
		dropped -= baseline_dropped;
	}
	labels = PyList_New(0);
	fns = PyList_New(0);
	edges = PyList_New(0);
	if (labels == NULL || fns == NULL || edges == NULL)
		goto out;
	for (uint32_t i = 0; i < t.nfns; i++) {
		const struct agent_fn_total *f = &t.fns[i];
		if (append_new(labels, label(f)) != 0)
			goto out;
		if (f->c.ncalls > 0 &&
		    append_new(fns, row((Py_ssize_t)i, &f->c)) != 0)
			goto out;
	}
	for (uint32_t i = 0; i < t.nedges; i++) {
		if (t.edges[i].c.ncalls > 0 &&
		    append_new(edges, edge_row(&t.edges[i])) != 0)
			goto out;
	}
	res = Py_BuildValue("(OOOK)", labels, fns, edges,
			    (unsigned long long)(t.events_dropped + dropped));
out:
	Py_XDECREF(labels);
	Py_XDECREF(fns);
	Py_XDECREF(edges);
	agent_totals_fini(&t);
	return res;
}
