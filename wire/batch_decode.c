/*
 * wire_decode(): the strict v1 batch decoder the collector runs on hostile
 * input. Design notes:
 *  - wire_prescan() checks the raw bytes first (sizes, nesting, one object),
 *    so msgpack-c only unpacks what the bytes back; strings it returns point
 *    into the input and are copied by length, never read as C strings.
 *  - The object tree is checked in two passes: shape (types, arity, limits,
 *    string sizes), then values, copied into one arena allocation that holds
 *    the struct wire_batch itself, its arrays and its strings (arena == b).
 *  - Fn and node ids are looked up in sorted (id, row) arrays: O(n log n).
 *  - Any failure frees everything it allocated and leaves *out untouched.
 */
#include "wire/batch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "fp/error.h"
#include "prescan.h"

#define NO_ROW (-1)
#define NO_COL (-1)

enum top_key {
	K_V,
	K_AGENT,
	K_SEQ,
	K_T0,
	K_T1,
	K_CLOCK,
	K_FNS,
	K_FSTATS,
	K_EDGES,
	K_NODES,
	K_DROPPED,
	K_TOKEN,
	K_NTOP,
};

static const char *const top_names[K_NTOP] = {
	"v",   "agent",	 "seq",	  "t0",	   "t1",      "clock",
	"fns", "fstats", "edges", "nodes", "dropped", "token",
};

enum agent_key {
	A_ID,
	A_HOST,
	A_SERVICE,
	A_PID,
	A_START_NS,
	A_LANG,
	A_LABELS,
	A_NAGENT,
};

static const char *const agent_names[A_NAGENT] = {
	"agent.id",	  "agent.host", "agent.service", "agent.pid",
	"agent.start_ns", "agent.lang", "agent.labels",
};

/* State of one decode; strings are appended at str_next. */
struct dec {
	const struct wire_limits *lim;
	struct wire_error *err;
	const msgpack_object *top[K_NTOP];
	const msgpack_object *agent[A_NAGENT];
	size_t str_bytes; /* pass 1: bytes of all strings, NULs included */
	char *str_next;	  /* pass 2: where the next string goes */
};

/* (id << 32 | row) pairs sorted by id, for lookups and duplicate checks. */
struct id_index {
	uint64_t *v;
	uint32_t n;
};

static int dec_fail(struct dec *d, int code, const char *name, long row,
		    int col, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Fills d->err as "name[row][col]: reason"; returns code. */
static int dec_fail(struct dec *d, int code, const char *name, long row,
		    int col, const char *fmt, ...)
{
	char *p = d->err->detail;
	size_t cap = sizeof(d->err->detail);
	int n;
	va_list ap;

	d->err->code = code;
	if (row == NO_ROW)
		n = snprintf(p, cap, "%s: ", name);
	else if (col == NO_COL)
		n = snprintf(p, cap, "%s[%ld]: ", name, row);
	else
		n = snprintf(p, cap, "%s[%ld][%d]: ", name, row, col);
	if (n < 0 || (size_t)n >= cap)
		return code;
	va_start(ap, fmt);
	vsnprintf(p + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

static const char *type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "bool";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return "uint";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "negative int";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "float";
	case MSGPACK_OBJECT_STR:
		return "str";
	case MSGPACK_OBJECT_ARRAY:
		return "array";
	case MSGPACK_OBJECT_MAP:
		return "map";
	case MSGPACK_OBJECT_BIN:
		return "bin";
	case MSGPACK_OBJECT_EXT:
		return "ext";
	default:
		return "unknown";
	}
}

static bool key_is(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);

	return k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
}

/* ---- scalar checks (pass 2) ---- */

static int get_uint(struct dec *d, const msgpack_object *o, uint64_t max,
		    uint64_t *out, const char *name, long row, int col)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return dec_fail(d, FP_ETYPE, name, row, col,
				"expected unsigned int, got %s", type_name(o));
	if (o->via.u64 > max)
		return dec_fail(d, FP_ERANGE, name, row, col,
				"%" PRIu64 " > max %" PRIu64, o->via.u64, max);
	*out = o->via.u64;
	return 0;
}

