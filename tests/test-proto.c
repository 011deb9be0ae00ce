/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>

#include "proto.h"
#include "utf8.h"
#include "test-util.h"

static struct proto_msg *roundtrip(struct proto_writer *w)
{
	struct proto_header h;
	struct proto_msg *m = NULL;
	const void *buf;
	size_t len;
	struct diag d;

	diag_init(&d);
	ck_assert_int_eq(proto_writer_finish(w, &buf, &len), 0);
	ck_assert_int_eq(proto_header_decode(buf, len, PROTO_MAX_REPLY, &h, &d), 0);
	ck_assert_uint_eq(h.length, len - PROTO_HEADER_SIZE);
	ck_assert_int_eq(proto_msg_decode(h.type, (const char *)buf + PROTO_HEADER_SIZE, h.length,
				 &m, &d), 0);
	return m;
}

START_TEST(test_roundtrip)
{
	struct proto_writer w;
	struct proto_msg *m;

	proto_writer_init(&w, PROTO_INJECT, PROTO_MAX_REQUEST);
	proto_put(&w, "kind", "latency");
	proto_put(&w, "edge", "db");
	proto_put(&w, "ms", "500");
	proto_put(&w, "note", "a=b with = signs");
	m = roundtrip(&w);
	ck_assert_uint_eq(m->type, PROTO_INJECT);
	ck_assert_uint_eq(m->n_fields, 4);
	ck_assert_str_eq(proto_msg_get(m, 0, "edge"), "db");
	ck_assert_str_eq(proto_msg_get(m, 0, "note"), "a=b with = signs");
	ck_assert_ptr_null(proto_msg_get(m, 0, "missing"));
	proto_msg_free(m);
	proto_writer_done(&w);
}
END_TEST

START_TEST(test_records)
{
	struct proto_writer w;
	struct proto_msg *m;
	unsigned i;

	proto_writer_init(&w, PROTO_REPLY_OK, PROTO_MAX_REPLY);
	proto_put(&w, "faults", "2");
	proto_record(&w, "fault");
	proto_put(&w, "id", "1");
	proto_record(&w, "fault");
	proto_put(&w, "id", "2");
	m = roundtrip(&w);
	/* Fields of a record are not visible from the top level or another record. */
	ck_assert_ptr_null(proto_msg_get(m, 0, "id"));
	i = proto_msg_next_record(m, 0);
	ck_assert_str_eq(proto_msg_get(m, i, "id"), "1");
	i = proto_msg_next_record(m, i);
	ck_assert_str_eq(proto_msg_get(m, i, "id"), "2");
	ck_assert_uint_eq(proto_msg_next_record(m, i), m->n_fields);
	proto_msg_free(m);
	proto_writer_done(&w);
}
END_TEST

START_TEST(test_header_errors)
{
	uint8_t buf[PROTO_HEADER_SIZE] = { 0 };
	uint32_t magic = htonl(PROTO_MAGIC), len;
	uint16_t ver = htons(PROTO_VERSION);
	struct proto_header h;
	struct diag d;

	diag_init(&d);
	ck_assert_int_eq(proto_header_decode(buf, 5, 100, &h, &d), -EBADMSG);
	ck_assert_int_eq(proto_header_decode(buf, sizeof(buf), 100, &h, &d), -EBADMSG);
	memcpy(buf, &magic, 4);
	ck_assert_int_eq(proto_header_decode(buf, sizeof(buf), 100, &h, &d), -EPROTONOSUPPORT);
	memcpy(buf + 4, &ver, 2);
	len = htonl(101);
	memcpy(buf + 8, &len, 4);
	ck_assert_int_eq(proto_header_decode(buf, sizeof(buf), 100, &h, &d), -EMSGSIZE);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "exceeds the limit of 100"));
	len = htonl(100);
	memcpy(buf + 8, &len, 4);
	ck_assert_int_eq(proto_header_decode(buf, sizeof(buf), 100, &h, &d), 0);
	ck_assert_uint_eq(h.length, 100);
}
END_TEST

START_TEST(test_payload_errors)
{
	struct proto_msg *m = NULL;
	struct diag d;

	diag_init(&d);
	/* Not NUL-terminated, no '=', bad key, empty key. */
	ck_assert_int_eq(proto_msg_decode(1, "a=b", 3, &m, &d), -EBADMSG);
	ck_assert_int_eq(proto_msg_decode(1, "ab\0", 3, &m, &d), -EBADMSG);
	ck_assert_int_eq(proto_msg_decode(1, "A=b\0", 4, &m, &d), -EBADMSG);
	ck_assert_int_eq(proto_msg_decode(1, "=b\0", 3, &m, &d), -EBADMSG);
	ck_assert_ptr_null(m);
	/* Empty payload is a valid message with no fields. */
	ck_assert_int_eq(proto_msg_decode(1, "", 0, &m, &d), 0);
	ck_assert_uint_eq(m->n_fields, 0);
	proto_msg_free(m);
}
END_TEST

