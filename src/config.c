/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "config-parser.h"
#include "edge-scope.h"
#include "fileio.h"
#include "ini.h"
#include "parse.h"
#include "utf8.h"

#define CONFIG_FILE_MAX (1024 * 1024)

void config_parser_error(struct config_parser *p, unsigned line, const char *key, const char *value,
		const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->errors++;
	diag_add_at(p->d, -EINVAL, p->name, line, p->section_text, key, value, msg);
}
_Static_assert(_CK_MAX <= ELEMENTSOF(((struct config *)0)->key_lines), "key_lines too small");

/* Parse value for key idx into the config or the current edge; reports its own errors. */
static int set_key(struct config_parser *p, unsigned idx, const char *value)
{
	const struct config_key *k = &config_keys[idx];
	char *base = streq(k->section, "edge") ? (char *)&p->edges[p->cur_edge].e : (char *)p->c;

	return k->parse(p, k, value, base + k->offset);
}

/* The table's defaults of section into base, before the file is read. */
static int set_defaults(struct config_parser *p, const char *section, void *base)
{
	for (unsigned i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		int r;

		if (!k->default_value || !streq(k->section, section))
			continue;
		r = k->parse(p, k, k->default_value, (char *)base + k->offset);
		if (r < 0)
			return r;
	}
	return 0;
}

static char *section_keys_text(const char *section, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < config_n_keys; i++) {
		int w;

		if (!streq(config_keys[i].section, section))
			continue;
		w = snprintf(buf + off, n - off, "%s%s", off ? ", " : "", config_keys[i].name);
		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
	return buf;
}

static int handle_continuation(struct config_parser *p, const char *name, const char *value)
{
	/* Only a destination list is long enough to need more than one line. */
	if (p->prev_key >= 0 && config_keys[p->prev_key].continues &&
			p->section != SECTION_IGNORED) {
		int r = set_key(p, (unsigned)p->prev_key, value);

		if (r < 0 && p->section == SECTION_EDGE) {
			p->edges[p->cur_edge].bad = true;
			p->edges[p->cur_edge].dest_failed |= p->prev_key == CK_DESTINATION;
		}
		return r;
	}
	if (p->prev_key < 0 || p->section == SECTION_IGNORED)
		return 0; /* continues an unknown or repeated key: that is reported already */
	config_parser_error(p, p->lineno, name, value,
			"indented line continues '%s' (allowed: only destination may continue on "
			"an indented line)",
			name);
	return -EINVAL;
}

static int key_cb(void *user, unsigned line, const char *name, const char *value,
		bool continuation)
{
	struct config_parser *p = user;
	unsigned *key_line;
	const char *sec;
	char keys[384];
	int idx = -1, r;

	p->lineno = line;
	if (continuation) {
		r = handle_continuation(p, name, value);
		return r == -ENOMEM ? r : 0;
	}
	p->prev_key = -1;

	switch (p->section) {
	case SECTION_NONE:
		config_parser_error(p, p->lineno, name, value,
				"key outside of a section (allowed: in [chaosd] or [edge NAME])");
		return 0;
	case SECTION_IGNORED:
		return 0;
	case SECTION_CHAOSD:
		sec = "chaosd";
		key_line = p->chaosd_key_line;
		break;
	case SECTION_EDGE:
		sec = "edge";
		key_line = p->edges[p->cur_edge].key_line;
		break;
	default:
		return 0;
	}

	for (unsigned i = 0; i < config_n_keys; i++)
		if (streq(config_keys[i].section, sec) && streq(config_keys[i].name, name)) {
			idx = (int)i;
			break;
		}
	if (idx < 0) {
		config_parser_error(p, p->lineno, name, value, "unknown key (allowed: %s)",
				section_keys_text(sec, keys, sizeof(keys)));
		if (p->section == SECTION_EDGE)
			p->edges[p->cur_edge].bad = true;
		return 0;
	}
	if (key_line[idx]) {
		config_parser_error(p, p->lineno, name, value, "duplicate key (first set on line %u)",
				key_line[idx]);
		if (p->section == SECTION_EDGE)
			p->edges[p->cur_edge].bad = true;
		return 0;
	}
	key_line[idx] = p->lineno;
	if (p->section == SECTION_CHAOSD)
		snprintf(p->chaosd_key_text[idx], sizeof(p->chaosd_key_text[idx]), "%s", value);
	p->prev_key = idx; /* even if the value is refused: its continuation is checked too */

	r = set_key(p, (unsigned)idx, value);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (p->section == SECTION_EDGE) {
			p->edges[p->cur_edge].bad = true;
			p->edges[p->cur_edge].dest_failed |= idx == CK_DESTINATION;
		}
	}
	return 0;
}

