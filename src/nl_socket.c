/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "nl_socket.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

/* Replies to a thousand-message batch must not overflow the default receive buffer (the
 * kernel would drop acks and report ENOBUFS). */
#define NL_RCVBUF (4 * 1024 * 1024)
#define NL_RECV_BUF (64 * 1024)
/* An ack that does not come within this is a kernel or socket problem, not something to wait
 * forever for: the daemon's kill switch must never hang on one. */
#define NL_ACK_TIMEOUT_MS 10000

struct nl_socket {
	struct mnl_socket *mnl;
	int bus;
	uint32_t portid;
	uint32_t seq;
};

int nl_socket_open(int bus, struct nl_socket **ret)
{
	struct nl_socket *s;
	int one = 1, rcvbuf = NL_RCVBUF, sndbuf = NL_BATCH_SIZE * 2;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->bus = bus;
	s->mnl = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!s->mnl) {
		int r = negative_errno();
		free(s);
		return r;
	}
	/* Extended acks carry the kernel's reason ("netem: invalid ..."); capped acks keep the
	 * reply small since we match on sequence numbers, not on the echoed request. */
	(void)mnl_socket_setsockopt(s->mnl, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(s->mnl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (bus == NETLINK_ROUTE)
		(void)mnl_socket_setsockopt(s->mnl, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	if (setsockopt(mnl_socket_get_fd(s->mnl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
			    sizeof(rcvbuf)) < 0)
		(void)setsockopt(mnl_socket_get_fd(s->mnl), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				sizeof(rcvbuf));
	/* netlink refuses a write larger than the send buffer (EMSGSIZE) and the default
	 * (wmem_default, 208 KiB) is smaller than a full batch. */
	if (setsockopt(mnl_socket_get_fd(s->mnl), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
			    sizeof(sndbuf)) < 0)
		(void)setsockopt(mnl_socket_get_fd(s->mnl), SOL_SOCKET, SO_SNDBUF, &sndbuf,
				sizeof(sndbuf));
	if (mnl_socket_bind(s->mnl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = negative_errno();
		mnl_socket_close(s->mnl);
		free(s);
		return r;
	}
	s->portid = mnl_socket_get_portid(s->mnl);
	s->seq = (uint32_t)time(NULL);
	*ret = s;
	return 0;
}

struct nl_socket *nl_socket_free(struct nl_socket *s)
{
	if (!s)
		return NULL;
	mnl_socket_close(s->mnl);
	free(s);
	return NULL;
}

uint32_t nl_socket_next_seq(struct nl_socket *s)
{
	if (++s->seq == 0)
		s->seq = 1;
	return s->seq;
}

const char *nl_extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e;
	const struct nlattr *attr;
	size_t off;

	if (nlh->nlmsg_type != NLMSG_ERROR || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return NULL;
	e = mnl_nlmsg_get_payload(nlh);
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (NLMSG_HDRLEN + off > nlh->nlmsg_len)
		return NULL;
	mnl_attr_for_each_payload((const void *)((const char *)e + off),
			nlh->nlmsg_len - NLMSG_HDRLEN - off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
				mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
			return mnl_attr_get_str(attr);
	}
	return NULL;
}

static int nlmsg_error_code(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(int))
		return -EBADMSG;
	e = mnl_nlmsg_get_payload(nlh);
	return e->error > 0 ? -e->error : e->error;
}

/* The buffer of the last batch done, zeroed again: most requests build a batch or two, and
 * clearing half a megabyte for each (calloc) costs more than a small batch's kernel work
 * under emulation. Single-threaded use, as everything of chaosd's. */
static char *spare_buf;

int nl_batch_init(struct nl_batch *b)
{
	memset(b, 0, sizeof(*b));
	/* libmnl wants a buffer of twice the batch limit: the message that overflows the limit
	 * must still fit so that mnl_nlmsg_batch_next() can report it. */
	/* Zeroed: libmnl 1.0.4 does not clear attribute padding, and those bytes go to the
	 * kernel (nl_batch_reset keeps the buffer zeroed). */
	b->buf = spare_buf ? TAKE_PTR(spare_buf) : calloc(1, NL_BATCH_SIZE * 2);
	if (!b->buf)
		return -ENOMEM;
	b->b = mnl_nlmsg_batch_start(b->buf, NL_BATCH_SIZE);
	if (!b->b) {
		free(b->buf);
		b->buf = NULL;
		return -ENOMEM;
	}
	return 0;
}

void nl_batch_reset(struct nl_batch *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		free(b->what[i]);
		b->what[i] = NULL;
	}
	b->n = 0;
	if (b->b) {
		/* What this batch wrote: its committed messages and one begun after them. */
		size_t used = mnl_nlmsg_batch_size(b->b);
		const struct nlmsghdr *cur = mnl_nlmsg_batch_current(b->b);
		used += MIN((size_t)cur->nlmsg_len, NL_BATCH_SIZE * 2 - used);
		memset(b->buf, 0, used);
		mnl_nlmsg_batch_reset(b->b);
	}
}

void nl_batch_done(struct nl_batch *b)
{
	if (!b)
		return;
	nl_batch_reset(b);
	if (b->b)
		mnl_nlmsg_batch_stop(b->b);
	if (b->b && !spare_buf)
		spare_buf = TAKE_PTR(b->buf); /* all zero again after the reset */
	free(b->buf);
	free(b->seqs);
	free(b->errs);
	free(b->what);
	memset(b, 0, sizeof(*b));
}

static bool wants_ack(const struct nl_socket *s, uint16_t type)
{
	/* nfnetlink's batch delimiters are not acked. */
	return !(s->bus == NETLINK_NETFILTER &&
			(type == NFNL_MSG_BATCH_BEGIN || type == NFNL_MSG_BATCH_END));
}

struct nlmsghdr *nl_batch_begin(struct nl_batch *b, struct nl_socket *s, uint16_t type,
		uint16_t flags, const char *what)
{
	struct nlmsghdr *nlh;

	if (b->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 64;
		uint32_t *seqs = reallocarray(b->seqs, cap, sizeof(*seqs));
		if (!seqs)
			return NULL;
		b->seqs = seqs;
		int *errs = reallocarray(b->errs, cap, sizeof(*errs));
		if (!errs)
			return NULL;
		b->errs = errs;
		char **w = reallocarray(b->what, cap, sizeof(*w));
		if (!w)
			return NULL;
		b->what = w;
		b->cap = cap;
	}
	/* Refuse rather than overflow: callers split work across batches. */
	if (mnl_nlmsg_batch_size(b->b) + 4096 > NL_BATCH_SIZE) {
		errno = ENOBUFS;
		return NULL;
	}
	nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(b->b));
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	if (wants_ack(s, type))
		nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = nl_socket_next_seq(s);
	b->seqs[b->n] = nlh->nlmsg_seq;
	b->errs[b->n] = wants_ack(s, type) ? 1 : 0; /* 1 = no ack yet */
	b->what[b->n] = what ? strdup(what) : NULL;
	return nlh;
}

int nl_batch_commit(struct nl_batch *b)
{
	if (!mnl_nlmsg_batch_next(b->b))
		return -ENOBUFS;
	b->n++;
	return 0;
}

static bool tolerated_err(const int *tolerated, int err)
{
	for (const int *t = tolerated; t && *t; t++)
		if (*t == err)
			return true;
	return false;
}

/* One datagram, as mnl_socket_recvfrom() reads it; -EAGAIN if none is queued. */
static int recv_now(struct nl_socket *s, void *buf, size_t len)
{
	struct sockaddr_nl addr;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_name = &addr, .msg_namelen = sizeof(addr), .msg_iov = &iov,
		.msg_iovlen = 1 };
	ssize_t n = recvmsg(mnl_socket_get_fd(s->mnl), &msg, MSG_DONTWAIT);

	if (n < 0)
		return negative_errno();
	if (msg.msg_flags & MSG_TRUNC)
		return -ENOSPC;
	if (msg.msg_namelen != sizeof(addr))
		return -EINVAL;
	return (int)n;
}

