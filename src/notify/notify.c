#define LOG_MODULE "notify"
#include "notify/notify.h"
#include "core/compat.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "detect/bundled.h"
#include "notify/ack.h"
#include "notify/channel.h"
#include "notify/policy.h"
#include "soc/level.h"
#include "soc/tmpl.h"
#include "store/meta.h"

#define NS_PER_SEC INT64_C(1000000000)
#define ACTOR "notify"
#define TENANT_MAX 64
#define BUNDLED_DIR "templates/notify"
#define SIMILAR_WINDOW_NS (INT64_C(3600) * NS_PER_SEC)
#define TICK_NS (NS_PER_SEC)              /* the thread looks at koban.db at least this often */
#define MANUAL_BATCH 64                   /* levels set by hand read at once */
#define TEXT_MAX (512 * 1024)             /* bytes of one rendered part */
#define URL_MAX 1024

extern const struct bundled_file notify_bundled[];
extern const size_t notify_bundled_count;

enum part { PART_SUBJECT, PART_TEXT, PART_HTML, PART_SPEECH, PARTS };
static const char *const part_names[PARTS] = { "subject", "text", "html", "speech" };
enum lang { LANG_JA, LANG_EN, LANGS };
static const char *const lang_names[LANGS] = { "ja", "en" };

/* koban_notify_notices_total{status} */
enum outcome { OUT_SENT, OUT_DELIVERED, OUT_RETRY, OUT_FAILED, OUT_CANCELLED, OUT_PLANNED, OUTCOMES };
static const char *const outcome_names[OUTCOMES] = { "sent", "delivered", "retry", "failed",
						     "cancelled", "planned" };

static const double handoff_bounds[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 60 };
#define HANDOFF_BUCKETS ARRAY_SIZE(handoff_bounds)

#define TSETS_MAX 32
struct tset {
	char name[64];
	struct tmpl *t[LANGS][PARTS];
	bool failed;                 /* not there or not valid: the default set is used */
};

struct chan {
	char *name;
	const struct channel_ops *ops;
	void *state;
	double rate;                 /* notices per second, 0: no limit */
	double tokens;
	int64_t refill_ns;
	uint64_t counts[OUTCOMES];   /* under count_lock */
};

enum job_kind { JOB_DECISION, JOB_STATUS };
struct job {
	enum job_kind kind;
	char tenant[TENANT_MAX];
	int64_t id;                  /* incident or notice */
	int from, to;
	int64_t at_ns;
	char status[32];
	char reason[CHANNEL_REASON_MAX];
};

struct notify {
	struct meta *meta;
	const struct config_notify *conf; /* copied values below; not kept */
	bool threaded, send, enabled;
	int64_t (*now)(void *ctx);
	void *now_ctx;
	notify_plan_fn *plan;
	void *plan_ctx;

	struct chan *chans;
	size_t n_chans;
	struct tmpl *tmpl[LANGS][PARTS]; /* the default set */
	struct tset *sets;           /* named sets of notify.templates/NAME, loaded when first used */
	size_t n_sets;
	char *tdir;                  /* notify.templates, or NULL */
	struct ack_key *ack_key;
	char *ack_base, *portal_base, *lead_channel, *lead_to;
	int64_t ack_ttl_ns, lead_after_ns;
	uint32_t retry_attempts;
	int64_t retry_backoff_ns, retry_max_backoff_ns;
	char host[128];
	char *data_dir;

	struct arena work;           /* one decision or one notice at a time */

	pthread_mutex_t lock;        /* the queue */
	pthread_cond_t wake;
	struct job *ring;
	size_t cap, head, queued;
	bool stop, started;
	pthread_t thread;
	atomic_uint_fast64_t dropped;

	pthread_mutex_t count_lock;  /* counts and the histogram, read by /metrics */
	uint64_t handoff[HANDOFF_BUCKETS + 1];
	double handoff_sum;
	atomic_int_fast64_t pending; /* koban_notify_queue: notices pending in koban.db */
	bool metrics;

	int64_t levels_seen;         /* the last timeline entry looked at for levels set by hand */
};

static int64_t now_of(const struct notify *n)
{
	return n->now ? n->now(n->now_ctx) : time_now_ns();
}

/* ---- channels ---- */

static const struct channel_ops *type_of(const struct notify_config *c, const char *type)
{
	for (size_t i = 0; i < c->n_extra_types; i++)
		if (c->extra_types[i] && !strcmp(c->extra_types[i]->type, type))
			return c->extra_types[i];
	return channel_type(type);
}

/*
 * Opens the configured channel ch (the keys as a struct channel_conf; `rate` is the engine's,
 * not the type's) into *state. rate gets the channel's limit.
 */
static int chan_open(const struct config *cfg, const struct config_notify_channel *ch,
		     const struct channel_ops *ops, void **state, double *rate, struct err *e)
{
	struct channel_kv kv[CONFIG_NOTIFY_KEYS_MAX];
	struct channel_conf cc = {
		.name = ch->name, .type = ch->type, .file = cfg->path ? cfg->path : "",
		.line = (int)ch->line, .kv = kv, .ack_base = cfg->notify.ack_url,
	};

	*rate = ops->rate_per_s;
	for (size_t i = 0; i < ch->n_kv && i < ARRAY_SIZE(kv); i++) {
		if (!strcmp(ch->kv[i].key, "rate")) {
			char *end;
			double r = strtod(ch->kv[i].value, &end);

			if (*end || !(r >= 0) || r > 10000)
				return err_set(e, -EINVAL, "%s:%u: notify.channels.%s.rate: expected "
					       "notices per second (0 to 10000, 0: no limit)",
					       cc.file, ch->kv[i].line, ch->name);
			*rate = r;
			continue;
		}
		kv[cc.n_kv++] = (struct channel_kv){ ch->kv[i].key, ch->kv[i].value,
						     (int)ch->kv[i].line };
	}
	return ops->open(&cc, state, e);
}

static int open_channels(struct notify *n, const struct notify_config *c, struct err *e)
{
	const struct config_notify *nc = &c->cfg->notify;
	int rc;

	if (!nc->n_channels)
		return 0;
	if (!(n->chans = mem_calloc(nc->n_channels, sizeof(*n->chans))))
		return err_set(e, -ENOMEM, "notify: out of memory");
	for (size_t i = 0; i < nc->n_channels; i++) {
		const struct config_notify_channel *ch = &nc->channels[i];
		struct chan *k = &n->chans[n->n_chans];

		if (!(k->ops = type_of(c, ch->type)))
			return err_set(e, -EINVAL, "%s:%u: notify.channels.%s.type: '%s' is not a "
				       "channel type (expected one of: %s)",
				       c->cfg->path ? c->cfg->path : "", ch->line, ch->name, ch->type,
				       channel_type_names());
		if (!(k->name = mem_strdup(ch->name)))
			return err_set(e, -ENOMEM, "notify: out of memory");
		n->n_chans++;
		if ((rc = chan_open(c->cfg, ch, k->ops, &k->state, &k->rate, e)) < 0) {
			k->ops = NULL; /* nothing to close */
			return rc;
		}
		k->tokens = k->rate > 0 ? MAX(1.0, k->rate) : 0;
	}
	return 0;
}

static struct chan *chan_find(struct notify *n, const char *name)
{
	for (size_t i = 0; i < n->n_chans; i++)
		if (!strcmp(n->chans[i].name, name))
			return &n->chans[i];
	return NULL;
}

/* 0 when a notice may go now (a token taken), else the time one will be there. */
static int64_t chan_take(struct chan *k, int64_t now_ns)
{
	double burst = MAX(1.0, k->rate);

	if (k->rate <= 0)
		return 0;
	if (now_ns > k->refill_ns) {
		k->tokens = MIN(burst, k->tokens + (double)(now_ns - k->refill_ns) / 1e9 * k->rate);
		k->refill_ns = now_ns;
	}
	if (k->tokens >= 1.0) {
		k->tokens -= 1.0;
		return 0;
	}
	return now_ns + (int64_t)((1.0 - k->tokens) / k->rate * 1e9) + 1;
}

int notify_config_check(const struct config *c,
			void (*report)(void *ctx, const char *msg), void *ctx)
{
	const struct notify_config nc = { .cfg = c };
	int errors = 0;

	for (size_t i = 0; i < c->notify.n_channels; i++) {
		const struct config_notify_channel *ch = &c->notify.channels[i];
		const struct channel_ops *ops = type_of(&nc, ch->type);
		struct err e = ERR_INIT;
		void *state = NULL;
		double rate;

		if (!ops) {
			err_set(&e, -EINVAL, "%s:%u: notify.channels.%s.type: '%s' is not a channel "
				"type (expected one of: %s)", c->path ? c->path : "", ch->line,
				ch->name, ch->type, channel_type_names());
		} else if (chan_open(c, ch, ops, &state, &rate, &e) == 0) {
			ops->close(state);
			continue;
		}
		report(ctx, e.msg);
		errors++;
	}
	return errors;
}

/* ---- templates ---- */

static int read_template(const char *dir, const char *name, char **text, size_t *len, char *path,
			 size_t path_size, struct err *e)
{
	snprintf(path, path_size, "%s/%s", dir ? dir : BUNDLED_DIR, name);
	if (dir)
		return config_read_file(path, "notification template", TMPL_TEXT_MAX, text, len, e);
	for (size_t i = 0; i < notify_bundled_count; i++)
		if (!strcmp(notify_bundled[i].name, path)) {
			*len = notify_bundled[i].len;
			*text = mem_strndup((const char *)notify_bundled[i].bytes, *len);
			return *text ? 0 : err_set(e, -ENOMEM, "%s: out of memory", path);
		}
	return err_set(e, -ENOENT, "%s: not built into this koban", path);
}

