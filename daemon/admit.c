/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include "admit.h"
#include "audit.h"
#include "daemon.h"
#include "linkmon.h"
#include "runner.h"
#include "sockdiag.h"
#include "timeutil.h"

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

/* The peer of an established SSH session (any port, sockdiag.h) that the edge would cut: 1 and
 * its address, 0 none, < 0 when it cannot be told (then the partition is refused: cutting the
 * operator off is the one mistake that cannot be undone from the keyboard). */
static int ssh_peer_in_edge(const struct edge *e, char *ret_peer, size_t n, struct diag *d)
{
	_cleanup_free_ struct sockdiag_peer *peers = NULL;
	size_t n_peers = 0;
	int r;

	r = sockdiag_ssh_peers(NULL, &peers, &n_peers, d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_peers; i++) {
		const struct sockdiag_peer *p = &peers[i];
		/* An edge with a port only sees packets to or from that port. */
		if (e->port && e->port != p->lport && e->port != p->rport)
			continue;
		for (unsigned k = 0; k < e->n_prefixes; k++)
			if (edge_prefix_contains(&e->prefixes[k], p->family, &p->addr)) {
				inet_ntop(p->family, &p->addr, ret_peer, (socklen_t)n);
				return 1;
			}
	}
	return 0;
}

/* The guard rails of chaosd.conf: each refusal names the rule and where it is set. */
static int check_guard_rails(const struct config *c, const struct edge *e, const char *ifname,
		const struct fault *f, struct diag *d)
{
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
	if (f->kind == FAULT_PARTITION && !c->allow_ssh_partition) {
		int r = ssh_peer_in_edge(e, peer, sizeof(peer), d);
		if (r < 0)
			return diag_add(d, -EPERM, "edge '%s': cannot tell whether it holds the peer "
					"of an SSH session, so it is not partitioned (set "
					"allow_ssh_partition = yes in %s to allow)", e->name,
					c->path ? c->path : "the config");
		if (r > 0)
			return diag_add(d, -EPERM, "edge '%s' holds %s, the peer of an established "
					"SSH session on this host: partitioning it could cut off "
					"the operator (set allow_ssh_partition = yes in %s to "
					"allow)", e->name, peer, c->path ? c->path : "the config");
	}
	return 0;
}


int admit_fault(struct server *s, const char *edge_s, struct fault *f, const struct edge **ret_e,
		int *ret_ifindex, char ret_ifname[IF_NAMESIZE], struct diag *d)
{
	char edges[512], dur[32], maxdur[32], ifname[IF_NAMESIZE];
	const struct edge *e;
	int ifindex, r;

	if (s->degraded)
		return diag_add(d, -EROFS, "chaosd is degraded: %s; new faults are refused until "
				"its state can be written again (see 'chaosctl status')",
				s->degraded);
	r = killswitch_check(s->killswitch, edge_s, d);
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
	r = linkmon_resolve_ifindex(s->linkmon, e, &ifindex, d);
	if (r < 0)
		return r;
	linkmon_ifname(e, ifindex, ifname);
	r = check_guard_rails(s->config, e, ifname, f, d);
	if (r < 0)
		return r;
	*ret_e = e;
	*ret_ifindex = ifindex;
	memcpy(ret_ifname, ifname, IF_NAMESIZE);
	return 0;
}

void admit_adopt(struct server *s, const struct journal_fault *prev, unsigned n)
{
	uint64_t now = now_usec(CLOCK_REALTIME);

	for (unsigned i = 0; i < n; i++) {
		const struct journal_fault *jf = &prev[i];
		const struct edge *e = config_find_edge(s->config, jf->edge);
		struct active_fault *af;
		char ifname[IF_NAMESIZE], left[32];
		struct fault f = jf->fault;
		enum faults_adopt_no why;
		bool updated;
		struct diag d;
		int ifindex, r;

		diag_init(&d);
		if (!faults_adoptable(jf, now, &why)) {
			switch (why) {
			case FAULTS_ADOPT_UNCONFIRMED:
				log_notice("fault %" PRIu64 " on edge '%s' was being applied when "
						"chaosd stopped: it stays reverted", jf->id, jf->edge);
				break;
			case FAULTS_ADOPT_RUN_ENDED:
				log_notice("fault %" PRIu64 " on edge '%s' belonged to scenario run "
						"'%s', which ended when chaosd stopped: it stays "
						"reverted", jf->id, jf->edge, jf->run);
				audit_log(&(struct audit_event){ .action = "scenario-abort",
						.uid = jf->uid, .fault_id = jf->id, .edge = jf->edge,
						.fault = fault_kind_to_string(jf->fault.kind),
						.run = jf->run,
						.result = "its run ended when chaosd stopped" });
				break;
			case FAULTS_ADOPT_EXPIRED:
				log_notice("fault %" PRIu64 " on edge '%s' expired while chaosd was "
						"down: it stays reverted", jf->id, jf->edge);
				audit_log(&(struct audit_event){ .action = "expire", .uid = jf->uid,
						.fault_id = jf->id, .edge = jf->edge,
						.fault = fault_kind_to_string(jf->fault.kind),
						.result = "expired while chaosd was down" });
				break;
			}
			continue;
		}
		if (killswitch_check(s->killswitch, jf->edge, &d) < 0) {
			log_notice("fault %" PRIu64 " on edge '%s' stays reverted: %s", jf->id,
					jf->edge, diag_text(&d));
			continue;
		}
		r = e ? linkmon_resolve_ifindex(s->linkmon, e, &ifindex, &d) :
			diag_add(&d, -ENOENT, "edge '%s' is no longer configured", jf->edge);
		if (r >= 0) {
			linkmon_ifname(e, ifindex, ifname);
			r = check_guard_rails(s->config, e, ifname, &f, &d);
		}
		if (r >= 0)
			r = faults_apply(s->faults, e, ifindex, ifname, &f, jf->id,
					jf->deadline_realtime_usec, jf->uid, 0, NULL, &af, &updated,
					&d);
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

void admit_recheck(struct server *s)
{
	uint64_t now = now_usec(CLOCK_REALTIME);

	for (unsigned i = faults_count(s->faults); i-- > 0;) {
		struct active_fault *af = faults_at(s->faults, i);
		struct fault f;
		uint64_t id;
		struct diag d, rd;
		char why[1024];

		if (!af)
			continue;
		f = af->fault;
		/* What is left is what would be asked for now (max_partition_duration). */
		f.duration_usec = af->deadline_realtime_usec > now ?
			af->deadline_realtime_usec - now : 0;
		diag_init(&d);
		if (check_guard_rails(s->config, &af->edge, af->ifname, &f, &d) >= 0)
			continue;
		id = af->id;
		snprintf(why, sizeof(why), "%s", diag_text(&d));
		log_notice("reload: fault %" PRIu64 " on edge '%s' is now refused: %s; reverting it",
				id, af->edge.name, why);
		audit_log(&(struct audit_event){ .action = "reload-refused", .fault_id = id,
				.edge = af->edge.name, .fault = fault_kind_to_string(af->fault.kind),
				.result = why, .run = af->run[0] ? af->run : NULL });
		diag_init(&rd);
		if (faults_revert(s->faults, id, "reload", 0, 0, &rd) < 0)
			log_error("reload: revert of fault %" PRIu64 " failed: %s", id, diag_text(&rd));
	}
}
