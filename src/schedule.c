/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "macro.h"
#include "parse.h"
#include "schedule.h"
#include "timeutil.h"

#define DAY         (24 * 3600 * USEC_PER_SEC)
#define AT_MAX      (7 * DAY)
#define EVERY_MIN   (100 * USEC_PER_MSEC)
#define RANDOM_UNIT USEC_PER_MSEC /* random start times are whole milliseconds */

void schedule_rng_init(struct schedule_rng *r, uint64_t seed, uint64_t stream)
{
	/* One stream per step: adding a step does not move the choices of the others. */
	r->state = seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (stream + 1));
	(void)schedule_rng_next(r);
}

uint64_t schedule_rng_next(struct schedule_rng *r)
{
	uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t schedule_rng_below(struct schedule_rng *r, uint64_t n)
{
	/* Rejection keeps every value equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;

	do
		x = schedule_rng_next(r);
	while (x >= limit);
	return x % n;
}

uint64_t schedule_random_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	/* Early boot without entropy: a seed only needs to differ between runs. */
	return now_usec(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
}

/* ------------------------------------------------------------------ the keys */

/* "LEFT SEP RIGHT" into buf: the two sides stripped, false without SEP. */
static bool split2(const char *value, const char *sep, char *buf, size_t n, char **ret_left,
		char **ret_right)
{
	char *at;

	snprintf(buf, n, "%s", value);
	at = strstr(buf, sep);
	if (!at)
		return false;
	*at = '\0';
	*ret_left = parse_strip(buf);
	*ret_right = parse_strip(at + strlen(sep));
	return true;
}

static int parse_random_at(struct scenario_timing *t, const char *value, char *why, size_t n)
{
	char buf[128], *l, *r;
	uint64_t lo, hi;

	if (!split2(value + strlen("random"), "..", buf, sizeof(buf), &l, &r) ||
			parse_duration(l, &lo) < 0 || parse_duration(r, &hi) < 0 || lo >= hi ||
			hi > AT_MAX)
		return snprintf(why, n, "not a window (allowed: random LO..HI with LO < HI <= 7d, "
				"e.g. 'random 1m..5m')"), -EINVAL;
	t->at_lo_usec = lo;
	t->at_hi_usec = hi;
	return 1;
}

static int parse_at(struct scenario_step *st, const char *value, char *why, size_t n)
{
	uint64_t u;

	if (strncmp(value, "random", 6) == 0 && (value[6] == ' ' || value[6] == '\t')) {
		int r = parse_random_at(&st->timing, value, why, n);

		if (r > 0)
			st->at_usec = st->timing.at_lo_usec;
		return r;
	}
	if (parse_duration(value, &u) < 0 || u > AT_MAX) {
		snprintf(why, n, "not a time (e.g. 0s, 30s, 2m, or 'random 1m..5m') of at most 7d");
		return -EINVAL;
	}
	st->at_usec = st->timing.at_lo_usec = st->timing.at_hi_usec = u;
	return 1;
}

static bool edge_name_ok(const char *s)
{
	return s[0] && strlen(s) <= EDGE_NAME_MAX && !strpbrk(s, " \t,()");
}

static int parse_edge(struct scenario_step *st, const char *value, char *why, size_t n)
{
	struct scenario_timing *t = &st->timing;
	char buf[256], *open, *close, *save = NULL;
	unsigned k = 0;

	if (strncmp(value, "random", 6) != 0 || !strchr(value, '(')) {
		if (!edge_name_ok(value)) {
			snprintf(why, n, "not an edge name (allowed: NAME or random(NAME, NAME, "
					"...))");
			return -EINVAL;
		}
		snprintf(st->edge, sizeof(st->edge), "%s", value);
		snprintf(t->edges[0], sizeof(t->edges[0]), "%s", value);
		t->n_edges = 1;
		return 1;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (!close || close < open || *parse_strip(close + 1) || open - buf < 6 ||
			*parse_strip((*open = '\0', buf + 6)))
		goto syntax;
	*close = '\0';
	for (char *e = strtok_r(open + 1, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		e = parse_strip(e);
		if (!edge_name_ok(e))
			goto syntax;
		if (k == SCENARIO_EDGES_MAX) {
			snprintf(why, n, "more than %d edges to choose from", SCENARIO_EDGES_MAX);
			return -EINVAL;
		}
		for (unsigned i = 0; i < k; i++)
			if (streq(t->edges[i], e)) {
				snprintf(why, n, "edge '%s' is listed twice", e);
				return -EINVAL;
			}
		snprintf(t->edges[k++], sizeof(t->edges[0]), "%s", e);
	}
	if (k < 2) {
		snprintf(why, n, "random() needs at least two edges to choose from");
		return -EINVAL;
	}
	t->n_edges = k;
	snprintf(st->edge, sizeof(st->edge), "%s", t->edges[0]);
	return 1;
syntax:
	snprintf(why, n, "not a list of edges (allowed: random(NAME, NAME, ...), up to %d)",
			SCENARIO_EDGES_MAX);
	return -EINVAL;
}

/* "10% every 30s" */
static int parse_chance(struct scenario_timing *t, const char *value, char *why, size_t n)
{
	char buf[128], *l, *r;
	double pct;
	uint64_t u;

	if (split2(value, " every ", buf, sizeof(buf), &l, &r) && parse_percent(l, &pct) >= 0 &&
			pct > 0 && pct <= 100 && parse_duration(r, &u) >= 0 && u >= EVERY_MIN &&
			u <= DAY) {
		t->chance = pct;
		t->every_usec = u;
		return 1;
	}
	snprintf(why, n, "not a chance (allowed: P%% every TIME, P above 0%% up to 100%%, TIME "
			"100ms..1d, e.g. '10%% every 30s')");
	return -EINVAL;
}

/* "PROBE MEASURE OP VALUE [over TIME]" */
static int parse_probe_cond(const char *value, char *probe, struct scenario_cond *ret, char *why,
		size_t n)
{
	size_t len = strcspn(value, " \t");
	char inner[200];

	if (len == 0 || len > SCENARIO_NAME_MAX || !value[len]) {
		snprintf(why, n, "not a probe condition (allowed: PROBE MEASURE OP VALUE [over "
				"TIME], e.g. 'api p50 > 20ms over 10s')");
		return -EINVAL;
	}
	if (scenario_cond_parse(value + len + strspn(value + len, " \t"), ret, inner,
			    sizeof(inner)) < 0) {
		snprintf(why, n, "%s, after the probe's name", inner);
		return -EINVAL;
	}
	snprintf(probe, SCENARIO_NAME_MAX + 1, "%.*s", (int)len, value);
	return 1;
}

int schedule_step_key(struct scenario_step *st, const char *key, const char *value, char *why,
		size_t n)
{
	struct scenario_timing *t = &st->timing;
	uint64_t u;

	if (streq(key, "at"))
		return parse_at(st, value, why, n);
	if (streq(key, "edge"))
		return parse_edge(st, value, why, n);
	if (streq(key, "chance"))
		return parse_chance(t, value, why, n);
	if (streq(key, "start_when"))
		return parse_probe_cond(value, t->start_when_on, &t->start_when, why, n);
	if (streq(key, "until"))
		return parse_probe_cond(value, t->until_on, &t->until, why, n);
	if (streq(key, "start_within")) {
		if (parse_duration(value, &u) < 0 || u < USEC_PER_SEC || u > AT_MAX) {
			snprintf(why, n, "not a time between 1s and 7d (e.g. 5m)");
			return -EINVAL;
		}
		t->within_usec = u;
		return 1;
	}
	return 0;
}

static int probe_index(const struct scenario *s, const char *name, const char *key,
		const struct scenario_cond *c, unsigned *ret, char *why, size_t n)
{
	for (unsigned i = 0; i < s->n_probes; i++) {
		const struct scenario_probe *p = &s->probes[i];

		if (!streq(p->name, name))
			continue;
		/* As for abort_when: fewer samples than that could never decide. */
		if (c->window_usec < 2 * MAX(p->timeout_usec, p->interval_usec)) {
			snprintf(why, n, "%s: the window is shorter than twice probe %s's timeout "
					"or interval", key, name);
			return -EINVAL;
		}
		*ret = i;
		return 0;
	}
	snprintf(why, n, "%s: no probe '%s' (allowed: a [probe NAME] of this file)", key, name);
	return -EINVAL;
}

int schedule_step_check(const struct scenario *s, struct scenario_step *st, char *why, size_t n)
{
	struct scenario_timing *t = &st->timing;
	bool random_at = t->at_hi_usec > t->at_lo_usec;
	bool waits = t->chance > 0 || t->start_when.set;

	if (t->chance > 0 && t->start_when.set)
		return snprintf(why, n, "both chance and start_when (allowed: one way to start)"),
		       -EINVAL;
	if (waits && random_at)
		return snprintf(why, n, "'at = random' with %s (allowed: a fixed at, from which "
				"the step %s)", t->chance > 0 ? "chance" : "start_when",
				t->chance > 0 ? "tries its chance" : "waits for the condition"),
		       -EINVAL;
	if (waits && !t->within_usec)
		return snprintf(why, n, "%s needs start_within (how long after 'at' the step may "
				"still start; after it the step is skipped)",
				t->chance > 0 ? "chance" : "start_when"), -EINVAL;
	if (!waits && t->within_usec)
		return snprintf(why, n, "start_within without chance or start_when"), -EINVAL;
	if (t->until.set && !st->has_for)
		return snprintf(why, n, "until needs 'for' as its cap (a step never lasts "
				"unbounded)"), -EINVAL;
	if (t->start_when.set && probe_index(s, t->start_when_on, "start_when", &t->start_when,
					 &t->start_when_probe, why, n) < 0)
		return -EINVAL;
	if (t->until.set && probe_index(s, t->until_on, "until", &t->until, &t->until_probe, why,
					    n) < 0)
		return -EINVAL;
	t->span_usec = st->has_for ? st->fault.duration_usec : st->ramp ? st->ramp_over_usec : 0;
	return 0;
}

uint64_t schedule_latest_start(const struct scenario_step *st)
{
	const struct scenario_timing *t = &st->timing;

	if (t->chance > 0 || t->start_when.set)
		return t->at_lo_usec + t->within_usec;
	return MAX(t->at_hi_usec, st->at_usec);
}

const char *schedule_shared_edge(const struct scenario_step *a, const struct scenario_step *b)
{
	if (a->timing.n_edges < 2 && b->timing.n_edges < 2)
		return streq(a->edge, b->edge) ? a->edge : NULL;
	for (unsigned i = 0; i < MAX(a->timing.n_edges, 1u); i++) {
		const char *x = a->timing.n_edges ? a->timing.edges[i] : a->edge;

		for (unsigned j = 0; j < MAX(b->timing.n_edges, 1u); j++)
			if (streq(x, b->timing.n_edges ? b->timing.edges[j] : b->edge))
				return x;
	}
	return NULL;
}

/* ------------------------------------------------------------------ the choices */

static size_t append(char *buf, size_t n, size_t off, const char *fmt, ...) _printf_(4, 5);
static size_t append(char *buf, size_t n, size_t off, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (off >= n)
		return off;
	va_start(ap, fmt);
	w = vsnprintf(buf + off, n - off, fmt, ap);
	va_end(ap);
	return w < 0 ? off : MIN(off + (size_t)w, n - 1);
}

static void resolve_step(struct scenario *s, unsigned i, struct schedule_rng *rng)
{
	struct scenario_step *st = &s->steps[i];
	struct scenario_timing *t = &st->timing;
	char a[32], b[32], c[32], cond[128];
	size_t off = 0, n = sizeof(t->trigger);
	uint64_t at = t->at_lo_usec;

	t->skipped = false;
	t->tries = 0;
	/* The same draws in the same order whatever is set: edge, then time. */
	if (t->n_edges > 1)
		snprintf(st->edge, sizeof(st->edge), "%s",
				t->edges[schedule_rng_below(rng, t->n_edges)]);
	if (t->at_hi_usec > t->at_lo_usec) {
		at += schedule_rng_below(rng, (t->at_hi_usec - t->at_lo_usec) / RANDOM_UNIT + 1) *
		      RANDOM_UNIT;
		off = append(t->trigger, n, off, "at %s (random %s..%s)",
				parse_format_duration(at, a, sizeof(a)),
				parse_format_duration(t->at_lo_usec, b, sizeof(b)),
				parse_format_duration(t->at_hi_usec, c, sizeof(c)));
	} else if (t->chance > 0) {
		uint64_t tries = t->within_usec / t->every_usec + 1;
		/* percent in millionths, so 0.0001% still counts */
		uint64_t hit = (uint64_t)(t->chance * 10000.0 + 0.5);

		t->skipped = true;
		for (uint64_t k = 0; k < tries; k++)
			if (schedule_rng_below(rng, 1000000) < hit) {
				t->skipped = false;
				t->tries = (unsigned)k + 1;
				at = t->at_lo_usec + k * t->every_usec;
				break;
			}
		parse_format_double(t->chance, c, sizeof(c));
		if (t->skipped)
			off = append(t->trigger, n, off, "skipped: chance %s%% every %s missed all "
					"%llu tries from %s", c,
					parse_format_duration(t->every_usec, a, sizeof(a)),
					(unsigned long long)tries,
					parse_format_duration(t->at_lo_usec, b, sizeof(b)));
		else
			off = append(t->trigger, n, off, "at %s: chance %s%% every %s hit on try %u",
					parse_format_duration(at, a, sizeof(a)), c,
					parse_format_duration(t->every_usec, b, sizeof(b)), t->tries);
	} else if (t->start_when.set)
		off = append(t->trigger, n, off, "when %s %s, from %s within %s", t->start_when_on,
				scenario_cond_format(&t->start_when, cond, sizeof(cond)),
				parse_format_duration(at, a, sizeof(a)),
				parse_format_duration(t->within_usec, b, sizeof(b)));
	else
		off = append(t->trigger, n, off, "at %s", parse_format_duration(at, a, sizeof(a)));
	if (t->n_edges > 1)
		off = append(t->trigger, n, off, "; edge %s, 1 of %u at random", st->edge,
				t->n_edges);
	if (t->until.set)
		(void)append(t->trigger, n, off, "; until %s %s, at most %s", t->until_on,
				scenario_cond_format(&t->until, cond, sizeof(cond)),
				parse_format_duration(t->span_usec, a, sizeof(a)));
	st->at_usec = at;
	/* A step without an end of its own lasts to the method's end, the latest there is. */
	st->end_usec = t->span_usec ? at + t->span_usec : s->method_usec;
	if (t->skipped)
		st->end_usec = at;
	st->fault.duration_usec = st->end_usec - at;
}

void schedule_resolve(struct scenario *s, uint64_t seed)
{
	s->seed = seed;
	for (unsigned i = 0; i < s->n_steps; i++) {
		struct schedule_rng rng;

		schedule_rng_init(&rng, seed, i);
		resolve_step(s, i, &rng);
	}
}

/* ------------------------------------------------------------------ latency presets */

/* One-way delays between two hosts as the texts give them: the middle as ms, half the span
 * as jitter, paretonormal for the long tail real networks show. */
static const struct preset {
	const char *name;
	double lo_ms, hi_ms;
	const char *what;
} presets[] = {
	{ "same-rack", 0.1, 0.5, "two hosts under one switch" },
	{ "same-dc", 0.5, 2, "two racks of one data centre" },
	{ "cross-zone", 1, 5, "two availability zones of one region" },
	{ "cross-region", 30, 80, "two regions of one continent" },
	{ "intercontinental", 150, 200, "across an ocean" },
};

char *schedule_preset_list(char *buf, size_t n)
{
	size_t off = 0;
	char a[32], b[32];

	buf[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(presets); i++)
		off = append(buf, n, off, "%s%s %s-%sms", i ? ", " : "", presets[i].name,
				parse_format_double(presets[i].lo_ms, a, sizeof(a)),
				parse_format_double(presets[i].hi_ms, b, sizeof(b)));
	return buf;
}

int schedule_preset_apply(struct fault *f, const char *value, bool keep_jitter, bool keep_dist,
		char *why, size_t n)
{
	char num[32], list[256];
	struct diag d;

	if (strncmp(value, "preset:", 7) != 0)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(presets); i++) {
		const struct preset *p = &presets[i];

		if (!streq(value + 7, p->name))
			continue;
		diag_init(&d);
		parse_format_double((p->lo_ms + p->hi_ms) / 2, num, sizeof(num));
		if (fault_set(f, "ms", num, &d) < 0)
			goto bad;
		parse_format_double((p->hi_ms - p->lo_ms) / 2, num, sizeof(num));
		if (!keep_jitter && fault_set(f, "jitter", num, &d) < 0)
			goto bad;
		if (!keep_dist && fault_set(f, "distribution", "paretonormal", &d) < 0)
			goto bad;
		return 1;
bad:
		snprintf(why, n, "%s", diag_text(&d));
		return -EINVAL;
	}
	snprintf(why, n, "unknown preset (allowed: %s)", schedule_preset_list(list, sizeof(list)));
	return -EINVAL;
}
