/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* nf_tables expressions as chaosd's rules use them, all through register 1 (libnftnl objects;
 * NULL when out of memory, which nft_expr_add() turns into -ENOMEM). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* libnftnl/expr.h needs FILE */

#include <linux/netfilter/nf_tables.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

/* Appends e to rule (which then owns it); -ENOMEM for a NULL e. */
int nft_expr_add(struct nftnl_rule *rule, struct nftnl_expr *e);
/* meta KEY or ct KEY into register 1 (store: from register 1) */
struct nftnl_expr *nft_expr_meta(uint32_t key, bool store);
struct nftnl_expr *nft_expr_ct(uint32_t key, bool store);
/* register 1 OP data */
struct nftnl_expr *nft_expr_cmp(enum nft_cmp_ops op, const void *data, size_t len);
static inline struct nftnl_expr *nft_expr_cmp_eq(const void *data, size_t len)
{
	return nft_expr_cmp(NFT_CMP_EQ, data, len);
}
struct nftnl_expr *nft_expr_payload(uint32_t base, uint32_t offset, uint32_t len);
/* register 1 = (register 1 & mask) ^ xor, len bytes; xor NULL: zero */
struct nftnl_expr *nft_expr_bitwise(const void *mask, const void *xor, size_t len);
/* symhash(flow) mod modulus < below: a fixed share of the flows, the same one each way */
int nft_expr_add_share(struct nftnl_rule *rule, uint32_t modulus, uint32_t below);
/* a counter starting at packets/bytes (a rule rewritten keeps its count) */
struct nftnl_expr *nft_expr_counter(uint64_t packets, uint64_t bytes);
struct nftnl_expr *nft_expr_drop(void);
/* TCP reset (reset) or ICMP/ICMPv6 port unreachable, by the packet's family */
struct nftnl_expr *nft_expr_reject(bool reset);
