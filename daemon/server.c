/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"
#include "audit.h"
#include "control.h"
#include "degraded.h"
#include "daemon.h"
#include "linkmon.h"
#include "reload.h"
#include "runner.h"
#include "status.h"
#include "svcedge.h"
#include "timeutil.h"
#include "unitres.h"
#include "warmup.h"


unsigned server_n_faults(const struct server *s)
{
	return faults_count(s->faults);
}

void server_notify_status(struct server *s)
{
	status_notify(s);
}


int server_revert_all(struct server *s, const char *why, uid_t uid, pid_t pid)
{
	struct diag d;
	int r;

	diag_init(&d);
	r = faults_revert_all(s->faults, why, uid, pid, &d);
	if (r < 0)
		log_error("%s: %s", why, diag_text(&d));
	return r;
}

unsigned server_abort_runs(struct server *s, const char *why)
{
	return runner_abort(s->runner, NULL, why);
}

/* ------------------------------------------------------------------ hooks */

static void hook_fault_gone(void *userdata, const struct active_fault *af)
{
	struct server *s = userdata;

	if (af->run[0] && s->runner)
		runner_fault_gone(s->runner, af->id);
}

static void hook_changed(void *userdata)
{
	status_changed(userdata);
}

static void hook_unrecorded(void *userdata, int err, const char *what)
{
	degraded_enter(userdata, err, what);
}

static int run_check(void *userdata, const char *edge, const struct fault *f, struct diag *d)
{
	struct fault copy = *f;
	const struct edge *e;
	char ifname[IF_NAMESIZE];
	int ifindex;

	return admit_fault(userdata, edge, &copy, &e, &ifindex, ifname, d);
}

static int run_apply(void *userdata, const char *run, const char *edge, const struct fault *f,
		uid_t uid, pid_t pid, uint64_t *ret_id, struct diag *d)
{
	struct server *s = userdata;
	struct fault copy = *f;
	struct active_fault *af = NULL;
	const struct edge *e;
	char ifname[IF_NAMESIZE];
	bool updated;
	int ifindex, r;

	r = admit_fault(s, edge, &copy, &e, &ifindex, ifname, d);
	if (r < 0)
		return r;
	r = faults_apply(s->faults, e, ifindex, ifname, &copy, 0,
			now_usec(CLOCK_REALTIME) + copy.duration_usec, uid, pid, run, &af, &updated,
			d);
	if (r < 0)
		return r;
	*ret_id = af->id;
	return 0;
}

static int run_revert(void *userdata, uint64_t id, const char *why, uid_t uid, pid_t pid,
		struct diag *d)
{
	struct server *s = userdata;

	if (!faults_find(s->faults, id))
		return 0; /* already gone (deadline, kill): nothing left to do */
	return faults_revert(s->faults, id, why, uid, pid, d);
}

static int run_affected(void *userdata, uint64_t id, const char **ret_verb,
		uint64_t *ret_packets)
{
	struct server *s = userdata;
	struct active_fault *af = faults_find(s->faults, id);
	struct faults_affected a;

	if (!af)
		return -ENOENT;
	faults_affected(s->faults, af, &a);
	*ret_verb = a.verb;
	*ret_packets = a.packets;
	return 0;
}

/* ------------------------------------------------------------------ start and stop */

int server_cleanup_kernel(struct datapath *dp, struct nl_nft *nft, struct journal *j)
{
	struct kernel_netlink kn = { dp, nft, NULL };
	struct kernel k = kernel_netlink(&kn);
	struct diag d;
	int r;

	diag_init(&d);
	r = k.ops->remove_all(k.userdata, &d);
	if (r < 0) {
		log_error("cleanup: %s", diag_text(&d));
		return r;
	}
	for (unsigned n; j && (n = journal_fault_count(j)) > 0;) {
		uint64_t ids[256];
		n = MIN(n, ELEMENTSOF(ids));
		for (unsigned i = 0; i < n; i++)
			ids[i] = journal_fault_at(j, i)->id;
		if (journal_fault_remove_many(j, ids, n) < 0) {
			log_error("cleanup: the journal could not be updated");
			break;
		}
	}
	if (r > 0)
		log_notice("cleanup: removed %d object(s) left by an earlier run", r);
	return 0;
}

