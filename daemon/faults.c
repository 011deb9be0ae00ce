/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "audit.h"
#include "deadline.h"
#include "drain.h"
#include "edge-plan.h"
#include "edge-scope.h"
#include "fault-audit.h"
#include "fault-counters.h"
#include "fault-index.h"
#include "faults.h"
#include "loop-time.h"
#include "flowsel.h"
#include "parse.h"
#include "timeutil.h"

struct faults {
	sd_event *event;
	struct journal *journal;
	struct kernel kernel;
	struct metrics_counters *metrics;
	struct faults_hooks hooks;
	uint64_t link_rate_bps;

	struct active_fault **list;
	unsigned n;
	uint64_t next_id;
	struct fault_index by_edge; /* the same faults by edge: an inject finds its edge's faults */
	struct drains *drains; /* edges whose netem drains after a revert (drain.h) */
	struct deadline *deadline; /* at the earliest fault_wakeup() */
};

/* The drains' view of the faults (below, with the lossless revert). */
static int drain_n_faults(void *userdata, const struct edge *e, int ifindex,
		enum fault_direction dir, struct diag *d);
static int drain_sync(void *userdata, const struct edge *e, int ifindex, struct diag *d);
static void drain_changed(void *userdata);
static void on_due(void *userdata, uint64_t now);

int faults_new(sd_event *event, struct journal *journal, struct kernel kernel,
		struct metrics_counters *counters, const struct faults_hooks *hooks,
		struct faults **ret)
{
	struct faults *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->event = sd_event_ref(event);
	f->journal = journal;
	f->kernel = kernel;
	f->metrics = counters;
	if (hooks)
		f->hooks = *hooks;
	f->next_id = journal ? journal_next_id(journal) : 1;
	if (drains_new(event, kernel, &(struct drain_hooks){ .n_faults = drain_n_faults,
			.sync = drain_sync, .changed = drain_changed, .userdata = f }, &f->drains) < 0 ||
			deadline_new(event, on_due, f, &f->deadline) < 0) {
		drains_free(f->drains);
		sd_event_unref(f->event);
		free(f);
		return -ENOMEM;
	}
	*ret = f;
	return 0;
}

static struct active_fault *active_fault_free(struct active_fault *af)
{
	if (!af)
		return NULL;
	free(af->ct_ids);
	free(af);
	return NULL;
}

struct faults *faults_free(struct faults *f)
{
	if (!f)
		return NULL;
	for (unsigned i = 0; i < f->n; i++)
		active_fault_free(f->list[i]);
	free(f->list);
	fault_index_done(&f->by_edge);
	drains_free(f->drains);
	deadline_free(f->deadline);
	sd_event_unref(f->event);
	free(f);
	return NULL;
}

void faults_set_link_rate(struct faults *f, uint64_t bps)
{
	f->link_rate_bps = bps;
}

unsigned faults_count(const struct faults *f)
{
	return f->n;
}

struct active_fault *faults_at(const struct faults *f, unsigned i)
{
	return i < f->n ? f->list[i] : NULL;
}

uint64_t faults_next_id(const struct faults *f)
{
	return f->next_id;
}

void faults_set_next_id(struct faults *f, uint64_t id)
{
	f->next_id = MAX(f->next_id, id);
}

static void changed(struct faults *f)
{
	/* No wakeup at a reverted fault's old deadline on an idle daemon. */
	if (f->n == 0)
		(void)deadline_set(f->deadline, DEADLINE_NEVER);
	if (f->hooks.changed)
		f->hooks.changed(f->hooks.userdata);
}

static void gone(struct faults *f, const struct active_fault *af)
{
	if (f->hooks.fault_gone)
		f->hooks.fault_gone(f->hooks.userdata, af);
}

static void unrecorded(struct faults *f, int err, const char *fmt, ...) _printf_(3, 4);
static void unrecorded(struct faults *f, int err, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_error("state journal: %s: %s", what, strerror(-err));
	if (f->hooks.unrecorded)
		f->hooks.unrecorded(f->hooks.userdata, err, what);
}

/* ------------------------------------------------------------------ the kernel's side */

/* The two directions, in the order of the per-direction arrays (out, in). */
static const enum fault_direction dirs[] = { FAULT_DIR_OUT, FAULT_DIR_IN };

static bool dir_has(enum fault_direction d, enum fault_direction bit)
{
	return (d & bit) != 0;
}

