/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Partitions as drop rules in table inet chaosd, built with libnftnl and sent through nl_socket.
 * One rule per partition, direction, prefix (and protocol when a port needs one):
 *
 *   oifname "eth0" ip daddr 10.0.5.0/24 tcp dport 5432 counter drop
 *           comment "chaosd fault 42 edge db out 10.0.5.0/24 tcp"
 *
 * A prefix is a payload load, a bitwise mask when the length is not whole bytes, and a cmp, as
 * nft generates it. An anonymous interval set per edge would take fewer rules, but replacing a
 * rule that looks up a new interval set lets packets through while the transaction commits:
 * on 6.18, 19 to 26 datagrams over 60 replacements made by nft itself, and none with cmp
 * matches or with hash sets. A partition that leaks is worse than a longer rule list.
 *
 * The comment (the rule's userdata, in the TLV format nft reads) carries the fault id for
 * nl_nft_get_drops, is the rule's identity when counters are carried over a rewrite, and tells
 * whoever runs `nft list ruleset` where the rule came from. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "flowsel.h"
#include "nl_nft.h"
#include "nft_expr.h"
#include "nl_nft_mark.h"
#include "nl_socket.h"
#include "timeutil.h"

#define CHAIN_OUT "postrouting"
#define CHAIN_IN  "prerouting"
/* Rejects of egress traffic (reject is not valid in postrouting) and ingress rules that need
 * conntrack's state: after conntrack (-200), before NAT and mangle. */
#define CHAIN_LOCAL_OUT "output"
#define CHAIN_FORWARD   "forward"
#define CHAIN_IN_CT     "prerouting_ct"
/* Before conntrack (-200) so dropped packets never create or refresh connection state, after
 * defragmentation (-400) so ports are visible. */
#define CHAIN_PRIO (-300)
#define CHAIN_PRIO_CT (-190)
#define CT_SET_PREFIX "conns_"
/* nft's datatype number for a plain integer, so `nft list` shows the set's type */
#define NFT_TYPE_INTEGER 4
/* Set elements per message: a batch message stays far below the batch's size. */
#define CT_SET_CHUNK 512
#define COMMENT_PREFIX "chaosd fault "

/* One non-batch request (get table/rule): a table name and a few attributes. */
#define NFT_REQ_SIZE 8192
#define NO_NFTABLES "the kernel has no nf_tables (modprobe nf_tables)"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_expr *, nftnl_expr_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_udata_buf *, nftnl_udata_buf_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free)

struct drop_count {
	uint64_t id, packets;
};

struct nl_nft {
	struct nl_socket *sock;
	/* Every fault's drops from one rule dump, kept DROPS_USEC: a status of N partitions
	 * costs one dump, not N. Cleared by any change to the table. */
	struct drop_count *drops;
	unsigned n_drops;
	uint64_t drops_until_usec;
	/* Whether the table may exist: until this process deleted it (a chaosd before it may
	 * have left one) and from its first sync on. A kill without it sends nothing: the
	 * kernel's abort of a DELTABLE for a missing table waits out an RCU grace period. */
	bool table_maybe;
};

#define DROPS_USEC (500 * 1000ULL)

/* Counter of a rule in the table before a sync, keyed by its comment. */
struct old_counter {
	char comment[NFTNL_UDATA_COMMENT_MAXLEN];
	uint64_t packets, bytes;
};

struct sync_ctx {
	struct nl_nft *n;
	const struct nl_nft_partition *parts; /* the set ids follow their index */
	struct nl_batch b;
	struct old_counter *old;
	unsigned n_old;
	struct diag *d;
};

/* One rule: a partition's prefix in one direction, with one protocol or none, in one chain. */
struct rule_spec {
	const struct nl_nft_partition *part;
	const char *ifname;
	enum fault_direction dir; /* OUT or IN */
	const struct edge_prefix *prefix;
	enum edge_proto proto;
	const char *chain;
	bool reset;   /* reject with a TCP reset (proto is tcp); else ICMP if the mode rejects */
	bool not_tcp; /* proto any after a rule of its own for tcp: everything but tcp */
};

static bool no_nftables_err(int r)
{
	return r == -EPROTONOSUPPORT || r == -EOPNOTSUPP || r == -ENOENT || r == -EINVAL;
}

static void put_nfgenmsg(struct nlmsghdr *nlh, uint8_t family, uint16_t res_id)
{
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(res_id);
}

/* Start an nf_tables message in the batch; every one needs the nfgenmsg header. */
static int msg_begin(struct sync_ctx *c, uint16_t type, uint16_t flags, struct nlmsghdr **ret,
		const char *fmt, ...) _printf_(5, 6);
static int msg_begin(struct sync_ctx *c, uint16_t type, uint16_t flags, struct nlmsghdr **ret,
		const char *fmt, ...)
{
	bool delim = type == NFNL_MSG_BATCH_BEGIN || type == NFNL_MSG_BATCH_END;
	struct nlmsghdr *nlh;
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	errno = 0;
	nlh = nl_batch_begin(&c->b, c->n->sock,
			delim ? type : (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | type), flags, what);
	if (!nlh) {
		if (errno == ENOBUFS)
			return diag_add(c->d, -ENOBUFS,
					"nftables: the partitions do not fit in one transaction "
					"of %u KiB (at %s)",
					NL_BATCH_SIZE / 1024, what);
		return -ENOMEM;
	}
	/* Batch delimiters name the subsystem the batch is for. */
	if (delim)
		put_nfgenmsg(nlh, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
	else
		put_nfgenmsg(nlh, NFPROTO_INET, 0);
	*ret = nlh;
	return 0;
}

static int msg_commit(struct sync_ctx *c)
{
	int r = nl_batch_commit(&c->b);

	if (r < 0)
		return diag_add(c->d, r,
				"nftables: the partitions do not fit in one transaction of %u KiB",
				NL_BATCH_SIZE / 1024);
	return 0;
}

static struct nftnl_table *table_new(void)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();

	if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, NL_NFT_TABLE) < 0)
		return NULL;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	return TAKE_PTR(t);
}

