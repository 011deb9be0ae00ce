/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "parse.h"
#include "scenario-parser.h"
#include "scenario-topology.h"
#include "schedule.h"

#define DEFAULT_POINTS 10

/* Parse a ramp end for key k: a unit-less number in the key's unit, or with a unit. */
static int ramp_value(const struct fault_key *k, const char *text, double *ret)
{
	uint64_t u;
	double v;

	if (parse_double_range(text, k->min, k->max, &v) >= 0) {
		*ret = v;
		return 0;
	}
	if (k->type == FAULT_KEY_PERCENT && parse_percent(text, &v) >= 0) {
		*ret = v;
		return 0;
	}
	if (k->type == FAULT_KEY_DOUBLE && streq(k->metavar, "MS") &&
			parse_duration(text, &u) >= 0) {
		*ret = (double)u / USEC_PER_MSEC;
		return 0;
	}
	if (streq(k->name, "kbit") && config_parse_rate(text, &u) >= 0) {
		*ret = (double)(u / 1000);
		return 0;
	}
	return -EINVAL;
}

int scenario_fault_set_number(struct fault *f, const struct fault_key *k, double v,
		struct diag *d)
{
	char buf[48];

	if (k->type == FAULT_KEY_U64 || k->type == FAULT_KEY_DURATION)
		snprintf(buf, sizeof(buf), "%.0f", v);
	else
		parse_format_double(v, buf, sizeof(buf));
	return fault_set(f, k->name, buf, d);
}

static void finish_ramp(struct scenario_parser *p, struct scenario_step *st, const struct raw_kv *ramp,
		const struct raw_kv *rkey)
{
	char buf[RAW_VALUE_MAX], *dots, *over, *in, *tail, from[64], to[64];
	const struct fault_key *k;
	unsigned long points = DEFAULT_POINTS;

	k = fault_key_find(rkey ? rkey->value : fault_kind_main_key(st->fault.kind));
	if (!k || (k->type != FAULT_KEY_DOUBLE && k->type != FAULT_KEY_PERCENT &&
			    k->type != FAULT_KEY_U64) || !(k->kinds & (1u << st->fault.kind))) {
		if (rkey)
			return p_error(p, rkey->line, "ramp_key", rkey->value, "not a numeric key of "
					"fault '%s'", fault_kind_to_string(st->fault.kind));
		return p_error(p, ramp->line, "ramp", ramp->value, "fault '%s' has nothing to "
				"ramp (set ramp_key)", fault_kind_to_string(st->fault.kind));
	}
	snprintf(buf, sizeof(buf), "%s", ramp->value);
	dots = strstr(buf, "..");
	over = strstr(buf, " over ");
	if (!dots || !over || over < dots)
		goto syntax;
	*dots = '\0';
	*over = '\0';
	snprintf(from, sizeof(from), "%s", parse_strip(buf));
	snprintf(to, sizeof(to), "%s", parse_strip(dots + 2));
	over += 6;
	in = strstr(over, " in ");
	if (in) {
		*in = '\0';
		in += 4;
		points = strtoul(in, &tail, 10);
		if (tail == in || (!streq(parse_strip(tail), "steps") &&
					  !streq(parse_strip(tail), "points")))
			goto syntax;
	}
	if (points < 2 || points > SCENARIO_RAMP_MAX)
		return p_error(p, ramp->line, "ramp", ramp->value, "%lu steps (allowed: 2-%d)",
				points, SCENARIO_RAMP_MAX);
	if (parse_duration(parse_strip(over), &st->ramp_over_usec) < 0 ||
			st->ramp_over_usec < points * 10 * USEC_PER_MSEC)
		return p_error(p, ramp->line, "ramp", ramp->value, "'over' needs a time of at "
				"least 10ms per step (e.g. 2m)");
	if (ramp_value(k, from, &st->ramp_from) < 0 || ramp_value(k, to, &st->ramp_to) < 0)
		return p_error(p, ramp->line, "ramp", ramp->value, "the ends must be values of "
				"'%s' (%s), e.g. 50ms..800ms, 1%%..20%%, 10mbit..1mbit", k->name,
				k->help);
	st->ramp = true;
	st->ramp_key = (unsigned)(k - fault_keys);
	st->ramp_points = (unsigned)points;
	return;
syntax:
	p_error(p, ramp->line, "ramp", ramp->value, "not a ramp (allowed: FROM..TO over TIME "
			"[in N steps], e.g. '50ms..800ms over 2m in 8 steps')");
}

static bool step_sets(const struct step_state *ss, const char *key)
{
	for (unsigned j = 0; j < ss->n_raw; j++)
		if (streq(ss->raw[j].key, key))
			return true;
	return false;
}

