/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "admit.h"
#include "audit.h"
#include "control.h"
#include "daemon.h"
#include "edge-scope.h"
#include "reload.h"
#include "svcedge.h"
#include "runner.h"
#include "status.h"
#include "timeutil.h"

/* A file that names more hosts than this is refused rather than flooding the resolver. */
#define NAMES_MAX 256
/* Loads of one reload: a file changed between two of them asks for new names again. */
#define PASSES_MAX 3

struct name {
	char *name;
	int error; /* 0 answered, -EAGAIN not yet, else -errno */
	char why[128];
	struct edge_prefix pfx[EDGE_PREFIX_MAX];
	unsigned n_pfx;
	uint32_t uid; /* a user name's (name "user:NAME") */
};

/* User names of user = share the table and the child with host names, keyed "user:NAME" (a
 * host name has no ':'). */
#define USER_KEY "user:"

/* Names are resolved by a child process (getaddrinfo blocks, and NSS may be anything: a
 * process keeps chaosd single-threaded and its loop free); it writes one line per name to a
 * pipe: NAME TAB "ok" (TAB FAMILY TAB ADDRESS)... or NAME TAB "error" TAB TEXT. */
struct reload {
	struct server *server;
	sd_event_source *timeout;
	sd_event_source *pipe_source;
	pid_t child;
	int pipe_fd;
	char *answers;
	size_t answers_len;
	struct name *names;
	unsigned n_names, passes;
	bool active, again;
};

static void child_stop(struct reload *r)
{
	r->pipe_source = sd_event_source_disable_unref(r->pipe_source);
	r->pipe_fd = safe_close(r->pipe_fd);
	if (r->child > 0) {
		(void)kill(r->child, SIGKILL);
		(void)waitpid(r->child, NULL, 0);
		r->child = 0;
	}
	r->answers = mfree(r->answers);
	r->answers_len = 0;
}

static void names_clear(struct reload *r)
{
	child_stop(r);
	for (unsigned i = 0; i < r->n_names; i++)
		free(r->names[i].name);
	r->names = mfree(r->names);
	r->n_names = 0;
}

static int on_timeout(sd_event_source *es, uint64_t usec, void *userdata);

int reload_new(struct server *s, struct reload **ret)
{
	struct reload *r = calloc(1, sizeof(*r));
	int k;

	if (!r)
		return -ENOMEM;
	r->server = s;
	r->pipe_fd = -EBADF;
	k = sd_event_add_time_relative(s->event, &r->timeout, CLOCK_MONOTONIC,
				RELOAD_RESOLVE_USEC, USEC_PER_SEC / 10, on_timeout, r);
	if (k >= 0)
		k = sd_event_source_set_enabled(r->timeout, SD_EVENT_OFF);
	if (k < 0) {
		reload_free(r);
		return k;
	}
	*ret = r;
	return 0;
}

struct reload *reload_free(struct reload *r)
{
	if (!r)
		return NULL;
	names_clear(r);
	sd_event_source_disable_unref(r->timeout);
	free(r);
	return NULL;
}

bool reload_pending(const struct reload *r)
{
	return r && r->active;
}

/* Same traffic selected: the line it was defined on does not matter. */
static bool edge_equal(const struct edge *a, const struct edge *b)
{
	if (!streq(a->name, b->name) || !streq(a->ifname, b->ifname) || a->port != b->port ||
			a->proto != b->proto || a->n_prefixes != b->n_prefixes ||
			!edge_scope_equal(a, b))
		return false;
	for (unsigned i = 0; i < a->n_prefixes; i++) {
		const struct edge_prefix *p = &a->prefixes[i], *q = &b->prefixes[i];
		if (p->family != q->family || p->len != q->len || memcmp(p->addr, q->addr, 16) != 0)
			return false;
	}
	return true;
}

static void take_over(struct server *s, struct config *c)
{
	struct diag d;

	/* Faults whose edge vanished or now selects different traffic are reverted: the old
	 * selection is no longer what the operator asked for. */
	for (unsigned i = faults_count(s->faults); i-- > 0;) {
		struct active_fault *af = faults_at(s->faults, i);
		const struct edge *e = af ? config_find_edge(c, af->edge.name) : NULL;
		uint64_t id;

		if (!af || (e && edge_equal(e, &af->edge)))
			continue;
		id = af->id;
		diag_init(&d);
		log_notice("reload: edge '%s' %s; reverting fault %" PRIu64, af->edge.name,
				e ? "changed" : "was removed", id);
		if (faults_revert(s->faults, id, "reload", 0, 0, &d) < 0)
			log_error("reload: revert of fault %" PRIu64 " failed: %s", id,
					diag_text(&d));
	}
	config_free(s->config);
	s->config = c;
	svcedge_set_units(s->kn.svc, c->edges, c->n_edges);
	/* The remaining faults against the new guard rails, as a new inject would be. */
	admit_recheck(s);
	faults_set_link_rate(s->faults, c->link_rate_bps);
	runner_set_limits(s->runner, c->max_scenarios, c->keep_reports);
	/* Group ids are looked up here, not per connection (NSS may be slow). */
	if (s->control)
		(void)control_set_groups(s->control, c->socket_group, c->read_group);
	status_notify(s);
	log_info("configuration reloaded from '%s': %u edges", s->opt.config_path, c->n_edges);
}