static int load_templates(struct tmpl *t[LANGS][PARTS], const char *dir, struct err *e)
{
	char path[4096], name[32], *text = NULL;
	size_t len;
	int rc;

	for (size_t l = 0; l < LANGS; l++)
		for (size_t p = 0; p < PARTS; p++) {
			snprintf(name, sizeof(name), "%s.%s.txt", lang_names[l], part_names[p]);
			if ((rc = read_template(dir, name, &text, &len, path, sizeof(path), e)) < 0)
				return rc;
			rc = tmpl_parse(&t[l][p], path, text, len, e);
			mem_free(text);
			if (rc < 0)
				return rc;
		}
	return 0;
}

static size_t lang_index(const char *lang)
{
	return lang && !strcmp(lang, "en") ? LANG_EN : LANG_JA;
}

static bool set_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len >= 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/*
 * The templates of a policy step's set name: notify.templates/NAME/ (the eight files), loaded
 * when first used and kept; the default set when there is no name, no notify.templates, or
 * the set is missing or invalid (said once in the log).
 */
static struct tmpl *(*template_set(struct notify *n, const char *name))[PARTS]
{
	char dir[4200];
	struct err e = ERR_INIT;
	struct tset *t;

	if (!name || !*name || !n->tdir || !set_name_ok(name))
		return n->tmpl;
	for (size_t i = 0; i < n->n_sets; i++)
		if (!strcmp(n->sets[i].name, name))
			return n->sets[i].failed ? n->tmpl : n->sets[i].t;
	if (n->n_sets >= TSETS_MAX)
		return n->tmpl;
	if (!n->sets && !(n->sets = mem_calloc(TSETS_MAX, sizeof(*n->sets))))
		return n->tmpl;
	t = &n->sets[n->n_sets++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(dir, sizeof(dir), "%s/%s", n->tdir, name);
	if (load_templates(t->t, dir, &e) < 0) {
		t->failed = true;
		log_warn("template set '%s': %s; the default templates are used", name, e.msg);
		return n->tmpl;
	}
	return t->t;
}

/* Both field sets: the plain one and the one for HTML (every value escaped). */
struct fieldsets {
	struct tmpl_fields *plain, *html;
	struct arena *a;
};

static int html_escape(struct arena *a, const char *s, const char **out)
{
	size_t extra = 0, n = strlen(s);
	char *o, *w;

	for (size_t i = 0; i < n; i++)
		extra += s[i] == '&' ? 4 : s[i] == '<' || s[i] == '>' ? 3 : s[i] == '"' ? 5 :
			 s[i] == '\'' ? 4 : 0;
	if (!(o = arena_alloc(a, n + extra + 1)))
		return -ENOMEM;
	w = o;
	for (size_t i = 0; i < n; i++) {
		const char *r = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" :
				s[i] == '"' ? "&quot;" : s[i] == '\'' ? "&#39;" : NULL;

		if (r) {
			memcpy(w, r, strlen(r));
			w += strlen(r);
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	*out = o;
	return 0;
}

static int fs_set(struct tmpl_fields *p, struct tmpl_fields *h, struct arena *a, const char *name,
		  const char *v)
{
	const char *esc;

	if (!v)
		v = "";
	if (tmpl_sets(p, name, v) < 0 || html_escape(a, v, &esc) < 0 || tmpl_sets(h, name, esc) < 0)
		return -ENOMEM;
	return 0;
}

static int fs_setf(struct tmpl_fields *p, struct tmpl_fields *h, struct arena *a,
		   const char *name, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return fs_set(p, h, a, name, s);
}

/*
 * evidence: [{"sentence": ..., "sentence_ja": ...}, ...] -> the list evidence of {sentence},
 * the Japanese sentence for ja where the evidence has one.
 */
static int fs_evidence(struct fieldsets *fs, const char *json, bool ja)
{
	struct jsonin_value k, v;
	struct jsonin j;

	if (tmpl_list(fs->plain, "evidence") < 0 || tmpl_list(fs->html, "evidence") < 0)
		return -ENOMEM;
	if (!json || !*json)
		return 0;
	jsonin_init(&j, json, strlen(json), fs->a, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
		return 0;
	while (jsonin_more(&j) > 0) {
		const char *en = NULL, *jp = NULL, *s;
		struct tmpl_fields *ip, *ih;

		if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
			return 0;
		while (jsonin_key(&j, &k) > 0) {
			bool is_en = jsonin_key_is(&k, "sentence"), is_ja = jsonin_key_is(&k, "sentence_ja");

			if (!is_en && !is_ja) {
				if (jsonin_skip_value(&j) < 0)
					return 0;
				continue;
			}
			if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_STRING)
				return 0;
			if (!(s = arena_strndup(fs->a, v.s, v.len)))
				return -ENOMEM;
			*(is_en ? &en : &jp) = s;
		}
		if (!(s = ja && jp ? jp : en ? en : jp))
			continue;
		if (!(ip = tmpl_add_item(fs->plain, "evidence")) ||
		    !(ih = tmpl_add_item(fs->html, "evidence")) ||
		    fs_set(ip, ih, fs->a, "sentence", s) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* entities: {"users":[..],"hosts":[..],"ips":[..]} -> the list entities of {kind, value}. */
static int fs_entities(struct fieldsets *fs, const char *json)
{
	struct jsonin_value k, v;
	struct jsonin j;

	if (tmpl_list(fs->plain, "entities") < 0 || tmpl_list(fs->html, "entities") < 0)
		return -ENOMEM;
	if (!json || !*json)
		return 0;
	jsonin_init(&j, json, strlen(json), fs->a, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return 0;
	while (jsonin_key(&j, &k) > 0) {
		const char *kind = jsonin_key_is(&k, "users") ? "user" :
				   jsonin_key_is(&k, "hosts") ? "host" :
				   jsonin_key_is(&k, "ips") ? "ip" : NULL;

		if (!kind) {
			if (jsonin_skip_value(&j) < 0)
				return 0;
			continue;
		}
		if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
			return 0;
		while (jsonin_more(&j) > 0) {
			struct tmpl_fields *ip, *ih;
			const char *s;

			if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_STRING)
				return 0;
			if (!(s = arena_strndup(fs->a, v.s, v.len)) ||
			    !(ip = tmpl_add_item(fs->plain, "entities")) ||
			    !(ih = tmpl_add_item(fs->html, "entities")) ||
			    fs_set(ip, ih, fs->a, "kind", kind) < 0 || fs_set(ip, ih, fs->a, "value", s) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* What a notice says about one incident (or, aggregated, the list). */
struct render_in {
	const struct meta_incident *inc;  /* NULL: aggregated or test */
	const char *template;             /* the step's set, NULL: the default */
	const char *tenant;
	int level;
	const char *report, *report_status;
	const char *ack_url, *ack_token, *incident_url;
	bool test, aggregated;
	struct meta_incident *list;       /* aggregated: the incidents listed */
	size_t n_list;
	int64_t count;                    /* aggregated: every incident (listed or not) */
};

static int render_parts(struct notify *n, const struct render_in *in, size_t lang,
			struct buf out[PARTS], struct err *e)
{
	struct fieldsets fs = { tmpl_fields_new(&n->work), tmpl_fields_new(&n->work), &n->work };
	struct tmpl *(*set)[PARTS] = template_set(n, in->template);
	char when[TIME_RFC3339_LEN];
	int rc;

	if (!fs.plain || !fs.html)
		return err_set(e, -ENOMEM, "notify: out of memory");
	when[0] = '\0';
	if (in->inc && in->inc->decided_ns)
		time_format_rfc3339(in->inc->decided_ns, when);
	if (fs_set(fs.plain, fs.html, fs.a, "tenant", in->tenant) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "level_name", level_name(in->level)) < 0 ||
	    fs_setf(fs.plain, fs.html, fs.a, "level", level_shown(in->level)) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "title", in->inc ? in->inc->title : "") < 0 ||
	    fs_setf(fs.plain, fs.html, fs.a, "incident", in->inc ? in->inc->id : 0) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "rule", in->inc ? in->inc->rule_id : "") < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "decided", when) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "report", in->report) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "report_status", in->report_status) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "ack_url", in->ack_url) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "ack_token", in->ack_token) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "incident_url", in->incident_url) < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "test", in->test ? "1" : "") < 0 ||
	    fs_set(fs.plain, fs.html, fs.a, "aggregated", in->aggregated ? "1" : "") < 0 ||
	    fs_setf(fs.plain, fs.html, fs.a, "count", MAX(in->count, (int64_t)in->n_list)) < 0 ||
	    fs_evidence(&fs, in->inc ? in->inc->evidence : NULL, lang == LANG_JA) < 0 ||
	    fs_entities(&fs, in->inc ? in->inc->entities : NULL) < 0 ||
	    tmpl_list(fs.plain, "incidents") < 0 || tmpl_list(fs.html, "incidents") < 0)
		return err_set(e, -ENOMEM, "notify: out of memory");
	for (size_t i = 0; i < in->n_list; i++) {
		struct tmpl_fields *ip = tmpl_add_item(fs.plain, "incidents");
		struct tmpl_fields *ih = tmpl_add_item(fs.html, "incidents");

		if (!ip || !ih || fs_setf(ip, ih, fs.a, "id", in->list[i].id) < 0 ||
		    fs_set(ip, ih, fs.a, "title", in->list[i].title) < 0 ||
		    fs_set(ip, ih, fs.a, "level_name", level_name(in->list[i].level)) < 0)
			return err_set(e, -ENOMEM, "notify: out of memory");
	}
	for (size_t p = 0; p < PARTS; p++) {
		buf_reset(&out[p]);
		if (p == PART_HTML) {
			const char *subj;

			/* the subject rendered already, escaped for the title */
			if (buf_addch(&out[PART_SUBJECT], '\0') < 0 ||
			    html_escape(fs.a, out[PART_SUBJECT].p, &subj) < 0 ||
			    tmpl_sets(fs.html, "subject", subj) < 0)
				return err_set(e, -ENOMEM, "notify: out of memory");
			buf_truncate(&out[PART_SUBJECT], out[PART_SUBJECT].len - 1);
		}
		if ((rc = tmpl_render(set[lang][p], p == PART_HTML ? fs.html : fs.plain, &out[p],
				      e)) < 0)
			return rc;
		if (p == PART_SUBJECT || p == PART_SPEECH) /* one line */
			for (size_t i = 0; i < out[p].len; i++)
				if (out[p].p[i] == '\n' || out[p].p[i] == '\r')
					out[p].p[i] = ' ';
		while ((p == PART_SUBJECT || p == PART_SPEECH) && out[p].len &&
		       out[p].p[out[p].len - 1] == ' ')
			out[p].len--;
		if (buf_addch(&out[p], '\0') < 0)
			return err_set(e, -ENOSPC, "notify: a rendered notice is too long");
		out[p].len--;
	}
	return 0;
}

