#include "notify/policy.h"
#include "core/compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "core/name.h"
#include "core/timeutil.h"
#include "notify/calendar.h"

#define ARENA_CHUNK 16384
#define ARENA_MAX (8u << 20)          /* a parsed policy: text at most 256 KiB */
#define PATH_MAX_ 200
#define DURATION_MAX (30 * 86400 * NS_PER_SEC)
#define JST_S (9 * 3600)
#define NAME_MAX_ 64
#define ROTATION_PREFIX "rotation:"
#define REASON_MAX 1024
#define MIN_PER_DAY 1440
#define TIME_MAX_NS (INT64_C(7258118400) * NS_PER_SEC) /* 2200-01-01: times of a policy */

enum hours_kind { HOURS_RANGE, HOURS_BUSINESS, HOURS_OUTSIDE };

struct hours {
	enum hours_kind kind;
	int from, to;               /* minutes of the day; to may be 1440; from > to crosses midnight */
};

struct window {
	int64_t from_ns, to_ns;     /* [from, to) */
	int64_t every_ns;           /* > 0: repeats every so long from from_ns on */
	const char *name;
};

struct rotation {
	const char *name;
	int64_t start_ns, every_ns;
	const char **people;
	size_t n_people;
};

struct step {
	const char *channel;
	const char **to;
	size_t n_to;
	const char *template;
	const char *lang;
	bool ack;
	int64_t after_ns;
};

enum freq_action { FREQ_AGGREGATE, FREQ_ESCALATE };

struct rule {
	const char *name;
	const char **rules, **tags;
	size_t n_rules, n_tags;
	int min_level, max_level;
	unsigned days;              /* enum calendar_kind bits; 0: any day */
	struct hours *hours;
	size_t n_hours;
	struct window *maint;
	size_t n_maint;
	uint64_t freq_count;        /* 0: no frequency */
	int64_t freq_window_ns;
	enum freq_action freq_action;
	int escalate_level;         /* -1: level + 1 */
	struct step *steps;
	size_t n_steps;
};

struct policy {
	struct arena a;
	struct rule *rules;
	size_t n_rules;
	struct rotation *rot;
	size_t n_rot;
	struct window *maint;
	size_t n_maint;
	struct calendar_range *closures, *holidays;
	size_t n_closures, n_holidays;
	struct calendar cal;
	struct hours business;
};

/* ---- the reader: a JSON path for messages, strings copied into the policy's arena ---- */

struct ps {
	struct jsonin j;
	struct policy *p;
	const char *name;
	struct err *e;
	char path[PATH_MAX_];
	size_t plen;
};

static size_t path_push(struct ps *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct ps *s, const char *fmt, ...)
{
	size_t old = s->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->path + s->plen, sizeof(s->path) - s->plen, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->plen = s->plen + (size_t)n < sizeof(s->path) ? s->plen + (size_t)n
								  : sizeof(s->path) - 1;
	return old;
}

static void path_pop(struct ps *s, size_t old)
{
	s->plen = old;
	s->path[old] = '\0';
}

/* "NAME: PATH: what" (-EINVAL). */
static int bad(struct ps *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct ps *s, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(s->e, -EINVAL, "%s%s%s: %s", s->name, *s->name ? ": " : "",
		       s->plen ? s->path : "(the document)", what);
}

/* The reader's error (malformed JSON, limits) or the arena's. */
static int jerr(struct ps *s, int rc)
{
	struct err je = ERR_INIT;

	if (rc == -ENOMEM)
		return err_set(s->e, -ENOMEM, "%s%sout of memory", s->name, *s->name ? ": " : "");
	jsonin_error(&s->j, &je);
	return err_set(s->e, rc, "%s%s%s", s->name, *s->name ? ": " : "", je.msg);
}

/* A value's text for messages: a string's first bytes, quoted, or the value's type. */
static const char *shown(const struct jsonin_value *v, char out[80])
{
	static const char *const types[] = { "nothing", "an object", "an array", "a string",
					     "a number", "true", "false", "null" };
	bool quote = v->type == JSONIN_STRING;
	size_t o = 0;

	if (v->type != JSONIN_STRING && v->type != JSONIN_NUMBER)
		return types[v->type];
	if (quote)
		out[o++] = '"';
	for (size_t i = 0; i < v->len && i < 60; i++) {
		unsigned char c = (unsigned char)v->s[i];

		out[o++] = c >= ' ' && c != 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	if (v->len > 60) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (quote)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

static int value(struct ps *s, struct jsonin_value *v)
{
	int rc = jsonin_value(&s->j, v);

	return rc < 0 ? jerr(s, rc) : 0;
}

static bool text_ok(const char *p, size_t n, bool spaces)
{
	for (size_t i = 0, k; i < n; i += k) {
		unsigned char c = (unsigned char)p[i];

		if (c < ' ' || c == 0x7f || (!spaces && c == ' '))
			return false;
		if (!(k = json_utf8_len((const unsigned char *)p + i, n - i)))
			return false;
	}
	return true;
}

/* A string of 1..max bytes without control characters (spaces only when allowed), copied. */
static int str(struct ps *s, const char **out, size_t max, bool spaces, const char *what)
{
	struct jsonin_value v;
	char sh[80];
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type != JSONIN_STRING || !v.len || v.len > max || !text_ok(v.s, v.len, spaces))
		return bad(s, "expected %s (found %s)", what, shown(&v, sh));
	if (!(*out = arena_strndup(&s->p->a, v.s, v.len)))
		return err_set(s->e, -ENOMEM, "out of memory");
	return 0;
}

static int integer(struct ps *s, int64_t *out, int64_t min, int64_t max)
{
	struct jsonin_value v;
	char sh[80];
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type != JSONIN_NUMBER || jsonin_int(v.s, v.len, out) < 0 || *out < min || *out > max)
		return bad(s, "expected an integer from %lld to %lld (found %s)", (long long)min,
			   (long long)max, shown(&v, sh));
	return 0;
}

static int boolean(struct ps *s, bool *out)
{
	struct jsonin_value v;
	char sh[80];
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type != JSONIN_TRUE && v.type != JSONIN_FALSE)
		return bad(s, "expected true or false (found %s)", shown(&v, sh));
	*out = v.type == JSONIN_TRUE;
	return 0;
}

/* Enters an object or an array (the value must be one). */
static int enter(struct ps *s, enum jsonin_type type)
{
	struct jsonin_value v;
	char sh[80];
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type != type) {
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
			jsonin_skip(&s->j);
		return bad(s, "expected %s (found %s)", type == JSONIN_OBJECT ? "an object" : "an array",
			   shown(&v, sh));
	}
	return 0;
}

