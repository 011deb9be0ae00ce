/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "parse.h"
#include "strbuf.h"
#include "test-util.h"
#include "utf8.h"

static void check_duration(const char *s, uint64_t want)
{
	uint64_t v = 0;

	ck_assert_msg(parse_duration(s, &v) == 0, "'%s' refused", s);
	ck_assert_msg(v == want, "'%s' -> %llu, want %llu", s, (unsigned long long)v,
			(unsigned long long)want);
}

static void check_duration_fails(const char *s, int err)
{
	uint64_t v = 4242;

	ck_assert_msg(parse_duration(s, &v) == err, "'%s' not refused with %d", s, err);
	ck_assert_msg(v == 4242, "'%s' wrote the output on failure", s);
}

START_TEST(test_duration_ok)
{
	check_duration("500ms", 500 * USEC_PER_MSEC);
	check_duration("30s", 30 * USEC_PER_SEC);
	check_duration("5m", 300 * USEC_PER_SEC);
	check_duration("1h", 3600 * USEC_PER_SEC);
	check_duration("1h30m", 5400 * USEC_PER_SEC);
	check_duration("250us", 250);
	check_duration("30", 30 * USEC_PER_SEC);
	check_duration("0", 0);
	check_duration("0s", 0);
	check_duration("2d", 2 * 86400 * USEC_PER_SEC);
	check_duration("1h2m3s4ms5us", 3723 * USEC_PER_SEC + 4005);
	check_duration("1.5s", 1500 * USEC_PER_MSEC);
	check_duration("0.5", 500 * USEC_PER_MSEC);
	check_duration(".25s", 250 * USEC_PER_MSEC);
	check_duration("1.5ms", 1500);
	check_duration("007s", 7 * USEC_PER_SEC);
	check_duration("18446744073709551615us", UINT64_MAX);
}
END_TEST

START_TEST(test_duration_bad)
{
	check_duration_fails("", -EINVAL);
	check_duration_fails("ms", -EINVAL);
	check_duration_fails("5x", -EINVAL);
	check_duration_fails("5M", -EINVAL);
	check_duration_fails(" 5s", -EINVAL);
	check_duration_fails("5s ", -EINVAL);
	check_duration_fails("-5s", -EINVAL);
	check_duration_fails("+5s", -EINVAL);
	check_duration_fails("1h30", -EINVAL); /* bare number only on its own */
	check_duration_fails("30m1h", -EINVAL); /* largest unit first */
	check_duration_fails("5m5m", -EINVAL);
	check_duration_fails("1.5us", -EINVAL); /* finer than a microsecond */
	check_duration_fails("5.s", -EINVAL);
	check_duration_fails(".", -EINVAL);
	check_duration_fails("1.0000000001s", -EINVAL); /* more than 9 fraction digits */
	check_duration_fails("1e3s", -EINVAL);
	check_duration_fails("18446744073709551616us", -ERANGE);
	check_duration_fails("99999999999999999999999d", -ERANGE);
	check_duration_fails("300000000d", -ERANGE);
	check_duration_fails("18446744073709551615us1us", -EINVAL); /* "us" twice */
	check_duration_fails("213503982d8h1m49s551ms616us", -ERANGE); /* UINT64_MAX + 1 */
	check_duration("213503982d8h1m49s551ms615us", UINT64_MAX);
	ck_assert_int_eq(parse_duration(NULL, NULL), -EINVAL);
}
END_TEST

