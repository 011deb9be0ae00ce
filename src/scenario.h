/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GameDay scenario files: a steady-state hypothesis checked by probes, a timeline of fault
 * steps (with ramps), abort conditions and a hard deadline. INI read by src/ini.c. Every key is
 * described once in scenario_keys (plus fault_keys for the fault of a step), which drives the
 * parser, chaosctl's help and the chaosd.scenario(5) man page.
 *
 * Parsing never half succeeds: either a whole scenario is returned or every error found is in
 * the diag, each as "FILE:LINE: [section] key = 'value': what is wrong (what is allowed)".
 * Checks against a daemon's configuration (edge names, limits) are the daemon's. */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "edge.h"
#include "fault.h"
#include "proto.h"

#define SCENARIO_NAME_MAX   63
#define SCENARIO_TARGET_MAX 511
#define SCENARIO_FILE_MAX   (256 * 1024)
#define SCENARIO_STEPS_MAX  1000
#define SCENARIO_PROBES_MAX 16
#define SCENARIO_RAMP_MAX   100 /* points of one ramp */

/* chaosctl sends a scenario as "file=PATH" and one "line=TEXT" field per line
 * (proto_put_lines). The most a file of SCENARIO_FILE_MAX bytes can cost is 6 bytes per byte
 * (all newlines, or all but a last one): every scenario within the documented limits fits
 * in one request, so no valid scenario is refused for its encoding. */
#define SCENARIO_REQUEST_MAX (6 * SCENARIO_FILE_MAX + 1 + sizeof("file=") + PATH_MAX)
_Static_assert(SCENARIO_REQUEST_MAX <= PROTO_MAX_REQUEST,
		"PROTO_MAX_REQUEST must hold a scenario of SCENARIO_FILE_MAX bytes");
_Static_assert(SCENARIO_FILE_MAX + 1 <= PROTO_MAX_FIELDS,
		"PROTO_MAX_FIELDS must hold a field per line of a scenario, and the file name");

enum scenario_probe_type {
	SCENARIO_PROBE_HTTP, /* GET, expect a status; latency = time to the status line */
	SCENARIO_PROBE_TCP,  /* connect; latency = connect time */
	SCENARIO_PROBE_EXEC, /* /bin/sh -c; success = exit status 0 */
};

enum scenario_metric {
	SCENARIO_SUCCESS_RATE, /* percent of probes that succeeded */
	SCENARIO_FAILURE_RATE,
	SCENARIO_P50, /* latency percentiles, microseconds */
	SCENARIO_P95,
	SCENARIO_P99,
	_SCENARIO_METRIC_MAX,
};

enum scenario_op {
	SCENARIO_LT,
	SCENARIO_LE,
	SCENARIO_GT,
	SCENARIO_GE,
};

/* "failure_rate > 10% over 10s", "p99 > 5s over 30s" */
struct scenario_cond {
	bool set;
	enum scenario_metric metric;
	enum scenario_op op;
	double threshold; /* percent, or microseconds for latency */
	uint64_t window_usec;
	unsigned line;
};

struct scenario_probe {
	char name[SCENARIO_NAME_MAX + 1];
	enum scenario_probe_type type;
	char target[SCENARIO_TARGET_MAX + 1];
	uint64_t interval_usec;
	uint64_t timeout_usec;
	unsigned expect_status;
	struct scenario_cond abort_when;
	struct scenario_cond steady_state;
	unsigned line;

	/* http and tcp: the parsed target */
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

	struct scenario_probe *probes;
	unsigned n_probes;
	struct scenario_step *steps;
	unsigned n_steps;
};

struct scenario_parser;
struct scenario_key;
/* Parse value into field (at offset in struct scenario for [scenario], struct scenario_probe for
 * [probe NAME]); report what is wrong through the parser; field is written only on success. */
typedef int (*scenario_parse_fn)(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field);

/* One line per key: name, parser, where it is stored, its range and its default. */
struct scenario_key {
	const char *section; /* "scenario", "probe NAME", "step NAME" */
	const char *name;
	const char *metavar;
	scenario_parse_fn parse; /* NULL: a step key, read with the fault keys once the step
				  * is complete (keys come in any order) */
	size_t offset;
	uint64_t min, max;   /* durations in usec, numbers; max 0: no range */
	bool derived;        /* default_value says how the default is worked out, at the end */
	const char *default_value; /* parsed by .parse before the section; NULL: none or required */
	const char *help;
};

extern const struct scenario_key scenario_keys[];
extern const unsigned scenario_n_keys;

int scenario_load(const char *path, struct scenario **ret, struct diag *d);
int scenario_load_string(const char *text, size_t len, const char *name, struct scenario **ret,
		struct diag *d);
struct scenario *scenario_free(struct scenario *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct scenario *, scenario_free);

const char *scenario_probe_type_to_string(enum scenario_probe_type t);
const char *scenario_metric_to_string(enum scenario_metric m);
const char *scenario_op_to_string(enum scenario_op op);
/* "METRIC OP VALUE [over TIME]"; why says what is wrong. */
int scenario_cond_parse(const char *text, struct scenario_cond *ret, char *why, size_t n);
/* "failure_rate > 10% over 10s" */
char *scenario_cond_format(const struct scenario_cond *c, char *buf, size_t n);
/* Does a measured value meet the condition? */
bool scenario_cond_holds(const struct scenario_cond *c, double value);

/* The resolved timeline: every kernel change a run makes, in order. Reverts at an instant come
 * before applies at the same instant, so a step may follow another on the same edge. */
enum scenario_action_type {
	SCENARIO_APPLY,  /* apply the step's fault, or change it in place (a ramp point) */
	SCENARIO_REVERT, /* the step ends */
};

struct scenario_action {
	uint64_t at_usec; /* from the start of the method */
	enum scenario_action_type type;
	unsigned step; /* index into steps */
	unsigned point; /* ramp point, 0 for plain steps */
	struct fault fault; /* the values to apply */
};

int scenario_timeline(const struct scenario *s, struct scenario_action **ret, unsigned *ret_n);
/* In timeline order (after the runner moves a conditional step's actions). */
void scenario_actions_sort(struct scenario_action *a, unsigned n);
/* The fault a step applies at its largest (for limits): a ramp's larger end. */
int scenario_step_peak(const struct scenario_step *st, struct fault *ret);
