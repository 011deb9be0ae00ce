/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Loading the kernel modules chaosd needs (sch_netem, sch_htb, ifb, cls_u32, act_mirred,
 * clsact, nf_tables and its expressions) before READY: the kernel loads them on the first
 * object of each kind, which cost the first inject ~0.9 s on a fresh kernel and, while the
 * loop waited, inflated every probe sample then taken. */

#include <stdint.h>

#include "diag.h"
#include "kernel.h"

/* Make and remove one throwaway object of each kind: a netem in each direction on the
 * loopback interface for an edge of 192.0.2.1/32 (TEST-NET-1, never in use) and a partition of
 * it. Leaves the kernel as it found it. *ret_usec: how long it took. */
int warmup_kernel(struct kernel k, uint64_t *ret_usec, struct diag *d);
