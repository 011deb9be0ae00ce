/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The measuring half of `make bench` (bench/guest.sh runs it in the VM). The kernel is watched
 * from outside chaosd, through rtnetlink notifications, so a time is when the kernel made the
 * change, not when a program said it did.
 *
 *   benchtool gone DEV [--out FILE] [--cmds FILE | -- CMD ARGS...]
 *       Run the command(s) one after another (fork/exec, no shell: what a tc-exec tool does)
 *       and wait until none of chaosd's objects is left: chd-* links, and DEV's clsact or, if
 *       that stays, the u32 instances at chaosd's priorities. Prints "gone_us cmd_us".
 *   benchtool appear DEV COUNT [--out FILE] [--cmds FILE | -- CMD ARGS...]
 *       The same, until COUNT u32 nodes with a mirred redirect were added on DEV (a fault is
 *       in effect once its redirect is). Prints "visible_us cmd_us". --out: the commands'
 *       output goes to FILE (else /dev/null).
 *   benchtool inject SOCKET DEV EDGE_PREFIX FIRST COUNT MS [rt]
 *       One connection to chaosd; for each edge EDGE_PREFIX<i> an inject request (latency MS
 *       ms, egress), one at a time. Prints "rt_us visible_us" per request: the request's round
 *       trip, and the time until its redirect showed up on DEV; with rt only the round trip,
 *       and nothing listens to rtnetlink meanwhile (as for bench/floor).
 *   benchtool ping SOCKET COUNT
 *       The floor under the inject times: COUNT `ping` requests (no kernel work, no journal)
 *       over one connection, one at a time. Prints "rt_us" per request.
 *   benchtool notify PATH
 *       Stand in for systemd's notification socket at PATH: prints the time (as /proc/uptime
 *       counts) of every WATCHDOG=1 ping, chaosd's only expected wakeups when idle.
 *   benchtool serve PORT | bulk ADDR PORT SECONDS | rr ADDR PORT COUNT
 *       Unaffected-traffic probes: a TCP sink and echo server; a bulk sender (prints Mbit/s);
 *       a one-byte ping-pong over TCP_NODELAY (prints the median and p99 round trip in us). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "datapath.h"
#include "macro.h"
#include "nl_link.h"
#include "nl_socket.h"
#include "nl_tc.h"
#include "parse.h"
#include "proto.h"

#define WAIT_MAX_USEC (900ULL * 1000000)

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int parse_unsigned(const char *s, unsigned *ret)
{
	uint64_t v;
	int r = parse_u64_range(s, 0, UINT32_MAX, &v);

	if (r >= 0)
		*ret = (unsigned)v;
	return r;
}

static int die(const char *what, int r)
{
	fprintf(stderr, "benchtool: %s: %s\n", what, strerror(r < 0 ? -r : r));
	return 1;
}

/* ---------------------------------------------------------------- the kernel, watched */

struct watch {
	int dev;
	/* gone */
	int *links; /* chd-* ifindexes still there */
	unsigned n_links;
	bool clsact;  /* DEV has a clsact */
	unsigned tps; /* chaosd's u32 instances on DEV still there */
	/* appear */
	unsigned redirects;
};

static int mon_open(struct mnl_socket **ret)
{
	struct mnl_socket *m = mnl_socket_open(NETLINK_ROUTE);
	int big = 64 * 1024 * 1024;

	if (!m)
		return negative_errno();
	/* A kill of 1000 faults is a burst of notifications: none may be lost. */
	(void)setsockopt(mnl_socket_get_fd(m), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (mnl_socket_bind(m, RTMGRP_LINK | RTMGRP_TC, MNL_SOCKET_AUTOPID) < 0) {
		int r = negative_errno();
		mnl_socket_close(m);
		return r;
	}
	*ret = m;
	return 0;
}

static int link_cb(const struct nl_link_info *l, void *userdata)
{
	struct watch *w = userdata;
	int *a = reallocarray(w->links, w->n_links + 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	w->links = a;
	a[w->n_links++] = l->ifindex;
	return 0;
}

static bool our_prio(uint16_t prio)
{
	return prio == NL_TC_PRIO_V4 || prio == NL_TC_PRIO_V6;
}

struct tp_seen {
	uint32_t parent[8];
	uint16_t prio[8];
	unsigned n;
};

static int qdisc_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct watch *w = userdata;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) == 0 && o.ifindex == w->dev && streq(o.kind, "clsact"))
		w->clsact = true;
	return 0;
}

