/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "config.h"
#include "edge-scope.h"
#include "fileio.h"
#include "ini.h"
#include "parse.h"
#include "utf8.h"

#define CONFIG_FILE_MAX (1024 * 1024)
#define DURATION_MIN USEC_PER_SEC
#define DURATION_MAX (365ULL * 24 * 3600 * USEC_PER_SEC)
#define RATE_MAX_BPS 1e15 /* 1000 tbit */
#define HOSTNAME_MAX 253
#define GROUP_NAME_MAX 32

enum {
	CK_DEFAULT_DURATION,
	CK_MAX_DURATION,
	CK_LINK_RATE,
	CK_SOCKET_GROUP,
	CK_READ_GROUP,
	CK_ALLOW_INTERFACES,
	CK_DENY_INTERFACES,
	CK_PROTECT,
	CK_MAX_LATENCY,
	CK_MAX_LOSS,
	CK_MAX_PARTITION_DURATION,
	CK_ALLOW_SSH_PARTITION,
	CK_MAX_SCENARIOS,
	CK_KEEP_REPORTS,
	CK_METRICS_FILE,
	CK_INTERFACE,
	CK_DESTINATION,
	CK_PORT,
	CK_PROTOCOL,
	CK_UNIT,
	CK_CGROUP,
	CK_USER,
	_CK_MAX,
};

enum section_kind {
	SECTION_NONE,   /* before the first section header */
	SECTION_CHAOSD,
	SECTION_EDGE,
	SECTION_IGNORED, /* refused header, already reported: its keys are skipped */
};

struct edge_state {
	struct edge e;
	unsigned key_line[_CK_MAX];
	bool bad; /* had an error: left out of the overlap check to avoid follow-up noise */
	bool dest_failed; /* a destination item was refused (and reported) */
};

struct config_parser {
	const char *name;
	bool resolve;
	const struct config_resolver *resolver;
	unsigned pending; /* names the resolver does not know yet */
	struct diag *d;
	unsigned errors;
	bool oom;

	unsigned lineno;
	int prev_key;      /* CK_* of the last known, first-time key line, else -1 */

	/* current section */
	enum section_kind section;
	char section_text[72];
	int cur_edge;

	/* result */
	struct config *c;
	unsigned chaosd_key_line[_CK_MAX];
	char chaosd_key_text[_CK_MAX][64]; /* values as written, for messages */
	struct edge_state *edges;
	unsigned n_edges, cap_edges;
};

static void p_error(struct config_parser *p, unsigned line, const char *key, const char *value,
		const char *fmt, ...) _printf_(5, 6);
static void p_error(struct config_parser *p, unsigned line, const char *key, const char *value,
		const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->errors++;
	diag_add_at(p->d, -EINVAL, p->name, line, p->section_text, key, value, msg);
}

int config_parse_rate(const char *s, uint64_t *ret_bps)
{
	static const struct {
		const char *unit;
		double scale;
	} units[] = {
		{ "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 }, { "tbit", 1e12 },
	};
	char num[32];
	size_t n;
	double v;
	int r;

	if (!s)
		return -EINVAL;
	n = strspn(s, "0123456789.");
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	/* "bps" is bytes per second to tc; a bare number is ambiguous: both are refused. */
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (!strcaseeq(s + n, units[i].unit))
			continue;
		r = parse_double_range(num, 0, RATE_MAX_BPS / units[i].scale, &v);
		if (r < 0)
			return r;
		v = v * units[i].scale + 0.5; /* to the nearest bit; v >= 0 */
		if (v < 1)
			return -ERANGE;
		*ret_bps = (uint64_t)v;
		return 0;
	}
	return -EINVAL;
}

static bool ascii_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool group_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > GROUP_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ascii_alnum(s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* The kernel's dev_valid_name(). */
static bool ifname_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= IF_NAMESIZE || streq(s, ".") || streq(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || (unsigned char)s[i] <= ' ' ||
				(unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool hostname_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > HOSTNAME_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ascii_alnum(s[i]) && !strchr("-._", s[i]))
			return false;
	return true;
}

/* An item that can only be meant as an address: digits and dots, or anything with ':' or
 * '/'. Everything else is a host name. */
static bool looks_like_address(const char *s)
{
	return strchr(s, ':') || strchr(s, '/') || strspn(s, "0123456789.") == strlen(s);
}

static int edge_add_prefix(struct config_parser *p, struct edge *e, const struct edge_prefix *pfx,
		const char *value)
{
	for (unsigned i = 0; i < e->n_prefixes; i++)
		if (e->prefixes[i].family == pfx->family && e->prefixes[i].len == pfx->len &&
				memcmp(e->prefixes[i].addr, pfx->addr, sizeof(pfx->addr)) == 0)
			return 0; /* the same address twice, e.g. a name and its address */
	if (e->n_prefixes >= EDGE_PREFIX_MAX) {
		p_error(p, p->lineno, "destination", value,
				"more than %d prefixes (allowed: at most %d per "
				"edge)", EDGE_PREFIX_MAX,
				EDGE_PREFIX_MAX);
		return -E2BIG;
	}
	e->prefixes[e->n_prefixes++] = *pfx;
	return 0;
}

/* The network address of a prefix with host bits set, for the hint in the message. */
static bool prefix_masked(const char *item, char *buf, size_t n)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(item, '/');
	struct edge_prefix pfx = {};
	unsigned len, total;
	size_t alen;
	char *end;
	unsigned long l;

	if (!slash)
		return false;
	alen = (size_t)(slash - item);
	if (alen == 0 || alen >= sizeof(addr))
		return false;
	memcpy(addr, item, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, pfx.addr) == 1)
		pfx.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, pfx.addr) == 1)
		pfx.family = AF_INET6;
	else
		return false;
	total = pfx.family == AF_INET ? 32 : 128;
	if (!isdigit((unsigned char)slash[1]))
		return false;
	l = strtoul(slash + 1, &end, 10);
	if (*end || l > total)
		return false;
	len = (unsigned)l;
	for (unsigned i = len; i < total; i++)
		pfx.addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	pfx.len = (uint8_t)len;
	edge_prefix_format(&pfx, buf, n);
	return true;
}

