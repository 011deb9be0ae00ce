/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The datapath's lifecycle and its registry: the interfaces chaosd has objects on (probed from
 * the kernel on first use, forgotten when nothing of chaosd's is left on them) and the slots,
 * one per (edge, direction), kept sorted for lookup. Also what reads the registry without
 * changing the kernel's objects: resolving an edge's interface and a slot's stats. It calls no
 * other dp file: they all stand on it. Adding, changing and removing slots is dp-slot.c's. */
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "datapath.h"
#include "parse.h"
#include "dp-internal.h"
#include "journal.h"
#include "nl_link.h"
#include "timeutil.h"

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

void dp_forget_all(struct datapath *dp)
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
	dp_forget_all(dp);
	free(dp->ifaces);
	free(dp->slots);
	free(dp->stats);
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

struct dp_iface *dp_iface_find(struct datapath *dp, int ifindex)
{
	for (unsigned i = 0; i < dp->n_ifaces; i++)
		if (dp->ifaces[i]->ifindex == ifindex)
			return dp->ifaces[i];
	return NULL;
}

void dp_iface_drop_if_unused(struct datapath *dp, struct dp_iface *iface)
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

struct dp_slot *dp_slot_find(struct datapath *dp, const char *edge, unsigned dir)
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
void dp_slot_insert(struct datapath *dp, struct dp_slot *slot)
{
	unsigned i = slot_lower(dp, slot->edge_hash, slot->dir);

	memmove(&dp->slots[i + 1], &dp->slots[i], (dp->n_slots - i) * sizeof(*dp->slots));
	dp->slots[i] = slot;
	dp->n_slots++;
}

void dp_slot_forget(struct datapath *dp, struct dp_slot *slot)
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

int dp_iface_get(struct datapath *dp, int ifindex, unsigned dir, struct dp_iface **ret,
		struct diag *d)
{
	_cleanup_free_ struct dp_iface *n = NULL;
	struct qdisc_probe p = { .ifindex = ifindex };
	char buf[NL_TC_REQ_SIZE];
	struct dp_iface **a;
	int r;

	*ret = dp_iface_find(dp, ifindex);
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

int dp_dir_index(enum fault_direction dir, unsigned *ret)
{
	if (dir == FAULT_DIR_OUT)
		*ret = DIR_OUT;
	else if (dir == FAULT_DIR_IN)
		*ret = DIR_IN;
	else
		return -EINVAL;
	return 0;
}

struct stats_collect {
	struct dp_stats_entry *v;
	unsigned n, cap;
	int error;
};

static int stats_cb(const struct nlmsghdr *nlh, void *data)
{
	struct stats_collect *c = data;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || !streq(o.kind, "netem"))
		return 0;
	if (c->n == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 64;
		struct dp_stats_entry *v = reallocarray(c->v, cap, sizeof(*v));
		if (!v) {
			c->error = -ENOMEM;
			return 0;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = (struct dp_stats_entry){
		.ifindex = o.ifindex,
		.handle = o.handle,
		.st = { .packets = o.packets, .bytes = o.bytes, .drops = o.drops, .qlen = o.qlen,
			.requeues = o.requeues },
	};
	return 0;
}

void dp_stats_invalidate(struct datapath *dp)
{
	dp->stats_until_usec = 0;
}

void datapath_stats_invalidate(struct datapath *dp)
{
	dp_stats_invalidate(dp);
}

static int stats_refresh(struct datapath *dp)
{
	struct stats_collect c = {};
	char buf[NL_TC_REQ_SIZE];
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	int r;

	if (dp->stats_until_usec > now)
		return 0;
	r = nl_socket_dump(dp->nl, nl_tc_qdisc_dump_req(buf), stats_cb, &c, NULL);
	if (r >= 0 && c.error < 0)
		r = c.error;
	if (r < 0) {
		free(c.v);
		return r;
	}
	free(dp->stats);
	dp->stats = c.v;
	dp->n_stats = c.n;
	dp->stats_until_usec = now + DP_STATS_USEC;
	return 0;
}

int datapath_get_stats(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, struct datapath_stats *ret)
{
	struct dp_iface *iface;
	struct dp_slot *slot;
	uint32_t handle;
	unsigned di;
	int r, ifb;

	if (!dp || !e || dp_dir_index(dir, &di) < 0)
		return -EINVAL;
	slot = dp_slot_find(dp, e->name, di);
	if (!slot || (ifindex > 0 && slot->ifindex != ifindex))
		return -ENOENT;
	iface = dp_iface_find(dp, slot->ifindex);
	if (!iface)
		return -ENOENT;
	ifb = iface->dir[di].ifb[slot->shard].ifindex;
	handle = NETEM_HANDLE(netem_id(slot));
	r = stats_refresh(dp);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < dp->n_stats; i++)
		if (dp->stats[i].ifindex == ifb && dp->stats[i].handle == handle) {
			*ret = dp->stats[i].st;
			return 0;
		}
	return -ENOENT;
}
