/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nl_nft_mark against the real kernel, each test in its own network namespace: packets sent by
 * a process in a cgroup (or by a user) leave with chaosd's mark bits set in skb->mark and in
 * their connection's ct mark, the host's other mark bits kept; other processes' packets stay
 * unmarked. What the packets carry is read by an observer chain at postrouting (nft CLI). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edge-scope.h"
#include "nl_ct.h"
#include "nl_nft_mark.h"
#include "nl_tc.h"
#include "svcscope.h"
#include "test-netns.h"
#include "test-util.h"
#include "timeutil.h"

#define HOST_MARK 0x7u

static const char *cg_root;
static char cg_outer[128], cg_inner[160]; /* relative to cg_root */

static void setup(void)
{
	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	SH("ip link set lo up && ip link add v0 type veth peer name v1 && ip link set v0 up && "
	   "ip link set v1 up && ip addr add 10.9.0.1/24 dev v0");
	/* The observer: what marks the packets leave with (counters in this order). */
	SH("nft -f - <<'EOF'\n"
	   "table inet obs {\n"
	   " chain p {\n"
	   "  type filter hook postrouting priority 0;\n"
	   "  ip daddr 10.9.0.2 meta mark and 0x00ff0000 == 0x00010000 counter\n"
	   "  ip daddr 10.9.0.2 meta mark and 0x00ff0000 == 0x00020000 counter\n"
	   "  ip daddr 10.9.0.2 meta mark and 0x00ff0000 == 0 counter\n"
	   "  ip daddr 10.9.0.2 ct mark and 0x00ff0000 == 0x00010000 counter\n"
	   "  ip daddr 10.9.0.2 ct mark and 0x00ff0000 == 0x00020000 counter\n"
	   "  ip daddr 10.9.0.2 meta mark 0x00010007 counter\n"
	   " }\n"
	   "}\n"
	   "EOF");
	snprintf(cg_outer, sizeof(cg_outer), "chaosd-test-%d", (int)getpid());
	snprintf(cg_inner, sizeof(cg_inner), "%s/inner", cg_outer);
	SH("mkdir -p %s/%s", cg_root, cg_inner);
}

static void teardown(void)
{
	sh("rmdir %s/%s %s/%s 2>/dev/null", cg_root, cg_inner, cg_root, cg_outer);
}

#define N_OBS 6

/* counters of the observer, in rule order */
static void observed(unsigned long out[N_OBS])
{
	FILE *f = popen("nft list chain inet obs p", "r");
	char line[512];
	unsigned n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) && n < N_OBS) {
		char *c = strstr(line, "counter packets ");

		if (c)
			out[n++] = strtoul(c + 16, NULL, 10);
	}
	pclose(f);
	ck_assert_uint_eq(n, N_OBS);
}

/* k datagrams to 10.9.0.2, from a child in cgroup (NULL: where the test is) as uid (0: root,
 * with the host's own mark bits set on the socket; others cannot set SO_MARK). */
static void send_from(const char *cgroup, uid_t uid, unsigned k)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };
		unsigned mark = HOST_MARK;
		char path[512];
		int fd;

		if (cgroup) {
			snprintf(path, sizeof(path), "%s/%s/cgroup.procs", cg_root, cgroup);
			fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0", 1) != 1)
				_exit(10);
			close(fd);
		}
		/* the socket's owner is who made it */
		if (uid && setuid(uid) < 0)
			_exit(12);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || (!uid && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0))
			_exit(11);
		inet_pton(AF_INET, "10.9.0.2", &a.sin_addr);
		for (unsigned i = 0; i < k; i++)
			if (sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) != 1)
				_exit(13);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sender failed: %d", st);
}

static struct nl_socket *open_nf(void)
{
	struct nl_socket *s = NULL;

	ck_assert_int_eq(nl_socket_open(NETLINK_NETFILTER, &s), 0);
	return s;
}

static void sync_ok(struct nl_socket *s, const struct nl_nft_mark *m, unsigned n)
{
	struct diag d;

	diag_init(&d);
	ck_assert_msg(nl_nft_mark_sync(s, m, n, &d) == 0, "sync: %s", diag_text(&d));
}

static bool table_exists(void)
{
	return sh("nft list table inet " NL_NFT_MARK_TABLE " >/dev/null 2>&1") == 0;
}

/* A rule for the outer cgroup marks its children's sockets (the unit's cgroup holds its
 * processes' sub-cgroups); a socket made outside stays unmarked. */
