/*
 * misp.c - MISP feeds into threat-intelligence indicators (see misp.h).
 *
 * An event is read in two passes over the same bytes, because JSON keys come in any
 * order and every attribute needs the event's tags and threat level, which may follow
 * the attributes: the first pass reads the event's own fields and keeps the exact text
 * of its Attribute and Object arrays (validated whole by jsonin_raw_value), the second
 * walks those arrays. The event's copies live in one arena for the whole read; an
 * attribute's in a second one, cleared after each attribute.
 */
#include "enrich/misp.h"
#include "core/compat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/jsonin.h"
#include "core/timeutil.h"

/* How the indicator is taken from an attribute's value. */
enum misp_part {
	PART_WHOLE,
	PART_BEFORE_LAST, /* ip-dst|port: the address */
	PART_AFTER_LAST,  /* filename|sha256: the hash (file names may hold '|') */
	PART_DOMAIN_IP,   /* domain|ip: both */
};

static const struct misp_type {
	const char *name;
	enum ti_type type;
	enum misp_part part;
} misp_types[] = {
	{ "ip-src", TI_IP, PART_WHOLE },
	{ "ip-dst", TI_IP, PART_WHOLE },
	{ "ip-src|port", TI_IP, PART_BEFORE_LAST },
	{ "ip-dst|port", TI_IP, PART_BEFORE_LAST },
	{ "domain", TI_DOMAIN, PART_WHOLE },
	{ "hostname", TI_DOMAIN, PART_WHOLE },
	{ "hostname|port", TI_DOMAIN, PART_BEFORE_LAST },
	{ "domain|ip", TI_DOMAIN, PART_DOMAIN_IP },
	{ "url", TI_URL, PART_WHOLE },
	{ "uri", TI_URL, PART_WHOLE },
	{ "link", TI_URL, PART_WHOLE },
	{ "md5", TI_MD5, PART_WHOLE },
	{ "sha1", TI_SHA1, PART_WHOLE },
	{ "sha256", TI_SHA256, PART_WHOLE },
	{ "filename|md5", TI_MD5, PART_AFTER_LAST },
	{ "filename|sha1", TI_SHA1, PART_AFTER_LAST },
	{ "filename|sha256", TI_SHA256, PART_AFTER_LAST },
	{ "email", TI_EMAIL, PART_WHOLE },
	{ "email-src", TI_EMAIL, PART_WHOLE },
	{ "email-dst", TI_EMAIL, PART_WHOLE },
};

struct misp_event {
	const char *info; /* NULL: none */
	int confidence;
	const char *tags[MISP_TAGS_MAX];
	size_t n_tags;
	const char *attributes, *objects; /* the arrays' text, NULL: absent */
	size_t attributes_len, objects_len;
};

struct misp_attr {
	struct jsonin_value type, value, uuid, comment, first_seen, last_seen;
	int64_t timestamp; /* seconds, 0: none */
	bool to_ids, deleted;
	const char *tags[MISP_TAGS_MAX];
	size_t n_tags;
	char bad[160]; /* first field of the wrong type, "" while none */
};

struct misp_read {
	const struct misp_options *opt;
	const struct ti_sink *sink;
	struct misp_stats stats;
	struct arena event_arena, attr_arena;
	struct misp_event ev;
	unsigned index; /* attributes seen so far */
};

/*
 * A JSON reader over (part of) the event. Its token limit becomes the length of the
 * bytes, at least the default: a large event holds more than four million tokens, and
 * its size is bounded by whoever read it (a token takes a byte at least).
 */
static void event_jsonin_init(struct jsonin *j, const char *p, size_t len, struct arena *a)
{
	jsonin_init(j, p, len, a, 0);
	if (len > j->max_tokens)
		j->max_tokens = len;
}

/* ---- values ---- */

static void note_bad(char *bad, size_t size, const char *field, const char *expected)
{
	if (!bad[0])
		snprintf(bad, size, "%s: expected %s", field, expected);
}

/* After a value of the wrong type: skip the rest of it when it is a container. */
static int skip_rest(struct jsonin *j, const struct jsonin_value *v)
{
	return v->type == JSONIN_OBJECT || v->type == JSONIN_ARRAY ? jsonin_skip(j) : 0;
}

