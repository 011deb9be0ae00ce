/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "config.h"
#include "ini.h"
#include "parse.h"
#include "scenario.h"
#include "scenario-topology.h"
#include "schedule.h"
#include "utf8.h"

#define STEP_RAW_MAX   48
#define RAW_VALUE_MAX  256
#define DEFAULT_POINTS 10

enum section {
	SEC_NONE,
	SEC_SCENARIO,
	SEC_PROBE,
	SEC_STEP,
	SEC_BAD, /* reported; its keys are skipped */
};

struct raw_kv {
	char key[32];
	char value[RAW_VALUE_MAX];
	unsigned line;
};

struct step_state {
	struct raw_kv raw[STEP_RAW_MAX];
	unsigned n_raw;
	bool bad;
};

struct scenario_parser {
	const char *name;
	struct diag *d;
	unsigned errors;
	bool oom;

	unsigned lineno;

	enum section section;
	char section_text[96];
	unsigned section_line;
	uint64_t seen; /* keys of the current section, bit = index in scenario_keys */

	struct scenario *s;
	unsigned scenario_lines; /* [scenario] sections seen */
	unsigned scenario_key_line[32]; /* of the [scenario] keys that were set */
	struct step_state *steps; /* parallel to s->steps */
	unsigned cap_steps, cap_probes;
};

static void p_error(struct scenario_parser *p, unsigned line, const char *key, const char *value,
		const char *fmt, ...) _printf_(5, 6);
static void p_error(struct scenario_parser *p, unsigned line, const char *key, const char *value,
		const char *fmt, ...)
{
	char msg[768], section[sizeof(p->section_text) + 2] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->errors++;
	if (p->section_text[0])
		snprintf(section, sizeof(section), "[%s]", p->section_text);
	diag_add_at(p->d, -EINVAL, p->name, line, section, key, value, msg);
}

static bool name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > SCENARIO_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

static int parse_port(const char *s, uint16_t *ret)
{
	uint64_t u;
	int r = parse_u64_range(s, 1, 65535, &u);

	if (r < 0)
		return r;
	*ret = (uint16_t)u;
	return 0;
}

/* A DNS name: labels of letters, digits and '-', with a letter somewhere (not an address). */
static bool dns_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	bool letter = false;

	if (n < 1 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (!label || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if ((s[i] == '-' && !label) || ++label > 63)
			return false;
		letter |= isalpha((unsigned char)s[i]) != 0;
	}
	return letter && s[n - 1] != '-';
}

/* "10.0.0.1", "[fd00::1]", "localhost" or (allow_name) a DNS name, then ":PORT" or nothing;
 * hostport is modified. */
static int hostport_parse(struct scenario_probe *pr, char *hostport, uint16_t default_port,
		bool allow_name)
{
	char *host = hostport, *port = NULL;

	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (!close)
			return -EINVAL;
		*close = '\0';
		host++;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return -EINVAL;
		if (inet_pton(AF_INET6, host, pr->addr) != 1)
			return -EINVAL;
		pr->family = AF_INET6;
	} else {
		port = strchr(host, ':');
		if (port)
			*port++ = '\0';
		if (streq(host, "localhost")) {
			pr->family = AF_INET;
			pr->addr[0] = 127;
			pr->addr[3] = 1;
		} else if (inet_pton(AF_INET, host, pr->addr) == 1)
			pr->family = AF_INET;
		else if (allow_name && dns_name_valid(host) && strlen(host) < sizeof(pr->host)) {
			pr->family = AF_UNSPEC;
			pr->by_name = true;
		} else
			return -EINVAL;
	}
	snprintf(pr->host, sizeof(pr->host), "%s", host);
	if (port)
		return parse_port(port, &pr->port);
	if (!default_port)
		return -EINVAL;
	pr->port = default_port;
	return 0;
}

