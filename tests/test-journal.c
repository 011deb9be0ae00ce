/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "test-util.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/chaosd-journal-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct journal *reopen(struct journal *j)
{
	struct journal *n = NULL;
	struct diag d;

	journal_free(j);
	diag_init(&d);
	ck_assert_msg(journal_open(dir, &n, &d) == 0, "reopen: %s", diag_text(&d));
	return n;
}

START_TEST(test_persist_roundtrip)
{
	struct journal *j = reopen(NULL);
	struct journal_fault f = { .id = 7, .created_realtime_usec = 1000,
		.deadline_realtime_usec = 2000, .uid = 1001 };
	const struct journal_fault *g;
	struct diag d;

	diag_init(&d);
	strcpy(f.edge, "db");
	fault_init(&f.fault, FAULT_LATENCY);
	ck_assert_int_eq(fault_set(&f.fault, "ms", "250", &d), 0);
	ck_assert_int_eq(fault_set(&f.fault, "jitter", "10", &d), 0);
	ck_assert_int_eq(fault_set(&f.fault, "direction", "both", &d), 0);
	ck_assert_int_eq(fault_set(&f.fault, "flows", "2.5%", &d), 0);
	f.applied = true;
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	ck_assert_int_eq(journal_clsact_add(j, 3, "eth0"), 0);

	/* What a crashed daemon left is what the next one reads. */
	j = reopen(j);
	ck_assert_uint_eq(journal_fault_count(j), 1);
	g = journal_fault_at(j, 0);
	ck_assert_uint_eq(g->id, 7);
	ck_assert_str_eq(g->edge, "db");
	ck_assert_uint_eq(g->deadline_realtime_usec, 2000);
	ck_assert_uint_eq(g->uid, 1001);
	ck_assert(g->applied);
	ck_assert_int_eq(g->fault.kind, FAULT_LATENCY);
	ck_assert_int_eq(g->fault.direction, FAULT_DIR_BOTH);
	ck_assert_double_eq_tol(g->fault.delay_ms, 250, 1e-9);
	ck_assert_double_eq_tol(g->fault.jitter_ms, 10, 1e-9);
	ck_assert_uint_eq(fault_flows(&g->fault), 250);
	ck_assert(journal_clsact_created(j, 3));
	ck_assert(!journal_clsact_created(j, 4));
	ck_assert_uint_eq(journal_next_id(j), 8);

	ck_assert_int_eq(journal_fault_remove(j, 7), 0);
	ck_assert_int_eq(journal_clsact_remove(j, 3), 0);
	j = reopen(j);
	ck_assert_uint_eq(journal_fault_count(j), 0);
	ck_assert_uint_eq(journal_clsact_count(j), 0);
	journal_free(j);
}
END_TEST

START_TEST(test_replace_by_id)
{
	struct journal *j = reopen(NULL);
	struct journal_fault f = { .id = 1 };
	struct diag d;

	diag_init(&d);
	strcpy(f.edge, "cache");
	fault_init(&f.fault, FAULT_LOSS);
	ck_assert_int_eq(fault_set(&f.fault, "percent", "5", &d), 0);
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	ck_assert_int_eq(fault_set(&f.fault, "percent", "7.5", &d), 0);
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	j = reopen(j);
	ck_assert_uint_eq(journal_fault_count(j), 1);
	ck_assert_double_eq_tol(journal_fault_at(j, 0)->fault.percent, 7.5, 1e-9);
	ck_assert(!journal_fault_at(j, 0)->applied); /* intent only */
	journal_free(j);
}
END_TEST

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Faults are found by binary search: in any order of puts and drops they stay sorted by id,
 * each found again by its id, also after a reload. */
START_TEST(test_lookup_any_order)
{
	static const uint64_t ids[] = { 40, 3, 17, 1, 99, 18, 2, 60, 5, 41 };
	struct journal *j = reopen(NULL);
	struct journal_fault f = {};

	fault_init(&f.fault, FAULT_LOSS);
	strcpy(f.edge, "e");
	for (unsigned i = 0; i < ELEMENTSOF(ids); i++) {
		f.id = ids[i];
		f.uid = (uid_t)i;
		ck_assert_int_eq(journal_fault_put(j, &f), 0);
	}
	f.id = 17;
	f.uid = 1000; /* in place, not a second record */
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	ck_assert_int_eq(journal_fault_remove(j, 99), 0);
	ck_assert_int_eq(journal_fault_remove(j, 1), 0);
	ck_assert_int_eq(journal_fault_remove(j, 12345), 0); /* not there: nothing happens */
	for (int pass = 0; pass < 2; pass++) {
		static const uint64_t want[] = { 2, 3, 5, 17, 18, 40, 41, 60 };
		ck_assert_uint_eq(journal_fault_count(j), ELEMENTSOF(want));
		for (unsigned i = 0; i < ELEMENTSOF(want); i++)
			ck_assert_uint_eq(journal_fault_at(j, i)->id, want[i]);
		ck_assert_uint_eq(journal_fault_at(j, 3)->uid, 1000);
		ck_assert_uint_eq(journal_fault_at(j, 0)->uid, 6);
		ck_assert_uint_eq(journal_next_id(j), 100);
		j = reopen(j);
	}
	journal_free(j);
}
END_TEST