/* A boolean as MISP producers write it: true/false, 0/1, "0"/"1" (PyMISP's reading). */
static bool misp_bool(const struct jsonin_value *v, bool *out)
{
	if (v->type == JSONIN_TRUE || v->type == JSONIN_FALSE) {
		*out = v->type == JSONIN_TRUE;
		return true;
	}
	if ((v->type == JSONIN_NUMBER || v->type == JSONIN_STRING) && v->len == 1 &&
	    (v->s[0] == '0' || v->s[0] == '1')) {
		*out = v->s[0] == '1';
		return true;
	}
	return false;
}

/* An integer sent as a number or as a string (MISP sends most numbers as strings). */
static bool misp_int(const struct jsonin_value *v, int64_t *out)
{
	return (v->type == JSONIN_NUMBER || v->type == JSONIN_STRING) &&
	       jsonin_int(v->s, v->len, out) == 0;
}

static int read_bool(struct jsonin *j, bool *out, char *bad, size_t size, const char *field)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (!misp_bool(&v, out))
		note_bad(bad, size, field, "true or false");
	return skip_rest(j, &v);
}

/* A Tag array: [{"name": "tlp:green", ...}, ...]; names appended to tags[] (deduplicated). */
static int read_tags(struct jsonin *j, struct arena *a, const char **tags, size_t *n,
		     size_t *dropped)
{
	struct jsonin_value v, k;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type != JSONIN_ARRAY) {
		(*dropped)++;
		return skip_rest(j, &v);
	}
	while ((rc = jsonin_more(j)) > 0) {
		const char *name = NULL;

		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		if (v.type != JSONIN_OBJECT) {
			(*dropped)++;
			continue;
		}
		while ((rc = jsonin_key(j, &k)) > 0) {
			if (!jsonin_key_is(&k, "name")) {
				rc = jsonin_skip_value(j);
			} else if ((rc = jsonin_value(j, &v)) >= 0) {
				if (v.type == JSONIN_STRING && v.len && !memchr(v.s, '\0', v.len) &&
				    !(name = arena_strndup(a, v.s, v.len)))
					return -ENOMEM;
				rc = skip_rest(j, &v);
			}
			if (rc < 0)
				return rc;
		}
		if (rc < 0)
			return rc;
		if (!name || *n == MISP_TAGS_MAX) {
			(*dropped)++;
			continue;
		}
		for (size_t i = 0; i < *n && name; i++)
			if (!strcmp(tags[i], name))
				name = NULL;
		if (name)
			tags[(*n)++] = name;
	}
	return rc;
}

/* ---- attributes ---- */

static const struct misp_type *find_type(const struct jsonin_value *v)
{
	for (size_t i = 0; i < sizeof(misp_types) / sizeof(misp_types[0]); i++)
		if (jsonin_key_is(v, misp_types[i].name))
			return &misp_types[i];
	return NULL;
}

static int read_attr_string(struct jsonin *j, struct misp_attr *at, const char *field,
			    struct jsonin_value *out)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type == JSONIN_STRING)
		*out = v;
	else if (v.type != JSONIN_NULL) /* null: as absent, which producers also write */
		note_bad(at->bad, sizeof(at->bad), field, "a string");
	return skip_rest(j, &v);
}

static int read_attr_timestamp(struct jsonin *j, struct misp_attr *at)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (!misp_int(&v, &at->timestamp) || at->timestamp < 0 ||
	    at->timestamp > INT64_MAX / NS_PER_SEC)
		note_bad(at->bad, sizeof(at->bad), "timestamp", "Unix seconds");
	return skip_rest(j, &v);
}

static int read_attr_member(struct misp_read *r, struct jsonin *j,
			    const struct jsonin_value *k, struct misp_attr *at)
{
	static const struct {
		const char *name;
		size_t at;
	} strings[] = {
#define FIELD(f) { #f, offsetof(struct misp_attr, f) }
		FIELD(type), FIELD(value), FIELD(uuid), FIELD(comment), FIELD(first_seen),
		FIELD(last_seen),
#undef FIELD
	};

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (jsonin_key_is(k, strings[i].name))
			return read_attr_string(j, at, strings[i].name,
						(struct jsonin_value *)((char *)at + strings[i].at));
	if (jsonin_key_is(k, "to_ids"))
		return read_bool(j, &at->to_ids, at->bad, sizeof(at->bad), "to_ids");
	if (jsonin_key_is(k, "deleted"))
		return read_bool(j, &at->deleted, at->bad, sizeof(at->bad), "deleted");
	if (jsonin_key_is(k, "timestamp"))
		return read_attr_timestamp(j, at);
	if (jsonin_key_is(k, "Tag"))
		return read_tags(j, &r->attr_arena, at->tags, &at->n_tags,
				 &r->stats.tags_dropped);
	return jsonin_skip_value(j);
}

