/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chaosd's tc datapath, kept entirely in objects chaosd owns so the interface's own root qdisc
 * is never touched (see chaosd(8), DATAPATH):
 *
 *   real interface:  clsact (reused if present) + u32 filters at chaosd's priorities that
 *                    match an edge (dst for egress, src for ingress; in u32 hash tables keyed
 *                    by the prefix, see dp-classify.c) and mirred-redirect it to
 *   chd-o<ifindex>:  an IFB for egress / chd-i<ifindex> for ingress, with an htb root; one htb
 *                    class per active edge, whose leaf is the edge's netem qdisc; a u32 filter on
 *                    the IFB root picks the class. Past 512 classes the direction's further
 *                    edges go to chd-o<ifindex>s1, s2, ... (chd-i<ifindex>s1 ...; see
 *                    SHARD_CLASSES). An edge with a share of flows has an inner class
 *                    instead: a cls_bpf filter on it (flowsel) sends the selected flows to a
 *                    class with the netem leaf, the others to one with a plain leaf.
 *
 * The IFB hands egress packets back to the interface's own root qdisc, so a pre-existing
 * shaper still applies. Every object is recognisable after a crash: IFB names carry the prefix
 * "chd-", filters sit at NL_TC_PRIO_V4/V6 (their hash tables have ids 0x400-0x7ff), and the
 * journal records whether chaosd created the clsact. All changes of one call go to the kernel
 * as one netlink batch (taking a direction off a clsact that stays takes two: see dp_settle_real);
 * a failure midway rolls back what that call added. */

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "edge.h"
#include "fault.h"
#include "journal.h"
#include "netem.h"

#define DATAPATH_IFB_PREFIX "chd-"
/* The link group of chaosd's IFBs ("CHD\0"): the kill switch deletes all of them with one
 * RTM_DELLINK, one round of the kernel's RCU waits instead of one per device. */
#define DATAPATH_IFB_GROUP  0x43484400U
#define NL_TC_PRIO_V4       0xc4a1
#define NL_TC_PRIO_V6       0xc4a2

struct datapath;

struct datapath_stats {
	uint64_t packets;  /* packets that entered the edge's netem qdisc */
	uint64_t bytes;
	uint64_t drops;    /* dropped by netem (loss) or its queue limit */
	uint64_t qlen;     /* held right now (being delayed) */
	uint64_t requeues;
};

/* journal may be NULL (tests): then nothing survives a crash. */
int datapath_new(struct journal *journal, struct datapath **ret, struct diag *d);
struct datapath *datapath_free(struct datapath *dp);

/* Resolve the interface an edge lives on: its configured ifname, or the route to its first
 * prefix. -ENODEV with a diag naming the interface if it does not exist. */
int datapath_resolve_ifindex(struct datapath *dp, const struct edge *e, int *ret_ifindex,
		struct diag *d);

/* Make the kernel carry exactly cfg for traffic of edge e in direction dir (FAULT_DIR_OUT or
 * FAULT_DIR_IN, not both) on ifindex: add the redirect and a netem leaf, or change the leaf in
 * place with NLM_F_REPLACE if the edge already has one (no gap), or with cfg == NULL remove the
 * edge's objects and, if it was the last edge on the interface, the IFB and (if chaosd created
 * it) the clsact. The distribution table named by cfg->dist is loaded here. */
int datapath_set_netem(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, const struct netem_config *cfg, struct diag *d);
/* The same for a share of the edge's flows (flowsel units, FLOWSEL_ALL = all): only they reach
 * the netem, the others pass undelayed. Another share of an edge changes in place; going from a
 * share to all flows or back rebuilds the edge's objects (a moment without the fault, and what
 * netem held is dropped). */
int datapath_set_netem_flows(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, const struct netem_config *cfg, uint32_t flows,
		struct diag *d);

/* First half of removing an edge's objects without losing a packet: its traffic no longer
 * goes to the IFB (its nodes on the interface are deleted); what the IFB holds still leaves.
 * datapath_set_netem(..., NULL) later removes the rest. */
int datapath_unclassify(struct datapath *dp, const struct edge *e, enum fault_direction dir,
		struct diag *d);

/* The next datapath_get_stats() dumps afresh. */
void datapath_stats_invalidate(struct datapath *dp);
/* Packets on their way through the IFB that carries e's traffic in direction dir (of every
 * edge there): held by its qdiscs (netem's delay included), or handed to the IFB and not yet
 * passed on. 0: taking the edge's classification off now lets nothing overtake. */
int datapath_path_backlog(struct datapath *dp, const struct edge *e, enum fault_direction dir,
		uint64_t *ret_packets);
/* Packets the interface sent and received so far (nl_link_packets). */
int datapath_link_packets(struct datapath *dp, int ifindex, uint64_t *ret_packets);
int datapath_get_stats(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, struct datapath_stats *ret);

/* Kill switch and crash recovery: remove every chaosd-owned tc object on every interface,
 * whether this process created it or an earlier one did (found by IFB name prefix and filter
 * priority; a clsact is deleted only if the journal says chaosd created it and nothing but
 * chaosd's filters is on it). One batch. Returns the number of objects removed. Keeps going
 * past failures and reports them all. Once a call found and removed everything, and while no
 * change fails, the next ones work from this process's own record of its objects (no dump of
 * every qdisc and filter) until datapath_untracked(). */
int datapath_remove_all(struct datapath *dp, struct diag *d);
/* The kernel may hold chaosd's objects that this process did not make (another process made
 * them): the next remove_all finds them by name and priority. */
void datapath_untracked(struct datapath *dp);

/* The interface was deleted (the kernel took its clsact and filters with it): delete its
 * IFBs and forget its state. Returns the number of edge slots dropped. */
int datapath_forget_interface(struct datapath *dp, int ifindex, struct diag *d);

/* Count chaosd-owned objects present in the kernel (tests and the kill switch's check). */
int datapath_count_owned(struct datapath *dp, unsigned *ret);
