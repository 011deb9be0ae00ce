/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "utf8.h"

void diag_init(struct diag *d)
{
	d->text[0] = '\0';
	d->len = 0;
	d->count = 0;
}

int diag_addv(struct diag *d, int err, const char *fmt, va_list ap)
{
	int n;

	if (!d)
		return err;
	if (d->len > 0 && d->len + 1 < sizeof(d->text))
		d->text[d->len++] = '\n';
	if (d->len + 1 >= sizeof(d->text))
		return err;
	n = vsnprintf(d->text + d->len, sizeof(d->text) - d->len, fmt, ap);
	if (n > 0)
		d->len = MIN(d->len + (size_t)n, sizeof(d->text) - 1);
	d->text[d->len] = '\0';
	d->count++;
	return err;
}

int diag_add(struct diag *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_addv(d, err, fmt, ap);
	va_end(ap);
	return err;
}

void diag_add_lines(struct diag *d, const struct diag *src)
{
	const char *p = src->text;

	if (!d || src->len == 0)
		return;
	while (*p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);
		diag_add(d, -EIO, "%.*s", n, p);
		p += n + (nl ? 1 : 0);
	}
}

const char *diag_text(const struct diag *d)
{
	return d ? d->text : "";
}

int diag_add_at(struct diag *d, int err, const char *file, unsigned line, const char *section,
		const char *key, const char *value, const char *msg)
{
	char k[64], v[160];
	const char *sep = section && section[0] ? " " : "";

	if (!section)
		section = "";
	if (key)
		return diag_add(d, err, "%s:%u: %s%s%s = '%s': %s", file, line, section, sep,
				utf8_ascii_safe(key, k, sizeof(k)),
				utf8_ascii_safe(value ? value : "", v, sizeof(v)), msg);
	if (section[0])
		return diag_add(d, err, "%s:%u: %s: %s", file, line, section, msg);
	return diag_add(d, err, "%s:%u: %s", file, line, msg);
}