static int reject(struct misp_read *r, const struct misp_attr *at, const char *why)
{
	char reason[400];

	r->stats.rejected++;
	if (at->uuid.s)
		snprintf(reason, sizeof(reason), "%.*s: %s",
			 (int)(at->uuid.len > 64 ? 64 : at->uuid.len), at->uuid.s, why);
	else
		snprintf(reason, sizeof(reason), "attribute without a uuid: %s", why);
	if (r->sink->reject)
		r->sink->reject(r->sink->ctx, r->index, reason);
	return 0;
}

/* An RFC 3339 time of first_seen / last_seen: 0 when absent, -EINVAL when malformed. */
static int attr_time(const struct jsonin_value *v, int64_t *ns)
{
	size_t bad;

	if (!v->s)
		return 0;
	return time_parse_rfc3339(v->s, v->len, ns, &bad) < 0 ? -EINVAL : 0;
}

/* Splits the value as the type says into one or two (type, text) pairs; 0 when it cannot. */
static size_t split_value(const struct misp_type *t, const struct jsonin_value *v,
			  struct ti_indicator out[2])
{
	const char *bar;

	out[0].type = t->type;
	out[0].value = v->s;
	out[0].len = v->len;
	if (t->part == PART_WHOLE)
		return 1;
	/* domain|ip: a domain holds no '|'; the others: the last one (file names may) */
	bar = t->part == PART_DOMAIN_IP ? memchr(v->s, '|', v->len) : memrchr(v->s, '|', v->len);
	if (!bar || bar == v->s || bar == v->s + v->len - 1)
		return 0;
	out[1] = out[0];
	out[1].type = TI_IP;
	out[1].value = bar + 1;
	out[1].len = v->len - (size_t)(bar + 1 - v->s);
	out[0].len = (size_t)(bar - v->s);
	if (t->part == PART_AFTER_LAST) {
		out[0] = out[1];
		out[0].type = t->type;
	}
	return t->part == PART_DOMAIN_IP ? 2 : 1;
}

/* The event's tags and then the attribute's, without repeats. */
static void merge_tags(struct misp_read *r, struct misp_attr *at, const char **tags, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < r->ev.n_tags; i++)
		tags[(*n)++] = r->ev.tags[i];
	for (size_t i = 0; i < at->n_tags; i++) {
		bool seen = false;

		for (size_t k = 0; k < r->ev.n_tags && !seen; k++)
			seen = !strcmp(r->ev.tags[k], at->tags[i]);
		if (seen)
			continue;
		if (*n == MISP_TAGS_MAX)
			r->stats.tags_dropped++;
		else
			tags[(*n)++] = at->tags[i];
	}
}

/* Counts an attribute whose type carries no indicator, by its type's name when it can. */
static void count_unsupported(struct misp_stats *st, const struct jsonin_value *type)
{
	size_t i;

	st->unsupported++;
	if (type->len >= sizeof(st->skipped[0].name) || memchr(type->s, '\0', type->len))
		return;
	for (i = 0; i < st->n_skipped && !jsonin_key_is(type, st->skipped[i].name); i++)
		;
	if (i == st->n_skipped) {
		if (i == MISP_SKIPPED_TYPES_MAX)
			return;
		memcpy(st->skipped[i].name, type->s, type->len);
		st->skipped[i].name[type->len] = '\0';
		st->n_skipped++;
	}
	st->skipped[i].n++;
}