/* The next key of an object: 1 with *k set, 0 at its end; a key given twice is an error. */
static int next_key(struct ps *s, struct jsonin_value *k, const char *const *keys, size_t n_keys,
		    unsigned *seen, size_t *which)
{
	int rc = jsonin_key(&s->j, k);
	char list[300];
	size_t o = 0;

	if (rc <= 0)
		return rc < 0 ? jerr(s, rc) : 0;
	for (*which = 0; *which < n_keys; (*which)++)
		if (jsonin_key_is(k, keys[*which])) {
			if (*seen & (1u << *which))
				return bad(s, "the key \"%s\" is given twice", keys[*which]);
			*seen |= 1u << *which;
			return 1;
		}
	for (size_t i = 0; i < n_keys && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", keys[i]);
	{
		struct jsonin_value kv = *k;
		char sh[80];

		kv.type = JSONIN_STRING;
		return bad(s, "unknown key %s (expected one of: %s)", shown(&kv, sh), list);
	}
}

/* Room for one more element of *arr (n used, *cap allocated), in the arena. */
static int grow(struct ps *s, void **arr, size_t *cap, size_t n, size_t size, size_t max,
		const char *what)
{
	void *bigger;
	size_t want;

	if (n >= max)
		return bad(s, "more than %zu %s", max, what);
	if (n < *cap)
		return 0;
	want = *cap ? *cap * 2 : 4;
	if (want > max)
		want = max;
	if (!(bigger = arena_alloc(&s->p->a, want * size)))
		return err_set(s->e, -ENOMEM, "out of memory");
	if (n)
		memcpy(bigger, *arr, n * size);
	*arr = bigger;
	*cap = want;
	return 0;
}

/* An array of strings, each checked by str() with max, spaces, what. */
static int str_array(struct ps *s, const char ***out, size_t *n, size_t max_items, size_t max,
		     bool spaces, const char *what)
{
	size_t cap = 0;
	int rc;

	*n = 0;
	if ((rc = enter(s, JSONIN_ARRAY)) < 0)
		return rc;
	while ((rc = jsonin_more(&s->j)) > 0) {
		size_t old = path_push(s, "[%zu]", *n);

		if ((rc = grow(s, (void **)out, &cap, *n, sizeof(**out), max_items, "entries")) < 0 ||
		    (rc = str(s, &(*out)[*n], max, spaces, what)) < 0)
			return rc;
		(*n)++;
		path_pop(s, old);
	}
	return rc < 0 ? jerr(s, rc) : 0;
}

/* ---- values: durations, hours, dates, times ---- */

int policy_duration(const char *s, size_t len, int64_t *ns)
{
	int64_t total = 0;
	size_t i = 0;

	if (!len)
		return -EINVAL;
	while (i < len) {
		int64_t n = 0, unit;
		size_t start = i;

		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 7)
			n = n * 10 + (s[i++] - '0');
		if (i == start || i >= len)
			return -EINVAL;
		switch (s[i++]) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return -EINVAL;
		}
		total += n * unit * NS_PER_SEC;
		if (total > DURATION_MAX)
			return -EINVAL;
	}
	*ns = total;
	return 0;
}

static int duration(struct ps *s, int64_t *ns, bool zero_ok)
{
	struct jsonin_value v;
	char sh[80];
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type != JSONIN_STRING || policy_duration(v.s, v.len, ns) < 0 || (!zero_ok && !*ns))
		return bad(s, "expected a duration like \"5m\" (s, m, h, d; at most 30d%s) (found %s)",
			   zero_ok ? "" : "; more than 0", shown(&v, sh));
	return 0;
}

static int two_digits(const char *p, int max)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	int n = (p[0] - '0') * 10 + (p[1] - '0');

	return n <= max ? n : -1;
}

/* "HH:MM" (00:00-24:00) into minutes; -1 when not. */
static int hhmm(const char *p)
{
	int h = two_digits(p, 24), m = two_digits(p + 3, 59);

	if (h < 0 || m < 0 || p[2] != ':' || (h == 24 && m))
		return -1;
	return h * 60 + m;
}

static int parse_hours(const char *p, size_t n, struct hours *h)
{
	if (n == 8 && !memcmp(p, "business", 8)) {
		h->kind = HOURS_BUSINESS;
		return 0;
	}
	if (n == 7 && !memcmp(p, "outside", 7)) {
		h->kind = HOURS_OUTSIDE;
		return 0;
	}
	if (n != 11 || p[5] != '-' || (h->from = hhmm(p)) < 0 || (h->to = hhmm(p + 6)) < 0 ||
	    h->from == h->to || h->from == MIN_PER_DAY)
		return -EINVAL;
	h->kind = HOURS_RANGE;
	return 0;
}

static int hours_value(struct ps *s, const struct jsonin_value *v, struct hours *h, bool words)
{
	char sh[80];

	if (v->type != JSONIN_STRING || parse_hours(v->s, v->len, h) < 0 ||
	    (!words && h->kind != HOURS_RANGE))
		return bad(s, "expected hours like \"18:15-09:30\" (HH:MM-HH:MM in Asia/Tokyo, may "
			   "cross midnight%s) (found %s)", words ? "; or business, outside" : "",
			   shown(v, sh));
	return 0;
}

/* "YYYY-MM-DD" (1970-2200) into days since 1970-01-01; -1 when not a date. */
static int64_t ymd(const char *p, size_t n)
{
	int y = 0, m, d;

	if (n != 10 || p[4] != '-' || p[7] != '-')
		return -1;
	for (int i = 0; i < 4; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		y = y * 10 + (p[i] - '0');
	}
	if (y < 1970 || y > 2200 || (m = two_digits(p + 5, 12)) < 1 || (d = two_digits(p + 8, 31)) < 1 ||
	    d > time_days_in_month(y, m))
		return -1;
	return time_days_from_civil(y, m, d);
}

static int date(struct ps *s, int64_t *days)
{
	struct jsonin_value v;
	char sh[80];
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type != JSONIN_STRING || (*days = ymd(v.s, v.len)) < 0)
		return bad(s, "expected a date like \"2026-08-13\" (found %s)", shown(&v, sh));
	return 0;
}

/*
 * A time: RFC 3339 with its offset, or "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]" (also with a
 * space) in Asia/Tokyo.
 */
