/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "parse.h"
#include "plan.h"
#include "probe.h"
#include "reportsrv.h"
#include "runner.h"
#include "steps.h"
#include "timeutil.h"
#include "verdict.h"

#define FINISHED_KEEP 16 /* finished runs kept in memory for watch */
#define WATCH_EVENTS_MAX 2000

struct run {
	struct runner *runner;
	char id[REPORT_ID_MAX + 1];
	struct scenario *sc;
	struct report *report;
	uid_t uid;
	pid_t pid;
	bool finished, aborting;
	enum report_phase phase;
	uint64_t start_mono, phase_mono;

	struct steps steps;
	uint64_t *step_fault; /* per step: the active fault's id, 0 none */
	int *step_band;

	struct probe **probes;
	sd_event_source *timer;    /* next action or phase end */
	sd_event_source *deadline; /* max_duration */
	sd_event_source *lease;
	sd_event_source *defer;    /* abort out of a callback */
	char defer_reason[REPORT_TEXT_MAX + 1];
	/* a step with require_traffic = yes whose fault matched nothing: the run fails */
	char traffic_reason[REPORT_TEXT_MAX + 1];
	struct run *next;
};

struct runner {
	struct runner_hooks hooks;
	sd_event *event;
	char *reports_dir;
	unsigned max_running, keep_reports;
	struct run *runs; /* newest first */
	uint64_t ended[REPORT_ABORTED + 1];
};

static uint64_t run_t(const struct run *run)
{
	return now_usec(CLOCK_MONOTONIC) - run->start_mono;
}

int runner_new(const struct runner_hooks *hooks, sd_event *event, const char *reports_dir,
		struct runner **ret)
{
	struct runner *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->reports_dir = strdup(reports_dir);
	if (!r->reports_dir) {
		free(r);
		return -ENOMEM;
	}
	r->hooks = *hooks;
	r->event = event;
	r->max_running = 1;
	r->keep_reports = 50;
	*ret = r;
	return 0;
}

void runner_set_limits(struct runner *r, unsigned max_running, unsigned keep_reports)
{
	r->max_running = MAX(max_running, 1u);
	r->keep_reports = MAX(keep_reports, 1u);
}

static void run_free(struct run *run)
{
	if (!run)
		return;
	for (unsigned i = 0; run->probes && i < run->sc->n_probes; i++)
		probe_free(run->probes[i]);
	free(run->probes);
	sd_event_source_disable_unref(run->timer);
	sd_event_source_disable_unref(run->deadline);
	sd_event_source_disable_unref(run->lease);
	sd_event_source_disable_unref(run->defer);
	steps_done(&run->steps);
	free(run->step_fault);
	free(run->step_band);
	report_free(run->report);
	scenario_free(run->sc);
	free(run);
}

unsigned runner_n_running(const struct runner *r)
{
	unsigned n = 0;

	for (const struct run *x = r ? r->runs : NULL; x; x = x->next)
		n += !x->finished;
	return n;
}

unsigned runner_metrics(const struct runner *r, uint64_t ret_ended[REPORT_ABORTED + 1],
		const struct report **ret_running, unsigned max)
{
	unsigned n = 0;

	memset(ret_ended, 0, sizeof(r->ended));
	if (!r)
		return 0;
	memcpy(ret_ended, r->ended, sizeof(r->ended));
	for (const struct run *x = r->runs; x; x = x->next)
		if (!x->finished && n < max)
			ret_running[n++] = x->report;
	return n;
}

static struct run *find_run(struct runner *r, const char *id)
{
	for (struct run *x = r->runs; x; x = x->next)
		if (!id || streq(x->id, id))
			return x;
	return NULL;
}

/* ------------------------------------------------------------------ checks and plan */

