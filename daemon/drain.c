/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "drain.h"
#include "loop-time.h"
#include "macro.h"
#include "timeutil.h"

#define DRAIN_RATE_BYTES  (100ULL * 1000 * 1000 * 1000 / 8) /* 100 Gbit/s: 120 ns a packet */
#define DRAIN_MARGIN_USEC (100 * USEC_PER_MSEC)
#define DRAIN_MAX_USEC    (60 * USEC_PER_SEC)
#define DRAIN_PKT_BYTES   1514 /* a queued packet's size for the time a rate takes to send it */
#define DRAIN_QUEUE_USEC  (60 * USEC_PER_SEC)
#define DRAIN_UNCLASSIFY_USEC (100 * USEC_PER_MSEC)
#define DRAIN_POLL_USEC   (100 * USEC_PER_MSEC)
#define DRAIN_QUIET_USEC  (30 * USEC_PER_MSEC)
#define DRAIN_STILL_USEC  (1 * USEC_PER_SEC)

enum drain_wait {
	DRAIN_WAIT_DELAY, /* the delay of what the netem holds */
	DRAIN_WAIT_TRAFFIC,
	DRAIN_WAIT_QUEUE,
};

/* The two directions, in the order of the per-direction arrays (out, in). */
static const enum fault_direction dirs[] = { FAULT_DIR_OUT, FAULT_DIR_IN };

struct drain {
	struct edge edge;
	int ifindex;
	uint32_t limit[2]; /* per direction (out, in): the queue it may hold; 0: not draining */
	bool held[2];      /* the direction drained: its netem existed */
	/* After the delay, the netem stays as it is until its queue is empty: where chaosd's
	 * path is the bottleneck (a slow machine) a standing queue outlives the delay. Waited
	 * for up to this (0: the delay is not over yet). */
	uint64_t empty_until_mono_usec;
	/* A direction left without faults loses its objects once the interface is quiet (its
	 * packet count still over DRAIN_QUIET_USEC), waited for until empty_until too: taking
	 * the redirect off under traffic lets the direct path overtake packets still on the IFB
	 * (TCP resends what it then takes for lost), and deleting the clsact deactivates the
	 * device for an RCU grace period (qdisc_graft -> dev_deactivate), dropping what it sends
	 * then. Quiet, its classification and objects go at once; not quiet by then, the
	 * classification goes first and DRAIN_UNCLASSIFY_USEC later the objects. */
	bool unclassified[2];
	enum drain_wait waits_for;
	/* The IFB path's count at the last look, and since when it has held still on a quiet
	 * interface: packets inside move on, a count that does not is the kernel's accounting
	 * (seen after a loss fault: the redirect then waited its 60 s). */
	uint64_t path_left;
	uint64_t path_still_since_mono_usec;
	bool link_counted;
	uint64_t link_packets;
	uint32_t flows;
	uint64_t until_mono_usec;
	sd_event_source *timer;
	struct drains *owner;
};

/* Edges whose netem drains: few at a time. */
struct drains {
	sd_event *event;
	struct kernel kernel;
	struct drain_hooks hooks;
	struct drain **v;
	unsigned n;
};

int drains_new(sd_event *event, struct kernel kernel, const struct drain_hooks *hooks,
		struct drains **ret)
{
	struct drains *ds = calloc(1, sizeof(*ds));

	if (!ds)
		return -ENOMEM;
	ds->event = sd_event_ref(event);
	ds->kernel = kernel;
	ds->hooks = *hooks;
	*ret = ds;
	return 0;
}

struct drains *drains_free(struct drains *ds)
{
	if (!ds)
		return NULL;
	drains_cancel_all(ds);
	sd_event_unref(ds->event);
	free(ds);
	return NULL;
}

static unsigned di(enum fault_direction dir)
{
	return dir == FAULT_DIR_IN;
}

struct drain *drains_find(const struct drains *ds, const char *edge, int ifindex)
{
	for (unsigned i = 0; i < ds->n; i++)
		if (ds->v[i]->ifindex == ifindex && streq(ds->v[i]->edge.name, edge))
			return ds->v[i];
	return NULL;
}

