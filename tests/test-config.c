/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Not "config.h": with -I. that is autoconf's generated header. */
#include "config.h"
#include "edge-scope.h"
#include "parse.h"
#include "test-util.h"

#define SENTINEL ((struct config *)0x1)

static struct config *load_ok(const char *text)
{
	struct config *c = NULL;
	struct diag d;

	diag_init(&d);
	ck_assert_msg(config_load_string(text, "t.conf", false, &c, &d) == 0, "refused: %s",
			diag_text(&d));
	ck_assert_str_eq(diag_text(&d), "");
	ck_assert_ptr_nonnull(c);
	return c;
}

/* The whole diag must be exactly want (lines joined by '\n'). */
static void load_fails(const char *text, const char *want)
{
	struct config *c = SENTINEL;
	struct diag d;

	diag_init(&d);
	ck_assert_int_eq(config_load_string(text, "t.conf", false, &c, &d), -EINVAL);
	ck_assert_ptr_eq(c, SENTINEL); /* nothing returned */
	ck_assert_str_eq(diag_text(&d), want);
}

static const char *fmt_prefix(const struct edge *e, unsigned i)
{
	static char buf[64];

	return edge_prefix_format(&e->prefixes[i], buf, sizeof(buf));
}

START_TEST(test_defaults)
{
	struct config *c = load_ok("");

	ck_assert(c->default_duration_usec == 5 * 60 * USEC_PER_SEC);
	ck_assert(c->max_duration_usec == 3600 * USEC_PER_SEC);
	ck_assert(c->link_rate_bps == 10000000000ULL);
	ck_assert_str_eq(c->socket_group, "chaos");
	ck_assert_str_eq(c->path, "t.conf");
	ck_assert_uint_eq(c->n_edges, 0);
	ck_assert_ptr_null(config_find_edge(c, "db"));
	ck_assert_ptr_null(config_free(c));
	ck_assert_ptr_null(config_free(NULL));
}
END_TEST

/* Edges are found by name through a sorted index: each of many, in no order, is found as
 * itself, and names next to them are not. */
START_TEST(test_find_edge_many)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct config *c = NULL;
	struct diag d;

	ck_assert_ptr_nonnull(f);
	fprintf(f, "[chaosd]\n");
	for (unsigned i = 0; i < 300; i++)
		fprintf(f, "[edge e%u]\ninterface = eth0\ndestination = 10.1.%u.%u/32\n",
				(i * 7919) % 300, i / 250, i % 250 + 1);
	ck_assert_int_eq(fclose(f), 0);
	diag_init(&d);
	ck_assert_msg(config_load_string(text, "t.conf", false, &c, &d) == 0, "refused: %s",
			diag_text(&d));
	ck_assert_uint_eq(c->n_edges, 300);
	for (unsigned i = 0; i < c->n_edges; i++)
		ck_assert_ptr_eq(config_find_edge(c, c->edges[i].name), &c->edges[i]);
	ck_assert_ptr_null(config_find_edge(c, "e300"));
	ck_assert_ptr_null(config_find_edge(c, "e"));
	ck_assert_ptr_null(config_find_edge(c, "e00"));
	ck_assert_ptr_null(config_find_edge(c, ""));
	config_free(c);
	free(text);
}
END_TEST

START_TEST(test_good)
{
	static const char text[] =
		"\xEF\xBB\xBF; chaosd test config\n"
		"# comment\n"
		"[chaosd]\n"
		"default_duration = 90s\n"
		"max_duration = 2h\n"
		"link_rate = 2.5gbit ; inline comment\n"
		"socket_group = chaos-ops\n"
		"\n"
		"[edge db]\n"
		"interface = eth0\n"
		"destination = 10.0.5.0/24, fd00:5::/64,\n"
		"    10.0.6.7 ; the replica\n"
		"port = 5432\n"
		"\n"
		"[ edge  web.1 ]\r\n"
		"destination: 192.168.1.0/24\r\n"
		"protocol = TCP\r\n"
		"\n"
		"[edge dns]\n"
		"destination = 10.0.5.0/24\n"
		"port = 53\n"
		"protocol = udp\n";
	struct config *c = load_ok(text);
	const struct edge *e;

	ck_assert(c->default_duration_usec == 90 * USEC_PER_SEC);
	ck_assert(c->max_duration_usec == 7200 * USEC_PER_SEC);
	ck_assert(c->link_rate_bps == 2500000000ULL);
	ck_assert_str_eq(c->socket_group, "chaos-ops");
	ck_assert_uint_eq(c->n_edges, 3);

	e = config_find_edge(c, "db");
	ck_assert_ptr_eq(e, &c->edges[0]);
	ck_assert_str_eq(e->ifname, "eth0");
	ck_assert_uint_eq(e->n_prefixes, 3);
	ck_assert_str_eq(fmt_prefix(e, 0), "10.0.5.0/24");
	ck_assert_str_eq(fmt_prefix(e, 1), "fd00:5::/64");
	ck_assert_str_eq(fmt_prefix(e, 2), "10.0.6.7/32");
	ck_assert_uint_eq(e->port, 5432);
	ck_assert_int_eq(e->proto, EDGE_PROTO_ANY); /* a port alone: tcp and udp */
	ck_assert_uint_eq(e->line, 9);

	e = config_find_edge(c, "web.1");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->ifname, "");
	ck_assert_uint_eq(e->n_prefixes, 1);
	ck_assert_uint_eq(e->port, 0);
	ck_assert_int_eq(e->proto, EDGE_PROTO_TCP);
	ck_assert_uint_eq(e->line, 15);

	/* same prefix as db, but db is tcp+udp 5432 and dns is udp 53: disjoint */
	e = config_find_edge(c, "dns");
	ck_assert_uint_eq(e->port, 53);
	ck_assert_int_eq(e->proto, EDGE_PROTO_UDP);
	ck_assert_ptr_null(config_find_edge(c, "DB"));
	config_free(c);
}
END_TEST

