/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <strings.h>

#include "fault.h"
#include "flowsel.h"
#include "parse.h"

#define K(kind) (1u << (kind))
#define ALL_KINDS ((1u << _FAULT_KIND_MAX) - 1)
#define PERCENT_KINDS (K(FAULT_LOSS) | K(FAULT_CORRUPT) | K(FAULT_DUPLICATE) | K(FAULT_REORDER))

#define MS_MAX 3600000.                          /* one hour */
#define FOR_MIN (double)USEC_PER_MSEC            /* durations are in microseconds */
#define FOR_MAX (365. * 24 * 3600 * USEC_PER_SEC)

enum {
	KEY_MS,
	KEY_JITTER,
	KEY_PERCENT,
	KEY_CORRELATION,
	KEY_DISTRIBUTION,
	KEY_MODEL,
	KEY_GE_P,
	KEY_GE_R,
	KEY_GE_BAD_LOSS,
	KEY_GE_GOOD_LOSS,
	KEY_GAP,
	KEY_KBIT,
	KEY_DIRECTION,
	KEY_FLOWS,
	KEY_FOR,
	KEY_LEASE,
	_KEY_MAX,
};

#define BIT(key) (UINT64_C(1) << (key))

static const char *const kind_names[_FAULT_KIND_MAX] = {
	[FAULT_LATENCY] = "latency",
	[FAULT_LOSS] = "loss",
	[FAULT_CORRUPT] = "corrupt",
	[FAULT_DUPLICATE] = "duplicate",
	[FAULT_REORDER] = "reorder",
	[FAULT_RATE] = "rate",
	[FAULT_PARTITION] = "partition",
};

static const char *const kind_helps[_FAULT_KIND_MAX] = {
	[FAULT_LATENCY] = "delay every packet by ms, optionally with jitter",
	[FAULT_LOSS] = "drop packets at random (percent) or in bursts (model=gemodel)",
	[FAULT_CORRUPT] = "flip a random bit in a percentage of packets",
	[FAULT_DUPLICATE] = "send a percentage of packets twice",
	[FAULT_REORDER] = "delay packets by ms but send a share of them at once, ahead",
	[FAULT_RATE] = "limit the bandwidth to kbit",
	[FAULT_PARTITION] = "drop all traffic (no netem)",
};

static const char *const dist_choices[] = { "uniform", "normal", "pareto", "paretonormal", NULL };
static const char *const model_choices[] = { "random", "gemodel", NULL };
/* Index + 1 is enum fault_direction. */
static const char *const direction_choices[] = { "out", "in", "both", NULL };