/* A new fault's starting counters: the edge's netem where it already carried another fault of
 * af's direction, still drains one, or is adopted after a restart, else 0: the netem was made
 * with af and everything it counts is af's. That spares an inject the dump of every qdisc on
 * the host (with 1000 faults, most of an inject's time). */
static void netem_base(struct faults *f, const struct active_fault *af, bool adopted,
		struct active_fault *const *old, unsigned n_old, struct datapath_stats *ret)
{
	bool shared = adopted || drains_find(f->drains, af->edge.name, af->ifindex) != NULL;

	for (unsigned i = 0; i < n_old && !shared; i++)
		shared = old[i]->fault.kind != FAULT_PARTITION &&
				(old[i]->fault.direction & af->fault.direction);
	if (shared)
		fault_counters_netem(&f->kernel, af, ret);
	else
		*ret = (struct datapath_stats){};
}

/* Make the kernel carry the merge of `list` for one edge and direction. While the edge drains
 * (drain.h) its netem stays, ordered behind what it still holds. */
static int sync_netem_dir(struct faults *f, const struct edge *e, int ifindex,
		enum fault_direction dir, struct active_fault *const *list, unsigned n,
		struct diag *d)
{
	struct drain *dr = drains_find(f->drains, e->name, ifindex);
	const struct fault *first;
	struct netem_config cfg;
	unsigned k;
	int r;

	r = edge_plan_merge_dir(e, dir, f->link_rate_bps, list, n, &cfg, &first, &k, d);
	if (r < 0)
		return r;
	if (dr && drain_unclassified(dr, dir) && k > 0) {
		/* a fault came back while the edge's traffic was off its netem: made anew */
		r = f->kernel.ops->set_netem(f->kernel.userdata, e, ifindex, dir, NULL, 0, d);
		if (r < 0)
			return r;
		drain_reclassified(dr, dir);
	}
	if (!(dr && drain_order(dr, dir, &cfg)) && k == 0)
		return f->kernel.ops->set_netem(f->kernel.userdata, e, ifindex, dir, NULL, 0, d);
	/* one share for the edge (check_flows), so the first fault's is every fault's */
	return f->kernel.ops->set_netem(f->kernel.userdata, e, ifindex, dir, &cfg,
			first ? fault_flows(first) : (dr ? drain_flows(dr) : FLOWSEL_ALL), d);
}

static int sync_partitions(struct faults *f, struct active_fault *const *list, unsigned n,
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
		strcpy_cut(parts[k].ifname, sizeof(parts[k].ifname), af->ifname);
		parts[k].direction = af->fault.direction;
		parts[k].id = af->id;
		parts[k].flows = fault_flows(&af->fault);
		parts[k].mode = af->fault.mode;
		parts[k].connections = af->fault.connections;
		parts[k].ct_ids = af->ct_ids;
		parts[k].n_ct_ids = af->n_ct_ids;
		k++;
	}
	return f->kernel.ops->sync_partitions(f->kernel.userdata, parts, k, d);
}

/* Move the kernel from the state of `old` to the state of `new` for one edge. Directions are
 * applied one by one; if a later one fails, the earlier ones are put back to `old`, so a
 * request either takes effect whole or not at all. */
static int transition_edge(struct faults *f, const struct edge *e, int ifindex,
		struct active_fault *const *old, unsigned n_old, struct active_fault *const *new,
		unsigned n_new, bool partition, struct diag *d)
{
		unsigned done = 0;
	int r;

	r = edge_plan_check_flows(e, old, n_old, new, n_new, d);
	if (r < 0)
		return r;
	if (partition)
		return sync_partitions(f, new, n_new, d);
	for (; done < ELEMENTSOF(dirs); done++) {
		r = sync_netem_dir(f, e, ifindex, dirs[done], new, n_new, d);
		if (r < 0)
			break;
	}
	if (r >= 0)
		return 0;
	for (unsigned i = 0; i < done; i++) {
		struct diag ignored;
		diag_init(&ignored);
		if (sync_netem_dir(f, e, ifindex, dirs[i], old, n_old, &ignored) < 0)
			diag_add(d, r, "rollback of %s on edge '%s' failed too: %s",
					fault_direction_to_string(dirs[i]), e->name,
					diag_text(&ignored));
	}
	return r;
}

