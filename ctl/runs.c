/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chaosctl's verbs of scenario runs: run (and follow it), plan, validate, watch, report. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctlopt.h"
#include "parse.h"
#include "remote.h"
#include "report.h"
#include "scenario.h"
#include "utf8.h"

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = 1;
}

/* The value after option name in argv as given, NULL if it is not there. */
static const char *option_value(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (streq(argv[i], name))
			return argv[i + 1];
	return NULL;
}

/* Checks the file here first (every error with file:line, even without a daemon), then
 * sends it line by line. */
static int scenario_request(const struct proto_verb *verb, const char *path, const char *seed,
                const char *host, struct proto_msg **ret)
{
	_cleanup_(scenario_freep) struct scenario *sc = NULL;
	_cleanup_free_ char *buf = NULL;
	struct proto_writer w;
	struct diag d;
	size_t len;
	FILE *f;
	int r;

	diag_init(&d);
	r = scenario_load(path, &sc, &d);
	if (r < 0) {
		fprintf(stderr, "%s\n", term_safe(diag_text(&d)));
		if (ctl_json) {
			_cleanup_free_ char *msg = NULL;
			if (asprintf(&msg, "%s: %s is not a valid scenario (nothing was applied)",
			                    verb->name, path) >= 0)
				json_print_error(msg, NULL, diag_text(&d));
		}
		return ctl_fail("%s: %s is not a valid scenario (nothing was applied)", verb->name,
		                       path),
		       -EINVAL;
	}
	f = fopen(path, "re");
	if (!f)
		return ctl_fail("%s: %m", path), negative_errno();
	buf = calloc(1, SCENARIO_FILE_MAX + 1);
	len = buf ? fread(buf, 1, SCENARIO_FILE_MAX, f) : 0;
	fclose(f);
	if (!buf)
		return -ENOMEM;
	proto_writer_init(&w, verb->type, PROTO_MAX_REQUEST);
	proto_put(&w, "file", path);
	if (seed)
		proto_put(&w, "seed", seed);
	if (host)
		proto_put(&w, "host", host);
	proto_put_lines(&w, "line", buf, len);
	r = ctl_request(verb, &w, ret);
	proto_writer_done(&w);
	return r;
}

static const char *fmt_dur(const char *usec_s, char *buf, size_t n)
{
	uint64_t us = 0;

	(void)parse_u64_range(usec_s, 0, UINT64_MAX, &us);
	return parse_format_duration(us / USEC_PER_SEC * USEC_PER_SEC, buf, n);
}

static int plan_file(const struct ctl_verb *v, const struct proto_verb *verb, const char *path,
                const char *seed, const char *host)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	char a[32], b[32], c[32];
	int r;

	r = scenario_request(verb, path, seed, host, &m);
	if (r < 0)
		return r == -EINVAL ? CTLOPT_EXIT_FAILED : ctl_exit_of(r);
	if (ctl_json)
		return json_print_reply(m, v->doc), 0;
	if (v->doc == JSON_VALIDATE) {
		printf("%s: scenario '%s' is valid here: %s steps, %s probes, runs %s (hard "
		       "deadline %s)\n",
		                term_safe(path), ctl_show(m, 0, "name"), ctl_show(m, 0, "steps"),
		                ctl_show(m, 0, "probes"),
		                fmt_dur(ctl_show(m, 0, "planned_us"), a, sizeof(a)),
		                fmt_dur(ctl_show(m, 0, "max_duration_us"), b, sizeof(b)));
		return 0;
	}
	printf("scenario %s%s%s\n", ctl_show(m, 0, "name"),
	                *ctl_show(m, 0, "description") ? ": " : "", ctl_show(m, 0, "description"));
	printf("steady state %s before and after, method %s, hard deadline %s%s%s\n",
	                fmt_dur(ctl_show(m, 0, "steady_state_us"), a, sizeof(a)),
	                fmt_dur(ctl_show(m, 0, "method_us"), b, sizeof(b)),
	                fmt_dur(ctl_show(m, 0, "max_duration_us"), c, sizeof(c)),
	                streq(ctl_show(m, 0, "lease_us"), "0") ? "" : ", lease ",
	                streq(ctl_show(m, 0, "lease_us"), "0")
	                                ? ""
	                                : fmt_dur(ctl_show(m, 0, "lease_us"), a, sizeof(a)));
	printf("seed %s (chaosctl plan --seed %s shows this timeline again)\n",
	                ctl_show(m, 0, "seed"), ctl_show(m, 0, "seed"));
	for (unsigned i = ctl_first_record(m); i < m->n_fields; i = proto_msg_next_record(m, i))
		if (streq(m->fields[i].value, "step"))
			printf("step %-10s %-12s %s\n", ctl_show(m, i, "name"),
			                ctl_show(m, i, "edge"), ctl_show(m, i, "trigger"));
	for (unsigned i = ctl_first_record(m); i < m->n_fields; i = proto_msg_next_record(m, i))
		if (streq(m->fields[i].value, "probe")) {
			printf("probe %-10s %-4s %s\n      abort when %s; hypothesis %s\n",
			                ctl_show(m, i, "name"), ctl_show(m, i, "type"),
			                ctl_show(m, i, "target"), ctl_show(m, i, "abort_when"),
			                ctl_show(m, i, "steady_state"));
			if (streq(ctl_show(m, i, "type"), "prometheus"))
				printf("      query %s\n", ctl_show(m, i, "query"));
		}
	printf("\n%-9s %-7s %-8s %-12s %-10s %s\n", "METHOD+", "ACTION", "STEP", "EDGE", "FAULT",
	                "PARAMETERS");
	for (unsigned i = ctl_first_record(m); i < m->n_fields; i = proto_msg_next_record(m, i)) {
		uint64_t t = 0;

		if (!streq(m->fields[i].value, "action"))
			continue;
		(void)parse_u64_range(ctl_show(m, i, "t_us"), 0, UINT64_MAX, &t);
		printf("%8.1fs %-7s %-8s %-12s %-10s %s\n", t / 1e6, ctl_show(m, i, "action"),
		                ctl_show(m, i, "step"), ctl_show(m, i, "edge"),
		                ctl_show(m, i, "kind"), ctl_show(m, i, "params"));
	}
	return 0;
}

