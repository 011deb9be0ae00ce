/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What one edge's faults ask of the kernel together, and whether they may stand together:
 * pure decisions on a list of active faults, made before anything is touched (faults.c). */

#include "faults.h"
#include "netem.h"

/* The merge of the netem faults of list on edge e in direction dir; *ret_k: how many (0: none,
 * and *ret_cfg is all zero); *ret_first: the first of them (whose flows are every one's). */
int edge_plan_merge_dir(const struct edge *e, enum fault_direction dir, uint64_t link_rate_bps,
		struct active_fault *const *list, unsigned n, struct netem_config *ret_cfg,
		const struct fault **ret_first, unsigned *ret_k, struct diag *d);
/* One selection of flows per edge: the faults of e in new that were not in old must affect the
 * share the others do; and a partition (nftables' symhash) and netem faults (flowsel's
 * classifier) would pick different connections, so only one kind limits itself to a share. */
int edge_plan_check_flows(const struct edge *e, struct active_fault *const *old, unsigned n_old,
		struct active_fault *const *new, unsigned n_new, struct diag *d);
