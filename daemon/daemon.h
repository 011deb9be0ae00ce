/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's parts, owned by struct server (daemon/server.c, which also holds the lifecycle
 * and reload). Each part has its own file and header:
 *   faults.c      the fault core (registry, kernel transitions, deadlines) - no upward calls
 *   killswitch.c  latches, their file and history
 *   admit.c       what an inject is checked against: latch, edge, interface, guard rails
 *   linkmon.c     interfaces and routes changing under active faults
 *   reload.c      SIGHUP, with host names resolved outside the loop
 *   control.c     the socket: clients, credentials, framing, fairness
 *   requests.c    one handler per verb, behind control.c's dispatch
 *   kill.c        the kill switch as an operation (latch, revert, abort runs, retry)
 *   status.c      STATUS= and metrics
 *   degraded.c    changes that could not be recorded, and getting out of it
 *   instance.c    one chaosd per network namespace
 *   runner.c      scenario runs, which reach the fault core through hooks */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "faults.h"
#include "journal.h"
#include "kernel.h"
#include "killswitch.h"
#include "metrics.h"
#include "server.h"

struct control;
struct linkmon;
struct reload;
struct runner;

struct server {
	sd_event *event;
	struct server_options opt;
	struct config *config;
	struct journal *journal;
	struct kernel_netlink kn;
	struct faults *faults;
	struct killswitch *killswitch;
	struct linkmon *linkmon;
	struct reload *reload;
	struct control *control;
	struct runner *runner;
	sd_event_source *retry; /* kill-switch reverts that failed are tried again */

	/* Set when chaosd could not record a change it made (a full or failing state
	 * directory): new faults are refused until the state is written again. */
	char *degraded;
	sd_event_source *recover;

	struct metrics_counters metrics;

	sd_event_source *metrics_timer; /* metrics_file: written at most once per second */
	sd_event_source *status_timer; /* STATUS= owed after a burst of changes */
	uint64_t status_sent_mono;
	uint64_t metrics_written_mono;
};
