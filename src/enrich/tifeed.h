/*
 * tifeed.h - threat-intelligence feeds fetched by URL into koban.db's indicators.
 *
 * Each configured feed (config ti.feeds.NAME, core/config.h) is fetched over HTTPS (libcurl,
 * PKIX verified against the system's CAs or the feed's ca_file; a size cap and timeouts) and
 * stored as the indicators of source NAME in the feed's scope (global, or its tenant):
 *
 *   list, csv, stix  one document, the WHOLE set: a conditional GET (If-None-Match /
 *                    If-Modified-Since from the last good answer's ETag / Last-Modified;
 *                    304 = unchanged), the document read (enrich/tiread.h, stix.h), its
 *                    indicators stored and those of the source missing from it removed,
 *                    in one transaction. A document that yields no indicator is refused
 *                    (an error page served with 200 must not empty the set).
 *   taxii            a TAXII 2.1 collection (url = the collection's URL): the objects added
 *                    after the stored watermark, page by page (enrich/taxii.h), each page
 *                    stored with the new watermark in one transaction. Indicators end by
 *                    their valid_until.
 *   misp             a MISP feed directory: manifest.json (conditional GET), then each event
 *                    whose timestamp is newer than the one stored; events gone from the
 *                    manifest are withdrawn: their indicators removed (unless another event
 *                    of the feed still gives them).
 *
 * A failed fetch (transport, HTTP status, a document that cannot be read, the database)
 * keeps the last good set, is logged, counted (koban_ti_feed_fetches_total{result="failed"})
 * and kept in the feed's state (meta_ti_feed: last error, failures) for `koban ti feeds`; the
 * next attempt comes after a back-off (1, 2, 4 ... minutes, at most the refresh interval).
 * Indicators without a confidence get the feed's, else ti.default_confidence.
 *
 * Secrets (password_file, api_key_file) are read at each fetch from files of mode 0600 or
 * stricter, never logged nor printed.
 *
 * Memory: a struct tifeed holds copies of nothing: the feeds' config must outlive it.
 * Threads: tifeed_fetch() from one thread at a time (the caller's, or the koban-feeds
 * thread once tifeed_start() ran: then only that thread fetches); the metrics collectors
 * from the admin thread (atomic counters).
 */
#ifndef ENRICH_TIFEED_H
#define ENRICH_TIFEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct buf;
struct config_ti_feed;
struct err;
struct meta_indicator_put;
struct ti_csv_columns;
struct ti_indicator;
struct ti_sink;

#define TIFEED_BODY_MAX ((size_t)256 << 20)  /* bytes of one response */
#define TIFEED_TAXII_PAGES_MAX 1000u         /* pages of one TAXII fetch */
#define TIFEED_TAXII_PAGE_LIMIT 1000u        /* objects asked for per page */
#define TIFEED_MISP_EVENTS_MAX 100000u       /* events of a MISP manifest */
#define TIFEED_SECRET_MAX 4096               /* bytes of a secret file */

struct tifeed_config {
	const struct config_ti_feed *feeds;  /* the caller's; must outlive the tifeed */
	size_t n_feeds;
	const char *data_dir;                /* where koban.db is */
	int default_confidence;              /* ti.default_confidence */
	bool metrics;                        /* register the koban_ti_feed_* families */
};

/* What one fetch did. */
struct tifeed_result {
	bool unchanged;             /* 304, or nothing new (TAXII, MISP) */
	unsigned read;              /* indicators taken (added + updated) */
	unsigned added, updated, rejected;
	unsigned pages;             /* documents fetched (TAXII pages, MISP events, 1) */
	int64_t removed;            /* indicators removed (vanished, withdrawn) */
	int64_t indicators;         /* the feed's indicators afterwards */
};

struct tifeed;

/* Opens koban.db in c->data_dir; checks each feed's csv columns. */
int tifeed_new(struct tifeed **out, const struct tifeed_config *c, struct err *e);
/* The index of feed name, or -ENOENT. */
int tifeed_find(const struct tifeed *t, const char *name);
/* Fetches feed i now (disabled ones too). 0, or < 0 with e saying why (state saved). */
int tifeed_fetch(struct tifeed *t, size_t i, struct tifeed_result *r, struct err *e);
/* Starts the thread koban-feeds, fetching each enabled feed when it is due. */
int tifeed_start(struct tifeed *t, struct err *e);
/* Stops the thread (an ongoing transfer is aborted) and frees everything. NULL: no-op. */
void tifeed_free(struct tifeed *t);

/*
 * One indicator a reader gave, stored into the open import put (store/meta.h) the way every
 * import stores it (the feeds, `koban ti import`): the value in its canonical form
 * (ti_normalize, written into canon, TI_VALUE_BUF bytes), the tags as a JSON array built in
 * tags (the caller's buffer, reused across calls; its maximum bounds the tags), first and
 * last seen now_ns when unknown, the confidence default_confidence when unknown (-1 leaves it
 * unknown). Returns 1 stored (*added: a new row, else an update), 0 refused with the reason
 * in why (a value or tags out of shape, a row the store refuses), or a negative errno from
 * the database with why (the import stops). Threads: the import's.
 */
int tifeed_put(struct meta_indicator_put *put, const struct ti_indicator *ind, int64_t now_ns,
	       int default_confidence, struct buf *tags, char *canon, bool *added,
	       struct err *why);

/*
 * Reads one document in format f into sink: a plain list, CSV (cols, or NULL: a header or
 * column 1; enrich/tiread.h), a STIX 2.1 bundle or one MISP event (a feed's MISP directory
 * is read event by event). A TAXII collection is no document: -EINVAL. Threads: any.
 */
int tifeed_read_document(enum config_ti_format f, const char *text, size_t len,
			 const struct ti_csv_columns *cols, const struct ti_sink *sink,
			 struct err *e);

/* ---- pure parts (tests) ---- */

#define TIFEED_VALIDATOR_MAX 256
/* The response headers a fetch keeps. */
struct tifeed_headers {
	char etag[TIFEED_VALIDATOR_MAX];
	char last_modified[TIFEED_VALIDATOR_MAX];
	char date_added_last[TIFEED_VALIDATOR_MAX]; /* X-TAXII-Date-Added-Last */
};
/* Takes one header line (as libcurl gives it, CRLF included) into h when it is one of those;
 * a value too long for its field is ignored (never cut). */
void tifeed_header_take(struct tifeed_headers *h, const char *line, size_t len);
/* When the next attempt is due after one at now_ns: refresh seconds after a success, else
 * after 2^(failures-1) minutes, at most refresh. */
int64_t tifeed_next_due(int64_t now_ns, uint32_t refresh, int64_t failures);

#endif
