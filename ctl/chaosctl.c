/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chaosctl: the client. Verbs come from proto_verbs[] and fault options from fault_keys[], so
 * help, parsing and the daemon cannot disagree. */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "ctl.h"
#include "ctlopt.h"
#include "fault.h"
#include "group.h"
#include "json.h"
#include "parse.h"
#include "proto.h"
#include "remote.h"
#include "utf8.h"
#include "report.h"
#include "scenario.h"

static bool arg_socket_set;

static void wrap(const char *text, int indent)
{
	int col = indent;

	for (const char *w = text + strspn(text, " "); *w; w += strspn(w, " ")) {
		int n = (int)strcspn(w, " ");

		if (col > indent && col + 1 + n > 100) {
			printf("\n%*s", indent, "");
			col = indent;
		}
		printf(" %.*s", n, w);
		col += 1 + n;
		w += n;
	}
	putchar('\n');
}

static void help(void)
{
	printf("Usage: chaosctl [OPTIONS] VERB [ARGS]\n\nOptions:\n");
	for (unsigned i = 0; i < ctlopt_n_options; i++) {
		const struct ctlopt *o = &ctlopt_options[i];
		char opt[64], text[1024];

		snprintf(opt, sizeof(opt), "%c%c%s--%s%s%s", o->short_name ? '-' : ' ',
		                o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ",
		                o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
		snprintf(text, sizeof(text), "%s%s%s%s", o->help, o->env ? " [$" : "",
		                o->env ? o->env : "", o->env ? "]" : "");
		printf("  %-28s", opt);
		wrap(text, 30);
	}
	printf("\nVerbs:\n");
	for (unsigned i = 0; i < proto_n_verbs; i++) {
		if (proto_verbs[i].type == PROTO_PING)
			continue;
		printf("  %-8s %-28s %s\n", proto_verbs[i].name, proto_verbs[i].usage,
		                proto_verbs[i].summary);
	}
	printf("\nFault kinds (inject KIND):\n");
	for (int k = 0; k < _FAULT_KIND_MAX; k++)
		printf("  %-10s %s\n", fault_kind_to_string(k), fault_kind_help(k));
	printf("\nFault options:\n");
	for (unsigned i = 0; i < fault_n_keys; i++) {
		const struct fault_key *key = &fault_keys[i];
		char opt[64], kinds[128] = "";
		size_t len = 0;
		for (int k = 0; k < _FAULT_KIND_MAX; k++)
			if (key->kinds & (1u << k)) {
				int n = snprintf(kinds + len, sizeof(kinds) - len, "%s%s",
				                len ? "," : "", fault_kind_to_string(k));
				if (n > 0)
					len = MIN(len + (size_t)n, sizeof(kinds) - 1);
			}
		snprintf(opt, sizeof(opt), "--%s %s", key->name, key->metavar);
		for (char *c = opt; *c; c++)
			if (*c == '_')
				*c = '-';
		printf("  %-26s %s [%s]\n", opt, key->help, kinds);
	}
	printf("\nExit status:\n");
	for (unsigned i = 0; i < _CTLOPT_EXIT_MAX; i++) {
		printf("  %u %-11s", ctlopt_exits[i].code, ctlopt_exits[i].name);
		wrap(ctlopt_exits[i].meaning, 15);
	}
	printf("\nDurations: 500ms, 30s, 5m, 1h. Scenario files: chaosd.scenario(5).\n");
}

/* ------------------------------------------------------------------ output */

static void format_time(const char *usec_s, char *buf, size_t n)
{
	uint64_t us = 0;
	time_t t;
	struct tm tm;

	(void)parse_u64_range(usec_s, 0, UINT64_MAX, &us);
	t = (time_t)(us / USEC_PER_SEC);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
}

static void print_history(const struct proto_msg *m)
{
	bool any = false;

	for (unsigned i = ctl_first_record(m); i < m->n_fields; i = proto_msg_next_record(m, i)) {
		char when[64], dur[32];
		uint64_t f = 0;
		if (!any)
			printf("%-24s %-6s %-12s %-8s %-8s %-8s %s\n", "WHEN", "UID", "EDGE", "FOR",
			                "REVERTED", "RESULT", "REASON");
		any = true;
		format_time(ctl_show(m, i, "time_us"), when, sizeof(when));
		(void)parse_u64_range(ctl_show(m, i, "for_us"), 0, UINT64_MAX, &f);
		printf("%-24s %-6s %-12s %-8s %-8s %-8s %s\n", when, ctl_show(m, i, "uid"),
		                ctl_show(m, i, "edge"),
		                f ? parse_format_duration(f, dur, sizeof(dur)) : "-",
		                ctl_show(m, i, "reverted"), ctl_show(m, i, "result"),
		                ctl_show(m, i, "reason"));
	}
	if (!any)
		printf("The kill switch has never been used.\n");
}

/* "delayed 1234 packets (1.8 MB)": what the fault did so far, from the kernel's counters. */
static const char *affected_text(const struct proto_msg *m, unsigned i, char *buf, size_t n)
{
	uint64_t packets = 0, bytes = 0;

	(void)parse_u64_range(ctl_show(m, i, "affected_packets"), 0, UINT64_MAX, &packets);
	(void)parse_u64_range(ctl_show(m, i, "affected_bytes"), 0, UINT64_MAX, &bytes);
	if (bytes >= 1000000)
		snprintf(buf, n, "%s %" PRIu64 " packet%s (%.1f MB)", ctl_show(m, i, "affected"),
		                packets, packets == 1 ? "" : "s", (double)bytes / 1e6);
	else if (bytes > 0)
		snprintf(buf, n, "%s %" PRIu64 " packet%s (%.1f kB)", ctl_show(m, i, "affected"),
		                packets, packets == 1 ? "" : "s", (double)bytes / 1e3);
	else
		snprintf(buf, n, "%s %" PRIu64 " packet%s", ctl_show(m, i, "affected"), packets,
		                packets == 1 ? "" : "s");
	return buf;
}

static void print_status(const struct proto_msg *m)
{
	unsigned i = ctl_first_record(m);
	bool any = false;

	if (proto_msg_get(m, 0, "degraded"))
		printf("chaosd is degraded: %s. New faults are refused until it can write its "
		       "state "
		       "again; reverts and the kill switch still work.\n",
		                ctl_show(m, 0, "degraded"));

	for (unsigned k = i; k < m->n_fields; k = proto_msg_next_record(m, k)) {
		char since[64], until[64];
		if (!streq(m->fields[k].value, "kill"))
			continue;
		format_time(ctl_show(m, k, "since_us"), since, sizeof(since));
		format_time(ctl_show(m, k, "until_us"), until, sizeof(until));
		printf("Kill switch ENGAGED for %s since %s by uid %s%s%s%s: injections refused "
		       "until %s.\n",
		                streq(ctl_show(m, k, "edge"), "*") ? "all edges"
		                                                   : ctl_show(m, k, "edge"),
		                since, ctl_show(m, k, "uid"), *ctl_show(m, k, "reason") ? " (" : "",
		                ctl_show(m, k, "reason"), *ctl_show(m, k, "reason") ? ")" : "",
		                streq(ctl_show(m, k, "until_us"), "0") ? "'chaosctl arm'" : until);
	}
	for (; i < m->n_fields; i = proto_msg_next_record(m, i)) {
		uint64_t rem = 0;
		char left[32], so_far[64];
		if (!streq(m->fields[i].value, "fault"))
			continue;
		if (!any)
			printf("%-4s %-12s %-9s %-4s %-34s %8s  %s\n", "ID", "EDGE", "FAULT", "DIR",
			                "PARAMETERS", "LEFT", "SO FAR");
		any = true;
		(void)parse_u64_range(ctl_show(m, i, "remaining_us"), 0, UINT64_MAX, &rem);
		printf("%-4s %-12s %-9s %-4s %-34s %8s  %s\n", ctl_show(m, i, "id"),
		                ctl_show(m, i, "edge"), ctl_show(m, i, "kind"),
		                ctl_show(m, i, "direction"), ctl_show(m, i, "describe"),
		                parse_format_duration(rem / USEC_PER_SEC * USEC_PER_SEC, left,
		                                sizeof(left)),
		                affected_text(m, i, so_far, sizeof(so_far)));
		if (proto_msg_get(m, i, "service"))
			printf("     service: %s\n", term_safe(ctl_show(m, i, "service")));
		if (*ctl_show(m, i, "warning"))
			printf("     ! fault %s: %s\n", ctl_show(m, i, "id"),
			                ctl_show(m, i, "warning"));
	}
	if (!any)
		printf("No active faults.\n");
}

static void print_edges(const struct proto_msg *m)
{
	printf("%-14s %-10s %-6s %-6s %s\n", "EDGE", "INTERFACE", "PORT", "PROTO", "DESTINATION");
	for (unsigned i = ctl_first_record(m); i < m->n_fields; i = proto_msg_next_record(m, i)) {
		const char *err = proto_msg_get(m, i, "error");
		const char *svc = proto_msg_get(m, i, "service");
		printf("%-14s %-10s %-6s %-6s %s%s%s%s%s\n", ctl_show(m, i, "name"),
		                *ctl_show(m, i, "interface") ? ctl_show(m, i, "interface") : "?",
		                ctl_show(m, i, "port"), ctl_show(m, i, "protocol"),
		                *ctl_show(m, i, "destination") ? ctl_show(m, i, "destination")
		                                               : "any",
		                svc ? "  of " : "", svc ? term_safe(svc) : "", err ? "  ! " : "",
		                err ? term_safe(err) : "");
		if (proto_msg_get(m, i, "resolves_to"))
			printf("%-14s now: %s\n", "", term_safe(ctl_show(m, i, "resolves_to")));
	}
}

/* ------------------------------------------------------------------ verbs */

static int verb_inject(
                const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	struct proto_writer w;
	enum fault_kind kind;
	struct fault f;
	struct diag d;
	const char *edge = NULL;
	int r;

	if (argc < 1)
		return ctl_fail("inject: which fault? (latency, loss, corrupt, duplicate, reorder, "
		                "rate, "
		                "partition)"),
		       CTLOPT_EXIT_USAGE;
	if (fault_kind_from_string(argv[0], &kind) < 0)
		return ctl_fail("inject: unknown fault '%s' (allowed: latency, loss, corrupt, "
		                "duplicate, "
		                "reorder, rate, partition)",
		                       argv[0]),
		       CTLOPT_EXIT_USAGE;
	diag_init(&d);
	fault_init(&f, kind);
	proto_writer_init(&w, verb->type, PROTO_MAX_REQUEST);
	proto_put(&w, "kind", argv[0]);
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val;
		char key[64];
		if (strncmp(opt, "--", 2) != 0)
			return proto_writer_done(&w),
			       ctl_fail("inject: unexpected argument '%s'", opt), CTLOPT_EXIT_USAGE;
		opt += 2;
		val = strchr(opt, '=');
		if (val) {
			snprintf(key, sizeof(key), "%.*s", (int)(val - opt), opt);
			val++;
		} else {
			snprintf(key, sizeof(key), "%s", opt);
			if (i + 1 >= argc)
				return proto_writer_done(&w),
				       ctl_fail("inject: option '--%s' needs a value", key),
				       CTLOPT_EXIT_USAGE;
			val = argv[++i];
		}
		for (char *c = key; *c; c++)
			if (*c == '-')
				*c = '_';
		if (streq(key, "edge")) {
			edge = val;
			proto_put(&w, "edge", val);
			continue;
		}
		/* Check locally for an immediate, precise message; the daemon checks again. */
		r = fault_set(&f, key, val, &d);
		if (r < 0)
			return proto_writer_done(&w),
			       ctl_fail("inject %s: %s", argv[0], diag_text(&d)), CTLOPT_EXIT_USAGE;
		proto_put(&w, key, val);
	}
	if (!edge)
		return proto_writer_done(&w),
		       ctl_fail("inject %s: --edge NAME is required", argv[0]), CTLOPT_EXIT_USAGE;
	r = fault_validate(&f, &d);
	if (r < 0)
		return proto_writer_done(&w), ctl_fail("inject %s: %s", argv[0], diag_text(&d)),
		       CTLOPT_EXIT_USAGE;
	r = ctl_request(verb, &w, &m);
	proto_writer_done(&w);
	if (r < 0)
		return ctl_exit_of(r);
	if (ctl_json) {
		json_print_reply(m, v->doc);
		return f.lease_usec ? ctl_hold_lease(ctl_show(m, 0, "id"), f.lease_usec) : 0;
	}
	uint64_t dur = 0;
	char durs[32];
	(void)parse_u64_range(ctl_show(m, 0, "duration_us"), 0, UINT64_MAX, &dur);
	/* a fault without parameters (a partition) has no ", params" part */
	printf("%s fault %s: %s on edge '%s' (%s)%s%s, reverts in %s\n", ctl_show(m, 0, "action"),
	                ctl_show(m, 0, "id"), ctl_show(m, 0, "kind"), ctl_show(m, 0, "edge"),
	                ctl_show(m, 0, "interface"), *ctl_show(m, 0, "params") ? ", " : "",
	                ctl_show(m, 0, "params"), parse_format_duration(dur, durs, sizeof(durs)));
	if (f.lease_usec)
		return ctl_hold_lease(ctl_get(m, 0, "id"), f.lease_usec);
	return 0;
}

