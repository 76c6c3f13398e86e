#include "soc/triage.h"
#include "core/compat.h"

#include <dirent.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "detect/bundled.h"
#include "enrich/assets.h"
#include "parse/ecs.h"
#include "store/match.h"
#include "store/meta.h"
#include "store/query.h"
#include "store/store.h"

#define LOG_MODULE "triage"
#include "core/log.h"

/* The generated table of the rules/triage YAML files (build/gen/triage_rules.c, scripts/embed). */
extern const struct bundled_file triage_bundled[];
extern const size_t triage_bundled_count;

#define SEC_NS 1000000000LL
#define DEFAULT_WINDOW_NS (24 * 3600 * SEC_NS)
#define DEFAULT_RECHECK_NS (5 * 60 * SEC_NS)
#define WINDOW_MAX_NS (366 * 24 * 3600 * SEC_NS)
#define RULES_MAX 1024
#define CVE_FIELDS_MAX 16
#define CVES_MAX 32                   /* CVE ids read from one alert event */
#define CVE_ID_MAX 24                 /* "CVE-YYYY-" and up to 12 digits, NUL */
#define EVIDENCE_EVENTS_MAX 3         /* ECS objects kept in one evidence object */
#define MEMORY_MAX ((size_t)64 << 20) /* the rules' strings; one evaluation's scratch */
#define SENTENCE_MAX 2048
#define ID_MAX 128

enum effect { E_CAP, E_MIN, E_RAISE, E_SET, E_NOTE };
static const char *const effect_names[] = { "cap", "min", "raise", "set", "note" };

enum kind { K_WHERE, K_SEARCH, K_ASSET, K_TENANTS };

/* The alert levels of Sigma, and "" (a detector that gives none). */
enum { BASE_INFORMATIONAL, BASE_LOW, BASE_MEDIUM, BASE_HIGH, BASE_CRITICAL, BASE_UNKNOWN, BASES };
static const char *const base_names[BASES] = { "informational", "low", "medium", "high",
					       "critical", "unknown" };

struct trule {
	const char *id, *title, *file, *sentence, *sentence_ja;
	unsigned line;
	enum effect effect;
	int level;
	/*
	 * Filters on the alert's own events, parsed at load and compiled at each evaluation:
	 * a vendor field (panos.*, m365.*) is known only once an event has shown it, and a
	 * filter compiled before would never match it.
	 */
	const struct query_node *alerts; /* which alert events it looks at; NULL: every one */
	enum kind kind;
	const struct query_node *where;  /* K_WHERE */
	const char *query;             /* K_SEARCH: with {field} placeholders */
	int64_t before_ns, after_ns;   /* K_SEARCH, K_TENANTS */
	int64_t min_count;             /* K_SEARCH: events; K_TENANTS: tenants */
	const char *field;             /* K_ASSET: the target's address; K_TENANTS: the attacker's */
	const char *cve_fields[CVE_FIELDS_MAX];
	size_t n_cve_fields;
	bool vulnerable;               /* K_ASSET */
};

/* What an evaluation could not use, counted in koban_triage_skipped_total{reason}. */
enum { SKIP_EVENT, SKIP_RULE, SKIPS };
static const char *const skip_names[SKIPS] = { "event_undecodable", "rule_unusable" };

struct triage {
	struct arena mem;              /* the rules */
	_Atomic uint64_t evaluations[4]; /* by the level decided */
	_Atomic uint64_t skipped[SKIPS];
	bool metrics;                  /* registered: unregistered by triage_free */
	struct trule *rules;
	size_t n_rules;
	int base[BASES];
	int64_t window_ns, recheck_ns;
	struct store *store;
	char *data_dir;
	struct meta *meta;             /* opened by the first evaluation that needs it */
};

/* ------------------------------------------------------------------ loading ---- */

struct loader {
	struct triage *t;
	const char *file;
	unsigned line;                 /* of the node that failed */
	struct err *e;
};

