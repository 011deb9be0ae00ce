/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The active faults sorted by (edge_hash, id): an inject or revert finds its edge's faults by a
 * binary search instead of a look at all of them. The index holds pointers; the faults are the
 * list's (faults.c). */

#include "faults.h"

struct fault_index {
	struct active_fault **v;
	unsigned n, cap;
};

void fault_index_done(struct fault_index *ix);
/* Room for n faults, made before the kernel is touched so that recording an applied fault
 * cannot fail. */
int fault_index_reserve(struct fault_index *ix, unsigned n);
/* Only after fault_index_reserve() made room for it. */
void fault_index_add(struct fault_index *ix, struct active_fault *af);
void fault_index_remove(struct fault_index *ix, const struct active_fault *af);
/* After the list lost several at once (it only ever shrinks then: the room is there). */
void fault_index_rebuild(struct fault_index *ix, struct active_fault *const *list, unsigned n);
/* The faults whose edge name hashes to hash, in id order (a hash may be two edges' names). */
struct active_fault *const *fault_index_edge(const struct fault_index *ix, uint64_t hash,
		unsigned *ret_n);