static int recv_timeout(struct nl_socket *s, void *buf, size_t len)
{
	struct pollfd p = { .fd = mnl_socket_get_fd(s->mnl), .events = POLLIN };
	int r;

	/* The kernel handles a batch while sendmsg() runs, so its acks are usually queued
	 * already: read first, wait only if nothing is there. */
	r = recv_now(s, buf, len);
	if (r != -EAGAIN)
		return r;
	do
		r = poll(&p, 1, NL_ACK_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return negative_errno();
	if (r == 0)
		return -ETIMEDOUT;
	return recv_now(s, buf, len);
}

static int find_index(const struct nl_batch *b, uint32_t seq)
{
	/* Sequence numbers of one batch are consecutive but may wrap. */
	if (b->n == 0)
		return -1;
	uint32_t i = seq - b->seqs[0];
	if (i < b->n && b->seqs[i] == seq)
		return (int)i;
	return -1;
}

static int batch_failed(struct nl_batch *b, int i, int err, const struct nlmsghdr *nlh,
		struct diag *d)
{
	const char *ext = nl_extack_msg(nlh);

	b->errs[i] = err;
	for (unsigned j = 0; j < b->n; j++)
		if (b->errs[j] == 1)
			b->errs[j] = err;
	return diag_add(d, err, "%s: %s%s%s", b->what[i] ? b->what[i] : "netlink batch",
			strerror(-err), ext ? ": " : "", ext ? ext : "");
}

/* rtnetlink handles a batch's messages in order and reports every error whether or not an ack
 * was asked for, so one ack, on the last message, says the whole batch was handled: a message
 * with no error before it succeeded. That is one read for the batch instead of one per message
 * (thousands for a kill switch). Returns the index of the acked message, -1 if none wants one. */
static int ack_last_only(struct nl_batch *b)
{
	struct nlmsghdr *nlh = mnl_nlmsg_batch_head(b->b);
	int len = (int)mnl_nlmsg_batch_size(b->b), last = -1;

	for (unsigned i = 0; i < b->n; i++)
		if (b->errs[i] == 1)
			last = (int)i;
	for (int i = 0; i < last && mnl_nlmsg_ok(nlh, len); i++, nlh = mnl_nlmsg_next(nlh, &len))
		nlh->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
	return last;
}

int nl_batch_send(struct nl_batch *b, struct nl_socket *s, const int *tolerated, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	unsigned pending = 0;
	int first = 0, last = -1;

	if (b->n == 0)
		return 0;
	if (s->bus == NETLINK_ROUTE) {
		last = ack_last_only(b);
		pending = last >= 0;
	} else {
		for (unsigned i = 0; i < b->n; i++)
			pending += b->errs[i] == 1;
	}
	if (mnl_socket_sendto(s->mnl, mnl_nlmsg_batch_head(b->b), mnl_nlmsg_batch_size(b->b)) < 0)
		return diag_add(d, negative_errno(), "netlink send: %m");
	buf = malloc(NL_RECV_BUF);
	if (!buf)
		return -ENOMEM;
	while (pending > 0) {
		int n = recv_timeout(s, buf, NL_RECV_BUF);
		if (n < 0)
			return diag_add(d, n, "netlink: waiting for %u acks: %s", pending,
					strerror(-n));
		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
				mnl_nlmsg_ok(nlh, n); nlh = mnl_nlmsg_next(nlh, &n)) {
			int i, err;

			if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != s->portid)
				continue;
			i = find_index(b, nlh->nlmsg_seq);
			if (i < 0)
				continue;
			err = nlmsg_error_code(nlh);
			if (b->errs[i] != 1) {
				/* An error on a message that asked for no ack is nfnetlink
				 * refusing the whole batch (no subsystem, failed commit, no
				 * memory) on its BATCH_BEGIN: nothing else is applied and the
				 * other acks may never come. */
				if (err < 0)
					return batch_failed(b, i, err, nlh, d);
				continue;
			}
			if (err < 0 && tolerated_err(tolerated, err))
				err = 0;
			b->errs[i] = err;
			if (last < 0) {
				pending--;
			} else if (i == last) {
				for (int k = 0; k < last; k++)
					if (b->errs[k] == 1)
						b->errs[k] = 0;
				pending = 0;
			}
			if (err < 0) {
				const char *ext = nl_extack_msg(nlh);
				diag_add(d, err, "%s: %s%s%s", b->what[i] ? b->what[i] : "netlink",
						strerror(-err), ext ? ": " : "", ext ? ext : "");
				if (first == 0)
					first = err;
			}
		}
	}
	return first;
}