static int parse_time(const char *p, size_t n, int64_t *ns)
{
	size_t bad_at;
	int64_t days;
	int h, m, sec = 0;

	if (time_parse_rfc3339(p, n, ns, &bad_at) == 0)
		return 0;
	if (n < 10 || (days = ymd(p, 10)) < 0)
		return -EINVAL;
	if (n == 10) {
		h = m = 0;
	} else if ((n == 16 || n == 19) && (p[10] == 'T' || p[10] == ' ') && p[13] == ':' &&
		   (h = two_digits(p + 11, 23)) >= 0 && (m = two_digits(p + 14, 59)) >= 0 &&
		   (n == 16 || (p[16] == ':' && (sec = two_digits(p + 17, 59)) >= 0))) {
	} else {
		return -EINVAL;
	}
	*ns = ((days * 86400) + h * 3600 + m * 60 + sec - JST_S) * NS_PER_SEC;
	return 0;
}

static int time_value(struct ps *s, int64_t *ns)
{
	struct jsonin_value v;
	char sh[80];
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type != JSONIN_STRING || parse_time(v.s, v.len, ns) < 0 || *ns < 0 ||
	    *ns >= TIME_MAX_NS)
		return bad(s, "expected a time like \"2026-12-01T02:00\" (Asia/Tokyo) or RFC 3339 "
			   "\"2026-11-30T17:00:00Z\", 1970-2199 (found %s)", shown(&v, sh));
	return 0;
}

/* ---- the document ---- */

/* A rotation's or a window's period: weekly, daily or a duration of at least 1m. */
static int period(struct ps *s, int64_t *ns)
{
	struct jsonin_value v;
	char sh[80];
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type == JSONIN_STRING && v.len == 6 && !memcmp(v.s, "weekly", 6))
		*ns = 7 * 86400 * NS_PER_SEC;
	else if (v.type == JSONIN_STRING && v.len == 5 && !memcmp(v.s, "daily", 5))
		*ns = 86400 * NS_PER_SEC;
	else if (v.type != JSONIN_STRING || policy_duration(v.s, v.len, ns) < 0 ||
		 *ns < 60 * NS_PER_SEC)
		return bad(s, "expected weekly, daily or a duration like \"12h\" (at least 1m) "
			   "(found %s)", shown(&v, sh));
	return 0;
}

static int windows(struct ps *s, struct window **out, size_t *n)
{
	static const char *const keys[] = { "from", "to", "name", "every" };
	size_t cap = 0;
	int rc;

	*n = 0;
	if ((rc = enter(s, JSONIN_ARRAY)) < 0)
		return rc;
	while ((rc = jsonin_more(&s->j)) > 0) {
		size_t old = path_push(s, "[%zu]", *n), which;
		struct jsonin_value k;
		struct window w = { 0 };
		unsigned seen = 0;

		if ((rc = grow(s, (void **)out, &cap, *n, sizeof(**out), POLICY_LIST_MAX,
			       "windows")) < 0 || (rc = enter(s, JSONIN_OBJECT)) < 0)
			return rc;
		while ((rc = next_key(s, &k, keys, ARRAY_SIZE(keys), &seen, &which)) > 0) {
			size_t o2 = path_push(s, ".%s", keys[which]);

			rc = which == 0 ? time_value(s, &w.from_ns)
			     : which == 1 ? time_value(s, &w.to_ns)
			     : which == 2 ? str(s, &w.name, POLICY_STRING_MAX, true, "a name")
					  : period(s, &w.every_ns);
			if (rc < 0)
				return rc;
			path_pop(s, o2);
		}
		if (rc < 0)
			return rc;
		if ((seen & 3) != 3)
			return bad(s, "expected \"from\" and \"to\" (times)");
		if (w.to_ns <= w.from_ns)
			return bad(s, "\"to\" must come after \"from\"");
		if (w.every_ns && w.to_ns - w.from_ns >= w.every_ns)
			return bad(s, "a window repeated every %llds must be shorter than that",
				   (long long)(w.every_ns / NS_PER_SEC));
		if (!w.name)
			w.name = "maintenance";
		(*out)[(*n)++] = w;
		path_pop(s, old);
	}
	return rc < 0 ? jerr(s, rc) : 0;
}

/* closures [{from, to, name}] (dates) or holidays [{date, name, name_en}]. */
static int ranges(struct ps *s, struct calendar_range **out, size_t *n, bool holidays)
{
	static const char *const ckeys[] = { "from", "to", "name" };
	static const char *const hkeys[] = { "date", "name", "name_en" };
	const char *const *keys = holidays ? hkeys : ckeys;
	size_t cap = 0;
	int rc;

	*n = 0;
	if ((rc = enter(s, JSONIN_ARRAY)) < 0)
		return rc;
	while ((rc = jsonin_more(&s->j)) > 0) {
		size_t old = path_push(s, "[%zu]", *n), which;
		struct calendar_range r = { 0 };
		struct jsonin_value k;
		unsigned seen = 0;

		if ((rc = grow(s, (void **)out, &cap, *n, sizeof(**out), POLICY_LIST_MAX,
			       holidays ? "holidays" : "closures")) < 0 ||
		    (rc = enter(s, JSONIN_OBJECT)) < 0)
			return rc;
		while ((rc = next_key(s, &k, keys, 3, &seen, &which)) > 0) {
			size_t o2 = path_push(s, ".%s", keys[which]);

			if (which == 0)
				rc = date(s, &r.from);
			else if (which == 1 && !holidays)
				rc = date(s, &r.to);
			else
				rc = str(s, which == 2 && holidays ? &r.name_en : &r.name,
					 POLICY_STRING_MAX, true, "a name");
			if (rc < 0)
				return rc;
			path_pop(s, o2);
		}
		if (rc < 0)
			return rc;
		if (holidays) {
			if ((seen & 3) != 3)
				return bad(s, "expected \"date\" and \"name\"");
			r.to = r.from;
		} else {
			if ((seen & 3) != 3)
				return bad(s, "expected \"from\" and \"to\" (dates)");
			if (r.to < r.from)
				return bad(s, "\"to\" must not come before \"from\"");
			if (!r.name)
				r.name = "closure";
		}
		(*out)[(*n)++] = r;
		path_pop(s, old);
	}
	return rc < 0 ? jerr(s, rc) : 0;
}

static bool name_ok(const char *p, size_t n)
{
	if (!n || n > NAME_MAX_)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '_' || p[i] == '.'))
			return false;
	return true;
}

static int name_value(struct ps *s, const char **out)
{
	int rc = str(s, out, NAME_MAX_, false, "a name of 1-64 letters, digits, '-', '_', '.'");

	if (rc == 0 && !name_ok(*out, strlen(*out)))
		return bad(s, "expected a name of 1-64 letters, digits, '-', '_', '.' (found \"%s\")",
			   *out);
	return rc;
}

