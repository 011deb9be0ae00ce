/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "macro.h"
#include "parse.h"
#include "steps.h"
#include "timeutil.h"
#include "verdict.h"

/* A step's life in a run: start_when steps wait, until steps may end early. */
enum step_state {
	STEP_PENDING,
	STEP_WAITING,   /* start_when: from 'at' until start_within */
	STEP_TRIGGERED, /* start_when held: its actions were moved to now */
	STEP_ON,
	STEP_DONE,
	STEP_SKIPPED,
};

struct step_run {
	enum step_state state;
	uint64_t placed_usec; /* method time its first action is at */
	bool hit; /* start_when or until held, acted on by the timer (not under the probe) */
	char why[REPORT_TEXT_MAX + 1];
};

static uint64_t now_of(struct steps *s)
{
	return s->hooks.now(s->hooks.userdata);
}

int steps_init(struct steps *s, const struct scenario *sc, struct report *rep,
		const struct steps_hooks *hooks)
{
	int k;

	s->sc = sc;
	s->report = rep;
	s->hooks = *hooks;
	k = scenario_timeline(sc, &s->actions, &s->n_actions);
	if (k < 0)
		return k;
	/* MAX(.., 1): a host that a topology step cuts from nobody runs with no step at all. */
	s->runs = calloc(MAX(sc->n_steps, 1u), sizeof(*s->runs));
	if (!s->runs)
		return -ENOMEM;
	for (unsigned i = 0; i < sc->n_steps; i++) {
		const struct scenario_step *st = &sc->steps[i];
		struct report_step *rs = &rep->steps[i];

		s->runs[i].placed_usec = st->at_usec;
		snprintf(rs->name, sizeof(rs->name), "%s", st->name);
		snprintf(rs->edge, sizeof(rs->edge), "%s", st->edge);
		snprintf(rs->trigger, sizeof(rs->trigger), "%s", st->timing.trigger);
		if (st->timing.skipped) {
			s->runs[i].state = STEP_SKIPPED;
			snprintf(rs->end_reason, sizeof(rs->end_reason), "%s", st->timing.trigger);
		}
	}
	return 0;
}

void steps_done(struct steps *s)
{
	free(s->actions);
	free(s->runs);
	s->actions = NULL;
	s->runs = NULL;
}

uint64_t steps_begin(struct steps *s, uint64_t mono)
{
	s->method_mono = mono;
	s->next = 0;
	return s->method_mono + (s->n_actions ? s->actions[0].at_usec : 0);
}

/* Place a step's pending actions so that its first is at method time at. */
static void move_step(struct steps *s, unsigned step, uint64_t at)
{
	struct step_run *sr = &s->runs[step];

	for (unsigned i = s->next; i < s->n_actions; i++)
		if (s->actions[i].step == step)
			s->actions[i].at_usec = s->actions[i].at_usec - sr->placed_usec + at;
	sr->placed_usec = at;
	scenario_actions_sort(s->actions + s->next, s->n_actions - s->next);
}

static void step_ended(struct steps *s, unsigned step, const char *fmt, ...) _printf_(3, 4);
static void step_ended(struct steps *s, unsigned step, const char *fmt, ...)
{
	struct report_step *rs = &s->report->steps[step];
	va_list ap;

	s->runs[step].state = STEP_DONE;
	rs->end_usec = now_of(s);
	va_start(ap, fmt);
	vsnprintf(rs->end_reason, sizeof(rs->end_reason), fmt, ap);
	va_end(ap);
	/* what watch shows: each step's end and why */
	report_event_add(s->report, rs->end_usec, "step", rs->name, rs->edge, NULL,
			"step %s ended by %s", rs->name, rs->end_reason);
}

/* The first action of a start_when step, just taken by the loop: at 'at' the step starts to
 * wait (its actions move to the deadline); reached again at the deadline, the condition
 * never held: skipped. True when a is not to be applied. */
static bool step_waits(struct steps *s, const struct scenario_action *a)
{
	const struct scenario_step *st = &s->sc->steps[a->step];
	struct step_run *sr = &s->runs[a->step];
	struct report_step *rs = &s->report->steps[a->step];
	char cond[128], w[32];

	if (a->type != SCENARIO_APPLY || a->point || !st->timing.start_when.set)
		return false;
	scenario_cond_format(&st->timing.start_when, cond, sizeof(cond));
	parse_format_duration(st->timing.within_usec, w, sizeof(w));
	if (sr->state == STEP_PENDING) {
		sr->state = STEP_WAITING;
		report_event_add(s->report, now_of(s), "wait", st->name, st->edge,
				fault_kind_to_string(st->fault.kind),
				"step %s: waiting up to %s for %s %s", st->name, w,
				st->timing.start_when_on, cond);
		/* the loop has taken a already: put it back, to move with the rest */
		s->next--;
		move_step(s, a->step, st->at_usec + st->timing.within_usec);
		return true;
	}
	if (sr->state != STEP_WAITING)
		return false;
	s->runs[a->step].state = STEP_SKIPPED;
	snprintf(rs->end_reason, sizeof(rs->end_reason),
			"skipped: start_when %.40s %.120s did not hold within %.30s",
			st->timing.start_when_on, cond, w);
	report_event_add(s->report, now_of(s), "skip", st->name, st->edge,
			fault_kind_to_string(st->fault.kind), "step %s %s", st->name,
			rs->end_reason);
	return true;
}