static int put_table(struct sync_ctx *c, uint16_t type, uint16_t flags, const char *verb)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *t = table_new();
	struct nlmsghdr *nlh;
	int r;

	if (!t)
		return -ENOMEM;
	r = msg_begin(c, type, flags, &nlh, "nftables: %s table inet %s", verb, NL_NFT_TABLE);
	if (r < 0)
		return r;
	nftnl_table_nlmsg_build_payload(nlh, t);
	return msg_commit(c);
}

static int put_chain(struct sync_ctx *c, const char *name, uint32_t hook, int32_t prio)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	int r;

	if (!ch || nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, NL_NFT_TABLE) < 0 ||
			nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name) < 0 ||
			nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter") < 0)
		return -ENOMEM;
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	r = msg_begin(c, NFT_MSG_NEWCHAIN, NLM_F_CREATE, &nlh, "nftables: add chain %s", name);
	if (r < 0)
		return r;
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	return msg_commit(c);
}

static size_t prefix_addr_len(const struct edge_prefix *p)
{
	return p->family == AF_INET ? 4 : 16;
}

/* The first len bits of p's address, the rest zero. */
static void prefix_masked(const struct edge_prefix *p, uint8_t *ret)
{
	for (size_t k = 0; k < prefix_addr_len(p); k++) {
		unsigned bits = p->len > k * 8 ? MIN(p->len - k * 8u, 8u) : 0;

		ret[k] = p->addr[k] & (uint8_t)(0xff00 >> bits);
	}
}

static void prefix_format(const struct edge_prefix *p, char *buf, size_t n)
{
	uint8_t a[16] = {};
	char s[INET6_ADDRSTRLEN] = "?";

	prefix_masked(p, a);
	inet_ntop(p->family, a, s, sizeof(s));
	snprintf(buf, n, "%s/%u", s, p->len);
}

static void ct_set_name(const struct nl_nft_partition *p, char *buf, size_t n)
{
	snprintf(buf, n, CT_SET_PREFIX "%" PRIu64, p->id);
}

/* The set id ties a lookup to a set made in the same transaction. */
static uint32_t ct_set_id(unsigned i)
{
	return i + 1;
}

/* connections = new: for tcp a SYN without ACK, which holds for connections open before
 * conntrack tracked them too (a connection conntrack first sees mid-stream is "new" to it);
 * other protocols `ct state new`. established: `ct id @conns_ID`. */
