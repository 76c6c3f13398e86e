/*
 * tifeed.c - threat-intelligence feeds: HTTPS fetches (libcurl) into koban.db's indicators,
 * by format (whole documents, TAXII collections, MISP feeds), and the koban-feeds thread.
 */
#define LOG_MODULE "tifeed" /* before tifeed.h, which pulls in core/log.h */
#include "enrich/tifeed.h"
#include "core/compat.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "enrich/misp.h"
#include "enrich/stix.h"
#include "enrich/taxii.h"
#include "enrich/ti.h"
#include "enrich/tiread.h"
#include "store/meta.h"

#define CONNECT_TIMEOUT_S 30L
#define TRANSFER_TIMEOUT_S 600L
#define URL_MAX 8192
#define REDIRECTS_MAX 5
#define BACKOFF_FIRST_S 60
#define TAXII_ACCEPT "application/taxii+json;version=2.1"

enum { FETCH_OK, FETCH_UNCHANGED, FETCH_FAILED, FETCH_RESULTS };
static const char *const result_names[FETCH_RESULTS] = { "ok", "unchanged", "failed" };

struct feed {
	const struct config_ti_feed *cfg;
	struct ti_csv_columns cols;
	atomic_uint_fast64_t fetches[FETCH_RESULTS];
	atomic_int_fast64_t indicators;      /* gauge: after the last success */
	atomic_int_fast64_t last_success_ns; /* gauge: 0 never */
	int64_t next_ns;                     /* the fetching thread's */
};

struct tifeed {
	struct feed *feeds;
	size_t n;
	int default_confidence;
	bool metrics;
	struct meta *m;
	CURL *curl;
	char curl_err[CURL_ERROR_SIZE];
	struct buf body;
	struct tifeed_headers hdr;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started;
	atomic_bool stopping;
};

/* ---------------------------------------------------------------- pure parts */

/* Copies a header's value (blanks around cut) into out when it fits. */
static void header_value(const char *v, size_t len, char *out, size_t size)
{
	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len && strchr(" \t\r\n", v[len - 1]))
		len--;
	if (len && len < size) {
		memcpy(out, v, len);
		out[len] = '\0';
	}
}

void tifeed_header_take(struct tifeed_headers *h, const char *line, size_t len)
{
	static const struct { const char *name; size_t off; } keep[] = {
		{ "etag:", offsetof(struct tifeed_headers, etag) },
		{ "last-modified:", offsetof(struct tifeed_headers, last_modified) },
		{ "x-taxii-date-added-last:", offsetof(struct tifeed_headers, date_added_last) },
	};

	if (len >= 5 && !memcmp(line, "HTTP/", 5)) { /* a new answer (after a redirect) */
		memset(h, 0, sizeof(*h));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		size_t n = strlen(keep[i].name);

		if (len > n && !strncasecmp(line, keep[i].name, n)) {
			header_value(line + n, len - n, (char *)h + keep[i].off,
				     TIFEED_VALIDATOR_MAX);
			return;
		}
	}
}

int64_t tifeed_next_due(int64_t now_ns, uint32_t refresh, int64_t failures)
{
	int64_t wait_s = refresh;

	if (failures > 0) {
		int shift = failures > 20 ? 20 : (int)failures - 1;

		wait_s = MIN((int64_t)BACKOFF_FIRST_S << shift, (int64_t)refresh);
	}
	return now_ns + wait_s * NS_PER_SEC;
}

/* ---------------------------------------------------------------- feed state */

/* A feed's row of koban.db, held by value while a fetch runs. */
struct state {
	bool same_url;                       /* the stored state is of the feed's URL */
	char etag[TIFEED_VALIDATOR_MAX];
	char last_modified[TIFEED_VALIDATOR_MAX];
	char watermark[TIFEED_VALIDATOR_MAX];
	char error[META_TI_FEED_TEXT_MAX + 1];
	int64_t last_attempt_ns, last_success_ns, last_error_ns, failures, indicators, next_ns;
};

struct state_ctx {
	struct state *st;
	const char *url;
};

static void state_row(void *ctx, const struct meta_ti_feed *f)
{
	struct state_ctx *l = ctx;
	struct state *st = l->st;

	snprintf(st->etag, sizeof(st->etag), "%s", f->etag ? f->etag : "");
	snprintf(st->last_modified, sizeof(st->last_modified), "%s",
		 f->last_modified ? f->last_modified : "");
	snprintf(st->watermark, sizeof(st->watermark), "%s", f->watermark ? f->watermark : "");
	snprintf(st->error, sizeof(st->error), "%s", f->last_error ? f->last_error : "");
	st->last_attempt_ns = f->last_attempt_ns;
	st->last_success_ns = f->last_success_ns;
	st->last_error_ns = f->last_error_ns;
	st->failures = f->failures;
	st->indicators = f->indicators;
	st->next_ns = f->next_ns;
	st->same_url = f->url && !strcmp(f->url, l->url);
	if (!st->same_url) /* another URL: its validators and watermark mean nothing here */
		st->etag[0] = st->last_modified[0] = st->watermark[0] = '\0';
}

