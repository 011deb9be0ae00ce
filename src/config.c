/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "config.h"
#include "ini.h"
#include "parse.h"

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
	_CK_MAX,
};

const struct config_key config_keys[] = {
	[CK_DEFAULT_DURATION] = { "chaosd", "default_duration", CONFIG_DURATION, "5m",
		"how long a fault lasts when the request names no duration" },
	[CK_MAX_DURATION] = { "chaosd", "max_duration", CONFIG_DURATION, "1h",
		"the longest a fault may last; longer requests are refused" },
	[CK_LINK_RATE] = { "chaosd", "link_rate", CONFIG_RATE, "10gbit",
		"link speed used to size netem's queue when the interface reports none" },
	[CK_SOCKET_GROUP] = { "chaosd", "socket_group", CONFIG_STRING, "chaos",
		"group whose members may use the control socket" },
	[CK_READ_GROUP] = { "chaosd", "read_group", CONFIG_STRING, NULL,
		"group whose members may only read (status, edges); default: none" },
	[CK_ALLOW_INTERFACES] = { "chaosd", "allow_interfaces", CONFIG_IFLIST, NULL,
		"comma separated interfaces faults may use; default: all not denied" },
	[CK_DENY_INTERFACES] = { "chaosd", "deny_interfaces", CONFIG_IFLIST, "lo",
		"comma separated interfaces faults may never use" },
	[CK_PROTECT] = { "chaosd", "protect", CONFIG_PREFIXES, NULL,
		"comma separated CIDR prefixes: edges overlapping them are refused" },
	[CK_MAX_LATENCY] = { "chaosd", "max_latency", CONFIG_DURATION, NULL,
		"largest latency (ms + jitter) a fault may add; default: no limit" },
	[CK_MAX_LOSS] = { "chaosd", "max_loss", CONFIG_PERCENT, NULL,
		"largest loss percentage a fault may ask for; default: no limit" },
	[CK_MAX_PARTITION_DURATION] = { "chaosd", "max_partition_duration", CONFIG_DURATION, NULL,
		"the longest a partition may last; default: max_duration" },
	[CK_ALLOW_SSH_PARTITION] = { "chaosd", "allow_ssh_partition", CONFIG_BOOL, "no",
		"allow partitions of edges holding the peer of an established SSH session" },
	[CK_MAX_SCENARIOS] = { "chaosd", "max_scenarios", CONFIG_COUNT, "1",
		"how many scenarios may run at the same time (1-16)" },
	[CK_KEEP_REPORTS] = { "chaosd", "keep_reports", CONFIG_COUNT, "50",
		"how many scenario reports the state directory keeps (1-10000)" },
	[CK_METRICS_FILE] = { "chaosd", "metrics_file", CONFIG_STRING, NULL,
		"absolute path of a file (e.g. /var/lib/prometheus/node-exporter/chaosd.prom) "
		"that chaosd keeps rewriting with its metrics for node_exporter's textfile "
		"collector, atomically and at most once per second; default: none" },
	[CK_INTERFACE] = { "edge", "interface", CONFIG_IFNAME, NULL,
		"interface of the edge; default: the one routing to the first destination" },
	[CK_DESTINATION] = { "edge", "destination", CONFIG_PREFIXES, NULL,
		"comma separated CIDR prefixes, addresses or host names (resolved at load); "
		"required; may continue on indented lines" },
	[CK_PORT] = { "edge", "port", CONFIG_PORT, NULL,
		"destination port 1-65535; without protocol it means tcp and udp" },
	[CK_PROTOCOL] = { "edge", "protocol", CONFIG_PROTO, "any", "tcp, udp or any" },
};

const unsigned config_n_keys = ELEMENTSOF(config_keys);

_Static_assert(ELEMENTSOF(config_keys) == _CK_MAX, "config_keys and CK_* disagree");
_Static_assert(_CK_MAX <= ELEMENTSOF(((struct config *)0)->key_lines), "key_lines too small");

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

struct parser {
	const char *name;
	bool resolve;
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
	char default_duration_text[64], max_duration_text[64]; /* as written, for messages */
	struct edge_state *edges;
	unsigned n_edges, cap_edges;
};

static void p_error(struct parser *p, unsigned line, const char *key, const char *value,
		const char *fmt, ...) _printf_(5, 6);
