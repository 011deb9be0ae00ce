/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chaosctl --json: every document names its schema, "schema": "chaosd.NAME/VERSION", whose
 * JSON Schema is doc/schema/chaosd.NAME-VERSION.json (installed in $(datadir)/chaosd/schema).
 * Fields may be added within a version; a field removed, renamed or changed in type or meaning
 * bumps it. A field's type depends on its name only, never on its value. */

#include <stdarg.h>
#include <stdbool.h>

#include "proto.h"

enum json_doc_id {
	JSON_INJECT,
	JSON_STATUS,
	JSON_EDGES,
	JSON_REVERT,
	JSON_KILL,
	JSON_KILL_HISTORY,
	JSON_ARM,
	JSON_RENEW,
	JSON_PING,
	JSON_VALIDATE,
	JSON_PLAN,
	JSON_RUN,
	JSON_WATCH,
	JSON_ABORT,
	JSON_REPORT,
	JSON_METRICS,
	JSON_HOSTS,
	JSON_TOPOLOGY,
	JSON_ERROR,
	_JSON_DOC_MAX,
};

struct json_doc {
	const char *schema;  /* "chaosd.NAME/VERSION" */
	const char *command; /* what prints it, for chaosctl(1) */
	const char *records; /* " kind ... ": record kinds, each an array (maybe empty) */
	const char *numbers; /* " key ... kind.key ... ": fields that are numbers, else strings */
};

extern const struct json_doc json_docs[_JSON_DOC_MAX];

/* s as a JSON string on stdout: valid JSON whatever bytes it holds (utf8_fputs_json). */
void json_string(const char *s);
/* Whether a document was printed: a run prints one at most. */
bool json_printed(void);
/* A daemon's OK reply as the document ID. */
void json_print_reply(const struct proto_msg *m, enum json_doc_id id);
/* A chaosd.error document; errno_s (the daemon's) and details may be NULL. */
void json_print_error(const char *error, const char *errno_s, const char *details);
/* A failure of chaosctl's own: "chaosctl: MESSAGE" on stderr and, with as_json, also a
 * chaosd.error document unless one was printed already. */
void json_vfail(bool as_json, const char *fmt, va_list ap) _printf_(2, 0);

/* S for a terminal: control bytes as \xNN, invalid UTF-8 as U+FFFD; valid for 15 more calls. */
const char *term_safe(const char *s);
