/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fault core (daemon/faults.c) and the kill switch's state (daemon/killswitch.c) against a
 * fake kernel and a journal in a temporary directory: no root, no netlink. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faults.h"
#include "killswitch.h"
#include "test-util.h"
#include "timeutil.h"

/* ------------------------------------------------------------------ the fake kernel */

struct fake {
	/* netem per edge slot (0, 1) and direction (0 out, 1 in): latency in ms, -1 = none */
	int64_t latency_ms[2][2];
	uint32_t loss[2][2];
	uint64_t rate[2][2]; /* bytes/s */
	uint32_t limit[2][2];
	unsigned n_partitions;
	uint64_t partition_ids[16];
	unsigned calls, remove_all_calls;
	uint64_t packets, drops, qlen; /* every netem's counters */
	unsigned stats_reads;
	unsigned unclassified; /* unclassify calls while that direction still had a netem */
	bool link_busy;        /* the interface's packet count moves between two reads */
	uint64_t link_packets;
	uint64_t ifb_backlog;  /* handed to the IFB, not passed on yet (not in any netem) */
	int fail_dir_in;       /* set_netem on FAULT_DIR_IN fails with this (0: no) */
	int fail_partitions;
	/* conntrack: ids listed per call (3 at first, then 4, ...), the last sync's first
	 * partition's ids and mode, edges flushed */
	unsigned ct_id_calls, ct_flushes, fail_ct_ids;
	uint32_t synced_ids[8];
	unsigned n_synced_ids;
	enum fault_partition_mode synced_mode;
	char flushed[EDGE_NAME_MAX + 1];
	unsigned parts_at_flush; /* partitions in nftables when the last flush came */
};

static int edge_slot(const struct edge *e)
{
	return streq(e->name, "db") ? 0 : 1;
}

static int fake_set_netem(void *k, const struct edge *e, int ifindex, enum fault_direction dir,
		const struct netem_config *cfg, uint32_t flows, struct diag *d)
{
	struct fake *f = k;
	int di = dir == FAULT_DIR_IN;

	f->calls++;
	if (di && f->fail_dir_in)
		return diag_add(d, f->fail_dir_in, "fake: ingress refused");
	f->latency_ms[edge_slot(e)][di] = cfg ? cfg->latency_ns / 1000000 : -1;
	f->loss[edge_slot(e)][di] = cfg ? cfg->loss : 0;
	f->rate[edge_slot(e)][di] = cfg ? cfg->rate_bytes_per_sec : 0;
	f->limit[edge_slot(e)][di] = cfg ? cfg->limit : 0;
	return 0;
}

static int fake_sync_partitions(void *k, const struct nl_nft_partition *parts, unsigned n,
		struct diag *d)
{
	struct fake *f = k;

	f->calls++;
	if (f->fail_partitions)
		return diag_add(d, f->fail_partitions, "fake: nftables refused");
	f->n_partitions = n;
	for (unsigned i = 0; i < n && i < ELEMENTSOF(f->partition_ids); i++)
		f->partition_ids[i] = parts[i].id;
	f->n_synced_ids = n ? MIN(parts[0].n_ct_ids, ELEMENTSOF(f->synced_ids)) : 0;
	for (unsigned i = 0; i < f->n_synced_ids; i++)
		f->synced_ids[i] = parts[0].ct_ids[i];
	f->synced_mode = n ? parts[0].mode : FAULT_MODE_DROP;
	return 0;
}

static int fake_ct_ids(void *k, const struct edge *e, uint32_t **ret, unsigned *ret_n,
		struct diag *d)
{
	struct fake *f = k;
	unsigned n = 3 + f->ct_id_calls++;
	uint32_t *ids;

	if (f->fail_ct_ids)
		return diag_add(d, -EIO, "fake: conntrack refused");
	ids = calloc(n, sizeof(*ids));
	ck_assert_ptr_nonnull(ids);
	for (unsigned i = 0; i < n; i++)
		ids[i] = 100 * f->ct_id_calls + i;
	*ret = ids;
	*ret_n = n;
	return 0;
}

static int fake_ct_flush(void *k, const struct edge *e, unsigned *ret, struct diag *d)
{
	struct fake *f = k;

	f->ct_flushes++;
	f->parts_at_flush = f->n_partitions;
	snprintf(f->flushed, sizeof(f->flushed), "%s", e->name);
	*ret = 2;
	return 0;
}

static int fake_remove_all(void *k, struct diag *d)
{
	struct fake *f = k;
	int n = 0;

	f->remove_all_calls++;
	for (unsigned e = 0; e < 2; e++)
		for (unsigned di = 0; di < 2; di++) {
			n += f->latency_ms[e][di] >= 0;
			f->latency_ms[e][di] = -1;
			f->loss[e][di] = 0;
		}
	n += f->n_partitions > 0;
	f->n_partitions = 0;
	return n;
}

static int fake_forget(void *k, int ifindex, struct diag *d)
{
	return 0;
}

static int fake_resolve(void *k, const struct edge *e, int *ret, struct diag *d)
{
	*ret = 7;
	return 0;
}

static int fake_stats(void *k, const struct edge *e, int ifindex, enum fault_direction dir,
		struct datapath_stats *ret)
{
	struct fake *f = k;

	f->stats_reads++;
	*ret = (struct datapath_stats){ .packets = f->packets, .bytes = f->packets * 100,
		.drops = f->drops, .qlen = f->qlen };
	return 0;
}

static int fake_drops(void *k, uint64_t id, uint64_t *ret)
{
	*ret = 5;
	return 0;
}

static int fake_unclassify(void *k, const struct edge *e, enum fault_direction dir,
		struct diag *d)
{
	struct fake *f = k;