START_TEST(test_keys_table)
{
	struct config *c;

	ck_assert_uint_eq(config_n_keys, 22);
	for (unsigned i = 0; i < config_n_keys; i++) {
		ck_assert(streq(config_keys[i].section, "chaosd") ||
				streq(config_keys[i].section, "edge"));
		ck_assert_ptr_nonnull(config_keys[i].help);
	}
	/* every default in the table is what a config without the key gets */
	c = load_ok("[chaosd]\ndefault_duration = 5m\nmax_duration = 1h\nlink_rate = 10gbit\n"
		    "socket_group = chaos\n");
	ck_assert(c->default_duration_usec == 300 * USEC_PER_SEC);
	ck_assert(c->link_rate_bps == 10000000000ULL);
	config_free(c);
}
END_TEST

/* The dialect of src/ini.c, the same as scenario files read. */
START_TEST(test_dialect)
{
	struct config *c;

	/* a '#' comment after a blank, ':' for '=', a comment after a section header, a
	 * continuation with its own comment, an indented key at the start of a section */
	c = load_ok("[chaosd] # limits\nsocket_group = ops # the on-call group\n"
		    "max_duration: 2h\n[edge a] ; x\n  destination = 10.0.0.0/8, # first\n"
		    "\t10.1.0.0/16 ; second\n");
	ck_assert_str_eq(c->socket_group, "ops");
	ck_assert(c->max_duration_usec == 7200 * USEC_PER_SEC);
	ck_assert_uint_eq(c->edges[0].n_prefixes, 2);
	ck_assert_str_eq(fmt_prefix(&c->edges[0], 1), "10.1.0.0/16");
	/* a '#' inside a word is part of the value */
	config_free(c);
	load_fails("[chaosd]\nsocket_group = ops#1\n",
			"t.conf:2: [chaosd] socket_group = 'ops#1': not a group name (allowed: "
			"1-32 letters, digits, '_', '.', '-')");
	load_fails("[chaosd]\nsocket_group = a\x01z\n",
			"t.conf:2: [chaosd]: control character 0x01 in the line (allowed: "
			"printable text and tabs)");
	load_fails("[chaosd]\n = 5m\n",
			"t.conf:2: [chaosd]: a value without a key (allowed: key = value)");
	load_fails("[chaosd]\nmax_scenarios = 17\n",
			"t.conf:2: [chaosd] max_scenarios = '17': not a number from 1 to 16");
}
END_TEST

START_TEST(test_parse_rate)
{
	uint64_t v = 0;

	ck_assert_int_eq(config_parse_rate("10gbit", &v), 0);
	ck_assert(v == 10000000000ULL);
	ck_assert_int_eq(config_parse_rate("100mbit", &v), 0);
	ck_assert(v == 100000000);
	ck_assert_int_eq(config_parse_rate("500kbit", &v), 0);
	ck_assert(v == 500000);
	ck_assert_int_eq(config_parse_rate("1bit", &v), 0);
	ck_assert(v == 1);
	ck_assert_int_eq(config_parse_rate("2.5Gbit", &v), 0);
	ck_assert(v == 2500000000ULL);
	ck_assert_int_eq(config_parse_rate("1000tbit", &v), 0);
	ck_assert(v == 1000000000000000ULL);
	v = 7;
	ck_assert_int_eq(config_parse_rate("1001tbit", &v), -ERANGE);
	ck_assert_int_eq(config_parse_rate("0gbit", &v), -ERANGE);
	ck_assert_int_eq(config_parse_rate("10", &v), -EINVAL);
	ck_assert_int_eq(config_parse_rate("10bps", &v), -EINVAL);
	ck_assert_int_eq(config_parse_rate("10 gbit", &v), -EINVAL);
	ck_assert_int_eq(config_parse_rate("gbit", &v), -EINVAL);
	ck_assert_int_eq(config_parse_rate("-1gbit", &v), -EINVAL);
	ck_assert_int_eq(config_parse_rate("", &v), -EINVAL);
	ck_assert(v == 7);
}
END_TEST

