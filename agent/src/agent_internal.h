/*
 * What the agent's files share: the registry (agent.c) that the hot path
 * (hotpath.c) hands new trees to, and the hot path's per-thread hooks.
 */
#ifndef AGENT_AGENT_INTERNAL_H
#define AGENT_AGENT_INTERNAL_H

#include <stdint.h>

struct ct_tree;

/* Creates and registers the calling thread's tree (slow path, may lock and
 * allocate). NULL if it cannot (memory cap, allocation failure). */
struct ct_tree *agent_tree_new(void);

/* hotpath.c: the calling thread's tree is gone (thread exit). */
void agent_hotpath_thread_exit(void);
/* hotpath.c: the calling thread's tree or NULL. */
struct ct_tree *agent_hotpath_tree(void);
/* hotpath.c: calls lost because no tree could be created. */
uint64_t agent_hotpath_lost(void);

/* Bytes the agent has allocated for trees and queued batches; trees and
 * the queue refuse to grow past FLEETPROF_MAX_MEMORY. */
int agent_mem_reserve(uint64_t bytes);
int agent_mem_reserve_within(uint64_t bytes, uint64_t limit);
void agent_mem_release(uint64_t bytes);

#endif
