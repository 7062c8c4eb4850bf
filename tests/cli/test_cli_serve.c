/*
 * Integration test of `fleetprof serve`: the known fleet (cli_fleet.c) in a
 * scratch database, the real build/bin/fleetprof serving it on a free port,
 * and plain HTTP/1.1 requests written here. Every /api/ endpoint's JSON is
 * checked against sums computed from the fleet's tables, /api/top byte for
 * byte against `fleetprof top --format json`; bad parameters answer 400
 * with exactly {"error", "hint"}, a foreign Host header 403, an unreachable
 * database 503; the embedded files come with their content types; parallel
 * requests agree; SIGTERM and SIGINT stop the server with status 0.
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fp_test.h"
#include <jansson.h>

#include "cli_fleet.h"
#include "storage/query.h"

struct ctx {
	char url[1024];
	int port;
	pid_t pid;
	pid_t other; /* a second server a test runs; teardown's if it fails */
	char log[128];
	int64_t t;
	char from[32], until[32];
	char win[128]; /* "from=…&until=…" */
};

struct resp {
	int status;
	char head[4096]; /* status line and headers */
	char *body;
	size_t len;
};

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* Sends raw (a whole request) to 127.0.0.1:port, reads to EOF. */
static void http_raw(int port, const char *raw, struct resp *r)
{
	struct sockaddr_in a;
	struct timeval tv = {30, 0};
	size_t cap = 65536, len = 0, n = strlen(raw), off = 0;
	char *buf = malloc(cap), *end;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	long cl;

	assert_non_null(buf);
	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	while (off < n) {
		ssize_t w = write(fd, raw + off, n - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	for (;;) {
		ssize_t got;
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = read(fd, buf + len, cap - len - 1);
		assert_true(got >= 0);
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	buf[len] = '\0';
	memset(r, 0, sizeof(*r));
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d ", &r->status), 1);
	end = strstr(buf, "\r\n\r\n");
	assert_non_null(end);
	assert_true((size_t)(end - buf) + 2 < sizeof(r->head));
	memcpy(r->head, buf, (size_t)(end - buf) + 2);
	r->len = len - (size_t)(end + 4 - buf);
	r->body = malloc(r->len + 1);
	assert_non_null(r->body);
	memcpy(r->body, end + 4, r->len);
	r->body[r->len] = '\0';
	free(buf);
	/* The whole body arrived. */
	end = strcasestr(r->head, "\r\nContent-Length: ");
	assert_non_null(end);
	cl = strtol(end + 18, NULL, 10);
	assert_int_equal(cl, (long)r->len);
}

static void http_get(struct ctx *c, const char *target, struct resp *r)
{
	char *req;
	size_t n = strlen(target) + 128;

	req = malloc(n);
	assert_non_null(req);
	snprintf(req, n,
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		 "Connection: close\r\n\r\n",
		 target, c->port);
	http_raw(c->port, req, r);
	free(req);
}

/* The value of header name, or "" (copied into buf). */
static const char *header(const struct resp *r, const char *name, char *buf,
			  size_t len)
{
	char key[64];
	const char *p, *e;

	snprintf(key, sizeof(key), "\r\n%s: ", name);
	buf[0] = '\0';
	p = strcasestr(r->head, key);
	if (p == NULL)
		return buf;
	p += strlen(key);
	e = strstr(p, "\r\n");
	snprintf(buf, len, "%.*s", (int)(e != NULL ? e - p : (long)strlen(p)),
		 p);
	return buf;
}

static json_t *body_json(const struct resp *r)
{
	json_error_t err;
	json_t *j = json_loadb(r->body, r->len, 0, &err);

	if (j == NULL)
		fail_msg("not JSON (%s): %s", err.text, r->body);
	return j;
}

/* GET target (after "/api/"), with the window, expecting 200 and JSON. */
static json_t *api_ok(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static json_t *api_ok(struct ctx *c, const char *fmt, ...)
{
	char target[2048], q[1024], type[128];
	struct resp r;
	json_t *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	snprintf(target, sizeof(target), "/api/%s%s%s", q,
		 strchr(q, '?') != NULL ? "&" : "?", c->win);
	http_get(c, target, &r);
	if (r.status != 200)
		fail_msg("%s: %d %s", target, r.status, r.body);
	assert_string_equal(header(&r, "Content-Type", type, sizeof(type)),
			    "application/json");
	j = body_json(&r);
	resp_free(&r);
	return j;
}

static double jnum(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_number(v))
		fail_msg("'%s' is not a number", k);
	return json_number_value(v);
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v))
		fail_msg("'%s' is not a string", k);
	return json_string_value(v);
}

static pid_t start_server(const char *db, int port, const char *log)
{
	char listen[64], *argv[8];
	pid_t pid;

	snprintf(listen, sizeof(listen), "http://127.0.0.1:%d", port);
	argv[0] = (char *)fp_test_bin("fleetprof");
	argv[1] = "serve";
	argv[2] = "--listen";
	argv[3] = listen;
	argv[4] = "--db";
	argv[5] = (char *)db;
	argv[6] = NULL;
	pid = fp_test_spawn(argv, NULL, log);
	assert_true(pid > 0);
	if (fp_test_wait_port(port, 20000) != 0)
		fail_msg("fleetprof serve did not listen on %d", port);
	return pid;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	*state = c;
	if (fp_test_db_create("serve", c->url, sizeof(c->url)) != 0)
		return -1;
	c->t = storage_bucket_floor(fp_wall_ns()) - 5 * MIN_NS;
	if (fleet_load(c->url, c->t) != 0)
		return -1;
	fp_format_time(c->t - MIN_NS, c->from, sizeof(c->from));
	fp_format_time(c->t + 3 * MIN_NS, c->until, sizeof(c->until));
	snprintf(c->win, sizeof(c->win), "from=%s&until=%s", c->from, c->until);
	snprintf(c->log, sizeof(c->log), "/tmp/fp_test_serve_%d.log",
		 (int)getpid());
	c->port = fp_test_free_port();
	c->pid = start_server(c->url, c->port, c->log);
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	int rc = 0;

	if (c->pid > 0) {
		/* SIGTERM stops it cleanly: exit status 0. */
		kill(c->pid, SIGTERM);
		rc = fp_test_wait(c->pid, 20000) == 0 ? 0 : -1;
		if (rc != 0)
			fprintf(stderr, "fleetprof serve did not exit 0 on "
					"SIGTERM\n");
	}
	if (c->other > 0) {
		kill(c->other, SIGKILL);
		fp_test_wait(c->other, 5000);
	}
	if (c->url[0] != '\0')
		fp_test_db_drop();
	if (rc == 0)
		unlink(c->log);
	else
		fprintf(stderr, "server log: %s\n", c->log);
	free(c);
	return rc;
}

/* ---- the endpoints, against the fleet's tables ---- */

struct fsum {
	uint64_t nc, pc, tt, ct;
	unsigned hosts;
};

/* Per function over the window's hosts matching only (NULL: all). */
static void want_top(const char *only, struct fsum s[NFN])
{
	memset(s, 0, NFN * sizeof(*s));
	for (size_t i = 0; i < NHOSTDEF; i++) {
		for (size_t k = 0; counted(&fleet[i], only) && k < fleet[i].nf;
		     k++) {
			const struct fdef *d = &fleet[i].f[k];
			s[d->fn].nc += d->nc;
			s[d->fn].pc += d->pc;
			s[d->fn].tt += d->tt;
			s[d->fn].ct += d->ct;
			s[d->fn].hosts++;
		}
	}
}

static const struct fsum *sort_sums;

static int by_tottime(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	if (sort_sums[x].tt != sort_sums[y].tt)
		return sort_sums[x].tt > sort_sums[y].tt ? -1 : 1;
	return strcmp(fn_defs[x].name, fn_defs[y].name);
}

static void check_top_row(json_t *o, int fn, const struct fsum *s)
{
	assert_string_equal(jstr(o, "function"), fn_defs[fn].name);
	assert_string_equal(jstr(o, "file"), fn_defs[fn].file);
	assert_int_equal(jnum(o, "line"), fn_defs[fn].line);
	assert_string_equal(jstr(o, "module"), fn_defs[fn].module);
	assert_int_equal(jnum(o, "ncalls"), s->nc);
	assert_int_equal(jnum(o, "pcalls"), s->pc);
	assert_true(jnum(o, "tottime_s") == (double)s->tt / 1e9);
	assert_true(jnum(o, "cumtime_s") == (double)s->ct / 1e9);
	assert_int_equal(jnum(o, "hosts"), s->hosts);
	assert_int_equal(json_object_size(o), 9);
}

static void test_top(void **state)
{
	struct ctx *c = *state;
	struct fsum s[NFN];
	int order[NFN], n = 0, st;
	char cmd[2048], target[512];
	struct resp r;
	char *cli;
	json_t *j;

	/* Every function of the window, by tottime. */
	want_top(NULL, s);
	for (int f = 0; f < NFN; f++)
		if (s[f].nc > 0)
			order[n++] = f;
	sort_sums = s;
	qsort(order, (size_t)n, sizeof(order[0]), by_tottime);
	assert_int_equal(n, 5);
	assert_int_equal(order[0], F_QUERY); /* the page's test relies on it */
	j = api_ok(c, "top?limit=0");
	assert_int_equal(json_array_size(j), (size_t)n);
	for (int i = 0; i < n; i++)
		check_top_row(json_array_get(j, (size_t)i), order[i],
			      &s[order[i]]);
	json_decref(j);

	/* The same bytes as `fleetprof top --format json`. */
	snprintf(target, sizeof(target), "/api/top?%s&limit=0", c->win);
	http_get(c, target, &r);
	assert_int_equal(r.status, 200);
	snprintf(cmd, sizeof(cmd),
		 "'%s' top --from %s --until %s --limit 0 --format json "
		 "--db '%s'",
		 fp_test_bin("fleetprof"), c->from, c->until, c->url);
	cli = fp_test_run(cmd, &st);
	assert_int_equal(st, 0);
	assert_string_equal(r.body, cli);
	free(cli);
	resp_free(&r);

	/* sort and limit: parse (60 calls) then handle (30). */
	j = api_ok(c, "top?sort=ncalls&limit=2");
	assert_int_equal(json_array_size(j), 2);
	check_top_row(json_array_get(j, 0), F_PARSE, &s[F_PARSE]);
	check_top_row(json_array_get(j, 1), F_HANDLE, &s[F_HANDLE]);
	json_decref(j);

	/* A glob and a repeated host: web-1 and db-1 (not web-2). */
	j = api_ok(c, "top?host=db-*&host=web-1&function=query");
	want_top("web-1", s);
	{
		struct fsum d[NFN];
		want_top("db-1", d);
		s[F_QUERY].nc += d[F_QUERY].nc;
		s[F_QUERY].pc += d[F_QUERY].pc;
		s[F_QUERY].tt += d[F_QUERY].tt;
		s[F_QUERY].ct += d[F_QUERY].ct;
		s[F_QUERY].hosts += d[F_QUERY].hosts;
	}
	assert_int_equal(json_array_size(j), 1);
	check_top_row(json_array_get(j, 0), F_QUERY, &s[F_QUERY]);
	json_decref(j);

	/* Percent-encoded values and a label: region=eu is web-1 + db-1. */
	j = api_ok(c, "top?label=region%%3Deu&match=%%5E(parse%%7Cquery)%%24"
		      "&group-by=function");
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(jstr(json_array_get(j, 0), "function"), "query");
	assert_int_equal(jnum(json_array_get(j, 0), "ncalls"), 8);
	assert_string_equal(jstr(json_array_get(j, 1), "function"), "parse");
	assert_int_equal(jnum(json_array_get(j, 1), "ncalls"), 20);
	json_decref(j);

	/* By service: api = web-1 + web-2. */
	j = api_ok(c, "top?function=main&group-by=service");
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(jstr(json_array_get(j, 0), "service"), "api");
	assert_int_equal(jnum(json_array_get(j, 0), "ncalls"), 3);
	assert_int_equal(jnum(json_array_get(j, 0), "hosts"), 2);
	json_decref(j);
}

/* Checks a flame JSON array against the fleet's paths; returns nodes. */
static size_t check_flame(json_t *arr, const char *prefix,
			  const struct pathsum *ps, size_t np)
{
	size_t seen = 0;
	double last = -1;

	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		char path[256], label[128];
		size_t x = 0;

		snprintf(label, sizeof(label), "%s (%s:%d)",
			 jstr(o, "function"), jstr(o, "file"),
			 (int)jnum(o, "line"));
		snprintf(path, sizeof(path), "%s%s%s", prefix,
			 prefix[0] != '\0' ? ";" : "", label);
		while (x < np && strcmp(ps[x].path, path) != 0)
			x++;
		if (x == np)
			fail_msg("unexpected path %s", path);
		assert_int_equal(jnum(o, "ncalls"), ps[x].nc);
		assert_true(jnum(o, "self_s") == (double)ps[x].self / 1e9);
		assert_true(jnum(o, "total_s") == (double)ps[x].total / 1e9);
		/* Siblings by total time, largest first. */
		if (last >= 0)
			assert_true(jnum(o, "total_s") <= last);
		last = jnum(o, "total_s");
		seen += 1 + check_flame(json_object_get(o, "children"), path,
					ps, np);
	}
	return seen;
}