/*
 * The stored state of feed, all zero when it was never fetched; the validators and the
 * watermark only when they are of the feed's URL.
 */
static int state_load(struct tifeed *t, const struct feed *f, struct state *st, struct err *e)
{
	struct state_ctx l = { st, f->cfg->url };
	int rc;

	memset(st, 0, sizeof(*st));
	rc = meta_ti_feed_get(t->m, f->cfg->name, state_row, &l, e);
	if (rc == -ENOENT) {
		err_clear(e);
		return 0;
	}
	return rc;
}

static const char *or_null(const char *s)
{
	return s[0] ? s : NULL;
}

static int state_save(struct tifeed *t, const struct feed *f, const struct state *st,
		      struct err *e)
{
	struct meta_ti_feed row = {
		.name = f->cfg->name, .url = f->cfg->url, .etag = or_null(st->etag),
		.last_modified = or_null(st->last_modified), .watermark = or_null(st->watermark),
		.last_attempt_ns = st->last_attempt_ns, .last_success_ns = st->last_success_ns,
		.last_error_ns = st->last_error_ns, .last_error = or_null(st->error),
		.failures = st->failures, .indicators = st->indicators, .next_ns = st->next_ns,
	};

	return meta_ti_feed_save(t->m, &row, e);
}

/* Marks st as a success at now_ns with n indicators. */
static void state_success(struct state *st, const struct feed *f, int64_t now_ns, int64_t n)
{
	st->last_success_ns = now_ns;
	st->error[0] = '\0';
	st->failures = 0;
	st->indicators = n;
	st->next_ns = tifeed_next_due(now_ns, f->cfg->refresh, 0);
}

/* ---------------------------------------------------------------- HTTPS */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	return buf_add(b, data, size * n) < 0 ? 0 : size * n; /* 0: curl fails the transfer */
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	tifeed_header_take(ctx, data, size * n);
	return size * n;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct tifeed *t = ctx;

	return atomic_load(&t->stopping) ? 1 : 0; /* non-zero aborts the transfer */
}

/* A secret file: regular, of mode 0600 or stricter, trailing CR/LF cut, into out[size]. */
static int secret_read(const char *feed, const char *key, const char *path, char *out,
		       size_t size, struct err *e)
{
	char what[256];

	snprintf(what, sizeof(what), "feed %s: %s", feed, key);
	return fileio_read_secret(path, what, out, size, e);
}

static int header_add(struct curl_slist **h, struct buf *line, const char *name,
		      const char *value)
{
	struct curl_slist *next;

	buf_reset(line);
	if (buf_addf(line, "%s: %s", name, value) < 0 || !(next = curl_slist_append(*h, line->p)))
		return -ENOMEM;
	*h = next;
	return 0;
}

