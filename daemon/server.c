/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "audit.h"
#include "fileio.h"
#include "flowsel.h"
#include "metrics.h"
#include "notify.h"
#include "parse.h"
#include "proto.h"
#include "runner.h"
#include "server.h"

/* A client that sends nothing for this long is disconnected: it must not hold a slot forever,
 * and since every client is non-blocking it can never delay anyone else meanwhile. */
#define CLIENT_IDLE_USEC  (60 * USEC_PER_SEC)
#define CLIENT_OUT_MAX    (32 * 1024 * 1024)
#define CLIENTS_MAX       256
/* Fairness: one client's burst must not hold the loop while a kill request waits. Each wakeup
 * handles a few requests of a client, and a client that does not read its replies gets no
 * more work done until it does. */
#define CLIENT_FRAMES_PER_WAKEUP 8
#define CLIENT_OUT_HIGH          (1024 * 1024)

struct active_fault {
	uint64_t id;
	uint64_t edge_hash;     /* edge_name_hash(edge.name): see on_edge() */
	struct edge edge;       /* a copy: revert must work after a reload removed the edge */
	int ifindex;
	char ifname[IF_NAMESIZE];
	struct fault fault;
	uint64_t created_realtime_usec;
	uint64_t deadline_realtime_usec;
	uint64_t deadline_mono_usec;
	uint64_t lease_mono_usec; /* 0: no lease */
	uid_t uid;
	pid_t pid;
	char run[REPORT_ID_MAX + 1]; /* the scenario run that owns it, "" if none */
	sd_event_source *timer;
	struct server *server;
};

struct client {
	struct server *server;
	int fd;
	sd_event_source *io;
	sd_event_source *idle;
	sd_event_source *more; /* defer: complete requests left in the buffer */
	struct ucred cred;
	bool may_write;
	bool may_read;
	uint8_t in[PROTO_HEADER_SIZE + PROTO_MAX_REQUEST];
	size_t in_len;
	char *out;
	size_t out_len, out_pos;
	struct client *next, *prev;
};

/* The kill switch: global (edge "") or for one edge; until `arm`, or until a time. */
struct kill_latch {
	char edge[EDGE_NAME_MAX + 1];
	char reason[256];
	uid_t uid;
	pid_t pid;
	uint64_t realtime_usec;
	uint64_t until_realtime_usec; /* 0: until chaosctl arm */
	sd_event_source *timer;
	struct server *server;
};

#define KILL_HISTORY_SHOW 50

struct server {
	sd_event *event;
	struct server_options opt;
	struct config *config;
	struct journal *journal;
	struct datapath *dp;
	struct nl_nft *nft;
	struct active_fault **faults;
	unsigned n_faults;
	uint64_t next_id;
	/* The same faults sorted by (edge_hash, id): an inject or revert finds its edge's faults
	 * by a binary search instead of a look at all of them (edge_faults). */
	struct active_fault **by_edge;
	unsigned n_by_edge, cap_by_edge;

	struct kill_latch *latches;
	unsigned n_latches;

	/* Interfaces and routes changing underneath active faults. */
	struct mnl_socket *monitor;
	sd_event_source *monitor_source;
	/* Edges' interfaces by name, as the kernel last said (see resolve_ifindex) */
	struct {
		char name[IF_NAMESIZE];
		int ifindex;
	} ifcache[8];
	unsigned n_ifcache;
	sd_event_source *route_check; /* debounced re-resolution of route-found edges */
	sd_event_source *retry; /* reverts that failed are tried again */

	int listen_fd;
	bool listen_fd_ours;
	sd_event_source *listen_source;
	struct client *clients;
	unsigned n_clients;

	struct runner *runner;

	struct metrics_counters metrics;
	sd_event_source *metrics_timer; /* metrics_file: written at most once per second */
	uint64_t metrics_written_mono;
};

static uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

unsigned server_n_faults(const struct server *s)
{
	return s->n_faults;
}

void server_notify_status(struct server *s)
{
	char text[96];

	snprintf(text, sizeof(text), "STATUS=%u active fault%s%s", s->n_faults,
			s->n_faults == 1 ? "" : "s", s->n_latches ? "; kill switch engaged" : "");
	notify_send(text);
	server_metrics_changed(s);
}

/* ------------------------------------------------------------------ applying faults */

static bool dir_has(enum fault_direction d, enum fault_direction bit)
{
	return (d & bit) != 0;
}

/* Make the kernel carry the merge of `list` for one edge and direction. */
static int sync_netem_dir(struct server *s, const struct edge *e, int ifindex,
		enum fault_direction dir, struct active_fault *const *list, unsigned n,
		struct diag *d)
{
	const struct fault *sel[_FAULT_KIND_MAX];
	struct netem_config cfg;
	unsigned k = 0;
	int r;

	for (unsigned i = 0; i < n; i++) {
		const struct active_fault *af = list[i];
		if (!streq(af->edge.name, e->name) || !fault_uses_netem(&af->fault) ||
				!dir_has(af->fault.direction, dir))
			continue;
		if (k == ELEMENTSOF(sel))
			return diag_add(d, -EEXIST, "edge '%s': too many faults", e->name);
		sel[k++] = &af->fault;
	}
	if (k == 0)
		return datapath_set_netem(s->dp, e, ifindex, dir, NULL, d);
	r = fault_merge_netem(sel, k, s->config->link_rate_bps, &cfg, d);
	if (r < 0)
		return r;
	/* one share for the edge (check_flows), so the first fault's is every fault's */
	return datapath_set_netem_flows(s->dp, e, ifindex, dir, &cfg, fault_flows(sel[0]), d);
}

static int sync_partitions(struct server *s, struct active_fault *const *list, unsigned n,
		struct diag *d)
{
	_cleanup_free_ struct nl_nft_partition *parts = NULL;
	unsigned k = 0;

	parts = calloc(n ? n : 1, sizeof(*parts));
	if (!parts)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		const struct active_fault *af = list[i];
		if (af->fault.kind != FAULT_PARTITION)
			continue;
		parts[k].edge = &af->edge;
		snprintf(parts[k].ifname, sizeof(parts[k].ifname), "%s", af->ifname);
		parts[k].direction = af->fault.direction;
		parts[k].id = af->id;
		parts[k].flows = fault_flows(&af->fault);
		k++;
	}
	return nl_nft_sync(s->nft, parts, k, d);
}

static char *share_text(uint32_t share, char *buf, size_t n)
{
	char pct[32];

	if (share >= FLOWSEL_ALL)
		snprintf(buf, n, "all of its flows");
	else
		snprintf(buf, n, "%s%% of its flows",
				parse_format_double(share * 100. / FLOWSEL_ALL, pct, sizeof(pct)));
	return buf;
}

/* One selection of flows per edge: the faults of e in `new` that were not in `old` must affect
 * the share the others do; and a partition (nftables' symhash) and netem faults (flowsel's
 * classifier) would pick different connections, so only one kind limits itself to a share. */
static int check_flows(const struct edge *e, struct active_fault *const *old, unsigned n_old,
		struct active_fault *const *new, unsigned n_new, struct diag *d)
{
	const struct active_fault *kept = NULL, *added = NULL, *part = NULL, *netem = NULL;
	char a[48], b[48], c[32];

	for (unsigned i = 0; i < n_new; i++) {
		const struct active_fault *af = new[i];
		bool was = false;

		if (!streq(af->edge.name, e->name))
			continue;
		for (unsigned k = 0; k < n_old && !was; k++)
			was = old[k] == af;
		if (was && !kept)
			kept = af;
		if (!was && (!added || fault_flows(&af->fault) != fault_flows(&added->fault)))
			added = af;
		if (af->fault.kind == FAULT_PARTITION)
			part = af;
		else
			netem = af;
	}
	if (kept && added && fault_flows(&kept->fault) != fault_flows(&added->fault))
		return diag_add(d, -EINVAL, "edge '%s': its faults affect %s (fault %" PRIu64 ", "
				"%s); a %s fault on %s cannot join them: all faults of an edge "
				"affect the same flows (give flows = %s, or revert them first)",
				e->name, share_text(fault_flows(&kept->fault), a, sizeof(a)),
				kept->id, fault_kind_to_string(kept->fault.kind),
				fault_kind_to_string(added->fault.kind),
				share_text(fault_flows(&added->fault), b, sizeof(b)),
				parse_format_double(fault_flows(&kept->fault) * 100. / FLOWSEL_ALL,
						c, sizeof(c)));
	if (part && netem && fault_flows(&part->fault) < FLOWSEL_ALL)
		return diag_add(d, -EINVAL, "edge '%s': a partition and %s cannot both be limited "
				"to %s: nftables and chaosd's classifier would pick different "
				"connections (partition all flows, or revert one of them)",
				e->name, fault_kind_to_string(netem->fault.kind),
				share_text(fault_flows(&part->fault), a, sizeof(a)));
	return 0;
}

/* Move the kernel from the state of `old` to the state of `new` for one edge. Directions are
 * applied one by one; if a later one fails, the earlier ones are put back to `old`, so a
 * request either takes effect whole or not at all. */
static int transition_edge(struct server *s, const struct edge *e, int ifindex,
		struct active_fault *const *old, unsigned n_old, struct active_fault *const *new,
		unsigned n_new, bool partition, struct diag *d)
{
	static const enum fault_direction dirs[] = { FAULT_DIR_OUT, FAULT_DIR_IN };
	unsigned done = 0;
	int r;

	r = check_flows(e, old, n_old, new, n_new, d);
	if (r < 0)
		return r;
	if (partition)
		return sync_partitions(s, new, n_new, d);
	for (; done < ELEMENTSOF(dirs); done++) {
		r = sync_netem_dir(s, e, ifindex, dirs[done], new, n_new, d);
		if (r < 0)
			break;
	}
	if (r >= 0)
		return 0;
	for (unsigned i = 0; i < done; i++) {
		struct diag ignored;
		diag_init(&ignored);
		if (sync_netem_dir(s, e, ifindex, dirs[i], old, n_old, &ignored) < 0)
			diag_add(d, r, "rollback of %s on edge '%s' failed too: %s",
					fault_direction_to_string(dirs[i]), e->name,
					diag_text(&ignored));
	}
	return r;
}

static int journal_record(struct server *s, const struct active_fault *af, bool applied)
{
	struct journal_fault jf = {
		.applied = applied,
		.id = af->id,
		.fault = af->fault,
		.created_realtime_usec = af->created_realtime_usec,
		.deadline_realtime_usec = af->deadline_realtime_usec,
		.uid = af->uid,
	};

	snprintf(jf.edge, sizeof(jf.edge), "%s", af->edge.name);
	snprintf(jf.run, sizeof(jf.run), "%s", af->run);
	return journal_fault_put(s->journal, &jf);
}

static struct active_fault *active_fault_free(struct active_fault *af)
{
	if (!af)
		return NULL;
	sd_event_source_disable_unref(af->timer);
	free(af);
	return NULL;
}

/* Whether af is on the edge called name (hash: edge_name_hash(name)). Every inject and revert
 * looks at every fault: an integer compare first keeps that cheap with 1000 of them. */
static bool on_edge(const struct active_fault *af, const char *name, uint64_t hash)
{
	return af->edge_hash == hash && streq(af->edge.name, name);
}

static bool by_edge_before(const struct active_fault *af, uint64_t hash, uint64_t id)
{
	return af->edge_hash < hash || (af->edge_hash == hash && af->id < id);
}