static int rotation(struct ps *s, struct rotation *r)
{
	static const char *const keys[] = { "every", "start", "people" };
	struct jsonin_value k;
	unsigned seen = 0;
	size_t which;
	int rc;

	if ((rc = enter(s, JSONIN_OBJECT)) < 0)
		return rc;
	while ((rc = next_key(s, &k, keys, ARRAY_SIZE(keys), &seen, &which)) > 0) {
		size_t old = path_push(s, ".%s", keys[which]);

		if (which == 0) {
			rc = period(s, &r->every_ns);
		} else if (which == 1) {
			rc = time_value(s, &r->start_ns);
		} else {
			rc = str_array(s, &r->people, &r->n_people, POLICY_LIST_MAX, POLICY_STRING_MAX,
				       false, "a recipient (an address or a number, no spaces)");
		}
		if (rc < 0)
			return rc;
		path_pop(s, old);
	}
	if (rc < 0)
		return rc;
	if ((seen & 7) != 7)
		return bad(s, "expected \"every\", \"start\" and \"people\"");
	if (!r->n_people)
		return bad(s, "expected at least one person in \"people\"");
	for (size_t i = 0; i < r->n_people; i++)
		if (!strncmp(r->people[i], ROTATION_PREFIX, strlen(ROTATION_PREFIX)))
			return bad(s, "people[%zu]: a rotation cannot name another rotation "
				   "(found \"%s\"); expected an address or a number", i, r->people[i]);
	return 0;
}

static int rotations(struct ps *s, struct policy *p)
{
	struct jsonin_value k;
	size_t cap = 0;
	int rc;

	if ((rc = enter(s, JSONIN_OBJECT)) < 0)
		return rc;
	while ((rc = jsonin_key(&s->j, &k)) > 0) {
		size_t old;
		struct rotation *r;

		if (!name_ok(k.s, k.len)) {
			char sh[80];

			k.type = JSONIN_STRING;
			return bad(s, "a rotation's name: expected 1-64 letters, digits, '-', '_', '.' "
				   "(found %s)", shown(&k, sh));
		}
		old = path_push(s, ".%.*s", (int)k.len, k.s);
		for (size_t i = 0; i < p->n_rot; i++)
			if (strlen(p->rot[i].name) == k.len && !memcmp(p->rot[i].name, k.s, k.len))
				return bad(s, "the rotation is defined twice");
		if ((rc = grow(s, (void **)&p->rot, &cap, p->n_rot, sizeof(*p->rot), POLICY_LIST_MAX,
			       "rotations")) < 0)
			return rc;
		r = &p->rot[p->n_rot];
		memset(r, 0, sizeof(*r));
		if (!(r->name = arena_strndup(&p->a, k.s, k.len)))
			return err_set(s->e, -ENOMEM, "out of memory");
		if ((rc = rotation(s, r)) < 0)
			return rc;
		p->n_rot++;
		path_pop(s, old);
	}
	return rc < 0 ? jerr(s, rc) : 0;
}

static int days_value(struct ps *s, unsigned *days)
{
	static const enum calendar_kind kinds[] = { CALENDAR_BUSINESS, CALENDAR_WEEKEND,
		CALENDAR_HOLIDAY, CALENDAR_YEAR_END, CALENDAR_CLOSURE };
	struct jsonin_value v;
	size_t n = 0;
	int rc;

	*days = 0;
	if ((rc = enter(s, JSONIN_ARRAY)) < 0)
		return rc;
	while ((rc = jsonin_more(&s->j)) > 0) {
		size_t old = path_push(s, "[%zu]", n++), i;
		char sh[80];

		if ((rc = value(s, &v)) < 0)
			return rc;
		for (i = 0; v.type == JSONIN_STRING && i < ARRAY_SIZE(kinds); i++)
			if (strlen(calendar_kind_name(kinds[i])) == v.len &&
			    !memcmp(calendar_kind_name(kinds[i]), v.s, v.len))
				break;
		if (v.type != JSONIN_STRING || i == ARRAY_SIZE(kinds))
			return bad(s, "expected business, weekend, holiday, year_end or closure "
				   "(found %s)", shown(&v, sh));
		*days |= kinds[i];
		path_pop(s, old);
	}
	if (rc < 0)
		return jerr(s, rc);
	if (!*days)
		return bad(s, "expected at least one kind of day");
	return 0;
}

static int hours_list(struct ps *s, struct rule *r)
{
	struct jsonin_value v;
	size_t cap = 0;
	int rc;

	if ((rc = value(s, &v)) < 0)
		return rc;
	if (v.type == JSONIN_STRING) {
		if (!(r->hours = arena_alloc(&s->p->a, sizeof(*r->hours))))
			return err_set(s->e, -ENOMEM, "out of memory");
		r->n_hours = 1;
		return hours_value(s, &v, r->hours, true);
	}
	if (v.type != JSONIN_ARRAY) {
		char sh[80];

		if (v.type == JSONIN_OBJECT)
			jsonin_skip(&s->j);
		return bad(s, "expected hours like \"18:15-09:30\" or a list of them (found %s)",
			   shown(&v, sh));
	}
	while ((rc = jsonin_more(&s->j)) > 0) {
		size_t old = path_push(s, "[%zu]", r->n_hours);

		if ((rc = grow(s, (void **)&r->hours, &cap, r->n_hours, sizeof(*r->hours), 16,
			       "hours")) < 0 || (rc = value(s, &v)) < 0 ||
		    (rc = hours_value(s, &v, &r->hours[r->n_hours], true)) < 0)
			return rc;
		r->n_hours++;
		path_pop(s, old);
	}
	if (rc < 0)
		return jerr(s, rc);
	return r->n_hours ? 0 : bad(s, "expected at least one range of hours");
}

static int match(struct ps *s, struct rule *r)
{
	static const char *const keys[] = { "rules", "tags", "min_level", "max_level", "days",
					    "hours" };
	struct jsonin_value k;
	unsigned seen = 0;
	size_t which;
	int64_t n;
	int rc;

	if ((rc = enter(s, JSONIN_OBJECT)) < 0)
		return rc;
	while ((rc = next_key(s, &k, keys, ARRAY_SIZE(keys), &seen, &which)) > 0) {
		size_t old = path_push(s, ".%s", keys[which]);

		switch (which) {
		case 0:
		case 1:
			rc = str_array(s, which ? &r->tags : &r->rules, which ? &r->n_tags : &r->n_rules,
				       POLICY_LIST_MAX, POLICY_STRING_MAX, false,
				       which ? "a tag (\"attack.t1110\", \"attack.*\")"
					     : "a rule id (\"panos-threat-critical\", \"panos-*\")");
			if (rc == 0 && !(which ? r->n_tags : r->n_rules))
				rc = bad(s, "expected at least one entry (leave the key out to match any)");
			break;
		case 2:
		case 3:
			if ((rc = integer(s, &n, 0, 3)) == 0)
				*(which == 2 ? &r->min_level : &r->max_level) = (int)n;
			break;
		case 4:
			rc = days_value(s, &r->days);
			break;
		default:
			rc = hours_list(s, r);
		}
		if (rc < 0)
			return rc;
		path_pop(s, old);
	}
	if (rc < 0)
		return rc;
	if (r->min_level > r->max_level)
		return bad(s, "min_level %d is above max_level %d", r->min_level, r->max_level);
	return 0;
}

