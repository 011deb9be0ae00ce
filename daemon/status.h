/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What chaosd tells about itself: systemd's STATUS= line, and metrics (chaosctl metrics, and
 * metrics_file, rewritten at most once per second after a change). */

#include <stddef.h>

#include "metrics.h"

struct server;

/* STATUS= for systemd, now; also schedules a write of metrics_file. */
void status_notify(struct server *s);
/* The same after a fault came or went: at most one STATUS= a second, the last state always
 * told (a timer, armed only while one is owed). */
void status_changed(struct server *s);
void status_metrics_changed(struct server *s);
int status_render_metrics(struct server *s, enum metrics_format format, char **ret,
		size_t *ret_len);
/* Now (at stop: the file must not go on claiming faults that were reverted). */
void status_write_metrics_file(struct server *s);
