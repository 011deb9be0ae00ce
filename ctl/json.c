/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "json.h"
#include "macro.h"
#include "utf8.h"

/* Kept in step with doc/schema/ by tests/host-json-tests.sh, which validates real output
 * against the schemas made strict (no field they do not list). */
const struct json_doc json_docs[_JSON_DOC_MAX] = {
	[JSON_INJECT] = { "chaosd.inject/1", "inject", "", " id duration_us " },
	[JSON_STATUS] = { "chaosd.status/2", "status", " kill fault ",
			  " faults kill.uid kill.since_us kill.until_us fault.id fault.remaining_us "
			  "fault.deadline_realtime_us fault.uid fault.matched fault.delayed "
			  "fault.dropped fault.affected_packets fault.affected_bytes fault.idle_us " },
	[JSON_EDGES] = { "chaosd.edges/1", "edges", " edge ", "" },
	[JSON_REVERT] = { "chaosd.revert/1", "revert", "", " reverted " },
	[JSON_KILL] = { "chaosd.kill/1", "kill", "", " reverted elapsed_us for_us " },
	[JSON_KILL_HISTORY] = { "chaosd.kill-history/1", "kill --history", " activation ",
				" activation.time_us activation.uid activation.pid "
				"activation.for_us activation.reverted " },
	[JSON_ARM] = { "chaosd.arm/1", "arm", "", " released " },
	[JSON_RENEW] = { "chaosd.renew/1", "renew", "", " renewed " },
	[JSON_PING] = { "chaosd.ping/1", "ping", "", "" },
	[JSON_VALIDATE] = { "chaosd.validate/1", "validate", "",
			    " steps probes planned_us max_duration_us " },
	[JSON_PLAN] = { "chaosd.plan/1", "plan", " probe action step ",
			" steady_state_us method_us max_duration_us lease_us action.t_us " },
	[JSON_RUN] = { "chaosd.run/1", "run --detach", "", "" },
	[JSON_WATCH] = { "chaosd.watch/1", "run, watch", " probe fault event ",
			 " exit_code elapsed_us planned_us max_duration_us probe.window_us "
			 "probe.count probe.success_rate probe.p50_us probe.p99_us fault.id "
			 "event.seq event.t_us " },
	[JSON_ABORT] = { "chaosd.abort/1", "abort", "", " aborted " },
	[JSON_REPORT] = { "chaosd.report/1", "report", NULL, NULL },
	[JSON_METRICS] = { "chaosd.metrics/1", "metrics", "", "" },
	/* printed by ctl/remote.c: each host's own document, in a list */
	[JSON_HOSTS] = { "chaosd.hosts/1", "any, with -H and several hosts", NULL, NULL },
	[JSON_ERROR] = { "chaosd.error/1", "any, when it fails", "", " errno " },
};

static bool printed;

bool json_printed(void)
{
	return printed;
}

/* Valid JSON whatever bytes the daemon stored: controls escaped, bad UTF-8 as U+FFFD. */
void json_string(const char *s)
{
	utf8_fputs_json(s, stdout);
}

/* A JSON number: -?digits(.digits)? */
static bool is_number(const char *s)
{
	size_t n;

	s += *s == '-';
	n = strspn(s, "0123456789");
	if (n == 0)
		return false;
	s += n;
	if (*s == '.') {
		n = strspn(++s, "0123456789");
		if (n == 0)
			return false;
		s += n;
	}
	return !*s;
}

static bool word_in(const char *list, const char *rec, const char *key)
{
	char w[2 * PROTO_MAX_KEY + 4];

	snprintf(w, sizeof(w), " %s%s%s ", rec ? rec : "", rec ? "." : "", key);
	return strstr(list, w);
}

/* A value that should be a number but is not stays a string: the schema test catches it. */
static void value(const struct json_doc *doc, const char *rec, const char *key, const char *v)
{
	json_string(key);
	putchar(':');
	if (word_in(doc->numbers, rec, key) && is_number(v))
		fputs(v, stdout);
	else
		json_string(v);
}