const struct fault_key fault_keys[] = {
	[KEY_MS] = { .name = "ms", .metavar = "MS", .type = FAULT_KEY_DOUBLE,
		.kinds = K(FAULT_LATENCY) | K(FAULT_REORDER),
		.required = K(FAULT_LATENCY) | K(FAULT_REORDER), .min = 0, .max = MS_MAX,
		.help = "delay in milliseconds; for reorder, of the packets not sent ahead" },
	[KEY_JITTER] = { .name = "jitter", .metavar = "MS", .type = FAULT_KEY_DOUBLE,
		.kinds = K(FAULT_LATENCY), .min = 0, .max = MS_MAX,
		.help = "random variation of the delay in milliseconds" },
	[KEY_PERCENT] = { .name = "percent", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		.kinds = PERCENT_KINDS,
		/* loss: required unless model=gemodel, checked in fault_validate() */
		.required = K(FAULT_CORRUPT) | K(FAULT_DUPLICATE) | K(FAULT_REORDER),
		.min = 0, .max = 100,
		.help = "share of packets affected; loss needs it unless model=gemodel" },
	[KEY_CORRELATION] = { .name = "correlation", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		.kinds = K(FAULT_LATENCY) | PERCENT_KINDS, .min = 0, .max = 100,
		.help = "how much each random choice depends on the previous one, in percent" },
	[KEY_DISTRIBUTION] = { .name = "distribution", .metavar = "DIST", .type = FAULT_KEY_ENUM,
		.kinds = K(FAULT_LATENCY), .choices = dist_choices,
		.help = "shape of the jitter (needs jitter)" },
	[KEY_MODEL] = { .name = "model", .metavar = "MODEL", .type = FAULT_KEY_ENUM,
		.kinds = K(FAULT_LOSS), .choices = model_choices,
		.help = "random: independent drops; gemodel: Gilbert-Elliott bursts" },
	[KEY_GE_P] = { .name = "ge_p", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		.kinds = K(FAULT_LOSS), .min = 0, .max = 100,
		.help = "gemodel: chance to go from the good to the bad state; required" },
	[KEY_GE_R] = { .name = "ge_r", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		.kinds = K(FAULT_LOSS), .min = 0, .max = 100,
		.help = "gemodel: chance to go from the bad to the good state (default 100-ge_p)" },
	[KEY_GE_BAD_LOSS] = { .name = "ge_bad_loss", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		.kinds = K(FAULT_LOSS), .min = 0, .max = 100,
		.help = "gemodel: loss in the bad state (iproute2's 1-h, default 100)" },
	[KEY_GE_GOOD_LOSS] = { .name = "ge_good_loss", .metavar = "PCT",
		.type = FAULT_KEY_PERCENT, .kinds = K(FAULT_LOSS), .min = 0, .max = 100,
		.help = "gemodel: loss in the good state (iproute2's 1-k, default 0)" },
	[KEY_GAP] = { .name = "gap", .metavar = "N", .type = FAULT_KEY_U64,
		.kinds = K(FAULT_REORDER), .min = 1, .max = UINT32_MAX,
		.help = "only every Nth packet may be sent ahead (default 1)" },
	[KEY_KBIT] = { .name = "kbit", .metavar = "KBIT", .type = FAULT_KEY_U64,
		.kinds = K(FAULT_RATE), .required = K(FAULT_RATE), .min = 1, .max = 1e9,
		.help = "bandwidth in kilobits per second" },
	[KEY_DIRECTION] = { .name = "direction", .metavar = "DIR", .type = FAULT_KEY_ENUM,
		.kinds = ALL_KINDS, .choices = direction_choices,
		.help = "traffic to the edge (out), from it (in) or both; default out" },
	[KEY_FLOWS] = { .name = "flows", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		.kinds = ALL_KINDS, .min = 100. / FLOWSEL_ALL, .max = 100,
		.help = "share of the edge's connections affected, chosen by a hash of their "
			"addresses and ports: a connection is always or never affected, both ways, "
			"and raising the share keeps the ones it had; every fault of an edge has the "
			"same share; default 100" },
	[KEY_FOR] = { .name = "for", .metavar = "TIME", .type = FAULT_KEY_DURATION,
		.kinds = ALL_KINDS, .min = FOR_MIN, .max = FOR_MAX,
		.help = "how long the fault lasts, e.g. 30s, 5m; default: the daemon's default" },
	[KEY_LEASE] = { .name = "lease", .metavar = "TIME", .type = FAULT_KEY_DURATION,
		.kinds = ALL_KINDS, .min = USEC_PER_SEC, .max = FOR_MAX,
		.help = "dead-man lease: reverted unless renewed within TIME (chaosctl renews while "
			"it runs)" },
};

const unsigned fault_n_keys = ELEMENTSOF(fault_keys);

_Static_assert(ELEMENTSOF(fault_keys) == _KEY_MAX, "fault_keys and KEY_* disagree");
_Static_assert(_KEY_MAX <= 64, "set_mask holds one bit per key");

const char *fault_kind_to_string(enum fault_kind k)
{
	return (unsigned)k < _FAULT_KIND_MAX ? kind_names[k] : NULL;
}

int fault_kind_from_string(const char *s, enum fault_kind *ret)
{
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < _FAULT_KIND_MAX; i++)
		if (streq(s, kind_names[i])) {
			*ret = (enum fault_kind)i;
			return 0;
		}
	return -EINVAL;
}

const char *fault_kind_help(enum fault_kind k)
{
	return (unsigned)k < _FAULT_KIND_MAX ? kind_helps[k] : NULL;
}

const char *fault_direction_to_string(enum fault_direction d)
{
	if (d < FAULT_DIR_OUT || d > FAULT_DIR_BOTH)
		return NULL;
	return direction_choices[d - 1];
}

