/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>

#include "macro.h"
#include "verdict.h"

/* What a condition measures in a summary: percent, microseconds for latency, or of the query's
 * values the one farthest from meeting c, so that c holds when every value meets it (as a
 * Prometheus alert's 'for'); NAN when there is no value. */
static double measured(const struct scenario_cond *c, const struct report_summary *s)
{
	switch (c->metric) {
	case SCENARIO_VALUE:
		if (!s->value_count)
			return NAN;
		return c->op == SCENARIO_GT || c->op == SCENARIO_GE ? s->value_min : s->value_max;
	case SCENARIO_SUCCESS_RATE:
		return s->success_rate;
	case SCENARIO_FAILURE_RATE:
		return 100 - s->success_rate;
	case SCENARIO_P50:
		return (double)s->p50;
	case SCENARIO_P95:
		return (double)s->p95;
	default:
		return (double)s->p99;
	}
}

static const char *format_measure(const struct scenario_cond *c, double v, char *buf, size_t n)
{
	if (c->metric == SCENARIO_SUCCESS_RATE || c->metric == SCENARIO_FAILURE_RATE)
		snprintf(buf, n, "%.1f%%", v);
	else if (c->metric == SCENARIO_VALUE)
		snprintf(buf, n, "%g", v);
	else
		snprintf(buf, n, "%.1fms", v / 1000);
	return buf;
}

/* An abort needs two samples past the limit, so one outlier never decides; a failed sample is
 * past a latency limit upwards. */
unsigned verdict_samples_beyond(const struct scenario_cond *c, const struct report_probe *rp,
		uint64_t from)
{
	bool rate = c->metric == SCENARIO_SUCCESS_RATE || c->metric == SCENARIO_FAILURE_RATE;
	bool upwards = c->op == SCENARIO_GT || c->op == SCENARIO_GE;
	unsigned n = 0;

	for (unsigned i = rp->n_samples; i-- > 0 && rp->samples[i].t_usec >= from;) {
		const struct report_sample *x = &rp->samples[i];

		if (x->phase != REPORT_METHOD)
			continue;
		if (c->metric == SCENARIO_VALUE)
			n += !isnan(x->value) && scenario_cond_holds(c, x->value);
		else if (rate || !x->ok)
			n += !x->ok && (rate || upwards);
		else
			n += scenario_cond_holds(c, (double)x->latency_usec);
	}
	return n;
}

bool verdict_hypothesis(const struct scenario *sc, const struct report *rep, int phase,
		uint64_t now, char *why, size_t n)
{
	for (unsigned i = 0; i < sc->n_probes; i++) {
		const struct scenario_probe *p = &sc->probes[i];
		const struct scenario_cond *c = &p->steady_state;
		struct report_summary s;
		double v;
		char cond[128];

		if (!c->set)
			continue;
		report_summarize(rep, i, phase, now > c->window_usec ? now - c->window_usec : 0,
				UINT64_MAX, &s);
		scenario_cond_format(c, cond, sizeof(cond));
		if (!s.count) {
			snprintf(why, n, "probe %s: no samples in the window (needs %s)", p->name,
					cond);
			return false;
		}
		v = measured(c, &s);
		if (isnan(v)) {
			snprintf(why, n, "probe %s: no value of the query in the window (needs %s)",
					p->name, cond);
			return false;
		}
		if (!scenario_cond_holds(c, v)) {
			char m[48];

			snprintf(why, n, "probe %.40s: %s was %.20s over %u samples (needs %.80s)",
					p->name, scenario_metric_to_string(c->metric),
					format_measure(c, v, m, sizeof(m)), s.count, cond);
			return false;
		}
	}
	return true;
}

/* A sample as the steady state wants it: ok, and within a latency hypothesis. */
static bool sample_good(const struct scenario_probe *p, const struct report_sample *s)
{
	const struct scenario_cond *c = &p->steady_state;

	if (!s->ok)
		return false;
	if (c->set && c->metric == SCENARIO_VALUE)
		return scenario_cond_holds(c, s->value);
	return !c->set || c->metric == SCENARIO_SUCCESS_RATE ||
	       c->metric == SCENARIO_FAILURE_RATE || scenario_cond_holds(c, s->latency_usec);
}

uint64_t verdict_recovery(const struct scenario *sc, const struct report *rep, uint64_t end)
{
	uint64_t worst = 0;

	if (!sc->n_probes)
		return UINT64_MAX;
	for (unsigned i = 0; i < sc->n_probes; i++) {
		const struct report_probe *rp = &rep->probes[i];
		unsigned good = 0;
		uint64_t first = 0;

		for (unsigned k = 0; k < rp->n_samples && good < 3; k++) {
			if (rp->samples[k].t_usec < end)
				continue;
			if (!sample_good(&sc->probes[i], &rp->samples[k]))
				good = 0;
			else if (!good++)
				first = rp->samples[k].t_usec;
		}
		if (good < 3)
			return UINT64_MAX;
		worst = MAX(worst, first - end);
	}
	return worst;
}

/* One slow or failed probe is not a trend: at least 3 samples, or samples spanning half the
 * window (a probe that times out yields one per timeout); a query's value: at least two
 * values, every one meeting c. */
bool verdict_cond_met(const struct scenario *sc, const struct report *rep, unsigned index,
		const struct scenario_cond *c, uint64_t from, uint64_t now, const char *key,
		char *why, size_t n)
{
	const struct report_probe *rp = &rep->probes[index];
	uint64_t lo = MAX(from, now > c->window_usec ? now - c->window_usec : 0);
	struct report_summary s;
	char cond[128], m[48];
	double v;

	report_summarize(rep, index, REPORT_METHOD, lo, UINT64_MAX, &s);
	if (!s.count)
		return false;
	/* A query's value: every value in the window, and two of them at least. */
	if (c->metric == SCENARIO_VALUE && s.value_count < 2)
		return false;
	if (c->metric != SCENARIO_VALUE && s.count < 3) {
		uint64_t oldest = now;

		for (unsigned i = rp->n_samples; i-- > 0;) {
			if (rp->samples[i].phase != REPORT_METHOD || rp->samples[i].t_usec < lo)
				break;
			oldest = rp->samples[i].t_usec;
		}
		if (now - oldest < c->window_usec / 2)
			return false;
	}
	v = measured(c, &s);
	if (isnan(v) || !scenario_cond_holds(c, v))
		return false;
	scenario_cond_format(c, cond, sizeof(cond));
	snprintf(why, n, "probe %.40s: %s %.20s over %u samples (%s %.80s)",
			sc->probes[index].name, scenario_metric_to_string(c->metric),
			format_measure(c, v, m, sizeof(m)), s.count, key, cond);
	return true;
}
