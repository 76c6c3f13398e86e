#include "detect/sigma.h"
#include "core/compat.h"

#include <dirent.h>
#include <limits.h>
#include <libfyaml.h>
#include <sys/stat.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/json.h"
#include "core/mem.h"
#include "detect/sigcond.h"
#include "detect/sigval.h"

#define LOG_MODULE "sigma"
#include "core/log.h"

#define STRINGS_MAX (256u << 20)   /* bytes of strings one set keeps */
#define NEEDS_MAX 4096             /* literals held while a rule's prefilter set is built */
#define IDENTS_MAX 1024            /* search identifiers of one detection */
#define ITEMS_MAX 4096             /* field items of one search identifier */
#define PATHS_MAX 100000           /* files one directory load takes */

_Static_assert(SIGVAL_KEYWORDS == SIGMA_ANY_FIELD, "keyword literals keep sigval's field");

static const char *const levels[] = { "informational", "low", "medium", "high", "critical" };
static const char *const statuses[] = { "stable", "test", "experimental", "deprecated",
					"unsupported" };

/* A group of items, ANDed (one map of a search identifier). */
struct group {
	struct sigval_item **items;
	size_t n;
};

/* A search identifier: its groups ORed (a list of maps), usually one. */
struct ident {
	const char *name;
	struct group *groups;
	size_t n;
};

struct detect {
	struct ident *ids;
	size_t n;
	const char **names;
	struct sigcond cond;
};

struct filter {
	const char *id, *file;
	unsigned line;
	struct sigma_logsource ls;
	const char **rules;
	size_t n_rules;
	struct detect det;
};

struct sigma_rule {
	const char *id, *name, *title, *level, *status, *author, *file;
	unsigned line;
	struct sigma_logsource ls;
	const char **tags, **refs;
	size_t n_tags, n_refs;
	struct detect det;
	const struct filter **filters;
	size_t n_filters;
	struct sigma_literal *lits;
	size_t n_lits;
};

struct sigma_set {
	struct sigma_options opt;
	struct arena strings;
	struct sigma_rule **rules;
	size_t n_rules, cap_rules;
	struct filter **filters;
	size_t n_filters, cap_filters;
	struct sigma_counts counts;
	size_t max_idents;
};

struct sigma_scratch {
	struct sigval_scratch *val;
	uint8_t *cache; /* per identifier: 0 unknown, 1 no, 2 yes */
	size_t n_cache;
};

/* What compiling one document needs. */
struct doc_ctx {
	struct sigma_set *s;
	const char *file;
	const char *id;            /* for reports */
	struct sigma_logsource ls; /* the document's, for the field resolver */
	struct err *e;
};

/* ---- small helpers ---- */

static void report(struct sigma_set *s, const char *file, unsigned line, const char *id,
		   const char *reason)
{
	if (s->opt.report)
		s->opt.report(s->opt.report_ctx, file, line, id, reason);
	else
		log_warn("%s:%u: %s: %s", file, line, id, reason);
}

static const char *keep(struct sigma_set *s, const char *p, size_t n)
{
	return arena_strndup(&s->strings, p, n);
}

/* 1-based line of a node: its token, or its first key or item. 0 when unknown. */
static unsigned node_line(struct fy_node *n)
{
	void *it = NULL;

	if (!n)
		return 0;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR: {
		struct fy_token *t = fy_node_get_scalar_token(n);
		const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;

		return m ? (unsigned)m->line + 1 : 0;
	}
	case FYNT_MAPPING: {
		struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);

		return p ? node_line(fy_node_pair_key(p)) : 0;
	}
	case FYNT_SEQUENCE:
		return node_line(fy_node_sequence_iterate(n, &it));
	}
	return 0;
}

static bool is_null(struct fy_node *n)
{
	const char *t;
	size_t len;

	if (!n)
		return true;
	if (fy_node_get_type(n) != FYNT_SCALAR || fy_node_get_style(n) != FYNS_PLAIN)
		return false;
	t = fy_node_get_scalar(n, &len);
	return !t || !len || (len == 1 && *t == '~') ||
	       (len == 4 && (!memcmp(t, "null", 4) || !memcmp(t, "Null", 4) ||
			     !memcmp(t, "NULL", 4)));
}

/* Fails at node n with a message (FILE:LINE is added by the caller's report). */
static int fail_at(struct doc_ctx *d, struct fy_node *n, unsigned *line, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static int fail_at(struct doc_ctx *d, struct fy_node *n, unsigned *line, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(d->e->msg)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (node_line(n))
		*line = node_line(n);
	return err_set(d->e, -EINVAL, "%s", msg);
}

/* A scalar's text kept in the set, or NULL (not a scalar, or no memory: *rc says). */
static const char *scalar(struct doc_ctx *d, struct fy_node *n, int *rc)
{
	const char *t;
	size_t len;
	const char *k;

	*rc = 0;
	if (!n || fy_node_get_type(n) != FYNT_SCALAR || is_null(n))
		return NULL;
	t = fy_node_get_scalar(n, &len);
	k = keep(d->s, t ? t : "", t ? len : 0);
	if (!k)
		*rc = err_set(d->e, -ENOMEM, "out of memory");
	return k;
}

static struct fy_node *get(struct fy_node *map, const char *key)
{
	return fy_node_mapping_lookup_by_string(map, key, strlen(key));
}

/* A string field of the document: absent is "" unless required. */
static int meta_string(struct doc_ctx *d, struct fy_node *root, const char *key, bool required,
		       const char **out, unsigned *line)
{
	struct fy_node *n = get(root, key);
	int rc;

	*out = "";
	if (!n || is_null(n)) {
		if (required)
			return fail_at(d, root, line, "%s: expected a string, found nothing", key);
		return 0;
	}
	if (fy_node_get_type(n) != FYNT_SCALAR)
		return fail_at(d, n, line, "%s: expected a string", key);
	*out = scalar(d, n, &rc);
	return rc;
}

/* A list of strings (tags, references, filter rules); a single string is a list of one. */
static int string_list(struct doc_ctx *d, struct fy_node *n, const char *key, const char ***out,
		       size_t *count, unsigned *line)
{
	void *it = NULL;
	struct fy_node *item;
	size_t k = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if (!n || is_null(n))
		return 0;
	if (fy_node_get_type(n) == FYNT_SCALAR) {
		*out = arena_alloc(&d->s->strings, sizeof(**out));
		if (!*out)
			return err_set(d->e, -ENOMEM, "out of memory");
		(*out)[0] = scalar(d, n, &rc);
		*count = 1;
		return rc;
	}
	if (fy_node_get_type(n) != FYNT_SEQUENCE)
		return fail_at(d, n, line, "%s: expected a list of strings", key);
	*out = arena_alloc(&d->s->strings,
			   (size_t)MAX(fy_node_sequence_item_count(n), 1) * sizeof(**out));
	if (!*out)
		return err_set(d->e, -ENOMEM, "out of memory");
	while ((item = fy_node_sequence_iterate(n, &it))) {
		if (fy_node_get_type(item) != FYNT_SCALAR || is_null(item))
			return fail_at(d, item, line, "%s: expected a list of strings", key);
		(*out)[k++] = scalar(d, item, &rc);
		if (rc < 0)
			return rc;
	}
	*count = k;
	return 0;
}

static bool one_of(const char *v, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v, names[i]))
			return true;
	return false;
}

