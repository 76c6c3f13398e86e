#include "detect/detect.h"
#include "core/compat.h"

#define LOG_MODULE "detect"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "detect/bundled.h"
#include "detect/correl.h"
#include "detect/fieldmap.h"
#include "detect/litset.h"
#include "detect/rulepolicy.h"
#include "detect/sigma.h"
#include "detect/travel.h"
#include "enrich/timatch.h"
#include "parse/decoder.h"
#include "parse/ecs.h"
#include "pipeline/pipeline.h"
#include "soc/alert.h"
#include "store/meta.h"

#define GROUPS_MAX 256                   /* distinct event logsources of one rule set */
#define FIELD_BITS (FIELD_COUNT + FIELD_DYNAMIC_MAX)
#define JSON_MAX ((size_t)1 << 20)       /* an event's JSON kept with an alert */
#define QUEUE_MAX 65536                  /* records waiting for the correlation engine */
#define QUEUE_BYTES ((size_t)64 << 20)
#define REMEMBER_MAX 65536               /* events remembered for correlation alerts */
#define REMEMBER_BYTES ((size_t)64 << 20)
#define STATE_DIR "detect"
#define STATE_FILE "correlation.state"
#define STATE_INTERVAL_NS (60 * NS_PER_SEC)
#define ARENA_MAX ((size_t)64 << 20)
#define WORKERS_MAX 1024
#define SCAN_BATCH ((size_t)64 << 10)  /* texts scanned in one multi-pattern call */
#define GROUP_HINTS 8 /* (source, dataset) pairs a worker remembers: a mixed batch */

/* ---- one loaded rule set ---------------------------------------------------------------- */

struct rule_info {
	const struct sigma_rule *r;
	int input;     /* the correlation engine's handle, -1: no correlation reads the rule */
	bool silenced; /* every correlation reading it says generate: false */
	bool default_on; /* not named by detect.disable (a tenant's policy may still say) */
	int level;     /* index into levels[] */
};

/* The rules that apply to one event logsource, and their multi-pattern pass. */
struct group {
	char *ls[3];              /* category, product, service; NULL: absent */
	bool all;                 /* every rule, whatever its logsource (rule test's JSON) */
	uint32_t *cand;           /* rule indices: litset id i is cand[i] */
	size_t n_cand;
	uint32_t *always;         /* rules without literals: always evaluated */
	size_t n_always;
	uint8_t *scan;            /* FIELD_BITS bits: fields whose values are scanned */
	bool keywords;            /* some literal is for the keyword text */
	struct litset *lits;      /* NULL when n_cand is 0 */
	struct litset_scratch **sc; /* one per worker */
};

/* A tenant's tuning filter of a rule: matches of the rule that it matches are left out. */
struct tune {
	const char *tenant, *rule; /* the policy set's strings */
	const struct sigma_rule *filter;
};

struct logsource_entry {
	char *source;
	char *ls[3];
};

struct ruleset {
	uint64_t gen;              /* 1 for the first set, one more for each reload */
	struct fieldmap *map;
	struct sigma_set *set;
	struct detect_correlations parsed; /* until handed to the engine */
	struct correl_engine *correl;
	struct rule_info *rules;
	size_t n_rules;
	struct sigma_scratch **sc; /* one per worker */
	struct logsource_entry *sources; /* config logsources, copied */
	size_t n_sources;
	struct detect_counts counts;
	/* the tenants' rule policy (koban rule enable|disable|tune), NULL: none */
	struct rulepolicy_set *policy;
	struct sigma_set *tunes;   /* the tuning filters, compiled as rules of their own */
	struct tune *tune;         /* by tenant, then rule */
	size_t n_tune;
	struct sigma_scratch **tune_sc; /* one per worker */
	pthread_mutex_t lock;      /* adding groups */
	struct group *groups[GROUPS_MAX];
	_Atomic size_t n_groups;
	_Atomic(struct group *) all; /* every rule: built when an event without origin comes */
};

/* ---- the stage ------------------------------------------------------------------------- */

/* A match on its way to the correlation engine. */
struct record {
	struct record *next;
	uint64_t ref;
	int input;
	uint64_t gen;         /* the set the input handle belongs to */
	size_t tenant_len, json_len;
	char data[];          /* tenant, NUL, json */
};

/* An event remembered (its JSON) for the correlation alerts that count it. */
struct memo {
	uint64_t ref;
	size_t len;
	char *json;
};

/* An event group found for a (source, dataset): the next such event skips the search. */
struct group_hint {
	const char *source;
	char dataset[64];
	size_t len;
	struct group *g; /* NULL: an unused hint */
};

struct worker {
	_Atomic(struct ruleset *) active; /* the set in use (a hazard pointer for reload) */
	/*
	 * The current event's JSON, a NUL, its key fields' JSON, a NUL (event_texts): made once
	 * per event however many rules it matches; texts_made false until then.
	 */
	struct buf json;
	bool texts_made;
	int json_rc, keys_rc;             /* 0, or why that text could not be made */
	size_t json_len, keys_at;
	struct buf scan;                  /* the texts of one event's multi-pattern pass */
	uint64_t seq;
	/*
	 * The groups of the last datasets and sources seen, valid for rule set hints_gen (a
	 * number, not the set's address: a new set may reuse the address of one freed).
	 */
	uint64_t hints_gen;
	struct group_hint hints[GROUP_HINTS];
	unsigned next_hint;
};

static const char *const levels[] = { "informational", "low", "medium", "high", "critical", "" };
#define N_LEVELS (sizeof(levels) / sizeof(levels[0]))

enum suppress_reason { SUPPRESS_DISABLED, SUPPRESS_TUNED, SUPPRESS_N };
static const char *const suppress_names[SUPPRESS_N] = { "disabled", "tuned" };

enum drop_reason { DROP_QUEUE_FULL, DROP_NO_MEMORY, DROP_TOO_LARGE, DROP_DECODE, DROP_RELOAD,
		   DROP_N };
static const char *const drop_names[DROP_N] = { "queue_full", "no_memory", "too_large",
						 "decode", "reload" };

struct detect {
	struct detect_config cfg;
	char *data_dir;
	_Atomic(struct ruleset *) rs;
	uint64_t generation;         /* of the last set loaded (main thread) */
	_Atomic size_t loaded;       /* rules and correlations of rs, for the metrics thread */
	struct worker *w;
	/* the correlation side: one thread (or the caller, inline) */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct record *qhead, *qtail;
	size_t qcount, qbytes;
	bool stopping, thread_started;
	pthread_t thread;
	pthread_mutex_t correl_lock; /* the engine: the thread, reload and stop */
	struct arena arena;          /* the record's event, decoded again */
	struct memo *memo;           /* ring of REMEMBER_MAX */
	size_t memo_head, memo_count, memo_bytes;
	uint64_t feed_seq;           /* references of remembered events */
	int64_t last_state_ns;
	_Atomic uint64_t matches[N_LEVELS];
	_Atomic uint64_t dropped[DROP_N];
	_Atomic uint64_t suppressed[SUPPRESS_N];
	struct travel *travel;       /* impossible travel, fed on the correlation side; NULL: off */
};

/* A record's input for the impossible-travel detector rather than a correlation. */
#define INPUT_TRAVEL (-2)

/* ---- loading ---------------------------------------------------------------------------- */

static void report(struct detect *d, const char *file, unsigned line, const char *id,
		   const char *reason)
{
	if (d->cfg.report)
		d->cfg.report(d->cfg.report_ctx, file, line, id, reason);
	else if (line)
		log_warn("%s:%u: %s: %s", file, line, id, reason);
	else
		log_warn("%s: %s: %s", file, id, reason);
}

static void sigma_report(void *ctx, const char *file, unsigned line, const char *id,
			 const char *reason)
{
	report(ctx, file, line, id, reason);
}

/* correl's "FILE:LINE: ID: reason" as the report's parts. */
/* msg past its "FILE:LINE: " (detect/correl's messages start so), else msg itself. */
static const char *after_where(const char *msg, const char *file)
{
	size_t fl = strlen(file);
	char *end;

	if (!strncmp(msg, file, fl) && msg[fl] == ':' && strtoul(msg + fl + 1, &end, 10) &&
	    end[0] == ':' && end[1] == ' ')
		return end + 2;
	return msg;
}

static void correl_report(void *ctx, const struct correl_rule *r, const char *msg)
{
	const char *id = correl_rule_key(r) ? correl_rule_key(r) : "correlation";
	size_t il = strlen(id);

	msg = after_where(msg, r->file);
	if (!strncmp(msg, id, il) && !strncmp(msg + il, ": ", 2))
		msg += il + 2;
	report(ctx, r->file, (unsigned)r->line, id, msg);
}

