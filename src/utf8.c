/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdbool.h>
#include <string.h>

#include "macro.h"
#include "utf8.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* As utf8_decode; *why says what is wrong. */
static int decode(const unsigned char *s, size_t n, uint32_t *ret_cp, const char **why)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	size_t len;

	if (n == 0)
		return *why = "truncated sequence", -EILSEQ;
	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC0 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF7)
		len = 4, cp = s[0] & 0x07;
	else
		return *why = "not the start of a character", -EILSEQ;
	for (size_t i = 1; i < len; i++) {
		if (i >= n || (s[i] & 0xC0) != 0x80)
			return *why = "truncated sequence", -EILSEQ;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min_cp[len])
		return *why = "overlong encoding", -EILSEQ;
	if (cp >= 0xD800 && cp <= 0xDFFF)
		return *why = "surrogate", -EILSEQ;
	if (cp > 0x10FFFF)
		return *why = "above U+10FFFF", -EILSEQ;
	*ret_cp = cp;
	return (int)len;
}

int utf8_decode(const char *s, size_t n, uint32_t *ret_cp)
{
	const char *why;

	return decode((const unsigned char *)s, n, ret_cp, &why);
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

static bool allowed(uint32_t cp, unsigned allow, bool last)
{
	return (cp == '\t' && (allow & UTF8_ALLOW_TAB)) ||
	       (cp == '\n' && (allow & UTF8_ALLOW_NEWLINE)) ||
	       (cp == '\r' && last && (allow & UTF8_ALLOW_FINAL_CR));
}

int utf8_text_check(const char *s, unsigned allow, char *why, size_t n)
{
	size_t len = strlen(s);

	for (size_t off = 0; off < len;) {
		const char *what;
		uint32_t cp;
		int k = decode((const unsigned char *)s + off, len - off, &cp, &what);

		if (k < 0) {
			snprintf(why, n, "invalid UTF-8 at byte %zu (%s)", off, what);
			return -EILSEQ;
		}
		if (is_control(cp) && !allowed(cp, allow, off + 1 == len)) {
			snprintf(why, n, "control character U+%04X at byte %zu", (unsigned)cp, off);
			return -EILSEQ;
		}
		off += (size_t)k;
	}
	return 0;
}

void utf8_fputs_json(const char *s, FILE *f)
{
	size_t len = strlen(s);

	fputc('"', f);
	for (size_t off = 0; off < len;) {
		uint32_t cp;
		int k = utf8_decode(s + off, len - off, &cp);

		if (k < 0) {
			fputs("\\ufffd", f);
			off++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (is_control(cp))
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(s + off, 1, (size_t)k, f);
		off += (size_t)k;
	}
	fputc('"', f);
}

void utf8_fputs_term(const char *s, unsigned allow, FILE *f)
{
	size_t len = strlen(s);

	for (size_t off = 0; off < len;) {
		uint32_t cp;
		int k = utf8_decode(s + off, len - off, &cp);

		if (k < 0) {
			fputs(REPLACEMENT, f);
			off++;
			continue;
		}
		if (is_control(cp) && !allowed(cp, allow, off + 1 == len))
			for (int i = 0; i < k; i++)
				fprintf(f, "\\x%02x", (unsigned char)s[off + (size_t)i]);
		else
			fwrite(s + off, 1, (size_t)k, f);
		off += (size_t)k;
	}
}

char *utf8_term_safe(const char *s, unsigned allow)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	utf8_fputs_term(s, allow, f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *utf8_ascii_safe(const char *s, char *buf, size_t n)
{
	size_t i, len;

	if (!buf || n == 0)
		return buf;
	if (!s)
		s = "(null)";
	len = strlen(s);
	for (i = 0; i < len && i + 1 < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	buf[i] = '\0';
	if (i < len && n >= 4)
		memcpy(buf + n - 4, "...", 4);
	return buf;
}