static void begin_section(struct config_parser *p, const char *text)
{
	char buf[256], name_s[64];
	const char *name;
	size_t n;

	snprintf(buf, sizeof(buf), "%s", text);
	parse_strip(buf);
	snprintf(p->section_text, sizeof(p->section_text), "[%s]",
			utf8_ascii_safe(buf, name_s, sizeof(name_s)));
	p->cur_edge = -1;
	p->section = SECTION_IGNORED;

	if (streq(buf, "chaosd")) {
		p->section = SECTION_CHAOSD;
		return;
	}
	if (strncmp(buf, "edge", 4) != 0 || (buf[4] && !isspace((unsigned char)buf[4]))) {
		config_parser_error(p, p->lineno, NULL, NULL,
				"unknown section (allowed: [chaosd], [edge NAME])");
		return;
	}
	name = buf + 4;
	name += strspn(name, " \t\r\n\v\f");
	if (!*name) {
		config_parser_error(p, p->lineno, NULL, NULL, "edge without a name (allowed: [edge NAME])");
		return;
	}
	if (!edge_name_valid(name)) {
		config_parser_error(p, p->lineno, NULL, NULL,
				"invalid edge name '%s' (allowed: 1-%d letters, digits, '_', '.', "
				"'-')",
				utf8_ascii_safe(name, name_s, sizeof(name_s)), EDGE_NAME_MAX);
		return;
	}
	for (unsigned i = 0; i < p->n_edges; i++)
		if (streq(p->edges[i].e.name, name)) {
			config_parser_error(p, p->lineno, NULL, NULL,
					"duplicate edge '%s' (first defined on line %u)", name,
					p->edges[i].e.line);
			return;
		}
	if (p->n_edges >= CONFIG_EDGES_MAX) {
		config_parser_error(p, p->lineno, NULL, NULL, "more than %d edges (allowed: at most %d)",
				CONFIG_EDGES_MAX, CONFIG_EDGES_MAX);
		return;
	}
	if (p->n_edges >= p->cap_edges) {
		unsigned cap = p->cap_edges ? p->cap_edges * 2 : 8;
		struct edge_state *ne = reallocarray(p->edges, cap, sizeof(*ne));

		if (!ne) {
			p->oom = true;
			return;
		}
		p->edges = ne;
		p->cap_edges = cap;
	}
	n = strlen(name);
	p->edges[p->n_edges] = (struct edge_state){ .e = { .line = p->lineno } };
	memcpy(p->edges[p->n_edges].e.name, name, n + 1);
	if (set_defaults(p, "edge", &p->edges[p->n_edges].e) < 0) {
		p->oom = true; /* a default of the table cannot be wrong otherwise */
		return;
	}
	p->cur_edge = (int)p->n_edges++;
	p->section = SECTION_EDGE;
}

static void section_cb(void *user, unsigned line, const char *name)
{
	struct config_parser *p = user;

	p->lineno = line;
	p->prev_key = -1;
	if (name) {
		begin_section(p, name);
		return;
	}
	p->section_text[0] = '\0';
	p->section = SECTION_IGNORED;
	p->cur_edge = -1;
}

static void error_cb(void *user, unsigned line, const char *msg)
{
	config_parser_error(user, line, NULL, NULL, "%s", msg);
}

static const struct ini_ops config_ini = {
	.section = section_cb,
	.key = key_cb,
	.error = error_cb,
	.sections = "[chaosd], [edge NAME]",
};

/* The first pair of prefixes of a and b that overlap, as text for the message. */
static void first_overlap(const struct edge *a, const struct edge *b, char *pa, char *pb,
		size_t n)
{
	/* A service edge without a destination reaches every address. */
	if (a->n_prefixes == 0 || b->n_prefixes == 0) {
		snprintf(pa, n, "%s", "any destination");
		snprintf(pb, n, "%s", "any destination");
		if (a->n_prefixes)
			edge_prefix_format(&a->prefixes[0], pa, n);
		if (b->n_prefixes)
			edge_prefix_format(&b->prefixes[0], pb, n);
		return;
	}
	for (unsigned x = 0; x < a->n_prefixes; x++)
		for (unsigned y = 0; y < b->n_prefixes; y++)
			if (edge_prefix_overlap(&a->prefixes[x], &b->prefixes[y])) {
				edge_prefix_format(&a->prefixes[x], pa, n);
				edge_prefix_format(&b->prefixes[y], pb, n);
				return;
			}
}

static bool scope_given(const struct edge_state *a)
{
	return a->key_line[CK_UNIT] || a->key_line[CK_CGROUP] || a->key_line[CK_USER];
}

