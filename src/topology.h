/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Partition topologies over a group of hosts, as Jepsen's nemesis names them: which pairs of
 * hosts must stop talking to each other. Pure math, no I/O: chaosctl -H ... --topology turns
 * the result into partitions on each host (ctl/group.c). Cuts are symmetric: a cut pair is
 * partitioned in both directions on both hosts. The random choices (halves, bridge, ring) come
 * from a seed, so the same seed gives the same split (plan --seed N shows what inject --seed N
 * applies). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define TOPOLOGY_MAX_HOSTS 64
#define TOPOLOGY_NAME_MAX  32
#define TOPOLOGY_KINDS     "isolate:HOST, halves, majorities-ring, bridge:HOST"

enum topology_kind {
	TOPOLOGY_ISOLATE,         /* one host alone, the rest together */
	TOPOLOGY_HALVES,          /* a random minority (n/2 rounded down) and majority */
	TOPOLOGY_MAJORITIES_RING, /* every host sees a majority, no two hosts the same one */
	TOPOLOGY_BRIDGE,          /* two halves that only the bridge host reaches both of */
};

/* Each kind's name and what it does, for parsing, help and chaosctl(1). */
struct topology_kind_info {
	const char *name;
	const char *help;
};
extern const struct topology_kind_info topology_kinds[4];

struct topology_spec {
	enum topology_kind kind;
	char host[TOPOLOGY_NAME_MAX + 1]; /* isolate and bridge: the host named */
};

struct topology {
	unsigned n;
	bool cut[TOPOLOGY_MAX_HOSTS][TOPOLOGY_MAX_HOSTS]; /* symmetric, false on the diagonal */
};

/* "isolate:a", "halves", "majorities-ring", "bridge:b". -EINVAL with a diag naming the text
 * and what is allowed. */
int topology_parse(const char *s, struct topology_spec *ret, struct diag *d);
/* The cuts of SPEC over hosts NAMES[0..n-1]. -EINVAL: a named host not among them, or too few
 * hosts for the topology (isolate, halves: 2; bridge: 3; majorities-ring: 3). */
int topology_compute(const struct topology_spec *spec, const char *const *names, unsigned n,
		uint64_t seed, struct topology *ret, struct diag *d);
/* What the cuts T are, in words: "isolate:a (a | b c)", "halves (a | b c)", "bridge:b (a | c,
 * b reaches both)", "majorities-ring", "none" (no cuts), or "partial" (cuts that are none of
 * these, or one-sided: a host lost its half). An isolate of one host is also a halves of
 * three: it is named isolate. */
char *topology_describe(const struct topology *t, const char *const *names, char *buf, size_t n);
/* The number of hosts host i must cut. */
unsigned topology_cuts_of(const struct topology *t, unsigned i);
