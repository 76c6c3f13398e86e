/*
 * ingest.c - POST /api/v1/ingest/{source}: a source's token, a bounded body, its records
 * through the acknowledged-input path, 200 after the WAL commit.
 */
#include "portal/ingest.h"
#include "core/compat.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <strings.h>
#include <zlib.h>

#define LOG_MODULE "ingest_http"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/name.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "ingest/ackin.h"
#include "parse/decoder.h"
#include "store/meta.h"

#define BEARER "Bearer "
#define INFLATE_CHUNK (64u * 1024)
#define INGEST_NAME_MAX (NAME_TENANT_MAX + 1) /* names of sources, tenants, formats */
#define INGEST_ZONE_MAX (NAME_ZONE_MAX + 1)

struct api_ingest {
	struct api_ingest_config cfg;
	char *data_dir;
	const struct tz *default_tz;
	atomic_size_t inflight;      /* bytes of bodies held by all requests */
	bool metrics;                /* koban_api_ingest_inflight_bytes registered */
};

/* One request, from its headers to its completion. */
struct api_ingest_request {
	unsigned status;             /* decided before the body ended */
	struct buf answer;           /* its answer, given once the body has ended */
	size_t discarded;            /* bytes of the body read after status was decided */
	struct buf body;             /* as received (at most max_bytes) */
	size_t held;                 /* bytes counted in inflight */
	bool gzip, deflate;          /* Content-Encoding */
	enum api_ingest_body kind;   /* Content-Type: NDJSON, JSON or either */
	char source[INGEST_NAME_MAX];      /* the token's source, tenant, format and zone */
	char tenant[INGEST_NAME_MAX];
	char format[INGEST_NAME_MAX];
	char tz[INGEST_ZONE_MAX];
	bool has_tz;
	int64_t tenant_id;           /* the token's tenant in koban.db */
};

/* ---- answers ---- */

static unsigned answer_error(struct buf *answer, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static unsigned answer_error(struct buf *answer, unsigned status, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_reset(answer);
	if (buf_adds(answer, "{\"error\":") < 0 || json_add_string(answer, msg, strlen(msg)) < 0 ||
	    buf_adds(answer, "}\n") < 0)
		buf_reset(answer); /* the status still tells */
	return status;
}

/* ---- the token and the request's headers ---- */

static void take_source(void *ctx, const struct meta_source_token *t)
{
	struct api_ingest_request *r = ctx;

	snprintf(r->source, sizeof(r->source), "%s", t->source.name);
	snprintf(r->tenant, sizeof(r->tenant), "%s", t->source.tenant);
	snprintf(r->format, sizeof(r->format), "%s", t->source.format);
	r->has_tz = t->source.tz != NULL;
	r->tenant_id = t->tenant_id;
	snprintf(r->tz, sizeof(r->tz), "%s", t->source.tz ? t->source.tz : "");
}

/* The source the bearer token belongs to; 0 or a status with the answer. */
static unsigned authenticate(struct api_ingest *g, struct MHD_Connection *c,
			     struct api_ingest_request *r, const char *source,
			     struct buf *answer)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_AUTHORIZATION);
	unsigned char hash[META_TOKEN_HASH_LEN];
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	int rc;

	if (!auth || strncmp(auth, BEARER, strlen(BEARER)) || !auth[strlen(BEARER)])
		return answer_error(answer, MHD_HTTP_UNAUTHORIZED, "a source's ingest token is "
				    "required: Authorization: Bearer TOKEN");
	auth += strlen(BEARER);
	meta_token_hash(auth, strlen(auth), hash);
	if ((rc = meta_open(&m, g->data_dir, &e)) == 0)
		rc = meta_source_token_find(m, hash, take_source, r, &e);
	meta_close(m);
	if (rc == -ENOENT)
		return answer_error(answer, MHD_HTTP_UNAUTHORIZED, "unknown or replaced ingest "
				    "token");
	if (rc < 0) {
		log_error("ingest token lookup: %s", e.msg);
		return answer_error(answer, MHD_HTTP_INTERNAL_SERVER_ERROR, "the metadata store "
				    "is unavailable");
	}
	/* the path names the source too, so that a token sent to the wrong URL is noticed */
	if (strcmp(source, r->source)) {
		log_info("ingest refused: a token of source %s (tenant %s) sent to another "
			 "source's URL", r->source, r->tenant);
		return answer_error(answer, MHD_HTTP_FORBIDDEN, "this token ingests only for "
				    "source '%s'", r->source);
	}
	return 0;
}

