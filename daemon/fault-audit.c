/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fault-audit.h"
#include "macro.h"
#include "strbuf.h"

/* Written without stdio: at n = 1000, fprintf's machinery was a measurable part of the kill. */
void fault_audit_many(const struct active_fault *const *list, unsigned n, const char *why,
		uid_t uid, pid_t pid, const char *result)
{
	/* per fault: "; " + id + " " + edge + " " + kind + " " + params */
	const size_t each = 2 + 20 + 1 + EDGE_NAME_MAX + 1 + 32 + 1 + FAULT_AUDIT_PARAMS_MAX;
	const size_t ids_size = (size_t)n * 21 + 1, text_size = (size_t)n * each + 1;
	_cleanup_free_ char *ids = NULL, *text = NULL;
	struct strbuf si, st;
	bool one_edge = true;

	if (n == 0)
		return;
	ids = malloc(ids_size);
	text = malloc(text_size);
	if (!ids || !text) {
		log_error("%s: no memory for the audit record of %u faults", why, n);
		return;
	}
	strbuf_init(&si, ids, ids_size);
	strbuf_init(&st, text, text_size);
	for (unsigned i = 0; i < n; i++) {
		const struct active_fault *af = list[i];

		if (!streq(af->edge.name, list[0]->edge.name))
			one_edge = false;
		if (i) {
			strbuf_putc(&si, ' ');
			strbuf_puts(&st, "; ");
		}
		strbuf_put_u64(&si, af->id);
		strbuf_put_u64(&st, af->id);
		strbuf_putc(&st, ' ');
		strbuf_puts(&st, af->edge.name);
		strbuf_putc(&st, ' ');
		strbuf_puts(&st, fault_kind_to_string(af->fault.kind));
		strbuf_putc(&st, ' ');
		fault_put_params(&af->fault, &st);
	}
	/* One edge (a stop with faults on db only): the record names it, as a single revert's does. */
	audit_log(&(struct audit_event){ .action = why, .uid = uid, .pid = pid, .ids = ids,
			.edge = one_edge ? list[0]->edge.name : NULL, .params = text,
			.result = result });
}
