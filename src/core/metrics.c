#include "core/metrics.h"
#include "core/compat.h"

#include <pthread.h>

#include "core/buf.h"

struct registered {
	const char *name;
	const char *help;
	enum metrics_type type;
	metrics_collect_fn *collect;
	void *ctx;
};

/* What a collect callback writes to: the output and the family being rendered. */
struct metrics_out {
	struct buf *buf;
	const struct registered *family;
};

static struct {
	pthread_mutex_t lock;
	struct registered families[METRICS_MAX_FAMILIES];
	size_t n;
} registry = { PTHREAD_MUTEX_INITIALIZER, { { 0 } }, 0 };

static const char *const type_names[] = {
	[METRICS_COUNTER] = "counter",
	[METRICS_GAUGE] = "gauge",
	[METRICS_HISTOGRAM] = "histogram",
};

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool valid_name(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			return false;
	return true;
}

static struct registered *find_locked(const char *name)
{
	for (size_t i = 0; i < registry.n; i++)
		if (!strcmp(registry.families[i].name, name))
			return &registry.families[i];
	return NULL;
}

int metrics_register(const char *name, enum metrics_type type, const char *help,
		     metrics_collect_fn *collect, void *ctx)
{
	int rc = 0;

	if (!valid_name(name) || !collect || (unsigned)type >= ARRAY_SIZE(type_names))
		return -EINVAL;
	pthread_mutex_lock(&registry.lock);
	if (find_locked(name))
		rc = -EEXIST;
	else if (registry.n == METRICS_MAX_FAMILIES)
		rc = -ENOSPC;
	else
		registry.families[registry.n++] =
			(struct registered){ name, help ? help : "", type, collect, ctx };
	pthread_mutex_unlock(&registry.lock);
	return rc;
}

void metrics_unregister(void *ctx)
{
	size_t kept = 0;

	pthread_mutex_lock(&registry.lock);
	for (size_t i = 0; i < registry.n; i++)
		if (registry.families[i].ctx != ctx)
			registry.families[kept++] = registry.families[i];
	registry.n = kept;
	pthread_mutex_unlock(&registry.lock);
}

/* Help text: backslash and newline escaped, as the format requires. */
static int add_escaped(struct buf *out, const char *s, bool quotes)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		if (*s == '\\')
			rc = buf_add(out, "\\\\", 2);
		else if (*s == '\n')
			rc = buf_add(out, "\\n", 2);
		else if (*s == '"' && quotes)
			rc = buf_add(out, "\\\"", 2);
		else
			rc = buf_addch(out, *s);
	}
	return rc;
}

/*
 * `name{k1="v1",k2="v2"} ` up to the value; a histogram's series add suffix to the name and
 * (le not NULL) the label le last.
 */
static int add_series_of(struct metrics_out *o, const char *suffix, const char *le, va_list ap)
{
	struct buf *out = o->buf;
	const char *key;
	int rc = buf_adds(out, o->family->name);
	char sep = '{';

	if (!rc && suffix)
		rc = buf_adds(out, suffix);
	while (!rc && (key = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);

		rc = buf_addch(out, sep);
		if (!rc)
			rc = buf_adds(out, key);
		if (!rc)
			rc = buf_add(out, "=\"", 2);
		if (!rc)
			rc = add_escaped(out, value ? value : "", true);
		if (!rc)
			rc = buf_addch(out, '"');
		sep = ',';
	}
	if (!rc && le) {
		rc = buf_addch(out, sep);
		if (!rc)
			rc = buf_addf(out, "le=\"%s\"", le);
		sep = ',';
	}
	if (!rc && sep == ',')
		rc = buf_addch(out, '}');
	if (!rc)
		rc = buf_addch(out, ' ');
	return rc;
}

static int add_series(struct metrics_out *o, va_list ap)
{
	return add_series_of(o, NULL, NULL, ap);
}

/* The series with its labels from ap, then the value already written as text. */
static int add_sample(struct metrics_out *o, const char *value, va_list ap)
{
	int rc = add_series(o, ap);

	if (!rc)
		rc = buf_adds(o->buf, value);
	return rc ? rc : buf_addch(o->buf, '\n');
}

int metrics_sample(struct metrics_out *o, uint64_t value, ...)
{
	char text[24];
	va_list ap;
	int rc;

	snprintf(text, sizeof(text), "%llu", (unsigned long long)value);
	va_start(ap, value);
	rc = add_sample(o, text, ap);
	va_end(ap);
	return rc;
}

int metrics_sample_double(struct metrics_out *o, double value, ...)
{
	char text[32];
	va_list ap;
	int rc;

	snprintf(text, sizeof(text), "%.17g", value);
	va_start(ap, value);
	rc = add_sample(o, text, ap);
	va_end(ap);
	return rc;
}

/* One series of a histogram (suffix, le) with the labels of ap and the value text. */
static int add_histogram_line(struct metrics_out *o, const char *suffix, const char *le,
			      const char *value, va_list ap)
{
	va_list copy;
	int rc;

	va_copy(copy, ap);
	rc = add_series_of(o, suffix, le, copy);
	va_end(copy);
	if (!rc)
		rc = buf_adds(o->buf, value);
	return rc ? rc : buf_addch(o->buf, '\n');
}

int metrics_sample_histogram(struct metrics_out *o, const double *bounds,
			     const uint64_t *counts, size_t n, double sum, ...)
{
	char le[32], value[32];
	uint64_t total = 0;
	va_list ap;
	int rc = 0;

	va_start(ap, sum);
	for (size_t i = 0; i <= n && !rc; i++) {
		total += counts[i];
		if (i < n)
			snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		snprintf(value, sizeof(value), "%llu", (unsigned long long)total);
		rc = add_histogram_line(o, "_bucket", le, value, ap);
	}
	snprintf(value, sizeof(value), "%.17g", sum);
	if (!rc)
		rc = add_histogram_line(o, "_sum", NULL, value, ap);
	snprintf(value, sizeof(value), "%llu", (unsigned long long)total);
	if (!rc)
		rc = add_histogram_line(o, "_count", NULL, value, ap);
	va_end(ap);
	return rc;
}

static int render_family(struct buf *out, const struct registered *f)
{
	struct metrics_out o = { out, f };
	int rc = buf_addf(out, "# HELP %s ", f->name);

	if (!rc)
		rc = add_escaped(out, f->help, false);
	if (!rc)
		rc = buf_addf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
	if (!rc)
		rc = f->collect(&o, f->ctx);
	return rc;
}

int metrics_render(struct buf *out)
{
	int rc = 0;

	pthread_mutex_lock(&registry.lock);
	for (size_t i = 0; i < registry.n && !rc; i++)
		rc = render_family(out, &registry.families[i]);
	pthread_mutex_unlock(&registry.lock);
	return rc;
}

int metrics_register_families(const struct metrics_family *fams, size_t n, void *ctx,
			      const char **failed)
{
	for (size_t i = 0; i < n; i++) {
		int rc = metrics_register(fams[i].name, fams[i].type, fams[i].help,
					  fams[i].collect, ctx);

		if (rc < 0) {
			metrics_unregister(ctx);
			if (failed)
				*failed = fams[i].name;
			return rc;
		}
	}
	return 0;
}
