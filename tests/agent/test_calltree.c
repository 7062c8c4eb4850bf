/*
 * Unit tests of the agent's calling-context tree and of the batch builder:
 * cProfile's semantics (ncalls, pcalls, tottime, cumtime per function and per
 * edge) on scripted call sequences with a fake clock, so every number is
 * known exactly; deltas across flushes; depth and node limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calltree.h"
#include "flush.h"
#include "fleetprof/fleetprof.h"
#include "fp/error.h"
#include "wire/batch.h"

static const struct fp_site s_main = {"main", "t.c", 1};
static const struct fp_site s_a = {"a", "t.c", 10};
static const struct fp_site s_b = {"b", "t.c", 20};
static const struct fp_site s_fib = {"fib", "t.c", 30};
static const struct fp_site s_run = {"run", "t.c", 40};

static struct agent_identity ident;

/* Stack positions for scripted calls: deeper calls have lower addresses. */
#define SP(depth) ((uintptr_t)0x7fff0000 - (uintptr_t)(depth)*64)
#define ENTER(t, site, depth, now) ct_enter(t, site, CT_SITE, SP(depth), now)
#define EXIT(t, site, depth, now) ct_exit(t, site, SP(depth), now)
static uint64_t fake_now;
static uint64_t seq;

static struct wire_batch *flush(struct ct_tree *t)
{
	struct wire_batch *b = NULL;
	struct ct_tree *trees[1] = {t};
	void *msg = NULL;
	size_t len = 0;
	struct wire_error err;

	assert_int_equal(agent_flush_build(trees, 1, &ident, ++seq, 1000, 2000,
					   0, NULL, &msg, &len),
			 0);
	if (msg == NULL)
		return NULL;
	assert_int_equal(wire_decode(msg, len, NULL, &b, &err), 0);
	free(msg);
	return b;
}

static uint32_t fn_id(const struct wire_batch *b, const char *name)
{
	for (uint32_t i = 0; i < b->nfns; i++)
		if (strcmp(b->fns[i].name, name) == 0)
			return b->fns[i].id;
	fail_msg("function %s not in batch", name);
	return 0;
}

static const struct wire_fstat *fstat(const struct wire_batch *b,
				      const char *name)
{
	uint32_t id = fn_id(b, name);
	for (uint32_t i = 0; i < b->nfstats; i++)
		if (b->fstats[i].fn == id)
			return &b->fstats[i];
	fail_msg("no fstat for %s", name);
	return NULL;
}

static const struct wire_edge *edge(const struct wire_batch *b,
				    const char *caller, const char *callee)
{
	uint32_t c = fn_id(b, caller), e = fn_id(b, callee);
	for (uint32_t i = 0; i < b->nedges; i++)
		if (b->edges[i].caller == c && b->edges[i].callee == e)
			return &b->edges[i];
	fail_msg("no edge %s -> %s", caller, callee);
	return NULL;
}

static void check4(uint64_t n, uint64_t p, uint64_t tt, uint64_t ct,
		   uint64_t en, uint64_t ep, uint64_t ett, uint64_t ect)
{
	assert_int_equal(n, en);
	assert_int_equal(p, ep);
	assert_int_equal(tt, ett);
	assert_int_equal(ct, ect);
}

#define CHECK_FN(b, name, n, p, tt, ct)                                        \
	do {                                                                   \
		const struct wire_fstat *s_ = fstat(b, name);                  \
		check4(s_->ncalls, s_->pcalls, s_->tottime_ns, s_->cumtime_ns, \
		       n, p, tt, ct);                                          \
	} while (0)
#define CHECK_EDGE(b, from, to, n, p, tt, ct)                                  \
	do {                                                                   \
		const struct wire_edge *e_ = edge(b, from, to);                \
		check4(e_->ncalls, e_->pcalls, e_->tottime_ns, e_->cumtime_ns, \
		       n, p, tt, ct);                                          \
	} while (0)

