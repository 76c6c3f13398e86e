/*
 * api.h - the API listener (libmicrohttpd): koban's JSON API for programs and, later, the
 * portal. Later issues add their endpoints here (ingest, alerts, incidents, block lists).
 *
 * HTTPS with the configured certificate and key; plain HTTP only on a loopback address
 * (api_start refuses anything else). Every request carries an API token (`koban token`,
 * store/meta.h) as "Authorization: Bearer TOKEN"; the token decides the tenant: a tenant
 * token reads only its own tenant whatever the request names, a SOC token names one in each
 * request. Tokens are looked up in koban.db at every request, so a revoked token stops
 * working at once.
 *
 *   GET /api/v1/search?tenant=NAME&q=QUERY&from=TIME&to=TIME&limit=N
 *
 * streams the same JSON lines as `koban search --json` (application/x-ndjson);
 *
 *   GET /api/v1/alerts?tenant=NAME&since=TIME&limit=N
 *   GET /api/v1/alerts/ID?tenant=NAME
 *
 * answer the tenant's alerts as `koban alert list --json` prints them (JSON lines, newest
 * first, without their events), or one alert with its events as a JSON object (404 when
 * the tenant has no alert of that id, whoever has one); the token decides the tenant as
 * for a search;
 *   GET /api/v1/rules/policy?tenant=NAME
 *   GET /api/v1/rules/history?tenant=NAME&rule=ID&limit=N
 *
 * answer the tenant's detection rule policy and its history (store/meta.h, meta_rule_*),
 * the lines of `koban rule policy|history --json` (detect/rulepolicy.h);
 *
 *   GET, POST /api/v1/assets
 *   GET, PATCH, DELETE /api/v1/assets/ID
 *   GET /api/v1/assets/unknown?since=TIME
 *
 * read and edit the tenant's asset inventory (enrich/assets.h) as JSON (lines for the
 * lists), the tenant resolved as for a search; a POST or PATCH body (at most 1 MiB) is
 * collected in the connection's con_cls and listed in the api, so that the completion
 * callback tells it from an ingest request's state;
 *
 *   POST /api/v1/ingest/{source}
 *
 * takes a source's events (portal/ingest.h: its own tokens, answered after the WAL
 * commit) when api_config.ingest is set;
 *
 *   GET, POST /ack/<token>, POST /ack/phone/<token>, POST /ack/phone-status/<token>
 *
 * acknowledge a notice (portal/ackpage.h) when api_config.ack is set: no API token, the
 * acknowledgement token in the path is the credential (notify/ack.h);
 *
 *   GET /edl/<tenant>/<list>.txt
 *
 * answers a tenant's External Dynamic List (respond/edl.h) when api_config.edl is set:
 * text/plain with an ETag (304 for a matching If-None-Match), opened only by an EDL token
 * of that tenant sent as HTTP Basic auth (user: the token's name, password: the token);
 * API tokens open no list and EDL tokens no /api/ endpoint; the ingest module keeps its request's state in
 * the connection's con_cls, freed when libmicrohttpd completes the request. Errors are
 * {"error": "..."} with a 4xx/5xx status, or, once the stream has begun, a last line
 * {"error": "..."}. Every search is written to the audit log (store/store.h) as
 * "token NAME". docs/api.md describes the API.
 *
 * Threads: api_start/api_stop on the main thread. libmicrohttpd runs a thread per
 * connection (at most API_MAX_CONNECTIONS); each search runs on a thread of its own with its
 * own store and meta handles, writing into a pipe the connection reads, within the searches
 * a daemon runs at once (store_search_slot_take, shared with the control socket's).
 */
#ifndef PORTAL_API_H
#define PORTAL_API_H

#include <stdint.h>

struct ackpage_config;
struct api;
struct api_ingest;
struct edl;
struct err;
struct sla;

#define API_MAX_CONNECTIONS 64
#define API_MAX_PER_ADDRESS 16

struct api_config {
	const char *listen;       /* "127.0.0.1:8515", "[::1]:0" (port 0: any free port) */
	const char *tls_cert;     /* PEM files; both NULL: plain HTTP (loopback only) */
	const char *tls_key;
	const char *data_dir;
	const char *keys_master;  /* the keys: section's files; NULL: DATA_DIR/keys (store/keys.h) */
	const char *keys_signing;
	struct api_ingest *ingest; /* POST /api/v1/ingest/{source} (portal/ingest.h); NULL: off */
	struct edl *edl;          /* GET /edl/<tenant>/<list>.txt (respond/edl.h); NULL: off */
	const char *report_templates; /* soc.report.templates (soc/firstreport.h); NULL: bundled */
	const struct sla *sla;    /* the incidents' SLA clocks (soc/sla.h; the caller's, outlives
				   * the API); NULL: raw clocks only */
	const struct ackpage_config *ack; /* /ack/... (portal/ackpage.h: acknowledgement links and
				   * phone callbacks, no API token); NULL: not served */
};

int api_start(struct api **a, const struct api_config *c, struct err *e);
/* The address actually bound, "127.0.0.1:41234". */
const char *api_address(const struct api *a);
/* "https" or "http". */
const char *api_scheme(const struct api *a);
/* Stops listening and waits for the searches in progress (their clients are cut off). */
void api_stop(struct api *a);

#endif
