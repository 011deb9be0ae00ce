/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A run's judgements over what its probes saw: the steady-state hypothesis, a start_when,
 * until or abort_when condition over its window, and a step's recovery time. They read the
 * scenario and the report and change neither; times are run times (since the run started). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "scenario.h"

/* Every probe's steady_state over its last window of phase's samples at now; why says which
 * one did not hold and what it measured. */
bool verdict_hypothesis(const struct scenario *sc, const struct report *rep, int phase,
		uint64_t now, char *why, size_t n);
/* Does c (of key) hold over probe index's method samples in its window, not before from?
 * why says what was measured. */
bool verdict_cond_met(const struct scenario *sc, const struct report *rep, unsigned index,
		const struct scenario_cond *c, uint64_t from, uint64_t now, const char *key,
		char *why, size_t n);
/* Method samples since from that by themselves are past c's limit. */
unsigned verdict_samples_beyond(const struct scenario_cond *c, const struct report_probe *rp,
		uint64_t from);
/* From end until every probe has 3 good samples in a row: the time to the first of them;
 * UINT64_MAX if that never came (or there is no probe). */
uint64_t verdict_recovery(const struct scenario *sc, const struct report *rep, uint64_t end);
