/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nl_nft against the real kernel. Every test runs in its own network namespace (unshare in the
 * forked test process) with a veth pair whose other end lives in a peer namespace held by a
 * child process; the assertions are on what the kernel shows (`nft -j list`) and on what
 * traffic does (ping, TCP connect, and a UDP flood counted in the peer namespace while the
 * table is rewritten), not on return codes alone. Needs root; exits 77 (skip) without. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nl_nft.h"
#include "test-util.h"
#include "nl_socket.h"

#define HOST_IF "veth0"
#define PEER_IF "veth1"
#define PORT_A  5432
#define PORT_B  5433

static pid_t peer_pid = -1;

static int run(const char *fmt, ...) _printf_(1, 2);
static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define RUN_OK(...) ck_assert_int_eq(run(__VA_ARGS__), 0)
#define PEER(cmd, ...) RUN_OK("nsenter -t %d -n " cmd, (int)peer_pid, ##__VA_ARGS__)

static int listen_on(uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int fd, zero = 0, one = 1;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* One dual-stack socket answers both families. */
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0)
		return -1;
	return fd;
}

/* The peer namespace's process: TCP listeners on PORT_A and PORT_B that accept and close. */
_Noreturn static void peer_main(int ready_fd)
{
	struct pollfd p[2];
	char c = 1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(CLONE_NEWNET) < 0)
		_exit(1);
	p[0] = (struct pollfd){ .fd = listen_on(PORT_A), .events = POLLIN };
	p[1] = (struct pollfd){ .fd = listen_on(PORT_B), .events = POLLIN };
	if (p[0].fd < 0 || p[1].fd < 0)
		_exit(1);
	if (write(ready_fd, &c, 1) != 1)
		_exit(1);
	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++)
			if (p[i].revents & POLLIN) {
				int fd = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					close(fd);
			}
	}
}

/* Host side: veth0 10.99.0.1/24, fd00:99::1/64. Peer: veth1 with .2 to .5 and ::2 to ::5. */
static void setup(void)
{
	int pfd[2];
	char c;

	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	peer_pid = fork();
	ck_assert_int_ge(peer_pid, 0);
	if (peer_pid == 0) {
		close(pfd[0]);
		peer_main(pfd[1]);
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	close(pfd[0]);

	RUN_OK("ip link set lo up");
	RUN_OK("ip link add " HOST_IF " type veth peer name " PEER_IF);
	RUN_OK("ip link set " PEER_IF " netns %d", (int)peer_pid);
	RUN_OK("ip addr add 10.99.0.1/24 dev " HOST_IF);
	RUN_OK("ip -6 addr add fd00:99::1/64 dev " HOST_IF " nodad");
	RUN_OK("ip link set " HOST_IF " up");
	PEER("ip link set lo up");
	for (int i = 2; i <= 5; i++) {
		PEER("ip addr add 10.99.0.%d/24 dev " PEER_IF, i);
		PEER("ip -6 addr add fd00:99::%d/64 dev " PEER_IF " nodad", i);
	}
	PEER("ip link set " PEER_IF " up");
}

static void teardown(void)
{
	if (peer_pid > 0) {
		kill(peer_pid, SIGKILL);
		waitpid(peer_pid, NULL, 0);
		peer_pid = -1;
	}
}

static bool reach(const char *addr)
{
	return run("ping -n -q -c 2 -i 0.2 -W 1 %s >/dev/null 2>&1", addr) == 0;
}

static bool tcp_connects(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {};
	struct pollfd p;
	socklen_t len, elen = sizeof(int);
	int fd, err = 0;
	bool ok = false;

	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &a->sin6_addr), 1);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET, addr, &a->sin_addr), 1);
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		ok = true;
	else if (errno == EINPROGRESS) {
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 1500) == 1 &&
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
			ok = true;
	}
	close(fd);
	return ok;
}

/* A child that sends 1-byte UDP datagrams to addr:9 in a loop until killed; sends the kernel
 * refuses (EPERM from a drop in postrouting) are ignored. */
static pid_t udp_blaster_start(const char *addr)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || inet_pton(AF_INET, addr, &a.sin_addr) != 1)
			_exit(1);
		for (;;)
			(void)sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
	}
	return pid;
}

