/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "parse.h"
#include "scenario-cond.h"
#include "timeutil.h"

#define DEFAULT_WINDOW (10 * USEC_PER_SEC)
#define COND_TEXT_MAX  256 /* a scenario value is shorter (RAW_VALUE_MAX in scenario.c) */

static const char *const metric_names[_SCENARIO_METRIC_MAX] = {
	"success_rate", "failure_rate", "p50", "p95", "p99",
};
static const char *const op_names[] = { "<", "<=", ">", ">=" };

const char *scenario_metric_to_string(enum scenario_metric m)
{
	return (unsigned)m < _SCENARIO_METRIC_MAX ? metric_names[m] : "?";
}

const char *scenario_op_to_string(enum scenario_op op)
{
	return (unsigned)op < ELEMENTSOF(op_names) ? op_names[op] : "?";
}

static bool metric_is_rate(enum scenario_metric m)
{
	return m == SCENARIO_SUCCESS_RATE || m == SCENARIO_FAILURE_RATE;
}

char *scenario_cond_format(const struct scenario_cond *c, char *buf, size_t n)
{
	char v[32], w[32];

	if (!c->set) {
		snprintf(buf, n, "none");
		return buf;
	}
	if (metric_is_rate(c->metric)) {
		parse_format_double(c->threshold, v, sizeof(v));
		strncat(v, "%", sizeof(v) - strlen(v) - 1);
	} else
		parse_format_duration((uint64_t)c->threshold, v, sizeof(v));
	snprintf(buf, n, "%s %s %s over %s", metric_names[c->metric], op_names[c->op], v,
			parse_format_duration(c->window_usec, w, sizeof(w)));
	return buf;
}

bool scenario_cond_holds(const struct scenario_cond *c, double value)
{
	switch (c->op) {
	case SCENARIO_LT:
		return value < c->threshold;
	case SCENARIO_LE:
		return value <= c->threshold;
	case SCENARIO_GT:
		return value > c->threshold;
	case SCENARIO_GE:
		return value >= c->threshold;
	}
	return false;
}

int scenario_cond_parse(const char *text, struct scenario_cond *ret, char *why, size_t n)
{
	char buf[COND_TEXT_MAX], *tok[6], *save = NULL;
	struct scenario_cond c = { .set = true, .window_usec = DEFAULT_WINDOW };
	unsigned nt = 0;
	uint64_t u;
	int m = -1;

	snprintf(buf, sizeof(buf), "%s", text);
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (nt == ELEMENTSOF(tok))
			goto syntax;
		tok[nt++] = t;
	}
	if (nt != 3 && nt != 5)
		goto syntax;
	if (streq(tok[0], "availability"))
		m = SCENARIO_SUCCESS_RATE;
	for (unsigned i = 0; i < _SCENARIO_METRIC_MAX && m < 0; i++)
		if (streq(tok[0], metric_names[i]))
			m = (int)i;
	if (m < 0) {
		snprintf(why, n, "unknown measure '%.40s' (allowed: success_rate, availability, "
				"failure_rate, p50, p95, p99)", tok[0]);
		return -EINVAL;
	}
	c.metric = (enum scenario_metric)m;
	for (unsigned i = 0; i <= ELEMENTSOF(op_names); i++) {
		if (i == ELEMENTSOF(op_names)) {
			snprintf(why, n, "unknown comparison '%.20s' (allowed: <, <=, >, >=)",
					tok[1]);
			return -EINVAL;
		}
		if (streq(tok[1], op_names[i])) {
			c.op = (enum scenario_op)i;
			break;
		}
	}
	if (metric_is_rate(c.metric)) {
		if (parse_percent(tok[2], &c.threshold) < 0) {
			snprintf(why, n, "'%.40s' is not a percentage (allowed: 0%%..100%%)", tok[2]);
			return -EINVAL;
		}
	} else {
		if (parse_duration(tok[2], &u) < 0) {
			snprintf(why, n, "'%.40s' is not a latency (allowed: e.g. 300ms, 5s)",
					tok[2]);
			return -EINVAL;
		}
		c.threshold = (double)u;
	}
	if (nt == 5) {
		if (!streq(tok[3], "over"))
			goto syntax;
		if (parse_duration(tok[4], &c.window_usec) < 0 || c.window_usec < USEC_PER_SEC ||
				c.window_usec > 3600 * USEC_PER_SEC) {
			snprintf(why, n, "window '%.40s' is not a time between 1s and 1h", tok[4]);
			return -EINVAL;
		}
	}
	*ret = c;
	return 0;
syntax:
	snprintf(why, n, "not a condition (allowed: MEASURE OP VALUE [over TIME], e.g. "
			"'failure_rate > 10%% over 10s' or 'p99 > 5s over 30s')");
	return -EINVAL;
}
