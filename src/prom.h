/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Prometheus' instant query API (GET /api/v1/query): the URL of a query and the one value a
 * prometheus probe reads from the answer. */

#include <stddef.h>

/* base ("http://10.0.0.1:9090" or with a path prefix, no trailing '/' needed) +
 * "/api/v1/query?query=" + query percent-encoded (RFC 3986: everything but unreserved
 * characters). -ENAMETOOLONG when it does not fit in n. */
int prom_query_url(const char *base, const char *query, char *buf, size_t n);

/* The value of a query's JSON answer: status "success" and resultType "vector" (the largest
 * value of its series; an empty vector is 0: nothing matched, e.g. no firing alert) or
 * "scalar". Anything else (an error answer, a matrix, a string, NaN, not JSON) is -EINVAL
 * with why saying what it was. ret_series: how many series the vector had (1 for a scalar). */
int prom_parse_answer(const char *json, size_t len, double *ret_value, unsigned *ret_series,
		char *why, size_t n);