/* Packets the peer's watch table counted for addr (see test_sync_keeps_others). */
static long peer_udp_count(const char *addr)
{
	char cmd[256], line[512], needle[64];
	long packets = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nsenter -t %d -n nft list chain inet watch in", (int)peer_pid);
	snprintf(needle, sizeof(needle), "ip daddr %s udp dport 9 counter packets ", addr);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, needle);
		if (p)
			packets = strtol(p + strlen(needle), NULL, 10);
	}
	pclose(f);
	ck_assert_int_ge(packets, 0);
	return packets;
}

/* `nft -j list table inet chaosd`, or NULL if nft says there is no such table. */
static char *nft_json(void)
{
	FILE *f = popen("nft -j list table inet " NL_NFT_TABLE " 2>/dev/null", "r");
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		size_t k;

		if (cap - n < 1024) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		k = fread(buf + n, 1, cap - n - 1, f);
		if (k == 0)
			break;
		n += k;
	}
	buf[n] = '\0';
	if (pclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Count the JSON objects opened by `kind` ("{\"rule\": {") whose text, up to the next object of
 * that kind, holds every needle. Crude, but nft's output layout is stable. */
static unsigned count_objects(const char *json, const char *kind, ...)
{
	unsigned count = 0;

	for (const char *p = strstr(json, kind); p; p = strstr(p + 1, kind)) {
		const char *next = strstr(p + 1, kind);
		size_t len = next ? (size_t)(next - p) : strlen(p);
		char *obj = strndup(p, len);
		bool all = true;
		va_list ap;

		ck_assert_ptr_nonnull(obj);
		va_start(ap, kind);
		for (const char *needle = va_arg(ap, const char *); needle;
				needle = va_arg(ap, const char *))
			if (!strstr(obj, needle)) {
				all = false;
				break;
			}
		va_end(ap);
		free(obj);
		count += all;
	}
	return count;
}

#define RULE  "{\"rule\": {"
#define CHAIN "{\"chain\": {"
/* How nft -j prints a match on an address, an interface name, a prefix. */
#define SEL_ADDR(field)    "{\"payload\": {\"protocol\": \"%s\", \"field\": \"" field "\"}}"
#define SEL_IFNAME(key)    "{\"meta\": {\"key\": \"" key "\"}}, \"right\": \"" HOST_IF "\""
#define SEL_PREFIX(a, len) "{\"prefix\": {\"addr\": \"" a "\", \"len\": " len "}}"

static unsigned count_rules_all(void)
{
	char *j = nft_json();
	unsigned n = j ? count_objects(j, RULE, NULL) : 0;

	free(j);
	return n;
}

static void prefix_set(struct edge_prefix *p, const char *addr, uint8_t len)
{
	memset(p, 0, sizeof(*p));
	p->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(p->family, addr, p->addr), 1);
	p->len = len;
}

/* Edges are built by hand so this test does not depend on edge.c's parser. */
static void edge_set(struct edge *e, const char *name, const char *addr, uint8_t len)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->ifname, sizeof(e->ifname), "%s", HOST_IF);
	prefix_set(&e->prefixes[0], addr, len);
	e->n_prefixes = 1;
}

static void part_set(struct nl_nft_partition *p, const struct edge *e, enum fault_direction dir,
		uint64_t id)
{
	memset(p, 0, sizeof(*p));
	p->edge = e;
	snprintf(p->ifname, sizeof(p->ifname), "%s", HOST_IF);
	p->direction = dir;
	p->id = id;
}

static struct nl_nft *open_nft(void)
{
	struct nl_nft *n = NULL;
	struct diag d;

	diag_init(&d);
	ck_assert_msg(nl_nft_open(&n, &d) == 0, "nl_nft_open: %s", diag_text(&d));
	return n;
}

static void sync_ok(struct nl_nft *n, const struct nl_nft_partition *parts, unsigned k)
{
	struct diag d;
	int r;

	diag_init(&d);
	r = nl_nft_sync(n, parts, k, &d);
	ck_assert_msg(r == 0, "nl_nft_sync: %d %s", r, diag_text(&d));
}

static uint64_t drops(struct nl_nft *n, uint64_t id)
{
	uint64_t v = 0;
	int r = nl_nft_get_drops(n, id, &v);

	ck_assert_msg(r == 0, "nl_nft_get_drops(%" PRIu64 "): %d", id, r);
	return v;
}

