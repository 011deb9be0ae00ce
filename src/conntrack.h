/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The kernel's connection tracking table as it concerns one edge (ctnetlink through
 * libnetfilter_conntrack): the ids of the connections open when a partition with
 * connections = established begins (nftables matches them by `ct id`), and, when a partition
 * ends, removing the entries its flows left that never saw a reply, so the next packet of such
 * a flow starts a fresh entry instead of riding a stale one.
 *
 * A connection is the edge's when its original direction goes to the edge (destination in a
 * prefix, the edge's port as destination port) or comes from it (source in a prefix, the port
 * as source port), with the edge's protocol, and, if the edge carries a service's mark
 * (edge.mark, nl_nft_mark.h), with that mark in chaosd's bits of the connection's mark.
 * Interfaces are not compared: conntrack keeps none. Without conntrack (no module, or a network namespace where no rule has asked for it)
 * there is nothing to list or remove, and that is not an error. */

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "edge.h"

/* Bound on the ids kept for one partition (their set fits in one nftables transaction):
 * more is an error, not a silent partial cut. */
#define CONNTRACK_MAX_IDS 8192

/* True if a conntrack entry with this original tuple belongs to edge e. family AF_INET or
 * AF_INET6, addresses in network order, ports in host order. */
bool conntrack_tuple_on_edge(const struct edge *e, int family, uint8_t l4proto, const void *src,
		const void *dst, uint16_t sport, uint16_t dport);

/* The ids of e's connections now, as nftables' `ct id` loads them into a register. */
int conntrack_edge_ids(const struct edge *e, uint32_t **ret_ids, unsigned *ret_n,
		struct diag *d);

/* Delete e's entries that never saw a reply. ret_deleted (may be NULL): how many. */
int conntrack_flush_edge(const struct edge *e, unsigned *ret_deleted, struct diag *d);