static int filter_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct tp_seen *t = userdata;
	struct nl_tc_obj o;

	if (nl_tc_parse(nlh, &o) < 0 || !our_prio(nl_tc_obj_prio(&o)))
		return 0;
	for (unsigned i = 0; i < t->n; i++)
		if (t->parent[i] == o.parent && t->prio[i] == nl_tc_obj_prio(&o))
			return 0;
	if (t->n < ELEMENTSOF(t->prio)) {
		t->parent[t->n] = o.parent;
		t->prio[t->n++] = nl_tc_obj_prio(&o);
	}
	return 0;
}

/* What of chaosd's is in the kernel right now. */
static int watch_scan(struct watch *w)
{
	static const uint32_t parents[] = { NL_TC_EGRESS_PARENT, NL_TC_INGRESS_PARENT };
	struct nl_socket *s;
	struct tp_seen t = {};
	char buf[NL_TC_REQ_SIZE];
	int r;

	r = nl_socket_open(NETLINK_ROUTE, &s);
	if (r < 0)
		return r;
	r = nl_link_list_ifbs(s, DATAPATH_IFB_PREFIX, link_cb, w, NULL);
	if (r >= 0)
		r = nl_socket_dump(s, nl_tc_qdisc_dump_req(buf), qdisc_cb, w, NULL);
	for (unsigned i = 0; i < ELEMENTSOF(parents) && r >= 0 && w->clsact; i++) {
		r = nl_socket_dump(s, nl_tc_filter_dump_req(buf, w->dev, parents[i], 0, 0),
				filter_cb, &t, NULL);
		/* a dump shows the u32 state of the whole qdisc: count each parent once */
		for (unsigned k = 0; k < t.n; k++)
			w->tps += t.parent[k] == parents[i];
	}
	nl_socket_free(s);
	return r;
}

static bool watch_gone(const struct watch *w)
{
	return w->n_links == 0 && (!w->clsact || w->tps == 0);
}

static void watch_event(struct watch *w, const struct nlmsghdr *nlh)
{
	struct nl_tc_u32_info u;
	struct nl_tc_obj o;

	if (nlh->nlmsg_type == RTM_DELLINK) {
		const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
		for (unsigned i = 0; i < w->n_links; i++)
			if (w->links[i] == ifi->ifi_index) {
				w->links[i] = w->links[--w->n_links];
				break;
			}
		return;
	}
	if (nl_tc_parse(nlh, &o) < 0 || o.ifindex != w->dev)
		return;
	if (nlh->nlmsg_type == RTM_DELQDISC && streq(o.kind, "clsact"))
		w->clsact = false;
	else if (nlh->nlmsg_type == RTM_DELTFILTER && o.handle == 0 &&
			our_prio(nl_tc_obj_prio(&o)) && w->tps > 0)
		w->tps--;
	else if (nlh->nlmsg_type == RTM_NEWTFILTER && TC_U32_KEY(o.handle) &&
			nl_tc_u32_parse(&o, &u) == 0 && u.redirect_ifindex)
		w->redirects++;
}

/* Read what is queued, or wait up to timeout_ms for more. 0 on timeout. */
static int mon_read(struct mnl_socket *m, struct watch *w, int timeout_ms)
{
	static char buf[256 * 1024];
	struct pollfd p = { .fd = mnl_socket_get_fd(m), .events = POLLIN };
	ssize_t n;
	int r;

	r = poll(&p, 1, timeout_ms);
	if (r <= 0)
		return r < 0 ? negative_errno() : 0;
	n = recv(p.fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? 0 : negative_errno(); /* ENOBUFS: a lost event */
	for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, (int)n);
			nlh = mnl_nlmsg_next(nlh, (int *)&n))
		watch_event(w, nlh);
	return 1;
}

/* Commands: argv of one, or a file with one per line (words split on blanks). */
struct cmds {
	char ***argv;
	unsigned n;
};

