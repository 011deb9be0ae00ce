/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The fault model. A fault is one kind of impairment on one edge in one or both directions.
 * Its parameters are set by name through one table (fault_keys) that drives chaosctl's options
 * (--ms 500), scenario step keys (ms = 200), the control protocol and the man pages, so they
 * cannot disagree. Several faults on one edge and direction are merged into one netem
 * configuration (fault_merge_netem). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "netem.h"

enum fault_kind {
	FAULT_LATENCY,
	FAULT_LOSS,
	FAULT_CORRUPT,
	FAULT_DUPLICATE,
	FAULT_REORDER,
	FAULT_RATE,
	FAULT_PARTITION,
	_FAULT_KIND_MAX,
};

enum fault_direction {
	FAULT_DIR_OUT = 1,
	FAULT_DIR_IN = 2,
	FAULT_DIR_BOTH = 3,
};

/* What a partition does with the packets it matches. */
enum fault_partition_mode {
	FAULT_MODE_DROP,   /* blackhole: the peer never answers, clients wait for timeouts */
	FAULT_MODE_REJECT, /* TCP reset or ICMP port unreachable: clients fail at once */
};

/* Which connections a partition cuts (by conntrack state). */
enum fault_connections {
	FAULT_CONN_ALL,
	FAULT_CONN_NEW,         /* only new ones: connections open already keep working */
	FAULT_CONN_ESTABLISHED, /* only the ones open when the fault began: new ones work */
};

enum fault_dist {
	FAULT_DIST_UNIFORM, /* netem's default: no table */
	FAULT_DIST_NORMAL,
	FAULT_DIST_PARETO,
	FAULT_DIST_PARETONORMAL,
	_FAULT_DIST_MAX,
};

enum fault_loss_model {
	FAULT_LOSS_RANDOM,
	FAULT_LOSS_GEMODEL, /* Gilbert-Elliott */
};

struct fault {
	enum fault_kind kind;
	enum fault_direction direction; /* default FAULT_DIR_OUT */
	uint64_t duration_usec;         /* 0 = not given: the daemon applies default_duration */
	uint64_t lease_usec;            /* 0 = no lease; else reverted unless renewed in time */

	/* latency */
	double delay_ms;
	double jitter_ms;
	enum fault_dist distribution;

	/* loss, corrupt, duplicate, reorder: probability and correlation in percent; latency
	 * uses correlation for the delay */
	double percent;
	double correlation;

	/* loss */
	enum fault_loss_model loss_model;
	double ge_p, ge_r, ge_bad_loss, ge_good_loss; /* percent; iproute2's p, r, 1-h, 1-k */

	/* reorder */
	uint32_t gap;

	/* rate */
	uint64_t rate_kbit;

	/* partition */
	enum fault_partition_mode mode;
	enum fault_connections connections;

	/* share of the edge's connections affected, in 0.01 % (flowsel); 0 = not given: all */
	uint16_t flows_permyriad;

	/* which keys were given, bit i = fault_keys[i] */
	uint64_t set_mask;
};

enum fault_key_type {
	FAULT_KEY_DOUBLE,   /* number within [min, max] */
	FAULT_KEY_PERCENT,  /* 0..100, "%" optional */
	FAULT_KEY_U64,      /* integer within [min, max] */
	FAULT_KEY_DURATION, /* "500ms", "30s" */
	FAULT_KEY_ENUM,     /* one of .choices */
};

/* How a key's value is held in struct fault. */
enum fault_field {
	FAULT_FIELD_DOUBLE,
	FAULT_FIELD_U64,
	FAULT_FIELD_U32,
	FAULT_FIELD_ENUM,      /* an enum: index of the choice + enum_base */
	FAULT_FIELD_PERMYRIAD, /* uint16_t in 0.01 %, given in percent */
};

/* One line per key: name, how it is parsed (type, range, choices), where it is stored. */
struct fault_key {
	const char *name;    /* scenario key; the CLI option is --name with '_' shown as '-' */
	const char *metavar; /* for help: "MS", "PCT" */
	enum fault_key_type type;
	size_t offset;       /* offsetof(struct fault, ...) */
	enum fault_field field;
	int enum_base;
	unsigned kinds;      /* bitmask of 1u << enum fault_kind it applies to */
	unsigned required;   /* bitmask of kinds for which it must be given */
	double min, max;
	const char *const *choices; /* NULL-terminated, FAULT_KEY_ENUM */
	const char *help;
};

extern const struct fault_key fault_keys[];
extern const unsigned fault_n_keys;

const char *fault_kind_to_string(enum fault_kind k);
int fault_kind_from_string(const char *s, enum fault_kind *ret);
const char *fault_kind_help(enum fault_kind k);
/* "latency, loss, ..., partition", for messages. */
char *fault_kind_list(char *buf, size_t n);
/* The key a kind is mostly about ("ms" for latency), which a scenario ramp changes unless told. */
const char *fault_kind_main_key(enum fault_kind k);
const char *fault_direction_to_string(enum fault_direction d);
int fault_direction_from_string(const char *s, enum fault_direction *ret);
const char *fault_dist_to_string(enum fault_dist d);

/* Zero the fault and set kind and defaults. */
void fault_init(struct fault *f, enum fault_kind kind);
/* Find a key by name; accepts '-' for '_'. NULL if unknown. */
const struct fault_key *fault_key_find(const char *name);
/* Set one key from text. Unknown key, key not valid for this kind, or bad value: -EINVAL with
 * a diag that names the key, the value and what is allowed. */
int fault_set(struct fault *f, const char *key, const char *value, struct diag *d);
/* After all keys: check required keys and cross-key rules (jitter needs ms, gap needs percent,
 * gemodel needs ge_p). */
int fault_validate(const struct fault *f, struct diag *d);
/* Emit every set key as key/value text, the inverse of fault_set, for the protocol and the
 * journal. cb returns <0 to stop. */
int fault_foreach_param(const struct fault *f, int (*cb)(const char *key, const char *value,
						     void *userdata),
		void *userdata);
/* "key=value ..." of every set key, cut to n - 1 bytes, always terminated. */
void fault_format_params(const struct fault *fault, char *buf, size_t n);
struct strbuf;
/* The same, appended to sb (strbuf.h). */
void fault_put_params(const struct fault *fault, struct strbuf *sb);
/* One human line: "500ms ±20ms normal 25%", "5% loss", "1000kbit". */
char *fault_describe(const struct fault *f, char *buf, size_t n);
/* True if the fault is carried by netem (everything but partition). */
bool fault_uses_netem(const struct fault *f);
/* The share of flows the fault affects, 1..FLOWSEL_ALL (every flow when not given). */
uint32_t fault_flows(const struct fault *f);

/* Fold the netem faults of one edge and direction into one qdisc configuration. Two faults of
 * the same kind on one edge and direction cannot be merged (the caller replaces instead).
 * link_rate_bps sizes netem's queue limit so added delay does not become tail drop. */
int fault_merge_netem(const struct fault *const *faults, unsigned n, uint64_t link_rate_bps,
		struct netem_config *ret, struct diag *d);
