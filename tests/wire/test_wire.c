/*
 * Unit tests of the wire format: round trips of batches and replies, and
 * malformed messages each asserting its exact FP_E* code. Malformed messages
 * are packed with msgpack_packer from a tiny text notation (see dsl_pack) so
 * each differs from a valid batch in exactly one place; raw bytes are used
 * where msgpack_packer cannot lie (declared counts, reserved bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "fp/error.h"
#include "wire/batch.h"
#include "wire/reply.h"

/* ---- fixtures ---- */

static const struct wire_label full_labels[] = {
	{"env", "prod"},
	{"region", "eu-west-1"},
	{"empty", ""},
};

static const struct wire_fn full_fns[] = {
	{1, "main", "main.c", 10, "app"},
	{2, "parse", "parse.c", 42, "app"},
	{7, "strlen", "", 0, "libc.so.6"},
	{4000000000u, "big_id", "x.py", UINT32_MAX, "mod"},
	{0, "zero_id", "z.c", 1, ""},
};

static const struct wire_fstat full_fstats[] = {
	{1, 1, 1, 1000, 5000},
	{2, 10, 8, 3000, 3500},
	{7, 100, 100, 500, 500},
	{4000000000u, WIRE_MAX_U64, WIRE_MAX_U64 - 1, WIRE_MAX_U64, 0},
	{0, 0, 0, 0, 0},
};

static const struct wire_edge full_edges[] = {
	{1, 2, 10, 8, 3000, 3500},
	{2, 7, 100, 100, 500, 500},
	{2, 2, 3, 0, 1, WIRE_MAX_U64},
};

static const struct wire_node full_nodes[] = {
	{1, 0, 1, 1, 1000, 5000},     {2, 1, 2, 10, 3000, 3500},
	{3, 2, 7, 100, 500, 500},     {4000000000u, 0, 4000000000u, 1, 2, 3},
	{5, 4000000000u, 0, 0, 0, 0},
};

#define N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static void full_batch(struct wire_batch *b)
{
	int i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < WIRE_AGENT_ID_LEN; i++)
		b->agent.id[i] = (uint8_t)(i * 17); /* includes 0x00, 0xff */
	b->agent.host = "web-01";
	b->agent.service = "checkout";
	b->agent.lang = "c";
	b->agent.pid = 4242;
	b->agent.start_ns = -1700000000123456789LL;
	b->agent.labels = full_labels;
	b->agent.nlabels = N(full_labels);
	b->seq = WIRE_MAX_U64;
	b->t0 = INT64_MIN;
	b->t1 = INT64_MAX;
	b->clock = WIRE_CLOCK_CPU;
	b->fns = full_fns;
	b->nfns = N(full_fns);
	b->fstats = full_fstats;
	b->nfstats = N(full_fstats);
	b->edges = full_edges;
	b->nedges = N(full_edges);
	b->nodes = full_nodes;
	b->nnodes = N(full_nodes);
	b->dropped = 3;
	b->token = "s3cret";
}

static void minimal_batch(struct wire_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->agent.host = "h";
	b->agent.service = "s";
	b->seq = 1;
	b->t0 = 60000000000LL;
	b->t1 = 60000000000LL;
	b->clock = WIRE_CLOCK_WALL;
	b->fns = full_fns;
	b->nfns = 1;
	b->fstats = full_fstats;
	b->nfstats = 1;
}

static void assert_str(const char *want, const char *got)
{
	assert_non_null(got);
	assert_string_equal(want ? want : "", got);
}

static void assert_same_batch(const struct wire_batch *a,
			      const struct wire_batch *b)
{
	uint32_t i;

	assert_int_equal(b->version, WIRE_VERSION);
	assert_memory_equal(a->agent.id, b->agent.id, WIRE_AGENT_ID_LEN);
	assert_str(a->agent.host, b->agent.host);
	assert_str(a->agent.service, b->agent.service);
	assert_str(a->agent.lang, b->agent.lang);
	assert_int_equal(a->agent.pid, b->agent.pid);
	assert_true(a->agent.start_ns == b->agent.start_ns);
	assert_int_equal(a->agent.nlabels, b->agent.nlabels);
	for (i = 0; i < a->agent.nlabels; i++) {
		assert_str(a->agent.labels[i].key, b->agent.labels[i].key);
		assert_str(a->agent.labels[i].value, b->agent.labels[i].value);
	}
	assert_true(a->seq == b->seq);
	assert_true(a->t0 == b->t0);
	assert_true(a->t1 == b->t1);
	assert_int_equal(a->clock, b->clock);
	assert_int_equal(a->nfns, b->nfns);
	for (i = 0; i < a->nfns; i++) {
		assert_int_equal(a->fns[i].id, b->fns[i].id);
		assert_str(a->fns[i].name, b->fns[i].name);
		assert_str(a->fns[i].file, b->fns[i].file);
		assert_int_equal(a->fns[i].line, b->fns[i].line);
		assert_str(a->fns[i].module, b->fns[i].module);
	}
	assert_int_equal(a->nfstats, b->nfstats);
	if (a->nfstats)
		assert_memory_equal(a->fstats, b->fstats,
				    a->nfstats * sizeof(*a->fstats));
	assert_int_equal(a->nedges, b->nedges);
	if (a->nedges)
		assert_memory_equal(a->edges, b->edges,
				    a->nedges * sizeof(*a->edges));
	else
		assert_null(b->edges);
	assert_int_equal(a->nnodes, b->nnodes);
	if (a->nnodes)
		assert_memory_equal(a->nodes, b->nodes,
				    a->nnodes * sizeof(*a->nodes));
	else
		assert_null(b->nodes);
	assert_true(a->dropped == b->dropped);
	if (a->token)
		assert_str(a->token, b->token);
	else
		assert_null(b->token);
	assert_non_null(b->arena);
}

/* Decodes into a fresh malloc'd copy of exactly len bytes (ASan-visible). */
static int decode_copy(const void *buf, size_t len,
		       const struct wire_limits *lim, struct wire_batch **out,
		       struct wire_error *err)
{
	void *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	if (len)
		memcpy(copy, buf, len);
	rc = wire_decode(copy, len, lim, out, err);
	free(copy);
	return rc;
}

/* ---- a small text notation packed with msgpack_packer ----
 * [a,b] array   {k:v} map   "str" (escapes \0 \\ \")   b"bin"
 * s(N) str of N 'a'   B(N) bin of N bytes   nil true false
 * 12 uint   -3 int   1.5 float64
 */

static void dsl_ws(const char **p)
{
	while (**p == ' ' || **p == '\n' || **p == '\t')
		(*p)++;
}

/* Items at depth 0 from *p (just past the opener) to the matching closer. */
static uint32_t dsl_count(const char *p)
{
	uint32_t n = 0;
	int depth = 0, any = 0, in_str = 0;

	for (; *p; p++) {
		if (in_str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				in_str = 0;
			continue;
		}
		if (*p == '"') {
			in_str = 1;
			any = 1;
		} else if (*p == '[' || *p == '{' || *p == '(') {
			depth++;
			any = 1;
		} else if (*p == ']' || *p == '}' || *p == ')') {
			if (depth-- == 0)
				return any ? n + 1 : 0;
		} else if (*p == ',' && depth == 0) {
			n++;
		} else if (*p != ' ' && *p != '\n') {
			any = 1;
		}
	}
	fail_msg("dsl: unterminated container");
	return 0;
}