static int resolve_with(struct config_parser *p, struct edge *e, const char *item,
		const char *value)
{
	struct edge_prefix pfx[EDGE_PREFIX_MAX];
	const char *why = "";
	unsigned n = 0;
	char it[80];
	int r;

	r = p->resolver->resolve(p->resolver->userdata, item, pfx, ELEMENTSOF(pfx), &n, &why);
	if (r == -EAGAIN) {
		p->pending++;
		return 0;
	}
	if (r < 0 || n == 0) {
		p_error(p, p->lineno, "destination", value,
				"'%s' does not resolve: %s (allowed: a host name with an A or AAAA "
				"record, or a CIDR prefix)",
				utf8_ascii_safe(item, it, sizeof(it)),
				r < 0 ? why : "no IPv4 or IPv6 address");
		return r < 0 ? r : -ENOENT;
	}
	for (unsigned i = 0; i < n; i++) {
		r = edge_add_prefix(p, e, &pfx[i], value);
		if (r < 0)
			return r;
	}
	return 0;
}

static int resolve_name(struct config_parser *p, struct edge *e, const char *item, const char *value)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char it[80];
	unsigned added = 0;
	int r;

	if (p->resolver)
		return resolve_with(p, e, item, value);
	r = getaddrinfo(item, NULL, &hints, &res);
	if (r != 0) {
		p_error(p, p->lineno, "destination", value,
				"'%s' does not resolve: %s (allowed: a host name with an A or AAAA "
				"record, or a CIDR prefix)",
				utf8_ascii_safe(item, it, sizeof(it)),
				r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -ENOENT;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct edge_prefix pfx = { .family = ai->ai_family };

		if (ai->ai_family == AF_INET) {
			memcpy(pfx.addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
			pfx.len = 32;
		} else if (ai->ai_family == AF_INET6) {
			memcpy(pfx.addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
			pfx.len = 128;
		} else
			continue;
		r = edge_add_prefix(p, e, &pfx, value);
		if (r < 0) {
			freeaddrinfo(res);
			return r;
		}
		added++;
	}
	freeaddrinfo(res);
	if (added == 0) {
		p_error(p, p->lineno, "destination", value,
				"'%s' resolves to no IPv4 or IPv6 address (allowed: a host name "
				"with an A or AAAA record, or a CIDR prefix)",
				utf8_ascii_safe(item, it, sizeof(it)));
		return -ENOENT;
	}
	return 0;
}

/* One line's worth of "a, b, c"; empty items (a trailing comma before a continuation line)
 * are skipped. Every bad item is reported. */
static int parse_destination(struct config_parser *p, struct edge *e, const char *value)
{
	_cleanup_free_ char *copy = strdup(value);
	char *item, *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		struct edge_prefix pfx;
		char it[80], hint[INET6_ADDRSTRLEN + 8];
		int r;

		parse_strip(item);
		if (!*item)
			continue;
		utf8_ascii_safe(item, it, sizeof(it));
		if (looks_like_address(item)) {
			if (edge_prefix_parse(item, &pfx) < 0) {
				if (prefix_masked(item, hint, sizeof(hint)))
					p_error(p, p->lineno, "destination", value,
							"'%s' has host bits set (allowed: the "
							"network address, %s)",
							it, hint);
				else
					p_error(p, p->lineno, "destination", value,
							"'%s' is not a prefix (allowed: CIDR "
							"prefixes like 10.0.5.0/24 or fd00::/64, "
							"addresses, host names)",
							it);
				ret = -EINVAL;
				continue;
			}
			r = edge_add_prefix(p, e, &pfx, value);
			if (r < 0)
				return r;
			continue;
		}
		if (!hostname_valid(item)) {
			p_error(p, p->lineno, "destination", value,
					"'%s' is neither a prefix nor a host name (allowed: CIDR "
					"prefixes like 10.0.5.0/24 or fd00::/64, addresses, host "
					"names)",
					it);
			ret = -EINVAL;
			continue;
		}
		if (!p->resolve) {
			p_error(p, p->lineno, "destination", value,
					"'%s' is a host name, and names are not resolved here "
					"(allowed: CIDR prefixes and addresses)",
					it);
			ret = -EINVAL;
			continue;
		}
		r = resolve_name(p, e, item, value);
		if (r == -E2BIG)
			return r;
		if (r < 0)
			ret = r;
	}
	return ret;
}

static char *rate_text(uint64_t bps, char *buf, size_t n)
{
	static const char *const units[] = { "bit", "kbit", "mbit", "gbit", "tbit" };
	unsigned u = 0;

	while (u + 1 < ELEMENTSOF(units) && bps >= 1000 && bps % 1000 == 0) {
		bps /= 1000;
		u++;
	}
	snprintf(buf, n, "%" PRIu64 "%s", bps, units[u]);
	return buf;
}

char *config_key_range(const struct config_key *k, char *buf, size_t n)
{
	char a[32], b[32];

	if (!k || k->max == 0)
		return NULL;
	if (k->type == CONFIG_DURATION) {
		parse_format_duration(k->min, a, sizeof(a));
		parse_format_duration(k->max, b, sizeof(b));
	} else if (k->type == CONFIG_RATE) {
		rate_text(k->min, a, sizeof(a));
		rate_text(k->max, b, sizeof(b));
	} else {
		snprintf(a, sizeof(a), "%" PRIu64, k->min);
		snprintf(b, sizeof(b), "%" PRIu64, k->max);
	}
	snprintf(buf, n, "%s-%s", a, b);
	return buf;
}

/* Stores u if the parser that made it (r) succeeded and u is in the key's range; else reports
 * why: not_a (the value is not of the type, r == -EINVAL) or out of range. */
static int store_ranged(struct config_parser *p, const struct config_key *k, const char *value,
		int r, uint64_t u, const char *not_a, void *field)
{
	char range[64];

	if (r == -EINVAL) {
		p_error(p, p->lineno, k->name, value, "%s", not_a);
		return r;
	}
	if (r < 0 || u < k->min || u > k->max) {
		p_error(p, p->lineno, k->name, value, "out of range (allowed: %s)",
				config_key_range(k, range, sizeof(range)));
		return -ERANGE;
	}
	*(uint64_t *)field = u;
	return 0;
}

/* A duration within the key's range. */
static int parse_ranged_duration(struct config_parser *p, const struct config_key *k,
		const char *value, void *field)
{
	char range[64], not_a[128];
	uint64_t u = 0;
	int r = parse_duration(value, &u);

	snprintf(not_a, sizeof(not_a), "not a duration (allowed: %s, e.g. 30s, 5m, 1h30m)",
			config_key_range(k, range, sizeof(range)));
	return store_ranged(p, k, value, r, u, not_a, field);
}

/* A limit: any duration above zero. */
static int parse_limit_duration(struct config_parser *p, const struct config_key *k,
		const char *value, void *field)
{
	uint64_t u;

	if (parse_duration(value, &u) < 0 || u == 0) {
		p_error(p, p->lineno, k->name, value,
				"not a duration (allowed: e.g. 500ms, 30s, 5m)");
		return -EINVAL;
	}
	*(uint64_t *)field = u;
	return 0;
}

static int parse_rate_key(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	uint64_t u = 0;
	int r = config_parse_rate(value, &u);

	return store_ranged(p, k, value, r, u, "not a rate (allowed: a number with bit, kbit, "
			"mbit, gbit or tbit, e.g. 10gbit)", field);
}

static int replace_string(char **field, const char *value)
{
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	free(*field);
	*field = v;
	return 0;
}

static int parse_group(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	if (!group_name_valid(value)) {
		p_error(p, p->lineno, k->name, value,
				"not a group name (allowed: 1-%d letters, digits, '_', '.', '-')",
				GROUP_NAME_MAX);
		return -EINVAL;
	}
	return replace_string(field, value);
}

static int parse_abs_path(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	if (value[0] != '/' || value[strlen(value) - 1] == '/') {
		p_error(p, p->lineno, k->name, value, "not an absolute file name (allowed: e.g. "
				"/var/lib/prometheus/node-exporter/chaosd.prom)");
		return -EINVAL;
	}
	return replace_string(field, value);
}

/* The unsigned count that goes with a list field. */
static unsigned *list_count(const struct config_key *k, void *field)
{
	return (unsigned *)((char *)field - k->offset + k->offset_n);
}

/* A comma separated interface list; replaces the default (deny_interfaces = lo). */
static int parse_iflist(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	_cleanup_free_ char *copy = strdup(value);
	char(*list)[IF_NAMESIZE] = NULL;
	char(**out)[IF_NAMESIZE] = field;
	unsigned n = 0;
	char *item, *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char(*nl)[IF_NAMESIZE];

		parse_strip(item);
		if (!*item)
			continue;
		if (!ifname_valid(item)) {
			char it[64];
			utf8_ascii_safe(item, it, sizeof(it));
			p_error(p, p->lineno, k->name, value, "'%s' is not an interface name", it);
			free(list);
			return -EINVAL;
		}
		nl = reallocarray(list, n + 1, sizeof(*list));
		if (!nl) {
			free(list);
			return -ENOMEM;
		}
		list = nl;
		snprintf(list[n++], IF_NAMESIZE, "%s", item);
	}
	free(*out);
	*out = list;
	*list_count(k, field) = n;
	return 0;
}

