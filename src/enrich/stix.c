/*
 * stix.c - STIX 2.1 indicators into threat-intelligence indicators.
 *
 * Two parts: a recursive-descent parser of the subset of the STIX pattern grammar that a
 * list of values can express (unions; see stix.h), and the object reader that collects an
 * indicator's fields in whatever order they come and then hands its values to the sink.
 * A field of the wrong type does not stop the object being read (the JSON must stay in
 * step); the first such problem is kept and the object is rejected at its end.
 */
#include "enrich/stix.h"
#include "core/compat.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/jsonin.h"
#include "core/timeutil.h"

/* ---- patterns ---- */

struct pat {
	const char *s;
	size_t len, pos;
	unsigned depth;
	struct arena *arena;
	struct stix_value *v;
	size_t n, cap;
	struct err *e;
};

static int pat_fail(struct pat *p, const char *what)
{
	return err_set(p->e, -EINVAL, "pattern byte %zu: %s", p->pos + 1, what);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static void pat_skip_space(struct pat *p)
{
	while (p->pos < p->len && is_space(p->s[p->pos]))
		p->pos++;
}

/* Whether the keyword kw (upper case, as the grammar writes it) comes next. */
static bool pat_at_keyword(struct pat *p, const char *kw)
{
	size_t n = strlen(kw);

	pat_skip_space(p);
	return p->len - p->pos >= n && !memcmp(p->s + p->pos, kw, n) &&
	       (p->pos + n == p->len || !is_ident(p->s[p->pos + n]));
}

static bool pat_take_keyword(struct pat *p, const char *kw)
{
	if (!pat_at_keyword(p, kw))
		return false;
	p->pos += strlen(kw);
	return true;
}

static bool pat_take_char(struct pat *p, char c)
{
	pat_skip_space(p);
	if (p->pos < p->len && p->s[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

static int pat_expect_char(struct pat *p, char c)
{
	char what[32];

	if (pat_take_char(p, c))
		return 0;
	snprintf(what, sizeof(what), "expected '%c'", c);
	return pat_fail(p, what);
}

static int pat_add(struct pat *p, enum ti_type type, const char *s, size_t len)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct stix_value *v;

		if (p->n >= STIX_PATTERN_VALUES_MAX)
			return pat_fail(p, "more values than a pattern may hold (10000)");
		v = arena_alloc(p->arena, cap * sizeof(*v));
		if (!v)
			return err_set(p->e, -ENOMEM, "pattern: out of memory");
		if (p->n)
			memcpy(v, p->v, p->n * sizeof(*v));
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct stix_value){ type, s, len };
	return 0;
}

/* A string literal '...': the escapes \' and \\ undone (copied only when there is one). */
static int pat_string(struct pat *p, const char **out, size_t *out_len)
{
	size_t start, n = 0;
	bool escaped = false;
	char *copy;

	pat_skip_space(p);
	if (p->pos >= p->len || p->s[p->pos] != '\'')
		return pat_fail(p, "expected a string literal '...'");
	start = ++p->pos;
	for (; p->pos < p->len && p->s[p->pos] != '\''; p->pos++, n++) {
		if (p->s[p->pos] != '\\')
			continue;
		if (p->pos + 1 == p->len || (p->s[p->pos + 1] != '\'' && p->s[p->pos + 1] != '\\'))
			return pat_fail(p, "a string may only escape ' and \\");
		escaped = true;
		p->pos++;
	}
	if (p->pos == p->len)
		return pat_fail(p, "unterminated string literal");
	p->pos++;
	if (!escaped) {
		*out = p->s + start;
		*out_len = n;
		return 0;
	}
	copy = arena_alloc(p->arena, n + 1);
	if (!copy)
		return err_set(p->e, -ENOMEM, "pattern: out of memory");
	for (size_t i = start, k = 0; k < n; i++, k++) {
		if (p->s[i] == '\\')
			i++;
		copy[k] = p->s[i];
	}
	copy[n] = '\0';
	*out = copy;
	*out_len = n;
	return 0;
}

/* An identifier of an object path (object type, property or unquoted key). */
static int pat_ident(struct pat *p, const char **s, size_t *len)
{
	size_t start;

	pat_skip_space(p);
	start = p->pos;
	while (p->pos < p->len && is_ident(p->s[p->pos]))
		p->pos++;
	if (p->pos == start)
		return pat_fail(p, "expected an object path (type:property)");
	*s = p->s + start;
	*len = p->pos - start;
	return 0;
}

static bool mem_is(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && !memcmp(s, lit, len);
}

/* The hash of file:hashes.KEY: MD5, SHA-1, SHA-256 in any case, the dash optional. */
static bool hash_type(const char *s, size_t len, enum ti_type *type)
{
	char name[8];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '-')
			continue;
		if (n == sizeof(name) - 1)
			return false;
		name[n++] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
	}
	name[n] = '\0';
	if (!strcmp(name, "MD5"))
		*type = TI_MD5;
	else if (!strcmp(name, "SHA1"))
		*type = TI_SHA1;
	else if (!strcmp(name, "SHA256"))
		*type = TI_SHA256;
	else
		return false;
	return true;
}

