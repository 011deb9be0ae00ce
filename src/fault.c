/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <strings.h>

#include "fault.h"
#include "flowsel.h"
#include "parse.h"
#include "strbuf.h"
#include "utf8.h"

#define K(kind) (1u << (kind))
#define ALL_KINDS ((1u << _FAULT_KIND_MAX) - 1)
#define PERCENT_KINDS (K(FAULT_LOSS) | K(FAULT_CORRUPT) | K(FAULT_DUPLICATE) | K(FAULT_REORDER))

#define MS_MAX 3600000.                          /* one hour */
#define FOR_MIN (double)USEC_PER_MSEC            /* durations are in microseconds */
#define FOR_MAX (365. * 24 * 3600 * USEC_PER_SEC)

#define BIT(key) (UINT64_C(1) << (key))

/* What a kind of fault is, in one place: iproute2's qdisc_util and networkd's QDiscVTable are
 * the models. The kinds themselves are listed once, in kinds[] at the end of this file. */
struct fault_kind_ops {
	const char *name;
	const char *help;
	const char *main_key; /* the key it is mostly about */
	/* Rules across keys beyond what the key table says; NULL: none. */
	int (*validate)(const struct fault *f, struct diag *d);
	/* The human line, after which fault_describe adds the share of flows. */
	void (*describe)(const struct fault *f, struct strbuf *t);
	/* Fold into the edge's netem configuration, as iproute2's q_netem.c encodes the same tc
	 * words; NULL: not carried by netem. */
	void (*merge_netem)(const struct fault *f, struct netem_config *c);
};

static const struct fault_kind_ops kinds[_FAULT_KIND_MAX];

static const char *const dist_choices[] = { "uniform", "normal", "pareto", "paretonormal", NULL };
static const char *const model_choices[] = { "random", "gemodel", NULL };
/* Index + 1 is enum fault_direction. */
static const char *const direction_choices[] = { "out", "in", "both", NULL };
static const char *const mode_choices[] = { "drop", "reject", NULL };
static const char *const connections_choices[] = { "all", "new", "established", NULL };

#define AT(field) .offset = offsetof(struct fault, field)

