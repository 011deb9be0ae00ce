/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chaosctl -H ... --topology: one process, one ssh session per host (remote_group_*), and the
 * partitions of a topology (src/topology.c) applied as one operation. The order is: every
 * host's edges read (nothing applied yet), then every partition injected with a lease, host by
 * host; the first refusal or failure reverts what was applied, newest first. While it holds,
 * chaosctl renews every lease; each host also has its own deadline (--for), so a coordinator
 * that dies heals the group within one lease period, and one that lives heals it at once. */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "ctlopt.h"
#include "fault.h"
#include "group.h"
#include "json.h"
#include "parse.h"
#include "remote.h"
#include "timeutil.h"
#include "topology.h"
#include "utf8.h"

#define GROUP_DEFAULT_LEASE (15 * USEC_PER_SEC)
#define GROUP_MAX_FAULTS    (TOPOLOGY_MAX_HOSTS * TOPOLOGY_MAX_HOSTS)

struct applied {
	unsigned host, peer;
	char id[24];
};

struct group {
	unsigned n;
	const char *names[TOPOLOGY_MAX_HOSTS];
	char dest[TOPOLOGY_MAX_HOSTS][TOPOLOGY_MAX_HOSTS][128]; /* [host][peer]: its edge's */
	char fault[TOPOLOGY_MAX_HOSTS][TOPOLOGY_MAX_HOSTS][24]; /* [host][peer]: its id */
	struct topology topo;
	struct applied *applied;
	unsigned n_applied;
};

static volatile sig_atomic_t stop_signal;
static bool json;
static group_transact_fn transact; /* group_main's, for host_request */

static void on_signal(int sig)
{
	stop_signal = sig;
}

static _printf_(1, 2) void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	json_vfail(json, fmt, ap);
	va_end(ap);
}

bool group_wanted(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (streq(argv[i], "--topology") || strncmp(argv[i], "--topology=", 11) == 0)
			return true;
	return false;
}

/* One request to host i. 0 with an OK reply; -EREMOTEIO with the daemon's reason in WHY; else
 * the host was not reached (the reason printed). */
static int host_request(unsigned i, uint16_t type, struct proto_writer *w,
		struct proto_msg **ret, char *why, size_t n)
{
	struct proto_msg *m = NULL;
	int r;

	remote_group_use(i);
	r = transact(type, w, &m);
	if (r < 0) {
		snprintf(why, n, "not reached: %s", strerror(-r));
		return r;
	}
	if (m->type == PROTO_REPLY_ERROR) {
		snprintf(why, n, "%s", proto_msg_get(m, 0, "error") ?: "failed");
		for (char *c = why; *c; c++)
			if (*c == '\n')
				*c = ';';
		proto_msg_free(m);
		return -EREMOTEIO;
	}
	*ret = m;
	return 0;
}

static int host_simple(unsigned i, uint16_t type, const char *key, const char *value, char *why,
		size_t n)
{
	_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
	struct proto_writer w;
	int r;

	proto_writer_init(&w, type, PROTO_MAX_REQUEST);
	if (key)
		proto_put(&w, key, value);
	r = host_request(i, type, &w, &m, why, n);
	proto_writer_done(&w);
	return r;
}

/* Every host's edges: the destination of each peer it must cut. A missing edge is refused
 * here, before anything is applied. */
static int read_edges(struct group *g)
{
	for (unsigned i = 0; i < g->n; i++) {
		_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
		struct proto_writer w;
		char why[1024];
		int r;

		proto_writer_init(&w, PROTO_EDGES, PROTO_MAX_REQUEST);
		r = host_request(i, PROTO_EDGES, &w, &m, why, sizeof(why));
		proto_writer_done(&w);
		if (r < 0) {
			fail("%s: edges: %s", g->names[i], term_safe(why));
			return r == -EREMOTEIO ? CTLOPT_EXIT_FAILED : CTLOPT_EXIT_UNREACHABLE;
		}
		for (unsigned k = 0; k < m->n_fields; k = proto_msg_next_record(m, k)) {
			const char *name = proto_msg_get(m, k, "name");
			for (unsigned j = 0; name && j < g->n; j++)
				if (j != i && streq(name, g->names[j]))
					snprintf(g->dest[i][j], sizeof(g->dest[i][j]), "%s",
							proto_msg_get(m, k, "destination") ?: "?");
		}
		for (unsigned j = 0; j < g->n; j++)
			if (g->topo.cut[i][j] && !g->dest[i][j][0]) {
				fail("%s has no edge '%s': add [edge %s] with %s's address as its "
				     "destination to %s's chaosd.conf (the peers of a topology are "
				     "the edges named after them); nothing was applied",
						g->names[i], g->names[j], g->names[j], g->names[j],
						g->names[i]);
				return CTLOPT_EXIT_FAILED;
			}
	}
	return 0;
}

