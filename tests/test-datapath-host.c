/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The datapath against a real kernel, each test in a private network namespace (unshare in
 * the forked test process): veth0 (10.0.5.1/24, fd00:5::1/64) here, veth1 (10.0.5.7, .8,
 * fd00:5::7) in a peer namespace held by a child process.
 *
 * Kernels without sch_netem (the build hosts here): everything but netem itself, i.e. clsact
 * creation and reuse, u32 filters found by priority, mirred redirect into an IFB with an htb
 * class (a tbf leaf stands in for netem), IFB lifecycle, remove_all restoring the exact prior
 * state, extack text, the refusal next to a legacy ingress qdisc, and the "no sch_netem"
 * error with a full rollback. With sch_netem (the VM): the netem stages run the full datapath
 * (add, in-place change, both directions, IPv6, removal, kill switch, rollback of a failed add
 * next to a working edge) and read the result back from the kernel and from ping times.
 *
 * No case skips itself: each leg runs the kernel-neutral cases plus the ones its kernel is for.
 * make check runs the host leg (no argument: the missing-netem cases); tests/vm/e2e.sh runs
 * `test-datapath-host --netem` in the VM (the netem cases), which fails on a kernel without
 * sch_netem. A host leg on a kernel with sch_netem runs the rest, then exits 77 (skip; a
 * failure under CI=true) naming what it could not run.
 *
 * Needs root, ip, tc, ping, nsenter and python3 (reads tc -j); exits 77 (skip) without them. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datapath.h"
#include "flowsel.h"
#include "journal.h"
#include "nl_link.h"
#include "nl_tc.h"
#include "test-netns.h"
#include "test-util.h"

static pid_t peer = -1;
static char jdir[64];
static struct journal *journal;
static struct datapath *dp;
static int veth0;

static char *capture(const char *fmt, ...) _printf_(1, 2);
static char *capture(const char *fmt, ...)
{
	char cmd[4096];
	char *buf = NULL;
	size_t len = 0, n;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	buf = calloc(1, 1);
	for (;;) {
		char chunk[4096];
		n = fread(chunk, 1, sizeof(chunk), f);
		if (n == 0)
			break;
		buf = realloc(buf, len + n + 1);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf + len, chunk, n);
		len += n;
		buf[len] = '\0';
	}
	pclose(f);
	return buf;
}

/* Every link, qdisc, class and filter of this namespace, as tc and ip print them. htb's count
 * of unclassified packets is left out: an IFB's own IPv6 link-local chatter (MLD, router
 * solicitations) goes through it and is then dropped by the IFB (ifb_xmit drops packets that
 * were not redirected to it). */
static char *snapshot(void)
{
	return capture("ip -j link show; "
		       "tc -j qdisc show | sed 's/\"direct_packets_stat\":[0-9]*,\\{0,1\\}//g'; "
		       "for d in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do "
		       "echo \"== $d\"; tc -j class show dev $d; "
		       "tc -j filter show dev $d ingress; tc -j filter show dev $d egress; done");
}

/* diag_text() is the whole text; the user sees its first line first */
static char *first_line(const struct diag *d)
{
	static char line[DIAG_MAX];

	snprintf(line, sizeof(line), "%s", d->text);
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static void assert_same(const char *before, const char *after)
{
	if (strcmp(before, after) != 0) {
		fprintf(stderr, "--- before\n%s\n--- after\n%s\n", before, after);
		ck_abort_msg("the kernel state differs from before");
	}
}

/* Whether this kernel has sch_netem (qdisc_create() autoloads it if it can): one netem qdisc on
 * a throwaway veth in a child's private namespace. 1 yes, 0 no, -1 could not probe. */
static int kernel_has_netem(void)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(2);
		_exit(sh("ip link add p0 type veth peer name p1 && "
			 "tc qdisc add dev p0 root netem delay 1ms 2>/dev/null") == 0 ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) > 1)
		return -1;
	return WEXITSTATUS(status) == 0;
}