/* Frees the request headers, wiping them first (one may hold MISP's key). */
static void headers_free(struct curl_slist *h)
{
	for (struct curl_slist *i = h; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

/* The request headers: Accept, the validators of cond (NULL: none), MISP's key. */
static int request_headers(const struct feed *f, const char *accept, const struct state *cond,
			   struct curl_slist **h, struct err *e)
{
	char key[TIFEED_SECRET_MAX];
	struct buf line = BUF_INIT(TIFEED_SECRET_MAX + 64);
	int rc = header_add(h, &line, "Accept", accept);

	if (rc == 0 && cond && cond->etag[0])
		rc = header_add(h, &line, "If-None-Match", cond->etag);
	if (rc == 0 && cond && cond->last_modified[0])
		rc = header_add(h, &line, "If-Modified-Since", cond->last_modified);
	if (rc < 0) {
		rc = err_set(e, -ENOMEM, "out of memory");
	} else if (f->cfg->api_key_file &&
		   (rc = secret_read(f->cfg->name, "api_key_file", f->cfg->api_key_file, key,
				     sizeof(key), e)) == 0 &&
		   header_add(h, &line, "Authorization", key) < 0) {
		rc = err_set(e, -ENOMEM, "out of memory");
	}
	explicit_bzero(key, sizeof(key));
	if (line.len)
		explicit_bzero(line.p, line.len);
	buf_release(&line);
	return rc;
}

/* The length of url shown in messages: up to its query, which may hold a key. */
static int shown_len(const char *url)
{
	return (int)strcspn(url, "?");
}

/*
 * One GET of url into t->body and t->hdr; cond's validators make it conditional. *status is
 * the HTTP status; < 0 when no answer came (e says why).
 */
static int http_get(struct tifeed *t, const struct feed *f, const char *url, const char *accept,
		    const struct state *cond, long *status, struct err *e)
{
	const struct config_ti_feed *c = f->cfg;
	struct curl_slist *h = NULL;
	char password[TIFEED_SECRET_MAX] = "";
	CURLcode cc;
	int rc;

	*status = 0;
	buf_reset(&t->body);
	memset(&t->hdr, 0, sizeof(t->hdr));
	if ((rc = request_headers(f, accept, cond, &h, e)) < 0 ||
	    (c->password_file && (rc = secret_read(c->name, "password_file", c->password_file,
						    password, sizeof(password), e)) < 0))
		goto fail;
	curl_easy_reset(t->curl);
	curl_easy_setopt(t->curl, CURLOPT_URL, url);
	curl_easy_setopt(t->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(t->curl, CURLOPT_FOLLOWLOCATION, 1L); /* feeds move; https only, and */
	curl_easy_setopt(t->curl, CURLOPT_MAXREDIRS, (long)REDIRECTS_MAX); /* credentials stay */
	curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, t->curl_err);
	curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(t->curl, CURLOPT_TIMEOUT, TRANSFER_TIMEOUT_S);
	curl_easy_setopt(t->curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(t->curl, CURLOPT_USERAGENT, "koban-tifeed/1");
	curl_easy_setopt(t->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TIFEED_BODY_MAX);
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &t->body);
	curl_easy_setopt(t->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t->curl, CURLOPT_HEADERDATA, &t->hdr);
	curl_easy_setopt(t->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(t->curl, CURLOPT_XFERINFODATA, t);
	curl_easy_setopt(t->curl, CURLOPT_NOPROGRESS, 0L);
	if (c->ca_file)
		curl_easy_setopt(t->curl, CURLOPT_CAINFO, c->ca_file);
	if (c->username) {
		curl_easy_setopt(t->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(t->curl, CURLOPT_USERNAME, c->username);
		curl_easy_setopt(t->curl, CURLOPT_PASSWORD, password);
	}
	t->curl_err[0] = '\0';
	cc = curl_easy_perform(t->curl);
	if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED)
		rc = err_set(e, -EFBIG, "%.*s: the answer is larger than %zu bytes",
			     shown_len(url), url, TIFEED_BODY_MAX);
	else if (cc == CURLE_ABORTED_BY_CALLBACK)
		rc = err_set(e, -ECANCELED, "%.*s: stopped", shown_len(url), url);
	else if (cc != CURLE_OK)
		rc = err_set(e, -EIO, "%.*s: %s", shown_len(url), url,
			     t->curl_err[0] ? t->curl_err : curl_easy_strerror(cc));
	else
		curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, status);
fail:
	curl_easy_setopt(t->curl, CURLOPT_PASSWORD, "");
	explicit_bzero(password, sizeof(password));
	headers_free(h);
	return rc;
}

/* A GET whose answer must be 200 (or 304 when allowed: *unchanged). */
static int get_ok(struct tifeed *t, const struct feed *f, const char *url, const char *accept,
		  const struct state *cond, bool *unchanged, struct err *e)
{
	long status;
	int rc = http_get(t, f, url, accept, cond, &status, e);

	if (unchanged)
		*unchanged = rc == 0 && status == 304 && cond;
	if (rc < 0 || status == 200 || (unchanged && *unchanged))
		return rc;
	return err_set(e, -EIO, "%.*s: HTTP status %ld", shown_len(url), url, status);
}

/* Puts "where: " before e's message (copied first: err_set must not read what it writes). */
static int err_where(struct err *e, int code, const char *where)
{
	char msg[sizeof(e->msg)];

	snprintf(msg, sizeof(msg), "%s", e->msg);
	return err_set(e, code, "%s: %s", where, msg);
}

/* base + "/" + suffix (one slash between them). */
static int url_join(struct buf *out, const char *base, const char *suffix, struct err *e)
{
	size_t n = strlen(base);

	buf_reset(out);
	if (buf_adds(out, base) < 0 || (n && base[n - 1] != '/' && buf_addch(out, '/') < 0) ||
	    buf_adds(out, suffix) < 0)
		return err_set(e, -ENOSPC, "%s: URL longer than %d bytes", base, URL_MAX);
	return 0;
}

/* ---------------------------------------------------------------- storing indicators */

/* One transaction of indicators of a feed, and the values it keeps for pruning. */
struct feed_put {
	const struct tifeed *t;
	const struct feed *f;
	struct meta_indicator_put *put;
	struct meta_ti_feed_keep *keep;
	struct buf tags;
	int64_t now_ns;
	struct tifeed_result *r;
	struct err *e;
};

static int tags_json(struct buf *b, const struct ti_indicator *ind)
{
	int rc;

	buf_reset(b);
	rc = buf_addch(b, '[');
	for (size_t i = 0; i < ind->n_tags; i++) {
		if (i)
			rc = err_first(rc, buf_addch(b, ','));
		rc = err_first(rc, json_add_string(b, ind->tags[i], strlen(ind->tags[i])));
	}
	return err_first(rc, buf_addch(b, ']'));
}

static void store_reject(void *ctx, unsigned line, const char *reason)
{
	struct feed_put *s = ctx;

	s->r->rejected++;
	log_debug("feed %s: item %u rejected: %s", s->f->cfg->name, line, reason);
}

int tifeed_put(struct meta_indicator_put *put, const struct ti_indicator *ind, int64_t now_ns,
	       int default_confidence, struct buf *tags, char *canon, bool *added,
	       struct err *why)
{
	struct meta_indicator row = {
		.type = ti_type_name(ind->type), .value = canon,
		.confidence = ind->confidence >= 0 ? ind->confidence : default_confidence,
		.first_seen_ns = ind->first_seen_ns ? ind->first_seen_ns : now_ns,
		.last_seen_ns = ind->last_seen_ns ? ind->last_seen_ns : now_ns,
		.expires_ns = ind->expires_ns, .description = ind->description, .ref = ind->ref,
	};
	size_t len;
	int rc;

	if (ti_normalize(ind->type, ind->value, ind->len, canon, &len, why) < 0)
		return 0;
	if (tags_json(tags, ind) < 0) {
		err_set(why, -E2BIG, "tags over 64 KiB");
		return 0;
	}
	row.tags = tags->p;
	if ((rc = meta_indicator_put(put, &row, added, why)) == -EINVAL)
		return 0;
	return rc < 0 ? rc : 1;
}

static int store_add(void *ctx, const struct ti_indicator *ind)
{
	struct feed_put *s = ctx;
	const struct config_ti_feed *c = s->f->cfg;
	char canon[TI_VALUE_BUF];
	struct err why = ERR_INIT;
	bool added;
	int rc;

	rc = tifeed_put(s->put, ind, s->now_ns,
			c->confidence >= 0 ? c->confidence : s->t->default_confidence, &s->tags,
			canon, &added, &why);
	if (rc == 0) {
		store_reject(s, 0, why.msg);
		return 0;
	}
	if (rc < 0 || (s->keep && (rc = meta_ti_feed_keep(s->keep, ti_type_name(ind->type),
							   canon, &why)) < 0))
		return err_set(s->e, rc, "%s", why.msg);
	s->r->read++;
	if (added)
		s->r->added++;
	else
		s->r->updated++;
	return 0;
}

/* Opens the transaction; keep: "" a whole document's values, an event's uuid, NULL none. */
static int store_begin(struct feed_put *s, struct tifeed *t, const struct feed *f,
		       const char *keep, struct tifeed_result *r, struct err *e)
{
	int rc;

	*s = (struct feed_put){ .t = t, .f = f, .tags = BUF_INIT(META_TI_TAGS_MAX),
			     .now_ns = time_now_ns(), .r = r, .e = e };
	if ((rc = meta_indicator_put_begin(t->m, f->cfg->name, f->cfg->tenant, &s->put, e)) < 0)
		return rc;
	if (keep && (rc = meta_ti_feed_keep_begin(t->m, f->cfg->name, keep[0] ? keep : NULL,
						  &s->keep, e)) < 0) {
		meta_indicator_put_end(s->put, false, NULL);
		s->put = NULL;
	}
	return rc;
}

static int store_end(struct feed_put *s, int rc, struct err *e)
{
	struct err why = ERR_INIT;
	int end;

	meta_ti_feed_keep_end(s->keep);
	buf_release(&s->tags);
	end = meta_indicator_put_end(s->put, rc == 0, &why);
	if (rc == 0 && end < 0)
		rc = err_set(e, end, "%s", why.msg);
	return rc;
}

/* ---------------------------------------------------------------- formats */

int tifeed_read_document(enum config_ti_format f, const char *text, size_t len,
			 const struct ti_csv_columns *cols, const struct ti_sink *sink,
			 struct err *e)
{
	switch (f) {
	case TI_FEED_LIST:
		return ti_read_list(text, len, sink, e);
	case TI_FEED_CSV:
		return ti_read_csv(text, len, cols, sink, e);
	case TI_FEED_STIX:
		return stix_bundle_read(text, len, sink, NULL, e);
	case TI_FEED_MISP:
		return misp_event_read(text, len, NULL, sink, NULL, e);
	default:
		return err_set(e, -EINVAL, "format %s is no single document",
			       config_ti_format_name(f));
	}
}

/* list, csv, stix: the whole set in one document. */
static int fetch_whole(struct tifeed *t, const struct feed *f, struct state *st,
		       struct tifeed_result *r, struct err *e)
{
	const char *accept = f->cfg->format == TI_FEED_STIX ? "application/stix+json, "
			     "application/json;q=0.9, */*;q=0.5" : "text/plain, text/csv, */*;q=0.5";
	struct ti_sink sink;
	struct feed_put s;
	int64_t n = 0;
	int rc;

	if ((rc = get_ok(t, f, f->cfg->url, accept, st, &r->unchanged, e)) < 0 || r->unchanged)
		return rc;
	r->pages = 1;
	if ((rc = store_begin(&s, t, f, "", r, e)) < 0)
		return rc;
	sink = (struct ti_sink){ store_add, store_reject, &s };
	rc = tifeed_read_document(f->cfg->format, t->body.p, t->body.len,
				  f->cfg->columns ? &f->cols : NULL, &sink, e);
	if (rc == 0 && r->read == 0)
		rc = err_set(e, -EINVAL, "%.*s: no indicator in the document (%u rejected): the "
			     "last set is kept", shown_len(f->cfg->url), f->cfg->url, r->rejected);
	if (rc == 0)
		rc = meta_ti_feed_prune(t->m, f->cfg->name, f->cfg->tenant, true, &r->removed, e);
	if (rc == 0)
		rc = meta_ti_feed_count(t->m, f->cfg->name, f->cfg->tenant, &n, e);
	if (rc == 0) {
		snprintf(st->etag, sizeof(st->etag), "%s", t->hdr.etag);
		snprintf(st->last_modified, sizeof(st->last_modified), "%s",
			 t->hdr.last_modified);
		state_success(st, f, st->last_attempt_ns, n);
		r->indicators = n;
		rc = state_save(t, f, st, e);
	}
	return store_end(&s, rc, e);
}

/* One page of a TAXII collection; *step says whether another follows. */
static int taxii_page(struct tifeed *t, const struct feed *f, struct state *st,
		      struct taxii_paging *pg, struct buf *url, struct tifeed_result *r,
		      enum taxii_step *step, struct err *e)
{
	struct buf query = BUF_INIT(URL_MAX);
	struct taxii_page page;
	struct ti_sink sink;
	struct feed_put s;
	int64_t n = 0;
	int rc;

	if ((rc = taxii_paging_query(pg, TIFEED_TAXII_PAGE_LIMIT, &query, e)) == 0 &&
	    (rc = url_join(url, f->cfg->url, "objects/", e)) == 0 &&
	    buf_adds(url, query.p) < 0)
		rc = err_set(e, -ENOSPC, "%s: URL longer than %d bytes", f->cfg->url, URL_MAX);
	buf_release(&query);
	if (rc < 0 || (rc = get_ok(t, f, url->p, TAXII_ACCEPT, NULL, NULL, e)) < 0 ||
	    (rc = store_begin(&s, t, f, NULL, r, e)) < 0)
		return rc;
	r->pages++;
	sink = (struct ti_sink){ store_add, store_reject, &s };
	rc = taxii_envelope_read(t->body.p, t->body.len, &sink, &page, NULL, e);
	if (rc == 0)
		rc = taxii_paging_step(pg, &page, t->hdr.date_added_last, step, e);
	if (rc == 0)
		rc = meta_ti_feed_count(t->m, f->cfg->name, f->cfg->tenant, &n, e);
	if (rc == 0) {
		snprintf(st->watermark, sizeof(st->watermark), "%s", pg->watermark);
		state_success(st, f, st->last_attempt_ns, n);
		r->indicators = n;
		rc = state_save(t, f, st, e);
	}
	return store_end(&s, rc, e);
}

/* taxii: the objects added after the watermark, page by page. */
static int fetch_taxii(struct tifeed *t, const struct feed *f, struct state *st,
		       struct tifeed_result *r, struct err *e)
{
	struct buf url = BUF_INIT(URL_MAX);
	struct taxii_paging pg;
	enum taxii_step step = TAXII_FETCH;
	int rc = taxii_paging_init(&pg, st->watermark, e);

	while (rc == 0 && step == TAXII_FETCH) {
		if (r->pages >= TIFEED_TAXII_PAGES_MAX) {
			log_warn("feed %s: %u pages fetched, the rest waits for the next refresh",
				 f->cfg->name, r->pages);
			break;
		}
		rc = taxii_page(t, f, st, &pg, &url, r, &step, e);
	}
	if (rc == 0 && pg.stalled)
		log_warn("feed %s: the server said more but the page brought nothing new",
			 f->cfg->name);
	buf_release(&url);
	r->unchanged = rc == 0 && r->read == 0 && r->rejected == 0;
	return rc;
}

/* A MISP event by uuid and timestamp (the manifest's, or the one stored). */
struct misp_ref {
	char uuid[37];
	int64_t timestamp;
};

struct misp_refs {
	struct misp_ref *v;
	size_t n, cap;
};

static int refs_add(struct misp_refs *a, const char *uuid, int64_t timestamp)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct misp_ref *v;

		if (a->n >= TIFEED_MISP_EVENTS_MAX)
			return -E2BIG;
		if (!(v = mem_realloc(a->v, cap * sizeof(*v))))
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	snprintf(a->v[a->n].uuid, sizeof(a->v[0].uuid), "%s", uuid);
	a->v[a->n++].timestamp = timestamp;
	return 0;
}

static int manifest_each(void *ctx, const struct misp_manifest_entry *m)
{
	return refs_add(ctx, m->uuid, m->timestamp);
}

struct stored {
	struct misp_refs refs;
	int rc;
};

static void stored_each(void *ctx, const char *event, int64_t timestamp)
{
	struct stored *s = ctx;

	if (s->rc == 0)
		s->rc = refs_add(&s->refs, event, timestamp);
}

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct misp_ref *)a)->uuid, ((const struct misp_ref *)b)->uuid);
}