static int level_index(const char *level)
{
	for (size_t i = 0; i + 1 < N_LEVELS; i++)
		if (!strcmp(level, levels[i]))
			return (int)i;
	return N_LEVELS - 1;
}

static char *dup_or_null(const char *s)
{
	return s ? mem_strdup(s) : NULL;
}

static void group_free(struct group *g, unsigned workers)
{
	if (!g)
		return;
	for (int i = 0; i < 3; i++)
		mem_free(g->ls[i]);
	if (g->sc)
		for (unsigned w = 0; w < workers; w++)
			litset_scratch_free(g->sc[w]);
	mem_free(g->sc);
	litset_free(g->lits);
	mem_free(g->cand);
	mem_free(g->always);
	mem_free(g->scan);
	mem_free(g);
}

static void ruleset_free(struct ruleset *rs, unsigned workers)
{
	if (!rs)
		return;
	for (size_t i = 0; i < atomic_load(&rs->n_groups); i++)
		group_free(rs->groups[i], workers);
	group_free(atomic_load(&rs->all), workers);
	if (rs->sc)
		for (unsigned w = 0; w < workers; w++)
			sigma_scratch_free(rs->sc[w]);
	mem_free(rs->sc);
	for (size_t i = 0; i < rs->n_sources; i++) {
		mem_free(rs->sources[i].source);
		for (int k = 0; k < 3; k++)
			mem_free(rs->sources[i].ls[k]);
	}
	mem_free(rs->sources);
	if (rs->tune_sc)
		for (unsigned w = 0; w < workers; w++)
			sigma_scratch_free(rs->tune_sc[w]);
	mem_free(rs->tune_sc);
	mem_free(rs->tune);
	sigma_set_free(rs->tunes);
	rulepolicy_set_free(rs->policy);
	mem_free(rs->rules);
	correl_engine_free(rs->correl);
	detect_correlations_release(&rs->parsed);
	sigma_set_free(rs->set);
	fieldmap_free(rs->map);
	pthread_mutex_destroy(&rs->lock);
	mem_free(rs);
}

int detect_placeholders(const struct config *c, struct sigma_placeholder **out)
{
	*out = NULL;
	if (!c->n_detect_placeholders)
		return 0;
	if (!(*out = mem_calloc(c->n_detect_placeholders, sizeof(**out))))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_detect_placeholders; i++) {
		(*out)[i].name = c->detect_placeholders[i].name;
		(*out)[i].values = (const char *const *)c->detect_placeholders[i].values;
		(*out)[i].n = c->detect_placeholders[i].n_values;
	}
	return 0;
}