int nl_socket_request(struct nl_socket *s, struct nlmsghdr *nlh, struct diag *d, const char *what)
{
	return nl_socket_call(s, nlh, NULL, NULL, d, what);
}

int nl_socket_call(struct nl_socket *s, struct nlmsghdr *nlh,
		int (*cb)(const struct nlmsghdr *nlh, void *data), void *data, struct diag *d,
		const char *what)
{
	_cleanup_free_ char *buf = NULL;
	int result = 0;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = nl_socket_next_seq(s);
	if (mnl_socket_sendto(s->mnl, nlh, nlh->nlmsg_len) < 0)
		return diag_add(d, negative_errno(), "%s: netlink send: %m", what);
	buf = malloc(NL_RECV_BUF);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		int n = recv_timeout(s, buf, NL_RECV_BUF);
		if (n < 0)
			return diag_add(d, n, "%s: %s", what, strerror(-n));
		for (const struct nlmsghdr *r = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(r, n);
				r = mnl_nlmsg_next(r, &n)) {
			if (r->nlmsg_seq != nlh->nlmsg_seq || r->nlmsg_pid != s->portid)
				continue;
			if (r->nlmsg_type == NLMSG_ERROR) {
				/* The ack comes after the reply: it ends the exchange. */
				int err = nlmsg_error_code(r);
				if (err < 0) {
					const char *ext = nl_extack_msg(r);
					return diag_add(d, err, "%s: %s%s%s", what, strerror(-err),
							ext ? ": " : "", ext ? ext : "");
				}
				return result;
			}
			if (result >= 0 && cb) {
				int r2 = cb(r, data);
				if (r2 < 0)
					result = r2;
			}
		}
	}
}

