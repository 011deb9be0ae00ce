/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <acl/libacl.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <sys/acl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "audit.h"
#include "control.h"
#include "loop-time.h"
#include "daemon.h"
#include "requests.h"
#include "timeutil.h"

/* Requests served per wakeup of one client; sd-event re-polls between sources anyway. */
#define FRAMES_PER_WAKEUP_PRIV 8
#define FRAMES_PER_WAKEUP_READ 1
#define ACCEPTS_PER_WAKEUP     64
#define PRIORITY_PRIV          (SD_EVENT_PRIORITY_NORMAL - 10)
#define PRIORITY_READ          SD_EVENT_PRIORITY_NORMAL

enum peer_class { PEER_ROOT, PEER_OPS, PEER_READ, _PEER_CLASS_MAX };

static const unsigned class_max[_PEER_CLASS_MAX] = {
	[PEER_ROOT] = CONTROL_ROOT_MAX,
	[PEER_OPS] = CONTROL_OPS_MAX,
	[PEER_READ] = CONTROL_READ_MAX,
};

struct client {
	struct control *control;
	int fd;
	sd_event_source *io;
	sd_event_source *timer; /* request deadline, idle time, or reply not read */
	uint64_t deadline;      /* CLOCK_MONOTONIC: when the timer closes the client */
	sd_event_source *more;  /* defer: a complete request left in the buffer */
	struct control_peer peer;
	enum peer_class class;
	uint8_t *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_pos;
	bool waiting; /* over the budget: not read until it frees */
	struct client *next, *prev;
};

struct control {
	struct server *server;
	int listen_fd;
	bool listen_ours;
	dev_t listen_dev;
	ino_t listen_ino;
	char *path;
	sd_event_source *listen_source;
	gid_t socket_gid, read_gid;
	bool have_socket_gid, have_read_gid;
	struct client *clients;
	unsigned n_clients, n_class[_PEER_CLASS_MAX];
	uint8_t refusal[256]; /* the reply a peer without rights gets */
	size_t refusal_len;
	size_t buffered; /* in + out bytes of non-root clients */
	unsigned n_waiting;
};

int control_new(struct server *s, struct control **ret)
{
	struct control *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	struct proto_writer w;
	const void *buf;
	size_t len;

	c->server = s;
	c->listen_fd = -EBADF;
	proto_writer_init(&w, PROTO_REPLY_ERROR, sizeof(c->refusal) - PROTO_HEADER_SIZE);
	proto_put(&w, "error", "permission denied: only root and members of the socket group or "
			"read_group may talk to chaosd");
	proto_putf(&w, "errno", "%d", EPERM);
	if (proto_writer_finish(&w, &buf, &len) >= 0 && len <= sizeof(c->refusal)) {
		memcpy(c->refusal, buf, len);
		c->refusal_len = len;
	}
	proto_writer_done(&w);
	*ret = c;
	return 0;
}

unsigned control_n_clients(const struct control *c)
{
	return c->n_clients;
}

static bool budgeted(const struct client *cl)
{
	return cl->class != PEER_ROOT;
}

static void account(struct client *cl, ssize_t delta)
{
	if (budgeted(cl))
		cl->control->buffered = (size_t)((ssize_t)cl->control->buffered + delta);
}

static void client_free(struct client *cl)
{
	struct control *c;

	if (!cl)
		return;
	c = cl->control;
	if (cl->prev)
		cl->prev->next = cl->next;
	else if (c->clients == cl)
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	c->n_clients--;
	c->n_class[cl->class]--;
	c->n_waiting -= cl->waiting;
	account(cl, -(ssize_t)(cl->in_cap + cl->out_len));
	sd_event_source_disable_unref(cl->io);
	sd_event_source_disable_unref(cl->timer);
	sd_event_source_disable_unref(cl->more);
	safe_close(cl->fd);
	free(cl->in);
	free(cl->out);
	free(cl);
}

