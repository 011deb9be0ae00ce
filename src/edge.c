/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>

#include "edge-scope.h"
#include "edge.h"
#include "macro.h"

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* Do the first len bits of a and b agree? */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned bytes = len / 8, rest = len % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool host_bits_clear(const uint8_t *addr, unsigned len, unsigned total)
{
	for (unsigned i = len; i < total; i++)
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

static bool is_v4_mapped(const uint8_t *a)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return memcmp(a, mapped, sizeof(mapped)) == 0;
}

int edge_addr_parse(const char *s, size_t n, struct edge_prefix *ret)
{
	char buf[INET6_ADDRSTRLEN];
	struct edge_prefix p = {};

	if (!s || n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, p.addr) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, p.addr) == 1)
		p.family = AF_INET6;
	else
		return -EINVAL;
	*ret = p;
	return 0;
}

int edge_prefix_parse(const char *s, struct edge_prefix *ret)
{
	const char *slash;
	struct edge_prefix p;
	unsigned len;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (edge_addr_parse(s, slash ? (size_t)(slash - s) : strlen(s), &p) < 0)
		return -EINVAL;

	len = family_bits(p.family);
	if (slash) {
		const char *d = slash + 1;
		unsigned v = 0;

		/* Plain decimal: "/024" is as odd as "/+24" and both are refused. */
		if (!isdigit((unsigned char)d[0]) || (d[0] == '0' && d[1]))
			return -EINVAL;
		for (; *d; d++) {
			if (!isdigit((unsigned char)*d) || v > 128)
				return -EINVAL;
			v = v * 10 + (unsigned)(*d - '0');
		}
		if (v > len)
			return -EINVAL;
		len = v;
	}
	if (!host_bits_clear(p.addr, len, family_bits(p.family)))
		return -EINVAL;
	if (p.family == AF_INET6 && is_v4_mapped(p.addr)) {
		/* No packet carries ::ffff:a.b.c.d: IPv4 traffic to it is IPv4. A mapped net shorter
		 * than /96 has host bits set in its ffff and is refused above. */
		memmove(p.addr, p.addr + 12, 4);
		memset(p.addr + 4, 0, 12);
		p.family = AF_INET;
		len -= 96;
	}
	p.len = (uint8_t)len;
	*ret = p;
	return 0;
}

char *edge_prefix_format(const struct edge_prefix *p, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	if (!buf || n == 0)
		return buf;
	if (!p || (p->family != AF_INET && p->family != AF_INET6) ||
			!inet_ntop(p->family, p->addr, a, sizeof(a))) {
		snprintf(buf, n, "?");
		return buf;
	}
	snprintf(buf, n, "%s/%u", a, p->len);
	return buf;
}

bool edge_prefix_contains(const struct edge_prefix *p, int family, const void *addr)
{
	if (!p || !addr || p->family != family)
		return false;
	return bits_equal(p->addr, addr, MIN(p->len, family_bits(family)));
}

bool edge_prefix_overlap(const struct edge_prefix *a, const struct edge_prefix *b)
{
	if (!a || !b || a->family != b->family)
		return false;
	/* Two prefixes overlap exactly when the shorter one contains the other. */
	return bits_equal(a->addr, b->addr, MIN(MIN(a->len, b->len), family_bits(a->family)));
}

bool edge_prefix_covers(const struct edge_prefix *a, const struct edge_prefix *b)
{
	return a && b && a->len <= b->len && edge_prefix_contains(a, b->family, b->addr);
}

bool edge_prefix_redundant(const struct edge *e, unsigned i)
{
	for (unsigned j = 0; j < e->n_prefixes; j++)
		if (j != i && edge_prefix_covers(&e->prefixes[j], &e->prefixes[i]) &&
				(j < i || !edge_prefix_covers(&e->prefixes[i], &e->prefixes[j])))
			return true;
	return false;
}

static const char *const proto_names[] = {
	[EDGE_PROTO_ANY] = "any",
	[EDGE_PROTO_TCP] = "tcp",
	[EDGE_PROTO_UDP] = "udp",
};

const char *edge_proto_to_string(enum edge_proto p)
{
	if ((unsigned)p >= ELEMENTSOF(proto_names))
		return NULL;
	return proto_names[p];
}

int edge_proto_from_string(const char *s, enum edge_proto *ret)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(proto_names); i++)
		if (strcaseeq(s, proto_names[i])) {
			*ret = (enum edge_proto)i;
			return 0;
		}
	return -EINVAL;
}

bool edge_overlaps(const struct edge *a, const struct edge *b)
{
	if (!a || !b)
		return false;
	/* An edge without an interface follows the route, which may be the other's interface. */
	if (a->ifname[0] && b->ifname[0] && strncmp(a->ifname, b->ifname, IF_NAMESIZE) != 0)
		return false;
	if (a->proto != EDGE_PROTO_ANY && b->proto != EDGE_PROTO_ANY && a->proto != b->proto)
		return false;
	if (a->port && b->port && a->port != b->port)
		return false;
	if (edge_scopes_disjoint(a, b))
		return false;
	/* A service edge without a destination reaches every address. */
	if (a->n_prefixes == 0 || b->n_prefixes == 0)
		return true;
	for (unsigned i = 0; i < MIN(a->n_prefixes, EDGE_PREFIX_MAX); i++)
		for (unsigned j = 0; j < MIN(b->n_prefixes, EDGE_PREFIX_MAX); j++)
			if (edge_prefix_overlap(&a->prefixes[i], &b->prefixes[j]))
				return true;
	return false;
}

bool edge_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n < 1 || n > EDGE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(name[i] >= 'a' && name[i] <= 'z') && !(name[i] >= 'A' && name[i] <= 'Z') &&
				!(name[i] >= '0' && name[i] <= '9') && !strchr("_.-", name[i]))
			return false;
	return true;
}

uint64_t edge_name_hash(const char *name)
{
	/* FNV-1a, 64 bit */
	uint64_t h = UINT64_C(14695981039346656037);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * UINT64_C(1099511628211);
	return h;
}
