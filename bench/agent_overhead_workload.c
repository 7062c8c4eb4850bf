/*
 * agent_overhead workload: the code every variant of the agent_overhead
 * benchmark times. One file compiled several ways (bench/CMakeLists.txt:
 * -D switches, -finstrument-functions, -pg) so the work and the calls are
 * identical in every variant. Only the workload functions are instrumented;
 * the driver below them is no_instrument_function. Single-threaded.
 */
#if defined(AO_EXPLICIT)
#include <fleetprof/fleetprof.h>
#define AO_FN() FP_FUNCTION()
#elif defined(AO_COUNT)
static unsigned long ao_calls;
#define AO_FN() ((void)ao_calls++)
#else
#define AO_FN() ((void)0)
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every workload function is a real call in every variant: instrumented
 * builds cannot inline or tail-call them, so the baseline must not either
 * (-fno-optimize-sibling-calls in CMake does the rest). */
#define WL __attribute__((noinline))
#define DRIVER __attribute__((no_instrument_function))

#define FIB_N 27
#define MIX_KEYS 8192
#define REPS 5

static volatile uint64_t sink;

/* ---- workload 1: call-heavy recursion ---- */

WL static uint64_t fib(int n)
{
	AO_FN();
	return n < 2 ? (uint64_t)n : fib(n - 1) + fib(n - 2);
}

/* ---- workload 2: small functions of varied depth ---- */

struct mnode {
	uint32_t key;
	struct mnode *left;
	struct mnode *right;
};

static struct mnode pool[MIX_KEYS];
static uint32_t hashes[MIX_KEYS];
static size_t nhashes;

/* Unbalanced binary search tree: depth follows the (random) key order. */
WL static void node_insert(struct mnode **link, struct mnode *n)
{
	AO_FN();
	if (*link == NULL) {
		*link = n;
		return;
	}
	node_insert(n->key < (*link)->key ? &(*link)->left : &(*link)->right,
		    n);
}

/* A 3-8 letter word derived from the key. */
WL static size_t word_make(char *buf, uint32_t key)
{
	AO_FN();
	size_t n = 3 + key % 6;
	for (size_t i = 0; i < n; i++) {
		buf[i] = (char)('a' + key % 26);
		key = key / 26 + (uint32_t)i * 7919u;
	}
	buf[n] = '\0';
	return n;
}

WL static uint32_t hash_finish(uint32_t h)
{
	AO_FN();
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

/* FNV-1a, then a finaliser. */
WL static uint32_t word_hash(const char *s, size_t n)
{
	AO_FN();
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return hash_finish(h);
}

/* In order: hashes a word per node (walk -> hash -> finish). */
WL static void tree_walk(const struct mnode *n)
{
	AO_FN();
	char buf[16];
	if (n == NULL)
		return;
	tree_walk(n->left);
	hashes[nhashes++] = word_hash(buf, word_make(buf, n->key));
	tree_walk(n->right);
}

WL static int hash_cmp(const void *a, const void *b)
{
	AO_FN();
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

WL static uint64_t mix_run(void)
{
	AO_FN();
	struct mnode *root = NULL;
	for (size_t i = 0; i < MIX_KEYS; i++)
		node_insert(&root, &pool[i]);
	nhashes = 0;
	tree_walk(root);
	qsort(hashes, nhashes, sizeof(hashes[0]), hash_cmp);
	return (uint64_t)hashes[0] ^ hashes[nhashes / 2];
}

/* ---- driver (never instrumented) ---- */

enum { W_FIB, W_MIX, W_NONE };

DRIVER static void mix_reset(void)
{
	uint32_t x = 2463534242u; /* xorshift32: the same keys every run */
	for (size_t i = 0; i < MIX_KEYS; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		pool[i] = (struct mnode){x, NULL, NULL};
	}
}

DRIVER static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One run of workload w; its time in ns (setup excluded). */
DRIVER static uint64_t run_once(int w)
{
	uint64_t t0;
	if (w == W_NONE)
		return 0;
	if (w == W_MIX)
		mix_reset();
	t0 = now_ns();
	sink += w == W_FIB ? fib(FIB_N) : mix_run();
	return now_ns() - t0;
}

#ifndef AO_COUNT
/* One warm-up run (it creates the profiler's nodes), then best of REPS. */
DRIVER static uint64_t run_best(int w)
{
	uint64_t best = UINT64_MAX;
	run_once(w);
	for (int r = 0; r < REPS; r++) {
		uint64_t t = run_once(w);
		if (t < best)
			best = t;
	}
	return best;
}
#endif

DRIVER static int workload(const char *name)
{
	if (strcmp(name, "fib") == 0)
		return W_FIB;
	if (strcmp(name, "mix") == 0)
		return W_MIX;
	if (strcmp(name, "none") == 0)
		return W_NONE;
	return -1;
}

/*
 * No argument: prints "fib <ns>" and "mix <ns>", best of REPS (the count
 * build prints calls per run instead). "once fib|mix|none": one run, no
 * output, for timing a whole process (uftrace record).
 */
DRIVER int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "once") == 0 &&
	    workload(argv[2]) >= 0) {
		run_once(workload(argv[2]));
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: %s [once fib|mix|none]\n", argv[0]);
		return 2;
	}
#ifdef AO_COUNT
	run_once(W_FIB);
	printf("fib %lu\n", ao_calls);
	ao_calls = 0;
	run_once(W_MIX);
	printf("mix %lu\n", ao_calls);
#else
	printf("fib %llu\n", (unsigned long long)run_best(W_FIB));
	printf("mix %llu\n", (unsigned long long)run_best(W_MIX));
#endif
	return 0;
}