static void setup(void)
{
	peer = test_netns_pair();
	SH("ip link set lo up");
	SH("ip link add veth0 type veth peer name veth1 netns %d", (int)peer);
	SH("ip addr add 10.0.5.1/24 dev veth0 && ip -6 addr add fd00:5::1/64 dev veth0 nodad && "
	   "ip link set veth0 up");
	SH("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add 10.0.5.7/24 dev veth1 && "
	   "ip addr add 10.0.5.8/24 dev veth1 && ip -6 addr add fd00:5::7/64 dev veth1 nodad && "
	   "ip link set veth1 up'",
			(int)peer);
	/* carrier up before any snapshot is taken (operstate is part of it) */
	SH("ping -q -c 1 -W 5 10.0.5.7 >/dev/null");
	veth0 = (int)if_nametoindex("veth0");
	ck_assert_int_gt(veth0, 0);

	struct diag d;
	diag_init(&d);
	snprintf(jdir, sizeof(jdir), "/tmp/chaosd-dp-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(jdir));
	ck_assert_msg(journal_open(jdir, &journal, &d) == 0, "%s", diag_text(&d));
	ck_assert_msg(datapath_new(journal, &dp, &d) == 0, "%s", diag_text(&d));
}

static void teardown(void)
{
	dp = datapath_free(dp);
	journal = journal_free(journal);
	if (peer > 0) {
		kill(peer, SIGKILL);
		waitpid(peer, NULL, 0);
	}
	sh("rm -rf '%s'", jdir);
}

static struct edge edge_v4(const char *name, const char *prefix, enum edge_proto proto,
		uint16_t port)
{
	struct edge e = { .proto = proto, .port = port, .n_prefixes = 1 };

	snprintf(e.name, sizeof(e.name), "%s", name);
	ck_assert_int_eq(edge_prefix_parse(prefix, &e.prefixes[0]), 0);
	return e;
}

/* Someone else's clsact with a u32 filter of theirs: chaosd must leave both as they are, and
 * the filter keeps the clsact's u32 state (tables included) alive under chaosd's. */
static void foreign_clsact(void)
{
	SH("tc qdisc add dev veth0 clsact");
	SH("tc filter add dev veth0 egress prio 10 protocol ip u32 match ip dst 192.0.2.1/32 "
	   "flowid 1:1");
}

static struct netem_config delay_cfg(int64_t ms)
{
	return (struct netem_config){ .limit = 1000, .latency_ns = ms * 1000000 };
}

/* ------------------------------------------------------------------ without netem */

START_TEST(test_no_netem_rolls_back)
{
	struct edge e = edge_v4("web", "10.0.5.7/32", EDGE_PROTO_TCP, 443);
	struct netem_config cfg = delay_cfg(100);
	struct diag d;
	unsigned n;
	char *before, *after;
	int r;

	before = snapshot();
	for (unsigned round = 0; round < 4; round++) {
		enum fault_direction dir = round % 2 ? FAULT_DIR_IN : FAULT_DIR_OUT;
		/* then on a share of flows: an inner class, two leaf classes and a filter */
		uint32_t flows = round < 2 ? FLOWSEL_ALL : 2500;

		diag_init(&d);
		r = datapath_set_netem_flows(dp, &e, veth0, dir, &cfg, flows, &d);
		ck_assert_int_eq(r, -EOPNOTSUPP);
		/* chaosd's reason and fix first, then the kernel's own words */
		ck_assert_str_eq(first_line(&d), "the kernel has no sch_netem (modprobe sch_netem; "
						 "Debian: linux-image-amd64 has it as a module)");
		ck_assert_msg(strstr(d.text, "Specified qdisc kind is unknown"), "%s", d.text);
		after = snapshot();
		assert_same(before, after);
		free(after);
		ck_assert_uint_eq(journal_clsact_count(journal), 0);
		ck_assert_int_eq(datapath_count_owned(dp, &n), 0);
		ck_assert_uint_eq(n, 0);
	}
	free(before);
}
END_TEST

START_TEST(test_no_netem_keeps_existing_clsact)
{
	struct edge e = edge_v4("db", "10.0.5.0/24", EDGE_PROTO_ANY, 0);
	struct netem_config cfg = delay_cfg(10);
	struct diag d;
	char *before, *after;

	/* someone else's clsact with a filter of theirs in each direction */
	foreign_clsact();
	SH("tc filter add dev veth0 ingress prio 10 protocol ip u32 match ip src 192.0.2.1/32 "
	   "flowid 1:1");
	before = snapshot();
	/* Twice: u32 tables outlive their instance while the foreign u32s keep the clsact's u32
	 * state, so a rollback that left one would make the second add fail on it. */
	for (int i = 0; i < 2; i++) {
		diag_init(&d);
		ck_assert_int_eq(datapath_set_netem(dp, &e, veth0, FAULT_DIR_IN, &cfg, &d),
				-EOPNOTSUPP);
		ck_assert_msg(!strstr(d.text, "File exists"), "%s", d.text);
		after = snapshot();
		assert_same(before, after);
		free(after);
	}
	ck_assert_uint_eq(journal_clsact_count(journal), 0);
	/* and none is hiding: an instance at chaosd's prio would show them */
	SH("tc filter add dev veth0 ingress prio %u protocol ip u32 match u32 0 0 flowid 1:1",
			NL_TC_PRIO_V4);
	after = capture("tc filter show dev veth0 ingress prio %u", NL_TC_PRIO_V4);
	ck_assert_msg(!strstr(after, "fh 4") && !strstr(after, "fh 5") && !strstr(after, "fh 6") &&
				!strstr(after, "fh 7"),
			"%s", after);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_legacy_ingress_refused)
{
	struct edge e = edge_v4("web", "10.0.5.7/32", EDGE_PROTO_ANY, 0);
	struct netem_config cfg = delay_cfg(10);
	struct diag d;
	char *before, *after;

	SH("tc qdisc add dev veth0 ingress");
	before = snapshot();
	for (enum fault_direction dir = FAULT_DIR_OUT; dir <= FAULT_DIR_IN; dir++) {
		diag_init(&d);
		ck_assert_int_eq(datapath_set_netem(dp, &e, veth0, dir, &cfg, &d), -EBUSY);
		ck_assert_msg(strstr(diag_text(&d), "veth0 has a legacy 'ingress' qdisc") &&
					strstr(diag_text(&d), "tc qdisc del dev veth0 ingress"),
				"%s", d.text);
	}
	after = snapshot();
	assert_same(before, after);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_both_directions_refused)
{
	struct edge e = edge_v4("web", "10.0.5.7/32", EDGE_PROTO_ANY, 0);
	struct netem_config cfg = delay_cfg(10);
	struct diag d;

	diag_init(&d);
	ck_assert_int_eq(datapath_set_netem(dp, &e, veth0, FAULT_DIR_BOTH, &cfg, &d), -EINVAL);
	/* removing what is not there is a success */
	ck_assert_int_eq(datapath_set_netem(dp, &e, veth0, FAULT_DIR_OUT, NULL, &d), 0);
}
END_TEST

START_TEST(test_extack_surfaces)
{
	struct nl_socket *s;
	struct nl_batch b;
	struct diag d;

	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &s), 0);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	/* a qdisc under a parent that does not exist (found before its kind is looked up) */
	ck_assert_int_eq(nl_tc_netem_put(&b, s, (struct nl_tc_dev){ veth0, "veth0" }, 0x00050001,
				 0x00060000, &(struct netem_config){ .limit = 10 }, NULL, false),
			0);
	/* and a root qdisc handle with a minor number */
	ck_assert_int_eq(nl_tc_htb_root_add(&b, s, (struct nl_tc_dev){ veth0, "veth0" },
				 0x00050001, 100), 0);
	diag_init(&d);
	ck_assert_int_eq(nl_batch_send(&b, s, NULL, &d), -ENOENT);
	ck_assert_str_eq(d.text, "add netem 6:0 under 5:1 on veth0: No such file or directory: "
				 "Failed to find specified qdisc\n"
				 "add htb 5:1 on veth0: Invalid argument: Invalid minor handle");
	/* a u32 node handle in a hash table that does not exist */
	nl_batch_reset(&b);
	ck_assert_int_eq(nl_tc_clsact_add(&b, s, (struct nl_tc_dev){ veth0, "veth0" }), 0);
	ck_assert_int_eq(nl_tc_filter_del(&b, s, (struct nl_tc_dev){ veth0, "veth0" },
				 NL_TC_EGRESS_PARENT, NL_TC_PRIO_V4, ETH_P_IP, 0x12300001), 0);
	diag_init(&d);
	ck_assert_int_lt(nl_batch_send(&b, s, NULL, &d), 0);
	ck_assert_int_eq(b.errs[0], 0);
	ck_assert_int_lt(b.errs[1], 0);
	ck_assert_msg(strstr(diag_text(&d),
				      "delete u32 filter prio 50337 handle 123:0:1 on veth0: "),
			"%s", diag_text(&d));
	nl_batch_done(&b);
	nl_socket_free(s);
}
END_TEST

/* A batch is acked once, on its last message: the error of a message before it still lands on
 * that message, and the messages around it take effect (read back from the kernel). */
START_TEST(test_batch_errors_without_acks)
{
	static const int gone[] = { -ENODEV, 0 };
	struct nl_socket *s;
	struct nl_batch b;
	struct diag d;

	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &s), 0);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	ck_assert_int_eq(nl_link_ifb_add(&b, s, "bt-a", NL_LINK_IFB_TXQLEN, 0), 0);
	ck_assert_int_eq(nl_link_ifb_add(&b, s, "bt-a", NL_LINK_IFB_TXQLEN, 0), 0);
	ck_assert_int_eq(nl_link_ifb_add(&b, s, "bt-b", NL_LINK_IFB_TXQLEN, 0), 0);
	diag_init(&d);
	ck_assert_int_eq(nl_batch_send(&b, s, NULL, &d), -EEXIST);
	ck_assert_int_eq(b.errs[0], 0);
	ck_assert_int_eq(b.errs[1], -EEXIST);
	ck_assert_int_eq(b.errs[2], 0);
	ck_assert_msg(strstr(diag_text(&d), "bt-a: File exists"), "%s", diag_text(&d));
	ck_assert_int_gt(if_nametoindex("bt-a"), 0);
	ck_assert_int_gt(if_nametoindex("bt-b"), 0);
	/* the last message fails: its error is the batch's answer */
	nl_batch_reset(&b);
	ck_assert_int_eq(nl_link_del(&b, s, 0, "bt-a"), 0);
	ck_assert_int_eq(nl_link_ifb_add(&b, s, "bt-b", NL_LINK_IFB_TXQLEN, 0), 0);
	diag_init(&d);
	ck_assert_int_eq(nl_batch_send(&b, s, NULL, &d), -EEXIST);
	ck_assert_int_eq(b.errs[0], 0);
	ck_assert_int_eq(b.errs[1], -EEXIST);
	ck_assert_uint_eq(if_nametoindex("bt-a"), 0);
	/* a tolerated error in the middle: the batch succeeds */
	nl_batch_reset(&b);
	ck_assert_int_eq(nl_link_del(&b, s, 0, "bt-b"), 0);
	ck_assert_int_eq(nl_link_del(&b, s, 0, "bt-b"), 0);
	ck_assert_int_eq(nl_link_ifb_add(&b, s, "bt-c", NL_LINK_IFB_TXQLEN, 0), 0);
	diag_init(&d);
	ck_assert_int_eq(nl_batch_send(&b, s, gone, &d), 0);
	ck_assert_int_eq(b.errs[0] | b.errs[1] | b.errs[2], 0);
	ck_assert_uint_eq(if_nametoindex("bt-b"), 0);
	ck_assert_int_gt(if_nametoindex("bt-c"), 0);
	nl_batch_done(&b);
	nl_socket_free(s);
}
END_TEST

