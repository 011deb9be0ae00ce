/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The control protocol between chaosctl and chaosd over a UNIX stream socket.
 *
 * A frame is a 12-byte header followed by a payload:
 *   u32 magic   "CHDP" (0x43484450), network order
 *   u16 version PROTO_VERSION
 *   u16 type    a verb (request) or PROTO_REPLY_* (reply)
 *   u32 length  payload bytes, at most PROTO_MAX_REQUEST (requests) / PROTO_MAX_REPLY (replies)
 * The payload is a sequence of NUL-terminated "key=value" fields. A field whose key is "@"
 * starts a new record (status lists one record per fault). Keys are [a-z0-9_@-]{1,64};
 * values are UTF-8 without NUL, at most PROTO_MAX_VALUE bytes. The decoder checks all of this
 * exactly and refuses anything else, so a hostile client gets an error reply, never a crash.
 * In a request (not a reply) every value must also be valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF) without control characters (C0, DEL, C1 U+0080-U+009F),
 * so that no stored reason, name or id can later drive a terminal; the one exception is "line"
 * (a line of a scenario file), which may hold tabs and end with a CR. The error names the
 * field: "reason: control character U+001B at byte 5" (bytes count from 0). Replies are not
 * checked: they may carry what an older daemon stored, and chaosctl escapes what it shows
 * (utf8.h).
 *
 * Every verb is described once in proto_verbs[]: chaosctl's parser and help, the daemon's
 * dispatch and permission check, and the man pages are driven by it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define PROTO_MAGIC       0x43484450u
#define PROTO_VERSION     1
#define PROTO_HEADER_SIZE 12
/* Big enough for the largest scenario request (SCENARIO_REQUEST_MAX, checked in scenario.h). */
#define PROTO_MAX_REQUEST (2 * 1024 * 1024)
#define PROTO_MAX_REPLY   (8 * 1024 * 1024)
#define PROTO_MAX_FIELDS  300000
#define PROTO_MAX_KEY     64
#define PROTO_MAX_VALUE   8192
#define PROTO_DEFAULT_SOCKET "/run/chaosd/chaosd.sock"

enum proto_type {
	PROTO_INJECT = 1,
	PROTO_STATUS,
	PROTO_REVERT,
	PROTO_KILL,
	PROTO_ARM,
	PROTO_EDGES,
	PROTO_PING,
	PROTO_RENEW,
	PROTO_RUN,
	PROTO_VALIDATE,
	PROTO_PLAN,
	PROTO_WATCH,
	PROTO_ABORT,
	PROTO_REPORT,
	PROTO_METRICS,
	_PROTO_VERB_MAX,
	PROTO_REPLY_OK = 0x8000,
	PROTO_REPLY_ERROR = 0x8001,
};

enum proto_access {
	PROTO_READ,  /* any local user allowed on the socket */
	PROTO_WRITE, /* root or the configured group */
};

struct proto_verb {
	const char *name;
	enum proto_type type;
	enum proto_access access;
	const char *usage;   /* arguments after the verb, for help and the man page */
	const char *summary;
};

extern const struct proto_verb proto_verbs[];
extern const unsigned proto_n_verbs;
const struct proto_verb *proto_verb_find(const char *name);
const struct proto_verb *proto_verb_by_type(uint16_t type);

struct proto_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t length;
};

/* Check a received header. -EBADMSG (bad magic), -EPROTONOSUPPORT (version), -EMSGSIZE
 * (length above max_payload). */
int proto_header_decode(const void *buf, size_t len, size_t max_payload,
		struct proto_header *ret, struct diag *d);

struct proto_field {
	const char *key;
	const char *value;
};

/* A decoded payload; fields point into its own copy of the data. */
struct proto_msg {
	uint16_t type;
	unsigned n_fields;
	struct proto_field *fields;
	char *data;
};

int proto_msg_decode(uint16_t type, const void *payload, size_t len, struct proto_msg **ret,
		struct diag *d);
struct proto_msg *proto_msg_free(struct proto_msg *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct proto_msg *, proto_msg_free);
/* First value of key at or after field index start up to the next record marker; NULL if absent. */
const char *proto_msg_get(const struct proto_msg *m, unsigned start, const char *key);
/* Index of the next record marker ("@") after position i, or m->n_fields. */
unsigned proto_msg_next_record(const struct proto_msg *m, unsigned i);
/* The values of every field KEY joined with '\n' (none after the last), so never longer than
 * the text proto_put_lines sent: a file at the size limit stays within it. -ENOENT if there
 * is no such field. */
int proto_msg_join_lines(const struct proto_msg *m, const char *key, char **ret_text,
		size_t *ret_len);

/* Encoder. Errors are sticky and reported by proto_writer_finish. */
struct proto_writer {
	char *buf;
	size_t len, cap, max;
	int err;
};

void proto_writer_init(struct proto_writer *w, uint16_t type, size_t max_payload);
void proto_put(struct proto_writer *w, const char *key, const char *value);
void proto_putf(struct proto_writer *w, const char *key, const char *fmt, ...) _printf_(3, 4);
void proto_put_u64(struct proto_writer *w, const char *key, uint64_t v);
void proto_record(struct proto_writer *w, const char *kind);
/* A text (a scenario file) as one field KEY per line, without the '\n's: no value has to hold
 * the whole text. A NUL in it is an error (-EINVAL). */
void proto_put_lines(struct proto_writer *w, const char *key, const char *text, size_t len);
/* The whole frame (header + payload); the buffer stays owned by w. */
int proto_writer_finish(struct proto_writer *w, const void **ret_buf, size_t *ret_len);
void proto_writer_done(struct proto_writer *w);

bool proto_key_valid(const char *key);