int detect_collect_correlation(void *ctx, struct fy_document *doc, const char *file,
			       unsigned line, struct err *e)
{
	struct detect_correlations *c = ctx;
	struct correl_rule *r = NULL, **v;
	const char *rest;
	int rc;

	(void)line;
	if ((rc = correl_rule_parse(doc, file, &r, e)) < 0) {
		/* the loader's report names the file and the line itself */
		rest = after_where(e->msg, file);
		memmove(e->msg, rest, strlen(rest) + 1);
		return rc;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;

		if (!(v = mem_realloc(c->v, cap * sizeof(*v)))) {
			correl_rule_free(r);
			return err_set(e, -ENOMEM, "out of memory");
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = r;
	return 0;
}

void detect_correlations_release(struct detect_correlations *c)
{
	for (size_t i = 0; i < c->n; i++)
		correl_rule_free(c->v[i]);
	mem_free(c->v);
	*c = (struct detect_correlations){ NULL, 0, 0 };
}

int detect_load_bundled(struct sigma_set *s, struct err *e)
{
	int rc = 0;

	for (size_t i = 0; i < bundled_count() && rc >= 0; i++) {
		const struct bundled_file *f = bundled_at(i);

		rc = sigma_set_load_buffer(s, f->name, (const char *)f->bytes, f->len, e);
	}
	return rc;
}

static int load_rules(struct detect *d, struct ruleset *rs, const struct config *c,
		      struct err *e)
{
	int rc = 0;

	if (!d->cfg.only_paths)
		rc = detect_load_bundled(rs->set, e);
	for (size_t i = 0; !d->cfg.only_paths && i < c->n_detect_rules && rc >= 0; i++)
		rc = sigma_set_load_path(rs->set, c->detect_rules[i], e);
	for (size_t i = 0; i < d->cfg.n_paths && rc >= 0; i++)
		rc = sigma_set_load_path(rs->set, d->cfg.paths[i], e);
	return rc < 0 ? rc : sigma_set_finish(rs->set, e);
}

/* correl_resolve_fn: a correlation's field in the events of the rule being declared. */
struct resolve_ctx {
	struct ruleset *rs;
	const struct sigma_rule *r;
	bool as_given;
};

static int resolve_field(void *ctx, const char *name, struct err *e)
{
	struct resolve_ctx *x = ctx;
	struct sigma_fields f = { x->rs->map, fieldmap_resolve };

	return sigma_field_id(x->as_given ? NULL : &f, sigma_rule_logsource(x->r), name,
			      strlen(name), e);
}

/* Hands the correlations to the engine and tells it which base rules it reads. */
static int link_correlations(struct detect *d, struct ruleset *rs, const struct config *c,
			     struct err *e)
{
	struct correl_config cc = CORREL_CONFIG_INIT;
	struct correl_rule **cr = rs->parsed.v;
	size_t n = rs->parsed.n;
	int rc = 0;

	cc.lateness_ns = (int64_t)c->detect_lateness * NS_PER_SEC;
	cc.max_groups = c->detect_max_groups;
	cc.max_events = c->detect_max_events;
	if ((rc = correl_engine_new(&rs->correl, &cc, e)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc != -ENOMEM; i++) {
		struct correl_rule *r = cr[i];
		struct err ce = ERR_INIT;
		char file[1024];
		int line = r->line;

		snprintf(file, sizeof(file), "%s", r->file); /* r may be gone after the call */
		cr[i] = NULL; /* the engine's from here, also when refused */
		if ((rc = correl_engine_add(rs->correl, r, &ce)) < 0 && rc != -ENOMEM) {
			report(d, file, (unsigned)line, "correlation", ce.msg);
			rs->counts.rejected++;
		}
	}
	if (rc == -ENOMEM)
		return err_set(e, rc, "out of memory");
	for (size_t i = 0; i < rs->n_rules; i++) {
		struct rule_info *ri = &rs->rules[i];
		struct resolve_ctx x = { rs, ri->r, d->cfg.fields_as_given };
		struct err ce = ERR_INIT;

		ri->input = correl_engine_base(rs->correl, sigma_rule_id(ri->r),
					       *sigma_rule_name(ri->r) ? sigma_rule_name(ri->r) : NULL,
					       resolve_field, &x, &ri->silenced, &ce);
		if (ri->input == -ENOMEM)
			return err_set(e, -ENOMEM, "out of memory");
		if (ri->input < 0 && ri->input != -ENOENT)
			report(d, sigma_rule_file(ri->r), sigma_rule_line(ri->r),
			       sigma_rule_id(ri->r), ce.msg);
		if (ri->input < 0)
			ri->input = -1;
	}
	rc = correl_engine_link(rs->correl, correl_report, d);
	if (rc < 0)
		return err_set(e, rc, "out of memory");
	rs->counts.rejected += (size_t)rc;
	return 0;
}

static int copy_logsources(struct ruleset *rs, const struct config *c)
{
	if (!c->n_logsources)
		return 0;
	if (!(rs->sources = mem_calloc(c->n_logsources, sizeof(*rs->sources))))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_logsources; i++) {
		const struct config_logsource *l = &c->logsources[i];
		struct logsource_entry *x = &rs->sources[rs->n_sources++];

		x->source = mem_strdup(l->source);
		x->ls[0] = dup_or_null(l->category);
		x->ls[1] = dup_or_null(l->product);
		x->ls[2] = dup_or_null(l->service);
		if (!x->source || (l->category && !x->ls[0]) || (l->product && !x->ls[1]) ||
		    (l->service && !x->ls[2]))
			return -ENOMEM;
	}
	return 0;
}

static struct group *group_build(struct detect *d, struct ruleset *rs,
				 const char *const ls[3], bool all, struct err *e);
static struct group *group_all(struct detect *d, struct ruleset *rs, struct err *e);

/* ---- the tenants' rule policy ------------------------------------------------------------ */

#define TUNE_TEXT_MAX (80u << 10)
#define TUNE_ID_MAX 600

/* "TENANT/RULE": a tenant name has no '/', so the id names both. Its length. */
static size_t tune_id(char out[TUNE_ID_MAX], const char *tenant, const char *rule)
{
	int n = snprintf(out, TUNE_ID_MAX, "%s/%s", tenant, rule);

	return n < 0 ? 0 : (size_t)n < TUNE_ID_MAX ? (size_t)n : TUNE_ID_MAX - 1;
}

/*
 * A tuning filter as a rule document of its own, with the tuned rule's logsource (its field
 * names resolve as the rule's do) and an id naming the tenant and the rule.
 */
static int tune_document(const struct rulepolicy_entry *en, const struct sigma_rule *r,
			 struct buf *b)
{
	static const char *const keys[] = { "category", "product", "service" };
	const struct sigma_logsource *ls = sigma_rule_logsource(r);
	const char *vals[] = { ls->category, ls->product, ls->service };
	char id[TUNE_ID_MAX];
	int rc = buf_adds(b, "title: tuning\nid: ");

	rc = err_first(rc, json_add_string(b, id, tune_id(id, en->tenant, en->rule)));
	rc = err_first(rc, buf_adds(b, "\nlogsource: {"));
	for (size_t k = 0; k < 3; k++)
		if (vals[k]) {
			rc = err_first(rc, buf_addf(b, "%s: ", keys[k]));
			rc = err_first(rc, json_add_string(b, vals[k], strlen(vals[k])));
			rc = err_first(rc, buf_adds(b, ", "));
		}
	rc = err_first(rc, buf_adds(b, "}\ndetection:\n  "));
	for (const char *p = en->filter; *p && rc >= 0; p++) /* indented under detection */
		rc = *p == '\n' && p[1] ? buf_adds(b, "\n  ") : buf_addch(b, *p);
	return err_first(rc, buf_addch(b, '\n'));
}

struct tune_load {
	struct detect *d;
	struct ruleset *rs;
	struct buf text;
	struct err *e;
};

static int tune_add(void *ctx, const struct rulepolicy_entry *en)
{
	struct tune_load *tl = ctx;
	struct ruleset *rs = tl->rs;
	const struct sigma_rule *r = en->filter ? sigma_set_find(rs->set, en->rule) : NULL;
	char name[600];
	int rc;

	if (!r) /* not tuned, or a rule not loaded: nothing to compile */
		return 0;
	buf_reset(&tl->text);
	if ((rc = tune_document(en, r, &tl->text)) < 0)
		return err_set(tl->e, rc, "tuning of %s for %s: too large", en->rule, en->tenant);
	snprintf(name, sizeof(name), "tuning of %s for tenant %s", en->rule, en->tenant);
	if ((rc = sigma_set_load_buffer(rs->tunes, name, tl->text.p, tl->text.len, tl->e)) < 0)
		return rc;
	rs->tune[rs->n_tune++] = (struct tune){ en->tenant, en->rule, NULL };
	return 0;
}

/* Every tuning filter compiled; one that does not compile is reported and not applied. */
static int load_policy(struct detect *d, struct ruleset *rs, const struct sigma_options *opt,
		       struct err *e)
{
	struct tune_load tl = { d, rs, BUF_INIT(TUNE_TEXT_MAX), e };
	size_t n = 0;
	int rc;

	if (!d->cfg.meta)
		return 0;
	if ((rc = rulepolicy_set_load(&rs->policy, d->cfg.meta, e)) < 0 ||
	    (rc = sigma_set_new(&rs->tunes, opt)) < 0)
		return rc == -ENOMEM ? err_set(e, rc, "out of memory") : rc;
	rs->tune = mem_calloc(rulepolicy_set_count(rs->policy) + 1, sizeof(*rs->tune));
	rs->tune_sc = mem_calloc(d->cfg.workers, sizeof(*rs->tune_sc));
	if (!rs->tune || !rs->tune_sc)
		return err_set(e, -ENOMEM, "out of memory");
	rc = rulepolicy_set_each(rs->policy, tune_add, &tl);
	buf_release(&tl.text);
	if (rc < 0 || (rc = sigma_set_finish(rs->tunes, e)) < 0)
		return rc;
	for (size_t i = 0; i < rs->n_tune; i++) { /* the filters that compiled */
		char id[TUNE_ID_MAX];
		const struct sigma_rule *f;

		tune_id(id, rs->tune[i].tenant, rs->tune[i].rule);
		if ((f = sigma_set_find(rs->tunes, id)))
			rs->tune[n++] = (struct tune){ rs->tune[i].tenant, rs->tune[i].rule, f };
	}
	rs->n_tune = n;
	for (unsigned w = 0; w < d->cfg.workers; w++)
		if ((rc = sigma_scratch_new(&rs->tune_sc[w], rs->tunes)) < 0)
			return err_set(e, rc, "out of memory");
	return 0;
}

static int tune_cmp(const char *tenant, const char *rule, const struct tune *t)
{
	int c = strcmp(tenant, t->tenant);

	return c ? c : strcmp(rule, t->rule);
}

static const struct tune *tune_find(const struct ruleset *rs, const char *tenant,
				    const char *rule)
{
	size_t lo = 0, hi = rs->n_tune;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = tune_cmp(tenant, rule, &rs->tune[mid]);

		if (!c)
			return &rs->tune[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Whether the tenant's policy lets this match of the rule count (counted when not). */
static bool policy_allows(struct detect *d, struct ruleset *rs, unsigned worker,
			  const struct rule_info *ri, const char *tenant, const struct event *ev)
{
	const char *id = sigma_rule_id(ri->r);
	const struct tune *t;

	if (!rs->policy ? !ri->default_on
			: !rulepolicy_set_enabled(rs->policy, tenant, id, ri->default_on)) {
		atomic_fetch_add_explicit(&d->suppressed[SUPPRESS_DISABLED], 1, memory_order_relaxed);
		return false;
	}
	if (rs->policy && (t = tune_find(rs, tenant, id)) && sigma_rule_match(t->filter, ev, rs->tune_sc[worker])) {
		atomic_fetch_add_explicit(&d->suppressed[SUPPRESS_TUNED], 1, memory_order_relaxed);
		return false;
	}
	return true;
}

/* Whether list names the rule by its id or its name. */
static bool named_by(char *const *list, size_t n, const struct sigma_rule *r)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], sigma_rule_id(r)) || !strcmp(list[i], sigma_rule_name(r)))
			return true;
	return false;
}

static int ruleset_load(struct detect *d, const struct config *c, struct ruleset **out,
			struct err *e)
{
	struct sigma_placeholder *ph = NULL;
	struct sigma_fields fields = { NULL, fieldmap_resolve };
	struct sigma_options opt = { /* detect.disable: loaded, off unless a tenant enables */
		.fields = &fields,
		.report = sigma_report,
		.report_ctx = d,
	};
	struct ruleset *rs = mem_calloc(1, sizeof(*rs));
	struct sigma_counts k;
	int rc;

	if (!rs)
		return err_set(e, -ENOMEM, "out of memory");
	rs->gen = ++d->generation;
	pthread_mutex_init(&rs->lock, NULL);
	if ((rc = fieldmap_new(&rs->map)) < 0 || (rc = detect_placeholders(c, &ph)) < 0 ||
	    (rc = copy_logsources(rs, c)) < 0) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = fieldmap_load_bundled(rs->map, e)) < 0)
		goto fail;
	fields.ctx = rs->map;
	opt.correlation = detect_collect_correlation;
	opt.correlation_ctx = &rs->parsed;
	if (d->cfg.fields_as_given)
		opt.fields = NULL;
	opt.placeholders = ph;
	opt.n_placeholders = c->n_detect_placeholders;
	if ((rc = sigma_set_new(&rs->set, &opt)) < 0) {
		rc = err_set(e, rc, "out of memory");
		goto fail;
	}
	if ((rc = load_rules(d, rs, c, e)) < 0)
		goto fail;
	rs->n_rules = sigma_set_size(rs->set);
	rs->rules = mem_calloc(rs->n_rules ? rs->n_rules : 1, sizeof(*rs->rules));
	rs->sc = mem_calloc(d->cfg.workers, sizeof(*rs->sc));
	if (!rs->rules || !rs->sc) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	sigma_set_counts(rs->set, &k);
	rs->counts = (struct detect_counts){ k.rules, k.correlations, k.filters, k.rejected, 0 };
	for (size_t i = 0; i < rs->n_rules; i++) {
		rs->rules[i].r = sigma_set_rule(rs->set, i);
		rs->rules[i].level = level_index(sigma_rule_level(rs->rules[i].r));
		rs->rules[i].default_on = !named_by(c->detect_disable, c->n_detect_disable,
						    rs->rules[i].r);
		rs->counts.disabled += !rs->rules[i].default_on;
	}
	for (unsigned w = 0; w < d->cfg.workers; w++)
		if ((rc = sigma_scratch_new(&rs->sc[w], rs->set)) < 0) {
			rc = err_set(e, rc, "out of memory");
			goto fail;
		}
	if ((rc = link_correlations(d, rs, c, e)) < 0 || (rc = load_policy(d, rs, &opt, e)) < 0)
		goto fail;
	if (d->cfg.fields_as_given && !group_all(d, rs, e)) { /* rule test's JSON events */
		rc = e->code < 0 ? e->code : -ENOMEM;
		goto fail;
	}
	mem_free(ph);
	*out = rs;
	return 0;