static int journal_record(struct faults *f, const struct active_fault *af, bool applied)
{
	struct journal_fault jf = {
		.applied = applied,
		.id = af->id,
		.fault = af->fault,
		.created_realtime_usec = af->created_realtime_usec,
		.deadline_realtime_usec = af->deadline_realtime_usec,
		.uid = af->uid,
	};

	strcpy_cut(jf.edge, sizeof(jf.edge), af->edge.name);
	strcpy_cut(jf.run, sizeof(jf.run), af->run);
	return journal_fault_put(f->journal, &jf);
}

/* ------------------------------------------------------------------ the registry */

/* Whether af is on the edge called name (hash: edge_name_hash(name)). */
static bool on_edge(const struct active_fault *af, const char *name, uint64_t hash)
{
	return af->edge_hash == hash && streq(af->edge.name, name);
}

static int find_index(const struct faults *f, uint64_t id)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->list[i]->id == id)
			return (int)i;
	return -1;
}

struct active_fault *faults_find(const struct faults *f, uint64_t id)
{
	int i = find_index(f, id);

	return i < 0 ? NULL : f->list[i];
}

/* After a partition ends, the entries of its edge's flows that never saw a reply go, so the
 * next packet of such a flow starts afresh. Best effort: the partition is gone either way. */
static void flush_conntrack(struct faults *f, const struct active_fault *af)
{
	struct diag d;
	unsigned deleted = 0;

	if (!f->kernel.ops->conntrack_flush)
		return;
	diag_init(&d);
	if (f->kernel.ops->conntrack_flush(f->kernel.userdata, &af->edge, &deleted, &d) < 0)
		log_error("fault %" PRIu64 " on edge '%s' reverted, but its stale conntrack entries "
				"stay: %s", af->id, af->edge.name, diag_text(&d));
	else if (deleted > 0)
		log_info("fault %" PRIu64 " on edge '%s': %u conntrack entries without a reply "
				"removed", af->id, af->edge.name, deleted);
}

/* ------------------------------------------------------------------ lossless revert (drain.h) */

/* e's faults on ifindex, in *ret (the caller frees it). */
static int faults_on(struct faults *f, const struct edge *e, int ifindex,
		struct active_fault ***ret, unsigned *ret_n)
{
	unsigned n_list, n = 0;
	struct active_fault *const *list =
		fault_index_edge(&f->by_edge, edge_name_hash(e->name), &n_list);
	struct active_fault **mine = calloc(n_list ? n_list : 1, sizeof(*mine));

	if (!mine)
		return -ENOMEM;
	for (unsigned i = 0; i < n_list; i++)
		if (streq(list[i]->edge.name, e->name) && list[i]->ifindex == ifindex)
			mine[n++] = list[i];
	*ret = mine;
	*ret_n = n;
	return 0;
}

static int drain_n_faults(void *userdata, const struct edge *e, int ifindex,
		enum fault_direction dir, struct diag *d)
{
	struct faults *f = userdata;
	_cleanup_free_ struct active_fault **mine = NULL;
	const struct fault *first;
	struct netem_config cfg;
	unsigned n, k;
	int r;

	r = faults_on(f, e, ifindex, &mine, &n);
	if (r >= 0)
		r = edge_plan_merge_dir(e, dir, f->link_rate_bps, mine, n, &cfg, &first, &k, d);
	return r < 0 ? r : (int)k;
}

static int drain_sync(void *userdata, const struct edge *e, int ifindex, struct diag *d)
{
	struct faults *f = userdata;
	_cleanup_free_ struct active_fault **mine = NULL;
	unsigned n;
	int r;

	r = faults_on(f, e, ifindex, &mine, &n);
	for (unsigned i = 0; r >= 0 && i < ELEMENTSOF(dirs); i++)
		r = sync_netem_dir(f, e, ifindex, dirs[i], mine, n, d);
	return r;
}

static void drain_changed(void *userdata)
{
	changed(userdata);
}

/* Reverts that must not wait for a queue to drain. */
static bool revert_immediate(const char *action)
{
	return strncmp(action, "kill", 4) == 0 || streq(action, "move") ||
			streq(action, "interface-gone");
}

/* Before fault af leaves its edge (cur: the edge's faults now, rest: without af): start or
 * extend the edge's drain if af takes delay away; a revert that does not wait ends it instead.
 * *ret_new: a drain this call started (to drop if the revert fails). */