START_TEST(test_error_sections)
{
	load_fails("[chaos]\nfoo = 1\n",
			"t.conf:1: [chaos]: unknown section (allowed: [chaosd], [edge NAME])");
	load_fails("[edge]\n", "t.conf:1: [edge]: edge without a name (allowed: [edge NAME])");
	load_fails("[edgy x]\n",
			"t.conf:1: [edgy x]: unknown section (allowed: [chaosd], [edge NAME])");
	load_fails("[edge bad/name]\ndestination = 10.0.0.0/8\n",
			"t.conf:1: [edge bad/name]: invalid edge name 'bad/name' (allowed: 1-32 "
			"letters, digits, '_', '.', '-')");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\n[edge b]\ndestination = 11.0.0.0/8\n"
		   "[edge a]\ndestination = 12.0.0.0/8\n",
			"t.conf:5: [edge a]: duplicate edge 'a' (first defined on line 1)");
	load_fails("[edge a]\n", "t.conf:1: [edge a]: no destination (required: destination = "
				 "CIDR prefixes, addresses or host names, or a service: unit =, cgroup = or "
				 "user =)");
	load_fails("[edge a]\nport = 80\n[edge b]\ndestination = 10.0.0.0/8\n",
			"t.conf:1: [edge a]: no destination (required: destination = CIDR "
			"prefixes, addresses or host names, or a service: unit =, cgroup = or "
			"user =)");
	load_fails("[chaosd\nmax_duration = 1h\n",
			"t.conf:1: syntax error: '[chaosd' has no ']' (allowed: [chaosd], [edge NAME])");
	load_fails("[chaosd] junk\n",
			"t.conf:1: [chaosd]: text after ']' (allowed: a ';' or '#' comment)");
	load_fails("[chaosd]\nmax_duration\n",
			"t.conf:2: [chaosd]: syntax error: 'max_duration' (allowed: [section], key "
			"= value, ';' or '#' comments)");
	load_fails("max_duration = 1h\n[chaosd]\n",
			"t.conf:1: max_duration = '1h': key outside of a section (allowed: in "
			"[chaosd] or [edge NAME])");
}
END_TEST

START_TEST(test_error_keys)
{
	load_fails("[chaosd]\nmax_durration = 1h\n",
			"t.conf:2: [chaosd] max_durration = '1h': unknown key (allowed: "
			"default_duration, max_duration, link_rate, socket_group, read_group, "
			"allow_interfaces, deny_interfaces, protect, max_latency, max_loss, "
			"max_partition_duration, allow_ssh_partition, max_scenarios, keep_reports, "
			"metrics_file)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nproto = tcp\n",
			"t.conf:3: [edge a] proto = 'tcp': unknown key (allowed: interface, "
			"destination, port, protocol, unit, cgroup, user)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nport = 80\nport = 81\n",
			"t.conf:4: [edge a] port = '81': duplicate key (first set on line 3)");
	load_fails("[chaosd]\nmax_duration = 1h\n[chaosd]\nmax_duration = 2h\n",
			"t.conf:4: [chaosd] max_duration = '2h': duplicate key (first set on line "
			"2)");
	load_fails("[chaosd]\ndefault_duration = soon\n",
			"t.conf:2: [chaosd] default_duration = 'soon': not a duration (allowed: "
			"1s-365d, e.g. 30s, 5m, 1h30m)");
	load_fails("[chaosd]\nmax_duration = 500ms\n",
			"t.conf:2: [chaosd] max_duration = '500ms': out of range (allowed: "
			"1s-365d)");
	load_fails("[chaosd]\nlink_rate = fast\n",
			"t.conf:2: [chaosd] link_rate = 'fast': not a rate (allowed: a number with "
			"bit, kbit, mbit, gbit or tbit, e.g. 10gbit)");
	load_fails("[chaosd]\nlink_rate = 0mbit\n",
			"t.conf:2: [chaosd] link_rate = '0mbit': out of range (allowed: "
			"1bit-1000tbit)");
	load_fails("[chaosd]\nsocket_group = chaos ops\n",
			"t.conf:2: [chaosd] socket_group = 'chaos ops': not a group name (allowed: "
			"1-32 letters, digits, '_', '.', '-')");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\ninterface = eth0/1\n",
			"t.conf:3: [edge a] interface = 'eth0/1': not an interface name (allowed: "
			"1-15 characters, no '/', ':' or blanks)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\ninterface = averyveryverylongname\n",
			"t.conf:3: [edge a] interface = 'averyveryverylongname': not an interface "
			"name (allowed: 1-15 characters, no '/', ':' or blanks)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nport = 70000\n",
			"t.conf:3: [edge a] port = '70000': out of range (allowed: 1-65535)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nport = http\n",
			"t.conf:3: [edge a] port = 'http': not a port number (allowed: 1-65535)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nport = 0\n",
			"t.conf:3: [edge a] port = '0': out of range (allowed: 1-65535)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nprotocol = icmp\n",
			"t.conf:3: [edge a] protocol = 'icmp': not a protocol (allowed: tcp, udp, "
			"any)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nprotocol = tcp\n  port = 80\n",
			"t.conf:4: [edge a] protocol = 'port = 80': indented line continues "
			"'protocol' (allowed: only destination may continue on an indented line)");
}
END_TEST