	f->unclassified += f->latency_ms[edge_slot(e)][dir == FAULT_DIR_IN] >= 0;
	return 0;
}

static int fake_path_backlog(void *k, const struct edge *e, enum fault_direction dir,
		uint64_t *ret)
{
	struct fake *f = k;

	*ret = f->qlen + f->ifb_backlog;
	return 0;
}

static int fake_link_packets(void *k, int ifindex, uint64_t *ret)
{
	struct fake *f = k;

	f->link_packets += f->link_busy;
	*ret = f->link_packets;
	return 0;
}

static const struct kernel_ops fake_ops = {
	.unclassify = fake_unclassify,
	.link_packets = fake_link_packets,
	.path_backlog = fake_path_backlog,
	.set_netem = fake_set_netem,
	.sync_partitions = fake_sync_partitions,
	.remove_all = fake_remove_all,
	.forget_interface = fake_forget,
	.resolve_ifindex = fake_resolve,
	.netem_stats = fake_stats,
	.partition_drops = fake_drops,
	.conntrack_ids = fake_ct_ids,
	.conntrack_flush = fake_ct_flush,
};

/* ------------------------------------------------------------------ fixture */

static char dir[64];
static sd_event *event;
static struct journal *journal;
static struct fake fake;
static struct metrics_counters counters;
static struct faults *faults;
static unsigned n_gone, n_changed, n_unrecorded;
static uint64_t last_gone;

static void on_gone(void *u, const struct active_fault *af)
{
	n_gone++;
	last_gone = af->id;
}

static void on_changed(void *u)
{
	n_changed++;
}

static void on_unrecorded(void *u, int err, const char *what)
{
	n_unrecorded++;
}

static const struct faults_hooks hooks = { .fault_gone = on_gone, .changed = on_changed,
	.unrecorded = on_unrecorded };

static void setup(void)
{
	struct diag d;

	snprintf(dir, sizeof(dir), "/tmp/test-faults-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	diag_init(&d);
	ck_assert_int_ge(journal_open(dir, &journal, &d), 0);
	ck_assert_int_ge(sd_event_new(&event), 0);
	memset(&fake, 0, sizeof(fake));
	for (unsigned e = 0; e < 2; e++)
		fake.latency_ms[e][0] = fake.latency_ms[e][1] = -1;
	memset(&counters, 0, sizeof(counters));
	n_gone = n_changed = n_unrecorded = 0;
	ck_assert_int_ge(faults_new(event, journal, (struct kernel){ &fake_ops, &fake }, &counters,
				 &hooks, &faults),
			0);
	faults_set_link_rate(faults, 1000000000ULL);
}

static void teardown(void)
{
	char cmd[128];

	faults = faults_free(faults);
	journal = journal_free(journal);
	event = sd_event_unref(event);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct edge make_edge(const char *name, const char *dest)
{
	struct edge e = {};

	snprintf(e.name, sizeof(e.name), "%s", name);
	ck_assert_int_eq(edge_prefix_parse(dest, &e.prefixes[0]), 0);
	e.n_prefixes = 1;
	return e;
}

static struct fault make_fault(enum fault_kind kind, const char *key, const char *value,
		const char *dir_s)
{
	struct fault f;
	struct diag d;

	diag_init(&d);
	fault_init(&f, kind);
	if (key)
		ck_assert_int_eq(fault_set(&f, key, value, &d), 0);
	if (dir_s)
		ck_assert_int_eq(fault_set(&f, "direction", dir_s, &d), 0);
	ck_assert_int_eq(fault_validate(&f, &d), 0);
	return f;
}

static uint64_t apply(const struct edge *e, const struct fault *f, uint64_t for_usec,
		const char *run)
{
	struct active_fault *af;
	struct diag d;
	bool updated;

	diag_init(&d);
	ck_assert_int_eq(faults_apply(faults, e, 7, "veth0", f, 0,
					 now_usec(CLOCK_REALTIME) + for_usec, 0, 0, run, &af,
					 &updated, &d),
			0);
	return af->id;
}

/* Reopen the journal from disk, as a restart would. */
static unsigned journal_on_disk(void)
{
	struct journal *j2 = NULL;
	struct diag d;
	unsigned n;

	/* The state directory's lock is ours: read the file through a copy. */
	char cmd[512], copy[96];
	snprintf(copy, sizeof(copy), "%s-copy", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s' && cp '%s/journal' '%s/'", copy, copy,
			dir, copy);
	ck_assert_int_eq(system(cmd), 0);
	diag_init(&d);
	ck_assert_int_ge(journal_open(copy, &j2, &d), 0);
	n = journal_fault_count(j2);
	journal_free(j2);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	ck_assert_int_eq(system(cmd), 0);
	return n;
}

/* ------------------------------------------------------------------ the fault core */

/* Run the loop until edge slot e, direction di carries latency ms (-1: no netem). */
/* Run the loop for usec. */
static void run_for(uint64_t usec)
{
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);

	while (now_usec(CLOCK_MONOTONIC) < t0 + usec)
		ck_assert_int_ge(sd_event_run(event, 20 * USEC_PER_MSEC), 0);
}

static int run_until_latency(unsigned e, unsigned di, int64_t ms, uint64_t usec)
{
	uint64_t end = now_usec(CLOCK_MONOTONIC) + usec;

	while (fake.latency_ms[e][di] != ms && now_usec(CLOCK_MONOTONIC) < end)
		ck_assert_int_ge(sd_event_run(event, 20 * USEC_PER_MSEC), 0);
	return fake.latency_ms[e][di] == ms ? 0 : -ETIMEDOUT;
}

START_TEST(test_merge_and_revert)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "200", "both");
	struct fault loss = make_fault(FAULT_LOSS, "percent", "10", "both");
	struct diag d;
	uint64_t a, b;

	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	ck_assert_int_eq(fake.latency_ms[0][0], 200);
	ck_assert_int_eq(fake.latency_ms[0][1], 200);
	b = apply(&db, &loss, 60 * USEC_PER_SEC, NULL);
	/* one netem carries both */
	ck_assert_int_eq(fake.latency_ms[0][0], 200);
	ck_assert_uint_gt(fake.loss[0][0], 0);
	ck_assert_uint_eq(faults_count(faults), 2);
	ck_assert_uint_eq(journal_on_disk(), 2);

	diag_init(&d);
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	ck_assert_int_eq(fake.latency_ms[0][0], 0); /* loss alone remains */
	ck_assert_uint_gt(fake.loss[0][0], 0);
	/* draining: ordered behind what the 200 ms held, in a queue as long as before */
	ck_assert_uint_gt(fake.rate[0][0], 0);
	ck_assert_uint_gt(fake.rate[0][1], 0);
	ck_assert_uint_ge(fake.limit[0][0], 1000);
	ck_assert_uint_eq(n_gone, 1);
	ck_assert_uint_eq(last_gone, a);
	ck_assert_int_eq(faults_revert(faults, b, "revert", 0, 0, &d), 0);
	/* the netem stays until the 200 ms have drained, then goes */
	ck_assert_int_eq(fake.latency_ms[0][0], 0);
	ck_assert_int_eq(run_until_latency(0, 0, -1, 2 * USEC_PER_SEC), 0);
	ck_assert_int_eq(fake.latency_ms[0][0], -1);
	ck_assert_int_eq(fake.latency_ms[0][1], -1);
	ck_assert_uint_eq(faults_count(faults), 0);
	ck_assert_uint_eq(journal_on_disk(), 0);
	ck_assert_uint_eq(counters.reverted[FAULT_LATENCY], 1);
	ck_assert_int_lt(faults_revert(faults, b, "revert", 0, 0, &d), 0);
}
END_TEST

