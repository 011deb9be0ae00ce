/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chaosctl -H: requests over ssh(1) to `chaosctl dial-stdio` on the remote host, which relays
 * them to that host's chaosd socket. chaosd keeps no network listener, and SO_PEERCRED there
 * sees the relay, a process of the ssh user: the remote user's permissions apply. One ssh
 * session carries every request of this process. Several hosts: one child process each. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "ctlopt.h"
#include "edge.h"
#include "json.h"
#include "remote.h"
#include "schedule.h"

#define REMOTE_FORMS \
	"[NAME=]ssh://[USER@]HOST[:PORT][?socket=PATH], [NAME=][USER@]HOST[:PORT], [NAME=]unix://PATH"
#define REMOTE_MAX_HOSTS      64
#define REMOTE_ERR_MAX        2048
#define REMOTE_CONNECT_TIMEOUT "ConnectTimeout=10"
/* How long a failed session's ssh gets to exit and finish its message. */
#define REMOTE_REAP_MSEC      3000

extern char **environ;

enum remote_kind { REMOTE_SSH, REMOTE_UNIX };

struct target {
	char spec[512]; /* as written (after NAME=): it labels the host's lines and errors */
	char name[EDGE_NAME_MAX + 1]; /* NAME= or the host: --topology's name of the host */
	bool named;                   /* NAME= given: it labels the host's lines */
	enum remote_kind kind;
	char user[64];
	char host[256];
	char port[6];
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static struct target current;
/* run and plan over several hosts: one seed for all, so their random choices (and topologies)
 * agree */
static char fan_seed[24];
static bool active, json;
static int conn_fd = -EBADF; /* our end of ssh's stdin and stdout */
static int err_fd = -EBADF;  /* ssh's stderr */
static pid_t ssh_pid;
static char err_buf[REMOTE_ERR_MAX];
static size_t err_len;

static _printf_(1, 2) void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	json_vfail(json, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ parsing */

static bool chars_ok(const char *s, size_t n, const char *extra)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
				(!c || !strchr(extra, c)))
			return false;
	}
	return true;
}

/* The socket path is a word of the remote shell's command line: only characters no shell
 * treats specially. */
static int parse_socket(const char *s, size_t n, struct target *t, char *why, size_t whylen)
{
	if (n == 0 || s[0] != '/' || !chars_ok(s, n, "/._+-") || n >= sizeof(t->socket)) {
		snprintf(why, whylen, "socket path '%.*s' must be absolute, shorter than %zu and "
			 "only letters, digits and / . _ + -", (int)n, s, sizeof(t->socket));
		return -EINVAL;
	}
	snprintf(t->socket, sizeof(t->socket), "%.*s", (int)n, s);
	return 0;
}

static int parse_query(const char *q, struct target *t, char *why, size_t whylen)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);

		if (eq && (size_t)(eq - q) == 6 && strncmp(q, "socket", 6) == 0) {
			if (parse_socket(eq + 1, n - 7, t, why, whylen) < 0)
				return -EINVAL;
		} else {
			snprintf(why, whylen, "unknown query '%.*s' (only socket=PATH)", (int)n, q);
			return -EINVAL;
		}
		q += n + (q[n] == '&');
	}
	return 0;
}

