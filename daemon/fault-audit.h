/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The fault core's audit records of many faults at once (audit.h's record, with the faults
 * listed), and the size of a fault's parameters in any of its records. */

#include <sys/types.h>

#include "faults.h"

/* A fault's parameters in an audit record, at most (as in the reply to an inject). */
#define FAULT_AUDIT_PARAMS_MAX 512

/* One record for a kill or stop of n faults (1000 faults: one line, not 1000): their ids, and
 * per fault "ID EDGE KIND PARAMS", joined by "; ". Names the edge when all are on one. */
void fault_audit_many(const struct active_fault *const *list, unsigned n, const char *why,
		uid_t uid, pid_t pid, const char *result);