static unsigned by_edge_lower(const struct server *s, uint64_t hash, uint64_t id)
{
	unsigned lo = 0, hi = s->n_by_edge;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (by_edge_before(s->by_edge[mid], hash, id))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The faults whose edge name hashes to hash, in id order; on_edge() tells the edge's own. */
static struct active_fault *const *edge_faults(const struct server *s, uint64_t hash,
		unsigned *ret_n)
{
	unsigned first = by_edge_lower(s, hash, 0), end = first;

	while (end < s->n_by_edge && s->by_edge[end]->edge_hash == hash)
		end++;
	*ret_n = end - first;
	return s->by_edge + first;
}

/* Room for n faults in the index, made before the kernel is touched so that recording an
 * applied fault cannot fail. */
static int by_edge_reserve(struct server *s, unsigned n)
{
	struct active_fault **a;
	unsigned cap;

	if (n <= s->cap_by_edge)
		return 0;
	cap = MAX(n, 2 * s->cap_by_edge);
	a = reallocarray(s->by_edge, cap, sizeof(*a));
	if (!a)
		return -ENOMEM;
	s->by_edge = a;
	s->cap_by_edge = cap;
	return 0;
}

static void by_edge_add(struct server *s, struct active_fault *af)
{
	unsigned i = by_edge_lower(s, af->edge_hash, af->id);

	if (s->n_by_edge == s->cap_by_edge)
		return; /* by_edge_reserve() came first: not reached */
	memmove(&s->by_edge[i + 1], &s->by_edge[i], (s->n_by_edge - i) * sizeof(*s->by_edge));
	s->by_edge[i] = af;
	s->n_by_edge++;
}

static void by_edge_remove(struct server *s, const struct active_fault *af)
{
	unsigned i = by_edge_lower(s, af->edge_hash, af->id);

	if (i < s->n_by_edge && s->by_edge[i] == af) {
		memmove(&s->by_edge[i], &s->by_edge[i + 1],
				(s->n_by_edge - i - 1) * sizeof(*s->by_edge));
		s->n_by_edge--;
	}
}

static int by_edge_cmp(const void *a, const void *b)
{
	const struct active_fault *x = *(struct active_fault *const *)a;
	const struct active_fault *y = *(struct active_fault *const *)b;

	return by_edge_before(x, y->edge_hash, y->id) ? -1 : by_edge_before(y, x->edge_hash, x->id);
}

/* After s->faults lost several at once (it only ever shrinks here: the room is there). */
static void by_edge_rebuild(struct server *s)
{
	memcpy(s->by_edge, s->faults, s->n_faults * sizeof(*s->faults));
	s->n_by_edge = s->n_faults;
	qsort(s->by_edge, s->n_by_edge, sizeof(*s->by_edge), by_edge_cmp);
}

static int find_fault(const struct server *s, uint64_t id)
{
	for (unsigned i = 0; i < s->n_faults; i++)
		if (s->faults[i]->id == id)
			return (int)i;
	return -1;
}

static void format_params(const struct fault *f, char *buf, size_t n);

/* Remove fault i from the kernel and the registry. */
static int revert_fault(struct server *s, unsigned i, const char *action, uid_t uid, pid_t pid,
		struct diag *d)
{
	struct active_fault *af = s->faults[i];
	_cleanup_free_ struct active_fault **cur = NULL, **rest = NULL;
	bool part = af->fault.kind == FAULT_PARTITION;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	char params[512];
	unsigned n = 0, n_cur = 0;
	int r;

	struct active_fault *const *list = s->faults;
	unsigned n_list = s->n_faults;

	if (!part) /* see apply_fault */
		list = edge_faults(s, af->edge_hash, &n_list);
	cur = calloc(n_list ? n_list : 1, sizeof(*cur));
	rest = calloc(n_list ? n_list : 1, sizeof(*rest));
	if (!cur || !rest)
		return -ENOMEM;
	for (unsigned k = 0; k < n_list; k++) {
		if (!part && !on_edge(list[k], af->edge.name, af->edge_hash))
			continue;
		cur[n_cur++] = list[k];
		if (list[k] != af)
			rest[n++] = list[k];
	}
	/* Out of the journal before the kernel: a crash after the kernel's revert must not have a
	 * restart apply it again. A crash before it, or a failed revert, leaves it to the
	 * restart's cleanup, which removes everything chaosd owns. */
	(void)journal_fault_remove(s->journal, af->id);
	r = transition_edge(s, &af->edge, af->ifindex, cur, n_cur, rest, n, part, d);
	format_params(&af->fault, params, sizeof(params));
	audit_log(&(struct audit_event){ .action = action, .uid = uid, .pid = pid,
			.fault_id = af->id, .edge = af->edge.name,
			.fault = fault_kind_to_string(af->fault.kind), .params = params,
			.result = r < 0 ? diag_text(d) : "ok", .run = af->run[0] ? af->run : NULL });
	if (r < 0) {
		s->metrics.revert_failed[af->fault.kind]++;
		return r;
	}
	s->metrics.reverted[af->fault.kind]++;
	s->metrics.last_revert_usec = now_usec(CLOCK_MONOTONIC) - t0;
	s->metrics.have_last_revert = true;
	memmove(&s->faults[i], &s->faults[i + 1], (s->n_faults - i - 1) * sizeof(*s->faults));
	s->n_faults--;
	by_edge_remove(s, af);
	if (af->run[0])
		runner_fault_gone(s->runner, af->id);
	active_fault_free(af);
	server_notify_status(s);
	return 0;
}

static uint64_t fault_wakeup(const struct active_fault *af)
{
	if (af->lease_mono_usec && af->lease_mono_usec < af->deadline_mono_usec)
		return af->lease_mono_usec;
	return af->deadline_mono_usec;
}

static int on_deadline(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct active_fault *af = userdata;
	struct server *s = af->server;
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	bool lease = af->lease_mono_usec && now >= af->lease_mono_usec;
	struct diag d;
	int i = find_fault(s, af->id), r;

	if (i < 0)
		return 0;
	if (!lease && now < af->deadline_mono_usec) {
		/* The lease was renewed since the timer was set. */
		sd_event_source_set_time(es, fault_wakeup(af));
		sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
		return 0;
	}
	/* A revert that succeeds frees af (and this timer): say what it was from copies. */
	uint64_t id = af->id;
	char edge[EDGE_NAME_MAX + 1];

	snprintf(edge, sizeof(edge), "%s", af->edge.name);
	diag_init(&d);
	r = revert_fault(s, (unsigned)i, lease ? "lease-expired" : "expire", 0, 0, &d);
	if (r < 0) {
		/* Keep the fault listed and try again shortly: a lost revert is the one thing
		 * chaosd must never do. */
		log_error("deadline revert of fault %" PRIu64 " on edge '%s' failed, retrying in 1s: %s",
				id, edge, diag_text(&d));
		sd_event_source_set_time_relative(es, USEC_PER_SEC);
		sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
	} else {
		log_info("fault %" PRIu64 " on edge '%s' %s and was reverted", id, edge,
				lease ? "was not renewed within its lease" : "expired");
	}
	return 0;
}

static int arm_timer(struct server *s, struct active_fault *af)
{
	if (af->timer)
		return sd_event_source_set_time(af->timer, fault_wakeup(af)) < 0 ? -EIO :
			sd_event_source_set_enabled(af->timer, SD_EVENT_ONESHOT);
	return sd_event_add_time(s->event, &af->timer, CLOCK_MONOTONIC, fault_wakeup(af),
			10 * USEC_PER_MSEC, on_deadline, af);
}

static void schedule_retry(struct server *s);

int server_revert_all(struct server *s, const char *why, uid_t uid, pid_t pid)
{
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	_cleanup_free_ uint64_t *gone = calloc(s->n_faults + 1, sizeof(*gone));
	unsigned n_gone = 0;
	struct diag d;
	int r = 0;

	/* Out of the journal first (one write), as in revert_fault(): a restart never brings
	 * back what the kill switch took out, even if it fails for some and is retrying. */
	for (unsigned i = 0; gone && i < s->n_faults; i++)
		gone[n_gone++] = s->faults[i]->id;
	if (gone)
		(void)journal_fault_remove_many(s->journal, gone, n_gone);
	else
		for (unsigned i = 0; i < s->n_faults; i++)
			(void)journal_fault_remove(s->journal, s->faults[i]->id);
	/* Everything chaosd owns goes in one pass (one batch per kind of object), whatever the
	 * registry says: this is also what clears leftovers of a fault whose own revert failed. */
	diag_init(&d);
	int r1 = datapath_remove_all(s->dp, &d);
	int r2 = nl_nft_remove_all(s->nft, &d);
	if (r1 < 0 || r2 < 0) {
		r = r1 < 0 ? r1 : r2;
		log_error("%s: reverting everything failed for some objects, retrying in 1s: %s",
				why, diag_text(&d));
	}
	for (unsigned i = 0; i < s->n_faults; i++) {
		struct active_fault *af = s->faults[i];
		char params[512];
		format_params(&af->fault, params, sizeof(params));
		audit_log(&(struct audit_event){ .action = why, .uid = uid, .pid = pid,
				.fault_id = af->id, .edge = af->edge.name,
				.fault = fault_kind_to_string(af->fault.kind), .params = params,
				.result = r < 0 ? diag_text(&d) : "ok" });
		if (r < 0)
			s->metrics.revert_failed[af->fault.kind]++;
		if (r >= 0) {
			s->metrics.reverted[af->fault.kind]++;
			if (af->run[0])
				runner_fault_gone(s->runner, af->id);
			active_fault_free(af);
		}
	}
	if (r >= 0) {
		s->n_faults = 0;
		s->n_by_edge = 0;
		s->metrics.last_revert_usec = now_usec(CLOCK_MONOTONIC) - t0;
		s->metrics.have_last_revert = true;
	} else {
		schedule_retry(s);
	}
	server_notify_status(s);
	return r;
}

/* Revert every fault of one edge; keeps going past failures. Returns the first error. */
static int revert_edge(struct server *s, const char *edge, const char *why, uid_t uid, pid_t pid,
		unsigned *ret_reverted, struct diag *d)
{
	unsigned reverted = 0;
	int r = 0;

	for (unsigned i = s->n_faults; i-- > 0;) {
		if (edge && !streq(s->faults[i]->edge.name, edge))
			continue;
		int k = revert_fault(s, i, why, uid, pid, d);
		if (k < 0 && r >= 0)
			r = k;
		reverted += k >= 0;
	}
	if (ret_reverted)
		*ret_reverted = reverted;
	return r;
}

/* Latched faults whose revert failed: try again every second until they are gone. */
static int on_retry(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;
	bool pending = false;

	for (unsigned i = 0; i < s->n_latches; i++) {
		struct diag d;
		diag_init(&d);
		if (!s->latches[i].edge[0]) {
			pending |= server_revert_all(s, "kill-retry", s->latches[i].uid,
					s->latches[i].pid) < 0;
		} else if (revert_edge(s, s->latches[i].edge, "kill-retry", s->latches[i].uid,
					   s->latches[i].pid, NULL, &d) < 0) {
			log_error("kill switch: reverting edge '%s' failed again, retrying: %s",
					s->latches[i].edge, diag_text(&d));
			pending = true;
		}
	}
	if (pending)
		schedule_retry(s);
	return 0;
}

static void schedule_retry(struct server *s)
{
	if (s->retry) {
		sd_event_source_set_time_relative(s->retry, USEC_PER_SEC);
		sd_event_source_set_enabled(s->retry, SD_EVENT_ONESHOT);
		return;
	}
	(void)sd_event_add_time_relative(s->event, &s->retry, CLOCK_MONOTONIC, USEC_PER_SEC,
			10 * USEC_PER_MSEC, on_retry, s);
}

int server_cleanup_kernel(struct datapath *dp, struct nl_nft *nft, struct journal *j)
{
	struct diag d;
	int r1, r2;

	diag_init(&d);
	r1 = datapath_remove_all(dp, &d);
	r2 = nl_nft_remove_all(nft, &d);
	if (r1 < 0 || r2 < 0) {
		log_error("cleanup: %s", diag_text(&d));
		return r1 < 0 ? r1 : r2;
	}
	for (unsigned n; j && (n = journal_fault_count(j)) > 0;) {
		uint64_t ids[256];
		n = MIN(n, ELEMENTSOF(ids));
		for (unsigned i = 0; i < n; i++)
			ids[i] = journal_fault_at(j, i)->id;
		(void)journal_fault_remove_many(j, ids, n);
	}
	if (r1 > 0 || r2 > 0)
		log_notice("cleanup: removed %d tc object(s)%s left by an earlier run", r1,
				r2 > 0 ? " and the nftables table" : "");
	return 0;
}

/* ------------------------------------------------------------------ requests */

struct param_fmt {
	char *buf;
	size_t n, len;
};

static int append_param(const char *key, const char *value, void *userdata)
{
	struct param_fmt *p = userdata;
	int w = snprintf(p->buf + p->len, p->n - p->len, "%s%s=%s", p->len ? " " : "", key, value);
	if (w > 0)
		p->len = MIN(p->len + (size_t)w, p->n - 1);
	return 0;
}

static void format_params(const struct fault *f, char *buf, size_t n)
{
	struct param_fmt p = { buf, n, 0 };

	buf[0] = '\0';
	fault_foreach_param(f, append_param, &p);
}

static int reply_error(struct proto_writer *w, int err, const char *text)
{
	proto_writer_done(w);
	proto_writer_init(w, PROTO_REPLY_ERROR, PROTO_MAX_REPLY);
	proto_put(w, "error", text && *text ? text : strerror(-err));
	proto_putf(w, "errno", "%d", -err);
	return err;
}

static struct kill_latch *find_latch(struct server *s, const char *edge)
{
	for (unsigned i = 0; i < s->n_latches; i++)
		if (streq(s->latches[i].edge, edge ? edge : ""))
			return &s->latches[i];
	return NULL;
}

static int check_kill_latch(struct server *s, const char *edge, struct diag *d)
{
	const struct kill_latch *k = find_latch(s, "");
	char when[64], until[64] = "";
	time_t t;
	struct tm tm;

	if (!k)
		k = find_latch(s, edge);
	if (!k)
		return 0;
	t = (time_t)(k->realtime_usec / USEC_PER_SEC);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
	if (k->until_realtime_usec) {
		t = (time_t)(k->until_realtime_usec / USEC_PER_SEC);
		strftime(until, sizeof(until), ", re-arms by itself at %H:%M:%S UTC",
				gmtime_r(&t, &tm));
	}
	return diag_add(d, -ECANCELED,
			"the kill switch is engaged%s%s%s (by uid %u at %s%s%s%s%s); nothing is "
			"injected until someone runs 'chaosctl arm'",
			k->edge[0] ? " for edge '" : "", k->edge, k->edge[0] ? "'" : "",
			(unsigned)k->uid, when, k->reason[0] ? ": '" : "", k->reason,
			k->reason[0] ? "'" : "", until);
}

static int list_edges(const struct config *c, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < c->n_edges && len + 1 < n; i++) {
		int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", c->edges[i].name);
		if (w > 0)
			len = MIN(len + (size_t)w, n - 1);
	}
	return 0;
}

