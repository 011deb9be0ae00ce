/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Text from hostile places (a client's request, a journal, a report): checking that it is
 * exactly valid UTF-8 without control characters, and showing whatever bytes a stored string
 * holds so that it can neither drive a terminal (ESC, CSI) nor break a JSON document. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Control characters a field may hold anyway (utf8_text_check, utf8_fputs_term). */
enum {
	UTF8_ALLOW_TAB = 1 << 0,
	UTF8_ALLOW_NEWLINE = 1 << 1,
	UTF8_ALLOW_FINAL_CR = 1 << 2, /* a CR as the very last byte: a line of a CRLF file */
};

/* One character at s, n bytes available: its length (1-4) and *ret_cp, or -EILSEQ for a byte
 * that cannot start a character, a truncated sequence, an overlong form, a surrogate
 * (U+D800-U+DFFF) or a value above U+10FFFF. */
int utf8_decode(const char *s, size_t n, uint32_t *ret_cp);

/* 0 if s is valid UTF-8 without control characters (C0, DEL, C1 U+0080-U+009F) other than the
 * allowed ones. Else -EILSEQ, and why (n >= 64 is enough) says what and where, e.g. "control
 * character U+001B at byte 5" or "invalid UTF-8 at byte 2 (overlong encoding)"; bytes count
 * from 0. */
int utf8_text_check(const char *s, unsigned allow, char *why, size_t n);

/* s as the body of a JSON string, with the quotes: '"' and '\' escaped, \n as "\n", every other
 * control character as \u00XX, each byte of invalid UTF-8 as U+FFFD. Always valid JSON. */
void utf8_fputs_json(const char *s, FILE *f);
/* s for a terminal: each byte of a control character (C1 ones are two bytes) as \xNN unless
 * allowed, each byte of invalid UTF-8 as U+FFFD; the rest unchanged. */
void utf8_fputs_term(const char *s, unsigned allow, FILE *f);
/* The same into a new string (free() it); NULL only without memory. */
char *utf8_term_safe(const char *s, unsigned allow);

/* Copy s into buf (n >= 4) for a message: bytes outside printable ASCII become '?' and a
 * value too long for buf is cut with "...", so hostile input cannot garble a log line or the
 * protocol. Returns buf. */
char *utf8_ascii_safe(const char *s, char *buf, size_t n);
