/*
 * incident.c - the JSON form, the lifecycle and the analyst's changes of incidents.
 */
#include "soc/incident.h"
#include "core/compat.h"

#include <errno.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/timeutil.h"
#include "soc/level.h"
#include "store/meta.h"
#include "soc/sla.h"

#define INCIDENT_ARENA_MAX (4u * META_INCIDENT_JSON_MAX)
#define DETAIL_MAX 1024

/* ---- JSON ---- */

/* A JSON object written member by member; the comma goes before every member but the first. */
struct jw {
	struct buf *b;
	int rc;
	bool started;
};

static void jw_key(struct jw *w, const char *key)
{
	if (w->started)
		w->rc = err_first(w->rc, buf_addch(w->b, ','));
	w->started = true;
	w->rc = err_first(w->rc, json_add_string(w->b, key, strlen(key)));
	w->rc = err_first(w->rc, buf_addch(w->b, ':'));
}

static void jw_str(struct jw *w, const char *key, const char *v)
{
	jw_key(w, key);
	w->rc = err_first(w->rc, json_add_string(w->b, v, strlen(v)));
}

static void jw_int(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	w->rc = err_first(w->rc, buf_add_int(w->b, v));
}

/* RFC 3339, or null for 0 (not yet). */
static void jw_time(struct jw *w, const char *key, int64_t ns)
{
	char t[TIME_RFC3339_LEN];
	size_t n = time_format_rfc3339(ns, t);

	jw_key(w, key);
	w->rc = err_first(w->rc, ns ? json_add_string(w->b, t, n) : buf_adds(w->b, "null"));
}

/* JSON text checked by meta (meta_incident_check) when stored and read: copied as it is. */
static void jw_raw(struct jw *w, const char *key, const char *json)
{
	jw_key(w, key);
	w->rc = err_first(w->rc, buf_adds(w->b, json));
}

static void jw_open(struct jw *w, struct buf *b)
{
	*w = (struct jw){ .b = b, .rc = buf_addch(b, '{') };
}

static int jw_close(struct jw *w)
{
	return err_first(w->rc, buf_addch(w->b, '}'));
}

static int write_clocks(const struct meta_incident *inc, struct buf *out)
{
	struct jw w;

	jw_open(&w, out);
	jw_int(&w, "detected", inc->detected_ns);
	jw_int(&w, "decided", inc->decided_ns);
	jw_int(&w, "reported", inc->reported_ns);
	jw_int(&w, "contacted", inc->contacted_ns);
	jw_int(&w, "acknowledged", inc->acknowledged_ns);
	jw_int(&w, "contained", inc->contained_ns);
	jw_int(&w, "closed", inc->closed_ns);
	return jw_close(&w);
}

int incident_write_json(const struct meta_incident *inc, const struct sla *s, int64_t now_ns,
			struct buf *out)
{
	struct jw w;

	jw_open(&w, out);
	jw_int(&w, "id", inc->id);
	jw_str(&w, "tenant", inc->tenant);
	jw_str(&w, "title", inc->title);
	jw_str(&w, "rule_id", inc->rule_id);
	jw_str(&w, "group_key", inc->group_key);
	jw_int(&w, "level", inc->level);
	jw_str(&w, "level_name", level_name(inc->level));
	jw_int(&w, "level_shown", level_shown(inc->level));
	jw_str(&w, "status", inc->status);
	jw_str(&w, "owner", inc->owner);
	jw_int(&w, "alerts", inc->n_alerts);
	jw_raw(&w, "evidence", inc->evidence);
	jw_raw(&w, "entities", inc->entities);
	jw_raw(&w, "terminal", inc->terminal);
	jw_time(&w, "first", inc->first_ns);
	jw_time(&w, "last", inc->last_ns);
	jw_time(&w, "detected", inc->detected_ns);
	jw_time(&w, "updated", inc->updated_ns);
	jw_key(&w, "clocks");
	w.rc = err_first(w.rc, write_clocks(inc, out));
	jw_int(&w, "sla_breached", inc->sla_breached);
	if (s) {
		jw_key(&w, "sla");
		w.rc = err_first(w.rc, sla_write_json(s, inc, now_ns, out));
	}
	return jw_close(&w);
}

