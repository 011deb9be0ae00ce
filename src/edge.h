/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An edge is a named destination of the host's traffic: a set of prefixes, optionally one
 * port and one protocol, on one interface. A packet belongs to at most one edge on an
 * interface: overlapping edges are refused at config load (edge_overlaps), so a fault on one
 * edge can never reach another edge's traffic. */

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"

#define EDGE_NAME_MAX 32
#define EDGE_PREFIX_MAX 32
#define EDGE_UNIT_MAX 255   /* systemd's limit on unit names */
#define EDGE_CGROUP_MAX 255 /* a path below the cgroup2 mount */
#define EDGE_USER_MAX 32

enum edge_proto {
	EDGE_PROTO_ANY,
	EDGE_PROTO_TCP,
	EDGE_PROTO_UDP,
};

/* 18 bytes, not 24 with an int family: every edge holds EDGE_PREFIX_MAX of them, and a
 * config of 1000 edges is most of the idle daemon's own memory. */
struct edge_prefix {
	uint8_t addr[16]; /* network order, host bits cleared */
	uint8_t len;
	uint8_t family; /* AF_INET or AF_INET6 */
};

struct edge {
	char name[EDGE_NAME_MAX + 1];
	char ifname[IF_NAMESIZE]; /* "" = resolve by route lookup to the first destination */
	struct edge_prefix prefixes[EDGE_PREFIX_MAX];
	unsigned n_prefixes;
	uint16_t port; /* 0 = any */
	enum edge_proto proto;
	/* Service scope (see edge-scope.c): only the sockets of this systemd unit, this cgroup
	 * and/or this user. "" / has_uid false: not scoped by it. */
	char unit[EDGE_UNIT_MAX + 1];
	char cgroup[EDGE_CGROUP_MAX + 1]; /* relative to the cgroup2 mount, no leading '/' */
	char user[EDGE_USER_MAX + 1];     /* as written, for messages */
	uint32_t uid;
	bool has_uid;
	/* Set at run time, never by the config: chaosd's mark of this service edge's packets and
	 * connections (nl_nft_mark_value) while it has a fault; 0 = not marked. The datapath and the
	 * partition rules match it. */
	uint32_t mark;
	unsigned line; /* where it was defined, for messages */
};

/* "10.0.5.0/24", "fd00:5::/64", "10.0.5.7" (a host route). Host bits set in the address are
 * refused (-EINVAL) so a typo cannot silently widen an edge. An IPv4-mapped IPv6 address or net
 * is its IPv4 one ("::ffff:10.0.0.2" is 10.0.0.2/32, "::ffff:10.0.0.0/120" is 10.0.0.0/24,
 * "::ffff:0:0/96" is 0.0.0.0/0), since IPv4 traffic to it is IPv4 on the wire; a mapped
 * prefix shorter than /96 has host bits set and is refused. */
/* The IPv4 or IPv6 address in s's first n characters (no "/len"): family and addr, len 0. */
int edge_addr_parse(const char *s, size_t n, struct edge_prefix *ret);
int edge_prefix_parse(const char *s, struct edge_prefix *ret);
char *edge_prefix_format(const struct edge_prefix *p, char *buf, size_t n);
bool edge_prefix_contains(const struct edge_prefix *p, int family, const void *addr);
bool edge_prefix_overlap(const struct edge_prefix *a, const struct edge_prefix *b);
/* a holds every address of b */
bool edge_prefix_covers(const struct edge_prefix *a, const struct edge_prefix *b);
/* Another prefix of e covers prefix i, so a rule for i adds nothing (of two equal ones, the
 * first is kept). */
bool edge_prefix_redundant(const struct edge *e, unsigned i);
const char *edge_proto_to_string(enum edge_proto p);
int edge_proto_from_string(const char *s, enum edge_proto *ret);
/* Two edges overlap when some packet could match both (same or unset interface, overlapping
 * prefixes or none, compatible protocol and port, service scopes not disjoint). */
bool edge_overlaps(const struct edge *a, const struct edge *b);
/* Valid edge names: [A-Za-z0-9_.-]{1,32} */
bool edge_name_valid(const char *name);
/* A hash of an edge's name: the daemon looks faults up by edge with every request, and
 * comparing one integer per fault before the names keeps that cheap with 1000 faults. */
uint64_t edge_name_hash(const char *name);
