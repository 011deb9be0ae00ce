/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fileio.h"
#include "killswitch.h"
#include "timeutil.h"

#define KILL_HISTORY_SHOW 50
/* Far above what any number of latches (one per edge) takes. */
#define KILL_FILE_MAX     (1024 * 1024)
/* Enough for KILL_HISTORY_SHOW lines of at most 512 bytes. */
#define HISTORY_TAIL      (64 * 1024)

struct killswitch {
	sd_event *event;
	char *state_dir;
	struct killswitch_hooks hooks;
	struct kill_latch *latches;
	unsigned n;
};

int killswitch_new(sd_event *event, const char *state_dir, const struct killswitch_hooks *hooks,
		struct killswitch **ret)
{
	struct killswitch *ks = calloc(1, sizeof(*ks));

	if (!ks)
		return -ENOMEM;
	ks->state_dir = strdup(state_dir);
	if (!ks->state_dir) {
		free(ks);
		return -ENOMEM;
	}
	ks->event = sd_event_ref(event);
	if (hooks)
		ks->hooks = *hooks;
	*ret = ks;
	return 0;
}

struct killswitch *killswitch_free(struct killswitch *ks)
{
	if (!ks)
		return NULL;
	for (unsigned i = 0; i < ks->n; i++)
		sd_event_source_disable_unref(ks->latches[i].timer);
	free(ks->latches);
	free(ks->state_dir);
	sd_event_unref(ks->event);
	free(ks);
	return NULL;
}

unsigned killswitch_count(const struct killswitch *ks)
{
	return ks->n;
}

const struct kill_latch *killswitch_at(const struct killswitch *ks, unsigned i)
{
	return i < ks->n ? &ks->latches[i] : NULL;
}

static struct kill_latch *find_latch(const struct killswitch *ks, const char *edge)
{
	for (unsigned i = 0; i < ks->n; i++)
		if (streq(ks->latches[i].edge, edge ? edge : ""))
			return &ks->latches[i];
	return NULL;
}

const struct kill_latch *killswitch_find(const struct killswitch *ks, const char *edge)
{
	return find_latch(ks, edge);
}

int killswitch_check(const struct killswitch *ks, const char *edge, struct diag *d)
{
	const struct kill_latch *k = find_latch(ks, "");
	char when[64], until[64] = "";
	time_t t;
	struct tm tm;

	if (!k && edge && *edge)
		k = find_latch(ks, edge);
	if (!k)
		return 0;
	t = (time_t)(k->realtime_usec / USEC_PER_SEC);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
	if (k->until_realtime_usec) {
		t = (time_t)(k->until_realtime_usec / USEC_PER_SEC);
		strftime(until, sizeof(until), ", re-arms by itself at %H:%M:%S UTC",
				gmtime_r(&t, &tm));
	}
	return diag_add(d, -ECANCELED,
			"the kill switch is engaged%s%s%s (by uid %u at %s%s%s%s%s); nothing is "
			"injected until someone runs 'chaosctl arm'",
			k->edge[0] ? " for edge '" : "", k->edge, k->edge[0] ? "'" : "",
			(unsigned)k->uid, when, k->reason[0] ? ": '" : "", k->reason,
			k->reason[0] ? "'" : "", until);
}

/* Timers hold a pointer to their latch: re-point those from FIRST on, which moved. */
static void latches_repoint(struct killswitch *ks, unsigned first)
{
	for (unsigned k = first; k < ks->n; k++)
		if (ks->latches[k].timer)
			sd_event_source_set_userdata(ks->latches[k].timer, &ks->latches[k]);
}

static void latch_remove(struct killswitch *ks, unsigned i)
{
	sd_event_source_disable_unref(ks->latches[i].timer);
	memmove(&ks->latches[i], &ks->latches[i + 1], (ks->n - i - 1) * sizeof(*ks->latches));
	ks->n--;
	latches_repoint(ks, i);
}

/* The latch of EDGE ("": global), the one already there or a new, empty one. */
static struct kill_latch *latch_get(struct killswitch *ks, const char *edge)
{
	struct kill_latch *k = find_latch(ks, edge), *nl;

