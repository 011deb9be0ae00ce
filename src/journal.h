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

/* The journal file's size limit: 1000 faults take about 300 KiB with superseded records. */
#define JOURNAL_MAX_BYTES (16u << 20)
/* STATE_DIR/.reserve, preallocated so a revert or kill record can be written on a full disk. */
#define JOURNAL_RESERVE_BYTES (64 * 1024)

/* state_dir is created if missing (0700); one journal per state directory (flock on
 * STATE_DIR/lock). Reads an existing journal and tries to create the space reserve (its failure
 * does not fail the open: see journal_degraded). Errors, each with a diag line:
 *   -EBUSY    another chaosd holds the state directory: touch nothing.
 *   -EBADMSG  the journal file is unusable: corrupt ("PATH:LINE: reason"), a directory, FIFO
 *             or other non-regular file, or over JOURNAL_MAX_BYTES. Fail-safe start: call
 *             journal_salvage_clsact() (optional), journal_quarantine(), then journal_open()
 *             again, which starts an empty journal; what chaosd owns in the kernel is then
 *             found by name.
 *   other     the state directory cannot be used (-EACCES, -EROFS creating the lock, -EIO
 *             reading, -ENOMEM): nothing was changed, do not quarantine. */
int journal_open(const char *state_dir, struct journal **ret, struct diag *d);
struct journal *journal_free(struct journal *j);

/* Rename STATE_DIR/journal to STATE_DIR/journal.corrupt-YYYYMMDDTHHMMSSZ (UTC; "-2", "-3", ...
 * appended when that exists, never replacing anything) and fsync the directory. Takes the state
 * directory's lock, so call it with no journal open (-EBUSY otherwise, or when another chaosd
 * runs). The new path is written to ret_name (n bytes; -ENAMETOOLONG before any change when it
 * does not fit). -ENOENT when there is no journal. */
int journal_quarantine(const char *state_dir, char *ret_name, size_t n, struct diag *d);

struct journal_iface {
	int ifindex;
	char ifname[16]; /* IF_NAMESIZE */
};
/* The interfaces with a chaosd clsact from a journal file that may be corrupt (the quarantined
 * one): its clsact and drop-clsact records that parse, everything else skipped. *ret_n may be 0
 * (*ret NULL). The caller re-adds them with journal_clsact_add() to the fresh journal, so their
 * clsact qdiscs stay chaosd's to delete. Errors as fileio_read_bounded(). */
int journal_salvage_clsact(const char *path, struct journal_iface **ret, unsigned *ret_n,
		struct diag *d);

/* Every change below is written before it returns. On a write failure (short write, ENOSPC,
 * EIO, EROFS, EFBIG, fsync, rename, a directory or FIFO at STATE_DIR/journal.tmp) it returns
 * -errno and journal_error() names the path and strerror. When a removal gets ENOSPC the space
 * reserve is deleted and the write tried once more (only that second failure is returned); an
 * addition on a full disk fails with -ENOSPC and leaves the reserve to the reverts.
 *
 * A torn record is cut off at once. After a failed removal (or a failure that left the file in
 * doubt) the journal is "stale": the next successful write of any kind (or journal_repair)
 * rewrites the file whole from memory, so memory is what the disk will say. What memory holds
 * after a failure:
 *   additions (journal_fault_put, journal_clsact_add) are ROLLED BACK: the journal is as
 *     before the call (the disk holds the record only when a rewrite was renamed into place
 *     but the directory fsync failed; the journal is stale then and the next write drops it).
 *     The caller treats the change as not recorded: for an intent (applied = false) or a
 *     clsact, it must not touch the kernel and fails the request with journal_error(). For
 *     a confirmation (applied = true) the fault stays recorded "pending" while the kernel
 *     has it: it may keep running (this daemon still reverts it on time), and a restart
 *     leaves it reverted (the safe side).
 *   removals (journal_fault_remove, journal_fault_remove_many, journal_clsact_remove) are
 *     APPLIED in memory; the disk may still list what was removed. The caller goes on (the
 *     kernel change is done or follows), reports degraded, and calls journal_repair() later.
 *     A restart in between finds the stale entries: clsacts the ownership scan looks at
 *     anyway, and faults the kernel no longer has, which a restart must not apply again (so
 *     re-adopt a fault only if the kernel still has its objects, or stay stopped while
 *     journal_degraded(); the reserve makes this rare: it covers a full disk, not EIO/EROFS).
 * journal_clsact_add/remove and journal_fault_remove* return 0 also when there was nothing
 * to change (nothing is written then). */
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

/* The text of the last failed write ("" after a success): path and strerror. */
const char *journal_error(const struct journal *j);
/* True while the disk may be behind memory (a write failed) or the space reserve is missing:
 * the daemon reports itself degraded and calls journal_repair() (on a timer, say every few
 * seconds; it is cheap when there is nothing to do). */
bool journal_degraded(const struct journal *j);
/* Rewrite the journal if stale, then re-create the space reserve if missing. 0: healthy again;
 * -errno with d naming the path and the reason (e.g. -ENOSPC while the disk is still full). */
int journal_repair(struct journal *j, struct diag *d);