int fault_direction_from_string(const char *s, enum fault_direction *ret)
{
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; direction_choices[i]; i++)
		if (streq(s, direction_choices[i])) {
			*ret = (enum fault_direction)(i + 1);
			return 0;
		}
	return -EINVAL;
}

const char *fault_dist_to_string(enum fault_dist d)
{
	return (unsigned)d < _FAULT_DIST_MAX ? dist_choices[d] : NULL;
}

void fault_init(struct fault *f, enum fault_kind kind)
{
	*f = (struct fault){
		.kind = kind,
		.direction = FAULT_DIR_OUT,
		.distribution = FAULT_DIST_UNIFORM,
		.loss_model = FAULT_LOSS_RANDOM,
		.ge_bad_loss = 100,
		.ge_good_loss = 0,
	};
}

static bool key_name_eq(const char *given, const char *name)
{
	for (; *given && *name; given++, name++)
		if (*given != *name && !(*given == '-' && *name == '_'))
			return false;
	return *given == *name;
}

const struct fault_key *fault_key_find(const char *name)
{
	if (!name)
		return NULL;
	for (unsigned i = 0; i < fault_n_keys; i++)
		if (key_name_eq(name, fault_keys[i].name))
			return &fault_keys[i];
	return NULL;
}

static unsigned key_index(const struct fault_key *k)
{
	return (unsigned)(k - fault_keys);
}

/* "ms, jitter, ..." of the keys that apply to kind. */
static char *keys_for_kind(enum fault_kind kind, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < fault_n_keys; i++) {
		int w;

		if (!(fault_keys[i].kinds & K(kind)))
			continue;
		w = snprintf(buf + off, n - off, "%s%s", off ? ", " : "", fault_keys[i].name);
		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
	return buf;
}

static char *choices_text(const char *const *choices, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; choices && choices[i]; i++) {
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", choices[i]);

		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
	return buf;
}

/* "0-3600000", "1ms-365d" */
static char *range_text(const struct fault_key *k, char *buf, size_t n)
{
	char a[32], b[32];

	if (k->type == FAULT_KEY_DURATION) {
		parse_format_duration((uint64_t)k->min, a, sizeof(a));
		parse_format_duration((uint64_t)k->max, b, sizeof(b));
	} else if (k->type == FAULT_KEY_U64) {
		snprintf(a, sizeof(a), "%" PRIu64, (uint64_t)k->min);
		snprintf(b, sizeof(b), "%" PRIu64, (uint64_t)k->max);
	} else {
		parse_format_double(k->min, a, sizeof(a));
		parse_format_double(k->max, b, sizeof(b));
	}
	snprintf(buf, n, "%s-%s", a, b);
	return buf;
}

static char *allowed_text(const struct fault_key *k, char *buf, size_t n)
{
	char range[80];

	switch (k->type) {
	case FAULT_KEY_DOUBLE:
		snprintf(buf, n, "a number %s", range_text(k, range, sizeof(range)));
		break;
	case FAULT_KEY_PERCENT:
		snprintf(buf, n, "%s, '%%' optional", range_text(k, range, sizeof(range)));
		break;
	case FAULT_KEY_U64:
		snprintf(buf, n, "a whole number %s", range_text(k, range, sizeof(range)));
		break;
	case FAULT_KEY_DURATION:
		snprintf(buf, n, "a duration %s such as 500ms, 30s, 5m, 1h30m",
				range_text(k, range, sizeof(range)));
		break;
	case FAULT_KEY_ENUM:
		choices_text(k->choices, buf, n);
		break;
	}
	return buf;
}

