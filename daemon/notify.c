/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sd_notify() makes a socket for every message (socket, four setsockopt, sendmsg, close).
 * STATUS= goes out with every inject and revert, and on an emulated CPU those calls were a
 * tenth of a request, so one connected socket carries them. systemd learns the sender from
 * the credentials the kernel attaches (SO_PASSCRED on its end), connected or not. When the
 * socket fails (systemd re-executed, NOTIFY_SOCKET not a path), sd_notify() takes over and
 * the next message connects anew. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "macro.h"
#include "notify.h"

static int notify_fd = -EBADF;

static int notify_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;
	int fd;

	/* '@': an abstract socket; anything else (vsock:) is sd_notify()'s to handle */
	if (!path || (path[0] != '/' && path[0] != '@'))
		return -EAFNOSUPPORT;
	n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					n)) < 0) {
		int r = negative_errno();
		safe_close(fd);
		return r;
	}
	return fd;
}

void notify_send(const char *text)
{
	size_t n = strlen(text);

	if (notify_fd < 0)
		notify_fd = notify_connect();
	if (notify_fd >= 0 && send(notify_fd, text, n, MSG_NOSIGNAL) == (ssize_t)n)
		return;
	notify_fd = safe_close(notify_fd);
	(void)sd_notify(0, text);
}

void notify_close(void)
{
	notify_fd = safe_close(notify_fd);
}
