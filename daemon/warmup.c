/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <net/if.h>
#include <stdio.h>
#include <time.h>

#include "flowsel.h"
#include "timeutil.h"
#include "warmup.h"

int warmup_kernel(struct kernel k, uint64_t *ret_usec, struct diag *d)
{
	static const enum fault_direction dirs[] = { FAULT_DIR_OUT, FAULT_DIR_IN };
	const struct netem_config cfg = { .limit = 1000, .latency_ns = 1000000,
		.dist = FAULT_DIST_UNIFORM };
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	struct edge e = { .name = "chaosd-warm-up", .ifname = "lo", .n_prefixes = 1 };
	struct nl_nft_partition part = { .edge = &e, .ifname = "lo",
		.direction = FAULT_DIR_BOTH, .id = 0, .flows = 0 };
	int ifindex = (int)if_nametoindex("lo"), r = 0, r2;

	if (ifindex <= 0)
		return diag_add(d, -ENODEV, "no loopback interface to load the kernel's modules on");
	if (edge_prefix_parse("192.0.2.1/32", &e.prefixes[0]) < 0)
		return -EINVAL;
	for (unsigned i = 0; r >= 0 && i < ELEMENTSOF(dirs); i++)
		r = k.ops->set_netem(k.userdata, &e, ifindex, dirs[i], &cfg, FLOWSEL_ALL, d);
	if (r >= 0)
		r = k.ops->sync_partitions(k.userdata, &part, 1, d);
	/* Whatever was made goes, also after a failure. */
	for (unsigned i = 0; i < ELEMENTSOF(dirs); i++) {
		r2 = k.ops->set_netem(k.userdata, &e, ifindex, dirs[i], NULL, 0, d);
		r = r < 0 ? r : r2;
	}
	r2 = k.ops->sync_partitions(k.userdata, NULL, 0, d);
	r = r < 0 ? r : r2;
	*ret_usec = now_usec(CLOCK_MONOTONIC) - t0;
	return r < 0 ? r : 0;
}
