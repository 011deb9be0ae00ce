/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "metrics.h"

/* Probe latencies: from a local TCP connect (well under 1 ms) to an HTTP probe's timeout.
 * Written as the parsers canonicalise them: OpenMetrics wants le in one spelling. */
static const struct {
	const char *le;
	uint64_t usec;
} latency_buckets[] = {
	{ "0.001", 1000 },     { "0.0025", 2500 },   { "0.005", 5000 },    { "0.01", 10000 },
	{ "0.025", 25000 },    { "0.05", 50000 },    { "0.1", 100000 },    { "0.25", 250000 },
	{ "0.5", 500000 },     { "1.0", 1000000 },   { "2.5", 2500000 },   { "5.0", 5000000 },
	{ "10.0", 10000000 },
};

static const char *const outcome_names[] = {
	[REPORT_HELD] = "held",
	[REPORT_VIOLATED] = "violated",
	[REPORT_ABORTED] = "aborted",
};

struct out {
	FILE *f;
	enum metrics_format format;
};

/* OpenMetrics names a counter's family without _total and its sample with it; the
 * Prometheus text format names both with it. */
static void family(struct out *o, const char *name, const char *type, const char *unit,
		const char *help)
{
	bool counter = streq(type, "counter");

	fprintf(o->f, "# HELP %s%s %s\n", name,
			counter && o->format == METRICS_PROMETHEUS ? "_total" : "", help);
	fprintf(o->f, "# TYPE %s%s %s\n", name,
			counter && o->format == METRICS_PROMETHEUS ? "_total" : "", type);
	if (unit && o->format == METRICS_OPENMETRICS)
		fprintf(o->f, "# UNIT %s %s\n", name, unit);
}

