/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>

#include "admit.h"
#include "audit.h"
#include "control.h"
#include "daemon.h"
#include "degraded.h"
#include "kill.h"
#include "edge-scope.h"
#include "loop-time.h"
#include "requests.h"
#include "runner.h"
#include "scenario-topology.h"
#include "schedule.h"
#include "status.h"
#include "svcedge.h"
#include "timeutil.h"

struct request {
	struct server *s;
	const struct control_peer *peer;
	const struct proto_msg *m;
	struct proto_writer *w;
	struct diag *d;
	/* A warning for a reply that is otherwise a success (a change not recorded). */
	const char *warning;
};

static const char *get(const struct request *q, const char *key)
{
	return proto_msg_get(q->m, 0, key);
}

static int handle_inject(struct request *q)
{
	struct server *s = q->s;
	const char *kind_s = get(q, "kind"), *edge_s = get(q, "edge");
	const struct edge *e;
	struct active_fault *af = NULL;
	struct fault f;
	enum fault_kind kind;
	char params[512], ifname[IF_NAMESIZE];
	bool updated = false;
	uint64_t now;
	int ifindex, r;

	if (!kind_s || fault_kind_from_string(kind_s, &kind) < 0)
		return diag_add(q->d, -EINVAL, "unknown fault kind '%s' (allowed: latency, loss, "
				"corrupt, duplicate, reorder, rate, partition)", kind_s ? kind_s : "");
	if (!edge_s)
		return diag_add(q->d, -EINVAL, "missing --edge");
	fault_init(&f, kind);
	for (unsigned i = 0; i < q->m->n_fields; i++) {
		const char *k = q->m->fields[i].key;
		if (streq(k, "kind") || streq(k, "edge"))
			continue;
		r = fault_set(&f, k, q->m->fields[i].value, q->d);
		if (r < 0)
			return r;
	}
	r = fault_validate(&f, q->d);
	if (r < 0)
		return r;
	r = admit_fault(s, edge_s, &f, &e, &ifindex, ifname, q->d);
	if (r < 0)
		return r;
	now = loop_now_usec(s->event, CLOCK_REALTIME);
	r = faults_apply(s->faults, e, ifindex, ifname, &f, 0, now + f.duration_usec,
			q->peer->cred.uid,
			q->peer->cred.pid, NULL, &af, &updated, q->d);
	if (r < 0)
		return r;
	fault_format_params(&af->fault, params, sizeof(params));
	proto_put_u64(q->w, "id", af->id);
	proto_put(q->w, "action", updated ? "updated" : "injected");
	proto_put(q->w, "edge", e->name);
	proto_put(q->w, "interface", af->ifname);
	proto_put(q->w, "kind", kind_s);
	proto_put(q->w, "params", params);
	proto_put_u64(q->w, "duration_us", f.duration_usec);
	return 0;
}

static void put_fault(struct server *s, struct proto_writer *w, struct active_fault *af,
		uint64_t now_mono)
{
	char params[512], desc[256];
	uint64_t matched, dropped, delayed;
	struct faults_affected a;

	fault_format_params(&af->fault, params, sizeof(params));
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
	if (edge_scoped(&af->edge)) {
		char now[512];

		svcedge_describe(s->kn.svc, &af->edge, now, sizeof(now));
		proto_put(w, "service", now);
	}
	faults_stats(s->faults, af, &matched, &dropped, &delayed);
	proto_put_u64(w, "matched", matched);
	proto_put_u64(w, "dropped", dropped);
	proto_put_u64(w, "delayed", delayed);
	faults_affected(s->faults, af, &a);
	proto_put(w, "affected", a.verb);
	proto_put_u64(w, "affected_packets", a.packets);
	proto_put_u64(w, "affected_bytes", a.bytes);
	proto_put_u64(w, "idle_us", a.idle_usec);
	if (a.idle_usec >= FAULTS_IDLE_USEC)
		proto_put(w, "warning", FAULTS_IDLE_TEXT);
}