static unsigned node_line(struct fy_node *n)
{
	void *it = NULL;

	if (!n)
		return 0;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR: {
		struct fy_token *tok = fy_node_get_scalar_token(n);
		const struct fy_mark *m = tok ? fy_token_start_mark(tok) : NULL;

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

/* Fails at node n: "FILE:LINE: message". */
static int fail_at(struct loader *l, struct fy_node *n, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int fail_at(struct loader *l, struct fy_node *n, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (node_line(n))
		l->line = node_line(n);
	return err_set(l->e, -EINVAL, "%s:%u: %s", l->file, l->line, msg);
}

static int no_memory(struct loader *l)
{
	return err_set(l->e, -ENOMEM, "%s: out of memory", l->file);
}

static struct fy_node *get(struct fy_node *map, const char *key)
{
	return fy_node_mapping_lookup_by_string(map, key, strlen(key));
}

/* A scalar member kept in the rules' memory; absent: *out NULL (fails when required). */
static int get_string(struct loader *l, struct fy_node *map, const char *key, bool required,
		      const char **out)
{
	struct fy_node *n = get(map, key);
	const char *s;
	size_t len;

	*out = NULL;
	if (!n) {
		if (required)
			return fail_at(l, map, "%s: expected a string, found nothing", key);
		return 0;
	}
	if (fy_node_get_type(n) != FYNT_SCALAR || !(s = fy_node_get_scalar(n, &len)) || !len)
		return fail_at(l, n, "%s: expected a non-empty string", key);
	if (memchr(s, '\0', len))
		return fail_at(l, n, "%s: a NUL byte in the string", key);
	if (!(*out = arena_strndup(&l->t->mem, s, len)))
		return no_memory(l);
	return 0;
}

static int get_int(struct loader *l, struct fy_node *map, const char *key, int64_t lo, int64_t hi,
		   int64_t *out)
{
	struct fy_node *n = get(map, key);
	char tmp[24];
	const char *s;
	size_t len;
	char *end;
	long long v;

	if (!n)
		return 0;
	if (fy_node_get_type(n) != FYNT_SCALAR || !(s = fy_node_get_scalar(n, &len)) || !len ||
	    len >= sizeof(tmp))
		return fail_at(l, n, "%s: expected an integer from %lld to %lld", key, (long long)lo,
			       (long long)hi);
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno || *end || end == tmp || v < lo || v > hi)
		return fail_at(l, n, "%s: expected an integer from %lld to %lld, found '%s'", key,
			       (long long)lo, (long long)hi, tmp);
	*out = v;
	return 0;
}

/* A duration "90s", "10m", "2h", "7d" (or "0"); absent leaves *out. */
static int get_duration(struct loader *l, struct fy_node *map, const char *key, int64_t *out)
{
	struct fy_node *n = get(map, key);
	const char *s;
	size_t len, i = 0;
	int64_t v = 0, unit;

	if (!n)
		return 0;
	if (fy_node_get_type(n) != FYNT_SCALAR || !(s = fy_node_get_scalar(n, &len)) || !len)
		goto bad;
	while (i < len && s[i] >= '0' && s[i] <= '9' && v <= WINDOW_MAX_NS / SEC_NS)
		v = v * 10 + (s[i++] - '0');
	if (!i || (i == len && v != 0) || (i < len && i + 1 != len))
		goto bad;
	switch (i < len ? s[i] : 's') {
	case 's': unit = SEC_NS; break;
	case 'm': unit = 60 * SEC_NS; break;
	case 'h': unit = 3600 * SEC_NS; break;
	case 'd': unit = 86400 * SEC_NS; break;
	default: goto bad;
	}
	if (v > WINDOW_MAX_NS / unit)
		goto bad;
	*out = v * unit;
	return 0;
bad:
	return fail_at(l, n, "%s: expected a duration such as 30s, 10m, 2h or 7d, at most 366d", key);
}

/* Every key of map is one of names (a typo must not silently drop a condition). */
static int known_keys(struct loader *l, struct fy_node *map, const char *const *names, size_t n)
{
	struct fy_node_pair *p;
	void *it = NULL;

	while ((p = fy_node_mapping_iterate(map, &it))) {
		struct fy_node *k = fy_node_pair_key(p);
		const char *s = fy_node_get_type(k) == FYNT_SCALAR ? fy_node_get_scalar(k, NULL) : NULL;
		size_t len = 0;
		bool ok = false;

		if (s)
			(void)fy_node_get_scalar(k, &len);
		for (size_t i = 0; s && i < n && !ok; i++)
			ok = strlen(names[i]) == len && !memcmp(names[i], s, len);
		if (!ok)
			return fail_at(l, k, "unknown key '%.*s'", s ? (int)MIN(len, 64) : 1, s ? s : "?");
	}
	return 0;
}

/* A filter on the alerts' own events (no placeholders), parsed and tried once. */
static int compile_filter(struct loader *l, struct fy_node *map, const char *key,
			  const struct query_node **out)
{
	struct match *m;
	const char *text;
	struct query q;
	int rc;

	*out = NULL;
	if ((rc = get_string(l, map, key, false, &text)) < 0 || !text)
		return rc;
	if ((rc = query_parse(&q, text, strlen(text), &l->t->mem, l->e)) < 0 ||
	    (rc = match_compile(&m, q.filter, 0, &l->t->mem, l->e)) < 0) {
		char msg[sizeof(l->e->msg)];

		snprintf(msg, sizeof(msg), "%s", l->e->msg);
		return fail_at(l, get(map, key), "%s: %s", key, msg);
	}
	if (q.n_pipes)
		return fail_at(l, get(map, key), "%s: expected a filter without pipes", key);
	*out = q.filter;
	return 0;
}

/*
 * Calls fn for each {name} of text (name: up to '}'); -EINVAL for an unclosed or empty
 * brace. "{{" is a literal '{'.
 */
static int each_placeholder(const char *text, int (*fn)(void *ctx, const char *name, size_t len),
			    void *ctx)
{
	for (const char *p = text; *p; p++) {
		const char *end;
		int rc;

		if (*p != '{')
			continue;
		if (p[1] == '{') {
			p++;
			continue;
		}
		end = strchr(p + 1, '}');
		if (!end || end == p + 1 || memchr(p + 1, '{', (size_t)(end - p - 1)))
			return -EINVAL;
		if ((rc = fn(ctx, p + 1, (size_t)(end - p - 1))) < 0)
			return rc;
		p = end;
	}
	return 0;
}

static int placeholder_ok(void *ctx, const char *name, size_t len)
{
	return len < FIELD_NAME_MAX ? 0 : -EINVAL;
}

/* The search's query: placeholders well formed, and the text parses with them filled. */
static int check_query(struct loader *l, struct fy_node *n, const char *query)
{
	struct buf b;
	struct arena scratch;
	struct query q;
	int rc;

	if (each_placeholder(query, placeholder_ok, NULL) < 0)
		return fail_at(l, n, "query: a '{' without its field name and '}'");
	buf_init(&b, QUERY_MAX_LENGTH * 2);
	arena_init(&scratch, 4096, QUERY_MAX_LENGTH * 8);
	/* every placeholder as the phrase "x", as evaluation fills it (a quoted value) */
	rc = 0;
	for (const char *p = query; *p && rc >= 0; p++) {
		if (*p == '{' && p[1] == '{') {
			rc = buf_addch(&b, *p++);
		} else if (*p == '{') {
			rc = buf_adds(&b, "\"x\"");
			p = strchr(p, '}');
		} else {
			rc = buf_addch(&b, *p);
		}
	}
	if (rc < 0)
		rc = no_memory(l);
	else if ((rc = query_parse(&q, b.p ? b.p : "", b.len, &scratch, l->e)) < 0) {
		char msg[sizeof(l->e->msg)];

		snprintf(msg, sizeof(msg), "%s", l->e->msg);
		rc = fail_at(l, n, "query: %s", msg);
	} else if (q.n_pipes) {
		rc = fail_at(l, n, "query: expected a filter without pipes");
	}
	arena_release(&scratch);
	buf_release(&b);
	return rc;
}

static int load_search(struct loader *l, struct trule *r, struct fy_node *n)
{
	static const char *const keys[] = { "query", "before", "after", "min" };
	int rc;

	r->kind = K_SEARCH;
	r->after_ns = l->t->window_ns;
	r->min_count = 1;
	if (fy_node_get_type(n) != FYNT_MAPPING)
		return fail_at(l, n, "search: expected a map (query, before, after, min)");
	if ((rc = known_keys(l, n, keys, 4)) < 0 ||
	    (rc = get_string(l, n, "query", true, &r->query)) < 0 ||
	    (rc = check_query(l, get(n, "query"), r->query)) < 0 ||
	    (rc = get_duration(l, n, "before", &r->before_ns)) < 0 ||
	    (rc = get_duration(l, n, "after", &r->after_ns)) < 0 ||
	    (rc = get_int(l, n, "min", 1, 1000000, &r->min_count)) < 0)
		return rc;
	return 0;
}

static int field_name_ok(struct loader *l, struct fy_node *n, const char *name)
{
	if (strlen(name) >= FIELD_NAME_MAX || strchr(name, ' '))
		return fail_at(l, n, "'%.64s': expected a field name", name);
	return 0;
}

static int load_asset(struct loader *l, struct trule *r, struct fy_node *n)
{
	static const char *const keys[] = { "address", "cve_fields", "vulnerable" };
	struct fy_node *list, *v, *item;
	void *it = NULL;
	const char *s;
	size_t len;
	int rc;

	r->kind = K_ASSET;
	if (fy_node_get_type(n) != FYNT_MAPPING)
		return fail_at(l, n, "asset: expected a map (address, cve_fields, vulnerable)");
	if ((rc = known_keys(l, n, keys, 3)) < 0 ||
	    (rc = get_string(l, n, "address", true, &r->field)) < 0 ||
	    (rc = field_name_ok(l, get(n, "address"), r->field)) < 0)
		return rc;
	list = get(n, "cve_fields");
	if (!list || fy_node_get_type(list) != FYNT_SEQUENCE || !fy_node_sequence_item_count(list) ||
	    fy_node_sequence_item_count(list) > CVE_FIELDS_MAX)
		return fail_at(l, list ? list : n, "cve_fields: expected a list of 1 to %d field names",
			       CVE_FIELDS_MAX);
	while ((item = fy_node_sequence_iterate(list, &it))) {
		if (fy_node_get_type(item) != FYNT_SCALAR || !(s = fy_node_get_scalar(item, &len)) ||
		    !len || memchr(s, '\0', len))
			return fail_at(l, item, "cve_fields: expected field names");
		if (!(r->cve_fields[r->n_cve_fields] = arena_strndup(&l->t->mem, s, len)))
			return no_memory(l);
		if ((rc = field_name_ok(l, item, r->cve_fields[r->n_cve_fields++])) < 0)
			return rc;
	}
	v = get(n, "vulnerable");
	s = v && fy_node_get_type(v) == FYNT_SCALAR ? fy_node_get_scalar(v, &len) : NULL;
	if (s && len == 4 && !memcmp(s, "true", 4))
		r->vulnerable = true;
	else if (!s || len != 5 || memcmp(s, "false", 5))
		return fail_at(l, v ? v : n, "vulnerable: expected true or false");
	return 0;
}

static int load_tenants(struct loader *l, struct trule *r, struct fy_node *n)
{
	static const char *const keys[] = { "field", "min", "before", "after" };
	int rc;

	r->kind = K_TENANTS;
	r->min_count = 2;
	r->before_ns = 7 * 86400 * SEC_NS;
	if (fy_node_get_type(n) != FYNT_MAPPING)
		return fail_at(l, n, "tenants: expected a map (field, min, before, after)");
	if ((rc = known_keys(l, n, keys, 4)) < 0 ||
	    (rc = get_string(l, n, "field", true, &r->field)) < 0 ||
	    (rc = field_name_ok(l, get(n, "field"), r->field)) < 0 ||
	    (rc = get_int(l, n, "min", 2, 100000, &r->min_count)) < 0 ||
	    (rc = get_duration(l, n, "before", &r->before_ns)) < 0 ||
	    (rc = get_duration(l, n, "after", &r->after_ns)) < 0)
		return rc;
	if (strcmp(r->field, "source.ip"))
		return fail_at(l, get(n, "field"), "field: only source.ip is kept SOC-wide, not '%.64s'",
			       r->field);
	return 0;
}

static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') ||
		      (i && (id[i] == '-' || id[i] == '_' || id[i] == '.'))))
			return false;
	return true;
}

