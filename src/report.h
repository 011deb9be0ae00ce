/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The record of one scenario run: every kernel change with its time, the probe samples, the
 * phases, why it ended and whether the hypothesis held. The run fills it as it goes; at the
 * end it is written as JSON (for tools), text (for the terminal) and one self-contained HTML
 * page (inline SVG charts, no network fetches). Times are microseconds since the run began. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "macro.h"

#define REPORT_SCHEMA  "chaosd.report/1"
#define REPORT_ID_MAX  95
#define REPORT_TEXT_MAX 255

enum report_phase {
	REPORT_BEFORE, /* steady-state-before */
	REPORT_METHOD,
	REPORT_ROLLBACK,
	REPORT_AFTER, /* steady-state-after */
	_REPORT_PHASE_MAX,
};

enum report_outcome {
	REPORT_RUNNING,
	REPORT_HELD,     /* exit 0 */
	REPORT_VIOLATED, /* exit 1 */
	REPORT_ABORTED,  /* exit 2 */
};

struct report_event {
	uint64_t t_usec;
	uint64_t realtime_usec;
	char kind[16]; /* phase, apply, update, revert, abort, error, info */
	char step[64];
	char edge[40];
	char fault[16];
	char text[REPORT_TEXT_MAX + 1];
};

struct report_sample {
	uint64_t t_usec;
	uint32_t latency_usec;
	bool ok;
	uint8_t phase;
};

struct report_probe {
	char name[64];
	char type[8];
	char target[REPORT_TEXT_MAX + 1];
	char abort_when[96];
	char steady_state[96];
	struct report_sample *samples;
	unsigned n_samples, cap_samples;
};

/* A fault's time on an edge, drawn as a band. */
struct report_band {
	char step[64];
	char label[96];
	uint64_t from_usec, to_usec; /* to 0: still on */
};

/* A step: what started it, what ended it, how long the probes took to recover. */
struct report_step {
	char name[64];
	char edge[40];
	char trigger[160];
	uint64_t start_usec, end_usec; /* UINT64_MAX: did not start, did not end */
	char end_reason[REPORT_TEXT_MAX + 1];
	uint64_t recovery_usec; /* from the end until every probe is good again; UINT64_MAX: not
				 * within the run */
};

struct report_summary {
	unsigned count;
	double success_rate; /* percent */
	uint64_t p50, p95, p99; /* microseconds, of completed probes */
};

struct report {
	char id[REPORT_ID_MAX + 1];
	char scenario[64];
	char description[REPORT_TEXT_MAX + 1];
	char file[REPORT_TEXT_MAX + 1];
	uid_t uid;
	uint64_t started_realtime_usec;
	uint64_t duration_usec;
	uint64_t phase_start_usec[_REPORT_PHASE_MAX]; /* UINT64_MAX: not reached */
	enum report_outcome outcome;
	char reason[REPORT_TEXT_MAX + 1];
	uint64_t abort_usec; /* 0: not aborted */
	int hypothesis_before; /* 1 held, 0 violated, -1 not checked */
	int hypothesis_after;

	struct report_event *events;
	unsigned n_events, cap_events;
	struct report_probe *probes;
	unsigned n_probes;
	struct report_band *bands;
	unsigned n_bands, cap_bands;
	uint64_t seed; /* of the scenario's random choices */
	struct report_step *steps;
	unsigned n_steps;
};

int report_new(const char *id, unsigned n_probes, struct report **ret);
struct report *report_free(struct report *r);
/* n step records, not started. */
int report_steps_init(struct report *r, unsigned n);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct report *, report_free);

const char *report_phase_to_string(enum report_phase p);
const char *report_outcome_to_string(enum report_outcome o);
int report_outcome_exit_code(enum report_outcome o);

int report_event_add(struct report *r, uint64_t t_usec, const char *kind, const char *step,
		const char *edge, const char *fault, const char *fmt, ...) _printf_(7, 8);
int report_sample_add(struct report *r, unsigned probe, uint64_t t_usec, bool ok,
		uint64_t latency_usec, enum report_phase phase);
/* Returns the band index. */
int report_band_open(struct report *r, const char *step, const char *label, uint64_t t_usec);
void report_band_close(struct report *r, int band, uint64_t t_usec);

/* Samples of probe in [from, to) (any phase if phase < 0). */
void report_summarize(const struct report *r, unsigned probe, int phase, uint64_t from_usec,
		uint64_t to_usec, struct report_summary *ret);

int report_write_json(const struct report *r, FILE *f);
int report_write_text(const struct report *r, FILE *f);
int report_write_html(const struct report *r, FILE *f);

/* Write DIR/ID.json, .txt and .html (each atomically), then delete the oldest reports beyond
 * keep. */
int report_save(const struct report *r, const char *dir, unsigned keep);