/* Adds to the list: a later line or a continuation extends it. */
static int parse_protect(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	_cleanup_free_ char *copy = strdup(value);
	struct edge_prefix **list = field;
	unsigned *count = list_count(k, field);
	char *item, *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		struct edge_prefix pfx, *n;

		parse_strip(item);
		if (!*item)
			continue;
		if (edge_prefix_parse(item, &pfx) < 0) {
			char it[80];
			utf8_ascii_safe(item, it, sizeof(it));
			p_error(p, p->lineno, k->name, value,
					"'%s' is not a CIDR prefix (allowed: e.g. 10.0.0.0/8, "
					"fd00::/8)",
					it);
			return -EINVAL;
		}
		n = reallocarray(*list, *count + 1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		*list = n;
		n[(*count)++] = pfx;
	}
	return 0;
}

static int parse_percent_key(struct config_parser *p, const struct config_key *k,
		const char *value, void *field)
{
	char range[64];
	double pct;

	if (parse_percent(value, &pct) < 0 || pct < (double)k->min || pct > (double)k->max) {
		p_error(p, p->lineno, k->name, value, "not a percentage (allowed: %s)",
				config_key_range(k, range, sizeof(range)));
		return -EINVAL;
	}
	*(double *)field = pct;
	return 0;
}

static int parse_bool_key(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	bool b;

	if (parse_bool(value, &b) < 0) {
		p_error(p, p->lineno, k->name, value, "not a boolean (allowed: yes, no)");
		return -EINVAL;
	}
	*(bool *)field = b;
	return 0;
}

