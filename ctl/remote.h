/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chaosctl -H: the protocol over ssh(1) to `chaosctl dial-stdio` on another host, the way
 * `docker -H ssh://` works (chaosd itself never listens on the network), and fan-out of one
 * command to several hosts in parallel. */

#include <stdbool.h>

#include "proto.h"

/* Take -H / CHAOSCTL_HOST (SOURCE names which, for messages); a host may be given a name,
 * NAME=URL, which then labels its lines. One host: this process talks to
 * it and *ret_done is false. Several: one child per host runs the verb (each returns here with
 * *ret_done false, talking to its own host) while the parent prints their output per host and
 * returns with *ret_done true and *ret_exit the highest exit status (with --json, one chaosd.hosts
 * document holds the hosts' documents). Returns CTLOPT_EXIT_USAGE with a message printed on a
 * usage error, else 0. */
int remote_begin(const char *hosts, const char *source, const struct proto_verb *verb, int argc,
		char **argv, bool json_output, bool *ret_done, int *ret_exit);

/* chaosctl -H ... --topology: one process talks to each of several hosts in turn, each over an
 * ssh session of its own. Every host needs a name (NAME=URL, or the URL's host name): it is
 * the name of the edge its peers have for it. Returns CTLOPT_EXIT_USAGE with a message printed
 * on a usage error, else 0 with the number of hosts; host 0 is in use. */
int remote_group_begin(const char *hosts, const char *source, bool json_output,
		unsigned *ret_n);
/* Make host i the one remote_connect() reaches. */
void remote_group_use(unsigned i);
const char *remote_group_name(unsigned i);

/* The name of the host in use (NAME=URL, or the URL's host name), NULL without -H: run and
 * plan pass it as the daemon's name in a scenario's [scenario] hosts. */
const char *remote_host_name(void);
/* run and plan fanned out to several hosts: the one seed chosen for all of them (the children
 * inherit it), NULL otherwise. */
const char *remote_fan_seed(void);

/* Whether requests go through remote_connect() rather than the local socket. */
bool remote_active(void);

/* A connected stream to the host's chaosd (the caller closes it; the ssh session stays for
 * the next request), or -errno with the reason printed. */
int remote_connect(void);

/* The connection ended without a whole reply: print why (ssh's own words when ssh failed). */
void remote_report_failure(const char *what);

/* `chaosctl dial-stdio`: relay stdin/stdout to the local socket. Returns the exit status. */
int remote_dial_stdio(const char *socket_path);