/*
 * One key after a '.': an identifier, a quoted 'key', or a "key" in double quotes as
 * STIX 2.0 producers wrote them (no escapes).
 */
static int pat_key(struct pat *p, const char **s, size_t *len)
{
	const char *end;

	pat_skip_space(p);
	if (p->pos < p->len && p->s[p->pos] == '\'')
		return pat_string(p, s, len);
	if (p->pos == p->len || p->s[p->pos] != '"')
		return pat_ident(p, s, len);
	end = memchr(p->s + p->pos + 1, '"', p->len - p->pos - 1);
	if (!end)
		return pat_fail(p, "unterminated key");
	*s = p->s + p->pos + 1;
	*len = (size_t)(end - *s);
	p->pos = (size_t)(end - p->s) + 1;
	return 0;
}

/* An object path, mapped to the indicator type it names. */
static int pat_path(struct pat *p, enum ti_type *type)
{
	const char *obj, *prop, *key = NULL, *key2 = NULL;
	size_t obj_len, prop_len, key_len = 0, key2_len = 0;
	size_t start;
	int rc;

	pat_skip_space(p);
	start = p->pos;
	if ((rc = pat_ident(p, &obj, &obj_len)) < 0 || (rc = pat_expect_char(p, ':')) < 0 ||
	    (rc = pat_ident(p, &prop, &prop_len)) < 0)
		return rc;
	if (pat_take_char(p, '.') && (rc = pat_key(p, &key, &key_len)) < 0)
		return rc;
	if (key && pat_take_char(p, '.') && (rc = pat_key(p, &key2, &key2_len)) < 0)
		return rc;
	if (!key && mem_is(prop, prop_len, "value")) {
		if (mem_is(obj, obj_len, "ipv4-addr") || mem_is(obj, obj_len, "ipv6-addr"))
			*type = TI_IP;
		else if (mem_is(obj, obj_len, "domain-name"))
			*type = TI_DOMAIN;
		else if (mem_is(obj, obj_len, "url"))
			*type = TI_URL;
		else if (mem_is(obj, obj_len, "email-addr"))
			*type = TI_EMAIL;
		else
			goto unsupported;
		return 0;
	}
	if (mem_is(obj, obj_len, "file") && mem_is(prop, prop_len, "hashes") && key && !key2 &&
	    hash_type(key, key_len, type))
		return 0;
	if (mem_is(obj, obj_len, "email-message") && mem_is(prop, prop_len, "from_ref") && key &&
	    !key2 && mem_is(key, key_len, "value")) {
		*type = TI_EMAIL;
		return 0;
	}
unsupported:
	p->pos = start;
	return pat_fail(p, "object path not supported (ipv4-addr, ipv6-addr, domain-name, url, "
			   "email-addr :value; file:hashes MD5, SHA-1, SHA-256)");
}

/* Operators a value list cannot express, each refused by name. */
static int pat_refuse_operator(struct pat *p)
{
	static const char *const words[] = { "NOT", "LIKE", "MATCHES", "ISSUPERSET", "EXISTS" };
	static const char *const signs[] = { "!=", "<>", "<=", ">=", "<", ">" };
	char what[64];

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (pat_at_keyword(p, words[i])) {
			snprintf(what, sizeof(what), "%s is not supported", words[i]);
			return pat_fail(p, what);
		}
	for (size_t i = 0; i < sizeof(signs) / sizeof(signs[0]); i++)
		if (p->len - p->pos >= strlen(signs[i]) &&
		    !memcmp(p->s + p->pos, signs[i], strlen(signs[i]))) {
			snprintf(what, sizeof(what), "operator %s is not supported", signs[i]);
			return pat_fail(p, what);
		}
	return pat_fail(p, "expected an operator (=, IN, ISSUBSET)");
}

