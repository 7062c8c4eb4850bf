/*
 * fleetprof-auto-sample: a program with no fleetprof code at all. Built with
 * fleetprof_instrument() (-finstrument-functions) and linked with
 * libfleetprof, every function is timed; with FLEETPROF_COLLECTOR set the
 * agent starts itself and flushes at exit. Static functions, recursion and
 * calls through pointers (qsort's comparator) on purpose: the call counts are
 * deterministic and tests compare them with valgrind's callgrind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
	int key;
	struct node *left, *right;
};

static struct node pool[4096];
static int npool;

static unsigned next_rand(unsigned *state)
{
	*state = *state * 1103515245u + 12345u;
	return (*state >> 16) & 0x7fff;
}

static struct node *insert(struct node *root, int key)
{
	if (root == NULL) {
		struct node *n = &pool[npool++];
		n->key = key;
		n->left = n->right = NULL;
		return n;
	}
	if (key < root->key)
		root->left = insert(root->left, key);
	else
		root->right = insert(root->right, key);
	return root;
}

static long walk(const struct node *n)
{
	if (n == NULL)
		return 0;
	return n->key + walk(n->left) + walk(n->right);
}

static int compare(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int checksum(const int *v, int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s = s * 31 + v[i];
	return s;
}

static long fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static long round_once(unsigned seed)
{
	int keys[1000];
	struct node *root = NULL;
	long total;

	npool = 0;
	for (int i = 0; i < 1000; i++) {
		keys[i] = (int)next_rand(&seed);
		root = insert(root, keys[i]);
	}
	qsort(keys, 1000, sizeof(keys[0]), compare);
	total = walk(root) + checksum(keys, 1000) + fib(15);
	return total;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 3;
	long total = 0;
	for (int r = 0; r < rounds; r++)
		total += round_once((unsigned)r + 1);
	/* stdout is the program's own; the agent never writes to it */
	printf("%ld\n", total);
	return 0;
}
