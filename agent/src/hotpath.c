/*
 * The hot path: every instrumented call enters here, through the public
 * fp_enter/fp_exit family, FP_FUNCTION/FP_SCOPE, or the -finstrument-
 * functions hooks. It touches only this thread's tree (thread-local, found
 * with the initial-exec TLS model: one instruction, no lock, no call) and
 * reads the clock. A thread's first call creates and registers its tree.
 * Nothing here may be instrumented itself (no_instrument_function).
 */
#include "agent_internal.h"
#include "calltree.h"
#include "clock.h"
#include "fleetprof/fleetprof.h"

#include <stdatomic.h>

#define NOINST __attribute__((no_instrument_function))
#define TREE_DEAD ((struct ct_tree *)1)

/* initial-exec: a fixed offset from the thread pointer. Safe for the
 * executable and libraries loaded at start-up or by LD_PRELOAD; a dlopen'ed
 * libfleetprof uses the static TLS surplus glibc keeps for that (8 bytes). */
static __thread struct ct_tree *tls_tree
	__attribute__((tls_model("initial-exec")));
static atomic_uint_least64_t lost_no_tree;

NOINST static __attribute__((noinline)) struct ct_tree *tree_slow(void)
{
	struct ct_tree *t;
	if (tls_tree == TREE_DEAD)
		return NULL;
	t = agent_tree_new();
	tls_tree = t != NULL ? t : TREE_DEAD;
	return t;
}

NOINST void agent_hotpath_thread_exit(void)
{
	tls_tree = TREE_DEAD;
}

NOINST struct ct_tree *agent_hotpath_tree(void)
{
	struct ct_tree *t = tls_tree;
	return t == TREE_DEAD ? NULL : t;
}

NOINST uint64_t agent_hotpath_lost(void)
{
	return atomic_load_explicit(&lost_no_tree, memory_order_relaxed);
}

NOINST static inline struct ct_tree *tree(void)
{
	struct ct_tree *t = tls_tree;
	if (__builtin_expect(t == NULL || t == TREE_DEAD, 0)) {
		t = tree_slow();
		if (t == NULL)
			atomic_fetch_add_explicit(&lost_no_tree, 1,
						  memory_order_relaxed);
	}
	return t;
}

#define SP() ((uintptr_t)__builtin_frame_address(0))

NOINST __attribute__((noinline)) void fp_enter(const struct fp_site *site)
{
	struct ct_tree *t = tree();
	if (t != NULL)
		ct_enter(t, site, CT_SITE, SP(), agent_clock_now());
}

NOINST __attribute__((noinline)) void fp_exit(void)
{
	struct ct_tree *t = tls_tree;
	if (__builtin_expect(t != NULL && t != TREE_DEAD, 1))
		ct_exit(t, NULL, SP(), agent_clock_now());
}

NOINST __attribute__((noinline)) void fp_exit_site(const struct fp_site *site)
{
	struct ct_tree *t = tls_tree;
	if (__builtin_expect(t != NULL && t != TREE_DEAD, 1))
		ct_exit(t, site, SP(), agent_clock_now());
}

/* -finstrument-functions: called on entry to and exit from every function
 * of code built with it. fn is the function's address, resolved to a name
 * at flush time (symbols.c). glibc has no-op versions; these replace them
 * when the program links libfleetprof or it is LD_PRELOADed. */
NOINST __attribute__((noinline, visibility("default"))) void
__cyg_profile_func_enter(void *fn, void *site)
{
	struct ct_tree *t = tree();
	(void)site;
	if (t != NULL)
		ct_enter(t, fn, CT_ADDR, SP(), agent_clock_now());
}

NOINST __attribute__((noinline, visibility("default"))) void
__cyg_profile_func_exit(void *fn, void *site)
{
	struct ct_tree *t = tls_tree;
	(void)site;
	if (__builtin_expect(t != NULL && t != TREE_DEAD, 1))
		ct_exit(t, fn, SP(), agent_clock_now());
}
