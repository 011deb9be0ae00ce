/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What chaosctl's verb modules share: the verb table's row, the transport to chaosd, reading a
 * reply. chaosctl.c has the table, the transport and the one-shot verbs; runs.c the verbs of
 * scenario runs (run, plan, validate, watch, report). Not for other programs. */

#include <stdbool.h>
#include <stdint.h>

#include "json.h"
#include "macro.h"
#include "proto.h"

/* A verb's option: with a VALUE a flag sending KEY=VALUE, else KEY=the next argument. A NULL
 * KEY is chaosctl's own (run --detach). */
struct verb_option {
	const char *name;
	const char *key;
	const char *value;
};

/* One row per verb, all chaosctl does with it. */
struct ctl_verb {
	enum proto_type type;
	int (*handler)(const struct ctl_verb *v, const struct proto_verb *verb, int argc,
	                char **argv);
	void (*print)(const struct proto_msg *m); /* verb_simple's text output */
	struct verb_option options[4];
	const char *arg_key; /* the field a bare argument fills */
	unsigned max_args;   /* bare arguments taken */
	bool need_arg;       /* an argument or option is required */
	bool outcome;        /* exit family: a run's outcome too (held, violated, aborted) */
	enum json_doc_id doc;
};

/* A verb's arguments after parse_args(): the bare ones are ARGV's first N. */
struct ctl_args {
	int n;
	unsigned options;
	bool client_flag;
};

/* --json: every output is a JSON document (json.h) */
extern bool ctl_json;
/* chaosd's socket (-s, $CHAOSD_SOCKET) */
extern const char *ctl_socket;

/* Print the error (text or a JSON error document); returns 1. */
int ctl_fail(const char *fmt, ...) _printf_(1, 2);
/* Send w's request of type, read the reply (refusals are replies); -errno with the reason
 * printed when chaosd was not reached or answered garbage. */
int ctl_transact(uint16_t type, struct proto_writer *w, struct proto_msg **ret);
/* 0 on OK; prints the daemon's error (with the kernel's own words) and returns -EREMOTEIO when
 * chaosd refused or failed it; other errors: chaosd was not reached. */
int ctl_request(const struct proto_verb *verb, struct proto_writer *w, struct proto_msg **ret);
/* One request of TYPE with one field. */
int ctl_simple_request(uint16_t type, const char *key, const char *value);
/* The exit status for ctl_request()'s r < 0. */
int ctl_exit_of(int r);
/* Renew the lease of the run chaosctl run watches (a refusal is left to the next watch). */
void ctl_renew_run(const char *id);
/* Check a verb's arguments against its row, for verbs that build their requests themselves. */
int ctl_check_args(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv,
                struct ctl_args *ret);
/* One request: the options, each bare argument as v->arg_key and, unless an option gave one,
 * FORMAT (if not NULL). 0 with the reply, or the exit status with the reason printed. */
int ctl_send_args(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv,
                const char *format, struct proto_msg **ret);

/* Index of the first record marker: a reply without top-level fields starts with one. */
unsigned ctl_first_record(const struct proto_msg *m);
/* A field of record rec ("" if absent), as sent back to chaosd. */
const char *ctl_get(const struct proto_msg *m, unsigned rec, const char *key);
/* A field as printed: made safe for a terminal. */
const char *ctl_show(const struct proto_msg *m, unsigned rec, const char *key);
/* Multi-line text from chaosd, each line made safe. */
void ctl_put_lines(const char *text);

/* The dead-man lease (lease.c): renew fault id at a third of lease_usec while this process
 * lives; a clean stop (Ctrl-C, SIGTERM) reverts it at once. */
int ctl_hold_lease(const char *id, uint64_t lease_usec);

/* The verbs of scenario runs (runs.c) */
int ctl_verb_plan(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv);
int ctl_verb_report(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv);
int ctl_verb_watch(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv);
int ctl_verb_run(const struct ctl_verb *v, const struct proto_verb *verb, int argc, char **argv);
