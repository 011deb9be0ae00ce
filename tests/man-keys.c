/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For tests/man-tests.sh: the keys the parsers accept, straight from their tables, one
 * "TABLE KEY" per line, so a key added without documentation fails the man page test. */
#include <stdio.h>

#include "config.h"
#include "fault.h"
#include "scenario.h"

int main(void)
{
	for (unsigned i = 0; i < config_n_keys; i++)
		printf("config %s\n", config_keys[i].name);
	for (unsigned i = 0; i < scenario_n_keys; i++)
		printf("scenario %s\n", scenario_keys[i].name);
	for (unsigned i = 0; i < fault_n_keys; i++)
		printf("fault %s\n", fault_keys[i].name);
	return 0;
}
