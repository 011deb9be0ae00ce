/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* unit = of a service edge: what systemd says the unit is now, asked over D-Bus without blocking
 * the event loop (GetUnit, then the unit's ActiveState and ControlGroup). A unit that is not
 * loaded or not active is an error naming the unit and its state: a fault on it would match
 * nothing. */

#include <systemd/sd-bus.h>

#include "diag.h"
#include "edge.h"

#define UNITRES_TIMEOUT_USEC (5 * 1000 * 1000ULL)

struct unitres_result {
	char unit[EDGE_UNIT_MAX + 1];
	char active_state[32];
	char control_group[EDGE_CGROUP_MAX + 2]; /* as systemd says it: "/system.slice/a.service" */
};

/* Called once per query, from the event loop: r >= 0 with res, or -errno with d saying why
 * (-ENOENT: no such unit loaded; -ESRCH: not active; -ETIMEDOUT, -ENOTCONN: systemd did not
 * answer; -EBADMSG: an answer of the wrong shape). */
typedef void (*unitres_done_fn)(void *userdata, int r, const struct unitres_result *res,
		const struct diag *d);

struct unitres_query;

/* Start asking bus about unit (a name edge_unit_check accepts). */
int unitres_resolve(sd_bus *bus, const char *unit, unitres_done_fn done, void *userdata,
		struct unitres_query **ret);
/* Free a query; a pending one is cancelled and its done is not called. */
struct unitres_query *unitres_free(struct unitres_query *q);

/* Ask systemd to signal unit changes to this connection (Manager.Subscribe(); it ends with the
 * connection); done gets the reply (sd_bus_message_is_method_error() on a refusal). */
int unitres_subscribe(sd_bus *bus, sd_bus_message_handler_t done, void *userdata);
/* Call changed whenever systemd says a property of unit changed (PropertiesChanged on the
 * unit's object: a restart, a stop, a new control group). The bus delivers only these. Free
 * with sd_bus_slot_unref(). */
int unitres_watch(sd_bus *bus, const char *unit, sd_bus_message_handler_t changed, void *userdata,
		sd_bus_slot **ret);