/* ---- reading incidents ---- */

static const char *adup(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

struct inc_copy {
	struct arena *a;
	struct meta_incident *out;
	bool found;
};

static void copy_incident(void *ctx, const struct meta_incident *inc)
{
	struct inc_copy *c = ctx;

	*c->out = *inc;
	c->out->tenant = adup(c->a, inc->tenant);
	c->out->title = adup(c->a, inc->title);
	c->out->rule_id = adup(c->a, inc->rule_id);
	c->out->group_key = NULL;
	c->out->status = adup(c->a, inc->status);
	c->out->owner = NULL;
	c->out->evidence = adup(c->a, inc->evidence);
	c->out->entities = adup(c->a, inc->entities);
	c->out->terminal = NULL;
	c->found = c->out->tenant && c->out->title && c->out->rule_id && c->out->status &&
		   c->out->evidence && c->out->entities;
}

static int get_incident(struct notify *n, const char *tenant, int64_t id,
			struct meta_incident *out, struct err *e)
{
	struct inc_copy c = { &n->work, out, false };
	int rc = meta_incident_get(n->meta, tenant, id, copy_incident, &c, e);

	if (rc < 0)
		return rc;
	return c.found ? 0 : err_set(e, -ENOMEM, "notify: out of memory");
}

struct report_copy {
	struct arena *a;
	const char *text, *status;
};

static void copy_report(void *ctx, const struct meta_report *r)
{
	struct report_copy *c = ctx;

	c->text = adup(c->a, r->text);
	c->status = adup(c->a, r->status);
}

/* ---- the timeline ---- */

static void timeline(struct notify *n, const char *tenant, int64_t incident, int64_t at_ns,
		     const char *action, const char *detail, const char *why)
{
	const struct meta_incident_entry en = {
		.incident = incident, .at_ns = at_ns, .actor = ACTOR, .action = action,
		.detail = detail, .why = why,
	};
	struct err e = ERR_INIT;

	if (incident > 0 && meta_incident_log(n->meta, tenant, &en, &e) < 0)
		log_warn("incident %lld: timeline entry not written: %s", (long long)incident, e.msg);
}

/* {"notice":N,"channel":"..","to":"..","step":K,"status":".."} into a buffer of the arena */
static const char *notice_detail(struct notify *n, const struct meta_notice *no, const char *status)
{
	struct buf b;
	const char *s;

	buf_init(&b, 4096);
	buf_addf(&b, "{\"notice\":%lld,\"channel\":", (long long)no->id);
	json_add_string(&b, no->channel, strlen(no->channel));
	buf_adds(&b, ",\"to\":");
	json_add_string(&b, no->recipient, strlen(no->recipient));
	buf_addf(&b, ",\"step\":%d,\"status\":", no->step);
	json_add_string(&b, status, strlen(status));
	buf_addch(&b, '}');
	s = b.p && buf_addch(&b, '\0') == 0 ? adup(&n->work, b.p) : NULL;
	buf_release(&b);
	return s ? s : "{}";
}

static const char *step_name(const struct meta_notice *no, char out[32])
{
	if (no->step == META_NOTICE_STEP_LEAD)
		snprintf(out, 32, "the SOC lead");
	else
		snprintf(out, 32, "step %d", no->step + 1);
	return out;
}

/* ---- planning ---- */

/* The built-in policy: level >= 2 -> notify.lead, acknowledgement asked. */
static int default_plan(struct notify *n, const struct meta_incident *inc, struct arena *a,
			struct notify_plan *out)
{
	memset(out, 0, sizeof(*out));
	out->rule_name = "";
	if (inc->level < 2 || !n->lead_channel) {
		out->why = inc->level < 2 ? "no notification policy: the default notifies from High on"
					  : "no notification policy and no notify.lead";
		return 0;
	}
	{
		struct notify_step *s = arena_alloc(a, sizeof(*s));
		const char **to = arena_alloc(a, sizeof(*to));

		if (!s || !to)
			return -ENOMEM;
		to[0] = n->lead_to;
		*s = (struct notify_step){ .channel = n->lead_channel, .to = to, .n_to = 1,
					   .lang = "ja", .ack = true };
		out->matched = true;
		out->steps = s;
		out->n_steps = 1;
		out->why = "no notification policy: the default pages the SOC lead from High on";
	}
	return 0;
}

struct text_copy {
	struct arena *a;
	const char *text;
};

static void take_policy(void *ctx, const struct meta_notify_policy *p)
{
	struct text_copy *t = ctx;

	t->text = p->body ? adup(t->a, p->body) : NULL;
}

/* The tenant's policy text from koban.db into *text (the arena's), NULL when it has none. */
static int policy_text(struct notify *n, const char *tenant, const char **text, size_t *len,
		       struct err *e)
{
	struct text_copy t = { &n->work, NULL };
	int rc = meta_notify_policy_get(n->meta, tenant, take_policy, &t, e);

	*text = t.text;
	*len = t.text ? strlen(t.text) : 0;
	if (rc == -ENOENT) {
		err_clear(e);
		return 0;
	}
	return rc;
}

struct tags_copy {
	struct arena *a;
	const char **v;
	size_t n;
	bool done;
};

/* The first alert's rule tags (a JSON array of strings) into the arena. */
static void take_tags(void *ctx, const struct meta_alert *al)
{
	struct tags_copy *t = ctx;
	struct jsonin_value v;
	struct jsonin j;

	if (t->done || !al->rule_tags)
		return;
	t->done = true;
	if (!(t->v = arena_alloc(t->a, POLICY_LIST_MAX * sizeof(*t->v))))
		return;
	jsonin_init(&j, al->rule_tags, strlen(al->rule_tags), t->a, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
		return;
	while (t->n < POLICY_LIST_MAX && jsonin_more(&j) > 0) {
		if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_STRING)
			return;
		if ((t->v[t->n] = arena_strndup(t->a, v.s, v.len)))
			t->n++;
	}
}

/* The tenant's policy, planned twice: once for the rule's window, then with the count in it. */
static int policy_planner(struct notify *n, const struct meta_incident *inc, int64_t at_ns,
			  struct notify_plan *out, bool *found, struct err *e)
{
	struct tags_copy tags = { &n->work, NULL, 0, false };
	struct policy_facts f = { .level = inc->level, .rule = inc->rule_id, .at_ns = at_ns };
	struct policy_plan pp;
	struct policy *p = NULL;
	struct buf why;
	const char *text;
	size_t len;
	int rc;

	*found = false;
	if ((rc = policy_text(n, inc->tenant, &text, &len, e)) < 0 || !text)
		return rc;
	*found = true;
	if ((rc = meta_incident_alerts(n->meta, inc->tenant, inc->id, take_tags, &tags, e)) < 0 ||
	    (rc = policy_parse(&p, inc->tenant, text, len, e)) < 0)
		return rc;
	f.tags = tags.v;
	f.n_tags = tags.n;
	if ((rc = policy_plan(p, &f, &n->work, &pp, e)) < 0)
		goto fail;
	if (pp.window_ns > 0) {
		int64_t similar = 0;

		if ((rc = meta_notify_similar(n->meta, inc->tenant, inc->rule_id,
					      at_ns - pp.window_ns, at_ns, &similar, e)) < 0 ||
		    (f.similar = (uint64_t)similar, (rc = policy_plan(p, &f, &n->work, &pp, e)) < 0))
			goto fail;
	}
	memset(out, 0, sizeof(*out));
	out->rule_name = pp.rule_name ? pp.rule_name : "";
	out->matched = pp.matched;
	out->held = pp.held;
	out->aggregate = pp.aggregate;
	out->window_ns = pp.window_ns;
	out->held_until_ns = pp.held ? pp.held_until_ns : 0;
	out->n_steps = pp.n_steps;
	if (pp.n_steps && !(out->steps = arena_alloc(&n->work, pp.n_steps * sizeof(*out->steps)))) {
		rc = err_set(e, -ENOMEM, "notify: out of memory");
		goto fail;
	}
	/* the plan's strings may live in the policy, freed below: copied into the arena */
	out->rule_name = adup(&n->work, out->rule_name);
	for (size_t i = 0; i < pp.n_steps; i++) {
		const char **to = arena_alloc(&n->work, (pp.steps[i].n_to + 1) * sizeof(*to));

		if (!to || !out->rule_name) {
			rc = err_set(e, -ENOMEM, "notify: out of memory");
			goto fail;
		}
		for (size_t r = 0; r < pp.steps[i].n_to; r++)
			if (!(to[r] = adup(&n->work, pp.steps[i].to[r]))) {
				rc = err_set(e, -ENOMEM, "notify: out of memory");
				goto fail;
			}
		out->steps[i] = (struct notify_step){
			.channel = adup(&n->work, pp.steps[i].channel), .to = to,
			.n_to = pp.steps[i].n_to, .template = adup(&n->work, pp.steps[i].template),
			.lang = adup(&n->work, pp.steps[i].lang), .ack = pp.steps[i].ack,
			.after_ns = pp.steps[i].after_ns,
		};
		if (!out->steps[i].channel) {
			rc = err_set(e, -ENOMEM, "notify: out of memory");
			goto fail;
		}
	}
	buf_init(&why, 2048);
	for (size_t i = 0; i < pp.n_reasons; i++)
		(void)buf_addf(&why, "%s%s", i ? "; " : "", pp.reasons[i]);
	out->why = why.len ? arena_strndup(&n->work, why.p, why.len) : NULL;
	buf_release(&why);
	rc = 0;
fail:
	policy_free(p);
	return rc;
}

static int plan_for(struct notify *n, const struct meta_incident *inc, uint64_t similar,
		    int64_t at_ns, struct notify_plan *plan, bool *builtin, struct err *e)
{
	bool found;
	int rc;

	*builtin = false;
	if (n->plan)
		return n->plan(n->plan_ctx, inc, similar, at_ns, &n->work, plan, e);
	if ((rc = policy_planner(n, inc, at_ns, plan, &found, e)) < 0 || found)
		return rc;
	*builtin = true;
	if (default_plan(n, inc, &n->work, plan) < 0)
		return err_set(e, -ENOMEM, "notify: out of memory");
	return 0;
}

static int add_notice(struct notify *n, const struct meta_notice *no, size_t *added, struct err *e)
{
	int64_t id;
	bool is_new, appended;
	int rc = meta_notice_add(n->meta, no, &id, &is_new, &appended, e);

	if (rc == 0 && is_new) {
		(*added)++;
		atomic_fetch_add(&n->pending, 1);
	}
	return rc;
}

int notify_plan_incident(struct notify *n, const char *tenant, int64_t incident, int64_t at_ns,
			 size_t *added, struct err *e)
{
	struct meta_incident inc;
	struct notify_plan plan;
	int64_t similar = 0, due, last_due;
	bool builtin, asks_ack = false;
	char why[512];
	int rc;

	*added = 0;
	arena_clear(&n->work);
	if ((rc = get_incident(n, tenant, incident, &inc, e)) < 0)
		return rc;
	if (inc.level < 0 || meta_incident_status_closed(inc.status))
		return 0;
	if (inc.acknowledged_ns) {
		/* a raise after the acknowledgement plans a new chain (chain = the new level);
		 * a decision older than the latest acknowledgement plans nothing */
		int64_t acked_ns = 0;

		if ((rc = meta_incident_acked_since(n->meta, tenant, incident, at_ns, &acked_ns,
						    e)) < 0)
			return rc;
		if (acked_ns)
			return 0;
	}
	if ((rc = meta_notify_similar(n->meta, tenant, inc.rule_id, at_ns - SIMILAR_WINDOW_NS,
				      at_ns, &similar, e)) < 0 ||
	    (rc = plan_for(n, &inc, (uint64_t)similar, at_ns, &plan, &builtin, e)) < 0)
		return rc;
	if (!plan.matched || !plan.n_steps || (plan.held && plan.held_until_ns <= 0)) {
		if (builtin)
			return 0; /* no policy: the default's silence needs no entry */
		snprintf(why, sizeof(why), "No notice: %s.", plan.held ? "a maintenance window holds "
			 "the notices of this incident" : plan.why ? plan.why : "no policy rule matched");
		timeline(n, tenant, incident, at_ns, "notify", "{\"notices\":0}", why);
		return 0;
	}
	/* held: the chain starts when the maintenance window ends */
	due = last_due = plan.held ? MAX(plan.held_until_ns, at_ns) : at_ns;
	for (size_t k = 0; k < plan.n_steps && k < NOTIFY_STEPS_MAX; k++) {
		const struct notify_step *s = &plan.steps[k];
		bool agg = plan.aggregate && plan.window_ns > 0 && inc.level < 3;

		due += k ? MAX(s->after_ns, 0) : 0;
		if (agg && k)
			break; /* an aggregated notice does not escalate */
		asks_ack |= s->ack && !agg;
		for (size_t r = 0; r < s->n_to && r < NOTIFY_TO_MAX; r++) {
			int64_t win = agg ? at_ns - at_ns % plan.window_ns : 0;
			const struct meta_notice no = {
				.tenant = tenant, .incident = incident, /* 0 when aggregated */
				.chain = inc.level, .step = (int)k, .level = inc.level,
				.rule = plan.rule_name ? plan.rule_name : "", .channel = s->channel,
				.recipient = s->to[r], .template = s->template ? s->template : "",
				.lang = s->lang && !strcmp(s->lang, "en") ? "en" : "ja",
				.ack = s->ack && !agg, .agg_ns = win, .decided_ns = at_ns,
				.due_ns = agg ? MAX(win + plan.window_ns, due) : due,
				.created_ns = at_ns,
			};

			if (!chan_find(n, s->channel)) {
				log_warn("tenant %s incident %lld: the policy names channel '%s', which "
					 "notify.channels does not have", tenant, (long long)incident,
					 s->channel);
				continue;
			}
			if ((rc = add_notice(n, &no, added, e)) < 0)
				return rc;
		}
		last_due = due;
	}
	if (asks_ack && !builtin && n->lead_channel) {
		const struct meta_notice no = {
			.tenant = tenant, .incident = incident, .chain = inc.level,
			.step = META_NOTICE_STEP_LEAD, .level = inc.level, .rule = plan.rule_name ?
			plan.rule_name : "", .channel = n->lead_channel, .recipient = n->lead_to,
			.template = "", .lang = "ja", .ack = true, .decided_ns = at_ns,
			.due_ns = last_due + n->lead_after_ns, .created_ns = at_ns,
		};

		if ((rc = add_notice(n, &no, added, e)) < 0)
			return rc;
	}
	if (*added) {
		char held[96] = "";

		if (plan.held) {
			char t[TIME_RFC3339_LEN];

			(void)time_format_rfc3339(plan.held_until_ns, t);
			snprintf(held, sizeof(held), ", held by a maintenance window until %s", t);
		}
		snprintf(why, sizeof(why), "%zu notice%s planned for level %s (%s%s%s%s%s%s).",
			 *added, *added == 1 ? "" : "s", level_name(inc.level),
			 builtin ? "the default policy" : "policy rule ",
			 builtin ? "" : plan.rule_name ? plan.rule_name : "",
			 plan.aggregate && inc.level < 3 ? ", aggregated" : "",
			 asks_ack ? ", escalated until acknowledged" : "",
			 inc.acknowledged_ns ? ", raised after an acknowledgement" : "", held);
		char detail[64];

		snprintf(detail, sizeof(detail), "{\"notices\":%zu,\"level\":%d}", *added, inc.level);
		timeline(n, tenant, incident, at_ns, "notify", detail, why);
	}
	return 0;
}

/* ---- sending ---- */

struct due_list {
	struct arena *a;
	struct meta_notice *v;
	size_t n, cap;
};

static void take_due(void *ctx, const struct meta_notice *no)
{
	struct due_list *d = ctx;
	struct meta_notice *c;

	if (d->n >= d->cap)
		return;
	c = &d->v[d->n];
	*c = *no;
	c->tenant = adup(d->a, no->tenant);
	c->rule = adup(d->a, no->rule);
	c->channel = adup(d->a, no->channel);
	c->recipient = adup(d->a, no->recipient);
	c->template = adup(d->a, no->template);
	c->lang = adup(d->a, no->lang);
	c->incidents = adup(d->a, no->incidents);
	c->state = adup(d->a, no->state);
	c->provider_id = adup(d->a, no->provider_id);
	c->reason = adup(d->a, no->reason);
	if (c->tenant && c->channel && c->recipient && c->lang && c->incidents)
		d->n++;
}

static void count(struct notify *n, struct chan *k, enum outcome o)
{
	pthread_mutex_lock(&n->count_lock);
	if (k)
		k->counts[o]++;
	pthread_mutex_unlock(&n->count_lock);
}

static void observe_handoff(struct notify *n, int64_t ns)
{
	double s = (double)MAX(ns, 0) / 1e9;
	size_t b = 0;

	while (b < HANDOFF_BUCKETS && s > handoff_bounds[b])
		b++;
	pthread_mutex_lock(&n->count_lock);
	n->handoff[b]++;
	n->handoff_sum += s;
	pthread_mutex_unlock(&n->count_lock);
}

/* The incidents of an aggregated notice ("12,13,..."), read in the arena. */
static int read_list(struct notify *n, const struct meta_notice *no, struct render_in *in,
		     struct err *e)
{
	size_t cap = (size_t)MAX(no->n_incidents, 1);
	const char *p = no->incidents;

	if (!(in->list = arena_alloc(&n->work, cap * sizeof(*in->list))))
		return err_set(e, -ENOMEM, "notify: out of memory");
	while (*p && in->n_list < cap) {
		long long id = strtoll(p, NULL, 10);
		struct err ig = ERR_INIT;

		if (id > 0 && get_incident(n, no->tenant, id, &in->list[in->n_list], &ig) == 0) {
			in->level = MAX(in->level, in->list[in->n_list].level);
			in->n_list++;
		}
		p += strcspn(p, ",");
		p += *p == ',';
	}
	return 0;
}

static void finish(struct notify *n, const struct meta_notice *no, const char *state,
		   int64_t attempts, int64_t next_ns, const char *provider_id, const char *reason,
		   int64_t now_ns)
{
	struct err e = ERR_INIT;

	if (meta_notice_set(n->meta, no->id, state, attempts, next_ns, provider_id, reason, now_ns,
			    &e) < 0)
		log_error("notice %lld: state %s not written: %s", (long long)no->id, state, e.msg);
	if (strcmp(state, "pending") && strcmp(state, "sending"))
		atomic_fetch_sub(&n->pending, 1);
}

static void attempt(struct notify *n, const struct meta_notice *no, int64_t at_ns,
		    const char *status, const char *reason, const char *provider_id)
{
	struct err e = ERR_INIT;

	if (meta_notice_attempt(n->meta, no->id, at_ns, status, reason, provider_id, &e) < 0)
		log_error("notice %lld: attempt not written: %s", (long long)no->id, e.msg);
}

/* Cancels the rest of the chain of an incident that was acknowledged or closed. */
static void stop_chain(struct notify *n, const struct meta_notice *no, int64_t acked_ns,
		       int64_t now_ns)
{
	struct err e = ERR_INIT;
	int64_t cancelled = 0;
	char why[256], detail[64];

	/* acknowledged: the chains planned before that acknowledgement; closed: every one */
	if (meta_notice_cancel(n->meta, no->tenant, no->incident, acked_ns ? acked_ns : INT64_MAX,
			       now_ns, &cancelled, &e) < 0) {
		log_error("incident %lld: chain not stopped: %s", (long long)no->incident, e.msg);
		return;
	}
	if (!cancelled)
		return;
	atomic_fetch_sub(&n->pending, cancelled);
	for (int64_t i = 0; i < cancelled; i++)
		count(n, chan_find(n, no->channel), OUT_CANCELLED);
	snprintf(why, sizeof(why), "Escalation stopped: the incident was %s; %lld notice%s not sent.",
		 acked_ns ? "acknowledged" : "closed", (long long)cancelled,
		 cancelled == 1 ? "" : "s");
	snprintf(detail, sizeof(detail), "{\"cancelled\":%lld}", (long long)cancelled);
	timeline(n, no->tenant, no->incident, now_ns, "notify", detail, why);
}

/* Makes the notice's token and link when it asks for an acknowledgement. */
static int ack_link(struct notify *n, const struct meta_notice *no, int64_t now_ns,
		    struct render_in *in, struct err *e)
{
	struct buf tok, url;
	int rc = 0;

	if (!no->ack || !n->ack_key || no->incident <= 0)
		return 0;
	buf_init(&tok, ACK_TOKEN_MAX + 1);
	buf_init(&url, URL_MAX);
	if ((rc = ack_token_make(n->ack_key, no->tenant, no->incident, no->id,
				 now_ns + n->ack_ttl_ns, &tok, e)) < 0 || buf_addch(&tok, '\0') < 0)
		goto fail;
	in->ack_token = adup(&n->work, tok.p);
	if (n->ack_base) {
		if (buf_addf(&url, "%s/ack/%s", n->ack_base, tok.p) < 0 || buf_addch(&url, '\0') < 0)
			goto fail;
		in->ack_url = adup(&n->work, url.p);
	}
	buf_release(&tok);
	buf_release(&url);
	return 0;
fail:
	buf_release(&tok);
	buf_release(&url);
	return rc < 0 ? rc : err_set(e, -ENOSPC, "notify: an acknowledgement link is too long");
}

/*
 * Sends one due notice: the chain's checks (acknowledged, closed), the rate limit, the
 * rendering and the hand-off; the outcome in koban.db and on the timeline. 1 when handed to a
 * channel, 0 when not (yet), negative on an error of koban.db.
 */
static int send_one(struct notify *n, const struct meta_notice *no, int64_t now_ns, struct err *e)
{
	struct chan *k = chan_find(n, no->channel);
	struct render_in in = { .tenant = no->tenant, .level = no->level, .template = no->template };
	struct meta_incident inc;
	struct channel_result res;
	struct buf parts[PARTS];
	struct report_copy rep = { &n->work, NULL, NULL };
	char msgid[256], incurl[URL_MAX], why[768], step[32];
	int64_t wait_until;
	const char *status;
	int rc, sent = 0;

	if (!k) {
		finish(n, no, "failed", no->attempts, no->next_ns, NULL,
		       "the channel is not in notify.channels (any more)", now_ns);
		attempt(n, no, now_ns, "failed", "the channel is not in notify.channels", "");
		return 0;
	}
	if (no->incident > 0) {
		if ((rc = get_incident(n, no->tenant, no->incident, &inc, e)) < 0) {
			if (rc != -ENOENT)
				return rc;
			finish(n, no, "cancelled", no->attempts, no->next_ns, NULL,
			       "the incident is gone", now_ns);
			return 0;
		}
		int64_t acked_ns = 0;

		/* only an acknowledgement given after this chain was planned stops it */
		if (!meta_incident_status_closed(inc.status) && inc.acknowledged_ns &&
		    (rc = meta_incident_acked_since(n->meta, no->tenant, no->incident,
						    no->decided_ns, &acked_ns, e)) < 0)
			return rc;
		if (acked_ns || meta_incident_status_closed(inc.status)) {
			stop_chain(n, no, acked_ns, now_ns); /* this notice (pending) included */
			return 0;
		}
		in.inc = &inc;
		in.level = inc.level;
	}
	if (n->send && (wait_until = chan_take(k, now_ns)) > 0) { /* replay sends nothing */
		finish(n, no, "pending", no->attempts, wait_until, NULL, NULL, now_ns);
		return 0;
	}
	if (no->incident == 0) {
		in.aggregated = true;
		in.count = no->n_incidents;
		if ((rc = read_list(n, no, &in, e)) < 0)
			return rc;
		if (!in.n_list) {
			finish(n, no, "cancelled", no->attempts, no->next_ns, NULL,
			       "the incidents are gone", now_ns);
			return 0;
		}
	} else {
		(void)meta_report_get(n->meta, no->tenant, no->incident, no->lang, copy_report, &rep,
				      &(struct err){ 0 }); /* -ENOENT: none drafted yet */
		in.report = rep.text;
		in.report_status = rep.status;
		if (n->portal_base) {
			snprintf(incurl, sizeof(incurl), "%s/incidents/%lld", n->portal_base,
				 (long long)no->incident);
			in.incident_url = incurl;
		}
	}
	if ((rc = ack_link(n, no, now_ns, &in, e)) < 0)
		return rc;
	for (size_t p = 0; p < PARTS; p++)
		buf_init(&parts[p], TEXT_MAX);
	if ((rc = render_parts(n, &in, lang_index(no->lang), parts, e)) < 0) {
		finish(n, no, "failed", no->attempts + 1, no->next_ns, NULL, e->msg, now_ns);
		attempt(n, no, now_ns, "failed", e->msg, "");
		count(n, k, OUT_FAILED);
		rc = 0;
		goto out;
	}
	snprintf(msgid, sizeof(msgid), "<koban.%s.%lld.%lld@%s>", no->tenant,
		 (long long)no->incident, (long long)no->id, n->host);
	if (!n->send) {
		finish(n, no, "planned", no->attempts, no->next_ns, NULL, "replay: not sent", now_ns);
		attempt(n, no, now_ns, "planned", "replay: not sent", "");
		count(n, k, OUT_PLANNED);
		snprintf(why, sizeof(why), "Planned %s to %s by %s (replay: not sent).",
			 step_name(no, step), no->recipient, no->channel);
		timeline(n, no->tenant, no->incident, now_ns, "notify",
			 notice_detail(n, no, "planned"), why);
		rc = 1; /* counted as handled */
		goto out;
	}
	{
		const struct notice msg = {
			.tenant = no->tenant, .incident = no->incident, .id = no->id,
			.message_id = msgid, .recipient = no->recipient, .lang = no->lang,
			.level = in.level, .level_name = level_name(in.level),
			.title = in.inc ? in.inc->title : parts[PART_SUBJECT].p,
			.subject = parts[PART_SUBJECT].p, .text = parts[PART_TEXT].p,
			.html = parts[PART_HTML].p, .speech = parts[PART_SPEECH].p,
			.incident_url = in.incident_url, .ack_url = in.ack_url,
			.ack_token = in.ack_token,
		};
		struct err se = ERR_INIT;

		memset(&res, 0, sizeof(res));
		finish(n, no, "sending", no->attempts, no->next_ns, NULL, NULL, now_ns);
		rc = k->ops->send(k->state, &msg, &res, &se);
		if (rc < 0 && !res.reason[0])
			snprintf(res.reason, sizeof(res.reason), "%.255s", se.msg[0] ? se.msg : strerror(-rc));
		if (rc < 0 && res.status != CHANNEL_FAILED_PERM)
			res.status = CHANNEL_FAILED_TEMP;
	}
	now_ns = now_of(n);
	if (res.status == CHANNEL_SENT || res.status == CHANNEL_DELIVERED) {
		status = res.status == CHANNEL_SENT ? "sent" : "delivered";
		finish(n, no, status, no->attempts + 1, no->next_ns, res.provider_id, "", now_ns);
		attempt(n, no, now_ns, status, "", res.provider_id);
		count(n, k, res.status == CHANNEL_SENT ? OUT_SENT : OUT_DELIVERED);
		if (no->attempts == 0 && no->step == 0)
			observe_handoff(n, now_ns - no->decided_ns);
		snprintf(why, sizeof(why), "%s %s to %s by %s%s%s%s.",
			 res.status == CHANNEL_SENT ? "Sent" : "Delivered", step_name(no, step),
			 no->recipient, no->channel, res.provider_id[0] ? " (" : "",
			 res.provider_id, res.provider_id[0] ? ")" : "");
		timeline(n, no->tenant, no->incident, now_ns, "notify", notice_detail(n, no, status),
			 why);
		if (in.level >= 2 && no->incident > 0 &&
		    (rc = meta_incident_clock(n->meta, no->tenant, no->incident, META_CLOCK_CONTACTED,
					      now_ns, ACTOR, NULL, e)) < 0)
			log_error("incident %lld: contacted clock not set: %s", (long long)no->incident,
				  e->msg);
		/* an aggregated notice: each incident it lists has it on its timeline */
		for (int64_t i = 0; no->incident == 0 && i < (int64_t)in.n_list; i++) {
			char agg[512];

			snprintf(agg, sizeof(agg), "Listed in an aggregated notice of %lld incidents "
				 "%s to %s by %s.", (long long)MAX(in.count, (int64_t)in.n_list),
				 res.status == CHANNEL_SENT ? "sent" : "delivered", no->recipient,
				 no->channel);
			timeline(n, no->tenant, in.list[i].id, now_ns, "notify",
				 notice_detail(n, no, status), agg);
			if (in.list[i].level >= 2)
				(void)meta_incident_clock(n->meta, no->tenant, in.list[i].id,
							  META_CLOCK_CONTACTED, now_ns, ACTOR, NULL,
							  &(struct err){ 0 });
		}
		sent = 1;
	} else if (res.status == CHANNEL_FAILED_TEMP && no->attempts + 1 < n->retry_attempts) {
		int64_t back = n->retry_backoff_ns;

		for (int64_t i = 0; i < no->attempts && back < n->retry_max_backoff_ns; i++)
			back *= 2;
		back = MIN(back, n->retry_max_backoff_ns);
		back = MAX(back, (int64_t)res.retry_after_s * NS_PER_SEC);
		finish(n, no, "pending", no->attempts + 1, now_ns + back, NULL, res.reason, now_ns);
		attempt(n, no, now_ns, "retry", res.reason, res.provider_id);
		count(n, k, OUT_RETRY);
		snprintf(why, sizeof(why), "Not sent %s to %s by %s (try %lld of %u): %s; trying "
			 "again in %lld s.", step_name(no, step), no->recipient, no->channel,
			 (long long)no->attempts + 1, (unsigned)n->retry_attempts, res.reason,
			 (long long)(back / NS_PER_SEC));
		timeline(n, no->tenant, no->incident, now_ns, "notify", notice_detail(n, no, "retry"),
			 why);
	} else {
		finish(n, no, "failed", no->attempts + 1, no->next_ns, res.provider_id, res.reason,
		       now_ns);
		attempt(n, no, now_ns, "failed", res.reason, res.provider_id);
		count(n, k, OUT_FAILED);
		snprintf(why, sizeof(why), "Failed %s to %s by %s after %lld tr%s: %s.",
			 step_name(no, step), no->recipient, no->channel, (long long)no->attempts + 1,
			 no->attempts ? "ies" : "y", res.reason);
		timeline(n, no->tenant, no->incident, now_ns, "notify", notice_detail(n, no, "failed"),
			 why);
		log_warn("tenant %s notice %lld to %s by %s failed: %s", no->tenant, (long long)no->id,
			 no->recipient, no->channel, res.reason);
	}
	rc = sent;
out:
	for (size_t p = 0; p < PARTS; p++)
		buf_release(&parts[p]);
	return rc;
}

/* Every notice due at now (in batches), most urgent first. */
static int send_due(struct notify *n, struct err *e)
{
	int total = 0, rc;

	for (int round = 0; round < 1000; round++) {
		struct due_list d = { &n->work, NULL, 0, NOTIFY_BATCH };
		int64_t now_ns = now_of(n);

		arena_clear(&n->work);
		if (!(d.v = arena_alloc(&n->work, d.cap * sizeof(*d.v))))
			return err_set(e, -ENOMEM, "notify: out of memory");
		/* replay: every notice of the run is logged as planned, the later steps too */
		if ((rc = meta_notice_due(n->meta, n->send ? now_ns : INT64_MAX, (int64_t)d.cap,
					  take_due, &d, e)) < 0)
			return rc;
		if (!d.n)
			break;
		for (size_t i = 0; i < d.n; i++) {
			if ((rc = send_one(n, &d.v[i], now_of(n), e)) < 0)
				return rc;
			total += rc;
		}
		if (d.n < d.cap)
			break;
	}
	return total;
}

/* ---- delivery statuses ---- */

static bool word_in(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(w, *list))
			return true;
	return false;
}

