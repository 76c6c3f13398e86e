#include "detect/rulepolicy.h"
#include "core/compat.h"

#include <libfyaml.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/meta.h"

#define FILTER_NAME_MAX 200 /* of the file name in messages */

/* ---- the tuning filter's shape ---- */

/* The 1-based line of a scalar node (a mapping key), or 0 when libfyaml has none. */
static int node_line(struct fy_node *n)
{
	struct fy_token *t = n ? fy_node_get_scalar_token(n) : NULL;
	const struct fy_mark *mark = t ? fy_token_start_mark(t) : NULL;

	return mark ? mark->line + 1 : 0;
}

static int shape_error(const char *name, int line, const char *what, struct err *e)
{
	return err_set(e, -EINVAL, "%.*s:%d: %s", FILTER_NAME_MAX, name, line, what);
}

static bool scalar_text(struct fy_node *n)
{
	size_t len = 0;
	const char *s = fy_node_is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;

	return s && len > 0;
}

/* A condition: a text, or a list of texts (ORed, as the spec allows). */
static bool condition_ok(struct fy_node *v)
{
	void *it = NULL;
	struct fy_node *item;
	int n = 0;

	if (scalar_text(v))
		return true;
	if (!fy_node_is_sequence(v))
		return false;
	while ((item = fy_node_sequence_iterate(v, &it))) {
		if (!scalar_text(item))
			return false;
		n++;
	}
	return n > 0;
}

static int check_root(const char *name, struct fy_node *root, struct err *e)
{
	void *it = NULL;
	struct fy_node_pair *pair;
	bool condition = false;
	int searches = 0;

	if (!root || !fy_node_is_mapping(root))
		return shape_error(name, 1, "expected a mapping of search identifiers and a "
				   "condition (a Sigma detection)", e);
	while ((pair = fy_node_mapping_iterate(root, &it))) {
		struct fy_node *k = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);
		size_t klen = 0;
		const char *key = scalar_text(k) ? fy_node_get_scalar(k, &klen) : NULL;

		if (!key)
			return shape_error(name, node_line(k), "expected a search identifier or "
					   "'condition' as the key", e);
		if (klen == strlen("condition") && !memcmp(key, "condition", klen)) {
			if (!condition_ok(v))
				return shape_error(name, node_line(k), "condition: expected a text "
						   "such as 'selection' or 'a and not b', or a "
						   "list of them", e);
			condition = true;
			continue;
		}
		if (!v || !(fy_node_is_mapping(v) || fy_node_is_sequence(v)))
			return err_set(e, -EINVAL, "%.*s:%d: %.*s: expected a map of fields or a "
				       "list (a Sigma search identifier)", FILTER_NAME_MAX, name,
				       node_line(k), (int)MIN(klen, 64), key);
		searches++;
	}
	if (!condition)
		return shape_error(name, 1, "no 'condition': a tuning filter names which of its "
				   "search identifiers leave an event out", e);
	if (!searches)
		return shape_error(name, 1, "no search identifier: expected at least one beside "
				   "the condition", e);
	return 0;
}

/* The first error libfyaml collected, as "NAME:LINE: message". */
static int yaml_error(const char *name, struct fy_diag *diag, struct err *e)
{
	void *it = NULL;
	struct fy_diag_error *d = diag ? fy_diag_errors_iterate(diag, &it) : NULL;

	if (!d)
		return err_set(e, -EINVAL, "%.*s: not YAML (or empty): expected a Sigma detection",
			       FILTER_NAME_MAX, name);
	return err_set(e, -EINVAL, "%.*s:%d: not YAML: %s", FILTER_NAME_MAX, name, d->line,
		       d->msg ? d->msg : "syntax error");
}