/* Numeric value of a key as stored in f, for range checks. Enum keys give their index. */
static double key_value(const struct fault *f, unsigned idx)
{
	switch (idx) {
	case KEY_MS:
		return f->delay_ms;
	case KEY_JITTER:
		return f->jitter_ms;
	case KEY_CORRELATION:
		return f->correlation;
	case KEY_DISTRIBUTION:
		return f->distribution;
	case KEY_PERCENT:
		return f->percent;
	case KEY_MODEL:
		return f->loss_model;
	case KEY_GE_P:
		return f->ge_p;
	case KEY_GE_R:
		return f->ge_r;
	case KEY_GE_BAD_LOSS:
		return f->ge_bad_loss;
	case KEY_GE_GOOD_LOSS:
		return f->ge_good_loss;
	case KEY_GAP:
		return f->gap;
	case KEY_KBIT:
		return (double)f->rate_kbit;
	case KEY_DIRECTION:
		return f->direction - 1;
	case KEY_FLOWS:
		return f->flows_permyriad * 100. / FLOWSEL_ALL;
	case KEY_FOR:
		return (double)f->duration_usec;
	case KEY_LEASE:
		return (double)f->lease_usec;
	}
	return 0;
}

static void key_store(struct fault *f, unsigned idx, double dv, uint64_t uv)
{
	switch (idx) {
	case KEY_MS:
		f->delay_ms = dv;
		break;
	case KEY_JITTER:
		f->jitter_ms = dv;
		break;
	case KEY_CORRELATION:
		f->correlation = dv;
		break;
	case KEY_DISTRIBUTION:
		f->distribution = (enum fault_dist)uv;
		break;
	case KEY_PERCENT:
		f->percent = dv;
		break;
	case KEY_MODEL:
		f->loss_model = (enum fault_loss_model)uv;
		break;
	case KEY_GE_P:
		f->ge_p = dv;
		break;
	case KEY_GE_R:
		f->ge_r = dv;
		break;
	case KEY_GE_BAD_LOSS:
		f->ge_bad_loss = dv;
		break;
	case KEY_GE_GOOD_LOSS:
		f->ge_good_loss = dv;
		break;
	case KEY_GAP:
		f->gap = (uint32_t)uv;
		break;
	case KEY_KBIT:
		f->rate_kbit = uv;
		break;
	case KEY_DIRECTION:
		f->direction = (enum fault_direction)(uv + 1);
		break;
	case KEY_FLOWS:
		/* to the nearest 0.01 %; the range check kept it at or above that */
		f->flows_permyriad = (uint16_t)lrint(dv * FLOWSEL_ALL / 100.);
		break;
	case KEY_FOR:
		f->duration_usec = uv;
		break;
	case KEY_LEASE:
		f->lease_usec = uv;
		break;
	}
}

int fault_set(struct fault *f, const char *key, const char *value, struct diag *d)
{
	char allowed[160], range[80], kv[80], vv[80];
	const struct fault_key *k;
	double dv = 0;
	uint64_t uv = 0;
	unsigned idx;
	int r = 0;

	if (!f || !key || !value || (unsigned)f->kind >= _FAULT_KIND_MAX)
		return diag_add(d, -EINVAL, "invalid arguments");

	k = fault_key_find(key);
	if (!k)
		return diag_add(d, -EINVAL, "unknown key '%s' (valid for '%s': %s)",
				parse_sanitize(key, kv, sizeof(kv)), kind_names[f->kind],
				keys_for_kind(f->kind, allowed, sizeof(allowed)));
	if (!(k->kinds & K(f->kind)))
		return diag_add(d, -EINVAL, "key '%s' does not apply to fault '%s' (valid: %s)",
				k->name, kind_names[f->kind],
				keys_for_kind(f->kind, allowed, sizeof(allowed)));
	idx = key_index(k);

	switch (k->type) {
	case FAULT_KEY_DOUBLE:
		r = parse_double_range(value, k->min, k->max, &dv);
		break;
	case FAULT_KEY_PERCENT:
		r = parse_percent(value, &dv);
		if (r >= 0 && (dv < k->min || dv > k->max))
			r = -ERANGE;
		break;
	case FAULT_KEY_U64:
		r = parse_u64_range(value, (uint64_t)k->min, (uint64_t)k->max, &uv);
		break;
	case FAULT_KEY_DURATION:
		r = parse_duration(value, &uv);
		if (r >= 0 && ((double)uv < k->min || (double)uv > k->max))
			r = -ERANGE;
		break;
	case FAULT_KEY_ENUM:
		r = -EINVAL;
		for (unsigned i = 0; k->choices[i]; i++)
			if (strcaseeq(value, k->choices[i])) {
				uv = i;
				r = 0;
				break;
			}
		break;
	}

	if (r == -ERANGE)
		return diag_add(d, -EINVAL, "%s: '%s' is out of range (%s)", k->name,
				parse_sanitize(value, vv, sizeof(vv)),
				range_text(k, range, sizeof(range)));
	if (r < 0)
		return diag_add(d, -EINVAL, "%s: '%s' is not valid (allowed: %s)", k->name,
				parse_sanitize(value, vv, sizeof(vv)),
				allowed_text(k, allowed, sizeof(allowed)));

	key_store(f, idx, dv, uv);
	f->set_mask |= BIT(idx);
	return 0;
}

