/*
 * retrohunt.c - the batches, windows and progress of retro-hunting (retrohunt.h).
 *
 * Why a time-bounded scan and not the store's index: a batch holds networks (an address
 * inside one matches) and domains (a sub-domain matches), which no literal of a query
 * names, and up to RETROHUNT_BATCH values; reading the days once and looking every field
 * up in the batch's snapshot costs the same whatever the batch holds.
 */
#include "enrich/retrohunt.h"
#include "core/compat.h"

#define LOG_MODULE "retrohunt"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "enrich/timatch.h"
#include "enrich/tisnap.h"
#include "parse/ecs.h"
#include "soc/alert.h"
#include "store/meta.h"
#include "store/store.h"

#define DAY_NS (86400 * NS_PER_SEC)
#define WINDOW_NS DAY_NS                 /* read per search (one audit line each) */
#define IDLE_DEFAULT_NS (5 * NS_PER_SEC)
#define EVENT_JSON_MAX ((size_t)ECS_LINE_MAX)
#define EVENT_ARENA_CHUNK ((size_t)64 << 10)
#define EVENT_ARENA_MAX ((size_t)64 << 20)
#define TENANTS_MAX 100000
#define FLUSH_EVERY 1024                 /* sightings queued before waiting for the sink */

/* The batch's indicators of one look-back, matched by their own timatch. */
struct band {
	unsigned days;
	struct ti_builder *builder;      /* while the batch loads */
	struct ti_snapshot *snap;
	struct timatch *match;
	int64_t oldest_ns;               /* events before it are older than days */
};

struct batch {
	struct band bands[RETROHUNT_BANDS_MAX];
	size_t n_bands;
	uint64_t indicators;
	int64_t oldest_ns;               /* of every band */
};

struct retrohunt {
	struct retrohunt_config c;
	struct arena arena;              /* one event decoded again at a time */
	struct buf json;
	struct log_limit undecodable_log;
	uint64_t unflushed;              /* sightings pushed since the last flush */
	_Atomic uint64_t n_matched, n_unmatched, n_undecodable, n_sightings, n_failed;
	_Atomic uint64_t n_suppressed, n_lost; /* the bands' matchers', added as each is freed */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool woken;                      /* under lock */
	atomic_bool stopping;            /* retrohunt_free: passes end after their window */
};

/* ---- the batch ---- */

static void batch_release(struct retrohunt *r, struct batch *b)
{
	for (size_t i = 0; i < b->n_bands; i++) {
		struct timatch_counts k;

		if (b->bands[i].match) {
			timatch_counts(b->bands[i].match, &k);
			atomic_fetch_add(&r->n_suppressed, k.suppressed);
			atomic_fetch_add(&r->n_lost, k.lost);
		}
		timatch_free(b->bands[i].match);
		ti_snapshot_free(b->bands[i].snap);
		ti_builder_free(b->bands[i].builder);
	}
	memset(b, 0, sizeof(*b));
}

static unsigned source_days(const struct retrohunt *r, const char *source)
{
	unsigned d = r->c.days ? r->c.days(r->c.days_ctx, source) : 0;

	if (!d)
		d = r->c.default_days ? r->c.default_days : RETROHUNT_DAYS_DEFAULT;
	return d > RETROHUNT_DAYS_MAX ? RETROHUNT_DAYS_MAX : d;
}

struct load {
	struct retrohunt *r;
	struct batch *b;
	int64_t now;
	int rc;
	struct err *e;
};

static int band_for(struct load *l, unsigned days, struct band **out)
{
	struct batch *b = l->b;
	int rc;

	for (size_t i = 0; i < b->n_bands; i++)
		if (b->bands[i].days == days) {
			*out = &b->bands[i];
			return 0;
		}
	if (b->n_bands == RETROHUNT_BANDS_MAX)
		return err_set(l->e, -E2BIG, "more than %d different retro-hunt days in one batch",
			       RETROHUNT_BANDS_MAX);
	*out = &b->bands[b->n_bands];
	if ((rc = ti_builder_new(&(*out)->builder, l->now, l->e)) < 0)
		return rc;
	(*out)->days = days;
	b->n_bands++;
	return 0;
}

static void load_indicator(void *ctx, const struct meta_indicator *ind)
{
	struct load *l = ctx;
	struct band *band = NULL;

	if (l->rc < 0)
		return;
	l->b->indicators++;
	if ((l->rc = band_for(l, source_days(l->r, ind->source), &band)) < 0)
		return;
	l->rc = ti_builder_add(band->builder, ind, l->e);
}