static int sentence_ok(struct loader *l, struct fy_node *map, const char *key, const char *s)
{
	if (s && (each_placeholder(s, placeholder_ok, NULL) < 0 || strlen(s) > SENTENCE_MAX))
		return fail_at(l, get(map, key), "%s: a '{' without its name and '}', or over %d bytes",
			       key, SENTENCE_MAX);
	return 0;
}

static int load_effect(struct loader *l, struct trule *r, struct fy_node *root)
{
	const char *effect;
	int64_t level = -1;
	int rc;

	if ((rc = get_string(l, root, "effect", true, &effect)) < 0)
		return rc;
	for (r->effect = E_CAP; r->effect <= E_NOTE; r->effect++)
		if (!strcmp(effect, effect_names[r->effect]))
			break;
	if (r->effect > E_NOTE)
		return fail_at(l, get(root, "effect"), "effect: expected cap, min, raise, set or note, "
			       "found '%.32s'", effect);
	if ((rc = get_int(l, root, "level", r->effect == E_RAISE ? 1 : 0, 3, &level)) < 0)
		return rc;
	if (r->effect == E_NOTE && get(root, "level"))
		return fail_at(l, get(root, "level"), "level: a note changes no level");
	if (r->effect != E_NOTE && level < 0)
		return fail_at(l, root, "level: expected the level of effect %s, found nothing", effect);
	r->level = (int)level;
	return 0;
}

static int load_rule(struct loader *l, struct fy_node *root)
{
	static const char *const keys[] = { "id", "title", "effect", "level", "alerts", "where",
					    "search", "asset", "tenants", "sentence", "sentence_ja" };
	static const char *const kinds[] = { "where", "search", "asset", "tenants" };
	struct triage *t = l->t;
	struct trule *r = &t->rules[t->n_rules];
	struct fy_node *k = NULL;
	int rc, n_kinds = 0;

	if (t->n_rules >= RULES_MAX)
		return fail_at(l, root, "more than %d triage rules", RULES_MAX);
	memset(r, 0, sizeof(*r));
	r->file = l->file;
	r->line = node_line(root);
	if ((rc = known_keys(l, root, keys, sizeof(keys) / sizeof(keys[0]))) < 0 ||
	    (rc = get_string(l, root, "id", true, &r->id)) < 0)
		return rc;
	if (!id_ok(r->id))
		return fail_at(l, get(root, "id"), "id: expected 1-%d of [a-z0-9._-], starting with a "
			       "letter or digit", ID_MAX);
	for (size_t i = 0; i < t->n_rules; i++)
		if (!strcmp(t->rules[i].id, r->id))
			return fail_at(l, get(root, "id"), "id: '%s' is also the rule of %s:%u", r->id,
				       t->rules[i].file, t->rules[i].line);
	if ((rc = get_string(l, root, "title", true, &r->title)) < 0 ||
	    (rc = load_effect(l, r, root)) < 0 ||
	    (rc = get_string(l, root, "sentence", true, &r->sentence)) < 0 ||
	    (rc = get_string(l, root, "sentence_ja", false, &r->sentence_ja)) < 0 ||
	    (rc = sentence_ok(l, root, "sentence", r->sentence)) < 0 ||
	    (rc = sentence_ok(l, root, "sentence_ja", r->sentence_ja)) < 0 ||
	    (rc = compile_filter(l, root, "alerts", &r->alerts)) < 0)
		return rc;
	for (size_t i = 0; i < 4; i++)
		if (get(root, kinds[i])) {
			n_kinds++;
			k = get(root, kinds[i]);
			r->kind = (enum kind)i;
		}
	if (n_kinds != 1)
		return fail_at(l, root, "expected exactly one of where, search, asset, tenants");
	switch (r->kind) {
	case K_WHERE: rc = compile_filter(l, root, "where", &r->where); break;
	case K_SEARCH: rc = load_search(l, r, k); break;
	case K_ASSET: rc = load_asset(l, r, k); break;
	case K_TENANTS: rc = load_tenants(l, r, k); break;
	}
	if (rc < 0)
		return rc;
	t->n_rules++;
	return 0;
}

/* The rule set's settings: base levels per alert level, and the re-check interval. */
static int load_settings(struct loader *l, struct fy_node *root)
{
	static const char *const keys[] = { "base", "recheck" };
	struct fy_node *base = get(root, "base");
	int rc;

	if ((rc = known_keys(l, root, keys, 2)) < 0)
		return rc;
	if (base) {
		if (fy_node_get_type(base) != FYNT_MAPPING)
			return fail_at(l, base, "base: expected a map of alert levels to 0 or 1");
		if ((rc = known_keys(l, base, base_names, BASES)) < 0)
			return rc;
		for (size_t i = 0; i < BASES; i++) {
			int64_t v = l->t->base[i];

			/* the signature's severity alone never makes 2 or 3: evidence does */
			if ((rc = get_int(l, base, base_names[i], 0, 1, &v)) < 0)
				return rc;
			l->t->base[i] = (int)v;
		}
	}
	if ((rc = get_duration(l, root, "recheck", &l->t->recheck_ns)) < 0)
		return rc;
	if (l->t->recheck_ns < SEC_NS)
		return fail_at(l, get(root, "recheck"), "recheck: expected at least 1s");
	return 0;
}