static void test_flame(void **state)
{
	struct ctx *c = *state;
	struct pathsum ps[32];
	size_t np = want_paths(ps, 32);
	json_t *j, *root, *kids;

	/* Every path exactly once, with the fleet's sums. */
	j = api_ok(c, "flame");
	assert_int_equal(json_array_size(j), 1); /* main, on every host */
	assert_int_equal(check_flame(j, "", ps, np), np);
	json_decref(j);

	/* function=handle: the subtree under handle (the `tree` command). */
	j = api_ok(c, "flame?function=handle&depth=1");
	assert_int_equal(json_array_size(j), 1);
	root = json_array_get(j, 0);
	assert_string_equal(jstr(root, "function"), "handle");
	assert_int_equal(jnum(root, "ncalls"), 30);
	assert_true(jnum(root, "total_s") == 297 * MS / 1e9);
	kids = json_object_get(root, "children");
	assert_int_equal(json_array_size(kids), 2);
	assert_string_equal(jstr(json_array_get(kids, 0), "function"), "query");
	assert_true(jnum(json_array_get(kids, 0), "total_s") == 147 * MS / 1e9);
	json_decref(j);

	/* min-percent prunes: fib's paths are 2% of main's 337 ms; main,
	 * main;handle (and its parse and query) and main;query stay. */
	j = api_ok(c, "flame?min-percent=5");
	assert_int_equal(check_flame(j, "", ps, np), 5);
	json_decref(j);
}

