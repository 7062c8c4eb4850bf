/*
 * A growable text buffer for COPY … FROM STDIN payloads in PostgreSQL's text
 * format. Appends never fail visibly: on allocation failure the buffer
 * remembers it (oom) and the caller checks once before sending.
 */
#ifndef STORAGE_COPYBUF_H
#define STORAGE_COPYBUF_H

#include <stddef.h>
#include <stdint.h>

struct copybuf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
};

void copybuf_init(struct copybuf *b);
void copybuf_fini(struct copybuf *b);
void copybuf_reset(struct copybuf *b);
void copybuf_raw(struct copybuf *b, const char *s, size_t n);
/* A text column: escapes \ TAB LF CR, replaces invalid UTF-8 with '?'. */
void copybuf_text(struct copybuf *b, const char *s);
void copybuf_i64(struct copybuf *b, int64_t v);
void copybuf_u64(struct copybuf *b, uint64_t v);
void copybuf_null(struct copybuf *b);
/* A bytea column in hex form (\\x…). */
void copybuf_bytea(struct copybuf *b, const uint8_t *p, size_t n);
void copybuf_tab(struct copybuf *b);
void copybuf_eol(struct copybuf *b);

/*
 * COPY binary format ("Binary Format"): the header, then per row the field
 * count and each field as a length and its network-order bytes, then the
 * trailer. Only bigint and timestamptz fields: what the fact tables hold.
 * PostgreSQL parses no text for them (measured: see bench/ingest).
 */
void copybuf_bin_header(struct copybuf *b);
void copybuf_bin_row(struct copybuf *b, int nfields);
void copybuf_bin_i64(struct copybuf *b, int64_t v);
/* Epoch seconds as timestamptz (microseconds since 2000-01-01 UTC). */
void copybuf_bin_timestamptz(struct copybuf *b, int64_t epoch_s);
void copybuf_bin_trailer(struct copybuf *b);

#endif
