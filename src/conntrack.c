/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "conntrack.h"
#include "macro.h"
#include "nl_nft_mark.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nfct_handle *, nfct_close)

static bool port_proto_match(const struct edge *e, uint8_t l4proto, uint16_t port)
{
	if (e->proto == EDGE_PROTO_TCP && l4proto != IPPROTO_TCP)
		return false;
	if (e->proto == EDGE_PROTO_UDP && l4proto != IPPROTO_UDP)
		return false;
	if (e->port == 0)
		return true;
	/* a port without a protocol is that port on tcp and udp, as the partition's rules */
	return (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP) && port == e->port;
}

static bool addr_on_edge(const struct edge *e, int family, const void *addr)
{
	for (unsigned i = 0; i < e->n_prefixes; i++)
		if (edge_prefix_contains(&e->prefixes[i], family, addr))
			return true;
	return false;
}

bool conntrack_tuple_on_edge(const struct edge *e, int family, uint8_t l4proto, const void *src,
		const void *dst, uint16_t sport, uint16_t dport)
{
	if (!e || !src || !dst || (family != AF_INET && family != AF_INET6))
		return false;
	if (addr_on_edge(e, family, dst) && port_proto_match(e, l4proto, dport))
		return true;
	return addr_on_edge(e, family, src) && port_proto_match(e, l4proto, sport);
}

static bool ct_on_edge(const struct edge *e, const struct nf_conntrack *ct)
{
	int family = nfct_get_attr_u8(ct, ATTR_L3PROTO);
	uint8_t l4 = nfct_get_attr_u8(ct, ATTR_L4PROTO);
	uint16_t sport = 0, dport = 0;
	const void *src, *dst;

	if (family == AF_INET) {
		src = nfct_get_attr(ct, ATTR_ORIG_IPV4_SRC);
		dst = nfct_get_attr(ct, ATTR_ORIG_IPV4_DST);
	} else if (family == AF_INET6) {
		src = nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC);
		dst = nfct_get_attr(ct, ATTR_ORIG_IPV6_DST);
	} else
		return false;
	if (nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC) > 0)
		sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
	if (nfct_attr_is_set(ct, ATTR_ORIG_PORT_DST) > 0)
		dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	return conntrack_tuple_on_edge(e, family, l4, src, dst, sport, dport);
}

/* A ctnetlink handle whose socket does not leak into children. */
static int ct_open(struct nfct_handle **ret, struct diag *d)
{
	struct nfct_handle *h = nfct_open(CONNTRACK, 0);
	int fd;

	if (!h)
		return diag_add(d, errno > 0 ? -errno : -EIO, "conntrack: cannot open ctnetlink: %m");
	fd = nfct_fd(h);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int r = -errno;

		nfct_close(h);
		return diag_add(d, r, "conntrack: FD_CLOEXEC on the ctnetlink socket: %m");
	}
	*ret = h;
	return 0;
}

struct collect {
	const struct edge *e;
	bool unreplied_only;
	uint32_t *ids;
	struct nf_conntrack **cts;
	unsigned n, cap;
	int err;
};

