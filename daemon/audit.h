/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* Logging for the daemon: to stderr with sd-daemon priority prefixes (journald reads them
 * from the service's stream), plus audit events as structured journal entries. */

enum { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_NOTICE = 5, LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7 };

void log_set_max_level(int level);
void log_msg(int level, const char *fmt, ...) _printf_(2, 3);
#define log_error(...)   log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

struct audit_event {
	const char *action; /* inject, update, revert, expire, kill, arm, reload */
	uid_t uid;
	pid_t pid;
	uint64_t fault_id;  /* 0: none */
	const char *edge;
	const char *fault;
	const char *params;
	const char *result; /* "ok" or the error text */
	const char *run;    /* the scenario run that did it, or NULL */
	/* A record for many faults (fault_id 0): their ids, "1 2 3", and per fault
	 * "ID EDGE KIND PARAMS" joined by "; " in params. NULL: one fault. */
	const char *ids;
};

void audit_log(const struct audit_event *ev);