int nl_socket_dump(struct nl_socket *s, struct nlmsghdr *nlh,
		int (*cb)(const struct nlmsghdr *nlh, void *data), void *data, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	int result = 0;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = nl_socket_next_seq(s);
	if (mnl_socket_sendto(s->mnl, nlh, nlh->nlmsg_len) < 0)
		return diag_add(d, negative_errno(), "netlink dump: %m");
	buf = malloc(NL_RECV_BUF);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		int n = recv_timeout(s, buf, NL_RECV_BUF);
		if (n < 0)
			return diag_add(d, n, "netlink dump: %s", strerror(-n));
		for (const struct nlmsghdr *r = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(r, n);
				r = mnl_nlmsg_next(r, &n)) {
			if (r->nlmsg_seq != nlh->nlmsg_seq)
				continue;
			if (r->nlmsg_type == NLMSG_DONE)
				return result;
			if (r->nlmsg_type == NLMSG_ERROR) {
				int err = nlmsg_error_code(r);
				const char *ext = nl_extack_msg(r);
				if (err == 0)
					continue;
				return diag_add(d, err, "netlink dump: %s%s%s", strerror(-err),
						ext ? ": " : "", ext ? ext : "");
			}
			/* Keep reading to the end of the dump even after cb fails, so the
			 * socket is clean for the next request. */
			if (result >= 0 && cb) {
				int r2 = cb(r, data);
				if (r2 < 0)
					result = r2;
			}
		}
	}
}
