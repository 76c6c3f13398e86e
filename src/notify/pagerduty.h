/*
 * pagerduty.h - the `pagerduty` notification channel (notify/channel.h): a notice sent as a
 * PagerDuty Events API v2 trigger event (../shared/ref/apis.md 6.2; docs/channels.md).
 *
 * Keys of notify.channels.NAME (type pagerduty):
 *   routing_key_file  a file of mode 0600 holding the integration's routing key (required)
 *   url               the Events API endpoint (default PAGERDUTY_URL)
 *   source            payload.source, the system the event is about (default "koban")
 *   ca_file, timeout, rate (notify/httppost.h)
 *
 * The event: event_action trigger, dedup_key "koban.TENANT.INCIDENT" (every step and retry of
 * one incident updates one PagerDuty alert), payload summary (the subject, at most 1024
 * bytes), severity from the level (0 info, 1 warning, 2 error, 3 critical), source,
 * timestamp (when it is sent), component "koban", group the tenant, class "incident",
 * custom_details (tenant, incident, level, notice, message_id, text, test), links (the
 * incident's page, the acknowledgement link), client "koban".
 *
 * Results: 202 with {"status":"success","dedup_key":...} is CHANNEL_SENT with provider_id the
 * dedup key; 400 is CHANNEL_FAILED_PERM with PagerDuty's message and first error; 429 and
 * 5xx CHANNEL_FAILED_TEMP (429 waits at least PAGERDUTY_RETRY_429 s unless Retry-After says).
 *
 * Memory and threads: as channel.h says; the pure functions run on any thread.
 */
#ifndef NOTIFY_PAGERDUTY_H
#define NOTIFY_PAGERDUTY_H

#include <stddef.h>
#include <stdint.h>

#include "notify/channel.h"

struct buf;

#define PAGERDUTY_URL "https://events.pagerduty.com/v2/enqueue"
#define PAGERDUTY_SUMMARY_MAX 1024
#define PAGERDUTY_DEDUP_MAX 255
#define PAGERDUTY_BODY_MAX (64 * 1024)  /* bytes of one event (PagerDuty takes 512 KB) */
#define PAGERDUTY_TEXT_MAX (32 * 1024)  /* bytes of the notice's text in custom_details */
#define PAGERDUTY_RETRY_429 60          /* seconds: PagerDuty asks for "a few minutes" */

extern const struct channel_ops pagerduty_ops;

/* "koban.TENANT.INCIDENT" into out[PAGERDUTY_DEDUP_MAX + 1] (a long tenant is cut). */
void pagerduty_dedup_key(const struct notice *n, char *out);
/* The PagerDuty severity of level (0..3; others: critical above, info below). */
const char *pagerduty_severity(int level);

/* The event of notice n sent at now_ns with routing_key and source into out. 0, -ENOSPC, -ENOMEM. */
int pagerduty_body(const char *routing_key, const char *source, const struct notice *n,
		   int64_t now_ns, struct buf *out);

/* What an answer of the Events API says (each field cut to its size, "" when absent). */
struct pagerduty_reply {
	char status[64];
	char message[160];
	char error[160];                     /* the first of errors[] */
	char dedup_key[PAGERDUTY_DEDUP_MAX + 1];
};
/* Reads an answer's JSON body (untrusted): 0, or -EINVAL when it is no JSON object. */
int pagerduty_reply_read(const char *p, size_t len, struct pagerduty_reply *out);

#endif
