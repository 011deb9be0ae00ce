/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "datapath.h"
#include "journal.h"
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
/* Revert every fault (stop, kill switch). Keeps going past failures; returns the first. */
int server_revert_all(struct server *s, const char *why, uid_t uid, pid_t pid);
int server_reload(struct server *s);
unsigned server_n_faults(const struct server *s);
/* Also schedules a write of metrics_file. */
void server_notify_status(struct server *s);
/* State that metrics show changed: metrics_file is rewritten, at most once per second. */
void server_metrics_changed(struct server *s);

/* For scenario runs (daemon/runner.c): the same checks and kernel path as chaosctl inject,
 * with the run as the fault's owner. */
int server_check_fault(struct server *s, const char *edge, const struct fault *f,
		struct diag *d);
int server_run_apply(struct server *s, const char *run, const char *edge, const struct fault *f,
		uid_t uid, pid_t pid, uint64_t *ret_id, struct diag *d);
int server_run_revert(struct server *s, uint64_t id, const char *why, uid_t uid, pid_t pid,
		struct diag *d);
unsigned server_abort_runs(struct server *s, const char *why);

/* Remove every chaosd object from the kernel (chaosd --cleanup and start-up). */
int server_cleanup_kernel(struct datapath *dp, struct nl_nft *nft, struct journal *j);