int incident_entry_write_json(const struct meta_incident_entry *en, struct buf *out)
{
	struct jw w;

	jw_open(&w, out);
	jw_int(&w, "id", en->id);
	jw_time(&w, "at", en->at_ns);
	jw_str(&w, "actor", en->actor);
	jw_str(&w, "action", en->action);
	jw_raw(&w, "detail", en->detail);
	jw_str(&w, "why", en->why);
	return jw_close(&w);
}

/* What incident_show_json is writing: an array's members are separated by commas. */
struct show {
	struct buf *out;
	const struct sla *sla;
	int64_t now_ns;
	bool first;
	int rc;
};

static void show_incident(void *ctx, const struct meta_incident *inc)
{
	struct show *sh = ctx;

	sh->rc = err_first(sh->rc, incident_write_json(inc, sh->sla, sh->now_ns, sh->out));
}

static void show_alert(void *ctx, const struct meta_alert *a)
{
	struct show *sh = ctx;
	struct jw w;

	if (!sh->first)
		sh->rc = err_first(sh->rc, buf_addch(sh->out, ','));
	sh->first = false;
	jw_open(&w, sh->out);
	jw_int(&w, "id", a->id);
	jw_str(&w, "rule_id", a->rule_id);
	jw_str(&w, "title", a->rule_title);
	jw_str(&w, "level", a->rule_level);
	jw_time(&w, "detected", a->detected_ns);
	jw_raw(&w, "keys", a->key_fields);
	sh->rc = err_first(sh->rc, jw_close(&w));
}

static void show_entry(void *ctx, const struct meta_incident_entry *en)
{
	struct show *sh = ctx;

	if (!sh->first)
		sh->rc = err_first(sh->rc, buf_addch(sh->out, ','));
	sh->first = false;
	sh->rc = err_first(sh->rc, incident_entry_write_json(en, sh->out));
}

int incident_show_json(struct meta *m, const char *tenant, int64_t id, const struct sla *s,
		       int64_t now_ns, struct buf *out, struct err *e)
{
	struct show sh = { .out = out, .sla = s, .now_ns = now_ns,
			   .rc = buf_adds(out, "{\"incident\":") };
	int rc;

	if ((rc = meta_incident_get(m, tenant, id, show_incident, &sh, e)) < 0)
		return rc;
	sh.rc = err_first(sh.rc, buf_adds(out, ",\"alerts\":["));
	sh.first = true;
	if ((rc = meta_incident_alerts(m, tenant, id, show_alert, &sh, e)) < 0)
		return rc;
	sh.rc = err_first(sh.rc, buf_adds(out, "],\"timeline\":["));
	sh.first = true;
	if ((rc = meta_incident_timeline(m, tenant, id, show_entry, &sh, e)) < 0)
		return rc;
	sh.rc = err_first(sh.rc, buf_adds(out, "]}"));
	if (sh.rc < 0)
		return err_set(e, sh.rc, "incident %lld: too large to show", (long long)id);
	return 0;
}

/* ---- lifecycle ---- */

/* The open statuses in lifecycle order; -1 for a closed or unknown one. */
static int open_rank(const char *status)
{
	static const char *const order[] = { "new", "triaged", "investigating", "contained" };

	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if (status && !strcmp(status, order[i]))
			return (int)i;
	return -1;
}

bool incident_status_ok(const char *from, const char *to)
{
	int f = open_rank(from), t = open_rank(to);

	if (f < 0 || !meta_incident_status_ok(to))
		return false;
	return meta_incident_status_closed(to) || t > f;
}

/* The incident read by incident_change, its strings copied into the arena. */
struct held {
	struct meta_incident inc;
	struct arena *arena;
	int rc;
	bool found;
};

static const char *hold_str(struct held *h, const char *s)
{
	char *copy = arena_strndup(h->arena, s, strlen(s));

	if (!copy)
		h->rc = -ENOMEM;
	return copy ? copy : "";
}

static void hold_incident(void *ctx, const struct meta_incident *inc)
{
	struct held *h = ctx;

	h->inc = *inc;
	h->inc.tenant = hold_str(h, inc->tenant);
	h->inc.title = hold_str(h, inc->title);
	h->inc.rule_id = hold_str(h, inc->rule_id);
	h->inc.group_key = hold_str(h, inc->group_key);
	h->inc.status = hold_str(h, inc->status);
	h->inc.owner = hold_str(h, inc->owner);
	h->inc.evidence = hold_str(h, inc->evidence);
	h->inc.entities = hold_str(h, inc->entities);
	h->inc.terminal = hold_str(h, inc->terminal);
	h->found = true;
}

