#include "soc/alert.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define LOG_MODULE "alert"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#define PRUNE_INTERVAL_NS (INT64_C(86400) * NS_PER_SEC) /* retention: at start, then daily */
#define STORE_ATTEMPTS 3             /* a batch koban.db refuses this often is dropped */
#define STORE_RETRY_MS 1000
#define COUNT_TENANTS_MAX 4096       /* tenants with their own koban_alerts_total samples */
#define OTHER_TENANT "_other"        /* the label of the alerts of tenants past that */
#define ENTRY_TEXT_MAX ((size_t)(8 * META_ALERT_TEXT_MAX + 4 * META_ALERT_JSON_MAX + \
				 META_ALERT_EVENTS_BYTES + 1024))

enum drop_reason { DROP_QUEUE_FULL, DROP_NO_MEMORY, DROP_INVALID, DROP_NO_TENANT,
		   DROP_STORE_ERROR, DROP_REASONS };

static const char *const drop_names[DROP_REASONS] = {
	"queue_full", "no_memory", "invalid", "no_tenant", "store_error",
};

static const char *const level_names[] = { "informational", "low", "medium", "high",
					   "critical", "none" };
#define LEVELS ARRAY_SIZE(level_names)

/* A queued alert: the record and the one allocation its strings live in. */
struct entry {
	struct meta_alert a;
	char *text;
	size_t size;                 /* bytes counted against max_bytes */
	struct entry *next;
};

struct tenant_count {
	char tenant[64];
	uint64_t n[LEVELS];
};

struct alert_sink {
	struct meta *meta;           /* the writer thread's handle */
	alert_stored_fn *on_stored;
	void *ctx;
	unsigned capacity;
	size_t max_bytes;

	pthread_mutex_t lock;        /* the queue and the sequence numbers */
	pthread_cond_t work;         /* signalled on push and on stop */
	pthread_cond_t done;         /* signalled when a batch is finished */
	struct entry *head, *tail;
	unsigned queued;
	size_t queued_bytes;
	uint64_t pushed, finished;   /* alerts queued so far, alerts stored or dropped */
	bool stop;
	pthread_t thread;
	bool started;

	atomic_uint retention_days;
	atomic_uint_fast64_t dropped[DROP_REASONS];
	atomic_uint_fast64_t pruned;
	atomic_bool drop_logged[DROP_REASONS];

	pthread_mutex_t count_lock;  /* counts, read by the metrics callback */
	struct tenant_count *counts;
	size_t n_counts;
	bool metrics;
};

const char *alert_kind_name(enum alert_kind k)
{
	static const char *const names[] = { [ALERT_SIGMA] = "sigma",
		[ALERT_CORRELATION] = "correlation", [ALERT_BUILTIN] = "builtin",
		[ALERT_INDICATOR] = "indicator" };

	return (unsigned)k < ARRAY_SIZE(names) ? names[k] : "sigma";
}

/* ---- counting ---- */

static void drop(struct alert_sink *s, enum drop_reason r, const char *tenant, const char *why)
{
	char shown[META_ESCAPE_MAX];

	atomic_fetch_add_explicit(&s->dropped[r], 1, memory_order_relaxed);
	/* the first of each reason is logged; the counter tells how many followed */
	if (!atomic_exchange(&s->drop_logged[r], true))
		log_error("alert of tenant '%s' dropped (%s): %s", meta_escape(tenant, shown),
			  drop_names[r], why);
}

static size_t level_index(const char *level)
{
	for (size_t i = 0; i + 1 < LEVELS; i++)
		if (!strcmp(level, level_names[i]))
			return i;
	return LEVELS - 1; /* "" */
}

/* On the writer thread, for each stored alert. */
static void count_stored(struct alert_sink *s, const struct meta_alert *a)
{
	struct tenant_count *t = NULL;

	pthread_mutex_lock(&s->count_lock);
	for (size_t i = 0; i < s->n_counts && !t; i++)
		if (!strcmp(s->counts[i].tenant, a->tenant))
			t = &s->counts[i];
	if (!t && s->n_counts < COUNT_TENANTS_MAX) {
		t = &s->counts[s->n_counts++];
		snprintf(t->tenant, sizeof(t->tenant), "%s",
			 s->n_counts < COUNT_TENANTS_MAX ? a->tenant : OTHER_TENANT);
	}
	if (!t) /* the last slot is _other */
		t = &s->counts[COUNT_TENANTS_MAX - 1];
	t->n[level_index(a->rule_level)]++;
	pthread_mutex_unlock(&s->count_lock);
}

