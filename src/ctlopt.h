/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chaosctl's global options (before the verb), described once: chaosctl's parser and --help,
 * the completions (--list-global-options) and chaosctl(1) are driven by ctlopt_options[]. */

#include <stdbool.h>

#include "macro.h"

enum ctlopt_id {
	CTLOPT_HOST,
	CTLOPT_SOCKET,
	CTLOPT_JSON,
	CTLOPT_HELP,
	CTLOPT_VERSION,
	_CTLOPT_MAX,
};

struct ctlopt {
	enum ctlopt_id id;
	const char *name;    /* long form, without the dashes */
	char short_name;     /* 0: none */
	const char *metavar; /* NULL: a flag without a value */
	const char *env;     /* the environment variable used when the option is absent */
	const char *help;
};

extern const struct ctlopt ctlopt_options[];
extern const unsigned ctlopt_n_options;

/* Match ARG ("--name", "--name=VALUE", "-X", "-XVALUE") against the table. The option, or
 * NULL; *ret_value is the value written in ARG itself, or NULL if it is in the next argument. */
const struct ctlopt *ctlopt_match(const char *arg, const char **ret_value);
