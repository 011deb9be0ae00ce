/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The timeline a scenario would run (chaosctl plan), without running it: its settings, steps,
 * probes and every apply, update and revert at its method time. */

#include "diag.h"
#include "proto.h"
#include "scenario.h"

int plan_put(const struct scenario *sc, struct proto_writer *w, struct diag *d);