/* Established TCP sessions with local port 22, from the kernel's table in our namespace. */
static int ssh_peer_in_edge(const struct edge *e, char *ret_peer, size_t n)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };

	for (unsigned f = 0; f < ELEMENTSOF(files); f++) {
		FILE *fp = fopen(files[f], "re");
		char line[512];

		if (!fp)
			continue;
		while (fgets(line, sizeof(line), fp)) {
			char local[64], remote[64];
			unsigned lport, rport, st;
			uint8_t addr[16];
			int family = f == 0 ? AF_INET : AF_INET6;

			if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %63[0-9A-Fa-f]:%x %x", local,
					    &lport, remote, &rport, &st) != 5)
				continue;
			if (lport != 22 || st != 1 /* TCP_ESTABLISHED */)
				continue;
			/* /proc prints each 32-bit word of the address in host byte order. */
			for (unsigned w = 0; w < (family == AF_INET ? 1u : 4u); w++) {
				uint32_t v;
				char word[9];
				memcpy(word, remote + 8 * w, 8);
				word[8] = '\0';
				v = (uint32_t)strtoul(word, NULL, 16);
				memcpy(addr + 4 * w, &v, 4);
			}
			for (unsigned i = 0; i < e->n_prefixes; i++)
				if (edge_prefix_contains(&e->prefixes[i], family, addr)) {
					inet_ntop(family, addr, ret_peer, (socklen_t)n);
					fclose(fp);
					return 1;
				}
		}
		fclose(fp);
	}
	return 0;
}

/* The guard rails of chaosd.conf: each refusal names the rule and where it is set. */
static int check_guard_rails(struct server *s, const struct edge *e, const char *ifname,
		const struct fault *f, struct diag *d)
{
	const struct config *c = s->config;
	const char *key = NULL;
	char where[PATH_MAX + 32], a[64], b[64], peer[INET6_ADDRSTRLEN];

	if (!config_interface_allowed(c, ifname, &key))
		return diag_add(d, -EPERM, "edge '%s' is on interface '%s', which %s refuses (%s)",
				e->name, ifname, key, config_key_origin(c, key, where, sizeof(where)));
	for (unsigned i = 0; i < c->n_protect; i++)
		for (unsigned k = 0; k < e->n_prefixes; k++)
			if (edge_prefix_overlap(&c->protect[i], &e->prefixes[k]))
				return diag_add(d, -EPERM, "edge '%s' (%s) overlaps the protected "
						"range %s (protect, %s)", e->name,
						edge_prefix_format(&e->prefixes[k], a, sizeof(a)),
						edge_prefix_format(&c->protect[i], b, sizeof(b)),
						config_key_origin(c, "protect", where, sizeof(where)));
	if (c->max_latency_usec && (f->kind == FAULT_LATENCY || f->kind == FAULT_REORDER) &&
			(f->delay_ms + f->jitter_ms) * USEC_PER_MSEC > (double)c->max_latency_usec)
		return diag_add(d, -EPERM, "latency %g ms (+%g ms jitter) is above max_latency = %s "
				"(%s)", f->delay_ms, f->jitter_ms,
				parse_format_duration(c->max_latency_usec, a, sizeof(a)),
				config_key_origin(c, "max_latency", where, sizeof(where)));
	if (f->kind == FAULT_LOSS && f->loss_model == FAULT_LOSS_RANDOM &&
			f->percent > c->max_loss_percent)
		return diag_add(d, -EPERM, "loss %g%% is above max_loss = %g%% (%s)", f->percent,
				c->max_loss_percent,
				config_key_origin(c, "max_loss", where, sizeof(where)));
	if (f->kind == FAULT_PARTITION && c->max_partition_usec &&
			f->duration_usec > c->max_partition_usec)
		return diag_add(d, -EPERM, "a partition of %s is longer than "
				"max_partition_duration = %s (%s)",
				parse_format_duration(f->duration_usec, a, sizeof(a)),
				parse_format_duration(c->max_partition_usec, b, sizeof(b)),
				config_key_origin(c, "max_partition_duration", where,
						sizeof(where)));
	/* With a port, the edge cannot match an SSH session's packets (they carry port 22 and
	 * an ephemeral port), so only all-port edges endanger it. */
	if (f->kind == FAULT_PARTITION && !c->allow_ssh_partition && e->port == 0 &&
			ssh_peer_in_edge(e, peer, sizeof(peer)))
		return diag_add(d, -EPERM, "edge '%s' holds %s, the peer of an established SSH "
				"session on this host: partitioning it could cut off the operator "
				"(set allow_ssh_partition = yes in %s to allow)", e->name, peer,
				c->path ? c->path : "the config");
	return 0;
}

/* The name of the interface an edge resolved to: its configured one (resolved by that name) or
 * the kernel's, which costs three system calls (if_indextoname). */
static void edge_ifname(const struct edge *e, int ifindex, char ret[IF_NAMESIZE])
{
	if (e->ifname[0])
		snprintf(ret, IF_NAMESIZE, "%s", e->ifname);
	else if (!if_indextoname((unsigned)ifindex, ret))
		snprintf(ret, IF_NAMESIZE, "%d", ifindex);
}

/* Apply a fault (new, or an update of the active fault of its kind on the edge) and track it.
 * id 0 = allocate. Either it takes effect whole or nothing changes. */
static int apply_fault(struct server *s, const struct edge *e, int ifindex, const struct fault *f,
		uint64_t id, uint64_t deadline_realtime, uid_t uid, pid_t pid, const char *run,
		struct active_fault **ret_af, bool *ret_updated, struct diag *d)
{
	_cleanup_free_ struct active_fault **next = NULL, **old = NULL;
	_cleanup_free_ struct active_fault *fresh = NULL;
	struct active_fault *af, *existing = NULL, saved;
	uint64_t now_rt = now_usec(CLOCK_REALTIME), hash = edge_name_hash(e->name);
	bool part = f->kind == FAULT_PARTITION;
	struct active_fault *const *mine, *const *list;
	char params[512];
	unsigned n = 0, n_old, n_mine, n_list;
	int r;

	/* First: it may move the index that mine points into. */
	r = by_edge_reserve(s, s->n_faults + 1);
	if (r < 0)
		return r;
	/* One fault per edge and kind: injecting the same kind again changes it in place. */
	mine = edge_faults(s, hash, &n_mine);
	for (unsigned i = 0; i < n_mine; i++)
		if (on_edge(mine[i], e->name, hash) && mine[i]->fault.kind == f->kind)
			existing = mine[i];
	/* A scenario's fault is the scenario's: changing it by hand (or the other way round)
	 * would leave one of the two reverting what the other still counts on. */
	if (existing && !streq(existing->run, run ? run : ""))
		return diag_add(d, -EBUSY, "edge '%s' already has a %s fault (id %" PRIu64 ") %s%s%s",
				e->name, fault_kind_to_string(f->kind), existing->id,
				existing->run[0] ? "owned by scenario run '" : "injected by hand",
				existing->run, existing->run[0] ? "' (chaosctl abort to end the run)" :
				" (revert it first)");

	/* An edge's netem state depends on its own faults only, so the kernel's move is worked
	 * out from those (a request costs the same with 1 or 1000 other faults); partitions
	 * share one nftables table, rewritten from all of them. */
	list = part ? s->faults : mine;
	n_list = part ? s->n_faults : n_mine;
	next = calloc(n_list + 1, sizeof(*next));
	old = calloc(n_list + 1, sizeof(*old));
	if (!next || !old)
		return -ENOMEM;

	if (existing) {
		saved = *existing;
		af = existing;
	} else {
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh)
			return -ENOMEM;
		af = fresh;
		af->id = id ? id : s->next_id;
		af->server = s;
		af->edge = *e;
		af->edge_hash = hash;
		snprintf(af->run, sizeof(af->run), "%s", run ? run : "");
	}
	af->ifindex = ifindex;
	edge_ifname(e, ifindex, af->ifname);
	af->fault = *f;
	af->uid = uid;
	af->pid = pid;
	af->created_realtime_usec = now_rt;
	af->deadline_realtime_usec = deadline_realtime;
	af->deadline_mono_usec = now_usec(CLOCK_MONOTONIC) +
			(deadline_realtime > now_rt ? deadline_realtime - now_rt : 0);
	/* A fresh lease on apply, also on restart adoption: the holder gets one whole period to
	 * find the restarted daemon. */
	af->lease_mono_usec = f->lease_usec ? now_usec(CLOCK_MONOTONIC) + f->lease_usec : 0;
	for (unsigned i = 0; i < n_list; i++) {
		if (!part && !on_edge(list[i], e->name, hash))
			continue;
		next[n] = list[i];
		/* The old parameters are what a rollback must restore. */
		old[n] = list[i] == existing ? &saved : list[i];
		n++;
	}
	n_old = n;
	if (!existing)
		next[n++] = af;

	/* Intent first: a crash from here on leaves a journal that says what to clean. */
	r = journal_record(s, af, false);
	if (r < 0) {
		if (existing)
			*existing = saved;
		return diag_add(d, r, "cannot write the state journal: %s", strerror(-r));
	}
	r = transition_edge(s, e, ifindex, old, n_old, next, n, part, d);
	format_params(&af->fault, params, sizeof(params));
	audit_log(&(struct audit_event){ .action = existing ? "update" : (id ? "adopt" : "inject"),
			.uid = uid, .pid = pid, .fault_id = af->id, .edge = e->name,
			.fault = fault_kind_to_string(f->kind), .params = params,
			.result = r < 0 ? diag_text(d) : "ok", .run = af->run[0] ? af->run : NULL });
	if (r < 0) {
		s->metrics.apply_failed[f->kind]++;
		if (existing) {
			*existing = saved;
			(void)journal_record(s, existing, true);
		} else {
			(void)journal_fault_remove(s->journal, af->id);
		}
		return r;
	}
	/* Confirmed by the kernel: a restart may re-adopt it from now on. */
	(void)journal_record(s, af, true);
	if (!existing) {
		struct active_fault **nf = reallocarray(s->faults, s->n_faults + 1, sizeof(*nf));
		if (!nf) {
			/* Applied but cannot be tracked: take it back out rather than leak it. */
			struct diag ignored;
			diag_init(&ignored);
			transition_edge(s, e, ifindex, next, n, old, n_old, part, &ignored);
			(void)journal_fault_remove(s->journal, af->id);
			return -ENOMEM;
		}
		s->faults = nf;
		s->faults[s->n_faults++] = fresh;
		by_edge_add(s, TAKE_PTR(fresh));
		s->next_id = MAX(s->next_id, af->id + 1);
	}
	s->metrics.applied[f->kind]++;
	r = arm_timer(s, af);
	if (r < 0)
		log_error("cannot arm the deadline timer of fault %" PRIu64 ": %s", af->id,
				strerror(-r));
	server_notify_status(s);
	*ret_af = af;
	*ret_updated = existing != NULL;
	return 0;
}

/* Whether the link monitor has nothing unread. The kernel queues the notification of a rename
 * or a deletion on it before the system call that made the change returns, so while it is
 * quiet, what it said last is still true. ENOBUFS (lost events) is not quiet either. */