static int logsource(struct doc_ctx *d, struct fy_node *root, unsigned *line)
{
	struct fy_node *n = get(root, "logsource");
	int rc;

	memset(&d->ls, 0, sizeof(d->ls));
	if (!n || is_null(n))
		return 0;
	if (fy_node_get_type(n) != FYNT_MAPPING)
		return fail_at(d, n, line, "logsource: expected a map (category, product, service)");
	if ((rc = meta_string(d, n, "category", false, &d->ls.category, line)) < 0 ||
	    (rc = meta_string(d, n, "product", false, &d->ls.product, line)) < 0 ||
	    (rc = meta_string(d, n, "service", false, &d->ls.service, line)) < 0)
		return rc;
	if (!*d->ls.category)
		d->ls.category = NULL;
	if (!*d->ls.product)
		d->ls.product = NULL;
	if (!*d->ls.service)
		d->ls.service = NULL;
	return 0;
}

/* ---- detection ---- */

static int placeholder_values(void *ctx, const char *name, size_t len, const char *const **values,
			      size_t *n)
{
	struct doc_ctx *d = ctx;

	for (size_t i = 0; i < d->s->opt.n_placeholders; i++) {
		const struct sigma_placeholder *p = &d->s->opt.placeholders[i];

		if (strlen(p->name) == len && !memcmp(p->name, name, len)) {
			*values = p->values;
			*n = p->n;
			return 0;
		}
	}
	return -ENOENT;
}

int sigma_field_id(const struct sigma_fields *f, const struct sigma_logsource *ls,
		   const char *name, size_t len, struct err *e)
{
	char given[FIELD_NAME_MAX + 1];
	const char *use = given;
	int id;

	if (!len || len > FIELD_NAME_MAX)
		return err_set(e, -EINVAL, "expected a field name of 1 to %d bytes", FIELD_NAME_MAX);
	memcpy(given, name, len);
	given[len] = '\0';
	if (f && f->resolve) {
		use = f->resolve(f->ctx, ls->category, ls->product, ls->service, given, e);
		if (!use)
			return e->code < 0 ? e->code
					   : err_set(e, -EINVAL, "field %s: no field map knows it", given);
	}
	id = field_lookup(use, strlen(use));
	if (id == -ENOENT)
		id = field_lookup_nocase(use, strlen(use));
	if (id == -ENOENT)
		id = field_intern(use, strlen(use), FT_STR);
	if (id < 0)
		return err_set(e, id, "field %s: cannot be registered (%s)", use, strerror(-id));
	return id;
}

/* sigval's field resolver: the document's logsource and the set's field maps. */
static int field_id(void *ctx, const char *name, size_t len, struct err *e)
{
	struct doc_ctx *d = ctx;

	return sigma_field_id(d->s->opt.fields, &d->ls, name, len, e);
}

static int add_item(struct doc_ctx *d, struct group *g, struct sigval_item *it)
{
	struct sigval_item **ni;

	if (g->n >= ITEMS_MAX) {
		sigval_item_free(it);
		return err_set(d->e, -EINVAL, "expected at most %d fields in a map", ITEMS_MAX);
	}
	ni = mem_realloc(g->items, (g->n + 1) * sizeof(*ni));
	if (!ni) {
		sigval_item_free(it);
		return err_set(d->e, -ENOMEM, "out of memory");
	}
	g->items = ni;
	g->items[g->n++] = it;
	return 0;
}

/* The values of an item: a scalar, null, or a list of scalars (an empty list is null). */
static int item_values(struct doc_ctx *d, struct fy_node *v, struct sigval_input **out,
		       size_t *n, unsigned *line)
{
	struct fy_node *x;
	void *it = NULL;
	size_t k = 0;
	int count = fy_node_get_type(v) == FYNT_SEQUENCE ? fy_node_sequence_item_count(v) : 1;

	*out = mem_calloc((size_t)(count ? count : 1), sizeof(**out));
	if (!*out)
		return err_set(d->e, -ENOMEM, "out of memory");
	if (fy_node_get_type(v) == FYNT_MAPPING)
		return fail_at(d, v, line, "expected a value or a list of values, found a map");
	if (fy_node_get_type(v) == FYNT_SEQUENCE && !count) {
		(*out)[0].null = true;
		*n = 1;
		return 0;
	}
	x = fy_node_get_type(v) == FYNT_SEQUENCE ? fy_node_sequence_iterate(v, &it) : v;
	for (; x; x = fy_node_get_type(v) == FYNT_SEQUENCE ? fy_node_sequence_iterate(v, &it) : NULL) {
		if (fy_node_get_type(x) != FYNT_SCALAR)
			return fail_at(d, x, line, "expected a list of plain values, found a %s",
				       fy_node_get_type(x) == FYNT_MAPPING ? "map" : "list");
		(*out)[k].null = is_null(x);
		(*out)[k].s = fy_node_get_scalar(x, &(*out)[k].len);
		if (!(*out)[k].s)
			(*out)[k].s = "";
		k++;
	}
	*n = k;
	return 0;
}

/* One `field|mods: values` entry (field empty: keywords with modifiers, as '|all'). */
static int compile_item(struct doc_ctx *d, struct group *g, struct fy_node *key,
			struct fy_node *val, unsigned *line)
{
	struct sigval_env env = { d, placeholder_values, field_id };
	struct sigval_input *in = NULL;
	struct sigval_item *it;
	const char *k, *bar;
	size_t klen, n = 0;
	int field = SIGVAL_KEYWORDS, rc;