/* Parse a verb's arguments by its row of ctl_verbs[]: options go into W, bare arguments are
 * moved to the front of ARGV (their number in *ret_n). A usage error is printed and returns
 * CTLOPT_EXIT_USAGE; else 0. */
static void print_abort(const struct proto_msg *m)
{
	printf("aborted %s run(s); everything they applied is reverted\n",
	                ctl_show(m, 0, "aborted"));
}

static void print_revert(const struct proto_msg *m)
{
	printf("reverted %s fault(s)\n", ctl_show(m, 0, "reverted"));
}

static bool is_kill_history(const struct proto_msg *m)
{
	return ctl_first_record(m) < m->n_fields || !*ctl_get(m, 0, "reverted");
}

static void print_kill(const struct proto_msg *m)
{
	if (is_kill_history(m)) {
		print_history(m);
		return;
	}
	printf("kill switch engaged%s%s%s: %s fault(s) reverted in %.1f ms; injections "
	       "refused %s\n",
	                *ctl_get(m, 0, "edge") ? " for edge '" : "", ctl_show(m, 0, "edge"),
	                *ctl_get(m, 0, "edge") ? "'" : "", ctl_show(m, 0, "reverted"),
	                strtod(ctl_get(m, 0, "elapsed_us"), NULL) / 1000.0,
	                *ctl_get(m, 0, "for_us") ? "until it re-arms by itself"
	                                         : "until 'chaosctl arm'");
}