/* The reply's data: text for a terminal made safe line by line, JSON and HTML as they are
 * (escaped by chaosd for their own syntax). */
static void put_data(const struct proto_msg *m, bool text)
{
	for (unsigned i = 0; i < m->n_fields; i++)
		if (streq(m->fields[i].key, "data") && text)
			ctl_put_lines(m->fields[i].value);
		else if (streq(m->fields[i].key, "data"))
			fputs(m->fields[i].value, stdout);
}

static int print_report(const char *run, const char *format)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	const struct proto_verb *verb = proto_verb_by_type(PROTO_REPORT);
	struct proto_writer w;
	int r;

	proto_writer_init(&w, PROTO_REPORT, PROTO_MAX_REQUEST);
	if (run)
		proto_put(&w, "run", run);
	proto_put(&w, "format", format);
	r = ctl_request(verb, &w, &m);
	proto_writer_done(&w);
	if (r < 0)
		return ctl_exit_of(r);
	put_data(m, streq(format, "text"));
	return 0;
}

static int watch_once(const char *run, unsigned since, struct proto_msg **ret)
{
	struct proto_writer w;
	int r;

	proto_writer_init(&w, PROTO_WATCH, PROTO_MAX_REQUEST);
	if (run)
		proto_put(&w, "run", run);
	proto_putf(&w, "since", "%u", since);
	r = ctl_request(proto_verb_by_type(PROTO_WATCH), &w, ret);
	proto_writer_done(&w);
	return r;
}

/* Follow a run until it ends: a line per event; on a terminal also a status line that is
 * redrawn in place. Returns the run's exit code. */