fail:
	mem_free(ph);
	ruleset_free(rs, d->cfg.workers);
	return rc;
}

/* ---- groups: the rules of one logsource and their literals ------------------------------- */

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static int group_add_rule(struct group *g, struct ruleset *rs, uint32_t i,
			  struct litset_literal **lits, size_t *n_lits, size_t *cap)
{
	const struct sigma_literal *sl;
	size_t n = sigma_rule_literals(rs->rules[i].r, &sl);

	if (!n) {
		g->always[g->n_always++] = i;
		return 0;
	}
	if (*n_lits + n > *cap) {
		size_t c = (*cap ? *cap * 2 : 256) + n;
		struct litset_literal *v = mem_realloc(*lits, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		*lits = v;
		*cap = c;
	}
	for (size_t k = 0; k < n; k++) {
		(*lits)[(*n_lits)++] = (struct litset_literal){ sl[k].s, sl[k].len,
								(uint32_t)g->n_cand,
								sl[k].cased ? 0 : LITSET_CASELESS };
		if (sl[k].field == SIGMA_ANY_FIELD)
			g->keywords = true;
		else if ((unsigned)sl[k].field < FIELD_BITS)
			g->scan[(unsigned)sl[k].field / 8] |= (uint8_t)(1u << (sl[k].field % 8));
	}
	g->cand[g->n_cand++] = i;
	return 0;
}

static struct group *group_build(struct detect *d, struct ruleset *rs,
				 const char *const ls[3], bool all, struct err *e)
{
	struct sigma_logsource sl = { ls[0], ls[1], ls[2] };
	struct group *g = mem_calloc(1, sizeof(*g));
	struct litset_literal *lits = NULL;
	size_t n_lits = 0, cap = 0;
	int rc = -ENOMEM;

	if (!g)
		goto fail;
	g->all = all;
	for (int k = 0; k < 3; k++)
		if (ls[k] && !(g->ls[k] = mem_strdup(ls[k])))
			goto fail;
	g->cand = mem_calloc(rs->n_rules + 1, sizeof(*g->cand));
	g->always = mem_calloc(rs->n_rules + 1, sizeof(*g->always));
	g->scan = mem_calloc(FIELD_BITS / 8 + 1, 1);
	g->sc = mem_calloc(d->cfg.workers, sizeof(*g->sc));
	if (!g->cand || !g->always || !g->scan || !g->sc)
		goto fail;
	for (size_t i = 0; i < rs->n_rules; i++)
		if ((all || sigma_rule_applies(rs->rules[i].r, &sl)) &&
		    (rc = group_add_rule(g, rs, (uint32_t)i, &lits, &n_lits, &cap)) < 0)
			goto fail;
	if (g->n_cand) {
		if ((rc = litset_new(&g->lits, lits, n_lits, LITSET_ENGINE_AUTO, e)) < 0)
			goto fail_e;
		for (unsigned w = 0; w < d->cfg.workers; w++)
			if ((rc = litset_scratch_new(&g->sc[w], g->lits, e)) < 0)
				goto fail_e;
	}
	mem_free(lits);
	return g;
fail:
	err_set(e, rc, "out of memory");
fail_e:
	mem_free(lits);
	group_free(g, d->cfg.workers);
	return NULL;
}

/* The group of logsource ls, built on first use. NULL (counted by the caller) on failure. */
static struct group *group_get(struct detect *d, struct ruleset *rs, const char *const ls[3])
{
	size_t n = atomic_load_explicit(&rs->n_groups, memory_order_acquire);
	struct group *g = NULL;
	struct err e = ERR_INIT;

	for (size_t i = 0; i < n; i++)
		if (same(rs->groups[i]->ls[0], ls[0]) && same(rs->groups[i]->ls[1], ls[1]) &&
		    same(rs->groups[i]->ls[2], ls[2]))
			return rs->groups[i];
	pthread_mutex_lock(&rs->lock);
	n = atomic_load(&rs->n_groups);
	for (size_t i = 0; i < n && !g; i++)
		if (same(rs->groups[i]->ls[0], ls[0]) && same(rs->groups[i]->ls[1], ls[1]) &&
		    same(rs->groups[i]->ls[2], ls[2]))
			g = rs->groups[i];
	if (!g && n < GROUPS_MAX && (g = group_build(d, rs, ls, false, &e))) {
		rs->groups[n] = g;
		atomic_store_explicit(&rs->n_groups, n + 1, memory_order_release);
	} else if (!g) {
		log_error("logsource %s/%s/%s: no rule group: %s", ls[0] ? ls[0] : "-",
			  ls[1] ? ls[1] : "-", ls[2] ? ls[2] : "-",
			  n < GROUPS_MAX ? e.msg : "too many distinct logsources");
	}
	pthread_mutex_unlock(&rs->lock);
	return g;
}

/*
 * The group of every rule, for events without origin, built on first use: serve and ingest
 * never need it, and its multi-pattern pass over every rule's literals is the largest.
 */
static struct group *group_all(struct detect *d, struct ruleset *rs, struct err *e)
{
	struct group *g = atomic_load_explicit(&rs->all, memory_order_acquire);