START_TEST(test_update_in_place)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault a = make_fault(FAULT_LATENCY, "ms", "100", NULL);
	struct fault b = make_fault(FAULT_LATENCY, "ms", "300", NULL);
	uint64_t id1, id2;

	id1 = apply(&db, &a, 60 * USEC_PER_SEC, NULL);
	id2 = apply(&db, &b, 60 * USEC_PER_SEC, NULL);
	ck_assert_uint_eq(id1, id2);
	ck_assert_uint_eq(faults_count(faults), 1);
	ck_assert_int_eq(fake.latency_ms[0][0], 300);
}
END_TEST

/* A direction the kernel refuses: the other is put back and nothing is registered. */
START_TEST(test_all_or_nothing)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault old = make_fault(FAULT_LATENCY, "ms", "50", "both");
	struct fault lat = make_fault(FAULT_LOSS, "percent", "20", "both");
	struct active_fault *af;
	struct diag d;
	bool updated;

	apply(&db, &old, 60 * USEC_PER_SEC, NULL);
	fake.fail_dir_in = -EIO;
	diag_init(&d);
	ck_assert_int_eq(faults_apply(faults, &db, 7, "veth0", &lat, 0,
					 now_usec(CLOCK_REALTIME) + USEC_PER_SEC, 0, 0, NULL, &af,
					 &updated, &d),
			-EIO);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "ingress refused"));
	/* egress was changed, then rolled back to the old fault alone */
	ck_assert_int_eq(fake.latency_ms[0][0], 50);
	ck_assert_uint_eq(fake.loss[0][0], 0);
	ck_assert_uint_eq(faults_count(faults), 1);
	ck_assert_uint_eq(journal_on_disk(), 1);
	ck_assert_uint_eq(counters.apply_failed[FAULT_LOSS], 1);
}
END_TEST

START_TEST(test_run_owned_is_not_changed_by_hand)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault a = make_fault(FAULT_LATENCY, "ms", "100", NULL);
	struct active_fault *af;
	struct diag d;
	bool updated;

	apply(&db, &a, 60 * USEC_PER_SEC, "run-1");
	diag_init(&d);
	ck_assert_int_eq(faults_apply(faults, &db, 7, "veth0", &a, 0,
					 now_usec(CLOCK_REALTIME) + USEC_PER_SEC, 0, 0, NULL, &af,
					 &updated, &d),
			-EBUSY);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "run-1"));
}
END_TEST

START_TEST(test_partitions_share_one_table)
{
	struct edge db = make_edge("db", "10.0.0.0/24"), cache = make_edge("cache", "10.0.1.0/24");
	struct fault p = make_fault(FAULT_PARTITION, NULL, NULL, NULL);
	struct diag d;
	uint64_t a, b;

	a = apply(&db, &p, 60 * USEC_PER_SEC, NULL);
	b = apply(&cache, &p, 60 * USEC_PER_SEC, NULL);
	ck_assert_uint_eq(fake.n_partitions, 2);
	diag_init(&d);
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	ck_assert_uint_eq(fake.n_partitions, 1);
	ck_assert_uint_eq(fake.partition_ids[0], b);
	/* nftables refusing a revert keeps the fault listed: never a lost revert */
	fake.fail_partitions = -EIO;
	ck_assert_int_lt(faults_revert(faults, b, "revert", 0, 0, &d), 0);
	ck_assert_uint_eq(faults_count(faults), 1);
}
END_TEST