static int parse_count(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	uint64_t v;

	if (parse_u64_range(value, k->min, k->max, &v) < 0) {
		p_error(p, p->lineno, k->name, value,
				"not a number from %" PRIu64 " to %" PRIu64, k->min, k->max);
		return -EINVAL;
	}
	*(unsigned *)field = (unsigned)v;
	return 0;
}

static int parse_ifname_key(struct config_parser *p, const struct config_key *k,
		const char *value, void *field)
{
	if (!ifname_valid(value)) {
		p_error(p, p->lineno, k->name, value,
				"not an interface name (allowed: 1-%d characters, no '/', ':' or "
				"blanks)",
				IF_NAMESIZE - 1);
		return -EINVAL;
	}
	snprintf(field, IF_NAMESIZE, "%s", value);
	return 0;
}

static int parse_destination_key(struct config_parser *p, const struct config_key *k,
		const char *value, void *field)
{
	return parse_destination(p, (struct edge *)((char *)field - k->offset), value);
}

static int parse_port_key(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	char range[64];
	uint64_t u;
	int r;

	r = parse_u64_range(value, k->min, k->max, &u);
	if (r < 0) {
		p_error(p, p->lineno, k->name, value, "%s (allowed: %s)",
				r == -ERANGE ? "out of range" : "not a port number",
				config_key_range(k, range, sizeof(range)));
		return r;
	}
	*(uint16_t *)field = (uint16_t)u;
	return 0;
}

static int parse_proto_key(struct config_parser *p, const struct config_key *k,
		const char *value, void *field)
{
	enum edge_proto proto;

	if (edge_proto_from_string(value, &proto) < 0) {
		p_error(p, p->lineno, k->name, value, "not a protocol (allowed: tcp, udp, any)");
		return -EINVAL;
	}
	*(enum edge_proto *)field = proto;
	return 0;
}

static int parse_unit_key(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	const char *why;
	char v[80];

	if (edge_unit_check(value, &why) < 0) {
		p_error(p, p->lineno, k->name, value, "'%s' is not a unit with processes (allowed: %s)",
				utf8_ascii_safe(value, v, sizeof(v)), why);
		return -EINVAL;
	}
	snprintf(field, EDGE_UNIT_MAX + 1, "%s", value);
	return 0;
}

static int parse_cgroup_key(struct config_parser *p, const struct config_key *k,
		const char *value, void *field)
{
	char path[EDGE_CGROUP_MAX + 1], v[80];
	const char *why;

	if (edge_cgroup_normalize(value, path, sizeof(path), &why) < 0) {
		p_error(p, p->lineno, k->name, value, "'%s' is not a cgroup (allowed: %s)",
				utf8_ascii_safe(value, v, sizeof(v)), why);
		return -EINVAL;
	}
	memcpy(field, path, strlen(path) + 1);
	return 0;
}

static int parse_user_key(struct config_parser *p, const struct config_key *k, const char *value,
		void *field)
{
	struct edge *e = (struct edge *)((char *)field - k->offset);
	char v[80];
	uint32_t uid;
	int r;

	/* A name is looked up by the caller's resolver when it has one (chaosd's reload: a child
	 * process, as for host names), else here. */
	if (p->resolver && p->resolver->resolve_user && edge_user_is_name(value)) {
		const char *why = "";

		r = p->resolver->resolve_user(p->resolver->userdata, value, &uid, &why);
		if (r == -EAGAIN) {
			p->pending++;
			return 0;
		}
		if (r < 0) {
			p_error(p, p->lineno, k->name, value, "no user '%s' in the user database "
					"(%s; allowed: an existing user name or a uid)",
					utf8_ascii_safe(value, v, sizeof(v)), why);
			return -EINVAL;
		}
	} else
		r = edge_user_parse(value, &uid);
	if (r < 0) {
		utf8_ascii_safe(value, v, sizeof(v));
		if (r == -ENOENT)
			p_error(p, p->lineno, k->name, value,
					"no user '%s' in the user database (allowed: an existing "
					"user name or a uid)", v);
		else
			p_error(p, p->lineno, k->name, value,
					"'%s' is not a user (allowed: a user name of letters, digits, "
					"'_', '-', '.', at most %d characters, or a uid from 0 to "
					"4294967294 but 65535)", v, EDGE_USER_MAX);
		return -EINVAL;
	}
	snprintf(e->user, sizeof(e->user), "%s", value);
	e->uid = uid;
	e->has_uid = true;
	return 0;
}

#define C(f) offsetof(struct config, f)
#define E(f) offsetof(struct edge, f)

