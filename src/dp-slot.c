/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One slot's life in the kernel, behind datapath_set_netem(): an add plans what it needs
 * (ids, nodes, a shard), makes what must exist before its batch (a new IFB: the redirect needs
 * its ifindex), builds one batch, sends it, and then commits the plan to the registry or rolls
 * back what the kernel took; a change replaces the netem (and the flowsel program) in place; a
 * remove takes the slot's objects and, with the last slot of a direction or interface, the
 * direction's IFBs and classification or chaosd's clsact. */
#include <string.h>

#include "dp-internal.h"
#include "journal.h"
#include "nl_link.h"

#define NO_SCH_NETEM                                                                             \
	"the kernel has no sch_netem (modprobe sch_netem; Debian: linux-image-amd64 has it as a "  \
	"module)"

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
		(void)dp_learn_roots(dp, dir, &dd->real, need, &kd);
		r = dp_dir_objs(dir, &dd->real, made_now, &h);
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
		r = dp_put_ht_objs(dp, &b, &h, false);
	else
		r = dp_put_rollback_side(dp, &b, dir, &dd->real, SIDE_REAL, done, m, nodes, n);
	if (r >= 0 && ifb_new) {
		r = nl_link_del(&b, dp->nl, ifb->ifindex, ifb->name);
	} else if (r >= 0) {
		r = dp_put_rollback_side(dp, &b, dir, ifb, SIDE_IFB, done, m, nodes, n);
		if (r >= 0 && msg_ok(done, m->class))
			r = dp_put_leaves_del(dp, &b, side_dev(ifb), slot);
	}
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
	nl_batch_done(&b);
	if (r >= 0 && real_teardown)
		r = dp_settle_real(dp, iface, dir, &h, &kd);
	if (real_teardown)
		memset(dd->real.htid, 0, sizeof(dd->real.htid));
out:
	if (r < 0) {
		diag_add(d, r, "undoing the partial change on %s failed; `chaosd --cleanup` "
				"removes what is left",
				iface->name);
		diag_add_lines(d, &kd);
	}
	free(h.v);
	if (ifb_new)
		dp_ifb_forget(ifb);
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

	r = dp_edge_filters(e, dir, f, &n, d);
	if (r < 0)
		return r;
	r = load_dist(dp, cfg->dist, &dist, d);
	if (r < 0)
		return r;
	r = dp_iface_get(dp, ifindex, dir, &iface, d);
	if (r < 0)
		return r;
	dd = &iface->dir[dir];
	/* Room for the record first: once the kernel has the objects, they must be remembered. */
	a = reallocarray(dp->slots, dp->n_slots + 1, sizeof(*a));
	if (!a) {
		dp_iface_drop_if_unused(dp, iface);
		return -ENOMEM;
	}
	dp->slots = a;

	slot = calloc(1, sizeof(*slot));
	if (!slot) {
		dp_iface_drop_if_unused(dp, iface);
		return -ENOMEM;
	}
	snprintf(slot->edge, sizeof(slot->edge), "%s", e->name);
	slot->edge_hash = edge_name_hash(slot->edge);
	slot->ifindex = ifindex;
	slot->dir = dir;
	slot->match = *e;
	slot->has_table = dist != NULL;
	if (dp_alloc_class_ids(dd, slot, flows) < 0) {
		dp_iface_drop_if_unused(dp, iface);
		return diag_add(d, -ENOSPC, "%s: no free class id for %s faults", iface->name,
				dir_str(dir));
	}
	if (dp_alloc_nodes(dd, f, n, slot->nodes) < 0) {
		dp_free_class_ids(dd, slot);
		dp_iface_drop_if_unused(dp, iface);
		return diag_add(d, -ENOSPC,
				"%s: chaosd's %u filter handles for %s faults are used up (edge "
				"%s needs %u)",
				iface->name, NL_TC_U32_HT_NODE_MAX, dir_str(dir), e->name, n);
	}
	slot->n_nodes = n;
	if (dp_shard_pick(dd, slot_classes(slot), &slot->shard, &ifb_new) < 0) {
		dp_free_nodes(dd, slot->nodes, slot->n_nodes);
		dp_free_class_ids(dd, slot);
		dp_iface_drop_if_unused(dp, iface);
		return diag_add(d, -ENOSPC, "%s: chaosd's %u IFBs of %u classes for %s faults are "
					    "full (edge %s needs %u)",
				iface->name, (unsigned)MAX_SHARDS, (unsigned)SHARD_CLASSES,
				dir_str(dir), e->name, slot_classes(slot));
	}
	ifb = &dd->ifb[slot->shard];

	if (dd->n_slots == 0 && iface->clsact_present) {
		r = dp_clean_stale_filters(dp, iface, dir, d);
		if (r < 0)
			goto fail_early;
	}
	/* A new IFB goes first in its own request: the redirect needs its ifindex. */
	if (ifb_new) {
		r = dp_ifb_create(dp, iface, dir, slot->shard, d);
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
		r = dp_put_htb_root(dp, &b, ifb);
		if (r < 0)
			goto fail_batch;
	}
	m.class = (int)b.n;
	r = dp_put_leaves(dp, &b, side_dev(ifb), slot, cfg, dist, &m.netem);
	if (r < 0)
		goto fail_batch;
	/* Classification on the IFB before the redirect that feeds it. */
	r = dp_put_add_side(dp, &b, dir, ifb, SIDE_IFB, ifb, f, slot->nodes, n, slot->id, &m);
	if (r >= 0)
		r = dp_put_add_side(dp, &b, dir, &dd->real, SIDE_REAL, ifb, f, slot->nodes, n,
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
		diag_add_lines(d, &kd);
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
	dp_slot_insert(dp, TAKE_PTR(slot));
	return 0;

fail_batch:
	diag_add(d, r, "edge %s: building the netlink request failed: %s", e->name, strerror(-r));
	rollback_add(dp, iface, dir, &b, &m, slot->nodes, 0, clsact_new, ifb_new, slot, d);
	goto fail_state;
fail_early:
	if (ifb_new)
		dp_ifb_delete(dp, ifb, d);
fail_state:
	nl_batch_done(&b);
	dp_free_nodes(dd, slot->nodes, slot->n_nodes);
	dp_free_class_ids(dd, slot);
	dp_iface_drop_if_unused(dp, iface);
	return r;
}

