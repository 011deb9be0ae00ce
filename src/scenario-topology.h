/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GameDay steps over a group of hosts: [scenario] hosts = a, b, c and a step's topology = SPEC
 * (src/topology.c) instead of edge = NAME. The same file runs on every host of the group
 * (chaosctl -H a=URL,b=URL,c=URL run FILE); each daemon is told its own name in the group and
 * one seed shared by all, and turns each topology step into one partition step per peer edge
 * it must cut, so every host computes the same cuts and applies its side of them. */

#include <stddef.h>

#include "diag.h"
#include "scenario-model.h"

/* "a, b, c": names (edge names), at least two, none twice. */
int scenario_hosts_parse(const char *value, struct scenario_hosts *ret, char *why, size_t n);
/* A step key: 1 when KEY is topology (parsed into st), 0 when it is not this module's, -EINVAL
 * with why. */
int scenario_topology_step_key(struct scenario_step *st, const char *key, const char *value,
		char *why, size_t n);
/* Once the file is read: a topology step is a partition, not a ramp, without edge, and its
 * topology fits [scenario] hosts. -EINVAL with why. */
int scenario_topology_check(const struct scenario *s, const struct scenario_step *st, char *why,
		size_t n);
/* Whether any step names a topology. */
bool scenario_has_topology(const struct scenario *s);
/* For host HOST (its name in [scenario] hosts; NULL: not known) with the resolved seed: each
 * topology step becomes one step per peer HOST cuts (edge = the peer's name), none when it
 * cuts nobody. A scenario without topology steps is left alone. -EINVAL with a diag naming
 * the step and the key when HOST is missing or not in the group. */
int scenario_topology_expand(struct scenario *s, const char *host, struct diag *d);
