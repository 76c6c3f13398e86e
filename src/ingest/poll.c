/*
 * poll.c - the pollers (poll.h): one thread per configured poller, an HTTPS client on
 * libcurl, the OAuth2 token cache, Graph and Log Analytics paging, and the state file.
 */
#include "ingest/poll.h"
#include "core/compat.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define LOG_MODULE "poll"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "ingest/ackin.h"
#include "parse/decoder.h"

#define GRAPH_URL "https://graph.microsoft.com"
#define GRAPH_SCOPE "https://graph.microsoft.com/.default"
#define LA_URL "https://api.loganalytics.azure.com"
#define LA_SCOPE "https://api.loganalytics.io/.default" /* the audience stays .io */
#define LOGIN_URL "https://login.microsoftonline.com"
#define GRAPH_PAGE_DEFAULT 50
#define LA_PAGE_DEFAULT 50000
#define LA_GUARD "2d - 1h"       /* TimeGenerated may lie 2 days before arrival */
#define ING_COLUMN "_koban_ingested"
#define URL_MAX 8192
#define STATE_MAX ((size_t)POLL_SEEN_MAX * 96 + (1u << 20)) /* bytes of a state file */
#define STATE_MAGIC "koban poller state 1"
#define MAX_STREAMS CONFIG_POLLER_MAX_TABLES
#define MAX_COLUMNS 1024
#define RECORD_ARENA (1u << 20)
#define SLOT_WAIT_MS 100         /* a busy ackin is asked again after this (stop checked) */
#define COMMIT_WAIT_MS 30000     /* the records' group commit, before the state is saved */
#define ERROR_SHOWN 300          /* bytes of a service's error message in the log */
#define MAX_PAGES 100000         /* pages of one stream in one poll: a service looping ends */
/*
 * Bytes of a Log Analytics row made into a record, for a response of r bytes: the row holds
 * each of its cells (never longer than in the response) and each column name once, escaped
 * again (a name of control characters, 6 bytes each written, could pass this: such a row is
 * refused as too large, by name); one over syslog.max_message_size is cut by ackin_add().
 * The buffer is let go after a row past ROW_KEEP, so one huge row does not keep its size.
 */
#define ROW_MAX(r) (2 * (size_t)(r) + (64u << 10))
#define ROW_KEEP (1u << 20)

enum req_result { REQ_OK, REQ_THROTTLED, REQ_SERVER_ERROR, REQ_CLIENT_ERROR,
		  REQ_UNAUTHORIZED, REQ_TRANSPORT_ERROR, REQ_RESULTS };
static const char *const req_names[] = { "ok", "throttled", "server_error", "client_error",
					 "unauthorized", "transport_error" };

enum cycle_result { CYCLE_OK, CYCLE_PARTIAL, CYCLE_FAILED, CYCLE_RESULTS };
static const char *const cycle_names[] = { "ok", "partial", "failed" };

/* One watermark: a Graph collection or a Log Analytics table. */
struct stream {
	char name[136];
	int64_t watermark;             /* ns; 0: never polled */
	int64_t saved_wm;              /* the watermark in the state file (loaded or saved) */
	int64_t start;                 /* where the first poll starts: start time - lookback */
	atomic_int_fast64_t shown_wm;  /* the same, for /metrics */
	atomic_uint_fast64_t records;
};

/* A record already delivered: the hash of its key and the time that ages it out. */
struct seen_entry {
	uint64_t hash; /* 0: empty slot */
	int64_t stamp;
	uint16_t stream;
};

struct seen {
	struct seen_entry *slot;
	size_t cap, n;       /* cap: a power of two, or 0 */
	uint64_t *pending;   /* keys of the open batch: forgotten when it fails (batch_close) */
	size_t n_pending, pending_cap;
};

struct poller {
	struct poll *poll;
	const struct config_poller *cfg;
	pthread_t thread;
	bool started;
	unsigned slot;                 /* fair-queue slot of the tenant */
	uint8_t format;
	const char *api_url, *login_url, *scope;
	uint32_t page_size;
	char *secret;
	size_t secret_len;
	char *token;                   /* access token, NULL when none is cached */
	int64_t token_renew;           /* time_mono_ns() past which it is fetched anew */
	CURL *curl;
	char curl_err[CURL_ERROR_SIZE];
	struct buf body;               /* the last response */
	int64_t retry_after_ms;        /* from the last response, -1 when absent */
	unsigned backoff_ms;
	struct stream stream[MAX_STREAMS];
	size_t n_streams;
	struct seen seen;
	struct ackin_batch batch;      /* the page being decoded into the WAL, when open */
	bool batch_open;
	uint64_t first_lsn;            /* the first WAL record appended this poll */
	uint64_t lsn;                  /* the last WAL record appended this poll (0: none) */
	struct arena arena;
	struct buf rec;                /* a Log Analytics row made into a record */
	atomic_uint_fast64_t requests[REQ_RESULTS];
	atomic_uint_fast64_t cycles[CYCLE_RESULTS], duplicates, tokens, polls_done;
	atomic_uint_fast64_t seen_full; /* keys not remembered: the table was full */
};

struct poll {
	struct fairq *q;
	struct ackin *ackin;           /* where records are decoded and stored */
	/* takes one record: take_stored (ackin) in serve, take_collected in poll_parse */
	int (*take)(struct poller *pl, const char *rec, size_t len, struct err *e);
	struct buf *collected;         /* poll_parse: the records as a JSON text sequence */
	size_t n_collected;
	char *dir;                     /* DATA_DIR/pollers */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool stopping;
	bool curl_ready;
	struct poller *p;
	size_t n;
};

static uint64_t load(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* ---------------------------------------------------------------- waiting */

/* Waits ms unless the poll is stopped meanwhile: 0, or -ECANCELED when stopping. */
static int poll_wait(struct poll *p, int64_t ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	while (!atomic_load(&p->stopping) && rc == 0)
		rc = pthread_cond_timedwait(&p->cond, &p->lock, &until);
	pthread_mutex_unlock(&p->lock);
	return atomic_load(&p->stopping) ? -ECANCELED : 0;
}

/* The next exponential back-off with jitter (half to all of the step). */
static int64_t next_backoff(struct poller *pl)
{
	unsigned step = pl->backoff_ms ? pl->backoff_ms : POLL_BACKOFF_MIN_MS;

	pl->backoff_ms = MIN(step * 2, (unsigned)POLL_BACKOFF_MAX_MS);
	return step / 2 + (int64_t)((unsigned)random() % (step / 2 + 1));
}

/* ---------------------------------------------------------------- HTTP */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	return buf_add(b, data, size * n) < 0 ? 0 : size * n; /* 0: curl fails the transfer */
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3). */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct poller *pl = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) && !strncasecmp(data, name, sizeof(name) - 1)) {
		char v[64];
		size_t vl = MIN(len - (sizeof(name) - 1), sizeof(v) - 1);
		char *end;
		long s;

		memcpy(v, data + sizeof(name) - 1, vl);
		v[vl] = '\0';
		s = strtol(v, &end, 10);
		if (end != v && s >= 0) {
			pl->retry_after_ms = (int64_t)MIN(s, 3600L) * 1000;
		} else {
			time_t at = curl_getdate(v, NULL);
			int64_t d = (int64_t)at - time_now_ns() / NS_PER_SEC;

			if (at != -1)
				pl->retry_after_ms = MAX(MIN(d, (int64_t)3600), (int64_t)0) * 1000;
		}
	}
	return len;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct poller *pl = ctx;

	return atomic_load(&pl->poll->stopping) ? 1 : 0; /* non-zero aborts the transfer */
}

/*
 * One HTTPS request: GET (body NULL) or POST of body with content_type, with the cached
 * token when auth is set. The response lands in pl->body; *status is its HTTP status, or 0
 * when no response came (e says why).
 */
