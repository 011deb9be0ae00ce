/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One slot's life in the kernel, behind datapath_set_netem(): an add plans what it needs
 * (ids, nodes, a shard), makes what must exist before its batch (a new IFB: the redirect needs
 * its ifindex), builds one batch, sends it, and then commits the plan to the registry or rolls
 * back what the kernel took; a change replaces the netem (and the flowsel program) in place; a
 * remove takes the slot's objects and, with the last slot of a direction or interface, the
 * direction's IFBs and classification or chaosd's clsact. */
#include <linux/pkt_sched.h>
#include <string.h>

#include "datapath.h"
#include "dp-internal.h"
#include "journal.h"
#include "nl_link.h"

#define NO_SCH_NETEM                                                                             \
	"the kernel has no sch_netem (modprobe sch_netem; Debian: linux-image-amd64 has it as a "  \
	"module)"

static bool same_match(const struct edge *a, const struct edge *b)
{
	if (a->n_prefixes != b->n_prefixes || a->port != b->port || a->proto != b->proto ||
			a->mark != b->mark)
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

/* An add in progress: what it reserved in the registry and made in the kernel so far, so that
 * one path (add_undo) takes back whatever a failure leaves. */
struct add {
	const struct edge *e;
	unsigned dir;
	const struct netem_config *cfg;
	const struct netem_dist *dist;
	struct filter_spec f[MAX_FILTERS];
	unsigned n;
	struct dp_iface *iface;
	struct dp_dir *dd;
	struct dp_slot *slot; /* owned until committed; its nodes count once allocated */
	bool ids;             /* the slot's class ids are taken */
	struct dp_side *ifb;
	bool ifb_new, clsact_new;
	/* planned: nothing in a batch yet; building: messages in b, unsent; sent: b has answers */
	enum { ADD_PLANNED, ADD_BUILDING, ADD_SENT } stage;
	struct nl_batch b;
	struct add_msgs m;
};

/* Undo what succeeded of a failed add's batch so nothing stays half applied; the first n of the
 * slot's nodes were in it. */
static void rollback_add(struct datapath *dp, struct add *a, unsigned n, struct diag *d)
{
	const struct nl_batch *done = &a->b;
	struct add_msgs *m = &a->m;
	struct dp_iface *iface = a->iface;
	unsigned dir = a->dir;
	struct dp_dir *dd = a->dd;
	struct dp_side *ifb = a->ifb;
	bool real_whole = a->clsact_new && msg_ok(done, m->clsact);
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
		r = dp_put_rollback_side(dp, &b, dir, &dd->real, SIDE_REAL, done, m,
				a->slot->nodes, n);
	if (r >= 0 && a->ifb_new) {
		r = nl_link_del(&b, dp->nl, ifb->ifindex, ifb->name);
	} else if (r >= 0) {
		r = dp_put_rollback_side(dp, &b, dir, ifb, SIDE_IFB, done, m, a->slot->nodes,
				n);
		if (r >= 0 && msg_ok(done, m->class))
			r = dp_put_leaves_del(dp, &b, side_dev(ifb), a->slot);
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
	if (a->ifb_new)
		dp_ifb_forget(ifb);
	if (a->clsact_new) {
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

/* The (family, group)s of the edge's nodes that are not made on both sides yet. */
static void plan_groups(struct add *a)
{
	struct add_msgs *m = &a->m;

	for (unsigned i = 0; i < a->n; i++) {
		const struct filter_spec *f = &a->f[i];
		bool listed = false;
		for (unsigned k = 0; k < m->n_groups; k++)
			listed = listed ||
				 (m->groups[k].fam == f->fam && m->groups[k].grp == f->grp);
		if (!listed && (!grp_made(&a->dd->real, f->fam, f->grp) ||
					       !grp_made(a->ifb, f->fam, f->grp)))
			m->groups[m->n_groups++] = (struct grp_ref){ (uint8_t)f->fam, f->grp,
				{ -1, -1 }, { -1, -1 } };
	}
}

/* Everything the add needs that the registry decides: the interface's state, room for the
 * record (once the kernel has the objects, they must be remembered), class ids, node ids and
 * an IFB shard. Nothing reaches the kernel but the probe of a new interface. */
static int add_plan(struct datapath *dp, struct add *a, int ifindex, uint32_t flows,
		struct diag *d)
{
	struct dp_slot **slots, *slot;
	int r;

	memset(&a->m, -1, sizeof(a->m));
	a->m.n_groups = 0;
	r = dp_edge_filters(a->e, a->dir, a->f, &a->n, d);
	if (r >= 0)
		r = load_dist(dp, a->cfg->dist, &a->dist, d);
	if (r >= 0)
		r = dp_iface_get(dp, ifindex, a->dir, &a->iface, d);
	if (r < 0)
		return r;
	a->dd = &a->iface->dir[a->dir];
	slots = reallocarray(dp->slots, dp->n_slots + 1, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	dp->slots = slots;
	slot = a->slot = calloc(1, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	strcpy_cut(slot->edge, sizeof(slot->edge), a->e->name);
	slot->edge_hash = edge_name_hash(slot->edge);
	slot->ifindex = ifindex;
	slot->dir = a->dir;
	slot->match = *a->e;
	slot->has_table = a->dist != NULL;
	if (dp_alloc_class_ids(a->dd, slot, flows) < 0)
		return diag_add(d, -ENOSPC, "%s: no free class id for %s faults", a->iface->name,
				dir_str(a->dir));
	a->ids = true;
	if (dp_alloc_nodes(a->dd, a->f, a->n, slot->nodes) < 0)
		return diag_add(d, -ENOSPC,
				"%s: chaosd's %u filter handles for %s faults are used up (edge "
				"%s needs %u)",
				a->iface->name, NL_TC_U32_HT_NODE_MAX, dir_str(a->dir), a->e->name,
				a->n);
	slot->n_nodes = a->n;
	if (dp_shard_pick(a->dd, slot_classes(slot), &slot->shard, &a->ifb_new) < 0)
		return diag_add(d, -ENOSPC, "%s: chaosd's %u IFBs of %u classes for %s faults are "
					    "full (edge %s needs %u)",
				a->iface->name, (unsigned)MAX_SHARDS, (unsigned)SHARD_CLASSES,
				dir_str(a->dir), a->e->name, slot_classes(slot));
	a->ifb = &a->dd->ifb[slot->shard];
	plan_groups(a);
	return 0;
}

/* What must exist before the batch: no leftovers of a dead chaosd on a fresh direction, a new
 * IFB (in its own request: the redirect needs its ifindex), and the journal's note of a clsact
 * the batch will make (first: a chaosd killed right after the kernel made it still knows the
 * clsact is its own to delete). */
static int add_prepare(struct datapath *dp, struct add *a, struct diag *d)
{
	struct dp_iface *iface = a->iface;
	int r;

	if (a->dd->n_slots == 0 && iface->clsact_present) {
		r = dp_clean_stale_filters(dp, iface, a->dir, d);
		if (r < 0)
			return r;
	}
	if (a->ifb_new) {
		r = dp_ifb_create(dp, iface, a->dir, a->slot->shard, d);
		if (r < 0)
			return r;
	}
	r = nl_batch_init(&a->b);
	if (r < 0 || iface->clsact_present)
		return r;
	if (dp->journal) {
		r = journal_clsact_add(dp->journal, iface->ifindex, iface->name);
		if (r < 0)
			return diag_add(d, r, "journal: recording the clsact on %s: %s",
					iface->name, strerror(-r));
	}
	a->clsact_new = true;
	return 0;
}

/* The batch: the clsact and the IFB's htb root if new, the edge's class, then its
 * classification on the IFB before the redirect that feeds it. */
static int add_build(struct datapath *dp, struct add *a)
{
	struct nl_batch *b = &a->b;
	struct add_msgs *m = &a->m;
	const struct dp_slot *slot = a->slot;
	int r = 0;

	a->stage = ADD_BUILDING;
	if (a->clsact_new) {
		m->clsact = (int)b->n;
		r = nl_tc_clsact_add(b, dp->nl,
				(struct nl_tc_dev){ a->iface->ifindex, a->iface->name });
	}
	if (r >= 0 && a->ifb_new) {
		m->htb = (int)b->n;
		r = dp_put_htb_root(dp, b, a->ifb);
	}
	if (r < 0)
		return r;
	m->class = (int)b->n;
	r = dp_put_leaves(dp, b, side_dev(a->ifb), slot, a->iface->mtu, a->cfg, a->dist,
			&m->netem);
	if (r >= 0)
		r = dp_put_add_side(dp, b, a->dir, a->ifb, SIDE_IFB, a->ifb, a->f, slot->nodes,
				a->n, slot->id, m);
	if (r >= 0)
		r = dp_put_add_side(dp, b, a->dir, &a->dd->real, SIDE_REAL, a->ifb, a->f,
				slot->nodes, a->n, slot->id, m);
	return r;
}

static int add_send(struct datapath *dp, struct add *a, struct diag *d)
{
	const char *ifname = a->iface->name;
	int r, netem_err;
	struct diag kd;

	a->stage = ADD_SENT;
	diag_init(&kd);
	r = nl_batch_send(&a->b, dp->nl, NULL, &kd);
	if (r >= 0)
		return 0;
	netem_err = a->m.netem >= 0 && (unsigned)a->m.netem < a->b.n ? a->b.errs[a->m.netem] : 0;
	if ((netem_err == -ENOENT || netem_err == -EINVAL) &&
			strstr(kd.text, "qdisc kind is unknown")) {
		/* The kernel's ENOENT would read as "no such edge" to a caller. */
		r = diag_add(d, -EOPNOTSUPP, NO_SCH_NETEM);
	} else {
		diag_add(d, r, "edge %s: setting up its %s fault on %s failed", a->e->name,
				dir_str(a->dir), ifname);
		if (netem_err < 0 && strstr(kd.text, "duplicating"))
			add_duplicating_hint(d, r, ifname);
	}
	diag_add_lines(d, &kd);
	return r;
}

/* The one way back from a failed add: what the kernel took, then what the registry gave. */
static void add_undo(struct datapath *dp, struct add *a, struct diag *d)
{
	if (a->stage != ADD_PLANNED)
		rollback_add(dp, a, a->stage == ADD_SENT ? a->n : 0, d);
	else if (a->ifb_new)
		dp_ifb_delete(dp, a->ifb, d);
	nl_batch_done(&a->b);
	if (a->slot) {
		dp_free_nodes(a->dd, a->slot->nodes, a->slot->n_nodes);
		if (a->ids)
			dp_free_class_ids(a->dd, a->slot);
		free(a->slot);
	}
	if (a->iface)
		dp_iface_drop_if_unused(dp, a->iface);
}

static void add_commit(struct datapath *dp, struct add *a)
{
	if (a->clsact_new) {
		a->iface->clsact_present = true;
		a->iface->clsact_ours = true;
	}
	for (unsigned k = 0; k < a->m.n_groups; k++) {
		grp_set(&a->dd->real, a->m.groups[k].fam, a->m.groups[k].grp, true);
		grp_set(a->ifb, a->m.groups[k].fam, a->m.groups[k].grp, true);
	}
	a->slot->shaped = dp_wants_shaper(a->cfg);
	a->ifb->n_classes += slot_classes(a->slot);
	a->dd->n_slots++;
	dp_slot_insert(dp, TAKE_PTR(a->slot));
	nl_batch_done(&a->b);
}

/* plan -> prepare -> build one batch -> send -> commit, or undo whatever happened. */
static int add_slot(struct datapath *dp, const struct edge *e, int ifindex, unsigned dir,
		const struct netem_config *cfg, uint32_t flows, struct diag *d)
{
	struct add a = { .e = e, .dir = dir, .cfg = cfg };
	int r;

	r = add_plan(dp, &a, ifindex, flows, d);
	if (r >= 0)
		r = add_prepare(dp, &a, d);
	if (r >= 0) {
		r = add_build(dp, &a);
		if (r < 0)
			diag_add(d, r, "edge %s: building the netlink request failed: %s", e->name,
					strerror(-r));
	}
	if (r >= 0)
		r = add_send(dp, &a, d);
	if (r < 0) {
		add_undo(dp, &a, d);
		return r;
	}
	add_commit(dp, &a);
	return 0;
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
	int r, filter_msg = -1, shaper_msg = -1;

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
		r = dp_put_netem_change(dp, &b, ifb, slot, iface->mtu, cfg, dist, &shaper_msg);
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
		if (msg_ok(&b, shaper_msg))
			slot->shaped = true;
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
	if (dp)
		dp_stats_invalidate(dp);
	return datapath_set_netem_flows(dp, e, ifindex, dir, cfg, FLOWSEL_ALL, d);
}

static int set_netem_flows(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, const struct netem_config *cfg, uint32_t flows,
		struct diag *d)
{
	struct dp_slot *slot;
	unsigned di;
	int r;

	if (!e || flows == 0 || flows > FLOWSEL_ALL)
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
	r = add_slot(dp, e, ifindex, di, cfg, flows, d);
	if (r >= 0 && e->mark) {
		/* a service edge: refused whole where the kernel would not scope it */
		slot = dp_slot_find(dp, e->name, di);
		r = dp_service_verify(dp, slot, d);
		if (r < 0 && slot) {
			struct diag ignored;

			diag_init(&ignored);
			(void)remove_slot(dp, slot, &ignored);
		}
	}
	return r;
}

int datapath_set_netem_flows(struct datapath *dp, const struct edge *e, int ifindex,
		enum fault_direction dir, const struct netem_config *cfg, uint32_t flows,
		struct diag *d)
{
	int r;

	if (!dp)
		return -EINVAL;
	dp_stats_invalidate(dp);
	r = set_netem_flows(dp, e, ifindex, dir, cfg, flows, d);
	/* A failure may leave what the registry does not know (a rollback that failed too):
	 * the next remove_all scans. */
	if (r < 0)
		dp->tracked = false;
	return r;
}

/* e's slot in direction dir and its interface (NULL: e has none there). */
static struct dp_iface *edge_iface(struct datapath *dp, const struct edge *e,
		enum fault_direction dir, struct dp_slot **ret_slot, unsigned *ret_di)
{
	struct dp_slot *slot;

	if (!dp || !e || dp_dir_index(dir, ret_di) < 0)
		return NULL;
	slot = dp_slot_find(dp, e->name, *ret_di);
	*ret_slot = slot;
	return slot ? dp_iface_find(dp, slot->ifindex) : NULL;
}

int datapath_unclassify(struct datapath *dp, const struct edge *e, enum fault_direction dir,
		struct diag *d)
{
	struct dp_slot *slot = NULL;
	unsigned di = 0;
	struct dp_iface *iface = edge_iface(dp, e, dir, &slot, &di);
	struct nl_batch b;
	struct diag kd;
	int r;

	if (!dp || !e)
		return -EINVAL;
	if (!iface)
		return 0;
	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	diag_init(&kd);
	/* Only the edge's nodes on the interface: the removal that follows deletes them again,
	 * which tolerates their being gone. */
	for (unsigned i = 0; i < slot->n_nodes && r >= 0; i++)
		r = dp_put_node_del(dp, &b, di, &iface->dir[di].real, &slot->nodes[i]);
	if (r >= 0 && b.n > 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
	nl_batch_done(&b);
	if (r < 0) {
		diag_add(d, r, "edge %s: taking its %s traffic off its fault on %s failed", e->name,
				dir_str(di), iface->name);
		diag_add_lines(d, &kd);
		dp->tracked = false; /* what is left is unknown: the next remove_all scans */
	}
	return r;
}

struct root_qlen {
	int ifindex;
	uint64_t qlen;
};

static int root_qlen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct root_qlen *rq = data;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) >= 0 && o.ifindex == rq->ifindex && o.parent == TC_H_ROOT)
		rq->qlen += o.qlen;
	return 0;
}

int datapath_path_backlog(struct datapath *dp, const struct edge *e, enum fault_direction dir,
		uint64_t *ret_packets)
{
	char buf[NL_TC_REQ_SIZE];
	struct nl_link_counts c;
	struct root_qlen rq = {};
	struct dp_slot *slot = NULL;
	unsigned di = 0;
	struct dp_iface *iface = edge_iface(dp, e, dir, &slot, &di);
	uint64_t left;
	int r;

	if (!iface)
		return dp && e ? -ENOENT : -EINVAL;
	rq.ifindex = iface->dir[di].ifb[slot->shard].ifindex;
	/* the root htb counts what all its classes and their netems hold */
	r = nl_socket_dump(dp->nl, nl_tc_qdisc_dump_req(buf), root_qlen_cb, &rq, NULL);
	if (r >= 0)
		r = nl_link_counts(dp->nl, rq.ifindex, &c);
	if (r < 0)
		return r;
	/* the IFB counts a packet received when htb hands it over, sent when its tasklet passes
	 * it on: the difference waits for the tasklet */
	left = c.tx_packets + c.tx_dropped + c.rx_dropped;
	*ret_packets = rq.qlen + (c.rx_packets > left ? c.rx_packets - left : 0);
	return 0;
}

int datapath_forget_interface(struct datapath *dp, int ifindex, struct diag *d)
{
	if (dp)
		dp_stats_invalidate(dp);
	struct dp_iface *iface = dp_iface_find(dp, ifindex);
	int n = 0;

	/* The kernel removed the clsact and its filters with the device; the IFBs are ours and
	 * independent of it, so they go now. */
	for (unsigned i = dp->n_slots; i-- > 0;)
		if (dp->slots[i]->ifindex == ifindex) {
			dp_slot_forget(dp, dp->slots[i]);
			n++;
		}
	if (iface) {
		for (unsigned dir = 0; dir < _DIR_MAX; dir++)
			for (unsigned k = 0; k < MAX_SHARDS; k++)
				dp_ifb_delete(dp, &iface->dir[dir].ifb[k], d);
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