/* Whether n more bytes fit the budget (root is outside it); n = 0: whether anything does. */
static bool budget_allows(const struct client *cl, size_t n)
{
	return !budgeted(cl) || cl->control->buffered + n < CONTROL_BUDGET ||
		(n > 0 && cl->control->buffered + n == CONTROL_BUDGET);
}

static void set_waiting(struct client *cl, bool waiting)
{
	cl->control->n_waiting += (unsigned)waiting - (unsigned)cl->waiting;
	cl->waiting = waiting;
}

static void set_timer(struct client *cl, uint64_t usec)
{
	uint64_t armed;
	int enabled;

	cl->deadline = loop_now_usec(sd_event_source_get_event(cl->timer), CLOCK_MONOTONIC) + usec;
	/* A later deadline leaves the timer where it is, and on_timer moves it on when it
	 * fires early: moving it on every request would re-program the timerfd each time. */
	if (sd_event_source_get_enabled(cl->timer, &enabled) >= 0 && enabled != SD_EVENT_OFF &&
			sd_event_source_get_time(cl->timer, &armed) >= 0 && armed <= cl->deadline)
		return;
	(void)sd_event_source_set_time(cl->timer, cl->deadline);
	(void)sd_event_source_set_enabled(cl->timer, SD_EVENT_ONESHOT);
}

static uint64_t idle_usec(const struct client *cl)
{
	return cl->class == PEER_READ ? CONTROL_READ_IDLE_USEC : CONTROL_IDLE_USEC;
}

static bool out_pending(const struct client *cl)
{
	return cl->out_pos < cl->out_len;
}

/* The length field of a complete header, else 0. */
static size_t frame_need(const struct client *cl)
{
	uint32_t len;

	if (cl->in_len < PROTO_HEADER_SIZE)
		return PROTO_HEADER_SIZE;
	len = (uint32_t)cl->in[8] << 24 | (uint32_t)cl->in[9] << 16 | (uint32_t)cl->in[10] << 8 |
			cl->in[11];
	return PROTO_HEADER_SIZE + (size_t)len;
}

static bool frame_complete(const struct client *cl)
{
	return cl->in_len >= PROTO_HEADER_SIZE && cl->in_len >= frame_need(cl);
}

static int update_events(struct client *cl)
{
	uint32_t ev = 0;

	/* One request at a time: nothing more is read while a reply waits to be read. */
	if (!out_pending(cl) && !cl->waiting && !frame_complete(cl))
		ev |= EPOLLIN;
	if (out_pending(cl))
		ev |= EPOLLOUT;
	return sd_event_source_set_io_events(cl->io, ev);
}

static int flush(struct client *cl)
{
	while (out_pending(cl)) {
		ssize_t n = send(cl->fd, cl->out + cl->out_pos, cl->out_len - cl->out_pos,
				MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return negative_errno();
		}
		cl->out_pos += (size_t)n;
		/* Progress: the reader gets another period to take the rest. */
		set_timer(cl, CONTROL_REQUEST_USEC);
	}
	if (!out_pending(cl) && cl->out) {
		account(cl, -(ssize_t)cl->out_len);
		cl->out = mfree(cl->out);
		cl->out_len = cl->out_pos = 0;
		if (cl->in_len == 0)
			set_timer(cl, idle_usec(cl));
	}
	return 0;
}

static int queue_reply(struct client *cl, struct proto_writer *w)
{
	const void *buf;
	size_t len;
	int r;

	r = proto_writer_finish(w, &buf, &len);
	if (r < 0) {
		proto_writer_done(w);
		proto_writer_init(w, PROTO_REPLY_ERROR, PROTO_MAX_REPLY);
		proto_put(w, "error", "reply too large");
		proto_putf(w, "errno", "%d", -r);
		r = proto_writer_finish(w, &buf, &len);
		if (r < 0)
			return r;
	}
	cl->out = malloc(len);
	if (!cl->out)
		return -ENOMEM;
	memcpy(cl->out, buf, len);
	cl->out_len = len;
	cl->out_pos = 0;
	account(cl, (ssize_t)len);
	set_timer(cl, CONTROL_REQUEST_USEC);
	return 0;
}