void drain_cancel(struct drains *ds, struct drain *dr)
{
	for (unsigned i = 0; i < ds->n; i++)
		if (ds->v[i] == dr) {
			ds->v[i] = ds->v[--ds->n];
			break;
		}
	sd_event_source_disable_unref(dr->timer);
	free(dr);
}

void drains_cancel_all(struct drains *ds)
{
	while (ds->n > 0)
		drain_cancel(ds, ds->v[0]);
	free(ds->v);
	ds->v = NULL;
}

void drains_cancel_interface(struct drains *ds, int ifindex)
{
	for (unsigned i = ds->n; i-- > 0;)
		if (ds->v[i]->ifindex == ifindex)
			drain_cancel(ds, ds->v[i]);
}

bool drain_unclassified(const struct drain *dr, enum fault_direction dir)
{
	return dr->unclassified[di(dir)];
}

void drain_reclassified(struct drain *dr, enum fault_direction dir)
{
	dr->unclassified[di(dir)] = false;
}

bool drain_order(const struct drain *dr, enum fault_direction dir, struct netem_config *cfg)
{
	if (dr->limit[di(dir)] == 0)
		return false;
	if (!cfg->rate_bytes_per_sec)
		cfg->rate_bytes_per_sec = DRAIN_RATE_BYTES;
	cfg->limit = MAX(cfg->limit, dr->limit[di(dir)]);
	return true;
}

uint32_t drain_flows(const struct drain *dr)
{
	return dr->flows;
}

/* The longest a packet can still spend in a netem that carried `before` once it carries
 * `after`: 0 if after delays as much (nothing can overtake). */
static uint64_t hold_usec(struct drains *ds, const struct edge *e, int ifindex,
		enum fault_direction dir, const struct netem_config *before,
		const struct netem_config *after)
{
	/* netem's jitter with a distribution table reaches about 4 times its value */
	int64_t max_before = before->latency_ns + 4 * before->jitter_ns;
	int64_t max_after = after->latency_ns + 4 * after->jitter_ns;
	bool rate_gone = before->rate_bytes_per_sec &&
			after->rate_bytes_per_sec != before->rate_bytes_per_sec;
	uint64_t hold = 0;

	if (max_before <= max_after && !rate_gone)
		return 0;
	hold = (uint64_t)MAX(max_before, 0) / 1000;
	if (rate_gone) {
		struct datapath_stats st = {};
		if (ds->kernel.ops->netem_stats(ds->kernel.userdata, e, ifindex, dir, &st) >= 0)
			hold += st.qlen * DRAIN_PKT_BYTES * USEC_PER_SEC / before->rate_bytes_per_sec;
	}
	return MIN(hold + DRAIN_MARGIN_USEC, DRAIN_MAX_USEC);
}

static int on_drained(sd_event_source *es, uint64_t usec, void *userdata);

int drains_begin(struct drains *ds, const struct edge *e, int ifindex,
		const struct netem_config *const before[2], const struct netem_config *const after[2],
		uint32_t flows, struct drain **ret_new)
{
	struct drain *dr = drains_find(ds, e->name, ifindex);
	uint64_t hold[2] = {}, until;
	int r;

	*ret_new = NULL;
	for (unsigned i = 0; i < ELEMENTSOF(dirs); i++)
		if (before[i] && after[i])
			hold[i] = hold_usec(ds, e, ifindex, dirs[i], before[i], after[i]);
	if (!hold[0] && !hold[1])
		return 0;
	until = now_usec(CLOCK_MONOTONIC) + MAX(hold[0], hold[1]);
	if (!dr) {
		struct drain **a = reallocarray(ds->v, ds->n + 1, sizeof(*a));
		if (!a)
			return -ENOMEM;
		ds->v = a;
		dr = calloc(1, sizeof(*dr));
		if (!dr)
			return -ENOMEM;
		dr->edge = *e;
		dr->ifindex = ifindex;
		dr->owner = ds;
		r = sd_event_add_time(ds->event, &dr->timer, CLOCK_MONOTONIC, until, USEC_PER_MSEC,
				on_drained, dr);
		if (r < 0) {
			free(dr);
			return r;
		}
		ds->v[ds->n++] = dr;
		*ret_new = dr;
	} else if (until > dr->until_mono_usec) {
		(void)sd_event_source_set_time(dr->timer, until);
		(void)sd_event_source_set_enabled(dr->timer, SD_EVENT_ONESHOT);
	}
	if (dr->empty_until_mono_usec) { /* waiting for the queue: the new delay first */
		(void)sd_event_source_set_time(dr->timer, until);
		(void)sd_event_source_set_enabled(dr->timer, SD_EVENT_ONESHOT);
		dr->empty_until_mono_usec = 0;
		dr->link_counted = false;
		dr->waits_for = DRAIN_WAIT_DELAY;
		dr->path_left = 0;
		dr->path_still_since_mono_usec = 0;
	}
	dr->until_mono_usec = MAX(dr->until_mono_usec, until);
	dr->flows = flows;
	log_debug("edge '%s': draining its netem (out %u ms, in %u ms)", e->name,
			(unsigned)(hold[0] / USEC_PER_MSEC), (unsigned)(hold[1] / USEC_PER_MSEC));
	for (unsigned i = 0; i < 2; i++)
		if (hold[i]) {
			dr->limit[i] = MAX(dr->limit[i], before[i]->limit);
			dr->held[i] = true;
		}
	return 0;
}