static int drain_prepare(struct faults *f, const struct active_fault *af,
		struct active_fault *const *cur, unsigned n_cur, struct active_fault *const *rest,
		unsigned n_rest, bool immediate, struct drain **ret_new, struct diag *d)
{
	struct netem_config before[2], after[2];
	const struct netem_config *b[2] = {}, *a[2] = {};
	uint32_t flows = FLOWSEL_ALL;
	int r;

	*ret_new = NULL;
	if (immediate) {
		struct drain *dr = drains_find(f->drains, af->edge.name, af->ifindex);
		if (dr)
			drain_cancel(f->drains, dr);
		return 0;
	}
	for (unsigned i = 0; i < ELEMENTSOF(dirs); i++) {
		const struct fault *first, *other;
		unsigned k;

		if (!dir_has(af->fault.direction, dirs[i]))
			continue;
		r = edge_plan_merge_dir(&af->edge, dirs[i], f->link_rate_bps, cur, n_cur, &before[i],
				&first, &k, d);
		if (r >= 0)
			r = edge_plan_merge_dir(&af->edge, dirs[i], f->link_rate_bps, rest, n_rest,
					&after[i], &other, &k, d);
		if (r < 0)
			return r;
		b[i] = &before[i];
		a[i] = &after[i];
		if (first)
			flows = fault_flows(first);
	}
	return drains_begin(f->drains, &af->edge, af->ifindex, b, a, flows, ret_new);
}

/* Remove fault i from the kernel and the registry. */
static int revert_at(struct faults *f, unsigned i, const char *action, uid_t uid, pid_t pid,
		struct diag *d)
{
	struct active_fault *af = f->list[i];
	_cleanup_free_ struct active_fault **cur = NULL, **rest = NULL;
	bool part = af->fault.kind == FAULT_PARTITION;
	struct drain *drain = NULL;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	char params[FAULT_AUDIT_PARAMS_MAX];
	unsigned n = 0, n_cur = 0;
	int r;

	struct active_fault *const *list = f->list;
	unsigned n_list = f->n;

	if (!part) /* see faults_apply */
		list = fault_index_edge(&f->by_edge, af->edge_hash, &n_list);
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
	r = journal_fault_remove(f->journal, af->id);
	if (r < 0)
		unrecorded(f, r, "the revert of fault %" PRIu64 " could not be recorded", af->id);
	if (!part) {
		r = drain_prepare(f, af, cur, n_cur, rest, n, revert_immediate(action), &drain, d);
		if (r < 0) {
			f->metrics->revert_failed[af->fault.kind]++;
			return r;
		}
	}
	/* A service edge's connections lose its mark with its last fault: flushed while they
	 * still carry it (a flow's next packet in between is still cut). */
	if (part && edge_scoped(&af->edge))
		flush_conntrack(f, af);
	r = transition_edge(f, &af->edge, af->ifindex, cur, n_cur, rest, n, part, d);
	if (r < 0 && drain)
		drain_cancel(f->drains, drain);
	fault_format_params(&af->fault, params, sizeof(params));
	audit_log(&(struct audit_event){ .action = action, .uid = uid, .pid = pid,
			.fault_id = af->id, .edge = af->edge.name,
			.fault = fault_kind_to_string(af->fault.kind), .params = params,
			.result = r < 0 ? diag_text(d) : "ok", .run = af->run[0] ? af->run : NULL });
	if (r < 0) {
		f->metrics->revert_failed[af->fault.kind]++;
		return r;
	}
	f->metrics->reverted[af->fault.kind]++;
	f->metrics->last_revert_usec = now_usec(CLOCK_MONOTONIC) - t0;
	f->metrics->have_last_revert = true;
	if (part && !edge_scoped(&af->edge))
		flush_conntrack(f, af);
	memmove(&f->list[i], &f->list[i + 1], (f->n - i - 1) * sizeof(*f->list));
	f->n--;
	fault_index_remove(&f->by_edge, af);
	gone(f, af);
	active_fault_free(af);
	changed(f);
	return 0;
}

int faults_revert(struct faults *f, uint64_t id, const char *action, uid_t uid, pid_t pid,
		struct diag *d)
{
	int i = find_index(f, id);

	if (i < 0)
		return diag_add(d, -ENOENT, "no active fault with id %" PRIu64, id);
	return revert_at(f, (unsigned)i, action, uid, pid, d);
}

static uint64_t fault_wakeup(const struct active_fault *af)
{
	if (af->retry_mono_usec)
		return af->retry_mono_usec;
	if (af->lease_mono_usec && af->lease_mono_usec < af->deadline_mono_usec)
		return af->lease_mono_usec;
	return af->deadline_mono_usec;
}

