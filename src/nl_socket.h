/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A netlink socket (libmnl) that sends many requests in one write and collects one ack for each,
 * keeping the kernel's extended-ack text with every error so it reaches chaosctl. */

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <stdint.h>

#include "diag.h"

#define NL_BATCH_SIZE (256 * 1024)

struct nl_socket;

/* bus: NETLINK_ROUTE or NETLINK_NETFILTER. CLOEXEC, extended acks and strict dump checking on. */
int nl_socket_open(int bus, struct nl_socket **ret);
struct nl_socket *nl_socket_free(struct nl_socket *s);
uint32_t nl_socket_next_seq(struct nl_socket *s);

/* A batch: messages appended to one buffer, each with NLM_F_ACK and its own sequence number. */
struct nl_batch {
	struct mnl_nlmsg_batch *b;
	char *buf;
	unsigned n;
	uint32_t *seqs;     /* seq of message i */
	int *errs;          /* result of message i after nl_batch_send */
	char **what;        /* description of message i for errors ("add netem on chd-o3") */
	unsigned cap;
};

int nl_batch_init(struct nl_batch *b);
void nl_batch_done(struct nl_batch *b);
void nl_batch_reset(struct nl_batch *b);
/* Start a message: returns the header with seq set and NLM_F_REQUEST|NLM_F_ACK|flags, or NULL
 * if the batch is full (-ENOBUFS). what is copied and used in error text. */
struct nlmsghdr *nl_batch_begin(struct nl_batch *b, struct nl_socket *s, uint16_t type,
		uint16_t flags, const char *what);
/* Close the message started last (after attributes were put). */
int nl_batch_commit(struct nl_batch *b);

/* Send every message and wait until the kernel has handled all of them (rtnetlink: one ack, on
 * the last message; errors come for each). Each result lands in b->errs[i]. Returns 0 if all
 * succeeded, else the first error; every failure is added to d as "WHAT: strerror: extack".
 * Errors listed in tolerated (0-terminated, may be NULL) count as success (e.g. -ENOENT when
 * deleting something the kernel already removed). */
int nl_batch_send(struct nl_batch *b, struct nl_socket *s, const int *tolerated, struct diag *d);

/* One request and its ack. */
int nl_socket_request(struct nl_socket *s, struct nlmsghdr *nlh, struct diag *d,
		const char *what);

/* One request whose reply carries data (RTM_GETLINK by name, RTM_GETROUTE): NLM_F_ACK is added;
 * cb sees every reply message before the ack. cb returns <0 to fail with that error. */
int nl_socket_call(struct nl_socket *s, struct nlmsghdr *nlh,
		int (*cb)(const struct nlmsghdr *nlh, void *data), void *data, struct diag *d,
		const char *what);

/* Dump: send nlh (NLM_F_DUMP is added) and call cb for every reply message. cb returns <0 to
 * stop with that error (MNL_CB_OK is 1). */
int nl_socket_dump(struct nl_socket *s, struct nlmsghdr *nlh,
		int (*cb)(const struct nlmsghdr *nlh, void *data), void *data, struct diag *d);

/* Extract the extended-ack message from an NLMSG_ERROR, or NULL. */
const char *nl_extack_msg(const struct nlmsghdr *nlh);
