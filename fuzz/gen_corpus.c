/*
 * Writes the committed seed corpus of fuzz_wire_decode: a few valid batches
 * (full, minimal, pstats-like, deep paths) and replies, each well under 4 KiB,
 * so the fuzzer starts from inputs that reach the semantic checks.
 * Usage: fuzz_gen_corpus DIR (files are overwritten).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp/error.h"
#include "wire/batch.h"
#include "wire/reply.h"

static int write_file(const char *dir, const char *name, const void *buf,
		      size_t len)
{
	char path[4096];
	FILE *f;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	f = fopen(path, "wb");
	if (!f)
		return -1;
	if (fwrite(buf, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

static int emit_batch(const char *dir, const char *name,
		      const struct wire_batch *b)
{
	void *buf;
	size_t len;
	int rc;

	if (wire_encode(b, &buf, &len) != 0)
		return -1;
	rc = len < 4096 ? write_file(dir, name, buf, len) : -1;
	free(buf);
	return rc;
}

static int emit_reply(const char *dir, const char *name,
		      const struct wire_reply *r)
{
	void *buf;
	size_t len;
	int rc;

	if (wire_reply_encode(r, &buf, &len) != 0)
		return -1;
	rc = write_file(dir, name, buf, len);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct wire_label labels[] = {
		{"env", "prod"},
		{"region", "eu-west-1"},
	};
	static const struct wire_fn fns[] = {
		{1, "main", "main.c", 10, "app"},
		{2, "parse", "parse.c", 42, "app"},
		{3, "strlen", "", 0, "libc.so.6"},
		{4, "json.loads", "json/__init__.py", 299, "json"},
	};
	static const struct wire_fstat fstats[] = {
		{1, 1, 1, 1000, 9000},
		{2, 10, 8, 3000, 3500},
		{3, 100, 100, 500, 500},
		{4, 2, 2, 4000, 4500},
	};
	static const struct wire_edge edges[] = {
		{1, 2, 10, 8, 3000, 3500},
		{2, 3, 100, 100, 500, 500},
		{2, 2, 2, 0, 100, 200},
		{1, 4, 2, 2, 4000, 4500},
	};
	static const struct wire_node nodes[] = {
		{1, 0, 1, 1, 1000, 9000}, {2, 1, 2, 8, 2900, 3400},
		{3, 2, 2, 2, 100, 200},	  {4, 2, 3, 100, 500, 500},
		{5, 1, 4, 2, 4000, 4500},
	};
	struct wire_node deep[12];
	struct wire_batch b;
	struct wire_reply r;
	const char *dir;
	uint32_t i;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];

	memset(&b, 0, sizeof(b));
	for (i = 0; i < WIRE_AGENT_ID_LEN; i++)
		b.agent.id[i] = (uint8_t)(0xa0 + i);
	b.agent.host = "web-01";
	b.agent.service = "checkout";
	b.agent.lang = "c";
	b.agent.pid = 4242;
	b.agent.start_ns = 1700000000000000000LL;
	b.agent.labels = labels;
	b.agent.nlabels = 2;
	b.seq = 7;
	b.t0 = 1700000040000000000LL;
	b.t1 = 1700000100000000000LL;
	b.clock = WIRE_CLOCK_WALL;
	b.fns = fns;
	b.nfns = 4;
	b.fstats = fstats;
	b.nfstats = 4;
	b.edges = edges;
	b.nedges = 4;
	b.nodes = nodes;
	b.nnodes = 5;
	b.dropped = 2;
	b.token = "s3cret";
	rc |= emit_batch(dir, "batch-full.mp", &b);

	/* a pstats import: no paths, cpu clock, no token */
	b.agent.lang = "pstats";
	b.clock = WIRE_CLOCK_CPU;
	b.nodes = NULL;
	b.nnodes = 0;
	b.token = NULL;
	rc |= emit_batch(dir, "batch-pstats.mp", &b);

	/* small enough for the fuzzer's tiny limits */
	b.agent.labels = NULL;
	b.agent.nlabels = 0;
	b.nfns = 1;
	b.nfstats = 1;
	b.edges = NULL;
	b.nedges = 0;
	rc |= emit_batch(dir, "batch-minimal.mp", &b);

	/* a path 12 deep */
	for (i = 0; i < 12; i++) {
		deep[i].node = i + 1;
		deep[i].parent = i;
		deep[i].fn = 1 + i % 4;
		deep[i].ncalls = 1;
		deep[i].self_ns = 10;
		deep[i].total_ns = 10 * (12 - i);
	}
	b.nfns = 4;
	b.nfstats = 4;
	b.nodes = deep;
	b.nnodes = 12;
	rc |= emit_batch(dir, "batch-deep.mp", &b);

	memset(&r, 0, sizeof(r));
	r.ok = 1;
	r.seq = 7;
	rc |= emit_reply(dir, "reply-ack.mp", &r);
	r.dup = 1;
	rc |= emit_reply(dir, "reply-dup.mp", &r);
	memset(&r, 0, sizeof(r));
	r.seq = 7;
	r.code = FP_EDBDOWN;
	r.retry = 1;
	snprintf(r.msg, sizeof(r.msg), "%s", "database unavailable");
	rc |= emit_reply(dir, "reply-retry.mp", &r);

	if (rc != 0) {
		fprintf(stderr, "%s: could not write the corpus to %s\n",
			argv[0], dir);
		return 1;
	}
	return 0;
}