/* The chaosd.topology/1 document (doc/schema/chaosd.topology-1.json). */
static void print_json(const struct group *g, const char *command, const char *spec,
		const uint64_t *seed, uint64_t lease, uint64_t duration)
{
	char desc[512];

	printf("{\"ok\":true,\"schema\":");
	json_string(json_docs[JSON_TOPOLOGY].schema);
	printf(",\"command\":");
	json_string(command);
	if (spec) {
		printf(",\"topology\":");
		json_string(spec);
	}
	printf(",\"describe\":");
	json_string(topology_describe(&g->topo, g->names, desc, sizeof(desc)));
	if (seed)
		printf(",\"seed\":%" PRIu64, *seed);
	if (streq(command, "inject"))
		printf(",\"lease_us\":%" PRIu64 ",\"duration_us\":%" PRIu64, lease, duration);
	printf(",\"hosts\":[");
	for (unsigned i = 0; i < g->n; i++) {
		bool first = true;
		printf("%s{\"host\":", i ? "," : "");
		json_string(g->names[i]);
		printf(",\"cuts\":[");
		for (unsigned j = 0; j < g->n; j++) {
			if (!g->topo.cut[i][j])
				continue;
			printf("%s{\"peer\":", first ? "" : ",");
			json_string(g->names[j]);
			if (g->dest[i][j][0]) {
				printf(",\"destination\":");
				json_string(g->dest[i][j]);
			}
			if (g->fault[i][j][0])
				printf(",\"fault\":%s", g->fault[i][j]);
			putchar('}');
			first = false;
		}
		printf("]}");
	}
	printf("]}\n");
	fflush(stdout);
}

static void print_plan(const struct group *g, const char *spec, uint64_t seed)
{
	char desc[512];

	if (json)
		return;
	printf("topology %s: %s, seed %" PRIu64 "\n", spec,
			topology_describe(&g->topo, g->names, desc, sizeof(desc)), seed);
	for (unsigned i = 0; i < g->n; i++) {
		bool any = false;
		printf("%s: cuts", g->names[i]);
		for (unsigned j = 0; j < g->n; j++)
			if (g->topo.cut[i][j]) {
				printf("%s %s (%s)", any ? "," : "", g->names[j],
						term_safe(g->dest[i][j]));
				any = true;
			}
		printf("%s\n", any ? "" : " nothing");
	}
	fflush(stdout);
}

/* Revert what was applied, newest first; keeps going past failures (their leases and
 * deadlines still end them). Returns the number not reverted. */
static unsigned rollback(struct group *g, const char *what)
{
	unsigned failed = 0;

	for (unsigned k = g->n_applied; k-- > 0;) {
		const struct applied *a = &g->applied[k];
		char why[1024];
		int r = host_simple(a->host, PROTO_REVERT, "id", a->id, why, sizeof(why));

		/* gone already (its deadline, the kill switch): that is what was wanted */
		if (r < 0 && !(r == -EREMOTEIO && strstr(why, "no active fault")))
			failed++, fprintf(stderr, "chaosctl: %s: %s of fault %s (cut %s) failed: %s; "
					  "its lease or deadline ends it\n", g->names[a->host], what, a->id,
					  g->names[a->peer], term_safe(why));
	}
	g->n_applied = 0;
	return failed;
}

