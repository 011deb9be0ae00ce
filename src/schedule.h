/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The timing of scenario steps beyond a fixed 'at' and 'for': a random start in a window
 * (at = random 1m..5m), a chance per interval (chance = 10% every 30s), a random edge
 * (edge = random(db, cache)), a start on a probe condition (start_when, bounded by
 * start_within), an end on one (until, bounded by for), and named latency presets
 * (ms = preset:cross-region). Every random choice comes from the scenario's seed, so the same
 * seed gives the same timeline. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fault.h"
#include "scenario-model.h"

/* A step key this module reads: 1 read into st, 0 not one of its keys, -EINVAL with why. */
int schedule_step_key(struct scenario_step *st, const char *key, const char *value, char *why,
		size_t n);
/* Once the step is complete and the probes known: the keys that need each other. */
int schedule_step_check(const struct scenario *s, struct scenario_step *st, char *why, size_t n);
/* The latest the step may start: the window's end, or at + start_within. */
uint64_t schedule_latest_start(const struct scenario_step *st);
/* An edge both steps may land on, NULL if none. */
const char *schedule_shared_edge(const struct scenario_step *a, const struct scenario_step *b);

/* Make every random choice of s from seed: start times, chance tries, edges. Needs a scenario
 * that parsed (end_usec of each step at its latest, method_usec). */
void schedule_resolve(struct scenario *s, uint64_t seed);
/* A seed for a file that sets none. */
uint64_t schedule_random_seed(void);

/* ms = preset:NAME: 1 applied to f (ms, and jitter and distribution unless the step sets
 * them), 0 not a preset, -EINVAL with why. */
int schedule_preset_apply(struct fault *f, const char *value, bool keep_jitter, bool keep_dist,
		char *why, size_t n);
/* "same-rack 0.1-0.5ms, ..." for help and errors. */
char *schedule_preset_list(char *buf, size_t n);

/* The generator behind the choices (splitmix64): small, fast, and the same on every host. */
struct schedule_rng {
	uint64_t state;
};
void schedule_rng_init(struct schedule_rng *r, uint64_t seed, uint64_t stream);
uint64_t schedule_rng_next(struct schedule_rng *r);
/* Uniform in [0, n), n > 0. */
uint64_t schedule_rng_below(struct schedule_rng *r, uint64_t n);