/* Whether a direction of dr's edge that drained still holds packets, read now (a cached count
 * from up to DP_STATS_USEC ago could say empty while a standing queue is there). Where its
 * redirect is to go (path), anything still on the way through the IFB: its qdiscs, and what
 * it was handed and has not passed on yet (a busy guest's tasklet can sit on packets while
 * the interface sees nothing); else its netem's queue. */
static bool queued(struct drains *ds, struct drain *dr, bool path, uint64_t now)
{
	const struct kernel_ops *ops = ds->kernel.ops;
	__typeof__(ops->netem_stats) stats = ops->netem_stats_now ? ops->netem_stats_now :
			ops->netem_stats;
	uint64_t extra = 0;

	for (unsigned i = 0; i < ELEMENTSOF(dirs); i++) {
		struct datapath_stats st = {};
		uint64_t n = 0;
		if (!dr->held[i])
			continue;
		if (stats(ds->kernel.userdata, &dr->edge, dr->ifindex, dirs[i], &st) >= 0 &&
				st.qlen > 0)
			return true; /* its own netem: waited for as long as it holds packets */
		if (path && ops->path_backlog &&
				ops->path_backlog(ds->kernel.userdata, &dr->edge, dirs[i], &n) >= 0)
			extra += n > st.qlen ? n - st.qlen : 0;
	}
	/* The rest of the IFB path (its root's count, what its tasklet holds): packets there move
	 * on; a count that holds still for DRAIN_STILL_USEC on a quiet interface is the kernel's
	 * accounting (seen after a loss fault, when the redirect then waited its 60 s). */
	if (extra == 0 || extra != dr->path_left) {
		dr->path_left = extra;
		dr->path_still_since_mono_usec = now;
		return extra > 0;
	}
	if (now < dr->path_still_since_mono_usec + DRAIN_STILL_USEC)
		return true;
	log_debug("edge '%s': its IFB path's count of %llu held still for %u ms on a quiet "
			"interface: accounting, not packets", dr->edge.name,
			(unsigned long long)extra, (unsigned)(DRAIN_STILL_USEC / USEC_PER_MSEC));
	return false;
}

/* Whether dr's interface sent or received nothing since the last look (the first look: no). */
static bool quiet(struct drains *ds, struct drain *dr)
{
	uint64_t packets;
	bool q;

	if (!ds->kernel.ops->link_packets)
		return true;
	if (ds->kernel.ops->link_packets(ds->kernel.userdata, dr->ifindex, &packets) < 0)
		return true; /* gone, or no counters: nothing to wait for */
	q = dr->link_counted && packets == dr->link_packets;
	dr->link_packets = packets;
	dr->link_counted = true;
	return q;
}

