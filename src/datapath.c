/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath.h"
#include "flowsel.h"
#include "nl_link.h"
#include "nl_tc.h"

/* Objects on an IFB (all chaosd's): htb root 1:, one class 1:<id> per (edge, direction), the
 * class's leaf netem <id>:, and the classification below with flowid 1:<id>.
 *
 * Classification, the same on the real interface and on the IFB: per family, a u32 instance at
 * NL_TC_PRIO_V4/V6 whose root table holds only link nodes, one per prefix length in use (a
 * "group"). Each links to a table of chaosd's with 256 buckets, picked by the 8 address bits
 * that end at that length; an edge's nodes sit in the bucket of their prefix. A packet then
 * walks one short bucket per prefix length in use instead of every edge's node (a linear list
 * costs every packet of the interface per edge), and a miss in a bucket goes on with the next
 * link, so every node that could match a packet is still tried. */
#define IFB_ROOT    0x00010000U
#define SLOT_ID_MIN 2      /* netem <id>: must not be the root's 1: */
#define SLOT_ID_MAX 0xffff
#define CLASSID(id) (IFB_ROOT | (id))
#define NETEM_HANDLE(id) ((uint32_t)(id) << 16)
/* The flowsel filter of an edge with a share of flows, alone on its class's block. */
#define FLOWS_PRIO 1

/* The class only holds the netem leaf and must never shape: 1 Tbit/s, a 256 KiB bucket
 * (about 2 us at that rate, several GSO packets), and the quantum the kernel would clamp a
 * rate-derived one to (htb_change_class: 200000), given explicitly so it does not warn. */
#define HTB_RATE        UINT64_C(125000000000)
#define HTB_BURST       (256 * 1024)
#define HTB_QUANTUM     200000
/* Unclassified packets (none are expected: every redirected packet matches the IFB's filters
 * too) leave through htb's direct queue. */
#define HTB_DIRECT_QLEN 1000

#define NO_SCH_NETEM                                                                             \
	"the kernel has no sch_netem (modprobe sch_netem; Debian: linux-image-amd64 has it as a "  \
	"module)"

enum { SIDE_REAL, SIDE_IFB };
enum { FAM_V4, FAM_V6, _FAM_MAX };
enum { DIR_OUT, DIR_IN, _DIR_MAX };

#define NODE_BITS (NL_TC_U32_HT_NODE_MAX + 1)
#define MAX_FILTERS (EDGE_PREFIX_MAX * 2) /* protocol "any" with a port: tcp and udp */

/* Groups: the prefix length from 8 bits up, 0 for shorter prefixes (a one-bucket table). */
#define N_GROUPS 129
/* chaosd's table ids, 0x400 | direction << 9 | family << 8 | group: below the 0x800 the kernel
 * numbers its own tables from, and recognisable after a crash. As handles (id << 20): */
#define HT_BASE       0x400U
#define HT_ID(dir, fam, g)                                                                       \
	((HT_BASE | (uint32_t)(dir) << 9 | (uint32_t)(fam) << 8 | (uint32_t)(g)) << 20)
#define HT_OURS(h)    ((h) >> 20 >= HT_BASE && (h) >> 20 <= NL_TC_U32_HTID_MAX)
#define HT_DIR(h)     (((h) >> 29) & 1)
#define HT_FAM(h)     (((h) >> 28) & 1)
/* the node in the instance's root table that links to group g */
#define LINK_NODE(g)  ((uint32_t)(g) + 1)
#define GRP_BYTES     ((N_GROUPS + 7) / 8)
/* A deleted link node lets go of its table only after an RCU grace period: tries to delete
 * the table, sleeping 1, 2, 4 ... ms between them (about a second in all). */
#define SETTLE_TRIES  10
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
};

static const int tolerate_gone[] = { -ENOENT, -ENODEV, 0 };

static const uint16_t fam_prio[_FAM_MAX] = { NL_TC_PRIO_V4, NL_TC_PRIO_V6 };
static const uint16_t fam_proto[_FAM_MAX] = { ETH_P_IP, ETH_P_IPV6 };

static bool bit_get(const uint8_t *m, unsigned i)
{
	return m[i / 8] & (1u << (i % 8));
}

