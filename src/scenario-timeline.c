/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "scenario-parser.h"

static double ramp_point_value(const struct scenario_step *st, unsigned i)
{
	return st->ramp_from + (st->ramp_to - st->ramp_from) * i / (st->ramp_points - 1);
}

int scenario_step_peak(const struct scenario_step *st, struct fault *ret)
{
	struct fault f = st->fault;
	struct diag d;
	int r;

	if (st->ramp) {
		diag_init(&d);
		r = scenario_fault_set_number(&f, &fault_keys[st->ramp_key],
				MAX(st->ramp_from, st->ramp_to), &d);
		if (r < 0)
			return r;
	}
	*ret = f;
	return 0;
}

static int action_cmp(const void *a, const void *b)
{
	const struct scenario_action *x = a, *y = b;

	if (x->at_usec != y->at_usec)
		return x->at_usec < y->at_usec ? -1 : 1;
	if (x->type != y->type)
		return x->type == SCENARIO_REVERT ? -1 : 1;
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	return x->point < y->point ? -1 : x->point > y->point;
}

void scenario_actions_sort(struct scenario_action *a, unsigned n)
{
	qsort(a, n, sizeof(*a), action_cmp);
}

int scenario_timeline(const struct scenario *s, struct scenario_action **ret, unsigned *ret_n)
{
	_cleanup_free_ struct scenario_action *a = NULL;
	unsigned n = 0, cap = 0;
	struct diag d;
	int r;

	for (unsigned i = 0; i < s->n_steps; i++)
		cap += (s->steps[i].ramp ? s->steps[i].ramp_points : 1) + 1;
	/* MAX(.., 1): a host that a topology step cuts from nobody has no step at all */
	a = calloc(MAX(cap, 1u), sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (unsigned i = 0; i < s->n_steps; i++) {
		const struct scenario_step *st = &s->steps[i];
		unsigned points = st->ramp ? st->ramp_points : 1;

		if (st->timing.skipped)
			continue;
		for (unsigned k = 0; k < points; k++) {
			struct scenario_action *x = &a[n++];

			x->type = SCENARIO_APPLY;
			x->step = i;
			x->point = k;
			x->fault = st->fault;
			x->at_usec = st->at_usec + (st->ramp ? st->ramp_over_usec * k / points : 0);
			/* Each change carries the time left to the step's end as its deadline. */
			x->fault.duration_usec = st->end_usec - x->at_usec;
			if (st->ramp) {
				diag_init(&d);
				r = scenario_fault_set_number(&x->fault, &fault_keys[st->ramp_key],
						ramp_point_value(st, k), &d);
				if (r < 0)
					return r;
			}
		}
		a[n++] = (struct scenario_action){ .at_usec = st->end_usec, .type = SCENARIO_REVERT,
			.step = i, .fault = st->fault };
	}
	scenario_actions_sort(a, n);
	*ret = TAKE_PTR(a);
	*ret_n = n;
	return 0;
}
