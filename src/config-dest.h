/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "edge.h"

/* An edge's destination = items (prefixes, addresses, host names) into its prefixes. The
 * parser's state it needs, and where a refusal goes: it reports, the caller counts. */
struct config_dest_ctx {
	bool resolve;                           /* host names allowed (else refused) */
	const struct config_resolver *resolver; /* NULL: getaddrinfo() here (it blocks) */
	unsigned *pending;                      /* names the resolver does not know yet */
	void (*error)(void *userdata, const char *value, const char *msg);
	void *userdata;
};

/* One line's worth of "a, b, c"; empty items (a trailing comma before a continuation line)
 * are skipped. Every bad item is reported; -E2BIG (too many prefixes) stops at once. */
int config_dest_parse(const struct config_dest_ctx *ctx, struct edge *e, const char *value);
