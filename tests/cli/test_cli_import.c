/*
 * Integration test of `fleetprof import`: .prof files written by the real
 * cProfile and profile modules are imported into a scratch database and
 * `fleetprof top` must show pstats' own numbers; a second import stores
 * nothing, --force doubles the counts. Hand-built malformed files must each
 * fail with their exact message and exit status 1 (never a crash).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fp_test.h"
#include <jansson.h>

struct ctx {
	char url[512];
	char dir[64]; /* scratch directory for the files */
	int python;   /* python3 with cProfile, profile and pstats */
};

static struct ctx *ctx_of(void **state)
{
	struct ctx *c = *state;
	if (c == NULL)
		skip();
	return c;
}

static void path_of(const struct ctx *c, const char *name, char *out,
		    size_t len)
{
	snprintf(out, len, "%s/%s", c->dir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Runs the fleetprof binary with args; stderr is merged into the result
 * (the error tests compare it exactly). */
static char *fleetprof(const struct ctx *c, int *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static char *fleetprof(const struct ctx *c, int *status, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s' %s --db '%s' 2>&1",
		 fp_test_bin("fleetprof"), args, c->url);
	return fp_test_run(cmd, status);
}

/* For commands that must succeed: stdout only; stderr goes to a log in
 * the scratch directory (a sanitizer build may warn there), while a
 * sanitizer error still fails the exit status. */
static char *fleetprof_ok(const struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static char *fleetprof_ok(const struct ctx *c, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	va_list ap;
	char *out;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s' %s --db '%s' 2>>'%s/stderr.log'",
		 fp_test_bin("fleetprof"), args, c->url, c->dir);
	out = fp_test_run(cmd, &st);
	if (st != 0)
		fail_msg("exit status %d: %s (stderr in %s/stderr.log)", st,
			 cmd, c->dir);
	return out;
}

/* ---- malformed files, built byte by byte ---- */

struct buf {
	unsigned char d[4096];
	size_t n;
};

static void u8(struct buf *b, unsigned v)
{
	assert_true(b->n < sizeof(b->d));
	b->d[b->n++] = (unsigned char)v;
}

static void i32(struct buf *b, int64_t v)
{
	uint32_t u = (uint32_t)v;
	for (int k = 0; k < 4; k++)
		u8(b, (u >> (8 * k)) & 0xff);
}

static void ival(struct buf *b, int64_t v)
{
	u8(b, 'i');
	i32(b, v);
}

static void gval(struct buf *b, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	u8(b, 'g');
	for (int k = 0; k < 8; k++)
		u8(b, (unsigned)(bits >> (8 * k)) & 0xff);
}

static void zstr(struct buf *b, const char *s)
{
	u8(b, 'z');
	u8(b, (unsigned)strlen(s));
	for (; *s != '\0'; s++)
		u8(b, (unsigned char)*s);
}

/* One entry ('a.py', line, 'f') called by ('b.py', 2, 'g'); the arities
 * say how many items of each tuple are written. */
struct spec {
	int key_n, val_n, call_n;
	int64_t line, cc, nc, c_nc, c_cc;
	double tt, ct, c_tt, c_ct;
};

struct offs {
	size_t key, line, val, cc, tt, callers, ckey, cval, ctt, end;
};

static const struct spec good = {3, 5, 4,    1,	  1,	 2,
				 1, 1, 0.25, 0.5, 0.125, 0.25};

static void put_key(struct buf *b, int n, const char *file, int64_t line,
		    const char *name, size_t *line_off)
{
	u8(b, ')');
	u8(b, (unsigned)n);
	if (n > 0)
		zstr(b, file);
	if (line_off != NULL)
		*line_off = b->n;
	if (n > 1)
		ival(b, line);
	if (n > 2)
		zstr(b, name);
}

static void build(struct buf *b, const struct spec *s, struct offs *o)
{
	b->n = 0;
	u8(b, '{');
	o->key = b->n;
	put_key(b, s->key_n, "a.py", s->line, "f", &o->line);
	o->val = b->n;
	u8(b, ')');
	u8(b, (unsigned)s->val_n);
	o->cc = b->n;
	ival(b, s->cc);
	ival(b, s->nc);
	o->tt = b->n;
	gval(b, s->tt);
	if (s->val_n > 3)
		gval(b, s->ct);
	o->callers = b->n;
	if (s->val_n > 4) {
		u8(b, '{');
		o->ckey = b->n;
		put_key(b, 3, "b.py", 2, "g", NULL);
		o->cval = b->n;
		u8(b, ')');
		u8(b, (unsigned)s->call_n);
		ival(b, s->c_nc);
		ival(b, s->c_cc);
		o->ctt = b->n;
		gval(b, s->c_tt);
		if (s->call_n > 3)
			gval(b, s->c_ct);
		u8(b, '0');
	}
	o->end = b->n;
	u8(b, '0');
}

/* The file must be refused with exactly this detail line, status 1. */
static void expect_bad(const struct ctx *c, const struct buf *b,
		       const char *detail)
{
	char path[128], want[2048];
	char *out;
	int st;

	path_of(c, "bad.prof", path, sizeof(path));
	write_file(path, b->d, b->n);
	out = fleetprof(c, &st, "import --service bad --host h '%s'", path);
	snprintf(want, sizeof(want),
		 "fleetprof: error: '%s' is not a valid pstats file\n"
		 "detail: %s\n"
		 "hint: give a file written by cProfile, profile or pstats "
		 "(python -m cProfile -o FILE)\n",
		 path, detail);
	assert_string_equal(out, want);
	assert_int_equal(st, 1);
	free(out);
}

static void test_malformed(void **state)
{
	const struct ctx *c = ctx_of(state);
	char want[1024];
	struct spec s;
	struct offs o;
	struct buf b;

	b.n = 0;
	expect_bad(c, &b, "offset 0: the input is empty");

	/* Cut short at several offsets of a valid file. */
	build(&b, &good, &o);
	b.n = 1;
	expect_bad(c, &b,
		   "offset 0: dict cut short: end of file before its end "
		   "marker '0'");
	b.n = o.key + 6; /* inside "a.py" */
	expect_bad(c, &b, "offset 3: str declares 4 bytes but only 2 are left");
	build(&b, &good, &o);
	b.n = o.val + 2;
	snprintf(want, sizeof(want),
		 "offset %zu: tuple declares 5 items but only 0 bytes are left",
		 o.val);
	expect_bad(c, &b, want);
	build(&b, &good, &o);
	b.n = o.cc + 8; /* inside nc */
	snprintf(want, sizeof(want),
		 "offset %zu: int cut short: needs 4 more bytes, 2 left",
		 o.cc + 5);
	expect_bad(c, &b, want);
	build(&b, &good, &o);
	b.n = o.tt + 5;
	snprintf(want, sizeof(want),
		 "offset %zu: float cut short: needs 8 more bytes, 4 left",
		 o.tt);
	expect_bad(c, &b, want);

	/* Wrong type codes. */
	build(&b, &good, &o);
	b.d[o.cc] = 0x01;
	snprintf(want, sizeof(want), "offset %zu: unknown type code 0x01",
		 o.cc);
	expect_bad(c, &b, want);
	build(&b, &good, &o);
	b.d[o.callers] = '[';
	snprintf(want, sizeof(want),
		 "offset %zu: unsupported type code '[' (a list)", o.callers);
	expect_bad(c, &b, want);

	/* Bad references: out of range, and to a dict being read. */
	build(&b, &good, &o);
	b.d[o.cc] = 'r';
	b.d[o.cc + 1] = 7;
	snprintf(want, sizeof(want),
		 "offset %zu: reference to object #7, but only 0 objects were "
		 "marked for reference",
		 o.cc);
	expect_bad(c, &b, want);
	b.n = 0;
	u8(&b, '{' | 0x80);
	u8(&b, 'r');
	i32(&b, 0);
	expect_bad(c, &b,
		   "offset 1: reference to object #0, a dict still being read "
		   "(a cycle)");

	/* Huge and negative declared lengths. */
	b.n = 0;
	u8(&b, '{');
	u8(&b, '(');
	i32(&b, INT32_MAX);
	u8(&b, 'N');
	u8(&b, 'N');
	u8(&b, 'N');
	expect_bad(c, &b,
		   "offset 1: tuple declares 2147483647 items but only 3 bytes "
		   "are left");
	b.n = 0;
	u8(&b, 'u');
	i32(&b, INT32_MAX);
	expect_bad(c, &b,
		   "offset 0: str declares 2147483647 bytes but only 0 are "
		   "left");
	b.n = 0;
	u8(&b, 'u');
	i32(&b, -1);
	expect_bad(c, &b, "offset 0: str declares a negative size (-1)");
	b.n = 0;
	u8(&b, 'l');
	i32(&b, -100000);
	expect_bad(c, &b,
		   "offset 0: long declares 100000 digits (200000 bytes) but "
		   "only 0 bytes are left");

	/* Nesting deeper than the limit (16). */
	b.n = 0;
	for (int k = 0; k < 40; k++) {
		u8(&b, ')');
		u8(&b, 1);
	}
	u8(&b, 'N');
	expect_bad(c, &b, "offset 32: objects nested deeper than 16 levels");

	/* Wrong tuple arities. */
	s = good;
	s.val_n = 4;
	build(&b, &s, &o);
	snprintf(want, sizeof(want),
		 "offset %zu: entry of ('a.py', 1, 'f'): expected a tuple (cc, "
		 "nc, tt, ct, callers), found a tuple of 4",
		 o.val);
	expect_bad(c, &b, want);
	s = good;
	s.key_n = 2;
	build(&b, &s, &o);
	expect_bad(c, &b,
		   "offset 1: function key: expected a tuple (file, line, "
		   "name), found a tuple of 2");
	s = good;
	s.call_n = 3;
	build(&b, &s, &o);
	snprintf(want, sizeof(want),
		 "offset %zu: caller ('b.py', 2, 'g') of ('a.py', 1, 'f'): "
		 "expected a tuple (nc, cc, tt, ct) or an int, found a tuple "
		 "of 3",
		 o.cval);
	expect_bad(c, &b, want);

	/* Negative or inconsistent numbers. */
	s = good;
	s.cc = -1;
	build(&b, &s, &o);
	snprintf(want, sizeof(want),
		 "offset %zu: entry of ('a.py', 1, 'f'): cc is negative (-1)",
		 o.cc);
	expect_bad(c, &b, want);
	s = good;
	s.cc = 5;
	s.nc = 3;
	build(&b, &s, &o);
	snprintf(want, sizeof(want),
		 "offset %zu: entry of ('a.py', 1, 'f'): cc (primitive calls) "
		 "5 exceeds nc (calls) 3",
		 o.val);
	expect_bad(c, &b, want);
	s = good;
	s.c_tt = -0.5;
	build(&b, &s, &o);
	snprintf(want, sizeof(want),
		 "offset %zu: caller ('b.py', 2, 'g') of ('a.py', 1, 'f'): tt "
		 "is negative (-0.5 s)",
		 o.ctt);
	expect_bad(c, &b, want);
	s = good;
	s.tt = NAN;
	build(&b, &s, &o);
	snprintf(want, sizeof(want),
		 "offset %zu: entry of ('a.py', 1, 'f'): tt is not finite",
		 o.tt);
	expect_bad(c, &b, want);
	s = good;
	s.line = -1;
	build(&b, &s, &o);
	snprintf(want, sizeof(want),
		 "offset %zu: function key: line -1 is out of range (0 to "
		 "2147483647)",
		 o.line);
	expect_bad(c, &b, want);

	/* Longs: unnormalized, a digit out of range, more than 64 bits. */
	build(&b, &good, &o);
	b.d[o.cc] = 'l';
	memcpy(b.d + o.cc + 1, "\x01\x00\x00\x00", 4);
	memmove(b.d + o.cc + 7, b.d + o.cc + 5, b.n - o.cc - 5);
	memcpy(b.d + o.cc + 5, "\x00\x00", 2);
	b.n += 2;
	snprintf(want, sizeof(want),
		 "offset %zu: long is not normalized (top digit 0)", o.cc);
	expect_bad(c, &b, want);
	memcpy(b.d + o.cc + 5, "\xff\xff", 2);
	snprintf(want, sizeof(want),
		 "offset %zu: long digit 65535 is out of range (>= 32768)",
		 o.cc + 5);
	expect_bad(c, &b, want);
	b.n = 0;
	u8(&b, 'l');
	i32(&b, 6);
	for (int k = 0; k < 12; k++)
		u8(&b, 0);
	expect_bad(c, &b,
		   "offset 0: long of 6 15-bit digits does not fit in 64 bits");

	/* Layout: not a dict, duplicate function, a value missing, bytes,
	 * bad UTF-8, trailing bytes. */
	b.n = 0;
	u8(&b, ')');
	u8(&b, 0);
	expect_bad(
		c, &b,
		"offset 0: expected a dict of functions, found a tuple of 0");
	build(&b, &good, &o);
	{
		struct buf two = b;
		size_t entry = o.end - o.key, at = b.n - 1;
		memcpy(two.d + at, b.d + o.key, entry);
		two.d[at + entry] = '0';
		two.n = at + entry + 1;
		snprintf(want, sizeof(want),
			 "offset %zu: function ('a.py', 1, 'f') appears twice",
			 at);
		expect_bad(c, &two, want);
	}
	build(&b, &good, &o);
	b.n = o.val;
	u8(&b, '0');
	snprintf(want, sizeof(want),
		 "offset %zu: end of dict where a value was expected", o.val);
	expect_bad(c, &b, want);
	build(&b, &good, &o);
	b.d[o.key + 2] = 's';
	b.d[o.key + 3] = 4;
	{
		struct buf t = b;
		/* 's' has a 4-byte size: widen the 1-byte one. */
		memcpy(t.d + o.key + 7, b.d + o.key + 4, b.n - o.key - 4);
		memcpy(t.d + o.key + 3, "\x04\x00\x00\x00", 4);
		t.n = b.n + 3;
		expect_bad(c, &t,
			   "offset 3: function key: file must be a str, found "
			   "bytes");
	}
	b.n = 0;
	u8(&b, '{');
	u8(&b, ')');
	u8(&b, 3);
	u8(&b, 'u');
	i32(&b, 2);
	u8(&b, 'a');
	u8(&b, 0xff);
	expect_bad(c, &b, "offset 9: invalid UTF-8 in a str");
	build(&b, &good, &o);
	u8(&b, 'x');
	u8(&b, 'y');
	snprintf(want, sizeof(want),
		 "offset %zu: 2 bytes after the end of the object", b.n - 2);
	expect_bad(c, &b, want);
}

static void test_no_functions_and_usage(void **state)
{
	const struct ctx *c = ctx_of(state);
	char path[128], want[512];
	char *out;
	int st;

	path_of(c, "empty.prof", path, sizeof(path));
	write_file(path, "{0", 2);
	out = fleetprof(c, &st, "import --service x '%s'", path);
	snprintf(want, sizeof(want),
		 "fleetprof: error: '%s' holds no functions: nothing to "
		 "import\n",
		 path);
	assert_string_equal(out, want);
	assert_int_equal(st, 1);
	free(out);

	path_of(c, "missing.prof", path, sizeof(path));
	out = fleetprof(c, &st, "import --service x '%s'", path);
	snprintf(want, sizeof(want),
		 "fleetprof: error: cannot open '%s': No such file or "
		 "directory\n",
		 path);
	assert_string_equal(out, want);
	assert_int_equal(st, 1);
	free(out);

	out = fleetprof(c, &st, "import x.prof");
	assert_string_equal(out, "fleetprof: error: missing --service\n"
				 "hint: name the service the profile belongs "
				 "to, e.g. --service api\n");
	assert_int_equal(st, 2);
	free(out);

	out = fleetprof(c, &st, "import --service x --at 8d x.prof");
	assert_non_null(strstr(out, "is older than the raw data's retention "
				    "(7 days)\n"));
	assert_int_equal(st, 2);
	free(out);

	out = fleetprof(c, &st, "import --service x --at soon x.prof");
	assert_non_null(strstr(
		out, "fleetprof: error: invalid time 'soon' for --at\n"));
	assert_int_equal(st, 2);
	free(out);
}

/* ---- real cProfile / profile files ---- */

static const char workload[] =
	"class Acc:\n"
	"    def __init__(self):\n"
	"        self.items = []\n"
	"    def add(self, x):\n"
	"        self.items.append(x)\n"
	"        return len(self.items)\n"
	"\n"
	"def fib(n):\n"
	"    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
	"\n"
	"def even(n):\n"
	"    return True if n == 0 else odd(n - 1)\n"
	"\n"
	"def odd(n):\n"
	"    return False if n == 0 else even(n - 1)\n"
	"\n"
	"def main():\n"
	"    a = Acc()\n"
	"    for i in range(300):\n"
	"        a.add(fib(i % 10))\n"
	"        even(i % 7)\n"
	"    return sorted(a.items, key=abs)\n"
	"\n"
	"main()\n";

/* Prints pstats' numbers for a file as JSON, times rounded to ns as the
 * importer rounds them. */
static const char numbers_py[] =
	"import json, pstats, sys\n"
	"s = pstats.Stats(sys.argv[1])\n"
	"fns = {}\n"
	"for (f, l, n), (cc, nc, tt, ct, callers) in s.stats.items():\n"
	"    fns['%s:%d:%s' % (f, l, n)] = [nc, cc, int(tt * 1e9 + 0.5),\n"
	"                                   int(ct * 1e9 + 0.5)]\n"
	"edges = sum(len(v[4]) for v in s.stats.values())\n"
	"print(json.dumps({'fns': fns, 'edges': edges,\n"
	"                  'calls': s.total_calls}))\n";

/* pstats' numbers for path: {"fns": {key: [nc, cc, tt_ns, ct_ns]}, …}. */
static json_t *pstats_numbers(const struct ctx *c, const char *path)
{
	char script[128], cmd[512];
	json_t *j;
	char *out;
	int st;

	path_of(c, "numbers.py", script, sizeof(script));
	write_file(script, numbers_py, strlen(numbers_py));
	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s'", script, path);
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 0);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	free(out);
	return j;
}

/* `fleetprof top` for service must list exactly want's functions with
 * want's numbers times factor. */
static void check_top(const struct ctx *c, const char *service,
		      const char *clock, json_t *want, uint64_t factor)
{
	json_t *fns = json_object_get(want, "fns"), *rows, *row;
	char *out;
	size_t i;

	out = fleetprof_ok(
		c,
		"top --format json --service %s --clock %s --limit 0 "
		"--since 1h",
		service, clock);
	rows = json_loads(out, 0, NULL);
	if (rows == NULL)
		fail_msg("not JSON: %s", out);
	free(out);
	assert_int_equal(json_array_size(rows), json_object_size(fns));
	json_array_foreach (rows, i, row) {
		char key[1024];
		json_t *w;
		snprintf(key, sizeof(key), "%s:%d:%s",
			 json_string_value(json_object_get(row, "file")),
			 (int)json_integer_value(json_object_get(row, "line")),
			 json_string_value(json_object_get(row, "function")));
		w = json_object_get(fns, key);
		if (w == NULL)
			fail_msg("top lists %s, pstats does not", key);
		assert_int_equal(
			json_integer_value(json_object_get(row, "ncalls")),
			factor * json_integer_value(json_array_get(w, 0)));
		assert_int_equal(
			json_integer_value(json_object_get(row, "pcalls")),
			factor * json_integer_value(json_array_get(w, 1)));
		assert_int_equal(
			(int64_t)(json_real_value(
					  json_object_get(row, "tottime_s")) *
					  1e9 +
				  0.5),
			factor * json_integer_value(json_array_get(w, 2)));
		assert_int_equal(
			(int64_t)(json_real_value(
					  json_object_get(row, "cumtime_s")) *
					  1e9 +
				  0.5),
			factor * json_integer_value(json_array_get(w, 3)));
	}
	json_decref(rows);
}

/*
 * Writes the workload and profiles it with module.run(source, name).
 * Not `python3 -m profile -o`: profile then names its own frame with the
 * script's code object, which the importer refuses (no pstats numbers).
 */
static void profile_with(const struct ctx *c, const char *module,
			 const char *name, char *path, size_t len)
{
	char script[128], cmd[512];
	char *out;
	int st;

	path_of(c, "work.py", script, sizeof(script));
	write_file(script, workload, strlen(workload));
	path_of(c, name, path, len);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import %s, sys; %s.run(open(sys.argv[1]).read(), "
		 "sys.argv[2])' '%s' '%s' 2>&1",
		 module, module, script, path);
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 0);
	free(out);
}

