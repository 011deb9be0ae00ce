/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "scenario-parser.h"

void scenario_parser_error(struct scenario_parser *p, unsigned line, const char *key,
		const char *value, const char *fmt, ...)
{
	char msg[768], section[sizeof(p->section_text) + 2] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->errors++;
	if (p->section_text[0])
		snprintf(section, sizeof(section), "[%s]", p->section_text);
	diag_add_at(p->d, -EINVAL, p->name, line, section, key, value, msg);
}
