/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One sd-event timer for many deadlines (every fault's end and lease): armed at the earliest
 * one asked for, and the owner finds what is due when it fires. A timer per fault made the
 * kill switch of 1000 faults spend half of chaosd's own work taking 1000 sources out of
 * sd-event's priority queues. */

#include <stdint.h>
#include <systemd/sd-event.h>

#define DEADLINE_NEVER UINT64_MAX

struct deadline;

/* Called from the loop at or after the time asked for, with CLOCK_MONOTONIC's now; it says
 * when to wake next by deadline_set (the timer is off until then). */
typedef void (*deadline_fn)(void *userdata, uint64_t now);

int deadline_new(sd_event *event, deadline_fn fn, void *userdata, struct deadline **ret);
struct deadline *deadline_free(struct deadline *t);
/* Wake at usec (CLOCK_MONOTONIC) or earlier: no change when the timer is due before. */
int deadline_want(struct deadline *t, uint64_t usec);
/* Wake at usec exactly; DEADLINE_NEVER: not at all. */
int deadline_set(struct deadline *t, uint64_t usec);