static int hold(struct meta *m, const char *tenant, int64_t id, struct held *h, struct err *e)
{
	int rc = meta_incident_get(m, tenant, id, hold_incident, h, e);

	if (rc == 0 && h->rc < 0)
		rc = err_set(e, h->rc, "out of memory reading incident %lld", (long long)id);
	return rc;
}

/* Appends a timeline entry whose detail is built in a buf. */
static int log_entry(struct meta *m, const struct meta_incident *inc, const char *actor,
		     const char *action, const struct buf *detail, const char *why,
		     int64_t now_ns, struct err *e)
{
	return meta_incident_log(m, inc->tenant,
				 &(struct meta_incident_entry){ .incident = inc->id, .at_ns = now_ns,
								.actor = actor, .action = action,
								.detail = detail->p, .why = why },
				 e);
}

/* {"from": F, "to": T} of two strings, or of two levels with "manual": true. */
static int detail_strings(struct buf *d, const char *from, const char *to)
{
	struct jw w;

	buf_reset(d);
	jw_open(&w, d);
	jw_str(&w, "from", from);
	jw_str(&w, "to", to);
	return jw_close(&w);
}

static int detail_levels(struct buf *d, int from, int to)
{
	struct jw w;

	buf_reset(d);
	jw_open(&w, d);
	jw_int(&w, "from", from);
	jw_int(&w, "to", to);
	jw_key(&w, "manual");
	w.rc = err_first(w.rc, buf_adds(d, "true"));
	return jw_close(&w);
}

static int detail_clock(struct buf *d, const char *clock)
{
	struct jw w;

	buf_reset(d);
	jw_open(&w, d);
	jw_str(&w, "clock", clock);
	return jw_close(&w);
}

/* Sets *clock to now when still 0 and logs it like meta_incident_clock does. */
static int start_clock(struct meta *m, const struct meta_incident *inc, int64_t *clock,
		       const char *name, const struct incident_change *c, struct buf *d,
		       struct err *e)
{
	int rc;

	if (*clock)
		return 0;
	*clock = c->now_ns;
	if ((rc = detail_clock(d, name)) < 0)
		return err_set(e, rc, "out of memory");
	return log_entry(m, inc, c->actor, "clock", d, "", c->now_ns, e);
}

static int check_change(const struct meta_incident *inc, const struct incident_change *c,
			struct err *e)
{
	bool from_closed;

	if (!c->actor || !c->actor[0])
		return err_set(e, -EINVAL, "incident %lld: who makes the change is required",
			       (long long)inc->id);
	if (c->level != INCIDENT_LEVEL_KEEP && (c->level < 0 || c->level > LEVEL_MAX))
		return err_set(e, -EINVAL, "level %d: expected 0 to %d", c->level, LEVEL_MAX);
	if (c->level != INCIDENT_LEVEL_KEEP && c->level != inc->level && (!c->why || !c->why[0]))
		return err_set(e, -EINVAL, "incident %lld: a level set by hand needs a reason "
			       "(--why)", (long long)inc->id);
	if (!c->status || !strcmp(c->status, inc->status))
		return 0;
	if (!meta_incident_status_ok(c->status))
		return err_set(e, -EINVAL, "status '%s': expected new, triaged, investigating, "
			       "contained, resolved or false-positive", c->status);
	from_closed = meta_incident_status_closed(inc->status);
	if (from_closed && (!c->why || !c->why[0]))
		return err_set(e, -EINVAL, "incident %lld is %s: changing its status needs a reason "
			       "(--why)", (long long)inc->id, inc->status);
	if (!from_closed && !incident_status_ok(inc->status, c->status))
		return err_set(e, -EINVAL, "incident %lld: %s -> %s is not a step of the lifecycle "
			       "(new, triaged, investigating, contained, then resolved or "
			       "false-positive; never back)", (long long)inc->id, inc->status,
			       c->status);
	return 0;
}

