/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "parse.h"
#include "fileio.h"
#include "report.h"
#include "timeutil.h"

static const char *const phase_names[_REPORT_PHASE_MAX] = {
	"steady-state-before", "method", "rollback", "steady-state-after",
};
static const char *const outcome_names[] = { "running", "held", "violated", "aborted" };

const char *report_phase_to_string(enum report_phase p)
{
	return (unsigned)p < _REPORT_PHASE_MAX ? phase_names[p] : "?";
}

const char *report_outcome_to_string(enum report_outcome o)
{
	return (unsigned)o < ELEMENTSOF(outcome_names) ? outcome_names[o] : "?";
}

int report_outcome_exit_code(enum report_outcome o)
{
	switch (o) {
	case REPORT_HELD:
		return 0;
	case REPORT_VIOLATED:
		return 1;
	case REPORT_ABORTED:
		return 2;
	default:
		return 3;
	}
}

int report_new(const char *id, unsigned n_probes, struct report **ret)
{
	struct report *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	if (n_probes) {
		r->probes = calloc(n_probes, sizeof(*r->probes));
		if (!r->probes) {
			free(r);
			return -ENOMEM;
		}
		r->n_probes = n_probes;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	for (unsigned i = 0; i < _REPORT_PHASE_MAX; i++)
		r->phase_start_usec[i] = UINT64_MAX;
	r->hypothesis_before = r->hypothesis_after = -1;
	*ret = r;
	return 0;
}

struct report *report_free(struct report *r)
{
	if (!r)
		return NULL;
	for (unsigned i = 0; i < r->n_probes; i++)
		free(r->probes[i].samples);
	free(r->probes);
	free(r->events);
	free(r->bands);
	free(r->steps);
	free(r);
	return NULL;
}

int report_steps_init(struct report *r, unsigned n)
{
	struct report_step *a = calloc(MAX(n, 1u), sizeof(*a));

	if (!a)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		a[i].start_usec = a[i].end_usec = a[i].recovery_usec = UINT64_MAX;
	free(r->steps);
	r->steps = a;
	r->n_steps = n;
	return 0;
}

static int grow(void **array, unsigned n, unsigned *cap, size_t size)
{
	void *a;
	unsigned c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 16;
	a = reallocarray(*array, c, size);
	if (!a)
		return -ENOMEM;
	*array = a;
	*cap = c;
	return 0;
}

int report_event_add(struct report *r, uint64_t t_usec, const char *kind, const char *step,
		const char *edge, const char *fault, const char *fmt, ...)
{
	struct report_event *e;
	va_list ap;
	int k;

	k = grow((void **)&r->events, r->n_events, &r->cap_events, sizeof(*r->events));
	if (k < 0)
		return k;
	e = &r->events[r->n_events++];
	memset(e, 0, sizeof(*e));
	e->t_usec = t_usec;
	e->realtime_usec = now_usec(CLOCK_REALTIME);
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->step, sizeof(e->step), "%s", step ? step : "");
	snprintf(e->edge, sizeof(e->edge), "%s", edge ? edge : "");
	snprintf(e->fault, sizeof(e->fault), "%s", fault ? fault : "");
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return (int)r->n_events - 1;
}

int report_sample_add(struct report *r, unsigned probe, uint64_t t_usec, bool ok,
		uint64_t latency_usec, enum report_phase phase)
{
	struct report_probe *p;
	int k;

	if (probe >= r->n_probes)
		return -EINVAL;
	p = &r->probes[probe];
	k = grow((void **)&p->samples, p->n_samples, &p->cap_samples, sizeof(*p->samples));
	if (k < 0)
		return k;
	p->samples[p->n_samples++] = (struct report_sample){ .t_usec = t_usec, .ok = ok,
		.latency_usec = (uint32_t)MIN(latency_usec, UINT32_MAX), .phase = (uint8_t)phase };
	return 0;
}

int report_band_open(struct report *r, const char *step, const char *label, uint64_t t_usec)
{
	struct report_band *b;
	int k;

	k = grow((void **)&r->bands, r->n_bands, &r->cap_bands, sizeof(*r->bands));
	if (k < 0)
		return k;
	b = &r->bands[r->n_bands++];
	memset(b, 0, sizeof(*b));
	snprintf(b->step, sizeof(b->step), "%s", step);
	snprintf(b->label, sizeof(b->label), "%s", label);
	b->from_usec = t_usec;
	return (int)r->n_bands - 1;
}

