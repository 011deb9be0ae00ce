/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chaosd's state as metrics: OpenMetrics text for `chaosctl metrics`, and the same samples in
 * the Prometheus text format (what node_exporter's textfile collector parses) for the file
 * named by metrics_file. This module only renders and writes; the server keeps the counters
 * and hands over a snapshot of its state. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fault.h"
#include "report.h"

/* Since chaosd started; Prometheus notices the reset of a restart by itself. */
struct metrics_counters {
	uint64_t applied[_FAULT_KIND_MAX];  /* new, updated in place, re-adopted, moved */
	uint64_t reverted[_FAULT_KIND_MAX]; /* by any cause, including a deleted interface */
	uint64_t apply_failed[_FAULT_KIND_MAX];
	uint64_t revert_failed[_FAULT_KIND_MAX];
	uint64_t kill_activations;
	uint64_t last_revert_usec;
	bool have_last_revert;
};

struct metrics_fault {
	const char *edge;
	enum fault_kind kind;
	uint64_t id;
	const char *affected;      /* what it did: "delayed", "dropped", ... */
	uint64_t affected_packets; /* since it was applied, from the kernel's counters */
	bool idle;                 /* no packet matched for 30 s */
};

struct metrics_state {
	const struct metrics_counters *counters;
	const struct config *config;       /* its edges get a series even without faults */
	const struct metrics_fault *faults;
	unsigned n_faults;
	const char *const *kill_scopes;    /* engaged kill switches: "" all edges, else an edge */
	unsigned n_kill_scopes;
	bool degraded;                     /* state changes could not be recorded */
	uint64_t runs_ended[REPORT_ABORTED + 1]; /* by enum report_outcome */
	const struct report *const *running; /* reports of the runs still running */
	unsigned n_running;
};

enum metrics_format {
	METRICS_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
	METRICS_PROMETHEUS,  /* text/plain; version=0.0.4 */
};

#define METRICS_OPENMETRICS_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* The text, NUL-terminated, in *ret (free() it). */
int metrics_render(const struct metrics_state *st, enum metrics_format format, char **ret,
		size_t *ret_len);
/* Replace path atomically (a temporary file in the same directory, then rename), world
 * readable so a node_exporter running as another user can read it. */
int metrics_write_file(const char *path, const char *text, size_t len);