START_TEST(test_writer_limits)
{
	struct proto_writer w;
	const void *buf;
	size_t len;
	char big[PROTO_MAX_VALUE + 2];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	proto_writer_init(&w, PROTO_INJECT, 64);
	proto_put(&w, "k", big);
	ck_assert_int_eq(proto_writer_finish(&w, &buf, &len), -EINVAL);
	proto_writer_done(&w);
	proto_writer_init(&w, PROTO_INJECT, 8);
	proto_put(&w, "key", "value-too-long");
	ck_assert_int_eq(proto_writer_finish(&w, &buf, &len), -EMSGSIZE);
	proto_writer_done(&w);
	proto_writer_init(&w, PROTO_INJECT, 64);
	proto_put(&w, "Bad", "x");
	ck_assert_int_eq(proto_writer_finish(&w, &buf, &len), -EINVAL);
	proto_writer_done(&w);
}
END_TEST

/* A one-field request "key=value" decoded; the diag's text, or "" when it was accepted. */
static const char *decode_field(uint16_t type, const char *key, const char *value, struct diag *d)
{
	char payload[256];
	struct proto_msg *m = NULL;
	int n = snprintf(payload, sizeof(payload), "%s=%s", key, value), r;

	ck_assert_int_lt(n, (int)sizeof(payload));
	diag_init(d);
	r = proto_msg_decode(type, payload, (size_t)n + 1, &m, d);
	if (r == 0) {
		ck_assert_str_eq(proto_msg_get(m, 0, key), value);
		proto_msg_free(m);
		return "";
	}
	ck_assert_int_eq(r, -EBADMSG);
	ck_assert_ptr_null(m);
	return diag_text(d);
}

START_TEST(test_request_text)
{
	static const struct {
		const char *key, *value, *error;
	} cases[] = {
		{ "reason", "db maintenance \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", "" },
		{ "reason", "\xF4\x8F\xBF\xBF U+10FFFF and U+FEFF \xEF\xBB\xBF", "" },
		/* C0, ESC, DEL, C1 (CSI as U+009B) */
		{ "reason", "abcd\x1b[2J", "reason: control character U+001B at byte 4" },
		{ "reason", "a\nb", "reason: control character U+000A at byte 1" },
		{ "edge", "db\x7f", "edge: control character U+007F at byte 2" },
		{ "run", "r\xC2\x9B" "1m", "run: control character U+009B at byte 1" },
		{ "reason", "tab\there", "reason: control character U+0009 at byte 3" },
		/* invalid UTF-8, each class */
		{ "reason", "\xC0\xAF", "reason: invalid UTF-8 at byte 0 (overlong encoding)" },
		{ "reason", "ab\xE0\x80\xAF", "reason: invalid UTF-8 at byte 2 (overlong encoding)" },
		{ "reason", "\xF0\x80\x80\xAF", "reason: invalid UTF-8 at byte 0 (overlong encoding)" },
		{ "id", "\xED\xA0\x80", "id: invalid UTF-8 at byte 0 (surrogate)" },
		{ "id", "1\xED\xBF\xBF", "id: invalid UTF-8 at byte 1 (surrogate)" },
		{ "file", "\xF4\x90\x80\x80", "file: invalid UTF-8 at byte 0 (above U+10FFFF)" },
		{ "file", "\xF7\xBF\xBF\xBF", "file: invalid UTF-8 at byte 0 (above U+10FFFF)" },
		{ "reason", "x\xFF", "reason: invalid UTF-8 at byte 1 (not the start of a character)" },
		{ "reason", "\x80", "reason: invalid UTF-8 at byte 0 (not the start of a character)" },
		{ "reason", "\xF8\x88\x80\x80\x80",
		  "reason: invalid UTF-8 at byte 0 (not the start of a character)" },
		{ "reason", "ab\xE2\x82", "reason: invalid UTF-8 at byte 2 (truncated sequence)" },
		{ "reason", "\xE2(\xAC", "reason: invalid UTF-8 at byte 0 (truncated sequence)" },
		/* a scenario line: tabs and a final CR (CRLF files), nothing else */
		{ "line", "ms\t= 200\r", "" },
		{ "line", "ms = 200\r\r", "line: control character U+000D at byte 8" },
		{ "line", "a\rb", "line: control character U+000D at byte 1" },
		{ "line", "a\x1b", "line: control character U+001B at byte 1" },
		{ "line", "a\xC3", "line: invalid UTF-8 at byte 1 (truncated sequence)" },
	};
	struct diag d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(decode_field(PROTO_KILL, cases[i].key, cases[i].value, &d),
				cases[i].error);
	/* Replies are shown escaped, not refused: an older daemon may have stored anything. */
	ck_assert_str_eq(decode_field(PROTO_REPLY_OK, "reason", "a\x1b\xFF\nb", &d), "");
	ck_assert_str_eq(decode_field(PROTO_REPLY_ERROR, "message", "\xC0\xAF", &d), "");
}
END_TEST

