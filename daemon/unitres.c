/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "unitres.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_UNIT_IFACE "org.freedesktop.systemd1.Unit"

enum step {
	STEP_GET_UNIT,
	STEP_ACTIVE_STATE,
	STEP_CONTROL_GROUP,
};

struct unitres_query {
	sd_bus *bus;
	sd_bus_slot *slot;
	enum step step;
	char path[512];
	struct unitres_result res;
	unitres_done_fn done;
	void *userdata;
};

struct unitres_query *unitres_free(struct unitres_query *q)
{
	if (!q)
		return NULL;
	sd_bus_slot_unref(q->slot);
	sd_bus_unref(q->bus);
	free(q);
	return NULL;
}

/* The interface holding ControlGroup: that of the unit's type. */
static const char *type_iface(const char *unit)
{
	const char *dot = strrchr(unit, '.');

	if (dot && streq(dot, ".scope"))
		return "org.freedesktop.systemd1.Scope";
	if (dot && streq(dot, ".slice"))
		return "org.freedesktop.systemd1.Slice";
	return "org.freedesktop.systemd1.Service";
}

static int reply_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

static int call(struct unitres_query *q, const char *path, const char *iface, const char *method,
		const char *a, const char *b)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	r = sd_bus_message_new_method_call(q->bus, &m, SD_DEST, path, iface, method);
	if (r < 0)
		return r;
	r = b ? sd_bus_message_append(m, "ss", a, b) : sd_bus_message_append(m, "s", a);
	if (r < 0)
		return r;
	q->slot = sd_bus_slot_unref(q->slot);
	return sd_bus_call_async(q->bus, &q->slot, m, reply_cb, q, UNITRES_TIMEOUT_USEC);
}

static int get_property(struct unitres_query *q, const char *iface, const char *name)
{
	return call(q, q->path, "org.freedesktop.DBus.Properties", "Get", iface, name);
}

static void finish(struct unitres_query *q, int r, struct diag *d)
{
	/* The slot of the answered call is spent: done may free q. */
	q->slot = sd_bus_slot_unref(q->slot);
	q->done(q->userdata, r, r >= 0 ? &q->res : NULL, d);
}

static int read_string(sd_bus_message *m, bool variant, char *buf, size_t n)
{
	const char *s;
	int r;

	r = variant ? sd_bus_message_read(m, "v", "s", &s) : sd_bus_message_read(m, "o", &s);
	if (r < 0)
		return r;
	if (strlen(s) >= n)
		return -E2BIG;
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

static bool state_active(const char *s)
{
	/* reloading: its processes run on, in the same control group */
	return streq(s, "active") || streq(s, "reloading");
}

static int reply_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct unitres_query *q = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	const char *u = q->res.unit;
	struct diag d;
	int r = -EBADMSG;

	(void)ret_error;
	diag_init(&d);
	if (e) {
		r = -sd_bus_message_get_errno(m);
		if (r >= 0)
			r = -EIO;
		if (q->step == STEP_GET_UNIT && sd_bus_error_has_name(e, SD_DEST ".NoSuchUnit"))
			r = diag_add(&d, -ENOENT, "unit '%s' is not loaded (state: not-found or "
					"inactive and unloaded; systemctl status %s)", u, u);
		else if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) || r == -ETIMEDOUT)
			r = diag_add(&d, -ETIMEDOUT, "unit '%s': systemd did not answer within %llu "
					"s", u, UNITRES_TIMEOUT_USEC / 1000000);
		else
			r = diag_add(&d, r, "unit '%s': systemd refused to say (%s: %s)", u,
					e->name ? e->name : "?", e->message ? e->message : "");
		finish(q, r, &d);
		return 0;
	}

	switch (q->step) {
	case STEP_GET_UNIT:
		r = read_string(m, false, q->path, sizeof(q->path));
		if (r >= 0) {
			q->step = STEP_ACTIVE_STATE;
			r = get_property(q, SD_UNIT_IFACE, "ActiveState");
		}
		break;
	case STEP_ACTIVE_STATE:
		r = read_string(m, true, q->res.active_state, sizeof(q->res.active_state));
		if (r < 0)
			break;
		if (!state_active(q->res.active_state)) {
			r = diag_add(&d, -ESRCH, "unit '%s' is not running (state: %s)", u,
					q->res.active_state);
			finish(q, r, &d);
			return 0;
		}
		q->step = STEP_CONTROL_GROUP;
		r = get_property(q, type_iface(u), "ControlGroup");
		break;
	case STEP_CONTROL_GROUP:
		r = read_string(m, true, q->res.control_group, sizeof(q->res.control_group));
		if (r < 0)
			break;
		/* An active unit without a control group (e.g. a slice with nothing in it yet)
		 * has no sockets to match. */
		if (q->res.control_group[0] != '/' || !q->res.control_group[1]) {
			r = diag_add(&d, -ESRCH, "unit '%s' has no control group of its own "
					"(state: %s, ControlGroup '%s')", u, q->res.active_state,
					q->res.control_group);
			finish(q, r, &d);
			return 0;
		}
		finish(q, 0, &d);
		return 0;
	}
	if (r < 0) {
		r = diag_add(&d, r == -E2BIG || r == -ENXIO || r == -EBADMSG ? -EBADMSG : r,
				"unit '%s': unexpected answer from systemd: %s", u, strerror(-r));
		finish(q, r, &d);
	}
	return 0;
}

int unitres_resolve(sd_bus *bus, const char *unit, unitres_done_fn done, void *userdata,
		struct unitres_query **ret)
{
	struct unitres_query *q;
	int r;

	if (!bus || !unit || !done || strlen(unit) > EDGE_UNIT_MAX)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->bus = sd_bus_ref(bus);
	q->done = done;
	q->userdata = userdata;
	memcpy(q->res.unit, unit, strlen(unit) + 1);
	r = call(q, "/org/freedesktop/systemd1", SD_DEST ".Manager", "GetUnit", unit, NULL);
	if (r < 0) {
		unitres_free(q);
		return r;
	}
	*ret = q;
	return 0;
}

int unitres_subscribe(sd_bus *bus, sd_bus_message_handler_t done, void *userdata)
{
	return sd_bus_call_method_async(bus, NULL, SD_DEST, "/org/freedesktop/systemd1",
			SD_DEST ".Manager", "Subscribe", done, userdata, "");
}

int unitres_watch(sd_bus *bus, const char *unit, sd_bus_message_handler_t changed, void *userdata,
		sd_bus_slot **ret)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (!bus || !unit || !unit[0] || !changed || strlen(unit) > EDGE_UNIT_MAX)
		return -EINVAL;
	r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);
	if (r < 0)
		return r;
	return sd_bus_match_signal_async(bus, ret, SD_DEST, path, "org.freedesktop.DBus.Properties",
			"PropertiesChanged", changed, NULL, userdata);
}