static int parse_target(const char *spec, struct target *ret, char *why, size_t whylen)
{
	struct target t = { .kind = REMOTE_SSH };
	const char *p, *end, *at, *h, *hend, *colon = NULL;
	size_t n = strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	/* NAME=URL: a name of the host's own (no URL has '=' before its first ':', '@', '?') */
	if (spec[n] == '=') {
		if (n == 0 || n > EDGE_NAME_MAX || spec[0] == '-' || spec[0] == '.')
			return snprintf(why, whylen, "bad name '%.*s' (1-%d of letters, digits, _ . -, not "
						     "first - or .)",
					       (int)n, spec, EDGE_NAME_MAX), -EINVAL;
		snprintf(t.name, sizeof(t.name), "%.*s", (int)n, spec);
		t.named = true;
		spec += n + 1;
	}
	p = spec;
	if (!*spec)
		return snprintf(why, whylen, "empty host name"), -EINVAL;
	if (strlen(spec) >= sizeof(t.spec))
		return snprintf(why, whylen, "longer than %zu characters", sizeof(t.spec) - 1),
		       -EINVAL;
	snprintf(t.spec, sizeof(t.spec), "%s", spec);
	if (strncmp(spec, "unix://", 7) == 0) {
		t.kind = REMOTE_UNIX;
		if (parse_socket(spec + 7, strlen(spec + 7), &t, why, whylen) < 0)
			return -EINVAL;
		*ret = t;
		return 0;
	}
	if (strncmp(spec, "ssh://", 6) == 0)
		p = spec + 6;
	else if (strstr(spec, "://"))
		return snprintf(why, whylen, "unsupported scheme '%.*s://'",
				       (int)(strstr(spec, "://") - spec), spec), -EINVAL;
	end = p + strcspn(p, "?");
	if (memchr(p, '/', (size_t)(end - p)))
		return snprintf(why, whylen, "a path is not allowed (the socket goes in "
					     "?socket=PATH)"), -EINVAL;
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		n = (size_t)(at - p);
		if (!chars_ok(p, n, "._-") || p[0] == '-' || n >= sizeof(t.user))
			return snprintf(why, whylen, "bad user name '%.*s' (letters, digits, . _ -)",
					       (int)n, p), -EINVAL;
		snprintf(t.user, sizeof(t.user), "%.*s", (int)n, p);
		p = at + 1;
	}
	if (*p == '[') { /* [IPv6]:port */
		h = p + 1;
		hend = memchr(h, ']', (size_t)(end - h));
		if (!hend || !chars_ok(h, (size_t)(hend - h), ":."))
			return snprintf(why, whylen, "bad IPv6 address in brackets"), -EINVAL;
		if (hend + 1 < end && hend[1] != ':')
			return snprintf(why, whylen, "unexpected '%.*s' after ']'",
					       (int)(end - hend - 1), hend + 1), -EINVAL;
		colon = hend + 1 < end ? hend + 1 : NULL;
	} else {
		h = p;
		colon = memchr(p, ':', (size_t)(end - p));
		hend = colon ? colon : end;
		if (hend == h)
			return snprintf(why, whylen, "no host name"), -EINVAL;
		if (!chars_ok(h, (size_t)(hend - h), "._-") || h[0] == '-' || h[0] == '.')
			return snprintf(why, whylen, "bad host name '%.*s' (letters, digits, . _ -, "
						     "or [IPv6])", (int)(hend - h), h), -EINVAL;
	}
	if ((size_t)(hend - h) >= sizeof(t.host))
		return snprintf(why, whylen, "host name too long"), -EINVAL;
	snprintf(t.host, sizeof(t.host), "%.*s", (int)(hend - h), h);
	if (colon) {
		unsigned long port;
		char *e;

		n = (size_t)(end - colon - 1);
		port = n && n < 6 && chars_ok(colon + 1, n, "") ? strtoul(colon + 1, &e, 10) : 0;
		if (port < 1 || port > 65535)
			return snprintf(why, whylen, "bad port '%.*s' (1-65535)", (int)n, colon + 1),
			       -EINVAL;
		snprintf(t.port, sizeof(t.port), "%lu", port);
	}
	if (*end && parse_query(end + 1, &t, why, whylen) < 0)
		return -EINVAL;
	if (!t.named && edge_name_valid(t.host))
		memcpy(t.name, t.host, strlen(t.host) + 1); /* valid: at most EDGE_NAME_MAX */
	*ret = t;
	return 0;
}

/* ------------------------------------------------------------------ one host */

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = negative_errno();
		safe_close(fd);
		return r;
	}
	return fd;
}

