/*
 * Real longjmp through FP_FUNCTION frames: h() jumps back into f(), so the
 * cleanups of h and g never run. The agent must notice (at f's next call or
 * at f's own exit), close the two abandoned frames, and keep every count
 * exact over many rounds, with the shadow stack back at depth 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calltree.h"
#include "agent_internal.h"
#include "flush.h"
#include "fleetprof/fleetprof.h"
#include "wire/batch.h"

#define ROUNDS 1000

static jmp_buf jb;
static volatile int sink;

__attribute__((noinline)) static void h(void)
{
	FP_FUNCTION();
	longjmp(jb, 1);
}

__attribute__((noinline)) static void g(void)
{
	FP_FUNCTION();
	h();
	sink++;
}

__attribute__((noinline)) static void k(void)
{
	FP_FUNCTION();
	sink++;
}

__attribute__((noinline)) static void f(void)
{
	FP_FUNCTION();
	if (setjmp(jb) == 0)
		g();
	else
		k();
}

__attribute__((noinline)) static void m(void)
{
	FP_FUNCTION();
	sink++;
}

static const struct wire_fstat *find(const struct wire_batch *b,
				     const char *name, uint32_t *id)
{
	for (uint32_t i = 0; i < b->nfns; i++) {
		if (strcmp(b->fns[i].name, name) != 0)
			continue;
		*id = b->fns[i].id;
		for (uint32_t k = 0; k < b->nfstats; k++)
			if (b->fstats[k].fn == *id)
				return &b->fstats[k];
	}
	fail_msg("%s not in batch", name);
	return NULL;
}

static void test_longjmp_rounds(void **state)
{
	struct agent_identity id;
	struct ct_tree *t;
	struct wire_batch *b = NULL;
	void *msg;
	size_t len;
	uint32_t fid, mid;
	(void)state;

	for (int i = 0; i < ROUNDS; i++) {
		f();
		m();
	}
	t = agent_hotpath_tree();
	assert_non_null(t);
	assert_int_equal(t->depth, 0);
	assert_int_equal(t->repairs, 2 * ROUNDS); /* h and g each round */

	memset(&id, 0, sizeof(id));
	strcpy(id.host, "h");
	strcpy(id.service, "s");
	assert_int_equal(
		agent_flush_build(&t, 1, &id, 1, 0, 1, 0, NULL, &msg, &len), 0);
	assert_int_equal(wire_decode(msg, len, NULL, &b, NULL), 0);
	free(msg);
	const char *names[] = {"f", "g", "h", "k", "m"};
	for (int i = 0; i < 5; i++) {
		const struct wire_fstat *s = find(b, names[i], &fid);
		assert_int_equal(s->ncalls, ROUNDS);
		assert_int_equal(s->pcalls, ROUNDS);
	}
	/* m is always called from the top level: after each repair the
	 * stack is back at the root. */
	find(b, "m", &mid);
	for (uint32_t i = 0; i < b->nnodes; i++)
		if (b->nodes[i].fn == mid)
			assert_int_equal(b->nodes[i].parent, 0);
	wire_batch_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_longjmp_rounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