static bool monitor_quiet(struct server *s)
{
	char c;

	if (!s->monitor)
		return false;
	return recv(mnl_socket_get_fd(s->monitor), &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
			(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* An edge's interface: by its name, from the cache while the monitor is quiet (a request then
 * costs one recv() instead of a netlink round trip), else asked from the kernel. Any event
 * read from the monitor empties the cache (on_monitor). */
static int resolve_ifindex(struct server *s, const struct edge *e, int *ret_ifindex,
		struct diag *d)
{
	int ifindex, r;

	if (e->ifname[0] && monitor_quiet(s))
		for (unsigned i = 0; i < s->n_ifcache; i++)
			if (streq(s->ifcache[i].name, e->ifname)) {
				*ret_ifindex = s->ifcache[i].ifindex;
				return 0;
			}
	r = datapath_resolve_ifindex(s->dp, e, &ifindex, d);
	if (r < 0)
		return r;
	/* quiet since the answer: nothing changed the name in between */
	if (e->ifname[0] && monitor_quiet(s)) {
		unsigned i = 0;
		while (i < s->n_ifcache && !streq(s->ifcache[i].name, e->ifname))
			i++;
		if (i == ELEMENTSOF(s->ifcache))
			i = 0; /* full: the first one is replaced */
		else if (i == s->n_ifcache)
			s->n_ifcache++;
		snprintf(s->ifcache[i].name, sizeof(s->ifcache[i].name), "%s", e->ifname);
		s->ifcache[i].ifindex = ifindex;
	}
	*ret_ifindex = ifindex;
	return 0;
}

/* Everything an inject is checked against before the kernel is touched: the kill switch,
 * the edge, max_duration, the interface and the guard rails. Fills in the default duration. */
static int prepare_fault(struct server *s, const char *edge_s, struct fault *f,
		const struct edge **ret_e, int *ret_ifindex, struct diag *d)
{
	char edges[512], dur[32], maxdur[32], ifname[IF_NAMESIZE];
	const struct edge *e;
	int ifindex, r;

	r = check_kill_latch(s, edge_s, d);
	if (r < 0)
		return r;
	e = config_find_edge(s->config, edge_s);
	if (!e) {
		list_edges(s->config, edges, sizeof(edges));
		return diag_add(d, -ENOENT, "unknown edge '%s' (configured in %s: %s)", edge_s,
				s->config->path ? s->config->path : "the config",
				edges[0] ? edges : "none");
	}
	if (f->duration_usec == 0)
		f->duration_usec = s->config->default_duration_usec;
	if (f->duration_usec > s->config->max_duration_usec)
		return diag_add(d, -ERANGE, "for: '%s' is longer than max_duration = %s (%s)",
				parse_format_duration(f->duration_usec, dur, sizeof(dur)),
				parse_format_duration(s->config->max_duration_usec, maxdur,
						sizeof(maxdur)),
				s->config->path ? s->config->path : "config");
	r = resolve_ifindex(s, e, &ifindex, d);
	if (r < 0)
		return r;
	edge_ifname(e, ifindex, ifname);
	r = check_guard_rails(s, e, ifname, f, d);
	if (r < 0)
		return r;
	*ret_e = e;
	*ret_ifindex = ifindex;
	return 0;
}

int server_check_fault(struct server *s, const char *edge, const struct fault *f,
		struct diag *d)
{
	struct fault copy = *f;
	const struct edge *e;
	int ifindex;

	return prepare_fault(s, edge, &copy, &e, &ifindex, d);
}

int server_run_apply(struct server *s, const char *run, const char *edge, const struct fault *f,
		uid_t uid, pid_t pid, uint64_t *ret_id, struct diag *d)
{
	struct fault copy = *f;
	struct active_fault *af = NULL;
	const struct edge *e;
	bool updated;
	int ifindex, r;

	r = prepare_fault(s, edge, &copy, &e, &ifindex, d);
	if (r < 0)
		return r;
	r = apply_fault(s, e, ifindex, &copy, 0, now_usec(CLOCK_REALTIME) + copy.duration_usec,
			uid, pid, run, &af, &updated, d);
	if (r < 0)
		return r;
	*ret_id = af->id;
	return 0;
}

int server_run_revert(struct server *s, uint64_t id, const char *why, uid_t uid, pid_t pid,
		struct diag *d)
{
	int i = find_fault(s, id);

	if (i < 0)
		return 0; /* already gone (deadline, kill): nothing left to do */
	return revert_fault(s, (unsigned)i, why, uid, pid, d);
}

static int handle_inject(struct server *s, struct client *c, const struct proto_msg *m,
		struct proto_writer *w, struct diag *d)
{
	const char *kind_s = proto_msg_get(m, 0, "kind"), *edge_s = proto_msg_get(m, 0, "edge");
	const struct edge *e;
	struct active_fault *af = NULL;
	struct fault f;
	enum fault_kind kind;
	char params[512];
	bool updated = false;
	int ifindex, r;

	if (!kind_s || fault_kind_from_string(kind_s, &kind) < 0)
		return diag_add(d, -EINVAL, "unknown fault kind '%s' (allowed: latency, loss, "
				"corrupt, duplicate, reorder, rate, partition)", kind_s ? kind_s : "");
	if (!edge_s)
		return diag_add(d, -EINVAL, "missing --edge");
	fault_init(&f, kind);
	for (unsigned i = 0; i < m->n_fields; i++) {
		const char *k = m->fields[i].key;
		if (streq(k, "kind") || streq(k, "edge"))
			continue;
		r = fault_set(&f, k, m->fields[i].value, d);
		if (r < 0)
			return r;
	}
	r = fault_validate(&f, d);
	if (r < 0)
		return r;
	r = prepare_fault(s, edge_s, &f, &e, &ifindex, d);
	if (r < 0)
		return r;
	r = apply_fault(s, e, ifindex, &f, 0, now_usec(CLOCK_REALTIME) + f.duration_usec,
			c->cred.uid, c->cred.pid, NULL, &af, &updated, d);
	if (r < 0)
		return r;
	format_params(&af->fault, params, sizeof(params));
	proto_put_u64(w, "id", af->id);
	proto_put(w, "action", updated ? "updated" : "injected");
	proto_put(w, "edge", e->name);
	proto_put(w, "interface", af->ifname);
	proto_put(w, "kind", kind_s);
	proto_put(w, "params", params);
	proto_put_u64(w, "duration_us", f.duration_usec);
	return 0;
}

static void put_fault(struct server *s, struct proto_writer *w, const struct active_fault *af,
		uint64_t now_mono)
{
	struct datapath_stats st = {}, st_in = {};
	char params[512], desc[256];

	format_params(&af->fault, params, sizeof(params));
	proto_record(w, "fault");
	proto_put_u64(w, "id", af->id);
	proto_put(w, "edge", af->edge.name);
	proto_put(w, "interface", af->ifname);
	proto_put(w, "kind", fault_kind_to_string(af->fault.kind));
	proto_put(w, "direction", fault_direction_to_string(af->fault.direction));
	proto_put(w, "params", params);
	proto_put(w, "describe", fault_describe(&af->fault, desc, sizeof(desc)));
	proto_put_u64(w, "remaining_us",
			af->deadline_mono_usec > now_mono ? af->deadline_mono_usec - now_mono : 0);
	proto_put_u64(w, "deadline_realtime_us", af->deadline_realtime_usec);
	proto_put_u64(w, "uid", af->uid);
	if (af->run[0])
		proto_put(w, "run", af->run);
	if (af->fault.kind == FAULT_PARTITION) {
		uint64_t drops = 0;
		if (nl_nft_get_drops(s->nft, af->id, &drops) >= 0) {
			proto_put_u64(w, "matched", drops);
			proto_put_u64(w, "dropped", drops);
			proto_put_u64(w, "delayed", 0);
		}
		return;
	}
	if (dir_has(af->fault.direction, FAULT_DIR_OUT))
		(void)datapath_get_stats(s->dp, &af->edge, af->ifindex, FAULT_DIR_OUT, &st);
	if (dir_has(af->fault.direction, FAULT_DIR_IN))
		(void)datapath_get_stats(s->dp, &af->edge, af->ifindex, FAULT_DIR_IN, &st_in);
	proto_put_u64(w, "matched", st.packets + st.drops + st_in.packets + st_in.drops);
	proto_put_u64(w, "delayed", st.qlen + st_in.qlen);
	proto_put_u64(w, "dropped", st.drops + st_in.drops);
}

static int handle_status(struct server *s, struct proto_writer *w)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);

	const struct kill_latch *g = find_latch(s, "");
	proto_put(w, "killed", g ? "yes" : "no");
	if (g)
		proto_put(w, "kill_reason", g->reason);
	/* before the records: after one it would belong to that record */
	proto_put_u64(w, "faults", s->n_faults);
	for (unsigned i = 0; i < s->n_latches; i++) {
		const struct kill_latch *k = &s->latches[i];
		proto_record(w, "kill");
		proto_put(w, "edge", k->edge[0] ? k->edge : "*");
		proto_put(w, "reason", k->reason);
		proto_put_u64(w, "uid", k->uid);
		proto_put_u64(w, "since_us", k->realtime_usec);
		proto_put_u64(w, "until_us", k->until_realtime_usec);
	}
	for (unsigned i = 0; i < s->n_faults; i++)
		put_fault(s, w, s->faults[i], now);
	return 0;
}

static int handle_revert(struct server *s, struct client *c, const struct proto_msg *m,
		struct proto_writer *w, struct diag *d)
{
	const char *id_s = proto_msg_get(m, 0, "id"), *edge = proto_msg_get(m, 0, "edge");
	const char *all = proto_msg_get(m, 0, "all");
	unsigned reverted = 0;
	int r = 0;

	if (!!id_s + !!edge + !!all != 1)
		return diag_add(d, -EINVAL, "revert needs exactly one of ID, --edge NAME, --all");
	if (id_s) {
		uint64_t id;
		int i;
		if (parse_u64_range(id_s, 1, UINT64_MAX, &id) < 0)
			return diag_add(d, -EINVAL, "fault id '%s' is not a positive number", id_s);
		i = find_fault(s, id);
		if (i < 0)
			return diag_add(d, -ENOENT, "no active fault with id %s (see 'chaosctl "
					"status')", id_s);
		r = revert_fault(s, (unsigned)i, "revert", c->cred.uid, c->cred.pid, d);
		reverted += r >= 0;
	} else {
		if (edge && !config_find_edge(s->config, edge)) {
			bool active = false;
			for (unsigned i = 0; i < s->n_faults; i++)
				active |= streq(s->faults[i]->edge.name, edge);
			if (!active)
				return diag_add(d, -ENOENT, "unknown edge '%s'", edge);
		}
		/* Keep going past a failed revert: the others still go, the error is reported. */
		for (unsigned i = s->n_faults; i-- > 0;) {
			if (edge && !streq(s->faults[i]->edge.name, edge))
				continue;
			int k = revert_fault(s, i, "revert", c->cred.uid, c->cred.pid, d);
			if (k < 0 && r >= 0)
				r = k;
			reverted += k >= 0;
		}
	}
	proto_put_u64(w, "reverted", reverted);
	return r;
}

/* Timers hold a pointer to their latch: re-point those from FIRST on, which moved. */
static void latches_repoint(struct server *s, unsigned first)
{
	for (unsigned k = first; k < s->n_latches; k++)
		if (s->latches[k].timer)
			sd_event_source_set_userdata(s->latches[k].timer, &s->latches[k]);
}

static void latch_remove(struct server *s, unsigned i)
{
	sd_event_source_disable_unref(s->latches[i].timer);
	memmove(&s->latches[i], &s->latches[i + 1], (s->n_latches - i - 1) * sizeof(*s->latches));
	s->n_latches--;
	latches_repoint(s, i);
}

/* The latch of EDGE ("": global), the one already there or a new, empty one. */
static struct kill_latch *latch_get(struct server *s, const char *edge)
{
	struct kill_latch *k = find_latch(s, edge), *nl;

	if (k)
		return k;
	nl = reallocarray(s->latches, s->n_latches + 1, sizeof(*nl));
	if (!nl)
		return NULL;
	s->latches = nl;
	latches_repoint(s, 0);
	k = &s->latches[s->n_latches++];
	memset(k, 0, sizeof(*k));
	snprintf(k->edge, sizeof(k->edge), "%s", edge);
	k->server = s;
	return k;
}