const struct fault_key fault_keys[] = {
	{ .name = "ms", .metavar = "MS", .type = FAULT_KEY_DOUBLE,
		AT(delay_ms), .field = FAULT_FIELD_DOUBLE,
		.kinds = K(FAULT_LATENCY) | K(FAULT_REORDER),
		.required = K(FAULT_LATENCY) | K(FAULT_REORDER), .min = 0, .max = MS_MAX,
		.help = "delay in milliseconds; for reorder, of the packets not sent ahead" },
	{ .name = "jitter", .metavar = "MS", .type = FAULT_KEY_DOUBLE,
		AT(jitter_ms), .field = FAULT_FIELD_DOUBLE,
		.kinds = K(FAULT_LATENCY), .min = 0, .max = MS_MAX,
		.help = "random variation of the delay in milliseconds" },
	{ .name = "percent", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		AT(percent), .field = FAULT_FIELD_DOUBLE,
		.kinds = PERCENT_KINDS,
		/* loss: required unless model=gemodel, checked in fault_validate() */
		.required = K(FAULT_CORRUPT) | K(FAULT_DUPLICATE) | K(FAULT_REORDER),
		.min = 0, .max = 100,
		.help = "share of packets affected; loss needs it unless model=gemodel" },
	{ .name = "correlation", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		AT(correlation), .field = FAULT_FIELD_DOUBLE,
		.kinds = K(FAULT_LATENCY) | PERCENT_KINDS, .min = 0, .max = 100,
		.help = "how much each random choice depends on the previous one, in percent" },
	{ .name = "distribution", .metavar = "DIST", .type = FAULT_KEY_ENUM,
		AT(distribution), .field = FAULT_FIELD_ENUM,
		.kinds = K(FAULT_LATENCY), .choices = dist_choices,
		.help = "shape of the jitter (needs jitter)" },
	{ .name = "model", .metavar = "MODEL", .type = FAULT_KEY_ENUM,
		AT(loss_model), .field = FAULT_FIELD_ENUM,
		.kinds = K(FAULT_LOSS), .choices = model_choices,
		.help = "random: independent drops; gemodel: Gilbert-Elliott bursts" },
	{ .name = "ge_p", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		AT(ge_p), .field = FAULT_FIELD_DOUBLE,
		.kinds = K(FAULT_LOSS), .min = 0, .max = 100,
		.help = "gemodel: chance to go from the good to the bad state; required" },
	{ .name = "ge_r", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		AT(ge_r), .field = FAULT_FIELD_DOUBLE,
		.kinds = K(FAULT_LOSS), .min = 0, .max = 100,
		.help = "gemodel: chance to go from the bad to the good state (default 100-ge_p)" },
	{ .name = "ge_bad_loss", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		AT(ge_bad_loss), .field = FAULT_FIELD_DOUBLE,
		.kinds = K(FAULT_LOSS), .min = 0, .max = 100,
		.help = "gemodel: loss in the bad state (iproute2's 1-h, default 100)" },
	{ .name = "ge_good_loss", .metavar = "PCT",
		.type = FAULT_KEY_PERCENT,
		AT(ge_good_loss), .field = FAULT_FIELD_DOUBLE, .kinds = K(FAULT_LOSS), .min = 0, .max = 100,
		.help = "gemodel: loss in the good state (iproute2's 1-k, default 0)" },
	{ .name = "gap", .metavar = "N", .type = FAULT_KEY_U64,
		AT(gap), .field = FAULT_FIELD_U32,
		.kinds = K(FAULT_REORDER), .min = 1, .max = UINT32_MAX,
		.help = "only every Nth packet may be sent ahead (default 1)" },
	{ .name = "kbit", .metavar = "KBIT", .type = FAULT_KEY_U64,
		AT(rate_kbit), .field = FAULT_FIELD_U64,
		.kinds = K(FAULT_RATE), .required = K(FAULT_RATE), .min = 1, .max = 1e9,
		.help = "bandwidth in kilobits per second" },
	{ .name = "direction", .metavar = "DIR", .type = FAULT_KEY_ENUM,
		AT(direction), .field = FAULT_FIELD_ENUM, .enum_base = 1,
		.kinds = ALL_KINDS, .choices = direction_choices,
		.help = "traffic to the edge (out), from it (in) or both; default out" },
	{ .name = "flows", .metavar = "PCT", .type = FAULT_KEY_PERCENT,
		AT(flows_permyriad), .field = FAULT_FIELD_PERMYRIAD,
		.kinds = ALL_KINDS, .min = 100. / FLOWSEL_ALL, .max = 100,
		.help = "share of the edge's connections affected, chosen by a hash of their "
			"addresses and ports: a connection is always or never affected, both ways, "
			"and raising the share keeps the ones it had; every fault of an edge has the "
			"same share; default 100" },
	{ .name = "mode", .metavar = "MODE", .type = FAULT_KEY_ENUM,
		AT(mode), .field = FAULT_FIELD_ENUM,
		.kinds = K(FAULT_PARTITION), .choices = mode_choices,
		.help = "drop: packets vanish and clients wait for their timeouts (a dead link); "
			"reject: TCP gets a reset and other protocols an ICMP port unreachable, so "
			"clients fail at once (a crashed peer); default drop" },
	{ .name = "connections", .metavar = "WHICH", .type = FAULT_KEY_ENUM,
		AT(connections), .field = FAULT_FIELD_ENUM,
		.kinds = K(FAULT_PARTITION), .choices = connections_choices,
		.help = "all; new: only connections opened after the fault began fail, open ones "
			"keep working; established: only the connections open when it began are "
			"cut, new ones work; default all" },
	{ .name = "for", .metavar = "TIME", .type = FAULT_KEY_DURATION,
		AT(duration_usec), .field = FAULT_FIELD_U64,
		.kinds = ALL_KINDS, .min = FOR_MIN, .max = FOR_MAX,
		.help = "how long the fault lasts, e.g. 30s, 5m; default: the daemon's default" },
	{ .name = "lease", .metavar = "TIME", .type = FAULT_KEY_DURATION,
		AT(lease_usec), .field = FAULT_FIELD_U64,
		.kinds = ALL_KINDS, .min = USEC_PER_SEC, .max = FOR_MAX,
		.help = "dead-man lease: reverted unless renewed within TIME (chaosctl renews while "
			"it runs)" },
};

const unsigned fault_n_keys = ELEMENTSOF(fault_keys);

_Static_assert(ELEMENTSOF(fault_keys) <= 64, "set_mask holds one bit per key");
_Static_assert(sizeof(enum fault_dist) == sizeof(int) && sizeof(enum fault_loss_model) == sizeof(int)
		&& sizeof(enum fault_direction) == sizeof(int), "FAULT_FIELD_ENUM is held as an int");