/* out, in, both for each family: loop index = direction - 1 + 3 * (ipv6). */
START_TEST(test_direction)
{
	static const enum fault_direction dirs[] = { FAULT_DIR_OUT, FAULT_DIR_IN, FAULT_DIR_BOTH };
	enum fault_direction dir = dirs[_i % 3];
	bool v6 = _i >= 3;
	const char *target = v6 ? "fd00:99::2" : "10.99.0.2";
	const char *other = v6 ? "fd00:99::3" : "10.99.0.3";
	const char *ipf = v6 ? "ip6" : "ip";
	char c_out[128], c_in[128], sel_out[64], sel_in[64], addr[64];
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p;
	struct edge e;
	uint64_t before;
	char *j;

	ck_assert(reach(target));
	ck_assert_int_eq(nl_nft_table_exists(n), 0);
	edge_set(&e, "db", target, v6 ? 128 : 32);
	part_set(&p, &e, dir, 7);
	sync_ok(n, &p, 1);
	ck_assert_int_eq(nl_nft_table_exists(n), 1);

	/* What the kernel holds. */
	j = nft_json();
	ck_assert_ptr_nonnull(j);
	snprintf(c_out, sizeof(c_out), "\"comment\": \"chaosd fault 7 edge db out %s/%d\"", target,
			v6 ? 128 : 32);
	snprintf(c_in, sizeof(c_in), "\"comment\": \"chaosd fault 7 edge db in %s/%d\"", target,
			v6 ? 128 : 32);
	snprintf(sel_out, sizeof(sel_out), SEL_ADDR("daddr"), ipf);
	snprintf(sel_in, sizeof(sel_in), SEL_ADDR("saddr"), ipf);
	snprintf(addr, sizeof(addr), "\"%s\"", target);
	ck_assert_uint_eq(count_objects(j, CHAIN, "\"name\": \"postrouting\"",
					  "\"hook\": \"postrouting\"", "\"prio\": -300", NULL),
			(dir & FAULT_DIR_OUT) ? 1 : 0);
	ck_assert_uint_eq(count_objects(j, CHAIN, "\"name\": \"prerouting\"",
					  "\"hook\": \"prerouting\"", "\"prio\": -300", NULL),
			(dir & FAULT_DIR_IN) ? 1 : 0);
	ck_assert_uint_eq(count_objects(j, RULE, "\"chain\": \"postrouting\"", c_out,
					  SEL_IFNAME("oifname"),
					  sel_out, addr, "\"counter\"", "\"drop\"", NULL),
			(dir & FAULT_DIR_OUT) ? 1 : 0);
	ck_assert_uint_eq(count_objects(j, RULE, "\"chain\": \"prerouting\"", c_in,
					  SEL_IFNAME("iifname"),
					  sel_in, addr, "\"counter\"", "\"drop\"", NULL),
			(dir & FAULT_DIR_IN) ? 1 : 0);
	ck_assert_uint_eq(count_objects(j, RULE, NULL), dir == FAULT_DIR_BOTH ? 2 : 1);
	free(j);

	/* What traffic does: the edge is cut, the rest of the link is not, and neither is the
	 * other family to the same peer. */
	before = drops(n, 7);
	ck_assert(!reach(target));
	ck_assert(reach(other));
	ck_assert(reach(v6 ? "10.99.0.2" : "fd00:99::2"));
	ck_assert_uint_ge(drops(n, 7), before + 2);
	ck_assert(!tcp_connects(target, PORT_A));
	ck_assert(tcp_connects(other, PORT_A));
	nl_nft_free(n);
}
END_TEST

/* Several prefixes, overlapping and of both families, in one edge: a rule for each prefix that
 * no other prefix of the edge covers. */
