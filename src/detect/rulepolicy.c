#include "detect/rulepolicy.h"
#include "core/compat.h"

#include <libfyaml.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
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
	int rc;

	if (len > META_RULE_FILTER_MAX)
		return err_set(e, -EINVAL, "%.*s: %zu bytes, more than a tuning filter's %d",
			       FILTER_NAME_MAX, name, len, META_RULE_FILTER_MAX);
	if (memchr(text, '\0', len))
		return err_set(e, -EINVAL, "%.*s: a NUL byte: expected YAML text", FILTER_NAME_MAX,
			       name);
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
