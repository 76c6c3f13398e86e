/*
 * jsonmap.c - walks a JSON object with core/jsonin, building each key's dotted path, and
 * sets the fields the source's map names. Maps are sorted by path so that a lookup and
 * the question "does any mapped path lie below this object?" are binary searches.
 */
#include "parse/jsonmap.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/logtext.h"

#define PATH_MAX_BYTES 512 /* a key path while walking; longer paths match nothing */
#define DEPTH_MAX 32       /* objects entered; deeper ones are skipped whole */

struct map_entry {
	const char *path;  /* owned by the map */
	size_t len;
	unsigned field;
	bool timestamp;    /* the map's timestamp key (field is FIELD_TIMESTAMP) */
};

struct map {
	char *source;
	struct map_entry *e;
	size_t n;
};

static struct map *maps;
static size_t n_maps;

static void maps_free(void)
{
	for (size_t i = 0; i < n_maps; i++) {
		for (size_t j = 0; j < maps[i].n; j++)
			mem_free((char *)maps[i].e[j].path);
		mem_free(maps[i].e);
		mem_free(maps[i].source);
	}
	mem_free(maps);
	maps = NULL;
	n_maps = 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct map_entry *x = a, *y = b;
	int c = memcmp(x->path, y->path, MIN(x->len, y->len));

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Fields koban sets itself: a map may not write them. */
static bool reserved(unsigned f)
{
	return f == FIELD_EVENT_ORIGINAL || f == FIELD_EVENT_KIND || f == FIELD_EVENT_CREATED ||
	       f == FIELD_EVENT_INGESTED || f == FIELD_ECS_VERSION || f == FIELD_ERROR_MESSAGE ||
	       f == FIELD_ORGANIZATION_ID || f == FIELD_ORGANIZATION_NAME ||
	       f == FIELD_LOG_SOURCE_ADDRESS || f == FIELD_KOBAN_LOG_SOURCE_IP ||
	       f == FIELD_KOBAN_CLOCK_SKEW_SECONDS || f == FIELD_LOG_FLAGS;
}

static int add_entry(struct map *m, const char *path, unsigned field, bool ts,
		     const struct config_json_map *cm, unsigned line, struct err *e)
{
	struct map_entry *x = &m->e[m->n];

	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].path, path))
			return err_set(e, -EINVAL, "%s:%u: decoders.json.%s: key '%s' is mapped "
				       "twice (once as the timestamp)", "configuration", line,
				       cm->source, path);
	if (!(x->path = mem_strdup(path)))
		return err_set(e, -ENOMEM, "out of memory");
	x->len = strlen(path);
	x->field = field;
	x->timestamp = ts;
	m->n++;
	return 0;
}

static int compile(struct map *m, const struct config_json_map *cm, struct err *e)
{
	int rc;

	if (!(m->source = mem_strdup(cm->source)) ||
	    !(m->e = mem_calloc(cm->n_fields + 1, sizeof(*m->e))))
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < cm->n_fields; i++) {
		const struct config_json_field *f = &cm->fields[i];
		int id = field_lookup(f->to, strlen(f->to));

		if (id == -ENOENT)
			id = field_intern(f->to, strlen(f->to), FT_STR);
		if (id < 0)
			return err_set(e, id, "line %u: decoders.json.%s.fields.%s: cannot register "
				       "field '%s'", f->line, cm->source, f->from, f->to);
		if (reserved((unsigned)id))
			return err_set(e, -EINVAL, "line %u: decoders.json.%s.fields.%s: '%s' is set "
				       "by koban itself and cannot be mapped", f->line, cm->source,
				       f->from, f->to);
		if ((rc = add_entry(m, f->from, (unsigned)id, false, cm, f->line, e)) < 0)
			return rc;
	}
	if (cm->timestamp &&
	    (rc = add_entry(m, cm->timestamp, FIELD_TIMESTAMP, true, cm, cm->line, e)) < 0)
		return rc;
	qsort(m->e, m->n, sizeof(*m->e), entry_cmp);
	return 0;
}

int jsonmap_configure(const struct config *c, struct err *e)
{
	int rc;

	maps_free();
	if (!c->n_json_maps)
		return 0;
	if (!(maps = mem_calloc(c->n_json_maps, sizeof(*maps))))
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->n_json_maps; i++) {
		n_maps++;
		if ((rc = compile(&maps[i], &c->json_maps[i], e)) < 0) {
			maps_free();
			return rc;
		}
	}
	return 0;
}