int rulepolicy_filter_check(const char *name, const char *text, size_t len, struct err *e)
{
	struct fy_diag_cfg dcfg;
	struct fy_diag *diag = NULL;
	struct fy_parser *parser = NULL;
	struct fy_document *doc = NULL, *next = NULL;
	unsigned bad_line;
	size_t bad_col;
	int rc;

	if (len > META_RULE_FILTER_MAX)
		return err_set(e, -EINVAL, "%.*s: %zu bytes, more than a tuning filter's %d",
			       FILTER_NAME_MAX, name, len, META_RULE_FILTER_MAX);
	if (memchr(text, '\0', len))
		return err_set(e, -EINVAL, "%.*s: a NUL byte: expected YAML text", FILTER_NAME_MAX,
			       name);
	if (json_utf8_text(text, len, &bad_line, &bad_col) != len)
		return err_set(e, -EINVAL, "%.*s:%u: not UTF-8: expected YAML text",
			       FILTER_NAME_MAX, name, bad_line);
	/* errors are collected, never printed by libfyaml itself */
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	if (!(diag = fy_diag_create(&dcfg))) {
		rc = err_set(e, -ENOMEM, "out of memory checking %.*s", FILTER_NAME_MAX, name);
		goto fail;
	}
	fy_diag_set_collect_errors(diag, true);
	{
		struct fy_parse_cfg pcfg = { .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG,
					     .diag = diag };

		if (!(parser = fy_parser_create(&pcfg)) ||
		    fy_parser_set_string(parser, text, len) < 0) {
			rc = err_set(e, -ENOMEM, "out of memory checking %.*s", FILTER_NAME_MAX,
				     name);
			goto fail;
		}
	}
	if (!(doc = fy_parse_load_document(parser)) || fy_diag_got_error(diag)) {
		rc = yaml_error(name, diag, e);
		goto fail;
	}
	if ((rc = check_root(name, fy_document_root(doc), e)) < 0)
		goto fail;
	if ((next = fy_parse_load_document(parser)) || fy_diag_got_error(diag)) {
		rc = next ? err_set(e, -EINVAL, "%.*s: more than one YAML document: a tuning "
				    "filter is one Sigma detection", FILTER_NAME_MAX, name)
			  : yaml_error(name, diag, e);
		goto fail;
	}
	rc = 0;
fail:
	if (next)
		fy_parse_document_destroy(parser, next);
	if (doc)
		fy_parse_document_destroy(parser, doc);
	if (parser)
		fy_parser_destroy(parser);
	if (diag)
		fy_diag_destroy(diag);
	return rc;
}

/* ---- JSON lines ---- */

/* "KEY": with the spacing of every `koban rule` JSON line, after a ", " unless first. */
static int add_key(struct buf *out, const char *key, bool first)
{
	int rc = first ? 0 : buf_adds(out, ", ");

	if (rc < 0 || (rc = json_add_string(out, key, strlen(key))) < 0)
		return rc;
	return buf_adds(out, ": ");
}

static int add_text(struct buf *out, const char *key, const char *s, bool first)
{
	int rc = add_key(out, key, first);

	if (rc < 0)
		return rc;
	return s ? json_add_string(out, s, strlen(s)) : buf_adds(out, "null");
}

static int add_time(struct buf *out, const char *key, int64_t ns)
{
	char t[TIME_RFC3339_LEN];

	time_format_rfc3339(ns, t);
	return add_text(out, key, t, false);
}

static int add_state(struct buf *out, int enabled, bool first)
{
	int rc = add_key(out, "enabled", first);

	if (rc < 0)
		return rc;
	return buf_adds(out, enabled == META_RULE_DEFAULT ? "null" :
			     enabled == META_RULE_OFF     ? "false" : "true");
}

/* {"enabled": ..., "filter": ...} under key. */
static int add_snapshot(struct buf *out, const char *key, int enabled, const char *filter)
{
	int rc;

	if ((rc = add_key(out, key, false)) < 0 || (rc = buf_adds(out, "{")) < 0 ||
	    (rc = add_state(out, enabled, true)) < 0 ||
	    (rc = add_text(out, "filter", filter, false)) < 0)
		return rc;
	return buf_adds(out, "}");
}

int rulepolicy_write_policy(const struct meta_rule_policy *p, struct buf *out)
{
	int rc;

	if ((rc = buf_adds(out, "{")) < 0 || (rc = add_text(out, "tenant", p->tenant, true)) < 0 ||
	    (rc = add_text(out, "rule", p->rule, false)) < 0 ||
	    (rc = add_state(out, p->enabled, false)) < 0 ||
	    (rc = add_text(out, "filter", p->filter, false)) < 0 ||
	    (rc = add_time(out, "changed", p->changed_ns)) < 0 ||
	    (rc = add_text(out, "by", p->changed_by, false)) < 0)
		return rc;
	return buf_adds(out, "}");
}

int rulepolicy_write_history(const struct meta_rule_history *h, struct buf *out)
{
	char id[24];
	int rc;

	snprintf(id, sizeof(id), "%lld", (long long)h->id);
	if ((rc = buf_adds(out, "{")) < 0 || (rc = add_key(out, "id", true)) < 0 ||
	    (rc = buf_adds(out, id)) < 0 || (rc = add_text(out, "tenant", h->tenant, false)) < 0 ||
	    (rc = add_text(out, "rule", h->rule, false)) < 0 ||
	    (rc = add_time(out, "time", h->time_ns)) < 0 ||
	    (rc = add_text(out, "by", h->who, false)) < 0 ||
	    (rc = add_text(out, "action", h->action, false)) < 0 ||
	    (rc = add_text(out, "reason", h->reason, false)) < 0 ||
	    (rc = add_snapshot(out, "before", h->enabled_before, h->filter_before)) < 0 ||
	    (rc = add_snapshot(out, "after", h->enabled_after, h->filter_after)) < 0)
		return rc;
	return buf_adds(out, "}");
}

/* ---- every tenant's policy in memory ---- */

struct rulepolicy_set {
	struct rulepolicy_entry *v; /* sorted by tenant, then rule */
	size_t n, cap;
};

