/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "audit.h"
#include "daemon.h"
#include "loop-time.h"
#include "notify.h"
#include "runner.h"
#include "status.h"
#include "timeutil.h"

/* A burst of injects or reverts tells systemd once a second, not once a fault: the first change
 * at once, the state after the rest when the second is over. Each message wakes systemd (or
 * whatever listens on NOTIFY_SOCKET); 1000 faults one by one were 1000 wakeups. */
#define STATUS_INTERVAL_USEC USEC_PER_SEC

static int on_status_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	status_notify(userdata);
	return 0;
}

void status_changed(struct server *s)
{
	uint64_t at = s->status_sent_mono + STATUS_INTERVAL_USEC;
	int enabled = SD_EVENT_OFF;

	if (s->status_timer && sd_event_source_get_enabled(s->status_timer, &enabled) >= 0 &&
			enabled != SD_EVENT_OFF)
		return; /* due soon: it tells the state as it is then */
	if (!s->status_sent_mono || loop_now_usec(s->event, CLOCK_MONOTONIC) >= at) {
		status_notify(s);
		return;
	}
	if (!s->status_timer) {
		if (sd_event_add_time(s->event, &s->status_timer, CLOCK_MONOTONIC, at,
				    50 * USEC_PER_MSEC, on_status_timer, s) < 0)
			status_notify(s); /* no timer: told now rather than late */
		else
			(void)sd_event_source_set_enabled(s->status_timer, SD_EVENT_ONESHOT);
		return;
	}
	(void)sd_event_source_set_time(s->status_timer, at);
	(void)sd_event_source_set_enabled(s->status_timer, SD_EVENT_ONESHOT);
}

void status_notify(struct server *s)
{
	char text[512];
	unsigned n = faults_count(s->faults);

	s->status_sent_mono = loop_now_usec(s->event, CLOCK_MONOTONIC);
	if (s->status_timer)
		(void)sd_event_source_set_enabled(s->status_timer, SD_EVENT_OFF);

	snprintf(text, sizeof(text), "STATUS=%s%.300s%s%u active fault%s%s",
			s->degraded ? "DEGRADED (" : "", s->degraded ? s->degraded : "",
			s->degraded ? "); " : "", n, n == 1 ? "" : "s",
			killswitch_count(s->killswitch) ? "; kill switch engaged" : "");
	notify_send(text);
	status_metrics_changed(s);
}

int status_render_metrics(struct server *s, enum metrics_format format, char **ret,
		size_t *ret_len)
{
	_cleanup_free_ struct metrics_fault *faults = NULL;
	_cleanup_free_ const char **scopes = NULL;
	const struct report *running[16];
	struct metrics_state st = { .counters = &s->metrics, .config = s->config };
	unsigned n = faults_count(s->faults), n_latches = killswitch_count(s->killswitch);

	faults = calloc(n ? n : 1, sizeof(*faults));
	scopes = calloc(n_latches ? n_latches : 1, sizeof(*scopes));
	if (!faults || !scopes)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct active_fault *af = faults_at(s->faults, i);
		struct faults_affected a;
		faults_affected(s->faults, af, &a);
		faults[i] = (struct metrics_fault){ af->edge.name, af->fault.kind, af->id, a.verb,
			a.packets, a.idle_usec >= FAULTS_IDLE_USEC };
	}
	for (unsigned i = 0; i < n_latches; i++)
		scopes[i] = killswitch_at(s->killswitch, i)->edge;
	st.faults = faults;
	st.n_faults = n;
	st.kill_scopes = scopes;
	st.n_kill_scopes = n_latches;
	st.degraded = s->degraded != NULL;
	st.running = running;
	st.n_running = runner_metrics(s->runner, st.runs_ended, running, ELEMENTSOF(running));
	return metrics_render(&st, format, ret, ret_len);
}

void status_write_metrics_file(struct server *s)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	s->metrics_written_mono = now_usec(CLOCK_MONOTONIC);
	r = status_render_metrics(s, METRICS_PROMETHEUS, &text, &len);
	if (r >= 0)
		r = metrics_write_file(s->config->metrics_file, text, len);
	if (r < 0)
		log_error("cannot write metrics_file '%s': %s", s->config->metrics_file,
				strerror(-r));
}

static int on_metrics_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	if (s->config->metrics_file)
		status_write_metrics_file(s);
	return 0;
}

/* Debounced: a burst of changes is one write, and an idle daemon has no timer at all. */
void status_metrics_changed(struct server *s)
{
	uint64_t at;
	int enabled = SD_EVENT_OFF;

	if (!s->config->metrics_file)
		return;
	at = MAX(now_usec(CLOCK_MONOTONIC), s->metrics_written_mono + USEC_PER_SEC);
	if (s->metrics_timer && sd_event_source_get_enabled(s->metrics_timer, &enabled) >= 0 &&
			enabled != SD_EVENT_OFF)
		return;
	if (!s->metrics_timer) {
		(void)sd_event_add_time(s->event, &s->metrics_timer, CLOCK_MONOTONIC, at,
				10 * USEC_PER_MSEC, on_metrics_timer, s);
		return;
	}
	(void)sd_event_source_set_time(s->metrics_timer, at);
	(void)sd_event_source_set_enabled(s->metrics_timer, SD_EVENT_ONESHOT);
}
