/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <inttypes.h>
#include <locale.h>
#include <stdio.h>
#include <strings.h>

#include "macro.h"
#include "parse.h"
#include "utf8.h"

/* Fraction digits accepted by parse_double_range(): enough for netem's resolution (a u32 of
 * 100 %), few enough that every accepted value has a short exact text form. */
#define FRACTION_DIGITS_MAX 9

struct duration_unit {
	const char *suffix;
	uint64_t usec;
};

/* Largest first: components of a duration must come in this order, each at most once. */
static const struct duration_unit duration_units[] = {
	{ "d", 24ULL * 60 * 60 * USEC_PER_SEC },
	{ "h", 60ULL * 60 * USEC_PER_SEC },
	{ "m", 60ULL * USEC_PER_SEC },
	{ "s", USEC_PER_SEC },
	{ "ms", USEC_PER_MSEC },
	{ "us", 1 },
};

static const uint64_t pow10_table[] = {
	1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
	1000000000ULL,
};

/* Digits with an optional fraction ("12", "12.5", ".5"; not "12."). On success and on
 * -ERANGE (integer part beyond u64) *p is moved past the number. */
static int parse_decimal(const char **p, uint64_t *ret_int, uint64_t *ret_frac,
		unsigned *ret_frac_digits)
{
	const char *s = *p;
	uint64_t v = 0, frac = 0;
	unsigned n_int = 0, n_frac = 0;
	bool overflow = false;

	for (; isdigit((unsigned char)*s); s++, n_int++)
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
			overflow = true;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		for (; isdigit((unsigned char)*s); s++, n_frac++) {
			if (n_frac >= FRACTION_DIGITS_MAX)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*s - '0');
		}
	}
	if (n_int + n_frac == 0)
		return -EINVAL;
	*p = s;
	if (overflow)
		return -ERANGE;
	*ret_int = v;
	*ret_frac = frac;
	*ret_frac_digits = n_frac;
	return 0;
}

/* value * unit, exactly, in microseconds. */
static int scale_decimal(uint64_t v, uint64_t frac, unsigned frac_digits, uint64_t unit,
		uint64_t *ret)
{
	uint64_t whole, part;
	unsigned __int128 f;

	if (__builtin_mul_overflow(v, unit, &whole))
		return -ERANGE;
	f = (unsigned __int128)frac * unit;
	if (f % pow10_table[frac_digits] != 0)
		return -EINVAL; /* finer than a microsecond */
	part = (uint64_t)(f / pow10_table[frac_digits]);
	if (__builtin_add_overflow(whole, part, &whole))
		return -ERANGE;
	*ret = whole;
	return 0;
}

int parse_duration(const char *s, uint64_t *ret_usec)
{
	const char *p = s;
	uint64_t total = 0;
	size_t next_unit = 0;
	bool first = true;
	int r;

	if (!s || !*s)
		return -EINVAL;

	while (*p) {
		uint64_t v, frac, part;
		unsigned frac_digits;
		const char *unit_start;
		size_t unit_len, i;

		r = parse_decimal(&p, &v, &frac, &frac_digits);
		if (r < 0)
			return r;

		unit_start = p;
		while (isalpha((unsigned char)*p))
			p++;
		unit_len = (size_t)(p - unit_start);

		if (unit_len == 0) {
			/* A bare number means seconds, but only on its own: "1h30" is a typo. */
			if (!first || *p)
				return -EINVAL;
			r = scale_decimal(v, frac, frac_digits, USEC_PER_SEC, &total);
			if (r < 0)
				return r;
			break;
		}

		for (i = next_unit; i < ELEMENTSOF(duration_units); i++) {
			const char *suffix = duration_units[i].suffix;

			if (strlen(suffix) == unit_len &&
					strncmp(suffix, unit_start, unit_len) == 0)
				break;
		}
		if (i >= ELEMENTSOF(duration_units))
			return -EINVAL; /* unknown unit, or units out of order or repeated */
		next_unit = i + 1;

		r = scale_decimal(v, frac, frac_digits, duration_units[i].usec, &part);
		if (r < 0)
			return r;
		if (__builtin_add_overflow(total, part, &total))
			return -ERANGE;
		first = false;
	}

	*ret_usec = total;
	return 0;
}

int parse_duration_range(const char *what, const char *s, uint64_t min_usec, uint64_t max_usec,
		uint64_t *ret_usec, struct diag *d)
{
	char v[80], a[32], b[32];
	uint64_t usec = 0;
	int r;

	r = parse_duration(s, &usec);
	if (r == 0 && (usec < min_usec || usec > max_usec))
		r = -ERANGE;
	if (r < 0) {
		parse_format_duration(min_usec, a, sizeof(a));
		parse_format_duration(max_usec, b, sizeof(b));
		utf8_ascii_safe(s, v, sizeof(v));
		if (r == -ERANGE)
			return diag_add(d, -EINVAL, "%s: '%s' is out of range (%s-%s)", what, v, a, b);
		return diag_add(d, -EINVAL,
				"%s: '%s' is not a duration (allowed: %s-%s, e.g. 30s, 5m, 1h30m)",
				what, v, a, b);
	}
	*ret_usec = usec;
	return 0;
}