int runner_check(struct runner *r, const struct scenario *sc, uid_t uid, struct diag *d)
{
	unsigned errors = d ? d->count : 0;

	for (unsigned i = 0; i < sc->n_probes; i++)
		if (sc->probes[i].type == SCENARIO_PROBE_EXEC && uid != 0)
			diag_add(d, -EPERM, "%s:%u: [probe %s]: exec probes run commands as chaosd's "
					"user, so only root may start a scenario that has one", sc->path,
					sc->probes[i].line, sc->probes[i].name);
	for (unsigned i = 0; i < sc->n_steps; i++) {
		const struct scenario_step *st = &sc->steps[i];
		struct fault peak;
		struct diag one;

		if (scenario_step_peak(st, &peak) < 0)
			continue;
		/* edge = random(...): whichever the seed picks must be allowed */
		for (unsigned e = 0; e < MAX(st->timing.n_edges, 1u); e++) {
			diag_init(&one);
			if (r->hooks.check(r->hooks.userdata, st->timing.n_edges ?
					st->timing.edges[e] : st->edge, &peak, &one) < 0)
				diag_add(d, -EINVAL, "%s:%u: [step %s]: %s", sc->path, st->line,
						st->name, diag_text(&one));
		}
	}
	return d && d->count > errors ? -EINVAL : 0;
}

int runner_plan(struct runner *r, const struct scenario *sc, struct proto_writer *w,
		struct diag *d)
{
	(void)r;
	return plan_put(sc, w, d);
}

/* ------------------------------------------------------------------ the run */

static void run_finish(struct run *run, enum report_outcome outcome, const char *reason);
static void run_abort(struct run *run, const char *reason);
static void abort_later(struct run *run, const char *reason);
static void enter_phase(struct run *run, enum report_phase phase);

/* " (it delayed 12 packets)", flagged when nothing matched; "" when unknown. */
static const char *did_text(const char *verb, uint64_t packets, char *buf, size_t n)
{
	if (!verb)
		return "";
	snprintf(buf, n, " (it %s %" PRIu64 " packet%s)%s", verb, packets, packets == 1 ? "" : "s",
			packets ? "" : ": no packet matched: check the destination, the route and "
				       "the address family");
	return buf;
}

static void revert_step(struct run *run, unsigned step, const char *why)
{
	struct scenario_step *st = &run->sc->steps[step];
	uint64_t id = run->step_fault[step];
	const char *verb = NULL;
	uint64_t packets = 0;
	char did[160];
	struct diag d;
	int k;

	if (!id)
		return;
	/* What it did, read before it goes (its counters go with it). */
	if (!run->runner->hooks.affected ||
			run->runner->hooks.affected(run->runner->hooks.userdata, id, &verb,
					&packets) < 0)
		verb = NULL;
	/* Cleared first: the fault core tells us about the revert (runner_fault_gone). */
	run->step_fault[step] = 0;
	diag_init(&d);
	k = run->runner->hooks.revert(run->runner->hooks.userdata, id, why, run->uid, run->pid,
			&d);
	report_band_close(run->report, run->step_band[step], run_t(run));
	run->step_band[step] = -1;
	if (k < 0)
		/* The fault core keeps the fault; its deadline still bounds it. */
		report_event_add(run->report, run_t(run), "error", st->name, st->edge,
				fault_kind_to_string(st->fault.kind), "step %s: revert failed: %s",
				st->name, diag_text(&d));
	else
		report_event_add(run->report, run_t(run), "revert", st->name, st->edge,
				fault_kind_to_string(st->fault.kind), "step %s: %s reverted on %s%s",
				st->name, fault_kind_to_string(st->fault.kind), st->edge,
				did_text(verb, packets, did, sizeof(did)));
	/* Only at its own end or the method's: an abort's reverts do not abort again. */
	if (verb && packets == 0 && st->require_traffic &&
			(streq(why, "scenario-step-end") || streq(why, "scenario-rollback"))) {
		snprintf(run->traffic_reason, sizeof(run->traffic_reason), "step %.60s: its %s "
				"fault on edge %.60s: no packet matched: check the destination, the "
				"route and the address family (require_traffic = yes)", st->name,
				fault_kind_to_string(st->fault.kind), st->edge);
		abort_later(run, run->traffic_reason);
	}
}

static void revert_all_steps(struct run *run, const char *why)
{
	for (unsigned i = 0; i < run->sc->n_steps; i++)
		revert_step(run, i, why);
}

