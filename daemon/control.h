/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The control socket, built for hostile local clients (the shape of OpenBSD bgpd's control.c):
 * - who may connect is decided by the socket file (0660, group socket_group, a POSIX ACL
 *   entry for read_group), and again by chaosd from SO_PEERCRED/SO_PEERGROUPS: a peer with
 *   no rights is closed at accept and never holds a slot;
 * - root, socket_group members and read_group members have separate pools of connections
 *   and per-uid caps, so readers can never take the slots of those who may stop a fault;
 * - a request must arrive whole within CONTROL_REQUEST_USEC of its first byte (trickled
 *   bytes do not extend it), a client with nothing to do is closed after an idle time;
 * - one request at a time per client (its reply must be read before the next is served),
 *   and the bytes buffered for non-root clients together stay under CONTROL_BUDGET: a client
 *   beyond it simply waits;
 * - root and socket_group clients run at a higher sd-event priority than readers, and
 *   sd-event dispatches one source per iteration, so a privileged request waits for at most
 *   one reader's request. */

#include <stdbool.h>
#include <sys/socket.h>

#include "proto.h"

#define CONTROL_ROOT_MAX       128 /* root's own connections */
#define CONTROL_OPS_MAX        32  /* socket_group members (not root), all together */
#define CONTROL_READ_MAX       128 /* read_group members, all together */
#define CONTROL_PER_UID_MAX    8   /* any one non-root uid */
/* Connections the kernel queues before chaosd accepts them (and closes those without rights):
 * long, because a full queue makes even root's connect() wait (systemd's default too). */
#define CONTROL_BACKLOG        SOMAXCONN
#define CONTROL_BUDGET         (16u * 1024 * 1024) /* buffered bytes, non-root clients */
#define CONTROL_REQUEST_USEC   (5 * USEC_PER_SEC)
#define CONTROL_IDLE_USEC      (60 * USEC_PER_SEC)
#define CONTROL_READ_IDLE_USEC (10 * USEC_PER_SEC)

struct server;
struct control;

struct control_peer {
	struct ucred cred;
	bool may_write;
};

int control_new(struct server *s, struct control **ret);
struct control *control_free(struct control *c);
/* The socket systemd passed, or bind path. Groups may be NULL. */
int control_listen(struct control *c, const char *path, const char *socket_group,
		const char *read_group);
/* Resolve the groups' ids again (start, reload): never per connection, so a slow NSS
 * (LDAP, sssd) cannot stall the loop while clients connect. Also re-applies the socket's
 * owner, mode and ACL when chaosd created it. */
int control_set_groups(struct control *c, const char *socket_group, const char *read_group);
unsigned control_n_clients(const struct control *c);