static int load_document(struct loader *l, struct fy_document *doc)
{
	struct fy_node *root = fy_document_root(doc);
	size_t len = 0;

	l->line = 1;
	if (!root || (fy_node_get_type(root) == FYNT_SCALAR && fy_node_get_style(root) == FYNS_PLAIN &&
		      (!fy_node_get_scalar(root, &len) || !len)))
		return 0; /* an empty document */
	l->line = node_line(root);
	if (fy_node_get_type(root) != FYNT_MAPPING)
		return fail_at(l, root, "expected a map: a rule (id, ...) or settings (base, recheck)");
	if (get(root, "id"))
		return load_rule(l, root);
	if (get(root, "base") || get(root, "recheck"))
		return load_settings(l, root);
	return fail_at(l, root, "expected a rule (with id) or settings (base, recheck)");
}

static void diag_silent(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
}

int triage_load_text(struct triage *t, const char *name, const char *text, size_t len,
		     struct err *e)
{
	struct fy_parse_cfg cfg = { .flags = FYPCF_QUIET };
	struct loader l = { .t = t, .e = e, .line = 1 };
	struct fy_diag_cfg dcfg;
	struct fy_document *doc;
	struct fy_parser *p = NULL;
	unsigned line;
	size_t col, bad;
	int rc = 0;

