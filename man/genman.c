/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writes chaosd(8), chaosctl(1), chaosd.conf(5) and chaosd.scenario(5) from the tables the code
 * is driven by (daemon_options, proto_verbs, fault_keys, config_keys, scenario_keys), so the man
 * pages cannot drift from --help and the parsers (tests/man-tests.sh checks they say it all). */
#include <inttypes.h>
#include <stdio.h>

#include "config.h"
#include "ctlopt.h"
#include "fault.h"
#include "ini.h"
#include "json.h"
#include "options.h"
#include "parse.h"
#include "proto.h"
#include "topology.h"
#include "scenario.h"
#include "schedule.h"

/* roff: a leading '.' or '\'' would be a request; backslashes must be escaped. */
static void text(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

/* A tagged paragraph's tag: "--NAME METAVAR", the line's end left to the caller. */
static void option_tag(FILE *f, const char *name, const char *metavar)
{
	fprintf(f, ".TP\n\\fB\\-\\-%s\\fR", name);
	if (metavar)
		fprintf(f, " \\fI%s\\fR", metavar);
}

/* The one dialect of chaosd.conf and scenario files (src/ini.c). */
static void syntax(FILE *f)
{
	fprintf(f, ".SH SYNTAX\n");
	text(f, ini_dialect_text);
	fputc('\n', f);
}

static void chaosd_8(FILE *f)
{
	fprintf(f, ".TH CHAOSD 8 \"\" \"chaosd %s\" \"System Administration\"\n", PACKAGE_VERSION);
	fprintf(f, ".SH NAME\nchaosd \\- network fault-injection daemon\n");
	fprintf(f, ".SH SYNOPSIS\n.B chaosd\n[\\fIOPTIONS\\fR]\n");
	fprintf(f, ".SH DESCRIPTION\nchaosd applies network faults (netem latency, jitter, loss, "
		   "corruption, duplication, reordering, rate limits, and partitions) to the edges "
		   "defined in chaosd.conf(5), through netlink, on request of chaosctl(1). Every "
		   "fault has a deadline. chaosd never replaces an interface's root qdisc: it "
		   "redirects an edge's traffic from a clsact qdisc to IFB devices it owns (named "
		   "chd\\-o\\fIIFINDEX\\fR and chd\\-i\\fIIFINDEX\\fR; past 512 edges also "
		   "chd\\-o\\fIIFINDEX\\fRs1, chd\\-i\\fIIFINDEX\\fRs1 and on) and drops "
		   "partitioned traffic in its own nftables table \\fBinet chaosd\\fR.\n.PP\n"
		   "On SIGTERM or SIGINT it reverts every fault and exits; SIGHUP re\\-reads the "
		   "configuration (see SIGNALS). Before "
		   "each kernel change it writes its intent to a journal in the state directory; at "
		   "start it removes whatever an earlier instance left in the kernel before "
		   "accepting requests.\n");
	fprintf(f, ".SH OPTIONS\n");
	for (unsigned i = 0; i < daemon_n_options; i++) {
		const struct daemon_option *o = &daemon_options[i];

		fprintf(f, ".TP\n\\fB\\-\\-");
		text(f, o->name);
		fprintf(f, "\\fR");
		if (o->metavar)
			fprintf(f, " \\fI%s\\fR", o->metavar);
		fputc('\n', f);
		text(f, o->help);
		fputc('.', f);
		if (o->doc) {
			fputc(' ', f);
			text(f, o->doc);
		}
		fputc('\n', f);
	}
	/* The reference (man/chaosd.8.in, made a C string by the Makefile); it ends in FILES. */
	static const char reference[] =
#include "man/chaosd.8.h"
		;
	fputs(reference, f);
	fprintf(f, ".TP\n.I %s\nThe configuration, chaosd.conf(5).\n"
		   ".TP\n.I %s\nThe default \\fISTATE_DIR\\fR (chaosd.service uses "
		   "/var/lib/chaosd).\n", CONFIG_DEFAULT_PATH, DAEMON_DEFAULT_STATE_DIR);
	fprintf(f, ".SH SEE ALSO\nchaosctl(1), chaosd.conf(5), chaosd.scenario(5), tc\\-netem(8)\n");
}

static void chaosctl_1(FILE *f)
{
	fprintf(f, ".TH CHAOSCTL 1 \"\" \"chaosd %s\" \"User Commands\"\n", PACKAGE_VERSION);
	fprintf(f, ".SH NAME\nchaosctl \\- control the chaosd network fault-injection daemon\n");
	fprintf(f, ".SH SYNOPSIS\n.B chaosctl\n[\\fIOPTIONS\\fR] \\fIVERB\\fR [\\fIARGS\\fR]\n");
	fprintf(f, ".SH DESCRIPTION\nchaosctl talks to chaosd(8) over its UNIX socket "
		   "(default \\fI%s\\fR, or \\fB$CHAOSD_SOCKET\\fR), or to chaosd on other "
		   "hosts through ssh(1) (\\fB\\-H\\fR). Faults apply to the "
		   "\\fIedges\\fR defined in chaosd.conf(5).\n", PROTO_DEFAULT_SOCKET);
	/* From ctlopt_options[], the table chaosctl parses and prints --help from. */
	fprintf(f, ".SH OPTIONS\n");
	for (unsigned i = 0; i < ctlopt_n_options; i++) {
		const struct ctlopt *o = &ctlopt_options[i];

		option_tag(f, o->name, o->metavar);
		if (o->short_name)
			fprintf(f, " (\\fB\\-%c\\fR)", o->short_name);
		fputc('\n', f);
		text(f, o->help);
		fprintf(f, ".");
		if (o->env)
			fprintf(f, " Without the option: \\fB$%s\\fR.", o->env);
		fputc('\n', f);
	}
	fprintf(f, ".SH VERBS\n");
	for (unsigned i = 0; i < proto_n_verbs; i++) {
		fprintf(f, ".TP\n.B %s", proto_verbs[i].name);
		if (*proto_verbs[i].usage) {
			fputc(' ', f);
			text(f, proto_verbs[i].usage);
		}
		fputc('\n', f);
		text(f, proto_verbs[i].summary);
		fprintf(f, "%s\n", proto_verbs[i].access == PROTO_WRITE ?
				" (root or the socket group)." : ".");
	}
	fprintf(f, ".SH FAULT KINDS\n");
	for (int k = 0; k < _FAULT_KIND_MAX; k++) {
		fprintf(f, ".TP\n.B %s\n", fault_kind_to_string(k));
		text(f, fault_kind_help(k));
		fputc('\n', f);
	}
	fprintf(f, ".SH FAULT OPTIONS\nEach option is also a key of a scenario step.\n");
	for (unsigned i = 0; i < fault_n_keys; i++) {
		const struct fault_key *key = &fault_keys[i];
		char opt[64];
		snprintf(opt, sizeof(opt), "%s", key->name);
		for (char *c = opt; *c; c++)
			if (*c == '_')
				*c = '-';
		fprintf(f, ".TP\n\\fB\\-\\-");
		text(f, opt);
		fprintf(f, "\\fR \\fI%s\\fR\n", key->metavar);
		text(f, key->help);
		fprintf(f, ". Applies to:");
		for (int k = 0; k < _FAULT_KIND_MAX; k++)
			if (key->kinds & (1u << k))
				fprintf(f, " %s%s", fault_kind_to_string(k),
						key->required & (1u << k) ? " (required)" : "");
		fprintf(f, ".\n");
		if (key->choices) {
			fprintf(f, "One of:");
			for (const char *const *c = key->choices; *c; c++)
				fprintf(f, " \\fB%s\\fR", *c);
			fprintf(f, ".\n");
		}
	}
	fprintf(f, ".SH TOPOLOGIES\nWith \\fB\\-H\\fR \\fINAME\\fR=\\fIURL\\fR,... and "
		   "\\fB\\-\\-topology\\fR \\fISPEC\\fR, \\fBinject partition\\fR cuts "
		   "pairs of hosts from each other, both directions on both hosts. A host's "
		   "peers are the edges named after them in its chaosd.conf(5) (on host a, "
		   "\\fB[edge b]\\fR has b's address): chaosctl reads every host's edges "
		   "first, then injects each partition with a lease, host by host; if one host "
		   "refuses or fails, the ones applied are reverted and the command fails "
		   "naming the host and its reason. It then holds the leases until \\fB\\-\\-for"
		   "\\fR ends (Ctrl\\-C heals at once; a chaosctl that dies heals within one "
		   "lease, \\fB\\-\\-lease\\fR, default 15s); \\fB\\-\\-detach\\fR "
		   "applies them without a lease, to the deadline only. The random choices "
		   "come from \\fB\\-\\-seed\\fR \\fIN\\fR (printed; \\fBplan\\fR "
		   "with the same seed shows the same split). \\fISPEC\\fR is one of:\n");
	for (unsigned i = 0; i < ELEMENTSOF(topology_kinds); i++) {
		fprintf(f, ".TP\n.B %s\n", topology_kinds[i].name);
		text(f, topology_kinds[i].help);
		fprintf(f, ".\n");
	}
	/* From ctlopt_group_options[], the table chaosctl parses the group form by. */
	fprintf(f, ".PP\nThe options of this group form (\\fB\\-H\\fR ... "
		   "\\fB\\-\\-topology\\fR):\n");
	for (unsigned i = 0; i < ctlopt_n_group_options; i++) {
		const struct ctlopt_group *o = &ctlopt_group_options[i];

		if (!o->help)
			continue;
		option_tag(f, o->name, o->metavar);
		fputc('\n', f);
		text(f, o->help);
		fprintf(f, ".\n");
	}
	/* From ctlopt_exits[], the numbers chaosctl returns. */
	fprintf(f, ".SH EXIT STATUS\nThe same numbers for every verb; with \\fB\\-H\\fR and several "
		   "hosts the highest of the hosts'.\n");
	for (unsigned i = 0; i < _CTLOPT_EXIT_MAX; i++) {
		fprintf(f, ".TP\n.B %u\n(%s) ", ctlopt_exits[i].code, ctlopt_exits[i].name);
		text(f, ctlopt_exits[i].meaning);
		fprintf(f, ".\n");
	}
	fprintf(f, ".SH JSON OUTPUT\nWith \\fB\\-\\-json\\fR, before or after the verb, chaosctl prints "
		   "one JSON document on standard output, also when it fails (\\fB\"ok\": false\\fR; "
		   "the exit status is the same as without \\fB\\-\\-json\\fR). Each document "
		   "names its schema, \\fB\"schema\": \"chaosd.\\fINAME\\fB/\\fIVERSION\\fB\"\\fR, a "
		   "JSON Schema (draft 2020\\-12) installed as "
		   "\\fI%s/chaosd.NAME\\-VERSION.json\\fR. A field's type depends on its name, "
		   "never on its value; durations and times are integers in microseconds (names "
		   "ending in _us; times since the Unix epoch).\n.PP\nVersions: fields may be added "
		   "within a version, so a reader must ignore the fields it does not know; a field "
		   "removed or renamed, or changed in type or meaning, gets a new version, and the "
		   "old schema file stays.\n", SCHEMADIR);
	for (unsigned i = 0; i < _JSON_DOC_MAX; i++) {
		fprintf(f, ".TP\n.B %s\n", json_docs[i].schema);
		text(f, json_docs[i].command);
		fputc('\n', f);
	}
	fprintf(f, ".SH EXAMPLES\n.nf\nchaosctl inject latency \\-\\-edge db \\-\\-ms 500 "
		   "\\-\\-for 2m\nchaosctl inject loss \\-\\-edge cache \\-\\-percent 5\n"
		   "chaosctl status\nchaosctl kill \\-\\-reason \"pager\"\n"
		   "chaosctl \\-H ssh://ops@db1 status\n"
		   "chaosctl \\-H db1,db2,db3 kill \\-\\-reason \"pager\"\n"
		   "chaosctl \\-H db1,db2,db3 plan \\-\\-topology isolate:db1\n"
		   "chaosctl \\-H db1,db2,db3 inject partition \\-\\-topology halves "
		   "\\-\\-for 2m\n.fi\n");
	fprintf(f, ".SH SEE ALSO\nchaosd(8), chaosd.conf(5)\n");
}

static void chaosd_conf_5(FILE *f)
{
	const char *section = NULL;

	fprintf(f, ".TH CHAOSD.CONF 5 \"\" \"chaosd %s\" \"File Formats\"\n", PACKAGE_VERSION);
	fprintf(f, ".SH NAME\nchaosd.conf \\- chaosd configuration: limits and edges\n");
	fprintf(f, ".SH DESCRIPTION\nAn INI file, by default \\fI%s\\fR. A \\fB[chaosd]\\fR "
		   "section holds limits; each \\fB[edge NAME]\\fR section defines an edge: a "
		   "named destination of the host's traffic. A packet belongs to at most one "
		   "edge: overlapping edges are refused. Errors are reported as "
		   "FILE:LINE with the key, the value and what is allowed; "
		   "\\fBchaosd \\-\\-check\\-config\\fR prints them.\n", CONFIG_DEFAULT_PATH);
	syntax(f);
	for (unsigned i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];

		if (!section || !streq(section, k->section)) {
			section = k->section;
			fprintf(f, ".SH [%s%s]\n", section, streq(section, "edge") ? " NAME" : "");
		}
		char range[64];

		fprintf(f, ".TP\n.B %s\n", k->name);
		text(f, k->help);
		fputc('.', f);
		if (config_key_range(k, range, sizeof(range))) {
			fprintf(f, " Range: ");
			text(f, range);
			fputc('.', f);
		}
		if (k->default_value) {
			fprintf(f, " Default: ");
			text(f, k->default_value);
			fputc('.', f);
		}
		fputc('\n', f);
	}
	fprintf(f, ".SH EXAMPLE\n.nf\n[chaosd]\nmax_duration = 1h\n\n[edge db]\n"
		   "interface = eth0\ndestination = 10.0.5.0/24, fd00:5::/64\nport = 5432\n"
		   "protocol = tcp\n\n"
		   "# a service edge: only api.service's traffic to the cache\n[edge api-cache]\n"
		   "unit = api.service\ndestination = 10.0.6.0/24\nport = 6379\n.fi\n.PP\n"
		   "A service edge (\\fBunit\\fR, \\fBcgroup\\fR or \\fBuser\\fR) selects the "
		   "packets of those sockets only: chaosd marks them in its own nftables table "
		   "inet chaosd_mark (bits 0x00ff0000 of the packet's and the connection's mark; "
		   "the host's other bits are kept) for its tc classifier to match. "
		   "A fault on it marks them while it lasts; on the way in, the connection's "
		   "mark is restored (act_connmark) before its replies reach the fault, and a "
		   "partition matches the connection's mark. A unit is asked of systemd over "
		   "D-Bus (every second, never on an inject's path); one not running is refused "
		   "with its state, a cgroup that does not exist likewise. A restarted unit's new "
		   "cgroup is followed within a second (inotify). chaosctl edges and status show "
		   "what the edge resolves to now. The revert removes chaosd's mark table and "
		   "clears the mark bits it set on connections. A kernel that drops u32's mark "
		   "match (no CONFIG_CLS_U32_MARK) refuses netem faults on service edges. "
		   "Measured under systemd (tests/vm/service.sh, two transient services to one "
		   "destination): 100 ms on one service's edge added 97-117 ms to its round "
		   "trips (each direction) and less than 5 ms to the other's; a partition failed "
		   "only its connects; after a restart the new process was slowed from its first "
		   "packet. "
		   "It may not overlap an unscoped edge to the same destination.\n"
		   ".SH SEE ALSO\nchaosd(8), chaosctl(1)\n");
}

