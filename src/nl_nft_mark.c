/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>

#include "macro.h"
#include "nft_expr.h"
#include "nl_nft_mark.h"

#define MARK_CHAIN "output"
/* After conntrack (-200: the connection exists to take the mark) and before chaosd's partition
 * chains that read it (-190, nl_nft.c), so a service's first packet is already marked there. */
#define MARK_PRIO (-195)

struct mark_batch {
	struct nl_batch b;
	struct nl_socket *s;
	struct diag *d;
	int r; /* first failure; later puts are skipped */
};

/* One nf_tables message of the batch; its payload comes from build. */
static void put_msg(struct mark_batch *mb, uint16_t type, uint16_t flags, const char *what,
		void (*build)(struct nlmsghdr *nlh, void *obj), void *obj)
{
	bool delim = type == NFNL_MSG_BATCH_BEGIN || type == NFNL_MSG_BATCH_END;
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;

	if (mb->r < 0)
		return;
	if (!obj && build) {
		mb->r = -ENOMEM;
		return;
	}
	nlh = nl_batch_begin(&mb->b, mb->s,
			delim ? type : (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | type), flags, what);
	if (!nlh) {
		mb->r = diag_add(mb->d, -ENOBUFS, "nftables: the service marks do not fit in one "
				"transaction (at %s)", what);
		return;
	}
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = delim ? AF_UNSPEC : NFPROTO_INET;
	g->version = NFNETLINK_V0;
	g->res_id = htons(delim ? NFNL_SUBSYS_NFTABLES : 0);
	if (build)
		build(nlh, obj);
	mb->r = nl_batch_commit(&mb->b);
}

static void build_table(struct nlmsghdr *nlh, void *obj)
{
	nftnl_table_nlmsg_build_payload(nlh, obj);
}

static void build_chain(struct nlmsghdr *nlh, void *obj)
{
	nftnl_chain_nlmsg_build_payload(nlh, obj);
}

static void build_rule(struct nlmsghdr *nlh, void *obj)
{
	nftnl_rule_nlmsg_build_payload(nlh, obj);
}

static void put_table(struct mark_batch *mb, uint16_t type, const char *what)
{
	struct nftnl_table *t = nftnl_table_alloc();

	if (t) {
		nftnl_table_set_str(t, NFTNL_TABLE_NAME, NL_NFT_MARK_TABLE);
		nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	}
	put_msg(mb, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, what, build_table, t);
	if (t)
		nftnl_table_free(t);
}

static void put_chain(struct mark_batch *mb)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (c) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NL_NFT_MARK_TABLE);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, MARK_CHAIN);
		/* type route: a packet whose mark changed is routed again */
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "route");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_OUT);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, MARK_PRIO);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	put_msg(mb, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "nftables: add chain " MARK_CHAIN,
			build_chain, c);
	if (c)
		nftnl_chain_free(c);
}

/* Each helper appends one expression; NULL from alloc is caught once, at the end. */
static bool add(struct nftnl_rule *r, struct nftnl_expr *e)
{
	return nft_expr_add(r, e) >= 0;
}

/* reg1 = reg1 & ~NL_NFT_MARK_MASK | mark */
static struct nftnl_expr *mark_bits(uint32_t mark)
{
	uint32_t keep = ~NL_NFT_MARK_MASK, set = mark & NL_NFT_MARK_MASK;

	return nft_expr_bitwise(&keep, &set, sizeof(keep));
}

static struct nftnl_expr *socket_cgroup(uint32_t level)
{
	struct nftnl_expr *e = nftnl_expr_alloc("socket");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_KEY, NFT_SOCKET_CGROUPV2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_LEVEL, level);
		nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_DREG, NFT_REG_1);
	}
	return e;
}

static void put_rule(struct mark_batch *mb, const struct nl_nft_mark *m)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	bool ok = r;
	char what[96];

	if (r) {
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NL_NFT_MARK_TABLE);
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, MARK_CHAIN);
		nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
		if (m->has_cgroup)
			ok = add(r, socket_cgroup(m->level)) &&
				add(r, nft_expr_cmp_eq(&m->cgroup_id, sizeof(m->cgroup_id)));
		if (ok && m->has_uid)
			ok = add(r, nft_expr_meta(NFT_META_SKUID, false)) &&
				add(r, nft_expr_cmp_eq(&m->uid, sizeof(m->uid)));
		ok = ok && add(r, nftnl_expr_alloc("counter")) &&
			add(r, nft_expr_meta(NFT_META_MARK, false)) && add(r, mark_bits(m->mark)) &&
			add(r, nft_expr_meta(NFT_META_MARK, true)) &&
			add(r, nft_expr_ct(NFT_CT_MARK, false)) && add(r, mark_bits(m->mark)) &&
			add(r, nft_expr_ct(NFT_CT_MARK, true));
	}
	snprintf(what, sizeof(what), "nftables: add rule for mark 0x%x", (unsigned)m->mark);
	put_msg(mb, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, what, build_rule,
			ok ? r : NULL);
	if (r)
		nftnl_rule_free(r);
}

static int mark_check(const struct nl_nft_mark *m, unsigned i, struct diag *d)
{
	if (!m->mark || (m->mark & ~NL_NFT_MARK_MASK))
		return diag_add(d, -EINVAL, "service mark %u: 0x%x is not within chaosd's bits "
				"0x%x", i, (unsigned)m->mark, NL_NFT_MARK_MASK);
	if (!m->has_cgroup && !m->has_uid)
		return diag_add(d, -EINVAL, "service mark %u: neither a cgroup nor a uid to match",
				i);
	if (m->has_cgroup && (m->level < 1 || m->level > 255))
		return diag_add(d, -EINVAL, "service mark %u: cgroup level %u (allowed: 1-255)", i,
				(unsigned)m->level);
	return 0;
}

int nl_nft_mark_sync(struct nl_socket *s, const struct nl_nft_mark *marks, unsigned n,
		struct diag *d)
{
	struct mark_batch mb = { .s = s, .d = d };
	int r;

	if (n > NL_NFT_MARK_MAX)
		return diag_add(d, -E2BIG, "%u service edges at once (allowed: at most %u)", n,
				NL_NFT_MARK_MAX);
	for (unsigned i = 0; i < n; i++) {
		r = mark_check(&marks[i], i, d);
		if (r < 0)
			return r;
	}
	r = nl_batch_init(&mb.b);
	if (r < 0)
		return r;
	put_msg(&mb, NFNL_MSG_BATCH_BEGIN, 0, "nftables transaction", NULL, NULL);
	/* Create (a no-op if it is there) and delete: the table is gone whatever was before, and
	 * the transaction needs no error tolerated. The new one replaces it atomically. */
	put_table(&mb, NFT_MSG_NEWTABLE, "nftables: add table inet " NL_NFT_MARK_TABLE);
	put_table(&mb, NFT_MSG_DELTABLE, "nftables: delete table inet " NL_NFT_MARK_TABLE);
	if (n > 0) {
		put_table(&mb, NFT_MSG_NEWTABLE, "nftables: add table inet " NL_NFT_MARK_TABLE);
		put_chain(&mb);
		for (unsigned i = 0; i < n; i++)
			put_rule(&mb, &marks[i]);
	}
	put_msg(&mb, NFNL_MSG_BATCH_END, 0, "nftables transaction end", NULL, NULL);
	r = mb.r;
	if (r >= 0)
		r = nl_batch_send(&mb.b, s, NULL, d);
	nl_batch_done(&mb.b);
	return r;
}
