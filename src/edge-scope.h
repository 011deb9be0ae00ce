/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The service scope of an edge: unit = (a systemd unit's control group, asked of systemd when the
 * edge is used), cgroup = (a path below the cgroup2 mount) and user = (a uid). A scoped edge
 * selects only the traffic of those sockets; unscoped, it selects every process's. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edge.h"

/* "api.service", "batch.slice", "run-u7.scope": a unit whose processes have a control group.
 * -EINVAL for anything else (templates without an instance, other unit types, bad characters);
 * ret_why says what is allowed. */
int edge_unit_check(const char *s, const char **ret_why);
/* "system.slice/api.service" or "/system.slice/api.service" (as /proc/PID/cgroup shows it) into
 * ret (n bytes), without the leading '/'. -EINVAL: empty, the root, "." or ".." components,
 * empty components, a mount path, bad characters or too long; ret_why says which. */
int edge_cgroup_normalize(const char *s, char *ret, size_t n, const char **ret_why);
/* A uid ("1001") or a user name ("postgres", looked up in the user database). -EINVAL: not a
 * uid or name; -ENOENT: no such user; -ERANGE: uid out of range. */
int edge_user_parse(const char *s, uint32_t *ret_uid);
/* Whether s is a user name (looked up in the user database), not a uid. */
bool edge_user_is_name(const char *s);

bool edge_scoped(const struct edge *e);
bool edge_scope_equal(const struct edge *a, const struct edge *b);
/* No socket can be in both scopes: different uids, different service/scope units, or cgroup
 * paths neither of which contains the other. Unknown (unit against cgroup, slices): false. */
bool edge_scopes_disjoint(const struct edge *a, const struct edge *b);
/* "unit=api.service user=postgres(1001)", "" when unscoped. */
char *edge_scope_format(const struct edge *e, char *buf, size_t n);

/* The cgroup2 mount: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one;
 * -ENOENT when there is none (socket cgroupv2 matches need it). */
int edge_cgroup2_root(const char **ret);
/* The kernel's id of cgroup path (below root) as nftables' socket cgroupv2 matches it (the
 * directory's inode), and its level (components: system.slice/a.service is 2). -ENOENT: no such
 * cgroup now. */
int edge_cgroup_id(const char *root, const char *path, uint64_t *ret_id, unsigned *ret_level);
