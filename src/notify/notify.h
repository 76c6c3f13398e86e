/*
 * notify.h - the notification engine (issue 11 parts 4-6, docs/notify.md): when the SOC engine
 * decides or raises an incident's level (soc_config.level_decided), the tenant's policy
 * (notify/policy.h; none: the built-in default, level >= 2 -> notify.lead) plans the steps of
 * a chain; every (step, recipient) becomes a notice in koban.db (meta.h, "Notify") with an
 * absolute due time, rendered from the templates (templates/notify, notify.templates) and
 * handed to its channel (notify/channel.h) when due. A level an analyst raises (a timeline
 * entry "level" with "manual": true, soc/incident.h; CLI or API, any process) is planned the
 * same way: the thread (or notify_run) reads such entries written since its last look.
 *
 *  - Escalation: step k+1 is due `after` step k (times from the decision, absolute) and is
 *    sent only while the incident has no acknowledgement given after the chain was planned;
 *    acknowledged (or closed), the chain's pending notices are cancelled. A level raised after
 *    an acknowledgement plans a new chain (chain = the new level) that only a later
 *    acknowledgement stops. An acknowledgement (portal/ackpage.c) cancels the pending notices
 *    in the transaction that records it and tells the engine (notify_acked). A chain with a
 *    step that asks for an acknowledgement ends with the SOC lead (notify.lead) paged once,
 *    notify.lead.after after the last step, unless acknowledged by then. The chain is the
 *    rows: a restart resumes it.
 *  - Maintenance windows: a held plan's notices are due at the window's end (then sent unless
 *    the incident was acknowledged or closed meanwhile).
 *  - No duplicates: one notice per (tenant, incident, chain level, step, channel, recipient,
 *    window), UNIQUE in koban.db, so a decision heard twice (or again after a restart) adds
 *    nothing. A hand-off cut by a crash is tried again after the restart with the same
 *    message id (channel.h: receivers may de-duplicate by it).
 *  - Delivery log: every try is an attempt (sent, delivered, retry, failed + reason) and an
 *    entry of the incident's timeline (who, channel, result). A temporary failure is tried
 *    again after notify.retry.backoff * 2^(n-1) seconds (at most max_backoff, at least the
 *    service's Retry-After) up to notify.retry.attempts tries.
 *  - Rate limits: a token bucket per channel (channel_ops.rate_per_s, or the channel's `rate`
 *    key), the most urgent notice first (level, then due time).
 *  - Aggregation: when the plan says so (the policy's frequency was reached), the incidents of
 *    a window become one notice per recipient listing them, due at the window's end. A
 *    Critical (level 3) incident is never aggregated.
 *  - The first notice of a level >= 2 incident handed to a channel sets its contacted clock.
 *
 * Metrics (metrics true): koban_notify_notices_total{channel,status}, koban_notify_queue,
 * koban_notify_decision_to_handoff_seconds (histogram: the level decided -> its notice handed
 * to the channel, first tries only).
 *
 * Replay (`koban ingest`, send false): notices are planned, logged and marked "planned" but
 * not sent.
 *
 * Memory: the engine owns its koban.db handle, channels and templates. Threads: notify_new,
 * notify_run, notify_free from one thread; threaded, the thread koban-notify does the work and
 * notify_level_decided / notify_status may be called from any thread (they only queue).
 * Unthreaded (replay, tests) they work at once on the caller's thread.
 */
#ifndef NOTIFY_NOTIFY_H
#define NOTIFY_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct buf;
struct channel_ops;
struct config;
struct err;
struct meta_incident;
struct notify;

#define NOTIFY_QUEUE_MAX 65536      /* decisions and statuses queued for the thread */
#define NOTIFY_BATCH 64             /* due notices read at once */
#define NOTIFY_STEPS_MAX 16
#define NOTIFY_TO_MAX 32            /* recipients of one step */

/* One step of a plan (the engine's copy of policy.h's struct policy_step). */
struct notify_step {
	const char *channel;
	const char *const *to;
	size_t n_to;
	const char *template;       /* NULL / "": the default set */
	const char *lang;           /* "ja" (default) or "en" */
	bool ack;
	int64_t after_ns;           /* after the previous step, unacknowledged */
};
struct notify_plan {
	const char *rule_name;      /* "" the default policy */
	bool matched, held, aggregate;
	int64_t window_ns;
	int64_t held_until_ns;      /* held: the maintenance window's end; the chain starts then */
	struct notify_step *steps;
	size_t n_steps;
	const char *why;            /* a sentence for the timeline, or NULL */
};
/*
 * A planner: fills out for inc (similar: incidents of its rule within the last hour) in a.
 * The engine's own reads the tenant's policy from koban.db; tests give theirs.
 */
