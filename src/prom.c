/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "prom.h"

int prom_query_url(const char *base, const char *query, char *buf, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t bl = strlen(base), len;

	while (bl && base[bl - 1] == '/')
		bl--;
	len = (size_t)snprintf(buf, n, "%.*s/api/v1/query?query=", (int)bl, base);
	if (len >= n)
		return -ENAMETOOLONG;
	for (const unsigned char *c = (const unsigned char *)query; *c; c++) {
		bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			     (*c >= '0' && *c <= '9') || strchr("-._~", *c);

		if (len + (plain ? 1 : 3) >= n)
			return -ENAMETOOLONG;
		if (plain)
			buf[len++] = (char)*c;
		else {
			buf[len++] = '%';
			buf[len++] = hex[*c >> 4];
			buf[len++] = hex[*c & 15];
		}
	}
	buf[len] = '\0';
	return 0;
}

static const char *get_string(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* [ <unix time>, "<value>" ]: Prometheus sends the value as a string ("1.5", "NaN", "+Inf"). */
static int sample_value(struct json_object *pair, double *ret, char *why, size_t n)
{
	struct json_object *v;
	const char *s;
	char *end;
	double d;

	if (!json_object_is_type(pair, json_type_array) || json_object_array_length(pair) != 2 ||
			!(v = json_object_array_get_idx(pair, 1)) ||
			!json_object_is_type(v, json_type_string)) {
		snprintf(why, n, "a sample is not [time, \"value\"]");
		return -EINVAL;
	}
	s = json_object_get_string(v);
	errno = 0;
	d = strtod(s, &end);
	if (end == s || *end || (errno && !isinf(d))) {
		snprintf(why, n, "the value '%.40s' is not a number", s);
		return -EINVAL;
	}
	if (isnan(d)) {
		/* NaN compares false with every threshold: neither an abort nor a held state. */
		snprintf(why, n, "the query's value is NaN");
		return -EINVAL;
	}
	*ret = d;
	return 0;
}

static int parse_data(struct json_object *root, double *ret_value, unsigned *ret_series,
		char *why, size_t n)
{
	struct json_object *data, *result;
	const char *type;
	double best = -INFINITY;
	size_t count;
	int r;

	if (!json_object_object_get_ex(root, "data", &data) ||
			!json_object_is_type(data, json_type_object) ||
			!(type = get_string(data, "resultType")) ||
			!json_object_object_get_ex(data, "result", &result)) {
		snprintf(why, n, "no data.resultType and data.result in the answer");
		return -EINVAL;
	}
	if (streq(type, "scalar")) {
		r = sample_value(result, ret_value, why, n);
		if (r >= 0)
			*ret_series = 1;
		return r;
	}
	if (!streq(type, "vector")) {
		snprintf(why, n, "the query's result is a %.20s (allowed: an instant vector or a "
				"scalar; wrap a range selector in a function, e.g. rate(x[1m]))", type);
		return -EINVAL;
	}
	if (!json_object_is_type(result, json_type_array)) {
		snprintf(why, n, "data.result is not an array");
		return -EINVAL;
	}
	count = json_object_array_length(result);
	for (size_t i = 0; i < count; i++) {
		struct json_object *series = json_object_array_get_idx(result, i), *pair;
		double v;

		if (!json_object_is_type(series, json_type_object) ||
				!json_object_object_get_ex(series, "value", &pair)) {
			snprintf(why, n, "series %zu of the vector has no value", i);
			return -EINVAL;
		}
		r = sample_value(pair, &v, why, n);
		if (r < 0)
			return r;
		best = MAX(best, v);
	}
	*ret_value = count ? best : 0;
	*ret_series = (unsigned)MIN(count, (size_t)UINT32_MAX);
	return 0;
}

int prom_parse_answer(const char *json, size_t len, double *ret_value, unsigned *ret_series,
		char *why, size_t n)
{
	struct json_tokener *tok;
	struct json_object *root;
	const char *status;
	bool trailing = false;
	int r;

	if (len > INT32_MAX) {
		snprintf(why, n, "the answer is too large");
		return -EINVAL;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (root && json_tokener_get_error(tok) == json_tokener_success)
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!strchr(" \t\r\n", json[i])) {
				json_object_put(root);
				root = NULL;
				trailing = true;
				break;
			}
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		snprintf(why, n, "the answer is not JSON (%s)", trailing ? "data after the object" :
				e == json_tokener_continue ? "it ends early" :
				json_tokener_error_desc(e));
		json_object_put(root);
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(root, json_type_object) || !(status = get_string(root, "status"))) {
		snprintf(why, n, "the answer has no status");
		r = -EINVAL;
	} else if (!streq(status, "success")) {
		const char *et = get_string(root, "errorType"), *err = get_string(root, "error");

		snprintf(why, n, "Prometheus answered %.20s: %.40s: %.160s", status,
				et ? et : "?", err ? err : "no error text");
		r = -EINVAL;
	} else
		r = parse_data(root, ret_value, ret_series, why, n);
	json_object_put(root);
	return r;
}