	k = fy_node_get_scalar(key, &klen);
	if (!k || fy_node_get_type(key) != FYNT_SCALAR)
		return fail_at(d, key, line, "expected a field name as the key");
	bar = memchr(k, '|', klen);
	if ((bar ? (size_t)(bar - k) : klen) > 0) {
		field = field_id(d, k, bar ? (size_t)(bar - k) : klen, d->e);
		if (field < 0)
			return field == -ENOMEM ? field : fail_at(d, key, line, "%s", d->e->msg);
	}
	rc = item_values(d, val, &in, &n, line);
	if (rc >= 0) {
		rc = sigval_item_new(&it, field, bar ? bar + 1 : "", bar ? klen - (size_t)(bar - k) - 1 : 0,
				     in, n, &env, d->e);
		if (rc < 0 && rc != -ENOMEM)
			rc = fail_at(d, key, line, "%.*s: %s", (int)MIN(klen, 128), k, d->e->msg);
		else
			rc = add_item(d, g, it);
	}
	mem_free(in);
	return rc;
}

static int compile_map(struct doc_ctx *d, struct group *g, struct fy_node *map, unsigned *line)
{
	struct fy_node_pair *p;
	void *it = NULL;
	int rc;

	if (!fy_node_mapping_item_count(map))
		return fail_at(d, map, line, "expected a map of fields, found an empty one");
	while ((p = fy_node_mapping_iterate(map, &it))) {
		if ((rc = compile_item(d, g, fy_node_pair_key(p), fy_node_pair_value(p), line)) < 0)
			return rc;
	}
	return 0;
}

static int add_group(struct doc_ctx *d, struct ident *id, struct group **g)
{
	struct group *ng = mem_realloc(id->groups, (id->n + 1) * sizeof(*ng));

	if (!ng)
		return err_set(d->e, -ENOMEM, "out of memory");
	id->groups = ng;
	*g = &ng[id->n++];
	memset(*g, 0, sizeof(**g));
	return 0;
}

/* Keywords: one string, or a list of them (ORed), searched in the event's text. */
static int compile_keywords(struct doc_ctx *d, struct ident *id, struct fy_node *v,
			    unsigned *line)
{
	struct sigval_env env = { d, placeholder_values, field_id };
	struct sigval_input *in = NULL;
	struct sigval_item *item;
	struct group *g;
	size_t n = 0;
	int rc;

	if ((rc = add_group(d, id, &g)) < 0)
		return rc;
	rc = item_values(d, v, &in, &n, line);
	if (rc >= 0) {
		rc = sigval_item_new(&item, SIGVAL_KEYWORDS, "", 0, in, n, &env, d->e);
		if (rc < 0 && rc != -ENOMEM)
			rc = fail_at(d, v, line, "%s: %s", id->name, d->e->msg);
		else if (rc >= 0)
			rc = add_item(d, g, item);
	}
	mem_free(in);
	return rc;
}

/* A list of keywords (strings), or a list of maps (ORed). */
static int compile_list(struct doc_ctx *d, struct ident *id, struct fy_node *seq, unsigned *line)
{
	struct fy_node *x;
	struct group *g;
	void *it = NULL;
	bool maps = false, scalars = false;
	int rc;

	while ((x = fy_node_sequence_iterate(seq, &it))) {
		maps |= fy_node_get_type(x) == FYNT_MAPPING;
		scalars |= fy_node_get_type(x) != FYNT_MAPPING;
	}
	if (maps == scalars)
		return fail_at(d, seq, line, "%s: expected a list of maps or a list of keywords",
			       id->name);
	if (scalars)
		return compile_keywords(d, id, seq, line);
	it = NULL;
	while ((x = fy_node_sequence_iterate(seq, &it))) {
		if ((rc = add_group(d, id, &g)) < 0 || (rc = compile_map(d, g, x, line)) < 0)
			return rc;
	}
	return 0;
}

static int compile_ident(struct doc_ctx *d, struct ident *id, struct fy_node *v, unsigned *line)
{
	struct group *g;
	int rc;

	switch (fy_node_get_type(v)) {
	case FYNT_MAPPING:
		if ((rc = add_group(d, id, &g)) < 0)
			return rc;
		return compile_map(d, g, v, line);
	case FYNT_SEQUENCE:
		if (!fy_node_sequence_item_count(v))
			return fail_at(d, v, line, "%s: expected a map or a list, found an empty list",
				       id->name);
		return compile_list(d, id, v, line);
	case FYNT_SCALAR:
		if (is_null(v))
			break;
		return compile_keywords(d, id, v, line);
	}
	return fail_at(d, v, line, "%s: expected a map, a list of maps or keywords", id->name);
}

/* The condition text: a string, or a list of strings (ORed, Sigma 1). */
static int condition_text(struct doc_ctx *d, struct fy_node *c, char **out, size_t *len,
			  unsigned *line)
{
	struct fy_node *x;
	void *it = NULL;
	size_t n = 0, cap = 0;
	char *buf = NULL;

	if (!c || is_null(c))
		return fail_at(d, c, line, "condition: expected a condition, found nothing");
	if (fy_node_get_type(c) == FYNT_MAPPING)
		return fail_at(d, c, line, "condition: expected a string");
	x = fy_node_get_type(c) == FYNT_SEQUENCE ? fy_node_sequence_iterate(c, &it) : c;
	for (; x; x = fy_node_get_type(c) == FYNT_SEQUENCE ? fy_node_sequence_iterate(c, &it) : NULL) {
		size_t tl;
		const char *t = fy_node_get_type(x) == FYNT_SCALAR ? fy_node_get_scalar(x, &tl) : NULL;
		char *nb;

		if (!t) {
			mem_free(buf);
			return fail_at(d, x, line, "condition: expected strings");
		}
		if (n + tl + 8 > SIGCOND_TEXT_MAX) {
			mem_free(buf);
			return fail_at(d, x, line, "condition: expected at most %d bytes",
				       SIGCOND_TEXT_MAX);
		}
		if (n + tl + 8 > cap) {
			cap = (n + tl + 8) * 2;
			if (!(nb = mem_realloc(buf, cap))) {
				mem_free(buf);
				return err_set(d->e, -ENOMEM, "out of memory");
			}
			buf = nb;
		}
		if (fy_node_get_type(c) == FYNT_SEQUENCE) /* ORed, each in parentheses */
			n += (size_t)snprintf(buf + n, cap - n, "%s(%.*s)", n ? " or " : "", (int)tl, t);
		else
			n += (size_t)snprintf(buf + n, cap - n, "%.*s", (int)tl, t);
	}
	if (!buf)
		return fail_at(d, c, line, "condition: expected a condition, found an empty list");
	*out = buf;
	*len = n;
	return 0;
}

