/*
 * Process-lifetime call sites for Python functions and builtins, with the
 * names pstats uses. A code object's site keeps a strong reference to it so
 * its address (the key) is never reused. All calls need the GIL.
 */
#ifndef AGENT_PYTHON_PYSITES_H
#define AGENT_PYTHON_PYSITES_H

#include "pycompat.h"

#include <stdint.h>

#include "fleetprof/fleetprof.h"

struct pysite {
	struct fp_site site; /* name and file owned here; never freed */
	const void *key;     /* code object, or a builtin's PyMethodDef */
	PyObject *ref;	     /* the code object (strong), NULL for builtins */
	uint32_t id;	     /* dense, from 0 */
};

/* The site of a code object or of a builtin (a PyCFunction), created the
 * first time. NULL when it cannot be made (no memory); any Python error
 * raised while naming it is cleared and the caller's error is kept. */
struct pysite *pysite_code(PyCodeObject *code);
struct pysite *pysite_builtin(PyObject *cfunc);

/* The site already made for key, or NULL. */
struct pysite *pysite_find(const void *key);

/* Sites made so far, by id (id < pysite_count()). */
uint32_t pysite_count(void);
struct pysite *pysite_at(uint32_t id);

#endif