/* Snapshots and matchers of the indicators (state->watermark, state->batch_end]. */
static int batch_load(struct retrohunt *r, const char *tenant, const struct meta_retrohunt *s,
		      struct batch *b, struct err *e)
{
	struct load l = { .r = r, .b = b, .now = s->batch_now_ns, .e = e };
	int rc;

	rc = meta_retrohunt_indicators(r->c.meta, tenant, s->watermark, s->batch_end,
				       RETROHUNT_BATCH, load_indicator, &l, e);
	if (rc < 0 || (rc = l.rc) < 0)
		return rc;
	b->oldest_ns = s->batch_now_ns;
	for (size_t i = 0; i < b->n_bands; i++) {
		struct band *band = &b->bands[i];
		struct timatch_config tc = { .workers = 1, .alerts = r->c.alerts,
					     .dedupe_window_ns = r->c.dedupe_window_ns,
					     .retro = true };

		rc = ti_builder_finish(band->builder, &band->snap, e);
		band->builder = NULL;
		if (rc < 0)
			return rc;
		tc.snapshot = band->snap;
		if ((rc = timatch_new(&band->match, &tc, e)) < 0)
			return rc;
		band->oldest_ns = s->batch_now_ns - (int64_t)band->days * DAY_NS;
		if (band->oldest_ns < b->oldest_ns)
			b->oldest_ns = band->oldest_ns;
	}
	return 0;
}

/* Waits until the alerts raised so far are stored (a crash after then loses none). */
static void flush_alerts(struct retrohunt *r)
{
	if (r->unflushed && r->c.alerts)
		alert_sink_flush(r->c.alerts);
	r->unflushed = 0;
}

/* ---- one window of events ---- */

struct window {
	struct retrohunt *r;
	const char *tenant;
	struct batch *b;
	struct retrohunt_stats *st;
	struct err *e;
	bool failed;                     /* e says why the window stopped */
};

static int64_t event_time(const struct event *ev)
{
	const struct event_value *v = event_get(ev, FIELD_TIMESTAMP);

	return v ? v->v.i : INT64_MIN;
}

/*
 * The search's event is decoded again into r's memory: timatch gets an event of its own.
 * Out of memory stops the window (read again by the next pass); an event that does not
 * decode is counted and skipped.
 */
static int hunt_event(void *ctx, const struct event *stored)
{
	struct window *w = ctx;
	struct retrohunt *r = w->r;
	int64_t t = event_time(stored);
	struct err why = ERR_INIT;
	struct event ev;
	int hits = 0, rc;

	w->st->events++;
	arena_clear(&r->arena);
	buf_reset(&r->json);
	event_init(&ev, &r->arena);
	if ((rc = event_write_json(stored, &r->json)) < 0 ||
	    (rc = ecs_decode(&ev, r->json.p, r->json.len, &why)) < 0) {
		if (rc == -ENOMEM) {
			w->failed = true;
			return err_set(w->e, rc, "out of memory decoding an event");
		}
		w->st->undecodable++;
		atomic_fetch_add(&r->n_undecodable, 1);
		log_limited(&r->undecodable_log, LOG_LEVEL_WARN, "tenant %s: an event of %lld "
			    "ns could not be decoded again, not hunted: %s", w->tenant,
			    (long long)t, why.msg[0] ? why.msg : strerror(-rc));
		return 0;
	}
	for (size_t i = 0; i < w->b->n_bands; i++) {
		const struct band *band = &w->b->bands[i];

		if (t >= band->oldest_ns)
			hits += timatch_event(band->match, 0, w->tenant, &ev);
	}
	if (!hits) {
		atomic_fetch_add(&r->n_unmatched, 1);
		return 0;
	}
	w->st->matched++;
	w->st->sightings += (uint64_t)hits;
	atomic_fetch_add(&r->n_matched, 1);
	atomic_fetch_add(&r->n_sightings, (uint64_t)hits);
	/* a hunt never fills the queue that the live alerts share */
	r->unflushed += (uint64_t)hits;
	if (r->unflushed >= FLUSH_EVERY)
		flush_alerts(r);
	return 0;
}

