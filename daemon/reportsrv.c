/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"
#include "reportsrv.h"

/* The newest report on disk (by mtime of its .json). */
static int latest_report(const char *dir_path, char *buf, size_t n)
{
	struct timespec best = {};
	struct dirent *de;
	DIR *dir = opendir(dir_path);
	bool found = false;

	if (!dir)
		return -ENOENT;
	while ((de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		struct stat st;

		if (len < 6 || !streq(de->d_name + len - 5, ".json") ||
				fstatat(dirfd(dir), de->d_name, &st, 0) < 0)
			continue;
		if (!found || st.st_mtim.tv_sec > best.tv_sec ||
				(st.st_mtim.tv_sec == best.tv_sec &&
						st.st_mtim.tv_nsec > best.tv_nsec)) {
			best = st.st_mtim;
			snprintf(buf, n, "%.*s", (int)(len - 5), de->d_name);
			found = true;
		}
	}
	closedir(dir);
	return found ? 0 : -ENOENT;
}

static bool id_valid(const char *id)
{
	if (!id[0] || strlen(id) > REPORT_ID_MAX || id[0] == '.')
		return false;
	for (const char *c = id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
				    (*c >= '0' && *c <= '9') || strchr("._-", *c)))
			return false;
	return true;
}

static void put_chunks(struct proto_writer *w, const char *data, size_t len)
{
	for (size_t off = 0; off < len; off += PROTO_MAX_VALUE - 1) {
		char chunk[PROTO_MAX_VALUE];
		size_t k = MIN(len - off, (size_t)PROTO_MAX_VALUE - 1);

		memcpy(chunk, data + off, k);
		chunk[k] = '\0';
		proto_put(w, "data", chunk);
	}
}

int reportsrv_check(const char *id, const char *format, struct diag *d)
{
	if (!streq(format, "text") && !streq(format, "json") && !streq(format, "html"))
		return diag_add(d, -EINVAL, "unknown report format '%s' (allowed: text, json, "
				"html)", format);
	if (id && !id_valid(id))
		return diag_add(d, -EINVAL, "'%s' is not a run id", id);
	return 0;
}

int reportsrv_put_live(const struct report *rep, const char *format, struct proto_writer *w,
		struct diag *d)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	FILE *f;
	int k;

	f = open_memstream(&data, &len);
	if (!f)
		return -ENOMEM;
	k = streq(format, "json") ? report_write_json(rep, f) :
	    streq(format, "html") ? report_write_html(rep, f) :
				    report_write_text(rep, f);
	fclose(f);
	if (k < 0)
		return diag_add(d, k, "cannot render the report: %s", strerror(-k));
	proto_put(w, "id", rep->id);
	put_chunks(w, data, len);
	return 0;
}

int reportsrv_put_saved(const char *dir, const char *id, const char *format,
		struct proto_writer *w, struct diag *d)
{
	_cleanup_free_ char *data = NULL;
	char latest[REPORT_ID_MAX + 1], path[512];
	size_t len = 0;
	int k;

	if (!id) {
		if (latest_report(dir, latest, sizeof(latest)) < 0)
			return diag_add(d, -ENOENT, "no reports in %s yet", dir);
		id = latest;
	}
	snprintf(path, sizeof(path), "%s/%s.%s", dir, id, streq(format, "text") ? "txt" : format);
	/* A read-only client asks for it: never a FIFO or a device, never more than a reply. */
	k = fileio_read_bounded(path, PROTO_MAX_REPLY / 2 - 1, &data, &len, d);
	if (k == -ENOENT)
		return diag_add(d, -ENOENT, "no report '%s' (in %s)", id, dir);
	if (k < 0)
		return k;
	for (size_t i = 0; i < len; i++)
		if (!data[i])
			data[i] = ' ';
	proto_put(w, "id", id);
	put_chunks(w, data, len);
	return 0;
}
