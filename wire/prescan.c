/*
 * wire_prescan(): a small msgpack walker that validates structure only, so
 * that msgpack-c never sees a declared count the bytes cannot back. It keeps
 * one counter of values still expected per open container (a fixed array,
 * WIRE_PRESCAN_MAX_NESTING deep) and reads no byte at or past len.
 */
#include "prescan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "fp/error.h"

/* What a type byte introduces. */
enum scan_kind {
	SCAN_FIXED, /* `size` payload bytes follow */
	SCAN_SIZED, /* length inline (`count`) or in `size` bytes, then
		     * `extra` bytes, then the payload */
	SCAN_ARRAY, /* count inline (`count`) or in `size` bytes */
	SCAN_MAP,   /* same, count of key/value pairs */
	SCAN_BAD,   /* 0xc1, never used */
};

struct scan_head {
	enum scan_kind kind;
	unsigned size;
	unsigned extra;
	uint32_t count;
	const char *what;
};

static int scan_fail(struct wire_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int scan_fail(struct wire_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
		va_end(ap);
	}
	return code;
}

static uint64_t read_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static struct scan_head classify(uint8_t b)
{
	struct scan_head h = {SCAN_FIXED, 0, 0, 0, "value"};

	if (b <= 0x7f || b >= 0xe0)
		return h; /* fixint */
	if (b <= 0x8f) {
		h.kind = SCAN_MAP;
		h.count = b & 0x0fu;
		h.what = "map";
		return h;
	}
	if (b <= 0x9f) {
		h.kind = SCAN_ARRAY;
		h.count = b & 0x0fu;
		h.what = "array";
		return h;
	}
	if (b <= 0xbf) {
		h.kind = SCAN_SIZED;
		h.count = b & 0x1fu;
		h.what = "str";
		return h;
	}
	switch (b) {
	case 0xc0: /* nil */
	case 0xc2: /* false */
	case 0xc3: /* true */
		return h;
	case 0xc1:
		h.kind = SCAN_BAD;
		return h;
	case 0xc4:
	case 0xc5:
	case 0xc6:
		h.kind = SCAN_SIZED;
		h.size = 1u << (b - 0xc4);
		h.what = "bin";
		return h;
	case 0xc7:
	case 0xc8:
	case 0xc9:
		h.kind = SCAN_SIZED;
		h.size = 1u << (b - 0xc7);
		h.extra = 1; /* ext type */
		h.what = "ext";
		return h;
	case 0xca:
		h.size = 4;
		return h;
	case 0xcb:
		h.size = 8;
		return h;
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf:
		h.size = 1u << (b - 0xcc);
		return h;
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3:
		h.size = 1u << (b - 0xd0);
		return h;
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		h.size = 1 + (1u << (b - 0xd4)); /* ext type + data */
		h.what = "ext";
		return h;
	case 0xd9:
	case 0xda:
	case 0xdb:
		h.kind = SCAN_SIZED;
		h.size = 1u << (b - 0xd9);
		h.what = "str";
		return h;
	case 0xdc:
	case 0xdd:
		h.kind = SCAN_ARRAY;
		h.size = b == 0xdc ? 2 : 4;
		h.what = "array";
		return h;
	default: /* 0xde, 0xdf */
		h.kind = SCAN_MAP;
		h.size = b == 0xde ? 2 : 4;
		h.what = "map";
		return h;
	}
}

int wire_prescan(const void *buf, size_t len, unsigned max_nesting,
		 struct wire_error *err)
{
	const uint8_t *p = buf;
	uint64_t expect[WIRE_PRESCAN_MAX_NESTING + 1];
	unsigned depth = 0;
	size_t pos = 0;

	if (max_nesting > WIRE_PRESCAN_MAX_NESTING)
		max_nesting = WIRE_PRESCAN_MAX_NESTING;
	if (!p && len)
		return scan_fail(err, FP_EINVAL, "no buffer");
	expect[0] = 1; /* the message itself */
	for (;;) {
		struct scan_head h;
		const char *unit;
		size_t left;
		uint64_t n;

		while (expect[depth] == 0) {
			if (depth == 0)
				goto done;
			depth--;
		}
		if (pos >= len)
			return scan_fail(err, FP_ETRUNCATED,
					 "offset %zu: message ends, %" PRIu64
					 " value(s) missing at nesting %u",
					 pos, expect[depth], depth);
		expect[depth]--;
		h = classify(p[pos]);
		left = len - pos - 1; /* after the type byte */
		if (h.kind == SCAN_BAD)
			return scan_fail(err, FP_EMALFORMED,
					 "offset %zu: reserved type byte 0xc1",
					 pos);
		if (left < (size_t)h.size + h.extra && h.kind != SCAN_FIXED)
			return scan_fail(err, FP_ETRUNCATED,
					 "offset %zu: %s header cut short", pos,
					 h.what);
		switch (h.kind) {
		case SCAN_FIXED:
			if (left < h.size)
				return scan_fail(err, FP_ETRUNCATED,
						 "offset %zu: %s cut short",
						 pos, h.what);
			pos += 1 + (size_t)h.size;
			break;
		case SCAN_SIZED:
			n = h.size ? read_be(p + pos + 1, h.size) : h.count;
			left -= h.size + h.extra;
			if (n > left)
				return scan_fail(err, FP_ECOUNT,
						 "offset %zu: %s of %" PRIu64
						 " bytes, %zu bytes left",
						 pos, h.what, n, left);
			pos += 1 + h.size + h.extra + (size_t)n;
			break;
		default: /* SCAN_ARRAY, SCAN_MAP */
			unit = h.kind == SCAN_MAP ? "entries" : "elements";
			n = h.size ? read_be(p + pos + 1, h.size) : h.count;
			left -= h.size;
			if (depth + 1 > max_nesting)
				return scan_fail(err, FP_EDEPTH,
						 "offset %zu: %s nested deeper "
						 "than %u levels",
						 pos, h.what, max_nesting);
			/* one byte per element at least, two per map entry */
			if ((h.kind == SCAN_MAP ? 2 * n : n) > left)
				return scan_fail(err, FP_ECOUNT,
						 "offset %zu: %s of %" PRIu64
						 " %s, %zu bytes left",
						 pos, h.what, n, unit, left);
			pos += 1 + h.size;
			expect[++depth] = h.kind == SCAN_MAP ? 2 * n : n;
			break;
		}
	}
done:
	if (pos != len)
		return scan_fail(err, FP_ETRAILING,
				 "offset %zu: %zu trailing bytes after the "
				 "message",
				 pos, len - pos);
	return 0;
}
