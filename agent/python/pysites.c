/*
 * Site table: key pointer -> struct pysite, open addressing, grown at half
 * full. Sites are allocated one by one and never freed, so struct fp_site
 * addresses stay valid for the process's life, as the agent requires.
 * Builtins are named exactly as CPython's _lsprof names them. Code objects
 * are read through their attributes (public on every version); builtins
 * through PyCFunctionObject's fields, as _lsprof reads them (see there).
 */
#include "pysites.h"
#include "pycompat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static struct pysite **tab; /* mask + 1 slots */
static size_t mask;
static struct pysite **by_id;
static uint32_t nsites, cap_id;

static inline size_t slot_of(const void *key)
{
	uint64_t h = (uint64_t)(uintptr_t)key * UINT64_C(0x9e3779b97f4a7c15);
	return (size_t)(h >> 32);
}

struct pysite *pysite_find(const void *key)
{
	size_t s;
	if (tab == NULL)
		return NULL;
	for (s = slot_of(key) & mask; tab[s] != NULL; s = (s + 1) & mask)
		if (tab[s]->key == key)
			return tab[s];
	return NULL;
}

uint32_t pysite_count(void)
{
	return nsites;
}

struct pysite *pysite_at(uint32_t id)
{
	return id < nsites ? by_id[id] : NULL;
}

/* Makes room for one more site; -1 (nothing changed) on failure. */
static int reserve(void)
{
	if (nsites == cap_id) {
		uint32_t n = cap_id ? cap_id * 2 : 256;
		struct pysite **p = realloc(by_id, n * sizeof(*p));
		if (p == NULL)
			return -1;
		by_id = p;
		cap_id = n;
	}
	if (tab == NULL || (nsites + 1) * 2 > mask + 1) {
		size_t nmask = tab ? mask * 2 + 1 : 1023;
		struct pysite **t = calloc(nmask + 1, sizeof(*t));
		if (t == NULL)
			return -1;
		for (uint32_t i = 0; i < nsites; i++) {
			size_t s = slot_of(by_id[i]->key) & nmask;
			while (t[s] != NULL)
				s = (s + 1) & nmask;
			t[s] = by_id[i];
		}
		free(tab);
		tab = t;
		mask = nmask;
	}
	return 0;
}

/* Takes ownership of name and file (malloc'ed) and of ref. */
static struct pysite *add(const void *key, char *name, char *file, int line,
			  PyObject *ref)
{
	struct pysite *ps;
	size_t s;
	if (name == NULL || file == NULL || reserve() != 0)
		goto err;
	ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		goto err;
	ps->site.name = name;
	ps->site.file = file;
	ps->site.line = line;
	ps->key = key;
	ps->ref = ref;
	ps->id = nsites;
	by_id[nsites++] = ps;
	for (s = slot_of(key) & mask; tab[s] != NULL; s = (s + 1) & mask)
		;
	tab[s] = ps;
	return ps;
err:
	free(name);
	free(file);
	Py_XDECREF(ref);
	return NULL;
}

/* A malloc'ed UTF-8 copy of a str, or NULL (error cleared). */
static char *str_dup(PyObject *s)
{
	const char *u;
	if (s == NULL || !PyUnicode_Check(s))
		return strdup("?");
	u = PyUnicode_AsUTF8(s);
	if (u == NULL) {
		PyErr_Clear();
		return strdup("?");
	}
	return strdup(u);
}

/* A malloc'ed copy of the str attribute attr of obj, "?" if it has none. */
static char *attr_dup(PyObject *obj, const char *attr)
{
	PyObject *v = PyObject_GetAttrString(obj, attr);
	char *s;
	if (v == NULL)
		PyErr_Clear();
	s = str_dup(v);
	Py_XDECREF(v);
	return s;
}

/* co_firstlineno, 0 if unreadable. */
static int first_line(PyObject *code)
{
	PyObject *v = PyObject_GetAttrString(code, "co_firstlineno");
	long line = v != NULL && PyLong_Check(v) ? PyLong_AsLong(v) : 0;
	Py_XDECREF(v);
	if (PyErr_Occurred())
		PyErr_Clear();
	return line > 0 && line <= INT_MAX ? (int)line : 0;
}

struct pysite *pysite_code(PyCodeObject *code)
{
	struct pysite *ps = pysite_find(code);
	struct pyc_saved_error saved;
	PyObject *obj = (PyObject *)code;
	char *name, *file;
	int line;

	if (ps != NULL)
		return ps;
	/* Once per code object: the public attributes, not the struct
	 * (PyCodeObject's fields are not part of the API). */
	pyc_error_save(&saved);
	name = attr_dup(obj, "co_name");
	file = attr_dup(obj, "co_filename");
	line = first_line(obj);
	pyc_error_restore(&saved);
	return add(code, name, file, line, Py_NewRef(obj));
}

/* _lsprof.c normalizeUserObj(): "<len>"-style names for functions, the
 * repr of the type's attribute for methods ("<method 'append' of 'list'
 * objects>"), else "<built-in method mod.name>". New reference or NULL.
 * Reads m_ml, m_self and m_module directly and looks the method up with
 * _PyType_Lookup, as _lsprof does: the public accessors differ (e.g.
 * PyCFunction_GetSelf hides the self of METH_STATIC methods), and the names
 * must be cProfile's. Both are in CPython's headers from 3.8 to 3.13. */
static PyObject *builtin_name(PyCFunctionObject *fn)
{
	const char *ml_name = fn->m_ml->ml_name;
	PyObject *modname = NULL, *res, *name, *mo;

	if (fn->m_self == NULL) {
		PyObject *mod = fn->m_module;
		if (mod != NULL && PyUnicode_Check(mod)) {
			modname = Py_NewRef(mod);
		} else if (mod != NULL && PyModule_Check(mod)) {
			modname = PyModule_GetNameObject(mod);
			if (modname == NULL)
				PyErr_Clear();
		}
		if (modname != NULL &&
		    PyUnicode_CompareWithASCIIString(modname, "builtins")) {
			res = PyUnicode_FromFormat("<%U.%s>", modname, ml_name);
			Py_DECREF(modname);
			return res;
		}
		Py_XDECREF(modname);
		return PyUnicode_FromFormat("<%s>", ml_name);
	}
	name = PyUnicode_FromString(ml_name);
	if (name != NULL) {
		mo = _PyType_Lookup(Py_TYPE(fn->m_self), name);
		Py_XINCREF(mo);
		Py_DECREF(name);
		if (mo != NULL) {
			res = PyObject_Repr(mo);
			Py_DECREF(mo);
			if (res != NULL)
				return res;
		}
	}
	PyErr_Clear();
	if (fn->m_module != NULL && PyUnicode_Check(fn->m_module))
		return PyUnicode_FromFormat("<built-in method %S.%s>",
					    fn->m_module, ml_name);
	return PyUnicode_FromFormat("<built-in method %s>", ml_name);
}

struct pysite *pysite_builtin(PyObject *cfunc)
{
	PyCFunctionObject *fn = (PyCFunctionObject *)cfunc;
	struct pysite *ps = pysite_find(fn->m_ml);
	struct pyc_saved_error saved;
	PyObject *name;
	char *s;

	if (ps != NULL)
		return ps;
	/* Naming may run Python code (repr); keep the caller's error. */
	pyc_error_save(&saved);
	name = builtin_name(fn);
	if (name == NULL)
		PyErr_Clear();
	s = str_dup(name);
	Py_XDECREF(name);
	ps = add(fn->m_ml, s, strdup("~"), 0, NULL);
	pyc_error_restore(&saved);
	return ps;
}