static int attr_emit(struct misp_read *r, struct misp_attr *at, struct err *e)
{
	const struct misp_type *t;
	struct ti_indicator ind[2];
	const char *tags[MISP_TAGS_MAX];
	size_t n, n_tags;
	int rc;

	if (at->bad[0])
		return reject(r, at, at->bad);
	if (at->deleted) {
		r->stats.deleted++;
		return 0;
	}
	if (!at->type.s)
		return reject(r, at, "no type");
	if (!(t = find_type(&at->type))) {
		count_unsupported(&r->stats, &at->type);
		return 0;
	}
	if (!at->to_ids && !(r->opt && r->opt->include_non_ids)) {
		r->stats.not_ids++;
		return 0;
	}
	if (!at->value.s || !at->value.len)
		return reject(r, at, "no value");
	memset(ind, 0, sizeof(ind));
	if (!(n = split_value(t, &at->value, ind)))
		return reject(r, at, "the value of a composite type needs two parts around '|'");
	if (attr_time(&at->first_seen, &ind[0].first_seen_ns) < 0)
		return reject(r, at, "first_seen: expected an RFC 3339 time");
	if (attr_time(&at->last_seen, &ind[0].last_seen_ns) < 0)
		return reject(r, at, "last_seen: expected an RFC 3339 time");
	if (!ind[0].last_seen_ns)
		ind[0].last_seen_ns = at->timestamp * NS_PER_SEC;
	merge_tags(r, at, tags, &n_tags);
	ind[0].confidence = r->ev.confidence;
	ind[0].tags = tags;
	ind[0].n_tags = n_tags;
	ind[0].description = r->ev.info;
	if ((at->comment.s && at->comment.len &&
	     !(ind[0].description = arena_strndup(&r->attr_arena, at->comment.s, at->comment.len))) ||
	    (at->uuid.s && !(ind[0].ref = arena_strndup(&r->attr_arena, at->uuid.s, at->uuid.len))))
		return err_set(e, -ENOMEM, "attribute %u: out of memory", r->index);
	for (size_t i = 0; i < n; i++) {
		struct ti_indicator one = ind[0];

		one.type = ind[i].type;
		one.value = ind[i].value;
		one.len = ind[i].len;
		if ((rc = r->sink->add(r->sink->ctx, &one)) < 0) {
			if (!e || !e->msg[0])
				err_set(e, rc, "attribute %u: the indicator was not taken", r->index);
			return rc;
		}
		r->stats.values++;
	}
	return 0;
}

/* One element of an Attribute array. */
static int read_attribute(struct misp_read *r, struct jsonin *j, bool object_deleted,
			  struct err *e)
{
	struct misp_attr at = { .to_ids = true };
	struct jsonin_value v, k;
	int rc;

	r->index++;
	r->stats.attributes++;
	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type != JSONIN_OBJECT) {
		note_bad(at.bad, sizeof(at.bad), "attribute", "a JSON object");
		if ((rc = skip_rest(j, &v)) < 0)
			return rc;
		return reject(r, &at, at.bad);
	}
	while ((rc = jsonin_key(j, &k)) > 0)
		if ((rc = read_attr_member(r, j, &k, &at)) < 0)
			return rc;
	if (rc < 0)
		return rc;
	at.deleted = at.deleted || object_deleted;
	return attr_emit(r, &at, e);
}

/* The JSON reader's error, else the arena's (the only other failure of a pass). */
static int pass_error(struct jsonin *j, int rc, struct err *e, const char *where)
{
	if (jsonin_error(j, e) < 0)
		return rc;
	if (e && e->msg[0])
		return rc;
	return err_set(e, rc, "%s: out of memory", where);
}

/* Walks an Attribute array's text (already validated by the first pass). */
static int read_attributes(struct misp_read *r, const char *p, size_t len, bool object_deleted,
			   struct err *e)
{
	struct jsonin j;
	struct jsonin_value v;
	int rc;

	event_jsonin_init(&j, p, len, &r->attr_arena);
	if ((rc = jsonin_value(&j, &v)) < 0)
		return pass_error(&j, rc, e, "Attribute");
	while ((rc = jsonin_more(&j)) > 0) {
		rc = read_attribute(r, &j, object_deleted, e);
		arena_clear(&r->attr_arena);
		if (rc < 0)
			return pass_error(&j, rc, e, "Attribute");
	}
	return rc < 0 ? pass_error(&j, rc, e, "Attribute") : 0;
}

/* One element of the Object array: its deleted flag and its attributes. */
static int read_object(struct misp_read *r, struct jsonin *j, struct err *e)
{
	struct jsonin_value v, k;
	const char *attrs = NULL;
	size_t attrs_len = 0;
	bool deleted = false;
	char bad[160] = "";
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "byte %zu: Object: expected JSON objects", v.offset + 1);
	while ((rc = jsonin_key(j, &k)) > 0) {
		if (jsonin_key_is(&k, "deleted"))
			rc = read_bool(j, &deleted, bad, sizeof(bad), "deleted");
		else if (jsonin_key_is(&k, "Attribute"))
			rc = jsonin_raw_value(j, &attrs, &attrs_len);
		else
			rc = jsonin_skip_value(j);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (!attrs)
		return 0;
	if (attrs[0] != '[')
		return err_set(e, -EINVAL, "Object.Attribute: expected an array");
	/* a deleted flag that cannot be read counts as deleted: never act on a doubt */
	return read_attributes(r, attrs, attrs_len, deleted || bad[0], e);
}