static int handle_status(struct request *q)
{
	struct server *s = q->s;
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	const struct kill_latch *g = killswitch_find(s->killswitch, "");

	proto_put(q->w, "killed", g ? "yes" : "no");
	if (g)
		proto_put(q->w, "kill_reason", g->reason);
	if (s->degraded)
		proto_put(q->w, "degraded", s->degraded);
	/* before the records: after one it would belong to that record */
	proto_put_u64(q->w, "faults", faults_count(s->faults));
	for (unsigned i = 0; i < killswitch_count(s->killswitch); i++) {
		const struct kill_latch *k = killswitch_at(s->killswitch, i);
		proto_record(q->w, "kill");
		proto_put(q->w, "edge", k->edge[0] ? k->edge : "*");
		proto_put(q->w, "reason", k->reason);
		proto_put_u64(q->w, "uid", k->uid);
		proto_put_u64(q->w, "since_us", k->realtime_usec);
		proto_put_u64(q->w, "until_us", k->until_realtime_usec);
	}
	for (unsigned i = 0; i < faults_count(s->faults); i++)
		put_fault(s, q->w, faults_at(s->faults, i), now);
	return 0;
}

static int handle_revert(struct request *q)
{
	struct server *s = q->s;
	const char *edge = get(q, "edge"), *all = get(q, "all");
	unsigned n_ids = 0, reverted = 0;
	uid_t uid = q->peer->cred.uid;
	pid_t pid = q->peer->cred.pid;
	int r = 0;

	for (unsigned i = 0; i < q->m->n_fields; i++)
		n_ids += streq(q->m->fields[i].key, "id");
	if (!!n_ids + !!edge + !!all != 1)
		return diag_add(q->d, -EINVAL, "revert needs exactly one of ID..., --edge NAME, "
				"--all");
	if (n_ids) {
		/* Every id is checked before any is reverted: all or nothing for typos. */
		for (unsigned i = 0; i < q->m->n_fields; i++) {
			const char *v = q->m->fields[i].value;
			uint64_t id;
			if (!streq(q->m->fields[i].key, "id"))
				continue;
			if (parse_u64_range(v, 1, UINT64_MAX, &id) < 0)
				return diag_add(q->d, -EINVAL, "fault id '%s' is not a positive "
						"number", v);
			if (!faults_find(s->faults, id))
				return diag_add(q->d, -ENOENT, "no active fault with id %s (see "
						"'chaosctl status')", v);
		}
		for (unsigned i = 0; i < q->m->n_fields; i++) {
			uint64_t id;
			if (!streq(q->m->fields[i].key, "id") ||
					parse_u64_range(q->m->fields[i].value, 1, UINT64_MAX, &id) < 0)
				continue;
			int k = faults_find(s->faults, id) ?
				faults_revert(s->faults, id, "revert", uid, pid, q->d) : 0;
			if (k < 0 && r >= 0)
				r = k;
			reverted += k >= 0;
		}
	} else {
		if (edge && !config_find_edge(s->config, edge)) {
			bool active = false;
			for (unsigned i = 0; i < faults_count(s->faults); i++)
				active |= streq(faults_at(s->faults, i)->edge.name, edge);
			if (!active)
				return diag_add(q->d, -ENOENT, "unknown edge '%s'", edge);
		}
		/* Keep going past a failed revert: the others still go, the error is reported. */
		r = faults_revert_edge(s->faults, edge, "revert", uid, pid, &reverted, q->d);
	}
	proto_put_u64(q->w, "reverted", reverted);
	return r;
}

static int handle_kill(struct request *q)
{
	const char *reason = get(q, "reason"), *edge = get(q, "edge"), *for_s = get(q, "for");
	uint64_t t0 = now_usec(CLOCK_MONOTONIC), dur = 0;
	unsigned reverted = 0;
	int r;

	if (get(q, "history"))
		return killswitch_put_history(q->s->killswitch, q->w);
	if (for_s) {
		r = parse_duration_range("kill --for", for_s, USEC_PER_MSEC, 365 * USEC_PER_DAY, &dur,
				q->d);
		if (r < 0)
			return r;
	}
	if (edge && !config_find_edge(q->s->config, edge))
		return diag_add(q->d, -ENOENT, "unknown edge '%s'", edge);
	r = kill_pull(q->s, edge, reason, dur, q->peer->cred.uid, q->peer->cred.pid, &reverted,
			&q->warning, q->d);
	if (r < 0)
		return r;
	proto_put_u64(q->w, "reverted", reverted);
	proto_put_u64(q->w, "elapsed_us", now_usec(CLOCK_MONOTONIC) - t0);
	if (edge)
		proto_put(q->w, "edge", edge);
	if (dur)
		proto_put_u64(q->w, "for_us", dur);
	return 0;
}