static bool kind_seen(const struct proto_msg *m, unsigned upto, const char *kind)
{
	for (unsigned i = 0; i < upto; i++)
		if (streq(m->fields[i].key, "@") && streq(m->fields[i].value, kind))
			return true;
	return false;
}

/* The records of one kind, in the daemon's order, as the array KIND + "s". */
static void records(const struct json_doc *doc, const struct proto_msg *m, const char *kind)
{
	char name[PROTO_MAX_VALUE + 2];
	bool first = true;

	/* The kind is the daemon's text: quoted like any other string. */
	snprintf(name, sizeof(name), "%ss", kind);
	putchar(',');
	json_string(name);
	fputs(":[", stdout);
	for (unsigned i = 0; i < m->n_fields; i++) {
		unsigned end;

		if (!streq(m->fields[i].key, "@") || !streq(m->fields[i].value, kind))
			continue;
		end = proto_msg_next_record(m, i);
		printf("%s{", first ? "" : ",");
		first = false;
		for (unsigned k = i + 1; k < end; k++) {
			if (k > i + 1)
				putchar(',');
			value(doc, kind, m->fields[k].key, m->fields[k].value);
		}
		putchar('}');
	}
	putchar(']');
}

void json_print_reply(const struct proto_msg *m, enum json_doc_id id)
{
	const struct json_doc *doc = &json_docs[id];
	const char *kinds = doc->records;
	unsigned i;

	printed = true;
	printf("{\"ok\":true,\"schema\":");
	json_string(doc->schema);
	/* A top-level count named like an array ("faults") is that array's length: left out. */
	for (i = 0; i < m->n_fields && !streq(m->fields[i].key, "@"); i++) {
		char rec[PROTO_MAX_KEY + 1];

		snprintf(rec, sizeof(rec), "%s", m->fields[i].key);
		if (rec[0] && rec[strlen(rec) - 1] == 's') {
			rec[strlen(rec) - 1] = '\0';
			if (word_in(kinds, NULL, rec))
				continue;
		}
		putchar(',');
		value(doc, NULL, m->fields[i].key, m->fields[i].value);
	}
	/* The declared arrays, empty or not; then any kind the daemon sent undeclared. */
	for (const char *k = kinds; *(k += strspn(k, " "));) {
		char kind[PROTO_MAX_KEY + 1];
		size_t n = strcspn(k, " ");

		snprintf(kind, sizeof(kind), "%.*s", (int)n, k);
		records(doc, m, kind);
		k += n;
	}
	for (; i < m->n_fields; i++)
		if (streq(m->fields[i].key, "@") && !word_in(kinds, NULL, m->fields[i].value) &&
				!kind_seen(m, i, m->fields[i].value))
			records(doc, m, m->fields[i].value);
	printf("}\n");
}

void json_print_error(const char *error, const char *errno_s, const char *details)
{
	printed = true;
	printf("{\"ok\":false,\"schema\":");
	json_string(json_docs[JSON_ERROR].schema);
	printf(",\"error\":");
	json_string(error);
	if (errno_s && is_number(errno_s))
		printf(",\"errno\":%s", errno_s);
	if (details) {
		printf(",\"details\":");
		json_string(details);
	}
	printf("}\n");
	fflush(stdout);
}

void json_vfail(bool as_json, const char *fmt, va_list ap)
{
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fputs("chaosctl: ", stderr);
	utf8_fputs_term(msg, UTF8_ALLOW_TAB | UTF8_ALLOW_NEWLINE, stderr);
	fputc('\n', stderr);
	if (as_json && !json_printed())
		json_print_error(msg, NULL, NULL);
}

/* S for a terminal (src/utf8.c): control bytes as \xNN and invalid UTF-8 as U+FFFD, so a
 * stored string (a kill reason, an edge name, a relayed error) cannot move the cursor or
 * retitle the window. The result stays valid for the next 15 calls. */
const char *term_safe(const char *s)
{
	static char *ring[16];
	static unsigned next;
	char *o = utf8_term_safe(s, 0);

	if (!o)
		return "?";
	free(ring[next]);
	ring[next] = o;
	next = (next + 1) % ELEMENTSOF(ring);
	return o;
}
