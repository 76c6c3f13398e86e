#include "notify/explain.h"
#include "core/compat.h"

#include <errno.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/timeutil.h"
#include "store/meta.h"

#define JST_S (9 * 3600)

struct reading {
	struct explain *x;
	struct arena *a;
	int64_t decided_ns;
	int rc;
	/* the policy's text, copied: the callback's strings die with the row */
	char *body;
	size_t body_len;
};

static void got_incident(void *ctx, const struct meta_incident *inc)
{
	struct reading *r = ctx;

	r->x->level = inc->level;
	r->decided_ns = inc->decided_ns;
	if (!(r->x->rule = arena_strndup(r->a, inc->rule_id, strlen(inc->rule_id))) ||
	    !(r->x->title = arena_strndup(r->a, inc->title, strlen(inc->title))))
		r->rc = -ENOMEM;
}

static void add_tag(struct reading *r, const char *s, size_t len)
{
	struct explain *x = r->x;

	for (size_t i = 0; i < x->n_tags; i++)
		if (strlen(x->tags[i]) == len && !memcmp(x->tags[i], s, len))
			return;
	if (x->n_tags == EXPLAIN_TAGS_MAX || memchr(s, 0, len))
		return;
	if (!(x->tags[x->n_tags] = arena_strndup(r->a, s, len)))
		r->rc = -ENOMEM;
	else
		x->n_tags++;
}