typedef int notify_plan_fn(void *ctx, const struct meta_incident *inc, uint64_t similar,
			   int64_t at_ns, struct arena *a, struct notify_plan *out, struct err *e);

struct notify_config {
	const struct config *cfg;   /* notify.*, data_dir; read during notify_new only */
	bool threaded;              /* serve: the thread koban-notify; else notify_run */
	bool send;                  /* false (replay): plan and log, never send */
	bool metrics;
	int64_t (*now)(void *ctx);  /* the clock (NULL: the wall clock) */
	void *now_ctx;
	notify_plan_fn *plan;       /* NULL: the tenant's policy, else the default */
	void *plan_ctx;
	/* channel types beside channel.h's (tests, bench): looked up first */
	const struct channel_ops *const *extra_types;
	size_t n_extra_types;
};

/*
 * Opens the channels (their open() checks their keys), the templates and the ack key. In
 * serve, notices left in koban.db by an earlier run are picked up as they fall due.
 */
int notify_new(struct notify **out, const struct notify_config *c, struct err *e);
void notify_free(struct notify *n);

/*
 * soc_config.level_decided: threaded it queues (a Critical decision first), else it plans at
 * once on the caller's thread (errors logged). A level that goes down is ignored.
 */
void notify_level_decided(void *ctx, const char *tenant, int64_t incident, int from, int to,
			  int64_t at_ns);
/* ack_hooks.status: a channel's later report on a notice (delivered, failed, ...). */
void notify_status(void *ctx, const char *tenant, int64_t notice, const char *status,
		   const char *reason);
/*
 * ackpage_config.recipient: the recipient of tenant's notice into out[0..max) (its own koban.db
 * handle: any thread). -ENOENT: no such notice of the tenant.
 */
int notify_recipient(void *ctx, const char *tenant, int64_t notice, char *out, size_t max);
/*
 * ackpage_config.acked: tenant's incident was acknowledged and cancelled notices of its
 * pending chain (already written by the caller): the queue gauge is read again from koban.db
 * and the thread woken. Any thread.
 */
void notify_acked(void *ctx, const char *tenant, int64_t incident, int64_t cancelled);
/*
 * Unthreaded: plans the queued decisions, applies statuses and sends every notice due at the
 * engine's clock. The number of notices handed to a channel (replay: marked planned), or a
 * negative code.
 */
int notify_run(struct notify *n, struct err *e);
/* The earliest due time of a pending notice (0: none). */
int64_t notify_next_due(struct notify *n);
/* The notices pending (the gauge koban_notify_queue). Any thread. */
int64_t notify_queue(struct notify *n);

/*
 * Plans inc (the tenant's, level >= 0) at at_ns as the decision hook would, on the caller's
 * thread (unthreaded engines only): the notices added in *added.
 */
int notify_plan_incident(struct notify *n, const char *tenant, int64_t incident, int64_t at_ns,
			 size_t *added, struct err *e);

struct notify_test_result {
	int status;                 /* enum channel_status */
	char provider_id[128];
	char reason[256];
};
/*
 * `koban notify test`: renders a test notice for tenant to recipient and hands it to the
 * channel named channel. 0 (sent or delivered) or the channel's negative code, r filled.
 */
int notify_test(struct notify *n, const char *tenant, const char *channel, const char *to,
		const char *lang, struct notify_test_result *r, struct err *e);

/*
 * The delivery log (`koban notify log --json`, GET /api/v1/notify/log): tenant's notices
 * (incident > 0: that incident's, aggregated ones listing it included), oldest first, at most
 * limit, one JSON object per line with its tries, appended to out (at most NOTIFY_LOG_MAX
 * bytes: -ENOSPC). Any thread with its own koban.db handle m.
 */
#define NOTIFY_LOG_MAX (16u << 20)
struct meta;
int notify_log_json(struct meta *m, const char *tenant, int64_t incident, int64_t limit,
		    struct buf *out, struct err *e);

/*
 * `koban config check`: opens every notify.channels entry with its type's open() (no send)
 * and closes it again; report() gets "FILE:LINE: notify.channels.NAME...: reason" for each
 * problem. The number of errors.
 */
int notify_config_check(const struct config *c,
			void (*report)(void *ctx, const char *msg), void *ctx);

/*
 * Renders the notice parts for tests and previews: the default template set of lang with the
 * fields of inc (and report text, may be NULL), ack_url and incident_url (may be NULL), into
 * subject, text, html, speech (reset first).
 */
int notify_render(struct notify *n, const struct meta_incident *inc, const char *lang,
		  const char *report, const char *ack_url, const char *incident_url,
		  struct buf *subject, struct buf *text, struct buf *html, struct buf *speech,
		  struct err *e);

#endif
