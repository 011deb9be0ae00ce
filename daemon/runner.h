/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Scenario runs inside the daemon: phases steady-state-before -> method -> rollback ->
 * steady-state-after, probes the whole time, abort on a probe's abort_when, on `chaosctl
 * abort`, on the kill switch, on max_duration, on a lapsed lease and on daemon stop. Every
 * abort reverts everything the run applied. A run keeps going (and keeps its deadlines) when
 * the client that started it goes away. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "proto.h"
#include "report.h"
#include "scenario.h"

struct runner;

/* How a run reaches the faults: the same admission and kernel path as chaosctl inject, with
 * the run as the fault's owner. */
struct runner_hooks {
	void *userdata;
	int (*check)(void *userdata, const char *edge, const struct fault *f, struct diag *d);
	int (*apply)(void *userdata, const char *run, const char *edge, const struct fault *f,
			uid_t uid, pid_t pid, uint64_t *ret_id, struct diag *d);
	/* 0 if the fault is already gone. */
	int (*revert)(void *userdata, uint64_t id, const char *why, uid_t uid, pid_t pid,
			struct diag *d);
	/* Something a status line or metrics show changed. */
	void (*changed)(void *userdata);
	/* What fault id did so far (faults_affected); -ENOENT if it is gone. May be NULL. */
	int (*affected)(void *userdata, uint64_t id, const char **ret_verb, uint64_t *ret_packets);
};

int runner_new(const struct runner_hooks *hooks, sd_event *event, const char *reports_dir,
		struct runner **ret);
/* Aborts what still runs ("daemon stopping"), writes their reports. Accepts NULL. */
struct runner *runner_free(struct runner *r);
void runner_set_limits(struct runner *r, unsigned max_running, unsigned keep_reports);

/* Check a scenario against the daemon (edges, limits, who may run exec probes). */
int runner_check(struct runner *r, const struct scenario *sc, uid_t uid, struct diag *d);
/* Takes sc. Writes the run id to ret_id. */
int runner_start(struct runner *r, struct scenario *sc, uid_t uid, pid_t pid, char *ret_id,
		size_t n, struct diag *d);
/* id NULL: every running run. Returns how many were aborted. */
unsigned runner_abort(struct runner *r, const char *id, const char *why);
/* The kill switch for one edge: abort the runs that hold or will hold a fault on it. */
unsigned runner_abort_edge(struct runner *r, const char *edge, const char *why);
/* The fault core reverted a fault by other means (deadline, revert, kill, interface gone). */
void runner_fault_gone(struct runner *r, uint64_t fault_id);
/* Which run owns a fault ("" if none). */
const char *runner_fault_owner(struct runner *r, uint64_t fault_id);
unsigned runner_n_running(const struct runner *r);
/* For metrics: runs ended since chaosd started by outcome (indexed by enum report_outcome),
 * and the reports of up to max runs still running. Returns how many reports it wrote. */
unsigned runner_metrics(const struct runner *r, uint64_t ret_ended[REPORT_ABORTED + 1],
		const struct report **ret_running, unsigned max);

int runner_renew(struct runner *r, const char *id, struct diag *d);
/* Progress of a run (the latest if id is NULL): state, phase, times, probes, the run's
 * faults and events from number since on. */
int runner_watch(struct runner *r, const char *id, unsigned since, struct proto_writer *w,
		struct diag *d);
/* A report as text, json or html, in "data" fields of at most PROTO_MAX_VALUE bytes. */
int runner_report(struct runner *r, const char *id, const char *format, struct proto_writer *w,
		struct diag *d);
/* The timeline a scenario would run, without running it. */
int runner_plan(struct runner *r, const struct scenario *sc, struct proto_writer *w,
		struct diag *d);
