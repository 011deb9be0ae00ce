/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Partitions as drop rules in chaosd's own nftables table "inet chaosd" (libnftnl + libmnl).
 * A separate table composes with whatever rules the host has (a drop in any base chain is
 * final) and the whole table is rewritten in one transaction, so adding or removing one
 * partition never opens a gap in the others. Egress drops in postrouting (oifname + daddr),
 * ingress in prerouting (iifname + saddr), at priority -300 (before conntrack). A partition of
 * a share of flows adds `symhash mod 10000 < share`: the kernel's symmetric flow hash (nft_hash),
 * the same for both directions of a connection and for its life. Its seed is random per boot,
 * so it picks other connections than flowsel's classifier does for netem faults.
 * mode = reject answers instead of dropping: the reject expression is allowed in prerouting but
 * not in postrouting, so egress rejects sit in output (local traffic) and forward (routed),
 * after conntrack. connections = new / established match conntrack's state, or the ids of the
 * connections open at the fault's start; rules that need conntrack's verdict on ingress run in
 * a second prerouting chain after conntrack (-190). Dropped before confirmation, a packet of a
 * new connection still leaves no conntrack entry behind. */

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "edge.h"
#include "fault.h"

#define NL_NFT_TABLE "chaosd"

struct nl_nft;

struct nl_nft_partition {
	const struct edge *edge;
	char ifname[IF_NAMESIZE];
	enum fault_direction direction; /* OUT, IN or BOTH */
	uint64_t id;                    /* fault id, kept in the rule's userdata */
	uint32_t flows;                 /* share of connections dropped (flowsel units); 0 = all */
	enum fault_partition_mode mode;
	enum fault_connections connections;
	/* connections = established: conntrack ids of the connections open at the fault's start
	 * (conntrack_edge_ids), matched through a set; none: the partition matches nothing */
	const uint32_t *ct_ids;
	unsigned n_ct_ids;
};

int nl_nft_open(struct nl_nft **ret, struct diag *d);
struct nl_nft *nl_nft_free(struct nl_nft *n);

/* Make the table hold exactly these partitions (n == 0 deletes the table). One transaction. */
int nl_nft_sync(struct nl_nft *n, const struct nl_nft_partition *parts, unsigned n_parts,
		struct diag *d);
/* Delete table inet chaosd if it may exist: nothing is sent once this process deleted it and
 * made none since (kill switch, crash recovery). */
int nl_nft_remove_all(struct nl_nft *n, struct diag *d);
/* Packets dropped so far by the rules of fault id (sum over its rules). */
int nl_nft_get_drops(struct nl_nft *n, uint64_t id, uint64_t *ret_packets);
/* 1 if table inet chaosd exists, 0 if not. */
int nl_nft_table_exists(struct nl_nft *n);
