/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"
#include "flowsel.h"
#include "netem.h"
#include "parse.h"
#include "test-util.h"

/* Build a fault from "key=value" words; fails the test on any refusal. */
static struct fault make(enum fault_kind kind, const char *const *kv)
{
	struct fault f;
	struct diag d;

	fault_init(&f, kind);
	for (; kv && kv[0]; kv += 2) {
		diag_init(&d);
		ck_assert_msg(fault_set(&f, kv[0], kv[1], &d) == 0, "%s=%s: %s", kv[0], kv[1],
				diag_text(&d));
	}
	diag_init(&d);
	ck_assert_msg(fault_validate(&f, &d) == 0, "validate: %s", diag_text(&d));
	return f;
}

#define KV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void check_set_fails(enum fault_kind kind, const char *key, const char *value,
		const char *want)
{
	struct fault f;
	struct diag d;

	fault_init(&f, kind);
	diag_init(&d);
	ck_assert_int_eq(fault_set(&f, key, value, &d), -EINVAL);
	ck_assert_str_eq(diag_text(&d), want);
	ck_assert(f.set_mask == 0);
}

static void check_invalid(enum fault_kind kind, const char *const *kv, const char *want)
{
	struct fault f;
	struct diag d;

	fault_init(&f, kind);
	for (; kv && kv[0]; kv += 2) {
		diag_init(&d);
		ck_assert_msg(fault_set(&f, kv[0], kv[1], &d) == 0, "%s", diag_text(&d));
	}
	diag_init(&d);
	ck_assert_int_eq(fault_validate(&f, &d), -EINVAL);
	ck_assert_str_eq(diag_text(&d), want);
}

START_TEST(test_strings)
{
	enum fault_kind k;
	enum fault_direction dir;

	for (unsigned i = 0; i < _FAULT_KIND_MAX; i++) {
		ck_assert_int_eq(fault_kind_from_string(fault_kind_to_string(i), &k), 0);
		ck_assert_int_eq(k, i);
		ck_assert_ptr_nonnull(fault_kind_help(i));
	}
	ck_assert_str_eq(fault_kind_to_string(FAULT_REORDER), "reorder");
	ck_assert_ptr_null(fault_kind_to_string(_FAULT_KIND_MAX));
	ck_assert_int_eq(fault_kind_from_string("Latency", &k), -EINVAL);
	ck_assert_int_eq(fault_kind_from_string("", &k), -EINVAL);

	ck_assert_int_eq(fault_direction_from_string("both", &dir), 0);
	ck_assert_int_eq(dir, FAULT_DIR_BOTH);
	ck_assert_int_eq(fault_direction_from_string("in", &dir), 0);
	ck_assert_int_eq(dir, FAULT_DIR_IN);
	ck_assert_int_eq(fault_direction_from_string("up", &dir), -EINVAL);
	ck_assert_str_eq(fault_direction_to_string(FAULT_DIR_OUT), "out");
	ck_assert_ptr_null(fault_direction_to_string((enum fault_direction)0));

	ck_assert_str_eq(fault_dist_to_string(FAULT_DIST_PARETONORMAL), "paretonormal");
	ck_assert_ptr_null(fault_dist_to_string(_FAULT_DIST_MAX));
}
END_TEST

START_TEST(test_key_table)
{
	ck_assert_uint_eq(fault_n_keys, 18);
	ck_assert_ptr_eq(fault_key_find("ge-bad-loss"), fault_key_find("ge_bad_loss"));
	ck_assert_ptr_nonnull(fault_key_find("ge-bad-loss"));
	ck_assert_str_eq(fault_key_find("ge-p")->name, "ge_p");
	ck_assert_ptr_null(fault_key_find("GE_P"));
	ck_assert_ptr_null(fault_key_find("ge"));
	ck_assert_ptr_null(fault_key_find("ms_"));
	ck_assert_ptr_null(fault_key_find(NULL));

	for (unsigned i = 0; i < fault_n_keys; i++) {
		const struct fault_key *k = &fault_keys[i];

		ck_assert_ptr_nonnull(k->name);
		ck_assert_ptr_nonnull(k->metavar);
		ck_assert_ptr_nonnull(k->help);
		ck_assert_msg((k->required & ~k->kinds) == 0, "%s required where invalid", k->name);
		ck_assert_msg((k->type == FAULT_KEY_ENUM) == (k->choices != NULL), "%s", k->name);
		ck_assert_ptr_eq(fault_key_find(k->name), k);
	}
	/* required keys */
	ck_assert(fault_key_find("ms")->required & (1u << FAULT_LATENCY));
	ck_assert(fault_key_find("kbit")->required & (1u << FAULT_RATE));
	ck_assert(fault_key_find("percent")->required & (1u << FAULT_CORRUPT));
	ck_assert(!(fault_key_find("percent")->required & (1u << FAULT_LOSS)));
	ck_assert(fault_key_find("direction")->kinds & (1u << FAULT_PARTITION));
	ck_assert(fault_key_find("for")->kinds & (1u << FAULT_PARTITION));
}
END_TEST

