/*
 * The profile function: cProfile's events, keyed as _lsprof keys them, fed
 * to the agent's per-thread call trees (fp_enter_nested/fp_exit_nested).
 * Nothing else is kept on the hot path: pstats totals are read from the
 * trees when asked for (pystats.c). Per thread only the number of open calls
 * is kept, so that a stop can close them; the GIL serialises everything here.
 */
#ifndef AGENT_PYTHON_PYPROF_H
#define AGENT_PYTHON_PYPROF_H

#include "pycompat.h"

#include <stdint.h>

/* Installs the profile function on the calling thread (on every thread with
 * all_threads, 3.12+). ignore: a builtin never recorded (stop itself). Open
 * calls left on a thread by an earlier session end at its next event. */
void pyprof_start(const PyMethodDef *ignore, int all_threads);

/* Uninstalls it. close: the calling thread's open calls end now, as
 * cProfile's disable ends them; otherwise they are never counted (a process
 * about to exit). Other threads end theirs at their next event. */
void pyprof_stop(int close);
int pyprof_running(void);

/* The Py_tracefunc installed by start. */
int pyprof_callback(PyObject *obj, PyFrameObject *frame, int what,
		    PyObject *arg);

/* Calls recorded under "<unknown>" because their site could not be made
 * (no memory). */
uint64_t pyprof_dropped(void);

#endif
