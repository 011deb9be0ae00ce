/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ini.h"
#include "macro.h"
#include "parse.h"
#include "utf8.h"

const char ini_dialect_text[] =
	"The file is read line by line, each at most 198 characters, with LF or CRLF line "
	"ends and an optional UTF-8 byte order mark; control characters other than tab are "
	"refused. A line is blank, a comment (its first non-blank character is '#' or ';'), a "
	"section header [NAME], or KEY = VALUE (':' may stand for '='). A '#' or ';' after a "
	"blank starts a comment that runs to the end of the line. Blanks around section names, "
	"keys and values are ignored. An indented line right after a key line continues that "
	"key's value, where the key allows it. Every error is reported as FILE:LINE with the "
	"section, the key, the value and what is allowed, and a file with errors is not used "
	"at all.";

struct reader {
	const struct ini_ops *ops;
	void *userdata;
	unsigned line;
	char key[INI_LINE_MAX + 1]; /* of the last key line, for continuations */
};

static void ini_error(struct reader *r, const char *fmt, ...) _printf_(2, 3);
static void ini_error(struct reader *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->ops->error(r->userdata, r->line, msg);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cut a '#' or ';' comment that follows a blank. */
static void cut_comment(char *s)
{
	for (char *c = s + 1; *c; c++)
		if ((*c == '#' || *c == ';') && is_blank(c[-1])) {
			*c = '\0';
			return;
		}
}

static void section_line(struct reader *r, char *s)
{
	char shown[64], *close = strchr(s, ']');

	if (!close) {
		r->ops->section(r->userdata, r->line, NULL);
		ini_error(r, "syntax error: '%s' has no ']' (allowed: %s)",
				utf8_ascii_safe(s, shown, sizeof(shown)), r->ops->sections);
		return;
	}
	*close = '\0';
	r->key[0] = '\0'; /* a new section: nothing to continue */
	r->ops->section(r->userdata, r->line, parse_strip(s + 1));
	/* the comment is cut already: anything left is text */
	if (close[1 + strspn(close + 1, " \t")])
		ini_error(r, "text after ']' (allowed: a ';' or '#' comment)");
}

static int one_line(struct reader *r, const char *raw, size_t len)
{
	char buf[INI_LINE_MAX + 1], shown[64], *s, *sep;
	bool indented;

	if (len > INI_LINE_MAX) {
		ini_error(r, "line too long (allowed: at most %d characters)", INI_LINE_MAX);
		return 0;
	}
	memcpy(buf, raw, len);
	buf[len] = '\0';
	s = buf;
	if (r->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	indented = isspace((unsigned char)*s);
	s = parse_strip(s);
	if (!*s || *s == '#' || *s == ';')
		return 0;
	cut_comment(s);
	parse_strip(s);
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < ' ' && *c != '\t') {
			ini_error(r, "control character 0x%02x in the line (allowed: printable "
					"text and tabs)", (unsigned)(unsigned char)*c);
			return 0;
		}
	if (indented && r->key[0])
		return r->ops->key(r->userdata, r->line, r->key, s, true);
	if (*s == '[') {
		section_line(r, s);
		return 0;
	}
	sep = s + strcspn(s, "=:");
	if (!*sep) {
		ini_error(r, "syntax error: '%s' (allowed: [section], key = value, ';' or '#' "
				"comments)", utf8_ascii_safe(s, shown, sizeof(shown)));
		return 0;
	}
	*sep = '\0';
	parse_strip(s);
	if (!*s) {
		ini_error(r, "a value without a key (allowed: key = value)");
		return 0;
	}
	snprintf(r->key, sizeof(r->key), "%s", s);
	return r->ops->key(r->userdata, r->line, s, parse_strip(sep + 1), false);
}

int ini_parse(const char *text, size_t len, const struct ini_ops *ops, void *userdata)
{
	struct reader r = { .ops = ops, .userdata = userdata };
	size_t pos = 0;

	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		int ret;

		pos += n + (nl ? 1 : 0);
		r.line++;
		ret = one_line(&r, s, n);
		if (ret < 0)
			return ret;
	}
	return 0;
}
