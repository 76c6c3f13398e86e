/*
 * tiread.c - plain-list and CSV readers of indicators.
 *
 * Both end in one place, emit(): a value (and what the CSV says about it) is checked and
 * normalised, then given to the sink, or rejected with the line and the reason.
 */
#include "enrich/tiread.h"
#include "core/compat.h"

#include <ctype.h>
#include <strings.h>

#include "core/csv.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "enrich/ti.h"

_Static_assert(TI_CSV_COLS_MAX == CSV_COLS_MAX, "a column map names the reader's cells");
#define DATE_LEN 10                        /* YYYY-MM-DD */

static const char *const column_names[TI_N_COLS] = {
	[TI_COL_VALUE] = "value", [TI_COL_TYPE] = "type", [TI_COL_CONFIDENCE] = "confidence",
	[TI_COL_TAGS] = "tags", [TI_COL_DESCRIPTION] = "description",
	[TI_COL_FIRST_SEEN] = "first_seen", [TI_COL_LAST_SEEN] = "last_seen",
	[TI_COL_EXPIRES] = "expires", [TI_COL_REF] = "ref",
};

/* A column's name, or -1. Header lines also say "indicator" for the value. */
static int column_index(const char *s, size_t len)
{
	for (int i = 0; i < TI_N_COLS; i++)
		if (strlen(column_names[i]) == len && !strncasecmp(s, column_names[i], len))
			return i;
	if (len == 9 && !strncasecmp(s, "indicator", 9))
		return TI_COL_VALUE;
	return -1;
}

int ti_csv_columns_parse(const char *spec, struct ti_csv_columns *cols, struct err *e)
{
	const char *p = spec;

	memset(cols, 0, sizeof(*cols));
	while (*p) {
		size_t item = strcspn(p, ","), name = strcspn(p, "=,");
		int which = column_index(p, name);
		char *end;
		unsigned long n;

		if (which < 0 || p[name] != '=')
			return err_set(e, -EINVAL, "column map '%.*s': expected NAME=N with NAME one "
				       "of value type confidence tags description first_seen "
				       "last_seen expires ref", (int)item, p);
		errno = 0;
		n = strtoul(p + name + 1, &end, 10);
		if (errno || end != p + item || end == p + name + 1 || n < 1 ||
		    n > TI_CSV_COLS_MAX || !isdigit((unsigned char)p[name + 1]))
			return err_set(e, -EINVAL, "column map '%.*s': expected a column number "
				       "1 to %d", (int)item, p, TI_CSV_COLS_MAX);
		if (cols->col[which])
			return err_set(e, -EINVAL, "column map: %s given twice",
				       column_names[which]);
		cols->col[which] = (unsigned)n;
		p += item + (p[item] == ',');
	}
	if (!cols->col[TI_COL_VALUE])
		return err_set(e, -EINVAL, "column map: value=N is required");
	return 0;
}

/* ---- one indicator ---- */

/* What a line or record says about one indicator, before checking. */
struct raw {
	const char *value, *type, *confidence, *tags, *description, *ref;
	const char *first_seen, *last_seen, *expires;
	size_t value_len, type_len, confidence_len, tags_len, description_len, ref_len;
	size_t first_seen_len, last_seen_len, expires_len;
};

static int parse_confidence(const char *s, size_t len, int *out)
{
	int v = 0;

	if (len == 0) {
		*out = -1;
		return 0;
	}
	if (len > 3)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 100)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_time(const char *s, size_t len, int64_t *ns)
{
	size_t bad;

	*ns = 0;
	if (len == 0)
		return 0;
	if (len == DATE_LEN)
		return time_parse(s, len, 0, ns);
	return time_parse_rfc3339(s, len, ns, &bad) < 0 ? -EINVAL : 0;
}

/* Splits tags at ';' or '|' into NUL-ended copies in store; *n of them. */
static int split_tags(const char *s, size_t len, char *store, const char **tags, size_t *n)
{
	size_t o = 0;

	*n = 0;
	while (len) {
		size_t t = 0;

		while (t < len && s[t] != ';' && s[t] != '|')
			t++;
		if (t) {
			if (*n == TI_CSV_TAGS_MAX)
				return -E2BIG;
			tags[(*n)++] = store + o;
			memcpy(store + o, s, t);
			o += t;
			store[o++] = '\0';
		}
		s += t + (t < len);
		len -= t + (t < len);
	}
	return 0;
}