static void apply_status(struct notify *n, const struct job *j)
{
	static const char *const ok[] = { "delivered", "completed", "answered", "read", NULL };
	static const char *const bad[] = { "failed", "busy", "no-answer", "canceled", "cancelled",
					   "undelivered", NULL };
	struct meta_notice no;
	struct due_list d = { &n->work, &no, 0, 1 };
	struct err e = ERR_INIT;
	int64_t now_ns = now_of(n);
	bool good = word_in(j->status, ok), failed = word_in(j->status, bad);
	char why[512], step[32];

	if (!good && !failed)
		return; /* ringing, queued, in-progress: nothing to record */
	arena_clear(&n->work);
	if (meta_notice_get(n->meta, j->tenant, j->id, take_due, &d, &e) < 0 || !d.n) {
		log_warn("status %s for notice %lld of tenant %s: %s", j->status, (long long)j->id,
			 j->tenant, e.msg[0] ? e.msg : "no such notice");
		return;
	}
	if (meta_notice_set(n->meta, no.id, good ? "delivered" : "failed", no.attempts, no.next_ns,
			    NULL, good ? "" : j->reason[0] ? j->reason : j->status, now_ns, &e) < 0)
		log_error("notice %lld: status not written: %s", (long long)no.id, e.msg);
	attempt(n, &no, now_ns, good ? "delivered" : "failed", good ? "" : j->reason[0] ?
		j->reason : j->status, "");
	count(n, chan_find(n, no.channel), good ? OUT_DELIVERED : OUT_FAILED);
	snprintf(why, sizeof(why), "%s %s to %s by %s (%s%s%s).",
		 good ? "Delivered" : "Not delivered", step_name(&no, step), no.recipient,
		 no.channel, j->status, j->reason[0] ? ": " : "", j->reason);
	timeline(n, no.tenant, no.incident, now_ns, "notify",
		 notice_detail(n, &no, good ? "delivered" : "failed"), why);
}