static int hunt_window(struct retrohunt *r, const char *tenant, uint64_t tid, struct batch *b,
		       int64_t from, int64_t to, struct retrohunt_stats *st, struct err *e)
{
	struct err why = ERR_INIT;
	struct window w = { .r = r, .tenant = tenant, .b = b, .st = st, .e = &why };
	struct store_search s = {
		.tenant = tid, .query = "*", .query_len = 1, .from = from, .to = to - 1, .now = to,
		.who = "koban retro-hunt", .read_order = true, .event_fn = hunt_event, .ctx = &w,
	};
	struct store_search_stats ss;
	int rc = store_search(r->c.store, &s, &ss, e);

	if (rc < 0 && w.failed)
		return err_set(e, why.code, "%s", why.msg);
	return rc;
}

/* ---- a tenant's batches ---- */

/* Stores fresh over old; *again when another hunter moved the state first. */
static int advance(struct retrohunt *r, const char *tenant, struct meta_retrohunt *old,
		   const struct meta_retrohunt *fresh, bool *again, struct err *e)
{
	bool swapped;
	int rc;

	if ((rc = meta_retrohunt_swap(r->c.meta, tenant, old, fresh, &swapped, e)) < 0)
		return rc;
	*again = !swapped;
	if (swapped)
		*old = *fresh;
	else
		log_info("tenant %s: retro-hunt progress moved by another hunter, read again",
			 tenant);
	return 0;
}

static void last_id(void *ctx, const struct meta_indicator *ind)
{
	*(int64_t *)ctx = ind->id;
}

/* Starts a batch of the indicators added since the watermark; *none when there are none. */
static int batch_begin(struct retrohunt *r, const char *tenant, struct meta_retrohunt *s,
		       int64_t now, bool *none, bool *again, struct err *e)
{
	struct meta_retrohunt fresh = *s;
	int64_t end = 0;
	int rc;

	if ((rc = meta_retrohunt_indicators(r->c.meta, tenant, s->watermark, 0, RETROHUNT_BATCH,
					    last_id, &end, e)) < 0)
		return rc;
	*none = end == 0;
	if (*none)
		return 0;
	fresh.batch_end = end;
	fresh.batch_now_ns = now;
	fresh.cursor_ns = now + 1; /* windows end before the cursor */
	return advance(r, tenant, s, &fresh, again, e);
}

/* Reads the batch's windows, newest first, while the budget lasts; *done when all read. */
static int batch_run(struct retrohunt *r, const char *tenant, uint64_t tid,
		     struct meta_retrohunt *s, struct batch *b, uint64_t budget,
		     struct retrohunt_stats *st, bool *done, bool *again, struct err *e)
{
	uint64_t first = st->events;
	int rc;

	*done = false;
	while (s->cursor_ns > b->oldest_ns) {
		struct meta_retrohunt fresh = *s;
		int64_t from = s->cursor_ns - WINDOW_NS;

		if (st->events - first >= budget || atomic_load(&r->stopping))
			return 0;
		if (from < b->oldest_ns)
			from = b->oldest_ns;
		if ((rc = hunt_window(r, tenant, tid, b, from, s->cursor_ns, st, e)) < 0)
			return rc;
		fresh.cursor_ns = from;
		flush_alerts(r); /* the window's alerts are stored before the cursor passes it */
		if ((rc = advance(r, tenant, s, &fresh, again, e)) < 0 || *again)
			return rc;
	}
	*done = true;
	return 0;
}

/* The tenant's batches until it is caught up or the budget is spent. */
static int hunt_tenant(struct retrohunt *r, const char *tenant, uint64_t tid, int64_t now,
		       uint64_t budget, struct retrohunt_stats *st, bool *caught_up, struct err *e)
{
	uint64_t first = st->events;
	int rc;

	*caught_up = false;
	for (;;) {
		struct meta_retrohunt s, fresh = { 0 };
		struct batch b = { 0 };
		bool none = false, again = false, done = false;

		if (st->events - first >= budget || atomic_load(&r->stopping))
			return 0;
		if ((rc = meta_retrohunt_get(r->c.meta, tenant, &s, e)) < 0)
			return rc;
		if (!s.batch_end) {
			if ((rc = batch_begin(r, tenant, &s, now, &none, &again, e)) < 0)
				return rc;
			if (none) {
				*caught_up = true;
				return 0;
			}
			if (again)
				continue;
		}
		if ((rc = batch_load(r, tenant, &s, &b, e)) == 0)
			rc = batch_run(r, tenant, tid, &s, &b, budget - (st->events - first), st,
				       &done, &again, e);
		st->indicators += b.indicators;
		batch_release(r, &b);
		if (rc < 0)
			return rc;
		if (!done)
			continue; /* again, or the budget: the loop's check says */
		fresh.watermark = s.batch_end;
		if ((rc = advance(r, tenant, &s, &fresh, &again, e)) < 0)
			return rc;
		if (!again) {
			st->batches++;
			log_info("tenant %s: retro-hunt of the indicators up to id %lld done",
				 tenant, (long long)fresh.watermark);
		}
	}
}