static int frequency(struct ps *s, struct rule *r)
{
	static const char *const keys[] = { "count", "window", "action", "level" };
	struct jsonin_value k, v;
	unsigned seen = 0;
	size_t which;
	int64_t n;
	int rc;

	if ((rc = enter(s, JSONIN_OBJECT)) < 0)
		return rc;
	while ((rc = next_key(s, &k, keys, ARRAY_SIZE(keys), &seen, &which)) > 0) {
		size_t old = path_push(s, ".%s", keys[which]);
		char sh[80];

		switch (which) {
		case 0:
			if ((rc = integer(s, &n, 2, 1000000)) == 0)
				r->freq_count = (uint64_t)n;
			break;
		case 1:
			rc = duration(s, &r->freq_window_ns, false);
			break;
		case 2:
			if ((rc = value(s, &v)) < 0)
				return rc;
			if (v.type == JSONIN_STRING && v.len == 9 && !memcmp(v.s, "aggregate", 9))
				r->freq_action = FREQ_AGGREGATE;
			else if (v.type == JSONIN_STRING && v.len == 8 && !memcmp(v.s, "escalate", 8))
				r->freq_action = FREQ_ESCALATE;
			else
				rc = bad(s, "expected aggregate or escalate (found %s)", shown(&v, sh));
			break;
		default:
			if ((rc = integer(s, &n, 1, 3)) == 0)
				r->escalate_level = (int)n;
		}
		if (rc < 0)
			return rc;
		path_pop(s, old);
	}
	if (rc < 0)
		return rc;
	if ((seen & 3) != 3)
		return bad(s, "expected \"count\" and \"window\"");
	if ((seen & 8) && r->freq_action != FREQ_ESCALATE)
		return bad(s, "\"level\" is for \"action\": \"escalate\" only");
	return 0;
}

static int step(struct ps *s, struct step *st)
{
	static const char *const keys[] = { "channel", "to", "template", "lang", "ack", "after" };
	struct jsonin_value k;
	unsigned seen = 0;
	size_t which;
	int rc;

	if ((rc = enter(s, JSONIN_OBJECT)) < 0)
		return rc;
	while ((rc = next_key(s, &k, keys, ARRAY_SIZE(keys), &seen, &which)) > 0) {
		size_t old = path_push(s, ".%s", keys[which]);

		switch (which) {
		case 0:
			rc = name_value(s, &st->channel);
			break;
		case 1:
			rc = str_array(s, &st->to, &st->n_to, POLICY_TO_MAX, POLICY_STRING_MAX, false,
				       "a recipient (an address, a number or \"rotation:NAME\")");
			if (rc == 0 && !st->n_to)
				rc = bad(s, "expected at least one recipient");
			break;
		case 2:
			rc = name_value(s, &st->template);
			break;
		case 3:
			if ((rc = str(s, &st->lang, 2, false, "ja or en")) == 0 &&
			    strcmp(st->lang, "ja") && strcmp(st->lang, "en"))
				rc = bad(s, "expected ja or en (found \"%s\")", st->lang);
			break;
		case 4:
			rc = boolean(s, &st->ack);
			break;
		default:
			rc = duration(s, &st->after_ns, true);
		}
		if (rc < 0)
			return rc;
		path_pop(s, old);
	}
	if (rc < 0)
		return rc;
	if ((seen & 3) != 3)
		return bad(s, "expected \"channel\" and \"to\"");
	if (!st->template)
		st->template = "default";
	if (!st->lang)
		st->lang = "ja";
	return 0;
}

static int steps(struct ps *s, struct rule *r)
{
	size_t cap = 0;
	int rc;

	if ((rc = enter(s, JSONIN_ARRAY)) < 0)
		return rc;
	while ((rc = jsonin_more(&s->j)) > 0) {
		size_t old = path_push(s, "[%zu]", r->n_steps);

		if ((rc = grow(s, (void **)&r->steps, &cap, r->n_steps, sizeof(*r->steps),
			       POLICY_STEPS_MAX, "steps")) < 0)
			return rc;
		memset(&r->steps[r->n_steps], 0, sizeof(*r->steps));
		if ((rc = step(s, &r->steps[r->n_steps])) < 0)
			return rc;
		r->n_steps++;
		path_pop(s, old);
	}
	if (rc < 0)
		return jerr(s, rc);
	return r->n_steps ? 0 : bad(s, "expected at least one step");
}

static int rule(struct ps *s, struct rule *r)
{
	static const char *const keys[] = { "name", "match", "maintenance", "frequency", "steps" };
	struct jsonin_value k;
	unsigned seen = 0;
	size_t which;
	int rc;

	r->max_level = 3;
	r->escalate_level = -1;
	if ((rc = enter(s, JSONIN_OBJECT)) < 0)
		return rc;
	while ((rc = next_key(s, &k, keys, ARRAY_SIZE(keys), &seen, &which)) > 0) {
		size_t old = path_push(s, ".%s", keys[which]);

		rc = which == 0 ? name_value(s, &r->name)
		     : which == 1 ? match(s, r)
		     : which == 2 ? windows(s, &r->maint, &r->n_maint)
		     : which == 3 ? frequency(s, r)
				  : steps(s, r);
		if (rc < 0)
			return rc;
		path_pop(s, old);
	}
	if (rc < 0)
		return rc;
	if (!(seen & 1))
		return bad(s, "expected a \"name\"");
	if (!(seen & 16))
		return bad(s, "expected \"steps\"");
	return 0;
}

static int rules(struct ps *s, struct policy *p)
{
	size_t cap = 0;
	int rc;

	if ((rc = enter(s, JSONIN_ARRAY)) < 0)
		return rc;
	while ((rc = jsonin_more(&s->j)) > 0) {
		size_t old = path_push(s, "[%zu]", p->n_rules);
		struct rule *r;

		if ((rc = grow(s, (void **)&p->rules, &cap, p->n_rules, sizeof(*p->rules),
			       POLICY_RULES_MAX, "rules")) < 0)
			return rc;
		r = &p->rules[p->n_rules];
		memset(r, 0, sizeof(*r));
		if ((rc = rule(s, r)) < 0)
			return rc;
		for (size_t i = 0; i < p->n_rules; i++)
			if (!strcmp(p->rules[i].name, r->name)) {
				path_push(s, ".name");
				return bad(s, "the name \"%s\" is taken by rules[%zu]", r->name, i);
			}
		p->n_rules++;
		path_pop(s, old);
	}
	return rc < 0 ? jerr(s, rc) : 0;
}

