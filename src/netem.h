/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One netem qdisc's configuration in kernel units, as TCA_OPTIONS will carry it. Probabilities
 * and correlations are scaled to u32 (UINT32_MAX = 100 %) the way iproute2's q_netem.c does. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define NETEM_DIST_MAX 16384 /* entries; iproute2's tables are 4096 */

struct netem_dist {
	int16_t *data;
	size_t n;
};

struct netem_config {
	uint32_t limit; /* packets */
	int64_t latency_ns;
	int64_t jitter_ns;
	uint32_t delay_corr;
	uint32_t loss;      /* random loss probability */
	uint32_t loss_corr;
	uint32_t duplicate;
	uint32_t dup_corr;
	uint32_t reorder;
	uint32_t reorder_corr;
	uint32_t gap;
	uint32_t corrupt;
	uint32_t corrupt_corr;
	bool gemodel;       /* loss via Gilbert-Elliott instead of random */
	uint32_t ge_p, ge_r, ge_h, ge_k1;
	uint64_t rate_bytes_per_sec; /* 0 = none */
	int dist;           /* enum fault_dist; the table is loaded by netem_dist_load */
};

/* Scale 0..100 % to netem's u32. */
uint32_t netem_percent_to_u32(double percent);
/* Scale a fraction 0..1 to netem's u32: iproute2's set_percent(), rint(f * UINT32_MAX). */
uint32_t netem_fraction_to_u32(double fraction);
double netem_u32_to_percent(uint32_t v);
/* Load iproute2's distribution table NAME.dist (normal, pareto, paretonormal) from the first of
 * $CHAOSD_TC_LIB_DIR, /usr/lib/x86_64-linux-gnu/tc, /usr/lib/tc, /usr/lib64/tc that has it. */
int netem_dist_load(const char *name, struct netem_dist *ret, struct diag *d);
void netem_dist_done(struct netem_dist *dist);
/* netem's queue limit. Without a rate limit (rate_bytes_per_sec 0): (delay + 3*jitter) worth of
 * MTU-size packets at link_rate, x2, at least 1000 (netem's default). With one: (delay +
 * 3*jitter + 50 ms) worth at that rate, at least 20, so the queue adds no more than 50 ms. */
uint32_t netem_limit_for(int64_t latency_ns, int64_t jitter_ns, uint64_t link_rate_bps,
		uint64_t rate_bytes_per_sec);
