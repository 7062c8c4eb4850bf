/*
 * Profile function with cProfile's semantics: CALL/RETURN for Python code,
 * C_CALL/C_RETURN/C_EXCEPTION for builtins, keyed like _lsprof.c (the code
 * object; the builtin's PyMethodDef). Enter/Stop follow _lsprof's
 * initContext/Stop line by line so ncalls, pcalls and edges are identical.
 * Runs under the GIL; never raises, never prints. Out of memory drops the
 * event and counts it.
 */
#include "pyprof.h"
#include "pysites.h"

#include "fleetprof/fleetprof.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONE UINT32_MAX

struct pp_entry {
	int64_t tt; /* total (cumulative) ns, outermost calls only */
	int64_t it; /* inline (own) ns */
	uint64_t ncalls, nrec;
	int32_t level; /* recursion level */
	uint8_t seen;
};

struct pp_sub {
	uint32_t caller, callee; /* site ids */
	int64_t tt, it;
	uint64_t ncalls, nrec;
	int32_t level;
};

struct pp_ctx {
	uint32_t sid;
	uint32_t sub; /* edge from the previous context, NONE if none */
	int64_t t0, subt;
};

struct pp_thread {
	struct pp_entry *ents; /* by site id */
	uint32_t nents;
	struct pp_sub *subs;
	uint32_t nsubs, capsubs;
	uint32_t *subtab; /* sub index + 1, 0 = empty */
	uint32_t submask;
	struct pp_ctx *stack;
	uint32_t depth, cap;
	struct pp_thread *next;
};

static struct pyprof_opts opts;
static int running;
static uint64_t dropped;
static struct pp_thread *threads; /* every thread ever profiled */
static __thread struct pp_thread *tls;

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct pp_thread *thread_get(void)
{
	struct pp_thread *th = tls;
	if (__builtin_expect(th != NULL, 1))
		return th;
	th = calloc(1, sizeof(*th));
	if (th == NULL)
		return NULL;
	th->next = threads;
	threads = th;
	tls = th;
	return th;
}

static struct pp_entry *entry_for(struct pp_thread *th, uint32_t sid)
{
	if (sid >= th->nents) {
		uint32_t n = th->nents ? th->nents : 256;
		struct pp_entry *e;
		while (n <= sid)
			n *= 2;
		e = realloc(th->ents, n * sizeof(*e));
		if (e == NULL)
			return NULL;
		memset(e + th->nents, 0, (n - th->nents) * sizeof(*e));
		th->ents = e;
		th->nents = n;
	}
	return &th->ents[sid];
}

static inline uint32_t sub_hash(uint32_t caller, uint32_t callee)
{
	uint64_t h = ((uint64_t)caller << 32 | callee) *
		     UINT64_C(0x9e3779b97f4a7c15);
	return (uint32_t)(h >> 32);
}

static uint32_t sub_find(const struct pp_thread *th, uint32_t caller,
			 uint32_t callee)
{
	uint32_t s, i;
	if (th->subtab == NULL)
		return NONE;
	for (s = sub_hash(caller, callee) & th->submask;
	     (i = th->subtab[s]) != 0; s = (s + 1) & th->submask) {
		const struct pp_sub *p = &th->subs[i - 1];
		if (p->caller == caller && p->callee == callee)
			return i - 1;
	}
	return NONE;
}

static int sub_grow(struct pp_thread *th)
{
	uint32_t mask = th->subtab ? th->submask * 2 + 1 : 255;
	uint32_t *tab = calloc((size_t)mask + 1, sizeof(*tab));
	if (tab == NULL)
		return -1;
	for (uint32_t i = 0; i < th->nsubs; i++) {
		uint32_t s =
			sub_hash(th->subs[i].caller, th->subs[i].callee) & mask;
		while (tab[s] != 0)
			s = (s + 1) & mask;
		tab[s] = i + 1;
	}
	free(th->subtab);
	th->subtab = tab;
	th->submask = mask;
	return 0;
}

