/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "prom.h"
#include "test-util.h"

START_TEST(test_url_encoding)
{
	char buf[256];

	ck_assert_int_eq(prom_query_url("http://10.0.0.1:9090", "up", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "http://10.0.0.1:9090/api/v1/query?query=up");
	/* a path prefix keeps, a trailing slash does not double */
	ck_assert_int_eq(prom_query_url("https://[fd00::1]:9090/prom/", "a_b-c.d~e", buf,
			sizeof(buf)), 0);
	ck_assert_str_eq(buf, "https://[fd00::1]:9090/prom/api/v1/query?query=a_b-c.d~e");
	/* every reserved or unsafe byte is percent-encoded, upper-case hex; UTF-8 bytewise */
	ck_assert_int_eq(prom_query_url("http://h", "ALERTS{alertname=\"High Err\",x=~\"a|b\"} > 0",
			buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "http://h/api/v1/query?query=ALERTS%7Balertname%3D%22High%20Err%22"
			"%2Cx%3D~%22a%7Cb%22%7D%20%3E%200");
	ck_assert_int_eq(prom_query_url("http://h", "rate(x[1m])/2+1&y=\xc3\xa9#%", buf,
			sizeof(buf)), 0);
	ck_assert_str_eq(buf, "http://h/api/v1/query?query=rate%28x%5B1m%5D%29%2F2%2B1%26y%3D"
			"%C3%A9%23%25");
}
END_TEST

START_TEST(test_url_too_long)
{
	char buf[35];

	/* exactly fits: 28 + 6 = 34 characters and the NUL */
	ck_assert_int_eq(prom_query_url("http://h", "abcdef", buf, sizeof(buf)), 0);
	ck_assert_uint_eq(strlen(buf), 34);
	ck_assert_int_eq(prom_query_url("http://h", "abcdefg", buf, sizeof(buf)), -ENAMETOOLONG);
	/* an escape that would be cut in half does not fit either */
	ck_assert_int_eq(prom_query_url("http://h", "abcd ", buf, sizeof(buf)), -ENAMETOOLONG);
	ck_assert_int_eq(prom_query_url("http://h", "", buf, 10), -ENAMETOOLONG);
}
END_TEST

static int parse(const char *json, double *v, unsigned *series, char *why, size_t n)
{
	*v = -1;
	*series = 99;
	return prom_parse_answer(json, strlen(json), v, series, why, n);
}

START_TEST(test_parse_values)
{
	char why[256] = "";
	unsigned series;
	double v;

	ck_assert_int_eq(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
			"\"result\":[{\"metric\":{\"job\":\"a\"},\"value\":[1700000000.5,\"0.25\"]}]}}",
			&v, &series, why, sizeof(why)), 0);
	ck_assert_double_eq(v, 0.25);
	ck_assert_uint_eq(series, 1);
	/* several series: the largest value */
	ck_assert_int_eq(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
			"\"result\":[{\"metric\":{},\"value\":[1,\"-3\"]},{\"metric\":{},\"value\":"
			"[1,\"7.5\"]},{\"metric\":{},\"value\":[1,\"2\"]}]}}\n", &v, &series, why,
			sizeof(why)), 0);
	ck_assert_double_eq(v, 7.5);
	ck_assert_uint_eq(series, 3);
	/* no series (no firing alert): 0 */
	ck_assert_int_eq(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
			"\"result\":[]}}", &v, &series, why, sizeof(why)), 0);
	ck_assert_double_eq(v, 0);
	ck_assert_uint_eq(series, 0);
	ck_assert_int_eq(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
			"\"result\":[1,\"+Inf\"]}}", &v, &series, why, sizeof(why)), 0);
	ck_assert(isinf(v) && v > 0);
	ck_assert_uint_eq(series, 1);
	ck_assert_int_eq(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
			"\"result\":[1,\"1e-3\"]},\"warnings\":[\"x\"]}", &v, &series, why,
			sizeof(why)), 0);
	ck_assert_double_eq(v, 0.001);
}
END_TEST

static void refused(const char *json, const char *expect)
{
	char why[256] = "";
	unsigned series;
	double v;

	ck_assert_int_eq(parse(json, &v, &series, why, sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, expect), "'%s': '%s' lacks '%s'", json, why, expect);
	/* outputs untouched */
	ck_assert_double_eq(v, -1);
	ck_assert_uint_eq(series, 99);
}

START_TEST(test_parse_refused)
{
	refused("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"1:5: parse error: "
			"unexpected <EOF>\"}", "Prometheus answered error: bad_data: 1:5: parse error");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}",
			"result is a matrix");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,\"a\"]}}",
			"result is a string");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\""
			":{},\"value\":[1,\"NaN\"]}]}}", "NaN");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\""
			":{},\"value\":[1,\"12abc\"]}]}}", "'12abc' is not a number");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\""
			":{},\"value\":[1,3]}]}}", "not [time, \"value\"]");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\""
			":{}}]}}", "series 0 of the vector has no value");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":{}}}",
			"not an array");
	refused("{\"status\":\"success\"}", "no data.resultType");
	refused("{\"data\":{}}", "no status");
	refused("[1,2]", "no status");
	refused("<html>502 Bad Gateway</html>", "not JSON");
	refused("{\"status\":\"succ", "not JSON (it ends early)");
	refused("{\"status\":\"success\"} {}", "not JSON (data after the object)");
	refused("", "not JSON");
}
END_TEST

static Suite *prom_suite(void)
{
	Suite *s = suite_create("prom");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_url_encoding);
	tcase_add_test(tc, test_url_too_long);
	tcase_add_test(tc, test_parse_values);
	tcase_add_test(tc, test_parse_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(prom_suite());
}
