/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* flowsel's program in the kernel: the cls_bpf filter nl_tc_bpf_put() encodes, on an htb class
 * with a leaf for the selected flows and one for the others (the layout the datapath gives an
 * edge with a share of flows), on both ends of a veth pair between two network namespaces.
 * Every flow is sent one datagram at a time each way and the class counters say where it went:
 * the kernel must decide exactly as flowsel_selected() predicts, the same way in both
 * directions, and the share must be near the one asked for. Needs root; cls_bpf and htb (no
 * netem). */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flowsel.h"
#include "nl_tc.h"
#include "test-netns.h"
#include "test-util.h"

#define ROOT  0x00010000U
#define EDGE  0x00010001U /* the edge's class: the u32 filters send its packets here */
#define SEL   0x00010002U /* leaf of the selected flows (netem in the datapath) */
#define OTHER 0x00010003U /* leaf of the others */
#define RATE  UINT64_C(125000000000)

struct side {
	const char *dev;
	int ns;  /* network namespace fd */
	int ifindex;
	struct nl_socket *nl;
	const char *addr4, *addr6; /* this end's addresses */
};

static pid_t peer = -1;
static int home_ns = -1;
static struct side A = { .dev = "veth0", .addr4 = "10.0.5.1", .addr6 = "fd00:5::1" };
static struct side B = { .dev = "veth1", .addr4 = "10.0.5.7", .addr6 = "fd00:5::7" };

static void enter(const struct side *s)
{
	ck_assert_int_eq(setns(s->ns, CLONE_NEWNET), 0);
}

static void leave(void)
{
	ck_assert_int_eq(setns(home_ns, CLONE_NEWNET), 0);
}

static void setup(void)
{
	char path[64];

	peer = test_netns_pair();
	SH("ip link set lo up && ip link add veth0 type veth peer name veth1 netns %d", (int)peer);
	SH("ip addr add 10.0.5.1/24 dev veth0 && ip -6 addr add fd00:5::1/64 dev veth0 nodad && "
	   "ip link set veth0 up");
	SH("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add 10.0.5.7/24 dev veth1 && "
	   "ip -6 addr add fd00:5::7/64 dev veth1 nodad && ip link set veth1 up'",
			(int)peer);
	/* neighbours resolved before counting: ARP and ND stay out of the counters anyway (the
	 * filters match UDP only), this just keeps the first datagram from waiting */
	SH("ping -q -c 1 -W 5 10.0.5.7 >/dev/null && ping -q -c 1 -W 5 fd00:5::7 >/dev/null");

	home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(home_ns, 0);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)peer);
	B.ns = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(B.ns, 0);
	A.ns = home_ns;
	/* a netlink socket stays in the namespace it was made in */
	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &A.nl), 0);
	A.ifindex = (int)if_nametoindex(A.dev);
	enter(&B);
	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &B.nl), 0);
	B.ifindex = (int)if_nametoindex(B.dev);
	leave();
	ck_assert_int_gt(A.ifindex, 0);
	ck_assert_int_gt(B.ifindex, 0);
}

static void teardown(void)
{
	A.nl = nl_socket_free(A.nl);
	B.nl = nl_socket_free(B.nl);
	if (peer > 0) {
		kill(peer, SIGKILL);
		waitpid(peer, NULL, 0);
	}
}

static void send_batch(struct nl_batch *b, struct side *s)
{
	struct diag d;

	diag_init(&d);
	ck_assert_msg(nl_batch_send(b, s->nl, NULL, &d) == 0, "%s", diag_text(&d));
	nl_batch_reset(b);
}

static void put_bpf(struct nl_batch *b, struct side *s, uint32_t share, bool replace)
{
	struct sock_filter prog[FLOWSEL_PROG_MAX];
	int n = flowsel_prog(share, OTHER, prog, ELEMENTSOF(prog));

	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(nl_tc_bpf_put(b, s->nl,
				&(struct nl_tc_bpf){ .ifindex = s->ifindex, .parent = EDGE,
					.prio = 3, .protocol = ETH_P_ALL, .handle = 1,
					.classid = SEL, .ops = prog, .n_ops = (unsigned)n },
				s->dev, replace),
			0);
}

/* htb root, the edge's class with its two leaves, and UDP to the peer's addresses sent to the
 * edge's class: the shape the datapath builds on an IFB. */
