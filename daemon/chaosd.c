/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "audit.h"
#include "config.h"
#include "instance.h"
#include "options.h"
#include "proto.h"
#include "server.h"

static void help(void)
{
	printf("Usage: chaosd [OPTIONS]\n\nNetwork fault-injection daemon.\n\n");
	for (unsigned i = 0; i < daemon_n_options; i++) {
		const struct daemon_option *o = &daemon_options[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
				o->metavar ? o->metavar : "");
		printf("  %-24s %s\n", left, o->help);
	}
}

static int on_terminate(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct server *s = userdata;

	sd_notify(0, "STOPPING=1\nSTATUS=reverting all faults");
	log_info("signal %s: reverting %u fault(s) and exiting", strsignal((int)si->ssi_signo),
			server_n_faults(s));
	(void)server_abort_runs(s, "daemon stopping");
	(void)server_revert_all(s, "stop", (uid_t)si->ssi_uid, (pid_t)si->ssi_pid);
	return sd_event_exit(sd_event_source_get_event(es), 0);
}

static int on_reload(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct server *s = userdata;

	server_reload(s);
	return 0;
}

int main(int argc, char **argv)
{
	_cleanup_free_ struct option *longopts = calloc(daemon_n_options + 1, sizeof(*longopts));
	struct server_options opt = {
		.config_path = CONFIG_DEFAULT_PATH,
		.socket_path = PROTO_DEFAULT_SOCKET,
		.state_dir = DAEMON_DEFAULT_STATE_DIR,
	};
	bool check_only = false, cleanup_only = false;
	_cleanup_close_ int lock_fd = -EBADF;
	struct config *config = NULL;
	struct server *server = NULL;
	sd_event *event = NULL;
	struct diag d;
	sigset_t mask;
	int c, r;

	if (!longopts)
		return 1;
	for (unsigned i = 0; i < daemon_n_options; i++)
		longopts[i] = (struct option){ daemon_options[i].name, daemon_options[i].has_arg,
			NULL, daemon_options[i].val };
	while ((c = getopt_long(argc, argv, "c:s:d:h", longopts, NULL)) >= 0) {
		switch (c) {
		case 'c':
			opt.config_path = optarg;
			break;
		case 's':
			opt.socket_path = optarg;
			break;
		case 'd':
			opt.state_dir = optarg;
			break;
		case 'C':
			check_only = true;
			break;
		case 'X':
			cleanup_only = true;
			break;
		case 'D':
			log_set_max_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("chaosd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'chaosd --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chaosd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	diag_init(&d);
	if (cleanup_only) {
		/* No config needed: what chaosd owns is found by name, priority and journal. */
		struct journal *j = NULL;
		struct datapath *dp = NULL;
		struct nl_nft *nft = NULL;
		/* A live daemon owns these objects: cleaning behind its back would leave it
		 * believing in faults that are gone. */
		lock_fd = instance_lock();
		if (lock_fd < 0) {
			log_error("cleanup refused");
			return 1;
		}
		r = server_open_journal(opt.state_dir, &j);
		if (r == -EBUSY)
			return 1;
		if (r < 0)
			log_warning("no state journal: cleaning by names only");
		r = datapath_new(j, &dp, &d);
		if (r >= 0)
			r = nl_nft_open(&nft, &d);
		if (r >= 0)
			r = server_cleanup_kernel(dp, nft, j);
		else
			log_error("cleanup: %s", diag_text(&d));
		nl_nft_free(nft);
		datapath_free(dp);
		journal_free(j);
		return r < 0 ? 1 : 0;
	}

	r = config_load(opt.config_path, &config, &d);
	if (check_only) {
		if (r < 0) {
			fprintf(stderr, "%s\n", diag_text(&d));
			return 1;
		}
		printf("configuration OK: %s, %u edge%s\n", opt.config_path, config->n_edges,
				config->n_edges == 1 ? "" : "s");
		config_free(config);
		return 0;
	}
	if (r < 0) {
		log_error("configuration errors, not starting:\n%s", diag_text(&d));
		return 1;
	}

	/* Signals are turned into events; the handlers themselves do no work. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* exec probes: sd-event reaps the children, which needs SIGCHLD blocked */
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	lock_fd = instance_lock();
	if (lock_fd < 0) {
		config_free(config);
		return 1;
	}
	r = sd_event_default(&event);
	if (r < 0) {
		log_error("sd_event: %s", strerror(-r));
		config_free(config);
		return 1;
	}
	r = server_new(event, &opt, config, &server);
	if (r < 0) {
		sd_event_unref(event);
		return 1;
	}
	r = server_listen(server);
	if (r < 0)
		goto out;
	sd_event_add_signal(event, NULL, SIGTERM, on_terminate, server);
	sd_event_add_signal(event, NULL, SIGINT, on_terminate, server);
	sd_event_add_signal(event, NULL, SIGHUP, on_reload, server);
	/* Pings systemd at half of WatchdogSec when set; a hung loop gets us restarted. */
	(void)sd_event_set_watchdog(event, true);

	/* Reading the config and the kernel's state at start leaves free heap behind; an idle
	 * daemon on every host keeps only what it uses. */
	(void)malloc_trim(0);
	log_info("chaosd %s ready on '%s'", PACKAGE_VERSION, opt.socket_path);
	sd_notify(0, "READY=1");
	server_notify_status(server);
	r = sd_event_loop(event);
out:
	server_free(server);
	sd_event_unref(event);
	return r < 0 ? 1 : 0;
}
