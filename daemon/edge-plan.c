/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "edge-plan.h"
#include "flowsel.h"
#include "macro.h"
#include "parse.h"

int edge_plan_merge_dir(const struct edge *e, enum fault_direction dir, uint64_t link_rate_bps,
		struct active_fault *const *list, unsigned n, struct netem_config *ret_cfg,
		const struct fault **ret_first, unsigned *ret_k, struct diag *d)
{
	const struct fault *sel[_FAULT_KIND_MAX];
	unsigned k = 0;
	int r;

	for (unsigned i = 0; i < n; i++) {
		const struct active_fault *af = list[i];
		if (!streq(af->edge.name, e->name) || !fault_uses_netem(&af->fault) ||
				!(af->fault.direction & dir))
			continue;
		if (k == ELEMENTSOF(sel))
			return diag_add(d, -EEXIST, "edge '%s': too many faults", e->name);
		sel[k++] = &af->fault;
	}
	*ret_cfg = (struct netem_config){ .dist = FAULT_DIST_UNIFORM };
	*ret_first = k ? sel[0] : NULL;
	*ret_k = k;
	if (k == 0)
		return 0;
	r = fault_merge_netem(sel, k, link_rate_bps, ret_cfg, d);
	return r < 0 ? r : 0;
}

static char *share_text(uint32_t share, char *buf, size_t n)
{
	char pct[32];

	if (share >= FLOWSEL_ALL)
		snprintf(buf, n, "all of its flows");
	else
		snprintf(buf, n, "%s%% of its flows",
				parse_format_double(share * 100. / FLOWSEL_ALL, pct, sizeof(pct)));
	return buf;
}

int edge_plan_check_flows(const struct edge *e, struct active_fault *const *old, unsigned n_old,
		struct active_fault *const *new, unsigned n_new, struct diag *d)
{
	const struct active_fault *kept = NULL, *added = NULL, *part = NULL, *netem = NULL;
	char a[48], b[48], c[32];

	for (unsigned i = 0; i < n_new; i++) {
		const struct active_fault *af = new[i];
		bool was = false;

		if (!streq(af->edge.name, e->name))
			continue;
		for (unsigned k = 0; k < n_old && !was; k++)
			was = old[k] == af;
		if (was && !kept)
			kept = af;
		if (!was && (!added || fault_flows(&af->fault) != fault_flows(&added->fault)))
			added = af;
		if (af->fault.kind == FAULT_PARTITION)
			part = af;
		else
			netem = af;
	}
	if (kept && added && fault_flows(&kept->fault) != fault_flows(&added->fault))
		return diag_add(d, -EINVAL, "edge '%s': its faults affect %s (fault %" PRIu64 ", "
				"%s); a %s fault on %s cannot join them: all faults of an edge "
				"affect the same flows (give flows = %s, or revert them first)",
				e->name, share_text(fault_flows(&kept->fault), a, sizeof(a)),
				kept->id, fault_kind_to_string(kept->fault.kind),
				fault_kind_to_string(added->fault.kind),
				share_text(fault_flows(&added->fault), b, sizeof(b)),
				parse_format_double(fault_flows(&kept->fault) * 100. / FLOWSEL_ALL,
						c, sizeof(c)));
	if (part && netem && fault_flows(&part->fault) < FLOWSEL_ALL)
		return diag_add(d, -EINVAL, "edge '%s': a partition and %s cannot both be limited "
				"to %s: nftables and chaosd's classifier would pick different "
				"connections (partition all flows, or revert one of them)",
				e->name, fault_kind_to_string(netem->fault.kind),
				share_text(fault_flows(&part->fault), a, sizeof(a)));
	return 0;
}