/* The media type of a header value without parameters, compared case-insensitively. */
static bool media_is(const char *value, const char *type)
{
	size_t n = strlen(type);

	return value && !strncasecmp(value, type, n) &&
	       (value[n] == '\0' || value[n] == ';' || value[n] == ' ');
}

/* Content-Type, Content-Encoding and Content-Length; 0 or a status with the answer. */
static unsigned read_headers(struct api_ingest *g, struct MHD_Connection *c,
			     struct api_ingest_request *r, struct buf *answer)
{
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_CONTENT_ENCODING);
	const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (media_is(type, "application/x-ndjson") || media_is(type, "application/jsonl") ||
	    media_is(type, "text/plain"))
		r->kind = API_INGEST_BODY_LINES;
	else if (media_is(type, "application/json"))
		r->kind = API_INGEST_BODY_JSON;
	else
		r->kind = API_INGEST_BODY_ANY;
	if (enc && (!strcasecmp(enc, "gzip") || !strcasecmp(enc, "x-gzip")))
		r->gzip = true;
	else if (enc && !strcasecmp(enc, "deflate"))
		r->deflate = true;
	else if (enc && strcasecmp(enc, "identity"))
		return answer_error(answer, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Content-Encoding: "
				    "expected gzip, deflate or identity");
	if (length && strtoull(length, NULL, 10) > g->cfg.max_bytes)
		return answer_error(answer, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than "
				    "api.ingest_max_bytes (%zu bytes): send it in smaller parts",
				    g->cfg.max_bytes);
	return 0;
}

/* ---- the body: bounded, counted against the in-flight budget ---- */

/* Takes n more bytes of the budget; false (nothing taken) when it is spent. */
static bool hold(struct api_ingest *g, struct api_ingest_request *r, size_t n)
{
	size_t limit = g->cfg.max_bytes * API_INGEST_INFLIGHT_FACTOR;
	size_t now = atomic_fetch_add(&g->inflight, n);

	if (now + n > limit) {
		atomic_fetch_sub(&g->inflight, n);
		return false;
	}
	r->held += n;
	return true;
}

static unsigned too_large(struct api_ingest *g, struct buf *answer, const char *what)
{
	return answer_error(answer, MHD_HTTP_CONTENT_TOO_LARGE, "the body%s is larger than "
			    "api.ingest_max_bytes (%zu bytes): send it in smaller parts", what,
			    g->cfg.max_bytes);
}

static unsigned busy(struct buf *answer)
{
	return answer_error(answer, MHD_HTTP_TOO_MANY_REQUESTS, "too many bodies are being "
			    "received at once: retry later");
}

