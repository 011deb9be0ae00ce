/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A bounded text buffer: pieces are appended as far as they fit and the text is always
 * terminated. For text built on a request's or the kill switch's path (a fault's parameters,
 * its description, the kill's audit record), where a snprintf() per piece cost more than the
 * pieces. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

struct strbuf {
	char *buf;
	size_t n;   /* buf's size, >= 1 */
	size_t len; /* buf[len] == '\0' */
	bool cut;   /* something did not fit */
};

/* Over buf[n], n >= 1, emptied. */
void strbuf_init(struct strbuf *s, char *buf, size_t n);
void strbuf_puts(struct strbuf *s, const char *str);
void strbuf_putc(struct strbuf *s, char c);
/* v in decimal */
void strbuf_put_u64(struct strbuf *s, uint64_t v);
void strbuf_printf(struct strbuf *s, const char *fmt, ...) _printf_(2, 3);
