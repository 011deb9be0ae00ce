/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "audit.h"
#include "instance.h"

#define LOCK_NAME "chaosd/netns-lock"

int instance_lock(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(LOCK_NAME));
	_cleanup_close_ int fd = -EBADF, probe = -EBADF;
	struct ucred cred = {};
	socklen_t clen = sizeof(cred);

	memcpy(sa.sun_path + 1, LOCK_NAME, strlen(LOCK_NAME)); /* sun_path[0] = 0: abstract */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return negative_errno();
	if (bind(fd, (struct sockaddr *)&sa, len) == 0) {
		/* Listening, so that the next one can ask who holds it. */
		if (listen(fd, 1) < 0)
			return negative_errno();
		return TAKE_FD(fd);
	}
	if (errno != EADDRINUSE)
		return negative_errno();
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, len) == 0 &&
			getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.pid > 0)
		log_error("another chaosd (pid %d) runs in this network namespace and owns its "
				"chaosd objects: stop it first (one chaosd per network namespace, "
				"whatever its --state-dir)", (int)cred.pid);
	else
		log_error("another chaosd runs in this network namespace and owns its chaosd "
				"objects: stop it first (one chaosd per network namespace, whatever "
				"its --state-dir)");
	return -EBUSY;
}
