/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Links and routes over rtnetlink: chaosd's IFB devices, name/index lookups and the route
 * lookup that finds an edge's interface. */

#include <net/if.h>
#include <stdint.h>

#include "diag.h"
#include "nl_socket.h"

/* IFB's own default is 32 (TX_Q_LIMIT): with netem releasing bursts after a delay that stops
 * and wakes the device queue all the time. */
#define NL_LINK_IFB_TXQLEN 1000

/* Append RTM_NEWLINK kind "ifb" named name, brought up by the same message (ifi_flags/change
 * IFF_UP, as `ip link add NAME txqueuelen N up type ifb` sends it), in link group group (0:
 * the default group, no IFLA_GROUP). NLM_F_EXCL: -EEXIST if the name is taken. */
int nl_link_ifb_add(struct nl_batch *b, struct nl_socket *s, const char *name, uint32_t txqlen,
		uint32_t group);
/* Append RTM_DELLINK by ifindex, or by name when ifindex is 0. */
int nl_link_del(struct nl_batch *b, struct nl_socket *s, int ifindex, const char *name);
/* Append RTM_DELLINK of every link in group (!= 0) of the socket's namespace: the kernel
 * unregisters them together, paying its RCU waits once, not per device. -ENODEV when the group
 * has no link; -EOPNOTSUPP (nothing deleted) when one of them cannot be deleted. */
int nl_link_group_del(struct nl_batch *b, struct nl_socket *s, uint32_t group);

/* -ENODEV if there is no such interface. */
int nl_link_ifindex(struct nl_socket *s, const char *name, int *ret_ifindex);
int nl_link_name(struct nl_socket *s, int ifindex, char ret_name[IF_NAMESIZE]);

/* The packets the interface sent and received so far (IFLA_STATS64): a count that does not
 * move says no traffic crossed it in between. */
int nl_link_packets(struct nl_socket *s, int ifindex, uint64_t *ret_packets);

struct nl_link_counts {
	uint64_t rx_packets, tx_packets, rx_dropped, tx_dropped;
};

/* The interface's packet counters (IFLA_STATS64). */
int nl_link_counts(struct nl_socket *s, int ifindex, struct nl_link_counts *ret);

/* The output interface of the route the kernel would use for addr (family AF_INET or
 * AF_INET6, network order): RTM_GETROUTE with RTA_DST. -ENETUNREACH if the lookup finds no
 * usable route (none, or unreachable/blackhole/prohibit). */
int nl_link_route_oif(struct nl_socket *s, int family, const void *addr, int *ret_oif,
		struct diag *d);

struct nl_link_info {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[16]; /* IFLA_INFO_KIND, "" if none */
	unsigned flags; /* IFF_* */
	uint32_t mtu;   /* IFLA_MTU, 0 if absent */
};

/* Name, kind, flags and MTU of one device; -ENODEV if there is none with that index. */
int nl_link_get(struct nl_socket *s, int ifindex, struct nl_link_info *ret);

/* Every link of kind "ifb" whose name starts with prefix. cb returns <0 to stop. */
int nl_link_list_ifbs(struct nl_socket *s, const char *prefix,
		int (*cb)(const struct nl_link_info *l, void *userdata), void *userdata,
		struct diag *d);