/* The fault at i reached its deadline, its lease or its retry. */
static void expire(struct faults *f, unsigned i, uint64_t now)
{
	struct active_fault *af = f->list[i];
	bool lease = af->lease_mono_usec && now >= af->lease_mono_usec;
	char edge[EDGE_NAME_MAX + 1];
	uint64_t id = af->id;
	struct diag d;
	int r;

	af->retry_mono_usec = 0;
	if (!lease && now < af->deadline_mono_usec)
		return; /* the lease was renewed since the timer was set */
	/* A revert that succeeds frees af: say what it was from copies. */
	strcpy_cut(edge, sizeof(edge), af->edge.name);
	diag_init(&d);
	r = revert_at(f, i, lease ? "lease-expired" : "expire", 0, 0, &d);
	if (r < 0) {
		/* Keep the fault listed and try again shortly: a lost revert is the one thing
		 * chaosd must never do. */
		log_error("deadline revert of fault %" PRIu64 " on edge '%s' failed, retrying in 1s: %s",
				id, edge, diag_text(&d));
		af->retry_mono_usec = now + USEC_PER_SEC;
	} else {
		log_info("fault %" PRIu64 " on edge '%s' %s and was reverted", id, edge,
				lease ? "was not renewed within its lease" : "expired");
	}
}

static void rearm(struct faults *f)
{
	uint64_t next = DEADLINE_NEVER;

	for (unsigned i = 0; i < f->n; i++)
		next = MIN(next, fault_wakeup(f->list[i]));
	if (deadline_set(f->deadline, next) < 0)
		log_error("cannot arm the deadline timer of %u fault(s)", f->n);
}

static void on_due(void *userdata, uint64_t now)
{
	struct faults *f = userdata;
	_cleanup_free_ uint64_t *due = calloc(f->n + 1, sizeof(*due));
	unsigned n_due = 0;
	int i;

	if (!due) {
		log_error("no memory to revert the faults past their deadline: trying again in 1s");
		(void)deadline_set(f->deadline, now + USEC_PER_SEC);
		return;
	}
	/* Their ids first: each revert changes the list. */
	for (unsigned k = 0; k < f->n; k++)
		if (fault_wakeup(f->list[k]) <= now)
			due[n_due++] = f->list[k]->id;
	for (unsigned k = 0; k < n_due; k++) {
		i = find_index(f, due[k]);
		if (i >= 0)
			expire(f, (unsigned)i, now);
	}
	rearm(f);
}

/* A fault's wakeup only ever moves later by itself (a renewed lease): the timer stays where
 * it is and on_due finds nothing due then. */
static int arm_timer(struct faults *f, struct active_fault *af)
{
	return deadline_want(f->deadline, fault_wakeup(af));
}

int faults_renew(struct faults *f, uint64_t id, struct diag *d)
{
	struct active_fault *af = faults_find(f, id);

	if (!af)
		return diag_add(d, -ENOENT, "fault %" PRIu64 " is gone (reverted, expired or "
				"killed)", id);
	if (!af->fault.lease_usec)
		return diag_add(d, -EINVAL, "fault %" PRIu64 " has no lease to renew", id);
	af->lease_mono_usec = now_usec(CLOCK_MONOTONIC) + af->fault.lease_usec;
	return 0;
}

int faults_revert_all(struct faults *f, const char *why, uid_t uid, pid_t pid, struct diag *d)
{
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	_cleanup_free_ uint64_t *ids = calloc(f->n + 1, sizeof(*ids));
	int r;

	if (!ids)
		return -ENOMEM;
	/* Out of the journal first (one write), as in revert_at(): a restart never brings back
	 * what the kill switch took out, even if it fails for some and is retrying. */
	for (unsigned i = 0; i < f->n; i++)
		ids[i] = f->list[i]->id;
	r = journal_fault_remove_many(f->journal, ids, f->n);
	if (r < 0)
		unrecorded(f, r, "the revert of all %" PRIu64 " faults could not be recorded",
				(uint64_t)f->n);
	/* Everything chaosd owns goes in one pass (one batch per kind of object), whatever the
	 * registry says: this is also what clears leftovers of a fault whose own revert failed. */
	r = f->kernel.ops->remove_all(f->kernel.userdata, d);
	/* remove_all took the draining netems too; a drain's end must not bring anything back */
	drains_cancel_all(f->drains);
	if (r < 0)
		log_error("%s: reverting everything failed for some objects: %s", why,
				diag_text(d));
	fault_audit_many((const struct active_fault *const *)f->list, f->n, why, uid, pid,
			r < 0 ? diag_text(d) : "ok");
	for (unsigned i = 0; i < f->n; i++) {
		struct active_fault *af = f->list[i];
		if (r < 0) {
			f->metrics->revert_failed[af->fault.kind]++;
			continue;
		}
		f->metrics->reverted[af->fault.kind]++;
		gone(f, af);
		active_fault_free(af);
	}
	if (r >= 0) {
		f->n = 0;
		f->by_edge.n = 0;
		f->metrics->last_revert_usec = now_usec(CLOCK_MONOTONIC) - t0;
		f->metrics->have_last_revert = true;
	}
	changed(f);
	return r < 0 ? r : 0;
}

