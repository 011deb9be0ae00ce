/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "nl_link.h"

#define REQ_SIZE 512

static int begin_failed(void)
{
	return errno == ENOBUFS ? -ENOBUFS : -ENOMEM;
}

int nl_link_ifb_add(struct nl_batch *b, struct nl_socket *s, const char *name, uint32_t txqlen,
		uint32_t group)
{
	char what[64];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *info;

	if (!name || !name[0] || strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	snprintf(what, sizeof(what), "create IFB %s", name);
	nlh = nl_batch_begin(b, s, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, what);
	if (!nlh)
		return begin_failed();
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	/* rtnl_newlink() applies ifi_flags/ifi_change to the new device (rtnl_configure_link), so
	 * it comes up without a second request. */
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, txqlen);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (group)
		mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	info->nla_type &= (uint16_t)~NLA_F_NESTED; /* as ip(8) sends it */
	mnl_attr_put_str(nlh, IFLA_INFO_KIND, "ifb");
	mnl_attr_nest_end(nlh, info);
	return nl_batch_commit(b);
}

int nl_link_del(struct nl_batch *b, struct nl_socket *s, int ifindex, const char *name)
{
	char what[64];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	if (ifindex <= 0 && (!name || !name[0] || strlen(name) >= IF_NAMESIZE))
		return -EINVAL;
	if (name && name[0])
		snprintf(what, sizeof(what), "delete link %s", name);
	else
		snprintf(what, sizeof(what), "delete link ifindex %d", ifindex);
	nlh = nl_batch_begin(b, s, RTM_DELLINK, 0, what);
	if (!nlh)
		return begin_failed();
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex > 0 ? ifindex : 0;
	if (ifindex <= 0)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nl_batch_commit(b);
}

int nl_link_group_del(struct nl_batch *b, struct nl_socket *s, uint32_t group)
{
	char what[64];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	if (!group)
		return -EINVAL;
	snprintf(what, sizeof(what), "delete link group %u", group);
	nlh = nl_batch_begin(b, s, RTM_DELLINK, 0, what);
	if (!nlh)
		return begin_failed();
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	return nl_batch_commit(b);
}

static int parse_link(const struct nlmsghdr *nlh, struct nl_link_info *ret)
{
	struct nl_link_info l = {};
	const struct ifinfomsg *ifi;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
			nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*ifi)))
		return -EINVAL;
	ifi = mnl_nlmsg_get_payload(nlh);
	l.ifindex = ifi->ifi_index;
	l.flags = ifi->ifi_flags;
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_MTU:
			if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
				l.mtu = mnl_attr_get_u32(a);
			break;
		case IFLA_IFNAME:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
				snprintf(l.name, sizeof(l.name), "%s", mnl_attr_get_str(a));
			break;
		case IFLA_LINKINFO: {
			const struct nlattr *i;
			mnl_attr_for_each_nested(i, a) {
				size_t n = mnl_attr_get_payload_len(i);
				if (mnl_attr_get_type(i) != IFLA_INFO_KIND)
					continue;
				/* The kernel's kind has a NUL; don't rely on it. */
				n = strnlen(mnl_attr_get_payload(i), n);
				if (n >= sizeof(l.kind))
					n = sizeof(l.kind) - 1;
				memcpy(l.kind, mnl_attr_get_payload(i), n);
				l.kind[n] = '\0';
			}
			break;
		}
		}
	}
	*ret = l;
	return 0;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	return parse_link(nlh, data);
}

/* RTM_GETLINK for one device; strict checking allows only the name (and a few others) as
 * attributes and a zeroed header apart from the index (rtnl_valid_getlink_req). */