/* TEXT as one field of a tab-separated line. */
static void field_copy(char *dst, size_t n, const char *text)
{
	snprintf(dst, n, "%s", text);
	for (char *c = dst; *c; c++)
		if (*c == '\t' || *c == '\n')
			*c = ' ';
}

/* The kill switch outlives chaosd: a crash, a restart or an upgrade must not re-arm it behind
 * the back of whoever pulled it. STATE_DIR/kill-switch, one line per latch, replaced
 * atomically (temp, fsync, rename, fsync dir) on each change; no latch, no file. */
static int fill_latches(FILE *f, const void *userdata)
{
	const struct server *s = userdata;

	for (unsigned i = 0; i < s->n_latches; i++) {
		const struct kill_latch *k = &s->latches[i];
		char reason[sizeof(k->reason)];

		field_copy(reason, sizeof(reason), k->reason);
		fprintf(f, "%s\t%" PRIu64 "\t%" PRIu64 "\t%u\t%d\t%s\n", k->edge[0] ? k->edge : "*",
				k->realtime_usec, k->until_realtime_usec, (unsigned)k->uid, (int)k->pid,
				reason);
	}
	return ferror(f) ? -EIO : 0;
}

static int latches_save(struct server *s)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int dfd = -EBADF;
	int r;

	if (asprintf(&path, "%s/kill-switch", s->opt.state_dir) < 0)
		return -ENOMEM;
	if (s->n_latches == 0)
		r = unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
	else
		r = fileio_write_atomic(path, 0600, fill_latches, s);
	if (r < 0)
		return r;
	dfd = open(s->opt.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}

static void latches_persist(struct server *s)
{
	int r = latches_save(s);

	if (r < 0)
		log_error("kill switch: cannot save it to '%s/kill-switch': %s; a restart of chaosd "
				"would not know it is engaged", s->opt.state_dir, strerror(-r));
}

static int on_latch_expired(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct kill_latch *k = userdata;
	struct server *s = k->server;

	log_notice("kill switch%s%s%s re-armed by itself: its time is up", k->edge[0] ? " for '" : "",
			k->edge, k->edge[0] ? "'" : "");
	audit_log(&(struct audit_event){ .action = "arm", .edge = k->edge, .params = "timed" });
	latch_remove(s, (unsigned)(k - s->latches));
	latches_persist(s);
	server_notify_status(s);
	return 0;
}

/* A line of STATE_DIR/kill-switch: EDGE|*, engaged at, until (0: until arm), uid, pid, reason. */
static int latch_parse(char *line, struct kill_latch *ret)
{
	char *fld[6], *save = NULL;
	uint64_t v[4];
	unsigned n = 0;

	for (char *t = strtok_r(line, "\t", &save); t && n < 6; t = strtok_r(NULL, "\t", &save))
		fld[n++] = t;
	if (n < 5 || strlen(fld[0]) >= sizeof(ret->edge))
		return -EBADMSG;
	for (unsigned i = 0; i < 4; i++)
		if (parse_u64_range(fld[1 + i], 0, i == 2 ? UINT32_MAX : i == 3 ? INT_MAX :
				UINT64_MAX, &v[i]) < 0)
			return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->edge, sizeof(ret->edge), "%s", streq(fld[0], "*") ? "" : fld[0]);
	ret->realtime_usec = v[0];
	ret->until_realtime_usec = v[1];
	ret->uid = (uid_t)v[2];
	ret->pid = (pid_t)v[3];
	snprintf(ret->reason, sizeof(ret->reason), "%s", n > 5 ? fld[5] : "");
	return 0;
}

/* On start, before any fault is re-adopted: the latches from before a crash or restart. A timed
 * one whose time ran out while chaosd was down re-arms now. A file chaosd cannot read engages
 * the global switch: it cannot tell whether someone pulled it, and no fault is the safe side. */
static int latches_load(struct server *s)
{
	_cleanup_free_ char *path = NULL;
	uint64_t now = now_usec(CLOCK_REALTIME);
	char line[1024], bad[PATH_MAX + 64] = "";
	unsigned lineno = 0;
	bool changed = false;
	FILE *f;

	if (asprintf(&path, "%s/kill-switch", s->opt.state_dir) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f && errno != ENOENT)
		snprintf(bad, sizeof(bad), "%s: %s", path, strerror(errno));
	while (f && !bad[0] && fgets(line, sizeof(line), f)) {
		struct kill_latch l, *k;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (latch_parse(line, &l) < 0) {
			snprintf(bad, sizeof(bad), "%s:%u: not a kill switch record", path, lineno);
			break;
		}
		if (l.until_realtime_usec && l.until_realtime_usec <= now) {
			log_notice("kill switch%s%s%s re-armed: its time ran out while chaosd was "
					"down", l.edge[0] ? " for '" : "", l.edge, l.edge[0] ? "'" : "");
			audit_log(&(struct audit_event){ .action = "arm", .edge = l.edge,
					.params = "timed, while chaosd was down" });
			changed = true;
			continue;
		}
		k = latch_get(s, l.edge);
		if (!k) {
			fclose(f);
			return -ENOMEM;
		}
		l.server = s;
		*k = l;
		if (l.until_realtime_usec)
			(void)sd_event_add_time_relative(s->event, &k->timer, CLOCK_MONOTONIC,
					l.until_realtime_usec - now, USEC_PER_SEC, on_latch_expired, k);
		log_notice("kill switch%s%s%s is still engaged from before chaosd stopped (by uid "
				"%u%s%s%s)", l.edge[0] ? " for '" : "", l.edge, l.edge[0] ? "'" : "",
				(unsigned)l.uid, l.reason[0] ? ": '" : "", l.reason,
				l.reason[0] ? "'" : "");
	}
	if (f)
		fclose(f);
	if (bad[0]) {
		struct kill_latch *k = latch_get(s, "");

		if (!k)
			return -ENOMEM;
		k->realtime_usec = now;
		field_copy(k->reason, sizeof(k->reason), bad);
		log_error("kill switch state unreadable (%s): engaging the kill switch until "
				"'chaosctl arm'", bad);
		changed = true;
	}
	if (changed)
		latches_persist(s);
	return 0;
}

/* One line per activation in STATE_DIR/kill-history, for `chaosctl kill --history`. */
static void history_append(struct server *s, const struct kill_latch *k, unsigned reverted,
		const char *result)
{
	_cleanup_free_ char *path = NULL;
	char reason[256];
	FILE *f;

	if (asprintf(&path, "%s/kill-history", s->opt.state_dir) < 0)
		return;
	f = fopen(path, "ae");
	if (!f) {
		log_warning("cannot append to '%s': %m", path);
		return;
	}
	field_copy(reason, sizeof(reason), k->reason);
	fprintf(f, "%" PRIu64 "\t%u\t%d\t%s\t%" PRIu64 "\t%u\t%s\t%s\n", k->realtime_usec,
			(unsigned)k->uid, (int)k->pid, k->edge[0] ? k->edge : "*",
			k->until_realtime_usec ? k->until_realtime_usec - k->realtime_usec : 0,
			reverted, result, reason);
	fclose(f);
}

static int put_history(struct server *s, struct proto_writer *w)
{
	_cleanup_free_ char *path = NULL;
	char lines[KILL_HISTORY_SHOW][512];
	unsigned n = 0;
	char line[512];
	FILE *f;

	if (asprintf(&path, "%s/kill-history", s->opt.state_dir) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			snprintf(lines[n++ % KILL_HISTORY_SHOW], sizeof(lines[0]), "%s", line);
		fclose(f);
	}
	for (unsigned i = n > KILL_HISTORY_SHOW ? n - KILL_HISTORY_SHOW : 0; i < n; i++) {
		char *fld[8], *save = NULL, *l = lines[i % KILL_HISTORY_SHOW];
		unsigned k = 0;
		l[strcspn(l, "\n")] = '\0';
		for (char *t = strtok_r(l, "\t", &save); t && k < 8; t = strtok_r(NULL, "\t", &save))
			fld[k++] = t;
		if (k < 7)
			continue;
		proto_record(w, "activation");
		proto_put(w, "time_us", fld[0]);
		proto_put(w, "uid", fld[1]);
		proto_put(w, "pid", fld[2]);
		proto_put(w, "edge", fld[3]);
		proto_put(w, "for_us", fld[4]);
		proto_put(w, "reverted", fld[5]);
		proto_put(w, "result", fld[6]);
		proto_put(w, "reason", k > 7 ? fld[7] : "");
	}
	return 0;
}

static int handle_kill(struct server *s, struct client *c, const struct proto_msg *m,
		struct proto_writer *w, struct diag *d)
{
	const char *reason = proto_msg_get(m, 0, "reason"), *edge = proto_msg_get(m, 0, "edge");
	const char *for_s = proto_msg_get(m, 0, "for");
	uint64_t t0 = now_usec(CLOCK_MONOTONIC), dur = 0;
	struct kill_latch *k;
	unsigned reverted = 0;
	int r;

	if (proto_msg_get(m, 0, "history"))
		return put_history(s, w);
	if (for_s && (parse_duration(for_s, &dur) < 0 || dur == 0))
		return diag_add(d, -EINVAL, "kill --for: '%s' is not a duration (e.g. 30m, 1h)",
				for_s);
	if (edge && !config_find_edge(s->config, edge))
		return diag_add(d, -ENOENT, "unknown edge '%s'", edge);

	/* Latch first: even if some revert fails below, nothing new may be injected. */
	s->metrics.kill_activations++;
	k = latch_get(s, edge ? edge : "");
	if (!k)
		return -ENOMEM;
	k->uid = c->cred.uid;
	k->pid = c->cred.pid;
	k->realtime_usec = now_usec(CLOCK_REALTIME);
	k->until_realtime_usec = dur ? k->realtime_usec + dur : 0;
	snprintf(k->reason, sizeof(k->reason), "%s", reason ? reason : "");
	k->timer = sd_event_source_disable_unref(k->timer);
	if (dur)
		(void)sd_event_add_time_relative(s->event, &k->timer, CLOCK_MONOTONIC, dur,
				USEC_PER_SEC, on_latch_expired, k);
	latches_persist(s);

	if (edge) {
		r = revert_edge(s, edge, "kill", c->cred.uid, c->cred.pid, &reverted, d);
		if (r < 0)
			schedule_retry(s);
	} else {
		reverted = s->n_faults;
		r = server_revert_all(s, "kill", c->cred.uid, c->cred.pid);
		if (r < 0)
			reverted = 0;
	}
	{
		char why[400];

		snprintf(why, sizeof(why), "kill switch%s%s by uid %u%s%s", edge ? " on edge " : "",
				edge ? edge : "", (unsigned)c->cred.uid, k->reason[0] ? ": " : "",
				k->reason);
		if (edge)
			runner_abort_edge(s->runner, edge, why);
		else
			runner_abort(s->runner, NULL, why);
	}
	audit_log(&(struct audit_event){ .action = "kill-switch", .uid = c->cred.uid,
			.pid = c->cred.pid, .edge = edge, .params = k->reason,
			.result = r < 0 ? "some reverts failed; retrying" : "ok" });
	history_append(s, k, reverted, r < 0 ? "partial" : "ok");
	server_notify_status(s);
	if (r < 0)
		return diag_add(d, r, "kill switch engaged, but some faults could not be reverted "
				"yet: chaosd keeps retrying every second (see 'chaosctl status')");
	proto_put_u64(w, "reverted", reverted);
	proto_put_u64(w, "elapsed_us", now_usec(CLOCK_MONOTONIC) - t0);
	if (edge)
		proto_put(w, "edge", edge);
	if (dur)
		proto_put_u64(w, "for_us", dur);
	return 0;
}

static int handle_arm(struct server *s, struct client *c, const struct proto_msg *m,
		struct proto_writer *w, struct diag *d)
{
	const char *edge = proto_msg_get(m, 0, "edge");
	unsigned n = 0;

	for (unsigned i = s->n_latches; i-- > 0;) {
		if (edge && !streq(s->latches[i].edge, edge))
			continue;
		latch_remove(s, i);
		n++;
	}
	if (edge && n == 0)
		return diag_add(d, -ENOENT, "no kill switch is engaged for edge '%s'", edge);
	if (n)
		latches_persist(s);
	if (n)
		audit_log(&(struct audit_event){ .action = "arm", .uid = c->cred.uid,
				.pid = c->cred.pid, .edge = edge });
	proto_put_u64(w, "released", n);
	server_notify_status(s);
	return 0;
}

