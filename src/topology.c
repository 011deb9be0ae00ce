/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "topology.h"

const struct topology_kind_info topology_kinds[4] = {
	[TOPOLOGY_ISOLATE] = { "isolate",
		"isolate:HOST: HOST alone, cut from every other host; the others together" },
	[TOPOLOGY_HALVES] = { "halves",
		"a random minority (half the hosts, rounded down) cut from the majority" },
	[TOPOLOGY_MAJORITIES_RING] = { "majorities-ring",
		"the hosts on a random ring, each reaching those nearest to it: every host sees a "
		"majority, no two the same one (with three hosts: one pair cut)" },
	[TOPOLOGY_BRIDGE] = { "bridge",
		"bridge:HOST: the other hosts split at random into two halves cut from each other; "
		"HOST reaches both" },
};

int topology_parse(const char *s, struct topology_spec *ret, struct diag *d)
{
	struct topology_spec t = {};
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	bool found = false;

	for (unsigned k = 0; k < ELEMENTSOF(topology_kinds); k++)
		if (strlen(topology_kinds[k].name) == n && strncmp(s, topology_kinds[k].name, n) == 0) {
			t.kind = k;
			found = true;
		}
	if (!found)
		return diag_add(d, -EINVAL, "topology '%s': unknown (allowed: %s)", s,
				TOPOLOGY_KINDS);
	if (t.kind == TOPOLOGY_ISOLATE || t.kind == TOPOLOGY_BRIDGE) {
		if (!colon || !colon[1])
			return diag_add(d, -EINVAL, "topology '%s': name the host (%s:HOST)", s,
					topology_kinds[t.kind].name);
		if (strlen(colon + 1) > TOPOLOGY_NAME_MAX)
			return diag_add(d, -EINVAL, "topology '%s': host name longer than %d", s,
					TOPOLOGY_NAME_MAX);
		snprintf(t.host, sizeof(t.host), "%s", colon + 1);
	} else if (colon)
		return diag_add(d, -EINVAL, "topology '%s': %s takes no host", s,
				topology_kinds[t.kind].name);
	*ret = t;
	return 0;
}

/* splitmix64: the same split from the same seed on every platform. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void shuffle(unsigned *v, unsigned n, uint64_t *state)
{
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)(next_random(state) % i), tmp = v[i - 1];
		v[i - 1] = v[j];
		v[j] = tmp;
	}
}

static int find_host(const char *const *names, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (streq(names[i], name))
			return (int)i;
	return -1;
}

/* Cut every pair in different groups; a host in group -1 (the bridge) reaches everyone. */
static void cut_groups(struct topology *t, const int *group)
{
	for (unsigned i = 0; i < t->n; i++)
		for (unsigned j = 0; j < t->n; j++)
			t->cut[i][j] = i != j && group[i] >= 0 && group[j] >= 0 &&
				       group[i] != group[j];
}

static unsigned ring_distance(unsigned a, unsigned b, unsigned n)
{
	unsigned d = a > b ? a - b : b - a;

	return MIN(d, n - d);
}

int topology_compute(const struct topology_spec *spec, const char *const *names, unsigned n,
		uint64_t seed, struct topology *ret, struct diag *d)
{
	static const unsigned min_hosts[] = {
		[TOPOLOGY_ISOLATE] = 2, [TOPOLOGY_HALVES] = 2,
		[TOPOLOGY_MAJORITIES_RING] = 3, [TOPOLOGY_BRIDGE] = 3,
	};
	unsigned order[TOPOLOGY_MAX_HOSTS], pos[TOPOLOGY_MAX_HOSTS], m = 0;
	int group[TOPOLOGY_MAX_HOSTS], named = -1;
	uint64_t state = seed;
	struct topology t = { .n = n };

	if (n > TOPOLOGY_MAX_HOSTS)
		return diag_add(d, -EINVAL, "%u hosts: at most %d", n, TOPOLOGY_MAX_HOSTS);
	if (n < min_hosts[spec->kind])
		return diag_add(d, -EINVAL, "topology %s needs at least %u hosts, not %u",
				topology_kinds[spec->kind].name, min_hosts[spec->kind], n);
	if (spec->kind == TOPOLOGY_ISOLATE || spec->kind == TOPOLOGY_BRIDGE) {
		named = find_host(names, n, spec->host);
		if (named < 0) {
			char list[512] = "";
			for (unsigned i = 0; i < n; i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
						i ? ", " : "", names[i]);
			return diag_add(d, -EINVAL, "topology %s:%s: no host '%s' (hosts: %s)",
					topology_kinds[spec->kind].name, spec->host, spec->host, list);
		}
	}
	for (unsigned i = 0; i < n; i++)
		if ((int)i != named)
			order[m++] = i;
	shuffle(order, m, &state);
	switch (spec->kind) {
	case TOPOLOGY_ISOLATE:
		for (unsigned i = 0; i < n; i++)
			group[i] = (int)i == named;
		cut_groups(&t, group);
		break;
	case TOPOLOGY_HALVES:
	case TOPOLOGY_BRIDGE:
		/* the first half of the shuffled hosts (rounded down) against the rest */
		for (unsigned k = 0; k < m; k++)
			group[order[k]] = k < m / 2 ? 0 : 1;
		if (named >= 0)
			group[named] = -1;
		cut_groups(&t, group);
		break;
	case TOPOLOGY_MAJORITIES_RING:
		if (n == 3) {
			/* Both directions cut: a 3-ring whose hosts see one neighbour each way is
			 * everyone, so one pair is cut (views {a,c}, {b,c}, {a,b,c}). */
			t.cut[order[0]][order[1]] = t.cut[order[1]][order[0]] = true;
			break;
		}
		/* Hosts on a shuffled ring see those within k places: 2k+1 is a majority, and
		 * below n, so no two views are the same. */
		for (unsigned k = 0; k < n; k++)
			pos[order[k]] = k;
		for (unsigned i = 0; i < n; i++)
			for (unsigned j = 0; j < n; j++)
				t.cut[i][j] = ring_distance(pos[i], pos[j], n) > (n / 2 + 1) / 2;
		break;
	}
	*ret = t;
	return 0;
}

