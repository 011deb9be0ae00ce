/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chaosd's objects in the kernel found by what marks them as chaosd's, not by this process's
 * records: IFB names with DATAPATH_IFB_PREFIX, filters at NL_TC_PRIO_V4/V6 and u32 tables with
 * chaosd's ids, and clsacts the journal says chaosd made. The kill switch and crash recovery
 * remove all of them in one batch (datapath_remove_all), tests and the kill switch's check
 * count them, and a direction that starts afresh on a real interface first clears what a chaosd
 * that died left there. A clsact with someone else's filters on it is never deleted. */
#include <string.h>

#include "datapath.h"
#include "dp-internal.h"
#include "journal.h"
#include "nl_link.h"

/* ---------------------------------------------------------------- stale and foreign */

struct stale_scan {
	struct ht_objs h;
	int ifindex;
	uint32_t parent;
};

static int stale_cb(const struct nlmsghdr *nlh, void *data)
{
	struct stale_scan *s = data;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0)
		return 0;
	/* chaosd's tables outlive its instance while someone else's u32 instance is on the
	 * qdisc, whose dump shows them under its own priority: those are noted too. */
	if (nl_tc_obj_prio(&o) != NL_TC_PRIO_V4 && nl_tc_obj_prio(&o) != NL_TC_PRIO_V6 &&
			TC_U32_KEY(o.handle) != 0)
		return 0;
	return dp_ht_objs_note(&s->h, &o, s->ifindex, s->parent);
}

/* Our instances at NL_TC_PRIO_V4/V6 under parent and this direction's tables, left by a
 * chaosd that died: a fresh direction starts without them (their redirect may point at a
 * deleted IFB, which drops). */
int dp_clean_stale_filters(struct datapath *dp, struct dp_iface *iface, unsigned dir,
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
		r = dp_put_ht_objs(dp, &b, &s.h, false);
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, d);
	nl_batch_done(&b);
	if (r >= 0)
		r = dp_settle_real(dp, iface, dir, &s.h, d);
	free(s.h.v);
	return r;
}

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
bool dp_clsact_has_foreign(struct datapath *dp, int ifindex)
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
		/* also chaosd's tables that outlived its instance, shown under this one's */
		if (TC_U32_KEY(f.handle) == 0 &&
				dp_ht_objs_note(&o->hts, &f, o->cur_ifindex, o->cur_parent) < 0)
			return -ENOMEM;
		o->cur->foreign = true;
		return 0;
	}
	if (dp_ht_objs_note(&o->hts, &f, o->cur_ifindex, o->cur_parent) < 0)
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
	struct dp_iface *iface = dp_iface_find(dp, ifindex);

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

static int remove_all_scan(struct datapath *dp, struct diag *d)
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
				dp_ht_objs_add(&tables, &o.hts.v[i]) < 0 && c.first == 0)
			c.first = -ENOMEM;
	r = tables.n ? dp_delete_tables_settled(dp, &tables, d) : 0;
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
	dp_forget_all(dp);
	return c.first < 0 ? c.first : (int)c.removed;
}

void datapath_untracked(struct datapath *dp)
{
	dp->tracked = false;
}

int datapath_remove_all(struct datapath *dp, struct diag *d)
{
	bool rescan = true;
	int r = 0, n;

	dp_stats_invalidate(dp);
	/* From the registry when it knows everything; a scan at start, for --cleanup, after a
	 * change failed, and when the registry's way left something of chaosd's behind. */
	if (dp->tracked) {
		r = dp_remove_tracked(dp, &rescan, d);
		rescan |= r < 0;
	}
	if (!rescan) {
		dp_forget_all(dp);
		return r;
	}
	n = remove_all_scan(dp, d);
	dp->tracked = n >= 0;
	return n < 0 ? n : n + MAX(r, 0);
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
