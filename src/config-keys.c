/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-dest.h"
#include "config-parser.h"
#include "edge-scope.h"
#include "parse.h"
#include "utf8.h"

#define DURATION_MIN USEC_PER_SEC
#define DURATION_MAX (365ULL * 24 * 3600 * USEC_PER_SEC)
#define RATE_MAX_BPS 1e15 /* 1000 tbit */
#define GROUP_NAME_MAX 32

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

static bool group_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > GROUP_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!parse_ascii_alnum(s[i]) && !strchr("_.-", s[i]))
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

/* A destination item's refusal, as the parser reports any other (config-dest.c). */
static void dest_error(void *userdata, const char *value, const char *msg)
{
	struct config_parser *p = userdata;

	config_parser_error(p, p->lineno, "destination", value, "%s", msg);
}

static int parse_destination(struct config_parser *p, struct edge *e, const char *value)
{
	const struct config_dest_ctx ctx = {
		.resolve = p->resolve,
		.resolver = p->resolver,
		.pending = &p->pending,
		.error = dest_error,
		.userdata = p,
	};

	return config_dest_parse(&ctx, e, value);
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
		config_parser_error(p, p->lineno, k->name, value, "%s", not_a);
		return r;
	}
	if (r < 0 || u < k->min || u > k->max) {
		config_parser_error(p, p->lineno, k->name, value, "out of range (allowed: %s)",
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
		config_parser_error(p, p->lineno, k->name, value,
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
		config_parser_error(p, p->lineno, k->name, value,
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
		config_parser_error(p, p->lineno, k->name, value, "not an absolute file name (allowed: e.g. "
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
			config_parser_error(p, p->lineno, k->name, value, "'%s' is not an interface name", it);
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
			config_parser_error(p, p->lineno, k->name, value,
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
		config_parser_error(p, p->lineno, k->name, value, "not a percentage (allowed: %s)",
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
		config_parser_error(p, p->lineno, k->name, value, "not a boolean (allowed: yes, no)");
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
		config_parser_error(p, p->lineno, k->name, value,
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
		config_parser_error(p, p->lineno, k->name, value,
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
		config_parser_error(p, p->lineno, k->name, value, "%s (allowed: %s)",
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
		config_parser_error(p, p->lineno, k->name, value, "not a protocol (allowed: tcp, udp, any)");
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
		config_parser_error(p, p->lineno, k->name, value,
				"'%s' is not a unit with processes (allowed: %s)",
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
		config_parser_error(p, p->lineno, k->name, value, "'%s' is not a cgroup (allowed: %s)",
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
			config_parser_error(p, p->lineno, k->name, value, "no user '%s' in the user database "
					"(%s; allowed: an existing user name or a uid)",
					utf8_ascii_safe(value, v, sizeof(v)), why);
			return -EINVAL;
		}
	} else
		r = edge_user_parse(value, &uid);
	if (r < 0) {
		utf8_ascii_safe(value, v, sizeof(v));
		if (r == -ENOENT)
			config_parser_error(p, p->lineno, k->name, value,
					"no user '%s' in the user database (allowed: an existing "
					"user name or a uid)", v);
		else
			config_parser_error(p, p->lineno, k->name, value,
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
		"control group chaosd asks systemd for over D-Bus (at load, then whenever systemd "
		"signals a change of the unit); "
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