static int apply_action(struct run *run, const struct scenario_action *a)
{
	struct scenario_step *st = &run->sc->steps[a->step];
	struct fault f = a->fault;
	uint64_t id = 0, left;
	char desc[200], label[160];
	struct diag d;
	int k;

	if (a->type == SCENARIO_REVERT) {
		revert_step(run, a->step, "scenario-step-end");
		return 0;
	}
	/* A fault never outlives the run's hard deadline, even if the run logic failed. */
	left = run->sc->max_duration_usec > run_t(run) ? run->sc->max_duration_usec - run_t(run) :
							       USEC_PER_MSEC;
	f.duration_usec = MAX(MIN(f.duration_usec, left), USEC_PER_MSEC);
	diag_init(&d);
	k = run->runner->hooks.apply(run->runner->hooks.userdata, run->id, st->edge, &f, run->uid,
			run->pid, &id, &d);
	/* "latency 200ms", "5% loss", "partition": the kind once, where the text has it */
	fault_describe(&a->fault, desc, sizeof(desc));
	if (!strstr(desc, fault_kind_to_string(st->fault.kind))) {
		char tmp[sizeof(desc)];

		snprintf(tmp, sizeof(tmp), "%s %.180s", fault_kind_to_string(st->fault.kind), desc);
		snprintf(desc, sizeof(desc), "%s", tmp);
	}
	if (k < 0) {
		char reason[REPORT_TEXT_MAX + 1];

		report_event_add(run->report, run_t(run), "error", st->name, st->edge,
				fault_kind_to_string(st->fault.kind), "step %s: %s on %s failed: %s",
				st->name, desc, st->edge, diag_text(&d));
		snprintf(reason, sizeof(reason), "step %s could not be applied: %s", st->name,
				diag_text(&d));
		run_abort(run, reason);
		return k;
	}
	report_event_add(run->report, run_t(run), a->point ? "update" : "apply", st->name,
			st->edge, fault_kind_to_string(st->fault.kind), "step %s: %s on %s (fault %"
			PRIu64 ")", st->name, desc, st->edge, id);
	run->step_fault[a->step] = id;
	if (run->step_band[a->step] < 0) {
		snprintf(label, sizeof(label), "%s: %.100s%s", st->edge, desc,
				st->ramp ? " (ramp)" : "");
		run->step_band[a->step] = report_band_open(run->report, st->name, label,
				run_t(run));
	}
	return 0;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata);

static void arm_timer(struct run *run, uint64_t at_mono)
{
	if (run->timer) {
		sd_event_source_set_time(run->timer, at_mono);
		sd_event_source_set_enabled(run->timer, SD_EVENT_ONESHOT);
		return;
	}
	if (sd_event_add_time(run->runner->event, &run->timer, CLOCK_MONOTONIC, at_mono,
			    USEC_PER_MSEC, on_timer, run) < 0)
		run_abort(run, "cannot arm the run's timer");
}

