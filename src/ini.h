/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one INI reader of chaosd.conf and scenario files: it splits the text into section
 * headers and key/value lines by one dialect (ini_dialect_text) and reports the lines that are
 * not in it; what a section or key means is the caller's. It never stops at an error, so a
 * file's errors are all reported at once. */

#include <stdbool.h>
#include <stddef.h>

/* What inih's 200-byte line buffer held, which earlier files were written for. */
#define INI_LINE_MAX 198

/* The dialect in words, for the man pages. */
extern const char ini_dialect_text[];

struct ini_ops {
	/* "[NAME]", NAME stripped of blanks; NULL for a header the reader refused (reported
	 * through error): the keys up to the next header belong to no section. */
	void (*section)(void *userdata, unsigned line, const char *name);
	/* "KEY = VALUE" (both stripped, comments removed), or with continuation an indented
	 * line right after a key line: key is then that line's key and value the line. A
	 * negative return (-ENOMEM) stops the reader and is returned. */
	int (*key)(void *userdata, unsigned line, const char *key, const char *value,
			bool continuation);
	/* A line outside the dialect: msg says what is wrong and what is allowed. */
	void (*error)(void *userdata, unsigned line, const char *msg);
	/* For messages: the section headers the caller takes, e.g. "[chaosd], [edge NAME]". */
	const char *sections;
};

int ini_parse(const char *text, size_t len, const struct ini_ops *ops, void *userdata);
