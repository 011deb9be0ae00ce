/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "edge-scope.h"
#include "edge.h"
#include "test-util.h"

static struct edge_prefix prefix(const char *s)
{
	struct edge_prefix p;

	ck_assert_msg(edge_prefix_parse(s, &p) == 0, "'%s' refused", s);
	return p;
}

static void check_roundtrip(const char *in, const char *want)
{
	struct edge_prefix p = prefix(in), q;
	char buf[64];

	ck_assert_str_eq(edge_prefix_format(&p, buf, sizeof(buf)), want);
	ck_assert_int_eq(edge_prefix_parse(buf, &q), 0);
	ck_assert(memcmp(&p, &q, sizeof(p)) == 0);
}

START_TEST(test_prefix_parse)
{
	struct edge_prefix p;

	p = prefix("10.0.5.0/24");
	ck_assert_int_eq(p.family, AF_INET);
	ck_assert_int_eq(p.len, 24);
	ck_assert_int_eq(p.addr[0], 10);
	ck_assert_int_eq(p.addr[2], 5);
	ck_assert_int_eq(p.addr[3], 0);

	p = prefix("10.0.5.7");
	ck_assert_int_eq(p.len, 32);
	ck_assert_int_eq(p.addr[3], 7);

	p = prefix("fd00:5::/64");
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert_int_eq(p.len, 64);
	ck_assert_int_eq(p.addr[0], 0xfd);
	ck_assert_int_eq(p.addr[3], 5);

	p = prefix("::1");
	ck_assert_int_eq(p.len, 128);
	p = prefix("0.0.0.0/0");
	ck_assert_int_eq(p.len, 0);
	p = prefix("::/0");
	ck_assert_int_eq(p.len, 0);
	p = prefix("10.0.5.128/25");
	ck_assert_int_eq(p.len, 25);
	p = prefix("fd00:0:0:2::/63"); /* 0x0002: bit 62 set, bit 63 (a host bit) clear */
	ck_assert_int_eq(p.len, 63);

	check_roundtrip("10.0.5.0/24", "10.0.5.0/24");
	check_roundtrip("10.0.5.7", "10.0.5.7/32");
	check_roundtrip("FD00:0005:0000::/64", "fd00:5::/64");
	check_roundtrip("::ffff:10.0.0.0/120", "10.0.0.0/24"); /* IPv4-mapped: the IPv4 net */
}
END_TEST

