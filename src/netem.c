/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdio.h>

#include "netem.h"
#include "parse.h"
#include "utf8.h"

#define NETEM_LIMIT_MIN 1000 /* netem's own default */
#define NETEM_MTU_BITS  (1500 * 8)
/* Under a rate limit: a shaping queue of 50 ms at that rate, at least 20 packets so TCP at
 * low rates still has a window to work with. */
#define NETEM_RATE_QUEUE_NS  50000000.
#define NETEM_RATE_LIMIT_MIN 20.

/* A table file is a few tens of kilobytes; anything much bigger is not one. */
#define NETEM_DIST_FILE_MAX (1024 * 1024)

uint32_t netem_fraction_to_u32(double fraction)
{
	double x;

	if (!(fraction > 0))
		return 0;
	if (fraction >= 1)
		return UINT32_MAX;
	x = fraction * UINT32_MAX;
	/* rint() without libm: adding and removing 2^52 leaves an integer rounded the way rint
	 * rounds (to nearest, ties to even) for 0 <= x < 2^52. */
	return (uint32_t)((x + 0x1p52) - 0x1p52);
}

uint32_t netem_percent_to_u32(double percent)
{
	/* iproute2 divides by 100 first (parse_percent), then scales: the same order gives
	 * bit-for-bit what `tc qdisc ... netem loss 0.3%` sends. */
	return netem_fraction_to_u32(percent / 100.);
}

double netem_u32_to_percent(uint32_t v)
{
	return 100. * v / UINT32_MAX;
}

static bool dist_name_valid(const char *name)
{
	if (!name || !*name || strlen(name) > 64)
		return false;
	/* A table name becomes a file name: no '/' and no "..". */
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '_' &&
				*p != '-')
			return false;
	return true;
}

/* Whitespace separated signed integers in int16 range, '#' to end of line is a comment.
 * Stricter than iproute2, which stops at the first token it cannot read: a damaged table must
 * not silently become a short one. */
static int dist_parse(FILE *f, const char *path, struct netem_dist *ret, struct diag *d)
{
	_cleanup_free_ int16_t *data = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, n = 0, total = 0;
	unsigned lineno = 0;
	ssize_t len;

	data = malloc(NETEM_DIST_MAX * sizeof(int16_t));
	if (!data)
		return -ENOMEM;

	while ((len = getline(&line, &cap, f)) >= 0) {
		char *p = line, *hash;

		lineno++;
		total += (size_t)len;
		if (total > NETEM_DIST_FILE_MAX)
			return diag_add(d, -EFBIG,
					"%s: larger than %d bytes, not a distribution table", path,
					NETEM_DIST_FILE_MAX);
		if (memchr(line, '\0', (size_t)len))
			return diag_add(d, -EINVAL, "%s:%u: contains a NUL byte", path, lineno);
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';

		for (;;) {
			char *end;
			long v;

			while (isspace((unsigned char)*p))
				p++;
			if (!*p)
				break;
			errno = 0;
			v = strtol(p, &end, 10);
			if (end == p || (*end && !isspace((unsigned char)*end))) {
				char tok[32];
				size_t tl = strcspn(p, " \t\r\n\v\f");

				tl = MIN(tl, sizeof(tok) - 1);
				memcpy(tok, p, tl);
				tok[tl] = '\0';
				return diag_add(d, -EINVAL,
						"%s:%u: '%s' is not an integer (a table holds "
						"integers from -32768 to 32767, '#' starts a "
						"comment)",
						path, lineno,
						utf8_ascii_safe(tok, tok, sizeof(tok)));
			}
			if (errno == ERANGE || v < INT16_MIN || v > INT16_MAX)
				return diag_add(d, -ERANGE,
						"%s:%u: %ld is out of range (-32768-32767)", path,
						lineno, v);
			if (n >= NETEM_DIST_MAX)
				return diag_add(d, -E2BIG, "%s:%u: more than %d entries", path,
						lineno, NETEM_DIST_MAX);
			data[n++] = (int16_t)v;
			p = end;
		}
	}
	if (ferror(f))
		return diag_add(d, -EIO, "%s: read error", path);
	if (n == 0)
		return diag_add(d, -EINVAL, "%s: no entries", path);

	ret->data = TAKE_PTR(data);
	ret->n = n;
	return 0;
}

int netem_dist_load(const char *name, struct netem_dist *ret, struct diag *d)
{
	const char *dirs[] = {
		secure_getenv("CHAOSD_TC_LIB_DIR"),
		"/usr/lib/x86_64-linux-gnu/tc",
		"/usr/lib/tc",
		"/usr/lib64/tc",
	};
	char tried[512] = "";
	size_t tried_len = 0;

	if (!dist_name_valid(name))
		return diag_add(d, -EINVAL, "distribution '%s' is not a table name",
				name ? name : "(null)");

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *path = NULL;
		struct netem_dist dist = {};
		FILE *f;
		int r;

		if (!dirs[i] || !*dirs[i])
			continue;
		if (asprintf(&path, "%s/%s.dist", dirs[i], name) < 0)
			return -ENOMEM;
		f = fopen(path, "re");
		if (!f) {
			int w;

			if (errno != ENOENT)
				return diag_add(d, negative_errno(), "%s: %m", path);
			w = snprintf(tried + tried_len, sizeof(tried) - tried_len, "%s%s",
					tried_len ? ", " : "", dirs[i]);
			if (w > 0)
				tried_len = MIN(tried_len + (size_t)w, sizeof(tried) - 1);
			continue;
		}
		r = dist_parse(f, path, &dist, d);
		fclose(f);
		if (r < 0)
			return r;
		*ret = dist;
		return 0;
	}
	return diag_add(d, -ENOENT,
			"no distribution table %s.dist in %s (it ships with iproute2; "
			"$CHAOSD_TC_LIB_DIR names another directory)",
			name, tried);
}

void netem_dist_done(struct netem_dist *dist)
{
	if (!dist)
		return;
	free(dist->data);
	dist->data = NULL;
	dist->n = 0;
}

static uint32_t limit_round_up(double packets, double at_least)
{
	uint32_t limit;

	if (!(packets > at_least))
		packets = at_least;
	if (packets >= (double)UINT32_MAX)
		return UINT32_MAX;
	limit = (uint32_t)packets;
	return limit < packets ? limit + 1 : limit;
}

uint32_t netem_limit_for(int64_t latency_ns, int64_t jitter_ns, uint64_t link_rate_bps,
		uint64_t rate_bytes_per_sec)
{
	double held_ns, packets;

	held_ns = (double)MAX(latency_ns, 0) + 3. * (double)MAX(jitter_ns, 0);
	if (rate_bytes_per_sec > 0) {
		/* Under a rate limit nothing leaves faster than the rate: hold what the delay keeps
		 * in flight at that rate plus a short shaping queue. Sized from the link instead,
		 * the queue itself became seconds of added delay. */
		double bps = (double)rate_bytes_per_sec * 8.;

		packets = (held_ns + NETEM_RATE_QUEUE_NS) / 1e9 * bps / NETEM_MTU_BITS;
		return limit_round_up(packets, NETEM_RATE_LIMIT_MIN);
	}
	/* Packets in flight during the added delay, at full link rate, doubled for bursts. */
	packets = held_ns / 1e9 * (double)link_rate_bps / NETEM_MTU_BITS * 2.;
	return limit_round_up(packets, NETEM_LIMIT_MIN);
}