static int get_u32(struct dec *d, const msgpack_object *o, uint32_t *out,
		   const char *name, long row, int col)
{
	uint64_t v = 0;
	int rc = get_uint(d, o, UINT32_MAX, &v, name, row, col);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

/* seq, counters, times: stored as PostgreSQL bigint, hence WIRE_MAX_U64 */
static int get_u64(struct dec *d, const msgpack_object *o, uint64_t *out,
		   const char *name, long row, int col)
{
	return get_uint(d, o, WIRE_MAX_U64, out, name, row, col);
}

static int get_i64(struct dec *d, const msgpack_object *o, int64_t *out,
		   const char *name)
{
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return dec_fail(d, FP_ETYPE, name, NO_ROW, NO_COL,
				"expected int, got %s", type_name(o));
	if (o->via.u64 > INT64_MAX)
		return dec_fail(d, FP_ERANGE, name, NO_ROW, NO_COL,
				"%" PRIu64 " > max %" PRId64, o->via.u64,
				INT64_MAX);
	*out = (int64_t)o->via.u64;
	return 0;
}

/* ---- strings ---- */

/* Pass 1: type, length and NUL check; counts the bytes pass 2 will copy. */
static int check_str(struct dec *d, const msgpack_object *o, const char *name,
		     long row, int col)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return dec_fail(d, FP_ETYPE, name, row, col,
				"expected str, got %s", type_name(o));
	if (o->via.str.size > d->lim->max_str)
		return dec_fail(d, FP_ESTRLEN, name, row, col,
				"%" PRIu32 " bytes > limit %" PRIu32,
				o->via.str.size, d->lim->max_str);
	if (o->via.str.size &&
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return dec_fail(d, FP_EINVAL, name, row, col,
				"NUL byte in string");
	d->str_bytes += (size_t)o->via.str.size + 1;
	return 0;
}

/* Pass 2: copies a string checked in pass 1 into the arena. */
static const char *copy_str(struct dec *d, const msgpack_object *o)
{
	char *s = d->str_next;

	if (o->via.str.size)
		memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	d->str_next += (size_t)o->via.str.size + 1;
	return s;
}

/* ---- pass 1: keys, required fields, shapes ---- */

static int find_top_keys(struct dec *d, const msgpack_object *root)
{
	uint32_t i;
	int k;

	if (root->type != MSGPACK_OBJECT_MAP)
		return dec_fail(d, FP_ETYPE, "message", NO_ROW, NO_COL,
				"expected map, got %s", type_name(root));
	for (i = 0; i < root->via.map.size; i++) {
		const msgpack_object_kv *kv = &root->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR)
			return dec_fail(d, FP_ETYPE, "message", NO_ROW, NO_COL,
					"key of entry %" PRIu32
					": expected str, got %s",
					i, type_name(&kv->key));
		for (k = 0; k < K_NTOP; k++) {
			if (!key_is(&kv->key, top_names[k]))
				continue;
			if (d->top[k])
				return dec_fail(d, FP_EDUPLICATE, top_names[k],
						NO_ROW, NO_COL,
						"key appears twice");
			d->top[k] = &kv->val;
			break;
		}
	}
	return 0;
}

static int find_agent_keys(struct dec *d, const msgpack_object *agent)
{
	uint32_t i;
	int k;

	if (agent->type != MSGPACK_OBJECT_MAP)
		return dec_fail(d, FP_ETYPE, "agent", NO_ROW, NO_COL,
				"expected map, got %s", type_name(agent));
	for (i = 0; i < agent->via.map.size; i++) {
		const msgpack_object_kv *kv = &agent->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR)
			return dec_fail(d, FP_ETYPE, "agent", NO_ROW, NO_COL,
					"key of entry %" PRIu32
					": expected str, got %s",
					i, type_name(&kv->key));
		for (k = 0; k < A_NAGENT; k++) {
			/* skip the "agent." prefix of the display name */
			if (!key_is(&kv->key, agent_names[k] + 6))
				continue;
			if (d->agent[k])
				return dec_fail(d, FP_EDUPLICATE,
						agent_names[k], NO_ROW, NO_COL,
						"key appears twice");
			d->agent[k] = &kv->val;
			break;
		}
	}
	return 0;
}

