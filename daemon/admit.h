/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Admission: everything a fault is checked against before the kernel is touched - the
 * degraded state, the kill switch, the edge, max_duration, the interface and the guard rails
 * of chaosd.conf - for an inject, a scenario step, a re-adoption after a restart, and again
 * for every active fault after a reload. Each refusal names the rule and where it is set. */

#include <net/if.h>

#include "edge.h"
#include "fault.h"
#include "journal.h"

struct server;

/* Fills in the default duration. */
int admit_fault(struct server *s, const char *edge, struct fault *f, const struct edge **ret_e,
		int *ret_ifindex, char ret_ifname[IF_NAMESIZE], struct diag *d);
/* Apply again what an earlier run of chaosd had applied, where it still may. */
void admit_adopt(struct server *s, const struct journal_fault *prev, unsigned n);
/* After a reload: revert every active fault that the guard rails now refuse. */
void admit_recheck(struct server *s);