static int handle_renew(struct server *s, const struct proto_msg *m, struct proto_writer *w,
		struct diag *d)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	unsigned renewed = 0;

	for (unsigned i = 0; i < m->n_fields; i++) {
		uint64_t id;
		int k;

		if (!streq(m->fields[i].key, "id"))
			continue;
		if (parse_u64_range(m->fields[i].value, 1, UINT64_MAX, &id) < 0)
			return diag_add(d, -EINVAL, "renew: '%s' is not a fault id",
					m->fields[i].value);
		k = find_fault(s, id);
		if (k < 0)
			return diag_add(d, -ENOENT, "fault %s is gone (reverted, expired or "
					"killed)", m->fields[i].value);
		if (!s->faults[k]->fault.lease_usec)
			return diag_add(d, -EINVAL, "fault %s has no lease to renew",
					m->fields[i].value);
		s->faults[k]->lease_mono_usec = now + s->faults[k]->fault.lease_usec;
		renewed++;
	}
	if (renewed == 0)
		return diag_add(d, -EINVAL, "renew: no fault id given");
	proto_put_u64(w, "renewed", renewed);
	return 0;
}

static int handle_edges(struct server *s, struct proto_writer *w)
{
	for (unsigned i = 0; i < s->config->n_edges; i++) {
		const struct edge *e = &s->config->edges[i];
		char buf[1024] = "", pfx[64], port[16];
		size_t len = 0;
		int ifindex;
		struct diag d;

		proto_record(w, "edge");
		proto_put(w, "name", e->name);
		for (unsigned k = 0; k < e->n_prefixes; k++) {
			int n = snprintf(buf + len, sizeof(buf) - len, "%s%s", k ? ", " : "",
					edge_prefix_format(&e->prefixes[k], pfx, sizeof(pfx)));
			if (n > 0)
				len = MIN(len + (size_t)n, sizeof(buf) - 1);
		}
		proto_put(w, "destination", buf);
		snprintf(port, sizeof(port), "%u", e->port);
		proto_put(w, "port", e->port ? port : "any");
		proto_put(w, "protocol", edge_proto_to_string(e->proto));
		diag_init(&d);
		if (datapath_resolve_ifindex(s->dp, e, &ifindex, &d) >= 0) {
			char ifname[IF_NAMESIZE] = "?";
			if_indextoname((unsigned)ifindex, ifname);
			proto_put(w, "interface", ifname);
			proto_put(w, "resolved_by", e->ifname[0] ? "config" : "route");
		} else {
			proto_put(w, "interface", e->ifname[0] ? e->ifname : "");
			proto_put(w, "error", diag_text(&d));
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ metrics */

static int render_metrics(struct server *s, enum metrics_format format, char **ret,
		size_t *ret_len)
{
	_cleanup_free_ struct metrics_fault *faults = NULL;
	_cleanup_free_ const char **scopes = NULL;
	const struct report *running[16];
	struct metrics_state st = { .counters = &s->metrics, .config = s->config };

	faults = calloc(s->n_faults ? s->n_faults : 1, sizeof(*faults));
	scopes = calloc(s->n_latches ? s->n_latches : 1, sizeof(*scopes));
	if (!faults || !scopes)
		return -ENOMEM;
	for (unsigned i = 0; i < s->n_faults; i++)
		faults[i] = (struct metrics_fault){ s->faults[i]->edge.name,
			s->faults[i]->fault.kind };
	for (unsigned i = 0; i < s->n_latches; i++)
		scopes[i] = s->latches[i].edge;
	st.faults = faults;
	st.n_faults = s->n_faults;
	st.kill_scopes = scopes;
	st.n_kill_scopes = s->n_latches;
	st.running = running;
	st.n_running = runner_metrics(s->runner, st.runs_ended, running, ELEMENTSOF(running));
	return metrics_render(&st, format, ret, ret_len);
}

/* The text goes in "data" fields of at most PROTO_MAX_VALUE bytes, cut at line ends. */
static int handle_metrics(struct server *s, struct proto_writer *w)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = render_metrics(s, METRICS_OPENMETRICS, &text, &len);
	if (r < 0)
		return r;
	proto_put(w, "content_type", METRICS_OPENMETRICS_TYPE);
	for (size_t off = 0; off < len;) {
		size_t n = MIN(len - off, (size_t)PROTO_MAX_VALUE);
		char chunk[PROTO_MAX_VALUE + 1];

		while (n < len - off && n > 1 && text[off + n - 1] != '\n')
			n--;
		memcpy(chunk, text + off, n);
		chunk[n] = '\0';
		proto_put(w, "data", chunk);
		off += n;
	}
	return 0;
}

static void metrics_file_write(struct server *s)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	s->metrics_written_mono = now_usec(CLOCK_MONOTONIC);
	r = render_metrics(s, METRICS_PROMETHEUS, &text, &len);
	if (r >= 0)
		r = metrics_write_file(s->config->metrics_file, text, len);
	if (r < 0)
		log_error("cannot write metrics_file '%s': %s", s->config->metrics_file,
				strerror(-r));
}

static int on_metrics_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	if (s->config->metrics_file)
		metrics_file_write(s);
	return 0;
}

/* Debounced: a burst of changes is one write, and an idle daemon has no timer at all. */
void server_metrics_changed(struct server *s)
{
	uint64_t at = MAX(now_usec(CLOCK_MONOTONIC), s->metrics_written_mono + USEC_PER_SEC);
	int enabled = SD_EVENT_OFF;

	if (!s->config->metrics_file)
		return;
	if (s->metrics_timer && sd_event_source_get_enabled(s->metrics_timer, &enabled) >= 0 &&
			enabled != SD_EVENT_OFF)
		return;
	if (!s->metrics_timer) {
		(void)sd_event_add_time(s->event, &s->metrics_timer, CLOCK_MONOTONIC, at,
				10 * USEC_PER_MSEC, on_metrics_timer, s);
		return;
	}
	(void)sd_event_source_set_time(s->metrics_timer, at);
	(void)sd_event_source_set_enabled(s->metrics_timer, SD_EVENT_ONESHOT);
}

/* Refused or failed state-changing requests are audited too: who tried what matters. */
/* ------------------------------------------------------------------ scenarios */

/* The scenario file travels as "file" (its name, for messages) and one "line" field per
 * line, so no single value has to hold the whole file. */
static int load_scenario(struct server *s, struct client *c, const struct proto_msg *m,
		struct scenario **ret, struct diag *d)
{
	_cleanup_(scenario_freep) struct scenario *sc = NULL;
	_cleanup_free_ char *text = NULL;
	const char *file = proto_msg_get(m, 0, "file");
	size_t len = 0, cap = 0;
	int r;

	for (unsigned i = 0; i < m->n_fields; i++) {
		size_t n;

		if (!streq(m->fields[i].key, "line"))
			continue;
		n = strlen(m->fields[i].value);
		if (len + n + 2 > cap) {
			size_t nc = MAX(cap * 2, len + n + 2 + 4096);
			char *t = realloc(text, nc);
			if (!t)
				return -ENOMEM;
			text = t;
			cap = nc;
		}
		memcpy(text + len, m->fields[i].value, n);
		len += n;
		text[len++] = '\n';
		text[len] = '\0';
	}
	if (!text)
		return diag_add(d, -EINVAL, "%s: empty scenario", file ? file : "scenario");
	r = scenario_load_string(text, len, file ? file : "scenario", &sc, d);
	if (r < 0)
		return r;
	r = runner_check(s->runner, sc, c->cred.uid, d);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(sc);
	return 0;
}

static int handle_scenario(struct server *s, struct client *c, uint16_t type,
		const struct proto_msg *m, struct proto_writer *w, struct diag *d)
{
	_cleanup_(scenario_freep) struct scenario *sc = NULL;
	char id[REPORT_ID_MAX + 1];
	int r;

	r = load_scenario(s, c, m, &sc, d);
	if (r < 0)
		return r;
	if (type == PROTO_PLAN)
		return runner_plan(s->runner, sc, w, d);
	if (type == PROTO_VALIDATE) {
		proto_put(w, "name", sc->name);
		proto_put_u64(w, "steps", sc->n_steps);
		proto_put_u64(w, "probes", sc->n_probes);
		proto_put_u64(w, "planned_us", 2 * sc->steady_state_usec + sc->method_usec);
		proto_put_u64(w, "max_duration_us", sc->max_duration_usec);
		return 0;
	}
	r = runner_start(s->runner, TAKE_PTR(sc), c->cred.uid, c->cred.pid, id, sizeof(id), d);
	if (r < 0)
		return r;
	proto_put(w, "run", id);
	return 0;
}

static int handle_abort(struct server *s, struct client *c, const struct proto_msg *m,
		struct proto_writer *w, struct diag *d)
{
	const char *run = proto_msg_get(m, 0, "run");
	char why[128];
	unsigned n;

	snprintf(why, sizeof(why), "chaosctl abort by uid %u", (unsigned)c->cred.uid);
	n = runner_abort(s->runner, run, why);
	if (n == 0)
		return diag_add(d, -ESRCH, run ? "run '%s' is not running" :
					  "no scenario is running%s", run ? run : "");
	audit_log(&(struct audit_event){ .action = "scenario-abort", .uid = c->cred.uid,
			.pid = c->cred.pid, .run = run, .result = "ok" });
	proto_put_u64(w, "aborted", n);
	return 0;
}

unsigned server_abort_runs(struct server *s, const char *why)
{
	return runner_abort(s->runner, NULL, why);
}

static void audit_refusal(const struct client *c, const struct proto_verb *verb,
		const struct proto_msg *m, const struct diag *d)
{
	char params[512] = "";
	size_t len = 0;

	for (unsigned i = 0; i < m->n_fields; i++) {
		/* a scenario's text is in the run's report, not in every audit line */
		if (streq(m->fields[i].key, "edge") || streq(m->fields[i].key, "kind") ||
				streq(m->fields[i].key, "line"))
			continue;
		int n = snprintf(params + len, sizeof(params) - len, "%s%s=%s", len ? " " : "",
				m->fields[i].key, m->fields[i].value);
		if (n > 0)
			len = MIN(len + (size_t)n, sizeof(params) - 1);
	}
	audit_log(&(struct audit_event){ .action = verb->name, .uid = c->cred.uid,
			.pid = c->cred.pid, .edge = proto_msg_get(m, 0, "edge"),
			.fault = proto_msg_get(m, 0, "kind"), .params = params,
			.result = diag_text(d) });
}

static int dispatch(struct server *s, struct client *c, uint16_t type, const uint8_t *payload,
		size_t len, struct proto_writer *w)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	const struct proto_verb *verb = proto_verb_by_type(type);
	struct diag d;
	int r;

	diag_init(&d);
	proto_writer_init(w, PROTO_REPLY_OK, PROTO_MAX_REPLY);
	if (!verb)
		return reply_error(w, -EOPNOTSUPP, "unknown request type (is chaosctl newer than "
				"chaosd?)");
	if (!c->may_read)
		return reply_error(w, -EPERM, "permission denied: only root and members of the "
				"socket group or read_group may talk to chaosd");
	r = proto_msg_decode(type, payload, len, &m, &d);
	if (r < 0)
		return reply_error(w, r, diag_text(&d));
	if (verb->access == PROTO_WRITE && !c->may_write) {
		diag_add(&d, -EPERM, "permission denied: uid %u is neither root nor in the socket "
				"group '%s'; it may only read", (unsigned)c->cred.uid,
				s->config->socket_group ? s->config->socket_group : "");
		audit_refusal(c, verb, m, &d);
		return reply_error(w, -EPERM, diag_text(&d));
	}
	switch (verb->type) {
	case PROTO_INJECT:
		r = handle_inject(s, c, m, w, &d);
		break;
	case PROTO_STATUS:
		r = handle_status(s, w);
		break;
	case PROTO_REVERT:
		r = handle_revert(s, c, m, w, &d);
		break;
	case PROTO_KILL:
		r = handle_kill(s, c, m, w, &d);
		break;
	case PROTO_ARM:
		r = handle_arm(s, c, m, w, &d);
		break;
	case PROTO_EDGES:
		r = handle_edges(s, w);
		break;
	case PROTO_PING:
		proto_put(w, "version", PACKAGE_VERSION);
		r = 0;
		break;
	case PROTO_RENEW:
		r = proto_msg_get(m, 0, "run") ? runner_renew(s->runner, proto_msg_get(m, 0, "run"),
							 &d) :
						  handle_renew(s, m, w, &d);
		break;
	case PROTO_RUN:
	case PROTO_VALIDATE:
	case PROTO_PLAN:
		r = handle_scenario(s, c, verb->type, m, w, &d);
		break;
	case PROTO_WATCH: {
		uint64_t since = 0;
		const char *v = proto_msg_get(m, 0, "since");

		if (v && parse_u64_range(v, 0, UINT32_MAX, &since) < 0)
			r = diag_add(&d, -EINVAL, "since: '%s' is not a number", v);
		else
			r = runner_watch(s->runner, proto_msg_get(m, 0, "run"), (unsigned)since, w,
					&d);
		break;
	}
	case PROTO_ABORT:
		r = handle_abort(s, c, m, w, &d);
		break;
	case PROTO_REPORT:
		r = runner_report(s->runner, proto_msg_get(m, 0, "run"),
				proto_msg_get(m, 0, "format"), w, &d);
		break;
	case PROTO_METRICS:
		r = handle_metrics(s, w);
		break;
	default:
		r = -EOPNOTSUPP;
	}
	if (r < 0) {
		log_error("%s request from uid %u pid %d failed: %s", verb->name,
				(unsigned)c->cred.uid, (int)c->cred.pid, diag_text(&d));
		if (verb->access == PROTO_WRITE)
			audit_refusal(c, verb, m, &d);
		return reply_error(w, r, diag_text(&d));
	}
	return 0;
}