static int handle_arm(struct request *q)
{
	const char *edge = get(q, "edge");
	unsigned n = 0;
	int r;

	r = killswitch_release(q->s->killswitch, edge, &n);
	if (edge && n == 0)
		return diag_add(q->d, -ENOENT, "no kill switch is engaged for edge '%s'", edge);
	if (r < 0)
		q->warning = "the kill switch was released, but its state could not be recorded "
			     "(chaosd is degraded)";
	if (n)
		audit_log(&(struct audit_event){ .action = "arm", .uid = q->peer->cred.uid,
				.pid = q->peer->cred.pid, .edge = edge });
	proto_put_u64(q->w, "released", n);
	return 0;
}

static int handle_renew(struct request *q)
{
	unsigned renewed = 0;

	if (get(q, "run"))
		return runner_renew(q->s->runner, get(q, "run"), q->d);
	for (unsigned i = 0; i < q->m->n_fields; i++) {
		uint64_t id;
		int r;

		if (!streq(q->m->fields[i].key, "id"))
			continue;
		if (parse_u64_range(q->m->fields[i].value, 1, UINT64_MAX, &id) < 0)
			return diag_add(q->d, -EINVAL, "renew: '%s' is not a fault id",
					q->m->fields[i].value);
		r = faults_renew(q->s->faults, id, q->d);
		if (r < 0)
			return r;
		renewed++;
	}
	if (renewed == 0)
		return diag_add(q->d, -EINVAL, "renew: no fault id given");
	proto_put_u64(q->w, "renewed", renewed);
	return 0;
}

static int handle_edges(struct request *q)
{
	const struct config *c = q->s->config;

	for (unsigned i = 0; i < c->n_edges; i++) {
		const struct edge *e = &c->edges[i];
		char buf[1024] = "", pfx[64], port[16];
		size_t len = 0;
		int ifindex;
		struct diag d;

		proto_record(q->w, "edge");
		proto_put(q->w, "name", e->name);
		for (unsigned k = 0; k < e->n_prefixes; k++) {
			int n = snprintf(buf + len, sizeof(buf) - len, "%s%s", k ? ", " : "",
					edge_prefix_format(&e->prefixes[k], pfx, sizeof(pfx)));
			if (n > 0)
				len = MIN(len + (size_t)n, sizeof(buf) - 1);
		}
		proto_put(q->w, "destination", buf);
		snprintf(port, sizeof(port), "%u", e->port);
		proto_put(q->w, "port", e->port ? port : "any");
		proto_put(q->w, "protocol", edge_proto_to_string(e->proto));
		if (edge_scoped(e)) {
			char scope[EDGE_UNIT_MAX + EDGE_CGROUP_MAX + 64];
			char now[512];

			proto_put(q->w, "service", edge_scope_format(e, scope, sizeof(scope)));
			svcedge_describe(q->s->kn.svc, e, now, sizeof(now));
			proto_put(q->w, "resolves_to", now);
		}
		diag_init(&d);
		if (datapath_resolve_ifindex(q->s->kn.dp, e, &ifindex, &d) >= 0) {
			char ifname[IF_NAMESIZE] = "?";
			if_indextoname((unsigned)ifindex, ifname);
			proto_put(q->w, "interface", ifname);
			proto_put(q->w, "resolved_by", e->ifname[0] ? "config" : "route");
		} else {
			proto_put(q->w, "interface", e->ifname[0] ? e->ifname : "");
			proto_put(q->w, "error", diag_text(&d));
		}
	}
	return 0;
}

/* The text goes in "data" fields of at most PROTO_MAX_VALUE bytes, cut at line ends. */
static int handle_metrics(struct request *q)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = status_render_metrics(q->s, METRICS_OPENMETRICS, &text, &len);
	if (r < 0)
		return r;
	proto_put(q->w, "content_type", METRICS_OPENMETRICS_TYPE);
	for (size_t off = 0; off < len;) {
		size_t n = MIN(len - off, (size_t)PROTO_MAX_VALUE);
		char chunk[PROTO_MAX_VALUE + 1];

		while (n < len - off && n > 1 && text[off + n - 1] != '\n')
			n--;
		memcpy(chunk, text + off, n);
		chunk[n] = '\0';
		proto_put(q->w, "data", chunk);
		off += n;
	}
	return 0;
}