static void p_error(struct parser *p, unsigned line, const char *key, const char *value,
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

static int edge_add_prefix(struct parser *p, struct edge *e, const struct edge_prefix *pfx,
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

static int resolve_name(struct parser *p, struct edge *e, const char *item, const char *value)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char it[80];
	unsigned added = 0;
	int r;

	r = getaddrinfo(item, NULL, &hints, &res);
	if (r != 0) {
		p_error(p, p->lineno, "destination", value,
				"'%s' does not resolve: %s (allowed: a host name with an A or AAAA "
				"record, or a CIDR prefix)",
				parse_sanitize(item, it, sizeof(it)),
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
				parse_sanitize(item, it, sizeof(it)));
		return -ENOENT;
	}
	return 0;
}

/* One line's worth of "a, b, c"; empty items (a trailing comma before a continuation line)
 * are skipped. Every bad item is reported. */
static int parse_destination(struct parser *p, struct edge *e, const char *value)
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
		parse_sanitize(item, it, sizeof(it));
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

static char *duration_range_text(char *buf, size_t n)
{
	char a[32], b[32];

	snprintf(buf, n, "%s-%s", parse_format_duration(DURATION_MIN, a, sizeof(a)),
			parse_format_duration(DURATION_MAX, b, sizeof(b)));
	return buf;
}

/* A comma separated interface list; replaces the default (deny_interfaces = lo). */
static int parse_iflist(struct parser *p, unsigned idx, const char *value)
{
	_cleanup_free_ char *copy = strdup(value);
	char(*list)[IF_NAMESIZE] = NULL;
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
			parse_sanitize(item, it, sizeof(it));
			p_error(p, p->lineno, config_keys[idx].name, value,
					"'%s' is not an interface name", it);
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
	if (idx == CK_ALLOW_INTERFACES) {
		free(p->c->allow_interfaces);
		p->c->allow_interfaces = list;
		p->c->n_allow_interfaces = n;
	} else {
		free(p->c->deny_interfaces);
		p->c->deny_interfaces = list;
		p->c->n_deny_interfaces = n;
	}
	return 0;
}

static int parse_protect(struct parser *p, const char *value)
{
	_cleanup_free_ char *copy = strdup(value);
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
			parse_sanitize(item, it, sizeof(it));
			p_error(p, p->lineno, "protect", value,
					"'%s' is not a CIDR prefix (allowed: e.g. 10.0.0.0/8, "
					"fd00::/8)",
					it);
			return -EINVAL;
		}
		n = reallocarray(p->c->protect, p->c->n_protect + 1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->c->protect = n;
		n[p->c->n_protect++] = pfx;
	}
	return 0;
}

