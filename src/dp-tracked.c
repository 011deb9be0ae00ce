/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kill switch from the registry alone: chaosd's own record of its objects instead of a dump
 * of every qdisc and filter (thousands of messages with 1000 faults). One batch deletes chaosd's
 * u32 instances on every interface it uses (each takes all its nodes, the redirects first) and
 * all of chaosd's IFBs at once (their link group); then a dump of each interface's clsact,
 * short now, tells whether anything is left on it: nothing, and chaosd made it, it goes in a
 * second batch; someone else's filters, it stays; chaosd's tables (held by someone else's u32
 * instance), the caller scans and settles them the long way (dp-owned.c). */
#include <stdlib.h>

#include "datapath.h"
#include "dp-internal.h"
#include "nl_link.h"

static const uint16_t fam_prio[_FAM_MAX] = { NL_TC_PRIO_V4, NL_TC_PRIO_V6 };
static const uint16_t fam_proto[_FAM_MAX] = { ETH_P_IP, ETH_P_IPV6 };

struct left {
	bool ours, foreign;
};

static int left_cb(const struct nlmsghdr *nlh, void *data)
{
	struct left *l = data;
	struct nl_tc_obj o;
	uint16_t prio;

	if (nl_tc_parse(nlh, &o) < 0)
		return 0;
	prio = nl_tc_obj_prio(&o);
	/* chaosd's tables outlive its instances while someone else's u32 instance is on the
	 * clsact, whose dump then shows them under its own priority. */
	if (((prio == NL_TC_PRIO_V4 || prio == NL_TC_PRIO_V6) && o.chain == 0) ||
			(streq(o.kind, "u32") && dp_ht_ours(o.handle)))
		l->ours = true;
	else
		l->foreign = true;
	return 0;
}

/* What is left on the clsact of ifindex; a dump that fails counts as chaosd's (a scan
 * follows, which finds out). */
static void clsact_left(struct datapath *dp, int ifindex, struct left *l)
{
	static const uint32_t parents[] = { NL_TC_INGRESS_PARENT, NL_TC_EGRESS_PARENT };
	char buf[NL_TC_REQ_SIZE];

	for (unsigned i = 0; i < ELEMENTSOF(parents); i++) {
		int r = nl_socket_dump(dp->nl,
				nl_tc_filter_dump_req(buf, ifindex, parents[i], 0, 0), left_cb, l,
				NULL);
		if (r < 0 && r != -ENODEV && r != -ENOENT)
			l->ours = true;
	}
}

static bool has_instance(const struct dp_side *s, unsigned fam)
{
	for (unsigned i = 0; i < GRP_BYTES; i++)
		if (s->grp_made[fam][i])
			return true;
	return false;
}

int dp_remove_tracked(struct datapath *dp, bool *ret_rescan, struct diag *d)
{
	_cleanup_free_ int *dropped = calloc(dp->n_ifaces + 1, sizeof(*dropped));
	struct nl_batch b;
	unsigned removed = 0, n_ifbs = 0;
	bool rescan = false;
	int r;

	if (!dropped)
		return -ENOMEM;
	/* Only where chaosd made the clsact: on someone else's, with their filters, its tables
	 * may outlive its instances (the crash loop's phase 2 had the next adds fail with
	 * EEXIST), which the scan's order (links, tables, instances) avoids. */
	for (unsigned i = 0; i < dp->n_ifaces; i++)
		if (dp->ifaces[i]->clsact_present && !dp->ifaces[i]->clsact_ours) {
			*ret_rescan = true;
			return 0;
		}
	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < dp->n_ifaces && r >= 0; i++) {
		const struct dp_iface *iface = dp->ifaces[i];
		struct nl_tc_dev dev = { iface->ifindex, iface->name };
		for (unsigned dir = 0; dir < _DIR_MAX && r >= 0; dir++) {
			const struct dp_dir *dd = &iface->dir[dir];
			for (unsigned k = 0; k < MAX_SHARDS; k++)
				n_ifbs += dd->ifb[k].ifindex != 0;
			for (unsigned fam = 0; fam < _FAM_MAX && r >= 0; fam++)
				if (iface->clsact_present && has_instance(&dd->real, fam))
					r = nl_tc_filter_del(&b, dp->nl, dev, real_parent(dir),
							fam_prio[fam], fam_proto[fam], 0);
		}
	}
	if (r >= 0 && n_ifbs)
		r = nl_link_group_del(&b, dp->nl, DATAPATH_IFB_GROUP);
	if (r >= 0 && b.n)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, d);
	if (r < 0)
		goto out;
	/* What the kernel did not find (the interface went, an instance was emptied) is not
	 * counted; the group's one message removed every IFB. */
	for (unsigned i = 0; i < b.n; i++)
		if (b.errs[i] == 0)
			removed += n_ifbs && i == b.n - 1 ? n_ifbs : 1;
	nl_batch_reset(&b);
	for (unsigned i = 0; i < dp->n_ifaces && r >= 0; i++) {
		const struct dp_iface *iface = dp->ifaces[i];
		struct left l = {};
		if (!iface->clsact_present)
			continue;
		clsact_left(dp, iface->ifindex, &l);
		rescan |= l.ours;
		if (l.ours || l.foreign || !iface->clsact_ours)
			continue;
		dropped[b.n] = iface->ifindex;
		r = nl_tc_clsact_del(&b, dp->nl, (struct nl_tc_dev){ iface->ifindex, iface->name });
	}
	if (r >= 0 && b.n)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, d);
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < b.n; i++) {
		removed += b.errs[i] == 0;
		if (dp->journal)
			(void)journal_clsact_remove(dp->journal, dropped[i]);
	}
out:
	nl_batch_done(&b);
	*ret_rescan = rescan;
	return r < 0 ? r : (int)removed;
}
