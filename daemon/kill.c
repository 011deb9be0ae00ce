/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "audit.h"
#include "daemon.h"
#include "kill.h"
#include "runner.h"
#include "status.h"
#include "timeutil.h"

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata);

static void schedule_retry(struct server *s)
{
	if (s->retry) {
		sd_event_source_set_time_relative(s->retry, USEC_PER_SEC);
		sd_event_source_set_enabled(s->retry, SD_EVENT_ONESHOT);
		return;
	}
	(void)sd_event_add_time_relative(s->event, &s->retry, CLOCK_MONOTONIC, USEC_PER_SEC,
			10 * USEC_PER_MSEC, on_retry, s);
}

/* Latched faults whose revert failed: try again every second until they are gone. */
static int on_retry(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;
	bool pending = false;

	for (unsigned i = 0; i < killswitch_count(s->killswitch); i++) {
		const struct kill_latch *k = killswitch_at(s->killswitch, i);
		struct diag d;

		diag_init(&d);
		if ((k->edge[0] ? faults_revert_edge(s->faults, k->edge, "kill-retry", k->uid,
						  k->pid, NULL, &d) :
				  faults_revert_all(s->faults, "kill-retry", k->uid, k->pid, &d)) <
				0) {
			log_error("kill switch: reverting %s%s%s failed again, retrying: %s",
					k->edge[0] ? "edge '" : "every fault", k->edge,
					k->edge[0] ? "'" : "", diag_text(&d));
			pending = true;
		}
	}
	if (pending)
		schedule_retry(s);
	return 0;
}

int kill_pull(struct server *s, const char *edge, const char *reason, uint64_t for_usec,
		uid_t uid, pid_t pid, unsigned *ret_reverted, const char **ret_warning,
		struct diag *d)
{
	const struct kill_latch *k;
	unsigned reverted = 0;
	bool unrecorded = false;
	char why[400];
	int r, w;

	/* Latch first: even if some revert fails below, nothing new may be injected. */
	s->metrics.kill_activations++;
	w = killswitch_engage(s->killswitch, edge, reason, for_usec, uid, pid, &k);
	if (w == -ENOMEM)
		return w;
	unrecorded |= w < 0;
	if (edge) {
		r = faults_revert_edge(s->faults, edge, "kill", uid, pid, &reverted, d);
	} else {
		reverted = faults_count(s->faults);
		r = faults_revert_all(s->faults, "kill", uid, pid, d);
		if (r < 0)
			reverted = 0;
	}
	if (r < 0)
		schedule_retry(s);
	snprintf(why, sizeof(why), "kill switch%s%s by uid %u%s%s", edge ? " on edge " : "",
			edge ? edge : "", (unsigned)uid, k->reason[0] ? ": " : "", k->reason);
	if (edge)
		runner_abort_edge(s->runner, edge, why);
	else
		runner_abort(s->runner, NULL, why);
	audit_log(&(struct audit_event){ .action = "kill-switch", .uid = uid, .pid = pid,
			.edge = edge, .params = k->reason,
			.result = r < 0 ? "some reverts failed; retrying" : "ok" });
	unrecorded |= killswitch_history_append(s->killswitch, k, reverted,
			r < 0 ? "partial" : "ok") < 0;
	/* The journal's failures reached the server through the fault core's hooks. */
	unrecorded |= s->degraded != NULL;
	status_notify(s);
	if (r < 0)
		return diag_add(d, r, "kill switch engaged, but some faults could not be reverted "
				"yet: chaosd keeps retrying every second (see 'chaosctl status')");
	*ret_reverted = reverted;
	*ret_warning = unrecorded ? "the faults are reverted in the kernel, but this could not "
				    "be recorded in the state directory: chaosd is degraded (see "
				    "'chaosctl status')" :
				    NULL;
	return 0;
}
