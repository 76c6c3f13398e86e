/*
 * httppost.c - the HTTPS POST of the HTTP notification channels (httppost.h) on libcurl.
 */
#include "notify/httppost.h"
#include "core/compat.h"

#include <curl/curl.h>
#include <math.h>
#include <strings.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/jsonin.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "notify/channel.h"

#define SCRUB_MIN 4 /* shorter parts of a secret URL are not worth hiding ("/") */

struct httppost {
	CURL *curl;
	char curl_err[CURL_ERROR_SIZE];
	char *url;
	char *ca_file;
	char *name;                  /* the channel's NAME, for messages */
	char host[HTTPPOST_HOST_MAX];
	char *hide[2];               /* a secret URL's path and query, scrubbed from messages */
	long timeout_s;
	struct httppost_reply *rep;  /* the reply being read */
};

static const char *const shared_keys[] = { "ca_file", "timeout", "rate", NULL };

void httppost_where(const struct channel_conf *c, const char *key, char *out, size_t size)
{
	int line = 0;

	if (!channel_conf_get(c, key, &line) || !line)
		line = c->line;
	snprintf(out, size, "%s:%d: notify.channels.%s.%s", c->file ? c->file : "", line,
		 c->name, key);
}

static bool in_list(const char *const *list, const char *key)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], key) == 0)
			return true;
	return false;
}

/* A whole number in [lo, hi] written in decimal. */
static bool whole_number(const char *v, long lo, long hi, long *out)
{
	char *end;
	long n;

	if (!v || !*v || *v < '0' || *v > '9')
		return false;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < lo || n > hi)
		return false;
	*out = n;
	return true;
}

int httppost_check_keys(const struct channel_conf *c, const char *const *own, struct err *e)
{
	char where[320];
	const char *v;
	long t;

	for (size_t i = 0; i < c->n_kv; i++) {
		const char *key = c->kv[i].key;
		struct buf expected = BUF_INIT(1024);
		int rc = 0;

		if (in_list(own, key) || in_list(shared_keys, key))
			continue;
		for (const char *const *l = own; *l && rc == 0; l++)
			rc = buf_addf(&expected, "%s, ", *l);
		rc = err_first(rc, buf_adds(&expected, "ca_file, timeout, rate"));
		httppost_where(c, key, where, sizeof(where));
		rc = err_set(e, -EINVAL, "%s: unknown key for type %s (expected one of: %s)",
			     where, c->type, rc == 0 ? expected.p : "see docs/channels.md");
		buf_release(&expected);
		return rc;
	}
	if ((v = channel_conf_get(c, "timeout", NULL)) &&
	    !whole_number(v, 1, HTTPPOST_TIMEOUT_MAX, &t)) {
		httppost_where(c, "timeout", where, sizeof(where));
		return err_set(e, -EINVAL, "%s: expected whole seconds from 1 to %d, not \"%.40s\"",
			       where, HTTPPOST_TIMEOUT_MAX, v);
	}
	if ((v = channel_conf_get(c, "rate", NULL))) {
		char *end;
		double r;

		errno = 0;
		r = strtod(v, &end);
		if (errno || end == v || *end || !isfinite(r) || r <= 0 || r > HTTPPOST_RATE_MAX) {
			httppost_where(c, "rate", where, sizeof(where));
			return err_set(e, -EINVAL, "%s: expected notices per second, a number above "
				       "0 and at most %g, not \"%.40s\"", where, HTTPPOST_RATE_MAX, v);
		}
	}
	if ((v = channel_conf_get(c, "ca_file", NULL)) && (!*v || access(v, R_OK) < 0)) {
		int err = *v ? errno : ENOENT;

		httppost_where(c, "ca_file", where, sizeof(where));
		return err_set(e, -EINVAL, "%s: expected a readable PEM file of CA certificates: "
			       "%s: %s", where, v, strerror(err));
	}
	return 0;
}

static bool loopback_host(const char *host)
{
	struct ipaddr ip;
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	return ipaddr_parse(&ip, host, n) == 0 && ipaddr_is_loopback(&ip);
}