START_TEST(test_set_values)
{
	struct fault f;

	f = make(FAULT_LATENCY, KV("ms", "100.5", "jitter", "10", "correlation", "25%",
			"distribution", "pareto", "direction", "both", "for", "1h30m"));
	ck_assert(f.delay_ms == 100.5);
	ck_assert(f.jitter_ms == 10);
	ck_assert(f.correlation == 25);
	ck_assert_int_eq(f.distribution, FAULT_DIST_PARETO);
	ck_assert_int_eq(f.direction, FAULT_DIR_BOTH);
	ck_assert(f.duration_usec == 5400 * USEC_PER_SEC);

	f = make(FAULT_LOSS,
			KV("model", "gemodel", "ge-p", "1", "ge-r", "30", "ge_bad_loss", "70"));
	ck_assert_int_eq(f.loss_model, FAULT_LOSS_GEMODEL);
	ck_assert(f.ge_p == 1 && f.ge_r == 30 && f.ge_bad_loss == 70 && f.ge_good_loss == 0);

	f = make(FAULT_RATE, KV("kbit", "1000000000"));
	ck_assert(f.rate_kbit == 1000000000);
	ck_assert_int_eq(f.direction, FAULT_DIR_OUT); /* default */
	ck_assert(f.duration_usec == 0);              /* not given */

	f = make(FAULT_REORDER, KV("ms", "10", "percent", "25", "gap", "4294967295"));
	ck_assert(f.gap == UINT32_MAX);

	f = make(FAULT_PARTITION, KV("direction", "in", "for", "30s"));
	ck_assert_int_eq(f.direction, FAULT_DIR_IN);

	/* the last value given wins */
	f = make(FAULT_CORRUPT, KV("percent", "1", "percent", "2"));
	ck_assert(f.percent == 2);

	/* flows: every kind, in 0.01 % steps, all flows unless given */
	ck_assert_uint_eq(fault_flows(&f), FLOWSEL_ALL);
	f = make(FAULT_PARTITION, KV("flows", "5%"));
	ck_assert_uint_eq(f.flows_permyriad, 500);
	ck_assert_uint_eq(fault_flows(&f), 500);
	f = make(FAULT_LATENCY, KV("ms", "1", "flows", "0.01"));
	ck_assert_uint_eq(fault_flows(&f), 1);
	f = make(FAULT_RATE, KV("kbit", "1", "flows", "12.346"));
	ck_assert_uint_eq(fault_flows(&f), 1235);
	f = make(FAULT_LOSS, KV("percent", "1", "flows", "100"));
	ck_assert_uint_eq(fault_flows(&f), FLOWSEL_ALL);
}
END_TEST

START_TEST(test_set_errors)
{
	check_set_fails(FAULT_LOSS, "percent", "150", "percent: '150' is out of range (0-100)");
	check_set_fails(FAULT_LOSS, "gap", "1",
			"key 'gap' does not apply to fault 'loss' (valid: percent, correlation, "
			"model, ge_p, ge_r, ge_bad_loss, ge_good_loss, direction, flows, for, "
			"lease)");
	check_set_fails(FAULT_LATENCY, "delay", "5",
			"unknown key 'delay' (valid for 'latency': ms, jitter, correlation, "
			"distribution, direction, flows, for, lease)");
	check_set_fails(FAULT_PARTITION, "ms", "5",
			"key 'ms' does not apply to fault 'partition' (valid: direction, flows, mode, "
			"connections, for, lease)");
	check_set_fails(FAULT_PARTITION, "mode", "blackhole",
			"mode: 'blackhole' is not valid (allowed: drop, reject)");
	check_set_fails(FAULT_PARTITION, "connections", "old",
			"connections: 'old' is not valid (allowed: all, new, established)");
	check_set_fails(FAULT_LATENCY, "mode", "reject",
			"key 'mode' does not apply to fault 'latency' (valid: ms, jitter, correlation, "
			"distribution, direction, flows, for, lease)");
	check_set_fails(FAULT_LATENCY, "distribution", "gauss",
			"distribution: 'gauss' is not valid (allowed: uniform, normal, pareto, "
			"paretonormal)");
	check_set_fails(FAULT_LATENCY, "ms", "3600001",
			"ms: '3600001' is out of range (0-3600000)");
	check_set_fails(FAULT_LATENCY, "ms", "-1", "ms: '-1' is out of range (0-3600000)");
	check_set_fails(FAULT_LATENCY, "ms", "5ms",
			"ms: '5ms' is not valid (allowed: a number 0-3600000)");
	check_set_fails(FAULT_LATENCY, "jitter", "",
			"jitter: '' is not valid (allowed: a number 0-3600000)");
	check_set_fails(FAULT_CORRUPT, "percent", "lots",
			"percent: 'lots' is not valid (allowed: 0-100, '%' optional)");
	check_set_fails(FAULT_LATENCY, "for", "5 min",
			"for: '5 min' is not valid (allowed: a duration 1ms-365d such as 500ms, "
			"30s, 5m, 1h30m)");
	check_set_fails(FAULT_LATENCY, "for", "0", "for: '0' is out of range (1ms-365d)");
	check_set_fails(FAULT_LATENCY, "for", "366d", "for: '366d' is out of range (1ms-365d)");
	check_set_fails(FAULT_REORDER, "gap", "0", "gap: '0' is out of range (1-4294967295)");
	check_set_fails(FAULT_REORDER, "gap", "4294967296",
			"gap: '4294967296' is out of range (1-4294967295)");
	check_set_fails(FAULT_RATE, "kbit", "fast",
			"kbit: 'fast' is not valid (allowed: a whole number 1-1000000000)");
	check_set_fails(FAULT_RATE, "direction", "sideways",
			"direction: 'sideways' is not valid (allowed: out, in, both)");
	check_set_fails(FAULT_LOSS, "model", "markov",
			"model: 'markov' is not valid (allowed: random, gemodel)");
	check_set_fails(FAULT_LATENCY, "flows", "0", "flows: '0' is out of range (0.01-100)");
	check_set_fails(FAULT_PARTITION, "flows", "150%",
			"flows: '150%' is out of range (0.01-100)");
	check_set_fails(FAULT_LOSS, "flows", "0.001", "flows: '0.001' is out of range (0.01-100)");
	check_set_fails(FAULT_LOSS, "flows", "some",
			"flows: 'some' is not valid (allowed: 0.01-100, '%' optional)");
	/* hostile text is quoted harmlessly */
	check_set_fails(FAULT_LOSS, "percent", "1\n2",
			"percent: '1?2' is not valid (allowed: 0-100, '%' optional)");
}
END_TEST