	if (len > TRIAGE_FILE_MAX)
		return err_set(e, -EFBIG, "%s: %zu bytes, expected at most %u", name, len,
			       TRIAGE_FILE_MAX);
	if (!(l.file = arena_strndup(&t->mem, name, strlen(name))))
		return err_set(e, -ENOMEM, "out of memory");
	/* libfyaml loops on some bytes that are not UTF-8: refuse them first */
	if ((bad = json_utf8_text(text, len, &line, &col)) != len)
		return err_set(e, -EINVAL, "%s:%u: YAML: column %zu: expected UTF-8 text", name, line,
			       col);
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_silent;
	if (!(cfg.diag = fy_diag_create(&dcfg)) || !(p = fy_parser_create(&cfg)) ||
	    fy_parser_set_string(p, text, len) < 0) {
		rc = err_set(e, -ENOMEM, "%s: cannot create a YAML parser", name);
		goto fail;
	}
	fy_diag_set_collect_errors(cfg.diag, true);
	while (rc >= 0 && (doc = fy_parse_load_document(p))) {
		rc = load_document(&l, doc);
		fy_parse_document_destroy(p, doc);
	}
	if (rc >= 0 && fy_parser_get_stream_error(p)) {
		struct fy_diag_error *de;
		void *it = NULL;

		if ((de = fy_diag_errors_iterate(cfg.diag, &it)))
			rc = err_set(e, -EINVAL, "%s:%d: YAML: column %d: %s", name, de->line + 1,
				     de->column + 1, de->msg ? de->msg : "not well-formed");
		else
			rc = err_set(e, -EINVAL, "%s: YAML: not well-formed", name);
	}
fail:
	if (p)
		fy_parser_destroy(p);
	if (cfg.diag)
		fy_diag_destroy(cfg.diag);
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

static int load_file(struct triage *t, const char *path, struct err *e)
{
	FILE *f = fopen(path, "rb");
	char *text;
	size_t n;
	int rc;

	if (!f)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	if (!(text = mem_alloc(TRIAGE_FILE_MAX + 1))) {
		fclose(f);
		return err_set(e, -ENOMEM, "out of memory");
	}
	n = fread(text, 1, TRIAGE_FILE_MAX + 1, f);
	if (ferror(f))
		rc = err_set(e, -EIO, "%s: read error", path);
	else
		rc = triage_load_text(t, path, text, n, e);
	fclose(f);
	mem_free(text);
	return rc;
}

/* Every *.yml / *.yaml file of dir (not recursive), in name order. */
static int load_dir(struct triage *t, const char *dir, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d)
		return err_set(e, -errno, "%s: %s", dir, strerror(errno));
	while (rc == 0 && (de = readdir(d))) {
		char **grown;

		if (de->d_name[0] == '.' || !yaml_name(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if (cap > RULES_MAX) {
				rc = err_set(e, -E2BIG, "%s: more than %d rule files", dir, RULES_MAX);
				break;
			}
			if (!(grown = mem_realloc(names, cap * sizeof(*names)))) {
				rc = err_set(e, -ENOMEM, "out of memory");
				break;
			}
			names = grown;
		}
		if (!(names[n] = mem_alloc(strlen(dir) + strlen(de->d_name) + 2))) {
			rc = err_set(e, -ENOMEM, "out of memory");
			break;
		}
		snprintf(names[n], strlen(dir) + strlen(de->d_name) + 2, "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	if (rc == 0 && n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = load_file(t, names[i], e);
		mem_free(names[i]);
	}
	mem_free(names);
	return rc;
}

int triage_new(struct triage **out, const struct triage_config *c, struct err *e)
{
	struct triage *t = mem_calloc(1, sizeof(*t));
	int rc = 0;

	*out = NULL;
	if (!t)
		return err_set(e, -ENOMEM, "out of memory");
	arena_init(&t->mem, 64 << 10, MEMORY_MAX);
	t->window_ns = c && c->window_ns > 0 ? c->window_ns : DEFAULT_WINDOW_NS;
	t->recheck_ns = DEFAULT_RECHECK_NS;
	t->store = c ? c->store : NULL;
	for (size_t i = 0; i < BASES; i++)
		t->base[i] = i == BASE_INFORMATIONAL ? 0 : 1;
	if (!(t->rules = mem_calloc(RULES_MAX, sizeof(*t->rules)))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if (c && c->data_dir && !(t->data_dir = mem_strdup(c->data_dir))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if (c && c->rules_dir) {
		rc = load_dir(t, c->rules_dir, e);
	} else {
		for (size_t i = 0; i < triage_bundled_count && rc == 0; i++)
			rc = triage_load_text(t, triage_bundled[i].name,
					      (const char *)triage_bundled[i].bytes,
					      triage_bundled[i].len, e);
	}
	if (rc < 0)
		goto fail;
	log_debug("%zu triage rules loaded from %s", t->n_rules,
		  c && c->rules_dir ? c->rules_dir : "the bundled rules/triage");
	*out = t;
	return 0;
fail:
	triage_free(t);
	return rc;
}

void triage_free(struct triage *t)
{
	if (!t)
		return;
	if (t->metrics)
		metrics_unregister(t);
	if (t->meta)
		meta_close(t->meta);
	arena_release(&t->mem);
	mem_free(t->rules);
	mem_free(t->data_dir);
	mem_free(t);
}

static int collect_evaluations(struct metrics_out *o, void *ctx)
{
	struct triage *t = ctx;
	static const char *const levels[4] = { "0", "1", "2", "3" };
	int rc = 0;

	for (size_t i = 0; i < 4 && rc == 0; i++)
		rc = metrics_sample(o, atomic_load_explicit(&t->evaluations[i], memory_order_relaxed),
				    "level", levels[i], NULL);
	return rc;
}

static int collect_skipped(struct metrics_out *o, void *ctx)
{
	struct triage *t = ctx;
	int rc = 0;

	for (size_t i = 0; i < SKIPS && rc == 0; i++)
		rc = metrics_sample(o, atomic_load_explicit(&t->skipped[i], memory_order_relaxed),
				    "reason", skip_names[i], NULL);
	return rc;
}

int triage_metrics_register(struct triage *t, struct err *e)
{
	static const struct metrics_family fams[] = {
		{ "koban_triage_evaluations_total", METRICS_COUNTER,
		  "Incident evaluations by the triage rules, by the level decided.",
		  collect_evaluations },
		{ "koban_triage_skipped_total", METRICS_COUNTER,
		  "What an evaluation could not use, by reason: an alert event that does not "
		  "decode, a rule whose filter no longer compiles.", collect_skipped },
	};
	const char *failed = NULL;
	int rc = metrics_register_families(fams, 2, t, &failed);

	if (rc < 0)
		return err_set(e, rc, "triage: cannot register %s: %s", failed ? failed : "metrics",
			       strerror(-rc));
	t->metrics = true;
	return 0;
}

size_t triage_rule_count(const struct triage *t)
{
	return t->n_rules;
}

/* --------------------------------------------------------------- evaluation ---- */

/* One event of the incident's alerts, decoded. */
struct aev {
	struct event ev;
	const char *json;             /* the ECS line */
	size_t len;
	int64_t t;                    /* its @timestamp, else the alert's event time */
	const struct meta_alert *al;
};

/* What one rule found. */
struct finding {
	const struct aev *alert;      /* the alert event it is about */
	struct event found;           /* K_SEARCH: the first evidence event */
	bool has_found;
	const char *events[EVIDENCE_EVENTS_MAX];
	size_t n_events;
	int64_t count;                /* evidence events (K_SEARCH), tenants (K_TENANTS) */
	int64_t at;                   /* the evidence's time */
	const char *asset;            /* K_ASSET: the asset's name */
	const char *cves;             /* K_ASSET: the CVE ids, ", " separated */
	const char *tenant_names;     /* K_TENANTS */
};

struct eval {
	struct triage *t;
	const struct triage_input *in;
	const char *tenant;
	struct arena scratch;         /* decoded events, search state */
	struct aev *evs;
	size_t n_evs;
	struct assets *assets;        /* loaded on first need */
	bool assets_loaded;
	int64_t pending_end;          /* the earliest evidence window still open, 0: none */
	struct err *e;
};

static int64_t event_time(const struct event *ev, const struct meta_alert *al)
{
	const struct event_value *v = event_get(ev, FIELD_TIMESTAMP);

	if (v)
		return v->v.i;
	return al->event_ns ? al->event_ns : al->detected_ns;
}

/* Decodes every event of every alert (a line that does not decode is skipped, counted). */
static int decode_alerts(struct eval *x)
{
	size_t n = 0;

	for (size_t i = 0; i < x->in->n_alerts; i++)
		n += x->in->alerts[i].events ? (size_t)MAX(x->in->alerts[i].n_events, 0) : 0;
	if (!(x->evs = arena_alloc(&x->scratch, MAX(n, 1) * sizeof(*x->evs))))
		return err_set(x->e, -ENOMEM, "triage: out of memory");
	for (size_t i = 0; i < x->in->n_alerts; i++) {
		const struct meta_alert *al = &x->in->alerts[i];
		const char *p = al->events;

		while (p && *p && x->n_evs < n) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			struct aev *v = &x->evs[x->n_evs];
			struct err de = ERR_INIT;

			event_init(&v->ev, &x->scratch);
			if (ecs_decode(&v->ev, p, len, &de) == 0) {
				v->json = p;
				v->len = len;
				v->al = al;
				v->t = event_time(&v->ev, al);
				x->n_evs++;
			} else {
				atomic_fetch_add_explicit(&x->t->skipped[SKIP_EVENT], 1,
							  memory_order_relaxed);
				log_warn("tenant %s alert %lld: an event that does not decode: %s",
					 x->tenant, (long long)al->id, de.msg);
			}
			p = nl ? nl + 1 : p + len;
		}
	}
	return 0;
}

/* The first value of field name in ev as text (tmp for numbers, times, addresses). */
static const char *value_of(const struct event *ev, const char *name, size_t nlen,
			    char tmp[EVENT_VALUE_TEXT_MAX], size_t *len)
{
	int id = field_lookup(name, nlen);
	const struct event_value *v = id >= 0 ? event_get(ev, (unsigned)id) : NULL;

	return v ? event_value_text(v, tmp, len) : NULL;
}

/* Fills {field} placeholders of a search query with quoted values of the alert event. */
struct fill {
	struct buf *out;
	const struct event *ev;
	bool missing;
};

static int add_phrase(struct buf *b, const char *s, size_t len)
{
	int rc = buf_addch(b, '"');

	for (size_t i = 0; i < len && rc >= 0; i++) {
		if (s[i] == '"' || s[i] == '\\')
			rc = buf_addch(b, '\\');
		rc = err_first(rc, buf_addch(b, s[i]));
	}
	return err_first(rc, buf_addch(b, '"'));
}

static int fill_query(const char *tmpl, const struct event *ev, struct buf *out, bool *missing)
{
	int rc = 0;

	*missing = false;
	for (const char *p = tmpl; *p && rc >= 0; p++) {
		char tmp[EVENT_VALUE_TEXT_MAX];
		const char *end, *v;
		size_t len;

		if (*p == '{' && p[1] == '{') {
			rc = buf_addch(out, *p++);
			continue;
		}
		if (*p != '{') {
			rc = buf_addch(out, *p);
			continue;
		}
		end = strchr(p, '}'); /* checked at load */
		if (!(v = value_of(ev, p + 1, (size_t)(end - p - 1), tmp, &len))) {
			*missing = true;
			return 0;
		}
		rc = add_phrase(out, v, len);
		p = end;
	}
	return rc;
}

/* Keeps up to EVIDENCE_EVENTS_MAX events of a finding as ECS JSON text. */
static int keep_event_json(struct eval *x, struct finding *f, const char *json, size_t len)
{
	if (f->n_events >= EVIDENCE_EVENTS_MAX)
		return 0;
	if (!(f->events[f->n_events] = arena_strndup(&x->scratch, json, len)))
		return err_set(x->e, -ENOMEM, "triage: out of memory");
	f->n_events++;
	return 0;
}

struct search_ctx {
	struct eval *x;
	struct finding *f;
	struct buf json;
	int64_t want;
	int rc;
};

static int on_evidence(void *ctx, const struct event *ev)
{
	struct search_ctx *s = ctx;
	struct finding *f = s->f;
	const struct event_value *ts = event_get(ev, FIELD_TIMESTAMP);
	struct err de = ERR_INIT;

	buf_reset(&s->json);
	if ((s->rc = event_write_json(ev, &s->json)) < 0)
		return s->rc;
	if (!f->count) {
		f->at = ts ? ts->v.i : f->alert->t;
		/* the first evidence event, decoded again from its own copy for the sentence */
		if ((s->rc = keep_event_json(s->x, f, s->json.p, s->json.len)) < 0)
			return s->rc;
		event_init(&f->found, &s->x->scratch);
		if (ecs_decode(&f->found, f->events[0], s->json.len, &de) == 0)
			f->has_found = true;
	} else if ((s->rc = keep_event_json(s->x, f, s->json.p, s->json.len)) < 0) {
		return s->rc;
	}
	f->count++;
	/* enough to decide and to show: stop reading */
	return f->count >= MAX(s->want, EVIDENCE_EVENTS_MAX) ? -ECANCELED : 0;
}

/* Names the rule in front of the error that x->e holds. */
static int rule_error(struct eval *x, const struct trule *r, int rc)
{
	char msg[sizeof(x->e->msg)];

	snprintf(msg, sizeof(msg), "%s", x->e->msg);
	return err_set(x->e, rc, "triage rule %s (%s:%u): %s", r->id, r->file, r->line, msg);
}

/* Notes an evidence window that is still open at now. */
static void window_open(struct eval *x, int64_t end)
{
	if (end > x->in->now_ns && (!x->pending_end || end < x->pending_end))
		x->pending_end = end;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	return b > 0 && a > INT64_MAX - b ? INT64_MAX : b < 0 && a < INT64_MIN - b ? INT64_MIN : a + b;
}

/* 1 when the store holds the rule's evidence for alert event v, else 0. */
static int eval_search(struct eval *x, const struct trule *r, const struct aev *v,
		       struct finding *f)
{
	struct search_ctx s = { .x = x, .f = f, .want = r->min_count };
	struct store_search_stats stats;
	struct store_search q;
	struct buf text;
	bool missing;
	int64_t end = add_sat(v->t, r->after_ns);
	int rc;

	if (!x->t->store)
		return 0;
	buf_init(&text, QUERY_MAX_LENGTH);
	buf_init(&s.json, 1u << 20);
	if ((rc = fill_query(r->query, &v->ev, &text, &missing)) < 0) {
		rc = err_set(x->e, rc, "triage rule %s: the query is over %d bytes", r->id,
			     QUERY_MAX_LENGTH);
		goto done;
	}
	if (missing)
		goto done; /* the alert event lacks a field the query needs */
	window_open(x, end);
	q = (struct store_search){
		.tenant = x->in->tenant_id, .query = text.p, .query_len = text.len,
		.from = add_sat(v->t, -r->before_ns), .to = MIN(end, x->in->now_ns),
		.now = x->in->now_ns, .who = "triage", .event_fn = on_evidence, .ctx = &s,
		.limit = (uint64_t)MAX(s.want, EVIDENCE_EVENTS_MAX), /* on_evidence's stop */
	};
	memset(f, 0, sizeof(*f));
	f->alert = v;
	if (q.from > q.to)
		goto done;
	rc = store_search(x->t->store, &q, &stats, x->e);
	if (rc < 0 && s.rc < 0) {
		rc = err_set(x->e, s.rc, "triage rule %s: an evidence event over 1 MiB, or out of "
			     "memory", r->id);
	} else if (rc == -EINVAL) {
		/* the filled query does not compile (a value not of its field's type) */
		log_warn("triage rule %s (%s:%u) skipped: %s", r->id, r->file, r->line, x->e->msg);
		atomic_fetch_add_explicit(&x->t->skipped[SKIP_RULE], 1, memory_order_relaxed);
		rc = 0;
	} else if (rc < 0) {
		rc = rule_error(x, r, rc);
	} else
		rc = f->count >= r->min_count;
done:
	buf_release(&text);
	buf_release(&s.json);
	return rc;
}

static int open_meta(struct eval *x)
{
	if (x->t->meta)
		return 0;
	if (!x->t->data_dir)
		return -ENOENT;
	return meta_open(&x->t->meta, x->t->data_dir, x->e);
}

/*
 * The CVE ids written in s[0..len), "CVE-2021-44228" in any case or a Sigma tag's
 * "cve.2021-44228", added to cves upper-case, each once.
 */
/* The CVE id at s[i..len) in id ("CVE-YYYY-N...", 4-12 digits), or false. */
static bool cve_at(const char *s, size_t len, size_t i, char id[CVE_ID_MAX])
{
	size_t digits = 0;

	if (i + 13 > len || strncasecmp(s + i, "cve", 3) || (s[i + 3] != '-' && s[i + 3] != '.'))
		return false;
	for (size_t j = i + 4; j < i + 8; j++)
		if (s[j] < '0' || s[j] > '9')
			return false;
	if (s[i + 8] != '-')
		return false;
	while (i + 9 + digits < len && digits < 12 && s[i + 9 + digits] >= '0' &&
	       s[i + 9 + digits] <= '9')
		digits++;
	if (digits < 4)
		return false;
	memcpy(id, "CVE-", 4);
	memcpy(id + 4, s + i + 4, 5 + digits);
	id[9 + digits] = '\0';
	return true;
}

static void scan_cves(const char *s, size_t len, char cves[CVES_MAX][CVE_ID_MAX], size_t *n)
{
	for (size_t i = 0; i < len && *n < CVES_MAX; i++) {
		char id[CVE_ID_MAX];
		bool seen = false;

		if (!cve_at(s, len, i, id))
			continue;
		for (size_t k = 0; k < *n && !seen; k++)
			seen = !strcmp(cves[k], id);
		if (!seen)
			memcpy(cves[(*n)++], id, sizeof(id));
	}
}

static bool asset_lists(const struct assets_entry *en, const char *cve)
{
	for (size_t i = 0; i < en->cves.n; i++)
		if (!strcasecmp(en->cves.v[i], cve))
			return true;
	return false;
}

/* 1 when the asset that v targets is (vulnerable) or is not (!vulnerable) listed. */
static int eval_asset(struct eval *x, const struct trule *r, const struct aev *v,
		      struct finding *f)
{
	char cves[CVES_MAX][CVE_ID_MAX], tmp[EVENT_VALUE_TEXT_MAX];
	const struct assets_entry *en;
	const char *addr;
	size_t n = 0, alen, listed = 0;
	struct buf b;
	int rc;

	for (size_t i = 0; i < r->n_cve_fields; i++) {
		int id = field_lookup(r->cve_fields[i], strlen(r->cve_fields[i]));

		for (uint32_t k = 0; id >= 0 && k < v->ev.n; k++) {
			char vt[EVENT_VALUE_TEXT_MAX];
			size_t vlen;
			const char *s;

			if (v->ev.vals[k].field != (uint32_t)id)
				continue;
			s = event_value_text(&v->ev.vals[k], vt, &vlen);
			scan_cves(s, vlen, cves, &n);
		}
	}
	/* the detection rule may name it: its title, or a tag cve.2021-44228 */
	if (v->al->rule_title)
		scan_cves(v->al->rule_title, strlen(v->al->rule_title), cves, &n);
	if (v->al->rule_tags)
		scan_cves(v->al->rule_tags, strlen(v->al->rule_tags), cves, &n);
	if (!n || !(addr = value_of(&v->ev, r->field, strlen(r->field), tmp, &alen)))
		return 0;
	if (!x->assets_loaded) {
		x->assets_loaded = true;
		if ((rc = open_meta(x)) == -ENOENT)
			return 0; /* no koban.db: no inventory */
		if (rc < 0 || (rc = assets_load(x->t->meta, x->tenant, &x->assets, x->e)) < 0)
			return rc;
	}
	if (!x->assets || !(en = assets_lookup(x->assets, x->tenant, addr, alen)))
		return 0; /* an unknown host: neither vulnerable nor not */
	buf_init(&b, 4096);
	rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		bool is = asset_lists(en, cves[i]);

		listed += is;
		if (is == r->vulnerable || !r->vulnerable)
			rc = err_first(rc, buf_addf(&b, "%s%s", b.len ? ", " : "", cves[i]));
	}
	memset(f, 0, sizeof(*f));
	f->alert = v;
	f->at = v->t;
	f->asset = arena_strndup(&x->scratch, en->name, strlen(en->name));
	f->cves = arena_strndup(&x->scratch, b.p ? b.p : "", b.len);
	buf_release(&b);
	if (rc < 0 || !f->asset || !f->cves)
		return err_set(x->e, -ENOMEM, "triage: out of memory");
	return r->vulnerable ? listed > 0 : listed == 0;
}

struct attacker_ctx {
	struct eval *x;
	struct finding *f;
	int64_t tenants;
};

static void on_attacker(void *ctx, const struct meta_triage_attacker *a)
{
	struct attacker_ctx *c = ctx;

	c->tenants = a->tenants;
	c->f->count = a->tenants;
	c->f->tenant_names = arena_strndup(&c->x->scratch, a->tenant_names,
					   strlen(a->tenant_names));
}

/* 1 when the alert event's attacker is in alerts of at least min_count tenants. */
static int eval_tenants(struct eval *x, const struct trule *r, const struct aev *v,
			struct finding *f)
{
	struct attacker_ctx c = { .x = x, .f = f };
	char tmp[EVENT_VALUE_TEXT_MAX];
	const char *ip;
	size_t len;
	char *ipz;
	int64_t end = add_sat(v->t, r->after_ns);
	int rc;

	if (!(ip = value_of(&v->ev, r->field, strlen(r->field), tmp, &len)))
		return 0;
	if ((rc = open_meta(x)) == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (!(ipz = arena_strndup(&x->scratch, ip, len)))
		return err_set(x->e, -ENOMEM, "triage: out of memory");
	window_open(x, end);
	memset(f, 0, sizeof(*f));
	f->alert = v;
	f->at = v->t;
	rc = meta_triage_attackers(x->t->meta, ipz, add_sat(v->t, -r->before_ns),
				   MIN(end, x->in->now_ns), r->min_count, 1, on_attacker, &c, x->e);
	if (rc < 0)
		return rc;
	if (c.tenants && !f->tenant_names)
		return err_set(x->e, -ENOMEM, "triage: out of memory");
	return c.tenants >= r->min_count;
}

/* 1 when rule r fires on alert event v (f filled), 0 when not, or a negative error. */
static int eval_one(struct eval *x, const struct trule *r, const struct match *where,
		    const struct aev *v, struct finding *f)
{
	switch (r->kind) {
	case K_WHERE:
		if (!match_event(where, &v->ev))
			return 0;
		memset(f, 0, sizeof(*f));
		f->alert = v;
		f->at = v->t;
		return keep_event_json(x, f, v->json, v->len) < 0 ? -ENOMEM : 1;
	case K_SEARCH:
		return eval_search(x, r, v, f);
	case K_ASSET:
		return eval_asset(x, r, v, f);
	case K_TENANTS:
		return eval_tenants(x, r, v, f);
	}
	return 0;
}

/*
 * Whether rule r fires for the incident: on the first alert event it applies to where its
 * evidence is found; a cap decided on the alerts' own events (where) only when every event
 * it applies to shows it (one blocked attempt among others that went through caps nothing).
 */
static int eval_rule(struct eval *x, const struct trule *r, struct finding *f)
{
	struct finding first = { 0 };
	bool every = r->kind == K_WHERE && r->effect == E_CAP, any = false, all = true;
	struct match *alerts = NULL, *where = NULL;
	int rc;

	if ((r->alerts && (rc = match_compile(&alerts, r->alerts, x->in->now_ns, &x->scratch,
					      x->e)) < 0) ||
	    (r->where && (rc = match_compile(&where, r->where, x->in->now_ns, &x->scratch,
					     x->e)) < 0)) {
		if (rc == -ENOMEM)
			return rc;
		/* a vendor field met since the load with another type: this rule cannot apply */
		log_warn("triage rule %s (%s:%u) skipped: %s", r->id, r->file, r->line, x->e->msg);
		atomic_fetch_add_explicit(&x->t->skipped[SKIP_RULE], 1, memory_order_relaxed);
		return 0;
	}
	for (size_t i = 0; i < x->n_evs; i++) {
		const struct aev *v = &x->evs[i];

		if (alerts && !match_event(alerts, &v->ev))
			continue;
		if ((rc = eval_one(x, r, where, v, f)) < 0)
			return rc;
		if (rc && !any) {
			first = *f;
			any = true;
		}
		all &= rc == 1;
		if (rc && !every)
			return 1;
		if (!rc && every)
			return 0;
	}
	if (any && all)
		*f = first;
	return any && all;
}

/* The sentence with {field} (the alert event), {found.field} and the finding's values. */
static int write_sentence(const char *tmpl, const struct finding *f, struct buf *out)
{
	int rc = 0;

	for (const char *p = tmpl; *p && rc >= 0; p++) {
		char tmp[EVENT_VALUE_TEXT_MAX], num[24];
		const char *end, *name, *v = NULL;
		size_t n, len = 0;

		if (*p == '{' && p[1] == '{') {
			rc = buf_addch(out, *p++);
			continue;
		}
		if (*p != '{') {
			rc = buf_addch(out, *p);
			continue;
		}
		end = strchr(p, '}');
		name = p + 1;
		n = (size_t)(end - name);
		if (n == 5 && !memcmp(name, "count", 5)) {
			len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)f->count);
			v = num;
		} else if (n == 5 && !memcmp(name, "asset", 5) && f->asset) {
			v = f->asset;
		} else if (n == 4 && !memcmp(name, "cves", 4) && f->cves) {
			v = f->cves;
		} else if (n == 12 && !memcmp(name, "tenant_names", 12) && f->tenant_names) {
			v = f->tenant_names;
		} else if (n > 6 && !memcmp(name, "found.", 6)) {
			v = f->has_found ? value_of(&f->found, name + 6, n - 6, tmp, &len) : NULL;
		} else {
			v = value_of(&f->alert->ev, name, n, tmp, &len);
		}
		if (v && !len)
			len = strlen(v);
		rc = v ? buf_add(out, v, len) : buf_adds(out, "(unknown)");
		p = end;
	}
	return rc;
}

static int write_evidence(const struct trule *r, const struct finding *f, bool first,
			  struct buf *out)
{
	char at[TIME_RFC3339_LEN];
	size_t at_len = time_format_rfc3339(f->at, at);
	struct buf s;
	int rc;

