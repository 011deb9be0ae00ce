/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a fault did so far, read from the kernel's counters of the objects that carry it (the
 * partition's nftables rule, the edge's netem), for status, metrics and reports. */

#include "faults.h"
#include "kernel.h"

/* The edge's netem counters over af's directions. */
void fault_counters_netem(const struct kernel *k, const struct active_fault *af,
		struct datapath_stats *ret);
/* af's own share since it was applied (af->base), in words a user reads right; notes when the
 * count last moved (af->seen_*), for the "no packet matched" flag. */
void fault_counters_affected(const struct kernel *k, struct active_fault *af,
		struct faults_affected *ret);
/* The raw counters now: matched, dropped and queued at this instant. */
void fault_counters_now(const struct kernel *k, const struct active_fault *af,
		uint64_t *ret_matched, uint64_t *ret_dropped, uint64_t *ret_delayed);