static void detect_release(struct detect *det)
{
	for (size_t i = 0; i < det->n; i++) {
		struct ident *id = &det->ids[i];

		for (size_t g = 0; g < id->n; g++) {
			for (size_t k = 0; k < id->groups[g].n; k++)
				sigval_item_free(id->groups[g].items[k]);
			mem_free(id->groups[g].items);
		}
		mem_free(id->groups);
	}
	mem_free(det->ids);
	mem_free(det->names);
	sigcond_release(&det->cond);
	memset(det, 0, sizeof(*det));
}

/* The search identifiers and condition of map (a rule's detection, a filter's filter). */
static int compile_detection(struct doc_ctx *d, struct fy_node *map, struct detect *det,
			     const char *what, const char *skip, unsigned *line)
{
	struct fy_node_pair *p;
	struct fy_node *cond = NULL;
	void *it = NULL;
	size_t count = fy_node_mapping_item_count(map) > 0 ? (size_t)fy_node_mapping_item_count(map) : 0;
	char *text = NULL;
	size_t text_len = 0;
	int rc;

	memset(det, 0, sizeof(*det));
	if (count > IDENTS_MAX)
		return fail_at(d, map, line, "%s: expected at most %d search identifiers", what,
			       IDENTS_MAX);
	det->ids = mem_calloc(count + 1, sizeof(*det->ids));
	det->names = mem_calloc(count + 1, sizeof(*det->names));
	if (!det->ids || !det->names)
		return err_set(d->e, -ENOMEM, "out of memory");
	while ((p = fy_node_mapping_iterate(map, &it))) {
		struct fy_node *k = fy_node_pair_key(p);
		size_t kl;
		const char *kt = fy_node_get_type(k) == FYNT_SCALAR ? fy_node_get_scalar(k, &kl) : NULL;
		struct ident *id;

		if (!kt)
			return fail_at(d, k, line, "%s: expected names as keys", what);
		if (skip && kl == strlen(skip) && !memcmp(kt, skip, kl))
			continue;
		if (kl == 9 && !memcmp(kt, "condition", 9)) {
			cond = fy_node_pair_value(p);
			continue;
		}
		if (kl == 9 && !memcmp(kt, "timeframe", 9))
			return fail_at(d, k, line, "%s: timeframe (Sigma 1 aggregations) is not "
				       "supported: write a correlation rule", what);
		id = &det->ids[det->n];
		id->name = keep(d->s, kt, kl);
		if (!id->name)
			return err_set(d->e, -ENOMEM, "out of memory");
		det->names[det->n++] = id->name;
		if ((rc = compile_ident(d, id, fy_node_pair_value(p), line)) < 0)
			return rc;
	}
	if (!cond)
		return fail_at(d, map, line, "%s: expected a condition", what);
	if ((rc = condition_text(d, cond, &text, &text_len, line)) < 0)
		return rc;
	rc = sigcond_parse(&det->cond, text, text_len, det->names, det->n, d->e);
	mem_free(text);
	if (rc < 0)
		return rc == -ENOMEM ? rc : fail_at(d, cond, line, "condition: %s", d->e->msg);
	if (det->n > d->s->max_idents)
		d->s->max_idents = det->n;
	return 0;
}

/* ---- prefilter literals ---- */

/* Literals collected for one rule; a range of them stands for "one of these must occur". */
struct needs {
	struct sigma_literal v[NEEDS_MAX];
	size_t n;
};

struct range {
	size_t at, n;
	bool always; /* no literal set: the rule must always be evaluated */
};

static const struct range ALWAYS = { 0, 0, true };

/* The shortest literal of r (longer is more selective), -1 for always. */
static long score(const struct needs *nd, struct range r)
{
	long best = LONG_MAX;

	if (r.always)
		return -1;
	for (size_t i = 0; i < r.n; i++)
		best = MIN(best, (long)nd->v[r.at + i].len);
	return best;
}

static size_t total_len(const struct needs *nd, struct range r)
{
	size_t sum = 0;

	for (size_t i = 0; i < r.n; i++)
		sum += nd->v[r.at + i].len;
	return sum;
}

/*
 * Of two sets that must both hold (AND), the more selective one: the longer shortest
 * literal, then the longer literals on average (`cs-method: GET` against ten keywords of
 * three bytes or more: the keywords, GET being in every request), then the fewer.
 */
static struct range better(const struct needs *nd, struct range a, struct range b)
{
	long sa = score(nd, a), sb = score(nd, b);
	size_t ta, tb;

	if (sa != sb)
		return sa > sb ? a : b;
	if (sa < 0) /* both always */
		return a;
	ta = total_len(nd, a) * b.n;
	tb = total_len(nd, b) * a.n;
	if (ta != tb)
		return ta > tb ? a : b;
	return a.n <= b.n ? a : b;
}

/* Either set may hold (OR): both together, or always when too many. */
static struct range either(struct needs *nd, struct range a, struct range b)
{
	struct range r = { nd->n, a.n + b.n, false };

	if (a.always || b.always || r.n > SIGMA_LITERALS_MAX || nd->n + r.n > NEEDS_MAX)
		return ALWAYS;
	memmove(&nd->v[nd->n], &nd->v[a.at], a.n * sizeof(nd->v[0]));
	memmove(&nd->v[nd->n + a.n], &nd->v[b.at], b.n * sizeof(nd->v[0]));
	nd->n += r.n;
	return r;
}

static struct range item_needs(struct needs *nd, const struct sigval_item *it)
{
	struct sigval_lit lits[SIGMA_LITERALS_MAX];
	size_t n = sigval_item_needs(it, lits, ARRAY_SIZE(lits));
	struct range r = { nd->n, n, false };

	if (!n || nd->n + n > NEEDS_MAX)
		return ALWAYS;
	for (size_t i = 0; i < n; i++)
		nd->v[nd->n++] = (struct sigma_literal){ sigval_item_field(it), lits[i].s,
							 lits[i].len, lits[i].cased };
	return r;
}

static struct range ident_needs(struct needs *nd, const struct ident *id)
{
	struct range acc = ALWAYS;