/* What utf8_fputs_json/utf8_fputs_term print for s. */
static char *render(const char *s, int json, unsigned allow)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	ck_assert_ptr_nonnull(f);
	if (json)
		utf8_fputs_json(s, f);
	else
		utf8_fputs_term(s, allow, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

START_TEST(test_render)
{
	static const struct {
		const char *in, *json, *term;
	} cases[] = {
		{ "plain \"q\" \\ \xC3\xA9", "\"plain \\\"q\\\" \\\\ \xC3\xA9\"",
		  "plain \"q\" \\ \xC3\xA9" },
		{ "esc\x1b[31m", "\"esc\\u001b[31m\"", "esc\\x1b[31m" },
		{ "a\nb\tc\rd", "\"a\\nb\\u0009c\\u000dd\"", "a\\x0ab\\x09c\\x0dd" },
		{ "del\x7f csi\xC2\x9B", "\"del\\u007f csi\\u009b\"", "del\\x7f csi\\xc2\\x9b" },
		{ "bad\xFF\xC0\xAF", "\"bad\\ufffd\\ufffd\\ufffd\"",
		  "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "sur\xED\xA0\x80", "\"sur\\ufffd\\ufffd\\ufffd\"",
		  "sur\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "cut\xE2\x82", "\"cut\\ufffd\\ufffd\"", "cut\xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "", "\"\"", "" },
	};
	char *out;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = render(cases[i].in, 1, 0);
		ck_assert_str_eq(out, cases[i].json);
		free(out);
		out = render(cases[i].in, 0, 0);
		ck_assert_str_eq(out, cases[i].term);
		free(out);
		/* Whatever went in, the terminal form is itself acceptable text. */
		out = utf8_term_safe(cases[i].in, 0);
		ck_assert_ptr_nonnull(out);
		ck_assert_str_eq(out, cases[i].term);
		ck_assert_int_eq(utf8_text_check(out, 0, (char[64]){ 0 }, 64), 0);
		free(out);
	}
	/* Allowed controls pass through to the terminal. */
	out = render("a\tb\nc", 0, UTF8_ALLOW_TAB | UTF8_ALLOW_NEWLINE);
	ck_assert_str_eq(out, "a\tb\nc");
	free(out);
}
END_TEST

/* Every byte string gives valid JSON text: checked by decoding the output strictly. */
START_TEST(test_render_any_bytes)
{
	static const unsigned char third[] = { 0x80, 0xBF, 'a' };
	char in[4], *out;

	/* every pair of bytes, then a continuation byte or not */
	for (unsigned v = 0x100; v < 0x10000; v++)
		for (size_t t = 0; t < sizeof(third); t++) {
			in[0] = (char)(v >> 8);
			in[1] = (char)(v & 0xff);
			in[2] = (char)third[t];
			in[3] = '\0';
			out = render(in, 1, 0);
			ck_assert_int_eq(utf8_text_check(out, 0, (char[64]){ 0 }, 64), 0);
			free(out);
		}
}
END_TEST

START_TEST(test_verb_table)
{
	/* Every verb is findable by name and by type, and names are unique. */
	for (unsigned i = 0; i < proto_n_verbs; i++) {
		ck_assert_ptr_eq(proto_verb_find(proto_verbs[i].name), &proto_verbs[i]);
		ck_assert_ptr_eq(proto_verb_by_type(proto_verbs[i].type), &proto_verbs[i]);
		ck_assert_ptr_nonnull(proto_verbs[i].summary);
	}
	ck_assert_ptr_null(proto_verb_find("nope"));
	ck_assert_ptr_null(proto_verb_by_type(PROTO_REPLY_OK));
	ck_assert_int_eq(proto_verb_find("kill")->access, PROTO_WRITE);
	ck_assert_int_eq(proto_verb_find("status")->access, PROTO_READ);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_records);
	tcase_add_test(tc, test_header_errors);
	tcase_add_test(tc, test_payload_errors);
	tcase_add_test(tc, test_writer_limits);
	tcase_add_test(tc, test_verb_table);
	tcase_add_test(tc, test_request_text);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_render_any_bytes);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