static void reject(const struct ti_sink *sink, unsigned line, const char *fmt, ...)
	PRINTF_LIKE(3, 4);
static void reject(const struct ti_sink *sink, unsigned line, const char *fmt, ...)
{
	char why[sizeof(((struct err *)0)->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	sink->reject(sink->ctx, line, why);
}

/* Fills the indicator's optional fields from r; false after rejecting the line. */
static bool read_details(const struct raw *r, unsigned line, struct ti_indicator *ind,
			 const struct ti_sink *sink)
{
	if (parse_confidence(r->confidence, r->confidence_len, &ind->confidence) < 0) {
		reject(sink, line, "confidence '%.*s': expected 0 to 100", (int)MIN(r->confidence_len, 64),
		       r->confidence);
		return false;
	}
	if (parse_time(r->first_seen, r->first_seen_len, &ind->first_seen_ns) < 0 ||
	    parse_time(r->last_seen, r->last_seen_len, &ind->last_seen_ns) < 0 ||
	    parse_time(r->expires, r->expires_len, &ind->expires_ns) < 0) {
		reject(sink, line, "a time: expected RFC 3339 (2026-11-30T12:00:00Z) or a date");
		return false;
	}
	return true;
}

static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return true;
	return false;
}

/*
 * Checks and normalises one indicator and gives it to the sink. The texts are copied NUL-
 * ended (description, ref, tags) into scratch, which holds a whole record.
 */
static int emit(const struct raw *r, unsigned line, const struct ti_sink *sink, char *scratch)
{
	char value[TI_VALUE_BUF];
	const char *tags[TI_CSV_TAGS_MAX];
	struct ti_indicator ind = { .value = value, .tags = tags };
	struct err why = ERR_INIT;
	char *desc = scratch, *ref = desc + r->description_len + 1, *tag_store = ref + r->ref_len + 1;

	if (r->type_len) {
		if (ti_type_parse(r->type, r->type_len, &ind.type) < 0) {
			reject(sink, line, "type '%.*s': expected ip domain url md5 sha1 sha256 email",
			       (int)MIN(r->type_len, 64), r->type);
			return 0;
		}
	} else if (ti_guess_type(r->value, r->value_len, &ind.type, &why) < 0) {
		reject(sink, line, "'%.*s': %s", (int)MIN(r->value_len, 128), r->value, why.msg);
		return 0;
	}
	if (ti_normalize(ind.type, r->value, r->value_len, value, &ind.len, &why) < 0) {
		reject(sink, line, "%s '%.*s': %s", ti_type_name(ind.type),
		       (int)MIN(r->value_len, 128), r->value, why.msg);
		return 0;
	}
	if (!read_details(r, line, &ind, sink))
		return 0;
	if (has_control(r->tags, r->tags_len) || has_control(r->description, r->description_len) ||
	    has_control(r->ref, r->ref_len)) {
		reject(sink, line, "tags, description and ref hold no control characters");
		return 0;
	}
	if (split_tags(r->tags, r->tags_len, tag_store, tags, &ind.n_tags) < 0) {
		reject(sink, line, "more than %d tags", TI_CSV_TAGS_MAX);
		return 0;
	}
	if (r->description_len)
		memcpy(desc, r->description, r->description_len);
	desc[r->description_len] = '\0';
	if (r->ref_len)
		memcpy(ref, r->ref, r->ref_len);
	ref[r->ref_len] = '\0';
	ind.description = r->description_len ? desc : NULL;
	ind.ref = r->ref_len ? ref : NULL;
	return sink->add(sink->ctx, &ind);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* ---- plain lists ---- */

int ti_read_list(const char *text, size_t len, const struct ti_sink *sink, struct err *e)
{
	char scratch[4]; /* a list has no description, ref or tags */
	unsigned line = 0;
	int rc;

	for (size_t at = 0; at < len;) {
		const char *s = text + at, *nl = memchr(s, '\n', len - at);
		size_t n = nl ? (size_t)(nl - s) : len - at, v = 0;
		struct raw r = { 0 };

		at += n + 1;
		line++;
		csv_trim(&s, &n); /* a line: no LF in it */
		if (n == 0 || s[0] == '#')
			continue;
		while (v < n && !blank(s[v]))
			v++;
		r.value = s;
		r.value_len = v;
		if (v < n) { /* what follows the value: blanks and a comment only */
			const char *rest = s + v;
			size_t rest_len = n - v;

			csv_trim(&rest, &rest_len);
			if (rest_len && rest[0] != '#') {
				reject(sink, line, "'%.*s': expected one value per line (a comment "
				       "starts with '#')", (int)MIN(n, 128), s);
				continue;
			}
		}
		if ((rc = emit(&r, line, sink, scratch)) < 0)
			return err_set(e, rc, "line %u: stopped: %s", line, strerror(-rc));
	}
	return 0;
}

/* ---- CSV ---- */

static void record_raw(const struct csv_record *r, const struct ti_csv_columns *c, struct raw *w)
{
	w->value = csv_cell(r, c->col[TI_COL_VALUE], &w->value_len);
	w->type = csv_cell(r, c->col[TI_COL_TYPE], &w->type_len);
	w->confidence = csv_cell(r, c->col[TI_COL_CONFIDENCE], &w->confidence_len);
	w->tags = csv_cell(r, c->col[TI_COL_TAGS], &w->tags_len);
	w->description = csv_cell(r, c->col[TI_COL_DESCRIPTION], &w->description_len);
	w->first_seen = csv_cell(r, c->col[TI_COL_FIRST_SEEN], &w->first_seen_len);
	w->last_seen = csv_cell(r, c->col[TI_COL_LAST_SEEN], &w->last_seen_len);
	w->expires = csv_cell(r, c->col[TI_COL_EXPIRES], &w->expires_len);
	w->ref = csv_cell(r, c->col[TI_COL_REF], &w->ref_len);
}

/*
 * Whether the first record is a header: a cell names a column and the value cell holds no
 * indicator. When it is and map is not NULL, the columns it names go into map.
 */
static bool header(const struct csv_record *r, const struct ti_csv_columns *given,
		   struct ti_csv_columns *map)
{
	unsigned value_col = given ? given->col[TI_COL_VALUE] : 1;
	bool named = false;
	enum ti_type type;
	const char *v;
	size_t n;

	memset(map, 0, sizeof(*map));
	for (unsigned i = 0; i < r->n; i++) {
		int which = column_index(r->text.p + r->cell[i].off, r->cell[i].len);

		if (which >= 0 && !map->col[which]) {
			map->col[which] = i + 1;
			named = true;
		}
	}
	if (!named)
		return false;
	if (!given && map->col[TI_COL_VALUE])
		value_col = map->col[TI_COL_VALUE];
	v = csv_cell(r, value_col, &n);
	return ti_guess_type(v, n, &type, NULL) < 0;
}

int ti_read_csv(const char *text, size_t len, const struct ti_csv_columns *cols,
		const struct ti_sink *sink, struct err *e)
{
	static const struct ti_csv_columns value_only = { .col = { [TI_COL_VALUE] = 1 } };
	struct ti_csv_columns from_header;
	const struct ti_csv_columns *use = cols ? cols : &value_only;
	struct csv_record *r = mem_calloc(1, sizeof(*r));
	char *scratch = NULL;
	size_t pos = 0;
	unsigned line = 0;
	bool first = true;
	const char *why = NULL;
	int rc = 0, got;

	if (!r || !(scratch = mem_alloc(CSV_RECORD_MAX + 4 * TI_CSV_COLS_MAX))) {
		rc = err_set(e, -ENOMEM, "out of memory reading CSV");
		goto fail;
	}
	csv_record_init(r);
	while ((got = csv_next(text, len, &pos, &line, CSV_COMMENTS, r, &why)) != 0) {
		struct raw w = { 0 };

		if (got == -ENOMEM) {
			rc = err_set(e, got, "line %u: out of memory", r->line);
			break;
		}
		if (got < 0) {
			reject(sink, r->line, "CSV: %s", why);
			first = false;
			continue;
		}
		if (first && header(r, cols, &from_header)) {
			if (!cols && from_header.col[TI_COL_VALUE])
				use = &from_header;
			first = false;
			continue;
		}
		first = false;
		record_raw(r, use, &w);
		if (w.value_len == 0) {
			reject(sink, r->line, "no value in column %u", use->col[TI_COL_VALUE]);
			continue;
		}
		if ((rc = emit(&w, r->line, sink, scratch)) < 0) {
			err_set(e, rc, "line %u: stopped: %s", r->line, strerror(-rc));
			break;
		}
	}
fail:
	if (r)
		csv_record_release(r);
	mem_free(r);
	mem_free(scratch);
	return rc;
}