static void print_arm(const struct proto_msg *m)
{
	printf("armed: %s kill switch(es) released, injections accepted\n",
	                ctl_show(m, 0, "released"));
}

static void print_renew(const struct proto_msg *m)
{
	printf("renewed %s lease(s)\n", ctl_show(m, 0, "renewed"));
}

static void print_ping(const struct proto_msg *m)
{
	printf("ok %s\n", ctl_show(m, 0, "version"));
}

static void print_reply(const struct ctl_verb *v, const struct proto_msg *m)
{
	if (ctl_json)
		json_print_reply(m, v->doc == JSON_KILL && is_kill_history(m) ? JSON_KILL_HISTORY
		                                                              : v->doc);
	else
		v->print(m);
}

static int verb_simple(
                const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	int r = ctl_send_args(v, verb, argc, argv, NULL, &m);

	if (r == 0)
		print_reply(v, m);
	return r;
}

/* revert ID...: the protocol takes one id per request, so one each; every result is
 * printed and the exit status is that of the worst. */
static int verb_revert(
                const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv)
{
	struct proto_writer w;
	struct ctl_args a;
	uint64_t total = 0;
	int r = ctl_check_args(v, verb, argc, argv, &a), code = 0;
	char sum[32];

	if (r > 0)
		return r;
	if (a.n <= 1)
		return verb_simple(v, verb, argc, argv);
	if (a.options > 0)
		return ctl_fail("revert: several ids or --edge/--all, not both (usage: chaosctl "
		                "revert "
		                "%s)",
		                       verb->usage),
		       CTLOPT_EXIT_USAGE;
	for (int i = 0; i < a.n; i++) {
		_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
		uint64_t n = 0;

		proto_writer_init(&w, verb->type, PROTO_MAX_REQUEST);
		proto_put(&w, v->arg_key, argv[i]);
		r = ctl_request(verb, &w, &m);
		proto_writer_done(&w);
		if (r < 0 && ctl_exit_of(r) == CTLOPT_EXIT_UNREACHABLE)
			return CTLOPT_EXIT_UNREACHABLE; /* the next would not get through either */
		if (r < 0) {
			code = CTLOPT_EXIT_FAILED;
			continue;
		}
		(void)parse_u64_range(ctl_get(m, 0, "reverted"), 0, UINT64_MAX, &n);
		total += n;
		if (!ctl_json)
			printf("%s: reverted %s fault(s)\n", term_safe(argv[i]),
			                ctl_show(m, 0, "reverted"));
	}
	if (ctl_json && code == 0) {
		/* One document for the whole command: the faults reverted in all. */
		struct proto_field f = {"reverted", sum};
		struct proto_msg m = {.type = PROTO_REPLY_OK, .n_fields = 1, .fields = &f};

		snprintf(sum, sizeof(sum), "%" PRIu64, total);
		json_print_reply(&m, v->doc);
	}
	return code;
}