static int add_connections_match(struct nftnl_rule *rule, const struct rule_spec *s,
		unsigned part_index)
{
	const struct nl_nft_partition *p = s->part;
	uint32_t new_bit = NF_CT_STATE_BIT(IP_CT_NEW), zero = 0;
	uint8_t syn_ack = 0x12, syn = 0x02, tcp = IPPROTO_TCP;
	char name[64];
	int r;

	if (p->connections == FAULT_CONN_NEW && s->proto == EDGE_PROTO_TCP) {
		r = nft_expr_add(rule, nft_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1));
		if (r >= 0)
			r = nft_expr_add(rule, nft_expr_bitwise(&syn_ack, NULL, sizeof(syn_ack)));
		return r < 0 ? r : nft_expr_add(rule, nft_expr_cmp_eq(&syn, sizeof(syn)));
	}
	if (p->connections == FAULT_CONN_NEW) {
		if (s->not_tcp) {
			r = nft_expr_add(rule, nft_expr_meta(NFT_META_L4PROTO, false));
			if (r >= 0)
				r = nft_expr_add(rule, nft_expr_cmp(NFT_CMP_NEQ, &tcp, sizeof(tcp)));
			if (r < 0)
				return r;
		}
		r = nft_expr_add(rule, nft_expr_ct(NFT_CT_STATE, false));
		if (r >= 0)
			r = nft_expr_add(rule, nft_expr_bitwise(&new_bit, NULL, sizeof(new_bit)));
		return r < 0 ? r : nft_expr_add(rule, nft_expr_cmp(NFT_CMP_NEQ, &zero, sizeof(zero)));
	}
	if (p->connections != FAULT_CONN_ESTABLISHED)
		return 0;
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *l = nftnl_expr_alloc("lookup");
	ct_set_name(p, name, sizeof(name));
	if (!l || nftnl_expr_set_str(l, NFTNL_EXPR_LOOKUP_SET, name) < 0)
		return -ENOMEM;
	nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_SET_ID, ct_set_id(part_index));
	nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	r = nft_expr_add(rule, nft_expr_ct(NFT_CT_ID, false));
	if (r < 0)
		return r;
	nftnl_rule_add_expr(rule, TAKE_PTR(l));
	return 0;
}

static const struct old_counter *old_counter_find(const struct sync_ctx *c, const char *comment)
{
	for (unsigned i = 0; i < c->n_old; i++)
		if (streq(c->old[i].comment, comment))
			return &c->old[i];
	return NULL;
}

/* ip/ip6 saddr or daddr within the prefix, as nft writes it (so `nft list` prints it back as
 * "ip daddr 10.0.5.0/24"): a prefix of whole bytes loads and compares just those, any other
 * loads the address and masks it. /0 needs no match at all. */
static int add_prefix_match(struct nftnl_rule *rule, const struct edge_prefix *p, bool dst)
{
	uint32_t off, len = (uint32_t)prefix_addr_len(p);
	uint8_t addr[16] = {}, mask[16] = {};
	int r;

	if (p->family == AF_INET)
		off = dst ? 16 : 12; /* struct iphdr daddr, saddr */
	else
		off = dst ? 24 : 8; /* struct ip6_hdr ip6_dst, ip6_src */
	if (p->len == 0)
		return 0;
	prefix_masked(p, addr);
	if (p->len % 8 == 0)
		len = p->len / 8u;
	r = nft_expr_add(rule, nft_expr_payload(NFT_PAYLOAD_NETWORK_HEADER, off, len));
	if (r >= 0 && p->len % 8 != 0) {
		struct edge_prefix all = { .family = p->family, .len = p->len };

		memset(all.addr, 0xff, sizeof(all.addr));
		prefix_masked(&all, mask);
		r = nft_expr_add(rule, nft_expr_bitwise(mask, NULL, len));
	}
	if (r >= 0)
		r = nft_expr_add(rule, nft_expr_cmp_eq(addr, len));
	return r;
}

/* A service edge's connections: chaosd's bits of the conntrack mark, which table inet
 * chaosd_mark set when the service's socket sent (nl_nft_mark.h), and which its replies share. */
static int add_service_match(struct nftnl_rule *rule, uint32_t mark)
{
	const uint32_t mask = NL_NFT_MARK_MASK;
	int r = nft_expr_add(rule, nft_expr_ct(NFT_CT_MARK, false));

	if (r >= 0)
		r = nft_expr_add(rule, nft_expr_bitwise(&mask, NULL, sizeof(mask)));
	if (r >= 0)
		r = nft_expr_add(rule, nft_expr_cmp_eq(&mark, sizeof(mark)));
	return r;
}

static bool partial(uint32_t flows)
{
	return flows > 0 && flows < FLOWSEL_ALL;
}

