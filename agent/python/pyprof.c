/*
 * Profile function with cProfile's events: CALL/RETURN for Python code,
 * C_CALL/C_RETURN/C_EXCEPTION for builtins, keyed like _lsprof.c (the code
 * object; the builtin's PyMethodDef). CPython sends them strictly nested per
 * thread, so an enter per call event and an exit per return event build the
 * same contexts as _lsprof's; returns of calls made before profiling started
 * are ignored (the thread's open-call count is 0). Runs under the GIL; never
 * raises, never prints.
 */
#include "pyprof.h"
#include "pycompat.h"
#include "pysites.h"

#include "fleetprof/fleetprof.h"

struct pp_thread {
	uint32_t open;	  /* calls entered and not yet exited */
	uint32_t session; /* `session` when open was last valid */
};

/* initial-exec, like the agent's own: a fixed offset, no lookup call. */
static __thread struct pp_thread tls __attribute__((tls_model("initial-exec")));
static int running;
static uint32_t session;
static const PyMethodDef *ignored;
static uint64_t dropped;

/* Kept for calls whose site cannot be made, so enters and exits pair. */
static const struct fp_site unknown_site = {"<unknown>", "~", 0};

static inline void enter(struct pp_thread *th, const struct pysite *ps)
{
	if (__builtin_expect(ps == NULL, 0))
		dropped++;
	th->open++;
	fp_enter_nested(ps != NULL ? &ps->site : &unknown_site);
}

static inline void leave(struct pp_thread *th)
{
	if (th->open == 0)
		return; /* a call made before profiling started */
	th->open--;
	fp_exit_nested(NULL);
}

/* _lsprof flush_unmatched: the thread's open calls end now. */
static void close_open(struct pp_thread *th)
{
	while (th->open > 0)
		leave(th);
}

static inline int recorded_builtin(PyObject *arg)
{
	return PyCFunction_Check(arg) &&
	       ((PyCFunctionObject *)arg)->m_ml != ignored;
}

int pyprof_callback(PyObject *obj, PyFrameObject *frame, int what,
		    PyObject *arg)
{
	struct pp_thread *th = &tls;
	PyCodeObject *code;
	struct pysite *ps;
	(void)obj;

	if (__builtin_expect(!running, 0)) {
		/* Stopped from another thread: end this thread's calls. */
		close_open(th);
		PyEval_SetProfile(NULL, NULL);
		return 0;
	}
	if (__builtin_expect(th->session != session, 0)) {
		close_open(th); /* left open by an earlier session */
		th->session = session;
	}
	switch (what) {
	case PyTrace_CALL:
		code = PyFrame_GetCode(frame);
		ps = pysite_code(code);
		Py_DECREF(code);
		enter(th, ps);
		break;
	case PyTrace_RETURN:
		leave(th);
		break;
	case PyTrace_C_CALL:
		if (recorded_builtin(arg))
			enter(th, pysite_builtin(arg));
		break;
	case PyTrace_C_RETURN:
	case PyTrace_C_EXCEPTION:
		if (recorded_builtin(arg))
			leave(th);
		break;
	default:
		break;
	}
	return 0;
}

void pyprof_start(const PyMethodDef *ignore, int all_threads)
{
	ignored = ignore;
	session++;
	running = 1;
#if PY_VERSION_HEX >= 0x030C0000
	if (all_threads) {
		PyEval_SetProfileAllThreads(pyprof_callback, NULL);
		return;
	}
#else
	(void)all_threads;
#endif
	PyEval_SetProfile(pyprof_callback, NULL);
}

void pyprof_stop(int close)
{
	if (!running)
		return;
	running = 0;
#if PY_VERSION_HEX >= 0x030C0000
	PyEval_SetProfileAllThreads(NULL, NULL);
#else
	PyEval_SetProfile(NULL, NULL);
#endif
	if (close)
		close_open(&tls);
}

int pyprof_running(void)
{
	return running;
}

uint64_t pyprof_dropped(void)
{
	return dropped;
}