static void label_value(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* labels: NULL-terminated name, value pairs */
static void sample_start(struct out *o, const char *name, const char *suffix,
		const char *const *labels)
{
	fprintf(o->f, "%s%s", name, suffix);
	for (unsigned i = 0; labels && labels[i]; i += 2) {
		fprintf(o->f, "%s%s=", i ? "," : "{", labels[i]);
		label_value(o->f, labels[i + 1]);
	}
	if (labels && labels[0])
		fputc('}', o->f);
}

static void sample_u64(struct out *o, const char *name, const char *suffix,
		const char *const *labels, uint64_t v)
{
	sample_start(o, name, suffix, labels);
	fprintf(o->f, " %" PRIu64 "\n", v);
}

static void sample_seconds(struct out *o, const char *name, const char *suffix,
		const char *const *labels, uint64_t usec)
{
	sample_start(o, name, suffix, labels);
	fprintf(o->f, " %" PRIu64 ".%06" PRIu64 "\n", usec / 1000000, usec % 1000000);
}

static unsigned count_faults(const struct metrics_state *st, const char *edge, int kind)
{
	unsigned n = 0;

	for (unsigned i = 0; i < st->n_faults; i++)
		n += streq(st->faults[i].edge, edge) && (int)st->faults[i].kind == kind;
	return n;
}

/* One sample per active fault: what it affected (affected), or whether it is idle. */
static void render_per_fault(struct out *o, const struct metrics_state *st, bool affected)
{
	for (unsigned i = 0; i < st->n_faults; i++) {
		const struct metrics_fault *mf = &st->faults[i];
		char id[24];
		snprintf(id, sizeof(id), "%" PRIu64, mf->id);
		const char *const l[] = { "id", id, "edge", mf->edge, "kind",
			fault_kind_to_string(mf->kind), affected ? "affected" : NULL,
			mf->affected ? mf->affected : "", NULL };
		if (affected)
			sample_u64(o, "chaosd_fault_affected_packets", "_total", l,
					mf->affected_packets);
		else
			sample_u64(o, "chaosd_fault_no_traffic", "", l, mf->idle);
	}
}

static void render_faults(struct out *o, const struct metrics_state *st)
{
	const struct metrics_counters *c = st->counters;

	family(o, "chaosd_faults_active", "gauge", NULL,
			"Active faults by edge and kind (an edge holds one fault per kind)");
	for (unsigned e = 0; st->config && e < st->config->n_edges; e++)
		for (int k = 0; k < _FAULT_KIND_MAX; k++) {
			const char *const l[] = { "edge", st->config->edges[e].name, "kind",
				fault_kind_to_string(k), NULL };
			sample_u64(o, "chaosd_faults_active", "", l,
					count_faults(st, st->config->edges[e].name, k));
		}
	/* A fault outlives its edge only until the reload that removed it reverts it. */
	for (unsigned i = 0; i < st->n_faults; i++) {
		const char *const l[] = { "edge", st->faults[i].edge, "kind",
			fault_kind_to_string(st->faults[i].kind), NULL };
		if (!st->config || config_find_edge(st->config, st->faults[i].edge))
			continue;
		sample_u64(o, "chaosd_faults_active", "", l, 1);
	}

	family(o, "chaosd_fault_affected_packets", "counter", NULL,
			"Packets each active fault affected since it was applied, from the kernel's "
			"counters of its objects (label affected: what it did to them)");
	render_per_fault(o, st, true);
	family(o, "chaosd_fault_no_traffic", "gauge", NULL,
			"1 while an active fault has matched no packet for 30 s: check the "
			"destination, the route and the address family");
	render_per_fault(o, st, false);

	family(o, "chaosd_faults_applied", "counter", NULL,
			"Faults the kernel confirmed: new, changed in place, re-applied after a "
			"restart or a route change");
	for (int k = 0; k < _FAULT_KIND_MAX; k++) {
		const char *const l[] = { "kind", fault_kind_to_string(k), NULL };
		sample_u64(o, "chaosd_faults_applied", "_total", l, c->applied[k]);
	}
	family(o, "chaosd_faults_reverted", "counter", NULL,
			"Faults removed: revert, expiry, lease, kill switch, stop, interface deleted");
	for (int k = 0; k < _FAULT_KIND_MAX; k++) {
		const char *const l[] = { "kind", fault_kind_to_string(k), NULL };
		sample_u64(o, "chaosd_faults_reverted", "_total", l, c->reverted[k]);
	}
	family(o, "chaosd_faults_failed", "counter", NULL,
			"Applies and reverts the kernel refused (a failed revert is retried)");
	for (int k = 0; k < _FAULT_KIND_MAX; k++) {
		const char *const la[] = { "kind", fault_kind_to_string(k), "operation", "apply",
			NULL };
		const char *const lr[] = { "kind", fault_kind_to_string(k), "operation", "revert",
			NULL };
		sample_u64(o, "chaosd_faults_failed", "_total", la, c->apply_failed[k]);
		sample_u64(o, "chaosd_faults_failed", "_total", lr, c->revert_failed[k]);
	}
	family(o, "chaosd_last_revert_duration_seconds", "gauge", "seconds",
			"How long the last revert took (one fault, or everything at once on kill "
			"and stop)");
	if (c->have_last_revert)
		sample_seconds(o, "chaosd_last_revert_duration_seconds", "", NULL,
				c->last_revert_usec);
}

static bool kill_engaged(const struct metrics_state *st, const char *scope)
{
	for (unsigned i = 0; i < st->n_kill_scopes; i++)
		if (streq(st->kill_scopes[i], scope))
			return true;
	return false;
}

static void render_kill(struct out *o, const struct metrics_state *st)
{
	const char *const all[] = { "scope", "*", NULL };

	family(o, "chaosd_kill_switch_engaged", "gauge", NULL,
			"1 while a kill switch refuses injections: scope \"*\" for every edge, else "
			"the edge");
	sample_u64(o, "chaosd_kill_switch_engaged", "", all, kill_engaged(st, ""));
	for (unsigned e = 0; st->config && e < st->config->n_edges; e++) {
		const char *const l[] = { "scope", st->config->edges[e].name, NULL };
		sample_u64(o, "chaosd_kill_switch_engaged", "", l,
				kill_engaged(st, st->config->edges[e].name));
	}
	family(o, "chaosd_kill_switch_activations", "counter", NULL,
			"Times a kill switch was pulled (chaosctl kill)");
	sample_u64(o, "chaosd_kill_switch_activations", "_total", NULL,
			st->counters->kill_activations);
	family(o, "chaosd_degraded", "gauge", NULL,
			"1 while chaosd cannot write its state directory and refuses new faults");
	sample_u64(o, "chaosd_degraded", "", NULL, st->degraded ? 1 : 0);
}

static void render_runs(struct out *o, const struct metrics_state *st)
{
	family(o, "chaosd_scenario_runs", "counter", NULL,
			"Scenario runs that ended, by outcome: held, violated (the hypothesis did "
			"not hold), aborted");
	for (unsigned i = REPORT_HELD; i < ELEMENTSOF(outcome_names); i++) {
		const char *const l[] = { "outcome", outcome_names[i], NULL };
		sample_u64(o, "chaosd_scenario_runs", "_total", l, st->runs_ended[i]);
	}
	family(o, "chaosd_scenario_runs_running", "gauge", NULL, "Scenario runs in progress");
	sample_u64(o, "chaosd_scenario_runs_running", "", NULL, st->n_running);

	family(o, "chaosd_probe_latency_seconds", "histogram", "seconds",
			"Latency of every check of the running scenarios' probes (a failed check "
			"counts with the time it took)");
	for (unsigned r = 0; r < st->n_running; r++) {
		const struct report *rep = st->running[r];

		for (unsigned p = 0; p < rep->n_probes; p++) {
			const struct report_probe *rp = &rep->probes[p];
			uint64_t n[ELEMENTSOF(latency_buckets)] = {}, sum = 0;

			for (unsigned i = 0; i < rp->n_samples; i++) {
				uint64_t lat = rp->samples[i].latency_usec;
				sum += lat;
				for (unsigned b = 0; b < ELEMENTSOF(latency_buckets); b++)
					n[b] += lat <= latency_buckets[b].usec;
			}
			for (unsigned b = 0; b < ELEMENTSOF(latency_buckets); b++) {
				const char *const l[] = { "run", rep->id, "scenario", rep->scenario,
					"probe", rp->name, "le", latency_buckets[b].le, NULL };
				sample_u64(o, "chaosd_probe_latency_seconds", "_bucket", l, n[b]);
			}
			const char *const inf[] = { "run", rep->id, "scenario", rep->scenario,
				"probe", rp->name, "le", "+Inf", NULL };
			const char *const l[] = { "run", rep->id, "scenario", rep->scenario, "probe",
				rp->name, NULL };
			sample_u64(o, "chaosd_probe_latency_seconds", "_bucket", inf, rp->n_samples);
			sample_u64(o, "chaosd_probe_latency_seconds", "_count", l, rp->n_samples);
			sample_seconds(o, "chaosd_probe_latency_seconds", "_sum", l, sum);
		}
	}
	family(o, "chaosd_probe_failures", "counter", NULL,
			"Failed checks of the running scenarios' probes");
	for (unsigned r = 0; r < st->n_running; r++) {
		const struct report *rep = st->running[r];

		for (unsigned p = 0; p < rep->n_probes; p++) {
			const struct report_probe *rp = &rep->probes[p];
			const char *const l[] = { "run", rep->id, "scenario", rep->scenario, "probe",
				rp->name, NULL };
			uint64_t failed = 0;

			for (unsigned i = 0; i < rp->n_samples; i++)
				failed += !rp->samples[i].ok;
			sample_u64(o, "chaosd_probe_failures", "_total", l, failed);
		}
	}
}

int metrics_render(const struct metrics_state *st, enum metrics_format format, char **ret,
		size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	struct out o = { .format = format };

	o.f = open_memstream(&buf, &len);
	if (!o.f)
		return -ENOMEM;
	render_faults(&o, st);
	render_kill(&o, st);
	render_runs(&o, st);
	if (format == METRICS_OPENMETRICS)
		fputs("# EOF\n", o.f);
	if (fclose(o.f) != 0 || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

int metrics_write_file(const char *path, const char *text, size_t len)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r = 0;

	/* node_exporter reads *.prom only: the temporary name is never picked up half written. */
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fchmod(fd, 0644) < 0)
		r = negative_errno();
	for (size_t off = 0; r >= 0 && off < len;) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			r = negative_errno();
			break;
		}
		off += (size_t)n;
	}
	if (r >= 0 && rename(tmp, path) < 0)
		r = negative_errno();
	if (r < 0)
		(void)unlink(tmp);
	return r;
}