static bool is_set(const struct fault *f, unsigned idx)
{
	return f->set_mask & BIT(idx);
}

/* What the kernel will see: iproute2 turns "Xms" into nanoseconds by truncation. */
static int64_t ms_to_ns(double ms)
{
	return (int64_t)(ms * 1000000.);
}

int fault_validate(const struct fault *f, struct diag *d)
{
	char range[80], v[32];

	if (!f || (unsigned)f->kind >= _FAULT_KIND_MAX)
		return diag_add(d, -EINVAL, "unknown fault kind");
	if (f->direction < FAULT_DIR_OUT || f->direction > FAULT_DIR_BOTH)
		return diag_add(d, -EINVAL, "direction: %d is not valid (allowed: out, in, both)",
				(int)f->direction);
	if ((unsigned)f->distribution >= _FAULT_DIST_MAX ||
			(f->loss_model != FAULT_LOSS_RANDOM && f->loss_model != FAULT_LOSS_GEMODEL))
		return diag_add(d, -EINVAL, "fault '%s': invalid distribution or model",
				kind_names[f->kind]);

	/* The struct may come from elsewhere than fault_set (the journal): check it all. */
	for (unsigned i = 0; i < fault_n_keys; i++) {
		const struct fault_key *k = &fault_keys[i];
		double x;

		if (!is_set(f, i)) {
			if (k->required & K(f->kind))
				return diag_add(d, -EINVAL, "fault '%s' needs '%s' (%s)",
						kind_names[f->kind], k->name, k->help);
			continue;
		}
		if (!(k->kinds & K(f->kind)))
			return diag_add(d, -EINVAL, "key '%s' does not apply to fault '%s'",
					k->name, kind_names[f->kind]);
		if (k->type == FAULT_KEY_ENUM)
			continue;
		x = key_value(f, i);
		if (!(x >= k->min && x <= k->max))
			return diag_add(d, -EINVAL, "%s: '%s' is out of range (%s)", k->name,
					parse_format_double(x, v, sizeof(v)),
					range_text(k, range, sizeof(range)));
	}
	if (f->set_mask & ~(BIT(_KEY_MAX) - 1))
		return diag_add(d, -EINVAL, "fault '%s': unknown keys set", kind_names[f->kind]);

	switch (f->kind) {
	case FAULT_LATENCY:
		if (ms_to_ns(f->jitter_ms) > 0 && ms_to_ns(f->delay_ms) <= 0)
			return diag_add(d, -EINVAL,
					"jitter: needs ms > 0 (netem varies the delay; with no "
					"delay there is nothing to vary)");
		/* iproute2 refuses "distribution" unless delay and jitter are both non-zero: the
		 * table only shapes the jitter. */
		if (f->distribution != FAULT_DIST_UNIFORM && ms_to_ns(f->jitter_ms) <= 0)
			return diag_add(d, -EINVAL,
					"distribution: '%s' needs jitter > 0 (the table shapes the "
					"jitter; iproute2 refuses a distribution without it)",
					dist_choices[f->distribution]);
		/* iproute2 takes the delay correlation only after a jitter, and netem applies it
		 * to the random jitter. */
		if (f->correlation > 0 && ms_to_ns(f->jitter_ms) <= 0)
			return diag_add(d, -EINVAL,
					"correlation: needs jitter > 0 (netem correlates the "
					"random part of the delay)");
		break;
	case FAULT_LOSS:
		if (f->loss_model == FAULT_LOSS_RANDOM) {
			static const unsigned ge_keys[] = { KEY_GE_P, KEY_GE_R, KEY_GE_BAD_LOSS,
				KEY_GE_GOOD_LOSS };

			if (!is_set(f, KEY_PERCENT))
				return diag_add(d, -EINVAL, "fault 'loss' needs 'percent' (%s)",
						fault_keys[KEY_PERCENT].help);
			for (size_t i = 0; i < ELEMENTSOF(ge_keys); i++)
				if (is_set(f, ge_keys[i]))
					return diag_add(d, -EINVAL,
							"%s: applies only with model=gemodel",
							fault_keys[ge_keys[i]].name);
		} else {
			if (is_set(f, KEY_PERCENT) || is_set(f, KEY_CORRELATION))
				return diag_add(d, -EINVAL,
						"%s: does not apply with model=gemodel (the "
						"Gilbert-Elliott model takes ge_p, ge_r, "
						"ge_bad_loss, ge_good_loss)",
						is_set(f, KEY_PERCENT) ? "percent" : "correlation");
			if (!is_set(f, KEY_GE_P))
				return diag_add(d, -EINVAL,
						"fault 'loss' with model=gemodel needs 'ge_p' (%s)",
						fault_keys[KEY_GE_P].help);
		}
		break;
	case FAULT_REORDER:
		/* netem reorders by sending some packets at once while the rest wait out the
		 * delay: without a delay nothing is reordered, and iproute2 refuses "reorder"
		 * without "delay". A reorder fault therefore carries its own delay (ms), so it is
		 * complete on its own and never depends on a latency fault being present. */
		if (ms_to_ns(f->delay_ms) <= 0)
			return diag_add(d, -EINVAL,
					"ms: '%s' is too small for reorder (needs ms > 0: netem "
					"reorders by sending some packets ahead of delayed ones)",
					parse_format_double(f->delay_ms, v, sizeof(v)));
		/* iproute2: "gap specified without reorder probability" is an error; the
		 * probability counts as given only if it is not 0 once scaled. */
		if (is_set(f, KEY_GAP) && netem_percent_to_u32(f->percent) == 0)
			return diag_add(d, -EINVAL,
					"gap: needs percent > 0 (a gap without a reorder "
					"probability does nothing; iproute2 refuses it)");
		break;
	case FAULT_CORRUPT:
	case FAULT_DUPLICATE:
	case FAULT_RATE:
	case FAULT_PARTITION:
	case _FAULT_KIND_MAX:
		break;
	}
	return 0;
}