	if (g)
		return g;
	pthread_mutex_lock(&rs->lock);
	g = atomic_load_explicit(&rs->all, memory_order_relaxed);
	if (!g && (g = group_build(d, rs, (const char *const[3]){ NULL, NULL, NULL }, true, e)))
		atomic_store_explicit(&rs->all, g, memory_order_release);
	pthread_mutex_unlock(&rs->lock);
	return g;
}

/* The group a worker found last for (source, dataset), or NULL. */
static struct group *hinted_group(const struct worker *w, const struct ruleset *rs,
				  const char *source, const char *ds, size_t dl)
{
	if (w->hints_gen != rs->gen)
		return NULL;
	for (unsigned i = 0; i < GROUP_HINTS; i++) {
		const struct group_hint *h = &w->hints[i];

		if (h->g && h->source == source && h->len == dl && !memcmp(h->dataset, ds, dl))
			return h->g;
	}
	return NULL;
}

static void hint_group(struct worker *w, const struct ruleset *rs, const char *source,
		       const char *ds, size_t dl, struct group *g)
{
	struct group_hint *h;

	if (!g || dl > sizeof(h->dataset))
		return;
	if (w->hints_gen != rs->gen) {
		memset(w->hints, 0, sizeof(w->hints));
		w->hints_gen = rs->gen;
	}
	h = &w->hints[w->next_hint++ % GROUP_HINTS];
	*h = (struct group_hint){ source, { 0 }, dl, g };
	memcpy(h->dataset, ds, dl);
}

/* The event's logsource: its source's configured one, else its dataset's. */
static struct group *event_group(struct detect *d, struct ruleset *rs, struct worker *w,
				 const struct pipeline_origin *o, const struct event *ev)
{
	const char *ds = "", *ls[3] = { NULL, NULL, NULL };
	struct group *g;
	size_t dl = 0;

	if (!o) {
		struct err e = ERR_INIT;

		if (!(g = group_all(d, rs, &e)))
			log_error("no group of every rule: %s", e.msg);
		return g;
	}
	(void)event_get_str(ev, FIELD_EVENT_DATASET, &ds, &dl);
	if ((g = hinted_group(w, rs, o->source, ds, dl)))
		return g;
	for (size_t i = 0; o->source && i < rs->n_sources; i++)
		if (!strcmp(rs->sources[i].source, o->source)) {
			memcpy(ls, rs->sources[i].ls, sizeof(ls));
			goto found;
		}
	(void)fieldmap_logsource(rs->map, ds, dl, &ls[0], &ls[1], &ls[2]);
found:
	g = group_get(d, rs, ls);
	hint_group(w, rs, o->source, ds, dl, g);
	return g;
}

/* ---- the multi-pattern pass ------------------------------------------------------------- */

/*
 * Adds one text to the worker's batch of texts to scan, scanning the batch first when the
 * text does not fit (and the text alone when it is larger than a batch). Texts are joined
 * by a newline: a literal found across two of them only makes a rule a candidate.
 */
static int scan_text(const struct group *g, struct litset_scratch *sc, struct buf *batch,
		     const char *s, size_t len)
{
	int rc = 0;

	if (batch->len + len + 1 > SCAN_BATCH) {
		rc = litset_scan_add(g->lits, sc, batch->p, batch->len);
		buf_reset(batch);
		if (rc < 0 || len + 1 > SCAN_BATCH)
			return rc < 0 ? rc : litset_scan_add(g->lits, sc, s, len);
	}
	rc = buf_add(batch, s, len);
	return rc < 0 ? rc : buf_addch(batch, '\n');
}

/*
 * Scans the fields the group's literals name, in one pass over their texts (a call per
 * field cost more than the scan itself); 0 or litset's code (then: evaluate all).
 */
static int scan_event(const struct group *g, struct litset_scratch *sc, struct buf *batch,
		      const struct event *ev)
{
	const char *s;
	size_t len;
	int rc = 0;

	litset_scratch_clear(sc);
	buf_reset(batch);
	for (uint32_t i = 0; i < ev->n && rc >= 0; i++) {
		const struct event_value *v = &ev->vals[i];
		char tmp[EVENT_VALUE_TEXT_MAX];

		if (v->field < FIELD_BITS && (g->scan[v->field / 8] & (1u << (v->field % 8)))) {
			s = event_value_text(v, tmp, &len);
			rc = scan_text(g, sc, batch, s, len);
		}
	}
	if (rc >= 0 && g->keywords) {
		if (event_get_str(ev, FIELD_EVENT_ORIGINAL, &s, &len) == 1) {
			rc = scan_text(g, sc, batch, s, len);
		} else {
			for (uint32_t i = 0; i < ev->n && rc >= 0; i++)
				if (field_type(ev->vals[i].field) == FT_STR)
					rc = scan_text(g, sc, batch, ev->vals[i].v.s,
						       ev->vals[i].len);
		}
	}
	return rc < 0 ? rc : litset_scan_add(g->lits, sc, batch->p, batch->len);
}

/* ---- results ---------------------------------------------------------------------------- */

static void drop(struct detect *d, enum drop_reason r)
{
	atomic_fetch_add_explicit(&d->dropped[r], 1, memory_order_relaxed);
}

static int64_t event_time(const struct event *ev)
{
	const struct event_value *v = event_get(ev, FIELD_TIMESTAMP);

	return v ? v->v.i : 0;
}

/* Fields that say at a glance what an alert is about, when the event has them. */
static const unsigned key_fields[] = {
	FIELD_SOURCE_IP, FIELD_DESTINATION_IP, FIELD_DESTINATION_PORT, FIELD_USER_NAME,
	FIELD_HOST_NAME, FIELD_URL_ORIGINAL, FIELD_EVENT_ACTION, FIELD_EVENT_OUTCOME,
};

static int key_json(const struct event *ev, struct buf *out)
{
	bool first = true;
	int rc = buf_addch(out, '{');

	for (size_t i = 0; i < sizeof(key_fields) / sizeof(key_fields[0]) && rc >= 0; i++) {
		const struct event_value *v = event_get(ev, key_fields[i]);
		const char *name = field_name(key_fields[i]), *s;
		char tmp[EVENT_VALUE_TEXT_MAX];
		size_t len;

		if (!v)
			continue;
		s = event_value_text(v, tmp, &len);
		rc = err_first(rc, buf_adds(out, first ? "\"" : ",\""));
		rc = err_first(rc, buf_adds(out, name));
		rc = err_first(rc, buf_adds(out, "\":"));
		rc = err_first(rc, json_add_string(out, s, len));
		first = false;
	}
	return err_first(rc, buf_addch(out, '}'));
}

/*
 * The event's texts for its alerts and the correlation side, in w->json: made on first use
 * for each event (detect_event forgets them), so an event matched by several rules is
 * written once. Returns the event JSON's code (0 or the writer's); w->keys_rc says whether
 * the key fields were written too.
 */
static int event_texts(struct worker *w, const struct event *ev)
{
	if (w->texts_made)
		return w->json_rc;
	w->texts_made = true;
	buf_reset(&w->json);
	w->json_len = 0;
	w->keys_rc = -EINVAL;
	w->json_rc = event_write_json(ev, &w->json);
	if (!w->json_rc)
		w->json_rc = buf_addch(&w->json, '\0');
	if (w->json_rc)
		return w->json_rc;
	w->json_len = w->json.len - 1;
	w->keys_at = w->json.len;
	w->keys_rc = key_json(ev, &w->json);
	if (!w->keys_rc)
		w->keys_rc = buf_addch(&w->json, '\0');
	return 0;
}

static void rule_alert(const struct sigma_rule *r, struct alert *a)
{
	a->rule_id = sigma_rule_id(r);
	a->rule_title = sigma_rule_title(r);
	a->rule_level = *sigma_rule_level(r) ? sigma_rule_level(r) : NULL;
	a->rule_author = sigma_rule_author(r);
	a->rule_status = sigma_rule_status(r);
	a->rule_link = sigma_rule_file(r);
	a->n_tags = sigma_rule_tags(r, &a->tags);
	a->n_references = sigma_rule_references(r, &a->references);
}

static const char *tenant_of(const struct detect *d, const struct pipeline_origin *o)
{
	const char *t = o && d->cfg.tenant_name ? d->cfg.tenant_name(d->cfg.tenant_ctx, o->slot)
						 : NULL;

	return t ? t : "";
}

/* A Sigma match: its alert (from the worker), its result (rule test). */
static void matched(struct detect *d, struct worker *w, const struct rule_info *ri,
		    const char *tenant, const struct event *ev, uint64_t ref)
{
	atomic_fetch_add_explicit(&d->matches[ri->level], 1, memory_order_relaxed);
	if (ri->silenced)
		return;
	if (d->cfg.on_result) {
		struct detect_result res = { .rule_id = sigma_rule_id(ri->r),
					     .title = sigma_rule_title(ri->r),
					     .level = sigma_rule_level(ri->r), .ref = ref };

		d->cfg.on_result(d->cfg.result_ctx, &res);
	}
	if (d->cfg.alerts && *tenant) {
		struct alert a = { .tenant = tenant, .kind = ALERT_SIGMA };
		struct alert_event ae;

		if (event_texts(w, ev) < 0 || w->keys_rc < 0) {
			drop(d, DROP_TOO_LARGE);
			return;
		}
		ae = (struct alert_event){ w->json.p, w->json_len };
		rule_alert(ri->r, &a);
		a.event_ns = event_time(ev);
		a.key_fields = w->json.p + w->keys_at;
		a.events = &ae;
		a.n_events = 1;
		(void)alert_sink_push(d->cfg.alerts, &a, NULL); /* a drop is counted there */
	}
}

/* ---- the correlation side --------------------------------------------------------------- */

/* Remembers a counted event's JSON for the alerts of the correlations it completes. */
static void memo_add(struct detect *d, uint64_t ref, const char *json, size_t len)
{
	struct memo *m;
	char *copy;

	if (!len)
		return;
	while (d->memo_count && (d->memo_count == REMEMBER_MAX ||
				 d->memo_bytes + len > REMEMBER_BYTES)) {
		m = &d->memo[d->memo_head];
		d->memo_bytes -= m->len;
		mem_free(m->json);
		d->memo_head = (d->memo_head + 1) % REMEMBER_MAX;
		d->memo_count--;
	}
	if (len > REMEMBER_BYTES || !(copy = mem_strndup(json, len)))
		return; /* the alert then lists fewer events; events_matched still counts it */
	m = &d->memo[(d->memo_head + d->memo_count++) % REMEMBER_MAX];
	*m = (struct memo){ ref, len, copy };
	d->memo_bytes += len;
}

static const struct memo *memo_find(const struct detect *d, uint64_t ref)
{
	size_t lo = 0, hi = d->memo_count;

	while (lo < hi) { /* refs grow along the ring */
		size_t mid = (lo + hi) / 2;
		const struct memo *m = &d->memo[(d->memo_head + mid) % REMEMBER_MAX];

		if (m->ref == ref)
			return m;
		if (m->ref < ref)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int group_json(const struct correl_result *r, struct buf *out)
{
	int rc = buf_addch(out, '{');

	for (size_t i = 0; i < r->ngroup && rc >= 0; i++) {
		const char *f = r->rule->group_by[i];

		rc = err_first(rc, i ? buf_addch(out, ',') : 0);
		rc = err_first(rc, json_add_string(out, f, strlen(f)));
		rc = err_first(rc, buf_addch(out, ':'));
		rc = err_first(rc, json_add_string(out, r->group_values[i], r->group_lens[i]));
	}
	return err_first(rc, buf_addch(out, '}'));
}

/* correl_emit_fn: a correlation result becomes a result and an alert. */
static int correlated(void *ctx, const struct correl_result *r)
{
	struct detect *d = ctx;
	const struct correl_rule *cr = r->rule;
	const char *id = correl_rule_key(cr) ? correl_rule_key(cr) : cr->file;
	struct alert_event ev[ALERT_EVENTS_MAX];
	size_t n = 0, from = r->nrefs > ALERT_EVENTS_MAX ? r->nrefs - ALERT_EVENTS_MAX : 0;
	struct buf g = BUF_INIT(1 << 16);
	int rc = 0;

	atomic_fetch_add_explicit(&d->matches[level_index(cr->level ? cr->level : "")], 1,
				  memory_order_relaxed);
	if (r->silenced)
		return 0;
	if (d->cfg.on_result) {
		uint64_t *all = mem_calloc(r->nrefs ? r->nrefs : 1, sizeof(*all));

		if (!all)
			return -ENOMEM;
		for (size_t i = 0; i < r->nrefs; i++)
			all[i] = r->refs[i].ref;
		d->cfg.on_result(d->cfg.result_ctx, &(struct detect_result){
			.rule_id = id, .title = cr->title, .level = cr->level ? cr->level : "",
			.correlation = true, .ngroup = r->ngroup,
			.group_fields = (const char *const *)cr->group_by,
			.group_values = r->group_values, .group_lens = r->group_lens,
			.refs = all, .nrefs = r->nrefs });
		mem_free(all);
	}
	if (!d->cfg.alerts || !*r->tenant)
		return 0;
	for (size_t i = from; i < r->nrefs; i++) {
		const struct memo *m = memo_find(d, r->refs[i].ref);

		if (m)
			ev[n++] = (struct alert_event){ m->json, m->len };
	}
	if ((rc = group_json(r, &g)) >= 0 && (rc = buf_addch(&g, '\0')) >= 0) {
		struct alert a = {
			.tenant = r->tenant, .kind = ALERT_CORRELATION, .rule_id = id,
			.rule_title = cr->title, .rule_level = cr->level,
			.rule_author = cr->author, .rule_status = cr->status, .rule_link = cr->file,
			.tags = (const char *const *)cr->tags, .n_tags = cr->ntags,
			.references = (const char *const *)cr->references,
			.n_references = cr->nreferences, .event_ns = r->time,
			.group_fields = g.p, .events = n ? ev : NULL, .n_events = n,
			.events_matched = r->nrefs,
		};

		(void)alert_sink_push(d->cfg.alerts, &a, NULL); /* a drop is counted there */
	} else {
		drop(d, DROP_TOO_LARGE);
	}
	buf_release(&g);
	return 0;
}

/*
 * Feeds one match to the engine (under correl_lock, or inline). With alerts, the event's
 * JSON is remembered under a reference of the correlation side's own, which grows with
 * every event fed (memo_find relies on it); without, ref is the caller's (rule test's line).
 */
static void feed(struct detect *d, struct ruleset *rs, const char *tenant, int input,
		 const struct event *ev, uint64_t ref, const char *json, size_t len)
{
	struct correl_event_view view = { ev, { 0 } };
	struct correl_event ce = { event_time(ev), ref, correl_event_value, &view };

	if (d->cfg.alerts) {
		ce.ref = ++d->feed_seq;
		memo_add(d, ce.ref, json, len);
	}

	int rc = correl_feed(rs->correl, tenant, input, &ce, correlated, d);

	if (rc == -ENOMEM)
		drop(d, DROP_NO_MEMORY);
	else if (rc == 1 && d->cfg.on_result) /* rule test says so; the engine counts it */
		report(d, "event", (unsigned)ref, "correlation",
		       "late: older than the latest event time minus detect.lateness; not counted");
}

/* ---- impossible travel (a built-in detector: Sigma cannot say it) ---------------------- */

static const char *const travel_tags[] = { "attack.initial-access", "attack.t1078" };

static void travel_alert(struct detect *d, const char *tenant, const struct travel_signin *s,
			 const struct travel_hit *hit)
{
	const struct memo *m[2] = { memo_find(d, hit->from.ref), memo_find(d, hit->to.ref) };
	struct alert_event ev[2];
	struct buf keys = BUF_INIT(1 << 16);
	size_t n = 0;

	for (int i = 0; i < 2; i++)
		if (m[i])
			ev[n++] = (struct alert_event){ m[i]->json, m[i]->len };
	if (travel_hit_write_json(hit, s->user, s->user_len, &keys) < 0 ||
	    buf_addch(&keys, '\0') < 0) {
		drop(d, DROP_TOO_LARGE);
	} else {
		struct alert a = {
			.tenant = tenant, .kind = ALERT_BUILTIN, .rule_id = "koban-impossible-travel",
			.rule_title = "Impossible travel", .rule_level = "high",
			.rule_author = "koban", .rule_status = "stable",
			.rule_link = "docs/detection.md#impossible-travel", .tags = travel_tags,
			.n_tags = sizeof(travel_tags) / sizeof(travel_tags[0]),
			.event_ns = hit->to.time_ns, .key_fields = keys.p, .events = n ? ev : NULL,
			.n_events = n, .events_matched = 2,
		};

		atomic_fetch_add_explicit(&d->matches[level_index("high")], 1, memory_order_relaxed);
		(void)alert_sink_push(d->cfg.alerts, &a, NULL); /* a drop is counted there */
	}
	buf_release(&keys);
}

/* One successful sign-in through the detector (the correlation side's thread). */
static void travel_check(struct detect *d, const char *tenant, const struct event *ev,
			 const char *json, size_t len)
{
	struct travel_signin s;
	struct travel_hit hit;
	int rc;

	if (travel_signin_from_event(ev, &s) != TRAVEL_SIGNIN)
		return;
	s.ref = ++d->feed_seq;
	memo_add(d, s.ref, json, len);
	if ((rc = travel_feed(d->travel, tenant, &s, &hit)) == 1)
		travel_alert(d, tenant, &s, &hit);
	else if (rc == -ENOMEM)
		drop(d, DROP_NO_MEMORY);
}

/*
 * A queued record on the detection thread (correl_lock held): its event again from its
 * JSON, fed to the engine of rs, the rule set in use, when the record was made by it.
 */
static void feed_record(struct detect *d, struct ruleset *rs, const struct record *rec)
{
	const char *json = rec->data + rec->tenant_len + 1;
	struct err e = ERR_INIT;
	struct event ev;

	if (rec->input != INPUT_TRAVEL && rec->gen != rs->gen) {
		drop(d, DROP_RELOAD);
		return;
	}
	arena_clear(&d->arena);
	event_init(&ev, &d->arena);
	if (ecs_decode(&ev, json, rec->json_len, &e) < 0) {
		log_debug("a matched event does not read back: %s", e.msg);
		drop(d, DROP_DECODE);
		return;
	}
	if (rec->input == INPUT_TRAVEL)
		travel_check(d, rec->data, &ev, json, rec->json_len);
	else
		feed(d, rs, rec->data, rec->input, &ev, rec->ref, json, rec->json_len);
}

static void save_state(struct detect *d, struct ruleset *rs)
{
	char dir[4096];
	struct err e = ERR_INIT;

	if (!d->cfg.state || !d->data_dir)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", d->data_dir, STATE_DIR);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		log_error("%s: cannot create: %s", dir, strerror(errno));
	else if (correl_snapshot_save(rs->correl, dir, STATE_FILE, &e) < 0)
		log_error("correlation state not saved: %s", e.msg);
	d->last_state_ns = time_mono_ns();
}

static void load_state(struct detect *d, struct ruleset *rs)
{
	char path[4096];
	struct err e = ERR_INIT;
	int rc;

	if (!d->cfg.state || !d->data_dir)
		return;
	snprintf(path, sizeof(path), "%s/%s/%s", d->data_dir, STATE_DIR, STATE_FILE);
	if ((rc = correl_snapshot_load(rs->correl, path, &e)) < 0 && rc != -ENOENT)
		log_error("correlation state not restored: %s", e.msg);
	d->last_state_ns = time_mono_ns();
}

/* The periodic snapshot, whether the thread is busy or idle (correl_lock held). */
static void save_state_when_due(struct detect *d)
{
	if (time_mono_ns() - d->last_state_ns > STATE_INTERVAL_NS)
		save_state(d, atomic_load(&d->rs));
}

static void *detect_thread(void *arg)
{
	struct detect *d = arg;
	struct timespec ts;

	pthread_mutex_lock(&d->qlock);
	for (;;) {
		struct record *rec = d->qhead;

		if (!rec) {
			if (d->stopping)
				break;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&d->qcond, &d->qlock, &ts);
			if (!d->qhead) {
				pthread_mutex_unlock(&d->qlock);
				pthread_mutex_lock(&d->correl_lock);
				save_state_when_due(d);
				pthread_mutex_unlock(&d->correl_lock);
				pthread_mutex_lock(&d->qlock);
			}
			continue;
		}
		d->qhead = rec->next;
		if (!d->qhead)
			d->qtail = NULL;
		d->qcount--;
		d->qbytes -= rec->json_len;
		pthread_mutex_unlock(&d->qlock);
		pthread_mutex_lock(&d->correl_lock);
		feed_record(d, atomic_load(&d->rs), rec);
		save_state_when_due(d); /* a queue that never empties must not starve it */
		pthread_mutex_unlock(&d->correl_lock);
		mem_free(rec);
		pthread_mutex_lock(&d->qlock);
	}
	pthread_mutex_unlock(&d->qlock);
	return NULL;
}

/* Queues a match for the detection thread, as the event's JSON. */
static void enqueue(struct detect *d, struct worker *w, struct ruleset *rs, int input,
		    const char *tenant, const struct event *ev, uint64_t ref)
{
	size_t tl = strlen(tenant);
	struct record *rec;

	if (event_texts(w, ev) < 0) {
		drop(d, DROP_TOO_LARGE);
		return;
	}
	if (!(rec = mem_alloc(sizeof(*rec) + tl + 1 + w->json_len + 1))) {
		drop(d, DROP_NO_MEMORY);
		return;
	}
	*rec = (struct record){ NULL, ref, input, rs->gen, tl, w->json_len };
	memcpy(rec->data, tenant, tl + 1);
	memcpy(rec->data + tl + 1, w->json.p, w->json_len);
	rec->data[tl + 1 + w->json_len] = '\0';
	pthread_mutex_lock(&d->qlock);
	if (d->qcount >= QUEUE_MAX || d->qbytes + rec->json_len > QUEUE_BYTES || d->stopping) {
		pthread_mutex_unlock(&d->qlock);
		mem_free(rec);
		drop(d, DROP_QUEUE_FULL);
		return;
	}
	if (d->qtail)
		d->qtail->next = rec;
	else
		d->qhead = rec;
	d->qtail = rec;
	d->qcount++;
	d->qbytes += rec->json_len;
	pthread_cond_signal(&d->qcond);
	pthread_mutex_unlock(&d->qlock);
}

/* ---- per event -------------------------------------------------------------------------- */

static void on_match(struct detect *d, struct worker *w, struct ruleset *rs,
		     const struct rule_info *ri, const char *tenant, const struct event *ev,
		     uint64_t ref)
{
	if (!policy_allows(d, rs, (unsigned)(w - d->w), ri, tenant, ev))
		return;
	matched(d, w, ri, tenant, ev, ref);
	if (ri->input < 0)
		return;
	if (d->cfg.mode == DETECT_INLINE) {
		/* without the JSON (too large) the alert lists the events it can */
		if (d->cfg.alerts)
			(void)event_texts(w, ev);
		feed(d, rs, tenant, ri->input, ev, ref, w->json.p,
		     d->cfg.alerts ? w->json_len : 0);
	} else {
		enqueue(d, w, rs, ri->input, tenant, ev, ref);
	}
}

/* A successful sign-in goes to the impossible-travel detector; one it cannot use is counted. */
static void travel_event(struct detect *d, struct worker *w, struct ruleset *rs,
			 const char *tenant, const struct event *ev)
{
	struct travel_signin s;
	enum travel_read r = travel_signin_from_event(ev, &s);

	if (r == TRAVEL_NOT_SIGNIN)
		return;
	if (r != TRAVEL_SIGNIN) {
		travel_count_unusable(d->travel, r);
		return;
	}
	if (d->cfg.mode == DETECT_THREADED) {
		enqueue(d, w, rs, INPUT_TRAVEL, tenant, ev, 0);
		return;
	}
	(void)event_texts(w, ev); /* without the JSON the alert lists the events it can */
	travel_check(d, tenant, ev, w->json.p, w->json_len);
}

/* The worker's rule set, published so that a reload waits until the worker has left it. */
static struct ruleset *enter(struct detect *d, struct worker *w)
{
	struct ruleset *rs;

	do {
		rs = atomic_load(&d->rs);
		atomic_store(&w->active, rs);
	} while (rs != atomic_load(&d->rs));
	return rs;
}

void detect_event(struct detect *d, unsigned worker, const struct pipeline_origin *o,
		  struct event *ev, uint64_t ref)
{
	struct worker *w = &d->w[worker];
	struct ruleset *rs = enter(d, w);
	struct group *g = event_group(d, rs, w, o, ev);
	struct sigma_scratch *sc = rs->sc[worker];
	const char *tenant = tenant_of(d, o);

	w->texts_made = false; /* a new event */
	if (d->cfg.ti) /* the hits are alerts and enrichments already; losses counted there */
		(void)timatch_event(d->cfg.ti, worker, tenant, ev);
	if (!g) {
		drop(d, DROP_NO_MEMORY);
		goto done;
	}
	for (size_t i = 0; i < g->n_always; i++)
		if (sigma_rule_match(rs->rules[g->always[i]].r, ev, sc))
			on_match(d, w, rs, &rs->rules[g->always[i]], tenant, ev, ref);
	if (!g->n_cand)
		goto done;
	if (scan_event(g, g->sc[worker], &w->scan, ev) < 0) { /* no prefilter: every candidate */
		for (size_t i = 0; i < g->n_cand; i++)
			if (sigma_rule_match(rs->rules[g->cand[i]].r, ev, sc))
				on_match(d, w, rs, &rs->rules[g->cand[i]], tenant, ev, ref);
	} else {
		const uint32_t *ids;
		size_t n = litset_scratch_found(g->sc[worker], &ids);

		for (size_t i = 0; i < n; i++) {
			const struct rule_info *ri = &rs->rules[g->cand[ids[i]]];

			if (sigma_rule_match(ri->r, ev, sc))
				on_match(d, w, rs, ri, tenant, ev, ref);
		}
	}
done:
	if (d->travel && *tenant)
		travel_event(d, w, rs, tenant, ev);
	atomic_store(&w->active, NULL);
}

void detect_inspect(void *ctx, unsigned worker, const struct pipeline_origin *o,
		    struct event *ev)
{
	struct detect *d = ctx;
	struct worker *w = &d->w[worker];

	detect_event(d, worker, o, ev, ((uint64_t)worker << 48) | ++w->seq);
}

/* ---- metrics ---------------------------------------------------------------------------- */

static int collect_matches(struct metrics_out *o, void *ctx)
{
	struct detect *d = ctx;
	int rc = 0;

	for (size_t i = 0; i < N_LEVELS && !rc; i++)
		rc = metrics_sample(o, atomic_load_explicit(&d->matches[i], memory_order_relaxed),
				    "level", *levels[i] ? levels[i] : "none", NULL);
	return rc;
}

static int collect_dropped(struct metrics_out *o, void *ctx)
{
	struct detect *d = ctx;
	int rc = 0;

	for (size_t i = 0; i < DROP_N && !rc; i++)
		rc = metrics_sample(o, atomic_load_explicit(&d->dropped[i], memory_order_relaxed),
				    "reason", drop_names[i], NULL);
	return rc;
}

static int collect_suppressed(struct metrics_out *o, void *ctx)
{
	struct detect *d = ctx;
	int rc = 0;

	for (size_t i = 0; i < SUPPRESS_N && !rc; i++)
		rc = metrics_sample(o, atomic_load_explicit(&d->suppressed[i], memory_order_relaxed),
				    "reason", suppress_names[i], NULL);
	return rc;
}

static int collect_rules(struct metrics_out *o, void *ctx)
{
	struct detect *d = ctx;

	/* not d->rs: a reload on the main thread may free it meanwhile */
	return metrics_sample(o, atomic_load_explicit(&d->loaded, memory_order_relaxed), NULL);
}

static int collect_queued(struct metrics_out *o, void *ctx)
{
	struct detect *d = ctx;
	size_t n;

	pthread_mutex_lock(&d->qlock);
	n = d->qcount;
	pthread_mutex_unlock(&d->qlock);
	return metrics_sample(o, n, NULL);
}

static int register_metrics(struct detect *d, struct err *e)
{
	static const struct metrics_family fam[] = {
		{ "koban_detect_matches_total", METRICS_COUNTER,
		  "Rule matches and correlation results, by the rule's level.", collect_matches },
		{ "koban_detect_dropped_total", METRICS_COUNTER,
		  "Matches that reached neither the correlation engine nor an alert, by reason.",
		  collect_dropped },
		{ "koban_detect_suppressed_total", METRICS_COUNTER,
		  "Matches a tenant's rule policy left out: the rule disabled for the tenant, or "
		  "its tuning filter matched.", collect_suppressed },
		{ "koban_detect_rules", METRICS_GAUGE,
		  "Detection rules and correlations loaded.", collect_rules },
		{ "koban_detect_queued", METRICS_GAUGE,
		  "Matches waiting for the correlation engine.", collect_queued },
	};
	int rc;

	const char *failed = "";

	if ((rc = metrics_register_families(fam, sizeof(fam) / sizeof(fam[0]), d, &failed)) < 0)
		return err_set(e, rc, "metric %s: %s", failed, strerror(-rc));
	if ((rc = correl_metrics_register(atomic_load(&d->rs)->correl)) < 0 ||
	    (d->travel && (rc = travel_metrics_register(d->travel)) < 0))
		return err_set(e, rc, "correlation and travel metrics: %s", strerror(-rc));
	return 0;
}

/* ---- life cycle ------------------------------------------------------------------------- */

/* Impossible travel runs where alerts go (serve, ingest), with detect.travel_* limits. */
static int travel_init(struct detect *d, const struct config *c, struct err *e)
{
	struct travel_config tc;

	if (!d->cfg.alerts)
		return 0;
	travel_config_default(&tc);
	tc.max_speed_kmh = c->detect_travel_speed;
	tc.min_distance_km = c->detect_travel_distance;
	return travel_new(&d->travel, &tc, e);
}

int detect_new(struct detect **out, const struct detect_config *c, struct err *e)
{
	struct detect *d;
	struct ruleset *rs = NULL;
	int rc;

	if (!c->workers || c->workers > WORKERS_MAX)
		return err_set(e, -EINVAL, "detection: %u workers (expected 1 to %d)", c->workers,
			       WORKERS_MAX);
	if (!(d = mem_calloc(1, sizeof(*d))))
		return err_set(e, -ENOMEM, "out of memory");
	d->cfg = *c;
	pthread_mutex_init(&d->qlock, NULL);
	pthread_cond_init(&d->qcond, NULL);
	pthread_mutex_init(&d->correl_lock, NULL);
	arena_init(&d->arena, 64 << 10, ARENA_MAX);
	d->w = mem_calloc(c->workers, sizeof(*d->w));
	d->memo = mem_calloc(REMEMBER_MAX, sizeof(*d->memo));
	d->data_dir = c->cfg->data_dir ? mem_strdup(c->cfg->data_dir) : NULL;
	if (!d->w || !d->memo || (c->cfg->data_dir && !d->data_dir)) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	for (unsigned w = 0; w < c->workers; w++) {
		buf_init(&d->w[w].json, JSON_MAX);
		buf_init(&d->w[w].scan, SCAN_BATCH);
	}
	if ((rc = ruleset_load(d, c->cfg, &rs, e)) < 0 || (rc = travel_init(d, c->cfg, e)) < 0)
		goto fail;
	atomic_store(&d->rs, rs);
	atomic_store(&d->loaded, rs->counts.rules + rs->counts.correlations);
	load_state(d, rs);
	if (c->metrics && (rc = register_metrics(d, e)) < 0)
		goto fail;
	if (c->mode == DETECT_THREADED) {
		if ((rc = pthread_create(&d->thread, NULL, detect_thread, d)) != 0) {
			rc = err_set(e, -rc, "detection thread: %s", strerror(rc));
			goto fail;
		}
		d->thread_started = true;
	}
	*out = d;
	return 0;
fail:
	detect_free(d);
	return rc;
}

void detect_counts(const struct detect *d, struct detect_counts *k)
{
	*k = atomic_load(&((struct detect *)d)->rs)->counts;
}

int detect_finish(struct detect *d, struct err *e)
{
	int rc;

	pthread_mutex_lock(&d->correl_lock);
	rc = correl_flush(atomic_load(&d->rs)->correl, correlated, d);
	pthread_mutex_unlock(&d->correl_lock);
	return rc < 0 ? err_set(e, rc, "correlations: %s", strerror(-rc)) : 0;
}

/* Waits until no worker uses rs any more (each leaves it at the end of its event). */
static void wait_unused(struct detect *d, struct ruleset *rs)
{
	for (unsigned w = 0; w < d->cfg.workers; w++)
		while (atomic_load(&d->w[w].active) == rs)
			nanosleep(&(struct timespec){ 0, 100000 }, NULL);
}

int detect_reload(struct detect *d, const struct config *c, struct err *e)
{
	struct ruleset *fresh = NULL, *old;
	int rc;

	if ((rc = ruleset_load(d, c, &fresh, e)) < 0)
		return rc;
	pthread_mutex_lock(&d->correl_lock);
	old = atomic_load(&d->rs);
	if ((rc = correl_reload(fresh->correl, old->correl, e)) < 0) {
		pthread_mutex_unlock(&d->correl_lock);
		ruleset_free(fresh, d->cfg.workers);
		return rc;
	}
	if (d->cfg.metrics)
		metrics_unregister(old->correl);
	atomic_store(&d->rs, fresh);
	pthread_mutex_unlock(&d->correl_lock);
	if (d->cfg.metrics && (rc = correl_metrics_register(fresh->correl)) < 0)
		log_warn("correlation metrics: %s", strerror(-rc));
	atomic_store(&d->loaded, fresh->counts.rules + fresh->counts.correlations);
	/*
	 * The detection thread reads d->rs under correl_lock, so only the workers may still
	 * use old; records they queued for it are dropped by generation (DROP_RELOAD).
	 */
	wait_unused(d, old);
	ruleset_free(old, d->cfg.workers);
	return 0;
}

void detect_stop(struct detect *d)
{
	if (!d)
		return;
	if (d->thread_started) {
		pthread_mutex_lock(&d->qlock);
		d->stopping = true;
		pthread_cond_signal(&d->qcond);
		pthread_mutex_unlock(&d->qlock);
		pthread_join(d->thread, NULL);
		d->thread_started = false;
	}
	if (atomic_load(&d->rs)) {
		pthread_mutex_lock(&d->correl_lock);
		save_state(d, atomic_load(&d->rs));
		pthread_mutex_unlock(&d->correl_lock);
	}
}

void detect_free(struct detect *d)
{
	if (!d)
		return;
	detect_stop(d);
	metrics_unregister(d);
	if (atomic_load(&d->rs)) {
		metrics_unregister(atomic_load(&d->rs)->correl);
		ruleset_free(atomic_load(&d->rs), d->cfg.workers);
	}
	while (d->qhead) {
		struct record *r = d->qhead;

		d->qhead = r->next;
		mem_free(r);
	}
	for (size_t i = 0; d->memo && i < d->memo_count; i++)
		mem_free(d->memo[(d->memo_head + i) % REMEMBER_MAX].json);
	mem_free(d->memo);
	travel_free(d->travel);
	if (d->w)
		for (unsigned w = 0; w < d->cfg.workers; w++) {
			buf_release(&d->w[w].json);
			buf_release(&d->w[w].scan);
		}
	mem_free(d->w);
	mem_free(d->data_dir);
	arena_release(&d->arena);
	pthread_mutex_destroy(&d->correl_lock);
	pthread_cond_destroy(&d->qcond);
	pthread_mutex_destroy(&d->qlock);
	mem_free(d);
}