/* The strings of the alert's rule_tags (a JSON array); anything else is skipped. */
static void got_alert(void *ctx, const struct meta_alert *al)
{
	struct reading *r = ctx;
	struct jsonin_value v;
	struct jsonin j;

	if (!al->rule_tags)
		return;
	jsonin_init(&j, al->rule_tags, strlen(al->rule_tags), r->a, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
		return;
	while (r->rc == 0 && jsonin_more(&j) > 0) {
		if (jsonin_value(&j, &v) < 0)
			return;
		if (v.type == JSONIN_STRING)
			add_tag(r, v.s, v.len);
		else if ((v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) && jsonin_skip(&j) < 0)
			return;
	}
}

static void got_policy(void *ctx, const struct meta_notify_policy *p)
{
	struct reading *r = ctx;

	r->x->policy_version = p->version;
	r->body_len = strlen(p->body);
	if (!(r->body = arena_strndup(r->a, p->body, r->body_len)))
		r->rc = -ENOMEM;
}

int explain_incident(struct meta *m, const char *tenant, int64_t incident, int64_t at_ns,
		     int64_t now_ns, struct arena *a, struct explain *out, struct err *e)
{
	struct reading r = { .x = out, .a = a };
	struct policy_facts f = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	out->tenant = tenant;
	out->incident = incident;
	if (!(out->tags = arena_alloc(a, EXPLAIN_TAGS_MAX * sizeof(*out->tags))))
		return err_set(e, -ENOMEM, "out of memory");
	if ((rc = meta_incident_get(m, tenant, incident, got_incident, &r, e)) < 0 ||
	    (rc = meta_incident_alerts(m, tenant, incident, got_alert, &r, e)) < 0)
		return rc;
	if ((rc = meta_notify_policy_get(m, tenant, got_policy, &r, e)) < 0) {
		if (rc == -ENOENT)
			err_set(e, rc, "tenant '%s' has no notification policy: set one with `koban "
				"notify policy set` (docs/notify-policy.md)", tenant);
		return rc;
	}
	if (r.rc < 0)
		return err_set(e, r.rc, "out of memory reading incident %lld", (long long)incident);
	if ((rc = policy_parse(&out->policy, "the stored policy", r.body, r.body_len, e)) < 0)
		return rc;
	out->at_given = at_ns != 0;
	out->at_ns = at_ns ? at_ns : r.decided_ns ? r.decided_ns : now_ns;
	f = (struct policy_facts){
		.level = out->level < 0 ? 0 : out->level > 3 ? 3 : out->level, .rule = out->rule,
		.tags = out->tags, .n_tags = out->n_tags, .at_ns = out->at_ns,
	};
	/* the first plan names the window; the count within it decides the second */
	if ((rc = policy_plan(out->policy, &f, a, &out->plan, e)) < 0)
		goto fail;
	if (out->plan.matched && out->plan.window_ns > 0) {
		int64_t n = 0;

		if ((rc = meta_notify_similar(m, tenant, out->rule, out->at_ns - out->plan.window_ns,
					      out->at_ns, &n, e)) < 0)
			goto fail;
		f.similar = out->similar = n > 0 ? (uint64_t)n : 0;
		if ((rc = policy_plan(out->policy, &f, a, &out->plan, e)) < 0)
			goto fail;
	}
	return 0;
fail:
	explain_release(out);
	return rc;
}

void explain_release(struct explain *x)
{
	policy_free(x->policy);
	x->policy = NULL;
}

static int add_time(struct buf *out, int64_t ns)
{
	char t[TIME_RFC3339_LEN];

	return json_add_string(out, t, time_format_rfc3339(ns, t));
}

static int add_str(struct buf *out, const char *s)
{
	return s ? json_add_string(out, s, strlen(s)) : buf_adds(out, "null");
}

int explain_write_json(const struct explain *x, struct buf *out)
{
	const struct policy_plan *p = &x->plan;
	int64_t at = x->at_ns;
	int rc;

	rc = buf_adds(out, "{\"tenant\": ");
	rc = err_first(rc, add_str(out, x->tenant));
	rc = err_first(rc, buf_addf(out, ", \"incident\": %lld, \"title\": ", (long long)x->incident));
	rc = err_first(rc, add_str(out, x->title));
	rc = err_first(rc, buf_addf(out, ", \"level\": %d, \"rule\": ", x->level));
	rc = err_first(rc, add_str(out, x->rule));
	rc = err_first(rc, buf_adds(out, ", \"tags\": ["));
	for (size_t i = 0; i < x->n_tags; i++) {
		rc = err_first(rc, buf_adds(out, i ? ", " : ""));
		rc = err_first(rc, add_str(out, x->tags[i]));
	}
	rc = err_first(rc, buf_adds(out, "], \"at\": "));
	rc = err_first(rc, add_time(out, x->at_ns));
	rc = err_first(rc, buf_addf(out, ", \"similar\": %llu, \"policy_version\": %lld, "
				    "\"matched\": %s, \"policy_rule\": ", (unsigned long long)x->similar,
				    (long long)x->policy_version, p->matched ? "true" : "false"));
	rc = err_first(rc, add_str(out, p->rule_name));
	rc = err_first(rc, buf_addf(out, ", \"held\": %s, \"aggregate\": %s, \"window_s\": %lld, "
				    "\"steps\": [", p->held ? "true" : "false",
				    p->aggregate ? "true" : "false",
				    (long long)(p->window_ns / NS_PER_SEC)));
	for (size_t i = 0; i < p->n_steps; i++) {
		const struct policy_step *s = &p->steps[i];

		at += s->after_ns;
		rc = err_first(rc, buf_addf(out, "%s{\"step\": %zu, \"channel\": ", i ? ", " : "", i + 1));
		rc = err_first(rc, add_str(out, s->channel));
		rc = err_first(rc, buf_adds(out, ", \"to\": ["));
		for (size_t k = 0; k < s->n_to; k++) {
			rc = err_first(rc, buf_adds(out, k ? ", " : ""));
			rc = err_first(rc, add_str(out, s->to[k]));
		}
		rc = err_first(rc, buf_adds(out, "], \"template\": "));
		rc = err_first(rc, add_str(out, s->template));
		rc = err_first(rc, buf_adds(out, ", \"lang\": "));
		rc = err_first(rc, add_str(out, s->lang));
		rc = err_first(rc, buf_addf(out, ", \"ack\": %s, \"after_s\": %lld, \"at\": ",
					    s->ack ? "true" : "false",
					    (long long)(s->after_ns / NS_PER_SEC)));
		rc = err_first(rc, add_time(out, at));
		rc = err_first(rc, buf_adds(out, "}"));
	}
	rc = err_first(rc, buf_adds(out, "], \"reasons\": ["));
	for (size_t i = 0; i < p->n_reasons; i++) {
		rc = err_first(rc, buf_adds(out, i ? ", " : ""));
		rc = err_first(rc, add_str(out, p->reasons[i]));
	}
	return err_first(rc, buf_adds(out, "]}"));
}

static int add_jst(struct buf *out, int64_t ns)
{
	int64_t s = ns / NS_PER_SEC - (ns % NS_PER_SEC < 0) + JST_S;
	int64_t days = s / 86400 - (s % 86400 < 0);
	int y, m, d, sec = (int)(s - days * 86400);

	time_civil_from_days(days, &y, &m, &d);
	return buf_addf(out, "%04d-%02d-%02d %02d:%02d:%02d JST", y, m, d, sec / 3600, sec / 60 % 60,
			sec % 60);
}

int explain_write_text(const struct explain *x, struct buf *out)
{
	static const char *const names[] = { "Informational", "Medium", "High", "Critical" };
	const struct policy_plan *p = &x->plan;
	int64_t at = x->at_ns;
	int rc;

	rc = buf_addf(out, "incident %lld of tenant %s: level ", (long long)x->incident, x->tenant);
	if (x->level >= 0 && x->level <= 3)
		rc = err_first(rc, buf_addf(out, "%d (%s)", x->level, names[x->level]));
	else
		rc = err_first(rc, buf_adds(out, "undecided (planned as 0)"));
	rc = err_first(rc, buf_addf(out, ", rule %s, %zu tag%s\n", x->rule, x->n_tags,
				    x->n_tags == 1 ? "" : "s"));
	rc = err_first(rc, buf_adds(out, "decision time: "));
	rc = err_first(rc, add_jst(out, x->at_ns));
	rc = err_first(rc, buf_addf(out, " (%s)\n", x->at_given ? "--at" : "the level's decision, "
				    "or now when undecided"));
	rc = err_first(rc, buf_addf(out, "policy version %lld: ", (long long)x->policy_version));
	if (!p->matched)
		rc = err_first(rc, buf_adds(out, "no rule matched, nothing is sent\n"));
	else
		rc = err_first(rc, buf_addf(out, "rule '%s' matched%s%s\n", p->rule_name,
					    p->held ? ", HELD by a maintenance window (nothing is sent)"
						    : "",
					    p->aggregate ? ", one aggregated notice" : ""));
	if (p->window_ns)
		rc = err_first(rc, buf_addf(out, "similar incidents of rule %s in the last %llds: %llu\n",
					    x->rule, (long long)(p->window_ns / NS_PER_SEC),
					    (unsigned long long)x->similar));
	for (size_t i = 0; i < p->n_steps; i++) {
		const struct policy_step *s = &p->steps[i];

		at += s->after_ns;
		rc = err_first(rc, buf_addf(out, "  step %zu at ", i + 1));
		rc = err_first(rc, add_jst(out, at));
		rc = err_first(rc, buf_addf(out, " (+%llds): %s to ",
					    (long long)((at - x->at_ns) / NS_PER_SEC), s->channel));
		for (size_t k = 0; k < s->n_to; k++)
			rc = err_first(rc, buf_addf(out, "%s%s", k ? ", " : "", s->to[k]));
		rc = err_first(rc, buf_addf(out, ", template %s (%s)%s\n", s->template, s->lang,
					    s->ack ? ", acknowledgement required" : ""));
	}
	rc = err_first(rc, buf_adds(out, "why:\n"));
	for (size_t i = 0; i < p->n_reasons; i++)
		rc = err_first(rc, buf_addf(out, "  - %s\n", p->reasons[i]));
	return rc;
}

/* A stored JSON text on one line, or as a string when it is not JSON (a row written elsewhere). */
static int add_raw(struct buf *out, const char *s)
{
	struct jsonin j;
	size_t len;

	if (!s)
		return buf_adds(out, "null");
	len = strlen(s);
	jsonin_init(&j, s, len, NULL, 0);
	if (jsonin_skip_value(&j) < 0 || jsonin_finish(&j, NULL) < 0)
		return json_add_string(out, s, len);
	/* on one line, for NDJSON: whitespace outside strings dropped */
	for (size_t i = 0, from = 0; i <= len; i++) {
		int rc;

		if (i < len && s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			continue;
		}
		if (i < len && s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
			continue;
		if (i > from && (rc = buf_add(out, s + from, i - from)) < 0)
			return rc;
		from = i + 1;
	}
	return 0;
}

int explain_policy_json(const struct meta_notify_policy *p, struct buf *out)
{
	int rc = buf_adds(out, "{\"tenant\": ");

	rc = err_first(rc, add_str(out, p->tenant));
	rc = err_first(rc, buf_addf(out, ", \"version\": %lld, \"updated\": ", (long long)p->version));
	rc = err_first(rc, add_time(out, p->updated_ns));
	rc = err_first(rc, buf_adds(out, ", \"actor\": "));
	rc = err_first(rc, add_str(out, p->actor));
	rc = err_first(rc, buf_adds(out, ", \"policy\": "));
	rc = err_first(rc, add_raw(out, p->body));
	return err_first(rc, buf_adds(out, "}"));
}

int explain_change_json(const struct meta_notify_policy_change *c, struct buf *out)
{
	int rc = buf_addf(out, "{\"version\": %lld, \"at\": ", (long long)c->version);

	rc = err_first(rc, add_time(out, c->at_ns));
	rc = err_first(rc, buf_adds(out, ", \"actor\": "));
	rc = err_first(rc, add_str(out, c->actor));
	rc = err_first(rc, buf_adds(out, ", \"before\": "));
	rc = err_first(rc, add_raw(out, c->before));
	rc = err_first(rc, buf_adds(out, ", \"after\": "));
	rc = err_first(rc, add_raw(out, c->after));
	return err_first(rc, buf_adds(out, "}"));
}