/* path = 'v' | path IN ('v', ...) | ip-path ISSUBSET 'cidr' */
static int pat_comparison(struct pat *p)
{
	enum ti_type type = TI_IP;
	const char *s;
	size_t len;
	int rc;

	if (pat_at_keyword(p, "EXISTS"))
		return pat_fail(p, "EXISTS is not supported");
	if ((rc = pat_path(p, &type)) < 0)
		return rc;
	pat_skip_space(p);
	if (pat_take_char(p, '=')) {
		(void)pat_take_char(p, '='); /* == is a synonym */
	} else if (pat_take_keyword(p, "IN")) {
		if ((rc = pat_expect_char(p, '(')) < 0)
			return rc;
		do {
			if ((rc = pat_string(p, &s, &len)) < 0 || (rc = pat_add(p, type, s, len)) < 0)
				return rc;
		} while (pat_take_char(p, ','));
		return pat_expect_char(p, ')');
	} else if (type == TI_IP && pat_take_keyword(p, "ISSUBSET")) {
		/* the observed address lies in the block: the block is the indicator */
	} else {
		return pat_refuse_operator(p);
	}
	if ((rc = pat_string(p, &s, &len)) < 0)
		return rc;
	return pat_add(p, type, s, len);
}

static int pat_open(struct pat *p)
{
	if (++p->depth > STIX_PATTERN_DEPTH_MAX) {
		p->pos--; /* point at the parenthesis */
		return pat_fail(p, "parentheses nested too deeply");
	}
	return 0;
}

/* comparison { OR comparison }, a comparison possibly in parentheses */
static int pat_comparisons(struct pat *p)
{
	int rc;

	do {
		if (pat_take_char(p, '(')) {
			if ((rc = pat_open(p)) < 0 || (rc = pat_comparisons(p)) < 0 ||
			    (rc = pat_expect_char(p, ')')) < 0)
				return rc;
			p->depth--;
		} else if ((rc = pat_comparison(p)) < 0) {
			return rc;
		}
		if (pat_at_keyword(p, "AND"))
			return pat_fail(p, "AND-ed comparisons are not supported (only OR)");
	} while (pat_take_keyword(p, "OR"));
	return 0;
}

static int pat_refuse_qualifier(struct pat *p)
{
	static const char *const words[] = { "WITHIN", "REPEATS", "START", "STOP" };
	char what[64];

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (pat_at_keyword(p, words[i])) {
			snprintf(what, sizeof(what), "the qualifier %s is not supported", words[i]);
			return pat_fail(p, what);
		}
	return 0;
}

static int pat_observations(struct pat *p);

/* '[' comparisons ']' | '(' observations ')', no qualifier */
static int pat_observation(struct pat *p)
{
	int rc;

	if (pat_take_char(p, '[')) {
		if ((rc = pat_comparisons(p)) < 0 || (rc = pat_expect_char(p, ']')) < 0)
			return rc;
	} else if (pat_take_char(p, '(')) {
		if ((rc = pat_open(p)) < 0 || (rc = pat_observations(p)) < 0 ||
		    (rc = pat_expect_char(p, ')')) < 0)
			return rc;
		p->depth--;
	} else {
		return pat_fail(p, "expected '[' or '('");
	}
	return pat_refuse_qualifier(p);
}

/* observation { OR observation } */
static int pat_observations(struct pat *p)
{
	int rc;

	do {
		if ((rc = pat_observation(p)) < 0)
			return rc;
		if (pat_at_keyword(p, "AND"))
			return pat_fail(p, "AND-ed observation expressions are not supported (only OR)");
		if (pat_at_keyword(p, "FOLLOWEDBY"))
			return pat_fail(p, "FOLLOWEDBY is not supported");
	} while (pat_take_keyword(p, "OR"));
	return 0;
}

int stix_pattern_parse(const char *s, size_t len, struct arena *a, struct stix_value **values,
		       size_t *n, struct err *e)
{
	struct pat p = { .s = s, .len = len, .arena = a, .e = e };
	int rc;

	*values = NULL;
	*n = 0;
	if ((rc = pat_observations(&p)) < 0)
		return rc;
	pat_skip_space(&p);
	if (p.pos != p.len)
		return pat_fail(&p, "unexpected text after the pattern");
	*values = p.v;
	*n = p.n;
	return 0;
}

/* ---- objects ---- */

