/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Lossless revert (chaosd(8), SAFETY). Deleting a netem drops the packets it holds (TCP resends
 * them after its retransmission timeout, a connect waits for the SYN retry), and lowering its
 * delay in place would let new packets overtake them (dup ACKs, spurious fast retransmits). So
 * a revert that takes delay off an edge keeps the edge's netem for the longest time a packet
 * can spend in it, carrying what the remaining faults ask for plus a rate so high it costs
 * nothing: with a rate, netem queues each new packet behind the last one it holds, so nothing
 * is lost or overtaken. Once the delay is over, its interface quiet and nothing left on the
 * way through its IFB (up to 60 s: until then the objects, which delay nothing, stay), the
 * owner of the faults gives the edge exactly its faults (or nothing). The kill switch, a move
 * and a vanished interface do not wait. A crash meanwhile is safe: the fault is already out
 * of the journal, and a restart's cleanup removes every object chaosd owns. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "diag.h"
#include "edge.h"
#include "fault.h"
#include "kernel.h"
#include "netem.h"

struct drains;
struct drain;

struct drain_hooks {
	/* How many netem faults e has on ifindex in direction dir now (<0: failed). */
	int (*n_faults)(void *userdata, const struct edge *e, int ifindex,
			enum fault_direction dir, struct diag *d);
	/* The drain is over: e on ifindex gets exactly its faults (drains_find finds no drain
	 * holding it any more). */
	int (*sync)(void *userdata, const struct edge *e, int ifindex, struct diag *d);
	/* Something status shows changed. */
	void (*changed)(void *userdata);
	void *userdata;
};

/* kernel and hooks are copied; event is referenced. */
int drains_new(sd_event *event, struct kernel kernel, const struct drain_hooks *hooks,
		struct drains **ret);
struct drains *drains_free(struct drains *ds);

/* Start or extend the drain of e on ifindex, whose netem goes from before[] to after[] per
 * direction (out, in; NULL: that direction does not change). *ret_new: a drain this call
 * started (drain_cancel it if the revert fails). 0 and no drain when nothing can overtake. The
 * caller syncs the edge next. */
int drains_begin(struct drains *ds, const struct edge *e, int ifindex,
		const struct netem_config *const before[2], const struct netem_config *const after[2],
		uint32_t flows, struct drain **ret_new);

struct drain *drains_find(const struct drains *ds, const char *edge, int ifindex);
/* Ends a drain without touching the kernel. */
void drain_cancel(struct drains *ds, struct drain *dr);
/* Every drain (the kill switch took the objects), or those on ifindex (it vanished). */
void drains_cancel_all(struct drains *ds);
void drains_cancel_interface(struct drains *ds, int ifindex);

/* For the sync of a draining edge, per direction: whether its traffic was taken off its netem
 * (a fault that came back needs the netem made anew, then drain_reclassified); cfg made to
 * keep what the netem holds in order and in its queue (false: not draining that direction);
 * the share of flows the netem had. */
bool drain_unclassified(const struct drain *dr, enum fault_direction dir);
void drain_reclassified(struct drain *dr, enum fault_direction dir);
bool drain_order(const struct drain *dr, enum fault_direction dir, struct netem_config *cfg);
uint32_t drain_flows(const struct drain *dr);