START_TEST(test_multi_prefix)
{
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p;
	struct edge e;
	char *j;

	edge_set(&e, "many", "10.99.0.2", 32);
	prefix_set(&e.prefixes[1], "10.99.0.4", 31);
	prefix_set(&e.prefixes[2], "10.99.0.5", 32);
	prefix_set(&e.prefixes[3], "fd00:99::4", 127);
	prefix_set(&e.prefixes[4], "fd00:99::5", 128);
	e.n_prefixes = 5;
	part_set(&p, &e, FAULT_DIR_OUT, 3);
	sync_ok(n, &p, 1);

	j = nft_json();
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(count_objects(j, RULE, "edge many out 10.99.0.2/32\"",
					  "\"right\": \"10.99.0.2\"", NULL),
			1);
	ck_assert_uint_eq(count_objects(j, RULE, "edge many out 10.99.0.4/31\"",
					  SEL_PREFIX("10.99.0.4", "31"), NULL),
			1);
	ck_assert_uint_eq(count_objects(j, RULE, "edge many out fd00:99::4/127\"",
					  SEL_PREFIX("fd00:99::4", "127"), NULL),
			1);
	/* .5/32 and ::5/128 lie inside other prefixes of the edge: no rule of their own. */
	ck_assert_uint_eq(count_objects(j, RULE, NULL), 3);
	free(j);

	ck_assert(!reach("10.99.0.2"));
	ck_assert(reach("10.99.0.3"));
	ck_assert(!reach("10.99.0.4"));
	ck_assert(!reach("10.99.0.5"));
	ck_assert(!reach("fd00:99::4"));
	ck_assert(!reach("fd00:99::5"));
	ck_assert(reach("fd00:99::3"));
	ck_assert(reach("fd00:99::2"));
	/* Every blocked ping counted in the fault, over both rules. */
	ck_assert_uint_ge(drops(n, 3), 5 * 2);
	nl_nft_free(n);
}
END_TEST

/* Edge with a port: only that port of that protocol is cut; ping and other ports pass. */
START_TEST(test_port)
{
	enum fault_direction dir = _i % 2 ? FAULT_DIR_IN : FAULT_DIR_OUT;
	bool v6 = _i >= 2;
	const char *target = v6 ? "fd00:99::2" : "10.99.0.2";
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p;
	struct edge e;
	char *j;

	edge_set(&e, "pg", target, v6 ? 128 : 32);
	e.port = PORT_A;
	e.proto = EDGE_PROTO_TCP;
	part_set(&p, &e, dir, 20);
	sync_ok(n, &p, 1);

	j = nft_json();
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(count_objects(j, RULE, dir == FAULT_DIR_OUT ? "\"field\": \"dport\"}}, "
									 "\"right\": 5432"
								       : "\"field\": \"sport\"}}, "
									 "\"right\": 5432",
					  "\"protocol\": \"tcp\"", "\"drop\"", NULL),
			1);
	free(j);

	ck_assert(tcp_connects(target, PORT_B));
	ck_assert(!tcp_connects(target, PORT_A));
	ck_assert(reach(target));
	ck_assert_uint_ge(drops(n, 20), 1);
	nl_nft_free(n);
}
END_TEST

/* A port without a protocol covers tcp and udp. */
START_TEST(test_port_any_proto)
{
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p;
	struct edge e;
	char *j;

	edge_set(&e, "dns", "10.99.0.2", 32);
	e.port = PORT_A;
	part_set(&p, &e, FAULT_DIR_OUT, 21);
	sync_ok(n, &p, 1);
	j = nft_json();
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(count_objects(j, RULE, "edge dns out 10.99.0.2/32 tcp\"",
					  "\"protocol\": \"tcp\"", NULL),
			1);
	ck_assert_uint_eq(count_objects(j, RULE, "edge dns out 10.99.0.2/32 udp\"",
					  "\"protocol\": \"udp\"", NULL),
			1);
	ck_assert_uint_eq(count_objects(j, RULE, NULL), 2);
	free(j);
	ck_assert(!tcp_connects("10.99.0.2", PORT_A));
	ck_assert(tcp_connects("10.99.0.2", PORT_B));
	ck_assert(reach("10.99.0.2"));
	nl_nft_free(n);
}
END_TEST

/* Replacing the set of partitions keeps the ones that stay, with their counts, and never lets a
 * packet of theirs through while it happens. */