static struct name *find_name(struct reload *r, const char *name)
{
	for (unsigned i = 0; i < r->n_names; i++)
		if (streq(r->names[i].name, name))
			return &r->names[i];
	return NULL;
}

/* The resolver the configuration parser asks: answers it has, else a note to ask. */
static int cached_name(struct reload *r, const char *name, struct name **ret,
		const char **ret_why)
{
	struct name *n = find_name(r, name), *grown;

	if (n && n->error == -EAGAIN)
		return -EAGAIN;
	if (n) {
		*ret_why = n->why;
		*ret = n;
		return n->error;
	}
	if (r->n_names >= NAMES_MAX) {
		*ret_why = "too many host names in one file";
		return -E2BIG;
	}
	grown = reallocarray(r->names, r->n_names + 1, sizeof(*grown));
	if (!grown) {
		*ret_why = "out of memory";
		return -ENOMEM;
	}
	r->names = grown;
	n = &r->names[r->n_names];
	*n = (struct name){ .name = strdup(name), .error = -EAGAIN };
	if (!n->name) {
		*ret_why = "out of memory";
		return -ENOMEM;
	}
	r->n_names++;
	return -EAGAIN;
}

static int cached(void *userdata, const char *name, struct edge_prefix *ret, unsigned max,
		unsigned *ret_n, const char **ret_why)
{
	struct name *n = NULL;
	int k = cached_name(userdata, name, &n, ret_why);

	if (k < 0)
		return k;
	*ret_n = MIN(n->n_pfx, max);
	memcpy(ret, n->pfx, *ret_n * sizeof(*ret));
	return 0;
}

static int cached_user(void *userdata, const char *user, uint32_t *ret_uid, const char **ret_why)
{
	char key[sizeof(USER_KEY) + EDGE_USER_MAX + 1];
	struct name *n = NULL;
	int k;

	snprintf(key, sizeof(key), USER_KEY "%s", user);
	k = cached_name(userdata, key, &n, ret_why);
	if (k < 0)
		return k;
	*ret_uid = n->uid;
	return 0;
}

/* In the child: a user name's line, NAME TAB "uid" TAB UID or NAME TAB "error" TAB TEXT. */
static void child_user(FILE *f, const char *key)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int k = getpwnam_r(key + strlen(USER_KEY), &pw, buf, sizeof(buf), &res);

	if (k == 0 && res)
		fprintf(f, "%s\tuid\t%u\n", key, (unsigned)res->pw_uid);
	else
		fprintf(f, "%s\terror\t%s\n", key, k ? strerror(k) : "no such user");
}

/* In the child: resolve every name not answered yet, one line each. */
static void child_resolve(struct reload *r, int fd) __attribute__((noreturn));
static void child_resolve(struct reload *r, int fd)
{
	const struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	FILE *f = fdopen(fd, "w");

	if (!f)
		_exit(1);
	for (unsigned i = 0; i < r->n_names; i++) {
		struct addrinfo *res = NULL;
		int k;

		if (r->names[i].error != -EAGAIN)
			continue;
		if (strncmp(r->names[i].name, USER_KEY, strlen(USER_KEY)) == 0) {
			child_user(f, r->names[i].name);
			continue;
		}
		k = getaddrinfo(r->names[i].name, NULL, &hints, &res);
		if (k != 0) {
			fprintf(f, "%s\terror\t%s\n", r->names[i].name,
					k == EAI_SYSTEM ? strerror(errno) : gai_strerror(k));
			continue;
		}
		fprintf(f, "%s\tok", r->names[i].name);
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			char text[INET6_ADDRSTRLEN];
			const void *addr = ai->ai_family == AF_INET ?
				(const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr :
				(const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
			if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
					inet_ntop(ai->ai_family, addr, text, sizeof(text)))
				fprintf(f, "\t%s", text);
		}
		fprintf(f, "\n");
		freeaddrinfo(res);
	}
	_exit(fclose(f) == 0 ? 0 : 1);
}

static void answer(struct reload *r, char *line)
{
	char *save = NULL, *name = strtok_r(line, "\t", &save), *kind = strtok_r(NULL, "\t", &save);
	struct name *n = name ? find_name(r, name) : NULL;

	if (!n || !kind || n->error != -EAGAIN)
		return;
	n->error = 0;
	n->n_pfx = 0;
	if (streq(kind, "uid")) {
		const char *v = strtok_r(NULL, "\t\n", &save);
		char *end = NULL;
		unsigned long uid = v ? strtoul(v, &end, 10) : 0;

		if (!v || !end || *end || uid >= UINT32_MAX) {
			n->error = -EIO;
			snprintf(n->why, sizeof(n->why), "a bad answer for a user");
		} else
			n->uid = (uint32_t)uid;
		return;
	}
	if (!streq(kind, "ok")) {
		const char *why = strtok_r(NULL, "\n", &save);
		n->error = -ENOENT;
		snprintf(n->why, sizeof(n->why), "%s", why ? why : "no answer");
		return;
	}
	for (char *a = strtok_r(NULL, "\t", &save); a && n->n_pfx < ELEMENTSOF(n->pfx);
			a = strtok_r(NULL, "\t", &save)) {
		struct edge_prefix p = {};
		bool dup = false;

		if (inet_pton(AF_INET, a, p.addr) == 1)
			p.family = AF_INET, p.len = 32;
		else if (inet_pton(AF_INET6, a, p.addr) == 1)
			p.family = AF_INET6, p.len = 128;
		else
			continue;
		for (unsigned k = 0; k < n->n_pfx; k++)
			dup |= memcmp(&n->pfx[k], &p, sizeof(p)) == 0;
		if (!dup)
			n->pfx[n->n_pfx++] = p;
	}
}

