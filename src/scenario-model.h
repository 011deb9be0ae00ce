/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a parsed scenario is (src/scenario.c reads it, src/schedule.c times its steps, the
 * runner runs it): its probes, its steps and their timing. */

#include <stdbool.h>
#include <stdint.h>

#include "edge.h"
#include "fault.h"
#include "scenario-cond.h"
#include "topology.h"

#define SCENARIO_NAME_MAX   63
#define SCENARIO_TARGET_MAX 511
#define SCENARIO_FILE_MAX   (256 * 1024)
#define SCENARIO_STEPS_MAX  1000
#define SCENARIO_PROBES_MAX 16
#define SCENARIO_RAMP_MAX   100 /* points of one ramp */
#define SCENARIO_BODY_MAX   255 /* expect_body */

enum scenario_probe_type {
	SCENARIO_PROBE_HTTP, /* GET over http or https, expect a status (and a body); latency =
			      * time to the response's first byte */
	SCENARIO_PROBE_TCP,  /* connect; latency = connect time */
	SCENARIO_PROBE_EXEC, /* /bin/sh -c; success = exit status 0 */
	SCENARIO_PROBE_PROMETHEUS, /* an instant query; its value is the sample's value */
	_SCENARIO_PROBE_TYPE_MAX,
};

/* The name of a probe type in files, plans, reports and JSON; here, not in scenario.c, so the
 * modules the parser calls (schedule.c) can name a probe's type without calling back up. */
static inline const char *scenario_probe_type_to_string(enum scenario_probe_type t)
{
	static const char *const names[_SCENARIO_PROBE_TYPE_MAX] = { "http", "tcp", "exec",
								     "prometheus" };

	return (unsigned)t < _SCENARIO_PROBE_TYPE_MAX ? names[t] : "?";
}

struct scenario_probe {
	char name[SCENARIO_NAME_MAX + 1];
	enum scenario_probe_type type;
	char target[SCENARIO_TARGET_MAX + 1];
	uint64_t interval_usec;
	uint64_t timeout_usec;
	unsigned expect_status[2]; /* the range that counts as success, inclusive */
	char expect_body[SCENARIO_BODY_MAX + 1]; /* "": any body */
	char ca_file[SCENARIO_TARGET_MAX + 1];   /* "": the system's CAs */
	bool tls_verify;
	bool follow_redirects;
	char query[SCENARIO_TARGET_MAX + 1]; /* prometheus: PromQL */
	struct scenario_cond abort_when;
	struct scenario_cond steady_state;
	unsigned line;

	/* http, prometheus and tcp: the parsed target */
	bool tls;     /* https:// */
	bool by_name; /* a DNS name, left to libcurl's threaded resolver */
	int family;
	uint8_t addr[16];
	uint16_t port;
	char host[SCENARIO_NAME_MAX + 1]; /* Host: header */
	char path[SCENARIO_TARGET_MAX + 1];
};

#define SCENARIO_EDGES_MAX 16 /* of edge = random(...) */

/* When a step starts and what ends it, beyond a fixed at and for (src/schedule.c). Random
 * choices are made once per run from the scenario's seed (schedule_resolve). */
struct scenario_timing {
	uint64_t at_lo_usec, at_hi_usec; /* at = random LO..HI; equal for a fixed at */
	double chance;                   /* percent per try, 0: none */
	uint64_t every_usec;             /* between two tries of chance */
	uint64_t within_usec;            /* start_within: tries and waiting end at + this */
	struct scenario_cond start_when, until;
	char start_when_on[SCENARIO_NAME_MAX + 1], until_on[SCENARIO_NAME_MAX + 1]; /* probes */
	unsigned start_when_probe, until_probe; /* their index into probes */
	unsigned n_edges;                       /* > 1: edge = random(...) */
	char edges[SCENARIO_EDGES_MAX][EDGE_NAME_MAX + 1];
	uint64_t span_usec; /* for, or the ramp's over; 0: until the method ends */

	/* resolved from the seed */
	bool skipped;  /* no chance try hit within start_within */
	unsigned tries; /* of chance, up to the hit */
	char trigger[160];
};

struct scenario_step {
	char name[SCENARIO_NAME_MAX + 1]; /* the text after [step ...] */
	unsigned line;
	uint64_t at_usec;
	uint64_t end_usec; /* resolved: at + for, at + ramp duration, or the end of the method */
	char edge[EDGE_NAME_MAX + 1];
	struct fault fault;
	bool has_for;
	bool require_traffic; /* the run fails if the step's fault matched no packet */

	/* ramp = FROM..TO over D in N steps: N values of ramp_key, evenly spaced over D */
	bool ramp;
	unsigned ramp_key; /* index into fault_keys */
	double ramp_from, ramp_to;
	uint64_t ramp_over_usec;
	unsigned ramp_points;

	struct scenario_timing timing;

	/* topology = SPEC instead of edge: a partition on every peer edge this host must cut
	 * (src/scenario-topology.c turns it into one step per peer once the host is known) */
	bool has_topology;
	struct topology_spec topology;
	char topology_text[TOPOLOGY_NAME_MAX + 24];
};

/* [scenario] hosts = a, b, c: the group a topology step is computed over; each name is also
 * the edge the other hosts have for that host. */
struct scenario_hosts {
	unsigned n;
	char name[TOPOLOGY_MAX_HOSTS][TOPOLOGY_NAME_MAX + 1];
};

struct scenario {
	char *path;
	char name[SCENARIO_NAME_MAX + 1];
	char *description;
	uint64_t max_duration_usec;
	uint64_t steady_state_usec; /* length of each steady-state phase */
	uint64_t lease_usec;        /* 0: runs until done even if nobody watches */
	bool allow_overlap;         /* several faults (of different kinds) on one edge at once */
	uint64_t method_usec;       /* resolved: when the last step ends */
	uint64_t seed;              /* of every random choice; from the file, chosen or given */
	struct scenario_hosts hosts;

	struct scenario_probe *probes;
	unsigned n_probes;
	struct scenario_step *steps;
	unsigned n_steps;
};