static void test_cprofile_roundtrip(void **state)
{
	const struct ctx *c = ctx_of(state);
	char path[128], want[1024];
	json_t *nums;
	char *out;

	if (!c->python) {
		print_message("SKIP: python3 with cProfile and pstats is not "
			      "installed: no real .prof file to import\n");
		skip();
	}
	profile_with(c, "cProfile", "work.prof", path, sizeof(path));
	nums = pstats_numbers(c, path);

	out = fleetprof_ok(c, "import --service cp --host h1 '%s'", path);
	snprintf(want, sizeof(want),
		 "imported %s: %zu functions, %lld edges, %lld calls (service "
		 "cp, host h1, at ",
		 path, json_object_size(json_object_get(nums, "fns")),
		 (long long)json_integer_value(json_object_get(nums, "edges")),
		 (long long)json_integer_value(json_object_get(nums, "calls")));
	if (strncmp(out, want, strlen(want)) != 0)
		fail_msg("got: %s\nwant: %s…", out, want);
	free(out);
	check_top(c, "cp", "wall", nums, 1);

	/* The same file again: nothing stored. */
	out = fleetprof_ok(c, "import --service cp --host h1 --at 2m '%s'",
			   path);
	snprintf(want, sizeof(want),
		 "%s was already imported (service cp, "
		 "host h1, at ",
		 path);
	if (strncmp(out, want, strlen(want)) != 0 ||
	    strstr(out, "): nothing stored; --force stores it again\n") == NULL)
		fail_msg("got: %s", out);
	free(out);
	check_top(c, "cp", "wall", nums, 1);

	/* --force: stored again, every number doubles. */
	out = fleetprof_ok(c, "import --service cp --host h1 --force '%s'",
			   path);
	assert_true(strncmp(out, "imported ", 9) == 0);
	free(out);
	check_top(c, "cp", "wall", nums, 2);
	json_decref(nums);
}