static int read_objects(struct misp_read *r, struct err *e)
{
	struct jsonin j;
	struct jsonin_value v;
	int rc;

	event_jsonin_init(&j, r->ev.objects, r->ev.objects_len, &r->attr_arena);
	if ((rc = jsonin_value(&j, &v)) < 0)
		return pass_error(&j, rc, e, "Object");
	while ((rc = jsonin_more(&j)) > 0)
		if ((rc = read_object(r, &j, e)) < 0)
			return pass_error(&j, rc, e, "Object");
	return rc < 0 ? pass_error(&j, rc, e, "Object") : 0;
}

/* ---- the event ---- */

/* threat_level_id 1 high, 2 medium, 3 low, 4 undefined. */
static int threat_confidence(int64_t level)
{
	static const int confidence[] = { -1, 90, 60, 30, -1 };

	return level >= 1 && level <= 4 ? confidence[level] : -1;
}

/* The Attribute or Object array's text, kept for the second pass. */
static int keep_array(struct jsonin *j, const char *name, const char **p, size_t *len,
		      struct err *e)
{
	int rc = jsonin_raw_value(j, p, len);

	if (rc < 0)
		return rc;
	if (**p == 'n') { /* null: none */
		*p = NULL;
		return 0;
	}
	if (**p != '[')
		return err_set(e, -EINVAL, "Event.%s: expected an array", name);
	return 0;
}

static int read_event_member(struct misp_read *r, struct jsonin *j, const struct jsonin_value *k,
			     struct err *e)
{
	struct jsonin_value v;
	int64_t level;
	int rc;

	if (jsonin_key_is(k, "Attribute"))
		return keep_array(j, "Attribute", &r->ev.attributes, &r->ev.attributes_len, e);
	if (jsonin_key_is(k, "Object"))
		return keep_array(j, "Object", &r->ev.objects, &r->ev.objects_len, e);
	if (jsonin_key_is(k, "Tag"))
		return read_tags(j, &r->event_arena, r->ev.tags, &r->ev.n_tags,
				 &r->stats.tags_dropped);
	if (!jsonin_key_is(k, "info") && !jsonin_key_is(k, "threat_level_id"))
		return jsonin_skip_value(j);
	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (jsonin_key_is(k, "threat_level_id") && misp_int(&v, &level))
		r->ev.confidence = threat_confidence(level);
	else if (jsonin_key_is(k, "info") && v.type == JSONIN_STRING && v.len &&
		 !(r->ev.info = arena_strndup(&r->event_arena, v.s, v.len)))
		return -ENOMEM;
	return skip_rest(j, &v);
}

/* First pass: {"Event": {...}}, the event's own fields and its arrays' text. */
static int read_event_fields(struct misp_read *r, const char *p, size_t len, struct err *e)
{
	struct jsonin j;
	struct jsonin_value v, k;
	bool found = false;
	int rc;

	event_jsonin_init(&j, p, len, &r->event_arena);
	if ((rc = jsonin_value(&j, &v)) < 0)
		return pass_error(&j, rc, e, "Event");
	if (v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "not a MISP event: expected a JSON object");
	while ((rc = jsonin_key(&j, &k)) > 0) {
		if (!jsonin_key_is(&k, "Event")) {
			rc = jsonin_skip_value(&j);
		} else if ((rc = jsonin_value(&j, &v)) >= 0) {
			if (v.type != JSONIN_OBJECT)
				return err_set(e, -EINVAL, "\"Event\": expected an object");
			found = true;
			while ((rc = jsonin_key(&j, &k)) > 0)
				if ((rc = read_event_member(r, &j, &k, e)) < 0)
					break;
		}
		if (rc < 0)
			break;
	}
	if (rc < 0)
		return e && e->msg[0] ? rc : pass_error(&j, rc, e, "Event");
	if ((rc = jsonin_finish(&j, e)) < 0)
		return rc;
	if (!found)
		return err_set(e, -EINVAL, "not a MISP event: no \"Event\" object");
	return 0;
}