	for (size_t g = 0; g < id->n; g++) {
		struct range best = ALWAYS;

		for (size_t k = 0; k < id->groups[g].n; k++)
			best = better(nd, best, item_needs(nd, id->groups[g].items[k]));
		acc = g ? either(nd, acc, best) : best;
	}
	return acc;
}

static struct range node_needs(struct needs *nd, const struct detect *det, uint32_t i)
{
	const struct sigcond_node *n = &det->cond.nodes[i];
	struct range r;

	switch (n->op) {
	case SIGCOND_IDENT:
		return ident_needs(nd, &det->ids[n->arg]);
	case SIGCOND_NOT:
		return ALWAYS;
	case SIGCOND_AND:
		return better(nd, node_needs(nd, det, n->a), node_needs(nd, det, n->b));
	case SIGCOND_OR:
		r = node_needs(nd, det, n->a);
		return either(nd, r, node_needs(nd, det, n->b));
	case SIGCOND_ANY_OF:
	case SIGCOND_ALL_OF:
		r = ident_needs(nd, &det->ids[det->cond.set[n->arg]]);
		for (uint32_t k = 1; k < n->n; k++) {
			struct range x = ident_needs(nd, &det->ids[det->cond.set[n->arg + k]]);

			r = n->op == SIGCOND_ALL_OF ? better(nd, r, x) : either(nd, r, x);
		}
		return r;
	}
	return ALWAYS;
}

static int rule_literals(struct doc_ctx *d, struct sigma_rule *r)
{
	struct needs *nd = mem_alloc(sizeof(*nd));
	struct range res;

	if (!nd)
		return err_set(d->e, -ENOMEM, "out of memory");
	nd->n = 0;
	res = node_needs(nd, &r->det, r->det.cond.root);
	if (!res.always && res.n) {
		r->lits = arena_alloc(&d->s->strings, res.n * sizeof(*r->lits));
		if (!r->lits) {
			mem_free(nd);
			return err_set(d->e, -ENOMEM, "out of memory");
		}
		memcpy(r->lits, &nd->v[res.at], res.n * sizeof(*r->lits));
		r->n_lits = res.n;
	}
	mem_free(nd);
	return 0;
}

/* ---- documents ---- */

static bool disabled(const struct sigma_set *s, const char *id, const char *name)
{
	for (size_t i = 0; i < s->opt.n_disable; i++)
		if ((*id && !strcmp(id, s->opt.disable[i])) ||
		    (*name && !strcmp(name, s->opt.disable[i])))
			return true;
	return false;
}