static void test_diff(void **state)
{
	struct ctx *c = *state;
	uint64_t n0[NFN] = {0}, t0[NFN] = {0};
	struct fsum s[NFN];
	json_t *j;
	size_t rows = 0;
	double prev = 1e300;

	/* web-1 in the window against web-1 a day earlier. */
	want_top("web-1", s);
	for (size_t i = 0; i < NHOSTDEF; i++)
		for (size_t k = 0; fleet[i].base && k < fleet[i].nf; k++) {
			n0[fleet[i].f[k].fn] += fleet[i].f[k].nc;
			t0[fleet[i].f[k].fn] += fleet[i].f[k].tt;
		}
	j = api_ok(c, "diff?host=web-1&base-offset=1d");
	for (int f = 0; f < NFN; f++) {
		const char *status = n0[f] == 0	    ? "new"
				     : s[f].nc == 0 ? "vanished"
						    : "changed";
		/* ns, then seconds, as the CLI computes them. */
		double change_ns = (double)s[f].tt - (double)t0[f];
		double calls_ns =
			strcmp(status, "changed") != 0
				? change_ns
				: ((double)s[f].nc - (double)n0[f]) *
					  ((double)t0[f] / (double)n0[f]);
		double change = change_ns / 1e9, calls = calls_ns / 1e9;
		double percall = (change_ns - calls_ns) / 1e9;
		json_t *o = NULL;

		/* Absent from both, or unchanged (main): not listed. */
		if ((n0[f] == 0 && s[f].nc == 0) ||
		    (change == 0 && strcmp(status, "changed") == 0))
			continue;
		for (size_t i = 0; i < json_array_size(j); i++)
			if (strcmp(jstr(json_array_get(j, i), "function"),
				   fn_defs[f].name) == 0)
				o = json_array_get(j, i);
		if (o == NULL)
			fail_msg("%s missing from the diff", fn_defs[f].name);
		rows++;
		assert_string_equal(jstr(o, "status"), status);
		assert_true(jnum(o, "change_s") == change);
		assert_true(jnum(o, "calls_part_s") == calls);
		assert_true(jnum(o, "percall_part_s") == percall);
		assert_int_equal(jnum(o, "base_ncalls"), n0[f]);
		assert_int_equal(jnum(o, "ncalls"), s[f].nc);
		assert_true(jnum(o, "base_tottime_s") == (double)t0[f] / 1e9);
		assert_true(jnum(o, "tottime_s") == (double)s[f].tt / 1e9);
	}
	assert_int_equal(json_array_size(j), rows);
	assert_int_equal(rows, 4); /* parse, query, fib (new), old_fn */
	/* By the size of the change. */
	for (size_t i = 0; i < rows; i++) {
		double a = jnum(json_array_get(j, i), "change_s");
		a = a < 0 ? -a : a;
		assert_true(a <= prev);
		prev = a;
	}
	assert_string_equal(jstr(json_array_get(j, 0), "function"), "parse");
	json_decref(j);
}