static void pass(struct reload *r);

static int on_pipe(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct reload *r = userdata;
	char buf[4096], *nl;
	ssize_t got = read(fd, buf, sizeof(buf));

	if (got > 0) {
		/* Bounded: one line per name, each at most a few hundred bytes. */
		if (r->answers_len + (size_t)got > (size_t)NAMES_MAX * 1024) {
			got = -1;
		} else {
			char *grown = realloc(r->answers, r->answers_len + (size_t)got + 1);
			if (!grown)
				return 0;
			r->answers = grown;
			memcpy(r->answers + r->answers_len, buf, (size_t)got);
			r->answers_len += (size_t)got;
			r->answers[r->answers_len] = '\0';
			return 0;
		}
	}
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	/* End of the answers (or a child gone wrong): what was not answered is an error. */
	for (char *line = r->answers; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		answer(r, line);
	}
	for (unsigned i = 0; i < r->n_names; i++)
		if (r->names[i].error == -EAGAIN) {
			r->names[i].error = -EIO;
			snprintf(r->names[i].why, sizeof(r->names[i].why), "the resolver gave no "
					"answer");
		}
	child_stop(r);
	pass(r);
	return 0;
}

static int ask(struct reload *r)
{
	int fds[2], k;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return negative_errno();
	pid = fork();
	if (pid < 0) {
		k = negative_errno();
		safe_close(fds[0]);
		safe_close(fds[1]);
		return k;
	}
	if (pid == 0) {
		(void)fcntl(fds[1], F_SETFL, 0); /* the child may block: that is what it is for */
		child_resolve(r, fds[1]);
	}
	safe_close(fds[1]);
	r->child = pid;
	r->pipe_fd = fds[0];
	k = sd_event_add_io(r->server->event, &r->pipe_source, fds[0], EPOLLIN, on_pipe, r);
	if (k < 0)
		child_stop(r);
	return k;
}

static void finish(struct reload *r);

static void pass(struct reload *r)
{
	const struct config_resolver res = { .userdata = r, .resolve = cached,
		.resolve_user = cached_user };
	struct server *s = r->server;
	struct config *c = NULL;
	struct diag d;
	int k;

	diag_init(&d);
	r->passes++;
	k = config_load_with(s->opt.config_path, &res, &c, &d);
	if (k == -EAGAIN && r->passes < PASSES_MAX) {
		k = ask(r);
		if (k >= 0) {
			(void)sd_event_source_set_time_relative(r->timeout, RELOAD_RESOLVE_USEC);
			(void)sd_event_source_set_enabled(r->timeout, SD_EVENT_ONESHOT);
			return; /* on_pipe() loads again once the names are answered */
		}
		diag_add(&d, k, "cannot start the name resolver");
	}
	if (k == -EAGAIN)
		diag_add(&d, -EAGAIN, "the file kept naming new hosts while it was read");
	if (k < 0)
		log_error("reload of '%s' refused, keeping the old configuration:\n%s",
				s->opt.config_path, diag_text(&d));
	else
		take_over(s, c);
	finish(r);
}

static int on_timeout(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct reload *r = userdata;
	char late[512] = "";
	size_t len = 0;

	for (unsigned i = 0; i < r->n_names; i++)
		if (r->names[i].error == -EAGAIN) {
			int w = snprintf(late + len, sizeof(late) - len, "%s%s", len ? ", " : "",
					r->names[i].name);
			if (w > 0)
				len = MIN(len + (size_t)w, sizeof(late) - 1);
		}
	log_error("reload of '%s' refused, keeping the old configuration: no answer for %s "
			"within %u s", r->server->opt.config_path, late,
			(unsigned)(RELOAD_RESOLVE_USEC / USEC_PER_SEC));
	finish(r);
	return 0;
}

static void finish(struct reload *r)
{
	bool again = r->again;

	names_clear(r);
	(void)sd_event_source_set_enabled(r->timeout, SD_EVENT_OFF);
	r->active = r->again = false;
	r->passes = 0;
	sd_notify(0, "READY=1");
	status_notify(r->server);
	if (again)
		reload_start(r);
}

void reload_start(struct reload *r)
{
	if (r->active) {
		r->again = true;
		return;
	}
	r->active = true;
	sd_notify(0, "RELOADING=1");
	pass(r);
}