/* The fields of one object, as read (pointers into the input or the arena). */
struct stix_object {
	struct jsonin_value type, id, pattern, pattern_type, valid_from, valid_until, name,
		description;
	bool has_type, has_id, has_pattern, has_pattern_type, has_valid_from, has_valid_until,
		has_name, has_description;
	bool revoked;
	bool benign; /* indicator_types holds "benign": known good, never to alert on */
	int confidence;
	const char *tags[STIX_TAGS_MAX];
	size_t n_tags;
	char bad[200]; /* first field of the wrong type, "" while none */
};

static void object_bad(struct stix_object *o, const char *field, const char *expected)
{
	if (!o->bad[0])
		snprintf(o->bad, sizeof(o->bad), "%s: expected %s", field, expected);
}

/* A string field: kept when it is one, else noted as bad. */
static int read_string(struct jsonin *j, struct stix_object *o, const char *field,
		       struct jsonin_value *v, bool *has)
{
	int rc = jsonin_value(j, v);

	if (rc < 0)
		return rc;
	if (v->type == JSONIN_STRING) {
		*has = true;
		return 0;
	}
	object_bad(o, field, "a string");
	return v->type == JSONIN_OBJECT || v->type == JSONIN_ARRAY ? jsonin_skip(j) : 0;
}

/* A NUL-terminated copy in the arena (the sink's C strings); NULL when out of room. */
static const char *arena_cstr(struct stix_reader *r, const struct jsonin_value *v)
{
	return arena_strndup(&r->arena, v->s, v->len);
}

static int read_labels(struct stix_reader *r, struct jsonin *j, struct stix_object *o)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type != JSONIN_ARRAY) {
		object_bad(o, "labels", "an array of strings");
		return v.type == JSONIN_OBJECT ? jsonin_skip(j) : 0;
	}
	while ((rc = jsonin_more(j)) > 0) {
		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		if (v.type != JSONIN_STRING) {
			object_bad(o, "labels", "an array of strings");
			if ((v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) &&
			    (rc = jsonin_skip(j)) < 0)
				return rc;
			continue;
		}
		if (o->n_tags == STIX_TAGS_MAX) {
			r->stats.tags_dropped++;
			continue;
		}
		if (!(o->tags[o->n_tags] = arena_cstr(r, &v)))
			return -ENOMEM;
		o->n_tags++;
	}
	return rc;
}

static int read_indicator_types(struct jsonin *j, struct stix_object *o)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type != JSONIN_ARRAY) {
		object_bad(o, "indicator_types", "an array of strings");
		return v.type == JSONIN_OBJECT ? jsonin_skip(j) : 0;
	}
	while ((rc = jsonin_more(j)) > 0) {
		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		if (v.type == JSONIN_STRING) {
			o->benign = o->benign || jsonin_key_is(&v, "benign");
			continue;
		}
		object_bad(o, "indicator_types", "an array of strings");
		if ((v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) && (rc = jsonin_skip(j)) < 0)
			return rc;
	}
	return rc;
}

static int read_confidence(struct jsonin *j, struct stix_object *o)
{
	struct jsonin_value v;
	int64_t c;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type == JSONIN_NUMBER && jsonin_int(v.s, v.len, &c) == 0 && c >= 0 && c <= 100) {
		o->confidence = (int)c;
		return 0;
	}
	object_bad(o, "confidence", "an integer from 0 to 100");
	return v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY ? jsonin_skip(j) : 0;
}

static int read_revoked(struct jsonin *j, struct stix_object *o)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type == JSONIN_TRUE || v.type == JSONIN_FALSE) {
		o->revoked = v.type == JSONIN_TRUE;
		return 0;
	}
	object_bad(o, "revoked", "true or false");
	return v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY ? jsonin_skip(j) : 0;
}

/* One member of an object: the fields an indicator needs, the rest skipped. */
static int read_member(struct stix_reader *r, struct jsonin *j, const struct jsonin_value *k,
		       struct stix_object *o)
{
	static const struct {
		const char *name;
		size_t value_at, has_at;
	} strings[] = {
#define FIELD(f) { #f, offsetof(struct stix_object, f), offsetof(struct stix_object, has_##f) }
		FIELD(type), FIELD(id), FIELD(pattern), FIELD(pattern_type), FIELD(valid_from),
		FIELD(valid_until), FIELD(name), FIELD(description),
#undef FIELD
	};

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (jsonin_key_is(k, strings[i].name))
			return read_string(j, o, strings[i].name,
					   (struct jsonin_value *)((char *)o + strings[i].value_at),
					   (bool *)((char *)o + strings[i].has_at));
	if (jsonin_key_is(k, "labels"))
		return read_labels(r, j, o);
	if (jsonin_key_is(k, "indicator_types"))
		return read_indicator_types(j, o);
	if (jsonin_key_is(k, "confidence"))
		return read_confidence(j, o);
	if (jsonin_key_is(k, "revoked"))
		return read_revoked(j, o);
	return jsonin_skip_value(j);
}

