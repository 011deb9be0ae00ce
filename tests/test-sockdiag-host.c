/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sockdiag_ssh_peers() against the kernel, in a fresh network namespace: processes named
 * "sshd" (prctl) and otherwise listen, accept and connect over loopback, and exactly the
 * connections an sshd serves must come back, with their ports, IPv4-mapped peers as IPv4.
 * Needs root. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sockdiag.h"
#include "test-netns.h"
#include "test-util.h"

#define MAX_CHILDREN 8

static pid_t children[MAX_CHILDREN];
static unsigned n_children;
static struct sockdiag_peer *peers; /* of the last query() */
static size_t n_peers;

static void setup(void)
{
	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	SH("ip link set lo up && ip -6 addr add fd00::2/128 dev lo nodad");
}

static void teardown(void)
{
	for (unsigned i = 0; i < n_children; i++) {
		kill(children[i], SIGKILL);
		waitpid(children[i], NULL, 0);
	}
	n_children = 0;
	free(peers);
	peers = NULL;
}

/* An address of family af from text, and its sockaddr length. */
static socklen_t sockaddr_of(int af, const char *addr, uint16_t port,
		struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	return sizeof(*sin6);
}

/* v6only: -1 leaves an AF_INET6 socket dual-stack. */
static int listener(int af, const char *addr, uint16_t port, bool v6only)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(af, addr, port, &ss);
	int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, v6 = v6only;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	if (af == AF_INET6)
		ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6)), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

/* Connect from src to dst:port; returns the socket and its local port. */
static int client(int af, const char *src, const char *dst, uint16_t port, uint16_t *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	len = sockaddr_of(af, src, 0, &ss);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	len = sockaddr_of(af, dst, port, &ss);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&ss, len), 0);
	len = sizeof(ss);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*ret_port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
					  ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* Fork a process named comm that holds fds, and no other sockets of ours, until killed; the
 * caller's copies are closed. uid: run as that user (0: stay root). */
static pid_t hold_as(const char *comm, uid_t uid, const int *fds, unsigned n)
{
	int p[2];
	char c;
	pid_t pid;

	ck_assert_uint_lt(n_children, MAX_CHILDREN);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* hold only these: not the sockets of the other processes */
		for (int fd = 3; fd < 1024; fd++) {
			bool keep = fd == p[1];
			for (unsigned i = 0; i < n; i++)
				keep = keep || fd == fds[i];
			if (!keep)
				close(fd);
		}
		if (prctl(PR_SET_NAME, comm) < 0)
			_exit(1);
		if (uid != 0 && setresuid(uid, uid, uid) < 0)
			_exit(1);
		/* after setresuid, which clears it: gone with the test even if it times out */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(1);
		(void)!write(p[1], "x", 1);
		for (;;)
			pause();
	}
	children[n_children++] = pid;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	return pid;
}

static pid_t hold(const char *comm, const int *fds, unsigned n)
{
	return hold_as(comm, 0, fds, n);
}

static void query(const struct sockdiag_opts *o)
{
	struct diag d;

	diag_init(&d);
	free(peers);
	peers = NULL;
	ck_assert_msg(sockdiag_ssh_peers(o, &peers, &n_peers, &d) == 0, "%s", diag_text(&d));
}

static void assert_peer(size_t i, int family, const char *addr, uint16_t lport, uint16_t rport)
{
	char text[INET6_ADDRSTRLEN];

	ck_assert_uint_lt(i, n_peers);
	ck_assert_int_eq(peers[i].family, family);
	ck_assert_ptr_nonnull(inet_ntop(family, &peers[i].addr, text, sizeof(text)));
	ck_assert_str_eq(text, addr);
	ck_assert_uint_eq(peers[i].lport, lport);
	ck_assert_uint_eq(peers[i].rport, rport);
}

/* sshd listens on ssh_bind:2222, "webd" on other_bind:other_port (0.0.0.0: connected to at
 * 127.0.0.1); one client each: only the first is a session, by its port (still in sshd's
 * accept queue, held by nobody). */
