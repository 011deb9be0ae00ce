/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Conntrack marks (ctnetlink): a service edge's connections carry chaosd's bits of the ct mark
 * (nl_nft_mark.h) so their replies can be told apart; a revert clears those bits again and
 * leaves the host's own. */

#include <stdint.h>

#include "diag.h"
#include "nl_socket.h"

/* Clear the bits of mask in the mark of every connection that has any of them set (other bits
 * kept); s: a NETLINK_NETFILTER socket. A connection gone meanwhile is not an error. The
 * number of connections found with any of them in ret_cleared (may be NULL). */
int nl_ct_mark_clear(struct nl_socket *s, uint32_t mask, unsigned *ret_cleared, struct diag *d);
/* The same for the connections whose bits of mask are exactly value (one service edge's mark;
 * value 0: any of them set, as nl_ct_mark_clear). */
int nl_ct_mark_clear_value(struct nl_socket *s, uint32_t mask, uint32_t value,
		unsigned *ret_cleared, struct diag *d);