static size_t dsl_num(const char **p)
{
	char *end;
	unsigned long long v = strtoull(*p, &end, 10);

	if (end == *p)
		fail_msg("dsl: number expected at \"%s\"", *p);
	*p = end;
	return (size_t)v;
}

static void dsl_expect(const char **p, char c)
{
	dsl_ws(p);
	if (**p != c)
		fail_msg("dsl: '%c' expected at \"%s\"", c, *p);
	(*p)++;
}

static void dsl_value(msgpack_packer *pk, const char **p);

static void dsl_quoted(msgpack_packer *pk, const char **p, int bin)
{
	char buf[512];
	size_t n = 0;

	(*p)++; /* opening quote */
	while (**p != '"') {
		char c = *(*p)++;

		if (c == '\0')
			fail_msg("dsl: unterminated string");
		if (c == '\\') {
			c = *(*p)++;
			if (c == '0')
				c = '\0';
		}
		assert_true(n < sizeof(buf));
		buf[n++] = c;
	}
	(*p)++;
	if (bin) {
		assert_int_equal(msgpack_pack_bin(pk, n), 0);
		assert_int_equal(msgpack_pack_bin_body(pk, buf, n), 0);
	} else {
		assert_int_equal(msgpack_pack_str(pk, n), 0);
		assert_int_equal(msgpack_pack_str_body(pk, buf, n), 0);
	}
}

static void dsl_filled(msgpack_packer *pk, const char **p, int bin)
{
	size_t n, i;
	char *buf;

	*p += 2; /* "s(" or "B(" */
	n = dsl_num(p);
	dsl_expect(p, ')');
	buf = malloc(n ? n : 1);
	assert_non_null(buf);
	for (i = 0; i < n; i++)
		buf[i] = bin ? (char)(i * 17) : 'a';
	if (bin) {
		assert_int_equal(msgpack_pack_bin(pk, n), 0);
		assert_int_equal(msgpack_pack_bin_body(pk, buf, n), 0);
	} else {
		assert_int_equal(msgpack_pack_str(pk, n), 0);
		assert_int_equal(msgpack_pack_str_body(pk, buf, n), 0);
	}
	free(buf);
}

static void dsl_number(msgpack_packer *pk, const char **p)
{
	const char *s = *p;
	char *end;

	while (*s == '-' || (*s >= '0' && *s <= '9'))
		s++;
	if (*s == '.') {
		double v = strtod(*p, &end);

		assert_int_equal(msgpack_pack_double(pk, v), 0);
	} else if (**p == '-') {
		long long v = strtoll(*p, &end, 10);

		assert_int_equal(msgpack_pack_int64(pk, v), 0);
	} else {
		unsigned long long v = strtoull(*p, &end, 10);

		assert_int_equal(msgpack_pack_uint64(pk, v), 0);
	}
	if (end == *p)
		fail_msg("dsl: bad number at \"%s\"", *p);
	*p = end;
}

static void dsl_value(msgpack_packer *pk, const char **p)
{
	uint32_t n, i;

	dsl_ws(p);
	switch (**p) {
	case '[':
	case '{': {
		int map = **p == '{';

		(*p)++;
		n = dsl_count(*p);
		assert_int_equal(map ? msgpack_pack_map(pk, n)
				     : msgpack_pack_array(pk, n),
				 0);
		for (i = 0; i < n; i++) {
			if (i)
				dsl_expect(p, ',');
			dsl_value(pk, p);
			if (map) {
				dsl_expect(p, ':');
				dsl_value(pk, p);
			}
		}
		dsl_expect(p, map ? '}' : ']');
		break;
	}
	case '"':
		dsl_quoted(pk, p, 0);
		break;
	case 'b':
		(*p)++;
		dsl_quoted(pk, p, 1);
		break;
	case 's':
		dsl_filled(pk, p, 0);
		break;
	case 'B':
		dsl_filled(pk, p, 1);
		break;
	default:
		if (strncmp(*p, "nil", 3) == 0) {
			assert_int_equal(msgpack_pack_nil(pk), 0);
			*p += 3;
		} else if (strncmp(*p, "true", 4) == 0) {
			assert_int_equal(msgpack_pack_true(pk), 0);
			*p += 4;
		} else if (strncmp(*p, "false", 5) == 0) {
			assert_int_equal(msgpack_pack_false(pk), 0);
			*p += 5;
		} else {
			dsl_number(pk, p);
		}
	}
}

static void dsl_pack(msgpack_packer *pk, const char *text)
{
	const char *p = text;

	dsl_value(pk, &p);
	dsl_ws(&p);
	if (*p)
		fail_msg("dsl: junk after value: \"%s\"", p);
}

/* ---- batches with one edit ---- */

struct kv {
	const char *key;
	const char *val;
};

static const struct kv base_top[] = {
	{"v", "1"},
	{"agent", NULL}, /* base_agent */
	{"seq", "17"},
	{"t0", "1000"},
	{"t1", "2000"},
	{"clock", "\"wall\""},
	{"fns", "[[1,\"main\",\"main.c\",10,\"app\"],"
		"[2,\"parse\",\"parse.c\",42,\"app\"],"
		"[3,\"leaf\",\"\",0,\"\"]]"},
	{"fstats", "[[1,1,1,10,100],[2,5,5,50,80],[3,9,9,30,30]]"},
	{"edges", "[[1,2,5,5,50,80],[2,3,9,9,30,30]]"},
	{"nodes", "[[1,0,1,1,10,100],[2,1,2,5,50,80],[3,2,3,9,30,30]]"},
	{"dropped", "0"},
	{"token", "\"tok\""},
};

static const struct kv base_agent[] = {
	{"id", "B(16)"},
	{"host", "\"web-01\""},
	{"service", "\"checkout\""},
	{"pid", "4242"},
	{"start_ns", "123"},
	{"lang", "\"c\""},
	{"labels", "{\"env\":\"prod\"}"},
};

/*
 * One edit of the base batch: key is a top-level key or "agent.<key>"; val is
 * its new value text, NULL to remove the key; with ADD the pair is appended
 * instead (unknown or duplicate keys).
 */
enum edit_op { SET, ADD };

enum lim_field { L_DEF, L_MSG, L_FNS, L_ROWS, L_LABELS, L_STR, L_DEPTH };

struct bad_case {
	const char *key;
	enum edit_op op;
	const char *val;
	int expect;
	enum lim_field lf;
	uint64_t lv;
};

static void pack_kvs(msgpack_packer *pk, const struct kv *kvs, uint32_t n,
		     const char *key, enum edit_op op, const char *val)
{
	uint32_t i, count = n;

	for (i = 0; i < n; i++)
		if (op == SET && key && strcmp(kvs[i].key, key) == 0 && !val)
			count--;
	if (op == ADD && key)
		count++;
	assert_int_equal(msgpack_pack_map(pk, count), 0);
	for (i = 0; i < n; i++) {
		const char *v = kvs[i].val;
		size_t kl = strlen(kvs[i].key);

		if (op == SET && key && strcmp(kvs[i].key, key) == 0) {
			if (!val)
				continue;
			v = val;
		}
		assert_int_equal(msgpack_pack_str(pk, kl), 0);
		assert_int_equal(msgpack_pack_str_body(pk, kvs[i].key, kl), 0);
		if (v) {
			dsl_pack(pk, v);
		} else {
			/* the agent map, with an agent-level edit if any */
			const char *ak = NULL;

			if (key && strncmp(key, "agent.", 6) == 0)
				ak = key + 6;
			pack_kvs(pk, base_agent, N(base_agent), ak, op, val);
		}
	}
	if (op == ADD && key) {
		size_t kl = strlen(key);

		assert_int_equal(msgpack_pack_str(pk, kl), 0);
		assert_int_equal(msgpack_pack_str_body(pk, key, kl), 0);
		dsl_pack(pk, val);
	}
}