/* ---------------------------------------------------------------- change */

static int change_slot(struct datapath *dp, struct dp_slot *slot, const struct netem_config *cfg,
		uint32_t flows, struct diag *d)
{
	struct dp_iface *iface = dp_iface_find(dp, slot->ifindex);
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
		r = dp_put_flows_filter(dp, &b, ifb, slot, flows, true);
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
			diag_add_lines(d, &kd);
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

static int remove_slot(struct datapath *dp, struct dp_slot *slot, struct diag *d)
{
	struct dp_iface *iface = dp_iface_find(dp, slot->ifindex);
	struct ht_objs h = { .dir = -1 };
	struct dp_dir *dd;
	struct dp_side *ifb;
	struct nl_batch b;
	struct diag kd;
	bool last_in_dir, last_in_ifb, del_clsact = false;
	int r, clsact_msg = -1;

	if (!iface) {
		dp_slot_forget(dp, slot);
		return 0;
	}
	dd = &iface->dir[slot->dir];
	ifb = &dd->ifb[slot->shard];
	last_in_dir = dd->n_slots <= 1;
	last_in_ifb = ifb->n_classes <= slot_classes(slot);
	diag_init(&kd);
	if (last_in_dir)
		del_clsact = iface->dir[!slot->dir].n_slots == 0 && iface->clsact_ours &&
			     !dp_clsact_has_foreign(dp, iface->ifindex);
	if (last_in_dir && !del_clsact) {
		/* Everything that needs a dump happens before the batch is built. */
		bool need[_FAM_MAX] = { false, false };
		for (unsigned fam = 0; fam < _FAM_MAX; fam++)
			for (unsigned g = 0; g < N_GROUPS; g++)
				need[fam] = need[fam] || grp_made(&dd->real, fam, g);
		r = dp_learn_roots(dp, slot->dir, &dd->real, need, &kd);
		if (r >= 0)
			r = dp_dir_objs(slot->dir, &dd->real, NULL, &h);
		if (r < 0) {
			diag_add(d, r, "edge %s: finding its filters on %s failed", slot->edge,
					iface->name);
			diag_add_lines(d, &kd);
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
			r = dp_put_node_del(dp, &b, slot->dir, &dd->real, &slot->nodes[i]);
		for (unsigned i = 0; i < slot->n_nodes && r >= 0 && !last_in_ifb; i++)
			r = dp_put_node_del(dp, &b, slot->dir, ifb, &slot->nodes[i]);
		if (r >= 0 && !last_in_ifb)
			r = dp_put_leaves_del(dp, &b, side_dev(ifb), slot);
		if (r >= 0 && last_in_ifb)
			r = nl_link_del(&b, dp->nl, ifb->ifindex, ifb->name);
	} else if (del_clsact) {
		/* The clsact chaosd made takes every filter on it. */
		clsact_msg = (int)b.n;
		r = nl_tc_clsact_del(&b, dp->nl, side_dev(&dd->real));
	} else {
		/* The links: traffic stops going to the IFB; tables and instances follow once
		 * the kernel let go of the links (dp_settle_real). */
		r = dp_put_ht_objs(dp, &b, &h, false);
	}
	/* the last of the direction: its IFBs, with their htb, classes, netems and filters */
	for (unsigned k = 0; k < MAX_SHARDS && r >= 0 && last_in_dir; k++)
		if (dd->ifb[k].ifindex)
			r = nl_link_del(&b, dp->nl, dd->ifb[k].ifindex, dd->ifb[k].name);
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
	if (r >= 0 && last_in_dir && !del_clsact)
		r = dp_settle_real(dp, iface, slot->dir, &h, &kd);
	free(h.v);
	if (r < 0) {
		diag_add(d, r, "edge %s: removing its %s fault on %s failed", slot->edge,
				dir_str(slot->dir), iface->name);
		diag_add_lines(d, &kd);
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
	dp_free_nodes(dd, slot->nodes, slot->n_nodes);
	dp_free_class_ids(dd, slot);
	dd->n_slots--;
	ifb->n_classes -= slot_classes(slot);
	if (last_in_ifb)
		dp_ifb_forget(ifb);
	if (last_in_dir) {
		memset(dd->real.htid, 0, sizeof(dd->real.htid));
		memset(dd->real.grp_made, 0, sizeof(dd->real.grp_made));
		for (unsigned k = 0; k < MAX_SHARDS; k++)
			dp_ifb_forget(&dd->ifb[k]);
	}
	dp_slot_forget(dp, slot);
	dp_iface_drop_if_unused(dp, iface);
	return 0;
}

/* ---------------------------------------------------------------- entry points */

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
	if (dp_dir_index(dir, &di) < 0)
		return diag_add(d, -EINVAL, "edge %s: one direction at a time (out or in)",
				e->name);
	slot = dp_slot_find(dp, e->name, di);
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