/* The daemon renders the text; --json wraps it whole, for tools that pass it on. */
static int verb_metrics(
                const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	_cleanup_free_ char *text = NULL;
	int r = ctl_send_args(v, verb, argc, argv, NULL, &m);
	size_t len = 0;
	FILE *f;

	if (r > 0)
		return r;
	f = open_memstream(&text, &len);
	if (!f)
		return ctl_fail("metrics: %s", strerror(ENOMEM)), CTLOPT_EXIT_FAILED;
	for (unsigned i = 0; i < m->n_fields; i++)
		if (streq(m->fields[i].key, "data"))
			fputs(m->fields[i].value, f);
	if (fclose(f) != 0 || !text)
		return ctl_fail("metrics: %s", strerror(ENOMEM)), CTLOPT_EXIT_FAILED;
	if (!ctl_json) {
		ctl_put_lines(text);
		return 0;
	}
	printf("{\"ok\":true,\"schema\":");
	json_string(json_docs[v->doc].schema);
	printf(",\"content_type\":");
	json_string(ctl_get(m, 0, "content_type"));
	printf(",\"text\":");
	json_string(text);
	printf("}\n");
	return 0;
}

/* ------------------------------------------------------------------ completion */

/* For the shell completions: the lists come from the same tables as parsing and help. */
static int list_verbs(void)
{
	for (unsigned i = 0; i < proto_n_verbs; i++)
		if (proto_verbs[i].type != PROTO_PING)
			printf("%s\n", proto_verbs[i].name);
	return 0;
}