void report_band_close(struct report *r, int band, uint64_t t_usec)
{
	if (band >= 0 && (unsigned)band < r->n_bands && !r->bands[band].to_usec)
		r->bands[band].to_usec = MAX(t_usec, r->bands[band].from_usec + 1);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static uint64_t percentile(const uint32_t *v, unsigned n, unsigned pct)
{
	unsigned rank;

	if (n == 0)
		return 0;
	rank = (pct * n + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

void report_summarize(const struct report *r, unsigned probe, int phase, uint64_t from_usec,
		uint64_t to_usec, struct report_summary *ret)
{
	const struct report_probe *p = &r->probes[probe];
	_cleanup_free_ uint32_t *lat = NULL;
	unsigned n = 0, ok = 0;

	memset(ret, 0, sizeof(*ret));
	lat = calloc(p->n_samples + 1, sizeof(*lat));
	for (unsigned i = 0; i < p->n_samples; i++) {
		const struct report_sample *s = &p->samples[i];

		if ((phase >= 0 && s->phase != phase) || s->t_usec < from_usec ||
				s->t_usec >= to_usec)
			continue;
		ret->count++;
		ok += s->ok;
		if (lat)
			lat[n++] = s->latency_usec;
	}
	if (!ret->count)
		return;
	ret->success_rate = 100.0 * ok / ret->count;
	qsort(lat, n, sizeof(*lat), u32_cmp);
	ret->p50 = percentile(lat, n, 50);
	ret->p95 = percentile(lat, n, 95);
	ret->p99 = percentile(lat, n, 99);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c == '\n')
			fputs("\\n", f);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void format_time(uint64_t realtime_usec, char *buf, size_t n)
{
	time_t t = (time_t)(realtime_usec / USEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "?");
}

static const char *hypothesis_text(int h)
{
	return h < 0 ? "not checked" : h ? "held" : "violated";
}

static void json_summary(FILE *f, const struct report_summary *s)
{
	fprintf(f, "{\"count\":%u,\"success_rate\":%.2f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,"
		   "\"p99_ms\":%.3f}",
			s->count, s->success_rate, s->p50 / 1000.0, s->p95 / 1000.0,
			s->p99 / 1000.0);
}

/* ,"key":seconds or ,"key":null for UINT64_MAX */
static void json_time(FILE *f, const char *key, uint64_t usec)
{
	if (usec == UINT64_MAX)
		fprintf(f, ",\"%s\":null", key);
	else
		fprintf(f, ",\"%s\":%.3f", key, usec / 1e6);
}

int report_write_json(const struct report *r, FILE *f)
{
	char when[32];

	format_time(r->started_realtime_usec, when, sizeof(when));
	fprintf(f, "{\"schema\":\"%s\",\"id\":", REPORT_SCHEMA);
	json_str(f, r->id);
	fputs(",\"scenario\":", f);
	json_str(f, r->scenario);
	fputs(",\"description\":", f);
	json_str(f, r->description);
	fputs(",\"file\":", f);
	json_str(f, r->file);
	fprintf(f, ",\"uid\":%u,\"started\":\"%s\",\"duration_s\":%.3f,\"outcome\":\"%s\","
		   "\"exit_code\":%d,\"reason\":",
			(unsigned)r->uid, when, r->duration_usec / 1e6,
			report_outcome_to_string(r->outcome), report_outcome_exit_code(r->outcome));
	json_str(f, r->reason);
	fprintf(f, ",\"hypothesis\":{\"before\":\"%s\",\"after\":\"%s\"}",
			hypothesis_text(r->hypothesis_before), hypothesis_text(r->hypothesis_after));
	if (r->abort_usec)
		fprintf(f, ",\"abort_at_s\":%.3f", r->abort_usec / 1e6);
	fputs(",\"phases\":[", f);
	for (unsigned i = 0, first = 1; i < _REPORT_PHASE_MAX; i++) {
		if (r->phase_start_usec[i] == UINT64_MAX)
			continue;
		fprintf(f, "%s{\"phase\":\"%s\",\"start_s\":%.3f}", first ? "" : ",", phase_names[i],
				r->phase_start_usec[i] / 1e6);
		first = 0;
	}
	fputs("],\"timeline\":[", f);
	for (unsigned i = 0; i < r->n_events; i++) {
		const struct report_event *e = &r->events[i];

		format_time(e->realtime_usec, when, sizeof(when));
		fprintf(f, "%s{\"t_s\":%.3f,\"time\":\"%s\",\"event\":\"%s\"", i ? "," : "",
				e->t_usec / 1e6, when, e->kind);
		if (e->step[0]) {
			fputs(",\"step\":", f);
			json_str(f, e->step);
		}
		if (e->edge[0]) {
			fputs(",\"edge\":", f);
			json_str(f, e->edge);
		}
		if (e->fault[0]) {
			fputs(",\"fault\":", f);
			json_str(f, e->fault);
		}
		fputs(",\"text\":", f);
		json_str(f, e->text);
		fputc('}', f);
	}
	fputs("],\"faults\":[", f);
	for (unsigned i = 0; i < r->n_bands; i++) {
		const struct report_band *b = &r->bands[i];

		fprintf(f, "%s{\"step\":", i ? "," : "");
		json_str(f, b->step);
		fputs(",\"label\":", f);
		json_str(f, b->label);
		fprintf(f, ",\"from_s\":%.3f,\"to_s\":%.3f}", b->from_usec / 1e6,
				(b->to_usec ? b->to_usec : r->duration_usec) / 1e6);
	}
	fprintf(f, "],\"seed\":\"%" PRIu64 "\",\"steps\":[", r->seed);
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct report_step *st = &r->steps[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, st->name);
		fputs(",\"edge\":", f);
		json_str(f, st->edge);
		fputs(",\"trigger\":", f);
		json_str(f, st->trigger);
		json_time(f, "start_s", st->start_usec);
		json_time(f, "end_s", st->end_usec);
		fputs(",\"end_reason\":", f);
		json_str(f, st->end_reason);
		json_time(f, "recovery_s", st->recovery_usec);
		fputc('}', f);
	}
	fputs("],\"probes\":[", f);
	for (unsigned i = 0; i < r->n_probes; i++) {
		const struct report_probe *p = &r->probes[i];
		struct report_summary s;

		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, p->name);
		fprintf(f, ",\"type\":\"%s\",\"target\":", p->type);
		json_str(f, p->target);
		fputs(",\"abort_when\":", f);
		json_str(f, p->abort_when);
		fputs(",\"steady_state\":", f);
		json_str(f, p->steady_state);
		fputs(",\"phases\":{", f);
		for (unsigned ph = 0, first = 1; ph < _REPORT_PHASE_MAX; ph++) {
			report_summarize(r, i, (int)ph, 0, UINT64_MAX, &s);
			if (!s.count)
				continue;
			fprintf(f, "%s\"%s\":", first ? "" : ",", phase_names[ph]);
			json_summary(f, &s);
			first = 0;
		}
		fputs("},\"samples\":[", f);
		for (unsigned k = 0; k < p->n_samples; k++) {
			const struct report_sample *sm = &p->samples[k];

			fprintf(f, "%s[%.3f,%d,%.3f]", k ? "," : "", sm->t_usec / 1e6, sm->ok,
					sm->latency_usec / 1000.0);
		}
		fputs("]}", f);
	}
	fputs("]}\n", f);
	return ferror(f) ? -EIO : 0;
}

static const char *fmt_s(uint64_t usec, char *buf, size_t n)
{
	snprintf(buf, n, "%7.1fs", usec / 1e6);
	return buf;
}

int report_write_text(const struct report *r, FILE *f)
{
	char a[32];

	fprintf(f, "GameDay %s: scenario '%s'%s%s\n", r->id, r->scenario,
			r->description[0] ? ": " : "", r->description);
	format_time(r->started_realtime_usec, a, sizeof(a));
	fprintf(f, "started %s, ran %.1fs\n", a, r->duration_usec / 1e6);
	fprintf(f, "outcome: %s (exit %d): %s\n", report_outcome_to_string(r->outcome),
			report_outcome_exit_code(r->outcome), r->reason);
	fprintf(f, "hypothesis: before the method %s, after %s\n",
			hypothesis_text(r->hypothesis_before), hypothesis_text(r->hypothesis_after));
	fputs("\ntimeline:\n", f);
	for (unsigned i = 0; i < r->n_events; i++) {
		const struct report_event *e = &r->events[i];

		fprintf(f, "  %s  %-8s %s\n", fmt_s(e->t_usec, a, sizeof(a)), e->kind, e->text);
	}
	fprintf(f, "\nsteps (seed %" PRIu64 "):\n", r->seed);
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct report_step *st = &r->steps[i];
		char c[32];

		fprintf(f, "  %-12s %-10s %s\n", st->name, st->edge, st->trigger);
		if (st->start_usec == UINT64_MAX) {
			fprintf(f, "  %-23s not started: %s\n", "", st->end_reason);
			continue;
		}
		if (st->recovery_usec == UINT64_MAX)
			snprintf(c, sizeof(c), "not within the run");
		else
			snprintf(c, sizeof(c), "%.1fs", st->recovery_usec / 1e6);
		fprintf(f, "  %-23s on %.1fs..%.1fs, ended by %s; recovery %s\n", "",
				st->start_usec / 1e6,
				st->end_usec == UINT64_MAX ? 0 : st->end_usec / 1e6,
				st->end_reason[0] ? st->end_reason : "?", c);
	}
	for (unsigned i = 0; i < r->n_probes; i++) {
		const struct report_probe *p = &r->probes[i];

		fprintf(f, "\nprobe %s (%s %s):\n", p->name, p->type, p->target);
		fprintf(f, "  %-20s %6s %8s %10s %10s %10s\n", "phase", "count", "success", "p50",
				"p95", "p99");
		for (unsigned ph = 0; ph < _REPORT_PHASE_MAX; ph++) {
			struct report_summary s;

			report_summarize(r, i, (int)ph, 0, UINT64_MAX, &s);
			if (!s.count)
				continue;
			fprintf(f, "  %-20s %6u %7.1f%% %8.1fms %8.1fms %8.1fms\n", phase_names[ph],
					s.count, s.success_rate, s.p50 / 1000.0, s.p95 / 1000.0,
					s.p99 / 1000.0);
		}
	}
	return ferror(f) ? -EIO : 0;
}

