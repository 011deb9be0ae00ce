/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "audit.h"
#include "daemon.h"
#include "degraded.h"
#include "status.h"
#include "timeutil.h"

/* Beside the socket, on the runtime file system (not the state directory, which is the one
 * failing): a change that could not be recorded. The next start reads it before the journal,
 * so a fault reported reverted never comes back and a kill switch reported engaged stays. */
char *degraded_marker_path(const struct server *s)
{
	_cleanup_free_ char *dir = strdup(s->opt.socket_path);
	char *slash, *p = NULL;

	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (asprintf(&p, "%s/unrecorded", slash && slash != dir ? dir : ".") < 0)
		return NULL;
	return p;
}

static void marker_write(struct server *s)
{
	_cleanup_free_ char *path = degraded_marker_path(s);
	_cleanup_close_ int fd = -EBADF;
	char text[32];
	int len;

	if (!path)
		return;
	/* Any latch not recorded comes back as the global one: the stricter side. */
	len = snprintf(text, sizeof(text), "%s\n", killswitch_count(s->killswitch) ? "kill" :
			"revert");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) < 0)
		log_error("cannot write '%s' either: a restart may not know what was not recorded",
				path);
}

void degraded_enter(struct server *s, int err, const char *what)
{
	char *text = NULL;

	if (asprintf(&text, "%s: %s", what, strerror(-err)) < 0)
		return;
	if (!s->degraded)
		log_error("chaosd is now degraded: %s; new faults are refused until its state can "
				"be written again", text);
	free(s->degraded);
	s->degraded = text;
	marker_write(s);
	if (s->recover) {
		(void)sd_event_source_set_time_relative(s->recover, DEGRADED_RECOVER_USEC);
		(void)sd_event_source_set_enabled(s->recover, SD_EVENT_ONESHOT);
	}
	if (s->faults && s->killswitch)
		status_notify(s);
}

void degraded_check(struct server *s)
{
	if (!s->degraded && journal_degraded(s->journal))
		degraded_enter(s, -EIO, journal_error(s->journal)[0] ? journal_error(s->journal) :
				"the state journal's space reserve is missing");
}

/* Write everything again; on success chaosd is whole again. */
int degraded_on_recover(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;
	_cleanup_free_ char *marker = NULL;
	int r;

	struct diag d;

	diag_init(&d);
	r = journal_repair(s->journal, &d);
	if (r >= 0)
		r = killswitch_save(s->killswitch);
	if (r < 0) {
		(void)sd_event_source_set_time_relative(es, DEGRADED_RECOVER_USEC);
		(void)sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
		return 0;
	}
	marker = degraded_marker_path(s);
	if (marker)
		(void)unlink(marker);
	log_notice("state directory '%s' can be written again: chaosd is no longer degraded",
			s->opt.state_dir);
	s->degraded = mfree(s->degraded);
	status_notify(s);
	return 0;
}

/* What the last run could not record (the marker): 0 none, 1 a revert, 2 a kill. */
int degraded_marker_read(struct server *s)
{
	_cleanup_free_ char *path = degraded_marker_path(s);
	_cleanup_close_ int fd = -EBADF;
	char buf[16] = "";
	ssize_t n;

	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : 2;
	n = read(fd, buf, sizeof(buf) - 1);
	return n > 0 && strncmp(buf, "revert", 6) == 0 ? 1 : 2;
}