static const struct misp_ref *refs_find(const struct misp_refs *a, const char *uuid)
{
	struct misp_ref key;

	snprintf(key.uuid, sizeof(key.uuid), "%s", uuid);
	return a->n ? bsearch(&key, a->v, a->n, sizeof(key), ref_cmp) : NULL;
}

/* One MISP event fetched and stored with its values (replacing its earlier ones). */
static int misp_event(struct tifeed *t, const struct feed *f, const struct misp_ref *ev,
		      struct buf *url, struct tifeed_result *r, struct err *e)
{
	struct misp_options opt = { .include_non_ids = !f->cfg->to_ids_only };
	char name[48];
	struct ti_sink sink;
	struct feed_put s;
	int rc;

	snprintf(name, sizeof(name), "%s.json", ev->uuid);
	if ((rc = url_join(url, f->cfg->url, name, e)) < 0 ||
	    (rc = get_ok(t, f, url->p, "application/json", NULL, NULL, e)) < 0 ||
	    (rc = store_begin(&s, t, f, ev->uuid, r, e)) < 0)
		return rc;
	r->pages++;
	sink = (struct ti_sink){ store_add, store_reject, &s };
	rc = misp_event_read(t->body.p, t->body.len, &opt, &sink, NULL, e);
	if (rc < 0)
		err_where(e, rc, url->p);
	if (rc == 0)
		rc = meta_ti_feed_event_put(t->m, f->cfg->name, ev->uuid, ev->timestamp, e);
	return store_end(&s, rc, e);
}

