/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cgwatch on the host's cgroup2 mount: a cgroup removed and made again (a unit's restart) is
 * reported with its new id well within a second; a sibling's changes are not reported. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgwatch.h"
#include "edge-scope.h"
#include "test-util.h"
#include "timeutil.h"

static const char *root;

struct seen {
	unsigned calls;
	int r;
	uint64_t id;
	unsigned level;
	char path[128];
};

static void on_change(void *userdata, const char *path, int r, uint64_t id, unsigned level)
{
	struct seen *s = userdata;

	s->calls++;
	s->r = r;
	s->id = id;
	s->level = level;
	snprintf(s->path, sizeof(s->path), "%s", path);
}

/* Run the loop until calls grows past before or 2 s pass; returns the time it took (us). */
static uint64_t wait_call(sd_event *ev, struct seen *s, unsigned before)
{
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);

	while (s->calls == before && now_usec(CLOCK_MONOTONIC) - t0 < 2000000)
		ck_assert_int_ge(sd_event_run(ev, 50 * 1000), 0);
	return now_usec(CLOCK_MONOTONIC) - t0;
}

static void dir_op(bool make, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	ck_assert_msg((make ? mkdir(p, 0755) : rmdir(p)) == 0, "%s %s: %m", make ? "mkdir" : "rmdir",
			p);
}

static uint64_t ino_of(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	ck_assert_int_eq(stat(p, &st), 0);
	return (uint64_t)st.st_ino;
}

START_TEST(test_restart_followed)
{
	char parent[64], svc[96], other[96];
	struct seen s = {};
	struct cgwatch *w = NULL;
	sd_event *ev = NULL;
	uint64_t id, first, took;
	unsigned level, before;

	snprintf(parent, sizeof(parent), "chaosd-cgw-%d", (int)getpid());
	snprintf(svc, sizeof(svc), "%s/a.service", parent);
	snprintf(other, sizeof(other), "%s/b.service", parent);
	dir_op(true, parent);
	ck_assert_int_eq(sd_event_new(&ev), 0);
	ck_assert_int_eq(cgwatch_new(ev, root, on_change, &s, &w), 0);

	/* not there yet: followed all the same */
	ck_assert_int_eq(cgwatch_add(w, svc, &id, &level), 0);
	ck_assert_int_eq(cgwatch_add(w, svc, &id, &level), -EEXIST);
	ck_assert_int_eq(cgwatch_add(w, "no-such-parent/x.service", &id, &level), -ENOENT);

	dir_op(true, svc); /* started */
	took = wait_call(ev, &s, 0);
	ck_assert_uint_eq(s.calls, 1);
	ck_assert_int_ge(s.r, 0);
	ck_assert_str_eq(s.path, svc);
	ck_assert_uint_eq(s.id, ino_of(svc));
	ck_assert_uint_eq(s.level, 2);
	ck_assert_msg(took < 1000000, "took %llu us", (unsigned long long)took);
	first = s.id;

	dir_op(true, other); /* a sibling: not reported */
	before = s.calls;
	wait_call(ev, &s, before);
	ck_assert_uint_eq(s.calls, before);

	dir_op(false, svc); /* stopped */
	wait_call(ev, &s, 1);
	ck_assert_uint_eq(s.calls, 2);
	ck_assert_int_eq(s.r, -ENOENT);
	dir_op(true, svc); /* started again: a new id */
	took = wait_call(ev, &s, 2);
	ck_assert_uint_eq(s.calls, 3);
	ck_assert_int_ge(s.r, 0);
	ck_assert_uint_ne(s.id, first);
	ck_assert_uint_eq(s.id, ino_of(svc));
	ck_assert_msg(took < 1000000, "took %llu us", (unsigned long long)took);
	fprintf(stderr, "test-cgwatch: a restart was followed in %llu us\n",
			(unsigned long long)took);

	/* already there when added: its id at once */
	ck_assert_int_eq(cgwatch_add(w, other, &id, &level), 1);
	ck_assert_uint_eq(id, ino_of(other));
	ck_assert_uint_eq(level, 2);

	/* no longer followed: no more calls; the shared parent watch stays for the other */
	ck_assert_int_eq(cgwatch_remove(w, svc), 0);
	ck_assert_int_eq(cgwatch_remove(w, svc), -ENOENT);
	dir_op(false, svc);
	before = s.calls;
	wait_call(ev, &s, before);
	ck_assert_uint_eq(s.calls, before);
	dir_op(false, other);
	wait_call(ev, &s, before);
	ck_assert_uint_eq(s.calls, before + 1);
	ck_assert_str_eq(s.path, other);
	ck_assert_int_eq(s.r, -ENOENT);

	cgwatch_free(w);
	sd_event_unref(ev);
	dir_op(false, parent);
}
END_TEST

static Suite *cgwatch_suite(void)
{
	Suite *s = suite_create("cgwatch");
	TCase *tc = tcase_create("host");

	tcase_add_test(tc, test_restart_followed);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (geteuid() != 0)
		return test_skip("test-cgwatch", "needs root");
	if (edge_cgroup2_root(&root) < 0)
		return test_skip("test-cgwatch", "no cgroup2 mount");
	return test_run_suite(cgwatch_suite());
}