static int put_rule(struct sync_ctx *c, const struct rule_spec *s)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = nftnl_rule_alloc();
	_cleanup_(nftnl_udata_buf_freep) struct nftnl_udata_buf *ud =
			nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 16);
	const struct edge *e = s->part->edge;
	bool out = s->dir == FAULT_DIR_OUT;
	uint8_t nfproto = s->prefix->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	char ifname[IF_NAMESIZE] = {}, pfx[INET6_ADDRSTRLEN + 8];
	char comment[NFTNL_UDATA_COMMENT_MAXLEN];
	struct nlmsghdr *nlh;
	int r;

	if (!rule || !ud)
		return -ENOMEM;
	/* The comment names everything that makes the rule but its share of flows: it is the
	 * rule's identity when counters are carried over (old_counter_find), and a partition
	 * whose share changed in place keeps counting. At most 123 bytes. */
	prefix_format(s->prefix, pfx, sizeof(pfx));
	snprintf(comment, sizeof(comment), COMMENT_PREFIX "%" PRIu64 " edge %s %s %s%s%s%s",
			s->part->id, e->name, out ? "out" : "in", pfx,
			s->proto == EDGE_PROTO_TCP ? " tcp" : "",
			s->proto == EDGE_PROTO_UDP ? " udp" : "",
			streq(s->chain, CHAIN_FORWARD) ? " forward" : "");
	if (nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, NL_NFT_TABLE) < 0 ||
			nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, s->chain) < 0)
		return -ENOMEM;
	nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment) ||
			nftnl_rule_set_data(rule, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
					nftnl_udata_buf_len(ud)) < 0)
		return -ENOMEM;

	/* The interface name compares all IFNAMSIZ bytes, NUL padded: an exact match, so
	 * "eth1" never matches "eth10". */
	memcpy(ifname, s->ifname, strnlen(s->ifname, sizeof(ifname) - 1));
	r = nft_expr_add(rule, nft_expr_meta(out ? NFT_META_OIFNAME : NFT_META_IIFNAME, false));
	if (r >= 0)
		r = nft_expr_add(rule, nft_expr_cmp_eq(ifname, sizeof(ifname)));
	/* An inet chain sees both families: the address offset means something only after
	 * the family is known. */
	if (r >= 0)
		r = nft_expr_add(rule, nft_expr_meta(NFT_META_NFPROTO, false));
	if (r >= 0)
		r = nft_expr_add(rule, nft_expr_cmp_eq(&nfproto, sizeof(nfproto)));
	if (r >= 0)
		r = add_prefix_match(rule, s->prefix, out);
	if (r >= 0 && s->proto != EDGE_PROTO_ANY) {
		/* l4proto skips IPv6 extension headers, and the transport header offset is
		 * where the kernel found that protocol. */
		uint8_t l4 = s->proto == EDGE_PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;

		r = nft_expr_add(rule, nft_expr_meta(NFT_META_L4PROTO, false));
		if (r >= 0)
			r = nft_expr_add(rule, nft_expr_cmp_eq(&l4, sizeof(l4)));
	}
	if (r >= 0 && e->port != 0) {
		uint16_t port = htons(e->port);

		/* tcp and udp both keep the source port at 0 and the destination port at 2. */
		r = nft_expr_add(rule, nft_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, out ? 2 : 0, 2));
		if (r >= 0)
			r = nft_expr_add(rule, nft_expr_cmp_eq(&port, sizeof(port)));
	}
	if (r >= 0 && e->mark)
		r = add_service_match(rule, e->mark);
	if (r >= 0)
		r = add_connections_match(rule, s, (unsigned)(s->part - c->parts));
	if (r >= 0 && partial(s->part->flows))
		r = nft_expr_add_share(rule, FLOWSEL_ALL, s->part->flows);
	/* Start from the count the same rule had before this rewrite, so rewriting the table for
	 * another partition does not reset this one's drops. */
	if (r >= 0) {
		const struct old_counter *old = old_counter_find(c, comment);

		r = nft_expr_add(rule, nft_expr_counter(old ? old->packets : 0, old ? old->bytes : 0));
	}
	if (r >= 0)
		r = nft_expr_add(rule, s->part->mode == FAULT_MODE_REJECT ? nft_expr_reject(s->reset) :
										  nft_expr_drop());
	if (r < 0)
		return r;

	r = msg_begin(c, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, &nlh,
			"nftables: add rule \"%s\" on %s", comment, s->ifname);
	if (r < 0)
		return r;
	nftnl_rule_nlmsg_build_payload(nlh, rule);
	return msg_commit(c);
}

static const char *partition_ifname(const struct nl_nft_partition *p)
{
	return p->ifname[0] ? p->ifname : p->edge->ifname;
}

/* Where a partition's rules of one direction go (one or two chains). */
static unsigned partition_chains(const struct nl_nft_partition *p, enum fault_direction dir,
		const char *ret[static 2])
{
	if (dir == FAULT_DIR_IN) {
		/* a service edge's replies are told by their connection's mark: after conntrack */
		ret[0] = p->connections == FAULT_CONN_ALL && !p->edge->mark ? CHAIN_IN : CHAIN_IN_CT;
		return 1;
	}
	if (p->mode != FAULT_MODE_REJECT) {
		ret[0] = CHAIN_OUT;
		return 1;
	}
	ret[0] = CHAIN_LOCAL_OUT;
	ret[1] = CHAIN_FORWARD;
	return 2;
}

static int put_partition_dir(struct sync_ctx *c, const struct nl_nft_partition *p,
		enum fault_direction dir)
{
	const struct edge *e = p->edge;
	enum edge_proto protos[3];
	const char *chains[2];
	unsigned n_protos = 0, n_chains;

