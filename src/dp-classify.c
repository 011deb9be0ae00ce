/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* u32 classification, the same on the real interface and on an IFB: per family, a u32
 * instance at NL_TC_PRIO_V4/V6 whose root table holds only link nodes, one per prefix length
 * in use (a "group"). Each links to a table of chaosd's with 256 buckets, picked by the 8
 * address bits that end at that length; an edge's nodes sit in the bucket of their prefix. A
 * packet then walks one short bucket per prefix length in use instead of every edge's node (a
 * linear list costs every packet of the interface per edge), and a miss in a bucket goes on
 * with the next link, so every node that could match a packet is still tried. This file puts
 * and deletes those tables, links and nodes, allocates node ids, and takes a direction's
 * classification down in the order the kernel accepts; it keeps no state of its own. */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath.h"
#include "dp-internal.h"
#include "nl_nft_mark.h"

static const uint16_t fam_prio[_FAM_MAX] = { NL_TC_PRIO_V4, NL_TC_PRIO_V6 };
static const uint16_t fam_proto[_FAM_MAX] = { ETH_P_IP, ETH_P_IPV6 };

/* chaosd's table ids, 0x400 | direction << 9 | family << 8 | group: below the 0x800 the kernel
 * numbers its own tables from, and recognisable after a crash. As handles (id << 20): */
#define HT_BASE       0x400U
#define HT_ID(dir, fam, g)                                                                       \
	((HT_BASE | (uint32_t)(dir) << 9 | (uint32_t)(fam) << 8 | (uint32_t)(g)) << 20)
#define HT_OURS(h)    ((h) >> 20 >= HT_BASE && (h) >> 20 <= NL_TC_U32_HTID_MAX)
#define HT_DIR(h)     (((h) >> 29) & 1)
#define HT_FAM(h)     (((h) >> 28) & 1)
/* the node in the instance's root table that links to group g */
#define LINK_NODE(g)  ((uint32_t)(g) + 1)
/* A deleted link node lets go of its table only after an RCU grace period: tries to delete
 * the table, sleeping 1, 2, 4 ... ms between them (about a second in all). */
#define SETTLE_TRIES  10

bool dp_ht_ours(uint32_t handle)
{
	return HT_OURS(handle);
}

static int fam_index(int family)
{
	return family == AF_INET ? FAM_V4 : family == AF_INET6 ? FAM_V6 : -1;
}


struct root_find {
	unsigned dir, fam;
	uint32_t htid;
};

static int root_cb(const struct nlmsghdr *nlh, void *data)
{
	struct root_find *f = data;
	struct nl_tc_u32_info u;
	struct nl_tc_obj o;

	/* Only nodes of a root table (the kernel's ids) can link to ours. On a clsact, ingress
	 * and egress share u32's tc_u_common (keyed by the qdisc), so a dump of either walks the
	 * tables of both: the direction in the link target tells them apart. */
	if (nl_tc_parse(nlh, &o) < 0 || o.chain != 0 || TC_U32_KEY(o.handle) == 0 ||
			HT_OURS(o.handle) || nl_tc_u32_parse(&o, &u) < 0)
		return 0;
	if (HT_OURS(u.link) && HT_DIR(u.link) == f->dir && HT_FAM(u.link) == f->fam)
		f->htid = TC_U32_HTID(o.handle);
	return 0;
}

/* Find the root table ids of the families in need[] on one side, before a batch is built: a
 * dump takes a sequence number, and a batch's must be consecutive (nl_batch_send matches acks
 * by offset). Not found: the instance is gone, and its links with it. */
int dp_learn_roots(struct datapath *dp, unsigned dir, struct dp_side *s, const bool *need,
		struct diag *d)
{
	for (unsigned fam = 0; fam < _FAM_MAX; fam++) {
		struct root_find f = { dir, fam, 0 };
		char buf[NL_TC_REQ_SIZE];
		int r;

		if (!need[fam] || s->htid[fam] != 0 || s->ifindex <= 0)
			continue;
		r = nl_socket_dump(dp->nl,
				nl_tc_filter_dump_req(buf, s->ifindex, s->parent, fam_prio[fam],
						fam_proto[fam]),
				root_cb, &f, d);
		if (r < 0 && r != -ENOENT && r != -ENODEV)
			return r;
		s->htid[fam] = f.htid;
	}
	return 0;
}