	if (k)
		return k;
	nl = reallocarray(ks->latches, ks->n + 1, sizeof(*nl));
	if (!nl)
		return NULL;
	ks->latches = nl;
	latches_repoint(ks, 0);
	k = &ks->latches[ks->n++];
	memset(k, 0, sizeof(*k));
	snprintf(k->edge, sizeof(k->edge), "%s", edge ? edge : "");
	k->owner = ks;
	return k;
}

/* TEXT as one field of a tab-separated line. */
static void field_copy(char *dst, size_t n, const char *text)
{
	snprintf(dst, n, "%s", text);
	for (char *c = dst; *c; c++)
		if (*c == '\t' || *c == '\n')
			*c = ' ';
}

static int fill_latches(FILE *f, const void *userdata)
{
	const struct killswitch *ks = userdata;

	for (unsigned i = 0; i < ks->n; i++) {
		const struct kill_latch *k = &ks->latches[i];
		char reason[sizeof(k->reason)];

		field_copy(reason, sizeof(reason), k->reason);
		fprintf(f, "%s\t%" PRIu64 "\t%" PRIu64 "\t%u\t%d\t%s\n", k->edge[0] ? k->edge : "*",
				k->realtime_usec, k->until_realtime_usec, (unsigned)k->uid, (int)k->pid,
				reason);
	}
	return ferror(f) ? -EIO : 0;
}

/* STATE_DIR/kill-switch, one line per latch, replaced atomically (temp, fsync, rename, fsync
 * dir) on each change; no latch, no file. */
int killswitch_save(struct killswitch *ks)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int dfd = -EBADF;
	struct stat st;
	int r;

	if (asprintf(&path, "%s/kill-switch", ks->state_dir) < 0)
		return -ENOMEM;
	if (ks->n == 0) {
		/* Only a file of ours goes: a directory there stays, and keeps saying "engaged"
		 * to the next start, which is the safe side. */
		if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
			return -EISDIR;
		r = unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
	} else {
		r = fileio_write_atomic(path, 0600, fill_latches, ks);
	}
	if (r < 0)
		return r;
	dfd = open(ks->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return negative_errno();
	return 0;
}

static int persist(struct killswitch *ks)
{
	char what[PATH_MAX + 64];
	int r = killswitch_save(ks);

	if (r >= 0)
		return 0;
	snprintf(what, sizeof(what), "the kill switch could not be saved to '%s/kill-switch'",
			ks->state_dir);
	log_error("%s: %s; a restart of chaosd would not know its state", what, strerror(-r));
	if (ks->hooks.unrecorded)
		ks->hooks.unrecorded(ks->hooks.userdata, r, what);
	return r;
}

static void changed(struct killswitch *ks)
{
	if (ks->hooks.changed)
		ks->hooks.changed(ks->hooks.userdata);
}

static int on_latch_expired(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct kill_latch *k = userdata;
	struct killswitch *ks = k->owner;

	log_notice("kill switch%s%s%s re-armed by itself: its time is up", k->edge[0] ? " for '" : "",
			k->edge, k->edge[0] ? "'" : "");
	audit_log(&(struct audit_event){ .action = "arm", .edge = k->edge, .params = "timed" });
	latch_remove(ks, (unsigned)(k - ks->latches));
	(void)persist(ks);
	changed(ks);
	return 0;
}

int killswitch_engage(struct killswitch *ks, const char *edge, const char *reason,
		uint64_t for_usec, uid_t uid, pid_t pid, const struct kill_latch **ret_latch)
{
	struct kill_latch *k = latch_get(ks, edge ? edge : "");

	if (!k)
		return -ENOMEM;
	k->uid = uid;
	k->pid = pid;
	k->realtime_usec = now_usec(CLOCK_REALTIME);
	k->until_realtime_usec = for_usec ? k->realtime_usec + for_usec : 0;
	snprintf(k->reason, sizeof(k->reason), "%s", reason ? reason : "");
	k->timer = sd_event_source_disable_unref(k->timer);
	if (for_usec)
		(void)sd_event_add_time_relative(ks->event, &k->timer, CLOCK_MONOTONIC, for_usec,
				USEC_PER_SEC / 20, on_latch_expired, k);
	*ret_latch = k;
	changed(ks);
	return persist(ks);
}