/* "kill --for" and inject's "for" say the same of a duration that does not fit. */
START_TEST(test_duration_range)
{
	static const struct {
		const char *in, *error;
	} bad[] = {
		{ "99999999999h", "kill --for: '99999999999h' is out of range (1ms-365d)" },
		{ "18446744073709551616us",
		  "kill --for: '18446744073709551616us' is out of range (1ms-365d)" },
		{ "366d", "kill --for: '366d' is out of range (1ms-365d)" },
		{ "0s", "kill --for: '0s' is out of range (1ms-365d)" },
		{ "999us", "kill --for: '999us' is out of range (1ms-365d)" },
		{ "1h30", "kill --for: '1h30' is not a duration (allowed: 1ms-365d, e.g. 30s, 5m, "
			  "1h30m)" },
		{ "soon", "kill --for: 'soon' is not a duration (allowed: 1ms-365d, e.g. 30s, 5m, "
			  "1h30m)" },
		{ "", "kill --for: '' is not a duration (allowed: 1ms-365d, e.g. 30s, 5m, 1h30m)" },
	};
	uint64_t v = 4242;
	struct diag d, df;
	struct fault f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		diag_init(&d);
		ck_assert_int_eq(parse_duration_range("kill --for", bad[i].in, USEC_PER_MSEC,
					 365 * USEC_PER_DAY, &v, &d),
				-EINVAL);
		ck_assert_str_eq(diag_text(&d), bad[i].error);
		ck_assert_uint_eq(v, 4242);
	}
	ck_assert_int_eq(parse_duration_range("kill --for", "365d", USEC_PER_MSEC,
				 365 * USEC_PER_DAY, &v, NULL),
			0);
	ck_assert_uint_eq(v, 365 * USEC_PER_DAY);
	ck_assert_int_eq(parse_duration_range("x", "1ms", USEC_PER_MSEC, USEC_PER_SEC, &v, NULL),
			0);
	ck_assert_uint_eq(v, USEC_PER_MSEC);

	/* inject --for: the same words after the option's name */
	fault_init(&f, FAULT_LATENCY);
	diag_init(&df);
	ck_assert_int_eq(fault_set(&f, "for", "99999999999h", &df), -EINVAL);
	ck_assert_str_eq(diag_text(&df), "for: '99999999999h' is out of range (1ms-365d)");
}
END_TEST

START_TEST(test_duration_format)
{
	static const uint64_t values[] = { 0, 1, 999, 1000, 1500, USEC_PER_SEC, 90 * USEC_PER_SEC,
		5400 * USEC_PER_SEC, 86400 * USEC_PER_SEC + 1, 3723 * USEC_PER_SEC + 4005,
		UINT64_MAX };
	char buf[64];

	ck_assert_str_eq(parse_format_duration(0, buf, sizeof(buf)), "0s");
	ck_assert_str_eq(parse_format_duration(500 * USEC_PER_MSEC, buf, sizeof(buf)), "500ms");
	ck_assert_str_eq(parse_format_duration(5400 * USEC_PER_SEC, buf, sizeof(buf)), "1h30m");
	ck_assert_str_eq(parse_format_duration(300 * USEC_PER_SEC, buf, sizeof(buf)), "5m");
	ck_assert_str_eq(parse_format_duration(1500, buf, sizeof(buf)), "1ms500us");
	ck_assert_str_eq(parse_format_duration(86400 * USEC_PER_SEC, buf, sizeof(buf)), "1d");
	/* Truncation keeps the buffer terminated. */
	ck_assert_str_eq(parse_format_duration(5400 * USEC_PER_SEC, buf, 4), "1h");
	ck_assert_str_eq(parse_format_duration(5400 * USEC_PER_SEC, buf, 6), "1h30m");
	ck_assert_str_eq(parse_format_duration(5400 * USEC_PER_SEC, buf, 5), "1h");
	ck_assert_str_eq(parse_format_duration(5400 * USEC_PER_SEC, buf, 1), "");
	ck_assert_str_eq(parse_format_duration(0, buf, 2), "0");
	ck_assert_str_eq(parse_format_duration(UINT64_MAX, buf, sizeof(buf)),
			"213503982d8h1m49s551ms615us");

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t back;

		parse_format_duration(values[i], buf, sizeof(buf));
		ck_assert_int_eq(parse_duration(buf, &back), 0);
		ck_assert_msg(back == values[i], "%s does not round-trip", buf);
	}
}
END_TEST

