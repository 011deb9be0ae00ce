/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nl_socket.h"
#include "sockdiag.h"

struct sock_rec {
	uint32_t inode; /* 0: held by no process (a connection still in the accept queue) */
	uint8_t family, state;
	uint16_t lport, rport; /* host byte order */
	uint8_t laddr[16], raddr[16];
	bool sshd_held, manager_held;
};

struct sock_table {
	struct sock_rec *v;
	size_t n, cap;
};

static size_t addr_len(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct sock_table *t = data;
	const struct inet_diag_msg *m;
	struct sock_rec *s;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*m))
		return -EBADMSG;
	m = mnl_nlmsg_get_payload(nlh);
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return MNL_CB_OK;
	if (t->n == SOCKDIAG_MAX_SOCKETS)
		return -E2BIG;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct sock_rec *v = reallocarray(t->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	s = &t->v[t->n++];
	memset(s, 0, sizeof(*s));
	s->inode = m->idiag_inode;
	s->family = m->idiag_family;
	s->state = m->idiag_state;
	s->lport = ntohs(m->id.idiag_sport);
	s->rport = ntohs(m->id.idiag_dport);
	memcpy(s->laddr, m->id.idiag_src, addr_len(s->family));
	memcpy(s->raddr, m->id.idiag_dst, addr_len(s->family));
	return MNL_CB_OK;
}