static int check_labels(struct dec *d, const msgpack_object *o)
{
	const char *name = agent_names[A_LABELS];
	uint32_t i, j;
	int rc;

	if (o->type != MSGPACK_OBJECT_MAP)
		return dec_fail(d, FP_ETYPE, name, NO_ROW, NO_COL,
				"expected map, got %s", type_name(o));
	if (o->via.map.size > d->lim->max_labels)
		return dec_fail(d, FP_ELIMIT, name, NO_ROW, NO_COL,
				"%" PRIu32 " labels > limit %" PRIu32,
				o->via.map.size, d->lim->max_labels);
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if ((rc = check_str(d, &kv->key, name, (long)i, 0)) != 0 ||
		    (rc = check_str(d, &kv->val, name, (long)i, 1)) != 0)
			return rc;
		/* at most max_labels (64 by default): quadratic is fine */
		for (j = 0; j < i; j++) {
			const msgpack_object *k = &o->via.map.ptr[j].key;

			if (k->via.str.size == kv->key.via.str.size &&
			    memcmp(k->via.str.ptr, kv->key.via.str.ptr,
				   k->via.str.size) == 0)
				return dec_fail(d, FP_EDUPLICATE, name, (long)i,
						0,
						"duplicate label key (also "
						"labels[%" PRIu32 "])",
						j);
		}
	}
	return 0;
}

static int check_agent(struct dec *d)
{
	static const int required[] = {A_ID, A_HOST, A_SERVICE};
	const msgpack_object *id;
	size_t i;
	int rc;

	if ((rc = find_agent_keys(d, d->top[K_AGENT])) != 0)
		return rc;
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!d->agent[required[i]])
			return dec_fail(d, FP_EMISSING,
					agent_names[required[i]], NO_ROW,
					NO_COL, "required key missing");
	id = d->agent[A_ID];
	if (id->type != MSGPACK_OBJECT_BIN && id->type != MSGPACK_OBJECT_STR)
		return dec_fail(d, FP_ETYPE, agent_names[A_ID], NO_ROW, NO_COL,
				"expected bin, got %s", type_name(id));
	/* bin and str share the same layout in msgpack_object */
	if (id->via.bin.size != WIRE_AGENT_ID_LEN)
		return dec_fail(d, FP_EINVAL, agent_names[A_ID], NO_ROW, NO_COL,
				"%" PRIu32 " bytes, expected %d",
				id->via.bin.size, WIRE_AGENT_ID_LEN);
	if ((rc = check_str(d, d->agent[A_HOST], agent_names[A_HOST], NO_ROW,
			    NO_COL)) != 0 ||
	    (rc = check_str(d, d->agent[A_SERVICE], agent_names[A_SERVICE],
			    NO_ROW, NO_COL)) != 0)
		return rc;
	if (d->agent[A_LANG] &&
	    (rc = check_str(d, d->agent[A_LANG], agent_names[A_LANG], NO_ROW,
			    NO_COL)) != 0)
		return rc;
	if (d->agent[A_LABELS] &&
	    (rc = check_labels(d, d->agent[A_LABELS])) != 0)
		return rc;
	return 0;
}

/*
 * Checks that a table is an array of at most `max` rows, each an array of
 * exactly `arity` fields; stores the row count.
 */