/* ------------------------------------------------------------------ clients */

static void client_free(struct client *c)
{
	struct server *s;

	if (!c)
		return;
	s = c->server;
	if (c->prev)
		c->prev->next = c->next;
	else if (s->clients == c)
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_clients--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->idle);
	sd_event_source_disable_unref(c->more);
	safe_close(c->fd);
	free(c->out);
	free(c);
}

static int client_queue(struct client *c, const void *buf, size_t len)
{
	char *n;

	if (c->out_len - c->out_pos + len > CLIENT_OUT_MAX)
		return -ENOBUFS;
	if (c->out_pos > 0) {
		memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
		c->out_len -= c->out_pos;
		c->out_pos = 0;
	}
	n = realloc(c->out, c->out_len + len);
	if (!n)
		return -ENOMEM;
	c->out = n;
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return 0;
}

static int client_flush(struct client *c)
{
	while (c->out_pos < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos,
				MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			return negative_errno();
		}
		c->out_pos += (size_t)n;
	}
	return sd_event_source_set_io_events(c->io,
			(c->out_len - c->out_pos < CLIENT_OUT_HIGH ? EPOLLIN : 0) |
					(c->out_pos < c->out_len ? EPOLLOUT : 0));
}

static bool frame_complete(const struct client *c)
{
	uint32_t len;

	if (c->in_len < PROTO_HEADER_SIZE)
		return false;
	len = (uint32_t)c->in[8] << 24 | (uint32_t)c->in[9] << 16 | (uint32_t)c->in[10] << 8 |
			c->in[11];
	/* An oversized length is "complete" too: it is answered with an error at once. */
	return len > PROTO_MAX_REQUEST || c->in_len >= PROTO_HEADER_SIZE + len;
}

static int client_process(struct client *c);

static int on_client_more(sd_event_source *es, void *userdata)
{
	struct client *c = userdata;

	if (client_process(c) < 0)
		client_free(c);
	return 0;
}

/* Handle every complete frame in the input buffer. */
static int client_process(struct client *c)
{
	unsigned frames = 0;
	int r;

	while (c->in_len >= PROTO_HEADER_SIZE) {
		struct proto_header h;
		struct proto_writer w;
		struct diag d;
		const void *buf;
		size_t len;

		if (frames++ == CLIENT_FRAMES_PER_WAKEUP ||
				c->out_len - c->out_pos >= CLIENT_OUT_HIGH)
			break;

		diag_init(&d);
		r = proto_header_decode(c->in, c->in_len, PROTO_MAX_REQUEST, &h, &d);
		if (r < 0) {
			/* The stream cannot be resynchronised: say why, then hang up. */
			proto_writer_init(&w, PROTO_REPLY_ERROR, PROTO_MAX_REPLY);
			reply_error(&w, r, diag_text(&d));
			if (proto_writer_finish(&w, &buf, &len) >= 0)
				(void)send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			proto_writer_done(&w);
			return r;
		}
		if (c->in_len < PROTO_HEADER_SIZE + h.length)
			break;
		dispatch(c->server, c, h.type, c->in + PROTO_HEADER_SIZE, h.length, &w);
		r = proto_writer_finish(&w, &buf, &len);
		if (r < 0) {
			proto_writer_done(&w);
			proto_writer_init(&w, PROTO_REPLY_ERROR, PROTO_MAX_REPLY);
			reply_error(&w, r, "reply too large");
			r = proto_writer_finish(&w, &buf, &len);
		}
		if (r >= 0)
			r = client_queue(c, buf, len);
		proto_writer_done(&w);
		if (r < 0)
			return r;
		memmove(c->in, c->in + PROTO_HEADER_SIZE + h.length,
				c->in_len - PROTO_HEADER_SIZE - h.length);
		c->in_len -= PROTO_HEADER_SIZE + h.length;
	}
	r = client_flush(c);
	if (r < 0)
		return r;
	/* Requests left over are handled on a later loop iteration, after other clients had
	 * their turn; a full output backlog waits for EPOLLOUT instead. */
	if (frame_complete(c) && c->out_len - c->out_pos < CLIENT_OUT_HIGH) {
		if (!c->more)
			return sd_event_add_defer(c->server->event, &c->more, on_client_more, c);
		return sd_event_source_set_enabled(c->more, SD_EVENT_ONESHOT);
	}
	return 0;
}

static int on_client_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct client *c = userdata;
	int r = 0;

	if (revents & EPOLLIN) {
		ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_free(c);
			return 0;
		}
		if (n > 0) {
			c->in_len += (size_t)n;
			sd_event_source_set_time_relative(c->idle, CLIENT_IDLE_USEC);
			r = client_process(c);
		}
	}
	if (r >= 0 && (revents & EPOLLOUT)) {
		r = client_flush(c);
		/* The backlog drained: requests held back for it may go now. */
		if (r >= 0 && c->out_pos == c->out_len && frame_complete(c))
			r = client_process(c);
	}
	if (r < 0 || (revents & (EPOLLHUP | EPOLLERR) && !(revents & EPOLLIN)))
		client_free(c);
	return 0;
}

static int on_client_idle(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct client *c = userdata;

	log_debug("closing idle client pid %d", (int)c->cred.pid);
	client_free(c);
	return 0;
}

static bool peer_in_group(int fd, const struct ucred *cred, const char *group)
{
	struct group *g;
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0)
		return true;
	if (!group || !*group)
		return false;
	g = getgrnam(group);
	if (!g)
		return false;
	if (cred->gid == g->gr_gid)
		return true;
	/* The peer's supplementary groups as of connect(), from the kernel, not from us. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == g->gr_gid)
			return true;
	return false;
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct server *s = userdata;
	struct client *c;
	socklen_t len = sizeof(c->cred);
	int cfd, r;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (s->n_clients >= CLIENTS_MAX) {
		log_warning("refusing client: %u connections open", s->n_clients);
		safe_close(cfd);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		safe_close(cfd);
		return 0;
	}
	c->server = s;
	c->fd = cfd;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		safe_close(cfd);
		free(c);
		return 0;
	}
	/* Decided once per connection from the kernel's SO_PEERCRED, never from the request. */
	c->may_write = peer_in_group(cfd, &c->cred, s->config->socket_group);
	c->may_read = c->may_write || peer_in_group(cfd, &c->cred, s->config->read_group);
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
	r = sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_client_io, c);
	if (r >= 0)
		r = sd_event_add_time_relative(s->event, &c->idle, CLOCK_MONOTONIC,
				CLIENT_IDLE_USEC, USEC_PER_SEC, on_client_idle, c);
	if (r < 0)
		client_free(c);
	return 0;
}

static int make_socket_dir(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

int server_listen(struct server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct group *g;
	struct stat st;
	int n, r;

	n = sd_listen_fds(true);
	if (n > 1) {
		log_error("expected one socket from systemd, got %d", n);
		return -EINVAL;
	}
	if (n == 1) {
		s->listen_fd = SD_LISTEN_FDS_START;
		(void)fcntl(s->listen_fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(s->listen_fd, F_SETFL, O_NONBLOCK);
	} else {
		if (strlen(s->opt.socket_path) >= sizeof(sa.sun_path)) {
			log_error("socket path '%s' is too long", s->opt.socket_path);
			return -ENAMETOOLONG;
		}
		strcpy(sa.sun_path, s->opt.socket_path);
		r = make_socket_dir(s->opt.socket_path);
		if (r < 0) {
			log_error("cannot create the directory of '%s': %s", s->opt.socket_path,
					strerror(-r));
			return r;
		}
		/* Remove a stale socket of a dead daemon, but never a file that is not one, and
		 * never the socket of a live daemon. */
		if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			_cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				log_error("another chaosd is already listening on '%s'",
						s->opt.socket_path);
				return -EADDRINUSE;
			}
			unlink(sa.sun_path);
		}
		s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s->listen_fd < 0)
			return negative_errno();
		s->listen_fd_ours = true;
		if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
				listen(s->listen_fd, 64) < 0) {
			r = negative_errno();
			log_error("cannot listen on '%s': %s", s->opt.socket_path, strerror(-r));
			return r;
		}
		/* With a read_group, users outside the socket group must be able to connect;
		 * what each may do is then decided per request from SO_PEERCRED. */
		if (chmod(sa.sun_path, s->config->read_group ? 0666 : 0660) < 0)
			log_warning("cannot set the mode of '%s': %m", sa.sun_path);
		g = s->config->socket_group ? getgrnam(s->config->socket_group) : NULL;
		if (s->config->socket_group && !g)
			log_warning("socket_group '%s' does not exist: only root may use '%s'",
					s->config->socket_group, sa.sun_path);
		else if (g && chown(sa.sun_path, 0, g->gr_gid) < 0)
			log_warning("cannot give '%s' to group '%s': %m", sa.sun_path,
					s->config->socket_group);
	}
	r = sd_event_add_io(s->event, &s->listen_source, s->listen_fd, EPOLLIN, on_accept, s);
	if (r < 0)
		return r;
	/* Accept the kill switch before any pending bulk work: it is the request that matters
	 * most when a GameDay goes wrong. */
	(void)sd_event_source_set_priority(s->listen_source, SD_EVENT_PRIORITY_IMPORTANT);
	return 0;
}

/* An interface under active faults was deleted: its clsact and filters went with it, chaosd's
 * IFBs did not. Drop the faults (there is nothing left to revert on it) and the IFBs. */
static void interface_deleted(struct server *s, int ifindex, const char *name)
{
	_cleanup_free_ struct active_fault **rest = NULL;
	unsigned n = 0, dropped = 0;
	bool partitions = false;
	struct diag d;

	rest = calloc(s->n_faults ? s->n_faults : 1, sizeof(*rest));
	if (!rest)
		return;
	for (unsigned i = 0; i < s->n_faults; i++) {
		struct active_fault *af = s->faults[i];
		if (af->ifindex != ifindex) {
			rest[n++] = af;
			continue;
		}
		partitions |= af->fault.kind == FAULT_PARTITION;
		audit_log(&(struct audit_event){ .action = "interface-gone", .fault_id = af->id,
				.edge = af->edge.name, .fault = fault_kind_to_string(af->fault.kind),
				.result = "interface deleted" });
		(void)journal_fault_remove(s->journal, af->id);
		s->metrics.reverted[af->fault.kind]++;
		active_fault_free(af);
		dropped++;
	}
	if (dropped == 0)
		return;
	log_warning("interface '%s' (index %d) was deleted under %u fault(s): dropping them, the "
			"kernel removed their filters with it", name, ifindex, dropped);
	memcpy(s->faults, rest, n * sizeof(*rest));
	s->n_faults = n;
	by_edge_rebuild(s);
	diag_init(&d);
	(void)datapath_forget_interface(s->dp, ifindex, &d);
	if (partitions && sync_partitions(s, s->faults, s->n_faults, &d) < 0)
		log_error("resyncing partitions after '%s' went away: %s", name, diag_text(&d));
	server_notify_status(s);
}

static void interface_renamed(struct server *s, int ifindex, const char *name)
{
	bool partitions = false, any = false;
	struct diag d;

	for (unsigned i = 0; i < s->n_faults; i++) {
		struct active_fault *af = s->faults[i];
		if (af->ifindex != ifindex || streq(af->ifname, name))
			continue;
		if (!any)
			log_notice("interface '%s' (index %d) is now called '%s'; its faults follow it",
					af->ifname, ifindex, name);
		any = true;
		snprintf(af->ifname, sizeof(af->ifname), "%s", name);
		partitions |= af->fault.kind == FAULT_PARTITION;
	}
	/* tc objects hang off the index; nftables rules match the name and must be rewritten. */
	diag_init(&d);
	if (partitions && sync_partitions(s, s->faults, s->n_faults, &d) < 0)
		log_error("rewriting partitions for renamed '%s': %s", name, diag_text(&d));
}