/* What loading collects: the tenants first, then each one's settings. */
struct loader {
	struct rulepolicy_set *s;
	char **tenants;
	size_t n_tenants, cap_tenants;
	int rc;                     /* the first error of a callback */
};

static int grow(void **p, size_t *cap, size_t n, size_t size, size_t max)
{
	size_t want;
	void *q;

	if (n < *cap)
		return 0;
	if (n >= max)
		return -E2BIG;
	want = MIN(MAX(*cap * 2, (size_t)16), max);
	if (!(q = mem_realloc(*p, want * size)))
		return -ENOMEM;
	*p = q;
	*cap = want;
	return 0;
}

static void take_tenant(void *ctx, const struct meta_tenant *t)
{
	struct loader *l = ctx;
	int rc;

	if (l->rc)
		return;
	if ((rc = grow((void **)&l->tenants, &l->cap_tenants, l->n_tenants, sizeof(char *),
		       RULEPOLICY_SET_MAX)) < 0 ||
	    !(l->tenants[l->n_tenants] = mem_strdup(t->name))) {
		l->rc = rc < 0 ? rc : -ENOMEM;
		return;
	}
	l->n_tenants++;
}

static void take_setting(void *ctx, const struct meta_rule_policy *p)
{
	struct loader *l = ctx;
	struct rulepolicy_set *s = l->s;
	struct rulepolicy_entry *en;
	int rc;

	if (l->rc)
		return;
	if ((rc = grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v), RULEPOLICY_SET_MAX)) < 0) {
		l->rc = rc;
		return;
	}
	en = &s->v[s->n];
	*en = (struct rulepolicy_entry){ .tenant = mem_strdup(p->tenant),
					 .rule = mem_strdup(p->rule), .enabled = p->enabled,
					 .filter = p->filter ? mem_strdup(p->filter) : NULL };
	s->n++; /* counted even when a copy failed, so that free() releases the others */
	if (!en->tenant || !en->rule || (p->filter && !en->filter))
		l->rc = -ENOMEM;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct rulepolicy_entry *x = a, *y = b;
	int c = strcmp(x->tenant, y->tenant);

	return c ? c : strcmp(x->rule, y->rule);
}

int rulepolicy_set_load(struct rulepolicy_set **sp, struct meta *m, struct err *e)
{
	struct loader l = { 0 };
	int rc;

	*sp = NULL;
	if (!(l.s = mem_calloc(1, sizeof(*l.s))))
		return err_set(e, -ENOMEM, "out of memory loading the rule policy");
	if ((rc = meta_tenant_list(m, take_tenant, &l, e)) < 0)
		goto fail;
	for (size_t i = 0; i < l.n_tenants && !l.rc; i++)
		if ((rc = meta_rule_policy_list(m, l.tenants[i], take_setting, &l, e)) < 0)
			goto fail;
	if ((rc = l.rc) < 0) {
		err_set(e, rc, rc == -E2BIG ? "the rule policy has more than %u settings" :
			       "out of memory loading the rule policy", RULEPOLICY_SET_MAX);
		goto fail;
	}
	/* the store promises each tenant's rows ordered by rule, not the tenants' order */
	if (l.s->n) /* qsort wants a non-NULL array even when empty */
		qsort(l.s->v, l.s->n, sizeof(*l.s->v), cmp_entry);
	*sp = l.s;
	l.s = NULL;
fail:
	for (size_t i = 0; i < l.n_tenants; i++)
		mem_free(l.tenants[i]);
	mem_free(l.tenants);
	rulepolicy_set_free(l.s);
	return rc;
}

void rulepolicy_set_free(struct rulepolicy_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		mem_free((char *)s->v[i].tenant);
		mem_free((char *)s->v[i].rule);
		mem_free((char *)s->v[i].filter);
	}
	mem_free(s->v);
	mem_free(s);
}

const struct rulepolicy_entry *rulepolicy_set_get(const struct rulepolicy_set *s,
						  const char *tenant, const char *rule)
{
	const struct rulepolicy_entry key = { .tenant = tenant, .rule = rule };

	return s->n ? bsearch(&key, s->v, s->n, sizeof(*s->v), cmp_entry) : NULL;
}

bool rulepolicy_set_enabled(const struct rulepolicy_set *s, const char *tenant,
			    const char *rule, bool default_on)
{
	const struct rulepolicy_entry *en = rulepolicy_set_get(s, tenant, rule);

	if (!en || en->enabled == META_RULE_DEFAULT)
		return default_on;
	return en->enabled == META_RULE_ON;
}

int rulepolicy_set_each(const struct rulepolicy_set *s,
			int (*fn)(void *ctx, const struct rulepolicy_entry *en), void *ctx)
{
	int rc = 0;

	for (size_t i = 0; i < s->n && !rc; i++)
		rc = fn(ctx, &s->v[i]);
	return rc;
}

size_t rulepolicy_set_count(const struct rulepolicy_set *s)
{
	return s->n;
}
