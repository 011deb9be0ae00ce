/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "parse.h"
#include "proto.h"
#include "utf8.h"

const struct proto_verb proto_verbs[] = {
	{ "inject", PROTO_INJECT, PROTO_WRITE,
	  "KIND --edge NAME [OPTIONS] | partition --topology SPEC [OPTIONS] [--seed N] [--detach]",
	  "apply a fault to an edge (or change an active fault of that kind in place); with -H "
	  "and --topology, partitions over the hosts as one operation (TOPOLOGIES)" },
	{ "status", PROTO_STATUS, PROTO_READ, "[--topology]",
	  "list active faults with time left and the kernel's counters; with -H and "
	  "--topology, each host's partitions from the others and the topology they make" },
	{ "revert", PROTO_REVERT, PROTO_WRITE, "ID | --edge NAME | --all",
	  "remove faults and restore the kernel state they replaced; a delay ends at once for "
	  "new packets, what it holds still leaves in order (see chaosd(8), SAFETY)" },
	{ "kill", PROTO_KILL, PROTO_WRITE, "[--edge NAME] [--reason TEXT] [--for D] | --history",
	  "revert everything (or one edge) now, dropping what a delay holds, and refuse new "
	  "faults until 'arm' or for D, across restarts of chaosd" },
	{ "arm", PROTO_ARM, PROTO_WRITE, "[--edge NAME]", "accept faults again after 'kill'" },
	{ "edges", PROTO_EDGES, PROTO_READ, "", "list configured edges and where they resolve" },
	{ "ping", PROTO_PING, PROTO_READ, "", "check that the daemon answers" },
	{ "renew", PROTO_RENEW, PROTO_WRITE, "ID... | --run RUN",
	  "renew the lease of faults injected with --lease, or of a run (chaosctl does this "
	  "itself)" },
	{ "run", PROTO_RUN, PROTO_WRITE, "FILE [--detach] [--seed N] [--host-name NAME]",
	  "run a GameDay scenario in the daemon; shows progress and exits 0 if the hypothesis "
	  "held, 1 if violated, 2 if aborted; --seed N: the random choices of plan --seed N; "
	  "--host-name: this host's name in the scenario's [scenario] hosts (chaosctl -H "
	  "NAME=URL,... gives each host its NAME and one seed)" },
	{ "validate", PROTO_VALIDATE, PROTO_READ, "FILE [--host-name NAME]",
	  "check a scenario against the daemon's edges and limits; applies nothing" },
	{ "plan", PROTO_PLAN, PROTO_READ,
	  "FILE [--seed N] [--host-name NAME] | --topology SPEC [--seed N]",
	  "print the resolved timeline and the seed of its random choices (--seed N: those of "
	  "seed N); with -H and --topology, each host's partitions; applies nothing" },
	{ "watch", PROTO_WATCH, PROTO_READ, "[RUN]",
	  "follow a run (the latest by default) until it ends" },
	{ "abort", PROTO_ABORT, PROTO_WRITE, "[RUN]",
	  "abort a run (every running one by default) and revert what it applied" },
	{ "report", PROTO_REPORT, PROTO_READ, "[RUN] [--json | --html]",
	  "print a run's report (the latest by default)" },
	{ "metrics", PROTO_METRICS, PROTO_READ, "",
	  "print faults, kill switches, runs and probe latencies as OpenMetrics text (what "
	  "metrics_file holds for node_exporter)" },
};
const unsigned proto_n_verbs = ELEMENTSOF(proto_verbs);

const struct proto_verb *proto_verb_find(const char *name)
{
	for (unsigned i = 0; i < proto_n_verbs; i++)
		if (streq(proto_verbs[i].name, name))
			return &proto_verbs[i];
	return NULL;
}