unsigned topology_cuts_of(const struct topology *t, unsigned i)
{
	unsigned c = 0;

	for (unsigned j = 0; j < t->n; j++)
		c += t->cut[i][j];
	return c;
}

/* Classes of "not cut" among the hosts with skip[i] false, if it is an equivalence relation:
 * their number, else 0. */
static unsigned classes(const struct topology *t, const bool *skip, int *cls)
{
	unsigned nc = 0;

	for (unsigned i = 0; i < t->n; i++)
		cls[i] = -1;
	for (unsigned i = 0; i < t->n; i++) {
		if (skip[i] || cls[i] >= 0)
			continue;
		for (unsigned j = i; j < t->n; j++)
			if (!skip[j] && !t->cut[i][j]) {
				if (cls[j] >= 0)
					return 0;
				cls[j] = (int)nc;
			}
		nc++;
	}
	for (unsigned i = 0; i < t->n; i++)
		for (unsigned j = 0; j < t->n; j++)
			if (!skip[i] && !skip[j] && t->cut[i][j] != (cls[i] != cls[j]))
				return 0;
	return nc;
}

static _printf_(3, 4) void put(char *buf, size_t n, const char *fmt, ...)
{
	size_t l = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	if (l < n)
		vsnprintf(buf + l, n - l, fmt, ap);
	va_end(ap);
}

static void put_classes(char *buf, size_t n, const char *const *names, const int *cls,
		unsigned nc, unsigned hosts)
{
	put(buf, n, "%s", " (");
	for (int c = 0; c < (int)nc; c++) {
		bool first = true;
		if (c)
			put(buf, n, "%s", " |");
		for (unsigned i = 0; i < hosts; i++)
			if (cls[i] == c) {
				put(buf, n, "%s%s", first && !c ? "" : " ", names[i]);
				first = false;
			}
	}
}

static bool is_majorities_ring(const struct topology *t)
{
	for (unsigned i = 0; i < t->n; i++) {
		if (t->n - topology_cuts_of(t, i) <= t->n / 2)
			return false;
		/* a host's view is the row of its cuts negated */
		for (unsigned j = i + 1; j < t->n; j++)
			if (!memcmp(t->cut[i], t->cut[j], t->n * sizeof(bool)))
				return false;
	}
	return true;
}

char *topology_describe(const struct topology *t, const char *const *names, char *buf, size_t n)
{
	bool skip[TOPOLOGY_MAX_HOSTS] = {}, any = false;
	int cls[TOPOLOGY_MAX_HOSTS];
	unsigned nc;

	buf[0] = '\0';
	for (unsigned i = 0; i < t->n; i++)
		for (unsigned j = 0; j < t->n; j++) {
			any |= t->cut[i][j];
			if (t->cut[i][j] != t->cut[j][i] || (i == j && t->cut[i][j]))
				return snprintf(buf, n, "partial"), buf;
		}
	if (!any)
		return snprintf(buf, n, "none"), buf;
	nc = classes(t, skip, cls);
	if (nc == 2) {
		unsigned size0 = 0;
		for (unsigned i = 0; i < t->n; i++)
			size0 += cls[i] == 0;
		for (unsigned i = 0; i < t->n; i++)
			if (topology_cuts_of(t, i) == t->n - 1) {
				put(buf, n, "isolate:%s", names[i]);
				put_classes(buf, n, names, cls, nc, t->n);
				return put(buf, n, "%s", ")"), buf;
			}
		put(buf, n, "%s", size0 == t->n / 2 || size0 == (t->n + 1) / 2 ? "halves" : "split");
	} else if (nc > 2)
		put(buf, n, "%s", "split");
	if (nc >= 2) {
		put_classes(buf, n, names, cls, nc, t->n);
		return put(buf, n, "%s", ")"), buf;
	}
	for (unsigned b = 0; b < t->n; b++) {
		if (topology_cuts_of(t, b) != 0)
			continue;
		skip[b] = true;
		if (classes(t, skip, cls) == 2) {
			put(buf, n, "bridge:%s", names[b]);
			put_classes(buf, n, names, cls, 2, t->n);
			put(buf, n, ", %s reaches both)", names[b]);
			return buf;
		}
		skip[b] = false;
	}
	snprintf(buf, n, "%s", is_majorities_ring(t) ? "majorities-ring" : "partial");
	return buf;
}