static int check_table(struct dec *d, int key, uint32_t max, uint32_t arity,
		       const char *limit_name, uint32_t *nrows)
{
	const msgpack_object *o = d->top[key];
	const char *name = top_names[key];
	uint32_t i;

	if (!o) {
		*nrows = 0;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return dec_fail(d, FP_ETYPE, name, NO_ROW, NO_COL,
				"expected array, got %s", type_name(o));
	if (o->via.array.size > max)
		return dec_fail(d, FP_ELIMIT, name, NO_ROW, NO_COL,
				"%" PRIu32 " rows > limit %s %" PRIu32,
				o->via.array.size, limit_name, max);
	for (i = 0; i < o->via.array.size; i++) {
		const msgpack_object *r = &o->via.array.ptr[i];

		if (r->type != MSGPACK_OBJECT_ARRAY)
			return dec_fail(d, FP_ETYPE, name, (long)i, NO_COL,
					"expected array, got %s", type_name(r));
		if (r->via.array.size != arity)
			return dec_fail(d, FP_ETYPE, name, (long)i, NO_COL,
					"%" PRIu32 " fields, expected %" PRIu32,
					r->via.array.size, arity);
	}
	*nrows = o->via.array.size;
	return 0;
}

/* Checks fns' string fields (name, file, module) and counts their bytes. */
static int check_fn_strings(struct dec *d, uint32_t nfns)
{
	static const int cols[] = {1, 2, 4};
	const msgpack_object *rows = d->top[K_FNS]->via.array.ptr;
	uint32_t i;
	size_t c;
	int rc;

	for (i = 0; i < nfns; i++)
		for (c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
			rc = check_str(d, &rows[i].via.array.ptr[cols[c]],
				       "fns", (long)i, cols[c]);
			if (rc != 0)
				return rc;
		}
	return 0;
}

static int check_shape(struct dec *d, uint32_t n[4])
{
	static const int required[] = {K_AGENT, K_SEQ, K_T0,	K_T1,
				       K_CLOCK, K_FNS, K_FSTATS};
	const struct wire_limits *lim = d->lim;
	const msgpack_object *v = d->top[K_V];
	size_t i;
	int rc;

	/* the version decides what else is required: check it first */
	if (!v)
		return dec_fail(d, FP_EMISSING, "v", NO_ROW, NO_COL,
				"required key missing");
	if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return dec_fail(d, FP_EVERSION, "v", NO_ROW, NO_COL,
				"version %" PRId64 ", expected %d", v->via.i64,
				WIRE_VERSION);
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return dec_fail(d, FP_ETYPE, "v", NO_ROW, NO_COL,
				"expected int, got %s", type_name(v));
	if (v->via.u64 != WIRE_VERSION)
		return dec_fail(d, FP_EVERSION, "v", NO_ROW, NO_COL,
				"version %" PRIu64 ", expected %d", v->via.u64,
				WIRE_VERSION);
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!d->top[required[i]])
			return dec_fail(d, FP_EMISSING, top_names[required[i]],
					NO_ROW, NO_COL, "required key missing");
	if ((rc = check_agent(d)) != 0)
		return rc;
	if (d->top[K_CLOCK]->type != MSGPACK_OBJECT_STR)
		return dec_fail(d, FP_ETYPE, "clock", NO_ROW, NO_COL,
				"expected str, got %s",
				type_name(d->top[K_CLOCK]));
	if (d->top[K_TOKEN] &&
	    (rc = check_str(d, d->top[K_TOKEN], "token", NO_ROW, NO_COL)) != 0)
		return rc;
	if ((rc = check_table(d, K_FNS, lim->max_fns, 5, "max_fns", &n[0])) ||
	    (rc = check_fn_strings(d, n[0])) != 0 ||
	    (rc = check_table(d, K_FSTATS, lim->max_rows, 5, "max_rows",
			      &n[1])) != 0 ||
	    (rc = check_table(d, K_EDGES, lim->max_rows, 6, "max_rows",
			      &n[2])) != 0 ||
	    (rc = check_table(d, K_NODES, lim->max_rows, 6, "max_rows",
			      &n[3])) != 0)
		return rc;
	return 0;
}

/* ---- arena ---- */

/* Reserves n items of size sz at *off (8-aligned); false on overflow. */
static bool arena_take(size_t *off, size_t n, size_t sz, size_t *at)
{
	size_t start = (*off + 7) & ~(size_t)7;

	if (start < *off || (sz && n > (SIZE_MAX - start) / sz))
		return false;
	*at = start;
	*off = start + n * sz;
	return true;
}

/* ---- id indexes ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Row of id in the index, or -1. */
static long index_find(const struct id_index *ix, uint32_t id)
{
	uint32_t lo = 0, hi = ix->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint32_t v = (uint32_t)(ix->v[mid] >> 32);

		if (v < id)
			lo = mid + 1;
		else if (v > id)
			hi = mid;
		else
			return (long)(ix->v[mid] & UINT32_MAX);
	}
	return -1;
}

/*
 * Builds the index of the n rows at `rows` (stride bytes apart, a uint32_t id
 * first in each) and rejects duplicate ids, reporting the earliest row that
 * repeats an id seen before.
 */