static int apply(struct group *g, const char *const *keys, const char *const *values,
		unsigned n_kv, const char *spec)
{
	for (unsigned i = 0; i < g->n; i++)
		for (unsigned j = 0; j < g->n; j++) {
			_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
			struct proto_writer w;
			char why[1024], hosts[1024] = "";
			int r;

			if (!g->topo.cut[i][j])
				continue;
			proto_writer_init(&w, PROTO_INJECT, PROTO_MAX_REQUEST);
			proto_put(&w, "kind", "partition");
			proto_put(&w, "edge", g->names[j]);
			proto_put(&w, "direction", "both");
			for (unsigned k = 0; k < n_kv; k++)
				proto_put(&w, keys[k], values[k]);
			r = host_request(i, PROTO_INJECT, &w, &m, why, sizeof(why));
			proto_writer_done(&w);
			if (r == 0) {
				struct applied *a = &g->applied[g->n_applied++];
				*a = (struct applied){ .host = i, .peer = j };
				snprintf(a->id, sizeof(a->id), "%s", proto_msg_get(m, 0, "id") ?: "0");
				if (parse_u64_range(a->id, 1, UINT64_MAX, &(uint64_t){ 0 }) == 0)
					memcpy(g->fault[i][j], a->id, sizeof(a->id));
				continue;
			}
			for (unsigned k = 0; k < g->n_applied; k++)
				if (!strstr(hosts, g->names[g->applied[k].host]))
					snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts),
							"%s%s", *hosts ? ", " : "",
							g->names[g->applied[k].host]);
			fail("topology %s: %s %s the partition from %s: %s", spec, g->names[i],
					r == -EREMOTEIO ? "refused" : "was not reached for", g->names[j],
					term_safe(why));
			if (g->n_applied) {
				unsigned n = g->n_applied, left = rollback(g, "rollback");
				fprintf(stderr, "chaosctl: rolled back %u of %u partition(s) on %s: "
						"no host is partitioned%s\n", n - left, n, hosts,
						left ? " once the leases lapse" : "");
			} else
				fprintf(stderr, "chaosctl: nothing was applied\n");
			return r == -EREMOTEIO ? CTLOPT_EXIT_FAILED : CTLOPT_EXIT_UNREACHABLE;
		}
	return 0;
}

static void sleep_usec(uint64_t usec)
{
	struct timespec ts = { .tv_sec = (time_t)(usec / USEC_PER_SEC),
		.tv_nsec = (long)(usec % USEC_PER_SEC) * 1000 };

	(void)nanosleep(&ts, NULL); /* a signal cuts it short: the flag is checked next */
}

/* Renew every lease until --for ends (END, 0: until the partitions end), a signal, or a host
 * whose partitions are gone (the kill switch, its deadline): then heal the rest. */
static int hold(struct group *g, uint64_t lease, uint64_t end)
{
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t period = MAX(lease / 3, 200 * USEC_PER_MSEC);
	char l[32], why[1024];

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* with --json, stdout has the document only */
	if (json)
		(void)dup2(STDERR_FILENO, STDOUT_FILENO);
	printf("holding %u partition(s) on %u hosts with a %s lease (renewed every %.1fs); stop "
	       "this command to heal them\n", g->n_applied, g->n,
			parse_format_duration(lease, l, sizeof(l)), (double)period / USEC_PER_SEC);
	fflush(stdout);
	for (;;) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);

		if (end && now >= end) {
			(void)rollback(g, "revert");
			printf("healed: --for ended\n");
			return 0;
		}
		sleep_usec(end ? MIN(period, end - now) : period);
		if (stop_signal) {
			unsigned left = rollback(g, "revert");
			printf("healed (%s)%s\n", strsignal(stop_signal),
					left ? ": some partitions are left to their leases" : "");
			return left ? CTLOPT_EXIT_FAILED : 0;
		}
		if (end && now_usec(CLOCK_MONOTONIC) >= end)
			continue;
		for (unsigned k = 0; k < g->n_applied; k++) {
			const struct applied *a = &g->applied[k];
			int r = host_simple(a->host, PROTO_RENEW, "id", a->id, why, sizeof(why));

			if (r == -EREMOTEIO) {
				fprintf(stderr, "chaosctl: %s: the partition from %s is gone (%s): "
						"healing the other hosts\n", g->names[a->host],
						g->names[a->peer], term_safe(why));
				(void)rollback(g, "revert");
				printf("healed: the partitions on %s ended before --for did\n",
						g->names[a->host]);
				return end ? CTLOPT_EXIT_FAILED : 0;
			}
			/* not reached: tried again next period; its lease may end it meanwhile */
		}
	}
}