START_TEST(test_error_destination)
{
	load_fails("[edge a]\ndestination = 10.0.5.1/24\n",
			"t.conf:2: [edge a] destination = '10.0.5.1/24': '10.0.5.1/24' has host "
			"bits set (allowed: the network address, 10.0.5.0/24)");
	load_fails("[edge a]\ndestination = fd00:5::1/64\n",
			"t.conf:2: [edge a] destination = 'fd00:5::1/64': 'fd00:5::1/64' has host "
			"bits set (allowed: the network address, fd00:5::/64)");
	load_fails("[edge a]\ndestination = 10.0.0.0/8, 10.300.0.0/16\n",
			"t.conf:2: [edge a] destination = '10.0.0.0/8, 10.300.0.0/16': "
			"'10.300.0.0/16' is not a prefix (allowed: CIDR prefixes like 10.0.5.0/24 "
			"or fd00::/64, addresses, host names)");
	load_fails("[edge a]\ndestination = 10.0.0.0/33\n",
			"t.conf:2: [edge a] destination = '10.0.0.0/33': '10.0.0.0/33' is not a "
			"prefix (allowed: CIDR prefixes like 10.0.5.0/24 or fd00::/64, addresses, "
			"host names)");
	load_fails("[edge a]\ndestination = db.example\n",
			"t.conf:2: [edge a] destination = 'db.example': 'db.example' is a host "
			"name, and names are not resolved here (allowed: CIDR prefixes and "
			"addresses)");
	load_fails("[edge a]\ndestination = db example\n",
			"t.conf:2: [edge a] destination = 'db example': 'db example' is neither a "
			"prefix nor a host name (allowed: CIDR prefixes like 10.0.5.0/24 or "
			"fd00::/64, addresses, host names)");
	load_fails("[edge a]\ndestination = ,\n",
			"t.conf:1: [edge a]: no destination (required: destination = CIDR "
			"prefixes, addresses or host names, or a service: unit =, cgroup = or "
			"user =)");
	/* two bad items: both reported */
	load_fails("[edge a]\ndestination = 10.0.0.1/8, 10.0.0.0/8,\n  x..y\n",
			"t.conf:2: [edge a] destination = '10.0.0.1/8, 10.0.0.0/8,': '10.0.0.1/8' "
			"has host bits set (allowed: the network address, 10.0.0.0/8)\n"
			"t.conf:3: [edge a] destination = 'x..y': 'x..y' is a host name, and names "
			"are not resolved here (allowed: CIDR prefixes and addresses)");
}
END_TEST

START_TEST(test_error_too_many_prefixes)
{
	char text[2048] = "[edge a]\ndestination = 10.0.0.0/32";

	for (int i = 1; i <= EDGE_PREFIX_MAX; i++) {
		char item[32];

		snprintf(item, sizeof(item), "%s10.0.%d.0/32", i % 8 == 0 ? ",\n  " : ", ", i);
		strcat(text, item);
	}
	strcat(text, "\n");
	/* 33 prefixes, the last alone on line 6 */
	load_fails(text, "t.conf:6: [edge a] destination = '10.0.32.0/32': more than 32 prefixes "
			 "(allowed: at most 32 per edge)");
}
END_TEST

START_TEST(test_error_durations)
{
	load_fails("[chaosd]\ndefault_duration = 2h\nmax_duration = 1h\n",
			"t.conf:2: [chaosd] default_duration = '2h': longer than max_duration = "
			"'1h' (line 3)");
	load_fails("[chaosd]\ndefault_duration = 2h\n",
			"t.conf:2: [chaosd] default_duration = '2h': longer than max_duration (1h, "
			"the default)");
	load_fails("[chaosd]\nmax_duration = 1m\n",
			"t.conf:2: [chaosd] max_duration = '1m': shorter than default_duration "
			"(5m, the default)");
	config_free(load_ok("[chaosd]\ndefault_duration = 1h\n")); /* equal is fine */
}
END_TEST

