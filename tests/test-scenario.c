/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "parse.h"
#include "scenario.h"
#include "scenario-topology.h"
#include "schedule.h"
#include "test-util.h"

#define SENTINEL ((struct scenario *)0x1)

/* The example, verbatim but for the values the test checks. */
static const char example[] =
	"[scenario]\n"
	"name = db-brownout\n"
	"description = Database slows down, then the cache drops packets\n"
	"max_duration = 10m                 # hard deadline for the whole run\n"
	"\n"
	"[probe api]                        # steady-state and abort probes\n"
	"type = http\n"
	"target = http://10.0.0.10:8080/health\n"
	"interval = 1s\n"
	"timeout = 2s\n"
	"expect_status = 200\n"
	"abort_when = failure_rate > 10% over 10s   # or: p99 > 5s over 30s\n"
	"steady_state = success_rate >= 99% over 10s\n"
	"\n"
	"[step 1]\n"
	"at = 0s\n"
	"fault = latency\n"
	"edge = db\n"
	"ms = 200\n"
	"jitter = 20\n"
	"for = 60s\n"
	"\n"
	"[step 2]\n"
	"at = 30s\n"
	"fault = loss\n"
	"edge = cache\n"
	"percent = 5\n"
	"for = 30s\n"
	"\n"
	"[step 3]\n"
	"at = 60s\n"
	"fault = latency\n"
	"edge = db\n"
	"ramp = 50ms..800ms over 2m in 8 steps\n";

static struct scenario *load_ok(const char *text)
{
	struct scenario *s = NULL;
	struct diag d;