/* ---- passes ---- */

struct tenants {
	char **names;
	int64_t *ids;
	size_t n, cap;
	int rc;
};

static void add_tenant(void *ctx, const struct meta_tenant *t)
{
	struct tenants *ts = ctx;

	if (ts->rc < 0)
		return;
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 16;
		char **names = NULL;
		int64_t *ids = NULL;

		if (cap > TENANTS_MAX) {
			ts->rc = -E2BIG;
			return;
		}
		if ((names = mem_realloc(ts->names, cap * sizeof(*names))))
			ts->names = names;
		if ((ids = mem_realloc(ts->ids, cap * sizeof(*ids))))
			ts->ids = ids;
		if (!names || !ids) {
			ts->rc = -ENOMEM;
			return;
		}
		ts->cap = cap;
	}
	if (!(ts->names[ts->n] = mem_strdup(t->name))) {
		ts->rc = -ENOMEM;
		return;
	}
	ts->ids[ts->n++] = t->id;
}

static void tenants_release(struct tenants *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		mem_free(ts->names[i]);
	mem_free(ts->names);
	mem_free(ts->ids);
}

int retrohunt_pass(struct retrohunt *r, const char *tenant, int64_t now,
		   struct retrohunt_stats *st, struct err *e)
{
	uint64_t budget = r->c.max_events ? r->c.max_events : RETROHUNT_EVENTS_DEFAULT;
	uint64_t first = st->events;
	struct tenants ts = { 0 };
	int rc;

	rc = tenant ? meta_tenant_get(r->c.meta, tenant, add_tenant, &ts, e)
		    : meta_tenant_list(r->c.meta, add_tenant, &ts, e);
	if (rc == 0 && ts.rc < 0)
		rc = err_set(e, ts.rc, ts.rc == -E2BIG ? "more than %d tenants" : "out of memory",
			     TENANTS_MAX);
	if (rc < 0)
		log_error("retro-hunt: the tenants: %s", e->msg);
	st->done = rc == 0;
	/* a tenant that fails (a damaged segment) is logged and counted; the others go on */
	for (size_t i = 0; ts.rc == 0 && i < ts.n; i++) {
		uint64_t spent = st->events - first;
		struct err why = ERR_INIT;
		bool caught_up = false;
		int trc;

		if (spent >= budget || atomic_load(&r->stopping)) {
			st->done = false;
			break;
		}
		st->tenants++;
		trc = hunt_tenant(r, ts.names[i], (uint64_t)ts.ids[i], now, budget - spent, st,
				  &caught_up, &why);
		if (trc < 0) {
			atomic_fetch_add(&r->n_failed, 1);
			log_error("tenant %s: retro-hunt stopped: %s", ts.names[i], why.msg);
			if (rc == 0)
				rc = err_set(e, trc, "tenant %s: %s", ts.names[i], why.msg);
		}
		if (!caught_up)
			st->done = false;
	}
	tenants_release(&ts);
	return rc;
}

/* ---- metrics ---- */

static int collect_events(struct metrics_out *o, void *ctx)
{
	struct retrohunt *r = ctx;
	int rc;

	if ((rc = metrics_sample(o, atomic_load(&r->n_matched), "result", "matched", NULL)) < 0 ||
	    (rc = metrics_sample(o, atomic_load(&r->n_unmatched), "result", "unmatched",
				 NULL)) < 0)
		return rc;
	return metrics_sample(o, atomic_load(&r->n_undecodable), "result", "undecodable", NULL);
}

static int collect_alerts(struct metrics_out *o, void *ctx)
{
	struct retrohunt *r = ctx;

	return metrics_sample(o, atomic_load(&r->n_sightings), NULL);
}

static int collect_suppressed(struct metrics_out *o, void *ctx)
{
	struct retrohunt *r = ctx;

	return metrics_sample(o, atomic_load(&r->n_suppressed), NULL);
}

static int collect_lost(struct metrics_out *o, void *ctx)
{
	struct retrohunt *r = ctx;

	return metrics_sample(o, atomic_load(&r->n_lost), NULL);
}