START_TEST(test_error_overlap)
{
	load_fails("[edge a]\ndestination = 10.0.0.0/8\n\n[edge b]\ndestination = 11.0.0.0/8, "
		   "10.1.0.0/16\n",
			"t.conf:4: [edge b]: overlaps edge 'a' (line 1): 10.1.0.0/16 and "
			"10.0.0.0/8 (allowed: edges no packet can match both of; differ in "
			"interface, protocol, port, prefixes or service)");
	/* tcp 80 and "any" port 80 (tcp and udp) share tcp 80 */
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nport = 80\nprotocol = tcp\n"
		   "[edge b]\ndestination = 10.0.0.1\nport = 80\n",
			"t.conf:5: [edge b]: overlaps edge 'a' (line 1): 10.0.0.1/32 and "
			"10.0.0.0/8 (allowed: edges no packet can match both of; differ in "
			"interface, protocol, port, prefixes or service)");
	/* an edge without interface may use eth0 */
	load_fails("[edge a]\ninterface = eth0\ndestination = fd00::/8\n"
		   "[edge b]\ndestination = fd00:1::/32\n",
			"t.conf:4: [edge b]: overlaps edge 'a' (line 1): fd00:1::/32 and fd00::/8 "
			"(allowed: edges no packet can match both of; differ in interface, "
			"protocol, port, prefixes or service)");
	/* three edges on one prefix: every pair */
	load_fails("[edge a]\ndestination = 10.0.0.0/8\n[edge b]\ndestination = 10.0.0.0/8\n"
		   "[edge c]\ndestination = 10.0.0.0/8\n",
			"t.conf:3: [edge b]: overlaps edge 'a' (line 1): 10.0.0.0/8 and 10.0.0.0/8 "
			"(allowed: edges no packet can match both of; differ in interface, "
			"protocol, port, prefixes or service)\n"
			"t.conf:5: [edge c]: overlaps edge 'a' (line 1): 10.0.0.0/8 and 10.0.0.0/8 "
			"(allowed: edges no packet can match both of; differ in interface, "
			"protocol, port, prefixes or service)\n"
			"t.conf:5: [edge c]: overlaps edge 'b' (line 3): 10.0.0.0/8 and 10.0.0.0/8 "
			"(allowed: edges no packet can match both of; differ in interface, "
			"protocol, port, prefixes or service)");

	/* disjoint by interface, protocol or port */
	config_free(load_ok("[edge a]\ninterface = eth0\ndestination = 10.0.0.0/8\n"
			    "[edge b]\ninterface = eth1\ndestination = 10.0.0.0/8\n"));
	config_free(load_ok("[edge a]\ndestination = 10.0.0.0/8\nprotocol = tcp\n"
			    "[edge b]\ndestination = 10.0.0.0/8\nprotocol = udp\n"));
	config_free(load_ok("[edge a]\ndestination = 10.0.0.0/8\nport = 80\n"
			    "[edge b]\ndestination = 10.0.0.0/8\nport = 443\n"));
}
END_TEST

START_TEST(test_error_all_collected)
{
	char long_line[400];
	struct config *c = SENTINEL;
	struct diag d;

	/* every error of the file, in one diag, each with file:line */
	load_fails("[chaosd]\n"
		   "max_duration = forever\n"
		   "nonsense = 1\n"
		   "[edge a]\n"
		   "destination = 10.0.0.1/8\n"
		   "port = -1\n"
		   "[bogus]\n"
		   "x = 1\n"
		   "[edge b]\n",
			"t.conf:2: [chaosd] max_duration = 'forever': not a duration (allowed: "
			"1s-365d, e.g. 30s, 5m, 1h30m)\n"
			"t.conf:3: [chaosd] nonsense = '1': unknown key (allowed: "
			"default_duration, max_duration, link_rate, socket_group, read_group, "
			"allow_interfaces, deny_interfaces, protect, max_latency, max_loss, "
			"max_partition_duration, allow_ssh_partition, max_scenarios, keep_reports, "
			"metrics_file)\n"
			"t.conf:5: [edge a] destination = '10.0.0.1/8': '10.0.0.1/8' has host bits "
			"set (allowed: the network address, 10.0.0.0/8)\n"
			"t.conf:6: [edge a] port = '-1': not a port number (allowed: 1-65535)\n"
			"t.conf:7: [bogus]: unknown section (allowed: [chaosd], [edge NAME])\n"
			"t.conf:9: [edge b]: no destination (required: destination = CIDR "
			"prefixes, addresses or host names, or a service: unit =, cgroup = or "
			"user =)");

	/* a line longer than inih's buffer is an error, not two lines */
	memset(long_line, 'x', sizeof(long_line));
	memcpy(long_line, "[chaosd]\nsocket_group = ", 24);
	strcpy(long_line + sizeof(long_line) - 2, "\n");
	diag_init(&d);
	ck_assert_int_eq(config_load_string(long_line, "t.conf", false, &c, &d), -EINVAL);
	ck_assert_ptr_eq(c, SENTINEL);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "t.conf:2: [chaosd]: line too long (allowed: "
						    "at most "));
	ck_assert_uint_eq(d.count, 1);
}
END_TEST

/* Service edges: unit, cgroup and user, alone or with a destination; bad values name themselves
 * and what is allowed. */