/* ---- the queued copy ---- */

/* Appends s and its NUL; its offset in *at. */
static int add_text(struct buf *b, const char *s, size_t *at)
{
	*at = b->len;
	return buf_add(b, s ? s : "", (s ? strlen(s) : 0) + 1);
}

static int add_json_array(struct buf *b, const char *const *v, size_t n, size_t *at)
{
	int rc = 0;

	*at = b->len;
	rc = buf_addch(b, '[');
	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = buf_addch(b, ',');
		rc = err_first(rc, json_add_string(b, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0));
	}
	return err_first(rc, buf_add(b, "]", 2));
}

/*
 * The events kept: in order, while they fit ALERT_EVENTS_MAX and ALERT_EVENTS_BYTES (an
 * event that does not fit is skipped, a smaller later one may still be kept).
 */
static int add_events(struct buf *b, const struct alert *a, size_t *at, int64_t *kept)
{
	size_t bytes = 0;
	int rc = 0;

	*at = b->len;
	*kept = 0;
	for (size_t i = 0; i < a->n_events && !rc && *kept < ALERT_EVENTS_MAX; i++) {
		if (bytes + a->events[i].len + 1 > ALERT_EVENTS_BYTES)
			continue;
		bytes += a->events[i].len + 1;
		rc = buf_add(b, a->events[i].json, a->events[i].len);
		rc = err_first(rc, buf_addch(b, '\n'));
		(*kept)++;
	}
	return err_first(rc, buf_addch(b, '\0'));
}

/* Builds the queued copy of a: one buffer for every string, then the pointers into it. */
static int entry_new(const struct alert *a, struct entry **out, struct err *e)
{
	enum { TENANT, KIND, ID, TITLE, LEVEL, AUTHOR, STATUS, LINK, TAGS, REFS, GROUP, KEYS,
	       EVENTS, N_AT };
	struct buf b = BUF_INIT(ENTRY_TEXT_MAX);
	size_t at[N_AT];
	uint64_t matched = a->events_matched > a->n_events ? a->events_matched : a->n_events;
	struct entry *en;
	int64_t kept;
	int rc;

	rc = add_text(&b, a->tenant, &at[TENANT]);
	rc = err_first(rc, add_text(&b, alert_kind_name(a->kind), &at[KIND]));
	rc = err_first(rc, add_text(&b, a->rule_id, &at[ID]));
	rc = err_first(rc, add_text(&b, a->rule_title, &at[TITLE]));
	rc = err_first(rc, add_text(&b, a->rule_level, &at[LEVEL]));
	rc = err_first(rc, add_text(&b, a->rule_author, &at[AUTHOR]));
	rc = err_first(rc, add_text(&b, a->rule_status, &at[STATUS]));
	rc = err_first(rc, add_text(&b, a->rule_link, &at[LINK]));
	rc = err_first(rc, add_json_array(&b, a->tags, a->n_tags, &at[TAGS]));
	rc = err_first(rc, add_json_array(&b, a->references, a->n_references, &at[REFS]));
	rc = err_first(rc, add_text(&b, a->group_fields ? a->group_fields : "{}", &at[GROUP]));
	rc = err_first(rc, add_text(&b, a->key_fields ? a->key_fields : "{}", &at[KEYS]));
	rc = err_first(rc, add_events(&b, a, &at[EVENTS], &kept));
	if (rc < 0) {
		buf_release(&b);
		return err_set(e, rc, rc == -ENOMEM ? "out of memory"
					: "the alert's texts exceed %zu bytes", ENTRY_TEXT_MAX);
	}
	if (!(en = mem_calloc(1, sizeof(*en)))) {
		buf_release(&b);
		return err_set(e, -ENOMEM, "out of memory");
	}
	en->text = b.p; /* the entry owns the buffer's memory from here */
	en->size = sizeof(*en) + b.cap;
	en->a = (struct meta_alert){
		.tenant = b.p + at[TENANT], .kind = b.p + at[KIND], .rule_id = b.p + at[ID],
		.rule_title = b.p + at[TITLE], .rule_level = b.p + at[LEVEL],
		.rule_author = b.p + at[AUTHOR], .rule_status = b.p + at[STATUS],
		.rule_link = b.p + at[LINK], .rule_tags = b.p + at[TAGS],
		.rule_references = b.p + at[REFS], .event_ns = a->event_ns,
		.detected_ns = a->detected_ns ? a->detected_ns : time_now_ns(),
		.group_fields = b.p + at[GROUP], .key_fields = b.p + at[KEYS],
		.events = b.p + at[EVENTS], .n_events = kept,
		.events_omitted = (int64_t)(matched - (uint64_t)kept),
	};
	*out = en;
	return 0;
}

