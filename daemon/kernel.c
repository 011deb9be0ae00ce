/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "conntrack.h"
#include "edge-scope.h"
#include "kernel.h"
#include "macro.h"
#include "svcedge.h"

static unsigned dir_holder(enum fault_direction dir)
{
	return dir == FAULT_DIR_IN ? SVCEDGE_IN : SVCEDGE_OUT;
}

/* A service edge's netem is matched by its mark (svcedge.h): taken before it is applied,
 * let go after it is removed, and let go again if applying it failed. */
static int kn_set_netem(void *k, const struct edge *e, int ifindex, enum fault_direction dir,
		const struct netem_config *cfg, uint32_t flows, struct diag *d)
{
	struct kernel_netlink *kn = k;
	struct edge se;
	int r, taken;

	if (!edge_scoped(e)) {
		if (!cfg)
			return datapath_set_netem(kn->dp, e, ifindex, dir, NULL, d);
		return datapath_set_netem_flows(kn->dp, e, ifindex, dir, cfg, flows, d);
	}
	if (!cfg) {
		svcedge_copy(kn->svc, e, &se);
		r = datapath_set_netem(kn->dp, &se, ifindex, dir, NULL, d);
		if (r >= 0)
			svcedge_release(kn->svc, e->name, dir_holder(dir));
		return r;
	}
	taken = svcedge_hold(kn->svc, e, dir_holder(dir), &se, d);
	if (taken < 0)
		return taken;
	r = datapath_set_netem_flows(kn->dp, &se, ifindex, dir, cfg, flows, d);
	if (r < 0 && taken)
		svcedge_release(kn->svc, e->name, dir_holder(dir));
	else if (r >= 0)
		svcedge_note_ifindex(kn->svc, e->name, ifindex);
	return r;
}

static int kn_sync_partitions(void *k, const struct nl_nft_partition *parts, unsigned n,
		struct diag *d)
{
	struct kernel_netlink *kn = k;
	_cleanup_free_ struct nl_nft_partition *p = NULL;
	_cleanup_free_ struct edge *se = NULL;
	_cleanup_free_ const char **names = NULL;
	_cleanup_free_ bool *taken = NULL;
	unsigned n_scoped = 0;
	int r = 0;

	for (unsigned i = 0; i < n; i++)
		n_scoped += edge_scoped(parts[i].edge);
	if (n_scoped == 0 && !kn->svc)
		return nl_nft_sync(kn->nft, parts, n, d);
	/* service edges' partitions match their connections' mark: copies that carry it */
	p = calloc(n ? n : 1, sizeof(*p));
	se = calloc(n ? n : 1, sizeof(*se));
	names = calloc(n ? n : 1, sizeof(*names));
	taken = calloc(n ? n : 1, sizeof(*taken));
	if (!p || !se || !names || !taken)
		return -ENOMEM;
	for (unsigned i = 0; i < n && r >= 0; i++) {
		p[i] = parts[i];
		names[i] = parts[i].edge->name;
		if (!edge_scoped(parts[i].edge))
			continue;
		r = svcedge_hold(kn->svc, parts[i].edge, SVCEDGE_PART, &se[i], d);
		taken[i] = r > 0;
		p[i].edge = &se[i];
	}
	if (r >= 0)
		r = nl_nft_sync(kn->nft, p, n, d);
	if (r < 0) {
		for (unsigned i = 0; i < n; i++)
			if (taken[i])
				svcedge_release(kn->svc, parts[i].edge->name, SVCEDGE_PART);
		return r;
	}
	svcedge_release_others(kn->svc, SVCEDGE_PART, names, n);
	return r;
}

static int kn_remove_all(void *k, struct diag *d)
{
	struct kernel_netlink *kn = k;
	int r1 = datapath_remove_all(kn->dp, d);
	int r2 = nl_nft_remove_all(kn->nft, d);
	int r3 = svcedge_remove_all(kn->svc, d);

	if (r1 < 0 || r2 < 0 || r3 < 0)
		return r1 < 0 ? r1 : r2 < 0 ? r2 : r3;
	return r1 + r2;
}