int killswitch_release(struct killswitch *ks, const char *edge, unsigned *ret_released)
{
	unsigned n = 0;
	int r = 0;

	for (unsigned i = ks->n; i-- > 0;) {
		if (edge && !streq(ks->latches[i].edge, edge))
			continue;
		latch_remove(ks, i);
		n++;
	}
	if (n) {
		r = persist(ks);
		changed(ks);
	}
	*ret_released = n;
	return r;
}

/* A line of STATE_DIR/kill-switch: EDGE|*, engaged at, until (0: until arm), uid, pid, reason. */
static int latch_parse(char *line, struct kill_latch *ret)
{
	char *fld[6], *save = NULL;
	uint64_t v[4];
	unsigned n = 0;

	for (char *t = strtok_r(line, "\t", &save); t && n < 6; t = strtok_r(NULL, "\t", &save))
		fld[n++] = t;
	if (n < 5 || strlen(fld[0]) >= sizeof(ret->edge))
		return -EBADMSG;
	for (unsigned i = 0; i < 4; i++)
		if (parse_u64_range(fld[1 + i], 0, i == 2 ? UINT32_MAX : i == 3 ? INT_MAX :
				UINT64_MAX, &v[i]) < 0)
			return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->edge, sizeof(ret->edge), "%s", streq(fld[0], "*") ? "" : fld[0]);
	ret->realtime_usec = v[0];
	ret->until_realtime_usec = v[1];
	ret->uid = (uid_t)v[2];
	ret->pid = (pid_t)v[3];
	snprintf(ret->reason, sizeof(ret->reason), "%s", n > 5 ? fld[5] : "");
	return 0;
}

int killswitch_load(struct killswitch *ks)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	uint64_t now = now_usec(CLOCK_REALTIME);
	unsigned lineno = 0;
	bool dirty = false;
	struct diag d;
	char *save = NULL;
	int r;

	if (asprintf(&path, "%s/kill-switch", ks->state_dir) < 0)
		return -ENOMEM;
	diag_init(&d);
	/* Never blocks (a FIFO there), never reads more than the bound. */
	r = fileio_read_bounded(path, KILL_FILE_MAX, &text, NULL, &d);
	if (r == -ENOENT)
		return 0;
	for (char *line = r >= 0 ? strtok_r(text, "\n", &save) : NULL; line;
			line = strtok_r(NULL, "\n", &save)) {
		struct kill_latch l, *k;

		lineno++;
		if (latch_parse(line, &l) < 0) {
			r = diag_add(&d, -EBADMSG, "%s:%u: not a kill switch record", path, lineno);
			break;
		}
		if (l.until_realtime_usec && l.until_realtime_usec <= now) {
			log_notice("kill switch%s%s%s re-armed: its time ran out while chaosd was "
					"down", l.edge[0] ? " for '" : "", l.edge, l.edge[0] ? "'" : "");
			audit_log(&(struct audit_event){ .action = "arm", .edge = l.edge,
					.params = "timed, while chaosd was down" });
			dirty = true;
			continue;
		}
		k = latch_get(ks, l.edge);
		if (!k)
			return -ENOMEM;
		l.owner = ks;
		*k = l;
		if (l.until_realtime_usec)
			(void)sd_event_add_time_relative(ks->event, &k->timer, CLOCK_MONOTONIC,
					l.until_realtime_usec - now, USEC_PER_SEC / 20, on_latch_expired, k);
		log_notice("kill switch%s%s%s is still engaged from before chaosd stopped (by uid "
				"%u%s%s%s)", l.edge[0] ? " for '" : "", l.edge, l.edge[0] ? "'" : "",
				(unsigned)l.uid, l.reason[0] ? ": '" : "", l.reason,
				l.reason[0] ? "'" : "");
	}
	if (r < 0) {
		struct kill_latch *k = latch_get(ks, "");

		if (!k)
			return -ENOMEM;
		k->realtime_usec = now;
		field_copy(k->reason, sizeof(k->reason), diag_text(&d));
		log_error("kill switch state unreadable (%s): engaging the kill switch until "
				"'chaosctl arm'", diag_text(&d));
		dirty = true;
	}
	if (dirty)
		(void)persist(ks);
	return 0;
}

