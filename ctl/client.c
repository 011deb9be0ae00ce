/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chaosctl's side of the protocol: one request to chaosd (or a remote one), its reply, and the
 * reply's fields; errors printed as text or as a JSON error document. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctlopt.h"
#include "remote.h"
#include "utf8.h"

const char *ctl_socket = PROTO_DEFAULT_SOCKET;
bool ctl_json;

int ctl_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	json_vfail(ctl_json, fmt, ap);
	va_end(ap);
	return 1;
}

/* TEXT's words from column INDENT on, in lines of at most 100 columns. */
int ctl_transact(uint16_t type, struct proto_writer *w, struct proto_msg **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ uint8_t *payload = NULL;
	uint8_t hdr[PROTO_HEADER_SIZE];
	struct proto_header h;
	struct diag d;
	const void *buf;
	size_t len, got;
	int r;

	diag_init(&d);
	r = proto_writer_finish(w, &buf, &len);
	if (r < 0)
		return ctl_fail("request too large or invalid: %s", strerror(-r)), -E2BIG;
	if (remote_active()) {
		fd = remote_connect();
		if (fd < 0)
			return fd;
		goto connected;
	}
	if (strlen(ctl_socket) >= sizeof(sa.sun_path))
		return ctl_fail("socket path '%s' is too long", ctl_socket), -ENAMETOOLONG;
	strcpy(sa.sun_path, ctl_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ctl_fail("socket: %m"), negative_errno();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = negative_errno();
		if (r == -ENOENT || r == -ECONNREFUSED)
			ctl_fail("cannot reach chaosd at '%s': %s (is chaosd running? systemctl "
			         "start chaosd.socket)",
			                ctl_socket, strerror(-r));
		else if (r == -EACCES)
			ctl_fail("cannot reach chaosd at '%s': permission denied (join the "
			         "socket's group, e.g. 'chaos')",
			                ctl_socket);
		else
			ctl_fail("cannot reach chaosd at '%s': %s", ctl_socket, strerror(-r));
		return r;
	}
connected:
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);
		/* Ctrl-C's handler has no SA_RESTART: the request still goes out whole. */
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && remote_active())
			return remote_report_failure("the connection broke"), -ECONNRESET;
		if (n < 0)
			return ctl_fail("send: %m"), negative_errno();
		off += (size_t)n;
	}
	for (got = 0; got < sizeof(hdr);) {
		ssize_t n = recv(fd, hdr + got, sizeof(hdr) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 && remote_active())
			return remote_report_failure("no reply"), -ECONNRESET;
		if (n <= 0)
			return ctl_fail("chaosd closed the connection without a reply"),
			       -ECONNRESET;
		got += (size_t)n;
	}
	r = proto_header_decode(hdr, sizeof(hdr), PROTO_MAX_REPLY, &h, &d);
	if (r < 0)
		return ctl_fail("bad reply: %s", diag_text(&d)), r;
	payload = malloc(h.length ? h.length : 1);
	if (!payload)
		return -ENOMEM;
	for (got = 0; got < h.length;) {
		ssize_t n = recv(fd, payload + got, h.length - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 && remote_active())
			return remote_report_failure("the reply was cut short"), -ECONNRESET;
		if (n <= 0)
			return ctl_fail("chaosd closed the connection mid-reply"), -ECONNRESET;
		got += (size_t)n;
	}
	r = proto_msg_decode(h.type, payload, h.length, ret, &d);
	if (r < 0)
		return ctl_fail("bad reply: %s", diag_text(&d)), r;
	(void)type;
	return 0;
}

/* Returns 0 on OK; prints the daemon's error (with the kernel's own words) and returns
 * -EREMOTEIO when chaosd refused or failed it; other errors: chaosd was not reached. */
int ctl_request(const struct proto_verb *verb, struct proto_writer *w, struct proto_msg **ret)
{
	struct proto_msg *m = NULL;
	int r = ctl_transact(verb->type, w, &m);

	if (r < 0)
		return r;
	if (m->type == PROTO_REPLY_ERROR) {
		_cleanup_free_ char *e = strdup(proto_msg_get(m, 0, "error") ?: "failed");
		/* One line on stderr: the daemon's lines (ours, then the kernel's) joined. */
		for (char *nl; e && (nl = strchr(e, '\n'));)
			*nl = ';';
		if (ctl_json && e && !json_printed()) {
			_cleanup_free_ char *msg = NULL;
			if (asprintf(&msg, "%s: %s", verb->name, e) >= 0)
				json_print_error(msg, proto_msg_get(m, 0, "errno"), NULL);
		}
		ctl_fail("%s: %s", verb->name, e ? term_safe(e) : "failed");
		proto_msg_free(m);
		return -EREMOTEIO;
	}
	/* Done, but not recorded (chaosd cannot write its state): said on stderr, also with
	 * --json, so a script sees it without parsing. */
	if (proto_msg_get(m, 0, "warning"))
		fprintf(stderr, "chaosctl: %s: warning: %s\n", verb->name,
		                term_safe(proto_msg_get(m, 0, "warning")));
	*ret = m;
	return 0;
}