START_TEST(test_validate)
{
	struct fault f;
	struct diag d;

	check_invalid(FAULT_LATENCY, NULL,
			"fault 'latency' needs 'ms' (delay in milliseconds; for reorder, of the "
			"packets not sent ahead)");
	check_invalid(FAULT_RATE, NULL,
			"fault 'rate' needs 'kbit' (bandwidth in kilobits per second)");
	check_invalid(FAULT_CORRUPT, KV("correlation", "5"),
			"fault 'corrupt' needs 'percent' (share of packets affected; loss needs it "
			"unless model=gemodel)");
	check_invalid(FAULT_LOSS, NULL,
			"fault 'loss' needs 'percent' (share of packets affected; loss needs it "
			"unless model=gemodel)");
	check_invalid(FAULT_LATENCY, KV("ms", "0", "jitter", "10"),
			"jitter: needs ms > 0 (netem varies the delay; with no delay there is "
			"nothing to vary)");
	check_invalid(FAULT_LATENCY, KV("ms", "100", "distribution", "normal"),
			"distribution: 'normal' needs jitter > 0 (the table shapes the jitter; "
			"iproute2 refuses a distribution without it)");
	check_invalid(FAULT_LATENCY, KV("ms", "100", "correlation", "25"),
			"correlation: needs jitter > 0 (netem correlates the random part of the "
			"delay)");
	check_invalid(FAULT_LOSS, KV("model", "gemodel"),
			"fault 'loss' with model=gemodel needs 'ge_p' (gemodel: chance to go from "
			"the good to the bad state; required)");
	check_invalid(FAULT_LOSS, KV("model", "gemodel", "ge_p", "1", "percent", "5"),
			"percent: does not apply with model=gemodel (the Gilbert-Elliott model "
			"takes ge_p, ge_r, ge_bad_loss, ge_good_loss)");
	check_invalid(FAULT_LOSS, KV("percent", "5", "ge_r", "5"),
			"ge_r: applies only with model=gemodel");
	check_invalid(FAULT_REORDER, KV("ms", "0", "percent", "25"),
			"ms: '0' is too small for reorder (needs ms > 0: netem reorders by sending "
			"some packets ahead of delayed ones)");
	check_invalid(FAULT_REORDER, KV("ms", "10", "percent", "0", "gap", "5"),
			"gap: needs percent > 0 (a gap without a reorder probability does nothing; "
			"iproute2 refuses it)");
	/* 1e-9 % scales to 0 in netem's u32: iproute2 would see no probability either */
	check_invalid(FAULT_REORDER, KV("ms", "10", "percent", "0.000000001", "gap", "5"),
			"gap: needs percent > 0 (a gap without a reorder probability does nothing; "
			"iproute2 refuses it)");

	/* structs that did not come through fault_set */
	fault_init(&f, FAULT_LATENCY);
	f.set_mask = 1; /* ms */
	f.delay_ms = 1e9;
	diag_init(&d);
	ck_assert_int_eq(fault_validate(&f, &d), -EINVAL);
	ck_assert_str_eq(diag_text(&d), "ms: '1000000000' is out of range (0-3600000)");
	fault_init(&f, FAULT_LATENCY);
	f.set_mask = 1;
	f.direction = 0;
	ck_assert_int_eq(fault_validate(&f, NULL), -EINVAL);
	fault_init(&f, _FAULT_KIND_MAX);
	ck_assert_int_eq(fault_validate(&f, NULL), -EINVAL);
	fault_init(&f, FAULT_PARTITION);
	f.set_mask = 1; /* ms on a partition */
	ck_assert_int_eq(fault_validate(&f, NULL), -EINVAL);
	fault_init(&f, FAULT_PARTITION);
	ck_assert_int_eq(fault_validate(&f, NULL), 0);
	ck_assert(!fault_uses_netem(&f));
}
END_TEST

struct params {
	char text[512];
	struct fault copy;
	unsigned n;
	int stop_after;
};

static int collect(const char *key, const char *value, void *userdata)
{
	struct params *p = userdata;
	size_t len = strlen(p->text);

	snprintf(p->text + len, sizeof(p->text) - len, "%s%s=%s", len ? " " : "", key, value);
	ck_assert_int_eq(fault_set(&p->copy, key, value, NULL), 0);
	p->n++;
	if (p->stop_after && (int)p->n >= p->stop_after)
		return -ECANCELED;
	return 0;
}

static void check_same(const struct fault *a, const struct fault *b)
{
	ck_assert_int_eq(a->kind, b->kind);
	ck_assert_int_eq(a->direction, b->direction);
	ck_assert(a->duration_usec == b->duration_usec);
	ck_assert(a->delay_ms == b->delay_ms);
	ck_assert(a->jitter_ms == b->jitter_ms);
	ck_assert_int_eq(a->distribution, b->distribution);
	ck_assert(a->percent == b->percent);
	ck_assert(a->correlation == b->correlation);
	ck_assert_int_eq(a->loss_model, b->loss_model);
	ck_assert(a->ge_p == b->ge_p && a->ge_r == b->ge_r);
	ck_assert(a->ge_bad_loss == b->ge_bad_loss && a->ge_good_loss == b->ge_good_loss);
	ck_assert(a->gap == b->gap);
	ck_assert(a->rate_kbit == b->rate_kbit);
	ck_assert(a->set_mask == b->set_mask);
}

static void check_roundtrip(const struct fault *f, const char *want)
{
	struct params p = {};

	fault_init(&p.copy, f->kind);
	ck_assert_int_eq(fault_foreach_param(f, collect, &p), 0);
	ck_assert_str_eq(p.text, want);
	check_same(f, &p.copy);
}

