/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A test that cannot run here skips with the reason on a developer's machine, but in CI
 * (CI=true) a missing prerequisite is a failure: nothing may pass by not running. */
static inline int test_skip(const char *test, const char *why)
{
	const char *ci = getenv("CI");

	if (ci && strcmp(ci, "true") == 0) {
		fprintf(stderr, "%s: FAIL: %s (CI=true: a skip is a failure)\n", test, why);
		return EXIT_FAILURE;
	}
	fprintf(stderr, "%s: SKIP: %s\n", test, why);
	return 77;
}

/* Run a suite the way every test program here does; the exit status is what automake reads. */
static inline int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