static char *key_format(const struct fault *f, unsigned idx, char *buf, size_t n)
{
	const struct fault_key *k = &fault_keys[idx];
	double x = key_value(f, idx);

	switch (k->type) {
	case FAULT_KEY_DOUBLE:
	case FAULT_KEY_PERCENT:
		return parse_format_double(x, buf, n);
	case FAULT_KEY_U64:
		snprintf(buf, n, "%" PRIu64, idx == KEY_KBIT ? f->rate_kbit : (uint64_t)f->gap);
		return buf;
	case FAULT_KEY_DURATION:
		return parse_format_duration(idx == KEY_LEASE ? f->lease_usec : f->duration_usec, buf,
				n);
	case FAULT_KEY_ENUM: {
		unsigned i = (unsigned)x, count = 0;

		while (k->choices[count])
			count++;
		snprintf(buf, n, "%s", i < count ? k->choices[i] : "?");
		return buf;
	}
	}
	buf[0] = '\0';
	return buf;
}

int fault_foreach_param(const struct fault *f,
		int (*cb)(const char *key, const char *value, void *userdata), void *userdata)
{
	if (!f || !cb)
		return -EINVAL;
	for (unsigned i = 0; i < fault_n_keys; i++) {
		char value[64];
		int r;

		if (!is_set(f, i))
			continue;
		r = cb(fault_keys[i].name, key_format(f, i, value, sizeof(value)), userdata);
		if (r < 0)
			return r;
	}
	return 0;
}

struct text {
	char *buf;
	size_t n, off;
};

static void text_add(struct text *t, const char *fmt, ...) _printf_(2, 3);
static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (t->off + 1 >= t->n)
		return;
	va_start(ap, fmt);
	w = vsnprintf(t->buf + t->off, t->n - t->off, fmt, ap);
	va_end(ap);
	if (w > 0)
		t->off = MIN(t->off + (size_t)w, t->n - 1);
}