START_TEST(test_sync_keeps_others)
{
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p[2];
	struct edge a, b, c;
	uint64_t v, b_drops;
	pid_t blaster;

	edge_set(&a, "a", "10.99.0.2", 32);
	edge_set(&b, "b", "10.99.0.3", 32);
	edge_set(&c, "c", "10.99.0.4", 32);
	part_set(&p[0], &a, FAULT_DIR_OUT, 10);
	part_set(&p[1], &b, FAULT_DIR_BOTH, 11);
	sync_ok(n, p, 2);
	ck_assert(!reach("10.99.0.2"));
	ck_assert(!reach("10.99.0.3"));
	ck_assert(reach("10.99.0.4"));
	b_drops = drops(n, 11);
	ck_assert_uint_ge(b_drops, 2);
	/* The rewrite for c carries b's count over (no traffic in between: exactly equal). */
	part_set(&p[0], &c, FAULT_DIR_OUT, 12);
	sync_ok(n, p, 2);
	ck_assert_uint_eq(drops(n, 11), b_drops);

	/* Swap a and c many times while b's address is sent UDP as fast as the CPU allows; a
	 * counter in the peer namespace sees any datagram that slips through a gap between the
	 * old table and the new one. */
	PEER("nft add table inet watch");
	PEER("nft add chain inet watch in '{ type filter hook prerouting priority 0; }'");
	PEER("nft add rule inet watch in ip daddr 10.99.0.3 udp dport 9 counter");
	PEER("nft add rule inet watch in ip daddr 10.99.0.2 udp dport 9 counter");
	blaster = udp_blaster_start("10.99.0.3");
	usleep(100 * 1000);
	for (int i = 0; i < 60; i++) {
		part_set(&p[0], i % 2 ? &c : &a, FAULT_DIR_OUT, i % 2 ? 12 : 10);
		sync_ok(n, p, 2);
		usleep(10 * 1000);
	}
	kill(blaster, SIGKILL);
	waitpid(blaster, NULL, 0);
	ck_assert_uint_ge(drops(n, 11), b_drops + 1000);
	ck_assert_int_eq(peer_udp_count("10.99.0.3"), 0);
	/* The watcher does count what is not cut: a, since the last swap. */
	blaster = udp_blaster_start("10.99.0.2");
	usleep(100 * 1000);
	kill(blaster, SIGKILL);
	waitpid(blaster, NULL, 0);
	ck_assert_int_gt(peer_udp_count("10.99.0.2"), 0);

	/* Now {b, c}: a passes again, b and c are cut. */
	ck_assert(reach("10.99.0.2"));
	ck_assert(!reach("10.99.0.3"));
	ck_assert(!reach("10.99.0.4"));
	/* b's count survived 60 rewrites and kept counting. */
	ck_assert_uint_ge(drops(n, 11), b_drops + 2);
	ck_assert_int_eq(nl_nft_get_drops(n, 10, &v), -ENOENT);
	ck_assert_uint_ge(drops(n, 12), 2);
	ck_assert_uint_eq(count_rules_all(), 3);
	nl_nft_free(n);
}
END_TEST

START_TEST(test_remove_all)
{
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p;
	struct edge e;
	struct diag d;
	uint64_t v;

	diag_init(&d);
	/* Nothing there yet: tolerated. */
	ck_assert_int_eq(nl_nft_remove_all(n, &d), 0);
	ck_assert_int_eq(nl_nft_get_drops(n, 1, &v), -ENOENT);

	edge_set(&e, "db", "10.99.0.2", 32);
	part_set(&p, &e, FAULT_DIR_BOTH, 1);
	sync_ok(n, &p, 1);
	ck_assert_int_eq(run("nft list table inet " NL_NFT_TABLE " >/dev/null 2>&1"), 0);
	ck_assert(!reach("10.99.0.2"));

	ck_assert_int_eq(nl_nft_remove_all(n, &d), 0);
	ck_assert_int_ne(run("nft list table inet " NL_NFT_TABLE " >/dev/null 2>&1"), 0);
	ck_assert_int_eq(nl_nft_table_exists(n), 0);
	ck_assert(reach("10.99.0.2"));
	ck_assert_int_eq(nl_nft_remove_all(n, &d), 0);
	ck_assert_int_eq(nl_nft_table_exists(n), 0);

	/* Syncing to nothing removes the table too. */
	sync_ok(n, &p, 1);
	ck_assert_int_eq(nl_nft_table_exists(n), 1);
	sync_ok(n, NULL, 0);
	ck_assert_int_eq(nl_nft_table_exists(n), 0);
	ck_assert_int_ne(run("nft list table inet " NL_NFT_TABLE " >/dev/null 2>&1"), 0);
	ck_assert(reach("10.99.0.2"));
	ck_assert_str_eq(diag_text(&d), "");
	nl_nft_free(n);
}
END_TEST