void steps_applied(struct steps *s, const struct scenario_action *a)
{
	const struct scenario_step *st = &s->sc->steps[a->step];
	char d[32];

	if (a->type == SCENARIO_APPLY && a->point == 0) {
		s->runs[a->step].state = STEP_ON;
		s->report->steps[a->step].start_usec = now_of(s);
		report_event_add(s->report, now_of(s), "step", st->name, st->edge, NULL,
				"step %s started (%s)", st->name, st->timing.trigger);
	} else if (a->type == SCENARIO_REVERT) {
		if (!st->timing.span_usec)
			step_ended(s, a->step, "the method's end");
		else
			step_ended(s, a->step, "%s %s%s", st->has_for ? "for" : "the ramp's end",
					parse_format_duration(st->timing.span_usec, d, sizeof(d)),
					st->timing.until.set ? " (until did not hold)" : "");
	}
}

enum steps_next steps_next(struct steps *s, const struct scenario_action **ret_action,
		uint64_t *ret_at)
{
	while (s->next < s->n_actions) {
		const struct scenario_action *a = &s->actions[s->next];

		if (s->runs[a->step].state >= STEP_DONE) {
			s->next++; /* ended by until, or skipped */
			continue;
		}
		if (s->method_mono + a->at_usec > now_usec(CLOCK_MONOTONIC) + USEC_PER_MSEC) {
			*ret_at = s->method_mono + a->at_usec;
			return STEPS_LATER;
		}
		s->next++;
		/* Late (a slow kernel, a stalled host): a ramp point already followed by a due
		 * later point of the same step is skipped, not flashed. */
		if (a->type == SCENARIO_APPLY && s->next < s->n_actions &&
				s->actions[s->next].type == SCENARIO_APPLY &&
				s->actions[s->next].step == a->step &&
				s->method_mono + s->actions[s->next].at_usec <=
						now_usec(CLOCK_MONOTONIC)) {
			report_event_add(s->report, now_of(s), "info", NULL, NULL, NULL,
					"step %s: ramp point %u skipped, the run is late",
					s->sc->steps[a->step].name, a->point + 1);
			continue;
		}
		if (step_waits(s, a))
			continue;
		*ret_action = a;
		return STEPS_APPLY;
	}
	return STEPS_END;
}

/* What the probes saw since the last timer: start a waiting step, end an until step. */
void steps_act(struct steps *s)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC) - s->method_mono;

	for (unsigned i = 0; i < s->sc->n_steps; i++) {
		const struct scenario_step *st = &s->sc->steps[i];
		struct step_run *sr = &s->runs[i];

		if (!sr->hit)
			continue;
		sr->hit = false;
		if (sr->state == STEP_WAITING) {
			sr->state = STEP_TRIGGERED;
			report_event_add(s->report, now_of(s), "trigger", st->name, st->edge,
					fault_kind_to_string(st->fault.kind), "step %s: start_when "
					"held: %s", st->name, sr->why);
			move_step(s, i, now);
		} else if (sr->state == STEP_ON) {
			s->hooks.revert(s->hooks.userdata, i, "scenario-until");
			step_ended(s, i, "until: %s", sr->why);
		}
	}
}

void steps_close(struct steps *s, enum report_outcome outcome)
{
	for (unsigned i = 0; i < s->sc->n_steps; i++) {
		struct report_step *rs = &s->report->steps[i];

		if (rs->start_usec != UINT64_MAX && rs->end_usec == UINT64_MAX)
			step_ended(s, i, "%s", outcome == REPORT_ABORTED ? "the run's abort" :
					"the run's end");
		else if (rs->start_usec == UINT64_MAX && !rs->end_reason[0])
			snprintf(rs->end_reason, sizeof(rs->end_reason),
					"not started: the run ended first");
		if (rs->end_usec != UINT64_MAX)
			rs->recovery_usec = verdict_recovery(s->sc, s->report, rs->end_usec);
	}
}

/* start_when and until are looked at with each sample of their probe; what they start or
 * end is done by the timer, out of the probe's callback. */
void steps_on_probe(struct steps *s, unsigned index)
{
	bool any = false;

	for (unsigned i = 0; i < s->sc->n_steps; i++) {
		const struct scenario_timing *t = &s->sc->steps[i].timing;
		struct step_run *sr = &s->runs[i];

		if (sr->hit)
			continue;
		if (sr->state == STEP_WAITING && t->start_when.set && t->start_when_probe == index)
			sr->hit = verdict_cond_met(s->sc, s->report, index, &t->start_when, 0,
					now_of(s), "start_when", sr->why, sizeof(sr->why));
		else if (sr->state == STEP_ON && t->until.set && t->until_probe == index)
			sr->hit = verdict_cond_met(s->sc, s->report, index, &t->until,
					s->report->steps[i].start_usec, now_of(s), "until",
					sr->why, sizeof(sr->why));
		any |= sr->hit;
	}
	if (any)
		s->hooks.wake(s->hooks.userdata);
}