struct recipient_copy {
	char *out;
	size_t max;
};

static void take_recipient(void *ctx, const struct meta_notice *no)
{
	struct recipient_copy *r = ctx;

	snprintf(r->out, r->max, "%s", no->recipient);
}

int notify_recipient(void *ctx, const char *tenant, int64_t notice, char *out, size_t max)
{
	struct notify *n = ctx;
	struct recipient_copy r = { out, max };
	struct err e = ERR_INIT;
	struct meta *m;
	int rc;

	if (!n || !max)
		return -ENOENT;
	out[0] = '\0';
	if ((rc = meta_open(&m, n->data_dir, &e)) < 0)
		return rc;
	rc = meta_notice_get(m, tenant, notice, take_recipient, &r, &e);
	meta_close(m);
	return rc < 0 ? rc : out[0] ? 0 : -ENOENT;
}

void notify_acked(void *ctx, const char *tenant, int64_t incident, int64_t cancelled)
{
	struct notify *n = ctx;

	if (!n || cancelled <= 0)
		return;
	atomic_fetch_sub(&n->pending, cancelled); /* each row leaves pending once */
	log_debug("tenant %s incident %lld: %lld pending notice%s cancelled by its acknowledgement",
		  tenant, (long long)incident, (long long)cancelled, cancelled == 1 ? "" : "s");
	pthread_mutex_lock(&n->lock);
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
}