static int list_kinds(void)
{
	for (int k = 0; k < _FAULT_KIND_MAX; k++)
		printf("%s\n", fault_kind_to_string(k));
	return 0;
}

/* The values a fault option takes when they are a fixed set (--distribution, --model ...). */
static int list_values(const char *opt)
{
	char key[64];

	snprintf(key, sizeof(key), "%s", opt + strspn(opt, "-"));
	for (char *c = key; *c; c++)
		if (*c == '-')
			*c = '_';
	for (unsigned i = 0; i < fault_n_keys; i++)
		if (streq(fault_keys[i].name, key) && fault_keys[i].choices)
			for (const char *const *c = fault_keys[i].choices; *c; c++)
				printf("%s\n", *c);
	return 0;
}

/* ------------------------------------------------------------------ the verbs */

/* Everything chaosctl does per verb; proto_verbs[] (shared with chaosd) has its name, usage
 * and summary. */
static const struct ctl_verb ctl_verbs[] = {
                {PROTO_INJECT, verb_inject, NULL, {{"--edge", "edge", NULL}}, NULL, 0, true, false,
                                JSON_INJECT},
                {PROTO_STATUS, verb_simple, print_status, {}, NULL, 0, false, false, JSON_STATUS},
                {PROTO_REVERT, verb_revert, print_revert,
                                {{"--all", "all", "yes"}, {"--edge", "edge", NULL}}, "id", UINT_MAX,
                                true, false, JSON_REVERT},
                {PROTO_KILL, verb_simple, print_kill,
                                {{"--edge", "edge", NULL}, {"--reason", "reason", NULL},
                                                {"--for", "for", NULL},
                                                {"--history", "history", "yes"}},
                                NULL, 0, false, false, JSON_KILL},
                {PROTO_ARM, verb_simple, print_arm, {{"--edge", "edge", NULL}}, NULL, 0, false,
                                false, JSON_ARM},
                {PROTO_EDGES, verb_simple, print_edges, {}, NULL, 0, false, false, JSON_EDGES},
                {PROTO_PING, verb_simple, print_ping, {}, NULL, 0, false, false, JSON_PING},
                {PROTO_RENEW, verb_simple, print_renew, {{"--run", "run", NULL}}, "id", UINT_MAX,
                                true, false, JSON_RENEW},
                {PROTO_RUN, ctl_verb_run, NULL,
                                {{"--detach", NULL, "yes"}, {"--seed", "seed", NULL},
                                                {"--host-name", "host", NULL}},
                                "file", 1, true, true, JSON_RUN},
                {PROTO_VALIDATE, ctl_verb_plan, NULL, {{"--host-name", "host", NULL}}, "file", 1,
                                true, false, JSON_VALIDATE},
                {PROTO_PLAN, ctl_verb_plan, NULL,
                                {{"--seed", "seed", NULL}, {"--host-name", "host", NULL}}, "file",
                                1, true, false, JSON_PLAN},
                {PROTO_WATCH, ctl_verb_watch, NULL, {}, "run", 1, false, true, JSON_WATCH},
                {PROTO_ABORT, verb_simple, print_abort, {}, "run", 1, false, false, JSON_ABORT},
                {PROTO_REPORT, ctl_verb_report, NULL,
                                {{"--html", "format", "html"}, {"--json", "format", "json"}}, "run",
                                1, false, false, JSON_REPORT},
                {PROTO_METRICS, verb_metrics, NULL, {}, NULL, 0, false, false, JSON_METRICS},
};