static void enter_phase(struct run *run, enum report_phase phase)
{
	run->phase = phase;
	run->phase_mono = now_usec(CLOCK_MONOTONIC);
	run->report->phase_start_usec[phase] = run_t(run);
	report_event_add(run->report, run_t(run), "phase", NULL, NULL, NULL, "%s",
			report_phase_to_string(phase));
	switch (phase) {
	case REPORT_BEFORE:
	case REPORT_AFTER:
		arm_timer(run, run->phase_mono + run->sc->steady_state_usec);
		break;
	case REPORT_METHOD:
		arm_timer(run, steps_begin(&run->steps, run->phase_mono));
		break;
	case REPORT_ROLLBACK:
		revert_all_steps(run, "scenario-rollback");
		/* the last step's end is also the method's: its abort_later comes too late */
		if (run->traffic_reason[0]) {
			run_finish(run, REPORT_ABORTED, run->traffic_reason);
			return;
		}
		if (run->sc->steady_state_usec == 0) {
			run_finish(run, REPORT_HELD, "the method ran to its end; no steady-state "
					"hypothesis to check");
			return;
		}
		enter_phase(run, REPORT_AFTER);
		break;
	default:
		break;
	}
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct run *run = userdata;
	char why[REPORT_TEXT_MAX + 1];

	(void)es;
	(void)usec;
	if (run->finished)
		return 0;
	switch (run->phase) {
	case REPORT_BEFORE:
		run->report->hypothesis_before = verdict_hypothesis(run->sc, run->report,
				(int)run->phase, run_t(run), why, sizeof(why));
		if (!run->report->hypothesis_before) {
			report_event_add(run->report, run_t(run), "info", NULL, NULL, NULL,
					"steady state not met before the method: %s", why);
			run_finish(run, REPORT_VIOLATED, why);
			return 0;
		}
		enter_phase(run, REPORT_METHOD);
		break;
	case REPORT_METHOD:
		steps_act(&run->steps);
		while (!run->finished && !run->aborting) {
			const struct scenario_action *a = NULL;
			uint64_t at = 0;
			enum steps_next next = steps_next(&run->steps, &a, &at);

			if (next == STEPS_END)
				break;
			if (next == STEPS_LATER) {
				arm_timer(run, at);
				return 0;
			}
			if (apply_action(run, a) < 0)
				return 0;
			steps_applied(&run->steps, a);
		}
		if (!run->finished && !run->aborting)
			enter_phase(run, REPORT_ROLLBACK);
		break;
	case REPORT_AFTER:
		run->report->hypothesis_after = verdict_hypothesis(run->sc, run->report,
				(int)run->phase, run_t(run), why, sizeof(why));
		if (run->report->hypothesis_after)
			run_finish(run, REPORT_HELD, "the steady state held before and after the "
					"method");
		else {
			char reason[REPORT_TEXT_MAX + 1];

			snprintf(reason, sizeof(reason), "steady state not met after the method: %.200s",
					why);
			run_finish(run, REPORT_VIOLATED, reason);
		}
		break;
	default:
		break;
	}
	return 0;
}

static void run_finish(struct run *run, enum report_outcome outcome, const char *reason)
{
	struct report *rep = run->report;
	int k;

	if (run->finished)
		return;
	revert_all_steps(run, "scenario-abort");
	run->finished = true;
	steps_close(&run->steps, outcome);
	for (unsigned i = 0; i < run->sc->n_probes; i++)
		run->probes[i] = probe_free(run->probes[i]);
	run->timer = sd_event_source_disable_unref(run->timer);
	run->deadline = sd_event_source_disable_unref(run->deadline);
	run->lease = sd_event_source_disable_unref(run->lease);
	rep->outcome = outcome;
	run->runner->ended[outcome]++;
	snprintf(rep->reason, sizeof(rep->reason), "%s", reason);
	rep->duration_usec = run_t(run);
	for (unsigned i = 0; i < rep->n_bands; i++)
		report_band_close(rep, (int)i, rep->duration_usec);
	report_event_add(rep, rep->duration_usec, "end", NULL, NULL, NULL, "%s: %s",
			report_outcome_to_string(outcome), reason);
	k = report_save(rep, run->runner->reports_dir, run->runner->keep_reports);
	if (k < 0)
		log_error("run '%s': cannot write its report to '%s': %s", run->id,
				run->runner->reports_dir, strerror(-k));
	audit_log(&(struct audit_event){ .action = "scenario-end", .uid = run->uid,
			.pid = run->pid, .edge = "", .fault = "", .params = reason,
			.result = report_outcome_to_string(outcome), .run = run->id });
	log_info("run '%s' of scenario '%s' ended: %s: %s", run->id, run->sc->name,
			report_outcome_to_string(outcome), reason);
	run->runner->hooks.changed(run->runner->hooks.userdata);
}

static void run_abort(struct run *run, const char *reason)
{
	if (run->finished || run->aborting)
		return;
	run->aborting = true;
	run->report->abort_usec = MAX(run_t(run), 1u);
	snprintf(run->defer_reason, sizeof(run->defer_reason), "%s", reason);
	report_event_add(run->report, run_t(run), "abort", NULL, NULL, NULL, "%s", reason);
	log_warning("run '%s' aborted: %s", run->id, reason);
	run->phase = REPORT_ROLLBACK;
	run->report->phase_start_usec[REPORT_ROLLBACK] = run_t(run);
	revert_all_steps(run, "scenario-abort");
	run_finish(run, REPORT_ABORTED, reason);
}