	/* A port without a protocol means that port on tcp and on udp: other protocols have
	 * no port at that offset. A reject of any protocol answers TCP with a reset first. */
	if (e->proto != EDGE_PROTO_ANY)
		protos[n_protos++] = e->proto;
	else if (e->port != 0) {
		protos[n_protos++] = EDGE_PROTO_TCP;
		protos[n_protos++] = EDGE_PROTO_UDP;
	} else {
		if (p->mode == FAULT_MODE_REJECT || p->connections == FAULT_CONN_NEW)
			protos[n_protos++] = EDGE_PROTO_TCP;
		protos[n_protos++] = EDGE_PROTO_ANY;
	}
	n_chains = partition_chains(p, dir, chains);

	for (unsigned i = 0; i < e->n_prefixes; i++) {
		if (edge_prefix_redundant(e, i))
			continue;
		for (unsigned h = 0; h < n_chains; h++)
			for (unsigned k = 0; k < n_protos; k++) {
				struct rule_spec s = {
					.part = p,
					.ifname = partition_ifname(p),
					.dir = dir,
					.prefix = &e->prefixes[i],
					.proto = protos[k],
					.chain = chains[h],
					.reset = protos[k] == EDGE_PROTO_TCP,
					.not_tcp = protos[k] == EDGE_PROTO_ANY && n_protos > 1,
				};
				int r = put_rule(c, &s);

				if (r < 0)
					return r;
			}
	}
	return 0;
}

/* The set of conntrack ids a connections = established partition cuts. */
static int put_ct_set(struct sync_ctx *c, const struct nl_nft_partition *p, unsigned index)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *set = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	char name[64];
	int r;

	ct_set_name(p, name, sizeof(name));
	if (!set || nftnl_set_set_str(set, NFTNL_SET_TABLE, NL_NFT_TABLE) < 0 ||
			nftnl_set_set_str(set, NFTNL_SET_NAME, name) < 0)
		return -ENOMEM;
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, sizeof(uint32_t));
	nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, NFT_TYPE_INTEGER);
	nftnl_set_set_u32(set, NFTNL_SET_ID, ct_set_id(index));
	r = msg_begin(c, NFT_MSG_NEWSET, NLM_F_CREATE, &nlh, "nftables: add set %s", name);
	if (r < 0)
		return r;
	nftnl_set_nlmsg_build_payload(nlh, set);
	r = msg_commit(c);
	if (r < 0)
		return r;

	for (unsigned i = 0; i < p->n_ct_ids; i += CT_SET_CHUNK) {
		_cleanup_(nftnl_set_freep) struct nftnl_set *elems = nftnl_set_alloc();

		if (!elems || nftnl_set_set_str(elems, NFTNL_SET_TABLE, NL_NFT_TABLE) < 0 ||
				nftnl_set_set_str(elems, NFTNL_SET_NAME, name) < 0)
			return -ENOMEM;
		nftnl_set_set_u32(elems, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_u32(elems, NFTNL_SET_ID, ct_set_id(index));
		for (unsigned k = i; k < p->n_ct_ids && k < i + CT_SET_CHUNK; k++) {
			struct nftnl_set_elem *el = nftnl_set_elem_alloc();

			if (!el)
				return -ENOMEM;
			if (nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, &p->ct_ids[k],
					    sizeof(p->ct_ids[k])) < 0) {
				nftnl_set_elem_free(el);
				return -ENOMEM;
			}
			nftnl_set_elem_add(elems, el);
		}
		r = msg_begin(c, NFT_MSG_NEWSETELEM, NLM_F_CREATE, &nlh,
				"nftables: add %u connections to set %s", p->n_ct_ids, name);
		if (r < 0)
			return r;
		nftnl_set_elems_nlmsg_build_payload(nlh, elems);
		r = msg_commit(c);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Refuse what would widen a partition beyond its edge, before touching the kernel. */
static int partition_check(const struct nl_nft_partition *p, unsigned i, struct diag *d)
{
	const struct edge *e = p->edge;
	const char *ifname;
	char who[96];

	if (!e)
		return diag_add(d, -EINVAL, "partition %u (fault %" PRIu64 "): no edge", i, p->id);
	snprintf(who, sizeof(who), "partition of fault %" PRIu64 " on edge %s", p->id, e->name);
	ifname = partition_ifname(p);
	if (strnlen(ifname, IF_NAMESIZE) >= IF_NAMESIZE)
		return diag_add(d, -EINVAL, "%s: interface name too long", who);
	if (ifname[0] == '\0')
		return diag_add(d, -EINVAL, "%s: no interface (it would drop the edge's traffic on "
				"every interface)", who);
	if (p->flows > FLOWSEL_ALL)
		return diag_add(d, -EINVAL, "%s: share of flows %u above %u", who, p->flows,
				FLOWSEL_ALL);
	if (p->direction != FAULT_DIR_OUT && p->direction != FAULT_DIR_IN &&
			p->direction != FAULT_DIR_BOTH)
		return diag_add(d, -EINVAL, "%s: direction %d (allowed: out, in, both)", who,
				(int)p->direction);
	if (p->mode != FAULT_MODE_DROP && p->mode != FAULT_MODE_REJECT)
		return diag_add(d, -EINVAL, "%s: mode %d (allowed: drop, reject)", who,
				(int)p->mode);
	if (p->connections != FAULT_CONN_ALL && p->connections != FAULT_CONN_NEW &&
			p->connections != FAULT_CONN_ESTABLISHED)
		return diag_add(d, -EINVAL, "%s: connections %d (allowed: all, new, established)",
				who, (int)p->connections);
	if (p->n_ct_ids > 0 && !p->ct_ids)
		return diag_add(d, -EINVAL, "%s: %u connection ids but no list", who,
				p->n_ct_ids);
	if (e->n_prefixes == 0 || e->n_prefixes > EDGE_PREFIX_MAX)
		return diag_add(d, -EINVAL, "%s: %u prefixes (allowed: 1 to %d)", who,
				e->n_prefixes, EDGE_PREFIX_MAX);
	for (unsigned k = 0; k < e->n_prefixes; k++) {
		const struct edge_prefix *x = &e->prefixes[k];

		if (!(x->family == AF_INET && x->len <= 32) &&
				!(x->family == AF_INET6 && x->len <= 128))
			return diag_add(d, -EINVAL, "%s: prefix %u has family %d and length %u",
					who, k, x->family, x->len);
	}
	if (e->proto != EDGE_PROTO_ANY && e->proto != EDGE_PROTO_TCP &&
			e->proto != EDGE_PROTO_UDP)
		return diag_add(d, -EINVAL, "%s: protocol %d (allowed: any, tcp, udp)", who,
				(int)e->proto);
	return 0;
}

/* Rule comments and counters from a dump of the table's rules. */
struct rule_walk {
	bool collect; /* sync: every rule's counter into old; else every fault's into drops */
	struct drop_count *drops;
	unsigned n_drops, cap_drops;
	struct old_counter *old;
	unsigned n_old, cap_old;
};

static int udata_comment_cb(const struct nftnl_udata *attr, void *data)
{
	const char **ret = data;
	uint8_t len = nftnl_udata_len(attr);
	const char *v = nftnl_udata_get(attr);

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT && len > 0 && v[len - 1] == '\0')
		*ret = v;
	return 0;
}

