/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Which peers hold established SSH sessions on this host, on any port, so that a partition
 * that would cut the operator off can be refused.
 *
 * The kernel lists the TCP sockets of the current network namespace (NETLINK_SOCK_DIAG,
 * LISTEN and ESTABLISHED, IPv4 and IPv6) with their inodes; /proc tells which processes hold
 * which inodes (/proc/PID/fd/N -> "socket:[INODE]"). An sshd process is one whose comm is
 * "sshd" or "sshd-session" (OpenSSH 9.8 runs each session as sshd-session). Then:
 *
 *   - a listening socket is SSH's if an sshd process holds it, or if the service manager
 *     (PID 1) holds it and its port is in sockdiag_opts.manager_ports (systemd's ssh.socket
 *     with Accept=no hands the listener to sshd, which holds it too; the list is for setups
 *     where only PID 1 does);
 *   - an established socket is an SSH session if an sshd process holds it (a per-connection
 *     sshd of ssh.socket with Accept=yes, or inetd), or if its local address and port are
 *     those of an SSH listening socket (the wildcard address matches any; a connection still
 *     in the accept queue is held by nobody yet).
 *
 * Reading another user's (or a non-dumpable process's, as sshd is) /proc/PID/fd needs
 * CAP_SYS_PTRACE, and CAP_DAC_READ_SEARCH for processes of other users: without them an sshd
 * whose descriptors cannot be read is an error (-EACCES), never a silent "no session".
 *
 * Bounded: at most SOCKDIAG_MAX_SOCKETS sockets, SOCKDIAG_MAX_PROCS /proc entries and
 * SOCKDIAG_MAX_FDS descriptors per scanned process; more is an error (-E2BIG) rather than a
 * partial answer. Only sshd processes (and PID 1 when manager_ports is not empty) have their
 * descriptors read. Nothing waits except the netlink dump itself. */

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "diag.h"

#define SOCKDIAG_MAX_SOCKETS 131072
#define SOCKDIAG_MAX_PROCS   65536
#define SOCKDIAG_MAX_FDS     65536

struct sockdiag_peer {
	int family; /* AF_INET (also for an IPv4-mapped peer of a dual-stack socket) or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;                /* the remote end */
	uint16_t lport, rport; /* host byte order */
};

struct sockdiag_opts {
	/* Ports on which a listening socket held by the service manager counts as sshd's. */
	const uint16_t *manager_ports;
	size_t n_manager_ports;
	/* The service manager's PID; 0 means 1 (tests give another). */
	pid_t manager_pid;
};

/* The peers of every established SSH session of this network namespace (see above); o may be
 * NULL. *ret is malloc'ed (NULL when *ret_n is 0) and written only on success. */
int sockdiag_ssh_peers(const struct sockdiag_opts *o, struct sockdiag_peer **ret, size_t *ret_n,
		struct diag *d);