static const struct rotation *find_rotation(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_rot; i++)
		if (!strcmp(p->rot[i].name, name))
			return &p->rot[i];
	return NULL;
}

/* What needs the whole document: rotations named by steps. */
static int check_refs(struct ps *s, struct policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++)
		for (size_t j = 0; j < p->rules[i].n_steps; j++)
			for (size_t k = 0; k < p->rules[i].steps[j].n_to; k++) {
				const char *to = p->rules[i].steps[j].to[k];

				if (strncmp(to, ROTATION_PREFIX, strlen(ROTATION_PREFIX)) ||
				    find_rotation(p, to + strlen(ROTATION_PREFIX)))
					continue;
				path_pop(s, 0);
				path_push(s, "rules[%zu].steps[%zu].to[%zu]", i, j, k);
				return bad(s, "no rotation \"%s\" in \"rotations\"",
					   to + strlen(ROTATION_PREFIX));
			}
	return 0;
}

static int document(struct ps *s, struct policy *p)
{
	static const char *const keys[] = { "version", "business_hours", "closures", "holidays",
					    "maintenance", "rotations", "rules" };
	struct jsonin_value k, v;
	unsigned seen = 0;
	size_t which;
	int64_t n;
	int rc;

	if ((rc = enter(s, JSONIN_OBJECT)) < 0)
		return rc;
	while ((rc = next_key(s, &k, keys, ARRAY_SIZE(keys), &seen, &which)) > 0) {
		size_t old = path_push(s, "%s", keys[which]);

		switch (which) {
		case 0:
			rc = integer(s, &n, 1, 1);
			break;
		case 1:
			if ((rc = value(s, &v)) == 0)
				rc = hours_value(s, &v, &p->business, false);
			break;
		case 2:
			rc = ranges(s, &p->closures, &p->n_closures, false);
			break;
		case 3:
			rc = ranges(s, &p->holidays, &p->n_holidays, true);
			break;
		case 4:
			rc = windows(s, &p->maint, &p->n_maint);
			break;
		case 5:
			rc = rotations(s, p);
			break;
		default:
			rc = rules(s, p);
		}
		if (rc < 0)
			return rc;
		path_pop(s, old);
	}
	if (rc < 0)
		return rc;
	if (!(seen & (1u << 6)))
		return bad(s, "expected \"rules\" (a list, may be empty)");
	if ((rc = jsonin_finish(&s->j, NULL)) < 0)
		return jerr(s, rc);
	return check_refs(s, p);
}

int policy_parse(struct policy **out, const char *name, const char *text, size_t len, struct err *e)
{
	struct policy *p;
	struct ps *s;
	int rc;

	*out = NULL;
	if (!name)
		name = "";
	if (len > POLICY_TEXT_MAX)
		return err_set(e, -EINVAL, "%s%sthe policy is larger than %d bytes", name,
			       *name ? ": " : "", POLICY_TEXT_MAX);
	if (!(p = mem_calloc(1, sizeof(*p))) || !(s = mem_calloc(1, sizeof(*s)))) {
		mem_free(p);
		return err_set(e, -ENOMEM, "out of memory");
	}
	arena_init(&p->a, ARENA_CHUNK, ARENA_MAX);
	p->business = (struct hours){ HOURS_RANGE, 9 * 60 + 30, 18 * 60 + 15 };
	s->p = p;
	s->name = name;
	s->e = e;
	jsonin_init(&s->j, text, len, &p->a, 0);
	s->j.max_depth = 16;
	rc = document(s, p);
	mem_free(s);
	if (rc < 0) {
		policy_free(p);
		return rc;
	}
	p->cal = (struct calendar){ p->holidays, p->n_holidays, p->closures, p->n_closures };
	*out = p;
	return 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	arena_release(&p->a);
	mem_free(p);
}

size_t policy_rules(const struct policy *p)
{
	return p ? p->n_rules : 0;
}

/* ---- the planner ---- */

struct sb {
	char s[REASON_MAX];
	size_t n;
};

static void sb_addf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->n >= sizeof(b->s) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->n = b->n + (size_t)n < sizeof(b->s) ? b->n + (size_t)n : sizeof(b->s) - 1;
}

struct planner {
	const struct policy *p;
	const struct policy_facts *f;
	struct arena *a;
	struct policy_plan *out;
	size_t cap_reasons;
	struct calendar_day day;
	int minute;
	int64_t local_days;
};

static int reason(struct planner *pl, const struct sb *b)
{
	char *s;

	if (pl->out->n_reasons == pl->cap_reasons)
		return 0; /* bounded; the array is sized for the worst case */
	if (!(s = arena_strndup(pl->a, b->s, b->n)))
		return -ENOMEM;
	pl->out->reasons[pl->out->n_reasons++] = s;
	return 0;
}

static const char *level_name(int level)
{
	static const char *const names[] = { "Informational", "Medium", "High", "Critical" };

	return level >= 0 && level <= 3 ? names[level] : "?";
}

/* Whether pattern (a trailing '*' matches any rest) matches s. */
static bool glob(const char *pattern, const char *s)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*')
		return !strncmp(pattern, s, n - 1);
	return !strcmp(pattern, s);
}

static void add_list(struct sb *b, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n && i < 8; i++)
		sb_addf(b, "%s%s", i ? ", " : "", list[i]);
	if (n > 8)
		sb_addf(b, ", ... (%zu in all)", n);
}

static bool in_hours(const struct hours *h, int minute)
{
	if (h->from < h->to)
		return minute >= h->from && minute < h->to;
	return minute >= h->from || minute < h->to; /* crosses midnight */
}

static void add_hours(struct sb *b, const struct hours *h)
{
	sb_addf(b, "%02d:%02d-%02d:%02d", h->from / 60, h->from % 60, h->to / 60, h->to % 60);
}

