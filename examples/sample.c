/*
 * fleetprof-sample: a small instrumented program with known call counts.
 * `--workload fib --runs K` calls fib(N) K times: fib gets 21891*K calls
 * (N=20), K of them primitive. `--workload web` simulates a request handler
 * (parse, query, render, escape) for the demo. `--workload fork --children
 * N` runs the fib workload in the parent and in N children forked without
 * exec (the pre-forking server pattern). Profiles go to the collector named
 * by FLEETPROF_COLLECTOR.
 */
#include <fleetprof/fleetprof.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static unsigned long fib(int n)
{
	FP_FUNCTION();
	return n < 2 ? (unsigned long)n : fib(n - 1) + fib(n - 2);
}

static void spin(unsigned long iters)
{
	for (unsigned long i = 0; i < iters; i++)
		sink += i;
}

static void escape_html(int chars)
{
	FP_FUNCTION();
	spin((unsigned long)chars * 40);
}

static void render_template(void)
{
	FP_FUNCTION();
	for (int i = 0; i < 8; i++)
		escape_html(64);
	spin(4000);
}

static void query_db(int rows)
{
	FP_FUNCTION();
	spin((unsigned long)rows * 3000);
}

static void parse_request(void)
{
	FP_FUNCTION();
	spin(2000);
}

static void handle_request(int i)
{
	FP_FUNCTION();
	parse_request();
	query_db(i % 7 == 0 ? 40 : 4);
	{
		FP_SCOPE("render");
		render_template();
	}
	if (i % 50 == 0)
		sink += fib(15);
}

static void run_fib(int n)
{
	FP_FUNCTION();
	sink += fib(n);
}

static long arg_long(const char *s, const char *name)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0) {
		fprintf(stderr, "fleetprof-sample: bad %s '%s'\n", name, s);
		exit(2);
	}
	return v;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *workload = "web";
	long runs = 0, fibn = 20, sleep_ms = 0, children = 0;
	pid_t kids[64];
	long nkids = 0;
	double seconds = 3, start;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--workload") == 0 && i + 1 < argc) {
			workload = argv[++i];
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			runs = arg_long(argv[++i], "--runs");
		} else if (strcmp(argv[i], "--fib") == 0 && i + 1 < argc) {
			fibn = arg_long(argv[++i], "--fib");
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = (double)arg_long(argv[++i], "--seconds");
		} else if (strcmp(argv[i], "--children") == 0 && i + 1 < argc) {
			children = arg_long(argv[++i], "--children");
			if (children > 64)
				children = 64;
		} else if (strcmp(argv[i], "--sleep-ms") == 0 && i + 1 < argc) {
			sleep_ms = arg_long(argv[++i], "--sleep-ms");
		} else {
			fprintf(stderr, "usage: fleetprof-sample [--workload "
					"web|fib|fork] "
					"[--runs K] [--fib N] [--seconds S] "
					"[--sleep-ms MS] [--children N]\n");
			return 2;
		}
	}
	if ((rc = fp_init(NULL)) != 0)
		fprintf(stderr, "fleetprof-sample: fp_init: %s\n",
			fp_strerror(rc));
	if (strcmp(workload, "fork") == 0) {
		workload = "fib";
		for (long c = 0; c < children; c++) {
			pid_t p = fork();
			if (p < 0) {
				perror("fleetprof-sample: fork");
				return 1;
			}
			if (p == 0) {
				nkids = 0; /* a child waits for nobody */
				break;
			}
			kids[nkids++] = p;
		}
	}
	start = now_s();
	for (long i = 0; runs > 0 ? i < runs : now_s() - start < seconds; i++) {
		if (strcmp(workload, "fib") == 0)
			run_fib((int)fibn);
		else
			handle_request((int)i);
		if (sleep_ms > 0) {
			struct timespec ts = {sleep_ms / 1000,
					      (sleep_ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	for (long c = 0; c < nkids; c++) {
		int st;
		if (waitpid(kids[c], &st, 0) != kids[c] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			fprintf(stderr, "fleetprof-sample: child %ld failed\n",
				c);
			return 1;
		}
	}
	fp_shutdown();
	return 0;
}
