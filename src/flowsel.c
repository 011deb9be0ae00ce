/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

#include "flowsel.h"
#include "macro.h"

#define NET(off) ((uint32_t)(SKF_NET_OFF + (off)))

#define FMIX_1 0x85ebca6bU
#define FMIX_2 0xc2b2ae35U

/* Jump targets of the program; NEXT is the following instruction. */
enum {
	NEXT = -1,
	L_V4,
	L_V6,
	L_PORTS4,
	L_ECHO4,
	L_PORTS6,
	L_ECHO6,
	L_L4WORD,
	L_ID,
	L_MIX,
	L_MIXED,
	L_OTHER,
	_L_MAX,
};

/* A tiny assembler: instructions with symbolic jump targets, resolved at the end. */
struct flowsel_asm {
	struct sock_filter *prog;
	size_t cap, n;
	int at[_L_MAX];
	int8_t jt[FLOWSEL_PROG_MAX], jf[FLOWSEL_PROG_MAX];
	int err;
};

static void put(struct flowsel_asm *a, uint16_t code, uint32_t k, int jt, int jf)
{
	if (a->n >= a->cap || a->n >= FLOWSEL_PROG_MAX) {
		a->err = -ENOBUFS;
		return;
	}
	a->prog[a->n] = (struct sock_filter){ .code = code, .k = k };
	a->jt[a->n] = (int8_t)jt;
	a->jf[a->n] = (int8_t)jf;
	a->n++;
}

static void op(struct flowsel_asm *a, uint16_t code, uint32_t k)
{
	put(a, code, k, NEXT, NEXT);
}

static void label(struct flowsel_asm *a, int l)
{
	a->at[l] = (int)a->n;
}

/* Conditional jumps count from the next instruction and reach 255 ahead at most; BPF_JA
 * takes its distance in k. */
static int resolve(struct flowsel_asm *a)
{
	for (size_t i = 0; i < a->n; i++) {
		struct sock_filter *f = &a->prog[i];
		int jt = a->jt[i] == NEXT ? (int)i + 1 : a->at[a->jt[i]];
		int jf = a->jf[i] == NEXT ? (int)i + 1 : a->at[a->jf[i]];

		if (jt <= (int)i || jf <= (int)i || jt - (int)i - 1 > 255 || jf - (int)i - 1 > 255)
			return -EINVAL;
		if (f->code == (BPF_JMP | BPF_JA))
			f->k = (uint32_t)(jt - (int)i - 1);
		else if (BPF_CLASS(f->code) == BPF_JMP) {
			f->jt = (uint8_t)(jt - (int)i - 1);
			f->jf = (uint8_t)(jf - (int)i - 1);
		}
	}
	return 0;
}

