/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Kernel tests in private network namespaces: a shell helper and a pair of namespaces (this
 * process's and a child's) for the two ends of a veth. */

#include <check.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"

static inline int sh(const char *fmt, ...) _printf_(1, 2);
static inline int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

#define SH(...) ck_assert_msg(sh(__VA_ARGS__) == 0, "failed: " __VA_ARGS__)

/* Move this process into a new network namespace and fork a child that waits in another new
 * one, for the peer end of a veth (ip link ... netns PID). Returns the child: SIGKILL and reap
 * it when done. */
static inline pid_t test_netns_pair(void)
{
	pid_t peer;
	int p[2];
	char c;

	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	ck_assert_int_eq(pipe(p), 0);
	peer = fork();
	ck_assert_int_ge(peer, 0);
	if (peer == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		(void)!write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return peer;
}

/* test_run_suite() for tests that unshare a namespace each: every test in its own process. */
static inline int test_run_suite_forked(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
