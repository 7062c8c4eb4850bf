/*
 * libFuzzer target for the wire decoders (batches and replies). Any input
 * must be rejected cleanly or decode to a batch that re-encodes and decodes
 * to the same batch; encode(decode(m)) must be a fixed point. A violated
 * property aborts, which libFuzzer reports as a crash with its input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp/error.h"
#include "wire/batch.h"
#include "wire/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_wire_decode: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

static void same_str(const char *a, const char *b, const char *what)
{
	if (!a || !b || strcmp(a, b) != 0)
		die("string differs after round trip", what);
}

static void same_batch(const struct wire_batch *a, const struct wire_batch *b)
{
	uint32_t i;

	if (memcmp(a->agent.id, b->agent.id, WIRE_AGENT_ID_LEN) != 0 ||
	    a->agent.pid != b->agent.pid ||
	    a->agent.start_ns != b->agent.start_ns ||
	    a->agent.nlabels != b->agent.nlabels || a->seq != b->seq ||
	    a->t0 != b->t0 || a->t1 != b->t1 || a->clock != b->clock ||
	    a->nfns != b->nfns || a->nfstats != b->nfstats ||
	    a->nedges != b->nedges || a->nnodes != b->nnodes ||
	    a->dropped != b->dropped || !a->token != !b->token)
		die("scalar or count differs after round trip", NULL);
	same_str(a->agent.host, b->agent.host, "agent.host");
	same_str(a->agent.service, b->agent.service, "agent.service");
	same_str(a->agent.lang, b->agent.lang, "agent.lang");
	for (i = 0; i < a->agent.nlabels; i++) {
		same_str(a->agent.labels[i].key, b->agent.labels[i].key,
			 "label key");
		same_str(a->agent.labels[i].value, b->agent.labels[i].value,
			 "label value");
	}
	for (i = 0; i < a->nfns; i++) {
		if (a->fns[i].id != b->fns[i].id ||
		    a->fns[i].line != b->fns[i].line)
			die("fn differs after round trip", NULL);
		same_str(a->fns[i].name, b->fns[i].name, "fn name");
		same_str(a->fns[i].file, b->fns[i].file, "fn file");
		same_str(a->fns[i].module, b->fns[i].module, "fn module");
	}
	if ((a->nfstats &&
	     memcmp(a->fstats, b->fstats, a->nfstats * sizeof(*a->fstats))) ||
	    (a->nedges &&
	     memcmp(a->edges, b->edges, a->nedges * sizeof(*a->edges))) ||
	    (a->nnodes &&
	     memcmp(a->nodes, b->nodes, a->nnodes * sizeof(*a->nodes))))
		die("rows differ after round trip", NULL);
	if (a->token)
		same_str(a->token, b->token, "token");
}

static void check_batch(const uint8_t *data, size_t size,
			const struct wire_limits *lim)
{
	struct wire_limits relim = *lim;
	struct wire_batch *b = NULL, *b2 = NULL;
	struct wire_error err;
	void *enc, *enc2;
	size_t len, len2;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = wire_decode(data, size, lim, &b, &err);
	if (rc != 0) {
		if (rc >= 0 || err.code != rc || b != NULL ||
		    memchr(err.detail, '\0', sizeof(err.detail)) == NULL)
			die("bad failure report", fp_errname(rc));
		return;
	}
	if (wire_encode(b, &enc, &len) != 0)
		die("re-encode failed", NULL);
	/* defaulted keys (labels, lang, dropped) may make it a bit longer */
	relim.max_msg_bytes = SIZE_MAX;
	rc = wire_decode(enc, len, &relim, &b2, &err);
	if (rc != 0)
		die("re-decode failed", err.detail);
	same_batch(b, b2);
	if (wire_encode(b2, &enc2, &len2) != 0)
		die("second re-encode failed", NULL);
	if (len2 != len || memcmp(enc, enc2, len) != 0)
		die("encode(decode(m)) is not a fixed point", NULL);
	free(enc2);
	free(enc);
	wire_batch_destroy(b2);
	wire_batch_destroy(b);
}

static void check_reply(const uint8_t *data, size_t size)
{
	struct wire_reply r, r2;
	void *enc;
	size_t len;

	if (wire_reply_decode(data, size, &r) != 0)
		return;
	if (wire_reply_encode(&r, &enc, &len) != 0)
		die("reply re-encode failed", NULL);
	if (wire_reply_decode(enc, len, &r2) != 0)
		die("reply re-decode failed", NULL);
	if (r.ok != r2.ok || r.dup != r2.dup || r.retry != r2.retry ||
	    r.code != r2.code || r.seq != r2.seq || strcmp(r.msg, r2.msg))
		die("reply differs after round trip", NULL);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct wire_limits tiny = {
		.max_msg_bytes = 4096,
		.max_fns = 4,
		.max_rows = 16, /* the 12-node seed reaches the depth check */
		.max_labels = 2,
		.max_str = 16,
		.max_depth = 3,
	};
	struct wire_limits def;

	wire_limits_default(&def);
	check_batch(data, size, &def);
	check_batch(data, size, &tiny);
	check_reply(data, size);
	return 0;
}