static void html_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

#define CW 960 /* chart geometry */
#define CH 280
#define ML 60
#define MR 60
#define MT 20
#define MB 40

static double x_of(const struct report *r, uint64_t t)
{
	double span = r->duration_usec ? (double)r->duration_usec : 1;

	return ML + (CW - ML - MR) * ((double)t / span);
}

static void svg_line(FILE *f, const struct report *r, unsigned probe, uint64_t bucket, unsigned pct,
		double ymax, const char *cls, const char *color)
{
	const double plot_h = CH - MT - MB;
	bool any = false;

	fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
		   "points=\"", cls, color);
	for (uint64_t t = 0; t < r->duration_usec; t += bucket) {
		struct report_summary s;
		double v, y;

		report_summarize(r, probe, -1, t, t + bucket, &s);
		if (!s.count)
			continue;
		if (pct == 0)
			v = s.success_rate / 100.0 * ymax; /* success on the right axis */
		else
			v = (pct == 50 ? s.p50 : pct == 95 ? s.p95 : s.p99) / 1000.0;
		y = MT + plot_h - plot_h * MIN(v, ymax) / ymax;
		fprintf(f, "%s%.1f,%.1f", any ? " " : "",
				x_of(r, MIN(t + bucket / 2, r->duration_usec)), y);
		any = true;
	}
	fputs("\"/>\n", f);
}