static uint32_t sub_add(struct pp_thread *th, uint32_t caller, uint32_t callee)
{
	uint32_t i = sub_find(th, caller, callee), s;
	if (i != NONE)
		return i;
	if (th->nsubs == th->capsubs) {
		uint32_t n = th->capsubs ? th->capsubs * 2 : 256;
		struct pp_sub *p = realloc(th->subs, n * sizeof(*p));
		if (p == NULL)
			return NONE;
		th->subs = p;
		th->capsubs = n;
	}
	if (th->subtab == NULL || (th->nsubs + 1) * 2 > th->submask + 1) {
		if (sub_grow(th) != 0)
			return NONE;
	}
	i = th->nsubs++;
	memset(&th->subs[i], 0, sizeof(th->subs[i]));
	th->subs[i].caller = caller;
	th->subs[i].callee = callee;
	for (s = sub_hash(caller, callee) & th->submask; th->subtab[s] != 0;
	     s = (s + 1) & th->submask)
		;
	th->subtab[s] = i + 1;
	return i;
}

/* _lsprof ptrace_enter_call + initContext. */
static void enter(struct pp_thread *th, struct pysite *ps)
{
	struct pp_ctx *c;
	if (th->depth == th->cap) {
		uint32_t n = th->cap ? th->cap * 2 : 64;
		c = realloc(th->stack, n * sizeof(*c));
		if (c == NULL) {
			dropped++;
			return;
		}
		th->stack = c;
		th->cap = n;
	}
	c = &th->stack[th->depth];
	c->sid = ps->id;
	c->sub = NONE;
	c->subt = 0;
	if (opts.pstats) {
		struct pp_entry *e = entry_for(th, ps->id);
		if (e == NULL) {
			dropped++;
			return;
		}
		e->seen = 1;
		e->level++;
		if (th->depth > 0) {
			c->sub = sub_add(th, th->stack[th->depth - 1].sid,
					 ps->id);
			if (c->sub != NONE)
				th->subs[c->sub].level++;
			else
				dropped++;
		}
	}
	th->depth++;
	if (opts.agent)
		fp_enter_nested(&ps->site);
	c->t0 = now_ns();
}

/* _lsprof Stop: the top context ends, charged to entry sid. */
static void stop_ctx(struct pp_thread *th, uint32_t sid, int64_t now)
{
	struct pp_ctx *c = &th->stack[--th->depth];
	struct pp_ctx *prev = th->depth > 0 ? &th->stack[th->depth - 1] : NULL;
	int64_t tt = now - c->t0, it = tt - c->subt;
	struct pp_entry *e = &th->ents[sid];
	uint32_t sub;

	if (prev != NULL)
		prev->subt += tt;
	if (--e->level == 0)
		e->tt += tt;
	else
		e->nrec++;
	e->it += it;
	e->ncalls++;
	if (prev == NULL)
		return;
	sub = c->sid == sid ? c->sub : sub_find(th, prev->sid, sid);
	if (sub == NONE)
		return;
	if (--th->subs[sub].level == 0)
		th->subs[sub].tt += tt;
	else
		th->subs[sub].nrec++;
	th->subs[sub].it += it;
	th->subs[sub].ncalls++;
}

/* _lsprof ptrace_leave_call: pops the top context whatever it is; its time
 * goes to the returning function if this thread has seen it. */
static void leave(struct pp_thread *th, const struct pysite *ps)
{
	int64_t now = now_ns();
	if (th->depth == 0)
		return;
	if (opts.agent)
		fp_exit_nested(ps ? &ps->site : NULL);
	if (opts.pstats && ps != NULL && ps->id < th->nents &&
	    th->ents[ps->id].seen)
		stop_ctx(th, ps->id, now);
	else
		th->depth--;
}

/* _lsprof flush_unmatched: open calls end now. */
static void flush_unmatched(struct pp_thread *th)
{
	while (th->depth > 0) {
		const struct pp_ctx *c = &th->stack[th->depth - 1];
		if (opts.agent)
			fp_exit_nested(&pysite_at(c->sid)->site);
		if (opts.pstats && c->sid < th->nents && th->ents[c->sid].seen)
			stop_ctx(th, c->sid, now_ns());
		else
			th->depth--;
	}
}