static void build(struct side *s, const struct side *to, uint32_t share)
{
	static const uint32_t classes[][2] = { { ROOT, EDGE }, { EDGE, SEL }, { EDGE, OTHER } };
	struct nl_tc_dev dev = { s->ifindex, s->dev };
	struct nl_tc_match m4 = { .family = AF_INET, .prefix_len = 32, .ipproto = IPPROTO_UDP };
	struct nl_tc_match m6 = { .family = AF_INET6, .prefix_len = 128,
		.ipproto = IPPROTO_UDP };
	struct nl_batch b;

	ck_assert_int_eq(inet_pton(AF_INET, to->addr4, m4.addr), 1);
	ck_assert_int_eq(inet_pton(AF_INET6, to->addr6, m6.addr), 1);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	ck_assert_int_eq(nl_tc_htb_root_add(&b, s->nl, dev, ROOT, 1000), 0);
	for (unsigned i = 0; i < ELEMENTSOF(classes); i++)
		ck_assert_int_eq(nl_tc_htb_class_add(&b, s->nl, dev, classes[i][0], classes[i][1],
					 RATE, 256 * 1024, 200000),
				0);
	ck_assert_int_eq(nl_tc_u32_add(&b, s->nl,
				&(struct nl_tc_u32){ .ifindex = s->ifindex, .parent = ROOT,
					.prio = 1, .protocol = ETH_P_IP, .handle = 1,
					.classid = EDGE },
				&m4, s->dev),
			0);
	ck_assert_int_eq(nl_tc_u32_add(&b, s->nl,
				&(struct nl_tc_u32){ .ifindex = s->ifindex, .parent = ROOT,
					.prio = 2, .protocol = ETH_P_IPV6, .handle = 1,
					.classid = EDGE },
				&m6, s->dev),
			0);
	put_bpf(&b, s, share, false);
	send_batch(&b, s);
	nl_batch_done(&b);
}

struct counts {
	int ifindex;
	uint64_t sel, other;
};

static int class_cb(const struct nlmsghdr *nlh, void *data)
{
	struct counts *c = data;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || o.ifindex != c->ifindex)
		return MNL_CB_OK;
	if (o.handle == SEL)
		c->sel = o.packets;
	else if (o.handle == OTHER)
		c->other = o.packets;
	return MNL_CB_OK;
}

static struct counts read_counts(struct side *s)
{
	char buf[NL_TC_REQ_SIZE] = {};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct counts c = { .ifindex = s->ifindex };
	struct tcmsg *t;

	nlh->nlmsg_type = RTM_GETTCLASS;
	t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = s->ifindex;
	ck_assert_int_eq(nl_socket_dump(s->nl, nlh, class_cb, &c, NULL), 0);
	return c;
}

/* One datagram from s (addr:sport) to dst:dport; returns whether the kernel put it in the
 * selected leaf (the counters of s's egress say which one moved). */
static bool send_one(struct side *s, int family, uint16_t sport, const char *dst, uint16_t dport)
{
	struct counts before = read_counts(s), after;
	struct sockaddr_storage src = {}, to = {};
	socklen_t len;
	int fd, one = 1;

	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&src, *b = (struct sockaddr_in *)&to;
		*a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(sport) };
		*b = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(dport) };
		ck_assert_int_eq(inet_pton(AF_INET, s->addr4, &a->sin_addr), 1);
		ck_assert_int_eq(inet_pton(AF_INET, dst, &b->sin_addr), 1);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&src, *b = (struct sockaddr_in6 *)&to;
		*a = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(sport) };
		*b = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(dport) };
		ck_assert_int_eq(inet_pton(AF_INET6, s->addr6, &a->sin6_addr), 1);
		ck_assert_int_eq(inet_pton(AF_INET6, dst, &b->sin6_addr), 1);
		len = sizeof(*a);
	}
	enter(s);
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	leave();
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&src, len), 0);
	ck_assert_int_eq(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, len), 1);
	close(fd);
	/* htb counts a packet when it leaves the class: wait for it (at most 2 s) */
	for (int i = 0; i < 2000; i++) {
		after = read_counts(s);
		if (after.sel + after.other != before.sel + before.other)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	ck_assert_msg(after.sel + after.other == before.sel + before.other + 1,
			"%s: selected %llu -> %llu, others %llu -> %llu", s->dev,
			(unsigned long long)before.sel, (unsigned long long)after.sel,
			(unsigned long long)before.other, (unsigned long long)after.other);
	return after.sel > before.sel;
}

