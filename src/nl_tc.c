/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <linux/gen_stats.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_connmark.h>
#include <linux/tc_act/tc_mirred.h>
#include <math.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/socket.h>

#include "nl_tc.h"
#include "parse.h"

/* psched ticks per microsecond as tc computes them from /proc/net/psched, which has read
 * "000003e8 00000040 000f4240 3b9aca00" on every kernel since 3.x: 1000 ns per us over 64 ns per
 * tick (PSCHED_SHIFT 6). */
#define TICKS_PER_USEC (1000.0 / 64.0)
/* tc's get_hz() is the last psched field, NSEC_PER_SEC / hrtimer resolution: 1e9 with
 * high-resolution timers (all x86_64 kernels). */
#define PSCHED_HZ 1000000000.0
#define HTB_MTU   1600 /* tc's default, and the one its rate tables assume */

#define DEV_STR_MAX (IF_NAMESIZE + 16)

/* Every message's description is made before it is sent (it is only read if the kernel
 * refuses it): its parts without snprintf(), which under emulation cost more than the
 * message itself. */
static const char *dev_str(struct nl_tc_dev dev, char *buf, size_t n)
{
	if (dev.name && dev.name[0])
		return strcpy_cut(buf, n, dev.name);
	snprintf(buf, n, "ifindex %d", dev.ifindex);
	return buf;
}

static char *handle_str(uint32_t h, char *buf, size_t n)
{
	char tmp[sizeof("ffff:ffff")], *end = tmp + sizeof(tmp) - 1, *p;

	if (n < sizeof(tmp))
		return memcpy(buf, "", 1);
	if (h == TC_H_ROOT)
		return memcpy(buf, "root", sizeof("root"));
	*end = '\0';
	p = parse_digits_before(end, TC_H_MIN(h), 16);
	*--p = ':';
	p = parse_digits_before(p, TC_H_MAJ(h) >> 16, 16);
	return memcpy(buf, p, (size_t)(end - p) + 1);
}

static struct nlmsghdr *tc_begin(struct nl_batch *b, struct nl_socket *s, uint16_t type,
		uint16_t flags, int ifindex, uint32_t parent, uint32_t handle, uint32_t info,
		const char *what)
{
	struct nlmsghdr *nlh;
	struct tcmsg *t;

	nlh = nl_batch_begin(b, s, type, flags, what);
	if (!nlh)
		return NULL;
	t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_parent = parent;
	t->tcm_handle = handle;
	t->tcm_info = info;
	return nlh;
}

/* iproute2 opens TCA_OPTIONS and other containers without NLA_F_NESTED (the kernel parses them
 * with the _deprecated parsers, which accept both); keep its bytes. */
static struct nlattr *nest_start_plain(struct nlmsghdr *nlh, uint16_t type)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);
	nest->nla_type &= (uint16_t)~NLA_F_NESTED;
	return nest;
}

/* nl_batch_begin() failed: ENOBUFS (batch full) or ENOMEM, as it set errno. */
static int begin_failed(void)
{
	return errno == ENOBUFS ? -ENOBUFS : -ENOMEM;
}

int nl_tc_clsact_add(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev)
{
	char what[64], ds[DEV_STR_MAX];
	struct nlmsghdr *nlh;

	snprintf(what, sizeof(what), "add clsact on %s", dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, dev.ifindex,
			NL_TC_CLSACT_PARENT, NL_TC_CLSACT_HANDLE, 0, what);
	if (!nlh)
		return begin_failed();
	mnl_attr_put_strz(nlh, TCA_KIND, "clsact");
	return nl_batch_commit(b);
}

int nl_tc_clsact_del(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev)
{
	char what[64], ds[DEV_STR_MAX];
	struct nlmsghdr *nlh;

	snprintf(what, sizeof(what), "delete clsact on %s", dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_DELQDISC, 0, dev.ifindex, NL_TC_CLSACT_PARENT,
			NL_TC_CLSACT_HANDLE, 0, what);
	if (!nlh)
		return begin_failed();
	/* With the kind, the kernel refuses to delete a legacy "ingress" qdisc in its place. */
	mnl_attr_put_strz(nlh, TCA_KIND, "clsact");
	return nl_batch_commit(b);
}