static int index_build(struct dec *d, struct id_index *ix, uint32_t n,
		       const void *rows, size_t stride, const char *name)
{
	uint32_t i;
	long dup_row = -1, dup_first = -1;
	uint32_t dup_id = 0;

	ix->n = n;
	ix->v = NULL;
	if (n == 0)
		return 0;
	ix->v = malloc((size_t)n * sizeof(*ix->v));
	if (!ix->v)
		return dec_fail(d, FP_ENOMEM, name, NO_ROW, NO_COL,
				"no memory for the id index");
	for (i = 0; i < n; i++) {
		uint32_t id;

		/* the id is the first member of wire_fn and wire_node */
		memcpy(&id, (const char *)rows + (size_t)i * stride,
		       sizeof(id));
		ix->v[i] = (uint64_t)id << 32 | i;
	}
	qsort(ix->v, n, sizeof(*ix->v), cmp_u64);
	for (i = 1; i < n; i++) {
		long later = (long)(ix->v[i] & UINT32_MAX);

		if ((ix->v[i] >> 32) != (ix->v[i - 1] >> 32))
			continue;
		if (dup_row < 0 || later < dup_row) {
			dup_row = later;
			dup_first = (long)(ix->v[i - 1] & UINT32_MAX);
			dup_id = (uint32_t)(ix->v[i] >> 32);
		}
	}
	if (dup_row >= 0) {
		free(ix->v);
		ix->v = NULL;
		return dec_fail(d, FP_EDUPLICATE, name, dup_row, 0,
				"duplicate id %" PRIu32 " (also %s[%ld])",
				dup_id, name, dup_first);
	}
	return 0;
}

static int need_fn(struct dec *d, const struct id_index *fns, uint32_t fn,
		   const char *name, long row, int col, const char *what)
{
	if (index_find(fns, fn) < 0)
		return dec_fail(d, FP_ERANGE, name, row, col,
				"%s %" PRIu32 " not in fns", what, fn);
	return 0;
}

/* ---- pass 2: values ---- */

static int fill_agent(struct dec *d, struct wire_agent *a,
		      struct wire_label *labels)
{
	const msgpack_object *o;
	uint64_t v = 0;
	uint32_t i;
	int rc;

	memcpy(a->id, d->agent[A_ID]->via.bin.ptr, WIRE_AGENT_ID_LEN);
	a->host = copy_str(d, d->agent[A_HOST]);
	a->service = copy_str(d, d->agent[A_SERVICE]);
	a->lang = d->agent[A_LANG] ? copy_str(d, d->agent[A_LANG]) : "";
	/* pid is a PostgreSQL integer; no OS has pids past INT32_MAX */
	if ((o = d->agent[A_PID]) != NULL) {
		if ((rc = get_uint(d, o, INT32_MAX, &v, agent_names[A_PID],
				   NO_ROW, NO_COL)) != 0)
			return rc;
		a->pid = (uint32_t)v;
	}
	if ((o = d->agent[A_START_NS]) != NULL &&
	    (rc = get_i64(d, o, &a->start_ns, agent_names[A_START_NS])) != 0)
		return rc;
	if ((o = d->agent[A_LABELS]) != NULL) {
		for (i = 0; i < o->via.map.size; i++) {
			labels[i].key = copy_str(d, &o->via.map.ptr[i].key);
			labels[i].value = copy_str(d, &o->via.map.ptr[i].val);
		}
		a->labels = o->via.map.size ? labels : NULL;
		a->nlabels = o->via.map.size;
	}
	return 0;
}