static void check_scope(struct config_parser *p, struct edge_state *a)
{
	if (a->bad)
		return;
	if (a->e.unit[0] && a->e.cgroup[0]) {
		config_parser_error(p, a->key_line[CK_CGROUP], "cgroup", a->e.cgroup,
				"unit = '%s' (line %u) names the control group already (allowed: "
				"unit or cgroup, not both)", a->e.unit, a->key_line[CK_UNIT]);
		a->bad = true;
	} else if (a->e.n_prefixes == 0 && edge_scoped(&a->e) && !a->e.ifname[0]) {
		config_parser_error(p, a->e.line, NULL, NULL,
				"a service edge without a destination has no route to find its "
				"interface by (required: interface = or destination =)");
		a->bad = true;
	}
}

static void check_edges(struct config_parser *p)
{
	for (unsigned i = 0; i < p->n_edges; i++) {
		struct edge_state *a = &p->edges[i];

		snprintf(p->section_text, sizeof(p->section_text), "[edge %s]", a->e.name);
		/* A destination that was given but refused is already reported. */
		if (a->e.n_prefixes == 0 && !a->dest_failed && !scope_given(a)) {
			config_parser_error(p, a->e.line, NULL, NULL,
					"no destination (required: destination = CIDR prefixes, "
					"addresses or host names, or a service: unit =, cgroup = or "
					"user =)");
			a->bad = true;
		}
		check_scope(p, a);
	}

	for (unsigned j = 1; j < p->n_edges; j++) {
		struct edge_state *b = &p->edges[j];

		if (b->bad)
			continue;
		snprintf(p->section_text, sizeof(p->section_text), "[edge %s]", b->e.name);
		for (unsigned i = 0; i < j; i++) {
			struct edge_state *a = &p->edges[i];
			char pa[INET6_ADDRSTRLEN + 8] = "?", pb[INET6_ADDRSTRLEN + 8] = "?";

			if (a->bad || !edge_overlaps(&a->e, &b->e))
				continue;
			first_overlap(&a->e, &b->e, pa, pb, sizeof(pa));
			config_parser_error(p, b->e.line, NULL, NULL,
					"overlaps edge '%s' (line %u): %s and %s (allowed: edges "
					"no packet can match both of; differ in interface, "
					"protocol, port, prefixes or service)",
					a->e.name, a->e.line, pb, pa);
		}
	}
}

static void check_durations(struct config_parser *p)
{
	const struct config *c = p->c;
	unsigned dl = p->chaosd_key_line[CK_DEFAULT_DURATION];
	unsigned ml = p->chaosd_key_line[CK_MAX_DURATION];

	if (c->default_duration_usec <= c->max_duration_usec)
		return;
	snprintf(p->section_text, sizeof(p->section_text), "[chaosd]");
	if (dl && ml)
		config_parser_error(p, dl, "default_duration", p->chaosd_key_text[CK_DEFAULT_DURATION],
				"longer than max_duration = '%s' (line "
				"%u)", p->chaosd_key_text[CK_MAX_DURATION], ml);
	else if (dl)
		config_parser_error(p, dl, "default_duration", p->chaosd_key_text[CK_DEFAULT_DURATION],
				"longer than max_duration (%s, the default)",
				config_keys[CK_MAX_DURATION].default_value);
	else
		config_parser_error(p, ml, "max_duration", p->chaosd_key_text[CK_MAX_DURATION],
				"shorter than default_duration (%s, the default)",
				config_keys[CK_DEFAULT_DURATION].default_value);
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	free(c->path);
	free(c->socket_group);
	free(c->read_group);
	free(c->metrics_file);
	free(c->allow_interfaces);
	free(c->deny_interfaces);
	free(c->protect);
	free(c->edges);
	free(c->edge_order);
	free(c);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct config *, config_free);

char *config_key_origin(const struct config *c, const char *key, char *buf, size_t n)
{
	for (unsigned i = 0; i < config_n_keys; i++)
		if (streq(config_keys[i].section, "chaosd") && streq(config_keys[i].name, key)) {
			if (c->key_lines[i])
				snprintf(buf, n, "%s:%u", c->path ? c->path : "config",
						c->key_lines[i]);
			else
				snprintf(buf, n, "%s (default)", c->path ? c->path : "config");
			return buf;
		}
	snprintf(buf, n, "%s", c->path ? c->path : "config");
	return buf;
}

