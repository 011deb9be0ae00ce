/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* flowsel: the classic BPF program against its C twin, run by a small interpreter of the
 * instructions the program uses (loads relative to the network header as the kernel's
 * SKF_NET_OFF does them), over packets built here. The kernel runs the same program in
 * tests/test-flowsel-host. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flowsel.h"
#include "macro.h"
#include "test-util.h"

#define OTHER 0x00010003U
#define SEL   UINT32_MAX

/* ------------------------------------------------------------------ interpreter */

static bool load(const uint8_t *pkt, size_t len, uint32_t k, unsigned size, uint32_t *ret)
{
	int64_t off = (int32_t)k - SKF_NET_OFF;

	if ((int32_t)k < SKF_NET_OFF || (int32_t)k >= SKF_AD_OFF || off < 0 ||
			(size_t)off + size > len)
		return false;
	*ret = 0;
	for (unsigned i = 0; i < size; i++)
		*ret = *ret << 8 | pkt[off + i];
	return true;
}

/* What the kernel returns for the packet (0 also when a load fails). */
static uint32_t run(const struct sock_filter *prog, int n, const uint8_t *pkt, size_t len)
{
	uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = {}, v;
	static const unsigned sizes[] = { [BPF_W] = 4, [BPF_H] = 2, [BPF_B] = 1 };

	for (int pc = 0; pc < n; pc++) {
		const struct sock_filter *f = &prog[pc];

		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
		case BPF_LD | BPF_H | BPF_ABS:
		case BPF_LD | BPF_B | BPF_ABS:
			if (!load(pkt, len, f->k, sizes[BPF_SIZE(f->code)], &A))
				return 0;
			break;
		case BPF_LD | BPF_W | BPF_IND:
		case BPF_LD | BPF_H | BPF_IND:
		case BPF_LD | BPF_B | BPF_IND:
			if (!load(pkt, len, f->k + X, sizes[BPF_SIZE(f->code)], &A))
				return 0;
			break;
		case BPF_LDX | BPF_B | BPF_MSH:
			if (!load(pkt, len, f->k, 1, &v))
				return 0;
			X = (v & 0xf) * 4;
			break;
		case BPF_LD | BPF_MEM:
			ck_assert_uint_lt(f->k, BPF_MEMWORDS);
			A = M[f->k];
			break;
		case BPF_ST:
			ck_assert_uint_lt(f->k, BPF_MEMWORDS);
			M[f->k] = A;
			break;
		case BPF_MISC | BPF_TAX:
			X = A;
			break;
		case BPF_ALU | BPF_RSH | BPF_K:
			A >>= f->k;
			break;
		case BPF_ALU | BPF_XOR | BPF_X:
			A ^= X;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			A &= f->k;
			break;
		case BPF_ALU | BPF_MUL | BPF_K:
			A *= f->k;
			break;
		case BPF_ALU | BPF_MOD | BPF_K:
			ck_assert_uint_ne(f->k, 0);
			A %= f->k;
			break;
		case BPF_JMP | BPF_JA:
			pc += (int)f->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += A == f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += A >= f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (A & f->k) ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return f->k;
		default:
			ck_abort_msg("instruction %d: code 0x%x not in the interpreter", pc, f->code);
		}
	}
	ck_abort_msg("the program ran off its end");
	return 0;
}

/* ------------------------------------------------------------------ packets */

struct pkt {
	uint8_t b[128];
	size_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* IPv4 with ihl words of header (5 = no options); proto's header follows: ports, or an ICMP
 * type and identifier. frag: the fragment offset field. */
static struct pkt pkt4(const struct flowsel_flow *f, uint8_t proto, unsigned ihl, uint16_t frag,
		uint8_t icmp_type)
{
	struct pkt p = { .len = ihl * 4 + 8 };
	uint8_t *l4 = p.b + ihl * 4;

	p.b[0] = (uint8_t)(0x40 | ihl);
	put16(p.b + 6, frag);
	p.b[9] = proto;
	memcpy(p.b + 12, f->saddr, 4);
	memcpy(p.b + 16, f->daddr, 4);
	if (proto == IPPROTO_ICMP) {
		l4[0] = icmp_type;
		put16(l4 + 4, f->sport);
	} else {
		put16(l4, f->sport);
		put16(l4 + 2, f->dport);
	}
	return p;
}

static struct pkt pkt6(const struct flowsel_flow *f, uint8_t nexthdr, uint8_t icmp_type)
{
	struct pkt p = { .len = 48 };