static int collect_failed(struct metrics_out *o, void *ctx)
{
	struct retrohunt *r = ctx;

	return metrics_sample(o, atomic_load(&r->n_failed), NULL);
}

static const struct metrics_family families[] = {
	{ "koban_ti_retrohunt_events_total", METRICS_COUNTER,
	  "Stored events the retro-hunt read, by result: matched (a new indicator sighted), "
	  "unmatched, undecodable (not hunted).", collect_events },
	{ "koban_ti_retrohunt_alerts_total", METRICS_COUNTER,
	  "Retro-hunt sightings raised as alerts (before de-duplication).", collect_alerts },
	{ "koban_ti_retrohunt_suppressed_total", METRICS_COUNTER,
	  "Retro-hunt sightings raised no alert: one for the indicator and host was raised "
	  "within the de-duplication window.", collect_suppressed },
	{ "koban_ti_retrohunt_lost_total", METRICS_COUNTER,
	  "Retro-hunt sightings lost before an alert (too many hits or values in one event, "
	  "out of memory, too large, the de-duplication table full).", collect_lost },
	{ "koban_ti_retrohunt_failures_total", METRICS_COUNTER,
	  "Tenants whose retro-hunt stopped on an error (logged; tried again on the next "
	  "pass).", collect_failed },
};

/* ---- life cycle and thread ---- */

int retrohunt_new(struct retrohunt **out, const struct retrohunt_config *c, struct err *e)
{
	struct retrohunt *r;
	const char *failed = NULL;
	int rc;

	*out = NULL;
	if (!c->meta || !c->store)
		return err_set(e, -EINVAL, "retro-hunt: koban.db and the event store are required");
	if (!(r = mem_calloc(1, sizeof(*r))))
		return err_set(e, -ENOMEM, "out of memory");
	r->c = *c;
	if (!r->c.idle_ns)
		r->c.idle_ns = IDLE_DEFAULT_NS;
	arena_init(&r->arena, EVENT_ARENA_CHUNK, EVENT_ARENA_MAX);
	log_limit_init(&r->undecodable_log, 60);
	buf_init(&r->json, EVENT_JSON_MAX);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (c->metrics &&
	    (rc = metrics_register_families(families, ARRAY_SIZE(families), r, &failed)) < 0) {
		err_set(e, rc, "retro-hunt: cannot register metric %s: %s", failed, strerror(-rc));
		r->c.metrics = false;
		retrohunt_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* Waits for a wake-up, the idle pause or the stop; true when stopping. */
static bool idle(struct retrohunt *r, bool caught_up)
{
	struct timespec until = time_after(CLOCK_REALTIME, r->c.idle_ns);
	bool stop;

	pthread_mutex_lock(&r->lock);
	while (caught_up && !r->woken && !atomic_load(&r->stopping))
		if (pthread_cond_timedwait(&r->cond, &r->lock, &until) == ETIMEDOUT)
			break;
	r->woken = false;
	stop = atomic_load(&r->stopping);
	pthread_mutex_unlock(&r->lock);
	return stop;
}

static void *hunt_loop(void *arg)
{
	struct retrohunt *r = arg;

	for (;;) {
		struct retrohunt_stats st = { 0 };
		struct err e = ERR_INIT;

		if (retrohunt_pass(r, NULL, time_now_ns(), &st, &e) < 0)
			st.done = true; /* logged; retried after the idle pause, not at once */
		if (st.sightings)
			log_info("retro-hunt: %llu events read, %llu sightings",
				 (unsigned long long)st.events, (unsigned long long)st.sightings);
		store_release_idle(r->c.store); /* no erased tenant's segment stays mapped */
		if (idle(r, st.done))
			return NULL;
	}
}

int retrohunt_start(struct retrohunt *r, struct err *e)
{
	int rc;

	if ((rc = pthread_create(&r->thread, NULL, hunt_loop, r)) != 0)
		return err_set(e, -rc, "retro-hunt: cannot start its thread: %s", strerror(rc));
	pthread_setname_np(r->thread, "koban-retrohunt");
	r->started = true;
	return 0;
}

void retrohunt_wake(struct retrohunt *r)
{
	pthread_mutex_lock(&r->lock);
	r->woken = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void retrohunt_free(struct retrohunt *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		atomic_store(&r->stopping, true);
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	if (r->c.metrics)
		metrics_unregister(r);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	buf_release(&r->json);
	arena_release(&r->arena);
	mem_free(r);
}
