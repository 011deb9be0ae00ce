/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "macro.h"
#include "plan.h"

static void put_action(struct proto_writer *w, const struct scenario *sc,
		const struct scenario_action *a)
{
	const struct scenario_step *st = &sc->steps[a->step];
	char desc[256];

	proto_record(w, "action");
	proto_put_u64(w, "t_us", a->at_usec);
	proto_put(w, "action", a->type == SCENARIO_REVERT ? "revert" : a->point ? "update" :
										   "apply");
	proto_put(w, "step", st->name);
	proto_put(w, "edge", st->edge);
	proto_put(w, "kind", fault_kind_to_string(st->fault.kind));
	if (a->type == SCENARIO_APPLY)
		proto_put(w, "params", fault_describe(&a->fault, desc, sizeof(desc)));
}

int plan_put(const struct scenario *sc, struct proto_writer *w, struct diag *d)
{
	_cleanup_free_ struct scenario_action *a = NULL;
	char buf[128];
	unsigned n = 0;
	int k;

	k = scenario_timeline(sc, &a, &n);
	if (k < 0)
		return diag_add(d, k, "cannot build the timeline: %s", strerror(-k));
	proto_put(w, "name", sc->name);
	proto_put(w, "description", sc->description ? sc->description : "");
	proto_put_u64(w, "steady_state_us", sc->steady_state_usec);
	proto_put_u64(w, "method_us", sc->method_usec);
	proto_put_u64(w, "max_duration_us", sc->max_duration_usec);
	proto_put_u64(w, "lease_us", sc->lease_usec);
	proto_put_u64(w, "seed", sc->seed);
	for (unsigned i = 0; i < sc->n_steps; i++) {
		proto_record(w, "step");
		proto_put(w, "name", sc->steps[i].name);
		proto_put(w, "edge", sc->steps[i].edge);
		proto_put(w, "trigger", sc->steps[i].timing.trigger);
	}
	for (unsigned i = 0; i < sc->n_probes; i++) {
		const struct scenario_probe *p = &sc->probes[i];

		proto_record(w, "probe");
		proto_put(w, "name", p->name);
		proto_put(w, "type", scenario_probe_type_to_string(p->type));
		proto_put(w, "target", p->target);
		proto_put(w, "abort_when", scenario_cond_format(&p->abort_when, buf, sizeof(buf)));
		proto_put(w, "steady_state", scenario_cond_format(&p->steady_state, buf,
							    sizeof(buf)));
		if (p->type == SCENARIO_PROBE_PROMETHEUS)
			proto_put(w, "query", p->query);
	}
	for (unsigned i = 0; i < n; i++)
		put_action(w, sc, &a[i]);
	return 0;
}