/* ---- the queue ---- */

static bool push(struct notify *n, const struct job *j)
{
	bool ok;

	pthread_mutex_lock(&n->lock);
	ok = n->queued < n->cap;
	if (ok && j->kind == JOB_DECISION && j->to >= 3) {
		/* a Critical decision goes first: a storm of lesser ones never delays it */
		n->head = (n->head + n->cap - 1) % n->cap;
		n->ring[n->head] = *j;
		n->queued++;
		pthread_cond_signal(&n->wake);
	} else if (ok) {
		n->ring[(n->head + n->queued) % n->cap] = *j;
		n->queued++;
		pthread_cond_signal(&n->wake);
	}
	pthread_mutex_unlock(&n->lock);
	if (!ok)
		atomic_fetch_add(&n->dropped, 1);
	return ok;
}

static void handle_job(struct notify *n, const struct job *j)
{
	struct err e = ERR_INIT;
	size_t added;

	if (j->kind == JOB_STATUS) {
		apply_status(n, j);
		return;
	}
	if (notify_plan_incident(n, j->tenant, j->id, j->at_ns, &added, &e) < 0)
		log_error("tenant %s incident %lld: notices not planned: %s", j->tenant,
			  (long long)j->id, e.msg);
}

void notify_level_decided(void *ctx, const char *tenant, int64_t incident, int from, int to,
			  int64_t at_ns)
{
	struct notify *n = ctx;
	struct job j = { .kind = JOB_DECISION, .id = incident, .from = from, .to = to,
			 .at_ns = at_ns };

	if (!n || !n->enabled || to < 0 || to <= from)
		return; /* lowered or unchanged: what was noticed stays noticed */
	snprintf(j.tenant, sizeof(j.tenant), "%s", tenant);
	if (!n->threaded) { /* replay, tests: planned at once on the caller's thread */
		handle_job(n, &j);
		return;
	}
	if (!push(n, &j))
		log_warn("tenant %s incident %lld: the notification queue is full; its decision "
			 "is not noticed", tenant, (long long)incident);
}

void notify_status(void *ctx, const char *tenant, int64_t notice, const char *status,
		   const char *reason)
{
	struct notify *n = ctx;
	struct job j = { .kind = JOB_STATUS, .id = notice };

	if (!n || !tenant || !status)
		return;
	snprintf(j.tenant, sizeof(j.tenant), "%s", tenant);
	snprintf(j.status, sizeof(j.status), "%s", status);
	snprintf(j.reason, sizeof(j.reason), "%s", reason ? reason : "");
	if (!n->threaded)
		handle_job(n, &j);
	else if (!push(n, &j))
		log_warn("tenant %s notice %lld: the notification queue is full; status %s not "
			 "recorded", tenant, (long long)notice, status);
}

