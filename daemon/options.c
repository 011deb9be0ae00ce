/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "options.h"
#include "proto.h"

const struct daemon_option daemon_options[] = {
	{ "config", required_argument, 'c', "FILE", "configuration file (" CONFIG_DEFAULT_PATH ")",
	  "Its format is chaosd.conf(5)." },
	{ "socket", required_argument, 's', "PATH", "control socket (" PROTO_DEFAULT_SOCKET ")",
	  "Unused when systemd passes a socket (chaosd.socket)." },
	{ "state-dir", required_argument, 'd', "DIR",
	  "state journal directory (" DAEMON_DEFAULT_STATE_DIR ")",
	  "The journal there records each kernel change before it is made." },
	{ "check-config", no_argument, 'C', NULL, "check the configuration, print the result, exit",
	  "Prints \"configuration OK\" or every error with FILE:LINE; exit status 1 on errors." },
	{ "cleanup", no_argument, 'X', NULL,
	  "remove everything an earlier chaosd left in the kernel, then exit",
	  "Refused while a daemon holds the state directory. The systemd unit runs this as "
	  "ExecStopPost=, so even a killed daemon leaves nothing behind." },
	{ "debug", no_argument, 'D', NULL, "log debug messages", NULL },
	{ "help", no_argument, 'h', NULL, "show this help", NULL },
	{ "version", no_argument, 'V', NULL, "show the version", NULL },
};
const unsigned daemon_n_options = ELEMENTSOF(daemon_options);