int httppost_url_check(const struct channel_conf *c, const char *key, const char *url,
		       bool secret, bool query_ok, char host[HTTPPOST_HOST_MAX], struct err *e)
{
	char where[320];
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL, *user = NULL, *pass = NULL, *query = NULL;
	const char *shown = secret ? "the URL in the file" : url;
	int rc = 0;

	host[0] = '\0';
	httppost_where(c, key, where, sizeof(where));
	if (!u)
		return err_set(e, -ENOMEM, "%s: out of memory", where);
	if (strlen(url) > CHANNEL_SECRET_MAX ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !h[0]) {
		rc = err_set(e, -EINVAL, "%s: expected an https:// URL, not %s%.200s%s", where,
			     secret ? "" : "\"", shown, secret ? "" : "\"");
		goto fail;
	}
	if (strlen(h) >= HTTPPOST_HOST_MAX) {
		rc = err_set(e, -EINVAL, "%s: the host name is longer than %d bytes", where,
			     HTTPPOST_HOST_MAX - 1);
		goto fail;
	}
	if (strcmp(scheme, "https") != 0 &&
	    !(strcmp(scheme, "http") == 0 && loopback_host(h))) {
		rc = err_set(e, -EINVAL, "%s: expected an https:// URL (http:// only for a loopback "
			     "host), not a %s:// URL to %s", where, scheme, h);
		goto fail;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		rc = err_set(e, -EINVAL, "%s: a user or password in the URL of %s is a secret in "
			     "the configuration: not allowed", where, h);
		goto fail;
	}
	if (!query_ok && curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
		rc = err_set(e, -EINVAL, "%s: the URL of %s has a query, which holds the hook's "
			     "signature (a secret): put the whole URL into a file of mode 0600 "
			     "named by url_file", where, h);
		goto fail;
	}
	snprintf(host, HTTPPOST_HOST_MAX, "%s", h);
fail:
	curl_free(scheme);
	curl_free(h);
	curl_free(user);
	curl_free(pass);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

/* ---------------------------------------------------------------- client */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct httppost *h = ctx;
	struct httppost_reply *rep = h->rep;
	size_t len = size * n, room = HTTPPOST_REPLY_MAX - rep->body.len;

	if (len > room)
		rep->truncated = true;
	if (buf_add(&rep->body, data, MIN(len, room)) < 0)
		rep->truncated = true;
	return len; /* the rest is read and dropped: the status still counts */
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct httppost *h = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		h->rep->retry_after_s = 0; /* a new answer (after 100 Continue) */
	} else if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		int s = httppost_retry_after(data + sizeof(name) - 1, len - (sizeof(name) - 1),
					     time_now_ns() / NS_PER_SEC);

		h->rep->retry_after_s = s > 0 ? s : 0;
	}
	return len;
}

int httppost_new(struct httppost **out, const struct channel_conf *c, const char *url,
		 bool secret, struct err *e)
{
	struct httppost *h = mem_calloc(1, sizeof(*h));
	const char *ca = channel_conf_get(c, "ca_file", NULL);
	const char *t = channel_conf_get(c, "timeout", NULL);
	char *part = NULL;
	int rc = 0;
	CURLU *u = NULL;

	*out = NULL;
	if (!h)
		return err_set(e, -ENOMEM, "out of memory");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		mem_free(h);
		return err_set(e, -EIO, "notify.channels.%s: libcurl cannot start", c->name);
	}
	h->timeout_s = HTTPPOST_TIMEOUT_DEFAULT;
	if (t && !whole_number(t, 1, HTTPPOST_TIMEOUT_MAX, &h->timeout_s))
		h->timeout_s = HTTPPOST_TIMEOUT_DEFAULT;
	if (!(h->url = mem_strdup(url)) || !(h->name = mem_strdup(c->name)) ||
	    (ca && !(h->ca_file = mem_strdup(ca))) || !(u = curl_url())) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK) {
		rc = err_set(e, -EINVAL, "notify.channels.%s: the URL cannot be read", c->name);
		goto fail;
	}
	snprintf(h->host, sizeof(h->host), "%s", part);
	curl_free(part);
	part = NULL;
	if (secret) {
		static const CURLUPart parts[2] = { CURLUPART_PATH, CURLUPART_QUERY };

		for (size_t i = 0; i < 2; i++) {
			if (curl_url_get(u, parts[i], &part, 0) != CURLUE_OK)
				continue;
			if (strlen(part) >= SCRUB_MIN && !(h->hide[i] = mem_strdup(part))) {
				rc = err_set(e, -ENOMEM, "out of memory");
				goto fail;
			}
			curl_free(part);
			part = NULL;
		}
	}
	if (!(h->curl = curl_easy_init())) {
		rc = err_set(e, -ENOMEM, "notify.channels.%s: libcurl: no handle", c->name);
		goto fail;
	}
	curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https"); /* http: loopback only */
	curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->curl_err);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, MIN(h->timeout_s,
							      (long)HTTPPOST_CONNECT_TIMEOUT));
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, h->timeout_s);
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "koban-notify/1");
	curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
	if (h->ca_file)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, h->ca_file);
	curl_url_cleanup(u);
	*out = h;
	return 0;