START_TEST(test_resolve_ifindex)
{
	struct edge e = edge_v4("web", "10.0.5.7/32", EDGE_PROTO_ANY, 0);
	struct diag d;
	int ifindex = 0;

	diag_init(&d);
	ck_assert_int_eq(datapath_resolve_ifindex(dp, &e, &ifindex, &d), 0);
	ck_assert_int_eq(ifindex, veth0);
	snprintf(e.ifname, sizeof(e.ifname), "veth0");
	ifindex = 0;
	ck_assert_int_eq(datapath_resolve_ifindex(dp, &e, &ifindex, &d), 0);
	ck_assert_int_eq(ifindex, veth0);
	snprintf(e.ifname, sizeof(e.ifname), "nope0");
	ck_assert_int_eq(datapath_resolve_ifindex(dp, &e, &ifindex, &d), -ENODEV);
	ck_assert_str_eq(diag_text(&d), "edge web: interface nope0 does not exist");

	e = edge_v4("far", "203.0.113.0/24", EDGE_PROTO_ANY, 0);
	diag_init(&d);
	ck_assert_int_eq(datapath_resolve_ifindex(dp, &e, &ifindex, &d), -ENODEV);
	ck_assert_msg(strstr(diag_text(&d), "edge far: no route to 203.0.113.0/24"), "%s",
			diag_text(&d));
	e = edge_v4("v6", "fd00:5::7/128", EDGE_PROTO_ANY, 0);
	ck_assert_int_eq(datapath_resolve_ifindex(dp, &e, &ifindex, &d), 0);
	ck_assert_int_eq(ifindex, veth0);
}
END_TEST

struct ifb_seen {
	unsigned n;
	int ifindex;
	unsigned flags;
};

static int ifb_cb(const struct nl_link_info *l, void *userdata)
{
	struct ifb_seen *s = userdata;

	s->n++;
	s->ifindex = l->ifindex;
	s->flags = l->flags;
	return 0;
}

START_TEST(test_ifb_lifecycle)
{
	struct nl_socket *s;
	struct nl_batch b;
	struct ifb_seen seen = {};
	char name[IF_NAMESIZE];
	char *out;
	struct diag d;
	int ifindex;

	diag_init(&d);
	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &s), 0);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	SH("ip link add other0 type ifb"); /* an IFB that is not chaosd's */
	ck_assert_int_eq(nl_link_ifb_add(&b, s, "chd-o99", NL_LINK_IFB_TXQLEN, 0), 0);
	ck_assert_int_eq(nl_batch_send(&b, s, NULL, &d), 0);
	/* up and with the longer queue in the one message */
	out = capture("ip -j link show chd-o99 | python3 -c 'import json,sys; "
		      "l=json.load(sys.stdin)[0]; print(\"UP\" in l[\"flags\"], l[\"txqlen\"])'");
	ck_assert_str_eq(out, "True 1000\n");
	free(out);
	ck_assert_int_eq(nl_link_ifindex(s, "chd-o99", &ifindex), 0);
	ck_assert_int_eq(nl_link_name(s, ifindex, name), 0);
	ck_assert_str_eq(name, "chd-o99");
	ck_assert_int_eq(nl_link_ifindex(s, "chd-none", &ifindex), -ENODEV);
	ck_assert_int_eq(nl_link_name(s, 999999, name), -ENODEV);

	ck_assert_int_eq(nl_link_list_ifbs(s, DATAPATH_IFB_PREFIX, ifb_cb, &seen, &d), 0);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_eq(seen.ifindex, ifindex);
	ck_assert(seen.flags & IFF_UP);

	/* again: the name is taken */
	nl_batch_reset(&b);
	ck_assert_int_eq(nl_link_ifb_add(&b, s, "chd-o99", NL_LINK_IFB_TXQLEN, 0), 0);
	ck_assert_int_eq(nl_batch_send(&b, s, NULL, &d), -EEXIST);

	/* remove_all finds it by its name and leaves other0 alone */
	ck_assert_int_eq(datapath_remove_all(dp, &d), 1);
	seen = (struct ifb_seen){};
	ck_assert_int_eq(nl_link_list_ifbs(s, DATAPATH_IFB_PREFIX, ifb_cb, &seen, &d), 0);
	ck_assert_uint_eq(seen.n, 0);
	ck_assert_int_eq(sh("ip link show other0 >/dev/null"), 0);
	nl_batch_done(&b);
	nl_socket_free(s);
}
END_TEST

struct filters_seen {
	int redirect; /* count only nodes redirecting here */
	unsigned n_nodes;
	uint32_t handles[8];
	uint16_t prio, proto;
	char kind[16];
};

static int filter_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct filters_seen *f = userdata;
	struct nl_tc_obj o;

	ck_assert_int_eq(nl_tc_parse(nlh, &o), 0);
	f->prio = nl_tc_obj_prio(&o);
	f->proto = nl_tc_obj_protocol(&o);
	snprintf(f->kind, sizeof(f->kind), "%s", o.kind);
	/* Ingress and egress of one clsact share u32's hash tables, and a dump of either shows
	 * both: the redirect target tells which is which. */
	struct nl_tc_u32_info u;
	if (TC_U32_NODE(o.handle) && nl_tc_u32_parse(&o, &u) == 0 &&
			u.redirect_ifindex == f->redirect && f->n_nodes < 8)
		f->handles[f->n_nodes++] = o.handle;
	return 0;
}

static uint64_t class_packets(const char *dev, const char *classid)
{
	/* tc 6.1 prints classes as text even with -j */
	char *out = capture("tc -s class show dev %s classid %s | "
			    "sed -n 's/^ Sent [0-9]* bytes \\([0-9]*\\) pkt.*/\\1/p'",
			dev, classid);
	uint64_t v = strtoull(out, NULL, 10);
	free(out);
	return v;
}

/* chaosd's hash table for IPv4 /32 prefixes (datapath.c: HT_ID), egress and ingress, and the
 * root node that links to it */
#define HT_V4_32(dir_in) ((dir_in) ? 0x62000000U : 0x42000000U)
#define LINK_V4_32 33

/* One side of the hashed layout: the table, the link from the root hashing the address's last
 * byte, and the edge's node in its bucket. */
static void put_hashed(struct nl_batch *b, struct nl_socket *s, struct nl_tc_u32 f,
		const struct nl_tc_match *m, const char *dev)
{
	struct nl_tc_match all = { .family = AF_INET };
	struct nl_tc_u32 link = { .ifindex = f.ifindex, .parent = f.parent, .prio = f.prio,
		.protocol = f.protocol, .handle = LINK_V4_32, .link = f.ht & 0xfff00000,
		.hash_mask = 0xff, .hash_off = m->src ? 12 : 16 };

	ck_assert_int_eq(nl_tc_u32_table_add(b, s, (struct nl_tc_dev){ f.ifindex, dev }, f.parent,
				 f.prio, f.protocol, f.ht & 0xfff00000, 256), 0);
	ck_assert_int_eq(nl_tc_u32_add(b, s, &link, &all, dev), 0);
	ck_assert_int_eq(nl_tc_u32_add(b, s, &f, m, dev), 0);
}