static int http_once(struct poller *pl, const char *url, const char *body,
		     const char *content_type, bool auth, long *status, struct err *e)
{
	const struct config_poller *c = pl->cfg;
	struct curl_slist *h = NULL, *next;
	struct buf line = BUF_INIT(16384);
	CURLcode cc;
	int rc = 0;

	*status = 0;
	pl->retry_after_ms = -1;
	buf_reset(&pl->body);
	curl_easy_reset(pl->curl);
	next = curl_slist_append(h, "Accept: application/json");
	h = next ? next : h;
	if (body && content_type && buf_addf(&line, "Content-Type: %s", content_type) == 0 &&
	    (next = curl_slist_append(h, line.p)))
		h = next;
	if (pl->cfg->type == POLLER_LOGANALYTICS && body && auth) { /* a query, not a token */
		buf_reset(&line);
		if (buf_addf(&line, "Prefer: wait=%u", MIN(c->timeout, 600u)) == 0 &&
		    (next = curl_slist_append(h, line.p)))
			h = next;
	}
	if (auth) {
		buf_reset(&line);
		if (buf_addf(&line, "Authorization: Bearer %s", pl->token) < 0 ||
		    !(next = curl_slist_append(h, line.p))) {
			rc = err_set(e, -ENOMEM, "out of memory");
			goto fail;
		}
		h = next;
	}
	curl_easy_setopt(pl->curl, CURLOPT_URL, url);
	curl_easy_setopt(pl->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(pl->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(pl->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(pl->curl, CURLOPT_ERRORBUFFER, pl->curl_err);
	curl_easy_setopt(pl->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(pl->curl, CURLOPT_TIMEOUT, (long)c->timeout);
	curl_easy_setopt(pl->curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(pl->curl, CURLOPT_USERAGENT, "koban-poller/1");
	curl_easy_setopt(pl->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(pl->curl, CURLOPT_WRITEDATA, &pl->body);
	curl_easy_setopt(pl->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(pl->curl, CURLOPT_HEADERDATA, pl);
	curl_easy_setopt(pl->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(pl->curl, CURLOPT_XFERINFODATA, pl);
	curl_easy_setopt(pl->curl, CURLOPT_NOPROGRESS, 0L);
	if (c->ca_file)
		curl_easy_setopt(pl->curl, CURLOPT_CAINFO, c->ca_file);
	if (body) {
		curl_easy_setopt(pl->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(pl->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	pl->curl_err[0] = '\0';
	cc = curl_easy_perform(pl->curl);
	if (cc == CURLE_WRITE_ERROR) {
		rc = err_set(e, -EFBIG, "the response is larger than max_response_bytes (%zu)",
			     pl->body.max);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = err_set(e, -ECANCELED, "stopped");
	} else if (cc != CURLE_OK) {
		rc = err_set(e, -EIO, "%s", pl->curl_err[0] ? pl->curl_err : curl_easy_strerror(cc));
	} else {
		curl_easy_getinfo(pl->curl, CURLINFO_RESPONSE_CODE, status);
	}
fail:
	curl_easy_setopt(pl->curl, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(h);
	buf_release(&line);
	return rc;
}

/* The error of a Microsoft JSON error body: {"error":{"code","message"}} or OAuth2's. */
static void service_error(const struct buf *body, char *out, size_t size)
{
	struct jsonin j;
	struct jsonin_value k, v;
	char code[96] = "", msg[ERROR_SHOWN + 1] = "";
	unsigned depth = 0;
	int rc;

	snprintf(out, size, "no error details");
	jsonin_init(&j, body->p, body->len, NULL, JSONIN_REPLACE_SURROGATES);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return;
	while ((rc = jsonin_key(&j, &k)) > 0) {
		if (depth == 0 && jsonin_key_is(&k, "error")) {
			if (jsonin_value(&j, &v) < 0)
				return;
			if (v.type == JSONIN_OBJECT) {
				depth = 1;
				continue;
			}
			if (v.type == JSONIN_STRING)
				snprintf(code, sizeof(code), "%.*s", (int)MIN(v.len, 90u), v.s);
			else if (v.type == JSONIN_ARRAY && jsonin_skip(&j) < 0)
				return;
		} else if (jsonin_key_is(&k, depth ? "code" : "") ||
			   jsonin_key_is(&k, depth ? "message" : "error_description")) {
			bool is_code = jsonin_key_is(&k, "code");

			if (jsonin_value(&j, &v) < 0)
				return;
			if (v.type == JSONIN_STRING && is_code)
				snprintf(code, sizeof(code), "%.*s", (int)MIN(v.len, 90u), v.s);
			else if (v.type == JSONIN_STRING)
				snprintf(msg, sizeof(msg), "%.*s", (int)MIN(v.len, ERROR_SHOWN), v.s);
			else if ((v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) &&
				 jsonin_skip(&j) < 0)
				return;
		} else if (jsonin_skip_value(&j) < 0) {
			return;
		}
		if (depth == 1 && code[0] && msg[0])
			break;
	}
	if (code[0] || msg[0])
		snprintf(out, size, "%s%s%s", code, code[0] && msg[0] ? ": " : "", msg);
}

/* Puts text before e's message (which err_set must not read while writing it). */
static int err_prefix(struct err *e, int code, const char *prefix)
{
	char was[sizeof(e->msg)];

	snprintf(was, sizeof(was), "%s", e->msg);
	return err_set(e, code, "%s%s", prefix, was);
}

static void count_request(struct poller *pl, enum req_result r)
{
	atomic_fetch_add_explicit(&pl->requests[r], 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------- token */

static void token_drop(struct poller *pl)
{
	if (pl->token) {
		explicit_bzero(pl->token, strlen(pl->token));
		mem_free(pl->token);
	}
	pl->token = NULL;
}

/* The access token and its lifetime from the token endpoint's 200 body. */
static int token_parse(struct poller *pl, struct err *e)
{
	struct arena a;
	struct jsonin j;
	struct jsonin_value k, v;
	int64_t expires = -1;
	char *token = NULL;
	int rc;

	arena_init(&a, 4096, pl->body.len + 64);
	jsonin_init(&j, pl->body.p, pl->body.len, &a, 0);
	rc = jsonin_value(&j, &v);
	if (rc == 0 && v.type != JSONIN_OBJECT)
		rc = -EINVAL;
	while (rc == 0 && (rc = jsonin_key(&j, &k)) > 0) {
		rc = 0;
		if (jsonin_key_is(&k, "access_token") || jsonin_key_is(&k, "expires_in")) {
			bool is_token = jsonin_key_is(&k, "access_token");

			if ((rc = jsonin_value(&j, &v)) < 0)
				break;
			if (is_token && v.type == JSONIN_STRING && v.len && !token) {
				if (!(token = mem_strndup(v.s, v.len)))
					rc = -ENOMEM;
			} else if (!is_token && (v.type == JSONIN_NUMBER || v.type == JSONIN_STRING) &&
				   jsonin_int(v.s, v.len, &expires) < 0) {
				expires = -1; /* "3599" and 3599 both happen; anything else: invalid */
			} else if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) {
				rc = jsonin_skip(&j);
			}
		} else {
			rc = jsonin_skip_value(&j);
		}
	}
	if (rc == 0)
		rc = jsonin_finish(&j, NULL);
	arena_release(&a);
	if (rc < 0 || !token || expires <= 0) {
		if (token) {
			explicit_bzero(token, strlen(token));
			mem_free(token);
		}
		return err_set(e, rc < 0 ? rc : -EINVAL, "token endpoint: the reply has no %s",
			       !token ? "access_token" : "valid expires_in");
	}
	token_drop(pl);
	pl->token = token;
	expires = MIN(expires, (int64_t)366 * 86400); /* no overflow below, whatever it says */
	/* renewed POLL_TOKEN_MARGIN_S early, or half-way through a short-lived token */
	expires = expires > 2 * POLL_TOKEN_MARGIN_S ? expires - POLL_TOKEN_MARGIN_S : expires / 2;
	pl->token_renew = time_mono_ns() + expires * NS_PER_SEC;
	atomic_fetch_add_explicit(&pl->tokens, 1, memory_order_relaxed);
	return 0;
}

/* application/x-www-form-urlencoded field: &name=escaped(value) */
static int form_add(struct poller *pl, struct buf *form, const char *name, const char *value,
		    size_t len)
{
	char *esc = curl_easy_escape(pl->curl, value, (int)len);
	int rc;

	if (!esc)
		return -ENOMEM;
	rc = buf_addf(form, "%s%s=%s", form->len ? "&" : "", name, esc);
	explicit_bzero(esc, strlen(esc));
	curl_free(esc);
	return rc;
}

/* Fetches a token when none is cached or it is due for renewal. */
static int token_get(struct poller *pl, struct err *e)
{
	const struct config_poller *c = pl->cfg;
	struct buf form = BUF_INIT(POLL_SECRET_MAX * 3 + 4096), url = BUF_INIT(URL_MAX);
	char why[ERROR_SHOWN + 100];
	long status;
	int rc;

	if (pl->token && time_mono_ns() < pl->token_renew)
		return 0;
	/* one allocation: a buffer that grew would leave copies of the secret behind */
	if ((rc = buf_grow(&form, form.max)) < 0 ||
	    (rc = buf_addf(&url, "%s/%s/oauth2/v2.0/token", pl->login_url, c->directory)) < 0 ||
	    (rc = form_add(pl, &form, "client_id", c->client_id, strlen(c->client_id))) < 0 ||
	    (rc = form_add(pl, &form, "scope", pl->scope, strlen(pl->scope))) < 0 ||
	    (rc = form_add(pl, &form, "client_secret", pl->secret, pl->secret_len)) < 0 ||
	    (rc = buf_adds(&form, "&grant_type=client_credentials")) < 0) {
		rc = err_set(e, rc, "token request: %s", strerror(-rc));
		goto fail;
	}
	rc = http_once(pl, url.p, form.p, "application/x-www-form-urlencoded", false, &status, e);
	if (rc < 0)
		goto fail;
	if (status == 200) {
		rc = token_parse(pl, e);
		explicit_bzero(pl->body.p, pl->body.len); /* the reply holds the token */
		goto fail;
	}
	service_error(&pl->body, why, sizeof(why));
	rc = err_set(e, status == 429 || status >= 500 ? -EAGAIN : -EACCES,
		     "token endpoint %s: HTTP %ld: %s", url.p, status, why);
fail:
	explicit_bzero(form.p, form.len);
	buf_release(&form);
	buf_release(&url);
	return rc;
}

/* ---------------------------------------------------------------- requests with retries */

/*
 * A request until it succeeds (2xx: 0, with *status) or gives up: 429 waits Retry-After or
 * backs off; 5xx, transport errors and a throttled token endpoint back off; a 401 fetches
 * a new token once. The body of the last response stays in pl->body.
 */
static int request(struct poller *pl, const char *url, const char *body, long *status,
		   struct err *e)
{
	unsigned tries = 0, throttled = 0;
	bool renewed = false;
	int rc;

	pl->backoff_ms = 0;
	for (;;) {
		char why[ERROR_SHOWN + 100];
		int64_t wait_ms;

		rc = token_get(pl, e);
		if (rc == 0)
			rc = http_once(pl, url, body, "application/json", true, status, e);
		if (rc == -ECANCELED || rc == -EFBIG || rc == -ENOMEM || rc == -EACCES ||
		    (rc == -EINVAL))
			return rc;
		if (rc == 0 && *status >= 200 && *status < 300) {
			count_request(pl, REQ_OK);
			err_clear(e); /* the retried failures are logged already */
			return 0;
		}
		if (rc == 0 && *status == 401 && !renewed) {
			count_request(pl, REQ_UNAUTHORIZED);
			log_info("poller %s: HTTP 401 from %s: fetching a new token", pl->cfg->name,
				 pl->api_url);
			token_drop(pl);
			renewed = true;
			continue;
		}
		if (rc == 0 && *status == 429) {
			count_request(pl, REQ_THROTTLED);
			if (++throttled >= POLL_THROTTLE_RETRIES)
				return err_set(e, -EAGAIN, "still throttled (HTTP 429) after %u tries",
					       throttled);
			wait_ms = pl->retry_after_ms >= 0 ? pl->retry_after_ms : next_backoff(pl);
			log_info("poller %s: throttled (HTTP 429), waiting %lld ms", pl->cfg->name,
				 (long long)wait_ms);
		} else if ((rc == 0 && *status >= 500) || rc == -EIO || rc == -EAGAIN) {
			count_request(pl, rc == 0 ? REQ_SERVER_ERROR : REQ_TRANSPORT_ERROR);
			if (rc == 0) {
				service_error(&pl->body, why, sizeof(why));
				err_set(e, -EIO, "HTTP %ld: %s", *status, why);
			}
			if (++tries >= POLL_RETRIES)
				return err_prefix(e, -EIO, "gave up retrying: ");
			wait_ms = pl->retry_after_ms >= 0 ? pl->retry_after_ms : next_backoff(pl);
			log_warn("poller %s: %s; trying again in %lld ms", pl->cfg->name, e->msg,
				 (long long)wait_ms);
		} else {
			count_request(pl, *status == 401 ? REQ_UNAUTHORIZED : REQ_CLIENT_ERROR);
			service_error(&pl->body, why, sizeof(why));
			return err_set(e, -EPROTO, "HTTP %ld: %s", *status, why);
		}
		if ((rc = poll_wait(pl->poll, wait_ms)) < 0)
			return err_set(e, rc, "stopped");
	}
}

/* ---------------------------------------------------------------- de-duplication */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t key_hash(unsigned stream, const void *p, size_t len)
{
	uint16_t st = (uint16_t)stream;
	uint64_t h = hash_bytes(UINT64_C(0xcbf29ce484222325), &st, sizeof(st));

	h = hash_bytes(h, p, len);
	return h ? h : 1; /* 0 marks an empty slot */
}

static struct seen_entry *seen_find(struct seen *s, uint64_t hash)
{
	size_t mask = s->cap - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask)
		if (s->slot[i].hash == hash || !s->slot[i].hash)
			return &s->slot[i];
}

/* Rebuilds the table with cap slots, keeping the entries keep() accepts. */
static int seen_rebuild(struct poller *pl, size_t cap)
{
	struct seen *s = &pl->seen, old = *s;
	struct seen_entry *slot = mem_calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	s->slot = slot;
	s->cap = cap;
	s->n = 0;
	for (size_t i = 0; i < old.cap; i++) {
		const struct seen_entry *x = &old.slot[i];
		const struct stream *st = &pl->stream[x->stream];

		if (!x->hash || x->stamp < st->watermark - (int64_t)pl->cfg->overlap * NS_PER_SEC)
			continue; /* out of every future window */
		*seen_find(s, x->hash) = *x;
		s->n++;
	}
	mem_free(old.slot);
	return 0;
}

/* Slots for n keys at a load of at most one half. */
static size_t seen_capacity(size_t n)
{
	size_t cap = 1024;

	while (cap < 2 * (n + 1) && cap < (size_t)POLL_SEEN_MAX * 2)
		cap *= 2;
	return cap;
}

/* Room for one more pending key: 0, or -ENOMEM. */
static int pending_room(struct seen *s)
{
	uint64_t *np;
	size_t cap;

	if (s->n_pending < s->pending_cap)
		return 0;
	cap = s->pending_cap ? 2 * s->pending_cap : 256;
	if (cap > (size_t)POLL_SEEN_MAX || !(np = mem_realloc(s->pending, cap * sizeof(*np))))
		return -ENOMEM;
	s->pending = np;
	s->pending_cap = cap;
	return 0;
}

/*
 * Removes hash from the table (linear probing: each later entry of the run that may fill
 * the hole moves into it, so that every lookup still finds what it found before).
 */
static void seen_forget(struct seen *s, uint64_t hash)
{
	size_t mask = s->cap - 1, i, j;
	struct seen_entry *x;

	if (!s->cap || (x = seen_find(s, hash))->hash != hash)
		return;
	i = (size_t)(x - s->slot);
	for (j = (i + 1) & mask; s->slot[j].hash; j = (j + 1) & mask) {
		size_t home = s->slot[j].hash & mask;
		bool stays = i <= j ? home > i && home <= j : home > i || home <= j;

		if (!stays) {
			s->slot[i] = s->slot[j];
			i = j;
		}
	}
	s->slot[i] = (struct seen_entry){ 0 };
	s->n--;
}

/*
 * Forgets every key: after a failed commit the records appended since the last saved state
 * are lost, and which keys they were is not kept, so the next poll delivers its whole window
 * again (records stored twice rather than lost).
 */
static void seen_clear(struct seen *s)
{
	if (s->cap)
		memset(s->slot, 0, s->cap * sizeof(*s->slot));
	s->n = 0;
}

/* Remembers (stream, hash) as delivered: 0, or -ENOSPC when the table is full (counted). */
static int seen_insert(struct poller *pl, unsigned stream, uint64_t hash, int64_t stamp)
{
	struct seen *s = &pl->seen;
	struct seen_entry *x;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = seen_capacity(s->n);

		if ((s->n + 1) * 2 > cap || seen_rebuild(pl, cap) < 0) {
			atomic_fetch_add_explicit(&pl->seen_full, 1, memory_order_relaxed);
			return -ENOSPC; /* not remembered: at worst delivered twice, counted */
		}
	}
	x = seen_find(s, hash);
	if (x->hash != hash)
		s->n++;
	x->hash = hash;
	x->stamp = stamp;
	x->stream = (uint16_t)stream;
	return 0;
}

/*
 * 1 when (stream, hash) was delivered before; else remembers it, as pending until its
 * batch is in the WAL (batch_close), and returns 0.
 */
static int seen_check(struct poller *pl, unsigned stream, uint64_t hash, int64_t stamp)
{
	struct seen *s = &pl->seen;

	if (s->cap && seen_find(s, hash)->hash == hash)
		return 1;
	if (pending_room(s) < 0) {
		atomic_fetch_add_explicit(&pl->seen_full, 1, memory_order_relaxed);
		return 0; /* not remembered: at worst delivered twice, counted */
	}
	if (seen_insert(pl, stream, hash, stamp) == 0)
		s->pending[s->n_pending++] = hash;
	return 0;
}

/* ---------------------------------------------------------------- state file */

static int state_name(const struct poller *pl, char *out, size_t size)
{
	return snprintf(out, size, "%s.state", pl->cfg->name) < (int)size ? 0 : -ENAMETOOLONG;
}

static int stream_index(const struct poller *pl, const char *name, size_t len)
{
	for (size_t i = 0; i < pl->n_streams; i++)
		if (strlen(pl->stream[i].name) == len && !memcmp(pl->stream[i].name, name, len))
			return (int)i;
	return -1;
}

/* Writes every watermark and the de-duplication keys still inside a window. */
static int state_save(struct poller *pl, struct err *e)
{
	struct buf b = BUF_INIT(STATE_MAX);
	char name[96];
	int rc = buf_addf(&b, "%s\n", STATE_MAGIC);

	for (size_t i = 0; i < pl->n_streams && rc == 0; i++)
		rc = buf_addf(&b, "watermark %s %lld\n", pl->stream[i].name,
			      (long long)pl->stream[i].watermark);
	for (size_t i = 0; i < pl->seen.cap && rc == 0; i++) {
		const struct seen_entry *x = &pl->seen.slot[i];

		if (x->hash && x->stamp >= pl->stream[x->stream].watermark -
						   (int64_t)pl->cfg->overlap * NS_PER_SEC)
			rc = buf_addf(&b, "seen %s %016llx %lld\n", pl->stream[x->stream].name,
				      (unsigned long long)x->hash, (long long)x->stamp);
	}
	if (rc < 0)
		rc = err_set(e, rc, "state of poller %s: %s", pl->cfg->name, strerror(-rc));
	else if ((rc = state_name(pl, name, sizeof(name))) == 0)
		rc = fileio_replace(pl->poll->dir, name, b.p, b.len, 0600, 0, e);
	for (size_t i = 0; i < pl->n_streams && rc == 0; i++)
		pl->stream[i].saved_wm = pl->stream[i].watermark;
	buf_release(&b);
	return rc;
}

/* One line of a state file; lines of streams no longer configured are ignored. */
static int state_line(struct poller *pl, char *line)
{
	char *f[4], *save = NULL;
	size_t n = 0;
	int st, rc;

	for (char *w = strtok_r(line, " ", &save); w && n < 4; w = strtok_r(NULL, " ", &save))
		f[n++] = w;
	if (n < 3)
		return -EINVAL;
	if ((st = stream_index(pl, f[1], strlen(f[1]))) < 0)
		return 0;
	if (!strcmp(f[0], "watermark") && n == 3) {
		pl->stream[st].watermark = pl->stream[st].saved_wm = strtoll(f[2], NULL, 10);
		atomic_store(&pl->stream[st].shown_wm, pl->stream[st].watermark);
		return 0;
	}
	if (!strcmp(f[0], "seen") && n == 4) {
		uint64_t h = strtoull(f[2], NULL, 16);

		if (!h)
			return -EINVAL;
		rc = seen_insert(pl, (unsigned)st, h, strtoll(f[3], NULL, 10));
		return rc == -ENOSPC ? 0 : rc; /* a full table is counted; the key is not kept */
	}
	return -EINVAL;
}

static int state_load(struct poller *pl, struct err *e)
{
	char name[96], path[4096];
	char *text = NULL, *save = NULL;
	size_t len;
	int rc;

	if ((rc = state_name(pl, name, sizeof(name))) < 0)
		return err_set(e, rc, "poller %s: name too long", pl->cfg->name);
	snprintf(path, sizeof(path), "%s/%s", pl->poll->dir, name);
	if (access(path, F_OK) < 0)
		return 0; /* first start */
	if ((rc = config_read_file(path, "poller state", STATE_MAX, &text, &len, e)) < 0)
		return rc;
	text[len - (len && text[len - 1] == '\n')] = '\0'; /* the file ends in its last LF */
	if (strncmp(text, STATE_MAGIC "\n", sizeof(STATE_MAGIC))) {
		rc = err_set(e, -EINVAL, "%s: not a poller state file (remove it to poll from "
			     "`lookback` again)", path);
		goto fail;
	}
	for (char *l = strtok_r(text + sizeof(STATE_MAGIC), "\n", &save); l && rc == 0;
	     l = strtok_r(NULL, "\n", &save))
		if ((rc = state_line(pl, l)) < 0)
			rc = err_set(e, rc, "%s: a line is malformed (remove the file to poll from "
				     "`lookback` again)", path);
fail:
	mem_free(text);
	return rc;
}

/* ---------------------------------------------------------------- delivery */

/*
 * Opens a batch of the poller's tenant on the acknowledged-input path (ingest/ackin.h),
 * waiting while every decoding slot is busy (counted once as throttled). -ECANCELED when
 * stopping; another failure (the tenant is gone) with its message in e.
 */
static int batch_open(struct poller *pl, struct err *e)
{
	struct poll *p = pl->poll;
	const struct ackin_origin origin = { .tenant = pl->slot, .format = pl->format,
					     .source = pl->cfg->name };
	bool waited = false;
	int rc;

	if (!p->ackin)
		return err_set(e, -EINVAL, "no acknowledged-input path to store records through");
	while ((rc = ackin_begin(p->ackin, &pl->batch, &origin, SLOT_WAIT_MS, e)) == -EBUSY) {
		if (atomic_load(&p->stopping))
			return err_set(e, -ECANCELED, "stopped");
		if (!waited)
			atomic_fetch_add_explicit(&fairq_stats(p->q, pl->slot)->throttled, 1,
						  memory_order_relaxed);
		waited = true;
	}
	if (rc == 0)
		pl->batch_open = true;
	return rc;
}

/*
 * Appends what the open batch holds to the WAL and gives its slot back (page ends). When
 * that fails (the tenant over its quota, a full disk), the batch's records are forgotten
 * as delivered: the next poll reads them again and stores them then, where remembering
 * them would have taken them for duplicates and lost them (those the WAL got before the
 * failure may then be stored twice: at least once).
 */
static int batch_close(struct poller *pl, struct err *e)
{
	struct seen *s = &pl->seen;
	int rc;

	if (!pl->batch_open) { /* the pending keys' records are taken (poll_parse) or forgotten */
		s->n_pending = 0;
		return 0;
	}
	pl->batch_open = false;
	rc = ackin_end(&pl->batch, e);
	for (size_t i = 0; rc < 0 && i < s->n_pending; i++)
		seen_forget(s, s->pending[i]);
	s->n_pending = 0;
	if (rc < 0)
		return rc;
	if (pl->batch.events && pl->batch.lsn > pl->lsn) {
		if (!pl->lsn)
			pl->first_lsn = pl->batch.first_lsn;
		pl->lsn = pl->batch.lsn;
	}
	return 0;
}

/*
 * One record decoded into the tenant's batch (appended to the WAL as it fills; the state
 * is saved only once the poll's last record is durable).
 */
static int take_stored(struct poller *pl, const char *rec, size_t len, struct err *e)
{
	int rc;

	if (!pl->batch_open && (rc = batch_open(pl, e)) < 0)
		return rc;
	if ((rc = ackin_add(&pl->batch, rec, len, time_now_ns())) < 0)
		return err_set(e, rc, "storing a record: %s", pl->batch.e.msg);
	return 0;
}

/* poll_parse: one record appended to the collected text (0x1E, the record, LF). */
static int take_collected(struct poller *pl, const char *rec, size_t len, struct err *e)
{
	struct poll *p = pl->poll;
	size_t before = p->collected ? p->collected->len : 0;
	int rc = 0;

	if (p->collected) {
		rc = buf_addch(p->collected, 0x1e);
		rc = err_first(rc, buf_add(p->collected, rec, len));
		rc = err_first(rc, buf_addch(p->collected, '\n'));
	}
	if (rc < 0) { /* no half record: the collected ones stay whole */
		buf_truncate(p->collected, before);
		return err_set(e, rc, "out of memory");
	}
	p->n_collected++;
	return 0;
}

/*
 * One record to the store. One over syslog.max_message_size is not dropped: ackin_add()
 * cuts it and flags it truncated, as for HTTP ingest, and counts it; cut JSON does not
 * decode, so it is kept raw as a pipeline_error event.
 */
static int deliver(struct poller *pl, unsigned stream, const char *rec, size_t len,
		   struct err *e)
{
	int rc;

	if ((rc = pl->poll->take(pl, rec, len, e)) < 0)
		return rc;
	atomic_fetch_add_explicit(&pl->stream[stream].records, 1, memory_order_relaxed);
	return 0;
}

/*
 * Delivers rec unless the record of key hash (key_hash(); 0: no key) was delivered before
 * (then counted as a duplicate). A record the store path refuses (no batch could be
 * opened) is forgotten as delivered at once; one in a batch, when the batch fails.
 */
static int deliver_once(struct poller *pl, unsigned stream, const char *rec, size_t len,
			uint64_t hash, int64_t stamp, struct err *e)
{
	int rc;

	if (hash && seen_check(pl, stream, hash, stamp)) {
		atomic_fetch_add_explicit(&pl->duplicates, 1, memory_order_relaxed);
		return 0;
	}
	if ((rc = deliver(pl, stream, rec, len, e)) < 0 && hash)
		seen_forget(&pl->seen, hash);
	return rc;
}

/* ---------------------------------------------------------------- Microsoft Graph */

/* id and lastUpdateDateTime of a Graph record (top-level keys only). */
static void graph_record_key(struct poller *pl, const char *rec, size_t len, char *key,
			     size_t *key_len, int64_t *updated)
{
	struct jsonin j;
	struct jsonin_value k, v;
	size_t idl = 0;
	int rc;

	*key_len = 0;
	*updated = INT64_MIN;
	arena_clear(&pl->arena);
	jsonin_init(&j, rec, len, &pl->arena, JSONIN_REPLACE_SURROGATES);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return;
	while ((rc = jsonin_key(&j, &k)) > 0) {
		bool id = jsonin_key_is(&k, "id"), up = jsonin_key_is(&k, "lastUpdateDateTime");

		if (!id && !up) {
			if (jsonin_skip_value(&j) < 0)
				return;
			continue;
		}
		if (jsonin_value(&j, &v) < 0)
			return;
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) {
			if (jsonin_skip(&j) < 0)
				return;
		} else if (v.type == JSONIN_STRING && id && v.len < 256) {
			memcpy(key, v.s, v.len);
			idl = v.len;
		} else if (v.type == JSONIN_STRING && up) {
			size_t bad;

			if (time_parse_rfc3339(v.s, v.len, updated, &bad) < 0)
				*updated = INT64_MIN;
		}
	}
	if (idl && *updated != INT64_MIN) {
		memcpy(key + idl, updated, sizeof(*updated));
		*key_len = idl + sizeof(*updated);
	}
}

/* nextLink must stay on the origin (scheme, host, port) of api_url. */
static bool same_origin(const char *base, const char *link, size_t len)
{
	const char *host = strstr(base, "://");
	const char *path = host ? strchr(host + 3, '/') : NULL;
	size_t origin = path ? (size_t)(path - base) : strlen(base);

	return len > origin && !memcmp(base, link, origin) && link[origin] == '/';
}

/*
 * One Graph page: delivers each element of "value" (de-duplicated), raises *max_updated,
 * and copies "@odata.nextLink" into next (emptied when absent).
 */
static int graph_page(struct poller *pl, unsigned stream, struct buf *next,
		      int64_t *max_updated, size_t *n, struct err *e)
{
	struct arena link_arena;
	struct jsonin j;
	struct jsonin_value k, v;
	bool have_value = false;
	int rc;

	buf_reset(next);
	arena_init(&link_arena, URL_MAX, URL_MAX * 2);
	jsonin_init(&j, pl->body.p, pl->body.len, &link_arena, 0);
	rc = jsonin_value(&j, &v);
	if (rc == 0 && v.type != JSONIN_OBJECT)
		rc = -EINVAL;
	while (rc == 0 && (rc = jsonin_key(&j, &k)) > 0) {
		rc = 0;
		if (jsonin_key_is(&k, "value")) {
			if ((rc = jsonin_value(&j, &v)) < 0 || v.type != JSONIN_ARRAY) {
				rc = rc < 0 ? rc : -EINVAL;
				break;
			}
			have_value = true;
			while (rc == 0 && (rc = jsonin_more(&j)) > 0) {
				char key[256 + sizeof(int64_t)];
				const char *rec;
				size_t len, kl;
				int64_t up;

				if ((rc = jsonin_raw_value(&j, &rec, &len)) < 0)
					break;
				graph_record_key(pl, rec, len, key, &kl, &up);
				if (up != INT64_MIN && up > *max_updated)
					*max_updated = up;
				(*n)++;
				if ((rc = deliver_once(pl, stream, rec, len,
						       kl ? key_hash(stream, key, kl) : 0, up,
						       e)) < 0) {
					arena_release(&link_arena);
					return rc; /* the reason is in e */
				}
			}
		} else if (jsonin_key_is(&k, "@odata.nextLink")) {
			if ((rc = jsonin_value(&j, &v)) < 0)
				break;
			if (v.type != JSONIN_STRING || v.len >= URL_MAX) {
				rc = -EINVAL;
				break;
			}
			rc = buf_add(next, v.s, v.len);
		} else {
			rc = jsonin_skip_value(&j);
		}
	}
	arena_release(&link_arena);
	if (rc == -ECANCELED)
		return err_set(e, rc, "stopped");
	if (rc < 0 || (rc = jsonin_finish(&j, e)) < 0) {
		if (jsonin_error(&j, e) < 0) /* the reader's own error, with its position */
			return err_prefix(e, rc, "a Graph page is not valid JSON: ");
		return err_set(e, rc, "a Graph page is not an object with a \"value\" array");
	}
	if (!have_value)
		return err_set(e, -EINVAL, "a Graph page has no \"value\" array");
	return 0;
}

static int graph_poll(struct poller *pl, unsigned stream, struct err *e)
{
	struct stream *st = &pl->stream[stream];
	const struct config_poller *c = pl->cfg;
	struct buf url = BUF_INIT(URL_MAX), next = BUF_INIT(URL_MAX);
	int64_t now = time_now_ns();
	int64_t since = st->watermark ? st->watermark - (int64_t)c->overlap * NS_PER_SEC
				      : st->start;
	int64_t max_updated = st->watermark;
	char ts[TIME_RFC3339_LEN];
	size_t n = 0, pages = 0;
	long status;
	int rc;

	time_format_rfc3339(since, ts);
	rc = buf_addf(&url, "%s/v1.0/security/%s?$filter=lastUpdateDateTime%%20ge%%20%s&$top=%u",
		      pl->api_url, st->name, ts, pl->page_size);
	while (rc == 0) {
		if (pages >= MAX_PAGES) {
			rc = err_set(e, -ELOOP, "more than %u pages in one poll", MAX_PAGES);
			break;
		}
		if ((rc = request(pl, url.p, NULL, &status, e)) < 0 ||
		    (rc = graph_page(pl, stream, &next, &max_updated, &n, e)) < 0 ||
		    (rc = batch_close(pl, e)) < 0) /* a page's records: one WAL batch */
			break;
		pages++;
		if (!next.len)
			break;
		if (!same_origin(pl->api_url, next.p, next.len)) {
			rc = err_set(e, -EPERM, "refused an @odata.nextLink to another origin than "
				     "%s", pl->api_url);
			break;
		}
		buf_reset(&url);
		rc = buf_add(&url, next.p, next.len);
	}
	if (rc == 0) {
		/* nothing updated yet: later polls start from this one's start */
		st->watermark = max_updated ? max_updated : now;
		atomic_store(&st->shown_wm, st->watermark);
		log_debug("poller %s: %s: %zu records in %zu pages", c->name, st->name, n, pages);
	}
	buf_release(&url);
	buf_release(&next);
	return rc;
}

/* ---------------------------------------------------------------- Log Analytics */

struct la_column {
	const char *name;
	size_t len;
	bool dynamic;
};

struct la_table {
	struct la_column col[MAX_COLUMNS];
	size_t n;
	int ing;         /* index of ING_COLUMN, -1 when missing */
	bool has_type;   /* a "Type" column */
};

/* {"query": KQL} for the window (lo, hi], lo inclusive when asked (after a full page). */
static int la_query(struct poller *pl, const char *table, int64_t lo, bool lo_incl, int64_t hi,
		    struct buf *body)
{
	struct buf q = BUF_INIT(4096);
	char a[TIME_RFC3339_LEN], b[TIME_RFC3339_LEN];
	int rc;

	time_format_rfc3339(lo, a);
	time_format_rfc3339(hi, b);
	rc = buf_addf(&q, "let lo = datetime(%s);\nlet hi = datetime(%s);\n%s\n"
		      "| where TimeGenerated > lo - " LA_GUARD "\n"
		      "| extend " ING_COLUMN " = ingestion_time()\n"
		      "| where " ING_COLUMN " %s lo and " ING_COLUMN " <= hi\n"
		      "| order by " ING_COLUMN " asc\n| take %u", a, b, table,
		      lo_incl ? ">=" : ">", pl->page_size);
	buf_reset(body);
	rc = err_first(rc, buf_adds(body, "{\"query\":"));
	rc = err_first(rc, json_add_string(body, q.p, q.len));
	rc = err_first(rc, buf_addch(body, '}'));
	buf_release(&q);
	return rc;
}

static int la_columns(struct poller *pl, const char *raw, size_t len, struct la_table *t)
{
	struct jsonin j;
	struct jsonin_value k, v;
	int rc;

	t->n = 0;
	t->ing = -1;
	t->has_type = false;
	jsonin_init(&j, raw, len, &pl->arena, JSONIN_REPLACE_SURROGATES);
	if ((rc = jsonin_value(&j, &v)) < 0 || v.type != JSONIN_ARRAY)
		return -EINVAL;
	while ((rc = jsonin_more(&j)) > 0) {
		struct la_column *c;

		if (t->n >= MAX_COLUMNS || jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
			return -EINVAL;
		c = &t->col[t->n++];
		c->name = "";
		c->len = 0;
		c->dynamic = false;
		while ((rc = jsonin_key(&j, &k)) > 0) {
			bool name = jsonin_key_is(&k, "name"), type = jsonin_key_is(&k, "type");

			if (!name && !type) {
				if (jsonin_skip_value(&j) < 0)
					return -EINVAL;
				continue;
			}
			if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_STRING)
				return -EINVAL;
			if (name) {
				c->name = v.s;
				c->len = v.len;
			} else {
				c->dynamic = v.len == 7 && !memcmp(v.s, "dynamic", 7);
			}
		}
		if (rc < 0)
			return rc;
		if (c->len == sizeof(ING_COLUMN) - 1 && !memcmp(c->name, ING_COLUMN, c->len))
			t->ing = (int)(t->n - 1);
		if (c->len == 4 && !memcmp(c->name, "Type", 4))
			t->has_type = true;
	}
	return rc < 0 ? rc : jsonin_finish(&j, NULL);
}

/* A cell as JSON: dynamic strings holding an object or array are embedded as that JSON. */
static int la_cell(struct poller *pl, const struct la_column *c, const char *raw, size_t len,
		   struct buf *out)
{
	if (c->dynamic && len >= 2 && raw[0] == '"') {
		struct jsonin j, inner;
		struct jsonin_value v;

		jsonin_init(&j, raw, len, &pl->arena, JSONIN_REPLACE_SURROGATES);
		if (jsonin_value(&j, &v) == 0 && v.type == JSONIN_STRING && v.len &&
		    (v.s[0] == '{' || v.s[0] == '[')) {
			jsonin_init(&inner, v.s, v.len, NULL, 0);
			if (jsonin_skip_value(&inner) == 0 && jsonin_finish(&inner, NULL) == 0)
				return buf_add(out, v.s, v.len);
		}
	}
	return buf_add(out, raw, len);
}

/* The ingestion time of a row (its ING_COLUMN cell), INT64_MIN when unreadable. */
static int64_t la_ingested(struct poller *pl, const char *raw, size_t len)
{
	struct jsonin j;
	struct jsonin_value v;
	int64_t ns;
	size_t bad;

	jsonin_init(&j, raw, len, &pl->arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_STRING ||
	    time_parse_rfc3339(v.s, v.len, &ns, &bad) < 0)
		return INT64_MIN;
	return ns;
}

/* One row (an array of cells) into pl->rec; *ing gets its ingestion time. */
static int la_row(struct poller *pl, struct jsonin *j, const struct la_table *t,
		  const char *table, int64_t *ing)
{
	struct buf *r = &pl->rec;
	struct jsonin_value v;
	size_t i = 0;
	bool first = true;
	int rc;

	buf_reset(r);
	*ing = INT64_MIN;
	if ((rc = jsonin_value(j, &v)) < 0 || v.type != JSONIN_ARRAY)
		return rc < 0 ? rc : -EINVAL;
	rc = buf_addch(r, '{');
	while (rc == 0 && (rc = jsonin_more(j)) > 0) {
		const char *raw;
		size_t len;

		if (i >= t->n || (rc = jsonin_raw_value(j, &raw, &len)) < 0) {
			rc = rc < 0 ? rc : -EINVAL; /* more cells than columns */
			break;
		}
		if ((int)i == t->ing) {
			*ing = la_ingested(pl, raw, len);
			rc = 0;
		} else {
			/* one statement each: the order of function arguments is unspecified */
			rc = first ? 0 : buf_addch(r, ',');
			rc = err_first(rc, json_add_string(r, t->col[i].name, t->col[i].len));
			rc = err_first(rc, buf_addch(r, ':'));
			rc = err_first(rc, la_cell(pl, &t->col[i], raw, len, r));
			first = false;
		}
		i++;
	}
	if (rc == 0 && !t->has_type) {
		rc = buf_adds(r, first ? "\"Type\":" : ",\"Type\":");
		rc = err_first(rc, json_add_string(r, table, strlen(table)));
	}
	return rc < 0 ? rc : buf_addch(r, '}');
}

/* The raw "columns" and "rows" of the first table (PrimaryResult) of "tables". */
struct la_raw {
	const char *cols, *rows;
	size_t cols_len, rows_len;
	bool table;
};

static int la_tables(struct jsonin *j, struct la_raw *r)
{
	struct jsonin_value k, v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0 || v.type != JSONIN_ARRAY)
		return rc < 0 ? rc : -EINVAL;
	while ((rc = jsonin_more(j)) > 0) {
		if (r->table) { /* PrimaryResult is the first */
			if ((rc = jsonin_skip_value(j)) < 0)
				return rc;
			continue;
		}
		r->table = true;
		if ((rc = jsonin_value(j, &v)) < 0 || v.type != JSONIN_OBJECT)
			return rc < 0 ? rc : -EINVAL;
		while ((rc = jsonin_key(j, &k)) > 0) {
			if (jsonin_key_is(&k, "columns"))
				rc = jsonin_raw_value(j, &r->cols, &r->cols_len);
			else if (jsonin_key_is(&k, "rows"))
				rc = jsonin_raw_value(j, &r->rows, &r->rows_len);
			else
				rc = jsonin_skip_value(j);
			if (rc < 0)
				return rc;
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/*
 * One Log Analytics response: each row of the first table delivered (de-duplicated by
 * its bytes and ingestion time); *rows counts them, *last_ing is the last row's ingestion
 * time, *partial tells of an "error" beside the tables (PartialError).
 */
static int la_result(struct poller *pl, unsigned stream, size_t *rows, int64_t *last_ing,
		     bool *partial, struct err *e)
{
	static struct la_table t_zero;
	struct la_table *t = mem_alloc(sizeof(*t));
	struct la_raw raw = { 0 };
	struct jsonin j;
	struct jsonin_value k, v;
	int rc;

	if (!t)
		return err_set(e, -ENOMEM, "out of memory");
	*t = t_zero;
	arena_clear(&pl->arena);
	jsonin_init(&j, pl->body.p, pl->body.len, &pl->arena, JSONIN_REPLACE_SURROGATES);
	rc = jsonin_value(&j, &v);
	if (rc == 0 && v.type != JSONIN_OBJECT)
		rc = -EINVAL;
	while (rc == 0 && (rc = jsonin_key(&j, &k)) > 0) {
		if (jsonin_key_is(&k, "tables")) {
			rc = la_tables(&j, &raw);
		} else if (jsonin_key_is(&k, "error")) {
			if ((rc = jsonin_value(&j, &v)) < 0)
				break;
			*partial = v.type != JSONIN_NULL; /* an error beside the tables */
			if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
				rc = jsonin_skip(&j);
		} else {
			rc = jsonin_skip_value(&j);
		}
	}
	if (rc < 0 || (rc = jsonin_finish(&j, e)) < 0) {
		if (jsonin_error(&j, e) < 0) /* the reader's own error, with its position */
			rc = err_prefix(e, rc, "a Log Analytics response is not valid JSON: ");
		else
			rc = err_set(e, rc, "a Log Analytics response is not an object with "
				     "\"tables\"");
		goto fail;
	}
	if (!raw.table || !raw.cols || !raw.rows) {
		rc = err_set(e, -EINVAL, "a Log Analytics response has no table with columns and "
			     "rows");
		goto fail;
	}
	if (la_columns(pl, raw.cols, raw.cols_len, t) < 0 || t->ing < 0) {
		rc = err_set(e, -EINVAL, "a Log Analytics table has malformed columns or lacks "
			     ING_COLUMN);
		goto fail;
	}
	jsonin_init(&j, raw.rows, raw.rows_len, &pl->arena, JSONIN_REPLACE_SURROGATES);
	if ((rc = jsonin_value(&j, &v)) < 0 || v.type != JSONIN_ARRAY) {
		rc = err_set(e, -EINVAL, "Log Analytics rows are not an array");
		goto fail;
	}
	while ((rc = jsonin_more(&j)) > 0) {
		uint64_t hash;
		int64_t ing;

		if ((rc = la_row(pl, &j, t, pl->stream[stream].name, &ing)) == -ENOSPC) {
			rc = err_set(e, rc, "Log Analytics row %zu is larger than %zu bytes as a "
				     "record", *rows, pl->rec.max);
			goto fail;
		}
		if (rc < 0 || ing == INT64_MIN) {
			rc = err_set(e, rc < 0 ? rc : -EINVAL, "Log Analytics row %zu does not match "
				     "its columns", *rows);
			goto fail;
		}
		(*rows)++;
		*last_ing = ing;
		/* the row's bytes and its ingestion time: equal rows ingested apart are two */
		hash = hash_bytes(key_hash(stream, pl->rec.p, pl->rec.len), &ing, sizeof(ing));
		if ((rc = deliver_once(pl, stream, pl->rec.p, pl->rec.len, hash ? hash : 1,
				       ing, e)) < 0)
			goto fail; /* the reason is in e */
		if (pl->rec.cap > ROW_KEEP) {
			size_t max = pl->rec.max;

			buf_release(&pl->rec);
			buf_init(&pl->rec, max);
		}
	}
	if (rc < 0)
		rc = err_set(e, rc, "Log Analytics rows are malformed");
fail:
	mem_free(t);
	return rc;
}

static int la_poll(struct poller *pl, unsigned stream, bool *partial, struct err *e)
{
	struct stream *st = &pl->stream[stream];
	const struct config_poller *c = pl->cfg;
	struct buf url = BUF_INIT(URL_MAX), body = BUF_INIT(64 * 1024);
	int64_t now = time_now_ns();
	int64_t lo = st->watermark ? st->watermark - (int64_t)c->overlap * NS_PER_SEC
				   : st->start;
	int64_t hi = now - (int64_t)c->lag * NS_PER_SEC;
	bool lo_incl = false;
	long status;
	int rc;

	if (hi <= lo)
		return 0; /* lag longer than the time since the last poll */
	rc = buf_addf(&url, "%s/v1/workspaces/%s/query", pl->api_url, c->workspace);
	for (unsigned queries = 0; rc == 0; queries++) {
		size_t rows = 0;
		int64_t last = INT64_MIN;

		if (queries >= MAX_PAGES) {
			rc = err_set(e, -ELOOP, "more than %u queries in one poll", MAX_PAGES);
			break;
		}
		if ((rc = la_query(pl, st->name, lo, lo_incl, hi, &body)) < 0 ||
		    (rc = request(pl, url.p, body.p, &status, e)) < 0)
			break;
		if (status == 204)
			break; /* the workspace has no data at all */
		if (!pl->body.len) {
			rc = err_set(e, -EPROTO, "HTTP %ld with an empty body (no Content-Type?)",
				     status);
			break;
		}
		if ((rc = la_result(pl, stream, &rows, &last, partial, e)) < 0)
			break;
		if (rows < pl->page_size)
			break;
		if (last <= lo && lo_incl) {
			/* a full page of one ingestion time: go on after it, or this never ends */
			log_warn("poller %s: %s: a page of %u rows shares one ingestion time; "
				 "more rows of that instant would be skipped (raise page_size)",
				 c->name, st->name, pl->page_size);
			lo_incl = false;
			continue;
		}
		lo = last; /* a full page: the rest from its last ingestion time on */
		lo_incl = true;
	}
	if (rc == 0 && !*partial) {
		st->watermark = hi;
		atomic_store(&st->shown_wm, hi);
	}
	buf_release(&url);
	buf_release(&body);
	return rc;
}

/* ---------------------------------------------------------------- the poller thread */

/*
 * Ends the poll's last batch and waits for its group commit: the state file written after
 * it then names nothing that is not on stable storage. Returns 0 when there is nothing to
 * wait for or it is durable, else a negative code with the reason in e (the state is not
 * saved: the next poll reads the records again, de-duplicated by their keys in memory).
 */
static int commit_wait(struct poller *pl, struct err *e)
{
	int rc = batch_close(pl, e);

	if (rc < 0 || !pl->lsn)
		return rc;
	if ((rc = ackin_wait(pl->poll->ackin, pl->first_lsn, pl->lsn, COMMIT_WAIT_MS)) < 0) {
		if (rc != -EIO)
			return err_set(e, rc, "the records were not committed within %d ms",
				       COMMIT_WAIT_MS);
		pl->lsn = 0;
		seen_clear(&pl->seen);
		for (size_t i = 0; i < pl->n_streams; i++) { /* back to what the state file says */
			pl->stream[i].watermark = pl->stream[i].saved_wm;
			atomic_store(&pl->stream[i].shown_wm, pl->stream[i].saved_wm);
		}
		return err_set(e, rc, "the commit of the records failed (a disk fault): the next "
			       "poll reads them again");
	}
	pl->lsn = 0;
	return 0;
}

static void poll_stream(struct poller *pl, unsigned stream)
{
	struct err e = ERR_INIT;
	bool partial = false;
	enum cycle_result r;
	int rc;

	if (pl->cfg->type == POLLER_GRAPH)
		rc = graph_poll(pl, stream, &e);
	else
		rc = la_poll(pl, stream, &partial, &e);
	if (rc == -ECANCELED) { /* what the batch holds is stored; the state stays as it was */
		if (batch_close(pl, &e) < 0)
			log_warn("poller %s: %s: at stop: %s", pl->cfg->name,
				 pl->stream[stream].name, e.msg);
		return;
	}
	if (rc < 0) { /* a batch left open: stored, or its records forgotten as delivered */
		struct err ce = ERR_INIT;

		if (batch_close(pl, &ce) < 0)
			log_warn("poller %s: %s: %s", pl->cfg->name, pl->stream[stream].name, ce.msg);
	}
	r = rc < 0 ? CYCLE_FAILED : partial ? CYCLE_PARTIAL : CYCLE_OK;
	atomic_fetch_add_explicit(&pl->cycles[r], 1, memory_order_relaxed);
	if (rc < 0)
		log_error("poller %s: %s: %s; the watermark stays, the next poll tries again",
			  pl->cfg->name, pl->stream[stream].name, e.msg);
	else if (partial)
		log_warn("poller %s: %s: partial result (the service reported an error beside "
			 "the rows): the watermark stays", pl->cfg->name, pl->stream[stream].name);
	/* saved once what was delivered is stored: a stop or crash before then reads it again */
	if (commit_wait(pl, &e) < 0) {
		if (e.code != -ECANCELED)
			log_error("poller %s: %s: %s; the state is not saved", pl->cfg->name,
				  pl->stream[stream].name, e.msg);
		return;
	}
	/* the keys of what was delivered are worth keeping even when the poll failed; keys
	 * out of every future window go, and the table shrinks with them */
	if (seen_rebuild(pl, seen_capacity(pl->seen.n)) < 0 ||
	    state_save(pl, &e) < 0)
		log_error("poller %s: saving the state: %s", pl->cfg->name, e.msg);
}

static void *poller_main(void *arg)
{
	struct poller *pl = arg;

	pthread_setname_np(pthread_self(), "koban-poll");
	for (;;) {
		int64_t started = time_mono_ns(), elapsed_ms;

		for (size_t i = 0; i < pl->n_streams && !atomic_load(&pl->poll->stopping); i++)
			poll_stream(pl, (unsigned)i);
		atomic_fetch_add_explicit(&pl->polls_done, 1, memory_order_release);
		elapsed_ms = (time_mono_ns() - started) / 1000000;
		if (poll_wait(pl->poll, MAX((int64_t)pl->cfg->interval * 1000 - elapsed_ms, 0)) < 0)
			break;
	}
	return NULL;
}

/* ---------------------------------------------------------------- start and stop */

/* The secret file: a regular file only its owner may read or write; trailing LF cut. */
static int secret_read(struct poller *pl, struct err *e)
{
	char buf[POLL_SECRET_MAX + 2], what[256];
	int rc;

	snprintf(what, sizeof(what), "poller %s: client_secret_file", pl->cfg->name);
	rc = fileio_read_secret(pl->cfg->client_secret_file, what, buf, sizeof(buf), e);
	if (rc == 0) {
		pl->secret_len = strlen(buf);
		if (!(pl->secret = mem_strndup(buf, pl->secret_len)))
			rc = err_set(e, -ENOMEM, "out of memory");
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* The streams of the poller, each starting `lookback` before now until it has a watermark. */
static void streams_init(struct poller *pl)
{
	const struct config_poller *c = pl->cfg;
	int64_t start = time_now_ns() - (int64_t)c->lookback * NS_PER_SEC;

	for (size_t i = 0; i < MAX_STREAMS; i++)
		pl->stream[i].start = start;
	pl->n_streams = 0;
	if (c->type == POLLER_GRAPH) {
		if (c->alerts)
			snprintf(pl->stream[pl->n_streams++].name, sizeof(pl->stream[0].name),
				 "alerts_v2");
		if (c->incidents)
			snprintf(pl->stream[pl->n_streams++].name, sizeof(pl->stream[0].name),
				 "incidents");
		return;
	}
	for (size_t i = 0; i < c->n_tables && i < MAX_STREAMS; i++)
		snprintf(pl->stream[pl->n_streams++].name, sizeof(pl->stream[0].name), "%s",
			 c->tables[i]);
}

static int poller_init(struct poll *p, struct poller *pl, const struct config_poller *c,
		       struct err *e)
{
	bool graph = c->type == POLLER_GRAPH;
	const char *format = c->format ? c->format : graph ? "m365" : "azure";
	int rc, id, slot;

	pl->poll = p;
	pl->cfg = c;
	pl->api_url = c->api_url ? c->api_url : graph ? GRAPH_URL : LA_URL;
	pl->login_url = c->login_url ? c->login_url : LOGIN_URL;
	pl->scope = c->scope ? c->scope : graph ? GRAPH_SCOPE : LA_SCOPE;
	pl->page_size = c->page_size ? c->page_size : graph ? GRAPH_PAGE_DEFAULT : LA_PAGE_DEFAULT;
	buf_init(&pl->body, (size_t)c->max_response);
	buf_init(&pl->rec, ROW_MAX(c->max_response));
	arena_init(&pl->arena, 64 * 1024, (size_t)c->max_response + RECORD_ARENA);
	streams_init(pl);
	if ((id = decoder_find(format, strlen(format))) < 0)
		return err_set(e, -EINVAL, "poller %s: format '%s' is not in this build (expected "
			       "%s)", c->name, format, decoder_names());
	pl->format = (uint8_t)id;
	if ((slot = fairq_slot(p->q, c->tenant, strlen(c->tenant))) < 0)
		return err_set(e, slot, "poller %s: no queue for tenant %s: %s", c->name,
			       c->tenant, strerror(-slot));
	pl->slot = (unsigned)slot;
	if ((rc = secret_read(pl, e)) < 0 || (rc = state_load(pl, e)) < 0)
		return rc;
	if (!(pl->curl = curl_easy_init()))
		return err_set(e, -ENOMEM, "poller %s: cannot set up libcurl", c->name);
	return 0;
}

static void poller_release(struct poller *pl)
{
	token_drop(pl);
	if (pl->secret) {
		explicit_bzero(pl->secret, pl->secret_len);
		mem_free(pl->secret);
	}
	pl->secret = NULL;
	if (pl->curl)
		curl_easy_cleanup(pl->curl);
	pl->curl = NULL;
	buf_release(&pl->body);
	buf_release(&pl->rec);
	arena_release(&pl->arena);
	mem_free(pl->seen.slot);
	pl->seen.slot = NULL;
	mem_free(pl->seen.pending);
	pl->seen.pending = NULL;
}

int poll_start(struct poll **pp, const struct config *c, struct fairq *q, struct ackin *ackin,
	       struct err *e)
{
	struct poll *p = mem_calloc(1, sizeof(*p));
	struct buf dir = BUF_INIT(4096);
	int rc = 0;

	*pp = NULL;
	if (!p)
		return err_set(e, -ENOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&p->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	p->q = q;
	p->ackin = ackin;
	p->take = take_stored;
	*pp = p;
	if (!c->n_pollers)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(e, -ENOMEM, "cannot initialise libcurl");
	p->curl_ready = true;
	if (buf_addf(&dir, "%s/pollers", c->data_dir) < 0 || !(p->dir = mem_strdup(dir.p))) {
		buf_release(&dir);
		return err_set(e, -ENOMEM, "out of memory");
	}
	buf_release(&dir);
	if ((rc = fileio_make_dir(c->data_dir, 0700, e)) < 0 ||
	    (rc = fileio_make_dir(p->dir, 0700, e)) < 0)
		return rc;
	if (!(p->p = mem_calloc(c->n_pollers, sizeof(*p->p))))
		return err_set(e, -ENOMEM, "out of memory");
	p->n = c->n_pollers;
	for (size_t i = 0; i < p->n; i++)
		if ((rc = poller_init(p, &p->p[i], &c->pollers[i], e)) < 0)
			return rc;
	for (size_t i = 0; i < p->n; i++) {
		if ((rc = -pthread_create(&p->p[i].thread, NULL, poller_main, &p->p[i])) < 0)
			return err_set(e, rc, "poller %s: cannot start a thread: %s",
				       p->p[i].cfg->name, strerror(-rc));
		p->p[i].started = true;
		log_info("poller %s: %s for tenant %s every %u s", p->p[i].cfg->name,
			 config_poller_type_name(p->p[i].cfg->type), p->p[i].cfg->tenant,
			 p->p[i].cfg->interval);
	}
	return 0;
}

void poll_stop(struct poll *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->stopping, true);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n; i++)
		if (p->p[i].started) {
			pthread_join(p->p[i].thread, NULL);
			p->p[i].started = false;
		}
}

void poll_free(struct poll *p)
{
	if (!p)
		return;
	metrics_unregister(p);
	poll_stop(p);
	for (size_t i = 0; i < p->n; i++)
		poller_release(&p->p[i]);
	mem_free(p->p);
	mem_free(p->dir);
	if (p->curl_ready)
		curl_global_cleanup();
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	mem_free(p);
}

/* Moves what the fair queue holds into out as a JSON text sequence (RFC 7464: RS, record, LF). */
int poll_parse(int type, const char *body, size_t len, struct buf *out, size_t *records,
	       int *partial, struct err *e)
{
	static char *const tables[] = { "T" };
	struct config_poller c = { .name = "parse", .type = (enum config_poller_type)type,
				   .tenant = "t", .overlap = 300, .max_response = len + 1,
				   .tables = (char **)tables, .n_tables = 1, .alerts = 1 };
	struct poll p = { .take = take_collected, .collected = out };
	struct poller *pl = mem_calloc(1, sizeof(*pl));
	char why[ERROR_SHOWN + 100];
	bool part = false;
	int rc;

	*records = 0;
	*partial = 0;
	if (!pl)
		return err_set(e, -ENOMEM, "out of memory");
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	pl->poll = &p;
	pl->cfg = &c;
	pl->page_size = 50;
	buf_init(&pl->body, len + 1);
	buf_init(&pl->rec, ROW_MAX(len + 1));
	arena_init(&pl->arena, 64 * 1024, len + RECORD_ARENA);
	streams_init(pl);
	if ((rc = buf_add(&pl->body, body, len)) < 0) {
		rc = err_set(e, rc, "out of memory");
		goto fail;
	}
	if (type == POLLER_GRAPH) {
		struct buf next = BUF_INIT(URL_MAX);
		int64_t max = 0;
		size_t n = 0;

		rc = graph_page(pl, 0, &next, &max, &n, e);
		buf_release(&next);
	} else {
		int64_t last = 0;
		size_t rows = 0;

		rc = la_result(pl, 0, &rows, &last, &part, e);
	}
	*partial = part;
	*records = p.n_collected;
	service_error(&pl->body, why, sizeof(why));
	if (token_parse(pl, NULL) == 0)
		token_drop(pl);
fail:
	poller_release(pl);
	mem_free(pl);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	return rc;
}

uint64_t poll_cycles(const struct poll *p, size_t i)
{
	return i < p->n ? atomic_load_explicit(&p->p[i].polls_done, memory_order_acquire) : 0;
}

/* ---------------------------------------------------------------- metrics */

/* One sample per poller and name of a counter array (e.g. requests by result). */
static int collect_by(struct metrics_out *o, struct poll *p, size_t off, const char *label,
		      const char *const *names, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < p->n && !rc; i++) {
		atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)((char *)&p->p[i] + off);

		for (size_t k = 0; k < n && !rc; k++)
			rc = metrics_sample(o, load(&v[k]), "poller", p->p[i].cfg->name, label,
					    names[k], NULL);
	}
	return rc;
}

static int collect_requests(struct metrics_out *o, void *ctx)
{
	return collect_by(o, ctx, offsetof(struct poller, requests), "result", req_names,
			  REQ_RESULTS);
}

static int collect_polls(struct metrics_out *o, void *ctx)
{
	return collect_by(o, ctx, offsetof(struct poller, cycles), "result", cycle_names,
			  CYCLE_RESULTS);
}

static int collect_one(struct metrics_out *o, struct poll *p, size_t off)
{
	int rc = 0;

	for (size_t i = 0; i < p->n && !rc; i++)
		rc = metrics_sample(o, load((atomic_uint_fast64_t *)((char *)&p->p[i] + off)),
				    "poller", p->p[i].cfg->name, NULL);
	return rc;
}

static int collect_duplicates(struct metrics_out *o, void *ctx)
{
	return collect_one(o, ctx, offsetof(struct poller, duplicates));
}

static int collect_tokens(struct metrics_out *o, void *ctx)
{
	return collect_one(o, ctx, offsetof(struct poller, tokens));
}

static int collect_seen_full(struct metrics_out *o, void *ctx)
{
	return collect_one(o, ctx, offsetof(struct poller, seen_full));
}

static int collect_records(struct metrics_out *o, void *ctx)
{
	struct poll *p = ctx;
	int rc = 0;

	for (size_t i = 0; i < p->n && !rc; i++)
		for (size_t s = 0; s < p->p[i].n_streams && !rc; s++)
			rc = metrics_sample(o, load(&p->p[i].stream[s].records), "poller",
					    p->p[i].cfg->name, "stream", p->p[i].stream[s].name,
					    NULL);
	return rc;
}

static int collect_watermark(struct metrics_out *o, void *ctx)
{
	struct poll *p = ctx;
	int rc = 0;

	for (size_t i = 0; i < p->n && !rc; i++)
		for (size_t s = 0; s < p->p[i].n_streams && !rc; s++)
			rc = metrics_sample_double(o, (double)atomic_load(&p->p[i].stream[s].shown_wm) /
						      1e9, "poller", p->p[i].cfg->name, "stream",
						   p->p[i].stream[s].name, NULL);
	return rc;
}

int poll_metrics_register(struct poll *p)
{
	static const struct metrics_family fam[] = {
		{ "koban_poller_requests_total", METRICS_COUNTER,
		  "HTTP requests of the poller to its API, by result.", collect_requests },
		{ "koban_poller_records_total", METRICS_COUNTER,
		  "Records the poller put into its tenant's queue, by stream.", collect_records },
		{ "koban_poller_duplicates_total", METRICS_COUNTER,
		  "Records read again in the overlap window and not sent twice.",
		  collect_duplicates },
		{ "koban_poller_polls_total", METRICS_COUNTER,
		  "Polls of one stream, by result (ok, partial, failed).", collect_polls },
		{ "koban_poller_tokens_total", METRICS_COUNTER,
		  "OAuth2 tokens the poller fetched.", collect_tokens },
		{ "koban_poller_dedupe_full_total", METRICS_COUNTER,
		  "Delivered records whose key could not be remembered (table full).",
		  collect_seen_full },
		{ "koban_poller_watermark_seconds", METRICS_GAUGE,
		  "The poller's watermark per stream (Unix seconds; 0: not yet polled).",
		  collect_watermark },
	};
	int rc = 0;

	if (!p->n)
		return 0; /* no pollers: no families */
	rc = metrics_register_families(fam, ARRAY_SIZE(fam), p, NULL);
	return rc;
}
