/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <sys/types.h>

/* Replace PATH whole or not at all: FILL writes PATH.tmp (created with MODE, never through a
 * symlink), which is fsynced and renamed over PATH; on any failure the temporary file goes and
 * PATH is untouched. Syncing the directory, when the rename itself must be durable, is the
 * caller's. */
int fileio_write_atomic(const char *path, mode_t mode, int (*fill)(FILE *f, const void *userdata),
		const void *userdata);