/* What datapath_set_netem builds, built here from the same pieces with a tbf leaf instead
 * of netem, then found, exercised with traffic and cleaned up by datapath_remove_all. */
static void build_path(struct nl_socket *s, unsigned dir_in, int *ret_ifb)
{
	const char *ifb_name = dir_in ? "chd-i" : "chd-o";
	char name[IF_NAMESIZE];
	struct nl_batch b;
	struct diag d;
	int ifb;

	snprintf(name, sizeof(name), "%s%d", ifb_name, veth0);
	diag_init(&d);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	ck_assert_int_eq(nl_link_ifb_add(&b, s, name, NL_LINK_IFB_TXQLEN, 0), 0);
	ck_assert_msg(nl_batch_send(&b, s, NULL, &d) == 0, "%s", diag_text(&d));
	ck_assert_int_eq(nl_link_ifindex(s, name, &ifb), 0);
	nl_batch_reset(&b);
	ck_assert_int_eq(nl_tc_htb_root_add(&b, s, (struct nl_tc_dev){ ifb, name }, 0x10000, 1000),
			0);
	ck_assert_int_eq(nl_tc_htb_class_add(&b, s, (struct nl_tc_dev){ ifb, name }, 0x10000,
				 0x10002, UINT64_C(125000000000), 256 * 1024, 200000), 0);
	struct nl_tc_match m = { .family = AF_INET, .prefix_len = 32, .src = dir_in,
		.ipproto = IPPROTO_ICMP };
	inet_pton(AF_INET, "10.0.5.7", m.addr);
	struct nl_tc_u32 f = { .ifindex = ifb, .parent = 0x10000, .prio = NL_TC_PRIO_V4,
		.protocol = ETH_P_IP, .handle = 1, .ht = HT_V4_32(dir_in) | 7 << 12,
		.classid = 0x10002 };
	put_hashed(&b, s, f, &m, name);
	f = (struct nl_tc_u32){ .ifindex = veth0,
		.parent = dir_in ? NL_TC_INGRESS_PARENT : NL_TC_EGRESS_PARENT,
		.prio = NL_TC_PRIO_V4, .protocol = ETH_P_IP, .handle = 1,
		.ht = HT_V4_32(dir_in) | 7 << 12, .redirect_ifindex = ifb };
	put_hashed(&b, s, f, &m, "veth0");
	ck_assert_msg(nl_batch_send(&b, s, NULL, &d) == 0, "%s", diag_text(&d));
	nl_batch_done(&b);
	/* tbf in netem's place (this kernel may not have netem) */
	SH("tc qdisc add dev %s parent 1:2 handle 2: tbf rate 100mbit burst 64k latency 1s", name);
	*ret_ifb = ifb;
}

START_TEST(test_redirect_path_and_remove_all)
{
	struct nl_socket *s;
	struct nl_batch b;
	struct filters_seen fs = {};
	char buf[NL_TC_REQ_SIZE], name[IF_NAMESIZE];
	char *before, *after;
	struct diag d;
	unsigned n;
	int ifb_out, ifb_in;

	diag_init(&d);
	before = snapshot();
	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &s), 0);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	/* chaosd's clsact: journalled before it exists, as datapath_set_netem does */
	ck_assert_int_eq(journal_clsact_add(journal, veth0, "veth0"), 0);
	ck_assert_int_eq(nl_tc_clsact_add(&b, s, (struct nl_tc_dev){ veth0, "veth0" }), 0);
	ck_assert_msg(nl_batch_send(&b, s, NULL, &d) == 0, "%s", diag_text(&d));
	build_path(s, 0, &ifb_out);
	build_path(s, 1, &ifb_in);

	/* found by priority: the node chaosd chose, in chaosd's table for /32s, bucket 7 */
	fs.redirect = ifb_out;
	ck_assert_int_eq(nl_socket_dump(s, nl_tc_filter_dump_req(buf, veth0, NL_TC_EGRESS_PARENT,
						   NL_TC_PRIO_V4, ETH_P_IP),
				 filter_cb, &fs, &d), 0);
	ck_assert_str_eq(fs.kind, "u32");
	ck_assert_uint_eq(fs.prio, NL_TC_PRIO_V4);
	ck_assert_uint_eq(fs.proto, ETH_P_IP);
	ck_assert_uint_eq(fs.n_nodes, 1);
	ck_assert_uint_eq(fs.handles[0], HT_V4_32(0) | 7 << 12 | 1);
	uint32_t egress_handle = fs.handles[0];
	fs = (struct filters_seen){ .redirect = ifb_in };
	ck_assert_int_eq(nl_socket_dump(s, nl_tc_filter_dump_req(buf, veth0, NL_TC_INGRESS_PARENT,
						   NL_TC_PRIO_V4, ETH_P_IP),
				 filter_cb, &fs, &d), 0);
	ck_assert_uint_eq(fs.n_nodes, 1);
	ck_assert_uint_eq(fs.handles[0], HT_V4_32(1) | 7 << 12 | 1);
	ck_assert_uint_ne(TC_U32_HTID(fs.handles[0]), TC_U32_HTID(egress_handle));
	fs = (struct filters_seen){ .redirect = ifb_out };
	ck_assert_int_eq(nl_socket_dump(s, nl_tc_filter_dump_req(buf, veth0, NL_TC_EGRESS_PARENT,
						   NL_TC_PRIO_V6, 0),
				 filter_cb, &fs, &d), 0);
	ck_assert_uint_eq(fs.n_nodes, 0);

	/* traffic to the edge goes through both IFBs' class, traffic to .8 through neither */
	SH("ping -q -c 5 -i 0.2 -W 2 10.0.5.7 >/dev/null");
	snprintf(name, sizeof(name), "chd-o%d", veth0);
	ck_assert_uint_ge(class_packets(name, "1:2"), 5);
	snprintf(name, sizeof(name), "chd-i%d", veth0);
	ck_assert_uint_ge(class_packets(name, "1:2"), 5);
	uint64_t out_before = class_packets(name, "1:2");
	SH("ping -q -c 3 -i 0.2 -W 2 10.0.5.8 >/dev/null");
	ck_assert_uint_eq(class_packets(name, "1:2"), out_before);

	ck_assert_int_eq(datapath_count_owned(dp, &n), 0);
	/* 2 IFBs, 2 u32 instances (egress, ingress), chaosd's clsact */
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(datapath_remove_all(dp, &d), 5);
	ck_assert_msg(d.len == 0, "%s", d.text);
	after = snapshot();
	assert_same(before, after);
	ck_assert_uint_eq(journal_clsact_count(journal), 0);
	ck_assert_int_eq(datapath_count_owned(dp, &n), 0);
	ck_assert_uint_eq(n, 0);
	/* and again: nothing left, nothing to fail */
	ck_assert_int_eq(datapath_remove_all(dp, &d), 0);
	free(before);
	free(after);
	nl_batch_done(&b);
	nl_socket_free(s);
}
END_TEST