START_TEST(test_partition_connections)
{
	struct edge db = make_edge("db", "10.0.0.0/24"), cache = make_edge("cache", "10.0.1.0/24");
	struct fault p = make_fault(FAULT_PARTITION, "connections", "established", NULL);
	struct fault q = make_fault(FAULT_PARTITION, "mode", "reject", NULL);
	struct active_fault *af;
	struct diag d;
	uint64_t a;

	/* established: the ids open at the start go to nftables with the partition */
	a = apply(&db, &p, 60 * USEC_PER_SEC, NULL);
	ck_assert_uint_eq(fake.ct_id_calls, 1);
	ck_assert_uint_eq(fake.n_synced_ids, 3);
	ck_assert_uint_eq(fake.synced_ids[2], 102);
	/* changed in place, it keeps the connections of its start, not today's */
	ck_assert_int_eq(fault_set(&p, "mode", "reject", NULL), 0);
	ck_assert_uint_eq(apply(&db, &p, 60 * USEC_PER_SEC, NULL), a);
	ck_assert_uint_eq(fake.ct_id_calls, 1);
	ck_assert_uint_eq(fake.n_synced_ids, 3);
	ck_assert_int_eq(fake.synced_mode, FAULT_MODE_REJECT);
	/* a later partition elsewhere rewrites the table with the same ids */
	apply(&cache, &q, 60 * USEC_PER_SEC, NULL);
	ck_assert_uint_eq(fake.ct_id_calls, 1);
	af = faults_find(faults, a);
	ck_assert_uint_eq(af->n_ct_ids, 3);

	/* a revert flushes the edge's stale entries; a failed listing refuses the fault whole */
	diag_init(&d);
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	ck_assert_uint_eq(fake.ct_flushes, 1);
	ck_assert_str_eq(fake.flushed, "db");
	fake.fail_ct_ids = 1;
	diag_init(&d);
	p = make_fault(FAULT_PARTITION, "connections", "established", NULL);
	ck_assert_int_lt(faults_apply(faults, &db, 7, "veth0", &p, 0,
					 now_usec(CLOCK_REALTIME) + USEC_PER_SEC, 0, 0, NULL, &af,
					 &(bool){ false }, &d),
			0);
	ck_assert_str_eq(diag_text(&d), "fake: conntrack refused");
	ck_assert_uint_eq(faults_count(faults), 1);
}
END_TEST

/* Revert fault id: its edge's entries are flushed, with parts partitions in nftables then. */
static void revert_flushed(uint64_t id, const char *edge, unsigned parts)
{
	unsigned flushes = fake.ct_flushes;
	struct diag d;

	diag_init(&d);
	ck_assert_int_eq(faults_revert(faults, id, "revert", 0, 0, &d), 0);
	ck_assert_uint_eq(fake.ct_flushes, flushes + 1);
	ck_assert_str_eq(fake.flushed, edge);
	ck_assert_uint_eq(fake.parts_at_flush, parts);
	ck_assert_uint_eq(fake.n_partitions, 0);
}

START_TEST(test_partition_flush_order)
{
	struct edge db = make_edge("db", "10.0.0.0/24"), svc = make_edge("cache", "10.0.1.0/24");
	struct fault p = make_fault(FAULT_PARTITION, "mode", "drop", NULL);

	/* a service edge's entries are told by its mark, which goes with its partition: they are
	 * flushed while the partition is still there */
	svc.has_uid = true;
	svc.uid = 4242;
	revert_flushed(apply(&svc, &p, 60 * USEC_PER_SEC, NULL), "cache", 1);
	/* a destination edge's once the partition is gone: no new entry rides in between */
	revert_flushed(apply(&db, &p, 60 * USEC_PER_SEC, NULL), "db", 0);
}
END_TEST

static int run_until(uint64_t usec, unsigned *counter, unsigned want)
{
	uint64_t end = now_usec(CLOCK_MONOTONIC) + usec;

	while (*counter < want && now_usec(CLOCK_MONOTONIC) < end)
		ck_assert_int_ge(sd_event_run(event, 50 * USEC_PER_MSEC), 0);
	return *counter >= want ? 0 : -ETIMEDOUT;
}

START_TEST(test_deadline_reverts)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "100", NULL);
	uint64_t t0 = now_usec(CLOCK_MONOTONIC), id;

	id = apply(&db, &lat, 200 * USEC_PER_MSEC, NULL);
	ck_assert_int_eq(run_until(3 * USEC_PER_SEC, &n_gone, 1), 0);
	ck_assert_uint_eq(last_gone, id);
	ck_assert_uint_ge(now_usec(CLOCK_MONOTONIC) - t0, 200 * USEC_PER_MSEC);
	/* the 100 ms drain first */
	ck_assert_int_eq(fake.latency_ms[0][0], 0);
	ck_assert_int_eq(run_until_latency(0, 0, -1, 2 * USEC_PER_SEC), 0);
	ck_assert_uint_ge(now_usec(CLOCK_MONOTONIC) - t0, 300 * USEC_PER_MSEC);
	ck_assert_uint_eq(faults_count(faults), 0);
	ck_assert_uint_eq(journal_on_disk(), 0);
}
END_TEST

/* Every fault's deadline shares one timer: a later inject with an earlier deadline still goes
 * first, a revert that fails at its deadline is tried again a second later, and an empty
 * registry leaves no timer to wake the loop. */
