/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Service edges in the tc datapath: their u32 nodes also match chaosd's bits of the packet's
 * mark (nl_nft_mark.h), and the real interface's ingress node restores the connection's mark
 * (act_connmark) before the redirect (dp-classify.c). A kernel built without
 * CONFIG_CLS_U32_MARK drops TCA_U32_MARK without an error, and a node without it matches every
 * process's packets: the first such node is read back to find out. */
#include <errno.h>

#include "datapath.h"
#include "dp-internal.h"

struct verify {
	uint32_t classid;
	bool found, has_mark;
};

static int verify_cb(const struct nlmsghdr *nlh, void *data)
{
	struct verify *v = data;
	struct nl_tc_u32_info u;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || nl_tc_u32_parse(&o, &u) < 0 || u.hash_table ||
			u.classid != v->classid)
		return 0;
	v->found = true;
	v->has_mark = v->has_mark || u.has_mark;
	return 0;
}

int dp_service_verify(struct datapath *dp, const struct dp_slot *slot, struct diag *d)
{
	const struct dp_iface *iface;
	const struct dp_side *ifb;
	struct verify v = { 0 };
	char buf[NL_TC_REQ_SIZE];
	int r;

	if (!slot || dp->u32_mark > 0)
		return 0;
	iface = dp_iface_find(dp, slot->ifindex);
	if (dp->u32_mark == 0 && iface) {
		ifb = &iface->dir[slot->dir].ifb[slot->shard];
		v.classid = CLASSID(slot->id);
		/* only this shard's own filters, a few dozen at most */
		r = nl_socket_dump(dp->nl, nl_tc_filter_dump_req(buf, ifb->ifindex, ifb->parent, 0, 0),
				verify_cb, &v, d);
		if (r < 0)
			return r;
		if (v.found)
			dp->u32_mark = v.has_mark ? 1 : -1;
	}
	if (dp->u32_mark < 0)
		return diag_add(d, -EOPNOTSUPP, "edge %s is scoped to a service, but this kernel "
				"drops the mark match of u32 filters (built without "
				"CONFIG_CLS_U32_MARK): its fault would reach every process's traffic, so "
				"it is refused", slot->edge);
	return 0;
}
