/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

int fileio_write_atomic(const char *path, mode_t mode, int (*fill)(FILE *f, const void *userdata),
		const void *userdata)
{
	_cleanup_free_ char *tmp = NULL;
	FILE *f;
	int fd, r;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return negative_errno();
	f = fdopen(fd, "w");
	if (!f) {
		r = negative_errno();
		safe_close(fd);
		(void)unlink(tmp);
		return r;
	}
	r = fill(f, userdata);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = r < 0 ? r : negative_errno();
	if (fclose(f) != 0 && r >= 0)
		r = negative_errno();
	if (r >= 0 && rename(tmp, path) < 0)
		r = negative_errno();
	if (r < 0)
		(void)unlink(tmp);
	return r;
}
