/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The service edges whose sockets chaosd marks now, each with a mark of its own
 * (nl_nft_mark_value(slot)), kept in table inet chaosd_mark. A cgroup is followed across
 * restarts (cgwatch): when it is made anew its rule is rewritten with the new id at once, and
 * while it is gone the edge has no rule (there is nothing to match). */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "diag.h"
#include "edge.h"
#include "nl_socket.h"

struct svcscope;

/* s: a NETLINK_NETFILTER socket, kept by the caller. */
int svcscope_new(sd_event *ev, struct nl_socket *s, struct svcscope **ret, struct diag *d);
struct svcscope *svcscope_free(struct svcscope *sc);
/* Mark edge e's sockets: cgroup = and user = as configured; for unit =, control_group is what
 * systemd said (unitres), else NULL. The edge's mark in ret_mark. -EEXIST: marked already. */
int svcscope_add(struct svcscope *sc, const struct edge *e, const char *control_group,
		uint32_t *ret_mark, struct diag *d);
/* Stop marking it; the last one removes the table. -ENOENT: not marked. */
int svcscope_remove(struct svcscope *sc, const char *edge, struct diag *d);
/* What it resolves to now, for chaosctl edges and status: "cgroup system.slice/a.service
 * (id 4711, level 2) uid 0 mark 0x10000", "cgroup system.slice/a.service (gone) ...", with
 * " ! WHY" when the last rewrite after a cgroup change failed. */
int svcscope_describe(const struct svcscope *sc, const char *edge, char *buf, size_t n);
/* Times its rules were rewritten because a cgroup changed (for tests and metrics). */
unsigned svcscope_follows(const struct svcscope *sc);