/* A STIX timestamp: RFC 3339 in UTC, written with Z. */
static bool stix_time(const struct jsonin_value *v, int64_t *ns)
{
	size_t bad;

	return v->len > 0 && v->s[v->len - 1] == 'Z' &&
	       time_parse_rfc3339(v->s, v->len, ns, &bad) == 0;
}

/* Gives the refused indicator to the sink; returns 0 (reading goes on). */
static int reject(struct stix_reader *r, unsigned index, const struct stix_object *o,
		  const char *why)
{
	char reason[700];

	r->stats.rejected++;
	if (o->has_id)
		snprintf(reason, sizeof(reason), "%.*s: %s", (int)(o->id.len > 120 ? 120 : o->id.len),
			 o->id.s, why);
	else
		snprintf(reason, sizeof(reason), "indicator without an id: %s", why);
	if (r->sink->reject)
		r->sink->reject(r->sink->ctx, index, reason);
	return 0;
}

/* The indicator's common fields: 0, or -EINVAL with why filled for reject(). */
static int indicator_fields(struct stix_reader *r, const struct stix_object *o,
			    struct ti_indicator *ind, char *why, size_t why_size)
{
	*ind = (struct ti_indicator){ .confidence = o->confidence, .tags = o->tags,
				      .n_tags = o->n_tags };
	if (o->has_valid_from && !stix_time(&o->valid_from, &ind->first_seen_ns)) {
		snprintf(why, why_size, "valid_from: expected a STIX timestamp (RFC 3339 with Z)");
		return -EINVAL;
	}
	if (o->has_valid_until && !stix_time(&o->valid_until, &ind->expires_ns)) {
		snprintf(why, why_size, "valid_until: expected a STIX timestamp (RFC 3339 with Z)");
		return -EINVAL;
	}
	if (o->has_valid_from && o->has_valid_until && ind->expires_ns <= ind->first_seen_ns) {
		snprintf(why, why_size, "valid_until is not later than valid_from");
		return -EINVAL;
	}
	if ((o->has_id && !(ind->ref = arena_cstr(r, &o->id))) ||
	    (o->has_description && !(ind->description = arena_cstr(r, &o->description))) ||
	    (!o->has_description && o->has_name && !(ind->description = arena_cstr(r, &o->name))))
		return -ENOMEM;
	return 0;
}

/* An indicator object read whole: its values to the sink, or one reject. */
static int indicator_emit(struct stix_reader *r, unsigned index, const struct stix_object *o,
			  struct err *e)
{
	struct ti_indicator ind;
	struct stix_value *values;
	struct err pe = ERR_INIT;
	char why[560];
	size_t n;
	int rc;

	r->stats.indicators++;
	if (o->bad[0])
		return reject(r, index, o, o->bad);
	if (o->revoked) {
		r->stats.revoked++;
		return 0;
	}
	if (o->benign) {
		r->stats.benign++;
		return 0;
	}
	if (o->has_pattern_type && !jsonin_key_is(&o->pattern_type, "stix")) {
		snprintf(why, sizeof(why), "pattern_type '%.*s' is not supported (only stix)",
			 (int)(o->pattern_type.len > 40 ? 40 : o->pattern_type.len), o->pattern_type.s);
		return reject(r, index, o, why);
	}
	if (!o->has_pattern)
		return reject(r, index, o, "no pattern");
	rc = indicator_fields(r, o, &ind, why, sizeof(why));
	if (rc == -EINVAL)
		return reject(r, index, o, why);
	if (rc < 0)
		return err_set(e, rc, "object %u: out of memory", index);
	rc = stix_pattern_parse(o->pattern.s, o->pattern.len, &r->arena, &values, &n, &pe);
	if (rc == -EINVAL)
		return reject(r, index, o, pe.msg);
	if (rc < 0)
		return err_set(e, rc, "object %u: out of memory", index);
	for (size_t i = 0; i < n; i++) {
		ind.type = values[i].type;
		ind.value = values[i].s;
		ind.len = values[i].len;
		if ((rc = r->sink->add(r->sink->ctx, &ind)) < 0) {
			if (!e || !e->msg[0])
				err_set(e, rc, "object %u: the indicator was not taken", index);
			return rc;
		}
		r->stats.values++;
	}
	return 0;
}

