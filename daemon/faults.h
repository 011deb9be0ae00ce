/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The fault core: the registry of active faults, the kernel transitions that apply, update and
 * revert them (each request takes effect whole or not at all), their deadlines and leases, and
 * the journal records that let a restart clean up and re-adopt. It reaches the kernel only
 * through struct kernel, and tells the rest of the daemon what happened only through its hooks,
 * so it calls nothing above it. Admission (kill switch, guard rails) is the caller's. */

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "edge.h"
#include "fault.h"
#include "journal.h"
#include "kernel.h"
#include "metrics.h"
#include "report.h"

struct faults;

struct active_fault {
	uint64_t id;
	uint64_t edge_hash;     /* edge_name_hash(edge.name) */
	struct edge edge;       /* a copy: revert must work after a reload removed the edge */
	int ifindex;
	char ifname[IF_NAMESIZE];
	struct fault fault;
	/* partition with connections = established: conntrack ids of the connections open when
	 * it began (owned) */
	uint32_t *ct_ids;
	unsigned n_ct_ids;
	uint64_t created_realtime_usec;
	uint64_t deadline_realtime_usec;
	uint64_t deadline_mono_usec;
	uint64_t lease_mono_usec; /* 0: no lease */
	uid_t uid;
	pid_t pid;
	char run[REPORT_ID_MAX + 1]; /* the scenario run that owns it, "" if none */
	/* a failed revert at the deadline is tried again then; 0: none */
	uint64_t retry_mono_usec;
	/* The edge's netem counters when it was applied (its own counters start there), and when
	 * they last moved (faults_affected). */
	struct datapath_stats base;
	uint64_t seen_count, seen_mono_usec;
};

/* What one fault did so far, from the kernel's counters of the objects that carry it: the
 * partition's own nftables rule, or the edge's netem read by what the fault does there (a
 * latency fault delayed what netem sent, a loss fault dropped what netem dropped). */
struct faults_affected {
	const char *verb;   /* "delayed", "dropped", "paced", "passed" (duplicate, corrupt) */
	uint64_t packets;
	uint64_t bytes;     /* 0 where the kernel does not count them (partition, loss) */
	uint64_t idle_usec; /* since the count last moved, or since the fault was applied */
};
/* A fault whose count has not moved for this long is flagged in status and the report. */
#define FAULTS_IDLE_USEC (30 * USEC_PER_SEC)
#define FAULTS_IDLE_TEXT "no packet matched in 30 s: check the destination, the route and the " \
			 "address family"

struct faults_hooks {
	void *userdata;
	/* af left the registry by any cause (af is still readable during the call). */
	void (*fault_gone)(void *userdata, const struct active_fault *af);
	/* The set of active faults changed. */
	void (*changed)(void *userdata);
	/* The journal could not record a change that did happen in the kernel (err, text). */
	void (*unrecorded)(void *userdata, int err, const char *what);
};

int faults_new(sd_event *event, struct journal *journal, struct kernel kernel,
		struct metrics_counters *counters, const struct faults_hooks *hooks,
		struct faults **ret);
struct faults *faults_free(struct faults *f);

/* Netem rate limits are merged against this link speed (config link_rate). */
void faults_set_link_rate(struct faults *f, uint64_t bps);
unsigned faults_count(const struct faults *f);
struct active_fault *faults_at(const struct faults *f, unsigned i);
struct active_fault *faults_find(const struct faults *f, uint64_t id);
uint64_t faults_next_id(const struct faults *f);
void faults_set_next_id(struct faults *f, uint64_t id);

/* Apply a fault (new, or an update in place of the edge's fault of its kind) and track it.
 * id 0: a new id. ifname: the interface's name for nftables and display. */
int faults_apply(struct faults *f, const struct edge *e, int ifindex, const char *ifname,
		const struct fault *fault, uint64_t id, uint64_t deadline_realtime_usec, uid_t uid,
		pid_t pid, const char *run, struct active_fault **ret_af, bool *ret_updated,
		struct diag *d);
/* Revert one fault (action names it in the audit log). */
int faults_revert(struct faults *f, uint64_t id, const char *action, uid_t uid, pid_t pid,
		struct diag *d);
/* Every fault of one edge (NULL: all of them, one by one); keeps going past failures. */
int faults_revert_edge(struct faults *f, const char *edge, const char *why, uid_t uid, pid_t pid,
		unsigned *ret_reverted, struct diag *d);
/* Everything chaosd owns in the kernel, in one pass per kind of object (the kill switch). */
int faults_revert_all(struct faults *f, const char *why, uid_t uid, pid_t pid, struct diag *d);
/* A fresh lease period for fault id. */
int faults_renew(struct faults *f, uint64_t id, struct diag *d);

/* The interface went away (the kernel took its filters): drop its faults. */
void faults_interface_deleted(struct faults *f, int ifindex, const char *name);
void faults_interface_renamed(struct faults *f, int ifindex, const char *name);
/* The fault's edge now routes via another interface: revert it there, apply it here. */
int faults_move(struct faults *f, uint64_t id, const struct edge *e, int ifindex,
		const char *ifname, struct diag *d);

/* Whether a fault an earlier chaosd journaled may be applied again now (1), or stays reverted
 * (0, *ret_why says why and whether to audit it as an expiry or a run's end). */
enum faults_adopt_no { FAULTS_ADOPT_UNCONFIRMED, FAULTS_ADOPT_RUN_ENDED, FAULTS_ADOPT_EXPIRED };
int faults_adoptable(const struct journal_fault *jf, uint64_t now_realtime_usec,
		enum faults_adopt_no *ret_why);

void faults_affected(struct faults *f, struct active_fault *af, struct faults_affected *ret);
/* What the kernel counted for af: packets seen, dropped, queued now. */
void faults_stats(struct faults *f, const struct active_fault *af, uint64_t *ret_matched,
		uint64_t *ret_dropped, uint64_t *ret_delayed);