START_TEST(test_service_edges)
{
	struct config *c = load_ok("[edge api]\ninterface = eth0\nunit = api.service\n"
				   "[edge cg]\ninterface = eth1\ndestination = 10.0.0.0/8\n"
				   "cgroup = /system.slice/b.service\n"
				   "[edge root]\ninterface = eth2\ndestination = 10.0.0.0/8\nuser = root\n"
				   "[edge u]\ninterface = eth3\nuser = 1001\nunit = run-u7.scope\n");
	const struct edge *e = config_find_edge(c, "api");
	char buf[128];

	ck_assert_str_eq(e->unit, "api.service");
	ck_assert_uint_eq(e->n_prefixes, 0);
	ck_assert(!e->has_uid);
	e = config_find_edge(c, "cg");
	ck_assert_str_eq(e->cgroup, "system.slice/b.service"); /* without its leading '/' */
	e = config_find_edge(c, "root");
	ck_assert(e->has_uid);
	ck_assert_uint_eq(e->uid, 0);
	ck_assert_str_eq(edge_scope_format(e, buf, sizeof(buf)), "user=root(0)");
	e = config_find_edge(c, "u");
	ck_assert_uint_eq(e->uid, 1001);
	ck_assert_str_eq(edge_scope_format(e, buf, sizeof(buf)), "unit=run-u7.scope user=1001");
	config_free(c);

	/* two services to the same destination do not overlap; a service and everyone do */
	c = load_ok("[edge a]\ndestination = 10.0.0.0/8\nunit = a.service\n"
		    "[edge b]\ndestination = 10.0.0.0/8\nunit = b.service\n");
	config_free(c);
	load_fails("[edge a]\ndestination = 10.0.0.0/8\nunit = a.service\n"
		   "[edge all]\ndestination = 10.0.0.1\n",
			"t.conf:4: [edge all]: overlaps edge 'a' (line 1): 10.0.0.1/32 and "
			"10.0.0.0/8 (allowed: edges no packet can match both of; differ in "
			"interface, protocol, port, prefixes or service)");
	load_fails("[edge a]\ninterface = eth0\nuser = 5\n[edge b]\ndestination = 10.0.0.1\n",
			"t.conf:4: [edge b]: overlaps edge 'a' (line 1): 10.0.0.1/32 and any "
			"destination (allowed: edges no packet can match both of; differ in "
			"interface, protocol, port, prefixes or service)");
	load_fails("[edge a]\ninterface = eth0\ncgroup = x.slice\n"
		   "[edge b]\ninterface = eth0\ncgroup = x.slice/y.service\n",
			"t.conf:4: [edge b]: overlaps edge 'a' (line 1): any destination and any "
			"destination (allowed: edges no packet can match both of; differ in "
			"interface, protocol, port, prefixes or service)");

	load_fails("[edge a]\nunit = a.service\n",
			"t.conf:1: [edge a]: a service edge without a destination has no route to "
			"find its interface by (required: interface = or destination =)");
	load_fails("[edge a]\ninterface = eth0\nunit = a.service\ncgroup = a\n",
			"t.conf:4: [edge a] cgroup = 'a': unit = 'a.service' (line 3) names the "
			"control group already (allowed: unit or cgroup, not both)");
	load_fails("[edge a]\ninterface = eth0\nunit = a.socket\n",
			"t.conf:3: [edge a] unit = 'a.socket': 'a.socket' is not a unit with "
			"processes (allowed: a .service, .scope or .slice unit: other units have no "
			"processes)");
	load_fails("[edge a]\ninterface = eth0\nunit = api@.service\n",
			"t.conf:3: [edge a] unit = 'api@.service': 'api@.service' is not a unit "
			"with processes (allowed: a unit name; a template needs its instance, e.g. "
			"api@1.service)");
	load_fails("[edge a]\ninterface = eth0\nunit = a b.service\n",
			"t.conf:3: [edge a] unit = 'a b.service': 'a b.service' is not a unit with "
			"processes (allowed: a unit name of letters, digits and ':-_.\\@')");
	load_fails("[edge a]\ninterface = eth0\ncgroup = /\n",
			"t.conf:3: [edge a] cgroup = '/': '/' is not a cgroup (allowed: a cgroup "
			"below the root (the root holds every process))");
	load_fails("[edge a]\ninterface = eth0\ncgroup = /sys/fs/cgroup/system.slice\n",
			"t.conf:3: [edge a] cgroup = '/sys/fs/cgroup/system.slice': "
			"'/sys/fs/cgroup/system.slice' is not a cgroup (allowed: the path below the "
			"cgroup2 mount, without /sys/fs/cgroup, e.g. system.slice/api.service)");
	load_fails("[edge a]\ninterface = eth0\ncgroup = system.slice/../x\n",
			"t.conf:3: [edge a] cgroup = 'system.slice/../x': 'system.slice/../x' is not "
			"a cgroup (allowed: a cgroup path without empty, '.' or '..' components)");
	load_fails("[edge a]\ninterface = eth0\ncgroup = a//b\n",
			"t.conf:3: [edge a] cgroup = 'a//b': 'a//b' is not a cgroup (allowed: a "
			"cgroup path without empty, '.' or '..' components)");
	load_fails("[edge a]\ninterface = eth0\ncgroup = a/b/\n",
			"t.conf:3: [edge a] cgroup = 'a/b/': 'a/b/' is not a cgroup (allowed: a "
			"cgroup path without a trailing '/')");
	load_fails("[edge a]\ninterface = eth0\nuser = no-such-user-chaosd\n",
			"t.conf:3: [edge a] user = 'no-such-user-chaosd': no user "
			"'no-such-user-chaosd' in the user database (allowed: an existing user name "
			"or a uid)");
	load_fails("[edge a]\ninterface = eth0\nuser = 4294967295\n",
			"t.conf:3: [edge a] user = '4294967295': '4294967295' is not a user "
			"(allowed: a user name of letters, digits, '_', '-', '.', at most 32 "
			"characters, or a uid from 0 to 4294967294 but 65535)");
	/* a refused scope key is reported once, not as a missing destination too */
	load_fails("[edge a]\nuser = -1\n",
			"t.conf:2: [edge a] user = '-1': '-1' is not a user (allowed: a user name of "
			"letters, digits, '_', '-', '.', at most 32 characters, or a uid from 0 to "
			"4294967294 but 65535)");
}
END_TEST

