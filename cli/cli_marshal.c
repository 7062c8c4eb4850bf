/*
 * marshal writer (see cli_marshal.h). Type codes from CPython's
 * Python/marshal.c: '{' dict ended by '0', '(' tuple with a 32-bit count,
 * 'i' 32-bit int, 'l' long as 15-bit digits, 'g' IEEE double, 'u' UTF-8 str.
 * Everything little-endian; no references (FLAG_REF) are written.
 */
#include "cli_marshal.h"
#include "fp/error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void cli_marshal_init(struct cli_marshal *m)
{
	memset(m, 0, sizeof(*m));
}

void cli_marshal_fini(struct cli_marshal *m)
{
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

static void put(struct cli_marshal *m, const void *p, size_t n)
{
	if (m->oom)
		return;
	if (m->cap - m->len < n) {
		size_t cap = m->cap ? m->cap : 4096;
		unsigned char *b;
		while (cap - m->len < n)
			cap *= 2;
		b = realloc(m->buf, cap);
		if (b == NULL) {
			m->oom = 1;
			return;
		}
		m->buf = b;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
}

static void put_u8(struct cli_marshal *m, unsigned char c)
{
	put(m, &c, 1);
}

static void put_u32(struct cli_marshal *m, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
			      (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};
	put(m, b, 4);
}

void cli_marshal_dict_begin(struct cli_marshal *m)
{
	put_u8(m, '{');
}

void cli_marshal_dict_end(struct cli_marshal *m)
{
	put_u8(m, '0');
}

void cli_marshal_tuple(struct cli_marshal *m, uint32_t n)
{
	put_u8(m, '(');
	put_u32(m, n);
}

/* 'l': digit count (negative for a negative value), 15-bit digits. */
static void put_long(struct cli_marshal *m, uint64_t mag, int neg)
{
	unsigned char d[10][2];
	uint32_t n = 0;

	while (mag > 0) {
		d[n][0] = (unsigned char)(mag & 0xff);
		d[n][1] = (unsigned char)((mag >> 8) & 0x7f);
		mag >>= 15;
		n++;
	}
	put_u8(m, 'l');
	put_u32(m, neg ? (uint32_t)0 - n : n);
	for (uint32_t i = 0; i < n; i++)
		put(m, d[i], 2);
}

void cli_marshal_uint(struct cli_marshal *m, uint64_t v)
{
	if (v <= INT32_MAX) {
		put_u8(m, 'i');
		put_u32(m, (uint32_t)v);
	} else {
		put_long(m, v, 0);
	}
}

void cli_marshal_int(struct cli_marshal *m, int64_t v)
{
	if (v >= INT32_MIN && v <= INT32_MAX) {
		put_u8(m, 'i');
		put_u32(m, (uint32_t)(int32_t)v);
	} else if (v < 0) {
		put_long(m, (uint64_t)0 - (uint64_t)v, 1);
	} else {
		put_long(m, (uint64_t)v, 0);
	}
}

void cli_marshal_float(struct cli_marshal *m, double v)
{
	uint64_t bits;
	unsigned char b[8];

	memcpy(&bits, &v, sizeof(bits));
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(bits >> (8 * i));
	put_u8(m, 'g');
	put(m, b, 8);
}

void cli_marshal_str(struct cli_marshal *m, const char *s)
{
	/* jansson accepts exactly valid UTF-8 without NUL. */
	json_t *valid = json_string(s);
	size_t len = strlen(s);

	json_decref(valid);
	put_u8(m, 'u');
	put_u32(m, (uint32_t)len);
	if (valid != NULL) {
		put(m, s, len);
		return;
	}
	for (size_t i = 0; i < len; i++)
		put_u8(m,
		       (unsigned char)s[i] >= 0x80 ? '?' : (unsigned char)s[i]);
}

int cli_marshal_finish(const struct cli_marshal *m)
{
	return m->oom ? FP_ENOMEM : 0;
}