START_TEST(test_percent)
{
	double v = -1;

	ck_assert_int_eq(parse_percent("5", &v), 0);
	ck_assert(v == 5);
	ck_assert_int_eq(parse_percent("5%", &v), 0);
	ck_assert(v == 5);
	ck_assert_int_eq(parse_percent("0.25%", &v), 0);
	ck_assert(v == 0.25);
	ck_assert_int_eq(parse_percent("100", &v), 0);
	ck_assert(v == 100);
	ck_assert_int_eq(parse_percent("0", &v), 0);
	ck_assert(v == 0);
	ck_assert_int_eq(parse_percent("-0", &v), 0);
	ck_assert(v == 0 && !signbit(v));

	v = 42;
	ck_assert_int_eq(parse_percent("150", &v), -ERANGE);
	ck_assert_int_eq(parse_percent("100.000000001", &v), -ERANGE);
	ck_assert_int_eq(parse_percent("-1", &v), -ERANGE);
	ck_assert_int_eq(parse_percent("%", &v), -EINVAL);
	ck_assert_int_eq(parse_percent("", &v), -EINVAL);
	ck_assert_int_eq(parse_percent("5%%", &v), -EINVAL);
	ck_assert_int_eq(parse_percent("five", &v), -EINVAL);
	ck_assert_int_eq(parse_percent(" 5", &v), -EINVAL);
	ck_assert_int_eq(parse_percent("5 %", &v), -EINVAL);
	ck_assert_int_eq(parse_percent("nan", &v), -EINVAL);
	ck_assert_int_eq(parse_percent("inf", &v), -EINVAL);
	ck_assert_int_eq(parse_percent("1e1", &v), -EINVAL);
	ck_assert_int_eq(parse_percent("0x10", &v), -EINVAL);
	ck_assert(v == 42);
}
END_TEST

START_TEST(test_double_range)
{
	double v = 0;

	ck_assert_int_eq(parse_double_range("3600000", 0, 3600000, &v), 0);
	ck_assert(v == 3600000);
	ck_assert_int_eq(parse_double_range("-1.5", -2, 2, &v), 0);
	ck_assert(v == -1.5);
	ck_assert_int_eq(parse_double_range("0.123456789", 0, 1, &v), 0);
	ck_assert(v == 0.123456789);
	ck_assert_int_eq(parse_double_range("3600000.1", 0, 3600000, &v), -ERANGE);
	ck_assert_int_eq(parse_double_range("99999999999999999999999", 0, 1e30, &v), 0);
	ck_assert(v == 1e23);
	ck_assert_int_eq(parse_double_range("0.1234567891", 0, 1, &v), -EINVAL);
	ck_assert_int_eq(parse_double_range("+1", 0, 2, &v), -EINVAL);
	ck_assert_int_eq(parse_double_range("1.", 0, 2, &v), -EINVAL);
	ck_assert_int_eq(parse_double_range("--1", -2, 2, &v), -EINVAL);
	ck_assert_int_eq(parse_double_range("-", -2, 2, &v), -EINVAL);
	ck_assert_int_eq(parse_double_range(NULL, 0, 1, &v), -EINVAL);
}
END_TEST

START_TEST(test_double_locale)
{
	/* A program that sets a locale with a decimal comma must not change what "0.5" means. */
	double v = 0;
	char buf[32];

	if (!setlocale(LC_ALL, "de_DE.UTF-8") && !setlocale(LC_ALL, "fr_FR.UTF-8"))
		return; /* no such locale here: nothing to show */
	ck_assert_int_eq(parse_double_range("0.5", 0, 1, &v), 0);
	ck_assert(v == 0.5);
	ck_assert_str_eq(parse_format_double(0.25, buf, sizeof(buf)), "0.25");
	setlocale(LC_ALL, "C");
}
END_TEST