START_TEST(test_cgroup)
{
	struct nl_socket *s = open_nf();
	struct nl_nft_mark m = { .mark = nl_nft_mark_value(1), .has_cgroup = true };
	unsigned long c[N_OBS];
	unsigned level;

	ck_assert_int_eq(edge_cgroup_id(cg_root, cg_outer, &m.cgroup_id, &level), 0);
	ck_assert_uint_eq(level, 1);
	m.level = level;
	sync_ok(s, &m, 1);
	ck_assert(table_exists());
	send_from(cg_inner, 0, 5);
	send_from(NULL, 0, 3);
	observed(c);
	ck_assert_uint_eq(c[0], 5); /* skb mark: chaosd's bits */
	ck_assert_uint_eq(c[1], 0);
	ck_assert_uint_eq(c[2], 3); /* the others: none of chaosd's bits */
	ck_assert_uint_eq(c[3], 5); /* the connection carries them for the replies */
	ck_assert_uint_eq(c[4], 0);
	ck_assert_uint_eq(c[5], 5); /* the host's own 0x7 kept */

	/* the rule rewritten for another cgroup (a restart): the old one is not matched any more */
	ck_assert_int_eq(edge_cgroup_id(cg_root, cg_inner, &m.cgroup_id, &level), 0);
	ck_assert_uint_eq(level, 2);
	m.level = level;
	m.mark = nl_nft_mark_value(2);
	sync_ok(s, &m, 1);
	send_from(cg_inner, 0, 2);
	observed(c);
	ck_assert_uint_eq(c[1], 2);
	ck_assert_uint_eq(c[0], 5);

	sync_ok(s, NULL, 0);
	ck_assert(!table_exists());
	sync_ok(s, NULL, 0); /* absent already: still fine */
	ck_assert(!table_exists());
	nl_socket_free(s);
}
END_TEST

START_TEST(test_uid)
{
	struct nl_socket *s = open_nf();
	struct nl_nft_mark m[2] = {
		{ .mark = nl_nft_mark_value(1), .has_uid = true, .uid = 4242 },
		{ .mark = nl_nft_mark_value(2), .has_uid = true, .uid = 4343, .has_cgroup = true },
	};
	unsigned long c[N_OBS];
	unsigned level;

	/* the second one: uid 4343 and in the outer cgroup, both */
	ck_assert_int_eq(edge_cgroup_id(cg_root, cg_outer, &m[1].cgroup_id, &level), 0);
	m[1].level = level;
	sync_ok(s, m, 2);
	send_from(NULL, 4242, 4);
	send_from(NULL, 4343, 2);   /* the uid, not the cgroup: not marked */
	send_from(cg_inner, 0, 1);  /* the cgroup, not the uid: not marked */
	send_from(cg_inner, 4343, 3);
	observed(c);
	ck_assert_uint_eq(c[0], 4);
	ck_assert_uint_eq(c[1], 3);
	ck_assert_uint_eq(c[2], 3);
	ck_assert_uint_eq(c[3], 4);
	ck_assert_uint_eq(c[4], 3);
	sync_ok(s, NULL, 0);
	nl_socket_free(s);
}
END_TEST

START_TEST(test_refused)
{
	struct nl_socket *s = open_nf();
	struct nl_nft_mark good = { .mark = nl_nft_mark_value(1), .has_uid = true, .uid = 1 };
	struct nl_nft_mark bad[] = {
		{ .mark = 0x1, .has_uid = true },
		{ .mark = 0, .has_uid = true },
		{ .mark = nl_nft_mark_value(1) },
		{ .mark = nl_nft_mark_value(1), .has_cgroup = true, .level = 0 },
	};
	uint64_t id = 1;
	unsigned level = 9;
	struct diag d;

	sync_ok(s, &good, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		diag_init(&d);
		ck_assert_int_eq(nl_nft_mark_sync(s, &bad[i], 1, &d), -EINVAL);
		ck_assert_ptr_nonnull(strstr(diag_text(&d), "service mark 0"));
	}
	ck_assert(table_exists()); /* the good one stays */
	ck_assert_int_eq(edge_cgroup_id(cg_root, "no/such/cgroup", &id, &level), -ENOENT);
	ck_assert_int_eq(edge_cgroup_id(cg_root, "/abs", &id, &level), -EINVAL);
	ck_assert_uint_eq(id, 1);
	ck_assert_uint_eq(level, 9);
	sync_ok(s, NULL, 0);
	nl_socket_free(s);
}
END_TEST

/* Run ev until sc has followed want cgroup changes; the time it took (us), or more than 2 s. */
static uint64_t follow(sd_event *ev, const struct svcscope *sc, unsigned want)
{
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);

	while (svcscope_follows(sc) < want && now_usec(CLOCK_MONOTONIC) - t0 < 2000000)
		ck_assert_int_ge(sd_event_run(ev, 20 * 1000), 0);
	ck_assert_uint_eq(svcscope_follows(sc), want);
	return now_usec(CLOCK_MONOTONIC) - t0;
}

