/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <time.h>

#include "fault-counters.h"
#include "macro.h"
#include "timeutil.h"

/* The two directions, in the order of the per-direction arrays (out, in). */
static const enum fault_direction dirs[] = { FAULT_DIR_OUT, FAULT_DIR_IN };

/* The edge's netem counters over af's directions. */
void fault_counters_netem(const struct kernel *k, const struct active_fault *af,
		struct datapath_stats *ret)
{
	
	*ret = (struct datapath_stats){};
	for (unsigned i = 0; i < ELEMENTSOF(dirs); i++) {
		struct datapath_stats st = {};
		if (!(af->fault.direction & dirs[i]) ||
				k->ops->netem_stats(k->userdata, &af->edge, af->ifindex,
						dirs[i], &st) < 0)
			continue;
		ret->packets += st.packets;
		ret->bytes += st.bytes;
		ret->drops += st.drops;
	}
}

/* A counter since base; a netem made anew since (counters from 0) counts from there. */
static uint64_t since(uint64_t now, uint64_t base)
{
	return now >= base ? now - base : now;
}

void fault_counters_affected(const struct kernel *k, struct active_fault *af,
		struct faults_affected *ret)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	struct datapath_stats st;

	*ret = (struct faults_affected){ .verb = "passed" };
	switch (af->fault.kind) {
	case FAULT_PARTITION:
		ret->verb = "dropped";
		(void)k->ops->partition_drops(k->userdata, af->id, &ret->packets);
		break;
	case FAULT_LOSS:
		ret->verb = "dropped";
		fault_counters_netem(k, af, &st);
		ret->packets = since(st.drops, af->base.drops);
		break;
	default:
		if (af->fault.kind == FAULT_LATENCY || af->fault.kind == FAULT_REORDER)
			ret->verb = "delayed";
		else if (af->fault.kind == FAULT_RATE)
			ret->verb = "paced";
		fault_counters_netem(k, af, &st);
		ret->packets = since(st.packets, af->base.packets);
		ret->bytes = since(st.bytes, af->base.bytes);
		break;
	}
	if (ret->packets != af->seen_count) {
		af->seen_count = ret->packets;
		af->seen_mono_usec = now;
	}
	ret->idle_usec = now > af->seen_mono_usec ? now - af->seen_mono_usec : 0;
}

void fault_counters_now(const struct kernel *kn, const struct active_fault *af,
		uint64_t *ret_matched, uint64_t *ret_dropped, uint64_t *ret_delayed)
{
	struct datapath_stats st = {}, st_in = {};
	void *k = kn->userdata;

	*ret_matched = *ret_dropped = *ret_delayed = 0;
	if (af->fault.kind == FAULT_PARTITION) {
		uint64_t drops = 0;
		if (kn->ops->partition_drops(k, af->id, &drops) >= 0)
			*ret_matched = *ret_dropped = drops;
		return;
	}
	if ((af->fault.direction & FAULT_DIR_OUT))
		(void)kn->ops->netem_stats(k, &af->edge, af->ifindex, FAULT_DIR_OUT, &st);
	if ((af->fault.direction & FAULT_DIR_IN))
		(void)kn->ops->netem_stats(k, &af->edge, af->ifindex, FAULT_DIR_IN, &st_in);
	*ret_matched = st.packets + st.drops + st_in.packets + st_in.drops;
	*ret_delayed = st.qlen + st_in.qlen;
	*ret_dropped = st.drops + st_in.drops;
}
