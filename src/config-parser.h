/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The config parser's state, shared by its driver (config.c: sections, lines, checks) and
 * its key table with the value parsers (config-keys.c). Not for other modules. */

#include <stdbool.h>

#include "config.h"
#include "diag.h"
#include "edge.h"

enum {
	CK_DEFAULT_DURATION,
	CK_MAX_DURATION,
	CK_LINK_RATE,
	CK_SOCKET_GROUP,
	CK_READ_GROUP,
	CK_ALLOW_INTERFACES,
	CK_DENY_INTERFACES,
	CK_PROTECT,
	CK_MAX_LATENCY,
	CK_MAX_LOSS,
	CK_MAX_PARTITION_DURATION,
	CK_ALLOW_SSH_PARTITION,
	CK_MAX_SCENARIOS,
	CK_KEEP_REPORTS,
	CK_METRICS_FILE,
	CK_INTERFACE,
	CK_DESTINATION,
	CK_PORT,
	CK_PROTOCOL,
	CK_UNIT,
	CK_CGROUP,
	CK_USER,
	_CK_MAX,
};

enum section_kind {
	SECTION_NONE,   /* before the first section header */
	SECTION_CHAOSD,
	SECTION_EDGE,
	SECTION_IGNORED, /* refused header, already reported: its keys are skipped */
};

struct edge_state {
	struct edge e;
	unsigned key_line[_CK_MAX];
	bool bad; /* had an error: left out of the overlap check to avoid follow-up noise */
	bool dest_failed; /* a destination item was refused (and reported) */
};

struct config_parser {
	const char *name;
	bool resolve;
	const struct config_resolver *resolver;
	unsigned pending; /* names the resolver does not know yet */
	struct diag *d;
	unsigned errors;
	bool oom;

	unsigned lineno;
	int prev_key;      /* CK_* of the last known, first-time key line, else -1 */

	/* current section */
	enum section_kind section;
	char section_text[72];
	int cur_edge;

	/* result */
	struct config *c;
	unsigned chaosd_key_line[_CK_MAX];
	char chaosd_key_text[_CK_MAX][64]; /* values as written, for messages */
	struct edge_state *edges;
	unsigned n_edges, cap_edges;
};

/* A refusal at line, naming key and value (diag_add_at), counted in p->errors. */
void config_parser_error(struct config_parser *p, unsigned line, const char *key, const char *value,
		const char *fmt, ...) _printf_(5, 6);