/* A service restarts (its cgroup removed and made again, with a new id): within a second its
 * rule matches the new cgroup, whose processes' packets are marked again. */
START_TEST(test_restart_followed)
{
	struct nl_socket *s = open_nf();
	struct edge e = { .name = "svc" }, missing = { .name = "gone" };
	struct svcscope *sc = NULL;
	sd_event *ev = NULL;
	unsigned long c[N_OBS];
	char desc[512], want[512];
	uint32_t mark = 0;
	uint64_t id, took;
	unsigned level;
	struct diag d;

	snprintf(e.cgroup, sizeof(e.cgroup), "%s", cg_inner);
	snprintf(missing.cgroup, sizeof(missing.cgroup), "%s/nope", cg_outer);
	ck_assert_int_eq(sd_event_new(&ev), 0);
	diag_init(&d);
	ck_assert_int_eq(svcscope_new(ev, s, &sc, &d), 0);
	ck_assert_int_eq(svcscope_add(sc, &e, NULL, &mark, &d), 0);
	ck_assert_uint_eq(mark, nl_nft_mark_value(1));
	ck_assert_int_eq(svcscope_add(sc, &e, NULL, &mark, &d), -EEXIST);
	ck_assert_int_eq(svcscope_add(sc, &missing, NULL, &mark, &d), -ENOENT);
	snprintf(want, sizeof(want), "edge 'gone': cgroup %s/nope does not exist (under %s)",
			cg_outer, cg_root);
	ck_assert_str_eq(diag_text(&d), want);
	send_from(cg_inner, 0, 3);
	observed(c);
	ck_assert_uint_eq(c[0], 3);

	SH("rmdir %s/%s", cg_root, cg_inner); /* stopped */
	follow(ev, sc, 1);
	ck_assert_int_eq(svcscope_describe(sc, "svc", desc, sizeof(desc)), 0);
	snprintf(want, sizeof(want), "cgroup %s (gone) mark 0x10000", cg_inner);
	ck_assert_str_eq(desc, want);
	SH("mkdir %s/%s", cg_root, cg_inner); /* started again */
	took = follow(ev, sc, 2);
	ck_assert_msg(took < 1000000, "followed after %llu us", (unsigned long long)took);
	fprintf(stderr, "test-nl-nft-mark: a restarted cgroup's rule rewritten %llu us after the "
			"loop was told\n", (unsigned long long)took);
	send_from(cg_inner, 0, 2);
	send_from(NULL, 0, 1);
	observed(c);
	ck_assert_uint_eq(c[0], 5); /* the new cgroup's packets are marked */
	ck_assert_uint_eq(c[2], 1);
	ck_assert_int_eq(edge_cgroup_id(cg_root, cg_inner, &id, &level), 0);
	ck_assert_int_eq(svcscope_describe(sc, "svc", desc, sizeof(desc)), 0);
	snprintf(want, sizeof(want), "cgroup %s (id %llu, level 2) mark 0x10000", cg_inner,
			(unsigned long long)id);
	ck_assert_str_eq(desc, want);

	ck_assert_int_eq(svcscope_remove(sc, "svc", &d), 0);
	ck_assert_int_eq(svcscope_remove(sc, "svc", &d), -ENOENT);
	ck_assert(!table_exists());
	svcscope_free(sc);
	sd_event_unref(ev);
	nl_socket_free(s);
}
END_TEST

/* A revert clears chaosd's bits of the connections' marks and keeps the host's. */
START_TEST(test_ct_clear)
{
	struct nl_socket *s = open_nf();
	unsigned n = 99;
	struct diag d;

	SH("nft add table inet ctm && nft add chain inet ctm o '{ type filter hook output "
	   "priority 0; }' && nft add rule inet ctm o udp dport 9 ct mark set 0x00030005 && "
	   "nft add rule inet ctm o udp dport 10 ct mark set 0x00000005");
	SH("bash -c 'echo x >/dev/udp/10.9.0.2/9; echo x >/dev/udp/10.9.0.2/10'");
	SH("conntrack -L -p udp --dport 9 2>/dev/null | grep -q 'mark=196613'");
	diag_init(&d);
	ck_assert_msg(nl_ct_mark_clear(s, NL_NFT_MARK_MASK, &n, &d) == 0, "%s", diag_text(&d));
	ck_assert_uint_eq(n, 1);
	SH("conntrack -L -p udp --dport 9 2>/dev/null | grep -q 'mark=5 '");
	SH("conntrack -L -p udp --dport 10 2>/dev/null | grep -q 'mark=5 '");
	ck_assert_int_eq(nl_ct_mark_clear(s, NL_NFT_MARK_MASK, &n, &d), 0);
	ck_assert_uint_eq(n, 0); /* nothing of chaosd's left */
	ck_assert_int_eq(nl_ct_mark_clear(s, 0, &n, &d), -EINVAL);
	nl_socket_free(s);
}
END_TEST

