/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The datapath's private half, shared by src/datapath.c and src/dp-*.c and by nothing else: the
 * constants that size chaosd's tc objects, the state kept per interface, direction, device and
 * (edge, direction) slot, and the functions each dp file offers the others. The files stand in
 * floors, each calling only those below it (and all of them include datapath.h; this header
 * does not, so that the registry can stand at the bottom):
 *
 *   dp-slot.c      adding, changing and removing one slot; the entry points that do so
 *   dp-owned.c     chaosd's objects found by name and priority: stale filters, remove_all, count
 *   dp-tracked.c   remove_all from the registry alone, when it knows everything (dp->tracked)
 *   dp-classify.c  u32 hash-table classification (tables, links, an edge's nodes)
 *   dp-ifb.c       IFB shards and what an edge's class holds on one
 *   datapath.c     lifecycle and the registry of interfaces and slots, stats
 *
 * Objects on an IFB (all chaosd's): htb root 1:, one class 1:<id> per (edge, direction), the
 * class's leaf netem <id>:, and the classification with flowid 1:<id>. */

#include <linux/if_ether.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "edge.h"
#include "fault.h"
#include "flowsel.h"
#include "journal.h"
#include "netem.h"
#include "nl_socket.h"
#include "nl_tc.h"

#define IFB_ROOT    0x00010000U
#define SLOT_ID_MIN 2      /* netem <id>: must not be the root's 1: */
#define SLOT_ID_MAX 0xffff
#define CLASSID(id) (IFB_ROOT | (id))
#define NETEM_HANDLE(id) ((uint32_t)(id) << 16)
/* A rate limit's tbf under the netem <id>: (0x8000 | id):, beside every netem handle of the IFB
 * (a direction's class ids stay below MAX_SHARDS * SHARD_CLASSES + SLOT_ID_MIN). Its parent is
 * netem's one class <id>:1. */
#define SHAPER_HANDLE(id) (((uint32_t)(id) | 0x8000U) << 16)
#define SHAPER_PARENT(id) (NETEM_HANDLE(id) | 1U)

enum { SIDE_REAL, SIDE_IFB };
enum { FAM_V4, FAM_V6, _FAM_MAX };
enum { DIR_OUT, DIR_IN, _DIR_MAX };

#define NODE_BITS (NL_TC_U32_HT_NODE_MAX + 1)
#define MAX_FILTERS (EDGE_PREFIX_MAX * 2) /* protocol "any" with a port: tcp and udp */

/* Groups (see dp-classify.c): the prefix length from 8 bits up, 0 for shorter prefixes. */
#define N_GROUPS  129
#define GRP_BYTES ((N_GROUPS + 7) / 8)

/* Adding or deleting an htb class makes the kernel walk every class of the qdisc to rebind
 * filters (tc_ctl_tclass() -> tc_bind_tclass() -> htb_walk()): about 1.2 ms per change at 900
 * classes on the TCG VM, a growth every inject paid. A direction's classes are spread over
 * IFBs of at most SHARD_CLASSES each, which bounds that walk (~0.6 ms there). Making an IFB
 * costs ~9 ms there and deleting one ~30 ms (netdev registration), once per SHARD_CLASSES
 * edges and on every IFB at the kill switch: fewer, larger IFBs keep that out of an inject's
 * p99 and the kill switch short. 8 of them hold 4096 classes, one per edge for the 4095 u32
 * node ids a family has (an edge on a share of flows takes three classes). */
#define SHARD_CLASSES 512
#define MAX_SHARDS    8
_Static_assert(MAX_SHARDS * SHARD_CLASSES + SLOT_ID_MIN < 0x8000, "SHAPER_HANDLE collides");

struct dp_node {
	uint8_t fam;
	uint8_t grp;
	uint8_t bucket;
	uint16_t node;
};

/* One (edge, direction): its class and leaf on the IFB and its u32 nodes. The same node id
 * is used on the real interface and on the IFB. */
struct dp_slot {
	uint64_t edge_hash; /* edge_name_hash(edge): slot_find runs on every change */
	char edge[EDGE_NAME_MAX + 1];
	int ifindex;
	unsigned dir;
	uint16_t id;
	uint8_t shard; /* index into dp_dir.ifb */
	bool has_table; /* the netem holds a delay table (the kernel keeps it across changes) */
	/* Its netem has a tbf child (a rate limit). Kept until the class goes: without a rate it
	 * passes everything at once, since deleting it would drop what it queues. */
	bool shaped;
	/* Share of the edge's flows its netem gets (flowsel): below FLOWSEL_ALL the class 1:<id>
	 * is inner, with the netem in 1:<sel_id> and the other flows' leaf 1:<rest_id>. */
	uint32_t flows;
	uint16_t sel_id, rest_id;
	struct edge match;
	unsigned n_nodes;
	struct dp_node nodes[MAX_FILTERS];
};

/* A device that holds chaosd's u32 classification: the real interface (at its clsact hook,
 * redirecting) or one of a direction's IFBs (at its htb root, picking the class). */
struct dp_side {
	int ifindex; /* 0 = none (an IFB not made) */
	char name[IF_NAMESIZE];
	uint32_t parent;
	/* Root table id (TC_U32_HTID) of the u32 instance per family, 0 = not known yet.
	 * Deleting a link node needs its full handle, and the kernel picks the root's id. */
	uint32_t htid[_FAM_MAX];
	/* Groups whose table and link exist: made with the first edge of the group and kept
	 * while the direction has faults (an empty one costs a packet one empty bucket), torn
	 * down with the direction (on an IFB: with the IFB). */
	uint8_t grp_made[_FAM_MAX][GRP_BYTES];
	unsigned n_classes; /* an IFB's htb classes */
};

struct dp_dir {
	struct dp_side real;
	/* The direction's IFBs ("shards"), each with at most SHARD_CLASSES classes; an edge's
	 * redirect on the real interface names its shard. */
	struct dp_side ifb[MAX_SHARDS];
	unsigned n_nodes[_FAM_MAX];
	/* node ids in use, unique per family across the groups and shards */
	uint8_t nodes[_FAM_MAX][NODE_BITS / 8];
	uint8_t ids[(SLOT_ID_MAX + 1) / 8];
	unsigned n_slots;
};

struct dp_iface {
	int ifindex;
	char name[IF_NAMESIZE];
	bool clsact_present;
	bool clsact_ours; /* created by chaosd: this process, or an earlier one per the journal */
	uint32_t mtu;     /* when first used: sizes a rate limit's bucket and queue */
	struct dp_dir dir[_DIR_MAX];
};

struct datapath {
	struct journal *journal;
	struct nl_socket *nl;
	struct dp_iface **ifaces;
	unsigned n_ifaces;
	struct dp_slot **slots;
	unsigned n_slots;
	struct netem_dist dists[_FAULT_DIST_MAX];
	int16_t uniform[NL_TC_UNIFORM_TABLE];
	/* Every netem's counters from one qdisc dump, kept DP_STATS_USEC: a status of N faults
	 * costs one dump, not N (each of which would walk every qdisc). */
	struct dp_stats_entry *stats;
	unsigned n_stats;
	uint64_t stats_until_usec; /* CLOCK_MONOTONIC; 0: stale */
	/* Everything chaosd has in the kernel is in the registry: a scan found and removed
	 * everything, and no change failed since (which may leave what the registry does not
	 * know). Then the kill switch needs no dump to find its objects (dp-tracked.c). */
	bool tracked;
	/* Whether the kernel keeps a u32 node's mark match (CONFIG_CLS_U32_MARK; without it the
	 * attribute is dropped and the node matches every mark): 0 unknown, 1 yes, -1 no. */
	int u32_mark;
};

#define DP_STATS_USEC (500 * 1000ULL) /* 500 ms */

/* A change to the kernel's objects: the next stats are dumped afresh. */
void dp_stats_invalidate(struct datapath *dp);

struct dp_stats_entry {
	int ifindex;
	uint32_t handle;
	struct datapath_stats st;
};

/* chaosd's u32 tables and the links to them, as a filter dump shows them: deleted before their
 * instance (remove_all, stale leftovers), because u32 tables belong to every u32 instance on
 * the qdisc and outlive their own while another is there (a foreign filter, the other
 * direction), which would make the next add of the same table fail. */
struct ht_obj {
	int ifindex;
	uint32_t parent;
	uint16_t prio, protocol;
	uint32_t handle;
	bool table;
};

struct ht_objs {
	struct ht_obj *v;
	unsigned n;
	int dir; /* only this direction's, -1 = all */
};

/* One u32 node of an edge: its family, group and bucket, and the match it carries. */
struct filter_spec {
	unsigned fam;
	uint8_t grp, bucket;
	struct nl_tc_match m;
};

/* A (family, group) an add needs that is not made on some side, with its messages per side
 * (-1: not in the batch). An add touches two sides: the real interface (SIDE_REAL) and the
 * IFB shard of the new class (SIDE_IFB). */
struct grp_ref {
	uint8_t fam, grp;
	int table[2], link[2];
};

/* Message indexes of one add batch, -1 = not in it. */
struct add_msgs {
	int clsact, htb, class, netem;
	int filter[2][MAX_FILTERS]; /* per side */
	unsigned n_groups;
	struct grp_ref groups[MAX_FILTERS];
};

static const int tolerate_gone[] = { -ENOENT, -ENODEV, 0 };

static inline bool bit_get(const uint8_t *m, unsigned i)
{
	return m[i / 8] & (1u << (i % 8));
}

static inline void bit_set(uint8_t *m, unsigned i, bool v)
{
	if (v)
		m[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		m[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

static inline const char *dir_str(unsigned dir)
{
	return dir == DIR_OUT ? "egress" : "ingress";
}

static inline uint32_t real_parent(unsigned dir)
{
	return dir == DIR_OUT ? NL_TC_EGRESS_PARENT : NL_TC_INGRESS_PARENT;
}

/* The first clear bit of m at or after i, or end; whole bytes of set bits are skipped, so
 * that finding a free id among 1000 taken ones costs about 125 steps, not 1000. */
static inline unsigned first_clear(const uint8_t *m, unsigned i, unsigned end)
{
	while (i < end) {
		if (i % 8 == 0 && m[i / 8] == 0xff)
			i += 8;
		else if (bit_get(m, i))
			i++;
		else
			return i;
	}
	return end;
}

static inline struct nl_tc_dev side_dev(const struct dp_side *s)
{
	return (struct nl_tc_dev){ s->ifindex, s->name };
}

static inline bool grp_made(const struct dp_side *s, unsigned fam, unsigned g)
{
	return bit_get(s->grp_made[fam], g);
}

static inline void grp_set(struct dp_side *s, unsigned fam, unsigned g, bool v)
{
	bit_set(s->grp_made[fam], g, v);
}

static inline bool msg_ok(const struct nl_batch *b, int i)
{
	return i >= 0 && (unsigned)i < b->n && b->errs[i] == 0;
}

/* The edge's class 1:<id> holds its netem leaf; with a share of flows it is split (dp-ifb.c)
 * into 1:<sel_id> with the netem and 1:<rest_id> for the other flows. */
static inline bool split(const struct dp_slot *slot)
{
	return slot->flows < FLOWSEL_ALL;
}

/* A rate limit carried by a tbf under the netem (fault_merge_netem sized its queue). */
static inline bool dp_wants_shaper(const struct netem_config *cfg)
{
	return cfg->rate_bytes_per_sec && cfg->rate_queue_bytes;
}

static inline uint16_t netem_id(const struct dp_slot *slot)
{
	return split(slot) ? slot->sel_id : slot->id;
}

/* The classes an edge's slot takes on its IFB: one, or an inner one with two leaves. */
static inline unsigned slot_classes(const struct dp_slot *slot)
{
	return split(slot) ? 3 : 1;
}

/* ---------------------------------------------------------------- dp-classify.c */

/* Find the root table ids of the families in need[] on one side, before a batch is built: a
 * dump takes a sequence number, and a batch's must be consecutive (nl_batch_send matches acks
 * by offset). Not found: the instance is gone, and its links with it. */
/* Whether a u32 object's handle is in one of chaosd's tables (or is one). */
bool dp_ht_ours(uint32_t handle);
int dp_learn_roots(struct datapath *dp, unsigned dir, struct dp_side *s, const bool *need,
		struct diag *d);
int dp_put_node_del(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, const struct dp_node *n);
int dp_ht_objs_add(struct ht_objs *h, const struct ht_obj *o);
/* Note o if it is one of chaosd's tables or a link to one (of h->dir). */
int dp_ht_objs_note(struct ht_objs *h, const struct nl_tc_obj *o, int ifindex, uint32_t parent);
/* Append the deletes of h's links (tables == false) or tables. */
int dp_put_ht_objs(struct datapath *dp, struct nl_batch *b, const struct ht_objs *h,
		bool tables);
/* Delete h's tables, whose links were deleted before (retried while the kernel holds them). */
int dp_delete_tables_settled(struct datapath *dp, const struct ht_objs *h, struct diag *d);
/* The links (if the root's id is known: dp_learn_roots()) and tables of one side's made
 * groups, or only those of the groups in only[] when given. */
int dp_dir_objs(unsigned dir, const struct dp_side *s, const uint8_t (*only)[GRP_BYTES],
		struct ht_objs *h);
/* Second step of taking a direction off a real interface whose clsact stays, after a batch
 * deleted h's links: the tables, then the instances. */
int dp_settle_real(struct datapath *dp, struct dp_iface *iface, unsigned dir,
		const struct ht_objs *h, struct diag *d);
/* The u32 nodes edge e needs in direction dir (at most MAX_FILTERS). */
int dp_edge_filters(const struct edge *e, unsigned dir, struct filter_spec *f, unsigned *ret_n,
		struct diag *d);
int dp_alloc_nodes(struct dp_dir *dd, const struct filter_spec *f, unsigned n,
		struct dp_node *nodes);
void dp_free_nodes(struct dp_dir *dd, const struct dp_node *nodes, unsigned n);
/* One side's part of an add, and its undo after a failed batch `done`. */
int dp_put_add_side(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, unsigned side, const struct dp_side *ifb,
		const struct filter_spec *f, const struct dp_node *nodes, unsigned n, uint16_t id,
		struct add_msgs *m);
int dp_put_rollback_side(struct datapath *dp, struct nl_batch *b, unsigned dir,
		struct dp_side *s, unsigned side, const struct nl_batch *done, struct add_msgs *m,
		const struct dp_node *nodes, unsigned n);

/* ---------------------------------------------------------------- dp-ifb.c */

int dp_ifb_create(struct datapath *dp, struct dp_iface *iface, unsigned dir, unsigned k,
		struct diag *d);
/* Forget an IFB shard (deleted, or about to be). */
void dp_ifb_forget(struct dp_side *s);
void dp_ifb_delete(struct datapath *dp, struct dp_side *s, struct diag *d);
/* The IFB shard for a new slot of `classes` classes: the first with room, or the first free
 * place for a new one (*ret_new). */
int dp_shard_pick(const struct dp_dir *dd, unsigned classes, uint8_t *ret, bool *ret_new);
/* The class ids of a new slot: 1:<id>, and with a share of flows (< FLOWSEL_ALL) 1:<sel_id>
 * and 1:<rest_id>; sets slot->flows. */
int dp_alloc_class_ids(struct dp_dir *dd, struct dp_slot *slot, uint32_t flows);
void dp_free_class_ids(struct dp_dir *dd, const struct dp_slot *slot);
int dp_put_htb_root(struct datapath *dp, struct nl_batch *b, const struct dp_side *ifb);
int dp_put_flows_filter(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
		const struct dp_slot *slot, uint32_t flows, bool replace);
/* The edge's class and what hangs under it; *ret_netem is the netem's message. */
int dp_put_leaves(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
		const struct dp_slot *slot, uint32_t mtu, const struct netem_config *cfg,
		const struct netem_dist *dist, int *ret_netem);
int dp_put_leaves_del(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
		const struct dp_slot *slot);
/* The slot's netem as cfg asks, changed in place, and its rate limit's tbf: made, changed, or
 * (cfg without one) passing everything; *ret_shaper is the tbf's message (-1: none). */
int dp_put_netem_change(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
		const struct dp_slot *slot, uint32_t mtu, const struct netem_config *cfg,
		const struct netem_dist *dist, int *ret_shaper);

/* ---------------------------------------------------------------- datapath.c */

int dp_dir_index(enum fault_direction dir, unsigned *ret);
struct dp_iface *dp_iface_find(struct datapath *dp, int ifindex);
/* The interface's state, probed from the kernel on first use (dir: for the error text). */
int dp_iface_get(struct datapath *dp, int ifindex, unsigned dir, struct dp_iface **ret,
		struct diag *d);
void dp_iface_drop_if_unused(struct datapath *dp, struct dp_iface *iface);
struct dp_slot *dp_slot_find(struct datapath *dp, const char *edge, unsigned dir);
/* Into its place in dp->slots, which has room for it. */
void dp_slot_insert(struct datapath *dp, struct dp_slot *slot);
void dp_slot_forget(struct datapath *dp, struct dp_slot *slot);
void dp_forget_all(struct datapath *dp);

/* ---------------------------------------------------------------- dp-owned.c */

/* chaosd's instances and this direction's tables left on the real interface by a chaosd that
 * died. */
int dp_clean_stale_filters(struct datapath *dp, struct dp_iface *iface, unsigned dir,
		struct diag *d);
/* Whether anything but chaosd's filters is attached to the clsact of ifindex (unknown: yes). */
bool dp_clsact_has_foreign(struct datapath *dp, int ifindex);

/* ---------------------------------------------------------------- dp-tracked.c */

/* Remove everything the registry holds (dp->tracked must be true): returns the number of
 * objects removed, or < 0. *ret_rescan: something of chaosd's stayed that the registry did
 * not foresee (a foreign u32 filter holds its tables): a scan must follow. */
int dp_remove_tracked(struct datapath *dp, bool *ret_rescan, struct diag *d);

/* ---------------------------------------------------------------- dp-service.c */

/* After the first add of a service edge's slot (its nodes match a mark): read one of its nodes
 * back and refuse (-EOPNOTSUPP, naming the kernel option) if the kernel dropped the mark match;
 * the answer is kept for the datapath's lifetime. The caller removes the slot on failure. */
int dp_service_verify(struct datapath *dp, const struct dp_slot *slot, struct diag *d);
