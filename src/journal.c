/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <net/if.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "fileio.h"
#include "journal.h"
#include "parse.h"

#define JOURNAL_MAGIC "chaosd-journal 1"

_Static_assert(sizeof(((struct journal_iface *)0)->ifname) == IF_NAMESIZE, "ifname size");

struct journal {
	char *dir;
	char *path;
	char *reserve;   /* STATE_DIR/.reserve */
	int lock_fd;
	int log_fd;      /* the journal opened for appending, -EBADF until the first save */
	off_t log_size;  /* where the last complete record ends: a torn append is cut back to it */
	unsigned n_recs; /* records in the file (superseded ones included) */
	bool stale;      /* a write failed: the disk may be behind memory */
	bool reserve_ok;
	struct diag err; /* the last failed write */
	struct journal_iface *clsact;
	unsigned n_clsact;
	struct journal_fault *faults; /* sorted by id */
	unsigned n_faults, cap_faults;
	uint64_t max_id;
	/* The last fault record formatted: a request's confirmation is its intent's text with
	 * the state word changed, not formatted anew (vfprintf is a fifth of an inject's
	 * instructions, and the emulator multiplies them). */
	struct journal_fault last;
	char *last_text;
	size_t last_len, last_state; /* last_state: where the state word starts */
};

#define STATE_PENDING "pending"
#define STATE_APPLIED "applied"
_Static_assert(sizeof(STATE_PENDING) == sizeof(STATE_APPLIED), "state words of one length");

struct journal *journal_free(struct journal *j)
{
	if (!j)
		return NULL;
	safe_close(j->lock_fd);
	safe_close(j->log_fd);
	free(j->dir);
	free(j->path);
	free(j->reserve);
	free(j->clsact);
	free(j->faults);
	free(j->last_text);
	free(j);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct journal *, journal_free);

struct param_buf {
	FILE *f;
};

static int write_param(const char *key, const char *value, void *userdata)
{
	struct param_buf *p = userdata;

	/* Values from the fault table never hold blanks; refuse rather than write a line that
	 * cannot be read back. */
	if (strpbrk(value, " \t\n"))
		return -EINVAL;
	fputc(' ', p->f);
	fputs(key, p->f);
	fputc('=', p->f);
	fputs(value, p->f);
	return 0;
}

/* v and a blank: a record is written on every inject and revert, where vfprintf() cost more
 * than the rest of the record. */
static void put_u64(FILE *f, uint64_t v)
{
	char digits[24], *end = digits + sizeof(digits) - 2;

	end[0] = ' ';
	end[1] = '\0';
	fputs(parse_digits_before(end, v, 10), f);
}

/* ret_state: where the state word starts (NULL: not wanted) */
static int write_fault(FILE *f, const struct journal_fault *jf, long *ret_state)
{
	const char *kind = fault_kind_to_string(jf->fault.kind);
	struct param_buf p = { f };
	int r;

	if (!kind)
		return -EINVAL;
	fputs("fault ", f);
	put_u64(f, jf->id);
	put_u64(f, jf->created_realtime_usec);
	put_u64(f, jf->deadline_realtime_usec);
	put_u64(f, (unsigned)jf->uid);
	fputs(jf->edge, f);
	fputc(' ', f);
	fputs(kind, f);
	fputc(' ', f);
	if (ret_state)
		*ret_state = ftell(f);
	fputs(jf->applied ? STATE_APPLIED : STATE_PENDING, f);
	r = fault_foreach_param(&jf->fault, write_param, &p);
	if (jf->run[0]) {
		fputs(" run=", f);
		fputs(jf->run, f);
	}
	fputc('\n', f);
	return r;
}

static int write_journal(FILE *f, const void *userdata)
{
	const struct journal *j = userdata;
	int r = 0;

	fprintf(f, "%s\n", JOURNAL_MAGIC);
	for (unsigned i = 0; i < j->n_clsact; i++)
		fprintf(f, "clsact %d %s\n", j->clsact[i].ifindex, j->clsact[i].ifname);
	for (unsigned i = 0; i < j->n_faults && r >= 0; i++)
		r = write_fault(f, &j->faults[i], NULL);
	return r;
}

/* The compact form: the whole journal written anew and renamed over the old one (rename() is
 * the only way to replace it atomically), then reopened for appending. */