START_TEST(test_corrupt_refused)
{
	static const char *const bad[] = {
		"not a journal\n",
		"chaosd-journal 1\nclsact x eth0\n",
		"chaosd-journal 1\nfault 1 0 0 0 db\n",
		"chaosd-journal 1\nfault 1 0 0 0 db latency applied ms=-4\n",
		"chaosd-journal 1\nfault 1 0 0 0 db teleport applied\n",
		"chaosd-journal 1\nfault 1 0 0 0 db latency sideways ms=4\n",
		"chaosd-journal 1\nwhat is this\n",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct journal *j = NULL;
		struct diag d;
		diag_init(&d);
		write_file("journal", bad[i]);
		ck_assert_int_eq(journal_open(dir, &j, &d), -EBADMSG);
		ck_assert_ptr_null(j);
		ck_assert_msg(strstr(diag_text(&d), "journal:") != NULL, "case %u: '%s'", i,
				diag_text(&d));
	}
}
END_TEST

START_TEST(test_no_temp_left)
{
	struct journal *j = reopen(NULL);
	struct stat st;
	char path[128];

	ck_assert_int_eq(journal_clsact_add(j, 9, "veth0"), 0);
	snprintf(path, sizeof(path), "%s/journal.tmp", dir);
	ck_assert_int_eq(stat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/journal", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	journal_free(j);
}
END_TEST

static unsigned file_lines(void)
{
	char path[128], line[4096];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/journal", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static struct journal_fault latency_fault(uint64_t id, const char *ms)
{
	struct journal_fault f = { .id = id };
	struct diag d;

	diag_init(&d);
	snprintf(f.edge, sizeof(f.edge), "e%llu", (unsigned long long)id);
	fault_init(&f.fault, FAULT_LATENCY);
	ck_assert_int_eq(fault_set(&f.fault, "ms", ms, &d), 0);
	return f;
}

/* Changes are appended (a change costs its own size, not the journal's), read back in order
 * (later records win), and the file is compacted before superseded records pile up. */
START_TEST(test_appended_changes)
{
	struct journal *j = reopen(NULL);
	uint64_t ids[100];

	for (uint64_t id = 1; id <= 200; id++) {
		struct journal_fault f = latency_fault(id, "10");
		ck_assert_int_eq(journal_fault_put(j, &f), 0);
		f.applied = true;
		ck_assert_int_eq(journal_fault_put(j, &f), 0);
	}
	ck_assert_uint_le(file_lines(), 2 * 201 + 64 + 1);
	struct journal_fault f = latency_fault(5, "77");
	ck_assert_int_eq(journal_fault_put(j, &f), 0); /* in place */
	ck_assert_int_eq(journal_fault_remove(j, 6), 0);
	ck_assert_int_eq(journal_clsact_add(j, 4, "veth0"), 0);
	for (unsigned i = 0; i < 100; i++)
		ids[i] = 101 + i; /* 101..200 */
	ck_assert_int_eq(journal_fault_remove_many(j, ids, 100), 0);
	j = reopen(j);
	ck_assert_uint_eq(journal_fault_count(j), 200 - 1 - 100);
	ck_assert_uint_eq(journal_fault_at(j, 4)->id, 5);
	ck_assert_double_eq_tol(journal_fault_at(j, 4)->fault.delay_ms, 77, 1e-9);
	ck_assert(!journal_fault_at(j, 4)->applied);
	ck_assert_uint_eq(journal_fault_at(j, 5)->id, 7);
	ck_assert(journal_fault_at(j, 5)->applied);
	ck_assert_uint_eq(journal_fault_at(j, 98)->id, 100);
	ck_assert(journal_clsact_created(j, 4));
	ck_assert_uint_gt(journal_next_id(j), 100);
	/* the first change after a start compacts */
	ck_assert_int_eq(journal_clsact_remove(j, 4), 0);
	ck_assert_uint_eq(file_lines(), 1 + 99);
	journal_free(j);
}
END_TEST

/* A record a crash cut short (no newline yet) was never fsynced: its change was not made, and
 * the journal before it is read as it was. A complete record that is wrong still refuses. */
START_TEST(test_torn_append_ignored)
{
	struct journal *j;
	struct diag d;

	write_file("journal", "chaosd-journal 1\nclsact 3 eth0\n"
			      "fault 4 0 0 0 db latency applied ms=10\ndrop-clsact 3\nfault 5 0 0");
	j = reopen(NULL);
	ck_assert_uint_eq(journal_fault_count(j), 1);
	ck_assert_uint_eq(journal_fault_at(j, 0)->id, 4);
	ck_assert_uint_eq(journal_clsact_count(j), 0);
	journal_free(j);
	write_file("journal", "chaosd-journal 1\ndrop-fault x\n");
	diag_init(&d);
	j = NULL;
	ck_assert_int_eq(journal_open(dir, &j, &d), -EBADMSG);
	ck_assert_ptr_null(j);
}
END_TEST

/* A confirmation is written without an fsync: it must still be there for the next chaosd
 * after this one is killed (kill -9 keeps what was written, in the page cache). */
START_TEST(test_confirmation_survives_kill)
{
	struct journal *j;
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct journal_fault f = latency_fault(9, "10");
		struct diag d;
		diag_init(&d);
		if (journal_open(dir, &j, &d) < 0 || journal_fault_put(j, &f) < 0)
			_exit(1);
		f.applied = true;
		if (journal_fault_put(j, &f) < 0)
			_exit(1);
		raise(SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	j = reopen(NULL);
	ck_assert_uint_eq(journal_fault_count(j), 1);
	ck_assert_uint_eq(journal_fault_at(j, 0)->id, 9);
	ck_assert(journal_fault_at(j, 0)->applied);
	journal_free(j);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_persist_roundtrip);
	tcase_add_test(tc, test_replace_by_id);
	tcase_add_test(tc, test_lookup_any_order);
	tcase_add_test(tc, test_corrupt_refused);
	tcase_add_test(tc, test_no_temp_left);
	tcase_add_test(tc, test_appended_changes);
	tcase_add_test(tc, test_torn_append_ignored);
	tcase_add_test(tc, test_confirmation_survives_kill);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
