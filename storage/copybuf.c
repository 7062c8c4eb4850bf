/*
 * COPY text-format encoding. The escaping rules are PostgreSQL's (COPY,
 * "Text Format"): backslash, tab, newline and carriage return are escaped;
 * NUL never reaches here (the wire decoder rejects it).
 */
#include "copybuf.h"

#include <stdlib.h>
#include <string.h>

void copybuf_init(struct copybuf *b)
{
	memset(b, 0, sizeof(*b));
}

void copybuf_fini(struct copybuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void copybuf_reset(struct copybuf *b)
{
	b->len = 0;
	b->oom = 0;
}

static int reserve(struct copybuf *b, size_t extra)
{
	size_t cap;
	char *p;
	if (b->oom)
		return -1;
	if (b->len + extra <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void copybuf_raw(struct copybuf *b, const char *s, size_t n)
{
	if (reserve(b, n) != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Length of a valid UTF-8 sequence at s (at most left bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void copybuf_text(struct copybuf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t left = strlen(s);
	while (left > 0) {
		size_t n = utf8_len(u, left);
		if (n == 0) {
			copybuf_raw(b, "?", 1);
			n = 1;
		} else if (*u == '\\') {
			copybuf_raw(b, "\\\\", 2);
		} else if (*u == '\t') {
			copybuf_raw(b, "\\t", 2);
		} else if (*u == '\n') {
			copybuf_raw(b, "\\n", 2);
		} else if (*u == '\r') {
			copybuf_raw(b, "\\r", 2);
		} else {
			copybuf_raw(b, (const char *)u, n);
		}
		u += n;
		left -= n;
	}
}

void copybuf_u64(struct copybuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	copybuf_raw(b, tmp + i, sizeof(tmp) - i);
}

void copybuf_i64(struct copybuf *b, int64_t v)
{
	if (v < 0) {
		copybuf_raw(b, "-", 1);
		/* -(v + 1) + 1: INT64_MIN has no positive twin. */
		copybuf_u64(b, (uint64_t)(-(v + 1)) + 1);
	} else {
		copybuf_u64(b, (uint64_t)v);
	}
}

static void put_be(struct copybuf *b, uint64_t v, int bytes)
{
	unsigned char tmp[8];
	for (int i = bytes - 1; i >= 0; i--) {
		tmp[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	copybuf_raw(b, (const char *)tmp, (size_t)bytes);
}

void copybuf_bin_header(struct copybuf *b)
{
	/* signature, flags (no OIDs), header extension length */
	copybuf_raw(b, "PGCOPY\n\377\r\n\0", 11);
	put_be(b, 0, 4);
	put_be(b, 0, 4);
}

void copybuf_bin_row(struct copybuf *b, int nfields)
{
	put_be(b, (uint64_t)nfields, 2);
}

void copybuf_bin_i64(struct copybuf *b, int64_t v)
{
	put_be(b, 8, 4);
	put_be(b, (uint64_t)v, 8);
}

void copybuf_bin_timestamptz(struct copybuf *b, int64_t epoch_s)
{
	copybuf_bin_i64(b, (epoch_s - INT64_C(946684800)) * 1000000);
}

void copybuf_bin_trailer(struct copybuf *b)
{
	put_be(b, 0xffff, 2);
}

void copybuf_null(struct copybuf *b)
{
	copybuf_raw(b, "\\N", 2);
}

void copybuf_bytea(struct copybuf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	copybuf_raw(b, "\\\\x", 3);
	if (reserve(b, 2 * n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		b->p[b->len++] = hex[p[i] >> 4];
		b->p[b->len++] = hex[p[i] & 15];
	}
}

void copybuf_tab(struct copybuf *b)
{
	copybuf_raw(b, "\t", 1);
}

void copybuf_eol(struct copybuf *b)
{
	copybuf_raw(b, "\n", 1);
}