	buf_init(&s, SENTENCE_MAX * 8);
	rc = buf_adds(out, first ? "{\"rule\": " : ", {\"rule\": ");
	rc = err_first(rc, json_add_string(out, r->id, strlen(r->id)));
	rc = err_first(rc, buf_addf(out, ", \"effect\": \"%s\"", effect_names[r->effect]));
	if (r->effect != E_NOTE)
		rc = err_first(rc, buf_addf(out, ", \"level\": %d", r->level));
	rc = err_first(rc, write_sentence(r->sentence, f, &s));
	rc = err_first(rc, buf_adds(out, ", \"sentence\": "));
	rc = err_first(rc, json_add_string(out, s.p ? s.p : "", s.len));
	if (r->sentence_ja) {
		buf_reset(&s);
		rc = err_first(rc, write_sentence(r->sentence_ja, f, &s));
		rc = err_first(rc, buf_adds(out, ", \"sentence_ja\": "));
		rc = err_first(rc, json_add_string(out, s.p ? s.p : "", s.len));
	}
	rc = err_first(rc, buf_adds(out, ", \"at\": "));
	rc = err_first(rc, json_add_string(out, at, at_len));
	if (f->n_events) {
		rc = err_first(rc, buf_adds(out, ", \"events\": ["));
		for (size_t i = 0; i < f->n_events; i++) {
			rc = err_first(rc, buf_adds(out, i ? ", " : ""));
			rc = err_first(rc, buf_adds(out, f->events[i]));
		}
		rc = err_first(rc, buf_addch(out, ']'));
	}
	rc = err_first(rc, buf_addch(out, '}'));
	buf_release(&s);
	return rc;
}

static int base_level(const struct triage *t, const struct triage_input *in, int *which)
{
	int level = 0;

	*which = BASE_INFORMATIONAL;
	for (size_t i = 0; i < in->n_alerts; i++) {
		const char *l = in->alerts[i].rule_level ? in->alerts[i].rule_level : "";
		int b = BASE_UNKNOWN;

		for (int k = 0; k < BASE_UNKNOWN; k++)
			if (!strcmp(l, base_names[k]))
				b = k;
		if (i == 0 || t->base[b] > level || (t->base[b] == level && b > *which)) {
			level = t->base[b];
			*which = b;
		}
	}
	return level;
}

/* What the fired rules make of the base level, and the rule that decided it (or NULL). */
struct decision {
	int level;
	bool set;                     /* a set rule decided it */
	const struct trule *by;
	const struct finding *by_f;
};

/*
 * The order (docs/triage.md): base, then every raise (added), then every min (the highest),
 * then every cap (the lowest) — a device's proof that it stopped the attack beats the
 * inferences above — then set (the highest): proof that the attack succeeded beats a cap.
 * The rule that last moved the level decided it.
 */
static void decide(struct decision *d, const struct trule *r, const struct finding *f,
		   enum effect pass)
{
	int level = d->level;

