#include "store/retention.h"
#include "core/compat.h"

#include <stdatomic.h>

#define LOG_MODULE "retention"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "store/meta.h"

struct retention {
	atomic_uint_fast64_t runs, failures, segments, events, bytes, days;
};

int retention_new(struct retention **rp, struct err *e)
{
	*rp = mem_calloc(1, sizeof(**rp));
	return *rp ? 0 : err_set(e, -ENOMEM, "out of memory");
}

void retention_free(struct retention *r)
{
	if (!r)
		return;
	metrics_unregister(r); /* first: a scrape may be reading r */
	mem_free(r);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static int collect_runs(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, LOAD(((struct retention *)ctx)->runs), NULL);
}

static int collect_failures(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, LOAD(((struct retention *)ctx)->failures), NULL);
}

static int collect_days(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, LOAD(((struct retention *)ctx)->days), NULL);
}

static int collect_segments(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, LOAD(((struct retention *)ctx)->segments), NULL);
}

static int collect_events(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, LOAD(((struct retention *)ctx)->events), NULL);
}

static int collect_bytes(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, LOAD(((struct retention *)ctx)->bytes), NULL);
}

int retention_metrics_register(struct retention *r, struct err *e)
{
	static const struct metrics_family fam[] = {
		{ "koban_store_retention_runs_total", METRICS_COUNTER,
		  "Retention passes over every tenant (at start, then daily).", collect_runs },
		{ "koban_store_retention_failures_total", METRICS_COUNTER,
		  "Tenants whose retention pass failed (logged; the next pass tries again).",
		  collect_failures },
		{ "koban_store_retention_dropped_days_total", METRICS_COUNTER,
		  "Days of events dropped by retention (one per tenant and day).", collect_days },
		{ "koban_store_retention_dropped_segments_total", METRICS_COUNTER,
		  "Segment files removed by retention.", collect_segments },
		{ "koban_store_retention_dropped_events_total", METRICS_COUNTER,
		  "Events removed by retention (reason: older than the tenant's retention_days).",
		  collect_events },
		{ "koban_store_retention_dropped_bytes_total", METRICS_COUNTER,
		  "Bytes of segment files removed by retention.", collect_bytes },
	};
	const char *failed = "";
	int rc = metrics_register_families(fam, ARRAY_SIZE(fam), r, &failed);

	return rc < 0 ? err_set(e, rc, "cannot register %s: %s", failed, strerror(-rc)) : 0;
}

/* The tenants of a pass, copied out of the database's callback. */
struct tenant_ref {
	uint64_t id;
	char name[64];
};

struct tenant_list {
	struct tenant_ref *t;
	size_t n, cap;
	const char *only;
	int rc;
};

static void take_tenant(void *ctx, const struct meta_tenant *t)
{
	struct tenant_list *l = ctx;

	if (l->rc || (l->only && strcmp(l->only, t->name)))
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct tenant_ref *nt;

		if (cap > RETENTION_MAX_TENANTS || !(nt = mem_realloc(l->t, cap * sizeof(*nt)))) {
			l->rc = -ENOMEM;
			return;
		}
		l->t = nt;
		l->cap = cap;
	}
	l->t[l->n].id = (uint64_t)t->id;
	snprintf(l->t[l->n].name, sizeof(l->t[l->n].name), "%s", t->name);
	l->n++;
}

/* One tenant's pass, reported and counted; 1 when it failed, else 0. */
static int retain_one(struct retention *r, struct store *st, uint64_t id, const char *name,
		      unsigned keep_days, int64_t now, bool dry_run, retention_report_fn *fn,
		      void *ctx)
{
	struct retention_report rep = { .tenant = name, .tenant_id = id, .keep_days = keep_days };
	struct err te = ERR_INIT;

	rep.status = store_retain(st, id, keep_days, now, dry_run, &rep.stats, &te);
	if (rep.status) {
		rep.error = te.msg;
		log_error("retention of tenant %s failed (the next pass tries again): %s", name,
			  te.msg);
	}
	if (r && !dry_run) {
		atomic_fetch_add_explicit(&r->failures, rep.status ? 1 : 0, memory_order_relaxed);
		atomic_fetch_add_explicit(&r->days, rep.stats.days, memory_order_relaxed);
		atomic_fetch_add_explicit(&r->segments, rep.stats.segments, memory_order_relaxed);
		atomic_fetch_add_explicit(&r->events, rep.stats.events, memory_order_relaxed);
		atomic_fetch_add_explicit(&r->bytes, rep.stats.bytes, memory_order_relaxed);
	}
	if (fn)
		fn(ctx, &rep);
	return rep.status ? 1 : 0;
}

static bool listed(const struct tenant_list *l, uint64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->t[i].id == id)
			return true;
	return false;
}

/*
 * Tenants removed from koban.db (`tenant remove`, not erased) keep their directory: their
 * events follow store.retention_days, as their own settings went with their name. Returns
 * the number of failed tenants, or a negative code when the directories cannot be listed.
 */
static int retain_removed(struct retention *r, struct store *st, const struct tenant_list *l,
			  const struct config *c, int64_t now, bool dry_run,
			  retention_report_fn *fn, void *ctx, struct err *e)
{
	uint64_t *ids;
	size_t n;
	int failed = 0, rc;

	if ((rc = store_tenant_ids(st, &ids, &n, e)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char name[64];

		if (listed(l, ids[i]))
			continue;
		snprintf(name, sizeof(name), "#%llu (removed)", (unsigned long long)ids[i]);
		failed += retain_one(r, st, ids[i], name, c->store_retention_days, now, dry_run,
				     fn, ctx);
	}
	mem_free(ids);
	return failed;
}

int retention_run(struct retention *r, struct store *st, struct meta *m,
		  const struct config *c, const char *only, int64_t now, bool dry_run,
		  retention_report_fn *fn, void *ctx, struct err *e)
{
	struct tenant_list l = { .only = only };
	int failed = 0, rc;

	if ((rc = meta_tenant_list(m, take_tenant, &l, e)) < 0)
		goto out;
	if (l.rc) {
		rc = err_set(e, l.rc, "out of memory listing tenants (at most %d)",
			     RETENTION_MAX_TENANTS);
		goto out;
	}
	if (only && !l.n) {
		rc = err_set(e, -ENOENT, "no tenant '%s' in koban.db", only);
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		unsigned keep;

		(void)config_store_tenant(c, l.t[i].name, NULL, &keep); /* 1: own entry */
		failed += retain_one(r, st, l.t[i].id, l.t[i].name, keep, now, dry_run, fn, ctx);
	}
	if (!only) {
		if ((rc = retain_removed(r, st, &l, c, now, dry_run, fn, ctx, e)) < 0)
			goto out;
		failed += rc;
	}
	if (r && !dry_run)
		atomic_fetch_add_explicit(&r->runs, 1, memory_order_relaxed);
	rc = failed;
out:
	mem_free(l.t);
	return rc;
}