int killswitch_history_append(struct killswitch *ks, const struct kill_latch *k,
		unsigned reverted, const char *result)
{
	_cleanup_free_ char *path = NULL, *line = NULL;
	_cleanup_close_ int fd = -EBADF;
	char reason[sizeof(k->reason)], what[PATH_MAX + 64];
	struct stat st;
	int len, r = 0;

	if (asprintf(&path, "%s/kill-history", ks->state_dir) < 0)
		return -ENOMEM;
	field_copy(reason, sizeof(reason), k->reason);
	len = asprintf(&line, "%" PRIu64 "\t%u\t%d\t%s\t%" PRIu64 "\t%u\t%s\t%s\n",
			k->realtime_usec, (unsigned)k->uid, (int)k->pid, k->edge[0] ? k->edge : "*",
			k->until_realtime_usec ? k->until_realtime_usec - k->realtime_usec : 0,
			reverted, result, reason);
	if (len < 0)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0)
		r = negative_errno();
	else if (fstat(fd, &st) < 0)
		r = negative_errno();
	else if (!S_ISREG(st.st_mode))
		r = -EBADFD;
	else if (write(fd, line, (size_t)len) != len)
		r = errno ? negative_errno() : -ENOSPC;
	if (r >= 0)
		return 0;
	snprintf(what, sizeof(what), "the kill switch's history could not be written to '%s'",
			path);
	log_error("%s: %s", what, strerror(-r));
	if (ks->hooks.unrecorded)
		ks->hooks.unrecorded(ks->hooks.userdata, r, what);
	return r;
}

int killswitch_put_history(struct killswitch *ks, struct proto_writer *w)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	_cleanup_close_ int fd = -EBADF;
	char *lines[KILL_HISTORY_SHOW], *save = NULL;
	unsigned n = 0;
	struct stat st;
	off_t off;
	ssize_t got;

	if (asprintf(&path, "%s/kill-history", ks->state_dir) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0; /* no history (yet), or nothing chaosd would read */
	/* Only its tail: the file grows by a line per activation. */
	off = st.st_size > HISTORY_TAIL ? st.st_size - HISTORY_TAIL : 0;
	text = malloc(HISTORY_TAIL + 1);
	if (!text)
		return -ENOMEM;
	got = pread(fd, text, HISTORY_TAIL, off);
	if (got < 0)
		return 0;
	text[got] = '\0';
	for (char *l = strtok_r(text + (off > 0 ? strcspn(text, "\n") : 0), "\n", &save); l;
			l = strtok_r(NULL, "\n", &save))
		lines[n++ % KILL_HISTORY_SHOW] = l;
	for (unsigned i = n > KILL_HISTORY_SHOW ? n - KILL_HISTORY_SHOW : 0; i < n; i++) {
		char *fld[8], *s2 = NULL, *l = lines[i % KILL_HISTORY_SHOW];
		unsigned k = 0;
		for (char *t = strtok_r(l, "\t", &s2); t && k < 8; t = strtok_r(NULL, "\t", &s2))
			fld[k++] = t;
		if (k < 7)
			continue;
		proto_record(w, "activation");
		proto_put(w, "time_us", fld[0]);
		proto_put(w, "uid", fld[1]);
		proto_put(w, "pid", fld[2]);
		proto_put(w, "edge", fld[3]);
		proto_put(w, "for_us", fld[4]);
		proto_put(w, "reverted", fld[5]);
		proto_put(w, "result", fld[6]);
		proto_put(w, "reason", k > 7 ? fld[7] : "");
	}
	return 0;
}
