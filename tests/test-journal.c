/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
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

/* A confirmation reuses its intent's text (journal.c): a change of the same fault right
 * after it, of a parameter or of the edge, is written as it is, not as the text before. */
START_TEST(test_record_text_follows_changes)
{
	struct journal *j = reopen(NULL);
	struct journal_fault f = latency_fault(5, "10");

	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	f.applied = true;
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	f = latency_fault(5, "20");
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	f.applied = true;
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	snprintf(f.edge, sizeof(f.edge), "moved");
	f.applied = false;
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	j = reopen(j);
	ck_assert_uint_eq(journal_fault_count(j), 1);
	ck_assert_double_eq_tol(journal_fault_at(j, 0)->fault.delay_ms, 20, 1e-9);
	ck_assert_str_eq(journal_fault_at(j, 0)->edge, "moved");
	ck_assert(!journal_fault_at(j, 0)->applied);
	f.applied = true;
	ck_assert_int_eq(journal_fault_put(j, &f), 0);
	j = reopen(j);
	ck_assert(journal_fault_at(j, 0)->applied);
	ck_assert_str_eq(journal_fault_at(j, 0)->edge, "moved");
	journal_free(j);
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

static void path_of(char *buf, size_t n, const char *name)
{
	ck_assert_uint_lt((size_t)snprintf(buf, n, "%s/%s", dir, name), n);
}

/* A FIFO, a directory or an oversized file where the journal belongs: journal_open neither
 * blocks nor reads it, says what is there (-EBADMSG: quarantine it), and after
 * journal_quarantine starts empty. */
START_TEST(test_unusable_journal_file)
{
	for (int kind = 0; kind < 3; kind++) {
		static const char *const want[] = { "is a FIFO", "is a directory", "bytes, more" };
		char path[128], qname[192];
		struct journal *j = NULL;
		struct stat st;
		struct diag d;

		path_of(path, sizeof(path), "journal");
		if (kind == 0)
			ck_assert_int_eq(mkfifo(path, 0600), 0);
		else if (kind == 1)
			ck_assert_int_eq(mkdir(path, 0700), 0);
		else {
			write_file("journal", "chaosd-journal 1\n");
			ck_assert_int_eq(truncate(path, JOURNAL_MAX_BYTES + 1), 0);
		}
		diag_init(&d);
		alarm(5); /* a blocking open fails the test instead of hanging it */
		ck_assert_int_eq(journal_open(dir, &j, &d), -EBADMSG);
		alarm(0);
		ck_assert_ptr_null(j);
		ck_assert_msg(strstr(diag_text(&d), path) && strstr(diag_text(&d), want[kind]),
				"kind %d: '%s'", kind, diag_text(&d));
		diag_init(&d);
		ck_assert_int_eq(journal_quarantine(dir, qname, sizeof(qname), &d), 0);
		ck_assert_int_eq(lstat(qname, &st), 0);
		ck_assert_int_eq(lstat(path, &st), -1);
		j = reopen(NULL);
		ck_assert_uint_eq(journal_fault_count(j), 0);
		ck_assert_uint_eq(journal_clsact_count(j), 0);
		ck_assert(!journal_degraded(j));
		journal_free(j);
		ck_assert_int_eq(rename(qname, path), 0); /* for the next kind's quarantine */
		ck_assert_int_eq(kind == 1 ? rmdir(path) : unlink(path), 0);
	}
}
END_TEST

/* fileio_read_bounded: absent is -ENOENT without a diag; the bound is exact; the buffer is
 * NUL-terminated; a FIFO is refused at once. */
START_TEST(test_read_bounded)
{
	char path[128], *buf = NULL;
	size_t len = 0;
	struct diag d;

	diag_init(&d);
	path_of(path, sizeof(path), "f");
	ck_assert_int_eq(fileio_read_bounded(path, 10, &buf, &len, &d), -ENOENT);
	ck_assert_uint_eq(d.count, 0);
	write_file("f", "0123456789");
	ck_assert_int_eq(fileio_read_bounded(path, 10, &buf, &len, &d), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(buf, "0123456789");
	free(buf);
	buf = NULL;
	ck_assert_int_eq(fileio_read_bounded(path, 9, &buf, &len, &d), -EFBIG);
	ck_assert_ptr_null(buf);
	ck_assert_msg(strstr(diag_text(&d), "more than the 9"), "'%s'", diag_text(&d));
	path_of(path, sizeof(path), "p");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	diag_init(&d);
	alarm(5);
	ck_assert_int_eq(fileio_read_bounded(path, 10, &buf, &len, &d), -EINVAL);
	alarm(0);
	ck_assert_msg(strstr(diag_text(&d), "is a FIFO, not a regular file"), "'%s'",
			diag_text(&d));
}
END_TEST

/* A corrupt journal is -EBADMSG with the line and the reason; each quarantine gets its own
 * name (never replacing an earlier one) and keeps the bytes; the clsact records that parse
 * can still be read from it. */
START_TEST(test_corrupt_quarantine_salvage)
{
	static const char text[] = "chaosd-journal 1\nclsact 3 eth0\nclsact 5 eth1\n"
				   "fault 1 0 0 0 db teleport applied\nclsact 8 eth2\n"
				   "garbage\ndrop-clsact 5\n";
	char first[192], second[192], *buf = NULL;
	struct journal_iface *ifs = NULL;
	struct journal *j = NULL;
	unsigned n = 0;
	struct diag d;

	write_file("journal", text);
	diag_init(&d);
	ck_assert_int_eq(journal_open(dir, &j, &d), -EBADMSG);
	ck_assert_msg(strstr(diag_text(&d), "journal:4: unknown fault kind 'teleport'"), "'%s'",
			diag_text(&d));
	ck_assert_int_eq(journal_quarantine(dir, first, sizeof(first), &d), 0);
	ck_assert_msg(strstr(first, "/journal.corrupt-") && first[strlen(first) - 1] == 'Z',
			"'%s'", first);
	ck_assert_int_eq(fileio_read_bounded(first, 4096, &buf, NULL, &d), 0);
	ck_assert_str_eq(buf, text);
	free(buf);

	ck_assert_int_eq(journal_salvage_clsact(first, &ifs, &n, &d), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(ifs[0].ifindex, 3);
	ck_assert_str_eq(ifs[0].ifname, "eth0");
	ck_assert_int_eq(ifs[1].ifindex, 8);
	ck_assert_str_eq(ifs[1].ifname, "eth2");
	free(ifs);

	/* the same second, or not: a second quarantine never replaces the first */
	write_file("journal", "junk\n");
	ck_assert_int_eq(journal_quarantine(dir, second, sizeof(second), &d), 0);
	ck_assert_str_ne(first, second);
	ck_assert_int_eq(access(first, F_OK), 0);
	ck_assert_int_eq(access(second, F_OK), 0);
	/* nothing to quarantine; too small a buffer changes nothing */
	ck_assert_int_eq(journal_quarantine(dir, second, sizeof(second), &d), -ENOENT);
	write_file("journal", "junk\n");
	ck_assert_int_eq(journal_quarantine(dir, second, 8, &d), -ENAMETOOLONG);
	ck_assert_int_eq(access(second, F_OK), -1);
	path_of(second, sizeof(second), "journal");
	ck_assert_int_eq(access(second, F_OK), 0);
	/* the lock: not while a journal is open */
	ck_assert_int_eq(unlink(second), 0);
	j = reopen(NULL);
	ck_assert_int_eq(journal_quarantine(dir, second, sizeof(second), &d), -EBUSY);
	journal_free(j);
}
END_TEST

/* A record with a NUL byte is corrupt, not cut short at the NUL. */
START_TEST(test_nul_byte_refused)
{
	static const char text[] = "chaosd-journal 1\nclsact 3 eth0\0garbage\n";
	struct journal *j = NULL;
	char path[128];
	struct diag d;
	FILE *f;

	path_of(path, sizeof(path), "journal");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	fclose(f);
	diag_init(&d);
	ck_assert_int_eq(journal_open(dir, &j, &d), -EBADMSG);
	ck_assert_msg(strstr(diag_text(&d), "journal:2: NUL byte"), "'%s'", diag_text(&d));
}
END_TEST

static off_t file_size(const char *name)
{
	char path[128];
	struct stat st;

	path_of(path, sizeof(path), name);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

static bool journal_file_has(const char *needle)
{
	_cleanup_free_ char *buf = NULL;
	char path[128];
	struct diag d;

	diag_init(&d);
	path_of(path, sizeof(path), "journal");
	ck_assert_int_eq(fileio_read_bounded(path, JOURNAL_MAX_BYTES, &buf, NULL, &d), 0);
	return strstr(buf, needle) != NULL;
}

static void set_fsize_limit(rlim_t lim)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = lim;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Failed writes (here a file size limit: short writes, then EFBIG, on the append and on the
 * rewrite) are reported with the path; an addition is rolled back, a removal stays applied;
 * no torn record is left in the file; journal_repair brings the disk up to memory. */
START_TEST(test_write_failure_reported)
{
	struct journal *j = reopen(NULL);
	struct journal_fault f1 = latency_fault(1, "10"), f2 = latency_fault(2, "20");
	char path[128];
	struct diag d;
	off_t size;
	int r, r2;

	path_of(path, sizeof(path), "journal");
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(journal_fault_put(j, &f1), 0);
	ck_assert_int_eq(journal_clsact_add(j, 4, "veth0"), 0); /* appended */
	size = file_size("journal");

	/* Check reports through a file: the limit is lifted before anything is asserted. */
	set_fsize_limit((rlim_t)size + 10); /* the next record gets 10 bytes in */
	r = journal_fault_put(j, &f2);
	r2 = journal_clsact_add(j, 6, "veth1");
	set_fsize_limit(RLIM_INFINITY);
	ck_assert_int_eq(r, -EFBIG);
	ck_assert_int_eq(r2, -EFBIG);
	ck_assert_msg(strstr(journal_error(j), path) && strstr(journal_error(j), "too large"),
			"'%s'", journal_error(j));
	ck_assert_uint_eq(journal_fault_count(j), 1); /* rolled back */
	ck_assert_uint_eq(journal_next_id(j), 3);     /* but the id is not reused */
	ck_assert_int_eq(file_size("journal"), size); /* the torn 10 bytes are cut off */
	ck_assert(journal_degraded(j));
	ck_assert(!journal_clsact_created(j, 6));

	set_fsize_limit(1); /* nothing fits now, not even a rewrite */
	r = journal_fault_remove(j, 1);
	diag_init(&d);
	r2 = journal_repair(j, &d);
	set_fsize_limit(RLIM_INFINITY);
	ck_assert_int_eq(r, -EFBIG);
	ck_assert_uint_eq(journal_fault_count(j), 0); /* applied in memory */
	ck_assert(journal_file_has("fault 1 "));    /* the disk still lists it */
	ck_assert_int_eq(r2, -EFBIG);
	ck_assert_msg(strstr(diag_text(&d), "journal.tmp"), "'%s'", diag_text(&d));
	ck_assert(journal_degraded(j));

	diag_init(&d);
	ck_assert_int_eq(journal_repair(j, &d), 0);
	ck_assert(!journal_degraded(j));
	ck_assert_str_eq(journal_error(j), "");
	ck_assert(!journal_file_has("fault 1 "));
	ck_assert(!journal_file_has("fault 2 "));
	j = reopen(j);
	ck_assert_uint_eq(journal_fault_count(j), 0);
	ck_assert(journal_clsact_created(j, 4));
	ck_assert(!journal_clsact_created(j, 6));
	journal_free(j);
	signal(SIGXFSZ, SIG_DFL);
}
END_TEST

/* A FIFO or a directory at journal.tmp: the write fails at once, naming it; after it is gone,
 * journal_repair writes the journal. */
START_TEST(test_tmp_not_regular)
{
	for (int kind = 0; kind < 2; kind++) {
		struct journal *j = reopen(NULL);
		struct journal_fault f = latency_fault(1, "10");
		char tmp[128];

		path_of(tmp, sizeof(tmp), "journal.tmp");
		ck_assert_int_eq(kind ? mkdir(tmp, 0700) : mkfifo(tmp, 0600), 0);
		alarm(5);
		ck_assert_int_lt(journal_fault_put(j, &f), 0); /* the first write rewrites */
		alarm(0);
		ck_assert_msg(strstr(journal_error(j), tmp) &&
				strstr(journal_error(j), kind ? "is a directory" : "is a FIFO"),
				"'%s'", journal_error(j));
		ck_assert_uint_eq(journal_fault_count(j), 0);
		ck_assert_int_eq(kind ? rmdir(tmp) : unlink(tmp), 0);
		ck_assert_int_eq(journal_fault_put(j, &f), 0);
		ck_assert(!journal_degraded(j));
		j = reopen(j);
		ck_assert_uint_eq(journal_fault_count(j), 1);
		ck_assert_int_eq(journal_fault_remove(j, 1), 0);
		journal_free(j);
	}
}
END_TEST

/* journal_open keeps a preallocated reserve next to the journal. */
START_TEST(test_reserve_created)
{
	struct journal *j = reopen(NULL);
	char path[128];
	struct stat st;

	path_of(path, sizeof(path), ".reserve");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, JOURNAL_RESERVE_BYTES);
	ck_assert_int_ge((long long)st.st_blocks * 512, JOURNAL_RESERVE_BYTES);
	ck_assert(!journal_degraded(j));
	/* gone behind its back: the next start puts it back */
	ck_assert_int_eq(unlink(path), 0);
	journal_free(j);
	j = reopen(NULL);
	ck_assert_int_eq(stat(path, &st), 0);
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
	tcase_add_test(tc, test_record_text_follows_changes);
	tcase_add_test(tc, test_lookup_any_order);
	tcase_add_test(tc, test_corrupt_refused);
	tcase_add_test(tc, test_no_temp_left);
	tcase_add_test(tc, test_appended_changes);
	tcase_add_test(tc, test_torn_append_ignored);
	tcase_add_test(tc, test_confirmation_survives_kill);
	tcase_add_test(tc, test_unusable_journal_file);
	tcase_add_test(tc, test_read_bounded);
	tcase_add_test(tc, test_corrupt_quarantine_salvage);
	tcase_add_test(tc, test_nul_byte_refused);
	tcase_add_test(tc, test_write_failure_reported);
	tcase_add_test(tc, test_tmp_not_regular);
	tcase_add_test(tc, test_reserve_created);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
