/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <sys/socket.h>

#include "parse.h"
#include "scenario-parser.h"

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

int scenario_probe_finish(struct scenario_parser *p, struct scenario_probe *pr)
{
	char why[256];

	snprintf(p->section_text, sizeof(p->section_text), "probe %s", pr->name);
	if ((int)pr->type < 0) {
		p_error(p, pr->line, NULL, NULL, "'type' is missing (allowed: http, tcp, "
				"exec, prometheus)");
		return -EINVAL;
	}
	if (!pr->target[0]) {
		p_error(p, pr->line, NULL, NULL, "'target' is missing");
		return -EINVAL;
	}
	if (target_parse(pr, why, sizeof(why)) < 0)
		p_error(p, pr->line, "target", pr->target, "%s", why);
	probe_keys_check(p, pr);
	/* A probe that times out yields one sample per timeout; an abort needs a few
	 * samples or half a window of them (daemon/verdict.c), so a shorter window would
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
	return 0;
}