static int target_parse(struct scenario_probe *pr, char *why, size_t n)
{
	char buf[SCENARIO_TARGET_MAX + 1], *hp, *slash;

	if (pr->type == SCENARIO_PROBE_EXEC)
		return 0;
	snprintf(buf, sizeof(buf), "%s", pr->target);
	if (pr->type == SCENARIO_PROBE_TCP) {
		if (hostport_parse(pr, buf, 0, false) < 0) {
			snprintf(why, n, "not ADDRESS:PORT (allowed: 10.0.0.1:5432, [fd00::1]:80, "
					"localhost:8080; IP literals only)");
			return -EINVAL;
		}
		return 0;
	}
	pr->tls = strncmp(buf, "https://", 8) == 0;
	if (!pr->tls && strncmp(buf, "http://", 7) != 0) {
		snprintf(why, n, "not an http or https URL (allowed: %s)",
				pr->type == SCENARIO_PROBE_PROMETHEUS ?
				"http[s]://HOST[:PORT][/PREFIX] of a Prometheus" :
				"http[s]://HOST[:PORT]/PATH");
		return -EINVAL;
	}
	hp = buf + (pr->tls ? 8 : 7);
	slash = strchr(hp, '/');
	snprintf(pr->path, sizeof(pr->path), "%s", slash ? slash : "/");
	if (slash)
		*slash = '\0';
	for (const char *c = pr->path; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			snprintf(why, n, "the path holds a blank or control character");
			return -EINVAL;
		}
	if (pr->type == SCENARIO_PROBE_PROMETHEUS && strpbrk(pr->path, "?#")) {
		snprintf(why, n, "a Prometheus URL has no query or fragment (allowed: "
				"http[s]://HOST[:PORT][/PREFIX]; the query is the 'query' key)");
		return -EINVAL;
	}
	if (hostport_parse(pr, hp, pr->tls ? 443 : 80, true) < 0) {
		snprintf(why, n, "bad host or port (allowed: an IPv4 literal, [IPv6], localhost or "
				"a DNS name, then :PORT 1-65535; no user:password@)");
		return -EINVAL;
	}
	return 0;
}

static int key_index(const char *section, const char *key)
{
	for (unsigned i = 0; i < scenario_n_keys; i++)
		if (streq(scenario_keys[i].section, section) && streq(scenario_keys[i].name, key))
			return (int)i;
	return -1;
}

/* Where a [scenario] key was set, 0: not set. */
static unsigned scenario_key_line(const struct scenario_parser *p, const char *key)
{
	int i = key_index("scenario", key);

	return i >= 0 ? p->scenario_key_line[i] : 0;
}

static char *keys_of(const char *section, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < scenario_n_keys; i++)
		if (streq(scenario_keys[i].section, section) && len < n)
			len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
					scenario_keys[i].name);
	return buf;
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

