/*
 * Call paths as a tree for `tree`, `flame` and `export`: the paths of the
 * window (storage_paths rows, parents before children) merged by function
 * under one root. Nodes point at the rows' function identities, so the rows
 * must outlive the tree. Plain heap arrays, no shared state: one tree per
 * thread, any number of threads.
 */
#ifndef CLI_CLI_PATHTREE_H
#define CLI_CLI_PATHTREE_H

#include "storage/query.h"

#include <stddef.h>
#include <stdint.h>

#define CLI_PNODE_NONE ((size_t)-1)

struct cli_pnode {
	const struct storage_fn *fn; /* NULL for flame's virtual root */
	uint64_t ncalls;
	double self_ns, total_ns;
	size_t parent, first_child, next_sibling; /* CLI_PNODE_NONE: none */
	int depth;				  /* root: 0 */
};

struct cli_ptree {
	struct cli_pnode *nodes; /* nodes[0] is the root */
	size_t n, cap;
};

/*
 * fn NULL: every path under a virtual root whose counters are the sums of
 * the entry functions. fn a name: the subtrees of the outermost paths that
 * end in a function named fn, merged under a root standing for fn (with
 * their summed counters; recursion inside is not counted twice). Returns 0
 * (the root has no children when nothing matched), FP_ENOMEM.
 */
int cli_ptree_build(const struct storage_path_row *rows, size_t n,
		    const char *fn, struct cli_ptree *t);
void cli_ptree_fini(struct cli_ptree *t);

/*
 * The children of node i, by total time descending then name, as a new
 * array of *n indices (NULL when none). Returns 0 or FP_ENOMEM.
 */
int cli_ptree_children(const struct cli_ptree *t, size_t i, size_t **out,
		       size_t *n);

#endif
