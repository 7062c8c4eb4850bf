/*
 * wire_encode(): a struct wire_batch to a v1 msgpack message, plus the small
 * shared helpers (clock names, default limits). The encoder never aborts: every
 * msgpack_pack_* result is checked and a failed write (out of memory) frees the
 * buffer. It does not check semantics (ids, limits): that is the decoder's job.
 * Reentrant; no global state.
 */
#include "wire/batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "fp/error.h"

/* Bails out of the enclosing int function if a msgpack write failed. */
#define PK(call)                          \
	do {                              \
		if ((call) != 0)          \
			return FP_ENOMEM; \
	} while (0)

const char *wire_clock_name(int clock)
{
	switch (clock) {
	case WIRE_CLOCK_WALL:
		return "wall";
	case WIRE_CLOCK_CPU:
		return "cpu";
	default:
		return NULL;
	}
}

int wire_clock_parse(const char *s, size_t len)
{
	if (!s)
		return -1;
	if (len == 4 && memcmp(s, "wall", 4) == 0)
		return WIRE_CLOCK_WALL;
	if (len == 3 && memcmp(s, "cpu", 3) == 0)
		return WIRE_CLOCK_CPU;
	return -1;
}

void wire_limits_default(struct wire_limits *lim)
{
	lim->max_msg_bytes = 16u << 20;
	lim->max_fns = 1u << 20;
	lim->max_rows = 1u << 20;
	lim->max_labels = 64;
	lim->max_str = 4096;
	lim->max_depth = 1024;
}

/* NULL is written as "" (unknown file, module, lang). */
static int pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > UINT32_MAX)
		return FP_EINVAL;
	PK(msgpack_pack_str(pk, n));
	PK(msgpack_pack_str_body(pk, s ? s : "", n));
	return 0;
}

static int pack_key(msgpack_packer *pk, const char *key)
{
	return pack_str(pk, key);
}

static int pack_agent(msgpack_packer *pk, const struct wire_agent *a)
{
	uint32_t i;
	int rc;

	if (a->nlabels && !a->labels)
		return FP_EINVAL;
	PK(msgpack_pack_map(pk, 7));
	if ((rc = pack_key(pk, "id")) != 0)
		return rc;
	PK(msgpack_pack_bin(pk, WIRE_AGENT_ID_LEN));
	PK(msgpack_pack_bin_body(pk, a->id, WIRE_AGENT_ID_LEN));
	if ((rc = pack_key(pk, "host")) != 0 || (rc = pack_str(pk, a->host)))
		return rc;
	if ((rc = pack_key(pk, "service")) != 0 ||
	    (rc = pack_str(pk, a->service)))
		return rc;
	if ((rc = pack_key(pk, "pid")) != 0)
		return rc;
	PK(msgpack_pack_uint32(pk, a->pid));
	if ((rc = pack_key(pk, "start_ns")) != 0)
		return rc;
	PK(msgpack_pack_int64(pk, a->start_ns));
	if ((rc = pack_key(pk, "lang")) != 0 || (rc = pack_str(pk, a->lang)))
		return rc;
	if ((rc = pack_key(pk, "labels")) != 0)
		return rc;
	PK(msgpack_pack_map(pk, a->nlabels));
	for (i = 0; i < a->nlabels; i++) {
		if ((rc = pack_str(pk, a->labels[i].key)) != 0 ||
		    (rc = pack_str(pk, a->labels[i].value)) != 0)
			return rc;
	}
	return 0;
}

static int pack_fns(msgpack_packer *pk, const struct wire_batch *b)
{
	uint32_t i;
	int rc;

	PK(msgpack_pack_array(pk, b->nfns));
	for (i = 0; i < b->nfns; i++) {
		const struct wire_fn *f = &b->fns[i];

		PK(msgpack_pack_array(pk, 5));
		PK(msgpack_pack_uint32(pk, f->id));
		if ((rc = pack_str(pk, f->name)) != 0 ||
		    (rc = pack_str(pk, f->file)) != 0)
			return rc;
		PK(msgpack_pack_uint32(pk, f->line));
		if ((rc = pack_str(pk, f->module)) != 0)
			return rc;
	}
	return 0;
}

static int pack_fstats(msgpack_packer *pk, const struct wire_batch *b)
{
	uint32_t i;

	PK(msgpack_pack_array(pk, b->nfstats));
	for (i = 0; i < b->nfstats; i++) {
		const struct wire_fstat *s = &b->fstats[i];

		PK(msgpack_pack_array(pk, 5));
		PK(msgpack_pack_uint32(pk, s->fn));
		PK(msgpack_pack_uint64(pk, s->ncalls));
		PK(msgpack_pack_uint64(pk, s->pcalls));
		PK(msgpack_pack_uint64(pk, s->tottime_ns));
		PK(msgpack_pack_uint64(pk, s->cumtime_ns));
	}
	return 0;
}