START_TEST(test_remove_all_spares_foreign)
{
	struct nl_socket *s;
	struct diag d;
	char *before, *after;
	unsigned n;
	int ifb;

	foreign_clsact();
	before = snapshot();
	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &s), 0);
	build_path(s, 0, &ifb);
	/* even if the journal claimed this clsact, a foreign filter keeps it */
	ck_assert_int_eq(journal_clsact_add(journal, veth0, "veth0"), 0);
	ck_assert_int_eq(datapath_count_owned(dp, &n), 0);
	ck_assert_uint_eq(n, 2);
	diag_init(&d);
	ck_assert_int_eq(datapath_remove_all(dp, &d), 2);
	after = snapshot();
	assert_same(before, after);
	free(after);
	/* u32 tables outlive their instance while the foreign u32 keeps the clsact's u32 state:
	 * remove_all deleted them explicitly, so the same tables can be made again */
	build_path(s, 0, &ifb);
	build_path(s, 1, &ifb);
	datapath_untracked(dp); /* made behind the registry's back */
	ck_assert_int_eq(datapath_remove_all(dp, &d), 4);
	after = snapshot();
	assert_same(before, after);
	free(after);
	/* what a kill switch cut off after the tables leaves: an empty instance, no tables */
	SH("tc filter add dev veth0 egress prio %u protocol ip handle ::1 u32 match u32 0 0 "
	   "flowid 1:1 && tc filter del dev veth0 egress prio %u protocol ip handle $(tc filter "
	   "show dev veth0 egress prio %u | grep -o 'fh [0-9a-f]*::1' | cut -c4-) u32",
			NL_TC_PRIO_V4, NL_TC_PRIO_V4, NL_TC_PRIO_V4);
	ck_assert_int_eq(datapath_count_owned(dp, &n), 0);
	ck_assert_uint_eq(n, 1);
	datapath_untracked(dp);
	ck_assert_int_eq(datapath_remove_all(dp, &d), 1);
	after = snapshot();
	assert_same(before, after);
	free(before);
	free(after);
	nl_socket_free(s);
}
END_TEST

START_TEST(test_stale_leftovers_replaced)
{
	struct edge e = edge_v4("web", "10.0.5.7/32", EDGE_PROTO_ANY, 0);
	struct netem_config cfg = delay_cfg(10);
	struct nl_socket *s;
	struct diag d;
	char *out;
	int ifb;

	/* a dead chaosd's IFB and redirect, with a pre-existing clsact: the add must clear them
	 * before it starts (here it then fails on netem and rolls its own part back) */
	SH("tc qdisc add dev veth0 clsact");
	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &s), 0);
	build_path(s, 0, &ifb);
	diag_init(&d);
	ck_assert_int_eq(datapath_set_netem(dp, &e, veth0, FAULT_DIR_OUT, &cfg, &d), -EOPNOTSUPP);
	out = capture("tc filter show dev veth0 egress; ip -o link show type ifb");
	ck_assert_msg(out[0] == '\0', "left: %s", out);
	free(out);
	nl_socket_free(s);
}
END_TEST

/* ------------------------------------------------------------------ with netem */

static char *netem_json(const char *dev)
{
	/* {handle, parent, options} of each netem, compact JSON */
	return capture("tc -j qdisc show dev %s | python3 -c 'import json,sys; "
		       "[print(json.dumps({k: q.get(k) for k in "
		       "(\"handle\", \"parent\", \"options\")}, "
		       "separators=(\",\", \":\"))) for q in json.load(sys.stdin) "
		       "if q[\"kind\"] == \"netem\"]'",
			dev);
}

static double ping_ms(const char *addr)
{
	/* the average of "rtt min/avg/max/mdev = a/b/c/d ms" */
	char *out = capture("ping -q -c 3 -i 0.2 -W 3 %s | "
			    "sed -n 's|.* = [0-9.]*/\\([0-9.]*\\)/.*|\\1|p'",
			addr);
	double v = strtod(out, NULL);
	free(out);
	return v;
}