static int fill_header(struct dec *d, struct wire_batch *b)
{
	const msgpack_object *clock = d->top[K_CLOCK];
	int rc;

	b->version = WIRE_VERSION;
	if ((rc = get_u64(d, d->top[K_SEQ], &b->seq, "seq", NO_ROW, NO_COL)) !=
	    0)
		return rc;
	if (b->seq == 0)
		return dec_fail(d, FP_EINVAL, "seq", NO_ROW, NO_COL,
				"0, sequence numbers start at 1");
	if ((rc = get_i64(d, d->top[K_T0], &b->t0, "t0")) != 0 ||
	    (rc = get_i64(d, d->top[K_T1], &b->t1, "t1")) != 0)
		return rc;
	if (b->t0 > b->t1)
		return dec_fail(d, FP_EINVAL, "t1", NO_ROW, NO_COL,
				"window ends before it starts (t0 %" PRId64
				" > t1 %" PRId64 ")",
				b->t0, b->t1);
	b->clock = wire_clock_parse(clock->via.str.ptr, clock->via.str.size);
	if (b->clock < 0)
		return dec_fail(d, FP_EINVAL, "clock", NO_ROW, NO_COL,
				"unknown clock, expected \"wall\" or \"cpu\"");
	if (d->top[K_DROPPED] &&
	    (rc = get_u64(d, d->top[K_DROPPED], &b->dropped, "dropped", NO_ROW,
			  NO_COL)) != 0)
		return rc;
	if (d->top[K_TOKEN])
		b->token = copy_str(d, d->top[K_TOKEN]);
	return 0;
}

static int fill_fns(struct dec *d, struct wire_fn *fns, uint32_t n)
{
	const msgpack_object *rows = n ? d->top[K_FNS]->via.array.ptr : NULL;
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++) {
		const msgpack_object *f = rows[i].via.array.ptr;

		if ((rc = get_u32(d, &f[0], &fns[i].id, "fns", (long)i, 0)) ||
		    (rc = get_u32(d, &f[3], &fns[i].line, "fns", (long)i, 3)))
			return rc;
		fns[i].name = copy_str(d, &f[1]);
		fns[i].file = copy_str(d, &f[2]);
		fns[i].module = copy_str(d, &f[4]);
	}
	return 0;
}

/* cProfile semantics: primitive calls are a subset of all calls */
static int check_pcalls(struct dec *d, uint64_t ncalls, uint64_t pcalls,
			const char *name, long row, int col)
{
	if (pcalls > ncalls)
		return dec_fail(d, FP_EINVAL, name, row, col,
				"pcalls %" PRIu64 " > ncalls %" PRIu64, pcalls,
				ncalls);
	return 0;
}

static int fill_fstats(struct dec *d, const struct id_index *fns,
		       struct wire_fstat *st, uint32_t n)
{
	const msgpack_object *rows = n ? d->top[K_FSTATS]->via.array.ptr : NULL;
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++) {
		const msgpack_object *f = rows[i].via.array.ptr;
		struct wire_fstat *s = &st[i];
		long r = (long)i;

		if ((rc = get_u32(d, &f[0], &s->fn, "fstats", r, 0)) != 0 ||
		    (rc = need_fn(d, fns, s->fn, "fstats", r, 0, "fn")) != 0 ||
		    (rc = get_u64(d, &f[1], &s->ncalls, "fstats", r, 1)) ||
		    (rc = get_u64(d, &f[2], &s->pcalls, "fstats", r, 2)) ||
		    (rc = check_pcalls(d, s->ncalls, s->pcalls, "fstats", r,
				       2)) != 0 ||
		    (rc = get_u64(d, &f[3], &s->tottime_ns, "fstats", r, 3)) ||
		    (rc = get_u64(d, &f[4], &s->cumtime_ns, "fstats", r, 4)))
			return rc;
	}
	return 0;
}

static int fill_edges(struct dec *d, const struct id_index *fns,
		      struct wire_edge *ed, uint32_t n)
{
	const msgpack_object *rows = n ? d->top[K_EDGES]->via.array.ptr : NULL;
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++) {
		const msgpack_object *f = rows[i].via.array.ptr;
		struct wire_edge *e = &ed[i];
		long r = (long)i;

		if ((rc = get_u32(d, &f[0], &e->caller, "edges", r, 0)) != 0 ||
		    (rc = need_fn(d, fns, e->caller, "edges", r, 0,
				  "caller")) != 0 ||
		    (rc = get_u32(d, &f[1], &e->callee, "edges", r, 1)) != 0 ||
		    (rc = need_fn(d, fns, e->callee, "edges", r, 1,
				  "callee")) != 0 ||
		    (rc = get_u64(d, &f[2], &e->ncalls, "edges", r, 2)) ||
		    (rc = get_u64(d, &f[3], &e->pcalls, "edges", r, 3)) ||
		    (rc = check_pcalls(d, e->ncalls, e->pcalls, "edges", r,
				       3)) != 0 ||
		    (rc = get_u64(d, &f[4], &e->tottime_ns, "edges", r, 4)) ||
		    (rc = get_u64(d, &f[5], &e->cumtime_ns, "edges", r, 5)))
			return rc;
	}
	return 0;
}