static int status(struct group *g)
{
	char desc[512], why[1024];
	int worst = 0;

	for (unsigned i = 0; i < g->n; i++) {
		_cleanup_(proto_msg_freep) struct proto_msg *m = NULL;
		struct proto_writer w;
		bool any = false;
		int r;

		proto_writer_init(&w, PROTO_STATUS, PROTO_MAX_REQUEST);
		r = host_request(i, PROTO_STATUS, &w, &m, why, sizeof(why));
		proto_writer_done(&w);
		if (r < 0) {
			fail("%s: status: %s", g->names[i], term_safe(why));
			worst = MAX(worst, r == -EREMOTEIO ? CTLOPT_EXIT_FAILED :
							     CTLOPT_EXIT_UNREACHABLE);
			continue;
		}
		if (!json)
			printf("%s: cuts", g->names[i]);
		for (unsigned k = 0; k < m->n_fields; k = proto_msg_next_record(m, k)) {
			const char *kind = proto_msg_get(m, k, "kind"),
				   *edge = proto_msg_get(m, k, "edge"), *id = proto_msg_get(m, k, "id");
			for (unsigned j = 0; kind && edge && j < g->n; j++)
				if (j != i && streq(kind, "partition") && streq(edge, g->names[j])) {
					if (!json)
						printf("%s %s (fault %s)", any ? "," : "",
								g->names[j], term_safe(id ?: "?"));
					if (id && parse_u64_range(id, 1, UINT64_MAX,
							&(uint64_t){ 0 }) == 0)
						snprintf(g->fault[i][j], sizeof(g->fault[i][j]), "%s",
								id);
					g->topo.cut[i][j] = any = true;
				}
		}
		if (!json)
			printf("%s%s\n", any ? "" : " nothing", proto_msg_get(m, 0, "killed") &&
					streq(proto_msg_get(m, 0, "killed"), "yes") ?
					" (kill switch engaged)" : "");
	}
	if (json && worst == 0)
		print_json(g, "status", NULL, NULL, 0, 0);
	else if (!json)
		printf("topology in force: %s\n", topology_describe(&g->topo, g->names, desc,
								      sizeof(desc)));
	return worst;
}

static uint64_t random_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = now_usec(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
	return seed % 1000000000; /* short enough to type back */
}

