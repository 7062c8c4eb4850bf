/*
 * Enter/exit for interpreters (the Python agent): their calls are strictly
 * nested, but their C stack does not follow the call depth, so the frame
 * address that fp_enter uses to detect longjmp means nothing here. A frame
 * entered through this file inherits its parent's stack mark, so the longjmp
 * check never closes it; C frames under or above it keep their own marks.
 */
#include "agent_internal.h"
#include "calltree.h"
#include "clock.h"
#include "fleetprof/fleetprof.h"

#include <stdint.h>

#define NOINST __attribute__((no_instrument_function))

static inline uintptr_t inherited_sp(const struct ct_tree *t)
{
	return t->depth > 0 ? t->stack[t->depth].sp : UINTPTR_MAX;
}

NOINST void fp_enter_nested(const struct fp_site *site)
{
	struct ct_tree *t = agent_hotpath_tree();

	if (__builtin_expect(t == NULL, 0)) {
		/* First call on this thread: fp_enter creates the tree. */
		fp_enter(site);
		t = agent_hotpath_tree();
		if (t != NULL && t->depth == 1 && t->skipped == 0)
			t->stack[1].sp = UINTPTR_MAX;
		return;
	}
	ct_enter(t, site, CT_SITE, inherited_sp(t), agent_clock_now());
}

NOINST void fp_exit_nested(const struct fp_site *site)
{
	struct ct_tree *t = agent_hotpath_tree();

	if (__builtin_expect(t != NULL, 1))
		ct_exit(t, site, inherited_sp(t), agent_clock_now());
}