static void bit_set(uint8_t *m, unsigned i, bool v)
{
	if (v)
		m[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		m[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

static const char *dir_str(unsigned dir)
{
	return dir == DIR_OUT ? "egress" : "ingress";
}

static uint32_t real_parent(unsigned dir)
{
	return dir == DIR_OUT ? NL_TC_EGRESS_PARENT : NL_TC_INGRESS_PARENT;
}

static int fam_index(int family)
{
	return family == AF_INET ? FAM_V4 : family == AF_INET6 ? FAM_V6 : -1;
}

/* Append the lines of src to d (the kernel's lines after chaosd's own summary). */
static void append_lines(struct diag *d, const struct diag *src)
{
	const char *p = src->text;

	if (!d || src->len == 0)
		return;
	while (*p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);
		diag_add(d, -EIO, "%.*s", n, p);
		p += n + (nl ? 1 : 0);
	}
}

int datapath_new(struct journal *journal, struct datapath **ret, struct diag *d)
{
	struct datapath *dp;
	int r;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->journal = journal;
	r = nl_socket_open(NETLINK_ROUTE, &dp->nl);
	if (r < 0) {
		free(dp);
		return diag_add(d, r, "rtnetlink socket: %s", strerror(-r));
	}
	nl_tc_netem_uniform(dp->uniform);
	*ret = dp;
	return 0;
}

static void forget_all(struct datapath *dp)
{
	for (unsigned i = 0; i < dp->n_ifaces; i++)
		free(dp->ifaces[i]);
	for (unsigned i = 0; i < dp->n_slots; i++)
		free(dp->slots[i]);
	dp->n_ifaces = dp->n_slots = 0;
}

struct datapath *datapath_free(struct datapath *dp)
{
	if (!dp)
		return NULL;
	forget_all(dp);
	free(dp->ifaces);
	free(dp->slots);
	for (unsigned i = 0; i < _FAULT_DIST_MAX; i++)
		netem_dist_done(&dp->dists[i]);
	nl_socket_free(dp->nl);
	free(dp);
	return NULL;
}

int datapath_resolve_ifindex(struct datapath *dp, const struct edge *e, int *ret_ifindex,
		struct diag *d)
{
	char buf[INET6_ADDRSTRLEN + 8];
	int ifindex, r;

	if (e->ifname[0]) {
		r = nl_link_ifindex(dp->nl, e->ifname, &ifindex);
		if (r == -ENODEV)
			return diag_add(d, r, "edge %s: interface %s does not exist", e->name,
					e->ifname);
		if (r < 0)
			return diag_add(d, r, "edge %s: looking up interface %s: %s", e->name,
					e->ifname, strerror(-r));
		*ret_ifindex = ifindex;
		return 0;
	}
	if (e->n_prefixes == 0)
		return diag_add(d, -EINVAL, "edge %s has no destination to find its interface by",
				e->name);
	r = nl_link_route_oif(dp->nl, e->prefixes[0].family, e->prefixes[0].addr, &ifindex,
			NULL);
	if (r < 0)
		return diag_add(d, r == -ENETUNREACH ? -ENODEV : r,
				"edge %s: no route to %s to find its interface by (%s); set "
				"interface = in its [edge] section",
				e->name, edge_prefix_format(&e->prefixes[0], buf, sizeof(buf)),
				strerror(-r));
	*ret_ifindex = ifindex;
	return 0;
}

/* ---------------------------------------------------------------- state */

static struct dp_iface *iface_find(struct datapath *dp, int ifindex)
{
	for (unsigned i = 0; i < dp->n_ifaces; i++)
		if (dp->ifaces[i]->ifindex == ifindex)
			return dp->ifaces[i];
	return NULL;
}

static void iface_drop_if_unused(struct datapath *dp, struct dp_iface *iface)
{
	/* Without slots nothing needs remembering; the next use probes the kernel again. */
	for (unsigned dir = 0; dir < _DIR_MAX; dir++) {
		if (iface->dir[dir].n_slots)
			return;
		for (unsigned k = 0; k < MAX_SHARDS; k++)
			if (iface->dir[dir].ifb[k].ifindex)
				return;
	}
	for (unsigned i = 0; i < dp->n_ifaces; i++)
		if (dp->ifaces[i] == iface) {
			dp->ifaces[i] = dp->ifaces[--dp->n_ifaces];
			free(iface);
			return;
		}
}

/* dp->slots is sorted by (edge_hash, dir): every change looks its slot up, and a binary search
 * keeps that cheap with 1000 of them. The first index at or after (hash, dir): */
static unsigned slot_lower(const struct datapath *dp, uint64_t hash, unsigned dir)
{
	unsigned lo = 0, hi = dp->n_slots;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct dp_slot *m = dp->slots[mid];
		if (m->edge_hash < hash || (m->edge_hash == hash && m->dir < dir))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct dp_slot *slot_find(struct datapath *dp, const char *edge, unsigned dir)
{
	uint64_t hash = edge_name_hash(edge);

	for (unsigned i = slot_lower(dp, hash, dir);
			i < dp->n_slots && dp->slots[i]->edge_hash == hash && dp->slots[i]->dir == dir;
			i++)
		if (streq(dp->slots[i]->edge, edge))
			return dp->slots[i];
	return NULL;
}

/* Into its place in dp->slots, which has room for it. */
static void slot_insert(struct datapath *dp, struct dp_slot *slot)
{
	unsigned i = slot_lower(dp, slot->edge_hash, slot->dir);

	memmove(&dp->slots[i + 1], &dp->slots[i], (dp->n_slots - i) * sizeof(*dp->slots));
	dp->slots[i] = slot;
	dp->n_slots++;
}

static void slot_forget(struct datapath *dp, struct dp_slot *slot)
{
	for (unsigned i = slot_lower(dp, slot->edge_hash, slot->dir); i < dp->n_slots; i++)
		if (dp->slots[i] == slot) {
			memmove(&dp->slots[i], &dp->slots[i + 1],
					(dp->n_slots - i - 1) * sizeof(*dp->slots));
			dp->n_slots--;
			free(slot);
			return;
		}
}

struct qdisc_probe {
	int ifindex;
	bool clsact, ingress;
};

static int probe_cb(const struct nlmsghdr *nlh, void *data)
{
	struct qdisc_probe *p = data;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || o.ifindex != p->ifindex || o.parent != TC_H_INGRESS)
		return 0;
	if (streq(o.kind, "clsact"))
		p->clsact = true;
	else if (streq(o.kind, "ingress"))
		p->ingress = true;
	return 0;
}

static int iface_get(struct datapath *dp, int ifindex, unsigned dir, struct dp_iface **ret,
		struct diag *d)
{
	_cleanup_free_ struct dp_iface *n = NULL;
	struct qdisc_probe p = { .ifindex = ifindex };
	char buf[NL_TC_REQ_SIZE];
	struct dp_iface **a;
	int r;

	*ret = iface_find(dp, ifindex);
	if (*ret)
		return 0;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->ifindex = ifindex;
	r = nl_link_name(dp->nl, ifindex, n->name);
	if (r < 0)
		return diag_add(d, r, "interface with index %d: %s", ifindex,
				r == -ENODEV ? "does not exist" : strerror(-r));
	r = nl_socket_dump(dp->nl, nl_tc_qdisc_dump_req(buf), probe_cb, &p, d);
	if (r < 0)
		return diag_add(d, r, "listing the qdiscs of %s failed", n->name);
	/* clsact and the legacy ingress qdisc both sit at ffff:fff1; one excludes the other. */
	if (p.ingress)
		return diag_add(d, -EBUSY,
				"%s has a legacy 'ingress' qdisc; chaosd's %s faults need a "
				"clsact qdisc in its place, which the kernel cannot add beside "
				"it. Remove it (tc qdisc del dev %s ingress) or move its filters "
				"to a clsact.",
				n->name, dir_str(dir), n->name);
	for (unsigned i = 0; i < _DIR_MAX; i++) {
		n->dir[i].real.ifindex = ifindex;
		memcpy(n->dir[i].real.name, n->name, sizeof(n->name));
		n->dir[i].real.parent = real_parent(i);
	}
	n->clsact_present = p.clsact;
	n->clsact_ours = p.clsact && journal_clsact_created(dp->journal, ifindex);
	a = reallocarray(dp->ifaces, dp->n_ifaces + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	dp->ifaces = a;
	a[dp->n_ifaces++] = n;
	*ret = TAKE_PTR(n);
	return 0;
}

/* ---------------------------------------------------------------- u32 handles */

static struct nl_tc_dev side_dev(const struct dp_side *s)
{
	return (struct nl_tc_dev){ s->ifindex, s->name };
}

struct root_find {
	unsigned dir, fam;
	uint32_t htid;
};

static int root_cb(const struct nlmsghdr *nlh, void *data)
{
	struct root_find *f = data;
	struct nl_tc_u32_info u;
	struct nl_tc_obj o;

	/* Only nodes of a root table (the kernel's ids) can link to ours. On a clsact, ingress
	 * and egress share u32's tc_u_common (keyed by the qdisc), so a dump of either walks the
	 * tables of both: the direction in the link target tells them apart. */
	if (nl_tc_parse(nlh, &o) < 0 || o.chain != 0 || TC_U32_KEY(o.handle) == 0 ||
			HT_OURS(o.handle) || nl_tc_u32_parse(&o, &u) < 0)
		return 0;
	if (HT_OURS(u.link) && HT_DIR(u.link) == f->dir && HT_FAM(u.link) == f->fam)
		f->htid = TC_U32_HTID(o.handle);
	return 0;
}

/* Find the root table ids of the families in need[] on one side, before a batch is built: a
 * dump takes a sequence number, and a batch's must be consecutive (nl_batch_send matches acks
 * by offset). Not found: the instance is gone, and its links with it. */
static int learn_roots(struct datapath *dp, unsigned dir, struct dp_side *s, const bool *need,
		struct diag *d)
{
	for (unsigned fam = 0; fam < _FAM_MAX; fam++) {
		struct root_find f = { dir, fam, 0 };
		char buf[NL_TC_REQ_SIZE];
		int r;

		if (!need[fam] || s->htid[fam] != 0 || s->ifindex <= 0)
			continue;
		r = nl_socket_dump(dp->nl,
				nl_tc_filter_dump_req(buf, s->ifindex, s->parent, fam_prio[fam],
						fam_proto[fam]),
				root_cb, &f, d);
		if (r < 0 && r != -ENOENT && r != -ENODEV)
			return r;
		s->htid[fam] = f.htid;
	}
	return 0;
}

static uint32_t node_handle(unsigned dir, const struct dp_node *n)
{
	return HT_ID(dir, n->fam, n->grp) | (uint32_t)n->bucket << 12 | n->node;
}

/* Group g's table and the link to it (the table's refcount holds it while a link exists). */
static int put_group_add(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, unsigned fam, unsigned g, int *ret_table, int *ret_link);

static int put_node_del(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, const struct dp_node *n)
{
	return nl_tc_filter_del(b, dp->nl, side_dev(s), s->parent, fam_prio[n->fam],
			fam_proto[n->fam], node_handle(dir, n));
}

/* chaosd's tables and the links to them, as a filter dump shows them: deleted before their
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

static int ht_objs_add(struct ht_objs *h, const struct ht_obj *o)
{
	struct ht_obj *a = reallocarray(h->v, h->n + 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	h->v = a;
	a[h->n++] = *o;
	return 0;
}

static int ht_objs_note(struct ht_objs *h, const struct nl_tc_obj *o, int ifindex,
		uint32_t parent)
{
	bool table = TC_U32_KEY(o->handle) == 0;
	struct nl_tc_u32_info u;
	uint32_t target;

	if (!streq(o->kind, "u32") || o->chain != 0)
		return 0;
	if (table) {
		target = o->handle;
	} else {
		/* nodes in our tables go with them; only root nodes link */
		if (HT_OURS(o->handle) || nl_tc_u32_parse(o, &u) < 0)
			return 0;
		target = u.link;
	}
	if (!HT_OURS(target) || (h->dir >= 0 && HT_DIR(target) != (unsigned)h->dir))
		return 0;
	/* a clsact's two directions each show both's tables: handles are unique per qdisc */
	for (unsigned i = 0; i < h->n; i++)
		if (h->v[i].ifindex == ifindex && h->v[i].handle == o->handle)
			return 0;
	return ht_objs_add(h, &(struct ht_obj){ ifindex, parent, nl_tc_obj_prio(o),
					      nl_tc_obj_protocol(o), o->handle, table });
}

/* Append the deletes of h's links (tables == false) or tables. */
static int put_ht_objs(struct datapath *dp, struct nl_batch *b, const struct ht_objs *h,
		bool tables)
{
	for (unsigned i = 0; i < h->n; i++) {
		const struct ht_obj *o = &h->v[i];
		int r;
		if (o->table != tables)
			continue;
		r = nl_tc_filter_del(b, dp->nl, (struct nl_tc_dev){ o->ifindex, NULL }, o->parent,
				o->prio, o->protocol, o->handle);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Delete h's tables, whose links were deleted before. The kernel frees a deleted link node,
 * and with it its hold on the table, only after an RCU grace period (u32_delete_key() queues
 * that work) and refuses to delete a table that is still held (EBUSY): retry for a while. */
static int delete_tables_settled(struct datapath *dp, const struct ht_objs *h, struct diag *d)
{
	struct nl_batch b;
	struct diag kd;
	int r;

	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	for (unsigned attempt = 0;; attempt++) {
		diag_init(&kd);
		nl_batch_reset(&b);
		r = put_ht_objs(dp, &b, h, true);
		if (r >= 0)
			r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
		if (r != -EBUSY || attempt + 1 >= SETTLE_TRIES)
			break;
		(void)usleep(1000U << attempt);
	}
	if (r < 0)
		append_lines(d, &kd);
	nl_batch_done(&b);
	return r;
}

static bool grp_made(const struct dp_side *s, unsigned fam, unsigned g)
{
	return bit_get(s->grp_made[fam], g);
}

/* The links (if the root's id is known: learn_roots()) and tables of one side's made groups,
 * or only those of the groups in only[] when given. */
static int dir_objs(unsigned dir, const struct dp_side *s, const uint8_t (*only)[GRP_BYTES],
		struct ht_objs *h)
{
	for (unsigned fam = 0; fam < _FAM_MAX; fam++)
		for (unsigned g = 0; g < N_GROUPS; g++) {
			struct ht_obj o = { s->ifindex, s->parent, fam_prio[fam], fam_proto[fam],
				HT_ID(dir, fam, g), true };
			int r;
			if (!(only ? bit_get(only[fam], g) : grp_made(s, fam, g)))
				continue;
			r = ht_objs_add(h, &o);
			if (r >= 0 && s->htid[fam]) {
				o.handle = s->htid[fam] | LINK_NODE(g);
				o.table = false;
				r = ht_objs_add(h, &o);
			}
			if (r < 0)
				return r;
		}
	return 0;
}

/* Both instances of a side (whatever they hold). */
static int put_instance_dels(struct datapath *dp, struct nl_batch *b, const struct dp_side *s)
{
	int r = 0;

	for (unsigned fam = 0; fam < _FAM_MAX && r >= 0; fam++)
		r = nl_tc_filter_del(b, dp->nl, side_dev(s), s->parent, fam_prio[fam], 0, 0);
	return r;
}

/* Second step of taking a direction off a real interface whose clsact stays, after a batch
 * deleted h's links: the tables (u32 tables belong to every u32 instance on the qdisc and
 * outlive their own while another is there), then the instances. */
static int settle_real(struct datapath *dp, struct dp_iface *iface, unsigned dir,
		const struct ht_objs *h, struct diag *d)
{
	struct nl_batch b;
	struct diag kd;
	int r;

	r = delete_tables_settled(dp, h, d);
	if (r < 0)
		return r;
	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	diag_init(&kd);
	r = put_instance_dels(dp, &b, &iface->dir[dir].real);
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
	if (r < 0)
		append_lines(d, &kd);
	nl_batch_done(&b);
	return r;
}

/* ---------------------------------------------------------------- filters of an edge */

struct filter_spec {
	unsigned fam;
	uint8_t grp, bucket;
	struct nl_tc_match m;
};

/* Where a group's link reads the bucket: the 32-bit word at off bytes into the network header
 * (word w of the address), bits shift..shift+7. Those are the 8 bits that end at the prefix
 * length, or the last 8 of the word before if they would straddle two words (IPv6). */
struct group_hash {
	int off;
	unsigned w, shift;
};

static struct group_hash group_hash(unsigned fam, bool src, unsigned g)
{
	int base = fam == FAM_V4 ? (src ? 12 : 16) : (src ? 8 : 24);
	unsigned w = (g - 1) / 32, end = g - 32 * w;

	if (end < 8) {
		w--;
		end = 32;
	}
	return (struct group_hash){ base + 4 * (int)w, w, 32 - end };
}

static uint8_t prefix_bucket(const struct nl_tc_match *m, unsigned fam, unsigned g)
{
	struct group_hash h;
	const uint8_t *a;

	if (g == 0)
		return 0;
	h = group_hash(fam, m->src, g);
	a = m->addr + 4 * h.w;
	return (uint8_t)(((uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 |
				 a[3]) >> h.shift);
}

static int put_group_add(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, unsigned fam, unsigned g, int *ret_table, int *ret_link)
{
	struct nl_tc_match all = { .family = fam == FAM_V4 ? AF_INET : AF_INET6 };
	struct nl_tc_u32 u = {
		.ifindex = s->ifindex,
		.parent = s->parent,
		.prio = fam_prio[fam],
		.protocol = fam_proto[fam],
		.handle = LINK_NODE(g),
		.link = HT_ID(dir, fam, g),
	};
	int r;

	if (g) {
		struct group_hash h = group_hash(fam, dir == DIR_IN, g);
		u.hash_off = h.off;
		u.hash_mask = UINT32_C(0xff) << h.shift;
	}
	*ret_table = (int)b->n;
	r = nl_tc_u32_table_add(b, dp->nl, side_dev(s), u.parent, u.prio, u.protocol,
			HT_ID(dir, fam, g), g ? 256 : 1);
	if (r < 0)
		return r;
	*ret_link = (int)b->n;
	return nl_tc_u32_add(b, dp->nl, &u, &all, s->name);
}

static int edge_filters(const struct edge *e, unsigned dir, struct filter_spec *f,
		unsigned *ret_n, struct diag *d)
{
	uint8_t protos[2];
	unsigned n_protos = 0, n = 0;

	if (e->proto == EDGE_PROTO_TCP)
		protos[n_protos++] = IPPROTO_TCP;
	else if (e->proto == EDGE_PROTO_UDP)
		protos[n_protos++] = IPPROTO_UDP;
	else if (e->port) {
		/* "any" protocol with a port: ports exist for TCP and UDP only. */
		protos[n_protos++] = IPPROTO_TCP;
		protos[n_protos++] = IPPROTO_UDP;
	} else
		protos[n_protos++] = 0;
	if (e->n_prefixes == 0)
		return diag_add(d, -EINVAL, "edge %s has no destination prefix", e->name);
	for (unsigned i = 0; i < e->n_prefixes && i < EDGE_PREFIX_MAX; i++) {
		const struct edge_prefix *p = &e->prefixes[i];
		int fam = fam_index(p->family);
		if (fam < 0)
			return diag_add(d, -EINVAL, "edge %s: prefix %u has no address family",
					e->name, i + 1);
		for (unsigned k = 0; k < n_protos; k++) {
			f[n] = (struct filter_spec){
				.fam = (unsigned)fam,
				.grp = p->len >= 8 ? p->len : 0,
				.m = {
					.family = p->family,
					.prefix_len = p->len,
					.src = dir == DIR_IN,
					.ipproto = protos[k],
					.port = e->port,
				},
			};
			memcpy(f[n].m.addr, p->addr, sizeof(f[n].m.addr));
			f[n].bucket = prefix_bucket(&f[n].m, f[n].fam, f[n].grp);
			n++;
		}
	}
	*ret_n = n;
	return 0;
}

static bool same_match(const struct edge *a, const struct edge *b)
{
	if (a->n_prefixes != b->n_prefixes || a->port != b->port || a->proto != b->proto)
		return false;
	for (unsigned i = 0; i < a->n_prefixes && i < EDGE_PREFIX_MAX; i++)
		if (a->prefixes[i].family != b->prefixes[i].family ||
				a->prefixes[i].len != b->prefixes[i].len ||
				memcmp(a->prefixes[i].addr, b->prefixes[i].addr, 16) != 0)
			return false;
	return true;
}

/* Kernels with check_netem_in_tree() (2025 stable updates) refuse a duplicating netem on a
 * device that has another netem, and any netem next to a duplicating one. */
static void add_duplicating_hint(struct diag *d, int r, const char *ifname)
{
	diag_add(d, r, "the kernel refuses a duplicating netem next to other netems on one "
			"device; remove the other faults of this direction on %s first",
			ifname);
}

static int load_dist(struct datapath *dp, int dist, const struct netem_dist **ret,
		struct diag *d)
{
	const char *name;
	int r;

	if (dist == FAULT_DIST_UNIFORM) {
		*ret = NULL;
		return 0;
	}
	name = dist >= 0 && dist < _FAULT_DIST_MAX ? fault_dist_to_string(dist) : NULL;
	if (!name)
		return diag_add(d, -EINVAL, "unknown delay distribution %d", dist);
	if (dp->dists[dist].n == 0) {
		r = netem_dist_load(name, &dp->dists[dist], d);
		if (r < 0)
			return r;
	}
	*ret = &dp->dists[dist];
	return 0;
}

/* ---------------------------------------------------------------- add */

/* IFB shard k of a direction: chd-o<ifindex> for the first (all there is up to SHARD_CLASSES),
 * chd-o<ifindex>s<k> for the others. */
static int ifb_create(struct datapath *dp, struct dp_iface *iface, unsigned dir, unsigned k,
		struct diag *d)
{
	struct dp_side *s = &iface->dir[dir].ifb[k];
	struct nl_batch b;
	struct diag kd;
	int r, n;

	if (k == 0)
		n = snprintf(s->name, sizeof(s->name), DATAPATH_IFB_PREFIX "%c%d",
				dir == DIR_OUT ? 'o' : 'i', iface->ifindex);
	else
		n = snprintf(s->name, sizeof(s->name), DATAPATH_IFB_PREFIX "%c%ds%u",
				dir == DIR_OUT ? 'o' : 'i', iface->ifindex, k);
	if (n < 0 || (size_t)n >= sizeof(s->name)) {
		s->name[0] = '\0';
		return diag_add(d, -ENAMETOOLONG,
				"%s: its interface index %d is too long for the name of a further "
				"IFB for %s faults",
				iface->name, iface->ifindex, dir_str(dir));
	}
	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	for (int attempt = 0; attempt < 2; attempt++) {
		diag_init(&kd);
		nl_batch_reset(&b);
		r = nl_link_ifb_add(&b, dp->nl, s->name, NL_LINK_IFB_TXQLEN);
		if (r >= 0)
			r = nl_batch_send(&b, dp->nl, NULL, &kd);
		if (r != -EEXIST || attempt > 0)
			break;
		/* Left over by a chaosd that died: the name is ours, and nothing of this process
		 * uses it (we had no such IFB). */
		nl_batch_reset(&b);
		r = nl_link_del(&b, dp->nl, 0, s->name);
		if (r >= 0)
			r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
		if (r < 0)
			break;
	}
	nl_batch_done(&b);
	if (r < 0) {
		diag_add(d, r, "could not create the IFB %s for %s faults on %s", s->name,
				dir_str(dir), iface->name);
		if (r == -EOPNOTSUPP || strstr(kd.text, "Unknown device type"))
			diag_add(d, r, "the kernel has no ifb (modprobe ifb)");
		append_lines(d, &kd);
		s->name[0] = '\0';
		return r;
	}
	r = nl_link_ifindex(dp->nl, s->name, &s->ifindex);
	if (r < 0) {
		s->ifindex = 0;
		return diag_add(d, r, "the new IFB %s cannot be found: %s", s->name, strerror(-r));
	}
	s->parent = IFB_ROOT;
	return 0;
}

/* Forget an IFB shard (deleted, or about to be). */
static void ifb_forget(struct dp_side *s)
{
	*s = (struct dp_side){};
}

static void ifb_delete(struct datapath *dp, struct dp_side *s, struct diag *d)
{
	struct nl_batch b;

	if (s->ifindex && nl_batch_init(&b) >= 0) {
		if (nl_link_del(&b, dp->nl, s->ifindex, s->name) >= 0)
			(void)nl_batch_send(&b, dp->nl, tolerate_gone, d);
		nl_batch_done(&b);
	}
	ifb_forget(s);
}

int datapath_forget_interface(struct datapath *dp, int ifindex, struct diag *d)
{
	struct dp_iface *iface = iface_find(dp, ifindex);
	int n = 0;

	/* The kernel removed the clsact and its filters with the device; the IFBs are ours and
	 * independent of it, so they go now. */
	for (unsigned i = dp->n_slots; i-- > 0;)
		if (dp->slots[i]->ifindex == ifindex) {
			slot_forget(dp, dp->slots[i]);
			n++;
		}
	if (iface) {
		for (unsigned dir = 0; dir < _DIR_MAX; dir++)
			for (unsigned k = 0; k < MAX_SHARDS; k++)
				ifb_delete(dp, &iface->dir[dir].ifb[k], d);
		for (unsigned i = 0; i < dp->n_ifaces; i++)
			if (dp->ifaces[i] == iface) {
				dp->ifaces[i] = dp->ifaces[--dp->n_ifaces];
				free(iface);
				break;
			}
	}
	if (dp->journal)
		(void)journal_clsact_remove(dp->journal, ifindex);
	return n;
}

struct stale_scan {
	struct ht_objs h;
	int ifindex;
	uint32_t parent;
};

static int stale_cb(const struct nlmsghdr *nlh, void *data)
{
	struct stale_scan *s = data;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || (nl_tc_obj_prio(&o) != NL_TC_PRIO_V4 &&
						 nl_tc_obj_prio(&o) != NL_TC_PRIO_V6))
		return 0;
	return ht_objs_note(&s->h, &o, s->ifindex, s->parent);
}

/* Our instances at NL_TC_PRIO_V4/V6 under parent and this direction's tables, left by a
 * chaosd that died: a fresh direction starts without them (their redirect may point at a
 * deleted IFB, which drops). */
static int clean_stale_filters(struct datapath *dp, struct dp_iface *iface, unsigned dir,
		struct diag *d)
{
	struct stale_scan s = { .h.dir = (int)dir, .ifindex = iface->ifindex,
		.parent = real_parent(dir) };
	char buf[NL_TC_REQ_SIZE];
	struct nl_batch b;
	int r;

	r = nl_socket_dump(dp->nl, nl_tc_filter_dump_req(buf, s.ifindex, s.parent, 0, 0), stale_cb,
			&s, d);
	if (r < 0 && r != -ENOENT) {
		free(s.h.v);
		return r;
	}
	r = nl_batch_init(&b);
	if (r >= 0)
		r = put_ht_objs(dp, &b, &s.h, false);
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, d);
	nl_batch_done(&b);
	if (r >= 0)
		r = settle_real(dp, iface, dir, &s.h, d);
	free(s.h.v);
	return r;
}

/* The first clear bit of m at or after i, or end; whole bytes of set bits are skipped, so
 * that finding a free id among 1000 taken ones costs about 125 steps, not 1000. */
static unsigned first_clear(const uint8_t *m, unsigned i, unsigned end)
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

static int alloc_id(struct dp_dir *dd, uint16_t *ret)
{
	unsigned i = first_clear(dd->ids, SLOT_ID_MIN, SLOT_ID_MAX + 1);

	if (i > SLOT_ID_MAX)
		return -ENOSPC;
	bit_set(dd->ids, i, true);
	*ret = (uint16_t)i;
	return 0;
}

static int alloc_nodes(struct dp_dir *dd, const struct filter_spec *f, unsigned n,
		struct dp_node *nodes)
{
	unsigned next[_FAM_MAX] = { NL_TC_U32_NODE_MIN, NL_TC_U32_NODE_MIN };

	for (unsigned i = 0; i < n; i++) {
		unsigned fam = f[i].fam;
		unsigned k = first_clear(dd->nodes[fam], next[fam], NL_TC_U32_HT_NODE_MAX + 1);
		if (k > NL_TC_U32_HT_NODE_MAX) {
			for (unsigned j = 0; j < i; j++) {
				bit_set(dd->nodes[nodes[j].fam], nodes[j].node, false);
				dd->n_nodes[nodes[j].fam]--;
			}
			return -ENOSPC;
		}
		bit_set(dd->nodes[fam], k, true);
		dd->n_nodes[fam]++;
		nodes[i] = (struct dp_node){ (uint8_t)fam, f[i].grp, f[i].bucket, (uint16_t)k };
		next[fam] = k + 1;
	}
	return 0;
}

static void free_nodes(struct dp_dir *dd, const struct dp_node *nodes, unsigned n)
{
	/* The instance and its root id stay: the kernel destroys an instance by itself only
	 * when no u32 node is left on the qdisc (u32_delete() reports it last), and the links
	 * of made groups are nodes. */
	for (unsigned i = 0; i < n; i++) {
		bit_set(dd->nodes[nodes[i].fam], nodes[i].node, false);
		dd->n_nodes[nodes[i].fam]--;
	}
}

static void grp_set(struct dp_side *s, unsigned fam, unsigned g, bool v)
{
	bit_set(s->grp_made[fam], g, v);
}

/* A (family, group) an add needs that is not made on some side, with its messages per side
 * (-1: not in the batch). An add touches two sides: the real interface (SIDE_REAL) and the
 * IFB shard of the new class (SIDE_IFB). */
struct grp_ref {
	uint8_t fam, grp;
	int table[2], link[2];
};

/* ---------------------------------------------------------------- an edge's class */

/* The edge's class 1:<id> holds its netem leaf. With a share of flows it is an inner class whose
 * flowsel filter (cls_bpf: htb_classify() descends into an inner class's own filters) sends the
 * selected flows to 1:<sel_id>, whose leaf is the netem, and the others to 1:<rest_id>, whose
 * leaf is htb's default pfifo: they pass undelayed, and both classes count what they got. */
static bool split(const struct dp_slot *slot)
{
	return slot->flows < FLOWSEL_ALL;
}

static uint16_t netem_id(const struct dp_slot *slot)
{
	return split(slot) ? slot->sel_id : slot->id;
}

static int put_flows_filter(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
		const struct dp_slot *slot, uint32_t flows, bool replace)
{
	struct sock_filter prog[FLOWSEL_PROG_MAX];
	int n = flowsel_prog(flows, CLASSID(slot->rest_id), prog, ELEMENTSOF(prog));

	if (n < 0)
		return n;
	return nl_tc_bpf_put(b, dp->nl,
			&(struct nl_tc_bpf){ .ifindex = ifb.ifindex, .parent = CLASSID(slot->id),
				.prio = FLOWS_PRIO, .protocol = ETH_P_ALL, .handle = 1,
				.classid = CLASSID(slot->sel_id), .ops = prog,
				.n_ops = (unsigned)n },
			ifb.name, replace);
}

/* The edge's class and what hangs under it; *ret_netem is the netem's message. */
static int put_leaves(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
		const struct dp_slot *slot, const struct netem_config *cfg,
		const struct netem_dist *dist, int *ret_netem)
{
	int r;

	r = nl_tc_htb_class_add(b, dp->nl, ifb, IFB_ROOT, CLASSID(slot->id), HTB_RATE, HTB_BURST,
			HTB_QUANTUM);
	if (r >= 0 && split(slot))
		r = nl_tc_htb_class_add(b, dp->nl, ifb, CLASSID(slot->id), CLASSID(slot->sel_id),
				HTB_RATE, HTB_BURST, HTB_QUANTUM);
	if (r >= 0 && split(slot))
		r = nl_tc_htb_class_add(b, dp->nl, ifb, CLASSID(slot->id), CLASSID(slot->rest_id),
				HTB_RATE, HTB_BURST, HTB_QUANTUM);
	if (r >= 0 && split(slot))
		r = put_flows_filter(dp, b, ifb, slot, slot->flows, false);
	if (r < 0)
		return r;
	*ret_netem = (int)b->n;
	return nl_tc_netem_put(b, dp->nl, ifb, CLASSID(netem_id(slot)),
			NETEM_HANDLE(netem_id(slot)), cfg, dist, false);
}

/* Delete the edge's class: the filter first (htb refuses to delete a class a filter points at),
 * the leaf classes (an inner class with children cannot go), then the class; each class takes
 * its leaf qdisc with it. What is not there is tolerated. */
static int put_leaves_del(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
		const struct dp_slot *slot)
{
	int r = 0;

	if (split(slot)) {
		r = nl_tc_filter_del(b, dp->nl, ifb, CLASSID(slot->id), FLOWS_PRIO, ETH_P_ALL, 0);
		if (r >= 0)
			r = nl_tc_class_del(b, dp->nl, ifb, CLASSID(slot->sel_id));
		if (r >= 0)
			r = nl_tc_class_del(b, dp->nl, ifb, CLASSID(slot->rest_id));
	}
	if (r >= 0)
		r = nl_tc_class_del(b, dp->nl, ifb, CLASSID(slot->id));
	return r;
}

static void free_ids(struct dp_dir *dd, const struct dp_slot *slot)
{
	bit_set(dd->ids, slot->id, false);
	if (split(slot)) {
		bit_set(dd->ids, slot->sel_id, false);
		bit_set(dd->ids, slot->rest_id, false);
	}
}

/* Message indexes of one add batch, -1 = not in it. */
struct add_msgs {
	int clsact, htb, class, netem;
	int filter[2][MAX_FILTERS]; /* per side */
	unsigned n_groups;
	struct grp_ref groups[MAX_FILTERS];
};

static bool msg_ok(const struct nl_batch *b, int i)
{
	return i >= 0 && (unsigned)i < b->n && b->errs[i] == 0;
}

/* One side's part of an add: the tables and links of groups not made yet, then the edge's
 * nodes in their buckets (on the IFB with the class, on the interface with the redirect to the
 * IFB ifb). */
static int put_add_side(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, unsigned side, const struct dp_side *ifb,
		const struct filter_spec *f, const struct dp_node *nodes, unsigned n, uint16_t id,
		struct add_msgs *m)
{
	int r;

	for (unsigned k = 0; k < m->n_groups; k++) {
		struct grp_ref *g = &m->groups[k];
		if (grp_made(s, g->fam, g->grp))
			continue;
		r = put_group_add(dp, b, dir, s, g->fam, g->grp, &g->table[side], &g->link[side]);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < n; i++) {
		struct nl_tc_u32 u = {
			.ifindex = s->ifindex,
			.parent = s->parent,
			.prio = fam_prio[f[i].fam],
			.protocol = fam_proto[f[i].fam],
			.handle = nodes[i].node,
			.ht = HT_ID(dir, f[i].fam, f[i].grp) | (uint32_t)f[i].bucket << 12,
		};
		if (side == SIDE_IFB)
			u.classid = CLASSID(id);
		else
			u.redirect_ifindex = ifb->ifindex;
		m->filter[side][i] = (int)b->n;
		r = nl_tc_u32_add(b, dp->nl, &u, &f[i].m, s->name);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Undo one side of a failed add in a direction that keeps other faults: the nodes that made
 * it; a new group that got its link stays made (as if an edge of it had come and gone), one
 * whose link failed loses its table (nothing holds it yet). */
static int put_rollback_side(struct datapath *dp, struct nl_batch *b, unsigned dir,
		struct dp_side *s, unsigned side, const struct nl_batch *done, struct add_msgs *m,
		const struct dp_node *nodes, unsigned n)
{
	int r;

	for (unsigned i = 0; i < n; i++) {
		if (!msg_ok(done, m->filter[side][i]))
			continue;
		r = put_node_del(dp, b, dir, s, &nodes[i]);
		if (r < 0)
			return r;
	}
	for (unsigned k = 0; k < m->n_groups; k++) {
		const struct grp_ref *g = &m->groups[k];
		if (msg_ok(done, g->link[side])) {
			grp_set(s, g->fam, g->grp, true);
		} else if (msg_ok(done, g->table[side])) {
			r = nl_tc_filter_del(b, dp->nl, side_dev(s), s->parent, fam_prio[g->fam],
					fam_proto[g->fam], HT_ID(dir, g->fam, g->grp));
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Undo what succeeded of a failed add so nothing stays half applied. */
static void rollback_add(struct datapath *dp, struct dp_iface *iface, unsigned dir,
		const struct nl_batch *done, struct add_msgs *m, const struct dp_node *nodes,
		unsigned n, bool clsact_new, bool ifb_new, const struct dp_slot *slot,
		struct diag *d)
{
	struct dp_dir *dd = &iface->dir[dir];
	struct dp_side *ifb = &dd->ifb[slot->shard];
	bool real_whole = clsact_new && msg_ok(done, m->clsact);
	/* The first fault of the direction on a clsact that stays: its instances go. */
	bool real_teardown = !real_whole && dd->n_slots == 0;
	uint8_t made_now[_FAM_MAX][GRP_BYTES] = {};
	struct ht_objs h = { .dir = (int)dir };
	struct nl_batch b;
	struct diag kd;
	int r;

	diag_init(&kd);
	if (real_teardown) {
		bool need[_FAM_MAX] = { false, false };
		for (unsigned k = 0; k < m->n_groups; k++)
			if (msg_ok(done, m->groups[k].table[SIDE_REAL])) {
				bit_set(made_now[m->groups[k].fam], m->groups[k].grp, true);
				need[m->groups[k].fam] = true;
			}
		(void)learn_roots(dp, dir, &dd->real, need, &kd);
		r = dir_objs(dir, &dd->real, made_now, &h);
		if (r < 0)
			goto out;
	}
	r = nl_batch_init(&b);
	if (r < 0)
		goto out;
	/* Real interface first: traffic stops being redirected. A clsact made by this call goes
	 * with everything on it. */
	if (real_whole)
		r = nl_tc_clsact_del(&b, dp->nl, side_dev(&dd->real));
	else if (real_teardown)
		r = put_ht_objs(dp, &b, &h, false);
	else
		r = put_rollback_side(dp, &b, dir, &dd->real, SIDE_REAL, done, m, nodes, n);
	if (r >= 0 && ifb_new) {
		r = nl_link_del(&b, dp->nl, ifb->ifindex, ifb->name);
	} else if (r >= 0) {
		r = put_rollback_side(dp, &b, dir, ifb, SIDE_IFB, done, m, nodes, n);
		if (r >= 0 && msg_ok(done, m->class))
			r = put_leaves_del(dp, &b, side_dev(ifb), slot);
	}
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
	nl_batch_done(&b);
	if (r >= 0 && real_teardown)
		r = settle_real(dp, iface, dir, &h, &kd);
	if (real_teardown)
		memset(dd->real.htid, 0, sizeof(dd->real.htid));
out:
	if (r < 0) {
		diag_add(d, r, "undoing the partial change on %s failed; `chaosd --cleanup` "
				"removes what is left",
				iface->name);
		append_lines(d, &kd);
	}
	free(h.v);
	if (ifb_new)
		ifb_forget(ifb);
	if (clsact_new) {
		if (r >= 0 || !msg_ok(done, m->clsact)) {
			if (dp->journal)
				(void)journal_clsact_remove(dp->journal, iface->ifindex);
			iface->clsact_present = false;
			iface->clsact_ours = false;
		} else {
			/* Still there: remember it is ours so a removal or cleanup deletes it. */
			iface->clsact_present = true;
			iface->clsact_ours = true;
		}
	}
}

/* The classes an edge's slot takes on its IFB: one, or an inner one with two leaves. */
static unsigned slot_classes(const struct dp_slot *slot)
{
	return split(slot) ? 3 : 1;
}

/* The IFB shard for a new slot of `classes` classes: the first with room, or the first free
 * place for a new one (*ret_new). Filling the first ones keeps the IFBs few. */
static int shard_pick(const struct dp_dir *dd, unsigned classes, uint8_t *ret, bool *ret_new)
{
	unsigned free_k = MAX_SHARDS;

	for (unsigned k = 0; k < MAX_SHARDS; k++) {
		const struct dp_side *s = &dd->ifb[k];
		if (s->ifindex && s->n_classes + classes <= SHARD_CLASSES) {
			*ret = (uint8_t)k;
			*ret_new = false;
			return 0;
		}
		if (!s->ifindex && free_k == MAX_SHARDS)
			free_k = k;
	}
	if (free_k == MAX_SHARDS)
		return -ENOSPC;
	*ret = (uint8_t)free_k;
	*ret_new = true;
	return 0;
}

static int add_slot(struct datapath *dp, const struct edge *e, int ifindex, unsigned dir,
		const struct netem_config *cfg, uint32_t flows, struct diag *d)
{
	_cleanup_free_ struct dp_slot *slot = NULL;
	struct filter_spec f[MAX_FILTERS];
	const struct netem_dist *dist;
	unsigned n = 0;
	bool clsact_new = false, ifb_new = false;
	struct dp_iface *iface;
	struct add_msgs m;
	struct dp_dir *dd;
	struct dp_side *ifb;
	struct nl_batch b = {};
	struct dp_slot **a;
	struct diag kd;
	int r;

	r = edge_filters(e, dir, f, &n, d);
	if (r < 0)
		return r;
	r = load_dist(dp, cfg->dist, &dist, d);
	if (r < 0)
		return r;
	r = iface_get(dp, ifindex, dir, &iface, d);
	if (r < 0)
		return r;
	dd = &iface->dir[dir];
	/* Room for the record first: once the kernel has the objects, they must be remembered. */
	a = reallocarray(dp->slots, dp->n_slots + 1, sizeof(*a));
	if (!a) {
		iface_drop_if_unused(dp, iface);
		return -ENOMEM;
	}
	dp->slots = a;

	slot = calloc(1, sizeof(*slot));
	if (!slot) {
		iface_drop_if_unused(dp, iface);
		return -ENOMEM;
	}
	snprintf(slot->edge, sizeof(slot->edge), "%s", e->name);
	slot->edge_hash = edge_name_hash(slot->edge);
	slot->ifindex = ifindex;
	slot->dir = dir;
	slot->match = *e;
	slot->has_table = dist != NULL;
	slot->flows = FLOWSEL_ALL;
	r = alloc_id(dd, &slot->id);
	if (r >= 0 && flows < FLOWSEL_ALL) {
		r = alloc_id(dd, &slot->sel_id);
		if (r >= 0 && alloc_id(dd, &slot->rest_id) < 0) {
			bit_set(dd->ids, slot->sel_id, false);
			r = -ENOSPC;
		}
		if (r >= 0)
			slot->flows = flows;
		else
			bit_set(dd->ids, slot->id, false);
	}
	if (r < 0) {
		iface_drop_if_unused(dp, iface);
		return diag_add(d, -ENOSPC, "%s: no free class id for %s faults", iface->name,
				dir_str(dir));
	}
	if (alloc_nodes(dd, f, n, slot->nodes) < 0) {
		free_ids(dd, slot);
		iface_drop_if_unused(dp, iface);
		return diag_add(d, -ENOSPC,
				"%s: chaosd's %u filter handles for %s faults are used up (edge "
				"%s needs %u)",
				iface->name, NL_TC_U32_HT_NODE_MAX, dir_str(dir), e->name, n);
	}
	slot->n_nodes = n;
	if (shard_pick(dd, slot_classes(slot), &slot->shard, &ifb_new) < 0) {
		free_nodes(dd, slot->nodes, slot->n_nodes);
		free_ids(dd, slot);
		iface_drop_if_unused(dp, iface);
		return diag_add(d, -ENOSPC, "%s: chaosd's %u IFBs of %u classes for %s faults are "
					    "full (edge %s needs %u)",
				iface->name, (unsigned)MAX_SHARDS, (unsigned)SHARD_CLASSES,
				dir_str(dir), e->name, slot_classes(slot));
	}
	ifb = &dd->ifb[slot->shard];

	if (dd->n_slots == 0 && iface->clsact_present) {
		r = clean_stale_filters(dp, iface, dir, d);
		if (r < 0)
			goto fail_early;
	}
	/* A new IFB goes first in its own request: the redirect needs its ifindex. */
	if (ifb_new) {
		r = ifb_create(dp, iface, dir, slot->shard, d);
		if (r < 0)
			goto fail_early;
	}

	memset(&m, -1, sizeof(m));
	m.n_groups = 0;
	for (unsigned i = 0; i < n; i++) {
		bool listed = false;
		for (unsigned k = 0; k < m.n_groups; k++)
			listed = listed ||
				 (m.groups[k].fam == f[i].fam && m.groups[k].grp == f[i].grp);
		if (!listed && (!grp_made(&dd->real, f[i].fam, f[i].grp) ||
					       !grp_made(ifb, f[i].fam, f[i].grp)))
			m.groups[m.n_groups++] = (struct grp_ref){ (uint8_t)f[i].fam, f[i].grp,
				{ -1, -1 }, { -1, -1 } };
	}
	r = nl_batch_init(&b);
	if (r < 0)
		goto fail_early;
	if (!iface->clsact_present) {
		/* Journal first: a chaosd killed right after the kernel made it still knows the
		 * clsact is its own to delete. */
		if (dp->journal) {
			r = journal_clsact_add(dp->journal, iface->ifindex, iface->name);
			if (r < 0) {
				diag_add(d, r, "journal: recording the clsact on %s: %s",
						iface->name, strerror(-r));
				goto fail_early;
			}
		}
		clsact_new = true;
		m.clsact = (int)b.n;
		r = nl_tc_clsact_add(&b, dp->nl, (struct nl_tc_dev){ iface->ifindex, iface->name });
		if (r < 0)
			goto fail_batch;
	}
	if (ifb_new) {
		m.htb = (int)b.n;
		r = nl_tc_htb_root_add(&b, dp->nl, side_dev(ifb), IFB_ROOT, HTB_DIRECT_QLEN);
		if (r < 0)
			goto fail_batch;
	}
	m.class = (int)b.n;
	r = put_leaves(dp, &b, side_dev(ifb), slot, cfg, dist, &m.netem);
	if (r < 0)
		goto fail_batch;
	/* Classification on the IFB before the redirect that feeds it. */
	r = put_add_side(dp, &b, dir, ifb, SIDE_IFB, ifb, f, slot->nodes, n, slot->id, &m);
	if (r >= 0)
		r = put_add_side(dp, &b, dir, &dd->real, SIDE_REAL, ifb, f, slot->nodes, n,
				slot->id, &m);
	if (r < 0)
		goto fail_batch;

	diag_init(&kd);
	r = nl_batch_send(&b, dp->nl, NULL, &kd);
	if (r < 0) {
		int netem_err = m.netem >= 0 && (unsigned)m.netem < b.n ? b.errs[m.netem] : 0;
		bool no_netem = (netem_err == -ENOENT || netem_err == -EINVAL) &&
				strstr(kd.text, "qdisc kind is unknown");
		if (no_netem) {
			/* The kernel's ENOENT would read as "no such edge" to a caller. */
			r = diag_add(d, -EOPNOTSUPP, NO_SCH_NETEM);
		} else {
			diag_add(d, r, "edge %s: setting up its %s fault on %s failed", e->name,
					dir_str(dir), iface->name);
			if (netem_err < 0 && strstr(kd.text, "duplicating"))
				add_duplicating_hint(d, r, iface->name);
		}
		append_lines(d, &kd);
		rollback_add(dp, iface, dir, &b, &m, slot->nodes, n, clsact_new, ifb_new, slot, d);
		goto fail_state;
	}
	nl_batch_done(&b);

	if (clsact_new) {
		iface->clsact_present = true;
		iface->clsact_ours = true;
	}
	for (unsigned k = 0; k < m.n_groups; k++) {
		grp_set(&dd->real, m.groups[k].fam, m.groups[k].grp, true);
		grp_set(ifb, m.groups[k].fam, m.groups[k].grp, true);
	}
	ifb->n_classes += slot_classes(slot);
	dd->n_slots++;
	slot_insert(dp, TAKE_PTR(slot));
	return 0;

fail_batch:
	diag_add(d, r, "edge %s: building the netlink request failed: %s", e->name, strerror(-r));
	rollback_add(dp, iface, dir, &b, &m, slot->nodes, 0, clsact_new, ifb_new, slot, d);
	goto fail_state;
fail_early:
	if (ifb_new)
		ifb_delete(dp, ifb, d);
fail_state:
	nl_batch_done(&b);
	free_nodes(dd, slot->nodes, slot->n_nodes);
	free_ids(dd, slot);
	iface_drop_if_unused(dp, iface);
	return r;
}

/* ---------------------------------------------------------------- change */

static int change_slot(struct datapath *dp, struct dp_slot *slot, const struct netem_config *cfg,
		uint32_t flows, struct diag *d)
{
	struct dp_iface *iface = iface_find(dp, slot->ifindex);
	struct netem_dist uniform = { dp->uniform, NL_TC_UNIFORM_TABLE };
	const struct netem_dist *dist;
	struct nl_tc_dev ifb;
	struct nl_batch b;
	struct diag kd;
	int r, filter_msg = -1;

	if (!iface)
		return -ENOENT;
	ifb = side_dev(&iface->dir[slot->dir].ifb[slot->shard]);
	r = load_dist(dp, cfg->dist, &dist, d);
	if (r < 0)
		return r;
	/* netem_change() keeps the old table when none is sent; replace it by a uniform one
	 * (jitter 0 never reads the table). */
	if (!dist && slot->has_table && cfg->jitter_ns)
		dist = &uniform;
	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	/* Another share: the program is swapped in place, in the batch of the netem change. */
	if (flows != slot->flows) {
		filter_msg = (int)b.n;
		r = put_flows_filter(dp, &b, ifb, slot, flows, true);
	}
	if (r >= 0)
		r = nl_tc_netem_put(&b, dp->nl, ifb, CLASSID(netem_id(slot)),
				NETEM_HANDLE(netem_id(slot)), cfg, dist, true);
	if (r >= 0) {
		diag_init(&kd);
		r = nl_batch_send(&b, dp->nl, NULL, &kd);
		if (r < 0) {
			diag_add(d, r, "edge %s: changing its %s fault on %s failed", slot->edge,
					dir_str(slot->dir), iface->name);
			if (strstr(kd.text, "duplicating"))
				add_duplicating_hint(d, r, iface->name);
			append_lines(d, &kd);
		}
		/* each message has its answer: the share may have changed, the netem not */
		if (msg_ok(&b, filter_msg))
			slot->flows = flows;
	}
	nl_batch_done(&b);
	if (r < 0)
		return r;
	if (dist)
		slot->has_table = true;
	return 0;
}

/* ---------------------------------------------------------------- remove */

struct foreign_find {
	bool foreign;
};

static int foreign_cb(const struct nlmsghdr *nlh, void *data)
{
	struct foreign_find *f = data;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0)
		return 0;
	if ((nl_tc_obj_prio(&o) != NL_TC_PRIO_V4 && nl_tc_obj_prio(&o) != NL_TC_PRIO_V6) ||
			o.chain != 0)
		f->foreign = true;
	return 0;
}

/* Whether anything but chaosd's filters is attached to the clsact of ifindex. On error
 * (unknown), yes: then the clsact stays. */
static bool clsact_has_foreign(struct datapath *dp, int ifindex)
{
	static const uint32_t parents[] = { NL_TC_INGRESS_PARENT, NL_TC_EGRESS_PARENT };
	struct foreign_find f = { false };
	char buf[NL_TC_REQ_SIZE];

	for (unsigned i = 0; i < ELEMENTSOF(parents); i++)
		if (nl_socket_dump(dp->nl, nl_tc_filter_dump_req(buf, ifindex, parents[i], 0, 0),
				    foreign_cb, &f, NULL) < 0)
			return true;
	return f.foreign;
}

static int remove_slot(struct datapath *dp, struct dp_slot *slot, struct diag *d)
{
	struct dp_iface *iface = iface_find(dp, slot->ifindex);
	struct ht_objs h = { .dir = -1 };
	struct dp_dir *dd;
	struct dp_side *ifb;
	struct nl_batch b;
	struct diag kd;
	bool last_in_dir, last_in_ifb, del_clsact = false;
	int r, clsact_msg = -1;

	if (!iface) {
		slot_forget(dp, slot);
		return 0;
	}
	dd = &iface->dir[slot->dir];
	ifb = &dd->ifb[slot->shard];
	last_in_dir = dd->n_slots <= 1;
	last_in_ifb = ifb->n_classes <= slot_classes(slot);
	diag_init(&kd);
	if (last_in_dir)
		del_clsact = iface->dir[!slot->dir].n_slots == 0 && iface->clsact_ours &&
			     !clsact_has_foreign(dp, iface->ifindex);
	if (last_in_dir && !del_clsact) {
		/* Everything that needs a dump happens before the batch is built. */
		bool need[_FAM_MAX] = { false, false };
		for (unsigned fam = 0; fam < _FAM_MAX; fam++)
			for (unsigned g = 0; g < N_GROUPS; g++)
				need[fam] = need[fam] || grp_made(&dd->real, fam, g);
		r = learn_roots(dp, slot->dir, &dd->real, need, &kd);
		if (r >= 0)
			r = dir_objs(slot->dir, &dd->real, NULL, &h);
		if (r < 0) {
			diag_add(d, r, "edge %s: finding its filters on %s failed", slot->edge,
					iface->name);
			append_lines(d, &kd);
			free(h.v);
			return r;
		}
	}
	r = nl_batch_init(&b);
	if (r < 0) {
		free(h.v);
		return r;
	}
	if (!last_in_dir) {
		/* The edge's nodes, on the interface first: its traffic is back to normal at once;
		 * then on the IFB, before the class (htb refuses to delete a class a filter points
		 * at), which takes its netem leaf. Its groups stay for the direction's others. The
		 * last edge of an IFB takes the IFB with everything on it instead. */
		for (unsigned i = 0; i < slot->n_nodes && r >= 0; i++)
			r = put_node_del(dp, &b, slot->dir, &dd->real, &slot->nodes[i]);
		for (unsigned i = 0; i < slot->n_nodes && r >= 0 && !last_in_ifb; i++)
			r = put_node_del(dp, &b, slot->dir, ifb, &slot->nodes[i]);
		if (r >= 0 && !last_in_ifb)
			r = put_leaves_del(dp, &b, side_dev(ifb), slot);
		if (r >= 0 && last_in_ifb)
			r = nl_link_del(&b, dp->nl, ifb->ifindex, ifb->name);
	} else if (del_clsact) {
		/* The clsact chaosd made takes every filter on it. */
		clsact_msg = (int)b.n;
		r = nl_tc_clsact_del(&b, dp->nl, side_dev(&dd->real));
	} else {
		/* The links: traffic stops going to the IFB; tables and instances follow once
		 * the kernel let go of the links (settle_real). */
		r = put_ht_objs(dp, &b, &h, false);
	}
	/* the last of the direction: its IFBs, with their htb, classes, netems and filters */
	for (unsigned k = 0; k < MAX_SHARDS && r >= 0 && last_in_dir; k++)
		if (dd->ifb[k].ifindex)
			r = nl_link_del(&b, dp->nl, dd->ifb[k].ifindex, dd->ifb[k].name);
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
	if (r >= 0 && last_in_dir && !del_clsact)
		r = settle_real(dp, iface, slot->dir, &h, &kd);
	free(h.v);
	if (r < 0) {
		diag_add(d, r, "edge %s: removing its %s fault on %s failed", slot->edge,
				dir_str(slot->dir), iface->name);
		append_lines(d, &kd);
		if (del_clsact && msg_ok(&b, clsact_msg)) {
			if (dp->journal)
				(void)journal_clsact_remove(dp->journal, iface->ifindex);
			iface->clsact_present = false;
			iface->clsact_ours = false;
		}
		nl_batch_done(&b);
		/* The slot stays: removing again tolerates what is already gone. */
		return r;
	}
	nl_batch_done(&b);

	if (del_clsact) {
		if (dp->journal)
			(void)journal_clsact_remove(dp->journal, iface->ifindex);
		iface->clsact_present = false;
		iface->clsact_ours = false;
	}
	free_nodes(dd, slot->nodes, slot->n_nodes);
	free_ids(dd, slot);
	dd->n_slots--;
	ifb->n_classes -= slot_classes(slot);
	if (last_in_ifb)
		ifb_forget(ifb);
	if (last_in_dir) {
		memset(dd->real.htid, 0, sizeof(dd->real.htid));
		memset(dd->real.grp_made, 0, sizeof(dd->real.grp_made));
		for (unsigned k = 0; k < MAX_SHARDS; k++)
			ifb_forget(&dd->ifb[k]);
	}
	slot_forget(dp, slot);
	iface_drop_if_unused(dp, iface);
	return 0;
}

/* ---------------------------------------------------------------- entry points */

static int dir_index(enum fault_direction dir, unsigned *ret)
{
	if (dir == FAULT_DIR_OUT)
		*ret = DIR_OUT;
	else if (dir == FAULT_DIR_IN)
		*ret = DIR_IN;
	else
		return -EINVAL;
	return 0;
}

int datapath_set_netem(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, const struct netem_config *cfg, struct diag *d)
{
	return datapath_set_netem_flows(dp, e, ifindex, dir, cfg, FLOWSEL_ALL, d);
}

int datapath_set_netem_flows(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, const struct netem_config *cfg, uint32_t flows,
		struct diag *d)
{
	struct dp_slot *slot;
	unsigned di;
	int r;

	if (!dp || !e || flows == 0 || flows > FLOWSEL_ALL)
		return -EINVAL;
	if (dir_index(dir, &di) < 0)
		return diag_add(d, -EINVAL, "edge %s: one direction at a time (out or in)",
				e->name);
	slot = slot_find(dp, e->name, di);
	if (!cfg)
		return slot ? remove_slot(dp, slot, d) : 0;
	if (ifindex <= 0)
		return diag_add(d, -ENODEV, "edge %s: no interface", e->name);
	/* Rebuilt: an edge that moved (route or config change) needs other filters; one going
	 * from a share of flows to all of them or back needs its class to become a leaf or an
	 * inner class, which htb does only by deleting the netem under it. */
	if (slot && (slot->ifindex != ifindex || !same_match(&slot->match, e) ||
				    split(slot) != (flows < FLOWSEL_ALL))) {
		r = remove_slot(dp, slot, d);
		if (r < 0)
			return r;
		slot = NULL;
	}
	if (slot)
		return change_slot(dp, slot, cfg, flows, d);
	return add_slot(dp, e, ifindex, di, cfg, flows, d);
}

struct stats_find {
	int ifindex;
	uint32_t handle;
	bool found;
	struct datapath_stats st;
};

static int stats_cb(const struct nlmsghdr *nlh, void *data)
{
	struct stats_find *f = data;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || o.ifindex != f->ifindex || o.handle != f->handle)
		return 0;
	f->found = true;
	f->st = (struct datapath_stats){
		.packets = o.packets,
		.bytes = o.bytes,
		.drops = o.drops,
		.qlen = o.qlen,
		.requeues = o.requeues,
	};
	return 0;
}

int datapath_get_stats(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, struct datapath_stats *ret)
{
	struct stats_find f = {};
	char buf[NL_TC_REQ_SIZE];
	struct dp_iface *iface;
	struct dp_slot *slot;
	unsigned di;
	int r;

	if (!dp || !e || dir_index(dir, &di) < 0)
		return -EINVAL;
	slot = slot_find(dp, e->name, di);
	if (!slot || (ifindex > 0 && slot->ifindex != ifindex))
		return -ENOENT;
	iface = iface_find(dp, slot->ifindex);
	if (!iface)
		return -ENOENT;
	f.ifindex = iface->dir[di].ifb[slot->shard].ifindex;
	f.handle = NETEM_HANDLE(netem_id(slot));
	r = nl_socket_dump(dp->nl, nl_tc_qdisc_dump_req(buf), stats_cb, &f, NULL);
	if (r < 0)
		return r;
	if (!f.found)
		return -ENOENT;
	*ret = f.st;
	return 0;
}

/* ---------------------------------------------------------------- remove_all / count */

struct owned_tp {
	int ifindex;
	uint32_t parent;
	uint16_t prio, protocol;
};

struct owned_clsact {
	int ifindex;
	bool foreign;
	bool ours;
};

struct owned {
	struct nl_link_info *ifbs;
	unsigned n_ifbs;
	struct owned_tp *tps;
	unsigned n_tps;
	struct owned_clsact *clsacts;
	unsigned n_clsacts;
	struct ht_objs hts; /* chaosd's tables and links, deleted before their instances */
	/* scratch for the filter dump callback */
	int cur_ifindex;
	uint32_t cur_parent;
	struct owned_clsact *cur;
	int err;
};

static void owned_done(struct owned *o)
{
	free(o->ifbs);
	free(o->tps);
	free(o->clsacts);
	free(o->hts.v);
}

static int owned_ifb_cb(const struct nl_link_info *l, void *userdata)
{
	struct owned *o = userdata;
	struct nl_link_info *a = reallocarray(o->ifbs, o->n_ifbs + 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	o->ifbs = a;
	a[o->n_ifbs++] = *l;
	return 0;
}

static int owned_qdisc_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct owned *o = userdata;
	struct owned_clsact *a;
	struct nl_tc_obj q;

	if (nl_tc_parse(nlh, &q) < 0 || q.parent != TC_H_INGRESS || !streq(q.kind, "clsact"))
		return 0;
	a = reallocarray(o->clsacts, o->n_clsacts + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	o->clsacts = a;
	a[o->n_clsacts++] = (struct owned_clsact){ .ifindex = q.ifindex };
	return 0;
}

static int owned_filter_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct owned *o = userdata;
	struct owned_tp *a;
	struct nl_tc_obj f;
	uint16_t prio;

	if (nl_tc_parse(nlh, &f) < 0)
		return 0;
	prio = nl_tc_obj_prio(&f);
	if ((prio != NL_TC_PRIO_V4 && prio != NL_TC_PRIO_V6) || f.chain != 0) {
		o->cur->foreign = true;
		return 0;
	}
	if (ht_objs_note(&o->hts, &f, o->cur_ifindex, o->cur_parent) < 0)
		return -ENOMEM;
	/* A dump has one message per node; one delete removes the whole instance. */
	for (unsigned i = 0; i < o->n_tps; i++)
		if (o->tps[i].ifindex == o->cur_ifindex && o->tps[i].parent == o->cur_parent &&
				o->tps[i].prio == prio)
			return 0;
	a = reallocarray(o->tps, o->n_tps + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	o->tps = a;
	a[o->n_tps++] = (struct owned_tp){ o->cur_ifindex, o->cur_parent, prio,
		nl_tc_obj_protocol(&f) };
	return 0;
}

static bool clsact_is_ours(struct datapath *dp, int ifindex)
{
	struct dp_iface *iface = iface_find(dp, ifindex);

	return journal_clsact_created(dp->journal, ifindex) || (iface && iface->clsact_ours);
}

/* Everything chaosd owns in the kernel, found by names and priorities alone. */
static int owned_scan(struct datapath *dp, struct owned *o, struct diag *d)
{
	static const uint32_t parents[] = { NL_TC_INGRESS_PARENT, NL_TC_EGRESS_PARENT };
	char buf[NL_TC_REQ_SIZE];
	int r, first = 0;

	r = nl_link_list_ifbs(dp->nl, DATAPATH_IFB_PREFIX, owned_ifb_cb, o, d);
	if (r < 0)
		first = diag_add(d, r, "listing chaosd's IFB devices failed: %s", strerror(-r));
	r = nl_socket_dump(dp->nl, nl_tc_qdisc_dump_req(buf), owned_qdisc_cb, o, d);
	if (r < 0) {
		diag_add(d, r, "listing qdiscs failed: %s", strerror(-r));
		if (first == 0)
			first = r;
	}
	for (unsigned i = 0; i < o->n_clsacts; i++) {
		o->cur = &o->clsacts[i];
		o->cur->ours = clsact_is_ours(dp, o->cur->ifindex);
		for (unsigned k = 0; k < ELEMENTSOF(parents); k++) {
			o->cur_ifindex = o->cur->ifindex;
			o->cur_parent = parents[k];
			struct nlmsghdr *req;
			req = nl_tc_filter_dump_req(buf, o->cur_ifindex, parents[k], 0, 0);
			r = nl_socket_dump(dp->nl, req, owned_filter_cb, o, d);
			if (r == -ENODEV || r == -ENOENT)
				continue; /* gone meanwhile */
			if (r < 0) {
				/* Not knowing what else is attached: the clsact stays. */
				o->cur->foreign = true;
				diag_add(d, r, "listing the filters on ifindex %d failed: %s",
						o->cur_ifindex, strerror(-r));
				if (first == 0)
					first = r;
			}
		}
	}
	return first;
}

/* One cleanup batch; tag[i] is the ifindex whose chaosd clsact message i deletes, else 0, or
 * -1 for a part of an instance (a table or link) that is not counted as an object. */
struct cleanup {
	struct nl_batch b;
	int *tag;
	unsigned cap;
	unsigned removed;
	int first;
};

static void cleanup_send(struct datapath *dp, struct cleanup *c, struct diag *d)
{
	int r;

	if (c->b.n == 0)
		return;
	r = nl_batch_send(&c->b, dp->nl, tolerate_gone, d);
	if (r < 0 && c->first == 0)
		c->first = r;
	for (unsigned i = 0; i < c->b.n; i++) {
		if (c->b.errs[i] != 0 || c->tag[i] < 0)
			continue;
		c->removed++;
		if (c->tag[i] && dp->journal)
			(void)journal_clsact_remove(dp->journal, c->tag[i]);
	}
	nl_batch_reset(&c->b);
}

/* Make room for one more message (a second batch only when one is full: thousands of
 * interfaces), then note its tag once the builder put it. */
static int cleanup_room(struct datapath *dp, struct cleanup *c, struct diag *d)
{
	if (mnl_nlmsg_batch_size(c->b.b) + 8192 >= NL_BATCH_SIZE)
		cleanup_send(dp, c, d);
	if (c->b.n == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 64;
		int *t = reallocarray(c->tag, cap, sizeof(*t));
		if (!t)
			return -ENOMEM;
		c->tag = t;
		c->cap = cap;
	}
	return 0;
}

static void cleanup_put(struct cleanup *c, int r, int tag, struct diag *d)
{
	if (r < 0) {
		diag_add(d, r, "building the cleanup request failed: %s", strerror(-r));
		if (c->first == 0)
			c->first = r;
		return;
	}
	c->tag[c->b.n - 1] = tag;
}

static bool owned_foreign(const struct owned *o, int ifindex)
{
	for (unsigned i = 0; i < o->n_clsacts; i++)
		if (o->clsacts[i].ifindex == ifindex)
			return o->clsacts[i].foreign;
	return true;
}

/* chaosd's instances on clsacts with (foreign == true) or without someone else's filters. */
static void put_owned_tps(struct datapath *dp, struct cleanup *c, const struct owned *o,
		bool foreign, struct diag *d)
{
	for (unsigned i = 0; i < o->n_tps; i++) {
		const struct owned_tp *t = &o->tps[i];
		struct nl_tc_dev dev = { t->ifindex, NULL };
		if (owned_foreign(o, t->ifindex) != foreign || cleanup_room(dp, c, d) < 0)
			continue;
		cleanup_put(c,
				nl_tc_filter_del(&c->b, dp->nl, dev, t->parent, t->prio,
						t->protocol, 0),
				0, d);
	}
}

int datapath_remove_all(struct datapath *dp, struct diag *d)
{
	struct cleanup c = {};
	struct owned o = { .hts.dir = -1 };
	int r;

	c.first = owned_scan(dp, &o, d);
	r = nl_batch_init(&c.b);
	if (r < 0) {
		owned_done(&o);
		return r;
	}
	/* One batch, in this order: the redirects (traffic stops going to the IFBs before they
	 * disappear; a redirect to a deleted device drops), the IFBs (each takes its htb,
	 * classes, netems and filters), then the clsacts chaosd made and nobody else uses.
	 * The redirects are chaosd's instances; on a clsact with someone else's filters, whose
	 * u32 tables would outlive them, the links to the tables go first, and the tables and
	 * the instances after the kernel let go of the links (settled below). */
	for (unsigned i = 0; i < o.hts.n; i++) {
		const struct ht_obj *t = &o.hts.v[i];
		struct nl_tc_dev dev = { t->ifindex, NULL };
		if (t->table || !owned_foreign(&o, t->ifindex) || cleanup_room(dp, &c, d) < 0)
			continue;
		cleanup_put(&c,
				nl_tc_filter_del(&c.b, dp->nl, dev, t->parent, t->prio, t->protocol,
						t->handle),
				-1, d);
	}
	put_owned_tps(dp, &c, &o, false, d);
	for (unsigned i = 0; i < o.n_ifbs; i++) {
		const struct nl_link_info *l = &o.ifbs[i];
		if (cleanup_room(dp, &c, d) >= 0)
			cleanup_put(&c, nl_link_del(&c.b, dp->nl, l->ifindex, l->name), 0, d);
	}
	for (unsigned i = 0; i < o.n_clsacts; i++) {
		int ifindex = o.clsacts[i].ifindex;
		if (!o.clsacts[i].ours || o.clsacts[i].foreign || cleanup_room(dp, &c, d) < 0)
			continue;
		cleanup_put(&c, nl_tc_clsact_del(&c.b, dp->nl, (struct nl_tc_dev){ ifindex, NULL }),
				ifindex, d);
	}
	cleanup_send(dp, &c, d);
	/* Then, on clsacts with someone else's filters, the tables once the kernel let go of the
	 * links, and the instances: also those a cut-off kill switch left without tables. */
	struct ht_objs tables = { .dir = -1 };
	for (unsigned i = 0; i < o.hts.n; i++)
		if (o.hts.v[i].table && owned_foreign(&o, o.hts.v[i].ifindex) &&
				ht_objs_add(&tables, &o.hts.v[i]) < 0 && c.first == 0)
			c.first = -ENOMEM;
	r = tables.n ? delete_tables_settled(dp, &tables, d) : 0;
	if (r < 0 && c.first == 0)
		c.first = r;
	free(tables.v);
	put_owned_tps(dp, &c, &o, true, d);
	cleanup_send(dp, &c, d);

	/* The journal may remember a clsact the kernel no longer has (its interface went). */
	for (unsigned i = 0; i < dp->n_ifaces; i++) {
		bool present = false;
		for (unsigned j = 0; j < o.n_clsacts; j++)
			present = present || o.clsacts[j].ifindex == dp->ifaces[i]->ifindex;
		if (!present && dp->journal)
			(void)journal_clsact_remove(dp->journal, dp->ifaces[i]->ifindex);
	}
	nl_batch_done(&c.b);
	free(c.tag);
	owned_done(&o);
	forget_all(dp);
	return c.first < 0 ? c.first : (int)c.removed;
}

int datapath_count_owned(struct datapath *dp, unsigned *ret)
{
	struct owned o = { .hts.dir = -1 };
	unsigned n;
	int r;

	r = owned_scan(dp, &o, NULL);
	if (r < 0) {
		owned_done(&o);
		return r;
	}
	n = o.n_ifbs + o.n_tps;
	for (unsigned i = 0; i < o.n_clsacts; i++)
		n += o.clsacts[i].ours && !o.clsacts[i].foreign;
	owned_done(&o);
	*ret = n;
	return 0;
}