/* The status part of a change: the new status, its timeline entry and clocks. */
static int change_status(struct meta *m, struct meta_incident *inc,
			 const struct incident_change *c, struct buf *d, struct err *e)
{
	const char *why = c->why ? c->why : "";
	int rc;

	if ((rc = detail_strings(d, inc->status, c->status)) < 0)
		return err_set(e, rc, "out of memory");
	if ((rc = log_entry(m, inc, c->actor, "status", d, why, c->now_ns, e)) < 0)
		return rc;
	inc->status = c->status;
	if (!strcmp(c->status, "contained"))
		rc = start_clock(m, inc, &inc->contained_ns, "contained", c, d, e);
	if (meta_incident_status_closed(c->status))
		inc->closed_ns = c->now_ns;
	else
		inc->closed_ns = 0; /* reopened */
	return rc;
}

/* The changes of c on inc, logged; *changed whether any. Inside the caller's transaction. */
static int apply_change(struct meta *m, struct meta_incident *inc, const struct incident_change *c,
			bool *changed, struct err *e)
{
	const char *why = c->why ? c->why : "";
	struct buf d;
	int rc;

	buf_init(&d, DETAIL_MAX);
	*changed = false;
	if (c->status && strcmp(c->status, inc->status)) {
		if ((rc = change_status(m, inc, c, &d, e)) < 0)
			goto fail;
		*changed = true;
	}
	if (c->owner && strcmp(c->owner, inc->owner)) {
		if ((rc = detail_strings(&d, inc->owner, c->owner)) < 0) {
			rc = err_set(e, rc, "out of memory");
			goto fail;
		}
		if ((rc = log_entry(m, inc, c->actor, "owner", &d, why, c->now_ns, e)) < 0)
			goto fail;
		inc->owner = c->owner;
		*changed = true;
	}
	if (c->level != INCIDENT_LEVEL_KEEP && c->level != inc->level) {
		if ((rc = detail_levels(&d, inc->level, c->level)) < 0) {
			rc = err_set(e, rc, "out of memory");
			goto fail;
		}
		if ((rc = log_entry(m, inc, c->actor, "level", &d, why, c->now_ns, e)) < 0 ||
		    (rc = start_clock(m, inc, &inc->decided_ns, "decided", c, &d, e)) < 0)
			goto fail;
		inc->level = c->level;
		*changed = true;
	}
	rc = 0;
	if (*changed) {
		inc->updated_ns = c->now_ns;
		rc = meta_incident_update(m, inc, e);
	}
fail:
	buf_release(&d);
	return rc;
}

/* Runs fn on the incident held inside one transaction (rolled back on an error). */
static int in_transaction(struct meta *m, const char *tenant, int64_t id,
			  int (*fn)(struct meta *m, struct meta_incident *inc, const void *arg,
				    void *out, struct err *e),
			  const void *arg, void *out, struct err *e)
{
	struct arena arena;
	struct held h;
	int rc;

	arena_init(&arena, 4096, INCIDENT_ARENA_MAX);
	h = (struct held){ .arena = &arena };
	if ((rc = meta_begin(m, e)) < 0)
		goto out;
	if ((rc = hold(m, tenant, id, &h, e)) < 0 || (rc = fn(m, &h.inc, arg, out, e)) < 0 ||
	    (rc = meta_commit(m, e)) < 0)
		meta_rollback(m);
out:
	arena_release(&arena);
	return rc;
}

static int change_fn(struct meta *m, struct meta_incident *inc, const void *arg, void *out,
		     struct err *e)
{
	const struct incident_change *c = arg;
	int rc = check_change(inc, c, e);

	return rc < 0 ? rc : apply_change(m, inc, c, out, e);
}

int incident_change(struct meta *m, const char *tenant, int64_t id,
		    const struct incident_change *c, bool *changed, struct err *e)
{
	bool moved = false;
	int rc = in_transaction(m, tenant, id, change_fn, c, &moved, e);

	if (changed)
		*changed = rc == 0 && moved;
	return rc;
}