int nl_tc_htb_root_add(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t handle, uint32_t direct_qlen)
{
	struct tc_htb_glob glob = {
		.version = 3,        /* TC_HTB_PROTOVER */
		.rate2quantum = 10,  /* unused: every class gets an explicit quantum */
		.defcls = 0,         /* no default class: unclassified packets go direct */
	};
	char what[64], ds[DEV_STR_MAX], hs[16];
	struct nlmsghdr *nlh;
	struct nlattr *opts;

	snprintf(what, sizeof(what), "add htb %s on %s", handle_str(handle, hs, sizeof(hs)),
			dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, dev.ifindex, TC_H_ROOT,
			handle, 0, what);
	if (!nlh)
		return begin_failed();
	mnl_attr_put_strz(nlh, TCA_KIND, "htb");
	opts = nest_start_plain(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_HTB_INIT, sizeof(glob), &glob);
	mnl_attr_put_u32(nlh, TCA_HTB_DIRECT_QLEN, direct_qlen);
	mnl_attr_nest_end(nlh, opts);
	return nl_batch_commit(b);
}

/* Time to send size bytes at rate, in psched ticks, rounded up as tc_calc_xmittime() does
 * (same operations in the same order, so the result is bit-identical). */
static uint32_t xmit_ticks(uint64_t rate, uint64_t size)
{
	double t = ceil(1000000.0 * ((double)size / (double)rate) * TICKS_PER_USEC);

	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* Rate table for kernels that still read one: rtab[i] = ticks to send (i + 1) << cell_log
 * bytes at the 32-bit rate. Only the layout matters now (the kernel computes from the 64-bit
 * rate once linklayer is set), but tc sends it, so we do too. */
static void rate_table(struct tc_ratespec *r, uint32_t *tab)
{
	/* The last rate's table: every class of a link has the same rate (and its ceil), and
	 * 512 divisions were a sixth of an inject's instructions. */
	static uint32_t last_tab[256], last_rate;
	static bool have_last;
	unsigned cell_log = 0;

	while ((HTB_MTU >> cell_log) > 255)
		cell_log++;
	if (!have_last || last_rate != r->rate) {
		for (unsigned i = 0; i < 256; i++)
			last_tab[i] = xmit_ticks(r->rate, (uint64_t)(i + 1) << cell_log);
		last_rate = r->rate;
		have_last = true;
	}
	memcpy(tab, last_tab, sizeof(last_tab));
	r->cell_log = (unsigned char)cell_log;
	r->cell_align = -1;
	r->linklayer = TC_LINKLAYER_ETHERNET;
}

int nl_tc_htb_class_add(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint32_t classid, uint64_t rate_bytes_per_sec,
		uint32_t burst_bytes, uint32_t quantum)
{
	struct tc_htb_opt opt = { .quantum = quantum };
	uint32_t rtab[256], ctab[256];
	char what[80], ds[DEV_STR_MAX], hs[16];
	struct nlmsghdr *nlh;
	struct nlattr *opts;
	uint64_t burst;

	if (rate_bytes_per_sec == 0)
		return -EINVAL;
	/* tc's default burst: one tick's worth at the rate plus an MTU. */
	burst = burst_bytes ? burst_bytes : (uint64_t)(rate_bytes_per_sec / PSCHED_HZ) + HTB_MTU;

	opt.rate.rate = rate_bytes_per_sec >= (1ULL << 32) ? UINT32_MAX
							    : (uint32_t)rate_bytes_per_sec;
	opt.ceil.rate = opt.rate.rate;
	rate_table(&opt.rate, rtab);
	rate_table(&opt.ceil, ctab);
	opt.buffer = xmit_ticks(rate_bytes_per_sec, burst);
	opt.cbuffer = xmit_ticks(rate_bytes_per_sec, burst);

	snprintf(what, sizeof(what), "add htb class %s on %s", handle_str(classid, hs, sizeof(hs)),
			dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_NEWTCLASS, NLM_F_CREATE | NLM_F_EXCL, dev.ifindex, parent,
			classid, 0, what);
	if (!nlh)
		return begin_failed();
	mnl_attr_put_strz(nlh, TCA_KIND, "htb");
	opts = nest_start_plain(nlh, TCA_OPTIONS);
	/* Rates of 4 GB/s and more do not fit tc_ratespec.rate: the 64-bit attributes carry them
	 * and the 32-bit field says UINT32_MAX. */
	if (rate_bytes_per_sec >= (1ULL << 32)) {
		mnl_attr_put_u64(nlh, TCA_HTB_RATE64, rate_bytes_per_sec);
		mnl_attr_put_u64(nlh, TCA_HTB_CEIL64, rate_bytes_per_sec);
	}
	mnl_attr_put(nlh, TCA_HTB_PARMS, sizeof(opt), &opt);
	mnl_attr_put(nlh, TCA_HTB_RTAB, sizeof(rtab), rtab);
	mnl_attr_put(nlh, TCA_HTB_CTAB, sizeof(ctab), ctab);
	mnl_attr_nest_end(nlh, opts);
	return nl_batch_commit(b);
}

int nl_tc_class_del(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t classid)
{
	char what[80], ds[DEV_STR_MAX], hs[16];
	struct nlmsghdr *nlh;

	snprintf(what, sizeof(what), "delete class %s on %s", handle_str(classid, hs, sizeof(hs)),
			dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_DELTCLASS, 0, dev.ifindex, 0, classid, 0, what);
	if (!nlh)
		return begin_failed();
	return nl_batch_commit(b);
}

void nl_tc_netem_uniform(int16_t *data)
{
	/* netem's tabledist() returns about mu + sigma * t / NETEM_DIST_SCALE (8192) for a table
	 * value t; the midpoints of 4096 equal steps over [-8192, 8192) make that uniform. */
	for (int i = 0; i < NL_TC_UNIFORM_TABLE; i++)
		data[i] = (int16_t)(-8192 + 4 * i + 2);
}

int nl_tc_netem_put(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint32_t handle, const struct netem_config *cfg,
		const struct netem_dist *dist, bool change)
{
	struct tc_netem_qopt qopt = {
		/* 0 would make netem drop everything; 1000 is its (and tc's) default. */
		.limit = cfg->limit ? cfg->limit : 1000,
		.loss = cfg->gemodel ? 0 : cfg->loss,
		.gap = cfg->gap,
		.duplicate = cfg->duplicate,
		/* latency and jitter travel as 64-bit nanoseconds; the 32-bit tick fields stay 0
		 * as with tc >= 6.10 (the kernel reads both, the 64-bit ones last). */
	};
	struct tc_netem_corr corr = {
		.delay_corr = cfg->delay_corr,
		.loss_corr = cfg->loss_corr,
		.dup_corr = cfg->dup_corr,
	};
	struct tc_netem_reorder reorder = {
		.probability = cfg->reorder,
		.correlation = cfg->reorder_corr,
	};
	struct tc_netem_corrupt corrupt = {
		.probability = cfg->corrupt,
		.correlation = cfg->corrupt_corr,
	};
	struct tc_netem_rate rate = {};
	char what[96], ds[DEV_STR_MAX], hs[16], ps[16];
	struct nlmsghdr *nlh;
	struct nlattr *opts;
	bool want_corr;

	if (cfg->latency_ns < 0 || cfg->jitter_ns < 0)
		return -EINVAL;
	if (dist && dist->n > NETEM_DIST_MAX)
		return -EINVAL;
	/* netem reorders only with a gap (netem_enqueue: q->gap == 0 means "not reordering"), so
	 * tc makes it 1; and a gap alone means 100 % in the kernel's compatibility rule. */
	if (reorder.probability && qopt.gap == 0)
		qopt.gap = 1;
	if (qopt.gap && !reorder.probability)
		reorder.probability = UINT32_MAX;
	/* tc sends TCA_NETEM_CORR when any correlation was given (reorder and corrupt ones
	 * included, though they travel in their own attributes). */
	want_corr = corr.delay_corr || corr.loss_corr || corr.dup_corr || cfg->reorder_corr ||
		    cfg->corrupt_corr;

	snprintf(what, sizeof(what), "%s netem %s under %s on %s", change ? "change" : "add",
			handle_str(handle, hs, sizeof(hs)), handle_str(parent, ps, sizeof(ps)),
			dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_NEWQDISC, change ? NLM_F_REPLACE : NLM_F_CREATE | NLM_F_EXCL,
			dev.ifindex, parent, handle, 0, what);
	if (!nlh)
		return begin_failed();
	mnl_attr_put_strz(nlh, TCA_KIND, "netem");

	/* netem's TCA_OPTIONS is "compat nested": a struct tc_netem_qopt, then attributes
	 * (sch_netem.c parse_attr() skips NLA_ALIGN(sizeof(qopt)) before parsing them). */
	opts = nest_start_plain(nlh, TCA_OPTIONS);
	memcpy(mnl_nlmsg_get_payload_tail(nlh), &qopt, sizeof(qopt));
	nlh->nlmsg_len += MNL_ALIGN(sizeof(qopt));

	if (change || cfg->latency_ns || cfg->jitter_ns)
		mnl_attr_put_u64(nlh, TCA_NETEM_LATENCY64, (uint64_t)cfg->latency_ns);
	if (change || cfg->jitter_ns)
		mnl_attr_put_u64(nlh, TCA_NETEM_JITTER64, (uint64_t)cfg->jitter_ns);
	if (change || want_corr)
		mnl_attr_put(nlh, TCA_NETEM_CORR, sizeof(corr), &corr);
	if (change || reorder.probability)
		mnl_attr_put(nlh, TCA_NETEM_REORDER, sizeof(reorder), &reorder);
	if (change || corrupt.probability)
		mnl_attr_put(nlh, TCA_NETEM_CORRUPT, sizeof(corrupt), &corrupt);
	if (cfg->gemodel) {
		/* Without TCA_NETEM_LOSS the kernel falls back to random loss, on change too. */
		struct tc_netem_gemodel ge = {
			.p = cfg->ge_p,
			.r = cfg->ge_r,
			.h = cfg->ge_h,
			.k1 = cfg->ge_k1,
		};
		struct nlattr *loss = mnl_attr_nest_start(nlh, TCA_NETEM_LOSS);
		mnl_attr_put(nlh, NETEM_LOSS_GE, sizeof(ge), &ge);
		mnl_attr_nest_end(nlh, loss);
	}
	if (change || cfg->rate_bytes_per_sec) {
		if (cfg->rate_bytes_per_sec >= (1ULL << 32)) {
			mnl_attr_put_u64(nlh, TCA_NETEM_RATE64, cfg->rate_bytes_per_sec);
			rate.rate = UINT32_MAX;
		} else {
			rate.rate = (uint32_t)cfg->rate_bytes_per_sec;
		}
		mnl_attr_put(nlh, TCA_NETEM_RATE, sizeof(rate), &rate);
	}
	if (dist && dist->n > 0)
		mnl_attr_put(nlh, TCA_NETEM_DELAY_DIST, dist->n * sizeof(int16_t), dist->data);
	mnl_attr_nest_end(nlh, opts);
	return nl_batch_commit(b);
}

int nl_tc_tbf_put(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev, uint32_t parent,
		uint32_t handle, const struct netem_shaper *sh, bool change)
{
	struct tc_tbf_qopt opt = { .limit = sh->limit_bytes };
	uint32_t rtab[256], burst = sh->burst_bytes;
	char what[96], ds[DEV_STR_MAX], hs[16], ps[16];
	struct nlmsghdr *nlh;
	struct nlattr *opts;

	if (sh->rate_bytes_per_sec == 0 || burst == 0 || sh->limit_bytes == 0)
		return -EINVAL;
	opt.rate.rate = sh->rate_bytes_per_sec >= (1ULL << 32) ? UINT32_MAX
								: (uint32_t)sh->rate_bytes_per_sec;
	rate_table(&opt.rate, rtab);
	/* The kernel takes the bucket from TCA_TBF_BURST; buffer is its time at the rate. */
	opt.buffer = xmit_ticks(sh->rate_bytes_per_sec, burst);

	snprintf(what, sizeof(what), "%s tbf %s under %s on %s", change ? "change" : "add",
			handle_str(handle, hs, sizeof(hs)), handle_str(parent, ps, sizeof(ps)),
			dev_str(dev, ds, sizeof(ds)));
	/* A change creates the tbf if it is not there yet (a rate added to an edge's faults). */
	nlh = tc_begin(b, s, RTM_NEWQDISC,
			NLM_F_CREATE | (change ? NLM_F_REPLACE : NLM_F_EXCL), dev.ifindex, parent,
			handle, 0, what);
	if (!nlh)
		return begin_failed();
	mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
	opts = nest_start_plain(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(opt), &opt);
	mnl_attr_put_u32(nlh, TCA_TBF_BURST, burst);
	if (sh->rate_bytes_per_sec >= (1ULL << 32))
		mnl_attr_put_u64(nlh, TCA_TBF_RATE64, sh->rate_bytes_per_sec);
	mnl_attr_put(nlh, TCA_TBF_RTAB, sizeof(rtab), rtab);
	mnl_attr_nest_end(nlh, opts);
	return nl_batch_commit(b);
}

int nl_tc_qdisc_del(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint32_t handle, const char *kind)
{
	char what[96], ds[DEV_STR_MAX], hs[16];
	struct nlmsghdr *nlh;

	snprintf(what, sizeof(what), "delete %s %s on %s", kind ? kind : "qdisc",
			handle_str(handle, hs, sizeof(hs)), dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_DELQDISC, 0, dev.ifindex, parent, handle, 0, what);
	if (!nlh)
		return begin_failed();
	if (kind)
		mnl_attr_put_strz(nlh, TCA_KIND, kind);
	return nl_batch_commit(b);
}

static void add_key(struct tc_u32_key *keys, unsigned *n, int off, uint32_t val, uint32_t mask)
{
	/* Values in host order here; one 32-bit key per offset, merged like tc's pack_key(). */
	for (unsigned i = 0; i < *n; i++)
		if (keys[i].off == off) {
			keys[i].mask |= htonl(mask);
			keys[i].val |= htonl(val & mask);
			return;
		}
	keys[*n] = (struct tc_u32_key){
		.mask = htonl(mask),
		.val = htonl(val & mask),
		.off = off,
	};
	(*n)++;
}

static uint32_t word_at(const uint8_t *addr, unsigned i)
{
	return (uint32_t)addr[4 * i] << 24 | (uint32_t)addr[4 * i + 1] << 16 |
	       (uint32_t)addr[4 * i + 2] << 8 | addr[4 * i + 3];
}

static uint32_t prefix_mask(int bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return UINT32_MAX;
	return UINT32_MAX << (32 - bits);
}

int nl_tc_u32_keys(const struct nl_tc_match *m, struct tc_u32_key *keys, unsigned n_keys)
{
	unsigned n = 0;

	if (n_keys < 8)
		return -EINVAL;
	if (m->port && !m->ipproto)
		return -EINVAL;
	if (m->family == AF_INET) {
		if (m->prefix_len > 32)
			return -EINVAL;
		if (m->port) {
			add_key(keys, &n, 0, 0x45000000, 0xff000000); /* version 4, IHL 5 */
			add_key(keys, &n, 4, 0, 0x00001fff);          /* fragment offset 0 */
		}
		if (m->ipproto)
			add_key(keys, &n, 8, (uint32_t)m->ipproto << 16, 0x00ff0000);
		if (m->prefix_len)
			add_key(keys, &n, m->src ? 12 : 16, word_at(m->addr, 0),
					prefix_mask(m->prefix_len));
		if (m->port)
			add_key(keys, &n, 20, m->src ? (uint32_t)m->port << 16 : m->port,
					m->src ? 0xffff0000 : 0x0000ffff);
	} else if (m->family == AF_INET6) {
		if (m->prefix_len > 128)
			return -EINVAL;
		if (m->ipproto)
			add_key(keys, &n, 4, (uint32_t)m->ipproto << 8, 0x0000ff00);
		for (unsigned i = 0; i < 4; i++) {
			int bits = (int)m->prefix_len - 32 * (int)i;
			int off = (m->src ? 8 : 24) + 4 * (int)i;
			if (bits > 0)
				add_key(keys, &n, off, word_at(m->addr, i), prefix_mask(bits));
		}
		if (m->port)
			add_key(keys, &n, 40, m->src ? (uint32_t)m->port << 16 : m->port,
					m->src ? 0xffff0000 : 0x0000ffff);
	} else {
		return -EINVAL;
	}
	/* Nothing to compare (0.0.0.0/0, any protocol): one always-true key, like
	 * "match u32 0 0". */
	if (n == 0)
		add_key(keys, &n, 0, 0, 0);
	return (int)n;
}

int nl_tc_u32_add(struct nl_batch *b, struct nl_socket *s, const struct nl_tc_u32 *f,
		const struct nl_tc_match *m, const char *devname)
{
	struct tc_u32_key keys[NL_TC_U32_KEYS_MAX] = {};
	struct tc_u32_sel sel = {};
	uint8_t raw[sizeof(sel) + sizeof(keys)];
	char what[96], ds[DEV_STR_MAX];
	struct nlmsghdr *nlh;
	struct nlattr *opts;
	int n;

	if (f->handle < NL_TC_U32_NODE_MIN ||
			f->handle > (f->ht ? NL_TC_U32_HT_NODE_MAX : NL_TC_U32_NODE_MAX))
		return -EINVAL;
	if (TC_U32_KEY(f->ht) & 0xfff)
		return -EINVAL;
	if (f->link && (TC_U32_KEY(f->link) || f->classid || f->redirect_ifindex ||
				f->hash_off < 0 || f->hash_off % 4))
		return -EINVAL;
	if ((f->connmark && !f->redirect_ifindex) || (m->mark & ~m->mark_mask))
		return -EINVAL;
	n = nl_tc_u32_keys(m, keys, NL_TC_U32_KEYS_MAX);
	if (n < 0)
		return n;
	sel.nkeys = (unsigned char)n;
	/* A terminal node ends classification with its result (flowid and actions). */
	if (f->classid || f->redirect_ifindex)
		sel.flags |= TC_U32_TERMINAL;
	if (f->link) {
		sel.hmask = htonl(f->hash_mask);
		sel.hoff = (short)f->hash_off;
	}
	/* struct tc_u32_sel ends in a flexible array: the keys follow it directly. */
	memcpy(raw, &sel, sizeof(sel));
	memcpy(raw + sizeof(sel), keys, (size_t)n * sizeof(keys[0]));

	snprintf(what, sizeof(what), "add u32 filter prio %u handle %x:%x:%x on %s", f->prio,
			f->ht >> 20, (f->ht >> 12) & 0xff, f->handle,
			dev_str((struct nl_tc_dev){ f->ifindex, devname }, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, f->ifindex, f->parent,
			f->handle, TC_H_MAKE((uint32_t)f->prio << 16, htons(f->protocol)), what);
	if (!nlh)
		return begin_failed();
	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	opts = nest_start_plain(nlh, TCA_OPTIONS);
	if (f->classid)
		mnl_attr_put_u32(nlh, TCA_U32_CLASSID, f->classid);
	if (f->redirect_ifindex) {
		struct tc_mirred parms = {
			.action = TC_ACT_STOLEN, /* the packet is gone from this path */
			.eaction = TCA_EGRESS_REDIR,
			.ifindex = (uint32_t)f->redirect_ifindex,
		};
		struct nlattr *acts = nest_start_plain(nlh, TCA_U32_ACT);
		struct nlattr *act;
		uint16_t order = 1;

		if (f->connmark) {
			/* pipe: on to the redirect, with the connection's mark on the packet */
			struct tc_connmark cp = { .action = TC_ACT_PIPE };
			struct nlattr *copts;

			act = nest_start_plain(nlh, order++);
			mnl_attr_put_strz(nlh, TCA_ACT_KIND, "connmark");
			copts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
			mnl_attr_put(nlh, TCA_CONNMARK_PARMS, sizeof(cp), &cp);
			mnl_attr_nest_end(nlh, copts);
			mnl_attr_nest_end(nlh, act);
		}
		act = nest_start_plain(nlh, order);
		mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
		struct nlattr *aopts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
		mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof(parms), &parms);
		mnl_attr_nest_end(nlh, aopts);
		mnl_attr_nest_end(nlh, act);
		mnl_attr_nest_end(nlh, acts);
	}
	/* tc's order: link, then the table to put the node in, then the selector */
	if (f->link)
		mnl_attr_put_u32(nlh, TCA_U32_LINK, f->link);
	if (f->ht)
		mnl_attr_put_u32(nlh, TCA_U32_HASH, f->ht);
	mnl_attr_put(nlh, TCA_U32_SEL, sizeof(sel) + (size_t)n * sizeof(keys[0]), raw);
	if (m->mark_mask) {
		struct tc_u32_mark mk = { .val = m->mark, .mask = m->mark_mask };

		mnl_attr_put(nlh, TCA_U32_MARK, sizeof(mk), &mk);
	}
	/* Never offloaded: a NIC cannot redirect to an IFB, and a hardware copy of the match
	 * would let traffic bypass the fault. */
	mnl_attr_put_u32(nlh, TCA_U32_FLAGS, TCA_CLS_FLAGS_SKIP_HW);
	mnl_attr_nest_end(nlh, opts);
	return nl_batch_commit(b);
}

int nl_tc_u32_table_add(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint16_t prio, uint16_t protocol, uint32_t htid, uint32_t divisor)
{
	char what[96], ds[DEV_STR_MAX];
	struct nlmsghdr *nlh;
	struct nlattr *opts;

	if (TC_U32_KEY(htid) || htid == 0 || (htid >> 20) > NL_TC_U32_HTID_MAX || divisor == 0 ||
			divisor > 256 || (divisor & (divisor - 1)))
		return -EINVAL;
	snprintf(what, sizeof(what), "add u32 hash table %x: (%u buckets) prio %u on %s",
			htid >> 20, divisor, prio, dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, dev.ifindex, parent, htid,
			TC_H_MAKE((uint32_t)prio << 16, htons(protocol)), what);
	if (!nlh)
		return begin_failed();
	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	opts = nest_start_plain(nlh, TCA_OPTIONS);
	mnl_attr_put_u32(nlh, TCA_U32_DIVISOR, divisor);
	mnl_attr_put_u32(nlh, TCA_U32_FLAGS, TCA_CLS_FLAGS_SKIP_HW);
	mnl_attr_nest_end(nlh, opts);
	return nl_batch_commit(b);
}

int nl_tc_filter_del(struct nl_batch *b, struct nl_socket *s, struct nl_tc_dev dev,
		uint32_t parent, uint16_t prio, uint16_t protocol, uint32_t handle)
{
	char what[96], ds[DEV_STR_MAX];
	struct nlmsghdr *nlh;

	if (handle)
		snprintf(what, sizeof(what), "delete u32 filter prio %u handle %x:%x:%x on %s",
				prio, handle >> 20, (handle >> 12) & 0xff, handle & 0xfff,
				dev_str(dev, ds, sizeof(ds)));
	else
		snprintf(what, sizeof(what), "delete filters at prio %u on %s", prio,
				dev_str(dev, ds, sizeof(ds)));
	nlh = tc_begin(b, s, RTM_DELTFILTER, 0, dev.ifindex, parent, handle,
			TC_H_MAKE((uint32_t)prio << 16, htons(protocol)), what);
	if (!nlh)
		return begin_failed();
	/* One node needs the classifier's kind to be looked up; a whole instance does not. */
	if (handle)
		mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	return nl_batch_commit(b);
}

int nl_tc_bpf_put(struct nl_batch *b, struct nl_socket *s, const struct nl_tc_bpf *f,
		const char *devname, bool replace)
{
	char what[96], ds[DEV_STR_MAX], hs[16];
	struct nlmsghdr *nlh;
	struct nlattr *opts;

	if (f->handle == 0 || !f->ops || f->n_ops == 0 || f->n_ops > BPF_MAXINSNS)
		return -EINVAL;
	snprintf(what, sizeof(what), "%s bpf filter prio %u handle %x under %s on %s",
			replace ? "replace" : "add", f->prio, f->handle,
			handle_str(f->parent, hs, sizeof(hs)),
			dev_str((struct nl_tc_dev){ f->ifindex, devname }, ds, sizeof(ds)));
	/* NLM_F_REPLACE swaps the program of the filter at that handle in one step
	 * (cls_bpf_change: list_replace_rcu), as `tc filter replace` does. */
	nlh = tc_begin(b, s, RTM_NEWTFILTER,
			NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), f->ifindex,
			f->parent, f->handle, TC_H_MAKE((uint32_t)f->prio << 16, htons(f->protocol)),
			what);
	if (!nlh)
		return begin_failed();
	mnl_attr_put_strz(nlh, TCA_KIND, "bpf");
	opts = nest_start_plain(nlh, TCA_OPTIONS);
	mnl_attr_put_u32(nlh, TCA_BPF_CLASSID, f->classid);
	mnl_attr_put_u16(nlh, TCA_BPF_OPS_LEN, (uint16_t)f->n_ops);
	mnl_attr_put(nlh, TCA_BPF_OPS, f->n_ops * sizeof(*f->ops), f->ops);
	mnl_attr_put_u32(nlh, TCA_BPF_FLAGS_GEN, TCA_CLS_FLAGS_SKIP_HW);
	mnl_attr_nest_end(nlh, opts);
	return nl_batch_commit(b);
}