static void svg_chart(FILE *f, const struct report *r, unsigned probe)
{
	const struct report_probe *p = &r->probes[probe];
	const double plot_h = CH - MT - MB;
	/* ~60 points across the run, each from at least a few probes at common intervals */
	uint64_t bucket = MAX(r->duration_usec / 60, 250 * USEC_PER_MSEC);
	double ymax = 1;
	char a[32];

	for (unsigned i = 0; i < p->n_samples; i++)
		ymax = MAX(ymax, p->samples[i].latency_usec / 1000.0);
	ymax *= 1.1;
	fprintf(f, "<h2>probe %s</h2>\n<p>", p->name);
	html_str(f, p->type);
	fputs(" ", f);
	html_str(f, p->target);
	fprintf(f, "</p>\n<svg class=\"chart\" data-probe=\"%s\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" "
		   "font-family=\"sans-serif\" font-size=\"11\">\n", p->name, CW, CH, CW, CH);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%.0f\" fill=\"#fafafa\" "
		   "stroke=\"#ccc\"/>\n", ML, MT, CW - ML - MR, plot_h);
	/* Fault labels stay inside the plot: a long one near the end must not run over the
	 * right axis' labels. */
	fprintf(f, "<clipPath id=\"plot-%u\"><rect x=\"%d\" y=\"%d\" width=\"%d\" "
		   "height=\"%.0f\"/></clipPath>\n", probe, ML, MT, CW - ML - MR, plot_h);
	for (unsigned i = 0; i < r->n_bands; i++) {
		const struct report_band *b = &r->bands[i];
		double x0 = x_of(r, b->from_usec), x1 = x_of(r, b->to_usec ? b->to_usec :
									      r->duration_usec);
		fprintf(f, "<g class=\"band\"><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
			   "height=\"%.0f\" fill=\"hsl(%u,70%%,60%%)\" fill-opacity=\"0.18\"/>"
			   "<text x=\"%.1f\" y=\"%.0f\" fill=\"#555\" clip-path=\"url(#plot-%u)\">",
				x0, MT, MAX(x1 - x0, 1.0), plot_h, (i * 67) % 360, x0 + 2,
				MT + 12.0 + (i % 6) * 12, probe);
		html_str(f, b->label);
		fputs("</text></g>\n", f);
	}
	for (unsigned ph = 0; ph < _REPORT_PHASE_MAX; ph++) {
		double x;

		if (r->phase_start_usec[ph] == UINT64_MAX)
			continue;
		x = x_of(r, r->phase_start_usec[ph]);
		fprintf(f, "<line class=\"phase\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
			   "stroke=\"#999\" stroke-dasharray=\"2,3\"/><text x=\"%.1f\" y=\"%d\" "
			   "fill=\"#777\">%s</text>\n", x, x, MT, CH - MB, x + 2, CH - MB + 26,
				phase_names[ph]);
	}
	/* axes: latency on the left, success rate on the right, time below */
	for (unsigned k = 0; k <= 4; k++) {
		double y = MT + plot_h - plot_h * k / 4;

		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0fms</text>"
			   "<text x=\"%d\" y=\"%.1f\">%u%%</text>\n", ML - 4, y + 4, ymax * k / 4,
				CW - MR + 4, y + 4, k * 25);
	}
	for (unsigned k = 0; k <= 6; k++) {
		uint64_t t = r->duration_usec * k / 6;

		if (r->duration_usec < 600 * USEC_PER_SEC)
			snprintf(a, sizeof(a), "%.1fs", t / 1e6);
		else
			parse_format_duration(t / USEC_PER_SEC * USEC_PER_SEC, a, sizeof(a));
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
				x_of(r, t), CH - MB + 14, a);
	}
	svg_line(f, r, probe, bucket, 0, ymax, "success", "#2a2");
	svg_line(f, r, probe, bucket, 50, ymax, "p50", "#36c");
	svg_line(f, r, probe, bucket, 95, ymax, "p95", "#e90");
	svg_line(f, r, probe, bucket, 99, ymax, "p99", "#d22");
	if (r->abort_usec) {
		double x = x_of(r, r->abort_usec);

		/* its word above the plot, where no fault label is */
		fprintf(f, "<g class=\"abort\"><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
			   "stroke=\"#d00\" stroke-width=\"2\"/><text x=\"%.1f\" y=\"%d\" "
			   "text-anchor=\"middle\" fill=\"#d00\" font-weight=\"bold\">abort</text>"
			   "</g>\n", x, x, MT - 3, CH - MB, x, MT - 6);
	}
	fputs("</svg>\n<p class=\"legend\"><span style=\"color:#36c\">p50</span> "
	      "<span style=\"color:#e90\">p95</span> <span style=\"color:#d22\">p99</span> "
	      "latency (left), <span style=\"color:#2a2\">success rate</span> (right); "
	      "shaded: faults</p>\n", f);
}

