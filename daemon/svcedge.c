/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <systemd/sd-bus.h>

#include "edge-scope.h"
#include "audit.h"
#include "macro.h"
#include "nl_ct.h"
#include "nl_nft_mark.h"
#include "svcedge.h"
#include "svcscope.h"
#include "timeutil.h"
#include "unitres.h"

/* systemd signals a watched unit's changes; the poll only catches what a signal could not say
 * (a bus that was not there yet, a watch refused, systemd re-executed). */
#define UNIT_POLL_USEC (1000 * 1000ULL)
#define UNIT_WATCHED_POLL_USEC (30 * 1000 * 1000ULL)

struct held {
	char edge[EDGE_NAME_MAX + 1];
	unsigned holders;
	uint32_t mark;
	int ifindex; /* of its netem (0: none yet) */
};

/* What systemd said last about a unit edge's unit. */
struct unit_state {
	char unit[EDGE_UNIT_MAX + 1];
	struct unitres_query *q;
	sd_bus_slot *watch; /* systemd's PropertiesChanged for the unit */
	struct svcedge *owner;
	bool changed; /* signalled while a query was out: its answer may be stale */
	bool answered;
	int r;
	char state[32];
	char cgroup[EDGE_CGROUP_MAX + 2];
	char why[256];
};

struct svcedge {
	sd_event *ev;
	struct nl_socket *nl; /* NETLINK_NETFILTER */
	struct svcscope *scope;
	struct held *held;
	unsigned n_held;
	/* table inet chaosd_mark or marked connections may exist (unknown at start) */
	bool maybe;
	sd_bus *bus;
	enum { SUB_NONE, SUB_ASKED, SUB_DONE } subscribed; /* to systemd's unit signals */
	char bus_error[128];
	sd_event_source *poll;
	struct unit_state *units;
	unsigned n_units;
};

static struct held *held_find(const struct svcedge *s, const char *edge)
{
	for (unsigned i = 0; i < s->n_held; i++)
		if (streq(s->held[i].edge, edge))
			return &s->held[i];
	return NULL;
}

static struct unit_state *unit_find(const struct svcedge *s, const char *unit)
{
	for (unsigned i = 0; i < s->n_units; i++)
		if (streq(s->units[i].unit, unit))
			return &s->units[i];
	return NULL;
}

static void unit_ask(struct unit_state *u);

static void unit_done(void *userdata, int r, const struct unitres_result *res,
		const struct diag *d)
{
	struct unit_state *u = userdata;

	u->q = unitres_free(u->q);
	if (u->changed) { /* the unit moved on while systemd answered: ask again */
		u->changed = false;
		unit_ask(u);
		if (u->q)
			return;
	}
	u->answered = true;
	u->r = r;
	u->state[0] = u->cgroup[0] = u->why[0] = '\0';
	if (r >= 0) {
		snprintf(u->state, sizeof(u->state), "%s", res->active_state);
		snprintf(u->cgroup, sizeof(u->cgroup), "%s", res->control_group);
	} else
		snprintf(u->why, sizeof(u->why), "%s", diag_text(d));
}

static int bus_open(struct svcedge *s);

static void unit_ask(struct unit_state *u)
{
	int r;

	if (u->q || !u->owner->bus)
		return;
	r = unitres_resolve(u->owner->bus, u->unit, unit_done, u, &u->q);
	if (r < 0) {
		u->answered = true;
		u->r = r;
		snprintf(u->why, sizeof(u->why), "asking systemd: %s", strerror(-r));
	}
}

static int on_unit_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct unit_state *u = userdata;

	(void)m;
	(void)ret_error;
	if (u->q)
		u->changed = true;
	else
		unit_ask(u);
	return 0;
}

static int on_subscribed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct svcedge *s = userdata;

	(void)ret_error;
	/* refused: asked again at the next poll, which stays at its short interval */
	s->subscribed = sd_bus_message_is_method_error(m, NULL) ? SUB_NONE : SUB_DONE;
	return 0;
}

/* Every unit watched: the poll can wait long. */
static bool units_watched(const struct svcedge *s)
{
	if (s->subscribed != SUB_DONE)
		return false;
	for (unsigned i = 0; i < s->n_units; i++)
		if (!s->units[i].watch)
			return false;
	return true;
}

