/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chaosctl's global options (before the verb), described once: chaosctl's parser and --help,
 * the completions (--list-global-options) and chaosctl(1) are driven by ctlopt_options[]. */

#include <stdbool.h>

#include "macro.h"
#include "proto.h"

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

/* chaosctl's exit status, one meaning per number for every verb: chaosctl's code, --help and
 * chaosctl(1)'s EXIT STATUS come from ctlopt_exits[]. 1 and 2 are a run's outcomes because chaosd's
 * reports carry them as exit_code (and systemd units and CI jobs gate on them). */
enum ctlopt_exit {
	CTLOPT_EXIT_OK = 0,
	CTLOPT_EXIT_VIOLATED = 1,
	CTLOPT_EXIT_ABORTED = 2,
	CTLOPT_EXIT_FAILED = 3,
	CTLOPT_EXIT_USAGE = 4,
	CTLOPT_EXIT_UNREACHABLE = 5,
	_CTLOPT_EXIT_MAX,
};

struct ctlopt_exit_code {
	enum ctlopt_exit code;
	const char *name;    /* for --help and chaosctl(1) */
	const char *meaning;
};

/* Indexed by the code. */
extern const struct ctlopt_exit_code ctlopt_exits[_CTLOPT_EXIT_MAX];

/* Match ARG ("--name", "--name=VALUE", "-X", "-XVALUE") against the table. The option, or
 * NULL; *ret_value is the value written in ARG itself, or NULL if it is in the next argument. */
const struct ctlopt *ctlopt_match(const char *arg, const char **ret_value);

/* The options of a verb's group form (chaosctl -H a,b,c VERB ... --topology): ctl/group.c
 * parses them by this table and chaosctl --list-options (the completions) lists them with the
 * verb's own; proto_verbs[]' usage shows them in --help and chaosctl(1). */
struct ctlopt_group {
	enum proto_type verb;
	const char *name;    /* without the dashes */
	const char *metavar; /* NULL: a flag without a value */
	const char *help;    /* chaosctl(1) shows it once per name, with the first row's */
};

extern const struct ctlopt_group ctlopt_group_options[];
extern const unsigned ctlopt_n_group_options;
/* VERB's group option NAME ("seed"), or NULL. */
const struct ctlopt_group *ctlopt_group_find(enum proto_type verb, const char *name);