START_TEST(test_deadlines_share_one_timer)
{
	struct edge db = make_edge("db", "10.0.0.0/24"), cache = make_edge("cache", "10.0.1.0/24");
	struct fault p = make_fault(FAULT_PARTITION, NULL, NULL, NULL);
	uint64_t t0 = now_usec(CLOCK_MONOTONIC), t, late, early, id;

	late = apply(&db, &p, 700 * USEC_PER_MSEC, NULL);
	early = apply(&cache, &p, 200 * USEC_PER_MSEC, NULL);
	ck_assert_int_eq(run_until(3 * USEC_PER_SEC, &n_gone, 1), 0);
	t = now_usec(CLOCK_MONOTONIC) - t0;
	ck_assert_uint_eq(last_gone, early);
	ck_assert_uint_ge(t, 200 * USEC_PER_MSEC);
	ck_assert_uint_lt(t, 700 * USEC_PER_MSEC);
	ck_assert_int_eq(run_until(3 * USEC_PER_SEC, &n_gone, 2), 0);
	ck_assert_uint_eq(last_gone, late);
	ck_assert_uint_ge(now_usec(CLOCK_MONOTONIC) - t0, 700 * USEC_PER_MSEC);
	ck_assert_uint_eq(fake.n_partitions, 0);

	/* nftables refuses the revert at the deadline: the fault stays listed, and goes on the
	 * retry a second later once nftables takes it */
	t0 = now_usec(CLOCK_MONOTONIC);
	id = apply(&db, &p, 100 * USEC_PER_MSEC, NULL);
	fake.fail_partitions = -EIO;
	ck_assert_int_eq(run_until(500 * USEC_PER_MSEC, &n_gone, 3), -ETIMEDOUT);
	ck_assert_uint_eq(faults_count(faults), 1);
	ck_assert_uint_eq(fake.n_partitions, 1);
	fake.fail_partitions = 0;
	ck_assert_int_eq(run_until(3 * USEC_PER_SEC, &n_gone, 3), 0);
	ck_assert_uint_eq(last_gone, id);
	ck_assert_uint_ge(now_usec(CLOCK_MONOTONIC) - t0, 1100 * USEC_PER_MSEC);
	ck_assert_uint_eq(fake.n_partitions, 0);
	ck_assert_uint_eq(journal_on_disk(), 0);

	/* nothing listed: the loop has nothing to wake for */
	ck_assert_int_eq(sd_event_run(event, 300 * USEC_PER_MSEC), 0);
}
END_TEST

START_TEST(test_lease_lapses_and_renews)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "100", NULL);
	struct diag d;
	uint64_t id, t0;

	lat.lease_usec = 300 * USEC_PER_MSEC;
	id = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	/* renewed twice: alive after 2 lease periods */
	for (int i = 0; i < 2; i++) {
		t0 = now_usec(CLOCK_MONOTONIC);
		while (now_usec(CLOCK_MONOTONIC) - t0 < 200 * USEC_PER_MSEC)
			ck_assert_int_ge(sd_event_run(event, 20 * USEC_PER_MSEC), 0);
		diag_init(&d);
		ck_assert_int_eq(faults_renew(faults, id, &d), 0);
	}
	ck_assert_uint_eq(faults_count(faults), 1);
	/* not renewed: gone within a lease period, long before its 60 s deadline */
	ck_assert_int_eq(run_until(2 * USEC_PER_SEC, &n_gone, 1), 0);
	ck_assert_uint_eq(faults_count(faults), 0);
	diag_init(&d);
	ck_assert_int_eq(faults_renew(faults, id, &d), -ENOENT);
}
END_TEST


/* A revert that takes delay away waits out netem's queue; one that takes none (loss) and the
 * kill switch do not; a kill while draining leaves nothing for the drain's end to bring back. */
START_TEST(test_lossless_revert)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "300", NULL);
	struct fault loss = make_fault(FAULT_LOSS, "percent", "10", NULL);
	struct diag d;
	uint64_t a, b, t0;
	unsigned calls, reverted;

	diag_init(&d);
	a = apply(&db, &loss, 60 * USEC_PER_SEC, NULL);
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	ck_assert_int_eq(fake.latency_ms[0][0], -1); /* nothing queued: at once */

	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	t0 = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	ck_assert_uint_eq(faults_count(faults), 0); /* reverted for its user at once */
	ck_assert_int_eq(fake.latency_ms[0][0], 0);
	ck_assert_uint_gt(fake.rate[0][0], 0);
	/* a new fault during the drain joins it, still ordered */
	b = apply(&db, &loss, 60 * USEC_PER_SEC, NULL);
	ck_assert_uint_gt(fake.rate[0][0], 0);
	ck_assert_uint_gt(fake.loss[0][0], 0);
	/* drained after the 300 ms (and not before): exactly the loss fault, no rate */
	while (fake.rate[0][0] && now_usec(CLOCK_MONOTONIC) < t0 + 3 * USEC_PER_SEC)
		ck_assert_int_ge(sd_event_run(event, 20 * USEC_PER_MSEC), 0);
	ck_assert_uint_ge(now_usec(CLOCK_MONOTONIC) - t0, 300 * USEC_PER_MSEC);
	ck_assert_uint_eq(fake.rate[0][0], 0);
	ck_assert_uint_gt(fake.loss[0][0], 0);
	ck_assert_int_eq(faults_revert(faults, b, "revert", 0, 0, &d), 0);
	/* the drain is over: nothing waits any more */
	ck_assert_int_eq(run_until_latency(0, 0, -1, USEC_PER_SEC), 0);
	ck_assert_int_eq(fake.latency_ms[0][1], -1); /* never made on the other direction */

	/* a queue that outlives the delay (a standing one) is waited for before the objects go */
	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	fake.qlen = 5;
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	t0 = now_usec(CLOCK_MONOTONIC);
	while (now_usec(CLOCK_MONOTONIC) < t0 + USEC_PER_SEC)
		ck_assert_int_ge(sd_event_run(event, 20 * USEC_PER_MSEC), 0);
	ck_assert_int_eq(fake.latency_ms[0][0], 0); /* still draining, in order */
	ck_assert_uint_gt(fake.rate[0][0], 0);
	fake.qlen = 0;
	ck_assert_int_eq(run_until_latency(0, 0, -1, USEC_PER_SEC), 0);
	/* its traffic was taken off the netem before the netem went */
	ck_assert_uint_ge(fake.unclassified, 1);

	/* the kill switch on an edge does not wait */
	apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	ck_assert_int_eq(faults_revert_edge(faults, "db", "kill", 0, 0, &reverted, &d), 0);
	ck_assert_uint_eq(reverted, 1);
	ck_assert_int_eq(fake.latency_ms[0][0], -1);

	/* nor does a kill of everything while an edge drains, and the drain's end is gone */
	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	ck_assert_int_eq(fake.latency_ms[0][0], 0);
	ck_assert_int_eq(faults_revert_all(faults, "kill", 0, 0, &d), 0);
	ck_assert_int_eq(fake.latency_ms[0][0], -1);
	calls = fake.calls;
	t0 = now_usec(CLOCK_MONOTONIC);
	while (now_usec(CLOCK_MONOTONIC) < t0 + 600 * USEC_PER_MSEC)
		ck_assert_int_ge(sd_event_run(event, 50 * USEC_PER_MSEC), 0);
	ck_assert_uint_eq(fake.calls, calls);
	ck_assert_uint_eq(journal_on_disk(), 0);
}
END_TEST