START_TEST(test_foreach_roundtrip)
{
	struct fault f;
	struct params p = { .stop_after = 2 };

	f = make(FAULT_LATENCY, KV("direction", "both", "ms", "100.5", "jitter", "0.1",
			"correlation", "25%", "distribution", "Normal", "for", "90m"));
	check_roundtrip(&f, "ms=100.5 jitter=0.1 correlation=25 distribution=normal "
			"direction=both for=1h30m");
	f = make(FAULT_LOSS, KV("model", "gemodel", "ge_p", "0.123456789", "ge_good_loss", "0.5"));
	check_roundtrip(&f, "model=gemodel ge_p=0.123456789 ge_good_loss=0.5");
	f = make(FAULT_LOSS, KV("percent", "0.3", "correlation", "33.3"));
	check_roundtrip(&f, "percent=0.3 correlation=33.3");
	f = make(FAULT_REORDER, KV("percent", "25", "ms", "1.005", "gap", "5", "for", "1500ms"));
	check_roundtrip(&f, "ms=1.005 percent=25 gap=5 for=1s500ms");
	f = make(FAULT_RATE, KV("kbit", "1000", "direction", "in"));
	check_roundtrip(&f, "kbit=1000 direction=in");
	f = make(FAULT_PARTITION, NULL);
	check_roundtrip(&f, "");
	f = make(FAULT_PARTITION, KV("flows", "5.55", "direction", "both"));
	check_roundtrip(&f, "direction=both flows=5.55");
	f = make(FAULT_LATENCY, KV("flows", "0.01%", "ms", "3"));
	check_roundtrip(&f, "ms=3 flows=0.01");

	/* a callback error stops the walk and is returned */
	f = make(FAULT_LATENCY, KV("ms", "1", "jitter", "1", "for", "1s"));
	fault_init(&p.copy, FAULT_LATENCY);
	ck_assert_int_eq(fault_foreach_param(&f, collect, &p), -ECANCELED);
	ck_assert_uint_eq(p.n, 2);
}
END_TEST

