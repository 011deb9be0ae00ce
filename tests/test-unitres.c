/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* unitres against a fake systemd on the other end of a socketpair: the same D-Bus calls and
 * errors as org.freedesktop.systemd1, answered by a table of units. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "test-util.h"
#include "unitres.h"

struct fake_unit {
	const char *name;
	const char *path;
	const char *iface; /* of ControlGroup */
	char *state;
	char *cgroup;
};

static struct fake_unit units[] = {
	{ "a.service", "/org/freedesktop/systemd1/unit/a_2eservice",
		"org.freedesktop.systemd1.Service", (char *)"active",
		(char *)"/system.slice/a.service" },
	{ "dead.service", "/org/freedesktop/systemd1/unit/dead_2eservice",
		"org.freedesktop.systemd1.Service", (char *)"failed", (char *)"" },
	{ "run-u7.scope", "/org/freedesktop/systemd1/unit/run_2du7_2escope",
		"org.freedesktop.systemd1.Scope", (char *)"reloading",
		(char *)"/system.slice/run-u7.scope" },
	{ "empty.slice", "/org/freedesktop/systemd1/unit/empty_2eslice",
		"org.freedesktop.systemd1.Slice", (char *)"active", (char *)"" },
};

static bool silent; /* the fake systemd does not answer */

static int get_unit(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *name;
	int r;

	(void)userdata;
	if (silent)
		return 1; /* no reply: the caller's timeout must fire */
	r = sd_bus_message_read(m, "s", &name);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(units[i].name, name) == 0)
			return sd_bus_reply_method_return(m, "o", units[i].path);
	return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit",
			"Unit %s not loaded.", name);
}

static unsigned subscribed; /* Subscribe() calls the fake systemd took */

static int subscribe(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	(void)userdata;
	(void)error;
	subscribed++;
	return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("GetUnit", "s", "o", get_unit, 0),
	SD_BUS_METHOD("Subscribe", "", "", subscribe, 0),
	SD_BUS_VTABLE_END,
};

static const sd_bus_vtable unit_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("ActiveState", "s", NULL, offsetof(struct fake_unit, state), 0),
	SD_BUS_VTABLE_END,
};

static const sd_bus_vtable cg_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("ControlGroup", "s", NULL, offsetof(struct fake_unit, cgroup), 0),
	SD_BUS_VTABLE_END,
};

struct outcome {
	bool called;
	int r;
	struct unitres_result res;
	char text[512];
};

static void done_cb(void *userdata, int r, const struct unitres_result *res, const struct diag *d)
{
	struct outcome *o = userdata;

	ck_assert(!o->called);
	o->called = true;
	o->r = r;
	if (res)
		o->res = *res;
	snprintf(o->text, sizeof(o->text), "%s", diag_text(d));
}

/* The fake systemd (server) and chaosd's end (client) of one connection, both on ev. */
static void fake_systemd(sd_event **ret_ev, sd_bus **ret_server, sd_bus **ret_client)
{
	sd_event *ev = NULL;
	sd_bus *server = NULL, *client = NULL;
	sd_id128_t id;
	int fds[2];

	ck_assert_int_eq(sd_event_new(&ev), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	ck_assert_int_eq(sd_id128_randomize(&id), 0);
	ck_assert_int_eq(sd_bus_new(&server), 0);
	ck_assert_int_ge(sd_bus_set_fd(server, fds[0], fds[0]), 0);
	ck_assert_int_ge(sd_bus_set_server(server, 1, id), 0);
	ck_assert_int_ge(sd_bus_set_anonymous(server, 1), 0);
	ck_assert_int_ge(sd_bus_add_object_vtable(server, NULL, "/org/freedesktop/systemd1",
				   "org.freedesktop.systemd1.Manager", manager_vtable, NULL), 0);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		ck_assert_int_ge(sd_bus_add_object_vtable(server, NULL, units[i].path,
					   "org.freedesktop.systemd1.Unit", unit_vtable, &units[i]), 0);
		ck_assert_int_ge(sd_bus_add_object_vtable(server, NULL, units[i].path,
					   units[i].iface, cg_vtable, &units[i]), 0);
	}
	ck_assert_int_ge(sd_bus_start(server), 0);
	ck_assert_int_ge(sd_bus_attach_event(server, ev, 0), 0);
	ck_assert_int_eq(sd_bus_new(&client), 0);
	ck_assert_int_ge(sd_bus_set_fd(client, fds[1], fds[1]), 0);
	ck_assert_int_ge(sd_bus_set_anonymous(client, 1), 0);
	ck_assert_int_ge(sd_bus_start(client), 0);
	ck_assert_int_ge(sd_bus_attach_event(client, ev, 0), 0);
	*ret_ev = ev;
	*ret_server = server;
	*ret_client = client;
}

/* Resolve unit against the fake systemd; the loop runs until the answer (or 10 s). */
static struct outcome resolve(const char *unit)
{
	sd_event *ev = NULL;
	sd_bus *server = NULL, *client = NULL;
	struct unitres_query *q = NULL;
	struct outcome o = {};

	fake_systemd(&ev, &server, &client);
	ck_assert_int_eq(unitres_resolve(client, unit, done_cb, &o, &q), 0);
	ck_assert(!o.called); /* never answered from inside the call */
	for (int i = 0; i < 1000 && !o.called; i++)
		ck_assert_int_ge(sd_event_run(ev, 10 * 1000), 0);
	ck_assert_msg(o.called, "no answer for %s", unit);
	unitres_free(q);
	sd_bus_flush_close_unref(client);
	sd_bus_flush_close_unref(server);
	sd_event_unref(ev);
	return o;
}

