/*
 * marshal and pstats reader (see marshal_read.h). Type codes and rules from
 * CPython's Python/marshal.c (r_object): FLAG_REF (0x80) appends the object
 * to the reference list (containers before their items, as CPython does)
 * and 'r' refers back to it by index. A reference to a container still being
 * read would make a cycle, which no pstats file holds: refused.
 */
#include "marshal_read.h"
#include "fp/error.h"
#include "fp/hash.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAG_REF 0x80
#define LONG_SHIFT 15 /* marshal's digits of a long: 15 bits each */

struct rd {
	struct cli_mdoc *d;
	size_t pos;
	uint32_t *refs;
	uint32_t nrefs, caprefs;
	uint32_t *stack; /* items of the containers being read */
	uint32_t nstack, capstack;
	struct cli_merror *err;
};

static int fail(struct cli_merror *err, int code, size_t off, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

static int fail(struct cli_merror *err, int code, size_t off, const char *fmt,
		...)
{
	va_list ap;
	int n;

	err->code = code;
	err->off = (uint32_t)off;
	n = snprintf(err->text, sizeof(err->text), "offset %zu: ", off);
	if (n < 0 || (size_t)n >= sizeof(err->text))
		return code;
	va_start(ap, fmt);
	vsnprintf(err->text + n, sizeof(err->text) - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

const char *cli_mtype_name(int type)
{
	static const char *const names[] = {
		[CLI_M_NONE] = "None",	 [CLI_M_BOOL] = "bool",
		[CLI_M_INT] = "int",	 [CLI_M_FLOAT] = "float",
		[CLI_M_STR] = "str",	 [CLI_M_BYTES] = "bytes",
		[CLI_M_TUPLE] = "tuple", [CLI_M_DICT] = "dict",
	};
	if (type < 0 || (size_t)type >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[type];
}

/* Grows *p (elements of sz bytes) to hold at least need; 0 or FP_ENOMEM. */
static int grow(void **p, uint32_t *cap, uint32_t need, size_t sz)
{
	uint32_t c = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c = c > UINT32_MAX / 2 ? UINT32_MAX : c * 2;
	q = realloc(*p, (size_t)c * sz);
	if (q == NULL)
		return FP_ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int oom(struct rd *r)
{
	return fail(r->err, FP_ENOMEM, r->pos, "out of memory");
}

static size_t left(const struct rd *r)
{
	return r->d->len - r->pos;
}

static uint32_t le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static uint64_t le64(const unsigned char *b)
{
	return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32;
}

/* The n fixed bytes of the object at start are all there. */
static int need(struct rd *r, size_t n, size_t start, const char *what)
{
	if (left(r) >= n)
		return 0;
	return fail(r->err, FP_ETRUNCATED, start,
		    "%s cut short: needs %zu more bytes, %zu left", what, n,
		    left(r));
}

/* A new value of type at offset off; its index in *out. */
static int new_val(struct rd *r, int type, size_t off, uint32_t *out)
{
	struct cli_mdoc *d = r->d;
	struct cli_mval *v;

	if (grow((void **)&d->v, &d->capv, d->nv + 1, sizeof(*d->v)) != 0)
		return oom(r);
	v = &d->v[d->nv];
	memset(v, 0, sizeof(*v));
	v->type = (uint8_t)type;
	v->off = (uint32_t)off;
	v->done = 1;
	*out = d->nv++;
	return 0;
}

/* FLAG_REF: the value becomes reference number nrefs. */
static int add_ref(struct rd *r, int flag, uint32_t ix)
{
	if (!flag)
		return 0;
	if (grow((void **)&r->refs, &r->caprefs, r->nrefs + 1,
		 sizeof(*r->refs)) != 0)
		return oom(r);
	r->refs[r->nrefs++] = ix;
	return 0;
}

static int push(struct rd *r, uint32_t ix)
{
	if (grow((void **)&r->stack, &r->capstack, r->nstack + 1,
		 sizeof(*r->stack)) != 0)
		return oom(r);
	r->stack[r->nstack++] = ix;
	return 0;
}

/* Moves the items pushed since base to kids[] as the container's items. */
static int close_container(struct rd *r, uint32_t ix, uint32_t base)
{
	struct cli_mdoc *d = r->d;
	uint32_t n = r->nstack - base;

	if (grow((void **)&d->kids, &d->capkids, d->nkids + n,
		 sizeof(*d->kids)) != 0)
		return oom(r);
	if (n > 0) /* empty: kids and stack may still be NULL */
		memcpy(d->kids + d->nkids, r->stack + base,
		       (size_t)n * sizeof(uint32_t));
	d->v[ix].u.at = d->nkids;
	d->nkids += n;
	r->nstack = base;
	d->v[ix].done = 1;
	return 0;
}

static int scalar(struct rd *r, int type, int64_t i, double f, size_t start,
		  int flag, uint32_t *out)
{
	int rc = new_val(r, type, start, out);

	if (rc != 0)
		return rc;
	if (type == CLI_M_FLOAT)
		r->d->v[*out].u.f = f;
	else
		r->d->v[*out].u.i = i;
	return add_ref(r, flag, *out);
}

/* 'l': a signed count of 15-bit digits, least significant first. */
static int read_long(struct rd *r, size_t start, int flag, uint32_t *out)
{
	const unsigned char *b;
	uint64_t mag = 0;
	int64_t n, ndig;
	int rc;

	if ((rc = need(r, 4, start, "long")) != 0)
		return rc;
	n = (int32_t)le32(r->d->buf + r->pos);
	r->pos += 4;
	ndig = n < 0 ? -n : n;
	if ((uint64_t)ndig * 2 > left(r))
		return fail(r->err, FP_ECOUNT, start,
			    "long declares %lld digits (%lld bytes) but only "
			    "%zu bytes are left",
			    (long long)ndig, (long long)ndig * 2, left(r));
	if (ndig > 5)
		return fail(r->err, FP_ERANGE, start,
			    "long of %lld 15-bit digits does not fit in 64 "
			    "bits",
			    (long long)ndig);
	b = r->d->buf + r->pos;
	for (int64_t k = 0; k < ndig; k++) {
		unsigned dig = (unsigned)b[2 * k] | (unsigned)b[2 * k + 1] << 8;
		if (dig >> LONG_SHIFT)
			return fail(r->err, FP_EMALFORMED,
				    r->pos + (size_t)(2 * k),
				    "long digit %u is out of range (>= 32768)",
				    dig);
		if (k == ndig - 1 && dig == 0)
			return fail(r->err, FP_EMALFORMED, start,
				    "long is not normalized (top digit 0)");
		if (k == 4 && dig >= 16)
			return fail(r->err, FP_ERANGE, start,
				    "long does not fit in 64 bits");
		mag |= (uint64_t)dig << (LONG_SHIFT * k);
	}
	r->pos += (size_t)ndig * 2;
	if (n >= 0 && mag > (uint64_t)INT64_MAX)
		return fail(r->err, FP_ERANGE, start,
			    "long does not fit in 64 bits");
	if (n < 0 && mag > (uint64_t)INT64_MAX + 1)
		return fail(r->err, FP_ERANGE, start,
			    "long does not fit in 64 bits");
	return scalar(r, CLI_M_INT,
		      n >= 0			  ? (int64_t)mag
		      : mag > (uint64_t)INT64_MAX ? INT64_MIN
						  : -(int64_t)mag,
		      0, start, flag, out);
}

/* Offset of the first byte that breaks strict UTF-8 (no overlong forms,
 * no surrogates, at most U+10FFFF), or n if none does. */
static size_t utf8_bad(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], len, cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return i;
		if (n - i < len)
			return i;
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return i;
		i += len;
	}
	return n;
}

/* 's' bytes; 't' 'u' UTF-8; 'a' 'A' ASCII; 'z' 'Z' ASCII, 1-byte size. */
static int read_str(struct rd *r, unsigned type, size_t start, int flag,
		    uint32_t *out)
{
	const int shrt = type == 'z' || type == 'Z';
	const int ascii = shrt || type == 'a' || type == 'A';
	const char *what = type == 's' ? "bytes" : "str";
	const unsigned char *s;
	int64_t n;
	size_t bad;
	int rc;

	if ((rc = need(r, shrt ? 1 : 4, start, what)) != 0)
		return rc;
	n = shrt ? r->d->buf[r->pos] : (int32_t)le32(r->d->buf + r->pos);
	r->pos += shrt ? 1 : 4;
	if (n < 0)
		return fail(r->err, FP_ERANGE, start,
			    "%s declares a negative size (%lld)", what,
			    (long long)n);
	if ((uint64_t)n > left(r))
		return fail(r->err, FP_ECOUNT, start,
			    "%s declares %lld bytes but only %zu are left",
			    what, (long long)n, left(r));
	s = r->d->buf + r->pos;
	if (ascii) {
		for (bad = 0; bad < (size_t)n && s[bad] < 0x80; bad++)
			;
		if (bad < (size_t)n)
			return fail(r->err, FP_EMALFORMED, r->pos + bad,
				    "byte 0x%02x in an ASCII str", s[bad]);
	} else if (type != 's' && (bad = utf8_bad(s, (size_t)n)) < (size_t)n) {
		return fail(r->err, FP_EMALFORMED, r->pos + bad,
			    "invalid UTF-8 in a str");
	}
	if ((rc = new_val(r, type == 's' ? CLI_M_BYTES : CLI_M_STR, start,
			  out)) != 0)
		return rc;
	r->d->v[*out].n = (uint32_t)n;
	r->d->v[*out].u.at = (uint32_t)r->pos;
	r->pos += (size_t)n;
	return add_ref(r, flag, *out);
}

static int read_obj(struct rd *r, int depth, uint32_t *out);

/* '(' with a 4-byte size, ')' with a 1-byte size. */
static int read_tuple(struct rd *r, unsigned type, int depth, size_t start,
		      int flag, uint32_t *out)
{
	const int shrt = type == ')';
	uint32_t ix, base = r->nstack;
	int64_t n;
	int rc;

	if ((rc = need(r, shrt ? 1 : 4, start, "tuple")) != 0)
		return rc;
	n = shrt ? r->d->buf[r->pos] : (int32_t)le32(r->d->buf + r->pos);
	r->pos += shrt ? 1 : 4;
	if (n < 0)
		return fail(r->err, FP_ERANGE, start,
			    "tuple declares a negative size (%lld)",
			    (long long)n);
	if ((uint64_t)n > left(r))
		return fail(r->err, FP_ECOUNT, start,
			    "tuple declares %lld items but only %zu bytes are "
			    "left",
			    (long long)n, left(r));
	if ((rc = new_val(r, CLI_M_TUPLE, start, &ix)) != 0 ||
	    (rc = add_ref(r, flag, ix)) != 0)
		return rc;
	r->d->v[ix].done = 0;
	r->d->v[ix].n = (uint32_t)n;
	for (int64_t k = 0; k < n; k++) {
		uint32_t item;
		if ((rc = read_obj(r, depth + 1, &item)) != 0 ||
		    (rc = push(r, item)) != 0)
			return rc;
	}
	*out = ix;
	return close_container(r, ix, base);
}

static int is_dict_end(const struct rd *r)
{
	return (r->d->buf[r->pos] & ~FLAG_REF) == '0';
}

/* '{': key, value, key, value … then '0'. */
static int read_dict(struct rd *r, int depth, size_t start, int flag,
		     uint32_t *out)
{
	uint32_t ix, base = r->nstack, pairs = 0;
	int rc;

	if ((rc = new_val(r, CLI_M_DICT, start, &ix)) != 0 ||
	    (rc = add_ref(r, flag, ix)) != 0)
		return rc;
	r->d->v[ix].done = 0;
	for (;;) {
		uint32_t key, val;
		if (left(r) == 0)
			return fail(r->err, FP_ETRUNCATED, start,
				    "dict cut short: end of file before its "
				    "end marker '0'");
		if (is_dict_end(r)) {
			r->pos++;
			break;
		}
		if ((rc = read_obj(r, depth + 1, &key)) != 0)
			return rc;
		if (left(r) > 0 && is_dict_end(r))
			return fail(r->err, FP_EMALFORMED, r->pos,
				    "end of dict where a value was expected");
		if ((rc = read_obj(r, depth + 1, &val)) != 0 ||
		    (rc = push(r, key)) != 0 || (rc = push(r, val)) != 0)
			return rc;
		pairs++;
	}
	r->d->v[ix].n = pairs;
	*out = ix;
	return close_container(r, ix, base);
}

static int read_ref(struct rd *r, size_t start, uint32_t *out)
{
	const struct cli_mval *v;
	int64_t n;
	int rc;

	if ((rc = need(r, 4, start, "reference")) != 0)
		return rc;
	n = (int32_t)le32(r->d->buf + r->pos);
	r->pos += 4;
	if (n < 0 || n >= r->nrefs)
		return fail(r->err, FP_ERANGE, start,
			    "reference to object #%lld, but only %u objects "
			    "were marked for reference",
			    (long long)n, r->nrefs);
	v = &r->d->v[r->refs[n]];
	if (!v->done)
		return fail(r->err, FP_EMALFORMED, start,
			    "reference to object #%lld, a %s still being read "
			    "(a cycle)",
			    (long long)n, cli_mtype_name(v->type));
	*out = r->refs[n];
	return 0;
}

/* What an unsupported type code is, for the message. */
static const char *unsupported_name(unsigned type)
{
	switch (type) {
	case '[':
		return "a list";
	case '<':
		return "a set";
	case '>':
		return "a frozenset";
	case 'c':
		return "a code object";
	case 'x':
	case 'y':
		return "a complex";
	case 'f':
		return "a float in text form (marshal version 0 or 1)";
	case 'S':
		return "StopIteration";
	case '.':
		return "Ellipsis";
	case 'R':
		return "a string reference (Python 2)";
	case ':':
		return "a slice";
	case '?':
		return "an unknown object";
	default:
		return NULL;
	}
}

static int read_obj(struct rd *r, int depth, uint32_t *out)
{
	const size_t start = r->pos;
	const unsigned char *b;
	unsigned code, type;
	int flag, rc;

	if (left(r) == 0)
		return fail(r->err, FP_ETRUNCATED, start,
			    "end of file where an object was expected");
	if (depth > CLI_MREAD_MAX_DEPTH)
		return fail(r->err, FP_EDEPTH, start,
			    "objects nested deeper than %d levels",
			    CLI_MREAD_MAX_DEPTH);
	code = r->d->buf[r->pos++];
	flag = (code & FLAG_REF) != 0;
	type = code & ~(unsigned)FLAG_REF;
	b = r->d->buf + r->pos;
	switch (type) {
	case 'N':
		return scalar(r, CLI_M_NONE, 0, 0, start, flag, out);
	case 'T':
	case 'F':
		return scalar(r, CLI_M_BOOL, type == 'T', 0, start, flag, out);
	case 'i':
		if ((rc = need(r, 4, start, "int")) != 0)
			return rc;
		r->pos += 4;
		return scalar(r, CLI_M_INT, (int32_t)le32(b), 0, start, flag,
			      out);
	case 'I':
		if ((rc = need(r, 8, start, "int64")) != 0)
			return rc;
		r->pos += 8;
		return scalar(r, CLI_M_INT, (int64_t)le64(b), 0, start, flag,
			      out);
	case 'l':
		return read_long(r, start, flag, out);
	case 'g': {
		uint64_t bits;
		double f;
		if ((rc = need(r, 8, start, "float")) != 0)
			return rc;
		bits = le64(b);
		memcpy(&f, &bits, sizeof(f));
		r->pos += 8;
		return scalar(r, CLI_M_FLOAT, 0, f, start, flag, out);
	}
	case 's':
	case 't':
	case 'u':
	case 'a':
	case 'A':
	case 'z':
	case 'Z':
		return read_str(r, type, start, flag, out);
	case '(':
	case ')':
		return read_tuple(r, type, depth, start, flag, out);
	case '{':
		return read_dict(r, depth, start, flag, out);
	case 'r':
		return read_ref(r, start, out);
	case '0':
		return fail(r->err, FP_EMALFORMED, start,
			    "end-of-dict marker '0' outside a dict");
	default:
		if (unsupported_name(type) != NULL)
			return fail(r->err, FP_ETYPE, start,
				    "unsupported type code '%c' (%s)", type,
				    unsupported_name(type));
		return fail(r->err, FP_ETYPE, start, "unknown type code 0x%02x",
			    code);
	}
}

int cli_mread(const void *buf, size_t len, struct cli_mdoc *doc,
	      struct cli_merror *err)
{
	struct cli_mdoc d;
	struct rd r;
	int rc;

	memset(doc, 0, sizeof(*doc));
	if (len > CLI_MREAD_MAX_BYTES)
		return fail(err, FP_ELIMIT, 0,
			    "the input has %zu bytes, more than the limit of "
			    "%zu",
			    len, CLI_MREAD_MAX_BYTES);
	if (len == 0)
		return fail(err, FP_ETRUNCATED, 0, "the input is empty");
	memset(&d, 0, sizeof(d));
	memset(&r, 0, sizeof(r));
	d.buf = buf;
	d.len = len;
	r.d = &d;
	r.err = err;
	rc = read_obj(&r, 1, &d.root);
	if (rc == 0 && r.pos != len)
		rc = fail(err, FP_ETRAILING, r.pos,
			  "%zu bytes after the end of the object", len - r.pos);
	free(r.refs);
	free(r.stack);
	if (rc != 0) {
		cli_mdoc_fini(&d);
		return rc;
	}
	*doc = d;
	return 0;
}

void cli_mdoc_fini(struct cli_mdoc *doc)
{
	free(doc->v);
	free(doc->kids);
	memset(doc, 0, sizeof(*doc));
}

/* ---- pstats layout ---- */

/* A function seen as a key; strings point into the input. */
struct pfn {
	uint32_t file_at, file_len, name_at, name_len;
	int32_t line;
	int has_entry;
	uint32_t seen_by; /* 1 + index of the last callee it was a caller of */
};

struct ps {
	const struct cli_mdoc *d;
	struct cli_merror *err;
	struct wire_limits lim;
	struct pfn *fns;
	uint32_t nfns, capfns;
	uint32_t *slots; /* hash table of 1 + fn index; 0 is empty */
	uint32_t nslots;
	struct wire_fstat *fstats;
	uint32_t nfstats, capfstats;
	struct wire_edge *edges;
	uint32_t nedges, capedges;
	uint64_t total;
};

static const struct cli_mval *kid(const struct cli_mdoc *d,
				  const struct cli_mval *v, uint32_t i)
{
	return &d->v[d->kids[v->u.at + i]];
}

/* "a tuple of 4" or "int" */
static void found(const struct cli_mval *v, char *buf, size_t len)
{
	if (v->type == CLI_M_TUPLE)
		snprintf(buf, len, "a tuple of %u", v->n);
	else
		snprintf(buf, len, "%s", cli_mtype_name(v->type));
}

/* At most 40 bytes of a string, non-printable bytes as '?'. */
static void show(const struct ps *p, uint32_t at, uint32_t len, char *buf,
		 size_t size)
{
	size_t o = 0;

	for (uint32_t i = 0; i < len && o + 4 < size; i++) {
		unsigned char c = p->d->buf[at + i];
		if (i == 40) {
			buf[o++] = '.';
			buf[o++] = '.';
			buf[o++] = '.';
			break;
		}
		buf[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[o] = '\0';
}

/* "('fib.py', 3, 'fib')" */
static void key_text(const struct ps *p, uint32_t fn, char *buf, size_t len)
{
	const struct pfn *f = &p->fns[fn];
	char file[48], name[48];

	show(p, f->file_at, f->file_len, file, sizeof(file));
	show(p, f->name_at, f->name_len, name, sizeof(name));
	snprintf(buf, len, "('%s', %d, '%s')", file, (int)f->line, name);
}

static uint64_t key_hash(const struct ps *p, uint32_t file_at,
			 uint32_t file_len, int32_t line, uint32_t name_at,
			 uint32_t name_len)
{
	uint64_t h = fp_hash64(p->d->buf + file_at, file_len, (uint64_t)line);
	return fp_hash64(p->d->buf + name_at, name_len, h);
}

static int same_key(const struct ps *p, const struct pfn *f, uint32_t file_at,
		    uint32_t file_len, int32_t line, uint32_t name_at,
		    uint32_t name_len)
{
	return f->line == line && f->file_len == file_len &&
	       f->name_len == name_len &&
	       memcmp(p->d->buf + f->file_at, p->d->buf + file_at, file_len) ==
		       0 &&
	       memcmp(p->d->buf + f->name_at, p->d->buf + name_at, name_len) ==
		       0;
}

/* Doubles the hash table (load <= 1/2). */
static int rehash(struct ps *p)
{
	uint32_t n = p->nslots ? p->nslots * 2 : 1024;
	uint32_t *s = calloc(n, sizeof(*s));

	if (s == NULL)
		return FP_ENOMEM;
	for (uint32_t i = 0; i < p->nfns; i++) {
		const struct pfn *f = &p->fns[i];
		uint64_t h = key_hash(p, f->file_at, f->file_len, f->line,
				      f->name_at, f->name_len);
		uint32_t k = (uint32_t)h & (n - 1);
		while (s[k] != 0)
			k = (k + 1) & (n - 1);
		s[k] = i + 1;
	}
	free(p->slots);
	p->slots = s;
	p->nslots = n;
	return 0;
}

/* A str item of a key: text, within the string limit, no NUL. */
static int key_str(struct ps *p, const struct cli_mval *v, const char *what)
{
	char f[32];

	if (v->type != CLI_M_STR) {
		found(v, f, sizeof(f));
		return fail(p->err, FP_ETYPE, v->off,
			    "function key: %s must be a str, found %s", what,
			    f);
	}
	if (v->n > p->lim.max_str)
		return fail(p->err, FP_ESTRLEN, v->off,
			    "function key: %s is %u bytes long, more than %u",
			    what, v->n, p->lim.max_str);
	if (memchr(p->d->buf + v->u.at, '\0', v->n) != NULL)
		return fail(p->err, FP_EINVAL, v->off,
			    "function key: %s holds a NUL byte", what);
	return 0;
}

/* The function a (file, line, name) key names, added when new. */
static int key_fn(struct ps *p, const struct cli_mval *k, uint32_t *out)
{
	const struct cli_mval *file, *line, *name;
	uint64_t h;
	uint32_t slot;
	char f[32];
	int rc;

	if (k->type != CLI_M_TUPLE || k->n != 3) {
		found(k, f, sizeof(f));
		return fail(p->err, FP_ETYPE, k->off,
			    "function key: expected a tuple (file, line, "
			    "name), found %s",
			    f);
	}
	file = kid(p->d, k, 0);
	line = kid(p->d, k, 1);
	name = kid(p->d, k, 2);
	if ((rc = key_str(p, file, "file")) != 0)
		return rc;
	if (line->type != CLI_M_INT) {
		found(line, f, sizeof(f));
		return fail(p->err, FP_ETYPE, line->off,
			    "function key: line must be an int, found %s", f);
	}
	if (line->u.i < 0 || line->u.i > INT32_MAX)
		return fail(p->err, FP_ERANGE, line->off,
			    "function key: line %lld is out of range (0 to "
			    "%d)",
			    (long long)line->u.i, INT32_MAX);
	if ((rc = key_str(p, name, "name")) != 0)
		return rc;
	if (p->nfns >= p->nslots / 2 && (rc = rehash(p)) != 0)
		return fail(p->err, rc, k->off, "out of memory");
	h = key_hash(p, file->u.at, file->n, (int32_t)line->u.i, name->u.at,
		     name->n);
	for (slot = (uint32_t)h & (p->nslots - 1); p->slots[slot] != 0;
	     slot = (slot + 1) & (p->nslots - 1)) {
		uint32_t i = p->slots[slot] - 1;
		if (same_key(p, &p->fns[i], file->u.at, file->n,
			     (int32_t)line->u.i, name->u.at, name->n)) {
			*out = i;
			return 0;
		}
	}
	if (p->nfns >= p->lim.max_fns)
		return fail(p->err, FP_ELIMIT, k->off, "more than %u functions",
			    p->lim.max_fns);
	if (grow((void **)&p->fns, &p->capfns, p->nfns + 1, sizeof(*p->fns)) !=
	    0)
		return fail(p->err, FP_ENOMEM, k->off, "out of memory");
	p->fns[p->nfns] =
		(struct pfn){file->u.at,	 file->n, name->u.at, name->n,
			     (int32_t)line->u.i, 0,	  0};
	p->slots[slot] = p->nfns + 1;
	*out = p->nfns++;
	return 0;
}

/* ctx: "entry of ('a.py', 1, 'f')" or "caller (…) of (…)". */
static int count(struct ps *p, const struct cli_mval *v, const char *ctx,
		 const char *what, uint64_t *out)
{
	char f[32];

	if (v->type != CLI_M_INT) {
		found(v, f, sizeof(f));
		return fail(p->err, FP_ETYPE, v->off,
			    "%s: %s must be an int, found %s", ctx, what, f);
	}
	if (v->u.i < 0)
		return fail(p->err, FP_ERANGE, v->off,
			    "%s: %s is negative (%lld)", ctx, what,
			    (long long)v->u.i);
	*out = (uint64_t)v->u.i;
	return 0;
}

/* Seconds (float or int) to ns. */
static int seconds(struct ps *p, const struct cli_mval *v, const char *ctx,
		   const char *what, uint64_t *out)
{
	double s;
	char f[32];

	if (v->type == CLI_M_FLOAT) {
		s = v->u.f;
	} else if (v->type == CLI_M_INT) {
		s = (double)v->u.i;
	} else {
		found(v, f, sizeof(f));
		return fail(p->err, FP_ETYPE, v->off,
			    "%s: %s must be a number of seconds, found %s", ctx,
			    what, f);
	}
	if (!isfinite(s))
		return fail(p->err, FP_ERANGE, v->off, "%s: %s is not finite",
			    ctx, what);
	if (s < 0)
		return fail(p->err, FP_ERANGE, v->off,
			    "%s: %s is negative (%g s)", ctx, what, s);
	if (s * 1e9 >= 9.2e18)
		return fail(p->err, FP_ERANGE, v->off,
			    "%s: %s is too large (%g s)", ctx, what, s);
	/* Rounded half up: the same double arithmetic as Python's
	 * int(s * 1e9 + 0.5), so tests can predict it exactly. */
	*out = (uint64_t)(s * 1e9 + 0.5);
	return 0;
}

/* The four numbers of an entry or a caller, in the order of names. */
static int numbers(struct ps *p, const struct cli_mval *t, const char *ctx,
		   const char *const names[4], uint64_t v[4])
{
	int rc = 0;

	for (uint32_t i = 0; i < 4 && rc == 0; i++)
		rc = i < 2 ? count(p, kid(p->d, t, i), ctx, names[i], &v[i])
			   : seconds(p, kid(p->d, t, i), ctx, names[i], &v[i]);
	return rc;
}

static int primitive_le(struct ps *p, const struct cli_mval *t, const char *ctx,
			uint64_t cc, uint64_t nc)
{
	if (cc <= nc)
		return 0;
	return fail(p->err, FP_EINVAL, t->off,
		    "%s: cc (primitive calls) %llu exceeds nc (calls) %llu",
		    ctx, (unsigned long long)cc, (unsigned long long)nc);
}

/* callers of fn: {key: (nc, cc, tt, ct)} or {key: nc} (profile). */
static int read_callers(struct ps *p, const struct cli_mval *c, uint32_t fn,
			const char *ectx)
{
	static const char *const names[4] = {"nc", "cc", "tt", "ct"};
	char callee[160], caller[160], ctx[340], f[32];
	int rc;

	if (c->type != CLI_M_DICT) {
		found(c, f, sizeof(f));
		return fail(p->err, FP_ETYPE, c->off,
			    "%s: callers must be a dict, found %s", ectx, f);
	}
	key_text(p, fn, callee, sizeof(callee));
	for (uint32_t i = 0; i < c->n; i++) {
		const struct cli_mval *k = kid(p->d, c, 2 * i),
				      *v = kid(p->d, c, 2 * i + 1);
		uint64_t n[4] = {0};
		uint32_t from;
		if ((rc = key_fn(p, k, &from)) != 0)
			return rc;
		key_text(p, from, caller, sizeof(caller));
		snprintf(ctx, sizeof(ctx), "caller %s of %s", caller, callee);
		if (p->fns[from].seen_by == fn + 1)
			return fail(p->err, FP_EDUPLICATE, k->off,
				    "%s appears twice", ctx);
		p->fns[from].seen_by = fn + 1;
		if (v->type == CLI_M_INT) {
			if ((rc = count(p, v, ctx, "nc", &n[0])) != 0)
				return rc;
			n[1] = n[0];
		} else if (v->type != CLI_M_TUPLE || v->n != 4) {
			found(v, f, sizeof(f));
			return fail(p->err, FP_ETYPE, v->off,
				    "%s: expected a tuple (nc, cc, tt, ct) or "
				    "an int, found %s",
				    ctx, f);
		} else if ((rc = numbers(p, v, ctx, names, n)) != 0 ||
			   (rc = primitive_le(p, v, ctx, n[1], n[0])) != 0) {
			return rc;
		}
		if (p->nedges >= p->lim.max_rows)
			return fail(p->err, FP_ELIMIT, k->off,
				    "more than %u caller edges",
				    p->lim.max_rows);
		if (grow((void **)&p->edges, &p->capedges, p->nedges + 1,
			 sizeof(*p->edges)) != 0)
			return fail(p->err, FP_ENOMEM, k->off, "out of memory");
		p->edges[p->nedges++] = (struct wire_edge){
			from + 1, fn + 1, n[0], n[1], n[2], n[3]};
	}
	return 0;
}

/* One top-level pair: key -> (cc, nc, tt, ct, callers). */
static int read_entry(struct ps *p, const struct cli_mval *k,
		      const struct cli_mval *v)
{
	static const char *const names[4] = {"cc", "nc", "tt", "ct"};
	char key[160], ctx[180], f[32];
	uint64_t n[4];
	uint32_t fn;
	int rc;

	if ((rc = key_fn(p, k, &fn)) != 0)
		return rc;
	key_text(p, fn, key, sizeof(key));
	if (p->fns[fn].has_entry)
		return fail(p->err, FP_EDUPLICATE, k->off,
			    "function %s appears twice", key);
	p->fns[fn].has_entry = 1;
	snprintf(ctx, sizeof(ctx), "entry of %s", key);
	if (v->type != CLI_M_TUPLE || v->n != 5) {
		found(v, f, sizeof(f));
		return fail(p->err, FP_ETYPE, v->off,
			    "%s: expected a tuple (cc, nc, tt, ct, callers), "
			    "found %s",
			    ctx, f);
	}
	if ((rc = numbers(p, v, ctx, names, n)) != 0 ||
	    (rc = primitive_le(p, v, ctx, n[0], n[1])) != 0)
		return rc;
	if (grow((void **)&p->fstats, &p->capfstats, p->nfstats + 1,
		 sizeof(*p->fstats)) != 0)
		return fail(p->err, FP_ENOMEM, k->off, "out of memory");
	p->fstats[p->nfstats++] =
		(struct wire_fstat){fn + 1, n[1], n[0], n[2], n[3]};
	p->total = p->total > UINT64_MAX - n[1] ? UINT64_MAX : p->total + n[1];
	return read_callers(p, kid(p->d, v, 4), fn, ctx);
}

/* The result: wire tables and NUL-terminated copies of the strings. */
static int finish(struct ps *p, struct cli_pstats *out)
{
	size_t bytes = 1, o = 0;
	struct wire_fn *fns;
	char *s;

	for (uint32_t i = 0; i < p->nfns; i++)
		bytes += (size_t)p->fns[i].file_len + p->fns[i].name_len + 2;
	s = malloc(bytes);
	fns = calloc((size_t)p->nfns + 1, sizeof(*fns));
	if (s == NULL || fns == NULL) {
		free(s);
		free(fns);
		return fail(p->err, FP_ENOMEM, 0, "out of memory");
	}
	for (uint32_t i = 0; i < p->nfns; i++) {
		const struct pfn *f = &p->fns[i];
		fns[i].id = i + 1;
		fns[i].line = (uint32_t)f->line;
		fns[i].module = "";
		fns[i].file = s + o;
		memcpy(s + o, p->d->buf + f->file_at, f->file_len);
		o += f->file_len;
		s[o++] = '\0';
		fns[i].name = s + o;
		memcpy(s + o, p->d->buf + f->name_at, f->name_len);
		o += f->name_len;
		s[o++] = '\0';
	}
	out->fns = fns;
	out->nfns = p->nfns;
	out->fstats = p->fstats;
	out->nfstats = p->nfstats;
	out->edges = p->edges;
	out->nedges = p->nedges;
	out->total_calls = p->total;
	out->strings = s;
	p->fstats = NULL;
	p->edges = NULL;
	return 0;
}

int cli_pstats_read(const void *buf, size_t len, struct cli_pstats *out,
		    struct cli_merror *err)
{
	struct cli_mdoc d;
	struct ps p;
	const struct cli_mval *root;
	char f[32];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = cli_mread(buf, len, &d, err)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p.d = &d;
	p.err = err;
	wire_limits_default(&p.lim);
	root = &d.v[d.root];
	if (root->type != CLI_M_DICT) {
		found(root, f, sizeof(f));
		rc = fail(err, FP_ETYPE, root->off,
			  "expected a dict of functions, found %s", f);
	}
	for (uint32_t i = 0; rc == 0 && i < root->n; i++)
		rc = read_entry(&p, kid(&d, root, 2 * i),
				kid(&d, root, 2 * i + 1));
	if (rc == 0)
		rc = finish(&p, out);
	free(p.fns);
	free(p.slots);
	free(p.fstats);
	free(p.edges);
	cli_mdoc_fini(&d);
	return rc;
}

void cli_pstats_fini(struct cli_pstats *p)
{
	free(p->fns);
	free(p->fstats);
	free(p->edges);
	free(p->strings);
	memset(p, 0, sizeof(*p));
}
