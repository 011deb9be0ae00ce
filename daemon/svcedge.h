/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Service edges in front of the kernel: an edge scoped by unit =, cgroup = or user = gets
 * chaosd's mark (svcscope, table inet chaosd_mark) while any of its faults is applied, and the
 * tc datapath and the partition rules are handed a copy of the edge that carries that mark.
 * The holders of an edge's mark are its egress netem, its ingress netem and its partition;
 * when the last lets go, the mark rule goes and the connections' marks it set are cleared.
 *
 * unit = is asked of systemd over D-Bus (unitres), never on the inject's path: every unit edge
 * of the config is asked at start and once a second after, and a fault uses the last answer
 * (a unit that is not active then is refused with its state). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "diag.h"
#include "edge.h"

enum {
	SVCEDGE_OUT = 1 << 0,
	SVCEDGE_IN = 1 << 1,
	SVCEDGE_PART = 1 << 2,
};

struct svcedge;

/* ev may be NULL (no cgroup following, no unit lookups: the cleanup path). */
int svcedge_new(sd_event *ev, struct svcedge **ret, struct diag *d);
struct svcedge *svcedge_free(struct svcedge *s);

/* The unit edges to ask systemd about (after a load or reload); the others are forgotten. */
void svcedge_set_units(struct svcedge *s, const struct edge *edges, unsigned n);

/* Before the event loop runs (start, re-adoption): wait up to usec for systemd's answers. */
void svcedge_wait_units(struct svcedge *s, uint64_t usec);

/* Take holder h (SVCEDGE_*) of scoped edge e's mark, marking its sockets if it is the first;
 * ret: e with the mark, and without destinations the whole of both families. 1: h was taken
 * now (undo with svcedge_release on failure), 0: h held it already. */
int svcedge_hold(struct svcedge *s, const struct edge *e, unsigned h, struct edge *ret,
		struct diag *d);
/* e as the kernel holds it (with its mark, 0 if none). */
void svcedge_copy(const struct svcedge *s, const struct edge *e, struct edge *ret);
/* Let go of holder h; the last one unmarks the edge and clears its connections' marks. */
void svcedge_release(struct svcedge *s, const char *edge, unsigned h);
/* Let go of holder h for every edge not among names[0..n). */
void svcedge_release_others(struct svcedge *s, unsigned h, const char *const *names, unsigned n);
/* The interface edge's netem is on; when it is deleted (the kernel took the netems with it),
 * forget_ifindex lets go of the netem holders of its edges. */
void svcedge_note_ifindex(struct svcedge *s, const char *edge, int ifindex);
void svcedge_forget_ifindex(struct svcedge *s, int ifindex);
/* Kill switch, cleanup: table inet chaosd_mark deleted (if it may exist) and every connection's
 * chaosd bits cleared; the holds are forgotten. s may be NULL (a socket of its own). */
int svcedge_remove_all(struct svcedge *s, struct diag *d);

/* The kernel was just cleaned without s (start-up): nothing of chaosd's marks is there, so the
 * next remove_all sends nothing (a DELTABLE costs the kernel an RCU grace period). */
void svcedge_cleaned(struct svcedge *s);

/* What the edge resolves to now, for chaosctl edges and status: "cgroup ... (id N, level L)
 * uid U mark 0x10000", "unit a.service active /system.slice/a.service (not marked)", "". */
void svcedge_describe(const struct svcedge *s, const struct edge *e, char *buf, size_t n);
/* Times a mark rule was rewritten because a cgroup came and went (restart follow). */
unsigned svcedge_follows(const struct svcedge *s);
