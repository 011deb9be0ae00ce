/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>

#include "proto.h"
#include "scenario.h"
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

/* Every byte string gives valid JSON text: checked by decoding the output strictly. One
 * stream per first byte (and no assertion per string: Check logs each one). */
START_TEST(test_render_any_bytes)
{
	static const unsigned char third[] = { 0x80, 0xBF, 'a' };
	char in[4], why[64], *out = NULL;
	size_t size = 0;

	for (unsigned b0 = 1; b0 < 0x100; b0++) {
		FILE *f = open_memstream(&out, &size);

		ck_assert_ptr_nonnull(f);
		/* every second byte, then a continuation byte or not */
		for (unsigned b1 = 0; b1 < 0x100; b1++)
			for (size_t t = 0; t < sizeof(third); t++) {
				in[0] = (char)b0;
				in[1] = (char)b1;
				in[2] = (char)third[t];
				in[3] = '\0';
				utf8_fputs_json(in, f);
			}
		ck_assert_int_eq(fclose(f), 0);
		ck_assert_msg(utf8_text_check(out, 0, why, sizeof(why)) == 0, "0x%02x: %s", b0, why);
		free(out);
	}
}
END_TEST

/* A scenario of n steps padded to size bytes with blank lines and a last comment line without
 * its newline: the costliest encoding a file of that size can have. */
static char *scenario_text(unsigned steps, size_t size)
{
	char *text = malloc(size + 1);
	size_t len;
	int n;

	ck_assert_ptr_nonnull(text);
	n = snprintf(text, size + 1, "[scenario]\nname = big\n");
	len = (size_t)n;
	for (unsigned i = 1; i <= steps; i++) {
		n = snprintf(text + len, size + 1 - len,
				"[step %u]\nat = %us\nfault = latency\nedge = db\nms = 1\nfor = 1s\n",
				i, i - 1);
		ck_assert_uint_lt((size_t)n, size + 1 - len);
		len += (size_t)n;
	}
	ck_assert_uint_lt(len, size);
	memset(text + len, '\n', size - len - 1);
	text[size - 1] = '#';
	text[size] = '\0';
	return text;
}

/* Encode text as chaosctl does, decode as the daemon does, and load what arrives. */
static int send_scenario(const char *text, size_t len, const char *path, struct scenario **ret,
		struct diag *d)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	_cleanup_free_ char *joined = NULL;
	struct proto_header h;
	struct proto_writer w;
	const void *buf;
	size_t n, joined_len;
	int r;

	proto_writer_init(&w, PROTO_RUN, PROTO_MAX_REQUEST);
	proto_put(&w, "file", path);
	proto_put_lines(&w, "line", text, len);
	r = proto_writer_finish(&w, &buf, &n);
	if (r < 0) {
		proto_writer_done(&w);
		return diag_add(d, r, "encoding failed");
	}
	ck_assert_uint_le(n - PROTO_HEADER_SIZE, SCENARIO_REQUEST_MAX);
	r = proto_header_decode(buf, n, PROTO_MAX_REQUEST, &h, d);
	if (r >= 0)
		r = proto_msg_decode(h.type, (const char *)buf + PROTO_HEADER_SIZE, h.length, &m, d);
	proto_writer_done(&w);
	if (r < 0)
		return r;
	ck_assert_int_eq(proto_msg_join_lines(m, "line", &joined, &joined_len), 0);
	ck_assert_uint_le(joined_len, len);
	return scenario_load_string(joined, joined_len, proto_msg_get(m, 0, "file"), ret, d);
}

/* Whatever the documented scenario limits allow is sendable in one request; one past a limit
 * gets an error naming it. */
START_TEST(test_scenario_limits)
{
	char path[PATH_MAX];
	struct scenario *sc = NULL;
	struct diag d;
	char *text;

	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';

	/* SCENARIO_STEPS_MAX steps in a file of SCENARIO_FILE_MAX bytes, the longest name */
	text = scenario_text(SCENARIO_STEPS_MAX, SCENARIO_FILE_MAX);
	diag_init(&d);
	ck_assert_msg(send_scenario(text, SCENARIO_FILE_MAX, path, &sc, &d) == 0, "%s",
			diag_text(&d));
	ck_assert_uint_eq(sc->n_steps, SCENARIO_STEPS_MAX);
	sc = scenario_free(sc);
	free(text);

	/* The worst case is exactly the bound: newlines, then one byte without its newline. */
	text = malloc(SCENARIO_FILE_MAX);
	ck_assert_ptr_nonnull(text);
	memset(text, '\n', SCENARIO_FILE_MAX - 1);
	text[SCENARIO_FILE_MAX - 1] = '#';
	{
		struct proto_writer w;
		const void *buf;
		size_t n;

		proto_writer_init(&w, PROTO_RUN, PROTO_MAX_REQUEST);
		proto_put(&w, "file", path);
		proto_put_lines(&w, "line", text, SCENARIO_FILE_MAX);
		ck_assert_int_eq(proto_writer_finish(&w, &buf, &n), 0);
		ck_assert_uint_eq(n - PROTO_HEADER_SIZE + 1, SCENARIO_REQUEST_MAX);
		proto_writer_done(&w);
	}
	free(text);

	/* one byte more */
	text = scenario_text(SCENARIO_STEPS_MAX, SCENARIO_FILE_MAX + 1);
	diag_init(&d);
	ck_assert_int_eq(send_scenario(text, SCENARIO_FILE_MAX + 1, "big.scenario", &sc, &d),
			-EFBIG);
	ck_assert_str_eq(diag_text(&d), "big.scenario: larger than 262144 bytes");
	ck_assert_ptr_null(sc);
	free(text);

	/* one step more */
	text = scenario_text(SCENARIO_STEPS_MAX + 1, SCENARIO_FILE_MAX);
	diag_init(&d);
	ck_assert_int_eq(send_scenario(text, SCENARIO_FILE_MAX, "big.scenario", &sc, &d),
			-EINVAL);
	ck_assert_msg(strstr(diag_text(&d), "more than 1000 steps"), "%s", diag_text(&d));
	ck_assert_ptr_null(sc);
	free(text);
}
END_TEST

