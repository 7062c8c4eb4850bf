/*
 * End-to-end test of `fleetprof serve`'s page in a real browser: the known
 * fleet (cli_fleet.c) in a scratch database, the real build/bin/fleetprof
 * serving it, and headless Chromium driven by serve_browser.py over
 * chromedriver (W3C WebDriver, python3's standard library). The values the
 * page must show are computed here from the fleet's tables and formatted
 * with the CLI's own functions, so the page is checked against the data
 * and against `fleetprof top`'s formatting. Screenshots land in the build
 * directory ($FP_SCREENSHOT). Without chromium, chromedriver or python3 it
 * prints a SKIP line and exits 77 (ctest: Skipped) — a failure under CI,
 * where .ci/run installs them (deploy/install-deps --browser).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_fleet.h"
#include "cli_units.h"
#include "fp_test.h"
#include "storage/query.h"

#define CHROMIUM "/usr/bin/chromium"
#define CHROMEDRIVER "/usr/bin/chromedriver"

struct ctx {
	char url[1024];
	int port;
	pid_t pid;
	char log[128];
	int64_t t;
};

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : dflt;
}

/* 0 when the browser tools are here; else the exit code (77, or 1 in CI). */
static int need_browser(void)
{
	const char *tools[] = {env_or("FP_CHROMIUM", CHROMIUM),
			       env_or("FP_CHROMEDRIVER", CHROMEDRIVER)};
	const char *ci = getenv("CI"), *missing = NULL;
	int st;
	char *out;

	for (size_t i = 0; i < 2 && missing == NULL; i++)
		if (access(tools[i], X_OK) != 0)
			missing = tools[i];
	if (missing == NULL) {
		out = fp_test_run("python3 -c 'import urllib.request' "
				  "2>/dev/null",
				  &st);
		free(out);
		if (st != 0)
			missing = "python3";
	}
	if (missing == NULL)
		return 0;
	if (ci != NULL && ci[0] != '\0' && strcmp(ci, "false") != 0) {
		printf("FAIL: test_cli_serve_browser: %s is missing; .ci/run "
		       "must run deploy/install-deps --browser\n",
		       missing);
		return 1;
	}
	printf("SKIP: test_cli_serve_browser: %s is missing (install "
	       "chromium, chromium-driver and python3: deploy/install-deps "
	       "--browser)\n",
	       missing);
	return 77;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char listen[64], *argv[7];

	if (c == NULL)
		return -1;
	*state = c;
	if (fp_test_db_create("serve_browser", c->url, sizeof(c->url)) != 0)
		return -1;
	c->t = storage_bucket_floor(fp_wall_ns()) - 5 * MIN_NS;
	if (fleet_load(c->url, c->t) != 0)
		return -1;
	c->port = fp_test_free_port();
	snprintf(listen, sizeof(listen), "http://127.0.0.1:%d", c->port);
	snprintf(c->log, sizeof(c->log), "/tmp/fp_test_serve_browser_%d.log",
		 (int)getpid());
	argv[0] = (char *)fp_test_bin("fleetprof");
	argv[1] = "serve";
	argv[2] = "--listen";
	argv[3] = listen;
	argv[4] = "--db";
	argv[5] = c->url;
	argv[6] = NULL;
	c->pid = fp_test_spawn(argv, NULL, c->log);
	if (c->pid <= 0 || fp_test_wait_port(c->port, 20000) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	int rc = 0;

	if (c->pid > 0) {
		kill(c->pid, SIGTERM);
		rc = fp_test_wait(c->pid, 20000) == 0 ? 0 : -1;
	}
	if (c->url[0] != '\0')
		fp_test_db_drop();
	if (rc == 0)
		unlink(c->log);
	else
		fprintf(stderr, "fleetprof serve failed to stop; log: %s\n",
			c->log);
	free(c);
	return rc;
}

struct sums {
	uint64_t nc[NFN], pc[NFN], tt[NFN];
};

/* The window's hosts (base 0) or the base day (base 1), per function. */
static void sums(int base, struct sums *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < NHOSTDEF; i++)
		for (size_t k = 0; fleet[i].base == base && k < fleet[i].nf;
		     k++) {
			s->nc[fleet[i].f[k].fn] += fleet[i].f[k].nc;
			s->pc[fleet[i].f[k].fn] += fleet[i].f[k].pc;
			s->tt[fleet[i].f[k].fn] += fleet[i].f[k].tt;
		}
}

static uint64_t path_total(const struct pathsum *ps, size_t np,
			   const char *path)
{
	for (size_t i = 0; i < np; i++)
		if (strcmp(ps[i].path, path) == 0)
			return ps[i].total;
	fail_msg("no path %s", path);
	return 0;
}

