/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "conntrack.h"
#include "test-util.h"

static struct edge make_edge(const char *prefix, uint16_t port, enum edge_proto proto)
{
	struct edge e = { .name = "db", .port = port, .proto = proto, .n_prefixes = 1 };

	ck_assert_int_eq(edge_prefix_parse(prefix, &e.prefixes[0]), 0);
	return e;
}

/* Is the IPv4 tuple SRC:SPORT -> DST:DPORT over L4 on e? */
static bool on4(const struct edge *e, uint8_t l4, const char *src, uint16_t sport, const char *dst,
		uint16_t dport)
{
	struct in_addr s, d;

	ck_assert_int_eq(inet_pton(AF_INET, src, &s), 1);
	ck_assert_int_eq(inet_pton(AF_INET, dst, &d), 1);
	return conntrack_tuple_on_edge(e, AF_INET, l4, &s, &d, sport, dport);
}

START_TEST(test_tuple_on_edge)
{
	struct edge e = make_edge("10.0.5.0/24", 0, EDGE_PROTO_ANY);
	struct in6_addr s6, d6;

	/* to the edge (we opened it) and from it (it opened it), any protocol */
	ck_assert(on4(&e, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.5.7", 5432));
	ck_assert(on4(&e, IPPROTO_UDP, "10.0.5.7", 53, "10.0.0.1", 40000));
	ck_assert(on4(&e, IPPROTO_ICMP, "10.0.0.1", 0, "10.0.5.255", 0));
	ck_assert(!on4(&e, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.6.7", 5432));

	/* a port is the peer's: destination port going there, source port coming back */
	e = make_edge("10.0.5.7", 5432, EDGE_PROTO_TCP);
	ck_assert(on4(&e, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.5.7", 5432));
	ck_assert(on4(&e, IPPROTO_TCP, "10.0.5.7", 5432, "10.0.0.1", 40000));
	ck_assert(!on4(&e, IPPROTO_TCP, "10.0.0.1", 5432, "10.0.5.7", 40000));
	ck_assert(!on4(&e, IPPROTO_UDP, "10.0.0.1", 40000, "10.0.5.7", 5432));
	ck_assert(!on4(&e, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.5.8", 5432));

	/* a port without a protocol: that port on tcp and udp, nothing else */
	e = make_edge("10.0.5.7", 53, EDGE_PROTO_ANY);
	ck_assert(on4(&e, IPPROTO_UDP, "10.0.0.1", 40000, "10.0.5.7", 53));
	ck_assert(on4(&e, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.5.7", 53));
	ck_assert(!on4(&e, IPPROTO_ICMP, "10.0.0.1", 0, "10.0.5.7", 0));
	e = make_edge("10.0.5.7", 0, EDGE_PROTO_UDP);
	ck_assert(on4(&e, IPPROTO_UDP, "10.0.0.1", 40000, "10.0.5.7", 9));
	ck_assert(!on4(&e, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.5.7", 9));

	/* IPv6, and the family must agree with the prefix */
	e = make_edge("fd77::/64", 0, EDGE_PROTO_ANY);
	ck_assert_int_eq(inet_pton(AF_INET6, "fd00::1", &s6), 1);
	ck_assert_int_eq(inet_pton(AF_INET6, "fd77::2", &d6), 1);
	ck_assert(conntrack_tuple_on_edge(&e, AF_INET6, IPPROTO_UDP, &s6, &d6, 1, 2));
	ck_assert(!conntrack_tuple_on_edge(&e, AF_INET, IPPROTO_UDP, &s6, &d6, 1, 2));
	ck_assert(!conntrack_tuple_on_edge(&e, AF_UNSPEC, IPPROTO_UDP, &s6, &d6, 1, 2));
	ck_assert(!conntrack_tuple_on_edge(NULL, AF_INET6, IPPROTO_UDP, &s6, &d6, 1, 2));
	ck_assert(!conntrack_tuple_on_edge(&e, AF_INET6, IPPROTO_UDP, NULL, &d6, 1, 2));
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct diag d;
	uint32_t *ids = NULL;
	unsigned n = 7;

	diag_init(&d);
	ck_assert_int_eq(conntrack_edge_ids(NULL, &ids, &n, &d), -EINVAL);
	ck_assert_str_eq(diag_text(&d), "invalid arguments");
	ck_assert_ptr_null(ids);
	ck_assert_uint_eq(n, 7);
	diag_init(&d);
	ck_assert_int_eq(conntrack_flush_edge(NULL, NULL, &d), -EINVAL);
}
END_TEST

static Suite *conntrack_suite(void)
{
	Suite *s = suite_create("conntrack");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_tuple_on_edge);
	tcase_add_test(tc, test_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(conntrack_suite());
}