/* Keep the tail of ssh's stderr without letting its pipe fill up. */
static void drain_err(void)
{
	char buf[512];
	ssize_t n = -1;

	while (err_fd >= 0 && (n = read(err_fd, buf, sizeof(buf))) > 0) {
		if (err_len + (size_t)n >= sizeof(err_buf)) {
			size_t drop = err_len + (size_t)n - (sizeof(err_buf) - 1);
			memmove(err_buf, err_buf + drop, err_len - drop);
			err_len -= drop;
		}
		memcpy(err_buf + err_len, buf, (size_t)n);
		err_len += (size_t)n;
	}
	/* At EOF: closed, so that end_session()'s poll sleeps instead of returning at once. */
	if (err_fd >= 0 && n == 0)
		err_fd = safe_close(err_fd);
	err_buf[err_len] = '\0';
}

/* Close our end (ssh then sees EOF and ends the session), collect ssh's stderr and status. */
static int end_session(void)
{
	int status = -1;

	conn_fd = safe_close(conn_fd);
	for (int waited = 0; ssh_pid > 0; waited += 50) {
		pid_t p = waitpid(ssh_pid, &status, WNOHANG);
		if (p == ssh_pid || (p < 0 && errno != EINTR)) {
			ssh_pid = 0;
			break;
		}
		if (waited >= REMOTE_REAP_MSEC) {
			kill(ssh_pid, SIGTERM);
			(void)waitpid(ssh_pid, &status, 0);
			ssh_pid = 0;
			break;
		}
		if (err_fd >= 0)
			(void)poll(&(struct pollfd){ .fd = err_fd, .events = POLLIN }, 1, 50);
		else
			(void)poll(NULL, 0, 50);
		drain_err();
	}
	drain_err();
	err_fd = safe_close(err_fd);
	return status;
}

static void remote_end(void)
{
	(void)end_session();
}

static int ssh_spawn(void)
{
	_cleanup_close_ int s0 = -EBADF, s1 = -EBADF, e0 = -EBADF, e1 = -EBADF;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[24];
	int sv[2], ep[2], n = 0, r;
	sigset_t none, dfl;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fail("%s: socketpair: %m", current.spec), negative_errno();
	s0 = sv[0];
	s1 = sv[1];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return fail("%s: pipe: %m", current.spec), negative_errno();
	e0 = ep[0];
	e1 = ep[1];
	argv[n++] = (char *)"ssh";
	argv[n++] = (char *)"-o";
	argv[n++] = (char *)"BatchMode=yes"; /* no password prompt on a terminal we do not own */
	argv[n++] = (char *)"-o";
	argv[n++] = (char *)REMOTE_CONNECT_TIMEOUT;
	argv[n++] = (char *)"-T";
	if (current.port[0]) {
		argv[n++] = (char *)"-p";
		argv[n++] = current.port;
	}
	if (current.user[0]) {
		argv[n++] = (char *)"-l";
		argv[n++] = current.user;
	}
	argv[n++] = (char *)"--"; /* the host is never read as an option */
	argv[n++] = current.host;
	argv[n++] = (char *)"chaosctl";
	if (current.socket[0]) {
		argv[n++] = (char *)"--socket";
		argv[n++] = current.socket;
	}
	argv[n++] = (char *)"dial-stdio";
	argv[n] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, s1, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, s1, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, e1, STDERR_FILENO);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGPIPE);
	/* Its own process group: Ctrl-C on the terminal reaches chaosctl, which then still has
	 * the session to send the abort through. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
			POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	r = posix_spawnp(&ssh_pid, "ssh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0) {
		ssh_pid = 0;
		fail("%s: cannot run ssh: %s%s", current.spec, strerror(r),
				r == ENOENT ? " (install openssh-client)" : "");
		return -r;
	}
	conn_fd = TAKE_FD(s0);
	err_fd = TAKE_FD(e0);
	(void)fcntl(err_fd, F_SETFL, O_NONBLOCK);
	err_len = 0;
	err_buf[0] = '\0';
	return 0;
}

bool remote_active(void)
{
	return active;
}

int remote_connect(void)
{
	int fd;

	if (current.kind == REMOTE_UNIX) {
		fd = unix_connect(current.socket);
		if (fd < 0)
			fail("cannot reach chaosd on %s: %s", current.spec, strerror(-fd));
		return fd;
	}
	drain_err();
	/* Readable before a request: the session ended (chaosd closes idle clients after a
	 * minute), so start another. */
	if (conn_fd >= 0 && poll(&(struct pollfd){ .fd = conn_fd, .events = POLLIN }, 1, 0) != 0)
		(void)end_session();
	if (conn_fd < 0) {
		int r = ssh_spawn();
		if (r < 0)
			return r;
	}
	/* A duplicate, so that the caller's close leaves the session open. */
	fd = fcntl(conn_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return fail("%s: %m", current.spec), negative_errno();
	return fd;
}