static int get_link(struct nl_socket *s, int ifindex, const char *name, struct nl_link_info *ret)
{
	char buf[REQ_SIZE] = {};
	struct nl_link_info l = { .ifindex = 0 };
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int r;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	/* Statistics are most of a link message and not needed here. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	r = nl_socket_call(s, nlh, link_cb, &l, NULL, "get link");
	if (r < 0)
		return r;
	if (l.ifindex <= 0)
		return -ENODEV;
	*ret = l;
	return 0;
}

int nl_link_ifindex(struct nl_socket *s, const char *name, int *ret_ifindex)
{
	struct nl_link_info l;
	int r;

	if (!name || !name[0] || strlen(name) >= IF_NAMESIZE)
		return -ENODEV;
	r = get_link(s, 0, name, &l);
	if (r < 0)
		return r;
	*ret_ifindex = l.ifindex;
	return 0;
}

int nl_link_name(struct nl_socket *s, int ifindex, char ret_name[IF_NAMESIZE])
{
	struct nl_link_info l;
	int r;

	if (ifindex <= 0)
		return -ENODEV;
	r = get_link(s, ifindex, NULL, &l);
	if (r < 0)
		return r;
	memcpy(ret_name, l.name, IF_NAMESIZE);
	return 0;
}

int nl_link_get(struct nl_socket *s, int ifindex, struct nl_link_info *ret)
{
	if (ifindex <= 0)
		return -ENODEV;
	return get_link(s, ifindex, NULL, ret);
}

struct link_counts {
	bool found;
	struct nl_link_counts c;
};

static int counts_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_counts *lc = data;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
			nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct ifinfomsg)))
		return -EINVAL;
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg)) {
		struct rtnl_link_stats64 st;
		if (mnl_attr_get_type(a) != IFLA_STATS64 ||
				mnl_attr_get_payload_len(a) < sizeof(st))
			continue;
		memcpy(&st, mnl_attr_get_payload(a), sizeof(st));
		lc->c = (struct nl_link_counts){ .rx_packets = st.rx_packets,
			.tx_packets = st.tx_packets, .rx_dropped = st.rx_dropped,
			.tx_dropped = st.tx_dropped };
		lc->found = true;
	}
	return 0;
}

int nl_link_counts(struct nl_socket *s, int ifindex, struct nl_link_counts *ret)
{
	char buf[REQ_SIZE] = {};
	struct link_counts lc = {};
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int r;

	if (ifindex <= 0)
		return -ENODEV;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	r = nl_socket_call(s, nlh, counts_cb, &lc, NULL, "get link statistics");
	if (r < 0)
		return r;
	if (!lc.found)
		return -ENODATA;
	*ret = lc.c;
	return 0;
}

int nl_link_packets(struct nl_socket *s, int ifindex, uint64_t *ret_packets)
{
	struct nl_link_counts c;
	int r = nl_link_counts(s, ifindex, &c);

	if (r < 0)
		return r;
	*ret_packets = c.tx_packets + c.rx_packets;
	return 0;
}

struct route_result {
	int oif;
	unsigned char type;
};

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_result *res = data;
	const struct rtmsg *rtm;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWROUTE ||
			nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*rtm)))
		return 0;
	rtm = mnl_nlmsg_get_payload(nlh);
	res->type = rtm->rtm_type;
	mnl_attr_for_each(a, nlh, sizeof(*rtm))
		if (mnl_attr_get_type(a) == RTA_OIF && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			res->oif = (int)mnl_attr_get_u32(a);
	return 0;
}

int nl_link_route_oif(struct nl_socket *s, int family, const void *addr, int *ret_oif,
		struct diag *d)
{
	char buf[REQ_SIZE] = {};
	struct route_result res = {};
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	size_t alen;
	int r;

	if (family == AF_INET)
		alen = 4;
	else if (family == AF_INET6)
		alen = 16;
	else
		return -EAFNOSUPPORT;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)family;
	/* Strict checking wants a full-length destination and nothing else in the header
	 * (inet_rtm_valid_getroute_req / inet6_rtm_valid_getroute_req). */
	rtm->rtm_dst_len = (unsigned char)(alen * 8);
	mnl_attr_put(nlh, RTA_DST, alen, addr);
	r = nl_socket_call(s, nlh, route_cb, &res, d, "route lookup");
	if (r < 0)
		return r;
	/* IPv6 answers an unreachable destination with a route of that type via lo. */
	if (res.oif <= 0 || (res.type != RTN_UNICAST && res.type != RTN_LOCAL))
		return -ENETUNREACH;
	*ret_oif = res.oif;
	return 0;
}

struct list_ctx {
	const char *prefix;
	int (*cb)(const struct nl_link_info *l, void *userdata);
	void *userdata;
};

static int list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct list_ctx *c = data;
	struct nl_link_info l;

	if (parse_link(nlh, &l) < 0)
		return 0;
	if (strcmp(l.kind, "ifb") != 0 || strncmp(l.name, c->prefix, strlen(c->prefix)) != 0)
		return 0;
	return c->cb(&l, c->userdata);
}

int nl_link_list_ifbs(struct nl_socket *s, const char *prefix,
		int (*cb)(const struct nl_link_info *l, void *userdata), void *userdata,
		struct diag *d)
{
	char buf[REQ_SIZE] = {};
	struct list_ctx c = { prefix ? prefix : "", cb, userdata };
	struct nlmsghdr *nlh;
	struct nlattr *info;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	/* With strict checking the kernel returns only links of this kind (if the kind is
	 * registered at all; list_cb checks again). */
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "ifb");
	mnl_attr_nest_end(nlh, info);
	return nl_socket_dump(s, nlh, list_cb, &c, d);
}