/* Say why, then hang up: the stream cannot be resynchronised. */
static int refuse_stream(struct client *cl, int err, const char *text)
{
	struct proto_writer w;
	const void *buf;
	size_t len;

	proto_writer_init(&w, PROTO_REPLY_ERROR, PROTO_MAX_REPLY);
	proto_put(&w, "error", text);
	proto_putf(&w, "errno", "%d", -err);
	if (proto_writer_finish(&w, &buf, &len) >= 0)
		(void)send(cl->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	proto_writer_done(&w);
	return err;
}

static int process(struct client *cl);

static int on_more(sd_event_source *es, void *userdata)
{
	struct client *cl = userdata;

	if (process(cl) < 0)
		client_free(cl);
	return 0;
}

static int schedule_more(struct client *cl)
{
	int r;

	if (!cl->more) {
		r = sd_event_add_defer(cl->control->server->event, &cl->more, on_more, cl);
		if (r < 0)
			return r;
		return sd_event_source_set_priority(cl->more, cl->class == PEER_READ ?
				PRIORITY_READ : PRIORITY_PRIV);
	}
	return sd_event_source_set_enabled(cl->more, SD_EVENT_ONESHOT);
}

/* Serve the complete request in the buffer, if any and if its reply may be queued. */
static int process(struct client *cl)
{
	unsigned budget = cl->class == PEER_READ ? FRAMES_PER_WAKEUP_READ : FRAMES_PER_WAKEUP_PRIV;
	int r;

	if (cl->in_len >= PROTO_HEADER_SIZE && !frame_complete(cl)) {
		struct proto_header h;
		struct diag d;

		/* A bad magic, version or length is answered at once, not after a timeout. */
		diag_init(&d);
		r = proto_header_decode(cl->in, cl->in_len, PROTO_MAX_REQUEST, &h, &d);
		if (r < 0)
			return refuse_stream(cl, r, diag_text(&d));
	}
	while (budget-- > 0 && frame_complete(cl) && !out_pending(cl)) {
		struct proto_header h;
		struct proto_writer w;
		struct diag d;
		size_t used;

		/* A reply is built only while the buffered bytes are under the budget: they can
		 * go over it by one reply at most. */
		if (!budget_allows(cl, 0)) {
			set_waiting(cl, true);
			break;
		}
		diag_init(&d);
		r = proto_header_decode(cl->in, cl->in_len, PROTO_MAX_REQUEST, &h, &d);
		if (r < 0)
			return refuse_stream(cl, r, diag_text(&d));
		used = PROTO_HEADER_SIZE + h.length;
		requests_dispatch(cl->control->server, &cl->peer, h.type,
				cl->in + PROTO_HEADER_SIZE, h.length, &w);
		r = queue_reply(cl, &w);
		proto_writer_done(&w);
		if (r < 0)
			return r;
		memmove(cl->in, cl->in + used, cl->in_len - used);
		cl->in_len -= used;
		r = flush(cl);
		if (r < 0)
			return r;
	}
	/* A pipelined request waits for its turn: after other clients had theirs, and after
	 * this client has read the reply before it. */
	if (frame_complete(cl) && !out_pending(cl)) {
		r = schedule_more(cl);
		if (r < 0)
			return r;
	}
	return update_events(cl);
}

/* Grow the input buffer to hold n bytes, within the client's limits and the budget. 0: it
 * must wait for the budget. */
static int in_reserve(struct client *cl, size_t n)
{
	uint8_t *p;

	if (n <= cl->in_cap)
		return 1;
	if (!budget_allows(cl, n - cl->in_cap))
		return 0;
	p = realloc(cl->in, n);
	if (!p)
		return -ENOMEM;
	account(cl, (ssize_t)(n - cl->in_cap));
	cl->in = p;
	cl->in_cap = n;
	return 1;
}

/* Give back a large input buffer once its request was served. */
static void in_shrink(struct client *cl)
{
	if (cl->in_len == 0 && cl->in_cap > 4096) {
		account(cl, -(ssize_t)cl->in_cap);
		cl->in = mfree(cl->in);
		cl->in_cap = 0;
	}
}

/* Read at most the rest of one request, or a new one into the buffer it already has: what a
 * client sends beyond that stays in the kernel's socket buffer, not in chaosd's memory. */
static int receive(struct client *cl)
{
	/* The header, then the payload it announces, usually both at once. */
	for (unsigned pass = 0; pass < 2 && !frame_complete(cl); pass++) {
		size_t need = frame_need(cl);
		bool started = cl->in_len == 0;
		ssize_t n;
		int r;

		if (cl->in_len >= PROTO_HEADER_SIZE &&
				need > PROTO_HEADER_SIZE + PROTO_MAX_REQUEST)
			return 1; /* process() refuses it with the decoder's text */
		r = in_reserve(cl, need);
		if (r <= 0) {
			set_waiting(cl, r == 0);
			return r;
		}
		/* A new request is read into all of the buffer an earlier one left: header and
		 * payload in one system call, and no byte past what the client is already
		 * charged for (a pipelined request's start waits in the buffer for its turn). */
		n = recv(cl->fd, cl->in + cl->in_len,
				(started ? MAX(need, cl->in_cap) : need) - cl->in_len, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : negative_errno();
		cl->in_len += (size_t)n;
		/* The whole request within one period from its first byte: trickling bytes
		 * does not extend it. */
		if (started)
			set_timer(cl, CONTROL_REQUEST_USEC);
	}
	return 1;
}

static void wake_waiting(struct control *c);

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct client *cl = userdata;
	struct control *c = cl->control;
	int r = 0;

	if (revents & EPOLLOUT) {
		r = flush(cl);
		in_shrink(cl);
	}
	if (r >= 0 && (revents & EPOLLIN))
		r = receive(cl);
	if (r >= 0 && (revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN))
		r = -ECONNRESET;
	if (r >= 0)
		r = process(cl);
	if (r >= 0 && !out_pending(cl))
		in_shrink(cl);
	if (r < 0)
		client_free(cl);
	wake_waiting(c);
	return 0;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct client *cl = userdata;

	if (usec < cl->deadline) {
		(void)sd_event_source_set_time(es, cl->deadline);
		(void)sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
		return 0;
	}

	log_debug("closing client uid %u pid %d: %s", (unsigned)cl->peer.cred.uid,
			(int)cl->peer.cred.pid, out_pending(cl) ? "its reply was not read in time" :
			cl->in_len ? "its request did not arrive in time" : "idle");
	struct control *c = cl->control;
	client_free(cl);
	wake_waiting(c);
	return 0;
}

/* Clients over the budget are read again as soon as it frees. */
static void wake_waiting(struct control *c)
{
	for (struct client *cl = c->clients; cl && c->n_waiting; cl = cl->next)
		if (cl->waiting && budget_allows(cl, 0)) {
			set_waiting(cl, false);
			(void)update_events(cl);
			if (frame_complete(cl))
				(void)schedule_more(cl);
		}
}

static bool in_group(int fd, const struct ucred *cred, gid_t gid)
{
	gid_t small[256];
	_cleanup_free_ gid_t *big = NULL;
	gid_t *groups = small;
	socklen_t len = sizeof(small);

	if (cred->gid == gid)
		return true;
	/* The peer's supplementary groups as of connect(), from the kernel, not from us. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE || len > NGROUPS_MAX * sizeof(gid_t))
			return false;
		groups = big = malloc(len);
		if (!big || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			return false;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static unsigned uid_count(const struct control *c, uid_t uid)
{
	unsigned n = 0;

	for (const struct client *cl = c->clients; cl; cl = cl->next)
		n += cl->peer.cred.uid == uid;
	return n;
}

/* Decided once per connection from the kernel's SO_PEERCRED, never from the request. -1: no
 * rights at all. */
static int classify(const struct control *c, int fd, const struct ucred *cred)
{
	if (cred->uid == 0)
		return PEER_ROOT;
	if (c->have_socket_gid && in_group(fd, cred, c->socket_gid))
		return PEER_OPS;
	if (c->have_read_gid && in_group(fd, cred, c->read_gid))
		return PEER_READ;
	return -1;
}

static void accept_one(struct control *c, int cfd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *cl;
	int class, r;

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		safe_close(cfd);
		return;
	}
	class = classify(c, cfd, &cred);
	if (class < 0) {
		/* No rights: told why in one non-blocking send, and closed before it costs
		 * anything (a socket file without the ACL, or opened wider by hand, lets them
		 * connect at all). */
		(void)send(cfd, c->refusal, c->refusal_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		safe_close(cfd);
		return;
	}
	if (c->n_class[class] >= class_max[class] ||
			(class != PEER_ROOT && uid_count(c, cred.uid) >= CONTROL_PER_UID_MAX)) {
		log_debug("refusing a connection of uid %u: its connection limit is reached",
				(unsigned)cred.uid);
		safe_close(cfd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		safe_close(cfd);
		return;
	}
	cl->control = c;
	cl->fd = cfd;
	cl->peer.cred = cred;
	cl->peer.may_write = class != PEER_READ;
	cl->class = (enum peer_class)class;
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->n_clients++;
	c->n_class[class]++;
	r = sd_event_add_io(c->server->event, &cl->io, cfd, EPOLLIN, on_io, cl);
	if (r >= 0)
		r = sd_event_source_set_priority(cl->io, class == PEER_READ ? PRIORITY_READ :
				PRIORITY_PRIV);
	if (r >= 0)
		r = sd_event_add_time_relative(c->server->event, &cl->timer, CLOCK_MONOTONIC,
				idle_usec(cl), 10 * USEC_PER_MSEC, on_timer, cl);
	if (r < 0)
		client_free(cl);
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct control *c = userdata;

	for (unsigned i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			break;
		accept_one(c, cfd);
	}
	wake_waiting(c);
	return 0;
}

/* Owner root, group socket_group, 0660, and read_group through an ACL entry: a user in
 * neither group cannot even connect. */
static int apply_permissions(struct control *c)
{
	char text[128];
	acl_t acl;
	int r = 0;

	if (!c->path)
		return 0;
	/* A socket systemd made has the unit's SocketUser/Group/Mode already (and chaosd there
	 * has no CAP_CHOWN); only the ACL is chaosd's to add. */
	if (c->listen_ours && (chown(c->path, 0, c->have_socket_gid ? c->socket_gid : 0) < 0 ||
					      chmod(c->path, 0660) < 0)) {
		r = negative_errno();
		log_warning("cannot set the owner and mode of '%s': %s", c->path, strerror(-r));
		return r;
	}
	if (c->have_read_gid)
		snprintf(text, sizeof(text), "u::rw-,g::rw-,g:%u:rw-,m::rw-,o::---",
				(unsigned)c->read_gid);
	else
		snprintf(text, sizeof(text), "u::rw-,g::rw-,o::---"); /* the mode bits alone */
	acl = acl_from_text(text);
	if (!acl)
		return negative_errno();
	if (acl_set_file(c->path, ACL_TYPE_ACCESS, acl) < 0) {
		r = negative_errno();
		log_error("cannot give read_group access to '%s' through an ACL: %m", c->path);
	}
	acl_free(acl);
	return r;
}

int control_set_groups(struct control *c, const char *socket_group, const char *read_group)
{
	struct group *g;

	c->have_socket_gid = c->have_read_gid = false;
	if (socket_group && *socket_group) {
		g = getgrnam(socket_group);
		if (g) {
			c->socket_gid = g->gr_gid;
			c->have_socket_gid = true;
		} else {
			log_warning("socket_group '%s' does not exist: only root may use chaosd",
					socket_group);
		}
	}
	if (read_group && *read_group) {
		g = getgrnam(read_group);
		if (g) {
			c->read_gid = g->gr_gid;
			c->have_read_gid = true;
		} else {
			log_warning("read_group '%s' does not exist: nobody reads without rights "
					"to write", read_group);
		}
	}
	return apply_permissions(c);
}

static int make_socket_dir(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

/* What is at path may go only if it is a socket nobody listens on (a dead chaosd's): a file,
 * a directory or a symlink there is somebody else's. */
static int clear_path(const struct sockaddr_un *sa)
{
	_cleanup_close_ int probe = -EBADF;
	struct stat st;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	if (!S_ISSOCK(st.st_mode)) {
		log_error("'%s' exists and is not a socket: chaosd will not replace it (remove it "
				"or choose another --socket)", sa->sun_path);
		return -EEXIST;
	}
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return negative_errno();
	if (connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN) {
		log_error("another chaosd is already listening on '%s'", sa->sun_path);
		return -EADDRINUSE;
	}
	if (errno != ECONNREFUSED)
		return negative_errno();
	return unlink(sa->sun_path) < 0 ? negative_errno() : 0;
}

int control_listen(struct control *c, const char *path, const char *socket_group,
		const char *read_group)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen = sizeof(sa);
	struct stat st;
	int n, r;

	n = sd_listen_fds(true);
	if (n > 1) {
		log_error("expected one socket from systemd, got %d", n);
		return -EINVAL;
	}
	if (n == 1) {
		c->listen_fd = SD_LISTEN_FDS_START;
		(void)fcntl(c->listen_fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(c->listen_fd, F_SETFL, O_NONBLOCK);
		/* Its path, to give read_group its ACL entry (systemd cannot). */
		if (getsockname(c->listen_fd, (struct sockaddr *)&sa, &salen) == 0 &&
				sa.sun_path[0] == '/') {
			c->path = strdup(sa.sun_path);
			if (!c->path)
				return -ENOMEM;
		}
	} else {
		if (strlen(path) >= sizeof(sa.sun_path)) {
			log_error("socket path '%s' is too long", path);
			return -ENAMETOOLONG;
		}
		strcpy(sa.sun_path, path);
		r = make_socket_dir(path);
		if (r < 0) {
			log_error("cannot create the directory of '%s': %s", path, strerror(-r));
			return r;
		}
		r = clear_path(&sa);
		if (r < 0)
			return r;
		c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (c->listen_fd < 0)
			return negative_errno();
		/* Born without rights for anyone but root, until the mode and ACL are set. */
		mode_t old = umask(0177);
		r = bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
		if (r < 0 || listen(c->listen_fd, CONTROL_BACKLOG) < 0) {
			r = negative_errno();
			log_error("cannot listen on '%s': %s", path, strerror(-r));
			return r;
		}
		if (lstat(path, &st) == 0) {
			c->listen_dev = st.st_dev;
			c->listen_ino = st.st_ino;
		}
		c->listen_ours = true;
		c->path = strdup(path);
		if (!c->path)
			return -ENOMEM;
	}
	(void)control_set_groups(c, socket_group, read_group);
	r = sd_event_add_io(c->server->event, &c->listen_source, c->listen_fd, EPOLLIN, on_accept,
			c);
	if (r < 0)
		return r;
	/* Accept before any client's work: a connection with no rights goes at once, and a
	 * kill request is in a client's hands before readers' backlogs. */
	(void)sd_event_source_set_priority(c->listen_source, SD_EVENT_PRIORITY_IMPORTANT);
	return 0;
}

struct control *control_free(struct control *c)
{
	struct stat st;

	if (!c)
		return NULL;
	while (c->clients)
		client_free(c->clients);
	sd_event_source_disable_unref(c->listen_source);
	if (c->listen_ours) {
		safe_close(c->listen_fd);
		/* Only the socket chaosd made: whatever replaced it is somebody else's. */
		if (lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
				st.st_dev == c->listen_dev && st.st_ino == c->listen_ino)
			unlink(c->path);
	}
	free(c->path);
	free(c);
	return NULL;
}