void remote_report_failure(const char *what)
{
	int status;
	char *s;

	if (current.kind == REMOTE_UNIX) {
		fail("%s: %s", current.spec, what);
		return;
	}
	status = end_session();
	/* ssh's lines (and those of chaosctl dial-stdio there), joined into one. */
	s = err_buf;
	while (*s == '\n' || *s == '\r')
		s++;
	for (size_t i = strlen(s); i > 0 && (s[i - 1] == '\n' || s[i - 1] == '\r'); i--)
		s[i - 1] = '\0';
	for (char *c = s; *c; c++)
		if (*c == '\n')
			*c = ';';
		else if (*c == '\r')
			*c = ' ';
	if (*s && status >= 0 && WIFEXITED(status))
		fail("cannot reach chaosd on %s (ssh exit status %d): %s", current.spec,
				WEXITSTATUS(status), term_safe(s));
	else if (status >= 0 && WIFEXITED(status))
		fail("cannot reach chaosd on %s: %s (ssh exit status %d)", current.spec, what,
				WEXITSTATUS(status));
	else
		fail("cannot reach chaosd on %s: %s%s%s", current.spec, what, *s ? ": " : "",
				term_safe(s));
}

/* ------------------------------------------------------------------ dial-stdio */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int remote_dial_stdio(const char *socket_path)
{
	_cleanup_close_ int fd = unix_connect(socket_path);
	struct pollfd p[2];
	char buf[16384];
	bool in_open = true;

	if (fd < 0) {
		/* ssh carries this line back to chaosctl -H, which shows it */
		fprintf(stderr, "chaosctl dial-stdio: cannot reach chaosd at '%s': %s\n",
				socket_path, strerror(-fd));
		return CTLOPT_EXIT_UNREACHABLE;
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		ssize_t n;

		p[0] = (struct pollfd){ .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[1].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				return n < 0 ? 1 : 0; /* chaosd hung up: the session ends */
			if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				return 1;
		}
		if (p[0].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				/* The client is done sending; its replies may still come. */
				in_open = false;
				(void)shutdown(fd, SHUT_WR);
			} else if (write_all(fd, buf, (size_t)n) < 0)
				return 1;
		}
	}
}

/* ------------------------------------------------------------------ several hosts */

struct child {
	const char *label;
	pid_t pid;
	int fd[2];      /* its stdout, stderr; -EBADF at EOF */
	char *buf[2];   /* text: the unfinished line; JSON: everything */
	size_t len[2];
	int exit;
	bool done;
};

static volatile sig_atomic_t forward_sig;

static void on_signal(int sig)
{
	forward_sig = sig;
}

/* A reason why this command must not go to several hosts at once, or NULL. */
static const char *fanout_refusal(const struct proto_verb *verb, int argc, char **argv)
{
	if (verb->type == PROTO_RENEW)
		return "leases are renewed per host (chaosctl renews its own by itself)";
	for (int i = 0; i < argc; i++) {
		if (verb->type == PROTO_REVERT && streq(argv[i], "--edge")) {
			i++;
			continue;
		}
		if (verb->type == PROTO_REVERT && argv[i][0] != '-')
			return "fault ids are per host: the same id names another fault elsewhere "
			       "(use --edge NAME or --all)";
		if (verb->type == PROTO_REPORT && streq(argv[i], "--html"))
			return "--html writes one page (run it once per host)";
	}
	return NULL;
}

