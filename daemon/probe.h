/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Health probes of a running scenario: http (and https), prometheus, tcp and exec, each driven
 * by the daemon's one sd-event loop without ever blocking it (libcurl's multi interface on the
 * loop, non-blocking sockets, a spawned child watched by the loop), so a slow or hung target
 * can never delay the kill switch. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "diag.h"
#include "scenario.h"

struct probe;

/* One finished attempt: ok, its latency (tcp: the kernel's handshake round trip; http and
 * prometheus: the time to the answer's first byte as libcurl took it, which a busy loop can
 * make later, never earlier; exec: the command's run time; a failure: the wall clock), the
 * query's value of a successful prometheus probe (else NAN) and a short reason when it
 * failed. */
typedef void (*probe_result_fn)(void *userdata, unsigned index, bool ok, uint64_t latency_usec,
		double value, const char *detail);

/* What def needs before its first attempt, loaded now so that the load neither blocks the loop
 * inside a measured window nor fails a run half way: libcurl for http, https and prometheus.
 * 0, or -ELIBACC with the reason in d. */
int probe_prepare(const struct scenario_probe *def, struct diag *d);
/* Starts probing def every def->interval, the first attempt at once. */
int probe_start(sd_event *event, const struct scenario_probe *def, unsigned index,
		probe_result_fn cb, void *userdata, struct probe **ret);
/* Stops, kills a running command, closes sockets. Accepts NULL. */
struct probe *probe_free(struct probe *p);