static int fill_nodes(struct dec *d, const struct id_index *fns,
		      struct wire_node *nd, uint32_t n)
{
	const msgpack_object *rows = n ? d->top[K_NODES]->via.array.ptr : NULL;
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++) {
		const msgpack_object *f = rows[i].via.array.ptr;
		struct wire_node *x = &nd[i];
		long r = (long)i;

		if ((rc = get_u32(d, &f[0], &x->node, "nodes", r, 0)) != 0)
			return rc;
		if (x->node == 0)
			return dec_fail(d, FP_ERANGE, "nodes", r, 0,
					"node id 0, ids start at 1");
		if ((rc = get_u32(d, &f[1], &x->parent, "nodes", r, 1)) ||
		    (rc = get_u32(d, &f[2], &x->fn, "nodes", r, 2)) != 0 ||
		    (rc = need_fn(d, fns, x->fn, "nodes", r, 2, "fn")) != 0 ||
		    (rc = get_u64(d, &f[3], &x->ncalls, "nodes", r, 3)) ||
		    (rc = get_u64(d, &f[4], &x->self_ns, "nodes", r, 4)) ||
		    (rc = get_u64(d, &f[5], &x->total_ns, "nodes", r, 5)))
			return rc;
	}
	return 0;
}

/* Node ids unique, each parent 0 or an earlier node, depth <= max_depth. */
static int check_paths(struct dec *d, const struct wire_node *nd, uint32_t n)
{
	struct id_index ix;
	uint32_t *depth;
	uint32_t i;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = index_build(d, &ix, n, nd, sizeof(*nd), "nodes")) != 0)
		return rc;
	depth = malloc((size_t)n * sizeof(*depth));
	if (!depth) {
		free(ix.v);
		return dec_fail(d, FP_ENOMEM, "nodes", NO_ROW, NO_COL,
				"no memory for path depths");
	}
	rc = 0;
	for (i = 0; i < n; i++) {
		long p;

		if (nd[i].parent == 0) {
			depth[i] = 1;
		} else {
			p = index_find(&ix, nd[i].parent);
			if (p < 0 || (uint32_t)p >= i) {
				rc = dec_fail(d, FP_ERANGE, "nodes", (long)i, 1,
					      "parent %" PRIu32
					      " is not an earlier node",
					      nd[i].parent);
				break;
			}
			depth[i] = depth[p] + 1;
		}
		if (depth[i] > d->lim->max_depth) {
			rc = dec_fail(d, FP_EDEPTH, "nodes", (long)i, NO_COL,
				      "path depth %" PRIu32 " > limit %" PRIu32,
				      depth[i], d->lim->max_depth);
			break;
		}
	}
	free(depth);
	free(ix.v);
	return rc;
}

/* Pass 2: allocates the arena and fills the batch; *out only on success. */
static int build_batch(struct dec *d, const uint32_t n[4],
		       struct wire_batch **out)
{
	const msgpack_object *labels = d->agent[A_LABELS];
	uint32_t nlabels = labels ? labels->via.map.size : 0;
	size_t size = 0, at_batch, at_labels, at_fns, at_fstats, at_edges;
	size_t at_nodes, at_str;
	struct id_index fix;
	struct wire_batch *b;
	char *base;
	int rc;

	/* at_batch is 0: the batch heads its own arena */
	if (!arena_take(&size, 1, sizeof(*b), &at_batch) ||
	    !arena_take(&size, nlabels, sizeof(struct wire_label),
			&at_labels) ||
	    !arena_take(&size, n[0], sizeof(struct wire_fn), &at_fns) ||
	    !arena_take(&size, n[1], sizeof(struct wire_fstat), &at_fstats) ||
	    !arena_take(&size, n[2], sizeof(struct wire_edge), &at_edges) ||
	    !arena_take(&size, n[3], sizeof(struct wire_node), &at_nodes) ||
	    !arena_take(&size, d->str_bytes, 1, &at_str))
		return dec_fail(d, FP_ENOMEM, "message", NO_ROW, NO_COL,
				"batch size overflows");
	base = calloc(1, size);
	if (!base)
		return dec_fail(d, FP_ENOMEM, "message", NO_ROW, NO_COL,
				"no memory for a %zu-byte batch", size);
	b = (struct wire_batch *)(void *)base;
	b->arena = base;
	d->str_next = base + at_str;