const char *fault_kind_to_string(enum fault_kind k)
{
	return (unsigned)k < _FAULT_KIND_MAX ? kinds[k].name : NULL;
}

int fault_kind_from_string(const char *s, enum fault_kind *ret)
{
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < _FAULT_KIND_MAX; i++)
		if (streq(s, kinds[i].name)) {
			*ret = (enum fault_kind)i;
			return 0;
		}
	return -EINVAL;
}

const char *fault_kind_help(enum fault_kind k)
{
	return (unsigned)k < _FAULT_KIND_MAX ? kinds[k].help : NULL;
}

char *fault_kind_list(char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < _FAULT_KIND_MAX; i++) {
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", kinds[i].name);

		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
	return buf;
}

const char *fault_kind_main_key(enum fault_kind k)
{
	return (unsigned)k < _FAULT_KIND_MAX ? kinds[k].main_key : NULL;
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

static const void *field_at(const struct fault *f, const struct fault_key *k)
{
	return (const char *)f + k->offset;
}

/* Numeric value of a key as stored in f, for range checks. Enum keys give their index. */
static double key_value(const struct fault *f, const struct fault_key *k)
{
	const void *p = field_at(f, k);

	switch (k->field) {
	case FAULT_FIELD_DOUBLE:
		return *(const double *)p;
	case FAULT_FIELD_U64:
		return (double)*(const uint64_t *)p;
	case FAULT_FIELD_U32:
		return *(const uint32_t *)p;
	case FAULT_FIELD_ENUM:
		return *(const int *)p - k->enum_base;
	case FAULT_FIELD_PERMYRIAD:
		return *(const uint16_t *)p * 100. / FLOWSEL_ALL;
	}
	return 0;
}

static uint64_t key_u64(const struct fault *f, const struct fault_key *k)
{
	return k->field == FAULT_FIELD_U64 ? *(const uint64_t *)field_at(f, k) :
					     (uint64_t)key_value(f, k);
}

static void key_store(struct fault *f, const struct fault_key *k, double dv, uint64_t uv)
{
	void *p = (char *)f + k->offset;

	switch (k->field) {
	case FAULT_FIELD_DOUBLE:
		*(double *)p = dv;
		break;
	case FAULT_FIELD_U64:
		*(uint64_t *)p = uv;
		break;
	case FAULT_FIELD_U32:
		*(uint32_t *)p = (uint32_t)uv;
		break;
	case FAULT_FIELD_ENUM:
		*(int *)p = (int)uv + k->enum_base;
		break;
	case FAULT_FIELD_PERMYRIAD:
		/* to the nearest 0.01 %; the range check kept it at or above that */
		*(uint16_t *)p = (uint16_t)lrint(dv * FLOWSEL_ALL / 100.);
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
				utf8_ascii_safe(key, kv, sizeof(kv)), kinds[f->kind].name,
				keys_for_kind(f->kind, allowed, sizeof(allowed)));
	if (!(k->kinds & K(f->kind)))
		return diag_add(d, -EINVAL, "key '%s' does not apply to fault '%s' (valid: %s)",
				k->name, kinds[f->kind].name,
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
				utf8_ascii_safe(value, vv, sizeof(vv)),
				range_text(k, range, sizeof(range)));
	if (r < 0)
		return diag_add(d, -EINVAL, "%s: '%s' is not valid (allowed: %s)", k->name,
				utf8_ascii_safe(value, vv, sizeof(vv)),
				allowed_text(k, allowed, sizeof(allowed)));

	key_store(f, k, dv, uv);
	f->set_mask |= BIT(idx);
	return 0;
}

static bool is_set(const struct fault *f, unsigned idx)
{
	return f->set_mask & BIT(idx);
}

/* Was the key stored at offset given? Every caller names a field of the table. */
static bool field_given(const struct fault *f, size_t offset)
{
	for (unsigned i = 0; i < fault_n_keys; i++)
		if (fault_keys[i].offset == offset)
			return is_set(f, i);
	return false;
}

#define GIVEN(f, field) field_given(f, offsetof(struct fault, field))

static const struct fault_key *key_at(size_t offset)
{
	for (unsigned i = 0; i < fault_n_keys; i++)
		if (fault_keys[i].offset == offset)
			return &fault_keys[i];
	return NULL;
}

#define KEY(field) key_at(offsetof(struct fault, field))

/* What the kernel will see: iproute2 turns "Xms" into nanoseconds by truncation. */
static int64_t ms_to_ns(double ms)
{
	return (int64_t)(ms * 1000000.);
}

static int latency_validate(const struct fault *f, struct diag *d)
{
	if (ms_to_ns(f->jitter_ms) > 0 && ms_to_ns(f->delay_ms) <= 0)
		return diag_add(d, -EINVAL,
				"jitter: needs ms > 0 (netem varies the delay; with no delay there "
				"is nothing to vary)");
	/* iproute2 refuses "distribution" unless delay and jitter are both non-zero: the table
	 * only shapes the jitter. */
	if (f->distribution != FAULT_DIST_UNIFORM && ms_to_ns(f->jitter_ms) <= 0)
		return diag_add(d, -EINVAL,
				"distribution: '%s' needs jitter > 0 (the table shapes the jitter; "
				"iproute2 refuses a distribution without it)",
				dist_choices[f->distribution]);
	/* iproute2 takes the delay correlation only after a jitter, and netem applies it to the
	 * random jitter. */
	if (f->correlation > 0 && ms_to_ns(f->jitter_ms) <= 0)
		return diag_add(d, -EINVAL,
				"correlation: needs jitter > 0 (netem correlates the random part of "
				"the delay)");
	return 0;
}

static int loss_validate(const struct fault *f, struct diag *d)
{
	if (f->loss_model == FAULT_LOSS_RANDOM) {
		static const size_t ge_fields[] = { offsetof(struct fault, ge_p),
			offsetof(struct fault, ge_r), offsetof(struct fault, ge_bad_loss),
			offsetof(struct fault, ge_good_loss) };

		if (!GIVEN(f, percent))
			return diag_add(d, -EINVAL, "fault 'loss' needs 'percent' (%s)",
					KEY(percent)->help);
		for (size_t i = 0; i < ELEMENTSOF(ge_fields); i++)
			if (field_given(f, ge_fields[i]))
				return diag_add(d, -EINVAL, "%s: applies only with model=gemodel",
						key_at(ge_fields[i])->name);
		return 0;
	}
	if (GIVEN(f, percent) || GIVEN(f, correlation))
		return diag_add(d, -EINVAL,
				"%s: does not apply with model=gemodel (the Gilbert-Elliott model "
				"takes ge_p, ge_r, ge_bad_loss, ge_good_loss)",
				GIVEN(f, percent) ? "percent" : "correlation");
	if (!GIVEN(f, ge_p))
		return diag_add(d, -EINVAL, "fault 'loss' with model=gemodel needs 'ge_p' (%s)",
				KEY(ge_p)->help);
	return 0;
}

static int reorder_validate(const struct fault *f, struct diag *d)
{
	char v[32];

	/* netem reorders by sending some packets at once while the rest wait out the delay:
	 * without a delay nothing is reordered, and iproute2 refuses "reorder" without "delay".
	 * A reorder fault therefore carries its own delay (ms), so it is complete on its own
	 * and never depends on a latency fault being present. */
	if (ms_to_ns(f->delay_ms) <= 0)
		return diag_add(d, -EINVAL,
				"ms: '%s' is too small for reorder (needs ms > 0: netem reorders by "
				"sending some packets ahead of delayed ones)",
				parse_format_double(f->delay_ms, v, sizeof(v)));
	/* iproute2: "gap specified without reorder probability" is an error; the probability
	 * counts as given only if it is not 0 once scaled. */
	if (GIVEN(f, gap) && netem_percent_to_u32(f->percent) == 0)
		return diag_add(d, -EINVAL,
				"gap: needs percent > 0 (a gap without a reorder probability does "
				"nothing; iproute2 refuses it)");
	return 0;
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
				kinds[f->kind].name);
	if ((f->mode != FAULT_MODE_DROP && f->mode != FAULT_MODE_REJECT) ||
			(f->connections != FAULT_CONN_ALL && f->connections != FAULT_CONN_NEW &&
					f->connections != FAULT_CONN_ESTABLISHED))
		return diag_add(d, -EINVAL, "fault '%s': invalid mode or connections",
				kinds[f->kind].name);

	/* The struct may come from elsewhere than fault_set (the journal): check it all. */
	for (unsigned i = 0; i < fault_n_keys; i++) {
		const struct fault_key *k = &fault_keys[i];
		double x;

		if (!is_set(f, i)) {
			if (k->required & K(f->kind))
				return diag_add(d, -EINVAL, "fault '%s' needs '%s' (%s)",
						kinds[f->kind].name, k->name, k->help);
			continue;
		}
		if (!(k->kinds & K(f->kind)))
			return diag_add(d, -EINVAL, "key '%s' does not apply to fault '%s'",
					k->name, kinds[f->kind].name);
		if (k->type == FAULT_KEY_ENUM)
			continue;
		x = key_value(f, k);
		if (!(x >= k->min && x <= k->max))
			return diag_add(d, -EINVAL, "%s: '%s' is out of range (%s)", k->name,
					parse_format_double(x, v, sizeof(v)),
					range_text(k, range, sizeof(range)));
	}
	if (f->set_mask & ~(BIT(fault_n_keys) - 1))
		return diag_add(d, -EINVAL, "fault '%s': unknown keys set", kinds[f->kind].name);
	return kinds[f->kind].validate ? kinds[f->kind].validate(f, d) : 0;
}