/* Durations and numbers are formatted on every request (journal, audit line, reply): digits
 * by hand, as printf's machinery costs more there than the rest of the formatting. */
char *parse_format_duration(uint64_t usec, char *buf, size_t n)
{
	size_t off = 0;

	if (!buf || n == 0)
		return buf;
	buf[0] = '\0';
	if (usec == 0) {
		strcpy_cut(buf, n, "0s");
		return buf;
	}
	for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
		uint64_t k = usec / duration_units[i].usec;
		char digits[24], *end = digits + sizeof(digits) - 1, *p;
		size_t dl, sl;

		if (k == 0)
			continue;
		usec -= k * duration_units[i].usec;
		*end = '\0';
		p = parse_digits_before(end, k, 10);
		dl = (size_t)(end - p);
		sl = strlen(duration_units[i].suffix);
		if (dl + sl >= n - off)
			break; /* whole components only */
		memcpy(buf + off, p, dl);
		memcpy(buf + off + dl, duration_units[i].suffix, sl);
		off += dl + sl;
		buf[off] = '\0';
	}
	return buf;
}

/* strtod() honours LC_NUMERIC; "0.5" must mean the same under any locale the program sets. */
static locale_t c_locale(void)
{
	static locale_t cached;
	locale_t l, expected = (locale_t)0;

	l = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
	if (l)
		return l;
	l = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!l)
		return (locale_t)0;
	if (!__atomic_compare_exchange_n(&cached, &expected, l, false, __ATOMIC_ACQ_REL,
			    __ATOMIC_ACQUIRE)) {
		freelocale(l);
		return expected;
	}
	return l;
}

int parse_double_range(const char *s, double min, double max, double *ret)
{
	const char *p;
	uint64_t v, frac;
	unsigned frac_digits;
	locale_t loc;
	double d;
	int r;

	if (!s)
		return -EINVAL;
	p = s;
	if (*p == '-')
		p++;
	/* Only the syntax matters here: a huge integer part is for the range check to refuse. */
	r = parse_decimal(&p, &v, &frac, &frac_digits);
	if (r == -EINVAL || *p)
		return -EINVAL;

	/* strtod gives the correctly rounded value, the same double iproute2 computes. */
	loc = c_locale();
	d = loc ? strtod_l(s, NULL, loc) : strtod(s, NULL);
	if (d == 0)
		d = 0; /* no "-0" */
	if (!(d >= min && d <= max))
		return -ERANGE;
	*ret = d;
	return 0;
}

char *parse_format_double(double v, char *buf, size_t n)
{
	locale_t loc, old = (locale_t)0;

	if (!buf || n == 0)
		return buf;
	if (v == 0)
		v = 0; /* "-0" would read back as 0 anyway */
	/* A whole number (most values: 10 ms, 5 %) as an integer: no %f and no strtod() to
	 * find its precision, which under emulation cost a request more than its parsing. */
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
		long long x = (long long)v;
		char digits[24], *end = digits + sizeof(digits) - 1, *p;

		*end = '\0';
		p = parse_digits_before(end, x < 0 ? (uint64_t)-x : (uint64_t)x, 10);
		if (x < 0)
			*--p = '-';
		strcpy_cut(buf, n, p);
		return buf;
	}
	loc = c_locale();
	if (loc)
		old = uselocale(loc);
	/* Fixed notation, never an exponent: the parser takes none. */
	for (int prec = 0; prec <= FRACTION_DIGITS_MAX; prec++) {
		snprintf(buf, n, "%.*f", prec, v);
		if ((loc ? strtod_l(buf, NULL, loc) : strtod(buf, NULL)) == v)
			break;
	}
	if (loc)
		uselocale(old);
	return buf;
}

int parse_percent(const char *s, double *ret)
{
	char buf[64];
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len > 0 && s[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return parse_double_range(buf, 0, 100, ret);
}

int parse_u64_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	bool overflow = false;
	const char *p;

	if (!s || !*s)
		return -EINVAL;
	for (p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			overflow = true;
	}
	if (overflow || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "1", "on" };
	static const char *const no[] = { "no", "false", "0", "off" };

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcaseeq(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (strcaseeq(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

char *parse_strip(char *s)
{
	size_t start = 0, end;

	if (!s)
		return NULL;
	end = strlen(s);
	while (start < end && isspace((unsigned char)s[start]))
		start++;
	while (end > start && isspace((unsigned char)s[end - 1]))
		end--;
	memmove(s, s + start, end - start);
	s[end - start] = '\0';
	return s;
}

char *parse_digits_before(char *end, uint64_t v, unsigned base)
{
	do {
		*--end = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	return end;
}
