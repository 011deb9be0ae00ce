/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test-util.h"
#include "topology.h"

static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g", "h", "i" };

static struct topology compute(const char *spec_s, unsigned n, uint64_t seed)
{
	struct topology_spec spec;
	struct topology t;
	struct diag d;

	diag_init(&d);
	ck_assert_msg(topology_parse(spec_s, &spec, &d) == 0, "%s: %s", spec_s, diag_text(&d));
	ck_assert_msg(topology_compute(&spec, names, n, seed, &t, &d) == 0, "%s/%u: %s", spec_s,
			n, diag_text(&d));
	ck_assert_uint_eq(t.n, n);
	for (unsigned i = 0; i < n; i++) {
		ck_assert(!t.cut[i][i]);
		for (unsigned j = 0; j < n; j++)
			ck_assert_msg(t.cut[i][j] == t.cut[j][i], "%s: %u-%u one-sided", spec_s, i, j);
	}
	return t;
}

static void assert_describe(const struct topology *t, const char *want)
{
	char buf[256];

	ck_assert_str_eq(topology_describe(t, names, buf, sizeof(buf)), want);
}

START_TEST(test_parse_refused)
{
	static const char *const bad[][2] = {
		{ "isolate", "topology 'isolate': name the host (isolate:HOST)" },
		{ "isolate:", "topology 'isolate:': name the host (isolate:HOST)" },
		{ "halves:a", "topology 'halves:a': halves takes no host" },
		{ "ring", "topology 'ring': unknown (allowed: " TOPOLOGY_KINDS ")" },
		{ "", "topology '': unknown (allowed: " TOPOLOGY_KINDS ")" },
		{ "bridge:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "topology 'bridge:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': host name longer than 32" },
	};
	struct topology_spec spec;
	struct diag d;

	for (unsigned i = 0; i < ELEMENTSOF(bad); i++) {
		diag_init(&d);
		ck_assert_int_eq(topology_parse(bad[i][0], &spec, &d), -EINVAL);
		ck_assert_str_eq(diag_text(&d), bad[i][1]);
	}
}
END_TEST

START_TEST(test_compute_refused)
{
	struct topology_spec spec;
	struct topology t;
	struct diag d;

	diag_init(&d);
	ck_assert_int_eq(topology_parse("isolate:x", &spec, &d), 0);
	ck_assert_int_eq(topology_compute(&spec, names, 3, 1, &t, &d), -EINVAL);
	ck_assert_str_eq(diag_text(&d), "topology isolate:x: no host 'x' (hosts: a, b, c)");
	diag_init(&d);
	ck_assert_int_eq(topology_parse("bridge:a", &spec, &d), 0);
	ck_assert_int_eq(topology_compute(&spec, names, 2, 1, &t, &d), -EINVAL);
	ck_assert_str_eq(diag_text(&d), "topology bridge needs at least 3 hosts, not 2");
	diag_init(&d);
	ck_assert_int_eq(topology_parse("halves", &spec, &d), 0);
	ck_assert_int_eq(topology_compute(&spec, names, 1, 1, &t, &d), -EINVAL);
}
END_TEST

START_TEST(test_isolate)
{
	struct topology t = compute("isolate:b", 3, 7);

	ck_assert(t.cut[1][0] && t.cut[1][2] && !t.cut[0][2]);
	ck_assert_uint_eq(topology_cuts_of(&t, 1), 2);
	ck_assert_uint_eq(topology_cuts_of(&t, 0), 1);
	assert_describe(&t, "isolate:b (a c | b)");
	t = compute("isolate:e", 5, 7);
	ck_assert_uint_eq(topology_cuts_of(&t, 4), 4);
	ck_assert_uint_eq(topology_cuts_of(&t, 0), 1);
	assert_describe(&t, "isolate:e (a b c d | e)");
}
END_TEST

START_TEST(test_halves)
{
	unsigned seen_alone[3] = {};

	for (unsigned n = 2; n <= 9; n++)
		for (uint64_t seed = 0; seed < 20; seed++) {
			struct topology t = compute("halves", n, seed);
			char buf[256];
			unsigned side = 0;

			/* host 0's side has n/2 or n - n/2 members, and cuts exactly the rest */
			for (unsigned j = 0; j < n; j++)
				side += !t.cut[0][j];
			ck_assert(side == n / 2 || side == n - n / 2);
			ck_assert_uint_eq(topology_cuts_of(&t, 0), n - side);
			topology_describe(&t, names, buf, sizeof(buf));
			ck_assert_msg(strncmp(buf, n <= 3 ? "isolate:" : "halves (", 8) == 0, "%s", buf);
			if (n == 3)
				for (unsigned i = 0; i < 3; i++)
					seen_alone[i] += topology_cuts_of(&t, i) == 2;
		}
	/* the minority is a random host, not always the same one */
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_gt(seen_alone[i], 0);
	/* the same seed, the same split */
	ck_assert(!memcmp(compute("halves", 7, 42).cut, compute("halves", 7, 42).cut,
			sizeof(((struct topology *)0)->cut)));
}
END_TEST

START_TEST(test_bridge)
{
	for (unsigned n = 3; n <= 9; n++)
		for (uint64_t seed = 0; seed < 10; seed++) {
			struct topology t = compute("bridge:c", n, seed);
			char buf[256];

			/* c reaches all; the others reach their half only */
			ck_assert_uint_eq(topology_cuts_of(&t, 2), 0);
			for (unsigned i = 0; i < n; i++)
				if (i != 2) {
					unsigned c = topology_cuts_of(&t, i);
					ck_assert(c == (n - 1) / 2 || c == n - 1 - (n - 1) / 2);
				}
			topology_describe(&t, names, buf, sizeof(buf));
			ck_assert_msg(strncmp(buf, "bridge:c (", 10) == 0, "%s", buf);
			ck_assert_msg(strstr(buf, ", c reaches both)"), "%s", buf);
		}
	assert_describe(&(struct topology){ .n = 3, .cut = { [0][2] = true, [2][0] = true } },
			"bridge:b (a | c, b reaches both)");
}
END_TEST

START_TEST(test_majorities_ring)
{
	for (unsigned n = 3; n <= 9; n++)
		for (uint64_t seed = 0; seed < 10; seed++) {
			struct topology t = compute("majorities-ring", n, seed);
			char buf[256];

			for (unsigned i = 0; i < n; i++) {
				/* every host sees a majority (itself included) ... */
				ck_assert_msg(n - topology_cuts_of(&t, i) > n / 2, "n=%u host %u", n, i);
				/* ... and no two the same one */
				for (unsigned j = i + 1; j < n; j++)
					ck_assert(memcmp(t.cut[i], t.cut[j], n * sizeof(bool)) != 0);
			}
			topology_describe(&t, names, buf, sizeof(buf));
			/* three hosts: the ring is a bridge (one pair cut) */
			ck_assert_msg(n == 3 ? strncmp(buf, "bridge:", 7) == 0 :
					       streq(buf, "majorities-ring"), "n=%u: %s", n, buf);
		}
}
END_TEST

START_TEST(test_describe_other)
{
	struct topology t = { .n = 3 };

	assert_describe(&t, "none");
	t.cut[0][1] = true;
	assert_describe(&t, "partial"); /* one-sided: b lost its half */
	t = compute("halves", 6, 3);
	t.cut[0][1] = t.cut[1][0] = !t.cut[0][1];
	assert_describe(&t, "partial");
	t = (struct topology){ .n = 3 };
	for (unsigned i = 0; i < 3; i++)
		for (unsigned j = 0; j < 3; j++)
			t.cut[i][j] = i != j;
	assert_describe(&t, "split (a | b | c)");
}
END_TEST

static Suite *topology_suite(void)
{
	Suite *s = suite_create("topology");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_refused);
	tcase_add_test(tc, test_compute_refused);
	tcase_add_test(tc, test_isolate);
	tcase_add_test(tc, test_halves);
	tcase_add_test(tc, test_bridge);
	tcase_add_test(tc, test_majorities_ring);
	tcase_add_test(tc, test_describe_other);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(topology_suite());
}