/* Packs the base batch with one edit into sb (caller destroys sb). */
static void build_edit(msgpack_sbuffer *sb, const char *key, enum edit_op op,
		       const char *val)
{
	msgpack_packer pk;
	const char *top_key = key;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (key && strncmp(key, "agent.", 6) == 0)
		top_key = NULL; /* handled inside the agent map */
	if (!top_key) {
		/* agent edits: the top level is unchanged */
		uint32_t i;

		assert_int_equal(msgpack_pack_map(&pk, N(base_top)), 0);
		for (i = 0; i < N(base_top); i++) {
			size_t kl = strlen(base_top[i].key);

			assert_int_equal(msgpack_pack_str(&pk, kl), 0);
			assert_int_equal(
				msgpack_pack_str_body(&pk, base_top[i].key, kl),
				0);
			if (base_top[i].val)
				dsl_pack(&pk, base_top[i].val);
			else
				pack_kvs(&pk, base_agent, N(base_agent),
					 key ? key + 6 : NULL, op, val);
		}
		return;
	}
	pack_kvs(&pk, base_top, N(base_top), key, op, val);
}

static void set_limit(struct wire_limits *lim, enum lim_field f, uint64_t v)
{
	wire_limits_default(lim);
	switch (f) {
	case L_DEF:
		break;
	case L_MSG:
		lim->max_msg_bytes = (size_t)v;
		break;
	case L_FNS:
		lim->max_fns = (uint32_t)v;
		break;
	case L_ROWS:
		lim->max_rows = (uint32_t)v;
		break;
	case L_LABELS:
		lim->max_labels = (uint32_t)v;
		break;
	case L_STR:
		lim->max_str = (uint32_t)v;
		break;
	case L_DEPTH:
		lim->max_depth = (uint32_t)v;
		break;
	}
}

#define SENTINEL ((struct wire_batch *)(uintptr_t)0x5e5e)

/* Decodes buf; checks the code, err and that *out is untouched on failure. */
static int check_decode(const void *buf, size_t len,
			const struct wire_limits *lim, int expect,
			const char *what, struct wire_error *err)
{
	struct wire_batch *b = SENTINEL;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = decode_copy(buf, len, lim, &b, err);
	if (rc != expect) {
		print_error("%s: got %s (%s), expected %s\n", what,
			    fp_errname(rc), rc ? err->detail : "",
			    fp_errname(expect));
		if (rc == 0)
			wire_batch_destroy(b);
		return 1;
	}
	if (rc == 0) {
		assert_true(b != SENTINEL);
		wire_batch_destroy(b);
		return 0;
	}
	assert_true(b == SENTINEL);
	assert_int_equal(err->code, rc);
	assert_true(err->detail[0] != '\0');
	assert_non_null(memchr(err->detail, '\0', sizeof(err->detail)));
	return 0;
}

static void run_cases(const struct bad_case *cases, size_t n)
{
	struct wire_limits lim;
	struct wire_error err;
	size_t i;
	int failures = 0;

	for (i = 0; i < n; i++) {
		const struct bad_case *c = &cases[i];
		msgpack_sbuffer sb;
		char what[160];

		snprintf(what, sizeof(what), "case %zu (%s %s %s)", i, c->key,
			 c->op == ADD ? "+=" : "=", c->val ? c->val : "<none>");
		build_edit(&sb, c->key, c->op, c->val);
		set_limit(&lim, c->lf, c->lv);
		failures += check_decode(sb.data, sb.size, &lim, c->expect,
					 what, &err);
		msgpack_sbuffer_destroy(&sb);
	}
	assert_int_equal(failures, 0);
}

/* ---- tests: helpers ---- */

static void test_limits_default(void **state)
{
	struct wire_limits lim;

	(void)state;
	memset(&lim, 0xa5, sizeof(lim));
	wire_limits_default(&lim);
	assert_int_equal(lim.max_msg_bytes, 16 * 1024 * 1024);
	assert_int_equal(lim.max_fns, 1 << 20);
	assert_int_equal(lim.max_rows, 1 << 20);
	assert_int_equal(lim.max_labels, 64);
	assert_int_equal(lim.max_str, 4096);
	assert_int_equal(lim.max_depth, 1024);
}

static void test_clock_names(void **state)
{
	(void)state;
	assert_string_equal(wire_clock_name(WIRE_CLOCK_WALL), "wall");
	assert_string_equal(wire_clock_name(WIRE_CLOCK_CPU), "cpu");
	assert_null(wire_clock_name(2));
	assert_null(wire_clock_name(-1));
	assert_int_equal(wire_clock_parse("wall", 4), WIRE_CLOCK_WALL);
	assert_int_equal(wire_clock_parse("cpu", 3), WIRE_CLOCK_CPU);
	assert_int_equal(wire_clock_parse("cpux", 3), WIRE_CLOCK_CPU);
	assert_int_equal(wire_clock_parse("cpu", 2), -1);
	assert_int_equal(wire_clock_parse("wal", 3), -1);
	assert_int_equal(wire_clock_parse("", 0), -1);
	assert_int_equal(wire_clock_parse(NULL, 4), -1);
}

/* ---- tests: round trips ---- */

static void roundtrip(const struct wire_batch *in)
{
	struct wire_batch *out = NULL;
	struct wire_error err;
	void *buf = NULL;
	size_t len = 0;

	assert_int_equal(wire_encode(in, &buf, &len), 0);
	assert_non_null(buf);
	assert_true(len > 0);
	if (decode_copy(buf, len, NULL, &out, &err) != 0)
		fail_msg("decode: %s: %s", fp_errname(err.code), err.detail);
	/* nothing may point into the (already freed) input copy */
	assert_same_batch(in, out);
	wire_batch_destroy(out);
	free(buf);
}

static void test_roundtrip_full(void **state)
{
	struct wire_batch b;

	(void)state;
	full_batch(&b);
	roundtrip(&b);
	b.clock = WIRE_CLOCK_WALL;
	b.token = "";
	b.agent.lang = NULL; /* encoded as "" */
	roundtrip(&b);
}