	diag_init(&d);
	ck_assert_msg(scenario_load_string(text, strlen(text), "t.ini", &s, &d) == 0,
			"refused: %s", d.text);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void load_ok_free(const char *text)
{
	scenario_free(load_ok(text));
}

static void load_fails(const char *text, const char *want)
{
	struct scenario *s = SENTINEL;
	struct diag d;

	diag_init(&d);
	ck_assert_int_lt(scenario_load_string(text, strlen(text), "t.ini", &s, &d), 0);
	ck_assert_ptr_eq(s, SENTINEL);
	ck_assert_str_eq(d.text, want);
}

START_TEST(test_example)
{
	struct scenario *s = load_ok(example);
	struct scenario_action *a = NULL;
	char buf[128];
	unsigned n = 0;

	ck_assert_str_eq(s->name, "db-brownout");
	ck_assert_str_eq(s->description, "Database slows down, then the cache drops packets");
	ck_assert(s->max_duration_usec == 600 * USEC_PER_SEC);
	ck_assert_uint_eq(s->n_probes, 1);
	ck_assert_int_eq(s->probes[0].type, SCENARIO_PROBE_HTTP);
	ck_assert_int_eq(s->probes[0].family, AF_INET);
	ck_assert_uint_eq(s->probes[0].port, 8080);
	ck_assert_str_eq(s->probes[0].path, "/health");
	ck_assert_str_eq(scenario_cond_format(&s->probes[0].abort_when, buf, sizeof(buf)),
			"failure_rate > 10% over 10s");
	ck_assert_str_eq(scenario_cond_format(&s->probes[0].steady_state, buf, sizeof(buf)),
			"success_rate >= 99% over 10s");
	ck_assert(s->steady_state_usec == 10 * USEC_PER_SEC);
	ck_assert_uint_eq(s->n_steps, 3);
	ck_assert(s->steps[0].end_usec == 60 * USEC_PER_SEC);
	ck_assert(s->steps[1].end_usec == 60 * USEC_PER_SEC);
	ck_assert(s->steps[2].ramp);
	ck_assert_uint_eq(s->steps[2].ramp_points, 8);
	ck_assert(s->steps[2].end_usec == 180 * USEC_PER_SEC);
	ck_assert(s->method_usec == 180 * USEC_PER_SEC);

	ck_assert_int_eq(scenario_timeline(s, &a, &n), 0);
	/* step 1: apply+revert, step 2: apply+revert, step 3: 8 points + revert */
	ck_assert_uint_eq(n, 13);
	ck_assert(a[0].at_usec == 0 && a[0].type == SCENARIO_APPLY && a[0].step == 0);
	ck_assert(a[0].fault.delay_ms == 200 && a[0].fault.jitter_ms == 20);
	ck_assert(a[1].at_usec == 30 * USEC_PER_SEC && a[1].step == 1);
	/* at 60 s: both ends come before the ramp's first point on the same edge */
	ck_assert(a[2].at_usec == 60 * USEC_PER_SEC && a[2].type == SCENARIO_REVERT);
	ck_assert(a[3].at_usec == 60 * USEC_PER_SEC && a[3].type == SCENARIO_REVERT);
	ck_assert(a[4].type == SCENARIO_APPLY && a[4].step == 2 && a[4].fault.delay_ms == 50);
	ck_assert(a[4].fault.duration_usec == 120 * USEC_PER_SEC);
	ck_assert(a[5].at_usec == 75 * USEC_PER_SEC);
	ck_assert_msg(a[5].fault.delay_ms > 157.1 && a[5].fault.delay_ms < 157.2, "%f",
			a[5].fault.delay_ms);
	ck_assert(a[11].fault.delay_ms == 800 && a[11].at_usec == 165 * USEC_PER_SEC);
	ck_assert(a[12].type == SCENARIO_REVERT && a[12].at_usec == 180 * USEC_PER_SEC);
	free(a);
	scenario_free(s);
}
END_TEST

START_TEST(test_defaults_and_forms)
{
	struct scenario *s = load_ok("[probe db]\ntype = tcp\ntarget = [fd00::5]:5432\n"
				     "[probe c]\ntype = exec\ntarget = test -e /tmp\n"
				     "[step a]\nat=5s\nfault=loss\nedge=x\npercent=1\nfor=10s\n"
				     "[step b]\nat=0\nfault=partition\nedge=y");
	struct fault peak;

	ck_assert_str_eq(s->name, "t"); /* from the file name */
	ck_assert_int_eq(s->probes[0].family, AF_INET6);
	ck_assert_uint_eq(s->probes[0].port, 5432);
	ck_assert(s->probes[0].interval_usec == USEC_PER_SEC);
	ck_assert(s->probes[0].timeout_usec == 2 * USEC_PER_SEC);
	ck_assert_str_eq(s->probes[1].target, "test -e /tmp");
	ck_assert(s->steady_state_usec == 0);
	/* b has no end of its own: it lasts the method */
	ck_assert(s->steps[1].end_usec == 15 * USEC_PER_SEC);
	ck_assert(s->max_duration_usec == 60 * USEC_PER_SEC);
	ck_assert_int_eq(scenario_step_peak(&s->steps[0], &peak), 0);
	ck_assert(peak.percent == 1);
	scenario_free(s);

	s = load_ok("[scenario]\nallow_overlap = yes\nlease = 30s\n"
		    "[step a]\nat=0\nfault=latency\nedge=x\nms=10\nfor=1m\n"
		    "[step b]\nat=10s\nfault=rate\nedge=x\nramp = 10mbit..1mbit over 20s in 3 "
		    "steps");
	ck_assert(s->lease_usec == 30 * USEC_PER_SEC);
	ck_assert(s->steps[1].ramp_from == 10000 && s->steps[1].ramp_to == 1000);
	ck_assert_int_eq(scenario_step_peak(&s->steps[1], &peak), 0);
	ck_assert(peak.rate_kbit == 10000);
	ck_assert(!s->steps[0].require_traffic);
	scenario_free(s);

	s = load_ok("[step a]\nat=0\nfault=latency\nedge=x\nms=10\nfor=1m\nrequire_traffic = yes\n");
	ck_assert(s->steps[0].require_traffic);
	scenario_free(s);
	load_fails("[step a]\nat=0\nfault=latency\nedge=x\nms=10\nfor=1m\nrequire_traffic = "
		   "maybe\n",
			"t.ini:7: [step a] require_traffic = 'maybe': not a boolean (allowed: yes, "
			"no)");
}
END_TEST

START_TEST(test_errors_collected)
{
	/* Every error, each with file:line, section, key and value, and nothing returned. */
	load_fails("[scenario]\nmax_duration = soon\nbogus = 1\n"
		   "[probe p]\ntype = smtp\ntarget = http://example.com/\n"
		   "abort_when = latency > 3\n"
		   "[step 1]\nat = 0s\nfault = latency\nedge = db\nms = -5\n",
			"t.ini:2: [scenario] max_duration = 'soon': not a time between 1s and 7d "
			"(e.g. 30s, 10m)\n"
			"t.ini:3: [scenario] bogus = '1': unknown key (allowed: name, description, "
			"max_duration, steady_state_duration, lease, allow_overlap, seed, hosts)\n"
			"t.ini:5: [probe p] type = 'smtp': unknown probe type (allowed: http, tcp, "
			"exec, prometheus)\n"
			"t.ini:7: [probe p] abort_when = 'latency > 3': unknown measure 'latency' "
			"(allowed: success_rate, availability, failure_rate, p50, p95, p99, value)\n"
			"t.ini:4: [probe p]: 'type' is missing (allowed: http, tcp, exec, prometheus)\n"
			"t.ini:12: [step 1]: ms: '-5' is out of range (0-3600000)");
}
END_TEST

START_TEST(test_partition_modes)
{
	struct scenario *s = load_ok("[step cut]\nat = 0\nfault = partition\nedge = db\n"
				     "mode = reject\nconnections = established\nfor = 30s\n");

	ck_assert_int_eq(s->steps[0].fault.kind, FAULT_PARTITION);
	ck_assert_int_eq(s->steps[0].fault.mode, FAULT_MODE_REJECT);
	ck_assert_int_eq(s->steps[0].fault.connections, FAULT_CONN_ESTABLISHED);
	scenario_free(s);
	load_fails("[step cut]\nat = 0\nfault = partition\nedge = db\nmode = refuse\nfor = 30s\n",
			"t.ini:5: [step cut]: mode: 'refuse' is not valid (allowed: drop, reject)");
	load_fails("[step cut]\nat = 0\nfault = latency\nms = 5\nedge = db\nconnections = new\n"
		   "for = 30s\n",
			"t.ini:6: [step cut]: key 'connections' does not apply to fault 'latency' "
			"(valid: ms, jitter, correlation, distribution, direction, flows, for, "
			"lease)");
}
END_TEST

START_TEST(test_errors_steps)
{
	load_fails("[step 1]\nat=0\nfault=latency\nedge=db\nms=100\nfor=30s\n"
		   "[step 2]\nat=10s\nfault=latency\nedge=db\nms=200\nfor=30s\n",
			"t.ini:7: [step 2]: overlaps step '1' (line 1) on edge 'db' (10s..30s): one "
			"fault of a kind per edge at a time");
	load_fails("[step 1]\nat=0\nfault=latency\nedge=db\nms=100\nfor=30s\n"
		   "[step 2]\nat=10s\nfault=loss\nedge=db\npercent=2\nfor=30s\n",
			"t.ini:7: [step 2]: overlaps step '1' (line 1) on edge 'db' (10s..30s) "
			"(allowed: one fault per edge at a time, or allow_overlap = yes in "
			"[scenario])");
	load_fails("[step x]\nfault=latency\nms=1\n",
			"t.ini:1: [step x]: 'at' is missing (when the step starts, e.g. at = 30s)");
	load_fails("[step x]\nat=0\nedge=e\nfault=latency\nms=1\n",
			"t.ini:1: [step x]: the step has no end: give 'for' (no other step ends "
			"after it starts)");
	load_fails("[step x]\nat=0\nedge=e\nfault=latency\nramp = 50..10 over 1m in 1 steps\n",
			"t.ini:5: [step x] ramp = '50..10 over 1m in 1 steps': 1 steps (allowed: "
			"2-100)");
	load_fails("[step x]\nat=0\nedge=e\nfault=latency\nms=5\nramp = 1..2 over 1m\n",
			"t.ini:5: [step x] ms = '5': the ramp sets this key (allowed: either the key "
			"or the ramp)");
	load_fails("[step x]\nat=0\nedge=e\nfault=loss\nlease=5s\npercent=1\nfor=1m\n",
			"t.ini:5: [step x] lease = '5s': a step cannot hold its own lease (allowed: "
			"lease in [scenario], for the whole run)");
	load_fails("[scenario]\nmax_duration = 30s\n[step x]\nat=0\nedge=e\nfault=loss\n"
		   "percent=1\nfor=1m\n",
			"t.ini:2: [scenario] max_duration = '30s': shorter than the plan: steady "
			"state twice and the method take 1m");
	load_fails("[probe p]\ntype=tcp\ntarget=127.0.0.1:1\ntimeout=2s\n"
		   "abort_when = failure_rate > 10% over 3s\n[step x]\nat=0\nedge=e\nfault=loss\n"
		   "percent=1\nfor=1m\n",
			"t.ini:5: [probe p] abort_when = 'failure_rate > 10% over 3s': the window 3s is "
			"shorter than twice the probe's timeout or interval (2s): it could never "
			"gather the samples an abort needs");
	load_fails("[scenario]\n", "t.ini:1: no [step NAME] section: a scenario needs at least "
				   "one fault");
	load_fails("[steps 1]\nat=0\n[step 2\n  indented = 1\nnovalue\n",
			"t.ini:1: [steps 1]: unknown section (allowed: [scenario], [probe NAME], "
			"[step NAME])\n"
			"t.ini:3: syntax error: '[step 2' has no ']' (allowed: [scenario], [probe "
			"NAME], [step NAME])\n"
			"t.ini:4: indented line (allowed: key = value at the start of a line; "
			"continuation lines are not supported)\n"
			"t.ini:5: syntax error: 'novalue' (allowed: [section], key = value, ';' or "
			"'#' comments)");
	load_fails("[probe h]\ntype=http\ntarget=ftp://10.0.0.1/\n[step 1]\nat=0\nfault=loss\n"
		   "edge=e\npercent=1\nfor=1s\n",
			"t.ini:1: [probe h] target = 'ftp://10.0.0.1/': not an http or https URL "
			"(allowed: http[s]://HOST[:PORT]/PATH)");
}
END_TEST

#define STEP "[step 1]\nat=0\nfault=loss\nedge=e\npercent=1\nfor=1s\n"

/* https, status ranges, body matches, redirects and prometheus probes. */
START_TEST(test_probe_web)
{
	struct scenario *s = load_ok("[probe a]\ntype=http\ntarget=https://api.example.com:8443/"
				     "healthz?full=1\nexpect_status = 200-299\nexpect_body = \"ok\": "
				     "true\nca_file = /etc/chaosd/ca.pem\nfollow_redirects = yes\n"
				     "[probe m]\ntype = prometheus\ntarget = http://10.0.0.9:9090\n"
				     "query = ALERTS{alertname=\"High\",alertstate=\"firing\"}\n"
				     "interval = 1s\ntimeout = 1s\n"
				     "abort_when = value > 0 over 2s\nsteady_state = value <= 0.05\n"
				     "[probe i]\ntype=http\ntarget=https://[fd00::1]/\ntls_verify=no\n"
				     STEP
				     "[step 2]\nat=2s\nfault=latency\nms=5\nedge=f\nfor=1s\n"
				     "until = m value >= 3.5 over 2s\n");
	const struct scenario_probe *a = &s->probes[0], *m = &s->probes[1], *i = &s->probes[2];
	char buf[64];

	ck_assert(a->tls && a->by_name && a->port == 8443 && a->follow_redirects && a->tls_verify);
	ck_assert_uint_eq(a->expect_status[0], 200);
	ck_assert_uint_eq(a->expect_status[1], 299);
	ck_assert_str_eq(a->expect_body, "\"ok\": true");
	ck_assert_str_eq(a->ca_file, "/etc/chaosd/ca.pem");
	ck_assert_str_eq(a->path, "/healthz?full=1");
	ck_assert_int_eq(m->type, SCENARIO_PROBE_PROMETHEUS);
	ck_assert(!m->tls && !m->by_name && m->port == 9090);
	ck_assert_str_eq(m->query, "ALERTS{alertname=\"High\",alertstate=\"firing\"}");
	ck_assert_int_eq(m->abort_when.metric, SCENARIO_VALUE);
	ck_assert_str_eq(scenario_cond_format(&m->abort_when, buf, sizeof(buf)),
			"value > 0 over 2s");
	ck_assert_str_eq(scenario_cond_format(&m->steady_state, buf, sizeof(buf)),
			"value <= 0.05 over 10s");
	ck_assert_str_eq(scenario_cond_format(&s->steps[1].timing.until, buf, sizeof(buf)),
			"value >= 3.5 over 2s");
	ck_assert(i->tls && !i->tls_verify && i->port == 443 && i->family == AF_INET6);
	scenario_free(s);

	load_fails("[probe a]\ntype=http\ntarget=http://h/\nexpect_status = 299-200\n" STEP,
			"t.ini:4: [probe a] expect_status = '299-200': not an HTTP status or range "
			"(allowed: 100-599, e.g. 200 or 200-299, the lower first)");
	load_fails("[probe a]\ntype=http\ntarget=http://h/\nexpect_status = 2xx\n" STEP,
			"t.ini:4: [probe a] expect_status = '2xx': not an HTTP status or range "
			"(allowed: 100-599, e.g. 200 or 200-299, the lower first)");
	load_fails("[probe a]\ntype=http\ntarget=http://h/\nca_file = ca.pem\n" STEP,
			"t.ini:4: [probe a] ca_file = 'ca.pem': not an absolute path of at most 511 "
			"bytes");
	load_fails("[probe a]\ntype=http\ntarget=http://h/\nca_file = /ca.pem\ntls_verify=no\n"
		   STEP, "t.ini:1: [probe a] ca_file = '/ca.pem': only for https targets (this probe: type = "
			 "http, target http://h/)\n"
			 "t.ini:1: [probe a] tls_verify = 'no': only for https targets (this probe: type = "
			 "http, target http://h/)\n"
			 "t.ini:1: [probe a] ca_file = '/ca.pem': and tls_verify = no contradict each "
			 "other (allowed: one of them)");
	load_fails("[probe a]\ntype=tcp\ntarget=10.0.0.1:80\nexpect_body=x\nquery=up\n"
		   "abort_when = value > 1\n" STEP,
			"t.ini:1: [probe a] expect_body = 'x': only for type = http (this probe: "
			"type = tcp, target 10.0.0.1:80)\n"
			"t.ini:1: [probe a] query = 'up': only for type = prometheus (this probe: "
			"type = tcp, target 10.0.0.1:80)\n"
			"t.ini:6: [probe a] abort_when = 'value > 1 over 10s': 'value' is a "
			"prometheus probe's query value (allowed here: success_rate, failure_rate, "
			"p50, p95, p99)");
	load_fails("[probe a]\ntype=tcp\ntarget=db.example.com:5432\n" STEP,
			"t.ini:1: [probe a] target = 'db.example.com:5432': not ADDRESS:PORT "
			"(allowed: 10.0.0.1:5432, [fd00::1]:80, localhost:8080; IP literals only)");
	load_fails("[probe m]\ntype=prometheus\ntarget=http://10.0.0.1:9090/api?x=1\n" STEP,
			"t.ini:1: [probe m] target = 'http://10.0.0.1:9090/api?x=1': a Prometheus URL "
			"has no query or fragment (allowed: http[s]://HOST[:PORT][/PREFIX]; the query "
			"is the 'query' key)\n"
			"t.ini:1: [probe m]: 'query' is missing (a prometheus probe reads the value of "
			"a PromQL query)");
	load_fails("[probe m]\ntype=prometheus\ntarget=http://u:p@10.0.0.1:9090\nquery=up\n"
		   "expect_body = x\nabort_when = value > 1e3\n" STEP,
			"t.ini:6: [probe m] abort_when = 'value > 1e3': '1e3' is not a value (allowed: "
			"a decimal number such as 0.05, -3 or 100, no exponent)\n"
			"t.ini:1: [probe m] target = 'http://u:p@10.0.0.1:9090': bad host or port "
			"(allowed: an IPv4 literal, [IPv6], localhost or a DNS name, then :PORT "
			"1-65535; no user:password@)\n"
			"t.ini:1: [probe m] expect_body = 'x': only for type = http (this probe: "
			"type = prometheus, target http://u:p@10.0.0.1:9090)");
	/* a value needs two samples in a row in its window: interval + timeout at the least */
	load_fails("[probe m]\ntype=prometheus\ntarget=http://10.0.0.1:9090\nquery=up\n"
		   "interval=1s\ntimeout=500ms\nabort_when = value > 1 over 1400ms\n" STEP,
			"t.ini:7: [probe m] abort_when = 'value > 1 over 1s400ms': the window 1s400ms "
			"is shorter than the probe's interval and timeout (1s500ms): it could never "
			"hold the two values an abort needs");
	load_ok_free("[probe m]\ntype=prometheus\ntarget=http://10.0.0.1:9090\nquery=up\n"
		     "interval=1s\ntimeout=500ms\nabort_when = value > 1 over 1500ms\n" STEP);
	load_fails("[probe a]\ntype=http\ntarget=http://-bad-.example/\n" STEP,
			"t.ini:1: [probe a] target = 'http://-bad-.example/': bad host or port "
			"(allowed: an IPv4 literal, [IPv6], localhost or a DNS name, then :PORT "
			"1-65535; no user:password@)");
	load_fails("[probe a]\ntype=http\ntarget=http://h/\n" STEP
		   "until = a value > 1 over 4s\n",
			"t.ini:4: [step 1]: until: 'value' is a prometheus probe's query value and a "
			"is a http probe");
}
END_TEST

/* The dialect of src/ini.c, the same as chaosd.conf's. */
START_TEST(test_dialect)
{
	struct scenario *s = load_ok("\xEF\xBB\xBF[scenario] ; comment\r\nname: dialect\r\n"
				     "[probe p]\r\ntype = tcp\r\ntarget = 127.0.0.1:80 # db\r\n"
				     "[step 1]\r\nat = 0\r\nfault = loss\r\nedge = e\r\n"
				     "percent = 1 ; one\r\nfor = 1s\r\n");

	ck_assert_str_eq(s->name, "dialect");
	ck_assert_str_eq(s->probes[0].target, "127.0.0.1:80");
	ck_assert_uint_eq(s->probes[0].port, 80);
	/* the table's defaults */
	ck_assert(s->probes[0].interval_usec == USEC_PER_SEC);
	ck_assert(s->probes[0].timeout_usec == 2 * USEC_PER_SEC);
	ck_assert_uint_eq(s->probes[0].expect_status[0], 200);
	ck_assert_uint_eq(s->probes[0].expect_status[1], 200);
	ck_assert(s->probes[0].tls_verify && !s->probes[0].follow_redirects);
	ck_assert(s->steps[0].fault.percent == 1);
	scenario_free(s);
	load_fails("[step 1]\nat=0\nfault=loss\nedge=e\npercent=1\nfor=1s\n  more\n",
			"t.ini:7: [step 1]: indented line (allowed: key = value at the start of a line; "
			"continuation lines are not supported)");
	load_fails("[step 1]\nat=0\nfault=lost\nedge=e\n",
			"t.ini:3: [step 1] fault = 'lost': unknown fault (allowed: latency, loss, "
			"corrupt, duplicate, reorder, rate, partition)");
	load_fails("[probe p]\ninterval = 5ms\n",
			"t.ini:2: [probe p] interval = '5ms': not a time between 10ms and 1h (e.g. "
			"500ms, 2s)\nt.ini:1: [probe p]: 'type' is missing (allowed: http, tcp, "
			"exec, prometheus)");
}
END_TEST

START_TEST(test_cond)
{
	struct scenario *s = load_ok("[probe p]\ntype=tcp\ntarget=127.0.0.1:1\n"
				     "abort_when = p99 > 5s over 30s\n"
				     "steady_state = availability >= 90%\n"
				     "[step 1]\nat=0\nfault=loss\nedge=e\npercent=1\nfor=1s");
	const struct scenario_cond *a = &s->probes[0].abort_when, *h = &s->probes[0].steady_state;

	ck_assert_int_eq(a->metric, SCENARIO_P99);
	ck_assert(a->threshold == 5e6 && a->window_usec == 30 * USEC_PER_SEC);
	ck_assert(scenario_cond_holds(a, 5.1e6));
	ck_assert(!scenario_cond_holds(a, 5e6));
	ck_assert_int_eq(h->metric, SCENARIO_SUCCESS_RATE);
	ck_assert(h->window_usec == 10 * USEC_PER_SEC); /* default window */
	ck_assert(scenario_cond_holds(h, 90) && !scenario_cond_holds(h, 89.9));
	scenario_free(s);
}
END_TEST

START_TEST(test_keys_documented)
{
	/* Every key the parser accepts in a section is in the table the man page is made of. */
	static const char *const accepted[] = { "scenario:name", "scenario:max_duration",
		"probe:abort_when", "probe:steady_state", "step:ramp", "step:ramp_key" };
	for (unsigned i = 0; i < ELEMENTSOF(accepted); i++) {
		bool found = false;

		for (unsigned k = 0; k < scenario_n_keys; k++) {
			char buf[64];

			snprintf(buf, sizeof(buf), "%s:%s", scenario_keys[k].section,
					scenario_keys[k].name);
			found |= streq(buf, accepted[i]);
		}
		ck_assert_msg(found, "%s", accepted[i]);
	}
}
END_TEST

START_TEST(test_shipped_library)
{
	/* Every scenario installed in /etc/chaosd/scenarios parses as it is, and says what it
	 * rehearses, which edges and probes it expects and what a healthy system shows. */
	char dir[512];
	struct dirent *de;
	unsigned n = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/conf/scenarios", TOP_SRCDIR);
	dp = opendir(dir);
	ck_assert_ptr_nonnull(dp);
	while ((de = readdir(dp))) {
		_cleanup_free_ char *text = NULL;
		struct scenario *s = NULL;
		char path[1024];
		struct diag d;
		size_t len = 0;
		FILE *f;

		if (!strstr(de->d_name, ".ini"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		diag_init(&d);
		ck_assert_msg(scenario_load(path, &s, &d) == 0, "%s", d.text);
		ck_assert_uint_ge(s->n_steps, 1);
		f = fopen(path, "re");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_ge(getdelim(&text, &len, '\0', f), 0);
		fclose(f);
		ck_assert_msg(text[0] == '#' && strstr(text, "\n# Edges (example chaosd.conf): ") &&
				strstr(text, "Probes: ") && strstr(text, "\n# A healthy system"),
				"%s: the comment on top says what it rehearses, its edges and probes "
				"and what a healthy system shows", de->d_name);
		scenario_free(s);
		n++;
	}
	closedir(dp);
	/* db-brownout, progressive-rollout and the seven patterns of the texts */
	ck_assert_uint_ge(n, 8);
}
END_TEST

/* Probabilistic steps: a window, a chance per interval, a random edge. */
static const char schedule_text[] =
	"[scenario]\n"
	"seed = 42\n"
	"[probe api]\n"
	"type = tcp\n"
	"target = 127.0.0.1:80\n"
	"[step window]\n"
	"at = random 1m..5m\n"
	"fault = loss\n"
	"edge = random(db, cache, queue)\n"
	"percent = 5\n"
	"for = 30s\n"
	"[step dice]\n"
	"at = 10s\n"
	"chance = 10% every 30s\n"
	"start_within = 10m\n"
	"fault = latency\n"
	"edge = api\n"
	"ms = preset:cross-region\n"
	"for = 1m\n"
	"[step cond]\n"
	"at = 0s\n"
	"start_when = api p50 > 20ms over 10s\n"
	"start_within = 5m\n"
	"until = api failure_rate > 5% over 10s\n"
	"fault = loss\n"
	"edge = web\n"
	"percent = 50\n"
	"for = 2m\n";

static void plan_of(struct scenario *s, uint64_t seed, char *buf, size_t n)
{
	_cleanup_free_ struct scenario_action *a = NULL;
	unsigned na = 0;
	size_t off = 0;

	schedule_resolve(s, seed);
	ck_assert_int_eq(scenario_timeline(s, &a, &na), 0);
	buf[0] = '\0';
	for (unsigned i = 0; i < na && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, "%llu %d %s %s;",
				(unsigned long long)a[i].at_usec, (int)a[i].type,
				s->steps[a[i].step].name, s->steps[a[i].step].edge);
}

START_TEST(test_schedule_seed)
{
	struct scenario *s = load_ok(schedule_text);
	char p1[2048], p2[2048], p3[2048];
	unsigned differ = 0, edges[3] = { 0 };

	/* The file's seed is the run's; the same seed gives the same plan. */
	ck_assert_uint_eq(s->seed, 42);
	plan_of(s, 42, p1, sizeof(p1));
	plan_of(s, 42, p2, sizeof(p2));
	ck_assert_str_eq(p1, p2);
	/* Bounds as parsed, for the limits and the overlap checks: the latest end. */
	ck_assert_uint_eq(s->method_usec, 10 * USEC_PER_SEC + 10 * 60 * USEC_PER_SEC +
			60 * USEC_PER_SEC);
	for (uint64_t seed = 1; seed <= 2000; seed++) {
		const struct scenario_step *w = &s->steps[0], *d = &s->steps[1];

		plan_of(s, seed, p3, sizeof(p3));
		differ += !streq(p3, p1);
		/* never outside the window, whole milliseconds */
		ck_assert_uint_ge(w->at_usec, 60 * USEC_PER_SEC);
		ck_assert_uint_le(w->at_usec, 300 * USEC_PER_SEC);
		ck_assert_uint_eq(w->at_usec % USEC_PER_MSEC, 0);
		ck_assert_uint_eq(w->end_usec, w->at_usec + 30 * USEC_PER_SEC);
		ck_assert_uint_eq(w->fault.duration_usec, 30 * USEC_PER_SEC);
		edges[streq(w->edge, "db") ? 0 : streq(w->edge, "cache") ? 1 : 2]++;
		ck_assert(streq(w->edge, "db") || streq(w->edge, "cache") ||
				streq(w->edge, "queue"));
		/* a chance hit lands on a try: at + k * every, k * every <= start_within */
		if (d->timing.skipped)
			ck_assert_str_eq(d->timing.trigger, "skipped: chance 10% every 30s missed "
					"all 21 tries from 10s");
		else {
			ck_assert_uint_eq((d->at_usec - 10 * USEC_PER_SEC) % (30 * USEC_PER_SEC), 0);
			ck_assert_uint_le(d->at_usec, 10 * USEC_PER_SEC + 600 * USEC_PER_SEC);
			ck_assert_uint_eq(d->timing.tries,
					(d->at_usec - 10 * USEC_PER_SEC) / (30 * USEC_PER_SEC) + 1);
		}
		ck_assert_uint_le(s->steps[2].end_usec, s->method_usec);
	}
	/* Different seeds give different plans, and every edge is chosen. */
	ck_assert_uint_ge(differ, 1990);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_gt(edges[i], 500);
	/* The condition step waits from at; its trigger says so. */
	ck_assert_str_eq(s->steps[2].timing.trigger, "when api p50 > 20ms over 10s, from 0s within "
			"5m; until api failure_rate > 5% over 10s, at most 2m");
	ck_assert_uint_eq(s->steps[2].timing.until_probe, 0);
	/* The preset: the middle, half the span as jitter, a long tail. */
	ck_assert(s->steps[1].fault.delay_ms == 55);
	ck_assert(s->steps[1].fault.jitter_ms == 25);
	scenario_free(s);
}
END_TEST

START_TEST(test_schedule_chance_rate)
{
	/* Over many seeds a 10% chance hits the first try about one run in ten. */
	struct scenario *s = load_ok("[step x]\nat=0\nchance = 10% every 1s\nstart_within = 1s\n"
				     "edge=e\nfault=loss\npercent=1\nfor=1s\n");
	unsigned first = 0, skipped = 0;

	for (uint64_t seed = 0; seed < 10000; seed++) {
		schedule_resolve(s, seed);
		first += s->steps[0].timing.tries == 1;
		skipped += s->steps[0].timing.skipped;
	}
	ck_assert_uint_gt(first, 850);
	ck_assert_uint_lt(first, 1150);
	/* two tries (0s and 1s) both missing: 81% */
	ck_assert_uint_gt(skipped, 7800);
	ck_assert_uint_lt(skipped, 8400);
	scenario_free(s);
}
END_TEST

START_TEST(test_schedule_errors)
{
	static const char head[] = "[probe api]\ntype=tcp\ntarget=127.0.0.1:1\n[step x]\n"
				   "edge=e\nfault=loss\npercent=1\n";
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "at = random 5m..1m\nfor=1m\n", "t.ini:8: [step x] at = 'random 5m..1m': not a "
		  "window (allowed: random LO..HI with LO < HI <= 7d, e.g. 'random 1m..5m')" },
		{ "at = 0\nchance = 10%\nstart_within=1m\nfor=1m\n", "t.ini:9: [step x] chance = "
		  "'10%': not a chance (allowed: P% every TIME, P above 0% up to 100%, TIME "
		  "100ms..1d, e.g. '10% every 30s')" },
		{ "at = 0\nchance = 10% every 30s\nfor=1m\n", "t.ini:4: [step x]: chance needs "
		  "start_within (how long after 'at' the step may still start; after it the step is "
		  "skipped)" },
		{ "at = random 0s..1m\nstart_when = api p50 > 1s\nstart_within=1m\nfor=1m\n",
		  "t.ini:4: [step x]: 'at = random' with start_when (allowed: a fixed at, from which "
		  "the step waits for the condition)" },
		{ "at = 0\nuntil = api failure_rate > 5%\n", "t.ini:4: [step x]: until needs 'for' as "
		  "its cap (a step never lasts unbounded)" },
		{ "at = 0\nuntil = db failure_rate > 5%\nfor=1m\n", "t.ini:4: [step x]: until: no "
		  "probe 'db' (allowed: a [probe NAME] of this file)" },
		{ "at = 0\nstart_when = api latency > 5\nstart_within=1m\nfor=1m\n", "t.ini:9: [step "
		  "x] start_when = 'api latency > 5': unknown measure 'latency' (allowed: "
		  "success_rate, availability, failure_rate, p50, p95, p99, value), after the "
		  "probe's "
		  "name" },
		{ "at = 0\nstart_within=1m\nfor=1m\n", "t.ini:4: [step x]: start_within without "
		  "chance or start_when" },
		{ "at = 0\nfault=latency\nms = preset:moon\nfor=1m\n", NULL },
	};

	for (unsigned i = 0; i < ELEMENTSOF(cases); i++) {
		char text[1024];

		snprintf(text, sizeof(text), "%s%s", head, cases[i].text);
		if (i == ELEMENTSOF(cases) - 1) {
			/* the allowed names are listed */
			struct scenario *s = SENTINEL;
			struct diag d;

			snprintf(text, sizeof(text), "[step x]\nedge=e\nfault=latency\nat=0\n"
					"ms = preset:moon\nfor=1m\n");
			diag_init(&d);
			ck_assert_int_lt(scenario_load_string(text, strlen(text), "t.ini", &s, &d),
					0);
			ck_assert_msg(strstr(d.text, "t.ini:5: [step x] ms = 'preset:moon': unknown "
					"preset (allowed: same-rack 0.1-0.5ms, same-dc 0.5-2ms, "
					"cross-zone 1-5ms, cross-region 30-80ms, intercontinental "
					"150-200ms)"), "%s", d.text);
			continue;
		}
		load_fails(text, cases[i].want);
	}
	load_fails("[step x]\nat=0\nedge = random(a)\nfault=loss\npercent=1\nfor=1m\n",
			"t.ini:3: [step x] edge = 'random(a)': random() needs at least two edges to "
			"choose from");
	load_fails("[step x]\nat=0\nedge = random(a, a)\nfault=loss\npercent=1\nfor=1m\n",
			"t.ini:3: [step x] edge = 'random(a, a)': edge 'a' is listed twice");
	/* Random edges meet on a shared one: overlap is checked over every possible time. */
	load_fails("[step a]\nat=random 0s..1m\nedge=random(x, y)\nfault=loss\npercent=1\nfor=10s\n"
		   "[step b]\nat=65s\nedge=random(y, z)\nfault=loss\npercent=1\nfor=10s\n",
			"t.ini:7: [step b]: overlaps step 'a' (line 1) on edge 'y' (1m5s..1m10s): one "
			"fault of a kind per edge at a time");
}
END_TEST

START_TEST(test_topology_steps)
{
	static const char group[] = "[scenario]\nhosts = a, b, c\nseed = 5\n"
				    "[step cut]\nat = 2s\nfault = partition\ntopology = isolate:a\n"
				    "for = 6s\n"
				    "[step slow]\nat = 0s\nfault = latency\nedge = b\nms = 5\nfor = 1s\n";
	struct scenario *s = load_ok(group);
	struct diag d;

	ck_assert_uint_eq(s->hosts.n, 3);
	ck_assert(s->steps[0].has_topology);
	/* a host of the group not named: refused naming the key and how to give the name */
	diag_init(&d);
	ck_assert_int_eq(scenario_topology_expand(s, NULL, &d), -EINVAL);
	ck_assert_str_eq(d.text, "t.ini:4: [step cut] topology = 'isolate:a': this host's name "
			"in the group is not known: run the scenario on the group with chaosctl -H "
			"NAME=URL,... (or give --host-name NAME, one of [scenario] hosts)");
	diag_init(&d);
	ck_assert_int_eq(scenario_topology_expand(s, "d", &d), -EINVAL);
	ck_assert_str_eq(d.text, "t.ini:4: [step cut] topology = 'isolate:a': host 'd' is not in "
			"[scenario] hosts");
	ck_assert_uint_eq(s->n_steps, 2);
	/* a, isolated, cuts b and c: two partition steps with the step's timing */
	ck_assert_int_eq(scenario_topology_expand(s, "a", &d), 0);
	ck_assert_uint_eq(s->n_steps, 3);
	ck_assert_str_eq(s->steps[0].edge, "b");
	ck_assert_str_eq(s->steps[1].edge, "c");
	ck_assert_str_eq(s->steps[1].name, "cut");
	ck_assert_uint_eq(s->steps[1].at_usec, 2 * USEC_PER_SEC);
	ck_assert_uint_eq(s->steps[1].fault.duration_usec, 6 * USEC_PER_SEC);
	ck_assert_int_eq(s->steps[1].fault.kind, FAULT_PARTITION);
	ck_assert_str_eq(s->steps[2].edge, "b");
	scenario_free(s);
	/* b cuts only a */
	s = load_ok(group);
	ck_assert_int_eq(scenario_topology_expand(s, "b", &d), 0);
	ck_assert_uint_eq(s->n_steps, 2);
	ck_assert_str_eq(s->steps[0].edge, "a");
	scenario_free(s);

	/* bridge:b: b reaches both halves and cuts nobody; a and c cut each other */
	s = load_ok("[scenario]\nhosts = a, b, c\n[step br]\nat = 0\nfault = partition\n"
		    "topology = bridge:b\nfor = 5s\n");
	ck_assert_int_eq(scenario_topology_expand(s, "b", &d), 0);
	ck_assert_uint_eq(s->n_steps, 0);
	scenario_free(s);
	s = load_ok("[scenario]\nhosts = a, b, c\n[step br]\nat = 0\nfault = partition\n"
		    "topology = bridge:b\nfor = 5s\n");
	ck_assert_int_eq(scenario_topology_expand(s, "c", &d), 0);
	ck_assert_uint_eq(s->n_steps, 1);
	ck_assert_str_eq(s->steps[0].edge, "a");
	scenario_free(s);
	/* a partition step on a peer edge that this host's topology cut overlaps: refused */
	s = load_ok("[scenario]\nhosts = a, b, c\n[step iso]\nat = 0\nfault = partition\n"
		    "topology = isolate:a\nfor = 5s\n[step one]\nat = 2s\nfault = partition\n"
		    "edge = c\nfor = 5s\n");
	diag_init(&d);
	ck_assert_int_eq(scenario_topology_expand(s, "a", &d), -EINVAL);
	ck_assert_str_eq(d.text, "t.ini:8: [step one]: on host a it overlaps step 'iso' (line 3) "
			"on edge 'c': one fault of a kind per edge at a time");
	ck_assert_uint_eq(s->n_steps, 2);
	diag_init(&d);
	ck_assert_int_eq(scenario_topology_expand(s, "b", &d), 0); /* b does not cut c */
	scenario_free(s);

	load_fails("[step cut]\nat = 0\nfault = partition\ntopology = isolate:a\nfor = 5s\n",
			"t.ini:1: [step cut] topology = 'isolate:a': needs the group in [scenario] "
			"hosts (e.g. hosts = a, b, c)");
	load_fails("[scenario]\nhosts = a, b\n[step cut]\nat = 0\nfault = partition\n"
		   "topology = isolate:x\nfor = 5s\n",
			"t.ini:3: [step cut] topology = 'isolate:x': topology isolate:x: no host 'x' (hos"
			"ts: a, b) (hosts from [scenario] hosts)");
	load_fails("[scenario]\nhosts = a, b\n[step cut]\nat = 0\nfault = partition\n"
		   "topology = ring\nfor = 5s\n",
			"t.ini:6: [step cut] topology = 'ring': topology 'ring': unknown (allowed: isolat"
			"e:HOST, halves, majorities-ring, bridge:HOST)");
	load_fails("[scenario]\nhosts = a, b\n[step cut]\nat = 0\nfault = loss\npercent = 5\n"
		   "topology = halves\nfor = 5s\n",
			"t.ini:3: [step cut] topology = 'halves': a topology step is a partition (fault ="
			" partition, no ramp)");
	load_fails("[scenario]\nhosts = a, b\n[step cut]\nat = 0\nfault = partition\nedge = a\n"
		   "topology = halves\nfor = 5s\n",
			"t.ini:3: [step cut] topology = 'halves': 'edge' and 'topology' exclude each othe"
			"r (topology: the peer edges are the hosts of [scenario] hosts)");
	load_fails("[scenario]\nhosts = a, b\n[step cut]\nat = 0\nfault = partition\n"
		   "topology = majorities-ring\nfor = 5s\n",
			"t.ini:3: [step cut] topology = 'majorities-ring': topology majorities-ring needs"
			" at least 3 hosts, not 2 (hosts from [scenario] hosts)");
	load_fails("[scenario]\nhosts = a\n[step c]\nat = 0\nfault = loss\npercent = 1\n"
		   "edge = a\n",
			"t.ini:2: [scenario] hosts = 'a': a group needs at least two hosts (e.g. "
			"hosts = a, b, c)");
	load_fails("[scenario]\nhosts = a, b, a\n[step c]\nat = 0\nfault = loss\npercent = 1\n"
		   "edge = a\n", "t.ini:2: [scenario] hosts = 'a, b, a': host 'a' is listed twice");
	load_fails("[scenario]\nhosts = a, b c\n[step c]\nat = 0\nfault = loss\npercent = 1\n"
		   "edge = a\n",
			"t.ini:2: [scenario] hosts = 'a, b c': 'b c' is not a host name (allowed: "
			"edge names of at most 32 characters, separated by commas, e.g. a, b, c)");
	load_fails("[step c]\nat = 0\nfault = partition\nfor = 5s\n",
			"t.ini:1: [step c]: 'edge' is missing (or topology = SPEC)");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scenario");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_example);
	tcase_add_test(tc, test_defaults_and_forms);
	tcase_add_test(tc, test_errors_collected);
	tcase_add_test(tc, test_errors_steps);
	tcase_add_test(tc, test_partition_modes);
	tcase_add_test(tc, test_dialect);
	tcase_add_test(tc, test_cond);
	tcase_add_test(tc, test_probe_web);
	tcase_add_test(tc, test_keys_documented);
	tcase_add_test(tc, test_shipped_library);
	tcase_add_test(tc, test_schedule_seed);
	tcase_add_test(tc, test_schedule_chance_rate);
	tcase_add_test(tc, test_schedule_errors);
	tcase_add_test(tc, test_topology_steps);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