/* 1 if the running kernel's config says CONFIG_CLS_U32_MARK=y, 0 if not, -1 unknown. */
static int kernel_has_u32_mark(void)
{
	int r = sh("zcat /proc/config.gz 2>/dev/null | grep -q '^CONFIG_CLS_U32_MARK=y'");

	if (r == 0)
		return 1;
	return sh("zcat /proc/config.gz 2>/dev/null | grep -q 'CLS_U32_MARK is not set'") == 0 ?
		0 : -1;
}

static int u32_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_tc_u32_info *u = data;
	struct nl_tc_obj o;
	struct nl_tc_u32_info x;

	if (nl_tc_parse(nlh, &o) == 0 && nl_tc_u32_parse(&o, &x) == 0 && !x.hash_table &&
			x.nkeys > 0)
		*u = x;
	return MNL_CB_OK;
}

/* A kernel without CONFIG_CLS_U32_MARK (this host's) takes a u32 filter with a mark match and
 * drops the match without a word: the filter then takes every mark's packets. Reading the
 * filter back tells the two apart, which is how chaosd must check before it relies on one. */
START_TEST(test_u32_mark_read_back)
{
	struct nl_socket *rt = NULL;
	struct nl_batch b;
	struct nl_tc_u32 f = { .parent = NL_TC_EGRESS_PARENT, .prio = 7, .protocol = ETH_P_IP,
		.handle = NL_TC_U32_NODE_MIN, .classid = 0x10001 };
	struct nl_tc_match m = { .family = AF_INET, .addr = { 10, 9, 0, 2 }, .prefix_len = 32,
		.mark = nl_nft_mark_value(1), .mark_mask = NL_NFT_MARK_MASK };
	struct nl_tc_u32_info u = {};
	char req[NL_TC_REQ_SIZE];
	int has = kernel_has_u32_mark();
	struct diag d;

	f.ifindex = (int)if_nametoindex("v0");
	ck_assert_int_gt(f.ifindex, 0);
	diag_init(&d);
	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &rt), 0);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	ck_assert_int_eq(nl_tc_clsact_add(&b, rt, (struct nl_tc_dev){ f.ifindex, "v0" }), 0);
	ck_assert_int_eq(nl_tc_u32_add(&b, rt, &f, &m, "v0"), 0);
	ck_assert_msg(nl_batch_send(&b, rt, NULL, &d) == 0, "%s", diag_text(&d));
	nl_batch_done(&b);
	ck_assert_int_eq(nl_socket_dump(rt, nl_tc_filter_dump_req(req, f.ifindex,
						    NL_TC_EGRESS_PARENT, 0, 0),
				 u32_cb, &u, &d), 0);
	ck_assert_uint_eq(u.nkeys, 1); /* the filter is there */
	fprintf(stderr, "test-nl-nft-mark: this kernel %s a u32 mark match\n",
			u.has_mark ? "keeps" : "silently drops");
	if (has >= 0)
		ck_assert_int_eq(u.has_mark, has == 1);
	if (u.has_mark) {
		ck_assert_uint_eq(u.mark, nl_nft_mark_value(1));
		ck_assert_uint_eq(u.mark_mask, NL_NFT_MARK_MASK);
	}
	nl_socket_free(rt);
}
END_TEST

static Suite *mark_suite(void)
{
	Suite *s = suite_create("nl-nft-mark");
	TCase *tc = tcase_create("kernel");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cgroup);
	tcase_add_test(tc, test_uid);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_restart_followed);
	tcase_add_test(tc, test_ct_clear);
	tcase_add_test(tc, test_u32_mark_read_back);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (geteuid() != 0)
		return test_skip("test-nl-nft-mark", "needs root");
	if (sh("command -v nft >/dev/null && command -v ip >/dev/null && "
	       "command -v conntrack >/dev/null") != 0)
		return test_skip("test-nl-nft-mark", "needs nft, ip and conntrack");
	if (edge_cgroup2_root(&cg_root) < 0)
		return test_skip("test-nl-nft-mark", "no cgroup2 mount");
	return test_run_suite_forked(mark_suite());
}
