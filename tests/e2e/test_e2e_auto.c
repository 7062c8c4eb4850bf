/*
 * Automatic instrumentation, end to end and checked against an independent
 * counter: fleetprof-auto-sample (no fleetprof code, -finstrument-functions)
 * runs under valgrind's callgrind, which counts every call exactly, while
 * the agent — started by its constructor because FLEETPROF_COLLECTOR is set
 * — sends to a real collector. Per function, the ncalls `fleetprof top`
 * reports must equal callgrind's. Then the same program built without
 * libfleetprof gets the agent by LD_PRELOAD and must report the same counts.
 */
#include <ctype.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "fp_test.h"

static const char *const fns[] = {"main", "round_once", "next_rand", "insert",
				  "walk", "compare",	"checksum",  "fib"};
#define NFNS (sizeof(fns) / sizeof(fns[0]))

static char url[1024];
static char listen_url[64];
static char outdir[1024];
static pid_t coll;

/* Sums callgrind's calls= lines per callee, merging recursion levels
 * ("fib'2") into one function. */
static long long callgrind_calls(const char *path, const char *fn)
{
	static char names[65536][48];
	char line[4096];
	long long total = 0;
	long cur = -1;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	memset(names, 0, sizeof(names));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p;
		long id;
		int is_cfn = strncmp(line, "cfn=(", 5) == 0;
		if (is_cfn || strncmp(line, "fn=(", 4) == 0) {
			p = line + (is_cfn ? 5 : 4);
			id = strtol(p, &p, 10);
			if (id < 0 || id >= 65536 || *p != ')')
				continue;
			if (p[1] == ' ') {
				char *name = p + 2, *q;
				name[strcspn(name, "\n")] = '\0';
				if ((q = strchr(name, '\'')) != NULL)
					*q = '\0'; /* fib'2 -> fib */
				snprintf(names[id], sizeof(names[id]), "%s",
					 name);
			}
			if (is_cfn)
				cur = id;
		} else if (strncmp(line, "calls=", 6) == 0 && cur >= 0) {
			if (strcmp(names[cur], fn) == 0)
				total += strtoll(line + 6, NULL, 10);
			cur = -1;
		}
	}
	fclose(f);
	return total;
}

static json_t *top(const char *service)
{
	char cmd[2048];
	json_error_t jerr;
	char *out;
	int st;
	json_t *j;
	snprintf(cmd, sizeof(cmd),
		 "%s top --db '%s' --service %s --since 1h --limit 0 "
		 "--format json",
		 fp_test_bin("fleetprof"), url, service);
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 0);
	j = json_loads(out, 0, &jerr);
	if (j == NULL)
		fail_msg("bad JSON: %s\n%s", jerr.text, out);
	free(out);
	return j;
}

static long long agent_calls(json_t *arr, const char *fn)
{
	size_t i;
	json_t *row;
	json_array_foreach (arr, i, row) {
		if (strcmp(json_string_value(json_object_get(row, "function")),
			   fn) == 0)
			return json_integer_value(
				json_object_get(row, "ncalls"));
	}
	return -1;
}

static void run(const char *service, const char *const *prefix, const char *bin,
		const char *preload)
{
	char e1[128], e2[64], e3[64], e4[1100];
	char *env[] = {e1, e2, e3, preload ? e4 : NULL, NULL};
	char *argv[16];
	int n = 0;
	pid_t pid;

	snprintf(e1, sizeof(e1), "FLEETPROF_COLLECTOR=%s", listen_url);
	snprintf(e2, sizeof(e2), "FLEETPROF_SERVICE=%s", service);
	snprintf(e3, sizeof(e3), "FLEETPROF_EXIT_TIMEOUT_MS=60000");
	if (preload)
		snprintf(e4, sizeof(e4), "LD_PRELOAD=%s", preload);
	for (; prefix && prefix[n]; n++)
		argv[n] = (char *)prefix[n];
	argv[n++] = (char *)bin;
	argv[n++] = "3";
	argv[n] = NULL;
	pid = fp_test_spawn(argv, env, NULL);
	assert_int_equal(fp_test_wait(pid, 240000), 0);
}

static void test_auto_matches_callgrind(void **state)
{
	char cg_out[1100], cg_arg[1200];
	const char *prefix[] = {"/usr/bin/valgrind", "--tool=callgrind", "-q",
				cg_arg, NULL};
	char bin[1100], plain[1100], lib[1100];
	json_t *a, *b;
	(void)state;

#ifdef FP_SANITIZED
	printf("SKIP: callgrind and LD_PRELOAD do not mix with sanitizers\n");
	skip();
#endif
	if (access("/usr/bin/valgrind", X_OK) != 0) {
		printf("SKIP: valgrind not installed\n");
		skip();
	}
	snprintf(cg_out, sizeof(cg_out), "%s/auto.callgrind", outdir);
	snprintf(cg_arg, sizeof(cg_arg), "--callgrind-out-file=%s", cg_out);
	snprintf(bin, sizeof(bin), "%s", fp_test_bin("fleetprof-auto-sample"));
	snprintf(plain, sizeof(plain), "%s",
		 fp_test_bin("fleetprof-auto-sample-plain"));
	snprintf(lib, sizeof(lib), "%s/../lib/libfleetprof.so",
		 getenv("FP_BIN_DIR"));

	run("auto", prefix, bin, NULL);
	run("auto-preload", NULL, plain, lib);
	a = top("auto");
	b = top("auto-preload");
	for (size_t i = 0; i < NFNS; i++) {
		long long cg = callgrind_calls(cg_out, fns[i]);
		long long ag = agent_calls(a, fns[i]);
		long long pl = agent_calls(b, fns[i]);
		printf("%-10s callgrind %8lld  agent %8lld  preload %8lld\n",
		       fns[i], cg, ag, pl);
		assert_true(cg > 0);
		assert_int_equal(ag, cg);
		assert_int_equal(pl, cg);
	}
	json_decref(a);
	json_decref(b);
}

static int setup(void **state)
{
	int port;
	char *argv[] = {(char *)fp_test_bin("fleetprof-collector"),
			"--listen",
			listen_url,
			"--db",
			url,
			NULL};
	(void)state;
	if (fp_test_db_ready("auto", url, sizeof(url)) != 0)
		return -1;
	snprintf(outdir, sizeof(outdir), "%s/../tests", getenv("FP_BIN_DIR"));
	port = fp_test_free_port();
	snprintf(listen_url, sizeof(listen_url), "tcp://127.0.0.1:%d", port);
	coll = fp_test_spawn(argv, NULL, NULL);
	return fp_test_wait_port(port, 10000);
}

static int teardown(void **state)
{
	(void)state;
	kill(coll, SIGTERM);
	fp_test_wait(coll, 10000);
	fp_test_db_drop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_matches_callgrind),
	};
	int need = fp_test_need_db("test_e2e_auto");
	if (need != 0)
		return need;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
