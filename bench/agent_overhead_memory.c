/*
 * agent_overhead, memory part: what the agent holds for many distinct call
 * paths. Times 100k distinct sites (100k call paths under the root, with
 * FLEETPROF_MAX_NODES raised to 200000) and prints the node size, the
 * agent's own count (fp_get_stats().memory_bytes) and the process's VmRSS
 * growth. White-box: reads the calling thread's tree for its node count.
 */
#include "agent_internal.h"
#include "calltree.h"
#include "fleetprof/fleetprof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPATHS 100000

static struct fp_site sites[NPATHS];

/* VmRSS or VmHWM in bytes from /proc/self/status; 0 if unreadable. */
static unsigned long long proc_status_bytes(const char *field)
{
	char line[256];
	unsigned long long kb = 0;
	size_t len = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			kb = strtoull(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb * 1024;
}

static unsigned long long agent_memory(void)
{
	struct fp_stats st;
	fp_get_stats(&st);
	return st.memory_bytes;
}

int main(void)
{
	static const struct fp_site first = {"first", __FILE__, __LINE__};
	unsigned long long mem0, mem1, rss0, rss1;
	struct ct_tree *t;
	struct fp_stats st;
	uint32_t nodes0, nodes1;

	/* Read once, when the first tree is made: set it before any call. */
	setenv("FLEETPROF_MAX_NODES", "200000", 0);
	for (size_t i = 0; i < NPATHS; i++)
		sites[i] = (struct fp_site){"path", __FILE__, (int)i};

	/* The tree and its fixed parts exist after the first call. */
	fp_enter(&first);
	fp_exit_site(&first);
	t = agent_hotpath_tree();
	if (t == NULL) {
		fprintf(stderr, "agent_overhead-memory: no call tree\n");
		return 1;
	}
	nodes0 = atomic_load(&t->count);
	mem0 = agent_memory();
	rss0 = proc_status_bytes("VmRSS");

	for (size_t i = 0; i < NPATHS; i++) {
		fp_enter(&sites[i]);
		fp_exit_site(&sites[i]);
	}
	nodes1 = atomic_load(&t->count);
	mem1 = agent_memory();
	rss1 = proc_status_bytes("VmRSS");
	fp_get_stats(&st);

	printf("max_nodes %s\n", getenv("FLEETPROF_MAX_NODES"));
	printf("sizeof_node %zu\n", sizeof(struct ct_node));
	printf("sizeof_frame %zu\n", sizeof(struct ct_frame));
	printf("paths %d\n", NPATHS);
	printf("nodes_added %u\n", nodes1 - nodes0);
	printf("events_dropped %llu\n", st.events_dropped);
	printf("agent_one_node %llu\n", mem0);
	printf("agent_peak %llu\n", mem1);
	printf("rss_delta %llu\n", rss1 > rss0 ? rss1 - rss0 : 0);
	return 0;
}