/*
 * After the events: the withdrawn ones forgotten, the indicators pruned, the state saved, in
 * an import's transaction (put_begin .. put_end: whatever marks the indicators changed
 * there sees this change too).
 */
static int misp_finish(struct tifeed *t, const struct feed *f, struct state *st,
		       const struct misp_refs *manifest, const struct misp_refs *stored,
		       const struct tifeed_headers *validators, struct tifeed_result *r,
		       struct err *e)
{
	struct feed_put s;
	int64_t n = 0;
	int rc = store_begin(&s, t, f, NULL, r, e);

	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < stored->n; i++)
		if (!refs_find(manifest, stored->v[i].uuid))
			rc = meta_ti_feed_event_remove(t->m, f->cfg->name, stored->v[i].uuid, e);
	if (rc == 0)
		rc = meta_ti_feed_prune(t->m, f->cfg->name, f->cfg->tenant, false, &r->removed, e);
	if (rc == 0)
		rc = meta_ti_feed_count(t->m, f->cfg->name, f->cfg->tenant, &n, e);
	if (rc == 0) {
		snprintf(st->etag, sizeof(st->etag), "%s", validators->etag);
		snprintf(st->last_modified, sizeof(st->last_modified), "%s",
			 validators->last_modified);
		state_success(st, f, st->last_attempt_ns, n);
		r->indicators = n;
		rc = state_save(t, f, st, e);
	}
	return store_end(&s, rc, e);
}