static void test_timeline(void **state)
{
	struct ctx *c = *state;
	struct fsum s[NFN];
	char when[32];
	json_t *j;

	want_top(NULL, s);
	j = api_ok(c, "timeline?function=parse");
	assert_int_equal(json_array_size(j), 4); /* T-1m .. T+2m */
	for (size_t i = 0; i < 4; i++) {
		json_t *o = json_array_get(j, i);
		const int at_t = i == 1;
		fp_format_time(c->t + ((int64_t)i - 1) * MIN_NS, when,
			       sizeof(when));
		assert_string_equal(jstr(o, "time"), when);
		assert_int_equal(jnum(o, "ncalls"), at_t ? s[F_PARSE].nc : 0);
		assert_int_equal(jnum(o, "pcalls"), at_t ? s[F_PARSE].pc : 0);
		assert_true(jnum(o, "tottime_s") ==
			    (at_t ? (double)s[F_PARSE].tt / 1e9 : 0));
		assert_true(jnum(o, "cumtime_s") ==
			    (at_t ? (double)s[F_PARSE].ct / 1e9 : 0));
		if (at_t)
			assert_true(jnum(o, "percall_s") ==
				    (double)s[F_PARSE].tt / 1e9 /
					    (double)s[F_PARSE].nc);
		else
			assert_true(
				json_is_null(json_object_get(o, "percall_s")));
	}
	json_decref(j);
}

