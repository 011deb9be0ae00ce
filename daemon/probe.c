/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "httpclient.h"
#include "parse.h"
#include "probe.h"
#include "prom.h"
#include "timeutil.h"

#define HTTP_BODY_MAX (64 * 1024)   /* what expect_body searches */
#define PROM_BODY_MAX (1024 * 1024) /* a larger answer is no single value */
/* base, "/api/v1/query?query=" and the query, every byte of it percent-encoded */
#define PROBE_URL_MAX (SCENARIO_TARGET_MAX + 32 + 3 * SCENARIO_TARGET_MAX)

extern char **environ;

struct probe {
	sd_event *event;
	const struct scenario_probe *def;
	unsigned index;
	probe_result_fn cb;
	void *userdata;
	sd_event_source *tick;
	struct http_client *http; /* http and prometheus */
	char url[PROBE_URL_MAX + 1];

	/* the attempt in flight */
	bool busy;
	uint64_t started;
	/* tcp: the handshake's round trip from TCP_INFO, timed by the kernel so that the loop's
	 * own work (an inject, a status) cannot inflate a sample (0: unknown, or a SYN was resent
	 * and the wall clock's stall is the truth) */
	uint64_t connect_usec;
	int fd;
	pid_t pid;
	sd_event_source *io, *timeout, *child;
};

static void attempt_reset(struct probe *p)
{
	p->io = sd_event_source_disable_unref(p->io);
	p->timeout = sd_event_source_disable_unref(p->timeout);
	p->fd = safe_close(p->fd);
	p->busy = false;
	p->connect_usec = 0;
}

static uint64_t kernel_connect_usec(int fd)
{
	struct tcp_info ti = {};
	socklen_t sl = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) < 0 || ti.tcpi_total_retrans > 0)
		return 0;
	return ti.tcpi_rtt;
}

/* lat 0: the wall clock since the attempt began */
static void finish_value(struct probe *p, bool ok, uint64_t lat, double value, const char *detail)
{
	if (!lat)
		lat = now_usec(CLOCK_MONOTONIC) - p->started;
	attempt_reset(p);
	p->cb(p->userdata, p->index, ok, lat, value, detail);
}

static void finish(struct probe *p, bool ok, const char *detail)
{
	finish_value(p, ok, ok && p->def->type == SCENARIO_PROBE_TCP ? p->connect_usec : 0, NAN,
			detail);
}

static void http_result(struct probe *p, const struct http_response *r, char *detail, size_t n,
		bool *ok)
{
	const struct scenario_probe *d = p->def;

	*ok = false;
	if (r->status < d->expect_status[0] || r->status > d->expect_status[1]) {
		if (d->expect_status[0] == d->expect_status[1])
			snprintf(detail, n, "HTTP status %ld, expected %u", r->status,
					d->expect_status[0]);
		else
			snprintf(detail, n, "HTTP status %ld, expected %u-%u", r->status,
					d->expect_status[0], d->expect_status[1]);
	} else if (d->expect_body[0] && !strstr(r->body, d->expect_body))
		snprintf(detail, n, "the body%s lacks '%.60s'", r->body_truncated ?
				" (its first 64 KiB)" : "", d->expect_body);
	else
		*ok = true;
}

/* Prometheus answers JSON even for a bad query (400, 422): its error is the better reason. */
static void prom_result(const struct http_response *r, char *detail, size_t n, double *value)
{
	char why[256];
	unsigned series;
	double v;

	*value = NAN;
	if (r->body_truncated)
		snprintf(detail, n, "the answer is larger than %d KiB", PROM_BODY_MAX / 1024);
	else if (prom_parse_answer(r->body, r->body_len, &v, &series, why, sizeof(why)) < 0) {
		if (r->status == 200)
			snprintf(detail, n, "%s", why);
		else
			snprintf(detail, n, "HTTP status %ld: %s", r->status, why);
	} else if (r->status != 200)
		snprintf(detail, n, "HTTP status %ld", r->status);
	else
		*value = v;
}

static void on_http_done(void *userdata, const struct http_response *r)
{
	struct probe *p = userdata;
	char detail[320] = "";
	double value = NAN;
	bool ok;

	if (r->error) {
		finish(p, false, r->why);
		return;
	}
	if (p->def->type == SCENARIO_PROBE_PROMETHEUS) {
		prom_result(r, detail, sizeof(detail), &value);
		ok = !isnan(value);
	} else
		http_result(p, r, detail, sizeof(detail), &ok);
	/* Time to the first byte of the answer, as curl took it (see httpclient.h). */
	finish_value(p, ok, ok ? r->first_byte_usec : 0, value, ok ? NULL : detail);
}

static int start_http(struct probe *p)
{
	const struct scenario_probe *d = p->def;
	struct http_request req = {
		.url = p->url,
		.ca_file = d->ca_file[0] ? d->ca_file : NULL,
		.tls_verify = d->tls_verify,
		.follow_redirects = d->follow_redirects,
		.by_name = d->by_name,
		.timeout_usec = d->timeout_usec,
		.max_body = d->type == SCENARIO_PROBE_PROMETHEUS ? PROM_BODY_MAX : HTTP_BODY_MAX,
	};
	int r;

	if (!p->http) {
		r = http_client_new(p->event, &p->http);
		if (r < 0)
			return r;
	}
	return http_client_get(p->http, &req, on_http_done, p);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct probe *p = userdata;
	int err = 0;
	socklen_t sl = sizeof(err);

	(void)es;
	(void)revents;
	/* tcp: connect finished */
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err) {
		finish(p, false, strerror(err));
		return 0;
	}
	p->connect_usec = kernel_connect_usec(fd);
	finish(p, true, NULL);
	return 0;
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
	if (p->def->type == SCENARIO_PROBE_HTTP || p->def->type == SCENARIO_PROBE_PROMETHEUS)
		r = start_http(p); /* curl keeps the timeout */
	else {
		r = sd_event_add_time(p->event, &p->timeout, CLOCK_MONOTONIC,
				p->started + p->def->timeout_usec, 1000, on_timeout, p);
		if (r >= 0)
			r = p->def->type == SCENARIO_PROBE_EXEC ? start_exec(p) : start_socket(p);
	}
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

int probe_prepare(const struct scenario_probe *def, struct diag *d)
{
	if (def->type != SCENARIO_PROBE_HTTP && def->type != SCENARIO_PROBE_PROMETHEUS)
		return 0;
	if (http_client_load() < 0)
		return diag_add(d, -ELIBACC, "probe '%s' (%s): %s", def->name,
				scenario_probe_type_to_string(def->type), http_client_load_error());
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
	if (def->type == SCENARIO_PROBE_PROMETHEUS)
		r = prom_query_url(def->target, def->query, p->url, sizeof(p->url));
	else
		r = snprintf(p->url, sizeof(p->url), "%s", def->target) < 0 ? -EINVAL : 0;
	if (r < 0) {
		free(p);
		return r;
	}
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
	p->http = http_client_free(p->http);
	attempt_reset(p);
	free(p);
	return NULL;
}
