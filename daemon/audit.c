/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "audit.h"

static int max_level = LOG_LEVEL_INFO;

void log_set_max_level(int level)
{
	max_level = level;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	char buf[2048];
	int n;

	if (level > max_level)
		return;
	/* "<N>" lets journald take the priority from a service's stderr stream. One write per
	 * line (stderr is unbuffered): lines of concurrent writers stay whole, and a request
	 * that is audited pays one system call, not three. */
	n = snprintf(buf, sizeof(buf), "<%d>", level);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = MIN(n, (int)sizeof(buf) - 2);
	buf[n++] = '\n';
	fwrite(buf, 1, (size_t)n, stderr);
}

/* where libsystemd sends journal entries */
#define JOURNALD_SOCKET "/run/systemd/journal/socket"

#define AUDIT_MESSAGE_ID "8e1c4f2a0b7d4c5e9a3f6d2b1c0e7a55"

void audit_log(const struct audit_event *ev)
{
	/* Whether journald is there, asked once (and again after a send failed), not per
	 * record: sd_journal_send() formats every field before it finds no journald. */
	static int journald = -1, stream = -1;
	_cleanup_free_ char *line = NULL;
	char id[32];
	int n;

	if (ev->ids)
		snprintf(id, sizeof(id), "-");
	else
		snprintf(id, sizeof(id), "%" PRIu64, ev->fault_id);
	if (journald < 0)
		journald = access(JOURNALD_SOCKET, F_OK) == 0;
	/* The structured entry is for `journalctl CHAOSD_ACTION=inject`; the stderr line is for
	 * hosts without journald (CI VMs) and shows the same facts. */
	if (journald &&
			sd_journal_send("MESSAGE=chaosd %s fault %s edge '%s' %s %s by uid %u pid %d: %s",
				ev->action, ev->ids ? ev->ids : id, ev->edge ? ev->edge : "-",
				ev->fault ? ev->fault : "-", ev->params ? ev->params : "",
				(unsigned)ev->uid, (int)ev->pid, ev->result ? ev->result : "ok",
				"MESSAGE_ID=" AUDIT_MESSAGE_ID, "PRIORITY=%d", LOG_NOTICE,
				"CHAOSD_ACTION=%s", ev->action, "CHAOSD_UID=%u", (unsigned)ev->uid,
				"CHAOSD_PID=%d", (int)ev->pid, "CHAOSD_FAULT_ID=%s", id,
				"CHAOSD_FAULT_IDS=%s", ev->ids ? ev->ids : "",
				"CHAOSD_EDGE=%s", ev->edge ? ev->edge : "", "CHAOSD_FAULT=%s",
				ev->fault ? ev->fault : "", "CHAOSD_PARAMS=%s", ev->params ? ev->params : "",
				"CHAOSD_RESULT=%s", ev->result ? ev->result : "ok",
				"CHAOSD_RUN=%s", ev->run ? ev->run : "", NULL) < 0)
		journald = -1;
	if (stream < 0)
		stream = getenv("JOURNAL_STREAM") != NULL;
	if (stream || LOG_LEVEL_NOTICE > max_level)
		return;
	if (!ev->ids) {
		log_msg(LOG_LEVEL_NOTICE, "audit: action=%s id=%s edge='%s' fault=%s params='%s' "
				"uid=%u pid=%d result='%s'%s%s",
				ev->action, id, ev->edge ? ev->edge : "", ev->fault ? ev->fault : "",
				ev->params ? ev->params : "", (unsigned)ev->uid, (int)ev->pid,
				ev->result ? ev->result : "ok", ev->run ? " run=" : "",
				ev->run ? ev->run : "");
		return;
	}
	/* A record for many faults has no length limit: one line, one write. */
	n = asprintf(&line, "<%d>audit: action=%s ids='%s' faults='%s' uid=%u pid=%d result='%s'\n",
			LOG_LEVEL_NOTICE, ev->action, ev->ids, ev->params ? ev->params : "",
			(unsigned)ev->uid, (int)ev->pid, ev->result ? ev->result : "ok");
	if (n > 0)
		fwrite(line, 1, (size_t)n, stderr);
}
