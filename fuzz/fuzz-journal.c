/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the state journal's reader. Input: the bytes of STATE_DIR/journal.
 * journal_open either refuses it (-EBADMSG with a diag line, nothing else) or reads it; what it
 * read must be sorted by id, and written back whole (the first change after an open rewrites
 * the journal) and read again it must give the same journal. The lenient salvage reader must
 * not crash on anything and finds at most the interfaces a clean read would. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_INPUT_MAX 65536
#define FUZZ_IFINDEX 2147483000 /* an interface no input is likely to name */

static char dir[64], path[96];

/* the state directory goes when the fuzzer or the replay exits */
static void remove_dir(void)
{
	static const char *const names[] = { "journal", "journal.tmp", "lock", ".reserve" };
	char p[128];

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		(void)unlink(p);
	}
	(void)rmdir(dir);
}

static void write_input(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
}

static struct journal *open_or_null(int *ret)
{
	struct journal *j = NULL;
	struct diag d;

	diag_init(&d);
	*ret = journal_open(dir, &j, &d);
	if (*ret < 0 && (*ret != -EBADMSG || d.count == 0 || j))
		abort(); /* a bad journal is -EBADMSG, said why, and opens nothing */
	return j;
}

static bool same_faults(const struct journal_fault *a, unsigned n, const struct journal *b)
{
	if (journal_fault_count(b) != n)
		return false;
	for (unsigned i = 0; i < n; i++) {
		const struct journal_fault *x = &a[i], *y = journal_fault_at(b, i);
		if (x->id != y->id || x->applied != y->applied || x->uid != y->uid ||
				x->deadline_realtime_usec != y->deadline_realtime_usec ||
				x->created_realtime_usec != y->created_realtime_usec ||
				strcmp(x->edge, y->edge) != 0 || strcmp(x->run, y->run) != 0 ||
				x->fault.kind != y->fault.kind ||
				x->fault.set_mask != y->fault.set_mask)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal_iface *ifs = NULL;
	struct journal_fault *faults;
	unsigned n_ifs = 0, n, n_clsact;
	struct journal *j;
	struct diag d;
	int r;

	if (size > FUZZ_INPUT_MAX)
		return 0;
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/chaosd-fuzz-journal-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/journal", dir);
		atexit(remove_dir);
	}
	write_input(data, size);
	diag_init(&d);
	if (journal_salvage_clsact(path, &ifs, &n_ifs, &d) < 0 && (ifs || n_ifs))
		abort();
	free(ifs);

	j = open_or_null(&r);
	if (!j)
		return 0;
	n = journal_fault_count(j);
	n_clsact = journal_clsact_count(j);
	if (n_clsact != n_ifs)
		abort(); /* a clean journal: the salvage finds what the reader does */
	faults = calloc(n + 1, sizeof(*faults));
	if (!faults)
		abort();
	for (unsigned i = 0; i < n; i++) {
		faults[i] = *journal_fault_at(j, i);
		if (i > 0 && faults[i - 1].id >= faults[i].id)
			abort(); /* sorted by id, each once */
	}
	/* the first change after an open rewrites the whole journal: read that back */
	if (!journal_clsact_created(j, FUZZ_IFINDEX) &&
			(journal_clsact_add(j, FUZZ_IFINDEX, "fz") < 0 ||
					journal_clsact_remove(j, FUZZ_IFINDEX) < 0))
		abort();
	journal_free(j); /* the lock goes with it */
	j = open_or_null(&r);
	if (!j || !same_faults(faults, n, j) || journal_clsact_count(j) != n_clsact)
		abort(); /* what chaosd wrote, chaosd must read as it was */
	journal_free(j);
	free(faults);
	return 0;
}