/* What src/schedule.c reads, with the presets from its table. */
static void timing(FILE *f)
{
	char presets[256];

	fprintf(f, ".SH TIMING\nA step starts at a fixed \\fBat\\fR; at a random time of a "
		   "window (\\fBat = random 1m..5m\\fR, whole milliseconds); at the first hit of a "
		   "\\fBchance\\fR tried at \\fBat\\fR and every interval after it; or when a "
		   "\\fBstart_when\\fR condition holds. The last two give up after "
		   "\\fBstart_within\\fR: the step is skipped and the report says why. "
		   "\\fBedge = random(a, b, c)\\fR picks one edge; chaosd checks the fault against "
		   "each of them. Every random choice comes from the seed (\\fBseed =\\fR, else "
		   "chosen for each run), each step from a stream of its own; \\fBchaosctl plan\\fR "
		   "prints it, and \\fBchaosctl plan \\-\\-seed\\fR \\fIN\\fR and \\fBchaosctl run "
		   "\\-\\-seed\\fR \\fIN\\fR use another. Overlaps and max_duration are checked over "
		   "every time a step may run, so a scenario valid for one seed is valid for "
		   "all.\n.PP\nA step ends after \\fBfor\\fR, at the end of its ramp, at the end of "
		   "the method, or earlier when its \\fBuntil\\fR condition holds (over samples "
		   "since the step started). The report gives each step's trigger, start, end, "
		   "what ended it, and its recovery: the time from its end until every probe has "
		   "three good samples in a row (successful, and within a latency steady_state).\n"
		   ".PP\n\\fBms = preset:\\fR\\fINAME\\fR sets a latency step to a distance: the "
		   "middle of its range as ms, half the range as jitter and a paretonormal tail "
		   "(unless the step sets jitter or distribution): %s.\n",
			schedule_preset_list(presets, sizeof(presets)));
}