START_TEST(test_format_params)
{
	char buf[96], small[12];
	struct fault f;

	f = make(FAULT_LATENCY, KV("ms", "100.5", "jitter", "0.1", "distribution", "Normal",
			"direction", "both", "for", "90m"));
	fault_format_params(&f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "ms=100.5 jitter=0.1 distribution=normal direction=both for=1h30m");
	/* cut, always terminated: what fits of "ms=100.5 jitter=..." */
	fault_format_params(&f, small, sizeof(small));
	ck_assert_str_eq(small, "ms=100.5 ji");
	f = make(FAULT_PARTITION, NULL);
	memset(buf, 'x', sizeof(buf));
	fault_format_params(&f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
}
END_TEST

static void check_describe(const struct fault *f, const char *want)
{
	char buf[128];

	ck_assert_str_eq(fault_describe(f, buf, sizeof(buf)), want);
}

START_TEST(test_describe)
{
	struct fault f;
	char small[8];

	f = make(FAULT_LATENCY, KV("ms", "500", "jitter", "20", "distribution", "normal",
			"correlation", "25"));
	check_describe(&f, "500ms ±20ms normal 25%");
	f = make(FAULT_LATENCY, KV("ms", "0.25"));
	check_describe(&f, "0.25ms");
	f = make(FAULT_LOSS, KV("percent", "5"));
	check_describe(&f, "5% loss");
	f = make(FAULT_LOSS, KV("percent", "5", "correlation", "25"));
	check_describe(&f, "5% loss, 25% correlated");
	f = make(FAULT_LOSS, KV("model", "gemodel", "ge_p", "1"));
	check_describe(&f, "burst loss (Gilbert-Elliott p=1% r=99% bad=100% good=0%)");
	f = make(FAULT_CORRUPT, KV("percent", "0.1"));
	check_describe(&f, "0.1% corrupt");
	f = make(FAULT_DUPLICATE, KV("percent", "1"));
	check_describe(&f, "1% duplicate");
	f = make(FAULT_REORDER, KV("ms", "10", "percent", "25", "gap", "5"));
	check_describe(&f, "25% reorder, gap 5, others delayed 10ms");
	f = make(FAULT_RATE, KV("kbit", "1000"));
	check_describe(&f, "1000kbit");
	f = make(FAULT_PARTITION, NULL);
	check_describe(&f, "partition");
	f = make(FAULT_PARTITION, KV("flows", "5"));
	check_describe(&f, "partition on 5% of flows");
	f = make(FAULT_PARTITION, KV("mode", "reject", "connections", "new"));
	ck_assert_int_eq(f.mode, FAULT_MODE_REJECT);
	ck_assert_int_eq(f.connections, FAULT_CONN_NEW);
	check_describe(&f, "partition, rejecting, new connections only");
	f = make(FAULT_PARTITION, KV("mode", "drop", "connections", "established"));
	ck_assert_int_eq(f.mode, FAULT_MODE_DROP);
	ck_assert_int_eq(f.connections, FAULT_CONN_ESTABLISHED);
	check_describe(&f, "partition, connections open at its start only");
	f.connections = (enum fault_connections)7; /* from a damaged journal */
	{
		struct diag d;

		diag_init(&d);
		ck_assert_int_eq(fault_validate(&f, &d), -EINVAL);
		ck_assert_str_eq(diag_text(&d), "fault 'partition': invalid mode or connections");
	}
	f = make(FAULT_LATENCY, KV("ms", "100", "flows", "0.25"));
	check_describe(&f, "100ms on 0.25% of flows");
	f = make(FAULT_LOSS, KV("percent", "1", "flows", "100"));
	check_describe(&f, "1% loss");

	f = make(FAULT_LOSS, KV("percent", "5"));
	ck_assert_str_eq(fault_describe(&f, small, sizeof(small)), "5% loss");
	ck_assert_str_eq(fault_describe(&f, small, 4), "5% ");
}
END_TEST

static int merge(struct netem_config *c, struct diag *d, uint64_t link_rate,
		const struct fault *a, const struct fault *b, const struct fault *e)
{
	const struct fault *v[3];
	unsigned n = 0;

	if (a)
		v[n++] = a;
	if (b)
		v[n++] = b;
	if (e)
		v[n++] = e;
	return fault_merge_netem(v, n, link_rate, c, d);
}

START_TEST(test_merge_full)
{
	/* tc qdisc add dev eth0 root netem delay 100ms 10ms 25% distribution normal \
	 *     loss random 0.3% 25% corrupt 0.1% duplicate 1% 50% reorder 25% 50% gap 5 \
	 *     rate 1000kbit
	 * iproute2: percentages rint(p / 100 * 4294967295), times strtod * 1e6 truncated,
	 * rate 1000 * 1000 / 8 bytes/s. */
	struct fault lat = make(FAULT_LATENCY, KV("ms", "100", "jitter", "10", "correlation", "25",
			"distribution", "normal"));
	struct fault loss = make(FAULT_LOSS, KV("percent", "0.3", "correlation", "25"));
	struct fault cor = make(FAULT_CORRUPT, KV("percent", "0.1"));
	struct fault dup = make(FAULT_DUPLICATE, KV("percent", "1", "correlation", "50"));
	struct fault reo = make(FAULT_REORDER, KV("ms", "100", "percent", "25", "correlation", "50",
			"gap", "5"));
	struct fault rate = make(FAULT_RATE, KV("kbit", "1000"));
	const struct fault *all[] = { &rate, &reo, &dup, &cor, &loss, &lat };
	struct netem_config c;
	struct diag d;

	diag_init(&d);
	ck_assert_int_eq(fault_merge_netem(all, 6, 10000000000ULL, &c, &d), 0);
	ck_assert_str_eq(diag_text(&d), "");
	ck_assert(c.latency_ns == 100000000);
	ck_assert(c.jitter_ns == 10000000);
	ck_assert_uint_eq(c.delay_corr, 1073741824);
	ck_assert_int_eq(c.dist, FAULT_DIST_NORMAL);
	ck_assert_uint_eq(c.loss, 12884902);
	ck_assert_uint_eq(c.loss_corr, 1073741824);
	ck_assert_uint_eq(c.corrupt, 4294967);
	ck_assert_uint_eq(c.corrupt_corr, 0);
	ck_assert_uint_eq(c.duplicate, 42949673);
	ck_assert_uint_eq(c.dup_corr, 2147483648u);
	ck_assert_uint_eq(c.reorder, 1073741824);
	ck_assert_uint_eq(c.reorder_corr, 2147483648u);
	ck_assert_uint_eq(c.gap, 5);
	ck_assert(!c.gemodel);
	ck_assert(c.rate_bytes_per_sec == 125000);
	/* netem holds (100 + 3 * 10) ms at the 10 Gbit/s link, x2, in 1500-byte packets; the
	 * 1 Mbit/s rate queues in its shaper: 130 ms of it, 16250 bytes */
	ck_assert_uint_eq(c.limit, 216667);
	ck_assert_uint_eq(c.rate_queue_bytes, 16250);
}
END_TEST

START_TEST(test_merge_iproute2_rounding)
{
	struct netem_config c;
	struct fault lat, loss, rate;

	/* tc ... netem delay 1.005ms 8.2ms loss 33.3%
	 * strtod("1.005") * 1000000 = 1004999.9999999999 and 8.2 * 1e6 = 8199999.999999999:
	 * iproute2 truncates to 1004999 and 8199999 ns. 33.3% -> rint(0.333 * 4294967295) =
	 * 1430224109. */
	lat = make(FAULT_LATENCY, KV("ms", "1.005", "jitter", "8.2"));
	loss = make(FAULT_LOSS, KV("percent", "33.3"));
	ck_assert_int_eq(merge(&c, NULL, 1000000000, &lat, &loss, NULL), 0);
	ck_assert(c.latency_ns == 1004999);
	ck_assert(c.jitter_ns == 8199999);
	ck_assert_uint_eq(c.delay_corr, 0);
	ck_assert_uint_eq(c.loss, 1430224109);
	ck_assert_int_eq(c.dist, FAULT_DIST_UNIFORM);
	/* (1.004999 + 3 * 8.199999) ms at 1 Gbit/s in 1500-byte packets, twice: 4267.5 */
	ck_assert_uint_eq(c.limit, 4268);
	/* ... and at 100 Mbit/s 426.75: netem's floor of 1000 */
	ck_assert_int_eq(merge(&c, NULL, 100000000, &lat, &loss, NULL), 0);
	ck_assert_uint_eq(c.limit, 1000);

	/* tc ... netem loss 100% / loss 0.000000001% (rounds to 0) / rate 7kbit (875 B/s) */
	loss = make(FAULT_LOSS, KV("percent", "100"));
	rate = make(FAULT_RATE, KV("kbit", "7"));
	ck_assert_int_eq(merge(&c, NULL, 0, &loss, &rate, NULL), 0);
	ck_assert_uint_eq(c.loss, 4294967295u);
	ck_assert(c.rate_bytes_per_sec == 875);
	ck_assert(c.latency_ns == 0);
	ck_assert_uint_eq(c.limit, 1000);
	ck_assert_uint_eq(c.rate_queue_bytes, 8 * 1514);
	loss = make(FAULT_LOSS, KV("percent", "0.000000001"));
	ck_assert_int_eq(merge(&c, NULL, 0, &loss, NULL, NULL), 0);
	ck_assert_uint_eq(c.loss, 0);

	/* tc ... netem rate 1000000000kbit: 125000000000 B/s, beyond u32 (TCA_NETEM_RATE64) */
	rate = make(FAULT_RATE, KV("kbit", "1000000000"));
	ck_assert_int_eq(merge(&c, NULL, 0, &rate, NULL, NULL), 0);
	ck_assert(c.rate_bytes_per_sec == 125000000000ULL);
}
END_TEST

START_TEST(test_merge_gemodel)
{
	struct netem_config c;
	struct fault loss;

	/* tc ... netem loss gemodel 1% 30% 70% 0.1%
	 * p = rint(0.01 * 4294967295) = 42949673, r = rint(0.3 * ...) = 1288490188,
	 * h = 4294967295 - rint(0.7 * ...) = 1288490189 (iproute2 sends h, not 1-h),
	 * k1 = rint(0.001 * ...) = 4294967 */
	loss = make(FAULT_LOSS, KV("model", "gemodel", "ge_p", "1", "ge_r", "30", "ge_bad_loss",
			"70", "ge_good_loss", "0.1"));
	ck_assert_int_eq(merge(&c, NULL, 0, &loss, NULL, NULL), 0);
	ck_assert(c.gemodel);
	ck_assert_uint_eq(c.loss, 0);
	ck_assert_uint_eq(c.ge_p, 42949673);
	ck_assert_uint_eq(c.ge_r, 1288490188);
	ck_assert_uint_eq(c.ge_h, 1288490189);
	ck_assert_uint_eq(c.ge_k1, 4294967);

	/* tc ... netem loss gemodel 5%: r defaults to rint((1 - 0.05) * 4294967295) =
	 * 4080218930, h to 0 (1-h = 100 %), k1 to 0 */
	loss = make(FAULT_LOSS, KV("model", "gemodel", "ge_p", "5"));
	ck_assert_int_eq(merge(&c, NULL, 0, &loss, NULL, NULL), 0);
	ck_assert_uint_eq(c.ge_p, 214748365);
	ck_assert_uint_eq(c.ge_r, 4080218930u);
	ck_assert_uint_eq(c.ge_h, 0);
	ck_assert_uint_eq(c.ge_k1, 0);
}
END_TEST

START_TEST(test_merge_reorder)
{
	struct netem_config c;
	struct fault reo, lat, dup;
	struct diag d;

	/* tc ... netem delay 10ms reorder 25%: iproute2 fills in gap 1 */
	reo = make(FAULT_REORDER, KV("ms", "10", "percent", "25"));
	ck_assert_int_eq(merge(&c, NULL, 10000000000ULL, &reo, NULL, NULL), 0);
	ck_assert(c.latency_ns == 10000000);
	ck_assert(c.jitter_ns == 0);
	ck_assert_uint_eq(c.reorder, 1073741824);
	ck_assert_uint_eq(c.reorder_corr, 0);
	ck_assert_uint_eq(c.gap, 1);
	/* 10ms at 10 Gbit/s: 16666.67 packets -> 16667 */
	ck_assert_uint_eq(c.limit, 16667);

	/* tc ... netem delay 10ms reorder 0%: no probability, so no gap */
	reo = make(FAULT_REORDER, KV("ms", "10", "percent", "0"));
	ck_assert_int_eq(merge(&c, NULL, 0, &reo, NULL, NULL), 0);
	ck_assert_uint_eq(c.reorder, 0);
	ck_assert_uint_eq(c.gap, 0);

	/* with a latency fault: one delay, both must agree */
	reo = make(FAULT_REORDER, KV("ms", "100", "percent", "25"));
	lat = make(FAULT_LATENCY, KV("ms", "100", "jitter", "5"));
	dup = make(FAULT_DUPLICATE, KV("percent", "2"));
	ck_assert_int_eq(merge(&c, NULL, 0, &reo, &lat, &dup), 0);
	ck_assert(c.latency_ns == 100000000 && c.jitter_ns == 5000000);
	ck_assert_uint_eq(c.duplicate, 85899346);

	lat = make(FAULT_LATENCY, KV("ms", "50"));
	diag_init(&d);
	ck_assert_int_eq(merge(&c, &d, 0, &lat, &reo, NULL), -EINVAL);
	ck_assert_str_eq(diag_text(&d), "reorder ms=100 and latency ms=50 differ: netem has one "
					 "delay per edge and direction (give reorder ms=50)");
}
END_TEST

START_TEST(test_merge_errors)
{
	struct netem_config c = { .limit = 42 };
	struct fault a, b, part;
	struct diag d;

	a = make(FAULT_LOSS, KV("percent", "1"));
	b = make(FAULT_LOSS, KV("percent", "2"));
	diag_init(&d);
	ck_assert_int_eq(merge(&c, &d, 0, &a, &b, NULL), -EEXIST);
	ck_assert_str_eq(diag_text(&d), "two 'loss' faults on one edge and direction cannot be "
					 "merged (replace the first one instead)");
	ck_assert_uint_eq(c.limit, 42); /* untouched on failure */

	part = make(FAULT_PARTITION, NULL);
	diag_init(&d);
	ck_assert_int_eq(merge(&c, &d, 0, &a, &part, NULL), -EINVAL);
	ck_assert_str_eq(diag_text(&d), "fault 'partition' is not carried by netem");

	fault_init(&b, FAULT_LATENCY); /* no ms */
	diag_init(&d);
	ck_assert_int_eq(merge(&c, &d, 0, &a, &b, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "needs 'ms'"));
	ck_assert_uint_eq(c.limit, 42);

	/* one share of flows per edge; the same share merges */
	b = make(FAULT_LATENCY, KV("ms", "5", "flows", "20"));
	diag_init(&d);
	ck_assert_int_eq(merge(&c, &d, 0, &a, &b, NULL), -EINVAL);
	ck_assert_str_eq(diag_text(&d), "faults on one edge and direction select different shares "
					 "of flows");
	a = make(FAULT_LOSS, KV("percent", "1", "flows", "20%"));
	ck_assert_int_eq(merge(&c, NULL, 0, &a, &b, NULL), 0);
	a = make(FAULT_LOSS, KV("percent", "1"));

	/* nothing to merge: netem's defaults */
	ck_assert_int_eq(fault_merge_netem(NULL, 0, 0, &c, NULL), 0);
	ck_assert_uint_eq(c.limit, 1000);
	ck_assert(c.latency_ns == 0 && c.loss == 0 && c.rate_bytes_per_sec == 0);
	ck_assert_int_eq(fault_merge_netem(NULL, 1, 0, &c, NULL), -EINVAL);
}
END_TEST

START_TEST(test_netem_percent)
{
	ck_assert_uint_eq(netem_percent_to_u32(0), 0);
	ck_assert_uint_eq(netem_percent_to_u32(-5), 0);
	ck_assert_uint_eq(netem_percent_to_u32(100), UINT32_MAX);
	ck_assert_uint_eq(netem_percent_to_u32(250), UINT32_MAX);
	ck_assert_uint_eq(netem_percent_to_u32(50), 2147483648u); /* rint(2147483647.5), even */
	ck_assert_uint_eq(netem_percent_to_u32(25), 1073741824);  /* rint(1073741823.75) */
	ck_assert_uint_eq(netem_percent_to_u32(0.25), 10737418);
	ck_assert_uint_eq(netem_percent_to_u32(12.5), 536870912);
	ck_assert_uint_eq(netem_percent_to_u32(0.001), 42950);
	ck_assert(netem_u32_to_percent(UINT32_MAX) == 100);
	ck_assert(netem_u32_to_percent(0) == 0);
	ck_assert(netem_percent_to_u32(netem_u32_to_percent(1430224109)) == 1430224109);
}
END_TEST

START_TEST(test_netem_matches_rint)
{
	/* netem.c avoids libm; its rounding must be rint()'s, as iproute2 uses, everywhere:
	 * every percentage with up to 3 decimals, and a pseudo-random sweep of fractions. */
	uint64_t x = 88172645463325252ULL;
	unsigned bad = 0;

	for (unsigned i = 0; i <= 100000; i++) {
		double p = i / 1000.;

		bad += netem_percent_to_u32(p) != (uint32_t)rint(p / 100. * UINT32_MAX);
	}
	for (unsigned i = 0; i < 1000000; i++) {
		double fr;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		fr = (double)(x >> 11) / (double)(1ULL << 53);
		bad += netem_fraction_to_u32(fr) != (uint32_t)rint(fr * UINT32_MAX);
	}
	ck_assert_uint_eq(bad, 0);
	/* an exact tie, 0.5 * UINT32_MAX = 2147483647.5, goes to even like rint */
	ck_assert_uint_eq(netem_fraction_to_u32(0.5), 2147483648u);
	ck_assert_uint_eq(netem_fraction_to_u32(1), UINT32_MAX);
	ck_assert_uint_eq(netem_fraction_to_u32(-0.1), 0);
	ck_assert_uint_eq(netem_fraction_to_u32(NAN), 0);
}
END_TEST

START_TEST(test_netem_limit)
{
	/* 1s at 12 Mbit/s = 1000 packets, x2 */
	ck_assert_uint_eq(netem_limit_for(1000000000, 0, 12000000), 2000);
	/* 3 * jitter counts */
	ck_assert_uint_eq(netem_limit_for(0, 1000000000, 12000000), 6000);
	ck_assert_uint_eq(netem_limit_for(0, 0, 10000000000ULL), 1000);
	ck_assert_uint_eq(netem_limit_for(-5, -5, 10000000000ULL), 1000);
	ck_assert_uint_eq(netem_limit_for(1000000, 0, 0), 1000);
	/* an hour at 100 Gbit/s does not fit: clamp */
	ck_assert_uint_eq(netem_limit_for(3600000000000LL, 3600000000000LL, 100000000000ULL),
			UINT32_MAX);
	ck_assert_uint_eq(netem_limit_for(INT64_MAX, INT64_MAX, UINT64_MAX), UINT32_MAX);

	/* A rate limit's queue, in bytes. Rate 10 Mbit/s alone: 50 ms = 62500 bytes (netem's old
	 * limit of 42 packets held 42 GSO packets of up to 64 KB: up to 2.2 s at 10 Mbit/s). */
	ck_assert_uint_eq(netem_rate_queue_for(0, 0, 1250000), 62500);
	/* + 50 ms: one bandwidth-delay product of the 50 ms, no more (not 50 + 50) */
	ck_assert_uint_eq(netem_rate_queue_for(50000000, 0, 1250000), 62500);
	/* + 200 ms: 200 ms of the rate, 250000 bytes */
	ck_assert_uint_eq(netem_rate_queue_for(200000000, 0, 1250000), 250000);
	/* (10 + 3 * 10) ms is below 50 ms at 1 Gbit/s: 6250000 */
	ck_assert_uint_eq(netem_rate_queue_for(10000000, 10000000, 125000000), 6250000);
	/* a slow rate keeps 8 full frames: 7 kbit/s for 50 ms is 44 bytes */
	ck_assert_uint_eq(netem_rate_queue_for(0, 0, 875), 8 * 1514);
	ck_assert_uint_eq(netem_rate_queue_for(0, 0, 0), 0);
	ck_assert_uint_eq(netem_rate_queue_for(INT64_MAX, 0, UINT64_MAX), UINT32_MAX);
}
END_TEST

START_TEST(test_netem_shaper)
{
	struct netem_config c = { .rate_bytes_per_sec = 1250000, .rate_queue_bytes = 62500 };
	struct netem_shaper sh;

	/* 10 Mbit/s on a 1500-byte link: the bucket is 10 ms, 12500 bytes */
	netem_shaper_for(&c, 1500, &sh);
	ck_assert(sh.rate_bytes_per_sec == 1250000);
	ck_assert_uint_eq(sh.burst_bytes, 12500);
	ck_assert_uint_eq(sh.limit_bytes, 62500);
	/* 100 kbit/s: 10 ms is 125 bytes, less than a frame (1500 + 22) */
	c.rate_bytes_per_sec = 12500;
	c.rate_queue_bytes = 12112;
	netem_shaper_for(&c, 1500, &sh);
	ck_assert_uint_eq(sh.burst_bytes, 1522);
	ck_assert_uint_eq(sh.limit_bytes, 12112);
	/* jumbo frames: bucket and queue hold at least one and two of them */
	netem_shaper_for(&c, 9000, &sh);
	ck_assert_uint_eq(sh.burst_bytes, 9022);
	ck_assert_uint_eq(sh.limit_bytes, 18044);
	/* 1 Gbit/s: 10 ms is 1250000 bytes; an MTU below 1500 (or unknown, 0) counts as 1500 */
	c.rate_bytes_per_sec = 125000000;
	c.rate_queue_bytes = 6250000;
	netem_shaper_for(&c, 0, &sh);
	ck_assert_uint_eq(sh.burst_bytes, 1250000);
	ck_assert_uint_eq(sh.limit_bytes, 6250000);
	c.rate_queue_bytes = 0;
	netem_shaper_for(&c, 100, &sh);
	ck_assert_uint_eq(sh.limit_bytes, 2 * 1522);
}
END_TEST

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void dist_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/chaosd-test-dist-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	setenv("CHAOSD_TC_LIB_DIR", tmpdir, 1);
}

