/*
 * What the Python extension (agent/python/) uses of the agent beyond the
 * public header: the language tag of its batches, larger tree limits for
 * pstats sessions, and cProfile totals read from the call trees (the drop-in's
 * pstats file comes from the same trees the flush thread sends). Implemented
 * in agent.c; every function may be called before or after fp_init, from any
 * thread.
 */
#ifndef AGENT_AGENT_PYTHON_H
#define AGENT_AGENT_PYTHON_H

#include <stdint.h>

#include "totals.h"

/* The `lang` of every batch from now on ("c" until set). lang must stay
 * valid for the process's life (a string literal). */
void agent_set_lang(const char *lang);

/* Limits of the trees made from now on, clamped to the ranges of
 * FLEETPROF_MAX_NODES and FLEETPROF_MAX_DEPTH; 0 keeps a limit as it is.
 * Existing trees keep theirs. */
void agent_set_tree_limits(uint32_t max_nodes, uint32_t max_depth);

/* While on, a tree that the flush thread frees (its thread has exited and
 * its data is sent) is first added to the retired totals, so that
 * agent_totals_read still counts its calls. Off by default. */
void agent_totals_keep(int on);

/* Adds the cumulative totals of every tree and the retired totals to *out
 * (initialised by the caller, who finis it). Waits while a batch is being
 * built. 0, or FP_ENOMEM with *out partly filled. */
int agent_totals_read(struct agent_totals *out);

#endif