static int cmds_load(const char *path, struct cmds *ret)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return negative_errno();
	while (getline(&line, &cap, f) > 0) {
		char **args = NULL, *save = NULL;
		unsigned n = 0;
		for (char *t = strtok_r(line, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
			args = reallocarray(args, n + 2, sizeof(*args));
			if (!args || !(args[n++] = strdup(t))) {
				fclose(f);
				return -ENOMEM;
			}
			args[n] = NULL;
		}
		if (n == 0)
			continue;
		char ***a = reallocarray(ret->argv, ret->n + 1, sizeof(*a));
		if (!a) {
			fclose(f);
			return -ENOMEM;
		}
		ret->argv = a;
		a[ret->n++] = args;
	}
	fclose(f);
	return 0;
}

/* Start a command; its stdout goes to out_path (appended), else /dev/null. */
static const char *out_path;

static pid_t cmd_start(char **argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(out_path ? out_path : "/dev/null",
				O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int run_watched(struct mnl_socket *m, struct watch *w, const struct cmds *c, bool gone,
		unsigned want)
{
	uint64_t t0, t_done = 0, t_cmd = 0;
	unsigned next = 0;
	int status = 0;
	pid_t pid;

	t0 = now_us();
	pid = c->n ? cmd_start(c->argv[next++]) : -1;
	for (;;) {
		bool done = gone ? watch_gone(w) : w->redirects >= want;
		if (done && !t_done)
			t_done = now_us();
		if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				fprintf(stderr, "benchtool: %s failed (status %d)\n",
						c->argv[next - 1][0], status);
			pid = next < c->n ? cmd_start(c->argv[next++]) : -1;
			if (pid < 0)
				t_cmd = now_us();
		}
		if (t_done && t_cmd)
			break;
		if (now_us() - t0 > WAIT_MAX_USEC) {
			fprintf(stderr, "benchtool: gave up waiting (%u links, clsact %d, %u "
					"instances, %u redirects left)\n",
					w->n_links, w->clsact, w->tps, w->redirects);
			return 1;
		}
		/* the child's exit is noticed within a millisecond; events at once */
		int r = mon_read(m, w, t_done ? 1 : (pid > 0 ? 1 : 100));
		if (r < 0) {
			fprintf(stderr, "benchtool: monitor: %s\n", strerror(-r));
			return 1;
		}
	}
	printf("%llu %llu\n", (unsigned long long)(t_done - t0), (unsigned long long)(t_cmd - t0));
	return 0;
}

static int cmd_watch(int argc, char **argv, bool gone)
{
	struct watch w = {};
	struct cmds c = {};
	struct mnl_socket *m;
	unsigned want = 0;
	int i = 2, r;

	if (argc < 4)
		return die("usage", EINVAL);
	w.dev = (int)if_nametoindex(argv[i++]);
	if (w.dev <= 0)
		return die(argv[2], ENODEV);
	if (!gone && parse_unsigned(argv[i++], &want) < 0)
		return die("count", EINVAL);
	if (i + 1 < argc && streq(argv[i], "--out")) {
		out_path = argv[i + 1];
		i += 2;
	}
	if (i + 1 < argc && streq(argv[i], "--cmds")) {
		r = cmds_load(argv[i + 1], &c);
		if (r < 0)
			return die(argv[i + 1], r);
	} else if (i < argc && streq(argv[i], "--")) {
		c.argv = calloc(1, sizeof(*c.argv));
		if (!c.argv)
			return die("memory", ENOMEM);
		c.argv[0] = argv + i + 1;
		c.n = argc > i + 1;
	}
	/* subscribe first, then take stock: nothing can slip between the two */
	r = mon_open(&m);
	if (r >= 0 && gone)
		r = watch_scan(&w);
	if (r < 0)
		return die("netlink", r);
	r = run_watched(m, &w, &c, gone, want);
	mnl_socket_close(m);
	return r;
}

/* ---------------------------------------------------------------- chaosd, one connection */

static int send_all(int fd, const void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)buf + off, len - off);
		if (n < 0)
			return negative_errno();
		off += (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = read(fd, (char *)buf + off, len - off);
		if (n <= 0)
			return n < 0 ? negative_errno() : -ECONNRESET;
		off += (size_t)n;
	}
	return 0;
}

