/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "macro.h"
#include "parse.h"
#include "scenario-topology.h"

int scenario_hosts_parse(const char *value, struct scenario_hosts *ret, char *why, size_t n)
{
	struct scenario_hosts h = {};
	char buf[TOPOLOGY_MAX_HOSTS * (TOPOLOGY_NAME_MAX + 2)], *save = NULL;

	if (strlen(value) >= sizeof(buf)) {
		snprintf(why, n, "too long (allowed: up to %d host names)", TOPOLOGY_MAX_HOSTS);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		e = parse_strip(e);
		if (strlen(e) > TOPOLOGY_NAME_MAX || !edge_name_valid(e)) {
			snprintf(why, n, "'%.40s' is not a host name (allowed: edge names of at most "
					"%d characters, separated by commas, e.g. a, b, c)", e,
					TOPOLOGY_NAME_MAX);
			return -EINVAL;
		}
		for (unsigned i = 0; i < h.n; i++)
			if (streq(h.name[i], e)) {
				snprintf(why, n, "host '%s' is listed twice", e);
				return -EINVAL;
			}
		if (h.n == TOPOLOGY_MAX_HOSTS) {
			snprintf(why, n, "more than %d hosts", TOPOLOGY_MAX_HOSTS);
			return -EINVAL;
		}
		snprintf(h.name[h.n++], sizeof(h.name[0]), "%s", e);
	}
	if (h.n < 2) {
		snprintf(why, n, "a group needs at least two hosts (e.g. hosts = a, b, c)");
		return -EINVAL;
	}
	*ret = h;
	return 0;
}

int scenario_topology_step_key(struct scenario_step *st, const char *key, const char *value,
		char *why, size_t n)
{
	struct diag d;

	if (!streq(key, "topology"))
		return 0;
	diag_init(&d);
	if (strlen(value) >= sizeof(st->topology_text) ||
			topology_parse(value, &st->topology, &d) < 0) {
		snprintf(why, n, "%s", d.count ? diag_text(&d) : "too long");
		return -EINVAL;
	}
	snprintf(st->topology_text, sizeof(st->topology_text), "%s", value);
	st->has_topology = true;
	return 1;
}

static void host_names(const struct scenario_hosts *h, const char **names)
{
	for (unsigned i = 0; i < h->n; i++)
		names[i] = h->name[i];
}

int scenario_topology_check(const struct scenario *s, const struct scenario_step *st, char *why,
		size_t n)
{
	const char *names[TOPOLOGY_MAX_HOSTS];
	struct topology t;
	struct diag d;

	if (!st->has_topology)
		return 0;
	if (st->edge[0]) {
		snprintf(why, n, "'edge' and 'topology' exclude each other (topology: the peer "
				"edges are the hosts of [scenario] hosts)");
		return -EINVAL;
	}
	if (st->fault.kind != FAULT_PARTITION || st->ramp) {
		snprintf(why, n, "a topology step is a partition (fault = partition, no ramp)");
		return -EINVAL;
	}
	if (s->hosts.n == 0) {
		snprintf(why, n, "needs the group in [scenario] hosts (e.g. hosts = a, b, c)");
		return -EINVAL;
	}
	host_names(&s->hosts, names);
	diag_init(&d);
	if (topology_compute(&st->topology, names, s->hosts.n, 0, &t, &d) < 0) {
		snprintf(why, n, "%s (hosts from [scenario] hosts)", diag_text(&d));
		return -EINVAL;
	}
	return 0;
}

bool scenario_has_topology(const struct scenario *s)
{
	for (unsigned i = 0; i < s->n_steps; i++)
		if (s->steps[i].has_topology)
			return true;
	return false;
}

static int host_index(const struct scenario_hosts *h, const char *host)
{
	for (unsigned i = 0; i < h->n; i++)
		if (streq(h->name[i], host))
			return (int)i;
	return -ENOENT;
}

int scenario_topology_expand(struct scenario *s, const char *host, struct diag *d)
{
	const char *names[TOPOLOGY_MAX_HOSTS];
	struct scenario_step *steps, *st;
	unsigned n = 0, total = 0;
	int me;

	if (!scenario_has_topology(s))
		return 0;
	for (st = s->steps; !st->has_topology; st++)
		;
	if (!host || !*host)
		return diag_add(d, -EINVAL, "%s:%u: [step %s] topology = '%s': this host's name in "
				"the group is not known: run the scenario on the group with chaosctl "
				"-H NAME=URL,... (or give --host-name NAME, one of [scenario] hosts)",
				s->path, st->line, st->name, st->topology_text);
	host_names(&s->hosts, names);
	me = host_index(&s->hosts, host);
	if (me < 0)
		return diag_add(d, -EINVAL, "%s:%u: [step %s] topology = '%s': host '%.40s' is not "
				"in [scenario] hosts", s->path, st->line, st->name,
				st->topology_text, host);
	for (unsigned i = 0; i < s->n_steps; i++)
		total += s->steps[i].has_topology ? s->hosts.n : 1;
	if (total > SCENARIO_STEPS_MAX)
		return diag_add(d, -E2BIG, "%s: with one step per peer, more than %d steps",
				s->path, SCENARIO_STEPS_MAX);
	steps = calloc(MAX(total, 1u), sizeof(*steps));
	if (!steps)
		return -ENOMEM;
	for (unsigned i = 0; i < s->n_steps; i++) {
		const struct scenario_step *o = &s->steps[i];
		struct topology t;
		int r;

		if (!o->has_topology) {
			steps[n++] = *o;
			continue;
		}
		r = topology_compute(&o->topology, names, s->hosts.n, s->seed, &t, d);
		if (r < 0) {
			free(steps);
			return r;
		}
		/* Both directions of each cut: a partition on the peer's edge is two-way. */
		for (unsigned p = 0; p < s->hosts.n; p++) {
			struct scenario_step *c;

			if (!t.cut[me][p])
				continue;
			c = &steps[n++];
			*c = *o;
			snprintf(c->edge, sizeof(c->edge), "%s", names[p]);
			snprintf(c->timing.edges[0], sizeof(c->timing.edges[0]), "%s", names[p]);
			c->timing.n_edges = 1;
		}
	}
	/* The file's overlap check could not know which peers a topology cuts on this host. */
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < i; j++)
			if ((steps[i].has_topology || steps[j].has_topology) &&
					streq(steps[i].edge, steps[j].edge) &&
					steps[i].fault.kind == steps[j].fault.kind &&
					steps[j].at_usec < steps[i].end_usec &&
					steps[i].at_usec < steps[j].end_usec) {
				int r = diag_add(d, -EINVAL, "%s:%u: [step %s]: on host %s it "
						"overlaps step '%s' (line %u) on edge '%s': one fault of "
						"a kind per edge at a time", s->path, steps[i].line,
						steps[i].name, host, steps[j].name, steps[j].line,
						steps[i].edge);

				free(steps);
				return r;
			}
	free(s->steps);
	s->steps = steps;
	s->n_steps = n;
	return 0;
}
