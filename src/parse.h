/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Value parsers shared by the config file, scenario files, the control protocol and chaosctl,
 * so that "500ms" or "5%" means the same thing everywhere. All return 0 or -EINVAL/-ERANGE and
 * write *ret only on success. Leading/trailing blanks are not accepted: callers strip. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC  1000000ULL
#define USEC_PER_DAY  (24ULL * 60 * 60 * USEC_PER_SEC)

/* "500ms", "30s", "5m", "1h", "1h30m", "250us"; a bare number is seconds. */
int parse_duration(const char *s, uint64_t *ret_usec);
/* parse_duration within [min_usec, max_usec], with the message every option taking a duration
 * gives: "WHAT: 'S' is out of range (1ms-365d)" (also when it overflows), or "WHAT: 'S' is not a
 * duration (allowed: 1ms-365d, e.g. 30s, 5m, 1h30m)". -EINVAL either way. */
int parse_duration_range(const char *what, const char *s, uint64_t min_usec, uint64_t max_usec,
		uint64_t *ret_usec, struct diag *d);
/* Writes e.g. "5m", "1h30m", "500ms", "0s"; returns buf. */
char *parse_format_duration(uint64_t usec, char *buf, size_t n);
/* "5", "5%", "0.25%": 0..100 inclusive. */
int parse_percent(const char *s, double *ret);
/* Decimal number with optional fraction (at most 9 digits after the point, no exponent, so
 * that every accepted value prints back exactly), within [min, max]. */
int parse_double_range(const char *s, double min, double max, double *ret);
/* Shortest text ("0.25", "3", "-1.5") that parse_double_range() reads back as exactly v, for
 * any v it produced; independent of the locale. Returns buf. */
char *parse_format_double(double v, char *buf, size_t n);
/* v's digits in base 10 or 16 (lower case), written backwards from end (where the caller put
 * the NUL); returns the first. Room before end: 20 characters in base 10, 16 in base 16. For
 * numbers on a request's path, where printf's machinery costs more than the rest. */
char *parse_digits_before(char *end, uint64_t v, unsigned base);
/* Unsigned decimal integer within [min, max]. */
int parse_u64_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* "yes/no/true/false/1/0/on/off" */
int parse_bool(const char *s, bool *ret);
/* [A-Za-z0-9], whatever the locale says */
static inline bool parse_ascii_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
/* Strip blanks at both ends in place; returns s. */
char *parse_strip(char *s);