static int pack_edges(msgpack_packer *pk, const struct wire_batch *b)
{
	uint32_t i;

	PK(msgpack_pack_array(pk, b->nedges));
	for (i = 0; i < b->nedges; i++) {
		const struct wire_edge *e = &b->edges[i];

		PK(msgpack_pack_array(pk, 6));
		PK(msgpack_pack_uint32(pk, e->caller));
		PK(msgpack_pack_uint32(pk, e->callee));
		PK(msgpack_pack_uint64(pk, e->ncalls));
		PK(msgpack_pack_uint64(pk, e->pcalls));
		PK(msgpack_pack_uint64(pk, e->tottime_ns));
		PK(msgpack_pack_uint64(pk, e->cumtime_ns));
	}
	return 0;
}

static int pack_nodes(msgpack_packer *pk, const struct wire_batch *b)
{
	uint32_t i;

	PK(msgpack_pack_array(pk, b->nnodes));
	for (i = 0; i < b->nnodes; i++) {
		const struct wire_node *n = &b->nodes[i];

		PK(msgpack_pack_array(pk, 6));
		PK(msgpack_pack_uint32(pk, n->node));
		PK(msgpack_pack_uint32(pk, n->parent));
		PK(msgpack_pack_uint32(pk, n->fn));
		PK(msgpack_pack_uint64(pk, n->ncalls));
		PK(msgpack_pack_uint64(pk, n->self_ns));
		PK(msgpack_pack_uint64(pk, n->total_ns));
	}
	return 0;
}

static int pack_batch(msgpack_packer *pk, const struct wire_batch *b)
{
	const char *clock = wire_clock_name(b->clock);
	size_t nkeys = 9; /* v agent seq t0 t1 clock fns fstats dropped */
	int rc;

	if (!clock || (b->nfns && !b->fns) || (b->nfstats && !b->fstats) ||
	    (b->nedges && !b->edges) || (b->nnodes && !b->nodes))
		return FP_EINVAL;
	nkeys += (b->nedges > 0) + (b->nnodes > 0) + (b->token != NULL);
	PK(msgpack_pack_map(pk, nkeys));
	if ((rc = pack_key(pk, "v")) != 0)
		return rc;
	PK(msgpack_pack_uint32(pk, WIRE_VERSION));
	if ((rc = pack_key(pk, "agent")) != 0 ||
	    (rc = pack_agent(pk, &b->agent)) != 0)
		return rc;
	if ((rc = pack_key(pk, "seq")) != 0)
		return rc;
	PK(msgpack_pack_uint64(pk, b->seq));
	if ((rc = pack_key(pk, "t0")) != 0)
		return rc;
	PK(msgpack_pack_int64(pk, b->t0));
	if ((rc = pack_key(pk, "t1")) != 0)
		return rc;
	PK(msgpack_pack_int64(pk, b->t1));
	if ((rc = pack_key(pk, "clock")) != 0 || (rc = pack_str(pk, clock)))
		return rc;
	if ((rc = pack_key(pk, "fns")) != 0 || (rc = pack_fns(pk, b)) != 0)
		return rc;
	if ((rc = pack_key(pk, "fstats")) != 0 ||
	    (rc = pack_fstats(pk, b)) != 0)
		return rc;
	if (b->nedges > 0 && ((rc = pack_key(pk, "edges")) != 0 ||
			      (rc = pack_edges(pk, b)) != 0))
		return rc;
	if (b->nnodes > 0 && ((rc = pack_key(pk, "nodes")) != 0 ||
			      (rc = pack_nodes(pk, b)) != 0))
		return rc;
	if ((rc = pack_key(pk, "dropped")) != 0)
		return rc;
	PK(msgpack_pack_uint64(pk, b->dropped));
	if (b->token && ((rc = pack_key(pk, "token")) != 0 ||
			 (rc = pack_str(pk, b->token)) != 0))
		return rc;
	return 0;
}

int wire_encode(const struct wire_batch *b, void **out, size_t *len)
{
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
	int rc;

	if (!b || !out || !len)
		return FP_EINVAL;
	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	rc = pack_batch(&pk, b);
	if (rc != 0) {
		msgpack_sbuffer_destroy(&sbuf);
		return rc;
	}
	*len = sbuf.size;
	*out = msgpack_sbuffer_release(&sbuf);
	return 0;
}
