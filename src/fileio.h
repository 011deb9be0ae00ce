/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "diag.h"

/* Read a whole state file into a NUL-terminated buffer (*ret_len excludes the NUL; ret_len may
 * be NULL). Opened O_NONBLOCK|O_NOCTTY|O_NOFOLLOW, so a FIFO, device or symlink in its place is
 * refused and never blocks. Errors:
 * -ENOENT untouched and without a diag line (callers tell "absent" from "unreadable"); -EISDIR,
 * -EINVAL (FIFO, socket, device, symlink: not a regular file) and -EFBIG (over max bytes) name
 * path and what was found; anything else names path and strerror. */
int fileio_read_bounded(const char *path, size_t max, char **ret_buf, size_t *ret_len,
		struct diag *d);

/* Replace PATH whole or not at all: FILL writes PATH.tmp (created with MODE, never through a
 * symlink, refused if something other than a regular file is there), which is fsynced and
 * renamed over PATH; on any failure the temporary file goes and PATH is untouched. A short or
 * failed write (ENOSPC, EIO, EFBIG), fsync or rename failure returns -errno, with a diag line
 * naming the path and the failing step. Syncing the directory, when the rename itself must be
 * durable, is the caller's (fileio_fsync_dir). */
int fileio_write_atomic_diag(const char *path, mode_t mode,
		int (*fill)(FILE *f, const void *userdata), const void *userdata, struct diag *d);
/* The same without a diag. */
int fileio_write_atomic(const char *path, mode_t mode, int (*fill)(FILE *f, const void *userdata),
		const void *userdata);

/* fsync the directory DIR (a rename in it is durable after this). */
int fileio_fsync_dir(const char *dir, struct diag *d);

/* A space reserve: PATH preallocated to SIZE bytes (posix_fallocate, then fsync), so that when
 * the file system fills up a writer can delete it and still write what must be written (a
 * revert, the kill switch). fileio_reserve: 0 when PATH already holds SIZE bytes or now does;
 * on failure (typically -ENOSPC) nothing is left behind. fileio_reserve_release: unlinks it;
 * true when there was one to free. */
int fileio_reserve(const char *path, off_t size, struct diag *d);
bool fileio_reserve_release(const char *path);