static void dist_teardown(void)
{
	static const char *const names[] = { "good", "bad", "range", "empty", "big", "nul" };
	char path[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.dist", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	unsetenv("CHAOSD_TC_LIB_DIR");
}

START_TEST(test_dist_load)
{
	struct netem_dist dist = {};
	struct diag d;
	char want[256];
	FILE *f;

	write_file("good.dist", "# a table\n -32768 -5 0\n\t7 32767 # trailing comment\n\n12\n");
	diag_init(&d);
	ck_assert_int_eq(netem_dist_load("good", &dist, &d), 0);
	ck_assert_uint_eq(dist.n, 6);
	ck_assert_int_eq(dist.data[0], -32768);
	ck_assert_int_eq(dist.data[1], -5);
	ck_assert_int_eq(dist.data[4], 32767);
	ck_assert_int_eq(dist.data[5], 12);
	netem_dist_done(&dist);
	ck_assert_ptr_null(dist.data);
	netem_dist_done(&dist); /* twice is fine */
	netem_dist_done(NULL);

	write_file("bad.dist", "1 2\n3 x4 5\n");
	diag_init(&d);
	ck_assert_int_eq(netem_dist_load("bad", &dist, &d), -EINVAL);
	snprintf(want, sizeof(want),
			"%s/bad.dist:2: 'x4' is not an integer (a table holds integers from -32768 "
			"to 32767, '#' starts a comment)",
			tmpdir);
	ck_assert_str_eq(diag_text(&d), want);
	ck_assert_ptr_null(dist.data);

	write_file("range.dist", "1 2\n32768\n");
	diag_init(&d);
	ck_assert_int_eq(netem_dist_load("range", &dist, &d), -ERANGE);
	snprintf(want, sizeof(want), "%s/range.dist:2: 32768 is out of range (-32768-32767)",
			tmpdir);
	ck_assert_str_eq(diag_text(&d), want);

	write_file("empty.dist", "# nothing\n");
	diag_init(&d);
	ck_assert_int_eq(netem_dist_load("empty", &dist, &d), -EINVAL);
	snprintf(want, sizeof(want), "%s/empty.dist: no entries", tmpdir);
	ck_assert_str_eq(diag_text(&d), want);

	snprintf(want, sizeof(want), "%s/big.dist", tmpdir);
	f = fopen(want, "we");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i <= NETEM_DIST_MAX; i++)
		fputs("1 ", f);
	fclose(f);
	ck_assert_int_eq(netem_dist_load("big", &dist, NULL), -E2BIG);

	write_file("nul.dist", "1 2");
	snprintf(want, sizeof(want), "%s/nul.dist", tmpdir);
	f = fopen(want, "ae");
	fputc('\0', f);
	fclose(f);
	ck_assert_int_eq(netem_dist_load("nul", &dist, NULL), -EINVAL);

	/* names are file names: nothing that leaves the directory */
	diag_init(&d);
	ck_assert_int_eq(netem_dist_load("../etc/passwd", &dist, &d), -EINVAL);
	ck_assert_str_eq(diag_text(&d), "distribution '../etc/passwd' is not a table name");
	ck_assert_int_eq(netem_dist_load("", &dist, NULL), -EINVAL);
	ck_assert_int_eq(netem_dist_load(NULL, &dist, NULL), -EINVAL);

	/* missing everywhere */
	diag_init(&d);
	ck_assert_int_eq(netem_dist_load("nosuchtable", &dist, &d), -ENOENT);
	ck_assert_ptr_nonnull(strstr(diag_text(&d), "no distribution table nosuchtable.dist in "));
	ck_assert_ptr_nonnull(strstr(diag_text(&d), tmpdir));
}
END_TEST

