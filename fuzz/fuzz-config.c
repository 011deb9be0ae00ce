/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the config loader (inih + every value parser), without name
 * resolution. Beyond "no crash", checks what a loaded config promises its users. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Not "config.h": with -I. that is autoconf's generated header. */
#include "config.h"
#include "edge-scope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger inputs only make the run slower, not the parser more interesting. */
#define FUZZ_INPUT_MAX (64 * 1024)

static void check_config(const struct config *c)
{
	if (!c->path || !c->socket_group || c->default_duration_usec > c->max_duration_usec ||
			c->link_rate_bps == 0 || c->n_edges > CONFIG_EDGES_MAX)
		abort();
	for (unsigned i = 0; i < c->n_edges; i++) {
		const struct edge *e = &c->edges[i];

		/* a service edge (unit, cgroup, user) may name no destination */
		if (!edge_name_valid(e->name) || (e->n_prefixes == 0 && !edge_scoped(e)) ||
				e->n_prefixes > EDGE_PREFIX_MAX ||
				config_find_edge(c, e->name) != e)
			abort();
		/* loaded edges never share a packet */
		for (unsigned j = 0; j < i; j++)
			if (edge_overlaps(&c->edges[j], e))
				abort();
		for (unsigned k = 0; k < e->n_prefixes; k++) {
			struct edge_prefix back;
			char buf[64];

			/* every stored prefix prints as text that parses back to itself */
			edge_prefix_format(&e->prefixes[k], buf, sizeof(buf));
			if (edge_prefix_parse(buf, &back) < 0 ||
					memcmp(&back, &e->prefixes[k], sizeof(back)) != 0)
				abort();
		}
	}
}

/* Every message names the file and a line that exists. */
static void check_diag(const struct diag *d, const char *text)
{
	unsigned lines = 1;
	const char *p;

	if (d->len + 256 >= DIAG_MAX)
		return; /* the last line may be cut short */
	for (p = text; *p; p++)
		lines += *p == '\n';
	for (p = d->text; *p;) {
		unsigned line;
		const char *nl;

		if (sscanf(p, "fuzz.conf:%u: ", &line) != 1 || line < 1 || line > lines)
			abort();
		nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	struct diag d;
	char *text;
	int r;

	if (size > FUZZ_INPUT_MAX)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	diag_init(&d);
	r = config_load_string(text, "fuzz.conf", false, &c, &d);
	if (r == 0) {
		if (!c || d.count != 0)
			abort();
		check_config(c);
	} else if (c || (r == -EINVAL && d.count == 0)) {
		abort(); /* a refusal always says why, and returns nothing */
	} else if (r == -EINVAL) {
		check_diag(&d, text);
	}
	config_free(c);
	free(text);
	return 0;
}