START_TEST(test_resolve)
{
	struct config *c = NULL;
	struct diag d;
	char *p;

	diag_init(&d);
	ck_assert_int_eq(config_load_string("[edge lo]\ndestination = localhost, 127.0.0.1\n",
					 "r.conf", true, &c, &d),
			0);
	/* localhost may have ::1 too; 127.0.0.1 appears once */
	ck_assert_uint_ge(c->edges[0].n_prefixes, 1);
	ck_assert_str_eq(fmt_prefix(&c->edges[0], 0), "127.0.0.1/32");
	for (unsigned i = 1; i < c->edges[0].n_prefixes; i++)
		ck_assert_str_ne(fmt_prefix(&c->edges[0], i), "127.0.0.1/32");
	config_free(c);

	c = SENTINEL;
	diag_init(&d);
	ck_assert_int_eq(config_load_string("[edge x]\ndestination = no-such-host.invalid\n",
					 "r.conf", true, &c, &d),
			-EINVAL);
	ck_assert_ptr_eq(c, SENTINEL);
	p = strstr(diag_text(&d), "r.conf:2: [edge x] destination = 'no-such-host.invalid': "
				  "'no-such-host.invalid' does not resolve: ");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(strstr(p, " (allowed: a host name with an A or AAAA record, or a "
					"CIDR prefix)"));
}
END_TEST

START_TEST(test_load_file)
{
	char path[] = "/tmp/chaosd-test-config-XXXXXX";
	struct config *c = SENTINEL;
	struct diag d;
	char want[128];
	FILE *f;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs("[chaosd]\nsocket_group = wheel\n[edge lo]\ndestination = localhost\n", f);
	fclose(f);
	diag_init(&d);
	ck_assert_int_eq(config_load(path, &c, &d), 0);
	ck_assert_str_eq(c->path, path);
	ck_assert_str_eq(c->socket_group, "wheel");
	ck_assert_str_eq(fmt_prefix(&c->edges[0], 0), "127.0.0.1/32"); /* resolved */
	config_free(c);

	/* errors name the file */
	f = fopen(path, "w");
	fputs("[chaosd]\n\nsocket_group = \n", f);
	fclose(f);
	c = SENTINEL;
	diag_init(&d);
	ck_assert_int_eq(config_load(path, &c, &d), -EINVAL);
	snprintf(want, sizeof(want),
			"%s:3: [chaosd] socket_group = '': not a group name (allowed: 1-32 "
			"letters, digits, '_', '.', '-')",
			path);
	ck_assert_str_eq(diag_text(&d), want);

	/* a NUL byte cannot be meant */
	f = fopen(path, "w");
	fputs("[chaosd]\n", f);
	fputc('\0', f);
	fclose(f);
	diag_init(&d);
	ck_assert_int_eq(config_load(path, &c, &d), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: contains a NUL byte", path);
	ck_assert_str_eq(diag_text(&d), want);

	diag_init(&d);
	ck_assert_int_eq(config_load("/tmp", &c, &d), -EISDIR);
	ck_assert_str_eq(diag_text(&d), "'/tmp' is a directory, not a regular file: move it out of "
			"the way");

	/* A FIFO is refused at once, never read (it would block the loop on reload). */
	snprintf(want, sizeof(want), "%s.fifo", path);
	ck_assert_int_eq(mkfifo(want, 0600), 0);
	diag_init(&d);
	ck_assert_int_lt(config_load(want, &c, &d), 0);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "FIFO"));
	unlink(want);

	unlink(path);
	diag_init(&d);
	ck_assert_int_eq(config_load(path, &c, &d), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	ck_assert_str_eq(diag_text(&d), want);
	ck_assert_ptr_eq(c, SENTINEL);
}
END_TEST

