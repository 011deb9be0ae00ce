/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A run's steps on the method's timeline: its actions in time order, start_when steps that wait
 * for their condition (their actions move with it), until steps that end early, ramp points
 * passed over when the run is late, and each step's record in the report (start, end and why,
 * recovery). The faults are the run's: steps asks for a step's revert through its hooks, and
 * what a probe's sample starts or ends is done from the run's timer (steps_act). */

#include <stdint.h>

#include "report.h"
#include "scenario.h"

struct steps_hooks {
	void *userdata;
	/* The run's time (since it started): the report's clock. */
	uint64_t (*now)(void *userdata);
	/* Revert step's fault: its until held. */
	void (*revert)(void *userdata, unsigned step, const char *why);
	/* A condition held under a probe: call steps_act from the timer, now. */
	void (*wake)(void *userdata);
};

struct step_run;

struct steps {
	const struct scenario *sc;
	struct report *report;
	struct steps_hooks hooks;
	struct scenario_action *actions; /* the timeline, sorted; next is the first not taken */
	unsigned n_actions, next;
	uint64_t method_mono;
	struct step_run *runs; /* per step */
};

/* What steps_next found. */
enum steps_next {
	STEPS_END,   /* no action left */
	STEPS_LATER, /* the next one is due at *ret_at (CLOCK_MONOTONIC) */
	STEPS_APPLY, /* apply *ret_action now, then steps_applied */
};

/* sc's timeline; rep's step records named. Free with steps_done even on failure. */
int steps_init(struct steps *s, const struct scenario *sc, struct report *rep,
		const struct steps_hooks *hooks);
void steps_done(struct steps *s);
/* The method starts at mono (CLOCK_MONOTONIC): returns when its first action is due. */
uint64_t steps_begin(struct steps *s, uint64_t mono);
/* What the probes saw since the last call: start a waiting step, end an until step. */
void steps_act(struct steps *s);
enum steps_next steps_next(struct steps *s, const struct scenario_action **ret_action,
		uint64_t *ret_at);
void steps_applied(struct steps *s, const struct scenario_action *a);
/* A method sample of probe index: start_when and until are looked at here. */
void steps_on_probe(struct steps *s, unsigned index);
/* The run ended: each step's end (or why it never started) and recovery. */
void steps_close(struct steps *s, enum report_outcome outcome);