int faults_revert_edge(struct faults *f, const char *edge, const char *why, uid_t uid, pid_t pid,
		unsigned *ret_reverted, struct diag *d)
{
	unsigned reverted = 0;
	int r = 0;

	for (unsigned i = f->n; i-- > 0;) {
		if (edge && !streq(f->list[i]->edge.name, edge))
			continue;
		int k = revert_at(f, i, why, uid, pid, d);
		if (k < 0 && r >= 0)
			r = k;
		reverted += k >= 0;
	}
	if (ret_reverted)
		*ret_reverted = reverted;
	return r;
}

/* Apply a fault (new, or an update of the active fault of its kind on the edge) and track it.
 * id 0 = allocate. Either it takes effect whole or nothing changes. */
int faults_apply(struct faults *f, const struct edge *e, int ifindex, const char *ifname,
		const struct fault *fault, uint64_t id, uint64_t deadline_realtime, uid_t uid,
		pid_t pid, const char *run, struct active_fault **ret_af, bool *ret_updated,
		struct diag *d)
{
	_cleanup_free_ struct active_fault **next = NULL, **old = NULL;
	_cleanup_free_ struct active_fault *fresh = NULL;
	_cleanup_free_ uint32_t *ct_ids = NULL;
	struct active_fault *af, *existing = NULL, saved;
	uint64_t now_rt = loop_now_usec(f->event, CLOCK_REALTIME);
	uint64_t now_mono = loop_now_usec(f->event, CLOCK_MONOTONIC);
	uint64_t hash = edge_name_hash(e->name);
	bool part = fault->kind == FAULT_PARTITION;
	struct active_fault *const *mine, *const *list;
	char params[FAULT_AUDIT_PARAMS_MAX];
	unsigned n = 0, n_old, n_mine, n_list, n_ct_ids = 0;
	bool take_ids = false;
	int r;

	/* First: it may move the index that mine points into. */
	r = fault_index_reserve(&f->by_edge, f->n + 1);
	if (r < 0)
		return r;
	/* One fault per edge and kind: injecting the same kind again changes it in place. */
	mine = fault_index_edge(&f->by_edge, hash, &n_mine);
	for (unsigned i = 0; i < n_mine; i++)
		if (on_edge(mine[i], e->name, hash) && mine[i]->fault.kind == fault->kind)
			existing = mine[i];
	/* A scenario's fault is the scenario's: changing it by hand (or the other way round)
	 * would leave one of the two reverting what the other still counts on. */
	if (existing && !streq(existing->run, run ? run : ""))
		return diag_add(d, -EBUSY, "edge '%s' already has a %s fault (id %" PRIu64 ") %s%s%s",
				e->name, fault_kind_to_string(fault->kind), existing->id,
				existing->run[0] ? "owned by scenario run '" : "injected by hand",
				existing->run, existing->run[0] ? "' (chaosctl abort to end the run)" :
				" (revert it first)");

	/* connections = established cuts the connections open when the partition began: taken
	 * once, when it becomes such a partition. */
	if (part && fault->connections == FAULT_CONN_ESTABLISHED &&
			!(existing && existing->fault.connections == FAULT_CONN_ESTABLISHED) &&
			f->kernel.ops->conntrack_ids) {
		r = f->kernel.ops->conntrack_ids(f->kernel.userdata, e, &ct_ids, &n_ct_ids, d);
		if (r < 0)
			return r;
		take_ids = true;
	}