static const char *rule_comment(const struct nftnl_rule *r)
{
	const char *comment = NULL;
	const void *data;
	uint32_t len = 0;

	if (!nftnl_rule_is_set(r, NFTNL_RULE_USERDATA))
		return NULL;
	data = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
	if (!data || nftnl_udata_parse(data, len, udata_comment_cb, &comment) < 0)
		return NULL;
	return comment;
}

/* "chaosd fault 42 edge ..." -> 42 */
static int comment_fault_id(const char *comment, uint64_t *ret)
{
	const char *s;
	char *end;
	unsigned long long v;

	if (!comment || strncmp(comment, COMMENT_PREFIX, strlen(COMMENT_PREFIX)) != 0)
		return -EINVAL;
	s = comment + strlen(COMMENT_PREFIX);
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\0'))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int counter_cb(struct nftnl_expr *e, void *data)
{
	uint64_t *counts = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name && streq(name, "counter")) {
		counts[0] += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		counts[1] += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
	}
	return 0;
}

static int rule_walk_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
	struct rule_walk *w = data;
	uint64_t counts[2] = {}, id;
	const char *comment;

	if (!r)
		return -ENOMEM;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0)
		return -EBADMSG;
	comment = rule_comment(r);
	if (comment_fault_id(comment, &id) < 0)
		return MNL_CB_OK; /* not ours: someone added a rule to our table */
	if (nftnl_expr_foreach(r, counter_cb, counts) < 0)
		return -EBADMSG;
	if (w->collect) {
		struct old_counter *o;

		if (w->n_old == w->cap_old) {
			unsigned cap = w->cap_old ? w->cap_old * 2 : 16;

			o = reallocarray(w->old, cap, sizeof(*o));
			if (!o)
				return -ENOMEM;
			w->old = o;
			w->cap_old = cap;
		}
		o = &w->old[w->n_old++];
		snprintf(o->comment, sizeof(o->comment), "%s", comment);
		o->packets = counts[0];
		o->bytes = counts[1];
	} else {
		if (w->n_drops == w->cap_drops) {
			unsigned cap = w->cap_drops ? w->cap_drops * 2 : 64;
			struct drop_count *v = reallocarray(w->drops, cap, sizeof(*v));

			if (!v)
				return -ENOMEM;
			w->drops = v;
			w->cap_drops = cap;
		}
		w->drops[w->n_drops++] = (struct drop_count){ id, counts[0] };
	}
	return MNL_CB_OK;
}

