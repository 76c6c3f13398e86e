#include "soc/soc.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

#define LOG_MODULE "soc"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "parse/ecs.h"
#include "soc/evkeep.h"
#include "soc/firstreport.h"
#include "soc/incident.h"
#include "soc/sla.h"
#include "soc/terminal.h"
#include "soc/triage.h"
#include "store/meta.h"
#include "store/store.h"

/* ---- reading an alert: key fields, group-by fields, events ---- */

/*
 * The value of key in the flat JSON object obj (the alert's key or group-by fields): 1 and
 * its text in *val, copied into arena (a string unescaped, a number, true or false as
 * written), 0 when absent or not a scalar, negative when obj does not parse.
 */
static int flat_get(const char *obj, const char *key, struct arena *arena, const char **val,
		    size_t *len)
{
	struct jsonin_value k, v;
	struct jsonin j;
	int more;

	if (!obj || !*obj)
		return 0;
	jsonin_init(&j, obj, strlen(obj), arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return -EINVAL;
	while ((more = jsonin_key(&j, &k)) > 0) {
		bool want = k.len == strlen(key) && !memcmp(k.s, key, k.len);

		if (jsonin_value(&j, &v) < 0)
			return -EINVAL;
		if (v.type == JSONIN_ARRAY || v.type == JSONIN_OBJECT) {
			if (jsonin_skip(&j) < 0)
				return -EINVAL;
			continue;
		}
		if (want && v.type != JSONIN_NULL) {
			if (!(*val = arena_strndup(arena, v.s, v.len)))
				return -ENOMEM;
			*len = v.len;
			return 1;
		}
	}
	return more < 0 ? -EINVAL : 0;
}

/* Decodes the i-th event line of a (0 first) into ev; 1, 0 when there is none, or < 0. */
static int alert_event(const struct meta_alert *a, size_t i, struct arena *arena,
		       struct event *ev)
{
	const char *p = a->events;
	struct err why = ERR_INIT;

	if (!p)
		return 0;
	for (; i && *p; i--) {
		const char *nl = strchr(p, '\n');

		if (!nl)
			return 0;
		p = nl + 1;
	}
	if (!*p)
		return 0;
	event_init(ev, arena);
	{
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (ecs_decode(ev, p, n, &why) < 0)
			return -EINVAL;
	}
	return 1;
}

/* The field's first value in ev as text (copied into arena): 1, or 0 when absent. */
static int event_text(const struct event *ev, const char *field, struct arena *arena,
		      const char **val, size_t *len)
{
	int id = field_lookup(field, strlen(field));
	const struct event_value *v;
	char tmp[EVENT_VALUE_TEXT_MAX];
	const char *s;

	if (id < 0 || !(v = event_get(ev, (unsigned)id)))
		return 0;
	s = event_value_text(v, tmp, len);
	if (!(*val = arena_strndup(arena, s, *len)))
		return -ENOMEM;
	return 1;
}

/* field's value for a: key fields, group-by fields, then the first event. */
static int alert_value(const struct meta_alert *a, const char *field, struct arena *arena,
		       const char **val, size_t *len)
{
	struct event ev;
	int rc;

	if ((rc = flat_get(a->key_fields, field, arena, val, len)) != 0)
		return rc;
	if ((rc = flat_get(a->group_fields, field, arena, val, len)) != 0)
		return rc;
	if ((rc = alert_event(a, 0, arena, &ev)) <= 0)
		return rc < 0 ? 0 : rc; /* an event that does not decode names nothing */
	return event_text(&ev, field, arena, val, len);
}

/* ---- grouping ---- */

/* Whether s occurs as a string in the JSON array text arr. */
static bool json_array_has(const char *arr, const char *s, struct arena *arena)
{
	struct jsonin_value v;
	struct jsonin j;

	if (!arr || !*arr)
		return false;
	jsonin_init(&j, arr, strlen(arr), arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
		return false;
	while (jsonin_more(&j) > 0) {
		if (jsonin_value(&j, &v) < 0)
			return false;
		if (v.type == JSONIN_STRING && v.len == strlen(s) && !strncasecmp(v.s, s, v.len))
			return true;
		if ((v.type == JSONIN_ARRAY || v.type == JSONIN_OBJECT) && jsonin_skip(&j) < 0)
			return false;
	}
	return false;
}

static bool grouping_matches(const struct soc_grouping *g, const struct meta_alert *a,
			     struct arena *arena)
{
	if (!g->n_match)
		return true;
	for (size_t i = 0; i < g->n_match; i++)
		if (!strcmp(g->match[i], a->rule_id) ||
		    json_array_has(a->rule_tags, g->match[i], arena))
			return true;
	return false;
}

/* "|field=value" */
static int add_key_part(struct buf *key, const char *field, const char *val, size_t len)
{
	int rc = buf_addch(key, '|');

	rc = err_first(rc, buf_adds(key, field));
	rc = err_first(rc, buf_addch(key, '='));
	return err_first(rc, buf_add(key, val, len));
}

/* The default: the victim, else the source; nothing when the alert names neither. */
static int default_key(const struct meta_alert *a, struct arena *arena, struct buf *key)
{
	static const char *const sides[] = { "destination.ip", "user.name", "host.name",
					     "source.ip" };
	const char *val;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(sides); i++) {
		int rc = alert_value(a, sides[i], arena, &val, &len);

		if (rc < 0)
			return rc;
		if (rc > 0 && len)
			return add_key_part(key, sides[i], val, len);
	}
	return 0;
}

int soc_group_key(const struct soc_grouping *g, size_t n_groupings, const struct meta_alert *a,
		  struct arena *arena, struct buf *key, struct err *e)
{
	const struct soc_grouping *use = NULL;
	int rc;

	buf_reset(key);
	for (size_t i = 0; i < n_groupings && !use; i++)
		if (grouping_matches(&g[i], a, arena))
			use = &g[i];
	rc = buf_adds(key, a->rule_id);
	if (!use) {
		rc = err_first(rc, default_key(a, arena, key));
	} else {
		for (size_t i = 0; i < use->n_keys && !rc; i++) {
			const char *val = "";
			size_t len = 0;
			int got = alert_value(a, use->keys[i], arena, &val, &len);

			if (got < 0)
				rc = got;
			else
				rc = add_key_part(key, use->keys[i], got ? val : "", got ? len : 0);
		}
	}
	if (rc < 0)
		return err_set(e, rc, "grouping key of alert %lld: %s", (long long)a->id,
			       rc == -ENOSPC ? "longer than the maximum" : strerror(-rc));
	if (key->len > SOC_GROUP_KEY_MAX)
		return err_set(e, -ENOSPC, "grouping key of alert %lld: longer than %d bytes",
			       (long long)a->id, SOC_GROUP_KEY_MAX);
	return 0;
}

int soc_level(int verdict, int analyst, int overruled)
{
	if (analyst < 0)
		return verdict;
	if (verdict > overruled) /* evidence beyond what the analyst overruled */
		return analyst > verdict ? analyst : verdict;
	return analyst;
}

/* ---- entities ---- */

enum entity_kind { ENT_USERS, ENT_HOSTS, ENT_IPS, ENT_KINDS };

static const char *const entity_names[ENT_KINDS] = { "users", "hosts", "ips" };

static const struct {
	const char *field;
	enum entity_kind kind;
} entity_fields[] = {
	{ "user.name", ENT_USERS }, { "source.user.name", ENT_USERS },
	{ "destination.user.name", ENT_USERS }, { "host.name", ENT_HOSTS },
	{ "host.hostname", ENT_HOSTS }, { "source.ip", ENT_IPS }, { "destination.ip", ENT_IPS },
	{ "client.ip", ENT_IPS }, { "server.ip", ENT_IPS }, { "host.ip", ENT_IPS },
};

#define OBSERVERS_MAX 16 /* names of the devices that logged an alert's events */

struct entities {
	const char *v[ENT_KINDS][SOC_ENTITIES_MAX];
	size_t len[ENT_KINDS][SOC_ENTITIES_MAX];
	size_t n[ENT_KINDS];
	const char *observer[OBSERVERS_MAX];    /* never a host of the incident */
	size_t observer_len[OBSERVERS_MAX];
	size_t n_observers;
};

static bool is_observer(const struct entities *en, const char *s, size_t len)
{
	for (size_t i = 0; i < en->n_observers; i++)
		if (en->observer_len[i] == len && !strncasecmp(en->observer[i], s, len))
			return true;
	return false;
}

/*
 * Adds a copy of (s, len) unless there or full (the first ones seen are kept); a host that
 * is the device which logged the events (a firewall's name as host.name) is no entity.
 */
static int entity_add(struct entities *en, enum entity_kind k, const char *s, size_t len,
		      struct arena *arena)
{
	if (!len || en->n[k] == SOC_ENTITIES_MAX || (k == ENT_HOSTS && is_observer(en, s, len)))
		return 0;
	for (size_t i = 0; i < en->n[k]; i++)
		if (en->len[k][i] == len && !memcmp(en->v[k][i], s, len))
			return 0;
	if (!(en->v[k][en->n[k]] = arena_strndup(arena, s, len)))
		return -ENOMEM;
	en->len[k][en->n[k]++] = len;
	return 0;
}

/* The lists of a stored entities object; members that are not string arrays are ignored. */
static int entities_read(struct entities *en, const char *json, struct arena *arena)
{
	struct jsonin_value k, v;
	struct jsonin j;
	int more, rc = 0;

	if (!json || !*json)
		return 0;
	jsonin_init(&j, json, strlen(json), arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return -EINVAL;
	while (!rc && (more = jsonin_key(&j, &k)) > 0) {
		int kind = -1;

		for (int i = 0; i < ENT_KINDS; i++)
			if (jsonin_key_is(&k, entity_names[i]))
				kind = i;
		if (jsonin_value(&j, &v) < 0)
			return -EINVAL;
		if (v.type != JSONIN_ARRAY) {
			if (v.type == JSONIN_OBJECT && jsonin_skip(&j) < 0)
				return -EINVAL;
			continue;
		}
		while (!rc && jsonin_more(&j) > 0) {
			if (jsonin_value(&j, &v) < 0)
				return -EINVAL;
			if (v.type == JSONIN_STRING && kind >= 0)
				rc = entity_add(en, (enum entity_kind)kind, v.s, v.len, arena);
			else if ((v.type == JSONIN_ARRAY || v.type == JSONIN_OBJECT) &&
				 jsonin_skip(&j) < 0)
				return -EINVAL;
		}
	}
	return rc;
}

/* Every value of the entity fields in ev (repeated fields: each value). */
static int entities_from_event(struct entities *en, const struct event *ev, struct arena *arena)
{
	int rc = 0;

	for (size_t f = 0; f < ARRAY_SIZE(entity_fields) && !rc; f++) {
		const char *name = entity_fields[f].field;
		int id = field_lookup(name, strlen(name));

		if (id < 0)
			continue;
		for (uint32_t i = 0; i < ev->n && !rc; i++) {
			char tmp[EVENT_VALUE_TEXT_MAX];
			const char *s;
			size_t len;

			if (ev->vals[i].field != (uint32_t)id)
				continue;
			s = event_value_text(&ev->vals[i], tmp, &len);
			rc = entity_add(en, entity_fields[f].kind, s, len, arena);
		}
	}
	return rc;
}

/* The names of the device that logged ev (observer.hostname, observer.name). */
static void observers_of(struct entities *en, const struct event *ev)
{
	static const char *const fields[] = { "observer.hostname", "observer.name" };

	for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
		int id = field_lookup(fields[f], strlen(fields[f]));
		const char *s;
		size_t len;

		if (id >= 0 && en->n_observers < OBSERVERS_MAX &&
		    event_get_str(ev, (unsigned)id, &s, &len) > 0 && len &&
		    !is_observer(en, s, len)) {
			en->observer[en->n_observers] = s; /* in the event's arena */
			en->observer_len[en->n_observers++] = len;
		}
	}
}

static int entities_from_alert(struct entities *en, const struct meta_alert *a,
			       struct arena *arena)
{
	int rc = 0;

	for (size_t i = 0; i < (size_t)a->n_events; i++) {
		struct event ev;
		int got = alert_event(a, i, arena, &ev);

		if (got == 0)
			break;
		if (got > 0)
			observers_of(en, &ev);
	}

	for (size_t f = 0; f < ARRAY_SIZE(entity_fields) && !rc; f++) {
		const char *val;
		size_t len;
		int got = flat_get(a->key_fields, entity_fields[f].field, arena, &val, &len);

		if (got > 0)
			rc = entity_add(en, entity_fields[f].kind, val, len, arena);
	}
	for (size_t i = 0; !rc && i < (size_t)a->n_events; i++) {
		struct event ev;
		int got = alert_event(a, i, arena, &ev);

		if (got == 0)
			break;
		if (got > 0)
			rc = entities_from_event(en, &ev, arena);
	}
	return rc;
}

static int entities_write(const struct entities *en, struct buf *out)
{
	int rc = buf_addch(out, '{');

	for (int k = 0; k < ENT_KINDS; k++) {
		rc = err_first(rc, buf_addf(out, "%s\"%s\":[", k ? "," : "", entity_names[k]));
		for (size_t i = 0; i < en->n[k]; i++) {
			if (i)
				rc = err_first(rc, buf_addch(out, ','));
			rc = err_first(rc, json_add_string(out, en->v[k][i], en->len[k][i]));
		}
		rc = err_first(rc, buf_addch(out, ']'));
	}
	return err_first(rc, buf_addch(out, '}'));
}

int soc_entities_merge(const char *entities, const struct meta_alert *a, struct arena *arena,
		       struct buf *out, struct err *e)
{
	struct entities *en = arena_alloc(arena, sizeof(*en));
	int rc;

	buf_reset(out);
	if (!en)
		return err_set(e, -ENOMEM, "out of memory");
	memset(en, 0, sizeof(*en));
	if ((rc = entities_read(en, entities, arena)) < 0)
		return err_set(e, rc, "incident entities: %s", rc == -EINVAL ?
			       "expected a JSON object of string arrays" : strerror(-rc));
	if ((rc = entities_from_alert(en, a, arena)) < 0 || (rc = entities_write(en, out)) < 0)
		return err_set(e, rc, "entities of alert %lld: %s", (long long)a->id,
			       strerror(-rc));
	return 0;
}

/* ---- the engine ---- */

#define TICK_NS (INT64_C(10) * NS_PER_SEC)   /* catch-up scan and sla_check */
#define SCAN_BATCH 1000                       /* alerts read per catch-up query */
#define REPLAY_MAX 1000000                    /* alerts one replay takes */
#define RECHECKS_MAX 100000                   /* incidents waiting for a re-evaluation */
#define RECHECK_OVERDUE_NS (INT64_C(5) * NS_PER_SEC) /* run even while alerts wait */
/* serve: the looks again for events committed after an alert's, from its evaluation on */
static const int64_t late_looks_ns[] = { INT64_C(3) * NS_PER_SEC, INT64_C(30) * NS_PER_SEC };
#define TRIAGE_ALERTS_MAX 64                  /* an incident's alerts handed to triage */
#define TERMINAL_WINDOW_NS (INT64_C(600) * NS_PER_SEC) /* around the first alert */
#define TENANT_MAX 64                         /* bytes of a tenant name and its NUL */
#define COUNT_TENANTS_MAX 4096
#define ARENA_MAX ((size_t)256 << 20)         /* the most each of the engine's arenas holds */
#define BATCH_MAX 16                          /* queued alerts grouped in one transaction */
#define ACTOR "koban"

enum result { RES_LINKED, RES_CREATED, RES_SUPPRESSED, RES_DROPPED, RES_FAILED, RESULTS };

/* Steps whose failure leaves the incident without them, counted and logged. */
enum stage { STAGE_TERMINAL, STAGE_EVIDENCE, STAGES };

static const char *const stage_names[STAGES] = { "terminal", "evidence" };

static const char *const result_names[RESULTS] = { "linked", "created", "suppressed",
						    "dropped", "failed" };

/* koban_soc_decision_seconds' bounds (the goal is 1 s) */
static const double decision_bounds[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60 };
#define DECISION_BUCKETS ARRAY_SIZE(decision_bounds)

struct job {                     /* an alert stored, waiting for the thread */
	int64_t id;
	char tenant[TENANT_MAX];
};

struct recheck {                 /* an incident whose verdict was incomplete */
	int64_t incident;
	int64_t at_ns;
	int late;                    /* > 0: the late_looks_ns[late - 1] look for late commits */
	char tenant[TENANT_MAX];
};

struct level_count {
	char tenant[TENANT_MAX];
	uint64_t n[4];
};

struct soc {
	struct meta *meta;           /* the engine's own handle (its thread's) */
	struct meta_checkpointer *ckpt; /* serve: koban.db's checkpoints, off the engine's commits */
	struct store *store;
	struct triage *triage;
	struct sla *sla;
	struct firstreport *report;
	struct soc_grouping *groupings;
	size_t n_groupings;
	struct arena conf;           /* the groupings' copies */
	int64_t window_ns;
	bool threaded;
	void (*level_decided)(void *ctx, const char *tenant, int64_t incident, int from, int to,
			      int64_t at_ns);
	void *level_ctx;

	struct arena work;           /* one step at a time (cleared after each) */
	struct arena held;           /* one batch's alerts and evaluations, or due ones' */
	struct arena related;        /* the evaluations of evaluate_related */
	struct buf key, text;
	struct recheck *rechecks;
	size_t n_rechecks;
	int64_t handled_max;         /* the highest alert id handled (read, or pruned) */

	pthread_mutex_t lock;        /* the queue */
	pthread_cond_t wake;
	struct job *ring;
	size_t cap, head, queued;
	bool stop, lost, started;
	pthread_t thread;

	atomic_uint_fast64_t results[RESULTS];
	atomic_uint_fast64_t stage_failed[STAGES];
	pthread_mutex_t count_lock;  /* level counts and the histogram, read by /metrics */
	struct level_count *levels;
	size_t n_levels;
	uint64_t decisions[DECISION_BUCKETS + 1];
	double decision_sum;
	bool metrics;
};

static void count(struct soc *s, enum result r)
{
	atomic_fetch_add_explicit(&s->results[r], 1, memory_order_relaxed);
}

/* A step that failed: counted and logged, the alert's handling goes on without it. */
static void stage_failed(struct soc *s, enum stage k, int64_t incident, const char *tenant,
			 struct err *e)
{
	atomic_fetch_add_explicit(&s->stage_failed[k], 1, memory_order_relaxed);
	log_error("incident %lld of tenant '%s' goes on without its %s: %s", (long long)incident,
		  tenant, stage_names[k], e->msg);
	err_clear(e);
}

static void count_level(struct soc *s, const char *tenant, int level)
{
	struct level_count *t = NULL;

	if (level < 0 || level > 3)
		return;
	pthread_mutex_lock(&s->count_lock);
	for (size_t i = 0; i < s->n_levels && !t; i++)
		if (!strcmp(s->levels[i].tenant, tenant))
			t = &s->levels[i];
	if (!t && s->n_levels < COUNT_TENANTS_MAX) {
		t = &s->levels[s->n_levels++];
		snprintf(t->tenant, sizeof(t->tenant), "%s",
			 s->n_levels < COUNT_TENANTS_MAX ? tenant : "_other");
	}
	if (!t)
		t = &s->levels[COUNT_TENANTS_MAX - 1];
	t->n[level]++;
	pthread_mutex_unlock(&s->count_lock);
}

static void observe_decision(struct soc *s, int64_t ns)
{
	double secs = ns > 0 ? (double)ns / 1e9 : 0;
	size_t b = 0;

	while (b < DECISION_BUCKETS && secs > decision_bounds[b])
		b++;
	pthread_mutex_lock(&s->count_lock);
	s->decisions[b]++;
	s->decision_sum += secs;
	pthread_mutex_unlock(&s->count_lock);
}

/* ---- copies into an arena (rows are valid only during meta's callbacks) ---- */

static const char *copy_text(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

struct incident_copy {
	struct arena *arena;
	struct meta_incident inc;
	bool found, failed;
};

static void copy_incident(void *ctx, const struct meta_incident *inc)
{
	struct incident_copy *c = ctx;
	struct meta_incident *o = &c->inc;

	*o = *inc;
	o->tenant = copy_text(c->arena, inc->tenant);
	o->title = copy_text(c->arena, inc->title);
	o->rule_id = copy_text(c->arena, inc->rule_id);
	o->group_key = copy_text(c->arena, inc->group_key);
	o->status = copy_text(c->arena, inc->status);
	o->owner = copy_text(c->arena, inc->owner);
	o->evidence = copy_text(c->arena, inc->evidence);
	o->entities = copy_text(c->arena, inc->entities);
	o->terminal = copy_text(c->arena, inc->terminal);
	c->failed = !o->tenant || !o->title || !o->rule_id || !o->group_key || !o->status ||
		    !o->owner || !o->evidence || !o->entities || !o->terminal;
	c->found = true;
}

static int copy_alert_into(struct arena *a, const struct meta_alert *in, struct meta_alert *o)
{
	*o = *in;
	o->tenant = copy_text(a, in->tenant);
	o->kind = copy_text(a, in->kind);
	o->rule_id = copy_text(a, in->rule_id);
	o->rule_title = copy_text(a, in->rule_title);
	o->rule_level = copy_text(a, in->rule_level);
	o->rule_author = copy_text(a, in->rule_author);
	o->rule_status = copy_text(a, in->rule_status);
	o->rule_link = copy_text(a, in->rule_link);
	o->rule_tags = copy_text(a, in->rule_tags);
	o->rule_references = copy_text(a, in->rule_references);
	o->group_fields = copy_text(a, in->group_fields);
	o->key_fields = copy_text(a, in->key_fields);
	o->events = copy_text(a, in->events);
	if (!o->tenant || !o->kind || !o->rule_id || !o->rule_title || !o->rule_level ||
	    !o->rule_author || !o->rule_status || !o->rule_link || !o->rule_tags ||
	    !o->rule_references || !o->group_fields || !o->key_fields || (in->events && !o->events))
		return -ENOMEM;
	return 0;
}

struct alerts_copy {
	struct arena *arena;
	struct meta_alert *v;
	size_t n, max;
	int rc;
};

static void copy_alert(void *ctx, const struct meta_alert *a)
{
	struct alerts_copy *c = ctx;

	if (c->rc < 0 || c->n == c->max)
		return; /* the first ones: the incident's start is what triage weighs */
	c->rc = copy_alert_into(c->arena, a, &c->v[c->n]);
	if (c->rc == 0)
		c->n++;
}

static int get_incident(struct soc *s, struct arena *arena, const char *tenant, int64_t id,
			struct meta_incident *out, struct err *e)
{
	struct incident_copy c = { .arena = arena };
	int rc = meta_incident_get(s->meta, tenant, id, copy_incident, &c, e);

	if (rc == 0 && c.failed)
		rc = err_set(e, -ENOMEM, "out of memory");
	if (rc == 0)
		*out = c.inc;
	return rc;
}

static int tenant_store_id(struct soc *s, const char *tenant, uint64_t *id, struct err *e);

/* ---- re-evaluations ---- */

/* The incident's pending re-evaluation, or NULL. */
static struct recheck *recheck_find(struct soc *s, int64_t incident)
{
	for (size_t i = 0; i < s->n_rechecks; i++)
		if (s->rechecks[i].incident == incident)
			return &s->rechecks[i];
	return NULL;
}

static void recheck_remove(struct soc *s, int64_t incident)
{
	struct recheck *r = recheck_find(s, incident);

	if (r)
		*r = s->rechecks[--s->n_rechecks];
}

static void recheck_set(struct soc *s, const char *tenant, int64_t incident, int64_t at_ns)
{
	struct recheck *r = recheck_find(s, incident);

	if (!r) {
		if (s->n_rechecks == RECHECKS_MAX) {
			log_warn("incident %lld of tenant '%s' is not evaluated again: %d incidents "
				 "are waiting already", (long long)incident, tenant, RECHECKS_MAX);
			return;
		}
		r = &s->rechecks[s->n_rechecks++];
		r->late = 0;
	}
	r->incident = incident;
	r->at_ns = at_ns;
	snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
}

/* A re-evaluation at at_ns unless one is due sooner. */
static void recheck_by(struct soc *s, const char *tenant, int64_t incident, int64_t at_ns)
{
	const struct recheck *r = recheck_find(s, incident);

	recheck_set(s, tenant, incident, r ? MIN(r->at_ns, at_ns) : at_ns);
}

/*
 * The re-evaluation an evaluation at now_ns leaves: at recheck_ns when its verdict is
 * incomplete (0: complete, none). A pending look for late commits stays, and comes first
 * when it is due sooner: an evaluation for another reason (a related alert) must not cancel
 * the look for the events still in flight.
 */
static void recheck_after(struct soc *s, const char *tenant, int64_t incident,
			  int64_t recheck_ns, int64_t now_ns)
{
	struct recheck *r = recheck_find(s, incident);

	if (r && r->late > 0) {
		if (recheck_ns > now_ns)
			r->at_ns = MIN(r->at_ns, recheck_ns);
		return;
	}
	if (recheck_ns > now_ns)
		recheck_set(s, tenant, incident, recheck_ns);
	else
		recheck_remove(s, incident);
}

/* The late-th look for late commits (1..), at at_ns unless a re-evaluation is due sooner. */
static void recheck_late(struct soc *s, const char *tenant, int64_t incident, int64_t at_ns,
			 int late)
{
	struct recheck *r;

	recheck_by(s, tenant, incident, at_ns);
	if ((r = recheck_find(s, incident)))
		r->late = late;
}

/* The index of the earliest re-evaluation due at or before now_ns, or -1. */
static ssize_t recheck_due(const struct soc *s, int64_t now_ns)
{
	ssize_t best = -1;

	for (size_t i = 0; i < s->n_rechecks; i++)
		if (s->rechecks[i].at_ns <= now_ns &&
		    (best < 0 || s->rechecks[i].at_ns < s->rechecks[best].at_ns))
			best = (ssize_t)i;
	return best;
}

/* ---- one evaluation ---- */

static int level_changed(struct soc *s, const struct meta_incident *inc, int from,
			 const char *why, int64_t now_ns, struct err *e)
{
	char detail[64];
	const struct meta_incident_entry en = {
		.incident = inc->id, .at_ns = now_ns, .actor = ACTOR, .action = "level",
		.detail = detail, .why = why ? why : "",
	};

	snprintf(detail, sizeof(detail), "{\"from\":%d,\"to\":%d}", from, inc->level);
	return meta_incident_log(s->meta, inc->tenant, &en, e);
}

/*
 * The sentence of the first evidence object of now_ev whose sentence is not in old_ev (the
 * JSON texts are compared, so escaping is the same on both sides), or NULL.
 */
static const char *added_sentence(const char *old_ev, const char *now_ev, struct arena *arena)
{
	struct jsonin_value k, v;
	struct jsonin j;

	jsonin_init(&j, now_ev, strlen(now_ev), arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
		return NULL;
	while (jsonin_more(&j) > 0) {
		if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
			return NULL;
		while (jsonin_key(&j, &k) > 0) {
			if (!jsonin_key_is(&k, "sentence")) {
				if (jsonin_skip_value(&j) < 0)
					return NULL;
				continue;
			}
			if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_STRING)
				return NULL;
			if (!memmem(old_ev, strlen(old_ev), now_ev + v.offset, j.pos - v.offset))
				return arena_strndup(arena, v.s, v.len);
		}
	}
	return NULL;
}

/* Evidence changed and the level did not: the timeline says what came (or went). */
static int evidence_changed(struct soc *s, const struct meta_incident *inc, const char *old_ev,
			    int64_t now_ns, struct err *e)
{
	char detail[32];
	const char *added = added_sentence(old_ev, inc->evidence, &s->work);
	const struct meta_incident_entry en = {
		.incident = inc->id, .at_ns = now_ns, .actor = ACTOR, .action = "evidence",
		.detail = detail,
		.why = added ? added : "evidence found earlier is no longer found; the level stays",
	};

	snprintf(detail, sizeof(detail), "{\"level\":%d}", inc->level);
	return meta_incident_log(s->meta, inc->tenant, &en, e);
}

/*
 * Writes what the verdict v of incident inc changes: its level (soc_level with an analyst's),
 * evidence, timeline, decided clock and first-report drafts, in the caller's transaction.
 * *from gets the level before, inc the new one, *decided_at the decided clock when this set
 * it (else 0). Nothing outside koban.db is touched (v->evidence may be set to "[]"): the
 * caller may roll it back and try again.
 */
static int record_verdict(struct soc *s, struct meta_incident *inc, struct triage_verdict *v,
			  const struct alerts_copy *ac, int64_t now_ns, int *from,
			  int64_t *decided_at, struct err *e)
{
	const char *tenant = inc->tenant, *old_ev;
	struct incident_manual analyst;
	int64_t id = inc->id;
	bool new_ev;
	int level, rc;

	/* read after triage, which takes a while: a level set meanwhile counts */
	if ((rc = incident_manual_level(s->meta, tenant, id, &analyst, e)) < 0)
		return rc;
	level = soc_level(v->level, analyst.level, analyst.overruled);
	*from = inc->level;
	old_ev = inc->evidence ? inc->evidence : "[]";
	if (!v->evidence)
		v->evidence = "[]";
	new_ev = strcmp(old_ev, v->evidence) != 0;
	if (level != inc->level || new_ev) {
		inc->level = level;
		inc->evidence = v->evidence;
		inc->updated_ns = now_ns;
		if ((rc = meta_incident_update_engine(s->meta, inc, e)) < 0)
			return rc;
	}
	rc = 0;
	if (level != *from)
		rc = level_changed(s, inc, *from, v->why, now_ns, e);
	else if (new_ev)
		rc = evidence_changed(s, inc, old_ev, now_ns, e);
	if (rc < 0)
		return rc;
	if (!inc->decided_ns) {
		/* serve: the wall time of the decision itself, triage's time included */
		int64_t at = s->threaded ? time_now_ns() : now_ns;
		bool set = false;

		if ((rc = meta_incident_clock(s->meta, tenant, id, META_CLOCK_DECIDED, at, ACTOR,
					      &set, e)) < 0)
			return rc;
		inc->decided_ns = at;
		if (set)
			*decided_at = at;
	}
	/* the drafts follow the level and evidence (an analyst's edits are kept by firstreport) */
	if (level != *from || new_ev)
		return firstreport_refresh(s->report, s->meta, inc, ac->v, ac->n, now_ns, e);
	return 0;
}

/*
 * 1 when recording verdict v would write nothing: the incident was decided already and
 * keeps its level (an analyst's level honoured) and its evidence. An analyst's change
 * after this read is the analyst's own write; the engine had nothing to add to it.
 */
static int verdict_unchanged(struct soc *s, const struct meta_incident *inc,
			     const struct triage_verdict *v, struct err *e)
{
	struct incident_manual analyst;
	int rc;

	if (!inc->decided_ns ||
	    strcmp(inc->evidence ? inc->evidence : "[]", v->evidence ? v->evidence : "[]"))
		return 0;
	if ((rc = incident_manual_level(s->meta, inc->tenant, inc->id, &analyst, e)) < 0)
		return rc;
	return soc_level(v->level, analyst.level, analyst.overruled) == inc->level;
}

/* Keeps the first error in first, carries on. */
static void keep_first(int rc, struct err *e, int *first, struct err *first_e)
{
	if (rc < 0 && !*first) {
		*first = rc;
		*first_e = *e;
	}
	err_clear(e);
}

/*
 * Runs step(ctx, i, e) for i in [0, n) in one write transaction: one lock, one commit, and
 * the pages the steps share written once. When one fails, everything is rolled back and
 * each step runs in a transaction of its own, so that a failure is its step's own:
 * failed(ctx, i, rc, e) hears of it. The work arena is cleared after each step.
 */
static void write_together(struct soc *s, size_t n,
			   int (*step)(void *ctx, size_t i, struct err *e),
			   void (*failed)(void *ctx, size_t i, int rc, struct err *e), void *ctx)
{
	struct err e = ERR_INIT;
	size_t i = 0;

	if (n > 1 && meta_begin(s->meta, &e) == 0) {
		/* a step's error SQLite ended the transaction for: the rest would run alone */
		for (; i < n && step(ctx, i, &e) == 0 && meta_in_transaction(s->meta); i++)
			arena_clear(&s->work);
		if (i == n && meta_commit(s->meta, &e) == 0)
			return;
		meta_rollback(s->meta);
		arena_clear(&s->work);
	}
	for (i = 0; i < n; i++) {
		int rc;

		err_clear(&e);
		if ((rc = meta_begin(s->meta, &e)) == 0) {
			if ((rc = step(ctx, i, &e)) == 0 && (rc = meta_commit(s->meta, &e)) == 0) {
				arena_clear(&s->work);
				continue;
			}
			meta_rollback(s->meta);
		}
		failed(ctx, i, rc, &e);
		arena_clear(&s->work);
	}
}

/*
 * One incident's evaluation (evaluate_batch): read, decided (triage: the store's searches,
 * outside any transaction), recorded, then told (counts, the notification engine, the next
 * re-evaluation).
 */
struct evaluation {
	const char *tenant;
	int64_t id;
	int64_t detected_ns;         /* the alert that led here (0: a re-evaluation) */
	struct meta_incident inc;    /* as read */
	struct alerts_copy ac;
	struct triage_verdict v;
	uint64_t tid;
	int rc;                      /* < 0: failed (logged unless -ENOENT), the rest skipped */
	bool unchanged;              /* the verdict writes nothing (verdict_unchanged) */
	int from, level;             /* recorded: the level before and after */
	int64_t decided_at;          /* > 0: the decided clock, set by this evaluation */
};

/* The incident and its alerts into arena, in the caller's transaction. */
static int eval_read(struct soc *s, struct evaluation *ev, struct arena *arena, struct err *e)
{
	struct alerts_copy *ac = &ev->ac;
	int rc;

	*ac = (struct alerts_copy){ .arena = arena, .max = TRIAGE_ALERTS_MAX };
	if (!(ac->v = arena_alloc(arena, TRIAGE_ALERTS_MAX * sizeof(*ac->v))))
		return err_set(e, -ENOMEM, "out of memory");
	if ((rc = get_incident(s, arena, ev->tenant, ev->id, &ev->inc, e)) < 0 ||
	    (rc = tenant_store_id(s, ev->tenant, &ev->tid, e)) < 0 ||
	    (rc = meta_incident_alerts(s->meta, ev->tenant, ev->id, copy_alert, ac, e)) < 0)
		return rc;
	ev->from = ev->level = ev->inc.level; /* until a recorded verdict changes it */
	return ac->rc < 0 ? err_set(e, ac->rc, "out of memory") : 0;
}

/* evaluate_batch's evaluations, for write_together's callbacks */
struct eval_run {
	struct soc *s;
	struct evaluation *ev;
	int64_t now_ns;
	int first;                   /* the first failure, its message in e */
	struct err *e;
};

/* A failure of ev: logged (a purged incident is not), kept as the run's first. */
static void eval_failed(struct eval_run *r, struct evaluation *ev, int rc, struct err *why)
{
	ev->rc = rc;
	if (rc == -ENOENT) {
		err_clear(why);
		return;
	}
	log_error("incident %lld of tenant '%s' not evaluated: %s", (long long)ev->id, ev->tenant,
		  why->msg);
	keep_first(rc, why, &r->first, r->e);
}

/*
 * write_together's step for evaluation i: what its verdict changes (nothing when it was
 * found unchanged); on a copy of the incident as read, so that a step tried again after a
 * rollback starts from the same.
 */
static int eval_record(void *ctx, size_t i, struct err *e)
{
	struct eval_run *r = ctx;
	struct evaluation *ev = &r->ev[i];
	struct meta_incident inc = ev->inc;
	int rc;

	ev->decided_at = 0;
	ev->from = ev->level = inc.level;
	if (ev->rc < 0 || ev->unchanged)
		return 0;
	if ((rc = record_verdict(r->s, &inc, &ev->v, &ev->ac, r->now_ns, &ev->from,
				 &ev->decided_at, e)) < 0)
		return rc;
	ev->level = inc.level;
	return 0;
}

static void eval_record_failed(void *ctx, size_t i, int rc, struct err *e)
{
	struct eval_run *r = ctx;

	eval_failed(r, &r->ev[i], rc, e);
}

/*
 * Recorded: the level counted, the decision's latency observed, the notification engine
 * told (once the level and the drafts are written), the next re-evaluation scheduled.
 */
static void eval_told(struct soc *s, const struct evaluation *ev, int64_t now_ns)
{
	if (ev->level != ev->from)
		count_level(s, ev->tenant, ev->level);
	if (ev->decided_at && ev->detected_ns)
		observe_decision(s, ev->decided_at - ev->detected_ns);
	if (ev->level != ev->from && s->level_decided)
		s->level_decided(s->level_ctx, ev->tenant, ev->id, ev->from, ev->level,
				 s->threaded ? time_now_ns() : now_ns);
	recheck_after(s, ev->tenant, ev->id, ev->v.complete ? 0 : ev->v.recheck_ns, now_ns);
	/*
	 * serve: the workers commit in parallel, so an event beside the alert's (its session's
	 * TRAFFIC row) may reach the store just after this evaluation. A verdict still open is
	 * evaluated again anyway; a complete one (old events: every window closed already)
	 * looks again when the commits in flight have landed: soon, and once more later for a
	 * pipeline slowed by load (run_rechecks schedules the next look).
	 */
	if (s->threaded && ev->detected_ns && ev->v.complete)
		recheck_late(s, ev->tenant, ev->id, now_ns + late_looks_ns[0], 1);
}

/*
 * The phase of evaluate_batch that reads: fn(s, ev, arena, e) for each evaluation not
 * failed yet, in one read transaction; failures into each ev->rc.
 */
static void eval_reads(struct eval_run *r, size_t n, struct arena *arena,
		       int (*fn)(struct soc *s, struct evaluation *ev, struct arena *arena,
				 struct err *e))
{
	struct err why = ERR_INIT;
	int rc = meta_begin_read(r->s->meta, &why);

	for (size_t i = 0; i < n; i++) {
		struct err each = why;

		if (r->ev[i].rc < 0)
			continue;
		if (rc < 0 || (r->ev[i].rc = fn(r->s, &r->ev[i], arena, &each)) < 0)
			eval_failed(r, &r->ev[i], rc < 0 ? rc : r->ev[i].rc, &each);
	}
	/* (a read error SQLite ended the transaction for: the reads after it ran alone) */
	if (rc == 0 && meta_in_transaction(r->s->meta) &&
	    (rc = meta_commit(r->s->meta, &why)) < 0) {
		meta_rollback(r->s->meta);
		for (size_t i = 0; i < n; i++) {
			struct err each = why;

			if (r->ev[i].rc == 0)
				eval_failed(r, &r->ev[i], rc, &each);
		}
	}
}

/* eval_reads' function after triage: whether recording the verdict would write nothing. */
static int eval_unchanged(struct soc *s, struct evaluation *ev, struct arena *arena,
			  struct err *e)
{
	int rc = verdict_unchanged(s, &ev->inc, &ev->v, e);

	ev->unchanged = rc > 0;
	return rc < 0 ? rc : 0;
}

/*
 * Triage of the incidents ev[0..n) at now_ns (tenant, id and detected_ns set; the rest is
 * filled): their levels (never under an analyst's), evidence, the decided clock, the
 * first-report drafts, the next re-evaluations. Read in one transaction, triaged one by
 * one, the verdicts that change something recorded in one (write_together). Each failure is
 * in ev[i].rc and logged (a purged incident's, -ENOENT, is not); 0 or the first logged one.
 * The copies live in arena: the caller clears it.
 */
static int evaluate_batch(struct soc *s, struct evaluation *ev, size_t n, struct arena *arena,
			  int64_t now_ns, struct err *e)
{
	struct eval_run r = { .s = s, .ev = ev, .now_ns = now_ns, .e = e };
	struct err why = ERR_INIT;
	size_t writes = 0;

	if (!n)
		return 0;
	eval_reads(&r, n, arena, eval_read);
	for (size_t i = 0; i < n; i++) {
		const struct triage_input in = { &ev[i].inc, ev[i].tid, ev[i].ac.v, ev[i].ac.n,
						 now_ns };

		if (ev[i].rc == 0 &&
		    (ev[i].rc = triage_evaluate(s->triage, &in, arena, &ev[i].v, &why)) < 0)
			eval_failed(&r, &ev[i], ev[i].rc, &why);
	}
	/* no write transaction for verdicts that change nothing (late looks finding the same) */
	eval_reads(&r, n, arena, eval_unchanged);
	for (size_t i = 0; i < n; i++)
		writes += ev[i].rc == 0 && !ev[i].unchanged;
	if (writes)
		write_together(s, n, eval_record, eval_record_failed, &r);
	for (size_t i = 0; i < n; i++)
		if (ev[i].rc == 0)
			eval_told(s, &ev[i], now_ns);
	return r.first;
}

/* ---- one alert ---- */

/* The store's id of a tenant is koban.db's. */
static int tenant_store_id(struct soc *s, const char *tenant, uint64_t *id, struct err *e)
{
	int64_t tid = -1;
	int rc = meta_tenant_id(s->meta, tenant, &tid, e);

	*id = (uint64_t)tid;
	return rc;
}

/* The first event's address and port of side ("source", "destination"). */
static int side_of(const struct meta_alert *a, const char *side, struct arena *arena,
		   const char **ip, uint16_t *port)
{
	char name[32];
	const char *p;
	size_t len;
	int64_t v;

	snprintf(name, sizeof(name), "%s.ip", side);
	if (alert_value(a, name, arena, ip, &len) <= 0 || !len)
		return 0;
	*port = 0;
	snprintf(name, sizeof(name), "%s.port", side);
	if (alert_value(a, name, arena, &p, &len) > 0 && jsonin_int(p, len, &v) == 0 && v > 0 &&
	    v <= 65535)
		*port = (uint16_t)v;
	return 1;
}

/* Whether the text is an address of the private ranges (RFC 1918, RFC 4193). */
static bool private_address(const char *s)
{
	static const char *const nets[] = { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
					     "fc00::/7" };
	struct ipaddr ip, net;
	unsigned prefix;

	if (ipaddr_parse(&ip, s, strlen(s)) < 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(nets); i++)
		if (ipaddr_parse_cidr(&net, &prefix, nets[i], strlen(nets[i])) == 0 &&
		    ipaddr_in_prefix(&ip, &net, prefix))
			return true;
	return false;
}

/* A private address of the alert names the terminal itself: no NAT or proxy to look behind. */
static int direct_terminal(struct soc *s, const char *ip, uint16_t port, int64_t at_ns,
			   struct terminal *t)
{
	char sentence[160];

	if (port)
		snprintf(sentence, sizeof(sentence), "%s:%u is an internal address: no NAT or "
			 "proxy in between", ip, port);
	else
		snprintf(sentence, sizeof(sentence), "%s is an internal address: no NAT or proxy "
			 "in between", ip);
	*t = (struct terminal){ .ip = ip, .port = port, .via = "direct",
				.sentence = arena_strndup(&s->work, sentence, strlen(sentence)),
				.at_ns = at_ns };
	return t->sentence ? 0 : -ENOMEM;
}

/*
 * Who was behind the public address ip:port (destination NAT, a CGN, a proxy) around at_ns:
 * 1 found, 0 nothing found, negative an error.
 */
static int resolve_terminal(struct soc *s, const char *tenant, const char *ip, uint16_t port,
			    int64_t at_ns, struct terminal *t, struct err *e)
{
	uint64_t tid;
	int rc;

	if (!s->store)
		return 0;
	if ((rc = tenant_store_id(s, tenant, &tid, e)) < 0)
		return rc;
	rc = terminal_resolve(s->store, tid, ip, port, at_ns, TERMINAL_WINDOW_NS, &s->work, t, e);
	if (rc == -ENOENT) {
		err_clear(e);
		return 0;
	}
	return rc < 0 ? rc : 1;
}

/*
 * The internal terminal of a new incident from its first alert: a private address (the
 * victim's before the source's) is the terminal itself; else the store is searched for who
 * was behind the victim's public address, then the source's. *json: the terminal as JSON in
 * arena, NULL when nothing was found (not an error: the incident's terminal stays empty).
 */
static int find_terminal(struct soc *s, const struct meta_alert *a, int64_t at_ns,
			 struct arena *arena, const char **json, struct err *e)
{
	static const char *const sides[] = { "destination", "source" };
	struct terminal t;
	int found = 0, rc;

	*json = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(sides) && !found; i++) {
		const char *ip;
		uint16_t port;

		if (side_of(a, sides[i], &s->work, &ip, &port) && private_address(ip)) {
			if (direct_terminal(s, ip, port, at_ns, &t) < 0)
				return err_set(e, -ENOMEM, "out of memory");
			found = 1;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(sides) && !found; i++) {
		const char *ip;
		uint16_t port;

		if (side_of(a, sides[i], &s->work, &ip, &port) &&
		    (found = resolve_terminal(s, a->tenant, ip, port, at_ns, &t, e)) < 0)
			return found;
	}
	if (!found)
		return 0;
	buf_reset(&s->text);
	if ((rc = terminal_write_json(&t, &s->text)) < 0 ||
	    !(*json = arena_strndup(arena, s->text.p, s->text.len)))
		return err_set(e, rc < 0 ? rc : -ENOMEM, "terminal: %s",
			       strerror(rc < 0 ? -rc : ENOMEM));
	return 0;
}

/*
 * Copies of the alert's events, kept with the incident, in the caller's transaction. A copy
 * refused before anything is written (the incident keeps the most it may, the tenant has no
 * data key, an event too large) does not stop the others: the first refusal goes to
 * *refused (its message in why), and the return is 0; any other error is returned.
 */
static int keep_events(struct soc *s, const struct meta_alert *a, int64_t incident,
		       int *refused, struct err *why, struct err *e)
{
	uint64_t tid;
	int rc;

	*refused = 0;
	if (!s->store || !a->events)
		return 0;
	if ((rc = tenant_store_id(s, a->tenant, &tid, e)) < 0)
		return rc;
	for (const char *p = a->events; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		rc = n ? evkeep_put(s->store, s->meta, a->tenant, tid, incident, p, n, e) : 0;
		if (rc == -ENOSPC || rc == -ENOENT || rc == -EMSGSIZE) {
			if (!*refused) {
				*refused = rc;
				*why = *e;
			}
			err_clear(e);
		} else if (rc < 0) {
			return rc;
		}
		p += nl ? n + 1 : n;
	}
	return 0;
}

static int log_alert(struct soc *s, const struct meta_alert *a, int64_t incident,
		     const char *action, int64_t now_ns, struct err *e)
{
	char detail[64];
	const struct meta_incident_entry en = {
		.incident = incident, .at_ns = now_ns, .actor = ACTOR, .action = action,
		.detail = detail, .why = "",
	};

	snprintf(detail, sizeof(detail), "{\"alert\":%lld}", (long long)a->id);
	return meta_incident_log(s->meta, a->tenant, &en, e);
}

/* a into the open incident inc of its key. */
static int link_alert(struct soc *s, struct meta_incident *inc, const struct meta_alert *a,
		      int64_t at_ns, int64_t now_ns, struct err *e)
{
	int rc;

	if ((rc = soc_entities_merge(inc->entities, a, &s->work, &s->text, e)) < 0)
		return rc;
	if (!(inc->entities = arena_strndup(&s->work, s->text.p, s->text.len)))
		return err_set(e, -ENOMEM, "out of memory");
	inc->n_alerts++;
	inc->first_ns = MIN(inc->first_ns, at_ns);
	inc->last_ns = MAX(inc->last_ns, at_ns);
	inc->updated_ns = now_ns;
	if ((rc = meta_incident_update_engine(s->meta, inc, e)) < 0 ||
	    (rc = meta_incident_link_alert(s->meta, a->tenant, inc->id, a->id, e)) < 0)
		return rc;
	return log_alert(s, a, inc->id, "alert", now_ns, e);
}

/* A new incident of a, its key and its terminal. */
static int create_incident(struct soc *s, struct meta_incident *inc, const struct meta_alert *a,
			   const char *key, int64_t at_ns, int64_t now_ns, struct err *e)
{
	int rc;

	if ((rc = soc_entities_merge(NULL, a, &s->work, &s->text, e)) < 0)
		return rc;
	*inc = (struct meta_incident){
		.tenant = a->tenant, .title = *a->rule_title ? a->rule_title : a->rule_id,
		.rule_id = a->rule_id, .group_key = key, .level = META_LEVEL_UNDECIDED,
		.status = "new", .owner = "", .n_alerts = 1, .evidence = "[]",
		.entities = arena_strndup(&s->work, s->text.p, s->text.len), .terminal = "{}",
		.first_ns = at_ns, .last_ns = at_ns,
		.detected_ns = s->threaded ? a->detected_ns : now_ns, .updated_ns = now_ns,
	};
	if (!inc->entities)
		return err_set(e, -ENOMEM, "out of memory");
	if ((rc = meta_incident_add(s->meta, inc, &inc->id, e)) < 0 ||
	    (rc = meta_incident_link_alert(s->meta, a->tenant, inc->id, a->id, e)) < 0 ||
	    (rc = log_alert(s, a, inc->id, "created", now_ns, e)) < 0)
		return rc;
	return 0;
}

/* ---- late evidence: the other open incidents an alert speaks of ---- */

#define RELATED_MAX 8         /* other incidents evaluated again for one alert */

struct related {
	int64_t self;
	int64_t ids[RELATED_MAX];
	size_t n;
};

/* The alert's users and addresses as a JSON array (what the incidents' index holds). */
static int related_names(const struct entities *en, struct buf *out)
{
	int rc = buf_addch(out, '[');

	for (int k = 0; k < ENT_KINDS && !rc; k++) {
		if (k == ENT_HOSTS)
			continue; /* the observer's name: many alerts share it */
		for (size_t i = 0; i < en->n[k] && !rc; i++)
			if (!(rc = out->len > 1 ? buf_addch(out, ',') : 0))
				rc = json_add_string(out, en->v[k][i], en->len[k][i]);
	}
	if (!rc)
		rc = buf_addch(out, ']');
	if (!rc)
		rc = buf_addch(out, '\0');
	return rc;
}

static void see_related(void *ctx, int64_t id)
{
	struct related *r = ctx;

	if (id != r->self && r->n < RELATED_MAX)
		r->ids[r->n++] = id;
}

/*
 * serve: an alert may be the late evidence of another open incident (the victim of an
 * exploit calling a C2 an hour later): the tenant's open incidents of other rules detected
 * within soc.window that share a user or an address with the alert are evaluated again. (A
 * replay evaluates each incident again when its evidence windows close instead.)
 */
static void evaluate_related(struct soc *s, const struct meta_alert *a, int64_t self,
			     int64_t now_ns)
{
	struct entities *en = arena_alloc(&s->work, sizeof(*en));
	struct buf names = BUF_INIT(SOC_ENTITIES_MAX * ENT_KINDS * 1024);
	struct evaluation ev[RELATED_MAX];
	struct related r = { .self = self };
	struct err e = ERR_INIT;
	int rc;

	if (!en)
		return;
	memset(en, 0, sizeof(*en));
	rc = entities_from_alert(en, a, &s->work);
	if (!rc && !(rc = related_names(en, &names)))
		rc = meta_incident_open_sharing(s->meta, a->tenant, now_ns - s->window_ns,
						 a->rule_id, names.p, RELATED_MAX + 1 /* and self */, see_related, &r,
						 &e);
	buf_release(&names);
	if (rc < 0) {
		log_error("incidents related to alert %lld not evaluated again: %s",
			  (long long)a->id, e.msg[0] ? e.msg : strerror(-rc));
		return;
	}
	for (size_t i = 0; i < r.n; i++)
		ev[i] = (struct evaluation){ .tenant = a->tenant, .id = r.ids[i] };
	/* an arena of their own: a batch's alerts may each bring RELATED_MAX evaluations */
	(void)evaluate_batch(s, ev, r.n, &s->related, now_ns, &e); /* logged */
	arena_clear(&s->related);
}

/* The time the alert happened: its event's, else its detection's. */
static int64_t alert_time(const struct meta_alert *a)
{
	return a->event_ns ? a->event_ns : a->detected_ns;
}

/*
 * a into an incident, in the caller's transaction: suppressed (*suppressed), else linked
 * to the open incident of its key (found->found) or a new one (found->inc).
 */
static int group_alert(struct soc *s, const struct meta_alert *a, int64_t at, int64_t now_ns,
		       struct incident_copy *found, bool *suppressed, struct err *e)
{
	int64_t suppression = 0;
	const char *key;
	int rc;

	*suppressed = false;
	if ((rc = meta_suppression_match(s->meta, a, now_ns, &suppression, e)) < 0)
		return rc;
	if (suppression) {
		*suppressed = true;
		return 0;
	}
	if ((rc = soc_group_key(s->groupings, s->n_groupings, a, &s->work, &s->key, e)) < 0)
		return rc;
	if (!(key = arena_strndup(&s->work, s->key.p, s->key.len)))
		return err_set(e, -ENOMEM, "out of memory");
	rc = meta_incident_find_open(s->meta, a->tenant, key, at - s->window_ns, copy_incident,
				     found, e);
	if (rc == -ENOENT) {
		err_clear(e);
		rc = 0;
	}
	if (rc == 0 && found->failed)
		rc = err_set(e, -ENOMEM, "out of memory");
	if (rc < 0)
		return rc;
	return found->found ? link_alert(s, &found->inc, a, at, now_ns, e)
			    : create_incident(s, &found->inc, a, key, at, now_ns, e);
}

/* Takes the re-evaluation at index i off the list into *out. */
static void recheck_take(struct soc *s, size_t i, struct recheck *out)
{
	*out = s->rechecks[i];
	s->rechecks[i] = s->rechecks[--s->n_rechecks];
}

/*
 * The re-evaluations r[0..n) (n <= BATCH_MAX), taken off the list (an evaluation adds its
 * incident again when needed), at now_ns; then each one's next look for late commits.
 * 0 or the first failure (each logged).
 */
static int run_rechecks(struct soc *s, const struct recheck *r, size_t n, int64_t now_ns,
			struct soc_replay_stats *st, struct err *e)
{
	struct evaluation ev[BATCH_MAX];
	int rc;

	for (size_t i = 0; i < n; i++)
		ev[i] = (struct evaluation){ .tenant = r[i].tenant, .id = r[i].incident };
	rc = evaluate_batch(s, ev, n, &s->held, now_ns, e);
	for (size_t i = 0; i < n; i++) {
		if (ev[i].rc < 0)
			continue;
		if (st)
			st->evaluations++;
		/* the next look for late commits, unless the verdict asked for an earlier one */
		if (r[i].late > 0 && (size_t)r[i].late < ARRAY_SIZE(late_looks_ns) &&
		    !recheck_find(s, r[i].incident))
			recheck_late(s, r[i].tenant, r[i].incident,
				     now_ns + late_looks_ns[r[i].late], r[i].late + 1);
	}
	arena_clear(&s->held);
	return rc;
}

/* ---- catch-up and replay: alerts read from koban.db ---- */

struct pending {
	int64_t id, at_ns;
	char tenant[TENANT_MAX];
};

struct pending_list {
	struct pending *v;
	size_t n, cap;
	int64_t last_id;
	int rc;
};

static void add_pending(void *ctx, const struct meta_alert *a)
{
	struct pending_list *l = ctx;

	l->last_id = a->id;
	if (l->rc < 0)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		struct pending *v = cap <= REPLAY_MAX ? mem_realloc(l->v, cap * sizeof(*v)) : NULL;

		if (!v) {
			l->rc = cap <= REPLAY_MAX ? -ENOMEM : -ENOSPC;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].id = a->id;
	l->v[l->n].at_ns = alert_time(a);
	snprintf(l->v[l->n].tenant, sizeof(l->v[l->n].tenant), "%s", a->tenant);
	l->n++;
}

/* The unlinked alerts after after_id (detected since since_ns) into l, by id. */
static int read_pending(struct soc *s, int64_t after_id, int64_t since_ns,
			struct pending_list *l, struct err *e)
{
	for (;;) {
		size_t before = l->n;
		int rc;

		l->last_id = after_id;
		if ((rc = meta_soc_unlinked_alerts(s->meta, after_id, since_ns, SCAN_BATCH,
						   add_pending, l, e)) < 0)
			return rc;
		if (l->rc < 0)
			return err_set(e, l->rc, "more than %d alerts to handle at once",
				       REPLAY_MAX);
		if (l->n - before < SCAN_BATCH)
			return 0;
		after_id = l->last_id;
	}
}

static void keep_first_alert(void *ctx, const struct meta_alert *a)
{
	struct alerts_copy *c = ctx;

	c->rc = copy_alert_into(c->arena, a, &c->v[0]);
	c->n = c->rc == 0;
}

/* The stored alert with its events, copied into the batch's arena. */
static int load_alert(struct soc *s, const char *tenant, int64_t id, struct meta_alert *out,
		      struct err *e)
{
	struct alerts_copy c = { .arena = &s->held, .v = out, .max = 1 };
	int rc = meta_alert_get(s->meta, tenant, id, keep_first_alert, &c, e);

	if (rc == 0 && c.rc < 0)
		rc = err_set(e, c.rc, "out of memory");
	return rc;
}

/*
 * An alert of a batch (handle_batch). Each step runs for every alert of the batch before the
 * next, its writes in one transaction (one lock and one commit, and the pages their
 * incidents share written once: a storm's new incidents fill the same last pages), the
 * store's searches outside any transaction.
 */
struct batch_alert {
	struct pending p;
	struct meta_alert a;         /* in s->held until the batch ends */
	int64_t incident;
	enum result res;
	bool gone;                   /* pruned meanwhile: skipped, not counted */
	bool loaded;                 /* read from koban.db (else retried by the catch-up scan) */
	const char *terminal;        /* a new incident's, found (JSON in s->held), or NULL */
	int refused;                 /* < 0: a copy of its events refused (keep_events) */
	struct err refused_why;
};

/* group_batch's alerts, for write_together's callbacks */
struct group_run {
	struct soc *s;
	struct batch_alert *b;
	int64_t now_ns;
	int first;                   /* the first failure, its message in e */
	struct err *e;
};

/* write_together's step for alert i: loaded into s->held, then grouped. */
static int group_item(void *ctx, size_t i, struct err *e)
{
	struct group_run *r = ctx;
	struct batch_alert *b = &r->b[i];
	struct incident_copy found = { .arena = &r->s->work };
	bool suppressed;
	int rc;

	b->res = RES_FAILED;
	b->gone = b->loaded = false;
	rc = load_alert(r->s, b->p.tenant, b->p.id, &b->a, e);
	if (rc == -ENOENT) {
		err_clear(e);
		b->gone = true;
		return 0;
	}
	b->loaded = rc == 0;
	if (rc < 0 || (rc = group_alert(r->s, &b->a, alert_time(&b->a), r->now_ns, &found,
					&suppressed, e)) < 0)
		return rc;
	b->incident = found.inc.id;
	b->res = suppressed ? RES_SUPPRESSED : found.found ? RES_LINKED : RES_CREATED;
	return 0;
}

static void group_failed(void *ctx, size_t i, int rc, struct err *e)
{
	struct group_run *r = ctx;

	r->b[i].res = RES_FAILED;
	r->b[i].gone = false; /* it failed: whatever the rolled-back attempt found */
	log_error("alert %lld of tenant '%s' is in no incident: %s", (long long)r->b[i].p.id,
		  r->b[i].p.tenant, e->msg);
	keep_first(rc, e, &r->first, r->e);
}

/* Phase one of b[0..n): all grouped in one transaction (write_together). 0 or the first error. */
static int group_batch(struct soc *s, struct batch_alert *b, size_t n, int64_t now_ns,
		       struct err *e)
{
	struct group_run r = { .s = s, .b = b, .now_ns = now_ns, .e = e };

	write_together(s, n, group_item, group_failed, &r);
	return r.first;
}

/* Whether b is in an incident: grouped, and its incident's evaluation did not fail it. */
static bool in_incident(const struct batch_alert *b)
{
	return b->res == RES_LINKED || b->res == RES_CREATED;
}

/* The replay's clock now_ns, else (0) the wall clock's now. */
static int64_t clock_of(int64_t now_ns)
{
	return now_ns ? now_ns : time_now_ns();
}

/* handle_batch's alerts after their decisions, for write_together's callbacks */
struct keep_run {
	struct soc *s;
	struct batch_alert *b;
	size_t n;
};

/* write_together's step j: the terminal of alert j (< n), or the copies of alert j - n's events. */
static int keep_item(void *ctx, size_t j, struct err *e)
{
	struct keep_run *r = ctx;
	struct batch_alert *b = &r->b[j % r->n];

	if (!in_incident(b))
		return 0;
	if (j < r->n)
		return b->terminal ? meta_incident_set_terminal(r->s->meta, b->a.tenant,
								b->incident, b->terminal, e)
				   : 0;
	return keep_events(r->s, &b->a, b->incident, &b->refused, &b->refused_why, e);
}

static void keep_failed(void *ctx, size_t j, int rc, struct err *e)
{
	struct keep_run *r = ctx;
	struct batch_alert *b = &r->b[j % r->n];

	(void)rc;
	if (j >= r->n)
		b->refused = 0; /* its step failed as a whole: counted once, here */
	stage_failed(r->s, j < r->n ? STAGE_TERMINAL : STAGE_EVIDENCE, b->incident, b->a.tenant, e);
}

/* Whether write_together would write anything for the alerts' terminals and copies. */
static bool keeps_something(const struct soc *s, const struct batch_alert *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (in_incident(&b[i]) &&
		    (b[i].terminal || (s->store && b[i].a.events && *b[i].a.events)))
			return true;
	return false;
}

/*
 * After their incidents' decisions, the alerts b[0..n): the terminals of new incidents
 * looked up in the store, then written with the copies of every alert's events in one
 * transaction (each a step of its own: a failure is counted and logged, the alert is still
 * handled; a copy refused, e.g. past the most an incident keeps, does not undo the
 * others); then the other incidents each alert may be late evidence of.
 */
static void after_decisions(struct soc *s, struct batch_alert *b, size_t n, int64_t now_ns)
{
	struct keep_run r = { s, b, n };
	struct err e = ERR_INIT;

	for (size_t i = 0; i < n; i++) {
		if (in_incident(&b[i]) && b[i].res == RES_CREATED &&
		    find_terminal(s, &b[i].a, alert_time(&b[i].a), &s->held, &b[i].terminal, &e) < 0)
			stage_failed(s, STAGE_TERMINAL, b[i].incident, b[i].a.tenant, &e);
		arena_clear(&s->work);
	}
	if (keeps_something(s, b, n))
		write_together(s, 2 * n, keep_item, keep_failed, &r);
	for (size_t i = 0; i < n; i++)
		if (b[i].refused)
			stage_failed(s, STAGE_EVIDENCE, b[i].incident, b[i].a.tenant,
				     &b[i].refused_why);
	for (size_t i = 0; s->threaded && i < n; i++) {
		if (in_incident(&b[i]))
			evaluate_related(s, &b[i].a, b[i].incident, clock_of(now_ns));
		arena_clear(&s->work);
	}
}

/* The index of incident id in ev[0..n), or n. */
static size_t eval_index(const struct evaluation *ev, size_t n, int64_t id)
{
	size_t i = 0;

	while (i < n && ev[i].id != id)
		i++;
	return i;
}

static void count_handled(struct soc *s, const struct batch_alert *b,
			  struct soc_replay_stats *st)
{
	count(s, b->res);
	if (!st)
		return;
	st->alerts++;
	st->created += b->res == RES_CREATED;
	st->linked += b->res == RES_LINKED;
	st->suppressed += b->res == RES_SUPPRESSED;
	st->failed += b->res == RES_FAILED;
}

/*
 * Everything the engine does with the stored alerts b[0..n) (n <= BATCH_MAX): grouped
 * together (phase one), their incidents evaluated together, each once (phase two), then
 * each alert's terminal, copies and related incidents; each counted, its failure logged.
 * now_ns: the replay's clock, 0 for the wall clock. 0, or the first error.
 */
static int handle_batch(struct soc *s, struct batch_alert *b, size_t n, int64_t now_ns,
			struct soc_replay_stats *st, struct err *e)
{
	struct evaluation ev[BATCH_MAX];
	size_t which[BATCH_MAX], k = 0;
	struct err why = ERR_INIT;
	int first = group_batch(s, b, n, clock_of(now_ns), e);

	for (size_t i = 0; i < n; i++) {
		if (!in_incident(&b[i]))
			continue;
		if ((which[i] = eval_index(ev, k, b[i].incident)) == k)
			ev[k++] = (struct evaluation){
				.tenant = b[i].a.tenant, .id = b[i].incident,
				.detected_ns = s->threaded ? b[i].a.detected_ns : 0,
			};
	}
	keep_first(evaluate_batch(s, ev, k, &s->held, clock_of(now_ns), &why), &why, &first, e);
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (!in_incident(&b[i]) || !(rc = ev[which[i]].rc))
			continue;
		err_set(&why, rc, "alert %lld of tenant '%s': its incident %lld %s",
			(long long)b[i].p.id, b[i].p.tenant, (long long)b[i].incident,
			rc == -ENOENT ? "was purged before its decision" : "was not evaluated");
		log_error("%s", why.msg);
		keep_first(rc, &why, &first, e);
		b[i].res = RES_FAILED;
	}
	after_decisions(s, b, n, now_ns);
	for (size_t i = 0; st && i < k; i++)
		st->evaluations += ev[i].rc == 0;
	for (size_t i = 0; i < n; i++) {
		/* an alert that could not be read is left to the catch-up scan while no later one is handled */
		if ((b[i].loaded || b[i].gone) && b[i].p.id > s->handled_max)
			s->handled_max = b[i].p.id;
		if (!b[i].gone)
			count_handled(s, &b[i], st);
	}
	arena_clear(&s->held);
	return first;
}

static int pending_cmp(const void *pa, const void *pb)
{
	const struct pending *x = pa, *y = pb;

	if (x->at_ns != y->at_ns)
		return x->at_ns < y->at_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* replay: the re-evaluation at index i alone, at its own time */
static int run_one_recheck(struct soc *s, size_t i, struct soc_replay_stats *st,
			   struct err *e)
{
	struct recheck r;

	recheck_take(s, i, &r);
	return run_rechecks(s, &r, 1, r.at_ns, st, e);
}

int soc_replay(struct soc *s, int64_t after_id, struct soc_replay_stats *st, struct err *e)
{
	struct pending_list l = { 0 };
	struct soc_replay_stats none;
	struct err why = ERR_INIT;
	int64_t last = 0; /* the last alert's time: the SLA clocks are checked then */
	int first = 0, rc;

	if (!st)
		st = &none;
	*st = (struct soc_replay_stats){ 0 };
	if ((rc = read_pending(s, after_id, 0, &l, e)) < 0) {
		mem_free(l.v);
		return rc;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), pending_cmp);
	for (size_t i = 0; i < l.n; i++) {
		ssize_t due;

		/* the evidence windows that closed before this alert, at their own times */
		while ((due = recheck_due(s, l.v[i].at_ns)) >= 0)
			keep_first(run_one_recheck(s, (size_t)due, st, &why), &why, &first, e);
		struct batch_alert b = { .p = l.v[i] };

		keep_first(handle_batch(s, &b, 1, l.v[i].at_ns, st, &why), &why, &first, e);
		last = MAX(last, l.v[i].at_ns);
	}
	mem_free(l.v);
	/* then every window still open, each at its end: the replay's final levels */
	for (ssize_t due; (due = recheck_due(s, INT64_MAX)) >= 0;)
		keep_first(run_one_recheck(s, (size_t)due, st, &why), &why, &first, e);
	if (last && s->sla)
		keep_first(sla_check(s->sla, s->meta, last, NULL, NULL, &why), &why, &first, e);
	return first;
}

/* ---- the thread (serve) ---- */

/* Alerts stored but not handled: another process's, or dropped from the full queue. */
static void catch_up(struct soc *s, int64_t now_ns)
{
	struct batch_alert b[BATCH_MAX];
	struct pending_list l = { 0 };
	struct err e = ERR_INIT;

	if (read_pending(s, s->handled_max, now_ns - s->window_ns, &l, &e) < 0)
		log_error("catch-up scan of unhandled alerts failed (the next one tries again): %s",
			  e.msg);
	for (size_t i = 0; i < l.n;) {
		size_t n = 0;

		for (; i < l.n && n < BATCH_MAX; i++)
			b[n++] = (struct batch_alert){ .p = l.v[i] };
		err_clear(&e);
		(void)handle_batch(s, b, n, 0, NULL, &e); /* counted, logged */
	}
	mem_free(l.v);
}

static void tick(struct soc *s, int64_t now_ns)
{
	struct err e = ERR_INIT;

	store_release_idle(s->store); /* no erased tenant's segment stays mapped */
	catch_up(s, now_ns);
	if (s->sla && sla_check(s->sla, s->meta, now_ns, NULL, NULL, &e) < 0)
		log_error("SLA check failed (the next one tries again): %s", e.msg);
}

/* At most max of the re-evaluations due at by_ns, oldest first, BATCH_MAX at a time. */
static void run_due(struct soc *s, int64_t by_ns, size_t max)
{
	struct recheck r[BATCH_MAX];
	struct err e = ERR_INIT;

	while (max) {
		size_t n = 0;
		ssize_t due;

		while (n < MIN(max, BATCH_MAX) && (due = recheck_due(s, by_ns)) >= 0)
			recheck_take(s, (size_t)due, &r[n++]);
		if (!n)
			return;
		max -= n;
		(void)run_rechecks(s, r, n, time_now_ns(), NULL, &e); /* logged */
		err_clear(&e);
	}
}

/* The next wake-up: the tick, or an earlier re-evaluation. */
static int64_t next_wake(const struct soc *s, int64_t next_tick)
{
	int64_t at = next_tick;

	for (size_t i = 0; i < s->n_rechecks; i++)
		at = MIN(at, s->rechecks[i].at_ns);
	return at;
}

static void wait_until(struct soc *s, int64_t wall_ns)
{
	int64_t left = wall_ns - time_now_ns();
	struct timespec until;

	if (left <= 0)
		return;
	until = time_after(CLOCK_MONOTONIC, left);
	pthread_cond_timedwait(&s->wake, &s->lock, &until);
}

/*
 * Takes up to BATCH_MAX queued alerts into b (lock held), leaving out those the catch-up
 * scan handled already; how many.
 */
static size_t take_queued(struct soc *s, struct batch_alert *b)
{
	size_t n = 0;

	while (s->queued && n < BATCH_MAX) {
		const struct job *j = &s->ring[s->head];

		if (j->id > s->handled_max) {
			b[n] = (struct batch_alert){ .p.id = j->id };
			snprintf(b[n].p.tenant, sizeof(b[n].p.tenant), "%s", j->tenant);
			n++;
		}
		s->head = (s->head + 1) % s->cap;
		s->queued--;
	}
	return n;
}

struct open_scan {
	struct soc *s;
	int64_t now_ns;
};

static void schedule_open(void *ctx, const struct meta_incident *inc)
{
	struct open_scan *o = ctx;

	recheck_set(o->s, inc->tenant, inc->id, o->now_ns);
}

/* At start: every open incident is evaluated again (evidence may have come meanwhile). */
static void schedule_open_incidents(struct soc *s)
{
	const struct meta_incident_filter f = { .status = "open", .min_level = -2,
						.limit = META_INCIDENT_LIST_MAX };
	struct open_scan o = { s, time_now_ns() };
	struct err e = ERR_INIT;

	if (meta_incident_list(s->meta, NULL, &f, schedule_open, &o, &e) < 0)
		log_error("open incidents not evaluated again at start: %s", e.msg);
}

static void *soc_main(void *arg)
{
	struct batch_alert batch[BATCH_MAX];
	struct soc *s = arg;
	int64_t next_tick = 0; /* at start: the catch-up of what came while koban was down */

	schedule_open_incidents(s);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		int64_t now = time_now_ns();

		if (now >= next_tick || s->lost) {
			s->lost = false;
			next_tick = now + TICK_NS;
			pthread_mutex_unlock(&s->lock);
			tick(s, now);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->queued) {
			size_t n = take_queued(s, batch);
			struct err e = ERR_INIT;

			pthread_mutex_unlock(&s->lock);
			(void)handle_batch(s, batch, n, 0, NULL, &e); /* counted, logged */
			/*
			 * New alerts first (their first decision is due within a second): one
			 * due re-evaluation for each alert handled, and every one already
			 * RECHECK_OVERDUE_NS late, so that under a lasting queue none falls
			 * further behind; the rest when the queue is empty.
			 */
			run_due(s, time_now_ns(), MAX(n, 1));
			run_due(s, time_now_ns() - RECHECK_OVERDUE_NS, SIZE_MAX);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->lock);
		run_due(s, time_now_ns(), SIZE_MAX);
		pthread_mutex_lock(&s->lock);
		if (!s->queued && !s->stop && !s->lost)
			wait_until(s, next_wake(s, next_tick));
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void soc_alert_stored(void *ctx, const struct meta_alert *a)
{
	struct soc *s = ctx;
	struct job *j;

	pthread_mutex_lock(&s->lock);
	if (s->queued == s->cap) {
		s->lost = true; /* the catch-up scan picks it up */
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		count(s, RES_DROPPED);
		return;
	}
	j = &s->ring[(s->head + s->queued) % s->cap];
	j->id = a->id;
	snprintf(j->tenant, sizeof(j->tenant), "%s", a->tenant);
	s->queued++;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* ---- metrics ---- */

static int collect_incidents(struct metrics_out *o, void *ctx)
{
	struct soc *s = ctx;
	int rc = 0;

	pthread_mutex_lock(&s->count_lock);
	for (size_t i = 0; i < s->n_levels && !rc; i++)
		for (int l = 0; l < 4 && !rc; l++) {
			char level[4];

			snprintf(level, sizeof(level), "%d", l);
			if (s->levels[i].n[l])
				rc = metrics_sample(o, s->levels[i].n[l], "tenant",
						    s->levels[i].tenant, "level", level, NULL);
		}
	pthread_mutex_unlock(&s->count_lock);
	return rc;
}

static int collect_alerts(struct metrics_out *o, void *ctx)
{
	struct soc *s = ctx;
	int rc = 0;

	for (int r = 0; r < RESULTS && !rc; r++)
		rc = metrics_sample(o, atomic_load_explicit(&s->results[r], memory_order_relaxed),
				    "result", result_names[r], NULL);
	return rc;
}

static int collect_stages(struct metrics_out *o, void *ctx)
{
	struct soc *s = ctx;
	int rc = 0;

	for (int k = 0; k < STAGES && !rc; k++)
		rc = metrics_sample(o, atomic_load_explicit(&s->stage_failed[k],
							    memory_order_relaxed),
				    "stage", stage_names[k], NULL);
	return rc;
}

static int collect_queue(struct metrics_out *o, void *ctx)
{
	struct soc *s = ctx;
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->queued;
	pthread_mutex_unlock(&s->lock);
	return metrics_sample(o, n, NULL);
}

static int collect_decisions(struct metrics_out *o, void *ctx)
{
	struct soc *s = ctx;
	uint64_t counts[DECISION_BUCKETS + 1];
	double sum;

	pthread_mutex_lock(&s->count_lock);
	memcpy(counts, s->decisions, sizeof(counts));
	sum = s->decision_sum;
	pthread_mutex_unlock(&s->count_lock);
	return metrics_sample_histogram(o, decision_bounds, counts, DECISION_BUCKETS, sum, NULL);
}

static int register_metrics(struct soc *s, struct err *e)
{
	static const struct metrics_family fams[] = {
		{ "koban_incidents_total", METRICS_COUNTER,
		  "Incidents that reached a level (0-3), by tenant: the first decision and every "
		  "change count once.", collect_incidents },
		{ "koban_soc_alerts_total", METRICS_COUNTER,
		  "Alerts the SOC engine took, by result: linked to an open incident, created "
		  "one, suppressed, dropped from the full queue (handled later by the catch-up "
		  "scan), failed.", collect_alerts },
		{ "koban_soc_failed_total", METRICS_COUNTER,
		  "Steps of an alert's handling that failed (logged with the reason), by stage: "
		  "terminal (the incident has no terminal), evidence (its events were not "
		  "copied).", collect_stages },
		{ "koban_soc_queue", METRICS_GAUGE, "Stored alerts waiting for the SOC engine.",
		  collect_queue },
		{ "koban_soc_decision_seconds", METRICS_HISTOGRAM,
		  "From an alert's detection to its incident's first level decision.",
		  collect_decisions },
	};
	const char *failed = NULL;
	int rc = metrics_register_families(fams, ARRAY_SIZE(fams), s, &failed);

	if (rc < 0)
		return err_set(e, rc, "cannot register %s: %s", failed ? failed : "the metrics",
			       strerror(-rc));
	s->metrics = true;
	return 0;
}

/* ---- life cycle ---- */

/* Copies of a list of strings into the arena. */
static const char *const *copy_strings(struct arena *a, char *const *v, size_t n)
{
	const char **out = arena_alloc(a, (n ? n : 1) * sizeof(*out));

	for (size_t i = 0; out && i < n; i++)
		if (!(out[i] = copy_text(a, v[i])))
			return NULL;
	return out;
}

/* soc.window and soc.grouping, copied: the configuration may be replaced meanwhile. */
static int configure(struct soc *s, const struct config *cfg, struct err *e)
{
	const struct config_soc_engine *se = &cfg->soc_engine;

	s->window_ns = se->window ? (int64_t)se->window * NS_PER_SEC : SOC_WINDOW_DEFAULT_NS;
	if (!se->n_grouping)
		return 0;
	if (!(s->groupings = arena_alloc(&s->conf, se->n_grouping * sizeof(*s->groupings))))
		return err_set(e, -ENOMEM, "soc: out of memory");
	for (size_t i = 0; i < se->n_grouping; i++) {
		const struct config_soc_grouping *g = &se->grouping[i];
		struct soc_grouping *to = &s->groupings[i];

		to->n_match = g->n_match;
		to->n_keys = g->n_keys;
		if (!(to->match = copy_strings(&s->conf, g->match, g->n_match)) ||
		    !(to->keys = copy_strings(&s->conf, g->keys, g->n_keys)))
			return err_set(e, -ENOMEM, "soc: out of memory");
	}
	s->n_groupings = se->n_grouping;
	return 0;
}

static int start_thread(struct soc *s, struct err *e)
{
	int rc;

	if (!(s->ring = mem_calloc(SOC_QUEUE_DEFAULT, sizeof(*s->ring))))
		return err_set(e, -ENOMEM, "out of memory");
	s->cap = SOC_QUEUE_DEFAULT;
	/* what an earlier run handled: the catch-up starts after the last alert linked */
	if ((rc = meta_soc_last_alert(s->meta, true, &s->handled_max, e)) < 0)
		return rc;
	if ((rc = pthread_create(&s->thread, NULL, soc_main, s)) != 0)
		return err_set(e, -rc, "cannot start the SOC thread: %s", strerror(rc));
	pthread_setname_np(s->thread, "koban-soc");
	s->started = true;
	return 0;
}

int soc_new(struct soc **out, const struct soc_config *c, struct err *e)
{
	const struct config *cfg = c->cfg;
	struct triage_config tc = {
		.rules_dir = cfg->soc_triage_rules, .data_dir = cfg->data_dir, .store = c->store,
		.window_ns = (int64_t)cfg->soc_triage_window * NS_PER_SEC,
	};
	pthread_condattr_t ca;
	struct soc *s;
	int rc;

	*out = NULL;
	if (!(s = mem_calloc(1, sizeof(*s))) ||
	    !(s->levels = mem_calloc(COUNT_TENANTS_MAX, sizeof(*s->levels))) ||
	    !(s->rechecks = mem_calloc(RECHECKS_MAX, sizeof(*s->rechecks)))) {
		if (s)
			mem_free(s->levels);
		mem_free(s);
		return err_set(e, -ENOMEM, "soc: out of memory");
	}
	s->store = c->store;
	s->threaded = c->threaded;
	s->level_decided = c->level_decided;
	s->level_ctx = c->level_ctx;
	arena_init(&s->work, 1 << 16, ARENA_MAX);
	arena_init(&s->held, 1 << 16, ARENA_MAX);
	arena_init(&s->related, 1 << 16, ARENA_MAX);
	arena_init(&s->conf, 4096, 1 << 20);
	buf_init(&s->key, 2 * SOC_GROUP_KEY_MAX);
	buf_init(&s->text, (size_t)16 << 20);
	for (int r = 0; r < RESULTS; r++)
		atomic_init(&s->results[r], 0);
	for (int k = 0; k < STAGES; k++)
		atomic_init(&s->stage_failed[k], 0);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->count_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = configure(s, cfg, e)) < 0 || (rc = meta_open(&s->meta, cfg->data_dir, e)) < 0 ||
	    (rc = triage_new(&s->triage, &tc, e)) < 0 ||
	    (rc = sla_new(&s->sla, cfg, c->metrics, e)) < 0 ||
	    (rc = firstreport_new(&s->report, cfg->soc_report_templates, e)) < 0)
		goto fail;
	if (c->metrics && ((rc = register_metrics(s, e)) < 0 ||
			   (rc = triage_metrics_register(s->triage, e)) < 0))
		goto fail;
	/* serve: the engine's commits never stall on copying koban.db's WAL back */
	if (c->threaded && (rc = meta_checkpointer_start(&s->ckpt, cfg->data_dir, NS_PER_SEC,
							 e)) < 0)
		goto fail;
	if (c->threaded)
		meta_autocheckpoint(s->meta, false);
	if (c->threaded && (rc = start_thread(s, e)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	soc_free(s);
	return rc;
}

const struct sla *soc_sla(const struct soc *s)
{
	return s->sla;
}

void soc_free(struct soc *s)
{
	if (!s)
		return;
	if (s->metrics)
		metrics_unregister(s); /* first: a scrape may be reading s */
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL); /* it handles what is queued before it ends */
	}
	meta_checkpointer_stop(s->ckpt);
	firstreport_free(s->report);
	sla_free(s->sla);
	triage_free(s->triage);
	meta_close(s->meta);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->count_lock);
	pthread_mutex_destroy(&s->lock);
	buf_release(&s->text);
	buf_release(&s->key);
	arena_release(&s->conf);
	arena_release(&s->work);
	arena_release(&s->held);
	arena_release(&s->related);
	mem_free(s->ring);
	mem_free(s->rechecks);
	mem_free(s->levels);
	mem_free(s);
}