static char *key_format(const struct fault *f, const struct fault_key *k, char *buf, size_t n)
{
	switch (k->type) {
	case FAULT_KEY_DOUBLE:
	case FAULT_KEY_PERCENT:
		return parse_format_double(key_value(f, k), buf, n);
	case FAULT_KEY_U64:
		snprintf(buf, n, "%" PRIu64, key_u64(f, k));
		return buf;
	case FAULT_KEY_DURATION:
		return parse_format_duration(key_u64(f, k), buf, n);
	case FAULT_KEY_ENUM: {
		unsigned i = (unsigned)key_value(f, k), count = 0;

		while (k->choices[count])
			count++;
		return strcpy_cut(buf, n, i < count ? k->choices[i] : "?");
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
		r = cb(fault_keys[i].name, key_format(f, &fault_keys[i], value, sizeof(value)),
				userdata);
		if (r < 0)
			return r;
	}
	return 0;
}

struct param_put {
	struct strbuf *sb;
	bool first;
};

static int param_append(const char *key, const char *value, void *userdata)
{
	struct param_put *p = userdata;

	if (!p->first)
		strbuf_putc(p->sb, ' ');
	p->first = false;
	strbuf_puts(p->sb, key);
	strbuf_putc(p->sb, '=');
	strbuf_puts(p->sb, value);
	return 0;
}

/* Without snprintf(): the parameters of every inject are formatted three times (journal,
 * audit line, reply). */
void fault_put_params(const struct fault *fault, struct strbuf *sb)
{
	fault_foreach_param(fault, param_append, &(struct param_put){ .sb = sb, .first = true });
}

void fault_format_params(const struct fault *fault, char *buf, size_t n)
{
	struct strbuf sb;

	strbuf_init(&sb, buf, n);
	fault_put_params(fault, &sb);
}

static void latency_describe(const struct fault *f, struct strbuf *t)
{
	char a[32];

	strbuf_printf(t, "%sms", parse_format_double(f->delay_ms, a, sizeof(a)));
	if (f->jitter_ms > 0)
		strbuf_printf(t, " ±%sms", parse_format_double(f->jitter_ms, a, sizeof(a)));
	if (f->distribution != FAULT_DIST_UNIFORM && (unsigned)f->distribution < _FAULT_DIST_MAX)
		strbuf_printf(t, " %s", dist_choices[f->distribution]);
	if (f->correlation > 0)
		strbuf_printf(t, " %s%%", parse_format_double(f->correlation, a, sizeof(a)));
}

/* "5% loss, 25% correlated" */
static void percent_describe(const struct fault *f, struct strbuf *t)
{
	char a[32];

	strbuf_printf(t, "%s%% %s", parse_format_double(f->percent, a, sizeof(a)),
			kinds[f->kind].name);
	if (f->correlation > 0)
		strbuf_printf(t, ", %s%% correlated", parse_format_double(f->correlation, a, sizeof(a)));
}

static void loss_describe(const struct fault *f, struct strbuf *t)
{
	char a[32], b[32], c[32], e[32];

	if (f->loss_model != FAULT_LOSS_GEMODEL) {
		percent_describe(f, t);
		return;
	}
	strbuf_printf(t, "burst loss (Gilbert-Elliott p=%s%% r=%s%% bad=%s%% good=%s%%)",
			parse_format_double(f->ge_p, a, sizeof(a)),
			parse_format_double(GIVEN(f, ge_r) ? f->ge_r : 100 - f->ge_p, b, sizeof(b)),
			parse_format_double(f->ge_bad_loss, c, sizeof(c)),
			parse_format_double(f->ge_good_loss, e, sizeof(e)));
}

static void reorder_describe(const struct fault *f, struct strbuf *t)
{
	char a[32];

	percent_describe(f, t);
	if (f->gap > 1)
		strbuf_printf(t, ", gap %" PRIu32, f->gap);
	strbuf_printf(t, ", others delayed %sms", parse_format_double(f->delay_ms, a, sizeof(a)));
}

static void rate_describe(const struct fault *f, struct strbuf *t)
{
	strbuf_printf(t, "%" PRIu64 "kbit", f->rate_kbit);
}

static void partition_describe(const struct fault *f, struct strbuf *t)
{
	strbuf_printf(t, "partition");
	if (f->mode == FAULT_MODE_REJECT)
		strbuf_printf(t, ", rejecting");
	if (f->connections == FAULT_CONN_NEW)
		strbuf_printf(t, ", new connections only");
	else if (f->connections == FAULT_CONN_ESTABLISHED)
		strbuf_printf(t, ", connections open at its start only");
}

char *fault_describe(const struct fault *f, char *buf, size_t n)
{
	struct strbuf t;
	char a[32];

	if (!buf || n == 0)
		return buf;
	strbuf_init(&t, buf, n);
	if (!f || (unsigned)f->kind >= _FAULT_KIND_MAX)
		return buf;
	kinds[f->kind].describe(f, &t);
	if (fault_flows(f) < FLOWSEL_ALL)
		strbuf_printf(&t, " on %s%% of flows",
				parse_format_double(fault_flows(f) * 100. / FLOWSEL_ALL, a, sizeof(a)));
	return buf;
}

bool fault_uses_netem(const struct fault *f)
{
	return f && (unsigned)f->kind < _FAULT_KIND_MAX && kinds[f->kind].merge_netem;
}

uint32_t fault_flows(const struct fault *f)
{
	return GIVEN(f, flows_permyriad) && f->flows_permyriad ? f->flows_permyriad : FLOWSEL_ALL;
}

/* Each function below encodes what iproute2's q_netem.c sends for the same tc words:
 * percentages via netem_percent_to_u32 (rint(p / 100 * UINT32_MAX)), times as truncated
 * nanoseconds, rates as truncated bytes per second. */

static void latency_merge(const struct fault *f, struct netem_config *c)
{
	/* delay MS [JITTER [CORRELATION]] distribution DIST */
	c->latency_ns = ms_to_ns(f->delay_ms);
	c->jitter_ns = ms_to_ns(f->jitter_ms);
	c->delay_corr = netem_percent_to_u32(f->correlation);
	c->dist = f->distribution;
}

static void reorder_merge(const struct fault *f, struct netem_config *c)
{
	/* delay MS reorder PERCENT [CORRELATION] [gap N]; fault_merge_netem checked that a
	 * latency fault has the same delay */
	c->latency_ns = ms_to_ns(f->delay_ms);
	c->reorder = netem_percent_to_u32(f->percent);
	c->reorder_corr = netem_percent_to_u32(f->correlation);
	/* iproute2 turns a missing gap into 1 when there is a reorder probability; with gap 0
	 * the kernel would never reorder. */
	if (c->reorder)
		c->gap = GIVEN(f, gap) ? f->gap : 1;
}

static void loss_merge(const struct fault *f, struct netem_config *c)
{
	if (f->loss_model == FAULT_LOSS_GEMODEL) {
		/* loss gemodel P [R [1-H [1-K]]]; R defaults to 1 - P, computed the way iproute2
		 * does; the kernel takes h, iproute2 sends UINT32_MAX - (1-h). */
		c->gemodel = true;
		c->ge_p = netem_percent_to_u32(f->ge_p);
		c->ge_r = GIVEN(f, ge_r) ? netem_percent_to_u32(f->ge_r) :
					   netem_fraction_to_u32(1. - f->ge_p / 100.);
		c->ge_h = UINT32_MAX - netem_percent_to_u32(f->ge_bad_loss);
		c->ge_k1 = netem_percent_to_u32(f->ge_good_loss);
		return;
	}
	/* loss random PERCENT [CORRELATION] */
	c->loss = netem_percent_to_u32(f->percent);
	c->loss_corr = netem_percent_to_u32(f->correlation);
}

static void corrupt_merge(const struct fault *f, struct netem_config *c)
{
	c->corrupt = netem_percent_to_u32(f->percent);
	c->corrupt_corr = netem_percent_to_u32(f->correlation);
}

static void duplicate_merge(const struct fault *f, struct netem_config *c)
{
	c->duplicate = netem_percent_to_u32(f->percent);
	c->dup_corr = netem_percent_to_u32(f->correlation);
}

static void rate_merge(const struct fault *f, struct netem_config *c)
{
	/* rate Xkbit: get_rate64 computes X * 1000 / 8 in double and truncates. */
	c->rate_bytes_per_sec = (uint64_t)((double)f->rate_kbit * 1000. / 8.);
}

int fault_merge_netem(const struct fault *const *faults, unsigned n, uint64_t link_rate_bps,
		struct netem_config *ret, struct diag *d)
{
	const struct fault *by_kind[_FAULT_KIND_MAX] = {};
	const struct fault *f, *lat, *reo;
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
					kinds[f->kind].name);
		/* one flow selection per edge (the caller refuses a second share first) */
		if (fault_flows(f) != fault_flows(faults[0]))
			return diag_add(d, -EINVAL, "faults on one edge and direction select "
					"different shares of flows");
		if (by_kind[f->kind])
			return diag_add(d, -EEXIST,
					"two '%s' faults on one edge and direction cannot be "
					"merged (replace the first one instead)",
					kinds[f->kind].name);
		by_kind[f->kind] = f;
	}

	/* netem has one delay per qdisc: the reorder's ms must be the latency's. */
	lat = by_kind[FAULT_LATENCY];
	reo = by_kind[FAULT_REORDER];
	if (lat && reo && lat->delay_ms != reo->delay_ms) {
		char a[32], b[32];

		return diag_add(d, -EINVAL,
				"reorder ms=%s and latency ms=%s differ: netem has one delay per "
				"edge and direction (give reorder ms=%s)",
				parse_format_double(reo->delay_ms, a, sizeof(a)),
				parse_format_double(lat->delay_ms, b, sizeof(b)), b);
	}
	for (unsigned k = 0; k < _FAULT_KIND_MAX; k++)
		if (by_kind[k])
			kinds[k].merge_netem(by_kind[k], &c);

	c.limit = netem_limit_for(c.latency_ns, c.jitter_ns, link_rate_bps);
	/* A rate fault's bytes queue in a shaper sized from its rate (netem_shaper_for). */
	c.rate_queue_bytes = netem_rate_queue_for(c.latency_ns, c.jitter_ns, c.rate_bytes_per_sec);
	*ret = c;
	return 0;
}

