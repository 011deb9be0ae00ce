/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The kernel as the fault core sees it: a small table of operations, so that the core's rules
 * (merging, all-or-nothing transitions, deadlines, re-adoption) can be unit-tested against a
 * fake without root or netlink. kernel_netlink() is the real one (src/datapath.c for tc,
 * src/nl_nft.c for partitions). */

#include <stdint.h>

#include "datapath.h"
#include "diag.h"
#include "edge.h"
#include "fault.h"
#include "netem.h"
#include "nl_nft.h"

struct kernel_ops {
	/* The merged netem of one edge and direction; cfg NULL: nothing (flows: share). */
	int (*set_netem)(void *k, const struct edge *e, int ifindex, enum fault_direction dir,
			const struct netem_config *cfg, uint32_t flows, struct diag *d);
	/* Every partition at once (one nftables table). */
	int (*sync_partitions)(void *k, const struct nl_nft_partition *parts, unsigned n,
			struct diag *d);
	/* Everything chaosd owns, found in the kernel, not from memory. Returns how many. */
	int (*remove_all)(void *k, struct diag *d);
	int (*forget_interface)(void *k, int ifindex, struct diag *d);
	int (*resolve_ifindex)(void *k, const struct edge *e, int *ret_ifindex, struct diag *d);
	int (*netem_stats)(void *k, const struct edge *e, int ifindex, enum fault_direction dir,
			struct datapath_stats *ret);
	/* The same read from the kernel now, not from the short-lived cache. May be NULL. */
	int (*netem_stats_now)(void *k, const struct edge *e, int ifindex,
			enum fault_direction dir, struct datapath_stats *ret);
	int (*partition_drops)(void *k, uint64_t id, uint64_t *ret);
	/* Conntrack (NULL: none, as in tests): the ids of e's connections now; remove e's entries
	 * that never saw a reply, returning how many. */
	int (*conntrack_ids)(void *k, const struct edge *e, uint32_t **ret_ids, unsigned *ret_n,
			struct diag *d);
	int (*conntrack_flush)(void *k, const struct edge *e, unsigned *ret_deleted,
			struct diag *d);
	/* The edge's traffic no longer reaches its netem, which stays (datapath_unclassify). */
	int (*unclassify)(void *k, const struct edge *e, enum fault_direction dir,
			struct diag *d);
	/* Packets on the way through the path e's traffic in direction dir takes to its netem,
	 * read now (datapath_path_backlog). May be NULL: then netem_stats_now's queue. */
	int (*path_backlog)(void *k, const struct edge *e, enum fault_direction dir,
			uint64_t *ret_packets);
	/* Packets the interface sent and received so far. May be NULL. */
	int (*link_packets)(void *k, int ifindex, uint64_t *ret_packets);
};

struct kernel {
	const struct kernel_ops *ops;
	void *userdata;
};

struct svcedge;

struct kernel_netlink {
	struct datapath *dp;
	struct nl_nft *nft;
	/* Service edges' marks (svcedge.h); NULL: faults on them are refused, and remove_all
	 * removes chaosd's mark table with a socket of its own. */
	struct svcedge *svc;
};

/* The real kernel over kn's sockets (kn outlives the returned struct). */
struct kernel kernel_netlink(struct kernel_netlink *kn);
