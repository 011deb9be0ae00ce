/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One chaosd per network namespace: chaosd's kernel objects (IFBs, filters, the nftables
 * table) are per namespace and found by name, so a second daemon or a --cleanup there would
 * remove what a live one still lists, whatever state directory each was given. The lock is an
 * abstract UNIX socket, which lives in the network namespace and goes when its holder dies
 * (no stale lock after a crash). */

/* Returns the lock's fd (kept open for the process's life), or -EBUSY with the holder named
 * in the log. */
int instance_lock(void);
