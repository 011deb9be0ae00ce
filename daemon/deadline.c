/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "deadline.h"
#include "timeutil.h"

struct deadline {
	sd_event_source *timer; /* created on the first deadline */
	sd_event *event;
	uint64_t at;            /* DEADLINE_NEVER: off */
	deadline_fn fn;
	void *userdata;
};

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct deadline *t = userdata;

	(void)es;
	(void)usec;
	t->at = DEADLINE_NEVER; /* a oneshot source is off once it fired */
	t->fn(t->userdata, now_usec(CLOCK_MONOTONIC));
	return 0;
}

int deadline_new(sd_event *event, deadline_fn fn, void *userdata, struct deadline **ret)
{
	struct deadline *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->event = sd_event_ref(event);
	t->at = DEADLINE_NEVER;
	t->fn = fn;
	t->userdata = userdata;
	*ret = t;
	return 0;
}

struct deadline *deadline_free(struct deadline *t)
{
	if (!t)
		return NULL;
	sd_event_source_disable_unref(t->timer);
	sd_event_unref(t->event);
	free(t);
	return NULL;
}

int deadline_set(struct deadline *t, uint64_t usec)
{
	int r;

	if (usec == DEADLINE_NEVER) {
		t->at = DEADLINE_NEVER;
		return t->timer ? sd_event_source_set_enabled(t->timer, SD_EVENT_OFF) : 0;
	}
	if (!t->timer) {
		/* 10 ms of slack: sd-event may fold the wakeup into another one */
		r = sd_event_add_time(t->event, &t->timer, CLOCK_MONOTONIC, usec,
				10 * USEC_PER_MSEC, on_timer, t);
	} else {
		r = sd_event_source_set_time(t->timer, usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
	}
	if (r < 0)
		return r;
	t->at = usec;
	return 0;
}

int deadline_want(struct deadline *t, uint64_t usec)
{
	return usec < t->at ? deadline_set(t, usec) : 0;
}