int group_main(const char *hosts, const char *source, const struct proto_verb *verb, int argc,
		char **argv, bool json_output, group_transact_fn transact_fn)
{
	const char *spec_s = NULL, *keys[8], *values[8];
	_cleanup_free_ struct group *g = calloc(1, sizeof(*g));
	_cleanup_free_ struct applied *applied = calloc(GROUP_MAX_FAULTS, sizeof(*applied));
	struct topology_spec spec;
	uint64_t seed = 0, lease = GROUP_DEFAULT_LEASE;
	bool seeded = false, detach = false, is_inject = verb->type == PROTO_INJECT;
	unsigned n_kv = 0;
	struct fault f;
	struct diag d;
	char l[32];
	int r, a0 = is_inject ? 1 : 0;

	diag_init(&d);
	fault_init(&f, FAULT_PARTITION);
	if (!g || !applied)
		return fail("%s", strerror(ENOMEM)), CTLOPT_EXIT_FAILED;
	g->applied = applied;
	json = json_output;
	transact = transact_fn;
	if (verb->type != PROTO_INJECT && verb->type != PROTO_PLAN && verb->type != PROTO_STATUS)
		return fail("--topology goes with inject partition, plan and status, not %s",
				verb->name), CTLOPT_EXIT_USAGE;
	if (is_inject && (argc < 1 || !streq(argv[0], "partition")))
		return fail("inject --topology: the fault is a partition (inject partition "
			    "--topology SPEC)"), CTLOPT_EXIT_USAGE;
	for (int i = a0; i < argc; i++) {
		const char *opt = argv[i], *val = NULL;
		const struct ctlopt_group *o;
		char key[64];

		if (strncmp(opt, "--", 2) != 0)
			return fail("%s --topology: unexpected argument '%s'", verb->name, opt),
			       CTLOPT_EXIT_USAGE;
		opt += 2;
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(opt, "="), opt);
		/* ctlopt_group_options[], or (inject partition) a fault key */
		o = ctlopt_group_find(verb->type, key);
		if (!o && !is_inject)
			return fail("%s --topology: '--%s' is not an option here (the topology "
				    "picks the edges, both directions)", verb->name, opt),
			       CTLOPT_EXIT_USAGE;
		if (strchr(opt, '='))
			val = strchr(opt, '=') + 1;
		else if (o && !o->metavar)
			val = "";
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return fail("%s: option '--%s' needs a value", verb->name, key),
			       CTLOPT_EXIT_USAGE;
		for (char *c = key; *c; c++)
			if (*c == '-')
				*c = '_';
		if (o && streq(o->name, "topology") && o->metavar)
			spec_s = val;
		else if (o && streq(o->name, "topology"))
			continue;
		else if (o && streq(o->name, "seed")) {
			if (parse_u64_range(val, 0, UINT64_MAX, &seed) < 0)
				return fail("%s: --seed '%s' is not a number", verb->name, val),
				       CTLOPT_EXIT_USAGE;
			seeded = true;
		} else if (o && streq(o->name, "detach"))
			detach = true;
		else if (streq(key, "edge") || streq(key, "direction") || n_kv == ELEMENTSOF(keys))
			return fail("%s --topology: '--%s' is not an option here (the topology "
				    "picks the edges, both directions)", verb->name, opt),
			       CTLOPT_EXIT_USAGE;
		else if (fault_set(&f, key, val, &d) < 0)
			return fail("inject partition --topology: %s", diag_text(&d)),
			       CTLOPT_EXIT_USAGE;
		else if (!streq(key, "lease")) {
			keys[n_kv] = streq(key, "for") ? "for" : key;
			values[n_kv++] = val;
		}
	}
	if (f.lease_usec)
		lease = f.lease_usec;
	r = remote_group_begin(hosts, source, json, &g->n);
	if (r != 0)
		return r;
	for (unsigned i = 0; i < g->n; i++)
		g->names[i] = remote_group_name(i);
	if (verb->type == PROTO_STATUS) {
		g->topo.n = g->n;
		return status(g);
	}
	if (!spec_s)
		return fail("%s: --topology needs a value (%s)", verb->name, TOPOLOGY_KINDS),
		       CTLOPT_EXIT_USAGE;
	if (!seeded)
		seed = random_seed();
	if (topology_parse(spec_s, &spec, &d) < 0 ||
			topology_compute(&spec, g->names, g->n, seed, &g->topo, &d) < 0)
		return fail("%s", diag_text(&d)), CTLOPT_EXIT_USAGE;
	r = read_edges(g);
	if (r != 0)
		return r;
	print_plan(g, spec_s, seed);
	if (!is_inject) {
		if (json)
			print_json(g, "plan", spec_s, &seed, 0, 0);
		return 0;
	}
	if (!detach) {
		keys[n_kv] = "lease";
		values[n_kv++] = parse_format_duration(lease, l, sizeof(l));
	}
	r = apply(g, keys, values, n_kv, spec_s);
	if (r != 0)
		return r;
	if (json)
		print_json(g, "inject", spec_s, &seed, detach ? 0 : lease, f.duration_usec);
	for (unsigned i = 0; i < g->n && !json; i++) {
		bool any = false;
		for (unsigned k = 0; k < g->n_applied; k++) {
			if (g->applied[k].host != i)
				continue;
			if (!any)
				printf("%s: faults", g->names[i]);
			printf("%s %s", any ? "," : "", g->applied[k].id);
			any = true;
		}
		if (any)
			putchar('\n');
	}
	if (!json)
		printf("applied topology %s: %u partition(s) on %u hosts%s%s\n", spec_s,
				g->n_applied, g->n, f.duration_usec ? ", for " : "",
				f.duration_usec ? parse_format_duration(f.duration_usec, l,
									sizeof(l)) : "");
	fflush(stdout);
	if (detach)
		return 0;
	return hold(g, lease, f.duration_usec ? now_usec(CLOCK_MONOTONIC) + f.duration_usec : 0);
}
