/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Degraded: chaosd made a change it could not record (a full, read-only or failing state
 * directory, a directory or FIFO where a state file goes). The change stands in the kernel;
 * chaosd says so (STATUS=, chaosctl status, metrics, a warning on the reply), refuses new
 * faults and runs, writes a marker on the runtime file system so that the next start
 * re-adopts nothing (and re-engages an unrecorded kill switch), and tries every
 * DEGRADED_RECOVER_USEC to write its state again. */

#include <systemd/sd-event.h>

#define DEGRADED_RECOVER_USEC (2 * USEC_PER_SEC)

struct server;

void degraded_enter(struct server *s, int err, const char *what);
/* After a state change: the journal may have failed to record something (a removal by the
 * datapath, say) that the fault core's hooks did not see. */
void degraded_check(struct server *s);
int degraded_on_recover(sd_event_source *es, uint64_t usec, void *userdata);
/* Beside the socket (the runtime directory): the marker's path, malloc'ed. */
char *degraded_marker_path(const struct server *s);
/* What the last run could not record: 0 nothing, 1 a revert, 2 a kill. */
int degraded_marker_read(struct server *s);
