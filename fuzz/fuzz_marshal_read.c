/*
 * libFuzzer target for the marshal/pstats reader behind `fleetprof import`.
 * Any input must be refused with a code and an "offset N: …" message, or
 * read into tables whose ids are in range and whose pcalls never exceed
 * ncalls. A violated property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp/error.h"
#include "marshal_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
	fprintf(stderr, "fuzz_marshal_read: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_pstats p;
	struct cli_merror err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = cli_pstats_read(data, size, &p, &err);
	if (rc != 0) {
		if (rc > 0 || err.code != rc)
			die("error code not returned and recorded");
		if (strncmp(err.text, "offset ", 7) != 0)
			die("error text does not name the offset");
		if (p.fns != NULL || p.nfns != 0)
			die("output written on failure");
		return 0;
	}
	for (uint32_t i = 0; i < p.nfns; i++)
		if (p.fns[i].id != i + 1 || p.fns[i].name == NULL ||
		    p.fns[i].file == NULL)
			die("bad function");
	for (uint32_t i = 0; i < p.nfstats; i++)
		if (p.fstats[i].fn < 1 || p.fstats[i].fn > p.nfns ||
		    p.fstats[i].pcalls > p.fstats[i].ncalls)
			die("bad fstat");
	for (uint32_t i = 0; i < p.nedges; i++)
		if (p.edges[i].caller < 1 || p.edges[i].caller > p.nfns ||
		    p.edges[i].callee < 1 || p.edges[i].callee > p.nfns ||
		    p.edges[i].pcalls > p.edges[i].ncalls)
			die("bad edge");
	cli_pstats_fini(&p);
	return 0;
}