static void test_callers_ledger(void **state)
{
	struct ctx *c = *state;
	uint64_t nc[NFN], tt[NFN], ct[NFN];
	char seen[32];
	json_t *j;

	/* callers of query: handle (web-1, web-2), then main (db-1). */
	want_edges(F_QUERY, 1, nc, tt, ct);
	j = api_ok(c, "callers?function=query");
	assert_int_equal(json_array_size(j), 2);
	{
		const int order[] = {F_HANDLE, F_MAIN};
		for (size_t i = 0; i < 2; i++) {
			json_t *o = json_array_get(j, i);
			assert_string_equal(
				jstr(json_object_get(o, "caller"), "function"),
				fn_defs[order[i]].name);
			assert_int_equal(jnum(o, "ncalls"), nc[order[i]]);
			assert_true(jnum(o, "tottime_s") ==
				    (double)tt[order[i]] / 1e9);
			assert_true(jnum(o, "cumtime_s") ==
				    (double)ct[order[i]] / 1e9);
		}
	}
	json_decref(j);

	/* The batch ledger: hosts by name, dropped events as reported. */
	j = api_ok(c, "hosts");
	assert_int_equal(json_array_size(j), 3);
	fp_format_time(c->t + 55 * FP_NS_PER_SEC, seen, sizeof(seen));
	{
		static const char *const names[] = {"db-1", "web-1", "web-2"};
		static const int dropped[] = {0, 0, 3};
		for (size_t i = 0; i < 3; i++) {
			json_t *o = json_array_get(j, i);
			assert_string_equal(jstr(o, "host"), names[i]);
			assert_int_equal(jnum(o, "services"), 1);
			assert_int_equal(jnum(o, "processes"), 1);
			assert_int_equal(jnum(o, "batches"), 1);
			assert_int_equal(jnum(o, "dropped"), dropped[i]);
			assert_string_equal(jstr(o, "last_seen"), seen);
		}
	}
	json_decref(j);
	j = api_ok(c, "services");
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(jstr(json_array_get(j, 0), "service"), "api");
	assert_int_equal(jnum(json_array_get(j, 0), "hosts"), 2);
	assert_int_equal(jnum(json_array_get(j, 0), "dropped"), 3);
	assert_string_equal(jstr(json_array_get(j, 1), "service"), "db");
	assert_int_equal(jnum(json_array_get(j, 1), "hosts"), 1);
	json_decref(j);
}

/* ---- errors ---- */

/* GET target; expects status and exactly {"error": msg, "hint": hint}
 * (msg and hint NULL: not checked; a msg ending in '*' is a prefix). */
static void want_error(struct ctx *c, const char *target, int status,
		       const char *msg, const char *hint)
{
	char type[128];
	struct resp r;
	json_t *j;

	http_get(c, target, &r);
	if (r.status != status)
		fail_msg("%s: want %d, got %d %s", target, status, r.status,
			 r.body);
	assert_string_equal(header(&r, "Content-Type", type, sizeof(type)),
			    "application/json");
	j = body_json(&r);
	assert_int_equal(json_object_size(j), 2);
	assert_true(strlen(jstr(j, "hint")) > 0);
	if (msg != NULL && msg[strlen(msg) - 1] == '*')
		assert_memory_equal(jstr(j, "error"), msg, strlen(msg) - 1);
	else if (msg != NULL)
		assert_string_equal(jstr(j, "error"), msg);
	if (hint != NULL)
		assert_string_equal(jstr(j, "hint"), hint);
	json_decref(j);
	resp_free(&r);
}