struct nlmsghdr *nl_tc_qdisc_dump_req(void *buf)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, NL_TC_REQ_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETQDISC;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct tcmsg));
	return nlh;
}

struct nlmsghdr *nl_tc_filter_dump_req(void *buf, int ifindex, uint32_t parent, uint16_t prio,
		uint16_t protocol)
{
	struct nlmsghdr *nlh;
	struct tcmsg *t;

	memset(buf, 0, NL_TC_REQ_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETTFILTER;
	t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_parent = parent;
	/* tcf_chain_dump() skips instances whose prio/protocol differ when these are set. */
	t->tcm_info = TC_H_MAKE((uint32_t)prio << 16, htons(protocol));
	return nlh;
}

uint16_t nl_tc_obj_protocol(const struct nl_tc_obj *o)
{
	return ntohs((uint16_t)TC_H_MIN(o->info));
}

static void parse_stats2(const struct nlattr *nest, struct nl_tc_obj *o)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case TCA_STATS_BASIC:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct gnet_stats_basic)) {
				struct gnet_stats_basic sb;
				memcpy(&sb, mnl_attr_get_payload(a), sizeof(sb));
				o->bytes = sb.bytes;
				/* TCA_STATS_PKT64, when present, has the untruncated count. */
				if (o->packets == 0)
					o->packets = sb.packets;
				o->has_stats = true;
			}
			break;
		case TCA_STATS_PKT64:
			if (mnl_attr_get_payload_len(a) >= sizeof(uint64_t))
				o->packets = mnl_attr_get_u64(a);
			break;
		case TCA_STATS_QUEUE:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct gnet_stats_queue)) {
				struct gnet_stats_queue q;
				memcpy(&q, mnl_attr_get_payload(a), sizeof(q));
				o->qlen = q.qlen;
				o->backlog = q.backlog;
				o->drops = q.drops;
				o->requeues = q.requeues;
				o->overlimits = q.overlimits;
				o->has_stats = true;
			}
			break;
		}
	}
}