static int follow(const char *run_arg, bool own)
{
	char id[REPORT_ID_MAX + 1] = "", a[32], b[32];
	bool tty = isatty(STDOUT_FILENO) && !ctl_json, sent_abort = false;
	struct sigaction sa = {.sa_handler = on_interrupt};
	unsigned since = 0;
	int code = CTLOPT_EXIT_FAILED, r;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (run_arg)
		snprintf(id, sizeof(id), "%s", run_arg);
	for (;;) {
		_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
		uint64_t ev = 0;
		char status[256];
		size_t sl = 0;

		if (interrupted && own && !sent_abort) {
			/* Ctrl-C on `chaosctl run` ends the GameDay, not just the watching. */
			fprintf(stderr, "\ninterrupted: aborting run %s\n", term_safe(id));
			(void)ctl_simple_request(PROTO_ABORT, "run", id);
			sent_abort = true;
		} else if (interrupted && !own) {
			fprintf(stderr, "\nstopped watching; run %s goes on (chaosctl abort %s)\n",
			                term_safe(id), term_safe(id));
			return CTLOPT_EXIT_FAILED;
		}
		r = watch_once(id[0] ? id : NULL, since, &m);
		if (r < 0)
			return ctl_exit_of(r);
		snprintf(id, sizeof(id), "%s", ctl_get(m, 0, "id"));
		/* The run's lease (if it has one) lives as long as this loop. */
		if (own && !streq(ctl_get(m, 0, "state"), "finished"))
			ctl_renew_run(id);
		(void)parse_u64_range(ctl_get(m, 0, "events"), 0, UINT32_MAX, &ev);
		if (tty)
			fputs("\r\033[K", stdout);
		for (unsigned i = ctl_first_record(m); i < m->n_fields;
		                i = proto_msg_next_record(m, i)) {
			uint64_t t = 0;

			if (!streq(m->fields[i].value, "event"))
				continue;
			(void)parse_u64_range(ctl_get(m, i, "t_us"), 0, UINT64_MAX, &t);
			if (!ctl_json)
				printf("[%7.1fs] %-8s %s\n", t / 1e6, ctl_show(m, i, "kind"),
				                ctl_show(m, i, "text"));
		}
		if (!ctl_json)
			since = (unsigned)ev;
		if (streq(ctl_get(m, 0, "state"), "finished")) {
			code = (int)strtol(ctl_get(m, 0, "exit_code"), NULL, 10);
			if (ctl_json)
				json_print_reply(m, JSON_WATCH);
			break;
		}
		if (tty) {
			sl += (size_t)snprintf(status + sl, sizeof(status) - sl, "%s %s / %s",
			                ctl_show(m, 0, "phase"),
			                fmt_dur(ctl_show(m, 0, "elapsed_us"), a, sizeof(a)),
			                fmt_dur(ctl_show(m, 0, "planned_us"), b, sizeof(b)));
			for (unsigned i = ctl_first_record(m);
			                i < m->n_fields && sl < sizeof(status);
			                i = proto_msg_next_record(m, i))
				if (streq(m->fields[i].value, "probe") && sl < sizeof(status))
					sl += (size_t)snprintf(status + sl, sizeof(status) - sl,
					                " | %s %s%% p99 %.1fms%s%s",
					                ctl_show(m, i, "name"),
					                ctl_show(m, i, "success_rate"),
					                strtod(ctl_show(m, i, "p99_us"), NULL) /
					                                1000,
					                ctl_get(m, i, "value")[0] ? " value " : "",
					                ctl_show(m, i, "value"));
			for (unsigned i = ctl_first_record(m), n = 0; i < m->n_fields;
			                i = proto_msg_next_record(m, i))
				if (streq(m->fields[i].value, "fault") && sl < sizeof(status))
					sl += (size_t)snprintf(status + sl, sizeof(status) - sl,
					                "%s%s:%s", n++ ? "," : " | faults ",
					                ctl_get(m, i, "edge"),
					                ctl_get(m, i, "kind"));
			fputs(status, stdout);
		}
		fflush(stdout);
		{
			struct timespec ts = {.tv_nsec = 500 * 1000 * 1000};
			(void)nanosleep(&ts, NULL);
		}
	}
	if (!ctl_json) {
		putchar('\n');
		(void)print_report(id, "text");
		printf("\nreport: chaosctl report %s [--json | --html > gameday.html]\n",
		                term_safe(id));
	}
	return code;
}

/* A scenario's host in its group: --host-name, else -H's NAME. */
static const char *host_name(int argc, char **argv)
{
	const char *h = option_value(argc, argv, "--host-name");

	return h ? h : remote_host_name();
}

int ctl_verb_plan(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv)
{
	const char *seed = option_value(argc, argv, "--seed");
	struct ctl_args a;
	int r = ctl_check_args(v, verb, argc, argv, &a);

	return r > 0 ? r
	             : plan_file(v, verb, argv[0], seed ? seed : remote_fan_seed(),
	                               host_name(argc, argv));
}

int ctl_verb_report(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	bool html = false;
	int r;

	for (int i = 0; i < argc; i++)
		html = html || streq(argv[i], "--html");
	/* --json (global or after the verb) is the document; --html would be a second one. */
	if (ctl_json && html)
		return ctl_fail("report: --html and --json exclude each other"), CTLOPT_EXIT_USAGE;
	r = ctl_send_args(v, verb, argc, argv, ctl_json ? "json" : "text", &m);
	if (r == 0)
		put_data(m, !ctl_json && !html);
	return r;
}

int ctl_verb_watch(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv)
{
	struct ctl_args a;
	int r = ctl_check_args(v, verb, argc, argv, &a);

	return r > 0 ? r : follow(a.n ? argv[0] : NULL, false);
}

int ctl_verb_run(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	char id[REPORT_ID_MAX + 1];
	const char *seed = option_value(argc, argv, "--seed");
	struct ctl_args a;
	int r = ctl_check_args(v, verb, argc, argv, &a);

	if (r > 0)
		return r;
	r = scenario_request(
	                verb, argv[0], seed ? seed : remote_fan_seed(), host_name(argc, argv), &m);
	if (r < 0)
		return r == -EINVAL ? CTLOPT_EXIT_FAILED : ctl_exit_of(r);
	snprintf(id, sizeof(id), "%s", ctl_get(m, 0, "run"));
	if (a.client_flag) { /* --detach */
		if (ctl_json)
			json_print_reply(m, v->doc);
		else
			printf("%s\n", term_safe(id));
		return 0;
	}
	if (!ctl_json)
		printf("run %s started (Ctrl-C aborts it; chaosctl run --detach leaves it "
		       "running)\n",
		                term_safe(id));
	return follow(id, true);
}