fail:
	curl_free(part);
	curl_url_cleanup(u);
	httppost_free(h);
	return rc;
}

void httppost_free(struct httppost *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	curl_global_cleanup();
	if (h->url) /* a secret URL does not stay in freed memory */
		memset(h->url, 0, strlen(h->url));
	mem_free(h->url);
	mem_free(h->ca_file);
	mem_free(h->name);
	mem_free(h->hide[0]);
	mem_free(h->hide[1]);
	mem_free(h);
}

const char *httppost_host(const struct httppost *h)
{
	return h->host;
}

void httppost_reply_init(struct httppost_reply *rep)
{
	rep->status = 0;
	rep->retry_after_s = 0;
	rep->truncated = false;
	buf_init(&rep->body, HTTPPOST_REPLY_MAX);
}

void httppost_reply_release(struct httppost_reply *rep)
{
	buf_release(&rep->body);
}

/* Replaces every occurrence of a hidden part of the URL in s with "...". */
static void scrub(const struct httppost *h, char *s)
{
	for (size_t i = 0; i < 2; i++) {
		const char *part = h->hide[i];
		size_t n = part ? strlen(part) : 0;
		char *at;

		while (n && (at = strstr(s, part))) {
			memcpy(at, "...", 3);
			memmove(at + 3, at + n, strlen(at + n) + 1);
		}
	}
}

int httppost_result(const struct httppost *h, struct channel_result *r, struct err *e,
		  enum channel_status st, int code, int retry_after_s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	scrub(h, r->reason);
	r->status = st;
	r->retry_after_s = retry_after_s;
	return err_set(e, code, "notify.channels.%s: %s", h->name, r->reason);
}

int httppost_send(struct httppost *h, const char *const *headers, const char *body,
		  size_t len, struct httppost_reply *rep, struct channel_result *r, struct err *e)
{
	struct curl_slist *list = NULL, *next;
	static const char *const fixed[] = { "Content-Type: application/json; charset=utf-8",
					     "Accept: application/json, */*", "Expect:", NULL };
	CURLcode cc;
	long status = 0;
	int rc = 0;

	rep->status = 0;
	rep->retry_after_s = 0;
	rep->truncated = false;
	buf_reset(&rep->body);
	h->rep = rep;
	for (size_t i = 0; fixed[i]; i++) {
		if (!(next = curl_slist_append(list, fixed[i])))
			goto nomem;
		list = next;
	}
	for (size_t i = 0; headers && headers[i]; i++) {
		if (!(next = curl_slist_append(list, headers[i])))
			goto nomem;
		list = next;
	}
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	h->curl_err[0] = '\0';
	cc = curl_easy_perform(h->curl);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
		rep->status = status;
	} else {
		const char *why = h->curl_err[0] ? h->curl_err : curl_easy_strerror(cc);
		bool perm = cc == CURLE_PEER_FAILED_VERIFICATION ||
			    cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_UNSUPPORTED_PROTOCOL ||
			    cc == CURLE_URL_MALFORMAT;

		if (cc == CURLE_OPERATION_TIMEDOUT)
			rc = httppost_result(h, r, e, CHANNEL_FAILED_TEMP, -ETIMEDOUT, 0,
				    "POST to %s: no answer within %ld s (%s)", h->host,
				    h->timeout_s, why);
		else
			rc = httppost_result(h, r, e, perm ? CHANNEL_FAILED_PERM :
					     CHANNEL_FAILED_TEMP, perm ? -EPROTO : -EIO, 0,
					     "POST to %s failed: %s", h->host, why);
	}
	curl_slist_free_all(list);
	h->rep = NULL;
	return rc;
nomem:
	curl_slist_free_all(list);
	h->rep = NULL;
	return httppost_result(h, r, e, CHANNEL_FAILED_TEMP, -ENOMEM, 0, "out of memory");
}