/* One element of the objects array. */
static int read_object(struct stix_reader *r, struct jsonin *j, unsigned index, struct err *e)
{
	struct stix_object o = { .confidence = -1 };
	struct jsonin_value v, k;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		goto json;
	if (v.type != JSONIN_OBJECT) {
		r->stats.malformed++;
		if (r->sink->reject)
			r->sink->reject(r->sink->ctx, index, "not a JSON object");
		if (v.type == JSONIN_ARRAY && (rc = jsonin_skip(j)) < 0)
			goto json;
		return 0;
	}
	while ((rc = jsonin_key(j, &k)) > 0)
		if ((rc = read_member(r, j, &k, &o)) < 0)
			break;
	if (rc < 0)
		goto json;
	if (!o.has_type) {
		r->stats.malformed++;
		if (r->sink->reject)
			r->sink->reject(r->sink->ctx, index, "object without a type");
		return 0;
	}
	if (!jsonin_key_is(&o.type, "indicator")) {
		r->stats.other++;
		return 0;
	}
	return indicator_emit(r, index, &o, e);
json:
	return jsonin_error(j, e) < 0 ? rc : err_set(e, rc, "object %u: out of memory", index);
}

int stix_reader_objects(struct stix_reader *r, struct jsonin *j, struct err *e)
{
	int rc;

	while ((rc = jsonin_more(j)) > 0) {
		r->stats.objects++;
		rc = read_object(r, j, (unsigned)r->stats.objects, e);
		arena_clear(&r->arena);
		if (rc < 0)
			return rc;
	}
	return rc < 0 ? jsonin_error(j, e) : 0;
}

void stix_jsonin_init(struct jsonin *j, const char *p, size_t len, struct stix_reader *r)
{
	jsonin_init(j, p, len, &r->arena, 0);
	if (len > j->max_tokens)
		j->max_tokens = len;
}

void stix_reader_init(struct stix_reader *r, const struct ti_sink *sink)
{
	memset(r, 0, sizeof(*r));
	r->sink = sink;
	arena_init(&r->arena, 64 << 10, STIX_OBJECT_MEM_MAX);
}

void stix_reader_release(struct stix_reader *r)
{
	arena_release(&r->arena);
}

/* The members of the bundle object: "objects" read, the rest skipped. */
static int read_bundle(struct stix_reader *r, struct jsonin *j, struct err *e)
{
	struct jsonin_value v, k;
	bool is_bundle = false;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return jsonin_error(j, e);
	if (v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "not a STIX bundle: expected a JSON object");
	while ((rc = jsonin_key(j, &k)) > 0) {
		if (jsonin_key_is(&k, "objects")) {
			if ((rc = jsonin_value(j, &v)) < 0)
				break;
			if (v.type != JSONIN_ARRAY)
				return err_set(e, -EINVAL, "byte %zu: \"objects\": expected an array",
					       v.offset + 1);
			if ((rc = stix_reader_objects(r, j, e)) < 0)
				return rc;
		} else if (jsonin_key_is(&k, "type")) {
			if ((rc = jsonin_value(j, &v)) < 0)
				break;
			is_bundle = v.type == JSONIN_STRING && jsonin_key_is(&v, "bundle");
		} else if ((rc = jsonin_skip_value(j)) < 0) {
			break;
		}
	}
	if (rc < 0)
		return jsonin_error(j, e);
	if ((rc = jsonin_finish(j, e)) < 0)
		return rc;
	if (!is_bundle)
		return err_set(e, -EINVAL, "not a STIX bundle: expected \"type\": \"bundle\"");
	return 0;
}

int stix_bundle_read(const char *p, size_t len, const struct ti_sink *sink,
		     struct stix_stats *stats, struct err *e)
{
	struct stix_reader r;
	struct jsonin j;
	int rc;

	if (e) /* "is e filled yet" is asked below: start empty */
		err_clear(e);
	stix_reader_init(&r, sink);
	stix_jsonin_init(&j, p, len, &r);
	rc = read_bundle(&r, &j, e);
	if (stats)
		*stats = r.stats;
	stix_reader_release(&r);
	return rc;
}