static void test_roundtrip_minimal(void **state)
{
	struct wire_batch b;
	void *buf;
	size_t len;
	msgpack_unpacked up;
	uint32_t i;

	(void)state;
	minimal_batch(&b);
	roundtrip(&b);

	/* the optional keys are really absent, not empty */
	assert_int_equal(wire_encode(&b, &buf, &len), 0);
	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, buf, len, NULL),
			 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(up.data.type, MSGPACK_OBJECT_MAP);
	assert_int_equal(up.data.via.map.size, 9);
	for (i = 0; i < up.data.via.map.size; i++) {
		const msgpack_object *k = &up.data.via.map.ptr[i].key;
		const msgpack_object *v = &up.data.via.map.ptr[i].val;

		assert_int_equal(k->type, MSGPACK_OBJECT_STR);
		assert_false(k->via.str.size == 5 &&
			     (memcmp(k->via.str.ptr, "edges", 5) == 0 ||
			      memcmp(k->via.str.ptr, "nodes", 5) == 0 ||
			      memcmp(k->via.str.ptr, "token", 5) == 0));
		if (k->via.str.size == 5 &&
		    memcmp(k->via.str.ptr, "agent", 5) == 0) {
			const msgpack_object *id = &v->via.map.ptr[0].val;

			assert_int_equal(id->type, MSGPACK_OBJECT_BIN);
			assert_int_equal(id->via.bin.size, 16);
		}
		if (k->via.str.size == 5 &&
		    memcmp(k->via.str.ptr, "clock", 5) == 0) {
			assert_int_equal(v->type, MSGPACK_OBJECT_STR);
			assert_memory_equal(v->via.str.ptr, "wall", 4);
		}
	}
	msgpack_unpacked_destroy(&up);
	free(buf);

	/* an empty batch: no fns, no rows */
	b.nfns = 0;
	b.fns = NULL;
	b.nfstats = 0;
	b.fstats = NULL;
	roundtrip(&b);
}

/* 2^17 fns and rows: catches quadratic id lookups (seconds, not hours). */
static void test_roundtrip_large(void **state)
{
	const uint32_t n = 1u << 17;
	struct wire_fn *fns = calloc(n, sizeof(*fns));
	struct wire_fstat *st = calloc(n, sizeof(*st));
	struct wire_node *nodes = calloc(n, sizeof(*nodes));
	struct wire_batch b;
	uint32_t i;

	(void)state;
	assert_non_null(fns);
	assert_non_null(st);
	assert_non_null(nodes);
	minimal_batch(&b);
	for (i = 0; i < n; i++) {
		/* ids in scrambled order */
		fns[i].id = (i * 2654435761u) ^ 0x5bd1e995u;
		fns[i].name = "f";
		fns[i].file = "";
		fns[i].module = "";
		st[n - 1 - i].fn = fns[i].id;
		st[n - 1 - i].ncalls = i;
		st[n - 1 - i].pcalls = i / 2;
		nodes[i].node = i + 1;
		nodes[i].parent = i < 1000 ? i : i % 1000; /* depth <= 1000 */
		nodes[i].fn = ((i * 7) % n * 2654435761u) ^ 0x5bd1e995u;
	}
	b.fns = fns;
	b.nfns = n;
	b.fstats = st;
	b.nfstats = n;
	b.nodes = nodes;
	b.nnodes = n;
	roundtrip(&b);
	free(fns);
	free(st);
	free(nodes);
}

static void test_encode_invalid(void **state)
{
	struct wire_batch b;
	void *buf = (void *)(uintptr_t)1;
	size_t len = 7;

	(void)state;
	minimal_batch(&b);
	b.clock = 5;
	assert_int_equal(wire_encode(&b, &buf, &len), FP_EINVAL);
	minimal_batch(&b);
	b.fstats = NULL;
	assert_int_equal(wire_encode(&b, &buf, &len), FP_EINVAL);
	minimal_batch(&b);
	b.agent.nlabels = 1;
	assert_int_equal(wire_encode(&b, &buf, &len), FP_EINVAL);
	assert_int_equal(wire_encode(NULL, &buf, &len), FP_EINVAL);
	assert_int_equal(wire_encode(&b, NULL, &len), FP_EINVAL);
	/* out-params untouched on failure */
	assert_true(buf == (void *)(uintptr_t)1);
	assert_int_equal(len, 7);
	wire_batch_destroy(NULL);
	wire_batch_destroy(&b); /* caller-built: arena NULL, a no-op */
}

static void test_base_is_valid(void **state)
{
	struct wire_error err;
	msgpack_sbuffer sb;
	struct wire_batch *b = NULL;

	(void)state;
	build_edit(&sb, NULL, SET, NULL);
	if (wire_decode(sb.data, sb.size, NULL, &b, &err) != 0)
		fail_msg("base batch: %s", err.detail);
	assert_int_equal(b->seq, 17);
	assert_int_equal(b->nfns, 3);
	assert_int_equal(b->nnodes, 3);
	assert_string_equal(b->agent.labels[0].value, "prod");
	assert_string_equal(b->token, "tok");
	wire_batch_destroy(b);
	msgpack_sbuffer_destroy(&sb);
}

/* ---- tests: malformed batches ---- */

static void test_truncated_every_offset(void **state)
{
	struct wire_batch b, *out;
	struct wire_error err;
	void *buf;
	size_t len, k;

	(void)state;
	full_batch(&b);
	assert_int_equal(wire_encode(&b, &buf, &len), 0);
	for (k = 0; k < len; k++) {
		int rc;

		out = SENTINEL;
		rc = decode_copy(buf, k, NULL, &out, &err);
		if (rc != FP_ETRUNCATED && rc != FP_ECOUNT)
			fail_msg("prefix %zu/%zu: %s (%s)", k, len,
				 fp_errname(rc), err.detail);
		assert_true(out == SENTINEL);
	}
	/* an empty message, and the last byte cut (the token's last char) */
	assert_int_equal(decode_copy(buf, 0, NULL, &out, &err), FP_ETRUNCATED);
	assert_int_equal(decode_copy(buf, len - 1, NULL, &out, &err),
			 FP_ECOUNT);
	free(buf);
}

static void test_trailing(void **state)
{
	struct wire_batch b;
	struct wire_error err;
	unsigned char *buf;
	void *enc;
	size_t len;

	(void)state;
	minimal_batch(&b);
	assert_int_equal(wire_encode(&b, &enc, &len), 0);
	buf = malloc(len + 2);
	assert_non_null(buf);
	memcpy(buf, enc, len);
	buf[len] = 0xc0;
	buf[len + 1] = 0xc0;
	assert_int_equal(check_decode(buf, len + 1, NULL, FP_ETRAILING,
				      "one trailing nil", &err),
			 0);
	assert_int_equal(check_decode(buf, len + 2, NULL, FP_ETRAILING,
				      "two trailing nils", &err),
			 0);
	/* the same batch twice in one message */
	free(buf);
	buf = malloc(2 * len);
	assert_non_null(buf);
	memcpy(buf, enc, len);
	memcpy(buf + len, enc, len);
	assert_int_equal(check_decode(buf, 2 * len, NULL, FP_ETRAILING,
				      "two batches", &err),
			 0);
	free(buf);
	free(enc);
}

struct raw_case {
	const char *name;
	const unsigned char *bytes;
	size_t len;
	int expect;
};

#define RAW(name, expect, ...)                                               \
	{                                                                    \
		name, (const unsigned char[]){__VA_ARGS__},                  \
			sizeof((const unsigned char[]){__VA_ARGS__}), expect \
	}