/* Edges found by route follow their route: a fault moves when the route does. */
static int on_route_check(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	for (unsigned i = s->n_faults; i-- > 0;) {
		struct active_fault *af = s->faults[i], *moved;
		struct journal_fault jf;
		const struct edge *e;
		bool updated;
		struct diag d;
		int ifindex;

		if (af->edge.ifname[0])
			continue;
		diag_init(&d);
		if (datapath_resolve_ifindex(s->dp, &af->edge, &ifindex, &d) < 0 ||
				ifindex == af->ifindex)
			continue;
		e = config_find_edge(s->config, af->edge.name);
		jf = (struct journal_fault){ .id = af->id, .fault = af->fault, .uid = af->uid,
			.deadline_realtime_usec = af->deadline_realtime_usec };
		snprintf(jf.run, sizeof(jf.run), "%s", af->run);
		log_notice("edge '%s' now routes via interface index %d instead of '%s': moving "
				"fault %" PRIu64, af->edge.name, ifindex, af->ifname, af->id);
		if (revert_fault(s, (unsigned)i, "move", 0, 0, &d) < 0) {
			log_error("moving fault %" PRIu64 ": revert on the old interface failed: %s",
					jf.id, diag_text(&d));
			continue;
		}
		if (!e || apply_fault(s, e, ifindex, &jf.fault, jf.id, jf.deadline_realtime_usec,
				jf.uid, 0, jf.run, &moved, &updated, &d) < 0)
			log_error("moving fault %" PRIu64 ": apply on the new interface failed, it "
					"stays reverted: %s", jf.id, diag_text(&d));
	}
	return 0;
}

static int on_monitor(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct server *s = userdata;
	char buf[16384];
	ssize_t got;
	int n;

	s->n_ifcache = 0; /* whatever it says, names are asked from the kernel again */
	got = mnl_socket_recvfrom(s->monitor, buf, sizeof(buf));
	if (got < 0) {
		/* ENOBUFS: events were lost; re-checking routes covers the moves we missed. */
		if (errno == ENOBUFS)
			sd_event_source_set_enabled(s->route_check, SD_EVENT_ONESHOT);
		return 0;
	}
	n = (int)got;
	for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, n);
			nlh = mnl_nlmsg_next(nlh, &n)) {
		const struct ifinfomsg *ifi;
		const struct nlattr *attr;
		const char *name = "?";

		switch (nlh->nlmsg_type) {
		case RTM_NEWLINK:
		case RTM_DELLINK:
			ifi = mnl_nlmsg_get_payload(nlh);
			mnl_attr_for_each(attr, nlh, sizeof(*ifi))
				if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
						mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
					name = mnl_attr_get_str(attr);
			if (nlh->nlmsg_type == RTM_DELLINK)
				interface_deleted(s, ifi->ifi_index, name);
			else
				interface_renamed(s, ifi->ifi_index, name);
			break;
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			sd_event_source_set_time_relative(s->route_check, 100 * USEC_PER_MSEC);
			sd_event_source_set_enabled(s->route_check, SD_EVENT_ONESHOT);
			break;
		}
	}
	return 0;
}

static int monitor_open(struct server *s)
{
	int r;

	s->monitor = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!s->monitor)
		return negative_errno();
	if (mnl_socket_bind(s->monitor, RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
			    MNL_SOCKET_AUTOPID) < 0)
		return negative_errno();
	r = sd_event_add_io(s->event, &s->monitor_source, mnl_socket_get_fd(s->monitor), EPOLLIN,
			on_monitor, s);
	if (r < 0)
		return r;
	r = sd_event_add_time_relative(s->event, &s->route_check, CLOCK_MONOTONIC,
			100 * USEC_PER_MSEC, 10 * USEC_PER_MSEC, on_route_check, s);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(s->route_check, SD_EVENT_OFF);
}

static void adopt_faults(struct server *s, const struct journal_fault *prev, unsigned n)
{
	uint64_t now = now_usec(CLOCK_REALTIME);

	for (unsigned i = 0; i < n; i++) {
		const struct journal_fault *jf = &prev[i];
		const struct edge *e = config_find_edge(s->config, jf->edge);
		struct active_fault *af;
		char ifname[IF_NAMESIZE], left[32];
		bool updated;
		struct diag d;
		int ifindex, r;

		diag_init(&d);
		if (!jf->applied) {
			/* chaosd stopped between writing the intent and the kernel's answer: the
			 * requester never heard back, so it is not applied behind their back. */
			log_notice("fault %" PRIu64 " on edge '%s' was being applied when chaosd "
					"stopped: it stays reverted", jf->id, jf->edge);
			continue;
		}
		if (jf->run[0]) {
			/* Its run (probes, abort conditions, timeline) died with the daemon: a
			 * fault nobody watches any more is not brought back. */
			log_notice("fault %" PRIu64 " on edge '%s' belonged to scenario run '%s', "
					"which ended when chaosd stopped: it stays reverted", jf->id,
					jf->edge, jf->run);
			audit_log(&(struct audit_event){ .action = "scenario-abort", .uid = jf->uid,
					.fault_id = jf->id, .edge = jf->edge,
					.fault = fault_kind_to_string(jf->fault.kind), .run = jf->run,
					.result = "its run ended when chaosd stopped" });
			continue;
		}
		if (jf->deadline_realtime_usec <= now) {
			log_notice("fault %" PRIu64 " on edge '%s' expired while chaosd was down: "
					"it stays reverted", jf->id, jf->edge);
			audit_log(&(struct audit_event){ .action = "expire", .uid = jf->uid,
					.fault_id = jf->id, .edge = jf->edge,
					.fault = fault_kind_to_string(jf->fault.kind),
					.result = "expired while chaosd was down" });
			continue;
		}
		if (check_kill_latch(s, jf->edge, &d) < 0) {
			log_notice("fault %" PRIu64 " on edge '%s' stays reverted: %s", jf->id,
					jf->edge, diag_text(&d));
			continue;
		}
		r = e ? datapath_resolve_ifindex(s->dp, e, &ifindex, &d) :
			diag_add(&d, -ENOENT, "edge '%s' is no longer configured", jf->edge);
		if (r >= 0) {
			edge_ifname(e, ifindex, ifname);
			r = check_guard_rails(s, e, ifname, &jf->fault, &d);
		}
		if (r >= 0)
			r = apply_fault(s, e, ifindex, &jf->fault, jf->id, jf->deadline_realtime_usec,
					jf->uid, 0, NULL, &af, &updated, &d);
		if (r < 0) {
			log_error("fault %" PRIu64 " on edge '%s' from before the restart stays "
					"reverted: %s", jf->id, jf->edge, diag_text(&d));
			continue;
		}
		log_notice("re-adopted fault %" PRIu64 " on edge '%s' with %s left", jf->id,
				jf->edge, parse_format_duration(jf->deadline_realtime_usec - now, left,
						sizeof(left)));
	}
}

int server_new(sd_event *event, const struct server_options *opt, struct config *config,
		struct server **ret)
{
	_cleanup_free_ struct journal_fault *prev = NULL;
	unsigned n_prev;
	struct server *s;
	struct diag d;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(event);
	s->opt = *opt;
	s->config = config;
	s->listen_fd = -EBADF;
	diag_init(&d);
	r = journal_open(opt->state_dir, &s->journal, &d);
	if (r < 0) {
		log_error("state journal in '%s': %s", opt->state_dir, diag_text(&d));
		goto fail;
	}
	r = datapath_new(s->journal, &s->dp, &d);
	if (r < 0) {
		log_error("netlink: %s", diag_text(&d));
		goto fail;
	}
	r = nl_nft_open(&s->nft, &d);
	if (r < 0) {
		log_error("nftables: %s", diag_text(&d));
		goto fail;
	}
	r = monitor_open(s);
	if (r < 0) {
		log_error("cannot watch interfaces and routes: %s", strerror(-r));
		goto fail;
	}
	{
		char reports[PATH_MAX];

		snprintf(reports, sizeof(reports), "%s/reports", opt->state_dir);
		r = runner_new(s, event, reports, &s->runner);
		if (r < 0) {
			log_error("scenario runner: %s", strerror(-r));
			goto fail;
		}
		runner_set_limits(s->runner, config->max_scenarios, config->keep_reports);
	}
	r = latches_load(s);
	if (r < 0)
		goto fail;
	s->next_id = journal_next_id(s->journal);
	/* What an earlier run was doing: all of it is removed from the kernel first (so nothing
	 * half-applied survives), then faults still in time are applied again for the time they
	 * have left; expired ones stay reverted. */
	n_prev = journal_fault_count(s->journal);
	prev = calloc(n_prev ? n_prev : 1, sizeof(*prev));
	if (!prev) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < n_prev; i++)
		prev[i] = *journal_fault_at(s->journal, i);
	r = server_cleanup_kernel(s->dp, s->nft, s->journal);
	if (r < 0)
		goto fail;
	adopt_faults(s, prev, n_prev);
	*ret = s;
	return 0;
fail:
	server_free(s);
	return r;
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	/* Runs first: they abort, revert what they applied and write their reports. */
	s->runner = runner_free(s->runner);
	/* The file outlives chaosd: it must not go on claiming faults that were reverted. */
	if (s->metrics_timer && s->config->metrics_file)
		metrics_file_write(s);
	sd_event_source_disable_unref(s->metrics_timer);
	while (s->clients)
		client_free(s->clients);
	for (unsigned i = 0; i < s->n_faults; i++)
		active_fault_free(s->faults[i]);
	free(s->faults);
	free(s->by_edge);
	for (unsigned i = 0; i < s->n_latches; i++)
		sd_event_source_disable_unref(s->latches[i].timer);
	free(s->latches);
	sd_event_source_disable_unref(s->retry);
	sd_event_source_disable_unref(s->listen_source);
	sd_event_source_disable_unref(s->monitor_source);
	sd_event_source_disable_unref(s->route_check);
	if (s->monitor)
		mnl_socket_close(s->monitor);
	if (s->listen_fd_ours) {
		safe_close(s->listen_fd);
		unlink(s->opt.socket_path);
	}
	nl_nft_free(s->nft);
	datapath_free(s->dp);
	journal_free(s->journal);
	config_free(s->config);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

/* Same traffic selected: the line it was defined on does not matter. */
static bool edge_equal(const struct edge *a, const struct edge *b)
{
	if (!streq(a->name, b->name) || !streq(a->ifname, b->ifname) || a->port != b->port ||
			a->proto != b->proto || a->n_prefixes != b->n_prefixes)
		return false;
	for (unsigned i = 0; i < a->n_prefixes; i++) {
		const struct edge_prefix *p = &a->prefixes[i], *q = &b->prefixes[i];
		if (p->family != q->family || p->len != q->len || memcmp(p->addr, q->addr, 16) != 0)
			return false;
	}
	return true;
}

int server_reload(struct server *s)
{
	struct config *c = NULL;
	struct diag d;
	int r;

	diag_init(&d);
	r = config_load(s->opt.config_path, &c, &d);
	if (r < 0) {
		log_error("reload of '%s' refused, keeping the old configuration:\n%s",
				s->opt.config_path, diag_text(&d));
		return r;
	}
	/* Faults whose edge vanished or now selects different traffic are reverted: the old
	 * selection is no longer what the operator asked for. */
	for (unsigned i = s->n_faults; i-- > 0;) {
		struct active_fault *af = s->faults[i];
		const struct edge *e = config_find_edge(c, af->edge.name);
		if (e && edge_equal(e, &af->edge))
			continue;
		diag_init(&d);
		log_notice("reload: edge '%s' %s; reverting fault %" PRIu64, af->edge.name,
				e ? "changed" : "was removed", af->id);
		if (revert_fault(s, i, "reload", 0, 0, &d) < 0)
			log_error("reload: revert of fault %" PRIu64 " failed: %s", af->id,
					diag_text(&d));
	}
	config_free(s->config);
	s->config = c;
	runner_set_limits(s->runner, c->max_scenarios, c->keep_reports);
	server_metrics_changed(s);
	log_info("configuration reloaded from '%s': %u edges", s->opt.config_path, c->n_edges);
	return 0;
}