int server_open_journal(const char *state_dir, struct journal **ret)
{
	_cleanup_free_ struct journal_iface *ifs = NULL;
	unsigned n_ifs = 0;
	char name[PATH_MAX];
	struct diag d;
	int r;

	diag_init(&d);
	r = journal_open(state_dir, ret, &d);
	if (r != -EBADMSG) {
		if (r < 0)
			log_error("state journal in '%s': %s", state_dir, diag_text(&d));
		return r;
	}
	/* Nothing in it can be trusted: kept for the operator, and the kernel is cleaned by the
	 * names of chaosd's objects instead. */
	log_error("state journal: %s", diag_text(&d));
	/* Which interfaces got a clsact from chaosd is still worth knowing: cleanup removes a
	 * clsact only where chaosd made it. */
	snprintf(name, sizeof(name), "%s/journal", state_dir);
	diag_init(&d);
	if (journal_salvage_clsact(name, &ifs, &n_ifs, &d) < 0)
		n_ifs = 0;
	diag_init(&d);
	r = journal_quarantine(state_dir, name, sizeof(name), &d);
	if (r < 0) {
		log_error("cannot move the corrupt journal aside: %s", diag_text(&d));
		return r;
	}
	log_error("the corrupt journal was moved to '%s'; nothing from it is re-adopted", name);
	diag_init(&d);
	r = journal_open(state_dir, ret, &d);
	if (r < 0) {
		log_error("state journal in '%s': %s", state_dir, diag_text(&d));
		return r;
	}
	for (unsigned i = 0; i < n_ifs; i++)
		(void)journal_clsact_add(*ret, ifs[i].ifindex, ifs[i].ifname);
	return 1;
}


/* Before READY and before any fault: see warmup.h. Not fatal: an inject that needs what is
 * missing says so itself. */
static void warm_up(struct server *s)
{
	uint64_t usec = 0;
	struct diag d;

	diag_init(&d);
	if (warmup_kernel(kernel_netlink(&s->kn), &usec, &d) < 0)
		log_warning("loading the kernel's modules ahead of the first fault failed (%s); "
				"the first inject may be slow", diag_text(&d));
	else
		log_info("kernel objects of every kind made and removed in %.1f ms (modules "
				"loaded before the first fault)", (double)usec / 1000);
}

static int adopt(struct server *s, bool journal_trusted)
{
	_cleanup_free_ struct journal_fault *prev = NULL;
	_cleanup_free_ char *marker = degraded_marker_path(s);
	unsigned n_prev = journal_fault_count(s->journal);
	int m = degraded_marker_read(s), r;

	prev = calloc(n_prev ? n_prev : 1, sizeof(*prev));
	if (!prev)
		return -ENOMEM;
	for (unsigned i = 0; i < n_prev; i++)
		prev[i] = *journal_fault_at(s->journal, i);
	if (m == 2) {
		const struct kill_latch *k;
		log_error("the last chaosd engaged the kill switch but could not record it: "
				"engaging it again until 'chaosctl arm'");
		(void)killswitch_engage(s->killswitch, NULL, "engaged before a restart, not recorded",
				0, 0, 0, &k);
	}
	/* Everything is removed from the kernel first (so nothing half-applied survives), then
	 * faults still in time are applied again for the time they have left. */
	r = server_cleanup_kernel(s->kn.dp, s->kn.nft, s->journal);
	if (r < 0)
		return r;
	svcedge_cleaned(s->kn.svc);
	warm_up(s);
	if (m > 0 || !journal_trusted)
		log_error("%s: no fault from before the restart is re-adopted",
				m > 0 ? "the last chaosd could not record every change" :
					"the journal was corrupt");
	else
		admit_adopt(s, prev, n_prev);
	if (m > 0 && marker && !s->degraded)
		(void)unlink(marker);
	return 0;
}