static int journal_save(struct journal *j)
{
	struct stat st;
	int r;

	r = fileio_write_atomic_diag(j->path, 0600, write_journal, j, &j->err);
	if (r < 0)
		return r;
	j->n_recs = 1 + j->n_clsact + j->n_faults;
	j->log_fd = safe_close(j->log_fd);
	/* The rename itself must be on disk before we touch the kernel. */
	r = fileio_fsync_dir(j->dir, &j->err);
	if (r < 0) {
		j->stale = true; /* renamed: the file has this change, which the caller undoes */
		return r;
	}
	j->stale = false;
	/* O_NONBLOCK: whatever is there now, opening it must not wait for a reader. */
	j->log_fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (j->log_fd < 0 || fstat(j->log_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		j->log_fd = safe_close(j->log_fd);
		return 0; /* the file is right; the next change saves again */
	}
	j->log_size = st.st_size;
	return 0;
}

/* One try at writing a change: appended (text NULL: the whole journal saved; compact: when
 * superseded records pile up). */
static int write_once(struct journal *j, const char *text, size_t len, unsigned n_recs, bool sync,
		bool compact)
{
	size_t done = 0;
	ssize_t n = 0;
	bool synced = false;
	int r;

	if (!text || j->stale || j->log_fd < 0 ||
			(compact && j->n_recs + n_recs > 2 * (1 + j->n_clsact + j->n_faults) + 64))
		return journal_save(j);
	/* Durable in one system call (RWF_DSYNC: the write with fdatasync's effect). Anything
	 * else (an old kernel, a short write, an error) goes on with write() and fdatasync. */
	if (sync && len > 0) {
		struct iovec iov = { .iov_base = (void *)text, .iov_len = len };

		n = pwritev2(j->log_fd, &iov, 1, -1, RWF_DSYNC);
		if (n > 0)
			done = (size_t)n;
		synced = done == len;
	}
	/* a short write is continued: the next write() says why it stopped */
	while (done < len && (n = write(j->log_fd, text + done, len - done)) > 0)
		done += (size_t)n;
	/* fdatasync: an append changes the size, which it writes too; only the times, which
	 * nothing reads back, stay unflushed (on ext4 a journal commit less per request). */
	if (done == len && (!sync || synced || fdatasync(j->log_fd) == 0)) {
		j->n_recs += n_recs;
		j->log_size += (off_t)len;
		return 0;
	}
	r = n == 0 ? -EIO : negative_errno();
	diag_add(&j->err, r, "cannot %s '%s' (%zu of %zu bytes written): %s",
			done < len ? "append to" : "fdatasync", j->path, done, len, strerror(-r));
	/* Cut the torn record off, so nothing is ever appended to half a line. */
	if (ftruncate(j->log_fd, j->log_size) < 0)
		j->stale = true;
	/* A full disk: a rewrite would need more space than the append did. */
	if (r == -ENOSPC && !j->stale)
		return r;
	/* Anything else: the whole journal anew (a fresh file may get blocks the failed write
	 * could not; after a failed fsync the page cache cannot be trusted). */
	j->stale = true;
	return journal_save(j);
}

/* A change as records appended to the journal (one write, one fsync): each change costs its
 * own size, not the journal's. A record cut short by a crash has no newline and is not read;
 * the change it described was not made (the kernel is touched only after the fsync). When the
 * file holds more superseded records than live ones, it is compacted instead. sync = false:
 * the write alone, for a record that must outlive chaosd (a killed process's writes are in the
 * page cache) but not the kernel: see journal_fault_put. removal: on ENOSPC the space reserve
 * goes and the append is tried once more: a revert or the kill switch must be written down,
 * while an addition on a full disk is refused and leaves the reserve for them. */
static int journal_write(struct journal *j, const char *text, size_t len, unsigned n_recs,
		bool sync, bool removal)
{
	int r;

	diag_init(&j->err);
	r = write_once(j, text, len, n_recs, sync, true);
	if (r == -ENOSPC && removal && fileio_reserve_release(j->reserve)) {
		j->reserve_ok = false;
		diag_init(&j->err);
		r = write_once(j, text, len, n_recs, sync, false);
	}
	if (r < 0) {
		/* An addition is rolled back by the caller: the file, cut back or untouched, is
		 * what memory says unless a rewrite was under way. A removal stays in memory. */
		if (removal)
			j->stale = true;
		if (j->err.count == 0)
			diag_add(&j->err, r, "cannot write '%s': %s", j->path, strerror(-r));
		return r;
	}
	diag_init(&j->err);
	return 0;
}

static int journal_appendf(struct journal *j, bool removal, const char *fmt, ...) _printf_(3, 4);
static int journal_appendf(struct journal *j, bool removal, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return journal_write(j, NULL, 0, 0, true, removal);
	return journal_write(j, buf, (size_t)n, 1, true, removal);
}

static int parse_fault_line(char *line, struct journal_fault *ret, struct diag *d,
		const char *path, unsigned lineno)
{
	struct journal_fault jf = {};
	char *save = NULL, *tok;
	char *fields[7];
	unsigned u;
	enum fault_kind kind;
	uint64_t v;

	for (unsigned i = 0; i < ELEMENTSOF(fields); i++) {
		fields[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
		if (!fields[i])
			return diag_add(d, -EBADMSG, "%s:%u: truncated fault record", path, lineno);
	}
	if (parse_u64_range(fields[0], 1, UINT64_MAX, &jf.id) < 0 ||
			parse_u64_range(fields[1], 0, UINT64_MAX, &jf.created_realtime_usec) < 0 ||
			parse_u64_range(fields[2], 0, UINT64_MAX, &jf.deadline_realtime_usec) < 0 ||
			parse_u64_range(fields[3], 0, UINT32_MAX, &v) < 0)
		return diag_add(d, -EBADMSG, "%s:%u: bad number in fault record", path, lineno);
	u = (unsigned)v;
	jf.uid = (uid_t)u;
	if (strlen(fields[4]) >= sizeof(jf.edge))
		return diag_add(d, -EBADMSG, "%s:%u: edge name too long", path, lineno);
	strcpy(jf.edge, fields[4]);
	if (fault_kind_from_string(fields[5], &kind) < 0)
		return diag_add(d, -EBADMSG, "%s:%u: unknown fault kind '%s'", path, lineno,
				fields[5]);
	if (streq(fields[6], "applied"))
		jf.applied = true;
	else if (!streq(fields[6], "pending"))
		return diag_add(d, -EBADMSG, "%s:%u: unknown fault state '%s'", path, lineno,
				fields[6]);
	fault_init(&jf.fault, kind);
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *eq = strchr(tok, '=');
		int r;

		if (!eq)
			return diag_add(d, -EBADMSG, "%s:%u: bad parameter '%s'", path, lineno, tok);
		*eq = '\0';
		if (streq(tok, "run")) {
			snprintf(jf.run, sizeof(jf.run), "%s", eq + 1);
			continue;
		}
		r = fault_set(&jf.fault, tok, eq + 1, d);
		if (r < 0)
			return diag_add(d, -EBADMSG, "%s:%u: in fault record", path, lineno);
	}
	*ret = jf;
	return 0;
}

static int find_clsact(const struct journal *j, int ifindex)
{
	for (unsigned i = 0; i < j->n_clsact; i++)
		if (j->clsact[i].ifindex == ifindex)
			return (int)i;
	return -1;
}

/* The in-memory side of each change; the callers write it down. */
static int clsact_put(struct journal *j, int ifindex, const char *ifname)
{
	struct journal_iface *n;

	if (find_clsact(j, ifindex) >= 0)
		return 0;
	n = reallocarray(j->clsact, j->n_clsact + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	j->clsact = n;
	n[j->n_clsact].ifindex = ifindex;
	snprintf(n[j->n_clsact].ifname, sizeof(n[j->n_clsact].ifname), "%s",
			ifname && *ifname ? ifname : "-");
	j->n_clsact++;
	return 1;
}

static bool clsact_drop(struct journal *j, int ifindex)
{
	int i = find_clsact(j, ifindex);

	if (i < 0)
		return false;
	j->clsact[i] = j->clsact[--j->n_clsact];
	return true;
}

/* Faults are kept sorted by id, and a new fault has the largest id so far, so adding one
 * appends: every request looks its fault up twice (intent, then confirmation), and a binary
 * search keeps that cheap with 1000 faults. */
static unsigned fault_index(const struct journal *j, uint64_t id)
{
	unsigned lo = 0, hi = j->n_faults;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (j->faults[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int fault_put(struct journal *j, const struct journal_fault *f)
{
	unsigned i = fault_index(j, f->id);

	if (i < j->n_faults && j->faults[i].id == f->id) {
		j->faults[i] = *f;
		return 0;
	}
	if (j->n_faults == j->cap_faults) {
		unsigned cap = j->cap_faults ? 2 * j->cap_faults : 16;
		struct journal_fault *n = reallocarray(j->faults, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		j->faults = n;
		j->cap_faults = cap;
	}
	memmove(&j->faults[i + 1], &j->faults[i], (j->n_faults - i) * sizeof(*j->faults));
	j->faults[i] = *f;
	j->n_faults++;
	j->max_id = MAX(j->max_id, f->id);
	return 0;
}

static bool fault_drop(struct journal *j, uint64_t id)
{
	unsigned i = fault_index(j, id);

	if (i == j->n_faults || j->faults[i].id != id)
		return false;
	memmove(&j->faults[i], &j->faults[i + 1], (j->n_faults - i - 1) * sizeof(*j->faults));
	j->n_faults--;
	return true;
}

/* One complete record (NUL-terminated, no newline) applied to j. */
static int load_record(struct journal *j, char *line, unsigned lineno, struct diag *d)
{
	int r;

	if (strncmp(line, "clsact ", 7) == 0) {
		int ifindex;
		char name[IF_NAMESIZE] = "";
		if (sscanf(line + 7, "%d %15s", &ifindex, name) != 2 || ifindex <= 0)
			return diag_add(d, -EBADMSG, "%s:%u: bad clsact record", j->path, lineno);
		r = clsact_put(j, ifindex, name);
		return r < 0 ? r : 0;
	}
	if (strncmp(line, "fault ", 6) == 0) {
		struct journal_fault jf;
		r = parse_fault_line(line + 6, &jf, d, j->path, lineno);
		return r < 0 ? r : fault_put(j, &jf);
	}
	if (strncmp(line, "drop-clsact ", 12) == 0 || strncmp(line, "drop-fault ", 11) == 0) {
		bool fault = line[5] == 'f';
		uint64_t v;
		if (parse_u64_range(strchr(line, ' ') + 1, 1, fault ? UINT64_MAX : INT_MAX, &v) < 0)
			return diag_add(d, -EBADMSG, "%s:%u: bad drop record", j->path, lineno);
		if (fault)
			fault_drop(j, v);
		else
			clsact_drop(j, (int)v);
		return 0;
	}
	if (line[0] != '\0')
		return diag_add(d, -EBADMSG, "%s:%u: unknown record", j->path, lineno);
	return 0;
}

/* Read the journal at j->path into j. lenient: a record that does not parse is skipped, not
 * an error (the salvage of a corrupt journal). */
static int journal_load(struct journal *j, bool lenient, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	struct diag *ld = lenient ? NULL : d; /* a skipped record is not an error */
	unsigned lineno = 0;
	size_t len;
	char *p;
	int r;

	r = fileio_read_bounded(j->path, JOURNAL_MAX_BYTES, &buf, &len, d);
	if (r == -ENOENT)
		return 0;
	if (r == -EISDIR || r == -EINVAL || r == -EFBIG)
		return -EBADMSG; /* not ours to read: quarantine it (d says what it is) */
	if (r < 0)
		return r;
	for (p = buf; p < buf + len;) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		lineno++;
		if (!nl && lineno > 1)
			break; /* an append a crash cut short: its change was never made */
		if (nl)
			*nl = '\0';
		if (strlen(p) != (size_t)((nl ? nl : buf + len) - p))
			r = diag_add(ld, -EBADMSG, "%s:%u: NUL byte in record", j->path, lineno);
		else if (lineno == 1)
			r = streq(p, JOURNAL_MAGIC) ? 0 :
				diag_add(d, -EBADMSG, "%s:1: not a chaosd journal", j->path);
		else
			r = load_record(j, p, lineno, ld);
		if (r < 0 && (!lenient || r == -ENOMEM || lineno == 1))
			return r;
		j->n_recs++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

/* One owner per state directory: a second daemon (or --cleanup behind a live one) would remove
 * objects the first still believes it has. Returns the lock's fd. */
static int lock_state_dir(const char *state_dir, struct diag *d)
{
	_cleanup_free_ char *lock = NULL;
	_cleanup_close_ int fd = -EBADF;

	if (asprintf(&lock, "%s/lock", state_dir) < 0)
		return -ENOMEM;
	/* read-only: flock needs no more, and a read-only state directory can still be read */
	fd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600);
	if (fd < 0)
		return diag_add(d, negative_errno(), "cannot open '%s': %m", lock);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return diag_add(d, errno == EWOULDBLOCK ? -EBUSY : negative_errno(),
				"'%s' is in use by another chaosd (stop it first)", state_dir);
	return TAKE_FD(fd);
}

int journal_open(const char *state_dir, struct journal **ret, struct diag *d)
{
	_cleanup_(journal_freep) struct journal *j = NULL;
	int r;

	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return diag_add(d, negative_errno(), "cannot create state directory '%s': %m",
				state_dir);
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->lock_fd = j->log_fd = -EBADF;
	diag_init(&j->err);
	j->dir = strdup(state_dir);
	if (!j->dir || asprintf(&j->path, "%s/journal", state_dir) < 0 ||
			asprintf(&j->reserve, "%s/.reserve", state_dir) < 0)
		return -ENOMEM;
	r = lock_state_dir(state_dir, d);
	if (r < 0)
		return r;
	j->lock_fd = r;
	r = journal_load(j, false, d);
	if (r < 0)
		return r;
	/* no reserve is no reason not to start: journal_degraded() says so */
	j->reserve_ok = fileio_reserve(j->reserve, JOURNAL_RESERVE_BYTES, NULL) >= 0;
	*ret = TAKE_PTR(j);
	return 0;
}

int journal_clsact_add(struct journal *j, int ifindex, const char *ifname)
{
	int r = clsact_put(j, ifindex, ifname);

	if (r <= 0)
		return r;
	r = journal_appendf(j, false, "clsact %d %s\n", ifindex, j->clsact[j->n_clsact - 1].ifname);
	if (r < 0)
		clsact_drop(j, ifindex); /* not recorded: the caller must not create it */
	return r;
}

int journal_clsact_remove(struct journal *j, int ifindex)
{
	if (!clsact_drop(j, ifindex))
		return 0;
	return journal_appendf(j, true, "drop-clsact %d\n", ifindex);
}

bool journal_clsact_created(const struct journal *j, int ifindex)
{
	return j && find_clsact(j, ifindex) >= 0;
}

unsigned journal_clsact_count(const struct journal *j)
{
	return j ? j->n_clsact : 0;
}

/* The same record but maybe for its state: a false "no" only costs a formatting. */
static bool same_but_state(const struct journal_fault *a, const struct journal_fault *b)
{
	return a->id == b->id && a->created_realtime_usec == b->created_realtime_usec &&
			a->deadline_realtime_usec == b->deadline_realtime_usec && a->uid == b->uid &&
			streq(a->edge, b->edge) && streq(a->run, b->run) &&
			memcmp(&a->fault, &b->fault, sizeof(a->fault)) == 0;
}

/* The record's line, from the last one's text where only the state differs: in j->last_text,
 * valid until the next call. */
static int format_fault(struct journal *j, const struct journal_fault *f, const char **ret,
		size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	long state = -1;
	FILE *m;
	int r;

	if (!j->last_text || !same_but_state(&j->last, f)) {
		m = open_memstream(&buf, &len);
		if (!m)
			return -ENOMEM;
		r = write_fault(m, f, &state);
		if (fclose(m) != 0 || r < 0)
			return r < 0 ? r : -ENOMEM;
		if (state < 0 || (size_t)state + strlen(STATE_PENDING) > len)
			return -EIO;
		free(j->last_text);
		j->last_text = TAKE_PTR(buf);
		j->last_len = len;
		j->last_state = (size_t)state;
		j->last = *f;
	}
	memcpy(j->last_text + j->last_state, f->applied ? STATE_APPLIED : STATE_PENDING,
			strlen(STATE_PENDING));
	j->last.applied = f->applied;
	*ret = j->last_text;
	*ret_len = j->last_len;
	return 0;
}

int journal_fault_put(struct journal *j, const struct journal_fault *f)
{
	const char *buf;
	struct journal_fault old;
	unsigned i = fault_index(j, f->id);
	bool had = i < j->n_faults && j->faults[i].id == f->id;
	size_t len = 0;
	int r;

	if (had)
		old = j->faults[i];
	r = format_fault(j, f, &buf, &len);
	if (r < 0)
		return r;
	r = fault_put(j, f);
	if (r < 0)
		return r;
	/* The intent must be on disk before the kernel is touched. The confirmation only has to
	 * outlive chaosd: a power loss or kernel crash that could take it also takes every tc
	 * object it confirms, and the fault then stays reverted (adopt_faults), the safe side.
	 * So a request costs one fsync. */
	r = journal_write(j, buf, len, 1, !f->applied, false);
	if (r < 0) {
		/* as before the call; max_id stays, so the id is not handed out twice */
		if (had)
			j->faults[fault_index(j, f->id)] = old;
		else
			fault_drop(j, f->id);
	}
	return r;
}

int journal_fault_remove(struct journal *j, uint64_t id)
{
	if (!fault_drop(j, id))
		return 0;
	return journal_appendf(j, true, "drop-fault %" PRIu64 "\n", id);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int journal_fault_remove_many(struct journal *j, const uint64_t *ids, unsigned n)
{
	_cleanup_free_ uint64_t *sorted = NULL;
	_cleanup_free_ char *buf = NULL;
	unsigned kept = 0, dropped = 0;
	size_t len = 0;
	FILE *m;

	if (n == 0)
		return 0;
	sorted = reallocarray(NULL, n, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	m = open_memstream(&buf, &len);
	/* one pass over the faults, one write and one fsync for all of them */
	for (unsigned i = 0; i < j->n_faults; i++) {
		if (!bsearch(&j->faults[i].id, sorted, n, sizeof(*sorted), cmp_u64)) {
			j->faults[kept++] = j->faults[i];
			continue;
		}
		dropped++;
		if (m)
			fprintf(m, "drop-fault %" PRIu64 "\n", j->faults[i].id);
	}
	j->n_faults = kept;
	if (!m || fclose(m) != 0)
		return journal_write(j, NULL, 0, 0, true, true);
	return dropped ? journal_write(j, buf, len, dropped, true, true) : 0;
}

unsigned journal_fault_count(const struct journal *j)
{
	return j->n_faults;
}

const struct journal_fault *journal_fault_at(const struct journal *j, unsigned i)
{
	return i < j->n_faults ? &j->faults[i] : NULL;
}

uint64_t journal_next_id(const struct journal *j)
{
	return j->max_id + 1;
}

const char *journal_error(const struct journal *j)
{
	return diag_text(&j->err);
}

bool journal_degraded(const struct journal *j)
{
	return j->stale || !j->reserve_ok;
}

int journal_repair(struct journal *j, struct diag *d)
{
	int r;

	if (j->stale) {
		r = journal_write(j, NULL, 0, 0, true, true);
		if (r < 0)
			return diag_add(d, r, "%s", journal_error(j));
	}
	if (!j->reserve_ok) {
		r = fileio_reserve(j->reserve, JOURNAL_RESERVE_BYTES, d);
		if (r < 0)
			return r;
		j->reserve_ok = true;
	}
	return 0;
}

int journal_quarantine(const char *state_dir, char *ret_name, size_t n, struct diag *d)
{
	_cleanup_close_ int lock = -EBADF, dfd = -EBADF;
	char stamp[32], name[64];
	struct tm tm;
	time_t now = time(NULL);
	int r;

	lock = lock_state_dir(state_dir, d);
	if (lock < 0)
		return lock;
	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return diag_add(d, negative_errno(), "cannot open directory '%s': %m", state_dir);
	if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
		return diag_add(d, -EINVAL, "cannot format the time for a quarantine name");
	for (unsigned k = 1;; k++) {
		if (k == 1)
			snprintf(name, sizeof(name), "journal.corrupt-%s", stamp);
		else
			snprintf(name, sizeof(name), "journal.corrupt-%s-%u", stamp, k);
		if ((size_t)snprintf(ret_name, n, "%s/%s", state_dir, name) >= n)
			return diag_add(d, -ENAMETOOLONG,
					"'%s/%s': longer than the %zu bytes given", state_dir, name,
					n);
		/* never over an earlier quarantine: each may be what someone needs to debug */
		if (renameat2(dfd, "journal", dfd, name, RENAME_NOREPLACE) == 0)
			break;
		r = negative_errno();
		if (r == -ENOENT)
			return r;
		if (r != -EEXIST || k >= 1000)
			return diag_add(d, r, "cannot rename '%s/journal' to '%s': %s", state_dir,
					ret_name, strerror(-r));
	}
	if (fsync(dfd) < 0)
		return diag_add(d, negative_errno(), "cannot fsync directory '%s': %m", state_dir);
	return 0;
}

int journal_salvage_clsact(const char *path, struct journal_iface **ret, unsigned *ret_n,
		struct diag *d)
{
	struct journal j = { .lock_fd = -EBADF, .log_fd = -EBADF, .path = (char *)path };
	int r;

	r = journal_load(&j, true, d);
	free(j.faults);
	if (r < 0) {
		free(j.clsact);
		return r;
	}
	*ret = j.clsact;
	*ret_n = j.n_clsact;
	return 0;
}