/* A drained netem goes only once its interface is quiet: while packets cross it, the direct path
 * would overtake those on the IFB and a clsact's removal drops what the device sends. */
START_TEST(test_drain_waits_for_quiet_link)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "50", NULL);
	struct diag d;
	uint64_t a;

	diag_init(&d);
	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	fake.link_busy = true;
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	run_for(700 * USEC_PER_MSEC);
	/* well past the 50 ms and its margin: still there, its traffic still on it */
	ck_assert_int_eq(fake.latency_ms[0][0], 0);
	ck_assert_uint_gt(fake.rate[0][0], 0);
	ck_assert_uint_eq(fake.unclassified, 0);
	fake.link_busy = false;
	ck_assert_int_eq(run_until_latency(0, 0, -1, USEC_PER_SEC), 0);
	/* quiet: classification and objects went together */
	ck_assert_uint_eq(fake.unclassified, 1);
	ck_assert_uint_eq(faults_count(faults), 0);

	/* a quiet interface is not enough while the IFB still holds packets (a busy machine's
	 * tasklet sits on them while nothing crosses the interface): they would be overtaken */
	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	fake.ifb_backlog = 3;
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	run_for(500 * USEC_PER_MSEC);
	ck_assert_int_eq(fake.latency_ms[0][0], 0);
	ck_assert_uint_gt(fake.rate[0][0], 0);
	ck_assert_uint_eq(fake.unclassified, 1);
	fake.ifb_backlog = 0;
	ck_assert_int_eq(run_until_latency(0, 0, -1, USEC_PER_SEC), 0);
	ck_assert_uint_eq(fake.unclassified, 2);

	/* a count that holds still on a quiet interface is accounting, not packets: waited for
	 * a second, not the drain's 60 s */
	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	fake.ifb_backlog = 2;
	ck_assert_int_eq(faults_revert(faults, a, "revert", 0, 0, &d), 0);
	run_for(600 * USEC_PER_MSEC);
	ck_assert_int_eq(fake.latency_ms[0][0], 0);
	ck_assert_int_eq(run_until_latency(0, 0, -1, 2 * USEC_PER_SEC), 0);
	ck_assert_uint_eq(fake.unclassified, 3);
	fake.ifb_backlog = 0;

	/* a reload's revert (its edge removed or changed) drains the same way */
	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	ck_assert_int_eq(faults_revert(faults, a, "reload", 0, 0, &d), 0);
	ck_assert_int_eq(fake.latency_ms[0][0], 0);
	ck_assert_uint_gt(fake.rate[0][0], 0);
	ck_assert_int_eq(run_until_latency(0, 0, -1, USEC_PER_SEC), 0);
}
END_TEST

/* Each fault counts what it did, from the edge's netem read by its kind and from its own start:
 * stacked latency and loss on one edge differ; a count that does not move is idle. */
