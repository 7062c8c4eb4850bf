/*
 * Merging call paths into one tree (see cli_pathtree.h). Paths arrive
 * parents first, so one pass maps each path to its merged node; a path
 * whose parent is missing (not expected: storage returns every ancestor)
 * is treated as an entry point rather than dropped.
 */
#include "cli_pathtree.h"
#include "fp/error.h"

#include <stdlib.h>
#include <string.h>

struct idx {
	int64_t id;
	size_t i;
};

static int idx_cmp(const void *a, const void *b)
{
	const struct idx *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static size_t add_node(struct cli_ptree *t, const struct storage_fn *fn,
		       size_t parent)
{
	struct cli_pnode *nd;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct cli_pnode *p = realloc(t->nodes, cap * sizeof(*p));
		if (p == NULL)
			return CLI_PNODE_NONE;
		t->nodes = p;
		t->cap = cap;
	}
	nd = &t->nodes[t->n];
	memset(nd, 0, sizeof(*nd));
	nd->fn = fn;
	nd->parent = parent;
	nd->first_child = nd->next_sibling = CLI_PNODE_NONE;
	if (parent != CLI_PNODE_NONE) {
		nd->depth = t->nodes[parent].depth + 1;
		nd->next_sibling = t->nodes[parent].first_child;
		t->nodes[parent].first_child = t->n;
	}
	return t->n++;
}

/* The child of parent for fn's id, made when missing. */
static size_t child_of(struct cli_ptree *t, size_t parent,
		       const struct storage_fn *fn)
{
	for (size_t c = t->nodes[parent].first_child; c != CLI_PNODE_NONE;
	     c = t->nodes[c].next_sibling)
		if (t->nodes[c].fn->id == fn->id)
			return c;
	return add_node(t, fn, parent);
}

static void add_stats(struct cli_pnode *nd, const struct storage_path_row *r)
{
	nd->ncalls += r->ncalls;
	nd->self_ns += r->self_ns;
	nd->total_ns += r->total_ns;
}

int cli_ptree_build(const struct storage_path_row *rows, size_t n,
		    const char *fn, struct cli_ptree *t)
{
	struct idx *ix = NULL;
	size_t *m = NULL;
	int rc = FP_ENOMEM;

	memset(t, 0, sizeof(*t));
	if (add_node(t, NULL, CLI_PNODE_NONE) == CLI_PNODE_NONE)
		return FP_ENOMEM;
	ix = calloc(n + 1, sizeof(*ix));
	m = calloc(n + 1, sizeof(*m));
	if (ix == NULL || m == NULL)
		goto err_free;
	for (size_t i = 0; i < n; i++)
		ix[i] = (struct idx){rows[i].id, i};
	qsort(ix, n, sizeof(*ix), idx_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct storage_path_row *r = &rows[i];
		size_t pm = CLI_PNODE_NONE;
		struct idx key = {r->parent_id, 0}, *p = NULL;

		if (r->parent_id != 0)
			p = bsearch(&key, ix, n, sizeof(*ix), idx_cmp);
		/* Parents come first, so m[p->i] is already set. */
		if (p != NULL && p->i < i)
			pm = m[p->i];
		else if (fn == NULL)
			pm = 0;
		m[i] = CLI_PNODE_NONE;
		if (fn != NULL && pm == CLI_PNODE_NONE) {
			if (strcmp(r->fn.name, fn) != 0)
				continue;
			m[i] = 0; /* an outermost call of fn */
			if (t->nodes[0].fn == NULL)
				t->nodes[0].fn = &r->fn;
		} else {
			m[i] = child_of(t, pm, &r->fn);
			if (m[i] == CLI_PNODE_NONE)
				goto err_free;
		}
		add_stats(&t->nodes[m[i]], r);
		if (fn == NULL && pm == 0) {
			t->nodes[0].ncalls += r->ncalls;
			t->nodes[0].total_ns += r->total_ns;
		}
	}
	free(ix);
	free(m);
	return 0;

err_free:
	free(ix);
	free(m);
	cli_ptree_fini(t);
	return rc;
}

void cli_ptree_fini(struct cli_ptree *t)
{
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}

/* Compares nodes through pointers, so the sort needs no context (qsort has
 * no argument for one) and is safe on several threads at once. */
static int child_cmp(const void *a, const void *b)
{
	const struct cli_pnode *x = *(const struct cli_pnode *const *)a;
	const struct cli_pnode *y = *(const struct cli_pnode *const *)b;
	int c;

	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	c = strcmp(x->fn->name, y->fn->name);
	if (c != 0)
		return c;
	return x->fn->id < y->fn->id ? -1 : x->fn->id > y->fn->id;
}

int cli_ptree_children(const struct cli_ptree *t, size_t i, size_t **out,
		       size_t *n)
{
	const struct cli_pnode **p;
	size_t k = 0, *c;

	for (size_t x = t->nodes[i].first_child; x != CLI_PNODE_NONE;
	     x = t->nodes[x].next_sibling)
		k++;
	*out = NULL;
	*n = 0;
	if (k == 0)
		return 0;
	c = malloc(k * sizeof(*c));
	p = malloc(k * sizeof(*p));
	if (c == NULL || p == NULL) {
		free(c);
		free(p);
		return FP_ENOMEM;
	}
	k = 0;
	for (size_t x = t->nodes[i].first_child; x != CLI_PNODE_NONE;
	     x = t->nodes[x].next_sibling)
		p[k++] = &t->nodes[x];
	qsort(p, k, sizeof(*p), child_cmp);
	for (size_t j = 0; j < k; j++)
		c[j] = (size_t)(p[j] - t->nodes);
	free(p);
	*out = c;
	*n = k;
	return 0;
}