const struct config_key config_keys[] = {
	[CK_DEFAULT_DURATION] = { "chaosd", "default_duration", CONFIG_DURATION,
		parse_ranged_duration, C(default_duration_usec), 0, DURATION_MIN, DURATION_MAX,
		false, "5m", "how long a fault lasts when the request names no duration" },
	[CK_MAX_DURATION] = { "chaosd", "max_duration", CONFIG_DURATION, parse_ranged_duration,
		C(max_duration_usec), 0, DURATION_MIN, DURATION_MAX, false, "1h",
		"the longest a fault may last; longer requests are refused" },
	[CK_LINK_RATE] = { "chaosd", "link_rate", CONFIG_RATE, parse_rate_key, C(link_rate_bps),
		0, 1, RATE_MAX_BPS, false, "10gbit",
		"link speed used to size netem's queue when the interface reports none (a rate "
		"fault's queue comes from its own rate)" },
	[CK_SOCKET_GROUP] = { "chaosd", "socket_group", CONFIG_STRING, parse_group,
		C(socket_group), 0, 0, 0, false, "chaos",
		"group whose members may use the control socket" },
	[CK_READ_GROUP] = { "chaosd", "read_group", CONFIG_STRING, parse_group, C(read_group), 0,
		0, 0, false, NULL,
		"group whose members may only read (status, edges); default: none" },
	[CK_ALLOW_INTERFACES] = { "chaosd", "allow_interfaces", CONFIG_IFLIST, parse_iflist,
		C(allow_interfaces), C(n_allow_interfaces), 0, 0, false, NULL,
		"comma separated interfaces faults may use; default: all not denied" },
	/* lo carries the host's own services talking to themselves: faulting it by accident is
	 * how a chaos tool takes down the box it runs on. */
	[CK_DENY_INTERFACES] = { "chaosd", "deny_interfaces", CONFIG_IFLIST, parse_iflist,
		C(deny_interfaces), C(n_deny_interfaces), 0, 0, false, "lo",
		"comma separated interfaces faults may never use" },
	[CK_PROTECT] = { "chaosd", "protect", CONFIG_PREFIXES, parse_protect, C(protect),
		C(n_protect), 0, 0, false, NULL,
		"comma separated CIDR prefixes: edges overlapping them are refused" },
	[CK_MAX_LATENCY] = { "chaosd", "max_latency", CONFIG_DURATION, parse_limit_duration,
		C(max_latency_usec), 0, 0, 0, false, NULL,
		"largest latency (ms + jitter) a fault may add; default: no limit" },
	[CK_MAX_LOSS] = { "chaosd", "max_loss", CONFIG_PERCENT, parse_percent_key,
		C(max_loss_percent), 0, 0, 100, false, "100",
		"largest loss percentage a fault may ask for; 100: no limit" },
	[CK_MAX_PARTITION_DURATION] = { "chaosd", "max_partition_duration", CONFIG_DURATION,
		parse_limit_duration, C(max_partition_usec), 0, 0, 0, false, NULL,
		"the longest a partition may last; default: max_duration" },
	[CK_ALLOW_SSH_PARTITION] = { "chaosd", "allow_ssh_partition", CONFIG_BOOL,
		parse_bool_key, C(allow_ssh_partition), 0, 0, 0, false, "no",
		"allow partitions of edges holding the peer of an established SSH session" },
	[CK_MAX_SCENARIOS] = { "chaosd", "max_scenarios", CONFIG_COUNT, parse_count,
		C(max_scenarios), 0, 1, 16, false, "1",
		"how many scenarios may run at the same time" },
	[CK_KEEP_REPORTS] = { "chaosd", "keep_reports", CONFIG_COUNT, parse_count,
		C(keep_reports), 0, 1, 10000, false, "50",
		"how many scenario reports the state directory keeps" },
	[CK_METRICS_FILE] = { "chaosd", "metrics_file", CONFIG_STRING, parse_abs_path,
		C(metrics_file), 0, 0, 0, false, NULL,
		"absolute path of a file (e.g. /var/lib/prometheus/node-exporter/chaosd.prom) "
		"that chaosd keeps rewriting with its metrics for node_exporter's textfile "
		"collector, atomically and at most once per second; default: none" },
	[CK_INTERFACE] = { "edge", "interface", CONFIG_IFNAME, parse_ifname_key, E(ifname), 0, 0,
		0, false, NULL,
		"interface of the edge; default: the one routing to the first destination" },
	[CK_DESTINATION] = { "edge", "destination", CONFIG_PREFIXES, parse_destination_key,
		E(prefixes), 0, 0, 0, true, NULL,
		"comma separated CIDR prefixes, addresses or host names (resolved at load); "
		"required; may continue on indented lines" },
	[CK_PORT] = { "edge", "port", CONFIG_PORT, parse_port_key, E(port), 0, 1, 65535, false,
		NULL, "destination port; without protocol it means tcp and udp" },
	[CK_PROTOCOL] = { "edge", "protocol", CONFIG_PROTO, parse_proto_key, E(proto), 0, 0, 0,
		false, "any", "tcp, udp or any" },
	[CK_UNIT] = { "edge", "unit", CONFIG_STRING, parse_unit_key, E(unit), 0, 0, 0, false,
		NULL, "only the sockets of this systemd unit (a .service, .scope or .slice), whose "
		"control group chaosd asks systemd for over D-Bus (at load, then every second); "
		"the unit must be active when a fault is injected" },
	[CK_CGROUP] = { "edge", "cgroup", CONFIG_STRING, parse_cgroup_key, E(cgroup), 0, 0, 0,
		false, NULL, "only the sockets of the processes in this cgroup (a path below the "
		"cgroup2 mount, e.g. system.slice/api.service) or below it; not with unit" },
	[CK_USER] = { "edge", "user", CONFIG_STRING, parse_user_key, E(user), 0, 0, 0, false,
		NULL, "only the sockets of this user (a name, looked up at load, or a uid); an "
		"edge names a destination, a unit, a cgroup or a user, or several of them" },
};

const unsigned config_n_keys = ELEMENTSOF(config_keys);

_Static_assert(ELEMENTSOF(config_keys) == _CK_MAX, "config_keys and CK_* disagree");
_Static_assert(_CK_MAX <= ELEMENTSOF(((struct config *)0)->key_lines), "key_lines too small");

/* Parse value for key idx into the config or the current edge; reports its own errors. */
static int set_key(struct config_parser *p, unsigned idx, const char *value)
{
	const struct config_key *k = &config_keys[idx];
	char *base = streq(k->section, "edge") ? (char *)&p->edges[p->cur_edge].e : (char *)p->c;

	return k->parse(p, k, value, base + k->offset);
}

/* The table's defaults of section into base, before the file is read. */
static int set_defaults(struct config_parser *p, const char *section, void *base)
{
	for (unsigned i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		int r;

		if (!k->default_value || !streq(k->section, section))
			continue;
		r = k->parse(p, k, k->default_value, (char *)base + k->offset);
		if (r < 0)
			return r;
	}
	return 0;
}

