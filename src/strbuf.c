/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "strbuf.h"

void strbuf_init(struct strbuf *s, char *buf, size_t n)
{
	*s = (struct strbuf){ .buf = buf, .n = n };
	buf[0] = '\0';
}

static void put(struct strbuf *s, const char *p, size_t len)
{
	size_t room = s->n - 1 - s->len;

	if (len > room) {
		len = room;
		s->cut = true;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->buf[s->len] = '\0';
}

void strbuf_puts(struct strbuf *s, const char *str)
{
	put(s, str, strlen(str));
}

void strbuf_putc(struct strbuf *s, char c)
{
	put(s, &c, 1);
}

void strbuf_put_u64(struct strbuf *s, uint64_t v)
{
	char digits[24], *end = digits + sizeof(digits) - 1;

	*end = '\0';
	strbuf_puts(s, parse_digits_before(end, v, 10));
}

void strbuf_printf(struct strbuf *s, const char *fmt, ...)
{
	size_t room = s->n - s->len;
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(s->buf + s->len, room, fmt, ap);
	va_end(ap);
	if (w < 0) {
		s->buf[s->len] = '\0';
		s->cut = true;
	} else if ((size_t)w >= room) {
		s->len = s->n - 1;
		s->cut = true;
	} else
		s->len += (size_t)w;
}
