/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chaosctl -H a,b,c ... --topology: partitions over a group of hosts as one operation.
 *   inject partition --topology SPEC [--mode M] [--connections C] [--for D] [--lease L]
 *                    [--seed N] [--detach]
 *   plan --topology SPEC [--seed N]
 *   status --topology
 * Every host has a name (-H NAME=URL, or the URL's host name), and the address its peers use
 * to reach it is the destination of the edge of that name in each peer's chaosd.conf: on host
 * a, [edge b] is how a talks to b. chaosctl reads every host's edges before it applies
 * anything, so a missing edge is refused with nothing applied; the daemon's own guard rails
 * (max_partition_duration, deny_interfaces, the SSH guard) still decide each partition. */

#include <stdbool.h>

#include "proto.h"

/* Whether ARGV (a verb's arguments) asks for a topology. */
bool group_wanted(int argc, char **argv);
/* chaosctl's transport: one request to the host remote_connect() reaches. 0 with the reply (an
 * error reply too), or -errno with the reason printed. Passed in, so group.c never calls up
 * into chaosctl.c. */
typedef int (*group_transact_fn)(uint16_t type, struct proto_writer *w, struct proto_msg **ret);

/* Run VERB over the hosts of HOSTS (SOURCE: "-H" or "CHAOSCTL_HOST") through TRANSACT.
 * Returns the exit status. */
int group_main(const char *hosts, const char *source, const struct proto_verb *verb, int argc,
		char **argv, bool json, group_transact_fn transact);
