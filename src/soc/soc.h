/*
 * soc.h - the SOC engine (issue 10): stored alerts become incidents, each with a level that
 * the evidence decides (soc/triage.h), its internal terminal (soc/terminal.h), copies of its
 * events (soc/evkeep.h), SLA clocks (soc/sla.h) and first-report drafts (soc/firstreport.h).
 *
 * Per alert, in order: a suppression that matches it (meta_suppression_match) counts the
 * alert as suppressed and ends there (the alert stays in koban.db); else the grouping key
 * (soc_group_key) names the incident: the newest open incident of the tenant with that key
 * whose last alert is at most soc.window before this one takes the alert (linked),
 * otherwise a new incident is made (created). Then triage evaluates the incident again: a
 * level change is recorded on the timeline with the sentence of the evidence that set it,
 * the first decision sets the "decided" clock, and the first-report drafts are refreshed;
 * then the first alert's internal terminal is looked up and the alert's events are kept
 * with the incident. The alerts waiting together go through each step together (up to 16,
 * the writes of a step in one koban.db transaction: docs/incidents.md). A level an analyst set is never lowered by the engine. An
 * incomplete verdict (an evidence window still open) is evaluated again when due.
 *
 * Two ways to run it:
 *  - threaded (`koban serve`): soc_alert_stored() is the alert sink's subscriber; it only
 *    copies the alert's id into a bounded queue that the thread koban-soc drains, so the
 *    alert writer never waits. A full queue is counted (dropped) and the alert is picked
 *    up by the catch-up scan (every SOC_TICK_NS, and at start): every alert of koban.db
 *    with a higher id than the last one handled that no incident links, so nothing is
 *    lost, and alerts that other processes stored (`koban alert add`, an ingest through
 *    the daemon) are handled too. The clock is the wall clock; sla_check runs every tick.
 *    An alert may be the late evidence of another incident: the tenant's open incidents
 *    of other rules detected within soc.window that share a user or an address with it
 *    are evaluated again.
 *  - replay (`koban ingest`): soc_replay() handles the alerts stored after a given id in
 *    event-time order with the event time as the clock (before each alert, the
 *    re-evaluations due by then, each at its own time), then every re-evaluation still
 *    pending at its time, so a replayed hour ends with the final levels; the SLA clocks are
 *    checked at the last alert's time.
 *
 * Metrics (soc_new with metrics): koban_incidents_total{tenant,level} (incidents that
 * reached the level: the first decision and every change count once), koban_soc_alerts_total
 * {result} (linked, created, suppressed, dropped, failed), koban_soc_queue, and
 * koban_soc_decision_seconds (a histogram: alert detected -> its incident's first level).
 *
 * Ownership: the engine opens its own koban.db handle; the store handle of soc_config is
 * the caller's and must outlive the engine. Threads: soc_new/soc_free/soc_replay from one
 * thread; soc_alert_stored from the alert writer's thread (any thread); the pure functions
 * from any thread.
 */
#ifndef SOC_SOC_H
#define SOC_SOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct buf;
struct config;
struct err;
struct meta_alert;
struct sla;
struct store;
struct soc;

#define SOC_QUEUE_DEFAULT 65536                        /* alert ids queued */
#define SOC_WINDOW_DEFAULT_NS (INT64_C(3600) * 1000000000) /* soc.window: 1 h */
#define SOC_GROUP_KEYS_MAX 8                           /* fields of one grouping */
#define SOC_GROUP_KEY_MAX 4096                         /* bytes of a grouping key */
#define SOC_ENTITIES_MAX 64                            /* users, hosts or IPs kept of each */

/*
 * One entry of soc.grouping: the alerts whose rule id or one of whose rule tags is in match
 * (n_match 0: every alert) are grouped by the values of keys (ECS field names, looked up in
 * the alert's key fields, its group-by fields, then its first event).
 */
struct soc_grouping {
	const char *const *match;
	size_t n_match;
	const char *const *keys;
	size_t n_keys;
};

/*
 * The grouping key of a: its rule id and the values of the keys of the first grouping that
 * matches it, "RULE|field=value|field=value" (a missing value is empty); with none
 * matching, the victim (destination.ip, else user.name, else host.name), else the source
 * (source.ip). Into key (reset first, at most SOC_GROUP_KEY_MAX bytes: -ENOSPC). Scratch
 * memory from arena. Pure.
 */
int soc_group_key(const struct soc_grouping *g, size_t n_groupings, const struct meta_alert *a,
		  struct arena *arena, struct buf *key, struct err *e);

/*
 * The incident's entities (JSON object {"users":[..],"hosts":[..],"ips":[..]} text, NULL or
 * "" for none) with those a names added (key fields and events: user.name, source.user.name,
 * destination.user.name, host.name, host.hostname, source.ip, destination.ip, client.ip,
 * server.ip, host.ip), each list without duplicates and at most SOC_ENTITIES_MAX long,
 * into out (reset first). Pure.
 */
int soc_entities_merge(const char *entities, const struct meta_alert *a, struct arena *arena,
		       struct buf *out, struct err *e);

/*
 * The level the engine gives an incident: the verdict's when no analyst set one (analyst
 * -1); else the analyst's, unless the verdict is above the level the analyst overruled
 * (new evidence: then the higher of the two). An analyst's level is never lowered, and a
 * level an analyst lowered stays lowered until evidence goes beyond what they saw. Pure.
 */
int soc_level(int verdict, int analyst, int overruled);

struct soc_config {
	const struct config *cfg;   /* soc.* keys, data_dir; read during soc_new only */
	struct store *store;        /* evidence searches, terminals, evidence copies */
	bool threaded;              /* serve: the thread koban-soc; else soc_replay */
	bool metrics;               /* register the metrics above */
	/*
	 * Called on the engine's thread after an incident's level is written when it is first
	 * decided or changes (from: the level before, META_LEVEL_UNDECIDED at first), at_ns
	 * the decision's time (the wall clock in serve, the event time in replay). The
	 * notification engine (notify/notify.h) listens here; it must not block. NULL: none.
	 */
	void (*level_decided)(void *ctx, const char *tenant, int64_t incident, int from, int to,
			      int64_t at_ns);
	void *level_ctx;
};

int soc_new(struct soc **out, const struct soc_config *c, struct err *e);
/* The alert sink's subscriber (alert_stored_fn; ctx is the struct soc). Threaded only. */
void soc_alert_stored(void *ctx, const struct meta_alert *a);

struct soc_replay_stats {
	uint64_t alerts;            /* alerts handled */
	uint64_t created, linked, suppressed, failed;
	uint64_t evaluations;       /* triage evaluations, re-evaluations included */
};
/*
 * Replay mode: handles every alert with an id above after_id that no incident links, in
 * event-time order, then the due re-evaluations. 0, or the first error (the remaining
 * alerts are still handled; each failure is counted and logged).
 */
int soc_replay(struct soc *s, int64_t after_id, struct soc_replay_stats *st, struct err *e);
/* Stops the thread (the alerts queued are handled first), unregisters the metrics. */
/* The engine's SLA policies (soc/sla.h: read-only, any thread), valid until soc_free(). */
const struct sla *soc_sla(const struct soc *s);
void soc_free(struct soc *s);

#endif
