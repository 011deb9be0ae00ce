/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <getopt.h>

#define DAEMON_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/chaosd"

/* chaosd's command-line options, described once: getopt, --help and chaosd(8) (man/genman.c)
 * are driven by this table. */
struct daemon_option {
	const char *name;
	int has_arg;
	int val;
	const char *metavar;
	const char *help; /* one line, for --help */
	const char *doc;  /* what chaosd(8) says beyond help, or NULL */
};

extern const struct daemon_option daemon_options[];
extern const unsigned daemon_n_options;
