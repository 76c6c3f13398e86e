/*
 * retrohunt.h - retro-hunting: indicators newly added to koban.db searched for in the
 * events already stored, their old sightings raised as alerts marked retro-hunt.
 *
 * Per tenant, koban.db keeps how far the hunt has come (store/meta.h "Retro-hunt"): the
 * indicators with a row id up to a watermark were searched for. A pass takes, for each
 * tenant, the indicators that apply to it (the global ones and its own, never another
 * tenant's) added since, at most RETROHUNT_BATCH of them as one batch, and reads the
 * tenant's events of the last N days before the batch started (N per indicator source: the
 * config's days callback, default 30) through the store's search (store/store.h) with a
 * time-bounded scan, one UTC day-sized window at a time, newest first. Each event is decoded
 * again (parse/ecs.h) into this module's memory and run through a struct timatch built
 * with a snapshot of only the batch's indicators and retro = true (enrich/timatch.h): it
 * raises the alerts (rule koban-ti-retrohunt, tag retro-hunt), de-duplicated as live ones
 * within one pass. A source with fewer days than others sees only events within its days.
 *
 * Bounded work: a pass stops once it has read max_events events (checked between windows,
 * so it reads at most one window more), with the position (batch, window) kept in koban.db:
 * a restart or the next pass goes on from there. A batch done moves the watermark. The
 * position is moved by compare-and-swap, so serve's thread and `koban ti hunt` may run at
 * once without moving each other's progress back (a window both read alerts twice).
 *
 * A tenant whose hunt fails (a damaged segment) is logged and counted, and the pass goes
 * on with the others; it is tried again on the next pass. After every 1024 sightings
 * the pass waits until the alert sink stored them, so a hunt never fills the alert queue
 * that the live alerts share.
 *
 * Counted in koban_ti_retrohunt_events_total{result} (matched, unmatched, undecodable),
 * koban_ti_retrohunt_alerts_total (the sightings handed to timatch's alerting; it counts the
 * de-duplicated ones in koban_ti_alerts_suppressed_total) and
 * koban_ti_retrohunt_failures_total.
 *
 * Ownership: the config's meta, store and alerts stay the caller's and must outlive r; r
 * uses meta and store only from the thread running the passes.
 * Threads: retrohunt_pass from one thread at a time and never while the thread of
 * retrohunt_start runs; retrohunt_wake from any thread; new/start/free from one (main) thread.
 */
#ifndef ENRICH_RETROHUNT_H
#define ENRICH_RETROHUNT_H

#include <stdbool.h>
#include <stdint.h>

struct alert_sink;
struct err;
struct meta;
struct store;

#define RETROHUNT_DAYS_DEFAULT 30
#define RETROHUNT_DAYS_MAX 3660            /* about ten years */
#define RETROHUNT_BATCH 100000             /* indicators hunted together */
#define RETROHUNT_EVENTS_DEFAULT 2000000   /* events read per pass */
#define RETROHUNT_BANDS_MAX 32             /* distinct days values in one batch */

struct retrohunt_config {
	struct meta *meta;           /* koban.db: indicators, progress, tenants */
	struct store *store;         /* the events */
	struct alert_sink *alerts;   /* where timatch raises the alerts */
	/* Days to look back for source's indicators; NULL (or a 0 return): default_days. */
	unsigned (*days)(void *ctx, const char *source);
	void *days_ctx;
	unsigned default_days;       /* 0: RETROHUNT_DAYS_DEFAULT */
	uint64_t max_events;         /* per pass; 0: RETROHUNT_EVENTS_DEFAULT */
	int64_t dedupe_window_ns;    /* 0: timatch's default */
	int64_t idle_ns;             /* the thread's pause when caught up; 0: 5 s */
	bool metrics;                /* register the koban_ti_retrohunt_* families */
};

struct retrohunt_stats {
	uint64_t tenants;            /* hunted in */
	uint64_t batches;            /* finished */
	uint64_t indicators;         /* in the batches worked on */
	uint64_t events;             /* read */
	uint64_t matched;            /* events with a sighting */
	uint64_t sightings;          /* hits handed to the alerting */
	uint64_t undecodable;        /* events that could not be decoded again (logged) */
	bool done;                   /* every tenant caught up (false: the budget ran out) */
};

struct retrohunt;

int retrohunt_new(struct retrohunt **out, const struct retrohunt_config *c, struct err *e);
/*
 * One pass over every tenant of koban.db (tenant NULL) or one. now: the clock (ns) for a
 * new batch. Adds to *st. 0, or the first tenant's error with e saying why (every error
 * logged; the progress made is kept).
 */
int retrohunt_pass(struct retrohunt *r, const char *tenant, int64_t now,
		   struct retrohunt_stats *st, struct err *e);
/* Runs passes on the thread koban-retrohunt: when woken, and every idle_ns when idle. */
int retrohunt_start(struct retrohunt *r, struct err *e);
/* New indicators are there: the thread runs a pass at once. */
void retrohunt_wake(struct retrohunt *r);
/* Stops the thread (after its current window) and frees r. */
void retrohunt_free(struct retrohunt *r);

#endif