const struct proto_verb *proto_verb_by_type(uint16_t type)
{
	for (unsigned i = 0; i < proto_n_verbs; i++)
		if (proto_verbs[i].type == type)
			return &proto_verbs[i];
	return NULL;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int proto_header_decode(const void *buf, size_t len, size_t max_payload, struct proto_header *ret,
		struct diag *d)
{
	const uint8_t *p = buf;
	struct proto_header h;

	if (len < PROTO_HEADER_SIZE)
		return diag_add(d, -EBADMSG, "short header (%zu bytes, need %d)", len,
				PROTO_HEADER_SIZE);
	h.magic = get_be32(p);
	h.version = get_be16(p + 4);
	h.type = get_be16(p + 6);
	h.length = get_be32(p + 8);
	if (h.magic != PROTO_MAGIC)
		return diag_add(d, -EBADMSG, "not a chaosd message (bad magic 0x%08x)", h.magic);
	if (h.version != PROTO_VERSION)
		return diag_add(d, -EPROTONOSUPPORT,
				"protocol version %u not supported (this side speaks %d)", h.version,
				PROTO_VERSION);
	if (h.length > max_payload)
		return diag_add(d, -EMSGSIZE, "message of %" PRIu32 " bytes exceeds the limit of %zu",
				h.length, max_payload);
	*ret = h;
	return 0;
}

bool proto_key_valid(const char *key)
{
	size_t n = 0;

	for (const char *c = key; *c; c++, n++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
				    *c == '-' || *c == '@'))
			return false;
	return n >= 1 && n <= PROTO_MAX_KEY;
}

/* The control characters a request field may hold: a scenario file goes line by line, and its
 * lines may have tabs and, from a CRLF file, a final CR. Nothing else may: a reason or a name
 * is shown later in terminals, logs and JSON. */
static unsigned request_allow(const char *key)
{
	return streq(key, "line") ? UTF8_ALLOW_TAB | UTF8_ALLOW_FINAL_CR : 0;
}

struct proto_msg *proto_msg_free(struct proto_msg *m)
{
	if (!m)
		return NULL;
	free(m->fields);
	free(m->data);
	free(m);
	return NULL;
}

int proto_msg_decode(uint16_t type, const void *payload, size_t len, struct proto_msg **ret,
		struct diag *d)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	unsigned n = 0, i = 0;
	size_t pos;

	if (len > 0 && ((const char *)payload)[len - 1] != '\0')
		return diag_add(d, -EBADMSG, "payload does not end with a NUL byte");
	for (pos = 0; pos < len; pos++)
		n += ((const char *)payload)[pos] == '\0';
	if (n > PROTO_MAX_FIELDS)
		return diag_add(d, -E2BIG, "too many fields (%u, at most %d)", n, PROTO_MAX_FIELDS);

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->type = type;
	m->data = malloc(len + 1);
	m->fields = calloc(n ? n : 1, sizeof(*m->fields));
	if (!m->data || !m->fields)
		return -ENOMEM;
	memcpy(m->data, payload, len);
	m->data[len] = '\0';

	for (pos = 0; pos < len; i++) {
		char *field = m->data + pos, *eq;
		size_t flen = strlen(field);

		pos += flen + 1;
		eq = strchr(field, '=');
		if (!eq)
			return diag_add(d, -EBADMSG, "field %u has no '='", i);
		*eq = '\0';
		if (!proto_key_valid(field))
			return diag_add(d, -EBADMSG, "field %u: invalid key", i);
		if (strlen(eq + 1) > PROTO_MAX_VALUE)
			return diag_add(d, -EBADMSG, "field '%s': value longer than %d bytes", field,
					PROTO_MAX_VALUE);
		/* Replies are the daemon's; chaosctl shows their strings escaped instead. */
		if (type < PROTO_REPLY_OK) {
			char why[80];

			if (utf8_text_check(eq + 1, request_allow(field), why, sizeof(why)) < 0)
				return diag_add(d, -EBADMSG, "%s: %s", field, why);
		}
		m->fields[i].key = field;
		m->fields[i].value = eq + 1;
	}
	m->n_fields = i;
	*ret = TAKE_PTR(m);
	return 0;
}

const char *proto_msg_get(const struct proto_msg *m, unsigned start, const char *key)
{
	for (unsigned i = start; i < m->n_fields; i++) {
		if (i > start && streq(m->fields[i].key, "@"))
			break;
		if (streq(m->fields[i].key, key))
			return m->fields[i].value;
	}
	return NULL;
}

unsigned proto_msg_next_record(const struct proto_msg *m, unsigned i)
{
	for (i++; i < m->n_fields; i++)
		if (streq(m->fields[i].key, "@"))
			return i;
	return m->n_fields;
}

