/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Ownership helpers in the style of systemd: a variable marked _cleanup_free_ is freed when it
 * leaves scope unless TAKE_PTR() handed it on. Destructors used with these accept NULL. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_     __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _pure_       __attribute__((pure))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define streq(a, b)   (strcmp((a), (b)) == 0)
#define strcaseeq(a, b) (strcasecmp((a), (b)) == 0)
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

#define TAKE_PTR(p)                                                                              \
	({                                                                                         \
		__typeof__(p) _p_ = (p);                                                           \
		(p) = NULL;                                                                        \
		_p_;                                                                               \
	})

#define TAKE_FD(fd)                                                                              \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -EBADF;                                                                     \
		_fd_;                                                                              \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* close() must not clobber errno of the failure that made us unwind. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -EBADF;
}

static inline void closep(int *fd)
{
	safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                  \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

static inline void *mfree(void *p)
{
	free(p);
	return NULL;
}

/* src into dst[n] (n >= 1) as snprintf(dst, n, "%s", src) would: cut, always terminated;
 * without printf's machinery, which on a request's path costs more than the copy. */
static inline char *strcpy_cut(char *dst, size_t n, const char *src)
{
	size_t len = MIN(strlen(src), n - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
	return dst;
}

/* Negative errno from a libc call that reports through errno. */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}