/* main -> a -> b -> a, with explicit times (see the comments). */
static void test_mutual_recursion(void **state)
{
	struct ct_tree *t = ct_tree_create(1024, 64);
	struct wire_batch *b;
	(void)state;

	ENTER(t, &s_main, 1, 0);
	ENTER(t, &s_a, 2, 10);
	ENTER(t, &s_b, 3, 20);
	ENTER(t, &s_a, 4, 30);
	EXIT(t, &s_a, 4, 40);	  /* inner a: total 10, self 10 */
	EXIT(t, &s_b, 3, 50);	  /* b: total 30, self 20 */
	EXIT(t, &s_a, 2, 60);	  /* outer a: total 50, self 20 */
	EXIT(t, &s_main, 1, 100); /* main: total 100, self 50 */

	b = flush(t);
	assert_non_null(b);
	assert_int_equal(b->nfns, 3);
	CHECK_FN(b, "main", 1, 1, 50, 100);
	CHECK_FN(b, "a", 2, 1, 30, 50); /* cumtime once, outermost */
	CHECK_FN(b, "b", 1, 1, 20, 30);
	assert_int_equal(b->nedges, 3);
	CHECK_EDGE(b, "main", "a", 1, 1, 20, 50);
	CHECK_EDGE(b, "a", "b", 1, 1, 20, 30);
	CHECK_EDGE(b, "b", "a", 1, 1, 10, 10);
	/* Paths: main, main/a, main/a/b, main/a/b/a. */
	assert_int_equal(b->nnodes, 4);
	assert_int_equal(b->nodes[0].parent, 0);
	for (uint32_t i = 1; i < 4; i++)
		assert_int_equal(b->nodes[i].parent, b->nodes[i - 1].node);
	assert_int_equal(b->nodes[3].self_ns, 10);
	assert_int_equal(b->nodes[1].total_ns, 50);
	wire_batch_destroy(b);

	/* Nothing new: nothing to send. */
	assert_null(flush(t));
	ct_tree_destroy(t);
}

static void fib_sim(struct ct_tree *t, int n, int depth)
{
	ENTER(t, &s_fib, depth, ++fake_now);
	if (n >= 2) {
		fib_sim(t, n - 1, depth + 1);
		fib_sim(t, n - 2, depth + 1);
	}
	EXIT(t, &s_fib, depth, ++fake_now);
}

/* fib(20) from run(): 21891 calls, 1 primitive; fib->fib edge: 21890
 * calls, 2 primitive (fib(20)'s two direct children). Each enter and exit
 * takes one tick, so every time is known. */
static void test_fib_and_deltas(void **state)
{
	struct ct_tree *t = ct_tree_create(1 << 16, 64);
	struct wire_batch *b;
	(void)state;

	fake_now = 0;
	ENTER(t, &s_run, 1, fake_now);
	fib_sim(t, 20, 2);
	EXIT(t, &s_run, 1, ++fake_now);
	b = flush(t);
	/* fib(20) spans 2*21891 ticks minus one (first enter to last exit) */
	CHECK_FN(b, "fib", 21891, 1, 2 * 21891 - 1, 2 * 21891 - 1);
	CHECK_FN(b, "run", 1, 1, 2, 2 * 21891 + 1);
	/* fib(20)'s own self time is 3 ticks: 43781 - 27057 - 16721. */
	CHECK_EDGE(b, "run", "fib", 1, 1, 3, 2 * 21891 - 1);
	/* Primitive fib->fib calls are fib(19) (13529 calls, 27057 ticks)
	 * and fib(18) (8361 calls, 16721 ticks). */
	CHECK_EDGE(b, "fib", "fib", 21890, 2, 43781 - 3, 27057 + 16721);
	wire_batch_destroy(b);

	/* Second run: the batch holds only its delta. */
	ENTER(t, &s_run, 1, ++fake_now);
	fib_sim(t, 10, 2);
	EXIT(t, &s_run, 1, ++fake_now);
	b = flush(t);
	CHECK_FN(b, "fib", 177, 1, 2 * 177 - 1, 2 * 177 - 1);
	CHECK_FN(b, "run", 1, 1, 2, 2 * 177 + 1);
	assert_int_equal(b->seq, seq);
	wire_batch_destroy(b);
	ct_tree_destroy(t);
}

static void recurse(struct ct_tree *t, int n, int depth)
{
	ENTER(t, &s_a, depth, ++fake_now);
	if (n > 1)
		recurse(t, n - 1, depth + 1);
	EXIT(t, &s_a, depth, ++fake_now);
}

static void test_depth_limit(void **state)
{
	struct ct_tree *t = ct_tree_create(1024, 4);
	struct wire_batch *b;
	(void)state;

	recurse(t, 10, 1); /* 4 recorded, 6 dropped, stack stays balanced */
	recurse(t, 10, 1);
	assert_int_equal(t->depth, 0);
	assert_int_equal(t->events_dropped, 12);
	b = flush(t);
	/* Per run: a1..a4 enter at ticks 1-4, 12 skipped events, exits at
	 * 17-20: a4 total 13 (all self), a3/a2/a1 self 2 each, a1 total 19. */
	CHECK_FN(b, "a", 8, 2, 38, 38);
	assert_int_equal(b->dropped, 12);
	wire_batch_destroy(b);
	ct_tree_destroy(t);
}