int misp_event_read(const char *p, size_t len, const struct misp_options *opt,
		    const struct ti_sink *sink, struct misp_stats *stats, struct err *e)
{
	struct misp_read r = { .opt = opt, .sink = sink, .ev = { .confidence = -1 } };
	int rc;

	if (e) /* "is e filled yet" is asked below: start empty */
		err_clear(e);
	arena_init(&r.event_arena, 16 << 10, MISP_EVENT_MEM_MAX);
	arena_init(&r.attr_arena, 16 << 10, MISP_EVENT_MEM_MAX);
	rc = read_event_fields(&r, p, len, e);
	if (!rc && r.ev.attributes)
		rc = read_attributes(&r, r.ev.attributes, r.ev.attributes_len, false, e);
	if (!rc && r.ev.objects)
		rc = read_objects(&r, e);
	if (stats)
		*stats = r.stats;
	arena_release(&r.attr_arena);
	arena_release(&r.event_arena);
	return rc;
}

/* ---- the manifest ---- */

/* A canonical UUID (8-4-4-4-12 hex digits), copied in lower case. */
static bool misp_uuid(const struct jsonin_value *k, char out[37])
{
	if (k->len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = k->s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (c >= 'A' && c <= 'F') {
			c = (char)(c - 'A' + 'a');
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
		out[i] = c;
	}
	out[36] = '\0';
	return true;
}

/* One manifest entry's object: timestamp (required), info, threat_level_id. */
static int read_entry(struct jsonin *j, struct arena *a, struct misp_manifest_entry *m,
		      struct err *e)
{
	struct jsonin_value v, k;
	bool has_time = false;
	int64_t n;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "manifest entry %s: expected an object", m->uuid);
	while ((rc = jsonin_key(j, &k)) > 0) {
		if (!jsonin_key_is(&k, "timestamp") && !jsonin_key_is(&k, "info") &&
		    !jsonin_key_is(&k, "threat_level_id")) {
			if ((rc = jsonin_skip_value(j)) < 0)
				return rc;
			continue;
		}
		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		if (jsonin_key_is(&k, "timestamp") && misp_int(&v, &n) && n >= 0) {
			m->timestamp = n;
			has_time = true;
		} else if (jsonin_key_is(&k, "threat_level_id") && misp_int(&v, &n) && n >= 1 &&
			   n <= 4) {
			m->threat_level = (int)n;
		} else if (jsonin_key_is(&k, "info") && v.type == JSONIN_STRING &&
			   !(m->info = arena_strndup(a, v.s, v.len))) {
			return -ENOMEM;
		}
		if ((rc = skip_rest(j, &v)) < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (!has_time)
		return err_set(e, -EINVAL, "manifest entry %s: no timestamp (Unix seconds)",
			       m->uuid);
	return 0;
}

static int read_manifest(struct jsonin *j, struct arena *a,
			 int (*each)(void *ctx, const struct misp_manifest_entry *m), void *ctx,
			 struct err *e)
{
	struct jsonin_value v, k;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "not a MISP manifest: expected a JSON object");
	while ((rc = jsonin_key(j, &k)) > 0) {
		struct misp_manifest_entry m = { .info = "" };

		if (!misp_uuid(&k, m.uuid))
			return err_set(e, -EINVAL, "manifest byte %zu: the key is no event UUID",
				       k.offset + 1);
		if ((rc = read_entry(j, a, &m, e)) < 0)
			return rc;
		rc = each(ctx, &m);
		arena_clear(a);
		if (rc < 0)
			return e && e->msg[0] ? rc : err_set(e, rc, "manifest entry %s: stopped", m.uuid);
	}
	return rc;
}

int misp_manifest_read(const char *p, size_t len,
		       int (*each)(void *ctx, const struct misp_manifest_entry *m), void *ctx,
		       struct err *e)
{
	struct arena a;
	struct jsonin j;
	int rc;

	if (e) /* "is e filled yet" is asked below: start empty */
		err_clear(e);
	arena_init(&a, 4096, MISP_EVENT_MEM_MAX);
	event_jsonin_init(&j, p, len, &a);
	rc = read_manifest(&j, &a, each, ctx, e);
	if (rc < 0 && !(e && e->msg[0]))
		rc = pass_error(&j, rc, e, "manifest");
	if (!rc)
		rc = jsonin_finish(&j, e);
	arena_release(&a);
	return rc;
}