static uint32_t node_handle(unsigned dir, const struct dp_node *n)
{
	return HT_ID(dir, n->fam, n->grp) | (uint32_t)n->bucket << 12 | n->node;
}

int dp_put_node_del(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, const struct dp_node *n)
{
	return nl_tc_filter_del(b, dp->nl, side_dev(s), s->parent, fam_prio[n->fam],
			fam_proto[n->fam], node_handle(dir, n));
}

int dp_ht_objs_add(struct ht_objs *h, const struct ht_obj *o)
{
	struct ht_obj *a = reallocarray(h->v, h->n + 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	h->v = a;
	a[h->n++] = *o;
	return 0;
}

int dp_ht_objs_note(struct ht_objs *h, const struct nl_tc_obj *o, int ifindex,
		uint32_t parent)
{
	bool table = TC_U32_KEY(o->handle) == 0;
	struct nl_tc_u32_info u;
	uint32_t target;

	if (!streq(o->kind, "u32") || o->chain != 0)
		return 0;
	if (table) {
		target = o->handle;
	} else {
		/* nodes in our tables go with them; only root nodes link */
		if (HT_OURS(o->handle) || nl_tc_u32_parse(o, &u) < 0)
			return 0;
		target = u.link;
	}
	if (!HT_OURS(target) || (h->dir >= 0 && HT_DIR(target) != (unsigned)h->dir))
		return 0;
	/* a clsact's two directions each show both's tables: handles are unique per qdisc */
	for (unsigned i = 0; i < h->n; i++)
		if (h->v[i].ifindex == ifindex && h->v[i].handle == o->handle)
			return 0;
	return dp_ht_objs_add(h, &(struct ht_obj){ ifindex, parent, nl_tc_obj_prio(o),
					      nl_tc_obj_protocol(o), o->handle, table });
}

/* Append the deletes of h's links (tables == false) or tables. */
int dp_put_ht_objs(struct datapath *dp, struct nl_batch *b, const struct ht_objs *h,
		bool tables)
{
	for (unsigned i = 0; i < h->n; i++) {
		const struct ht_obj *o = &h->v[i];
		int r;
		if (o->table != tables)
			continue;
		r = nl_tc_filter_del(b, dp->nl, (struct nl_tc_dev){ o->ifindex, NULL }, o->parent,
				o->prio, o->protocol, o->handle);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Delete h's tables, whose links were deleted before. The kernel frees a deleted link node,
 * and with it its hold on the table, only after an RCU grace period (u32_delete_key() queues
 * that work) and refuses to delete a table that is still held (EBUSY): retry for a while. */
int dp_delete_tables_settled(struct datapath *dp, const struct ht_objs *h, struct diag *d)
{
	struct nl_batch b;
	struct diag kd;
	int r;

	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	for (unsigned attempt = 0;; attempt++) {
		diag_init(&kd);
		nl_batch_reset(&b);
		r = dp_put_ht_objs(dp, &b, h, true);
		if (r >= 0)
			r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
		if (r != -EBUSY || attempt + 1 >= SETTLE_TRIES)
			break;
		(void)usleep(1000U << attempt);
	}
	if (r < 0)
		diag_add_lines(d, &kd);
	nl_batch_done(&b);
	return r;
}

/* The links (if the root's id is known: dp_learn_roots()) and tables of one side's made groups,
 * or only those of the groups in only[] when given. */
int dp_dir_objs(unsigned dir, const struct dp_side *s, const uint8_t (*only)[GRP_BYTES],
		struct ht_objs *h)
{
	for (unsigned fam = 0; fam < _FAM_MAX; fam++)
		for (unsigned g = 0; g < N_GROUPS; g++) {
			struct ht_obj o = { s->ifindex, s->parent, fam_prio[fam], fam_proto[fam],
				HT_ID(dir, fam, g), true };
			int r;
			if (!(only ? bit_get(only[fam], g) : grp_made(s, fam, g)))
				continue;
			r = dp_ht_objs_add(h, &o);
			if (r >= 0 && s->htid[fam]) {
				o.handle = s->htid[fam] | LINK_NODE(g);
				o.table = false;
				r = dp_ht_objs_add(h, &o);
			}
			if (r < 0)
				return r;
		}
	return 0;
}

/* Both instances of a side (whatever they hold). */
static int put_instance_dels(struct datapath *dp, struct nl_batch *b, const struct dp_side *s)
{
	int r = 0;

	for (unsigned fam = 0; fam < _FAM_MAX && r >= 0; fam++)
		r = nl_tc_filter_del(b, dp->nl, side_dev(s), s->parent, fam_prio[fam], 0, 0);
	return r;
}

/* Second step of taking a direction off a real interface whose clsact stays, after a batch
 * deleted h's links: the tables (u32 tables belong to every u32 instance on the qdisc and
 * outlive their own while another is there), then the instances. */
int dp_settle_real(struct datapath *dp, struct dp_iface *iface, unsigned dir,
		const struct ht_objs *h, struct diag *d)
{
	struct nl_batch b;
	struct diag kd;
	int r;

	r = dp_delete_tables_settled(dp, h, d);
	if (r < 0)
		return r;
	r = nl_batch_init(&b);
	if (r < 0)
		return r;
	diag_init(&kd);
	r = put_instance_dels(dp, &b, &iface->dir[dir].real);
	if (r >= 0)
		r = nl_batch_send(&b, dp->nl, tolerate_gone, &kd);
	if (r < 0)
		diag_add_lines(d, &kd);
	nl_batch_done(&b);
	return r;
}

/* ---------------------------------------------------------------- filters of an edge */

/* Where a group's link reads the bucket: the 32-bit word at off bytes into the network header
 * (word w of the address), bits shift..shift+7. Those are the 8 bits that end at the prefix
 * length, or the last 8 of the word before if they would straddle two words (IPv6). */
struct group_hash {
	int off;
	unsigned w, shift;
};

static struct group_hash group_hash(unsigned fam, bool src, unsigned g)
{
	int base = fam == FAM_V4 ? (src ? 12 : 16) : (src ? 8 : 24);
	unsigned w = (g - 1) / 32, end = g - 32 * w;

	if (end < 8) {
		w--;
		end = 32;
	}
	return (struct group_hash){ base + 4 * (int)w, w, 32 - end };
}

static uint8_t prefix_bucket(const struct nl_tc_match *m, unsigned fam, unsigned g)
{
	struct group_hash h;
	const uint8_t *a;

	if (g == 0)
		return 0;
	h = group_hash(fam, m->src, g);
	a = m->addr + 4 * h.w;
	return (uint8_t)(((uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 |
				 a[3]) >> h.shift);
}

static int put_group_add(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, unsigned fam, unsigned g, int *ret_table, int *ret_link)
{
	struct nl_tc_match all = { .family = fam == FAM_V4 ? AF_INET : AF_INET6 };
	struct nl_tc_u32 u = {
		.ifindex = s->ifindex,
		.parent = s->parent,
		.prio = fam_prio[fam],
		.protocol = fam_proto[fam],
		.handle = LINK_NODE(g),
		.link = HT_ID(dir, fam, g),
	};
	int r;

	if (g) {
		struct group_hash h = group_hash(fam, dir == DIR_IN, g);
		u.hash_off = h.off;
		u.hash_mask = UINT32_C(0xff) << h.shift;
	}
	*ret_table = (int)b->n;
	r = nl_tc_u32_table_add(b, dp->nl, side_dev(s), u.parent, u.prio, u.protocol,
			HT_ID(dir, fam, g), g ? 256 : 1);
	if (r < 0)
		return r;
	*ret_link = (int)b->n;
	return nl_tc_u32_add(b, dp->nl, &u, &all, s->name);
}

int dp_edge_filters(const struct edge *e, unsigned dir, struct filter_spec *f,
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
				.grp = p->len >= 8 ? p->len : 0,
				.m = {
					.family = p->family,
					.prefix_len = p->len,
					.src = dir == DIR_IN,
					.ipproto = protos[k],
					.port = e->port,
					/* a service edge's packets (see dp_put_add_side
					 * for the ingress redirect) */
					.mark = e->mark,
					.mark_mask = e->mark ? NL_NFT_MARK_MASK : 0,
				},
			};
			memcpy(f[n].m.addr, p->addr, sizeof(f[n].m.addr));
			f[n].bucket = prefix_bucket(&f[n].m, f[n].fam, f[n].grp);
			n++;
		}
	}
	*ret_n = n;
	return 0;
}

/* ---------------------------------------------------------------- node ids */

int dp_alloc_nodes(struct dp_dir *dd, const struct filter_spec *f, unsigned n,
		struct dp_node *nodes)
{
	unsigned next[_FAM_MAX] = { NL_TC_U32_NODE_MIN, NL_TC_U32_NODE_MIN };

	for (unsigned i = 0; i < n; i++) {
		unsigned fam = f[i].fam;
		unsigned k = first_clear(dd->nodes[fam], next[fam], NL_TC_U32_HT_NODE_MAX + 1);
		if (k > NL_TC_U32_HT_NODE_MAX) {
			for (unsigned j = 0; j < i; j++) {
				bit_set(dd->nodes[nodes[j].fam], nodes[j].node, false);
				dd->n_nodes[nodes[j].fam]--;
			}
			return -ENOSPC;
		}
		bit_set(dd->nodes[fam], k, true);
		dd->n_nodes[fam]++;
		nodes[i] = (struct dp_node){ (uint8_t)fam, f[i].grp, f[i].bucket, (uint16_t)k };
		next[fam] = k + 1;
	}
	return 0;
}

void dp_free_nodes(struct dp_dir *dd, const struct dp_node *nodes, unsigned n)
{
	/* The instance and its root id stay: the kernel destroys an instance by itself only
	 * when no u32 node is left on the qdisc (u32_delete() reports it last), and the links
	 * of made groups are nodes. */
	for (unsigned i = 0; i < n; i++) {
		bit_set(dd->nodes[nodes[i].fam], nodes[i].node, false);
		dd->n_nodes[nodes[i].fam]--;
	}
}

/* ---------------------------------------------------------------- an add's nodes */

/* One side's part of an add: the tables and links of groups not made yet, then the edge's
 * nodes in their buckets (on the IFB with the class, on the interface with the redirect to the
 * IFB ifb). */
int dp_put_add_side(struct datapath *dp, struct nl_batch *b, unsigned dir,
		const struct dp_side *s, unsigned side, const struct dp_side *ifb,
		const struct filter_spec *f, const struct dp_node *nodes, unsigned n, uint16_t id,
		struct add_msgs *m)
{
	int r;

	for (unsigned k = 0; k < m->n_groups; k++) {
		struct grp_ref *g = &m->groups[k];
		if (grp_made(s, g->fam, g->grp))
			continue;
		r = put_group_add(dp, b, dir, s, g->fam, g->grp, &g->table[side], &g->link[side]);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < n; i++) {
		struct nl_tc_u32 u = {
			.ifindex = s->ifindex,
			.parent = s->parent,
			.prio = fam_prio[f[i].fam],
			.protocol = fam_proto[f[i].fam],
			.handle = nodes[i].node,
			.ht = HT_ID(dir, f[i].fam, f[i].grp) | (uint32_t)f[i].bucket << 12,
		};
		struct nl_tc_match mt = f[i].m;

		if (side == SIDE_IFB)
			u.classid = CLASSID(id);
		else
			u.redirect_ifindex = ifb->ifindex;
		/* A reply carries no mark until its connection's is restored, which only an action
		 * can do: the real ingress redirects the prefix's packets with connmark, and the
		 * IFB's node matches the mark. */
		if (side == SIDE_REAL && dir == DIR_IN && mt.mark_mask) {
			mt.mark = mt.mark_mask = 0;
			u.connmark = true;
		}
		m->filter[side][i] = (int)b->n;
		r = nl_tc_u32_add(b, dp->nl, &u, &mt, s->name);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Undo one side of a failed add in a direction that keeps other faults: the nodes that made
 * it; a new group that got its link stays made (as if an edge of it had come and gone), one
 * whose link failed loses its table (nothing holds it yet). */
int dp_put_rollback_side(struct datapath *dp, struct nl_batch *b, unsigned dir,
		struct dp_side *s, unsigned side, const struct nl_batch *done, struct add_msgs *m,
		const struct dp_node *nodes, unsigned n)
{
	int r;

	for (unsigned i = 0; i < n; i++) {
		if (!msg_ok(done, m->filter[side][i]))
			continue;
		r = dp_put_node_del(dp, b, dir, s, &nodes[i]);
		if (r < 0)
			return r;
	}
	for (unsigned k = 0; k < m->n_groups; k++) {
		const struct grp_ref *g = &m->groups[k];
		if (msg_ok(done, g->link[side])) {
			grp_set(s, g->fam, g->grp, true);
		} else if (msg_ok(done, g->table[side])) {
			r = nl_tc_filter_del(b, dp->nl, side_dev(s), s->parent, fam_prio[g->fam],
					fam_proto[g->fam], HT_ID(dir, g->fam, g->grp));
			if (r < 0)
				return r;
		}
	}
	return 0;
}