int nl_tc_parse(const struct nlmsghdr *nlh, struct nl_tc_obj *ret)
{
	struct nl_tc_obj o = {};
	const struct tcmsg *t;
	const struct nlattr *a;
	const struct nlattr *stats2 = NULL;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*t)))
		return -EINVAL;
	t = mnl_nlmsg_get_payload(nlh);
	o.ifindex = t->tcm_ifindex;
	o.parent = t->tcm_parent;
	o.handle = t->tcm_handle;
	o.info = t->tcm_info;
	mnl_attr_for_each(a, nlh, sizeof(*t)) {
		switch (mnl_attr_get_type(a)) {
		case TCA_KIND:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
				snprintf(o.kind, sizeof(o.kind), "%s", mnl_attr_get_str(a));
			break;
		case TCA_OPTIONS:
			o.options = a;
			break;
		case TCA_CHAIN:
			if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
				o.chain = mnl_attr_get_u32(a);
			break;
		case TCA_STATS2:
			stats2 = a;
			break;
		case TCA_STATS:
			/* Old flat struct; TCA_STATS2, when present, overrides it below. */
			if (mnl_attr_get_payload_len(a) >= sizeof(struct tc_stats)) {
				struct tc_stats st;
				memcpy(&st, mnl_attr_get_payload(a), sizeof(st));
				o.bytes = st.bytes;
				o.packets = st.packets;
				o.drops = st.drops;
				o.qlen = st.qlen;
				o.backlog = st.backlog;
				o.overlimits = st.overlimits;
				o.has_stats = true;
			}
			break;
		}
	}
	if (stats2) {
		o.packets = 0;
		parse_stats2(stats2, &o);
	}
	*ret = o;
	return 0;
}

