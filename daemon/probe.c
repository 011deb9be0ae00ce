/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "parse.h"
#include "probe.h"
#include "timeutil.h"

extern char **environ;

struct probe {
	sd_event *event;
	const struct scenario_probe *def;
	unsigned index;
	probe_result_fn cb;
	void *userdata;
	sd_event_source *tick;

	/* the attempt in flight */
	bool busy;
	bool sent; /* http: the request is out, waiting for the status line */
	uint64_t started;
	/* Timed by the kernel, so that the loop's own work (an inject, a status) cannot inflate a
	 * sample: the handshake's round trip from TCP_INFO (0: unknown, or a SYN was resent and
	 * the wall clock's stall is the truth), the request's send time and the response's
	 * arrival (SO_TIMESTAMPNS), both CLOCK_REALTIME. */
	uint64_t connect_usec, sent_rt, rx_rt;
	int fd;
	pid_t pid;
	sd_event_source *io, *timeout, *child;
	char buf[512];
	size_t len;
};

static void attempt_reset(struct probe *p)
{
	p->io = sd_event_source_disable_unref(p->io);
	p->timeout = sd_event_source_disable_unref(p->timeout);
	p->fd = safe_close(p->fd);
	p->len = 0;
	p->sent = false;
	p->busy = false;
	p->connect_usec = p->sent_rt = p->rx_rt = 0;
}

/* A successful attempt's latency from the kernel's times where it has them, else the wall
 * clock from just before connect(). */
static uint64_t latency(const struct probe *p, bool ok)
{
	if (ok && p->connect_usec && p->def->type == SCENARIO_PROBE_TCP)
		return p->connect_usec;
	if (ok && p->connect_usec && p->sent_rt && p->rx_rt >= p->sent_rt)
		return p->connect_usec + (p->rx_rt - p->sent_rt);
	return now_usec(CLOCK_MONOTONIC) - p->started;
}

static uint64_t kernel_connect_usec(int fd)
{
	struct tcp_info ti = {};
	socklen_t sl = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) < 0 || ti.tcpi_total_retrans > 0)
		return 0;
	return ti.tcpi_rtt;
}

static void finish(struct probe *p, bool ok, const char *detail)
{
	uint64_t lat = latency(p, ok);

	attempt_reset(p);
	p->cb(p->userdata, p->index, ok, lat, detail);
}

static int on_http_read(struct probe *p)
{
	char status[4];
	char *eol;
	ssize_t n;
	unsigned code;

	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct timespec))];
	} control;
	struct iovec iov = { p->buf + p->len, sizeof(p->buf) - 1 - p->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
		.msg_controllen = sizeof(control) };

	n = recvmsg(p->fd, &mh, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n > 0 && !p->rx_rt && c;
			c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			p->rx_rt = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
		}
	if (n <= 0) {
		finish(p, false, n == 0 ? "connection closed before a status line" :
					  "receive failed");
		return 0;
	}
	p->len += (size_t)n;
	p->buf[p->len] = '\0';
	eol = strstr(p->buf, "\r\n");
	if (!eol) {
		if (p->len >= sizeof(p->buf) - 1)
			finish(p, false, "no HTTP status line");
		return 0;
	}
	/* "HTTP/1.x NNN ..." */
	if (strncmp(p->buf, "HTTP/1.", 7) != 0 || p->len < 12 || p->buf[8] != ' ') {
		finish(p, false, "not an HTTP response");
		return 0;
	}
	memcpy(status, p->buf + 9, 3);
	status[3] = '\0';
	code = (unsigned)strtoul(status, NULL, 10);
	if (code == p->def->expect_status) {
		finish(p, true, NULL);
		return 0;
	}
	{
		char detail[64];

		snprintf(detail, sizeof(detail), "HTTP status %u, expected %u", code,
				p->def->expect_status);
		finish(p, false, detail);
	}
	return 0;
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct probe *p = userdata;
	int err = 0;
	socklen_t sl = sizeof(err);
	char req[1024];
	int n;

	(void)es;
	(void)revents;
	if (!p->sent) {
		/* connect finished */
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err) {
			finish(p, false, strerror(err));
			return 0;
		}
		p->connect_usec = kernel_connect_usec(fd);
		if (p->def->type == SCENARIO_PROBE_TCP) {
			finish(p, true, NULL);
			return 0;
		}
		n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: "
				"chaosd-probe\r\nConnection: close\r\n\r\n", p->def->path, p->def->host);
		if (n < 0 || (size_t)n >= sizeof(req) ||
				send(fd, req, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
			finish(p, false, "cannot send the request");
			return 0;
		}
		p->sent_rt = now_usec(CLOCK_REALTIME);
		sd_event_source_set_io_events(p->io, EPOLLIN);
		p->sent = true;
		p->len = 0;
		return 0;
	}
	return on_http_read(p);
}