/* misp: the manifest, the events newer than stored, the withdrawn ones removed. */
static int fetch_misp(struct tifeed *t, const struct feed *f, struct state *st,
		      struct tifeed_result *r, struct err *e)
{
	struct misp_refs manifest = { 0 };
	struct stored stored = { { 0 }, 0 };
	struct tifeed_headers validators;
	struct buf url = BUF_INIT(URL_MAX);
	int rc = url_join(&url, f->cfg->url, "manifest.json", e);

	if (rc < 0 || (rc = get_ok(t, f, url.p, "application/json", st, &r->unchanged, e)) < 0 ||
	    r->unchanged)
		goto done;
	validators = t->hdr;
	rc = misp_manifest_read(t->body.p, t->body.len, manifest_each, &manifest, e);
	if (rc == -E2BIG)
		rc = err_set(e, rc, "%s: more than %u events", url.p, TIFEED_MISP_EVENTS_MAX);
	else if (rc < 0)
		err_where(e, rc, url.p);
	if (rc < 0 || (rc = meta_ti_feed_events(t->m, f->cfg->name, stored_each, &stored, e)) < 0)
		goto done;
	if ((rc = stored.rc) < 0) {
		err_set(e, rc, "feed %s: more than %u events stored", f->cfg->name,
			TIFEED_MISP_EVENTS_MAX);
		goto done;
	}
	qsort(manifest.v, manifest.n, sizeof(*manifest.v), ref_cmp);
	for (size_t i = 0; rc == 0 && i < manifest.n; i++) {
		const struct misp_ref *old = refs_find(&stored.refs, manifest.v[i].uuid);

		if (!old || old->timestamp < manifest.v[i].timestamp)
			rc = misp_event(t, f, &manifest.v[i], &url, r, e);
	}
	if (rc == 0)
		rc = misp_finish(t, f, st, &manifest, &stored.refs, &validators, r, e);
	r->unchanged = rc == 0 && r->pages == 0 && r->removed == 0;
done:
	mem_free(manifest.v);
	mem_free(stored.refs.v);
	buf_release(&url);
	return rc;
}