static void ssh_and_other(const char *ssh_bind, const char *other_bind, uint16_t other_port)
{
	int ssh = listener(AF_INET, ssh_bind, 2222, false);
	int web = listener(AF_INET, other_bind, other_port, false);
	uint16_t p1, p2;

	hold("sshd", &ssh, 1);
	hold("webd", &web, 1);
	(void)client(AF_INET, "127.0.0.2", streq(ssh_bind, "0.0.0.0") ? "127.0.0.1" : ssh_bind,
			2222, &p1);
	(void)client(AF_INET, "127.0.0.3", streq(other_bind, "0.0.0.0") ? "127.0.0.1" : other_bind,
			other_port, &p2);
	query(NULL);
	ck_assert_uint_eq(n_peers, 1);
	assert_peer(0, AF_INET, "127.0.0.2", 2222, p1);
}

/* Neither another program's listener nor the client end of either connection counts. */
START_TEST(test_ipv4_listener)
{
	ssh_and_other("0.0.0.0", "0.0.0.0", 8080);
}
END_TEST

/* A listener bound to one address serves that address only. */
START_TEST(test_bound_address)
{
	ssh_and_other("127.0.0.1", "127.0.0.9", 2222);
}
END_TEST

/* Not sshd: nothing on 2222 is SSH when the listener belongs to "sshd2" or "xsshd". */
START_TEST(test_other_names)
{
	int a = listener(AF_INET, "0.0.0.0", 2222, false);
	int b = listener(AF_INET6, "::", 2223, false);
	uint16_t p;

	hold("sshd2", &a, 1);
	hold("xsshd", &b, 1);
	(void)client(AF_INET, "127.0.0.2", "127.0.0.1", 2222, &p);
	(void)client(AF_INET6, "fd00::2", "::1", 2223, &p);
	query(NULL);
	ck_assert_uint_eq(n_peers, 0);
	ck_assert_ptr_null(peers);
}
END_TEST

START_TEST(test_ipv6)
{
	int ssh = listener(AF_INET6, "::", 2222, true);
	uint16_t p;

	hold("sshd", &ssh, 1);
	(void)client(AF_INET6, "fd00::2", "::1", 2222, &p);
	query(NULL);
	ck_assert_uint_eq(n_peers, 1);
	assert_peer(0, AF_INET6, "fd00::2", 2222, p);
}
END_TEST

/* A dual-stack listener's IPv4 client is ::ffff:127.0.0.2 to the kernel, 127.0.0.2 to us. */
START_TEST(test_v4_mapped)
{
	int ssh = listener(AF_INET6, "::", 22, false);
	uint16_t p4, p6;

	hold("sshd-session", &ssh, 1);
	(void)client(AF_INET, "127.0.0.2", "127.0.0.1", 22, &p4);
	(void)client(AF_INET6, "fd00::2", "::1", 22, &p6);
	query(NULL);
	ck_assert_uint_eq(n_peers, 2);
	for (size_t i = 0; i < n_peers; i++)
		if (peers[i].family == AF_INET)
			assert_peer(i, AF_INET, "127.0.0.2", 22, p4);
		else
			assert_peer(i, AF_INET6, "fd00::2", 22, p6);
}
END_TEST

/* ssh.socket with Accept=yes: the service manager ("systemd" here) holds the listener, each
 * connection is handed to an sshd of its own. The held connection counts; one the manager has
 * not handed on yet does not (its port is nobody's), unless the caller names the port. */