int server_new(sd_event *event, const struct server_options *opt, struct config *config,
		struct server **ret)
{
	const struct faults_hooks fh = { .fault_gone = hook_fault_gone, .changed = hook_changed,
		.unrecorded = hook_unrecorded };
	const struct killswitch_hooks kh = { .changed = hook_changed,
		.unrecorded = hook_unrecorded };
	const struct runner_hooks rh = { .check = run_check, .apply = run_apply,
		.revert = run_revert, .changed = hook_changed, .affected = run_affected };
	struct faults_hooks fhs = fh;
	struct killswitch_hooks khs = kh;
	struct runner_hooks rhs = rh;
	char reports[PATH_MAX];
	struct server *s;
	struct diag d;
	bool trusted;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	fhs.userdata = khs.userdata = rhs.userdata = s;
	s->event = sd_event_ref(event);
	s->opt = *opt;
	s->config = config;
	diag_init(&d);
	r = server_open_journal(opt->state_dir, &s->journal);
	if (r < 0)
		goto fail;
	trusted = r == 0;
	r = datapath_new(s->journal, &s->kn.dp, &d);
	if (r >= 0)
		r = nl_nft_open(&s->kn.nft, &d);
	if (r < 0) {
		log_error("netlink: %s", diag_text(&d));
		goto fail;
	}
	/* Not fatal: without it, faults on service edges are refused. */
	if (svcedge_new(event, &s->kn.svc, &d) < 0)
		log_warning("service edges: %s", diag_text(&d));
	svcedge_set_units(s->kn.svc, config->edges, config->n_edges);
	/* before re-adoption: a unit edge's fault needs systemd's answer */
	svcedge_wait_units(s->kn.svc, UNITRES_TIMEOUT_USEC);
	r = faults_new(event, s->journal, kernel_netlink(&s->kn), &s->metrics, &fhs, &s->faults);
	if (r >= 0)
		r = killswitch_new(event, opt->state_dir, &khs, &s->killswitch);
	if (r >= 0)
		r = linkmon_new(s, &s->linkmon);
	if (r >= 0)
		r = reload_new(s, &s->reload);
	if (r < 0) {
		log_error("cannot start: %s", strerror(-r));
		goto fail;
	}
	faults_set_link_rate(s->faults, config->link_rate_bps);
	snprintf(reports, sizeof(reports), "%s/reports", opt->state_dir);
	r = runner_new(&rhs, event, reports, &s->runner);
	if (r < 0) {
		log_error("scenario runner: %s", strerror(-r));
		goto fail;
	}
	runner_set_limits(s->runner, config->max_scenarios, config->keep_reports);
	r = sd_event_add_time_relative(event, &s->recover, CLOCK_MONOTONIC,
			DEGRADED_RECOVER_USEC, USEC_PER_SEC / 10, degraded_on_recover, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->recover, s->degraded ? SD_EVENT_ONESHOT :
				SD_EVENT_OFF);
	if (r >= 0)
		r = killswitch_load(s->killswitch);
	if (r >= 0)
		r = adopt(s, trusted);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	server_free(s);
	return r;
}

int server_listen(struct server *s)
{
	int r = control_new(s, &s->control);

	if (r < 0)
		return r;
	return control_listen(s->control, s->opt.socket_path, s->config->socket_group,
			s->config->read_group);
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	/* Runs first: they abort, revert what they applied and write their reports. */
	s->runner = runner_free(s->runner);
	/* The file outlives chaosd: it must not go on claiming faults that were reverted. */
	if (s->metrics_timer && s->config->metrics_file)
		status_write_metrics_file(s);
	sd_event_source_disable_unref(s->metrics_timer);
	s->control = control_free(s->control);
	s->linkmon = linkmon_free(s->linkmon);
	s->reload = reload_free(s->reload);
	s->faults = faults_free(s->faults);
	s->killswitch = killswitch_free(s->killswitch);
	sd_event_source_disable_unref(s->retry);
	sd_event_source_disable_unref(s->recover);
	/* after the faults: their last reverts may still owe a STATUS= */
	sd_event_source_disable_unref(s->status_timer);
	nl_nft_free(s->kn.nft);
	svcedge_free(s->kn.svc);
	datapath_free(s->kn.dp);
	journal_free(s->journal);
	config_free(s->config);
	free(s->degraded);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

void server_reload(struct server *s)
{
	reload_start(s->reload);
}