START_TEST(test_guard_rails)
{
	struct config *c;
	const char *key = NULL;
	char buf[128];

	/* Defaults: lo denied, nothing else limited. */
	c = load_ok("[chaosd]\n");
	ck_assert(!config_interface_allowed(c, "lo", &key));
	ck_assert_str_eq(key, "deny_interfaces");
	ck_assert(config_interface_allowed(c, "eth0", &key));
	ck_assert_ptr_null(c->read_group);
	ck_assert(!c->allow_ssh_partition);
	ck_assert_double_eq(c->max_loss_percent, 100);
	ck_assert_str_eq(config_key_origin(c, "deny_interfaces", buf, sizeof(buf)),
			"t.conf (default)");
	config_free(c);

	c = load_ok("[chaosd]\nread_group = adm\nallow_interfaces = eth0, eth1\n"
		    "deny_interfaces = eth1\nprotect = 10.0.0.0/8, fd00::/8\nmax_latency = 2s\n"
		    "max_loss = 50%\nmax_partition_duration = 30s\nallow_ssh_partition = yes\n");
	ck_assert_str_eq(c->read_group, "adm");
	ck_assert(config_interface_allowed(c, "eth0", &key));
	ck_assert(!config_interface_allowed(c, "eth1", &key));
	ck_assert_str_eq(key, "deny_interfaces");
	ck_assert(!config_interface_allowed(c, "eth2", &key));
	ck_assert_str_eq(key, "allow_interfaces");
	ck_assert(config_interface_allowed(c, "lo", &key) == false); /* not in allow list */
	ck_assert_uint_eq(c->n_protect, 2);
	ck_assert_uint_eq(c->protect[0].len, 8);
	ck_assert(c->max_latency_usec == 2 * USEC_PER_SEC);
	ck_assert_double_eq(c->max_loss_percent, 50);
	ck_assert(c->max_partition_usec == 30 * USEC_PER_SEC);
	ck_assert(c->allow_ssh_partition);
	free(c->path);
	c->path = strdup("/etc/chaosd/chaosd.conf");
	ck_assert_str_eq(config_key_origin(c, "protect", buf, sizeof(buf)),
			"/etc/chaosd/chaosd.conf:5");
	config_free(c);

	load_fails("[chaosd]\nprotect = 10.0.0.1/8\n",
			"t.conf:2: [chaosd] protect = '10.0.0.1/8': '10.0.0.1/8' is not a CIDR "
			"prefix (allowed: e.g. 10.0.0.0/8, fd00::/8)");
	load_fails("[chaosd]\nallow_ssh_partition = perhaps\n",
			"t.conf:2: [chaosd] allow_ssh_partition = 'perhaps': not a boolean "
			"(allowed: yes, no)");
	load_fails("[chaosd]\nmax_scenarios = 0\n",
			"t.conf:2: [chaosd] max_scenarios = '0': not a number from 1 to 16");
	c = load_ok("[chaosd]\nmax_scenarios = 3\nkeep_reports = 7\n");
	ck_assert_uint_eq(c->max_scenarios, 3);
	ck_assert_uint_eq(c->keep_reports, 7);
	ck_assert_ptr_null(c->metrics_file);
	config_free(c);
	c = load_ok("[chaosd]\nmetrics_file = /var/lib/node-exporter/chaosd.prom\n");
	ck_assert_str_eq(c->metrics_file, "/var/lib/node-exporter/chaosd.prom");
	config_free(c);
	load_fails("[chaosd]\nmetrics_file = chaosd.prom\n",
			"t.conf:2: [chaosd] metrics_file = 'chaosd.prom': not an absolute file name "
			"(allowed: e.g. /var/lib/prometheus/node-exporter/chaosd.prom)");
	load_fails("[chaosd]\nmax_loss = 120\n",
			"t.conf:2: [chaosd] max_loss = '120': not a percentage (allowed: 0-100)");
	load_fails("[chaosd]\ndeny_interfaces = eth0, a/b\n",
			"t.conf:2: [chaosd] deny_interfaces = 'eth0, a/b': 'a/b' is not an "
			"interface name");
}
END_TEST

/* The daemon resolves names outside its loop: a load asks for every name first (-EAGAIN),
 * then takes the answers; an answer that is an error names the name and why. */
static unsigned asked;
static bool known;

static int fake_resolve(void *userdata, const char *name, struct edge_prefix *ret, unsigned max,
		unsigned *ret_n, const char **ret_why)
{
	if (!known) {
		asked++;
		return -EAGAIN;
	}
	if (strcmp(name, "db.example") != 0) {
		*ret_why = "Name or service not known";
		return -ENOENT;
	}
	ck_assert_int_eq(edge_prefix_parse("10.9.8.7", &ret[0]), 0);
	*ret_n = 1;
	return 0;
}

START_TEST(test_load_with_resolver)
{
	const struct config_resolver res = { .resolve = fake_resolve };
	char path[] = "/tmp/test-config-XXXXXX";
	struct config *c = NULL;
	struct diag d;
	int fd = mkstemp(path);
	const char *text = "[edge db]\ninterface = lo\ndestination = db.example\n"
			   "[edge x]\ninterface = lo\ndestination = x.example\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	asked = 0;
	known = false;
	diag_init(&d);
	ck_assert_int_eq(config_load_with(path, &res, &c, &d), -EAGAIN);
	ck_assert_uint_eq(asked, 2);
	known = true;
	diag_init(&d);
	ck_assert_int_eq(config_load_with(path, &res, &c, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "'x.example' does not resolve: Name or service"));
	text = "[edge db]\ninterface = lo\ndestination = db.example\n";
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	diag_init(&d);
	ck_assert_int_eq(config_load_with(path, &res, &c, &d), 0);
	ck_assert_uint_eq(c->edges[0].n_prefixes, 1);
	config_free(c);
	unlink(path);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core"), *te = tcase_create("errors");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_find_edge_many);
	tcase_add_test(tc, test_keys_table);
	tcase_add_test(tc, test_guard_rails);
	tcase_add_test(tc, test_dialect);
	tcase_add_test(tc, test_parse_rate);
	tcase_add_test(tc, test_service_edges);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_load_with_resolver);
	suite_add_tcase(s, tc);

	tcase_add_test(te, test_error_sections);
	tcase_add_test(te, test_error_keys);
	tcase_add_test(te, test_error_destination);
	tcase_add_test(te, test_error_too_many_prefixes);
	tcase_add_test(te, test_error_durations);
	tcase_add_test(te, test_error_overlap);
	tcase_add_test(te, test_error_all_collected);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	return test_run_suite(config_suite());
}