static char *section_keys_text(const char *section, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < config_n_keys; i++) {
		int w;

		if (!streq(config_keys[i].section, section))
			continue;
		w = snprintf(buf + off, n - off, "%s%s", off ? ", " : "", config_keys[i].name);
		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
	return buf;
}

static int handle_continuation(struct config_parser *p, const char *name, const char *value)
{
	/* Only a destination list is long enough to need more than one line. */
	if (p->prev_key >= 0 && config_keys[p->prev_key].continues &&
			p->section != SECTION_IGNORED) {
		int r = set_key(p, (unsigned)p->prev_key, value);

		if (r < 0 && p->section == SECTION_EDGE) {
			p->edges[p->cur_edge].bad = true;
			p->edges[p->cur_edge].dest_failed |= p->prev_key == CK_DESTINATION;
		}
		return r;
	}
	if (p->prev_key < 0 || p->section == SECTION_IGNORED)
		return 0; /* continues an unknown or repeated key: that is reported already */
	p_error(p, p->lineno, name, value,
			"indented line continues '%s' (allowed: only destination may continue on "
			"an indented line)",
			name);
	return -EINVAL;
}

static int key_cb(void *user, unsigned line, const char *name, const char *value,
		bool continuation)
{
	struct config_parser *p = user;
	unsigned *key_line;
	const char *sec;
	char keys[384];
	int idx = -1, r;

	p->lineno = line;
	if (continuation) {
		r = handle_continuation(p, name, value);
		return r == -ENOMEM ? r : 0;
	}
	p->prev_key = -1;

	switch (p->section) {
	case SECTION_NONE:
		p_error(p, p->lineno, name, value,
				"key outside of a section (allowed: in [chaosd] or [edge NAME])");
		return 0;
	case SECTION_IGNORED:
		return 0;
	case SECTION_CHAOSD:
		sec = "chaosd";
		key_line = p->chaosd_key_line;
		break;
	case SECTION_EDGE:
		sec = "edge";
		key_line = p->edges[p->cur_edge].key_line;
		break;
	default:
		return 0;
	}

	for (unsigned i = 0; i < config_n_keys; i++)
		if (streq(config_keys[i].section, sec) && streq(config_keys[i].name, name)) {
			idx = (int)i;
			break;
		}
	if (idx < 0) {
		p_error(p, p->lineno, name, value, "unknown key (allowed: %s)",
				section_keys_text(sec, keys, sizeof(keys)));
		if (p->section == SECTION_EDGE)
			p->edges[p->cur_edge].bad = true;
		return 0;
	}
	if (key_line[idx]) {
		p_error(p, p->lineno, name, value, "duplicate key (first set on line %u)",
				key_line[idx]);
		if (p->section == SECTION_EDGE)
			p->edges[p->cur_edge].bad = true;
		return 0;
	}
	key_line[idx] = p->lineno;
	if (p->section == SECTION_CHAOSD)
		snprintf(p->chaosd_key_text[idx], sizeof(p->chaosd_key_text[idx]), "%s", value);
	p->prev_key = idx; /* even if the value is refused: its continuation is checked too */

	r = set_key(p, (unsigned)idx, value);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (p->section == SECTION_EDGE) {
			p->edges[p->cur_edge].bad = true;
			p->edges[p->cur_edge].dest_failed |= idx == CK_DESTINATION;
		}
	}
	return 0;
}

static void begin_section(struct config_parser *p, const char *text)
{
	char buf[256], name_s[64];
	const char *name;
	size_t n;

	snprintf(buf, sizeof(buf), "%s", text);
	parse_strip(buf);
	snprintf(p->section_text, sizeof(p->section_text), "[%s]",
			utf8_ascii_safe(buf, name_s, sizeof(name_s)));
	p->cur_edge = -1;
	p->section = SECTION_IGNORED;

	if (streq(buf, "chaosd")) {
		p->section = SECTION_CHAOSD;
		return;
	}
	if (strncmp(buf, "edge", 4) != 0 || (buf[4] && !isspace((unsigned char)buf[4]))) {
		p_error(p, p->lineno, NULL, NULL,
				"unknown section (allowed: [chaosd], [edge NAME])");
		return;
	}
	name = buf + 4;
	name += strspn(name, " \t\r\n\v\f");
	if (!*name) {
		p_error(p, p->lineno, NULL, NULL, "edge without a name (allowed: [edge NAME])");
		return;
	}
	if (!edge_name_valid(name)) {
		p_error(p, p->lineno, NULL, NULL,
				"invalid edge name '%s' (allowed: 1-%d letters, digits, '_', '.', "
				"'-')",
				utf8_ascii_safe(name, name_s, sizeof(name_s)), EDGE_NAME_MAX);
		return;
	}
	for (unsigned i = 0; i < p->n_edges; i++)
		if (streq(p->edges[i].e.name, name)) {
			p_error(p, p->lineno, NULL, NULL,
					"duplicate edge '%s' (first defined on line %u)", name,
					p->edges[i].e.line);
			return;
		}
	if (p->n_edges >= CONFIG_EDGES_MAX) {
		p_error(p, p->lineno, NULL, NULL, "more than %d edges (allowed: at most %d)",
				CONFIG_EDGES_MAX, CONFIG_EDGES_MAX);
		return;
	}
	if (p->n_edges >= p->cap_edges) {
		unsigned cap = p->cap_edges ? p->cap_edges * 2 : 8;
		struct edge_state *ne = reallocarray(p->edges, cap, sizeof(*ne));

		if (!ne) {
			p->oom = true;
			return;
		}
		p->edges = ne;
		p->cap_edges = cap;
	}
	n = strlen(name);
	p->edges[p->n_edges] = (struct edge_state){ .e = { .line = p->lineno } };
	memcpy(p->edges[p->n_edges].e.name, name, n + 1);
	if (set_defaults(p, "edge", &p->edges[p->n_edges].e) < 0) {
		p->oom = true; /* a default of the table cannot be wrong otherwise */
		return;
	}
	p->cur_edge = (int)p->n_edges++;
	p->section = SECTION_EDGE;
}