/* Handles the queued jobs, at most max (lock not held on entry); whether any are left. */
static bool drain_some(struct notify *n, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		struct job j;

		pthread_mutex_lock(&n->lock);
		if (!n->queued) {
			pthread_mutex_unlock(&n->lock);
			return false;
		}
		j = n->ring[n->head];
		n->head = (n->head + 1) % n->cap;
		n->queued--;
		pthread_mutex_unlock(&n->lock);
		handle_job(n, &j);
	}
	return true;
}

static void drain(struct notify *n)
{
	while (drain_some(n, SIZE_MAX))
		;
}

/* ---- levels set by hand ---- */

struct manual_list {
	struct job v[MANUAL_BATCH];
	size_t n;
	int64_t last;
};

static void take_manual(void *ctx, const struct meta_level_set *l)
{
	struct manual_list *ml = ctx;
	struct job *j;

	ml->last = l->entry;
	if (ml->n >= MANUAL_BATCH || l->to < 0 || l->to <= l->from)
		return; /* lowered: what was noticed stays noticed */
	j = &ml->v[ml->n++];
	*j = (struct job){ .kind = JOB_DECISION, .id = l->incident, .from = l->from, .to = l->to,
			   .at_ns = l->at_ns };
	snprintf(j->tenant, sizeof(j->tenant), "%s", l->tenant);
}

/*
 * An analyst's level (`koban incident update --level`, PATCH .../incidents/ID, from this
 * process or another) is a timeline entry "level" with "manual": true: the entries written
 * since the last look that raise a level are planned like the SOC engine's decisions (the
 * same notices, so one heard twice adds nothing). Engine's thread (or notify_run) only.
 */
static int plan_manual(struct notify *n, struct err *e)
{
	int rc;

	if (!n->enabled)
		return 0;
	for (;;) {
		struct manual_list ml = { .n = 0, .last = n->levels_seen };

		if ((rc = meta_incident_levels_since(n->meta, n->levels_seen, MANUAL_BATCH,
						     take_manual, &ml, e)) < 0)
			return rc;
		for (size_t i = 0; i < ml.n; i++)
			handle_job(n, &ml.v[i]);
		if (ml.last == n->levels_seen)
			return 0;
		n->levels_seen = ml.last;
	}
}

int notify_run(struct notify *n, struct err *e)
{
	int rc;

	drain(n);
	if ((rc = plan_manual(n, e)) < 0)
		return rc;
	return send_due(n, e);
}

int64_t notify_queue(struct notify *n)
{
	int64_t v = atomic_load(&n->pending);

	return MAX(v, 0);
}

int64_t notify_next_due(struct notify *n)
{
	struct err e = ERR_INIT;
	int64_t next = 0;

	if (meta_notice_next(n->meta, &next, &e) < 0)
		log_error("%s", e.msg);
	return next;
}

static void *notify_main(void *arg)
{
	struct notify *n = arg;
	struct err e = ERR_INIT;

	for (;;) {
		int64_t next, wait_ns;
		struct timespec until;

		/* a batch of decisions, then what is due: planning a storm delays no send long */
		(void)drain_some(n, NOTIFY_BATCH);
		if (plan_manual(n, &e) < 0) {
			log_error("levels set by hand not noticed: %s", e.msg);
			err_clear(&e);
		}
		if (send_due(n, &e) < 0) {
			log_error("notices not sent: %s", e.msg);
			err_clear(&e);
		}
		next = notify_next_due(n);
		wait_ns = next ? MIN(MAX(next - time_now_ns(), 0), TICK_NS) : TICK_NS;
		pthread_mutex_lock(&n->lock);
		if (n->stop) {
			pthread_mutex_unlock(&n->lock);
			break;
		}
		if (!n->queued && wait_ns > 0) {
			until = time_after(CLOCK_MONOTONIC, wait_ns);
			pthread_cond_timedwait(&n->wake, &n->lock, &until);
		}
		pthread_mutex_unlock(&n->lock);
	}
	drain(n);
	return NULL;
}

/* ---- metrics ---- */

static int collect_notices(struct metrics_out *o, void *ctx)
{
	struct notify *n = ctx;
	int rc = 0;

	pthread_mutex_lock(&n->count_lock);
	for (size_t i = 0; rc == 0 && i < n->n_chans; i++)
		for (size_t s = 0; rc == 0 && s < OUTCOMES; s++)
			rc = metrics_sample(o, n->chans[i].counts[s], "channel", n->chans[i].name,
					    "status", outcome_names[s], NULL);
	pthread_mutex_unlock(&n->count_lock);
	return rc;
}

static int collect_queue(struct metrics_out *o, void *ctx)
{
	struct notify *n = ctx;
	int64_t v = atomic_load(&n->pending);

	return metrics_sample(o, (uint64_t)MAX(v, 0), NULL);
}

static int collect_handoff(struct metrics_out *o, void *ctx)
{
	struct notify *n = ctx;
	uint64_t counts[HANDOFF_BUCKETS + 1];
	double sum;

	pthread_mutex_lock(&n->count_lock);
	memcpy(counts, n->handoff, sizeof(counts));
	sum = n->handoff_sum;
	pthread_mutex_unlock(&n->count_lock);
	return metrics_sample_histogram(o, handoff_bounds, counts, HANDOFF_BUCKETS, sum, NULL);
}

static int register_metrics(struct notify *n, struct err *e)
{
	static const struct metrics_family fams[] = {
		{ "koban_notify_notices_total", METRICS_COUNTER,
		  "Notice outcomes by channel: sent, delivered, retry, failed, cancelled "
		  "(acknowledged first), planned (replay).", collect_notices },
		{ "koban_notify_queue", METRICS_GAUGE,
		  "Notices waiting in koban.db to be sent (due or not yet).", collect_queue },
		{ "koban_notify_decision_to_handoff_seconds", METRICS_HISTOGRAM,
		  "From an incident's level decision to its first notice handed to a channel.",
		  collect_handoff },
	};
	const char *failed = NULL;
	int rc = metrics_register_families(fams, ARRAY_SIZE(fams), n, &failed);

	if (rc < 0)
		return err_set(e, rc, "cannot register %s: %s", failed ? failed : "the metrics",
			       strerror(-rc));
	n->metrics = true;
	return 0;
}

/* ---- life cycle ---- */

static int count_pending(struct notify *n, struct err *e)
{
	int64_t now_ns = now_of(n);
	int rc = meta_notice_resume(n->meta, now_ns, e);

	if (rc < 0)
		return rc;
	{
		int64_t pending = 0;
		int prc = meta_notice_pending(n->meta, &pending, e);

		if (prc < 0)
			return prc;
		atomic_store(&n->pending, pending);
	}
	if (rc > 0)
		log_warn("%d notice%s being handed to a channel when koban stopped: tried "
			 "again (same message id)", rc, rc == 1 ? " was" : "s were");
	return 0;
}

static void host_of(struct notify *n, const char *ack_url)
{
	if (ack_url && !strncmp(ack_url, "https://", 8)) {
		size_t len = strcspn(ack_url + 8, ":/");

		snprintf(n->host, sizeof(n->host), "%.*s", (int)MIN(len, sizeof(n->host) - 1),
			 ack_url + 8);
		return;
	}
	if (gethostname(n->host, sizeof(n->host)) < 0 || !n->host[0])
		snprintf(n->host, sizeof(n->host), "koban");
	n->host[sizeof(n->host) - 1] = '\0';
	for (char *p = n->host; *p; p++)
		if (*p == '>' || *p == '<' || *p == ' ')
			*p = '-';
}