static bool hours_hold(const struct planner *pl, const struct rule *r, struct sb *b)
{
	const struct hours *biz = &pl->p->business;

	for (size_t i = 0; i < r->n_hours; i++) {
		const struct hours *h = &r->hours[i];
		bool in = h->kind == HOURS_RANGE ? in_hours(h, pl->minute)
			  : h->kind == HOURS_BUSINESS ? in_hours(biz, pl->minute)
						      : !in_hours(biz, pl->minute);

		if (in) {
			sb_addf(b, ", %02d:%02d JST is ", pl->minute / 60, pl->minute % 60);
			if (h->kind == HOURS_OUTSIDE)
				sb_addf(b, "outside the business hours ");
			else
				sb_addf(b, "within %s", h->kind == HOURS_BUSINESS ? "the business hours " : "");
			add_hours(b, h->kind == HOURS_RANGE ? h : biz);
			return true;
		}
	}
	sb_addf(b, "%02d:%02d JST is outside ", pl->minute / 60, pl->minute % 60);
	for (size_t i = 0; i < r->n_hours; i++) {
		if (i)
			sb_addf(b, ", ");
		if (r->hours[i].kind == HOURS_OUTSIDE) {
			sb_addf(b, "outside the business hours (");
			add_hours(b, biz);
			sb_addf(b, ")");
		} else {
			add_hours(b, r->hours[i].kind == HOURS_RANGE ? &r->hours[i] : biz);
		}
	}
	return false;
}

static void add_day(struct sb *b, const struct calendar_day *d)
{
	char text[400];

	calendar_describe(d, text, sizeof(text));
	sb_addf(b, "%s", text);
}

static void add_days(struct sb *b, unsigned days)
{
	const char *sep = "";

	for (unsigned bit = 1; bit <= CALENDAR_CLOSURE; bit <<= 1)
		if (days & bit) {
			sb_addf(b, "%s%s", sep, calendar_kind_name((enum calendar_kind)bit));
			sep = ", ";
		}
}

/*
 * Whether r matches at level; b gets "level 3 >= 2, ..." when it does, the first condition
 * that failed when not.
 */
static bool rule_match(const struct planner *pl, const struct rule *r, int level, struct sb *b)
{
	const struct policy_facts *f = pl->f;
	bool ok;

	if (level < r->min_level) {
		sb_addf(b, "level %d (%s) < %d", level, level_name(level), r->min_level);
		return false;
	}
	if (level > r->max_level) {
		sb_addf(b, "level %d (%s) > %d", level, level_name(level), r->max_level);
		return false;
	}
	if (r->min_level > 0)
		sb_addf(b, "level %d >= %d", level, r->min_level);
	else if (r->max_level < 3)
		sb_addf(b, "level %d <= %d", level, r->max_level);
	else
		sb_addf(b, "level %d (any level)", level);
	if (r->n_rules) {
		ok = false;
		for (size_t i = 0; !ok && f->rule && i < r->n_rules; i++)
			if (glob(r->rules[i], f->rule)) {
				sb_addf(b, ", rule id '%s' matches '%s'", f->rule, r->rules[i]);
				ok = true;
			}
		if (!ok) {
			b->n = 0;
			sb_addf(b, "rule id '%s' is none of ", f->rule ? f->rule : "");
			add_list(b, r->rules, r->n_rules);
			return false;
		}
	}
	if (r->n_tags) {
		ok = false;
		for (size_t i = 0; !ok && i < r->n_tags; i++)
			for (size_t t = 0; !ok && t < f->n_tags; t++)
				if (f->tags[t] && glob(r->tags[i], f->tags[t])) {
					sb_addf(b, ", tag '%s' matches '%s'", f->tags[t], r->tags[i]);
					ok = true;
				}
		if (!ok) {
			b->n = 0;
			sb_addf(b, "no tag of the incident matches ");
			add_list(b, r->tags, r->n_tags);
			return false;
		}
	}
	if (r->days) {
		if (!(pl->day.kinds & r->days)) {
			b->n = 0;
			add_day(b, &pl->day);
			sb_addf(b, ", not ");
			add_days(b, r->days);
			return false;
		}
		sb_addf(b, ", ");
		add_day(b, &pl->day);
	}
	if (r->n_hours) {
		size_t keep = b->n;
		struct sb why = { .n = 0 };

		if (!hours_hold(pl, r, &why)) {
			memcpy(b->s, why.s, why.n + 1);
			b->n = why.n;
			return false;
		}
		b->n = keep;
		b->s[keep] = '\0';
		sb_addf(b, "%s", why.s);
	}
	return true;
}

/* Evaluates every rule at level; the first that matches in *idx (-1: none). */
static int evaluate(struct planner *pl, int level, const char *prefix, ssize_t *idx)
{
	int rc;

	*idx = -1;
	for (size_t i = 0; i < pl->p->n_rules; i++) {
		const struct rule *r = &pl->p->rules[i];
		struct sb why = { .n = 0 }, b = { .n = 0 };
		bool ok = rule_match(pl, r, level, &why);

		if (ok && *idx < 0) {
			*idx = (ssize_t)i;
			sb_addf(&b, "%srule '%s' matched: %s", prefix, r->name, why.s);
		} else if (ok) {
			sb_addf(&b, "%srule '%s' would match too, but rule '%s' comes first", prefix,
				r->name, pl->p->rules[*idx].name);
		} else {
			sb_addf(&b, "%srule '%s' did not match: %s", prefix, r->name, why.s);
		}
		if ((rc = reason(pl, &b)) < 0)
			return rc;
	}
	return 0;
}

static void add_time(struct sb *b, int64_t ns)
{
	int64_t s = ns / NS_PER_SEC - (ns % NS_PER_SEC < 0) + JST_S;
	int64_t days = s / 86400 - (s % 86400 < 0);
	int y, m, d, sec = (int)(s - days * 86400);

	time_civil_from_days(days, &y, &m, &d);
	sb_addf(b, "%04d-%02d-%02d %02d:%02d JST", y, m, d, sec / 3600, sec / 60 % 60);
}