static int on_deferred_abort(sd_event_source *es, void *userdata)
{
	struct run *run = userdata;
	char reason[REPORT_TEXT_MAX + 1];

	(void)es;
	/* run_abort writes defer_reason itself */
	snprintf(reason, sizeof(reason), "%s", run->defer_reason);
	run->defer = sd_event_source_disable_unref(run->defer);
	run_abort(run, reason);
	return 0;
}

/* From inside a probe callback: abort from the loop, not from under the probe. */
static void abort_later(struct run *run, const char *reason)
{
	if (run->finished || run->aborting || run->defer)
		return;
	snprintf(run->defer_reason, sizeof(run->defer_reason), "%s", reason);
	if (sd_event_add_defer(run->runner->event, &run->defer, on_deferred_abort, run) < 0)
		run_abort(run, reason);
}

static void on_probe(void *userdata, unsigned index, bool ok, uint64_t latency_usec,
		double value, const char *detail)
{
	struct run *run = userdata;
	const struct scenario_probe *p = &run->sc->probes[index];
	const struct scenario_cond *c = &p->abort_when;
	uint64_t now = run_t(run);
	char reason[REPORT_TEXT_MAX + 1];

	if (run->finished)
		return;
	{
		/* Changes of health are events; a dead target must not flood the report. */
		const struct report_probe *rp = &run->report->probes[index];
		bool was_ok = rp->n_samples == 0 || rp->samples[rp->n_samples - 1].ok;

		if (was_ok && !ok)
			report_event_add(run->report, now, "probe", NULL, NULL, NULL,
					"probe %s failing: %s", p->name, detail ? detail : "failed");
		else if (!was_ok && ok)
			report_event_add(run->report, now, "probe", NULL, NULL, NULL,
					"probe %s succeeds again", p->name);
	}
	report_sample_add(run->report, index, now, ok, latency_usec, value, run->phase);
	run->runner->hooks.changed(run->runner->hooks.userdata);
	if (run->phase != REPORT_METHOD || run->aborting)
		return;
	steps_on_probe(&run->steps, index);
	/* One outlier never aborts a run: two samples of the window must be beyond the limit. */
	if (c->set && verdict_cond_met(run->sc, run->report, index, c, 0, run_t(run), "abort_when",
			    reason, sizeof(reason)) &&
			verdict_samples_beyond(c, &run->report->probes[index],
					now > c->window_usec ? now - c->window_usec : 0) >= 2)
		abort_later(run, reason);
}

static int on_deadline(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct run *run = userdata;
	char d[32], reason[128];

	(void)es;
	(void)usec;
	snprintf(reason, sizeof(reason), "max_duration %s reached",
			parse_format_duration(run->sc->max_duration_usec, d, sizeof(d)));
	run_abort(run, reason);
	return 0;
}

static int on_lease(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct run *run = userdata;
	char d[32], reason[160];

	(void)es;
	(void)usec;
	snprintf(reason, sizeof(reason), "lease of %s expired: the client that started the run "
			"stopped renewing it", parse_format_duration(run->sc->lease_usec, d,
									 sizeof(d)));
	run_abort(run, reason);
	return 0;
}

static uint64_t on_steps_now(void *userdata)
{
	return run_t(userdata);
}

static void on_steps_revert(void *userdata, unsigned step, const char *why)
{
	revert_step(userdata, step, why);
}

static void on_steps_wake(void *userdata)
{
	arm_timer(userdata, now_usec(CLOCK_MONOTONIC));
}

