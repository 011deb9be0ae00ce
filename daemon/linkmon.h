/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Interfaces and routes changing under active faults (rtnetlink groups): a deleted interface
 * drops its faults, a renamed one keeps them, and edges found by route follow their route.
 * It also answers "which interface is this edge on" from a cache while nothing changed. */

#include "edge.h"

struct server;
struct linkmon;

int linkmon_new(struct server *s, struct linkmon **ret);
struct linkmon *linkmon_free(struct linkmon *m);
int linkmon_resolve_ifindex(struct linkmon *m, const struct edge *e, int *ret_ifindex,
		struct diag *d);
/* The name of the interface an edge resolved to. */
void linkmon_ifname(const struct edge *e, int ifindex, char ret[IF_NAMESIZE]);