static int set_defaults(struct scenario_parser *p, const char *section, void *base);

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
	if (!name_valid(arg)) {
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
		if (set_defaults(p, "probe", pr) < 0)
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

static int parse_name_key(struct scenario_parser *p, const struct scenario_key *k,
		const char *value, void *field)
{
	if (!name_valid(value)) {
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

/* The table's defaults of section into base, when the section begins. */
static int set_defaults(struct scenario_parser *p, const char *section, void *base)
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
	idx = key_index(sec, name);
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
					keys_of(sec, keys, sizeof(keys)));
		else
			p_error(p, p->lineno, name, value, "unknown key (allowed: %s)",
					keys_of(sec, keys, sizeof(keys)));
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

static int fault_set_number(struct fault *f, const struct fault_key *k, double v, struct diag *d)
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

static void finish_step(struct scenario_parser *p, unsigned i)
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
			if (fault_set_number(&st->fault, &fault_keys[st->ramp_key], st->ramp_from,
					    &tmp) < 0)
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

/* Keys that mean nothing for the probe's type are refused rather than ignored. */
static void probe_keys_check(struct scenario_parser *p, const struct scenario_probe *pr)
{
	bool web = pr->type == SCENARIO_PROBE_HTTP || pr->type == SCENARIO_PROBE_PROMETHEUS;
	const char *type = scenario_probe_type_to_string(pr->type);
	char c[128], st[16];
	const struct {
		const char *key, *value;
		bool set, allowed;
		const char *where;
	} checks[] = {
		{ "expect_status", st, pr->expect_status[0] != 200 || pr->expect_status[1] != 200,
		  pr->type == SCENARIO_PROBE_HTTP, "type = http" },
		{ "expect_body", pr->expect_body, pr->expect_body[0], pr->type == SCENARIO_PROBE_HTTP,
		  "type = http" },
		{ "follow_redirects", "yes", pr->follow_redirects, web,
		  "http and prometheus probes" },
		{ "query", pr->query, pr->query[0], pr->type == SCENARIO_PROBE_PROMETHEUS,
		  "type = prometheus" },
		{ "ca_file", pr->ca_file, pr->ca_file[0], web && pr->tls, "https targets" },
		{ "tls_verify", "no", !pr->tls_verify, web && pr->tls, "https targets" },
	};

	snprintf(st, sizeof(st), "%u-%u", pr->expect_status[0], pr->expect_status[1]);
	for (unsigned i = 0; i < ELEMENTSOF(checks); i++)
		if (checks[i].set && !checks[i].allowed)
			p_error(p, pr->line, checks[i].key, checks[i].value, "only for %s (this "
					"probe: type = %s, target %.60s)", checks[i].where, type,
					pr->target);
	if (pr->ca_file[0] && !pr->tls_verify)
		p_error(p, pr->line, "ca_file", pr->ca_file, "and tls_verify = no contradict each "
				"other (allowed: one of them)");
	if (pr->type == SCENARIO_PROBE_PROMETHEUS && !pr->query[0])
		p_error(p, pr->line, NULL, NULL, "'query' is missing (a prometheus probe reads "
				"the value of a PromQL query)");
	if (pr->type == SCENARIO_PROBE_PROMETHEUS)
		return;
	if (pr->abort_when.set && pr->abort_when.metric == SCENARIO_VALUE)
		p_error(p, pr->abort_when.line, "abort_when", scenario_cond_format(&pr->abort_when,
				c, sizeof(c)), "'value' is a prometheus probe's query value (allowed "
				"here: success_rate, failure_rate, p50, p95, p99)");
	if (pr->steady_state.set && pr->steady_state.metric == SCENARIO_VALUE)
		p_error(p, pr->steady_state.line, "steady_state", scenario_cond_format(
				&pr->steady_state, c, sizeof(c)), "'value' is a prometheus probe's "
				"query value (allowed here: success_rate, failure_rate, p50, p95, p99)");
}

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
		char why[256];

		snprintf(p->section_text, sizeof(p->section_text), "probe %s", pr->name);
		if ((int)pr->type < 0) {
			p_error(p, pr->line, NULL, NULL, "'type' is missing (allowed: http, tcp, "
					"exec, prometheus)");
			continue;
		}
		if (!pr->target[0]) {
			p_error(p, pr->line, NULL, NULL, "'target' is missing");
			continue;
		}
		if (target_parse(pr, why, sizeof(why)) < 0)
			p_error(p, pr->line, "target", pr->target, "%s", why);
		probe_keys_check(p, pr);
		/* A probe that times out yields one sample per timeout; an abort needs a few
		 * samples or half a window of them (daemon/runner.c), so a shorter window would
		 * never abort. A value needs two samples in a row, at most interval + timeout
		 * apart. */
		if (pr->abort_when.set) {
			bool value = pr->abort_when.metric == SCENARIO_VALUE;
			uint64_t shown = value ? pr->interval_usec + pr->timeout_usec :
						 MAX(pr->timeout_usec, pr->interval_usec);
			char w[32], t[32];

			if (pr->abort_when.window_usec < (value ? shown : 2 * shown))
				p_error(p, pr->abort_when.line, "abort_when",
						scenario_cond_format(&pr->abort_when, why, sizeof(why)),
						value ? "the window %s is shorter than the probe's interval "
							"and timeout (%s): it could never hold the two "
							"values an abort needs" :
							"the window %s is shorter than twice the probe's "
							"timeout or interval (%s): it could never gather "
							"the samples an abort needs",
						parse_format_duration(pr->abort_when.window_usec, w,
								sizeof(w)),
						parse_format_duration(shown, t, sizeof(t)));
		}
		if (pr->steady_state.set)
			steady = MAX(steady, pr->steady_state.window_usec);
	}
	for (unsigned i = 0; i < s->n_steps; i++)
		finish_step(p, i);
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
	snprintf(s->name, sizeof(s->name), "%s", name_valid(buf) ? buf : "scenario");
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
		r = fault_set_number(&f, &fault_keys[st->ramp_key], MAX(st->ramp_from, st->ramp_to),
				&d);
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
				r = fault_set_number(&x->fault, &fault_keys[st->ramp_key],
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