static void make_id(struct runner *r, const char *name, char *buf, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	char stamp[32] = "0";

	if (localtime_r(&t, &tm))
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (unsigned k = 1;; k++) {
		char path[512];
		struct stat st;

		if (k == 1)
			snprintf(buf, n, "%s-%s", stamp, name);
		else
			snprintf(buf, n, "%s-%s-%u", stamp, name, k);
		snprintf(path, sizeof(path), "%s/%s.json", r->reports_dir, buf);
		if (!find_run(r, buf) && stat(path, &st) < 0)
			return;
	}
}

static void prune_finished(struct runner *r)
{
	unsigned kept = 0;

	for (struct run **pp = &r->runs; *pp;) {
		struct run *x = *pp;

		if (x->finished && ++kept > FINISHED_KEEP) {
			*pp = x->next;
			run_free(x);
			continue;
		}
		pp = &x->next;
	}
}

int runner_start(struct runner *r, struct scenario *sc, uid_t uid, pid_t pid, char *ret_id,
		size_t n, struct diag *d)
{
	struct run *run;
	char buf[128];
	int k;

	if (runner_n_running(r) >= r->max_running) {
		scenario_free(sc);
		return diag_add(d, -EBUSY, "%u scenario%s already running (max_scenarios = %u in "
				"chaosd.conf); abort it first or wait", runner_n_running(r),
				runner_n_running(r) == 1 ? " is" : "s are", r->max_running);
	}
	for (unsigned i = 0; i < sc->n_probes; i++) {
		k = probe_prepare(&sc->probes[i], d);
		if (k < 0) {
			scenario_free(sc);
			return k;
		}
	}
	run = calloc(1, sizeof(*run));
	if (!run) {
		scenario_free(sc);
		return -ENOMEM;
	}
	run->runner = r;
	run->sc = sc;
	run->uid = uid;
	run->pid = pid;
	make_id(r, sc->name, run->id, sizeof(run->id));
	k = report_new(run->id, sc->n_probes, &run->report);
	if (k >= 0)
		k = report_steps_init(run->report, sc->n_steps);
	if (k >= 0)
		k = steps_init(&run->steps, sc, run->report, &(struct steps_hooks){
				.userdata = run, .now = on_steps_now, .revert = on_steps_revert,
				.wake = on_steps_wake });
	/* MAX(.., 1): a host that a topology step cuts from nobody runs with no step at all. */
	run->step_fault = calloc(MAX(sc->n_steps, 1u), sizeof(*run->step_fault));
	run->step_band = calloc(MAX(sc->n_steps, 1u), sizeof(*run->step_band));
	run->probes = calloc(sc->n_probes + 1, sizeof(*run->probes));
	if (k < 0 || !run->step_fault || !run->step_band || !run->probes) {
		run_free(run);
		return k < 0 ? k : -ENOMEM;
	}
	run->report->seed = sc->seed;
	for (unsigned i = 0; i < sc->n_steps; i++)
		run->step_band[i] = -1;
	snprintf(run->report->scenario, sizeof(run->report->scenario), "%s", sc->name);
	snprintf(run->report->description, sizeof(run->report->description), "%s",
			sc->description ? sc->description : "");
	snprintf(run->report->file, sizeof(run->report->file), "%s", sc->path);
	run->report->uid = uid;
	run->report->started_realtime_usec = now_usec(CLOCK_REALTIME);
	for (unsigned i = 0; i < sc->n_probes; i++) {
		struct report_probe *rp = &run->report->probes[i];
		const struct scenario_probe *p = &sc->probes[i];

		snprintf(rp->name, sizeof(rp->name), "%s", p->name);
		snprintf(rp->type, sizeof(rp->type), "%s", scenario_probe_type_to_string(p->type));
		snprintf(rp->target, sizeof(rp->target), "%.*s", (int)sizeof(rp->target) - 1,
				p->target);
		scenario_cond_format(&p->abort_when, rp->abort_when, sizeof(rp->abort_when));
		scenario_cond_format(&p->steady_state, rp->steady_state, sizeof(rp->steady_state));
	}
	run->start_mono = now_usec(CLOCK_MONOTONIC);
	k = sd_event_add_time(r->event, &run->deadline, CLOCK_MONOTONIC,
			run->start_mono + sc->max_duration_usec, USEC_PER_MSEC, on_deadline, run);
	if (k >= 0 && sc->lease_usec)
		k = sd_event_add_time(r->event, &run->lease, CLOCK_MONOTONIC,
				run->start_mono + sc->lease_usec, USEC_PER_MSEC, on_lease, run);
	for (unsigned i = 0; k >= 0 && i < sc->n_probes; i++)
		k = probe_start(r->event, &sc->probes[i], i, on_probe, run, &run->probes[i]);
	if (k < 0) {
		run_free(run);
		return diag_add(d, k, "cannot start the run: %s", strerror(-k));
	}
	run->next = r->runs;
	r->runs = run;
	audit_log(&(struct audit_event){ .action = "scenario-start", .uid = uid, .pid = pid,
			.edge = "", .fault = "", .params = sc->path, .result = "ok", .run = run->id });
	log_info("run '%s' of scenario '%s' (%s) started by uid %u: %u steps, %u probes, max "
		 "%s", run->id, sc->name, sc->path, (unsigned)uid, sc->n_steps, sc->n_probes,
			parse_format_duration(sc->max_duration_usec, buf, sizeof(buf)));
	report_event_add(run->report, 0, "start", NULL, NULL, NULL, "scenario %s started by uid "
			"%u", sc->name, (unsigned)uid);
	if (sc->steady_state_usec > 0)
		enter_phase(run, REPORT_BEFORE);
	else
		enter_phase(run, REPORT_METHOD);
	snprintf(ret_id, n, "%s", run->id);
	prune_finished(r);
	r->hooks.changed(r->hooks.userdata);
	return 0;
}

