/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* rtnetlink traffic-control messages, laid out the way iproute2's tc lays them out (the unit
 * test compares them byte for byte with what tc sends). Builders only append to a batch; they
 * never talk to the kernel. The parse helpers read the replies of RTM_GET* dumps. */

#include <linux/filter.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "netem.h"
#include "nl_socket.h"

#define NL_TC_CLSACT_PARENT  TC_H_CLSACT
#define NL_TC_CLSACT_HANDLE  TC_H_MAKE(TC_H_CLSACT, 0)
#define NL_TC_INGRESS_PARENT TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
#define NL_TC_EGRESS_PARENT  TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)

/* u32 node ids chaosd chooses itself. The kernel numbers nodes it picks from 0x800 up
 * (gen_new_kid), so ids below that never collide with filters added without a handle. In a
 * hash table chaosd created (nothing else adds to it) every 12-bit id is chaosd's. */
#define NL_TC_U32_NODE_MIN 0x001
#define NL_TC_U32_NODE_MAX 0x7ff
#define NL_TC_U32_HT_NODE_MAX 0xfff
/* u32 hash table ids (TC_U32_HTID >> 20) a caller may create: the kernel numbers the tables
 * it makes (each instance's root) from 0x800 up (gen_new_htid). */
#define NL_TC_U32_HTID_MAX 0x7ff

#define NL_TC_U32_KEYS_MAX 16

/* What one u32 filter matches. Offsets are relative to the network header (u32 classifies
 * from skb_network_header()). Limits, by construction:
 *  - IPv4 with a port: the ports are read at fixed offsets 20/22, which is right only without
 *    IP options, so the filter also requires byte 0 == 0x45 (version 4, IHL 5) and a fragment
 *    offset of 0 (later fragments carry no L4 header). Packets with IP options or non-first
 *    fragments are not matched.
 *  - IPv6: the next header is read at offset 6 and the ports at 40/42, so only packets without
 *    extension headers match when a protocol or port is given.
 *  - A protocol without a port matches the protocol byte only (no IHL requirement). */
struct nl_tc_match {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network order */
	uint8_t prefix_len;
	bool src;          /* match the source address/port (ingress) instead of destination */
	uint8_t ipproto;   /* IPPROTO_TCP/UDP, 0 = any */
	uint16_t port;     /* host order, 0 = any (requires ipproto) */
	/* skb->mark & mark_mask == mark too (TCA_U32_MARK; a service edge's packets); mask 0 =
	 * any. A kernel without CONFIG_CLS_U32_MARK drops the attribute without a word and the
	 * filter then matches every mark: nl_tc_u32_parse of the filter read back tells. */
	uint32_t mark, mark_mask;
};

struct nl_tc_u32 {
	int ifindex;
	uint32_t parent;   /* NL_TC_EGRESS_PARENT, NL_TC_INGRESS_PARENT or an htb root X:0 */
	uint16_t prio;
	uint16_t protocol; /* ETH_P_IP / ETH_P_IPV6, host order */
	uint32_t handle;   /* node id: NL_TC_U32_NODE_MIN..MAX in the instance's root table,
			    * up to NL_TC_U32_HT_NODE_MAX in the table given by ht */
	uint32_t ht;       /* table and bucket (htid << 20 | bucket << 12) to put the node in;
			    * 0 = the instance's root table */
	uint32_t classid;  /* flowid, 0 = none */
	int redirect_ifindex; /* mirred egress redirect to this device, 0 = none */
	/* Before the redirect, restore skb->mark from the connection's conntrack mark (act_connmark,
	 * ingress: the replies of a service edge's connections), so the IFB's classifier can match
	 * it. Needs redirect_ifindex. */
	bool connmark;
	/* A link node (no classid, no redirect): a packet that matches continues in table
	 * link (htid << 20), in the bucket (word at hash_off & hash_mask) >> (the mask's lowest
	 * set bit), and back here after it if nothing there ends classification. */
	uint32_t link;
	uint32_t hash_mask; /* host order, 0 = bucket 0 */
	int hash_off;       /* bytes from the network header, multiple of 4 */
};

/* A readable name for messages: "eth0" or "ifindex 7". */
struct nl_tc_dev {
	int ifindex;
	const char *name; /* may be NULL */
};

int nl_tc_clsact_add(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev);
int nl_tc_clsact_del(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev);

/* htb root with no default class: unclassified packets go to htb's direct queue (sent at once,
 * never delayed), whose length is direct_qlen. */
int nl_tc_htb_root_add(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t handle, uint32_t direct_qlen);
/* One htb class with rate = ceil = rate_bytes_per_sec, buffer/cbuffer for burst_bytes, and an
 * explicit quantum (so the kernel does not derive a huge one from rate/r2q and warn). */
int nl_tc_htb_class_add(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint32_t classid, uint64_t rate_bytes_per_sec,
		uint32_t burst_bytes, uint32_t quantum);
int nl_tc_class_del(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t classid);

/* netem under parent with handle. change == false: create (NLM_F_CREATE|NLM_F_EXCL), with
 * only the attributes that differ from netem's defaults, as tc does. change == true: modify the
 * existing qdisc in place (NLM_F_REPLACE on the same handle: packets already queued stay) and
 * send every attribute, because netem_change() keeps the old correlation, reorder, corrupt and
 * rate settings when their attribute is absent. dist: the delay table, NULL = keep netem's
 * (none on create; the kernel also keeps an old table on change, see nl_tc_netem_uniform). */