START_TEST(test_dist_system)
{
	/* iproute2's own tables, when installed, load through the fallback directories */
	struct netem_dist dist = {};
	struct diag d;

	diag_init(&d);
	if (netem_dist_load("normal", &dist, &d) == -ENOENT)
		return; /* iproute2 not installed here */
	ck_assert_str_eq(diag_text(&d), "");
	ck_assert_uint_eq(dist.n, 4096);
	ck_assert_int_eq(dist.data[0], -32768);
	netem_dist_done(&dist);
	ck_assert_int_eq(netem_dist_load("pareto", &dist, NULL), 0);
	ck_assert_uint_eq(dist.n, 4096);
	netem_dist_done(&dist);
	ck_assert_int_eq(netem_dist_load("paretonormal", &dist, NULL), 0);
	netem_dist_done(&dist);
}
END_TEST

static Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("core"), *tm = tcase_create("merge"), *tn = tcase_create("netem"),
	      *td = tcase_create("dist");

	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_format_params);
	tcase_add_test(tc, test_key_table);
	tcase_add_test(tc, test_set_values);
	tcase_add_test(tc, test_set_errors);
	tcase_add_test(tc, test_validate);
	tcase_add_test(tc, test_foreach_roundtrip);
	tcase_add_test(tc, test_describe);
	suite_add_tcase(s, tc);

	tcase_add_test(tm, test_merge_full);
	tcase_add_test(tm, test_merge_iproute2_rounding);
	tcase_add_test(tm, test_merge_gemodel);
	tcase_add_test(tm, test_merge_reorder);
	tcase_add_test(tm, test_merge_errors);
	suite_add_tcase(s, tm);

	tcase_add_test(tn, test_netem_percent);
	tcase_add_test(tn, test_netem_matches_rint);
	tcase_add_test(tn, test_netem_limit);
	tcase_add_test(tn, test_netem_shaper);
	suite_add_tcase(s, tn);

	tcase_add_checked_fixture(td, dist_setup, dist_teardown);
	tcase_add_test(td, test_dist_load);
	tcase_add_test(td, test_dist_system);
	suite_add_tcase(s, td);
	return s;
}

int main(void)
{
	return test_run_suite(fault_suite());
}