unsigned runner_abort(struct runner *r, const char *id, const char *why)
{
	unsigned n = 0;

	for (struct run *x = r ? r->runs : NULL; x; x = x->next)
		if (!x->finished && (!id || streq(x->id, id))) {
			run_abort(x, why);
			n++;
		}
	return n;
}

unsigned runner_abort_edge(struct runner *r, const char *edge, const char *why)
{
	unsigned n = 0;

	for (struct run *x = r ? r->runs : NULL; x; x = x->next) {
		bool touches = false;

		for (unsigned i = 0; !x->finished && i < x->sc->n_steps; i++)
			touches |= streq(x->sc->steps[i].edge, edge);
		if (touches) {
			run_abort(x, why);
			n++;
		}
	}
	return n;
}

void runner_fault_gone(struct runner *r, uint64_t fault_id)
{
	for (struct run *x = r ? r->runs : NULL; x; x = x->next)
		for (unsigned i = 0; !x->finished && i < x->sc->n_steps; i++) {
			struct scenario_step *st = &x->sc->steps[i];

			if (x->step_fault[i] != fault_id)
				continue;
			x->step_fault[i] = 0;
			report_band_close(x->report, x->step_band[i], run_t(x));
			x->step_band[i] = -1;
			report_event_add(x->report, run_t(x), "revert", st->name, st->edge,
					fault_kind_to_string(st->fault.kind), "step %s: %s on %s was "
					"reverted outside the run (deadline, revert or the interface)",
					st->name, fault_kind_to_string(st->fault.kind), st->edge);
		}
}

const char *runner_fault_owner(struct runner *r, uint64_t fault_id)
{
	for (struct run *x = r ? r->runs : NULL; x; x = x->next)
		for (unsigned i = 0; !x->finished && i < x->sc->n_steps; i++)
			if (x->step_fault[i] == fault_id)
				return x->id;
	return "";
}

int runner_renew(struct runner *r, const char *id, struct diag *d)
{
	struct run *run = find_run(r, id);

	if (!run)
		return diag_add(d, -ENOENT, "no run '%s'", id);
	if (run->finished)
		return diag_add(d, -ESRCH, "run '%s' has ended: %s", id,
				report_outcome_to_string(run->report->outcome));
	if (run->lease) {
		sd_event_source_set_time(run->lease, now_usec(CLOCK_MONOTONIC) + run->sc->lease_usec);
		sd_event_source_set_enabled(run->lease, SD_EVENT_ONESHOT);
	}
	return 0;
}

