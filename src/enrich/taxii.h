/*
 * taxii.h - TAXII 2.1 collections: the envelope of a "get objects" answer, and the paging
 * over a collection as a pure function (the HTTP fetching is the caller's).
 *
 * A GET of {api-root}/collections/{id}/objects/ answers an envelope
 * {"more": bool, "next": "cursor", "objects": [STIX objects]}; taxii_envelope_read()
 * reads it, gives the objects to the STIX reader (enrich/stix.h: the indicators to the
 * sink, the rest counted) and fills a struct taxii_page with more/next. Absent "objects"
 * means none, absent "more" means false; members the envelope does not define are
 * skipped.
 *
 * Paging (TAXII 2.1 §3.4, §3.7): the client keeps a struct taxii_paging per collection.
 *
 *   taxii_paging_init(&pg, stored_watermark);           // "" the first time
 *   for (;;) {
 *           taxii_paging_query(&pg, limit, &query, &e);  // "?match[type]=indicator&..."
 *           GET .../objects/<query>; taxii_envelope_read(body, ..., &page, ...);
 *           store the indicators;
 *           taxii_paging_step(&pg, &page, header X-TAXII-Date-Added-Last, &step, &e);
 *           persist pg.watermark;                         // only now: the page is stored
 *           if (step == TAXII_DONE) break;
 *   }
 *
 * The watermark is the latest X-TAXII-Date-Added-Last of a stored page, kept as the
 * server wrote it and compared as a time (never as a string). more with a next cursor
 * continues with that cursor and the original filters; more without one continues with
 * added_after = the page's last date; a page that brings nothing new (no objects and no
 * later date, or the same cursor again) ends the paging with pg.stalled set, so a server
 * that keeps saying "more" cannot loop the client forever.
 *
 * Memory: no allocation outside the STIX reader's (released before return); the structs
 * hold fixed-size strings. Thread safety: one thread per reader / paging state.
 */
#ifndef ENRICH_TAXII_H
#define ENRICH_TAXII_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enrich/stix.h"

struct buf;
struct err;

#define TAXII_NEXT_MAX 1024 /* bytes of a next cursor */
#define TAXII_TIME_MAX 40   /* bytes of a TAXII timestamp */

struct taxii_page {
	bool more;
	char next[TAXII_NEXT_MAX + 1]; /* "" when the envelope has none */
	size_t objects;                /* elements of "objects" */
};

/*
 * Reads the envelope p[0..len) into sink (through the STIX reader; stats may be NULL)
 * and fills page. 0, -EINVAL (malformed JSON, not an envelope, a next cursor longer than
 * TAXII_NEXT_MAX) with e saying where, -ENOMEM, or the sink's code.
 */
int taxii_envelope_read(const char *p, size_t len, const struct ti_sink *sink,
			struct taxii_page *page, struct stix_stats *stats, struct err *e);

enum taxii_step {
	TAXII_DONE,  /* the collection is read up to the watermark */
	TAXII_FETCH, /* ask again with taxii_paging_query() */
};

struct taxii_paging {
	char next[TAXII_NEXT_MAX + 1];        /* the cursor to send, "" none */
	char added_after[TAXII_TIME_MAX + 1]; /* the added_after filter to send, "" none */
	char watermark[TAXII_TIME_MAX + 1];   /* the latest date of a stored page, "" none */
	int64_t watermark_ns;
	unsigned pages;                       /* steps taken */
	bool stalled;                         /* ended because a page brought nothing new */
};

/*
 * Starts paging after the stored watermark (a TAXII timestamp, or "" / NULL to read the
 * collection from its oldest object). 0, or -EINVAL when watermark is no timestamp.
 */
int taxii_paging_init(struct taxii_paging *pg, const char *watermark, struct err *e);
/*
 * After a page was stored: date_added_last is the page's X-TAXII-Date-Added-Last header
 * (NULL or "" when absent, as on an empty page). Sets *step. 0, or -EINVAL when the
 * header is no TAXII timestamp (the page's data is kept, the watermark not moved).
 */
int taxii_paging_step(struct taxii_paging *pg, const struct taxii_page *page,
		      const char *date_added_last, enum taxii_step *step, struct err *e);
/*
 * The query of the next request into out (emptied first):
 * "?match[type]=indicator&limit=N" plus "&added_after=T" and "&next=C" when set, values
 * percent-encoded. limit 0 leaves the server's default. 0, or -ENOSPC / -ENOMEM.
 */
int taxii_paging_query(const struct taxii_paging *pg, unsigned limit, struct buf *out,
		       struct err *e);

#endif