/* ms = preset:NAME; true when kv was one (applied or reported). */
static bool preset_of(struct scenario_parser *p, struct scenario_step *st,
		const struct step_state *ss, const struct raw_kv *kv)
{
	char why[384];
	int r;

	if (!streq(kv->key, "ms"))
		return false;
	r = schedule_preset_apply(&st->fault, kv->value, step_sets(ss, "jitter"),
			step_sets(ss, "distribution"), why, sizeof(why));
	if (r < 0)
		p_error(p, kv->line, kv->key, kv->value, "%s", why);
	return r != 0;
}

void scenario_step_finish(struct scenario_parser *p, unsigned i)
{
	struct scenario_step *st = &p->s->steps[i];
	struct step_state *ss = &p->steps[i];
	const struct raw_kv *ramp = NULL, *rkey = NULL, *kind = NULL;
	char kinds[128];
	struct diag tmp;
	unsigned errors = p->errors;
	enum fault_kind k;

	snprintf(p->section_text, sizeof(p->section_text), "step %s", st->name);
	for (unsigned j = 0; j < ss->n_raw; j++) {
		const struct raw_kv *kv = &ss->raw[j];

		char why[256];
		int r = schedule_step_key(st, kv->key, kv->value, why, sizeof(why));

		if (r == 0)
			r = scenario_topology_step_key(st, kv->key, kv->value, why, sizeof(why));

		if (r < 0)
			p_error(p, kv->line, kv->key, kv->value, "%s", why);
		else if (r > 0)
			continue;
		else if (streq(kv->key, "fault"))
			kind = kv;
		else if (streq(kv->key, "ramp"))
			ramp = kv;
		else if (streq(kv->key, "ramp_key"))
			rkey = kv;
		else if (streq(kv->key, "require_traffic") &&
				parse_bool(kv->value, &st->require_traffic) < 0)
			p_error(p, kv->line, kv->key, kv->value, "not a boolean (allowed: yes, no)");
	}
	if (st->at_usec == UINT64_MAX && p->errors == errors)
		p_error(p, st->line, NULL, NULL, "'at' is missing (when the step starts, e.g. at = "
				"30s)");
	if (!st->edge[0] && !st->has_topology && p->errors == errors)
		p_error(p, st->line, NULL, NULL, "'edge' is missing (or topology = SPEC)");
	if (!kind)
		return p_error(p, st->line, NULL, NULL, "'fault' is missing (allowed: %s)",
				fault_kind_list(kinds, sizeof(kinds)));
	if (fault_kind_from_string(kind->value, &k) < 0)
		return p_error(p, kind->line, "fault", kind->value, "unknown fault (allowed: %s)",
				fault_kind_list(kinds, sizeof(kinds)));
	fault_init(&st->fault, k);
	for (unsigned j = 0; j < ss->n_raw; j++) {
		const struct raw_kv *kv = &ss->raw[j];

		if (!fault_key_find(kv->key))
			continue;
		if (streq(kv->key, "lease")) {
			p_error(p, kv->line, kv->key, kv->value, "a step cannot hold its own lease "
					"(allowed: lease in [scenario], for the whole run)");
			continue;
		}
		if (preset_of(p, st, ss, kv))
			continue;
		diag_init(&tmp);
		/* fault_set's text names the key and the value already */
		if (fault_set(&st->fault, kv->key, kv->value, &tmp) < 0)
			p_error(p, kv->line, NULL, NULL, "%s", diag_text(&tmp));
	}
	st->has_for = st->fault.duration_usec > 0;
	if (ramp) {
		finish_ramp(p, st, ramp, rkey);
		if (st->ramp) {
			diag_init(&tmp);
			if (scenario_fault_set_number(&st->fault, &fault_keys[st->ramp_key],
					    st->ramp_from, &tmp) < 0)
				p_error(p, ramp->line, "ramp", ramp->value, "%s", diag_text(&tmp));
		}
		for (unsigned j = 0; st->ramp && j < ss->n_raw; j++)
			if (streq(ss->raw[j].key, fault_keys[st->ramp_key].name))
				p_error(p, ss->raw[j].line, ss->raw[j].key, ss->raw[j].value,
						"the ramp sets this key (allowed: either the key or the "
						"ramp)");
	} else if (rkey)
		p_error(p, rkey->line, "ramp_key", rkey->value, "ramp_key without ramp");
	if (p->errors > errors)
		return;
	diag_init(&tmp);
	if (fault_validate(&st->fault, &tmp) < 0)
		p_error(p, st->line, NULL, NULL, "%s", diag_text(&tmp));
	if (st->ramp && st->has_for && st->fault.duration_usec < st->ramp_over_usec)
		p_error(p, st->line, "for", "", "shorter than the ramp (the ramp takes its whole "
				"'over' time)");
	if (p->errors == errors) {
		char why[256];

		if (schedule_step_check(p->s, st, why, sizeof(why)) < 0)
			p_error(p, st->line, NULL, NULL, "%s", why);
	}
}

