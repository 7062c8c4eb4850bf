/*
 * How a profiled multiprocessing child ends without losing its last calls:
 * it leaves with os._exit (no atexit), so the package flushes from a
 * multiprocessing finalizer (pyexit_flush); and Pool.terminate() kills it
 * with SIGTERM, so pyexit_sigterm_install makes it flush first and then die
 * of the same signal. Callable from any thread; pyexit_flush blocks (bounded
 * by FLEETPROF_EXIT_TIMEOUT_MS): call it without the GIL.
 */
#ifndef AGENT_PYTHON_PYEXIT_H
#define AGENT_PYTHON_PYEXIT_H

/* The agent's final flush and bounded wait for acks (fp_shutdown). A second
 * caller waits until the first is done, so that neither the finalizer nor
 * the SIGTERM thread ends the process while the other is still sending. */
int pyexit_flush(void);

/* While SIGTERM is at its default action: a handler that wakes a thread
 * which runs pyexit_flush, restores the default and kills the process with
 * SIGTERM again. A handler the host set is left alone. Returns 1 when
 * installed, 0 when not needed (a handler is set, or already installed in
 * this process), or a negative FP_E* code (nothing changed). A process
 * forked from this one gets SIGTERM's default back. */
int pyexit_sigterm_install(void);

#endif