	if (r->effect != pass)
		return;
	switch (pass) {
	case E_RAISE: level = MIN(3, d->level + r->level); break;
	case E_MIN: level = MAX(d->level, r->level); break;
	case E_CAP: level = MIN(d->level, r->level); break;
	case E_SET:
		if (d->set && r->level <= d->level)
			return;
		d->set = true;
		level = r->level;
		d->by = r; /* a set decides even when the level was already there */
		d->by_f = f;
		break;
	case E_NOTE: return;
	}
	if (level != d->level) {
		d->by = r;
		d->by_f = f;
	}
	d->level = level;
}

int triage_evaluate(struct triage *t, const struct triage_input *in, struct arena *a,
		    struct triage_verdict *out, struct err *e)
{
	static const enum effect passes[] = { E_RAISE, E_MIN, E_CAP, E_SET };
	struct eval x = { .t = t, .in = in, .e = e };
	struct finding *found = NULL;
	bool *fired = NULL;
	struct decision d = { 0 };
	struct buf ev, why;
	int which, rc = 0;
	bool first = true;

	memset(out, 0, sizeof(*out));
	if (!in->n_alerts || !in->alerts || !in->alerts[0].tenant)
		return err_set(e, -EINVAL, "triage: an incident without alerts");
	/* the incident's tenant, when there is one (`koban triage test` has only an alert) */
	x.tenant = in->incident && in->incident->tenant ? in->incident->tenant : in->alerts[0].tenant;
	for (size_t i = 0; i < in->n_alerts; i++)
		if (!in->alerts[i].tenant || strcmp(in->alerts[i].tenant, x.tenant))
			return err_set(e, -EINVAL, "triage: alerts of two tenants in one incident");
	arena_init(&x.scratch, 64 << 10, MEMORY_MAX);
	buf_init(&ev, (size_t)META_ALERT_JSON_MAX * 16);
	buf_init(&why, SENTENCE_MAX * 8);
	if ((rc = decode_alerts(&x)) < 0)
		goto fail;
	if (!(found = arena_alloc(&x.scratch, MAX(t->n_rules, 1) * sizeof(*found))) ||
	    !(fired = arena_alloc(&x.scratch, MAX(t->n_rules, 1) * sizeof(*fired)))) {
		rc = err_set(e, -ENOMEM, "triage: out of memory");
		goto fail;
	}
	/* a rule loop cut short (evidence over its limit) leaves the rest not fired */
	memset(fired, 0, MAX(t->n_rules, 1) * sizeof(*fired));
	d.level = base_level(t, in, &which);
	rc = buf_addch(&ev, '[');
	for (size_t i = 0; i < t->n_rules && rc >= 0; i++) {
		if ((rc = eval_rule(&x, &t->rules[i], &found[i])) < 0)
			goto fail;
		fired[i] = rc == 1;
		rc = 0;
		if (fired[i]) {
			rc = write_evidence(&t->rules[i], &found[i], first, &ev);
			first = false;
		}
	}
	rc = err_first(rc, buf_addch(&ev, ']'));
	for (size_t p = 0; p < sizeof(passes) / sizeof(passes[0]); p++)
		for (size_t i = 0; i < t->n_rules; i++)
			if (fired[i])
				decide(&d, &t->rules[i], &found[i], passes[p]);
	if (d.by) {
		rc = err_first(rc, buf_addf(&why, "Level %d (%s, rule %s): ", d.level,
					    effect_names[d.by->effect], d.by->id));
		rc = err_first(rc, write_sentence(d.by->sentence, d.by_f, &why));
	} else {
		rc = err_first(rc, buf_addf(&why, "Level %d from the alerts' rule level (%s): no "
					    "evidence changed it.", d.level, base_names[which]));
	}
	if (rc < 0) {
		rc = err_set(e, rc, "triage: the evidence is over its size limit or out of memory");
		goto fail;
	}
	out->level = d.level;
	out->evidence = arena_strndup(a, ev.p, ev.len);
	out->why = arena_strndup(a, why.p, why.len);
	if (!out->evidence || !out->why) {
		rc = err_set(e, -ENOMEM, "triage: out of memory");
		goto fail;
	}
	atomic_fetch_add_explicit(&t->evaluations[d.level], 1, memory_order_relaxed);
	out->complete = !x.pending_end;
	out->recheck_ns = x.pending_end ? MIN(x.pending_end, add_sat(in->now_ns, t->recheck_ns)) : 0;
fail:
	if (x.assets)
		assets_free(x.assets);
	buf_release(&ev);
	buf_release(&why);
	arena_release(&x.scratch);
	return rc;
}