static void section_cb(void *user, unsigned line, const char *name)
{
	struct config_parser *p = user;

	p->lineno = line;
	p->prev_key = -1;
	if (name) {
		begin_section(p, name);
		return;
	}
	p->section_text[0] = '\0';
	p->section = SECTION_IGNORED;
	p->cur_edge = -1;
}

static void error_cb(void *user, unsigned line, const char *msg)
{
	p_error(user, line, NULL, NULL, "%s", msg);
}

static const struct ini_ops config_ini = {
	.section = section_cb,
	.key = key_cb,
	.error = error_cb,
	.sections = "[chaosd], [edge NAME]",
};

/* The first pair of prefixes of a and b that overlap, as text for the message. */
static void first_overlap(const struct edge *a, const struct edge *b, char *pa, char *pb,
		size_t n)
{
	/* A service edge without a destination reaches every address. */
	if (a->n_prefixes == 0 || b->n_prefixes == 0) {
		snprintf(pa, n, "%s", "any destination");
		snprintf(pb, n, "%s", "any destination");
		if (a->n_prefixes)
			edge_prefix_format(&a->prefixes[0], pa, n);
		if (b->n_prefixes)
			edge_prefix_format(&b->prefixes[0], pb, n);
		return;
	}
	for (unsigned x = 0; x < a->n_prefixes; x++)
		for (unsigned y = 0; y < b->n_prefixes; y++)
			if (edge_prefix_overlap(&a->prefixes[x], &b->prefixes[y])) {
				edge_prefix_format(&a->prefixes[x], pa, n);
				edge_prefix_format(&b->prefixes[y], pb, n);
				return;
			}
}

static bool scope_given(const struct edge_state *a)
{
	return a->key_line[CK_UNIT] || a->key_line[CK_CGROUP] || a->key_line[CK_USER];
}

static void check_scope(struct config_parser *p, struct edge_state *a)
{
	if (a->bad)
		return;
	if (a->e.unit[0] && a->e.cgroup[0]) {
		p_error(p, a->key_line[CK_CGROUP], "cgroup", a->e.cgroup,
				"unit = '%s' (line %u) names the control group already (allowed: "
				"unit or cgroup, not both)", a->e.unit, a->key_line[CK_UNIT]);
		a->bad = true;
	} else if (a->e.n_prefixes == 0 && edge_scoped(&a->e) && !a->e.ifname[0]) {
		p_error(p, a->e.line, NULL, NULL,
				"a service edge without a destination has no route to find its "
				"interface by (required: interface = or destination =)");
		a->bad = true;
	}
}

static void check_edges(struct config_parser *p)
{
	for (unsigned i = 0; i < p->n_edges; i++) {
		struct edge_state *a = &p->edges[i];

		snprintf(p->section_text, sizeof(p->section_text), "[edge %s]", a->e.name);
		/* A destination that was given but refused is already reported. */
		if (a->e.n_prefixes == 0 && !a->dest_failed && !scope_given(a)) {
			p_error(p, a->e.line, NULL, NULL,
					"no destination (required: destination = CIDR prefixes, "
					"addresses or host names, or a service: unit =, cgroup = or "
					"user =)");
			a->bad = true;
		}
		check_scope(p, a);
	}

	for (unsigned j = 1; j < p->n_edges; j++) {
		struct edge_state *b = &p->edges[j];

		if (b->bad)
			continue;
		snprintf(p->section_text, sizeof(p->section_text), "[edge %s]", b->e.name);
		for (unsigned i = 0; i < j; i++) {
			struct edge_state *a = &p->edges[i];
			char pa[INET6_ADDRSTRLEN + 8] = "?", pb[INET6_ADDRSTRLEN + 8] = "?";

			if (a->bad || !edge_overlaps(&a->e, &b->e))
				continue;
			first_overlap(&a->e, &b->e, pa, pb, sizeof(pa));
			p_error(p, b->e.line, NULL, NULL,
					"overlaps edge '%s' (line %u): %s and %s (allowed: edges "
					"no packet can match both of; differ in interface, "
					"protocol, port, prefixes or service)",
					a->e.name, a->e.line, pb, pa);
		}
	}
}

static void check_durations(struct config_parser *p)
{
	const struct config *c = p->c;
	unsigned dl = p->chaosd_key_line[CK_DEFAULT_DURATION];
	unsigned ml = p->chaosd_key_line[CK_MAX_DURATION];

	if (c->default_duration_usec <= c->max_duration_usec)
		return;
	snprintf(p->section_text, sizeof(p->section_text), "[chaosd]");
	if (dl && ml)
		p_error(p, dl, "default_duration", p->chaosd_key_text[CK_DEFAULT_DURATION],
				"longer than max_duration = '%s' (line "
				"%u)", p->chaosd_key_text[CK_MAX_DURATION], ml);
	else if (dl)
		p_error(p, dl, "default_duration", p->chaosd_key_text[CK_DEFAULT_DURATION],
				"longer than max_duration (%s, the default)",
				config_keys[CK_MAX_DURATION].default_value);
	else
		p_error(p, ml, "max_duration", p->chaosd_key_text[CK_MAX_DURATION],
				"shorter than default_duration (%s, the default)",
				config_keys[CK_DEFAULT_DURATION].default_value);
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	free(c->path);
	free(c->socket_group);
	free(c->read_group);
	free(c->metrics_file);
	free(c->allow_interfaces);
	free(c->deny_interfaces);
	free(c->protect);
	free(c->edges);
	free(c->edge_order);
	free(c);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct config *, config_free);

