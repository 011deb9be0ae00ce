/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A diagnostic is the one text a user sees when something is refused or fails: it names the
 * input (file:line, key, value) and what is allowed, or carries the kernel's extended ack. The
 * library fills it and returns -errno; the daemon logs it once and sends it to chaosctl. Several
 * errors (a config file with three bad lines) are appended one per line. */

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

#define DIAG_MAX 4096

struct diag {
	char text[DIAG_MAX];
	size_t len;
	unsigned count;
};

void diag_init(struct diag *d);
/* Append one line; returns err (which must be negative) so callers can `return diag_add(...)`.
 * d may be NULL. */
int diag_add(struct diag *d, int err, const char *fmt, ...) _printf_(3, 4);
int diag_addv(struct diag *d, int err, const char *fmt, va_list ap) _printf_(3, 0);
/* Append each line of src to d as a line of its own (say, the kernel's lines after the caller's
 * summary). d may be NULL. */
void diag_add_lines(struct diag *d, const struct diag *src);
/* First line, or "" */
const char *diag_text(const struct diag *d);
/* One error in a file, "FILE:LINE: SECTION KEY = 'VALUE': MSG", with only the parts given (key
 * NULL: no "KEY = 'VALUE'"); key and value are sanitized for the terminal. Returns err. */
int diag_add_at(struct diag *d, int err, const char *file, unsigned line, const char *section,
		const char *key, const char *value, const char *msg);