static void emit_lines(struct child *c, int which, bool flush_all, int width)
{
	FILE *out = which ? stderr : stdout;
	char *s = c->buf[which], *nl;
	size_t left = c->len[which];

	while (left && ((nl = memchr(s, '\n', left)) || flush_all)) {
		size_t n = nl ? (size_t)(nl - s) : left;
		fprintf(out, "%s:%*s %.*s\n", c->label, width - (int)strlen(c->label), "", (int)n,
				s);
		n += nl ? 1 : 0;
		s += n;
		left -= n;
	}
	memmove(c->buf[which], s, left);
	c->len[which] = left;
	fflush(out);
}

static int child_read(struct child *c, int which, int width)
{
	char *nb = realloc(c->buf[which], c->len[which] + 4096 + 1);
	ssize_t n;

	if (!nb)
		return -ENOMEM;
	c->buf[which] = nb;
	n = read(c->fd[which], nb + c->len[which], 4096);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		c->fd[which] = safe_close(c->fd[which]);
		if (!json)
			emit_lines(c, which, true, width);
		return 0;
	}
	c->len[which] += (size_t)n;
	nb[c->len[which]] = '\0';
	if (!json)
		emit_lines(c, which, false, width);
	return 0;
}

/* One host of a chaosd.hosts document: its document as chaosctl printed it (a chaosd.error one
 * when it failed), and its lines on stderr. */
static void print_json_host(struct child *c, bool first)
{
	char *o = c->buf[0] ? c->buf[0] : (char *)"";
	size_t on = c->len[0], en = c->len[1];

	while (on && (o[on - 1] == '\n' || o[on - 1] == ' '))
		o[--on] = '\0';
	printf("%s{\"host\":", first ? "" : ",");
	json_string(c->label);
	printf(",\"exit\":%d,\"result\":", c->exit);
	if (on == 0)
		fputs("null", stdout);
	else if (o[0] == '{' && !memchr(o, '\n', on))
		fwrite(o, 1, on, stdout);
	else
		json_string(o); /* not one document (cannot happen with --json): as text */
	while (en && c->buf[1][en - 1] == '\n')
		c->buf[1][--en] = '\0';
	if (en) {
		printf(",\"error\":");
		json_string(c->buf[1]);
	}
	putchar('}');
}