bool config_interface_allowed(const struct config *c, const char *ifname, const char **ret_key)
{
	for (unsigned i = 0; i < c->n_deny_interfaces; i++)
		if (streq(c->deny_interfaces[i], ifname)) {
			*ret_key = "deny_interfaces";
			return false;
		}
	if (!c->allow_interfaces)
		return true;
	for (unsigned i = 0; i < c->n_allow_interfaces; i++)
		if (streq(c->allow_interfaces[i], ifname))
			return true;
	*ret_key = "allow_interfaces";
	return false;
}

/* Edge names are unique (a second [edge NAME] is refused), so a sorted index finds one in
 * log n: every inject looks its edge up, and a scan of 1000 names was 6% of its work. */
static int cmp_edge_index(const void *a, const void *b, void *edges)
{
	const struct edge *e = edges;

	return strcmp(e[*(const unsigned *)a].name, e[*(const unsigned *)b].name);
}

static void index_edges(struct config *c)
{
	c->edge_order = calloc(c->n_edges, sizeof(*c->edge_order));
	if (!c->edge_order)
		return;
	for (unsigned i = 0; i < c->n_edges; i++)
		c->edge_order[i] = i;
	qsort_r(c->edge_order, c->n_edges, sizeof(*c->edge_order), cmp_edge_index, c->edges);
}

static int load_text(const char *text, size_t len, const char *name, bool resolve,
		const struct config_resolver *resolver, struct config **ret, struct diag *d)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct config_parser p = {
		.name = name ? name : "<string>",
		.resolve = resolve,
		.resolver = resolver,
		.d = d,
		.cur_edge = -1,
		.prev_key = -1,
	};
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->path = strdup(p.name);
	if (!c->path)
		return -ENOMEM;
	p.c = c;
	r = set_defaults(&p, "chaosd", c);
	if (r < 0)
		return r;

	r = ini_parse(text, len, &config_ini, &p);
	if (r < 0 || p.oom) {
		free(p.edges);
		return -ENOMEM;
	}

	if (p.pending > 0) {
		/* What else is wrong is said once the names are known. */
		free(p.edges);
		return -EAGAIN;
	}
	check_edges(&p);
	check_durations(&p);
	if (p.errors > 0) {
		free(p.edges);
		return -EINVAL;
	}

	if (p.n_edges > 0) {
		c->edges = calloc(p.n_edges, sizeof(struct edge));
		if (!c->edges) {
			free(p.edges);
			return -ENOMEM;
		}
		for (unsigned i = 0; i < p.n_edges; i++)
			c->edges[i] = p.edges[i].e;
		c->n_edges = p.n_edges;
		index_edges(c); /* without it (no memory), lookups scan */
	}
	free(p.edges);
	for (unsigned i = 0; i < _CK_MAX; i++)
		c->key_lines[i] = p.chaosd_key_line[i];
	*ret = TAKE_PTR(c);
	return 0;
}

int config_load_string(const char *text, const char *name, bool resolve, struct config **ret,
		struct diag *d)
{
	if (!text || !ret)
		return diag_add(d, -EINVAL, "invalid arguments");
	return load_text(text, strlen(text), name, resolve, NULL, ret, d);
}

int config_load_with(const char *path, const struct config_resolver *res, struct config **ret,
		struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	const char *nul;
	size_t len = 0;
	int r;

	if (!path || !ret)
		return diag_add(d, -EINVAL, "invalid arguments");
	/* Not a FIFO, a device or a directory: nothing that can block or has no end. */
	r = fileio_read_bounded(path, CONFIG_FILE_MAX, &buf, &len, d);
	if (r == -ENOENT)
		return diag_add(d, r, "%s: %s", path, strerror(-r));
	if (r < 0)
		return r;
	nul = memchr(buf, '\0', len);
	if (nul) {
		unsigned line = 1;

		for (const char *s = buf; s < nul; s++)
			line += *s == '\n';
		return diag_add(d, -EINVAL, "%s:%u: contains a NUL byte", path, line);
	}
	return load_text(buf, len, path, true, res, ret, d);
}

int config_load(const char *path, struct config **ret, struct diag *d)
{
	return config_load_with(path, NULL, ret, d);
}

const struct edge *config_find_edge(const struct config *c, const char *name)
{
	if (!c || !name)
		return NULL;
	if (c->edge_order) {
		unsigned lo = 0, hi = c->n_edges;

		while (lo < hi) {
			unsigned mid = lo + (hi - lo) / 2;
			int k = strcmp(c->edges[c->edge_order[mid]].name, name);

			if (k == 0)
				return &c->edges[c->edge_order[mid]];
			if (k < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return NULL;
	}
	for (unsigned i = 0; i < c->n_edges; i++)
		if (streq(c->edges[i].name, name))
			return &c->edges[i];
	return NULL;
}
