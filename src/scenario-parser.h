/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Inside the scenario parser (src/scenario*.c only): its state while a file is read, its one
 * error path (scenario-parser.c), and the pieces it is made of, none of which calls up into
 * scenario.c. scenario.c reads sections and keys and checks the whole file;
 * scenario-keys.c is the key table and its value parsers; scenario-probe.c checks a probe
 * once its section is read; scenario-step.c turns a step's raw keys into its fault, ramp and
 * timing; scenario-timeline.c lays the steps out as actions. */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "scenario.h"

#define STEP_RAW_MAX   48
#define RAW_VALUE_MAX  256

enum section {
	SEC_NONE,
	SEC_SCENARIO,
	SEC_PROBE,
	SEC_STEP,
	SEC_BAD, /* reported; its keys are skipped */
};

struct raw_kv {
	char key[32];
	char value[RAW_VALUE_MAX];
	unsigned line;
};

struct step_state {
	struct raw_kv raw[STEP_RAW_MAX];
	unsigned n_raw;
	bool bad;
};

struct scenario_parser {
	const char *name;
	struct diag *d;
	unsigned errors;
	bool oom;

	unsigned lineno;

	enum section section;
	char section_text[96];
	unsigned section_line;
	uint64_t seen; /* keys of the current section, bit = index in scenario_keys */

	struct scenario *s;
	unsigned scenario_lines; /* [scenario] sections seen */
	unsigned scenario_key_line[32]; /* of the [scenario] keys that were set */
	struct step_state *steps; /* parallel to s->steps */
	unsigned cap_steps, cap_probes;
};

/* Every error of the parser: "FILE:LINE: [section] key = 'value': what is wrong". */
void scenario_parser_error(struct scenario_parser *p, unsigned line, const char *key,
		const char *value, const char *fmt, ...) _printf_(5, 6);
#define p_error scenario_parser_error

/* scenario-keys.c */
bool scenario_name_valid(const char *s);
/* Index in scenario_keys, -1: no such key in section. */
int scenario_key_index(const char *section, const char *key);
/* "a, b, c": the keys of section. */
char *scenario_keys_of(const char *section, char *buf, size_t n);
/* The table's defaults of section into base, when the section begins. */
int scenario_keys_set_defaults(struct scenario_parser *p, const char *section, void *base);

/* scenario-probe.c: the target and the keys that go with the probe's type; -EINVAL when type
 * or target is missing (reported). */
int scenario_probe_finish(struct scenario_parser *p, struct scenario_probe *pr);

/* scenario-step.c: step i's raw keys into its timing, fault and ramp. */
void scenario_step_finish(struct scenario_parser *p, unsigned i);
/* Set a numeric fault key to v (a ramp point). */
int scenario_fault_set_number(struct fault *f, const struct fault_key *k, double v,
		struct diag *d);