static void units_ask(struct svcedge *s)
{
	/* a system bus that was not there (yet) is tried again every round */
	if (!s->bus && bus_open(s) < 0)
		return;
	if (s->subscribed == SUB_NONE && unitres_subscribe(s->bus, on_subscribed, s) >= 0)
		s->subscribed = SUB_ASKED;
	for (unsigned i = 0; i < s->n_units; i++) {
		struct unit_state *u = &s->units[i];

		if (!u->watch) /* refused: the poll stays short (units_watched) */
			(void)unitres_watch(s->bus, u->unit, on_unit_changed, u, &u->watch);
		unit_ask(u);
	}
}

static int on_poll(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct svcedge *s = userdata;

	units_ask(s);
	(void)sd_event_source_set_time(es, usec + (units_watched(s) ? UNIT_WATCHED_POLL_USEC :
								       UNIT_POLL_USEC));
	(void)sd_event_source_set_enabled(es, s->n_units ? SD_EVENT_ON : SD_EVENT_OFF);
	return 0;
}

int svcedge_new(sd_event *ev, struct svcedge **ret, struct diag *d)
{
	struct svcedge *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->maybe = true;
	r = nl_socket_open(NETLINK_NETFILTER, &s->nl);
	if (r < 0) {
		free(s);
		return diag_add(d, r, "service edges: netfilter socket: %s", strerror(-r));
	}
	if (ev) {
		s->ev = sd_event_ref(ev);
		r = svcscope_new(ev, s->nl, &s->scope, d);
		if (r < 0) {
			svcedge_free(s);
			return r;
		}
	}
	*ret = s;
	return 0;
}

static void units_clear(struct svcedge *s)
{
	for (unsigned i = 0; i < s->n_units; i++) {
		unitres_free(s->units[i].q);
		sd_bus_slot_unref(s->units[i].watch);
	}
	free(s->units);
	s->units = NULL;
	s->n_units = 0;
}

struct svcedge *svcedge_free(struct svcedge *s)
{
	if (!s)
		return NULL;
	units_clear(s);
	sd_event_source_disable_unref(s->poll);
	sd_bus_flush_close_unref(s->bus);
	svcscope_free(s->scope);
	nl_socket_free(s->nl);
	free(s->held);
	sd_event_unref(s->ev);
	free(s);
	return NULL;
}

static int bus_open(struct svcedge *s)
{
	int r;

	if (s->bus)
		return 0;
	r = sd_bus_open_system(&s->bus);
	if (r >= 0)
		r = sd_bus_attach_event(s->bus, s->ev, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		s->bus = sd_bus_flush_close_unref(s->bus);
		snprintf(s->bus_error, sizeof(s->bus_error), "the system bus: %s", strerror(-r));
		return r;
	}
	return 0;
}

void svcedge_set_units(struct svcedge *s, const struct edge *edges, unsigned n)
{
	struct unit_state *v;
	unsigned k = 0;

	if (!s || !s->ev)
		return;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct unit_state *old;

		if (!edges[i].unit[0])
			continue;
		old = unit_find(s, edges[i].unit);
		if (old) { /* keeps what systemd said; a pending query is asked anew */
			v[k] = *old;
			old->q = unitres_free(old->q);
			v[k].q = NULL;
			v[k].watch = NULL; /* its userdata was old: watched anew below */
			v[k].changed = false;
		} else
			snprintf(v[k].unit, sizeof(v[k].unit), "%s", edges[i].unit);
		v[k].owner = s;
		k++;
	}
	units_clear(s);
	s->units = v;
	s->n_units = k;
	if (!k)
		return;
	if (bus_open(s) < 0)
		log_warning("service edges: %s; unit = edges cannot be resolved until it is there",
				s->bus_error);
	units_ask(s);
	if (!s->poll && sd_event_add_time_relative(s->ev, &s->poll, CLOCK_MONOTONIC,
				UNIT_POLL_USEC, 100 * 1000, on_poll, s) < 0)
		return;
	(void)sd_event_source_set_time_relative(s->poll, units_watched(s) ?
			UNIT_WATCHED_POLL_USEC : UNIT_POLL_USEC);
	(void)sd_event_source_set_enabled(s->poll, SD_EVENT_ON);
}