static void parse_action(const struct nlattr *act, struct nl_tc_u32_info *u)
{
	const struct nlattr *a, *opts = NULL;
	bool mirred = false;

	mnl_attr_for_each_nested(a, act) {
		if (mnl_attr_get_type(a) == TCA_ACT_KIND &&
				mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0) {
			mirred = streq(mnl_attr_get_str(a), "mirred");
			u->connmark |= streq(mnl_attr_get_str(a), "connmark");
		} else if (mnl_attr_get_type(a) == TCA_ACT_OPTIONS)
			opts = a;
	}
	if (!mirred || !opts)
		return;
	mnl_attr_for_each_nested(a, opts) {
		struct tc_mirred p;
		if (mnl_attr_get_type(a) != TCA_MIRRED_PARMS ||
				mnl_attr_get_payload_len(a) < sizeof(p))
			continue;
		memcpy(&p, mnl_attr_get_payload(a), sizeof(p));
		if (p.eaction == TCA_EGRESS_REDIR)
			u->redirect_ifindex = (int)p.ifindex;
	}
}

int nl_tc_u32_parse(const struct nl_tc_obj *o, struct nl_tc_u32_info *ret)
{
	struct nl_tc_u32_info u = {};
	const struct nlattr *a;

	if (!streq(o->kind, "u32") || !o->options)
		return -EINVAL;
	mnl_attr_for_each_nested(a, o->options) {
		switch (mnl_attr_get_type(a)) {
		case TCA_U32_CLASSID:
			if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
				u.classid = mnl_attr_get_u32(a);
			break;
		case TCA_U32_DIVISOR:
			u.hash_table = true;
			break;
		case TCA_U32_LINK:
			if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
				u.link = mnl_attr_get_u32(a);
			break;
		case TCA_U32_SEL:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct tc_u32_sel)) {
				const struct tc_u32_sel *sel = mnl_attr_get_payload(a);
				u.nkeys = sel->nkeys;
			}
			break;
		case TCA_U32_MARK:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct tc_u32_mark)) {
				struct tc_u32_mark mk;
				memcpy(&mk, mnl_attr_get_payload(a), sizeof(mk));
				u.has_mark = true;
				u.mark = mk.val;
				u.mark_mask = mk.mask;
			}
			break;
		case TCA_U32_ACT: {
			const struct nlattr *act;
			mnl_attr_for_each_nested(act, a)
				parse_action(act, &u);
			break;
		}
		}
	}
	*ret = u;
	return 0;
}
