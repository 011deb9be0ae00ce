/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A run's report as a client asks for it (chaosctl report): as text, json or html, in "data"
 * fields of at most PROTO_MAX_VALUE bytes, rendered from memory while the run runs and read
 * from the reports directory after. A read-only client may ask: only plain files, bounded. */

#include "diag.h"
#include "proto.h"
#include "report.h"

/* format text, json or html; id NULL (the newest) or a run id (letters, digits, "._-"). */
int reportsrv_check(const char *id, const char *format, struct diag *d);
/* A running run's report, as it stands. */
int reportsrv_put_live(const struct report *rep, const char *format, struct proto_writer *w,
		struct diag *d);
/* A saved report of dir; id NULL: the newest there (by its .json's mtime). */
int reportsrv_put_saved(const char *dir, const char *id, const char *format,
		struct proto_writer *w, struct diag *d);