	/* An edge's netem state depends on its own faults only, so the kernel's move is worked
	 * out from those (a request costs the same with 1 or 1000 other faults); partitions
	 * share one nftables table, rewritten from all of them. */
	list = part ? f->list : mine;
	n_list = part ? f->n : n_mine;
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
		af->id = id ? id : f->next_id;
		af->edge = *e;
		af->edge_hash = hash;
		strcpy_cut(af->run, sizeof(af->run), run ? run : "");
	}
	af->ifindex = ifindex;
	strcpy_cut(af->ifname, sizeof(af->ifname), ifname);
	af->fault = *fault;
	if (take_ids) { /* owned by ct_ids until it is certain to stay */
		af->ct_ids = ct_ids;
		af->n_ct_ids = n_ct_ids;
	}
	af->uid = uid;
	af->pid = pid;
	af->created_realtime_usec = now_rt;
	af->deadline_realtime_usec = deadline_realtime;
	af->deadline_mono_usec = now_mono +
			(deadline_realtime > now_rt ? deadline_realtime - now_rt : 0);
	/* A fresh lease on apply, also on restart adoption: the holder gets one whole period to
	 * find the restarted daemon. */
	af->lease_mono_usec = fault->lease_usec ? now_mono + fault->lease_usec : 0;
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
	r = journal_record(f, af, false);
	if (r < 0) {
		if (existing)
			*existing = saved;
		return diag_add(d, r, "cannot write the state journal, so nothing was applied: %s",
				journal_error(f->journal)[0] ? journal_error(f->journal) :
							       strerror(-r));
	}
	r = transition_edge(f, e, ifindex, old, n_old, next, n, part, d);
	fault_format_params(&af->fault, params, sizeof(params));
	audit_log(&(struct audit_event){ .action = existing ? "update" : (id ? "adopt" : "inject"),
			.uid = uid, .pid = pid, .fault_id = af->id, .edge = e->name,
			.fault = fault_kind_to_string(fault->kind), .params = params,
			.result = r < 0 ? diag_text(d) : "ok", .run = af->run[0] ? af->run : NULL });
	if (r < 0) {
		f->metrics->apply_failed[fault->kind]++;
		if (existing) {
			*existing = saved;
			(void)journal_record(f, existing, true);
		} else {
			(void)journal_fault_remove(f->journal, af->id);
		}
		return r;
	}
	/* Confirmed by the kernel: a restart may re-adopt it from now on. Unconfirmed, a restart
	 * leaves it reverted: the safe side, so only worth a log line. */
	r = journal_record(f, af, true);
	if (r < 0)
		unrecorded(f, r, "fault %" PRIu64 " is applied, but its confirmation could not be "
				"recorded", af->id);
	if (!existing) {
		struct active_fault **nf = reallocarray(f->list, f->n + 1, sizeof(*nf));
		if (!nf) {
			/* Applied but cannot be tracked: take it back out rather than leak it. */
			struct diag ignored;
			diag_init(&ignored);
			transition_edge(f, e, ifindex, next, n, old, n_old, part, &ignored);
			(void)journal_fault_remove(f->journal, af->id);
			return -ENOMEM;
		}
		if (!part)
			netem_base(f, af, id != 0, old, n_old, &af->base);
		af->seen_mono_usec = now_mono;
		f->list = nf;
		f->list[f->n++] = fresh;
		fault_index_add(&f->by_edge, TAKE_PTR(fresh));
		f->next_id = MAX(f->next_id, af->id + 1);
	}
	if (take_ids) {
		if (existing)
			free(saved.ct_ids);
		TAKE_PTR(ct_ids);
	}
	f->metrics->applied[fault->kind]++;
	r = arm_timer(f, af);
	if (r < 0)
		log_error("cannot arm the deadline timer of fault %" PRIu64 ": %s", af->id,
				strerror(-r));
	changed(f);
	*ret_af = af;
	*ret_updated = existing != NULL;
	return 0;
}

void faults_affected(struct faults *f, struct active_fault *af, struct faults_affected *ret)
{
	fault_counters_affected(&f->kernel, af, ret);
}

void faults_stats(struct faults *f, const struct active_fault *af, uint64_t *ret_matched,
		uint64_t *ret_dropped, uint64_t *ret_delayed)
{
	fault_counters_now(&f->kernel, af, ret_matched, ret_dropped, ret_delayed);
}

/* ------------------------------------------------------------------ interfaces changing */