/* chaosctl plan/run --seed N: the random choices of that seed, not the file's. */
static int scenario_seed_request(struct scenario *sc, const char *seed, struct diag *d)
{
	uint64_t u;

	if (!seed)
		return 0;
	if (parse_u64_range(seed, 0, UINT64_MAX, &u) < 0)
		return diag_add(d, -EINVAL, "--seed '%.40s': not a seed (allowed: a whole number "
				"0-%" PRIu64 ")", seed, UINT64_MAX);
	schedule_resolve(sc, u);
	return 0;
}

/* The scenario file travels as "file" (its name, for messages) and one "line" field per
 * line, so no single value has to hold the whole file. */
static int load_scenario(struct server *s, const struct control_peer *peer,
		const struct proto_msg *m, struct scenario **ret, struct diag *d)
{
	_cleanup_(scenario_freep) struct scenario *sc = NULL;
	_cleanup_free_ char *text = NULL;
	const char *file = proto_msg_get(m, 0, "file");
	size_t len = 0;
	int r;

	r = proto_msg_join_lines(m, "line", &text, &len);
	if (r == -ENOENT)
		return diag_add(d, -EINVAL, "%s: empty scenario", file ? file : "scenario");
	if (r < 0)
		return r;
	r = scenario_load_string(text, len, file ? file : "scenario", &sc, d);
	if (r < 0)
		return r;
	r = scenario_seed_request(sc, proto_msg_get(m, 0, "seed"), d);
	if (r < 0)
		return r;
	/* topology steps: this host's side of the cuts, before its edges are checked */
	r = scenario_topology_expand(sc, proto_msg_get(m, 0, "host"), d);
	if (r < 0)
		return r;
	r = runner_check(s->runner, sc, peer->cred.uid, d);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(sc);
	return 0;
}

static int handle_scenario(struct request *q, uint16_t type)
{
	_cleanup_(scenario_freep) struct scenario *sc = NULL;
	char id[REPORT_ID_MAX + 1];
	int r;

	r = load_scenario(q->s, q->peer, q->m, &sc, q->d);
	if (r < 0)
		return r;
	if (type == PROTO_PLAN)
		return runner_plan(q->s->runner, sc, q->w, q->d);
	if (type == PROTO_VALIDATE) {
		proto_put(q->w, "name", sc->name);
		proto_put_u64(q->w, "steps", sc->n_steps);
		proto_put_u64(q->w, "probes", sc->n_probes);
		proto_put_u64(q->w, "planned_us", 2 * sc->steady_state_usec + sc->method_usec);
		proto_put_u64(q->w, "max_duration_us", sc->max_duration_usec);
		return 0;
	}
	if (q->s->degraded)
		return diag_add(q->d, -EROFS, "chaosd is degraded: %s; no run starts until its "
				"state can be written again", q->s->degraded);
	r = runner_start(q->s->runner, TAKE_PTR(sc), q->peer->cred.uid, q->peer->cred.pid, id,
			sizeof(id), q->d);
	if (r < 0)
		return r;
	proto_put(q->w, "run", id);
	return 0;
}

static int handle_run(struct request *q)
{
	return handle_scenario(q, PROTO_RUN);
}

static int handle_validate(struct request *q)
{
	return handle_scenario(q, PROTO_VALIDATE);
}

static int handle_plan(struct request *q)
{
	return handle_scenario(q, PROTO_PLAN);
}

static int handle_abort(struct request *q)
{
	const char *run = get(q, "run");
	char why[128];
	unsigned n;

	snprintf(why, sizeof(why), "chaosctl abort by uid %u", (unsigned)q->peer->cred.uid);
	n = runner_abort(q->s->runner, run, why);
	if (n == 0)
		return diag_add(q->d, -ESRCH, run ? "run '%s' is not running" :
						    "no scenario is running%s", run ? run : "");
	audit_log(&(struct audit_event){ .action = "scenario-abort", .uid = q->peer->cred.uid,
			.pid = q->peer->cred.pid, .run = run, .result = "ok" });
	proto_put_u64(q->w, "aborted", n);
	return 0;
}