/* Send the request PW holds (and release it), read the reply; *ret_ok: chaosd said yes. */
static int request(int fd, struct proto_writer *pw, const char *what, bool *ret_ok)
{
	struct proto_header h;
	uint8_t hdr[PROTO_HEADER_SIZE];
	_cleanup_free_ char *payload = NULL;
	const void *buf;
	size_t len;
	int r;

	r = proto_writer_finish(pw, &buf, &len);
	if (r >= 0)
		r = send_all(fd, buf, len);
	proto_writer_done(pw);
	if (r >= 0)
		r = recv_all(fd, hdr, sizeof(hdr));
	if (r >= 0)
		r = proto_header_decode(hdr, sizeof(hdr), PROTO_MAX_REPLY, &h, NULL);
	if (r < 0)
		return r;
	payload = malloc(h.length + 1);
	if (!payload)
		return -ENOMEM;
	r = recv_all(fd, payload, h.length);
	if (r < 0)
		return r;
	*ret_ok = h.type == PROTO_REPLY_OK;
	if (!*ret_ok) {
		payload[h.length] = '\0';
		for (size_t i = 0; i < h.length; i++)
			if (payload[i] == '\0')
				payload[i] = ' ';
		fprintf(stderr, "benchtool: %s refused: %s\n", what, payload);
	}
	return 0;
}

static int inject_one(int fd, const char *edge, const char *ms, bool *ret_ok)
{
	struct proto_writer pw;

	proto_writer_init(&pw, PROTO_INJECT, PROTO_MAX_REQUEST);
	proto_put(&pw, "kind", "latency");
	proto_put(&pw, "edge", edge);
	proto_put(&pw, "ms", ms);
	proto_put(&pw, "for", "1h");
	return request(fd, &pw, edge, ret_ok);
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = negative_errno();
		safe_close(fd);
		return r;
	}
	return fd;
}

static int cmd_ping(int argc, char **argv)
{
	_cleanup_close_ int fd = -EBADF;
	unsigned count;

	if (argc != 4 || parse_unsigned(argv[3], &count) < 0)
		return die("usage", EINVAL);
	fd = unix_connect(argv[2]);
	if (fd < 0)
		return die(argv[2], -fd);
	for (unsigned i = 0; i < count; i++) {
		struct proto_writer pw;
		uint64_t t0 = now_us();
		bool ok;
		int r;

		proto_writer_init(&pw, PROTO_PING, PROTO_MAX_REQUEST);
		r = request(fd, &pw, "ping", &ok);
		if (r < 0 || !ok)
			return r < 0 ? die("ping", r) : 1;
		printf("%llu\n", (unsigned long long)(now_us() - t0));
	}
	return 0;
}

static int cmd_inject(int argc, char **argv)
{
	_cleanup_close_ int fd = -EBADF;
	struct watch w = {};
	struct mnl_socket *m = NULL;
	unsigned first, count;
	int r;

	bool rt_only = argc == 9 && streq(argv[8], "rt");

	if ((argc != 8 && !rt_only) || parse_unsigned(argv[5], &first) < 0 ||
			parse_unsigned(argv[6], &count) < 0)
		return die("usage", EINVAL);
	w.dev = (int)if_nametoindex(argv[3]);
	if (w.dev <= 0)
		return die(argv[3], ENODEV);
	fd = unix_connect(argv[2]);
	if (fd < 0)
		return die(argv[2], -fd);
	/* rt: no listener, whose wakeups would cost chaosd's sends what the floor's do not */
	r = rt_only ? 0 : mon_open(&m);
	if (r < 0)
		return die("netlink", r);
	for (unsigned i = first; i < first + count; i++) {
		char edge[EDGE_NAME_MAX + 1];
		uint64_t t0, t_rt, t_vis = 0;
		unsigned before = w.redirects;
		bool ok;

		snprintf(edge, sizeof(edge), "%s%u", argv[4], i);
		t0 = now_us();
		r = inject_one(fd, edge, argv[7], &ok);
		t_rt = now_us();
		if (r < 0 || !ok) {
			if (m)
				mnl_socket_close(m);
			return r < 0 ? die("inject", r) : 1;
		}
		if (rt_only) {
			printf("%llu\n", (unsigned long long)(t_rt - t0));
			continue;
		}
		/* the redirect came in before the reply, or comes soon after */
		while (w.redirects == before && now_us() - t0 < 10 * 1000000)
			if (mon_read(m, &w, 10) < 0)
				break;
		if (w.redirects > before)
			t_vis = now_us();
		printf("%llu %llu\n", (unsigned long long)(t_rt - t0),
				(unsigned long long)(t_vis ? t_vis - t0 : 0));
	}
	if (m)
		mnl_socket_close(m);
	return 0;
}