void faults_interface_deleted(struct faults *f, int ifindex, const char *name)
{
	_cleanup_free_ struct active_fault **rest = NULL;
	unsigned n = 0, dropped = 0;
	bool partitions = false;
	struct diag d;

	rest = calloc(f->n ? f->n : 1, sizeof(*rest));
	if (!rest)
		return;
	for (unsigned i = 0; i < f->n; i++) {
		struct active_fault *af = f->list[i];
		int r;

		if (af->ifindex != ifindex) {
			rest[n++] = af;
			continue;
		}
		partitions |= af->fault.kind == FAULT_PARTITION;
		audit_log(&(struct audit_event){ .action = "interface-gone", .fault_id = af->id,
				.edge = af->edge.name, .fault = fault_kind_to_string(af->fault.kind),
				.result = "interface deleted" });
		r = journal_fault_remove(f->journal, af->id);
		if (r < 0)
			unrecorded(f, r, "fault %" PRIu64 " dropped with its interface, not recorded",
					af->id);
		f->metrics->reverted[af->fault.kind]++;
		gone(f, af);
		active_fault_free(af);
		dropped++;
	}
	/* the kernel took the draining netems with the interface */
	drains_cancel_interface(f->drains, ifindex);
	if (dropped == 0)
		return;
	log_warning("interface '%s' (index %d) was deleted under %u fault(s): dropping them, the "
			"kernel removed their filters with it", name, ifindex, dropped);
	memcpy(f->list, rest, n * sizeof(*rest));
	f->n = n;
	fault_index_rebuild(&f->by_edge, f->list, f->n);
	diag_init(&d);
	(void)f->kernel.ops->forget_interface(f->kernel.userdata, ifindex, &d);
	if (partitions && sync_partitions(f, f->list, f->n, &d) < 0)
		log_error("resyncing partitions after '%s' went away: %s", name, diag_text(&d));
	changed(f);
}

void faults_interface_renamed(struct faults *f, int ifindex, const char *name)
{
	bool partitions = false, any = false;
	struct diag d;

	for (unsigned i = 0; i < f->n; i++) {
		struct active_fault *af = f->list[i];
		if (af->ifindex != ifindex || streq(af->ifname, name))
			continue;
		if (!any)
			log_notice("interface '%s' (index %d) is now called '%s'; its faults follow it",
					af->ifname, ifindex, name);
		any = true;
		strcpy_cut(af->ifname, sizeof(af->ifname), name);
		partitions |= af->fault.kind == FAULT_PARTITION;
	}
	/* tc objects hang off the index; nftables rules match the name and must be rewritten. */
	diag_init(&d);
	if (partitions && sync_partitions(f, f->list, f->n, &d) < 0)
		log_error("rewriting partitions for renamed '%s': %s", name, diag_text(&d));
}

int faults_move(struct faults *f, uint64_t id, const struct edge *e, int ifindex,
		const char *ifname, struct diag *d)
{
	struct active_fault *af = faults_find(f, id), *moved;
	struct fault fault;
	uint64_t deadline;
	char run[sizeof(af->run)];
	bool updated;
	uid_t uid;
	int r;

	if (!af)
		return -ENOENT;
	fault = af->fault;
	deadline = af->deadline_realtime_usec;
	uid = af->uid;
	strcpy_cut(run, sizeof(run), af->run);
	r = revert_at(f, (unsigned)find_index(f, id), "move", 0, 0, d);
	if (r < 0)
		return diag_add(d, r, "revert on the old interface failed");
	if (!e)
		return diag_add(d, -ENOENT, "its edge is no longer configured: it stays reverted");
	r = faults_apply(f, e, ifindex, ifname, &fault, id, deadline, uid, 0, run, &moved, &updated,
			d);
	if (r < 0)
		return diag_add(d, r, "apply on the new interface failed, it stays reverted");
	return 0;
}

int faults_adoptable(const struct journal_fault *jf, uint64_t now_realtime_usec,
		enum faults_adopt_no *ret_why)
{
	/* Stopped between the intent and the kernel's answer: the requester never heard back,
	 * so it is not applied behind their back. */
	if (!jf->applied) {
		*ret_why = FAULTS_ADOPT_UNCONFIRMED;
		return 0;
	}
	/* Its run (probes, abort conditions, timeline) died with the daemon: a fault nobody
	 * watches any more is not brought back. */
	if (jf->run[0]) {
		*ret_why = FAULTS_ADOPT_RUN_ENDED;
		return 0;
	}
	if (jf->deadline_realtime_usec <= now_realtime_usec) {
		*ret_why = FAULTS_ADOPT_EXPIRED;
		return 0;
	}
	return 1;
}