static int handle_watch(struct request *q)
{
	const char *v = get(q, "since");
	uint64_t since = 0;

	if (v && parse_u64_range(v, 0, UINT32_MAX, &since) < 0)
		return diag_add(q->d, -EINVAL, "since: '%s' is not a number", v);
	return runner_watch(q->s->runner, get(q, "run"), (unsigned)since, q->w, q->d);
}

static int handle_report(struct request *q)
{
	return runner_report(q->s->runner, get(q, "run"), get(q, "format"), q->w, q->d);
}

static int handle_ping(struct request *q)
{
	proto_put(q->w, "version", PACKAGE_VERSION);
	return 0;
}

/* The daemon's side of src/proto.c's verb table. */
static int (*const handlers[_PROTO_VERB_MAX])(struct request *q) = {
	[PROTO_INJECT] = handle_inject,
	[PROTO_STATUS] = handle_status,
	[PROTO_REVERT] = handle_revert,
	[PROTO_KILL] = handle_kill,
	[PROTO_ARM] = handle_arm,
	[PROTO_EDGES] = handle_edges,
	[PROTO_PING] = handle_ping,
	[PROTO_RENEW] = handle_renew,
	[PROTO_RUN] = handle_run,
	[PROTO_VALIDATE] = handle_validate,
	[PROTO_PLAN] = handle_plan,
	[PROTO_WATCH] = handle_watch,
	[PROTO_ABORT] = handle_abort,
	[PROTO_REPORT] = handle_report,
	[PROTO_METRICS] = handle_metrics,
};

static void reply_error(struct proto_writer *w, int err, const char *text)
{
	proto_writer_done(w);
	proto_writer_init(w, PROTO_REPLY_ERROR, PROTO_MAX_REPLY);
	proto_put(w, "error", text && *text ? text : strerror(-err));
	proto_putf(w, "errno", "%d", -err);
}

static void audit_refusal(const struct control_peer *peer, const struct proto_verb *verb,
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
	audit_log(&(struct audit_event){ .action = verb->name, .uid = peer->cred.uid,
			.pid = peer->cred.pid, .edge = proto_msg_get(m, 0, "edge"),
			.fault = proto_msg_get(m, 0, "kind"), .params = params,
			.result = diag_text(d) });
}

void requests_dispatch(struct server *s, const struct control_peer *peer, uint16_t type,
		const uint8_t *payload, size_t len, struct proto_writer *w)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	const struct proto_verb *verb = proto_verb_by_type(type);
	struct diag d;
	struct request q;
	int r;

	diag_init(&d);
	proto_writer_init(w, PROTO_REPLY_OK, PROTO_MAX_REPLY);
	if (!verb || verb->type >= _PROTO_VERB_MAX || !handlers[verb->type])
		return reply_error(w, -EOPNOTSUPP, "unknown request type (is chaosctl newer than "
				"chaosd?)");
	r = proto_msg_decode(type, payload, len, &m, &d);
	if (r < 0)
		return reply_error(w, r, diag_text(&d));
	if (verb->access == PROTO_WRITE && !peer->may_write) {
		diag_add(&d, -EPERM, "permission denied: uid %u is neither root nor in the socket "
				"group '%s'; it may only read", (unsigned)peer->cred.uid,
				s->config->socket_group ? s->config->socket_group : "");
		audit_refusal(peer, verb, m, &d);
		return reply_error(w, -EPERM, diag_text(&d));
	}
	q = (struct request){ .s = s, .peer = peer, .m = m, .w = w, .d = &d };
	r = handlers[verb->type](&q);
	if (verb->access == PROTO_WRITE)
		degraded_check(s);
	if (r < 0) {
		log_error("%s request from uid %u pid %d failed: %s", verb->name,
				(unsigned)peer->cred.uid, (int)peer->cred.pid, diag_text(&d));
		if (verb->access == PROTO_WRITE)
			audit_refusal(peer, verb, m, &d);
		return reply_error(w, r, diag_text(&d));
	}
	/* A change that happened in the kernel but not in the state directory is a success with
	 * a warning: the operator must know a restart may not remember it. */
	if (!q.warning && verb->access == PROTO_WRITE && s->degraded)
		q.warning = "done in the kernel, but it could not be recorded in the state directory: "
			    "chaosd is degraded (see 'chaosctl status')";
	if (q.warning)
		proto_put(w, "warning", q.warning);
}
