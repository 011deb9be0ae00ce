/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* SIGHUP: the configuration is read again without blocking the loop. Host names in it are
 * resolved by a child process (the loop never waits on NSS; at most RELOAD_RESOLVE_USEC); then faults whose
 * edge vanished or changed are reverted, every other active fault is checked against the new
 * guard rails, and the new configuration takes over. A file that does not load leaves the old
 * configuration in force. */

#include <stdbool.h>

#define RELOAD_RESOLVE_USEC (10 * USEC_PER_SEC)

struct server;
struct reload;

int reload_new(struct server *s, struct reload **ret);
struct reload *reload_free(struct reload *r);
/* Starts a reload (or, while one waits for names, a second one right after it). */
void reload_start(struct reload *r);
/* Whether a reload waits for names. */
bool reload_pending(const struct reload *r);