START_TEST(test_netem_stage)
{
	struct edge e = edge_v4("web", "10.0.5.7/32", EDGE_PROTO_ANY, 0);
	struct edge e6 = edge_v4("web6", "fd00:5::7/128", EDGE_PROTO_ANY, 0);
	struct netem_config cfg = delay_cfg(100);
	struct datapath_stats st, st2;
	char out_dev[IF_NAMESIZE], in_dev[IF_NAMESIZE];
	char *before, *after, *j, *j2;
	struct diag d;
	unsigned n;
	double ms;

	snprintf(out_dev, sizeof(out_dev), "chd-o%d", veth0);
	snprintf(in_dev, sizeof(in_dev), "chd-i%d", veth0);
	before = snapshot();
	diag_init(&d);

	/* egress 100 ms on 10.0.5.7 only */
	ck_assert_msg(datapath_set_netem(dp, &e, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	ck_assert_uint_eq(journal_clsact_count(journal), 1);
	j = netem_json(out_dev);
	ck_assert_msg(strstr(j, "\"handle\":\"2:\"") && strstr(j, "\"parent\":\"1:2\"") &&
				strstr(j, "\"limit\":1000") && strstr(j, "\"delay\":0.1"),
			"%s", j);
	free(j);
	ms = ping_ms("10.0.5.7");
	ck_assert_msg(ms >= 99 && ms < 150, "rtt to the edge %.1f ms", ms);
	ms = ping_ms("10.0.5.8");
	ck_assert_msg(ms < 50, "rtt beside the edge %.1f ms", ms);
	ck_assert_int_eq(datapath_get_stats(dp, &e, veth0, FAULT_DIR_OUT, &st), 0);
	ck_assert_uint_ge(st.packets, 3);

	/* in place: same handle, counters continue (no new qdisc), new options read back */
	cfg = (struct netem_config){ .limit = 5000, .latency_ns = 200000000, .jitter_ns = 1000000,
		.loss = 0, .corrupt = 42949673, .dist = FAULT_DIST_NORMAL };
	ck_assert_msg(datapath_set_netem(dp, &e, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	j = netem_json(out_dev);
	ck_assert_msg(strstr(j, "\"handle\":\"2:\"") && strstr(j, "\"limit\":5000") &&
				strstr(j, "\"delay\":0.2") && strstr(j, "\"corrupt\""),
			"%s", j);
	free(j);
	ck_assert_int_eq(datapath_get_stats(dp, &e, veth0, FAULT_DIR_OUT, &st2), 0);
	ck_assert_uint_ge(st2.packets, st.packets);
	/* back to no corruption, uniform: nothing of the previous settings remains */
	cfg = delay_cfg(100);
	cfg.jitter_ns = 1000000;
	ck_assert_msg(datapath_set_netem(dp, &e, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	j = netem_json(out_dev);
	ck_assert_msg(!strstr(j, "\"corrupt\"") && strstr(j, "\"limit\":1000"), "%s", j);
	free(j);

	/* plus ingress: both ways */
	cfg = delay_cfg(100);
	ck_assert_msg(datapath_set_netem(dp, &e, veth0, FAULT_DIR_IN, &cfg, &d) == 0, "%s",
			d.text);
	ms = ping_ms("10.0.5.7");
	ck_assert_msg(ms >= 195 && ms < 300, "rtt both ways %.1f ms", ms);
	/* an IPv6 edge on the same IFB */
	ck_assert_msg(datapath_set_netem(dp, &e6, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	ms = ping_ms("fd00:5::7");
	ck_assert_msg(ms >= 99, "rtt v6 %.1f ms", ms);
	ck_assert_int_eq(datapath_count_owned(dp, &n), 0);
	/* 2 IFBs, u32 at both prios on egress, v4 on ingress, the clsact */
	ck_assert_uint_eq(n, 6);

	/* removing the egress v4 edge keeps the v6 one and the IFB */
	ck_assert_msg(datapath_set_netem(dp, &e, veth0, FAULT_DIR_OUT, NULL, &d) == 0, "%s",
			d.text);
	j = netem_json(out_dev);
	j2 = capture("tc -j filter show dev veth0 egress | python3 -c 'import json,sys; "
		     "print(json.dumps([f[\"options\"][\"fh\"] for f in json.load(sys.stdin) "
		     "if \"fh\" in f.get(\"options\", {})]))'");
	ck_assert_msg(strstr(j, "\"parent\":\"1:3\"") && !strstr(j, "\"parent\":\"1:2\""), "%s",
			j);
	/* the v4 node (table 420: of IPv4 /32s, bucket 7) is gone, v6's (580:, /128s) is not */
	ck_assert_msg(strstr(j2, "\"580:7:1\"") && !strstr(j2, "\"420:7:1\""), "%s", j2);
	free(j);
	free(j2);
	ms = ping_ms("10.0.5.7");
	ck_assert_msg(ms >= 99 && ms < 150, "rtt ingress only %.1f ms", ms);

	/* remove the rest one by one: everything of chaosd is gone, and so is its clsact */
	ck_assert_int_eq(datapath_set_netem(dp, &e6, veth0, FAULT_DIR_OUT, NULL, &d), 0);
	ck_assert_int_eq(datapath_set_netem(dp, &e, veth0, FAULT_DIR_IN, NULL, &d), 0);
	after = snapshot();
	assert_same(before, after);
	free(after);
	ck_assert_uint_eq(journal_clsact_count(journal), 0);

	/* and with the kill switch */
	ck_assert_int_eq(datapath_set_netem(dp, &e, veth0, FAULT_DIR_OUT, &cfg, &d), 0);
	ck_assert_int_eq(datapath_set_netem(dp, &e, veth0, FAULT_DIR_IN, &cfg, &d), 0);
	ck_assert_int_gt(datapath_remove_all(dp, &d), 0);
	after = snapshot();
	assert_same(before, after);
	free(after);
	ms = ping_ms("10.0.5.7");
	ck_assert_msg(ms < 50, "rtt after the kill switch %.1f ms", ms);
	free(before);
}
END_TEST

START_TEST(test_netem_existing_clsact_and_rollback)
{
	struct edge e1 = edge_v4("one", "10.0.5.7/32", EDGE_PROTO_ANY, 0);
	struct edge e2 = edge_v4("two", "10.0.5.8/32", EDGE_PROTO_ANY, 0);
	struct netem_config cfg = delay_cfg(100);
	char *before, *mid, *after, *out;
	struct diag d;
	double ms;

	/* someone else's clsact and filter: both survive everything below */
	foreign_clsact();
	before = snapshot();
	diag_init(&d);
	ck_assert_msg(datapath_set_netem(dp, &e1, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	ck_assert_uint_eq(journal_clsact_count(journal), 0); /* not chaosd's */
	mid = snapshot();

	/* a node in chaosd's table that chaosd did not put there, where the second edge's node
	 * goes (table 420: of /32s, bucket 8, node 2), makes its redirect fail after its class,
	 * netem and IFB filter were made: all of those go */
	SH("tc filter add dev veth0 egress prio %u protocol ip handle 420:8:2 u32 ht 420:8: "
	   "match ip dst 192.0.2.9/32 flowid 1:1",
			NL_TC_PRIO_V4);
	out = snapshot();
	diag_init(&d);
	ck_assert_int_lt(datapath_set_netem(dp, &e2, veth0, FAULT_DIR_OUT, &cfg, &d), 0);
	ck_assert_msg(strstr(d.text, "edge two: setting up its egress fault on veth0 failed"), "%s",
			d.text);
	after = snapshot();
	assert_same(out, after);
	free(out);
	free(after);
	ms = ping_ms("10.0.5.7");
	ck_assert_msg(ms >= 99, "the first edge still has its delay: %.1f ms", ms);
	ms = ping_ms("10.0.5.8");
	ck_assert_msg(ms < 50, "the second edge has none: %.1f ms", ms);

	/* without the intruder it works, and removing both leaves the clsact as it was */
	SH("tc filter del dev veth0 egress prio %u protocol ip handle 420:8:2 u32", NL_TC_PRIO_V4);
	ck_assert_msg(datapath_set_netem(dp, &e2, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	ms = ping_ms("10.0.5.8");
	ck_assert_msg(ms >= 99, "the second edge now: %.1f ms", ms);
	ck_assert_int_eq(datapath_set_netem(dp, &e2, veth0, FAULT_DIR_OUT, NULL, &d), 0);
	after = snapshot();
	assert_same(mid, after);
	free(after);
	ck_assert_int_eq(datapath_set_netem(dp, &e1, veth0, FAULT_DIR_OUT, NULL, &d), 0);
	after = snapshot();
	assert_same(before, after);
	free(after);
	free(mid);
	free(before);
}
END_TEST

struct links_seen {
	unsigned links[2]; /* root nodes linking to a table, per family */
	unsigned nodes;    /* nodes in chaosd's tables */
};

static int links_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct links_seen *l = userdata;
	struct nl_tc_u32_info u;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || nl_tc_u32_parse(&o, &u) < 0 || TC_U32_KEY(o.handle) == 0)
		return 0;
	/* egress only: its tables are 4xx: (v4) and 5xx: (v6) */
	if (TC_U32_HTID(o.handle) >= 0x80000000U && (u.link >> 28) == 4)
		l->links[0]++;
	else if (TC_U32_HTID(o.handle) >= 0x80000000U && (u.link >> 28) == 5)
		l->links[1]++;
	else if ((o.handle >> 28) == 4 || (o.handle >> 28) == 5)
		l->nodes++;
	return 0;
}

/* chaosd's egress IFBs of veth0 as ip shows them, and the most htb classes tc shows on one. */
static unsigned egress_ifbs(unsigned *ret_max_classes)
{
	char *out = capture("for d in $(ip -o link show | grep -o 'chd-o%d[s0-9]*'); do "
			    "tc class show dev $d | wc -l; done",
			veth0);
	unsigned n = 0, max = 0;

	for (char *p = out; *p; n++) {
		char *end;
		unsigned long c = strtoul(p, &end, 10);
		ck_assert_ptr_ne(end, p);
		max = c > max ? (unsigned)c : max;
		p = end + strspn(end, "\n");
	}
	free(out);
	*ret_max_classes = max;
	return n;
}

/* Hundreds of edges of several prefix lengths on one interface, next to someone else's
 * clsact and u32 filter: the packet still meets exactly its edge's node (delay on the two real
 * peers' edges, none beside them), the root holds one link per prefix length, and removing
 * everything leaves nothing, hidden tables included (the same edge can be added again). */
START_TEST(test_netem_hashed_many_edges)
{
	struct netem_config cfg = delay_cfg(100), small = delay_cfg(1);
	struct edge e7 = edge_v4("e7", "10.0.5.7/32", EDGE_PROTO_ANY, 0);
	struct edge e7v6 = edge_v4("e7v6", "fd00:5::7/128", EDGE_PROTO_ANY, 0);
	/* .8 has an edge too, but for TCP port 9 only: ping to it is not delayed */
	struct edge p8 = edge_v4("p8", "10.0.5.8/32", EDGE_PROTO_TCP, 9);
	struct edge *many;
	unsigned n_many = 0;
	struct links_seen ls = {};
	char buf[NL_TC_REQ_SIZE], name[32], pfx[64];
	char *before, *after;
	struct nl_socket *s;
	struct diag d;
	unsigned classes;
	double ms;

	foreign_clsact();
	before = snapshot();
	many = calloc(600, sizeof(*many));
	ck_assert_ptr_nonnull(many);
	for (unsigned i = 0; i < 450; i++) { /* /32s */
		snprintf(name, sizeof(name), "h%u", i);
		snprintf(pfx, sizeof(pfx), "10.9.%u.%u/32", i / 100, i % 100);
		many[n_many++] = edge_v4(name, pfx, EDGE_PROTO_ANY, 0);
	}
	for (unsigned i = 0; i < 50; i++) { /* /24s */
		snprintf(name, sizeof(name), "n%u", i);
		snprintf(pfx, sizeof(pfx), "10.10.%u.0/24", i);
		many[n_many++] = edge_v4(name, pfx, EDGE_PROTO_ANY, 0);
	}
	for (unsigned i = 1; i < 16; i++) { /* /28s beside .7 and .8 */
		snprintf(name, sizeof(name), "s%u", i);
		snprintf(pfx, sizeof(pfx), "10.0.5.%u/28", 16 * i);
		many[n_many++] = edge_v4(name, pfx, EDGE_PROTO_UDP, 53);
	}
	for (unsigned i = 0; i < 40; i++) { /* /128s and /64s */
		snprintf(name, sizeof(name), "v%u", i);
		snprintf(pfx, sizeof(pfx), i % 2 ? "fd00:9::%x/128" : "fd00:a:0:%x::/64", i + 1);
		many[n_many++] = edge_v4(name, pfx, EDGE_PROTO_ANY, 0);
	}
	diag_init(&d);
	for (unsigned i = 0; i < n_many; i++)
		ck_assert_msg(datapath_set_netem(dp, &many[i], veth0, FAULT_DIR_OUT, &small,
					      &d) == 0,
				"%s: %s", many[i].name, d.text);
	ck_assert_msg(datapath_set_netem(dp, &e7, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	ck_assert_msg(datapath_set_netem(dp, &e7v6, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	ck_assert_msg(datapath_set_netem(dp, &p8, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	ck_assert_msg(datapath_set_netem(dp, &e7, veth0, FAULT_DIR_IN, &cfg, &d) == 0, "%s",
			d.text);

	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &s), 0);
	for (unsigned fam = 0; fam < 2; fam++)
		ck_assert_int_eq(nl_socket_dump(s, nl_tc_filter_dump_req(buf, veth0,
							   NL_TC_EGRESS_PARENT,
							   fam ? NL_TC_PRIO_V6 : NL_TC_PRIO_V4,
							   fam ? ETH_P_IPV6 : ETH_P_IP),
					 links_cb, &ls, &d), 0);
	/* v4: /32, /24, /28; v6: /128, /64; one node per edge (p8 and the /28s: one protocol) */
	ck_assert_uint_eq(ls.links[0], 3);
	ck_assert_uint_eq(ls.links[1], 2);
	ck_assert_uint_eq(ls.nodes, n_many + 3);
	/* 558 egress classes: two IFBs of at most 512 (the kernel walks an IFB's classes on
	 * every class change); e7, e7v6 and p8 are in the second */
	ck_assert_uint_eq(egress_ifbs(&classes), 2);
	ck_assert_uint_eq(classes, 512);

	ms = ping_ms("10.0.5.7");
	ck_assert_msg(ms >= 195 && ms < 300, "rtt to e7 both ways %.1f ms", ms);
	ms = ping_ms("10.0.5.8");
	ck_assert_msg(ms < 50, "rtt to .8 (a tcp/9 edge) %.1f ms", ms);
	ms = ping_ms("fd00:5::7");
	ck_assert_msg(ms >= 99 && ms < 150, "rtt to e7v6 %.1f ms", ms);

	/* most go; the edges that are left keep working */
	for (unsigned i = 0; i < n_many; i += 2)
		ck_assert_msg(datapath_set_netem(dp, &many[i], veth0, FAULT_DIR_OUT, NULL, &d) == 0,
				"%s: %s", many[i].name, d.text);
	ck_assert_int_eq(datapath_set_netem(dp, &e7, veth0, FAULT_DIR_IN, NULL, &d), 0);
	ms = ping_ms("10.0.5.7");
	ck_assert_msg(ms >= 99 && ms < 150, "rtt to e7 egress only %.1f ms", ms);
	for (unsigned i = 1; i < n_many; i += 2)
		ck_assert_msg(datapath_set_netem(dp, &many[i], veth0, FAULT_DIR_OUT, NULL, &d) == 0,
				"%s: %s", many[i].name, d.text);
	/* the first IFB emptied and went; the second still carries e7 */
	ck_assert_uint_eq(egress_ifbs(&classes), 1);
	ck_assert_uint_eq(classes, 3);
	ms = ping_ms("10.0.5.7");
	ck_assert_msg(ms >= 99 && ms < 150, "rtt to e7 with one IFB left %.1f ms", ms);
	ck_assert_int_eq(datapath_set_netem(dp, &p8, veth0, FAULT_DIR_OUT, NULL, &d), 0);
	ck_assert_int_eq(datapath_set_netem(dp, &e7v6, veth0, FAULT_DIR_OUT, NULL, &d), 0);
	ms = ping_ms("fd00:5::7");
	ck_assert_msg(ms < 50, "rtt to e7v6 after its removal %.1f ms", ms);
	ck_assert_int_eq(datapath_set_netem(dp, &e7, veth0, FAULT_DIR_OUT, NULL, &d), 0);
	after = snapshot();
	assert_same(before, after);
	free(after);
	/* again, and then the kill switch: still nothing left */
	for (int round = 0; round < 2; round++) {
		for (enum fault_direction dir = FAULT_DIR_OUT; dir <= FAULT_DIR_IN; dir++)
			ck_assert_msg(datapath_set_netem(dp, &e7, veth0, dir, &cfg, &d) == 0, "%s",
					d.text);
		ms = ping_ms("10.0.5.7");
		ck_assert_msg(ms >= 195, "rtt to e7 re-added %.1f ms", ms);
		if (round == 0) {
			for (enum fault_direction dir = FAULT_DIR_OUT; dir <= FAULT_DIR_IN; dir++) {
				int r = datapath_set_netem(dp, &e7, veth0, dir, NULL, &d);
				ck_assert_int_eq(r, 0);
			}
		} else {
			ck_assert_int_gt(datapath_remove_all(dp, &d), 0);
		}
		after = snapshot();
		assert_same(before, after);
		free(after);
	}
	free(before);
	free(many);
	nl_socket_free(s);
}
END_TEST

/* An edge on a share of flows: an inner class with a cls_bpf filter, the netem in one leaf
 * class and the other flows' leaf beside it; another share swaps the program in place, all flows
 * and back rebuild the edge; a failed add of a share next to a working edge leaves nothing. */
/* The kernel state is want's. */
static void assert_state(const char *want)
{
	char *now = snapshot();

	assert_same(want, now);
	free(now);
}

START_TEST(test_netem_flows)
{
	struct edge e1 = edge_v4("one", "10.0.5.7/32", EDGE_PROTO_ANY, 0);
	struct edge e2 = edge_v4("two", "10.0.5.8/32", EDGE_PROTO_ANY, 0);
	struct netem_config cfg = delay_cfg(100);
	char out_dev[IF_NAMESIZE], *before, *mid, *out, *j;
	struct datapath_stats st;
	struct diag d;
	double ms;

	snprintf(out_dev, sizeof(out_dev), "chd-o%d", veth0);
	before = snapshot();
	diag_init(&d);
	ck_assert_msg(datapath_set_netem(dp, &e1, veth0, FAULT_DIR_OUT, &cfg, &d) == 0, "%s",
			d.text);
	mid = snapshot();

	/* e2 on 50 %: its class 1:3 is inner, the netem 4: in 1:4, the others' leaf 1:5 */
	ck_assert_msg(datapath_set_netem_flows(dp, &e2, veth0, FAULT_DIR_OUT, &cfg, 5000, &d) == 0,
			"%s", d.text);
	j = capture("tc class show dev %s", out_dev);
	ck_assert_msg(strstr(j, "class htb 1:3 root") && strstr(j, "class htb 1:4 parent 1:3") &&
				strstr(j, "class htb 1:5 parent 1:3"),
			"%s", j);
	free(j);
	j = capture("tc filter show dev %s parent 1:3", out_dev);
	ck_assert_msg(strstr(j, "bpf") && strstr(j, "handle 0x1 flowid 1:4") &&
				strstr(j, ",53 1 0 5000,") && strstr(j, ",6 0 0 65541'"),
			"%s", j);
	free(j);
	j = capture("tc qdisc show dev %s", out_dev);
	ck_assert_msg(strstr(j, "qdisc netem 4: parent 1:4 "), "%s", j);
	free(j);
	/* ping is one flow (its identifier): delayed all the time or never, and counted where
	 * it went */
	ms = ping_ms("10.0.5.8");
	ck_assert_int_eq(datapath_get_stats(dp, &e2, veth0, FAULT_DIR_OUT, &st), 0);
	ck_assert_msg((ms >= 99 && st.packets >= 3) || (ms < 50 && st.packets == 0),
			"ping %.1f ms, %llu packets through the netem", ms,
			(unsigned long long)st.packets);

	/* another share and delay in place: the filter's program, the netem's options */
	cfg = delay_cfg(200);
	ck_assert_msg(datapath_set_netem_flows(dp, &e2, veth0, FAULT_DIR_OUT, &cfg, 2000, &d) == 0,
			"%s", d.text);
	j = capture("tc filter show dev %s parent 1:3", out_dev);
	ck_assert_msg(strstr(j, "handle 0x1 flowid 1:4") && strstr(j, ",53 1 0 2000,"), "%s", j);
	free(j);
	j = capture("tc qdisc show dev %s", out_dev);
	ck_assert_msg(strstr(j, "qdisc netem 4: parent 1:4 ") && strstr(j, "delay 200ms"), "%s", j);
	free(j);

	/* all flows: a plain edge again, with no filter; then a share again */
	ck_assert_msg(datapath_set_netem_flows(dp, &e2, veth0, FAULT_DIR_OUT, &cfg, FLOWSEL_ALL,
				      &d) == 0,
			"%s", d.text);
	j = capture("tc class show dev %s; tc filter show dev %s parent 1:3", out_dev, out_dev);
	ck_assert_msg(strstr(j, "class htb 1:3 root leaf 3:") && !strstr(j, "parent 1:3") &&
				!strstr(j, "bpf"),
			"%s", j);
	free(j);
	ck_assert_msg(datapath_set_netem_flows(dp, &e2, veth0, FAULT_DIR_OUT, &cfg, 100, &d) == 0,
			"%s", d.text);
	j = capture("tc filter show dev %s parent 1:3", out_dev);
	ck_assert_msg(strstr(j, "flowid 1:4") && strstr(j, ",53 1 0 100,"), "%s", j);
	free(j);
	ck_assert_int_eq(datapath_set_netem(dp, &e2, veth0, FAULT_DIR_OUT, NULL, &d), 0);
	assert_state(mid);

	/* a node in chaosd's table where e2's goes makes its redirect fail after its classes,
	 * filter and netem were made (see test_netem_existing_clsact_and_rollback): all go */
	SH("tc filter add dev veth0 egress prio %u protocol ip handle 420:8:2 u32 ht 420:8: "
	   "match ip dst 192.0.2.9/32 flowid 1:1",
			NL_TC_PRIO_V4);
	out = snapshot();
	ck_assert_int_lt(datapath_set_netem_flows(dp, &e2, veth0, FAULT_DIR_OUT, &cfg, 5000, &d), 0);
	assert_state(out);
	free(out);
	SH("tc filter del dev veth0 egress prio %u protocol ip handle 420:8:2 u32", NL_TC_PRIO_V4);
	ck_assert_int_eq(datapath_set_netem(dp, &e1, veth0, FAULT_DIR_OUT, NULL, &d), 0);
	assert_state(before);
	free(mid);
	free(before);
}
END_TEST

/* A set of cases with the namespace fixture and a timeout; tests is NULL-terminated. */
static void add_tcase(Suite *s, const char *name, int timeout, const TTest *const *tests)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout);
	for (; *tests; tests++)
		tcase_add_test(tc, *tests);
	suite_add_tcase(s, tc);
}

int main(int argc, char **argv)
{
	Suite *s;
	bool netem_leg = argc == 2 && strcmp(argv[1], "--netem") == 0;
	int has, r;

	if (argc > 2 || (argc == 2 && !netem_leg)) {
		fprintf(stderr, "usage: %s [--netem]\n", argv[0]);
		return EXIT_FAILURE;
	}
	if (geteuid() != 0)
		return test_skip("test-datapath-host", "needs root (network namespaces, tc)");
	if (system("command -v tc >/dev/null && command -v ip >/dev/null && "
		   "command -v nsenter >/dev/null && command -v python3 >/dev/null && "
		   "command -v ping >/dev/null") != 0) {
		return test_skip("test-datapath-host", "needs tc, ip, nsenter, python3 and ping");
	}
	has = kernel_has_netem();
	if (has < 0) {
		fprintf(stderr, "test-datapath-host: FAIL: could not probe for sch_netem\n");
		return EXIT_FAILURE;
	}
	if (netem_leg && !has) {
		fprintf(stderr, "test-datapath-host --netem: FAIL: this kernel has no sch_netem "
				"(modprobe sch_netem)\n");
		return EXIT_FAILURE;
	}
	s = suite_create("datapath-host");
	add_tcase(s, "kernel", 60,
			(const TTest *[]){ test_legacy_ingress_refused, test_both_directions_refused,
					test_extack_surfaces, test_batch_errors_without_acks,
					test_resolve_ifindex, test_ifb_lifecycle,
					test_redirect_path_and_remove_all,
					test_remove_all_spares_foreign, NULL });
	if (netem_leg) {
		add_tcase(s, "netem", 60,
				(const TTest *[]){ test_netem_stage,
						test_netem_existing_clsact_and_rollback,
						test_netem_hashed_many_edges, NULL });
		/* several rebuilds and snapshots: more than a minute on a busy emulated machine */
		add_tcase(s, "flows", 240, (const TTest *[]){ test_netem_flows, NULL });
	} else if (!has) {
		add_tcase(s, "no-netem", 60,
				(const TTest *[]){ test_no_netem_rolls_back,
						test_no_netem_keeps_existing_clsact,
						test_stale_leftovers_replaced, NULL });
	}
	r = test_run_suite_forked(s);
	if (r == EXIT_SUCCESS && !netem_leg && has)
		return test_skip("test-datapath-host", "this kernel has sch_netem: the three "
				"missing-netem cases (no-netem) did not run");
	return r;
}