/* Whether direction i of dr drained and is left without faults (its objects are to go). */
static bool leaves(struct drains *ds, const struct drain *dr, unsigned i, struct diag *d)
{
	return dr->held[i] && !dr->unclassified[i] &&
	       ds->hooks.n_faults(ds->hooks.userdata, &dr->edge, dr->ifindex, dirs[i], d) == 0;
}

/* Take the traffic of dr's directions that are left without faults off their netem, once;
 * returns how many it did now (0: done before, or nothing to do, or it failed: the removal
 * then goes ahead). */
static int unclassify(struct drains *ds, struct drain *dr, struct diag *d)
{
	int done = 0;

	if (!ds->kernel.ops->unclassify)
		return 0;
	for (unsigned i = 0; i < ELEMENTSOF(dirs); i++) {
		if (!leaves(ds, dr, i, d))
			continue;
		dr->unclassified[i] = true;
		if (ds->kernel.ops->unclassify(ds->kernel.userdata, &dr->edge, dirs[i], d) >= 0)
			done++;
	}
	return done;
}

static int again(sd_event_source *es, uint64_t usec)
{
	(void)sd_event_source_set_time_relative(es, usec);
	(void)sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
	return 0;
}

/* Poll again, logging (debug) what the drain waits for when that changes. */
static int wait_for(struct drain *dr, sd_event_source *es, enum drain_wait w, uint64_t usec)
{
	static const char *const what[] = {
		[DRAIN_WAIT_TRAFFIC] = "its interface's traffic to pause",
		[DRAIN_WAIT_QUEUE] = "its drained path to empty",
	};

	if (w != dr->waits_for)
		log_debug("edge '%s': the drain waits for %s", dr->edge.name, what[w]);
	dr->waits_for = w;
	return again(es, usec);
}

/* Drained: the edge gets exactly what its faults on that interface ask for. */
static int on_drained(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct drain *dr = userdata;
	struct drains *ds = dr->owner;
	uint64_t now = loop_now_usec(ds->event, CLOCK_MONOTONIC);
	bool removes = false, waiting;
	struct diag d;
	int r;

	if (!dr->empty_until_mono_usec)
		dr->empty_until_mono_usec = now + DRAIN_QUEUE_USEC;
	diag_init(&d);
	for (unsigned i = 0; i < ELEMENTSOF(dirs); i++)
		removes = removes || leaves(ds, dr, i, &d);
	waiting = now < dr->empty_until_mono_usec;
	/* quiet first: the path's backlog is read as late as possible before the redirect goes */
	if (waiting && removes && !quiet(ds, dr))
		return wait_for(dr, es, DRAIN_WAIT_TRAFFIC, DRAIN_QUIET_USEC);
	if (waiting && queued(ds, dr, removes, now))
		return wait_for(dr, es, DRAIN_WAIT_QUEUE,
				removes ? DRAIN_QUIET_USEC : DRAIN_POLL_USEC);
	if (removes && !waiting)
		log_info("edge '%s': its traffic did not pause within %u s of the revert; its "
				"drained netem goes under traffic", dr->edge.name,
				(unsigned)(DRAIN_QUEUE_USEC / USEC_PER_SEC));
	diag_init(&d);
	/* quiet: nothing is on its way through the objects, they go at once */
	if (unclassify(ds, dr, &d) > 0) {
		log_debug("edge '%s': its traffic is off its drained netem", dr->edge.name);
		if (!waiting)
			return again(es, DRAIN_UNCLASSIFY_USEC);
	}
	/* no longer draining: the sync gives exactly the faults */
	dr->limit[0] = dr->limit[1] = 0;
	dr->held[0] = dr->held[1] = false;
	diag_init(&d);
	r = ds->hooks.sync(ds->hooks.userdata, &dr->edge, dr->ifindex, &d);
	if (r < 0) {
		/* Its objects must not outlive the faults: try again shortly. */
		log_error("edge '%s': removing its drained netem failed, retrying in 1s: %s",
				dr->edge.name, diag_text(&d));
		return again(es, USEC_PER_SEC);
	}
	log_debug("edge '%s': drained", dr->edge.name);
	drain_cancel(ds, dr);
	if (ds->hooks.changed)
		ds->hooks.changed(ds->hooks.userdata);
	return 0;
}