	p.b[0] = 0x60;
	p.b[6] = nexthdr;
	memcpy(p.b + 8, f->saddr, 16);
	memcpy(p.b + 24, f->daddr, 16);
	if (nexthdr == IPPROTO_ICMPV6) {
		p.b[40] = icmp_type;
		put16(p.b + 44, f->sport);
	} else {
		put16(p.b + 40, f->sport);
		put16(p.b + 42, f->dport);
	}
	return p;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	/* xorshift64*: reproducible, no libc state */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dULL) >> 32);
}

static struct flowsel_flow random_flow(int family)
{
	struct flowsel_flow f = { .family = family };

	for (unsigned i = 0; i < (family == AF_INET ? 4u : 16u); i++) {
		f.saddr[i] = (uint8_t)rnd();
		f.daddr[i] = (uint8_t)rnd();
	}
	f.sport = (uint16_t)rnd();
	f.dport = (uint16_t)rnd();
	return f;
}

static struct flowsel_flow reversed(const struct flowsel_flow *f)
{
	struct flowsel_flow r = *f;

	memcpy(r.saddr, f->daddr, sizeof(r.saddr));
	memcpy(r.daddr, f->saddr, sizeof(r.daddr));
	r.sport = f->dport;
	r.dport = f->sport;
	return r;
}

static struct sock_filter prog[FLOWSEL_PROG_MAX];

static int build(uint32_t share)
{
	int n = flowsel_prog(share, OTHER, prog, ELEMENTSOF(prog));

	ck_assert_int_gt(n, 0);
	return n;
}

/* The program's answer for p agrees with flowsel_selected() on the flow the hash sees. */
static void agree(int n, uint32_t share, const struct pkt *p, const struct flowsel_flow *seen)
{
	uint32_t got = run(prog, n, p->b, p->len);
	uint32_t want = flowsel_selected(seen, share) ? SEL : OTHER;

	ck_assert_msg(got == want, "program %#x, C %#x (hash %#x)", got, want, flowsel_hash(seen));
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_build)
{
	struct sock_filter small[10];
	int n;

	n = flowsel_prog(500, OTHER, prog, ELEMENTSOF(prog));
	ck_assert_int_gt(n, 40);
	ck_assert_int_le(n, FLOWSEL_PROG_MAX);
	ck_assert_int_le(n, BPF_MAXINSNS);
	/* the last two instructions: selected, then everything else */
	ck_assert_uint_eq(prog[n - 2].code, BPF_RET | BPF_K);
	ck_assert_uint_eq(prog[n - 2].k, SEL);
	ck_assert_uint_eq(prog[n - 1].k, OTHER);
	ck_assert_uint_eq(prog[n - 3].code, BPF_JMP | BPF_JGE | BPF_K);
	ck_assert_uint_eq(prog[n - 3].k, 500);
	ck_assert_int_eq(flowsel_prog(0, OTHER, prog, ELEMENTSOF(prog)), -EINVAL);
	ck_assert_int_eq(flowsel_prog(FLOWSEL_ALL + 1, OTHER, prog, ELEMENTSOF(prog)), -EINVAL);
	ck_assert_int_eq(flowsel_prog(500, OTHER, NULL, 10), -EINVAL);
	ck_assert_int_eq(flowsel_prog(500, OTHER, small, ELEMENTSOF(small)), -ENOBUFS);
	ck_assert_int_gt(flowsel_prog(FLOWSEL_ALL, 0, prog, ELEMENTSOF(prog)), 0);
}
END_TEST

