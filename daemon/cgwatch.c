/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cgwatch.h"
#include "edge-scope.h"
#include "macro.h"

struct watched {
	char *path;
	const char *base; /* last component of path */
	int wd;
	int r;            /* last reported: >= 0 exists, else the error */
	uint64_t id;
};

struct cgwatch {
	char *root;
	int fd;
	sd_event_source *src;
	cgwatch_fn fn;
	void *userdata;
	struct watched *w;
	unsigned n;
};

struct cgwatch *cgwatch_free(struct cgwatch *w)
{
	if (!w)
		return NULL;
	sd_event_source_disable_unref(w->src);
	if (w->fd >= 0)
		close(w->fd);
	for (unsigned i = 0; i < w->n; i++)
		free(w->w[i].path);
	free(w->w);
	free(w->root);
	free(w);
	return NULL;
}

/* Look again at one cgroup; report it if it changed. */
static void recheck(struct cgwatch *w, struct watched *x)
{
	uint64_t id = 0;
	unsigned level = 0;
	int r = edge_cgroup_id(w->root, x->path, &id, &level);

	if (r == x->r && (r < 0 || id == x->id))
		return;
	x->r = r;
	x->id = id;
	w->fn(w->userdata, x->path, r, id, level);
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct cgwatch *w = userdata;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)s;
	(void)revents;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			/* Reports can alias (several paths under one parent, a cgroup gone and made
			 * again between reads): look at the cgroup itself rather than trust the
			 * event's kind. */
			for (unsigned i = 0; i < w->n; i++)
				if ((ev->mask & IN_Q_OVERFLOW) ||
						(w->w[i].wd == ev->wd &&
						 (ev->len == 0 || streq(ev->name, w->w[i].base))))
					recheck(w, &w->w[i]);
		}
	}
	return 0;
}

int cgwatch_new(sd_event *ev, const char *root, cgwatch_fn fn, void *userdata,
		struct cgwatch **ret)
{
	struct cgwatch *w;
	int r;

	if (!ev || !root || !fn)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->userdata = userdata;
	w->root = strdup(root);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (!w->root || w->fd < 0) {
		r = w->root ? -errno : -ENOMEM;
		cgwatch_free(w);
		return r;
	}
	r = sd_event_add_io(ev, &w->src, w->fd, EPOLLIN, on_inotify, w);
	if (r < 0) {
		cgwatch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int cgwatch_add(struct cgwatch *w, const char *path, uint64_t *ret_id, unsigned *ret_level)
{
	char parent[PATH_MAX];
	struct watched x = { .r = -ENOENT }, *nw;
	const char *slash;
	unsigned level = 0;
	int r;

	if (!w || !path || !*path || path[0] == '/')
		return -EINVAL;
	for (unsigned i = 0; i < w->n; i++)
		if (streq(w->w[i].path, path))
			return -EEXIST;
	slash = strrchr(path, '/');
	r = snprintf(parent, sizeof(parent), "%s/%.*s", w->root,
			slash ? (int)(slash - path) : 0, path);
	if (r < 0 || (size_t)r >= sizeof(parent))
		return -ENAMETOOLONG;
	/* The parent (a slice) outlives its services' restarts. */
	x.wd = inotify_add_watch(w->fd, parent,
			IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR);
	if (x.wd < 0)
		return -errno;
	nw = reallocarray(w->w, w->n + 1, sizeof(*nw));
	if (!nw)
		return -ENOMEM;
	w->w = nw;
	x.path = strdup(path);
	if (!x.path)
		return -ENOMEM;
	x.base = slash ? x.path + (slash - path) + 1 : x.path;
	x.r = edge_cgroup_id(w->root, path, &x.id, &level);
	w->w[w->n++] = x;
	*ret_id = x.r >= 0 ? x.id : 0;
	*ret_level = x.r >= 0 ? level : 0;
	return x.r >= 0;
}

int cgwatch_remove(struct cgwatch *w, const char *path)
{
	for (unsigned i = 0; i < w->n; i++) {
		bool shared = false;

		if (!streq(w->w[i].path, path))
			continue;
		for (unsigned k = 0; k < w->n; k++)
			shared |= k != i && w->w[k].wd == w->w[i].wd;
		/* inotify hands out one wd per directory: keep it while another path needs it */
		if (!shared)
			inotify_rm_watch(w->fd, w->w[i].wd);
		free(w->w[i].path);
		w->w[i] = w->w[--w->n];
		return 0;
	}
	return -ENOENT;
}