/* Appends fn's name to a comma-separated list. */
static void add_name(char *list, size_t len, int fn)
{
	size_t o = strlen(list);
	snprintf(list + o, len - o, "%s%s", o > 0 ? "," : "", fn_defs[fn].name);
}

static void test_page(void **state)
{
	struct ctx *c = *state;
	struct pathsum ps[32];
	size_t np = want_paths(ps, 32);
	struct sums cur, base;
	char from[32], until[32], nc[48], tt[48],
		rec_nc[48] = "", slower[128] = "", faster[128] = "";
	char change[64], p_main[128], p_handle[256], p_query[384];
	char cmd[4096], shot[1024];
	uint64_t root = 0;
	int top = 0, rec = -1, st;
	char *out;

	fp_format_time(c->t - MIN_NS, from, sizeof(from));
	fp_format_time(c->t + 3 * MIN_NS, until, sizeof(until));
	snprintf(shot, sizeof(shot), "%s",
		 env_or("FP_SCREENSHOT", "serve-screenshot.png"));
	/* The table: the top function by tottime, and a recursive one. */
	sums(0, &cur);
	sums(1, &base);
	for (int f = 0; f < NFN; f++) {
		if (cur.tt[f] > cur.tt[top])
			top = f;
		if (cur.nc[f] != cur.pc[f])
			rec = f;
	}
	assert_true(rec >= 0);
	cli_format_ncalls(cur.nc[top], cur.pc[top], nc, sizeof(nc));
	cli_format_duration((double)cur.tt[top], tt, sizeof(tt));
	cli_format_ncalls(cur.nc[rec], cur.pc[rec], rec_nc, sizeof(rec_nc));
	/* The graph: zoom into main > handle; query is handle's child. */
	for (size_t i = 0; i < np; i++)
		if (strchr(ps[i].path, ';') == NULL)
			root += ps[i].total;
	snprintf(p_main, sizeof(p_main), "%s", fn_labels[F_MAIN]);
	snprintf(p_handle, sizeof(p_handle), "%s;%s", p_main,
		 fn_labels[F_HANDLE]);
	snprintf(p_query, sizeof(p_query), "%s;%s", p_handle,
		 fn_labels[F_QUERY]);
	/* The diff against a day earlier, over every host. */
	for (int f = 0; f < NFN; f++) {
		if (cur.tt[f] > base.tt[f])
			add_name(slower, sizeof(slower), f);
		else if (cur.tt[f] < base.tt[f])
			add_name(faster, sizeof(faster), f);
	}
	{
		double d = (double)cur.tt[F_QUERY] - (double)base.tt[F_QUERY];
		char b[48];
		cli_format_duration(d < 0 ? -d : d, b, sizeof(b));
		snprintf(change, sizeof(change), "%s%s",
			 d > 0	 ? "+"
			 : d < 0 ? "-"
				 : "",
			 b);
	}
	snprintf(cmd, sizeof(cmd),
		 "python3 '%s/tests/cli/serve_browser.py' "
		 "--url http://127.0.0.1:%d/ --from %s --until %s "
		 "--chromium '%s' --chromedriver '%s' --screenshot '%s' "
		 "--top-label '%s' --top-ncalls '%s' --top-tottime '%s' "
		 "--rec-fn %s --rec-ncalls %s --timeline 0,%llu,0,0 "
		 "--path main,handle --frame-label '%s' --root-ns %llu "
		 "--frame-ns %llu --child query --child-ns %llu "
		 "--slower %s --faster %s --diff-fn query --diff-change '%s' "
		 "2>&1",
		 env_or("FP_SOURCE_DIR", "."), c->port, from, until,
		 env_or("FP_CHROMIUM", CHROMIUM),
		 env_or("FP_CHROMEDRIVER", CHROMEDRIVER), shot, fn_labels[top],
		 nc, tt, fn_defs[rec].name, rec_nc,
		 (unsigned long long)cur.nc[top], fn_labels[F_HANDLE],
		 (unsigned long long)root,
		 (unsigned long long)path_total(ps, np, p_handle),
		 (unsigned long long)path_total(ps, np, p_query), slower,
		 faster, change);
	out = fp_test_run(cmd, &st);
	print_message("%s", out);
	free(out);
	assert_int_equal(st, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page),
	};
	int need = fp_test_need_db("test_cli_serve_browser");

	if (need == 0)
		need = need_browser();
	if (need != 0)
		return need;
	return cmocka_run_group_tests(tests, setup, teardown);
}