int notify_new(struct notify **out, const struct notify_config *c, struct err *e)
{
	const struct config_notify *nc = &c->cfg->notify;
	struct notify *n = mem_calloc(1, sizeof(*n));
	pthread_condattr_t ca;
	char path[4096];
	int rc;

	*out = NULL;
	if (!n)
		return err_set(e, -ENOMEM, "notify: out of memory");
	n->threaded = c->threaded;
	n->send = c->send;
	n->enabled = nc->enabled != 0;
	n->now = c->now;
	n->now_ctx = c->now_ctx;
	n->plan = c->plan;
	n->plan_ctx = c->plan_ctx;
	n->ack_ttl_ns = (int64_t)nc->ack_ttl * NS_PER_SEC;
	n->lead_after_ns = (int64_t)nc->lead_after * NS_PER_SEC;
	n->retry_attempts = nc->retry_attempts ? nc->retry_attempts : 1;
	n->retry_backoff_ns = (int64_t)nc->retry_backoff * NS_PER_SEC;
	n->retry_max_backoff_ns = (int64_t)nc->retry_max_backoff * NS_PER_SEC;
	arena_init(&n->work, 64 * 1024, 64u << 20);
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->count_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->wake, &ca);
	pthread_condattr_destroy(&ca);
	n->cap = NOTIFY_QUEUE_MAX;
	host_of(n, nc->ack_url);
	if (!(n->ring = mem_calloc(n->cap, sizeof(*n->ring))) ||
	    !(n->data_dir = mem_strdup(c->cfg->data_dir)) ||
	    (nc->ack_url && !(n->ack_base = mem_strdup(nc->ack_url))) ||
	    (nc->portal_url && !(n->portal_base = mem_strdup(nc->portal_url))) ||
	    (nc->lead_channel && !(n->lead_channel = mem_strdup(nc->lead_channel))) ||
	    (nc->lead_to && !(n->lead_to = mem_strdup(nc->lead_to)))) {
		rc = err_set(e, -ENOMEM, "notify: out of memory");
		goto fail;
	}
	if (nc->templates && !(n->tdir = mem_strdup(nc->templates))) {
		rc = err_set(e, -ENOMEM, "notify: out of memory");
		goto fail;
	}
	if ((rc = meta_open(&n->meta, c->cfg->data_dir, e)) < 0 ||
	    (rc = load_templates(n->tmpl, nc->templates, e)) < 0 ||
	    (rc = open_channels(n, c, e)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s", c->cfg->data_dir, ACK_KEY_FILE);
	if ((rc = ack_key_load(&n->ack_key, nc->ack_key_file ? nc->ack_key_file : path, e)) < 0 ||
	    (rc = count_pending(n, e)) < 0 ||
	    (rc = meta_incident_levels_last(n->meta, &n->levels_seen, e)) < 0)
		goto fail;
	if (c->metrics && (rc = register_metrics(n, e)) < 0)
		goto fail;
	if (n->threaded) {
		if ((rc = -pthread_create(&n->thread, NULL, notify_main, n)) < 0) {
			err_set(e, rc, "cannot start the notification thread: %s", strerror(-rc));
			goto fail;
		}
		pthread_setname_np(n->thread, "koban-notify");
		n->started = true;
	}
	*out = n;
	return 0;
fail:
	notify_free(n);
	return rc;
}

void notify_free(struct notify *n)
{
	if (!n)
		return;
	if (n->started) {
		pthread_mutex_lock(&n->lock);
		n->stop = true;
		pthread_cond_signal(&n->wake);
		pthread_mutex_unlock(&n->lock);
		pthread_join(n->thread, NULL);
	}
	if (n->metrics)
		metrics_unregister(n);
	for (size_t i = 0; i < n->n_chans; i++) {
		if (n->chans[i].ops)
			n->chans[i].ops->close(n->chans[i].state);
		mem_free(n->chans[i].name);
	}
	mem_free(n->chans);
	for (size_t l = 0; l < LANGS; l++)
		for (size_t p = 0; p < PARTS; p++) {
			tmpl_free(n->tmpl[l][p]);
			for (size_t i = 0; i < n->n_sets; i++)
				tmpl_free(n->sets[i].t[l][p]);
		}
	mem_free(n->sets);
	mem_free(n->tdir);
	ack_key_free(n->ack_key);
	meta_close(n->meta);
	mem_free(n->ring);
	mem_free(n->ack_base);
	mem_free(n->data_dir);
	mem_free(n->portal_base);
	mem_free(n->lead_channel);
	mem_free(n->lead_to);
	arena_release(&n->work);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->count_lock);
	mem_free(n);
}

/* ---- the delivery log as JSON ---- */

struct log_json {
	struct meta *m;
	const char *tenant;
	struct buf *out;
	bool first_try;
	int rc;
	struct err *e;
};

static int json_kv(struct buf *b, const char *key, const char *v)
{
	int rc = buf_addf(b, ",\"%s\":", key);

	return err_first(rc, json_add_string(b, v, strlen(v)));
}

static void log_try(void *ctx, const struct meta_notice_attempt *at)
{
	struct log_json *l = ctx;
	int rc = buf_addf(l->out, "%s{\"at\":%lld", l->first_try ? "" : ",", (long long)at->at_ns);

	l->first_try = false;
	rc = err_first(rc, json_kv(l->out, "status", at->status));
	rc = err_first(rc, json_kv(l->out, "reason", at->reason));
	rc = err_first(rc, json_kv(l->out, "provider_id", at->provider_id));
	rc = err_first(rc, buf_addch(l->out, '}'));
	l->rc = err_first(l->rc, rc);
}

static void log_notice(void *ctx, const struct meta_notice *no)
{
	struct log_json *l = ctx;
	struct buf *b = l->out;
	int rc;

	if (l->rc < 0)
		return;
	rc = buf_addf(b, "{\"id\":%lld,\"incident\":%lld,\"chain\":%d,\"step\":%d,"
		      "\"lead\":%s,\"level\":%d", (long long)no->id, (long long)no->incident,
		      no->chain, no->step == META_NOTICE_STEP_LEAD ? -1 : no->step,
		      no->step == META_NOTICE_STEP_LEAD ? "true" : "false", no->level);
	rc = err_first(rc, json_kv(b, "rule", no->rule));
	rc = err_first(rc, json_kv(b, "channel", no->channel));
	rc = err_first(rc, json_kv(b, "to", no->recipient));
	rc = err_first(rc, json_kv(b, "lang", no->lang));
	rc = err_first(rc, buf_addf(b, ",\"ack\":%s,\"window_ns\":%lld",
				    no->ack ? "true" : "false", (long long)no->agg_ns));
	rc = err_first(rc, json_kv(b, "incidents", no->incidents));
	rc = err_first(rc, json_kv(b, "state", no->state));
	rc = err_first(rc, buf_addf(b, ",\"attempts\":%lld,\"decided_ns\":%lld,\"due_ns\":%lld,"
				    "\"next_ns\":%lld", (long long)no->attempts,
				    (long long)no->decided_ns, (long long)no->due_ns,
				    (long long)no->next_ns));
	rc = err_first(rc, json_kv(b, "provider_id", no->provider_id));
	rc = err_first(rc, json_kv(b, "reason", no->reason));
	rc = err_first(rc, buf_adds(b, ",\"tries\":["));
	l->first_try = true;
	if (rc == 0 && (rc = meta_notice_attempts(l->m, l->tenant, no->id, log_try, l, l->e)) < 0) {
		l->rc = rc;
		return;
	}
	rc = err_first(rc, buf_adds(b, "]}\n"));
	l->rc = err_first(l->rc, rc);
}

int notify_log_json(struct meta *m, const char *tenant, int64_t incident, int64_t limit,
		    struct buf *out, struct err *e)
{
	struct log_json l = { m, tenant, out, true, 0, e };
	int rc = meta_notice_list(m, tenant, incident, limit, log_notice, &l, e);

	if (rc == 0 && l.rc < 0)
		rc = l.rc == -ENOSPC || l.rc == -ENOMEM ?
		     err_set(e, l.rc, "the delivery log is too large: ask for fewer (limit)") : l.rc;
	return rc;
}

/* ---- test notices and previews ---- */

int notify_test(struct notify *n, const char *tenant, const char *channel, const char *to,
		const char *lang, struct notify_test_result *r, struct err *e)
{
	struct chan *k = chan_find(n, channel);
	struct render_in in = { .tenant = tenant, .level = 3, .test = true };
	struct meta_incident inc = { .id = 0, .tenant = tenant, .level = 3, .status = "new",
				     .title = lang && !strcmp(lang, "en") ? "koban notification test" :
				     "koban 通知テスト", .rule_id = "test", .evidence = "[]",
				     .entities = "{}" };
	struct buf parts[PARTS];
	struct channel_result res;
	char msgid[256];
	int rc;

	memset(r, 0, sizeof(*r));
	if (!k)
		return err_set(e, -ENOENT, "no channel '%s' in notify.channels", channel);
	in.inc = &inc;
	arena_clear(&n->work);
	for (size_t p = 0; p < PARTS; p++)
		buf_init(&parts[p], TEXT_MAX);
	if ((rc = render_parts(n, &in, lang_index(lang), parts, e)) < 0)
		goto out;
	snprintf(msgid, sizeof(msgid), "<koban.%s.test.%lld@%s>", tenant, (long long)now_of(n),
		 n->host);
	{
		const struct notice msg = {
			.tenant = tenant, .incident = 0, .id = 1, .message_id = msgid, .recipient = to,
			.lang = lang_names[lang_index(lang)], .level = 3, .level_name = level_name(3),
			.title = inc.title, .subject = parts[PART_SUBJECT].p,
			.text = parts[PART_TEXT].p, .html = parts[PART_HTML].p,
			.speech = parts[PART_SPEECH].p, .test = true,
		};

		memset(&res, 0, sizeof(res));
		rc = k->ops->send(k->state, &msg, &res, e);
	}
	r->status = rc < 0 && res.status != CHANNEL_FAILED_PERM ? CHANNEL_FAILED_TEMP : (int)res.status;
	snprintf(r->provider_id, sizeof(r->provider_id), "%s", res.provider_id);
	snprintf(r->reason, sizeof(r->reason), "%.255s", res.reason[0] ? res.reason : rc < 0 ? e->msg : "");
out:
	for (size_t p = 0; p < PARTS; p++)
		buf_release(&parts[p]);
	return rc;
}

int notify_render(struct notify *n, const struct meta_incident *inc, const char *lang,
		  const char *report, const char *ack_url, const char *incident_url,
		  struct buf *subject, struct buf *text, struct buf *html, struct buf *speech,
		  struct err *e)
{
	struct render_in in = { .inc = inc, .tenant = inc->tenant, .level = inc->level,
				.report = report, .report_status = report ? "draft" : NULL,
				.ack_url = ack_url, .ack_token = ack_url ? "x" : NULL,
				.incident_url = incident_url };
	struct buf parts[PARTS];
	int rc;

	arena_clear(&n->work);
	for (size_t p = 0; p < PARTS; p++)
		buf_init(&parts[p], TEXT_MAX);
	rc = render_parts(n, &in, lang_index(lang), parts, e);
	if (rc == 0) {
		struct buf *outs[PARTS] = { subject, text, html, speech };

		for (size_t p = 0; p < PARTS && rc == 0; p++) {
			buf_reset(outs[p]);
			rc = buf_add(outs[p], parts[p].p, parts[p].len);
		}
		if (rc < 0)
			rc = err_set(e, rc, "notify: a rendered part does not fit");
	}
	for (size_t p = 0; p < PARTS; p++)
		buf_release(&parts[p]);
	return rc;
}