START_TEST(test_format_double)
{
	static const char *const texts[] = { "0", "1", "0.1", "0.3", "99.999999999", "3600000",
		"0.000000001", "1.005", "33.3", "12.5", "-2.75", "0.123456789" };
	char buf[64];

	ck_assert_str_eq(parse_format_double(25, buf, sizeof(buf)), "25");
	ck_assert_str_eq(parse_format_double(0.25, buf, sizeof(buf)), "0.25");
	ck_assert_str_eq(parse_format_double(-0.0, buf, sizeof(buf)), "0");
	ck_assert_str_eq(parse_format_double(3600000, buf, sizeof(buf)), "3600000");
	ck_assert_str_eq(parse_format_double(-2, buf, sizeof(buf)), "-2");
	ck_assert_str_eq(parse_format_double(999999999999999, buf, sizeof(buf)), "999999999999999");
	ck_assert_str_eq(parse_format_double(-999999999999999, buf, sizeof(buf)),
			"-999999999999999");
	/* Cut as snprintf() would, and terminated. */
	ck_assert_str_eq(parse_format_double(-25, buf, 3), "-2");
	ck_assert_str_eq(parse_format_double(25, buf, 1), "");
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		double v, back;

		ck_assert_int_eq(parse_double_range(texts[i], -1e9, 1e9, &v), 0);
		parse_format_double(v, buf, sizeof(buf));
		ck_assert_str_eq(buf, texts[i]);
		ck_assert_int_eq(parse_double_range(buf, -1e9, 1e9, &back), 0);
		ck_assert(back == v);
	}
}
END_TEST