void svcedge_wait_units(struct svcedge *s, uint64_t usec)
{
	uint64_t end = now_usec(CLOCK_MONOTONIC) + usec;

	while (s && s->bus && now_usec(CLOCK_MONOTONIC) < end) {
		bool pending = false;
		int r;

		for (unsigned i = 0; i < s->n_units; i++)
			pending = pending || s->units[i].q;
		if (!pending)
			return;
		/* the replies' callbacks run from here as from the loop */
		r = sd_bus_process(s->bus, NULL);
		if (r < 0)
			return;
		if (r == 0 && sd_bus_wait(s->bus, 100 * 1000) < 0)
			return;
	}
}

/* The control group of a unit edge, from systemd's last answer; refused with its state. */
static int unit_cgroup(const struct svcedge *s, const struct edge *e, const char **ret,
		struct diag *d)
{
	const struct unit_state *u = unit_find(s, e->unit);

	if (!s->bus)
		return diag_add(d, -ENOTCONN, "edge '%s': unit %s cannot be asked of systemd (%s)",
				e->name, e->unit, s->bus_error[0] ? s->bus_error : "no system bus");
	if (!u || !u->answered)
		return diag_add(d, -EAGAIN, "edge '%s': systemd has not said yet what unit %s is "
				"(asked; try again in a moment)", e->name, e->unit);
	if (u->r < 0)
		return diag_add(d, u->r, "edge '%s': %s", e->name, u->why);
	if (!u->cgroup[0])
		return diag_add(d, -ESRCH, "edge '%s': unit %s is %s and has no control group",
				e->name, e->unit, u->state);
	*ret = u->cgroup;
	return 0;
}

void svcedge_copy(const struct svcedge *s, const struct edge *e, struct edge *ret)
{
	const struct held *h = s ? held_find(s, e->name) : NULL;

	*ret = *e;
	ret->mark = h ? h->mark : 0;
	/* A service edge without destinations: all of them, in both families. */
	if (edge_scoped(e) && e->n_prefixes == 0) {
		ret->prefixes[0] = (struct edge_prefix){ .family = AF_INET };
		ret->prefixes[1] = (struct edge_prefix){ .family = AF_INET6 };
		ret->n_prefixes = 2;
	}
}

int svcedge_hold(struct svcedge *s, const struct edge *e, unsigned h, struct edge *ret,
		struct diag *d)
{
	const char *cg = NULL;
	struct held *x, *nh;
	uint32_t mark;
	int r;