int pyprof_callback(PyObject *obj, PyFrameObject *frame, int what,
		    PyObject *arg)
{
	struct pp_thread *th;
	struct pysite *ps;
	PyCodeObject *code;
	(void)obj;

	if (__builtin_expect(!running, 0)) {
		/* Stopped from another thread: end this thread's calls. */
		th = tls;
		if (th != NULL)
			flush_unmatched(th);
		PyEval_SetProfile(NULL, NULL);
		return 0;
	}
	th = thread_get();
	if (th == NULL) {
		dropped++;
		return 0;
	}
	switch (what) {
	case PyTrace_CALL:
		code = PyFrame_GetCode(frame);
		ps = pysite_code(code);
		Py_DECREF(code);
		if (ps != NULL)
			enter(th, ps);
		else
			dropped++;
		break;
	case PyTrace_RETURN:
		code = PyFrame_GetCode(frame);
		ps = pysite_find(code);
		Py_DECREF(code);
		leave(th, ps);
		break;
	case PyTrace_C_CALL:
		if (!PyCFunction_Check(arg) ||
		    ((PyCFunctionObject *)arg)->m_ml == opts.ignore)
			break;
		ps = pysite_builtin(arg);
		if (ps != NULL)
			enter(th, ps);
		else
			dropped++;
		break;
	case PyTrace_C_RETURN:
	case PyTrace_C_EXCEPTION:
		if (!PyCFunction_Check(arg) ||
		    ((PyCFunctionObject *)arg)->m_ml == opts.ignore)
			break;
		leave(th, pysite_find(((PyCFunctionObject *)arg)->m_ml));
		break;
	default:
		break;
	}
	return 0;
}

void pyprof_start(const struct pyprof_opts *o, int all_threads)
{
	opts = *o;
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

void pyprof_stop(void)
{
	if (!running)
		return;
	running = 0;
#if PY_VERSION_HEX >= 0x030C0000
	PyEval_SetProfileAllThreads(NULL, NULL);
#else
	PyEval_SetProfile(NULL, NULL);
#endif
	if (tls != NULL)
		flush_unmatched(tls);
}

int pyprof_running(void)
{
	return running;
}

void pyprof_clear(void)
{
	for (struct pp_thread *th = threads; th != NULL; th = th->next) {
		for (uint32_t i = 0; i < th->nents; i++) {
			int32_t level = th->ents[i].level;
			uint8_t seen = th->ents[i].seen;
			memset(&th->ents[i], 0, sizeof(th->ents[i]));
			th->ents[i].level = level;
			th->ents[i].seen = seen;
		}
		for (uint32_t i = 0; i < th->nsubs; i++) {
			struct pp_sub *p = &th->subs[i];
			p->tt = p->it = 0;
			p->ncalls = p->nrec = 0;
		}
	}
	dropped = 0;
}

uint64_t pyprof_dropped(void)
{
	return dropped;
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

PyObject *pyprof_snapshot(void)
{
	PyObject *labels = PyList_New(0), *fns = PyList_New(0);
	PyObject *edges = PyList_New(0);
	uint32_t n = pysite_count();

	if (labels == NULL || fns == NULL || edges == NULL)
		goto err;
	for (uint32_t i = 0; i < n; i++) {
		const struct fp_site *s = &pysite_at(i)->site;
		if (append_new(labels, Py_BuildValue("(sis)", s->file, s->line,
						     s->name)) != 0)
			goto err;
	}
	for (struct pp_thread *th = threads; th != NULL; th = th->next) {
		for (uint32_t i = 0; i < th->nents && i < n; i++) {
			const struct pp_entry *e = &th->ents[i];
			if (!e->seen || e->ncalls == 0)
				continue;
			if (append_new(fns,
				       Py_BuildValue(
					       "(IKKdd)", i,
					       (unsigned long long)e->ncalls,
					       (unsigned long long)e->nrec,
					       e->it / 1e9, e->tt / 1e9)) != 0)
				goto err;
		}
		for (uint32_t i = 0; i < th->nsubs; i++) {
			const struct pp_sub *p = &th->subs[i];
			if (p->ncalls == 0)
				continue;
			if (append_new(edges,
				       Py_BuildValue(
					       "(IIKKdd)", p->caller, p->callee,
					       (unsigned long long)p->ncalls,
					       (unsigned long long)p->nrec,
					       p->it / 1e9, p->tt / 1e9)) != 0)
				goto err;
		}
	}
	return Py_BuildValue("(NNN)", labels, fns, edges);
err:
	Py_XDECREF(labels);
	Py_XDECREF(fns);
	Py_XDECREF(edges);
	return NULL;
}
