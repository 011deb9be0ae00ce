/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The floor under chaosd's apply and kill switch (`make bench`, bench/guest.sh): the kernel
 * objects chaosd makes for a latency fault on an egress edge, made with nothing else around
 * them. Messages come from chaosd's own builders (src/nl_tc.c, src/nl_link.c), so the kernel
 * does the same work byte for byte; everything chaosd does besides that is what the ratio
 * measures. Per fault i (edge e<i>, 10.99.<i/250>.<i%250+1>/32, as guest.sh's config): class
 * 1:<i+2> with its netem on IFB shard i/512 (chd-o<ifindex>[s<k>], chaosd's names and sizes),
 * the u32 node in bucket <last byte> of table 0x420 on the IFB, and the same node with the
 * mirred redirect on the interface; the first fault of a shard also makes the IFB (its own
 * request, as chaosd: the redirect needs its index), its htb root, table and link node, and
 * the first fault the clsact and the interface's table and link. One sendmsg per batch.
 *
 *   floor apply DEV COUNT MS   make COUNT faults one by one; prints each one's time (us)
 *   floor apply-rt DEV COUNT MS  the same batches made by a second process, one per request
 *                              over a UNIX socket, timed by the first from request to reply:
 *                              the floor plus the round trip any daemon pays, which on an
 *                              emulated CPU costs more than the batch itself
 *   floor apply-daemon DEV COUNT MS DIR  the same, the server a minimal daemon with the duties
 *                              the brief and issue 8 give chaosd, and only those: one sd-event
 *                              loop with a deadline timer armed, and per request a write-ahead
 *                              record made durable (RWF_DSYNC) before the batch, a confirmation
 *                              record after its ack, an audit line, then the reply (files in
 *                              DIR, which should be chaosd's state directory's file system)
 *   floor kill DEV             remove them all in one batch: DEV's clsact (every filter on it)
 *                              and every IFB at once (one RTM_DELLINK of chaosd's link group);
 *                              prints the time (us) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "datapath.h"
#include "macro.h"
#include "netem.h"
#include "nl_link.h"
#include "nl_socket.h"
#include "nl_tc.h"
#include "parse.h"
#include "timeutil.h"

/* chaosd's numbers (src/dp-ifb.c, src/dp-classify.c, src/dp-internal.h) */
#define SHARD_CLASSES 512
#define IFB_ROOT      0x00010000U
#define HTB_RATE      UINT64_C(125000000000)
#define HTB_BURST     (256 * 1024)
#define HTB_QUANTUM   200000
#define HTB_QLEN      1000
#define HT_V4_32      ((0x400U | 32U) << 20) /* egress, IPv4, group /32 */
#define LINK_NODE_32  33U
#define LINK_RATE_BPS UINT64_C(10000000000) /* guest.sh's link_rate = 10gbit */

struct floor {
	struct nl_socket *nl;
	struct nl_batch b;
	int ifindex;
	char dev[IF_NAMESIZE];
	int ifb[8];
	char ifb_name[8][IF_NAMESIZE];
};

static int fail(const char *what, int r, const struct diag *d)
{
	fprintf(stderr, "floor: %s: %s%s%s\n", what, strerror(r < 0 ? -r : r), d ? ": " : "",
			d ? diag_text(d) : "");
	return 1;
}

static int send_batch(struct floor *f, const char *what)
{
	struct diag d;
	int r;

	diag_init(&d);
	r = nl_batch_send(&f->b, f->nl, NULL, &d);
	nl_batch_reset(&f->b);
	return r < 0 ? fail(what, r, &d) : 0;
}

static int put_group_add(struct floor *f, struct nl_tc_dev dev, uint32_t parent)
{
	struct nl_tc_match all = { .family = AF_INET };
	struct nl_tc_u32 u = { .ifindex = dev.ifindex, .parent = parent, .prio = NL_TC_PRIO_V4,
		.protocol = ETH_P_IP, .handle = LINK_NODE_32, .link = HT_V4_32, .hash_off = 16,
		.hash_mask = 0xff };
	int r = nl_tc_u32_table_add(&f->b, f->nl, dev, parent, NL_TC_PRIO_V4, ETH_P_IP, HT_V4_32,
			256);

	return r < 0 ? r : nl_tc_u32_add(&f->b, f->nl, &u, &all, dev.name);
}

static int new_shard(struct floor *f, unsigned k)
{
	char *name = f->ifb_name[k];
	int r;

	if (k == 0)
		snprintf(name, IF_NAMESIZE, DATAPATH_IFB_PREFIX "o%d", f->ifindex);
	else
		snprintf(name, IF_NAMESIZE, DATAPATH_IFB_PREFIX "o%ds%u", f->ifindex, k);
	r = nl_link_ifb_add(&f->b, f->nl, name, NL_LINK_IFB_TXQLEN, DATAPATH_IFB_GROUP);
	if (r < 0 || (r = send_batch(f, "create IFB")) != 0)
		return r < 0 ? fail("create IFB", r, NULL) : r;
	r = nl_link_ifindex(f->nl, name, &f->ifb[k]);
	if (r < 0)
		return fail(name, r, NULL);
	return 0;
}

static int apply_one(struct floor *f, unsigned i, const struct netem_config *cfg)
{
	unsigned k = i / SHARD_CLASSES, id = i + 2;
	struct nl_tc_dev real = { f->ifindex, f->dev };
	struct nl_tc_match m = { .family = AF_INET, .prefix_len = 32 };
	uint8_t bucket = (uint8_t)(i % 250 + 1);
	struct nl_tc_dev ifb;
	int r = 0;

	if (i % SHARD_CLASSES == 0 && (r = new_shard(f, k)) != 0)
		return r;
	ifb = (struct nl_tc_dev){ f->ifb[k], f->ifb_name[k] };
	m.addr[0] = 10, m.addr[1] = 99, m.addr[2] = (uint8_t)(i / 250), m.addr[3] = bucket;
	if (i == 0)
		r = nl_tc_clsact_add(&f->b, f->nl, real);
	if (r >= 0 && i % SHARD_CLASSES == 0)
		r = nl_tc_htb_root_add(&f->b, f->nl, ifb, IFB_ROOT, HTB_QLEN);
	if (r >= 0)
		r = nl_tc_htb_class_add(&f->b, f->nl, ifb, IFB_ROOT, IFB_ROOT | id, HTB_RATE,
				HTB_BURST, HTB_QUANTUM);
	if (r >= 0)
		r = nl_tc_netem_put(&f->b, f->nl, ifb, IFB_ROOT | id, id << 16, cfg, NULL, false);
	if (r >= 0 && i % SHARD_CLASSES == 0)
		r = put_group_add(f, ifb, IFB_ROOT);
	if (r >= 0)
		r = nl_tc_u32_add(&f->b, f->nl,
				&(struct nl_tc_u32){ .ifindex = ifb.ifindex, .parent = IFB_ROOT,
					.prio = NL_TC_PRIO_V4, .protocol = ETH_P_IP,
					.handle = i + 1, .ht = HT_V4_32 | (uint32_t)bucket << 12,
					.classid = IFB_ROOT | id },
				&m, ifb.name);
	if (r >= 0 && i == 0)
		r = put_group_add(f, real, NL_TC_EGRESS_PARENT);
	if (r >= 0)
		r = nl_tc_u32_add(&f->b, f->nl,
				&(struct nl_tc_u32){ .ifindex = real.ifindex,
					.parent = NL_TC_EGRESS_PARENT, .prio = NL_TC_PRIO_V4,
					.protocol = ETH_P_IP, .handle = i + 1,
					.ht = HT_V4_32 | (uint32_t)bucket << 12,
					.redirect_ifindex = ifb.ifindex },
				&m, real.name);
	if (r < 0)
		return fail("building the batch", r, NULL);
	return send_batch(f, "apply");
}

/* The server side of apply-rt: a request is a 4-byte fault number, the reply one byte (0 ok). */
static int serve(struct floor *f, int fd, const struct netem_config *cfg)
{
	uint32_t i;
	ssize_t n;

	while ((n = recv(fd, &i, sizeof(i), 0)) == (ssize_t)sizeof(i)) {
		char ok = apply_one(f, i, cfg) == 0 ? 0 : 1;

		if (send(fd, &ok, 1, MSG_NOSIGNAL) != 1)
			return 1;
	}
	return n == 0 ? 0 : 1;
}

/* apply-daemon's server: its state and one request's work */
struct daemon {
	struct floor *f;
	const struct netem_config *cfg;
	sd_event_source *deadline;
	int journal, audit, status;
};

static int append(int fd, bool durable, const char *fmt, ...) _printf_(3, 4);
static int append(int fd, bool durable, const char *fmt, ...)
{
	char line[256];
	struct iovec iov = { .iov_base = line };
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -EINVAL;
	iov.iov_len = (size_t)n;
	return pwritev2(fd, &iov, 1, -1, durable ? RWF_DSYNC : 0) == n ? 0 : -EIO;
}

static int on_deadline(sd_event_source *es, uint64_t usec, void *userdata)
{
	(void)es, (void)usec, (void)userdata;
	return 0;
}

static int on_request(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct daemon *dm = userdata;
	uint64_t now;
	uint32_t i;
	ssize_t n;
	char ok;

	(void)revents;
	n = recv(fd, &i, sizeof(i), MSG_DONTWAIT);
	if (n != (ssize_t)sizeof(i)) {
		dm->status = n == 0 ? 0 : 1;
		return sd_event_exit(sd_event_source_get_event(es), 0);
	}
	(void)sd_event_now(sd_event_source_get_event(es), CLOCK_MONOTONIC, &now);
	ok = append(dm->journal, true, "%u 0 0 0 e%u latency pending ms=10 direction=out\n",
			     i + 1, i) == 0 &&
			apply_one(dm->f, i, dm->cfg) == 0 &&
			append(dm->journal, false, "%u applied\n", i + 1) == 0 &&
			append(dm->audit, false, "audit: action=inject id=%u edge='e%u' fault=latency "
					"params='ms=10' uid=0 pid=0 result='ok'\n", i + 1, i) == 0 ?
			0 : 1;
	/* every fault has a deadline: the earliest stays the first one's, as in chaosd */
	if (i == 0)
		(void)sd_event_source_set_time(dm->deadline, now + 600 * USEC_PER_SEC);
	if (send(fd, &ok, 1, MSG_NOSIGNAL) != 1) {
		dm->status = 1;
		return sd_event_exit(sd_event_source_get_event(es), 0);
	}
	return 0;
}

static int serve_daemon(struct floor *f, int fd, const struct netem_config *cfg, const char *dir)
{
	struct daemon dm = { .f = f, .cfg = cfg, .status = 1 };
	sd_event *e = NULL;
	sd_event_source *io = NULL;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/floor.journal", dir);
	dm.journal = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	snprintf(path, sizeof(path), "%s/floor.audit", dir);
	dm.audit = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (dm.journal < 0 || dm.audit < 0 || sd_event_new(&e) < 0 ||
			sd_event_add_io(e, &io, fd, EPOLLIN, on_request, &dm) < 0 ||
			sd_event_add_time(e, &dm.deadline, CLOCK_MONOTONIC, UINT64_MAX, USEC_PER_MSEC,
					on_deadline, &dm) < 0 ||
			sd_event_loop(e) < 0)
		dm.status = 1;
	sd_event_source_unref(io);
	sd_event_source_unref(dm.deadline);
	sd_event_unref(e);
	return dm.status;
}

static int apply_rt(struct floor *f, uint64_t count, const struct netem_config *cfg,
		const char *dir)
{
	int sv[2], status, r = 0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return fail("socketpair", -errno, NULL);
	pid = fork();
	if (pid < 0)
		return fail("fork", -errno, NULL);
	if (pid == 0) {
		close(sv[0]);
		_exit(dir ? serve_daemon(f, sv[1], cfg, dir) : serve(f, sv[1], cfg));
	}
	close(sv[1]);
	for (uint32_t i = 0; i < count && r == 0; i++) {
		uint64_t t0 = now_usec(CLOCK_MONOTONIC);
		char ok = 1;

		if (send(sv[0], &i, sizeof(i), MSG_NOSIGNAL) != (ssize_t)sizeof(i) ||
				recv(sv[0], &ok, 1, 0) != 1 || ok != 0)
			r = 1;
		else
			printf("%" PRIu64 "\n", now_usec(CLOCK_MONOTONIC) - t0);
	}
	close(sv[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		r = 1;
	return r;
}

int main(int argc, char **argv)
{
	struct floor f = {};
	uint64_t count = 0, ms = 0, t0;
	int r;

	bool daemon = argc > 1 && !strcmp(argv[1], "apply-daemon");
	bool rt = daemon || (argc > 1 && !strcmp(argv[1], "apply-rt"));

	if (argc < 3 || (strcmp(argv[1], "apply") && strcmp(argv[1], "kill") && !rt) ||
			((rt || !strcmp(argv[1], "apply")) &&
					(argc != 5 + daemon || parse_u64_range(argv[3], 1, 4000, &count) < 0 ||
							parse_u64_range(argv[4], 1, 10000, &ms) < 0))) {
		fprintf(stderr, "usage: floor apply|apply-rt DEV COUNT MS | floor apply-daemon DEV "
				"COUNT MS DIR | floor kill DEV\n");
		return 2;
	}
	snprintf(f.dev, sizeof(f.dev), "%s", argv[2]);
	f.ifindex = (int)if_nametoindex(f.dev);
	if (!f.ifindex)
		return fail(f.dev, -errno, NULL);
	r = nl_socket_open(NETLINK_ROUTE, &f.nl);
	if (r < 0)
		return fail("netlink socket", r, NULL);
	r = nl_batch_init(&f.b);
	if (r < 0)
		return fail("batch", r, NULL);
	if (!strcmp(argv[1], "kill")) {
		t0 = now_usec(CLOCK_MONOTONIC);
		r = nl_tc_clsact_del(&f.b, f.nl, (struct nl_tc_dev){ f.ifindex, f.dev });
		if (r >= 0)
			r = nl_link_group_del(&f.b, f.nl, DATAPATH_IFB_GROUP);
		if (r < 0)
			return fail("building the batch", r, NULL);
		r = send_batch(&f, "kill");
		if (r == 0)
			printf("%" PRIu64 "\n", now_usec(CLOCK_MONOTONIC) - t0);
	} else {
		struct netem_config cfg = { .dist = FAULT_DIST_UNIFORM,
			.latency_ns = (int64_t)ms * 1000000 };

		cfg.limit = netem_limit_for(cfg.latency_ns, 0, LINK_RATE_BPS);
		if (rt)
			r = apply_rt(&f, count, &cfg, daemon ? argv[5] : NULL);
		for (unsigned i = 0; !rt && i < count && r == 0; i++) {
			t0 = now_usec(CLOCK_MONOTONIC);
			r = apply_one(&f, i, &cfg);
			if (r == 0)
				printf("%" PRIu64 "\n", now_usec(CLOCK_MONOTONIC) - t0);
		}
	}
	nl_batch_done(&f.b);
	nl_socket_free(f.nl);
	return r;
}
