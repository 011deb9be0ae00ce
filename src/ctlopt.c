/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "ctlopt.h"
#include "proto.h"

const struct ctlopt ctlopt_options[] = {
	{ CTLOPT_HOST, "host", 'H', "HOST[,HOST...]", "CHAOSCTL_HOST",
	  "send the request to chaosd on other hosts: [NAME=]ssh://[USER@]HOST[:PORT][?socket=PATH] "
	  "(or [NAME=][USER@]HOST[:PORT]; NAME, by default HOST, labels its lines and names it "
	  "in a topology) runs 'chaosctl dial-stdio' there through ssh(1) (BatchMode, "
	  "10 s connect timeout), which relays to that host's socket with the ssh user's "
	  "permissions; unix://PATH is a local socket. Several hosts, comma-separated, get the "
	  "request in parallel: one line per host, prefixed by its name, and the highest exit "
	  "status of them (with --json one chaosd.hosts document with each host's); a run that "
	  "ends violated, aborted or failed on one host is aborted on the others. renew, revert "
	  "ID and report --html take one host" },
	{ CTLOPT_SOCKET, "socket", 0, "PATH", "CHAOSD_SOCKET",
	  "chaosd's control socket on this host (default " PROTO_DEFAULT_SOCKET ")" },
	{ CTLOPT_JSON, "json", 0, NULL, NULL,
	  "print the reply as one JSON document naming its schema, also on failure; also after "
	  "the verb (chaosctl(1), JSON OUTPUT)" },
	{ CTLOPT_HELP, "help", 'h', NULL, NULL,
	  "show the options, verbs, fault kinds and fault options, and exit" },
	{ CTLOPT_VERSION, "version", 0, NULL, NULL, "show the version and exit" },
};
const unsigned ctlopt_n_options = ELEMENTSOF(ctlopt_options);

const struct ctlopt_exit_code ctlopt_exits[_CTLOPT_EXIT_MAX] = {
	[CTLOPT_EXIT_OK] = { CTLOPT_EXIT_OK, "ok",
		"the request succeeded; run and watch: the run ended and its steady-state "
		"hypothesis held" },
	[CTLOPT_EXIT_VIOLATED] = { CTLOPT_EXIT_VIOLATED, "violated",
		"run and watch: the run ended with its hypothesis violated" },
	[CTLOPT_EXIT_ABORTED] = { CTLOPT_EXIT_ABORTED, "aborted",
		"run and watch: the run was aborted (abort_when, chaosctl abort, the kill switch, "
		"max_duration, a lapsed lease, chaosd stopping)" },
	[CTLOPT_EXIT_FAILED] = { CTLOPT_EXIT_FAILED, "failed",
		"chaosd refused or failed the request, or a scenario file is not valid: one line on "
		"standard error says why, with the kernel's own message where there is one; revert "
		"of several ids: at least one of them; watch: stopped before the run ended" },
	[CTLOPT_EXIT_USAGE] = { CTLOPT_EXIT_USAGE, "usage",
		"usage error: an unknown verb or option, a missing or bad argument or host; nothing "
		"was sent" },
	[CTLOPT_EXIT_UNREACHABLE] = { CTLOPT_EXIT_UNREACHABLE, "unreachable",
		"chaosd could not be reached (no socket, no permission, ssh failed) or the connection "
		"broke before a whole reply; the request may not have been carried out" },
};

const struct ctlopt *ctlopt_match(const char *arg, const char **ret_value)
{
	for (unsigned i = 0; i < ctlopt_n_options; i++) {
		const struct ctlopt *o = &ctlopt_options[i];
		size_t n = strlen(o->name);

		if (arg[0] == '-' && o->short_name && arg[1] == o->short_name &&
				(!arg[2] || o->metavar)) {
			*ret_value = arg[2] ? arg + 2 : NULL;
			return o;
		}
		if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, o->name, n) != 0)
			continue;
		if (!arg[2 + n]) {
			*ret_value = NULL;
			return o;
		}
		if (arg[2 + n] == '=' && o->metavar) {
			*ret_value = arg + 3 + n;
			return o;
		}
	}
	return NULL;
}

const struct ctlopt_group ctlopt_group_options[] = {
	{ PROTO_INJECT, "topology", "SPEC",
	  "with -H NAME=URL,...: inject partition and plan cut the pairs of hosts that SPEC "
	  "(above) names; status, without SPEC, shows each host's partitions from the others" },
	{ PROTO_INJECT, "seed", "N",
	  "inject partition and plan with --topology: the random choices of seed N (the seed is "
	  "printed, so plan --seed N shows the split again)" },
	{ PROTO_INJECT, "detach", NULL,
	  "inject partition --topology: apply the partitions without a lease, to their deadline "
	  "(--for) only, and return" },
	{ PROTO_PLAN, "topology", "SPEC", NULL },
	{ PROTO_PLAN, "seed", "N", NULL },
	{ PROTO_STATUS, "topology", NULL, NULL },
};
const unsigned ctlopt_n_group_options = ELEMENTSOF(ctlopt_group_options);

const struct ctlopt_group *ctlopt_group_find(enum proto_type verb, const char *name)
{
	for (unsigned i = 0; i < ctlopt_n_group_options; i++)
		if (ctlopt_group_options[i].verb == verb &&
				strcmp(ctlopt_group_options[i].name, name) == 0)
			return &ctlopt_group_options[i];
	return NULL;
}
