/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "edge-scope.h"
#include "macro.h"

/* The characters systemd allows in unit names (and escapes everything else into). */
static bool unit_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		strchr(":-_.\\@", c);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a > b && streq(s + a - b, suffix);
}

int edge_unit_check(const char *s, const char **ret_why)
{
	static const char *const types[] = { ".service", ".scope", ".slice" };
	const char *at, *dot;
	bool typed = false;

	*ret_why = "a unit name, e.g. api.service, batch.slice, run-u7.scope";
	if (!s || !*s || strlen(s) > EDGE_UNIT_MAX) {
		*ret_why = "a unit name of 1-255 characters";
		return -EINVAL;
	}
	for (const char *c = s; *c; c++)
		if (!unit_char(*c)) {
			*ret_why = "a unit name of letters, digits and ':-_.\\@'";
			return -EINVAL;
		}
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		typed |= ends_with(s, types[i]);
	if (!typed) {
		*ret_why = "a .service, .scope or .slice unit: other units have no processes";
		return -EINVAL;
	}
	dot = strrchr(s, '.');
	if (dot == s)
		return -EINVAL;
	at = strchr(s, '@');
	/* A template (api@.service) is no running unit: its instances (api@1.service) are. */
	if (at && (at == s || at + 1 == dot || strchr(at + 1, '@'))) {
		*ret_why = "a unit name; a template needs its instance, e.g. api@1.service";
		return -EINVAL;
	}
	return 0;
}

static bool cgroup_char(char c)
{
	return unit_char(c) || c == '+' || c == ',' || c == '=';
}

int edge_cgroup_normalize(const char *s, char *ret, size_t n, const char **ret_why)
{
	const char *c;
	size_t len;

	*ret_why = "a path below the cgroup2 mount, e.g. system.slice/api.service";
	if (!s)
		return -EINVAL;
	if (*s == '/')
		s++;
	len = strlen(s);
	if (len == 0) {
		*ret_why = "a cgroup below the root (the root holds every process)";
		return -EINVAL;
	}
	if (strncmp(s, "sys/fs/cgroup", 13) == 0 && (s[13] == '/' || !s[13])) {
		*ret_why = "the path below the cgroup2 mount, without /sys/fs/cgroup, e.g. "
			   "system.slice/api.service";
		return -EINVAL;
	}
	if (len > EDGE_CGROUP_MAX || len >= n) {
		*ret_why = "a cgroup path of at most 255 characters";
		return -EINVAL;
	}
	for (c = s; *c; c++) {
		const char *end = strchrnul(c, '/');
		size_t clen = (size_t)(end - c);

		if (clen == 0 || (clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.')) {
			*ret_why = "a cgroup path without empty, '.' or '..' components";
			return -EINVAL;
		}
		for (; c < end; c++)
			if (!cgroup_char(*c)) {
				*ret_why = "a cgroup path of letters, digits, '/' and ':-_.\\@+,='";
				return -EINVAL;
			}
		if (!*c)
			break;
		if (!c[1]) {
			*ret_why = "a cgroup path without a trailing '/'";
			return -EINVAL;
		}
	}
	memcpy(ret, s, len + 1);
	return 0;
}

static bool user_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > EDGE_USER_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];

		if (c == '$' && i == n - 1) /* Samba machine accounts */
			break;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				    c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

bool edge_user_is_name(const char *s)
{
	return s && !(s[0] >= '0' && s[0] <= '9') && user_name_valid(s);
}

int edge_user_parse(const char *s, uint32_t *ret_uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int r;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '9') {
		unsigned long long v = 0;

		if (s[0] == '0' && s[1])
			return -EINVAL;
		for (const char *c = s; *c; c++) {
			if (*c < '0' || *c > '9')
				return -EINVAL;
			if (v > UINT32_MAX)
				return -ERANGE;
			v = v * 10 + (unsigned)(*c - '0');
		}
		/* (uid_t)-1 means "no uid" to the kernel; 65535 is the 16 bit one */
		if (v >= UINT32_MAX || v == 65535)
			return -ERANGE;
		*ret_uid = (uint32_t)v;
		return 0;
	}
	if (!user_name_valid(s))
		return -EINVAL;
	r = getpwnam_r(s, &pw, buf, sizeof(buf), &res);
	if (r != 0 || !res)
		return -ENOENT;
	*ret_uid = (uint32_t)res->pw_uid;
	return 0;
}

bool edge_scoped(const struct edge *e)
{
	return e && (e->unit[0] || e->cgroup[0] || e->has_uid);
}

bool edge_scope_equal(const struct edge *a, const struct edge *b)
{
	return streq(a->unit, b->unit) && streq(a->cgroup, b->cgroup) &&
		a->has_uid == b->has_uid && (!a->has_uid || a->uid == b->uid);
}

/* Is a the same cgroup as b or below it? */
static bool cgroup_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

static bool unit_is_leaf(const char *u)
{
	return ends_with(u, ".service") || ends_with(u, ".scope");
}

bool edge_scopes_disjoint(const struct edge *a, const struct edge *b)
{
	if (!a || !b)
		return false;
	if (a->has_uid && b->has_uid && a->uid != b->uid)
		return true;
	/* Services and scopes hold processes, not each other (slices hold them). */
	if (a->unit[0] && b->unit[0] && !streq(a->unit, b->unit) && unit_is_leaf(a->unit) &&
			unit_is_leaf(b->unit))
		return true;
	if (a->cgroup[0] && b->cgroup[0] && !cgroup_within(a->cgroup, b->cgroup) &&
			!cgroup_within(b->cgroup, a->cgroup))
		return true;
	return false;
}

char *edge_scope_format(const struct edge *e, char *buf, size_t n)
{
	size_t off = 0;
	int w;

	if (!buf || n == 0)
		return buf;
	buf[0] = '\0';
	if (e->unit[0]) {
		w = snprintf(buf, n, "unit=%s", e->unit);
		off = w > 0 ? MIN((size_t)w, n - 1) : 0;
	}
	if (e->cgroup[0]) {
		w = snprintf(buf + off, n - off, "%scgroup=%s", off ? " " : "", e->cgroup);
		off += w > 0 ? MIN((size_t)w, n - 1 - off) : 0;
	}
	if (e->has_uid) {
		if (e->user[0] && !(e->user[0] >= '0' && e->user[0] <= '9'))
			snprintf(buf + off, n - off, "%suser=%s(%u)", off ? " " : "", e->user,
					(unsigned)e->uid);
		else
			snprintf(buf + off, n - off, "%suser=%u", off ? " " : "", (unsigned)e->uid);
	}
	return buf;
}

int edge_cgroup2_root(const char **ret)
{
	static const char *const roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };

	for (size_t i = 0; i < ELEMENTSOF(roots); i++) {
		struct statfs fs;

		if (statfs(roots[i], &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
			*ret = roots[i];
			return 0;
		}
	}
	return -ENOENT;
}

int edge_cgroup_id(const char *root, const char *path, uint64_t *ret_id, unsigned *ret_level)
{
	char full[PATH_MAX];
	struct stat st;
	unsigned level = 1;
	int fd, r;

	if (!root || !path || !*path || path[0] == '/')
		return -EINVAL;
	r = snprintf(full, sizeof(full), "%s/%s", root, path);
	if (r < 0 || (size_t)r >= sizeof(full))
		return -ENAMETOOLONG;
	fd = open(full, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	r = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	for (const char *c = path; *c; c++)
		level += *c == '/';
	/* kernfs hands out the cgroup's id as its inode number (64 bit) */
	*ret_id = (uint64_t)st.st_ino;
	*ret_level = level;
	return 0;
}
