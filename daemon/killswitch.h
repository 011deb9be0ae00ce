/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The kill switch's state: latches (global, edge "", or per edge; until `arm` or until a
 * time), kept in STATE_DIR/kill-switch so that a crash, restart or upgrade never re-arms it
 * behind the back of whoever pulled it, and the history of activations in
 * STATE_DIR/kill-history. Reverting what a latch forbids is daemon/kill.c's. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "diag.h"
#include "edge.h"
#include "proto.h"

#define KILL_REASON_MAX 255

struct kill_latch {
	char edge[EDGE_NAME_MAX + 1]; /* "": every edge */
	char reason[KILL_REASON_MAX + 1];
	uid_t uid;
	pid_t pid;
	uint64_t realtime_usec;
	uint64_t until_realtime_usec; /* 0: until chaosctl arm */
	sd_event_source *timer;
	struct killswitch *owner;
};

struct killswitch_hooks {
	void *userdata;
	/* A latch re-armed by itself (its time ran out), or the set of latches changed. */
	void (*changed)(void *userdata);
	/* The latches or the history could not be written (err, what). */
	void (*unrecorded)(void *userdata, int err, const char *what);
};

struct killswitch;

int killswitch_new(sd_event *event, const char *state_dir, const struct killswitch_hooks *hooks,
		struct killswitch **ret);
struct killswitch *killswitch_free(struct killswitch *ks);

/* The latches from before a crash or restart. Timed ones whose time ran out re-arm; a file
 * that cannot be read (not a regular file, too large, corrupt, I/O error) engages the global
 * latch: nobody can tell whether someone pulled it, and no fault is the safe side. */
int killswitch_load(struct killswitch *ks);

/* -ECANCELED with the reason if edge (or every edge) is latched. */
int killswitch_check(const struct killswitch *ks, const char *edge, struct diag *d);
/* Engage (or re-engage) the latch of edge ("" or NULL: global). Returns the latch in
 * *ret_latch; the return value is < 0 if it could not be written to disk (it is engaged in
 * memory all the same, and the hooks were told). */
int killswitch_engage(struct killswitch *ks, const char *edge, const char *reason,
		uint64_t for_usec, uid_t uid, pid_t pid, const struct kill_latch **ret_latch);
/* Release the latch of edge, or every latch (edge NULL). Returns how many, or < 0 if the file
 * could not be written. */
int killswitch_release(struct killswitch *ks, const char *edge, unsigned *ret_released);
/* Write the latches again (after the state directory recovered). */
int killswitch_save(struct killswitch *ks);

unsigned killswitch_count(const struct killswitch *ks);
const struct kill_latch *killswitch_at(const struct killswitch *ks, unsigned i);
const struct kill_latch *killswitch_find(const struct killswitch *ks, const char *edge);

/* One line per activation in STATE_DIR/kill-history. */
int killswitch_history_append(struct killswitch *ks, const struct kill_latch *k,
		unsigned reverted, const char *result);
/* The last KILL_HISTORY_SHOW activations as "activation" records. */
int killswitch_put_history(struct killswitch *ks, struct proto_writer *w);
