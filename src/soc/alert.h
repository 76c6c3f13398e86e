/*
 * alert.h - alerts out of detection: the alert record, the sink that stores alerts in
 * koban.db (store/meta.h) and hands each stored one to the SOC core, and the alert's JSON
 * form (written by `koban alert` and GET /api/v1/alerts, read by `koban alert add`).
 *
 * A detector (a Sigma match, a correlation result, a built-in detector such as impossible
 * travel) fills a struct alert that only points at its own data and calls
 * alert_sink_push(): the alert is checked and copied into a bounded queue, so the caller's
 * memory is free again when the call returns. One writer thread drains the queue in
 * batches, each batch inserted in one transaction, then calls the subscriber (the SOC
 * core, issue 10) with every stored alert and its id. At most ALERT_EVENTS_MAX matched
 * events (ECS JSON lines, ALERT_EVENTS_BYTES in all) are kept with an alert; the rest are
 * counted in it (events_omitted).
 *
 * Nothing is lost silently: an alert that cannot be queued or stored is counted in
 * koban_alerts_dropped_total{reason}: queue_full (the queue is at its count or byte
 * limit), no_memory, invalid (fails meta_alert_check: a producer bug), no_tenant (the
 * tenant was removed meanwhile), store_error (koban.db refused the batch three times).
 * Stored alerts are counted in koban_alerts_total{tenant,level}.
 *
 * Retention: the writer removes alerts detected more than retention_days ago (0: keep
 * forever) when it starts and then once a day; alert_sink_set_retention() changes the
 * days (a reload). meta_alert_prune() is the pass itself.
 *
 * Threads: alert_sink_push() and alert_sink_flush() from any thread; alert_sink_new(),
 * alert_sink_metrics_register() and alert_sink_free() from one (the main) thread. The
 * subscriber runs on the writer thread, one alert at a time, and must not call
 * alert_sink_flush() or alert_sink_free(); the alert it gets is valid during the call.
 * alert_write_json() and alert_read_json() are pure (any thread, the caller's buffers).
 */
#ifndef SOC_ALERT_H
#define SOC_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "store/meta.h"

struct arena;
struct buf;
struct err;
struct alert_sink;

#define ALERT_EVENTS_MAX META_ALERT_EVENTS_MAX     /* 16 events kept per alert */
#define ALERT_EVENTS_BYTES META_ALERT_EVENTS_BYTES /* 64 KiB of events per alert */
#define ALERT_QUEUE_DEFAULT 4096                   /* alerts queued */
#define ALERT_QUEUE_BYTES_DEFAULT ((size_t)64 << 20)
#define ALERT_BATCH_MAX 256                        /* alerts per transaction */

/* ALERT_INDICATOR: a threat-intelligence indicator seen in an event (enrich/timatch.h) */
enum alert_kind { ALERT_SIGMA, ALERT_CORRELATION, ALERT_BUILTIN, ALERT_INDICATOR };

/* One matched event as ECS JSON (event_write_json's text, one object, no newline). */
struct alert_event {
	const char *json;
	size_t len;
};

/*
 * An alert as a detector describes it; every pointer is the caller's and is only read
 * during alert_sink_push(). NULL strings are empty, NULL JSON texts "{}".
 */
struct alert {
	const char *tenant;
	enum alert_kind kind;
	const char *rule_id;          /* the rule's id, else its name, else FILE:LINE */
	const char *rule_title;
	const char *rule_level;       /* informational low medium high critical, or NULL */
	const char *rule_author;      /* always carried (Detection Rule License 1.1) */
	const char *rule_status;
	const char *rule_link;        /* the rule's file or URL */
	const char *const *tags;
	size_t n_tags;
	const char *const *references;
	size_t n_references;
	int64_t event_ns;             /* time of the (last) matched event; 0: unknown */
	int64_t detected_ns;          /* 0: now */
	const char *group_fields;     /* JSON object text: the group-by values */
	const char *key_fields;       /* JSON object text: the fields that explain the match */
	const struct alert_event *events; /* in time order */
	size_t n_events;
	uint64_t events_matched;      /* events the result counts (> n_events when some were
					 not handed over); 0: n_events */
};

/* Called on the writer thread for each alert once its batch is committed. */
typedef void alert_stored_fn(void *ctx, const struct meta_alert *stored);

struct alert_sink_config {
	const char *data_dir;         /* where koban.db is */
	unsigned capacity;            /* alerts queued; 0: ALERT_QUEUE_DEFAULT */
	size_t max_bytes;             /* bytes queued; 0: ALERT_QUEUE_BYTES_DEFAULT */
	unsigned retention_days;      /* alerts.retention_days; 0: keep forever */
	alert_stored_fn *on_stored;   /* the subscriber, or NULL */
	void *ctx;                    /* its context */
};

/* Opens koban.db (schema brought up to date) and starts the writer thread. */
int alert_sink_new(struct alert_sink **s, const struct alert_sink_config *c, struct err *e);
/*
 * Checks a and copies it into the queue: 0, or the drop's reason as -ENOSPC (queue_full),
 * -ENOMEM, -EINVAL (invalid, described in e when not NULL). A drop is counted and logged
 * (rate-limited to the first of each reason), so the caller needs no message of its own.
 */
int alert_sink_push(struct alert_sink *s, const struct alert *a, struct err *e);
/* Waits until every alert pushed before the call is stored (or dropped). */
void alert_sink_flush(struct alert_sink *s);
void alert_sink_set_retention(struct alert_sink *s, unsigned days);
/* koban_alerts_total, koban_alerts_dropped_total, koban_alerts_queued, koban_alerts_pruned_total. */
int alert_sink_metrics_register(struct alert_sink *s, struct err *e);
/* Stores what is queued, stops the writer, closes koban.db. */
void alert_sink_free(struct alert_sink *s);

/*
 * Removes the alerts detected more than retention_days before now_ns (0 days: nothing);
 * how many in *deleted (may be NULL).
 */
int alert_prune(struct meta *m, unsigned retention_days, int64_t now_ns, int64_t *deleted,
		struct err *e);

/*
 * The JSON object of a stored alert (docs/api.md), without a newline:
 * {"id": N, "tenant": "...", "kind": "...", "rule": {"id", "title", "level", "author",
 * "status", "link", "tags": [...], "references": [...]}, "event_time": RFC 3339 or null,
 * "detected": RFC 3339, "group": {...}, "keys": {...}, "n_events": N,
 * "events_omitted": N, "events": [...] (only when a->events is not NULL)}.
 */
int alert_write_json(const struct meta_alert *a, struct buf *out);

/*
 * Reads one alert in the form alert_write_json() writes (id, tenant, n_events and
 * "detected" are ignored: the sink gives them) for `koban alert add`: strings are
 * unescaped into arena, events[] points into text. *a's tags, references and events
 * arrays are allocated from arena too. 0 or -EINVAL/-ENOMEM with "line L, column C" or
 * the key in e.
 */
int alert_read_json(const char *text, size_t len, struct arena *arena, struct alert *a,
		    struct err *e);

const char *alert_kind_name(enum alert_kind k);

#endif