static int kn_unclassify(void *k, const struct edge *e, enum fault_direction dir, struct diag *d)
{
	struct kernel_netlink *kn = k;
	struct edge se;

	svcedge_copy(kn->svc, e, &se);
	return datapath_unclassify(kn->dp, &se, dir, d);
}

static int kn_link_packets(void *k, int ifindex, uint64_t *ret_packets)
{
	return datapath_link_packets(((struct kernel_netlink *)k)->dp, ifindex, ret_packets);
}

static int kn_forget_interface(void *k, int ifindex, struct diag *d)
{
	struct kernel_netlink *kn = k;
	int r = datapath_forget_interface(kn->dp, ifindex, d);

	svcedge_forget_ifindex(kn->svc, ifindex);
	return r;
}

static int kn_resolve_ifindex(void *k, const struct edge *e, int *ret_ifindex, struct diag *d)
{
	return datapath_resolve_ifindex(((struct kernel_netlink *)k)->dp, e, ret_ifindex, d);
}

static int kn_netem_stats(void *k, const struct edge *e, int ifindex, enum fault_direction dir,
		struct datapath_stats *ret)
{
	return datapath_get_stats(((struct kernel_netlink *)k)->dp, e, ifindex, dir, ret);
}

static int kn_netem_stats_now(void *k, const struct edge *e, int ifindex,
		enum fault_direction dir, struct datapath_stats *ret)
{
	datapath_stats_invalidate(((struct kernel_netlink *)k)->dp);
	return kn_netem_stats(k, e, ifindex, dir, ret);
}

static int kn_path_backlog(void *k, const struct edge *e, enum fault_direction dir,
		uint64_t *ret_packets)
{
	return datapath_path_backlog(((struct kernel_netlink *)k)->dp, e, dir, ret_packets);
}

static int kn_partition_drops(void *k, uint64_t id, uint64_t *ret)
{
	return nl_nft_get_drops(((struct kernel_netlink *)k)->nft, id, ret);
}

static int kn_conntrack_ids(void *k, const struct edge *e, uint32_t **ret_ids, unsigned *ret_n,
		struct diag *d)
{
	/* Not by the mark: a connection gets it at its next packet after the mark rule came, so
	 * an idle one has none yet. The partition's rule matches the mark besides the ids. */
	(void)k;
	return conntrack_edge_ids(e, ret_ids, ret_n, d);
}

static int kn_conntrack_flush(void *k, const struct edge *e, unsigned *ret_deleted,
		struct diag *d)
{
	struct kernel_netlink *kn = k;
	struct edge se;

	if (!edge_scoped(e))
		return conntrack_flush_edge(e, ret_deleted, d);
	/* a service edge's connections are told by its mark: none once the edge let it go */
	svcedge_copy(kn->svc, e, &se);
	if (!se.mark) {
		if (ret_deleted)
			*ret_deleted = 0;
		return 0;
	}
	return conntrack_flush_edge(&se, ret_deleted, d);
}

static const struct kernel_ops netlink_ops = {
	.set_netem = kn_set_netem,
	.unclassify = kn_unclassify,
	.link_packets = kn_link_packets,
	.netem_stats_now = kn_netem_stats_now,
	.path_backlog = kn_path_backlog,
	.sync_partitions = kn_sync_partitions,
	.remove_all = kn_remove_all,
	.forget_interface = kn_forget_interface,
	.resolve_ifindex = kn_resolve_ifindex,
	.netem_stats = kn_netem_stats,
	.partition_drops = kn_partition_drops,
	.conntrack_ids = kn_conntrack_ids,
	.conntrack_flush = kn_conntrack_flush,
};

struct kernel kernel_netlink(struct kernel_netlink *kn)
{
	return (struct kernel){ .ops = &netlink_ops, .userdata = kn };
}