char *config_key_origin(const struct config *c, const char *key, char *buf, size_t n)
{
	for (unsigned i = 0; i < config_n_keys; i++)
		if (streq(config_keys[i].section, "chaosd") && streq(config_keys[i].name, key)) {
			if (c->key_lines[i])
				snprintf(buf, n, "%s:%u", c->path ? c->path : "config",
						c->key_lines[i]);
			else
				snprintf(buf, n, "%s (default)", c->path ? c->path : "config");
			return buf;
		}
	snprintf(buf, n, "%s", c->path ? c->path : "config");
	return buf;
}

bool config_interface_allowed(const struct config *c, const char *ifname, const char **ret_key)
{
	for (unsigned i = 0; i < c->n_deny_interfaces; i++)
		if (streq(c->deny_interfaces[i], ifname)) {
			*ret_key = "deny_interfaces";
			return false;
		}
	if (!c->allow_interfaces)
		return true;
	for (unsigned i = 0; i < c->n_allow_interfaces; i++)
		if (streq(c->allow_interfaces[i], ifname))
			return true;
	*ret_key = "allow_interfaces";
	return false;
}

/* Edge names are unique (a second [edge NAME] is refused), so a sorted index finds one in
 * log n: every inject looks its edge up, and a scan of 1000 names was 6% of its work. */
static int cmp_edge_index(const void *a, const void *b, void *edges)
{
	const struct edge *e = edges;

	return strcmp(e[*(const unsigned *)a].name, e[*(const unsigned *)b].name);
}

static void index_edges(struct config *c)
{
	c->edge_order = calloc(c->n_edges, sizeof(*c->edge_order));
	if (!c->edge_order)
		return;
	for (unsigned i = 0; i < c->n_edges; i++)
		c->edge_order[i] = i;
	qsort_r(c->edge_order, c->n_edges, sizeof(*c->edge_order), cmp_edge_index, c->edges);
}

static int load_text(const char *text, size_t len, const char *name, bool resolve,
		const struct config_resolver *resolver, struct config **ret, struct diag *d)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct config_parser p = {
		.name = name ? name : "<string>",
		.resolve = resolve,
		.resolver = resolver,
		.d = d,
		.cur_edge = -1,
		.prev_key = -1,
	};
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->path = strdup(p.name);
	if (!c->path)
		return -ENOMEM;
	p.c = c;
	r = set_defaults(&p, "chaosd", c);
	if (r < 0)
		return r;

	r = ini_parse(text, len, &config_ini, &p);
	if (r < 0 || p.oom) {
		free(p.edges);
		return -ENOMEM;
	}

	if (p.pending > 0) {
		/* What else is wrong is said once the names are known. */
		free(p.edges);
		return -EAGAIN;
	}
	check_edges(&p);
	check_durations(&p);
	if (p.errors > 0) {
		free(p.edges);
		return -EINVAL;
	}

	if (p.n_edges > 0) {
		c->edges = calloc(p.n_edges, sizeof(struct edge));
		if (!c->edges) {
			free(p.edges);
			return -ENOMEM;
		}
		for (unsigned i = 0; i < p.n_edges; i++)
			c->edges[i] = p.edges[i].e;
		c->n_edges = p.n_edges;
		index_edges(c); /* without it (no memory), lookups scan */
	}
	free(p.edges);
	for (unsigned i = 0; i < _CK_MAX; i++)
		c->key_lines[i] = p.chaosd_key_line[i];
	*ret = TAKE_PTR(c);
	return 0;
}

int config_load_string(const char *text, const char *name, bool resolve, struct config **ret,
		struct diag *d)
{
	if (!text || !ret)
		return diag_add(d, -EINVAL, "invalid arguments");
	return load_text(text, strlen(text), name, resolve, NULL, ret, d);
}

int config_load_with(const char *path, const struct config_resolver *res, struct config **ret,
		struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	const char *nul;
	size_t len = 0;
	int r;

	if (!path || !ret)
		return diag_add(d, -EINVAL, "invalid arguments");
	/* Not a FIFO, a device or a directory: nothing that can block or has no end. */
	r = fileio_read_bounded(path, CONFIG_FILE_MAX, &buf, &len, d);
	if (r == -ENOENT)
		return diag_add(d, r, "%s: %s", path, strerror(-r));
	if (r < 0)
		return r;
	nul = memchr(buf, '\0', len);
	if (nul) {
		unsigned line = 1;

		for (const char *s = buf; s < nul; s++)
			line += *s == '\n';
		return diag_add(d, -EINVAL, "%s:%u: contains a NUL byte", path, line);
	}
	return load_text(buf, len, path, true, res, ret, d);
}

int config_load(const char *path, struct config **ret, struct diag *d)
{
	return config_load_with(path, NULL, ret, d);
}

const struct edge *config_find_edge(const struct config *c, const char *name)
{
	if (!c || !name)
		return NULL;
	if (c->edge_order) {
		unsigned lo = 0, hi = c->n_edges;

		while (lo < hi) {
			unsigned mid = lo + (hi - lo) / 2;
			int k = strcmp(c->edges[c->edge_order[mid]].name, name);

			if (k == 0)
				return &c->edges[c->edge_order[mid]];
			if (k < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return NULL;
	}
	for (unsigned i = 0; i < c->n_edges; i++)
		if (streq(c->edges[i].name, name))
			return &c->edges[i];
	return NULL;
}
