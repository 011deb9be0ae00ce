/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>

#include "macro.h"
#include "nft_expr.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_expr *, nftnl_expr_free)

int nft_expr_add(struct nftnl_rule *rule, struct nftnl_expr *e)
{
	if (!e)
		return -ENOMEM;
	nftnl_rule_add_expr(rule, e);
	return 0;
}

static struct nftnl_expr *reg_expr(const char *name, uint16_t key_attr, uint16_t reg_attr,
		uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (e) {
		nftnl_expr_set_u32(e, key_attr, key);
		nftnl_expr_set_u32(e, reg_attr, NFT_REG_1);
	}
	return e;
}

struct nftnl_expr *nft_expr_meta(uint32_t key, bool store)
{
	return reg_expr("meta", NFTNL_EXPR_META_KEY,
			store ? NFTNL_EXPR_META_SREG : NFTNL_EXPR_META_DREG, key);
}

struct nftnl_expr *nft_expr_ct(uint32_t key, bool store)
{
	return reg_expr("ct", NFTNL_EXPR_CT_KEY, store ? NFTNL_EXPR_CT_SREG : NFTNL_EXPR_CT_DREG,
			key);
}

struct nftnl_expr *nft_expr_cmp(enum nft_cmp_ops op, const void *data, size_t len)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (!e || nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, (uint32_t)len) < 0)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	return TAKE_PTR(e);
}

struct nftnl_expr *nft_expr_payload(uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
	return e;
}

struct nftnl_expr *nft_expr_bitwise(const void *mask, const void *xor, size_t len)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	static const uint8_t zero[16];

	if (!xor && len > sizeof(zero))
		return NULL;
	if (!e || nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, (uint32_t)len) < 0 ||
			nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor ?: zero, (uint32_t)len) < 0)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, (uint32_t)len);
	return TAKE_PTR(e);
}

/* As nft writes it: the hash lands in a register in host order, and cmp compares bytes, so it
 * is turned big-endian first. */
int nft_expr_add_share(struct nftnl_rule *rule, uint32_t modulus, uint32_t below)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *h = nftnl_expr_alloc("hash");
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *o = nftnl_expr_alloc("byteorder");
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *c = NULL;
	uint32_t be = htonl(below);

	c = nft_expr_cmp(NFT_CMP_LT, &be, sizeof(be));
	if (!h || !o || !c)
		return -ENOMEM;
	nftnl_expr_set_u32(h, NFTNL_EXPR_HASH_TYPE, NFT_HASH_SYM);
	nftnl_expr_set_u32(h, NFTNL_EXPR_HASH_DREG, NFT_REG_1);
	nftnl_expr_set_u32(h, NFTNL_EXPR_HASH_MODULUS, modulus);
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_LEN, sizeof(be));
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_SIZE, sizeof(be));
	nftnl_rule_add_expr(rule, TAKE_PTR(h));
	nftnl_rule_add_expr(rule, TAKE_PTR(o));
	nftnl_rule_add_expr(rule, TAKE_PTR(c));
	return 0;
}

struct nftnl_expr *nft_expr_counter(uint64_t packets, uint64_t bytes)
{
	struct nftnl_expr *e = nftnl_expr_alloc("counter");

	if (e && (packets || bytes)) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, packets);
		nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_BYTES, bytes);
	}
	return e;
}

struct nftnl_expr *nft_expr_drop(void)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
	}
	return e;
}

struct nftnl_expr *nft_expr_reject(bool reset)
{
	struct nftnl_expr *e = nftnl_expr_alloc("reject");

	if (!e)
		return NULL;
	/* icmpx: the kernel picks ICMP or ICMPv6 with the packet's family */
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, reset ? NFT_REJECT_TCP_RST :
			NFT_REJECT_ICMPX_UNREACH);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, reset ? 0 : NFT_REJECT_ICMPX_PORT_UNREACH);
	return e;
}