int runner_watch(struct runner *r, const char *id, unsigned since, struct proto_writer *w,
		struct diag *d)
{
	struct run *run = find_run(r, id);
	uint64_t t, planned;
	const struct report *rep;

	if (!run)
		return diag_add(d, -ENOENT, id ? "no run '%s' in memory (see chaosctl report)" :
						 "no scenario has run since chaosd started%s", id ? id : "");
	rep = run->report;
	t = run->finished ? rep->duration_usec : run_t(run);
	planned = 2 * run->sc->steady_state_usec + run->sc->method_usec;
	proto_put(w, "id", run->id);
	proto_put(w, "scenario", run->sc->name);
	proto_put(w, "state", run->finished ? "finished" : run->aborting ? "aborting" : "running");
	proto_put(w, "phase", report_phase_to_string(run->phase));
	proto_put(w, "outcome", report_outcome_to_string(rep->outcome));
	proto_putf(w, "exit_code", "%d", report_outcome_exit_code(rep->outcome));
	proto_put(w, "reason", rep->reason);
	proto_put_u64(w, "elapsed_us", t);
	proto_put_u64(w, "planned_us", planned);
	proto_put_u64(w, "max_duration_us", run->sc->max_duration_usec);
	proto_put_u64(w, "events", rep->n_events);
	for (unsigned i = 0; i < rep->n_probes; i++) {
		const struct scenario_probe *p = &run->sc->probes[i];
		uint64_t win = p->abort_when.set ? p->abort_when.window_usec : 10 * USEC_PER_SEC;
		struct report_summary s;

		report_summarize(rep, i, -1, t > win ? t - win : 0, UINT64_MAX, &s);
		proto_record(w, "probe");
		proto_put(w, "name", p->name);
		proto_put_u64(w, "window_us", win);
		proto_put_u64(w, "count", s.count);
		proto_putf(w, "success_rate", "%.1f", s.success_rate);
		proto_put_u64(w, "p50_us", s.p50);
		proto_put_u64(w, "p99_us", s.p99);
		/* a prometheus probe: its latest value, the one abort_when just compared */
		for (unsigned k = rep->probes[i].n_samples; k-- > 0;) {
			double v = rep->probes[i].samples[k].value;

			if (isnan(v))
				continue;
			if (isfinite(v))
				proto_putf(w, "value", "%.15g", v);
			break;
		}
	}
	for (unsigned i = 0; i < run->sc->n_steps; i++) {
		if (!run->step_fault[i])
			continue;
		proto_record(w, "fault");
		proto_put_u64(w, "id", run->step_fault[i]);
		proto_put(w, "step", run->sc->steps[i].name);
		proto_put(w, "edge", run->sc->steps[i].edge);
		proto_put(w, "kind", fault_kind_to_string(run->sc->steps[i].fault.kind));
	}
	for (unsigned i = since; i < rep->n_events && i < since + WATCH_EVENTS_MAX; i++) {
		proto_record(w, "event");
		proto_put_u64(w, "seq", i);
		proto_put_u64(w, "t_us", rep->events[i].t_usec);
		proto_put(w, "kind", rep->events[i].kind);
		proto_put(w, "text", rep->events[i].text);
	}
	return 0;
}

int runner_report(struct runner *r, const char *id, const char *format, struct proto_writer *w,
		struct diag *d)
{
	struct run *run;
	int k;

	if (!format)
		format = "text";
	k = reportsrv_check(id, format, d);
	if (k < 0)
		return k;
	run = find_run(r, id);
	if (run && !run->finished) {
		run->report->duration_usec = run_t(run);
		return reportsrv_put_live(run->report, format, w, d);
	}
	return reportsrv_put_saved(r->reports_dir, id, format, w, d);
}

struct runner *runner_free(struct runner *r)
{
	if (!r)
		return NULL;
	runner_abort(r, NULL, "daemon stopping");
	while (r->runs) {
		struct run *x = r->runs;
		r->runs = x->next;
		run_free(x);
	}
	free(r->reports_dir);
	free(r);
	return NULL;
}