static const struct fault_kind_ops kinds[_FAULT_KIND_MAX] = {
	[FAULT_LATENCY] = { .name = "latency", .main_key = "ms",
		.help = "delay every packet by ms, optionally with jitter",
		.validate = latency_validate, .describe = latency_describe,
		.merge_netem = latency_merge },
	[FAULT_LOSS] = { .name = "loss", .main_key = "percent",
		.help = "drop packets at random (percent) or in bursts (model=gemodel)",
		.validate = loss_validate, .describe = loss_describe, .merge_netem = loss_merge },
	[FAULT_CORRUPT] = { .name = "corrupt", .main_key = "percent",
		.help = "flip a random bit in a percentage of packets",
		.describe = percent_describe, .merge_netem = corrupt_merge },
	[FAULT_DUPLICATE] = { .name = "duplicate", .main_key = "percent",
		.help = "send a percentage of packets twice",
		.describe = percent_describe, .merge_netem = duplicate_merge },
	[FAULT_REORDER] = { .name = "reorder", .main_key = "percent",
		.help = "delay packets by ms but send a share of them at once, ahead",
		.validate = reorder_validate, .describe = reorder_describe,
		.merge_netem = reorder_merge },
	[FAULT_RATE] = { .name = "rate", .main_key = "kbit",
		.help = "limit the bandwidth to kbit, queueing at most the fault's delay (or 50 ms) "
			"at that rate",
		.describe = rate_describe, .merge_netem = rate_merge },
	/* dropped by nftables, not netem */
	[FAULT_PARTITION] = { .name = "partition", .main_key = "flows",
		.help = "drop or reject all traffic (no netem)", .describe = partition_describe },
};