static void test_node_limit(void **state)
{
	static struct fp_site sites[20];
	struct ct_tree *t = ct_tree_create(8, 64); /* root + 6 + [truncated] */
	struct wire_batch *b;
	(void)state;

	for (int i = 0; i < 20; i++) {
		sites[i] = (struct fp_site){"f", "t.c", i + 1};
		ENTER(t, &sites[i], 1, ++fake_now);
		EXIT(t, &sites[i], 1, ++fake_now);
	}
	b = flush(t);
	/* 6 distinct nodes fit; the other 14 calls land in [truncated]. */
	assert_int_equal(b->nfns, 7);
	CHECK_FN(b, "[truncated]", 14, 14, 14, 14);
	assert_int_equal(b->dropped, 14);
	wire_batch_destroy(b);
	ct_tree_destroy(t);
}

static void test_unmatched_exit(void **state)
{
	struct ct_tree *t = ct_tree_create(64, 8);
	struct wire_batch *b;
	(void)state;
	EXIT(t, &s_b, 1, 5); /* ignored */
	ENTER(t, &s_b, 1, 10);
	EXIT(t, &s_b, 1, 15);
	EXIT(t, &s_b, 1, 20); /* ignored */
	b = flush(t);
	CHECK_FN(b, "b", 1, 1, 5, 5);
	assert_int_equal(b->nedges, 0);
	wire_batch_destroy(b);
	ct_tree_destroy(t);
}

#include "config.h"

/*
 * A longjmp from run (depth 4) back into a (depth 2) skips the exits of run
 * and b. a's next call fib enters at depth 3: run sits strictly below it on
 * the stack, so it is closed then; b sits at fib's own depth (a sibling's
 * frame may be anywhere there) and stays until a's exit names a, which
 * closes it. Per-function counts stay exact; only fib's path goes under b.
 */
static void test_longjmp_repair(void **state)
{
	struct ct_tree *t = ct_tree_create(64, 16);
	struct wire_batch *b;
	(void)state;

	ENTER(t, &s_main, 1, 0);
	ENTER(t, &s_a, 2, 10);
	ENTER(t, &s_b, 3, 20);
	ENTER(t, &s_run, 4, 30);
	/* longjmp back into a at 40: the shadow stack does not see it */
	ENTER(t, &s_fib, 3, 50); /* closes run (30..50) */
	assert_int_equal(t->depth, 4);
	assert_int_equal(t->repairs, 1);
	EXIT(t, &s_fib, 3, 60);
	EXIT(t, &s_a, 2, 70); /* closes b (20..70), then a */
	assert_int_equal(t->depth, 1);
	assert_int_equal(t->repairs, 2);
	/* An exit that names a frame below abandoned ones closes them too. */
	ENTER(t, &s_b, 2, 80);
	ENTER(t, &s_run, 3, 85);
	EXIT(t, &s_main, 1, 100); /* closes run, b, then main itself */
	assert_int_equal(t->depth, 0);
	assert_int_equal(t->repairs, 4);

	b = flush(t);
	CHECK_FN(b, "main", 1, 1, 20, 100);
	CHECK_FN(b, "a", 1, 1, 10, 60);
	CHECK_FN(b, "b", 2, 2, 20 + 5, 50 + 20);
	CHECK_FN(b, "run", 2, 2, 20 + 15, 20 + 15);
	CHECK_FN(b, "fib", 1, 1, 10, 10);
	CHECK_EDGE(b, "b", "fib", 1, 1, 10, 10);
	CHECK_EDGE(b, "a", "b", 1, 1, 20, 50);
	CHECK_EDGE(b, "main", "b", 1, 1, 5, 20);
	CHECK_EDGE(b, "b", "run", 2, 2, 35, 35);
	wire_batch_destroy(b);
	ct_tree_destroy(t);
}

static void test_labels(void **state)
{
	struct agent_identity id;
	(void)state;
	memset(&id, 0, sizeof(id));
	assert_int_equal(agent_parse_labels("env=prod,zone=a,", &id), 0);
	assert_int_equal(id.nlabels, 2);
	assert_string_equal(id.labels[0].key, "env");
	assert_string_equal(id.labels[0].value, "prod");
	assert_string_equal(id.labels[1].key, "zone");
	assert_string_equal(id.labels[1].value, "a");
	assert_int_equal(agent_parse_labels("novalue", &id), FP_ESYNTAX);
	assert_int_equal(agent_parse_labels("=x", &id), FP_ESYNTAX);
	assert_int_equal(id.nlabels, 2); /* unchanged on failure */
	agent_identity_fini(&id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutual_recursion),
		cmocka_unit_test(test_fib_and_deltas),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_unmatched_exit),
		cmocka_unit_test(test_longjmp_repair),
		cmocka_unit_test(test_labels),
	};
	snprintf(ident.host, sizeof(ident.host), "h");
	snprintf(ident.service, sizeof(ident.service), "s");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