char *fault_describe(const struct fault *f, char *buf, size_t n)
{
	struct text t = { buf, n, 0 };
	char a[32], b[32], c[32], e[32];

	if (!buf || n == 0)
		return buf;
	buf[0] = '\0';
	if (!f || (unsigned)f->kind >= _FAULT_KIND_MAX)
		return buf;

	switch (f->kind) {
	case FAULT_LATENCY:
		text_add(&t, "%sms", parse_format_double(f->delay_ms, a, sizeof(a)));
		if (f->jitter_ms > 0)
			text_add(&t, " ±%sms", parse_format_double(f->jitter_ms, a, sizeof(a)));
		if (f->distribution != FAULT_DIST_UNIFORM &&
				(unsigned)f->distribution < _FAULT_DIST_MAX)
			text_add(&t, " %s", dist_choices[f->distribution]);
		if (f->correlation > 0)
			text_add(&t, " %s%%", parse_format_double(f->correlation, a, sizeof(a)));
		break;
	case FAULT_LOSS:
		if (f->loss_model == FAULT_LOSS_GEMODEL) {
			bool r_set = is_set(f, KEY_GE_R);

			text_add(&t, "burst loss (Gilbert-Elliott p=%s%% r=%s%% bad=%s%% "
				     "good=%s%%)",
					parse_format_double(f->ge_p, a, sizeof(a)),
					parse_format_double(r_set ? f->ge_r : 100 - f->ge_p, b,
							sizeof(b)),
					parse_format_double(f->ge_bad_loss, c, sizeof(c)),
					parse_format_double(f->ge_good_loss, e, sizeof(e)));
			break;
		}
		/* fall through */
	case FAULT_CORRUPT:
	case FAULT_DUPLICATE:
	case FAULT_REORDER:
		text_add(&t, "%s%% %s", parse_format_double(f->percent, a, sizeof(a)),
				kind_names[f->kind]);
		if (f->correlation > 0)
			text_add(&t, ", %s%% correlated",
					parse_format_double(f->correlation, a, sizeof(a)));
		if (f->kind == FAULT_REORDER) {
			if (f->gap > 1)
				text_add(&t, ", gap %" PRIu32, f->gap);
			text_add(&t, ", others delayed %sms",
					parse_format_double(f->delay_ms, a, sizeof(a)));
		}
		break;
	case FAULT_RATE:
		text_add(&t, "%" PRIu64 "kbit", f->rate_kbit);
		break;
	case FAULT_PARTITION:
		text_add(&t, "partition");
		break;
	case _FAULT_KIND_MAX:
		break;
	}
	if (fault_flows(f) < FLOWSEL_ALL)
		text_add(&t, " on %s%% of flows",
				parse_format_double(fault_flows(f) * 100. / FLOWSEL_ALL, a, sizeof(a)));
	return buf;
}

bool fault_uses_netem(const struct fault *f)
{
	return f && (unsigned)f->kind < _FAULT_KIND_MAX && f->kind != FAULT_PARTITION;
}

uint32_t fault_flows(const struct fault *f)
{
	return is_set(f, KEY_FLOWS) && f->flows_permyriad ? f->flows_permyriad : FLOWSEL_ALL;
}

int fault_merge_netem(const struct fault *const *faults, unsigned n, uint64_t link_rate_bps,
		struct netem_config *ret, struct diag *d)
{
	const struct fault *by_kind[_FAULT_KIND_MAX] = {};
	const struct fault *f;
	struct netem_config c = { .dist = FAULT_DIST_UNIFORM };
	int r;

	if ((n > 0 && !faults) || !ret)
		return diag_add(d, -EINVAL, "invalid arguments");