/* A partition that would widen beyond its edge is refused and the installed ones stay. */
START_TEST(test_refused)
{
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p[2];
	struct edge a, bad;
	struct diag d;

	edge_set(&a, "a", "10.99.0.2", 32);
	part_set(&p[0], &a, FAULT_DIR_OUT, 1);
	sync_ok(n, p, 1);

	edge_set(&bad, "bad", "10.99.0.3", 32);
	bad.n_prefixes = 0;
	part_set(&p[1], &bad, FAULT_DIR_OUT, 2);
	diag_init(&d);
	ck_assert_int_eq(nl_nft_sync(n, p, 2, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "edge bad"));

	edge_set(&bad, "bad", "10.99.0.3", 32);
	bad.ifname[0] = '\0';
	p[1].ifname[0] = '\0';
	diag_init(&d);
	ck_assert_int_eq(nl_nft_sync(n, p, 2, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "no interface"));

	ck_assert_uint_eq(count_rules_all(), 1);
	ck_assert(!reach("10.99.0.2"));
	ck_assert(reach("10.99.0.3"));
	nl_nft_free(n);
}
END_TEST

#define FLOWS     200
#define FLOW_PORT 40000

/* One datagram from 10.99.0.1:port to 10.99.0.2:9: false if the kernel dropped it (a drop in
 * postrouting makes sendto fail with EPERM at once). */
static bool udp_out(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons(9) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
	ssize_t k;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, "10.99.0.1", &a.sin_addr), 1);
	ck_assert_int_eq(inet_pton(AF_INET, "10.99.0.2", &b.sin_addr), 1);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	k = sendto(fd, "x", 1, 0, (struct sockaddr *)&b, sizeof(b));
	ck_assert_msg(k == 1 || errno == EPERM, "sendto: %s", strerror(errno));
	close(fd);
	return k == 1;
}

/* The same flows the other way: the peer sends from 10.99.0.2:9 to each 10.99.0.1:port;
 * ret[i] says whether port FLOW_PORT + i received it. */
static void udp_in(bool *ret)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fds[FLOWS], one = 1;
	char path[64];
	pid_t pid;

	ck_assert_int_eq(inet_pton(AF_INET, "10.99.0.1", &a.sin_addr), 1);
	for (int i = 0; i < FLOWS; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(fds[i], 0);
		a.sin_port = htons(FLOW_PORT + i);
		ck_assert_int_eq(bind(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)peer_pid);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons(9) };
		int ns = open(path, O_RDONLY | O_CLOEXEC), fd;

		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
			_exit(1);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		inet_pton(AF_INET, "10.99.0.2", &b.sin_addr);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
				bind(fd, (struct sockaddr *)&b, sizeof(b)) < 0)
			_exit(1);
		for (int i = 0; i < FLOWS; i++) {
			a.sin_port = htons(FLOW_PORT + i);
			if (sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) != 1)
				_exit(1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &one, 0), pid);
	ck_assert(WIFEXITED(one) && WEXITSTATUS(one) == 0);
	nanosleep(&(struct timespec){ .tv_nsec = 300 * 1000 * 1000 }, NULL);
	for (int i = 0; i < FLOWS; i++) {
		char c;

		ret[i] = recv(fds[i], &c, 1, 0) == 1;
		close(fds[i]);
	}
}

/* A partition of half the flows: symhash picks about half of 200 UDP flows, every flow the same
 * way each time, and the same flows when the partition is of the other direction. */