static const struct map *map_of(const char *source)
{
	const struct map *fallback = NULL;

	for (size_t i = 0; i < n_maps; i++) {
		if (source && !strcmp(maps[i].source, source))
			return &maps[i];
		if (!strcmp(maps[i].source, "default"))
			fallback = &maps[i];
	}
	return fallback;
}

/* Index of the first entry whose path is >= p[0..len). */
static size_t lower_bound(const struct map *m, const char *p, size_t len)
{
	struct map_entry key = { p, len, 0, false };
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (entry_cmp(&m->e[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct map_entry *find(const struct map *m, const char *p, size_t len)
{
	size_t i = lower_bound(m, p, len);

	return i < m->n && m->e[i].len == len && !memcmp(m->e[i].path, p, len) ? &m->e[i] : NULL;
}

/* Whether some mapped path starts with p[0..len) followed by '.'. */
static bool has_below(const struct map *m, const char *p, size_t len)
{
	size_t i = lower_bound(m, p, len);

	for (; i < m->n && m->e[i].len >= len && !memcmp(m->e[i].path, p, len); i++)
		if (m->e[i].len > len && m->e[i].path[len] == '.')
			return true;
	return false;
}

/* ---- values ---- */

struct walk {
	struct event *ev;
	const struct map *m;
	struct jsonin j;
	const char *json;  /* the payload, for columns */
	size_t base;       /* offset of the payload in the message */
	struct err *e;
	char path[PATH_MAX_BYTES];
};

static int bad_value(struct walk *w, const struct map_entry *x, const struct jsonin_value *v,
		     const char *what)
{
	return err_set(w->e, -EINVAL, "column %zu: key %.*s (field %s): expected %s",
		       w->base + v->offset + 1, (int)json_utf8_cut(x->path, x->len, 128), x->path,
		       field_name(x->field), what);
}

/* Epoch seconds "I[.F]" (JSON number) or an RFC 3339 string into ns. */
static bool time_value(const struct jsonin_value *v, int64_t *ns)
{
	size_t bad;

	if (v->type == JSONIN_STRING)
		return time_parse_rfc3339(v->s, v->len, ns, &bad) == 0;
	return v->type == JSONIN_NUMBER &&
	       logtext_decimal_ns((struct logtext_span){ v->s, v->len }, NS_PER_SEC, ns);
}

static int set_value(struct walk *w, const struct map_entry *x, const struct jsonin_value *v,
		     bool add)
{
	struct event *ev = w->ev;
	struct ipaddr ip;
	int64_t i;
	int rc;

	if (v->type == JSONIN_NULL)
		return 0;
	switch (field_type(x->field)) {
	case FT_INT:
		if ((v->type != JSONIN_NUMBER && v->type != JSONIN_STRING) ||
		    jsonin_int(v->s, v->len, &i) < 0)
			return bad_value(w, x, v, "an integer (or a string of digits)");
		if (!field_int_valid(x->field, i)) /* a port 0-65535, a count 0 or more */
			return bad_value(w, x, v, field_int_range(x->field));
		rc = event_set_int(ev, x->field, i);
		break;
	case FT_TIME:
		if (!time_value(v, &i))
			return bad_value(w, x, v, "an RFC 3339 time or epoch seconds");
		rc = event_set_time(ev, x->field, i);
		break;
	case FT_IP:
		if (v->type != JSONIN_STRING || ipaddr_parse(&ip, v->s, v->len) < 0)
			return bad_value(w, x, v, "an IP address string");
		if (x->field == FIELD_RELATED_IP)
			rc = event_add_ip_once(ev, FIELD_RELATED_IP, &ip);
		else if ((rc = add || field_is_array(x->field) ? event_add_ip(ev, x->field, &ip)
							      : event_set_ip(ev, x->field, &ip)) == 0)
			rc = event_add_ip_once(ev, FIELD_RELATED_IP, &ip);
		break;
	case FT_BOOL:
		if (v->type == JSONIN_TRUE || (v->type == JSONIN_STRING && v->len == 4 &&
					       !memcmp(v->s, "true", 4)))
			rc = event_set_bool(ev, x->field, true);
		else if (v->type == JSONIN_FALSE || (v->type == JSONIN_STRING && v->len == 5 &&
						     !memcmp(v->s, "false", 5)))
			rc = event_set_bool(ev, x->field, false);
		else
			return bad_value(w, x, v, "true or false");
		break;
	default:
		rc = add || field_is_array(x->field) ? event_add_str(ev, x->field, v->s, v->len)
						      : event_set_str(ev, x->field, v->s, v->len);
	}
	return rc < 0 ? logtext_set_failed(rc, w->e) : 0;
}

static int jerr(struct walk *w)
{
	int rc = jsonin_error(&w->j, w->e);
	char msg[sizeof(w->e->msg)];

	/* jsonin's position is in the payload: say so when a header came before it */
	if (w->base) {
		memcpy(msg, w->e->msg, sizeof(msg));
		err_set(w->e, rc, "after the %zu-byte syslog header: %.*s", w->base,
			(int)json_utf8_cut(msg, strlen(msg), 400), msg);
	}
	return rc;
}

/* An array at a mapped key: each scalar element is one more value of a string field. */
static int set_array(struct walk *w, const struct map_entry *x)
{
	struct jsonin_value v;
	int rc;

	while ((rc = jsonin_more(&w->j)) > 0) {
		if ((rc = jsonin_value(&w->j, &v)) < 0)
			return jerr(w);
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) {
			if (jsonin_skip(&w->j) < 0)
				return jerr(w);
			continue;
		}
		if (field_type(x->field) != FT_STR && field_type(x->field) != FT_IP)
			return bad_value(w, x, &v, "one value, not an array");
		if ((rc = set_value(w, x, &v, true)) < 0)
			return rc;
	}
	return rc < 0 ? jerr(w) : 0;
}

/* The members of the object just entered, whose path is path[0..plen). */
static int walk_object(struct walk *w, size_t plen, unsigned depth)
{
	struct jsonin_value k, v;
	int rc;

	while ((rc = jsonin_key(&w->j, &k)) > 0) {
		size_t len = plen + (plen ? 1 : 0) + k.len;
		const struct map_entry *x = NULL;
		bool fits = len <= sizeof(w->path);

		if (fits) {
			if (plen)
				w->path[plen] = '.';
			memcpy(w->path + plen + (plen ? 1 : 0), k.s, k.len);
			x = find(w->m, w->path, len);
		}
		if ((rc = jsonin_value(&w->j, &v)) < 0)
			return jerr(w);
		if (v.type == JSONIN_OBJECT) {
			if (fits && depth < DEPTH_MAX && has_below(w->m, w->path, len))
				rc = walk_object(w, len, depth + 1);
			else if (x)
				rc = bad_value(w, x, &v, "a value, not an object");
			else
				rc = jsonin_skip(&w->j) < 0 ? jerr(w) : 0;
		} else if (v.type == JSONIN_ARRAY) {
			rc = x ? set_array(w, x) : jsonin_skip(&w->j) < 0 ? jerr(w) : 0;
		} else {
			rc = x ? set_value(w, x, &v, false) : 0;
		}
		if (rc < 0)
			return rc;
	}
	return rc < 0 ? jerr(w) : 0;
}

static int body(struct event *ev, const char *msg, struct logtext_span pl,
		const struct decode_opts *o, struct err *e)
{
	struct walk w = { .ev = ev, .m = map_of(o->source), .json = pl.p,
			  .base = (size_t)(pl.p - msg), .e = e };
	struct jsonin_value v;
	int rc;

	if (!w.m)
		return err_set(e, -EINVAL, "decoders.json has no field map for source '%s' and "
			       "no 'default' map", o->source ? o->source : "(none)");
	jsonin_init(&w.j, pl.p, pl.len, ev->arena, JSONIN_REPLACE_SURROGATES);
	if (jsonin_value(&w.j, &v) < 0)
		return jerr(&w);
	if (v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "column %zu: expected a JSON object", w.base + 1);
	if ((rc = walk_object(&w, 0, 0)) < 0)
		return rc;
	if (jsonin_finish(&w.j, e) < 0)
		return jerr(&w);
	return 0;
}

int jsonmap_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		   struct err *e)
{
	return logtext_decode(ev, msg, len, o, body, e);
}
