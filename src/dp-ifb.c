/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The IFBs of a direction ("shards": chd-o<ifindex>, chd-o<ifindex>s1 ... for egress,
 * chd-i<ifindex>... for ingress), each with an htb root and at most SHARD_CLASSES classes, and
 * what an edge's class holds on one: the class 1:<id> with its netem leaf, or for a share of
 * flows an inner class whose flowsel filter picks between a netem leaf and a plain one. Making
 * and deleting the devices, choosing a shard, allocating class ids, and putting and deleting an
 * edge's classes in a batch; the u32 classification that feeds the classes is dp-classify.c's. */
#include <stdio.h>
#include <string.h>

#include "datapath.h"
#include "dp-internal.h"
#include "nl_link.h"

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

/* IFB shard k of a direction: chd-o<ifindex> for the first (all there is up to SHARD_CLASSES),
 * chd-o<ifindex>s<k> for the others. */
int dp_ifb_create(struct datapath *dp, struct dp_iface *iface, unsigned dir, unsigned k,
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
		r = nl_link_ifb_add(&b, dp->nl, s->name, NL_LINK_IFB_TXQLEN, DATAPATH_IFB_GROUP);
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
		diag_add_lines(d, &kd);
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
void dp_ifb_forget(struct dp_side *s)
{
	*s = (struct dp_side){};
}

void dp_ifb_delete(struct datapath *dp, struct dp_side *s, struct diag *d)
{
	struct nl_batch b;

	if (s->ifindex && nl_batch_init(&b) >= 0) {
		if (nl_link_del(&b, dp->nl, s->ifindex, s->name) >= 0)
			(void)nl_batch_send(&b, dp->nl, tolerate_gone, d);
		nl_batch_done(&b);
	}
	dp_ifb_forget(s);
}

/* The IFB shard for a new slot of `classes` classes: the first with room, or the first free
 * place for a new one (*ret_new). Filling the first ones keeps the IFBs few. */
int dp_shard_pick(const struct dp_dir *dd, unsigned classes, uint8_t *ret, bool *ret_new)
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

/* ---------------------------------------------------------------- class ids */

static int alloc_id(struct dp_dir *dd, uint16_t *ret)
{
	unsigned i = first_clear(dd->ids, SLOT_ID_MIN, SLOT_ID_MAX + 1);

	if (i > SLOT_ID_MAX)
		return -ENOSPC;
	bit_set(dd->ids, i, true);
	*ret = (uint16_t)i;
	return 0;
}

int dp_alloc_class_ids(struct dp_dir *dd, struct dp_slot *slot, uint32_t flows)
{
	int r;

	slot->flows = FLOWSEL_ALL;
	r = alloc_id(dd, &slot->id);
	if (r < 0 || flows >= FLOWSEL_ALL)
		return r;
	r = alloc_id(dd, &slot->sel_id);
	if (r >= 0 && alloc_id(dd, &slot->rest_id) < 0) {
		bit_set(dd->ids, slot->sel_id, false);
		r = -ENOSPC;
	}
	if (r < 0) {
		bit_set(dd->ids, slot->id, false);
		return r;
	}
	slot->flows = flows;
	return 0;
}

void dp_free_class_ids(struct dp_dir *dd, const struct dp_slot *slot)
{
	bit_set(dd->ids, slot->id, false);
	if (split(slot)) {
		bit_set(dd->ids, slot->sel_id, false);
		bit_set(dd->ids, slot->rest_id, false);
	}
}

/* ---------------------------------------------------------------- an edge's class */

/* The edge's class 1:<id> holds its netem leaf. With a share of flows it is an inner class whose
 * flowsel filter (cls_bpf: htb_classify() descends into an inner class's own filters) sends the
 * selected flows to 1:<sel_id>, whose leaf is the netem, and the others to 1:<rest_id>, whose
 * leaf is htb's default pfifo: they pass undelayed, and both classes count what they got. */

int dp_put_htb_root(struct datapath *dp, struct nl_batch *b, const struct dp_side *ifb)
{
	return nl_tc_htb_root_add(b, dp->nl, side_dev(ifb), IFB_ROOT, HTB_DIRECT_QLEN);
}

int dp_put_flows_filter(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
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
int dp_put_leaves(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
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
		r = dp_put_flows_filter(dp, b, ifb, slot, slot->flows, false);
	if (r < 0)
		return r;
	*ret_netem = (int)b->n;
	return nl_tc_netem_put(b, dp->nl, ifb, CLASSID(netem_id(slot)),
			NETEM_HANDLE(netem_id(slot)), cfg, dist, false);
}

/* Delete the edge's class: the filter first (htb refuses to delete a class a filter points at),
 * the leaf classes (an inner class with children cannot go), then the class; each class takes
 * its leaf qdisc with it. What is not there is tolerated. */
int dp_put_leaves_del(struct datapath *dp, struct nl_batch *b, struct nl_tc_dev ifb,
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