static int fanout(struct target *targets, unsigned n, const struct proto_verb *verb, int argc,
		char **argv, bool *ret_done, int *ret_exit)
{
	bool run = verb->type == PROTO_RUN, aborting = false;
	int fail_exit = CTLOPT_EXIT_FAILED, worst = 0, width = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	struct child c[REMOTE_MAX_HOSTS] = {};
	unsigned failed = 0, left = n;

	for (int i = 0; i < argc; i++)
		if (streq(argv[i], "--detach"))
			run = false;
	for (unsigned i = 0; i < n; i++)
		width = MAX(width, (int)strlen(targets[i].named ? targets[i].name :
							     targets[i].spec));
	if (verb->type == PROTO_RUN || verb->type == PROTO_PLAN)
		snprintf(fan_seed, sizeof(fan_seed), "%" PRIu64, schedule_random_seed());
	fflush(stdout);
	fflush(stderr);
	for (unsigned i = 0; i < n; i++) {
		int out[2], err[2];

		c[i].label = targets[i].named ? targets[i].name : targets[i].spec;
		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
			return fail("pipe: %m"), *ret_done = true, *ret_exit = fail_exit, 0;
		c[i].pid = fork();
		if (c[i].pid < 0)
			return fail("fork: %m"), *ret_done = true, *ret_exit = fail_exit, 0;
		if (c[i].pid == 0) {
			for (unsigned k = 0; k < i; k++) {
				safe_close(c[k].fd[0]);
				safe_close(c[k].fd[1]);
			}
			dup2(out[1], STDOUT_FILENO);
			dup2(err[1], STDERR_FILENO);
			safe_close(out[0]);
			safe_close(out[1]);
			safe_close(err[0]);
			safe_close(err[1]);
			/* Lines reach the parent as they are printed (run progress). */
			setvbuf(stdout, NULL, _IOLBF, 0);
			current = targets[i];
			active = true;
			atexit(remote_end);
			*ret_done = false;
			return 0;
		}
		safe_close(out[1]);
		safe_close(err[1]);
		c[i].fd[0] = out[0];
		c[i].fd[1] = err[0];
	}
	/* Ctrl-C reaches the children from the terminal; a signal sent to this process alone
	 * is passed on. Meanwhile their output is still collected. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (left > 0) {
		struct pollfd p[2 * REMOTE_MAX_HOSTS];
		unsigned np = 0;

		if (forward_sig) {
			for (unsigned i = 0; i < n; i++)
				if (!c[i].done)
					kill(c[i].pid, forward_sig);
			forward_sig = 0;
		}
		for (unsigned i = 0; i < n; i++)
			for (int w = 0; w < 2; w++)
				p[np++] = (struct pollfd){ .fd = c[i].fd[w], .events = POLLIN };
		if (poll(p, np, -1) < 0 && errno != EINTR)
			break;
		for (unsigned i = 0; i < n; i++) {
			int status;

			for (int w = 0; w < 2; w++)
				if (c[i].fd[w] >= 0 && p[2 * i + (unsigned)w].revents)
					(void)child_read(&c[i], w, width);
			if (c[i].done || c[i].fd[0] >= 0 || c[i].fd[1] >= 0)
				continue;
			while (waitpid(c[i].pid, &status, 0) < 0 && errno == EINTR)
				;
			c[i].done = true;
			left--;
			c[i].exit = WIFEXITED(status) ? WEXITSTATUS(status) : CTLOPT_EXIT_UNREACHABLE;
			worst = MAX(worst, c[i].exit);
			failed += c[i].exit != 0;
			/* A GameDay across hosts goes on only while it goes well everywhere: a
			 * run that ends violated, aborted, failed or unreachable on one host is
			 * aborted on the others. */
			if (run && c[i].exit != CTLOPT_EXIT_OK && c[i].exit < _CTLOPT_EXIT_MAX &&
					c[i].exit != CTLOPT_EXIT_USAGE && !aborting && left > 0) {
				aborting = true;
				fprintf(stderr, "%s:%*s run %s: aborting the runs on the other "
						"hosts\n", c[i].label, width - (int)strlen(c[i].label), "",
						ctlopt_exits[c[i].exit].name);
				for (unsigned k = 0; k < n; k++)
					if (!c[k].done)
						kill(c[k].pid, SIGINT);
			}
		}
	}
	if (json) {
		printf("{\"ok\":%s,\"schema\":", failed ? "false" : "true");
		json_string(json_docs[JSON_HOSTS].schema);
		printf(",\"hosts\":[");
		for (unsigned i = 0; i < n; i++)
			print_json_host(&c[i], i == 0);
		printf("]}\n");
	}
	if (failed) {
		fprintf(stderr, "chaosctl: %s failed on %u of %u hosts:", verb->name, failed, n);
		for (unsigned i = 0; i < n; i++)
			if (c[i].exit)
				fprintf(stderr, " %s (exit %d)", c[i].label, c[i].exit);
		fputc('\n', stderr);
	}
	for (unsigned i = 0; i < n; i++) {
		free(c[i].buf[0]);
		free(c[i].buf[1]);
	}
	*ret_done = true;
	*ret_exit = worst;
	return 0;
}

/* The hosts of -H into T (REMOTE_MAX_HOSTS of them); a usage error is printed. */
static int parse_list(const char *hosts, const char *source, struct target *t, unsigned *ret_n)
{
	int usage = CTLOPT_EXIT_USAGE;
	_cleanup_free_ char *list = strdup(hosts);
	unsigned n = 0;
	char why[512];

	if (!list)
		return fail("%s", strerror(ENOMEM)), usage;
	for (char *s = list, *comma;; s = comma + 1) {
		comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		if (n == REMOTE_MAX_HOSTS)
			return fail("%s: more than %d hosts", source, REMOTE_MAX_HOSTS), usage;
		if (parse_target(s, &t[n], why, sizeof(why)) < 0)
			return fail("%s: bad host '%s'%s%s%s: %s (allowed: %s)", source, s,
					strchr(hosts, ',') ? " in '" : "",
					strchr(hosts, ',') ? hosts : "", strchr(hosts, ',') ? "'" : "",
					why, REMOTE_FORMS), usage;
		for (unsigned k = 0; k < n; k++)
			if (streq(t[k].spec, t[n].spec) ||
					(t[n].named && t[k].named && streq(t[k].name, t[n].name)))
				return fail("%s: host '%s' is listed twice", source, s), usage;
		n++;
		if (!comma)
			break;
	}
	*ret_n = n;
	return 0;
}