static int walk_rules(struct nl_nft *n, struct rule_walk *w, struct diag *d)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
	char buf[NFT_REQ_SIZE] = { 0 }; /* libmnl leaves attribute padding as it finds it */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	if (!r || nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NL_NFT_TABLE) < 0)
		return -ENOMEM;
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE;
	put_nfgenmsg(nlh, NFPROTO_INET, 0);
	/* The table attribute makes the kernel dump only our table's rules. */
	nftnl_rule_nlmsg_build_payload(nlh, r);
	return nl_socket_dump(n->sock, nlh, rule_walk_cb, w, d);
}

int nl_nft_open(struct nl_nft **ret, struct diag *d)
{
	_cleanup_free_ struct nl_nft *n = calloc(1, sizeof(*n));
	char buf[NFT_REQ_SIZE] = { 0 }; /* libmnl leaves attribute padding as it finds it */
	struct nlmsghdr *nlh;
	int r;

	if (!n)
		return -ENOMEM;
	n->table_maybe = true;
	r = nl_socket_open(NETLINK_NETFILTER, &n->sock);
	if (r == -EPROTONOSUPPORT)
		return diag_add(d, r, "nftables: " NO_NFTABLES);
	if (r < 0)
		return diag_add(d, r, "nftables: netlink socket: %s", strerror(-r));
	/* Ask for the ruleset generation: the cheapest request that proves nf_tables is there
	 * (nfnetlink answers EINVAL for a subsystem it could not load). */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
	put_nfgenmsg(nlh, AF_UNSPEC, 0);
	r = nl_socket_request(n->sock, nlh, NULL, "nftables");
	if (r < 0) {
		n->sock = nl_socket_free(n->sock);
		if (no_nftables_err(r))
			return diag_add(d, r, "nftables: " NO_NFTABLES);
		return diag_add(d, r, "nftables: %s", strerror(-r));
	}
	*ret = TAKE_PTR(n);
	return 0;
}

static void drops_invalidate(struct nl_nft *n)
{
	n->drops_until_usec = 0;
}

struct nl_nft *nl_nft_free(struct nl_nft *n)
{
	if (!n)
		return NULL;
	nl_socket_free(n->sock);
	free(n->drops);
	free(n);
	return NULL;
}

static void sync_ctx_done(struct sync_ctx *c)
{
	nl_batch_done(&c->b);
	free(c->old);
}

static int batch_start(struct sync_ctx *c)
{
	struct nlmsghdr *nlh;
	int r;

	r = nl_batch_init(&c->b);
	if (r < 0)
		return r;
	r = msg_begin(c, NFNL_MSG_BATCH_BEGIN, 0, &nlh, "nftables transaction");
	if (r < 0)
		return r;
	return msg_commit(c);
}

static int batch_finish(struct sync_ctx *c, const int *tolerated)
{
	struct nlmsghdr *nlh;
	int r;

	r = msg_begin(c, NFNL_MSG_BATCH_END, 0, &nlh, "nftables transaction end");
	if (r < 0)
		return r;
	r = msg_commit(c);
	if (r < 0)
		return r;
	r = nl_batch_send(&c->b, c->n->sock, tolerated, c->d);
	/* nfnetlink refuses a batch for a subsystem it cannot load on its BATCH_BEGIN. */
	if (r < 0 && c->b.errs[0] < 0 && no_nftables_err(c->b.errs[0]))
		diag_add(c->d, r, "nftables: " NO_NFTABLES);
	return r;
}

int nl_nft_remove_all(struct nl_nft *n, struct diag *d)
{
	_cleanup_(sync_ctx_done) struct sync_ctx c = { .n = n, .d = d };

	drops_invalidate(n);
	/* Deleting a table that is not there fails its one-message transaction, harmlessly. */
	static const int tolerated[] = { -ENOENT, 0 };
	int r;

	if (!n->table_maybe)
		return 0;
	r = batch_start(&c);
	if (r >= 0)
		r = put_table(&c, NFT_MSG_DELTABLE, 0, "delete");
	if (r < 0)
		return r;
	r = batch_finish(&c, tolerated);
	if (r >= 0)
		n->table_maybe = false;
	return r;
}

