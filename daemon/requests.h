/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One handler per protocol verb (src/proto.c's verb table says who may call it), each turning
 * a decoded request into calls on the fault core, the kill switch and the runner, and writing
 * the reply. Refused or failed state-changing requests are audited: who tried what matters. */

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct server;
struct control_peer;

/* Always leaves a reply in w (an error reply if the request failed). */
void requests_dispatch(struct server *s, const struct control_peer *peer, uint16_t type,
		const uint8_t *payload, size_t len, struct proto_writer *w);
