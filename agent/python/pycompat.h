/*
 * The C API the extension needs, on every CPython from 3.8 to 3.13: public
 * functions where they exist, small shims for the versions before them.
 * What has no public form is read as CPython's own _lsprof reads it, and
 * said so where it is used (pysites.c).
 */
#ifndef AGENT_PYTHON_PYCOMPAT_H
#define AGENT_PYTHON_PYCOMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <frameobject.h> /* 3.8: PyFrameObject's fields (f_code) */

#if PY_VERSION_HEX < 0x030900B1
/* 3.9 made frames opaque and added this accessor; 3.8 has the field. */
static inline PyCodeObject *PyFrame_GetCode(PyFrameObject *frame)
{
	Py_INCREF(frame->f_code);
	return frame->f_code;
}
#endif

#if PY_VERSION_HEX < 0x03090000
/* 3.9 added default visibility to PyMODINIT_FUNC; the extension is built
 * with hidden visibility, so 3.8 needs it said. */
#undef PyMODINIT_FUNC
#define PyMODINIT_FUNC __attribute__((visibility("default"))) PyObject *
#endif

#if PY_VERSION_HEX < 0x030A00A3
static inline PyObject *Py_NewRef(PyObject *obj)
{
	Py_INCREF(obj);
	return obj;
}
#endif

/* The pending exception, kept aside while code that may raise runs
 * (PyErr_Fetch/Restore are deprecated from 3.12). */
struct pyc_saved_error {
#if PY_VERSION_HEX >= 0x030C0000
	PyObject *exc;
#else
	PyObject *type, *value, *tb;
#endif
};

static inline void pyc_error_save(struct pyc_saved_error *s)
{
#if PY_VERSION_HEX >= 0x030C0000
	s->exc = PyErr_GetRaisedException();
#else
	PyErr_Fetch(&s->type, &s->value, &s->tb);
#endif
}

static inline void pyc_error_restore(struct pyc_saved_error *s)
{
#if PY_VERSION_HEX >= 0x030C0000
	PyErr_SetRaisedException(s->exc);
#else
	PyErr_Restore(s->type, s->value, s->tb);
#endif
}

#endif