int nl_nft_sync(struct nl_nft *n, const struct nl_nft_partition *parts, unsigned n_parts,
		struct diag *d)
{
	_cleanup_(sync_ctx_done) struct sync_ctx c = { .n = n, .d = d, .parts = parts };
	struct rule_walk w = { .collect = true };
	bool need_out = false, need_in = false, need_local = false, need_in_ct = false;
	int r;

	drops_invalidate(n);
	if (n_parts == 0)
		return nl_nft_remove_all(n, d);
	for (unsigned i = 0; i < n_parts; i++) {
		r = partition_check(&parts[i], i, d);
		if (r < 0)
			return r;
		for (enum fault_direction dir = FAULT_DIR_OUT; dir <= FAULT_DIR_IN; dir++) {
			const char *chains[2];

			if (!(parts[i].direction & dir))
				continue;
			partition_chains(&parts[i], dir, chains);
			need_out |= streq(chains[0], CHAIN_OUT);
			need_in |= streq(chains[0], CHAIN_IN);
			need_local |= streq(chains[0], CHAIN_LOCAL_OUT);
			need_in_ct |= streq(chains[0], CHAIN_IN_CT);
		}
	}

	/* Carry counters over the rewrite. Best effort: without them the partitions are still
	 * right, only their drop counts restart, so a failed dump does not block a change. */
	if (walk_rules(n, &w, NULL) >= 0) {
		c.old = w.old;
		c.n_old = w.n_old;
	} else
		free(w.old);

	/* One transaction: creating the table first makes deleting it valid whether or not it
	 * exists; then the table is built anew. A deleted base chain keeps its rules until
	 * its hook is gone and the new ones start with the new generation, so no packet of a
	 * partition that stays passes in between (the test watches for that). */
	n->table_maybe = true;
	r = batch_start(&c);
	if (r >= 0)
		r = put_table(&c, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
	if (r >= 0)
		r = put_table(&c, NFT_MSG_DELTABLE, 0, "delete");
	if (r >= 0)
		r = put_table(&c, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "create");
	if (r >= 0 && need_out)
		r = put_chain(&c, CHAIN_OUT, NF_INET_POST_ROUTING, CHAIN_PRIO);
	if (r >= 0 && need_in)
		r = put_chain(&c, CHAIN_IN, NF_INET_PRE_ROUTING, CHAIN_PRIO);
	if (r >= 0 && need_local)
		r = put_chain(&c, CHAIN_LOCAL_OUT, NF_INET_LOCAL_OUT, CHAIN_PRIO_CT);
	if (r >= 0 && need_local)
		r = put_chain(&c, CHAIN_FORWARD, NF_INET_FORWARD, CHAIN_PRIO_CT);
	if (r >= 0 && need_in_ct)
		r = put_chain(&c, CHAIN_IN_CT, NF_INET_PRE_ROUTING, CHAIN_PRIO_CT);
	for (unsigned i = 0; r >= 0 && i < n_parts; i++)
		if (parts[i].connections == FAULT_CONN_ESTABLISHED)
			r = put_ct_set(&c, &parts[i], i);
	for (unsigned i = 0; r >= 0 && i < n_parts; i++) {
		if (parts[i].direction & FAULT_DIR_OUT)
			r = put_partition_dir(&c, &parts[i], FAULT_DIR_OUT);
		if (r >= 0 && (parts[i].direction & FAULT_DIR_IN))
			r = put_partition_dir(&c, &parts[i], FAULT_DIR_IN);
	}
	if (r < 0)
		return r;
	return batch_finish(&c, NULL);
}

int nl_nft_get_drops(struct nl_nft *n, uint64_t id, uint64_t *ret_packets)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC), sum = 0;
	bool found = false;
	int r;

	if (n->drops_until_usec <= now) {
		struct rule_walk w = {};

		r = walk_rules(n, &w, NULL);
		if (r < 0) {
			free(w.drops);
			return r;
		}
		free(n->drops);
		n->drops = w.drops;
		n->n_drops = w.n_drops;
		n->drops_until_usec = now + DROPS_USEC;
	}
	/* A fault has a rule per direction (and per share): the sum of its rules. */
	for (unsigned i = 0; i < n->n_drops; i++)
		if (n->drops[i].id == id) {
			found = true;
			sum += n->drops[i].packets;
		}
	if (!found)
		return -ENOENT;
	*ret_packets = sum;
	return 0;
}

int nl_nft_table_exists(struct nl_nft *n)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *t = table_new();
	char buf[NFT_REQ_SIZE] = { 0 }; /* libmnl leaves attribute padding as it finds it */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	int r;

	if (!t)
		return -ENOMEM;
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
	put_nfgenmsg(nlh, NFPROTO_INET, 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	r = nl_socket_request(n->sock, nlh, NULL, "nftables: get table");
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return 1;
}