int httppost_fail(const struct httppost *h, const struct httppost_reply *rep,
		  const char *detail, struct channel_result *r, struct err *e)
{
	char text[160];
	long s = rep->status;
	bool temp = s == 408 || s == 429 || (s >= 500 && s <= 599);

	if (detail && *detail)
		httppost_text(detail, strlen(detail), text, sizeof(text));
	else
		httppost_error_text(rep->body.p, rep->body.len, text, sizeof(text));
	if (s >= 300 && s <= 399 && !(detail && *detail))
		snprintf(text, sizeof(text), "a redirect, which is not followed (fix the URL)");
	return httppost_result(h, r, e, temp ? CHANNEL_FAILED_TEMP : CHANNEL_FAILED_PERM,
		      temp ? -EAGAIN : -EPROTO, s == 429 || s == 503 ? rep->retry_after_s : 0,
		      "%s answered %ld%s%s", h->host, s, text[0] ? ": " : "", text);
}

/* ---------------------------------------------------------------- pure parts */

int httppost_retry_after(const char *v, size_t len, int64_t now_s)
{
	char date[64];
	int64_t n = 0;
	time_t at;

	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' ||
		       v[len - 1] == '\n'))
		len--;
	if (!len)
		return -1;
	if (v[0] >= '0' && v[0] <= '9') {
		for (size_t i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			if (n < HTTPPOST_RETRY_AFTER_MAX)
				n = n * 10 + (v[i] - '0');
		}
		return (int)MIN(n, (int64_t)HTTPPOST_RETRY_AFTER_MAX);
	}
	if (len >= sizeof(date) || memchr(v, '\0', len))
		return -1;
	memcpy(date, v, len);
	date[len] = '\0';
	at = curl_getdate(date, NULL);
	if (at == (time_t)-1)
		return -1;
	n = (int64_t)at - now_s;
	return (int)MAX(MIN(n, (int64_t)HTTPPOST_RETRY_AFTER_MAX), (int64_t)0);
}

size_t httppost_cut(const char *s, size_t max)
{
	return json_utf8_cut(s, strlen(s), max);
}

int httppost_json_field(struct buf *out, bool first, const char *key, const char *s,
			size_t max)
{
	int rc = first ? 0 : buf_addch(out, ',');

	rc = err_first(rc, json_add_string(out, key, strlen(key)));
	rc = err_first(rc, buf_addch(out, ':'));
	if (!s)
		return err_first(rc, buf_adds(out, "null"));
	return err_first(rc, json_add_string(out, s, httppost_cut(s, max)));
}

/* Reads the rest of the object j is in: its "message" (or "error_description") into msg, its
 * "error" string into err, and the same from an "error" object at the top (depth 0). */
static int error_members(struct jsonin *j, char *msg, size_t size, char *err, size_t err_size,
			 unsigned depth)
{
	struct jsonin_value k, v;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		bool message = jsonin_key_is(&k, "message") || jsonin_key_is(&k, "error_description");
		bool error = jsonin_key_is(&k, "error");

		if (!message && !error) {
			if ((rc = jsonin_skip_value(j)) < 0)
				return rc;
			continue;
		}
		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		if (v.type == JSONIN_STRING && message && !msg[0])
			httppost_text(v.s, v.len, msg, size);
		else if (v.type == JSONIN_STRING && error && !err[0])
			httppost_text(v.s, v.len, err, err_size);
		else if (v.type == JSONIN_OBJECT && error && depth == 0)
			rc = error_members(j, msg, size, err, err_size, 1);
		else if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
			rc = jsonin_skip(j);
		if (rc < 0)
			return rc;
	}
	return rc;
}

void httppost_error_text(const char *p, size_t len, char *out, size_t size)
{
	struct arena a;
	struct jsonin j;
	struct jsonin_value v;
	char err[HTTPPOST_HOST_MAX];

	if (!size)
		return;
	out[0] = '\0';
	err[0] = '\0';
	arena_init(&a, 4096, HTTPPOST_REPLY_MAX * 2);
	jsonin_init(&j, p, len, &a, JSONIN_REPLACE_SURROGATES);
	j.max_depth = 16;
	if (jsonin_value(&j, &v) == 0 && v.type == JSONIN_OBJECT &&
	    error_members(&j, out, size, err, sizeof(err), 0) == 0 && (out[0] || err[0])) {
		if (!out[0])
			httppost_text(err, strlen(err), out, size);
		arena_release(&a);
		return;
	}
	arena_release(&a);
	httppost_text(p, len, out, size);
}

void httppost_text(const char *p, size_t len, char *out, size_t size)
{
	size_t o = 0;

	if (!size)
		return;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)p[i];
		size_t n;

		if (c == '\r' || c == '\n') {
			if (o)
				break;
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			i++;
			continue;
		}
		n = c < 0x80 ? 1 : json_utf8_len((const unsigned char *)p + i, len - i);
		if (!n) {
			i++;
			continue;
		}
		if (o + n > size - 1)
			break;
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
}
