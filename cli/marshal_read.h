/*
 * A strict, bounded reader of Python's marshal format (versions 2 to 4) and
 * of the pstats layout that cProfile, profile and pstats dump in it. Input
 * is hostile: every declared length is checked against the bytes left, the
 * nesting depth and the input size are capped, and a failure names the
 * offset and what was wrong. No global state; the caller owns the results.
 */
#ifndef CLI_MARSHAL_READ_H
#define CLI_MARSHAL_READ_H

#include "wire/batch.h"

#include <stddef.h>
#include <stdint.h>

/* Largest input read (a pstats file of 100k functions is about 30 MiB). */
#define CLI_MREAD_MAX_BYTES ((size_t)64 << 20)
/* Deepest nesting of containers (a pstats file needs 4). */
#define CLI_MREAD_MAX_DEPTH 16

/* What a marshal value is; only what a pstats file can hold, and a few
 * constants so the layout check can say what it found instead. */
enum cli_mtype {
	CLI_M_NONE,
	CLI_M_BOOL,
	CLI_M_INT,
	CLI_M_FLOAT,
	CLI_M_STR,   /* text, valid UTF-8 */
	CLI_M_BYTES, /* 's': bytes */
	CLI_M_TUPLE,
	CLI_M_DICT,
};

struct cli_mval {
	uint32_t off; /* offset of the type byte in the input */
	uint32_t n;   /* str/bytes: length; tuple: items; dict: pairs */
	union {
		int64_t i;   /* int, bool */
		double f;    /* float */
		uint32_t at; /* str/bytes: offset of the first byte;
				tuple/dict: index of the first kid */
	} u;
	uint8_t type; /* enum cli_mtype */
	uint8_t done; /* container fully read (refs to it are allowed) */
};

/*
 * A parsed input: values in v[], containers' items in kids[] (a tuple's n
 * items, a dict's n keys and values interleaved). A value shared through a
 * marshal reference appears once in v[] and several times in kids[]; there
 * are no cycles. Points into the input, which must outlive the doc.
 */
struct cli_mdoc {
	const unsigned char *buf;
	size_t len;
	struct cli_mval *v;
	uint32_t nv, capv;
	uint32_t *kids;
	uint32_t nkids, capkids;
	uint32_t root;
};

/* A failure: code is the FP_E* also returned; text names offset and why. */
struct cli_merror {
	int code;
	uint32_t off;
	char text[400]; /* "offset 17: tuple declares 9 items but only 3 …" */
};

/*
 * Parse exactly one marshal object filling buf[0..len). On success returns 0
 * and fills *doc (release with cli_mdoc_fini). On failure returns
 * FP_ELIMIT (input too large), FP_ETRUNCATED, FP_ECOUNT (a length exceeds
 * the bytes left), FP_ETYPE (unknown or unsupported type code), FP_EDEPTH,
 * FP_ERANGE (bad reference, integer beyond 64 bits, negative size),
 * FP_EMALFORMED (bad UTF-8 or long digits, misplaced end of dict),
 * FP_ETRAILING or FP_ENOMEM, with err filled; *doc is then left zeroed.
 */
int cli_mread(const void *buf, size_t len, struct cli_mdoc *doc,
	      struct cli_merror *err);
void cli_mdoc_fini(struct cli_mdoc *doc);

/* "int", "tuple", "dict" … for messages. */
const char *cli_mtype_name(int type);

/* A pstats profile as one batch's tables (ids 1..nfns; module ""). */
struct cli_pstats {
	struct wire_fn *fns;
	uint32_t nfns;
	struct wire_fstat *fstats;
	uint32_t nfstats;
	struct wire_edge *edges;
	uint32_t nedges;
	uint64_t total_calls; /* sum of the entries' nc */
	char *strings;	      /* NUL-terminated names and files, owned */
};

/*
 * Read a pstats file: {(file, line, name): (cc, nc, tt, ct, callers)} with
 * callers {(file, line, name): (nc, cc, tt, ct)} (cProfile) or an int
 * call count (the profile module: pcalls = ncalls, no times). Every entry
 * becomes an fstat (ncalls = nc, pcalls = cc, times in ns), every caller an
 * edge. Strings must fit struct wire_limits' defaults and hold no NUL;
 * counts must be >= 0 with cc <= nc; times finite, >= 0, below 2^63 ns.
 * Returns 0 and fills *out (release with cli_pstats_fini), or the errors of
 * cli_mread plus FP_ETYPE (wrong layout), FP_ERANGE, FP_EINVAL (cc > nc, NUL
 * in a string), FP_ESTRLEN, FP_EDUPLICATE, FP_ELIMIT, with err filled.
 */
int cli_pstats_read(const void *buf, size_t len, struct cli_pstats *out,
		    struct cli_merror *err);
void cli_pstats_fini(struct cli_pstats *p);

#endif