START_TEST(test_affected)
{
	struct edge db = make_edge("db", "10.0.0.0/24"), cache = make_edge("cache", "10.0.1.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "100", NULL);
	struct fault loss = make_fault(FAULT_LOSS, "percent", "10", NULL);
	struct fault p = make_fault(FAULT_PARTITION, NULL, NULL, NULL);
	struct faults_affected a;
	struct active_fault *af;
	uint64_t l, o, q;

	/* The first fault on the edge makes its netem: all it counts is the fault's (the 100
	 * packets are ones that came through between its creation and the reply). */
	fake.packets = 100;
	l = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	ck_assert_uint_eq(fake.stats_reads, 0); /* no dump of every qdisc for it */
	/* The second shares it: counted from the netem's count at its start. */
	fake.packets = 150;
	fake.drops = 7;
	o = apply(&db, &loss, 60 * USEC_PER_SEC, NULL);
	ck_assert_uint_gt(fake.stats_reads, 0);
	q = apply(&cache, &p, 60 * USEC_PER_SEC, NULL);
	fake.packets = 400;
	fake.drops = 20;
	faults_affected(faults, faults_find(faults, l), &a);
	ck_assert_str_eq(a.verb, "delayed");
	ck_assert_uint_eq(a.packets, 400);
	ck_assert_uint_eq(a.bytes, 40000);
	faults_affected(faults, faults_find(faults, o), &a);
	ck_assert_str_eq(a.verb, "dropped");
	ck_assert_uint_eq(a.packets, 13);
	faults_affected(faults, faults_find(faults, q), &a);
	ck_assert_str_eq(a.verb, "dropped");
	ck_assert_uint_eq(a.packets, 5); /* the partition's own rule */
	ck_assert_uint_lt(a.idle_usec, FAULTS_IDLE_USEC);
	/* nothing moved for 31 s: idle; then traffic: not */
	af = faults_find(faults, l);
	af->seen_mono_usec -= 31 * USEC_PER_SEC;
	faults_affected(faults, af, &a);
	ck_assert_uint_ge(a.idle_usec, FAULTS_IDLE_USEC);
	fake.packets++;
	faults_affected(faults, af, &a);
	ck_assert_uint_lt(a.idle_usec, FAULTS_IDLE_USEC);
}
END_TEST

START_TEST(test_revert_all)
{
	struct edge db = make_edge("db", "10.0.0.0/24"), cache = make_edge("cache", "10.0.1.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "100", NULL);
	struct fault p = make_fault(FAULT_PARTITION, NULL, NULL, NULL);
	struct diag d;

	uint64_t a, b;
	char out[1024], want[256];
	int fd, saved;
	ssize_t n;

	a = apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	b = apply(&cache, &p, 60 * USEC_PER_SEC, "run-2");
	diag_init(&d);
	/* the kill's one audit record, as a host without journald gets it on stderr */
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = memfd_create("audit", MFD_CLOEXEC);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	ck_assert_int_eq(faults_revert_all(faults, "kill", 0, 0, &d), 0);
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	out[n] = '\0';
	snprintf(want, sizeof(want), "audit: action=kill ids='%" PRIu64 " %" PRIu64 "' faults='%"
			PRIu64 " db latency ms=100; %" PRIu64 " cache partition ' uid=0 pid=0 "
			"result='ok'\n", a, b, a, b);
	ck_assert_msg(strstr(out, want), "got: %s\nwant: %s", out, want);
	ck_assert_uint_eq(fake.remove_all_calls, 1);
	ck_assert_int_eq(fake.latency_ms[0][0], -1);
	ck_assert_uint_eq(fake.n_partitions, 0);
	ck_assert_uint_eq(faults_count(faults), 0);
	ck_assert_uint_eq(n_gone, 2);
	ck_assert_uint_eq(journal_on_disk(), 0);
}
END_TEST

START_TEST(test_interface_deleted)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "100", NULL);

	apply(&db, &lat, 60 * USEC_PER_SEC, NULL);
	faults_interface_deleted(faults, 8, "other");
	ck_assert_uint_eq(faults_count(faults), 1);
	faults_interface_deleted(faults, 7, "veth0");
	ck_assert_uint_eq(faults_count(faults), 0);
	ck_assert_uint_eq(n_gone, 1);
	ck_assert_uint_eq(journal_on_disk(), 0);
}
END_TEST

START_TEST(test_adoptable)
{
	struct journal_fault jf = { .id = 3, .applied = true };
	enum faults_adopt_no why;
	uint64_t now = 1000 * USEC_PER_SEC;

	jf.deadline_realtime_usec = now + USEC_PER_SEC;
	ck_assert_int_eq(faults_adoptable(&jf, now, &why), 1);
	jf.deadline_realtime_usec = now;
	ck_assert_int_eq(faults_adoptable(&jf, now, &why), 0);
	ck_assert_int_eq(why, FAULTS_ADOPT_EXPIRED);
	jf.deadline_realtime_usec = now + USEC_PER_SEC;
	snprintf(jf.run, sizeof(jf.run), "r");
	ck_assert_int_eq(faults_adoptable(&jf, now, &why), 0);
	ck_assert_int_eq(why, FAULTS_ADOPT_RUN_ENDED);
	jf.applied = false;
	ck_assert_int_eq(faults_adoptable(&jf, now, &why), 0);
	ck_assert_int_eq(why, FAULTS_ADOPT_UNCONFIRMED);
}
END_TEST

/* An adopted fault keeps its id and only the time it had left. */
START_TEST(test_adopt_keeps_id_and_deadline)
{
	struct edge db = make_edge("db", "10.0.0.0/24");
	struct fault lat = make_fault(FAULT_LATENCY, "ms", "100", NULL);
	uint64_t deadline = now_usec(CLOCK_REALTIME) + 5 * USEC_PER_SEC;
	struct active_fault *af;
	struct diag d;
	bool updated;

	diag_init(&d);
	ck_assert_int_eq(faults_apply(faults, &db, 7, "veth0", &lat, 42, deadline, 0, 0, NULL, &af,
					 &updated, &d),
			0);
	ck_assert_uint_eq(af->id, 42);
	ck_assert_uint_eq(af->deadline_realtime_usec, deadline);
	ck_assert_uint_le(af->deadline_mono_usec, now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC);
	ck_assert_uint_eq(faults_next_id(faults), 43);
}
END_TEST

/* ------------------------------------------------------------------ the kill switch */

static unsigned ks_unrecorded;

static void ks_on_unrecorded(void *u, int err, const char *what)
{
	ks_unrecorded++;
}

static struct killswitch *ks_open(void)
{
	const struct killswitch_hooks h = { .unrecorded = ks_on_unrecorded };
	struct killswitch *ks;

	ck_assert_int_eq(killswitch_new(event, dir, &h, &ks), 0);
	ck_assert_int_eq(killswitch_load(ks), 0);
	return ks;
}

START_TEST(test_latch_survives_restart)
{
	struct killswitch *ks = ks_open();
	const struct kill_latch *k;
	struct diag d;
	unsigned n;

	ck_assert_int_eq(killswitch_engage(ks, NULL, "gameday over", 0, 0, 1, &k), 0);
	ck_assert_int_eq(killswitch_engage(ks, "db", "", 0, 0, 1, &k), 0);
	diag_init(&d);
	ck_assert_int_eq(killswitch_check(ks, "cache", &d), -ECANCELED);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "gameday over"));
	killswitch_free(ks);

	ks = ks_open();
	ck_assert_uint_eq(killswitch_count(ks), 2);
	ck_assert_ptr_nonnull(killswitch_find(ks, ""));
	ck_assert_int_eq(killswitch_release(ks, NULL, &n), 0);
	ck_assert_uint_eq(n, 2);
	killswitch_free(ks);

	ks = ks_open();
	ck_assert_uint_eq(killswitch_count(ks), 0);
	diag_init(&d);
	ck_assert_int_eq(killswitch_check(ks, "db", &d), 0);
	killswitch_free(ks);
}
END_TEST

