/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The journal on a failing disk: a full file system (where the space reserve lets a removal
 * through, once) and a read-only one (every write reported, memory as journal.h promises, all
 * of it put right by journal_repair once the disk is writable again). Each test mounts a small
 * tmpfs in a private mount namespace of its own (Check forks a process per test). Needs root. */
#include <check.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "journal.h"
#include "test-util.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/chaosd-jhost-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	/* nothing mounted here is seen outside, nor outlives the test's process */
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount("chaosd-test", dir, "tmpfs", 0, "size=1m,mode=0700"), 0);
}

static void teardown(void)
{
	(void)umount2(dir, MNT_DETACH);
	(void)rmdir(dir);
}

static struct journal *open_journal(void)
{
	struct journal *j = NULL;
	struct diag d;

	diag_init(&d);
	ck_assert_msg(journal_open(dir, &j, &d) == 0, "open: %s", diag_text(&d));
	return j;
}

static struct journal_fault loss_fault(uint64_t id)
{
	struct journal_fault f = { .id = id, .applied = true };
	struct diag d;

	diag_init(&d);
	snprintf(f.edge, sizeof(f.edge), "edge%llu", (unsigned long long)id);
	fault_init(&f.fault, FAULT_LOSS);
	ck_assert_int_eq(fault_set(&f.fault, "percent", "5", &d), 0);
	return f;
}

static bool journal_file_has(const char *needle)
{
	_cleanup_free_ char *buf = NULL;
	char path[128];
	struct diag d;

	diag_init(&d);
	snprintf(path, sizeof(path), "%s/journal", dir);
	ck_assert_int_eq(fileio_read_bounded(path, JOURNAL_MAX_BYTES, &buf, NULL, &d), 0);
	return strstr(buf, needle) != NULL;
}

/* Fill the file system; returns the filler's path. */
static void fill_disk(char *filler, size_t n)
{
	static char block[4096];
	int fd;

	snprintf(filler, n, "%s/filler", dir);
	fd = open(filler, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	while (write(fd, block, sizeof(block)) > 0)
		;
	ck_assert_int_eq(errno, ENOSPC);
	close(fd);
}

/* On a full disk an addition is refused and leaves the reserve alone; a removal deletes the
 * reserve and gets written. */
START_TEST(test_full_disk_uses_reserve)
{
	struct journal *j = open_journal();
	struct journal_fault f1 = loss_fault(1), f2 = loss_fault(2), f3 = loss_fault(3);
	char filler[128], reserve[128];
	struct stat st;
	struct diag d;

	snprintf(reserve, sizeof(reserve), "%s/.reserve", dir);
	ck_assert_int_eq(stat(reserve, &st), 0);
	ck_assert_int_eq(journal_fault_put(j, &f1), 0);
	ck_assert_int_eq(journal_fault_put(j, &f2), 0);
	journal_free(j);
	fill_disk(filler, sizeof(filler));

	/* The first change after a start rewrites the journal: a new file, which needs space. */
	j = open_journal();
	ck_assert(!journal_degraded(j));
	ck_assert_int_eq(journal_fault_put(j, &f3), -ENOSPC);
	ck_assert_msg(strstr(journal_error(j), "/journal") && strstr(journal_error(j), "No space"),
			"'%s'", journal_error(j));
	ck_assert_uint_eq(journal_fault_count(j), 2);
	ck_assert_int_eq(stat(reserve, &st), 0); /* kept for what must be written */
	ck_assert(!journal_file_has("fault 3 "));

	ck_assert_int_eq(journal_fault_remove(j, 1), 0); /* through the reserve's space */
	ck_assert_int_eq(stat(reserve, &st), -1);
	ck_assert(journal_degraded(j));
	ck_assert(!journal_file_has("fault 1 "));
	ck_assert(journal_file_has("fault 2 "));
	fill_disk(filler, sizeof(filler)); /* what the reserve freed, someone else takes */
	diag_init(&d);
	ck_assert_int_eq(journal_repair(j, &d), -ENOSPC);
	ck_assert_msg(strstr(diag_text(&d), reserve) && strstr(diag_text(&d), "No space"), "'%s'",
			diag_text(&d));
	ck_assert_int_eq(stat(reserve, &st), -1); /* a failed reserve leaves nothing */

	/* No reserve left: appends fill the journal's last page, then fail, say so, and keep
	 * the count exact. */
	for (uint64_t id = 3; id < 200 && journal_fault_put(j, &f3) == 0; id++)
		f3 = loss_fault(id + 1);
	ck_assert_msg(strstr(journal_error(j), "/journal") && strstr(journal_error(j), "No space"),
			"'%s'", journal_error(j));
	ck_assert_uint_lt(journal_fault_at(j, journal_fault_count(j) - 1)->id, f3.id);

	/* Space again: repair re-creates the reserve. */
	ck_assert_int_eq(unlink(filler), 0);
	diag_init(&d);
	ck_assert_msg(journal_repair(j, &d) == 0, "%s", diag_text(&d));
	ck_assert(!journal_degraded(j));
	ck_assert_int_eq(stat(reserve, &st), 0);
	ck_assert_int_eq(st.st_size, JOURNAL_RESERVE_BYTES);
	ck_assert(journal_file_has("fault 2 "));
	journal_free(j);
}
END_TEST

START_TEST(test_read_only_disk)
{
	struct journal *j = open_journal();
	struct journal_fault f1 = loss_fault(1), f2 = loss_fault(2);
	struct diag d;

	ck_assert_int_eq(journal_fault_put(j, &f1), 0);
	ck_assert_int_eq(journal_clsact_add(j, 7, "veth7"), 0);
	journal_free(j);
	ck_assert_int_eq(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);

	/* still readable, so still known; but no reserve can be made */
	j = open_journal();
	ck_assert_uint_eq(journal_fault_count(j), 1);
	ck_assert(journal_degraded(j));

	ck_assert_int_eq(journal_fault_remove(j, 1), -EROFS);
	ck_assert_msg(strstr(journal_error(j), dir) && strstr(journal_error(j), "Read-only"),
			"'%s'", journal_error(j));
	ck_assert_uint_eq(journal_fault_count(j), 0); /* a removal stays applied */
	ck_assert_int_eq(journal_clsact_remove(j, 7), -EROFS);
	ck_assert(!journal_clsact_created(j, 7));
	ck_assert_int_eq(journal_fault_put(j, &f2), -EROFS);
	ck_assert_uint_eq(journal_fault_count(j), 0); /* an addition is rolled back */
	ck_assert_int_eq(journal_clsact_add(j, 8, "veth8"), -EROFS);
	ck_assert(!journal_clsact_created(j, 8));
	ck_assert(journal_file_has("fault 1 "));
	diag_init(&d);
	ck_assert_int_eq(journal_repair(j, &d), -EROFS);

	ck_assert_int_eq(mount(NULL, dir, NULL, MS_REMOUNT, NULL), 0);
	diag_init(&d);
	ck_assert_msg(journal_repair(j, &d) == 0, "%s", diag_text(&d));
	ck_assert(!journal_degraded(j));
	ck_assert(!journal_file_has("fault 1 "));
	ck_assert(!journal_file_has("clsact"));
	journal_free(j);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;

	if (geteuid() != 0)
		return test_skip("test-journal-host", "needs root (a tmpfs in a mount namespace)");
	s = suite_create("journal-host");
	tc = tcase_create("disk");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full_disk_uses_reserve);
	tcase_add_test(tc, test_read_only_disk);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
