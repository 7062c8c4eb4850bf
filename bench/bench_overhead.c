/*
 * bench_overhead: what an instrumented call costs on the hot path, printed
 * next to floors measured in the same run on the same machine: a plain
 * (not inlined) call, and the two clock reads every timed call needs.
 * Each figure is the best of several repetitions (shared, noisy machines).
 */
#include <fleetprof/fleetprof.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPS 7

static volatile unsigned long sink;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

__attribute__((noinline)) static void plain_leaf(unsigned long i)
{
	sink += i;
}

__attribute__((noinline)) static void timed_leaf(unsigned long i)
{
	FP_FUNCTION();
	sink += i;
}

__attribute__((noinline)) static void clock_pair(unsigned long i)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	sink += i;
	clock_gettime(CLOCK_MONOTONIC, &b);
	sink += (unsigned long)(b.tv_nsec - a.tv_nsec);
}

__attribute__((noinline)) static unsigned long fib_plain(int n)
{
	return n < 2 ? (unsigned long)n : fib_plain(n - 1) + fib_plain(n - 2);
}

__attribute__((noinline)) static unsigned long fib_timed(int n)
{
	FP_FUNCTION();
	return n < 2 ? (unsigned long)n : fib_timed(n - 1) + fib_timed(n - 2);
}

typedef void (*leaf_fn)(unsigned long);

static double per_call(leaf_fn f, unsigned long n)
{
	double best = 1e300;
	for (int r = 0; r < REPS; r++) {
		double t0 = now_ns();
		for (unsigned long i = 0; i < n; i++)
			f(i);
		double t = (now_ns() - t0) / (double)n;
		if (t < best)
			best = t;
	}
	return best;
}

static double fib_time(unsigned long (*f)(int), int n)
{
	double best = 1e300;
	for (int r = 0; r < REPS; r++) {
		double t0 = now_ns();
		sink += f(n);
		double t = now_ns() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

int main(void)
{
	const unsigned long n = 5000000;
	const int fn = 27; /* 635621 calls */
	double plain, clocks, timed, fp, ft;

	/* No collector needed: the agent counts without one. */
	plain = per_call(plain_leaf, n);
	clocks = per_call(clock_pair, n);
	timed = per_call(timed_leaf, n);
	fp = fib_time(fib_plain, fn);
	ft = fib_time(fib_timed, fn);

	printf("hot path, best of %d, %lu calls each\n", REPS, n);
	printf("  %-34s %8.1f ns/call  (floor)\n", "plain call", plain);
	printf("  %-34s %8.1f ns/call  (floor: 2 clock reads)\n",
	       "call + 2 x clock_gettime", clocks);
	printf("  %-34s %8.1f ns/call  = plain + %.1f ns, %.2fx the "
	       "clock floor\n",
	       "FP_FUNCTION call", timed, timed - plain,
	       (timed - plain) / (clocks - plain));
	printf("fib(%d), 635621 calls\n", fn);
	printf("  %-34s %8.2f ms\n", "plain", fp / 1e6);
	printf("  %-34s %8.2f ms  = %.2fx plain, %.1f ns per call added\n",
	       "FP_FUNCTION on every call", ft / 1e6, ft / fp,
	       (ft - fp) / 635621.0);
	return 0;
}