/* Parse value for key idx into the config or the current edge; reports its own errors. */
static int set_key(struct parser *p, unsigned idx, const char *value)
{
	const char *key = config_keys[idx].name;
	struct edge *e = p->cur_edge >= 0 ? &p->edges[p->cur_edge].e : NULL;
	char range[64];
	uint64_t u;
	int r;

	switch (idx) {
	case CK_DEFAULT_DURATION:
	case CK_MAX_DURATION:
		r = parse_duration(value, &u);
		if (r == -EINVAL) {
			p_error(p, p->lineno, key, value,
					"not a duration (allowed: %s, e.g. 30s, 5m, 1h30m)",
					duration_range_text(range, sizeof(range)));
			return r;
		}
		if (r < 0 || u < DURATION_MIN || u > DURATION_MAX) {
			p_error(p, p->lineno, key, value, "out of range (allowed: %s)",
					duration_range_text(range, sizeof(range)));
			return -ERANGE;
		}
		if (idx == CK_DEFAULT_DURATION) {
			p->c->default_duration_usec = u;
			snprintf(p->default_duration_text, sizeof(p->default_duration_text), "%s",
					value);
		} else {
			p->c->max_duration_usec = u;
			snprintf(p->max_duration_text, sizeof(p->max_duration_text), "%s", value);
		}
		return 0;
	case CK_LINK_RATE:
		r = config_parse_rate(value, &u);
		if (r == -EINVAL) {
			p_error(p, p->lineno, key, value,
					"not a rate (allowed: a number with bit, kbit, mbit, gbit "
					"or tbit, e.g. 10gbit)");
			return r;
		}
		if (r < 0) {
			p_error(p, p->lineno, key, value, "out of range (allowed: 1bit-1000tbit)");
			return r;
		}
		p->c->link_rate_bps = u;
		return 0;
	case CK_SOCKET_GROUP:
	case CK_READ_GROUP: {
		char **field = idx == CK_SOCKET_GROUP ? &p->c->socket_group : &p->c->read_group;
		char *g;

		if (!group_name_valid(value)) {
			p_error(p, p->lineno, key, value,
					"not a group name (allowed: 1-%d letters, digits, '_', "
					"'.', '-')",
					GROUP_NAME_MAX);
			return -EINVAL;
		}
		g = strdup(value);
		if (!g)
			return -ENOMEM;
		free(*field);
		*field = g;
		return 0;
	}
	case CK_ALLOW_INTERFACES:
	case CK_DENY_INTERFACES:
		return parse_iflist(p, idx, value);
	case CK_PROTECT:
		return parse_protect(p, value);
	case CK_MAX_LATENCY:
	case CK_MAX_PARTITION_DURATION:
		r = parse_duration(value, &u);
		if (r < 0 || u == 0) {
			p_error(p, p->lineno, key, value,
					"not a duration (allowed: e.g. 500ms, 30s, 5m)");
			return -EINVAL;
		}
		if (idx == CK_MAX_LATENCY)
			p->c->max_latency_usec = u;
		else
			p->c->max_partition_usec = u;
		return 0;
	case CK_MAX_LOSS: {
		double pct;

		if (parse_percent(value, &pct) < 0) {
			p_error(p, p->lineno, key, value, "not a percentage (allowed: 0-100)");
			return -EINVAL;
		}
		p->c->max_loss_percent = pct;
		return 0;
	}
	case CK_ALLOW_SSH_PARTITION:
		if (parse_bool(value, &p->c->allow_ssh_partition) < 0) {
			p_error(p, p->lineno, key, value, "not a boolean (allowed: yes, no)");
			return -EINVAL;
		}
		return 0;
	case CK_MAX_SCENARIOS:
	case CK_KEEP_REPORTS: {
		uint64_t max = idx == CK_MAX_SCENARIOS ? 16 : 10000, v;

		if (parse_u64_range(value, 1, max, &v) < 0) {
			p_error(p, p->lineno, key, value, "not a number from 1 to %" PRIu64, max);
			return -EINVAL;
		}
		*(idx == CK_MAX_SCENARIOS ? &p->c->max_scenarios : &p->c->keep_reports) =
				(unsigned)v;
		return 0;
	}
	case CK_METRICS_FILE: {
		char *v;

		if (value[0] != '/' || value[strlen(value) - 1] == '/') {
			p_error(p, p->lineno, key, value, "not an absolute file name (allowed: e.g. "
					"/var/lib/prometheus/node-exporter/chaosd.prom)");
			return -EINVAL;
		}
		v = strdup(value);
		if (!v)
			return -ENOMEM;
		free(p->c->metrics_file);
		p->c->metrics_file = v;
		return 0;
	}
	case CK_INTERFACE:
		if (!ifname_valid(value)) {
			p_error(p, p->lineno, key, value,
					"not an interface name (allowed: 1-%d characters, no '/', "
					"':' or blanks)",
					IF_NAMESIZE - 1);
			return -EINVAL;
		}
		snprintf(e->ifname, sizeof(e->ifname), "%s", value);
		return 0;
	case CK_DESTINATION:
		return parse_destination(p, e, value);
	case CK_PORT:
		r = parse_u64_range(value, 1, 65535, &u);
		if (r < 0) {
			p_error(p, p->lineno, key, value, "%s (allowed: 1-65535)",
					r == -ERANGE ? "out of range" : "not a port number");
			return r;
		}
		e->port = (uint16_t)u;
		return 0;
	case CK_PROTOCOL:
		if (edge_proto_from_string(value, &e->proto) < 0) {
			p_error(p, p->lineno, key, value,
					"not a protocol (allowed: tcp, udp, any)");
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
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

static int handle_continuation(struct parser *p, const char *name, const char *value)
{
	/* Only a destination list is long enough to need more than one line. */
	if (p->prev_key == CK_DESTINATION && p->section == SECTION_EDGE) {
		int r = set_key(p, CK_DESTINATION, value);

		if (r < 0) {
			p->edges[p->cur_edge].bad = true;
			p->edges[p->cur_edge].dest_failed = true;
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
	struct parser *p = user;
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

static void begin_section(struct parser *p, const char *text)
{
	char buf[256], name_s[64];
	const char *name;
	size_t n;

	snprintf(buf, sizeof(buf), "%s", text);
	parse_strip(buf);
	snprintf(p->section_text, sizeof(p->section_text), "[%s]",
			parse_sanitize(buf, name_s, sizeof(name_s)));
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
				parse_sanitize(name, name_s, sizeof(name_s)), EDGE_NAME_MAX);
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
	p->edges[p->n_edges] = (struct edge_state){ .e = { .proto = EDGE_PROTO_ANY,
							    .line = p->lineno } };
	memcpy(p->edges[p->n_edges].e.name, name, n + 1);
	p->cur_edge = (int)p->n_edges++;
	p->section = SECTION_EDGE;
}

static void section_cb(void *user, unsigned line, const char *name)
{
	struct parser *p = user;

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
	for (unsigned x = 0; x < a->n_prefixes; x++)
		for (unsigned y = 0; y < b->n_prefixes; y++)
			if (edge_prefix_overlap(&a->prefixes[x], &b->prefixes[y])) {
				edge_prefix_format(&a->prefixes[x], pa, n);
				edge_prefix_format(&b->prefixes[y], pb, n);
				return;
			}
}

static void check_edges(struct parser *p)
{
	for (unsigned i = 0; i < p->n_edges; i++) {
		struct edge_state *a = &p->edges[i];

		snprintf(p->section_text, sizeof(p->section_text), "[edge %s]", a->e.name);
		/* A destination that was given but refused is already reported. */
		if (a->e.n_prefixes == 0 && !a->dest_failed) {
			p_error(p, a->e.line, NULL, NULL,
					"no destination (required: destination = CIDR prefixes, "
					"addresses or host names)");
			a->bad = true;
		}
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
					"protocol, port or prefixes)",
					a->e.name, a->e.line, pb, pa);
		}
	}
}

static void check_durations(struct parser *p)
{
	const struct config *c = p->c;
	unsigned dl = p->chaosd_key_line[CK_DEFAULT_DURATION];
	unsigned ml = p->chaosd_key_line[CK_MAX_DURATION];

	if (c->default_duration_usec <= c->max_duration_usec)
		return;
	snprintf(p->section_text, sizeof(p->section_text), "[chaosd]");
	if (dl && ml)
		p_error(p, dl, "default_duration", p->default_duration_text,
				"longer than max_duration = '%s' (line "
				"%u)", p->max_duration_text, ml);
	else if (dl)
		p_error(p, dl, "default_duration", p->default_duration_text,
				"longer than max_duration (%s, the default)",
				config_keys[CK_MAX_DURATION].default_value);
	else
		p_error(p, ml, "max_duration", p->max_duration_text,
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
	free(c);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct config *, config_free);

static int config_defaults(struct config *c)
{
	uint64_t u;
	int r;

	r = parse_duration(config_keys[CK_DEFAULT_DURATION].default_value, &u);
	if (r < 0)
		return r;
	c->default_duration_usec = u;
	r = parse_duration(config_keys[CK_MAX_DURATION].default_value, &u);
	if (r < 0)
		return r;
	c->max_duration_usec = u;
	r = config_parse_rate(config_keys[CK_LINK_RATE].default_value, &u);
	if (r < 0)
		return r;
	c->link_rate_bps = u;
	c->socket_group = strdup(config_keys[CK_SOCKET_GROUP].default_value);
	if (!c->socket_group)
		return -ENOMEM;
	c->max_loss_percent = 100;
	c->max_scenarios = 1;
	c->keep_reports = 50;
	/* lo carries the host's own services talking to themselves: faulting it by accident is
	 * how a chaos tool takes down the box it runs on. */
	c->deny_interfaces = calloc(1, sizeof(*c->deny_interfaces));
	if (!c->deny_interfaces)
		return -ENOMEM;
	snprintf(c->deny_interfaces[0], IF_NAMESIZE, "%s",
			config_keys[CK_DENY_INTERFACES].default_value);
	c->n_deny_interfaces = 1;
	return 0;
}

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

static int load_text(const char *text, size_t len, const char *name, bool resolve,
		struct config **ret, struct diag *d)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct parser p = {
		.name = name ? name : "<string>",
		.resolve = resolve,
		.d = d,
		.cur_edge = -1,
		.prev_key = -1,
	};
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = config_defaults(c);
	if (r < 0)
		return r;
	c->path = strdup(p.name);
	if (!c->path)
		return -ENOMEM;
	p.c = c;

	r = ini_parse(text, len, &config_ini, &p);
	if (r < 0 || p.oom) {
		free(p.edges);
		return -ENOMEM;
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
	return load_text(text, strlen(text), name, resolve, ret, d);
}

int config_load(const char *path, struct config **ret, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	const char *nul;
	struct stat st;
	size_t len = 0;
	FILE *f;

	if (!path || !ret)
		return diag_add(d, -EINVAL, "invalid arguments");
	f = fopen(path, "re");
	if (!f)
		return diag_add(d, negative_errno(), "%s: %m", path);
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return diag_add(d, -EISDIR, "%s: is a directory", path);
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		fclose(f);
		return diag_add(d, -EIO, "%s: read error", path);
	}
	fclose(f);
	if (len > CONFIG_FILE_MAX)
		return diag_add(d, -EFBIG, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
	buf[len] = '\0';

	nul = memchr(buf, '\0', len);
	if (nul) {
		unsigned line = 1;

		for (const char *s = buf; s < nul; s++)
			line += *s == '\n';
		return diag_add(d, -EINVAL, "%s:%u: contains a NUL byte", path, line);
	}
	return load_text(buf, len, path, true, ret, d);
}

const struct edge *config_find_edge(const struct config *c, const char *name)
{
	if (!c || !name)
		return NULL;
	for (unsigned i = 0; i < c->n_edges; i++)
		if (streq(c->edges[i].name, name))
			return &c->edges[i];
	return NULL;
}
