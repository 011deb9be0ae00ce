/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>

#include "proto.h"
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
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