int remote_begin(const char *hosts, const char *source, const struct proto_verb *verb, int argc,
		char **argv, bool json_output, bool *ret_done, int *ret_exit)
{
	int usage = CTLOPT_EXIT_USAGE;
	_cleanup_free_ struct target *t = NULL;
	const char *refusal;
	unsigned n = 0;

	json = json_output;
	t = calloc(REMOTE_MAX_HOSTS, sizeof(*t));
	if (!t)
		return fail("%s", strerror(ENOMEM)), usage;
	if (parse_list(hosts, source, t, &n) != 0)
		return usage;
	if (n == 1) {
		current = t[0];
		active = true;
		atexit(remote_end);
		*ret_done = false;
		return 0;
	}
	refusal = fanout_refusal(verb, argc, argv);
	if (refusal)
		return fail("%s takes one host, not %u: %s", verb->name, n, refusal), usage;
	return fanout(t, n, verb, argc, argv, ret_done, ret_exit);
}

/* ------------------------------------------------------------------ one process, several hosts */

/* What remote_connect() keeps of one host's ssh session; remote_group_use() swaps them. */
struct session {
	int conn_fd, err_fd;
	pid_t ssh_pid;
	size_t err_len;
	char err_buf[REMOTE_ERR_MAX];
};

static struct target *group;
static struct session *group_sessions;
static unsigned group_n, group_current;

void remote_group_use(unsigned i)
{
	struct session *o = &group_sessions[group_current], *s = &group_sessions[i];

	if (i == group_current || i >= group_n)
		return;
	*o = (struct session){ conn_fd, err_fd, ssh_pid, err_len, {} };
	memcpy(o->err_buf, err_buf, sizeof(err_buf));
	conn_fd = s->conn_fd;
	err_fd = s->err_fd;
	ssh_pid = s->ssh_pid;
	err_len = s->err_len;
	memcpy(err_buf, s->err_buf, sizeof(err_buf));
	current = group[i];
	group_current = i;
}

static void group_end(void)
{
	for (unsigned i = 0; i < group_n; i++) {
		remote_group_use(i);
		(void)end_session();
	}
}

int remote_group_begin(const char *hosts, const char *source, bool json_output,
		unsigned *ret_n)
{
	json = json_output;
	group = calloc(REMOTE_MAX_HOSTS, sizeof(*group));
	group_sessions = calloc(REMOTE_MAX_HOSTS, sizeof(*group_sessions));
	if (!group || !group_sessions)
		return fail("%s", strerror(ENOMEM)), CTLOPT_EXIT_USAGE;
	if (parse_list(hosts, source, group, &group_n) != 0)
		return CTLOPT_EXIT_USAGE;
	for (unsigned i = 0; i < group_n; i++) {
		if (!group[i].name[0])
			return fail("%s: host '%s' needs a name for --topology: NAME=%s", source,
					group[i].spec, group[i].spec), CTLOPT_EXIT_USAGE;
		for (unsigned k = 0; k < i; k++)
			if (streq(group[k].name, group[i].name))
				return fail("%s: two hosts are named '%s' (%s, %s): name them, "
					    "NAME=URL", source, group[i].name, group[k].spec,
						group[i].spec), CTLOPT_EXIT_USAGE;
		group_sessions[i] = (struct session){ .conn_fd = -EBADF, .err_fd = -EBADF };
	}
	current = group[0];
	active = true;
	atexit(group_end);
	*ret_n = group_n;
	return 0;
}

const char *remote_host_name(void)
{
	return active && current.name[0] ? current.name : NULL;
}

const char *remote_fan_seed(void)
{
	return fan_seed[0] ? fan_seed : NULL;
}

const char *remote_group_name(unsigned i)
{
	return group[i].name;
}
