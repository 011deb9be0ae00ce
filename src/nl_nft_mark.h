/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Service edges' packet marks, in chaosd's table "inet chaosd_mark" (apart from table inet
 * chaosd, which nl_nft rewrites whole for partitions). One chain at the output hook (type route,
 * priority -195: after conntrack, before chaosd's partition chains; a changed mark reroutes)
 * with one rule per service edge:
 *
 *   socket cgroupv2 level L ID meta skuid UID counter
 *           meta mark set meta mark & ~MASK | M  ct mark set ct mark & ~MASK | M
 *
 * The socket's cgroup (or an ancestor at level L: the unit's own cgroup holds its children too)
 * and/or its owner select the packets a process of the service sends; the mark lets chaosd's tc
 * classifier tell them apart on the way out, and the same bits in the connection's conntrack
 * mark let it tell the replies apart on the way in (restored at tc ingress). Only the bits of
 * NL_NFT_MARK_MASK are chaosd's: the host's own marks in the other bits are kept. */

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "nl_socket.h"

#define NL_NFT_MARK_TABLE "chaosd_mark"
/* chaosd's bits of skb->mark and ct->mark: 8 bits, away from the low bits (firewalld,
 * Kubernetes' 0x4000/0x8000, Cilium's 0x0f00) and the top half Calico uses. */
#define NL_NFT_MARK_MASK 0x00ff0000u
#define NL_NFT_MARK_SHIFT 16
#define NL_NFT_MARK_MAX 255 /* service edges with a fault at the same time */

/* The mark value of service slot i (1..NL_NFT_MARK_MAX). */
static inline uint32_t nl_nft_mark_value(unsigned i)
{
	return (uint32_t)i << NL_NFT_MARK_SHIFT;
}

struct nl_nft_mark {
	uint32_t mark;      /* nl_nft_mark_value(i) */
	bool has_cgroup;
	uint64_t cgroup_id; /* the cgroup's inode on the cgroup2 mount */
	uint32_t level;     /* its depth below the root: system.slice/a.service is 2 */
	bool has_uid;
	uint32_t uid;
};

/* Make table inet chaosd_mark hold exactly these rules, in one transaction (n == 0: the table is
 * deleted; it is absent afterwards either way). */
int nl_nft_mark_sync(struct nl_socket *s, const struct nl_nft_mark *marks, unsigned n,
		struct diag *d);