	for (unsigned i = 0; i < n; i++) {
		f = faults[i];
		if (!f)
			return diag_add(d, -EINVAL, "invalid arguments");
		r = fault_validate(f, d);
		if (r < 0)
			return r;
		if (!fault_uses_netem(f))
			return diag_add(d, -EINVAL, "fault '%s' is not carried by netem",
					kind_names[f->kind]);
		/* one flow selection per edge (the caller refuses a second share first) */
		if (fault_flows(f) != fault_flows(faults[0]))
			return diag_add(d, -EINVAL, "faults on one edge and direction select "
					"different shares of flows");
		if (by_kind[f->kind])
			return diag_add(d, -EEXIST,
					"two '%s' faults on one edge and direction cannot be "
					"merged (replace the first one instead)",
					kind_names[f->kind]);
		by_kind[f->kind] = f;
	}

	/* Each block below encodes what iproute2's q_netem.c sends for the same tc words:
	 * percentages via netem_percent_to_u32 (rint(p / 100 * UINT32_MAX)), times as
	 * truncated nanoseconds, rates as truncated bytes per second. */
	f = by_kind[FAULT_LATENCY];
	if (f) {
		/* delay MS [JITTER [CORRELATION]] distribution DIST */
		c.latency_ns = ms_to_ns(f->delay_ms);
		c.jitter_ns = ms_to_ns(f->jitter_ms);
		c.delay_corr = netem_percent_to_u32(f->correlation);
		c.dist = f->distribution;
	}

	f = by_kind[FAULT_REORDER];
	if (f) {
		/* netem has one delay per qdisc: the reorder's ms must be the latency's. */
		if (by_kind[FAULT_LATENCY] && by_kind[FAULT_LATENCY]->delay_ms != f->delay_ms) {
			char a[32], b[32];

			return diag_add(d, -EINVAL,
					"reorder ms=%s and latency ms=%s differ: netem has one "
					"delay per edge and direction (give reorder ms=%s)",
					parse_format_double(f->delay_ms, a, sizeof(a)),
					parse_format_double(by_kind[FAULT_LATENCY]->delay_ms, b,
							sizeof(b)),
					b);
		}
		/* delay MS reorder PERCENT [CORRELATION] [gap N] */
		c.latency_ns = ms_to_ns(f->delay_ms);
		c.reorder = netem_percent_to_u32(f->percent);
		c.reorder_corr = netem_percent_to_u32(f->correlation);
		/* iproute2 turns a missing gap into 1 when there is a reorder probability; with
		 * gap 0 the kernel would never reorder. */
		if (c.reorder)
			c.gap = is_set(f, KEY_GAP) ? f->gap : 1;
	}

	f = by_kind[FAULT_LOSS];
	if (f) {
		if (f->loss_model == FAULT_LOSS_GEMODEL) {
			/* loss gemodel P [R [1-H [1-K]]]; R defaults to 1 - P, computed the way
			 * iproute2 does; the kernel takes h, iproute2 sends UINT32_MAX - (1-h). */
			c.gemodel = true;
			c.ge_p = netem_percent_to_u32(f->ge_p);
			c.ge_r = is_set(f, KEY_GE_R) ? netem_percent_to_u32(f->ge_r) :
						       netem_fraction_to_u32(1. - f->ge_p / 100.);
			c.ge_h = UINT32_MAX - netem_percent_to_u32(f->ge_bad_loss);
			c.ge_k1 = netem_percent_to_u32(f->ge_good_loss);
		} else {
			/* loss random PERCENT [CORRELATION] */
			c.loss = netem_percent_to_u32(f->percent);
			c.loss_corr = netem_percent_to_u32(f->correlation);
		}
	}

	f = by_kind[FAULT_CORRUPT];
	if (f) {
		c.corrupt = netem_percent_to_u32(f->percent);
		c.corrupt_corr = netem_percent_to_u32(f->correlation);
	}

	f = by_kind[FAULT_DUPLICATE];
	if (f) {
		c.duplicate = netem_percent_to_u32(f->percent);
		c.dup_corr = netem_percent_to_u32(f->correlation);
	}

	f = by_kind[FAULT_RATE];
	if (f)
		/* rate Xkbit: get_rate64 computes X * 1000 / 8 in double and truncates. */
		c.rate_bytes_per_sec = (uint64_t)((double)f->rate_kbit * 1000. / 8.);

	c.limit = netem_limit_for(c.latency_ns, c.jitter_ns, link_rate_bps);
	*ret = c;
	return 0;
}