static int on_timeout(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct probe *p = userdata;

	(void)es;
	(void)usec;
	if (p->pid > 0) {
		/* The child watch reports the result once the group is gone. */
		(void)kill(-p->pid, SIGKILL);
		p->timeout = sd_event_source_disable_unref(p->timeout);
		return 0;
	}
	finish(p, false, "timed out");
	return 0;
}

static int on_child(sd_event_source *es, const siginfo_t *si, void *userdata)
{
	struct probe *p = userdata;
	bool timed_out = !p->timeout;
	char detail[64] = "";

	(void)es;
	p->pid = 0;
	p->child = sd_event_source_disable_unref(p->child);
	if (timed_out)
		snprintf(detail, sizeof(detail), "timed out (killed)");
	else if (si->si_code == CLD_EXITED && si->si_status != 0)
		snprintf(detail, sizeof(detail), "exit status %d", si->si_status);
	else if (si->si_code != CLD_EXITED)
		snprintf(detail, sizeof(detail), "killed by signal %d", si->si_status);
	finish(p, !timed_out && si->si_code == CLD_EXITED && si->si_status == 0,
			detail[0] ? detail : NULL);
	return 0;
}

static int start_exec(struct probe *p)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)p->def->target, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	/* Its own session (so a timeout kills the whole group), default signal mask (the
	 * daemon blocks the signals sd-event handles), nothing of ours on its stdio. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return -r;
	p->pid = pid;
	r = sd_event_add_child(p->event, &p->child, pid, WEXITED, on_child, p);
	if (r < 0) {
		(void)kill(-pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		p->pid = 0;
	}
	return r;
}

static int start_socket(struct probe *p)
{
	struct sockaddr_storage ss = {};
	socklen_t sl;
	int r;

	if (p->def->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(p->def->port);
		memcpy(&a->sin6_addr, p->def->addr, 16);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(p->def->port);
		memcpy(&a->sin_addr, p->def->addr, 4);
		sl = sizeof(*a);
	}
	p->fd = socket(p->def->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return negative_errno();
	/* best effort: without it the response is timed by the wall clock */
	(void)setsockopt(p->fd, SOL_SOCKET, SO_TIMESTAMPNS, &(int){ 1 }, sizeof(int));
	if (connect(p->fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
		return negative_errno();
	r = sd_event_add_io(p->event, &p->io, p->fd, EPOLLOUT, on_io, p);
	return r < 0 ? r : 0;
}

static void attempt(struct probe *p)
{
	char detail[96];
	int r;

	p->busy = true;
	p->started = now_usec(CLOCK_MONOTONIC);
	p->len = 0;
	r = sd_event_add_time(p->event, &p->timeout, CLOCK_MONOTONIC,
			p->started + p->def->timeout_usec, 1000, on_timeout, p);
	if (r >= 0)
		r = p->def->type == SCENARIO_PROBE_EXEC ? start_exec(p) : start_socket(p);
	if (r < 0) {
		snprintf(detail, sizeof(detail), "cannot start: %s", strerror(-r));
		finish(p, false, detail);
	}
}

static int on_tick(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct probe *p = userdata;

	sd_event_source_set_time(es, usec + p->def->interval_usec);
	sd_event_source_set_enabled(es, SD_EVENT_ON);
	/* An attempt still running when the next is due: it is the sample; no pile-up. */
	if (!p->busy)
		attempt(p);
	return 0;
}

int probe_start(sd_event *event, const struct scenario_probe *def, unsigned index,
		probe_result_fn cb, void *userdata, struct probe **ret)
{
	struct probe *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->event = event;
	p->def = def;
	p->index = index;
	p->cb = cb;
	p->userdata = userdata;
	p->fd = -EBADF;
	r = sd_event_add_time(event, &p->tick, CLOCK_MONOTONIC, now_usec(CLOCK_MONOTONIC), 1000, on_tick, p);
	if (r < 0) {
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

struct probe *probe_free(struct probe *p)
{
	if (!p)
		return NULL;
	p->tick = sd_event_source_disable_unref(p->tick);
	if (p->pid > 0) {
		(void)kill(-p->pid, SIGKILL);
		(void)waitpid(p->pid, NULL, 0);
	}
	p->child = sd_event_source_disable_unref(p->child);
	attempt_reset(p);
	free(p);
	return NULL;
}