static void entry_free(struct entry *en)
{
	if (!en)
		return;
	mem_free(en->text);
	mem_free(en);
}

/* ---- the writer thread ---- */

/* Waits ms or until the sink stops (a retry must not hold up shutdown for long). */
static void pause_ms(struct alert_sink *s, unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->stop)
		pthread_cond_timedwait(&s->work, &s->lock, &until);
	pthread_mutex_unlock(&s->lock);
}

/*
 * One transaction for the batch; ids in each entry. Alerts of removed tenants (and any a
 * producer got past the push check) are dropped inside it and marked with id 0.
 */
static int store_batch(struct alert_sink *s, struct entry *batch, struct err *e)
{
	int rc;

	if ((rc = meta_begin(s->meta, e)) < 0)
		return rc;
	for (struct entry *en = batch; en; en = en->next) {
		struct err why = ERR_INIT;

		en->a.id = 0;
		rc = meta_alert_add(s->meta, &en->a, &en->a.id, &why);
		if (rc == -ENOENT || rc == -EINVAL) {
			en->a.id = 0;
			continue;
		}
		if (rc < 0) {
			*e = why;
			meta_rollback(s->meta);
			return rc;
		}
	}
	if ((rc = meta_commit(s->meta, e)) < 0)
		meta_rollback(s->meta);
	return rc;
}

/* Stores the batch (retrying), counts it, tells the subscriber, frees it. */
static void write_batch(struct alert_sink *s, struct entry *batch, unsigned n, size_t bytes)
{
	struct err e = ERR_INIT;
	int rc = -EIO;

	for (int attempt = 1; attempt <= STORE_ATTEMPTS && rc < 0; attempt++) {
		err_clear(&e);
		if ((rc = store_batch(s, batch, &e)) < 0) {
			log_error("storing %u alerts failed (attempt %d of %d): %s", n, attempt,
				  STORE_ATTEMPTS, e.msg);
			if (attempt < STORE_ATTEMPTS)
				pause_ms(s, STORE_RETRY_MS);
		}
	}
	while (batch) {
		struct entry *en = batch;

		batch = en->next;
		if (rc < 0)
			drop(s, DROP_STORE_ERROR, en->a.tenant, e.msg);
		else if (!en->a.id)
			drop(s, DROP_NO_TENANT, en->a.tenant, "no such tenant in koban.db");
		else {
			count_stored(s, &en->a);
			if (s->on_stored)
				s->on_stored(s->ctx, &en->a);
		}
		entry_free(en);
	}
	pthread_mutex_lock(&s->lock);
	s->finished += n;
	s->queued_bytes -= bytes;
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->lock);
}

static void prune(struct alert_sink *s, int64_t now)
{
	unsigned days = atomic_load(&s->retention_days);
	struct err e = ERR_INIT;
	int64_t deleted = 0;

	if (alert_prune(s->meta, days, now, &deleted, &e) < 0) {
		log_error("alert retention pass failed (the next one tries again): %s", e.msg);
		return;
	}
	atomic_fetch_add_explicit(&s->pruned, (uint_fast64_t)deleted, memory_order_relaxed);
	if (deleted)
		log_info("removed %lld alerts older than %u days", (long long)deleted, days);
}