static int grow(void *pp, size_t *cap, size_t n, size_t size)
{
	void **p = pp;
	size_t ncap;
	void *np;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	np = mem_realloc(*p, ncap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static void rule_free(struct sigma_rule *r)
{
	if (!r)
		return;
	detect_release(&r->det);
	mem_free(r->filters);
	mem_free(r);
}

static int detection_of(struct doc_ctx *d, struct fy_node *root, const char *key,
			struct fy_node **out, unsigned *line)
{
	*out = get(root, key);
	if (!*out || fy_node_get_type(*out) != FYNT_MAPPING)
		return fail_at(d, *out ? *out : root, line, "%s: expected a map of search "
			       "identifiers and a condition", key);
	return 0;
}

static int rule_meta(struct doc_ctx *d, struct fy_node *root, struct sigma_rule *r, unsigned *line)
{
	int rc;

	if ((rc = meta_string(d, root, "title", true, &r->title, line)) < 0 ||
	    (rc = meta_string(d, root, "level", false, &r->level, line)) < 0 ||
	    (rc = meta_string(d, root, "status", false, &r->status, line)) < 0 ||
	    (rc = meta_string(d, root, "author", false, &r->author, line)) < 0 ||
	    (rc = string_list(d, get(root, "tags"), "tags", &r->tags, &r->n_tags, line)) < 0 ||
	    (rc = string_list(d, get(root, "references"), "references", &r->refs, &r->n_refs,
			      line)) < 0)
		return rc;
	if (*r->level && !one_of(r->level, levels, ARRAY_SIZE(levels)))
		return fail_at(d, get(root, "level"), line, "level: expected informational, low, "
			       "medium, high or critical, found '%s'", r->level);
	if (*r->status && !one_of(r->status, statuses, ARRAY_SIZE(statuses)))
		return fail_at(d, get(root, "status"), line, "status: expected stable, test, "
			       "experimental, deprecated or unsupported, found '%s'", r->status);
	return 0;
}

static int load_rule(struct doc_ctx *d, struct fy_node *root, const char *id, const char *name,
		     unsigned *line)
{
	struct sigma_set *s = d->s;
	struct sigma_rule *r;
	struct fy_node *det;
	int rc;

	if (disabled(s, id, name)) {
		s->counts.disabled++;
		return 0;
	}
	if (s->n_rules >= SIGMA_RULES_MAX)
		return fail_at(d, root, line, "expected at most %d rules", SIGMA_RULES_MAX);
	r = mem_calloc(1, sizeof(*r));
	if (!r)
		return err_set(d->e, -ENOMEM, "out of memory");
	r->id = d->id;
	r->name = name;
	r->file = d->file;
	r->line = *line;
	if ((rc = rule_meta(d, root, r, line)) < 0 || (rc = logsource(d, root, line)) < 0 ||
	    (rc = detection_of(d, root, "detection", &det, line)) < 0)
		goto fail;
	r->ls = d->ls;
	if ((rc = compile_detection(d, det, &r->det, "detection", NULL, line)) < 0 ||
	    (rc = rule_literals(d, r)) < 0)
		goto fail;
	if ((rc = grow(&s->rules, &s->cap_rules, s->n_rules, sizeof(*s->rules))) < 0) {
		rc = err_set(d->e, rc, "out of memory");
		goto fail;
	}
	s->rules[s->n_rules++] = r;
	s->counts.rules++;
	return 0;
fail:
	rule_free(r);
	return rc;
}

static void filter_free(struct filter *f)
{
	if (!f)
		return;
	detect_release(&f->det);
	mem_free(f);
}

static int load_filter(struct doc_ctx *d, struct fy_node *root, unsigned *line)
{
	struct sigma_set *s = d->s;
	struct fy_node *det;
	struct filter *f;
	const char *title;
	int rc;

	f = mem_calloc(1, sizeof(*f));
	if (!f)
		return err_set(d->e, -ENOMEM, "out of memory");
	f->id = d->id;
	f->file = d->file;
	f->line = *line;
	if ((rc = meta_string(d, root, "title", true, &title, line)) < 0 ||
	    (rc = logsource(d, root, line)) < 0 ||
	    (rc = detection_of(d, root, "filter", &det, line)) < 0)
		goto fail;
	f->ls = d->ls;
	if ((rc = string_list(d, get(det, "rules"), "filter: rules", &f->rules, &f->n_rules,
			      line)) < 0)
		goto fail;
	if (!f->n_rules) {
		rc = fail_at(d, det, line, "filter: rules: expected the ids or names of the rules "
			     "it applies to");
		goto fail;
	}
	if ((rc = compile_detection(d, det, &f->det, "filter", "rules", line)) < 0)
		goto fail;
	if ((rc = grow(&s->filters, &s->cap_filters, s->n_filters, sizeof(*s->filters))) < 0) {
		rc = err_set(d->e, rc, "out of memory");
		goto fail;
	}
	s->filters[s->n_filters++] = f;
	s->counts.filters++;
	return 0;
fail:
	filter_free(f);
	return rc;
}

/*
 * A correlation document: handed to sigma_options.correlation (detect/detect.c parses it
 * with detect/correl and keeps it); without one it is counted and reported, not loaded.
 */
static int load_correlation(struct doc_ctx *d, struct fy_document *doc, unsigned line)
{
	const struct sigma_options *o = &d->s->opt;
	int rc;

	if (!o->correlation) {
		d->s->counts.correlations++;
		report(d->s, d->file, line, d->id, "correlation: not loaded by this build");
		return 0;
	}
	rc = o->correlation(o->correlation_ctx, doc, d->file, line, d->e);
	if (rc == 0)
		d->s->counts.correlations++;
	else if (rc != -ENOMEM && !d->e->msg[0])
		rc = err_set(d->e, -EINVAL, "correlation: rejected");
	return rc;
}

static int document_id(struct doc_ctx *d, struct fy_node *root, const char **id,
		       const char **name, unsigned *line)
{
	char where[64];
	int rc;

	if ((rc = meta_string(d, root, "id", false, id, line)) < 0 ||
	    (rc = meta_string(d, root, "name", false, name, line)) < 0)
		return rc;
	d->id = **id ? *id : **name ? *name : NULL;
	if (!d->id) {
		size_t flen = strlen(d->file);
		char *made;

		snprintf(where, sizeof(where), ":%u", *line);
		/* Not strndup of FILE with the longer length: that reads past FILE's end. */
		made = arena_alloc(&d->s->strings, flen + strlen(where) + 1);
		if (!made)
			return err_set(d->e, -ENOMEM, "out of memory");
		memcpy(made, d->file, flen);
		memcpy(made + flen, where, strlen(where) + 1);
		d->id = made;
	}
	return 0;
}

static int load_document(struct sigma_set *s, struct fy_document *doc, const char *file,
			 struct err *e)
{
	struct fy_node *root = fy_document_root(doc);
	struct doc_ctx d = { .s = s, .file = file, .id = "-", .e = e };
	unsigned line = node_line(root), doc_line = line;
	const char *id = "", *name = "";
	int rc;

	if (!root || is_null(root))
		return 0; /* an empty document, as after a final --- */
	if (fy_node_get_type(root) != FYNT_MAPPING)
		rc = fail_at(&d, root, &line, "expected a map at the top of the document");
	else if ((rc = document_id(&d, root, &id, &name, &line)) < 0)
		;
	else if (get(root, "correlation"))
		rc = load_correlation(&d, doc, doc_line);
	else if (get(root, "filter"))
		rc = load_filter(&d, root, &line);
	else
		rc = load_rule(&d, root, id, name, &line);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		s->counts.rejected++;
		report(s, file, line ? line : doc_line, d.id, e->msg);
		err_clear(e);
	}
	return 0;
}

/* ---- input ---- */

/* libfyaml's diagnostics are collected, never printed. */
static void diag_silent(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
}

static struct fy_diag *diag_new(void)
{
	struct fy_diag_cfg cfg;
	struct fy_diag *diag;

	fy_diag_cfg_default(&cfg);
	cfg.fp = NULL;
	cfg.output_fn = diag_silent;
	diag = fy_diag_create(&cfg);
	if (diag)
		fy_diag_set_collect_errors(diag, true);
	return diag;
}

/* The first error the YAML parser collected, reported as FILE:LINE: message. */
static int yaml_error(struct sigma_set *s, struct fy_diag *diag, const char *file)
{
	struct fy_diag_error *de;
	void *it = NULL;
	char msg[400];
	unsigned line = 0;

	snprintf(msg, sizeof(msg), "YAML: not well-formed");
	if (diag && (de = fy_diag_errors_iterate(diag, &it))) {
		line = de->line >= 0 ? (unsigned)de->line + 1 : 0;
		snprintf(msg, sizeof(msg), "YAML: column %d: %s", de->column + 1,
			 de->msg ? de->msg : "not well-formed");
	}
	s->counts.rejected++;
	report(s, file, line, "-", msg);
	return 0;
}

/*
 * YAML text must be Unicode; a byte that is not valid UTF-8 is reported at its line and
 * the file is not parsed (libfyaml 0.7.12 loops forever on some of them, e.g. in a
 * directive line). Returns 1 when the text is valid.
 */
static int utf8_checked(struct sigma_set *s, const char *file, const char *text, size_t len)
{
	unsigned line;
	size_t col, at = json_utf8_text(text, len, &line, &col);
	char msg[96];

	if (at == len)
		return 1;
	snprintf(msg, sizeof(msg), "YAML: column %zu: expected UTF-8 text, found byte 0x%02x",
		 col, (unsigned char)text[at]);
	s->counts.rejected++;
	report(s, file, line, "-", msg);
	return 0;
}

static int load_text(struct sigma_set *s, const char *name, const char *text, size_t len,
		     struct err *e)
{
	struct fy_parse_cfg cfg = { .flags = FYPCF_QUIET };
	const char *file = keep(s, name, strlen(name));
	struct fy_document *doc;
	struct fy_parser *p = NULL;
	int rc = 0;

	if (!file)
		return err_set(e, -ENOMEM, "out of memory");
	if (!utf8_checked(s, file, text, len))
		return 0;
	if (!(cfg.diag = diag_new()) || !(p = fy_parser_create(&cfg))) {
		rc = err_set(e, -ENOMEM, "%s: cannot create a YAML parser", name);
		goto done;
	}
	if (fy_parser_set_string(p, text, len) < 0) {
		rc = err_set(e, -ENOMEM, "%s: cannot read the YAML text", name);
		goto done;
	}
	while (rc >= 0 && (doc = fy_parse_load_document(p))) {
		rc = load_document(s, doc, file, e);
		fy_parse_document_destroy(p, doc);
	}
	if (rc >= 0 && fy_parser_get_stream_error(p))
		rc = yaml_error(s, cfg.diag, file);
done:
	if (p)
		fy_parser_destroy(p);
	if (cfg.diag)
		fy_diag_destroy(cfg.diag);
	return rc;
}

int sigma_set_load_buffer(struct sigma_set *s, const char *name, const char *text, size_t len,
			  struct err *e)
{
	if (len > SIGMA_FILE_MAX)
		return err_set(e, -EFBIG, "%s: %zu bytes, expected at most %u", name, len,
			       SIGMA_FILE_MAX);
	return load_text(s, name, text, len, e);
}

static int load_file(struct sigma_set *s, const char *path, struct err *e)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	int rc;

	if (!f)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	buf = mem_alloc(SIGMA_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return err_set(e, -ENOMEM, "out of memory");
	}
	n = fread(buf, 1, SIGMA_FILE_MAX + 1, f);
	if (ferror(f))
		rc = err_set(e, -EIO, "%s: read error", path);
	else if (n > SIGMA_FILE_MAX)
		rc = err_set(e, -EFBIG, "%s: expected a rule file of at most %u bytes", path,
			     SIGMA_FILE_MAX);
	else
		rc = load_text(s, path, buf, n, e);
	fclose(f);
	mem_free(buf);
	return rc;
}