static void jeq(struct flowsel_asm *a, uint32_t k, int jt, int jf)
{
	put(a, BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
}

static void ja(struct flowsel_asm *a, int l)
{
	put(a, BPF_JMP | BPF_JA, 0, l, l);
}

/* A ^= A >> shift, through X. */
static void xorshift(struct flowsel_asm *a, uint32_t shift)
{
	op(a, BPF_MISC | BPF_TAX, 0);
	op(a, BPF_ALU | BPF_RSH | BPF_K, shift);
	op(a, BPF_ALU | BPF_XOR | BPF_X, 0);
}

int flowsel_prog(uint32_t share, uint32_t other, struct sock_filter *prog, size_t n)
{
	struct flowsel_asm a = { .prog = prog, .cap = n };
	int r;

	if (!prog || share == 0 || share > FLOWSEL_ALL)
		return -EINVAL;
	for (unsigned i = 0; i < _L_MAX; i++)
		a.at[i] = -1;

	/* IP version from the first nibble: the program does not depend on skb->protocol. */
	op(&a, BPF_LD | BPF_B | BPF_ABS, NET(0));
	op(&a, BPF_ALU | BPF_RSH | BPF_K, 4);
	jeq(&a, 4, L_V4, NEXT);
	jeq(&a, 6, L_V6, L_OTHER);

	/* IPv4: M[0] = saddr ^ daddr */
	label(&a, L_V4);
	op(&a, BPF_LD | BPF_W | BPF_ABS, NET(12));
	op(&a, BPF_MISC | BPF_TAX, 0);
	op(&a, BPF_LD | BPF_W | BPF_ABS, NET(16));
	op(&a, BPF_ALU | BPF_XOR | BPF_X, 0);
	op(&a, BPF_ST, 0);
	/* a later fragment has no transport header: addresses only */
	op(&a, BPF_LD | BPF_H | BPF_ABS, NET(6));
	put(&a, BPF_JMP | BPF_JSET | BPF_K, 0x1fff, L_MIX, NEXT);
	op(&a, BPF_LD | BPF_B | BPF_ABS, NET(9));
	jeq(&a, IPPROTO_TCP, L_PORTS4, NEXT);
	jeq(&a, IPPROTO_UDP, L_PORTS4, NEXT);
	jeq(&a, IPPROTO_SCTP, L_PORTS4, NEXT);
	jeq(&a, IPPROTO_ICMP, NEXT, L_MIX);
	/* X = header length, A = ICMP type */
	op(&a, BPF_LDX | BPF_B | BPF_MSH, NET(0));
	op(&a, BPF_LD | BPF_B | BPF_IND, NET(0));
	jeq(&a, 8, L_ECHO4, NEXT); /* echo request */
	jeq(&a, 0, L_ECHO4, L_MIX); /* echo reply */
	label(&a, L_ECHO4);
	op(&a, BPF_LD | BPF_H | BPF_IND, NET(4));
	ja(&a, L_ID);
	label(&a, L_PORTS4);
	op(&a, BPF_LDX | BPF_B | BPF_MSH, NET(0));
	op(&a, BPF_LD | BPF_W | BPF_IND, NET(0));
	ja(&a, L_L4WORD);

	/* IPv6: M[0] = the xor of the eight address words */
	label(&a, L_V6);
	op(&a, BPF_LD | BPF_W | BPF_ABS, NET(8));
	for (uint32_t off = 12; off < 40; off += 4) {
		op(&a, BPF_MISC | BPF_TAX, 0);
		op(&a, BPF_LD | BPF_W | BPF_ABS, NET(off));
		op(&a, BPF_ALU | BPF_XOR | BPF_X, 0);
	}
	op(&a, BPF_ST, 0);
	op(&a, BPF_LD | BPF_B | BPF_ABS, NET(6)); /* next header */
	jeq(&a, IPPROTO_TCP, L_PORTS6, NEXT);
	jeq(&a, IPPROTO_UDP, L_PORTS6, NEXT);
	jeq(&a, IPPROTO_SCTP, L_PORTS6, NEXT);
	jeq(&a, IPPROTO_ICMPV6, NEXT, L_MIX);
	op(&a, BPF_LD | BPF_B | BPF_ABS, NET(40));
	jeq(&a, 128, L_ECHO6, NEXT); /* echo request */
	jeq(&a, 129, L_ECHO6, L_MIX); /* echo reply */
	label(&a, L_ECHO6);
	op(&a, BPF_LD | BPF_H | BPF_ABS, NET(44));
	ja(&a, L_ID);
	label(&a, L_PORTS6);
	op(&a, BPF_LD | BPF_W | BPF_ABS, NET(40));

	/* A = sport << 16 | dport: A = (A ^ A >> 16) & 0xffff = sport ^ dport */
	label(&a, L_L4WORD);
	op(&a, BPF_ST, 1);
	op(&a, BPF_ALU | BPF_RSH | BPF_K, 16);
	op(&a, BPF_MISC | BPF_TAX, 0);
	op(&a, BPF_LD | BPF_MEM, 1);
	op(&a, BPF_ALU | BPF_XOR | BPF_X, 0);
	op(&a, BPF_ALU | BPF_AND | BPF_K, 0xffff);
	/* A = M[0] ^ A */
	label(&a, L_ID);
	op(&a, BPF_MISC | BPF_TAX, 0);
	op(&a, BPF_LD | BPF_MEM, 0);
	op(&a, BPF_ALU | BPF_XOR | BPF_X, 0);
	ja(&a, L_MIXED);

	label(&a, L_MIX);
	op(&a, BPF_LD | BPF_MEM, 0);
	label(&a, L_MIXED);
	xorshift(&a, 16);
	op(&a, BPF_ALU | BPF_MUL | BPF_K, FMIX_1);
	xorshift(&a, 13);
	op(&a, BPF_ALU | BPF_MUL | BPF_K, FMIX_2);
	xorshift(&a, 16);
	op(&a, BPF_ALU | BPF_MOD | BPF_K, FLOWSEL_ALL);
	put(&a, BPF_JMP | BPF_JGE | BPF_K, share, L_OTHER, NEXT);
	op(&a, BPF_RET | BPF_K, UINT32_MAX);
	label(&a, L_OTHER);
	op(&a, BPF_RET | BPF_K, other);

	if (a.err < 0)
		return a.err;
	r = resolve(&a);
	if (r < 0)
		return r;
	return (int)a.n;
}

static uint32_t word(const uint8_t *p, unsigned i)
{
	return (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
	       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
}

uint32_t flowsel_hash(const struct flowsel_flow *f)
{
	unsigned words = f->family == AF_INET6 ? 4 : 1;
	uint32_t h = 0;

	for (unsigned i = 0; i < words; i++)
		h ^= word(f->saddr, i) ^ word(f->daddr, i);
	h ^= (uint32_t)(f->sport ^ f->dport);
	h ^= h >> 16;
	h *= FMIX_1;
	h ^= h >> 13;
	h *= FMIX_2;
	h ^= h >> 16;
	return h;
}

bool flowsel_selected(const struct flowsel_flow *f, uint32_t share)
{
	return flowsel_hash(f) % FLOWSEL_ALL < share;
}
