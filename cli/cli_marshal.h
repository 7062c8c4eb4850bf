/*
 * Python's marshal format (versions 2 to 4 read it), written by hand for
 * `export --format pstats`: only what a pstats file holds — dicts, tuples,
 * ints of any size, binary floats and str. A growable buffer; an allocation
 * failure is remembered and reported once by cli_marshal_finish().
 */
#ifndef CLI_CLI_MARSHAL_H
#define CLI_CLI_MARSHAL_H

#include <stddef.h>
#include <stdint.h>

struct cli_marshal {
	unsigned char *buf;
	size_t len, cap;
	int oom;
};

void cli_marshal_init(struct cli_marshal *m);
void cli_marshal_fini(struct cli_marshal *m);

/* '{', then key and value objects in turn, then cli_marshal_dict_end. */
void cli_marshal_dict_begin(struct cli_marshal *m);
void cli_marshal_dict_end(struct cli_marshal *m);
/* A tuple of n objects; the n objects follow. */
void cli_marshal_tuple(struct cli_marshal *m, uint32_t n);
void cli_marshal_int(struct cli_marshal *m, int64_t v);
/* An unsigned count: a Python int of any size. */
void cli_marshal_uint(struct cli_marshal *m, uint64_t v);
void cli_marshal_float(struct cli_marshal *m, double v);
/* A str; bytes that are not UTF-8 become '?'. */
void cli_marshal_str(struct cli_marshal *m, const char *s);

/* 0, or FP_ENOMEM if any append failed (the buffer is then incomplete). */
int cli_marshal_finish(const struct cli_marshal *m);

#endif
