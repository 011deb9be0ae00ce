/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "nl_ct.h"

/* One connection to change: its original tuple (as the kernel sent it) and zone. */
struct ct_ref {
	uint8_t family;
	bool has_zone;
	uint16_t zone; /* network order, as sent */
	uint16_t tuple_len;
	uint8_t tuple[256];
};

struct collect {
	uint32_t mask, value;
	struct ct_ref *refs;
	unsigned n, cap;
	bool oom;
};

static int collect_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *tuple = NULL;
	struct collect *c = data;
	struct ct_ref ref = { .family = g->nfgen_family };
	uint32_t mark = 0;

	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		switch (mnl_attr_get_type(a)) {
		case CTA_TUPLE_ORIG:
			tuple = a;
			break;
		case CTA_MARK:
			if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
				mark = ntohl(mnl_attr_get_u32(a));
			break;
		case CTA_ZONE:
			if (mnl_attr_validate(a, MNL_TYPE_U16) >= 0) {
				ref.has_zone = true;
				ref.zone = mnl_attr_get_u16(a);
			}
			break;
		}
	}
	if (!(c->value ? (mark & c->mask) == c->value : (mark & c->mask)) || !tuple || tuple->nla_len > sizeof(ref.tuple))
		return MNL_CB_OK;
	ref.tuple_len = tuple->nla_len;
	memcpy(ref.tuple, tuple, tuple->nla_len);
	if (c->n == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 64;
		struct ct_ref *n = reallocarray(c->refs, cap, sizeof(*n));

		if (!n) {
			c->oom = true;
			return -ENOMEM;
		}
		c->refs = n;
		c->cap = cap;
	}
	c->refs[c->n++] = ref;
	return MNL_CB_OK;
}

static void put_nfgen(struct nlmsghdr *nlh, uint8_t family)
{
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
}

int nl_ct_mark_clear(struct nl_socket *s, uint32_t mask, unsigned *ret_cleared, struct diag *d)
{
	return nl_ct_mark_clear_value(s, mask, 0, ret_cleared, d);
}

int nl_ct_mark_clear_value(struct nl_socket *s, uint32_t mask, uint32_t value,
		unsigned *ret_cleared, struct diag *d)
{
	static const int tolerated[] = { -ENOENT, 0 };
	struct collect c = { .mask = mask, .value = value };
	char buf[512] = { 0 };
	struct nl_batch b;
	struct nlmsghdr *nlh;
	unsigned cleared = 0;
	int r;

	if (!mask || (value & ~mask))
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	put_nfgen(nlh, AF_UNSPEC); /* every family */
	r = nl_socket_dump(s, nlh, collect_cb, &c, d);
	if (r < 0) {
		free(c.refs);
		return c.oom ? -ENOMEM : diag_add(d, r, "conntrack: listing connections: %s",
						 strerror(-r));
	}
	r = nl_batch_init(&b);
	for (unsigned i = 0; r >= 0 && i < c.n; i++) {
		const struct ct_ref *ref = &c.refs[i];

		errno = 0;
		nlh = nl_batch_begin(&b, s, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW, 0,
				"conntrack: clear chaosd's mark bits");
		if (!nlh) {
			if (errno != ENOBUFS || b.n == 0) {
				r = -ENOMEM;
				break;
			}
			/* full: send what is there, go on in a fresh batch */
			r = nl_batch_send(&b, s, tolerated, d);
			nl_batch_reset(&b);
			i--;
			continue;
		}
		put_nfgen(nlh, ref->family);
		/* the tuple attribute as the kernel sent it: it names the connection */
		memcpy(mnl_nlmsg_get_payload_tail(nlh), ref->tuple, ref->tuple_len);
		nlh->nlmsg_len += MNL_ALIGN(ref->tuple_len);
		if (ref->has_zone)
			mnl_attr_put_u16(nlh, CTA_ZONE, ref->zone);
		/* new mark = (mark & ~mask) ^ 0 */
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(0));
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
		r = nl_batch_commit(&b);
		cleared++;
	}
	if (r >= 0 && b.n > 0)
		r = nl_batch_send(&b, s, tolerated, d);
	nl_batch_done(&b);
	free(c.refs);
	if (r < 0)
		return r;
	if (ret_cleared)
		*ret_cleared = cleared;
	return 0;
}
