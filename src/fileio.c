/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

static const char *file_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFLNK: return "a symbolic link";
	default: return "not a regular file";
	}
}

/* A non-regular file where a state file belongs: named, with what it is. */
static int not_regular(const char *path, mode_t m, struct diag *d)
{
	return diag_add(d, S_ISDIR(m) ? -EISDIR : -EINVAL,
			"'%s' is %s, not a regular file: move it out of the way", path,
			file_type(m));
}

/* Open PATH only if it is a regular file: O_NONBLOCK, so a FIFO there is found out instead of
 * waited on (a FIFO opened for writing without a reader fails with ENXIO). */
static int open_regular(const char *path, int flags, mode_t mode, struct stat *ret_st,
		struct diag *d)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode);
	if (fd < 0) {
		int r = negative_errno();
		if (r == -ENOENT && !(flags & O_CREAT))
			return r;
		/* a socket cannot be opened (ENXIO): say what is there */
		if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
			return not_regular(path, st.st_mode, d);
		return diag_add(d, r, "cannot open '%s': %s", path, strerror(-r));
	}
	if (fstat(fd, &st) < 0)
		return diag_add(d, negative_errno(), "cannot stat '%s': %m", path);
	if (!S_ISREG(st.st_mode))
		return not_regular(path, st.st_mode, d);
	if (ret_st)
		*ret_st = st;
	return TAKE_FD(fd);
}

int fileio_read_bounded(const char *path, size_t max, char **ret_buf, size_t *ret_len,
		struct diag *d)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap;
	struct stat st;

	fd = open_regular(path, O_RDONLY, 0, &st, d);
	if (fd < 0)
		return fd;
	if ((uintmax_t)st.st_size > max)
		return diag_add(d, -EFBIG, "'%s' is %jd bytes, more than the %zu chaosd reads",
				path, (intmax_t)st.st_size, max);
	/* One byte over the size seen, to notice a file that grows while read. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return diag_add(d, negative_errno(), "cannot read '%s': %m", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return diag_add(d, -EFBIG, "'%s' grew past the %zu bytes chaosd reads",
					path, max);
		if (len == cap) {
			char *nb;
			cap = MIN(2 * cap, max + 1);
			nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
	}
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int fileio_write_atomic_diag(const char *path, mode_t mode,
		int (*fill)(FILE *f, const void *userdata), const void *userdata, struct diag *d)
{
	_cleanup_free_ char *tmp = NULL;
	const char *step = NULL;
	struct stat st;
	FILE *f;
	int fd, r;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	/* rename() would put the file inside a directory standing where it belongs */
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return not_regular(path, st.st_mode, d);
	fd = open_regular(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode, NULL, d);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "w");
	if (!f) {
		r = negative_errno();
		safe_close(fd);
		(void)unlink(tmp);
		return r;
	}
	r = fill(f, userdata);
	if (r < 0)
		step = "cannot fill";
	/* A write that failed inside stdio (ENOSPC, EIO, a short write) sets the error flag
	 * even when the final flush succeeds. */
	else if (fflush(f) != 0 || ferror(f)) {
		r = negative_errno();
		step = "cannot write";
	} else if (fsync(fileno(f)) < 0) {
		r = negative_errno();
		step = "cannot fsync";
	}
	if (fclose(f) != 0 && r >= 0) {
		r = negative_errno();
		step = "cannot close";
	}
	if (r >= 0 && rename(tmp, path) < 0) {
		r = negative_errno();
		diag_add(d, r, "cannot rename '%s' to '%s': %s", tmp, path, strerror(-r));
	} else if (r < 0)
		diag_add(d, r, "%s '%s': %s", step, tmp, strerror(-r));
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

int fileio_write_atomic(const char *path, mode_t mode, int (*fill)(FILE *f, const void *userdata),
		const void *userdata)
{
	return fileio_write_atomic_diag(path, mode, fill, userdata, NULL);
}

int fileio_fsync_dir(const char *dir, struct diag *d)
{
	_cleanup_close_ int dfd = -EBADF;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return diag_add(d, negative_errno(), "cannot open directory '%s': %m", dir);
	if (fsync(dfd) < 0)
		return diag_add(d, negative_errno(), "cannot fsync directory '%s': %m", dir);
	return 0;
}

int fileio_reserve(const char *path, off_t size, struct diag *d)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	/* not truncated: an existing reserve keeps its blocks while it is topped up */
	fd = open_regular(path, O_WRONLY | O_CREAT, 0600, NULL, d);
	if (fd < 0)
		return fd;
	/* posix_fallocate returns the error instead of setting errno */
	r = -posix_fallocate(fd, 0, size);
	if (r == 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlink(path);
		return diag_add(d, r, "cannot reserve %jd bytes in '%s': %s", (intmax_t)size, path,
				strerror(-r));
	}
	return 0;
}

bool fileio_reserve_release(const char *path)
{
	return unlink(path) == 0;
}
