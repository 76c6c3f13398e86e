/*
 * ingest.h - HTTP ingest on the API listener: POST /api/v1/ingest/{source}.
 *
 * A sender authenticates with its source's ingest token (`koban source token NAME --tenant
 * T`, store/meta.h: only the hash is kept) as "Authorization: Bearer TOKEN"; the token names
 * the source and so the tenant, the format and the time zone (the path's {source} must be
 * that source's name). The body is NDJSON (one message per non-empty line, any text: JSON
 * records, syslog lines), a JSON array (one message per element), the Azure Monitor
 * envelope {"records": [...]} (one message per record), a Graph (OData) page {"@odata...",
 * "value": [...]} (one message per value) or any other single JSON object (one message),
 * optionally gzip-compressed (Content-Encoding: gzip). A JSON body is checked
 * whole before anything is stored (400 with the line and column of the error). Each message
 * goes through the acknowledged-input path (ingest/ackin.h): the source's decoder, the
 * tenant's fair-queue statistics, the event store's WAL; the answer is 200 with
 * {"events": N, "decode_errors": F} only once the WAL commit holding the events is done.
 *
 * Limits and back-pressure: a body (after decompression) larger than ingest_max_bytes is
 * refused with 413 before it is stored; the bodies held by all requests together are
 * bounded (API_INGEST_INFLIGHT_FACTOR x ingest_max_bytes), and while that budget is spent,
 * every decoding slot is busy, the tenant's output is blocked (store write errors) or the
 * store refuses the write for lack of space or quota, the answer is 429 with Retry-After
 * (nothing was stored, or the part stored before the error is stored again when the sender
 * retries: at-least-once). 503 with Retry-After when the commit does not complete in time.
 * docs/api.md lists every status.
 *
 * Memory: struct api_ingest is made by api_ingest_new, freed by api_ingest_free; each
 * request's body (at most ingest_max_bytes, inflated too) is held in a struct
 * api_ingest_request from the first call of the request until api_ingest_request_free.
 *
 * Threads: api_ingest_new/free on the main thread while the API listener is stopped;
 * api_ingest_handle and api_ingest_request_free on libmicrohttpd's connection threads (one
 * request belongs to one thread at a time).
 */
#ifndef PORTAL_INGEST_H
#define PORTAL_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;
struct ackin;
struct buf;
struct api_ingest;
struct api_ingest_request;
struct err;
struct fairq;

#define API_INGEST_PATH "/api/v1/ingest/"
#define API_INGEST_LISTENER "api"      /* the listener name that HTTP-only sources name */
#define API_INGEST_INFLIGHT_FACTOR 4   /* bodies held at once: this many of the largest */
#define API_INGEST_SLOT_WAIT_MS 2000   /* wait for a decoding slot before answering 429 */
#define API_INGEST_COMMIT_WAIT_MS 30000 /* wait for the WAL commit before answering 503 */
#define API_INGEST_CUT 1               /* api_ingest_handle: close the connection unanswered */
#define API_INGEST_RETRY_AFTER "5"    /* Retry-After (seconds) of 429 and 503 answers */

struct api_ingest_config {
	struct ackin *ackin;        /* decoding and the WAL (ingest/ackin.h) */
	struct fairq *q;            /* tenant slots: `routed` counts each message */
	const char *data_dir;       /* koban.db: the ingest tokens */
	const char *timezone;       /* zone of sources that name none (config timezone), or NULL */
	size_t max_bytes;           /* api.ingest_max_bytes */
	bool metrics;               /* register koban_api_ingest_inflight_bytes */
};

int api_ingest_new(struct api_ingest **g, const struct api_ingest_config *c, struct err *e);
void api_ingest_free(struct api_ingest *g);

/*
 * The access handler's part for a URL under API_INGEST_PATH (libmicrohttpd's arguments;
 * *req is the connection's request state, NULL on the first call; source is the rest of
 * the path). Returns 0 while the body is still being read (the handler then returns
 * MHD_YES), or the HTTP status to answer now, with the JSON to answer in *answer
 * ({"error": "..."} or the result); the API listener queues the response (with
 * Retry-After for 429 and 503). API_INGEST_CUT: close the connection without an answer (a
 * refused body that goes on and on).
 */
unsigned api_ingest_handle(struct api_ingest *g, struct MHD_Connection *c, const char *source,
			   const char *method, const char *data, size_t *data_size,
			   struct api_ingest_request **req, struct buf *answer);
/* How a body is to be read, from its Content-Type. */
enum api_ingest_body {
	API_INGEST_BODY_ANY,   /* one JSON document if it is one starting with [ or {, else NDJSON */
	API_INGEST_BODY_LINES, /* NDJSON (or any text): one message per non-blank line */
	API_INGEST_BODY_JSON,  /* one JSON document: an array, an envelope, an object */
};

/*
 * Calls each(ctx, rec, len) for every message of the body p[0..len) read as kind says (the
 * table in docs/api.md: lines without their CR LF, array elements and envelope records as
 * written, a lone object without surrounding blanks); records lie within the body. A JSON
 * document is checked whole before the first call. 0, -EBADMSG with the JSON error's
 * position in e (each never called), or each's negative code (the split stops there).
 * Pure: any thread; nothing allocated beyond a bounded scratch arena.
 */
int api_ingest_split(const char *p, size_t len, enum api_ingest_body kind,
		     int (*each)(void *ctx, const char *rec, size_t len), void *ctx,
		     struct err *e);

/* The request's state, when libmicrohttpd completes (or aborts) it; NULL is a no-op. */
void api_ingest_request_free(struct api_ingest *g, struct api_ingest_request *req);

#endif