	if (!s || !s->scope)
		return diag_add(d, -EOPNOTSUPP, "edge '%s' is scoped to a service, which this "
				"chaosd cannot mark", e->name);
	x = held_find(s, e->name);
	if (x) {
		bool taken = !(x->holders & h);

		x->holders |= h;
		svcedge_copy(s, e, ret);
		return taken;
	}
	if (e->unit[0]) {
		r = unit_cgroup(s, e, &cg, d);
		if (r < 0)
			return r;
	}
	nh = reallocarray(s->held, s->n_held + 1, sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	s->held = nh;
	s->maybe = true;
	r = svcscope_add(s->scope, e, cg, &mark, d);
	if (r < 0)
		return r;
	x = &s->held[s->n_held++];
	*x = (struct held){ .holders = h, .mark = mark };
	snprintf(x->edge, sizeof(x->edge), "%s", e->name);
	svcedge_copy(s, e, ret);
	return 1;
}

void svcedge_release(struct svcedge *s, const char *edge, unsigned h)
{
	struct held *x = s ? held_find(s, edge) : NULL;
	uint32_t mark;
	struct diag d;

	if (!x || !(x->holders & h))
		return;
	x->holders &= ~h; /* h may name several holders */
	if (x->holders)
		return;
	mark = x->mark;
	*x = s->held[--s->n_held];
	diag_init(&d);
	if (svcscope_remove(s->scope, edge, &d) < 0)
		log_error("service edge '%s': removing its mark rule: %s", edge, diag_text(&d));
	/* no new packet gets the mark now: what is left is on the connections */
	diag_init(&d);
	if (nl_ct_mark_clear_value(s->nl, NL_NFT_MARK_MASK, mark, NULL, &d) < 0)
		log_error("service edge '%s': clearing its connections' marks: %s", edge,
				diag_text(&d));
}

void svcedge_release_others(struct svcedge *s, unsigned h, const char *const *names, unsigned n)
{
	char (*drop)[EDGE_NAME_MAX + 1];
	unsigned k = 0;

	if (!s || !s->n_held)
		return;
	/* named first: a release reorders the holds */
	drop = calloc(s->n_held, sizeof(*drop));
	if (!drop)
		return;
	for (unsigned i = 0; i < s->n_held; i++) {
		bool keep = !(s->held[i].holders & h);

		for (unsigned j = 0; j < n && !keep; j++)
			keep = streq(names[j], s->held[i].edge);
		if (!keep)
			memcpy(drop[k++], s->held[i].edge, sizeof(drop[0]));
	}
	for (unsigned i = 0; i < k; i++)
		svcedge_release(s, drop[i], h);
	free(drop);
}

int svcedge_remove_all(struct svcedge *s, struct diag *d)
{
	struct nl_socket *own = NULL;
	struct nl_socket *nl;
	int r;

	if (s && !s->maybe)
		return 0;
	if (s) {
		/* the table goes whole below: the scope forgets its edges first */
		for (unsigned i = 0; i < s->n_held; i++) {
			struct diag ignored;

			diag_init(&ignored);
			(void)svcscope_remove(s->scope, s->held[i].edge, &ignored);
		}
		s->n_held = 0;
		nl = s->nl;
	} else {
		r = nl_socket_open(NETLINK_NETFILTER, &own);
		if (r < 0)
			return diag_add(d, r, "service edges: netfilter socket: %s", strerror(-r));
		nl = own;
	}
	r = nl_nft_mark_sync(nl, NULL, 0, d);
	if (r == -EAFNOSUPPORT || r == -EPROTONOSUPPORT)
		r = 0; /* no nf_tables: nothing of chaosd's there */
	if (r >= 0) {
		r = nl_ct_mark_clear(nl, NL_NFT_MARK_MASK, NULL, d);
		if (r == -EAFNOSUPPORT || r == -EPROTONOSUPPORT || r == -ENOENT)
			r = 0; /* no conntrack loaded: no marks */
	}
	if (r >= 0 && s)
		s->maybe = false;
	nl_socket_free(own);
	return r;
}

void svcedge_cleaned(struct svcedge *s)
{
	if (s && s->n_held == 0)
		s->maybe = false;
}

void svcedge_describe(const struct svcedge *s, const struct edge *e, char *buf, size_t n)
{
	const struct unit_state *u;

	buf[0] = '\0';
	if (!s || !edge_scoped(e))
		return;
	if (s->scope && svcscope_describe(s->scope, e->name, buf, n) >= 0) {
		if (e->unit[0]) {
			char tail[512];

			snprintf(tail, sizeof(tail), "%s", buf);
			snprintf(buf, n, "unit %s %s", e->unit, tail);
		}
		return;
	}
	u = e->unit[0] ? unit_find(s, e->unit) : NULL;
	if (e->unit[0] && u && u->answered && u->r >= 0)
		snprintf(buf, n, "unit %s %s %s (not marked)", e->unit, u->state, u->cgroup);
	else if (e->unit[0] && u && u->answered)
		snprintf(buf, n, "unit %s: %s (not marked)", e->unit, u->why);
	else if (e->unit[0])
		snprintf(buf, n, "unit %s not asked yet (not marked)", e->unit);
	else
		snprintf(buf, n, "not marked");
}

void svcedge_note_ifindex(struct svcedge *s, const char *edge, int ifindex)
{
	struct held *x = s ? held_find(s, edge) : NULL;

	if (x)
		x->ifindex = ifindex;
}

void svcedge_forget_ifindex(struct svcedge *s, int ifindex)
{
	char (*drop)[EDGE_NAME_MAX + 1];
	unsigned k = 0;

	if (!s || !s->n_held)
		return;
	drop = calloc(s->n_held, sizeof(*drop));
	if (!drop)
		return;
	for (unsigned i = 0; i < s->n_held; i++)
		if (s->held[i].ifindex == ifindex)
			memcpy(drop[k++], s->held[i].edge, sizeof(drop[0]));
	for (unsigned i = 0; i < k; i++)
		svcedge_release(s, drop[i], SVCEDGE_OUT | SVCEDGE_IN);
	free(drop);
}

unsigned svcedge_follows(const struct svcedge *s)
{
	return s && s->scope ? svcscope_follows(s->scope) : 0;
}
