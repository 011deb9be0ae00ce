/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cgwatch.h"
#include "edge-scope.h"
#include "macro.h"
#include "nl_nft_mark.h"
#include "svcscope.h"

struct scoped {
	char edge[EDGE_NAME_MAX + 1];
	char cgroup[EDGE_CGROUP_MAX + 1]; /* "" = not by cgroup */
	bool has_uid;
	uint32_t uid;
	unsigned slot;   /* 1..NL_NFT_MARK_MAX */
	bool present;    /* the cgroup exists now */
	uint64_t id;
	unsigned level;
};

struct svcscope {
	struct nl_socket *s;
	const char *root; /* cgroup2 mount, NULL: none (user = only) */
	struct cgwatch *watch;
	struct scoped *e;
	unsigned n;
	unsigned follows;
	char error[256]; /* the last failed rewrite after a cgroup changed, "" = none */
};

static struct scoped *find(const struct svcscope *sc, const char *edge)
{
	for (unsigned i = 0; i < sc->n; i++)
		if (streq(sc->e[i].edge, edge))
			return &sc->e[i];
	return NULL;
}

/* The table from the edges as they are now: a cgroup edge whose cgroup is gone has no rule. */
static int sync_rules(struct svcscope *sc, struct diag *d)
{
	struct nl_nft_mark m[NL_NFT_MARK_MAX];
	unsigned k = 0;

	for (unsigned i = 0; i < sc->n; i++) {
		const struct scoped *x = &sc->e[i];

		if (x->cgroup[0] && !x->present)
			continue;
		m[k++] = (struct nl_nft_mark){ .mark = nl_nft_mark_value(x->slot),
			.has_cgroup = x->cgroup[0] != '\0', .cgroup_id = x->id, .level = x->level,
			.has_uid = x->has_uid, .uid = x->uid };
	}
	return nl_nft_mark_sync(sc->s, m, k, d);
}

static void on_cgroup(void *userdata, const char *path, int r, uint64_t id, unsigned level)
{
	struct svcscope *sc = userdata;
	bool changed = false;
	struct diag d;

	for (unsigned i = 0; i < sc->n; i++) {
		struct scoped *x = &sc->e[i];

		if (!streq(x->cgroup, path))
			continue;
		x->present = r >= 0;
		x->id = r >= 0 ? id : 0;
		x->level = r >= 0 ? level : 0;
		changed = true;
	}
	if (!changed)
		return;
	sc->follows++;
	diag_init(&d);
	sc->error[0] = '\0';
	if (sync_rules(sc, &d) < 0) {
		snprintf(sc->error, sizeof(sc->error), "following cgroup %s: %s", path,
				diag_text(&d));
		log_error("service edges: %s", sc->error);
	} else if (r >= 0)
		log_info("service edges: cgroup %s made anew (id %llu), its mark rule rewritten",
				path, (unsigned long long)id);
	else
		log_info("service edges: cgroup %s gone, its mark rule dropped until it is back",
				path);
}

int svcscope_new(sd_event *ev, struct nl_socket *s, struct svcscope **ret, struct diag *d)
{
	struct svcscope *sc = calloc(1, sizeof(*sc));
	int r;

	if (!sc)
		return -ENOMEM;
	sc->s = s;
	if (edge_cgroup2_root(&sc->root) >= 0) {
		r = cgwatch_new(ev, sc->root, on_cgroup, sc, &sc->watch);
		if (r < 0) {
			free(sc);
			return diag_add(d, r, "service edges: watching %s: %s", "the cgroup tree",
					strerror(-r));
		}
	} else
		sc->root = NULL;
	*ret = sc;
	return 0;
}

struct svcscope *svcscope_free(struct svcscope *sc)
{
	if (!sc)
		return NULL;
	cgwatch_free(sc->watch);
	free(sc->e);
	free(sc);
	return NULL;
}

static unsigned free_slot(const struct svcscope *sc)
{
	for (unsigned s = 1; s <= NL_NFT_MARK_MAX; s++) {
		bool used = false;

		for (unsigned i = 0; i < sc->n && !used; i++)
			used = sc->e[i].slot == s;
		if (!used)
			return s;
	}
	return 0;
}