static unsigned take_data(struct api_ingest *g, struct api_ingest_request *r, const char *data,
			  size_t n, struct buf *answer)
{
	if (r->body.len + n > g->cfg.max_bytes)
		return too_large(g, answer, "");
	if (!hold(g, r, n))
		return busy(answer);
	if (buf_add(&r->body, data, n) < 0)
		return answer_error(answer, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return 0;
}

/* The body inflated into out (bounded like the body); 0 or a status with the answer. */
static unsigned inflate_body(struct api_ingest *g, struct api_ingest_request *r,
			     struct buf *out, struct buf *answer)
{
	z_stream z = { 0 };
	unsigned status = 0;
	int zrc;

	if (inflateInit2(&z, r->gzip ? 15 + 16 : 15) != Z_OK)
		return answer_error(answer, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	z.next_in = (Bytef *)r->body.p;
	z.avail_in = (uInt)r->body.len;
	do {
		size_t room = MIN((size_t)INFLATE_CHUNK, g->cfg.max_bytes - out->len);

		if (!room) {
			status = too_large(g, answer, " (inflated)");
			break;
		}
		if (buf_grow(out, room) < 0) {
			status = answer_error(answer, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
			break;
		}
		z.next_out = (Bytef *)out->p + out->len;
		z.avail_out = (uInt)room;
		zrc = inflate(&z, Z_NO_FLUSH);
		out->len += room - z.avail_out;
		out->p[out->len] = '\0';
		if (!hold(g, r, room - z.avail_out)) {
			status = busy(answer);
			break;
		}
		if (zrc == Z_STREAM_END && !z.avail_in)
			break;
		if (zrc == Z_STREAM_END && r->gzip) { /* another member (cat a.gz b.gz): go on */
			if (inflateReset(&z) != Z_OK) {
				status = answer_error(answer, MHD_HTTP_INTERNAL_SERVER_ERROR, "zlib "
						      "cannot go on");
				break;
			}
			continue;
		}
		if (zrc == Z_STREAM_END) {
			status = answer_error(answer, MHD_HTTP_BAD_REQUEST, "%u bytes after the end "
					      "of the deflate body", z.avail_in);
			break;
		}
		if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
			status = answer_error(answer, MHD_HTTP_BAD_REQUEST, "the %s body is corrupt "
					      "at byte %lu of it: %s", r->gzip ? "gzip" : "deflate",
					      z.total_in, z.msg ? z.msg : "bad data");
			break;
		}
		if (zrc == Z_BUF_ERROR && z.avail_in == 0) {
			status = answer_error(answer, MHD_HTTP_BAD_REQUEST, "the %s body is cut "
					      "short", r->gzip ? "gzip" : "deflate");
			break;
		}
	} while (1);
	inflateEnd(&z);
	return status;
}

/* ---- the body's records ---- */

typedef int (*record_fn)(void *ctx, const char *p, size_t len);

/* What a body holds, once decided. */
enum body_shape {
	BODY_LINES,   /* NDJSON or any text: a message per non-blank line */
	BODY_ARRAY,   /* [...]: a message per element */
	BODY_RECORDS, /* {"records": [...]} (Azure Monitor): a message per record */
	BODY_VALUE,   /* {"@odata.context": ..., "value": [...]} (an OData page): per value */
	BODY_OBJECT,  /* any other object: one message */
};

static bool blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

/* NDJSON (or any text): each non-blank line without its line end (LF or CR LF). */
static int each_line(const char *p, size_t len, record_fn fn, void *ctx)
{
	const char *end = p + len;
	int rc;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;

		if (le > p && le[-1] == '\r')
			le--;
		if (!blank(p, (size_t)(le - p)) && (rc = fn(ctx, p, (size_t)(le - p))) < 0)
			return rc;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* An array's elements (entered already), each as written. */
static int each_element(struct jsonin *j, record_fn fn, void *ctx)
{
	const char *s;
	size_t len;
	int rc;

	while ((rc = jsonin_more(j)) > 0)
		if ((rc = jsonin_raw_value(j, &s, &len)) < 0 || (rc = fn(ctx, s, len)) < 0)
			return rc;
	return rc;
}

/* What the members of an object say about its shape. */
struct members {
	bool records, value, odata; /* a "records" array, a "value" array, an "@odata." key */
};

/* Reads the next value; *array when it is an array (entered: the caller reads it). */
static int value_is_array(struct jsonin *j, bool *array)
{
	struct jsonin_value v;
	int rc = jsonin_value(j, &v);

	*array = rc == 0 && v.type == JSONIN_ARRAY;
	if (rc == 0 && v.type == JSONIN_OBJECT)
		rc = jsonin_skip(j); /* entered: the rest of it */
	return rc;
}

/*
 * The members of an object (entered already). With fn NULL: notes in *m what they hold,
 * each value checked. Else: gives fn the elements of the first array under key.
 */
static int each_member(struct jsonin *j, const char *key, record_fn fn, void *ctx,
		       struct members *m)
{
	struct jsonin_value k;
	bool array, done = false;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		bool records = jsonin_key_is(&k, "records"), value = jsonin_key_is(&k, "value");

		if (k.len > 7 && !memcmp(k.s, "@odata.", 7))
			m->odata = true;
		if (!records && !value) {
			rc = jsonin_skip_value(j);
		} else if ((rc = value_is_array(j, &array)) == 0 && array) {
			bool take = fn && !done && jsonin_key_is(&k, key);

			m->records |= records;
			m->value |= value;
			done |= take;
			rc = take ? each_element(j, fn, ctx) : jsonin_skip(j);
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* Gives nothing: for checking a document without taking its records. */
static int no_record(void *ctx, const char *p, size_t len)
{
	return 0;
}

/*
 * Walks the JSON document p[0..len): with fn NULL, checks it whole and finds its *shape;
 * else gives fn the records of that shape (BODY_OBJECT: nothing, the caller takes the
 * object). 0, or -EINVAL with jsonin's position in e, or fn's code.
 */
static int walk_json(const char *p, size_t len, enum body_shape *shape, record_fn fn,
		     void *ctx, struct err *e)
{
	struct members m = { false, false, false };
	struct jsonin_value v = { .type = JSONIN_NONE };
	struct jsonin j;
	struct arena a; /* escaped keys and strings at the top level */
	int rc;

	arena_init(&a, 4096, len + 64);
	jsonin_init(&j, p, len, &a, 0);
	j.max_tokens = len + 1; /* every token takes a byte at least: the size is the bound */
	if ((rc = jsonin_value(&j, &v)) == 0) {
		if (v.type == JSONIN_ARRAY)
			rc = each_element(&j, fn ? fn : no_record, ctx);
		else if (v.type == JSONIN_OBJECT)
			rc = each_member(&j, *shape == BODY_VALUE ? "value" : "records", fn, ctx, &m);
		else
			rc = err_set(e, -EINVAL, "expected a JSON array or object, found a %s",
				     v.type == JSONIN_STRING ? "string" : "scalar");
	}
	if (rc == 0 || j.rc) /* not after fn's own failure, nor after the scalar's message */
		rc = jsonin_finish(&j, e);
	arena_release(&a);
	if (rc == 0 && !fn)
		*shape = v.type == JSONIN_ARRAY	   ? BODY_ARRAY
			 : m.records		   ? BODY_RECORDS
			 : m.value && m.odata	   ? BODY_VALUE
						   : BODY_OBJECT;
	return rc;
}

/*
 * NDJSON unless the body is one valid JSON document starting with '[' or '{' (or is said to
 * be JSON: then it must be one). 0 with *shape, or -EBADMSG with the JSON error in e.
 */
static int body_shape(enum api_ingest_body kind, const char *p, size_t len,
		      enum body_shape *shape, struct err *e)
{
	struct err je = ERR_INIT;
	size_t i = 0;

	*shape = BODY_LINES;
	if (kind == API_INGEST_BODY_LINES)
		return 0;
	while (i < len && blank(p + i, 1))
		i++;
	if (kind != API_INGEST_BODY_JSON && (i == len || (p[i] != '[' && p[i] != '{')))
		return 0;
	if (walk_json(p, len, shape, NULL, NULL, &je) == 0)
		return 0;
	*shape = BODY_LINES;
	if (kind == API_INGEST_BODY_JSON || p[i] == '[') /* no NDJSON of objects: broken */
		return err_set(e, -EBADMSG, "the body is not valid JSON: %s", je.msg);
	return 0; /* objects line by line */
}

/* The records of a body of a known shape (a JSON one already checked). */
static int each_record(const char *p, size_t len, enum body_shape shape, record_fn fn,
		       void *ctx, struct err *e)
{
	if (shape == BODY_LINES)
		return each_line(p, len, fn, ctx);
	if (shape != BODY_OBJECT)
		return walk_json(p, len, &shape, fn, ctx, e);
	while (len && blank(p + len - 1, 1)) /* one object: the record, without the blanks */
		len--;
	while (len && blank(p, 1)) {
		p++;
		len--;
	}
	return fn(ctx, p, len);
}

int api_ingest_split(const char *p, size_t len, enum api_ingest_body kind,
		     int (*each)(void *ctx, const char *rec, size_t len), void *ctx,
		     struct err *e)
{
	enum body_shape shape;
	int rc = body_shape(kind, p, len, &shape, e);

	return rc < 0 ? rc : each_record(p, len, shape, each, ctx, e);
}

/* ---- into the store ---- */

struct feed {
	struct ackin_batch *b;
	struct tenant_stats *st;
	int64_t received_ns;
};

/* One record, one message: routed to the tenant (fairq.h's rule), then decoded and stored. */
static int feed_record(void *ctx, const char *p, size_t len)
{
	struct feed *f = ctx;

	atomic_fetch_add_explicit(&f->st->routed, 1, memory_order_relaxed);
	return ackin_add(f->b, p, len, f->received_ns);
}

static void origin_of(struct api_ingest *g, struct MHD_Connection *c,
		      const struct api_ingest_request *r, unsigned slot, struct ackin_origin *o)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	int format = decoder_find(r->format, strlen(r->format));
	struct err e = ERR_INIT;

	memset(o, 0, sizeof(*o));
	o->tenant = slot;
	o->format = format < 0 ? DECODER_AUTO : (unsigned)format;
	o->tz = g->default_tz;
	if (r->has_tz) {
		const struct tz *z = tz_get(r->tz, strlen(r->tz), &e);

		if (z)
			o->tz = z;
		else
			log_warn("source '%s': %s; using the default zone", r->source, e.msg);
	}
	o->source = r->source;
	if (ci && ci->client_addr &&
	    ipaddr_from_sockaddr(&o->peer, ci->client_addr, &o->peer_port) < 0)
		o->peer_port = 0; /* not an IP sender: no log.source.address */
}

/* The status of a batch that failed after it began, with the answer. */
static unsigned batch_failure(const struct api_ingest_request *r, int rc, const struct err *e,
			      uint32_t stored, struct buf *answer)
{
	const char *partly = stored ? " (part of the body was stored: sending it again stores "
				      "that part twice)" : " (nothing was stored)";

	log_warn("ingest for source %s of tenant %s: %s", r->source, r->tenant, e->msg);
	if (rc == -EDQUOT || rc == -ENOSPC || rc == -EBUSY)
		return answer_error(answer, MHD_HTTP_TOO_MANY_REQUESTS, "%s: retry later%s", e->msg,
				    partly);
	if (rc == -EMSGSIZE)
		return answer_error(answer, MHD_HTTP_CONTENT_TOO_LARGE, "%s%s", e->msg, partly);
	return answer_error(answer, MHD_HTTP_SERVICE_UNAVAILABLE, "the events could not be "
			    "stored: %s%s", e->msg, partly);
}

/* Decodes and stores the records of p[0..len) and waits for their commit. */
static unsigned store_records(struct api_ingest *g, struct MHD_Connection *c,
			      const struct api_ingest_request *r, const char *p, size_t len,
			      enum body_shape shape, struct buf *answer)
{
	struct ackin_origin o;
	struct ackin_batch b;
	struct feed f = { .b = &b, .received_ns = time_now_ns() };
	struct err e = ERR_INIT;
	int slot, rc;

	if ((slot = fairq_slot(g->cfg.q, r->tenant, strlen(r->tenant))) < 0)
		return answer_error(answer, MHD_HTTP_SERVICE_UNAVAILABLE, "no room for tenant %s in "
				    "the fair queue (%s)", r->tenant, strerror(-slot));
	if (fairq_output_blocked(g->cfg.q, (unsigned)slot))
		return answer_error(answer, MHD_HTTP_TOO_MANY_REQUESTS, "the event store cannot "
				    "write tenant %s's events now: retry later (nothing was stored)",
				    r->tenant);
	f.st = fairq_stats(g->cfg.q, (unsigned)slot);
	origin_of(g, c, r, (unsigned)slot, &o);
	if ((rc = ackin_begin(g->cfg.ackin, &b, &o, API_INGEST_SLOT_WAIT_MS, &e)) < 0)
		return batch_failure(r, rc, &e, 0, answer);
	if (b.tenant_id != (uint64_t)r->tenant_id) { /* removed and added again meanwhile */
		err_set(&e, -ESTALE, "tenant %s changed while the request was read", r->tenant);
		rc = ackin_end(&b, NULL);
		return batch_failure(r, err_first(rc, -ESTALE), &e, 0, answer);
	}
	rc = each_record(p, len, shape, feed_record, &f, &e);
	rc = err_first(rc, ackin_end(&b, &e));
	if (rc < 0)
		return batch_failure(r, rc, &e, b.events, answer);
	rc = b.events ? ackin_wait(g->cfg.ackin, b.first_lsn, b.lsn, API_INGEST_COMMIT_WAIT_MS) : 0;
	if (rc == -EIO)
		return answer_error(answer, MHD_HTTP_SERVICE_UNAVAILABLE, "the events could not be "
				    "committed (a disk fault on the server): they were not stored, "
				    "send them again");
	if (rc < 0)
		return answer_error(answer, MHD_HTTP_SERVICE_UNAVAILABLE, "the events were not "
				    "committed within %d s: retry later (sending them again may "
				    "store them twice)", API_INGEST_COMMIT_WAIT_MS / 1000);
	buf_reset(answer);
	if (buf_addf(answer, "{\"events\":%u,\"decode_errors\":%llu}\n", b.events,
		     (unsigned long long)b.counts.failed) < 0)
		buf_reset(answer);
	return MHD_HTTP_OK;
}

/* The whole body is here: inflate, check its shape, store it. */
static unsigned ingest_body(struct api_ingest *g, struct MHD_Connection *c,
			    struct api_ingest_request *r, struct buf *answer)
{
	struct buf inflated = BUF_INIT(g->cfg.max_bytes);
	const char *p = r->body.p;
	size_t len = r->body.len;
	enum body_shape shape;
	struct err e = ERR_INIT;
	unsigned status = 0;

	if ((r->gzip || r->deflate) && !(status = inflate_body(g, r, &inflated, answer))) {
		p = inflated.p;
		len = inflated.len;
	}
	if (!status && body_shape(r->kind, p, len, &shape, &e) < 0)
		status = answer_error(answer, MHD_HTTP_BAD_REQUEST, "%s (nothing was stored)", e.msg);
	else if (!status)
		status = store_records(g, c, r, p, len, shape, answer);
	buf_release(&inflated);
	return status;
}

/* ---- requests ---- */

unsigned api_ingest_handle(struct api_ingest *g, struct MHD_Connection *c, const char *source,
			   const char *method, const char *data, size_t *data_size,
			   struct api_ingest_request **req, struct buf *answer)
{
	struct api_ingest_request *r = *req;
	unsigned status;

	if (!r) { /* the headers: refuse early, before a byte of the body is read */
		if (!(r = mem_calloc(1, sizeof(*r))))
			return answer_error(answer, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		buf_init(&r->body, g->cfg.max_bytes);
		buf_init(&r->answer, 4096);
		*req = r;
		if (strcmp(method, MHD_HTTP_METHOD_POST))
			status = answer_error(answer, MHD_HTTP_METHOD_NOT_ALLOWED, "method not "
					      "allowed: POST the events");
		else if (!(status = authenticate(g, c, r, source, answer)))
			status = read_headers(g, c, r, answer);
		return status; /* answered at once: the body is not read */
	}
	/*
	 * libmicrohttpd cannot answer in the middle of a body: a refusal decided there is kept
	 * and given when the body ends; what follows is read and dropped, up to as much again
	 * as the limit, after which the connection is cut (API_INGEST_CUT).
	 */
	if (r->status && *data_size) {
		r->discarded += *data_size;
		*data_size = 0;
		return r->discarded > g->cfg.max_bytes ? API_INGEST_CUT : 0;
	}
	if (r->status) {
		buf_reset(answer);
		return buf_add(answer, r->answer.p, r->answer.len) < 0 ? API_INGEST_CUT : r->status;
	}
	if (*data_size) {
		status = take_data(g, r, data, *data_size, answer);
		*data_size = 0;
		if (status && buf_add(&r->answer, answer->p, answer->len) < 0)
			return API_INGEST_CUT;
		r->status = status;
		return 0;
	}
	return ingest_body(g, c, r, answer);
}

void api_ingest_request_free(struct api_ingest *g, struct api_ingest_request *r)
{
	if (!r)
		return;
	atomic_fetch_sub(&g->inflight, r->held);
	buf_release(&r->body);
	buf_release(&r->answer);
	mem_free(r);
}

/* ---- life cycle ---- */

static int collect_inflight(struct metrics_out *o, void *ctx)
{
	struct api_ingest *g = ctx;

	return metrics_sample(o, atomic_load(&g->inflight), NULL);
}

int api_ingest_new(struct api_ingest **out, const struct api_ingest_config *c, struct err *e)
{
	struct api_ingest *g;

	*out = NULL;
	if (!c->ackin || !c->q || !c->data_dir || !c->max_bytes)
		return err_set(e, -EINVAL, "api ingest: the acknowledged-input path, the fair "
			       "queue, the data directory and a size limit are needed");
	if (!(g = mem_calloc(1, sizeof(*g))) || !(g->data_dir = mem_strdup(c->data_dir))) {
		mem_free(g);
		return err_set(e, -ENOMEM, "out of memory");
	}
	g->cfg = *c;
	g->cfg.data_dir = g->data_dir;
	atomic_init(&g->inflight, 0);
	if (c->timezone) {
		struct err ze = ERR_INIT;

		if (!(g->default_tz = tz_get(c->timezone, strlen(c->timezone), &ze)))
			log_warn("configured timezone: %s; HTTP sources without a zone use the "
				 "machine's", ze.msg);
	}
	if (c->metrics) {
		int rc = metrics_register("koban_api_ingest_inflight_bytes", METRICS_GAUGE,
					  "Bytes of HTTP ingest bodies (raw and inflated) held by the "
					  "requests being received or stored.", collect_inflight, g);

		if (rc < 0) {
			api_ingest_free(g);
			return err_set(e, rc, "api ingest: cannot register its metric: %s",
				       strerror(-rc));
		}
		g->metrics = true;
	}
	*out = g;
	return 0;
}

void api_ingest_free(struct api_ingest *g)
{
	if (!g)
		return;
	if (g->metrics)
		metrics_unregister(g);
	mem_free(g->data_dir);
	mem_free(g);
}