START_TEST(test_flows)
{
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p;
	bool out[FLOWS], in[FLOWS];
	unsigned dropped = 0;
	struct edge e;
	struct diag d;
	char *j;

	edge_set(&e, "half", "10.99.0.2", 32);
	part_set(&p, &e, FAULT_DIR_OUT, 30);
	p.flows = 5000;
	sync_ok(n, &p, 1);
	j = nft_json();
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(count_objects(j, RULE, "{\"symhash\": {\"mod\": 10000}}",
					  "\"op\": \"<\"", "\"right\": 5000", "\"drop\"", NULL),
			1);
	free(j);
	for (int i = 0; i < FLOWS; i++) {
		out[i] = udp_out(FLOW_PORT + i);
		dropped += !out[i];
	}
	for (int i = 0; i < FLOWS; i++)
		ck_assert_msg(udp_out(FLOW_PORT + i) == out[i], "flow %d changed its mind", i);
	fprintf(stderr, "nl_nft flows = 50%%: %u of %d UDP flows dropped\n", dropped, FLOWS);
	/* 4 sigma of the binomial around 100 */
	ck_assert_uint_ge(dropped, 72);
	ck_assert_uint_le(dropped, 128);
	ck_assert_uint_ge(drops(n, 30), 2 * dropped);
	ck_assert(reach("10.99.0.3"));

	/* the other direction picks the same connections */
	part_set(&p, &e, FAULT_DIR_IN, 31);
	p.flows = 5000;
	sync_ok(n, &p, 1);
	udp_in(in);
	for (int i = 0; i < FLOWS; i++)
		ck_assert_msg(in[i] == out[i], "flow %d: out %d, in %d", i, out[i], in[i]);

	/* all flows: no hash in the rule; above all: refused */
	p.flows = 10000;
	sync_ok(n, &p, 1);
	j = nft_json();
	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_null(strstr(j, "symhash"));
	free(j);
	p.flows = 10001;
	diag_init(&d);
	ck_assert_int_eq(nl_nft_sync(n, &p, 1, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "share of flows 10001"));
	nl_nft_free(n);
}
END_TEST

/* Another program's socket owns a table inet chaosd (NFT_TABLE_F_OWNER): the kernel refuses to
 * touch it, sync fails as a whole with the failing step named, and nothing changes. */
