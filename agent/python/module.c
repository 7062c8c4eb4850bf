/*
 * _fleetprof: the CPython extension behind the fleetprof package. Thin
 * wrappers: profiling lives in pyprof.c, sites in pysites.c, pstats totals
 * in pystats.c, and call trees and delivery in the fleetprof agent (linked
 * in statically, its batches tagged lang "python"). Every function needs the
 * GIL; agent errors come back as return codes, never as aborts or output.
 */
#include "pycompat.h"

#include "agent_python.h"
#include "fleetprof/fleetprof.h"
#include "fp/error.h"
#include "pyexit.h"
#include "pyprof.h"
#include "pysites.h"
#include "pystats.h"

static const PyMethodDef *stop_def; /* set by PyInit__fleetprof */

static PyObject *mod_start(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"totals", "all_threads", NULL};
	int totals = 0, all_threads = 0;
	(void)self;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|pp", kwlist, &totals,
					 &all_threads))
		return NULL;
	if (totals)
		pystats_keep();
	pyprof_start(stop_def, all_threads);
	Py_RETURN_NONE;
}

static PyObject *mod_stop(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"close", NULL};
	int close = 1;
	(void)self;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &close))
		return NULL;
	pyprof_stop(close);
	Py_RETURN_NONE;
}

/* Installed with threading.setprofile: on a new thread's first event,
 * replaces itself with the C profile function and handles that event. */
static PyObject *mod_thread_hook(PyObject *self, PyObject *args)
{
	static const struct {
		const char *name;
		int what;
	} events[] = {
		{"call", PyTrace_CALL},
		{"return", PyTrace_RETURN},
		{"c_call", PyTrace_C_CALL},
		{"c_return", PyTrace_C_RETURN},
		{"c_exception", PyTrace_C_EXCEPTION},
	};
	PyObject *frame, *arg;
	const char *event;
	(void)self;

	if (!PyArg_ParseTuple(args, "OsO", &frame, &event, &arg))
		return NULL;
	if (!pyprof_running()) {
		PyEval_SetProfile(NULL, NULL);
		Py_RETURN_NONE;
	}
	PyEval_SetProfile(pyprof_callback, NULL);
	if (!PyFrame_Check(frame))
		Py_RETURN_NONE;
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		if (strcmp(event, events[i].name) == 0) {
			pyprof_callback(NULL, (PyFrameObject *)frame,
					events[i].what, arg);
			break;
		}
	}
	Py_RETURN_NONE;
}

static PyObject *mod_snapshot(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return pystats_snapshot();
}