START_TEST(test_active)
{
	struct outcome o = resolve("a.service");

	ck_assert_int_eq(o.r, 0);
	ck_assert_str_eq(o.res.unit, "a.service");
	ck_assert_str_eq(o.res.active_state, "active");
	ck_assert_str_eq(o.res.control_group, "/system.slice/a.service");
	ck_assert_str_eq(o.text, "");

	o = resolve("run-u7.scope"); /* ControlGroup of a scope is on its Scope interface */
	ck_assert_int_eq(o.r, 0);
	ck_assert_str_eq(o.res.active_state, "reloading");
	ck_assert_str_eq(o.res.control_group, "/system.slice/run-u7.scope");
}
END_TEST

START_TEST(test_refused)
{
	struct outcome o = resolve("nope.service");

	ck_assert_int_eq(o.r, -ENOENT);
	ck_assert_str_eq(o.text, "unit 'nope.service' is not loaded (state: not-found or inactive "
				 "and unloaded; systemctl status nope.service)");
	o = resolve("dead.service");
	ck_assert_int_eq(o.r, -ESRCH);
	ck_assert_str_eq(o.text, "unit 'dead.service' is not running (state: failed)");
	o = resolve("empty.slice");
	ck_assert_int_eq(o.r, -ESRCH);
	ck_assert_str_eq(o.text, "unit 'empty.slice' has no control group of its own (state: "
				 "active, ControlGroup '')");
}
END_TEST

/* systemd hangs: the query ends after UNITRES_TIMEOUT_USEC with an error, not never. */
START_TEST(test_timeout)
{
	struct outcome o;

	silent = true;
	o = resolve("a.service");
	silent = false;
	ck_assert_int_eq(o.r, -ETIMEDOUT);
	ck_assert_str_eq(o.text, "unit 'a.service': systemd did not answer within 5 s");
}
END_TEST

START_TEST(test_cancel)
{
	sd_bus *bus = NULL;
	struct unitres_query *q = NULL;
	struct outcome o = {};
	int fds[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	ck_assert_int_eq(sd_bus_new(&bus), 0);
	ck_assert_int_ge(sd_bus_set_fd(bus, fds[1], fds[1]), 0);
	ck_assert_int_ge(sd_bus_start(bus), 0);
	ck_assert_int_eq(unitres_resolve(bus, "a.service", done_cb, &o, &q), 0);
	ck_assert_ptr_null(unitres_free(q)); /* pending: cancelled, done never called */
	ck_assert(!o.called);
	ck_assert_int_eq(unitres_resolve(NULL, "a.service", done_cb, &o, &q), -EINVAL);
	sd_bus_close_unref(bus);
	close(fds[0]);
}
END_TEST

static int count_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	(void)ret_error;
	if (!sd_bus_message_is_method_error(m, NULL))
		(*(unsigned *)userdata)++;
	return 0;
}

/* PropertiesChanged on path, as sender says it came from. */
static void emit_changed(sd_bus *server, const char *path, const char *sender)
{
	sd_bus_message *m = NULL;

	ck_assert_int_ge(sd_bus_message_new_signal(server, &m, path,
				   "org.freedesktop.DBus.Properties", "PropertiesChanged"), 0);
	ck_assert_int_ge(sd_bus_message_append(m, "sa{sv}as", "org.freedesktop.systemd1.Unit", 1,
				   "ActiveState", "s", "active", 0), 0);
	ck_assert_int_ge(sd_bus_message_set_sender(m, sender), 0);
	ck_assert_int_ge(sd_bus_send(server, m, NULL), 0);
	sd_bus_message_unref(m);
}

static void run_for(sd_event *ev, unsigned ms)
{
	for (unsigned i = 0; i < ms / 10; i++)
		ck_assert_int_ge(sd_event_run(ev, 10 * 1000), 0);
}

/* A watched unit's change reaches the callback; another unit's, or one from another sender, not. */
START_TEST(test_watch)
{
	sd_event *ev = NULL;
	sd_bus *server = NULL, *client = NULL;
	sd_bus_slot *slot = NULL, *other = NULL;
	unsigned replies = 0, changes = 0;

	subscribed = 0;
	fake_systemd(&ev, &server, &client);
	ck_assert_int_ge(unitres_subscribe(client, count_cb, &replies), 0);
	for (int i = 0; i < 1000 && !replies; i++)
		ck_assert_int_ge(sd_event_run(ev, 10 * 1000), 0);
	ck_assert_uint_eq(replies, 1);
	ck_assert_uint_eq(subscribed, 1);

	ck_assert_int_ge(unitres_watch(client, "a.service", count_cb, &changes, &slot), 0);
	run_for(ev, 100);
	emit_changed(server, units[1].path, "org.freedesktop.systemd1"); /* dead.service */
	emit_changed(server, units[0].path, "org.example.impostor");
	run_for(ev, 200);
	ck_assert_uint_eq(changes, 0);
	emit_changed(server, units[0].path, "org.freedesktop.systemd1"); /* a.service */
	for (int i = 0; i < 1000 && !changes; i++)
		ck_assert_int_ge(sd_event_run(ev, 10 * 1000), 0);
	ck_assert_uint_eq(changes, 1);
	ck_assert_int_eq(unitres_watch(client, "", count_cb, &changes, &other), -EINVAL);
	sd_bus_slot_unref(slot);
	sd_bus_flush_close_unref(client);
	sd_bus_flush_close_unref(server);
	sd_event_unref(ev);
}
END_TEST

static Suite *unitres_suite(void)
{
	Suite *s = suite_create("unitres");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_active);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_watch);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(unitres_suite());
}