START_TEST(test_u64_range)
{
	uint64_t v = 7;

	ck_assert_int_eq(parse_u64_range("0", 0, 10, &v), 0);
	ck_assert(v == 0);
	ck_assert_int_eq(parse_u64_range("65535", 1, 65535, &v), 0);
	ck_assert(v == 65535);
	ck_assert_int_eq(parse_u64_range("18446744073709551615", 0, UINT64_MAX, &v), 0);
	ck_assert(v == UINT64_MAX);
	v = 7;
	ck_assert_int_eq(parse_u64_range("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	ck_assert_int_eq(parse_u64_range("65536", 1, 65535, &v), -ERANGE);
	ck_assert_int_eq(parse_u64_range("0", 1, 65535, &v), -ERANGE);
	ck_assert_int_eq(parse_u64_range("-1", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64_range("+1", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64_range("1.0", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64_range("", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64_range("0x1", 0, 10, &v), -EINVAL);
	ck_assert(v == 7);
}
END_TEST

START_TEST(test_bool)
{
	static const char *const yes[] = { "yes", "true", "1", "on", "YES", "True", "ON" };
	static const char *const no[] = { "no", "false", "0", "off", "No", "FALSE", "Off" };
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		ck_assert_int_eq(parse_bool(yes[i], &b), 0);
		ck_assert(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		ck_assert_int_eq(parse_bool(no[i], &b), 0);
		ck_assert(!b);
	}
	b = true;
	ck_assert_int_eq(parse_bool("y", &b), -EINVAL);
	ck_assert_int_eq(parse_bool("2", &b), -EINVAL);
	ck_assert_int_eq(parse_bool("", &b), -EINVAL);
	ck_assert_int_eq(parse_bool(" yes", &b), -EINVAL);
	ck_assert_int_eq(parse_bool(NULL, &b), -EINVAL);
	ck_assert(b);
}
END_TEST

START_TEST(test_strip)
{
	char a[] = "  \t hello world \r\n", b[] = "", c[] = "   ", d[] = "x";

	ck_assert_ptr_eq(parse_strip(a), a);
	ck_assert_str_eq(a, "hello world");
	ck_assert_str_eq(parse_strip(b), "");
	ck_assert_str_eq(parse_strip(c), "");
	ck_assert_str_eq(parse_strip(d), "x");
	ck_assert_ptr_null(parse_strip(NULL));
}
END_TEST

START_TEST(test_sanitize)
{
	char buf[8];

	ck_assert_str_eq(utf8_ascii_safe("abc", buf, sizeof(buf)), "abc");
	ck_assert_str_eq(utf8_ascii_safe("a\nb\x01", buf, sizeof(buf)), "a?b?");
	ck_assert_str_eq(utf8_ascii_safe("abcdefgh", buf, sizeof(buf)), "abcd...");
	ck_assert_str_eq(utf8_ascii_safe("abcdefg", buf, sizeof(buf)), "abcdefg");
	ck_assert_str_eq(utf8_ascii_safe("\xc3\xa9", buf, sizeof(buf)), "??");
}
END_TEST

/* Pieces that do not fit are cut at the buffer's end, the text stays terminated, and the cut
 * is remembered; nothing is written past n. */
START_TEST(test_strbuf)
{
	char buf[12];
	struct strbuf sb;

	memset(buf, '#', sizeof(buf));
	strbuf_init(&sb, buf, 8);
	strbuf_puts(&sb, "ab");
	strbuf_putc(&sb, '=');
	strbuf_put_u64(&sb, 42);
	ck_assert_str_eq(buf, "ab=42");
	ck_assert(!sb.cut && sb.len == 5);
	strbuf_puts(&sb, "cdef");
	ck_assert_str_eq(buf, "ab=42cd");
	ck_assert(sb.cut && sb.len == 7);
	strbuf_putc(&sb, 'z');
	strbuf_put_u64(&sb, UINT64_MAX);
	strbuf_printf(&sb, "%d", 7);
	ck_assert_str_eq(buf, "ab=42cd");
	ck_assert(buf[8] == '#');

	memset(buf, '#', sizeof(buf));
	strbuf_init(&sb, buf, 10);
	strbuf_printf(&sb, "%s-%u", "ms", 20u);
	ck_assert_str_eq(buf, "ms-20");
	strbuf_printf(&sb, "%s", "123456789");
	ck_assert_str_eq(buf, "ms-201234");
	ck_assert(sb.cut && sb.len == 9 && buf[10] == '#');
	strbuf_put_u64(&sb, 0);
	ck_assert_str_eq(buf, "ms-201234");

	memset(buf, '#', sizeof(buf));
	strbuf_init(&sb, buf, 1);
	strbuf_puts(&sb, "a");
	ck_assert_str_eq(buf, "");
	ck_assert(sb.cut && sb.len == 0 && buf[1] == '#');

	strbuf_init(&sb, buf, sizeof(buf));
	strbuf_put_u64(&sb, UINT64_MAX);
	ck_assert_str_eq(buf, "18446744073"); /* 20 digits cut to 11 */
	ck_assert(sb.cut);
}
END_TEST

START_TEST(test_digits_before)
{
	char buf[21], *end = buf + sizeof(buf) - 1;

	*end = '\0';
	ck_assert_str_eq(parse_digits_before(end, 0, 10), "0");
	ck_assert_str_eq(parse_digits_before(end, 1234567890, 10), "1234567890");
	ck_assert_str_eq(parse_digits_before(end, UINT64_MAX, 10), "18446744073709551615");
	ck_assert_str_eq(parse_digits_before(end, 0xffff, 16), "ffff");
	ck_assert_str_eq(parse_digits_before(end, 0x1a0, 16), "1a0");
	ck_assert_str_eq(parse_digits_before(end, UINT64_MAX, 16), "ffffffffffffffff");
}
END_TEST

static Suite *parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_duration_ok);
	tcase_add_test(tc, test_duration_bad);
	tcase_add_test(tc, test_duration_range);
	tcase_add_test(tc, test_duration_format);
	tcase_add_test(tc, test_percent);
	tcase_add_test(tc, test_double_range);
	tcase_add_test(tc, test_double_locale);
	tcase_add_test(tc, test_format_double);
	tcase_add_test(tc, test_u64_range);
	tcase_add_test(tc, test_bool);
	tcase_add_test(tc, test_strip);
	tcase_add_test(tc, test_sanitize);
	tcase_add_test(tc, test_digits_before);
	tcase_add_test(tc, test_strbuf);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(parse_suite());
}
