/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "timeutil.h"

/* When the event loop woke up for what is being handled (sd-event read the clocks then): work
 * done for one wakeup costs no clock read of its own. Before the loop's first run, the clock. */
static inline uint64_t loop_now_usec(sd_event *e, clockid_t clock)
{
	uint64_t t;

	if (sd_event_now(e, clock, &t) < 0)
		t = now_usec(clock);
	return t;
}