START_TEST(test_prefix_refused)
{
	static const char *const bad[] = {
		"10.0.5.1/24", /* host bits set */
		"fd00:5::1/64",
		"10.0.5.128/24",
		"fd00:0:0:1::/63", /* 0x0001: the lowest bit of 64 is a host bit of /63 */
		"10.0.0.0/33",
		"::/129",
		"10.0.0.0/",
		"10.0.0.0/024",
		"10.0.0.0/+24",
		"10.0.0.0/-1",
		"10.0.0.0/24/24",
		"10.0.0.0/2a",
		"10.0.0.0/99999999999",
		"/24",
		"",
		"10.0.0",
		"10.0.0.256",
		"010.0.0.0",
		"10.0.0.0 /24",
		" 10.0.0.0/24",
		"fe80::1%eth0",
		"example.com",
		"1.2.3.4.5",
		"fd00::/64x",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789/8",
	};
	struct edge_prefix p = { .family = 99 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(edge_prefix_parse(bad[i], &p) == -EINVAL, "'%s' accepted", bad[i]);
	ck_assert_int_eq(edge_prefix_parse(NULL, &p), -EINVAL);
	ck_assert_int_eq(p.family, 99); /* untouched on failure */
}
END_TEST

/* IPv4-mapped addresses are the IPv4 ones: an edge given "::ffff:10.0.0.2" matches IPv4 packets
 * to 10.0.0.2, and overlaps an edge given 10.0.0.0/24. */
START_TEST(test_prefix_v4_mapped)
{
	static const char *const same[][2] = {
		{ "::ffff:10.0.0.2", "10.0.0.2/32" },
		{ "::ffff:10.0.0.2/128", "10.0.0.2/32" },
		{ "::FFFF:a00:2", "10.0.0.2/32" },
		{ "0:0:0:0:0:ffff:10.0.0.2", "10.0.0.2/32" },
		{ "::ffff:10.0.0.0/120", "10.0.0.0/24" },
		{ "::ffff:10.0.0.0/104", "10.0.0.0/8" },
		{ "::ffff:0:0/96", "0.0.0.0/0" },
		{ "::ffff:0.0.0.0/96", "0.0.0.0/0" },
	};
	static const char *const refused[] = {
		"::ffff:0:0/95", "::ffff:0:0/80", "::ffff:0:0/0", "::ffff:10.0.0.2/120",
		"::ffff:10.0.0.0/97", "::ffff:10.0.0.2/129",
	};
	struct edge_prefix p, v4 = prefix("10.0.0.0/24");
	uint8_t a4[4] = { 10, 0, 0, 2 }, a6[16];
	char buf[64];

	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		p = prefix(same[i][0]);
		ck_assert_int_eq(p.family, AF_INET);
		ck_assert_str_eq(edge_prefix_format(&p, buf, sizeof(buf)), same[i][1]);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		ck_assert_msg(edge_prefix_parse(refused[i], &p) == -EINVAL, "'%s' accepted",
				refused[i]);

	p = prefix("::ffff:10.0.0.2");
	ck_assert(edge_prefix_contains(&p, AF_INET, a4));
	ck_assert(edge_prefix_overlap(&p, &v4));
	/* other IPv6 nets stay IPv6, even near the mapped range */
	p = prefix("::fffe:10.0.0.2");
	ck_assert_int_eq(p.family, AF_INET6);
	p = prefix("::10.0.0.2");
	ck_assert_int_eq(p.family, AF_INET6);
	p = prefix("::/80");
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert_int_eq(inet_pton(AF_INET6, "64:ff9b::10.0.0.2", a6), 1);
	p = prefix("64:ff9b::10.0.0.2");
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert(edge_prefix_contains(&p, AF_INET6, a6));
}
END_TEST

START_TEST(test_prefix_contains)
{
	struct edge_prefix net = prefix("10.0.5.0/24"), any = prefix("0.0.0.0/0"),
			   v6 = prefix("fd00:5::/64"), odd = prefix("10.0.5.128/25");
	uint8_t a4[4], a6[16];

	inet_pton(AF_INET, "10.0.5.77", a4);
	ck_assert(edge_prefix_contains(&net, AF_INET, a4));
	ck_assert(edge_prefix_contains(&any, AF_INET, a4));
	ck_assert(!edge_prefix_contains(&odd, AF_INET, a4));
	ck_assert(!edge_prefix_contains(&v6, AF_INET, a4));
	inet_pton(AF_INET, "10.0.5.200", a4);
	ck_assert(edge_prefix_contains(&odd, AF_INET, a4));
	inet_pton(AF_INET, "10.0.6.1", a4);
	ck_assert(!edge_prefix_contains(&net, AF_INET, a4));

	inet_pton(AF_INET6, "fd00:5::abcd", a6);
	ck_assert(edge_prefix_contains(&v6, AF_INET6, a6));
	ck_assert(!edge_prefix_contains(&net, AF_INET6, a6));
	inet_pton(AF_INET6, "fd00:6::abcd", a6);
	ck_assert(!edge_prefix_contains(&v6, AF_INET6, a6));
	ck_assert(!edge_prefix_contains(NULL, AF_INET6, a6));
}
END_TEST

START_TEST(test_prefix_overlap)
{
	struct edge_prefix a = prefix("10.0.0.0/8"), b = prefix("10.0.5.0/24");
	struct edge_prefix c = prefix("10.1.0.0/16"), d = prefix("11.0.0.0/8");
	struct edge_prefix h = prefix("10.0.5.7"), x = prefix("fd00::/8");
	struct edge_prefix y = prefix("fd00:5::/64"), z = prefix("fe00::/8");

	ck_assert(edge_prefix_overlap(&a, &b));
	ck_assert(edge_prefix_overlap(&b, &a));
	ck_assert(edge_prefix_overlap(&a, &a));
	ck_assert(edge_prefix_overlap(&a, &c));
	ck_assert(!edge_prefix_overlap(&b, &c));
	ck_assert(!edge_prefix_overlap(&a, &d));
	ck_assert(edge_prefix_overlap(&b, &h));
	ck_assert(!edge_prefix_overlap(&c, &h));
	ck_assert(edge_prefix_overlap(&x, &y));
	ck_assert(!edge_prefix_overlap(&y, &z));
	ck_assert(!edge_prefix_overlap(&a, &x)); /* families never overlap */
}
END_TEST

START_TEST(test_proto)
{
	enum edge_proto p = EDGE_PROTO_UDP;

	ck_assert_str_eq(edge_proto_to_string(EDGE_PROTO_ANY), "any");
	ck_assert_str_eq(edge_proto_to_string(EDGE_PROTO_TCP), "tcp");
	ck_assert_str_eq(edge_proto_to_string(EDGE_PROTO_UDP), "udp");
	ck_assert_ptr_null(edge_proto_to_string((enum edge_proto)7));
	ck_assert_int_eq(edge_proto_from_string("tcp", &p), 0);
	ck_assert_int_eq(p, EDGE_PROTO_TCP);
	ck_assert_int_eq(edge_proto_from_string("UDP", &p), 0);
	ck_assert_int_eq(p, EDGE_PROTO_UDP);
	ck_assert_int_eq(edge_proto_from_string("any", &p), 0);
	ck_assert_int_eq(p, EDGE_PROTO_ANY);
	ck_assert_int_eq(edge_proto_from_string("icmp", &p), -EINVAL);
	ck_assert_int_eq(edge_proto_from_string("", &p), -EINVAL);
	ck_assert_int_eq(p, EDGE_PROTO_ANY);
}
END_TEST

static struct edge make_edge(const char *ifname, const char *pfx, uint16_t port,
		enum edge_proto proto)
{
	struct edge e = { .port = port, .proto = proto };

	strcpy(e.name, "e");
	strcpy(e.ifname, ifname);
	e.prefixes[0] = prefix(pfx);
	e.n_prefixes = 1;
	return e;
}

START_TEST(test_edge_overlaps)
{
	struct edge a = make_edge("eth0", "10.0.0.0/8", 0, EDGE_PROTO_ANY), b;

	b = make_edge("eth0", "10.0.5.0/24", 0, EDGE_PROTO_ANY);
	ck_assert(edge_overlaps(&a, &b));
	/* different interfaces never share a packet */
	b = make_edge("eth1", "10.0.5.0/24", 0, EDGE_PROTO_ANY);
	ck_assert(!edge_overlaps(&a, &b));
	/* an edge without interface may route through the other's */
	b = make_edge("", "10.0.5.0/24", 0, EDGE_PROTO_ANY);
	ck_assert(edge_overlaps(&a, &b));
	ck_assert(edge_overlaps(&b, &a));
	/* disjoint prefixes */
	b = make_edge("eth0", "11.0.0.0/8", 0, EDGE_PROTO_ANY);
	ck_assert(!edge_overlaps(&a, &b));

	/* protocol and port */
	a = make_edge("eth0", "10.0.0.0/8", 5432, EDGE_PROTO_TCP);
	b = make_edge("eth0", "10.0.0.0/8", 5432, EDGE_PROTO_UDP);
	ck_assert(!edge_overlaps(&a, &b));
	b = make_edge("eth0", "10.0.0.0/8", 5433, EDGE_PROTO_TCP);
	ck_assert(!edge_overlaps(&a, &b));
	b = make_edge("eth0", "10.0.0.0/8", 5432, EDGE_PROTO_ANY); /* tcp and udp 5432 */
	ck_assert(edge_overlaps(&a, &b));
	b = make_edge("eth0", "10.0.0.0/8", 0, EDGE_PROTO_TCP); /* every tcp port */
	ck_assert(edge_overlaps(&a, &b));
	b = make_edge("eth0", "10.0.0.0/8", 0, EDGE_PROTO_ANY); /* all traffic */
	ck_assert(edge_overlaps(&a, &b));
	b = make_edge("eth0", "10.0.0.0/8", 53, EDGE_PROTO_ANY);
	ck_assert(!edge_overlaps(&a, &b));

	/* several prefixes: one shared is enough */
	a = make_edge("eth0", "10.0.0.0/8", 0, EDGE_PROTO_ANY);
	a.prefixes[1] = prefix("fd00::/16");
	a.n_prefixes = 2;
	b = make_edge("eth0", "fd00:1::/32", 0, EDGE_PROTO_ANY);
	ck_assert(edge_overlaps(&a, &b));
	b.prefixes[0] = prefix("fe80::/10");
	ck_assert(!edge_overlaps(&a, &b));
	ck_assert(!edge_overlaps(NULL, &b));
}
END_TEST

START_TEST(test_name_valid)
{
	static const char *const good[] = { "db", "web-1", "a.b_c", "A", "0",
		"abcdefghijklmnopqrstuvwxyz012345" };
	static const char *const bad[] = { "", "a b", "a/b", "a:b", "é", "a\n",
		"abcdefghijklmnopqrstuvwxyz0123456", "[x]", "a;b" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(edge_name_valid(good[i]), "'%s' refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!edge_name_valid(bad[i]), "'%s' accepted", bad[i]);
	ck_assert(!edge_name_valid(NULL));
}
END_TEST

START_TEST(test_name_hash)
{
	/* FNV-1a's published value for "a"; the empty name is the offset basis */
	ck_assert_uint_eq(edge_name_hash(""), UINT64_C(0xcbf29ce484222325));
	ck_assert_uint_eq(edge_name_hash("a"), UINT64_C(0xaf63dc4c8601ec8c));
	/* the bench's edge names: no two of e0..e999 collide (one assertion per name: Check logs
	 * each, and half a million of them outlast the timeout under ASan) */
	uint64_t h[1000];
	for (unsigned i = 0; i < 1000; i++) {
		char name[16];
		unsigned same = 0;
		snprintf(name, sizeof(name), "e%u", i);
		h[i] = edge_name_hash(name);
		for (unsigned k = 0; k < i; k++)
			same += h[k] == h[i];
		ck_assert_msg(same == 0, "'%s' collides", name);
	}
}
END_TEST

START_TEST(test_scope_keys)
{
	static const char *const units_ok[] = { "a.service", "api@1.service", "batch.slice",
		"run-u7.scope", "x\\x2dy.service", "a:b_c.service", "user-1000.slice" };
	static const char *const units_bad[] = { "", "a", ".service", "a.socket", "a.target",
		"api@.service", "@1.service", "a@b@c.service", "a b.service", "a/b.service",
		"a.service ", "\xc3\xa9.service" };
	static const char *const cg_bad[] = { "", "/", "//", "a//b", "a/", "/a/", "./a", "a/.",
		"a/../b", "..", "/sys/fs/cgroup", "sys/fs/cgroup/a", "a b", "a\tb", "a\nb" };
	char big[300], out[EDGE_CGROUP_MAX + 1] = "untouched";
	const char *why;
	uint32_t uid = 7;

	for (size_t i = 0; i < sizeof(units_ok) / sizeof(units_ok[0]); i++)
		ck_assert_msg(edge_unit_check(units_ok[i], &why) == 0, "'%s' refused", units_ok[i]);
	for (size_t i = 0; i < sizeof(units_bad) / sizeof(units_bad[0]); i++)
		ck_assert_msg(edge_unit_check(units_bad[i], &why) == -EINVAL, "'%s' accepted",
				units_bad[i]);
	memset(big, 'a', sizeof(big));
	strcpy(big + 250, ".service"); /* 258 characters */
	ck_assert_int_eq(edge_unit_check(big, &why), -EINVAL);

	ck_assert_int_eq(edge_cgroup_normalize("/system.slice/a.service", out, sizeof(out), &why),
			0);
	ck_assert_str_eq(out, "system.slice/a.service");
	ck_assert_int_eq(edge_cgroup_normalize("x", out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "x");
	strcpy(out, "untouched");
	for (size_t i = 0; i < sizeof(cg_bad) / sizeof(cg_bad[0]); i++)
		ck_assert_msg(edge_cgroup_normalize(cg_bad[i], out, sizeof(out), &why) == -EINVAL,
				"'%s' accepted", cg_bad[i]);
	ck_assert_int_eq(edge_cgroup_normalize(big, out, sizeof(out), &why), -EINVAL);
	ck_assert_str_eq(out, "untouched");

	ck_assert_int_eq(edge_user_parse("0", &uid), 0);
	ck_assert_uint_eq(uid, 0);
	ck_assert_int_eq(edge_user_parse("4294967294", &uid), 0);
	ck_assert_uint_eq(uid, 4294967294u);
	ck_assert_int_eq(edge_user_parse("root", &uid), 0);
	ck_assert_uint_eq(uid, 0);
	uid = 7;
	ck_assert_int_eq(edge_user_parse("4294967295", &uid), -ERANGE);
	ck_assert_int_eq(edge_user_parse("65535", &uid), -ERANGE);
	ck_assert_int_eq(edge_user_parse("99999999999999999999999", &uid), -ERANGE);
	ck_assert_int_eq(edge_user_parse("01", &uid), -EINVAL);
	ck_assert_int_eq(edge_user_parse("1x", &uid), -EINVAL);
	ck_assert_int_eq(edge_user_parse("", &uid), -EINVAL);
	ck_assert_int_eq(edge_user_parse("-1", &uid), -EINVAL);
	ck_assert_int_eq(edge_user_parse("a b", &uid), -EINVAL);
	ck_assert_int_eq(edge_user_parse("no-such-user-chaosd", &uid), -ENOENT);
	ck_assert_uint_eq(uid, 7); /* untouched on failure */
}
END_TEST

/* Scoped edges overlap unless no socket can be in both scopes. */
START_TEST(test_scope_overlap)
{
	struct edge a = { .n_prefixes = 1, .prefixes = { prefix("10.0.0.0/8") } }, b = a;

	ck_assert(!edge_scoped(&a));
	ck_assert(edge_overlaps(&a, &b));
	strcpy(a.unit, "a.service");
	ck_assert(edge_scoped(&a));
	ck_assert(edge_overlaps(&a, &b)); /* b: every process, a's too */
	strcpy(b.unit, "b.service");
	ck_assert(!edge_overlaps(&a, &b));
	ck_assert(!edge_scope_equal(&a, &b));
	strcpy(b.unit, "a.slice"); /* a slice may hold a.service */
	ck_assert(edge_overlaps(&a, &b));
	b.unit[0] = '\0';
	strcpy(b.cgroup, "system.slice/a.service"); /* may be a's cgroup */
	ck_assert(edge_overlaps(&a, &b));
	a.unit[0] = '\0';
	strcpy(a.cgroup, "system.slice");
	ck_assert(edge_overlaps(&a, &b));
	strcpy(a.cgroup, "system.slice/a.servicex");
	ck_assert(!edge_overlaps(&a, &b));
	a.cgroup[0] = b.cgroup[0] = '\0';
	a.has_uid = b.has_uid = true;
	a.uid = 1;
	b.uid = 2;
	ck_assert(!edge_overlaps(&a, &b));
	b.uid = 1;
	ck_assert(edge_overlaps(&a, &b));
	ck_assert(edge_scope_equal(&a, &b));
	/* no destination: every address */
	b.n_prefixes = 0;
	ck_assert(edge_overlaps(&a, &b));
	b.port = 80;
	a.port = 81;
	ck_assert(!edge_overlaps(&a, &b));
}
END_TEST

static Suite *edge_suite(void)
{
	Suite *s = suite_create("edge");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_prefix_parse);
	tcase_add_test(tc, test_prefix_refused);
	tcase_add_test(tc, test_prefix_v4_mapped);
	tcase_add_test(tc, test_prefix_contains);
	tcase_add_test(tc, test_prefix_overlap);
	tcase_add_test(tc, test_proto);
	tcase_add_test(tc, test_edge_overlaps);
	tcase_add_test(tc, test_name_valid);
	tcase_add_test(tc, test_name_hash);
	tcase_add_test(tc, test_scope_keys);
	tcase_add_test(tc, test_scope_overlap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(edge_suite());
}
