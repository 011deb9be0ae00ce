/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>

#include "parse.h"
#include "scenario-parser.h"
#include "scenario-topology.h"

bool scenario_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > SCENARIO_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

int scenario_key_index(const char *section, const char *key)
{
	for (unsigned i = 0; i < scenario_n_keys; i++)
		if (streq(scenario_keys[i].section, section) && streq(scenario_keys[i].name, key))
			return (int)i;
	return -1;
}

char *scenario_keys_of(const char *section, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < scenario_n_keys; i++)
		if (streq(scenario_keys[i].section, section) && len < n)
			len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
					scenario_keys[i].name);
	return buf;
}

static int parse_name_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	if (!scenario_name_valid(value)) {
		p_error(p, p->lineno, k->name, value,
				"not a valid name (allowed: 1-%d letters, digits, '._-')",
				SCENARIO_NAME_MAX);
		return -EINVAL;
	}
	snprintf(field, SCENARIO_NAME_MAX + 1, "%s", value);
	return 0;
}

static int parse_text_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	char *v = strdup(value), **out = field;

	(void)p;
	(void)k;
	if (!v)
		return -ENOMEM;
	free(*out);
	*out = v;
	return 0;
}

static int parse_bool_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	bool b;

	if (parse_bool(value, &b) < 0) {
		p_error(p, p->lineno, k->name, value, "not a boolean (allowed: yes, no)");
		return -EINVAL;
	}
	*(bool *)field = b;
	return 0;
}

/* A time within the key's range. */
static int parse_time_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	char a[32], b[32];
	uint64_t u;

	if (parse_duration(value, &u) < 0 || u < k->min || u > k->max) {
		p_error(p, p->lineno, k->name, value, "not a time between %s and %s (e.g. %s)",
				parse_format_duration(k->min, a, sizeof(a)),
				parse_format_duration(k->max, b, sizeof(b)),
				k->min < USEC_PER_SEC ? "500ms, 2s" : "30s, 10m");
		return -EINVAL;
	}
	*(uint64_t *)field = u;
	return 0;
}

static int parse_probe_type(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	for (unsigned i = 0; i < _SCENARIO_PROBE_TYPE_MAX; i++)
		if (streq(value, scenario_probe_type_to_string((enum scenario_probe_type)i))) {
			*(enum scenario_probe_type *)field = (enum scenario_probe_type)i;
			return 0;
		}
	p_error(p, p->lineno, k->name, value, "unknown probe type (allowed: http, tcp, exec, "
			"prometheus)");
	return -EINVAL;
}

static int parse_target(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	if (!value[0] || strlen(value) > SCENARIO_TARGET_MAX) {
		p_error(p, p->lineno, k->name, value, "empty or longer than %d characters",
				SCENARIO_TARGET_MAX);
		return -EINVAL;
	}
	snprintf(field, SCENARIO_TARGET_MAX + 1, "%s", value);
	return 0;
}

/* "200" or "200-299" */
static int parse_status(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	char lo[8] = "", *hi;
	uint64_t a, b;

	if (strlen(value) < sizeof(lo))
		snprintf(lo, sizeof(lo), "%s", value);
	hi = strchr(lo, '-');
	if (hi)
		*hi++ = '\0';
	if (parse_u64_range(lo, k->min, k->max, &a) < 0 ||
			parse_u64_range(hi ? hi : lo, a, k->max, &b) < 0) {
		p_error(p, p->lineno, k->name, value, "not an HTTP status or range (allowed: "
				"%" PRIu64 "-%" PRIu64 ", e.g. 200 or 200-299, the lower first)",
				k->min, k->max);
		return -EINVAL;
	}
	((unsigned *)field)[0] = (unsigned)a;
	((unsigned *)field)[1] = (unsigned)b;
	return 0;
}

/* Printable text of at most k->max bytes: a body substring, a PromQL query. */
static int parse_line_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	if (!value[0] || strlen(value) > k->max) {
		p_error(p, p->lineno, k->name, value, "empty or longer than %" PRIu64 " bytes",
				k->max);
		return -EINVAL;
	}
	for (const char *c = value; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f) {
			p_error(p, p->lineno, k->name, value, "holds a control character");
			return -EINVAL;
		}
	snprintf(field, k->max + 1, "%s", value);
	return 0;
}

static int parse_abs_path_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	if (value[0] != '/' || strlen(value) > SCENARIO_TARGET_MAX) {
		p_error(p, p->lineno, k->name, value, "not an absolute path of at most %d bytes",
				SCENARIO_TARGET_MAX);
		return -EINVAL;
	}
	return parse_line_key(p, k, value, field);
}

static int parse_cond_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	struct scenario_cond c;
	char why[256];

	if (scenario_cond_parse(value, &c, why, sizeof(why)) < 0) {
		p_error(p, p->lineno, k->name, value, "%s", why);
		return -EINVAL;
	}
	c.line = p->lineno;
	*(struct scenario_cond *)field = c;
	return 0;
}