START_TEST(test_socket_activated)
{
	int lfd = listener(AF_INET, "0.0.0.0", 2022, false), cfd;
	uint16_t p1, p2, port = 2022;
	pid_t manager;

	(void)client(AF_INET, "127.0.0.2", "127.0.0.1", 2022, &p1);
	cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(cfd, 0);
	hold("sshd", &cfd, 1);
	manager = hold("systemd", &lfd, 1);
	(void)client(AF_INET, "127.0.0.3", "127.0.0.1", 2022, &p2);

	query(&(struct sockdiag_opts){ .manager_pid = manager });
	ck_assert_uint_eq(n_peers, 1);
	assert_peer(0, AF_INET, "127.0.0.2", 2022, p1);

	query(&(struct sockdiag_opts){ .manager_pid = manager, .manager_ports = &port,
			.n_manager_ports = 1 });
	ck_assert_uint_eq(n_peers, 2);
	for (size_t i = 0; i < n_peers; i++)
		assert_peer(i, AF_INET, peers[i].rport == p1 ? "127.0.0.2" : "127.0.0.3", 2022,
				peers[i].rport == p1 ? p1 : p2);

	/* another port listed: the manager's listener on 2022 is not SSH's */
	port = 22;
	query(&(struct sockdiag_opts){ .manager_pid = manager, .manager_ports = &port,
			.n_manager_ports = 1 });
	ck_assert_uint_eq(n_peers, 1);
}
END_TEST

/* A socket held by sshd counts wherever it goes: its peer is the far end. */
START_TEST(test_held_outgoing)
{
	int web = listener(AF_INET, "0.0.0.0", 8080, false), cfd;
	uint16_t p;

	cfd = client(AF_INET, "127.0.0.5", "127.0.0.1", 8080, &p);
	hold("sshd", &cfd, 1);
	hold("webd", &web, 1);
	query(NULL);
	ck_assert_uint_eq(n_peers, 1);
	assert_peer(0, AF_INET, "127.0.0.1", p, 8080);
}
END_TEST

/* An sshd whose descriptors this process may not read (another user's, no CAP_SYS_PTRACE):
 * an error naming it, never "no SSH session". */
START_TEST(test_unreadable)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3], saved[ELEMENTSOF(caps)];
	int ssh = listener(AF_INET, "0.0.0.0", 2222, false), r;
	struct diag d;
	char want[64];
	uint16_t p;
	pid_t pid;

	pid = hold_as("sshd", 4242, &ssh, 1);
	(void)client(AF_INET, "127.0.0.2", "127.0.0.1", 2222, &p);
	/* no effective capability during the call; back before teardown kills the sshd */
	ck_assert_int_eq(syscall(SYS_capget, &h, caps), 0);
	memcpy(saved, caps, sizeof(saved));
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		caps[i].effective = 0;
	ck_assert_int_eq(syscall(SYS_capset, &h, caps), 0);
	diag_init(&d);
	peers = NULL;
	n_peers = 7;
	r = sockdiag_ssh_peers(NULL, &peers, &n_peers, &d);
	ck_assert_int_eq(syscall(SYS_capset, &h, saved), 0);
	ck_assert_int_eq(r, -EACCES);
	ck_assert_ptr_null(peers);
	ck_assert_uint_eq(n_peers, 7);
	/* It names the sshd it could not read: this one, or another test's (sshd processes of
	 * every namespace are looked at, and host suites may run one meanwhile). */
	snprintf(want, sizeof(want), "/proc/%d/fd", (int)pid);
	ck_assert_msg(strstr(diag_text(&d), want) ||
				(strstr(diag_text(&d), "/proc/") && strstr(diag_text(&d), "/fd")),
			"%s", diag_text(&d));
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "CAP_SYS_PTRACE"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sockdiag-host");
	TCase *tc = tcase_create("kernel");

	if (geteuid() != 0)
		return test_skip("test-sockdiag-host", "needs root (network namespaces)");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ipv4_listener);
	tcase_add_test(tc, test_other_names);
	tcase_add_test(tc, test_bound_address);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_v4_mapped);
	tcase_add_test(tc, test_socket_activated);
	tcase_add_test(tc, test_held_outgoing);
	tcase_add_test(tc, test_unreadable);
	suite_add_tcase(s, tc);
	return test_run_suite_forked(s);
}
