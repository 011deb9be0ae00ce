/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "conntrack.h"
#include "kernel.h"

static int kn_set_netem(void *k, const struct edge *e, int ifindex, enum fault_direction dir,
		const struct netem_config *cfg, uint32_t flows, struct diag *d)
{
	struct kernel_netlink *kn = k;

	if (!cfg)
		return datapath_set_netem(kn->dp, e, ifindex, dir, NULL, d);
	return datapath_set_netem_flows(kn->dp, e, ifindex, dir, cfg, flows, d);
}

static int kn_sync_partitions(void *k, const struct nl_nft_partition *parts, unsigned n,
		struct diag *d)
{
	return nl_nft_sync(((struct kernel_netlink *)k)->nft, parts, n, d);
}

static int kn_remove_all(void *k, struct diag *d)
{
	struct kernel_netlink *kn = k;
	int r1 = datapath_remove_all(kn->dp, d);
	int r2 = nl_nft_remove_all(kn->nft, d);

	if (r1 < 0 || r2 < 0)
		return r1 < 0 ? r1 : r2;
	return r1 + r2;
}

static int kn_unclassify(void *k, const struct edge *e, enum fault_direction dir, struct diag *d)
{
	return datapath_unclassify(((struct kernel_netlink *)k)->dp, e, dir, d);
}

static int kn_forget_interface(void *k, int ifindex, struct diag *d)
{
	return datapath_forget_interface(((struct kernel_netlink *)k)->dp, ifindex, d);
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

static int kn_partition_drops(void *k, uint64_t id, uint64_t *ret)
{
	return nl_nft_get_drops(((struct kernel_netlink *)k)->nft, id, ret);
}

static int kn_conntrack_ids(void *k, const struct edge *e, uint32_t **ret_ids, unsigned *ret_n,
		struct diag *d)
{
	(void)k;
	return conntrack_edge_ids(e, ret_ids, ret_n, d);
}

static int kn_conntrack_flush(void *k, const struct edge *e, unsigned *ret_deleted,
		struct diag *d)
{
	(void)k;
	return conntrack_flush_edge(e, ret_deleted, d);
}

static const struct kernel_ops netlink_ops = {
	.set_netem = kn_set_netem,
	.unclassify = kn_unclassify,
	.netem_stats_now = kn_netem_stats_now,
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