int proto_msg_join_lines(const struct proto_msg *m, const char *key, char **ret_text,
		size_t *ret_len)
{
	size_t len = 0, off = 0;
	bool found = false, first = true;
	char *text;

	for (unsigned i = 0; i < m->n_fields; i++)
		if (streq(m->fields[i].key, key)) {
			len += strlen(m->fields[i].value) + found;
			found = true;
		}
	if (!found)
		return -ENOENT;
	text = malloc(len + 1);
	if (!text)
		return -ENOMEM;
	for (unsigned i = 0; i < m->n_fields; i++) {
		size_t n;

		if (!streq(m->fields[i].key, key))
			continue;
		if (!first)
			text[off++] = '\n';
		first = false;
		n = strlen(m->fields[i].value);
		memcpy(text + off, m->fields[i].value, n);
		off += n;
	}
	text[off] = '\0';
	*ret_text = text;
	*ret_len = off;
	return 0;
}

void proto_writer_init(struct proto_writer *w, uint16_t type, size_t max_payload)
{
	memset(w, 0, sizeof(*w));
	w->max = max_payload;
	w->cap = 4096;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		w->err = -ENOMEM;
		return;
	}
	memset(w->buf, 0, PROTO_HEADER_SIZE);
	w->buf[6] = (char)(type >> 8);
	w->buf[7] = (char)(type & 0xff);
	w->len = PROTO_HEADER_SIZE;
}

static void writer_append(struct proto_writer *w, const char *s, size_t n)
{
	if (w->err < 0)
		return;
	if (w->len - PROTO_HEADER_SIZE + n > w->max) {
		w->err = -EMSGSIZE;
		return;
	}
	if (w->len + n > w->cap) {
		size_t cap = MAX(w->cap * 2, w->len + n);
		char *b = realloc(w->buf, cap);
		if (!b) {
			w->err = -ENOMEM;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

void proto_put(struct proto_writer *w, const char *key, const char *value)
{
	if (w->err < 0)
		return;
	if (!proto_key_valid(key) || strlen(value) > PROTO_MAX_VALUE) {
		w->err = -EINVAL;
		return;
	}
	writer_append(w, key, strlen(key));
	writer_append(w, "=", 1);
	writer_append(w, value, strlen(value) + 1);
}

void proto_putf(struct proto_writer *w, const char *key, const char *fmt, ...)
{
	char buf[PROTO_MAX_VALUE + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	proto_put(w, key, buf);
}

/* Without vsnprintf: replies carry several numbers, and emulated, its machinery is most of
 * what building one costs. */
void proto_put_u64(struct proto_writer *w, const char *key, uint64_t v)
{
	char buf[21];

	buf[sizeof(buf) - 1] = '\0';
	proto_put(w, key, parse_digits_before(buf + sizeof(buf) - 1, v, 10));
}

void proto_record(struct proto_writer *w, const char *kind)
{
	proto_put(w, "@", kind);
}

void proto_put_lines(struct proto_writer *w, const char *key, const char *text, size_t len)
{
	if (w->err < 0)
		return;
	if (memchr(text, '\0', len)) {
		w->err = -EINVAL;
		return;
	}
	for (size_t off = 0; off < len && w->err >= 0;) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;

		if (!proto_key_valid(key) || n > PROTO_MAX_VALUE) {
			w->err = -EINVAL;
			return;
		}
		writer_append(w, key, strlen(key));
		writer_append(w, "=", 1);
		writer_append(w, text + off, n);
		writer_append(w, "", 1);
		off += n + 1;
	}
}

int proto_writer_finish(struct proto_writer *w, const void **ret_buf, size_t *ret_len)
{
	uint32_t magic = htonl(PROTO_MAGIC), len;
	uint16_t version = htons(PROTO_VERSION);

	if (w->err < 0)
		return w->err;
	len = htonl((uint32_t)(w->len - PROTO_HEADER_SIZE));
	memcpy(w->buf, &magic, 4);
	memcpy(w->buf + 4, &version, 2);
	memcpy(w->buf + 8, &len, 4);
	*ret_buf = w->buf;
	*ret_len = w->len;
	return 0;
}

void proto_writer_done(struct proto_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}
