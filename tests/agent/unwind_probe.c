/*
 * C side of test_unwind_cxx: reads the calling thread's tree through the
 * agent's internals (C11 atomics, which C++ cannot include) and answers
 * with plain numbers.
 */
#include "unwind_probe.h"

#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "calltree.h"
#include "flush.h"
#include "symbols.h"
#include "wire/batch.h"

static struct wire_batch *batch;
static struct agent_symtab *symtab;

int probe_snapshot(void)
{
	struct ct_tree *t = agent_hotpath_tree();
	struct agent_identity id;
	struct agent_flush_opts opts;
	void *msg = NULL;
	size_t len = 0;
	int rc;

	if (t == NULL)
		return -1;
	memset(&id, 0, sizeof(id));
	memcpy(id.host, "h", 2);
	memcpy(id.service, "s", 2);
	if (symtab == NULL && agent_symtab_create(&symtab) != 0)
		return -1;
	memset(&opts, 0, sizeof(opts));
	opts.symtab = symtab;
	rc = agent_flush_build(&t, 1, &id, 1, 0, 1, 0, &opts, &msg, &len);
	if (rc != 0 || msg == NULL)
		return -1;
	wire_batch_destroy(batch);
	batch = NULL;
	rc = wire_decode(msg, len, NULL, &batch, NULL);
	free(msg);
	return rc;
}

int probe_depth(void)
{
	struct ct_tree *t = agent_hotpath_tree();
	return t ? (int)t->depth : -1;
}

long long probe_repairs(void)
{
	struct ct_tree *t = agent_hotpath_tree();
	return t ? (long long)t->repairs : -1;
}

int probe_counts(const char *needle, long long *ncalls, long long *pcalls)
{
	for (uint32_t i = 0; batch && i < batch->nfns; i++) {
		if (strstr(batch->fns[i].name, needle) == NULL)
			continue;
		for (uint32_t k = 0; k < batch->nfstats; k++) {
			if (batch->fstats[k].fn != batch->fns[i].id)
				continue;
			*ncalls = (long long)batch->fstats[k].ncalls;
			*pcalls = (long long)batch->fstats[k].pcalls;
			return 0;
		}
	}
	return -1;
}

void probe_free(void)
{
	wire_batch_destroy(batch);
	batch = NULL;
	agent_symtab_destroy(symtab);
	symtab = NULL;
}