static int collect_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct collect *c = data;

	(void)type;
	if (!ct_on_edge(c->e, ct))
		return NFCT_CB_CONTINUE;
	/* a service edge's own connections carry its mark: another service's connections to
	 * the same destination are not its */
	if (c->e->mark && (nfct_get_attr_u32(ct, ATTR_MARK) & NL_NFT_MARK_MASK) != c->e->mark)
		return NFCT_CB_CONTINUE;
	if (c->unreplied_only && (nfct_get_attr_u32(ct, ATTR_STATUS) & IPS_SEEN_REPLY))
		return NFCT_CB_CONTINUE;
	if (c->n == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 64;

		if (cap > CONNTRACK_MAX_IDS) {
			c->err = -E2BIG;
			return NFCT_CB_STOP;
		}
		if (c->unreplied_only) {
			struct nf_conntrack **p = reallocarray(c->cts, cap, sizeof(*p));

			if (!p)
				goto oom;
			c->cts = p;
		} else {
			uint32_t *p = reallocarray(c->ids, cap, sizeof(*p));

			if (!p)
				goto oom;
			c->ids = p;
		}
		c->cap = cap;
	}
	if (c->unreplied_only) {
		/* deleted after the dump: a netlink socket takes no request mid-dump */
		c->cts[c->n] = nfct_clone(ct);
		if (!c->cts[c->n])
			goto oom;
	} else
		/* ctnetlink sends the kernel's id as it is (no htonl since the id became a hash)
		 * and the library swaps it: swap it back to what `ct id` loads. */
		c->ids[c->n] = htonl(nfct_get_attr_u32(ct, ATTR_ID));
	c->n++;
	return NFCT_CB_CONTINUE;
oom:
	c->err = -ENOMEM;
	return NFCT_CB_STOP;
}

static void collect_done(struct collect *c)
{
	for (unsigned i = 0; c->cts && i < c->n; i++)
		nfct_destroy(c->cts[i]);
	free(c->cts);
	free(c->ids);
}

/* Missing conntrack is "no connections", not a failure. */
static bool no_conntrack(int err)
{
	return err == EPROTONOSUPPORT || err == ENOENT || err == EOPNOTSUPP;
}

/* Open a handle into *h and collect what c asks for from the whole table. */
static int dump(struct nfct_handle **h, struct collect *c, struct diag *d)
{
	uint32_t family = AF_UNSPEC;
	int r;

	r = ct_open(h, d);
	if (r < 0)
		return r;
	if (nfct_callback_register(*h, NFCT_T_ALL, collect_cb, c) < 0)
		return diag_add(d, -errno, "conntrack: callback: %m");
	if (nfct_query(*h, NFCT_Q_DUMP, &family) < 0 && c->err == 0) {
		if (no_conntrack(errno))
			return 0;
		return diag_add(d, -errno, "conntrack: dump of the connection table: %m");
	}
	if (c->err == -E2BIG)
		return diag_add(d, -E2BIG, "conntrack: edge %s has more than %d connections",
				c->e->name, CONNTRACK_MAX_IDS);
	if (c->err < 0)
		return diag_add(d, c->err, "conntrack: out of memory");
	return 0;
}

int conntrack_edge_ids(const struct edge *e, uint32_t **ret_ids, unsigned *ret_n,
		struct diag *d)
{
	_cleanup_(nfct_closep) struct nfct_handle *h = NULL;
	_cleanup_(collect_done) struct collect c = { .e = e };
	int r;

	if (!e || !ret_ids || !ret_n)
		return diag_add(d, -EINVAL, "invalid arguments");
	r = dump(&h, &c, d);
	if (r < 0)
		return r;
	*ret_ids = TAKE_PTR(c.ids);
	*ret_n = c.n;
	return 0;
}

int conntrack_flush_edge(const struct edge *e, unsigned *ret_deleted, struct diag *d)
{
	_cleanup_(nfct_closep) struct nfct_handle *h = NULL;
	_cleanup_(collect_done) struct collect c = { .e = e, .unreplied_only = true };
	unsigned deleted = 0;
	int r;

	if (!e)
		return diag_add(d, -EINVAL, "invalid arguments");
	r = dump(&h, &c, d);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < c.n; i++) {
		/* gone already (timed out, or a reply confirmed it away): nothing to do */
		if (nfct_query(h, NFCT_Q_DESTROY, c.cts[i]) < 0) {
			if (errno == ENOENT)
				continue;
			return diag_add(d, -errno, "conntrack: deleting an entry of edge %s: %m",
					e->name);
		}
		deleted++;
	}
	if (ret_deleted)
		*ret_deleted = deleted;
	return 0;
}