/* The request limit itself, on both sides. */
START_TEST(test_request_limit)
{
	uint8_t hdr[PROTO_HEADER_SIZE] = { 'C', 'H', 'D', 'P', 0, PROTO_VERSION, 0, PROTO_RUN };
	struct proto_header h;
	struct proto_writer w;
	const void *buf;
	char *big;
	size_t len;
	struct diag d;
	uint32_t n;

	n = htonl(PROTO_MAX_REQUEST);
	memcpy(hdr + 8, &n, 4);
	diag_init(&d);
	ck_assert_int_eq(proto_header_decode(hdr, sizeof(hdr), PROTO_MAX_REQUEST, &h, &d), 0);
	n = htonl(PROTO_MAX_REQUEST + 1);
	memcpy(hdr + 8, &n, 4);
	ck_assert_int_eq(proto_header_decode(hdr, sizeof(hdr), PROTO_MAX_REQUEST, &h, &d),
			-EMSGSIZE);
	ck_assert_str_eq(diag_text(&d), "message of 2097153 bytes exceeds the limit of 2097152");

	/* "l=" + 1 + NUL per line: a text of PROTO_MAX_REQUEST / 4 lines of one byte fills it */
	big = malloc(PROTO_MAX_REQUEST / 2 + 1);
	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < PROTO_MAX_REQUEST / 2; i += 2)
		memcpy(big + i, "x\n", 2);
	proto_writer_init(&w, PROTO_RUN, PROTO_MAX_REQUEST);
	proto_put_lines(&w, "l", big, PROTO_MAX_REQUEST / 2);
	ck_assert_int_eq(proto_writer_finish(&w, &buf, &len), 0);
	ck_assert_uint_eq(len, PROTO_HEADER_SIZE + PROTO_MAX_REQUEST);
	proto_writer_done(&w);
	proto_writer_init(&w, PROTO_RUN, PROTO_MAX_REQUEST);
	proto_put_lines(&w, "l", big, PROTO_MAX_REQUEST / 2);
	proto_put(&w, "k", "");
	ck_assert_int_eq(proto_writer_finish(&w, &buf, &len), -EMSGSIZE);
	proto_writer_done(&w);
	free(big);
}
END_TEST

START_TEST(test_lines)
{
	static const char *const texts[] = { "a\nb\n", "a\nb", "\n\n", "", "one", "a\n\nb\r\n" };
	static const char *const joined[] = { "a\nb", "a\nb", "\n", NULL, "one", "a\n\nb\r" };
	struct proto_writer w;
	struct proto_msg *m;
	char *out = NULL;
	size_t len = 0;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		proto_writer_init(&w, PROTO_RUN, PROTO_MAX_REQUEST);
		proto_put(&w, "file", "f");
		proto_put_lines(&w, "line", texts[i], strlen(texts[i]));
		m = roundtrip(&w);
		if (!joined[i])
			ck_assert_int_eq(proto_msg_join_lines(m, "line", &out, &len), -ENOENT);
		else {
			ck_assert_int_eq(proto_msg_join_lines(m, "line", &out, &len), 0);
			ck_assert_str_eq(out, joined[i]);
			ck_assert_uint_eq(len, strlen(joined[i]));
			free(out);
		}
		proto_msg_free(m);
		proto_writer_done(&w);
	}
	/* a NUL, a line too long for one value */
	proto_writer_init(&w, PROTO_RUN, PROTO_MAX_REQUEST);
	proto_put_lines(&w, "line", "a\0b", 3);
	ck_assert_int_eq(proto_writer_finish(&w, &(const void *){ NULL }, &len), -EINVAL);
	proto_writer_done(&w);
	out = malloc(PROTO_MAX_VALUE + 1);
	ck_assert_ptr_nonnull(out);
	memset(out, 'x', PROTO_MAX_VALUE + 1);
	proto_writer_init(&w, PROTO_RUN, PROTO_MAX_REQUEST);
	proto_put_lines(&w, "line", out, PROTO_MAX_VALUE);
	ck_assert_int_eq(w.err, 0);
	proto_put_lines(&w, "line", out, PROTO_MAX_VALUE + 1);
	ck_assert_int_eq(proto_writer_finish(&w, &(const void *){ NULL }, &len), -EINVAL);
	proto_writer_done(&w);
	free(out);
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
	tcase_add_test(tc, test_lines);
	tcase_add_test(tc, test_request_text);
	tcase_add_test(tc, test_render);
	suite_add_tcase(s, tc);
	/* megabytes of requests: slow under the sanitizers on a busy machine */
	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_render_any_bytes);
	tcase_add_test(tc, test_request_limit);
	tcase_add_test(tc, test_scenario_limits);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
