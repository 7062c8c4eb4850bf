/*
 * pstats totals for fleetprof.Profile and `python -m fleetprof -o`, read
 * from the agent's call trees when asked for: nothing is kept for them on
 * the hot path. A clear takes a baseline reading that later snapshots
 * subtract. Every function needs the GIL.
 */
#ifndef AGENT_PYTHON_PYSTATS_H
#define AGENT_PYTHON_PYSTATS_H

#include "pycompat.h"

/* From now on, keep the totals of threads that exit (for the process's
 * life: a Profile may be read at any time later). */
void pystats_keep(void);

/* Totals start from zero here (a baseline reading). 0, or -1 with an
 * exception set. */
int pystats_clear(void);

/* (labels, fns, edges, dropped) since the last clear: labels[i] = (file,
 * line, name); fns: (i, ncalls, ncalls - pcalls, tottime, cumtime); edges:
 * (caller i, callee i, ncalls, ncalls - pcalls, tottime, cumtime), times in
 * seconds; dropped: calls not recorded (tree limits, memory). New
 * reference, or NULL with an exception set. */
PyObject *pystats_snapshot(void);

#endif