static struct flowsel_flow flow(int family, const char *src, uint16_t sport, const char *dst,
		uint16_t dport)
{
	struct flowsel_flow f = { .family = family, .sport = sport, .dport = dport };

	ck_assert_int_eq(inet_pton(family, src, f.saddr), 1);
	ck_assert_int_eq(inet_pton(family, dst, f.daddr), 1);
	return f;
}

/* n flows from consecutive source ports to one server port, each way: returns how many the
 * kernel selected; every decision must be flowsel_selected()'s, in both directions. */
static unsigned run_flows(int family, unsigned n, uint16_t first_port, uint32_t share,
		bool *selected)
{
	const char *a = family == AF_INET ? A.addr4 : A.addr6;
	const char *b = family == AF_INET ? B.addr4 : B.addr6;
	unsigned hits = 0;

	for (unsigned i = 0; i < n; i++) {
		uint16_t sport = (uint16_t)(first_port + i);
		struct flowsel_flow f = flow(family, a, sport, b, 5432);
		bool there = send_one(&A, family, sport, b, 5432);
		bool back = send_one(&B, family, 5432, a, sport);

		ck_assert_msg(there == flowsel_selected(&f, share),
				"flow %s:%u -> %s:5432: kernel %d, flowsel_selected %d", a, sport, b,
				there, !there);
		ck_assert_msg(back == there, "flow %s:%u: reply went the other way", a, sport);
		hits += there;
		if (selected)
			selected[i] = there;
	}
	return hits;
}

static void check_share(const char *what, unsigned hits, unsigned n, uint32_t share)
{
	double p = share / (double)FLOWSEL_ALL, sigma = sqrt(n * p * (1 - p));

	fprintf(stderr, "flowsel in the kernel, %s: %u of %u flows selected (%.1f %%, asked %.2f %%, "
			"4-sigma band %.0f-%.0f), each in both directions as predicted\n",
			what, hits, n, 100. * hits / n, p * 100, n * p - 4 * sigma, n * p + 4 * sigma);
	ck_assert_msg(fabs(hits - n * p) <= 4 * sigma, "%s: %u of %u", what, hits, n);
}

/* Both ends classify with share; n flows of family each way. */
static void measure(const char *what, int family, unsigned n, uint16_t first_port, uint32_t share)
{
	build(&A, &B, share);
	build(&B, &A, share);
	check_share(what, run_flows(family, n, first_port, share, NULL), n, share);
}

START_TEST(test_ipv4)
{
	measure("IPv4 UDP, flows = 20%", AF_INET, 400, 40000, 2000);
}
END_TEST

START_TEST(test_ipv6)
{
	measure("IPv6 UDP, flows = 50%", AF_INET6, 200, 50000, 5000);
}
END_TEST

/* A share changed in place (the filter replaced at its handle) keeps the flows it had when it
 * grows: 5 % -> 50 % only adds. */
START_TEST(test_replace_grows)
{
	bool before[200], after[200];
	struct nl_batch b;
	unsigned h5, h50;

	build(&A, &B, 500);
	build(&B, &A, 500);
	h5 = run_flows(AF_INET, 200, 30000, 500, before);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	put_bpf(&b, &A, 5000, true);
	send_batch(&b, &A);
	put_bpf(&b, &B, 5000, true);
	send_batch(&b, &B);
	nl_batch_done(&b);
	h50 = run_flows(AF_INET, 200, 30000, 5000, after);
	fprintf(stderr, "flowsel in the kernel, share replaced in place: %u flows at 5 %%, %u at "
			"50 %% (of 200)\n", h5, h50);
	for (unsigned i = 0; i < 200; i++)
		ck_assert_msg(!before[i] || after[i], "flow %u left the selection when it grew", i);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flowsel-host");
	TCase *tc = tcase_create("kernel");

	if (geteuid() != 0)
		return test_skip("test-flowsel-host", "needs root (network namespaces, tc)");
	if (system("command -v ip >/dev/null && command -v nsenter >/dev/null && "
		   "command -v ping >/dev/null") != 0)
		return test_skip("test-flowsel-host", "needs ip, nsenter and ping");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ipv4);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_replace_grows);
	suite_add_tcase(s, tc);
	return test_run_suite_forked(s);
}
