/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "datapath.h"
#include "nl_link.h"
#include "nl_tc.h"

/* Objects on an IFB (all chaosd's): htb root 1:, one class 1:<id> per (edge, direction), the
 * class's leaf netem <id>:, u32 filters at NL_TC_PRIO_V4/V6 with flowid 1:<id>. */
#define IFB_ROOT    0x00010000U
#define SLOT_ID_MIN 2      /* netem <id>: must not be the root's 1: */
#define SLOT_ID_MAX 0xffff
#define CLASSID(id) (IFB_ROOT | (id))
#define NETEM_HANDLE(id) ((uint32_t)(id) << 16)

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

#define NODE_BITS (NL_TC_U32_NODE_MAX + 1)
#define MAX_FILTERS (EDGE_PREFIX_MAX * 2) /* protocol "any" with a port: tcp and udp */

struct dp_node {
	uint8_t fam;
	uint16_t node;
};

/* One (edge, direction): its class and leaf on the IFB and its u32 nodes. The same node id
 * is used on the real interface and on the IFB. */
struct dp_slot {
	char edge[EDGE_NAME_MAX + 1];
	int ifindex;
	unsigned dir;
	uint16_t id;
	bool has_table; /* the netem holds a delay table (the kernel keeps it across changes) */
	struct edge match;
	unsigned n_nodes;
	struct dp_node nodes[MAX_FILTERS];
};

struct dp_dir {
	int ifb_ifindex; /* 0 = no IFB */
	char ifb_name[IF_NAMESIZE];
	/* Hash table id (TC_U32_HTID) of the u32 instance per family and side, 0 = not known
	 * yet. Deleting one node needs the full handle, and the kernel picks the table id. */
	uint32_t htid[2][_FAM_MAX];
	unsigned n_nodes[_FAM_MAX];
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
	if (iface->dir[DIR_OUT].n_slots || iface->dir[DIR_IN].n_slots ||
			iface->dir[DIR_OUT].ifb_ifindex || iface->dir[DIR_IN].ifb_ifindex)
		return;
	for (unsigned i = 0; i < dp->n_ifaces; i++)
		if (dp->ifaces[i] == iface) {
			dp->ifaces[i] = dp->ifaces[--dp->n_ifaces];
			free(iface);
			return;
		}
}

static struct dp_slot *slot_find(struct datapath *dp, const char *edge, unsigned dir)
{
	for (unsigned i = 0; i < dp->n_slots; i++)
		if (dp->slots[i]->dir == dir && streq(dp->slots[i]->edge, edge))
			return dp->slots[i];
	return NULL;
}