static bool yaml_name(const char *n)
{
	size_t len = strlen(n);

	return (len > 4 && !strcmp(n + len - 4, ".yml")) || (len > 5 && !strcmp(n + len - 5, ".yaml"));
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(struct sigma_set *s, const char *path, unsigned depth, struct err *e);

/* One entry of a directory: a subdirectory (recursively) or a rule file. */
static int load_entry(struct sigma_set *s, const char *dir, const char *name, unsigned depth,
		      struct err *e)
{
	char *full = mem_alloc(strlen(dir) + strlen(name) + 2);
	struct stat st;
	int rc = 0;

	if (!full)
		return err_set(e, -ENOMEM, "out of memory");
	snprintf(full, strlen(dir) + strlen(name) + 2, "%s/%s", dir, name);
	if (stat(full, &st) < 0)
		rc = err_set(e, -errno, "%s: %s", full, strerror(errno));
	else if (S_ISDIR(st.st_mode))
		rc = load_dir(s, full, depth + 1, e);
	else if (S_ISREG(st.st_mode) && yaml_name(name))
		rc = load_file(s, full, e);
	mem_free(full);
	return rc;
}

static int load_dir(struct sigma_set *s, const char *path, unsigned depth, struct err *e)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	if (depth > SIGMA_DIR_DEPTH_MAX)
		return err_set(e, -ELOOP, "%s: expected at most %d nested directories", path,
			       SIGMA_DIR_DEPTH_MAX);
	if (!(dir = opendir(path)))
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	while (rc >= 0 && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (n >= PATHS_MAX)
			rc = err_set(e, -E2BIG, "%s: expected at most %d entries", path, PATHS_MAX);
		else if (grow(&names, &cap, n, sizeof(*names)) < 0 ||
			 !(names[n] = mem_strdup(de->d_name)))
			rc = err_set(e, -ENOMEM, "out of memory");
		else
			n++;
	}
	closedir(dir);
	if (rc >= 0 && n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = load_entry(s, path, names[i], depth, e);
	for (size_t i = 0; i < n; i++)
		mem_free(names[i]);
	mem_free(names);
	return rc;
}

int sigma_set_load_path(struct sigma_set *s, const char *path, struct err *e)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	return S_ISDIR(st.st_mode) ? load_dir(s, path, 0, e) : load_file(s, path, e);
}

/* ---- the set ---- */

int sigma_set_new(struct sigma_set **out, const struct sigma_options *opt)
{
	struct sigma_set *s = mem_calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (opt)
		s->opt = *opt;
	arena_init(&s->strings, 64 << 10, STRINGS_MAX);
	*out = s;
	return 0;
}

void sigma_set_free(struct sigma_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_rules; i++)
		rule_free(s->rules[i]);
	for (size_t i = 0; i < s->n_filters; i++)
		filter_free(s->filters[i]);
	mem_free(s->rules);
	mem_free(s->filters);
	arena_release(&s->strings);
	mem_free(s);
}

static bool same(const char *a, const char *b)
{
	return !a || (b && !strcmp(a, b));
}

/* A filter applies to a rule when every logsource key the filter names is the rule's. */
static bool filter_fits(const struct filter *f, const struct sigma_rule *r)
{
	return same(f->ls.category, r->ls.category) && same(f->ls.product, r->ls.product) &&
	       same(f->ls.service, r->ls.service);
}

static int attach(struct sigma_set *s, struct filter *f, const char *ref, struct err *e)
{
	bool found = false;
	char why[300];

	for (size_t i = 0; i < s->n_rules; i++) {
		struct sigma_rule *r = s->rules[i];
		const struct filter **nf;

		if (strcmp(r->id, ref) && strcmp(r->name, ref))
			continue;
		found = true;
		if (!filter_fits(f, r)) {
			snprintf(why, sizeof(why), "filter: its logsource does not fit rule %s",
				 ref);
			report(s, f->file, f->line, f->id, why);
			continue;
		}
		nf = mem_realloc(r->filters, (r->n_filters + 1) * sizeof(*nf));
		if (!nf)
			return err_set(e, -ENOMEM, "out of memory");
		r->filters = nf;
		r->filters[r->n_filters++] = f;
	}
	if (!found) {
		snprintf(why, sizeof(why), "filter: rule %s is not loaded", ref);
		report(s, f->file, f->line, f->id, why);
	}
	return 0;
}

/* Orders rules by id, then by load order (their address in the array of pointers). */
static int cmp_rule_ids(const void *a, const void *b)
{
	struct sigma_rule *const *x = *(struct sigma_rule *const *const *)a;
	struct sigma_rule *const *y = *(struct sigma_rule *const *const *)b;
	int c = strcmp((*x)->id, (*y)->id);

	return c ? c : (x > y) - (x < y);
}