	rc = fill_header(d, b);
	if (rc == 0)
		rc = fill_agent(d, &b->agent, (void *)(base + at_labels));
	if (rc != 0)
		goto err_free_arena;

	b->nfns = n[0];
	b->fns = n[0] ? (struct wire_fn *)(void *)(base + at_fns) : NULL;
	if ((rc = fill_fns(d, (struct wire_fn *)(void *)(base + at_fns),
			   n[0])) != 0)
		goto err_free_arena;
	if ((rc = index_build(d, &fix, n[0], base + at_fns,
			      sizeof(struct wire_fn), "fns")) != 0)
		goto err_free_arena;

	b->nfstats = n[1];
	b->fstats = n[1] ? (void *)(base + at_fstats) : NULL;
	b->nedges = n[2];
	b->edges = n[2] ? (void *)(base + at_edges) : NULL;
	b->nnodes = n[3];
	b->nodes = n[3] ? (void *)(base + at_nodes) : NULL;
	rc = fill_fstats(d, &fix, (void *)(base + at_fstats), n[1]);
	if (rc == 0)
		rc = fill_edges(d, &fix, (void *)(base + at_edges), n[2]);
	if (rc == 0)
		rc = fill_nodes(d, &fix, (void *)(base + at_nodes), n[3]);
	free(fix.v);
	if (rc == 0)
		rc = check_paths(d, (void *)(base + at_nodes), n[3]);
	if (rc != 0)
		goto err_free_arena;
	*out = b;
	return 0;

err_free_arena:
	free(base);
	return rc;
}

int wire_decode(const void *buf, size_t len, const struct wire_limits *lim,
		struct wire_batch **out, struct wire_error *err)
{
	struct wire_limits deflim;
	struct wire_error scratch;
	msgpack_unpacked up;
	msgpack_unpack_return ur;
	struct dec d;
	uint32_t n[4];
	size_t off = 0;
	int rc;

	memset(&d, 0, sizeof(d));
	d.err = err ? err : &scratch;
	if (!lim) {
		wire_limits_default(&deflim);
		lim = &deflim;
	}
	d.lim = lim;
	if (!out || (!buf && len))
		return dec_fail(&d, FP_EINVAL, "message", NO_ROW, NO_COL,
				"no buffer or no out pointer");
	if (len > lim->max_msg_bytes)
		return dec_fail(&d, FP_EMSGSIZE, "message", NO_ROW, NO_COL,
				"%zu bytes > limit %zu", len,
				lim->max_msg_bytes);
	rc = wire_prescan(buf, len, WIRE_PRESCAN_MAX_NESTING, d.err);
	if (rc != 0)
		return rc;

	msgpack_unpacked_init(&up);
	ur = msgpack_unpack_next(&up, buf, len, &off);
	if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
		/* the pre-scan accepted it, so only memory can run out */
		rc = ur == MSGPACK_UNPACK_NOMEM_ERROR ? FP_ENOMEM
						      : FP_EMALFORMED;
		dec_fail(&d, rc, "message", NO_ROW, NO_COL,
			 "msgpack-c unpack failed (%d)", (int)ur);
		goto err_free_unpacked;
	}
	if ((rc = find_top_keys(&d, &up.data)) != 0 ||
	    (rc = check_shape(&d, n)) != 0 ||
	    (rc = build_batch(&d, n, out)) != 0)
		goto err_free_unpacked;
	msgpack_unpacked_destroy(&up);
	return 0;

err_free_unpacked:
	msgpack_unpacked_destroy(&up);
	return rc;
}

void wire_batch_destroy(struct wire_batch *b)
{
	/* caller-built batches have no arena and are not ours to free */
	if (b && b->arena)
		free(b->arena);
}
