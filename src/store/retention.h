/*
 * retention.h - every tenant's retention applied to the event store: the days older than the
 * tenant's store.retention_days (store.tenants.NAME.retention_days where set; 0 = keep
 * forever) are dropped whole (store_retain). One pass goes over the tenants of koban.db; `koban
 * store retain` runs one, `koban serve` one at start and then once a day.
 *
 * A tenant whose pass fails (a file that cannot be removed) is reported and counted, and the
 * pass goes on with the others; nothing is retried within the pass (the next one does).
 *
 * Memory: struct retention holds only counters; retention_run() copies the tenant list it
 * reads. Threads: retention_run() on one thread at a time (it uses the caller's store and
 * meta handles); the counters are read by the metrics registry from the admin thread.
 */
#ifndef STORE_RETENTION_H
#define STORE_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct config;
struct err;
struct meta;
struct retention;

#define RETENTION_MAX_TENANTS 65536

/* One tenant's outcome in a pass. */
struct retention_report {
	const char *tenant;               /* valid during the call */
	uint64_t tenant_id;
	unsigned keep_days;               /* 0: kept forever, nothing looked at */
	struct store_retain_stats stats;
	int status;                       /* 0 or the negative code of the failure */
	const char *error;                /* its message when status != 0 */
};

typedef void retention_report_fn(void *ctx, const struct retention_report *r);

int retention_new(struct retention **r, struct err *e);
/* koban_store_retention_* families (docs/metrics.md); retention_free() unregisters them. */
int retention_metrics_register(struct retention *r, struct err *e);
void retention_free(struct retention *r);

/*
 * One pass at time now (ns) over every tenant of m (only: that tenant alone; -ENOENT when m
 * has no such tenant) with the retention c gives it. fn (may be NULL) hears of each tenant.
 * r may be NULL (no counters). Returns the number of tenants whose pass failed (>= 0), or a
 * negative code when the tenants could not be listed.
 */
int retention_run(struct retention *r, struct store *st, struct meta *m,
		  const struct config *c, const char *only, int64_t now, bool dry_run,
		  retention_report_fn *fn, void *ctx, struct err *e);

#endif
