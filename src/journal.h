/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The state journal: what chaosd has done to the kernel, written to STATE_DIR/journal *before*
 * each kernel change (a record appended and fsynced; compacted with an atomic replace: write
 * temp, fsync, rename, fsync dir), so a daemon killed at any point can be cleaned up by the
 * next start or by `chaosd --cleanup`.
 * It records the interfaces on which chaosd created a clsact qdisc (everything else chaosd owns
 * is recognisable by name and priority) and the active faults with wall-clock deadlines. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "diag.h"
#include "fault.h"

struct journal;

struct journal_fault {
	uint64_t id;
	char edge[64];
	struct fault fault;
	uint64_t deadline_realtime_usec; /* CLOCK_REALTIME */
	uint64_t created_realtime_usec;
	uid_t uid;                       /* who injected it */
	bool applied;                    /* false: intent written, kernel change not confirmed */
	char run[96];                    /* the scenario run that owns it, "" if none */
};

/* state_dir is created if missing (0700). Reads an existing journal; a corrupt one is an error
 * (the caller falls back to cleaning by names). */
int journal_open(const char *state_dir, struct journal **ret, struct diag *d);
struct journal *journal_free(struct journal *j);

int journal_clsact_add(struct journal *j, int ifindex, const char *ifname);
int journal_clsact_remove(struct journal *j, int ifindex);
bool journal_clsact_created(const struct journal *j, int ifindex);
unsigned journal_clsact_count(const struct journal *j);

/* Fsynced when it records an intent (applied = false); a confirmation is only written. */
int journal_fault_put(struct journal *j, const struct journal_fault *f);
int journal_fault_remove(struct journal *j, uint64_t id);
/* Remove every fault of ids[] (unknown ids are ignored) in one write: the kill switch. */
int journal_fault_remove_many(struct journal *j, const uint64_t *ids, unsigned n);
unsigned journal_fault_count(const struct journal *j);
const struct journal_fault *journal_fault_at(const struct journal *j, unsigned i);
uint64_t journal_next_id(const struct journal *j);
