/*
 * The profile function: cProfile's semantics (_lsprof.c) on top of the
 * fleetprof agent. Each thread keeps its own context stack and, when pstats
 * output is wanted, its own per-function and per-edge totals; the GIL
 * serialises everything here, so nothing locks.
 */
#ifndef AGENT_PYTHON_PYPROF_H
#define AGENT_PYTHON_PYPROF_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* What the profile function does; set by start. */
struct pyprof_opts {
	int pstats; /* keep totals for snapshot() */
	int agent;  /* feed the agent's call trees (fp_enter_nested) */
	const PyMethodDef *ignore; /* a builtin never recorded (stop) */
};

/* Installs the profile function on the calling thread (all threads with
 * all_threads on 3.12+). */
void pyprof_start(const struct pyprof_opts *o, int all_threads);
/* Uninstalls it and closes the calling thread's open calls (cProfile's
 * flush_unmatched); other threads close theirs at their next event. */
void pyprof_stop(void);
int pyprof_running(void);

/* The Py_tracefunc installed by start. */
int pyprof_callback(PyObject *obj, PyFrameObject *frame, int what,
		    PyObject *arg);

/* Forgets every total (sites stay). */
void pyprof_clear(void);

/* (labels, fns, edges): labels[sid] = (file, line, name); fns is a list of
 * (sid, callcount, reccallcount, inlinetime, totaltime) per thread; edges
 * of (caller, callee, callcount, reccallcount, inlinetime, totaltime).
 * Times in seconds. New reference, or NULL with an exception set. */
PyObject *pyprof_snapshot(void);

/* Events not recorded for lack of memory. */
uint64_t pyprof_dropped(void);

#endif
