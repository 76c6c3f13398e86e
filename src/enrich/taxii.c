/*
 * taxii.c - TAXII 2.1 envelopes and paging (see taxii.h).
 */
#include "enrich/taxii.h"
#include "core/compat.h"

#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jsonin.h"
#include "core/timeutil.h"

/* ---- the envelope ---- */

static int read_more(struct jsonin *j, struct taxii_page *page, struct err *e)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return jsonin_error(j, e);
	if (v.type != JSONIN_TRUE && v.type != JSONIN_FALSE)
		return err_set(e, -EINVAL, "byte %zu: \"more\": expected true or false",
			       v.offset + 1);
	page->more = v.type == JSONIN_TRUE;
	return 0;
}

static int read_next(struct jsonin *j, struct taxii_page *page, struct err *e)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return jsonin_error(j, e);
	if (v.type != JSONIN_STRING || !v.len || v.len > TAXII_NEXT_MAX ||
	    memchr(v.s, '\0', v.len))
		return err_set(e, -EINVAL,
			       "byte %zu: \"next\": expected a cursor string of 1 to %d bytes",
			       v.offset + 1, TAXII_NEXT_MAX);
	memcpy(page->next, v.s, v.len);
	page->next[v.len] = '\0';
	return 0;
}

static int read_objects(struct stix_reader *r, struct jsonin *j, struct taxii_page *page,
			struct err *e)
{
	struct jsonin_value v;
	size_t before = r->stats.objects;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return jsonin_error(j, e);
	if (v.type != JSONIN_ARRAY)
		return err_set(e, -EINVAL, "byte %zu: \"objects\": expected an array",
			       v.offset + 1);
	rc = stix_reader_objects(r, j, e);
	page->objects += r->stats.objects - before;
	return rc;
}

static int read_envelope(struct stix_reader *r, struct jsonin *j, struct taxii_page *page,
			 struct err *e)
{
	struct jsonin_value v, k;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return jsonin_error(j, e);
	if (v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "not a TAXII envelope: expected a JSON object");
	while ((rc = jsonin_key(j, &k)) > 0) {
		if (jsonin_key_is(&k, "more"))
			rc = read_more(j, page, e);
		else if (jsonin_key_is(&k, "next"))
			rc = read_next(j, page, e);
		else if (jsonin_key_is(&k, "objects"))
			rc = read_objects(r, j, page, e);
		else if ((rc = jsonin_skip_value(j)) < 0)
			rc = jsonin_error(j, e);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return jsonin_error(j, e);
	return jsonin_finish(j, e);
}

int taxii_envelope_read(const char *p, size_t len, const struct ti_sink *sink,
			struct taxii_page *page, struct stix_stats *stats, struct err *e)
{
	struct stix_reader r;
	struct jsonin j;
	int rc;

	if (e) /* "is e filled yet" is asked below: start empty */
		err_clear(e);
	memset(page, 0, sizeof(*page));
	stix_reader_init(&r, sink);
	stix_jsonin_init(&j, p, len, &r);
	rc = read_envelope(&r, &j, page, e);
	if (stats)
		*stats = r.stats;
	stix_reader_release(&r);
	return rc;
}

/* ---- paging ---- */

/* A TAXII timestamp (RFC 3339 in UTC with Z) of at most TAXII_TIME_MAX bytes. */
static int taxii_time(const char *s, int64_t *ns, struct err *e)
{
	size_t len = strlen(s), bad;

	if (len == 0 || len > TAXII_TIME_MAX || s[len - 1] != 'Z' ||
	    time_parse_rfc3339(s, len, ns, &bad) < 0)
		return err_set(e, -EINVAL, "'%.*s': expected a TAXII timestamp "
			       "(YYYY-MM-DDTHH:MM:SS.ssssssZ)", len > 60 ? 60 : (int)len, s);
	return 0;
}

int taxii_paging_init(struct taxii_paging *pg, const char *watermark, struct err *e)
{
	int rc;

	memset(pg, 0, sizeof(*pg));
	if (!watermark || !*watermark)
		return 0;
	if ((rc = taxii_time(watermark, &pg->watermark_ns, e)) < 0)
		return rc;
	memcpy(pg->watermark, watermark, strlen(watermark) + 1);
	memcpy(pg->added_after, watermark, strlen(watermark) + 1);
	return 0;
}

/* Moves the watermark to the page's last date when that is later; *moved says whether. */
static int advance_watermark(struct taxii_paging *pg, const char *last, bool *moved,
			     struct err *e)
{
	int64_t ns;
	int rc;

	*moved = false;
	if (!last || !*last)
		return 0;
	if ((rc = taxii_time(last, &ns, e)) < 0)
		return rc;
	if (pg->watermark[0] && ns <= pg->watermark_ns)
		return 0;
	memcpy(pg->watermark, last, strlen(last) + 1);
	pg->watermark_ns = ns;
	*moved = true;
	return 0;
}

int taxii_paging_step(struct taxii_paging *pg, const struct taxii_page *page,
		      const char *date_added_last, enum taxii_step *step, struct err *e)
{
	bool moved;
	int rc;

	*step = TAXII_DONE;
	pg->pages++;
	if ((rc = advance_watermark(pg, date_added_last, &moved, e)) < 0)
		return rc;
	if (!page->more)
		return 0;
	if (page->next[0]) {
		/* an empty page may follow more: true; the same cursor again never moves on */
		if (!page->objects && !strcmp(page->next, pg->next)) {
			pg->stalled = true;
			return 0;
		}
		memcpy(pg->next, page->next, strlen(page->next) + 1);
	} else {
		/* added_after is strict: without a later date it would ask for the same page */
		if (!moved) {
			pg->stalled = true;
			return 0;
		}
		pg->next[0] = '\0';
		memcpy(pg->added_after, pg->watermark, strlen(pg->watermark) + 1);
	}
	*step = TAXII_FETCH;
	return 0;
}

/* Appends s percent-encoded (RFC 3986: everything but the unreserved characters). */
static int add_encoded(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			rc = buf_addch(out, (char)c);
		} else {
			char pct[3] = { '%', hex[c >> 4], hex[c & 15] };

			rc = buf_add(out, pct, sizeof(pct));
		}
	}
	return rc;
}

int taxii_paging_query(const struct taxii_paging *pg, unsigned limit, struct buf *out,
		       struct err *e)
{
	int rc;

	buf_reset(out);
	rc = buf_adds(out, "?match[type]=indicator");
	if (!rc && limit)
		rc = buf_addf(out, "&limit=%u", limit);
	if (!rc && pg->added_after[0]) {
		rc = buf_adds(out, "&added_after=");
		rc = err_first(rc, add_encoded(out, pg->added_after));
	}
	if (!rc && pg->next[0]) {
		rc = buf_adds(out, "&next=");
		rc = err_first(rc, add_encoded(out, pg->next));
	}
	if (rc < 0)
		return err_set(e, rc, "TAXII query: %s", rc == -ENOSPC ? "too long" : "out of memory");
	return 0;
}