static PyObject *mod_clear(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	if (pystats_clear() != 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *mod_running(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyBool_FromLong(pyprof_running());
}

static PyObject *mod_exit_flush(PyObject *self, PyObject *unused)
{
	PyThreadState *ts;
	int rc;
	(void)self;
	(void)unused;
	ts = PyEval_SaveThread();
	rc = pyexit_flush();
	PyEval_RestoreThread(ts);
	return PyLong_FromLong(rc);
}

static PyObject *mod_sigterm_flush(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyLong_FromLong(pyexit_sigterm_install());
}

static PyObject *mod_set_tree_limits(PyObject *self, PyObject *args)
{
	unsigned int nodes, depth;
	(void)self;

	if (!PyArg_ParseTuple(args, "II", &nodes, &depth))
		return NULL;
	agent_set_tree_limits(nodes, depth);
	Py_RETURN_NONE;
}

/* agent_init(collector=None, service=None, host=None, labels=None,
 * interval=0.0) -> 0 or a negative FP_E* code (see agent_strerror). */
static PyObject *mod_agent_init(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"collector", "service",  "host",
				 "labels",    "interval", NULL};
	struct fp_config cfg = {0};
	PyThreadState *ts;
	int rc;
	(void)self;

	if (!PyArg_ParseTupleAndKeywords(
		    args, kw, "|zzzzd", kwlist, &cfg.collector, &cfg.service,
		    &cfg.host, &cfg.labels, &cfg.interval_s))
		return NULL;
	ts = PyEval_SaveThread();
	rc = fp_init(&cfg);
	PyEval_RestoreThread(ts);
	return PyLong_FromLong(rc);
}

static PyObject *mod_agent_shutdown(PyObject *self, PyObject *unused)
{
	PyThreadState *ts;
	int rc;
	(void)self;
	(void)unused;
	ts = PyEval_SaveThread();
	rc = fp_shutdown();
	PyEval_RestoreThread(ts);
	return PyLong_FromLong(rc);
}

static PyObject *mod_agent_flush(PyObject *self, PyObject *unused)
{
	PyThreadState *ts;
	int rc;
	(void)self;
	(void)unused;
	ts = PyEval_SaveThread();
	rc = fp_flush();
	PyEval_RestoreThread(ts);
	return PyLong_FromLong(rc);
}

static PyObject *mod_agent_strerror(PyObject *self, PyObject *arg)
{
	long rc = PyLong_AsLong(arg);
	(void)self;
	if (rc == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(fp_strerror((int)rc));
}

static PyObject *mod_agent_stats(PyObject *self, PyObject *unused)
{
	struct fp_stats s;
	(void)self;
	(void)unused;
	fp_get_stats(&s);
	return Py_BuildValue(
		"{sKsKsKsKsKsKsKsK}", "batches_sent", s.batches_sent,
		"batches_dropped", s.batches_dropped, "batches_queued",
		s.batches_queued, "events_dropped", s.events_dropped,
		"stack_repairs", s.stack_repairs, "threads", s.threads,
		"memory_bytes", s.memory_bytes, "python_dropped",
		(unsigned long long)pyprof_dropped());
}

/* stop stays at index 1: the profiler ignores it (see PyInit). */
static PyMethodDef methods[] = {
	{"start", (PyCFunction)(void (*)(void))mod_start,
	 METH_VARARGS | METH_KEYWORDS,
	 "start(totals=False, all_threads=False): profile into the call "
	 "trees; totals: keep exited threads' totals for snapshot()."},
	{"stop", (PyCFunction)(void (*)(void))mod_stop,
	 METH_VARARGS | METH_KEYWORDS,
	 "stop(close=True): stop profiling; close: end this thread's open "
	 "calls now (else they are never counted)."},
	{"thread_hook", mod_thread_hook, METH_VARARGS,
	 "For threading.setprofile()."},
	{"snapshot", mod_snapshot, METH_NOARGS,
	 "(labels, fns, edges, dropped): pstats totals since clear()."},
	{"clear", mod_clear, METH_NOARGS, "Totals start from zero now."},
	{"running", mod_running, METH_NOARGS, "Is profiling on?"},
	{"exit_flush", mod_exit_flush, METH_NOARGS,
	 "Final flush and bounded wait for acks, once per process -> rc."},
	{"sigterm_flush", mod_sigterm_flush, METH_NOARGS,
	 "While SIGTERM is at its default: flush, then die of it -> 1, 0 "
	 "(not needed) or rc."},
	{"set_tree_limits", mod_set_tree_limits, METH_VARARGS,
	 "set_tree_limits(max_nodes, max_depth) for threads' trees made "
	 "from now on."},
	{"agent_init", (PyCFunction)(void (*)(void))mod_agent_init,
	 METH_VARARGS | METH_KEYWORDS,
	 "agent_init(collector, service, host, labels, interval) -> rc"},
	{"agent_shutdown", mod_agent_shutdown, METH_NOARGS,
	 "Final flush, bounded wait for acks -> rc."},
	{"agent_flush", mod_agent_flush, METH_NOARGS, "Flush now -> rc."},
	{"agent_strerror", mod_agent_strerror, METH_O, "Text of an rc."},
	{"agent_stats", mod_agent_stats, METH_NOARGS, "Agent counters."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
	PyModuleDef_HEAD_INIT,
	"_fleetprof",
	"fleetprof's CPython profiler (cProfile semantics).",
	-1,
	methods,
	NULL,
	NULL,
	NULL,
	NULL,
};

PyMODINIT_FUNC PyInit__fleetprof(void);

PyMODINIT_FUNC PyInit__fleetprof(void)
{
	PyObject *m;
	stop_def = &methods[1];
	agent_set_lang("python");
	m = PyModule_Create(&moddef);
	if (m != NULL && PyModule_AddIntConstant(m, "ESTATE", FP_ESTATE) != 0)
		Py_CLEAR(m);
	return m;
}