/*
 * A rule whose id an earlier rule has already is rejected: policies, alerts and
 * correlations name rules by id. 0 or -ENOMEM.
 */
static int reject_duplicates(struct sigma_set *s, struct err *e)
{
	struct sigma_rule ***order = mem_calloc(s->n_rules + 1, sizeof(*order));
	char why[300];
	size_t kept = 0;

	if (!order)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < s->n_rules; i++)
		order[i] = &s->rules[i];
	qsort(order, s->n_rules, sizeof(*order), cmp_rule_ids);
	for (size_t i = 1; i < s->n_rules; i++) {
		struct sigma_rule *first = *order[i - 1], *r = *order[i];

		if (strcmp(first->id, r->id))
			continue;
		snprintf(why, sizeof(why), "id already used by the rule at %s:%u", first->file,
			 first->line);
		report(s, r->file, r->line, r->id, why);
		s->counts.rejected++;
		s->counts.rules--;
		rule_free(r);
		*order[i] = NULL;        /* its slot, compacted below */
		order[i] = order[i - 1]; /* a third one is compared with the first too */
	}
	mem_free(order);
	for (size_t i = 0; i < s->n_rules; i++)
		if (s->rules[i])
			s->rules[kept++] = s->rules[i];
	s->n_rules = kept;
	return 0;
}

int sigma_set_finish(struct sigma_set *s, struct err *e)
{
	int rc;

	if ((rc = reject_duplicates(s, e)) < 0)
		return rc;
	for (size_t i = 0; i < s->n_rules; i++)
		s->rules[i]->n_filters = 0;
	for (size_t i = 0; i < s->n_filters; i++)
		for (size_t k = 0; k < s->filters[i]->n_rules; k++)
			if ((rc = attach(s, s->filters[i], s->filters[i]->rules[k], e)) < 0)
				return rc;
	return 0;
}

void sigma_set_counts(const struct sigma_set *s, struct sigma_counts *c)
{
	*c = s->counts;
}

size_t sigma_set_size(const struct sigma_set *s)
{
	return s->n_rules;
}

const struct sigma_rule *sigma_set_rule(const struct sigma_set *s, size_t i)
{
	return i < s->n_rules ? s->rules[i] : NULL;
}

const struct sigma_rule *sigma_set_find(const struct sigma_set *s, const char *ref)
{
	for (size_t i = 0; i < s->n_rules; i++)
		if (!strcmp(s->rules[i]->id, ref) || !strcmp(s->rules[i]->name, ref))
			return s->rules[i];
	return NULL;
}

/* ---- accessors ---- */

const char *sigma_rule_id(const struct sigma_rule *r) { return r->id; }
const char *sigma_rule_name(const struct sigma_rule *r) { return r->name; }
const char *sigma_rule_title(const struct sigma_rule *r) { return r->title; }
const char *sigma_rule_level(const struct sigma_rule *r) { return r->level; }
const char *sigma_rule_status(const struct sigma_rule *r) { return r->status; }
const char *sigma_rule_author(const struct sigma_rule *r) { return r->author; }
const char *sigma_rule_file(const struct sigma_rule *r) { return r->file; }
unsigned sigma_rule_line(const struct sigma_rule *r) { return r->line; }

const struct sigma_logsource *sigma_rule_logsource(const struct sigma_rule *r)
{
	return &r->ls;
}

size_t sigma_rule_tags(const struct sigma_rule *r, const char *const **tags)
{
	*tags = r->tags;
	return r->n_tags;
}

size_t sigma_rule_references(const struct sigma_rule *r, const char *const **refs)
{
	*refs = r->refs;
	return r->n_refs;
}

size_t sigma_rule_literals(const struct sigma_rule *r, const struct sigma_literal **lits)
{
	*lits = r->lits;
	return r->n_lits;
}

/* ---- matching ---- */

bool sigma_rule_applies(const struct sigma_rule *r, const struct sigma_logsource *ls)
{
	if (!ls)
		return true;
	return same(r->ls.category, ls->category) && same(r->ls.product, ls->product) &&
	       same(r->ls.service, ls->service);
}

struct eval {
	const struct detect *det;
	const struct event *ev;
	struct sigma_scratch *sc;
};

static bool group_match(const struct group *g, const struct event *ev, struct sigma_scratch *sc)
{
	for (size_t k = 0; k < g->n; k++)
		if (!sigval_item_match(g->items[k], ev, sc->val))
			return false;
	return true;
}

/* sigcond's callback: identifier i, evaluated once per detection and event. */
static bool ident_match(void *ctx, uint32_t i)
{
	struct eval *x = ctx;
	const struct ident *id = &x->det->ids[i];
	bool hit = false;

	if (x->sc->cache[i])
		return x->sc->cache[i] == 2;
	for (size_t g = 0; g < id->n && !hit; g++)
		hit = group_match(&id->groups[g], x->ev, x->sc);
	x->sc->cache[i] = hit ? 2 : 1;
	return hit;
}

static bool detect_match(const struct detect *det, const struct event *ev,
			 struct sigma_scratch *sc)
{
	struct eval x = { det, ev, sc };

	memset(sc->cache, 0, det->n);
	return sigcond_eval(&det->cond, ident_match, &x);
}

bool sigma_rule_match(const struct sigma_rule *r, const struct event *ev,
		      struct sigma_scratch *sc)
{
	if (r->det.n > sc->n_cache || !detect_match(&r->det, ev, sc))
		return false;
	for (size_t i = 0; i < r->n_filters; i++)
		if (r->filters[i]->det.n <= sc->n_cache && detect_match(&r->filters[i]->det, ev, sc))
			return false;
	return true;
}

int sigma_scratch_new(struct sigma_scratch **out, const struct sigma_set *s)
{
	struct sigma_scratch *sc = mem_calloc(1, sizeof(*sc));
	size_t n = s->max_idents ? s->max_idents : 1;
	int rc;

	*out = NULL;
	if (!sc)
		return -ENOMEM;
	sc->cache = mem_calloc(n, 1);
	sc->n_cache = n;
	if (!sc->cache) {
		sigma_scratch_free(sc);
		return -ENOMEM;
	}
	if ((rc = sigval_scratch_new(&sc->val)) < 0) {
		sigma_scratch_free(sc);
		return rc;
	}
	*out = sc;
	return 0;
}

void sigma_scratch_free(struct sigma_scratch *sc)
{
	if (!sc)
		return;
	sigval_scratch_free(sc->val);
	mem_free(sc->cache);
	mem_free(sc);
}