int incident_comment(struct meta *m, const char *tenant, int64_t id, const char *actor,
		     const char *text, int64_t now_ns, struct err *e)
{
	struct buf d;
	struct jw w;
	int rc;

	if (!text || !text[0])
		return err_set(e, -EINVAL, "incident %lld: the comment is empty", (long long)id);
	buf_init(&d, META_INCIDENT_JSON_MAX);
	jw_open(&w, &d);
	jw_str(&w, "text", text);
	if ((rc = jw_close(&w)) < 0)
		rc = err_set(e, rc, "comment: out of memory or longer than %d bytes",
			     META_INCIDENT_JSON_MAX);
	else
		rc = meta_incident_log(m, tenant,
				       &(struct meta_incident_entry){ .incident = id,
					       .at_ns = now_ns, .actor = actor, .action = "comment",
					       .detail = d.p, .why = "" },
				       e);
	buf_release(&d);
	return rc;
}

/* ---- manual levels ---- */

/* A level 0..3 (or -1, undecided) of a detail's number; -2 when it is none of them. */
static int level_of(const struct jsonin_value *v)
{
	int64_t n;

	if (v->type != JSONIN_NUMBER || jsonin_int(v->s, v->len, &n) < 0 || n < -1 ||
	    n > LEVEL_MAX)
		return -2;
	return (int)n;
}

