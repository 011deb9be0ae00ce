/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "ini.h"
#include "parse.h"
#include "scenario-parser.h"
#include "scenario-topology.h"
#include "schedule.h"
#include "utf8.h"

/* Where a [scenario] key was set, 0: not set. */
static unsigned scenario_key_line(const struct scenario_parser *p, const char *key)
{
	int i = scenario_key_index("scenario", key);

	return i >= 0 ? p->scenario_key_line[i] : 0;
}

static void *grow(void *array, unsigned n, unsigned *cap, size_t size)
{
	void *a;
	unsigned c;

	if (n < *cap)
		return array;
	c = *cap ? *cap * 2 : 8;
	a = reallocarray(array, c, size);
	if (!a)
		return NULL;
	memset((char *)a + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
	*cap = c;
	return a;
}

static void begin_section(struct scenario_parser *p, const char *text)
{
	char word[16], shown[64];
	const char *arg;
	size_t wl;

	snprintf(p->section_text, sizeof(p->section_text), "%s", text);
	p->section_line = p->lineno;
	p->seen = 0;
	wl = strcspn(text, " \t");
	arg = text + wl;
	arg += strspn(arg, " \t");
	snprintf(word, sizeof(word), "%.*s", (int)MIN(wl, sizeof(word) - 1), text);

	if (streq(text, "scenario")) {
		p->section = SEC_SCENARIO;
		if (p->scenario_lines++)
			p_error(p, p->lineno, NULL, NULL, "a second [scenario] section "
					"(allowed: one)");
		return;
	}
	if (!streq(word, "probe") && !streq(word, "step")) {
		p->section = SEC_BAD;
		p_error(p, p->lineno, NULL, NULL, "unknown section (allowed: [scenario], "
				"[probe NAME], [step NAME])");
		return;
	}
	if (!scenario_name_valid(arg)) {
		p->section = SEC_BAD;
		p_error(p, p->lineno, NULL, NULL, "'%s' is not a valid name (allowed: 1-%d "
				"letters, digits, '._-')", utf8_ascii_safe(arg, shown, sizeof(shown)),
				SCENARIO_NAME_MAX);
		return;
	}
	if (streq(word, "probe")) {
		struct scenario *s = p->s;

		for (unsigned i = 0; i < s->n_probes; i++)
			if (streq(s->probes[i].name, arg)) {
				p->section = SEC_BAD;
				p_error(p, p->lineno, NULL, NULL, "probe '%s' is defined twice "
						"(first at line %u)", arg, s->probes[i].line);
				return;
			}
		if (s->n_probes >= SCENARIO_PROBES_MAX) {
			p->section = SEC_BAD;
			p_error(p, p->lineno, NULL, NULL, "more than %d probes",
					SCENARIO_PROBES_MAX);
			return;
		}
		void *np = grow(s->probes, s->n_probes, &p->cap_probes, sizeof(*s->probes));
		if (!np) {
			p->oom = true;
			p->section = SEC_BAD;
			return;
		}
		s->probes = np;
		struct scenario_probe *pr = &s->probes[s->n_probes++];
		snprintf(pr->name, sizeof(pr->name), "%s", arg);
		pr->line = p->lineno;
		pr->type = (enum scenario_probe_type)-1;
		if (scenario_keys_set_defaults(p, "probe", pr) < 0)
			p->oom = true; /* a default of the table cannot be wrong otherwise */
		p->section = SEC_PROBE;
		return;
	}

	struct scenario *s = p->s;
	for (unsigned i = 0; i < s->n_steps; i++)
		if (streq(s->steps[i].name, arg)) {
			p->section = SEC_BAD;
			p_error(p, p->lineno, NULL, NULL, "step '%s' is defined twice (first at line "
					"%u)", arg, s->steps[i].line);
			return;
		}
	if (s->n_steps >= SCENARIO_STEPS_MAX) {
		p->section = SEC_BAD;
		p_error(p, p->lineno, NULL, NULL, "more than %d steps", SCENARIO_STEPS_MAX);
		return;
	}
	/* Both arrays grow together: p->steps[i] holds the raw keys of s->steps[i]. */
	unsigned cap = p->cap_steps;
	void *ns = grow(s->steps, s->n_steps, &cap, sizeof(*s->steps));
	if (ns)
		s->steps = ns;
	void *nr = ns ? grow(p->steps, s->n_steps, &p->cap_steps, sizeof(*p->steps)) : NULL;
	if (!nr) {
		p->oom = true;
		p->section = SEC_BAD;
		return;
	}
	p->steps = nr;
	struct scenario_step *st = &s->steps[s->n_steps];
	memset(&p->steps[s->n_steps], 0, sizeof(p->steps[0]));
	s->n_steps++;
	snprintf(st->name, sizeof(st->name), "%s", arg);
	st->line = p->lineno;
	st->at_usec = UINT64_MAX; /* required */
	st->fault.kind = _FAULT_KIND_MAX;
	p->section = SEC_STEP;
}

static int key_cb(void *user, unsigned line, const char *name, const char *value,
		bool continuation)
{
	struct scenario_parser *p = user;
	const char *sec;
	char keys[512];
	int idx;

	p->lineno = line;
	if (continuation) {
		/* Joined to the previous value it would surprise in a timeline. */
		p_error(p, p->lineno, NULL, NULL, "indented line (allowed: key = value at the "
				"start of a line; continuation lines are not supported)");
		return 0;
	}
	switch (p->section) {
	case SEC_NONE:
		p_error(p, p->lineno, name, value, "key outside of a section (allowed: in "
				"[scenario], [probe NAME] or [step NAME])");
		return 0;
	case SEC_BAD:
		return 0;
	case SEC_SCENARIO:
		sec = "scenario";
		break;
	case SEC_PROBE:
		sec = "probe";
		break;
	case SEC_STEP:
		sec = "step";
		break;
	default:
		return 0;
	}
	idx = scenario_key_index(sec, name);
	if (p->section == SEC_STEP && idx < 0 && fault_key_find(name)) {
		/* A fault key: applied once the step's kind is known (keys come in any order). */
		struct step_state *ss = &p->steps[p->s->n_steps - 1];
		struct raw_kv *kv;

		if (ss->n_raw >= STEP_RAW_MAX || strlen(value) >= RAW_VALUE_MAX) {
			p_error(p, p->lineno, name, value, "too many keys or value too long");
			return 0;
		}
		for (unsigned i = 0; i < ss->n_raw; i++)
			if (streq(ss->raw[i].key, fault_key_find(name)->name)) {
				p_error(p, p->lineno, name, value, "given twice (first at line %u)",
						ss->raw[i].line);
				return 0;
			}
		kv = &ss->raw[ss->n_raw++];
		snprintf(kv->key, sizeof(kv->key), "%s", fault_key_find(name)->name);
		snprintf(kv->value, sizeof(kv->value), "%s", value);
		kv->line = p->lineno;
		return 0;
	}
	if (idx < 0) {
		if (p->section == SEC_STEP)
			p_error(p, p->lineno, name, value, "unknown key (allowed: %s, and the fault "
					"keys of chaosctl inject: see chaosd.scenario(5))",
					scenario_keys_of(sec, keys, sizeof(keys)));
		else
			p_error(p, p->lineno, name, value, "unknown key (allowed: %s)",
					scenario_keys_of(sec, keys, sizeof(keys)));
		return 0;
	}
	if (p->seen & (UINT64_C(1) << idx)) {
		p_error(p, p->lineno, name, value, "given twice in this section");
		return 0;
	}
	p->seen |= UINT64_C(1) << idx;

	if (p->section == SEC_SCENARIO || p->section == SEC_PROBE) {
		const struct scenario_key *k = &scenario_keys[idx];
		char *base = p->section == SEC_SCENARIO ? (char *)p->s :
				(char *)&p->s->probes[p->s->n_probes - 1];
		int r = k->parse(p, k, value, base + k->offset);

		if (r == -ENOMEM)
			return r;
		if (r >= 0 && p->section == SEC_SCENARIO)
			p->scenario_key_line[idx] = p->lineno;
	} else {
		struct step_state *ss = &p->steps[p->s->n_steps - 1];
		struct raw_kv *kv = &ss->raw[ss->n_raw++];

		if (ss->n_raw > STEP_RAW_MAX || strlen(value) >= RAW_VALUE_MAX) {
			ss->n_raw--;
			p_error(p, p->lineno, name, value, "value too long");
			return 0;
		}
		snprintf(kv->key, sizeof(kv->key), "%s", name);
		snprintf(kv->value, sizeof(kv->value), "%s", value);
		kv->line = p->lineno;
	}
	return 0;
}

static void section_cb(void *user, unsigned line, const char *name)
{
	struct scenario_parser *p = user;

	p->lineno = line;
	if (name) {
		begin_section(p, name);
		return;
	}
	p->section = SEC_BAD;
	p->section_text[0] = '\0';
}

static void error_cb(void *user, unsigned line, const char *msg)
{
	p_error(user, line, NULL, NULL, "%s", msg);
}

static const struct ini_ops scenario_ini = {
	.section = section_cb,
	.key = key_cb,
	.error = error_cb,
	.sections = "[scenario], [probe NAME], [step NAME]",
};

static bool intervals_overlap(const struct scenario_step *a, const struct scenario_step *b)
{
	return a->at_usec < b->end_usec && b->at_usec < a->end_usec;
}

static void finish(struct scenario_parser *p)
{
	struct scenario *s = p->s;
	uint64_t method = 0, steady = 0, planned;
	char a[32], b[32];

	p->section = SEC_NONE;
	for (unsigned i = 0; i < s->n_probes; i++) {
		struct scenario_probe *pr = &s->probes[i];

		if (scenario_probe_finish(p, pr) < 0)
			continue;
		if (pr->steady_state.set)
			steady = MAX(steady, pr->steady_state.window_usec);
	}
	for (unsigned i = 0; i < s->n_steps; i++)
		scenario_step_finish(p, i);
	for (unsigned i = 0; i < s->n_steps && !p->errors; i++) {
		const struct scenario_step *st = &s->steps[i];
		char why[384];

		snprintf(p->section_text, sizeof(p->section_text), "step %s", st->name);
		if (scenario_topology_check(s, st, why, sizeof(why)) < 0)
			p_error(p, st->line, "topology", st->topology_text, "%s", why);
	}
	p->section_text[0] = '\0';
	if (p->errors)
		return;
	if (s->n_steps == 0)
		return p_error(p, p->lineno ? p->lineno : 1, NULL, NULL, "no [step NAME] section: "
				"a scenario needs at least one fault");

	for (unsigned i = 0; i < s->n_steps; i++) {
		struct scenario_step *st = &s->steps[i];

		/* Until resolved, a step spans all the times it may run (schedule.c). */
		if (st->timing.span_usec)
			st->end_usec = schedule_latest_start(st) + st->timing.span_usec;
		method = MAX(method, st->end_usec);
	}
	for (unsigned i = 0; i < s->n_steps; i++) {
		struct scenario_step *st = &s->steps[i];

		snprintf(p->section_text, sizeof(p->section_text), "step %s", st->name);
		if (st->end_usec)
			continue;
		/* No end of its own: it lasts as long as the method. */
		if (method <= schedule_latest_start(st)) {
			p_error(p, st->line, NULL, NULL, "the step has no end: give 'for' (no other "
					"step ends after it starts)");
			continue;
		}
		st->end_usec = method;
	}
	for (unsigned i = 0; i < s->n_steps; i++) {
		for (unsigned j = 0; j < i; j++) {
			struct scenario_step *x = &s->steps[j], *y = &s->steps[i];
			const char *edge = schedule_shared_edge(x, y);

			if (!edge || !intervals_overlap(x, y))
				continue;
			if (s->allow_overlap && x->fault.kind != y->fault.kind)
				continue;
			snprintf(p->section_text, sizeof(p->section_text), "step %s", y->name);
			p_error(p, y->line, NULL, NULL, "overlaps step '%s' (line %u) on edge '%s' "
					"(%s..%s)%s", x->name, x->line, edge,
					parse_format_duration(MAX(x->at_usec, y->at_usec), a, sizeof(a)),
					parse_format_duration(MIN(x->end_usec, y->end_usec), b,
							sizeof(b)),
					x->fault.kind == y->fault.kind ? ": one fault of a kind per "
					"edge at a time" : " (allowed: one fault per edge at a time, or "
					"allow_overlap = yes in [scenario])");
		}
	}
	p->section_text[0] = '\0';
	s->method_usec = method;
	if (!scenario_key_line(p, "steady_state_duration"))
		s->steady_state_usec = steady;
	planned = 2 * s->steady_state_usec + method;
	if (!s->max_duration_usec)
		s->max_duration_usec = MAX(2 * planned, 60 * USEC_PER_SEC);
	else if (s->max_duration_usec < planned) {
		snprintf(p->section_text, sizeof(p->section_text), "scenario");
		p_error(p, scenario_key_line(p, "max_duration"), "max_duration",
				parse_format_duration(s->max_duration_usec, a, sizeof(a)),
				"shorter than the plan: steady state twice and the method take %s",
				parse_format_duration(planned, b, sizeof(b)));
	}
}

struct scenario *scenario_free(struct scenario *s)
{
	if (!s)
		return NULL;
	free(s->path);
	free(s->description);
	free(s->probes);
	free(s->steps);
	free(s);
	return NULL;
}

static void name_from_path(struct scenario *s, const char *path)
{
	const char *base = strrchr(path, '/');
	char buf[SCENARIO_NAME_MAX + 1];
	size_t n;

	base = base ? base + 1 : path;
	n = strcspn(base, ".");
	snprintf(buf, sizeof(buf), "%.*s", (int)MIN(n, sizeof(buf) - 1), base);
	snprintf(s->name, sizeof(s->name), "%s", scenario_name_valid(buf) ? buf : "scenario");
}

int scenario_load_string(const char *text, size_t len, const char *name, struct scenario **ret,
		struct diag *d)
{
	_cleanup_(scenario_freep) struct scenario *s = NULL;
	struct scenario_parser p = { .name = name ? name : "<string>", .d = d };
	int r;

	if (!text || !ret)
		return diag_add(d, -EINVAL, "invalid arguments");
	if (len > SCENARIO_FILE_MAX)
		return diag_add(d, -EFBIG, "%s: larger than %d bytes", p.name, SCENARIO_FILE_MAX);
	if (memchr(text, '\0', len))
		return diag_add(d, -EINVAL, "%s: contains a NUL byte", p.name);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->path = strdup(p.name);
	if (!s->path)
		return -ENOMEM;
	p.s = s;
	r = ini_parse(text, len, &scenario_ini, &p);
	if (r < 0 || p.oom) {
		free(p.steps);
		return -ENOMEM;
	}
	finish(&p);
	free(p.steps);
	if (p.oom)
		return -ENOMEM;
	if (p.errors)
		return -EINVAL;
	if (!scenario_key_line(&p, "name"))
		name_from_path(s, p.name);
	schedule_resolve(s, scenario_key_line(&p, "seed") ? s->seed : schedule_random_seed());
	*ret = TAKE_PTR(s);
	return 0;
}

int scenario_load(const char *path, struct scenario **ret, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	FILE *f;

	if (!path || !ret)
		return diag_add(d, -EINVAL, "invalid arguments");
	f = fopen(path, "re");
	if (!f)
		return diag_add(d, negative_errno(), "%s: %m", path);
	buf = malloc(SCENARIO_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, SCENARIO_FILE_MAX + 1, f);
	if (ferror(f)) {
		fclose(f);
		return diag_add(d, -EIO, "%s: read error (a directory?)", path);
	}
	fclose(f);
	return scenario_load_string(buf, len, path, ret, d);
}