static void test_raw_malformed(void **state)
{
	/* automatic: the compound literals are not constant expressions */
	const struct raw_case cases[] = {
		/* array32 claiming 2^32-1 elements in 6 bytes */
		RAW("array32 huge", FP_ECOUNT, 0xdd, 0xff, 0xff, 0xff, 0xff,
		    0x00),
		RAW("map32 huge", FP_ECOUNT, 0xdf, 0xff, 0xff, 0xff, 0xff,
		    0x00),
		RAW("array16 huge", FP_ECOUNT, 0xdc, 0xff, 0xff, 0xc0),
		RAW("map of 2 entries in 3 bytes", FP_ECOUNT, 0x82, 0xc0, 0xc0),
		RAW("str32 huge", FP_ECOUNT, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'),
		RAW("bin32 huge", FP_ECOUNT, 0xc6, 0x80, 0x00, 0x00, 0x00,
		    0x00),
		RAW("ext32 huge", FP_ECOUNT, 0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01,
		    0x00),
		RAW("fixstr past the end", FP_ECOUNT, 0xa5, 'a', 'b'),
		/* {"v": [2^32-1 elements]} nested */
		RAW("nested array32 huge", FP_ECOUNT, 0x81, 0xa1, 'v', 0xdd,
		    0xff, 0xff, 0xff, 0xff, 0xc0),
		RAW("array16 header cut", FP_ETRUNCATED, 0xdc, 0x00),
		RAW("uint64 cut", FP_ETRUNCATED, 0xcf, 0x00, 0x00, 0x00),
		RAW("str8 length cut", FP_ETRUNCATED, 0xd9),
		RAW("ext8 type cut", FP_ETRUNCATED, 0xc7, 0x00),
		RAW("map value missing", FP_ETRUNCATED, 0x81, 0xa1, 'v'),
		RAW("reserved byte 0xc1", FP_EMALFORMED, 0x81, 0xa1, 'v', 0xc1),
		RAW("9 nested arrays", FP_EDEPTH, 0x91, 0x91, 0x91, 0x91, 0x91,
		    0x91, 0x91, 0x91, 0x90),
		RAW("9 nested maps", FP_EDEPTH, 0x81, 0xc0, 0x81, 0xc0, 0x81,
		    0xc0, 0x81, 0xc0, 0x81, 0xc0, 0x81, 0xc0, 0x81, 0xc0, 0x81,
		    0xc0, 0x80),
		RAW("top level fixint", FP_ETYPE, 0x01),
		RAW("top level nil", FP_ETYPE, 0xc0),
		RAW("top level array", FP_ETYPE, 0x92, 0x01, 0x02),
		RAW("top level str", FP_ETYPE, 0xa1, 'v'),
		RAW("top level int key", FP_ETYPE, 0x81, 0x05, 0x01),
		RAW("empty map", FP_EMISSING, 0x80),
		RAW("trailing after empty map", FP_ETRAILING, 0x80, 0x80),
	};
	struct wire_error err;
	size_t i;
	int failures = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		failures += check_decode(cases[i].bytes, cases[i].len, NULL,
					 cases[i].expect, cases[i].name, &err);
	assert_int_equal(failures, 0);
	/* 8 levels are allowed (unknown key holding nested arrays) */
	{
		msgpack_sbuffer sb;

		build_edit(&sb, "x", ADD, "[[[[[[[1]]]]]]]");
		assert_int_equal(check_decode(sb.data, sb.size, NULL, 0,
					      "8 levels", &err),
				 0);
		msgpack_sbuffer_destroy(&sb);
		build_edit(&sb, "x", ADD, "[[[[[[[[1]]]]]]]]");
		assert_int_equal(check_decode(sb.data, sb.size, NULL, FP_EDEPTH,
					      "9 levels", &err),
				 0);
		msgpack_sbuffer_destroy(&sb);
	}
	assert_int_equal(wire_decode(NULL, 0, NULL, NULL, &err), FP_EINVAL);
}

static void test_missing_keys(void **state)
{
	static const struct bad_case cases[] = {
		{"v", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"agent", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"seq", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"t0", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"t1", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"clock", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"fns", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"fstats", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"agent.id", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"agent.host", SET, NULL, FP_EMISSING, L_DEF, 0},
		{"agent.service", SET, NULL, FP_EMISSING, L_DEF, 0},
		/* optional keys */
		{"edges", SET, NULL, 0, L_DEF, 0},
		{"nodes", SET, NULL, 0, L_DEF, 0},
		{"dropped", SET, NULL, 0, L_DEF, 0},
		{"token", SET, NULL, 0, L_DEF, 0},
		{"agent.pid", SET, NULL, 0, L_DEF, 0},
		{"agent.start_ns", SET, NULL, 0, L_DEF, 0},
		{"agent.lang", SET, NULL, 0, L_DEF, 0},
		{"agent.labels", SET, NULL, 0, L_DEF, 0},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_wrong_types(void **state)
{
	static const struct bad_case cases[] = {
		{"v", SET, "\"1\"", FP_ETYPE, L_DEF, 0},
		{"v", SET, "1.0", FP_ETYPE, L_DEF, 0},
		{"agent", SET, "[]", FP_ETYPE, L_DEF, 0},
		{"agent", SET, "\"web\"", FP_ETYPE, L_DEF, 0},
		{"seq", SET, "\"17\"", FP_ETYPE, L_DEF, 0},
		{"seq", SET, "true", FP_ETYPE, L_DEF, 0},
		{"seq", SET, "17.0", FP_ETYPE, L_DEF, 0},
		{"seq", SET, "-1", FP_ETYPE, L_DEF, 0},
		{"t0", SET, "1.5", FP_ETYPE, L_DEF, 0},
		{"t1", SET, "\"2000\"", FP_ETYPE, L_DEF, 0},
		{"t1", SET, "nil", FP_ETYPE, L_DEF, 0},
		{"clock", SET, "0", FP_ETYPE, L_DEF, 0},
		{"clock", SET, "b\"wall\"", FP_ETYPE, L_DEF, 0},
		{"fns", SET, "{}", FP_ETYPE, L_DEF, 0},
		{"fns", SET, "[1]", FP_ETYPE, L_DEF, 0},
		{"fstats", SET, "7", FP_ETYPE, L_DEF, 0},
		{"edges", SET, "\"x\"", FP_ETYPE, L_DEF, 0},
		{"nodes", SET, "{}", FP_ETYPE, L_DEF, 0},
		{"dropped", SET, "-1", FP_ETYPE, L_DEF, 0},
		{"dropped", SET, "\"0\"", FP_ETYPE, L_DEF, 0},
		{"token", SET, "5", FP_ETYPE, L_DEF, 0},
		{"token", SET, "nil", FP_ETYPE, L_DEF, 0},
		{"agent.id", SET, "5", FP_ETYPE, L_DEF, 0},
		{"agent.host", SET, "5", FP_ETYPE, L_DEF, 0},
		{"agent.service", SET, "B(3)", FP_ETYPE, L_DEF, 0},
		{"agent.lang", SET, "nil", FP_ETYPE, L_DEF, 0},
		{"agent.pid", SET, "-1", FP_ETYPE, L_DEF, 0},
		{"agent.pid", SET, "\"42\"", FP_ETYPE, L_DEF, 0},
		{"agent.start_ns", SET, "1.0", FP_ETYPE, L_DEF, 0},
		{"agent.labels", SET, "[]", FP_ETYPE, L_DEF, 0},
		{"agent.labels", SET, "{\"a\":1}", FP_ETYPE, L_DEF, 0},
		{"agent.labels", SET, "{1:\"a\"}", FP_ETYPE, L_DEF, 0},
		/* rows: not arrays, wrong arity, wrong field types */
		{"fns", SET, "[[1,\"main\",\"main.c\",10]]", FP_ETYPE, L_DEF,
		 0},
		{"fns", SET, "[[1,\"a\",\"b\",1,\"c\",0]]", FP_ETYPE, L_DEF, 0},
		{"fns", SET, "[[1,5,\"b\",1,\"c\"]]", FP_ETYPE, L_DEF, 0},
		{"fns", SET, "[[1,\"a\",nil,1,\"c\"]]", FP_ETYPE, L_DEF, 0},
		{"fns", SET, "[[1,\"a\",\"b\",-1,\"c\"]]", FP_ETYPE, L_DEF, 0},
		{"fns", SET, "[[\"1\",\"a\",\"b\",1,\"c\"]]", FP_ETYPE, L_DEF,
		 0},
		{"fstats", SET, "[[1,1,1,10]]", FP_ETYPE, L_DEF, 0},
		{"fstats", SET, "[[1,1,1,10,100,0]]", FP_ETYPE, L_DEF, 0},
		{"fstats", SET, "[{}]", FP_ETYPE, L_DEF, 0},
		{"fstats", SET, "[[1,-1,0,10,100]]", FP_ETYPE, L_DEF, 0},
		{"fstats", SET, "[[1,1,1,1.5,100]]", FP_ETYPE, L_DEF, 0},
		{"edges", SET, "[[1,2,5,5,50]]", FP_ETYPE, L_DEF, 0},
		{"edges", SET, "[[1,2,5,5,50,-80]]", FP_ETYPE, L_DEF, 0},
		{"nodes", SET, "[[1,0,1,1,10]]", FP_ETYPE, L_DEF, 0},
		{"nodes", SET, "[[1,0,1,1,10,nil]]", FP_ETYPE, L_DEF, 0},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_bad_values(void **state)
{
	static const struct bad_case cases[] = {
		{"v", SET, "2", FP_EVERSION, L_DEF, 0},
		{"v", SET, "0", FP_EVERSION, L_DEF, 0},
		{"v", SET, "-1", FP_EVERSION, L_DEF, 0},
		{"v", SET, "18446744073709551615", FP_EVERSION, L_DEF, 0},
		{"seq", SET, "0", FP_EINVAL, L_DEF, 0},
		{"seq", SET, "9223372036854775807", 0, L_DEF, 0},
		{"seq", SET, "9223372036854775808", FP_ERANGE, L_DEF, 0},
		{"dropped", SET, "9223372036854775808", FP_ERANGE, L_DEF, 0},
		{"fstats", SET, "[[1,1,1,9223372036854775808,1]]", FP_ERANGE,
		 L_DEF, 0},
		{"edges", SET, "[[1,2,1,1,1,9223372036854775808]]", FP_ERANGE,
		 L_DEF, 0},
		{"nodes", SET, "[[1,0,1,18446744073709551615,1,1]]", FP_ERANGE,
		 L_DEF, 0},
		{"t0", SET, "2001", FP_EINVAL, L_DEF, 0},
		{"t0", SET, "2000", 0, L_DEF, 0},
		{"t0", SET, "-5", 0, L_DEF, 0},
		{"t1", SET, "9223372036854775808", FP_ERANGE, L_DEF, 0},
		{"t1", SET, "9223372036854775807", 0, L_DEF, 0},
		{"clock", SET, "\"cpu\"", 0, L_DEF, 0},
		{"clock", SET, "\"gpu\"", FP_EINVAL, L_DEF, 0},
		{"clock", SET, "\"Wall\"", FP_EINVAL, L_DEF, 0},
		{"clock", SET, "\"wall\\0\"", FP_EINVAL, L_DEF, 0},
		{"agent.id", SET, "B(15)", FP_EINVAL, L_DEF, 0},
		{"agent.id", SET, "B(17)", FP_EINVAL, L_DEF, 0},
		{"agent.id", SET, "B(0)", FP_EINVAL, L_DEF, 0},
		{"agent.id", SET, "s(16)", 0, L_DEF, 0},
		{"agent.id", SET, "s(15)", FP_EINVAL, L_DEF, 0},
		{"agent.pid", SET, "4294967296", FP_ERANGE, L_DEF, 0},
		{"agent.pid", SET, "2147483648", FP_ERANGE, L_DEF, 0},
		{"agent.pid", SET, "2147483647", 0, L_DEF, 0},
		{"agent.start_ns", SET, "-5", 0, L_DEF, 0},
		{"agent.start_ns", SET, "9223372036854775808", FP_ERANGE, L_DEF,
		 0},
		/* NUL bytes never reach PostgreSQL text */
		{"agent.host", SET, "\"web\\0-01\"", FP_EINVAL, L_DEF, 0},
		{"agent.service", SET, "\"\\0\"", FP_EINVAL, L_DEF, 0},
		{"agent.labels", SET, "{\"a\":\"x\\0\"}", FP_EINVAL, L_DEF, 0},
		{"agent.labels", SET, "{\"\\0\":\"x\"}", FP_EINVAL, L_DEF, 0},
		{"token", SET, "\"t\\0k\"", FP_EINVAL, L_DEF, 0},
		{"fns", SET, "[[1,\"ma\\0in\",\"\",0,\"\"]]", FP_EINVAL, L_DEF,
		 0},
		{"fns", SET, "[[1,\"main\",\"\",0,\"\\0\"]]", FP_EINVAL, L_DEF,
		 0},
		/* ids */
		{"fns", SET, "[[4294967296,\"a\",\"\",0,\"\"]]", FP_ERANGE,
		 L_DEF, 0},
		{"fns", SET, "[[1,\"a\",\"\",4294967296,\"\"]]", FP_ERANGE,
		 L_DEF, 0},
		{"fstats", SET, "[[1,1,1,10,100],[99,1,1,1,1]]", FP_ERANGE,
		 L_DEF, 0},
		{"fstats", SET, "[[4294967296,1,1,1,1]]", FP_ERANGE, L_DEF, 0},
		{"fstats", SET, "[[1,3,4,10,100]]", FP_EINVAL, L_DEF, 0},
		{"fstats", SET, "[[1,4,4,10,100],[1,1,0,1,1]]", 0, L_DEF, 0},
		{"fstats", SET, "[]", 0, L_DEF, 0},
		{"edges", SET, "[[99,2,5,5,50,80]]", FP_ERANGE, L_DEF, 0},
		{"edges", SET, "[[1,99,5,5,50,80]]", FP_ERANGE, L_DEF, 0},
		{"edges", SET, "[[1,2,5,6,50,80]]", FP_EINVAL, L_DEF, 0},
		{"edges", SET, "[]", 0, L_DEF, 0},
		{"nodes", SET, "[[0,0,1,1,10,100]]", FP_ERANGE, L_DEF, 0},
		{"nodes", SET, "[[1,0,99,1,10,100]]", FP_ERANGE, L_DEF, 0},
		{"nodes", SET, "[[1,0,1,1,10,100],[2,7,2,1,1,1]]", FP_ERANGE,
		 L_DEF, 0},
		/* parent after child, and a node its own parent */
		{"nodes", SET, "[[2,1,2,1,1,1],[1,0,1,1,1,1]]", FP_ERANGE,
		 L_DEF, 0},
		{"nodes", SET, "[[1,1,1,1,1,1]]", FP_ERANGE, L_DEF, 0},
		{"nodes", SET,
		 "[[4294967295,0,1,1,1,1],[7,4294967295,1,1,1,1]]", 0, L_DEF,
		 0},
		{"nodes", SET, "[]", 0, L_DEF, 0},
		/* duplicates */
		{"fns", SET,
		 "[[1,\"a\",\"\",0,\"\"],[2,\"b\",\"\",0,\"\"],"
		 "[1,\"c\",\"\",0,\"\"]]",
		 FP_EDUPLICATE, L_DEF, 0},
		{"nodes", SET, "[[1,0,1,1,1,1],[2,1,2,1,1,1],[1,0,3,1,1,1]]",
		 FP_EDUPLICATE, L_DEF, 0},
		{"seq", ADD, "17", FP_EDUPLICATE, L_DEF, 0},
		{"v", ADD, "1", FP_EDUPLICATE, L_DEF, 0},
		{"fstats", ADD, "[]", FP_EDUPLICATE, L_DEF, 0},
		{"agent.host", ADD, "\"other\"", FP_EDUPLICATE, L_DEF, 0},
		{"agent.labels", SET, "{\"a\":\"x\",\"b\":\"y\",\"a\":\"z\"}",
		 FP_EDUPLICATE, L_DEF, 0},
		/* unknown keys are ignored, whatever they hold */
		{"x-future", ADD, "{\"k\":[1,2.5,nil,b\"\\0\"]}", 0, L_DEF, 0},
		{"agent.x-future", ADD, "-7", 0, L_DEF, 0},
		{"", ADD, "s(5000)", 0, L_DEF, 0},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_limits(void **state)
{
	static const struct bad_case cases[] = {
		/* the base batch has 3 fns, 3 fstats, 2 edges, 3 nodes of
		 * depth 3, 1 label, longest string 8 bytes ("checkout") */
		{"v", SET, "1", FP_ELIMIT, L_FNS, 2},
		{"v", SET, "1", 0, L_FNS, 3},
		{"v", SET, "1", FP_ELIMIT, L_ROWS, 2},
		{"v", SET, "1", 0, L_ROWS, 3},
		{"edges", SET,
		 "[[1,2,1,1,1,1],[1,2,1,1,1,1],[1,2,1,1,1,1],"
		 "[1,2,1,1,1,1]]",
		 FP_ELIMIT, L_ROWS, 3},
		{"nodes", SET,
		 "[[1,0,1,1,1,1],[2,0,1,1,1,1],[3,0,1,1,1,1],"
		 "[4,0,1,1,1,1]]",
		 FP_ELIMIT, L_ROWS, 3},
		{"v", SET, "1", FP_ELIMIT, L_LABELS, 0},
		{"v", SET, "1", 0, L_LABELS, 1},
		{"v", SET, "1", FP_ESTRLEN, L_STR, 7},
		{"v", SET, "1", 0, L_STR, 8},
		{"agent.host", SET, "s(4097)", FP_ESTRLEN, L_DEF, 0},
		{"agent.host", SET, "s(4096)", 0, L_DEF, 0},
		{"agent.lang", SET, "s(4097)", FP_ESTRLEN, L_DEF, 0},
		{"token", SET, "s(4097)", FP_ESTRLEN, L_DEF, 0},
		{"agent.labels", SET, "{\"k\":s(4097)}", FP_ESTRLEN, L_DEF, 0},
		{"fns", SET, "[[1,s(4097),\"\",0,\"\"]]", FP_ESTRLEN, L_DEF, 0},
		{"fns", SET, "[[1,\"\",\"\",0,s(4097)]]", FP_ESTRLEN, L_DEF, 0},
		{"v", SET, "1", FP_EDEPTH, L_DEPTH, 2},
		{"v", SET, "1", 0, L_DEPTH, 3},
		{"v", SET, "1", FP_EMSGSIZE, L_MSG, 100},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Exact error details for a few representative failures. */
static void test_error_detail(void **state)
{
	static const struct {
		const char *key;
		const char *val;
		enum lim_field lf;
		uint64_t lv;
		const char *detail;
	} cases[] = {
		{"fstats", "[[1,1,1,1,1],[2,1,1,1,1],[3,1,1,1,1],[99,1,1,1,1]]",
		 L_DEF, 0, "fstats[3][0]: fn 99 not in fns"},
		{"agent.host", "s(5000)", L_DEF, 0,
		 "agent.host: 5000 bytes > limit 4096"},
		{"fns",
		 "[[1,\"a\",\"\",0,\"\"],[2,\"b\",\"\",0,\"\"],"
		 "[1,\"c\",\"\",0,\"\"]]",
		 L_DEF, 0, "fns[2][0]: duplicate id 1 (also fns[0])"},
		{"nodes", "[[2,1,2,1,1,1],[1,0,1,1,1,1]]", L_DEF, 0,
		 "nodes[0][1]: parent 1 is not an earlier node"},
		{"edges", "[[1,2,5,6,50,80]]", L_DEF, 0,
		 "edges[0][3]: pcalls 6 > ncalls 5"},
		{"seq", "0", L_DEF, 0, "seq: 0, sequence numbers start at 1"},
		{"fstats", "[[1,1,1,1]]", L_DEF, 0,
		 "fstats[0]: 4 fields, expected 5"},
		{"agent.id", "B(15)", L_DEF, 0,
		 "agent.id: 15 bytes, expected 16"},
		{"v", "1", L_DEPTH, 2, "nodes[2]: path depth 3 > limit 2"},
		{"v", "1", L_FNS, 2, "fns: 3 rows > limit max_fns 2"},
		{"t1", NULL, L_DEF, 0, "t1: required key missing"},
		{"v", "3", L_DEF, 0, "v: version 3, expected 1"},
	};
	struct wire_limits lim;
	struct wire_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wire_batch *b = SENTINEL;
		msgpack_sbuffer sb;

		build_edit(&sb, cases[i].key, SET, cases[i].val);
		set_limit(&lim, cases[i].lf, cases[i].lv);
		assert_true(wire_decode(sb.data, sb.size, &lim, &b, &err) < 0);
		assert_string_equal(err.detail, cases[i].detail);
		msgpack_sbuffer_destroy(&sb);
	}
	/* raw pre-scan failure */
	{
		static const unsigned char huge[] = {0xdd, 0xff, 0xff,
						     0xff, 0xff, 0x00};
		struct wire_batch *b = SENTINEL;

		assert_int_equal(
			wire_decode(huge, sizeof(huge), NULL, &b, &err),
			FP_ECOUNT);
		assert_string_equal(err.detail,
				    "offset 0: array of 4294967295 elements, "
				    "1 bytes left");
		/* err may be NULL */
		assert_int_equal(
			wire_decode(huge, sizeof(huge), NULL, &b, NULL),
			FP_ECOUNT);
		assert_true(b == SENTINEL);
	}
	/* err may be NULL for a semantic failure too */
	{
		struct wire_batch *b = SENTINEL;
		msgpack_sbuffer sb;

		build_edit(&sb, "seq", SET, "0");
		assert_int_equal(wire_decode(sb.data, sb.size, NULL, &b, NULL),
				 FP_EINVAL);
		assert_true(b == SENTINEL);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* ---- tests: replies ---- */

static void reply_roundtrip(const struct wire_reply *in)
{
	struct wire_reply out;
	void *buf;
	size_t len;

	assert_int_equal(wire_reply_encode(in, &buf, &len), 0);
	assert_true(len <= 1024);
	memset(&out, 0x55, sizeof(out));
	assert_int_equal(wire_reply_decode(buf, len, &out), 0);
	assert_int_equal(out.ok, in->ok);
	assert_int_equal(out.dup, in->dup);
	assert_int_equal(out.retry, in->retry);
	assert_int_equal(out.code, in->code);
	assert_true(out.seq == in->seq);
	assert_string_equal(out.msg, in->msg);
	free(buf);
}

static void test_reply_roundtrip(void **state)
{
	struct wire_reply r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.ok = 1;
	r.seq = 42;
	reply_roundtrip(&r);
	r.dup = 1;
	r.seq = UINT64_MAX;
	reply_roundtrip(&r);
	memset(&r, 0, sizeof(r));
	r.code = FP_EDBDOWN;
	r.retry = 1;
	r.seq = 7;
	snprintf(r.msg, sizeof(r.msg), "%s", "database unavailable");
	reply_roundtrip(&r);
	r.code = FP_ERANGE;
	r.retry = 0;
	snprintf(r.msg, sizeof(r.msg), "%s", "fstats[3][0]: fn 99 not in fns");
	reply_roundtrip(&r);
	/* a full, unterminated msg is cut to 159 bytes */
	memset(r.msg, 'x', sizeof(r.msg));
	{
		struct wire_reply out;
		void *buf;
		size_t len;

		assert_int_equal(wire_reply_encode(&r, &buf, &len), 0);
		assert_int_equal(wire_reply_decode(buf, len, &out), 0);
		assert_int_equal(strlen(out.msg), sizeof(out.msg) - 1);
		free(buf);
	}
}

static int reply_from_text(const char *text, size_t extra_nil,
			   struct wire_reply *out)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;
	size_t i;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	dsl_pack(&pk, text);
	for (i = 0; i < extra_nil; i++)
		assert_int_equal(msgpack_pack_nil(&pk), 0);
	rc = wire_reply_decode(sb.data, sb.size, out);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void test_reply_malformed(void **state)
{
	static const struct {
		const char *text;
		int expect;
	} cases[] = {
		{"{\"ok\":true,\"seq\":1,\"code\":0,\"retry\":false}", 0},
		{"{\"ok\":true,\"seq\":1,\"code\":0,\"retry\":false,"
		 "\"x\":[1,{}]}",
		 0},
		{"[true,1,0,false]", FP_ETYPE},
		{"5", FP_ETYPE},
		{"{\"seq\":1,\"code\":0,\"retry\":false}", FP_EMISSING},
		{"{\"ok\":true,\"code\":0,\"retry\":false}", FP_EMISSING},
		{"{\"ok\":true,\"seq\":1,\"retry\":false}", FP_EMISSING},
		{"{\"ok\":true,\"seq\":1,\"code\":0}", FP_EMISSING},
		{"{\"ok\":1,\"seq\":1,\"code\":0,\"retry\":false}", FP_ETYPE},
		{"{\"ok\":true,\"seq\":-1,\"code\":0,\"retry\":false}",
		 FP_ETYPE},
		{"{\"ok\":true,\"seq\":1,\"code\":\"0\",\"retry\":false}",
		 FP_ETYPE},
		{"{\"ok\":true,\"seq\":1,\"code\":0,\"retry\":nil}", FP_ETYPE},
		{"{\"ok\":true,\"seq\":1,\"code\":0,\"retry\":false,"
		 "\"msg\":5}",
		 FP_ETYPE},
		{"{1:true,\"seq\":1,\"code\":0,\"retry\":false}", FP_ETYPE},
		{"{\"ok\":true,\"ok\":true,\"seq\":1,\"code\":0,"
		 "\"retry\":false}",
		 FP_EDUPLICATE},
		{"{\"ok\":true,\"seq\":1,\"code\":5,\"retry\":false}",
		 FP_ERANGE},
		{"{\"ok\":false,\"seq\":1,\"code\":-3000000000,"
		 "\"retry\":false}",
		 FP_ERANGE},
		{"{\"ok\":true,\"seq\":1,\"code\":-21,\"retry\":false}",
		 FP_EINVAL},
		{"{\"ok\":false,\"seq\":1,\"code\":0,\"retry\":true}",
		 FP_EINVAL},
		{"{\"ok\":false,\"dup\":true,\"seq\":1,\"code\":-20,"
		 "\"retry\":true}",
		 FP_EINVAL},
		{"{\"ok\":true,\"seq\":1,\"code\":0,\"retry\":false,"
		 "\"msg\":s(160)}",
		 FP_ESTRLEN},
		{"{\"ok\":true,\"seq\":1,\"code\":0,\"retry\":false,"
		 "\"msg\":s(159)}",
		 0},
		{"{\"ok\":true,\"seq\":1,\"code\":0,\"retry\":false,"
		 "\"msg\":\"a\\0b\"}",
		 FP_EINVAL},
		{"{\"ok\":true,\"seq\":1,\"code\":0,\"retry\":false,"
		 "\"pad\":s(1000)}",
		 FP_EMSGSIZE},
		{"[[[[[[[[[1]]]]]]]]]", FP_EDEPTH},
	};
	static const unsigned char huge[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
	static const unsigned char bad[] = {0x81, 0xa2, 'o', 'k', 0xc1};
	struct wire_reply r, ok;
	void *buf;
	size_t len, i;
	int failures = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		memset(&r, 0x55, sizeof(r));
		rc = reply_from_text(cases[i].text, 0, &r);
		if (rc != cases[i].expect) {
			print_error("reply case %zu: got %s, expected %s\n", i,
				    fp_errname(rc),
				    fp_errname(cases[i].expect));
			failures++;
		} else if (rc != 0) {
			/* out untouched on failure */
			assert_int_equal(r.ok, 0x55555555);
		}
	}
	assert_int_equal(failures, 0);
	assert_int_equal(reply_from_text("{\"ok\":true,\"seq\":1,\"code\":0,"
					 "\"retry\":false}",
					 1, &r),
			 FP_ETRAILING);
	assert_int_equal(wire_reply_decode(huge, sizeof(huge), &r), FP_ECOUNT);
	assert_int_equal(wire_reply_decode(bad, sizeof(bad), &r),
			 FP_EMALFORMED);
	assert_int_equal(wire_reply_decode(NULL, 0, &r), FP_ETRUNCATED);
	assert_int_equal(wire_reply_decode(huge, 1, NULL), FP_EINVAL);

	/* every prefix of a valid reply fails */
	memset(&ok, 0, sizeof(ok));
	ok.code = FP_EDB;
	snprintf(ok.msg, sizeof(ok.msg), "%s", "commit failed");
	assert_int_equal(wire_reply_encode(&ok, &buf, &len), 0);
	for (i = 0; i < len; i++) {
		void *copy = malloc(i ? i : 1);
		int rc;

		assert_non_null(copy);
		memcpy(copy, buf, i);
		rc = wire_reply_decode(copy, i, &r);
		free(copy);
		if (rc != FP_ETRUNCATED && rc != FP_ECOUNT)
			fail_msg("reply prefix %zu: %s", i, fp_errname(rc));
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_clock_names),
		cmocka_unit_test(test_roundtrip_full),
		cmocka_unit_test(test_roundtrip_minimal),
		cmocka_unit_test(test_roundtrip_large),
		cmocka_unit_test(test_encode_invalid),
		cmocka_unit_test(test_base_is_valid),
		cmocka_unit_test(test_truncated_every_offset),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_raw_malformed),
		cmocka_unit_test(test_missing_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_error_detail),
		cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_reply_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
