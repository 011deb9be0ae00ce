/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's view of a client's bytes: header, then payload, then every field read back;
 * and chaosctl's: every value rendered as JSON must be valid text whatever the bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_header h;
	struct proto_msg *m = NULL;
	struct diag d;

	diag_init(&d);
	if (proto_header_decode(data, size, PROTO_MAX_REQUEST, &h, &d) < 0)
		return 0;
	if (size - PROTO_HEADER_SIZE < h.length)
		return 0;
	if (proto_msg_decode(h.type, data + PROTO_HEADER_SIZE, h.length, &m, &d) < 0)
		return 0;
	for (unsigned i = 0; i < m->n_fields; i = proto_msg_next_record(m, i))
		(void)proto_msg_get(m, i, "id");
	for (unsigned i = 0; i < m->n_fields; i++) {
		char *out = NULL, why[64];
		size_t n = 0;
		FILE *f = open_memstream(&out, &n);

		if (!f)
			break;
		utf8_fputs_json(m->fields[i].value, f);
		utf8_fputs_term(m->fields[i].value, 0, f);
		if (fclose(f) == 0 && utf8_text_check(out, 0, why, sizeof(why)) < 0)
			__builtin_trap();
		free(out);
	}
	(void)proto_verb_by_type(h.type);
	proto_msg_free(m);
	return 0;
}