int nl_tc_netem_put(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint32_t handle, const struct netem_config *cfg,
		const struct netem_dist *dist, bool change);
/* A table that makes netem's table lookup uniform over [-jitter, +jitter): the only way to
 * undo a distribution in place, since netem_change() has no "no table" attribute. data must
 * hold NL_TC_UNIFORM_TABLE entries. */
#define NL_TC_UNIFORM_TABLE 4096
void nl_tc_netem_uniform(int16_t *data);

/* A tbf under parent with handle, for a rate limit: rate, bucket (TCA_TBF_BURST) and a byte
 * queue (its bfifo's limit), laid out as tc's `tbf rate R burst B limit L`. A GSO packet larger
 * than the bucket is cut into its segments. change == false: create (NLM_F_EXCL); true: create
 * or change in place (NLM_F_REPLACE: what it queues stays). */
int nl_tc_tbf_put(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev, uint32_t parent,
		uint32_t handle, const struct netem_shaper *sh, bool change);

/* kind may be NULL (the kernel then does not check it). */
int nl_tc_qdisc_del(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint32_t handle, const char *kind);

/* Fill keys for m; returns the number of keys or -EINVAL (bad family, prefix length, or a
 * port without a protocol). */
int nl_tc_u32_keys(const struct nl_tc_match *m, struct tc_u32_key *keys, unsigned n_keys);
int nl_tc_u32_add(struct nl_batch *b, struct nl_socket *s, const struct nl_tc_u32 *f,
		const struct nl_tc_match *m, const char *devname);
/* A u32 hash table htid (TC_U32_HTID form, i.e. id << 20; ids 1..NL_TC_U32_HTID_MAX) with
 * divisor buckets (a power of two up to 256) in the instance at prio/protocol, which this
 * creates if needed. u32 tables belong to every instance on the same qdisc (block): deleting
 * the instance does not delete them while another u32 instance is left there. Delete them with
 * nl_tc_filter_del(handle = htid) after the link nodes that point at them. */
int nl_tc_u32_table_add(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint16_t prio, uint16_t protocol, uint32_t htid, uint32_t divisor);
/* handle == 0 deletes the whole classifier instance at prio/protocol (every node in it);
 * otherwise exactly that u32 node (full handle: hash table id | node). protocol 0 = whatever
 * protocol the classifier at prio has. */
int nl_tc_filter_del(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint16_t prio, uint16_t protocol, uint32_t handle);

/* A cls_bpf filter running a classic BPF program (TCA_BPF_OPS: the kernel checks and converts
 * it itself, no bpf() syscall). The program's -1 sends a packet to classid, another value is a
 * classid itself, 0 means no match. Never offloaded. replace: an existing filter at this handle
 * gets the new program and classid in one step. Delete with nl_tc_filter_del(handle = 0). */
struct nl_tc_bpf {
	int ifindex;
	uint32_t parent;   /* a qdisc X:0, or a class X:Y whose own filters it joins */
	uint16_t prio;
	uint16_t protocol; /* host order; ETH_P_ALL for every packet */
	uint32_t handle;   /* != 0 */
	uint32_t classid;
	const struct sock_filter *ops;
	unsigned n_ops;
};

int nl_tc_bpf_put(struct nl_batch *b, struct nl_socket *s, const struct nl_tc_bpf *f,
		const char *devname, bool replace);

/* Dump requests, built into buf (at least NL_TC_REQ_SIZE bytes), for nl_socket_dump(). */
#define NL_TC_REQ_SIZE 256
struct nlmsghdr *nl_tc_qdisc_dump_req(void *buf);
/* Filters of one block: ifindex + parent (clsact ingress/egress or a qdisc X:0); prio and
 * protocol 0 = all. */
struct nlmsghdr *nl_tc_filter_dump_req(void *buf, int ifindex, uint32_t parent, uint16_t prio,
		uint16_t protocol);

/* One qdisc/class/filter from a dump reply. */
struct nl_tc_obj {
	int ifindex;
	uint32_t parent;
	uint32_t handle;
	uint32_t info;      /* filters: prio << 16 | htons(protocol) */
	uint32_t chain;
	char kind[16];
	const struct nlattr *options; /* TCA_OPTIONS, NULL if absent; points into the message */
	bool has_stats;
	uint64_t bytes, packets;
	uint32_t qlen, backlog, drops, requeues, overlimits;
};

/* What a u32 node of a dump carries. */
struct nl_tc_u32_info {
	uint32_t classid;      /* TCA_U32_CLASSID, 0 = none */
	int redirect_ifindex;  /* target of a mirred egress redirect action, 0 = none */
	unsigned nkeys;
	bool hash_table;       /* the message is a hash table (TCA_U32_DIVISOR), not a node */
	uint32_t link;         /* TCA_U32_LINK: the table a link node descends into, 0 = none */
	bool has_mark;         /* TCA_U32_MARK: the kernel kept the mark match */
	uint32_t mark, mark_mask;
	bool connmark;         /* a connmark action (before the redirect) */
};

/* -EINVAL if o is not a u32 filter with options. */
int nl_tc_u32_parse(const struct nl_tc_obj *o, struct nl_tc_u32_info *ret);

/* -EINVAL if the message is not a well-formed tc object. */
int nl_tc_parse(const struct nlmsghdr *nlh, struct nl_tc_obj *ret);
static inline uint16_t nl_tc_obj_prio(const struct nl_tc_obj *o)
{
	return (uint16_t)(o->info >> 16);
}
uint16_t nl_tc_obj_protocol(const struct nl_tc_obj *o); /* host order */
