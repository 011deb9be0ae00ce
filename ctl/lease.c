/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inject --lease: chaosctl holds the fault by renewing it while it lives. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "parse.h"
#include "timeutil.h"
#include "utf8.h"

static volatile sig_atomic_t stop_holding;

static void on_stop_signal(int sig)
{
	stop_holding = 1;
}

/* The dead-man lease: renew at a third of the lease while this process lives. If it is
 * killed or the machine running it dies, the renewals stop and chaosd reverts the fault
 * within one lease period. A clean stop (Ctrl-C, SIGTERM) reverts at once. */
int ctl_hold_lease(const char *id, uint64_t lease_usec)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};
	uint64_t period = MAX(lease_usec / 3, 200 * USEC_PER_MSEC);
	char l[32];
	int r;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	fprintf(ctl_json ? stderr : stdout,
	                "holding fault %s with a %s lease (renewed every "
	                "%.1fs); stop this command to revert it\n",
	                term_safe(id), parse_format_duration(lease_usec, l, sizeof(l)),
	                (double)period / USEC_PER_SEC);
	fflush(stdout);
	while (!stop_holding) {
		struct timespec ts = {.tv_sec = (time_t)(period / USEC_PER_SEC),
		                .tv_nsec = (long)(period % USEC_PER_SEC) * 1000};
		/* A signal cuts the sleep short; the flag is checked right after. */
		(void)nanosleep(&ts, NULL);
		if (stop_holding)
			break;
		r = ctl_simple_request(PROTO_RENEW, "id", id);
		if (r == -EREMOTEIO)
			return ctl_exit_of(
			                r); /* the daemon says the fault is gone: nothing to hold */
	}
	r = ctl_simple_request(PROTO_REVERT, "id", id);
	if (r < 0)
		return ctl_exit_of(r);
	fprintf(ctl_json ? stderr : stdout, "reverted fault %s\n", term_safe(id));
	return 0;
}