static void test_profile_module(void **state)
{
	const struct ctx *c = ctx_of(state);
	char path[128];
	json_t *nums;
	char *out;

	if (!c->python) {
		print_message("SKIP: python3 is not installed\n");
		skip();
	}
	/* profile's callers hold plain call counts, not tuples. */
	profile_with(c, "profile", "work-profile.prof", path, sizeof(path));
	nums = pstats_numbers(c, path);
	out = fleetprof_ok(c, "import --service pr --clock cpu '%s'", path);
	assert_true(strncmp(out, "imported ", 9) == 0);
	free(out);
	check_top(c, "pr", "cpu", nums, 1);
	json_decref(nums);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	if (fp_test_db_ready("import", c->url, sizeof(c->url)) != 0) {
		free(c);
		*state = NULL;
		return 0;
	}
	snprintf(c->dir, sizeof(c->dir), "/tmp/fp_test_import_XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	c->python = system("python3 -c 'import cProfile, profile, pstats' "
			   ">/dev/null 2>&1") == 0;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	if (c != NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", c->dir);
		fp_test_db_drop();
		free(c);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_no_functions_and_usage),
		cmocka_unit_test(test_cprofile_roundtrip),
		cmocka_unit_test(test_profile_module),
	};
	int need = fp_test_need_db("test_cli_import");
	if (need != 0)
		return need;
	return cmocka_run_group_tests(tests, setup, teardown);
}