START_TEST(test_latch_timed)
{
	struct killswitch *ks = ks_open();
	const struct kill_latch *k;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);

	ck_assert_int_eq(killswitch_engage(ks, "db", NULL, 300 * USEC_PER_MSEC, 0, 1, &k), 0);
	while (killswitch_count(ks) > 0 && now_usec(CLOCK_MONOTONIC) - t0 < 5 * USEC_PER_SEC)
		ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);
	ck_assert_uint_eq(killswitch_count(ks), 0);
	killswitch_free(ks);
}
END_TEST

static void alarm_fail(int sig)
{
	static const char msg[] = "killswitch_load blocked\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(3);
}

/* What chaosd cannot read engages the global latch, at once: a directory, a FIFO (never
 * opened for a blocking read), a corrupt file, an oversized one. */
START_TEST(test_latch_unreadable_engages)
{
	char path[128], cmd[256];
	const char *kinds[] = { "dir", "fifo", "corrupt", "huge" };

	snprintf(path, sizeof(path), "%s/kill-switch", dir);
	for (unsigned i = 0; i < ELEMENTSOF(kinds); i++) {
		struct killswitch *ks;
		struct diag d;

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
		ck_assert_int_eq(system(cmd), 0);
		if (i == 0)
			ck_assert_int_eq(mkdir(path, 0700), 0);
		else if (i == 1)
			ck_assert_int_eq(mkfifo(path, 0600), 0);
		else if (i == 2)
			snprintf(cmd, sizeof(cmd), "printf 'not\\ta latch\\n' > '%s'", path);
		else
			snprintf(cmd, sizeof(cmd), "head -c 2000000 /dev/zero | tr '\\0' 'x' > '%s'",
					path);
		if (i >= 2)
			ck_assert_int_eq(system(cmd), 0);
		signal(SIGALRM, alarm_fail);
		alarm(5);
		ks = ks_open();
		alarm(0);
		ck_assert_msg(killswitch_find(ks, "") != NULL, "%s: global latch not engaged",
				kinds[i]);
		diag_init(&d);
		ck_assert_int_eq(killswitch_check(ks, "db", &d), -ECANCELED);
		killswitch_free(ks);
	}
}
END_TEST

/* A state directory that refuses the file: engaged in memory, and the hooks are told. */
START_TEST(test_latch_unwritable_is_reported)
{
	struct killswitch *ks = ks_open();
	const struct kill_latch *k;
	char path[128];

	snprintf(path, sizeof(path), "%s/kill-switch.tmp", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0); /* fileio_write_atomic cannot create it */
	ks_unrecorded = 0;
	ck_assert_int_lt(killswitch_engage(ks, NULL, "x", 0, 0, 1, &k), 0);
	ck_assert_uint_eq(ks_unrecorded, 1);
	ck_assert_ptr_nonnull(killswitch_find(ks, ""));
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(killswitch_save(ks), 0);
	killswitch_free(ks);
}
END_TEST

START_TEST(test_history)
{
	struct killswitch *ks = ks_open();
	const struct kill_latch *k;
	struct proto_writer w;
	const void *buf;
	size_t len;

	for (int i = 0; i < 60; i++) {
		ck_assert_int_eq(killswitch_engage(ks, NULL, "r", 0, 0, 1, &k), 0);
		ck_assert_int_eq(killswitch_history_append(ks, k, (unsigned)i, "ok"), 0);
	}
	proto_writer_init(&w, PROTO_REPLY_OK, PROTO_MAX_REPLY);
	ck_assert_int_eq(killswitch_put_history(ks, &w), 0);
	ck_assert_int_eq(proto_writer_finish(&w, &buf, &len), 0);
	/* the last 50 only: "activation" appears 50 times */
	unsigned n = 0;
	for (const char *p = buf; (p = memmem(p, len - (size_t)(p - (const char *)buf),
					   "activation", 10));
			p++)
		n++;
	ck_assert_uint_eq(n, 50);
	proto_writer_done(&w);
	killswitch_free(ks);
}
END_TEST

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_merge_and_revert);
	tcase_add_test(tc, test_update_in_place);
	tcase_add_test(tc, test_all_or_nothing);
	tcase_add_test(tc, test_partition_connections);
	tcase_add_test(tc, test_partition_flush_order);
	tcase_add_test(tc, test_run_owned_is_not_changed_by_hand);
	tcase_add_test(tc, test_partitions_share_one_table);
	tcase_add_test(tc, test_deadline_reverts);
	tcase_add_test(tc, test_deadlines_share_one_timer);
	tcase_add_test(tc, test_lease_lapses_and_renews);
	tcase_add_test(tc, test_revert_all);
	tcase_add_test(tc, test_lossless_revert);
	tcase_add_test(tc, test_drain_waits_for_quiet_link);
	tcase_add_test(tc, test_affected);
	tcase_add_test(tc, test_interface_deleted);
	tcase_add_test(tc, test_adoptable);
	tcase_add_test(tc, test_adopt_keeps_id_and_deadline);
	tcase_add_test(tc, test_latch_survives_restart);
	tcase_add_test(tc, test_latch_timed);
	tcase_add_test(tc, test_latch_unreadable_engages);
	tcase_add_test(tc, test_latch_unwritable_is_reported);
	tcase_add_test(tc, test_history);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(faults_suite());
}