/* ---------------------------------------------------------------- one fetch */

static int fetch_format(struct tifeed *t, const struct feed *f, struct state *st,
			struct tifeed_result *r, struct err *e)
{
	switch (f->cfg->format) {
	case TI_FEED_TAXII:
		return fetch_taxii(t, f, st, r, e);
	case TI_FEED_MISP:
		return fetch_misp(t, f, st, r, e);
	default:
		return fetch_whole(t, f, st, r, e);
	}
}

int tifeed_fetch(struct tifeed *t, size_t i, struct tifeed_result *r, struct err *e)
{
	struct feed *f = &t->feeds[i];
	struct state st, before;
	struct err why = ERR_INIT;
	int64_t now = time_now_ns();
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = state_load(t, f, &st, e)) < 0) {
		log_warn("feed %s: its state cannot be read: %s", f->cfg->name, e->msg);
		atomic_fetch_add(&f->fetches[FETCH_FAILED], 1);
		f->next_ns = tifeed_next_due(now, f->cfg->refresh, 1);
		return rc;
	}
	st.last_attempt_ns = now;
	before = st;
	rc = fetch_format(t, f, &st, r, e);
	if (rc == -ECANCELED && atomic_load(&t->stopping))
		return rc; /* shutting down: no failure of the feed's */
	if (rc == 0 && r->unchanged && f->cfg->format != TI_FEED_TAXII &&
	    !r->pages) { /* 304: nothing stored, the state says so */
		state_success(&st, f, now, st.indicators);
		r->indicators = st.indicators;
		rc = state_save(t, f, &st, e);
	}
	if (rc < 0) {
		st = before;
		snprintf(st.error, sizeof(st.error), "%s", e->msg);
		st.last_error_ns = now;
		st.failures++;
		st.next_ns = tifeed_next_due(now, f->cfg->refresh, st.failures);
		if (state_save(t, f, &st, &why) < 0)
			log_error("feed %s: its state not saved: %s", f->cfg->name, why.msg);
		log_warn("feed %s: fetch failed (the last good set is kept): %s", f->cfg->name,
			 e->msg);
		atomic_fetch_add(&f->fetches[FETCH_FAILED], 1);
	} else {
		atomic_fetch_add(&f->fetches[r->unchanged ? FETCH_UNCHANGED : FETCH_OK], 1);
		atomic_store(&f->indicators, st.indicators);
		atomic_store(&f->last_success_ns, st.last_success_ns);
		log_info("feed %s: %s, %u taken (%u new), %lld removed, %u rejected; %lld "
			 "indicators", f->cfg->name, r->unchanged ? "unchanged" : "fetched",
			 r->read, r->added, (long long)r->removed, r->rejected,
			 (long long)st.indicators);
	}
	f->next_ns = st.next_ns;
	return rc;
}

/* ---------------------------------------------------------------- the thread */

static void *feeds_main(void *arg)
{
	struct tifeed *t = arg;

	while (!atomic_load(&t->stopping)) {
		int64_t now = time_now_ns(), soonest = now + 3600 * NS_PER_SEC;
		struct timespec until;

		for (size_t i = 0; i < t->n && !atomic_load(&t->stopping); i++) {
			struct feed *f = &t->feeds[i];
			struct tifeed_result r;
			struct err e = ERR_INIT;

			if (!f->cfg->enabled)
				continue;
			if (f->next_ns <= now)
				(void)tifeed_fetch(t, i, &r, &e); /* counted, logged, saved */
			soonest = MIN(soonest, f->next_ns);
		}
		pthread_mutex_lock(&t->lock);
		until.tv_sec = (time_t)(soonest / NS_PER_SEC);
		until.tv_nsec = (long)(soonest % NS_PER_SEC);
		if (!atomic_load(&t->stopping) && soonest > time_now_ns())
			pthread_cond_timedwait(&t->cond, &t->lock, &until);
		pthread_mutex_unlock(&t->lock);
	}
	return NULL;
}

int tifeed_start(struct tifeed *t, struct err *e)
{
	int rc;

	if (!t->n)
		return 0;
	if ((rc = pthread_create(&t->thread, NULL, feeds_main, t)) != 0)
		return err_set(e, -rc, "the feeds' thread: %s", strerror(rc));
	pthread_setname_np(t->thread, "koban-feeds");
	t->started = true;
	return 0;
}