static void slot_forget(struct datapath *dp, struct dp_slot *slot)
{
	for (unsigned i = 0; i < dp->n_slots; i++)
		if (dp->slots[i] == slot) {
			dp->slots[i] = dp->slots[--dp->n_slots];
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

struct htid_find {
	const uint16_t *nodes;
	unsigned n;
	int redirect_ifindex; /* 0: any */
	uint32_t htid;
};

static int htid_cb(const struct nlmsghdr *nlh, void *data)
{
	struct htid_find *f = data;
	struct nl_tc_u32_info u;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || o.chain != 0 || TC_U32_HTID(o.handle) == 0 ||
			TC_U32_NODE(o.handle) == 0 || nl_tc_u32_parse(&o, &u) < 0)
		return 0;
	/* On a clsact, ingress and egress share u32's tc_u_common (keyed by the qdisc), so a
	 * dump of either walks the hash tables of both: our redirect target tells them apart. */
	if (f->redirect_ifindex && u.redirect_ifindex != f->redirect_ifindex)
		return 0;
	for (unsigned i = 0; i < f->n; i++)
		if (TC_U32_NODE(o.handle) == f->nodes[i]) {
			f->htid = TC_U32_HTID(o.handle);
			break;
		}
	return 0;
}

/* The table id of our u32 instance at fam's prio under parent, found through one of our node
 * ids (the instance has only its root table: chaosd never links tables). */
static int learn_htid(struct datapath *dp, int ifindex, uint32_t parent, unsigned fam,
		int redirect_ifindex, const uint16_t *nodes, unsigned n, uint32_t *ret,
		struct diag *d)
{
	struct htid_find f = { nodes, n, redirect_ifindex, 0 };
	char buf[NL_TC_REQ_SIZE];
	int r;

	r = nl_socket_dump(dp->nl,
			nl_tc_filter_dump_req(buf, ifindex, parent, fam_prio[fam], fam_proto[fam]),
			htid_cb, &f, d);
	if (r < 0)
		return r;
	if (f.htid == 0)
		return -ENOENT;
	*ret = f.htid;
	return 0;
}

/* Find the table ids needed to delete nodes on one side, before a batch is built: a dump
 * takes a sequence number, and a batch's must be consecutive (nl_batch_send matches acks by
 * offset). Not found: the instance is gone, and the nodes with it. */
static int learn_htids(struct datapath *dp, struct dp_iface *iface, unsigned dir, unsigned side,
		const struct dp_node *nodes, unsigned n, struct diag *d)
{
	struct dp_dir *dd = &iface->dir[dir];
	int ifindex = side == SIDE_REAL ? iface->ifindex : dd->ifb_ifindex;
	uint32_t parent = side == SIDE_REAL ? real_parent(dir) : IFB_ROOT;

	for (unsigned fam = 0; fam < _FAM_MAX; fam++) {
		uint16_t ids[MAX_FILTERS];
		unsigned k = 0;
		int r;

		for (unsigned i = 0; i < n; i++)
			if (nodes[i].fam == fam)
				ids[k++] = nodes[i].node;
		if (k == 0 || dd->htid[side][fam] != 0 || ifindex <= 0)
			continue;
		r = learn_htid(dp, ifindex, parent, fam, side == SIDE_REAL ? dd->ifb_ifindex : 0,
				ids, k, &dd->htid[side][fam], d);
		if (r < 0 && r != -ENOENT && r != -ENODEV)
			return r;
	}
	return 0;
}

/* Append deletes of nodes (of one family) on one side (learn_htids() first). */
static int put_node_deletes(struct datapath *dp, struct nl_batch *b, struct dp_iface *iface,
		unsigned dir, unsigned side, unsigned fam, const uint16_t *nodes, unsigned n)
{
	struct dp_dir *dd = &iface->dir[dir];
	int ifindex = side == SIDE_REAL ? iface->ifindex : dd->ifb_ifindex;
	uint32_t parent = side == SIDE_REAL ? real_parent(dir) : IFB_ROOT;
	struct nl_tc_dev dev = { ifindex, side == SIDE_REAL ? iface->name : dd->ifb_name };
	int r;

	if (n == 0 || dd->htid[side][fam] == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		r = nl_tc_filter_del(b, dp->nl, dev, parent, fam_prio[fam], fam_proto[fam],
				dd->htid[side][fam] | nodes[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------------- filters of an edge */

struct filter_spec {
	unsigned fam;
	struct nl_tc_match m;
};

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
				.m = {
					.family = p->family,
					.prefix_len = p->len,
					.src = dir == DIR_IN,
					.ipproto = protos[k],
					.port = e->port,
				},
			};
			memcpy(f[n].m.addr, p->addr, sizeof(f[n].m.addr));
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

static int ifb_create(struct datapath *dp, struct dp_iface *iface, unsigned dir, struct diag *d)
{
	struct dp_dir *dd = &iface->dir[dir];
	struct nl_batch b;
	struct diag kd;
	int r;

	snprintf(dd->ifb_name, sizeof(dd->ifb_name), DATAPATH_IFB_PREFIX "%c%d",
			dir == DIR_OUT ? 'o' : 'i', iface->ifindex);
	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	for (int attempt = 0; attempt < 2; attempt++) {
		diag_init(&kd);
		nl_batch_reset(&b);
		r = nl_link_ifb_add(&b, dp->nl, dd->ifb_name, NL_LINK_IFB_TXQLEN);
		if (r >= 0)
			r = nl_batch_send(&b, dp->nl, NULL, &kd);
		if (r != -EEXIST || attempt > 0)
			break;
		/* Left over by a chaosd that died: the name is ours, and nothing of this process
		 * uses it (we had no IFB for this direction). */
		nl_batch_reset(&b);
		r = nl_link_del(&b, dp->nl, 0, dd->ifb_name);
		if (r >= 0)
			r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
		if (r < 0)
			break;
	}
	nl_batch_done(&b);
	if (r < 0) {
		diag_add(d, r, "could not create the IFB %s for %s faults on %s", dd->ifb_name,
				dir_str(dir), iface->name);
		if (r == -EOPNOTSUPP || strstr(kd.text, "Unknown device type"))
			diag_add(d, r, "the kernel has no ifb (modprobe ifb)");
		append_lines(d, &kd);
		dd->ifb_name[0] = '\0';
		return r;
	}
	r = nl_link_ifindex(dp->nl, dd->ifb_name, &dd->ifb_ifindex);
	if (r < 0) {
		dd->ifb_ifindex = 0;
		return diag_add(d, r, "the new IFB %s cannot be found: %s", dd->ifb_name,
				strerror(-r));
	}
	return 0;
}

static void ifb_delete(struct datapath *dp, struct dp_iface *iface, unsigned dir, struct diag *d)
{
	struct dp_dir *dd = &iface->dir[dir];
	struct nl_batch b;

	if (dd->ifb_ifindex && nl_batch_init(&b) >= 0) {
		if (nl_link_del(&b, dp->nl, dd->ifb_ifindex, dd->ifb_name) >= 0)
			(void)nl_batch_send(&b, dp->nl, tolerate_gone, d);
		nl_batch_done(&b);
	}
	memset(dd->htid[SIDE_IFB], 0, sizeof(dd->htid[SIDE_IFB]));
	dd->ifb_ifindex = 0;
	dd->ifb_name[0] = '\0';
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
			ifb_delete(dp, iface, dir, d);
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

/* Our instances at NL_TC_PRIO_V4/V6 under parent, left by a chaosd that died: a fresh
 * direction starts without them (their redirect may point at a deleted IFB, which drops). */
static int clean_stale_filters(struct datapath *dp, struct dp_iface *iface, unsigned dir,
		struct diag *d)
{
	struct nl_tc_dev dev = { iface->ifindex, iface->name };
	struct nl_batch b;
	int r;

	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	for (unsigned fam = 0; fam < _FAM_MAX && r >= 0; fam++)
		r = nl_tc_filter_del(&b, dp->nl, dev, real_parent(dir), fam_prio[fam], 0, 0);
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, d);
	nl_batch_done(&b);
	return r;
}

static int alloc_id(struct dp_dir *dd, uint16_t *ret)
{
	for (unsigned i = SLOT_ID_MIN; i <= SLOT_ID_MAX; i++)
		if (!bit_get(dd->ids, i)) {
			bit_set(dd->ids, i, true);
			*ret = (uint16_t)i;
			return 0;
		}
	return -ENOSPC;
}

static int alloc_nodes(struct dp_dir *dd, const struct filter_spec *f, unsigned n,
		struct dp_node *nodes)
{
	unsigned next[_FAM_MAX] = { NL_TC_U32_NODE_MIN, NL_TC_U32_NODE_MIN };

	for (unsigned i = 0; i < n; i++) {
		unsigned fam = f[i].fam, k = next[fam];
		while (k <= NL_TC_U32_NODE_MAX && bit_get(dd->nodes[fam], k))
			k++;
		if (k > NL_TC_U32_NODE_MAX) {
			for (unsigned j = 0; j < i; j++) {
				bit_set(dd->nodes[nodes[j].fam], nodes[j].node, false);
				dd->n_nodes[nodes[j].fam]--;
			}
			return -ENOSPC;
		}
		bit_set(dd->nodes[fam], k, true);
		dd->n_nodes[fam]++;
		nodes[i] = (struct dp_node){ (uint8_t)fam, (uint16_t)k };
		next[fam] = k + 1;
	}
	return 0;
}

static void free_nodes(struct dp_dir *dd, const struct dp_node *nodes, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		bit_set(dd->nodes[nodes[i].fam], nodes[i].node, false);
		dd->n_nodes[nodes[i].fam]--;
		/* An emptied instance may be destroyed by the kernel (u32_delete() reports it
		 * last when no u32 node is left on the block) and come back with another id. */
		if (dd->n_nodes[nodes[i].fam] == 0) {
			dd->htid[SIDE_REAL][nodes[i].fam] = 0;
			dd->htid[SIDE_IFB][nodes[i].fam] = 0;
		}
	}
}

/* Message indexes of one add batch, -1 = not in it. */
struct add_msgs {
	int clsact, htb, class, netem;
	int ifb_filter[MAX_FILTERS], real_filter[MAX_FILTERS];
};

static bool msg_ok(const struct nl_batch *b, int i)
{
	return i >= 0 && (unsigned)i < b->n && b->errs[i] == 0;
}

/* Undo what succeeded of a failed add so nothing stays half applied. */
static void rollback_add(struct datapath *dp, struct dp_iface *iface, unsigned dir,
		const struct nl_batch *done, const struct add_msgs *m, const struct dp_node *nodes,
		unsigned n, const unsigned *had_nodes, bool clsact_new, bool ifb_new, uint16_t id,
		struct diag *d)
{
	struct dp_dir *dd = &iface->dir[dir];
	struct nl_tc_dev real = { iface->ifindex, iface->name };
	struct nl_tc_dev ifb = { dd->ifb_ifindex, dd->ifb_name };
	struct nl_batch b;
	struct diag kd;
	int r;

	diag_init(&kd);
	if (!(clsact_new && msg_ok(done, m->clsact)))
		(void)learn_htids(dp, iface, dir, SIDE_REAL, nodes, n, &kd);
	if (!ifb_new)
		(void)learn_htids(dp, iface, dir, SIDE_IFB, nodes, n, &kd);
	if (nl_batch_init(&b) < 0)
		return;
	/* Real interface first: traffic stops being redirected. A clsact made by this call goes
	 * with everything on it. */
	if (clsact_new && msg_ok(done, m->clsact)) {
		r = nl_tc_clsact_del(&b, dp->nl, real);
	} else {
		r = 0;
		for (unsigned fam = 0; fam < _FAM_MAX && r >= 0; fam++) {
			uint16_t del[MAX_FILTERS];
			unsigned k = 0;
			for (unsigned i = 0; i < n; i++)
				if (nodes[i].fam == fam && msg_ok(done, m->real_filter[i]))
					del[k++] = nodes[i].node;
			if (k == 0)
				continue;
			/* An instance this call created holds only this call's nodes. */
			if (had_nodes[fam] == 0)
				r = nl_tc_filter_del(&b, dp->nl, real, real_parent(dir),
						fam_prio[fam], fam_proto[fam], 0);
			else
				r = put_node_deletes(dp, &b, iface, dir, SIDE_REAL, fam, del, k);
		}
	}
	if (r >= 0 && ifb_new) {
		r = nl_link_del(&b, dp->nl, dd->ifb_ifindex, dd->ifb_name);
	} else if (r >= 0) {
		for (unsigned fam = 0; fam < _FAM_MAX && r >= 0; fam++) {
			uint16_t del[MAX_FILTERS];
			unsigned k = 0;
			for (unsigned i = 0; i < n; i++)
				if (nodes[i].fam == fam && msg_ok(done, m->ifb_filter[i]))
					del[k++] = nodes[i].node;
			if (k == 0)
				continue;
			if (had_nodes[fam] == 0)
				r = nl_tc_filter_del(&b, dp->nl, ifb, IFB_ROOT, fam_prio[fam],
						fam_proto[fam], 0);
			else
				r = put_node_deletes(dp, &b, iface, dir, SIDE_IFB, fam, del, k);
		}
		/* The class takes its leaf with it. */
		if (r >= 0 && msg_ok(done, m->class))
			r = nl_tc_class_del(&b, dp->nl, ifb, CLASSID(id));
	}
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
	if (r < 0) {
		diag_add(d, r, "undoing the partial change on %s failed; `chaosd --cleanup` "
				"removes what is left",
				iface->name);
		append_lines(d, &kd);
	}
	nl_batch_done(&b);
	if (ifb_new) {
		memset(dd->htid[SIDE_IFB], 0, sizeof(dd->htid[SIDE_IFB]));
		dd->ifb_ifindex = 0;
		dd->ifb_name[0] = '\0';
	}
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

static int add_slot(struct datapath *dp, const struct edge *e, int ifindex, unsigned dir,
		const struct netem_config *cfg, struct diag *d)
{
	_cleanup_free_ struct dp_slot *slot = NULL;
	struct filter_spec f[MAX_FILTERS];
	const struct netem_dist *dist;
	unsigned n = 0, had_nodes[_FAM_MAX];
	bool clsact_new = false, ifb_new = false;
	struct dp_iface *iface;
	struct add_msgs m;
	struct dp_dir *dd;
	struct nl_batch b = {};
	struct nl_tc_dev ifb;
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
	slot->ifindex = ifindex;
	slot->dir = dir;
	slot->match = *e;
	slot->has_table = dist != NULL;
	memcpy(had_nodes, dd->n_nodes, sizeof(had_nodes));
	if (alloc_id(dd, &slot->id) < 0) {
		iface_drop_if_unused(dp, iface);
		return diag_add(d, -ENOSPC, "%s: no free class id for %s faults", iface->name,
				dir_str(dir));
	}
	if (alloc_nodes(dd, f, n, slot->nodes) < 0) {
		bit_set(dd->ids, slot->id, false);
		iface_drop_if_unused(dp, iface);
		return diag_add(d, -ENOSPC,
				"%s: chaosd's %u filter handles for %s faults are used up (edge "
				"%s needs %u)",
				iface->name, NL_TC_U32_NODE_MAX, dir_str(dir), e->name, n);
	}
	slot->n_nodes = n;

	/* The IFB goes first in its own request: the redirect needs its ifindex. */
	if (dd->ifb_ifindex == 0) {
		if (iface->clsact_present && dd->n_slots == 0) {
			r = clean_stale_filters(dp, iface, dir, d);
			if (r < 0)
				goto fail_early;
		}
		r = ifb_create(dp, iface, dir, d);
		if (r < 0)
			goto fail_early;
		ifb_new = true;
	}

	memset(&m, -1, sizeof(m));
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
	ifb = (struct nl_tc_dev){ dd->ifb_ifindex, dd->ifb_name };
	if (ifb_new) {
		m.htb = (int)b.n;
		r = nl_tc_htb_root_add(&b, dp->nl, ifb, IFB_ROOT, HTB_DIRECT_QLEN);
		if (r < 0)
			goto fail_batch;
	}
	m.class = (int)b.n;
	r = nl_tc_htb_class_add(&b, dp->nl, ifb, IFB_ROOT, CLASSID(slot->id), HTB_RATE, HTB_BURST,
			HTB_QUANTUM);
	if (r < 0)
		goto fail_batch;
	m.netem = (int)b.n;
	r = nl_tc_netem_put(&b, dp->nl, ifb, CLASSID(slot->id), NETEM_HANDLE(slot->id), cfg, dist,
			false);
	if (r < 0)
		goto fail_batch;
	/* Classification on the IFB before the redirect that feeds it. */
	for (unsigned i = 0; i < n; i++) {
		struct nl_tc_u32 u = {
			.ifindex = dd->ifb_ifindex,
			.parent = IFB_ROOT,
			.prio = fam_prio[f[i].fam],
			.protocol = fam_proto[f[i].fam],
			.handle = slot->nodes[i].node,
			.classid = CLASSID(slot->id),
		};
		m.ifb_filter[i] = (int)b.n;
		r = nl_tc_u32_add(&b, dp->nl, &u, &f[i].m, dd->ifb_name);
		if (r < 0)
			goto fail_batch;
	}
	for (unsigned i = 0; i < n; i++) {
		struct nl_tc_u32 u = {
			.ifindex = iface->ifindex,
			.parent = real_parent(dir),
			.prio = fam_prio[f[i].fam],
			.protocol = fam_proto[f[i].fam],
			.handle = slot->nodes[i].node,
			.redirect_ifindex = dd->ifb_ifindex,
		};
		m.real_filter[i] = (int)b.n;
		r = nl_tc_u32_add(&b, dp->nl, &u, &f[i].m, iface->name);
		if (r < 0)
			goto fail_batch;
	}

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
		rollback_add(dp, iface, dir, &b, &m, slot->nodes, n, had_nodes, clsact_new, ifb_new,
				slot->id, d);
		goto fail_state;
	}
	nl_batch_done(&b);

	if (clsact_new) {
		iface->clsact_present = true;
		iface->clsact_ours = true;
	}
	dd->n_slots++;
	dp->slots[dp->n_slots++] = TAKE_PTR(slot);
	return 0;

fail_batch:
	diag_add(d, r, "edge %s: building the netlink request failed: %s", e->name, strerror(-r));
	rollback_add(dp, iface, dir, &b, &m, slot->nodes, 0, had_nodes, clsact_new, ifb_new,
			slot->id, d);
	goto fail_state;
fail_early:
	if (ifb_new)
		ifb_delete(dp, iface, dir, d);
fail_state:
	nl_batch_done(&b);
	free_nodes(dd, slot->nodes, slot->n_nodes);
	bit_set(dd->ids, slot->id, false);
	iface_drop_if_unused(dp, iface);
	return r;
}

/* ---------------------------------------------------------------- change */

static int change_slot(struct datapath *dp, struct dp_slot *slot, const struct netem_config *cfg,
		struct diag *d)
{
	struct dp_iface *iface = iface_find(dp, slot->ifindex);
	struct netem_dist uniform = { dp->uniform, NL_TC_UNIFORM_TABLE };
	const struct netem_dist *dist;
	struct nl_batch b;
	struct diag kd;
	struct dp_dir *dd;
	int r;

	if (!iface)
		return -ENOENT;
	dd = &iface->dir[slot->dir];
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
	r = nl_tc_netem_put(&b, dp->nl, (struct nl_tc_dev){ dd->ifb_ifindex, dd->ifb_name },
			CLASSID(slot->id), NETEM_HANDLE(slot->id), cfg, dist, true);
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
	struct dp_dir *dd;
	struct nl_batch b;
	struct diag kd;
	bool last_in_dir, del_clsact = false;
	int r, clsact_msg = -1;

	if (!iface) {
		slot_forget(dp, slot);
		return 0;
	}
	dd = &iface->dir[slot->dir];
	last_in_dir = dd->n_slots <= 1;
	struct nl_tc_dev real = { iface->ifindex, iface->name };
	struct nl_tc_dev ifb = { dd->ifb_ifindex, dd->ifb_name };

	diag_init(&kd);
	/* Everything that needs a dump happens before the batch is built. */
	if (!last_in_dir) {
		r = learn_htids(dp, iface, slot->dir, SIDE_REAL, slot->nodes, slot->n_nodes, &kd);
		if (r >= 0)
			r = learn_htids(dp, iface, slot->dir, SIDE_IFB, slot->nodes, slot->n_nodes,
					&kd);
		if (r < 0) {
			diag_add(d, r, "edge %s: finding its filters on %s failed", slot->edge,
					iface->name);
			append_lines(d, &kd);
			return r;
		}
	}
	del_clsact = last_in_dir && iface->dir[!slot->dir].n_slots == 0 && iface->clsact_ours &&
		     !clsact_has_foreign(dp, iface->ifindex);
	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	/* 1. the redirect on the real interface: the edge's traffic is back to normal at once */
	for (unsigned fam = 0; fam < _FAM_MAX && r >= 0; fam++) {
		uint16_t del[MAX_FILTERS];
		unsigned k = 0;
		for (unsigned i = 0; i < slot->n_nodes; i++)
			if (slot->nodes[i].fam == fam)
				del[k++] = slot->nodes[i].node;
		if (last_in_dir)
			/* the whole instance: it may be empty but still there (u32 keeps an
			 * instance while another one on the block has nodes) */
			r = nl_tc_filter_del(&b, dp->nl, real, real_parent(slot->dir),
					fam_prio[fam], 0, 0);
		else
			r = put_node_deletes(dp, &b, iface, slot->dir, SIDE_REAL, fam, del, k);
	}
	/* 2. the IFB side: filters before the class (htb refuses to delete a class a filter
	 * points at), the class takes its netem leaf; or the whole IFB */
	if (r >= 0 && last_in_dir && dd->ifb_ifindex) {
		r = nl_link_del(&b, dp->nl, dd->ifb_ifindex, dd->ifb_name);
	} else if (r >= 0 && dd->ifb_ifindex) {
		for (unsigned fam = 0; fam < _FAM_MAX && r >= 0; fam++) {
			uint16_t del[MAX_FILTERS];
			unsigned k = 0;
			for (unsigned i = 0; i < slot->n_nodes; i++)
				if (slot->nodes[i].fam == fam)
					del[k++] = slot->nodes[i].node;
			r = put_node_deletes(dp, &b, iface, slot->dir, SIDE_IFB, fam, del, k);
		}
		if (r >= 0)
			r = nl_tc_class_del(&b, dp->nl, ifb, CLASSID(slot->id));
	}
	/* 3. the clsact, if chaosd made it and nothing else uses it */
	if (r >= 0 && del_clsact) {
		clsact_msg = (int)b.n;
		r = nl_tc_clsact_del(&b, dp->nl, real);
	}
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
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
	bit_set(dd->ids, slot->id, false);
	dd->n_slots--;
	if (last_in_dir) {
		memset(dd->htid, 0, sizeof(dd->htid));
		dd->ifb_ifindex = 0;
		dd->ifb_name[0] = '\0';
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
	struct dp_slot *slot;
	unsigned di;
	int r;

	if (!dp || !e)
		return -EINVAL;
	if (dir_index(dir, &di) < 0)
		return diag_add(d, -EINVAL, "edge %s: one direction at a time (out or in)",
				e->name);
	slot = slot_find(dp, e->name, di);
	if (!cfg)
		return slot ? remove_slot(dp, slot, d) : 0;
	if (ifindex <= 0)
		return diag_add(d, -ENODEV, "edge %s: no interface", e->name);
	/* The edge moved (route or config change): its filters must be rebuilt. */
	if (slot && (slot->ifindex != ifindex || !same_match(&slot->match, e))) {
		r = remove_slot(dp, slot, d);
		if (r < 0)
			return r;
		slot = NULL;
	}
	if (slot)
		return change_slot(dp, slot, cfg, d);
	return add_slot(dp, e, ifindex, di, cfg, d);
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
	f.ifindex = iface->dir[di].ifb_ifindex;
	f.handle = NETEM_HANDLE(slot->id);
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

/* One cleanup batch; tag[i] is the ifindex whose chaosd clsact message i deletes, else 0. */
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
		if (c->b.errs[i] != 0)
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

int datapath_remove_all(struct datapath *dp, struct diag *d)
{
	struct cleanup c = {};
	struct owned o = {};
	int r;

	c.first = owned_scan(dp, &o, d);
	r = nl_batch_init(&c.b);
	if (r < 0) {
		owned_done(&o);
		return r;
	}
	/* One batch, in this order: the redirects (traffic stops going to the IFBs before they
	 * disappear; a redirect to a deleted device drops), the IFBs (each takes its htb,
	 * classes, netems and filters), then the clsacts chaosd made and nobody else uses. */
	for (unsigned i = 0; i < o.n_tps; i++) {
		const struct owned_tp *t = &o.tps[i];
		struct nl_tc_dev dev = { t->ifindex, NULL };
		if (cleanup_room(dp, &c, d) >= 0)
			cleanup_put(&c,
					nl_tc_filter_del(&c.b, dp->nl, dev, t->parent, t->prio,
							t->protocol, 0),
					0, d);
	}
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
	struct owned o = {};
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