static int dump_family(struct nl_socket *nl, uint8_t family, struct sock_table *t,
		struct diag *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_req_v2 *req;
	int r;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	memset(req, 0, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = (1U << TCP_LISTEN) | (1U << TCP_ESTABLISHED);
	r = nl_socket_dump(nl, nlh, dump_cb, t, d);
	if (r == -E2BIG)
		return diag_add(d, r, "more than %d TCP sockets: not looking for SSH sessions "
				"among them", SOCKDIAG_MAX_SOCKETS);
	if (r < 0)
		return diag_add(d, r, "listing TCP sockets (sock_diag, %s): %s",
				family == AF_INET ? "IPv4" : "IPv6", strerror(-r));
	return 0;
}

static int cmp_inode(const void *a, const void *b)
{
	uint32_t x = ((const struct sock_rec *)a)->inode, y = ((const struct sock_rec *)b)->inode;

	return x < y ? -1 : x > y;
}

static struct sock_rec *find_inode(const struct sock_table *t, uint32_t inode)
{
	struct sock_rec key = { .inode = inode };

	if (inode == 0 || t->n == 0)
		return NULL;
	return bsearch(&key, t->v, t->n, sizeof(*t->v), cmp_inode);
}

static void closedirp(DIR **p)
{
	if (*p)
		closedir(*p);
}

/* "socket:[123]" -> 123, else 0. */
static uint32_t socket_inode(const char *link)
{
	unsigned long long v;
	char *end;

	if (strncmp(link, "socket:[", 8) != 0 || link[8] < '0' || link[8] > '9')
		return 0;
	errno = 0;
	v = strtoull(link + 8, &end, 10);
	if (errno != 0 || !streq(end, "]") || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

static int unreadable(struct diag *d, const char *comm, pid_t pid)
{
	return diag_add(d, negative_errno(), "cannot read the descriptors of %s (pid %d, "
			"/proc/%d/fd): %m (needs CAP_SYS_PTRACE, and CAP_DAC_READ_SEARCH for other "
			"users' processes)", comm, (int)pid, (int)pid);
}

/* Mark the sockets pid holds. A process that went away meanwhile holds nothing. */
static int mark_held(int proc, pid_t pid, const char *comm, struct sock_table *t, bool manager,
		struct diag *d)
{
	_cleanup_(closedirp) DIR *dir = NULL;
	char path[32];
	unsigned n = 0;
	int fd;

	snprintf(path, sizeof(path), "%d/fd", (int)pid);
	fd = openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ESRCH))
		return 0;
	if (fd < 0)
		return unreadable(d, comm, pid);
	dir = fdopendir(fd);
	if (!dir) {
		safe_close(fd);
		return -ENOMEM;
	}
	for (struct dirent *de; (errno = 0, de = readdir(dir));) {
		char link[64];
		ssize_t len;
		struct sock_rec *s;

		if (de->d_name[0] == '.')
			continue;
		if (++n > SOCKDIAG_MAX_FDS)
			return diag_add(d, -E2BIG, "%s (pid %d) has more than %d descriptors: not "
					"looking for SSH sessions among them", comm, (int)pid,
					SOCKDIAG_MAX_FDS);
		len = readlinkat(dirfd(dir), de->d_name, link, sizeof(link) - 1);
		if (len < 0 && errno == ENOENT)
			continue; /* closed meanwhile */
		if (len < 0)
			return unreadable(d, comm, pid);
		link[len] = '\0';
		s = find_inode(t, socket_inode(link));
		if (!s)
			continue;
		if (manager)
			s->manager_held = true;
		else
			s->sshd_held = true;
	}
	if (errno != 0 && errno != ENOENT && errno != ESRCH)
		return diag_add(d, negative_errno(), "reading /proc/%d/fd: %m", (int)pid);
	return 0;
}

static bool is_sshd(const char *comm)
{
	return streq(comm, "sshd") || streq(comm, "sshd-session");
}

/* Read /proc/PID/comm into comm[16]; false if the process is gone or unreadable. */
static bool read_comm(int proc, pid_t pid, char comm[16])
{
	char path[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%d/comm", (int)pid);
	fd = openat(proc, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, comm, 15);
	safe_close(fd);
	if (n <= 0)
		return false;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return true;
}

static int scan_processes(const struct sockdiag_opts *o, struct sock_table *t, struct diag *d)
{
	_cleanup_(closedirp) DIR *dir = NULL;
	pid_t manager = o && o->manager_pid > 0 ? o->manager_pid : 1;
	bool want_manager = o && o->n_manager_ports > 0;
	unsigned n = 0;
	int fd, r;

	fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return diag_add(d, negative_errno(), "cannot open /proc: %m");
	dir = fdopendir(fd);
	if (!dir) {
		safe_close(fd);
		return -ENOMEM;
	}
	for (struct dirent *de; (errno = 0, de = readdir(dir));) {
		char comm[16], *end;
		long pid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pid > INT32_MAX)
			continue;
		if (++n > SOCKDIAG_MAX_PROCS)
			return diag_add(d, -E2BIG, "more than %d processes: not looking for sshd "
					"among them", SOCKDIAG_MAX_PROCS);
		if (!read_comm(dirfd(dir), (pid_t)pid, comm))
			continue;
		if (is_sshd(comm))
			r = mark_held(dirfd(dir), (pid_t)pid, comm, t, false, d);
		else if (want_manager && pid == manager)
			r = mark_held(dirfd(dir), (pid_t)pid, comm, t, true, d);
		else
			continue;
		if (r < 0)
			return r;
	}
	if (errno != 0)
		return diag_add(d, negative_errno(), "reading /proc: %m");
	return 0;
}

static bool manager_port(const struct sockdiag_opts *o, uint16_t port)
{
	for (size_t i = 0; o && i < o->n_manager_ports; i++)
		if (o->manager_ports[i] == port)
			return true;
	return false;
}

static bool ssh_listener(const struct sockdiag_opts *o, const struct sock_rec *s)
{
	return s->state == TCP_LISTEN &&
	       (s->sshd_held || (s->manager_held && manager_port(o, s->lport)));
}

/* Would listener l have accepted established socket s? */
static bool accepted_by(const struct sock_rec *l, const struct sock_rec *s)
{
	static const uint8_t any[16];

	if (l->family != s->family || l->lport != s->lport)
		return false;
	return memcmp(l->laddr, any, addr_len(l->family)) == 0 ||
	       memcmp(l->laddr, s->laddr, addr_len(l->family)) == 0;
}

static bool ssh_session(const struct sock_rec *s, const struct sock_rec *const *listeners,
		size_t n_listeners)
{
	if (s->state != TCP_ESTABLISHED)
		return false;
	if (s->sshd_held)
		return true;
	for (size_t i = 0; i < n_listeners; i++)
		if (accepted_by(listeners[i], s))
			return true;
	return false;
}

static void peer_of(const struct sock_rec *s, struct sockdiag_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->lport = s->lport;
	p->rport = s->rport;
	p->family = s->family;
	if (s->family == AF_INET6) {
		memcpy(&p->addr.v6, s->raddr, 16);
		/* A dual-stack socket's IPv4 peer: the edge that holds it is an IPv4 one. */
		if (IN6_IS_ADDR_V4MAPPED(&p->addr.v6)) {
			p->family = AF_INET;
			memset(&p->addr, 0, sizeof(p->addr));
			memcpy(&p->addr.v4, s->raddr + 12, 4);
		}
	} else {
		memcpy(&p->addr.v4, s->raddr, 4);
	}
}

int sockdiag_ssh_peers(const struct sockdiag_opts *o, struct sockdiag_peer **ret, size_t *ret_n,
		struct diag *d)
{
	struct nl_socket *nl = NULL;
	_cleanup_free_ struct sock_rec *v = NULL;
	_cleanup_free_ struct sockdiag_peer *peers = NULL;
	_cleanup_free_ const struct sock_rec **listeners = NULL;
	struct sock_table t = { 0 };
	size_t n = 0, n_listeners = 0;
	int r;

	r = nl_socket_open(NETLINK_SOCK_DIAG, &nl);
	if (r < 0)
		return diag_add(d, r, "opening a sock_diag netlink socket: %s", strerror(-r));
	r = dump_family(nl, AF_INET, &t, d);
	if (r >= 0)
		r = dump_family(nl, AF_INET6, &t, d);
	nl_socket_free(nl);
	v = t.v;
	if (r < 0)
		return r;
	if (t.n) /* qsort(NULL, 0) is undefined */
		qsort(t.v, t.n, sizeof(*t.v), cmp_inode);
	r = scan_processes(o, &t, d);
	if (r < 0)
		return r;
	/* SSH's listeners first: few, so that each established socket is checked against few. */
	listeners = calloc(t.n + 1, sizeof(*listeners));
	peers = calloc(t.n + 1, sizeof(*peers)); /* at most one peer per socket */
	if (!listeners || !peers)
		return -ENOMEM;
	for (size_t i = 0; i < t.n; i++)
		if (ssh_listener(o, &t.v[i]))
			listeners[n_listeners++] = &t.v[i];
	for (size_t i = 0; i < t.n; i++)
		if (ssh_session(&t.v[i], listeners, n_listeners))
			peer_of(&t.v[i], &peers[n++]);
	if (n == 0) {
		free(peers);
		peers = NULL;
	}
	*ret = TAKE_PTR(peers);
	*ret_n = n;
	return 0;
}