static int parse_seed_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	uint64_t u;

	if (parse_u64_range(value, 0, UINT64_MAX, &u) < 0) {
		p_error(p, p->lineno, k->name, value, "not a seed (allowed: a whole number "
				"0-%" PRIu64 ")", UINT64_MAX);
		return -EINVAL;
	}
	*(uint64_t *)field = u;
	return 0;
}

static int parse_hosts_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	char why[256];

	if (scenario_hosts_parse(value, field, why, sizeof(why)) < 0) {
		p_error(p, p->lineno, k->name, value, "%s", why);
		return -EINVAL;
	}
	return 0;
}

#define S(f) offsetof(struct scenario, f)
#define P(f) offsetof(struct scenario_probe, f)
#define DAY (24 * 3600 * USEC_PER_SEC)

const struct scenario_key scenario_keys[] = {
	{ "scenario", "name", "NAME", parse_name_key, S(name), 0, 0, false, NULL,
	  "name of the scenario (letters, digits, '._-'); default: the file name without .ini" },
	{ "scenario", "description", "TEXT", parse_text_key, S(description), 0, 0, false, NULL,
	  "one line for reports" },
	{ "scenario", "max_duration", "TIME", parse_time_key, S(max_duration_usec), USEC_PER_SEC,
	  7 * DAY, true, "twice the planned run, at least 1m",
	  "hard deadline of the whole run: everything is reverted and the run aborted after it" },
	{ "scenario", "steady_state_duration", "TIME", parse_time_key, S(steady_state_usec),
	  USEC_PER_SEC, 7 * DAY, true, "the longest steady_state window",
	  "how long the hypothesis is checked before and after the method" },
	{ "scenario", "lease", "TIME", parse_time_key, S(lease_usec), USEC_PER_SEC, 7 * DAY, false,
	  NULL, "abort unless the client that started the run renews within TIME (chaosctl run "
	  "does while it watches); default: the run goes on alone" },
	{ "scenario", "allow_overlap", "BOOL", parse_bool_key, S(allow_overlap), 0, 0, false, "no",
	  "allow faults of different kinds on one edge at the same time" },
	{ "scenario", "seed", "N", parse_seed_key, S(seed), 0, 0, true,
	  "chosen at random and shown by plan and the report",
	  "seed of every random choice (at = random, chance, edge = random): the same seed gives "
	  "the same timeline (chaosctl plan --seed N)" },
	{ "scenario", "hosts", "NAMES", parse_hosts_key, S(hosts), 0, 0, false, NULL,
	  "the group a topology step is computed over, e.g. 'a, b, c': the names of chaosctl -H "
	  "NAME=URL,... and of the edges each host has for its peers" },
	{ "probe", "type", "TYPE", parse_probe_type, P(type), 0, 0, false, NULL,
	  "http (GET over http or https; status, body and latency), tcp (connect time), exec (exit "
	  "status of /bin/sh -c TARGET; the run must be started by root) or prometheus (the value "
	  "of 'query' at the Prometheus TARGET; compare it with 'value' in abort_when and "
	  "steady_state); required" },
	{ "probe", "target", "TARGET", parse_target, P(target), 0, 0, false, NULL,
	  "http: http[s]://HOST[:PORT]/PATH; prometheus: http[s]://HOST[:PORT][/PREFIX]; tcp: "
	  "ADDRESS:PORT; exec: a command. HOST is an IP literal, localhost or a DNS name (resolved "
	  "off the event loop by libcurl's threaded resolver); tcp addresses are IP literals or "
	  "localhost; required" },
	{ "probe", "interval", "TIME", parse_time_key, P(interval_usec), 10 * USEC_PER_MSEC,
	  3600 * USEC_PER_SEC, false, "1s", "time between two probes" },
	{ "probe", "timeout", "TIME", parse_time_key, P(timeout_usec), 10 * USEC_PER_MSEC,
	  3600 * USEC_PER_SEC, false, "2s", "a probe taking longer fails" },
	{ "probe", "expect_status", "CODES", parse_status, P(expect_status), 100, 599, false, "200",
	  "http: the status, or range of statuses (200-299), that counts as success" },
	{ "probe", "expect_body", "TEXT", parse_line_key, P(expect_body), 0, SCENARIO_BODY_MAX,
	  false, NULL, "http: success also needs TEXT in the body (its first 64 KiB), "
	  "case-sensitive" },
	{ "probe", "tls_verify", "BOOL", parse_bool_key, P(tls_verify), 0, 0, false, "yes",
	  "https: verify the server's certificate and name; 'no' is an explicit opt-out for test "
	  "hosts with self-signed certificates" },
	{ "probe", "ca_file", "PATH", parse_abs_path_key, P(ca_file), 0, SCENARIO_TARGET_MAX, false,
	  NULL,
	  "https: the PEM file of the CAs to trust, instead of the system's" },
	{ "probe", "follow_redirects", "BOOL", parse_bool_key, P(follow_redirects), 0, 0, false,
	  "no", "http: follow up to 5 redirects (http and https only); by default a 3xx is the "
	  "answer" },
	{ "probe", "query", "PROMQL", parse_line_key, P(query), 0, SCENARIO_TARGET_MAX, false, NULL,
	  "prometheus: the instant query, e.g. 'sum(rate(http_errors_total[1m]))' or "
	  "'ALERTS{alertname=\"HighErrorRate\",alertstate=\"firing\"}'; its value is the largest "
	  "of the vector's series, 0 for an empty vector (nothing matched: no firing alert), or "
	  "the scalar; required" },
	{ "probe", "abort_when", "COND", parse_cond_key, P(abort_when), 0, 0, false, NULL,
	  "abort the run when this holds during the method, e.g. 'failure_rate > 10% over 10s', "
	  "'p99 > 5s over 30s', 'availability < 90% over 30s'; the window must be at least twice "
	  "the probe's timeout and interval" },
	{ "probe", "steady_state", "COND", parse_cond_key, P(steady_state), 0, 0, false, NULL,
	  "the hypothesis: must hold before and after the method, e.g. 'success_rate >= 99% over "
	  "10s'" },
	{ "step", "at", "TIME", NULL, 0, 0, 7 * DAY, false, NULL,
	  "when the step starts, from the start of the method, or 'random LO..HI' (a time in "
	  "that window, from the seed); required" },
	{ "step", "chance", "CHANCE", NULL, 0, 0, 0, false, NULL,
	  "'P% every TIME': from 'at', the step starts at the first try that hits; needs "
	  "start_within, after which it is skipped" },
	{ "step", "start_when", "PCOND", NULL, 0, 0, 0, false, NULL,
	  "start when probe PROBE's condition holds, 'PROBE MEASURE OP VALUE [over TIME]' as in "
	  "abort_when, e.g. 'api p50 > 20ms over 10s'; waits from 'at'; needs start_within" },
	{ "step", "start_within", "TIME", NULL, 0, USEC_PER_SEC, 7 * DAY, false, NULL,
	  "how long after 'at' a chance or start_when step may still start; then it is skipped "
	  "and the report says why" },
	{ "step", "until", "PCOND", NULL, 0, 0, 0, false, NULL,
	  "end the fault early when the probe condition holds, e.g. 'api failure_rate > 5% over "
	  "10s'; 'for' is required as the cap" },
	{ "step", "fault", "KIND", NULL, 0, 0, 0, false, NULL,
	  "latency, loss, corrupt, duplicate, reorder, rate or partition; required" },
	{ "step", "edge", "NAME", NULL, 0, 0, 0, false, NULL,
	  "an edge of chaosd.conf, or 'random(NAME, NAME, ...)' (one of them, from the seed); "
	  "required unless topology is given" },
	{ "step", "topology", "SPEC", NULL, 0, 0, 0, false, NULL,
	  "instead of edge, for fault = partition run on the group (chaosctl -H a=URL,b=URL,... "
	  "run FILE): isolate:HOST, halves, majorities-ring or bridge:HOST over [scenario] "
	  "hosts; each host partitions (both ways) the peer edges it must cut, the same cuts on "
	  "every host from the run's one seed" },
	{ "step", "ramp", "RAMP", NULL, 0, 0, 0, false, NULL,
	  "'FROM..TO over TIME [in N steps]': N values (default 10) evenly spaced over TIME, "
	  "e.g. '50ms..800ms over 2m in 8 steps'" },
	{ "step", "ramp_key", "KEY", NULL, 0, 0, 0, true, "by kind: ms, percent or kbit",
	  "the fault key the ramp changes" },
	{ "step", "require_traffic", "BOOL", NULL, 0, 0, 0, false, "no",
	  "the run fails (aborted, with the reason) when the step's fault matched no packet by "
	  "its end: a hypothesis that held against no fault at all is no result" },
};
const unsigned scenario_n_keys = ELEMENTSOF(scenario_keys);

_Static_assert(ELEMENTSOF(scenario_keys) <= 32, "seen and scenario_key_line hold every key");

int scenario_keys_set_defaults(struct scenario_parser *p, const char *section, void *base)
{
	for (unsigned i = 0; i < scenario_n_keys; i++) {
		const struct scenario_key *k = &scenario_keys[i];
		int r;

		if (!k->parse || k->derived || !k->default_value || !streq(k->section, section))
			continue;
		r = k->parse(p, k, k->default_value, (char *)base + k->offset);
		if (r < 0)
			return r;
	}
	return 0;
}