START_TEST(test_program_matches_c)
{
	static const uint8_t l4[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	uint32_t share = 3700;
	int n = build(share);

	for (unsigned i = 0; i < 20000; i++) {
		struct flowsel_flow f = random_flow(AF_INET), g = random_flow(AF_INET6), a;
		struct pkt p;

		/* ports: with and without IP options */
		p = pkt4(&f, l4[i % 3], 5 + i % 3 * 2, 0, 0);
		agree(n, share, &p, &f);
		p = pkt6(&g, l4[i % 3], 0);
		agree(n, share, &p, &g);

		/* ICMP echo: the identifier (in sport); other ICMP: addresses only */
		a = f;
		a.dport = 0;
		p = pkt4(&a, IPPROTO_ICMP, 5, 0, i % 2 ? 8 : 0);
		agree(n, share, &p, &a);
		a = g;
		a.dport = 0;
		p = pkt6(&a, IPPROTO_ICMPV6, i % 2 ? 128 : 129);
		agree(n, share, &p, &a);
		a = f;
		a.sport = a.dport = 0;
		p = pkt4(&f, IPPROTO_ICMP, 5, 0, 3); /* unreachable: its id field is not one */
		agree(n, share, &p, &a);

		/* later fragments, other protocols and IPv6 extension headers: addresses only */
		a = f;
		a.sport = a.dport = 0;
		p = pkt4(&f, IPPROTO_UDP, 5, (uint16_t)(1 + i % 0x1fff), 0);
		agree(n, share, &p, &a);
		p = pkt4(&f, IPPROTO_GRE, 5, 0, 0);
		agree(n, share, &p, &a);
		a = g;
		a.sport = a.dport = 0;
		p = pkt6(&g, IPPROTO_FRAGMENT, 0);
		agree(n, share, &p, &a);
	}
}
END_TEST

START_TEST(test_first_fragment_has_ports)
{
	struct flowsel_flow f = random_flow(AF_INET);
	int n = build(5000);
	/* more fragments set, offset 0: the transport header is there */
	struct pkt p = pkt4(&f, IPPROTO_UDP, 5, 0x2000, 0);

	agree(n, 5000, &p, &f);
}
END_TEST

START_TEST(test_symmetric)
{
	int n = build(5000);

	for (unsigned i = 0; i < 5000; i++) {
		struct flowsel_flow f = random_flow(i % 2 ? AF_INET : AF_INET6);
		struct flowsel_flow r = reversed(&f);
		struct pkt p = f.family == AF_INET ? pkt4(&f, IPPROTO_TCP, 5, 0, 0) :
						     pkt6(&f, IPPROTO_TCP, 0);
		struct pkt q = f.family == AF_INET ? pkt4(&r, IPPROTO_TCP, 5, 0, 0) :
						     pkt6(&r, IPPROTO_TCP, 0);

		ck_assert_uint_eq(flowsel_hash(&f), flowsel_hash(&r));
		ck_assert_uint_eq(run(prog, n, p.b, p.len), run(prog, n, q.b, q.len));
	}
}
END_TEST

/* A share is near its value even for the flows a real client makes: one source address,
 * one server and port, consecutive ephemeral ports. Checked within 5 binomial sigma. */
static void check_share(uint32_t share, unsigned total, bool consecutive)
{
	struct flowsel_flow f = random_flow(AF_INET);
	double p = share / (double)FLOWSEL_ALL, sigma = sqrt(total * p * (1 - p));
	unsigned hit = 0;

	f.dport = 5432;
	for (unsigned i = 0; i < total; i++) {
		if (consecutive)
			f.sport = (uint16_t)(32768 + i);
		else
			f = random_flow(AF_INET);
		hit += flowsel_selected(&f, share);
	}
	ck_assert_msg(fabs(hit - total * p) <= 5 * sigma + 1, "share %u: %u of %u selected", share,
			hit, total);
}

START_TEST(test_share)
{
	static const uint32_t shares[] = { 1, 100, 500, 2000, 5000, 9900 };

	for (size_t i = 0; i < ELEMENTSOF(shares); i++) {
		check_share(shares[i], 28000, true);
		check_share(shares[i], 100000, false);
	}
}
END_TEST

/* Raising the share keeps every flow it had: 1 % -> 5 % -> 20 % only ever adds flows. */
START_TEST(test_nested)
{
	for (unsigned i = 0; i < 20000; i++) {
		struct flowsel_flow f = random_flow(AF_INET);

		if (flowsel_selected(&f, 100))
			ck_assert(flowsel_selected(&f, 500));
		if (flowsel_selected(&f, 500))
			ck_assert(flowsel_selected(&f, 2000));
		ck_assert(flowsel_selected(&f, FLOWSEL_ALL));
	}
}
END_TEST

START_TEST(test_unreadable)
{
	struct flowsel_flow f = random_flow(AF_INET);
	struct pkt p = pkt4(&f, IPPROTO_TCP, 5, 0, 0);
	int n = build(5000);

	/* cut before the ports: the kernel ends the program with 0, "no match" */
	ck_assert_uint_eq(run(prog, n, p.b, 21), 0);
	ck_assert_uint_eq(run(prog, n, p.b, 0), 0);
	/* not IPv4 or IPv6 */
	p.b[0] = 0x55;
	ck_assert_uint_eq(run(prog, n, p.b, p.len), OTHER);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flowsel");
	TCase *tc = tcase_create("flowsel");

	/* Millions of simulated packets: seconds under valgrind or on a loaded CI host, where
	 * Check's default 4 s timeout failed it. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_build);
	tcase_add_test(tc, test_program_matches_c);
	tcase_add_test(tc, test_first_fragment_has_ports);
	tcase_add_test(tc, test_symmetric);
	tcase_add_test(tc, test_share);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_unreadable);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