static bool cgroup_shared(const struct svcscope *sc, const struct scoped *x)
{
	for (unsigned i = 0; i < sc->n; i++)
		if (&sc->e[i] != x && streq(sc->e[i].cgroup, x->cgroup))
			return true;
	return false;
}

int svcscope_add(struct svcscope *sc, const struct edge *e, const char *control_group,
		uint32_t *ret_mark, struct diag *d)
{
	struct scoped x = { .has_uid = e->has_uid, .uid = e->uid }, *ne;
	const char *why;
	int r;

	if (find(sc, e->name))
		return -EEXIST;
	if (e->unit[0] && !control_group)
		return diag_add(d, -EINVAL, "edge '%s': unit %s has no control group from systemd",
				e->name, e->unit);
	if (control_group && edge_cgroup_normalize(control_group, x.cgroup, sizeof(x.cgroup),
				     &why) < 0)
		return diag_add(d, -EINVAL, "edge '%s': control group '%s' from systemd: %s",
				e->name, control_group, why);
	if (!control_group)
		memcpy(x.cgroup, e->cgroup, sizeof(x.cgroup));
	if (x.cgroup[0] && !sc->watch)
		return diag_add(d, -EOPNOTSUPP, "edge '%s': no cgroup2 mount (socket cgroupv2 "
				"matches need one)", e->name);
	x.slot = free_slot(sc);
	if (!x.slot)
		return diag_add(d, -E2BIG, "edge '%s': %u service edges are marked already "
				"(allowed: at most %u)", e->name, sc->n, NL_NFT_MARK_MAX);
	snprintf(x.edge, sizeof(x.edge), "%s", e->name);
	if (x.cgroup[0]) {
		r = cgwatch_add(sc->watch, x.cgroup, &x.id, &x.level);
		if (r == -EEXIST)
			r = edge_cgroup_id(sc->root, x.cgroup, &x.id, &x.level) >= 0;
		if (r < 0)
			return diag_add(d, r, "edge '%s': cgroup %s: %s", e->name, x.cgroup,
					strerror(-r));
		x.present = r > 0;
		/* A fault that would match nothing: refused, as for a unit that is not running. */
		if (!x.present) {
			if (!cgroup_shared(sc, &x))
				cgwatch_remove(sc->watch, x.cgroup);
			return diag_add(d, -ENOENT, "edge '%s': cgroup %s does not exist (under %s)",
					e->name, x.cgroup, sc->root);
		}
	}
	ne = reallocarray(sc->e, sc->n + 1, sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	sc->e = ne;
	sc->e[sc->n++] = x;
	r = sync_rules(sc, d);
	if (r < 0) {
		svcscope_remove(sc, x.edge, NULL);
		return r;
	}
	*ret_mark = nl_nft_mark_value(x.slot);
	return 0;
}

int svcscope_remove(struct svcscope *sc, const char *edge, struct diag *d)
{
	struct diag ignored;
	struct scoped *x = find(sc, edge);

	if (!x)
		return -ENOENT;
	if (x->cgroup[0] && !cgroup_shared(sc, x))
		cgwatch_remove(sc->watch, x->cgroup);
	*x = sc->e[--sc->n];
	if (!d) {
		diag_init(&ignored);
		d = &ignored;
	}
	return sync_rules(sc, d);
}

int svcscope_describe(const struct svcscope *sc, const char *edge, char *buf, size_t n)
{
	const struct scoped *x = find(sc, edge);
	char cg[EDGE_CGROUP_MAX + 64] = "", uid[32] = "";

	if (!x)
		return -ENOENT;
	if (x->cgroup[0] && x->present)
		snprintf(cg, sizeof(cg), "cgroup %s (id %llu, level %u) ", x->cgroup,
				(unsigned long long)x->id, x->level);
	else if (x->cgroup[0])
		snprintf(cg, sizeof(cg), "cgroup %s (gone) ", x->cgroup);
	if (x->has_uid)
		snprintf(uid, sizeof(uid), "uid %u ", (unsigned)x->uid);
	snprintf(buf, n, "%s%smark 0x%x%s%s", cg, uid, (unsigned)nl_nft_mark_value(x->slot),
			sc->error[0] ? " ! " : "", sc->error);
	return 0;
}

unsigned svcscope_follows(const struct svcscope *sc)
{
	return sc->follows;
}