static void test_bad_parameters(void **state)
{
	static const struct {
		const char *target;
		int status;
		const char *msg, *hint;
	} cases[] = {
		{"/api/top?bogus=1", 400,
		 "unknown parameter 'bogus' for /api/top",
		 "/api/top takes: since, from, until, host, service, label, "
		 "clock, sort, group-by, function, match, limit"},
		{"/api/hosts?sort=tottime", 400,
		 "unknown parameter 'sort' for /api/hosts",
		 "/api/hosts takes: since, from, until, host, service, label, "
		 "clock"},
		{"/api/top?db=postgresql://elsewhere/x", 400,
		 "unknown parameter 'db' for /api/top", NULL},
		{"/api/top?format=csv", 400,
		 "unknown parameter 'format' for /api/top", NULL},
		{"/api/top?sort=fastest", 400, "unknown sort key 'fastest'",
		 "use tottime, cumtime, ncalls, pcalls, percall or cumpercall"},
		{"/api/top?since=soon", 400,
		 "invalid duration 'soon' for --since",
		 "use a number and a unit: 90s, 15m, 2h, 1d, 1h30m"},
		{"/api/top?since=1h&from=2h", 400,
		 "--since cannot be combined with --from", NULL},
		{"/api/"
		 "top?from=2026-11-24T11:00:00Z&until=2026-11-24T10:00:00Z",
		 400,
		 "empty window: 2026-11-24T11:00:00Z is not before "
		 "2026-11-24T10:00:00Z",
		 "--from must be earlier than --until"},
		{"/api/top?limit=-1", 400, "invalid limit '-1'",
		 "give a whole number of functions (0: all)"},
		{"/api/top?clock=sundial", 400, "unknown clock 'sundial'",
		 "use wall or cpu"},
		{"/api/top?host=", 400, "empty host pattern",
		 "give a host name or a glob such as 'web-*'"},
		{"/api/top?since", 400, "parameter 'since' needs a value",
		 "write since=VALUE"},
		{"/api/top?limit=1&limit=2", 400,
		 "parameter 'limit' given twice",
		 "give it once; only host and label may repeat"},
		{"/api/top?host=%zz", 400,
		 "invalid percent-escape in the query",
		 "escape '%' as %25; an escape is '%' and two hex digits"},
		{"/api/top?host=web%2", 400,
		 "invalid percent-escape in the query", NULL},
		{"/api/top?host=%ff", 400, "the query is not valid UTF-8 text",
		 "send names and values as UTF-8, percent-encoded (no NUL "
		 "bytes)"},
		{"/api/top?host=a%00b", 400,
		 "the query is not valid UTF-8 text", NULL},
		{"/api/top?host=%C0%AF", 400, /* overlong '/' */
		 "the query is not valid UTF-8 text", NULL},
		{"/api/top?=1", 400, "a query parameter has no name",
		 "write name=value pairs joined by '&'"},
		{"/api/top?match=(", 400, "invalid regular expression",
		 "match takes a PostgreSQL regular expression, e.g. ^parse_"},
		{"/api/flame?depth=x", 400, "invalid depth 'x'", NULL},
		{"/api/diff?base-offset=1d&base-from=2d", 400,
		 "--base-offset cannot be combined with --base-from or "
		 "--base-until",
		 NULL},
		{"/api/diff?threshold=lots", 400, "invalid threshold 'lots'",
		 NULL},
		{"/api/timeline", 400, "missing parameter 'function'",
		 "give the function's name: /api/timeline?function=NAME"},
		{"/api/timeline?function=parse&step=7s", 400,
		 "invalid step '7s'", NULL},
		{"/api/timeline?function=parse&since=80d&step=1m", 400,
		 "too many steps for this window*", NULL},
		{"/api/timeline?function=nope&since=1h", 404,
		 "no function named 'nope'",
		 "names are exact and case-sensitive; find them with "
		 "'fleetprof top --match REGEX'"},
		{"/api/callers?function=query&host=nope-*&since=1h", 404,
		 "no data for host 'nope-*' in *",
		 "no host matching 'nope-*' has ever reported; check the name "
		 "(globs: * and ?)"},
		{"/api/nope", 404, "no such endpoint",
		 "the API has /api/top, /api/flame, /api/diff, /api/timeline, "
		 "/api/callers, /api/callees, /api/hosts, /api/services"},
		{"/api/top/more", 404, "no such endpoint", NULL},
		{"/api", 404, "no such endpoint", NULL},
	};
	struct ctx *c = *state;
	char *big;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		want_error(c, cases[i].target, cases[i].status, cases[i].msg,
			   cases[i].hint);

	/* Bounds on the query: 4096 bytes, 64 parameters. */
	big = malloc(8192);
	assert_non_null(big);
	memcpy(big, "/api/top?match=", 15);
	memset(big + 15, 'x', 4096 - 6 + 1);
	big[15 + 4096 - 6 + 1] = '\0'; /* "match=" + 4091 = 4097 bytes */
	want_error(c, big, 400,
		   "query string too long (4097 bytes; at most 4096)",
		   "use fewer or shorter parameters");
	strcpy(big, "/api/top?");
	for (int i = 0; i < 65; i++)
		strcat(big, i ? "&host=h" : "host=h");
	want_error(c, big, 400, "too many query parameters (at most 64)",
		   "use fewer parameters");
	free(big);
}

