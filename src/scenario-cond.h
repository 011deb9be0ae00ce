/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A condition on a probe's samples over a window ("failure_rate > 10% over 10s", "p99 > 5s
 * over 30s"): abort_when and steady_state of a probe, start_when and until of a step. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scenario_metric {
	SCENARIO_SUCCESS_RATE, /* percent of probes that succeeded */
	SCENARIO_FAILURE_RATE,
	SCENARIO_P50, /* latency percentiles, microseconds */
	SCENARIO_P95,
	SCENARIO_P99,
	_SCENARIO_METRIC_MAX,
};

enum scenario_op {
	SCENARIO_LT,
	SCENARIO_LE,
	SCENARIO_GT,
	SCENARIO_GE,
};

/* "failure_rate > 10% over 10s", "p99 > 5s over 30s" */
struct scenario_cond {
	bool set;
	enum scenario_metric metric;
	enum scenario_op op;
	double threshold; /* percent, or microseconds for latency */
	uint64_t window_usec;
	unsigned line;
};

const char *scenario_metric_to_string(enum scenario_metric m);
const char *scenario_op_to_string(enum scenario_op op);
/* "METRIC OP VALUE [over TIME]"; why says what is wrong. */
int scenario_cond_parse(const char *text, struct scenario_cond *ret, char *why, size_t n);
/* "failure_rate > 10% over 10s" */
char *scenario_cond_format(const struct scenario_cond *c, char *buf, size_t n);
/* Does a measured value meet the condition? */
bool scenario_cond_holds(const struct scenario_cond *c, double value);
