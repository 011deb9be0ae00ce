/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's lifecycle: builds its parts (daemon/daemon.h), cleans up after an earlier run,
 * re-adopts what may be, reloads, reports status and metrics, and keeps the promise that a
 * change chaosd could not record is never silent: it turns "degraded" and refuses new faults
 * until its state can be written again. */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "datapath.h"
#include "journal.h"
#include "metrics.h"
#include "nl_nft.h"

struct server;

struct server_options {
	const char *config_path;
	const char *socket_path;
	const char *state_dir;
};

/* Opens the netlink sockets and the journal, and removes whatever an earlier chaosd left in
 * the kernel (crash recovery) before anything is accepted. */
int server_new(sd_event *event, const struct server_options *opt, struct config *config,
		struct server **ret);
struct server *server_free(struct server *s);
/* Listen on the socket passed by systemd, or bind opt->socket_path. */
int server_listen(struct server *s);
/* Revert every fault (stop). Returns the first error. */
int server_revert_all(struct server *s, const char *why, uid_t uid, pid_t pid);
/* SIGHUP: daemon/reload.c, without blocking the loop. */
void server_reload(struct server *s);
unsigned server_n_faults(const struct server *s);
/* STATUS= for systemd; also schedules a write of metrics_file. */
void server_notify_status(struct server *s);
unsigned server_abort_runs(struct server *s, const char *why);

/* Open the state journal of state_dir; one chaosd cannot parse is moved aside (named in the
 * log) and an empty one started, so that nothing is re-adopted from it. */
int server_open_journal(const char *state_dir, struct journal **ret);
/* Remove every chaosd object from the kernel (chaosd --cleanup and start-up). */
int server_cleanup_kernel(struct datapath *dp, struct nl_nft *nft, struct journal *j);
