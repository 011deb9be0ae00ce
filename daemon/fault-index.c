/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault-index.h"
#include "macro.h"

static bool before(const struct active_fault *af, uint64_t hash, uint64_t id)
{
	return af->edge_hash < hash || (af->edge_hash == hash && af->id < id);
}

static unsigned lower(const struct fault_index *ix, uint64_t hash, uint64_t id)
{
	unsigned lo = 0, hi = ix->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (before(ix->v[mid], hash, id))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct active_fault *const *fault_index_edge(const struct fault_index *ix, uint64_t hash,
		unsigned *ret_n)
{
	unsigned first = lower(ix, hash, 0), end = first;

	while (end < ix->n && ix->v[end]->edge_hash == hash)
		end++;
	*ret_n = end - first;
	return ix->v + first;
}

int fault_index_reserve(struct fault_index *ix, unsigned n)
{
	struct active_fault **a;
	unsigned cap;

	if (n <= ix->cap)
		return 0;
	cap = MAX(n, 2 * ix->cap);
	a = reallocarray(ix->v, cap, sizeof(*a));
	if (!a)
		return -ENOMEM;
	ix->v = a;
	ix->cap = cap;
	return 0;
}

void fault_index_add(struct fault_index *ix, struct active_fault *af)
{
	unsigned i = lower(ix, af->edge_hash, af->id);

	if (ix->n == ix->cap)
		return; /* fault_index_reserve() came first: not reached */
	memmove(&ix->v[i + 1], &ix->v[i], (ix->n - i) * sizeof(*ix->v));
	ix->v[i] = af;
	ix->n++;
}

void fault_index_remove(struct fault_index *ix, const struct active_fault *af)
{
	unsigned i = lower(ix, af->edge_hash, af->id);

	if (i < ix->n && ix->v[i] == af) {
		memmove(&ix->v[i], &ix->v[i + 1], (ix->n - i - 1) * sizeof(*ix->v));
		ix->n--;
	}
}

static int cmp(const void *a, const void *b)
{
	const struct active_fault *x = *(struct active_fault *const *)a;
	const struct active_fault *y = *(struct active_fault *const *)b;

	return before(x, y->edge_hash, y->id) ? -1 : before(y, x->edge_hash, x->id);
}

void fault_index_rebuild(struct fault_index *ix, struct active_fault *const *list, unsigned n)
{
	if (n > ix->cap)
		return; /* it only shrinks: not reached */
	memcpy(ix->v, list, n * sizeof(*list));
	ix->n = n;
	qsort(ix->v, ix->n, sizeof(*ix->v), cmp);
}

void fault_index_done(struct fault_index *ix)
{
	free(ix->v);
	*ix = (struct fault_index){};
}
