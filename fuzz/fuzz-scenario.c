/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the scenario parser (inih, every step's fault keys, conditions,
 * ramps, targets) and the timeline built from what it accepts. Beyond "no crash", checks
 * what a loaded scenario promises the runner. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "scenario-topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_INPUT_MAX (64 * 1024)

static void check_scenario(const struct scenario *s)
{
	struct scenario_action *a = NULL;
	unsigned n = 0;

	if (!s->name[0] || s->n_steps == 0 || s->method_usec == 0 ||
			s->max_duration_usec < 2 * s->steady_state_usec + s->method_usec)
		abort();
	for (unsigned i = 0; i < s->n_steps; i++) {
		const struct scenario_step *st = &s->steps[i];

		/* a chance step whose tries all missed: it applies nothing, for no time */
		if (st->timing.skipped) {
			if (st->end_usec != st->at_usec || st->fault.duration_usec != 0)
				abort();
			continue;
		}
		if (st->end_usec <= st->at_usec || st->end_usec > s->method_usec || !st->edge[0] ||
				st->fault.duration_usec != st->end_usec - st->at_usec)
			abort();
		/* one fault of a kind per edge at any time, whatever allow_overlap says */
		for (unsigned j = 0; j < i; j++) {
			const struct scenario_step *o = &s->steps[j];

			if (streq(o->edge, st->edge) && o->fault.kind == st->fault.kind &&
					o->at_usec < st->end_usec && st->at_usec < o->end_usec)
				abort();
		}
	}
	if (scenario_timeline(s, &a, &n) < 0)
		return; /* only -ENOMEM */
	for (unsigned i = 0; i < n; i++) {
		/* in time order, and every change has time left before its step ends */
		if ((i && a[i].at_usec < a[i - 1].at_usec) ||
				(a[i].type == SCENARIO_APPLY && a[i].fault.duration_usec == 0))
			abort();
	}
	free(a);
}

/* Every message names the file and a line that exists. */
static void check_diag(const struct diag *d, const char *text)
{
	unsigned lines = 1;
	const char *p;

	if (d->len + 256 >= DIAG_MAX)
		return;
	for (p = text; *p; p++)
		lines += *p == '\n';
	for (p = d->text; *p;) {
		unsigned line;
		const char *nl;

		if (sscanf(p, "fuzz.ini:%u: ", &line) != 1 || line < 1 || line > lines)
			abort();
		nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario *s = NULL;
	struct diag d;
	int r;

	if (size > FUZZ_INPUT_MAX)
		return 0;
	diag_init(&d);
	r = scenario_load_string((const char *)data, size, "fuzz.ini", &s, &d);
	if (r == 0) {
		if (!s || d.count != 0)
			abort();
		/* topology steps: the first host's side, each a step on a peer edge */
		if (scenario_has_topology(s)) {
			r = scenario_topology_expand(s, s->hosts.name[0], &d);
			if (r == -EINVAL && d.count == 0)
				abort();
		}
		if (r == 0 && s->n_steps > 0)
			check_scenario(s);
	} else if (s || (r == -EINVAL && d.count == 0)) {
		abort();
	} else if (r == -EINVAL && !memchr(data, '\0', size)) {
		char *text = malloc(size + 1);

		if (text) {
			memcpy(text, data, size);
			text[size] = '\0';
			check_diag(&d, text);
			free(text);
		}
	}
	scenario_free(s);
	return 0;
}