/* Takes up to ALERT_BATCH_MAX entries off the queue (lock held); their count and bytes. */
static struct entry *take_batch(struct alert_sink *s, unsigned *n, size_t *bytes)
{
	struct entry *batch = s->head, *last = NULL;

	*n = 0;
	*bytes = 0;
	for (struct entry *en = s->head; en && *n < ALERT_BATCH_MAX; en = en->next) {
		last = en;
		(*n)++;
		*bytes += en->size;
	}
	s->head = last->next;
	if (!s->head)
		s->tail = NULL;
	last->next = NULL;
	s->queued -= *n;
	return batch;
}

static void *writer_main(void *arg)
{
	struct alert_sink *s = arg;
	int64_t next_prune = 0; /* at start */

	pthread_mutex_lock(&s->lock);
	for (;;) {
		int64_t now = time_now_ns();

		if (now >= next_prune) {
			next_prune = now + PRUNE_INTERVAL_NS;
			pthread_mutex_unlock(&s->lock);
			prune(s, now);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->head) {
			unsigned n;
			size_t bytes;
			struct entry *batch = take_batch(s, &n, &bytes);

			pthread_mutex_unlock(&s->lock);
			write_batch(s, batch, n, bytes);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->stop)
			break;
		{
			/* the wall clock decides the next pass; a minute's wait at most */
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += 60;
			pthread_cond_timedwait(&s->work, &s->lock, &until);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- life cycle ---- */

int alert_sink_new(struct alert_sink **sp, const struct alert_sink_config *c, struct err *e)
{
	struct alert_sink *s;
	pthread_condattr_t ca;
	int rc;

	*sp = NULL;
	if (!(s = mem_calloc(1, sizeof(*s))) ||
	    !(s->counts = mem_calloc(COUNT_TENANTS_MAX, sizeof(*s->counts)))) {
		mem_free(s);
		return err_set(e, -ENOMEM, "alerts: out of memory");
	}
	s->on_stored = c->on_stored;
	s->ctx = c->ctx;
	s->capacity = c->capacity ? c->capacity : ALERT_QUEUE_DEFAULT;
	s->max_bytes = c->max_bytes ? c->max_bytes : ALERT_QUEUE_BYTES_DEFAULT;
	atomic_init(&s->retention_days, c->retention_days);
	atomic_init(&s->pruned, 0);
	for (unsigned i = 0; i < DROP_REASONS; i++) {
		atomic_init(&s->dropped[i], 0);
		atomic_init(&s->drop_logged[i], false);
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->count_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->done, NULL);
	if ((rc = meta_open(&s->meta, c->data_dir, e)) < 0)
		goto fail;
	if ((rc = pthread_create(&s->thread, NULL, writer_main, s)) != 0) {
		rc = err_set(e, -rc, "alerts: cannot start the writer thread: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(s->thread, "koban-alerts");
	s->started = true;
	*sp = s;
	return 0;
fail:
	alert_sink_free(s);
	return rc;
}

void alert_sink_free(struct alert_sink *s)
{
	if (!s)
		return;
	if (s->metrics)
		metrics_unregister(s); /* first: a scrape may be reading s */
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->work);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL); /* it stores what is queued before it ends */
	}
	while (s->head) {
		struct entry *en = s->head;

		s->head = en->next;
		entry_free(en);
	}
	meta_close(s->meta);
	pthread_cond_destroy(&s->done);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->count_lock);
	pthread_mutex_destroy(&s->lock);
	mem_free(s->counts);
	mem_free(s);
}

int alert_sink_push(struct alert_sink *s, const struct alert *a, struct err *e)
{
	struct err why = ERR_INIT;
	struct entry *en = NULL;
	int rc;

	if ((rc = entry_new(a, &en, &why)) == 0 && (rc = meta_alert_check(&en->a, &why)) < 0)
		entry_free(en);
	if (rc < 0) {
		drop(s, rc == -ENOMEM ? DROP_NO_MEMORY : DROP_INVALID, a->tenant, why.msg);
		if (e)
			*e = why;
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	if (s->queued >= s->capacity || s->queued_bytes + en->size > s->max_bytes) {
		pthread_mutex_unlock(&s->lock);
		entry_free(en);
		drop(s, DROP_QUEUE_FULL, a->tenant, "the alert queue is full");
		return err_set(e, -ENOSPC, "the alert queue is full");
	}
	if (s->tail)
		s->tail->next = en;
	else
		s->head = en;
	s->tail = en;
	s->queued++;
	s->queued_bytes += en->size;
	s->pushed++;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void alert_sink_flush(struct alert_sink *s)
{
	pthread_mutex_lock(&s->lock);
	for (uint64_t want = s->pushed; s->finished < want;)
		pthread_cond_wait(&s->done, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void alert_sink_set_retention(struct alert_sink *s, unsigned days)
{
	atomic_store(&s->retention_days, days);
}

int alert_prune(struct meta *m, unsigned retention_days, int64_t now_ns, int64_t *deleted,
		struct err *e)
{
	if (deleted)
		*deleted = 0;
	if (!retention_days)
		return 0;
	return meta_alert_prune(m, now_ns - (int64_t)retention_days * 86400 * NS_PER_SEC,
				deleted, e);
}

/* ---- metrics ---- */

static int collect_total(struct metrics_out *o, void *ctx)
{
	struct alert_sink *s = ctx;
	int rc = 0;

	pthread_mutex_lock(&s->count_lock);
	for (size_t i = 0; i < s->n_counts && !rc; i++)
		for (size_t l = 0; l < LEVELS && !rc; l++)
			if (s->counts[i].n[l])
				rc = metrics_sample(o, s->counts[i].n[l], "tenant",
						    s->counts[i].tenant, "level", level_names[l],
						    NULL);
	pthread_mutex_unlock(&s->count_lock);
	return rc;
}

static int collect_dropped(struct metrics_out *o, void *ctx)
{
	struct alert_sink *s = ctx;
	int rc = 0;

	for (unsigned i = 0; i < DROP_REASONS && !rc; i++)
		rc = metrics_sample(o, atomic_load_explicit(&s->dropped[i], memory_order_relaxed),
				    "reason", drop_names[i], NULL);
	return rc;
}

static int collect_queued(struct metrics_out *o, void *ctx)
{
	struct alert_sink *s = ctx;
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->queued;
	pthread_mutex_unlock(&s->lock);
	return metrics_sample(o, n, NULL);
}

static int collect_pruned(struct metrics_out *o, void *ctx)
{
	struct alert_sink *s = ctx;

	return metrics_sample(o, atomic_load_explicit(&s->pruned, memory_order_relaxed), NULL);
}

int alert_sink_metrics_register(struct alert_sink *s, struct err *e)
{
	int rc;

	s->metrics = true; /* whatever registered is removed by alert_sink_free */
	if ((rc = metrics_register("koban_alerts_total", METRICS_COUNTER,
				   "Alerts stored, by tenant and rule level.", collect_total, s)) < 0 ||
	    (rc = metrics_register("koban_alerts_dropped_total", METRICS_COUNTER,
				   "Alerts lost before they were stored, by reason.",
				   collect_dropped, s)) < 0 ||
	    (rc = metrics_register("koban_alerts_queued", METRICS_GAUGE,
				   "Alerts waiting for the writer.", collect_queued, s)) < 0 ||
	    (rc = metrics_register("koban_alerts_pruned_total", METRICS_COUNTER,
				   "Alerts removed by retention (alerts.retention_days).",
				   collect_pruned, s)) < 0)
		return err_set(e, rc, "alerts: cannot register the metrics: %s", strerror(-rc));
	return 0;
}

/* ---- JSON ---- */

static int add_key(struct buf *b, const char *key)
{
	int rc = json_add_string(b, key, strlen(key));

	return err_first(rc, buf_addch(b, ':'));
}

static int add_str_member(struct buf *b, const char *key, const char *v)
{
	int rc = add_key(b, key);

	rc = err_first(rc, json_add_string(b, v, strlen(v)));
	return err_first(rc, buf_addch(b, ','));
}

static int add_time_member(struct buf *b, const char *key, int64_t ns)
{
	char t[TIME_RFC3339_LEN];
	size_t n = time_format_rfc3339(ns, t);
	int rc = add_key(b, key);

	rc = err_first(rc, ns ? json_add_string(b, t, n) : buf_adds(b, "null"));
	return err_first(rc, buf_addch(b, ','));
}

static int add_int_member(struct buf *b, const char *key, int64_t v)
{
	int rc = add_key(b, key);

	rc = err_first(rc, buf_add_int(b, v));
	return err_first(rc, buf_addch(b, ','));
}

/* The stored JSON texts are checked (meta_alert_check) before they get here: copied as they are. */
static int add_raw_member(struct buf *b, const char *key, const char *json, bool last)
{
	int rc = add_key(b, key);

	rc = err_first(rc, buf_adds(b, json));
	return last ? rc : err_first(rc, buf_addch(b, ','));
}

/* The event lines as the elements of a JSON array. */
static int add_events_member(struct buf *b, const char *events)
{
	int rc = add_key(b, "events");

	rc = err_first(rc, buf_addch(b, '['));
	for (const char *p = events; *p && !rc;) {
		const char *nl = strchr(p, '\n');

		if (p != events)
			rc = buf_addch(b, ',');
		rc = err_first(rc, buf_add(b, p, (size_t)(nl - p)));
		p = nl + 1;
	}
	return err_first(rc, buf_addch(b, ']'));
}

int alert_write_json(const struct meta_alert *a, struct buf *out)
{
	int rc = buf_addch(out, '{');

	rc = err_first(rc, add_int_member(out, "id", a->id));
	rc = err_first(rc, add_str_member(out, "tenant", a->tenant));
	rc = err_first(rc, add_str_member(out, "kind", a->kind));
	rc = err_first(rc, add_key(out, "rule"));
	rc = err_first(rc, buf_addch(out, '{'));
	rc = err_first(rc, add_str_member(out, "id", a->rule_id));
	rc = err_first(rc, add_str_member(out, "title", a->rule_title));
	rc = err_first(rc, add_str_member(out, "level", a->rule_level));
	rc = err_first(rc, add_str_member(out, "author", a->rule_author));
	rc = err_first(rc, add_str_member(out, "status", a->rule_status));
	rc = err_first(rc, add_str_member(out, "link", a->rule_link));
	rc = err_first(rc, add_raw_member(out, "tags", a->rule_tags, false));
	rc = err_first(rc, add_raw_member(out, "references", a->rule_references, true));
	rc = err_first(rc, buf_adds(out, "},"));
	rc = err_first(rc, add_time_member(out, "event_time", a->event_ns));
	rc = err_first(rc, add_time_member(out, "detected", a->detected_ns));
	rc = err_first(rc, add_raw_member(out, "group", a->group_fields, false));
	rc = err_first(rc, add_raw_member(out, "keys", a->key_fields, false));
	rc = err_first(rc, add_int_member(out, "n_events", a->n_events));
	rc = err_first(rc, add_key(out, "events_omitted"));
	rc = err_first(rc, buf_add_int(out, a->events_omitted));
	if (a->events) {
		rc = err_first(rc, buf_addch(out, ','));
		rc = err_first(rc, add_events_member(out, a->events));
	}
	return err_first(rc, buf_addch(out, '}'));
}

#define READ_ARRAY_MAX 1024 /* tags, references or events of an alert read */

/* What alert_read_json is reading, for its messages. */
struct reader {
	struct jsonin j;
	struct arena *arena;
	struct err *e;
	const char *key; /* the member being read */
};

static int read_fail(struct reader *r, int rc, const char *expected)
{
	struct err where = ERR_INIT;

	if (jsonin_error(&r->j, &where) < 0)
		return err_set(r->e, rc, "alert: %s: %s", r->key, where.msg);
	return err_set(r->e, rc, "alert: %s: expected %s", r->key, expected);
}

/* A string value (or null: "") copied into the arena. */
static int read_string(struct reader *r, const char **out)
{
	struct jsonin_value v;
	int rc = jsonin_value(&r->j, &v);

	if (rc < 0)
		return read_fail(r, rc, "a string");
	if (v.type == JSONIN_NULL) {
		*out = "";
		return 0;
	}
	if (v.type != JSONIN_STRING || memchr(v.s, '\0', v.len))
		return read_fail(r, -EINVAL, "a string without NUL characters");
	if (!(*out = arena_strndup(r->arena, v.s, v.len)))
		return read_fail(r, -ENOMEM, "room in the arena");
	return 0;
}

static int read_strings(struct reader *r, const char *const **out, size_t *n)
{
	const char **v = arena_alloc(r->arena, READ_ARRAY_MAX * sizeof(*v));
	struct jsonin_value open;
	int rc, more;

	if (!v)
		return read_fail(r, -ENOMEM, "room in the arena");
	if ((rc = jsonin_value(&r->j, &open)) < 0 || open.type != JSONIN_ARRAY)
		return read_fail(r, rc < 0 ? rc : -EINVAL, "an array of strings");
	*n = 0;
	while ((more = jsonin_more(&r->j)) > 0) {
		if (*n == READ_ARRAY_MAX)
			return read_fail(r, -EINVAL, "at most 1024 strings");
		if ((rc = read_string(r, &v[*n])) < 0)
			return rc;
		(*n)++;
	}
	if (more < 0)
		return read_fail(r, more, "an array of strings");
	*out = v;
	return 0;
}

/* An object kept as its text (group, keys) in the arena, NUL-terminated. */
static int read_object_text(struct reader *r, const char **out)
{
	const char *raw;
	size_t len;
	int rc = jsonin_raw_value(&r->j, &raw, &len);

	if (rc < 0 || raw[0] != '{')
		return read_fail(r, rc < 0 ? rc : -EINVAL, "a JSON object");
	if (!(*out = arena_strndup(r->arena, raw, len)))
		return read_fail(r, -ENOMEM, "room in the arena");
	return 0;
}

static int read_events(struct reader *r, struct alert *a)
{
	struct alert_event *v = arena_alloc(r->arena, READ_ARRAY_MAX * sizeof(*v));
	struct jsonin_value open;
	int rc, more;

	if (!v)
		return read_fail(r, -ENOMEM, "room in the arena");
	if ((rc = jsonin_value(&r->j, &open)) < 0 || open.type != JSONIN_ARRAY)
		return read_fail(r, rc < 0 ? rc : -EINVAL, "an array of event objects");
	a->n_events = 0;
	while ((more = jsonin_more(&r->j)) > 0) {
		struct alert_event *ev = &v[a->n_events];

		if (a->n_events == READ_ARRAY_MAX)
			return read_fail(r, -EINVAL, "at most 1024 events");
		if ((rc = jsonin_raw_value(&r->j, &ev->json, &ev->len)) < 0 || ev->json[0] != '{')
			return read_fail(r, rc < 0 ? rc : -EINVAL, "an array of event objects");
		a->n_events++;
	}
	if (more < 0)
		return read_fail(r, more, "an array of event objects");
	a->events = v;
	return 0;
}

static int read_time(struct reader *r, int64_t *ns)
{
	const char *s;
	size_t bad;
	int rc = read_string(r, &s);

	if (rc < 0)
		return rc;
	*ns = 0;
	if (*s && time_parse_rfc3339(s, strlen(s), ns, &bad) < 0)
		return read_fail(r, -EINVAL, "an RFC 3339 time or null");
	return 0;
}

static int read_count(struct reader *r, uint64_t *out)
{
	struct jsonin_value v;
	int64_t n;
	int rc = jsonin_value(&r->j, &v);

	if (rc < 0 || v.type != JSONIN_NUMBER || jsonin_int(v.s, v.len, &n) < 0 || n < 0)
		return read_fail(r, rc < 0 ? rc : -EINVAL, "a count");
	*out = (uint64_t)n;
	return 0;
}

static int read_kind(struct reader *r, enum alert_kind *kind)
{
	const char *s;
	int rc = read_string(r, &s);

	if (rc < 0)
		return rc;
	for (int k = ALERT_SIGMA; k <= ALERT_INDICATOR; k++)
		if (!strcmp(s, alert_kind_name((enum alert_kind)k))) {
			*kind = (enum alert_kind)k;
			return 0;
		}
	return read_fail(r, -EINVAL, "sigma, correlation, builtin or indicator");
}

static int read_rule(struct reader *r, struct alert *a)
{
	const struct {
		const char *name;
		const char **to;
	} strings[] = {
		{ "id", &a->rule_id }, { "title", &a->rule_title }, { "level", &a->rule_level },
		{ "author", &a->rule_author }, { "status", &a->rule_status },
		{ "link", &a->rule_link },
	};
	struct jsonin_value k;
	int rc, more;

	if ((rc = jsonin_value(&r->j, &k)) < 0 || k.type != JSONIN_OBJECT)
		return read_fail(r, rc < 0 ? rc : -EINVAL, "an object");
	while ((more = jsonin_key(&r->j, &k)) > 0) {
		size_t i = 0;

		while (i < ARRAY_SIZE(strings) && !jsonin_key_is(&k, strings[i].name))
			i++;
		r->key = "rule";
		if (i < ARRAY_SIZE(strings))
			rc = read_string(r, strings[i].to);
		else if (jsonin_key_is(&k, "tags"))
			rc = read_strings(r, &a->tags, &a->n_tags);
		else if (jsonin_key_is(&k, "references"))
			rc = read_strings(r, &a->references, &a->n_references);
		else
			rc = read_fail(r, -EINVAL, "id, title, level, author, status, link, tags "
				       "or references as its keys");
		if (rc < 0)
			return rc;
	}
	return more < 0 ? read_fail(r, more, "an object") : 0;
}

/* The member k of the top-level object (the ones the sink gives itself are skipped). */
static int read_member(struct reader *r, const struct jsonin_value *k, struct alert *a)
{
	static const char *const given[] = { "id", "tenant", "detected", "n_events" };
	uint64_t omitted = 0;
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(given); i++)
		if (jsonin_key_is(k, given[i]))
			return jsonin_skip_value(&r->j) < 0 ? read_fail(r, -EINVAL, "a value") : 0;
	if (jsonin_key_is(k, "kind"))
		return read_kind(r, &a->kind);
	if (jsonin_key_is(k, "rule"))
		return read_rule(r, a);
	if (jsonin_key_is(k, "event_time"))
		return read_time(r, &a->event_ns);
	if (jsonin_key_is(k, "group"))
		return read_object_text(r, &a->group_fields);
	if (jsonin_key_is(k, "keys"))
		return read_object_text(r, &a->key_fields);
	if (jsonin_key_is(k, "events"))
		return read_events(r, a);
	if (jsonin_key_is(k, "events_omitted")) {
		if ((rc = read_count(r, &omitted)) == 0)
			a->events_matched = omitted; /* the events read are added below */
		return rc;
	}
	return read_fail(r, -EINVAL, "kind, rule, event_time, group, keys, events or "
		       "events_omitted");
}

int alert_read_json(const char *text, size_t len, struct arena *arena, struct alert *a,
		    struct err *e)
{
	struct reader r = { .arena = arena, .e = e, .key = "the document" };
	struct jsonin_value k;
	int rc, more;

	*a = (struct alert){ .kind = ALERT_SIGMA };
	jsonin_init(&r.j, text, len, arena, 0);
	if ((rc = jsonin_value(&r.j, &k)) < 0 || k.type != JSONIN_OBJECT)
		return read_fail(&r, rc < 0 ? rc : -EINVAL, "a JSON object");
	while ((more = jsonin_key(&r.j, &k)) > 0) {
		if (!(r.key = arena_strndup(arena, k.s, k.len)))
			return read_fail(&r, -ENOMEM, "room in the arena");
		if ((rc = read_member(&r, &k, a)) < 0)
			return rc;
	}
	r.key = "the document";
	if (more < 0 || (rc = jsonin_finish(&r.j, NULL)) < 0)
		return read_fail(&r, more < 0 ? more : rc, "one JSON object");
	if (!a->rule_id || !*a->rule_id)
		return err_set(e, -EINVAL, "alert: rule.id: expected the rule's id");
	a->events_matched += a->n_events;
	return 0;
}
