/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the fault model. Input: lines; a line without '=' starts a fault
 * of that kind, "key=value" lines set its keys. Every fault is validated, described, written
 * out with fault_foreach_param and read back (which must give the same fault), and the valid
 * ones are merged into one netem configuration. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_INPUT_MAX 4096
#define FUZZ_FAULTS_MAX 8

struct copy {
	struct fault f;
	char text[1024];
	size_t len;
};

static int copy_param(const char *key, const char *value, void *userdata)
{
	struct copy *c = userdata;
	int w;

	if (fault_set(&c->f, key, value, NULL) < 0)
		abort(); /* canonical text must be accepted */
	w = snprintf(c->text + c->len, sizeof(c->text) - c->len, "%s=%s\n", key, value);
	if (w > 0)
		c->len = (size_t)w + c->len < sizeof(c->text) ? c->len + (size_t)w : c->len;
	return 0;
}

static bool same_fault(const struct fault *a, const struct fault *b)
{
	return a->kind == b->kind && a->direction == b->direction &&
	       a->duration_usec == b->duration_usec && a->delay_ms == b->delay_ms &&
	       a->jitter_ms == b->jitter_ms && a->distribution == b->distribution &&
	       a->percent == b->percent && a->correlation == b->correlation &&
	       a->loss_model == b->loss_model && a->ge_p == b->ge_p && a->ge_r == b->ge_r &&
	       a->ge_bad_loss == b->ge_bad_loss && a->ge_good_loss == b->ge_good_loss &&
	       a->gap == b->gap && a->rate_kbit == b->rate_kbit &&
	       a->flows_permyriad == b->flows_permyriad && a->mode == b->mode &&
	       a->connections == b->connections && a->set_mask == b->set_mask;
}

static void check_fault(const struct fault *f)
{
	struct copy once = {}, twice = {};
	char buf[256];
	struct diag d;
	int r;

	diag_init(&d);
	r = fault_validate(f, &d);
	if (r < 0 && d.count == 0)
		abort();
	fault_describe(f, buf, sizeof(buf));
	if (strlen(buf) >= sizeof(buf))
		abort();
	fault_describe(f, buf, 5);

	/* fault_set(fault_foreach_param(f)) == f, and the text is a fixed point */
	fault_init(&once.f, f->kind);
	if (fault_foreach_param(f, copy_param, &once) < 0 || !same_fault(f, &once.f))
		abort();
	fault_init(&twice.f, f->kind);
	if (fault_foreach_param(&once.f, copy_param, &twice) < 0 || !streq(once.text, twice.text))
		abort();
	if ((fault_validate(&once.f, NULL) < 0) != (r < 0))
		abort();
}

static void check_merge(const struct fault *const *v, unsigned n)
{
	struct netem_config c;
	struct diag d;
	int r;

	diag_init(&d);
	r = fault_merge_netem(v, n, 10000000000ULL, &c, &d);
	if (r < 0) {
		if (d.count == 0)
			abort();
		return;
	}
	/* netem's 1000 floor, or with a rate limit a queue sized from that rate (at least 20) */
	if (c.limit < (c.rate_bytes_per_sec ? 20 : 1000) || (c.gap && !c.reorder) || (c.reorder && !c.gap) ||
			(c.reorder && c.latency_ns <= 0) || c.latency_ns < 0 || c.jitter_ns < 0 ||
			(c.gemodel && (c.loss || c.loss_corr)) ||
			(c.dist != FAULT_DIST_UNIFORM && c.jitter_ns <= 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fault faults[FUZZ_FAULTS_MAX];
	const struct fault *valid[FUZZ_FAULTS_MAX];
	unsigned n = 0, n_valid = 0;
	char *text, *line, *save = NULL;

	if (size > FUZZ_INPUT_MAX)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		struct diag d;
		enum fault_kind kind;

		if (!eq) {
			if (n >= FUZZ_FAULTS_MAX || fault_kind_from_string(line, &kind) < 0)
				break;
			fault_init(&faults[n++], kind);
			continue;
		}
		if (n == 0)
			break;
		*eq = '\0';
		fault_key_find(line);
		diag_init(&d);
		if (fault_set(&faults[n - 1], line, eq + 1, &d) < 0 && d.count == 0)
			abort();
	}

	for (unsigned i = 0; i < n; i++) {
		check_fault(&faults[i]);
		if (fault_validate(&faults[i], NULL) == 0 && fault_uses_netem(&faults[i]))
			valid[n_valid++] = &faults[i];
	}
	if (n > 0) {
		const struct fault *all[FUZZ_FAULTS_MAX];

		for (unsigned i = 0; i < n; i++)
			all[i] = &faults[i];
		check_merge(all, n);
	}
	check_merge(valid, n_valid);

	free(text);
	return 0;
}