static const struct ctl_verb *ctl_verb_of(const struct proto_verb *verb)
{
	for (unsigned i = 0; i < ELEMENTSOF(ctl_verbs); i++)
		if (ctl_verbs[i].type == verb->type)
			return &ctl_verbs[i];
	return NULL;
}

/* The options of a verb (inject: of its fault kind), one per line, as typed. */
static int list_options(const char *verb_s, const char *kind_s)
{
	const struct proto_verb *verb = proto_verb_find(verb_s);
	const struct ctl_verb *v = verb ? ctl_verb_of(verb) : NULL;
	enum fault_kind kind;

	if (!v)
		return CTLOPT_EXIT_USAGE;
	if (v->type == PROTO_INJECT && (!kind_s || fault_kind_from_string(kind_s, &kind) < 0))
		return CTLOPT_EXIT_USAGE;
	for (unsigned k = 0; k < ELEMENTSOF(v->options) && v->options[k].name; k++)
		printf("%s\n", v->options[k].name);
	/* the group form's (-H ... --topology), of inject partition only */
	for (unsigned i = 0; i < ctlopt_n_group_options; i++) {
		const struct ctlopt_group *o = &ctlopt_group_options[i];
		char name[64];
		bool own = false;

		if (o->verb != v->type || (v->type == PROTO_INJECT && kind != FAULT_PARTITION))
			continue;
		snprintf(name, sizeof(name), "--%s", o->name);
		for (unsigned k = 0; k < ELEMENTSOF(v->options) && v->options[k].name; k++)
			own |= streq(v->options[k].name, name);
		if (!own)
			printf("%s\n", name);
	}
	if (v->type != PROTO_INJECT)
		return 0;
	for (unsigned i = 0; i < fault_n_keys; i++) {
		if (!(fault_keys[i].kinds & (1u << kind)))
			continue;
		printf("--");
		for (const char *c = fault_keys[i].name; *c; c++)
			putchar(*c == '_' ? '-' : *c);
		putchar('\n');
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct proto_verb *verb;
	const char *host = NULL, *host_source = "-H";
	bool done = false;
	int i, code = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *val = NULL;
		const struct ctlopt *o = ctlopt_match(argv[i], &val);

		if (o && o->metavar && !val) {
			if (i + 1 >= argc)
				return ctl_fail("option '%s' needs a value: %s", argv[i],
				                       o->metavar),
				       CTLOPT_EXIT_USAGE;
			val = argv[++i];
		}
		if (o && o->id == CTLOPT_JSON)
			ctl_json = true;
		else if (o && o->id == CTLOPT_SOCKET) {
			ctl_socket = val;
			arg_socket_set = true;
		} else if (o && o->id == CTLOPT_HOST)
			host = val;
		else if (o && o->id == CTLOPT_HELP) {
			help();
			return 0;
		} else if (o && o->id == CTLOPT_VERSION) {
			printf("chaosctl %s\n", PACKAGE_VERSION);
			return 0;
		} else if (streq(argv[i], "--list-verbs")) {
			return list_verbs();
		} else if (streq(argv[i], "--list-kinds")) {
			return list_kinds();
		} else if (streq(argv[i], "--list-global-options")) {
			for (unsigned k = 0; k < ctlopt_n_options; k++)
				printf("--%s\n", ctlopt_options[k].name);
			return 0;
		} else if (streq(argv[i], "--list-values") && i + 1 < argc) {
			return list_values(argv[i + 1]);
		} else if (streq(argv[i], "--list-options") && i + 1 < argc) {
			return list_options(argv[i + 1], i + 2 < argc ? argv[i + 2] : NULL);
		} else
			return ctl_fail("unknown option '%s' (see chaosctl --help)", argv[i]),
			       CTLOPT_EXIT_USAGE;
	}
	if (getenv("CHAOSD_SOCKET") && !arg_socket_set)
		ctl_socket = getenv("CHAOSD_SOCKET");
	if (i >= argc) {
		help();
		return CTLOPT_EXIT_USAGE;
	}
	/* Hidden: the far end of -H ssh://, relaying to this host's socket. */
	if (streq(argv[i], "dial-stdio"))
		return remote_dial_stdio(ctl_socket);
	verb = proto_verb_find(argv[i]);
	if (!verb || !ctl_verb_of(verb))
		return ctl_fail("unknown verb '%s' (see chaosctl --help)", argv[i]),
		       CTLOPT_EXIT_USAGE;
	for (int k = i + 1, n = i + 1; k <= argc; k++) {
		if (k < argc && streq(argv[k], "--json"))
			ctl_json = true;
		else
			argv[n++] = argv[k]; /* argv[argc], NULL, too */
		if (k == argc)
			argc = n - 1;
	}
	if (!host && getenv("CHAOSCTL_HOST") && *getenv("CHAOSCTL_HOST")) {
		host = getenv("CHAOSCTL_HOST");
		host_source = "CHAOSCTL_HOST";
	}
	if (host && arg_socket_set)
		return ctl_fail("--socket is this host's socket; with -H give the remote one as "
		                "ssh://HOST?socket=PATH"),
		       CTLOPT_EXIT_USAGE;
	if (group_wanted(argc - i - 1, argv + i + 1)) {
		if (!host)
			return ctl_fail("--topology is over a group of hosts: give them with -H "
			                "NAME=URL,..."),
			       CTLOPT_EXIT_USAGE;
		return group_main(host, host_source, verb, argc - i - 1, argv + i + 1, ctl_json,
		                ctl_transact);
	}
	if (host) {
		int usage = remote_begin(host, host_source, verb, argc - i - 1, argv + i + 1,
		                ctl_json, &done, &code);
		if (usage || done)
			return usage ? usage : code;
	}
	return ctl_verb_of(verb)->handler(ctl_verb_of(verb), verb, argc - i - 1, argv + i + 1);
}