/* A level entry's {"from": F, "to": T, "manual": true}: 1 when it is a person's, else 0. */
static int manual_detail(const char *detail, struct incident_manual *out)
{
	struct incident_manual m = { -2, -1 };
	struct jsonin_value k, v;
	struct jsonin j;
	bool manual = false;
	int more;

	jsonin_init(&j, detail, strlen(detail), NULL, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return 0;
	while ((more = jsonin_key(&j, &k)) > 0) {
		if (jsonin_value(&j, &v) < 0)
			return 0;
		if ((v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) && jsonin_skip(&j) < 0)
			return 0;
		if (jsonin_key_is(&k, "to"))
			m.level = level_of(&v);
		else if (jsonin_key_is(&k, "from"))
			m.overruled = level_of(&v);
		else if (jsonin_key_is(&k, "manual"))
			manual = v.type == JSONIN_TRUE;
	}
	if (more < 0 || !manual || m.level < 0 || m.overruled < -1)
		return 0;
	*out = m;
	return 1;
}

static void last_manual(void *ctx, const struct meta_incident_entry *en)
{
	if (!strcmp(en->action, "level"))
		(void)manual_detail(en->detail, ctx); /* oldest first: the last one wins */
}

int incident_manual_level(struct meta *m, const char *tenant, int64_t id,
			  struct incident_manual *out, struct err *e)
{
	*out = (struct incident_manual){ META_LEVEL_UNDECIDED, META_LEVEL_UNDECIDED };
	return meta_incident_timeline(m, tenant, id, last_manual, out, e);
}

/* ---- false positives ---- */

/* The first alert's rule and key fields, copied. */
struct first_alert {
	struct arena *arena;
	const char *key_fields;
	int rc;
};

static void take_first(void *ctx, const struct meta_alert *a)
{
	struct first_alert *f = ctx;

	if (f->key_fields || f->rc)
		return;
	f->key_fields = arena_strndup(f->arena, a->key_fields, strlen(a->key_fields));
	if (!f->key_fields)
		f->rc = -ENOMEM;
}

static bool key_chosen(const struct incident_fp *fp, const struct jsonin_value *k)
{
	if (!fp->n_keys)
		return true;
	for (size_t i = 0; i < fp->n_keys; i++)
		if (strlen(fp->keys[i]) == k->len && !memcmp(fp->keys[i], k->s, k->len))
			return true;
	return false;
}

/* The members of the object fields that fp chose, in out; *found how many. */
static int pick_keys(const char *fields, const struct incident_fp *fp, struct arena *arena,
		     struct buf *out, size_t *found)
{
	struct jsonin_value k, v;
	struct jsonin j;
	const char *raw;
	size_t raw_len;
	int more, rc;

	*found = 0;
	jsonin_init(&j, fields, strlen(fields), arena, 0);
	if ((rc = jsonin_value(&j, &v)) < 0)
		return rc;
	rc = buf_addch(out, '{');
	while (rc == 0 && (more = jsonin_key(&j, &k)) > 0) {
		if ((rc = jsonin_raw_value(&j, &raw, &raw_len)) < 0)
			break;
		if (!key_chosen(fp, &k) || raw[0] == '{' || raw[0] == '[')
			continue;
		if ((*found)++)
			rc = buf_addch(out, ',');
		rc = err_first(rc, json_add_string(out, k.s, k.len));
		rc = err_first(rc, buf_addch(out, ':'));
		rc = err_first(rc, buf_add(out, raw, raw_len));
	}
	if (rc == 0 && more < 0)
		rc = more;
	return err_first(rc, buf_addch(out, '}'));
}

struct fp_arg {
	const struct incident_fp *fp;
	const char *tenant;
};

static int false_positive_fn(struct meta *m, struct meta_incident *inc, const void *arg,
			     void *out, struct err *e)
{
	const struct fp_arg *a = arg;
	const struct incident_fp *fp = a->fp;
	const struct incident_change c = { .actor = fp->actor, .why = fp->why,
					   .status = "false-positive",
					   .level = INCIDENT_LEVEL_KEEP, .now_ns = fp->now_ns };
	struct arena arena;
	struct first_alert first;
	struct buf keys, d;
	size_t found = 0;
	bool changed;
	int rc;

	arena_init(&arena, 4096, 4u * META_ALERT_JSON_MAX);
	buf_init(&keys, META_ALERT_JSON_MAX);
	buf_init(&d, DETAIL_MAX);
	first = (struct first_alert){ .arena = &arena };
	if ((rc = meta_incident_alerts(m, a->tenant, inc->id, take_first, &first, e)) < 0)
		goto out;
	if (first.rc < 0) {
		rc = err_set(e, first.rc, "out of memory reading the incident's alerts");
		goto out;
	}
	if (!first.key_fields) {
		rc = err_set(e, -ENOENT, "incident %lld: none of its alerts is left in koban.db "
			     "to take the values to suppress from", (long long)inc->id);
		goto out;
	}
	if ((rc = pick_keys(first.key_fields, fp, &arena, &keys, &found)) < 0) {
		rc = err_set(e, rc, "incident %lld: cannot read its first alert's key fields",
			     (long long)inc->id);
		goto out;
	}
	if (!found) {
		/* a suppression without keys would silence the whole rule for the tenant */
		rc = err_set(e, -EINVAL, "incident %lld: its first alert has no key value to "
			     "suppress by (%s); to silence the rule itself, change its policy "
			     "(docs/detection.md)", (long long)inc->id, first.key_fields);
		goto out;
	}
	if (fp->n_keys && found != fp->n_keys) {
		rc = err_set(e, -EINVAL, "incident %lld: its first alert has not every key asked "
			     "for (it has %s)", (long long)inc->id, first.key_fields);
		goto out;
	}
	if ((rc = meta_suppression_add(m, &(struct meta_suppression){ .tenant = a->tenant,
					       .rule_id = inc->rule_id, .keys = keys.p,
					       .reason = fp->why, .created_by = fp->actor,
					       .created_ns = fp->now_ns,
					       .expires_ns = fp->expires_ns, .incident = inc->id },
				       out, e)) < 0)
		goto out;
	if ((rc = check_change(inc, &c, e)) < 0 || (rc = apply_change(m, inc, &c, &changed, e)) < 0)
		goto out;
	if ((rc = buf_addf(&d, "{\"suppression\":%lld,\"keys\":", (long long)*(int64_t *)out)) < 0 ||
	    (rc = buf_adds(&d, keys.p)) < 0 || (rc = buf_addch(&d, '}')) < 0) {
		rc = err_set(e, rc, "out of memory");
		goto out;
	}
	rc = log_entry(m, inc, fp->actor, "suppressed", &d, fp->why, fp->now_ns, e);
out:
	buf_release(&d);
	buf_release(&keys);
	arena_release(&arena);
	return rc;
}

int incident_false_positive(struct meta *m, const char *tenant, int64_t id,
			    const struct incident_fp *fp, int64_t *suppression, struct err *e)
{
	int64_t sid = 0;
	int rc;

	if (!fp->why || !fp->why[0])
		return err_set(e, -EINVAL, "incident %lld: a false positive needs a reason (--why)",
			       (long long)id);
	if (fp->n_keys > INCIDENT_FP_KEYS_MAX)
		return err_set(e, -EINVAL, "at most %u key fields", INCIDENT_FP_KEYS_MAX);
	rc = in_transaction(m, tenant, id, false_positive_fn,
			    &(struct fp_arg){ .fp = fp, .tenant = tenant }, &sid, e);
	if (rc == 0 && suppression)
		*suppression = sid;
	return rc;
}
