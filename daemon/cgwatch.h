/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Following service edges' cgroups across restarts. A unit's cgroup is removed when it stops and
 * made anew when it starts, with a new id (its inode), so a mark rule keyed on the old id would
 * match nothing. cgwatch watches each cgroup's parent directory with inotify (mkdir and rmdir of
 * cgroups go through the VFS, which reports them) and calls back from the event loop with the
 * cgroup's id whenever it changes, or -ENOENT while it is gone. */

#include <stdint.h>
#include <systemd/sd-event.h>

/* r >= 0: path exists now with id and level; r < 0: it is gone (-ENOENT) or cannot be read. */
typedef void (*cgwatch_fn)(void *userdata, const char *path, int r, uint64_t id, unsigned level);

struct cgwatch;

/* root: the cgroup2 mount (edge_cgroup2_root). */
int cgwatch_new(sd_event *ev, const char *root, cgwatch_fn fn, void *userdata,
		struct cgwatch **ret);
struct cgwatch *cgwatch_free(struct cgwatch *w);
/* Follow path (relative to root, as edge_cgroup_normalize gives it); later changes come through
 * fn. 1: it exists now, its id and level in ret_id/ret_level; 0: it does not (yet), followed all
 * the same; < 0: not followed (-EEXIST: already is; -ENOENT: its parent does not exist). */
int cgwatch_add(struct cgwatch *w, const char *path, uint64_t *ret_id, unsigned *ret_level);
int cgwatch_remove(struct cgwatch *w, const char *path);