static struct mnl_socket *owner_table_create(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	char buf[MNL_SOCKET_BUFFER_SIZE], rbuf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_nlmsg_batch *b;
	struct nftnl_table *t;
	struct nlmsghdr *nlh;
	uint32_t seq = 1;
	ssize_t k;

	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	memset(buf, 0, sizeof(buf)); /* libmnl leaves attribute padding as it finds it */
	b = mnl_nlmsg_batch_start(buf, sizeof(buf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	t = nftnl_table_alloc();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NL_NFT_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
	nlh = nftnl_table_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_NEWTABLE,
			NFPROTO_INET, NLM_F_CREATE | NLM_F_ACK, seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	mnl_nlmsg_batch_next(b);
	nftnl_batch_end(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	k = mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
	ck_assert_int_ge(k, 0);
	mnl_nlmsg_batch_stop(b);
	k = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
	ck_assert_int_gt(k, 0);
	ck_assert_int_ge(mnl_cb_run(rbuf, (size_t)k, 0, 0, NULL, NULL), 0);
	return nl;
}

START_TEST(test_kernel_refuses)
{
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p;
	struct mnl_socket *owner;
	struct edge e;
	struct diag d;

	/* nft 1.0.6 cannot print an owner flag in JSON: read the text. */
	owner = owner_table_create();
	RUN_OK("nft list table inet " NL_NFT_TABLE " | grep -q 'flags owner'");

	edge_set(&e, "a", "10.99.0.2", 32);
	part_set(&p, &e, FAULT_DIR_OUT, 1);
	diag_init(&d);
	ck_assert_int_eq(nl_nft_sync(n, &p, 1, &d), -EPERM);
	ck_assert_msg(strstr(diag_text(&d), "table inet chaosd") &&
					strstr(diag_text(&d), strerror(EPERM)),
			"diag: %s", diag_text(&d));
	diag_init(&d);
	ck_assert_int_eq(nl_nft_remove_all(n, &d), -EPERM);
	RUN_OK("nft list table inet " NL_NFT_TABLE " | grep -q 'flags owner'");
	ck_assert_int_ne(run("nft list table inet " NL_NFT_TABLE " | grep -q drop"), 0);
	ck_assert(reach("10.99.0.2"));

	/* The owner goes away, its table with it; now it is ours. */
	mnl_socket_close(owner);
	ck_assert_int_eq(nl_nft_table_exists(n), 0);
	sync_ok(n, &p, 1);
	ck_assert(!reach("10.99.0.2"));
	nl_nft_free(n);
}
END_TEST

/* Rules someone else put into our table are not counted and do not survive a sync. */
START_TEST(test_foreign_rules)
{
	struct nl_nft *n = open_nft();
	struct nl_nft_partition p;
	struct edge e;
	uint64_t before;

	edge_set(&e, "a", "10.99.0.2", 32);
	part_set(&p, &e, FAULT_DIR_OUT, 5);
	sync_ok(n, &p, 1);
	RUN_OK("nft add rule inet " NL_NFT_TABLE " postrouting ip daddr 10.99.0.3 counter");
	RUN_OK("nft add rule inet " NL_NFT_TABLE " postrouting ip daddr 10.99.0.3 counter "
	       "comment '\"chaosd fault 5x\"'");
	before = drops(n, 5);
	ck_assert(reach("10.99.0.3"));
	ck_assert_uint_eq(drops(n, 5), before);
	ck_assert_uint_eq(count_rules_all(), 3);
	sync_ok(n, &p, 1);
	ck_assert_uint_eq(count_rules_all(), 1);
	nl_nft_free(n);
}
END_TEST

/* nfnetlink refuses a batch as a whole by answering its BATCH_BEGIN, which asked for no ack (a
 * subsystem it cannot load, as when nf_tables is missing; here one that cannot exist): the
 * send must fail at once with that error, not wait for acks that never come. */
static void put_nfgen(struct nlmsghdr *nlh, uint8_t family, uint16_t res_id)
{
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(res_id);
}

START_TEST(test_batch_refused_whole)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct timespec t0, t1;
	struct nl_socket *s;
	struct nlmsghdr *nlh;
	struct nl_batch b;
	struct diag d;
	int r;

	ck_assert_int_eq(nl_socket_open(NETLINK_NETFILTER, &s), 0);
	ck_assert_int_eq(nl_batch_init(&b), 0);
	nlh = nl_batch_begin(&b, s, NFNL_MSG_BATCH_BEGIN, 0, "test batch");
	ck_assert_ptr_nonnull(nlh);
	put_nfgen(nlh, AF_UNSPEC, 200);
	ck_assert_int_eq(nl_batch_commit(&b), 0);
	nlh = nl_batch_begin(&b, s, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE, NLM_F_CREATE,
			"add table");
	ck_assert_ptr_nonnull(nlh);
	put_nfgen(nlh, NFPROTO_INET, 0);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NL_NFT_TABLE);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	ck_assert_int_eq(nl_batch_commit(&b), 0);
	nlh = nl_batch_begin(&b, s, NFNL_MSG_BATCH_END, 0, "test batch end");
	ck_assert_ptr_nonnull(nlh);
	put_nfgen(nlh, AF_UNSPEC, 200);
	ck_assert_int_eq(nl_batch_commit(&b), 0);

	diag_init(&d);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = nl_batch_send(&b, s, NULL, &d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_int_eq(b.errs[0], -EINVAL);
	ck_assert_int_eq(b.errs[1], -EINVAL);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 2);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "test batch"));
	ck_assert_int_ne(run("nft list table inet " NL_NFT_TABLE " >/dev/null 2>&1"), 0);
	nl_batch_done(&b);
	nl_socket_free(s);
}
END_TEST

static Suite *nl_nft_suite(void)
{
	Suite *s = suite_create("nl_nft");
	TCase *tc = tcase_create("kernel");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_direction, 0, 6);
	tcase_add_test(tc, test_multi_prefix);
	tcase_add_loop_test(tc, test_port, 0, 4);
	tcase_add_test(tc, test_port_any_proto);
	tcase_add_test(tc, test_sync_keeps_others);
	tcase_add_test(tc, test_flows);
	tcase_add_test(tc, test_remove_all);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_kernel_refuses);
	tcase_add_test(tc, test_foreign_rules);
	tcase_add_test(tc, test_batch_refused_whole);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{

	/* Namespaces, veth and nf_tables need root; automake counts 77 as skipped. */
	if (geteuid() != 0)
		return test_skip("test-nl-nft", "needs root");
	if (run("command -v nft >/dev/null && command -v ip >/dev/null && "
		"command -v nsenter >/dev/null && command -v ping >/dev/null") != 0)
		return test_skip("test-nl-nft", "needs nft, ip, nsenter and ping");
	return test_run_suite(nl_nft_suite());
}