int report_write_html(const struct report *r, FILE *f)
{
	char a[32];

	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n<title>GameDay ", f);
	html_str(f, r->id);
	fputs("</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1000px}"
	      "td,th{padding:2px 8px;text-align:left}.held{color:#2a2}.violated,.aborted{color:#d22}"
	      "</style></head>\n<body>\n<h1>GameDay ", f);
	html_str(f, r->scenario);
	fputs("</h1>\n<p>", f);
	html_str(f, r->description);
	format_time(r->started_realtime_usec, a, sizeof(a));
	fprintf(f, "</p>\n<p>run <code>%s</code>, started %s, ran %.1f s</p>\n", r->id, a,
			r->duration_usec / 1e6);
	fprintf(f, "<p class=\"%s\"><b>%s</b>: ", report_outcome_to_string(r->outcome),
			report_outcome_to_string(r->outcome));
	html_str(f, r->reason);
	fprintf(f, "<br>hypothesis before the method: %s, after: %s</p>\n",
			hypothesis_text(r->hypothesis_before), hypothesis_text(r->hypothesis_after));
	for (unsigned i = 0; i < r->n_probes; i++)
		svg_chart(f, r, i);
	fputs("<h2>timeline</h2>\n<table class=\"timeline\"><tr><th>t</th><th>event</th>"
	      "<th></th></tr>\n", f);
	for (unsigned i = 0; i < r->n_events; i++) {
		const struct report_event *e = &r->events[i];

		fprintf(f, "<tr><td>%.1fs</td><td>%s</td><td>", e->t_usec / 1e6, e->kind);
		html_str(f, e->text);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n<h2>probes per phase</h2>\n<table><tr><th>probe</th><th>phase</th>"
	      "<th>count</th><th>success</th><th>p50</th><th>p95</th><th>p99</th></tr>\n", f);
	for (unsigned i = 0; i < r->n_probes; i++)
		for (unsigned ph = 0; ph < _REPORT_PHASE_MAX; ph++) {
			struct report_summary s;

			report_summarize(r, i, (int)ph, 0, UINT64_MAX, &s);
			if (!s.count)
				continue;
			fputs("<tr><td>", f);
			html_str(f, r->probes[i].name);
			fprintf(f, "</td><td>%s</td><td>%u</td><td>%.1f%%</td><td>%.1fms</td>"
				   "<td>%.1fms</td><td>%.1fms</td></tr>\n", phase_names[ph], s.count,
					s.success_rate, s.p50 / 1000.0, s.p95 / 1000.0, s.p99 / 1000.0);
		}
	/* Lets a headless browser test see that the charts were laid out, not just present. */
	fputs("</table>\n<script>window.addEventListener('load',function(){var c=document."
	      "querySelectorAll('svg.chart'),n=0;c.forEach(function(s){var b=s.getBBox();"
	      "if(b.width>0&&b.height>0&&s.querySelectorAll('polyline').length)n++;});"
	      "document.body.setAttribute('data-charts-rendered',n+'/'+c.length+' bands='+"
	      "document.querySelectorAll('svg.chart g.band').length+' abort='+"
	      "document.querySelectorAll('svg.chart g.abort').length);});</script>\n"
	      "</body></html>\n", f);
	return ferror(f) ? -EIO : 0;
}