/* ---------------------------------------------------------------- idle */

static int cmd_notify(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -EBADF;

	if (argc != 3)
		return die("usage", EINVAL);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
	(void)unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die(argv[2], errno);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		struct timespec ts;
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* the clock of /proc/uptime, which the script reads around its window */
		clock_gettime(CLOCK_BOOTTIME, &ts);
		if (strstr(buf, "WATCHDOG=1"))
			printf("%lld.%03ld\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	}
}

/* ---------------------------------------------------------------- unaffected traffic */

static int tcp_connect(const char *addr, const char *port)
{
	struct sockaddr_storage ss = {};
	unsigned p;
	int fd, one = 1;

	if (parse_unsigned(port, &p) < 0 || p > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)p);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)p);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sizeof(ss)) < 0) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	return fd;
}

static void serve_one(int fd)
{
	static char buf[256 * 1024];
	char mode;

	if (read(fd, &mode, 1) != 1)
		return;
	if (mode == 'B') {
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	} else {
		char c;
		while (read(fd, &c, 1) == 1 && write(fd, &c, 1) == 1)
			;
	}
}

static int cmd_serve(int argc, char **argv)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	unsigned port;
	int fd, one = 1;

	if (argc != 3 || parse_unsigned(argv[2], &port) < 0 || port > 65535)
		return die("usage", EINVAL);
	sa.sin6_port = htons((uint16_t)port);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
			bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
		return die("listen", errno);
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (fork() == 0) {
			close(fd); /* the port is the parent's alone */
			serve_one(c);
			_exit(0);
		}
		close(c);
	}
}

static int cmd_bulk(int argc, char **argv)
{
	static char buf[128 * 1024];
	uint64_t t0, t1, bytes = 0;
	unsigned secs;
	int fd;

	if (argc != 5 || parse_unsigned(argv[4], &secs) < 0)
		return die("usage", EINVAL);
	fd = tcp_connect(argv[2], argv[3]);
	if (fd < 0)
		return die("connect", fd);
	if (write(fd, "B", 1) != 1)
		return die("write", errno);
	t0 = now_us();
	do {
		ssize_t n = write(fd, buf, sizeof(buf));
		if (n < 0)
			return die("write", errno);
		bytes += (uint64_t)n;
		t1 = now_us();
	} while (t1 - t0 < (uint64_t)secs * 1000000);
	close(fd);
	printf("%.1f\n", (double)bytes * 8 / (double)(t1 - t0));
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmd_rr(int argc, char **argv)
{
	_cleanup_free_ uint64_t *rtt = NULL;
	unsigned count;
	int fd;

	if (argc != 5 || parse_unsigned(argv[4], &count) < 0 || count == 0)
		return die("usage", EINVAL);
	rtt = calloc(count, sizeof(*rtt));
	if (!rtt)
		return die("memory", ENOMEM);
	fd = tcp_connect(argv[2], argv[3]);
	if (fd < 0)
		return die("connect", fd);
	if (write(fd, "R", 1) != 1)
		return die("write", errno);
	for (unsigned i = 0; i < count; i++) {
		uint64_t t0 = now_us();
		char c = 'x';
		if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
			return die("ping-pong", errno ? errno : ECONNRESET);
		rtt[i] = now_us() - t0;
	}
	close(fd);
	qsort(rtt, count, sizeof(*rtt), cmp_u64);
	printf("%llu %llu\n", (unsigned long long)rtt[count / 2],
			(unsigned long long)rtt[(size_t)((count - 1) * 0.99)]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return die("usage: see the top of bench/benchtool.c", EINVAL);
	if (streq(argv[1], "gone"))
		return cmd_watch(argc, argv, true);
	if (streq(argv[1], "appear"))
		return cmd_watch(argc, argv, false);
	if (streq(argv[1], "inject"))
		return cmd_inject(argc, argv);
	if (streq(argv[1], "ping"))
		return cmd_ping(argc, argv);
	if (streq(argv[1], "notify"))
		return cmd_notify(argc, argv);
	if (streq(argv[1], "serve"))
		return cmd_serve(argc, argv);
	if (streq(argv[1], "bulk"))
		return cmd_bulk(argc, argv);
	if (streq(argv[1], "rr"))
		return cmd_rr(argc, argv);
	return die(argv[1], EINVAL);
}
