/*
 * timatch.h - matching events against the threat-intelligence indicators.
 *
 * A struct timatch looks up every indicator-bearing field of an event (IP addresses,
 * domains, URLs, file and process hashes, e-mail addresses), each value normalised as
 * ti_lookup() expects, in the serving snapshot (struct ti_live) or in a fixed one. For
 * each hit it adds one ECS `threat.enrichments` object to the event (unless retro) and
 * raises an alert of kind "indicator" (rule koban-ti, or koban-ti-retrohunt when retro),
 * de-duplicated per (tenant, indicator id, host) within a window. A tenant's event is
 * matched against the global indicators and that tenant's, never another tenant's.
 *
 * Threads: timatch_new/timatch_free from one thread; timatch_event from any number of
 * threads, each with its own worker slot (0 .. workers-1), the slot from one thread at a
 * time. The de-duplication table is shared by the workers.
 * Ownership: the config's live/snapshot/alerts stay the caller's and must outlive t.
 */
#ifndef ENRICH_TIMATCH_H
#define ENRICH_TIMATCH_H

#include <stdbool.h>
#include <stdint.h>

struct alert_sink; struct err; struct event; struct ti_live; struct ti_snapshot;
struct timatch_config {
	struct ti_live *live;                 /* the serving snapshot, or NULL and: */
	const struct ti_snapshot *snapshot;   /* a fixed one (retro-hunt: only the new indicators) */
	unsigned workers;                     /* callers' slots (worker w calls with w) */
	struct alert_sink *alerts;            /* NULL: no alerts, enrichment only */
	int64_t dedupe_window_ns;             /* 0: 3600 s */
	bool retro;                           /* alerts are retro-hunt sightings; events not enriched */
	bool metrics;                         /* register the koban_ti_* families */
};
struct timatch;
int timatch_new(struct timatch **out, const struct timatch_config *c, struct err *e);
/* Looks up every indicator-bearing field of ev for tenant (global and the tenant's indicators),
 * adds threat.enrichments (unless retro) and raises the alerts. Returns the number of hits (>= 0);
 * what it loses it counts. Worker slot w from one thread at a time. */
int timatch_event(struct timatch *t, unsigned worker, const char *tenant, struct event *ev);
/* What a matcher raised no alert for, for a caller without metrics of its own (retro-hunt). */
struct timatch_counts {
	uint64_t suppressed; /* within a window of an earlier alert */
	uint64_t lost;       /* every reason of koban_ti_lost_total */
};
void timatch_counts(const struct timatch *t, struct timatch_counts *out);
void timatch_free(struct timatch *t);

#endif
