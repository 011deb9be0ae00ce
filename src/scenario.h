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
#include "scenario-cond.h"
#include "scenario-model.h"

/* chaosctl sends a scenario as "file=PATH" and one "line=TEXT" field per line
 * (proto_put_lines). The most a file of SCENARIO_FILE_MAX bytes can cost is 6 bytes per byte
 * (all newlines, or all but a last one): every scenario within the documented limits fits
 * in one request, so no valid scenario is refused for its encoding. */
#define SCENARIO_REQUEST_MAX (6 * SCENARIO_FILE_MAX + 1 + sizeof("file=") + PATH_MAX)
_Static_assert(SCENARIO_REQUEST_MAX <= PROTO_MAX_REQUEST,
		"PROTO_MAX_REQUEST must hold a scenario of SCENARIO_FILE_MAX bytes");
_Static_assert(SCENARIO_FILE_MAX + 1 <= PROTO_MAX_FIELDS,
		"PROTO_MAX_FIELDS must hold a field per line of a scenario, and the file name");

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