/* ---------------------------------------------------------------- metrics */

static int collect_fetches(struct metrics_out *o, void *ctx)
{
	struct tifeed *t = ctx;
	int rc = 0;

	for (size_t i = 0; i < t->n && !rc; i++)
		for (size_t k = 0; k < FETCH_RESULTS && !rc; k++)
			rc = metrics_sample(o, atomic_load(&t->feeds[i].fetches[k]), "feed",
					    t->feeds[i].cfg->name, "result", result_names[k], NULL);
	return rc;
}

static int collect_indicators(struct metrics_out *o, void *ctx)
{
	struct tifeed *t = ctx;
	int rc = 0;

	for (size_t i = 0; i < t->n && !rc; i++)
		rc = metrics_sample(o, (uint64_t)atomic_load(&t->feeds[i].indicators), "feed",
				    t->feeds[i].cfg->name, NULL);
	return rc;
}

static int collect_last_success(struct metrics_out *o, void *ctx)
{
	struct tifeed *t = ctx;
	int rc = 0;

	for (size_t i = 0; i < t->n && !rc; i++)
		rc = metrics_sample_double(o, (double)atomic_load(&t->feeds[i].last_success_ns) /
					   1e9, "feed", t->feeds[i].cfg->name, NULL);
	return rc;
}

static int metrics_start(struct tifeed *t, struct err *e)
{
	static const struct metrics_family fam[] = {
		{ "koban_ti_feed_fetches_total", METRICS_COUNTER,
		  "Fetches of a threat-intelligence feed, by result (ok, unchanged, failed).",
		  collect_fetches },
		{ "koban_ti_feed_indicators", METRICS_GAUGE,
		  "Indicators of the feed after its last successful fetch.", collect_indicators },
		{ "koban_ti_feed_last_success_seconds", METRICS_GAUGE,
		  "When the feed was last fetched successfully (Unix seconds; 0: never).",
		  collect_last_success },
	};
	const char *failed = NULL;
	int rc;

	if (!t->metrics || !t->n)
		return 0;
	if ((rc = metrics_register_families(fam, ARRAY_SIZE(fam), t, &failed)) < 0)
		return err_set(e, rc, "metric %s: %s", failed ? failed : "?", strerror(-rc));
	return 0;
}

/* ---------------------------------------------------------------- life cycle */

int tifeed_find(const struct tifeed *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->feeds[i].cfg->name, name))
			return (int)i;
	return -ENOENT;
}

/* A feed's columns, and its gauges and due time from its stored state. */
static int feed_init(struct tifeed *t, struct feed *f, const struct config_ti_feed *c,
		     struct err *e)
{
	struct state st;
	int rc;

	f->cfg = c;
	if (c->columns && (rc = ti_csv_columns_parse(c->columns, &f->cols, e)) < 0) {
		char where[96];

		snprintf(where, sizeof(where), "ti.feeds.%s.columns", c->name);
		return err_where(e, rc, where);
	}
	if ((rc = state_load(t, f, &st, e)) < 0)
		return rc;
	atomic_store(&f->indicators, st.indicators);
	atomic_store(&f->last_success_ns, st.last_success_ns);
	f->next_ns = st.next_ns;
	return 0;
}

int tifeed_new(struct tifeed **out, const struct tifeed_config *c, struct err *e)
{
	struct tifeed *t;
	int rc;

	*out = NULL;
	if (!(t = mem_calloc(1, sizeof(*t))))
		return err_set(e, -ENOMEM, "out of memory");
	t->n = c->n_feeds;
	t->default_confidence = c->default_confidence;
	t->metrics = c->metrics;
	buf_init(&t->body, TIFEED_BODY_MAX);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		mem_free(t);
		return err_set(e, -EIO, "libcurl cannot start");
	}
	if (t->n && !(t->feeds = mem_calloc(t->n, sizeof(*t->feeds)))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if (!(t->curl = curl_easy_init())) {
		rc = err_set(e, -ENOMEM, "libcurl: no handle");
		goto fail;
	}
	if ((rc = meta_open(&t->m, c->data_dir, e)) < 0)
		goto fail;
	for (size_t i = 0; i < t->n; i++)
		if ((rc = feed_init(t, &t->feeds[i], &c->feeds[i], e)) < 0)
			goto fail;
	if ((rc = metrics_start(t, e)) < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	t->metrics = false;
	tifeed_free(t);
	return rc;
}

void tifeed_free(struct tifeed *t)
{
	if (!t)
		return;
	if (t->started) {
		pthread_mutex_lock(&t->lock);
		atomic_store(&t->stopping, true);
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	if (t->metrics)
		metrics_unregister(t);
	meta_close(t->m);
	if (t->curl)
		curl_easy_cleanup(t->curl);
	curl_global_cleanup();
	buf_release(&t->body);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	mem_free(t->feeds);
	mem_free(t);
}