static void chaosd_scenario_5(FILE *f)
{
	const char *section = NULL;

	fprintf(f, ".TH CHAOSD.SCENARIO 5 \"\" \"chaosd %s\" \"File Formats\"\n", PACKAGE_VERSION);
	fprintf(f, ".SH NAME\nchaosd.scenario \\- GameDay scenario files for chaosctl run\n");
	fprintf(f, ".SH DESCRIPTION\nAn INI file: one \\fB[scenario]\\fR section, \\fB[probe "
		   "NAME]\\fR sections that check the steady-state hypothesis and the abort "
		   "conditions, and \\fB[step NAME]\\fR sections, the timeline of faults. "
		   "\\fBchaosctl run\\fR sends it to chaosd(8), which runs it: "
		   "steady-state-before, method, rollback, steady-state-after. Every error is "
		   "reported as FILE:LINE with the section, key and value before anything is "
		   "applied (\\fBchaosctl validate\\fR, \\fBchaosctl plan\\fR). A run aborts and "
		   "reverts everything it applied when a probe's abort_when holds, on chaosctl "
		   "abort, the kill switch, max_duration, a lapsed lease and daemon stop.\n");
	syntax(f);
	for (unsigned i = 0; i < scenario_n_keys; i++) {
		const struct scenario_key *k = &scenario_keys[i];

		if (!section || !streq(section, k->section)) {
			section = k->section;
			fprintf(f, ".SH [%s%s]\n", section, streq(section, "scenario") ? "" : " NAME");
		}
		fprintf(f, ".TP\n.B %s \\fI%s\\fR\n", k->name, k->metavar);
		text(f, k->help);
		fputc('.', f);
		if (k->max) {
			char a[32], b[32];

			if (streq(k->metavar, "TIME")) {
				parse_format_duration(k->min, a, sizeof(a));
				parse_format_duration(k->max, b, sizeof(b));
			} else {
				snprintf(a, sizeof(a), "%" PRIu64, k->min);
				snprintf(b, sizeof(b), "%" PRIu64, k->max);
			}
			fprintf(f, " Range: %s\\-%s.", a, b);
		}
		if (k->default_value) {
			fprintf(f, " Default: ");
			text(f, k->default_value);
			fputc('.', f);
		}
		fputc('\n', f);
	}
	fprintf(f, ".SS Fault keys of a step\nEvery option of \\fBchaosctl inject\\fR, without "
		   "the dashes (except lease, which is the scenario's):\n");
	for (unsigned i = 0; i < fault_n_keys; i++) {
		fprintf(f, ".TP\n.B %s \\fI%s\\fR\n", fault_keys[i].name, fault_keys[i].metavar);
		text(f, fault_keys[i].help);
		fputc('\n', f);
	}
	fprintf(f, ".SH CONDITIONS\n\\fIMEASURE OP VALUE\\fR [\\fBover\\fR \\fITIME\\fR]: "
		   "MEASURE is success_rate, availability (the same), failure_rate (percent) or "
		   "p50, p95, p99 (latency of the probes in the window), or value (a prometheus "
		   "probe's query value: a decimal number); OP is <, <=, > or >=; "
		   "the window defaults to 10s. \\fBstart_when\\fR and \\fBuntil\\fR name the probe "
		   "first: \\fIPROBE MEASURE OP VALUE\\fR [\\fBover\\fR \\fITIME\\fR]. A "
		   "condition is decided on at least 3 samples, or samples spanning half its "
		   "window. A value condition holds when every value of the window meets it and "
		   "there are two at least (a Prometheus alert's 'for'); its window must be at "
		   "least the probe's interval and timeout together.\n");
	fprintf(f, ".PP\nOne outlier never aborts a run: abort_when fires only when it holds "
		   "over the window and at least two samples of the window are by themselves "
		   "beyond its limit (a failed probe counts as beyond a latency limit and as a "
		   "failure), with at least 3 samples or samples spanning half the window. "
		   "A tcp probe's latency is the handshake's round trip from TCP_INFO, timed by "
		   "the kernel, so chaosd's own work (an inject, a status) does not inflate it; a "
		   "resent SYN is a real stall and is timed by the clock. http and prometheus "
		   "probes run on libcurl's multi interface driven by chaosd's event loop; their "
		   "latency is the time to the answer's first byte as libcurl took it, inside the "
		   "calls the loop makes when a socket is ready, so a busy daemon can make it "
		   "longer, never shorter. libcurl.so.4 (package libcurl4) is loaded on the first "
		   "such probe, not at start; where it cannot be loaded, those probes fail with "
		   "the reason and the daemon goes on. A prometheus probe's value is the largest of the "
		   "query's vector (an empty vector is 0: nothing matched, such as no firing "
		   "alert) or its scalar; a Prometheus that is down, an HTTP error, an error "
		   "answer, a matrix, NaN or an answer that is not JSON is a probe failure with "
		   "that reason.\n");
	timing(f);
	fprintf(f, ".SH EXIT STATUS\n\\fBchaosctl run\\fR:");
	for (unsigned i = 0; i < _CTLOPT_EXIT_MAX; i++)
		fprintf(f, "%s %u %s", i ? "," : "", ctlopt_exits[i].code, ctlopt_exits[i].name);
	fprintf(f, " (chaosctl(1), EXIT STATUS).\n");
	fprintf(f, ".SH EXAMPLE\n.nf\n[scenario]\nname = db\\-brownout\nmax_duration = 10m\n\n"
		   "[probe api]\ntype = http\ntarget = http://10.0.0.10:8080/health\n"
		   "abort_when = failure_rate > 10%% over 10s\n"
		   "steady_state = success_rate >= 99%% over 10s\n\n[step 1]\nat = 0s\n"
		   "fault = latency\nedge = db\nms = 200\njitter = 20\nfor = 60s\n\n[step 2]\n"
		   "at = 60s\nfault = latency\nedge = db\n"
		   "ramp = 50ms..800ms over 2m in 8 steps\n.fi\n");
	fprintf(f, ".SH FILES\n\\fI/etc/chaosd/scenarios/NAME.ini\\fR: scenarios the "
		   "\\fBchaosd\\-gameday@NAME.timer\\fR units run on a schedule. Shipped: "
		   "db\\-brownout, progressive\\-rollout (blast radius 1%%, 5%%, 20%%), "
		   "cascading\\-failure, timeout\\-cascade, retry\\-amplification, "
		   "thundering\\-herd, metastable\\-failure and cell\\-isolation; each says on "
		   "top what it rehearses, the edges and probes it expects and what a healthy "
		   "system shows.\n");
	fprintf(f, ".SH SEE ALSO\nchaosctl(1), chaosd(8), chaosd.conf(5), systemd.timer(5)\n");
}

int main(int argc, char **argv)
{
	FILE *f;

	if (argc != 3) {
		fprintf(stderr, "usage: genman chaosd.8|chaosctl.1|chaosd.conf.5|chaosd.scenario.5 OUTPUT\n");
		return 2;
	}
	f = fopen(argv[2], "we");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	if (streq(argv[1], "chaosd.8"))
		chaosd_8(f);
	else if (streq(argv[1], "chaosctl.1"))
		chaosctl_1(f);
	else if (streq(argv[1], "chaosd.conf.5"))
		chaosd_conf_5(f);
	else if (streq(argv[1], "chaosd.scenario.5"))
		chaosd_scenario_5(f);
	else {
		fprintf(stderr, "genman: unknown page '%s'\n", argv[1]);
		fclose(f);
		return 2;
	}
	return fclose(f) == 0 ? 0 : 1;
}
