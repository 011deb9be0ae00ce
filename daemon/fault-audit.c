/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fault-audit.h"
#include "macro.h"
#include "parse.h"

/* Appends s; the caller sized the buffer. */
static char *put_str(char *p, const char *s)
{
	size_t len = strlen(s);

	memcpy(p, s, len);
	return p + len;
}

static char *put_id(char *p, uint64_t id)
{
	char digits[24], *end = digits + sizeof(digits) - 1;

	*end = '\0';
	return put_str(p, parse_digits_before(end, id, 10));
}

/* Written without stdio: at n = 1000, fprintf's machinery was a measurable part of the kill. */
void fault_audit_many(const struct active_fault *const *list, unsigned n, const char *why,
		uid_t uid, pid_t pid, const char *result)
{
	/* per fault: "; " + id + " " + edge + " " + kind + " " + params */
	const size_t each = 2 + 20 + 1 + EDGE_NAME_MAX + 1 + 32 + 1 + FAULT_AUDIT_PARAMS_MAX;
	_cleanup_free_ char *ids = NULL, *text = NULL;
	bool one_edge = true;
	char *pi, *pt;

	if (n == 0)
		return;
	ids = malloc((size_t)n * 21 + 1);
	text = malloc((size_t)n * each + 1);
	if (!ids || !text) {
		log_error("%s: no memory for the audit record of %u faults", why, n);
		return;
	}
	pi = ids;
	pt = text;
	for (unsigned i = 0; i < n; i++) {
		const struct active_fault *af = list[i];

		if (!streq(af->edge.name, list[0]->edge.name))
			one_edge = false;
		if (i) {
			*pi++ = ' ';
			pt = put_str(pt, "; ");
		}
		pi = put_id(pi, af->id);
		pt = put_id(pt, af->id);
		*pt++ = ' ';
		pt = put_str(pt, af->edge.name);
		*pt++ = ' ';
		pt = put_str(pt, fault_kind_to_string(af->fault.kind));
		*pt++ = ' ';
		fault_format_params(&af->fault, pt, FAULT_AUDIT_PARAMS_MAX);
		pt += strlen(pt);
	}
	*pi = '\0';
	*pt = '\0';
	/* One edge (a stop with faults on db only): the record names it, as a single revert's does. */
	audit_log(&(struct audit_event){ .action = why, .uid = uid, .pid = pid, .ids = ids,
			.edge = one_edge ? list[0]->edge.name : NULL, .params = text,
			.result = result });
}