static void test_host_and_method(void **state)
{
	struct ctx *c = *state;
	char req[512];
	struct resp r;
	json_t *j;

	/* A name that is not loopback (DNS rebinding): refused. */
	snprintf(req, sizeof(req),
		 "GET /api/top HTTP/1.1\r\nHost: attacker.example:%d\r\n"
		 "Connection: close\r\n\r\n",
		 c->port);
	http_raw(c->port, req, &r);
	assert_int_equal(r.status, 403);
	j = body_json(&r);
	assert_string_equal(jstr(j, "error"),
			    "this server answers only to loopback names");
	json_decref(j);
	resp_free(&r);
	/* Loopback names are fine. */
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: localhost:%d\r\n"
		 "Connection: close\r\n\r\n",
		 c->port);
	http_raw(c->port, req, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* Read-only: no other method. */
	snprintf(req, sizeof(req),
		 "POST /api/top HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		 "Content-Length: 0\r\nConnection: close\r\n\r\n",
		 c->port);
	http_raw(c->port, req, &r);
	assert_int_equal(r.status, 405);
	resp_free(&r);
}

/* ---- the page ---- */

static void test_static_files(void **state)
{
	static const struct {
		const char *path, *file, *type;
	} files[] = {
		{"/", "index.html", "text/html; charset=utf-8"},
		{"/index.html", "index.html", "text/html; charset=utf-8"},
		{"/app.js", "app.js", "text/javascript; charset=utf-8"},
		{"/app.css", "app.css", "text/css; charset=utf-8"},
	};
	struct ctx *c = *state;
	const char *src = getenv("FP_SOURCE_DIR");
	char path[1024], v[512];
	struct resp r;

	assert_non_null(src);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *want;

		snprintf(path, sizeof(path), "%s/cli/web/%s", src,
			 files[i].file);
		want = read_file(path, &len);
		http_get(c, files[i].path, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(header(&r, "Content-Type", v, sizeof(v)),
				    files[i].type);
		assert_string_equal(
			header(&r, "X-Content-Type-Options", v, sizeof(v)),
			"nosniff");
		/* Exactly the file in the tree: embedded at build time. */
		assert_int_equal(r.len, len);
		assert_memory_equal(r.body, want, len);
		if (strcmp(files[i].file, "index.html") == 0)
			assert_non_null(
				strstr(header(&r, "Content-Security-Policy", v,
					      sizeof(v)),
				       "script-src 'self'"));
		free(want);
		resp_free(&r);
	}
	/* Nothing from elsewhere: no absolute URL in the page; the script's
	 * only one is SVG's namespace, a name that is never fetched. */
	http_get(c, "/", &r);
	assert_null(strstr(r.body, "://"));
	resp_free(&r);
	http_get(c, "/app.js", &r);
	for (const char *p = strstr(r.body, "://"); p != NULL;
	     p = strstr(p + 3, "://"))
		assert_memory_equal(p - 4, "http://www.w3.org/2000/svg\"", 27);
	resp_free(&r);
	http_get(c, "/nope.js", &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
}

/* ---- concurrency: nng's threads and our workers ---- */

struct par {
	struct ctx *c;
	const char *target;
	const char *want;
	int bad;
};

static void *par_main(void *arg)
{
	struct par *p = arg;

	for (int i = 0; i < 4; i++) {
		struct resp r;
		http_get(p->c, p->target, &r);
		if (r.status != 200 || strcmp(r.body, p->want) != 0)
			p->bad++;
		resp_free(&r);
	}
	return NULL;
}

static void test_parallel(void **state)
{
	struct ctx *c = *state;
	char t0[256], t1[256];
	struct resp a, b;
	struct par p[12];
	pthread_t th[12];

	snprintf(t0, sizeof(t0), "/api/flame?%s", c->win);
	snprintf(t1, sizeof(t1), "/api/top?%s&limit=0", c->win);
	http_get(c, t0, &a);
	http_get(c, t1, &b);
	assert_int_equal(a.status, 200);
	assert_int_equal(b.status, 200);
	for (int i = 0; i < 12; i++) {
		p[i] = (struct par){c, i % 2 ? t1 : t0, i % 2 ? b.body : a.body,
				    0};
		assert_int_equal(pthread_create(&th[i], NULL, par_main, &p[i]),
				 0);
	}
	for (int i = 0; i < 12; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].bad, 0);
	}
	resp_free(&a);
	resp_free(&b);
}

