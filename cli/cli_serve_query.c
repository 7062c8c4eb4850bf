/*
 * Query-string decoding for the web API (see cli_serve_query.h). Decoding
 * only shrinks text, so each name or value is decoded into a buffer of its
 * encoded length plus one. Every byte is checked before it is used.
 */
#include "cli_serve_query.h"
#include "fp/error.h"

#include <stdlib.h>
#include <string.h>

int cli_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i];
		size_t more;
		unsigned min;
		unsigned long cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			min = 0x80;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			min = 0x800;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			min = 0x10000;
			cp = c & 0x07;
		} else {
			return 0; /* continuation byte, overlong lead, >
				     U+10FFFF */
		}
		if (len - i - 1 < more)
			return 0;
		for (size_t k = 1; k <= more; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0; /* overlong, out of range, surrogate */
		i += more + 1;
	}
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int bad(struct cli_error *e, const char *msg, const char *hint)
{
	cli_error_set(e, "%s", msg);
	cli_error_hint(e, "%s", hint);
	return FP_EINVAL;
}

/*
 * Decodes s[0..len) into a new string *out. Returns 0, FP_ENOMEM, or
 * FP_EINVAL with e filled.
 */
static int decode(const char *s, size_t len, char **out, struct cli_error *e)
{
	char *d = malloc(len + 1);
	size_t o = 0;

	if (d == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int hi = -1, lo = -1;

		if (s[i] == '+') {
			d[o++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			d[o++] = s[i];
			continue;
		}
		if (len - i < 3 || (hi = hexval(s[i + 1])) < 0 ||
		    (lo = hexval(s[i + 2])) < 0) {
			free(d);
			return bad(e, "invalid percent-escape in the query",
				   "escape '%' as %25; an escape is '%' and "
				   "two hex digits");
		}
		d[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	d[o] = '\0';
	if (!cli_utf8_valid(d, o)) {
		free(d);
		return bad(e, "the query is not valid UTF-8 text",
			   "send names and values as UTF-8, percent-encoded "
			   "(no NUL bytes)");
	}
	*out = d;
	return 0;
}

void cli_query_fini(struct cli_query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->p[i].name);
		free(q->p[i].value);
	}
	free(q->p);
	q->p = NULL;
	q->n = 0;
}

int cli_query_parse(const char *qs, struct cli_query *q, struct cli_error *e)
{
	struct cli_query t = {NULL, 0};
	size_t len = qs != NULL ? strlen(qs) : 0, pairs = 1;
	const char *p, *end;
	int rc;

	if (len > CLI_QUERY_MAX_LEN) {
		cli_error_set(e,
			      "query string too long (%zu bytes; at most %d)",
			      len, CLI_QUERY_MAX_LEN);
		cli_error_hint(e, "use fewer or shorter parameters");
		return FP_EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		pairs += qs[i] == '&';
	if (pairs > CLI_QUERY_MAX_PARAMS) {
		cli_error_set(e, "too many query parameters (at most %d)",
			      CLI_QUERY_MAX_PARAMS);
		cli_error_hint(e, "use fewer parameters");
		return FP_EINVAL;
	}
	t.p = calloc(pairs, sizeof(*t.p));
	if (t.p == NULL)
		return FP_ENOMEM;
	for (p = len > 0 ? qs : NULL; p != NULL && *p != '\0'; p = end) {
		const char *amp = strchr(p, '&'), *eq;
		struct cli_query_param *x;

		end = amp != NULL ? amp + 1 : p + strlen(p);
		if (amp == NULL)
			amp = end;
		if (amp == p)
			continue; /* "&&" */
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == p) {
			rc = bad(e, "a query parameter has no name",
				 "write name=value pairs joined by '&'");
			goto err_free;
		}
		x = &t.p[t.n++];
		rc = decode(p, (size_t)((eq != NULL ? eq : amp) - p), &x->name,
			    e);
		if (rc == 0)
			rc = decode(eq != NULL ? eq + 1 : amp,
				    eq != NULL ? (size_t)(amp - eq - 1) : 0,
				    &x->value, e);
		if (rc != 0)
			goto err_free;
		x->has_value = eq != NULL;
		if (x->name[0] == '\0') {
			rc = bad(e, "a query parameter has no name",
				 "write name=value pairs joined by '&'");
			goto err_free;
		}
	}
	*q = t;
	return 0;

err_free:
	cli_query_fini(&t);
	return rc;
}
