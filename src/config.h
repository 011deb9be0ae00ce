/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/chaosd/chaosd.conf, INI read by src/ini.c. Every key is described once in config_keys,
 * which drives parsing, --check-config and the chaosd.conf(5) man page. Loading never half
 * succeeds: either a whole new config is returned or every error found is in the diag, each as
 * "FILE:LINE: [section] key = 'value': what is wrong (what is allowed)". */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "edge.h"

#define CONFIG_EDGES_MAX 4096
#define CONFIG_DEFAULT_PATH "/etc/chaosd/chaosd.conf"

struct config {
	char *path;
	uint64_t default_duration_usec; /* default 5m */
	uint64_t max_duration_usec;     /* default 1h */
	uint64_t link_rate_bps;         /* for netem queue sizing when the NIC does not say; 10 Gbit */
	char *socket_group;             /* "chaos"; may be absent on the system */
	char *read_group;               /* NULL: only root and socket_group may use the socket */

	/* Guard rails: what chaosd refuses to touch, whoever asks. */
	char (*allow_interfaces)[IF_NAMESIZE]; /* NULL: every interface not denied */
	unsigned n_allow_interfaces;
	char (*deny_interfaces)[IF_NAMESIZE];  /* default: lo */
	unsigned n_deny_interfaces;
	struct edge_prefix *protect;           /* edges overlapping these are refused */
	unsigned n_protect;
	uint64_t max_latency_usec;             /* 0: no limit */
	double max_loss_percent;               /* 100: no limit */
	uint64_t max_partition_usec;           /* 0: max_duration */
	bool allow_ssh_partition;              /* default no: SSH peers are protected */
	unsigned max_scenarios;                /* runs at the same time, default 1 */
	unsigned keep_reports;                 /* reports kept in the state dir, default 50 */
	char *metrics_file;                    /* NULL: no textfile-collector file */

	struct edge *edges;
	unsigned n_edges;
	unsigned *edge_order;                  /* edges[] by name (config_find_edge); NULL: scan */
	unsigned key_lines[32];                /* line of each [chaosd] key, 0 = default */
};

enum config_value_type {
	CONFIG_DURATION,
	CONFIG_RATE,     /* "10gbit", "100mbit", "500kbit", bits per second */
	CONFIG_STRING,
	CONFIG_IFNAME,
	CONFIG_PREFIXES, /* comma separated CIDRs or host names */
	CONFIG_PORT,
	CONFIG_PROTO,
	CONFIG_IFLIST,  /* comma separated interface names */
	CONFIG_PERCENT,
	CONFIG_BOOL,
	CONFIG_COUNT,   /* a positive integer */
};

struct config_parser;
struct config_key;
/* Parse value into field (at offset in struct config for [chaosd], in struct edge for
 * [edge NAME]); report what is wrong through the parser. field is only written on success. */
typedef int (*config_parse_fn)(struct config_parser *p, const struct config_key *k,
		const char *value, void *field);

/* One line per key, the way systemd's gperf tables are: name, parser, where it is stored, its
 * default and its range. Parsing, defaults, --check-config and chaosd.conf(5) all read it. */
struct config_key {
	const char *section; /* "chaosd" or "edge" (for [edge NAME]) */
	const char *name;
	enum config_value_type type;
	config_parse_fn parse;
	size_t offset;       /* of the field */
	size_t offset_n;     /* lists: of the unsigned count next to it */
	uint64_t min, max;   /* durations in usec, rates in bit/s, numbers; both 0: no range */
	bool continues;      /* may continue on indented lines */
	const char *default_value; /* parsed by .parse before the file; NULL: none */
	const char *help;
};

extern const struct config_key config_keys[];
extern const unsigned config_n_keys;

/* Load from a file. Host names in destination are resolved here with getaddrinfo() (it blocks:
 * for start-up and --check-config); a name that resolves to nothing is an error (an edge never
 * widens to all traffic). The file is read without blocking (a FIFO is refused). */
int config_load(const char *path, struct config **ret, struct diag *d);

/* Who answers for host names, so a daemon can resolve them without blocking its loop. */
struct config_resolver {
	void *userdata;
	/* Up to max host prefixes (/32, /128) of name in ret; -EAGAIN: not known yet (the load
	 * then returns -EAGAIN after asking for every name it needs); another -errno: name does
	 * not resolve, *ret_why says why. */
	int (*resolve)(void *userdata, const char *name, struct edge_prefix *ret, unsigned max,
			unsigned *ret_n, const char **ret_why);
	/* The same for the user names of user = (NSS may block as well); NULL: looked up here. */
	int (*resolve_user)(void *userdata, const char *name, uint32_t *ret_uid,
			const char **ret_why);
};
int config_load_with(const char *path, const struct config_resolver *res, struct config **ret,
		struct diag *d);
/* The same from memory, for tests and fuzzing; name is used in messages. Host names are not
 * resolved when resolve is false (a name is then an error). */
int config_load_string(const char *text, const char *name, bool resolve, struct config **ret,
		struct diag *d);
struct config *config_free(struct config *c);
const struct edge *config_find_edge(const struct config *c, const char *name);
/* Where key of [chaosd] was set, as "FILE:LINE", or "FILE (default)"; for refusals that
 * must say which rule refused. */
char *config_key_origin(const struct config *c, const char *key, char *buf, size_t n);
bool config_interface_allowed(const struct config *c, const char *ifname, const char **ret_key);
/* "10gbit" etc. */
int config_parse_rate(const char *s, uint64_t *ret_bps);
/* "1s-365d", "1-16", "1bit-1000tbit" for a key with a range, else NULL. */
char *config_key_range(const struct config_key *k, char *buf, size_t n);