/* The exit status for ctl_request()'s R < 0. */
int ctl_exit_of(int r)
{
	return r == -EREMOTEIO || r == -E2BIG || r == -ENOMEM ? CTLOPT_EXIT_FAILED
	                                                      : CTLOPT_EXIT_UNREACHABLE;
}

/* Index of the first record marker: a reply without top-level fields starts with one. */
unsigned ctl_first_record(const struct proto_msg *m)
{
	if (m->n_fields > 0 && streq(m->fields[0].key, "@"))
		return 0;
	return proto_msg_next_record(m, 0);
}

const char *ctl_get(const struct proto_msg *m, unsigned rec, const char *key)
{
	const char *v = proto_msg_get(m, rec, key);
	return v ? v : "";
}

/* A field as printed (ctl_get() is the field as sent back to chaosd). */
const char *ctl_show(const struct proto_msg *m, unsigned rec, const char *key)
{
	return term_safe(ctl_get(m, rec, key));
}

/* Multi-line text from chaosd, each line made safe. */
void ctl_put_lines(const char *text)
{
	for (const char *l = text; *l;) {
		size_t n = strcspn(l, "\n");
		_cleanup_free_ char *line = strndup(l, n);

		fputs(line ? term_safe(line) : "?", stdout);
		if (l[n])
			putchar('\n');
		l += n + (l[n] ? 1 : 0);
	}
}

int ctl_simple_request(uint16_t type, const char *key, const char *value)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	const struct proto_verb *verb = proto_verb_by_type(type);
	struct proto_writer w;
	int r;

	proto_writer_init(&w, type, PROTO_MAX_REQUEST);
	proto_put(&w, key, value);
	r = ctl_request(verb, &w, &m);
	proto_writer_done(&w);
	return r;
}

/* The lease of a run that chaosctl run watches. A refusal needs no word of its own: the run
 * ended between the watch and the renewal, or its lease lapsed, and the next watch says so
 * (printing it would put an error document before the run's own with --json). */
void ctl_renew_run(const char *id)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	struct proto_writer w;

	proto_writer_init(&w, PROTO_RENEW, PROTO_MAX_REQUEST);
	proto_put(&w, "run", id);
	(void)ctl_transact(PROTO_RENEW, &w, &m);
	proto_writer_done(&w);
}

static int parse_args(const struct ctl_verb *v, const struct proto_verb *verb, int argc,
                char **argv, struct proto_writer *w, struct ctl_args *ret)
{
	struct ctl_args a = {};
	int n = 0;

	for (int i = 0; i < argc; i++) {
		const struct verb_option *o = NULL;

		for (unsigned k = 0; k < ELEMENTSOF(v->options) && v->options[k].name; k++)
			if (streq(argv[i], v->options[k].name))
				o = &v->options[k];
		if (o && !o->value && i + 1 >= argc)
			return ctl_fail("%s: option '%s' needs a value (usage: chaosctl %s %s)",
			                       verb->name, argv[i], verb->name, verb->usage),
			       CTLOPT_EXIT_USAGE;
		if (o && !o->key)
			a.client_flag = true;
		else if (o) {
			proto_put(w, o->key, o->value ? o->value : argv[++i]);
			a.options++;
		} else if (argv[i][0] != '-' && (unsigned)n < v->max_args)
			argv[n++] = argv[i];
		else
			return ctl_fail("%s: unexpected argument '%s' (usage: chaosctl %s %s)",
			                       verb->name, argv[i], verb->name, verb->usage),
			       CTLOPT_EXIT_USAGE;
	}
	if (v->need_arg && n == 0 && a.options == 0)
		return ctl_fail("%s: missing argument (usage: chaosctl %s %s)", verb->name,
		                       verb->name, verb->usage),
		       CTLOPT_EXIT_USAGE;
	a.n = n;
	*ret = a;
	return 0;
}

/* parse_args() for the verbs that build their requests themselves. */
int ctl_check_args(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv,
                struct ctl_args *ret)
{
	struct proto_writer w;
	int r;

	proto_writer_init(&w, verb->type, PROTO_MAX_REQUEST);
	r = parse_args(v, verb, argc, argv, &w, ret);
	proto_writer_done(&w);
	return r;
}

/* One request: the options, each bare argument as v->arg_key and, unless an option gave one,
 * FORMAT (if not NULL). 0 with the reply, or the exit status with the reason printed. */
int ctl_send_args(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv,
                const char *format, struct proto_msg **ret)
{
	struct proto_writer w;
	struct ctl_args a;
	int r;

	proto_writer_init(&w, verb->type, PROTO_MAX_REQUEST);
	r = parse_args(v, verb, argc, argv, &w, &a);
	for (int i = 0; r == 0 && i < a.n; i++)
		proto_put(&w, v->arg_key, argv[i]);
	if (r == 0 && format && !a.options)
		proto_put(&w, "format", format);
	if (r == 0)
		r = ctl_request(verb, &w, ret);
	proto_writer_done(&w);
	return r < 0 ? ctl_exit_of(r) : r;
}