struct report_file {
	int (*write)(const struct report *, FILE *);
	const struct report *report;
};

static int fill_report(FILE *f, const void *userdata)
{
	const struct report_file *rf = userdata;

	return rf->write(rf->report, f);
}

static int write_atomic(const char *dir, const char *id, const char *ext,
		int (*write)(const struct report *, FILE *), const struct report *r)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.%s", dir, id, ext);
	return fileio_write_atomic(path, 0640, fill_report,
			&(struct report_file){ .write = write, .report = r });
}

static int mtime_cmp(const void *a, const void *b)
{
	const struct {
		struct timespec t;
		char name[256];
	} *x = a, *y = b;

	if (x->t.tv_sec != y->t.tv_sec)
		return x->t.tv_sec < y->t.tv_sec ? 1 : -1;
	return strcmp(y->name, x->name);
}

/* Keep the newest `keep` reports (by the .json's mtime), delete the rest in all formats. */
static void prune(const char *dir, unsigned keep)
{
	struct entry {
		struct timespec t;
		char name[256];
	} *e = NULL;
	unsigned n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stat st;

		if (len < 6 || !streq(de->d_name + len - 5, ".json") ||
				fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (grow((void **)&e, n, &cap, sizeof(*e)) < 0)
			break;
		e[n].t = st.st_mtim;
		snprintf(e[n].name, sizeof(e[n].name), "%.*s", (int)(len - 5), de->d_name);
		n++;
	}
	if (e)
		qsort(e, n, sizeof(*e), mtime_cmp);
	for (unsigned i = keep; i < n; i++) {
		static const char *const exts[] = { "json", "txt", "html" };

		for (unsigned x = 0; x < ELEMENTSOF(exts); x++) {
			char path[300];

			snprintf(path, sizeof(path), "%s.%s", e[i].name, exts[x]);
			(void)unlinkat(dirfd(d), path, 0);
		}
	}
	free(e);
	closedir(d);
}

int report_save(const struct report *r, const char *dir, unsigned keep)
{
	int k;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return negative_errno();
	/* The JSON last: its presence is what marks a complete report. */
	k = write_atomic(dir, r->id, "txt", report_write_text, r);
	if (k >= 0)
		k = write_atomic(dir, r->id, "html", report_write_html, r);
	if (k >= 0)
		k = write_atomic(dir, r->id, "json", report_write_json, r);
	if (k < 0)
		return k;
	prune(dir, MAX(keep, 1u));
	return 0;
}
