/*
 * poll.h - pollers: pull connectors for logs that stay in Microsoft's cloud.
 *
 * Each entry of the configuration's `pollers:` map (core/config.h, docs/pollers.md) runs
 * on a thread of its own and, every `interval` seconds:
 *  - takes an OAuth2 client-credentials token from the Entra ID token endpoint
 *    (login_url/DIRECTORY/oauth2/v2.0/token, the secret read once at start from
 *    client_secret_file, which must be a regular file that only its owner can read) and
 *    caches it until 5 minutes before it expires; a 401 from the API drops it and fetches
 *    a new one once;
 *  - type graph: GETs /v1.0/security/alerts_v2 and /v1.0/security/incidents filtered by
 *    `lastUpdateDateTime ge WATERMARK - overlap`, following @odata.nextLink (only to the
 *    api_url's own origin) until it is absent; the watermark becomes the largest
 *    lastUpdateDateTime seen; one alert or incident is one record, keyed for
 *    de-duplication by (id, lastUpdateDateTime);
 *  - type loganalytics: POSTs one KQL query per table to /v1/workspaces/ID/query, windowed
 *    on ingestion_time() from WATERMARK - overlap to now - lag (a TimeGenerated guard of
 *    2 days and an hour for speed), ordered by it and taking page_size rows; a full page
 *    queries again from its last ingestion time. Each row becomes one JSON object of its
 *    columns by name (dynamic cells as JSON, "Type": TABLE added when the table has no
 *    Type column), keyed for de-duplication by a hash of its bytes. A PartialError keeps
 *    the rows but not the new watermark.
 *  - throttling (429) waits Retry-After (or backs off exponentially when it is absent),
 *    5xx and transport errors back off exponentially with jitter (1 s doubling to 60 s,
 *    at most POLL_RETRIES tries); other errors end the poll with the service's error code
 *    and message logged; the watermark then stays where it was.
 * Records go through the acknowledged-input path (ingest/ackin.h) as messages of the
 * poller's tenant with the poller's format (`m365` for graph, `azure` for loganalytics
 * unless `format` says otherwise) and source = the poller's name: a page's records are
 * decoded in the poller's thread into one batch appended to the write-ahead log; busy
 * decoding slots are waited on (counted as throttled), never dropped. A record longer than
 * syslog.max_message_size is cut there and flagged truncated, as for HTTP ingest, never
 * dropped (cut JSON is kept raw as a pipeline_error event). Records seen in the
 * overlap already are counted as duplicates and not sent again, also across restarts:
 * watermarks and the keys of the overlap window are kept in DATA_DIR/pollers/NAME.state
 * (mode 0600, replaced through a temporary file and a rename after every finished stream),
 * written only once the poll's last record is committed (ackin_wait); a stop or crash
 * before that reads those records again. ackin (NULL only for pollers that never receive,
 * in tests) must outlive the poll.
 *
 * Secrets: the client secret and the tokens are never logged and are wiped when freed.
 *
 * Threads: poll_start, poll_stop and poll_free from the main thread; the counters behind
 * the metrics are read from the admin listener's thread.
 */
#ifndef INGEST_POLL_H
#define INGEST_POLL_H

#include <stddef.h>
#include <stdint.h>

struct ackin;
struct config;
struct err;
struct fairq;
struct poll;

#define POLL_RETRIES 6            /* tries of one request on 5xx and transport errors */
#define POLL_THROTTLE_RETRIES 30  /* tries of one request while it is throttled (429) */
#define POLL_BACKOFF_MIN_MS 1000
#define POLL_BACKOFF_MAX_MS 60000
#define POLL_TOKEN_MARGIN_S 300   /* a token is renewed this long before it expires */
#define POLL_SEEN_MAX (1u << 20)  /* de-duplication keys kept per poller */
#define POLL_SECRET_MAX 4096      /* bytes of a client secret file */

/*
 * Starts a thread for each poller of c (none: *pp is a poll that does nothing): reads each
 * secret file (refused unless a regular file of mode 0600 or stricter), resolves its format
 * with the decoder registry, gets its tenant's fair-queue slot from q and loads its state
 * from DATA_DIR/pollers. c and q must outlive the poll. Fails as a whole, naming the poller
 * and what is wrong.
 */
int poll_start(struct poll **pp, const struct config *c, struct fairq *q, struct ackin *ackin,
	       struct err *e);
/* Stops every poller (an HTTP transfer in progress is aborted) and joins the threads. */
void poll_stop(struct poll *p);
/* Unregisters the metrics, stops when not yet stopped, wipes the secrets and frees. */
void poll_free(struct poll *p);
/*
 * koban_poller_requests_total{poller,result}, koban_poller_records_total{poller,stream},
 * koban_poller_duplicates_total{poller}, koban_poller_polls_total{poller,result},
 * koban_poller_tokens_total{poller},
 * koban_poller_dedupe_full_total{poller} and the gauge koban_poller_watermark_seconds
 * {poller,stream}; nothing when there are no pollers.
 */
int poll_metrics_register(struct poll *p);

/*
 * For tests and the fuzz target, without a network: reads body as a response of a poller of
 * type (POLLER_GRAPH: a Graph page; POLLER_LOGANALYTICS: a query result of table "T"),
 * appends each record it would deliver to out (as a JSON text sequence, RFC 7464: 0x1E,
 * the record, LF; a record may hold line ends of its own; out NULL: counted only) and
 * reports them in *records, *partial for a Log Analytics error beside the tables; also runs
 * the token-reply and error-body readers over body. 0 or the reader's error, with e filled.
 */
struct buf;
int poll_parse(int type, const char *body, size_t len, struct buf *out, size_t *records,
	       int *partial, struct err *e);

/* Polls completed (each stream once) by poller i since start: for tests. */
uint64_t poll_cycles(const struct poll *p, size_t i);

#endif