/* ---- the command line and an unreachable database ---- */

static void test_command_line(void **state)
{
	struct ctx *c = *state;
	char cmd[2048], want[512];
	char *out;
	int st;

	snprintf(cmd, sizeof(cmd),
		 "'%s' serve --listen https://127.0.0.1:1 2>&1",
		 fp_test_bin("fleetprof"));
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 2);
	assert_string_equal(out, "fleetprof: error: cannot serve "
				 "'https://127.0.0.1:1': only http:// URLs\n"
				 "hint: give http://HOST:PORT, e.g. "
				 "http://127.0.0.1:8080; for https, put a TLS "
				 "proxy in front\n");
	free(out);
	snprintf(cmd, sizeof(cmd), "'%s' serve --listen tcp://127.0.0.1:1 2>&1",
		 fp_test_bin("fleetprof"));
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 2);
	assert_non_null(strstr(out, "only http:// URLs"));
	free(out);
	snprintf(cmd, sizeof(cmd), "'%s' serve --port 80 2>&1",
		 fp_test_bin("fleetprof"));
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 2);
	assert_string_equal(out, "fleetprof: error: unknown option '--port'\n"
				 "hint: run 'fleetprof serve --help' for the "
				 "options\n");
	free(out);
	/* The port is taken (by the test's server): exit 1, said why. */
	snprintf(cmd, sizeof(cmd),
		 "'%s' serve --listen http://127.0.0.1:%d --db '%s' 2>&1",
		 fp_test_bin("fleetprof"), c->port, c->url);
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 1);
	snprintf(want, sizeof(want),
		 "fleetprof: error: cannot listen on http://127.0.0.1:%d: "
		 "Address in use\n"
		 "hint: another program uses that port; choose another with "
		 "--listen http://HOST:PORT\n",
		 c->port);
	assert_string_equal(out, want);
	free(out);
	/* The test's server said where it listens. */
	{
		size_t len;
		char *log = read_file(c->log, &len);
		snprintf(want, sizeof(want),
			 "fleetprof: serving http://127.0.0.1:%d/ (Ctrl-C "
			 "stops)\n",
			 c->port);
		assert_non_null(strstr(log, want));
		free(log);
	}
}

static void test_database_down(void **state)
{
	struct ctx *c = *state;
	struct ctx down = *c;
	char log[160], *text;
	size_t len;
	pid_t pid;
	json_t *j;
	struct resp r;

	/* Nothing listens on port 1: the database is unreachable. */
	snprintf(log, sizeof(log), "/tmp/fp_test_serve_down_%d.log",
		 (int)getpid());
	down.port = fp_test_free_port();
	pid = start_server("postgresql://fleetprof@127.0.0.1:1/none"
			   "?connect_timeout=5",
			   down.port, log);
	c->other = pid;
	http_get(&down, "/api/top?since=1h", &r);
	assert_int_equal(r.status, 503);
	j = body_json(&r);
	assert_string_equal(jstr(j, "error"), "cannot connect to the database");
	assert_string_equal(jstr(j, "hint"),
			    "check that PostgreSQL is running and that "
			    "fleetprof serve's --db (or FLEETPROF_DB, PG*) "
			    "points at it; the server logs why when run with "
			    "--verbose");
	json_decref(j);
	resp_free(&r);
	/* The page itself is still served. */
	http_get(&down, "/", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* SIGINT (Ctrl-C) stops it as cleanly as SIGTERM; unless this test
	 * runs where SIGINT is ignored (a shell's background job), which the
	 * server inherits and respects. */
	{
		struct sigaction sa;
		sigaction(SIGINT, NULL, &sa);
		kill(pid, sa.sa_handler == SIG_IGN ? SIGTERM : SIGINT);
	}
	assert_int_equal(fp_test_wait(pid, 20000), 0);
	c->other = 0;
	text = read_file(log, &len);
	assert_non_null(strstr(text, "fleetprof: warning: cannot connect to "
				     "the database (yet): /api/ answers 503 "
				     "until it can\n"));
	free(text);
	unlink(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_flame),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_timeline),
		cmocka_unit_test(test_callers_ledger),
		cmocka_unit_test(test_bad_parameters),
		cmocka_unit_test(test_host_and_method),
		cmocka_unit_test(test_static_files),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_database_down),
	};
	int need = fp_test_need_db("test_cli_serve");

	if (need != 0)
		return need;
	return cmocka_run_group_tests(tests, setup, teardown);
}
