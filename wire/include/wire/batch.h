/*
 * Wire format v1: one batch of profile deltas per message, msgpack-encoded
 * (see DESIGN.md, "Wire format v1"). The encoder is used by agents and
 * importers, the strict decoder by the collector. The decoder treats its input
 * as hostile: every declared count and length is checked against the bytes
 * left and against struct wire_limits before anything is allocated.
 *
 * Map keys of a batch: v, agent{id,host,service,pid,start_ns,lang,labels},
 * seq, t0, t1, clock ("wall"|"cpu"), fns [[id,name,file,line,module]],
 * fstats [[fn,ncalls,pcalls,tottime_ns,cumtime_ns]],
 * edges [[caller,callee,ncalls,pcalls,tottime_ns,cumtime_ns]],
 * nodes [[node,parent,fn,ncalls,self_ns,total_ns]], dropped, token.
 * Required: v, agent{id,host,service}, seq, t0, t1, clock, fns, fstats.
 * Unknown keys are ignored (forward compatibility within v1); a known key
 * given twice is an error. Several fstats (or edges) rows for the same fn (or
 * caller, callee) are accepted and add up.
 */
#ifndef WIRE_BATCH_H
#define WIRE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 1
#define WIRE_AGENT_ID_LEN 16
/*
 * Largest seq, dropped, counter or time (uint64_t fields) the decoder
 * accepts: they are stored in PostgreSQL bigint, which has no unsigned type.
 */
#define WIRE_MAX_U64 ((uint64_t)INT64_MAX)

enum wire_clock {
	WIRE_CLOCK_WALL = 0,
	WIRE_CLOCK_CPU = 1,
};

/* "wall"/"cpu"; NULL for an unknown value. */
const char *wire_clock_name(int clock);
/* Returns WIRE_CLOCK_* or -1. */
int wire_clock_parse(const char *s, size_t len);

struct wire_label {
	const char *key;
	const char *value;
};

struct wire_agent {
	uint8_t id[WIRE_AGENT_ID_LEN]; /* random per process (and per fork) */
	const char *host;
	const char *service;
	const char *lang; /* "c", "python", "pstats" … */
	uint32_t pid;	  /* <= INT32_MAX (PostgreSQL integer) */
	int64_t start_ns; /* process start, ns since the Unix epoch */
	const struct wire_label *labels;
	uint32_t nlabels;
};

/* A function as the agent names it; id is local to the batch. */
struct wire_fn {
	uint32_t id;
	const char *name;
	const char *file;   /* "" when unknown */
	uint32_t line;	    /* 0 when unknown */
	const char *module; /* shared object or Python module; "" if unknown */
};

/* Per function, cProfile semantics (pcalls <= ncalls). */
struct wire_fstat {
	uint32_t fn;
	uint64_t ncalls;
	uint64_t pcalls;
	uint64_t tottime_ns;
	uint64_t cumtime_ns;
};

/* Per caller -> callee edge, cProfile semantics. */
struct wire_edge {
	uint32_t caller;
	uint32_t callee;
	uint64_t ncalls;
	uint64_t pcalls;
	uint64_t tottime_ns;
	uint64_t cumtime_ns;
};

/*
 * One call path: node ids are >= 1 and unique in the batch; parent 0 is the
 * root; a parent always appears before its children (so paths are acyclic
 * and can be interned in one pass).
 */
struct wire_node {
	uint32_t node;
	uint32_t parent;
	uint32_t fn;
	uint64_t ncalls;
	uint64_t self_ns;
	uint64_t total_ns;
};

struct wire_batch {
	uint32_t version; /* decoded; the encoder always writes WIRE_VERSION */
	struct wire_agent agent;
	uint64_t seq; /* >= 1, per agent, the same on every retry */
	int64_t t0;   /* window start, ns since the Unix epoch */
	int64_t t1;   /* window end, t0 <= t1 */
	int clock;    /* enum wire_clock */
	const struct wire_fn *fns;
	uint32_t nfns;
	const struct wire_fstat *fstats;
	uint32_t nfstats;
	const struct wire_edge *edges;
	uint32_t nedges;
	const struct wire_node *nodes;
	uint32_t nnodes;
	uint64_t dropped;  /* events and batches lost since the last batch */
	const char *token; /* NULL when absent */

	void *arena; /* decoder-owned memory; NULL for caller-built batches */
};

struct wire_limits {
	size_t max_msg_bytes; /* whole message */
	uint32_t max_fns;
	uint32_t max_rows; /* each of fstats, edges, nodes */
	uint32_t max_labels;
	uint32_t max_str;   /* bytes in any one string */
	uint32_t max_depth; /* call path depth (nodes) */
};

/* 16 MiB, 1M fns, 1M rows per table, 64 labels, 4 KiB strings, depth 1024. */
void wire_limits_default(struct wire_limits *lim);

/* Detail of a decode failure: code is the FP_E* also returned. */
struct wire_error {
	int code;
	char detail[128]; /* "fstats[3][0]: fn 99 not in fns" */
};

/*
 * Encode b as a v1 message. On success *out is a malloc'd buffer the caller
 * frees with free() and *len its size; on failure nothing is written.
 * The encoder does not check semantics (ids, limits, pcalls): it encodes what
 * it is given, NULL strings as "". It fails only with FP_ENOMEM, or FP_EINVAL
 * for what it cannot represent (unknown clock, a NULL array with a nonzero
 * count). Empty edges/nodes and a NULL token are left out of the message.
 */
int wire_encode(const struct wire_batch *b, void **out, size_t *len);

/*
 * Decode and validate a v1 message. lim may be NULL for the defaults; err may
 * be NULL. On success *out is a new batch owning all its memory (nothing
 * points into buf) that the caller releases with wire_batch_destroy(); on
 * failure returns a negative FP_E* code, fills err, leaves *out untouched and
 * keeps nothing allocated. Codes: FP_EMSGSIZE, FP_ETRUNCATED, FP_ECOUNT
 * (a declared length exceeds the bytes left), FP_ETRAILING, FP_EMALFORMED,
 * FP_EDEPTH (nesting, or a call path deeper than max_depth), FP_ETYPE (also a
 * row of the wrong length), FP_EMISSING, FP_EVERSION, FP_EDUPLICATE,
 * FP_ELIMIT, FP_ESTRLEN, FP_ERANGE (an id not defined, an integer too big),
 * FP_EINVAL (seq 0, t0 > t1, pcalls > ncalls, unknown clock, agent id not 16
 * bytes, NUL in a string), FP_ENOMEM.
 * Peak memory while decoding: up to about 25 times len (msgpack-c's object
 * tree, 24 bytes per element), freed before returning.
 */
int wire_decode(const void *buf, size_t len, const struct wire_limits *lim,
		struct wire_batch **out, struct wire_error *err);

/*
 * Frees a decoded batch (one allocation, the batch included); NULL and
 * caller-built batches (arena NULL) are left alone.
 */
void wire_batch_destroy(struct wire_batch *b);

#endif
