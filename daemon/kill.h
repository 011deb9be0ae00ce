/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The kill switch as an operation: engage the latch first (nothing new is injected from then
 * on), revert what it forbids in one pass, abort the runs, audit, record the activation, and
 * keep retrying every second whatever could not be reverted yet. Never slowed by a state
 * directory that cannot be written: that is reported (*ret_warning), not waited for. */

#include <stdint.h>
#include <sys/types.h>

#include "diag.h"

struct server;

int kill_pull(struct server *s, const char *edge, const char *reason, uint64_t for_usec,
		uid_t uid, pid_t pid, unsigned *ret_reverted, const char **ret_warning,
		struct diag *d);