static void add_duration(struct sb *b, int64_t ns)
{
	int64_t s = ns / NS_PER_SEC;

	if (!s)
		sb_addf(b, "0s");
	else if (s % 86400 == 0)
		sb_addf(b, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		sb_addf(b, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		sb_addf(b, "%lldm", (long long)(s / 60));
	else
		sb_addf(b, "%llds", (long long)s);
}

static int maintenance(struct planner *pl, const struct rule *r)
{
	const struct window *lists[2] = { pl->p->maint, r->maint };
	size_t ns[2] = { pl->p->n_maint, r->n_maint };

	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < ns[l]; i++) {
			const struct window *w = &lists[l][i];
			struct sb b = { .n = 0 };

			int64_t from = w->from_ns, d;

			if (w->every_ns && pl->f->at_ns > from &&
			    !__builtin_sub_overflow(pl->f->at_ns, from, &d))
				from += d / w->every_ns * w->every_ns; /* the latest repetition */
			if (pl->f->at_ns < from || pl->f->at_ns >= from + (w->to_ns - w->from_ns))
				continue;
			pl->out->held = true;
			pl->out->held_until_ns = from + (w->to_ns - w->from_ns);
			sb_addf(&b, "held: the %s maintenance window '%s' (", l ? "rule's" : "policy's",
				w->name);
			add_time(&b, from);
			sb_addf(&b, " to ");
			add_time(&b, from + (w->to_ns - w->from_ns));
			if (w->every_ns) {
				sb_addf(&b, ", every ");
				add_duration(&b, w->every_ns);
			}
			sb_addf(&b, ") is in effect: the notices are held until it ends");
			return reason(pl, &b);
		}
	return 0;
}

/* The person of rotation rot on call at at_ns. */
static const char *on_call(const struct rotation *rot, int64_t at_ns, size_t *which)
{
	int64_t n = (int64_t)rot->n_people, d, k;

	if (__builtin_sub_overflow(at_ns, rot->start_ns, &d))
		d = 0; /* centuries apart: any answer is as good */
	k = d / rot->every_ns;
	if (d < 0 && d % rot->every_ns)
		k--;
	k %= n;
	if (k < 0)
		k += n;
	*which = (size_t)k;
	return rot->people[k];
}

static int plan_steps(struct planner *pl, const struct rule *r)
{
	struct policy_plan *out = pl->out;
	int64_t at = 0;
	int rc;

	if (!(out->steps = arena_alloc(pl->a, r->n_steps * sizeof(*out->steps))))
		return -ENOMEM;
	for (size_t i = 0; i < r->n_steps; i++) {
		const struct step *st = &r->steps[i];
		struct policy_step *o = &out->steps[i];
		const char **to = arena_alloc(pl->a, st->n_to * sizeof(*to));
		struct sb b = { .n = 0 };

		if (!to)
			return -ENOMEM;
		at += st->after_ns;
		*o = (struct policy_step){ st->channel, to, st->n_to, st->template, st->lang, st->ack,
					   st->after_ns };
		sb_addf(&b, "step %zu at +", i + 1);
		add_duration(&b, at);
		if (i) {
			sb_addf(&b, " (");
			add_duration(&b, st->after_ns);
			sb_addf(&b, " after step %zu when not acknowledged)", i);
		}
		sb_addf(&b, ": %s to ", st->channel);
		for (size_t k = 0; k < st->n_to; k++) {
			const char *name = st->to[k];

			if (k)
				sb_addf(&b, ", ");
			if (!strncmp(name, ROTATION_PREFIX, strlen(ROTATION_PREFIX))) {
				const struct rotation *rot = find_rotation(pl->p,
									   name + strlen(ROTATION_PREFIX));
				size_t which = 0;

				to[k] = rot ? on_call(rot, pl->f->at_ns, &which) : name;
				sb_addf(&b, "%s (on call in rotation '%s', %zu of %zu)", to[k],
					rot ? rot->name : "?", which + 1, rot ? rot->n_people : 0);
			} else {
				to[k] = name;
				sb_addf(&b, "%s", name);
			}
		}
		sb_addf(&b, ", template %s, %s%s", st->template, st->lang,
			st->ack ? ", acknowledgement required" : "");
		if ((rc = reason(pl, &b)) < 0)
			return rc;
	}
	out->n_steps = r->n_steps;
	return 0;
}

int policy_plan(const struct policy *p, const struct policy_facts *f, struct arena *a,
		struct policy_plan *out, struct err *e)
{
	struct planner pl = { .p = p, .f = f, .a = a, .out = out };
	const struct rule *r;
	struct sb b = { .n = 0 };
	int level = f->level, rc;
	ssize_t idx;

	memset(out, 0, sizeof(*out));
	if (f->level < 0 || f->level > 3)
		return err_set(e, -EINVAL, "level %d: expected 0 to 3", f->level);
	if (f->n_tags && !f->tags)
		return err_set(e, -EINVAL, "tags: none given but n_tags %zu", f->n_tags);
	pl.cap_reasons = 2 * p->n_rules + POLICY_STEPS_MAX + 8;
	if (!(out->reasons = arena_alloc(a, pl.cap_reasons * sizeof(*out->reasons))))
		goto nomem;
	pl.local_days = calendar_local(f->at_ns, &pl.minute);
	calendar_day(&p->cal, pl.local_days, &pl.day);
	if ((rc = evaluate(&pl, level, "", &idx)) < 0)
		goto nomem_rc;
	if (idx < 0) {
		sb_addf(&b, "no rule matched: nothing is sent");
		if (reason(&pl, &b) < 0)
			goto nomem;
		return 0;
	}
	r = &p->rules[idx];
	out->window_ns = r->freq_window_ns;
	if (r->freq_count && f->similar >= r->freq_count) {
		sb_addf(&b, "frequency reached: %llu incidents of rule id '%s' within ",
			(unsigned long long)f->similar, f->rule ? f->rule : "");
		add_duration(&b, r->freq_window_ns);
		sb_addf(&b, " (the rule's limit is %llu)", (unsigned long long)r->freq_count);
		if (r->freq_action == FREQ_AGGREGATE) {
			out->aggregate = true;
			sb_addf(&b, ": one aggregated notice");
		} else {
			int to = r->escalate_level > 0 ? r->escalate_level : level + 1 > 3 ? 3 : level + 1;

			if (to > level) {
				sb_addf(&b, ": escalated to level %d (%s)", to, level_name(to));
				if (reason(&pl, &b) < 0)
					goto nomem;
				b.n = 0;
				b.s[0] = '\0';
				level = to;
				if ((rc = evaluate(&pl, level, "after escalation: ", &idx)) < 0)
					goto nomem_rc;
				if (idx < 0) {
					sb_addf(&b, "no rule matched after escalation: nothing is sent");
					if (reason(&pl, &b) < 0)
						goto nomem;
					return 0;
				}
				r = &p->rules[idx];
			} else {
				sb_addf(&b, ": level %d is the highest already", level);
			}
		}
		if (b.n && reason(&pl, &b) < 0)
			goto nomem;
	} else if (r->freq_count) {
		sb_addf(&b, "frequency: %llu incidents of rule id '%s' within ",
			(unsigned long long)f->similar, f->rule ? f->rule : "");
		add_duration(&b, r->freq_window_ns);
		sb_addf(&b, ", below the rule's limit of %llu", (unsigned long long)r->freq_count);
		if (reason(&pl, &b) < 0)
			goto nomem;
	}
	out->matched = true;
	out->rule_name = r->name;
	if (maintenance(&pl, r) < 0 || plan_steps(&pl, r) < 0)
		goto nomem;
	return 0;
nomem_rc:
	if (rc != -ENOMEM)
		return err_set(e, rc, "cannot plan");
nomem:
	memset(out, 0, sizeof(*out));
	return err_set(e, -ENOMEM, "out of memory planning the notices");
}
